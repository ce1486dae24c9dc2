/* SPDX-License-Identifier: MIT */
/* Balloon sink internals shared by lib/balloon.c and lib/glue/balloon_thread.c. */
#ifndef VQCORE_BALLOON_PRIV_H
#define VQCORE_BALLOON_PRIV_H

#include "glue/glue.h"
#include "vqcore/balloon.h"

/* Sink state, changed under @lock. */
enum {
	BS_IDLE = 0,      /* no buffer in the ring */
	BS_INFLIGHT,      /* one report's buffer in the ring */
	BS_ABANDONED,     /* the reporter gave up on it; it is still in the ring */
	BS_BROKEN,        /* the driver queue is broken */
};

struct vqcore_balloon {
	struct vqcore_drvq *dq;
	int call_fd;
	unsigned max_sg;
	uint64_t arena_base, gpa_base;
	int (*translate)(void *arg, uint64_t addr, uint64_t len, uint64_t *gpa);
	void *translate_arg;
	uint64_t poll_ns;

	struct vqcore_reporter *r;
	struct vq_lock lock;
	int state;
	/* vqcore_balloon_process() is between taking a report's answer
	 * (INFLIGHT -> IDLE) and vqcore_reporter_complete() returning;
	 * vqcore_balloon_cancel() waits for it to clear */
	int completing;
	uint64_t inflight_bytes;
	struct vqcore_sg *sgv; /* max_sg entries */

	struct vqcore_balloon_stats stats; /* atomic counters */

	/* background thread (lib/glue/balloon_thread.c) */
	void *thread;
	void (*thread_stop)(struct vqcore_balloon *b);
};

#endif
