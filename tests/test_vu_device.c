/* SPDX-License-Identifier: MIT */
/*
 * Description: what every vhost-user device needs from the library, and
 * the messages for the usual set-up mistakes.  The offer constant
 * (VQCORE_RING_FEATURES); the features a device sees (set_features and
 * vqcore_vu_features() agree, without the vhost-user bits 26 and 30);
 * stopping vqcore_vu_run() from a real signal handler (errno kept) and
 * with vqcore_vu_stop_on_signal() (the old action restored by
 * vqcore_vu_free()); a stop before the loop starts; and the log lines for
 * a feature set that contradicts itself, ring addresses given with an
 * empty memory table (front-end memory not shared) and ring addresses
 * outside the table.  The log is captured through vqcore_set_log_fn();
 * the front-end is a raw unix socket with hand-built messages.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vqtest.h"
#include "vu_harness.h"

/* ---- log capture (the backend logs from its loop thread) ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];
static size_t log_len;

static void log_fn(int level, const char *msg, void *opaque)
{
	size_t n = strlen(msg);

	pthread_mutex_lock(&log_lock);
	if (log_len + n + 2 < sizeof(log_buf)) {
		memcpy(log_buf + log_len, msg, n);
		log_len += n;
		log_buf[log_len++] = '\n';
		log_buf[log_len] = 0;
	}
	pthread_mutex_unlock(&log_lock);
}

static void log_start(void)
{
	pthread_mutex_lock(&log_lock);
	log_len = 0;
	log_buf[0] = 0;
	pthread_mutex_unlock(&log_lock);
	vqcore_set_log_fn(log_fn, NULL, VQCORE_LOG_DEBUG);
}

static bool log_has(const char *s)
{
	bool r;

	pthread_mutex_lock(&log_lock);
	r = strstr(log_buf, s) != NULL;
	pthread_mutex_unlock(&log_lock);
	return r;
}

#define ck_log_has(s) ck_assert_msg(log_has(s), "log lacks \"%s\"; it holds:\n%s", s, log_buf)

/* ---- the offer ---- */

START_TEST(ring_features_constant)
{
	ck_assert_uint_eq(VQCORE_RING_FEATURES,
			  VQCORE_BIT(VQCORE_F_INDIRECT_DESC) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
			  VQCORE_BIT(VQCORE_F_RING_PACKED) | VQCORE_BIT(VQCORE_F_IN_ORDER));
}
END_TEST

static uint64_t seen_features;

static int note_features(struct vqcore_vu_dev *dev, uint64_t f)
{
	seen_features = f;
	return 0;
}

static const struct vqcore_vu_ops note_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.set_features = note_features,
};

#define OFFER (VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_RING_FEATURES)
#define VU_BITS (VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) | VQCORE_BIT(VQCORE_VU_F_LOG_ALL))
#define PF_ACK (VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK) | VQCORE_BIT(VQCORE_VU_PF_MQ))

/* set_features and vqcore_vu_features() give the same virtio features. */
START_TEST(features_as_device_sees_them)
{
	struct vu_harness h;
	int sock;

	ck_assert_int_eq(vu_harness_start(&h, 0, 1, OFFER, &note_ops, NULL), 0);
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(sock, OFFER | VU_BITS, PF_ACK), 0);
	ck_assert(vu_raw_alive(sock)); /* SET_FEATURES handled */
	ck_assert_uint_eq(seen_features, OFFER);
	ck_assert_uint_eq(vqcore_vu_features(h.dev), OFFER);
	/* one more exchange: the read above comes before the loop's
	 * disconnect (close and EOF order nothing for ThreadSanitizer) */
	ck_assert(vu_raw_alive(sock));
	close(sock);
	vu_harness_stop(&h);
}
END_TEST

/* A device offer with RING_PACKED but not VERSION_1 is refused and said. */
START_TEST(offer_contradicts_itself)
{
	struct vqcore_vu_dev *d = NULL;
	char dir[] = "/tmp/vqcore-vu-XXXXXX", path[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	log_start();
	ck_assert_int_eq(vqcore_vu_new(path, 0, 1, VQCORE_RING_FEATURES, NULL, NULL, &d),
			 -EINVAL);
	ck_assert_ptr_null(d);
	ck_log_has("contradict themselves: VIRTIO_F_RING_PACKED (34) without "
		   "VIRTIO_F_VERSION_1 (32)");
	/* without packed there is nothing to contradict */
	ck_assert_int_eq(vqcore_vu_new(path, VQCORE_VU_NO_PACKED, 1, VQCORE_RING_FEATURES,
				       NULL, NULL, &d), 0);
	vqcore_vu_free(d);
	rmdir(dir);
}
END_TEST

/* A front-end that acknowledges a contradicting or unoffered set. */
START_TEST(acked_features_refused_with_reason)
{
	struct vu_harness h;
	uint64_t f;
	int sock;

	ck_assert_int_eq(vu_harness_start(&h, 0, 1, OFFER, &note_ops, NULL), 0);
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(sock, OFFER | VU_BITS, PF_ACK), 0);
	log_start();
	seen_features = 0;
	f = VQCORE_BIT(VQCORE_F_RING_PACKED) | VU_BITS;
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_log_has("SET_FEATURES refused: features 0x");
	ck_log_has("contradict themselves: VIRTIO_F_RING_PACKED (34) without "
		   "VIRTIO_F_VERSION_1 (32)");
	f = OFFER | VU_BITS | VQCORE_BIT(VQCORE_F_ACCESS_PLATFORM);
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_log_has("features 0x200000000 that the device did not offer");
	/* the device never saw either; the first set stands */
	ck_assert_uint_eq(seen_features, 0);
	ck_assert_uint_eq(vqcore_vu_features(h.dev), OFFER);
	/* one more exchange: the read above comes before the loop's
	 * disconnect (close and EOF order nothing for ThreadSanitizer) */
	ck_assert(vu_raw_alive(sock));
	close(sock);
	vu_harness_stop(&h);
}
END_TEST

/* ---- ring addresses and the memory table ---- */

struct vring_addr_msg {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

/* QEMU without shared memory: no region, then the ring addresses. */
START_TEST(ring_addr_empty_table_names_cause)
{
	struct vu_harness h;
	struct vring_addr_msg a = { 0, 0, 0x7f0000000000ull, 0x7f0000002000ull,
				    0x7f0000001000ull, 0 };
	uint32_t s[2] = { 0, 64 };
	struct { uint32_t n, pad; } empty = { 0, 0 };
	int sock;

	ck_assert_int_eq(vu_harness_start(&h, 0, 1, OFFER, NULL, NULL), 0);
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(sock, OFFER | VU_BITS, PF_ACK), 0);
	log_start();
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_MEM_TABLE, &empty, 8, NULL, 0), 0);
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0), 0);
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	ck_log_has("queue 0: ring addresses given while the memory table is empty: "
		   "the front-end shared no guest memory");
	ck_log_has("share=on");
	close(sock);
	vu_harness_stop(&h);
}
END_TEST

/* A table that does not hold the used ring: the area is named. */
START_TEST(ring_addr_outside_table_named)
{
	struct vu_harness h;
	struct vqcore_memfd gm;
	struct vring_addr_msg a = { 0, 0, 0x7f0000000000ull, 0x7f0000100000ull,
				    0x7f0000001000ull, 0 };
	uint32_t s[2] = { 0, 64 };
	struct {
		uint32_t n, pad;
		uint64_t gpa, size, uva, off;
	} t = { 1, 0, 0, 1 << 20, 0x7f0000000000ull, 0 };
	uint64_t f;
	int sock;

	ck_assert_int_eq(vqcore_memfd_map("guest", 1 << 20, 0, &gm), 0);
	ck_assert_int_eq(vu_harness_start(&h, 0, 1, OFFER, NULL, NULL), 0);
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(sock, OFFER | VU_BITS, PF_ACK), 0);
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_MEM_TABLE, &t, sizeof(t), &gm.fd, 1), 0);
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0), 0);
	log_start();
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	/* packed was negotiated: the device event suppression area */
	ck_log_has("queue 0: device event area at user address 0x7f0000100000 (4 bytes) "
		   "is not inside one region of the memory table (1 regions)");
	/* split: the used ring, 6 + 8 * 64 bytes */
	f = VQCORE_BIT(VQCORE_F_VERSION_1) | VU_BITS;
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	ck_log_has("queue 0: used area at user address 0x7f0000100000 (518 bytes) "
		   "is not inside one region of the memory table (1 regions)");
	ck_assert(!log_has("descriptor area"));
	ck_assert(!log_has("memory table is empty"));
	close(sock);
	vu_harness_stop(&h);
	vqcore_memfd_unmap(&gm);
}
END_TEST

/*
 * A front-end whose guest memory is private (QEMU's memory-backend-memfd
 * with share=off): the memfd comes, the backend maps it, but the driver's
 * ring writes go to the front-end's private copy, and the file holds
 * only zeros.  When the queue starts the backend says what is probably wrong,
 * and the buffer is never seen.  The same ring written through a shared
 * mapping is served, with no such line.
 */
static unsigned served;

static void drain_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct vhost_buf b[8];
	struct iovec iov[8];
	int n;

	while ((n = vqcore_vq_get_bufs(vq, b, 8, iov, 8)) > 0) {
		ck_assert_int_eq(vqcore_vq_put_used(vq, b, NULL, (unsigned)n), 0);
		__atomic_fetch_add(&served, (unsigned)n, __ATOMIC_RELEASE);
	}
}

static const struct vqcore_vu_ops drain_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.kick = drain_kick,
};

/*
 * One split queue of 8 set up by hand over raw messages, as a front-end
 * would: guest memory @gm (1 MiB from GPA 0, at front-end address uva),
 * descriptors at 0, avail ring at 0x1000, used ring at 0x2000, the base
 * @base, real kick and call eventfds; the drain device serves it.  The
 * ring is not enabled yet (SET_VRING_ENABLE is the caller's).
 */
struct raw_q {
	struct vu_harness h;
	int sock, kick, call;
};

static void raw_split_queue(struct raw_q *r, const struct vqcore_memfd *gm, uint32_t base)
{
	const uint64_t uva = 0x7f0000000000ull, f = VQCORE_BIT(VQCORE_F_VERSION_1);
	struct {
		uint32_t n, pad;
		uint64_t gpa, size, uva, off;
	} t = { 1, 0, 0, 1 << 20, uva, 0 };
	struct vring_addr_msg a = { 0, 0, uva, uva + 0x2000, uva + 0x1000, 0 };
	uint32_t num[2] = { 0, 8 }, b[2] = { 0, base };
	uint64_t idx = 0;

	r->kick = vqcore_eventfd_new();
	r->call = vqcore_eventfd_new();
	ck_assert_int_ge(r->kick, 0);
	ck_assert_int_ge(r->call, 0);
	served = 0;
	ck_assert_int_eq(vu_harness_start(&r->h, 0, 1, f, &drain_ops, NULL), 0);
	r->sock = vu_raw_connect(&r->h);
	ck_assert_int_ge(r->sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(r->sock, f | VU_BITS, PF_ACK), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_MEM_TABLE, &t, sizeof(t), &gm->fd, 1), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_NUM, num, 8, NULL, 0), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_BASE, b, 8, NULL, 0), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_KICK, &idx, 8, &r->kick, 1), 0);
	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_CALL, &idx, 8, &r->call, 1), 0);
}

/* Enable the ring and kick it. */
static void raw_enable_kick(struct raw_q *r)
{
	uint32_t en[2] = { 0, 1 };
	uint64_t one = 1;

	ck_assert_int_eq(vu_raw_ack(r->sock, VQCORE_VU_SET_VRING_ENABLE, en, 8, NULL, 0), 0);
	ck_assert_ptr_nonnull(vqcore_vu_queue(r->h.dev, 0));
	ck_assert_int_eq(write(r->kick, &one, 8), 8);
}

static void raw_close(struct raw_q *r)
{
	close(r->sock);
	vu_harness_stop(&r->h);
	close(r->kick);
	close(r->call);
}

static void run_private_memory(bool private)
{
	struct raw_q r;
	struct vqcore_memfd gm;
	uint8_t *view;

	ck_assert_int_eq(vqcore_memfd_map("guest", 1 << 20, 0, &gm), 0);
	view = private ? mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE, gm.fd, 0)
		       : gm.hva;
	ck_assert(view != MAP_FAILED);
	raw_split_queue(&r, &gm, 0);
	log_start();
	/* the driver: one 64-byte writable buffer at GPA 0x10000, published
	 * in the avail ring (split layout), then the ring is enabled, then a
	 * kick */
	{
		/* ring memory is little-endian on every host */
		uint64_t d_addr = vqt_le64(0x10000);
		uint32_t d_len = vqt_le32(64);
		uint16_t d_flags = vqt_le16(VHOST_DESC_F_WRITE), head = 0, aidx = vqt_le16(1);

		memcpy(view, &d_addr, 8);
		memcpy(view + 8, &d_len, 4);
		memcpy(view + 12, &d_flags, 2);
		memcpy(view + 0x1000 + 4, &head, 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		memcpy(view + 0x1000 + 2, &aidx, 2);
	}
	raw_enable_kick(&r);
	/* the loop handles the kick before this round trip's reply */
	for (int i = 0; i < 100 && !__atomic_load_n(&served, __ATOMIC_ACQUIRE) &&
			!log_has("reads as zeros"); i++)
		ck_assert(vu_raw_alive(r.sock));
	if (private) {
		ck_assert_uint_eq(__atomic_load_n(&served, __ATOMIC_ACQUIRE), 0);
		ck_log_has("queue 0: kicked, but its ring is empty and the region holding "
			   "it reads as zeros: guest memory not shared? (QEMU: "
			   "memory-backend-memfd/-file need share=on)");
	} else {
		ck_assert_uint_eq(__atomic_load_n(&served, __ATOMIC_ACQUIRE), 1);
		ck_assert(!log_has("reads as zeros"));
	}
	/* one more exchange: the reads above come before the loop's
	 * disconnect (close and EOF order nothing for ThreadSanitizer) */
	ck_assert(vu_raw_alive(r.sock));
	raw_close(&r);
	if (private)
		munmap(view, 1 << 20);
	vqcore_memfd_unmap(&gm);
}

START_TEST(private_memory_hint)
{
	run_private_memory(_i == 1);
}
END_TEST

/*
 * A front-end that keeps no ring state across a backend restart: DPDK's
 * virtio-user in server mode sends SET_VRING_BASE 0 to the new backend of
 * a split ring whatever the driver did before.  The used index the ring
 * holds says how far the old backend returned buffers (300 here, with
 * three more published up to 303): the backend resumes there, says so,
 * and serves exactly those three.  With the base the ring agrees with
 * (_i == 1) nothing is said.
 */
START_TEST(restart_base_from_used_index)
{
	struct raw_q r;
	struct vqcore_memfd gm;
	uint8_t *m;
	uint16_t used;

	ck_assert_int_eq(vqcore_memfd_map("guest", 1 << 20, 0, &gm), 0);
	m = gm.hva;
	/* the ring as the old backend and the driver left it: used index
	 * 300; buffers 0-2 published at positions 300-302 (slots 4-6) */
	for (uint16_t i = 0; i < 3; i++) {
		uint64_t d_addr = vqt_le64(0x10000 + 64u * i);
		uint32_t d_len = vqt_le32(64);
		uint16_t d_flags = vqt_le16(VHOST_DESC_F_WRITE), head = vqt_le16(i);

		memcpy(m + 16 * i, &d_addr, 8);
		memcpy(m + 16 * i + 8, &d_len, 4);
		memcpy(m + 16 * i + 12, &d_flags, 2);
		memcpy(m + 0x1000 + 4 + 2 * ((300 + i) % 8), &head, 2);
	}
	used = vqt_le16(300);
	memcpy(m + 0x2000 + 2, &used, 2);
	used = vqt_le16(303);
	memcpy(m + 0x1000 + 2, &used, 2);
	raw_split_queue(&r, &gm, _i == 1 ? 300 : 0);
	log_start();
	raw_enable_kick(&r);
	for (int i = 0; i < 100 && __atomic_load_n(&served, __ATOMIC_ACQUIRE) < 3; i++)
		ck_assert(vu_raw_alive(r.sock));
	ck_assert(vu_raw_alive(r.sock));
	ck_assert_uint_eq(__atomic_load_n(&served, __ATOMIC_ACQUIRE), 3);
	memcpy(&used, m + 0x2000 + 2, 2);
	ck_assert_uint_eq(le16toh(used), 303);
	ck_assert(!log_has("broken"));
	if (_i == 1)
		ck_assert(!log_has("resuming"));
	else
		ck_log_has("vhost-user: queue 0: SET_VRING_BASE 0, but the ring's used "
			   "index is 300: resuming there (a front-end that did not keep "
			   "the ring's state across a backend restart)");
	raw_close(&r);
	vqcore_memfd_unmap(&gm);
}
END_TEST

/* ---- stopping the loop ---- */

static struct vqcore_vu_dev *sig_dev;
static int errno_after_stop; /* written by the handler, atomically */

/* A device's own handler: it may call vqcore_vu_stop(), which must leave
 * errno alone (the interrupted code may be between a call and its check). */
static void own_handler(int signo)
{
	int saved = errno;

	errno = 4321;
	vqcore_vu_stop(sig_dev);
	__atomic_store_n(&errno_after_stop, errno, __ATOMIC_RELAXED);
	errno = saved;
}

static void *run_thread(void *arg)
{
	return (void *)(intptr_t)vqcore_vu_run(arg);
}

static struct vqcore_vu_dev *new_dev(char *dir, size_t dlen)
{
	struct vqcore_vu_dev *d;
	char path[80];

	snprintf(dir, dlen, "/tmp/vqcore-vu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	ck_assert_int_eq(vqcore_vu_new(path, 0, 1, OFFER, NULL, NULL, &d), 0);
	return d;
}

/* vqcore_vu_run() waits in epoll_wait(); a real signal delivered to its
 * thread runs the handler there, and the loop returns 0. */
START_TEST(stop_from_own_signal_handler)
{
	struct sigaction sa = { .sa_handler = own_handler };
	char dir[32];
	pthread_t t;
	void *ret;
	int sock;
	struct vu_harness hh;

	sig_dev = new_dev(dir, sizeof(dir));
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, run_thread, sig_dev), 0);
	/* the loop is running once it accepts and answers a front-end */
	snprintf(hh.path, sizeof(hh.path), "%s/sock", dir);
	sock = vu_raw_connect(&hh);
	ck_assert_int_ge(sock, 0);
	ck_assert(vu_raw_alive(sock));
	__atomic_store_n(&errno_after_stop, 0, __ATOMIC_RELAXED);
	ck_assert_int_eq(pthread_kill(t, SIGUSR1), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((int)(intptr_t)ret, 0);
	ck_assert_int_eq(__atomic_load_n(&errno_after_stop, __ATOMIC_RELAXED), 4321);
	close(sock);
	vqcore_vu_free(sig_dev);
	rmdir(dir);
}
END_TEST

static volatile int old_handler_calls;

static void old_handler(int signo)
{
	old_handler_calls++;
}

/* The library's handler: installed per signal, one device per signal,
 * the previous action back after vqcore_vu_free(). */
START_TEST(stop_on_signal_installs_and_restores)
{
	struct sigaction sa = { .sa_handler = old_handler }, cur;
	struct vqcore_vu_dev *d, *d2;
	char dir[32], dir2[32];
	pthread_t t;
	void *ret;

	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	d = new_dev(dir, sizeof(dir));
	d2 = new_dev(dir2, sizeof(dir2));
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d, SIGKILL), -EINVAL);
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d, 0), -EINVAL);
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d, SIGUSR2), 0);
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d, SIGUSR2), 0);
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d2, SIGUSR2), -EBUSY);
	ck_assert_int_eq(pthread_create(&t, NULL, run_thread, d), 0);
	/* process-directed: whichever thread takes it, the loop stops */
	ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((int)(intptr_t)ret, 0);
	ck_assert_int_eq(old_handler_calls, 0);
	vqcore_vu_free(d);
	ck_assert_int_eq(sigaction(SIGUSR2, NULL, &cur), 0);
	ck_assert_ptr_eq((void *)cur.sa_handler, (void *)old_handler);
	/* the signal is free for another device now */
	ck_assert_int_eq(vqcore_vu_stop_on_signal(d2, SIGUSR2), 0);
	vqcore_vu_free(d2);
	rmdir(dir);
	rmdir(dir2);
}
END_TEST

/* A signal just before the loop starts is not lost. */
START_TEST(stop_before_run_is_kept)
{
	char dir[32];
	struct vqcore_vu_dev *d = new_dev(dir, sizeof(dir));

	vqcore_vu_stop(d);
	ck_assert_int_eq(vqcore_vu_run(d), 0);
	vqcore_vu_free(d);
	rmdir(dir);
}
END_TEST

static Suite *device_suite(void)
{
	Suite *s = suite_create("vu_device");
	TCase *t = tcase_create("device");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, ring_features_constant);
	tcase_add_test(t, features_as_device_sees_them);
	tcase_add_test(t, offer_contradicts_itself);
	tcase_add_test(t, acked_features_refused_with_reason);
	tcase_add_test(t, ring_addr_empty_table_names_cause);
	tcase_add_test(t, ring_addr_outside_table_named);
	tcase_add_loop_test(t, private_memory_hint, 0, 2);
	tcase_add_loop_test(t, restart_base_from_used_index, 0, 2);
	tcase_add_test(t, stop_from_own_signal_handler);
	tcase_add_test(t, stop_on_signal_installs_and_restores);
	tcase_add_test(t, stop_before_run_is_kept);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return vqt_run_suite(device_suite());
}
