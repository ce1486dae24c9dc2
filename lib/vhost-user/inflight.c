/* SPDX-License-Identifier: MIT */
/*
 * vhost-user inflight I/O tracking (GET/SET_INFLIGHT_FD).
 *
 * The back-end keeps a record of the buffers it fetched and has not yet
 * used in a shared area the front-end holds for it, so that a restarted
 * back-end knows which requests to redo.  Layout: one region per queue of
 * vu_inflight_queue_bytes(queue_size), each starting with the spec's
 * QueueRegionSplit or QueueRegionPacked header.
 *
 * Split queues follow the spec exactly: a head is marked (counter,
 * inflight=1) when fetched; on used, the batch is chained through
 * last_batch_head before the used index moves, then unmarked and used_idx
 * updated, so a crash between the two is repaired on restart by comparing
 * used_idx with the ring.  Packed queues use the packed header and one
 * DescStatePacked entry per buffer id (inflight, counter, id, num, and in
 * addr the ring position of the buffer's first descriptor): the
 * device-side core hands out buffers by id, not raw descriptors.  The
 * header's used_idx/used_wrap_counter follow the device's used position,
 * and features records the features the region was written under.
 *
 * Resume position: a queue's first start over a region records the acked
 * features in it; from then on the region, not the front-end, says where
 * the queue is.  A restarted backend resumes every queue there (split: the
 * used index after the last-batch repair; packed: used_idx and
 * used_wrap_counter, with the avail position equal to it when nothing is
 * in flight), whatever base the front-end sent: QEMU cannot read a packed
 * ring's position after a backend crash and sends 0x80008000.  A fresh
 * region (features 0) or one written under other features holds nothing,
 * and the front-end's base stands (the start, or a migration target).
 *
 * Re-submission: when a queue starts over a region with buffers in flight,
 * the avail position is set just past them (split: used index + count, as
 * libvhost-user does; packed: used position + their descriptor slots),
 * every one of them is fetched again by its chain start
 * (vqcore_vq_get_buf_at(), before anything is returned, because packed
 * used entries overwrite ring slots), and vqcore_vu_get_bufs() hands them
 * out, oldest first, before new buffers.  Packed limit: a buffer whose
 * ring slot was already overwritten by a used entry of a later buffer
 * (out-of-order completion) cannot be read again; it is dropped with a
 * warning.  Devices that complete in order never hit that.
 *
 * The area and everything in it are untrusted: sizes are checked against
 * the file, entries against the queue size, and list walks are bounded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/vu_priv.h"
#include "vq_priv.h"

static void region_init(void *p, uint16_t qsize)
{
	struct vu_inflight_packed *r = p;

	/* both headers start with features, version, desc_num */
	memset(p, 0, vu_inflight_queue_bytes(qsize));
	r->version = 1;
	r->desc_num = qsize;
}

int vu_inflight_get(struct vqcore_vu_dev *d, struct vu_msg *m, int *reply_fd)
{
	struct vu_inflight *in = &m->p.inflight;
	struct vqcore_memfd mf;
	uint64_t qbytes, size;
	int r;

	/* CVE-2021-3839: the queue count must be checked, not trusted */
	if (!in->num_queues || in->num_queues > d->nq || !in->queue_size ||
	    in->queue_size > 32768)
		return -ERANGE;
	qbytes = vu_inflight_queue_bytes(in->queue_size);
	size = qbytes * in->num_queues;
	r = vqcore_memfd_map("vqcore-inflight", size, 0, &mf);
	if (r)
		return r;
	for (unsigned i = 0; i < in->num_queues; i++)
		region_init((uint8_t *)mf.hva + i * qbytes, in->queue_size);
	munmap(mf.hva, mf.size);
	*reply_fd = mf.fd; /* sent with the reply, then closed */
	in->mmap_size = size;
	in->mmap_offset = 0;
	m->hdr.size = sizeof(*in);
	return VU_REPLY;
}

void vu_inflight_unmap(struct vqcore_vu_dev *d)
{
	for (unsigned i = 0; i < d->nq; i++) {
		d->q[i].inflight = NULL;
		vq_free(d->q[i].pending);
		d->q[i].pending = NULL;
		d->q[i].npending = 0;
		vu_inflight_resub_free(&d->q[i]);
	}
	if (d->inflight_map)
		munmap(d->inflight_map, d->inflight_map_size);
	d->inflight_map = NULL;
	d->inflight_map_size = 0;
	d->inflight_nq = 0;
	d->inflight_qsize = 0;
}

int vu_inflight_set(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_inflight *in = &m->p.inflight;
	uint64_t need, end, map_size;
	struct stat st;
	void *p;

	if (!in->num_queues || in->num_queues > d->nq || !in->queue_size ||
	    in->queue_size > 32768)
		return -ERANGE;
	need = vu_inflight_queue_bytes(in->queue_size) * in->num_queues;
	if (in->mmap_size < need)
		return -EINVAL;
	if (vq_add_overflow(in->mmap_offset, in->mmap_size, &end))
		return -VQCORE_E_OFFSET_OVERFLOW;
	if (fstat(m->fds[0], &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < end)
		return -EINVAL;
	for (unsigned i = 0; i < d->nq; i++)
		if (d->q[i].vq)
			return -EBUSY;
	map_size = VQ_ALIGN_UP(end, (uint64_t)4096);
	if (map_size > SIZE_MAX)
		return -ENOMEM;
	p = mmap(NULL, (size_t)map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 m->fds[0], 0);
	if (p == MAP_FAILED)
		return -errno;
	vu_inflight_unmap(d);
	d->inflight_map = p;
	d->inflight_map_size = (size_t)map_size;
	d->inflight_nq = in->num_queues;
	d->inflight_qsize = in->queue_size;
	/* the fd itself is not kept: the mapping holds the memory */
	d->inflight_offset = in->mmap_offset;
	return 0;
}

static void *queue_region(const struct vqcore_vu_dev *d, unsigned qi)
{
	if (!d->inflight_map || qi >= d->inflight_nq)
		return NULL;
	return (uint8_t *)d->inflight_map + d->inflight_offset +
	       (uint64_t)qi * vu_inflight_queue_bytes(d->inflight_qsize);
}

struct pend {
	uint64_t counter;
	uint16_t id;
};

static int pend_cmp(const void *a, const void *b)
{
	const struct pend *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

static uint64_t rd_counter(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void vu_inflight_resub_free(struct vu_queue *q)
{
	for (unsigned i = 0; i < q->nresub; i++)
		vq_free(q->resub[i].iov);
	vq_free(q->resub);
	q->resub = NULL;
	q->nresub = q->resub_next = 0;
}

/* packed position (slot | wrap << 15) advanced by @n slots */
static uint32_t packed_advance_pos(uint32_t pos, uint16_t num, uint32_t n)
{
	uint32_t idx = (pos & 0x7fff) + n;
	uint32_t wrap = (pos >> 15) & 1;

	while (idx >= num) {
		idx -= num;
		wrap ^= 1;
	}
	return idx | wrap << 15;
}

/* Fetch pending buffer @id again; 0 or a negative error. */
static int resub_fetch(struct vqcore_vu_dev *d, unsigned qi, uint16_t id,
		       struct vu_resub *rs)
{
	struct vu_queue *q = &d->q[qi];
	uint16_t head = id;
	int r = -VQCORE_E_IOV_FULL;

	if (vu_packed(d)) {
		struct vu_inflight_packed *rp = q->inflight;
		uint64_t pos = rp->desc[id].addr;

		if ((pos & 0x7fff) >= q->num)
			return -EINVAL;
		head = (uint16_t)(pos & 0x7fff);
	}
	for (unsigned max = 64; r == -VQCORE_E_IOV_FULL && max <= 4096; max *= 8) {
		vq_free(rs->iov);
		rs->iov = vq_calloc(max, sizeof(struct iovec));
		if (!rs->iov)
			return -ENOMEM;
		r = vqcore_vq_get_buf_at(q->vq, head, &rs->buf, rs->iov, max);
	}
	if (r < 0)
		return r;
	if (rs->buf.id != id) {
		/* the slot holds something else now (packed, out of order) */
		return -VQCORE_E_BAD_ID;
	}
	rs->niov = rs->buf.out_num + rs->buf.in_num;
	return 0;
}

/*
 * Set the ring positions just past the @np pending buffers in @pl and
 * fetch them all again (their iovecs are kept until vqcore_vu_get_bufs()
 * hands them out; the library calls the kick callback right after the
 * queue starts, before any other message can change the memory table).
 * On a region that does not match the ring, nothing is re-submitted.
 */
static void resubmit_pending(struct vqcore_vu_dev *d, unsigned qi,
			     const struct pend *pl, unsigned np, uint16_t ring_used)
{
	struct vu_queue *q = &d->q[qi];
	int r;

	if (!vu_packed(d)) {
		r = vqcore_vq_set_base(q->vq, (uint16_t)(ring_used + np));
	} else {
		struct vu_inflight_packed *rp = q->inflight;
		uint32_t used = rp->used_idx | (uint32_t)(rp->used_wrap_counter & 1) << 15;
		uint64_t slots = 0;

		for (unsigned i = 0; i < np; i++)
			slots += rp->desc[pl[i].id].num;
		if (rp->features != d->features || rp->used_idx >= q->num ||
		    !slots || slots > q->num) {
			vq_warn("vhost-user: queue %u: inflight region does not match "
				"the ring; %u buffers not re-submitted", qi, np);
			return;
		}
		r = vqcore_vq_set_base(q->vq, packed_advance_pos(used, q->num,
								  (uint32_t)slots));
		if (!r)
			r = vqcore_vq_set_used_base(q->vq, used);
	}
	if (r) {
		vq_warn("vhost-user: queue %u: cannot resume after in-flight buffers: %s",
			qi, vqcore_strerror(r));
		return;
	}
	q->resub = vq_calloc(np, sizeof(*q->resub));
	if (!q->resub)
		return;
	for (unsigned i = 0; i < np; i++) {
		struct vu_resub *rs = &q->resub[q->nresub];

		r = resub_fetch(d, qi, pl[i].id, rs);
		if (r) {
			vq_warn("vhost-user: queue %u: in-flight buffer %u cannot be "
				"re-submitted: %s", qi, pl[i].id, vqcore_strerror(r));
			vq_free(rs->iov);
			memset(rs, 0, sizeof(*rs));
			if (vqcore_vq_error(q->vq))
				return;
			continue;
		}
		q->nresub++;
	}
}

/*
 * Did a backend run this queue over region @reg, under the features now
 * acked?  A queue's first start records the features (a fresh region from
 * GET_INFLIGHT_FD has 0 there): from then on the region, not the
 * front-end, knows where the queue is.
 */
static bool region_recorded(const struct vqcore_vu_dev *d, const void *reg)
{
	const struct vu_inflight_packed *r = reg; /* same first fields as split */

	return r->version == 1 && r->desc_num == d->inflight_qsize && d->features &&
	       rd_counter(&r->features) == d->features;
}

/*
 * Nothing in flight on a queue whose region recorded its position: resume
 * there, not at the front-end's base.  QEMU cannot read a packed ring's
 * position after a backend crash and sends its stale start value
 * (0x80008000); for split it sends the used index it reads from the ring.
 */
static void resume_recorded(struct vqcore_vu_dev *d, unsigned qi, uint16_t ring_used)
{
	struct vu_queue *q = &d->q[qi];
	int r;

	if (!vu_packed(d)) {
		r = vqcore_vq_set_base(q->vq, ring_used);
	} else {
		struct vu_inflight_packed *rp = q->inflight;
		uint32_t pos = rp->used_idx | (uint32_t)(rp->used_wrap_counter & 1) << 15;

		if (rp->used_idx >= q->num || rp->used_wrap_counter > 1) {
			vq_warn("vhost-user: queue %u: inflight region holds a bad used "
				"position (%u, wrap %u); the front-end's base is used",
				qi, rp->used_idx, rp->used_wrap_counter);
			return;
		}
		r = vqcore_vq_set_base(q->vq, pos);
		if (!r)
			r = vqcore_vq_set_used_base(q->vq, pos);
	}
	if (r)
		vq_warn("vhost-user: queue %u: cannot resume at the recorded position: %s",
			qi, vqcore_strerror(r));
}

void vu_inflight_queue_start(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];
	uint8_t *reg = queue_region(d, qi);
	uint16_t num = q->num, ring_used = 0;
	struct pend *pl;
	unsigned np = 0;
	uint64_t maxc = 0;
	bool recorded;

	q->inflight = NULL;
	vu_inflight_resub_free(q);
	if (!reg)
		return;
	if (num > d->inflight_qsize) {
		vq_warn("vhost-user: queue %u: size %u exceeds the inflight "
			"area (%u); not tracked", qi, num, d->inflight_qsize);
		return;
	}
	pl = vq_calloc(num, sizeof(*pl));
	if (!pl)
		return;
	/* a region written under other features (or never) holds nothing */
	recorded = region_recorded(d, reg);
	if (!recorded)
		region_init(reg, d->inflight_qsize);
	if (!vu_packed(d)) {
		struct vu_inflight_split *r = (void *)reg;
		uint16_t *up = NULL;

		if (!vqcore_mem_translate(d->mem, q->device_gpa + 2, 2,
					  (void **)&up)) {
			ring_used = vq_le16(VQ_READ_ONCE(*up)); /* the ring is little-endian */
			if (recorded && ring_used != r->used_idx) {
				/* crashed between used ring and used_idx:
				 * the last batch was completed */
				uint16_t batch = (uint16_t)(ring_used - r->used_idx);
				uint16_t h = r->last_batch_head;

				for (unsigned k = 0; k < batch && k < num && h < num; k++) {
					r->desc[h].inflight = 0;
					h = r->desc[h].next;
				}
			}
			r->used_idx = ring_used;
		}
		for (unsigned i = 0; recorded && i < num; i++) {
			uint64_t c = rd_counter(&r->desc[i].counter);

			if (r->desc[i].inflight != 1)
				continue;
			pl[np].counter = c;
			pl[np++].id = (uint16_t)i;
			maxc = c > maxc ? c : maxc;
		}
	} else {
		struct vu_inflight_packed *r = (void *)reg;

		for (unsigned i = 0; recorded && i < num; i++) {
			uint64_t c = rd_counter(&r->desc[i].counter);

			if (r->desc[i].inflight != 1)
				continue;
			pl[np].counter = c;
			pl[np++].id = (uint16_t)i;
			maxc = c > maxc ? c : maxc;
		}
	}
	qsort(pl, np, sizeof(*pl), pend_cmp);
	vq_free(q->pending);
	q->pending = NULL;
	q->npending = 0;
	if (np) {
		q->pending = vq_calloc(np, sizeof(uint16_t));
		if (q->pending) {
			for (unsigned i = 0; i < np; i++)
				q->pending[i] = pl[i].id;
			q->npending = np;
		}
	}
	q->inflight_counter = maxc + 1;
	q->inflight = reg;
	if (np && q->vq)
		resubmit_pending(d, qi, pl, np, ring_used);
	else if (recorded && q->vq)
		resume_recorded(d, qi, ring_used);
	vq_free(pl);
	if (q->vq) {
		/* every fetch and return on the queue is recorded now,
		 * whichever call the device makes */
		q->vq->hooks = &vu_hooks;
		q->vq->hooks_opaque = d;
	}
	if (q->vq && !np) {
		/* record the position this region now follows */
		if (vu_packed(d)) {
			struct vu_inflight_packed *r = (void *)reg;
			uint32_t used = vqcore_vq_get_used_base(q->vq);

			r->used_idx = (uint16_t)(used & 0x7fff);
			r->used_wrap_counter = (uint8_t)(used >> 15 & 1);
		}
		vq_wmb();
		((struct vu_inflight_packed *)reg)->features = d->features;
	}
}

int vu_inflight_take_resub(struct vqcore_vu_dev *d, unsigned qi,
			   struct vhost_buf *bufs, unsigned max_bufs,
			   struct iovec *iov, unsigned max_iov)
{
	struct vu_queue *q = &d->q[qi];
	unsigned n = 0, used_iov = 0;

	while (n < max_bufs && q->resub_next < q->nresub) {
		struct vu_resub *rs = &q->resub[q->resub_next];

		if (rs->niov > max_iov - used_iov)
			break;
		bufs[n] = rs->buf;
		bufs[n].first = used_iov;
		memcpy(iov + used_iov, rs->iov, rs->niov * sizeof(*iov));
		used_iov += rs->niov;
		vq_free(rs->iov);
		rs->iov = NULL;
		q->resub_next++;
		n++;
	}
	if (q->resub_next == q->nresub)
		vu_inflight_resub_free(q);
	return n ? (int)n : -VQCORE_E_IOV_FULL;
}

void vu_inflight_fetched(struct vqcore_vu_dev *d, unsigned qi,
			 const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->inflight)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= q->num)
			continue;
		if (!vu_packed(d)) {
			struct vu_inflight_split *r = q->inflight;

			r->desc[id].counter = q->inflight_counter++;
			vq_wmb();
			r->desc[id].inflight = 1;
		} else {
			struct vu_inflight_packed *r = q->inflight;

			r->desc[id].counter = q->inflight_counter++;
			r->desc[id].id = id;
			r->desc[id].num = bufs[i].ndesc;
			r->desc[id].addr = bufs[i].reserved; /* ring position */
			vq_wmb();
			r->desc[id].inflight = 1;
		}
	}
}

void vu_inflight_unget(struct vqcore_vu_dev *d, unsigned qi,
		       const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->inflight)
		return;
	/* back in the ring: not in flight any more */
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= q->num)
			continue;
		if (!vu_packed(d))
			((struct vu_inflight_split *)q->inflight)->desc[id].inflight = 0;
		else
			((struct vu_inflight_packed *)q->inflight)->desc[id].inflight = 0;
	}
}

void vu_inflight_used_begin(struct vqcore_vu_dev *d, unsigned qi,
			    const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];
	struct vu_inflight_split *r = q->inflight;

	if (!r || vu_packed(d))
		return;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= q->num)
			continue;
		r->desc[id].next = r->last_batch_head;
		r->last_batch_head = id;
	}
	vq_wmb();
}

void vu_inflight_used_end(struct vqcore_vu_dev *d, unsigned qi,
			  const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->inflight)
		return;
	vq_wmb();
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = bufs[i].id;

		if (id >= q->num)
			continue;
		if (!vu_packed(d))
			((struct vu_inflight_split *)q->inflight)->desc[id].inflight = 0;
		else
			((struct vu_inflight_packed *)q->inflight)->desc[id].inflight = 0;
	}
	if (!vu_packed(d)) {
		struct vu_inflight_split *r = q->inflight;

		vq_wmb();
		r->used_idx = (uint16_t)(r->used_idx + n);
	} else if (q->vq) {
		struct vu_inflight_packed *r = q->inflight;
		uint32_t used = vqcore_vq_get_used_base(q->vq);

		r->used_idx = (uint16_t)(used & 0x7fff);
		r->used_wrap_counter = (uint8_t)(used >> 15 & 1);
	}
}
