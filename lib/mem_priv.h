/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table: private layout and the inline hot-path lookups the
 * rings use.  The public calls are in mem.c.
 *
 * Layout: regions sorted by GPA in one array, plus a parallel array of
 * region start addresses for a cache-friendly binary search.  A lookup
 * first tries the caller's last-hit slot (a per-queue hint, so queues on
 * different threads do not bounce a shared cache line), then searches.
 */
#ifndef VQCORE_MEM_PRIV_H
#define VQCORE_MEM_PRIV_H

#include "glue/glue.h"
#include "vqcore/mem.h"

struct vq_mem_slot {
	uint64_t gpa;       /* first byte */
	uint64_t last;      /* last byte (gpa + size - 1): no overflow at 2^64 */
	uintptr_t hva;      /* host address of gpa */
	uint64_t serial;    /* unique per inserted region, never reused */
	int fd;
	uint64_t fd_offset;
};

/*
 * Allocated 64-byte aligned (vq_zalloc_aligned).  The read-mostly header
 * the hot path touches (n, log) shares no cache line with @hint, which the
 * public calls on any thread may store to.
 */
struct vqcore_mem {
	unsigned n;                                  /* regions in use */
	uint64_t gen;                                /* bumped on every change */
	uint64_t next_serial;
	uint8_t *log;                                /* dirty bitmap or NULL */
	uint64_t log_size;                           /* bytes */
	/* last hit of the public calls (relaxed atomic load/store) */
	unsigned hint __vq_aligned(VQ_CACHELINE);
	/* slot[i].gpa, for search */
	uint64_t start[VQCORE_MEM_MAX_REGIONS] __vq_aligned(VQ_CACHELINE);
	struct vq_mem_slot slot[VQCORE_MEM_MAX_REGIONS];
};

/*
 * Index of the slot holding @gpa, or -1.  @hint is the caller's last-hit
 * slot (any value is safe; it is range-checked).
 */
static inline int vq_mem_lookup(const struct vqcore_mem *m, uint64_t gpa,
				unsigned *hint)
{
	unsigned h = *hint, lo, n;

	if (likely(h < m->n) && gpa - m->slot[h].gpa <= m->slot[h].last - m->slot[h].gpa)
		return (int)h;
	/* Branch-light binary search for the last start <= gpa. */
	n = m->n;
	if (unlikely(!n || gpa < m->start[0]))
		return -1;
	lo = 0;
	while (n > 1) {
		unsigned half = n / 2;

		lo = m->start[lo + half] <= gpa ? lo + half : lo;
		n -= half;
	}
	if (gpa > m->slot[lo].last)
		return -1;
	*hint = lo;
	return (int)lo;
}

/*
 * Host pointer for [gpa, gpa+len) when it lies inside one region, else
 * NULL.  @len must be > 0.
 */
static inline void *vq_mem_ptr(const struct vqcore_mem *m, uint64_t gpa,
			       uint64_t len, unsigned *hint)
{
	int i = vq_mem_lookup(m, gpa, hint);
	const struct vq_mem_slot *s;

	if (unlikely(i < 0))
		return NULL;
	s = &m->slot[i];
	if (unlikely(len - 1 > s->last - gpa))
		return NULL;
	return (void *)(s->hva + (uintptr_t)(gpa - s->gpa));
}

/*
 * Translate [gpa, gpa+len) into iovecs.  Returns the count (>= 1), or
 * -VQCORE_E_ZERO_LEN / -VQCORE_E_WRAP / -VQCORE_E_UNMAPPED /
 * -VQCORE_E_PAST_END / -VQCORE_E_IOV_FULL.  The single-region case is
 * inline; spanning ranges go to the out-of-line walker.
 */
VQ_HIDDEN int vq_mem_to_iov_slow(const struct vqcore_mem *m, uint64_t gpa,
				 uint64_t len, struct iovec *iov,
				 unsigned max_iov, unsigned *hint);

static inline int vq_mem_to_iov(const struct vqcore_mem *m, uint64_t gpa,
				uint64_t len, struct iovec *iov,
				unsigned max_iov, unsigned *hint)
{
	int i = vq_mem_lookup(m, gpa, hint);

	if (likely(i >= 0 && len && max_iov) &&
	    likely(len - 1 <= m->slot[i].last - gpa)) {
		iov->iov_base = (void *)(m->slot[i].hva + (uintptr_t)(gpa - m->slot[i].gpa));
		iov->iov_len = (size_t)len;
		return 1;
	}
	return vq_mem_to_iov_slow(m, gpa, len, iov, max_iov, hint);
}

/* Mark [gpa, gpa+len) dirty (out of line: only when logging). */
VQ_HIDDEN void vq_mem_log_slow(const struct vqcore_mem *m, uint64_t gpa,
			       uint64_t len);

static inline void vq_mem_log(const struct vqcore_mem *m, uint64_t gpa,
			      uint64_t len)
{
	if (unlikely(m->log != NULL) && len)
		vq_mem_log_slow(m, gpa, len);
}

/* Bounded copies through the table (hot-path variants with a hint). */
VQ_HIDDEN int vq_mem_read(const struct vqcore_mem *m, uint64_t gpa, void *buf,
			  uint64_t len, unsigned *hint);
VQ_HIDDEN int vq_mem_write(const struct vqcore_mem *m, uint64_t gpa,
			   const void *buf, uint64_t len, unsigned *hint);

#endif /* VQCORE_MEM_PRIV_H */
