/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue (virtio 1.x section 2.7): descriptor table, avail
 * ring, used ring.  Device side and driver side, behind vq_format_ops.
 *
 * Positions (vq->avail_pos, fetch_pos, vhost_buf.reserved) are the free-
 * running 16-bit avail index.
 */
#include "vq_lean.h"

#define SPLIT_MAX_NUM 32768u

/* The rings as they sit in guest memory (little-endian). */
struct vring_avail_raw {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct vring_used_elem_raw {
	uint32_t id;
	uint32_t len;
};

struct vring_used_raw {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem_raw ring[]; /* num entries, then avail_event */
};

#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1

/* The device side's state, in vqcore_vq.fmt. */
struct vq_split_dev {
	struct vring_desc_raw *desc;
	struct vring_avail_raw *avail;
	struct vring_used_raw *used;
	uint16_t mask;
	uint16_t used_idx;       /* next used slot (shadow of used->idx) */
	uint16_t signalled_used; /* used_idx at the last signal decision */
	bool signalled_valid;
	bool elem_aligned;       /* used elements 8-byte aligned (one store each) */
};
VQ_FMT_DEV_FITS(struct vq_split_dev);

static inline __attribute__((always_inline)) struct vq_split_dev *
split_dev(const struct vqcore_vq *vq)
{
	return vq_fmt_dev(vq);
}

/* The driver side's state, in vqcore_drvq.fmt. */
struct vq_split_drv {
	struct vring_desc_raw *desc;
	struct vring_avail_raw *avail;
	struct vring_used_raw *used;
	uint16_t *next;          /* free-list links (the driver's own copy) */
	uint16_t free_head, free_tail;
	uint16_t avail_idx;      /* shadow, published on kick */
	uint16_t kicked_idx;     /* avail idx at the last kick check */
	uint16_t last_used;
};
VQ_FMT_DRV_FITS(struct vq_split_drv);

static inline __attribute__((always_inline)) struct vq_split_drv *
split_drv(const struct vqcore_drvq *dq)
{
	return vq_fmt_drv(dq);
}

static inline struct vring_desc_raw *split_desc(const struct vqcore_vq *vq)
{
	return split_dev(vq)->desc;
}

static int split_check_num(uint16_t num)
{
	if (!num || num > SPLIT_MAX_NUM || (num & (num - 1)))
		return -VQ_EINVAL;
	return 0;
}

static void split_area_sizes(uint16_t num, uint64_t sizes[3])
{
	sizes[0] = 16ull * num;
	sizes[1] = 6 + 2ull * num;  /* flags, idx, ring[num], used_event */
	sizes[2] = 6 + 8ull * num;  /* flags, idx, ring[num], avail_event */
}

static int split_layout(uint16_t num, uint64_t gpa, struct vqcore_ring_layout *l)
{
	uint64_t sizes[3];

	if (split_check_num(num) < 0)
		return -VQ_EINVAL;
	split_area_sizes(num, sizes);
	/*
	 * The avail and used areas start 4 bytes before a cache line, so that
	 * their flags and index sit alone at the end of one line and the ring
	 * entries start on the next: the side that polls an index does not
	 * pull away the line the other side is filling with entries, and no
	 * 8-byte used element straddles two lines.  (The spec asks for 2- and
	 * 4-byte alignment only.)
	 */
	l->desc = VQ_ALIGN_UP(gpa, (uint64_t)VQ_CACHELINE);
	l->driver = VQ_ALIGN_UP(l->desc + sizes[0], (uint64_t)VQ_CACHELINE) +
		    VQ_CACHELINE - 4;
	l->device = VQ_ALIGN_UP(l->driver + sizes[1], (uint64_t)VQ_CACHELINE) +
		    VQ_CACHELINE - 4;
	l->size = VQ_ALIGN_UP(l->device + sizes[2], (uint64_t)VQ_CACHELINE) - gpa;
	return 0;
}

/* =================== device side =================== */

static void split_attach(struct vqcore_vq *vq)
{
	split_dev(vq)->desc = vq->area[0].hva;
	split_dev(vq)->avail = vq->area[1].hva;
	split_dev(vq)->used = vq->area[2].hva;
	split_dev(vq)->mask = (uint16_t)(vq->num - 1);
	split_dev(vq)->elem_aligned = !((uintptr_t)&split_dev(vq)->used->ring[0] & 7);
}

static void split_reset(struct vqcore_vq *vq)
{
	vq->avail_pos = 0;
	split_dev(vq)->used_idx = 0;
	split_dev(vq)->signalled_valid = false;
}

static vq_u16a *split_avail_event(const struct vqcore_vq *vq)
{
	return (vq_u16a *)(void *)&split_dev(vq)->used->ring[vq->num];
}

static uint16_t *split_used_event(const struct vqcore_vq *vq)
{
	return &split_dev(vq)->avail->ring[vq->num];
}

/* Emit the descriptors of an indirect table into the cache. */
static int split_indirect(struct vqcore_vq *vq, const struct vring_desc_raw *d,
			  uint16_t head, uint32_t *total)
{
	uint32_t n, j = 0, ttl;
	const void *table;
	int r = vq_indirect_open(vq, d->addr, d->len, &table);

	if (unlikely(r < 0))
		return r;
	n = (uint32_t)r;
	for (ttl = n;; ttl--) {
		struct vring_desc_raw e;

		if (unlikely(ttl == 0))
			return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
					"buffer %u: loop in indirect table", head);
		r = vq_read_indirect(vq, table, d->addr, j, &e);
		if (unlikely(r < 0))
			return vq_break(vq, r, "buffer %u: indirect table at 0x%llx",
					head, (unsigned long long)d->addr);
		if (unlikely(e.flags_or_id & VRING_DESC_F_INDIRECT))
			return vq_break(vq, -VQCORE_E_NESTED_INDIRECT,
					"buffer %u: indirect descriptor in an indirect table",
					head);
		if (unlikely(++*total > vq->num))
			return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
					"buffer %u: chain longer than the queue", head);
		vq_cache_push(vq, e.addr, e.len, e.flags_or_id);
		if (!(e.flags_or_id & VRING_DESC_F_NEXT))
			return 0;
		j = e.next_or_flags;
		if (unlikely(j >= n))
			return vq_break(vq, -VQCORE_E_DESC_INDEX,
					"buffer %u: indirect next %u >= %u", head, j, n);
	}
}

/* The rest of a chain whose head @d (at @head) was read already. */
static int split_walk_slow(struct vqcore_vq *vq, uint16_t head,
			   struct vring_desc_raw d)
{
	const struct vring_desc_raw *table = split_desc(vq);
	uint32_t total = 0, ndesc = 1;

	for (;;) {
		uint16_t i;

		if (d.flags_or_id & VRING_DESC_F_INDIRECT) {
			int r = split_indirect(vq, &d, head, &total);

			if (r < 0)
				return r;
		} else {
			if (unlikely(++total > vq->num))
				return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
						"buffer %u: chain longer than the queue",
						head);
			vq_cache_push(vq, d.addr, d.len, d.flags_or_id);
		}
		if (!(d.flags_or_id & VRING_DESC_F_NEXT))
			return (int)ndesc;
		i = d.next_or_flags;
		if (unlikely(i >= vq->num))
			return vq_break(vq, -VQCORE_E_DESC_INDEX,
					"buffer %u: next %u >= size %u", head, i, vq->num);
		if (unlikely(ndesc++ >= vq->num))
			return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
					"buffer %u: chain longer than the queue", head);
		vq_read_desc(&table[i], &d);
	}
}

/* Walk one chain from @head into the cache.  Returns ring descs used. */
static inline int split_walk(struct vqcore_vq *vq, uint16_t head)
{
	struct vring_desc_raw d;

	if (unlikely(head >= vq->num))
		return vq_break(vq, -VQCORE_E_DESC_INDEX,
				"avail head %u >= size %u", head, vq->num);
	vq_read_desc(&split_desc(vq)[head], &d);
	if (likely(!(d.flags_or_id & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)))) {
		vq_cache_push(vq, d.addr, d.len, d.flags_or_id);
		return 1;
	}
	return split_walk_slow(vq, head, d);
}

/* Arm the empty-ring check at @pos: empty while avail->idx == @pos. */
static inline void split_poll_arm(struct vqcore_vq *vq, uint16_t pos)
{
	vq_poll_arm(vq, &split_dev(vq)->avail->idx, 0xffff, vq_le16(pos));
}

/*
 * How many buffers get_direct may take from @pos with @navail available
 * (0: none, the ring is empty or there is no room).  Sets o->more unless
 * it may take every available one.
 */
static inline unsigned split_direct_max(struct vqcore_vq *vq, struct vq_out *o,
					uint16_t pos, uint16_t navail)
{
	unsigned max = VQ_MIN(vq->batch, o->max_bufs - o->n);

	max = VQ_MIN(max, o->max_iov - o->k);
	o->more = true;
	if (unlikely(navail > vq->num))
		return 0;  /* the general path breaks the queue */
	if (max >= navail) {
		max = navail;
		o->more = false;  /* unless it stops early */
	}
	/* not across the index's wrap: the position steps by one in the
	 * tail word (VQ_ONE_STEP); the general path goes on from there */
	if (unlikely(max > 0x10000u - pos)) {
		max = 0x10000u - pos;
		o->more = true;
	}
	return max;
}

/*
 * Ask for the used-ring lines that @max buffers will be returned into
 * now, so their ownership moves while we fetch; and start loading the
 * descriptors, so the misses on lines the driver just wrote overlap
 * instead of following one another (the address is masked; a bad head is
 * caught later).  One buffer is read right away: nothing to overlap.
 */
static inline void split_prefetch(const struct vq_split_dev *s, uint16_t pos,
				  unsigned max)
{
	if (max <= 1)
		return;
	for (unsigned i = 0; i < max; i += 8)
		__builtin_prefetch(&s->used->ring[(uint16_t)(s->used_idx + i) & s->mask], 1);
	for (unsigned i = 0; i < max; i++)
		__builtin_prefetch(&s->desc[vq_le16(VQ_READ_ONCE(s->avail->ring[(uint16_t)(pos + i) & s->mask])) & s->mask]);
}

/* The state of split_get_direct()'s loop. */
struct split_direct {
	const struct vring_desc_raw *desc;
	const uint16_t *ring;          /* avail->ring */
	uint32_t p, end;               /* avail positions, not wrapped at 16 bits */
	uint16_t mask;                 /* num - 1: num is a power of two */
	uint64_t addr;                 /* the range that missed the region */
	uint32_t len;
};

/*
 * Take one-descriptor buffers from avail position d->p into @t until
 * d->end or a head the general path must see (false), or one whose range
 * is outside t->r (true, with the range in @d and the head not consumed).
 * No call: its values stay in registers.
 */
static inline __attribute__((always_inline)) bool
split_direct_loop(struct split_direct *d, struct vq_one *t)
{
	for (; d->p != d->end; d->p++) {
		uint16_t head = vq_le16(VQ_READ_ONCE(d->ring[d->p & d->mask]));
		struct vring_desc_raw e;

		if (unlikely(head > d->mask || t->ids[head] != VQ_ID_FREE))
			return false;
		vq_read_desc(&d->desc[head], &e);
		if (unlikely(e.flags_or_id & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)))
			return false;
		if (unlikely(!vq_rgn_in(&t->r, e.addr, e.len))) {
			d->addr = e.addr;
			d->len = e.len;
			return true;
		}
		vq_one_put(t, e.addr, e.len, e.flags_or_id, head, 1, VQ_ONE_STEP);
	}
	return false;
}

/*
 * get_direct: one-descriptor buffers from the avail ring straight into
 * the caller's arrays (vq_one_put()), with nothing else around the loop.
 * It stops, without consuming it, at the first head the general path must
 * see; split_fetch() goes on from there.
 */
static void split_get_direct(struct vqcore_vq *vq, struct vq_out *o)
{
	struct vq_split_dev *s = split_dev(vq);
	const uint16_t pos = (uint16_t)vq->fetch_pos;
	uint16_t navail = (uint16_t)(vq_le16(vq_load_acquire(&s->avail->idx)) - pos);
	struct split_direct d = { .desc = s->desc, .ring = s->avail->ring,
				  .p = pos, .mask = s->mask };
	unsigned max;
	struct vq_one t;

	if (!navail) {
		o->more = false;
		split_poll_arm(vq, pos);
		return;
	}
	max = split_direct_max(vq, o, pos, navail);
	if (!max)
		return;
	split_prefetch(s, pos, max);
	if (unlikely(!vq_one_start(&t, vq, o))) {
		o->more = true;
		return;  /* no region: the general path reports it */
	}
	t.tail |= VQ_ONE_POS(pos, pos + 1);
	d.end = pos + max;  /* not past the 16-bit wrap (split_direct_max()) */
	if (split_direct_loop(&d, &t))
		vq_one_miss(o, d.addr, d.len);
	if (d.p != d.end)
		o->more = true;  /* stopped at a buffer the general path takes */
	vq_one_end(&t, o);
	vq->nout += d.p - pos;
	vq->fetch_pos = vq->avail_pos = (uint16_t)d.p;
	split_poll_arm(vq, (uint16_t)d.p);
}

static int split_fetch(struct vqcore_vq *vq)
{
	struct vq_split_dev *s = split_dev(vq);
	struct vq_out *out = vq->out;
	uint16_t pos, avail, navail;
	uint16_t heads[32];
	int nbufs = 0, r = 0;

	if (out) {
		/* straight to the caller first, while nothing is cached (order) */
		unsigned n0 = out->n;

		split_get_direct(vq, out);
		nbufs = (int)(out->n - n0);
		if (!out->more)
			return nbufs;
	}
	pos = (uint16_t)vq->fetch_pos;
	avail = vq_le16(vq_load_acquire(&s->avail->idx));
	navail = (uint16_t)(avail - pos);
	if (unlikely(navail > vq->num))
		return vq_break(vq, -VQCORE_E_AVAIL_IDX,
				"avail idx %u moved %u past %u (size %u)", avail,
				navail, pos, vq->num);
	navail = (uint16_t)VQ_MIN((unsigned)navail, vq->batch - (unsigned)nbufs);
	if (!out)
		for (unsigned i = 0; i < navail; i += 8)
			__builtin_prefetch(&s->used->ring[(uint16_t)(s->used_idx + i) & s->mask], 1);
	while (navail) {
		unsigned n = VQ_MIN((unsigned)navail, VQ_ARRAY_SIZE(heads));

		/* Read the heads of a group first and start loading their
		 * descriptors (see split_prefetch()).  Each head is read once. */
		for (unsigned i = 0; i < n; i++) {
			heads[i] = vq_le16(VQ_READ_ONCE(s->avail->ring[(uint16_t)(pos + i) & s->mask]));
			__builtin_prefetch(&s->desc[heads[i] & s->mask]);
		}
		for (unsigned i = 0; i < n; i++) {
			uint32_t first = vq->desc_used;

			if (!vq_cache_room(vq))
				goto out;
			r = split_walk(vq, heads[i]);
			if (unlikely(r < 0))
				goto out;
			r = vq_cache_commit(vq, first, heads[i], (uint16_t)r, pos,
					    (uint16_t)(pos + 1), false);
			if (unlikely(r < 0))
				goto out;
			pos++;
			nbufs++;
		}
		navail = (uint16_t)(navail - n);
	}
out:
	vq->fetch_pos = pos;
	return r < 0 ? r : nbufs;
}

static int split_fetch_at(struct vqcore_vq *vq, uint16_t head)
{
	uint32_t first = vq->desc_used;
	int r = split_walk(vq, head);

	if (unlikely(r < 0))
		return r;
	return vq_cache_commit(vq, first, head, (uint16_t)r, 0, 0, true);
}

static inline void split_write_elem(struct vq_split_dev *s, uint16_t slot,
				    uint32_t id, uint32_t len)
{
	uint64_t v = vq_le64((uint64_t)id | ((uint64_t)len << 32));

	if (likely(s->elem_aligned)) {
		__atomic_store_n((vq_u64a *)(void *)&s->used->ring[slot], v,
				 __ATOMIC_RELAXED);
	} else { /* the used ring sits at 4 mod 8 (allowed by the spec) */
		__atomic_store_n(&s->used->ring[slot].id, vq_le32(id), __ATOMIC_RELAXED);
		__atomic_store_n(&s->used->ring[slot].len, vq_le32(len), __ATOMIC_RELAXED);
	}
}

/*
 * Log what put_used wrote with a dirty log set: @n used elements from
 * @from, then the used index; after the stores, so that a page is never
 * logged before its last write.
 */
static VQ_COLD void split_log_used(struct vqcore_vq *vq, uint16_t from, unsigned n)
{
	uint64_t base = vq->area[2].gpa + 4;
	unsigned first = from & split_dev(vq)->mask;
	unsigned part = VQ_MIN(n, (unsigned)vq->num - first);

	vq_mem_log(vq->mem, base + 8ull * first, 8ull * part);
	if (part < n)
		vq_mem_log(vq->mem, base, 8ull * (n - part));
	vq_mem_log(vq->mem, vq->area[2].gpa + 2, 2);
}

static void split_put_used(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			   const uint32_t *lens, unsigned n, bool run)
{
	struct vq_split_dev *s = split_dev(vq);
	uint16_t idx = s->used_idx;

	if (run) {
		/* In order: one entry, at the batch's first slot, names the
		 * last buffer; the index still moves by n. */
		split_write_elem(s, idx & s->mask, bufs[n - 1].id,
				 lens ? lens[n - 1] : 0);
	} else if (likely(s->elem_aligned && lens)) {
		/* one 8-byte store each, the ring and the mask in locals (the
		 * stores may alias anything) */
		vq_u64a *ring = (vq_u64a *)(void *)s->used->ring;
		const uint16_t mask = s->mask;

		for (unsigned i = 0; i < n; i++)
			__atomic_store_n(&ring[(uint16_t)(idx + i) & mask],
					 vq_le64(bufs[i].id | (uint64_t)lens[i] << 32),
					 __ATOMIC_RELAXED);
	} else {
		for (unsigned i = 0; i < n; i++)
			split_write_elem(s, (uint16_t)(idx + i) & s->mask,
					 bufs[i].id, lens ? lens[i] : 0);
	}
	vq_store_release(&s->used->idx, vq_le16((uint16_t)(idx + n)));
	if (unlikely(vq->mem->log))
		split_log_used(vq, idx, run ? 1 : n);
	s->used_idx = (uint16_t)(idx + n);
}

/* ---- the lean fetch and return (lib/vq_lean.h) ---- */

/* The state of split_lean_get()'s loop (kept in registers). */
struct split_lean {
	const struct vring_desc_raw *desc;
	const uint16_t *ring;          /* avail->ring */
	uint8_t *ids;
	struct vq_lean *e, *end;       /* the next entry to fill; the limit */
	uint32_t p;                    /* avail position of entry e */
	uint16_t mask, want;           /* num - 1; the flags asked for */
	struct vq_rgn r;
	struct vring_desc_raw d;       /* the descriptor it stopped at */
	uint16_t head;
};

enum { LEAN_END, LEAN_MISS, LEAN_GENERAL };

/* Hand out descriptor l->d (buffer l->head) as the next entry, inside l->r. */
static inline __attribute__((always_inline)) void split_lean_one(struct split_lean *l)
{
	struct vq_lean *e = l->e;

	l->ids[l->head] = VQ_ID_OUT;
	vq_lean_set(e, (uint8_t *)(uintptr_t)(l->d.addr + l->r.bias), l->d.len, l->head);
	l->e = e + 1;
	l->p++;
}

/*
 * Fill entries until l->end (LEAN_END), or a head that fails a check of
 * split_direct_loop() or has another write flag (LEAN_GENERAL), or one
 * whose range is outside l->r (LEAN_MISS); those two stop at the head
 * (l->head, l->d), not consumed.  No call: its values stay in registers.
 */
static inline __attribute__((always_inline)) int split_lean_loop(struct split_lean *l)
{
	while (l->e != l->end) {
		l->head = vq_le16(VQ_READ_ONCE(l->ring[l->p & l->mask]));
		if (unlikely(l->head > l->mask || l->ids[l->head] != VQ_ID_FREE))
			return LEAN_GENERAL;
		vq_read_desc(&l->desc[l->head], &l->d);
		if (unlikely((l->d.flags_or_id & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT |
						  VRING_DESC_F_WRITE)) != l->want))
			return LEAN_GENERAL;
		if (unlikely(!vq_rgn_in(&l->r, l->d.addr, l->d.len)))
			return LEAN_MISS;
		split_lean_one(l);
	}
	return LEAN_END;
}

/*
 * lean_get: one-descriptor buffers with the checks of split_direct_loop()
 * and the write flag asked for.  A range outside the region in hand moves
 * it (vq_rgn_fit(), out of the loop); a head that fails a check stops it
 * with *@general set, not consumed.
 */
static inline __attribute__((always_inline)) unsigned
split_lean_get_dir(struct vqcore_vq *vq, struct vq_lean *e, unsigned max, const bool write,
		   bool *general)
{
	struct vq_split_dev *s = split_dev(vq);
	const uint16_t pos = (uint16_t)vq->fetch_pos;
	const uint16_t navail = (uint16_t)(vq_le16(vq_load_acquire(&s->avail->idx)) - pos);
	struct split_lean l = { .desc = s->desc, .ring = s->avail->ring, .ids = vq->id_state,
				.e = e, .p = pos, .mask = s->mask,
				.want = write ? VRING_DESC_F_WRITE : 0 };
	unsigned n;
	int r;

	*general = false;
	if (!navail) {
		split_poll_arm(vq, pos);
		return 0;
	}
	if (unlikely(navail > vq->num || !vq_rgn_start(&l.r, vq->mem, &vq->mem_hint))) {
		*general = true;  /* the general path breaks the queue or reports */
		return 0;
	}
	if (max > navail)
		max = navail;
	l.end = e + max;
	if (max > 1) {
		/* The used lines these buffers go back to: all of them, but
		 * for the one entry of an in-order run of readable buffers
		 * (a tx queue). */
		unsigned lines = write || !vq->in_order ? max : 1;

		for (unsigned j = 0; j < lines; j += 8)
			__builtin_prefetch(&s->used->ring[(uint16_t)(s->used_idx + j) & l.mask], 1);
	}
	while ((r = split_lean_loop(&l)) == LEAN_MISS) {
		/* another region: the table is read here only */
		if (!vq_rgn_fit(&l.r, vq, l.d.addr, l.d.len)) {
			r = LEAN_GENERAL;
			break;
		}
		split_lean_one(&l);
	}
	*general = r == LEAN_GENERAL;
	n = (unsigned)(l.e - e);
	vq->nout += n;
	vq->fetch_pos = vq->avail_pos = (uint16_t)l.p;
	if (n == navail)
		split_poll_arm(vq, (uint16_t)l.p);
	else
		vq_poll_disarm(vq);
	return n;
}

/* A loop for each direction: the flags asked for are constants in it. */
static unsigned split_lean_get(struct vqcore_vq *vq, struct vq_lean *e, unsigned max,
			       bool write, bool *general)
{
	if (write)
		return split_lean_get_dir(vq, e, max, true, general);
	return split_lean_get_dir(vq, e, max, false, general);
}

/* One used element of split_lean_elems(). */
static inline __attribute__((always_inline)) void
split_lean_elem(struct vring_used_elem_raw *u, const bool aligned, uint16_t id, uint32_t len)
{
	if (aligned) {
		__atomic_store_n((vq_u64a *)(void *)u, vq_le64(id | (uint64_t)len << 32),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&u->id, vq_le32(id), __ATOMIC_RELAXED);
		__atomic_store_n(&u->len, vq_le32(len), __ATOMIC_RELAXED);
	}
}

/*
 * The used elements of e[0..@k) with lengths @lens from slot @slot of
 * @ring (of @num): a loop up to the ring's end and one from its start, no
 * index masking per element.
 */
static inline __attribute__((always_inline)) void
split_lean_elems(struct vring_used_elem_raw *ring, const bool aligned, const struct vq_lean *e,
		 const uint32_t *lens, unsigned slot, unsigned k, unsigned num)
{
	const unsigned first = num - slot, stop = VQ_MIN(k, first);
	struct vring_used_elem_raw *const u = &ring[slot];
	unsigned i;

	for (i = 0; i < stop; i++)
		split_lean_elem(&u[i], aligned, e[i].id, lens[i]);
	for (; i < k; i++)
		split_lean_elem(&ring[i - first], aligned, e[i].id, lens[i]);
}

/*
 * lean_put: the used elements of @k buffers (one for an in-order run), the
 * index once, then each id's in-flight state cleared: the byte stores
 * interleaved with the used stores kept the index from the driver longer
 * (measured in docs/notes/performance-log.md).  Nothing reads the states
 * before this returns: the queue has one device thread.
 */
static uint32_t split_lean_put(struct vqcore_vq *vq, const struct vq_lean *e,
			       const uint32_t *lens, unsigned k, bool run, uint32_t pos)
{
	struct vq_split_dev *s = split_dev(vq);
	const uint16_t idx = s->used_idx, mask = s->mask;

	if (run) {
		split_write_elem(s, idx & mask, e[k - 1].id, lens ? lens[k - 1] : 0);
	} else if (unlikely(!lens)) {
		for (unsigned i = 0; i < k; i++)
			split_write_elem(s, (uint16_t)(idx + i) & mask, e[i].id, 0);
	} else if (likely(s->elem_aligned)) {
		split_lean_elems(s->used->ring, true, e, lens, idx & mask, k, vq->num);
	} else {
		/* the used ring at 4 mod 8 (DPDK's virtio-user lays it out so):
		 * two stores each */
		split_lean_elems(s->used->ring, false, e, lens, idx & mask, k, vq->num);
	}
	vq_store_release(&s->used->idx, vq_le16((uint16_t)(idx + k)));
	vq_lean_free_ids(vq->id_state, e, k);
	if (unlikely(vq->mem->log))
		split_log_used(vq, idx, run ? 1 : k);
	s->used_idx = (uint16_t)(idx + k);
	return (uint16_t)(pos + k);
}

static bool split_avail_pending(struct vqcore_vq *vq)
{
	uint16_t avail = vq_le16(vq_load_acquire(&split_dev(vq)->avail->idx));

	return avail != (uint16_t)vq->fetch_pos;
}

static void split_set_notify(struct vqcore_vq *vq, bool enable)
{
	struct vq_split_dev *s = split_dev(vq);

	if (vq->event_idx) {
		if (enable) {
			VQ_WRITE_ONCE(*split_avail_event(vq),
				      vq_le16((uint16_t)vq->fetch_pos));
			vq_mem_log(vq->mem, vq->area[2].gpa + 4 + 8ull * vq->num, 2);
		}
		return;
	}
	{
		uint16_t f = vq_le16(VQ_READ_ONCE(s->used->flags));
		uint16_t nf = enable ? (uint16_t)(f & ~VRING_USED_F_NO_NOTIFY)
				     : (uint16_t)(f | VRING_USED_F_NO_NOTIFY);

		if (nf != f) {
			VQ_WRITE_ONCE(s->used->flags, vq_le16(nf));
			vq_mem_log(vq->mem, vq->area[2].gpa, 2);
		}
	}
}

static bool split_should_signal(struct vqcore_vq *vq)
{
	struct vq_split_dev *s = split_dev(vq);
	uint16_t old, new_idx, event;
	bool valid;

	if (!vq->event_idx)
		return !(vq_le16(VQ_READ_ONCE(s->avail->flags)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	old = s->signalled_used;
	valid = s->signalled_valid;
	new_idx = s->used_idx;
	s->signalled_used = new_idx;
	s->signalled_valid = true;
	if (unlikely(!valid))
		return true;
	if (old == new_idx)
		return false;
	event = vq_le16(VQ_READ_ONCE(*split_used_event(vq)));
	return vring_need_event(event, new_idx, old);
}

static int split_set_base(struct vqcore_vq *vq, uint32_t base)
{
	if (base > UINT16_MAX)
		return -VQ_EINVAL;
	/* The used index is the device's own last write to the ring. */
	split_dev(vq)->used_idx = vq_le16(vq_load_acquire(&split_dev(vq)->used->idx));
	split_dev(vq)->signalled_valid = false;
	return 0;
}

static int split_set_used_base(struct vqcore_vq *vq, uint32_t pos)
{
	if (pos > UINT16_MAX)
		return -VQ_EINVAL;
	split_dev(vq)->used_idx = (uint16_t)pos;
	split_dev(vq)->signalled_valid = false;
	return 0;
}

static uint32_t split_get_used_base(const struct vqcore_vq *vq)
{
	return split_dev(vq)->used_idx;
}

/* =================== driver side =================== */

static int split_drv_init(struct vqcore_drvq *dq)
{
	uint16_t num = dq->num;

	split_drv(dq)->desc = dq->area_hva[0];
	split_drv(dq)->avail = dq->area_hva[1];
	split_drv(dq)->used = dq->area_hva[2];
	split_drv(dq)->next = vq_zalloc_aligned(sizeof(uint16_t) * num);
	if (!split_drv(dq)->next)
		return -VQ_ENOMEM;
	/* FIFO free list 0 -> 1 -> ... -> num-1, linked through a private
	 * array so the driver never reads the shared descriptor table. */
	for (uint16_t i = 0; i < num; i++) {
		split_drv(dq)->desc[i].addr = 0;
		split_drv(dq)->desc[i].len = 0;
		split_drv(dq)->desc[i].flags_or_id = 0;
		split_drv(dq)->desc[i].next_or_flags = 0;
		split_drv(dq)->next[i] = (uint16_t)(i + 1 < num ? i + 1 : 0);
	}
	split_drv(dq)->free_head = 0;
	split_drv(dq)->free_tail = (uint16_t)(num - 1);
	dq->num_free = num;
	split_drv(dq)->avail_idx = 0;
	split_drv(dq)->kicked_idx = 0;
	split_drv(dq)->last_used = 0;
	split_drv(dq)->avail->flags = 0;
	split_drv(dq)->avail->idx = 0;
	split_drv(dq)->used->flags = 0;
	split_drv(dq)->used->idx = 0;
	split_drv(dq)->avail->ring[num] = 0; /* used_event */
	*(vq_u16a *)(void *)&split_drv(dq)->used->ring[num] = 0; /* avail_event */
	return 0;
}

/* Two 8-byte stores per descriptor: fewer entries in the store buffer
 * while the line's ownership comes back from the device. */
static inline void split_drv_write_desc(struct vring_desc_raw *d, uint64_t addr,
					uint32_t len, uint16_t flags,
					uint16_t next)
{
	uint64_t hi = vq_le64((uint64_t)len | ((uint64_t)flags << 32) |
			      ((uint64_t)next << 48));

	__atomic_store_n(&d->addr, vq_le64(addr), __ATOMIC_RELAXED);
	__atomic_store_n((vq_u64a *)(void *)&d->len, hi, __ATOMIC_RELAXED);
}

/*
 * Write @sg (@out_num readable elements, then writable ones, @total in
 * all) as the indirect table of the buffer whose head is @head, and the
 * head as its indirect descriptor.  Returns the writable bytes.
 */
static uint32_t split_drv_write_indirect(struct vqcore_drvq *dq, uint16_t head,
					 const struct vqcore_sg *sg,
					 unsigned out_num, unsigned total)
{
	struct vring_desc_raw *t = dq->itable + (size_t)head * dq->max_indirect;
	uint32_t in_len = 0;

	for (unsigned j = 0; j < total; j++) {
		uint16_t f = j < out_num ? 0 : VRING_DESC_F_WRITE;

		if (j + 1 < total)
			f |= VRING_DESC_F_NEXT;
		if (j >= out_num)
			in_len += sg[j].len;
		split_drv_write_desc(&t[j], sg[j].addr, sg[j].len, f, (uint16_t)(j + 1));
	}
	split_drv_write_desc(&split_drv(dq)->desc[head],
			     dq->indirect_gpa + (uint64_t)head * dq->max_indirect * 16,
			     total * 16, VRING_DESC_F_INDIRECT, 0);
	split_drv(dq)->free_head = split_drv(dq)->next[head];
	return in_len;
}

/*
 * Write @sg as a chain of @total descriptors from the free-list head
 * (there are enough); *@last gets the chain's last descriptor.  Returns
 * the writable bytes.
 */
static uint32_t split_drv_write_chain(struct vqcore_drvq *dq,
				      const struct vqcore_sg *sg, unsigned out_num,
				      unsigned total, uint16_t *last)
{
	uint16_t i = split_drv(dq)->free_head;
	uint32_t in_len = 0;

	for (unsigned j = 0; j < total; j++) {
		uint16_t next = split_drv(dq)->next[i];
		uint16_t f = j < out_num ? 0 : VRING_DESC_F_WRITE;

		if (j + 1 < total)
			f |= VRING_DESC_F_NEXT;
		if (j >= out_num)
			in_len += sg[j].len;
		split_drv_write_desc(&split_drv(dq)->desc[i], sg[j].addr, sg[j].len, f,
				     j + 1 < total ? next : 0);
		*last = i;
		i = next;
	}
	split_drv(dq)->free_head = i;
	return in_len;
}

/* The one-element buffer without an indirect table, out of order. */
static inline int split_drv_add_one_elem(struct vqcore_drvq *dq,
					 const struct vqcore_sg *sg, bool writable,
					 void *token)
{
	struct vq_drv_state st = { .token = token, .ndesc = 1 };
	uint16_t *slot, head;

	if (unlikely(!dq->num_free))
		return -VQ_ENOSPC;
	head = split_drv(dq)->free_head;
	split_drv_write_desc(&split_drv(dq)->desc[head], sg->addr, sg->len,
			     writable ? VRING_DESC_F_WRITE : 0, 0);
	split_drv(dq)->free_head = split_drv(dq)->next[head];
	dq->num_free--;
	st.in_len = writable ? sg->len : 0;
	st.last = head;
	dq->state[head] = st;
	slot = &split_drv(dq)->avail->ring[split_drv(dq)->avail_idx++ & (dq->num - 1)];
	if (*slot != vq_le16(head))
		*slot = vq_le16(head);
	return 0;
}

static int split_drv_add(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			 unsigned out_num, unsigned in_num, void *token,
			 unsigned flags)
{
	unsigned total = out_num + in_num, need;
	bool indirect = (flags & VQCORE_ADD_INDIRECT) && dq->itable && total > 0;
	uint16_t head, last;
	uint32_t in_len;
	uint16_t *slot;

	/* one element, no indirect table: the common case, straight through */
	if (likely(total == 1 && !indirect && !dq->in_order))
		return split_drv_add_one_elem(dq, sg, in_num != 0, token);
	if (indirect && total > dq->max_indirect)
		return -VQ_EINVAL;
	need = indirect ? 1 : total;
	if (need > dq->num_free)
		return -VQ_ENOSPC;
	head = last = split_drv(dq)->free_head;
	if (indirect)
		in_len = split_drv_write_indirect(dq, head, sg, out_num, total);
	else
		in_len = split_drv_write_chain(dq, sg, out_num, total, &last);
	dq->num_free = (uint16_t)(dq->num_free - need);
	dq->state[head].token = token;
	dq->state[head].ndesc = (uint16_t)need;
	dq->state[head].last = last;
	dq->state[head].in_len = in_len;
	/* With a FIFO free list and in-order completion the entry usually
	 * holds this head already: skip the store so the line the device
	 * polls (it holds avail->idx) stays shared. */
	slot = &split_drv(dq)->avail->ring[split_drv(dq)->avail_idx & (dq->num - 1)];
	if (*slot != vq_le16(head))
		*slot = vq_le16(head);
	split_drv(dq)->avail_idx++;
	if (dq->in_order) {
		dq->order[dq->order_tail & (dq->num - 1)] = head;
		dq->order_tail++;
	}
	return 0;
}

/*
 * A batch of adds with the cursors in locals.  One-element buffers (the
 * common case) cost two shared stores (the descriptor) and two local ones
 * (the per-id state); anything else goes through split_drv_add().
 */
/*
 * One buffer of one element at the free-list head @*head (there is one),
 * with the list head, the avail index and the in-order tail in the
 * caller's registers (a store through dq->order could alias them).
 */
static inline __attribute__((always_inline)) void
split_drv_add_one(struct vqcore_drvq *dq, const struct vqcore_sg *sg, void *token,
		  bool writable, uint16_t *headp, uint16_t *aidxp, uint16_t *otailp)
{
	uint16_t *ring = split_drv(dq)->avail->ring;
	const uint16_t mask = (uint16_t)(dq->num - 1);
	uint16_t head = *headp, aidx = *aidxp;
	uint32_t in_len = writable ? sg->len : 0;

	split_drv_write_desc(&split_drv(dq)->desc[head], sg->addr, sg->len,
			     writable ? VRING_DESC_F_WRITE : 0, 0);
#if VQ_DRV_STATE_WORDS
	{
		/* two stores: token; in_len | ndesc 1 | last = head */
		vq_u64a *state = (vq_u64a *)(void *)dq->state;

		state[2 * head] = (uintptr_t)token;
		state[2 * head + 1] = in_len | (1ull << 32) | ((uint64_t)head << 48);
	}
#else
	dq->state[head] = (struct vq_drv_state){ .token = token,
		.in_len = in_len, .ndesc = 1, .last = head };
#endif
	/* with a FIFO free list the entry usually holds this head already */
	if (ring[aidx & mask] != vq_le16(head))
		ring[aidx & mask] = vq_le16(head);
	if (dq->in_order)
		dq->order[(*otailp)++ & mask] = head;
	*aidxp = (uint16_t)(aidx + 1);
	*headp = split_drv(dq)->next[head];
}

static int split_drv_add_batch(struct vqcore_drvq *dq,
			       const struct vqcore_drvq_req *reqs, unsigned n,
			       bool simple)
{
	uint16_t head = split_drv(dq)->free_head, nfree = dq->num_free;
	uint16_t aidx = split_drv(dq)->avail_idx, otail = dq->order_tail;
	unsigned i;
	int r = 0;

	(void)simple; /* the loop checks each request itself */
	for (i = 0; i < n; i++) {
		const struct vqcore_drvq_req *q = &reqs[i];
		unsigned total = (unsigned)q->out_num + q->in_num;

		if (unlikely(total != 1 ||
			     ((q->flags & VQCORE_ADD_INDIRECT) && dq->itable))) {
			split_drv(dq)->free_head = head;
			dq->num_free = nfree;
			split_drv(dq)->avail_idx = aidx;
			dq->order_tail = otail;
			r = split_drv_add(dq, q->sg, q->out_num, q->in_num, q->token,
					  q->flags);
			if (r < 0)
				break;
			head = split_drv(dq)->free_head;
			nfree = dq->num_free;
			aidx = split_drv(dq)->avail_idx;
			otail = dq->order_tail;
			continue;
		}
		if (unlikely(!nfree)) {
			r = -VQ_ENOSPC;
			break;
		}
		split_drv_add_one(dq, q->sg, q->token, q->in_num != 0, &head, &aidx,
				  &otail);
		nfree--;
	}
	split_drv(dq)->free_head = head;
	dq->num_free = nfree;
	split_drv(dq)->avail_idx = aidx;
	dq->order_tail = otail;
	return i ? (int)i : r;
}

/* vqcore_drvq_add_sg(): the core checked the tokens and that all fit */
static void split_drv_add_sg(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			     void *const *tokens, unsigned n, bool writable)
{
	uint16_t head = split_drv(dq)->free_head, aidx = split_drv(dq)->avail_idx;
	uint16_t otail = dq->order_tail;

	for (unsigned i = 0; i < n; i++)
		split_drv_add_one(dq, &sg[i], tokens[i], writable, &head, &aidx, &otail);
	split_drv(dq)->free_head = head;
	dq->num_free = (uint16_t)(dq->num_free - n);
	split_drv(dq)->avail_idx = aidx;
	dq->order_tail = otail;
}

static void split_drv_publish(struct vqcore_drvq *dq)
{
	vq_store_release(&split_drv(dq)->avail->idx, vq_le16(split_drv(dq)->avail_idx));
}

static bool split_drv_kick_prepare(struct vqcore_drvq *dq)
{
	uint16_t new_idx = split_drv(dq)->avail_idx, old = split_drv(dq)->kicked_idx;

	vq_store_release(&split_drv(dq)->avail->idx, vq_le16(new_idx));
	split_drv(dq)->kicked_idx = new_idx;
	if (new_idx == old)
		return false;
	vq_mb();
	if (dq->event_idx)
		return vring_need_event(
			vq_le16(VQ_READ_ONCE(*(vq_u16a *)(void *)&split_drv(dq)->used->ring[dq->num])),
			new_idx, old);
	return !(vq_le16(VQ_READ_ONCE(split_drv(dq)->used->flags)) & VRING_USED_F_NO_NOTIFY);
}

/* Put a completed chain back at the tail of the FIFO free list. */
/*
 * Put a completed chain (head @id) back at the tail of the FIFO free list.
 * The list cursors are the caller's locals (the collection loops keep them
 * in registers).
 */
static inline void split_free_chain(struct vqcore_drvq *dq, struct vq_drv_state *st,
				    uint16_t id, uint16_t *fhead, uint16_t *tail,
				    uint16_t *nfree)
{
	/* the device is done with this descriptor: take its line back for
	 * writing now, so the add that reuses it does not stall on it */
	__builtin_prefetch(&split_drv(dq)->desc[id], 1);
	if (*nfree == 0)
		*fhead = id;
	else
		split_drv(dq)->next[*tail] = id;
	*tail = st->ndesc == 1 ? id : st->last;
	*nfree = (uint16_t)(*nfree + st->ndesc);
	st->token = NULL;
}

/* One used element as id | len << 32, host order (4 mod 8 placement allowed). */
static inline uint64_t split_drv_read_elem(const struct vqcore_drvq *dq, uint16_t slot)
{
	const struct vring_used_elem_raw *e = &split_drv(dq)->used->ring[slot];

	if (likely(!((uintptr_t)e & 7)))
		return vq_le64(__atomic_load_n((const vq_u64a *)(const void *)e,
					       __ATOMIC_RELAXED));
	return (uint64_t)vq_le32(__atomic_load_n(&e->id, __ATOMIC_RELAXED)) |
	       ((uint64_t)vq_le32(__atomic_load_n(&e->len, __ATOMIC_RELAXED)) << 32);
}

/* vqcore_drvq_get_used() without VIRTIO_F_IN_ORDER, up to @used. */
static int split_drv_get_used_ooo(struct vqcore_drvq *dq, void **tokens,
				  uint32_t *lens, unsigned max, uint16_t used)
{
	/* cursors in locals: the stores per buffer are what costs */
	struct vq_drv_state *state = dq->state;
	uint16_t last = split_drv(dq)->last_used, tail = split_drv(dq)->free_tail;
	uint16_t nfree = dq->num_free, head = split_drv(dq)->free_head;
	unsigned n = 0;
	int err = 0;

	/* Ask for every used line of this call at once: the loop body is
	 * long enough that the CPU would not reach the next line's load
	 * while the current one is still in flight. */
	for (unsigned i = 0; i < VQ_MIN((unsigned)(uint16_t)(used - last), max); i += 8)
		__builtin_prefetch(&split_drv(dq)->used->ring[(uint16_t)(last + i) & (dq->num - 1)]);
	while (n < max && last != used) {
		uint64_t v = split_drv_read_elem(dq, last & (dq->num - 1));
		uint32_t id = (uint32_t)v;
		struct vq_drv_state *st;

		if (unlikely(id >= dq->num || !state[id].token)) {
			dq->broken = true;
			vq_err("driver vq: device returned id %u not in flight", id);
			err = -VQ_EIO;
			break;
		}
		st = &state[id];
		tokens[n] = st->token;
		if (lens)
			lens[n] = (uint32_t)(v >> 32);
		n++;
		split_free_chain(dq, st, (uint16_t)id, &head, &tail, &nfree);
		last++;
	}
	split_drv(dq)->last_used = last;
	split_drv(dq)->free_tail = tail;
	split_drv(dq)->free_head = head;
	dq->num_free = nfree;
	return n ? (int)n : err;
}

/*
 * vqcore_drvq_get_used() with VIRTIO_F_IN_ORDER, up to @used: an entry
 * names the last buffer of a run; the ones before it in add order were
 * used in full.  Cursors in locals, as above.
 */
static int split_drv_get_used_io(struct vqcore_drvq *dq, void **tokens,
				 uint32_t *lens, unsigned max, uint16_t used)
{
	struct vq_drv_state *state = dq->state;
	const uint16_t mask = (uint16_t)(dq->num - 1);
	uint16_t last = split_drv(dq)->last_used, tail = split_drv(dq)->free_tail;
	uint16_t nfree = dq->num_free, fhead = split_drv(dq)->free_head;
	uint16_t ohead = dq->order_head, io_id = dq->io_id;
	uint32_t io_len = dq->io_len;
	bool pending = dq->io_pending;
	unsigned n = 0;
	int err = 0;

	while (n < max && last != used) {
		struct vq_drv_state *st;
		uint16_t h;

		if (!pending) {
			uint64_t v = split_drv_read_elem(dq, last & mask);
			uint32_t id = (uint32_t)v;

			if (unlikely(id >= dq->num || !state[id].token)) {
				dq->broken = true;
				vq_err("driver vq: device returned id %u not in flight", id);
				err = -VQ_EIO;
				break;
			}
			io_id = (uint16_t)id;
			io_len = (uint32_t)(v >> 32);
			pending = true;
		}
		h = dq->order[ohead++ & mask];
		st = &state[h];
		tokens[n] = st->token;
		if (lens)
			lens[n] = h == io_id ? io_len : st->in_len;
		if (h == io_id)
			pending = false;
		n++;
		split_free_chain(dq, st, h, &fhead, &tail, &nfree);
		last++;
	}
	split_drv(dq)->last_used = last;
	split_drv(dq)->free_tail = tail;
	split_drv(dq)->free_head = fhead;
	dq->num_free = nfree;
	dq->order_head = ohead;
	dq->io_id = io_id;
	dq->io_len = io_len;
	dq->io_pending = pending;
	return n ? (int)n : err;
}

static int split_drv_get_used(struct vqcore_drvq *dq, void **tokens,
			      uint32_t *lens, unsigned max)
{
	uint16_t used = vq_le16(vq_load_acquire(&split_drv(dq)->used->idx));

	if (dq->broken)
		return -VQ_EIO;
	if (unlikely((uint16_t)(used - split_drv(dq)->last_used) > dq->num)) {
		dq->broken = true;
		vq_err("driver vq: used idx %u jumped past %u", used, split_drv(dq)->last_used);
		return -VQ_EIO;
	}
	if (!dq->in_order)
		return split_drv_get_used_ooo(dq, tokens, lens, max, used);
	return split_drv_get_used_io(dq, tokens, lens, max, used);
}

static bool split_drv_enable_cb(struct vqcore_drvq *dq)
{
	if (dq->event_idx)
		VQ_WRITE_ONCE(split_drv(dq)->avail->ring[dq->num], vq_le16(split_drv(dq)->last_used));
	else
		VQ_WRITE_ONCE(split_drv(dq)->avail->flags, 0);
	vq_mb();
	return vq_le16(VQ_READ_ONCE(split_drv(dq)->used->idx)) != split_drv(dq)->last_used;
}

static void split_drv_disable_cb(struct vqcore_drvq *dq)
{
	if (!dq->event_idx)
		VQ_WRITE_ONCE(split_drv(dq)->avail->flags, vq_le16(VRING_AVAIL_F_NO_INTERRUPT));
	else
		/* an event index far behind: no interrupt for a whole lap */
		VQ_WRITE_ONCE(split_drv(dq)->avail->ring[dq->num],
			      vq_le16((uint16_t)(split_drv(dq)->last_used - 0x8000)));
}

static void split_drv_free(struct vqcore_drvq *dq)
{
	vq_free(split_drv(dq)->next);
	split_drv(dq)->next = NULL;
}

/* =================== vhost-user =================== */

/* The base is the free-running avail index (16 bits). */
static int split_base_decode(uint32_t wire, uint32_t *pos)
{
	if (wire > UINT16_MAX)
		return -VQ_EINVAL;
	*pos = wire;
	return 0;
}

static uint32_t split_base_encode(uint32_t pos)
{
	return pos;
}

/* A front-end reads the used index a restarted backend resumes at. */
static int split_drv_ring_used(const struct vqcore_drvq *dq, uint32_t *pos)
{
	*pos = vq_le16(vq_load_acquire(&split_drv(dq)->used->idx));
	return 0;
}

/*
 * The spec's QueueRegionSplit: a head is marked (counter, inflight = 1)
 * when fetched.  On used, the batch is chained through last_batch_head
 * before the used index moves, then unmarked and used_idx advanced, so a
 * crash between the two is repaired on restart by comparing used_idx with
 * the ring.  A resubmitted buffer is fetched again at its head, its id.
 * The region's header fields are host order, as QEMU and libvhost-user
 * write them.
 */
struct split_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct split_inflight {
	uint64_t features;  /* struct vq_inflight_hdr */
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct split_inflight_desc desc[];
};

_Static_assert(offsetof(struct split_inflight, version) ==
	       offsetof(struct vq_inflight_hdr, version) &&
	       offsetof(struct split_inflight, desc_num) ==
	       offsetof(struct vq_inflight_hdr, desc_num) &&
	       offsetof(struct split_inflight, last_batch_head) == 12 &&
	       sizeof(struct split_inflight) == 16 &&
	       sizeof(struct split_inflight_desc) == 16,
	       "QueueRegionSplit layout");

static uint64_t split_inflight_bytes(uint16_t qsize)
{
	return sizeof(struct split_inflight) +
	       (uint64_t)qsize * sizeof(struct split_inflight_desc);
}

static void split_inflight_start(const struct vqcore_vq *vq, void *reg, uint16_t num,
				 uint32_t used, bool recorded)
{
	struct split_inflight *r = reg;

	(void)vq; /* @used is the ring's used index */

	if (recorded && (uint16_t)used != r->used_idx) {
		/* crashed between the used ring and used_idx: the last batch
		 * was completed; the walk is bounded and stays in the ring */
		uint16_t batch = (uint16_t)((uint16_t)used - r->used_idx);
		uint16_t h = r->last_batch_head;

		for (unsigned k = 0; k < batch && k < num && h < num; k++) {
			r->desc[h].inflight = 0;
			h = r->desc[h].next;
		}
	}
	r->used_idx = (uint16_t)used;
}

static bool split_inflight_pending(const void *reg, uint16_t id, uint64_t *counter)
{
	const struct split_inflight *r = reg;

	if (r->desc[id].inflight != 1)
		return false;
	/* the region may sit at any offset of its file */
	__builtin_memcpy(counter, &r->desc[id].counter, sizeof(*counter));
	return true;
}

/* Resume just past the buffers in flight, as libvhost-user does. */
static int split_inflight_resume(const void *reg, uint16_t num, uint32_t used,
				 const uint16_t *ids, unsigned np, uint32_t *avail,
				 uint32_t *used_out)
{
	(void)reg;
	(void)num;
	(void)ids;
	*avail = (uint16_t)(used + np);
	*used_out = (uint16_t)used;
	return 0;
}

static int split_inflight_head(const void *reg, uint16_t num, uint16_t id,
			       uint16_t *head)
{
	(void)reg;
	(void)num;
	*head = id;
	return 0;
}

static void split_inflight_fetched(void *reg, const struct vhost_buf *b,
				   uint64_t counter)
{
	struct split_inflight *r = reg;

	r->desc[b->id].counter = counter;
	vq_wmb();
	r->desc[b->id].inflight = 1;
}

static void split_inflight_clear(void *reg, uint16_t id)
{
	((struct split_inflight *)reg)->desc[id].inflight = 0;
}

static void split_inflight_used_begin(void *reg, uint16_t num,
				      const struct vhost_buf *bufs, unsigned n)
{
	struct split_inflight *r = reg;

	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= num)
			continue;
		r->desc[id].next = r->last_batch_head;
		r->last_batch_head = id;
	}
	vq_wmb();
}

static void split_inflight_used_end(void *reg, unsigned n, uint32_t used)
{
	struct split_inflight *r = reg;

	(void)used;
	vq_wmb();
	r->used_idx = (uint16_t)(r->used_idx + n);
}

static const struct vq_inflight_ops split_inflight_ops = {
	.bytes = split_inflight_bytes,
	.start = split_inflight_start,
	.pending = split_inflight_pending,
	.resume = split_inflight_resume,
	.head = split_inflight_head,
	.fetched = split_inflight_fetched,
	.clear = split_inflight_clear,
	.used_begin = split_inflight_used_begin,
	.used_end = split_inflight_used_end,
};

const struct vq_format_ops vq_split_ops VQ_HIDDEN = {
	.name = "split",
	.check_num = split_check_num,
	.layout = split_layout,
	.area_sizes = split_area_sizes,
	.area_align = { 16, 2, 4 },  /* virtio 1.x 2.7: desc, avail, used */
	.attach = split_attach,
	.reset = split_reset,
	.fetch = split_fetch,
	.get_direct = split_get_direct,
	.fetch_at = split_fetch_at,
	.put_used = split_put_used,
	.avail_pending = split_avail_pending,
	.set_notify = split_set_notify,
	.should_signal = split_should_signal,
	.set_base = split_set_base,
	.set_used_base = split_set_used_base,
	.get_used_base = split_get_used_base,
	.lean_get = split_lean_get,
	.lean_put = split_lean_put,
	.drv_init = split_drv_init,
	.drv_add = split_drv_add,
	.drv_add_batch = split_drv_add_batch,
	.drv_add_sg = split_drv_add_sg,
	.drv_kick_prepare = split_drv_kick_prepare,
	.drv_publish = split_drv_publish,
	.drv_get_used = split_drv_get_used,
	.drv_enable_cb = split_drv_enable_cb,
	.drv_disable_cb = split_drv_disable_cb,
	.drv_free = split_drv_free,
	.drv_ring_used = split_drv_ring_used,
	.area_name = { "descriptor", "avail", "used" },
	.start_pos = 0,
	.base_decode = split_base_decode,
	.base_encode = split_base_encode,
	.inflight = &split_inflight_ops,
};
