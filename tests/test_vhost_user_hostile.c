/* SPDX-License-Identifier: MIT */
/*
 * Description: the vhost-user backend against a hostile front-end.  Each
 * test drives the backend (vqcore_vu_run() in a thread of this process,
 * server mode) through a raw unix socket with hand-built messages and real
 * memfds/eventfds, expects a clear error reply (REPLY_ACK status, or an
 * empty payload for requests with a reply body) or a clean disconnect,
 * then checks that the backend still answers and that no fd leaked
 * (/proc/self/fd is counted before connecting and after the backend saw
 * the disconnect).  Each case would fail if its check were removed: a
 * missing check either answers success, maps something wrong, leaks an
 * fd, or crashes the test process (SIGBUS, out-of-bounds).
 */
#include <check.h>
#include "vqtest.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vu_harness.h"

#define NQ 2
#define MEMSZ (4ull << 20)

static struct vu_harness h;
static int fds_before;
static int sock = -1;
static struct vqcore_memfd gm; /* guest memory used by several tests */

static const uint64_t dev_features = VQCORE_BIT(VQCORE_F_VERSION_1);
static const uint64_t pfeatures =
	VQCORE_BIT(VQCORE_VU_PF_MQ) | VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK) |
	VQCORE_BIT(VQCORE_VU_PF_LOG_SHMFD) | VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD) |
	VQCORE_BIT(VQCORE_VU_PF_CONFIGURE_MEM_SLOTS);

static int dummy_get_config(struct vqcore_vu_dev *dev, uint32_t off, void *buf,
			    uint32_t len)
{
	memset(buf, 0, len);
	return 0;
}

static const struct vqcore_vu_ops ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.get_config = dummy_get_config,
};

static void setup(void)
{
	ck_assert_int_eq(vu_harness_start(&h, 0, NQ, dev_features, &ops, NULL), 0);
	fds_before = vu_count_fds();
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(vu_raw_negotiate(sock, dev_features |
					  VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) |
					  VQCORE_BIT(VQCORE_VU_F_LOG_ALL), pfeatures), 0);
	ck_assert_int_eq(vqcore_memfd_map("guest", MEMSZ, 0, &gm), 0);
}

static void teardown(void)
{
	/* The test read the backend's table (vqcore_mem_get()) on this
	 * thread; the backend clears it when it sees the hang-up.  A round
	 * trip first orders those reads before the clear for ThreadSanitizer,
	 * which does not count close() -> EOF as synchronisation. */
	if (sock >= 0)
		(void)vu_raw_alive(sock);
	if (sock >= 0)
		close(sock);
	sock = -1;
	vqcore_memfd_unmap(&gm);
	for (int i = 0; i < 1000 && vqcore_vu_connected(h.dev); i++)
		usleep(1000);
	ck_assert(!vqcore_vu_connected(h.dev));
	/* everything the backend received or created is closed again */
	ck_assert_int_eq(vu_count_fds(), fds_before);
	vu_harness_stop(&h);
}

/* The backend answers on this connection, or (after a disconnect) on a
 * new one. */
static void assert_alive(void)
{
	if (vu_raw_alive(sock))
		return;
	close(sock);
	sock = vu_raw_connect(&h);
	ck_assert_int_ge(sock, 0);
	ck_assert(vu_raw_alive(sock));
}

static void assert_refused(uint32_t req, const void *p, uint32_t size,
			   const int *fds, unsigned nfds)
{
	int64_t r = vu_raw_ack(sock, req, p, size, fds, nfds);

	ck_assert_msg(r > 0, "request %u: expected an error reply, got %lld", req,
		      (long long)r);
	assert_alive();
}

/* A request with a reply body: the error is an empty payload. */
static void assert_empty_reply(uint32_t req, const void *p, uint32_t size)
{
	uint8_t buf[512];
	uint32_t rr, sz = 99;

	ck_assert_int_eq(vu_raw_send(sock, req, 1, p, size, NULL, 0), 0);
	ck_assert_int_eq(vu_raw_recv(sock, &rr, NULL, buf, sizeof(buf), &sz, NULL, NULL,
				     5000), 0);
	ck_assert_uint_eq(rr, req);
	ck_assert_uint_eq(sz, 0);
	assert_alive();
}

struct memtab {
	uint32_t n, pad;
	struct {
		uint64_t gpa, size, uva, off;
	} r[16];
};

static uint32_t memtab_size(unsigned n)
{
	return 8 + 32 * n;
}

/* A good one-region table: guest memory at GPA 0. */
static void set_good_table(void)
{
	struct memtab t = { .n = 1 };

	t.r[0].gpa = 0;
	t.r[0].size = MEMSZ;
	t.r[0].uva = 0x7f0000000000ull;
	t.r[0].off = 0;
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1),
				    &gm.fd, 1), 0);
	ck_assert_uint_eq(vqcore_mem_count(vqcore_vu_mem(h.dev)), 1);
}

static unsigned table_count(void)
{
	return vqcore_mem_count(vqcore_vu_mem(h.dev));
}

/* ---- payload size and fd count ---- */

START_TEST(payload_too_short)
{
	uint32_t idx = 0;

	assert_refused(VQCORE_VU_SET_VRING_NUM, &idx, 4, NULL, 0);
}
END_TEST

START_TEST(payload_too_long)
{
	uint64_t v[2] = { dev_features, 0 };

	assert_refused(VQCORE_VU_SET_FEATURES, v, 16, NULL, 0);
}
END_TEST

START_TEST(payload_size_reply_request)
{
	/* GET_VRING_BASE with 4 bytes: empty reply, not a read past it */
	uint32_t idx = 0;

	assert_empty_reply(VQCORE_VU_GET_VRING_BASE, &idx, 4);
}
END_TEST

START_TEST(payload_huge_disconnects)
{
	/* a size beyond any message: the stream is dropped, the server
	 * accepts the next front-end */
	ck_assert_int_eq(vu_raw_send(sock, VQCORE_VU_SET_OWNER, 1, NULL, 0, NULL, 0), 0);
	{
		uint32_t hdr[3] = { VQCORE_VU_SET_FEATURES, 1, 1u << 30 };

		ck_assert_int_eq(vqcore_sock_send(sock, hdr, 12, NULL, 0), 0);
	}
	ck_assert(vu_raw_closed(sock, 5000));
	assert_alive();
}
END_TEST

START_TEST(bad_version_disconnects)
{
	uint64_t f = 0;

	ck_assert_int_eq(vu_raw_send(sock, VQCORE_VU_SET_FEATURES, 0x2, &f, 8, NULL, 0), 0);
	ck_assert(vu_raw_closed(sock, 5000));
	assert_alive();
}
END_TEST

START_TEST(extra_fd_closed)
{
	struct {
		uint32_t index, num;
	} s = { 0, 64 };
	int efd = vqcore_eventfd_new();

	/* SET_VRING_NUM takes no fd: refused, and the fd does not leak
	 * (teardown counts) */
	assert_refused(VQCORE_VU_SET_VRING_NUM, &s, 8, &efd, 1);
	close(efd);
}
END_TEST

START_TEST(mem_table_fewer_fds)
{
	struct memtab t = { .n = 2 };

	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	t.r[1] = (typeof(t.r[0])){ 1 << 20, 1 << 20, 0x20000000, 1 << 20 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(2), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(mem_table_more_fds)
{
	struct memtab t = { .n = 1 };
	int fds[3] = { gm.fd, gm.fd, gm.fd };

	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), fds, 3);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(add_mem_reg_no_fd)
{
	uint64_t m[5] = { 0, 0, 1 << 20, 0x10000000, 0 };

	assert_refused(VQCORE_VU_ADD_MEM_REG, m, 40, NULL, 0);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(kick_fd_missing)
{
	uint64_t v = 0; /* no NOFD flag, yet no fd */

	assert_refused(VQCORE_VU_SET_VRING_KICK, &v, 8, NULL, 0);
}
END_TEST

START_TEST(kick_nofd_with_fd)
{
	uint64_t v = VQCORE_VU_VRING_NOFD;
	int efd = vqcore_eventfd_new();

	assert_refused(VQCORE_VU_SET_VRING_KICK, &v, 8, &efd, 1);
	close(efd);
}
END_TEST

/* ---- region counts ---- */

START_TEST(region_count_above_payload)
{
	struct memtab t = { .n = 2 };

	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	/* claims 2 regions, carries 1 */
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(region_count_255)
{
	struct memtab t = { .n = 255 };

	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(8), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(region_count_above_max)
{
	struct memtab t = { .n = 9 };
	int fds[9];

	for (unsigned i = 0; i < 9; i++) {
		t.r[i] = (typeof(t.r[0])){ i << 20, 1 << 20, 0x10000000 + (i << 20), 0 };
		fds[i] = gm.fd;
	}
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(9), fds, 9);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

/* ---- overlaps and overflows ---- */

START_TEST(regions_overlap_gpa)
{
	struct memtab t = { .n = 2 };
	int fds[2] = { gm.fd, gm.fd };

	t.r[0] = (typeof(t.r[0])){ 0, 2 << 20, 0x10000000, 0 };
	t.r[1] = (typeof(t.r[0])){ 1 << 20, 1 << 20, 0x20000000, 2 << 20 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(2), fds, 2);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(regions_overlap_uva)
{
	struct memtab t = { .n = 2 };
	int fds[2] = { gm.fd, gm.fd };

	/* distinct GPAs, same user addresses: ring addresses would be
	 * ambiguous */
	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	t.r[1] = (typeof(t.r[0])){ 1 << 20, 1 << 20, 0x10000000, 1 << 20 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(2), fds, 2);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(add_mem_reg_overlaps_table)
{
	uint64_t m[5] = { 0, 1 << 20, 1 << 20, 0x30000000, 0 };

	set_good_table();
	assert_refused(VQCORE_VU_ADD_MEM_REG, m, 40, &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 1);
}
END_TEST

START_TEST(offset_plus_size_overflows)
{
	struct memtab t = { .n = 1 };

	/* DPDK CVE-2020-10722: mmap_offset + size wraps to a small value */
	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, UINT64_MAX - 4095 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(gpa_plus_size_wraps)
{
	struct memtab t = { .n = 1 };

	t.r[0] = (typeof(t.r[0])){ UINT64_MAX - 4095, 1 << 20, 0x10000000, 0 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
}
END_TEST

START_TEST(region_larger_than_file)
{
	struct memtab t = { .n = 1 };
	struct vqcore_memfd small;

	/* a 64 KiB file offered as 1 MiB: mapping it would SIGBUS on the
	 * first access past 64 KiB */
	ck_assert_int_eq(vqcore_memfd_map("small", 64 << 10, 0, &small), 0);
	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, 0 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &small.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
	/* the same through an offset that pushes the end past the file */
	t.r[0] = (typeof(t.r[0])){ 0, 60 << 10, 0x10000000, 8 << 10 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &small.fd, 1);
	ck_assert_uint_eq(table_count(), 0);
	vqcore_memfd_unmap(&small);
}
END_TEST

START_TEST(region_fd_not_a_file)
{
	struct memtab t = { .n = 1 };
	int efd = vqcore_eventfd_new();

	t.r[0] = (typeof(t.r[0])){ 0, 4096, 0x10000000, 0 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &efd, 1);
	ck_assert_uint_eq(table_count(), 0);
	close(efd);
}
END_TEST

START_TEST(bad_table_keeps_old_one)
{
	struct memtab t = { .n = 1 };
	struct vqcore_mem_region r;

	set_good_table();
	t.r[0] = (typeof(t.r[0])){ 0, 1 << 20, 0x10000000, UINT64_MAX - 4095 };
	assert_refused(VQCORE_VU_SET_MEM_TABLE, &t, memtab_size(1), &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 1);
	ck_assert_int_eq(vqcore_mem_get(vqcore_vu_mem(h.dev), 0, &r), 0);
	ck_assert_uint_eq(r.size, MEMSZ);
}
END_TEST

/* ---- unknown request ---- */

START_TEST(unknown_request)
{
	uint64_t v = 0;

	assert_refused(99, &v, 8, NULL, 0);
	/* without need_reply it is ignored; the connection stays */
	ck_assert_int_eq(vu_raw_send(sock, 0x7fffffff, 1, &v, 8, NULL, 0), 0);
	ck_assert(vu_raw_alive(sock));
}
END_TEST

START_TEST(unknown_request_with_fds)
{
	int efd = vqcore_eventfd_new();

	assert_refused(200, NULL, 0, &efd, 1);
	close(efd);
}
END_TEST

/* ---- vring indexes ---- */

START_TEST(vring_num_index)
{
	uint32_t s[2] = { 0x10000, 64 };

	assert_refused(VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0);
	s[0] = NQ;
	assert_refused(VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0);
}
END_TEST

START_TEST(vring_addr_index)
{
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { 0x10000, 0, 0x7f0000000000ull, 0x7f0000002000ull, 0x7f0000001000ull, 0 };

	set_good_table();
	assert_refused(VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}
END_TEST

START_TEST(vring_base_index)
{
	uint32_t s[2] = { 0x10000, 0 };

	assert_refused(VQCORE_VU_SET_VRING_BASE, s, 8, NULL, 0);
}
END_TEST

START_TEST(get_vring_base_index)
{
	uint32_t s[2] = { 0x10000, 0 };

	assert_empty_reply(VQCORE_VU_GET_VRING_BASE, s, 8);
}
END_TEST

START_TEST(vring_enable_index)
{
	uint32_t s[2] = { 0x10000, 1 };

	assert_refused(VQCORE_VU_SET_VRING_ENABLE, s, 8, NULL, 0);
}
END_TEST

static void fd_index_case(uint32_t req)
{
	/* bits above the 8-bit index must not be dropped before the check
	 * (CVE-2020-10723 class): 0x10000 is not queue 0 */
	uint64_t vals[] = { 0x10000, 0x100000000ull, NQ, 0xff };

	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		int efd = vqcore_eventfd_new();

		assert_refused(req, &vals[i], 8, &efd, 1);
		close(efd);
	}
}

START_TEST(kick_index)
{
	fd_index_case(VQCORE_VU_SET_VRING_KICK);
}
END_TEST

START_TEST(call_index)
{
	fd_index_case(VQCORE_VU_SET_VRING_CALL);
}
END_TEST

START_TEST(err_index)
{
	fd_index_case(VQCORE_VU_SET_VRING_ERR);
}
END_TEST

/* ---- inflight ---- */

struct inflight_msg {
	uint64_t mmap_size, mmap_offset;
	uint16_t nq, qsz;
	uint32_t pad;
};

START_TEST(inflight_queue_count_get)
{
	struct inflight_msg m = { 0, 0, 1000, 128, 0 };

	/* CVE-2021-3839: a queue count above the device's */
	assert_empty_reply(VQCORE_VU_GET_INFLIGHT_FD, &m, 24);
	m.nq = 0;
	assert_empty_reply(VQCORE_VU_GET_INFLIGHT_FD, &m, 24);
	m.nq = NQ;
	m.qsz = 0;
	assert_empty_reply(VQCORE_VU_GET_INFLIGHT_FD, &m, 24);
}
END_TEST

START_TEST(inflight_queue_count_set)
{
	struct inflight_msg m = { MEMSZ, 0, 1000, 128, 0 };

	assert_refused(VQCORE_VU_SET_INFLIGHT_FD, &m, 24, &gm.fd, 1);
}
END_TEST

START_TEST(inflight_area_past_file)
{
	struct vqcore_memfd small;
	struct inflight_msg m = { 1 << 20, 0, NQ, 128, 0 };

	ck_assert_int_eq(vqcore_memfd_map("small", 4096, 0, &small), 0);
	assert_refused(VQCORE_VU_SET_INFLIGHT_FD, &m, 24, &small.fd, 1);
	/* and an area too small for the queues it claims */
	m.mmap_size = 64;
	assert_refused(VQCORE_VU_SET_INFLIGHT_FD, &m, 24, &small.fd, 1);
	vqcore_memfd_unmap(&small);
}
END_TEST

/* The regions hold 64-bit fields: an offset that misaligns them is
 * refused (it would be undefined behaviour at every record). */
START_TEST(inflight_area_misaligned)
{
	struct vqcore_memfd f;
	struct inflight_msg m = { 1 << 16, 4, NQ, 128, 0 };

	ck_assert_int_eq(vqcore_memfd_map("inflight", 1 << 17, 0, &f), 0);
	assert_refused(VQCORE_VU_SET_INFLIGHT_FD, &m, 24, &f.fd, 1);
	vqcore_memfd_unmap(&f);
}
END_TEST

START_TEST(inflight_get_repeated)
{
	struct inflight_msg m = { 0, 0, NQ, 256, 0 }, rep;

	for (int i = 0; i < 20; i++) {
		uint32_t rr, sz;
		unsigned n = 0;
		int fd = -1;

		ck_assert_int_eq(vu_raw_send(sock, VQCORE_VU_GET_INFLIGHT_FD, 1, &m, 24,
					     NULL, 0), 0);
		ck_assert_int_eq(vu_raw_recv(sock, &rr, NULL, &rep, sizeof(rep), &sz, &fd,
					     &n, 5000), 0);
		ck_assert_uint_eq(sz, 24);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_INFLIGHT_FD, &rep, 24, &fd,
					    1), 0);
		close(fd);
	}
	assert_alive();
	/* teardown checks that neither the backend's copies nor its
	 * mappings' fds piled up */
}
END_TEST

START_TEST(vring_num_repeated)
{
	uint32_t s[2] = { 0, 64 };

	for (int i = 0; i < 50; i++) {
		s[1] = 64u << (i % 4);
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0), 0);
	}
	/* not a power of two, zero, too big */
	s[1] = 100;
	assert_refused(VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0);
	s[1] = 0;
	assert_refused(VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0);
	s[1] = 65536;
	assert_refused(VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0);
}
END_TEST

START_TEST(call_fd_repeated)
{
	/* replacing fds many times closes the old ones */
	for (int i = 0; i < 50; i++) {
		uint64_t v = (uint64_t)(i % NQ);
		int efd = vqcore_eventfd_new();

		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_CALL, &v, 8, &efd, 1), 0);
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ERR, &v, 8, &efd, 1), 0);
		close(efd);
	}
	assert_alive();
}
END_TEST

/* ---- vring addresses ---- */

START_TEST(vring_addr_outside_table)
{
	uint32_t s[2] = { 0, 64 };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { 0, 0, 0x7f0000000000ull, 0x7f0000002000ull, 0x7f0000001000ull, 0 };

	set_good_table();
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_NUM, s, 8, NULL, 0), 0);
	/* the good addresses are accepted */
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	/* descriptor table before the region */
	a.desc = 0x10000;
	assert_refused(VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	/* used ring starting inside, ending past the end of the region */
	a.desc = 0x7f0000000000ull;
	a.used = 0x7f0000000000ull + MEMSZ - 16;
	assert_refused(VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	/* avail ring at the last address (wraps) */
	a.used = 0x7f0000002000ull;
	a.avail = UINT64_MAX;
	assert_refused(VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}
END_TEST

START_TEST(vring_addr_without_table)
{
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} a = { 0, 0, 0x7f0000000000ull, 0x7f0000002000ull, 0x7f0000001000ull, 0 };

	assert_refused(VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}
END_TEST

/* ---- dirty log ---- */

static int64_t set_log(uint64_t size, uint64_t off, int fd)
{
	uint64_t m[2] = { size, off }, st = 0;
	uint32_t rr, sz;
	int r = vu_raw_send(sock, VQCORE_VU_SET_LOG_BASE, 1, m, 16, &fd, 1);

	if (r)
		return r;
	r = vu_raw_recv(sock, &rr, NULL, &st, 8, &sz, NULL, NULL, 5000);
	if (r)
		return r;
	ck_assert_uint_eq(rr, VQCORE_VU_SET_LOG_BASE);
	ck_assert_uint_eq(sz, 8);
	return (int64_t)st;
}

START_TEST(log_too_small)
{
	struct vqcore_memfd log;

	set_good_table(); /* 4 MiB = 1024 pages: needs 128 bytes */
	ck_assert_int_eq(vqcore_memfd_map("log", 4096, 0, &log), 0);
	ck_assert_int_gt(set_log(64, 0, log.fd), 0);
	ck_assert(!vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	ck_assert_int_eq(set_log(128, 0, log.fd), 0);
	ck_assert(vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	vqcore_memfd_unmap(&log);
	assert_alive();
}
END_TEST

START_TEST(log_past_file)
{
	struct vqcore_memfd log;

	set_good_table();
	ck_assert_int_eq(vqcore_memfd_map("log", 4096, 0, &log), 0);
	ck_assert_int_gt(set_log(1 << 20, 0, log.fd), 0);
	ck_assert_int_gt(set_log(128, 4096, log.fd), 0);
	ck_assert_int_gt(set_log(128, UINT64_MAX - 64, log.fd), 0);
	ck_assert(!vqcore_mem_logging(vqcore_vu_mem(h.dev)));
	vqcore_memfd_unmap(&log);
	assert_alive();
}
END_TEST

START_TEST(region_beyond_log)
{
	struct vqcore_memfd log;
	uint64_t m[5] = { 0, 64ull << 20, 1 << 20, 0x30000000, 0 };

	set_good_table();
	ck_assert_int_eq(vqcore_memfd_map("log", 4096, 0, &log), 0);
	ck_assert_int_eq(set_log(128, 0, log.fd), 0);
	/* a new region the log does not cover is refused */
	assert_refused(VQCORE_VU_ADD_MEM_REG, m, 40, &gm.fd, 1);
	ck_assert_uint_eq(table_count(), 1);
	vqcore_memfd_unmap(&log);
}
END_TEST

/* ---- features ---- */

START_TEST(features_not_offered)
{
	uint64_t f = VQCORE_BIT(VQCORE_F_RING_PACKED) | VQCORE_BIT(VQCORE_F_VERSION_1);

	assert_refused(VQCORE_VU_SET_FEATURES, &f, 8, NULL, 0);
	f = VQCORE_BIT(62);
	assert_refused(VQCORE_VU_SET_PROTOCOL_FEATURES, &f, 8, NULL, 0);
}
END_TEST

START_TEST(config_bad_range)
{
	struct {
		uint32_t off, size, flags;
		uint8_t data[256];
	} c = { 0, 300, 0, { 0 } };

	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_PROTOCOL_FEATURES,
				    &(uint64_t){ pfeatures | VQCORE_BIT(VQCORE_VU_PF_CONFIG) },
				    8, NULL, 0), 0);
	/* size larger than the payload carries */
	assert_empty_reply(VQCORE_VU_GET_CONFIG, &c, 12 + 16);
	/* offset + size overflow */
	c.off = UINT32_MAX - 4;
	c.size = 16;
	assert_empty_reply(VQCORE_VU_GET_CONFIG, &c, 12 + 16);
}
END_TEST

/* ---- our client against a hostile backend ---- */

/*
 * A backend on the other end of a socketpair that answers what the client
 * asks while connecting and starting, with GET_INFLIGHT_FD's reply from
 * @bad: a 4 KiB memfd and the mmap size and offset given there.
 */
struct bad_backend {
	int sock;
	uint64_t mmap_size, mmap_offset;
	pthread_t thread;
};

static void *bad_backend_run(void *arg)
{
	struct bad_backend *b = arg;
	uint8_t buf[4096];

	for (;;) {
		uint32_t req, flags, sz;
		unsigned n = 0;
		int fds[4];
		uint64_t v = 0;
		bool reply = true;

		if (vu_raw_recv(b->sock, &req, &flags, buf, sizeof(buf), &sz, fds, &n,
				5000))
			break;
		for (unsigned i = 0; i < n && i < 4; i++)
			close(fds[i]);
		if (req == VQCORE_VU_GET_INFLIGHT_FD) {
			struct inflight_msg m;
			struct vqcore_memfd mf;

			memcpy(&m, buf, sizeof(m));
			m.mmap_size = b->mmap_size;
			m.mmap_offset = b->mmap_offset;
			if (vqcore_memfd_map("bad-inflight", 4096, 0, &mf))
				break;
			vu_raw_send(b->sock, req, VQCORE_VU_VERSION | VQCORE_VU_FLAG_REPLY,
				    &m, sizeof(m), &mf.fd, 1);
			vqcore_memfd_unmap(&mf);
			continue;
		}
		if (req == VQCORE_VU_GET_FEATURES)
			v = VQCORE_BIT(VQCORE_F_VERSION_1) |
			    VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES);
		else if (req == VQCORE_VU_GET_PROTOCOL_FEATURES)
			v = VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD);
		else if (!(flags & VQCORE_VU_FLAG_NEED_REPLY))
			reply = false;
		if (reply)
			vu_raw_send(b->sock, req, VQCORE_VU_VERSION | VQCORE_VU_FLAG_REPLY,
				    &v, sizeof(v), NULL, 0);
	}
	return NULL;
}

/* vqcore_vuc_start() refuses the reply with -VQCORE_E_PROTO, leaks nothing. */
static void client_refuses_inflight(uint64_t mmap_size, uint64_t mmap_offset)
{
	struct bad_backend b = { .mmap_size = mmap_size, .mmap_offset = mmap_offset };
	struct vqcore_vuc_config cfg = { .sz = sizeof(cfg), .mem_size = 1 << 20,
		.flags = VQCORE_VUC_INFLIGHT, .num_queues = 1, .queue_size = 64,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) };
	struct vqcore_vuc *c = NULL;
	int sv[2], before = vu_count_fds();

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	b.sock = sv[1];
	ck_assert_int_eq(pthread_create(&b.thread, NULL, bad_backend_run, &b), 0);
	ck_assert_int_eq(vqcore_vuc_connect_fd(sv[0], &cfg, &c), 0);
	ck_assert_int_eq(vqcore_vuc_start(c), -VQCORE_E_PROTO);
	vqcore_vuc_free(c);
	pthread_join(b.thread, NULL);
	close(sv[1]);
	ck_assert_int_eq(vu_count_fds(), before);
}

/* The area runs past the end of the file the backend sent. */
START_TEST(client_inflight_past_file)
{
	client_refuses_inflight(1 << 20, 0);
	client_refuses_inflight(4096, 64);
}
END_TEST

/* Offset plus size wraps past 2^64 (or past the address space). */
START_TEST(client_inflight_wraps)
{
	client_refuses_inflight(4096, UINT64_MAX - 100);
	client_refuses_inflight(UINT64_MAX, 4096);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("vhost_user_hostile");
	TCase *t = tcase_create("hostile");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, payload_too_short);
	tcase_add_test(t, payload_too_long);
	tcase_add_test(t, payload_size_reply_request);
	tcase_add_test(t, payload_huge_disconnects);
	tcase_add_test(t, bad_version_disconnects);
	tcase_add_test(t, extra_fd_closed);
	tcase_add_test(t, mem_table_fewer_fds);
	tcase_add_test(t, mem_table_more_fds);
	tcase_add_test(t, add_mem_reg_no_fd);
	tcase_add_test(t, kick_fd_missing);
	tcase_add_test(t, kick_nofd_with_fd);
	tcase_add_test(t, region_count_above_payload);
	tcase_add_test(t, region_count_255);
	tcase_add_test(t, region_count_above_max);
	tcase_add_test(t, regions_overlap_gpa);
	tcase_add_test(t, regions_overlap_uva);
	tcase_add_test(t, add_mem_reg_overlaps_table);
	tcase_add_test(t, offset_plus_size_overflows);
	tcase_add_test(t, gpa_plus_size_wraps);
	tcase_add_test(t, region_larger_than_file);
	tcase_add_test(t, region_fd_not_a_file);
	tcase_add_test(t, bad_table_keeps_old_one);
	tcase_add_test(t, unknown_request);
	tcase_add_test(t, unknown_request_with_fds);
	tcase_add_test(t, vring_num_index);
	tcase_add_test(t, vring_addr_index);
	tcase_add_test(t, vring_base_index);
	tcase_add_test(t, get_vring_base_index);
	tcase_add_test(t, vring_enable_index);
	tcase_add_test(t, kick_index);
	tcase_add_test(t, call_index);
	tcase_add_test(t, err_index);
	tcase_add_test(t, inflight_queue_count_get);
	tcase_add_test(t, inflight_queue_count_set);
	tcase_add_test(t, inflight_area_past_file);
	tcase_add_test(t, inflight_area_misaligned);
	tcase_add_test(t, inflight_get_repeated);
	tcase_add_test(t, vring_num_repeated);
	tcase_add_test(t, call_fd_repeated);
	tcase_add_test(t, vring_addr_outside_table);
	tcase_add_test(t, vring_addr_without_table);
	tcase_add_test(t, log_too_small);
	tcase_add_test(t, log_past_file);
	tcase_add_test(t, region_beyond_log);
	tcase_add_test(t, features_not_offered);
	tcase_add_test(t, config_bad_range);
	suite_add_tcase(s, t);

	t = tcase_create("client");
	tcase_add_test(t, client_inflight_past_file);
	tcase_add_test(t, client_inflight_wraps);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	vqcore_set_log_fn(NULL, NULL, getenv("VU_LOG") ? VQCORE_LOG_DEBUG : VQCORE_LOG_ERROR);
	return vqt_run_suite(hostile_suite());
}
