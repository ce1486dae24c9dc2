/* SPDX-License-Identifier: MIT */
/*
 * Description: vqcore_iov_read() / vqcore_iov_write(): copies between a
 * flat buffer and an iovec array at any offset, across iovec boundaries,
 * stopping where the iovecs end.
 */
#include <string.h>

#include <check.h>
#include "vqtest.h"
#include <vqcore/vqcore.h>

static char a[5], b[1], c[9];
static struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };

START_TEST(write_then_read_across_pieces)
{
	char out[16] = { 0 };

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(c, 0, sizeof(c));
	/* 15 bytes in all: write 8 starting at offset 3 (a[3..4], b[0], c[0..4]) */
	ck_assert_uint_eq(vqcore_iov_write(iov, 3, 3, "ABCDEFGH", 8), 8);
	ck_assert_mem_eq(a + 3, "AB", 2);
	ck_assert_mem_eq(b, "C", 1);
	ck_assert_mem_eq(c, "DEFGH", 5);
	ck_assert_uint_eq(vqcore_iov_read(iov, 3, 3, out, 8), 8);
	ck_assert_str_eq(out, "ABCDEFGH");
}
END_TEST

START_TEST(stops_at_the_end)
{
	char out[32];

	/* 15 bytes available: from offset 10 only 5 remain */
	ck_assert_uint_eq(vqcore_iov_read(iov, 3, 10, out, sizeof(out)), 5);
	ck_assert_uint_eq(vqcore_iov_write(iov, 3, 14, "xyz", 3), 1);
	ck_assert_uint_eq(vqcore_iov_read(iov, 3, 15, out, 1), 0);
	ck_assert_uint_eq(vqcore_iov_read(iov, 3, 100, out, 1), 0);
	ck_assert_uint_eq(vqcore_iov_read(iov, 0, 0, out, 1), 0);
	ck_assert_uint_eq(vqcore_iov_write(iov, 3, 0, "", 0), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("iov");
	TCase *tc = tcase_create("copy");

	tcase_add_test(tc, write_then_read_across_pieces);
	tcase_add_test(tc, stops_at_the_end);
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
