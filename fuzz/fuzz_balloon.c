/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: free page reports from a hostile guest into the device
 * side of virtio-balloon (examples/balloon-report/device.c, the device
 * behind include/vqcore/balloon.h's reporting queue).
 *
 * Per input, the harness is a vhost-user front-end on a socketpair: it
 * sets up one to three memfd regions (adjacent or not, with file offsets
 * that are page aligned or not; the memfds are kept from input to input
 * and reset to a new file's state, see reset_region()), sends the memory
 * table and sets up the
 * reporting queue (split or packed) with the balloon device's callbacks
 * on the other end (vqcore_vu_new_fd() + vqcore_vu_dispatch()).  Then it
 * fills guest memory with a pattern, publishes up to four reporting
 * buffers whose ranges the input chooses (outside the table, unaligned,
 * empty, overlapping, across regions, across holes, wrapping past 2^64,
 * up to 4 GiB, device-readable), kicks and dispatches the kick.  Checks:
 *  - every buffer comes back (used length 0), except that a buffer of
 *    4 GiB or more breaks the queue (-VQCORE_E_LEN_OVERFLOW) and neither
 *    it nor the ones after it are served;
 *  - the device refused exactly the ranges that are bad, and discarded the
 *    others with no error;
 *  - every page of a good range reads zero (hole punched), every other
 *    page still holds its pattern.
 *
 * Built two ways, like fuzz_ring.c: libFuzzer (VQCORE_LIBFUZZER) or a
 * standalone program running N generated inputs (CTest:
 * fuzz_balloon_smoke).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "balloon.h"

#define FUZZ_NAME "fuzz_balloon"
#include "fuzz_common.h"

#define PAGE 4096u
#define NREG_MAX 3
#define REG_SIZE 0x10000u  /* 16 pages per region */
#define RING_PAGES 2       /* region 0 starts with the ring */
#define QNUM 16
#define UVA 0x7f0000000000ull
#define QIDX VQCORE_BALLOON_VQ_REPORTING

static unsigned long nranges, ngood, nbufs, nbroken;

struct greg {
	uint64_t gpa, off; /* guest address, offset in its file */
	int fd;            /* a memfd kept from input to input, reset each time */
	uint8_t *map;      /* the harness's view: MAP_SIZE bytes from offset 0 */
};

/* The largest file a region uses: REG_SIZE after an offset of one page. */
#define MAP_SIZE (REG_SIZE + PAGE)

static struct greg R[NREG_MAX];
static unsigned nreg;

static int send_msg(int s, uint32_t req, const void *p, uint32_t len, int fd)
{
	struct {
		uint32_t request, flags, size;
		uint8_t p[512];
	} __attribute__((packed)) m = { req, VQCORE_VU_VERSION, len, { 0 } };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m, 12 + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (len)
		memcpy(m.p, p, len);
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL) == (ssize_t)(12 + len) ? 0 : -errno;
}

/* SET_MEM_TABLE carries several fds: its own sender. */
static void send_mem_table(int s)
{
	struct {
		uint32_t request, flags, size;
		uint32_t n, pad;
		uint64_t r[NREG_MAX][4];
	} __attribute__((packed)) m = { VQCORE_VU_SET_MEM_TABLE, VQCORE_VU_VERSION,
					8 + 32 * nreg, nreg, 0, { { 0 } } };
	union {
		char b[CMSG_SPACE(sizeof(int) * NREG_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m, 12 + 8 + 32 * nreg };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * nreg) };
	struct cmsghdr *c;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nreg);
	for (unsigned i = 0; i < nreg; i++) {
		m.r[i][0] = R[i].gpa;
		m.r[i][1] = REG_SIZE;
		m.r[i][2] = UVA + R[i].gpa;
		m.r[i][3] = R[i].off;
		memcpy(CMSG_DATA(c) + i * sizeof(int), &R[i].fd, sizeof(int));
	}
	CHECK(sendmsg(s, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len);
}

static uint8_t pattern(unsigned r, unsigned page)
{
	return (uint8_t)(0x11 + r * 16 + page);
}

static int g_reg(uint64_t gpa)
{
	for (unsigned i = 0; i < nreg; i++)
		if (gpa >= R[i].gpa && gpa - R[i].gpa < REG_SIZE)
			return (int)i;
	return -1;
}

/*
 * What the device must do with one range: true = discard (all of it
 * mapped, 4 KiB aligned, each piece aligned in its region's mapping and
 * file, at most 8 pieces), false = refuse.
 */
static bool good_range(uint64_t addr, uint64_t len, bool writable)
{
	uint64_t end, pos;
	unsigned pieces = 0;

	if (!writable || !len || ((addr | len) & (PAGE - 1)))
		return false;
	if (__builtin_add_overflow(addr, len, &end))
		return false;
	for (pos = addr; pos < end; pieces++) {
		int i = g_reg(pos);

		if (i < 0 || pieces == 8)
			return false;
		if ((R[i].off + (pos - R[i].gpa)) & (PAGE - 1))
			return false;
		pos = R[i].gpa + REG_SIZE;
	}
	return true;
}

/* A range chosen by the input. */
static void get_range(struct in *in, struct vqcore_sg *sg, bool *writable)
{
	uint8_t a = get8(in), l = get8(in), f = get8(in);
	uint64_t addr;

	switch (a >> 6) {
	case 0:
	case 1: /* in or around a region, page grained */
		addr = R[(a >> 4 & 3) % nreg].gpa + ((uint64_t)(a & 0x1f) - 2) * PAGE;
		break;
	case 2: /* anywhere low, maybe unaligned */
		addr = (uint64_t)(a & 0x3f) * 0x4000 + (f & 0x10 ? (uint64_t)l * 8 : 0);
		break;
	default: /* near 2^64 */
		addr = UINT64_MAX - (uint64_t)(a & 0x3f) * PAGE - (PAGE - 1);
		break;
	}
	if (f & 0x20)
		addr += 0x800;
	sg->addr = addr;
	switch (f >> 6) {
	case 0:
	case 1:
		sg->len = (uint32_t)(l % 40) * PAGE;
		break;
	case 2:
		sg->len = (uint32_t)l * 0x100 + (f & 0xf);
		break;
	default: /* rarely huge: one such range breaks the queue */
		if ((l & 0xc0) == 0xc0)
			sg->len = l & 1 ? 0xfffff000u : 0x80000000u;
		else
			sg->len = (uint32_t)(l & 0x3f) * PAGE;
		break;
	}
	*writable = !(f & 0x8) || (f & 0x7);
}

/*
 * Give region @i's memfd exactly what a new file of its layout holds: its
 * size, its bytes (the pattern, zero before it) and its holes (none but
 * the first page when the region starts one page into the file).
 * The files live from input to input because creating, mapping, unmapping
 * and evicting up to three memfds per input, and faulting in their 48
 * pages afresh, cost about a quarter of each execution.  What the backend
 * sees of a file (size, contents, SEEK_DATA/SEEK_HOLE) is the same as a
 * new one's; the pages the device punched are written again here.
 */
static void reset_region(unsigned i)
{
	uint64_t fsize = R[i].off + REG_SIZE;

	if (!R[i].map) {
		R[i].fd = memfd_create("fuzz_balloon", MFD_CLOEXEC);
		CHECK(R[i].fd >= 0);
		CHECK(ftruncate(R[i].fd, MAP_SIZE) == 0);
		R[i].map = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
				R[i].fd, 0);
		CHECK(R[i].map != MAP_FAILED);
	}
	/* the size; a tail beyond it from an earlier layout goes away */
	CHECK(ftruncate(R[i].fd, (off_t)fsize) == 0);
	if (R[i].off == PAGE)
		CHECK(fallocate(R[i].fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				PAGE) == 0);
	else if (R[i].off)
		memset(R[i].map, 0, R[i].off);
	for (unsigned p = 0; p < REG_SIZE / PAGE; p++)
		memset(R[i].map + R[i].off + p * PAGE, pattern(i, p), PAGE);
#ifndef VQCORE_LIBFUZZER
	{
		/* the smoke test proves the reset: a new file's size and
		 * holes (data from the first written page to the end) */
		struct stat st;

		CHECK(fstat(R[i].fd, &st) == 0 && (uint64_t)st.st_size == fsize);
		CHECK(lseek(R[i].fd, 0, SEEK_DATA) == (R[i].off == PAGE ? PAGE : 0));
		CHECK(lseek(R[i].fd, 0, SEEK_HOLE) == (R[i].off == PAGE ? 0 : (off_t)fsize));
		CHECK(lseek(R[i].fd, PAGE, SEEK_HOLE) == (off_t)fsize);
	}
#endif
}

static void make_regions(struct in *in)
{
	uint8_t k = get8(in);
	uint64_t next = 0x100000;

	nreg = 1 + k % NREG_MAX;
	for (unsigned i = 0; i < nreg; i++) {
		uint8_t b = get8(in);

		/* adjacent to the previous region, or after a hole */
		R[i].gpa = i && (b & 1) ? next : next + 0x40000 * (1 + (b >> 1 & 1));
		/* region 0 holds the ring: keep it plainly aligned */
		R[i].off = !i ? 0 : (b & 0xc) == 4 ? PAGE : (b & 0xc) == 8 ? 0x800 : 0;
		next = R[i].gpa + REG_SIZE;
		reset_region(i);
	}
	/* the ring pages start out zero */
	memset(R[0].map, 0, RING_PAGES * PAGE);
}

static void drain(int s)
{
	uint8_t buf[4096];

	while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	static struct br_device bd;
	struct vqcore_vu_ops ops = br_ops;
	struct vqcore_vu_dev *vd;
	struct vqcore_mem *dmem;
	struct vqcore_drvq *dq;
	struct vqcore_ring_layout l;
	bool packed;
	uint64_t feat;
	int sv[2], kick, call;
	unsigned nbuf, fmt, added = 0, broken = 0, served = 0;
	bool ring_hit = false;
	/* 0: no good range covers the page; else 1 + the first buffer
	 * whose good range covers it */
	static uint8_t good_page[NREG_MAX][REG_SIZE / PAGE];
	unsigned rejected_by[8] = { 0 }; /* by buffer number (1..) */

	if (size < 2)
		return 0;
	packed = get8(&in) & 1;
	fmt = packed ? VQCORE_FORMAT_PACKED : VQCORE_FORMAT_SPLIT;
	make_regions(&in);
	memset(good_page, 0, sizeof(good_page));

	/* the device: balloon-report's callbacks, without its per-connection
	 * summary line */
	memset(&bd, 0, sizeof(bd));
	ops.disconnected = NULL;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(vqcore_vu_new_fd(sv[0], 0, BR_NUM_QUEUES, BR_FEATURES, &ops, &bd, &vd) == 0);
	bd.logged = 1000; /* no rejection lines */
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(kick >= 0 && call >= 0);

	feat = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING) |
	       (packed ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0);
	CHECK(send_msg(sv[1], VQCORE_VU_SET_FEATURES, &feat, 8, -1) == 0);
	CHECK(vqcore_vu_dispatch(vd, sv[0]) >= 0);
	send_mem_table(sv[1]);
	CHECK(vqcore_vu_dispatch(vd, sv[0]) >= 0);
	CHECK(vqcore_mem_count(vqcore_vu_mem(vd)) == nreg);
	CHECK(vqcore_ring_layout(fmt, QNUM, R[0].gpa, &l) == 0);
	{
		uint32_t num[2] = { QIDX, QNUM }, base[2] = { QIDX, packed ? 0x80008000u : 0 };
		struct { uint32_t idx, flags; uint64_t desc, used, avail, log; } a =
			{ QIDX, 0, UVA + l.desc, UVA + l.device, UVA + l.driver, 0 };
		uint64_t q = QIDX;

		CHECK(send_msg(sv[1], VQCORE_VU_SET_VRING_NUM, num, 8, -1) == 0);
		CHECK(send_msg(sv[1], VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), -1) == 0);
		CHECK(send_msg(sv[1], VQCORE_VU_SET_VRING_BASE, base, 8, -1) == 0);
		CHECK(send_msg(sv[1], VQCORE_VU_SET_VRING_CALL, &q, 8, call) == 0);
		CHECK(send_msg(sv[1], VQCORE_VU_SET_VRING_KICK, &q, 8, kick) == 0);
		for (int i = 0; i < 5; i++)
			CHECK(vqcore_vu_dispatch(vd, sv[0]) >= 0);
	}
	CHECK(vqcore_vu_queue(vd, QIDX) != NULL);
	drain(sv[1]);

	/* the driver: its own view of guest memory */
	dmem = vqcore_mem_new();
	CHECK(dmem);
	for (unsigned i = 0; i < nreg; i++) {
		struct vqcore_mem_region r = { .gpa = R[i].gpa, .size = REG_SIZE,
					       .hva = R[i].map + R[i].off, .fd = -1 };

		CHECK(vqcore_mem_add(dmem, &r) == 0);
	}
	{
		struct vqcore_drvq_config c = { .sz = sizeof(c), .format = fmt, .num = QNUM,
			.features = feat, .mem = dmem, .ring = l, .kick_fd = kick };

		CHECK(vqcore_drvq_new(&c, &dq) == 0);
	}

	nbuf = 1 + get8(&in) % 4;
	for (unsigned b = 0; b < nbuf && in.n; b++) {
		struct vqcore_sg sg[8];
		bool w[8];
		unsigned n = 1 + get8(&in) % 8, out = 0, inn = 0;
		struct vqcore_sg ord[8];

		for (unsigned i = 0; i < n; i++)
			get_range(&in, &sg[i], &w[i]);
		/* readable elements first, as a driver must */
		for (unsigned i = 0; i < n; i++)
			if (!w[i])
				ord[out++] = sg[i];
		for (unsigned i = 0; i < n; i++)
			if (w[i])
				ord[out + inn++] = sg[i];
		uint64_t total = 0;

		if (vqcore_drvq_add(dq, ord, out, inn, &R[b % NREG_MAX], 0))
			break; /* ring full */
		added++;
		for (unsigned i = 0; i < n; i++)
			total += ord[i].len;
		/* a buffer of 4 GiB or more breaks the queue (virtio: the
		 * total length fits in 32 bits); it and what follows are not
		 * served */
		if (total > UINT32_MAX && !broken)
			broken = added;
		if (broken)
			continue;
		bool good[8];

		/* each range alone, then any two good ones that overlap are
		 * both refused (one buffer reports each free page once) */
		for (unsigned i = 0; i < n; i++)
			good[i] = good_range(ord[i].addr, ord[i].len, i >= out);
		bool lap[8] = { false };

		for (unsigned i = 0; i < n; i++)
			for (unsigned j = i + 1; j < n; j++)
				if (good[i] && good[j] &&
				    ord[i].addr < ord[j].addr + ord[j].len &&
				    ord[j].addr < ord[i].addr + ord[i].len)
					lap[i] = lap[j] = true;
		for (unsigned i = 0; i < n; i++) {
			nranges++;
			if (!good[i] || lap[i]) {
				rejected_by[added]++;
				continue;
			}
			ngood++;
			for (uint64_t a = ord[i].addr; a < ord[i].addr + ord[i].len; a += PAGE) {
				int r = g_reg(a);
				uint8_t *gp;

				CHECK(r >= 0 && r < NREG_MAX);
				gp = &good_page[r][(a - R[r].gpa) / PAGE];
				if (!*gp)
					*gp = (uint8_t)added;
				if (r == 0 && a - R[0].gpa < RING_PAGES * PAGE)
					ring_hit = true;
			}
		}
	}
	CHECK(vqcore_drvq_kick(dq) >= 0 || !added);
	{
		struct vqcore_vu_fd fds[8];
		int n = vqcore_vu_get_fds(vd, fds, 8);

		for (int i = 0; i < n && i < 8; i++)
			if (fds[i].kind == VQCORE_VU_FD_KICK)
				vqcore_vu_dispatch(vd, fds[i].fd);
	}

	/* verdicts */
	CHECK(bd.conn.errors == 0);
	if (!ring_hit) {
		/* the ring is intact: every buffer came back with used length
		 * 0, or, when one of them broke the queue, the ones before it
		 * in order, or some of them (those fetched in an earlier batch) */
		void *tok[8];
		uint32_t lens[8];
		int got = vqcore_drvq_get_used(dq, tok, lens, 8);
		unsigned rej = 0;

		CHECK(got >= 0);
		served = (unsigned)got;
		if (broken) {
			CHECK(served < broken);
			CHECK(vqcore_vq_error(vqcore_vu_queue(vd, QIDX)) == -VQCORE_E_LEN_OVERFLOW);
			nbroken++;
		} else {
			CHECK(served == added);
		}
		for (unsigned i = 0; i < served; i++) {
			CHECK(lens[i] == 0);
			CHECK(tok[i] == &R[i % NREG_MAX]);
			rej += rejected_by[i + 1];
		}
		CHECK(bd.conn.buffers == served);
		CHECK(bd.conn.rejected == rej);
		nbufs += served;
	}
	for (unsigned r = 0; r < nreg; r++)
		for (unsigned p = 0; p < REG_SIZE / PAGE; p++) {
			const uint8_t *pg = R[r].map + R[r].off + p * PAGE;
			unsigned by = good_page[r][p];
			uint8_t want = by && by <= served ? 0 : pattern(r, p);

			if (r == 0 && p < RING_PAGES)
				continue; /* the ring itself */
			if (ring_hit && by)
				continue; /* served or not: unknown */
			if (pg[0] != want || pg[PAGE - 1] != want || memcmp(pg, pg + 1, PAGE - 1)) {
				fprintf(stderr, "fuzz_balloon: region %u page %u: %#x, want %#x\n",
					r, p, pg[0], want);
				abort();
			}
		}

	vqcore_drvq_free(dq);
	vqcore_mem_free(dmem);
	vqcore_vu_free(vd);
	for (unsigned q = 0; q < BR_NUM_QUEUES; q++) {
		free(bd.desc[q]);
		bd.desc[q] = NULL;
	}
	close(sv[1]);
	close(kick);
	close(call);
	return 0;
}

#ifndef VQCORE_LIBFUZZER
int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000;
	static uint8_t buf[256];
	uint64_t x = 0xda942042e4dd58b5ull;

	fuzz_quiet_log();
	for (unsigned long it = 0; it < iters; it++) {
		size_t len = 8 + (it * 5) % (sizeof(buf) - 8);

		for (size_t i = 0; i < len; i++) {
			xorshift64(&x);
			buf[i] = (uint8_t)(x >> 8);
		}
		/* half the inputs: mostly good ranges (page grained, inside a
		 * region, writable) so that discards happen */
		if (it & 1) {
			size_t i = 1, nr = 1 + buf[1] % NREG_MAX;

			i += 1 + nr;       /* region bytes */
			i++;               /* buffer count */
			while (i + 3 < len) {
				unsigned n = 1 + buf[i] % 8;

				i++;
				for (unsigned k = 0; k < n && i + 3 <= len; k++, i += 3) {
					buf[i] &= 0x3f;          /* in or around a region */
					buf[i + 1] %= 6;         /* up to 5 pages */
					buf[i + 2] &= 0x30;      /* writable, aligned */
				}
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_balloon: %lu inputs, %lu ranges (%lu good), %lu buffers checked, "
	       "%lu queues broken by a buffer over 4 GiB, no mismatch\n",
	       iters, nranges, ngood, nbufs, nbroken);
	return 0;
}
#endif
