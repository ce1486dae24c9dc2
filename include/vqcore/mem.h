/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: guest memory table.
 *
 * A table maps guest physical addresses (GPAs) to host virtual addresses
 * through a set of non-overlapping regions.  The device reaches guest memory
 * only through it: translation to host pointers or iovecs, bounded copies in
 * and out, and dirty logging for live migration.
 *
 * Threading: lookups (translate, read, write, log) may run on any number of
 * threads at once.  Changes (add, remove, set_log) must not run concurrently
 * with each other or with lookups; a frontend that changes the table stops
 * or serialises its queues first.  Every change bumps the generation, which
 * queues compare once per batch to know that cached ring pointers may be
 * stale.
 *
 * Lifecycle:
 *  - Any thread, at any time, even while the table changes:
 *    vqcore_mem_count(), vqcore_mem_generation() and vqcore_mem_logging().
 *    They return a snapshot (atomic loads); it may be stale at once.
 *  - Every other lookup (translate, read, write, get, find,
 *    region_serial, log_write) must not overlap a change (add, remove,
 *    clear, set_log).  The library takes no lock on this path: the owner
 *    of the table pauses its users around a change (the vhost-user
 *    backend calls vqcore_vu_ops.mem_changed before and after).
 *  - vqcore_mem_free() waits for nothing: free the queues that use the
 *    table first, and let no thread call into it any more.
 */
#ifndef VQCORE_MEM_H
#define VQCORE_MEM_H

#include "vqcore/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Maximum number of regions in one table (vhost-user allows 509 slots). */
#define VQCORE_MEM_MAX_REGIONS 512

/** Size of a dirty-log page: one bit in the log covers this many bytes. */
#define VQCORE_LOG_PAGE 4096u

/**
 * struct vqcore_mem_region - one guest memory region.
 * @gpa: first guest physical address of the region.
 * @size: size in bytes; must be > 0.
 * @hva: host address at which the region's first byte is mapped.
 * @fd: the file that backs it, or -1.  Not owned by the table; kept so that
 *      callers (balloon, frontends) can punch holes or re-map.
 * @fd_offset: offset of the region's first byte in @fd.
 *
 * The table copies the struct; it never maps, unmaps or closes anything.
 */
struct vqcore_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	int fd;
	uint64_t fd_offset;
};

struct vqcore_mem;

/**
 * vqcore_mem_new() - create an empty memory table.
 *
 * Return: the table, or NULL when out of memory.
 */
VQCORE_API struct vqcore_mem *vqcore_mem_new(void);

/**
 * vqcore_mem_free() - destroy a table.  NULL is allowed.
 * @mem: table; no queue may use it any more and no thread may be inside a
 *     call on it (nothing is waited for).
 */
VQCORE_API void vqcore_mem_free(struct vqcore_mem *mem);

/**
 * vqcore_mem_add() - insert one region.
 * @mem: table.
 * @r: region description (copied).
 *
 * Other regions and translations into them are left untouched; cached ring
 * pointers into other regions stay valid (see vqcore_mem_region_serial()).
 *
 * Return: 0, or
 *  -VQCORE_E_ZERO_LEN if @r->size is 0,
 *  -VQCORE_E_WRAP if gpa + size wraps past 2^64 (or hva + size does),
 *  -VQCORE_E_OFFSET_OVERFLOW if fd_offset + size overflows,
 *  -VQCORE_E_OFFSET_OVERFLOW also if fd_offset + size exceeds INT64_MAX
 *   (an off_t cannot express it),
 *  -VQCORE_E_OVERLAP if it overlaps an existing region,
 *  -ENOSPC if the table already holds VQCORE_MEM_MAX_REGIONS,
 *  -VQCORE_E_LOG_RANGE if a dirty log is set and does not cover the new
 *   region's last page,
 *  -EINVAL if @r->hva is NULL.
 */
VQCORE_API int vqcore_mem_add(struct vqcore_mem *mem,
			      const struct vqcore_mem_region *r);

/**
 * vqcore_mem_remove() - remove the region that starts at @gpa.
 * @mem: table.
 * @gpa: first address of the region.
 * @size: its size, which must match.
 * @out: if not NULL, receives the removed region (so the caller can unmap).
 *
 * Return: 0, or -ENOENT if no region has exactly that start and size.
 */
VQCORE_API int vqcore_mem_remove(struct vqcore_mem *mem, uint64_t gpa,
				 uint64_t size, struct vqcore_mem_region *out);

/**
 * vqcore_mem_clear() - remove every region (and the dirty log).
 * @mem: table.
 */
VQCORE_API void vqcore_mem_clear(struct vqcore_mem *mem);

/**
 * vqcore_mem_count() - number of regions.
 * @mem: table.
 *
 * Any thread, also while another one changes the table (a snapshot).
 */
VQCORE_API unsigned vqcore_mem_count(const struct vqcore_mem *mem);

/**
 * vqcore_mem_get() - copy out region number @i (in GPA order).
 * @mem: table.  @i: index < vqcore_mem_count().  @out: receives the region.
 *
 * Return: 0, or -ENOENT if @i is out of range.
 */
VQCORE_API int vqcore_mem_get(const struct vqcore_mem *mem, unsigned i,
			      struct vqcore_mem_region *out);

/**
 * vqcore_mem_find() - the region that holds @gpa.
 * @mem: table.  @gpa: address.  @out: receives the region (may be NULL).
 *
 * Return: 0, or -VQCORE_E_UNMAPPED.
 */
VQCORE_API int vqcore_mem_find(const struct vqcore_mem *mem, uint64_t gpa,
			       struct vqcore_mem_region *out);

/**
 * vqcore_mem_generation() - a number that changes whenever any translation
 * may have gone stale (any add, remove or clear) or the dirty log is set or
 * cleared.
 * @mem: table.
 */
VQCORE_API uint64_t vqcore_mem_generation(const struct vqcore_mem *mem);

/**
 * vqcore_mem_region_serial() - the identity of the region that holds @gpa.
 * @mem: table.  @gpa: address.
 *
 * Every inserted region gets a fresh serial that is never reused.  A cache
 * that saw the generation change can ask whether the region behind its
 * pointer is still the same one, and keep the pointer if so.
 *
 * Return: the serial (> 0), or 0 if @gpa is unmapped.
 */
VQCORE_API uint64_t vqcore_mem_region_serial(const struct vqcore_mem *mem,
					     uint64_t gpa);

/**
 * vqcore_mem_translate() - host pointer for a contiguous guest range.
 * @mem: table.  @gpa: start.  @len: length, > 0.
 * @hva: receives the host address of @gpa.
 *
 * Return: 0, or -VQCORE_E_ZERO_LEN, -VQCORE_E_WRAP, -VQCORE_E_UNMAPPED,
 * -VQCORE_E_PAST_END (starts mapped, runs past the last region), or
 * -VQCORE_E_NOT_CONTIG (the range is mapped but spans several regions).
 */
VQCORE_API int vqcore_mem_translate(const struct vqcore_mem *mem, uint64_t gpa,
				    uint64_t len, void **hva);

/**
 * vqcore_mem_translate_iov() - host iovecs for a guest range.
 * @mem: table.  @gpa: start.  @len: length, > 0.
 * @iov: array to fill.  @max_iov: its size.
 *
 * A range inside one region gives one iovec; a range that spans regions
 * gives one iovec per region touched.
 *
 * Return: the number of iovecs filled (>= 1), or the errors of
 * vqcore_mem_translate() except NOT_CONTIG, or -VQCORE_E_IOV_FULL.
 */
VQCORE_API int vqcore_mem_translate_iov(const struct vqcore_mem *mem,
					uint64_t gpa, uint64_t len,
					struct iovec *iov, unsigned max_iov);

/**
 * vqcore_mem_read() - copy guest memory into a host buffer.
 * @mem: table.  @gpa: start.  @buf: destination.  @len: bytes, > 0.
 *
 * The range may span regions.  Nothing is copied unless the whole range is
 * mapped.
 *
 * Return: 0, or the errors of vqcore_mem_translate() except NOT_CONTIG.
 */
VQCORE_API int vqcore_mem_read(const struct vqcore_mem *mem, uint64_t gpa,
			       void *buf, uint64_t len);

/**
 * vqcore_mem_write() - copy a host buffer into guest memory, and log it.
 * @mem: table.  @gpa: start.  @buf: source.  @len: bytes, > 0.
 *
 * Like vqcore_mem_read(); the written pages are marked in the dirty log
 * when one is set.
 */
VQCORE_API int vqcore_mem_write(const struct vqcore_mem *mem, uint64_t gpa,
				const void *buf, uint64_t len);

/**
 * vqcore_mem_set_log() - set or clear the dirty-page log.
 * @mem: table.
 * @bitmap: the log, one bit per VQCORE_LOG_PAGE of guest physical address
 *          space starting at GPA 0 (bit n of byte b covers page b*8+n), or
 *          NULL to stop logging.  Shared with the peer, which reads it.
 * @size: the bitmap's size in bytes.
 *
 * The caller keeps @bitmap mapped until logging is stopped (NULL) or the
 * table is cleared.  Bumps the generation.  Once it returns, no queue over
 * the table writes the previous bitmap again; queues log what their
 * devices write through handed-out buffers into the bitmap set when the
 * buffer is returned (see vqcore_vq_put_used()), so a log set while
 * buffers are in flight still covers them.
 *
 * Return: 0, or -VQCORE_E_LOG_RANGE if the bitmap does not cover the end of
 * the highest region (checked again on every vqcore_mem_add()).
 */
VQCORE_API int vqcore_mem_set_log(struct vqcore_mem *mem, void *bitmap,
				  uint64_t size);

/**
 * vqcore_mem_log_write() - mark [gpa, gpa+len) dirty.
 * @mem: table.  @gpa: start.  @len: bytes.
 *
 * Does nothing when no log is set or @len is 0.  Each bit is set with an
 * atomic OR, ordered after the caller's earlier stores to guest memory.
 * Pages beyond the end of the bitmap are ignored (the bitmap is never
 * written out of bounds; mapped pages are always covered, see
 * vqcore_mem_set_log()).  Safe from any thread.
 */
VQCORE_API void vqcore_mem_log_write(const struct vqcore_mem *mem, uint64_t gpa,
				     uint64_t len);

/**
 * vqcore_mem_logging() - whether a dirty log is set.
 * @mem: table.  Any thread (a snapshot).
 */
VQCORE_API bool vqcore_mem_logging(const struct vqcore_mem *mem);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_MEM_H */
