/* SPDX-License-Identifier: MIT */
/*
 * reporterbench: the free-page reporter and its page pool.
 *
 *   BENCH reporter-overhead  pool alloc/free throughput, reporting on vs
 *                            off (alternating runs, median ratio on/off)
 *   BENCH reporter-return    time from freeing N GiB of a touched memfd
 *                            arena to the host having it back (the sink
 *                            punches holes; measured by st_blocks)
 *   BENCH reporter-idle      passes and time to report an idle pool,
 *                            adaptive budget vs Linux's fixed budget
 *
 * usage: reporterbench [gib (default 1)] [rounds (default 21)]
 *                      [overhead|idle|return (default: all)]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vqcore/os.h"
#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"
#include "bench.h"

#define PG VQCORE_PAGEPOOL_PAGE

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "reporterbench: %s: %s\n", what, vqcore_strerror(err));
	exit(1);
}

/* ---- overhead: same alloc/free sequence with and without a reporter ---- */

#define OV_BASE 0x100000000ull
#define OV_PAGES (1u << 18) /* 1 GiB of addresses (never touched) */
#define OV_LIVE 1024 /* ~25% of the pool live: few ENOMEM */
#define OV_OPS 500000

static int noop_sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	(void)opaque;
	(void)sg;
	(void)n;
	return 0;
}

/* One pool for every run (its metadata is warm); "on" attaches a reporter
 * with its background thread for the run.  Returns ops per second of wall
 * time, *cpu_ops ops per second of this thread's CPU time. */
static double overhead_run(struct vqcore_pagepool *p, uint64_t delay_ns,
			   bool reporting, uint64_t *reported, uint64_t *passes,
			   double *cpu_ops)
{
	struct vqcore_reporter *r = NULL;
	struct vqcore_reporter_opts o = { .sz = sizeof(o), .delay_ns = delay_ns };
	struct vqcore_report_source src;
	static uint64_t addr[OV_LIVE];
	static unsigned ord[OV_LIVE];
	unsigned live = 0, seed = 12345;
	uint64_t t0, t1, c0, c1;
	int err;

	if (reporting) {
		vqcore_pagepool_report_source(p, &src);
		err = vqcore_reporter_new(&src, noop_sink, NULL, &o, &r);
		if (!err)
			err = vqcore_reporter_start(r);
		if (err)
			die("reporter", err);
	}
	t0 = now_ns();
	c0 = cpu_ns();
	for (unsigned it = 0; it < OV_OPS; it++) {
		unsigned rnd = (unsigned)rand_r(&seed);

		if (live < OV_LIVE && (rnd & 1)) {
			/* half 4 KiB blocks, the rest 16 KiB .. 2 MiB */
			unsigned o2 = (rnd >> 1) % 16;
			unsigned order = o2 < 8 ? 0 : o2 - 6; /* 0, 2..9 */

			if (!vqcore_pagepool_alloc(p, order, &addr[live])) {
				ord[live] = order;
				live++;
			}
		} else if (live) {
			unsigned k = (rnd >> 1) % live;

			vqcore_pagepool_free(p, addr[k], ord[k]);
			addr[k] = addr[--live];
			ord[k] = ord[live];
		}
	}
	c1 = cpu_ns();
	t1 = now_ns();
	while (live--)
		vqcore_pagepool_free(p, addr[live], ord[live]);
	*cpu_ops = OV_OPS / ((double)(c1 - c0) / 1e9);
	*reported = 0;
	*passes = 0;
	if (r) {
		struct vqcore_reporter_stats st = { .sz = sizeof(st) };

		vqcore_reporter_get_stats(r, &st);
		*reported = st.blocks;
		*passes = st.passes;
		vqcore_reporter_destroy(r);
	}
	return OV_OPS / ((double)(t1 - t0) / 1e9);
}

static void bench_overhead(int rounds, uint64_t delay_ns)
{
	double ratio[64], wratio[64], off[64], on[64], coff, con;
	uint64_t rep = 0, passes = 0, rp, pp;
	struct vqcore_pagepool *p;
	int err;

	err = vqcore_pagepool_new(OV_BASE, (uint64_t)OV_PAGES * PG, NULL, &p);
	if (err)
		die("pagepool_new", err);
	overhead_run(p, delay_ns, false, &rp, &pp, &coff); /* warm up */
	for (int k = 0; k < rounds; k++) {
		/* alternate which one goes first */
		if (k & 1) {
			on[k] = overhead_run(p, delay_ns, true, &rp, &pp, &con);
			off[k] = overhead_run(p, delay_ns, false, &rp, &pp, &coff);
		} else {
			off[k] = overhead_run(p, delay_ns, false, &rp, &pp, &coff);
			on[k] = overhead_run(p, delay_ns, true, &rp, &pp, &con);
		}
		rep += rp;
		passes += pp;
		wratio[k] = on[k] / off[k];
		ratio[k] = con / coff;
	}
	vqcore_pagepool_destroy(p);
	/* ratio: per thread CPU time (immune to other processes taking the
	 * core; lock spinning still counts); wall_ratio: per wall time. */
	printf("BENCH reporter-overhead delay_ms=%.0f ops=%u rounds=%d off_mops=%.2f "
	       "on_mops=%.2f passes_per_run=%.1f reported_blocks_per_run=%.0f wall_ratio=%.3f "
	       "ratio=%.3f\n",
	       delay_ns / 1e6, OV_OPS, rounds, median(off, rounds) / 1e6,
	       median(on, rounds) / 1e6, (double)passes / rounds, (double)rep / rounds,
	       median(wratio, rounds), median(ratio, rounds));
}

/* ---- return: free N GiB of a touched memfd and wait for st_blocks ---- */

struct punch {
	struct vqcore_memfd *m;
	uint64_t errors;
};

static int punch_sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct punch *pu = opaque;
	uintptr_t base = (uintptr_t)pu->m->hva;

	for (unsigned k = 0; k < n; k++) {
		int err = vqcore_discard(pu->m->fd, sg[k].addr - base,
					 (void *)(uintptr_t)sg[k].addr, sg[k].len,
					 VQCORE_DISCARD_PUNCH);
		if (err) {
			pu->errors++;
			return err;
		}
	}
	return 0;
}

static void bench_return(uint64_t gib, uint64_t delay_ns, unsigned flags)
{
	uint64_t size = gib << 30, nblk, t0, t1 = 0, *addr;
	struct vqcore_memfd m;
	struct vqcore_pagepool *p;
	struct vqcore_reporter *r;
	struct vqcore_report_source src;
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .delay_ns = delay_ns, .flags = flags,
	};
	struct vqcore_reporter_stats st = { .sz = sizeof(st) };
	struct punch pu = { &m, 0 };
	int64_t before, after = -1;
	int err;

	err = vqcore_memfd_map("reporterbench", size, 0, &m);
	if (err)
		die("memfd_map", err);
	err = vqcore_pagepool_new((uintptr_t)m.hva, size, NULL, &p);
	if (err)
		die("pagepool_new", err);
	vqcore_pagepool_report_source(p, &src);
	err = vqcore_reporter_new(&src, punch_sink, &pu, &o, &r);
	if (!err)
		err = vqcore_reporter_start(r);
	if (err)
		die("reporter", err);
	/* the guest takes all memory in 4 MiB blocks and touches it */
	nblk = size >> (VQCORE_PAGEPOOL_PAGE_SHIFT + VQCORE_PAGEPOOL_DEFAULT_ORDER);
	addr = calloc(nblk, sizeof(*addr));
	for (uint64_t k = 0; k < nblk; k++) {
		err = vqcore_pagepool_alloc(p, VQCORE_PAGEPOOL_DEFAULT_ORDER, &addr[k]);
		if (err)
			die("alloc", err);
		memset((void *)(uintptr_t)addr[k], 0x5a,
		       (size_t)PG << VQCORE_PAGEPOOL_DEFAULT_ORDER);
	}
	before = vqcore_fd_allocated(m.fd);
	/* free it all; the clock runs until the host holds < 1% */
	t0 = now_ns();
	for (uint64_t k = 0; k < nblk; k++)
		vqcore_pagepool_free(p, addr[k], VQCORE_PAGEPOOL_DEFAULT_ORDER);
	for (;;) {
		after = vqcore_fd_allocated(m.fd);
		if (after >= 0 && (uint64_t)after <= size / 100) {
			t1 = now_ns();
			break;
		}
		if (now_ns() - t0 > 120000000000ull)
			break;
		sleep_ns(100000);
	}
	/* let the last pass end so the counts are complete */
	for (uint64_t d; t1 && vqcore_reporter_next_deadline(r, &d);)
		sleep_ns(200000);
	vqcore_reporter_get_stats(r, &st);
	if (!t1) {
		printf("BENCH reporter-return gib=%llu FAILED allocated=%lld\n",
		       (unsigned long long)gib, (long long)after);
	} else {
		double s = (double)(t1 - t0) / 1e9;

		printf("BENCH reporter-return gib=%llu delay_ms=%.0f budget=%s "
		       "seconds=%.3f gib_s=%.2f passes=%llu reports=%llu "
		       "allocated_before_mib=%lld allocated_after_mib=%lld punch_errors=%llu\n",
		       (unsigned long long)gib, delay_ns / 1e6,
		       flags & VQCORE_REPORTER_FIXED_BUDGET ? "fixed" : "adaptive",
		       s, (double)gib / s, (unsigned long long)st.passes,
		       (unsigned long long)st.reports, (long long)(before >> 20),
		       (long long)(after >> 20), (unsigned long long)pu.errors);
	}
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
	free(addr);
	vqcore_memfd_unmap(&m);
}

/* ---- idle: passes to report everything, adaptive vs fixed ---- */

#define ID_PAGES (1u << 22) /* 16 GiB of addresses (never touched) */

static double idle_run(unsigned flags, uint64_t delay_ns, uint64_t *passes)
{
	struct vqcore_pagepool *p;
	struct vqcore_reporter *r;
	struct vqcore_report_source src;
	struct vqcore_reporter_opts o = {
		.sz = sizeof(o), .delay_ns = delay_ns, .flags = flags,
	};
	struct vqcore_reporter_stats st = { .sz = sizeof(st) };
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	uint64_t *addr, n = 0, t0, t1;
	int err;

	err = vqcore_pagepool_new(OV_BASE, (uint64_t)ID_PAGES * PG, NULL, &p);
	if (err)
		die("pagepool_new", err);
	vqcore_pagepool_report_source(p, &src);
	err = vqcore_reporter_new(&src, noop_sink, NULL, &o, &r);
	if (!err)
		err = vqcore_reporter_start(r);
	if (err)
		die("reporter", err);
	addr = calloc(ID_PAGES >> 9, sizeof(*addr));
	while (vqcore_pagepool_alloc(p, 9, &addr[n]) == 0)
		n++;
	t0 = now_ns();
	for (uint64_t k = 0; k < n; k++)
		vqcore_pagepool_free(p, addr[k], 9);
	for (;;) {
		vqcore_pagepool_get_stats(p, &ps);
		if (ps.reported_bytes == ps.free_bytes)
			break;
		sleep_ns(200000);
	}
	t1 = now_ns();
	/* let the last pass end so its count is in */
	for (;;) {
		uint64_t d;

		if (!vqcore_reporter_next_deadline(r, &d))
			break;
		sleep_ns(200000);
	}
	vqcore_reporter_get_stats(r, &st);
	*passes = st.passes;
	vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(p);
	free(addr);
	return (double)(t1 - t0) / 1e9;
}

/* ratio = fixed-budget time / adaptive time (higher: adaptive faster). */
static void bench_idle(int rounds)
{
	const uint64_t delay = 10000000; /* 10 ms */
	double ta[64], tf[64], ratio[64];
	uint64_t pa = 0, pf = 0;

	for (int k = 0; k < rounds; k++) {
		ta[k] = idle_run(0, delay, &pa);
		tf[k] = idle_run(VQCORE_REPORTER_FIXED_BUDGET, delay, &pf);
		ratio[k] = tf[k] / ta[k];
	}
	printf("BENCH reporter-idle gib=16 delay_ms=10 adaptive_passes=%llu "
	       "adaptive_s=%.3f fixed_passes=%llu fixed_s=%.3f "
	       "at_2s_delay_adaptive_s=%.0f at_2s_delay_fixed_s=%.0f ratio=%.2f\n",
	       (unsigned long long)pa, median(ta, rounds),
	       (unsigned long long)pf, median(tf, rounds),
	       2.0 * (double)pa, 2.0 * (double)pf, median(ratio, rounds));
}

int main(int argc, char **argv)
{
	uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 21;

	if (rounds < 1 || rounds > 64 || !gib)
		return 2;
	const char *only = argc > 3 ? argv[3] : "";

	if (!*only || !strcmp(only, "overhead")) {
		/* 5 ms: a pass every few thousand ops (stress); 2 s: Linux's */
		bench_overhead(rounds, 5000000);
		bench_overhead(rounds, VQCORE_REPORTER_DEFAULT_DELAY_NS);
	}
	if (!*only || !strcmp(only, "idle"))
		bench_idle(rounds < 3 ? rounds : 3);
	if (!*only || !strcmp(only, "return")) {
		bench_return(gib, 10000000, 0);
		bench_return(gib, 10000000, VQCORE_REPORTER_FIXED_BUDGET);
		bench_return(gib, VQCORE_REPORTER_DEFAULT_DELAY_NS, 0);
	}
	return 0;
}
