/* SPDX-License-Identifier: MIT */
/*
 * Page pool: a buddy allocator whose metadata lives outside the arena, with
 * a Reported flag per free block (see include/vqcore/pagepool.h).
 *
 * Metadata: one struct pp_page per base page.  Only the first page of a
 * block (its "head") carries state: PG_FREE (in a free list), PG_ALLOC
 * (handed out), PG_ISOLATED (taken by the reporter), plus PG_REPORTED on
 * free heads.  The other pages of a block have flags 0, so a free() of an
 * address inside a block, or of a block twice, is refused.
 *
 * Free lists: doubly linked through the metadata by page index; each list
 * keeps unreported blocks before reported ones (unreported inserted at the
 * head, reported at the tail), so both allocation and isolation look at the
 * head only.
 *
 * One lock: an alloc or free touches at most max_order + 1 lists; splitting
 * the lock per order would make every merge and split take several locks
 * for no gain at this critical-section length (~50 ns).
 */
#include "abi_priv.h"
#include "glue/glue.h"
#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"

#define PP_NIL UINT32_MAX

enum {
	PG_FREE = 0x1,
	PG_REPORTED = 0x2,
	PG_ALLOC = 0x4,
	PG_ISOLATED = 0x8,
};

struct pp_page {
	uint32_t next;
	uint32_t prev;
	uint8_t order;
	uint8_t flags;
	uint16_t pad;
};

struct pp_area {
	uint32_t head;
	uint32_t tail;
	uint64_t nr_free;
	uint64_t nr_reported;
};

struct vqcore_pagepool {
	struct vq_lock lock;
	uint32_t nonempty; /* bit o set: area[o] has a free block */
	unsigned max_order;
	uint64_t base;
	uint64_t npages;
	struct pp_page *pg;
	uint64_t free_pages;
	uint64_t reported_pages;
	uint64_t isolated_pages;
	uint64_t allocated_pages;
	uint64_t activity; /* written under the lock, read lock-free */
	/* report hook */
	void (*hook)(void *arg);
	void *hook_arg;
	unsigned hook_order;
	bool hook_armed; /* one-shot: cleared when the hook is called */
	struct pp_area area[VQCORE_PAGEPOOL_MAX_ORDER + 1];
};

/* ---- list primitives (lock held) ---- */

static void pp_link_head(struct vqcore_pagepool *p, uint32_t i, unsigned o)
{
	struct pp_area *a = &p->area[o];

	p->pg[i].prev = PP_NIL;
	p->pg[i].next = a->head;
	if (a->head != PP_NIL)
		p->pg[a->head].prev = i;
	else
		a->tail = i;
	a->head = i;
}

static void pp_link_tail(struct vqcore_pagepool *p, uint32_t i, unsigned o)
{
	struct pp_area *a = &p->area[o];

	p->pg[i].next = PP_NIL;
	p->pg[i].prev = a->tail;
	if (a->tail != PP_NIL)
		p->pg[a->tail].next = i;
	else
		a->head = i;
	a->tail = i;
}

static void pp_unlink(struct vqcore_pagepool *p, uint32_t i, unsigned o)
{
	struct pp_area *a = &p->area[o];
	struct pp_page *pg = &p->pg[i];

	if (pg->prev != PP_NIL)
		p->pg[pg->prev].next = pg->next;
	else
		a->head = pg->next;
	if (pg->next != PP_NIL)
		p->pg[pg->next].prev = pg->prev;
	else
		a->tail = pg->prev;
	pg->next = pg->prev = PP_NIL;
}

/* Add free block @i of order @o: unreported at the head, reported at the
 * tail (keeps "unreported first" in every list). */
static void pp_add_free(struct vqcore_pagepool *p, uint32_t i, unsigned o,
			bool reported)
{
	struct pp_area *a = &p->area[o];

	p->pg[i].order = (uint8_t)o;
	p->pg[i].flags = PG_FREE | (reported ? PG_REPORTED : 0);
	if (reported) {
		pp_link_tail(p, i, o);
		a->nr_reported++;
		p->reported_pages += 1ull << o;
	} else {
		pp_link_head(p, i, o);
	}
	a->nr_free++;
	p->free_pages += 1ull << o;
	p->nonempty |= 1u << o;
}

static void pp_del_free(struct vqcore_pagepool *p, uint32_t i, unsigned o)
{
	struct pp_area *a = &p->area[o];

	pp_unlink(p, i, o);
	if (p->pg[i].flags & PG_REPORTED) {
		a->nr_reported--;
		p->reported_pages -= 1ull << o;
	}
	p->pg[i].flags = 0;
	a->nr_free--;
	p->free_pages -= 1ull << o;
	if (!a->nr_free)
		p->nonempty &= ~(1u << o);
}

static void pp_bump_activity(struct vqcore_pagepool *p)
{
	VQ_WRITE_ONCE(p->activity, p->activity + 1);
}

/*
 * Merge block @i of order @o with its free buddies (each merge clears
 * Reported), then insert the result.  Returns the final order.
 */
static unsigned pp_merge_insert(struct vqcore_pagepool *p, uint32_t i,
				unsigned o, bool reported)
{
	while (o < p->max_order) {
		uint64_t b = (uint64_t)i ^ (1ull << o);
		struct pp_page *bp;

		if (b + (1ull << o) > p->npages)
			break;
		bp = &p->pg[b];
		if (!(bp->flags & PG_FREE) || bp->order != o)
			break;
		pp_del_free(p, (uint32_t)b, o);
		if (b < i)
			i = (uint32_t)b;
		o++;
		reported = false;
	}
	pp_add_free(p, i, o, reported);
	return o;
}

/* ---- public calls ---- */

int vqcore_pagepool_new(uint64_t base, uint64_t size,
			const struct vqcore_pagepool_opts *opts,
			struct vqcore_pagepool **out)
{
	unsigned max_order = VQCORE_PAGEPOOL_DEFAULT_ORDER;
	struct vqcore_pagepool *p;
	uint64_t npages, end, i;

	if (!out)
		return -VQ_EINVAL;
	*out = NULL;
	if (opts) {
		struct vqcore_pagepool_opts o;
		int err = vq_struct_in(&o, sizeof(o), opts);

		if (err)
			return err;
		if (o.max_order)
			max_order = o.max_order;
	}
	if (max_order > VQCORE_PAGEPOOL_MAX_ORDER)
		return -VQ_EINVAL;
	if (base & (VQCORE_PAGEPOOL_PAGE - 1))
		return -VQ_EINVAL;
	npages = size >> VQCORE_PAGEPOOL_PAGE_SHIFT;
	if (!npages || npages >= PP_NIL)
		return -VQ_EINVAL;
	if (vq_add_overflow(base, npages << VQCORE_PAGEPOOL_PAGE_SHIFT, &end))
		return -VQ_EINVAL;

	p = vq_zalloc_aligned(sizeof(*p));
	if (!p)
		return -VQ_ENOMEM;
	p->pg = vq_calloc(npages, sizeof(*p->pg));
	if (!p->pg) {
		vq_free(p);
		return -VQ_ENOMEM;
	}
	vq_lock_init(&p->lock);
	p->base = base;
	p->npages = npages;
	p->max_order = max_order;
	for (unsigned o = 0; o <= VQCORE_PAGEPOOL_MAX_ORDER; o++)
		p->area[o].head = p->area[o].tail = PP_NIL;

	/* Carve into maximal naturally aligned blocks, in address order. */
	for (i = 0; i < npages;) {
		unsigned o = max_order;

		while (o && ((i & ((1ull << o) - 1)) || i + (1ull << o) > npages))
			o--;
		p->pg[i].order = (uint8_t)o;
		p->pg[i].flags = PG_FREE;
		pp_link_tail(p, (uint32_t)i, o);
		p->area[o].nr_free++;
		p->free_pages += 1ull << o;
		p->nonempty |= 1u << o;
		i += 1ull << o;
	}
	*out = p;
	return 0;
}

void vqcore_pagepool_destroy(struct vqcore_pagepool *p)
{
	if (!p)
		return;
	vq_free(p->pg);
	vq_free(p);
}

int vqcore_pagepool_alloc(struct vqcore_pagepool *p, unsigned order,
			  uint64_t *addr)
{
	uint32_t mask, i;
	unsigned o;

	if (order > p->max_order || !addr)
		return -VQ_EINVAL;
	vq_lock(&p->lock);
	mask = p->nonempty & ~((1u << order) - 1);
	if (!mask) {
		vq_unlock(&p->lock);
		return -VQ_ENOMEM;
	}
	o = (unsigned)__builtin_ctz(mask);
	i = p->area[o].head;
	pp_del_free(p, i, o);
	/* Split: the upper halves go back unreported (split clears). */
	while (o > order) {
		o--;
		pp_add_free(p, i + (1u << o), o, false);
	}
	p->pg[i].order = (uint8_t)order;
	p->pg[i].flags = PG_ALLOC;
	p->allocated_pages += 1ull << order;
	pp_bump_activity(p);
	vq_unlock(&p->lock);
	*addr = p->base + ((uint64_t)i << VQCORE_PAGEPOOL_PAGE_SHIFT);
	return 0;
}

int vqcore_pagepool_free(struct vqcore_pagepool *p, uint64_t addr,
			 unsigned order)
{
	uint64_t off, i;
	unsigned o;

	if (addr < p->base || order > p->max_order)
		return -VQ_EINVAL;
	off = addr - p->base;
	if (off & (VQCORE_PAGEPOOL_PAGE - 1))
		return -VQ_EINVAL;
	i = off >> VQCORE_PAGEPOOL_PAGE_SHIFT;
	if (i >= p->npages || (i & ((1ull << order) - 1)))
		return -VQ_EINVAL;

	vq_lock(&p->lock);
	if (p->pg[i].flags != PG_ALLOC || p->pg[i].order != order) {
		vq_unlock(&p->lock);
		return -VQ_EINVAL;
	}
	p->pg[i].flags = 0;
	p->allocated_pages -= 1ull << order;
	o = pp_merge_insert(p, (uint32_t)i, order, false);
	pp_bump_activity(p);
	/* Under the lock, as Linux calls page_reporting_notify_free() under
	 * the zone lock, so removing the hook needs no extra sync.  One-shot:
	 * once it has requested a pass, later frees skip the call until the
	 * reporter re-arms it at the start of that pass. */
	if (p->hook_armed && o >= p->hook_order) {
		p->hook_armed = false;
		p->hook(p->hook_arg);
	}
	vq_unlock(&p->lock);
	return 0;
}

int vqcore_pagepool_get_stats(struct vqcore_pagepool *p,
			      struct vqcore_pagepool_stats *st)
{
	struct vqcore_pagepool_stats s;
	int err = vq_struct_out_check(st, sizeof(s));

	if (err || !p)
		return err ? err : -VQ_EINVAL;
	vq_memset(&s, 0, sizeof(s));
	vq_lock(&p->lock);
	for (unsigned o = 0; o <= p->max_order; o++) {
		s.nr_free[o] = p->area[o].nr_free;
		s.nr_reported[o] = p->area[o].nr_reported;
	}
	s.free_bytes = p->free_pages << VQCORE_PAGEPOOL_PAGE_SHIFT;
	s.reported_bytes = p->reported_pages << VQCORE_PAGEPOOL_PAGE_SHIFT;
	s.isolated_bytes = p->isolated_pages << VQCORE_PAGEPOOL_PAGE_SHIFT;
	s.allocated_bytes = p->allocated_pages << VQCORE_PAGEPOOL_PAGE_SHIFT;
	s.activity = p->activity;
	s.max_order = p->max_order;
	vq_unlock(&p->lock);
	return vq_struct_out(st, &s, sizeof(s));
}

uint64_t vqcore_pagepool_activity(struct vqcore_pagepool *p)
{
	return VQ_READ_ONCE(p->activity);
}

/* ---- report source ops ---- */

static unsigned pp_isolate(void *src, unsigned order,
			   struct vqcore_report_sg *sg, unsigned max)
{
	struct vqcore_pagepool *p = src;
	unsigned n = 0;

	if (order > p->max_order)
		return 0;
	vq_lock(&p->lock);
	while (n < max) {
		uint32_t i = p->area[order].head;

		if (i == PP_NIL || (p->pg[i].flags & PG_REPORTED))
			break;
		pp_del_free(p, i, order);
		p->pg[i].flags = PG_ISOLATED;
		p->pg[i].order = (uint8_t)order;
		p->isolated_pages += 1ull << order;
		sg[n].addr = p->base + ((uint64_t)i << VQCORE_PAGEPOOL_PAGE_SHIFT);
		sg[n].len = (uint64_t)VQCORE_PAGEPOOL_PAGE << order;
		n++;
	}
	vq_unlock(&p->lock);
	return n;
}

static void pp_putback(void *src, const struct vqcore_report_sg *sg,
		       unsigned n, bool reported)
{
	struct vqcore_pagepool *p = src;

	vq_lock(&p->lock);
	for (unsigned k = 0; k < n; k++) {
		uint64_t off = sg[k].addr - p->base;
		uint64_t i = off >> VQCORE_PAGEPOOL_PAGE_SHIFT;
		uint64_t pages = sg[k].len >> VQCORE_PAGEPOOL_PAGE_SHIFT;
		unsigned o;

		if (sg[k].addr < p->base || i >= p->npages || !pages ||
		    (pages & (pages - 1))) {
			vq_err("pagepool: putback of a block it never isolated");
			continue;
		}
		o = (unsigned)__builtin_ctzll(pages);
		if (p->pg[i].flags != PG_ISOLATED || p->pg[i].order != o) {
			vq_err("pagepool: putback of a block it never isolated");
			continue;
		}
		p->pg[i].flags = 0;
		p->isolated_pages -= pages;
		/* Merging clears Reported; no request on putback (no hook). */
		pp_merge_insert(p, (uint32_t)i, o, reported);
	}
	vq_unlock(&p->lock);
}

static uint64_t pp_nr_free(void *src, unsigned order)
{
	struct vqcore_pagepool *p = src;
	uint64_t n;

	if (order > p->max_order)
		return 0;
	vq_lock(&p->lock);
	n = p->area[order].nr_free;
	vq_unlock(&p->lock);
	return n;
}

static uint64_t pp_nr_unreported(void *src, unsigned order)
{
	struct vqcore_pagepool *p = src;
	uint64_t n;

	if (order > p->max_order)
		return 0;
	vq_lock(&p->lock);
	n = p->area[order].nr_free - p->area[order].nr_reported;
	vq_unlock(&p->lock);
	return n;
}

static uint64_t pp_activity(void *src)
{
	return vqcore_pagepool_activity(src);
}

static void pp_set_hook(void *src, unsigned order, void (*hook)(void *),
			void *arg)
{
	struct vqcore_pagepool *p = src;

	vq_lock(&p->lock);
	p->hook = hook;
	p->hook_arg = arg;
	p->hook_order = order;
	p->hook_armed = hook != NULL;
	vq_unlock(&p->lock); /* frees call the hook under the lock: done */
}

static void pp_arm_hook(void *src)
{
	struct vqcore_pagepool *p = src;

	vq_lock(&p->lock);
	p->hook_armed = p->hook != NULL;
	vq_unlock(&p->lock);
}

static const struct vqcore_report_source_ops pp_source_ops = {
	.isolate = pp_isolate,
	.putback = pp_putback,
	.nr_free = pp_nr_free,
	.nr_unreported = pp_nr_unreported,
	.activity = pp_activity,
	.set_hook = pp_set_hook,
	.arm_hook = pp_arm_hook,
};

void vqcore_pagepool_report_source(struct vqcore_pagepool *p,
				   struct vqcore_report_source *src)
{
	src->ops = &pp_source_ops;
	src->src = p;
	src->max_order = p->max_order;
}
