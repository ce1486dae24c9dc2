/* SPDX-License-Identifier: MIT */
/*
 * Description: vhost-user happy path: our client (driver side) against our
 * backend running vqcore_vu_run() in a thread, over a real unix socket,
 * memfd guest memory and eventfds.  Negotiation, 2 queues in each ring
 * format the core supports, an echo device that copies each buffer's
 * readable part into its writable part, data checked; config space;
 * GET_VRING_BASE on stop; a second front-end after a disconnect; the
 * caller-run event loop (vqcore_vu_get_fds/dispatch); incremental memory
 * regions; the dirty log; inflight records found again after a reconnect
 * (vqcore_vuc_reconnect) and the held requests completed, in the
 * front-end's area and in the backend's own file.
 */
#include <check.h>
#include "vqtest.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vu_harness.h"

#define NQ 2
#define QSZ 64
#define NBUF 16
#define BUFSZ 512

/* ---- echo device ---- */

struct echo {
	unsigned started[NQ];
	unsigned stopped[NQ];
	unsigned kicks[NQ];
	unsigned done[NQ];
	bool hold;                 /* fetch but never return (inflight test) */
	int npending[NQ];          /* vqcore_vu_inflight_pending() at start */
	uint16_t pending[NQ][8];
	bool core_calls;           /* vqcore_vq_get_bufs/put_used, not vqcore_vu_* */
	bool unget_last;           /* hold: give the last fetched one back */
	uint8_t config[64];
	uint64_t features;
	unsigned rarps;            /* SEND_RARP callbacks */
	uint8_t rarp_mac[6];
	/* a "worker" that still holds buffers when the log changes */
	struct vhost_buf held[32];
	unsigned nheld;
	bool finish_on_pause;      /* mem_changed(true) returns the held ones */
	bool logging_at_pause;
	unsigned mc_before, mc_after;
};

static void echo_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct echo *e = vqcore_vu_opaque(dev);
	struct vhost_buf bufs[32];
	struct iovec iov[64];
	uint32_t lens[32];
	int n;

	e->kicks[qidx]++;
again:
	vqcore_vq_disable_notify(vq);
	while ((n = e->core_calls ? vqcore_vq_get_bufs(vq, bufs, 32, iov, 64) :
		    vqcore_vu_get_bufs(dev, qidx, bufs, 32, iov, 64)) > 0) {
		/* @hold, @held and @done are shared with the test thread */
		if (__atomic_load_n(&e->hold, __ATOMIC_ACQUIRE)) {
			if (e->unget_last) {
				ck_assert_int_eq(vqcore_vq_unget(vq, &bufs[n - 1], 1), 0);
				e->unget_last = false;
				n--;
			}
			for (int i = 0; i < n && e->nheld < 32 && qidx == 0; i++) {
				e->held[e->nheld] = bufs[i];
				__atomic_store_n(&e->nheld, e->nheld + 1, __ATOMIC_RELEASE);
			}
			__atomic_fetch_add(&e->done[qidx], (unsigned)n, __ATOMIC_RELEASE);
			return;
		}
		for (int i = 0; i < n; i++) {
			struct iovec *out = &iov[bufs[i].first];
			struct iovec *in = out + bufs[i].out_num;
			uint32_t len = 0;

			/* single-iovec parts in this test */
			if (bufs[i].out_num && bufs[i].in_num) {
				len = (uint32_t)(out->iov_len < in->iov_len ? out->iov_len
									    : in->iov_len);
				memcpy(in->iov_base, out->iov_base, len);
			}
			lens[i] = len;
		}
		ck_assert_int_eq(e->core_calls ?
				 vqcore_vq_put_used(vq, bufs, lens, (unsigned)n) :
				 vqcore_vu_put_used(dev, qidx, bufs, lens, (unsigned)n), 0);
		__atomic_fetch_add(&e->done[qidx], (unsigned)n, __ATOMIC_RELEASE);
		vqcore_vq_signal(vq);
	}
	ck_assert_int_ge(n, 0);
	if (vqcore_vq_enable_notify(vq))
		goto again;
}

static void echo_started(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct echo *e = vqcore_vu_opaque(dev);

	ck_assert_ptr_eq(vqcore_vu_queue(dev, qidx), vq);
	/* a loop-thread call: the inflight test reads the copy */
	e->npending[qidx] = vqcore_vu_inflight_pending(dev, qidx, e->pending[qidx], 8);
	/* polled by the inflight test's thread */
	__atomic_fetch_add(&e->started[qidx], 1, __ATOMIC_RELEASE);
}

static void echo_stopped(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct echo *e = vqcore_vu_opaque(dev);

	e->stopped[qidx]++;
}

static int echo_get_config(struct vqcore_vu_dev *dev, uint32_t off, void *buf,
			   uint32_t len)
{
	struct echo *e = vqcore_vu_opaque(dev);

	if (off + len > sizeof(e->config))
		return -EINVAL;
	memcpy(buf, e->config + off, len);
	return 0;
}

static int echo_set_config(struct vqcore_vu_dev *dev, uint32_t off, const void *buf,
			   uint32_t len, uint32_t flags)
{
	struct echo *e = vqcore_vu_opaque(dev);

	if (off + len > sizeof(e->config))
		return -EINVAL;
	memcpy(e->config + off, buf, len);
	return 0;
}

static int echo_set_features(struct vqcore_vu_dev *dev, uint64_t f)
{
	struct echo *e = vqcore_vu_opaque(dev);

	e->features = f;
	return 0;
}

static int echo_send_rarp(struct vqcore_vu_dev *dev, const uint8_t mac[6])
{
	struct echo *e = vqcore_vu_opaque(dev);

	e->rarps++;
	memcpy(e->rarp_mac, mac, 6);
	return 0;
}

/* The device's worker pauses: it first returns what it holds (queue 0). */
static void echo_mem_changed(struct vqcore_vu_dev *dev, bool before)
{
	struct echo *e = vqcore_vu_opaque(dev);

	if (!before) {
		e->mc_after++;
		return;
	}
	e->mc_before++;
	if (!e->finish_on_pause || !e->nheld)
		return;
	e->logging_at_pause = vqcore_mem_logging(vqcore_vu_mem(dev));
	ck_assert_int_eq(vqcore_vu_put_used(dev, 0, e->held, NULL, e->nheld), 0);
	vqcore_vq_signal(vqcore_vu_queue(dev, 0));
	e->nheld = 0;
	/* the hold left kicks off; nothing else waits on the ring */
	ck_assert(!vqcore_vq_enable_notify(vqcore_vu_queue(dev, 0)));
}

static const struct vqcore_vu_ops echo_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.set_features = echo_set_features,
	.get_config = echo_get_config,
	.set_config = echo_set_config,
	.queue_started = echo_started,
	.queue_stopped = echo_stopped,
	.kick = echo_kick,
	.send_rarp = echo_send_rarp,
	.mem_changed = echo_mem_changed,
};

static const uint64_t dev_features = VQCORE_BIT(VQCORE_F_VERSION_1) |
				     VQCORE_BIT(VQCORE_F_EVENT_IDX) |
				     VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
				     VQCORE_BIT(VQCORE_F_RING_PACKED);

static bool format_supported(unsigned format)
{
	struct vqcore_ring_layout l;

	return vqcore_ring_layout(format, QSZ, 0, &l) == 0;
}

static struct vqcore_vuc *client_connect(struct vu_harness *h, unsigned format)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = 4 << 20,
		.num_queues = NQ,
		.queue_size = QSZ,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	struct vqcore_vuc *c = NULL;

	ck_assert_int_eq(vqcore_vuc_connect(h->path, &cfg, &c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(c), format);
	return c;
}

/* Send @n buffers on queue @q and check the echoed data. */
static void echo_round(struct vqcore_vuc *c, unsigned q, unsigned n, uint8_t seed)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(c, q);
	uint64_t out_gpa[NBUF], in_gpa[NBUF];
	uint8_t *out[NBUF], *in[NBUF];
	unsigned got = 0;

	ck_assert_ptr_nonnull(dq);
	ck_assert_uint_le(n, NBUF);
	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg[2];

		out_gpa[i] = vqcore_vuc_alloc(c, BUFSZ, 64, (void **)&out[i]);
		in_gpa[i] = vqcore_vuc_alloc(c, BUFSZ, 64, (void **)&in[i]);
		ck_assert(out_gpa[i] && in_gpa[i]);
		for (unsigned k = 0; k < BUFSZ; k++)
			out[i][k] = (uint8_t)(seed + i * 7 + k);
		memset(in[i], 0, BUFSZ);
		sg[0] = (struct vqcore_sg){ out_gpa[i], BUFSZ };
		sg[1] = (struct vqcore_sg){ in_gpa[i], BUFSZ };
		ck_assert_int_eq(vqcore_drvq_add(dq, sg, 1, 1, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	ck_assert_int_ge(vqcore_drvq_kick(dq), 0);
	while (got < n) {
		void *tok[NBUF];
		uint32_t lens[NBUF];
		int m;

		ck_assert_int_eq(vqcore_vuc_wait(c, q, 5000), 1);
		m = vqcore_drvq_get_used(dq, tok, lens, NBUF);
		ck_assert_int_ge(m, 0);
		for (int k = 0; k < m; k++) {
			unsigned i = (unsigned)(uintptr_t)tok[k] - 1;

			ck_assert_uint_lt(i, n);
			ck_assert_uint_eq(lens[k], BUFSZ);
			ck_assert_mem_eq(in[i], out[i], BUFSZ);
		}
		got += (unsigned)m;
	}
	ck_assert_uint_eq(got, n);
}

static void run_echo(unsigned format)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	uint32_t base;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	c = client_connect(&h, format);
	ck_assert(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK));
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	for (unsigned q = 0; q < NQ; q++)
		echo_round(c, q, NBUF, (uint8_t)(q * 31));
	/* a second round reuses ring slots */
	for (unsigned q = 0; q < NQ; q++)
		echo_round(c, q, NBUF / 2, (uint8_t)(q * 31 + 5));
	for (unsigned q = 0; q < NQ; q++) {
		ck_assert_int_eq(vqcore_vuc_stop(c, q, &base), 0);
		if (format == VQCORE_FORMAT_SPLIT)
			ck_assert_uint_eq(base, NBUF + NBUF / 2);
		else /* packed counts ring slots: two descriptors per buffer */
			ck_assert_uint_eq(base & 0x7fff, (2 * (NBUF + NBUF / 2)) % QSZ);
	}
	/* The front-end acked exactly what both sides have, minus the
	 * vhost-user-only bits. */
	ck_assert(e.features & VQCORE_BIT(VQCORE_F_VERSION_1));
	ck_assert(!(e.features & VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES)));
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	for (unsigned q = 0; q < NQ; q++) {
		ck_assert_uint_eq(e.started[q], 1);
		ck_assert_uint_eq(e.stopped[q], 1);
		ck_assert_uint_eq(e.done[q], NBUF + NBUF / 2);
	}
}

START_TEST(echo_split)
{
	run_echo(VQCORE_FORMAT_SPLIT);
}
END_TEST

START_TEST(echo_packed)
{
	if (!format_supported(VQCORE_FORMAT_PACKED))
		return; /* the core has no packed format yet */
	run_echo(VQCORE_FORMAT_PACKED);
}
END_TEST

START_TEST(config_space)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	uint8_t buf[16];

	memset(&e, 0, sizeof(e));
	for (unsigned i = 0; i < sizeof(e.config); i++)
		e.config[i] = (uint8_t)i;
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	c = client_connect(&h, VQCORE_FORMAT_SPLIT);
	ck_assert_int_eq(vqcore_vuc_get_config(c, 8, buf, 16), 0);
	for (unsigned i = 0; i < 16; i++)
		ck_assert_uint_eq(buf[i], 8 + i);
	memset(buf, 0xab, sizeof(buf));
	ck_assert_int_eq(vqcore_vuc_set_config(c, 4, buf, 4, 0), 0);
	ck_assert_int_eq(vqcore_vuc_get_config(c, 0, buf, 8), 0);
	ck_assert_uint_eq(buf[3], 3);
	ck_assert_uint_eq(buf[4], 0xab);
	ck_assert_uint_eq(buf[7], 0xab);
	/* the device refuses a range past its 64 bytes: an error, not a hang */
	ck_assert_int_eq(vqcore_vuc_get_config(c, 60, buf, 16), -EIO);
	ck_assert_int_eq(vqcore_vuc_set_config(c, 60, buf, 16, 0), -EIO);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
}
END_TEST

START_TEST(reconnect)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	int fds0;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	fds0 = vu_count_fds();
	c = client_connect(&h, VQCORE_FORMAT_SPLIT);
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	echo_round(c, 0, 4, 1);
	vqcore_vuc_free(c); /* disconnect with running queues */
	/* a restarted front-end connects to the same socket */
	c = client_connect(&h, VQCORE_FORMAT_SPLIT);
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	echo_round(c, 0, 4, 2);
	echo_round(c, 1, 4, 3);
	vqcore_vuc_free(c);
	/* wait until the backend saw the disconnect, then no fd is left */
	for (int i = 0; i < 500 && vqcore_vu_connected(h.dev); i++)
		usleep(2000);
	ck_assert_int_eq(vu_count_fds(), fds0);
	vu_harness_stop(&h);
	ck_assert_uint_eq(e.started[0], 2);
	ck_assert_uint_eq(e.stopped[0], 2);
}
END_TEST

/* The caller runs the loop: backend over one end of a socketpair,
 * driven by poll() on vqcore_vu_get_fds() in a thread. */
struct own_loop {
	struct vqcore_vu_dev *dev;
	int stop_fd;
};

static void *own_loop_thread(void *arg)
{
	struct own_loop *l = arg;
	struct vqcore_vu_fd fds[8];
	int n = vqcore_vu_get_fds(l->dev, fds, 8);

	for (;;) {
		struct pollfd p[9];
		int r;

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = fds[i].fd, .events = POLLIN };
		p[n] = (struct pollfd){ .fd = l->stop_fd, .events = POLLIN };
		if (poll(p, (nfds_t)n + 1, -1) < 0)
			continue;
		if (p[n].revents)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			r = vqcore_vu_dispatch(l->dev, p[i].fd);
			if (r == -ECONNRESET)
				return NULL;
			if (r == 1) {
				n = vqcore_vu_get_fds(l->dev, fds, 8);
				break;
			}
		}
	}
}

START_TEST(caller_loop)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ, .queue_size = QSZ,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1),
	};
	struct own_loop l;
	struct echo e;
	struct vqcore_vuc *c;
	pthread_t t;
	int sv[2];

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(vqcore_vu_new_fd(sv[0], 0, NQ, dev_features, &echo_ops, &e, &l.dev), 0);
	l.stop_fd = vqcore_eventfd_new();
	ck_assert_int_eq(pthread_create(&t, NULL, own_loop_thread, &l), 0);
	ck_assert_int_eq(vqcore_vuc_connect_fd(sv[1], &cfg, &c), 0);
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	echo_round(c, 0, NBUF, 9);
	echo_round(c, 1, NBUF, 10);
	vqcore_vuc_free(c);
	pthread_join(t, NULL); /* the loop sees the hang-up and returns */
	ck_assert(!vqcore_vu_connected(l.dev));
	vqcore_vu_free(l.dev);
	close(l.stop_fd);
	ck_assert_uint_eq(e.done[0], NBUF);
	ck_assert_uint_eq(e.done[1], NBUF);
}
END_TEST

/* Incremental memory: ADD_MEM_REG then REM_MEM_REG through the raw
 * socket of a negotiated client; the first region keeps working. */
START_TEST(add_remove_region)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ, .queue_size = QSZ,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1),
	};
	struct vqcore_vuc *c;
	struct vqcore_memfd extra;
	struct vqcore_mem_region r;
	uint64_t msg[5];
	uint64_t gen;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
	ck_assert(vqcore_vuc_protocol_features(c) &
		  VQCORE_BIT(VQCORE_VU_PF_CONFIGURE_MEM_SLOTS));
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	echo_round(c, 0, 4, 1);
	gen = vqcore_mem_generation(vqcore_vu_mem(h.dev));
	ck_assert_int_eq(vqcore_memfd_map("extra", 1 << 20, 0, &extra), 0);
	msg[0] = 0;
	msg[1] = 1ull << 32;                     /* gpa */
	msg[2] = 1 << 20;                        /* size */
	msg[3] = (uint64_t)(uintptr_t)extra.hva; /* uva */
	msg[4] = 0;                              /* mmap offset */
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_ADD_MEM_REG, msg, 40,
				    &extra.fd, 1), 0);
	ck_assert_int_eq(vqcore_mem_find(vqcore_vu_mem(h.dev), 1ull << 32, &r), 0);
	ck_assert_uint_eq(r.size, 1 << 20);
	ck_assert_uint_ne(vqcore_mem_generation(vqcore_vu_mem(h.dev)), gen);
	/* the backend mapped the same file: a write shows through */
	((uint8_t *)extra.hva)[100] = 0x5a;
	ck_assert_uint_eq(((uint8_t *)r.hva)[100], 0x5a);
	echo_round(c, 0, 4, 2);
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_REM_MEM_REG, msg, 40,
				    NULL, 0), 0);
	ck_assert_int_eq(vqcore_mem_find(vqcore_vu_mem(h.dev), 1ull << 32, NULL),
			 -VQCORE_E_UNMAPPED);
	ck_assert_uint_eq(vqcore_mem_count(vqcore_vu_mem(h.dev)), 1);
	echo_round(c, 1, 4, 3);
	vqcore_vuc_free(c);
	vqcore_memfd_unmap(&extra);
	vu_harness_stop(&h);
}
END_TEST

/* SET_LOG_BASE with LOG_SHMFD: used-ring writes show up in the log. */
START_TEST(dirty_log)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ, .queue_size = QSZ,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1),
	};
	struct vqcore_vuc *c;
	struct vqcore_memfd log;
	uint64_t msg[2], f;
	uint8_t any = 0;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
	ck_assert(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_LOG_SHMFD));
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	/* 4 MiB of guest memory = 1024 pages = 128 bytes of log */
	ck_assert_int_eq(vqcore_memfd_map("log", 4096, 0, &log), 0);
	f = vqcore_vuc_features(c) | VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	msg[0] = 128;
	msg[1] = 0;
	{
		uint32_t rr, sz;
		uint64_t st = 99;

		ck_assert_int_eq(vu_raw_send(vqcore_vuc_sock(c), VQCORE_VU_SET_LOG_BASE, 1,
					     msg, 16, &log.fd, 1), 0);
		ck_assert_int_eq(vu_raw_recv(vqcore_vuc_sock(c), &rr, NULL, &st, 8, &sz,
					     NULL, NULL, 5000), 0);
		ck_assert_uint_eq(rr, VQCORE_VU_SET_LOG_BASE);
		ck_assert_uint_eq(st, 0);
	}
	ck_assert(vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	echo_round(c, 0, 4, 1);
	for (unsigned i = 0; i < 128; i++)
		any |= ((uint8_t *)log.hva)[i];
	ck_assert_uint_ne(any, 0);
	vqcore_vuc_free(c);
	vqcore_memfd_unmap(&log);
	vu_harness_stop(&h);
}
END_TEST

/* Inflight: fetched-but-unused buffers are recorded in the area the
 * front-end keeps, and a new connection that brings the area back finds
 * them (in fetch order). */
/*
 * Run over: the vqcore_vu_* names and the vqcore_vq_* names (both must
 * keep the record: the core names did not, and the restarted backend
 * found nothing), split and packed, and with one of the fetched buffers
 * given back with vqcore_vq_unget() before the backend goes (it is not in
 * flight any more: the record must not resubmit it).
 */
static void run_inflight_survives_reconnect(bool core_calls, bool packed, bool unget)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ, .queue_size = QSZ,
		.flags = VQCORE_VUC_INFLIGHT,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) |
			    (packed ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	const unsigned want = unget ? 2 : 3;
	struct vqcore_vuc *c;
	struct vqcore_drvq *dq;
	void *tok[8];
	unsigned got = 0;

	memset(&e, 0, sizeof(e));
	e.core_calls = core_calls;
	e.unget_last = unget;
	__atomic_store_n(&e.hold, true, __ATOMIC_RELEASE);
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(c),
			  packed ? VQCORE_FORMAT_PACKED : VQCORE_FORMAT_SPLIT);
	ck_assert(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD));
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	dq = vqcore_vuc_queue(c, 0);
	for (unsigned i = 0; i < 3; i++) {
		struct vqcore_sg sg = { vqcore_vuc_alloc(c, 64, 64, NULL), 64 };

		ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick(dq);
	for (int i = 0; i < 500 && __atomic_load_n(&e.done[0], __ATOMIC_ACQUIRE) < want; i++)
		usleep(2000);
	ck_assert_uint_eq(__atomic_load_n(&e.done[0], __ATOMIC_ACQUIRE), want); /* fetched, never used */

	/* the same rings and inflight area, over a new connection: the
	 * backend finds the 3 buffers in the record and completes them */
	__atomic_store_n(&e.hold, false, __ATOMIC_RELEASE);
	ck_assert_int_eq(vqcore_vuc_reconnect(c, h.path, 2000), 0);
	/* queue_started runs after the inflight record was read and copies
	 * vqcore_vu_inflight_pending() (a loop-thread call): wait for it */
	for (unsigned q = 0; q < NQ; q++) {
		for (int i = 0; i < 500 && __atomic_load_n(&e.started[q], __ATOMIC_ACQUIRE) < 2; i++)
			usleep(2000);
		ck_assert_uint_eq(__atomic_load_n(&e.started[q], __ATOMIC_ACQUIRE), 2);
	}
	ck_assert_int_eq(e.npending[0], (int)want);
	ck_assert_uint_eq(e.pending[0][0], 0);
	ck_assert_uint_eq(e.pending[0][1], 1);
	if (!unget)
		ck_assert_uint_eq(e.pending[0][2], 2);
	ck_assert_int_eq(e.npending[1], 0);
	while (got < 3) {
		int m = vqcore_drvq_get_used(dq, tok, NULL, 8);

		ck_assert_int_ge(m, 0);
		if (!m) {
			ck_assert_int_eq(vqcore_vuc_wait(c, 0, 5000), 1);
			continue;
		}
		got += (unsigned)m;
	}
	ck_assert_uint_eq(got, 3);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
}

START_TEST(inflight_survives_reconnect)
{
	/* _i: bit 0 core names, bit 1 packed, bit 2 unget */
	run_inflight_survives_reconnect(_i & 1, _i & 2, _i & 4);
}
END_TEST

/*
 * GET_VRING_BASE stops a ring while the front-end keeps its kick eventfd
 * (QEMU on `stop`).  The backend's epoll set must not keep the stopped
 * ring's eventfd: closing our copy before EPOLL_CTL_DEL left the
 * registration alive (the file lives on in the front-end), level-triggered
 * and never drained, and the loop spun.  Checked through the epoll set
 * itself (/proc/self/fdinfo), after a round trip that the loop can only
 * answer after rebuilding its set.  Then the ring restarts (`cont`) and
 * serves the buffer queued while it was stopped, and new ones.
 */
static void run_stop_unwatches_kick(unsigned format)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	struct vqcore_drvq *dq;
	struct vqcore_sg sg[2];
	uint8_t *out, *in;
	void *tok = NULL;
	uint32_t len = 0, base;
	unsigned kicks;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	c = client_connect(&h, format);
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	echo_round(c, 0, 4, 1);
	ck_assert(vu_raw_alive(vqcore_vuc_sock(c)));
	/* stop fd, connection, kick fds of both queues */
	ck_assert_int_eq(vu_epoll_watch_count(), 2 + NQ);

	ck_assert_int_eq(vqcore_vuc_stop(c, 0, &base), 0);
	ck_assert(vu_raw_alive(vqcore_vuc_sock(c)));
	ck_assert_int_eq(vu_epoll_watch_count(), 2 + NQ - 1);
	kicks = e.kicks[0];

	/* the driver queues a buffer and kicks the stopped ring */
	dq = vqcore_vuc_queue(c, 0);
	sg[0] = (struct vqcore_sg){ vqcore_vuc_alloc(c, BUFSZ, 64, (void **)&out), BUFSZ };
	sg[1] = (struct vqcore_sg){ vqcore_vuc_alloc(c, BUFSZ, 64, (void **)&in), BUFSZ };
	memset(out, 0x5a, BUFSZ);
	memset(in, 0, BUFSZ);
	ck_assert_int_eq(vqcore_drvq_add(dq, sg, 1, 1, (void *)(uintptr_t)0x99, 0), 0);
	ck_assert_int_ge(vqcore_drvq_kick(dq), 0);
	ck_assert(vu_raw_alive(vqcore_vuc_sock(c)));
	ck_assert_int_eq(vu_epoll_watch_count(), 2 + NQ - 1);
	ck_assert_uint_eq(e.kicks[0], kicks);
	ck_assert_uint_eq(vqcore_drvq_get_used(dq, &tok, &len, 1), 0);

	/* `cont`: the ring is served again, from where it stopped */
	ck_assert_int_eq(vqcore_vuc_resume(c, 0), 0);
	ck_assert(vu_raw_alive(vqcore_vuc_sock(c)));
	ck_assert_int_eq(vu_epoll_watch_count(), 2 + NQ);
	ck_assert_int_eq(vqcore_vuc_wait(c, 0, 5000), 1);
	ck_assert_int_eq(vqcore_drvq_get_used(dq, &tok, &len, 1), 1);
	ck_assert_ptr_eq(tok, (void *)(uintptr_t)0x99);
	ck_assert_uint_eq(len, BUFSZ);
	ck_assert_mem_eq(in, out, BUFSZ);
	echo_round(c, 0, 4, 2);
	echo_round(c, 1, 4, 3);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	ck_assert_uint_eq(e.started[0], 2);
	ck_assert_uint_eq(e.stopped[0], 2);
}

START_TEST(stop_unwatches_kick_split)
{
	run_stop_unwatches_kick(VQCORE_FORMAT_SPLIT);
}
END_TEST

START_TEST(stop_unwatches_kick_packed)
{
	if (!format_supported(VQCORE_FORMAT_PACKED))
		return;
	run_stop_unwatches_kick(VQCORE_FORMAT_PACKED);
}
END_TEST

/*
 * A backend dies with nothing in flight and a new one takes over the same
 * rings and inflight area.  The front-end's base is what QEMU sends after
 * a crash: split, the ring's used index; packed, the stale start value
 * 0x80008000 (slot 0, wrap 1).  The new backend must resume at the
 * position the inflight area recorded.  Twice, the second time after the
 * ring wrapped, so both wrap counter values are restored.
 */
static void run_restart_resumes(unsigned format)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 8 << 20, .num_queues = NQ, .queue_size = QSZ,
		.flags = VQCORE_VUC_INFLIGHT,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	struct vqcore_vuc *c;
	uint16_t ids[4];

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(c), format);
	ck_assert(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD));
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	/* past slot 0, nothing left in flight */
	echo_round(c, 0, 5, 1);
	echo_round(c, 1, 3, 2);
	for (unsigned round = 0; round < 2; round++) {
		/* the backend dies: no GET_VRING_BASE; a new one starts */
		vu_harness_stop(&h);
		ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
		ck_assert_int_eq(vqcore_vuc_reconnect(c, h.path, 2000), 0);
		for (int i = 0; i < 500 && !vqcore_vu_queue(h.dev, NQ - 1); i++)
			usleep(2000);
		for (unsigned q = 0; q < NQ; q++)
			ck_assert_int_eq(vqcore_vu_inflight_pending(h.dev, q, ids, 4), 0);
		/* new requests are served, across the ring's end */
		for (unsigned k = 0; k < 5; k++)
			for (unsigned q = 0; q < NQ; q++)
				echo_round(c, q, 9, (uint8_t)(round * 50 + k * 7 + q));
	}
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
}

START_TEST(restart_resumes_split)
{
	run_restart_resumes(VQCORE_FORMAT_SPLIT);
}
END_TEST

START_TEST(restart_resumes_packed)
{
	if (!format_supported(VQCORE_FORMAT_PACKED))
		return;
	run_restart_resumes(VQCORE_FORMAT_PACKED);
}
END_TEST

/*
 * The backend keeps its inflight record in a file of its own
 * (vqcore_vu_set_inflight_file()) for a front-end that keeps no area:
 * the client here asks for none, as QEMU's vhost-user-net does not.  The
 * backend dies twice and a new one with the same file takes over the same
 * rings.  The front-end sends what QEMU sends after a crash (packed: the
 * stale 0x80008000), so without the file a packed ring stalls at its
 * start.  With @hold, three buffers the dead backend had fetched and not
 * used come back first from the record, then new requests are served
 * across the ring's end.
 */
static void inflight_file_make(char *path)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
}

static struct vqcore_vuc *file_client(struct vu_harness *h, unsigned format)
{
	struct vqcore_vuc *c = client_connect(h, format);

	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	return c;
}

/* Wait until every queue of the backend in @h started @n times. */
static void wait_started(struct echo *e, unsigned n)
{
	for (unsigned q = 0; q < NQ; q++) {
		for (int i = 0; i < 2500 && __atomic_load_n(&e->started[q], __ATOMIC_ACQUIRE) < n; i++)
			usleep(2000);
		ck_assert_uint_eq(__atomic_load_n(&e->started[q], __ATOMIC_ACQUIRE), n);
	}
}

/* Queue three readable buffers on queue 0 that the device fetches and holds. */
static void hold_three(struct vqcore_vuc *c, struct echo *e)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(c, 0);
	unsigned done = __atomic_load_n(&e->done[0], __ATOMIC_ACQUIRE);

	__atomic_store_n(&e->hold, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 3; i++) {
		struct vqcore_sg sg = { vqcore_vuc_alloc(c, 64, 64, NULL), 64 };

		ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 1, 0, (void *)(uintptr_t)(0x100 + i), 0), 0);
	}
	vqcore_drvq_kick(dq);
	for (int i = 0; i < 2500 && __atomic_load_n(&e->done[0], __ATOMIC_ACQUIRE) < done + 3; i++)
		usleep(2000);
	ck_assert_uint_eq(__atomic_load_n(&e->done[0], __ATOMIC_ACQUIRE), done + 3);
}

/* Collect the three held buffers from the used ring, in order. */
static void collect_three(struct vqcore_vuc *c)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(c, 0);
	unsigned got = 0;

	while (got < 3) {
		void *tok[4];
		int m = vqcore_drvq_get_used(dq, tok, NULL, 4);

		ck_assert_int_ge(m, 0);
		if (!m) {
			ck_assert_int_eq(vqcore_vuc_wait(c, 0, 5000), 1);
			continue;
		}
		for (int k = 0; k < m; k++)
			ck_assert_ptr_eq(tok[k], (void *)(uintptr_t)(0x100 + got + (unsigned)k));
		got += (unsigned)m;
	}
	ck_assert_uint_eq(got, 3);
}

static void run_inflight_file_restart(unsigned format, bool hold)
{
	char file[] = "/tmp/vqcore-inflight-XXXXXX";
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;

	inflight_file_make(file);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, QSZ), 0);
	c = file_client(&h, format);
	/* past slot 0 */
	echo_round(c, 0, 5, 1);
	echo_round(c, 1, 3, 2);
	if (hold)
		hold_three(c, &e);
	for (unsigned round = 0; round < 2; round++) {
		/* the backend dies: no GET_VRING_BASE; a new one starts */
		vu_harness_stop(&h);
		__atomic_store_n(&e.hold, false, __ATOMIC_RELEASE);
		memset(e.started, 0, sizeof(e.started));
		ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops,
						       &e, file, QSZ), 0);
		ck_assert_int_eq(vqcore_vuc_reconnect(c, h.path, 2000), 0);
		wait_started(&e, 1);
		ck_assert_int_eq(e.npending[0], hold && !round ? 3 : 0);
		ck_assert_int_eq(e.npending[1], 0);
		if (hold && !round)
			collect_three(c);
		/* new requests are served, across the ring's end */
		for (unsigned k = 0; k < 5; k++)
			for (unsigned q = 0; q < NQ; q++)
				echo_round(c, q, 9, (uint8_t)(round * 50 + k * 7 + q));
	}
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	unlink(file);
}

START_TEST(inflight_file_restart)
{
	/* _i: bit 0 packed, bit 1 hold */
	unsigned format = _i & 1 ? VQCORE_FORMAT_PACKED : VQCORE_FORMAT_SPLIT;

	if (!format_supported(format))
		return;
	run_inflight_file_restart(format, _i & 2);
}
END_TEST

/*
 * A record in the file belongs to one ring of one front-end.  After the
 * backend died, a different front-end (new guest memory, new rings; the
 * old one freed first, so its addresses may well repeat) connects to the
 * new backend: the record must not apply, or the backend would wait at
 * the old position of a fresh ring.  And a queue the front-end stopped
 * with GET_VRING_BASE (QEMU on a device reset or `stop`) drops its
 * record: buffers held then are not handed out again on the next start.
 */
static void run_inflight_file_other_ring(unsigned format)
{
	char file[] = "/tmp/vqcore-inflight-XXXXXX";
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	uint32_t base;

	inflight_file_make(file);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, QSZ), 0);
	c = file_client(&h, format);
	for (unsigned k = 0; k < 3; k++)
		echo_round(c, 0, 7, (uint8_t)k);
	vu_harness_stop(&h);
	vqcore_vuc_free(c);

	memset(e.started, 0, sizeof(e.started));
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, QSZ), 0);
	c = file_client(&h, format);
	wait_started(&e, 1);
	for (unsigned k = 0; k < 3; k++)
		echo_round(c, 0, 7, (uint8_t)(k + 20));

	/* stop with requests held, start again: the record was dropped */
	hold_three(c, &e);
	ck_assert_int_eq(vqcore_vuc_stop(c, 0, &base), 0);
	__atomic_store_n(&e.hold, false, __ATOMIC_RELEASE);
	ck_assert_int_eq(vqcore_vuc_resume(c, 0), 0);
	for (int i = 0; i < 2500 && __atomic_load_n(&e.started[0], __ATOMIC_ACQUIRE) < 2; i++)
		usleep(2000);
	ck_assert_uint_eq(__atomic_load_n(&e.started[0], __ATOMIC_ACQUIRE), 2);
	ck_assert_int_eq(e.npending[0], 0);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	unlink(file);
}

START_TEST(inflight_file_other_ring_split)
{
	run_inflight_file_other_ring(VQCORE_FORMAT_SPLIT);
}
END_TEST

START_TEST(inflight_file_other_ring_packed)
{
	if (!format_supported(VQCORE_FORMAT_PACKED))
		return;
	run_inflight_file_other_ring(VQCORE_FORMAT_PACKED);
}
END_TEST

/*
 * vqcore_vu_set_inflight_file() arguments: a queue size out of range, a
 * second device on a file another one holds, a call while queues run; a
 * file of another shape is taken and reset.  A client-mode device, which
 * vqcore_vu_new() connects at once, takes the file before its loop runs
 * (vhost-user-net --client --inflight-file under DPDK's virtio-user
 * server=1 was refused with -EBUSY).
 */
START_TEST(inflight_file_args)
{
	char file[] = "/tmp/vqcore-inflight-XXXXXX";
	struct vu_harness h;
	struct vqcore_vu_dev *d2;
	struct echo e;
	struct vqcore_vuc *c;
	struct stat st;
	int fd;

	inflight_file_make(file);
	fd = open(file, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a record", 12), 12);
	close(fd);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, 0), -EINVAL);
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, 32769), -EINVAL);
	ck_assert_int_eq(vu_harness_start_file(&h, 0, NQ, dev_features, &echo_ops, &e,
					       file, QSZ), 0);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_gt(st.st_size, 4096);
	/* the first device holds the file */
	ck_assert_int_eq(vqcore_vu_new("/tmp/vqcore-inflight-args.sock", 0, NQ, dev_features,
				       &echo_ops, &e, &d2), 0);
	ck_assert_int_eq(vqcore_vu_set_inflight_file(d2, file, QSZ), -EBUSY);
	vqcore_vu_free(d2);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char file2[] = "/tmp/vqcore-inflight-XXXXXX";
		int ls = socket(AF_UNIX, SOCK_STREAM, 0);

		inflight_file_make(file2);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.sock", file2);
		ck_assert_int_ge(ls, 0);
		ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(listen(ls, 1), 0);
		ck_assert_int_eq(vqcore_vu_new(sa.sun_path, VQCORE_VU_CLIENT, NQ, dev_features,
					       &echo_ops, &e, &d2), 0);
		ck_assert(vqcore_vu_connected(d2));
		ck_assert_int_eq(vqcore_vu_set_inflight_file(d2, file2, QSZ), 0);
		vqcore_vu_free(d2);
		close(ls);
		unlink(sa.sun_path);
		unlink(file2);
	}
	c = file_client(&h, VQCORE_FORMAT_SPLIT);
	wait_started(&e, 1);
	ck_assert_int_eq(vqcore_vu_set_inflight_file(h.dev, file, QSZ), -EBUSY);
	echo_round(c, 0, 4, 9);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	unlink(file);
}
END_TEST

/*
 * SEND_RARP (protocol feature RARP, offered because the device has a
 * send_rarp callback): the MAC in the first 6 bytes of the u64 payload
 * reaches the callback.  A payload of the wrong size gets an error reply
 * and no callback; without the callback the feature is not offered and
 * the request is refused.
 */
START_TEST(send_rarp)
{
	static const uint8_t mac[8] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xee, 0xee };
	struct vqcore_vu_ops no_rarp = echo_ops;
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc *c;
	int sock;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	c = client_connect(&h, VQCORE_FORMAT_SPLIT);
	ck_assert(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_RARP));
	sock = vqcore_vuc_sock(c);
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SEND_RARP, mac, 8, NULL, 0), 0);
	ck_assert_uint_eq(e.rarps, 1);
	ck_assert_mem_eq(e.rarp_mac, mac, 6);
	/* wrong sizes: refused, the connection stays */
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SEND_RARP, mac, 6, NULL, 0), 0);
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SEND_RARP, mac, 0, NULL, 0), 0);
	ck_assert_uint_eq(e.rarps, 1);
	ck_assert(vu_raw_alive(sock));
	/* without an ack asked for, it is still delivered */
	ck_assert_int_eq(vu_raw_send(sock, VQCORE_VU_SEND_RARP, 1, mac, 8, NULL, 0), 0);
	ck_assert(vu_raw_alive(sock));
	ck_assert_uint_eq(e.rarps, 2);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);

	/* a device without the callback does not offer RARP */
	no_rarp.send_rarp = NULL;
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &no_rarp, &e), 0);
	c = client_connect(&h, VQCORE_FORMAT_SPLIT);
	ck_assert(!(vqcore_vuc_protocol_features(c) & VQCORE_BIT(VQCORE_VU_PF_RARP)));
	ck_assert_int_gt(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_SEND_RARP, mac, 8,
				    NULL, 0), 0);
	ck_assert_uint_eq(e.rarps, 2);
	vqcore_vuc_free(c);
	vu_harness_stop(&h);
}
END_TEST

static void set_log_base(struct vqcore_vuc *c, const struct vqcore_memfd *log, uint64_t size)
{
	uint64_t msg[2] = { size, 0 }, st = 99;
	uint32_t rr, sz;

	ck_assert_int_eq(vu_raw_send(vqcore_vuc_sock(c), VQCORE_VU_SET_LOG_BASE, 1, msg, 16,
				     &log->fd, 1), 0);
	ck_assert_int_eq(vu_raw_recv(vqcore_vuc_sock(c), &rr, NULL, &st, 8, &sz, NULL, NULL,
				     5000), 0);
	ck_assert_uint_eq(rr, VQCORE_VU_SET_LOG_BASE);
	ck_assert_uint_eq(sz, 8);
	ck_assert_uint_eq(st, 0);
}

static bool log_dirty(const struct vqcore_memfd *log)
{
	uint8_t any = 0;

	for (unsigned i = 0; i < 128; i++)
		any |= ((const uint8_t *)log->hva)[i];
	return any != 0;
}

/*
 * The dirty log changes while the device holds buffers (QEMU resizes the
 * log when memory grows, and replaces it at every migration attempt).  The
 * change is bracketed by mem_changed so a worker can finish and pause: the
 * buffers it returns in mem_changed(true) are logged in the OLD log (still
 * mapped), later ones in the new one only.  A cancelled migration
 * (LOG_ALL cleared) drops the log, again inside the bracket, and stops
 * logging; setting it again logs into the new log.
 */
static void run_log_change(unsigned format)
{
	struct vu_harness h;
	struct echo e;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ, .queue_size = QSZ,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	struct vqcore_vuc *c;
	struct vqcore_drvq *dq;
	struct vqcore_memfd log1, log2, log3;
	uint64_t f;
	void *tok[4];

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &echo_ops, &e), 0);
	ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(c), format);
	ck_assert_int_eq(vqcore_vuc_start(c), 0);
	/* 4 MiB of guest memory = 1024 pages = 128 bytes of log */
	ck_assert_int_eq(vqcore_memfd_map("log1", 4096, 0, &log1), 0);
	ck_assert_int_eq(vqcore_memfd_map("log2", 4096, 0, &log2), 0);
	ck_assert_int_eq(vqcore_memfd_map("log3", 4096, 0, &log3), 0);
	/* QEMU: SET_LOG_BASE, then SET_FEATURES with LOG_ALL */
	set_log_base(c, &log1, 128);
	f = vqcore_vuc_features(c) | VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_assert(vqcore_mem_logging(vqcore_vu_mem(h.dev)));

	/* the worker takes two buffers and holds them */
	__atomic_store_n(&e.hold, true, __ATOMIC_RELEASE);
	dq = vqcore_vuc_queue(c, 0);
	for (unsigned i = 0; i < 2; i++) {
		struct vqcore_sg sg = { vqcore_vuc_alloc(c, 64, 64, NULL), 64 };

		ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 0, 1, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick(dq);
	for (int i = 0; i < 500 && __atomic_load_n(&e.nheld, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(2000);
	ck_assert_uint_eq(__atomic_load_n(&e.nheld, __ATOMIC_ACQUIRE), 2);
	memset(log1.hva, 0, 128);

	/* the log changes: the worker finishes first, into log1 */
	e.finish_on_pause = true;
	e.mc_before = e.mc_after = 0;
	set_log_base(c, &log2, 128);
	ck_assert_uint_eq(e.mc_before, 1);
	ck_assert_uint_eq(e.mc_after, 1);
	ck_assert_uint_eq(__atomic_load_n(&e.nheld, __ATOMIC_ACQUIRE), 0);
	ck_assert(e.logging_at_pause);
	ck_assert(log_dirty(&log1));
	ck_assert(!log_dirty(&log2));
	ck_assert_int_eq(vqcore_vuc_wait(c, 0, 5000), 1);
	ck_assert_int_eq(vqcore_drvq_get_used(dq, tok, NULL, 4), 2);
	__atomic_store_n(&e.hold, false, __ATOMIC_RELEASE);
	e.finish_on_pause = false;
	memset(log1.hva, 0, 128);
	echo_round(c, 0, 4, 1);
	ck_assert(log_dirty(&log2));
	ck_assert(!log_dirty(&log1));

	/* migration cancelled: the log goes, inside the bracket */
	e.mc_before = e.mc_after = 0;
	f &= ~VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_assert_uint_eq(e.mc_before, 1);
	ck_assert_uint_eq(e.mc_after, 1);
	ck_assert(!vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	memset(log2.hva, 0, 128);
	echo_round(c, 0, 4, 2);
	ck_assert(!log_dirty(&log2));

	/* and tried again with a new log */
	set_log_base(c, &log3, 128);
	f |= VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	ck_assert_int_eq(vu_raw_ack(vqcore_vuc_sock(c), VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_assert(vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	echo_round(c, 0, 4, 3);
	ck_assert(log_dirty(&log3));
	ck_assert(!log_dirty(&log2));

	vqcore_vuc_free(c);
	vu_harness_stop(&h);
	vqcore_memfd_unmap(&log1);
	vqcore_memfd_unmap(&log2);
	vqcore_memfd_unmap(&log3);
}

START_TEST(log_change_split)
{
	run_log_change(VQCORE_FORMAT_SPLIT);
}
END_TEST

START_TEST(log_change_packed)
{
	if (!format_supported(VQCORE_FORMAT_PACKED))
		return;
	run_log_change(VQCORE_FORMAT_PACKED);
}
END_TEST

static Suite *vu_suite(void)
{
	Suite *s = suite_create("vhost_user");
	TCase *t = tcase_create("client_backend");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, echo_split);
	tcase_add_test(t, echo_packed);
	tcase_add_test(t, config_space);
	tcase_add_test(t, reconnect);
	tcase_add_test(t, caller_loop);
	tcase_add_test(t, add_remove_region);
	tcase_add_test(t, dirty_log);
	tcase_add_loop_test(t, inflight_survives_reconnect, 0, 8);
	tcase_add_test(t, stop_unwatches_kick_split);
	tcase_add_test(t, stop_unwatches_kick_packed);
	tcase_add_test(t, restart_resumes_split);
	tcase_add_test(t, restart_resumes_packed);
	tcase_add_loop_test(t, inflight_file_restart, 0, 4);
	tcase_add_test(t, inflight_file_other_ring_split);
	tcase_add_test(t, inflight_file_other_ring_packed);
	tcase_add_test(t, inflight_file_args);
	tcase_add_test(t, send_rarp);
	tcase_add_test(t, log_change_split);
	tcase_add_test(t, log_change_packed);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return vqt_run_suite(vu_suite());
}
