/* SPDX-License-Identifier: MIT */
/*
 * The packed virtqueue (virtio 1.1+ section 2.8): one descriptor ring that
 * both sides write, plus two event suppression structures.  Device side and
 * driver side, behind vq_format_ops.
 *
 * Positions (vq->avail_pos, fetch_pos, inorder_pos, vhost_buf.reserved, the
 * vring base) are a ring slot index with the wrap counter in bit 15, as
 * vhost-user GET/SET_VRING_BASE carry them: a fresh ring starts at 0x8000
 * (slot 0, wrap counter 1).
 *
 * A descriptor is available when its AVAIL flag equals the driver's wrap
 * counter and its USED flag does not; it is used when both flags equal the
 * device's used wrap counter (2.8.1).  The driver writes a buffer's head
 * flags last; the device returns buffers in used descriptors written at its
 * used index, skipping as many slots as each buffer took (2.8.4).
 */
#include "vq_lean.h"

#define PACKED_MAX_NUM 32768u
#define PACKED_WRAP_BIT 15
#define PACKED_IDX_MASK 0x7fffu

#define VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define VRING_PACKED_DESC_F_USED (1u << 15)

/* An event suppression area as it sits in guest memory (little-endian). */
struct vring_packed_event {
	uint16_t off_wrap;
	uint16_t flags;
};
#define VRING_PACKED_EVENT_FLAG_ENABLE 0
#define VRING_PACKED_EVENT_FLAG_DISABLE 1
#define VRING_PACKED_EVENT_FLAG_DESC 2

/* The device side's state, in vqcore_vq.fmt. */
struct vq_packed_dev {
	struct vring_desc_raw *desc;
	struct vring_packed_event *driver_event;
	struct vring_packed_event *device_event;
	uint16_t used_idx;       /* next used slot */
	bool used_wrap;
	uint16_t signalled_used; /* used position (idx|wrap<<15) at last signal */
	bool signalled_valid;
};
VQ_FMT_DEV_FITS(struct vq_packed_dev);

static inline __attribute__((always_inline)) struct vq_packed_dev *
packed_dev(const struct vqcore_vq *vq)
{
	return vq_fmt_dev(vq);
}

/* The driver side's state, in vqcore_drvq.fmt. */
struct vq_packed_drv {
	struct vring_desc_raw *desc;
	struct vring_packed_event *driver_event;
	struct vring_packed_event *device_event;
	uint16_t next_avail;     /* next slot to fill */
	bool avail_wrap;
	uint16_t last_used;      /* next slot to check for used */
	bool used_wrap;
	uint16_t kicked_pos;     /* position (idx|wrap<<15) at last kick check */
	uint16_t *free_ids;
	uint16_t nfree_ids;
	/* The first buffer of an unpublished batch: its head flags are
	 * written at publish, so the device sees the whole batch at once
	 * (buffers after it are hidden behind it). */
	bool pending;
	uint16_t pending_head;
	uint16_t pending_flags;
};
VQ_FMT_DRV_FITS(struct vq_packed_drv);

static inline __attribute__((always_inline)) struct vq_packed_drv *
packed_drv(const struct vqcore_drvq *dq)
{
	return vq_fmt_drv(dq);
}

static inline uint16_t packed_pos(uint16_t idx, bool wrap)
{
	return (uint16_t)(idx | ((unsigned)wrap << PACKED_WRAP_BIT));
}

static inline uint16_t packed_idx(uint32_t pos)
{
	return (uint16_t)(pos & PACKED_IDX_MASK);
}

static inline bool packed_wrap(uint32_t pos)
{
	return (pos >> PACKED_WRAP_BIT) & 1;
}

/* Flags that make a descriptor available (driver) for wrap counter @w. */
static inline uint16_t packed_avail_bits(bool w)
{
	return w ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

/* Flags that mark a descriptor used (device) for wrap counter @w. */
static inline uint16_t packed_used_bits(bool w)
{
	return w ? (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED) : 0;
}

#define PACKED_WRAP_MASK (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)

/* The wrap counter whose avail bits are @want. */
static inline bool packed_want_wrap(uint16_t want)
{
	return want & VRING_PACKED_DESC_F_AVAIL;
}

static inline bool packed_is_avail(uint16_t flags, bool w)
{
	return (flags & PACKED_WRAP_MASK) == packed_avail_bits(w);
}

static inline bool packed_is_used(uint16_t flags, bool w)
{
	return (flags & PACKED_WRAP_MASK) == packed_used_bits(w);
}

static inline uint16_t *packed_flags_ptr(struct vring_desc_raw *d)
{
	return &d->next_or_flags;
}

static inline uint16_t packed_load_flags(const struct vring_desc_raw *d)
{
	return vq_le16(vq_load_acquire(&d->next_or_flags));
}

/*
 * Advance (@idx, @wrap) by @n slots of a ring of @num.  The result is a
 * slot below @num whatever the input (a position handed back by the device
 * or an in-order run may, against the rules, span more than one lap).
 */
static inline void packed_advance(uint16_t num, uint16_t *idx, bool *wrap,
				  unsigned n)
{
	unsigned i = *idx + n;

	if (i >= num) {
		if (likely(i < 2u * num)) {
			i -= num;
			*wrap = !*wrap;
		} else {
			*wrap ^= (i / num) & 1;
			i %= num;
		}
	}
	*idx = (uint16_t)i;
}

/*
 * Take the lines of @n slots from @idx for writing (a read for ownership).
 * Each side of a packed ring reads a descriptor line the other side wrote
 * and then writes the same line: fetching it for ownership in the first
 * place saves the second coherence transaction (read shared, then
 * upgrade), so each line moves once per direction per lap.  Only a hint:
 * it never faults and has no effect on what the program sees.  Built for
 * generic x86-64, GCC emits it as PREFETCHT0 (a read prefetch), asking
 * for all of a batch's lines at once.
 */
static inline void packed_prefetch_own(const struct vring_desc_raw *ring,
				       uint16_t num, uint16_t idx, unsigned n)
{
	const struct vring_desc_raw *s = &ring[idx];
	unsigned i, part;

	/* one slot: the callers have just read its flags, its line is in */
	if (n <= 1)
		return;
	if (n > num)
		n = num;
	/* every fourth slot up to the ring's end, then from its start: no
	 * wrap test per line */
	part = VQ_MIN(n, (unsigned)num - idx);
	for (unsigned j = 0; j < part; j += 4)
		__builtin_prefetch(&s[j], 1, 3);
	for (unsigned j = 0; j < n - part; j += 4)
		__builtin_prefetch(&ring[j], 1, 3);
	/* the last slot: covers a ring that is not line aligned */
	i = idx + n - 1u;
	__builtin_prefetch(&ring[i >= num ? i - num : i], 1, 3);
}

/*
 * Event index check on positions with wrap counters: has the ring moved
 * past @off_wrap while going from @old_pos to @new_pos?  Positions on the
 * previous lap are moved one ring size back so that the 16-bit arithmetic
 * of vring_need_event() sees one linear range.
 */
static bool packed_need_event(uint16_t num, uint16_t off_wrap, uint16_t new_pos,
			      uint16_t old_pos)
{
	bool wrap = packed_wrap(new_pos);
	uint16_t new_idx = packed_idx(new_pos);
	uint16_t old_idx = packed_idx(old_pos);
	uint16_t event = packed_idx(off_wrap);

	if (packed_wrap(old_pos) != wrap)
		old_idx = (uint16_t)(old_idx - num);
	if (packed_wrap(off_wrap) != wrap)
		event = (uint16_t)(event - num);
	return vring_need_event(event, new_idx, old_idx);
}

static int packed_check_num(uint16_t num)
{
	if (!num || num > PACKED_MAX_NUM)
		return -VQ_EINVAL;
	return 0;
}

static void packed_area_sizes(uint16_t num, uint64_t sizes[3])
{
	sizes[0] = 16ull * num;
	sizes[1] = sizeof(struct vring_packed_event);
	sizes[2] = sizeof(struct vring_packed_event);
}

static int packed_layout(uint16_t num, uint64_t gpa, struct vqcore_ring_layout *l)
{
	uint64_t sizes[3];

	if (packed_check_num(num) < 0)
		return -VQ_EINVAL;
	packed_area_sizes(num, sizes);
	/* Each area on its own line: the device event structure is written
	 * by the device and read by the driver, the other way round for the
	 * driver event structure; neither shares a line with descriptors. */
	l->desc = VQ_ALIGN_UP(gpa, (uint64_t)VQ_CACHELINE);
	l->driver = VQ_ALIGN_UP(l->desc + sizes[0], (uint64_t)VQ_CACHELINE);
	l->device = VQ_ALIGN_UP(l->driver + sizes[1], (uint64_t)VQ_CACHELINE);
	l->size = VQ_ALIGN_UP(l->device + sizes[2], (uint64_t)VQ_CACHELINE) - gpa;
	return 0;
}

/* =================== device side =================== */

static void packed_attach(struct vqcore_vq *vq)
{
	packed_dev(vq)->desc = vq->area[0].hva;
	packed_dev(vq)->driver_event = vq->area[1].hva;
	packed_dev(vq)->device_event = vq->area[2].hva;
}

static void packed_reset(struct vqcore_vq *vq)
{
	vq->avail_pos = packed_pos(0, true);
	packed_dev(vq)->used_idx = 0;
	packed_dev(vq)->used_wrap = true;
	packed_dev(vq)->signalled_valid = false;
}

/*
 * Emit an indirect table's entries into the cache (2.8.7): the table is
 * read sequentially, its NEXT flags are ignored, and it may not contain
 * another indirect descriptor.
 */
static VQ_NOINLINE int packed_indirect(struct vqcore_vq *vq, uint64_t addr,
				       uint32_t len, uint32_t *total)
{
	const void *table;
	int r = vq_indirect_open(vq, addr, len, &table);
	uint32_t n, first = vq->desc_used, last_rd = 0;
	bool seen_w = false, quirk = false;

	if (unlikely(r < 0))
		return r;
	n = (uint32_t)r;
	if (unlikely(*total + n > vq->num))
		return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
				"chain of more than %u descriptors", vq->num);
	for (uint32_t j = 0; j < n; j++) {
		struct vring_desc_raw e;
		bool w;

		r = vq_read_indirect(vq, table, addr, j, &e);
		if (unlikely(r < 0))
			return vq_break(vq, r, "indirect table at 0x%llx",
					(unsigned long long)addr);
		/* packed layout: flags are in the last 16 bits */
		if (unlikely(e.next_or_flags & VRING_DESC_F_INDIRECT))
			return vq_break(vq, -VQCORE_E_NESTED_INDIRECT,
					"indirect descriptor in an indirect table at 0x%llx",
					(unsigned long long)addr);
		/* a readable entry after a writable one: the last such one */
		w = e.next_or_flags & VRING_DESC_F_WRITE;
		seen_w |= w;
		if (!w && seen_w) {
			quirk = true;
			last_rd = j;
		}
		vq_cache_push(vq, e.addr, e.len, e.next_or_flags);
	}
	/*
	 * DPDK's virtio PMD leaves VRING_DESC_F_WRITE in the entries of its
	 * packed tx tables it does not rewrite (the net header, entry 0), so
	 * an unmodified DPDK driver sends "writable, then readable" here.
	 * Entries before the last readable one are taken as readable: the
	 * device then only reads memory the driver offered, and nothing
	 * becomes writable that the driver did not mark so.  Only a table
	 * with that order is touched, only its write flags.
	 */
	if (unlikely(quirk))
		for (uint32_t j = first; j < first + last_rd; j++)
			vq->desc_cache[j].flags &= (uint16_t)~VHOST_DESC_F_WRITE;
	*total += n;
	return 0;
}

/*
 * The general path: one buffer from @*idx/@*wrap, whose head flags
 * @flags were read with acquire and found available.  Every descriptor is
 * read once: flags first, then address, length and id.
 */
static int packed_fetch_chain(struct vqcore_vq *vq, uint16_t *idx, bool *wrap,
			      uint16_t flags, bool out_of_order)
{
	struct vring_desc_raw *ring = packed_dev(vq)->desc;
	uint32_t first = vq->desc_used, total = 0, pos = packed_pos(*idx, *wrap);
	uint16_t i = *idx, id, ndesc = 0;
	bool w = *wrap;

	for (;;) {
		const struct vring_desc_raw *d = &ring[i];
		uint64_t addr = vq_le64(VQ_READ_ONCE(d->addr));
		uint32_t len = vq_le32(VQ_READ_ONCE(d->len));

		id = vq_le16(VQ_READ_ONCE(d->flags_or_id));
		ndesc++;
		packed_advance(vq->num, &i, &w, 1);
		if (flags & VRING_DESC_F_INDIRECT) {
			int r = packed_indirect(vq, addr, len, &total);

			if (unlikely(r < 0))
				return r;
		} else {
			if (unlikely(++total > vq->num))
				return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
						"chain of more than %u descriptors",
						vq->num);
			vq_cache_push(vq, addr, len, flags);
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (unlikely(ndesc >= vq->num))
			return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
					"chain at slot %u longer than the queue (%u)",
					packed_idx(pos), vq->num);
		/* The head was published last, after the rest of the chain:
		 * its acquire load orders these reads. */
		flags = vq_le16(VQ_READ_ONCE(*packed_flags_ptr(&ring[i])));
		if (unlikely(!packed_is_avail(flags, w)))
			return vq_break(vq, -VQCORE_E_WRAP_COUNTER,
					"slot %u in a chain: flags 0x%04x, wrap counter %u",
					i, flags, w);
	}
	/* The buffer id is the one in the last descriptor (2.8.6). */
	{
		int r = vq_cache_commit(vq, first, id, ndesc, (uint16_t)pos,
					packed_pos(i, w), out_of_order);

		if (unlikely(r < 0))
			return r;
	}
	*idx = i;
	*wrap = w;
	return 0;
}

/* vhost_buf.reserved of the buffer of one slot at @idx of lap @wrap (tail form). */
static inline uint64_t packed_one_pos(uint16_t num, uint16_t idx, bool wrap)
{
	uint16_t pos = packed_pos(idx, wrap);

	return VQ_ONE_POS(pos, idx + 1u < num ? pos + 1u : packed_pos(0, !wrap));
}

/*
 * Arm the empty-ring check at slot @idx of lap @wrap: empty while the
 * slot's AVAIL bit differs from the wrap counter (a filter: the full test
 * also reads the USED bit).
 */
static inline void packed_poll_arm(struct vqcore_vq *vq, uint16_t idx, bool wrap)
{
	vq_poll_arm(vq, packed_flags_ptr(&packed_dev(vq)->desc[idx]),
		    vq_le16(VRING_PACKED_DESC_F_AVAIL),
		    wrap ? 0 : vq_le16(VRING_PACKED_DESC_F_AVAIL));
}

/* How many buffers get_direct may take: the batch, and what @o has room for. */
static inline unsigned packed_direct_max(const struct vqcore_vq *vq,
					 const struct vq_out *o)
{
	unsigned max = VQ_MIN(vq->batch, o->max_bufs - o->n);

	return VQ_MIN(max, o->max_iov - o->k);
}

/* The state of packed_get_direct()'s loop. */
struct packed_direct {
	const struct vring_desc_raw *ring, *last;  /* the first and last slots */
	const struct vring_desc_raw *s;            /* the slot to take next */
	const struct vhost_buf *end;   /* the caller's entries it may fill */
	uint16_t num, f;               /* f: the flags of slot s, read */
	uint16_t want;                 /* the avail bits of this lap */
	uint64_t addr;                 /* the range that missed the region */
	uint32_t len;
};

/*
 * Take one-slot buffers from slot d->s into @t until d->end, or a slot
 * that is not available or needs the general path (false), or one whose
 * range is outside t->r (true, with the range in @d and the slot not
 * consumed).  No call: its values stay in registers.  The position of
 * the next slot is the high half of t->tail.
 */
static inline __attribute__((always_inline)) bool
packed_direct_loop(struct packed_direct *d, struct vq_one *t)
{
	const uint16_t mask = PACKED_WRAP_MASK | VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT;

	for (;;) {
		uint16_t id;

		if ((d->f & mask) != d->want)
			return false;  /* the end, a chain or an indirect table */
		d->addr = vq_le64(VQ_READ_ONCE(d->s->addr));
		d->len = vq_le32(VQ_READ_ONCE(d->s->len));
		id = vq_le16(VQ_READ_ONCE(d->s->flags_or_id));
		if (unlikely(id >= d->num || t->ids[id] != VQ_ID_FREE))
			return false;
		if (unlikely(!vq_rgn_in(&t->r, d->addr, d->len)))
			return true;
		if (likely(d->s != d->last)) {
			vq_one_put(t, d->addr, d->len, d->f, id, 1, VQ_ONE_STEP);
			d->s++;
		} else {
			/* the lap ends at this slot: the positions in the tail
			 * do not step by one here */
			bool wrap = packed_want_wrap(d->want);

			t->tail = (uint32_t)t->tail |
				  packed_one_pos(d->num, (uint16_t)(d->num - 1), wrap);
			vq_one_put(t, d->addr, d->len, d->f, id, 1, 1);
			d->s = d->ring;
			d->want ^= PACKED_WRAP_MASK;
			t->tail = (uint32_t)t->tail | packed_one_pos(d->num, 0, !wrap);
		}
		if (t->b == d->end)
			return false;
		d->f = vq_le16(vq_load_acquire(&d->s->next_or_flags));
	}
}

/*
 * get_direct: one-descriptor buffers straight into the caller's arrays
 * (vq_one_put()), one slot at a time, with nothing around the loop but
 * the first slot's check and the batch's prefetch.  It stops, without
 * consuming it, at the first slot that is not available or needs the
 * general path (a chain, an indirect table, an id that is out of range or
 * in flight, a zero length, an address outside the known regions);
 * packed_fetch() goes on from there and reports what is wrong, if
 * anything.
 */
static void packed_get_direct(struct vqcore_vq *vq, struct vq_out *o)
{
	const uint16_t idx = packed_idx(vq->fetch_pos);
	struct packed_direct d = { .ring = packed_dev(vq)->desc, .num = vq->num,
				   .s = &packed_dev(vq)->desc[idx],
				   .last = &packed_dev(vq)->desc[vq->num - 1],
				   .want = packed_avail_bits(packed_wrap(vq->fetch_pos)) };
	unsigned max = packed_direct_max(vq, o), n;
	struct vq_one t;
	uint16_t pos;

	d.f = vq_le16(vq_load_acquire(&d.s->next_or_flags));
	o->more = !((d.f ^ d.want) & PACKED_WRAP_MASK);
	if (!o->more) {
		packed_poll_arm(vq, idx, packed_wrap(vq->fetch_pos));
		return;  /* empty */
	}
	/* The first slot is available (the driver publishes a batch by its
	 * first flags): take the batch's lines for writing.  The device
	 * writes a used descriptor into every slot it reads out of order, and
	 * into one slot of every line in order (packed_run_split()). */
	packed_prefetch_own(d.ring, d.num, idx, max);
	if (unlikely(!max || !vq_one_start(&t, vq, o)))
		return;  /* no room, or no region: the general path reports it */
	t.tail |= packed_one_pos(d.num, idx, packed_wrap(vq->fetch_pos));
	d.end = t.b + max;
	if (packed_direct_loop(&d, &t))
		vq_one_miss(o, d.addr, d.len);
	/* more, unless it stopped at a slot that is not available */
	o->more = t.b == d.end || !((d.f ^ d.want) & PACKED_WRAP_MASK);
	n = vq_one_end(&t, o);
	vq->nout += n;
	/* the tail holds the position after the last buffer taken */
	pos = (uint16_t)(t.tail >> 32);
	vq->fetch_pos = vq->avail_pos = pos;
	packed_poll_arm(vq, packed_idx(pos), packed_wrap(pos));
}

static int packed_fetch(struct vqcore_vq *vq)
{
	struct vring_desc_raw *ring = packed_dev(vq)->desc;
	struct vq_out *out = vq->out;
	unsigned nbufs = 0;
	uint16_t idx;
	bool wrap;
	int r = 0;

	if (out) {
		/* straight to the caller first, while nothing is cached (order) */
		unsigned n0 = out->n;

		packed_get_direct(vq, out);
		nbufs = out->n - n0;
		if (!out->more)
			return (int)nbufs;
	}
	idx = packed_idx(vq->fetch_pos);
	wrap = packed_wrap(vq->fetch_pos);
	if (!out && packed_is_avail(packed_load_flags(&ring[idx]), wrap))
		packed_prefetch_own(ring, vq->num, idx, vq->batch);
	/* the rest (chains, indirect tables, what did not fit or needs a
	 * closer look) into the cache */
	while (nbufs < vq->batch && vq_cache_room(vq)) {
		uint16_t flags = packed_load_flags(&ring[idx]);

		if (!packed_is_avail(flags, wrap))
			break;
		r = packed_fetch_chain(vq, &idx, &wrap, flags, false);
		if (unlikely(r < 0))
			break;
		nbufs++;
	}
	vq->fetch_pos = packed_pos(idx, wrap);
	return r < 0 ? r : (int)nbufs;
}

/*
 * Resubmission: the buffer whose first descriptor sits at slot @head.  Its
 * lap is not known from outside; the descriptor's own AVAIL bit tells it
 * (an available descriptor has AVAIL == wrap and USED != wrap).
 */
static int packed_fetch_at(struct vqcore_vq *vq, uint16_t head)
{
	uint16_t flags = packed_load_flags(&packed_dev(vq)->desc[head]);
	bool wrap = (flags & VRING_PACKED_DESC_F_AVAIL) != 0;
	uint16_t idx = head;

	if (!packed_is_avail(flags, wrap))
		return -VQ_EINVAL; /* not an available buffer: nothing to resubmit */
	return packed_fetch_chain(vq, &idx, &wrap, flags, true);
}

static int packed_set_used_base(struct vqcore_vq *vq, uint32_t pos)
{
	if (pos > UINT16_MAX || packed_idx(pos) >= vq->num)
		return -VQ_EINVAL;
	packed_dev(vq)->used_idx = packed_idx(pos);
	packed_dev(vq)->used_wrap = packed_wrap(pos);
	packed_dev(vq)->signalled_valid = false;
	return 0;
}

static uint32_t packed_get_used_base(const struct vqcore_vq *vq)
{
	return packed_pos(packed_dev(vq)->used_idx, packed_dev(vq)->used_wrap);
}


/*
 * The stores of a used descriptor; byte order is converted here only.
 * packed_write_used(): its length and id, its flags stored separately.
 * packed_store_used(): length, id and the flags of lap @wrap in the form
 * packed_used_tag() gives them (a loop keeps it), with release: one
 * 8-byte store where the host is little-endian (the driver sees all three
 * or none), else the flags last.
 */
static inline void packed_write_used(struct vring_desc_raw *d, uint16_t id,
				     uint32_t len)
{
	VQ_WRITE_ONCE(d->len, vq_le32(len));
	VQ_WRITE_ONCE(d->flags_or_id, vq_le16(id));
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint64_t packed_used_tag(bool wrap)
{
	return (uint64_t)packed_used_bits(wrap) << 48;
}

static inline __attribute__((always_inline)) void
packed_store_used(struct vring_desc_raw *d, uint32_t len, uint16_t id, uint64_t tag)
{
	__atomic_store_n((vq_u64a *)(void *)&d->len, len | (uint64_t)id << 32 | tag,
			 __ATOMIC_RELEASE);
}
#else
static inline uint64_t packed_used_tag(bool wrap)
{
	return packed_used_bits(wrap);
}

static inline __attribute__((always_inline)) void
packed_store_used(struct vring_desc_raw *d, uint32_t len, uint16_t id, uint64_t tag)
{
	packed_write_used(d, id, len);
	vq_store_release(packed_flags_ptr(d), vq_le16((uint16_t)tag));
}
#endif

/*
 * Log @n slots from @slot as written (dirty log), wrapping at the ring's
 * end; after the stores, so that a page is never logged before its last
 * write (a migration that copies it in between would lose the write).
 */
static void packed_log_slots(struct vqcore_vq *vq, uint16_t slot, unsigned n)
{
	uint64_t base = vq->area[0].gpa;
	unsigned part = VQ_MIN(n, (unsigned)vq->num - slot);

	vq_mem_log(vq->mem, base + 16ull * slot, 16ull * part);
	if (part < n)
		vq_mem_log(vq->mem, base, 16ull * (n - part));
}

/*
 * An in-order run (VIRTIO_F_IN_ORDER) may be returned as one used
 * descriptor or as several, each naming the last buffer of its part
 * (virtio 1.1+ 2.8.20: the device picks the batches).  The device here
 * ends a part where the next buffer starts on a new cache line of the
 * ring, or where the ring wraps: every line the device read a buffer from
 * is then written back by it too, as out of order (the figures that chose
 * this are in docs/notes/performance-log.md).  True when the buffer that took the
 * slots from @from up to @to ends a part.
 */
static inline bool packed_run_split(const struct vring_desc_raw *ring,
				    uint16_t from, uint16_t to)
{
	return to <= from ||
	       ((uintptr_t)&ring[from] >> 6) != ((uintptr_t)&ring[to] >> 6);
}

/*
 * The used descriptor of one part of an in-order run, at @slot, naming
 * buffer @id: length, id and flags (one store where the host allows),
 * except at the batch's @head, whose flags the caller writes last.
 */
static inline void packed_put_part(struct vring_desc_raw *ring, uint16_t slot,
				   uint16_t head, bool wrap, uint16_t id, uint32_t len)
{
	if (slot == head)
		packed_write_used(&ring[head], id, len);
	else
		packed_store_used(&ring[slot], len, id, packed_used_tag(wrap));
}

/*
 * The used descriptors of an in-order run of @n buffers of one slot each
 * from slot *@idx (the batch's head) of lap *@wrap, one per ring line
 * (packed_run_split()), the head's flags left to the caller; the cursors
 * move past the run.  The buffers' ids are @stride bytes apart from *@id0
 * (a vhost_buf or a vq_lean array).
 */
static inline __attribute__((always_inline)) void
packed_put_run_lines(struct vring_desc_raw *ring, uint16_t num, uint16_t *idx, bool *wrap,
		     const uint16_t *id0, size_t stride, const uint32_t *lens, unsigned n)
{
	const uint16_t head = *idx;
	uint16_t start = head;

	for (unsigned i = 0; i < n;) {
		unsigned k = 4 - (((uintptr_t)&ring[start] >> 4) & 3);

		k = VQ_MIN(k, (unsigned)(num - start));
		k = VQ_MIN(k, n - i);
		i += k;
		packed_put_part(ring, start, head, *wrap,
				*(const uint16_t *)(const void *)((const char *)id0 +
								  (i - 1) * stride),
				lens ? lens[i - 1] : 0);
		start = (uint16_t)(start + k);
		if (start == num) {
			start = 0;
			*wrap = !*wrap;
		}
	}
	*idx = start;
}

/*
 * An in-order run of @n buffers from the used index, each part's used
 * descriptor written but the head's flags.  Returns the position past the
 * run (slot and wrap counter, packed_pos()).  Buffers of one slot each
 * (the usual case) split by address arithmetic, others buffer by buffer.
 */
static VQ_NOINLINE uint16_t packed_put_run(struct vqcore_vq *vq,
					       const struct vhost_buf *bufs,
					       const uint32_t *lens, unsigned n)
{
	struct vring_desc_raw *ring = packed_dev(vq)->desc;
	const uint16_t num = vq->num, head = packed_dev(vq)->used_idx;
	uint16_t start = head, idx = head;
	bool wrap = packed_dev(vq)->used_wrap, swrap = wrap;
	unsigned skip = 0;

	for (unsigned j = 0; j < n; j++)
		skip += bufs[j].ndesc;
	if (likely(skip == n)) {
		/* a slot each: the parts follow from the addresses */
		packed_put_run_lines(ring, num, &idx, &wrap, &bufs[0].id, sizeof(*bufs),
				     lens, n);
		return packed_pos(idx, wrap);
	}
	for (unsigned i = 0; i < n; i++) {
		uint16_t from = idx;

		packed_advance(num, &idx, &wrap, bufs[i].ndesc);
		if (i + 1 < n && !packed_run_split(ring, from, idx))
			continue;
		packed_put_part(ring, start, head, swrap, bufs[i].id, lens ? lens[i] : 0);
		start = idx;
		swrap = wrap;
	}
	return packed_pos(idx, wrap);
}

/*
 * Log the slots of a used batch of @n buffers from @head, after its last
 * store (packed_log_slots()); they took at most num slots, being in flight
 * together.
 */
static VQ_COLD void packed_log_batch(struct vqcore_vq *vq, uint16_t head,
				     const struct vhost_buf *bufs, unsigned n)
{
	unsigned skip = 0;

	for (unsigned i = 0; i < n; i++)
		skip += bufs[i].ndesc;
	packed_log_slots(vq, head, skip);
}

/*
 * put_used past its usual case, no lengths outside an in-order run: each
 * used descriptor on its own, the first one's flags last, then the log if
 * one is set.
 */
static VQ_NOINLINE void packed_put_used_other(struct vqcore_vq *vq,
					      const struct vhost_buf *bufs,
					      const uint32_t *lens, unsigned n,
					      bool run)
{
	struct vq_packed_dev *p = packed_dev(vq);
	uint16_t head = p->used_idx, idx = p->used_idx;
	uint16_t head_flags = packed_used_bits(p->used_wrap);
	bool wrap = p->used_wrap;

	if (run) {
		uint16_t end = packed_put_run(vq, bufs, lens, n);

		idx = packed_idx(end);
		wrap = packed_wrap(end);
	} else {
		for (unsigned i = 0; i < n; i++) {
			packed_write_used(&p->desc[idx], bufs[i].id, lens ? lens[i] : 0);
			/* every flags store but the first's publishes now; the
			 * driver reads in order, so it waits on the first */
			if (i)
				vq_store_release(packed_flags_ptr(&p->desc[idx]),
						 vq_le16(packed_used_bits(wrap)));
			packed_advance(vq->num, &idx, &wrap, bufs[i].ndesc);
		}
	}
	/* The first used descriptor's flags last: the batch appears at once. */
	vq_store_release(packed_flags_ptr(&p->desc[head]), vq_le16(head_flags));
	if (unlikely(vq->mem->log))
		packed_log_batch(vq, head, bufs, n);
	p->used_idx = idx;
	p->used_wrap = wrap;
}

/*
 * The used descriptors of @n buffers from slot *@idx of lap *@wrap, each
 * length, id and flags in one store (packed_store_used()); the cursors
 * move past them.
 */
static inline __attribute__((always_inline)) void
packed_put_rest(struct vring_desc_raw *ring, uint16_t num, uint16_t *idx,
		bool *wrap, const struct vhost_buf *bufs, const uint32_t *lens,
		unsigned n)
{
	struct vring_desc_raw *s = &ring[*idx], *const last = &ring[num - 1];
	uint64_t tag = packed_used_tag(*wrap);

	for (unsigned i = 0; i < n; i++) {
		packed_store_used(s, lens[i], bufs[i].id, tag);
		if (likely(bufs[i].ndesc == 1) && likely(s != last)) {
			s++;
			continue;
		}
		*idx = (uint16_t)(s - ring);
		packed_advance(num, idx, wrap, bufs[i].ndesc);
		s = &ring[*idx];
		tag = packed_used_tag(*wrap);
	}
	*idx = (uint16_t)(s - ring);
}

static void packed_put_used(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			    const uint32_t *lens, unsigned n, bool run)
{
	struct vq_packed_dev *p = packed_dev(vq);
	struct vring_desc_raw *ring = p->desc;
	const uint16_t num = vq->num;
	uint16_t head = p->used_idx, idx = head;
	uint16_t head_flags = packed_used_bits(p->used_wrap);
	bool wrap = p->used_wrap;

	if (run && n > 1) {
		/* In order: a used descriptor per ring line the run covers
		 * (packed_run_split()); the head's flags last. */
		uint16_t end = packed_put_run(vq, bufs, lens, n);

		idx = packed_idx(end);
		wrap = packed_wrap(end);
		goto publish;
	}
	if (unlikely(!lens)) {
		packed_put_used_other(vq, bufs, lens, n, run);
		return;
	}
	/* The usual batch: after the first descriptor, one 8-byte store each
	 * writes length, id and flags together (one aligned store: the
	 * driver sees all three or none). */
	packed_advance(num, &idx, &wrap, bufs[0].ndesc);
	if (n > 1)
		packed_put_rest(ring, num, &idx, &wrap, bufs + 1, lens + 1, n - 1);
	/* The head's length and id last, next to its flags: the driver polls
	 * this line, and a store waiting for it would hold up every store
	 * behind it.  Then its flags: the batch appears at once. */
	packed_write_used(&ring[head], bufs[0].id, lens[0]);
publish:
	vq_store_release(packed_flags_ptr(&ring[head]), vq_le16(head_flags));
	if (unlikely(vq->mem->log))
		packed_log_batch(vq, head, bufs, n);
	p->used_idx = idx;
	p->used_wrap = wrap;
}

/* ---- the lean fetch and return (lib/vq_lean.h) ---- */

/* The state of packed_lean_get()'s loop (kept in registers). */
struct packed_lean {
	const struct vring_desc_raw *ring, *last;  /* the first and last slots */
	const struct vring_desc_raw *s;            /* the slot to take next */
	uint8_t *ids;
	struct vq_lean *e, *end;       /* the next entry to fill; the limit */
	uint16_t num, want;            /* want: the flags asked for, this lap */
	uint16_t f;                    /* the flags of slot s, read */
	struct vq_rgn r;
	uint64_t addr;                 /* the slot it stopped at */
	uint32_t len;
	uint16_t id;
};

enum { LEAN_END, LEAN_MISS, LEAN_GENERAL };

#define PACKED_LEAN_MASK (PACKED_WRAP_MASK | VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT | \
			  VRING_DESC_F_WRITE)

/*
 * Hand out slot l->s (l->addr, l->len, l->id) as the next entry, inside
 * l->r; l->s moves to the next slot, one past the ring's last at its end
 * (packed_lean_wrap()).
 */
static inline __attribute__((always_inline)) void packed_lean_one(struct packed_lean *l)
{
	struct vq_lean *e = l->e;

	l->ids[l->id] = VQ_ID_OUT;
	vq_lean_set(e, (uint8_t *)(uintptr_t)(l->addr + l->r.bias), l->len, l->id);
	l->e = e + 1;
	l->s++;
}

/* Past the ring's last slot: the first one, on the next lap. */
static inline void packed_lean_wrap(struct packed_lean *l)
{
	if (l->s == l->last + 1) {
		l->s = l->ring;
		l->want ^= PACKED_WRAP_MASK;
	}
}

/*
 * Fill entries until l->end or a slot that is not available (LEAN_END),
 * or a slot that fails a check of packed_direct_loop() or has another
 * write flag (LEAN_GENERAL), or one whose range is outside l->r
 * (LEAN_MISS); those two stop at the slot, not consumed.  The inner loop
 * runs up to the ring's end, so it steps the slot pointer only.  No call:
 * its values stay in registers.
 */
static inline __attribute__((always_inline)) int packed_lean_loop(struct packed_lean *l)
{
	while (l->e != l->end) {
		const struct vring_desc_raw *stop = l->s + (l->end - l->e);

		if (stop > l->last + 1)
			stop = l->last + 1;
		while (l->s != stop) {
			l->f = packed_load_flags(l->s);
			if (unlikely((l->f & PACKED_LEAN_MASK) != l->want))
				return (l->f ^ l->want) & PACKED_WRAP_MASK ? LEAN_END : LEAN_GENERAL;
			l->addr = vq_le64(VQ_READ_ONCE(l->s->addr));
			l->len = vq_le32(VQ_READ_ONCE(l->s->len));
			l->id = vq_le16(VQ_READ_ONCE(l->s->flags_or_id));
			if (unlikely(l->id >= l->num || l->ids[l->id] != VQ_ID_FREE))
				return LEAN_GENERAL;
			if (unlikely(!vq_rgn_in(&l->r, l->addr, l->len)))
				return LEAN_MISS;
			packed_lean_one(l);
		}
		packed_lean_wrap(l);
	}
	return LEAN_END;
}

/*
 * lean_get: one-slot buffers with the checks of packed_direct_loop() and
 * the write flag asked for.  A range outside the region in hand moves it
 * (vq_rgn_fit(), out of the loop); a slot that fails a check stops it
 * with *@general set, not consumed.
 */
static inline __attribute__((always_inline)) unsigned
packed_lean_get_dir(struct vqcore_vq *vq, struct vq_lean *e, unsigned max, const bool write,
		    bool *general)
{
	const uint16_t idx = packed_idx(vq->fetch_pos);
	struct packed_lean l = { .ring = packed_dev(vq)->desc, .last = &packed_dev(vq)->desc[vq->num - 1],
				 .s = &packed_dev(vq)->desc[idx], .ids = vq->id_state, .e = e,
				 .end = e + max, .num = vq->num,
				 .want = packed_avail_bits(packed_wrap(vq->fetch_pos)) |
					 (write ? VRING_DESC_F_WRITE : 0) };
	unsigned n;
	int r;

	*general = false;
	if ((packed_load_flags(l.s) ^ l.want) & PACKED_WRAP_MASK) {
		packed_poll_arm(vq, idx, packed_wrap(vq->fetch_pos));
		return 0;
	}
	if (unlikely(!vq_rgn_start(&l.r, vq->mem, &vq->mem_hint))) {
		*general = true;
		return 0;
	}
	/* the lines of the batch, for writing (packed_get_direct()) */
	packed_prefetch_own(l.ring, l.num, idx, max);
	while ((r = packed_lean_loop(&l)) == LEAN_MISS) {
		/* another region: the table is read here only */
		if (!vq_rgn_fit(&l.r, vq, l.addr, l.len)) {
			r = LEAN_GENERAL;
			break;
		}
		packed_lean_one(&l);
		packed_lean_wrap(&l);
	}
	*general = r == LEAN_GENERAL;
	n = (unsigned)(l.e - e);
	vq->nout += n;
	{
		const uint16_t at = (uint16_t)(l.s - l.ring);
		const bool wrap = packed_want_wrap(l.want);

		vq->fetch_pos = vq->avail_pos = packed_pos(at, wrap);
		/* armed where it stopped at a slot that is not available */
		if (l.e != l.end && r == LEAN_END)
			packed_poll_arm(vq, at, wrap);
		else
			vq_poll_disarm(vq);
	}
	return n;
}

/* A loop for each direction: the flags asked for are constants in it. */
static unsigned packed_lean_get(struct vqcore_vq *vq, struct vq_lean *e, unsigned max,
				bool write, bool *general)
{
	if (write)
		return packed_lean_get_dir(vq, e, max, true, general);
	return packed_lean_get_dir(vq, e, max, false, general);
}

/*
 * The used descriptors of an in-order run of the @k one-slot buffers
 * e[0..k) from slot @head of lap @hwrap: one per ring line the run
 * covers, naming the last buffer in it, as packed_put_run_lines() splits
 * the run, but whole lines in a loop of their own.  The head's length and
 * id are written, not its flags (the caller's, last).  *@idx and *@wrap
 * receive the position past the run.
 */
static inline __attribute__((always_inline)) void
packed_lean_run(struct vring_desc_raw *ring, uint16_t num, uint16_t head, bool hwrap,
		const struct vq_lean *e, const uint32_t *lens, const bool has_lens, unsigned k,
		uint16_t *idx, bool *wrap)
{
	/* the line offset of slot 0 (a ring is 16-byte aligned) */
	const unsigned roff = (unsigned)((uintptr_t)ring >> 4) & 3;
	unsigned s = head, i, take;
	bool w = hwrap;
	uint64_t tag = packed_used_tag(w);

	/* the head's part: up to its line's end, the ring's or the run's */
	take = VQ_MIN(4 - ((roff + s) & 3), VQ_MIN((unsigned)num - s, k));
	i = take;
	s += take;
	packed_write_used(&ring[head], e[i - 1].id, has_lens ? lens[i - 1] : 0);
	while (i < k) {
		if (s == num) {
			s = 0;
			w = !w;
			tag = packed_used_tag(w);
		}
		if (!((roff + s) & 3)) {
			/* whole lines up to the ring's end or the run's */
			for (unsigned n = VQ_MIN(k - i, (unsigned)num - s) / 4; n; n--) {
				i += 4;
				packed_store_used(&ring[s], has_lens ? lens[i - 1] : 0,
						  e[i - 1].id, tag);
				s += 4;
			}
			if (i == k)
				break;
			if (s == num)
				continue;
		}
		/* a part of a line: at the ring's end or the run's, or
		 * after a wrap to a ring that does not start a line */
		take = VQ_MIN(4 - ((roff + s) & 3), VQ_MIN((unsigned)num - s, k - i));
		i += take;
		packed_store_used(&ring[s], has_lens ? lens[i - 1] : 0, e[i - 1].id, tag);
		s += take;
	}
	if (s == num) {
		s = 0;
		w = !w;
	}
	*idx = (uint16_t)s;
	*wrap = w;
}

/*
 * lean_put: the used descriptors of @k one-slot buffers (for an in-order
 * run, as packed_put_run() splits it), each id's in-flight state cleared
 * in the same loop; the first one's flags last.
 */
static uint32_t packed_lean_put(struct vqcore_vq *vq, const struct vq_lean *e,
				const uint32_t *lens, unsigned k, bool run, uint32_t pos)
{
	struct vq_packed_dev *p = packed_dev(vq);
	struct vring_desc_raw *const ring = p->desc;
	const uint16_t num = vq->num, head = p->used_idx;
	const bool hwrap = p->used_wrap;
	uint8_t *ids = vq->id_state;
	uint16_t idx = head;
	bool wrap = hwrap;

	if (run) {
		vq_lean_free_ids(ids, e, k);
		if (lens)
			packed_lean_run(ring, num, head, hwrap, e, lens, true, k, &idx, &wrap);
		else
			packed_lean_run(ring, num, head, hwrap, e, NULL, false, k, &idx, &wrap);
	} else {
		/* the first one's length and id last, next to its flags (see
		 * packed_put_used()) */
		static const uint32_t zero[1];
		/* lens NULL: 0 each (a step of 0 through one zero) */
		const uint32_t *lp = lens ? lens + 1 : zero;
		const unsigned lstep = lens ? 1 : 0;
		/* e[i] goes to slot head + i up to the ring's end (first
		 * slots), then to slot i - first on the next lap: a loop for
		 * each part, no wrap test per buffer */
		const unsigned first = (unsigned)num - head, stop = VQ_MIN(k, first);
		struct vring_desc_raw *const s = &ring[head];
		unsigned i;

		for (i = 1; i < stop; i++, lp += lstep) {
			/* in locals: the id stores may alias anything */
			const uint32_t l = *lp;
			const uint16_t id = e[i].id;

			ids[id] = VQ_ID_FREE;
			packed_store_used(&s[i], l, id, packed_used_tag(hwrap));
		}
		for (; i < k; i++, lp += lstep) {
			const uint32_t l = *lp;
			const uint16_t id = e[i].id;

			ids[id] = VQ_ID_FREE;
			packed_store_used(&ring[i - first], l, id, packed_used_tag(!hwrap));
		}
		ids[e[0].id] = VQ_ID_FREE;
		packed_write_used(&ring[head], e[0].id, lens ? lens[0] : 0);
		if (k >= first) {
			idx = (uint16_t)(k - first);
			wrap = !hwrap;
		} else {
			idx = (uint16_t)(head + k);
		}
	}
	/* the first used descriptor's flags last: the batch appears at once */
	vq_store_release(packed_flags_ptr(&ring[head]), vq_le16(packed_used_bits(hwrap)));
	if (unlikely(vq->mem->log))
		packed_log_slots(vq, head, k);
	p->used_idx = idx;
	p->used_wrap = wrap;
	{
		uint16_t pi = packed_idx(pos);
		bool pw = packed_wrap(pos);

		packed_advance(num, &pi, &pw, k);
		return packed_pos(pi, pw);
	}
}

static bool packed_avail_pending(struct vqcore_vq *vq)
{
	uint16_t flags = packed_load_flags(&packed_dev(vq)->desc[packed_idx(vq->fetch_pos)]);

	return packed_is_avail(flags, packed_wrap(vq->fetch_pos));
}

/* Write the device event structure (device -> driver: when to kick). */
static void packed_set_notify(struct vqcore_vq *vq, bool enable)
{
	struct vring_packed_event *ev = packed_dev(vq)->device_event;
	uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

	if (enable && vq->event_idx) {
		/* kick when the driver makes the next slot we read available */
		VQ_WRITE_ONCE(ev->off_wrap, vq_le16((uint16_t)vq->fetch_pos));
		/* off_wrap before flags (the driver reads both at once) */
		vq_wmb();
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else if (enable) {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	if (VQ_READ_ONCE(ev->flags) != vq_le16(flags))
		VQ_WRITE_ONCE(ev->flags, vq_le16(flags));
	vq_mem_log(vq->mem, vq->area[2].gpa, sizeof(*ev));
}

/* Read the driver event structure (driver -> device: when to interrupt). */
static bool packed_should_signal(struct vqcore_vq *vq)
{
	struct vq_packed_dev *p = packed_dev(vq);
	uint16_t old, new_pos, flags, off_wrap;
	uint32_t ev;
	bool valid;

	/* off_wrap, then flags: one little-endian word */
	ev = vq_le32(__atomic_load_n((const vq_u32a *)(const void *)p->driver_event,
				     __ATOMIC_RELAXED));
	off_wrap = (uint16_t)ev;
	flags = (uint16_t)(ev >> 16);
	old = p->signalled_used;
	valid = p->signalled_valid;
	new_pos = packed_pos(p->used_idx, p->used_wrap);
	p->signalled_used = new_pos;
	p->signalled_valid = true;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	if (unlikely(!valid))
		return true;
	if (old == new_pos)
		return false;
	return packed_need_event(vq->num, off_wrap, new_pos, old);
}

static int packed_set_base(struct vqcore_vq *vq, uint32_t base)
{
	if (base > UINT16_MAX || packed_idx(base) >= vq->num)
		return -VQ_EINVAL;
	/* vhost-user: the used position resumes where avail does */
	packed_dev(vq)->used_idx = packed_idx(base);
	packed_dev(vq)->used_wrap = packed_wrap(base);
	packed_dev(vq)->signalled_valid = false;
	return 0;
}

/* =================== driver side =================== */

static int packed_drv_init(struct vqcore_drvq *dq)
{
	uint16_t num = dq->num;

	packed_drv(dq)->desc = dq->area_hva[0];
	packed_drv(dq)->driver_event = dq->area_hva[1];
	packed_drv(dq)->device_event = dq->area_hva[2];
	packed_drv(dq)->free_ids = vq_malloc(sizeof(uint16_t) * num);
	if (!packed_drv(dq)->free_ids)
		return -VQ_ENOMEM;
	/* a stack: ids pop in the order 0, 1, 2, ... */
	for (uint16_t i = 0; i < num; i++)
		packed_drv(dq)->free_ids[i] = (uint16_t)(num - 1 - i);
	packed_drv(dq)->nfree_ids = num;
	/* flags 0: not available for wrap counter 1, not used either */
	vq_memset(packed_drv(dq)->desc, 0, 16ull * num);
	packed_drv(dq)->driver_event->off_wrap = 0;
	packed_drv(dq)->driver_event->flags = vq_le16(VRING_PACKED_EVENT_FLAG_ENABLE);
	packed_drv(dq)->device_event->off_wrap = 0;
	packed_drv(dq)->device_event->flags = vq_le16(VRING_PACKED_EVENT_FLAG_ENABLE);
	packed_drv(dq)->next_avail = 0;
	packed_drv(dq)->avail_wrap = true;
	packed_drv(dq)->last_used = 0;
	packed_drv(dq)->used_wrap = true;
	packed_drv(dq)->kicked_pos = packed_pos(0, true);
	dq->num_free = num;
	return 0;
}

static inline void packed_drv_write_desc(struct vring_desc_raw *d, uint64_t addr,
					 uint32_t len, uint16_t id)
{
	d->addr = vq_le64(addr);
	d->len = vq_le32(len);
	d->flags_or_id = vq_le16(id);
}

/* @total elements in @id's indirect table, one ring slot pointing at it;
 * returns the head's flags (not written: the caller publishes them). */
static uint16_t packed_drv_put_indirect(struct vqcore_drvq *dq,
					const struct vqcore_sg *sg, unsigned out_num,
					unsigned total, uint16_t id, uint16_t *idx,
					bool *wrap)
{
	struct vring_desc_raw *t = dq->itable + (size_t)id * dq->max_indirect;
	uint16_t head_flags = (uint16_t)(VRING_DESC_F_INDIRECT | packed_avail_bits(*wrap));

	for (unsigned j = 0; j < total; j++) {
		packed_drv_write_desc(&t[j], sg[j].addr, sg[j].len, 0);
		t[j].next_or_flags = vq_le16(j < out_num ? 0 : VRING_DESC_F_WRITE);
	}
	packed_drv_write_desc(&packed_drv(dq)->desc[*idx],
			      dq->indirect_gpa + (uint64_t)id * dq->max_indirect * 16,
			      total * 16, id);
	packed_advance(dq->num, idx, wrap, 1);
	return head_flags;
}

/* @total elements in ring slots from *@idx, each slot's flags written but
 * the head's, which are returned for the caller to publish. */
static uint16_t packed_drv_put_chain(struct vqcore_drvq *dq,
				     const struct vqcore_sg *sg, unsigned out_num,
				     unsigned total, uint16_t id, uint16_t *idx,
				     bool *wrap)
{
	uint16_t head_flags = 0;

	for (unsigned j = 0; j < total; j++) {
		uint16_t f = packed_avail_bits(*wrap);

		if (j >= out_num)
			f |= VRING_DESC_F_WRITE;
		if (j + 1 < total)
			f |= VRING_DESC_F_NEXT;
		packed_drv_write_desc(&packed_drv(dq)->desc[*idx], sg[j].addr, sg[j].len, id);
		if (j == 0)
			head_flags = f;
		else
			VQ_WRITE_ONCE(packed_drv(dq)->desc[*idx].next_or_flags, vq_le16(f));
		packed_advance(dq->num, idx, wrap, 1);
	}
	return head_flags;
}

static int packed_drv_add(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			  unsigned out_num, unsigned in_num, void *token,
			  unsigned flags)
{
	unsigned total = out_num + in_num, need;
	bool indirect = (flags & VQCORE_ADD_INDIRECT) && dq->itable && total > 0;
	uint16_t head = packed_drv(dq)->next_avail, idx = head, id, head_flags;
	bool wrap = packed_drv(dq)->avail_wrap;
	uint32_t in_len = 0;

	if (indirect && total > dq->max_indirect)
		return -VQ_EINVAL;
	need = indirect ? 1 : total;
	if (need > dq->num_free || !packed_drv(dq)->nfree_ids)
		return -VQ_ENOSPC;
	id = packed_drv(dq)->free_ids[--packed_drv(dq)->nfree_ids];
	for (unsigned j = out_num; j < total; j++)
		in_len += sg[j].len;
	if (indirect)
		head_flags = packed_drv_put_indirect(dq, sg, out_num, total, id, &idx, &wrap);
	else
		head_flags = packed_drv_put_chain(dq, sg, out_num, total, id, &idx, &wrap);
	dq->state[id].token = token;
	dq->state[id].ndesc = (uint16_t)need;
	dq->state[id].in_len = in_len;
	dq->num_free = (uint16_t)(dq->num_free - need);
	packed_drv(dq)->next_avail = idx;
	packed_drv(dq)->avail_wrap = wrap;
	if (dq->in_order) {
		dq->order[dq->order_tail % dq->num] = id;
		dq->order_tail = (uint16_t)((dq->order_tail + 1) % dq->num);
	}
	/* The head's flags last, with release: the whole chain at once.  The
	 * first buffer of a batch waits for publish, which makes the batch
	 * visible in one store (as put_used does for the device). */
	if (!packed_drv(dq)->pending) {
		packed_drv(dq)->pending = true;
		packed_drv(dq)->pending_head = head;
		packed_drv(dq)->pending_flags = head_flags;
	} else {
		vq_store_release(&packed_drv(dq)->desc[head].next_or_flags, vq_le16(head_flags));
	}
	return 0;
}

/* The batch's first buffer sits in @slot: its flags @f wait for publish. */
static inline void packed_drv_hold(struct vqcore_drvq *dq, uint16_t slot, uint16_t f)
{
	packed_drv(dq)->pending = true;
	packed_drv(dq)->pending_head = slot;
	packed_drv(dq)->pending_flags = f;
}

/*
 * One one-element buffer @id in slot @slot of @ring (the caller's copy of
 * packed_drv(dq)->desc): its address, its per-id state (@state, the caller's
 * copy of dq->state: a store through the ring may alias dq; @in_len its
 * writable bytes), then length, id and flags @f.  With @hold the flags
 * wait for publish (the batch's first buffer).
 */
static inline __attribute__((always_inline)) void
packed_drv_put_one(struct vqcore_drvq *dq, struct vring_desc_raw *ring,
		   struct vq_drv_state *state, uint16_t slot, uint16_t id,
		   const struct vqcore_sg *sg, void *token, uint32_t in_len,
		   uint16_t f, bool hold)
{
	struct vring_desc_raw *d = &ring[slot];

	__atomic_store_n(&d->addr, vq_le64(sg->addr), __ATOMIC_RELAXED);
#if VQ_DRV_STATE_WORDS
	{
		vq_u64a *w = (vq_u64a *)(void *)state;

		w[2 * id] = (uintptr_t)token;
		w[2 * id + 1] = in_len | (1ull << 32);
	}
	if (likely(!hold)) {
		/* length, id and flags in one aligned 8-byte store */
		__atomic_store_n((vq_u64a *)(void *)&d->len,
				 vq_le64(sg->len | (uint64_t)id << 32 | (uint64_t)f << 48),
				 __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&d->len, vq_le32(sg->len), __ATOMIC_RELAXED);
	d->flags_or_id = vq_le16(id);
#else
	__atomic_store_n(&d->len, vq_le32(sg->len), __ATOMIC_RELAXED);
	d->flags_or_id = vq_le16(id);
	state[id] = (struct vq_drv_state){ .token = token, .in_len = in_len,
					   .ndesc = 1 };
	if (!hold) {
		vq_store_release(&d->next_or_flags, vq_le16(f));
		return;
	}
#endif
	packed_drv_hold(dq, slot, f);
}

/* In order: the @n ids popped from the top of the free stack @ids, in the
 * order add_simple gives them to slots. */
static inline void packed_drv_order_ids(struct vqcore_drvq *dq, const uint16_t *ids,
					unsigned n)
{
	uint16_t t = dq->order_tail;

	for (unsigned i = 0; i < n; i++) {
		dq->order[t] = ids[n - 1 - i];
		if (++t == dq->num)
			t = 0;
	}
	dq->order_tail = t;
}

/*
 * Requests @lo..@hi-1 (counting down) of a batch into slots @base[@lo..@hi)
 * of one lap, avail bits @f0; request i takes id @ids[@n - 1 - i].  None
 * is the batch's first.  One request's work: its element's address, its
 * per-id state, then length, id and flags: a wrap or a head test per
 * buffer (and the spills they caused) cost as much as the stores.
 */
static inline __attribute__((always_inline)) void
packed_drv_fill(struct vqcore_drvq *dq, struct vring_desc_raw *ring,
		struct vq_drv_state *state, const uint16_t *ids, unsigned n,
		const struct vqcore_drvq_req *reqs, const struct vqcore_sg *sgs,
		void *const *tokens, bool writable, int base, unsigned lo,
		unsigned hi, uint16_t f0)
{
	for (unsigned i = hi; i-- > lo;) {
		/* from requests, or from parallel arrays (vqcore_drvq_add_sg);
		 * the caller passes one of them as a constant NULL */
		const struct vqcore_sg *sg = reqs ? reqs[i].sg : &sgs[i];
		void *token = reqs ? reqs[i].token : tokens[i];
		bool dw = reqs ? reqs[i].in_num != 0 : writable;

		packed_drv_put_one(dq, ring, state, (uint16_t)(base + (int)i), ids[n - 1 - i],
				   sg, token, dw ? sg->len : 0,
				   (uint16_t)(f0 | (dw ? VRING_DESC_F_WRITE : 0)), false);
	}
}

/*
 * @n one-element buffers that all fit: written from the last slot back to
 * the first.  The device polls the batch's first slot, so its line is
 * written last and taken from the device once, instead of once per store
 * while the device keeps reading it.  Nothing here is visible before the
 * first buffer's flags: either they wait for publish, or an earlier
 * unpublished head hides the whole batch.  The slots past the ring's end
 * (the next lap's wrap counter) and those before it are two loops, the
 * first buffer a third step.
 */
static inline __attribute__((always_inline)) void
packed_drv_add_simple(struct vqcore_drvq *dq, const struct vqcore_drvq_req *reqs,
		      const struct vqcore_sg *sgs, void *const *tokens,
		      bool writable, unsigned n)
{
	struct vring_desc_raw *ring = packed_drv(dq)->desc;
	struct vq_drv_state *state = dq->state;
	const uint16_t *ids = &packed_drv(dq)->free_ids[packed_drv(dq)->nfree_ids - n];
	uint16_t idx = packed_drv(dq)->next_avail, num = dq->num;
	bool wrap = packed_drv(dq)->avail_wrap;
	const struct vqcore_sg *sg0 = reqs ? reqs[0].sg : &sgs[0];
	bool dw0 = reqs ? reqs[0].in_num != 0 : writable;
	uint16_t f0 = (uint16_t)(packed_avail_bits(wrap) | (dw0 ? VRING_DESC_F_WRITE : 0));

	if (dq->in_order)
		packed_drv_order_ids(dq, ids, n);
	if (n > 1) {
		unsigned part = VQ_MIN(n, (unsigned)(num - idx));

		packed_drv_fill(dq, ring, state, ids, n, reqs, sgs, tokens, writable,
				(int)idx - (int)num, part, n, packed_avail_bits(!wrap));
		packed_drv_fill(dq, ring, state, ids, n, reqs, sgs, tokens, writable,
				(int)idx, 1, part, packed_avail_bits(wrap));
	}
	packed_drv_put_one(dq, ring, state, idx, ids[n - 1], sg0,
			   reqs ? reqs[0].token : tokens[0], dw0 ? sg0->len : 0, f0,
			   !packed_drv(dq)->pending);
	packed_advance(num, &idx, &wrap, n);
	packed_drv(dq)->next_avail = idx;
	packed_drv(dq)->avail_wrap = wrap;
	dq->num_free = (uint16_t)(dq->num_free - n);
	packed_drv(dq)->nfree_ids = (uint16_t)(packed_drv(dq)->nfree_ids - n);
}

/* vqcore_drvq_add_sg(): the core checked the tokens and that all fit */
static void packed_drv_add_sg(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			      void *const *tokens, unsigned n, bool writable)
{
	packed_drv_add_simple(dq, NULL, sg, tokens, writable, n);
}

/*
 * One one-element request @q at the cursors *@idx, *@wrap, its id popped
 * from the free stack of *@nids entries (there is one): as packed_drv_add()
 * does it, with the cursors in the caller's registers.
 */
static inline __attribute__((always_inline)) void
packed_drv_add_one(struct vqcore_drvq *dq, struct vq_drv_state *state,
		   const struct vqcore_drvq_req *q, uint16_t *idx, bool *wrap,
		   uint16_t *nids)
{
	uint16_t id = packed_drv(dq)->free_ids[--*nids];
	/* the first buffer of a batch waits for publish (see drv_add) */
	bool dw = q->in_num != 0, hold = !packed_drv(dq)->pending;
	uint16_t f = (uint16_t)(packed_avail_bits(*wrap) | (dw ? VRING_DESC_F_WRITE : 0));

	packed_drv_put_one(dq, packed_drv(dq)->desc, state, *idx, id, q->sg, q->token,
			   dw ? q->sg[0].len : 0, f, hold);
	if (dq->in_order) {
		dq->order[dq->order_tail] = id;
		dq->order_tail = (uint16_t)((dq->order_tail + 1) % dq->num);
	}
	if (++*idx == dq->num) {
		*idx = 0;
		*wrap = !*wrap;
	}
}

/*
 * A batch of adds with the cursors in locals.  A one-element buffer costs
 * two shared stores (address; length, id and flags) and two local ones
 * (the per-id state); anything else goes through packed_drv_add().
 */
static int packed_drv_add_batch(struct vqcore_drvq *dq,
				const struct vqcore_drvq_req *reqs, unsigned n,
				bool simple)
{
	struct vq_drv_state *state = dq->state;
	uint16_t idx = packed_drv(dq)->next_avail, nfree = dq->num_free;
	uint16_t nids = packed_drv(dq)->nfree_ids;
	bool wrap = packed_drv(dq)->avail_wrap;
	unsigned i;
	int r = 0;

	if (simple && n <= nfree && n <= nids) {
		packed_drv_add_simple(dq, reqs, NULL, NULL, false, n);
		return (int)n;
	}
	for (i = 0; i < n; i++) {
		const struct vqcore_drvq_req *q = &reqs[i];

		if (unlikely((unsigned)q->out_num + q->in_num != 1 ||
			     ((q->flags & VQCORE_ADD_INDIRECT) && dq->itable))) {
			packed_drv(dq)->next_avail = idx;
			packed_drv(dq)->avail_wrap = wrap;
			dq->num_free = nfree;
			packed_drv(dq)->nfree_ids = nids;
			r = packed_drv_add(dq, q->sg, q->out_num, q->in_num, q->token,
					   q->flags);
			if (r < 0)
				break;
			idx = packed_drv(dq)->next_avail;
			wrap = packed_drv(dq)->avail_wrap;
			nfree = dq->num_free;
			nids = packed_drv(dq)->nfree_ids;
			continue;
		}
		if (unlikely(!nfree || !nids)) {
			r = -VQ_ENOSPC;
			break;
		}
		packed_drv_add_one(dq, state, q, &idx, &wrap, &nids);
		nfree--;
	}
	packed_drv(dq)->next_avail = idx;
	packed_drv(dq)->avail_wrap = wrap;
	dq->num_free = nfree;
	packed_drv(dq)->nfree_ids = nids;
	return i ? (int)i : r;
}

static void packed_drv_publish(struct vqcore_drvq *dq)
{
	if (packed_drv(dq)->pending) {
		vq_store_release(&packed_drv(dq)->desc[packed_drv(dq)->pending_head].next_or_flags,
				 vq_le16(packed_drv(dq)->pending_flags));
		packed_drv(dq)->pending = false;
	}
}

static bool packed_drv_kick_prepare(struct vqcore_drvq *dq)
{
	uint16_t new_pos = packed_pos(packed_drv(dq)->next_avail, packed_drv(dq)->avail_wrap);
	uint16_t old = packed_drv(dq)->kicked_pos, off_wrap, flags;
	uint32_t ev;

	packed_drv_publish(dq);
	packed_drv(dq)->kicked_pos = new_pos;
	if (new_pos == old)
		return false;
	/* descriptors published before we read the device's wishes */
	vq_mb();
	/* off_wrap, then flags: one little-endian word */
	ev = vq_le32(__atomic_load_n((const vq_u32a *)(const void *)packed_drv(dq)->device_event,
				     __ATOMIC_RELAXED));
	off_wrap = (uint16_t)ev;
	flags = (uint16_t)(ev >> 16);
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !dq->event_idx)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	return packed_need_event(dq->num, off_wrap, new_pos, old);
}

static inline bool packed_drv_more_used(const struct vqcore_drvq *dq)
{
	return packed_is_used(packed_load_flags(&packed_drv(dq)->desc[packed_drv(dq)->last_used]),
			      packed_drv(dq)->used_wrap);
}

/* A used descriptor named @id, which is not in flight: the queue breaks. */
static VQ_COLD int packed_drv_bad_id(struct vqcore_drvq *dq, uint16_t id)
{
	dq->broken = true;
	vq_err("driver vq: device returned id %u not in flight", id);
	return -VQ_EIO;
}

/*
 * Collect used buffers, out of order: one used descriptor per buffer.  The
 * cursors live in registers and the next slot's address never waits for a
 * load from the per-id state (a branch on the usual one-slot buffer).
 * @with_lens is a constant per caller: no test of @lens per buffer, and
 * the ids go onto the free stack at its top plus the count taken, so the
 * loop keeps few enough values to stay in registers.
 */
static inline __attribute__((always_inline)) int
packed_drv_ooo_loop(struct vqcore_drvq *dq, void **tokens, uint32_t *lens,
		    unsigned max, const bool with_lens)
{
	struct vq_drv_state *const state = dq->state;
	const struct vring_desc_raw *const ring = packed_drv(dq)->desc;
	const struct vring_desc_raw *const end = ring + dq->num;
	uint16_t *const top = &packed_drv(dq)->free_ids[packed_drv(dq)->nfree_ids];
	const unsigned num = dq->num;
	const struct vring_desc_raw *d = &ring[packed_drv(dq)->last_used];
	unsigned slots = 0, n = 0;
	bool wrap = packed_drv(dq)->used_wrap;
	uint16_t want = packed_used_bits(wrap), last;
	int err = 0;

	/* The device published these used descriptors by the first one's
	 * flags; the driver writes the same slots again on the next lap, so
	 * take their lines for writing now (see packed_prefetch_own). */
	if ((packed_load_flags(d) & PACKED_WRAP_MASK) == want)
		packed_prefetch_own(ring, (uint16_t)num, (uint16_t)(d - ring),
				    VQ_MIN(max, num - dq->num_free));
	for (; n < max; n++) {
		struct vq_drv_state *st;
		unsigned id;
		void *token;

		if ((packed_load_flags(d) & PACKED_WRAP_MASK) != want)
			break;
		id = vq_le16(VQ_READ_ONCE(d->flags_or_id));
		if (unlikely(id >= num))
			goto bad;
		st = &state[id];
		token = st->token;
		if (unlikely(!token))
			goto bad;
		tokens[n] = token;
		if (with_lens)
			lens[n] = vq_le32(VQ_READ_ONCE(d->len));
		st->token = NULL;
		top[n] = (uint16_t)id;
		if (likely(st->ndesc == 1)) {
			slots++;
			if (unlikely(++d == end)) {
				d = ring;
				wrap = !wrap;
				want = packed_used_bits(wrap);
			}
		} else {
			last = (uint16_t)(d - ring);
			slots += st->ndesc;
			packed_advance((uint16_t)num, &last, &wrap, st->ndesc);
			d = &ring[last];
			want = packed_used_bits(wrap);
		}
		continue;
bad:
		err = packed_drv_bad_id(dq, (uint16_t)id);
		break;
	}
	packed_drv(dq)->last_used = (uint16_t)(d - ring);
	packed_drv(dq)->used_wrap = wrap;
	dq->num_free = (uint16_t)(dq->num_free + slots);
	packed_drv(dq)->nfree_ids = (uint16_t)(packed_drv(dq)->nfree_ids + n);
	return n ? (int)n : err;
}

static int packed_drv_get_used_ooo(struct vqcore_drvq *dq, void **tokens,
				   uint32_t *lens, unsigned max)
{
	if (lens)
		return packed_drv_ooo_loop(dq, tokens, lens, max, true);
	return packed_drv_ooo_loop(dq, tokens, NULL, max, false);
}

/*
 * In order: the used descriptor at @d, if the device wrote one there for
 * wrap counter @wrap, names the last buffer of a run: its id and length
 * into *@io_id, *@io_len.  0; 1 when @d holds none; or the error that
 * broke the queue.
 */
static inline __attribute__((always_inline)) int
packed_drv_io_read(struct vqcore_drvq *dq, const struct vq_drv_state *state,
		   const struct vring_desc_raw *d, bool wrap, uint16_t *io_id,
		   uint32_t *io_len)
{
	uint16_t id;

	if (!packed_is_used(packed_load_flags(d), wrap))
		return 1;
	id = vq_le16(VQ_READ_ONCE(d->flags_or_id));
	if (unlikely(id >= dq->num || !state[id].token))
		return packed_drv_bad_id(dq, id);
	*io_id = id;
	*io_len = vq_le32(VQ_READ_ONCE(d->len));
	return 0;
}

/*
 * Give buffer @id (state @st) back: its slots past the cursors *@last,
 * *@wrap and into *@nfree, its id onto the free stack of *@nids.  The next
 * slot's address must not wait for this id's state: a branch on the usual
 * one-slot buffer lets the CPU go on reading the next used descriptor
 * while that load is out.
 */
static inline __attribute__((always_inline)) void
packed_drv_release(struct vqcore_drvq *dq, struct vq_drv_state *st, uint16_t id,
		   uint16_t *last, bool *wrap, uint16_t *nfree, uint16_t *nids)
{
	if (likely(st->ndesc == 1)) {
		if (unlikely(++*last == dq->num)) {
			*last = 0;
			*wrap = !*wrap;
		}
		++*nfree;
	} else {
		packed_advance(dq->num, last, wrap, st->ndesc);
		*nfree = (uint16_t)(*nfree + st->ndesc);
	}
	st->token = NULL;
	packed_drv(dq)->free_ids[(*nids)++] = id;
}

/*
 * Collect used buffers, in order: a used descriptor may stand for a run.
 * Cursors in locals: the stores per buffer are what costs when the device
 * works from another core.
 */
static VQ_NOINLINE int packed_drv_get_used_io(struct vqcore_drvq *dq, void **tokens,
					      uint32_t *lens, unsigned max)
{
	struct vq_drv_state *state = dq->state;
	struct vring_desc_raw *ring = packed_drv(dq)->desc;
	uint16_t last = packed_drv(dq)->last_used, nfree = dq->num_free;
	uint16_t nids = packed_drv(dq)->nfree_ids, ohead = dq->order_head;
	uint16_t io_id = dq->io_id;
	uint32_t io_len = dq->io_len;
	bool wrap = packed_drv(dq)->used_wrap, pending = dq->io_pending;
	unsigned n = 0;
	int err = 0;

	/* As in packed_drv_get_used_ooo(): the driver writes these slots
	 * again on the next lap, so take their lines for writing now.  A run
	 * already seen (pending: the last call stopped inside it) is used in
	 * full; its next slot holds no used descriptor to look at. */
	if (pending || packed_is_used(packed_load_flags(&ring[last]), wrap)) {
		unsigned busy = (unsigned)(dq->num - nfree);

		packed_prefetch_own(ring, dq->num, last, VQ_MIN(max, busy));
	}
	while (n < max) {
		struct vq_drv_state *st;
		uint16_t h;

		if (!pending) {
			int r = packed_drv_io_read(dq, state, &ring[last], wrap,
						   &io_id, &io_len);

			if (r) {
				err = r < 0 ? r : 0;
				break;
			}
			pending = true;
		}
		/* A used descriptor names the last buffer of a run; the ones
		 * added before it were used in full. */
		h = dq->order[ohead];
		if (unlikely(++ohead == dq->num))
			ohead = 0;
		st = &state[h];
		tokens[n] = st->token;
		if (lens)
			lens[n] = h == io_id ? io_len : st->in_len;
		if (h == io_id)
			pending = false;
		n++;
		packed_drv_release(dq, st, h, &last, &wrap, &nfree, &nids);
	}
	packed_drv(dq)->last_used = last;
	packed_drv(dq)->used_wrap = wrap;
	dq->num_free = nfree;
	packed_drv(dq)->nfree_ids = nids;
	dq->order_head = ohead;
	dq->io_id = io_id;
	dq->io_len = io_len;
	dq->io_pending = pending;
	return n ? (int)n : err;
}

static int packed_drv_get_used(struct vqcore_drvq *dq, void **tokens,
			       uint32_t *lens, unsigned max)
{
	if (dq->broken)
		return -VQ_EIO;
	if (!dq->in_order)
		return packed_drv_get_used_ooo(dq, tokens, lens, max);
	return packed_drv_get_used_io(dq, tokens, lens, max);
}

/* Write the driver event structure (driver -> device: when to interrupt). */
static bool packed_drv_enable_cb(struct vqcore_drvq *dq)
{
	struct vring_packed_event *ev = packed_drv(dq)->driver_event;

	if (dq->event_idx) {
		VQ_WRITE_ONCE(ev->off_wrap,
			      vq_le16(packed_pos(packed_drv(dq)->last_used, packed_drv(dq)->used_wrap)));
		vq_wmb();
		VQ_WRITE_ONCE(ev->flags, vq_le16(VRING_PACKED_EVENT_FLAG_DESC));
	} else {
		VQ_WRITE_ONCE(ev->flags, vq_le16(VRING_PACKED_EVENT_FLAG_ENABLE));
	}
	vq_mb();
	return (dq->in_order && dq->io_pending) || packed_drv_more_used(dq);
}

static void packed_drv_disable_cb(struct vqcore_drvq *dq)
{
	VQ_WRITE_ONCE(packed_drv(dq)->driver_event->flags,
		      vq_le16(VRING_PACKED_EVENT_FLAG_DISABLE));
}

static void packed_drv_free(struct vqcore_drvq *dq)
{
	vq_free(packed_drv(dq)->free_ids);
	packed_drv(dq)->free_ids = NULL;
}

/* =================== vhost-user =================== */

/*
 * The base is a position (slot | wrap counter << 15).  GET_VRING_BASE
 * carries the used position in bits 16-31 (equal to avail: nothing is in
 * flight then); SET_VRING_BASE's is not used (the used position resumes
 * where avail does, or where the inflight record says).
 */
static int packed_base_decode(uint32_t wire, uint32_t *pos)
{
	*pos = wire & 0xffffu;
	return 0;
}

static uint32_t packed_base_encode(uint32_t pos)
{
	return (pos & 0xffffu) | (pos & 0xffffu) << 16;
}

/*
 * The spec's QueueRegionPacked, with one DescStatePacked entry per buffer
 * id (the device side hands out buffers by id, not raw descriptors):
 * inflight, counter, id, num (the buffer's ring slots), and in addr the
 * buffer's ring position (vhost_buf.reserved: the position of its first
 * descriptor, and the one after it).  used_idx and used_wrap_counter
 * follow the device's used position.  A buffer is fetched again at its
 * recorded slot; one whose slot a later buffer's used entry overwrote
 * (out-of-order completion) cannot be read again.
 *
 * The batch being returned is a list through the entries' next fields,
 * from old_free_head (0xffff ends it), written before its used entries.
 * A crash after the ring shows them and before the record does leaves
 * used_idx one batch behind: the slot there then carries the device's
 * used bit for used_wrap_counter (a batch publishes with its first
 * descriptor's flags, last), and the start moves the record past it.
 */
struct packed_inflight_desc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct packed_inflight {
	uint64_t features;  /* struct vq_inflight_hdr */
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct packed_inflight_desc desc[];
};

_Static_assert(offsetof(struct packed_inflight, version) ==
	       offsetof(struct vq_inflight_hdr, version) &&
	       offsetof(struct packed_inflight, desc_num) ==
	       offsetof(struct vq_inflight_hdr, desc_num) &&
	       sizeof(struct packed_inflight) == 32 &&
	       sizeof(struct packed_inflight_desc) == 32,
	       "QueueRegionPacked layout");

static uint64_t packed_inflight_bytes(uint16_t qsize)
{
	return sizeof(struct packed_inflight) +
	       (uint64_t)qsize * sizeof(struct packed_inflight_desc);
}

#define PACKED_BATCH_END 0xffffu

static void packed_inflight_used_begin(void *reg, uint16_t num,
				       const struct vhost_buf *bufs, unsigned n)
{
	struct packed_inflight *r = reg;

	r->old_free_head = PACKED_BATCH_END;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= num)
			continue;
		r->desc[id].next = r->old_free_head;
		r->old_free_head = id;
	}
	vq_wmb();
}

/*
 * The slot at the recorded used position shows the used bit of the
 * recorded lap: either the device's used entry or, once the driver took
 * it, the driver's next-lap descriptor there (which keeps that bit).
 * Before the batch was published it holds this lap's available
 * descriptor, whose used bit is the other one.  Then the batch is done:
 * clear it and move past its slots.  The list walk is bounded by the
 * ring and refuses a batch of no or too many slots.
 */
static void packed_inflight_start(const struct vqcore_vq *vq, void *reg, uint16_t num,
				  uint32_t used, bool recorded)
{
	struct packed_inflight *r = reg;
	uint16_t idx = r->used_idx, h = r->old_free_head, flags;
	bool wrap = r->used_wrap_counter & 1;
	uint64_t slots = 0;

	(void)used;
	if (!recorded || idx >= num || r->used_wrap_counter > 1)
		return;
	flags = packed_load_flags(&packed_dev(vq)->desc[idx]);
	if (!!(flags & VRING_PACKED_DESC_F_USED) != wrap)
		return;
	for (unsigned k = 0; k < num && h < num; k++) {
		slots += r->desc[h].num;
		h = r->desc[h].next;
	}
	if (!slots || slots > num)
		return;
	h = r->old_free_head;
	for (unsigned k = 0; k < num && h < num; k++) {
		r->desc[h].inflight = 0;
		h = r->desc[h].next;
	}
	packed_advance(num, &idx, &wrap, (unsigned)slots);
	r->used_idx = idx;
	r->used_wrap_counter = wrap;
	r->old_free_head = PACKED_BATCH_END;
}

/*
 * No descriptor carries the used bit: a fresh ring (zeroed, the first
 * lap's descriptors available with used bit 0).  A ring a device has
 * worked on has it somewhere: the first lap's used descriptors, or from
 * the second lap on the driver's own descriptors.
 */
static bool packed_ring_fresh(const struct vqcore_vq *vq)
{
	const struct vring_desc_raw *d = packed_dev(vq)->desc;

	for (unsigned i = 0; i < vq->num; i++)
		if (packed_load_flags(&d[i]) & VRING_PACKED_DESC_F_USED)
			return false;
	return true;
}

static bool packed_inflight_pending(const void *reg, uint16_t id, uint64_t *counter)
{
	const struct packed_inflight *r = reg;

	if (r->desc[id].inflight != 1)
		return false;
	/* the region may sit at any offset of its file */
	__builtin_memcpy(counter, &r->desc[id].counter, sizeof(*counter));
	return true;
}

/*
 * Resume at the recorded used position; with buffers in flight, the
 * avail position is past their slots.  The record is refused when its
 * position is outside the ring (with nothing in flight, also when the
 * wrap counter is not 0 or 1), or the buffers' slots are none or more
 * than the ring has.
 */
static int packed_inflight_resume(const void *reg, uint16_t num, uint32_t used,
				  const uint16_t *ids, unsigned np, uint32_t *avail,
				  uint32_t *used_out)
{
	const struct packed_inflight *r = reg;
	uint16_t idx = r->used_idx;
	bool wrap = r->used_wrap_counter & 1;
	uint64_t slots = 0;

	(void)used;
	if (idx >= num || (!np && r->used_wrap_counter > 1))
		return -VQ_EINVAL;
	*used_out = packed_pos(idx, wrap);
	for (unsigned i = 0; i < np; i++)
		slots += r->desc[ids[i]].num;
	if (np && (!slots || slots > num))
		return -VQ_EINVAL;
	packed_advance(num, &idx, &wrap, (unsigned)slots);
	*avail = packed_pos(idx, wrap);
	return 0;
}

static int packed_inflight_head(const void *reg, uint16_t num, uint16_t id,
				uint16_t *head)
{
	const struct packed_inflight *r = reg;
	uint64_t pos;

	__builtin_memcpy(&pos, &r->desc[id].addr, sizeof(pos));
	if (packed_idx((uint32_t)pos) >= num)
		return -VQ_EINVAL;
	*head = packed_idx((uint32_t)pos);
	return 0;
}

static void packed_inflight_fetched(void *reg, const struct vhost_buf *b,
				    uint64_t counter)
{
	struct packed_inflight_desc *e = &((struct packed_inflight *)reg)->desc[b->id];

	e->counter = counter;
	e->id = b->id;
	e->num = b->ndesc;
	e->addr = b->reserved;
	vq_wmb();
	e->inflight = 1;
}

static void packed_inflight_clear(void *reg, uint16_t id)
{
	((struct packed_inflight *)reg)->desc[id].inflight = 0;
}

static void packed_inflight_follow(void *reg, uint32_t used)
{
	struct packed_inflight *r = reg;

	r->used_idx = packed_idx(used);
	r->used_wrap_counter = packed_wrap(used);
}

static void packed_inflight_used_end(void *reg, unsigned n, uint32_t used)
{
	(void)n;
	packed_inflight_follow(reg, used);
}

static const struct vq_inflight_ops packed_inflight_ops = {
	.bytes = packed_inflight_bytes,
	.start = packed_inflight_start,
	.pending = packed_inflight_pending,
	.resume = packed_inflight_resume,
	.head = packed_inflight_head,
	.fetched = packed_inflight_fetched,
	.clear = packed_inflight_clear,
	.used_begin = packed_inflight_used_begin,
	.used_end = packed_inflight_used_end,
	.follow = packed_inflight_follow,
	.ring_fresh = packed_ring_fresh,
};

const struct vq_format_ops vq_packed_ops VQ_HIDDEN = {
	.name = "packed",
	.check_num = packed_check_num,
	.layout = packed_layout,
	.area_sizes = packed_area_sizes,
	.area_align = { 16, 4, 4 },  /* virtio 1.x 2.8: ring, event structures */
	.attach = packed_attach,
	.reset = packed_reset,
	.fetch = packed_fetch,
	.get_direct = packed_get_direct,
	.fetch_at = packed_fetch_at,
	.put_used = packed_put_used,
	.avail_pending = packed_avail_pending,
	.set_notify = packed_set_notify,
	.should_signal = packed_should_signal,
	.set_base = packed_set_base,
	.set_used_base = packed_set_used_base,
	.get_used_base = packed_get_used_base,
	.lean_get = packed_lean_get,
	.lean_put = packed_lean_put,
	.drv_init = packed_drv_init,
	.drv_add = packed_drv_add,
	.drv_add_batch = packed_drv_add_batch,
	.drv_add_sg = packed_drv_add_sg,
	.drv_kick_prepare = packed_drv_kick_prepare,
	.drv_publish = packed_drv_publish,
	.drv_get_used = packed_drv_get_used,
	.drv_enable_cb = packed_drv_enable_cb,
	.drv_disable_cb = packed_drv_disable_cb,
	.drv_free = packed_drv_free,
	.area_name = { "descriptor", "driver event", "device event" },
	.start_pos = 0x8000,  /* slot 0, wrap counter 1 */
	.base_decode = packed_base_decode,
	.base_encode = packed_base_encode,
	.inflight = &packed_inflight_ops,
};
