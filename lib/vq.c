/* SPDX-License-Identifier: MIT */
/*
 * Format-independent virtqueue core, device side.
 *
 * The flow of a batch:
 *   vqcore_vq_get_bufs()
 *     -> vq_check_rings()          one generation compare
 *     -> vq_poll_empty()           an empty ring: one load and a compare
 *     -> ops->get_direct()         one-descriptor buffers straight to the
 *                                  caller (vq_one_put()); else, or after it:
 *     -> ops->fetch()              one read of the driver's index / flags,
 *                                  descriptors copied once into the cache
 *     -> vq_cache_commit()         per buffer: id, order and length rules
 *     -> translation to iovecs     per descriptor, through the memory table
 *   vqcore_vq_put_used()
 *     -> in-flight check of every buffer, then ops->put_used() once
 *
 * Dirty logging of what the device writes (live migration): while a log
 * is set, get_bufs skips the direct loops (vq_one_put()), so every
 * buffer is handed out by vq_hand_out(), which records the guest ranges
 * of its writable descriptors (struct vq_wlog); put_used logs them before
 * the format writes a used entry.  Whether a log is set is read once per
 * call; with none, the data path does nothing more than a load and a
 * branch.
 */
#include <stdarg.h>

#include "abi_priv.h"
#include "vq_lean.h"

int vq_break(struct vqcore_vq *vq, int err, const char *fmt, ...)
{
	if (!vq->error) {
		va_list ap;

		/* vqcore_vq_error() may read it from another thread */
		__atomic_store_n(&vq->error, err, __ATOMIC_RELAXED);
		va_start(ap, fmt);
		vq_log_broken(vq->index, vq->ops->name, err, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- ring areas and the memory generation ---- */

/*
 * Point area @i at its host memory.  The guest address was checked for
 * the format's alignment; the host address must have it too, or the
 * format's loads and stores would be misaligned: a region whose host
 * address and guest address differ in the low bits (a front-end's odd
 * guest address or mmap offset) does not hold a ring.
 */
static int vq_translate_area(struct vqcore_vq *vq, unsigned i)
{
	struct vq_area *a = &vq->area[i];
	unsigned hint = 0;
	void *p;

	p = vq_mem_ptr(vq->mem, a->gpa, a->size, &hint);
	if (!p || ((uintptr_t)p & (vq->ops->area_align[i] - 1)))
		return -VQCORE_E_RING_ADDR;
	a->hva = p;
	a->serial = vq->mem->slot[hint].serial;
	return 0;
}

int vq_revalidate_rings(struct vqcore_vq *vq)
{
	const struct vqcore_mem *m = vq->mem;
	uint64_t gen = __atomic_load_n(&m->gen, __ATOMIC_ACQUIRE);
	bool moved = false;

	for (unsigned i = 0; i < 3; i++) {
		struct vq_area *a = &vq->area[i];
		unsigned hint = 0;
		int slot = vq_mem_lookup(m, a->gpa, &hint);

		/* Same region, still there: the cached pointer is valid. */
		if (slot >= 0 && m->slot[slot].serial == a->serial)
			continue;
		if (vq_translate_area(vq, i) < 0)
			return vq_break(vq, -VQCORE_E_RING_ADDR,
					"ring area %u at 0x%llx no longer mapped "
					"(or mapped at a misaligned host address)", i,
					(unsigned long long)a->gpa);
		moved = true;
	}
	if (moved) {
		vq->ops->attach(vq);
		vq_poll_disarm(vq);
	}
	vq->mem_gen = gen;
	return 0;
}

/* ---- creation ---- */

static int vq_alloc_tables(struct vqcore_vq *vq)
{
	vq->buf_cap = vq->batch;
	vq->desc_cap = (uint32_t)vq->num + vq->batch;
	vq->desc_cache = vq_zalloc_aligned(sizeof(*vq->desc_cache) * vq->desc_cap);
	vq->buf_cache = vq_zalloc_aligned(sizeof(*vq->buf_cache) * vq->buf_cap);
	vq->id_state = vq_zalloc_aligned(vq->num);
	vq->wlog = vq_zalloc_aligned(sizeof(*vq->wlog) * vq->num);
	if (!vq->desc_cache || !vq->buf_cache || !vq->id_state || !vq->wlog)
		return -VQ_ENOMEM;
	return 0;
}

int vqcore_vq_new(const struct vqcore_vq_config *cfg, struct vqcore_vq **out)
{
	const struct vq_format_ops *ops;
	struct vqcore_vq_config c;
	struct vqcore_vq *vq;
	uint64_t sizes[3];
	int err;

	if (!out)
		return -VQ_EINVAL;
	err = vq_struct_in(&c, sizeof(c), cfg);
	if (err)
		return err;
	cfg = &c;
	if (!cfg->mem)
		return -VQ_EINVAL;
	ops = vq_format_get(cfg->format);
	if (!ops || ops->check_num(cfg->num) < 0)
		return -VQ_EINVAL;
	if (cfg->batch > 4096)
		return -VQ_EINVAL;

	vq = vq_zalloc_aligned(sizeof(*vq));
	if (!vq)
		return -VQ_ENOMEM;
	vq->ops = ops;
	vq->mem = cfg->mem;
	vq->num = cfg->num;
	vq->format = cfg->format;
	vq->features = cfg->features;
	vq->event_idx = cfg->features & VQCORE_BIT(VQCORE_F_EVENT_IDX);
	vq->indirect = cfg->features & VQCORE_BIT(VQCORE_F_INDIRECT_DESC);
	vq->in_order = cfg->features & VQCORE_BIT(VQCORE_F_IN_ORDER);
	vq->batch = cfg->batch ? cfg->batch : VQCORE_DEFAULT_BATCH;
	vq->call_fd = cfg->call_fd;
	vq->index = cfg->index;

	err = vq_alloc_tables(vq);
	if (err)
		goto fail;

	ops->area_sizes(vq->num, sizes);
	vq->area[0].gpa = cfg->desc_gpa;
	vq->area[1].gpa = cfg->driver_gpa;
	vq->area[2].gpa = cfg->device_gpa;
	for (unsigned i = 0; i < 3; i++) {
		if (vq->area[i].gpa & (ops->area_align[i] - 1)) {
			vq_warn("vq %u: ring area %u at 0x%llx is not %u-byte aligned",
				vq->index, i, (unsigned long long)vq->area[i].gpa,
				ops->area_align[i]);
			err = -VQ_EINVAL;
			goto fail;
		}
	}
	for (unsigned i = 0; i < 3; i++) {
		vq->area[i].size = sizes[i];
		err = vq_translate_area(vq, i);
		if (err) {
			vq_warn("vq %u: ring area %u (0x%llx, %llu bytes) is not inside one region, "
				"or its host address is misaligned",
				vq->index, i, (unsigned long long)vq->area[i].gpa,
				(unsigned long long)sizes[i]);
			goto fail;
		}
	}
	vq->mem_gen = __atomic_load_n(&vq->mem->gen, __ATOMIC_ACQUIRE);
	ops->attach(vq);
	vqcore_vq_reset(vq);
	*out = vq;
	return 0;
fail:
	vqcore_vq_free(vq);
	return err;
}

void vqcore_vq_free(struct vqcore_vq *vq)
{
	if (!vq)
		return;
	vq_free(vq->desc_cache);
	vq_free(vq->buf_cache);
	vq_free(vq->id_state);
	vq_free(vq->wlog);
	vq_free(vq);
}

static void vq_drop_cache(struct vqcore_vq *vq)
{
	/* cached buffers were in flight only for the library: release them */
	for (uint32_t i = vq->buf_head; i < vq->buf_count; i++)
		vq->id_state[vq->buf_cache[i].id] = VQ_ID_FREE;
	vq->buf_head = vq->buf_count = 0;
	vq->desc_used = 0;
	vq->fetch_pos = vq->avail_pos;
	vq_poll_disarm(vq);
}

void vqcore_vq_reset(struct vqcore_vq *vq)
{
	vq->error = 0;
	vq->buf_head = vq->buf_count = vq->desc_used = 0;
	vq_memset(vq->id_state, 0, vq->num);
	vq->nout = 0;
	vq->ops->reset(vq);
	vq->fetch_pos = vq->avail_pos;
	vq->inorder_pos = vq->avail_pos;
	vq_poll_disarm(vq);
}

/* ---- fetching ---- */

int vq_cache_commit_slow(struct vqcore_vq *vq, uint32_t first, uint16_t id,
			 uint16_t ndesc, uint16_t pos, uint16_t next, bool resub)
{
	uint64_t total = 0;
	bool in = false;

	if (unlikely(id >= vq->num))
		return vq_break(vq, -VQCORE_E_BAD_ID, "buffer id %u >= size %u",
				id, vq->num);
	if (unlikely(vq->id_state[id] != VQ_ID_FREE)) {
		if (resub) /* resubmission of a live buffer: caller error */
			return -VQCORE_E_ID_IN_USE;
		return vq_break(vq, -VQCORE_E_ID_IN_USE,
				"buffer id %u made available while in flight", id);
	}
	for (uint32_t i = first; i < vq->desc_used; i++) {
		const struct vhost_desc *d = &vq->desc_cache[i];

		if (d->flags & VHOST_DESC_F_WRITE)
			in = true;
		else if (unlikely(in))
			return vq_break(vq, -VQCORE_E_WRITE_ORDER,
					"buffer %u: readable descriptor after a writable one",
					id);
		total += d->len;
	}
	if (unlikely(total > UINT32_MAX))
		return vq_break(vq, -VQCORE_E_LEN_OVERFLOW,
				"buffer %u: total length %llu overflows 32 bits", id,
				(unsigned long long)total);
	vq_cache_record(vq, first, id, ndesc, pos, next, resub);
	return 0;
}

/*
 * Make sure the cache holds a buffer: >0 yes, 0 ring empty, <0 error.  On
 * a fetch error the good buffers cached before the bad one stay cached
 * (see vq_unbreak()).
 */
static inline int vq_fill(struct vqcore_vq *vq)
{
	int r;

	if (vq->buf_head < vq->buf_count)
		return 1;
	vq->buf_head = vq->buf_count = vq->desc_used = 0;
	r = vq_check_rings(vq);
	if (unlikely(r < 0))
		return r;
	r = vq->ops->fetch(vq);
	vq_poll_disarm(vq);  /* the fetch position moved past it */
	if (unlikely(r < 0) && !vq->buf_count)
		vq_drop_cache(vq);
	return r;
}

/*
 * A broken batch: a get_bufs call met a buffer that breaks the queue after
 * good buffers it handed out or cached.  Those are served first, as a
 * device fetching one buffer per call would serve them: the call undoes
 * the break, hands them out and returns their count.  The format left
 * fetch_pos at the bad buffer (nothing after it is cached), so the next
 * call that fetches meets it again and breaks the queue for good.
 * vqcore_vq_error() may show the error while the first call runs.
 */
static VQ_COLD void vq_unbreak(struct vqcore_vq *vq)
{
	__atomic_store_n(&vq->error, 0, __ATOMIC_RELAXED);
}

/* ---- the dirty log of device writes ---- */

/* Pages strictly between [@f0, @l0] and [@f1, @l1] (0: they share or touch a page). */
static inline uint64_t vq_wlog_gap(uint64_t f0, uint64_t l0, uint64_t f1,
				   uint64_t l1)
{
	uint64_t a0 = f0 / VQCORE_LOG_PAGE, b0 = l0 / VQCORE_LOG_PAGE;
	uint64_t a1 = f1 / VQCORE_LOG_PAGE, b1 = l1 / VQCORE_LOG_PAGE;

	if (a1 > b0)
		return a1 - b0 - 1;
	if (a0 > b1)
		return a0 - b1 - 1;
	return 0;
}

/* Add [@addr, @addr + @len) (@len > 0) to @w (see struct vq_wlog). */
static void vq_wlog_add(struct vq_wlog *w, uint64_t addr, uint32_t len)
{
	uint64_t first = addr, last = addr + (len - 1), best_gap = UINT64_MAX;
	unsigned best = 0;

	if (last < first) /* get_bufs_desc does not check addresses */
		last = UINT64_MAX;
	for (unsigned i = 0; i < w->n; i++) {
		uint64_t gap = vq_wlog_gap(w->first[i], w->last[i], first, last);

		if (gap < best_gap) {
			best_gap = gap;
			best = i;
		}
	}
	if (best_gap && w->n < VQ_WLOG_RANGES) {
		w->first[w->n] = first;
		w->last[w->n] = last;
		w->n++;
		return;
	}
	/* the hull of the two: no page less than both, maybe some more */
	w->first[best] = VQ_MIN(w->first[best], first);
	w->last[best] = VQ_MAX(w->last[best], last);
}

/* Record what cached buffer @cb lets the device write (handed out now). */
static VQ_NOINLINE void vq_wlog_record(struct vqcore_vq *vq,
				       const struct vq_cached_buf *cb)
{
	struct vq_wlog *w = &vq->wlog[cb->id];
	const struct vhost_desc *d = &vq->desc_cache[cb->first];

	w->n = 0;
	for (uint32_t i = 0; i < cb->count; i++)
		if ((d[i].flags & VHOST_DESC_F_WRITE) && d[i].len)
			vq_wlog_add(w, d[i].addr, d[i].len);
}

/* Mark inclusive [@first, @last] dirty. */
static void vq_log_span(const struct vqcore_mem *m, uint64_t first,
			uint64_t last)
{
	uint64_t len = last - first + 1;

	vq_mem_log_slow(m, first, len ? len : UINT64_MAX);
}

/*
 * Pages waiting to be marked, [first, last] (none while first > last):
 * neighbouring ranges of a batch (buffers the driver placed one after the
 * other) join, so a batch sets each run of bits once.
 */
struct vq_wlog_pend {
	uint64_t first, last;
};

static inline void vq_wlog_flush(const struct vqcore_mem *m, struct vq_wlog_pend *p)
{
	if (p->first <= p->last)
		vq_log_span(m, p->first * VQCORE_LOG_PAGE,
			    p->last * VQCORE_LOG_PAGE + (VQCORE_LOG_PAGE - 1));
	p->first = 1;
	p->last = 0;
}

/* Queue inclusive byte range [@first, @last] to be marked. */
static inline void vq_wlog_mark(const struct vqcore_mem *m,
				struct vq_wlog_pend *p, uint64_t first,
				uint64_t last)
{
	uint64_t f = first / VQCORE_LOG_PAGE, l = last / VQCORE_LOG_PAGE;

	if (p->first <= p->last && f <= p->last + 1 && l + 1 >= p->first) {
		p->first = VQ_MIN(p->first, f);
		p->last = VQ_MAX(p->last, l);
		return;
	}
	vq_wlog_flush(m, p);
	p->first = f;
	p->last = l;
}

/*
 * Before any used entry for @bufs is written: log what each may have been
 * written through.  A buffer handed out with no log set has no record
 * (the direct loops record nothing); for those, every region of the table
 * is logged, once for the call.  Ids the release check will refuse are
 * skipped; logging more for a call it then refuses is harmless.
 */
static VQ_COLD void vq_wlog_put(struct vqcore_vq *vq,
				const struct vhost_buf *bufs, unsigned n)
{
	const struct vqcore_mem *m = vq->mem;
	struct vq_wlog_pend p = { 1, 0 };
	bool all = false;

	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;
		const struct vq_wlog *w;
		uint8_t st;

		if (id >= vq->num)
			continue;
		st = vq->id_state[id];
		if (!(st & VQ_ID_OUT))
			continue;
		if (!(st & VQ_ID_WLOG)) {
			all = true;
			continue;
		}
		w = &vq->wlog[id];
		for (uint32_t j = 0; j < w->n && j < VQ_WLOG_RANGES; j++)
			vq_wlog_mark(m, &p, w->first[j], w->last[j]);
	}
	vq_wlog_flush(m, &p);
	if (all)
		for (unsigned s = 0; s < m->n; s++)
			vq_log_span(m, m->slot[s].gpa, m->slot[s].last);
}

/*
 * Hand cached buffer @cb out as @b.  @logging: a dirty log is set (read
 * once per call); the buffer's writable ranges are recorded then.
 */
static inline void vq_hand_out(struct vqcore_vq *vq,
			       const struct vq_cached_buf *cb,
			       struct vhost_buf *b, bool logging)
{
	uint8_t st = VQ_ID_OUT | (cb->resub ? VQ_ID_RESUB : 0);

	if (unlikely(logging)) {
		vq_wlog_record(vq, cb);
		st |= VQ_ID_WLOG;
	}
	vq->nout++;
	vq->buf_head++;
	vq->id_state[cb->id] = st;
	if (likely(!cb->resub))
		vq->avail_pos = cb->next;
	b->id = cb->id;
	b->ndesc = cb->ndesc;
	b->reserved = cb->pos | ((uint32_t)cb->next << 16);
}

/*
 * The general path: translate cached buffer @cb into iovecs at iov[*k..max_iov) and fill @b.
 * 0 on success; -VQCORE_E_IOV_FULL if it does not fit (nothing consumed);
 * another error breaks the queue.  @logging: as vq_hand_out().
 */
static int vq_translate_buf(struct vqcore_vq *vq, const struct vq_cached_buf *cb,
			    struct vhost_buf *b, struct iovec *iov, unsigned *k,
			    unsigned max_iov, bool logging)
{
	const struct vhost_desc *d = &vq->desc_cache[cb->first];
	const struct vhost_desc *end = d + cb->count;
	uint32_t out_num = 0, in_num = 0, out_len = 0, in_len = 0;
	unsigned start = *k, pos = *k;

	for (; d < end; d++) {
		int r;

		if (unlikely(!d->len))
			continue;
		r = vq_mem_to_iov(vq->mem, d->addr, d->len, &iov[pos],
				  max_iov - pos, &vq->mem_hint);
		if (unlikely(r < 0)) {
			if (r == -VQCORE_E_IOV_FULL)
				return r;
			return vq_break(vq, r, "buffer %u: descriptor 0x%llx+%u",
					cb->id, (unsigned long long)d->addr, d->len);
		}
		pos += (unsigned)r;
		if (d->flags & VHOST_DESC_F_WRITE) {
			in_num += (unsigned)r;
			in_len += d->len;
		} else {
			out_num += (unsigned)r;
			out_len += d->len;
		}
	}
	if (unlikely(out_num > UINT16_MAX || in_num > UINT16_MAX))
		return -VQCORE_E_IOV_FULL;
	b->out_len = out_len;
	b->in_len = in_len;
	b->out_num = (uint16_t)out_num;
	b->in_num = (uint16_t)in_num;
	b->first = start;
	*k = pos;
	vq_hand_out(vq, cb, b, logging);
	return 0;
}

/*
 * The fast loop: cached one-descriptor buffers that fall inside one region,
 * handed out through vq_one_put().  Stops at the first buffer that needs
 * the general path.
 */
static inline unsigned vq_hand_out_simple(struct vqcore_vq *vq,
					  struct vhost_buf *bufs, unsigned n,
					  unsigned max_bufs, struct iovec *iov,
					  unsigned *kp, unsigned max_iov)
{
	const struct vq_cached_buf *cb = &vq->buf_cache[vq->buf_head];
	const struct vhost_desc *dc = vq->desc_cache;
	struct vq_out o = { .bufs = bufs, .iov = iov, .n = n, .max_bufs = max_bufs,
			    .k = *kp, .max_iov = max_iov };
	uint32_t avail = vq->avail_pos;
	struct vq_one t;
	unsigned j, lim;

	lim = VQ_MIN(vq->buf_count - vq->buf_head, max_bufs - n);
	lim = VQ_MIN(lim, max_iov - *kp);
	if (!vq_one_start(&t, vq, &o))
		return n;  /* no region: the general path reports it */
	for (j = 0; j < lim; j++, cb++) {
		const struct vhost_desc *d = &dc[cb->first];

		/* cached buffers are in flight already (VQ_ID_CACHED) */
		if (unlikely(cb->count != 1 || cb->resub))
			break;
		if (!vq_rgn_fit(&t.r, vq, d->addr, d->len))
			break;
		t.tail = (uint32_t)t.tail | VQ_ONE_POS(cb->pos, cb->next);
		vq_one_put(&t, d->addr, d->len, d->flags, cb->id, cb->ndesc, 1);
		avail = cb->next;
	}
	vq->buf_head += j;
	vq->nout += j;
	vq->avail_pos = avail;
	vq_one_end(&t, &o);
	*kp = o.k;
	return o.n;
}

/*
 * get_bufs past its usual case: a cache to hand out from, buffers that
 * need the general path, a fetch after the format's direct one, or a
 * dirty log set.  @o holds what went out so far.  While logging, nothing
 * goes out through a direct loop (the format's fetch or
 * vq_hand_out_simple()): every buffer goes through vq_translate_buf(),
 * which records its writable ranges.
 */
static VQ_NOINLINE int vq_get_bufs_general(struct vqcore_vq *vq,
					   struct vq_out *o)
{
	struct vhost_buf *bufs = o->bufs;
	struct iovec *iov = o->iov;
	const unsigned max_bufs = o->max_bufs, max_iov = o->max_iov;
	unsigned n = o->n, k = o->k;
	const bool logging = vq->mem->log != NULL;
	bool bad_next = false;  /* a bad buffer follows the cached ones */

	while (n < max_bufs) {
		int r;

		if (vq->buf_head == vq->buf_count) {
			/* Cache empty: fetch, letting the format hand simple
			 * buffers straight into the caller's arrays. */
			struct vq_out f = { .bufs = bufs, .iov = iov, .n = n,
					    .max_bufs = max_bufs, .k = k,
					    .max_iov = max_iov };

			if (bad_next)
				break;
			vq->buf_head = vq->buf_count = vq->desc_used = 0;
			r = vq_check_rings(vq);
			if (unlikely(r < 0))
				return n ? (int)n : r;
			vq->out = logging ? NULL : &f;
			r = vq->ops->fetch(vq);
			vq->out = NULL;
			vq_poll_disarm(vq);  /* the fetch position moved past it */
			if (unlikely(r < 0)) {
				if (!f.n && !vq->buf_count) {
					vq_drop_cache(vq);
					return r;  /* the queue is broken */
				}
				/* good buffers before the bad one: hand them
				 * out, stop at it (vq_unbreak()) */
				vq_unbreak(vq);
				bad_next = true;
			} else if (r == 0) {
				break;  /* ring empty */
			}
			n = f.n;
			k = f.k;
			if (vq->buf_head == vq->buf_count)
				continue;  /* all of it handed out already */
		}
		if (likely(!logging)) {
			n = vq_hand_out_simple(vq, bufs, n, max_bufs, iov, &k,
					       max_iov);
			if (n == max_bufs || vq->buf_head == vq->buf_count)
				continue;
		}
		/* the next cached buffer needs the general path */
		r = vq_translate_buf(vq, &vq->buf_cache[vq->buf_head], &bufs[n],
				     iov, &k, max_iov, logging);
		if (unlikely(r < 0)) {
			if (r == -VQCORE_E_IOV_FULL)
				return n ? (int)n : r;
			if (!n)
				return r;  /* the queue is broken */
			/* good buffers before the bad one: return them; the
			 * bad one and the cache after it go back to the ring
			 * (vq_unbreak()) */
			vq_unbreak(vq);
			vq_drop_cache(vq);
			return (int)n;
		}
		n++;
	}
	return (int)n;
}

/*
 * get_direct stopped short of an empty ring with room left in @o: at a
 * range outside the region it started from, move the hint there and
 * call it again (as often as @o has room: the driver may rewrite the
 * descriptor meanwhile); at anything else, the general path.
 */
static VQ_NOINLINE int vq_get_bufs_more(struct vqcore_vq *vq, struct vq_out *o)
{
	unsigned tries = o->max_bufs - o->n;

	while (o->miss && tries--) {
		unsigned hint = vq->mem_hint;
		int slot = vq_mem_lookup(vq->mem, o->miss_addr, &hint);
		const struct vq_mem_slot *s;

		if (slot < 0)
			break;  /* not mapped: the general path reports it */
		s = &vq->mem->slot[slot];
		if (!o->miss_len || o->miss_len - 1ull > s->last - o->miss_addr)
			break;  /* across regions or empty: the general path */
		vq->mem_hint = (unsigned)slot;
		o->miss = false;
		vq->ops->get_direct(vq, o);
		if (!o->more || o->n == o->max_bufs)
			return (int)o->n;
	}
	o->miss = false;
	return vq_get_bufs_general(vq, o);
}

int vqcore_vq_get_bufs(struct vqcore_vq *vq, struct vhost_buf *bufs,
		       unsigned max_bufs, struct iovec *iov, unsigned max_iov)
{
	struct vq_out o = { .bufs = bufs, .iov = iov, .max_bufs = max_bufs,
			    .max_iov = max_iov };

	if (unlikely(vq->hooks))
		return vq->hooks->get_bufs(vq, bufs, max_bufs, iov, max_iov);
	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	/* The usual case, one-descriptor buffers, nothing cached and no dirty
	 * log, is the format's direct loop and nothing else; an empty ring,
	 * the poll check alone. */
	if (likely(vq->buf_head == vq->buf_count) && likely(vq_check_rings(vq) == 0)) {
		if (vq_poll_empty(vq))
			return 0;
		if (likely(!vq->mem->log)) {
			vq->ops->get_direct(vq, &o);
			if (likely(!o.more || o.n == max_bufs))
				return (int)o.n;
			return vq_get_bufs_more(vq, &o);
		}
	}
	return vq_get_bufs_general(vq, &o);
}

int vqcore_vq_get_buf_at(struct vqcore_vq *vq, uint16_t head,
			 struct vhost_buf *buf, struct iovec *iov,
			 unsigned max_iov)
{
	unsigned k = 0;
	int r;

	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	if (head >= vq->num)
		return -VQ_EINVAL;
	vq_drop_cache(vq);
	r = vq_check_rings(vq);
	if (r < 0)
		return r;
	r = vq->ops->fetch_at(vq, head);
	if (r < 0) {
		vq_drop_cache(vq);
		return r;
	}
	r = vq_translate_buf(vq, &vq->buf_cache[0], buf, iov, &k, max_iov,
			     vq->mem->log != NULL);
	if (r < 0) {
		vq_drop_cache(vq);
		return r;
	}
	vq_drop_cache(vq);
	return 1;
}

int vqcore_vq_get_bufs_desc(struct vqcore_vq *vq, struct vhost_buf *bufs,
			    unsigned max_bufs, struct vhost_desc *desc,
			    unsigned max_desc)
{
	const bool logging = vq->mem->log != NULL;
	bool bad_next = false;  /* a bad buffer follows the cached ones */
	unsigned n = 0, k = 0;

	if (unlikely(vq->hooks))
		return vq->hooks->get_bufs_desc(vq, bufs, max_bufs, desc, max_desc);
	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	while (n < max_bufs) {
		const struct vq_cached_buf *cb;
		uint32_t out_num = 0, in_num = 0, out_len = 0, in_len = 0;
		int r;

		if (bad_next && vq->buf_head == vq->buf_count)
			break;
		r = vq_fill(vq);
		if (unlikely(r < 0)) {
			if (!n && vq->buf_head == vq->buf_count)
				return r;  /* the queue is broken */
			/* good buffers before the bad one: hand them out,
			 * stop at it (vq_unbreak()) */
			vq_unbreak(vq);
			bad_next = true;
			if (vq->buf_head == vq->buf_count)
				break;
		} else if (r == 0) {
			break;
		}
		cb = &vq->buf_cache[vq->buf_head];
		if (cb->count > max_desc - k)
			return n ? (int)n : -VQCORE_E_IOV_FULL;
		for (uint32_t i = 0; i < cb->count; i++) {
			const struct vhost_desc *d = &vq->desc_cache[cb->first + i];

			desc[k + i] = *d;
			desc[k + i].id = cb->id;
			if (d->flags & VHOST_DESC_F_WRITE) {
				in_num++;
				in_len += d->len;
			} else {
				out_num++;
				out_len += d->len;
			}
		}
		bufs[n].out_len = out_len;
		bufs[n].in_len = in_len;
		bufs[n].out_num = (uint16_t)out_num;
		bufs[n].in_num = (uint16_t)in_num;
		bufs[n].first = k;
		k += cb->count;
		vq_hand_out(vq, cb, &bufs[n], logging);
		n++;
	}
	return (int)n;
}

/* ---- returning ---- */

/* Put back the @i buffers of @bufs a refused release had released. */
static VQ_COLD int vq_release_undo(struct vqcore_vq *vq,
				   const struct vhost_buf *bufs, unsigned i)
{
	while (i--)
		vq->id_state[bufs[i].id] = VQ_ID_OUT;
	return -VQ_EINVAL;
}

/*
 * Release @bufs: each must be handed out and appear once.  On a bad one,
 * the ones already released are put back and -EINVAL returned.  Else 1
 * when they form an in-order run (oldest in flight, in fetch order, none
 * but the last with a writable part), 0 when not.
 *
 * The virtio spec lets a run of writable buffers used in full share one
 * used entry too, but DPDK's virtio PMD reads the length of every used
 * entry of its in-order rx ring (split) or waits on every slot (packed):
 * it would take stale lengths or hang.  So writable buffers always get a
 * used entry each, which no driver can misread.
 */
static inline __attribute__((always_inline)) int
vq_release(struct vqcore_vq *vq, const struct vhost_buf *bufs, unsigned n)
{
	uint8_t *ids = vq->id_state;
	const uint16_t num = vq->num;
	uint16_t pos = (uint16_t)vq->inorder_pos;
	unsigned i, off = 0;

	if (!vq->in_order) {
		/* the usual case: only each id's state to check and clear */
		for (i = 0; i < n; i++) {
			uint16_t id = bufs[i].id;

			if (unlikely(id >= num || !(ids[id] & VQ_ID_OUT)))
				return vq_release_undo(vq, bufs, i);
			ids[id] = VQ_ID_FREE;
		}
		vq->nout -= n;
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;
		uint8_t st;

		if (unlikely(id >= num))
			return vq_release_undo(vq, bufs, i);
		st = ids[id];
		if (unlikely(!(st & VQ_ID_OUT)))
			return vq_release_undo(vq, bufs, i);
		ids[id] = VQ_ID_FREE;
		/* off the run: a resubmitted buffer, or one out of place */
		off |= (st & VQ_ID_RESUB) | (uint16_t)(vq_buf_pos(&bufs[i]) ^ pos);
		pos = vq_buf_next(&bufs[i]);
	}
	/* ... or one before the last with a writable part */
	for (i = 0; i + 1 < n; i++)
		off |= bufs[i].in_len;
	vq->inorder_pos = pos;
	vq->nout -= n;
	return !off;
}

static VQ_COLD int vq_put_used_refused(struct vqcore_vq *vq)
{
	vq_warn("vq %u: put_used of a buffer that is not in flight", vq->index);
	return -VQ_EINVAL;
}

int vqcore_vq_put_used(struct vqcore_vq *vq, const struct vhost_buf *bufs,
		       const uint32_t *lens, unsigned n)
{
	int run;

	if (unlikely(vq->hooks))
		return vq->hooks->put_used(vq, bufs, lens, n);
	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	if (unlikely(!n))
		return 0;
	/* what the device wrote is logged before any used entry for it */
	if (unlikely(vq->mem->log != NULL))
		vq_wlog_put(vq, bufs, n);
	run = vq_release(vq, bufs, n);
	if (unlikely(run < 0))
		return vq_put_used_refused(vq);
	vq->ops->put_used(vq, bufs, lens, n, run);
	return 0;
}

int vqcore_vq_unget(struct vqcore_vq *vq, const struct vhost_buf *bufs,
		    unsigned n)
{
	uint32_t inorder = vq->inorder_pos;

	if (unlikely(vq->hooks))
		return vq->hooks->unget(vq, bufs, n);
	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	if (!n)
		return 0;
	/* They must be the most recent n, contiguous, ending at avail_pos. */
	for (unsigned i = 0; i < n; i++) {
		if (i + 1 < n && vq_buf_next(&bufs[i]) != vq_buf_pos(&bufs[i + 1]))
			return -VQ_EINVAL;
		if (bufs[i].id < vq->num && (vq->id_state[bufs[i].id] & VQ_ID_RESUB))
			return -VQ_EINVAL;
	}
	if (vq_buf_next(&bufs[n - 1]) != (uint16_t)vq->avail_pos)
		return -VQ_EINVAL;
	if (vq_release(vq, bufs, n) < 0)
		return -VQ_EINVAL;
	vq->inorder_pos = inorder;
	vq->avail_pos = vq_buf_pos(&bufs[0]);
	vq_drop_cache(vq);
	return 0;
}

/* ---- the lean fetch and return (lib/vq_lean.h) ---- */

unsigned vq_lean_get(struct vqcore_vq *vq, struct vq_lean *e, unsigned max, bool write,
		     uint32_t *pos, bool *general)
{
	*general = true;
	if (unlikely(vq->hooks || vq->error || vq->buf_head != vq->buf_count ||
		     !vq->ops->lean_get || vq_check_rings(vq) < 0))
		return 0;
	if (vq_poll_empty(vq)) {
		*general = false;
		return 0;
	}
	if (unlikely(vq->mem->log))
		return 0;  /* handed out with a record of what it lets the device write */
	*pos = vq->fetch_pos;
	return vq->ops->lean_get(vq, e, VQ_MIN(max, vq->batch), write, general);
}

/* A dirty log set while buffers handed out without a record are out: as vq_wlog_put(). */
static VQ_COLD void vq_log_all(const struct vqcore_mem *m)
{
	for (unsigned s = 0; s < m->n; s++)
		vq_log_span(m, m->slot[s].gpa, m->slot[s].last);
}

int vq_lean_finish(struct vqcore_vq *vq, uint32_t pos, const struct vq_lean *e,
		   bool write, const uint32_t *lens, unsigned k, unsigned n)
{
	uint32_t next = pos;

	if (unlikely(vq->error))
		return -VQCORE_E_BROKEN;
	if (k) {
		bool run = false;

		if (unlikely(vq->mem->log != NULL))
			vq_log_all(vq->mem);
		if (vq->in_order) {
			/* as vq_release(): from the oldest in flight (they
			 * follow each other), readable or a single one */
			run = (uint16_t)pos == (uint16_t)vq->inorder_pos &&
			      (!write || k == 1);
		}
		next = vq->ops->lean_put(vq, e, lens, k, run, pos);
		if (vq->in_order)
			vq->inorder_pos = next;
	}
	if (k < n) {
		/* the rest goes back: fetched again from where it starts */
		for (unsigned i = k; i < n; i++)
			vq->id_state[e[i].id] = VQ_ID_FREE;
		vq->avail_pos = vq->fetch_pos = next;
		vq_poll_disarm(vq);
	}
	vq->nout -= n;
	return 0;
}

/* ---- notifications ---- */

bool vqcore_vq_enable_notify(struct vqcore_vq *vq)
{
	if (unlikely(vq->error) || vq_check_rings(vq) < 0)
		return false;
	vq->ops->set_notify(vq, true);
	vq_mb();
	if (vq->buf_head < vq->buf_count)
		return true;
	return vq->ops->avail_pending(vq);
}

void vqcore_vq_disable_notify(struct vqcore_vq *vq)
{
	if (unlikely(vq->error) || vq_check_rings(vq) < 0)
		return;
	vq->ops->set_notify(vq, false);
}

/* Whether @vq may be signalled at all (before the fence). */
static inline bool vq_signal_ok(struct vqcore_vq *vq)
{
	return likely(!vq->error) && vq_check_rings(vq) >= 0;
}

bool vqcore_vq_should_signal(struct vqcore_vq *vq)
{
	if (!vq_signal_ok(vq))
		return false;
	/* The used stores must be visible before the driver's suppression
	 * state is read (pairs with the driver's barrier). */
	vq_mb();
	return vq->ops->should_signal(vq);
}

/*
 * The call fd may be swapped by another thread (vhost-user SET_VRING_CALL)
 * which then closes the old one: a seqcount-like handshake makes sure no
 * write lands on a closed (or reused) fd number.  The signalling thread
 * makes call_seq odd before it loads the fd and even after its write;
 * vqcore_vq_set_call_fd() stores the new fd, then waits while call_seq
 * stays at an odd value it read.  Both sides are sequentially consistent
 * (store then load on each side), so either the setter sees the odd count
 * or the signaller loads the new fd.  Cost: two atomic increments per
 * eventfd write, none when no signal is due.
 */
static VQ_NOINLINE int vq_signal_call(struct vqcore_vq *vq)
{
	int fd, r = 0;

	__atomic_fetch_add(&vq->call_seq, 1, __ATOMIC_SEQ_CST);
	fd = __atomic_load_n(&vq->call_fd, __ATOMIC_SEQ_CST);
	if (fd >= 0)
		r = vq_notify_fd(fd);
	__atomic_fetch_add(&vq->call_seq, 1, __ATOMIC_RELEASE);
	if (fd < 0)
		return 0;
	return r < 0 ? r : 1;
}

int vqcore_vq_signal(struct vqcore_vq *vq)
{
	return vq_signal_pair(vq, NULL);
}

int vq_signal_pair(struct vqcore_vq *a, struct vqcore_vq *b)
{
	bool sa = a && __atomic_load_n(&a->call_fd, __ATOMIC_RELAXED) >= 0 && vq_signal_ok(a);
	bool sb = b && __atomic_load_n(&b->call_fd, __ATOMIC_RELAXED) >= 0 && vq_signal_ok(b);
	int ra = 0, rb = 0;

	if (!sa && !sb)
		return 0;
	/* one fence for both queues' used stores; then both reads of the
	 * driver's state, which the fence no longer keeps apart */
	vq_mb();
	sa = sa && a->ops->should_signal(a);
	sb = sb && b->ops->should_signal(b);
	if (sa)
		ra = vq_signal_call(a);
	if (sb)
		rb = vq_signal_call(b);
	return ra < 0 ? ra : rb < 0 ? rb : ra + rb;
}

void vqcore_vq_set_call_fd(struct vqcore_vq *vq, int fd)
{
	unsigned s;

	__atomic_store_n(&vq->call_fd, fd, __ATOMIC_SEQ_CST);
	s = __atomic_load_n(&vq->call_seq, __ATOMIC_SEQ_CST);
	if (!(s & 1))
		return;
	/* a signal that may hold the old fd: bounded by one eventfd write */
	while (__atomic_load_n(&vq->call_seq, __ATOMIC_ACQUIRE) == s)
		vq_yield();
}

/* ---- state ---- */

uint32_t vqcore_vq_get_base(const struct vqcore_vq *vq)
{
	return vq->avail_pos;
}

int vqcore_vq_set_base(struct vqcore_vq *vq, uint32_t base)
{
	int r;

	if (vq->nout)
		return -VQ_EBUSY;
	vq_drop_cache(vq);
	r = vq->ops->set_base(vq, base);
	if (r < 0)
		return r;
	vq->avail_pos = vq->fetch_pos = vq->inorder_pos = base;
	vq_poll_disarm(vq);
	return 0;
}

int vqcore_vq_set_used_base(struct vqcore_vq *vq, uint32_t pos)
{
	if (vq->nout)
		return -VQ_EBUSY;
	return vq->ops->set_used_base(vq, pos);
}

uint32_t vqcore_vq_get_used_base(const struct vqcore_vq *vq)
{
	return vq->ops->get_used_base(vq);
}

int vqcore_vq_error(const struct vqcore_vq *vq)
{
	return __atomic_load_n(&vq->error, __ATOMIC_RELAXED);
}

uint16_t vqcore_vq_num(const struct vqcore_vq *vq)
{
	return vq->num;
}

unsigned vqcore_vq_format(const struct vqcore_vq *vq)
{
	return vq->format;
}

unsigned vqcore_vq_inflight(const struct vqcore_vq *vq)
{
	return vq->nout;
}

struct vqcore_mem *vqcore_vq_mem(const struct vqcore_vq *vq)
{
	return vq->mem;
}

uint32_t vqcore_vq_max_iov(const struct vqcore_vq *vq)
{
	const struct vqcore_mem *m = vq->mem;
	uint32_t adjacent = 0;

	/* slots are sorted by address and never overlap */
	for (unsigned i = 1; i < m->n; i++)
		adjacent += m->slot[i - 1].last + 1 == m->slot[i].gpa;
	return (uint32_t)vq->num * (1 + adjacent);
}

/* ---- helpers for formats ---- */

int vq_indirect_open(struct vqcore_vq *vq, uint64_t addr, uint32_t len,
		     const void **table)
{
	uint32_t n = len / 16;

	if (unlikely(len == 0 || (len & 15)))
		return vq_break(vq, -VQCORE_E_INDIRECT_LEN,
				"indirect table at 0x%llx: length %u",
				(unsigned long long)addr, len);
	if (unlikely(n > vq->num))
		return vq_break(vq, -VQCORE_E_INDIRECT_LEN,
				"indirect table at 0x%llx: %u entries > size %u",
				(unsigned long long)addr, n, vq->num);
	/* host-contiguous tables are read in place, others entry by entry */
	*table = vq_mem_ptr(vq->mem, addr, len, &vq->mem_hint);
	return (int)n;
}

int vq_read_indirect(struct vqcore_vq *vq, const void *table_hva,
		     uint64_t table_gpa, uint32_t i, struct vring_desc_raw *out)
{
	struct vring_desc_raw raw;
	int r;

	/* In place only when the host address is 8-byte aligned (the guest
	 * chooses it); otherwise copy the entry out first. */
	if (table_hva && !((uintptr_t)table_hva & 7)) {
		vq_read_desc((const struct vring_desc_raw *)table_hva + i, out);
		return 0;
	}
	r = vq_mem_read(vq->mem, table_gpa + (uint64_t)i * 16, &raw, 16,
			&vq->mem_hint);
	if (r < 0)
		return r;
	vq_read_desc(&raw, out);
	return 0;
}
