/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a hostile vhost-user front-end.  The input is a guest
 * memory image and a stream of messages (header + payload, as on the
 * wire) with fds the harness creates for each message: memfds of several
 * sizes filled with the image (for SET_MEM_TABLE, ADD_MEM_REG,
 * SET_LOG_BASE, SET_INFLIGHT_FD), eventfds (kick, call, err), a pipe (not
 * a regular file), or none.  Each message goes into one end of a unix
 * socketpair with SCM_RIGHTS; the backend (vqcore_vu_new_fd() on the other
 * end) handles it through vqcore_vu_dispatch(), the public entry point a
 * caller's event loop uses.  After every message the harness reads the
 * replies (closing any fd they carry), and every running queue is served:
 * its kick fd is signalled and dispatched, and the device's kick callback
 * does a get_bufs/put_used round whose iovecs must lie inside the memory
 * table.  At the end the front-end hangs up (EOF) with queues running.
 *
 * The backend must not crash, hang, read or write outside what it mapped,
 * or leak memory; the harness leaks no fd of its own (checked: the number
 * of open fds is the same after every input as before it).
 *
 * Input layout:
 *   byte 0     device: queues 1 + (b & 3); b & 4 VQCORE_VU_NO_PACKED;
 *              b & 8 VQCORE_VU_NO_INFLIGHT; b & 0x10: no EVENT_IDX offered
 *   bytes 1-2  length L of the guest image (LE, at most IMAGE_MAX)
 *   L bytes    the image: the first bytes of every memfd
 *   messages:  request (1 byte), flags ^ 1 (1 byte; 0xff: a header that
 *              announces an oversized payload), fd spec (1 byte: count =
 *              low nibble % 10, kind = bits 4-6, bit 7: kinds rotate),
 *              payload length (2 bytes LE, cut to what is left), payload
 *
 * Built two ways, like fuzz_ring.c: libFuzzer (VQCORE_LIBFUZZER) or a
 * standalone program (CTest: fuzz_vu_smoke) that replays fuzz/corpus/vu/
 * when given the directory, then runs N mutations of built-in valid
 * sessions (split and packed, SET_MEM_TABLE or ADD_MEM_REG, with dirty
 * log and inflight area).  "fuzz_vu --write-seeds DIR" writes those
 * sessions as seed files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

#define FUZZ_NAME "fuzz_vu"
#include "fuzz_common.h"

#define IMAGE_MAX 0x4000u
#define MAX_FDS 9
#define QNUM 16

static unsigned long nmsgs, nbufs, nrounds, ndrops;

/* ---- the device: checks what the library hands it ---- */

struct dev {
	uint8_t config[64];
};

FUZZ_NOCOV static bool iov_in_table(struct vqcore_mem *mem, const struct iovec *v)
{
	for (unsigned i = 0; i < vqcore_mem_count(mem); i++) {
		struct vqcore_mem_region r;
		uintptr_t b, e;

		CHECK(vqcore_mem_get(mem, i, &r) == 0);
		b = (uintptr_t)r.hva;
		e = b + r.size;
		if ((uintptr_t)v->iov_base >= b && (uintptr_t)v->iov_base <= e &&
		    v->iov_len <= e - (uintptr_t)v->iov_base)
			return true;
	}
	return false;
}

static void serve(struct vqcore_vu_dev *vd, unsigned qidx, struct vqcore_vq *vq)
{
	struct vqcore_mem *mem = vqcore_vu_mem(vd);

	nrounds++;
	for (int round = 0; round < 4; round++) {
		struct vhost_buf b[8];
		struct iovec iov[64];
		uint32_t lens[8];
		int n = vqcore_vu_get_bufs(vd, qidx, b, 8, iov, 64);

		if (n <= 0)
			break;
		nbufs += (unsigned)n;
		for (int i = 0; i < n; i++) {
			uint32_t in_bytes = 0;

			for (unsigned k = 0; k < (unsigned)b[i].out_num + b[i].in_num; k++) {
				const struct iovec *v = &iov[b[i].first + k];

				CHECK(iov_in_table(mem, v));
				/* touch every byte the device may use */
				if (k >= b[i].out_num) {
					memset(v->iov_base, 0x5a, v->iov_len);
					in_bytes += (uint32_t)v->iov_len;
				} else if (v->iov_len) {
					volatile uint8_t s = ((uint8_t *)v->iov_base)[v->iov_len - 1];
					(void)s;
				}
			}
			lens[i] = in_bytes;
		}
		if (vqcore_vu_put_used(vd, qidx, b, lens, (unsigned)n) < 0)
			break;
		vqcore_vq_signal(vq);
	}
	vqcore_vq_enable_notify(vq);
}

static void d_kick(struct vqcore_vu_dev *vd, unsigned qidx, struct vqcore_vq *vq)
{
	serve(vd, qidx, vq);
}

static int d_get_config(struct vqcore_vu_dev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct dev *d = vqcore_vu_opaque(vd);

	if (off > sizeof(d->config) || len > sizeof(d->config) - off)
		return -EINVAL;
	memcpy(buf, d->config + off, len);
	return 0;
}

static int d_set_config(struct vqcore_vu_dev *vd, uint32_t off, const void *buf,
			uint32_t len, uint32_t flags)
{
	struct dev *d = vqcore_vu_opaque(vd);

	(void)flags;
	if (off > sizeof(d->config) || len > sizeof(d->config) - off)
		return -EINVAL;
	memcpy(d->config + off, buf, len);
	return 0;
}

static const struct vqcore_vu_ops dev_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.get_config = d_get_config,
	.set_config = d_set_config,
	.kick = d_kick,
};

/* ---- the harness side of the socket ---- */

static int make_memfd(uint64_t size, const uint8_t *img, size_t ilen)
{
	int fd = memfd_create("fuzz_vu", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)size) == 0);
	if (ilen > size)
		ilen = (size_t)size;
	if (ilen)
		CHECK(pwrite(fd, img, ilen, 0) == (ssize_t)ilen);
	return fd;
}

/* One fd of kind @k (closed by the caller after sending). */
static int make_fd(unsigned k, const uint8_t *img, size_t ilen, int *extra)
{
	int p[2];

	switch (k & 7) {
	case 0:
		return make_memfd(0x10000, img, ilen);
	case 1:
		return make_memfd(0x1000, img, ilen);
	case 2:
		return make_memfd(0x100000, img, ilen);
	case 3:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	case 7:
		return make_memfd(0x1000, img, 0); /* zeroed: log, inflight */
	case 4:
		return make_memfd(0, img, 0);
	case 5:
		CHECK(pipe2(p, O_CLOEXEC) == 0);
		*extra = p[1];
		return p[0];
	default:
		return make_memfd(0x4000, img, ilen);
	}
}

/* Read every reply the backend wrote; close the fds they carry. */
static void drain_replies(int s)
{
	for (;;) {
		uint8_t buf[4096];
		union {
			char b[CMSG_SPACE(sizeof(int) * 32)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		ssize_t r = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (r <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
	}
}

/* Kick every running queue through its fd, as a front-end would. */
static void kick_all(struct vqcore_vu_dev *vd)
{
	struct vqcore_vu_fd fds[8];
	int n = vqcore_vu_get_fds(vd, fds, 8);

	for (int i = 0; i < n && i < 8; i++) {
		if (fds[i].kind != VQCORE_VU_FD_KICK)
			continue;
		vqcore_eventfd_signal(fds[i].fd);
		vqcore_vu_dispatch(vd, fds[i].fd);
		if (!vqcore_vu_connected(vd))
			return;
	}
}

/* Open fds, this process's.  The directory stream stays open from the
 * first call on (counted every time, so the count stays comparable): a
 * count is a rewind and a read, not an open, a stat and a close. */
FUZZ_NOCOV static int count_fds(void)
{
	static DIR *d;
	int n = 0;

	if (!d)
		d = opendir("/proc/self/fd");
	CHECK(d);
	rewinddir(d);
	while (readdir(d))
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct vqcore_vu_dev *vd;
	struct dev d = { { 0 } };
	const uint8_t *img;
	size_t ilen;
	uint64_t features;
	unsigned flags, nq;
	int sv[2], fds_before, fds_now;
	uint8_t b0;

	if (size < 3)
		return 0;
	fds_before = count_fds();
	b0 = get8(&in);
	nq = 1 + (b0 & 3);
	flags = (b0 & 4 ? VQCORE_VU_NO_PACKED : 0) | (b0 & 8 ? VQCORE_VU_NO_INFLIGHT : 0);
	features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
		   VQCORE_BIT(VQCORE_F_RING_PACKED) | VQCORE_BIT(VQCORE_F_IN_ORDER) |
		   (b0 & 0x10 ? 0 : VQCORE_BIT(VQCORE_F_EVENT_IDX));
	ilen = get8(&in);
	ilen |= (size_t)get8(&in) << 8;
	if (ilen > IMAGE_MAX)
		ilen = IMAGE_MAX;
	if (ilen > in.n)
		ilen = in.n;
	img = in.p;
	in.p += ilen;
	in.n -= ilen;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(vqcore_vu_new_fd(sv[0], flags, nq, features, &dev_ops, &d, &vd) == 0);
	CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);

	while (in.n >= 5 && vqcore_vu_connected(vd)) {
		struct {
			uint32_t request, flags, size;
			uint8_t p[4096];
		} __attribute__((packed)) msg;
		uint8_t fb, spec;
		unsigned nfd, kind;
		int fds[MAX_FDS], extra[MAX_FDS];
		size_t plen;
		union {
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t sent;

		msg.request = get8(&in);
		fb = get8(&in);
		spec = get8(&in);
		plen = get8(&in);
		plen |= (size_t)get8(&in) << 8;
		if (plen > sizeof(msg.p))
			plen = sizeof(msg.p);
		if (plen > in.n)
			plen = in.n;
		memcpy(msg.p, in.p, plen);
		in.p += plen;
		in.n -= plen;
		msg.flags = fb ^ 1u;
		msg.size = (uint32_t)plen;
		if (fb == 0xff) {
			/* oversized: the backend must drop us without reading on */
			msg.flags = VQCORE_VU_VERSION;
			msg.size = 0x10000u + (uint32_t)plen;
			plen = 0;
		}
		nfd = (spec & 0xf) % (MAX_FDS + 1);
		kind = spec >> 4 & 7;
		for (unsigned i = 0; i < nfd; i++) {
			extra[i] = -1;
			fds[i] = make_fd(spec & 0x80 ? kind + i : kind, img, ilen, &extra[i]);
			CHECK(fds[i] >= 0);
		}
		iov.iov_base = &msg;
		iov.iov_len = 12 + plen;
		if (nfd) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfd);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfd);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfd);
		}
		sent = sendmsg(sv[1], &mh, MSG_NOSIGNAL);
		for (unsigned i = 0; i < nfd; i++) {
			close(fds[i]);
			if (extra[i] >= 0)
				close(extra[i]);
		}
		CHECK(sent == (ssize_t)(12 + plen));
		nmsgs++;
		vqcore_vu_dispatch(vd, sv[0]);
		if (!vqcore_vu_connected(vd)) {
			ndrops++;
			break;
		}
		kick_all(vd);
		/* the replies to this message (a few KiB at most: the
		 * socket never fills, the backend never blocks on it) are
		 * read once, after the queues are served */
		drain_replies(sv[1]);
	}
	/* the front-end goes away with whatever is running */
	if (vqcore_vu_connected(vd)) {
		shutdown(sv[1], SHUT_WR);
		for (int i = 0; i < 4 && vqcore_vu_connected(vd); i++) {
			vqcore_vu_dispatch(vd, sv[0]);
			drain_replies(sv[1]);
		}
		CHECK(!vqcore_vu_connected(vd));
	}
	vqcore_vu_free(vd);
	drain_replies(sv[1]);
	close(sv[1]);
	fds_now = count_fds();
	if (fds_now != fds_before) {
		fprintf(stderr, "fuzz_vu: %d fds open after the input, %d before\n",
			fds_now, fds_before);
		abort();
	}
	return 0;
}

#ifndef VQCORE_LIBFUZZER
/* ---- seed sessions: what a well-behaved front-end sends ---- */

struct seed {
	uint8_t b[0x6000];
	size_t n;
};

static void put(struct seed *s, const void *p, size_t n)
{
	CHECK(s->n + n <= sizeof(s->b));
	if (n)
		memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void msg(struct seed *s, uint8_t req, uint8_t nfd, uint8_t kind,
		const void *payload, uint16_t len, bool need_reply)
{
	uint8_t h[5] = { req, need_reply ? (VQCORE_VU_FLAG_NEED_REPLY | VQCORE_VU_VERSION) ^ 1 : 0,
			 (uint8_t)(nfd | kind << 4), (uint8_t)len, (uint8_t)(len >> 8) };

	put(s, h, 5);
	put(s, payload, len);
}

static void msg_u64(struct seed *s, uint8_t req, uint64_t v, uint8_t nfd, uint8_t kind)
{
	msg(s, req, nfd, kind, &v, 8, false);
}

static void msg_state(struct seed *s, uint8_t req, uint32_t idx, uint32_t num)
{
	uint32_t st[2] = { idx, num };

	msg(s, req, 0, 0, st, 8, false);
}

#define UVA 0x7f0000000000ull

/*
 * A session: negotiate, one 64 KiB memfd region at GPA 0 (SET_MEM_TABLE
 * or ADD_MEM_REG), queue 0 of 16 entries at GPA 0, base 0, call/err/kick
 * eventfds, enable; optionally a dirty log, an inflight area, a removal.
 * The image holds a ring with three buffers published by the driver-side
 * queue API.
 */
static void make_seed(struct seed *s, unsigned variant)
{
	bool packed = variant & 1, add_reg = variant & 2, log = variant & 4,
	     inflight = variant & 8;
	static uint8_t image[0x3000] __attribute__((aligned(4096)));
	struct vqcore_mem *mem = vqcore_mem_new();
	struct vqcore_mem_region r = { .gpa = 0, .size = sizeof(image), .hva = image, .fd = -1 };
	unsigned fmt = packed ? VQCORE_FORMAT_PACKED : VQCORE_FORMAT_SPLIT;
	struct vqcore_ring_layout l;
	struct vqcore_drvq *dq;
	uint64_t feat = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) |
			VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
			(packed ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0) |
			(log ? VQCORE_BIT(VQCORE_VU_F_LOG_ALL) : 0);
	uint64_t pf = VQCORE_BIT(VQCORE_VU_PF_MQ) | VQCORE_BIT(VQCORE_VU_PF_LOG_SHMFD) |
		      VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK) | VQCORE_BIT(VQCORE_VU_PF_CONFIG) |
		      VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD) |
		      VQCORE_BIT(VQCORE_VU_PF_RESET_DEVICE) |
		      VQCORE_BIT(VQCORE_VU_PF_CONFIGURE_MEM_SLOTS);
	uint16_t ilen = sizeof(image);

	memset(image, 0, sizeof(image));
	CHECK(mem && vqcore_mem_add(mem, &r) == 0);
	CHECK(vqcore_ring_layout(fmt, QNUM, 0, &l) == 0);
	{
		struct vqcore_drvq_config c = { .sz = sizeof(c), .format = fmt, .num = QNUM,
			.features = feat, .mem = mem, .ring = l, .kick_fd = -1 };
		struct vqcore_sg sg[2] = { { 0x2000, 64 }, { 0x2400, 256 } };

		CHECK(vqcore_drvq_new(&c, &dq) == 0);
		for (int i = 0; i < 3; i++) {
			sg[0].addr = 0x2000 + 0x100 * i;
			sg[1].addr = 0x2800 + 0x100 * i;
			CHECK(vqcore_drvq_add(dq, sg, 1, 1, image + i, 0) == 0);
		}
		vqcore_drvq_publish(dq);
		vqcore_drvq_free(dq);
	}
	vqcore_mem_free(mem);

	s->n = 0;
	put(s, &(uint8_t){ 0x01 }, 1); /* 2 queues */
	put(s, &ilen, 2);
	put(s, image, sizeof(image));
	msg(s, VQCORE_VU_GET_FEATURES, 0, 0, NULL, 0, false);
	msg_u64(s, VQCORE_VU_SET_FEATURES, feat, 0, 0);
	msg(s, VQCORE_VU_GET_PROTOCOL_FEATURES, 0, 0, NULL, 0, false);
	msg_u64(s, VQCORE_VU_SET_PROTOCOL_FEATURES, pf, 0, 0);
	msg(s, VQCORE_VU_GET_QUEUE_NUM, 0, 0, NULL, 0, false);
	msg(s, VQCORE_VU_SET_OWNER, 0, 0, NULL, 0, false);
	if (inflight) {
		struct { uint64_t size, off; uint16_t nq, qs; uint32_t pad; } inf =
			{ 0x1000, 0, 2, QNUM, 0 };

		msg(s, VQCORE_VU_GET_INFLIGHT_FD, 0, 0, &inf, 24, false);
		msg(s, VQCORE_VU_SET_INFLIGHT_FD, 1, 7, &inf, 24, false);
	}
	if (add_reg) {
		uint64_t reg[5] = { 0, 0, 0x10000, UVA, 0 };

		msg(s, VQCORE_VU_GET_MAX_MEM_SLOTS, 0, 0, NULL, 0, false);
		msg(s, VQCORE_VU_ADD_MEM_REG, 1, 0, reg, 40, true);
	} else {
		uint8_t mt[8 + 32] = { 1 };
		uint64_t reg[4] = { 0, 0x10000, UVA, 0 };

		memcpy(mt + 8, reg, 32);
		msg(s, VQCORE_VU_SET_MEM_TABLE, 1, 0, mt, 40, true);
	}
	if (log) {
		uint64_t lg[2] = { 0x1000, 0 };

		msg(s, VQCORE_VU_SET_LOG_BASE, 1, 7, lg, 16, false);
	}
	msg_state(s, VQCORE_VU_SET_VRING_NUM, 0, QNUM);
	{
		struct { uint32_t idx, flags; uint64_t desc, used, avail, log; } a =
			{ 0, 0, UVA + l.desc, UVA + l.device, UVA + l.driver, 0 };

		msg(s, VQCORE_VU_SET_VRING_ADDR, 0, 0, &a, sizeof(a), false);
	}
	/* packed: avail and used wrap counters 1 (bits 15 and 31) */
	msg_state(s, VQCORE_VU_SET_VRING_BASE, 0, packed ? 0x80008000u : 0);
	msg_u64(s, VQCORE_VU_SET_VRING_CALL, 0, 1, 3);
	msg_u64(s, VQCORE_VU_SET_VRING_ERR, 0, 1, 3);
	msg_u64(s, VQCORE_VU_SET_VRING_KICK, 0, 1, 3);
	msg_state(s, VQCORE_VU_SET_VRING_ENABLE, 0, 1);
	{
		uint32_t cfg[3 + 2] = { 0, 8, 0, 0x11223344, 0x55667788 };

		msg(s, VQCORE_VU_SET_CONFIG, 0, 0, cfg, 20, false);
		msg(s, VQCORE_VU_GET_CONFIG, 0, 0, cfg, 20, false);
	}
	msg_state(s, VQCORE_VU_GET_VRING_BASE, 0, 0);
	if (add_reg) {
		uint64_t reg[5] = { 0, 0, 0x10000, UVA, 0 };

		msg(s, VQCORE_VU_REM_MEM_REG, 0, 0, reg, 40, false);
	}
}

static size_t read_file(const char *path, uint8_t *buf, size_t max)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, max, f);
	fclose(f);
	return n;
}

/* Replay every file of @dir (the regression corpus). */
static unsigned replay_dir(const char *dir)
{
	static uint8_t buf[1 << 16];
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[4096];
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = read_file(path, buf, sizeof(buf));
		LLVMFuzzerTestOneInput(buf, len);
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	static struct seed seeds[16], m;
	unsigned long iters = 2000;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned replayed = 0;

	fuzz_quiet_log();
	for (unsigned v = 0; v < 16; v++)
		make_seed(&seeds[v], v);
	if (argc > 2 && !strcmp(argv[1], "--write-seeds")) {
		for (unsigned v = 0; v < 16; v++) {
			char path[4096];
			FILE *f;

			snprintf(path, sizeof(path), "%s/session-%02u", argv[2], v);
			f = fopen(path, "wb");
			CHECK(f && fwrite(seeds[v].b, 1, seeds[v].n, f) == seeds[v].n);
			fclose(f);
		}
		return 0;
	}
	if (argc > 1)
		iters = strtoul(argv[1], NULL, 0);
	if (argc > 2)
		replayed = replay_dir(argv[2]);
	for (unsigned long it = 0; it < iters; it++) {
		const struct seed *s = &seeds[it % 16];
		unsigned muts;

		m = *s;
		/* the first round runs the sessions as they are */
		muts = it < 16 ? 0 : 1 + (unsigned)(x % 6);
		for (unsigned k = 0; k < muts; k++) {
			size_t pos;

			xorshift64(&x);
			/* mostly in the messages, which follow the image */
			pos = (x >> 8) % 4 && m.n > 0x3003
				      ? 0x3003 + (x >> 16) % (m.n - 0x3003)
				      : (x >> 16) % m.n;
			switch ((x >> 40) % 4) {
			case 0:
				m.b[pos] = (uint8_t)(x >> 48);
				break;
			case 1:
				m.b[pos] ^= (uint8_t)(1u << ((x >> 48) % 8));
				break;
			case 2:
				m.b[pos] += (uint8_t)((x >> 48) % 5) - 2;
				break;
			default:
				m.n = pos > 3 ? pos : m.n; /* truncate */
				break;
			}
		}
		LLVMFuzzerTestOneInput(m.b, m.n);
	}
	printf("fuzz_vu: %u corpus files, %lu generated inputs, %lu messages, "
	       "%lu connections dropped, %lu kick rounds, %lu buffers served, no crash, "
	       "no fd leak\n", replayed, iters, nmsgs, ndrops, nrounds, nbufs);
	return 0;
}
#endif
