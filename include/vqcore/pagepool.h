/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: page pool, a buddy allocator over an arena the caller owns,
 * with a Reported state per free block for free-page reporting.
 *
 * The arena is a range of addresses [base, base + size) that the pool
 * hands out in blocks of 2^order base pages (VQCORE_PAGEPOOL_PAGE bytes
 * each).  The pool never reads or writes the arena: all its metadata lives
 * in a per-page array allocated at creation, so the arena may be guest
 * memory, memory the host has just discarded, or not mapped at all (the
 * addresses may be guest-physical).
 *
 * Any arena size works: the pages are carved into maximal naturally aligned
 * blocks (alignment relative to @base).  Alloc and free are O(max_order);
 * there is no scan.  Each free list keeps its unreported blocks before its
 * reported ones: frees and failed reports go to the head, reported blocks
 * to the tail, so allocation prefers blocks the host still backs and the
 * reporter always finds the next unreported block at the head.
 *
 * The Reported flag follows Linux free page reporting: allocating,
 * splitting or merging a block clears it.
 *
 * Threading: every call is thread-safe (one lock per pool, held for
 * O(max_order) steps).  The report hook (see vqcore_reporter_new()) is
 * called with the lock held, as Linux calls page_reporting_notify_free()
 * under the zone lock.
 *
 * Lifecycle: vqcore_pagepool_destroy() waits for nothing.  Destroy the
 * reporter attached to the pool first (vqcore_reporter_destroy() removes
 * the free hook and puts back the blocks a pass has isolated), and let no
 * other thread be inside a pool call.
 */
#ifndef VQCORE_PAGEPOOL_H
#define VQCORE_PAGEPOOL_H

#include "vqcore/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of a base page in bytes. */
#define VQCORE_PAGEPOOL_PAGE 4096u
#define VQCORE_PAGEPOOL_PAGE_SHIFT 12
/** Largest max_order accepted (2^20 pages = 4 GiB blocks). */
#define VQCORE_PAGEPOOL_MAX_ORDER 20
/** Default max_order: 10 (4 MiB blocks), as Linux's MAX_ORDER - 1 on x86. */
#define VQCORE_PAGEPOOL_DEFAULT_ORDER 10

/**
 * struct vqcore_pagepool_opts - creation options (libbpf style).
 * @sz: sizeof(struct vqcore_pagepool_opts) (the sized-struct rule in vqcore/common.h).
 * @max_order: largest block order (1..VQCORE_PAGEPOOL_MAX_ORDER); 0 means
 *             VQCORE_PAGEPOOL_DEFAULT_ORDER.
 */
struct vqcore_pagepool_opts {
	size_t sz;
	unsigned max_order;
};

/**
 * struct vqcore_pagepool_stats - counters, read under the pool lock.
 * @sz: sizeof(struct vqcore_pagepool_stats), set by the caller (the sized-struct rule in vqcore/common.h).
 * @nr_free: free blocks per order (in the free lists).
 * @nr_reported: of those, blocks marked Reported.
 * @free_bytes: bytes in the free lists.
 * @reported_bytes: bytes in reported free blocks.
 * @isolated_bytes: bytes taken out by a reporter and not yet put back.
 * @allocated_bytes: bytes handed out to callers.
 * @activity: number of successful alloc and free calls so far (the
 *            reporter's churn detector; isolate/putback do not count).
 * @max_order: the pool's max order.
 */
struct vqcore_pagepool_stats {
	size_t sz;
	uint64_t nr_free[VQCORE_PAGEPOOL_MAX_ORDER + 1];
	uint64_t nr_reported[VQCORE_PAGEPOOL_MAX_ORDER + 1];
	uint64_t free_bytes;
	uint64_t reported_bytes;
	uint64_t isolated_bytes;
	uint64_t allocated_bytes;
	uint64_t activity;
	unsigned max_order;
};

struct vqcore_pagepool;
struct vqcore_report_source;

/**
 * vqcore_pagepool_new() - create a pool over [@base, @base + @size).
 * @base: first address of the arena; must be a multiple of
 *        VQCORE_PAGEPOOL_PAGE.  Never dereferenced.
 * @size: bytes; rounded down to a page multiple; at least one page, at
 *        most 2^32 - 1 pages, and @base + @size must not wrap.
 * @opts: options or NULL for defaults.
 * @out: receives the pool.  The whole arena starts free and unreported.
 *
 * Allocates the metadata (about 12 bytes per page) with the library
 * allocator; nothing is allocated afterwards.
 *
 * Return: 0, -EINVAL (bad alignment, size, order or opts->sz), -E2BIG (a
 * larger @opts with a non-zero tail), or -ENOMEM.
 * Threading: any thread.
 */
VQCORE_API int vqcore_pagepool_new(uint64_t base, uint64_t size,
				   const struct vqcore_pagepool_opts *opts,
				   struct vqcore_pagepool **out);

/**
 * vqcore_pagepool_destroy() - free the pool's metadata.  NULL is allowed.
 * @pool: pool; no reporter may be attached to it any more and no other
 *        thread may use it.
 */
VQCORE_API void vqcore_pagepool_destroy(struct vqcore_pagepool *pool);

/**
 * vqcore_pagepool_alloc() - allocate a block of 2^@order pages.
 * @pool: pool.  @order: 0..max_order.
 * @addr: receives the block's first address (aligned to its size relative
 *        to base).
 *
 * Takes the head of the smallest non-empty list >= @order (an unreported
 * block whenever that list has one) and splits it; the block handed out
 * and the split-off halves lose the Reported flag.
 *
 * Return: 0, -ENOMEM when no block is large enough, -EINVAL for a bad
 * order.  Threading: thread-safe.
 */
VQCORE_API int vqcore_pagepool_alloc(struct vqcore_pagepool *pool,
				     unsigned order, uint64_t *addr);

/**
 * vqcore_pagepool_free() - give back a block from vqcore_pagepool_alloc().
 * @pool: pool.  @addr: the address alloc returned.  @order: its order.
 *
 * Merges with free buddies (clearing Reported) and puts the result at the
 * head of its list, unreported.  When the result's order is at or above
 * the attached reporter's report order and its hook is armed, the hook
 * runs (under the pool lock) and is disarmed until the reporter's next
 * pass begins: one atomic state change at most, nothing on later frees.
 *
 * Return: 0, or -EINVAL when @addr/@order is not a block currently
 * allocated (outside the arena, misaligned, wrong order, double free).
 * Threading: thread-safe.
 */
VQCORE_API int vqcore_pagepool_free(struct vqcore_pagepool *pool,
				    uint64_t addr, unsigned order);

/**
 * vqcore_pagepool_get_stats() - copy the counters.
 * @pool: pool.
 * @st: receives them (consistent snapshot); the caller sets @st->sz first
 *      (the sized-struct rule in vqcore/common.h).
 *
 * Return: 0, -EINVAL (@pool or @st NULL, @st->sz too small) or -E2BIG (a
 * larger @st with a non-zero tail); @st is then unchanged.
 * Threading: thread-safe.
 */
VQCORE_API int vqcore_pagepool_get_stats(struct vqcore_pagepool *pool,
					  struct vqcore_pagepool_stats *st);

/**
 * vqcore_pagepool_activity() - the alloc+free counter alone (lock-free).
 * @pool: pool.
 * Return: number of successful alloc and free calls so far.
 */
VQCORE_API uint64_t vqcore_pagepool_activity(struct vqcore_pagepool *pool);

/**
 * vqcore_pagepool_report_source() - describe the pool as a report source.
 * @pool: pool.
 * @src: receives the ops table, the pool pointer and the max order, ready
 *       for vqcore_reporter_new().  The pool must outlive the reporter.
 */
VQCORE_API void vqcore_pagepool_report_source(struct vqcore_pagepool *pool,
					      struct vqcore_report_source *src);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_PAGEPOOL_H */
