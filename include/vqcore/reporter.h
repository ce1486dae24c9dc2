/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: free-page reporter engine, modelled on Linux free page
 * reporting (mm/page_reporting.c) and made faster on an idle pool.
 *
 * The engine knows neither the allocator nor the host: it takes free
 * blocks from a *source* (an ops table; vqcore_pagepool_report_source()
 * gives the reference one) and hands them, a scatterlist of at most
 * @capacity blocks at a time, to a *report callback* (the sink: a
 * virtio-balloon reporting queue, or a direct hole punch).
 *
 * Life of a pass:
 *  - Trigger: freeing a block of order >= the report order calls
 *    vqcore_reporter_request(): one atomic IDLE -> REQUESTED change, and on
 *    that transition only a notify callback.  A pass is due @delay_ns later.
 *  - Walk: each order from the source's max order down to the report order;
 *    unreported blocks are isolated into the scatterlist; when it is full
 *    the report callback runs (no lock held), then the blocks go back marked
 *    Reported (success) or unreported (failure).  Blocks left in a partial
 *    scatterlist at the end of one order are carried into the next; the
 *    last partial scatterlist is reported at the end of the pass.
 *  - Budget: a list gets DIV_ROUND_UP(nr_free, capacity * budget_div)
 *    scatterlist fills per pass (Linux: capacity 32, divisor 16).  If it
 *    runs out while unreported blocks remain, another pass is requested.
 *  - Adaptive budget (default on; VQCORE_REPORTER_FIXED_BUDGET turns it
 *    off): if the source's activity counter (allocs + frees) has not moved
 *    since the end of the previous pass, the pool is quiet and this pass has
 *    no budget: it reports every unreported block.  If the counter moves
 *    during such a pass, the pass falls back to the Linux budget at once.
 *    So an idle pool is fully reported within two passes (Linux needs
 *    about 16 passes, ~30 s at 2 s each), and under churn each pass is
 *    bounded as in Linux (plus at most one fill per list).
 *  - Failure: a report callback that fails (< 0) stops the pass; its blocks
 *    go back unreported; nothing is lost; a retry pass is requested after
 *    the delay, doubled per consecutive failure up to 64x.
 *  - Putting blocks back never requests a pass.
 *
 * Asynchronous sinks: the report callback may return
 * VQCORE_REPORT_IN_PROGRESS and later call vqcore_reporter_complete() with
 * the device's answer (from any thread).  Meanwhile the pass is suspended
 * and the scatterlist (owned by the engine) must stay untouched.  With
 * @timeout_ns set, a report not completed in time is abandoned: the
 * @cancel callback runs (the sink must then ignore the late answer and
 * not call vqcore_reporter_complete() for it), and the blocks go back
 * unreported.  Caution: if the device may still act on an abandoned
 * request (discard pages that are by then reused), do not set a timeout,
 * or make @cancel guarantee it cannot.
 *
 * Driving: either start the background thread (vqcore_reporter_start(),
 * hosted builds), or call vqcore_reporter_run_pass() from your own event
 * loop when vqcore_reporter_next_deadline() says so; the @notify callback
 * tells the loop that the deadline changed.
 *
 * Threading: vqcore_reporter_request() and vqcore_reporter_complete() are
 * safe from any thread at any time (lock-free).  vqcore_reporter_run_pass()
 * may be called from any thread; concurrent calls get -EBUSY.
 *
 * Lifecycle:
 *  - request(), complete(), next_deadline() and get_stats() may race with
 *    each other and with a pass.  Of these only complete() may race with
 *    vqcore_reporter_destroy() (for the report in flight; destroy waits
 *    for it), and the source's free hook, which destroy removes first
 *    (under the source's lock).  Anything else must have returned before
 *    destroy starts; nothing may be called once it has returned.
 *  - vqcore_reporter_destroy() removes the free hook (no new request from
 *    frees), stops and joins the background thread, waits for a pass the
 *    caller runs on another thread to return, then settles the report in
 *    flight: one not answered yet is abandoned (@cancel runs,
 *    its blocks go back unreported); one already answered is finished.
 *    It then waits until every thread inside vqcore_reporter_complete()
 *    has left (a completer may still be notifying after its answer
 *    landed), and frees.  Waits are bounded by one notify callback.
 *  - A pass run by the caller (vqcore_reporter_run_pass()) on another
 *    thread may be in progress when destroy starts (destroy waits; the
 *    report callback must not wait for destroy), but no pass may start
 *    after destroy has started.
 *  - @cancel is the sink's handshake: when it returns, the sink must
 *    never call vqcore_reporter_complete() for that report, and must not
 *    be about to (vqcore_balloon_cancel() waits for a completion that
 *    already took the answer).
 */
#ifndef VQCORE_REPORTER_H
#define VQCORE_REPORTER_H

#include "vqcore/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct vqcore_report_sg - one reported block.
 * @addr: its first address (as the source names it: for a page pool, an
 *        address in the pool's arena).
 * @len: its length in bytes.
 */
struct vqcore_report_sg {
	uint64_t addr;
	uint64_t len;
};

/**
 * struct vqcore_report_source_ops - how the engine reaches an allocator.
 * @isolate: take up to @max unreported free blocks of @order out of the
 *           free lists (the next ones the engine has not seen: for a list
 *           kept "unreported first", its head), describe them in @sg and
 *           return how many.  Fewer than @max means no more now.
 * @putback: return @n blocks isolated earlier, marked Reported if
 *           @reported, else unreported.  Must not request a pass.
 * @nr_free: free blocks of @order (reported or not).
 * @nr_unreported: free blocks of @order not marked Reported.
 * @activity: optional; a counter that moves on every alloc and free (not
 *            on isolate/putback).  NULL disables the adaptive budget.
 * @set_hook: optional; make every free that leaves a free block of order
 *            >= @order call @hook(@arg) (without allocator locks held), or
 *            stop calling it when @hook is NULL.  Stopping must wait for
 *            hook calls already running.
 *
 * All ops are called without engine locks and may take the allocator's.
 */
struct vqcore_report_source_ops {
	unsigned (*isolate)(void *src, unsigned order,
			    struct vqcore_report_sg *sg, unsigned max);
	void (*putback)(void *src, const struct vqcore_report_sg *sg,
			unsigned n, bool reported);
	uint64_t (*nr_free)(void *src, unsigned order);
	uint64_t (*nr_unreported)(void *src, unsigned order);
	uint64_t (*activity)(void *src);
	void (*set_hook)(void *src, unsigned order, void (*hook)(void *arg),
			 void *arg);
	void (*arm_hook)(void *src);
};

/**
 * struct vqcore_report_source - an allocator seen by the engine.
 * @ops: its ops.  @src: first argument to every op.
 * @max_order: its largest block order.
 */
struct vqcore_report_source {
	const struct vqcore_report_source_ops *ops;
	void *src;
	unsigned max_order;
};

/** Report callback return: the sink took the scatterlist and will call
 * vqcore_reporter_complete() later. */
#define VQCORE_REPORT_IN_PROGRESS 1

/**
 * typedef vqcore_report_fn - the sink.
 * @opaque: from vqcore_reporter_new().
 * @sg/@n: 1..capacity blocks; valid until the report is finished.
 *
 * Return: 0 when the host has the blocks, < 0 on failure (the blocks stay
 * in the guest, unreported), or VQCORE_REPORT_IN_PROGRESS.
 * Called from the thread running the pass, no engine or pool lock held.
 */
typedef int (*vqcore_report_fn)(void *opaque, const struct vqcore_report_sg *sg,
				unsigned n);

/** vqcore_reporter_opts.flags: Linux's fixed budget only (no adaptation). */
#define VQCORE_REPORTER_FIXED_BUDGET 0x1u

/** Defaults (Linux values where Linux has one). */
#define VQCORE_REPORTER_DEFAULT_ORDER 9 /* 2 MiB, pageblock_order on x86 */
#define VQCORE_REPORTER_DEFAULT_CAPACITY 32
#define VQCORE_REPORTER_DEFAULT_BUDGET_DIV 16
#define VQCORE_REPORTER_DEFAULT_DELAY_NS 2000000000ull
#define VQCORE_REPORTER_MAX_CAPACITY 4096

/**
 * struct vqcore_reporter_opts - options (libbpf style; zero = default).
 * @sz: sizeof(struct vqcore_reporter_opts) (the sized-struct rule in vqcore/common.h).
 * @order: lowest order reported (default 9, or the source's max order if
 *         smaller).  Order 0 cannot be asked for (0 means default).
 * @capacity: scatterlist entries (default 32, max 4096).
 * @budget_div: fills per list per pass = DIV_ROUND_UP(nr_free,
 *              capacity * budget_div) (default 16).
 * @delay_ns: time from a request to its pass (default 2 s; ask for 1 to
 *            get "as soon as possible").
 * @timeout_ns: asynchronous report timeout (0 = wait forever).
 * @flags: VQCORE_REPORTER_*.
 * @notify: optional; called from the freeing thread (with the source's
 *          lock held: it must not call into the source) or the completing
 *          thread when the deadline moves earlier: on an IDLE -> REQUESTED
 *          change and on vqcore_reporter_complete().  Keep it short: wake a
 *          thread, write an eventfd.
 * @notify_arg: its argument.
 * @cancel: optional; called with the sink's @opaque when an in-progress
 *          report is abandoned (timeout, or destroy).
 */
struct vqcore_reporter_opts {
	size_t sz;
	unsigned order;
	unsigned capacity;
	unsigned budget_div;
	unsigned flags;
	uint64_t delay_ns;
	uint64_t timeout_ns;
	void (*notify)(void *arg);
	void *notify_arg;
	void (*cancel)(void *opaque);
};

/**
 * struct vqcore_reporter_pass - what one pass did (so far).
 * @reports: report callbacks made.  @failed: of those, failed or timed out.
 * @blocks/@bytes: reported successfully.
 * @unbounded: the pass started with no budget (quiet source).
 * @fell_back: it started unbounded and fell back to the budget (churn).
 * @more: the budget ran out (or frees arrived): another pass is requested.
 * @done: the pass has ended (false while a report is in progress).
 */
struct vqcore_reporter_pass {
	uint64_t reports;
	uint64_t failed;
	uint64_t blocks;
	uint64_t bytes;
	bool unbounded;
	bool fell_back;
	bool more;
	bool done;
};

/**
 * struct vqcore_reporter_stats - totals since creation.
 * @sz: sizeof(struct vqcore_reporter_stats), set by the caller (the sized-struct rule in vqcore/common.h).
 */
struct vqcore_reporter_stats {
	size_t sz;
	uint64_t requests;         /* IDLE -> REQUESTED transitions */
	uint64_t passes;           /* passes ended */
	uint64_t unbounded_passes; /* of which started unbounded */
	uint64_t budget_passes;    /* of which ran out of budget */
	uint64_t reports;          /* report callbacks */
	uint64_t failed_reports;   /* failed, timed out or cancelled */
	uint64_t timeouts;
	uint64_t blocks;           /* blocks reported successfully */
	uint64_t bytes;
};

struct vqcore_reporter;

/**
 * vqcore_reporter_new() - create a reporter over @src.
 * @src: the source (copied); it must outlive the reporter.
 * @report: the sink.  @opaque: its argument.
 * @opts: options or NULL.
 * @out: receives the reporter, state IDLE.
 *
 * Installs the source's free hook (when it has one).  The scatterlist is
 * allocated here, never during passes.
 *
 * Return: 0, -EINVAL (missing ops or callback, bad opts), -E2BIG (a larger
 * @opts with a non-zero tail), -ENOMEM.
 * Threading: any thread; one reporter per source.
 */
VQCORE_API int vqcore_reporter_new(const struct vqcore_report_source *src,
				   vqcore_report_fn report, void *opaque,
				   const struct vqcore_reporter_opts *opts,
				   struct vqcore_reporter **out);

/**
 * vqcore_reporter_destroy() - stop the thread, remove the free hook,
 * abandon a report in progress (@cancel, blocks back unreported), free.
 * @r: reporter or NULL.
 *
 * Safe while a sink thread completes the report in flight, and while a
 * pass started earlier runs on another thread: destroy waits until that
 * vqcore_reporter_complete() or vqcore_reporter_run_pass() has returned
 * (see "Lifecycle").  No pass may be started once destroy has begun.
 * Destroy it before its source and before its sink.
 */
VQCORE_API void vqcore_reporter_destroy(struct vqcore_reporter *r);

/**
 * vqcore_reporter_request() - ask for a pass after the delay.
 * @r: reporter.
 *
 * The source's free hook; also callable directly.  Cheap when a pass is
 * already requested (one load).  Lock-free, any thread.
 */
VQCORE_API void vqcore_reporter_request(struct vqcore_reporter *r);

/**
 * vqcore_reporter_run_pass() - run (or resume) a pass now.
 * @r: reporter.
 * @out: optional; receives what the pass did so far.
 *
 * Runs whatever the state (an explicit pass on an IDLE reporter is
 * allowed).  If a report is in progress it first finishes it (completed,
 * or timed out), then continues the same pass.
 *
 * Return: 0 when the pass ended, VQCORE_REPORT_IN_PROGRESS when it is
 * suspended on an asynchronous report, -EBUSY when another thread is in
 * vqcore_reporter_run_pass(), or the sink's negative error (the pass ended
 * early; nothing lost; a retry is requested).  -ETIMEDOUT when a report
 * timed out.
 */
VQCORE_API int vqcore_reporter_run_pass(struct vqcore_reporter *r,
					struct vqcore_reporter_pass *out);

/**
 * vqcore_reporter_next_deadline() - when should the next pass run?
 * @r: reporter.
 * @deadline_ns: receives a CLOCK_MONOTONIC time in ns (may be in the
 *               past: run now), or UINT64_MAX: wait for @notify.
 *
 * Return: true when something is pending (a requested pass, a report in
 * progress or completed); false when idle (@deadline_ns = UINT64_MAX).
 * Lock-free, any thread.
 */
VQCORE_API bool vqcore_reporter_next_deadline(struct vqcore_reporter *r,
					      uint64_t *deadline_ns);

/**
 * vqcore_reporter_complete() - finish an in-progress report.
 * @r: reporter.  @status: 0 success, < 0 failure.
 *
 * Records the answer and calls @notify; the pass continues at the next
 * vqcore_reporter_run_pass() (the background thread does it at once).
 *
 * Return: 0, -ENOENT if no report is in progress (none was submitted, or
 * it timed out and was abandoned: the answer is ignored), -ECANCELED if
 * the timeout is being handled right now (also ignored).  Lock-free, any
 * thread.  Call it once per report.  It may race with
 * vqcore_reporter_destroy(), which waits for it to return; it must not be
 * called after @cancel returned for the report, nor after destroy.
 */
VQCORE_API int vqcore_reporter_complete(struct vqcore_reporter *r, int status);

/**
 * vqcore_reporter_get_stats() - copy the totals (each counter is read
 * atomically; the set is not a snapshot).
 * @r: reporter.
 * @st: receives them; the caller sets @st->sz first (the sized-struct
 *      rule in vqcore/common.h).
 *
 * Return: 0, -EINVAL (@r or @st NULL, @st->sz too small) or -E2BIG (a
 * larger @st with a non-zero tail); @st is then unchanged.
 * Threading: any thread.
 */
VQCORE_API int vqcore_reporter_get_stats(struct vqcore_reporter *r,
					  struct vqcore_reporter_stats *st);

/**
 * vqcore_reporter_start() - run passes on a background thread (hosted).
 * @r: reporter.
 *
 * The thread sleeps until a request, waits the delay, runs the pass, and
 * resumes suspended passes as soon as vqcore_reporter_complete() is
 * called (or at the timeout).
 *
 * Return: 0, -EBUSY if already started, -errno from pthread.
 */
VQCORE_API int vqcore_reporter_start(struct vqcore_reporter *r);

/**
 * vqcore_reporter_stop() - stop and join the background thread (no-op if
 * none).  A suspended pass stays suspended.  Not from the thread itself.
 * @r: reporter.
 */
VQCORE_API void vqcore_reporter_stop(struct vqcore_reporter *r);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_REPORTER_H */
