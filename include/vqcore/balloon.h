/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: the virtio-balloon free page reporting queue as a report sink
 * (driver side).
 *
 * A balloon sink connects a free-page reporter (reporter.h) to the
 * reporting virtqueue of a virtio-balloon device (virtio 1.2 section 5.5,
 * VIRTIO_BALLOON_F_FREE_PAGE_REPORTING), as Linux's virtballoon_free_page_
 * report() does: each scatterlist the reporter hands over becomes ONE
 * buffer on the driver-side queue (drvq.h), one device-writable descriptor
 * per block, carrying the block's guest physical address.  The sink kicks
 * and returns VQCORE_REPORT_IN_PROGRESS; when the device hands the buffer
 * back (used), the sink calls vqcore_reporter_complete() and the blocks go
 * back to the allocator marked Reported.
 *
 * Address translation: a page pool's arena is named by the addresses the
 * pool was created with.  Give the sink @arena_base and @gpa_base (guest
 * physical address = addr - arena_base + gpa_base; equal values when the
 * pool is created directly over guest physical addresses), or a
 * @translate callback.
 *
 * Collecting the answer: either start the sink's thread
 * (vqcore_balloon_start(): waits on the queue's call eventfd, or polls
 * when there is none), or call vqcore_balloon_process() from your own
 * event loop when the call eventfd is readable.
 *
 * A device that never answers: set the reporter's @timeout_ns and its
 * @cancel to vqcore_balloon_cancel (vqcore_balloon_reporter_new() does
 * both).  The blocks then go back unreported.  The buffer itself stays in
 * the ring (a driver cannot take a published buffer back), so the sink
 * refuses further reports with -EBUSY until the device returns it (a late
 * answer is counted and otherwise ignored) or the queue is re-created.
 * Caution: a device that wakes up late may still discard those pages
 * after the guest reused them; a driver that times out should reset the
 * device (vhost-user: stop the queue or disconnect) before trusting it.
 *
 * Threading: vqcore_balloon_report(), vqcore_balloon_cancel() and
 * vqcore_balloon_process() may run on different threads at once (one lock
 * serialises every use of the driver queue); while the sink exists nobody
 * else may use that driver queue.
 *
 * Lifecycle:
 *  - vqcore_balloon_process() takes an answer off the ring under the lock
 *    and calls vqcore_reporter_complete() after releasing it.
 *    vqcore_balloon_cancel() waits for such a call to return, so once the
 *    reporter's cancel (timeout or destroy) returns, no thread of the sink
 *    touches the reporter: vqcore_reporter_destroy() may free it while
 *    the sink's thread is collecting.
 *  - Order: vqcore_reporter_destroy() first (it may call the sink), then
 *    vqcore_balloon_free() (joins the sink's thread), then the driver
 *    queue.  vqcore_balloon_free() does not wait for a reporter: one still
 *    reporting into a freed sink is a use after free.
 *  - After vqcore_balloon_free() an abandoned buffer may still be in the
 *    ring; the driver queue is the caller's again (collect it or free the
 *    queue).
 */
#ifndef VQCORE_BALLOON_H
#define VQCORE_BALLOON_H

#include "vqcore/common.h"
#include "vqcore/drvq.h"
#include "vqcore/reporter.h"

#ifdef __cplusplus
extern "C" {
#endif

/** virtio-balloon device id and feature bits (virtio 1.2 section 5.5.3). */
#define VQCORE_VIRTIO_ID_BALLOON 5
#define VQCORE_BALLOON_F_MUST_TELL_HOST 0
#define VQCORE_BALLOON_F_STATS_VQ 1
#define VQCORE_BALLOON_F_DEFLATE_ON_OOM 2
#define VQCORE_BALLOON_F_FREE_PAGE_HINT 3
#define VQCORE_BALLOON_F_PAGE_POISON 4
#define VQCORE_BALLOON_F_FREE_PAGE_REPORTING 5

/** Queue indexes when neither STATS_VQ nor FREE_PAGE_HINT is negotiated:
 * absent queues take no index, so reporting_vq is 2 (virtio 1.2 5.5.2). */
#define VQCORE_BALLOON_VQ_INFLATE 0
#define VQCORE_BALLOON_VQ_DEFLATE 1
#define VQCORE_BALLOON_VQ_REPORTING 2

/** Size of a balloon page and of every reported range's alignment. */
#define VQCORE_BALLOON_PAGE 4096u

/**
 * struct vqcore_balloon_config - how to create a balloon sink.
 * @sz: sizeof(struct vqcore_balloon_config) (the sized-struct rule in vqcore/common.h).
 * @dq: the reporting queue, driver side (for a vhost-user client:
 *      vqcore_vuc_queue(c, VQCORE_BALLOON_VQ_REPORTING)); must outlive
 *      the sink.  Its size bounds the blocks per report (no indirect
 *      tables are used).
 * @call_fd: the eventfd the device signals for that queue
 *      (vqcore_vuc_call_fd()), or -1: the sink's thread then polls.
 * @max_sg: largest scatterlist accepted (0: VQCORE_REPORTER_DEFAULT_CAPACITY);
 *      the reporter's capacity must not exceed it.
 * @arena_base: the source's address that maps to @gpa_base.
 * @gpa_base: guest physical address of @arena_base.
 * @translate: optional; replaces the base pair: put the guest physical
 *      address of [@addr, @addr + @len) in *@gpa and return 0, or return a
 *      negative errno (the report then fails and nothing is queued).
 * @translate_arg: its first argument.
 * @poll_ns: polling period of the sink's thread when @call_fd is -1
 *      (0: 1 ms).
 */
struct vqcore_balloon_config {
	size_t sz;
	struct vqcore_drvq *dq;
	int call_fd;
	unsigned max_sg;
	uint64_t arena_base;
	uint64_t gpa_base;
	int (*translate)(void *arg, uint64_t addr, uint64_t len, uint64_t *gpa);
	void *translate_arg;
	uint64_t poll_ns;
};

/**
 * struct vqcore_balloon_stats - totals since creation.
 * @sz: sizeof(struct vqcore_balloon_stats), set by the caller (the sized-struct rule in vqcore/common.h).
 * @reports: buffers queued.  @completed: buffers the device returned in
 * time.  @bytes: bytes in those.  @refused: reports refused before
 * queueing (translation, full queue, busy, broken).  @abandoned: buffers
 * given up on (reporter timeout).  @late: abandoned buffers the device
 * returned afterwards.
 */
struct vqcore_balloon_stats {
	size_t sz;
	uint64_t reports;
	uint64_t completed;
	uint64_t bytes;
	uint64_t refused;
	uint64_t abandoned;
	uint64_t late;
};

struct vqcore_balloon;

/**
 * vqcore_balloon_new() - create a sink over a driver-side reporting queue.
 * @cfg: configuration (copied).  @out: receives the sink.
 *
 * Return: 0, -EINVAL (missing queue, bad @cfg->sz or @max_sg), -E2BIG (a
 * larger @cfg with a non-zero tail), -ENOMEM.
 * Threading: any thread.
 */
VQCORE_API int vqcore_balloon_new(const struct vqcore_balloon_config *cfg,
				  struct vqcore_balloon **out);

/**
 * vqcore_balloon_free() - stop the thread and free the sink.  NULL is
 * allowed.
 * @b: sink.  Destroy the reporter attached to it first: this call joins
 *     the sink's own thread and waits for nothing else.
 */
VQCORE_API void vqcore_balloon_free(struct vqcore_balloon *b);

/**
 * vqcore_balloon_attach() - tell the sink which reporter it answers.
 * @b: sink.  @r: reporter created with vqcore_balloon_report as its report
 *     callback (directly or from a wrapper) and @b as its opaque, and
 *     vqcore_balloon_cancel as its @cancel when it has a timeout.
 *
 * Must be called before the reporter's first pass.
 * Return: 0, -EINVAL if @r is NULL.  Threading: before any report.
 */
VQCORE_API int vqcore_balloon_attach(struct vqcore_balloon *b,
				     struct vqcore_reporter *r);

/**
 * vqcore_balloon_reporter_new() - create a reporter that reports to @b.
 * @b: sink.  @src: the source (see vqcore_reporter_new()).
 * @opts: reporter options or NULL; @cancel is replaced by
 *     vqcore_balloon_cancel; @capacity (default 32) must not exceed the
 *     sink's @max_sg.
 * @out: receives the reporter, already attached to @b.
 *
 * Return: as vqcore_reporter_new(), or -EINVAL when the capacity exceeds
 * @max_sg.  Threading: any thread, once per sink.
 */
VQCORE_API int vqcore_balloon_reporter_new(struct vqcore_balloon *b,
					   const struct vqcore_report_source *src,
					   const struct vqcore_reporter_opts *opts,
					   struct vqcore_reporter **out);

/**
 * vqcore_balloon_report() - the report callback (a vqcore_report_fn).
 * @opaque: the sink.  @sg/@n: the blocks.
 *
 * Translates every block, adds one buffer of @n device-writable
 * descriptors and kicks.
 *
 * Return: VQCORE_REPORT_IN_PROGRESS (the answer comes through
 * vqcore_reporter_complete()), or, with nothing queued: -EINVAL (no
 * reporter attached, a block that is not 4 KiB aligned or longer than
 * 4 GiB - 1, a translation error), -E2BIG (@n > @max_sg), -ENOSPC (the
 * queue has fewer free descriptors than @n), -EBUSY (a report is in
 * flight or an abandoned one is still in the ring), -EIO (the driver
 * queue is broken).
 * Threading: the reporter's pass thread; any thread.
 */
VQCORE_API int vqcore_balloon_report(void *opaque,
				     const struct vqcore_report_sg *sg,
				     unsigned n);

/**
 * vqcore_balloon_cancel() - the reporter's @cancel callback.
 * @opaque: the sink.
 *
 * Marks the in-flight buffer abandoned: its late answer will not call
 * vqcore_reporter_complete(), and reports are refused until it comes back.
 * If vqcore_balloon_process() on another thread has just taken the answer
 * and is completing the report, waits until that call has returned: after
 * this, the sink never touches the reporter for that report.
 */
VQCORE_API void vqcore_balloon_cancel(void *opaque);

/**
 * vqcore_balloon_process() - collect used buffers and complete reports.
 * @b: sink.
 *
 * Collects everything the device returned, re-arms interrupts (event
 * index) and completes the in-flight report when its buffer is among
 * them.  Call it when the call eventfd is readable (after draining it), or
 * periodically.
 *
 * Return: the number of buffers collected (>= 0), or -EIO if the device
 * returned a buffer that was not in flight (the queue is broken; an
 * in-flight report is completed with -EIO).  Threading: any thread.
 */
VQCORE_API int vqcore_balloon_process(struct vqcore_balloon *b);

/**
 * vqcore_balloon_start() - run vqcore_balloon_process() on a thread of the
 * sink's own (hosted builds).
 * @b: sink.
 *
 * The thread waits on @call_fd (drains it, then processes) or polls every
 * @poll_ns when there is no call fd.
 *
 * Return: 0, -EBUSY if already started, -errno.
 */
VQCORE_API int vqcore_balloon_start(struct vqcore_balloon *b);

/**
 * vqcore_balloon_stop() - stop and join the thread (no-op if none).
 * @b: sink.
 */
VQCORE_API void vqcore_balloon_stop(struct vqcore_balloon *b);

/**
 * vqcore_balloon_get_stats() - copy the totals.
 * @b: sink.
 * @st: receives them; the caller sets @st->sz first (the sized-struct
 *      rule in vqcore/common.h).
 *
 * Return: 0, -EINVAL (@b or @st NULL, @st->sz too small) or -E2BIG (a
 * larger @st with a non-zero tail); @st is then unchanged.
 * Threading: any thread.
 */
VQCORE_API int vqcore_balloon_get_stats(struct vqcore_balloon *b,
					 struct vqcore_balloon_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_BALLOON_H */
