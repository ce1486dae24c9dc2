/* SPDX-License-Identifier: MIT */
/*
 * The lean fetch and return of a device queue: hidden, for the library's
 * own burst helpers (lib/net.c), not public API.
 *
 * vqcore_vq_get_bufs() fills a struct vhost_buf and an iovec per buffer
 * and vqcore_vq_put_used() checks each buffer's in-flight state again; a
 * net device's usual buffer is one descriptor, a frame to read or a
 * buffer to write.  vq_lean_get() hands such buffers out as {host
 * pointer, length, id} with the checks of the general path (id in range
 * and not in flight, no chain or indirect table, the range inside one
 * region of the memory table); vq_lean_finish() returns a prefix of them
 * and gives the rest back in one call, clearing the in-flight state in
 * the format's used-write loop.
 *
 * The lean path is only taken where it changes nothing the caller could
 * see: no hooks (vhost-user inflight recording), no dirty log at fetch
 * time, nothing cached, the queue not broken.  Anything else, and any
 * buffer that is not one descriptor of the wanted direction, makes
 * vq_lean_get() stop with *@general set: the caller then uses the
 * general calls (get_bufs, put_used, unget), which take the buffer or
 * report what is wrong with it, exactly as they do for every caller.
 *
 * Threading: as vqcore_vq_get_bufs(), the queue's thread.
 */
#ifndef VQCORE_VQ_LEAN_H
#define VQCORE_VQ_LEAN_H

#include <stddef.h>

#include "vq_priv.h"

/* One buffer of one descriptor, handed out by vq_lean_get(). */
struct vq_lean {
	uint8_t *p;      /* host address of its first byte */
	uint32_t len;    /* bytes */
	uint16_t id;     /* buffer id */
	uint16_t rsvd;
};

_Static_assert(offsetof(struct vq_lean, id) == offsetof(struct vq_lean, len) + 4 &&
	       offsetof(struct vq_lean, rsvd) == offsetof(struct vq_lean, len) + 6,
	       "vq_lean_set() stores len, id and rsvd as one");

/*
 * Fill @e: two stores, the pointer and {len, id, rsvd = 0} as one 8-byte
 * word.  The fetch loops run at a few cycles a buffer, where each store
 * more in flight counts.
 */
static inline __attribute__((always_inline)) void
vq_lean_set(struct vq_lean *e, uint8_t *p, uint32_t len, uint16_t id)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	const uint64_t w = (uint64_t)len << 32 | (uint64_t)id << 16;
#else
	const uint64_t w = len | (uint64_t)id << 32;
#endif

	e->p = p;
	__builtin_memcpy((char *)e + offsetof(struct vq_lean, len), &w, sizeof(w));
}

/*
 * For the formats' lean_put: clear the in-flight state of the ids of
 * e[0..@k), four a turn (the loop's own instructions were half of it).
 */
static inline void vq_lean_free_ids(uint8_t *ids, const struct vq_lean *e, unsigned k)
{
	const struct vq_lean *const end = e + k, *const end4 = e + (k & ~3u);

	for (; e != end4; e += 4) {
		/* the loads first: a byte store may alias them */
		const uint16_t a = e[0].id, b = e[1].id, c = e[2].id, d = e[3].id;

		ids[a] = VQ_ID_FREE;
		ids[b] = VQ_ID_FREE;
		ids[c] = VQ_ID_FREE;
		ids[d] = VQ_ID_FREE;
	}
	for (; e != end; e++)
		ids[e->id] = VQ_ID_FREE;
}

/*
 * Hand out up to @max buffers of one descriptor from the queue's fetch
 * position into @e, each readable (@write false) or writable (@write
 * true), in ring order.  *@pos receives the position of the first (pass
 * it to vq_lean_finish()).
 *
 * Return: the number handed out.  0 with *@general false: the ring is
 * empty.  *@general true: the next buffer (or the queue's state) needs
 * the general calls; the buffers handed out before it are good.
 */
VQ_HIDDEN unsigned vq_lean_get(struct vqcore_vq *vq, struct vq_lean *e, unsigned max,
			       bool write, uint32_t *pos, bool *general);

/*
 * Close what one vq_lean_get() handed out (@n buffers from position
 * @pos, in @e, writable if @write, as asked for there): the first @k are
 * used, with lengths @lens (NULL: 0 each), and published (one used index store, or one used descriptor per
 * batch); the other @n - @k go back to the ring, to be fetched again.
 * No other fetch on the queue may come in between.  With a dirty log set
 * meanwhile, every region is marked (as put_used does for buffers handed
 * out without a record) before any used entry is written.
 *
 * Return: 0, or -VQCORE_E_BROKEN if the queue broke meanwhile (nothing
 * is written then).
 */
VQ_HIDDEN int vq_lean_finish(struct vqcore_vq *vq, uint32_t pos, const struct vq_lean *e,
			     bool write, const uint32_t *lens, unsigned k, unsigned n);

#endif /* VQCORE_VQ_LEAN_H */
