/* SPDX-License-Identifier: MIT */
/*
 * Description: the hostile-ring cases of the test-only format
 * formats/testring (its ring behaviour is test_vq_conformance's).  Each
 * case builds a valid ring with the driver-side builder, corrupts one
 * field the way a malicious peer would, and checks the exact error: the
 * device queue reports it, logs one line and is broken; the driver queue
 * returns -EIO.  Nothing is touched outside the memory table (the suite
 * also runs under ASan).
 */
#include <errno.h>
#include <string.h>

#include "formats/testring/testring.h"
#include "vqtest.h"

struct raw_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct raw_driver {
	uint16_t flags;
	uint16_t idx;
	uint16_t used_event;
};

struct raw_device {
	uint16_t flags;
	uint16_t idx;
	uint16_t avail_event;
	uint16_t pad;
	uint32_t ring[][2];
};

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

#define NUM 64

static struct raw_desc *descs(struct vqt *t)
{
	return vqt_hva(t, t->ring.desc);
}

static struct raw_driver *driver(struct vqt *t)
{
	return vqt_hva(t, t->ring.driver);
}

static struct raw_device *device(struct vqt *t)
{
	return vqt_hva(t, t->ring.device);
}

static void setup(struct vqt *t)
{
	vqt_setup(t, VQ_FORMAT_TESTRING, NUM, VQT_F_BASE, 0);
	vqt_capture_log(t);
}

/* Add and publish buffers of one readable 64-byte element. */
static void add(struct vqt *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg = { vqt_alloc(t, 64), 64 };

		ck_assert_int_eq(vqcore_drvq_add(t->dq, &sg, 1, 0,
						 (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick_prepare(t->dq);
}

/* The avail index moves by more than the queue size. */
START_TEST(avail_idx_jump)
{
	struct vqt t;

	setup(&t);
	add(&t, 1);
	driver(&t)->idx = vqt_le16(NUM + 1);
	vqt_expect_broken(&t, -VQCORE_E_AVAIL_IDX);
	vqt_teardown(&t);
}
END_TEST

/* A chain whose NEXT flag runs past the published slots. */
START_TEST(chain_past_avail_idx)
{
	struct vqt t;

	setup(&t);
	add(&t, 1);
	descs(&t)[0].flags |= vqt_le16(F_NEXT);
	vqt_expect_broken(&t, -VQCORE_E_CHAIN_LOOP);
	vqt_teardown(&t);
}
END_TEST

/* Every slot chained to the next: the resubmission walk stops at the size. */
START_TEST(resubmitted_chain_loops)
{
	struct vqt t;
	struct vhost_buf b;
	struct iovec iov[NUM];

	setup(&t);
	add(&t, 1);
	for (unsigned i = 0; i < NUM; i++)
		descs(&t)[i] = (struct raw_desc){ vqt_le64(VQT_DATA), vqt_le32(16), 0,
						  vqt_le16(F_NEXT) };
	ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, 0, &b, iov, NUM), -VQCORE_E_CHAIN_LOOP);
	ck_assert_int_eq(vqcore_vq_error(t.vq), -VQCORE_E_CHAIN_LOOP);
	ck_assert_int_eq(t.log_lines, 1);
	vqt_teardown(&t);
}
END_TEST

/* An indirect table holding another indirect descriptor. */
START_TEST(nested_indirect)
{
	struct vqt t;
	struct vqcore_sg sg[2] = { { VQT_DATA, 64 }, { VQT_DATA + 64, 64 } };
	struct raw_desc *table;

	setup(&t);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)1, VQCORE_ADD_INDIRECT), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_uint_eq(vqt_le16(descs(&t)[0].flags), F_INDIRECT);
	table = vqt_hva(&t, vqt_le64(descs(&t)[0].addr));
	table[1].flags |= vqt_le16(F_INDIRECT);
	vqt_expect_broken(&t, -VQCORE_E_NESTED_INDIRECT);
	vqt_teardown(&t);
}
END_TEST

/* Take the buffers added and return them; the used entries are written. */
static void serve(struct vqt *t, unsigned n)
{
	struct vhost_buf b[8];
	struct iovec iov[8];

	ck_assert_int_eq(vqcore_vq_get_bufs(t->vq, b, 8, iov, 8), (int)n);
	ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, NULL, n), 0);
}

/* A used entry naming an id that is not in flight: the driver queue breaks. */
START_TEST(driver_bad_used_id)
{
	static const uint32_t bad[] = { NUM, 7, UINT32_MAX };

	for (unsigned c = 0; c < 3; c++) {
		struct vqt t;
		void *tok[8];

		setup(&t);
		add(&t, 2);
		serve(&t, 2);
		device(&t)->ring[1][0] = vqt_le32(bad[c]);
		/* the good one first, then the error, then it stays broken */
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 1);
		ck_assert_ptr_eq(tok[0], (void *)1);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), -EIO);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), -EIO);
		vqt_teardown(&t);
	}
}
END_TEST

/* The used index moves by more than the queue size. */
START_TEST(driver_used_idx_jump)
{
	struct vqt t;
	void *tok[8];

	setup(&t);
	add(&t, 1);
	serve(&t, 1);
	device(&t)->idx = vqt_le16(NUM + 1);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), -EIO);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &(struct vqcore_sg){ VQT_DATA, 8 }, 1, 0,
					 (void *)1, 0), -EIO);
	vqt_teardown(&t);
}
END_TEST

static Suite *testring_suite(void)
{
	Suite *s = suite_create("testring");
	TCase *tc = tcase_create("hostile");

	tcase_add_test(tc, avail_idx_jump);
	tcase_add_test(tc, chain_past_avail_idx);
	tcase_add_test(tc, resubmitted_chain_loops);
	tcase_add_test(tc, nested_indirect);
	tcase_add_test(tc, driver_bad_used_id);
	tcase_add_test(tc, driver_used_idx_jump);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(testring_suite());
}
