/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue core: private state shared by lib/vq.c, lib/drvq.c and the
 * format plug-ins in formats/.
 *
 * The core owns everything format independent: the descriptor cache, the
 * in-flight table, translation of descriptors to iovecs, validation of
 * buffer totals, ring-pointer caching against the memory generation, and
 * the public API.  A format fills one const struct vq_format_ops and is
 * called once per batch (fetch, put_used), never once per descriptor.
 */
#ifndef VQCORE_VQ_PRIV_H
#define VQCORE_VQ_PRIV_H

#include "glue/glue.h"
#include "mem_priv.h"
#include "vqcore/drvq.h"
#include "vqcore/vq.h"

/* Ring descriptor flags shared by both formats (virtio 1.x 2.7.5/2.8). */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

/* A descriptor as it sits in guest memory (both formats are 16 bytes). */
struct vring_desc_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags_or_id; /* split: flags; packed: id */
	uint16_t next_or_flags; /* split: next; packed: flags */
};

/* vring_need_event(): has new_idx passed event_idx since old_idx? */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx,
				    uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* One cached buffer: its descriptors sit in desc_cache[first..first+count). */
struct vq_cached_buf {
	uint16_t pos;    /* ring position it was fetched at (format defined) */
	uint16_t next;   /* ring position just after it */
	uint16_t id;
	uint16_t ndesc;  /* ring slots */
	uint16_t first;  /* desc_cap <= 32768 + 4096 fits */
	uint16_t count;
	uint32_t resub;  /* fetched out of ring order (vqcore_vq_get_buf_at) */
};

/* vhost_buf.reserved: the buffer's ring position and the one after it. */
static inline uint16_t vq_buf_pos(const struct vhost_buf *b)
{
	return (uint16_t)b->reserved;
}

static inline uint16_t vq_buf_next(const struct vhost_buf *b)
{
	return (uint16_t)(b->reserved >> 16);
}

/* in-flight states, one byte per buffer id; a buffer is in flight from the
 * moment it is cached.  RESUB marks one fetched out of ring order.  WLOG
 * marks one handed out while a dirty log was set: vq->wlog[id] holds what
 * it lets the device write.  Every hand-out stores the whole byte, so the
 * mark never outlives the hand-out it was made for. */
enum { VQ_ID_FREE = 0, VQ_ID_CACHED = 1, VQ_ID_OUT = 2, VQ_ID_RESUB = 4,
       VQ_ID_WLOG = 8 };

/*
 * The guest ranges a buffer handed out while logging lets the device
 * write (its writable descriptors), logged when it is returned.  Up to
 * VQ_WLOG_RANGES ranges, inclusive byte bounds; a further descriptor joins
 * the range it adds the fewest pages to (a covering hull: over-logging is
 * harmless, a missed page is not).
 */
#define VQ_WLOG_RANGES 3
struct vq_wlog {
	uint64_t first[VQ_WLOG_RANGES];
	uint64_t last[VQ_WLOG_RANGES];
	uint32_t n;
};

struct vq_area {
	uint64_t gpa;
	uint64_t size;
	uint64_t serial; /* region serial when translated */
	void *hva;
};

/*
 * Each format keeps its own state, private to formats/<name>/, in an area
 * of the queue struct: the device side's in vqcore_vq.fmt (with the hot
 * state, so it stays in the same lines), the driver side's in
 * vqcore_drvq.fmt.  A format reaches it through a static inline accessor
 * (vq_fmt_dev(), vq_fmt_drv()) and checks that its struct fits with
 * VQ_FMT_DEV_FITS() / VQ_FMT_DRV_FITS().  Both areas start zeroed; what a
 * format allocates for itself it frees in its own ops (drv_free).
 */
#define VQ_FMT_ALIGN 8
#define VQ_FMT_DEV_MAX 32
#define VQ_FMT_DRV_MAX 64
#define VQ_FMT_DEV_FITS(type) \
	_Static_assert(sizeof(type) <= VQ_FMT_DEV_MAX && _Alignof(type) <= VQ_FMT_ALIGN, \
		       #type " fits vqcore_vq.fmt")
#define VQ_FMT_DRV_FITS(type) \
	_Static_assert(sizeof(type) <= VQ_FMT_DRV_MAX && _Alignof(type) <= VQ_FMT_ALIGN, \
		       #type " fits vqcore_drvq.fmt")

struct vq_format_ops;
struct vq_inflight_ops;
struct vq_lean;

/*
 * A frontend that must see every fetch and return of a queue (vhost-user
 * inflight recording) sets vq->hooks: the public fetch, return and unget
 * calls then go to it, whoever calls them, and the hook does the work
 * with vq->hooks cleared for the inner call.  NULL costs one predictable
 * branch per call.
 */
struct vq_hooks {
	int (*get_bufs)(struct vqcore_vq *vq, struct vhost_buf *bufs,
			unsigned max_bufs, struct iovec *iov, unsigned max_iov);
	int (*get_bufs_desc)(struct vqcore_vq *vq, struct vhost_buf *bufs,
			     unsigned max_bufs, struct vhost_desc *desc,
			     unsigned max_desc);
	int (*put_used)(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			const uint32_t *lens, unsigned n);
	int (*unget)(struct vqcore_vq *vq, const struct vhost_buf *bufs,
		     unsigned n);
};

/*
 * The caller's arrays of the get_bufs call in progress.  A format may hand
 * a one-descriptor buffer straight out (vq_one_put()) while it fetches,
 * as long as nothing has been cached yet in this fetch (order).
 */
struct vq_out {
	struct vhost_buf *bufs;
	struct iovec *iov;
	unsigned n, max_bufs;
	unsigned k, max_iov;
	bool more;  /* get_direct stopped short of an empty ring (see there) */
	bool miss;  /* ... at a range outside the region it started from */
	uint32_t miss_len;
	uint64_t miss_addr;
};

struct vqcore_vq {
	/* ---- hot state ---- */
	const struct vq_format_ops *ops;
	struct vqcore_mem *mem;
	uint64_t mem_gen;
	unsigned mem_hint;
	int error;                 /* 0, or the error that broke the queue */
	const struct vq_hooks *hooks; /* see struct vq_hooks; usually NULL */
	uint16_t num;
	bool event_idx;
	bool indirect;
	bool in_order;
	unsigned batch;

	/* the empty-ring check (vq_poll_empty()) */
	const uint16_t *poll_p;
	uint16_t poll_mask, poll_val;

	uint32_t avail_pos;        /* next position handed to the device */
	uint32_t fetch_pos;        /* next ring position the format reads */
	uint32_t inorder_pos;      /* oldest in-flight position (in-order) */

	/* descriptor cache */
	struct vhost_desc *desc_cache;
	uint32_t desc_cap;
	uint32_t desc_used;        /* filled entries */
	struct vq_cached_buf *buf_cache;
	uint32_t buf_cap;
	uint32_t buf_head;         /* next to hand out */
	uint32_t buf_count;        /* filled entries */

	uint8_t *id_state;         /* per id: VQ_ID_* */
	unsigned nout;             /* handed-out buffers */
	struct vq_out *out;        /* set during a get_bufs fetch, else NULL */

	/* the format's device state (VQ_FMT_DEV_MAX) */
	_Alignas(VQ_FMT_ALIGN) unsigned char fmt[VQ_FMT_DEV_MAX];

	/* ---- cold state ---- */
	struct vq_wlog *wlog;      /* per id, valid while id_state has WLOG */

	/* read by the queue's thread in vqcore_vq_signal(), swapped by
	 * vqcore_vq_set_call_fd() from another one (atomics, see there) */
	int call_fd;
	unsigned call_seq;         /* odd while a signal may use a loaded call_fd */
	unsigned index;
	unsigned format;
	uint64_t features;
	struct vq_area area[3];    /* desc, driver, device */
	void *hooks_opaque;        /* the hooks' owner */
};

/* Mark the queue broken with @err, log one line, return @err. */
VQ_HIDDEN int vq_break(struct vqcore_vq *vq, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Re-translate ring areas if the memory generation moved.  0 or error. */
VQ_HIDDEN int vq_revalidate_rings(struct vqcore_vq *vq);

static inline int vq_check_rings(struct vqcore_vq *vq)
{
	if (likely(__atomic_load_n(&vq->mem->gen, __ATOMIC_ACQUIRE) == vq->mem_gen))
		return 0;
	return vq_revalidate_rings(vq);
}

/* ---- driver side ---- */

struct vq_drv_state {
	void *token;     /* NULL = free */
	uint32_t in_len; /* writable bytes (in-order skipped entries report it) */
	uint16_t ndesc;  /* descriptors the buffer took (table slots) */
	uint16_t last;   /* the format's (split: last descriptor of the chain) */
};

/*
 * Where an entry is two 8-byte words (8-byte pointers, little-endian), the
 * driver add loops store it as such: the token, then in_len | ndesc << 32 |
 * last << 48.  Elsewhere (i686, s390x) they assign the struct.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && __SIZEOF_POINTER__ == 8
#define VQ_DRV_STATE_WORDS 1
_Static_assert(sizeof(struct vq_drv_state) == 16 &&
	       offsetof(struct vq_drv_state, in_len) == 8 &&
	       offsetof(struct vq_drv_state, ndesc) == 12 &&
	       offsetof(struct vq_drv_state, last) == 14,
	       "vq_drv_state is two words: token; in_len, ndesc, last");
#else
#define VQ_DRV_STATE_WORDS 0
#endif

struct vqcore_drvq {
	const struct vq_format_ops *ops;
	struct vqcore_mem *mem;
	uint16_t num;
	bool event_idx;
	bool in_order;
	bool broken;
	int kick_fd;
	unsigned format;
	uint64_t features;
	uint16_t num_free;
	struct vq_drv_state *state; /* per id */
	/* in-order: ids in the order they were added */
	uint16_t *order;
	uint16_t order_head, order_tail;

	void *area_hva[3];               /* desc, driver, device areas */
	uint64_t indirect_gpa;
	uint16_t max_indirect;
	struct vring_desc_raw *itable;   /* host view of the indirect area, or NULL */

	/* in-order: the used entry being consumed (it names a run's last id) */
	bool io_pending;
	uint16_t io_id;
	uint32_t io_len;

	/* the format's driver state (VQ_FMT_DRV_MAX) */
	_Alignas(VQ_FMT_ALIGN) unsigned char fmt[VQ_FMT_DRV_MAX];
};

/* The format's state areas (see VQ_FMT_ALIGN). */
static inline __attribute__((always_inline)) void *
vq_fmt_dev(const struct vqcore_vq *vq)
{
	return (void *)(uintptr_t)vq->fmt;
}

static inline __attribute__((always_inline)) void *
vq_fmt_drv(const struct vqcore_drvq *dq)
{
	return (void *)(uintptr_t)dq->fmt;
}

/*
 * The format ops table.  Every entry is called at most once per batch or
 * control operation.  A third format fills its own table in formats/<name>/
 * and adds it to formats/registry.c; the core does not change.
 */
struct vq_format_ops {
	const char *name;
	/* ring geometry */
	int (*check_num)(uint16_t num);
	int (*layout)(uint16_t num, uint64_t gpa, struct vqcore_ring_layout *out);
	void (*area_sizes)(uint16_t num, uint64_t sizes[3]);
	unsigned area_align[3];  /* required alignment of each area (spec) */

	/* device side */
	void (*attach)(struct vqcore_vq *vq);   /* area[].hva are valid */
	void (*reset)(struct vqcore_vq *vq);    /* positions to the start */
	/* Append up to vq->batch buffers to the cache; returns count or error.
	 * While vq->out is set, one-descriptor buffers at the start of the
	 * batch go straight into it (get_direct); they count too. */
	int (*fetch)(struct vqcore_vq *vq);
	/*
	 * The whole of a get_bufs call in the usual case, called with the
	 * cache empty and the ring areas checked: hand the one-descriptor
	 * buffers at fetch_pos straight into @o (at most vq->batch, and what
	 * @o has room for), moving fetch_pos, avail_pos, nout and mem_hint.
	 * Stops without consuming it at the first buffer the general path
	 * must see (a chain, an indirect table, a bad id or range).  Sets
	 * o->more unless it stopped at an empty slot; when set and @o is not
	 * full, the general path (fetch) goes on from fetch_pos.
	 */
	void (*get_direct)(struct vqcore_vq *vq, struct vq_out *o);
	/* Cache the one buffer whose chain starts at @head (resubmission);
	 * committed with vq_cache_commit(..., resub = true). */
	int (*fetch_at)(struct vqcore_vq *vq, uint16_t head);
	/* Write used entries for validated bufs; publish. */
	void (*put_used)(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			 const uint32_t *lens, unsigned n, bool in_order_run);
	bool (*avail_pending)(struct vqcore_vq *vq);
	void (*set_notify)(struct vqcore_vq *vq, bool enable);
	/* Whether the driver wants an interrupt now.  The caller has made
	 * the used stores visible first (vq_mb()): the format only reads
	 * the driver's suppression state. */
	bool (*should_signal)(struct vqcore_vq *vq);
	int (*set_base)(struct vqcore_vq *vq, uint32_t base);
	int (*set_used_base)(struct vqcore_vq *vq, uint32_t pos);
	uint32_t (*get_used_base)(const struct vqcore_vq *vq);
	/*
	 * The lean fetch and return (lib/vq_lean.h), optional.  lean_get:
	 * called with the cache empty, the ring areas checked and no dirty
	 * log; hand the buffers of one descriptor whose write flag is @write
	 * at fetch_pos into @e (at most @max), checking them as get_direct
	 * does; move fetch_pos, avail_pos, nout, mem_hint and the empty-ring
	 * check; set *@general when it stopped at a buffer (not at an empty
	 * ring nor at @max).  lean_put: write the used entries of e[0..@k)
	 * (@k > 0; @run: an in-order run, one entry for it), clearing each
	 * id's state to VQ_ID_FREE, publish them, mark the dirty log if set;
	 * return the ring position @k buffers after @pos.
	 */
	unsigned (*lean_get)(struct vqcore_vq *vq, struct vq_lean *e, unsigned max,
			     bool write, bool *general);
	uint32_t (*lean_put)(struct vqcore_vq *vq, const struct vq_lean *e,
			     const uint32_t *lens, unsigned k, bool run, uint32_t pos);

	/* driver side */
	int (*drv_init)(struct vqcore_drvq *dq);
	int (*drv_add)(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
		       unsigned out_num, unsigned in_num, void *token,
		       unsigned flags);
	/* optional: a faster loop than drv_add per request; the core has
	 * checked every request is well formed, and says whether all are
	 * one-element buffers without an indirect table (@simple) */
	int (*drv_add_batch)(struct vqcore_drvq *dq,
			     const struct vqcore_drvq_req *reqs, unsigned n,
			     bool simple);
	/* @n one-element buffers, all fitting, tokens checked by the core */
	void (*drv_add_sg)(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
			   void *const *tokens, unsigned n, bool writable);
	bool (*drv_kick_prepare)(struct vqcore_drvq *dq);
	void (*drv_publish)(struct vqcore_drvq *dq);
	int (*drv_get_used)(struct vqcore_drvq *dq, void **tokens,
			    uint32_t *lens, unsigned max);
	bool (*drv_enable_cb)(struct vqcore_drvq *dq);
	void (*drv_disable_cb)(struct vqcore_drvq *dq);
	/* optional: free what drv_init allocated (called once, also when
	 * drv_init failed or never ran: what it did not allocate is NULL) */
	void (*drv_free)(struct vqcore_drvq *dq);
	/*
	 * Optional: the device's used position as the ring shows it to the
	 * driver (split: the used index), in *@pos; 0.  NULL where the ring
	 * does not keep it (packed: the device overwrites the slots that
	 * would tell).  A vhost-user front-end sends it as the base of a
	 * restarted backend, as QEMU does.
	 */
	int (*drv_ring_used)(const struct vqcore_drvq *dq, uint32_t *pos);

	/* ---- what the vhost-user code asks (control path) ---- */
	const char *area_name[3]; /* the three areas, for messages */
	uint32_t start_pos;       /* avail position of a fresh ring */
	/*
	 * SET_VRING_BASE's value @wire to an avail position in *@pos: 0, or
	 * -VQ_EINVAL for a value the format never sends.  The position may
	 * still be out of range for the queue (vqcore_vq_set_base() says).
	 */
	int (*base_decode)(uint32_t wire, uint32_t *pos);
	/* GET_VRING_BASE's value for avail position @pos with nothing in
	 * flight; any 32-bit @pos (also a value SET_VRING_BASE stored). */
	uint32_t (*base_encode)(uint32_t pos);
	/* vhost-user inflight tracking; NULL: the format has none */
	const struct vq_inflight_ops *inflight;
};

/*
 * vhost-user inflight tracking (the spec's "Inflight I/O tracking"): one
 * region per queue, in an area the front-end keeps across back-end
 * restarts.  Every region starts with this header; the rest is the
 * format's (the spec's QueueRegionSplit and QueueRegionPacked).
 */
struct vq_inflight_hdr {
	uint64_t features;  /* acked when a queue last started over it; 0: fresh */
	uint16_t version;   /* 1 */
	uint16_t desc_num;  /* entries the region has room for */
};

/*
 * The format's part of a region.  The region is shared and untrusted: an
 * op reads any value there and still stays inside the region and the
 * ring.  Ids passed in are below the queue size @num and the region has
 * room for @num entries (the caller checks both).  "Used position" is
 * what vqcore_vq_get_used_base() gives.  The caller orders nothing: each
 * op has the barriers its record needs.
 */
struct vq_inflight_ops {
	/* bytes of a region with @qsize entries, header included */
	uint64_t (*bytes)(uint16_t qsize);
	/*
	 * Optional: queue @vq of @num slots (attached to its ring) starts
	 * over @reg at used position @used.  @recorded: @reg holds a previous
	 * run's record under the features now acked (else it was just
	 * zeroed).  Repairs what a crash left half written (a batch the ring
	 * shows returned that the record still has in flight) and brings the
	 * record to @used where the format keeps it in step with the ring.
	 */
	void (*start)(const struct vqcore_vq *vq, void *reg, uint16_t num,
		      uint32_t used, bool recorded);
	/* Is buffer @id in flight in @reg?  Its counter in *@counter. */
	bool (*pending)(const void *reg, uint16_t id, uint64_t *counter);
	/*
	 * Where a queue of @num resumes over a recorded region with the @np
	 * buffers @ids in flight (oldest first; none: @np 0), @used being its
	 * used position now: the avail position in *@avail, just past them,
	 * and the used position in *@used_out.  -VQ_EINVAL when the record
	 * does not fit the ring (the front-end's base stands).
	 */
	int (*resume)(const void *reg, uint16_t num, uint32_t used,
		      const uint16_t *ids, unsigned np, uint32_t *avail,
		      uint32_t *used_out);
	/* The ring slot where in-flight buffer @id's chain starts, in
	 * *@head; -VQ_EINVAL when the record names none of a ring of @num. */
	int (*head)(const void *reg, uint16_t num, uint16_t id, uint16_t *head);
	/* Record @b (b->id below the queue size) fetched with @counter; it
	 * is marked in flight last. */
	void (*fetched)(void *reg, const struct vhost_buf *b, uint64_t counter);
	/* Buffer @id is not in flight any more. */
	void (*clear)(void *reg, uint16_t id);
	/* Optional: before the used entries of @bufs are written (the ids
	 * at or above @num are skipped). */
	void (*used_begin)(void *reg, uint16_t num, const struct vhost_buf *bufs,
			   unsigned n);
	/* After @n buffers were used and cleared; the used position is now
	 * @used. */
	void (*used_end)(void *reg, unsigned n, uint32_t used);
	/* Optional: the queue runs from used position @used with nothing in
	 * flight; the record follows it from here. */
	void (*follow)(void *reg, uint32_t used);
	/*
	 * Optional: queue @vq's ring shows no trace of a device: as a driver
	 * leaves it when it has just set the ring up, or reset it without
	 * telling the backend (DPDK's virtio-user resets its packed rings
	 * when a backend reconnects).  A record of a position elsewhere in
	 * such a ring is stale.
	 */
	bool (*ring_fresh)(const struct vqcore_vq *vq);
};

/* formats/registry.c */
VQ_HIDDEN const struct vq_format_ops *vq_format_get(unsigned format);
/* The format the acked @features select (VIRTIO_F_RING_PACKED). */
VQ_HIDDEN unsigned vq_format_of_features(uint64_t features);

/* Shared helpers for formats */
static inline uint64_t vq_read_u64(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

/* Read a 16-byte ring descriptor exactly once (two 8-byte loads). */
static inline void vq_read_desc(const struct vring_desc_raw *src,
				struct vring_desc_raw *dst)
{
	uint64_t a = __atomic_load_n(&src->addr, __ATOMIC_RELAXED);
	/* len, id/flags and flags/next as one little-endian word */
	uint64_t b = vq_le64(__atomic_load_n((const vq_u64a *)(const void *)&src->len,
					     __ATOMIC_RELAXED));

	dst->addr = vq_le64(a);
	dst->len = (uint32_t)b;
	dst->flags_or_id = (uint16_t)(b >> 32);
	dst->next_or_flags = (uint16_t)(b >> 48);
}

/*
 * Check an indirect table's length (a non-zero multiple of 16, at most the
 * queue size in entries) and find it in memory: *@table is its host address
 * when it is contiguous there, else NULL.  Returns the number of entries,
 * or the error that broke the queue.
 */
VQ_HIDDEN int vq_indirect_open(struct vqcore_vq *vq, uint64_t addr,
			       uint32_t len, const void **table);

/* Read an indirect table entry that may not be host-contiguous. */
VQ_HIDDEN int vq_read_indirect(struct vqcore_vq *vq, const void *table_hva,
			       uint64_t table_gpa, uint32_t i,
			       struct vring_desc_raw *out);

/*
 * Core helpers used by formats while fetching.  A format pushes the
 * descriptors of one buffer with vq_cache_push(), then vq_cache_commit()
 * validates the buffer as a whole (format independent rules) and records it.
 * A buffer is started only when vq_cache_room() says a whole chain fits.
 */
static inline bool vq_cache_room(const struct vqcore_vq *vq)
{
	return vq->buf_count < vq->buf_cap &&
	       vq->desc_cap - vq->desc_used >= vq->num;
}

static inline void vq_cache_push(struct vqcore_vq *vq, uint64_t addr,
				 uint32_t len, uint16_t flags)
{
	struct vhost_desc d = { .addr = addr, .len = len,
				.flags = (uint16_t)(flags & VHOST_DESC_F_WRITE) };

	vq->desc_cache[vq->desc_used++] = d;
}

/*
 * Translation in the direct loops: the region last hit, as three values a
 * loop keeps in registers; the table and the hint are read only on a miss,
 * out of line.
 */
struct vq_rgn {
	uint64_t gpa, span;  /* [gpa, gpa + span] */
	uintptr_t bias;      /* host address minus guest address */
};

/*
 * [@addr, @addr + @len) inside @r: two compares on the offsets of its
 * first and last byte.  The last comes before the first when @len is zero
 * or the range wraps (also when @addr is below the region and the range
 * reaches into it); a span is below 2^64 - 1, so a zero @len at the
 * region's start is refused too.
 */
static inline __attribute__((always_inline)) bool
vq_rgn_in(const struct vq_rgn *r, uint64_t addr, uint32_t len)
{
	uint64_t off = addr - r->gpa, last = off + ((uint64_t)len - 1);

	return last >= off && last <= r->span;
}

/*
 * Start @r at region *@hint of @m; a stale hint (a region was removed
 * since) becomes slot 0.  False when the table has no region: nothing can
 * be translated then, and the general path reports every buffer.
 */
static inline bool vq_rgn_start(struct vq_rgn *r, const struct vqcore_mem *m,
				unsigned *hint)
{
	unsigned h = *hint;

	if (unlikely(!m->n))
		return false;
	if (h >= m->n)
		*hint = h = 0;
	r->gpa = m->slot[h].gpa;
	r->span = m->slot[h].last - r->gpa;
	r->bias = m->slot[h].hva - (uintptr_t)r->gpa;
	return true;
}

/* The region holding @addr (slot < 0: none), off the hot paths. */
struct vq_rgn_found {
	struct vq_rgn r;
	int slot;
};

static VQ_COLD struct vq_rgn_found vq_rgn_find(const struct vqcore_mem *m,
					       uint64_t addr, unsigned hint)
{
	struct vq_rgn_found f = { { 0, 0, 0 }, vq_mem_lookup(m, addr, &hint) };

	if (f.slot >= 0) {
		f.r.gpa = m->slot[f.slot].gpa;
		f.r.span = m->slot[f.slot].last - f.r.gpa;
		f.r.bias = m->slot[f.slot].hva - (uintptr_t)f.r.gpa;
	}
	return f;
}

/*
 * [@addr, @addr + @len) inside @r, or inside another region, which @r and
 * vq->mem_hint then move to (the table is read only then, out of line).
 * False, with @r unchanged, for a zero length or a range not inside one
 * region.  @r never has its address taken beyond this inline function, so
 * a loop keeps it in registers.
 */
static inline __attribute__((always_inline)) bool
vq_rgn_fit(struct vq_rgn *r, struct vqcore_vq *vq, uint64_t addr, uint32_t len)
{
	struct vq_rgn_found f;

	if (likely(vq_rgn_in(r, addr, len)))
		return true;
	f = vq_rgn_find(vq->mem, addr, vq->mem_hint);
	if (f.slot < 0 || !vq_rgn_in(&f.r, addr, len))
		return false;
	vq->mem_hint = (unsigned)f.slot;
	*r = f.r;
	return true;
}

/*
 * Handing out a buffer of one descriptor straight into the caller's
 * arrays.  Every loop that does it (the formats' get_direct, the hand-out
 * from the cache) keeps a struct vq_one in locals and calls vq_one_put()
 * per buffer; on false it stops there, without consuming the buffer, and
 * the general path takes over (and reports what is wrong, if anything).
 * The caller checks the id's state and accounts nout, the positions and
 * the hint (vq_one_end()).
 */
struct vq_one {
	struct vq_rgn r;          /* the region last hit */
	uint8_t *ids;             /* vq->id_state */
	struct vhost_buf *b;      /* the caller's next free entries */
	struct iovec *iov;
	/* the last 8 bytes of the next vhost_buf: first (the iov index) in
	 * the low half, reserved (position, next position) in the high */
	uint64_t tail;
};

/* vhost_buf.reserved of a buffer at @pos followed by @next */
#define VQ_ONE_POS(pos, next) \
	((uint64_t)((uint32_t)(uint16_t)(pos) | (uint32_t)(uint16_t)(next) << 16) << 32)
/* the tail step of a buffer of one slot: first, position and next + 1 */
#define VQ_ONE_STEP (1ull | 1ull << 32 | 1ull << 48)

/*
 * Start @t on the caller's arrays @o from region vq->mem_hint, with
 * first = o->k.  False when the table has no region (vq_rgn_start()).
 */
static inline bool vq_one_start(struct vq_one *t, struct vqcore_vq *vq,
				const struct vq_out *o)
{
	t->ids = vq->id_state;
	t->b = o->bufs + o->n;
	t->iov = o->iov + o->k;
	t->tail = o->k;
	t->r = (struct vq_rgn){ 0, 0, 0 };
	return vq_rgn_start(&t->r, vq->mem, &vq->mem_hint);
}

/* The number of buffers @t handed out since it started on @o; @o moves past them. */
static inline unsigned vq_one_end(const struct vq_one *t, struct vq_out *o)
{
	unsigned n = (uint32_t)t->tail - o->k;  /* one iov each */

	o->n += n;
	o->k = (uint32_t)t->tail;
	return n;
}

/*
 * Hand out one descriptor of @len bytes at @addr, inside t->r (the caller
 * checked with vq_rgn_in()), as buffer @id of @ndesc ring slots, at the
 * position in t->tail; then add @step to t->tail.  Only stores: a loop
 * around it has no call, so its values stay in registers.
 */
static inline __attribute__((always_inline)) void
vq_one_put(struct vq_one *t, uint64_t addr, uint32_t len, uint16_t flags,
	   uint16_t id, uint16_t ndesc, uint64_t step)
{
	struct vhost_buf *b = t->b;
	bool write = flags & VHOST_DESC_F_WRITE;

	t->ids[id] = VQ_ID_OUT;
	t->iov->iov_base = (void *)(uintptr_t)(addr + t->r.bias);
	t->iov->iov_len = len;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	{
		/* three 8-byte stores (vhost_buf is 4-byte aligned: unaligned
		 * 8-byte stores are fine on the little-endian machines this
		 * path is built for) */
		vq_u64a *w = (vq_u64a *)(void *)b;

		_Static_assert(sizeof(struct vhost_buf) == 24, "vhost_buf layout");
		_Static_assert(offsetof(struct vhost_buf, first) == 16, "vhost_buf layout");
		__builtin_memcpy(&w[0], &(uint64_t){ write ? (uint64_t)len << 32 : len }, 8);
		__builtin_memcpy(&w[1], &(uint64_t){ id | (uint64_t)ndesc << 16 |
						      (write ? 1ull << 48 : 1ull << 32) }, 8);
		__builtin_memcpy(&w[2], &t->tail, 8);
	}
#else
	b->out_len = write ? 0 : len;
	b->in_len = write ? len : 0;
	b->out_num = !write;
	b->in_num = write;
	b->id = id;
	b->ndesc = ndesc;
	b->first = (uint32_t)t->tail;
	b->reserved = (uint32_t)(t->tail >> 32);
#endif
	t->b = b + 1;
	t->iov++;
	t->tail += step;
}

/*
 * A get_direct loop stops, without consuming it, at a buffer whose range
 * is outside the region it started from: it records the range in @o
 * (o->miss), and the core moves vq->mem_hint to the range's region and
 * calls get_direct again.  So the loop makes no call, and its values
 * stay in registers.
 */
static inline void vq_one_miss(struct vq_out *o, uint64_t addr, uint32_t len)
{
	o->miss = true;
	o->miss_addr = addr;
	o->miss_len = len;
}

/*
 * The cheap empty-ring check of a polling device: the format arms it
 * (vq_poll_arm()) where its fetch stopped at an empty ring position: the
 * ring is empty while the 16 bits at poll_p, masked with poll_mask, equal
 * poll_val (raw ring values: the format converts).  Anything else moving
 * the fetch position disarms it (vq_poll_disarm()); a disarmed check never
 * says empty.  It is a filter: "not empty" sends the call on to the
 * format, which decides.
 */
static inline void vq_poll_arm(struct vqcore_vq *vq, const uint16_t *p,
			       uint16_t mask, uint16_t val)
{
	vq->poll_p = p;
	vq->poll_mask = mask;
	vq->poll_val = val;
}

static inline void vq_poll_disarm(struct vqcore_vq *vq)
{
	vq_poll_arm(vq, &vq->poll_mask, 0, 1);
}

/* Valid only while the ring areas are (vq_check_rings()). */
static inline bool vq_poll_empty(const struct vqcore_vq *vq)
{
	return (VQ_READ_ONCE(*vq->poll_p) & vq->poll_mask) == vq->poll_val;
}

/*
 * vqcore_vq_signal() for two queues (either may be NULL) with one fence:
 * a device that returned buffers on both in one step publishes both used
 * indexes before it reads either driver's suppression state, so the two
 * waits for the other core overlap.  Returns as vqcore_vq_signal(): the
 * number of queues signalled, or the first error.  Each queue's thread
 * rule applies.
 */
VQ_HIDDEN int vq_signal_pair(struct vqcore_vq *a, struct vqcore_vq *b);

VQ_HIDDEN int vq_cache_commit_slow(struct vqcore_vq *vq, uint32_t first,
				   uint16_t id, uint16_t ndesc, uint16_t pos,
				   uint16_t next, bool resub);

static inline void vq_cache_record(struct vqcore_vq *vq, uint32_t first,
				   uint16_t id, uint16_t ndesc, uint16_t pos,
				   uint16_t next, bool resub)
{
	struct vq_cached_buf cb = { .pos = pos, .next = next, .id = id,
				    .ndesc = ndesc, .first = (uint16_t)first,
				    .count = (uint16_t)(vq->desc_used - first),
				    .resub = resub };

	vq->id_state[id] = VQ_ID_CACHED | (resub ? VQ_ID_RESUB : 0);
	vq->buf_cache[vq->buf_count++] = cb;
}

/*
 * Record the buffer whose descriptors were pushed since @first: id range,
 * not already in flight, readable-before-writable, total length in 32 bits.
 * The one-descriptor case is checked inline.  Errors break the queue
 * (except an in-flight id on resubmission, the caller's mistake).
 */
static inline int vq_cache_commit(struct vqcore_vq *vq, uint32_t first,
				  uint16_t id, uint16_t ndesc, uint16_t pos,
				  uint16_t next, bool resub)
{
	if (unlikely(id >= vq->num || vq->id_state[id] != VQ_ID_FREE ||
		     vq->desc_used - first != 1 || resub))
		return vq_cache_commit_slow(vq, first, id, ndesc, pos, next, resub);
	vq_cache_record(vq, first, id, ndesc, pos, next, false);
	return 0;
}
#endif /* VQCORE_VQ_PRIV_H */
