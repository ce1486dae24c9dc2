/* SPDX-License-Identifier: MIT */
/*
 * testring (see testring.h): device side and driver side, behind
 * vq_format_ops.  Only the test library (vqcore_internal) is built with
 * it, and with VQCORE_TEST_FORMATS, under which formats/registry.c names
 * it.
 *
 * Positions (vq->avail_pos, fetch_pos, vhost_buf.reserved, the base) are
 * the free-running 16-bit slot position; a buffer of n slots at p is
 * followed by p + n.
 */
#include "formats/testring/testring.h"
#include "vq_lean.h"

#define TR_MAX_NUM 32768u
#define TR_F_NO_NOTIFY 1     /* device area flags */
#define TR_F_NO_INTERRUPT 1  /* driver area flags */

struct tr_driver_area {
	uint16_t flags;
	uint16_t idx;
	uint16_t used_event;
};

struct tr_used_elem {
	uint32_t id;
	uint32_t len;
};

struct tr_device_area {
	uint16_t flags;
	uint16_t idx;
	uint16_t avail_event;
	uint16_t pad;
	struct tr_used_elem ring[];
};

/* The device side's state, in vqcore_vq.fmt. */
struct tr_dev {
	struct vring_desc_raw *desc;
	struct tr_driver_area *drv;
	struct tr_device_area *dev;
	uint16_t used_idx;       /* next used entry (shadow of dev->idx) */
	uint16_t signalled_used; /* used_idx at the last signal decision */
	bool signalled_valid;
};
VQ_FMT_DEV_FITS(struct tr_dev);

static inline struct tr_dev *tr_dev(const struct vqcore_vq *vq)
{
	return vq_fmt_dev(vq);
}

/* The driver side's state, in vqcore_drvq.fmt. */
struct tr_drv {
	struct vring_desc_raw *desc;
	struct tr_driver_area *drv;
	struct tr_device_area *dev;
	uint16_t *free_ids;      /* a stack of free buffer ids */
	uint16_t nfree_ids;
	uint16_t avail_idx;      /* next slot position to fill */
	uint16_t kicked_idx;     /* avail_idx at the last kick check */
	uint16_t last_used;      /* next used entry to read */
};
VQ_FMT_DRV_FITS(struct tr_drv);

static inline struct tr_drv *tr_drv(const struct vqcore_drvq *dq)
{
	return vq_fmt_drv(dq);
}

static int tr_check_num(uint16_t num)
{
	if (!num || num > TR_MAX_NUM || (num & (num - 1)))
		return -VQ_EINVAL;
	return 0;
}

static void tr_area_sizes(uint16_t num, uint64_t sizes[3])
{
	sizes[0] = 16ull * num;
	sizes[1] = sizeof(struct tr_driver_area);
	sizes[2] = sizeof(struct tr_device_area) + 8ull * num;
}

static int tr_layout(uint16_t num, uint64_t gpa, struct vqcore_ring_layout *l)
{
	uint64_t sizes[3];

	if (tr_check_num(num) < 0)
		return -VQ_EINVAL;
	tr_area_sizes(num, sizes);
	l->desc = VQ_ALIGN_UP(gpa, (uint64_t)VQ_CACHELINE);
	l->driver = VQ_ALIGN_UP(l->desc + sizes[0], (uint64_t)VQ_CACHELINE);
	l->device = VQ_ALIGN_UP(l->driver + sizes[1], (uint64_t)VQ_CACHELINE);
	l->size = VQ_ALIGN_UP(l->device + sizes[2], (uint64_t)VQ_CACHELINE) - gpa;
	return 0;
}

/* =================== device side =================== */

static void tr_attach(struct vqcore_vq *vq)
{
	tr_dev(vq)->desc = vq->area[0].hva;
	tr_dev(vq)->drv = vq->area[1].hva;
	tr_dev(vq)->dev = vq->area[2].hva;
}

static void tr_reset(struct vqcore_vq *vq)
{
	vq->avail_pos = 0;
	tr_dev(vq)->used_idx = 0;
	tr_dev(vq)->signalled_valid = false;
}

static uint16_t tr_avail_idx(const struct vqcore_vq *vq)
{
	return vq_le16(vq_load_acquire(&tr_dev(vq)->drv->idx));
}

/* Empty while the driver's avail index equals @pos. */
static void tr_poll_arm(struct vqcore_vq *vq, uint16_t pos)
{
	vq_poll_arm(vq, &tr_dev(vq)->drv->idx, 0xffff, vq_le16(pos));
}

/* An indirect table's entries into the cache, in sequence. */
static int tr_indirect(struct vqcore_vq *vq, uint64_t addr, uint32_t len,
		       uint32_t *total)
{
	const void *table;
	int r = vq_indirect_open(vq, addr, len, &table);

	if (unlikely(r < 0))
		return r;
	if (unlikely(*total + (uint32_t)r > vq->num))
		return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
				"chain of more than %u descriptors", vq->num);
	*total += (uint32_t)r;
	for (uint32_t j = 0; j < (uint32_t)r; j++) {
		struct vring_desc_raw e;
		int err = vq_read_indirect(vq, table, addr, j, &e);

		if (unlikely(err < 0))
			return vq_break(vq, err, "indirect table at 0x%llx",
					(unsigned long long)addr);
		if (unlikely(e.next_or_flags & VRING_DESC_F_INDIRECT))
			return vq_break(vq, -VQCORE_E_NESTED_INDIRECT,
					"indirect descriptor in an indirect table");
		vq_cache_push(vq, e.addr, e.len, e.next_or_flags);
	}
	return 0;
}

/*
 * Cache the buffer whose first descriptor is at position @pos, with at
 * most @room slots to it (the ones the driver published, or the queue
 * size for a resubmission).  Returns the slots it took, or the error that
 * broke the queue.  The id comes from the first descriptor.
 */
static int tr_walk(struct vqcore_vq *vq, uint16_t pos, uint16_t room, bool resub)
{
	const struct vring_desc_raw *ring = tr_dev(vq)->desc;
	const uint16_t mask = (uint16_t)(vq->num - 1);
	uint32_t first = vq->desc_used, total = 0;
	uint16_t n = 0, id = 0;
	struct vring_desc_raw d;
	int r;

	do {
		if (unlikely(n == room))
			return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
					"chain at %u runs past %u slots", pos, room);
		vq_read_desc(&ring[(uint16_t)(pos + n) & mask], &d);
		if (!n++)
			id = d.flags_or_id;
		if (d.next_or_flags & VRING_DESC_F_INDIRECT) {
			r = tr_indirect(vq, d.addr, d.len, &total);
			if (unlikely(r < 0))
				return r;
		} else {
			if (unlikely(++total > vq->num))
				return vq_break(vq, -VQCORE_E_CHAIN_LOOP,
						"chain of more than %u descriptors", vq->num);
			vq_cache_push(vq, d.addr, d.len, d.next_or_flags);
		}
	} while (d.next_or_flags & VRING_DESC_F_NEXT);
	r = vq_cache_commit(vq, first, id, n, pos, (uint16_t)(pos + n), resub);
	return r < 0 ? r : n;
}

static int tr_fetch(struct vqcore_vq *vq)
{
	uint16_t pos = (uint16_t)vq->fetch_pos, avail = tr_avail_idx(vq);
	uint16_t navail = (uint16_t)(avail - pos);
	int nbufs = 0, r = 0;

	if (unlikely(navail > vq->num))
		return vq_break(vq, -VQCORE_E_AVAIL_IDX,
				"avail idx %u moved %u past %u (size %u)", avail,
				navail, pos, vq->num);
	while (navail && (unsigned)nbufs < vq->batch && vq_cache_room(vq)) {
		r = tr_walk(vq, pos, navail, false);
		if (unlikely(r < 0))
			break;
		pos = (uint16_t)(pos + r);
		navail = (uint16_t)(navail - r);
		nbufs++;
	}
	vq->fetch_pos = pos;
	return r < 0 ? r : nbufs;
}

/* No direct loop: every buffer goes through fetch and the cache. */
static void tr_get_direct(struct vqcore_vq *vq, struct vq_out *o)
{
	uint16_t pos = (uint16_t)vq->fetch_pos;

	o->more = tr_avail_idx(vq) != pos;
	if (!o->more)
		tr_poll_arm(vq, pos);
}

/* Resubmission: the buffer whose first descriptor is at slot @head. */
static int tr_fetch_at(struct vqcore_vq *vq, uint16_t head)
{
	int r = tr_walk(vq, head, vq->num, true);

	return r < 0 ? r : 0;
}

static void tr_write_used(struct tr_dev *s, uint16_t num, uint16_t idx,
			  uint16_t id, uint32_t len)
{
	struct tr_used_elem *u = &s->dev->ring[idx & (num - 1)];

	__atomic_store_n(&u->id, vq_le32(id), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, vq_le32(len), __ATOMIC_RELAXED);
}

/* What put_used wrote, with a dirty log set: @n entries from @from, the index. */
static VQ_COLD void tr_log_used(struct vqcore_vq *vq, uint16_t from, unsigned n)
{
	uint64_t base = vq->area[2].gpa + sizeof(struct tr_device_area);
	unsigned first = from & (vq->num - 1u);
	unsigned part = VQ_MIN(n, (unsigned)vq->num - first);

	vq_mem_log(vq->mem, base + 8ull * first, 8ull * part);
	if (part < n)
		vq_mem_log(vq->mem, base, 8ull * (n - part));
	vq_mem_log(vq->mem, vq->area[2].gpa + 2, 2);
}

/* Publish @n used buffers whose @k entries from the used index are written. */
static void tr_used_publish(struct vqcore_vq *vq, unsigned n, unsigned k)
{
	struct tr_dev *s = tr_dev(vq);
	uint16_t idx = s->used_idx;

	vq_store_release(&s->dev->idx, vq_le16((uint16_t)(idx + n)));
	if (unlikely(vq->mem->log))
		tr_log_used(vq, idx, k);
	s->used_idx = (uint16_t)(idx + n);
}

static void tr_put_used(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			const uint32_t *lens, unsigned n, bool run)
{
	struct tr_dev *s = tr_dev(vq);

	if (run) {
		/* one entry names the run's last buffer */
		tr_write_used(s, vq->num, s->used_idx, bufs[n - 1].id,
			      lens ? lens[n - 1] : 0);
		tr_used_publish(vq, n, 1);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		tr_write_used(s, vq->num, (uint16_t)(s->used_idx + i), bufs[i].id,
			      lens ? lens[i] : 0);
	tr_used_publish(vq, n, n);
}

/*
 * lean_get: buffers of one descriptor with the write flag asked for, the
 * checks of the general path (id, in-flight state, the range in one
 * region); anything else stops it with *@general set, not consumed.
 */
static unsigned tr_lean_get(struct vqcore_vq *vq, struct vq_lean *e, unsigned max,
			    bool write, bool *general)
{
	const struct vring_desc_raw *ring = tr_dev(vq)->desc;
	const uint16_t pos = (uint16_t)vq->fetch_pos, mask = (uint16_t)(vq->num - 1);
	const uint16_t navail = (uint16_t)(tr_avail_idx(vq) - pos);
	const uint16_t want = write ? VRING_DESC_F_WRITE : 0;
	struct vq_rgn r;
	unsigned n = 0;

	*general = navail > vq->num || !vq_rgn_start(&r, vq->mem, &vq->mem_hint);
	if (*general || !navail) {
		if (!navail)
			tr_poll_arm(vq, pos);
		return 0;
	}
	for (max = VQ_MIN(max, (unsigned)navail); n < max; n++) {
		struct vring_desc_raw d;

		vq_read_desc(&ring[(uint16_t)(pos + n) & mask], &d);
		if (d.flags_or_id >= vq->num || vq->id_state[d.flags_or_id] != VQ_ID_FREE ||
		    (d.next_or_flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT |
					VRING_DESC_F_WRITE)) != want ||
		    !vq_rgn_fit(&r, vq, d.addr, d.len)) {
			*general = true;
			break;
		}
		vq->id_state[d.flags_or_id] = VQ_ID_OUT;
		e[n] = (struct vq_lean){ .p = (uint8_t *)(uintptr_t)(d.addr + r.bias),
					 .len = d.len, .id = d.flags_or_id };
	}
	vq->nout += n;
	vq->fetch_pos = vq->avail_pos = (uint16_t)(pos + n);
	if (n == navail)
		tr_poll_arm(vq, (uint16_t)(pos + n));
	else
		vq_poll_disarm(vq);
	return n;
}

static uint32_t tr_lean_put(struct vqcore_vq *vq, const struct vq_lean *e,
			    const uint32_t *lens, unsigned k, bool run, uint32_t pos)
{
	struct tr_dev *s = tr_dev(vq);

	for (unsigned i = 0; i < k; i++) {
		vq->id_state[e[i].id] = VQ_ID_FREE;
		if (!run)
			tr_write_used(s, vq->num, (uint16_t)(s->used_idx + i), e[i].id,
				      lens ? lens[i] : 0);
	}
	if (run)
		tr_write_used(s, vq->num, s->used_idx, e[k - 1].id, lens ? lens[k - 1] : 0);
	tr_used_publish(vq, k, run ? 1 : k);
	return (uint16_t)(pos + k);
}

static bool tr_avail_pending(struct vqcore_vq *vq)
{
	return tr_avail_idx(vq) != (uint16_t)vq->fetch_pos;
}

static void tr_set_notify(struct vqcore_vq *vq, bool enable)
{
	struct tr_device_area *a = tr_dev(vq)->dev;

	if (vq->event_idx) {
		if (enable) {
			VQ_WRITE_ONCE(a->avail_event, vq_le16((uint16_t)vq->fetch_pos));
			vq_mem_log(vq->mem, vq->area[2].gpa + 4, 2);
		}
		return;
	}
	VQ_WRITE_ONCE(a->flags, vq_le16(enable ? 0 : TR_F_NO_NOTIFY));
	vq_mem_log(vq->mem, vq->area[2].gpa, 2);
}

static bool tr_should_signal(struct vqcore_vq *vq)
{
	struct tr_dev *s = tr_dev(vq);
	uint16_t old = s->signalled_used, new_idx = s->used_idx;
	bool valid = s->signalled_valid;

	if (!vq->event_idx)
		return !(vq_le16(VQ_READ_ONCE(s->drv->flags)) & TR_F_NO_INTERRUPT);
	s->signalled_used = new_idx;
	s->signalled_valid = true;
	if (!valid)
		return true;
	if (old == new_idx)
		return false;
	return vring_need_event(vq_le16(VQ_READ_ONCE(s->drv->used_event)), new_idx, old);
}

static int tr_set_base(struct vqcore_vq *vq, uint32_t base)
{
	if (base > UINT16_MAX)
		return -VQ_EINVAL;
	/* the used index is the device's own last write to the ring */
	tr_dev(vq)->used_idx = vq_le16(vq_load_acquire(&tr_dev(vq)->dev->idx));
	tr_dev(vq)->signalled_valid = false;
	return 0;
}

static int tr_set_used_base(struct vqcore_vq *vq, uint32_t pos)
{
	if (pos > UINT16_MAX)
		return -VQ_EINVAL;
	tr_dev(vq)->used_idx = (uint16_t)pos;
	tr_dev(vq)->signalled_valid = false;
	return 0;
}

static uint32_t tr_get_used_base(const struct vqcore_vq *vq)
{
	return tr_dev(vq)->used_idx;
}

/* =================== driver side =================== */

static int tr_drv_init(struct vqcore_drvq *dq)
{
	struct tr_drv *t = tr_drv(dq);
	uint16_t num = dq->num;

	t->desc = dq->area_hva[0];
	t->drv = dq->area_hva[1];
	t->dev = dq->area_hva[2];
	t->free_ids = vq_malloc(sizeof(uint16_t) * num);
	if (!t->free_ids)
		return -VQ_ENOMEM;
	/* a stack: ids pop in the order 0, 1, 2, ... */
	for (uint16_t i = 0; i < num; i++)
		t->free_ids[i] = (uint16_t)(num - 1 - i);
	t->nfree_ids = num;
	vq_memset(t->desc, 0, 16ull * num);
	vq_memset(t->drv, 0, sizeof(*t->drv));
	vq_memset(t->dev, 0, sizeof(*t->dev) + 8ull * num);
	dq->num_free = num;
	return 0;
}

static void tr_drv_free(struct vqcore_drvq *dq)
{
	vq_free(tr_drv(dq)->free_ids);
	tr_drv(dq)->free_ids = NULL;
}

static void tr_drv_write_desc(struct vring_desc_raw *d, uint64_t addr, uint32_t len,
			      uint16_t id, uint16_t flags)
{
	__atomic_store_n(&d->addr, vq_le64(addr), __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, vq_le32(len), __ATOMIC_RELAXED);
	__atomic_store_n(&d->flags_or_id, vq_le16(id), __ATOMIC_RELAXED);
	__atomic_store_n(&d->next_or_flags, vq_le16(flags), __ATOMIC_RELAXED);
}

/*
 * Write @sg (@out_num readable elements first, @total in all) as buffer
 * @id: an indirect table in the id's part of the indirect area and one
 * descriptor for it, or a chain of @total slots.  Returns the writable
 * bytes.
 */
static uint32_t tr_drv_write(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			     unsigned out_num, unsigned total, uint16_t id, bool indirect)
{
	struct tr_drv *t = tr_drv(dq);
	const uint16_t mask = (uint16_t)(dq->num - 1);
	struct vring_desc_raw *table = dq->itable + (size_t)id * dq->max_indirect;
	uint32_t in_len = 0;

	for (unsigned j = 0; j < total; j++) {
		uint16_t f = j < out_num ? 0 : VRING_DESC_F_WRITE;

		if (j >= out_num)
			in_len += sg[j].len;
		if (indirect) {
			tr_drv_write_desc(&table[j], sg[j].addr, sg[j].len, 0, f);
			continue;
		}
		if (j + 1 < total)
			f |= VRING_DESC_F_NEXT;
		tr_drv_write_desc(&t->desc[(uint16_t)(t->avail_idx + j) & mask],
				  sg[j].addr, sg[j].len, id, f);
	}
	if (indirect)
		tr_drv_write_desc(&t->desc[t->avail_idx & mask],
				  dq->indirect_gpa + (uint64_t)id * dq->max_indirect * 16,
				  total * 16, id, VRING_DESC_F_INDIRECT);
	return in_len;
}

static int tr_drv_add(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
		      unsigned out_num, unsigned in_num, void *token, unsigned flags)
{
	struct tr_drv *t = tr_drv(dq);
	unsigned total = out_num + in_num;
	bool indirect = (flags & VQCORE_ADD_INDIRECT) && dq->itable;
	uint16_t need = indirect ? 1 : (uint16_t)total, id;
	uint32_t in_len;

	if (indirect && total > dq->max_indirect)
		return -VQ_EINVAL;
	if (need > dq->num_free || !t->nfree_ids)
		return -VQ_ENOSPC;
	id = t->free_ids[--t->nfree_ids];
	in_len = tr_drv_write(dq, sg, out_num, total, id, indirect);
	dq->state[id] = (struct vq_drv_state){ .token = token, .in_len = in_len,
					       .ndesc = need };
	dq->num_free = (uint16_t)(dq->num_free - need);
	t->avail_idx = (uint16_t)(t->avail_idx + need);
	if (dq->in_order)
		dq->order[dq->order_tail++ & (dq->num - 1)] = id;
	return 0;
}

/* The core checked the tokens and that all @n fit. */
static void tr_drv_add_sg(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			  void *const *tokens, unsigned n, bool writable)
{
	for (unsigned i = 0; i < n; i++)
		tr_drv_add(dq, &sg[i], !writable, writable, tokens[i], 0);
}

static void tr_drv_publish(struct vqcore_drvq *dq)
{
	vq_store_release(&tr_drv(dq)->drv->idx, vq_le16(tr_drv(dq)->avail_idx));
}

static bool tr_drv_kick_prepare(struct vqcore_drvq *dq)
{
	struct tr_drv *t = tr_drv(dq);
	uint16_t new_idx = t->avail_idx, old = t->kicked_idx;

	tr_drv_publish(dq);
	t->kicked_idx = new_idx;
	if (new_idx == old)
		return false;
	vq_mb();
	if (dq->event_idx)
		return vring_need_event(vq_le16(VQ_READ_ONCE(t->dev->avail_event)),
					new_idx, old);
	return !(vq_le16(VQ_READ_ONCE(t->dev->flags)) & TR_F_NO_NOTIFY);
}

/* Buffer @id goes back: its slots and its id are free again. */
static void tr_drv_release(struct vqcore_drvq *dq, uint16_t id)
{
	struct vq_drv_state *st = &dq->state[id];

	dq->num_free = (uint16_t)(dq->num_free + st->ndesc);
	tr_drv(dq)->free_ids[tr_drv(dq)->nfree_ids++] = id;
	st->token = NULL;
}

/* The next used entry, or false (the driver queue broken) for a bad id. */
static bool tr_drv_read_used(struct vqcore_drvq *dq, uint16_t *id, uint32_t *len)
{
	const struct tr_used_elem *u =
		&tr_drv(dq)->dev->ring[tr_drv(dq)->last_used & (dq->num - 1)];
	uint32_t v = vq_le32(__atomic_load_n(&u->id, __ATOMIC_RELAXED));

	*len = vq_le32(__atomic_load_n(&u->len, __ATOMIC_RELAXED));
	if (unlikely(v >= dq->num || !dq->state[v].token)) {
		dq->broken = true;
		vq_err("driver vq: device returned id %u not in flight", v);
		return false;
	}
	*id = (uint16_t)v;
	return true;
}

/*
 * Up to @max used buffers before used index @used.  With in-order, an
 * entry names the last buffer of a run: the ones before it in add order
 * were used in full (their writable bytes).
 */
static int tr_drv_collect(struct vqcore_drvq *dq, void **tokens, uint32_t *lens,
			  unsigned max, uint16_t used)
{
	struct tr_drv *t = tr_drv(dq);
	unsigned n = 0;

	while (n < max && t->last_used != used) {
		uint16_t id;
		uint32_t len;

		if (!dq->in_order || !dq->io_pending) {
			if (!tr_drv_read_used(dq, &id, &len))
				return n ? (int)n : -VQ_EIO;
			dq->io_id = id;
			dq->io_len = len;
			dq->io_pending = dq->in_order;
		}
		if (dq->in_order) {
			id = dq->order[dq->order_head++ & (dq->num - 1)];
			len = id == dq->io_id ? dq->io_len : dq->state[id].in_len;
			dq->io_pending = id != dq->io_id;
		}
		tokens[n] = dq->state[id].token;
		if (lens)
			lens[n] = len;
		n++;
		tr_drv_release(dq, id);
		t->last_used++;
	}
	return (int)n;
}

static int tr_drv_get_used(struct vqcore_drvq *dq, void **tokens, uint32_t *lens,
			   unsigned max)
{
	struct tr_drv *t = tr_drv(dq);
	uint16_t used = vq_le16(vq_load_acquire(&t->dev->idx));

	if (dq->broken)
		return -VQ_EIO;
	if (unlikely((uint16_t)(used - t->last_used) > dq->num)) {
		dq->broken = true;
		vq_err("driver vq: used idx %u jumped past %u", used, t->last_used);
		return -VQ_EIO;
	}
	return tr_drv_collect(dq, tokens, lens, max, used);
}

static bool tr_drv_enable_cb(struct vqcore_drvq *dq)
{
	struct tr_drv *t = tr_drv(dq);

	if (dq->event_idx)
		VQ_WRITE_ONCE(t->drv->used_event, vq_le16(t->last_used));
	else
		VQ_WRITE_ONCE(t->drv->flags, 0);
	vq_mb();
	return vq_le16(VQ_READ_ONCE(t->dev->idx)) != t->last_used;
}

static void tr_drv_disable_cb(struct vqcore_drvq *dq)
{
	struct tr_drv *t = tr_drv(dq);

	if (dq->event_idx) /* an event index far behind: none for a lap */
		VQ_WRITE_ONCE(t->drv->used_event, vq_le16((uint16_t)(t->last_used - 0x8000)));
	else
		VQ_WRITE_ONCE(t->drv->flags, vq_le16(TR_F_NO_INTERRUPT));
}

/* =================== control path =================== */

static int tr_base_decode(uint32_t wire, uint32_t *pos)
{
	if (wire > UINT16_MAX)
		return -VQ_EINVAL;
	*pos = wire;
	return 0;
}

static uint32_t tr_base_encode(uint32_t pos)
{
	return pos;
}

const struct vq_format_ops vq_testring_ops VQ_HIDDEN = {
	.name = "testring",
	.check_num = tr_check_num,
	.layout = tr_layout,
	.area_sizes = tr_area_sizes,
	.area_align = { 16, 2, 8 },
	.attach = tr_attach,
	.reset = tr_reset,
	.fetch = tr_fetch,
	.get_direct = tr_get_direct,
	.fetch_at = tr_fetch_at,
	.put_used = tr_put_used,
	.avail_pending = tr_avail_pending,
	.set_notify = tr_set_notify,
	.should_signal = tr_should_signal,
	.set_base = tr_set_base,
	.set_used_base = tr_set_used_base,
	.get_used_base = tr_get_used_base,
	.lean_get = tr_lean_get,
	.lean_put = tr_lean_put,
	.drv_init = tr_drv_init,
	.drv_add = tr_drv_add,
	.drv_add_sg = tr_drv_add_sg,
	.drv_kick_prepare = tr_drv_kick_prepare,
	.drv_publish = tr_drv_publish,
	.drv_get_used = tr_drv_get_used,
	.drv_enable_cb = tr_drv_enable_cb,
	.drv_disable_cb = tr_drv_disable_cb,
	.drv_free = tr_drv_free,
	.area_name = { "descriptor", "driver", "device" },
	.start_pos = 0,
	.base_decode = tr_base_decode,
	.base_encode = tr_base_encode,
};
