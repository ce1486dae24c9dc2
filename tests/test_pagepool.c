/* SPDX-License-Identifier: MIT */
/*
 * Description: page pool (buddy allocator over a caller's arena): carving
 * of any arena size, alloc/free of every order with no overlap, merging
 * back to the initial state, the Reported flag (cleared by alloc, split and
 * merge; unreported blocks allocated first), the report hook, and refusal
 * of bad frees and bad arguments.
 */
#include <check.h>
#include "vqtest.h"
#include <stdlib.h>
#include <string.h>

#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"

#define BASE 0x100000000ull
#define PG VQCORE_PAGEPOOL_PAGE

static struct vqcore_pagepool *mkpool(uint64_t npages, unsigned max_order)
{
	struct vqcore_pagepool_opts o = { .sz = sizeof(o), .max_order = max_order };
	struct vqcore_pagepool *p;

	ck_assert_int_eq(vqcore_pagepool_new(BASE, npages * PG, &o, &p), 0);
	return p;
}

/* Expected carve: maximal aligned blocks from offset 0. */
static void expected_carve(uint64_t npages, unsigned max_order, uint64_t *nr)
{
	memset(nr, 0, sizeof(uint64_t) * (VQCORE_PAGEPOOL_MAX_ORDER + 1));
	for (uint64_t i = 0; i < npages;) {
		unsigned o = max_order;

		while (o && ((i % (1ull << o)) || i + (1ull << o) > npages))
			o--;
		nr[o]++;
		i += 1ull << o;
	}
}

static void assert_initial(struct vqcore_pagepool *p, uint64_t npages,
			   unsigned max_order)
{
	uint64_t nr[VQCORE_PAGEPOOL_MAX_ORDER + 1];
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	expected_carve(npages, max_order, nr);
	vqcore_pagepool_get_stats(p, &st);
	for (unsigned o = 0; o <= VQCORE_PAGEPOOL_MAX_ORDER; o++)
		ck_assert_uint_eq(st.nr_free[o], nr[o]);
	ck_assert_uint_eq(st.free_bytes, npages * PG);
	ck_assert_uint_eq(st.allocated_bytes, 0);
	ck_assert_uint_eq(st.isolated_bytes, 0);
}

START_TEST(test_create_power_of_two)
{
	struct vqcore_pagepool *p = mkpool(4096, 10);
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.max_order, 10);
	ck_assert_uint_eq(st.nr_free[10], 4);
	ck_assert_uint_eq(st.free_bytes, 4096ull * PG);
	ck_assert_uint_eq(st.reported_bytes, 0);
	for (unsigned o = 0; o < 10; o++)
		ck_assert_uint_eq(st.nr_free[o], 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_create_odd_sizes)
{
	static const uint64_t sizes[] = { 1, 3, 1000, 1023, 1025, 4097, 77777 };

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct vqcore_pagepool *p = mkpool(sizes[k], 10);

		assert_initial(p, sizes[k], 10);
		vqcore_pagepool_destroy(p);
	}
	/* 1000 pages = 512 + 256 + 128 + 64 + 32 + 8 */
	struct vqcore_pagepool *p = mkpool(1000, 10);
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_free[9], 1);
	ck_assert_uint_eq(st.nr_free[8], 1);
	ck_assert_uint_eq(st.nr_free[7], 1);
	ck_assert_uint_eq(st.nr_free[6], 1);
	ck_assert_uint_eq(st.nr_free[5], 1);
	ck_assert_uint_eq(st.nr_free[3], 1);
	ck_assert_uint_eq(st.nr_free[4], 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_size_rounds_down)
{
	struct vqcore_pagepool *p;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	ck_assert_int_eq(vqcore_pagepool_new(BASE, 5 * PG + 123, NULL, &p), 0);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.free_bytes, 5 * PG);
	ck_assert_uint_eq(st.max_order, VQCORE_PAGEPOOL_DEFAULT_ORDER);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_create_bad_args)
{
	struct vqcore_pagepool_opts o = { .sz = sizeof(o), .max_order = 21 };
	struct vqcore_pagepool_opts small = { .sz = sizeof(size_t) - 1, .max_order = 3 };
	struct vqcore_pagepool *p = (void *)1;

	ck_assert_int_eq(vqcore_pagepool_new(BASE + 1, 16 * PG, NULL, &p), -22);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(vqcore_pagepool_new(BASE, PG - 1, NULL, &p), -22);
	ck_assert_int_eq(vqcore_pagepool_new(BASE, 0, NULL, &p), -22);
	ck_assert_int_eq(vqcore_pagepool_new(BASE, 16 * PG, &o, &p), -22);
	ck_assert_int_eq(vqcore_pagepool_new(BASE, 16 * PG, &small, &p), -22);
	/* base + size wraps */
	ck_assert_int_eq(vqcore_pagepool_new(UINT64_MAX - 2 * PG + 1, 4 * PG,
					     NULL, &p), -22);
	/* more than 2^32 - 1 pages */
	ck_assert_int_eq(vqcore_pagepool_new(0, (1ull << 32) * PG, NULL, &p), -22);
	ck_assert_int_eq(vqcore_pagepool_new(BASE, 16 * PG, NULL, NULL), -22);
}
END_TEST

/* Allocate the whole pool at @order (plus what is left at smaller orders),
 * check every block is inside, aligned and disjoint, then free all. */
static void alloc_all_free_all(uint64_t npages, unsigned max_order,
			       unsigned order)
{
	struct vqcore_pagepool *p = mkpool(npages, max_order);
	uint8_t *owned = calloc(npages, 1);
	uint64_t *addrs = calloc(npages, sizeof(*addrs));
	unsigned *orders = calloc(npages, sizeof(*orders));
	uint64_t n = 0, got = 0, a;

	for (int o = (int)order; o >= 0; o--) {
		while (vqcore_pagepool_alloc(p, (unsigned)o, &a) == 0) {
			uint64_t i = (a - BASE) / PG;

			ck_assert_uint_ge(a, BASE);
			ck_assert_uint_eq((a - BASE) % PG, 0);
			ck_assert_uint_eq(i % (1ull << o), 0);
			ck_assert_uint_le(i + (1ull << o), npages);
			for (uint64_t k = i; k < i + (1ull << o); k++) {
				ck_assert_uint_eq(owned[k], 0);
				owned[k] = 1;
			}
			addrs[n] = a;
			orders[n++] = (unsigned)o;
			got += 1ull << o;
		}
	}
	ck_assert_uint_eq(got, npages);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &a), -12);
	/* free in a scrambled order */
	for (uint64_t k = 0; k < n; k++) {
		uint64_t j = (k * 7919) % n;

		if (j != k && orders[j] != UINT32_MAX) {
			ck_assert_int_eq(vqcore_pagepool_free(p, addrs[j], orders[j]), 0);
			orders[j] = UINT32_MAX;
		}
	}
	for (uint64_t k = 0; k < n; k++)
		if (orders[k] != UINT32_MAX)
			ck_assert_int_eq(vqcore_pagepool_free(p, addrs[k], orders[k]), 0);
	assert_initial(p, npages, max_order);
	free(owned);
	free(addrs);
	free(orders);
	vqcore_pagepool_destroy(p);
}

START_TEST(test_alloc_all_orders)
{
	for (unsigned o = 0; o <= 6; o++) {
		alloc_all_free_all(1024, 6, o);
		alloc_all_free_all(1000, 6, o);
		alloc_all_free_all(333, 6, o);
	}
}
END_TEST

START_TEST(test_random_churn_merges_back)
{
	const uint64_t npages = 3000;
	struct vqcore_pagepool *p = mkpool(npages, 8);
	uint8_t *owned = calloc(npages, 1);
	uint64_t addr[512];
	unsigned ord[512];
	unsigned live = 0;

	srand(1);
	for (int it = 0; it < 20000; it++) {
		if (live < 512 && (rand() & 1)) {
			unsigned o = (unsigned)rand() % 9;
			uint64_t a, i;

			if (vqcore_pagepool_alloc(p, o, &a))
				continue;
			i = (a - BASE) / PG;
			for (uint64_t k = i; k < i + (1ull << o); k++) {
				ck_assert_uint_eq(owned[k], 0);
				owned[k] = 1;
			}
			addr[live] = a;
			ord[live++] = o;
		} else if (live) {
			unsigned j = (unsigned)rand() % live;
			uint64_t i = (addr[j] - BASE) / PG;

			for (uint64_t k = i; k < i + (1ull << ord[j]); k++)
				owned[k] = 0;
			ck_assert_int_eq(vqcore_pagepool_free(p, addr[j], ord[j]), 0);
			addr[j] = addr[--live];
			ord[j] = ord[live];
		}
	}
	while (live) {
		live--;
		ck_assert_int_eq(vqcore_pagepool_free(p, addr[live], ord[live]), 0);
	}
	assert_initial(p, npages, 8);
	free(owned);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_alloc_bad_order)
{
	struct vqcore_pagepool *p = mkpool(64, 4);
	uint64_t a;

	ck_assert_int_eq(vqcore_pagepool_alloc(p, 5, &a), -22);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, NULL), -22);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_alloc_too_big_enomem)
{
	struct vqcore_pagepool *p = mkpool(24, 4); /* 16 + 8 */
	uint64_t a, b;

	ck_assert_int_eq(vqcore_pagepool_alloc(p, 4, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 4, &b), -12);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &b), 0);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &b), -12);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- hostile frees: each refused, pool unchanged ---- */

static struct vqcore_pagepool *one_alloc(uint64_t *a)
{
	struct vqcore_pagepool *p = mkpool(64, 4);

	ck_assert_int_eq(vqcore_pagepool_alloc(p, 2, a), 0);
	return p;
}

static void assert_still_allocated(struct vqcore_pagepool *p, uint64_t a)
{
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.allocated_bytes, 4 * PG);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 2), 0);
	assert_initial(p, 64, 4);
	vqcore_pagepool_destroy(p);
}

START_TEST(test_free_double)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	ck_assert_int_eq(vqcore_pagepool_free(p, a, 2), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 2), -22);
	assert_initial(p, 64, 4);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_free_wrong_order)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	ck_assert_int_eq(vqcore_pagepool_free(p, a, 1), -22);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), -22);
	assert_still_allocated(p, a);
}
END_TEST

START_TEST(test_free_interior)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	ck_assert_int_eq(vqcore_pagepool_free(p, a + PG, 0), -22);
	ck_assert_int_eq(vqcore_pagepool_free(p, a + 2 * PG, 1), -22);
	assert_still_allocated(p, a);
}
END_TEST

START_TEST(test_free_misaligned)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	ck_assert_int_eq(vqcore_pagepool_free(p, a + 1, 2), -22);
	assert_still_allocated(p, a);
}
END_TEST

START_TEST(test_free_outside)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	ck_assert_int_eq(vqcore_pagepool_free(p, BASE - PG, 0), -22);
	ck_assert_int_eq(vqcore_pagepool_free(p, BASE + 64 * PG, 0), -22);
	ck_assert_int_eq(vqcore_pagepool_free(p, UINT64_MAX & ~4095ull, 0), -22);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 99), -22);
	assert_still_allocated(p, a);
}
END_TEST

START_TEST(test_free_never_allocated)
{
	uint64_t a;
	struct vqcore_pagepool *p = one_alloc(&a);

	/* a free block's head */
	ck_assert_int_eq(vqcore_pagepool_free(p, BASE + 16 * PG, 4), -22);
	assert_still_allocated(p, a);
}
END_TEST

/* ---- Reported flag ---- */

/* Isolate every block of @order and put it back Reported. */
static unsigned report_all(struct vqcore_pagepool *p, unsigned order)
{
	struct vqcore_report_source src;
	struct vqcore_report_sg sg[64];
	unsigned n;

	vqcore_pagepool_report_source(p, &src);
	n = src.ops->isolate(src.src, order, sg, 64);
	src.ops->putback(src.src, sg, n, true);
	return n;
}

START_TEST(test_isolate_putback)
{
	struct vqcore_pagepool *p = mkpool(64, 4);
	struct vqcore_report_source src;
	struct vqcore_report_sg sg[8];
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t act = vqcore_pagepool_activity(p);

	vqcore_pagepool_report_source(p, &src);
	ck_assert_uint_eq(src.max_order, 4);
	ck_assert_uint_eq(src.ops->nr_free(src.src, 4), 4);
	ck_assert_uint_eq(src.ops->isolate(src.src, 4, sg, 3), 3);
	ck_assert_uint_eq(sg[0].len, 16 * PG);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.isolated_bytes, 48 * PG);
	ck_assert_uint_eq(st.nr_free[4], 1);
	/* isolated blocks cannot be freed by a caller */
	ck_assert_int_eq(vqcore_pagepool_free(p, sg[0].addr, 4), -22);
	src.ops->putback(src.src, sg, 2, true);
	src.ops->putback(src.src, sg + 2, 1, false);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.isolated_bytes, 0);
	ck_assert_uint_eq(st.nr_free[4], 4);
	ck_assert_uint_eq(st.nr_reported[4], 2);
	ck_assert_uint_eq(st.reported_bytes, 32 * PG);
	ck_assert_uint_eq(src.ops->nr_unreported(src.src, 4), 2);
	/* isolate/putback are not activity */
	ck_assert_uint_eq(vqcore_pagepool_activity(p), act);
	/* isolation skips reported blocks */
	ck_assert_uint_eq(src.ops->isolate(src.src, 4, sg, 8), 2);
	src.ops->putback(src.src, sg, 2, true);
	ck_assert_uint_eq(src.ops->isolate(src.src, 4, sg, 8), 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_alloc_clears_reported)
{
	struct vqcore_pagepool *p = mkpool(32, 4); /* two order-4 blocks */
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t a;

	ck_assert_uint_eq(report_all(p, 4), 2);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 4, &a), 0);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_reported[4], 1);
	ck_assert_uint_eq(st.reported_bytes, 16 * PG);
	/* freed back: unreported */
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 4), 0);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_free[4], 2);
	ck_assert_uint_eq(st.nr_reported[4], 1);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_split_clears_reported)
{
	struct vqcore_pagepool *p = mkpool(16, 4);
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t a;

	ck_assert_uint_eq(report_all(p, 4), 1);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 1, &a), 0);
	vqcore_pagepool_get_stats(p, &st);
	/* halves of order 3, 2, 1 split off: all unreported */
	ck_assert_uint_eq(st.nr_free[3], 1);
	ck_assert_uint_eq(st.nr_free[2], 1);
	ck_assert_uint_eq(st.nr_free[1], 1);
	ck_assert_uint_eq(st.reported_bytes, 0);
	for (unsigned o = 0; o <= 4; o++)
		ck_assert_uint_eq(st.nr_reported[o], 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_merge_clears_reported)
{
	struct vqcore_pagepool *p = mkpool(16, 4);
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t a, b;

	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_uint_eq(report_all(p, 3), 1); /* the other half: reported */
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_reported[3], 1);
	/* freeing its buddy merges them: one unreported order-4 block */
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_free[4], 1);
	ck_assert_uint_eq(st.nr_free[3], 0);
	ck_assert_uint_eq(st.nr_reported[4], 0);
	ck_assert_uint_eq(st.reported_bytes, 0);
	(void)b;
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_merge_two_reported_clears)
{
	/* Linux semantics: even two reported buddies merge unreported. */
	struct vqcore_pagepool *p = mkpool(16, 4);
	struct vqcore_report_source src;
	struct vqcore_report_sg sg[2];
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t a, b;

	vqcore_pagepool_report_source(p, &src);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &b), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	ck_assert_uint_eq(src.ops->isolate(src.src, 3, sg, 2), 1);
	ck_assert_int_eq(vqcore_pagepool_free(p, b, 3), 0); /* buddy isolated: no merge */
	ck_assert_uint_eq(src.ops->isolate(src.src, 3, sg + 1, 1), 1);
	src.ops->putback(src.src, sg, 2, true);
	vqcore_pagepool_get_stats(p, &st);
	ck_assert_uint_eq(st.nr_free[4], 1);
	ck_assert_uint_eq(st.nr_reported[4], 0);
	ck_assert_uint_eq(st.isolated_bytes, 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_unreported_allocated_first)
{
	struct vqcore_pagepool *p = mkpool(64, 4); /* four order-4 blocks */
	uint64_t a, b;

	ck_assert_uint_eq(report_all(p, 4), 4);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 4, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 4), 0); /* now unreported */
	/* the unreported block comes first, not one of the three reported */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 4, &b), 0);
	ck_assert_uint_eq(a, b);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_putback_bogus_ignored)
{
	struct vqcore_pagepool *p = mkpool(64, 4);
	struct vqcore_report_source src;
	struct vqcore_report_sg bad[3] = {
		{ BASE, 16 * PG },      /* a free block, never isolated */
		{ BASE - PG, PG },      /* outside */
		{ BASE + 16 * PG, 3 * PG }, /* not a power of two */
	};

	vqcore_pagepool_report_source(p, &src);
	vqcore_set_log_fn(NULL, NULL, -1); /* silence the expected errors */
	src.ops->putback(src.src, bad, 3, true);
	vqcore_set_log_fn(NULL, NULL, VQCORE_LOG_WARN);
	assert_initial(p, 64, 4);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- report hook ---- */

static int hook_calls;
static void hook(void *arg)
{
	(void)arg;
	hook_calls++;
}

START_TEST(test_hook_threshold)
{
	struct vqcore_pagepool *p = mkpool(64, 4);
	struct vqcore_report_source src;
	struct vqcore_report_sg sg[4];
	uint64_t a, b, c;
	unsigned n;

	vqcore_pagepool_report_source(p, &src);
	src.ops->set_hook(src.src, 3, hook, NULL);
	hook_calls = 0;
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &b), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 0), 0); /* stays order 0 */
	ck_assert_int_eq(hook_calls, 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, b, 0), 0); /* merges to 4 */
	ck_assert_int_eq(hook_calls, 1);
	/* one-shot: disarmed until the reporter re-arms it */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &c), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, c, 3), 0);
	ck_assert_int_eq(hook_calls, 1);
	src.ops->arm_hook(src.src);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &c), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, c, 3), 0);
	ck_assert_int_eq(hook_calls, 2);
	src.ops->arm_hook(src.src);
	/* putback does not call the hook */
	n = src.ops->isolate(src.src, 4, sg, 4);
	ck_assert_uint_eq(n, 4);
	src.ops->putback(src.src, sg, n, true);
	src.ops->putback(src.src, sg, 0, false);
	ck_assert_int_eq(hook_calls, 2);
	src.ops->set_hook(src.src, 3, NULL, NULL);
	src.ops->arm_hook(src.src); /* arming without a hook does nothing */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &c), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, c, 3), 0);
	ck_assert_int_eq(hook_calls, 2);
	vqcore_pagepool_destroy(p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pagepool");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_create_power_of_two);
	tcase_add_test(tc, test_create_odd_sizes);
	tcase_add_test(tc, test_size_rounds_down);
	tcase_add_test(tc, test_create_bad_args);
	tcase_add_test(tc, test_alloc_all_orders);
	tcase_add_test(tc, test_random_churn_merges_back);
	tcase_add_test(tc, test_alloc_bad_order);
	tcase_add_test(tc, test_alloc_too_big_enomem);
	tcase_add_test(tc, test_free_double);
	tcase_add_test(tc, test_free_wrong_order);
	tcase_add_test(tc, test_free_interior);
	tcase_add_test(tc, test_free_misaligned);
	tcase_add_test(tc, test_free_outside);
	tcase_add_test(tc, test_free_never_allocated);
	tcase_add_test(tc, test_isolate_putback);
	tcase_add_test(tc, test_alloc_clears_reported);
	tcase_add_test(tc, test_split_clears_reported);
	tcase_add_test(tc, test_merge_clears_reported);
	tcase_add_test(tc, test_merge_two_reported_clears);
	tcase_add_test(tc, test_unreported_allocated_first);
	tcase_add_test(tc, test_putback_bogus_ignored);
	tcase_add_test(tc, test_hook_threshold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(suite());
}
