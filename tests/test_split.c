/* SPDX-License-Identifier: MIT */
/*
 * Description: split-ring layout checks and the hostile-guest cases.  Each
 * case builds a valid ring with the driver-side builder, corrupts one field
 * the way a malicious guest would, and checks that the device queue reports
 * the exact error, logs one line, marks itself broken, and touches nothing
 * outside the memory table (the suite also runs under ASan).
 */
#include <errno.h>
#include <string.h>

#include "vqtest.h"

struct raw_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct raw_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

#define NUM 64

static struct raw_desc *descs(struct vqt *t)
{
	return vqt_hva(t, t->ring.desc);
}

static struct raw_avail *avail(struct vqt *t)
{
	return vqt_hva(t, t->ring.driver);
}

/* The first head the driver published (host order). */
static uint16_t head0(struct vqt *t)
{
	return vqt_le16(avail(t)->ring[0]);
}

static void setup(struct vqt *t)
{
	vqt_setup(t, VQCORE_FORMAT_SPLIT, NUM, VQT_F_BASE, 0);
	vqt_capture_log(t);
}

/* Add one buffer of @nout readable + @nin writable 64-byte elements. */
static void add(struct vqt *t, unsigned nout, unsigned nin, unsigned flags)
{
	struct vqcore_sg sg[8];

	for (unsigned i = 0; i < nout + nin; i++) {
		sg[i].addr = vqt_alloc(t, 64);
		sg[i].len = 64;
	}
	ck_assert_int_eq(vqcore_drvq_add(t->dq, sg, nout, nin, t, flags), 0);
	vqcore_drvq_kick_prepare(t->dq);
}

/* The queue must fail with @err, exactly once logged, then stay broken. */
static void expect_broken(struct vqt *t, int err)
{
	vqt_expect_broken(t, err);
	vqt_teardown(t);
}

START_TEST(layout_is_line_aligned)
{
	struct vqcore_ring_layout l;

	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_SPLIT, 256, 0x1010, &l), 0);
	/* descriptors on a line; the avail and used indices alone at the end
	 * of a line, their entries starting on the next one */
	ck_assert_uint_eq(l.desc % 64, 0);
	ck_assert_uint_eq((l.driver + 4) % 64, 0);
	ck_assert_uint_eq((l.device + 4) % 64, 0);
	ck_assert_uint_ge(l.driver, l.desc + 16 * 256);
	ck_assert_uint_ge(l.device, l.driver + 6 + 2 * 256);
	ck_assert_uint_ge(0x1010 + l.size, l.device + 6 + 8 * 256);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_SPLIT, 100, 0, &l), -EINVAL);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_SPLIT, 0, 0, &l), -EINVAL);
	ck_assert_int_eq(vqcore_ring_layout(77, 64, 0, &l), -EINVAL);
}
END_TEST

/*
 * What each side writes is little-endian in guest memory whatever the host
 * (the s390x run checks the conversions): the driver's descriptors and
 * avail ring, the device's used ring, read here byte order by byte order.
 */
START_TEST(ring_contents)
{
	struct vqt t;
	struct raw_desc *d;
	struct {
		uint16_t flags, idx;
		struct { uint32_t id, len; } ring[];
	} *used;
	struct vhost_buf b[2];
	struct iovec iov[4];
	uint32_t lens[1] = { 0x01020304 };
	struct vqcore_sg sg[2] = { { VQT_DATA + 0x1122, 0x3344 },
				   { VQT_DATA + 0x10000, 0x55 } };
	void *tok;
	uint16_t h, n;

	setup(&t);
	d = descs(&t);
	used = vqt_hva(&t, t.ring.device);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, &t, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_uint_eq(vqt_le16(avail(&t)->idx), 1);
	h = head0(&t);
	ck_assert_uint_lt(h, NUM);
	n = vqt_le16(d[h].next);
	ck_assert_uint_lt(n, NUM);
	ck_assert_uint_eq(vqt_le64(d[h].addr), VQT_DATA + 0x1122);
	ck_assert_uint_eq(vqt_le32(d[h].len), 0x3344);
	ck_assert_uint_eq(vqt_le16(d[h].flags), F_NEXT);
	ck_assert_uint_eq(vqt_le64(d[n].addr), VQT_DATA + 0x10000);
	ck_assert_uint_eq(vqt_le32(d[n].len), 0x55);
	ck_assert_uint_eq(vqt_le16(d[n].flags), F_WRITE);

	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 4), 1);
	ck_assert_uint_eq(b[0].id, h);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 1), 0);
	ck_assert_uint_eq(vqt_le16(used->idx), 1);
	ck_assert_uint_eq(vqt_le32(used->ring[0].id), h);
	ck_assert_uint_eq(vqt_le32(used->ring[0].len), 0x01020304);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, &tok, lens, 1), 1);
	ck_assert_ptr_eq(tok, &t);
	ck_assert_uint_eq(lens[0], 0x01020304);
	ck_assert_int_eq(t.log_lines, 0);
	vqt_teardown(&t);
}
END_TEST

START_TEST(ring_outside_table_rejected)
{
	struct vqt t;
	struct vqcore_vq *vq = NULL;
	struct vqcore_vq_config c;

	vqt_setup(&t, VQCORE_FORMAT_SPLIT, NUM, VQT_F_BASE, 0);
	c = (struct vqcore_vq_config){ .sz = sizeof(c), .format = VQCORE_FORMAT_SPLIT,
		.num = NUM, .mem = t.mem, .desc_gpa = t.ring.desc,
		.driver_gpa = t.ring.driver, .device_gpa = VQT_END - 8, .call_fd = -1 };
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -VQCORE_E_RING_ADDR);
	c.device_gpa = 0x7000000000ull;
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -VQCORE_E_RING_ADDR);
	c.device_gpa = t.ring.device;
	c.num = 48;
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -EINVAL);
	c.num = NUM;
	c.sz = 8;
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -EINVAL);
	ck_assert_ptr_null(vq);
	vqt_teardown(&t);
}
END_TEST

START_TEST(head_index_out_of_range)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, 0);
	avail(&t)->ring[0] = vqt_le16(NUM);
	expect_broken(&t, -VQCORE_E_DESC_INDEX);
}
END_TEST

START_TEST(next_index_out_of_range)
{
	struct vqt t;

	setup(&t);
	add(&t, 2, 0, 0);
	descs(&t)[head0(&t)].next = vqt_le16(NUM + 5);
	expect_broken(&t, -VQCORE_E_DESC_INDEX);
}
END_TEST

START_TEST(chain_loop)
{
	struct vqt t;
	struct raw_desc *d;
	uint16_t h;

	setup(&t);
	add(&t, 2, 0, 0);
	d = descs(&t);
	h = head0(&t);
	/* second descriptor points back at the head */
	d[vqt_le16(d[h].next)].flags |= vqt_le16(F_NEXT);
	d[vqt_le16(d[h].next)].next = vqt_le16(h);
	expect_broken(&t, -VQCORE_E_CHAIN_LOOP);
}
END_TEST

START_TEST(nested_indirect)
{
	struct vqt t;
	struct raw_desc *table;

	setup(&t);
	add(&t, 2, 1, VQCORE_ADD_INDIRECT);
	table = vqt_hva(&t, vqt_le64(descs(&t)[head0(&t)].addr));
	table[1].flags |= vqt_le16(F_INDIRECT);
	expect_broken(&t, -VQCORE_E_NESTED_INDIRECT);
}
END_TEST

START_TEST(indirect_len_not_multiple_of_16)
{
	struct vqt t;

	setup(&t);
	add(&t, 2, 0, VQCORE_ADD_INDIRECT);
	descs(&t)[head0(&t)].len = vqt_le32(24);
	expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
}
END_TEST

START_TEST(indirect_too_long)
{
	struct vqt t;

	setup(&t);
	add(&t, 2, 0, VQCORE_ADD_INDIRECT);
	/* more entries than the queue allows (the memory behind it is mapped) */
	descs(&t)[head0(&t)].len = vqt_le32((NUM + 1) * 16);
	expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
}
END_TEST

START_TEST(indirect_zero_len)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, VQCORE_ADD_INDIRECT);
	descs(&t)[head0(&t)].len = vqt_le32(0);
	expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
}
END_TEST

START_TEST(indirect_table_unmapped)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, VQCORE_ADD_INDIRECT);
	descs(&t)[head0(&t)].addr = vqt_le64(VQT_END - 16); /* second entry past the end */
	descs(&t)[head0(&t)].len = vqt_le32(32);
	{
		struct raw_desc *last = vqt_hva(&t, VQT_END - 16);

		last->flags = vqt_le16(F_NEXT);
		last->next = vqt_le16(1);
	}
	expect_broken(&t, -VQCORE_E_UNMAPPED);
}
END_TEST

START_TEST(total_length_overflows_32_bits)
{
	struct vqt t;
	struct raw_desc *d;
	uint16_t h;

	setup(&t);
	add(&t, 0, 2, 0);
	d = descs(&t);
	h = head0(&t);
	d[h].len = vqt_le32(0x80000000u);
	d[vqt_le16(d[h].next)].len = vqt_le32(0x80000000u);
	expect_broken(&t, -VQCORE_E_LEN_OVERFLOW);
}
END_TEST

START_TEST(address_outside_table)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, 0);
	descs(&t)[head0(&t)].addr = vqt_le64(0x7000000000ull);
	expect_broken(&t, -VQCORE_E_UNMAPPED);
}
END_TEST

START_TEST(address_runs_past_table)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, 0);
	descs(&t)[head0(&t)].addr = vqt_le64(VQT_END - 10);
	expect_broken(&t, -VQCORE_E_PAST_END);
}
END_TEST

START_TEST(address_wraps_2_64)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, 0);
	descs(&t)[head0(&t)].addr = vqt_le64(UINT64_MAX - 10);
	expect_broken(&t, -VQCORE_E_WRAP);
}
END_TEST

START_TEST(avail_idx_jumps)
{
	struct vqt t;

	setup(&t);
	add(&t, 1, 0, 0);
	avail(&t)->idx = vqt_le16(NUM + 1);
	expect_broken(&t, -VQCORE_E_AVAIL_IDX);
}
END_TEST

START_TEST(head_published_twice)
{
	struct vqt t;
	struct vhost_buf b[2];
	struct iovec iov[2];

	setup(&t);
	add(&t, 1, 0, 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), 1);
	/* the guest publishes the same head again while it is in flight */
	avail(&t)->ring[1] = avail(&t)->ring[0];
	avail(&t)->idx = vqt_le16(2);
	expect_broken(&t, -VQCORE_E_ID_IN_USE);
}
END_TEST

START_TEST(readable_after_writable)
{
	struct vqt t;
	struct raw_desc *d;
	uint16_t h;

	setup(&t);
	add(&t, 1, 1, 0);
	d = descs(&t);
	h = head0(&t);
	d[h].flags |= vqt_le16(F_WRITE);
	d[vqt_le16(d[h].next)].flags &= vqt_le16((uint16_t)~F_WRITE);
	expect_broken(&t, -VQCORE_E_WRITE_ORDER);
}
END_TEST

/* A broken queue comes back with reset (a frontend's RESET_OWNER path). */
START_TEST(reset_clears_broken)
{
	struct vqt t;
	struct vhost_buf b[2];
	struct iovec iov[2];

	setup(&t);
	add(&t, 1, 0, 0);
	avail(&t)->idx = vqt_le16(NUM + 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), -VQCORE_E_AVAIL_IDX);
	vqcore_vq_reset(t.vq);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	avail(&t)->idx = vqt_le16(1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), 1);
	vqt_teardown(&t);
}
END_TEST

/* Misaligned ring areas are refused (the spec's alignment, 16/2/4). */
START_TEST(misaligned_ring_rejected)
{
	struct vqt t;
	struct vqcore_vq *vq = NULL;
	struct vqcore_vq_config c;

	vqt_setup(&t, VQCORE_FORMAT_SPLIT, NUM, VQT_F_BASE, 0);
	c = (struct vqcore_vq_config){ .sz = sizeof(c), .format = VQCORE_FORMAT_SPLIT,
		.num = NUM, .mem = t.mem, .desc_gpa = t.ring.desc + 8,
		.driver_gpa = t.ring.driver, .device_gpa = t.ring.device, .call_fd = -1 };
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -EINVAL);
	c.desc_gpa = t.ring.desc;
	c.driver_gpa = t.ring.driver + 1;
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -EINVAL);
	c.driver_gpa = t.ring.driver;
	c.device_gpa = t.ring.device + 2;
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -EINVAL);
	ck_assert_ptr_null(vq);
	vqt_teardown(&t);
}
END_TEST

/* A used ring at 4 mod 8 (legal: the spec asks for 4) puts every used
 * element on a 4-byte boundary; both sides must still agree. */
START_TEST(used_ring_at_4_mod_8)
{
	struct vqcore_memfd mf;
	struct vqcore_mem *mem = vqcore_mem_new();
	struct vqcore_mem_region r = { .gpa = 0x10000, .size = 1 << 20, .fd = -1 };
	struct vqcore_ring_layout l;
	struct vqcore_drvq *dq;
	struct vqcore_vq *vq;
	struct vhost_buf b[8];
	struct iovec iov[8];
	uint32_t lens[8];
	void *tok[8];
	unsigned done = 0;

	ck_assert_int_eq(vqcore_memfd_map("split4", 1 << 20, 0, &mf), 0);
	r.hva = mf.hva;
	r.fd = mf.fd;
	ck_assert_int_eq(vqcore_mem_add(mem, &r), 0);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_SPLIT, NUM, 0x10000, &l), 0);
	l.device += 4; /* used->ring[] now at 0 mod 8 + 4 */
	{
		struct vqcore_drvq_config dc = { .sz = sizeof(dc), .format = VQCORE_FORMAT_SPLIT,
			.num = NUM, .features = VQT_F_BASE, .mem = mem, .ring = l, .kick_fd = -1 };
		struct vqcore_vq_config vc = { .sz = sizeof(vc), .format = VQCORE_FORMAT_SPLIT,
			.num = NUM, .features = VQT_F_BASE, .mem = mem, .desc_gpa = l.desc,
			.driver_gpa = l.driver, .device_gpa = l.device, .call_fd = -1 };

		ck_assert_int_eq(vqcore_drvq_new(&dc, &dq), 0);
		ck_assert_int_eq(vqcore_vq_new(&vc, &vq), 0);
	}
	for (unsigned round = 0; round < 100; round++) {
		int n;

		for (unsigned i = 0; i < 8; i++) {
			struct vqcore_sg sg = { 0x80000 + 64 * i, 32 };

			ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 0, 1, (void *)(uintptr_t)(done + i + 1), 0), 0);
		}
		vqcore_drvq_kick_prepare(dq);
		n = vqcore_vq_get_bufs(vq, b, 8, iov, 8);
		ck_assert_int_eq(n, 8);
		for (int i = 0; i < n; i++)
			lens[i] = 1000 + b[i].id;
		ck_assert_int_eq(vqcore_vq_put_used(vq, b, lens, 8), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(dq, tok, lens, 8), 8);
		for (int i = 0; i < 8; i++) {
			ck_assert_uint_eq((uintptr_t)tok[i], done + 1);
			ck_assert_uint_eq(lens[i], 1000 + b[i].id);
			done++;
		}
	}
	vqcore_vq_free(vq);
	vqcore_drvq_free(dq);
	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&mf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("split");
	TCase *tc = tcase_create("hostile");

	tcase_add_test(tc, layout_is_line_aligned);
	tcase_add_test(tc, ring_outside_table_rejected);
	tcase_add_test(tc, ring_contents);
	tcase_add_test(tc, head_index_out_of_range);
	tcase_add_test(tc, next_index_out_of_range);
	tcase_add_test(tc, chain_loop);
	tcase_add_test(tc, nested_indirect);
	tcase_add_test(tc, indirect_len_not_multiple_of_16);
	tcase_add_test(tc, indirect_too_long);
	tcase_add_test(tc, indirect_zero_len);
	tcase_add_test(tc, indirect_table_unmapped);
	tcase_add_test(tc, total_length_overflows_32_bits);
	tcase_add_test(tc, address_outside_table);
	tcase_add_test(tc, address_runs_past_table);
	tcase_add_test(tc, address_wraps_2_64);
	tcase_add_test(tc, avail_idx_jumps);
	tcase_add_test(tc, head_published_twice);
	tcase_add_test(tc, readable_after_writable);
	tcase_add_test(tc, reset_clears_broken);
	tcase_add_test(tc, misaligned_ring_rejected);
	tcase_add_test(tc, used_ring_at_4_mod_8);
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
