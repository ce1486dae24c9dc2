/* SPDX-License-Identifier: MIT */
/* Reporter internals shared by lib/reporter.c and lib/glue/reporter_thread.c. */
#ifndef VQCORE_REPORTER_PRIV_H
#define VQCORE_REPORTER_PRIV_H

#include "glue/glue.h"
#include "vqcore/reporter.h"

enum { RS_IDLE = 0, RS_REQUESTED, RS_ACTIVE };

/* In-flight report word: one of these sentinels, or the sink's result. */
#define IFL_NONE INT64_MIN
#define IFL_PENDING (INT64_MIN + 1)
#define IFL_TIMEDOUT (INT64_MIN + 2)

struct vq_reporter_cursor {
	bool active;      /* a pass has begun and not ended */
	bool list_open;   /* budget computed for @order */
	bool quiet;       /* no budget (adaptive, quiet source) */
	int order;        /* list being walked; < report order: final flush */
	uint64_t budget;  /* fills allowed on this list */
	uint64_t fills;   /* fills started on this list */
	uint64_t act_start;
	unsigned sg_n;    /* entries in the scatterlist */
};

struct vqcore_reporter {
	struct vqcore_report_source src;
	vqcore_report_fn report;
	void *opaque;
	unsigned order, capacity, budget_div, flags;
	uint64_t delay_ns, timeout_ns;
	void (*notify)(void *arg);
	void *notify_arg;
	void (*cancel)(void *opaque);

	struct vqcore_report_sg *sg;

	/* shared, lock-free */
	int state __vq_aligned(VQ_CACHELINE);
	uint64_t deadline;
	int64_t ifl;
	uint64_t ifl_deadline;
	int running;
	/* threads inside vqcore_reporter_complete(); destroy waits for 0 */
	unsigned completers;

	/* owned by the thread inside run_pass */
	struct vq_reporter_cursor cur __vq_aligned(VQ_CACHELINE);
	struct vqcore_reporter_pass pass;
	uint64_t act_mark;
	bool act_mark_valid;
	unsigned fail_streak;

	struct vqcore_reporter_stats stats; /* atomic counters */

	/* background thread (lib/glue/reporter_thread.c) */
	void *thread;
	void (*thread_notify)(void *thread);
	/* join the thread; with @release also free it (no notify after) */
	void (*thread_stop)(struct vqcore_reporter *r, bool release);
};

#endif
