/* SPDX-License-Identifier: MIT */
/*
 * Description: free-page reporter engine over the page pool: the Linux
 * semantics (trigger on high-order free, per-list budget, scatterlist
 * capacity, rotation to the first unreported block, flag clearing, failure
 * stops the pass and loses nothing, no re-trigger on putback), the
 * adaptive budget (idle pool fully reported in two passes, bounded work
 * under churn), the asynchronous sink (completion, failure, timeout,
 * destroy), the background thread, and a concurrency test where threads
 * allocate and free while passes run.
 */
#include <check.h>
#include "vqtest.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"

#define BASE 0x100000000ull
#define PG VQCORE_PAGEPOOL_PAGE
#define EIO_ 5
#define EBUSY_ 16
#define EINVAL_ 22
#define ENOENT_ 2
#define ETIMEDOUT_ 110

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	nanosleep(&ts, NULL);
}

/* ---- a recording sink ---- */

enum { SINK_SYNC, SINK_ASYNC, SINK_ASYNC_INLINE };

struct sink {
	struct vqcore_pagepool *pool;
	struct vqcore_reporter *r;
	unsigned capacity;
	int mode;
	int calls;
	int fail_at;  /* 1-based call that fails; 0 never */
	unsigned max_n;
	uint64_t addrs[8192];
	unsigned naddrs;
	void (*during)(struct sink *s);
	int cancels;
	int notifies;
	int busy_seen;
};

static int sink_report(void *opaque, const struct vqcore_report_sg *sg,
		       unsigned n)
{
	struct sink *s = opaque;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t bytes = 0;

	s->calls++;
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, s->capacity);
	if (n > s->max_n)
		s->max_n = n;
	for (unsigned k = 0; k < n; k++) {
		bytes += sg[k].len;
		if (s->naddrs < 8192)
			s->addrs[s->naddrs++] = sg[k].addr;
	}
	/* the blocks are out of the free lists while we hold them */
	vqcore_pagepool_get_stats(s->pool, &st);
	ck_assert_uint_ge(st.isolated_bytes, bytes);
	if (vqcore_reporter_run_pass(s->r, NULL) == -EBUSY_)
		s->busy_seen++;
	if (s->during)
		s->during(s);
	if (s->mode == SINK_ASYNC)
		return VQCORE_REPORT_IN_PROGRESS;
	if (s->mode == SINK_ASYNC_INLINE) {
		ck_assert_int_eq(vqcore_reporter_complete(s->r, 0), 0);
		return VQCORE_REPORT_IN_PROGRESS;
	}
	if (s->fail_at && s->calls == s->fail_at)
		return -EIO_;
	return 0;
}

static void sink_cancel(void *opaque)
{
	((struct sink *)opaque)->cancels++;
}

static void sink_notify(void *arg)
{
	__atomic_fetch_add(&((struct sink *)arg)->notifies, 1, __ATOMIC_RELAXED);
}

/* Pool of @nblocks blocks of order @order (max order = @order). */
static struct vqcore_pagepool *mkpool(uint64_t nblocks, unsigned order)
{
	struct vqcore_pagepool_opts o = { .sz = sizeof(o), .max_order = order };
	struct vqcore_pagepool *p;

	ck_assert_int_eq(vqcore_pagepool_new(BASE, (nblocks << order) * PG, &o, &p), 0);
	return p;
}

static struct vqcore_reporter *mkrep(struct sink *s, struct vqcore_pagepool *p,
				     unsigned order, unsigned cap, unsigned div,
				     unsigned flags)
{
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .order = order, .capacity = cap,
		.budget_div = div, .flags = flags, .delay_ns = 1000000000ull,
		.notify = sink_notify, .notify_arg = s, .cancel = sink_cancel,
	};
	struct vqcore_report_source src;
	struct vqcore_reporter *r;

	memset(s, 0, sizeof(*s));
	s->pool = p;
	s->capacity = cap;
	vqcore_pagepool_report_source(p, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, s, &o, &r), 0);
	s->r = r;
	return r;
}

static struct vqcore_pagepool_stats pstats(struct vqcore_pagepool *p)
{
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

	vqcore_pagepool_get_stats(p, &st);
	return st;
}

/* Allocate every block of @order, then free them all (activity). */
static void churn_all(struct vqcore_pagepool *p, unsigned order)
{
	uint64_t *a = malloc(sizeof(*a) * 65536);
	unsigned n = 0;

	while (n < 65536 && vqcore_pagepool_alloc(p, order, &a[n]) == 0)
		n++;
	for (unsigned k = 0; k < n; k++)
		ck_assert_int_eq(vqcore_pagepool_free(p, a[k], order), 0);
	free(a);
}

static void assert_nothing_lost(struct vqcore_pagepool *p, uint64_t bytes)
{
	struct vqcore_pagepool_stats st = pstats(p);

	ck_assert_uint_eq(st.free_bytes + st.allocated_bytes, bytes);
	ck_assert_uint_eq(st.isolated_bytes, 0);
}

/* ---- trigger ---- */

START_TEST(test_idle_then_request)
{
	struct vqcore_pagepool *p = mkpool(16, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, 0);
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	uint64_t d, a, b, t0;

	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	ck_assert_uint_eq(d, UINT64_MAX);
	/* an order-0 free that does not reach the report order: no request */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &b), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 0), 0);
	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	ck_assert_int_eq(s.notifies, 0);
	/* this one merges back to order 3: IDLE -> REQUESTED, one notify */
	t0 = now_ns();
	ck_assert_int_eq(vqcore_pagepool_free(p, b, 0), 0);
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	ck_assert_uint_ge(d, t0 + 1000000000ull);
	ck_assert_int_eq(s.notifies, 1);
	/* more high-order frees: no more transitions, no more notifies */
	for (int k = 0; k < 5; k++) {
		ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
		ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	}
	ck_assert_int_eq(s.notifies, 1);
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.requests, 1);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_explicit_pass_when_idle)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, 0);
	struct vqcore_reporter_pass ps;
	uint64_t d;

	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert(ps.done);
	ck_assert_uint_eq(ps.blocks, 4); /* budget: 1 fill of 4 */
	ck_assert(ps.more);
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- capacity, budget, rotation ---- */

START_TEST(test_capacity)
{
	struct vqcore_pagepool *p = mkpool(101, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1,
					  VQCORE_REPORTER_FIXED_BUDGET);
	struct vqcore_reporter_pass ps;

	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	/* budget ceil(101/4) = 26 fills: 25 full + the last partial */
	ck_assert_uint_eq(ps.blocks, 101);
	ck_assert_int_eq(s.calls, 26);
	ck_assert_uint_eq(s.max_n, 4);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 101);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_capacity_never_exceeded_mixed_orders)
{
	/* 1000 pages, max order 6: lists at orders 6, 5, 3 (+ lower). */
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 6 };
	struct vqcore_pagepool *p;
	struct sink s;
	struct vqcore_reporter *r;
	struct vqcore_reporter_pass ps;

	ck_assert_int_eq(vqcore_pagepool_new(BASE, 1000 * PG, &po, &p), 0);
	r = mkrep(&s, p, 3, 3, 1, VQCORE_REPORTER_FIXED_BUDGET);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	/* 15 order-6 + 1 order-5 + 1 order-3 blocks = 17 blocks in 6 calls */
	ck_assert_uint_eq(ps.blocks, 17);
	ck_assert_int_eq(s.calls, 6);
	ck_assert_uint_le(s.max_n, 3);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_budget_per_list)
{
	/* order 4: 64 blocks, order 3: 1 block.  cap 4, div 4:
	 * budget(order 4) = ceil(64 / 16) = 4 fills = 16 blocks,
	 * budget(order 3) = ceil(1 / 16) = 1 fill. */
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 4 };
	struct vqcore_pagepool *p;
	struct sink s;
	struct vqcore_reporter *r;
	struct vqcore_reporter_pass ps;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	uint64_t d;

	ck_assert_int_eq(vqcore_pagepool_new(BASE, (64 * 16 + 8) * PG, &po, &p), 0);
	r = mkrep(&s, p, 3, 4, 4, VQCORE_REPORTER_FIXED_BUDGET);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	st = pstats(p);
	ck_assert_uint_eq(st.nr_reported[4], 16);
	ck_assert_uint_eq(st.nr_reported[3], 1);
	ck_assert_uint_eq(ps.blocks, 17);
	ck_assert_int_eq(s.calls, 5); /* 4 full fills + the final flush */
	ck_assert(ps.more);
	ck_assert(vqcore_reporter_next_deadline(r, &d)); /* another pass due */
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.budget_passes, 1);
	/* The fixed budget needs 4 passes for the 64 blocks (Linux: 16 with
	 * its divisor of 16); the 5th finds nothing. */
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
		ck_assert_uint_eq(ps.blocks, 16);
	}
	ck_assert(!ps.more);
	ck_assert_uint_eq(pstats(p).nr_reported[4], 64);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 0);
	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_rotation_resumes_at_first_unreported)
{
	struct vqcore_pagepool *p = mkpool(64, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 4,
					  VQCORE_REPORTER_FIXED_BUDGET);
	struct vqcore_reporter_pass ps;
	uint64_t first[16], a;

	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 16);
	memcpy(first, s.addrs, sizeof(first));
	for (unsigned k = 0; k < 16; k++) /* carve order = address order */
		ck_assert_uint_eq(first[k], BASE + k * 8ull * PG);
	/* allocation takes the first unreported block, not a reported one */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_uint_eq(a, BASE + 16 * 8ull * PG);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	s.naddrs = 0;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 16);
	/* the second pass starts at the first unreported block and never
	 * revisits one the first pass reported */
	for (unsigned k = 0; k < 16; k++) {
		ck_assert_uint_eq(s.addrs[k], BASE + (16 + k) * 8ull * PG);
		for (unsigned j = 0; j < 16; j++)
			ck_assert_uint_ne(s.addrs[k], first[j]);
	}
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- flags, failure, no re-trigger ---- */

START_TEST(test_realloc_clears_and_rereports)
{
	struct vqcore_pagepool *p = mkpool(32, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_pass ps;
	uint64_t a, d;

	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 32);
	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 31);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	s.naddrs = 0;
	s.calls = 0;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 1);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(s.addrs[0], a);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 32);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_failure_stops_pass_loses_nothing)
{
	struct vqcore_pagepool *p = mkpool(64, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1,
					  VQCORE_REPORTER_FIXED_BUDGET);
	struct vqcore_reporter_pass ps;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	uint64_t d, t0;

	s.fail_at = 2;
	t0 = now_ns();
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), -EIO_);
	ck_assert(ps.done);
	ck_assert_int_eq(s.calls, 2); /* the pass stopped at the failure */
	ck_assert_uint_eq(ps.blocks, 4);
	ck_assert_uint_eq(ps.failed, 1);
	st = pstats(p);
	ck_assert_uint_eq(st.nr_reported[3], 4); /* only the first fill */
	ck_assert_uint_eq(st.nr_free[3], 64);    /* nothing lost */
	assert_nothing_lost(p, 64 * 8 * PG);
	/* a retry is requested one delay later */
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	ck_assert_uint_ge(d, t0 + 1000000000ull);
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.failed_reports, 1);
	/* the failed blocks are reported by the retry */
	s.fail_at = 0;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 60);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 64);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_failure_backoff)
{
	struct vqcore_pagepool *p = mkpool(8, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	uint64_t d, t0;

	for (int k = 0; k < 3; k++) {
		s.fail_at = s.calls + 1;
		t0 = now_ns();
		ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL), -EIO_);
		ck_assert(vqcore_reporter_next_deadline(r, &d));
		/* delay doubles per consecutive failure: 1 s, 2 s, 4 s */
		ck_assert_uint_ge(d, t0 + (1000000000ull << k));
	}
	assert_nothing_lost(p, 64 * PG);
	ck_assert_uint_eq(pstats(p).reported_bytes, 0);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_putback_does_not_retrigger)
{
	struct vqcore_pagepool *p = mkpool(40, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	uint64_t d, a;

	/* a real request first */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	ck_assert_int_eq(s.notifies, 1);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL), 0);
	/* 40 blocks went back to the pool as Reported: no new request */
	ck_assert_uint_eq(pstats(p).nr_reported[3], 40);
	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	ck_assert_int_eq(s.notifies, 1);
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.requests, 1);
	/* and failed putbacks do not request either (the retry is the
	 * engine's own, not a free's) */
	ck_assert_int_eq(s.notifies, 1);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

static uint64_t held_block;

static void free_held(struct sink *s)
{
	if (held_block) {
		ck_assert_int_eq(vqcore_pagepool_free(s->pool, held_block, 3), 0);
		held_block = 0;
	}
}

START_TEST(test_free_during_pass_requests_again)
{
	struct vqcore_pagepool *p = mkpool(16, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_pass ps;
	uint64_t a, d;

	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &held_block), 0);
	/* a request: the pool's one-shot hook is now disarmed */
	ck_assert_int_eq(vqcore_pagepool_alloc(p, 3, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_free(p, a, 3), 0);
	ck_assert_int_eq(s.notifies, 1);
	/* the pass re-arms it, so a free during the pass requests again */
	s.during = free_held;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert(ps.more);
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	ck_assert_uint_ne(d, UINT64_MAX);
	/* and the next pass reports the block freed meanwhile */
	s.during = NULL;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 16);
	ck_assert(!vqcore_reporter_next_deadline(r, &d));
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- adaptive budget ---- */

/* Passes needed to report everything after a free burst on an idle pool. */
static unsigned passes_to_report_all(unsigned flags, uint64_t nblocks)
{
	struct vqcore_pagepool *p = mkpool(nblocks, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, flags);
	struct vqcore_reporter_pass ps;
	unsigned passes = 0;
	uint64_t d;

	churn_all(p, 3);
	while (vqcore_reporter_next_deadline(r, &d)) {
		ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
		passes++;
		ck_assert_uint_le(passes, 1000);
	}
	ck_assert_uint_eq(pstats(p).nr_reported[3], nblocks);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
	return passes;
}

START_TEST(test_idle_pool_two_passes)
{
	/* cap 4, div 16: the fixed budget reports 64 blocks per pass */
	ck_assert_uint_eq(passes_to_report_all(0, 1024), 2);
	ck_assert_uint_eq(passes_to_report_all(VQCORE_REPORTER_FIXED_BUDGET, 1024), 16);
	ck_assert_uint_eq(passes_to_report_all(0, 100000), 2);
}
END_TEST

START_TEST(test_idle_second_pass_unbounded)
{
	struct vqcore_pagepool *p = mkpool(1024, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, 0);
	struct vqcore_reporter_pass ps;
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };

	churn_all(p, 3);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert(!ps.unbounded);
	ck_assert(ps.more);
	ck_assert_uint_eq(ps.blocks, 64);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert(ps.unbounded);
	ck_assert(!ps.fell_back);
	ck_assert(!ps.more);
	ck_assert_uint_eq(ps.blocks, 1024 - 64);
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.unbounded_passes, 1);
	ck_assert_uint_eq(rs.passes, 2);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_churn_between_passes_bounded)
{
	struct vqcore_pagepool *p = mkpool(1024, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, 0);
	struct vqcore_reporter_pass ps;
	uint64_t a;

	churn_all(p, 3);
	for (int k = 0; k < 10; k++) {
		ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
		/* Linux budget: ceil(1024 / 64) = 16 fills = 64 blocks */
		ck_assert(!ps.unbounded);
		ck_assert_uint_le(ps.blocks, 64);
		ck_assert_uint_le(ps.reports, 16 + 1);
		/* churn before the next pass */
		ck_assert_int_eq(vqcore_pagepool_alloc(p, 0, &a), 0);
		ck_assert_int_eq(vqcore_pagepool_free(p, a, 0), 0);
	}
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

static void churn_once(struct sink *s)
{
	uint64_t a;

	ck_assert_int_eq(vqcore_pagepool_alloc(s->pool, 0, &a), 0);
	ck_assert_int_eq(vqcore_pagepool_free(s->pool, a, 0), 0);
}

START_TEST(test_churn_during_unbounded_falls_back)
{
	struct vqcore_pagepool *p = mkpool(1024, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 16, 0);
	struct vqcore_reporter_pass ps;

	churn_all(p, 3);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0); /* bounded */
	s.during = churn_once; /* churn starts in the middle of pass 2 */
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert(ps.unbounded);
	ck_assert(ps.fell_back);
	ck_assert(ps.more);
	/* bounded again: the Linux budget of 16 fills (including the one made
	 * while unbounded, minus the 1-block split the churn made) */
	ck_assert_uint_le(ps.blocks, 64);
	ck_assert_uint_ge(ps.blocks, 4);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- asynchronous sink ---- */

START_TEST(test_async_complete)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_pass ps;
	uint64_t d;
	int rounds = 0, ret;

	s.mode = SINK_ASYNC;
	ck_assert_int_eq(vqcore_reporter_complete(r, 0), -ENOENT_);
	while ((ret = vqcore_reporter_run_pass(r, &ps)) == VQCORE_REPORT_IN_PROGRESS) {
		ck_assert(!ps.done);
		ck_assert_uint_eq(pstats(p).isolated_bytes,
				  (rounds < 2 ? 4 : 2) * 8ull * PG);
		ck_assert(vqcore_reporter_next_deadline(r, &d));
		ck_assert_uint_eq(d, UINT64_MAX); /* no timeout: wait for notify */
		/* still in flight: another call does nothing */
		ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL),
				 VQCORE_REPORT_IN_PROGRESS);
		s.notifies = 0;
		ck_assert_int_eq(vqcore_reporter_complete(r, 0), 0);
		ck_assert_int_eq(s.notifies, 1);
		ck_assert(vqcore_reporter_next_deadline(r, &d));
		ck_assert_uint_eq(d, 0); /* run now */
		rounds++;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert(ps.done);
	ck_assert_int_eq(rounds, 3);
	ck_assert_uint_eq(ps.blocks, 10);
	ck_assert_uint_eq(pstats(p).nr_reported[3], 10);
	assert_nothing_lost(p, 80 * PG);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_async_complete_inline)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_pass ps;

	s.mode = SINK_ASYNC_INLINE;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), 0);
	ck_assert_uint_eq(ps.blocks, 10);
	ck_assert_int_eq(s.calls, 3);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_async_failure)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);
	struct vqcore_reporter_pass ps;
	uint64_t d;

	s.mode = SINK_ASYNC;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), VQCORE_REPORT_IN_PROGRESS);
	ck_assert_int_eq(vqcore_reporter_complete(r, -EIO_), 0);
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), -EIO_);
	ck_assert(ps.done);
	ck_assert_uint_eq(ps.failed, 1);
	ck_assert_uint_eq(pstats(p).reported_bytes, 0);
	assert_nothing_lost(p, 80 * PG);
	ck_assert_uint_eq(pstats(p).nr_free[3], 10);
	ck_assert(vqcore_reporter_next_deadline(r, &d)); /* retry requested */
	ck_assert_uint_ne(d, UINT64_MAX);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_async_timeout_never_answers)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .order = 3, .capacity = 4,
		.timeout_ns = 2000000, .cancel = sink_cancel,
	};
	struct vqcore_report_source src;
	struct vqcore_reporter *r;
	struct vqcore_reporter_pass ps;
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	struct sink s;
	uint64_t d;

	memset(&s, 0, sizeof(s));
	s.pool = p;
	s.capacity = 4;
	s.mode = SINK_ASYNC;
	vqcore_pagepool_report_source(p, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, &s, &o, &r), 0);
	s.r = r;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), VQCORE_REPORT_IN_PROGRESS);
	ck_assert(vqcore_reporter_next_deadline(r, &d));
	ck_assert_uint_ne(d, UINT64_MAX);
	/* before the deadline the pass stays suspended */
	if (now_ns() < d)
		ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL),
				 VQCORE_REPORT_IN_PROGRESS);
	while (now_ns() < d)
		sleep_ns(d - now_ns());
	/* the device never answered: blocks back, unreported, sink told */
	vqcore_set_log_fn(NULL, NULL, -1); /* the expected warning */
	ck_assert_int_eq(vqcore_reporter_run_pass(r, &ps), -ETIMEDOUT_);
	vqcore_set_log_fn(NULL, NULL, VQCORE_LOG_WARN);
	ck_assert_int_eq(s.cancels, 1);
	ck_assert(ps.done);
	ck_assert_uint_eq(pstats(p).reported_bytes, 0);
	assert_nothing_lost(p, 80 * PG);
	ck_assert_uint_eq(pstats(p).nr_free[3], 10);
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_eq(rs.timeouts, 1);
	/* the late answer is refused */
	ck_assert_int_eq(vqcore_reporter_complete(r, 0), -ENOENT_);
	ck_assert_uint_eq(pstats(p).reported_bytes, 0);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_destroy_with_report_in_flight)
{
	struct vqcore_pagepool *p = mkpool(10, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);

	s.mode = SINK_ASYNC;
	ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL), VQCORE_REPORT_IN_PROGRESS);
	ck_assert_uint_eq(pstats(p).isolated_bytes, 32 * PG);
	vqcore_reporter_destroy(r);
	ck_assert_int_eq(s.cancels, 1);
	assert_nothing_lost(p, 80 * PG);
	ck_assert_uint_eq(pstats(p).reported_bytes, 0);
	vqcore_pagepool_destroy(p);
}
END_TEST

START_TEST(test_run_pass_reentry_busy)
{
	struct vqcore_pagepool *p = mkpool(8, 3);
	struct sink s;
	struct vqcore_reporter *r = mkrep(&s, p, 3, 4, 1, 0);

	ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL), 0);
	ck_assert_int_eq(s.calls, 2);
	ck_assert_int_eq(s.busy_seen, 2); /* the sink's nested call got -EBUSY */
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- options ---- */

START_TEST(test_bad_options)
{
	struct vqcore_pagepool *p = mkpool(8, 3);
	struct vqcore_report_source src, bad;
	struct vqcore_report_source_ops noops = { 0 };
	struct vqcore_reporter *r;
	struct {
		struct vqcore_reporter_opts o;
		uint64_t extra;
	} big;

	vqcore_pagepool_report_source(p, &src);
	struct vqcore_reporter_opts o = { .sz = sizeof(o), .order = 4 };
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &o, &r), -EINVAL_);
	o = (struct vqcore_reporter_opts){ .sz = sizeof(o), .capacity = 4097 };
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &o, &r), -EINVAL_);
	o = (struct vqcore_reporter_opts){ .sz = 2 };
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &o, &r), -EINVAL_);
	o = (struct vqcore_reporter_opts){ .sz = sizeof(o), .flags = 0x80 };
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &o, &r), -EINVAL_);
	ck_assert_int_eq(vqcore_reporter_new(&src, NULL, NULL, NULL, &r), -EINVAL_);
	bad = src;
	bad.ops = &noops;
	ck_assert_int_eq(vqcore_reporter_new(&bad, sink_report, NULL, NULL, &r), -EINVAL_);
	/* a larger struct from a newer caller: fine if the tail is zero */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &big.o, &r), 0);
	vqcore_reporter_destroy(r);
	big.extra = 1;
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, &big.o, &r), -7);
	/* defaults: order min(9, max order) = 3 */
	ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, NULL, NULL, &r), 0);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- background thread ---- */

static bool wait_all_reported(struct vqcore_pagepool *p, uint64_t bytes)
{
	uint64_t end = now_ns() + 20000000000ull;

	while (now_ns() < end) {
		if (pstats(p).reported_bytes == bytes)
			return true;
		sleep_ns(1000000);
	}
	return false;
}

static int quiet_sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	(void)opaque;
	(void)sg;
	(void)n;
	return 0;
}

START_TEST(test_background_thread)
{
	struct vqcore_pagepool *p = mkpool(256, 3);
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .order = 3, .capacity = 4, .delay_ns = 1000000,
	};
	struct vqcore_report_source src;
	struct vqcore_reporter *r;
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };

	vqcore_pagepool_report_source(p, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, quiet_sink, NULL, &o, &r), 0);
	ck_assert_int_eq(vqcore_reporter_start(r), 0);
	ck_assert_int_eq(vqcore_reporter_start(r), -EBUSY_);
	churn_all(p, 3);
	ck_assert(wait_all_reported(p, 256 * 8 * PG));
	vqcore_reporter_get_stats(r, &rs);
	ck_assert_uint_ge(rs.passes, 2); /* budget pass, then the unbounded one */
	ck_assert_uint_ge(rs.blocks, 256);
	vqcore_reporter_stop(r);
	vqcore_reporter_stop(r);
	/* restart works, and destroy stops the thread */
	ck_assert_int_eq(vqcore_reporter_start(r), 0);
	churn_all(p, 3);
	ck_assert(wait_all_reported(p, 256 * 8 * PG));
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* An asynchronous sink answered by a "device" thread. */
struct dev {
	struct vqcore_reporter *r;
	int pending; /* set by the sink, cleared by the device */
	int stop;
	uint64_t completed;
};

static int dev_sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct dev *d = opaque;

	(void)sg;
	(void)n;
	__atomic_store_n(&d->pending, 1, __ATOMIC_RELEASE);
	return VQCORE_REPORT_IN_PROGRESS;
}

static void *dev_main(void *arg)
{
	struct dev *d = arg;

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&d->pending, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&d->pending, 0, __ATOMIC_RELAXED);
			ck_assert_int_eq(vqcore_reporter_complete(d->r, 0), 0);
			d->completed++;
		} else {
			sleep_ns(50000);
		}
	}
	return NULL;
}

START_TEST(test_background_thread_async_sink)
{
	struct vqcore_pagepool *p = mkpool(256, 3);
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .order = 3, .capacity = 4, .delay_ns = 1000000,
	};
	struct vqcore_report_source src;
	struct dev d = { 0 };
	pthread_t tid;

	vqcore_pagepool_report_source(p, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, dev_sink, &d, &o, &d.r), 0);
	ck_assert_int_eq(pthread_create(&tid, NULL, dev_main, &d), 0);
	ck_assert_int_eq(vqcore_reporter_start(d.r), 0);
	churn_all(p, 3);
	ck_assert(wait_all_reported(p, 256 * 8 * PG));
	vqcore_reporter_destroy(d.r);
	__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tid, NULL);
	ck_assert_uint_ge(d.completed, 64);
	assert_nothing_lost(p, 256 * 8 * PG);
	vqcore_pagepool_destroy(p);
}
END_TEST

/* ---- concurrency: allocations and frees while passes run ---- */

#define CC_PAGES 8192u
#define CC_MAXO 6

struct cc {
	struct vqcore_pagepool *pool;
	uint8_t owner[CC_PAGES]; /* 0 free, else owning thread id (atomic) */
	int stop;
	uint64_t bad;
	uint64_t reported_blocks;
};

static int cc_sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct cc *c = opaque;

	/* every reported block must be free: owned by nobody */
	for (unsigned k = 0; k < n; k++) {
		uint64_t i = (sg[k].addr - BASE) / PG;

		for (uint64_t j = i; j < i + sg[k].len / PG; j++)
			if (__atomic_load_n(&c->owner[j], __ATOMIC_ACQUIRE))
				__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&c->reported_blocks, n, __ATOMIC_RELAXED);
	return 0;
}

struct cc_worker {
	struct cc *c;
	uint8_t id;
	unsigned seed;
};

static void *cc_main(void *arg)
{
	struct cc_worker *w = arg;
	struct cc *c = w->c;
	uint64_t addr[64];
	unsigned ord[64], live = 0;

	for (int it = 0; it < 60000; it++) {
		unsigned rnd = (unsigned)rand_r(&w->seed);

		if (live < 64 && (rnd & 1)) {
			unsigned o = (rnd >> 1) % (CC_MAXO + 1);
			uint64_t a, i;

			if (vqcore_pagepool_alloc(c->pool, o, &a))
				continue;
			i = (a - BASE) / PG;
			for (uint64_t j = i; j < i + (1ull << o); j++) {
				uint8_t z = 0;

				/* handed out twice? */
				if (!__atomic_compare_exchange_n(&c->owner[j], &z, w->id,
								 false, __ATOMIC_ACQ_REL,
								 __ATOMIC_ACQUIRE))
					__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
			}
			addr[live] = a;
			ord[live++] = o;
		} else if (live) {
			unsigned k = (rnd >> 1) % live;
			uint64_t i = (addr[k] - BASE) / PG;

			for (uint64_t j = i; j < i + (1ull << ord[k]); j++)
				__atomic_store_n(&c->owner[j], 0, __ATOMIC_RELEASE);
			if (vqcore_pagepool_free(c->pool, addr[k], ord[k]))
				__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
			addr[k] = addr[--live];
			ord[k] = ord[live];
		}
	}
	while (live--) {
		uint64_t i = (addr[live] - BASE) / PG;

		for (uint64_t j = i; j < i + (1ull << ord[live]); j++)
			__atomic_store_n(&c->owner[j], 0, __ATOMIC_RELEASE);
		if (vqcore_pagepool_free(c->pool, addr[live], ord[live]))
			__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_concurrent_alloc_free_with_passes)
{
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = CC_MAXO };
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .order = 2, .capacity = 8, .delay_ns = 100000,
	};
	struct vqcore_report_source src;
	struct vqcore_reporter *r;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct cc *c = calloc(1, sizeof(*c));
	struct cc_worker w[2] = { { c, 1, 11 }, { c, 2, 22 } };
	pthread_t tid[2];
	uint64_t explicit_passes = 0;
	int ret;

	ck_assert_int_eq(vqcore_pagepool_new(BASE, CC_PAGES * PG, &po, &c->pool), 0);
	vqcore_pagepool_report_source(c->pool, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, cc_sink, c, &o, &r), 0);
	ck_assert_int_eq(vqcore_reporter_start(r), 0);
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&tid[k], NULL, cc_main, &w[k]), 0);
	/* explicit passes from this thread, racing the background thread */
	for (int k = 0; k < 200; k++) {
		ret = vqcore_reporter_run_pass(r, NULL);
		ck_assert(ret == 0 || ret == -EBUSY_);
		explicit_passes += ret == 0;
		sleep_ns(200000);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(tid[k], NULL);
	vqcore_reporter_stop(r);
	ck_assert_uint_eq(__atomic_load_n(&c->bad, __ATOMIC_RELAXED), 0);
	ck_assert_uint_gt(explicit_passes, 0);
	ck_assert_uint_gt(c->reported_blocks, 0);
	/* everything merged back: the whole arena free, one block per
	 * max-order slot, nothing isolated or allocated */
	vqcore_pagepool_get_stats(c->pool, &st);
	ck_assert_uint_eq(st.free_bytes, CC_PAGES * PG);
	ck_assert_uint_eq(st.allocated_bytes, 0);
	ck_assert_uint_eq(st.isolated_bytes, 0);
	ck_assert_uint_eq(st.nr_free[CC_MAXO], CC_PAGES >> CC_MAXO);
	/* a final pass reports it all */
	while (vqcore_reporter_run_pass(r, NULL) == 0 &&
	       pstats(c->pool).reported_bytes != CC_PAGES * PG)
		;
	ck_assert_uint_eq(pstats(c->pool).reported_bytes, CC_PAGES * PG);
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(c->pool);
	free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("reporter");
	TCase *tc = tcase_create("linux");
	TCase *ta = tcase_create("adaptive");
	TCase *tas = tcase_create("async");
	TCase *tt = tcase_create("threads");

	tcase_add_test(tc, test_idle_then_request);
	tcase_add_test(tc, test_explicit_pass_when_idle);
	tcase_add_test(tc, test_capacity);
	tcase_add_test(tc, test_capacity_never_exceeded_mixed_orders);
	tcase_add_test(tc, test_budget_per_list);
	tcase_add_test(tc, test_rotation_resumes_at_first_unreported);
	tcase_add_test(tc, test_realloc_clears_and_rereports);
	tcase_add_test(tc, test_failure_stops_pass_loses_nothing);
	tcase_add_test(tc, test_failure_backoff);
	tcase_add_test(tc, test_putback_does_not_retrigger);
	tcase_add_test(tc, test_free_during_pass_requests_again);
	tcase_add_test(tc, test_bad_options);
	suite_add_tcase(s, tc);
	tcase_add_test(ta, test_idle_pool_two_passes);
	tcase_add_test(ta, test_idle_second_pass_unbounded);
	tcase_add_test(ta, test_churn_between_passes_bounded);
	tcase_add_test(ta, test_churn_during_unbounded_falls_back);
	suite_add_tcase(s, ta);
	tcase_add_test(tas, test_async_complete);
	tcase_add_test(tas, test_async_complete_inline);
	tcase_add_test(tas, test_async_failure);
	tcase_add_test(tas, test_async_timeout_never_answers);
	tcase_add_test(tas, test_destroy_with_report_in_flight);
	tcase_add_test(tas, test_run_pass_reentry_busy);
	suite_add_tcase(s, tas);
	tcase_add_test(tt, test_background_thread);
	tcase_add_test(tt, test_background_thread_async_sink);
	tcase_add_test(tt, test_concurrent_alloc_free_with_passes);
	tcase_set_timeout(tt, 120);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return vqt_run_suite(suite());
}
