/* SPDX-License-Identifier: MIT */
/*
 * Description: guest memory table (include/vqcore/mem.h, lib/mem_priv.h).
 * Every rejected input has its own test; translation to pointers and
 * iovecs; copies across region boundaries on real memfd memory; add and
 * remove keep other regions' serials and translations; the generation
 * moves on every change; the lookup agrees with a linear reference for 1,
 * 8, 64 and 512 regions; dirty-log bits are exact and never written out of
 * the bitmap.
 */
#include <check.h>
#include "vqtest.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem_priv.h"
#include "vqcore/os.h"

#define PG 4096ull

/*
 * ck_assert records its location on every pass (a write to the parent);
 * loops with many iterations use this one, which only costs on failure.
 */
#define CHECK(expr)                                                         \
	do {                                                                \
		if (!(expr))                                                \
			ck_abort_msg("%s:%d: check failed: %s", __FILE__,   \
				     __LINE__, #expr);                       \
	} while (0)

/* A fake host address: lookups never dereference it. */
#define FAKE_HVA(x) ((void *)(uintptr_t)(x))

static struct vqcore_mem *mem;

static void setup(void)
{
	mem = vqcore_mem_new();
	ck_assert_ptr_nonnull(mem);
}

static void teardown(void)
{
	vqcore_mem_free(mem);
	mem = NULL;
}

static int add(uint64_t gpa, uint64_t size, uintptr_t hva)
{
	struct vqcore_mem_region r = { .gpa = gpa, .size = size,
				       .hva = FAKE_HVA(hva), .fd = -1 };

	return vqcore_mem_add(mem, &r);
}

/* Three regions: [0x10000, 0x14000) [0x14000, 0x15000) hole [0x20000, 0x22000) */
static void add_three(void)
{
	ck_assert_int_eq(add(0x10000, 0x4000, 0x7f100000), 0);
	ck_assert_int_eq(add(0x14000, 0x1000, 0x7f300000), 0);
	ck_assert_int_eq(add(0x20000, 0x2000, 0x7f500000), 0);
}

/* ---- rejected regions ---- */

START_TEST(add_zero_len)
{
	ck_assert_int_eq(add(0x1000, 0, 0x100000), -VQCORE_E_ZERO_LEN);
	ck_assert_uint_eq(vqcore_mem_count(mem), 0);
}
END_TEST

START_TEST(add_gpa_wrap)
{
	ck_assert_int_eq(add(UINT64_MAX - 0xfff, 0x2000, 0x100000), -VQCORE_E_WRAP);
	/* ending exactly at 2^64 - 1 is fine */
	ck_assert_int_eq(add(UINT64_MAX - 0xfff, 0x1000, 0x100000), 0);
}
END_TEST

START_TEST(add_hva_wrap)
{
	ck_assert_int_eq(add(0x1000, 0x2000, UINTPTR_MAX - 0xfff), -VQCORE_E_WRAP);
	ck_assert_uint_eq(vqcore_mem_count(mem), 0);
}
END_TEST

START_TEST(add_null_hva)
{
	ck_assert_int_eq(add(0x1000, 0x1000, 0), -EINVAL);
}
END_TEST

START_TEST(add_offset_overflow)
{
	struct vqcore_mem_region r = { .gpa = 0x1000, .size = 0x2000,
				       .hva = FAKE_HVA(0x100000), .fd = 3,
				       .fd_offset = UINT64_MAX - 0xfff };

	ck_assert_int_eq(vqcore_mem_add(mem, &r), -VQCORE_E_OFFSET_OVERFLOW);
	/* also past what an off_t can hold */
	r.fd_offset = (uint64_t)INT64_MAX - 0xfff;
	ck_assert_int_eq(vqcore_mem_add(mem, &r), -VQCORE_E_OFFSET_OVERFLOW);
	r.fd_offset = 0x10000;
	ck_assert_int_eq(vqcore_mem_add(mem, &r), 0);
}
END_TEST

START_TEST(add_overlap_prev)
{
	add_three();
	/* starts inside [0x10000, 0x14000), ends before the next one */
	ck_assert_int_eq(add(0x13000, 0x10, 0x900000), -VQCORE_E_OVERLAP);
	/* starts inside the last one */
	ck_assert_int_eq(add(0x21fff, 0x10, 0x900000), -VQCORE_E_OVERLAP);
	/* same start as an existing one */
	ck_assert_int_eq(add(0x20000, 0x10, 0x900000), -VQCORE_E_OVERLAP);
	ck_assert_uint_eq(vqcore_mem_count(mem), 3);
}
END_TEST

START_TEST(add_overlap_next)
{
	add_three();
	/* starts in the hole, ends one byte into the next region */
	ck_assert_int_eq(add(0x15000, 0xb001, 0x900000), -VQCORE_E_OVERLAP);
	/* swallows a whole region */
	ck_assert_int_eq(add(0x1f000, 0x10000, 0x900000), -VQCORE_E_OVERLAP);
	/* below everything, reaching the first region */
	ck_assert_int_eq(add(0x0, 0x10001, 0x900000), -VQCORE_E_OVERLAP);
	/* the hole itself fits exactly */
	ck_assert_int_eq(add(0x15000, 0xb000, 0x900000), 0);
	ck_assert_uint_eq(vqcore_mem_count(mem), 4);
}
END_TEST

START_TEST(add_full)
{
	for (unsigned i = 0; i < VQCORE_MEM_MAX_REGIONS; i++)
		ck_assert_int_eq(add((uint64_t)i * 2 * PG, PG, 0x100000), 0);
	ck_assert_int_eq(add(0x10000000, PG, 0x100000), -ENOSPC);
	ck_assert_uint_eq(vqcore_mem_count(mem), VQCORE_MEM_MAX_REGIONS);
}
END_TEST

START_TEST(remove_mismatch)
{
	add_three();
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x10000, 0x3000, NULL), -ENOENT);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x10001, 0x4000, NULL), -ENOENT);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x100, 0x100, NULL), -ENOENT);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x10000, 0, NULL), -ENOENT);
	ck_assert_uint_eq(vqcore_mem_count(mem), 3);
}
END_TEST

/* ---- rejected ranges ---- */

START_TEST(translate_zero_len)
{
	void *p;

	add_three();
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x10000, 0, &p), -VQCORE_E_ZERO_LEN);
}
END_TEST

START_TEST(translate_wrap)
{
	void *p = NULL;

	/* a region at the very top: a wrapped range would look "inside" it */
	ck_assert_int_eq(add(UINT64_MAX - 0xfff, 0x1000, 0x100000), 0);
	ck_assert_int_eq(vqcore_mem_translate(mem, UINT64_MAX - 0xf, 0x20, &p),
			 -VQCORE_E_WRAP);
	ck_assert_int_eq(vqcore_mem_translate(mem, UINT64_MAX - 0xf, 0x10, &p), 0);
	ck_assert_ptr_eq(p, FAKE_HVA(0x100000 + 0xff0));
}
END_TEST

START_TEST(translate_unmapped)
{
	void *p;

	add_three();
	ck_assert_int_eq(vqcore_mem_translate(mem, 0xffff, 1, &p), -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x15000, 1, &p), -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x22000, 1, &p), -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_translate(mem, UINT64_MAX, 1, &p), -VQCORE_E_UNMAPPED);
}
END_TEST

START_TEST(translate_past_last)
{
	void *p;

	add_three();
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x21ff0, 0x11, &p), -VQCORE_E_PAST_END);
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x21ff0, 0x10, &p), 0);
}
END_TEST

START_TEST(translate_into_hole)
{
	void *p;

	add_three();
	/* spans the first two (adjacent) regions, then runs into the hole */
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x13000, 0x2001, &p),
			 -VQCORE_E_PAST_END);
}
END_TEST

START_TEST(translate_not_contig)
{
	void *p;

	add_three();
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x13ff0, 0x20, &p),
			 -VQCORE_E_NOT_CONTIG);
}
END_TEST

START_TEST(iov_full)
{
	struct iovec iov[3];

	add_three();
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x13ff0, 0x20, iov, 1),
			 -VQCORE_E_IOV_FULL);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x10000, 0x10, iov, 0),
			 -VQCORE_E_IOV_FULL);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x13ff0, 0x20, iov, 2), 2);
}
END_TEST

START_TEST(iov_errors)
{
	struct iovec iov[4];

	add_three();
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x10000, 0, iov, 4),
			 -VQCORE_E_ZERO_LEN);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x15000, 4, iov, 4),
			 -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x13000, 0x2001, iov, 4),
			 -VQCORE_E_PAST_END);
	/* a hole is reported even when the array is too small */
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x13000, 0x2001, iov, 1),
			 -VQCORE_E_PAST_END);
}
END_TEST

START_TEST(iov_wrap)
{
	struct iovec iov[4];

	ck_assert_int_eq(add(UINT64_MAX - 0xfff, 0x1000, 0x100000), 0);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, UINT64_MAX - 0xf, 0x20, iov, 4),
			 -VQCORE_E_WRAP);
}
END_TEST

/* ---- translation ---- */

START_TEST(translate_single)
{
	void *p = NULL;
	struct iovec iov[2];

	add_three();
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x10000, 0x4000, &p), 0);
	ck_assert_ptr_eq(p, FAKE_HVA(0x7f100000));
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x21fff, 1, &p), 0);
	ck_assert_ptr_eq(p, FAKE_HVA(0x7f500000 + 0x1fff));
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x14010, 0x20, iov, 2), 1);
	ck_assert_ptr_eq(iov[0].iov_base, FAKE_HVA(0x7f300010));
	ck_assert_uint_eq(iov[0].iov_len, 0x20);
}
END_TEST

START_TEST(iov_three_regions)
{
	struct iovec iov[4];

	ck_assert_int_eq(add(0x1000, 0x1000, 0x500000), 0);
	ck_assert_int_eq(add(0x2000, 0x1000, 0x300000), 0);
	ck_assert_int_eq(add(0x3000, 0x1000, 0x100000), 0);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x1800, 0x2000, iov, 4), 3);
	ck_assert_ptr_eq(iov[0].iov_base, FAKE_HVA(0x500800));
	ck_assert_uint_eq(iov[0].iov_len, 0x800);
	ck_assert_ptr_eq(iov[1].iov_base, FAKE_HVA(0x300000));
	ck_assert_uint_eq(iov[1].iov_len, 0x1000);
	ck_assert_ptr_eq(iov[2].iov_base, FAKE_HVA(0x100000));
	ck_assert_uint_eq(iov[2].iov_len, 0x800);
	/* exactly 3 entries is enough, 2 is not */
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x1800, 0x2000, iov, 3), 3);
	ck_assert_int_eq(vqcore_mem_translate_iov(mem, 0x1800, 0x2000, iov, 2),
			 -VQCORE_E_IOV_FULL);
	/* the inline hot-path entry gives the same */
	{
		volatile unsigned bad = 12345;
		unsigned hint = bad;   /* out of range: must be ignored */

		ck_assert_int_eq(vq_mem_to_iov(mem, 0x1800, 0x2000, iov, 4, &hint), 3);
		ck_assert_uint_eq(iov[2].iov_len, 0x800);
		ck_assert_ptr_eq(vq_mem_ptr(mem, 0x2ff0, 0x10, &hint), FAKE_HVA(0x300ff0));
		ck_assert_ptr_null(vq_mem_ptr(mem, 0x2ff0, 0x11, &hint));
	}
}
END_TEST

START_TEST(get_find_serial)
{
	struct vqcore_mem_region r;

	/* inserted out of order, listed in GPA order */
	ck_assert_int_eq(add(0x30000, 0x1000, 0x300000), 0);
	ck_assert_int_eq(add(0x10000, 0x1000, 0x100000), 0);
	ck_assert_int_eq(add(0x20000, 0x1000, 0x200000), 0);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(vqcore_mem_get(mem, i, &r), 0);
		ck_assert_uint_eq(r.gpa, 0x10000 * (i + 1));
		ck_assert_uint_eq(r.size, 0x1000);
		ck_assert_ptr_eq(r.hva, FAKE_HVA(0x100000 * (i + 1)));
		ck_assert_int_eq(r.fd, -1);
	}
	ck_assert_int_eq(vqcore_mem_get(mem, 3, &r), -ENOENT);
	ck_assert_int_eq(vqcore_mem_find(mem, 0x20fff, &r), 0);
	ck_assert_uint_eq(r.gpa, 0x20000);
	ck_assert_int_eq(vqcore_mem_find(mem, 0x21000, &r), -VQCORE_E_UNMAPPED);
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x21000), 0);
	/* serials are distinct and in insertion order */
	ck_assert_uint_gt(vqcore_mem_region_serial(mem, 0x10000),
			  vqcore_mem_region_serial(mem, 0x30000));
	ck_assert_uint_gt(vqcore_mem_region_serial(mem, 0x20000),
			  vqcore_mem_region_serial(mem, 0x10000));
	ck_assert_uint_gt(vqcore_mem_region_serial(mem, 0x30000), 0);
}
END_TEST

START_TEST(add_remove_keeps_others)
{
	uint64_t s1, s3, s2, gen;
	struct vqcore_mem_region out;
	void *p;

	ck_assert_int_eq(add(0x10000, 0x1000, 0x100000), 0);
	ck_assert_int_eq(add(0x30000, 0x1000, 0x300000), 0);
	s1 = vqcore_mem_region_serial(mem, 0x10000);
	s3 = vqcore_mem_region_serial(mem, 0x30000);
	/* insert in the middle: the arrays shift, serials and pointers stay */
	ck_assert_int_eq(add(0x20000, 0x1000, 0x200000), 0);
	s2 = vqcore_mem_region_serial(mem, 0x20000);
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x10000), s1);
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x30000), s3);
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x30010, 1, &p), 0);
	ck_assert_ptr_eq(p, FAKE_HVA(0x300010));
	/* remove the first: the others keep their serials */
	gen = vqcore_mem_generation(mem);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x10000, 0x1000, &out), 0);
	ck_assert_uint_ne(vqcore_mem_generation(mem), gen);
	ck_assert_uint_eq(out.gpa, 0x10000);
	ck_assert_ptr_eq(out.hva, FAKE_HVA(0x100000));
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x10000), 0);
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x20000), s2);
	ck_assert_uint_eq(vqcore_mem_region_serial(mem, 0x30000), s3);
	ck_assert_int_eq(vqcore_mem_translate(mem, 0x20020, 1, &p), 0);
	ck_assert_ptr_eq(p, FAKE_HVA(0x200020));
	/* re-adding the same range gives a fresh serial */
	ck_assert_int_eq(add(0x10000, 0x1000, 0x100000), 0);
	ck_assert_uint_ne(vqcore_mem_region_serial(mem, 0x10000), s1);
	ck_assert_uint_gt(vqcore_mem_region_serial(mem, 0x10000), s3);
	ck_assert_uint_eq(vqcore_mem_count(mem), 3);
}
END_TEST

START_TEST(generation_moves)
{
	static uint8_t bitmap[64];
	uint64_t g = vqcore_mem_generation(mem), n;

#define MOVED() (n = vqcore_mem_generation(mem), n != g ? (g = n, 1) : 0)
	ck_assert_int_eq(add(0x1000, 0x1000, 0x100000), 0);
	ck_assert(MOVED());
	ck_assert_int_eq(add(0x3000, 0x1000, 0x100000), 0);
	ck_assert(MOVED());
	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, sizeof(bitmap)), 0);
	ck_assert(MOVED());
	ck_assert_int_eq(vqcore_mem_set_log(mem, NULL, 0), 0);
	ck_assert(MOVED());
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x1000, 0x1000, NULL), 0);
	ck_assert(MOVED());
	vqcore_mem_clear(mem);
	ck_assert(MOVED());
	ck_assert_uint_eq(vqcore_mem_count(mem), 0);
	/* failed changes and lookups leave it alone */
	ck_assert_int_eq(add(0x1000, 0, 0x100000), -VQCORE_E_ZERO_LEN);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x1000, 0x1000, NULL), -ENOENT);
	ck_assert(!MOVED());
#undef MOVED
}
END_TEST

/* ---- lookup against a linear reference ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static int linear_find(const struct vqcore_mem_region *r, unsigned n, uint64_t gpa)
{
	for (unsigned i = 0; i < n; i++)
		if (gpa >= r[i].gpa && gpa - r[i].gpa < r[i].size)
			return (int)i;
	return -1;
}

static void lookup_vs_linear(unsigned nreg)
{
	struct vqcore_mem_region *ref = calloc(nreg, sizeof(*ref));
	uint64_t gpa = 0x1000;
	unsigned hint = 0;

	ck_assert_ptr_nonnull(ref);
	/* random sizes, random holes (some zero: adjacent regions) */
	for (unsigned i = 0; i < nreg; i++) {
		gpa += (rnd() % 3) * PG * (1 + rnd() % 16);
		ref[i].gpa = gpa;
		ref[i].size = PG * (1 + rnd() % 64) + (rnd() % 2 ? 0 : rnd() % PG);
		ref[i].hva = FAKE_HVA(0x10000000 + (uint64_t)i * 0x100000);
		ref[i].fd = -1;
		gpa += ref[i].size;
	}
	/* insert in a shuffled order */
	for (unsigned i = 0; i < nreg; i++) {
		unsigned j = (unsigned)(rnd() % nreg);
		struct vqcore_mem_region t = ref[i];

		ref[i] = ref[j];
		ref[j] = t;
	}
	for (unsigned i = 0; i < nreg; i++)
		ck_assert_int_eq(vqcore_mem_add(mem, &ref[i]), 0);
	ck_assert_uint_eq(vqcore_mem_count(mem), nreg);

	for (unsigned iter = 0; iter < 20000; iter++) {
		unsigned k = (unsigned)(rnd() % nreg);
		uint64_t a;
		int want, got;

		switch (iter % 6) {
		case 0: a = ref[k].gpa; break;                        /* first byte */
		case 1: a = ref[k].gpa + ref[k].size - 1; break;      /* last byte */
		case 2: a = ref[k].gpa - 1; break;                    /* before */
		case 3: a = ref[k].gpa + ref[k].size; break;          /* after */
		case 4: a = ref[k].gpa + rnd() % ref[k].size; break;  /* inside */
		default: a = rnd() % (gpa + 0x10000); break;          /* anywhere */
		}
		want = linear_find(ref, nreg, a);
		got = vq_mem_lookup(mem, a, &hint);
		if (want < 0) {
			CHECK(got == -1);
			CHECK(vqcore_mem_find(mem, a, NULL) == -VQCORE_E_UNMAPPED);
		} else {
			struct vqcore_mem_region r;
			void *p;

			CHECK(got >= 0);
			CHECK(mem->slot[got].gpa == ref[want].gpa);
			CHECK(vqcore_mem_find(mem, a, &r) == 0);
			CHECK(r.gpa == ref[want].gpa && r.size == ref[want].size);
			CHECK(vqcore_mem_translate(mem, a, 1, &p) == 0);
			CHECK(p == (char *)ref[want].hva + (a - ref[want].gpa));
		}
	}
	/* the far ends of the address space */
	ck_assert_int_eq(vq_mem_lookup(mem, 0, &hint), -1);
	ck_assert_int_eq(vq_mem_lookup(mem, UINT64_MAX, &hint), -1);
	free(ref);
}

START_TEST(lookup_random)
{
	static const unsigned counts[] = { 1, 8, 64, 512 };

	lookup_vs_linear(counts[_i]);
}
END_TEST

/* ---- copies on real memfd memory ---- */

/*
 * One 64 KiB memfd split into three GPA-adjacent regions whose host
 * addresses are in a different order, plus a fourth after a hole:
 *   gpa 0x100000 +16K -> hva +32K
 *   gpa 0x104000 +16K -> hva +0
 *   gpa 0x108000  +8K -> hva +16K
 *   gpa 0x200000  +8K -> hva +48K
 */
static struct vqcore_memfd mfd;

static void setup_memfd(void)
{
	static const uint64_t g[] = { 0x100000, 0x104000, 0x108000, 0x200000 };
	static const uint64_t s[] = { 0x4000, 0x4000, 0x2000, 0x2000 };
	static const uint64_t o[] = { 0x8000, 0x0, 0x4000, 0xc000 };

	setup();
	ck_assert_int_eq(vqcore_memfd_map("test_mem", 0x10000, 0, &mfd), 0);
	for (unsigned i = 0; i < 4; i++) {
		struct vqcore_mem_region r = { .gpa = g[i], .size = s[i],
					       .hva = (char *)mfd.hva + o[i],
					       .fd = mfd.fd, .fd_offset = o[i] };

		ck_assert_int_eq(vqcore_mem_add(mem, &r), 0);
	}
}

static void teardown_memfd(void)
{
	teardown();
	vqcore_memfd_unmap(&mfd);
}

static uint8_t *host(uint64_t off)
{
	return (uint8_t *)mfd.hva + off;
}

START_TEST(rw_across_regions)
{
	static uint8_t in[0xa001], out[0xa001];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	/* 0x103800 .. 0x1087ff: crosses both boundaries */
	ck_assert_int_eq(vqcore_mem_write(mem, 0x103800, in, 0x5000), 0);
	/* landed where each region maps */
	ck_assert_mem_eq(host(0x8000 + 0x3800), in, 0x800);
	ck_assert_mem_eq(host(0x0), in + 0x800, 0x4000);
	ck_assert_mem_eq(host(0x4000), in + 0x4800, 0x800);
	ck_assert_int_eq(vqcore_mem_read(mem, 0x103800, out, 0x5000), 0);
	ck_assert_mem_eq(out, in, 0x5000);
	/* all of the contiguous part, first to last byte */
	ck_assert_int_eq(vqcore_mem_write(mem, 0x100000, in, 0xa001), -VQCORE_E_PAST_END);
	ck_assert_int_eq(vqcore_mem_write(mem, 0x100000, in, 0xa000), 0);
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(vqcore_mem_read(mem, 0x100000, out, 0xa000), 0);
	ck_assert_mem_eq(out, in, 0xa000);
	/* small ones across a boundary, byte by byte positions */
	for (uint64_t a = 0x103ff0; a < 0x104010; a++) {
		uint8_t b[24] = { 0 };

		ck_assert_int_eq(vqcore_mem_write(mem, a, "hello, guest memory!!!", 22), 0);
		ck_assert_int_eq(vqcore_mem_read(mem, a, b, 22), 0);
		ck_assert_str_eq((char *)b, "hello, guest memory!!!");
	}
}
END_TEST

/* Every small size (the inline copy path) at odd offsets, plus neighbours. */
START_TEST(rw_small_sizes)
{
	uint8_t in[160], out[160];

	for (unsigned len = 1; len <= 130; len++) {
		for (uint64_t a = 0x104100 + len; a < 0x104100 + len + 9; a += 4) {
			uint8_t *h = host(a - 0x104000);

			for (unsigned i = 0; i < len; i++)
				in[i] = (uint8_t)(len * 31 + i);
			memset(h - 16, 0xee, len + 32);
			CHECK(vqcore_mem_write(mem, a, in, len) == 0);
			CHECK(memcmp(h, in, len) == 0);
			for (unsigned i = 1; i <= 16; i++)
				CHECK(h[-(int)i] == 0xee && h[len + i - 1] == 0xee);
			memset(out, 0x77, sizeof(out));
			CHECK(vqcore_mem_read(mem, a, out, len) == 0);
			CHECK(memcmp(out, in, len) == 0);
			CHECK(out[len] == 0x77);
			/* the hinted internal entries agree */
			{
				unsigned hint = 0;

				memset(out, 0, sizeof(out));
				CHECK(vq_mem_read(mem, a, out, len, &hint) == 0);
				CHECK(memcmp(out, in, len) == 0);
				CHECK(vq_mem_write(mem, a, out, len, &hint) == 0);
			}
		}
	}
}
END_TEST

START_TEST(rw_validates_first)
{
	static uint8_t in[0x3000], out[0x3000];

	memset(in, 0xab, sizeof(in));
	memset(host(0), 0, 0x10000);
	/* starts mapped, runs off the end of 0x108000+8K into the hole */
	ck_assert_int_eq(vqcore_mem_write(mem, 0x109000, in, 0x2000), -VQCORE_E_PAST_END);
	for (unsigned i = 0; i < 0x10000; i++)
		CHECK(host(0)[i] == 0);
	memset(out, 0x5a, sizeof(out));
	memset(host(0x4000), 0x11, 0x2000);
	ck_assert_int_eq(vqcore_mem_read(mem, 0x109000, out, 0x2000), -VQCORE_E_PAST_END);
	for (unsigned i = 0; i < sizeof(out); i++)
		CHECK(out[i] == 0x5a);
	ck_assert_int_eq(vqcore_mem_read(mem, 0x109000, out, 0), -VQCORE_E_ZERO_LEN);
	ck_assert_int_eq(vqcore_mem_write(mem, 0x109000, in, 0), -VQCORE_E_ZERO_LEN);
	ck_assert_int_eq(vqcore_mem_read(mem, 0x10a000, out, 1), -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_write(mem, 0xfffff, in, 2), -VQCORE_E_UNMAPPED);
	ck_assert_int_eq(vqcore_mem_read(mem, UINT64_MAX, out, 2), -VQCORE_E_WRAP);
}
END_TEST

START_TEST(rw_write_logs)
{
	static uint8_t bitmap[8];   /* 64 pages: up to GPA 0x40000 */
	static uint8_t big[0x400];

	/* too small for the region at 0x200000 */
	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, sizeof(bitmap)),
			 -VQCORE_E_LOG_RANGE);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x200000, 0x2000, NULL), 0);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x108000, 0x2000, NULL), 0);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x104000, 0x4000, NULL), 0);
	ck_assert_int_eq(vqcore_mem_remove(mem, 0x100000, 0x4000, NULL), 0);
	{
		struct vqcore_mem_region r = { .gpa = 0x10000, .size = 0x8000,
					       .hva = mfd.hva, .fd = mfd.fd };
		ck_assert_int_eq(vqcore_mem_add(mem, &r), 0);
	}
	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, sizeof(bitmap)), 0);
	ck_assert(vqcore_mem_logging(mem));
	/* pages 0x11 and 0x12 */
	ck_assert_int_eq(vqcore_mem_write(mem, 0x11ff0, big, 0x20), 0);
	ck_assert_uint_eq(bitmap[2], 0x06);
	for (unsigned i = 0; i < sizeof(bitmap); i++)
		if (i != 2)
			ck_assert_uint_eq(bitmap[i], 0);
	/* a read marks nothing; a failed write marks nothing */
	ck_assert_int_eq(vqcore_mem_read(mem, 0x14000, big, 0x10), 0);
	ck_assert_int_eq(vqcore_mem_write(mem, 0x17f00, big, 0x200), -VQCORE_E_PAST_END);
	ck_assert_uint_eq(bitmap[2], 0x06);
	ck_assert_uint_eq(bitmap[3], 0);
	ck_assert_int_eq(vqcore_mem_set_log(mem, NULL, 0), 0);
	ck_assert(!vqcore_mem_logging(mem));
	ck_assert_int_eq(vqcore_mem_write(mem, 0x14000, big, 0x10), 0);
	ck_assert_uint_eq(bitmap[2], 0x06);
}
END_TEST

/* ---- dirty log ---- */

START_TEST(log_too_small)
{
	uint8_t bitmap[16];

	/* last byte at 0x3ffff = page 0x3f = byte 7; 0x40000 needs byte 8 */
	ck_assert_int_eq(add(0x30000, 0x10001, 0x100000), 0);
	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, 8), -VQCORE_E_LOG_RANGE);
	ck_assert(!vqcore_mem_logging(mem));
	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, 9), 0);
	ck_assert(vqcore_mem_logging(mem));
}
END_TEST

START_TEST(log_add_beyond)
{
	uint8_t bitmap[8];

	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, sizeof(bitmap)), 0);
	/* page 0x3f is the last one covered */
	ck_assert_int_eq(add(0x3f000, 0x1000, 0x100000), 0);
	ck_assert_int_eq(add(0x40000, 0x1000, 0x100000), -VQCORE_E_LOG_RANGE);
	ck_assert_int_eq(add(0x30000, 0x10001, 0x100000), -VQCORE_E_OVERLAP);
	ck_assert_int_eq(add(0x10000, 0x1000, 0x100000), 0);
	ck_assert_uint_eq(vqcore_mem_count(mem), 2);
}
END_TEST

START_TEST(log_bits_exact)
{
	uint8_t bitmap[32] = { 0 };

	ck_assert_int_eq(vqcore_mem_set_log(mem, bitmap, sizeof(bitmap)), 0);
	/* last byte of page 9 and first byte of page 10 */
	vqcore_mem_log_write(mem, 0x9fff, 2);
	ck_assert_uint_eq(bitmap[1], 0x06);
	/* exactly one page, aligned: only page 16 */
	vqcore_mem_log_write(mem, 0x10000, PG);
	ck_assert_uint_eq(bitmap[2], 0x01);
	/* zero length: nothing */
	vqcore_mem_log_write(mem, 0x30000, 0);
	ck_assert_uint_eq(bitmap[6], 0);
	for (unsigned i = 0; i < sizeof(bitmap); i++)
		if (i != 1 && i != 2)
			ck_assert_uint_eq(bitmap[i], 0);
}
END_TEST

/* Random ranges over a bitmap at every alignment, against a bit reference. */
START_TEST(log_bits_random)
{
	static uint8_t area[256 + 16];
	uint8_t ref[256];

	for (unsigned iter = 0; iter < 2000; iter++) {
		unsigned off = iter % 16, size = 1 + (unsigned)(rnd() % 256);
		uint8_t *bm = area + off;
		uint64_t pages = (uint64_t)size * 8;
		uint64_t gpa = rnd() % ((pages + 8) * PG);
		uint64_t len = 1 + rnd() % ((pages / (1 + rnd() % 8) + 2) * PG);

		memset(area, 0, sizeof(area));
		memset(ref, 0, sizeof(ref));
		CHECK(vqcore_mem_set_log(mem, bm, size) == 0);
		vqcore_mem_log_write(mem, gpa, len);
		for (uint64_t p = gpa / PG; p <= (gpa + len - 1) / PG && p < pages; p++)
			ref[p / 8] |= (uint8_t)(1u << (p % 8));
		CHECK(memcmp(bm, ref, size) == 0);
		for (unsigned i = 0; i < off; i++)
			CHECK(area[i] == 0);
		for (unsigned i = off + size; i < sizeof(area); i++)
			CHECK(area[i] == 0);
	}
}
END_TEST

START_TEST(log_beyond_bitmap)
{
	/* canaries around a 5-byte bitmap; under ASan the heap copy also traps */
	uint8_t area[32];
	uint8_t *heap = malloc(5);

	memset(area, 0, sizeof(area));
	ck_assert_int_eq(vqcore_mem_set_log(mem, area + 8, 5), 0);
	vqcore_mem_log_write(mem, 0, UINT64_MAX);                 /* everything */
	vqcore_mem_log_write(mem, 38 * PG, 100 * PG);             /* straddles end */
	vqcore_mem_log_write(mem, 40 * PG, 1);                    /* first page past */
	vqcore_mem_log_write(mem, UINT64_MAX - 10, 100);          /* wraps */
	vqcore_mem_log_write(mem, UINT64_MAX - PG, PG);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(area[i], 0);
	for (unsigned i = 8; i < 13; i++)
		ck_assert_uint_eq(area[i], 0xff);
	for (unsigned i = 13; i < sizeof(area); i++)
		ck_assert_uint_eq(area[i], 0);

	ck_assert_ptr_nonnull(heap);
	memset(heap, 0, 5);
	ck_assert_int_eq(vqcore_mem_set_log(mem, heap, 5), 0);
	vqcore_mem_log_write(mem, 30 * PG, 1000 * PG);
	vqcore_mem_log_write(mem, 0, UINT64_MAX);
	ck_assert_uint_eq(heap[4], 0xff);
	ck_assert_int_eq(vqcore_mem_set_log(mem, NULL, 0), 0);
	free(heap);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("mem");
	TCase *tc;

	tc = tcase_create("reject");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_zero_len);
	tcase_add_test(tc, add_gpa_wrap);
	tcase_add_test(tc, add_hva_wrap);
	tcase_add_test(tc, add_null_hva);
	tcase_add_test(tc, add_offset_overflow);
	tcase_add_test(tc, add_overlap_prev);
	tcase_add_test(tc, add_overlap_next);
	tcase_add_test(tc, add_full);
	tcase_add_test(tc, remove_mismatch);
	tcase_add_test(tc, translate_zero_len);
	tcase_add_test(tc, translate_wrap);
	tcase_add_test(tc, translate_unmapped);
	tcase_add_test(tc, translate_past_last);
	tcase_add_test(tc, translate_into_hole);
	tcase_add_test(tc, translate_not_contig);
	tcase_add_test(tc, iov_full);
	tcase_add_test(tc, iov_errors);
	tcase_add_test(tc, iov_wrap);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, translate_single);
	tcase_add_test(tc, iov_three_regions);
	tcase_add_test(tc, get_find_serial);
	tcase_add_test(tc, add_remove_keeps_others);
	tcase_add_test(tc, generation_moves);
	tcase_add_loop_test(tc, lookup_random, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("copy");
	tcase_add_checked_fixture(tc, setup_memfd, teardown_memfd);
	tcase_add_test(tc, rw_across_regions);
	tcase_add_test(tc, rw_small_sizes);
	tcase_add_test(tc, rw_validates_first);
	tcase_add_test(tc, rw_write_logs);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, log_too_small);
	tcase_add_test(tc, log_add_beyond);
	tcase_add_test(tc, log_bits_exact);
	tcase_add_test(tc, log_bits_random);
	tcase_add_test(tc, log_beyond_bitmap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(mem_suite());
}
