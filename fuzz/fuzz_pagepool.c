/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a page pool with a free-page reporter on top
 * (include/vqcore/pagepool.h, reporter.h).  The input chooses the pool
 * (size, max order), the reporter (report order, capacity, budget, fixed
 * or adaptive) and then a sequence of operations: alloc, free (of a block
 * it holds, or a bogus one: double free, wrong order, misaligned, outside
 * the arena), report passes whose sink succeeds, fails or answers later,
 * completions, explicit requests, and "settle" (quiet passes until the
 * reporter is done).  After every step the harness checks:
 *  - the byte counts add up: free + allocated + isolated = arena, the
 *    per-order free and reported counts match the byte totals, reported
 *    <= free in every order, nothing below the report order is reported;
 *  - allocated bytes equal the model's, every block handed out lies in
 *    the arena, is aligned to its size and overlaps no block held by the
 *    caller and no block the sink holds (no block both allocated and
 *    free);
 *  - every block the sink gets is in the arena, aligned, of an order >=
 *    the report order and held by nobody;
 *  - no more pages are marked Reported than the sink has taken (and
 *    not handed out again since);
 *  - bad frees are refused (-EINVAL) and change nothing;
 *  - after "settle" every free block of the report order or above is
 *    reported, and nothing is isolated;
 *  - at the end, allocating order 0 until the pool is empty hands out
 *    every page exactly once.
 *
 * Built two ways, like fuzz_ring.c: libFuzzer (VQCORE_LIBFUZZER) or a
 * standalone program running N generated inputs (CTest:
 * fuzz_pagepool_smoke).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define FUZZ_NAME "fuzz_pagepool"
#include "fuzz_common.h"

#define PAGE VQCORE_PAGEPOOL_PAGE
#define MAX_PAGES 1024
#define MAX_HELD 256

struct block {
	uint64_t addr;
	unsigned order;
};

static struct {
	uint64_t base, npages;
	unsigned max_order, rep_order;
	struct block held[MAX_HELD];
	unsigned nheld;
	/* owner of each page: 0 free (pool), 1 caller, 2 sink */
	uint8_t owner[MAX_PAGES];
	/* the host has the page: reported, not allocated since */
	uint8_t rep[MAX_PAGES];
	/* the sink's current scatterlist while a report is in progress */
	struct vqcore_report_sg sink[64];
	unsigned nsink;
	bool in_progress;
	bool sink_ok_always;
	struct in *in;
	struct vqcore_reporter *r;
	unsigned long reports;
} M;

static unsigned long nops, nbad, nreports, nsettles;

static uint64_t page_of(uint64_t addr)
{
	return (addr - M.base) / PAGE;
}

static void own(uint64_t addr, uint64_t len, uint8_t from, uint8_t to)
{
	for (uint64_t p = page_of(addr); p < page_of(addr) + len / PAGE; p++) {
		CHECK(M.owner[p] == from);
		M.owner[p] = to;
	}
}

/* A block from the pool: inside the arena, aligned, all pages free. */
static void check_block(uint64_t addr, uint64_t len)
{
	CHECK(addr >= M.base && (addr - M.base) % PAGE == 0);
	CHECK(len && !(len & (len - 1)) && len >= PAGE);
	CHECK(((addr - M.base) & (len - 1)) == 0);
	CHECK(page_of(addr) + len / PAGE <= M.npages);
}

/* The sink: succeeds, fails or answers later, as the input says. */
static int sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	uint8_t k = M.sink_ok_always ? 0 : get8(M.in);

	CHECK(opaque == &M);
	CHECK(!M.in_progress);
	CHECK(n >= 1 && n <= 64);
	M.reports++;
	nreports++;
	for (unsigned i = 0; i < n; i++) {
		check_block(sg[i].addr, sg[i].len);
		CHECK(sg[i].len >= (uint64_t)PAGE << M.rep_order);
		own(sg[i].addr, sg[i].len, 0, 2); /* held by nobody else */
	}
	switch (k % 4) {
	case 0:
	case 1:
		own_back:
		for (unsigned i = 0; i < n; i++) {
			own(sg[i].addr, sg[i].len, 2, 0);
			if (k % 4 != 3)
				memset(M.rep + page_of(sg[i].addr), 1, sg[i].len / PAGE);
		}
		return k % 4 == 3 ? -EIO : 0;
	case 2:
		memcpy(M.sink, sg, n * sizeof(*sg));
		M.nsink = n;
		M.in_progress = true;
		return VQCORE_REPORT_IN_PROGRESS;
	default:
		goto own_back;
	}
}

static void sink_done(int status)
{
	for (unsigned i = 0; i < M.nsink; i++) {
		own(M.sink[i].addr, M.sink[i].len, 2, 0);
		if (!status)
			memset(M.rep + page_of(M.sink[i].addr), 1, M.sink[i].len / PAGE);
	}
	M.nsink = 0;
	M.in_progress = false;
}

static void check_stats(struct vqcore_pagepool *pool)
{
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	uint64_t free_pages = 0, rep_pages = 0, held = 0, sinkp = 0, hostp = 0;

	vqcore_pagepool_get_stats(pool, &st);
	CHECK(st.max_order == M.max_order);
	for (unsigned o = 0; o <= VQCORE_PAGEPOOL_MAX_ORDER; o++) {
		CHECK(st.nr_reported[o] <= st.nr_free[o]);
		CHECK(o <= M.max_order || !st.nr_free[o]);
		CHECK(o >= M.rep_order || !st.nr_reported[o]);
		free_pages += st.nr_free[o] << o;
		rep_pages += st.nr_reported[o] << o;
	}
	CHECK(st.free_bytes == free_pages * PAGE);
	CHECK(st.reported_bytes == rep_pages * PAGE);
	for (unsigned i = 0; i < M.nheld; i++)
		held += 1ull << M.held[i].order;
	for (unsigned i = 0; i < M.nsink; i++)
		sinkp += M.sink[i].len / PAGE;
	CHECK(st.allocated_bytes == held * PAGE);
	CHECK(st.isolated_bytes == sinkp * PAGE);
	CHECK(st.free_bytes + st.allocated_bytes + st.isolated_bytes == M.npages * PAGE);
	/* a block marked Reported holds only pages the host has */
	for (uint64_t p = 0; p < M.npages; p++)
		hostp += M.owner[p] == 0 && M.rep[p];
	CHECK(rep_pages <= hostp);
	CHECK(vqcore_pagepool_activity(pool) == st.activity);
}

static void op_alloc(struct vqcore_pagepool *pool, unsigned order)
{
	uint64_t addr = 0;
	int ret = vqcore_pagepool_alloc(pool, order, &addr);

	if (order > M.max_order) {
		CHECK(ret == -EINVAL);
		return;
	}
	if (ret) {
		struct vqcore_pagepool_stats st = { .sz = sizeof(st) };

		CHECK(ret == -ENOMEM);
		/* no free block of that order or above */
		vqcore_pagepool_get_stats(pool, &st);
		for (unsigned o = order; o <= M.max_order; o++)
			CHECK(!st.nr_free[o]);
		return;
	}
	check_block(addr, (uint64_t)PAGE << order);
	own(addr, (uint64_t)PAGE << order, 0, 1);
	memset(M.rep + page_of(addr), 0, (size_t)1 << order);
	if (M.nheld == MAX_HELD) {
		/* keep the model bounded: give it straight back */
		own(addr, (uint64_t)PAGE << order, 1, 0);
		CHECK(vqcore_pagepool_free(pool, addr, order) == 0);
		return;
	}
	M.held[M.nheld++] = (struct block){ addr, order };
}

static void op_free(struct vqcore_pagepool *pool, struct in *in, uint8_t k)
{
	struct vqcore_pagepool_stats a = { .sz = sizeof(a) }, b = { .sz = sizeof(b) };
	uint64_t addr;
	unsigned order;
	int ret;

	if (M.nheld && !(k & 0x80)) {
		unsigned i = get8(in) % M.nheld;
		struct block bl = M.held[i];

		CHECK(vqcore_pagepool_free(pool, bl.addr, bl.order) == 0);
		own(bl.addr, (uint64_t)PAGE << bl.order, 1, 0);
		M.held[i] = M.held[--M.nheld];
		if (k & 0x40) {
			/* and once more: a double free */
			vqcore_pagepool_get_stats(pool, &a);
			CHECK(vqcore_pagepool_free(pool, bl.addr, bl.order) == -EINVAL);
			nbad++;
			vqcore_pagepool_get_stats(pool, &b);
			CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		}
		return;
	}
	/* a bogus block: somewhere in or around the arena, any order */
	addr = M.base + ((uint64_t)get8(in) << 8 | get8(in)) * (k & 0x20 ? 0x10 : PAGE) -
	       (k & 0x10 ? PAGE : 0);
	order = get8(in) % (VQCORE_PAGEPOOL_MAX_ORDER + 3);
	for (unsigned i = 0; i < M.nheld; i++)
		if (M.held[i].addr == addr && M.held[i].order == order)
			return; /* that one is valid: not a bogus free */
	vqcore_pagepool_get_stats(pool, &a);
	ret = vqcore_pagepool_free(pool, addr, order);
	nbad++;
	CHECK(ret == -EINVAL);
	vqcore_pagepool_get_stats(pool, &b);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static int run_pass(struct vqcore_reporter_pass *ps)
{
	int ret = vqcore_reporter_run_pass(M.r, ps);

	CHECK(ret == 0 || ret == VQCORE_REPORT_IN_PROGRESS || ret == -EIO);
	CHECK((ret == VQCORE_REPORT_IN_PROGRESS) == M.in_progress);
	CHECK(ps->done == (ret != VQCORE_REPORT_IN_PROGRESS));
	return ret;
}

/* Quiet passes with a sink that always succeeds, until the reporter asks
 * for no more: every free block of the report order or above must then be
 * reported. */
static void op_settle(struct vqcore_pagepool *pool)
{
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct vqcore_reporter_pass ps;
	int tries = 0;

	nsettles++;
	M.sink_ok_always = true;
	if (M.in_progress) {
		/* finish the suspended pass first: blocks split off by
		 * allocations after it walked past their order stay
		 * unreported until a later pass (as in Linux, allocations
		 * request nothing) */
		CHECK(vqcore_reporter_complete(M.r, 0) == 0);
		sink_done(0);
		CHECK(run_pass(&ps) == 0);
	}
	/* then fresh passes with no churn in between */
	do {
		CHECK(run_pass(&ps) == 0);
		CHECK(tries++ < 4096);
	} while (ps.more);
	M.sink_ok_always = false;
	vqcore_pagepool_get_stats(pool, &st);
	for (unsigned o = M.rep_order; o <= M.max_order; o++)
		CHECK(st.nr_reported[o] == st.nr_free[o]);
	CHECK(st.isolated_bytes == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct vqcore_pagepool *pool;
	struct vqcore_pagepool_opts po = { .sz = sizeof(po) };
	struct vqcore_reporter_opts ro = { .sz = sizeof(ro), .delay_ns = 1 };
	struct vqcore_report_source src;
	struct vqcore_reporter_pass ps;
	uint8_t a, b, c;
	unsigned steps = 0;

	if (size < 4)
		return 0;
	memset(&M, 0, sizeof(M));
	M.in = &in;
	a = get8(&in);
	b = get8(&in);
	c = get8(&in);
	M.base = (uint64_t)(a >> 4) << 32 | (uint64_t)(c & 0x7) << 12;
	M.npages = 1 + ((unsigned)b << 2 | (a & 3)) % MAX_PAGES;
	M.max_order = 1 + (a >> 2 & 3) * 3 + (c >> 3 & 1); /* 1..11 */
	po.max_order = M.max_order;
	if (vqcore_pagepool_new(M.base, M.npages * PAGE + (c & 0x80 ? 123 : 0), &po, &pool))
		abort();
	vqcore_pagepool_report_source(pool, &src);
	ro.order = 1 + (c >> 4 & 7) % M.max_order;
	ro.capacity = 1 + get8(&in) % 64;
	ro.budget_div = 1 + (c >> 6 & 1) * 15;
	ro.flags = c & 0x40 ? 0 : VQCORE_REPORTER_FIXED_BUDGET;
	if (vqcore_reporter_new(&src, sink, &M, &ro, &M.r))
		abort();
	M.rep_order = ro.order;
	check_stats(pool);

	while (in.n && steps++ < 512) {
		uint8_t k = get8(&in);

		nops++;
		switch (k & 7) {
		case 0:
		case 1:
		case 2:
			op_alloc(pool, (k >> 3) % (M.max_order + 2));
			break;
		case 3:
		case 4:
			op_free(pool, &in, k);
			break;
		case 5:
			if (M.in_progress && (k & 0x80)) {
				/* the answer arrives, then the pass resumes */
				int st = k & 0x40 ? -EIO : 0;

				CHECK(vqcore_reporter_complete(M.r, st) == 0);
				sink_done(st);
			} else if (!M.in_progress && (k & 0x80)) {
				CHECK(vqcore_reporter_complete(M.r, 0) == -ENOENT);
			}
			run_pass(&ps);
			break;
		case 6:
			vqcore_reporter_request(M.r);
			break;
		default:
			if (k & 0x80)
				op_settle(pool);
			else
				op_alloc(pool, 0);
			break;
		}
		check_stats(pool);
	}

	/* finish: answer a report still out, settle, then drain the pool */
	op_settle(pool);
	check_stats(pool);
	for (;;) {
		uint64_t addr;

		if (vqcore_pagepool_alloc(pool, 0, &addr))
			break;
		check_block(addr, PAGE);
		own(addr, PAGE, 0, 1);
	}
	for (uint64_t p = 0; p < M.npages; p++)
		CHECK(M.owner[p] == 1);
	vqcore_reporter_destroy(M.r);
	vqcore_pagepool_destroy(pool);
	return 0;
}

#ifndef VQCORE_LIBFUZZER
int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	static uint8_t buf[1024];
	uint64_t x = 0x853c49e6748fea9bull;

	fuzz_quiet_log();
	for (unsigned long it = 0; it < iters; it++) {
		size_t len = 4 + (it * 13) % (sizeof(buf) - 4);

		for (size_t i = 0; i < len; i++) {
			xorshift64(&x);
			buf[i] = (uint8_t)(x >> 8);
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_pagepool: %lu inputs, %lu operations, %lu bad frees refused, "
	       "%lu reports, %lu settles, no mismatch\n",
	       iters, nops, nbad, nreports, nsettles);
	return 0;
}
#endif
