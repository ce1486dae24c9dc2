/* SPDX-License-Identifier: MIT */
/*
 * Description: the little-endian helpers of include/vqcore/common.h put
 * and read the least significant byte first on every host, at any
 * alignment, and the value conversions give the same bytes in memory.
 * The cross runs (scripts/cross) run it on s390x, a big-endian host.
 */
#include <check.h>
#include <string.h>

#include "vqtest.h"

START_TEST(store_and_load_bytes)
{
	static const uint8_t want[8] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	uint8_t buf[16];

	/* odd offsets: the helpers take any alignment */
	for (unsigned off = 0; off < 8; off++) {
		memset(buf, 0xee, sizeof(buf));
		vqcore_le16_store(buf + off, 0x7788);
		ck_assert_mem_eq(buf + off, want, 2);
		ck_assert_uint_eq(buf[off + 2], 0xee);
		ck_assert_uint_eq(vqcore_le16_load(buf + off), 0x7788);

		memset(buf, 0xee, sizeof(buf));
		vqcore_le32_store(buf + off, 0x55667788u);
		ck_assert_mem_eq(buf + off, want, 4);
		ck_assert_uint_eq(buf[off + 4], 0xee);
		ck_assert_uint_eq(vqcore_le32_load(buf + off), 0x55667788u);

		memset(buf, 0xee, sizeof(buf));
		vqcore_le64_store(buf + off, 0x1122334455667788ull);
		ck_assert_mem_eq(buf + off, want, 8);
		ck_assert_uint_eq(buf[off + 8], 0xee);
		ck_assert_uint_eq(vqcore_le64_load(buf + off), 0x1122334455667788ull);
	}
}
END_TEST

START_TEST(value_conversions)
{
	static const uint8_t want[8] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	uint16_t v16 = vqcore_cpu_to_le16(0x7788);
	uint32_t v32 = vqcore_cpu_to_le32(0x55667788u);
	uint64_t v64 = vqcore_cpu_to_le64(0x1122334455667788ull);

	ck_assert_mem_eq(&v16, want, 2);
	ck_assert_mem_eq(&v32, want, 4);
	ck_assert_mem_eq(&v64, want, 8);
	ck_assert_uint_eq(vqcore_le16_to_cpu(v16), 0x7788);
	ck_assert_uint_eq(vqcore_le32_to_cpu(v32), 0x55667788u);
	ck_assert_uint_eq(vqcore_le64_to_cpu(v64), 0x1122334455667788ull);
	/* the same as the C library's conversions */
	ck_assert_uint_eq(v16, vqt_le16(0x7788));
	ck_assert_uint_eq(v32, vqt_le32(0x55667788u));
	ck_assert_uint_eq(v64, vqt_le64(0x1122334455667788ull));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("endian");
	TCase *tc = tcase_create("helpers");

	tcase_add_test(tc, store_and_load_bytes);
	tcase_add_test(tc, value_conversions);
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
