/* SPDX-License-Identifier: MIT */
/*
 * vhost-user inflight I/O tracking (GET/SET_INFLIGHT_FD).
 *
 * The back-end keeps a record of the buffers it fetched and has not yet
 * used in a shared area the front-end holds for it, so that a restarted
 * back-end knows which requests to redo.  A front-end that keeps no area
 * (QEMU's vhost-user-net) can be served from a file of the backend's own
 * instead (vqcore_vu_set_inflight_file(); see "the backend's own file"
 * below): the same regions, plus a key naming the ring each was written
 * for.  Layout: one region per queue of
 * vu_inflight_queue_bytes(queue_size), each starting with the common
 * header (struct vq_inflight_hdr); the rest, and how it is kept, is the
 * ring format's (struct vq_inflight_ops, e.g. the spec's QueueRegionSplit
 * in formats/split/).  This file holds what is format independent: the
 * area, the header, the order of the calls, and re-submission.
 *
 * Resume position: a queue's first start over a region records the acked
 * features in it; from then on the region, not the front-end, says where
 * the queue is.  A restarted backend resumes every queue there (the
 * format's resume op), whatever base the front-end sent: QEMU cannot read
 * some rings' position after a backend crash and sends a stale base
 * (0x80008000 for a packed ring).  A fresh region (features 0) or one
 * written under other features holds nothing, and the front-end's base
 * stands (the start, or a migration target).
 *
 * Re-submission: when a queue starts over a region with buffers in flight,
 * the avail position is set just past them, every one of them is fetched
 * again by its chain start (vqcore_vq_get_buf_at(), before anything is
 * returned, because a format may write used entries over ring slots), and
 * vqcore_vu_get_bufs() hands them out, oldest first, before new buffers.
 * A buffer whose chain start no longer holds it (its slot was overwritten
 * by a later buffer's used entry) is dropped with a warning.
 *
 * The area and everything in it are untrusted: sizes are checked against
 * the file, entries against the queue size, and list walks are bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/vu_priv.h"
#include "vq_priv.h"

/* Bytes of one queue's region: room for every format's record (the
 * format may be negotiated after GET_INFLIGHT_FD). */
static uint64_t vu_inflight_queue_bytes(uint16_t qsize)
{
	uint64_t n = sizeof(struct vq_inflight_hdr);

	for (unsigned f = 0; f < VQCORE_FORMAT_COUNT; f++) {
		const struct vq_format_ops *ops = vq_format_get(f);

		if (ops && ops->inflight && ops->inflight->bytes(qsize) > n)
			n = ops->inflight->bytes(qsize);
	}
	return VQ_ALIGN_UP(n, (uint64_t)64);
}

static void region_init(void *p, uint16_t qsize)
{
	struct vq_inflight_hdr *r = p;

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
	/* the regions hold 64-bit fields (our GET_INFLIGHT_FD says 0) */
	if (in->mmap_offset % 8)
		return -EINVAL;
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

/* ---- the backend's own file (vqcore_vu_set_inflight_file()) ----
 *
 * Layout: a header, one key per queue, then one region per queue of
 * vu_inflight_queue_bytes(qsize), as in a front-end's area.  The key says
 * which ring the queue's region was written for: the front-end's ring
 * addresses (its own virtual addresses, the same as long as the same
 * front-end process keeps the same ring) and the queue size.  The file is
 * the backend's, but it is still read as untrusted: every offset comes
 * from the header this code checked, and the regions are read by the same
 * bounded ops as a front-end's area.
 */
#define LOCAL_MAGIC "vqcore-inflight"

struct local_hdr {
	char magic[16];
	uint32_t version;   /* 1 */
	uint16_t nq;
	uint16_t qsize;
	uint64_t regions;   /* offset of queue 0's region */
	uint8_t padding[32];
};

struct local_key {
	uint64_t desc, avail, used;
	uint64_t mem_dev, mem_ino;  /* the file of the region holding the rings */
	uint16_t num;
	uint16_t padding[3];
	uint64_t reserved[2];
};

_Static_assert(sizeof(struct local_hdr) == 64 && sizeof(struct local_key) == 64,
	       "inflight file layout");

static uint64_t local_regions_offset(unsigned nq)
{
	return VQ_ALIGN_UP(sizeof(struct local_hdr) +
			   (uint64_t)nq * sizeof(struct local_key), (uint64_t)4096);
}

static struct local_key *local_key(const struct vqcore_vu_dev *d, unsigned qi)
{
	return (struct local_key *)(void *)(d->local_map + sizeof(struct local_hdr) +
					     (uint64_t)qi * sizeof(struct local_key));
}

/* Is queue @qi's region in the backend's own file (not a front-end's area)? */
static bool region_local(const struct vqcore_vu_dev *d)
{
	return !d->inflight_map && d->local_map;
}

/*
 * Queue @qi's ring as the key names it: the front-end's ring addresses
 * (its own virtual addresses), the queue size, and the inode of the
 * memory file that holds the descriptor ring.  A front-end that comes
 * back after the backend died brings the same memory file (QEMU's
 * memfd); a new front-end process creates a new one, even where its
 * addresses repeat.
 */
static struct local_key queue_key(const struct vqcore_vu_dev *d, unsigned qi)
{
	const struct vu_queue *q = &d->q[qi];
	struct local_key k;

	memset(&k, 0, sizeof(k));
	k.desc = q->desc_uva;
	k.avail = q->avail_uva;
	k.used = q->used_uva;
	k.num = q->num;
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vu_region *r = &d->regions[i];

		if (q->desc_uva >= r->uva && q->desc_uva - r->uva < r->size) {
			k.mem_dev = (uint64_t)r->st_dev;
			k.mem_ino = (uint64_t)r->st_ino;
			break;
		}
	}
	return k;
}

static bool local_key_match(const struct vqcore_vu_dev *d, unsigned qi)
{
	struct local_key k = queue_key(d, qi);

	return !memcmp(local_key(d, qi), &k, sizeof(k));
}

static void local_key_write(const struct vqcore_vu_dev *d, unsigned qi)
{
	*local_key(d, qi) = queue_key(d, qi);
}

void vu_inflight_local_close(struct vqcore_vu_dev *d)
{
	if (d->local_map)
		munmap(d->local_map, d->local_map_size);
	d->local_map = NULL;
	d->local_map_size = 0;
	d->local_qsize = 0;
	d->local_regions = 0;
	if (d->local_fd >= 0)
		close(d->local_fd); /* drops the lock */
	d->local_fd = -1;
}

int vqcore_vu_set_inflight_file(struct vqcore_vu_dev *d, const char *path,
				unsigned max_queue_size)
{
	uint64_t regions = local_regions_offset(d->nq), size;
	struct local_hdr want, *h;
	struct stat st;
	void *p;
	int fd, r;

	for (unsigned i = 0; i < d->nq; i++)
		if (d->q[i].vq)
			return -EBUSY; /* a running queue may be recording */
	if (!path) {
		vu_inflight_local_close(d);
		return 0;
	}
	if (!max_queue_size || max_queue_size > 32768)
		return -EINVAL;
	size = regions + (uint64_t)d->nq * vu_inflight_queue_bytes((uint16_t)max_queue_size);
	if (size > SIZE_MAX || size > (uint64_t)INT64_MAX)
		return -ENOMEM;
	memset(&want, 0, sizeof(want));
	memcpy(want.magic, LOCAL_MAGIC, sizeof(LOCAL_MAGIC));
	want.version = 1;
	want.nq = (uint16_t)d->nq;
	want.qsize = (uint16_t)max_queue_size;
	want.regions = regions;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size != size) {
		/* another shape (or new): start over from zeros */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
			r = -errno;
			goto fail;
		}
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	h = p;
	if (memcmp(h, &want, sizeof(want))) {
		/* not this device's shape: no record in it is ours */
		memset(p, 0, (size_t)size);
		*h = want;
	}
	vu_inflight_local_close(d);
	d->local_map = p;
	d->local_map_size = (size_t)size;
	d->local_qsize = (uint16_t)max_queue_size;
	d->local_regions = regions;
	d->local_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

static void *queue_region(const struct vqcore_vu_dev *d, unsigned qi)
{
	if (d->inflight_map)
		return qi < d->inflight_nq ?
		       (uint8_t *)d->inflight_map + d->inflight_offset +
		       (uint64_t)qi * vu_inflight_queue_bytes(d->inflight_qsize) : NULL;
	if (d->local_map && qi < d->nq)
		return d->local_map + d->local_regions +
		       (uint64_t)qi * vu_inflight_queue_bytes(d->local_qsize);
	return NULL;
}

/* Entries each region of the area in use has room for. */
static uint16_t area_qsize(const struct vqcore_vu_dev *d)
{
	return d->inflight_map ? d->inflight_qsize : d->local_qsize;
}

/*
 * The front-end stopped queue @qi (GET_VRING_BASE) or reset the device:
 * it holds the position now.  A record in the backend's own file is
 * dropped, so that the next start takes the front-end's base.  (A
 * front-end's area is the front-end's to reset.)
 */
void vu_inflight_queue_drop(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vq_inflight_hdr *r = queue_region(d, qi);

	if (r && region_local(d))
		r->features = 0;
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

/* The inflight ops of queue @q's format, or NULL (not running, none). */
static const struct vq_inflight_ops *queue_ops(const struct vu_queue *q)
{
	return q->vq ? q->vq->ops->inflight : NULL;
}

/* Fetch pending buffer @id again; 0 or a negative error. */
static int resub_fetch(struct vqcore_vu_dev *d, unsigned qi, uint16_t id,
		       struct vu_resub *rs)
{
	struct vu_queue *q = &d->q[qi];
	uint16_t head;
	int r = queue_ops(q)->head(q->inflight, q->num, id, &head);

	if (r)
		return r;
	r = -VQCORE_E_IOV_FULL;
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
		/* the slot holds something else now (overwritten, out of order) */
		return -VQCORE_E_BAD_ID;
	}
	rs->niov = rs->buf.out_num + rs->buf.in_num;
	return 0;
}

/*
 * Resume queue @qi where its recorded region says, with the @np pending
 * buffers in @pl (oldest first; none: @np 0) just before the avail
 * position.  On a region that does not match the ring, the front-end's
 * base stands and nothing is re-submitted.  0, or -1 when it did not
 * resume.
 */
static int resume_recorded(struct vqcore_vu_dev *d, unsigned qi,
			   const struct pend *pl, unsigned np)
{
	struct vu_queue *q = &d->q[qi];
	uint16_t *ids = np ? vq_calloc(np, sizeof(*ids)) : NULL;
	uint32_t avail, used;
	int r;

	if (np && !ids)
		return -1;
	for (unsigned i = 0; i < np; i++)
		ids[i] = pl[i].id;
	r = queue_ops(q)->resume(q->inflight, q->num, vqcore_vq_get_used_base(q->vq),
				 ids, np, &avail, &used);
	vq_free(ids);
	if (r) {
		if (np)
			vq_warn("vhost-user: queue %u: inflight region does not match "
				"the ring; %u buffers not re-submitted", qi, np);
		else
			vq_warn("vhost-user: queue %u: inflight region holds a bad used "
				"position; the front-end's base is used", qi);
		return -1;
	}
	r = vqcore_vq_set_base(q->vq, avail);
	if (!r)
		r = vqcore_vq_set_used_base(q->vq, used);
	if (r) {
		vq_warn("vhost-user: queue %u: cannot resume at the recorded position: %s",
			qi, vqcore_strerror(r));
		return -1;
	}
	return 0;
}

/*
 * Fetch the @np pending buffers in @pl again (their iovecs are kept until
 * vqcore_vu_get_bufs() hands them out; the library calls the kick
 * callback right after the queue starts, before any other message can
 * change the memory table).
 */
static void resubmit_pending(struct vqcore_vu_dev *d, unsigned qi,
			     const struct pend *pl, unsigned np)
{
	struct vu_queue *q = &d->q[qi];
	int r;

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
static bool region_recorded(const struct vqcore_vu_dev *d, unsigned qi,
			    const void *reg)
{
	const struct vq_inflight_hdr *r = reg;

	if (region_local(d) && !local_key_match(d, qi))
		return false; /* another ring, or another front-end's */
	return r->version == 1 && r->desc_num == area_qsize(d) && d->features &&
	       rd_counter(&r->features) == d->features;
}

void vu_inflight_queue_start(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];
	uint8_t *reg = queue_region(d, qi);
	const struct vq_inflight_ops *f = queue_ops(q);
	uint16_t num = q->num;
	struct pend *pl;
	unsigned np = 0;
	uint64_t maxc = 0;
	bool recorded;

	q->inflight = NULL;
	vu_inflight_resub_free(q);
	if (!reg || !f)
		return;
	if (num > area_qsize(d)) {
		vq_warn("vhost-user: queue %u: size %u exceeds the inflight "
			"area (%u); not tracked", qi, num, area_qsize(d));
		return;
	}
	pl = vq_calloc(num, sizeof(*pl));
	if (!pl)
		return;
	/* a region written under other features (or never) holds nothing */
	recorded = region_recorded(d, qi, reg);
	if (recorded && region_local(d) && f->ring_fresh && f->ring_fresh(q->vq)) {
		/* the driver set the ring up afresh behind the backend's back
		 * (DPDK's virtio-user resets a packed ring on reconnect); a
		 * front-end's own area is reset by the front-end itself */
		vq_warn("vhost-user: queue %u: the ring was reset since the inflight "
			"file recorded it: starting from the front-end's base", qi);
		recorded = false;
	}
	if (!recorded)
		region_init(reg, area_qsize(d));
	if (f->start)
		f->start(q->vq, reg, num, vqcore_vq_get_used_base(q->vq), recorded);
	for (unsigned i = 0; recorded && i < num; i++) {
		uint64_t c;

		if (!f->pending(reg, (uint16_t)i, &c))
			continue;
		pl[np].counter = c;
		pl[np++].id = (uint16_t)i;
		maxc = c > maxc ? c : maxc;
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
	if (recorded && !resume_recorded(d, qi, pl, np) && np)
		resubmit_pending(d, qi, pl, np);
	vq_free(pl);
	/* every fetch and return on the queue is recorded now, whichever
	 * call the device makes */
	q->vq->hooks = &vu_hooks;
	q->vq->hooks_opaque = d;
	if (!np) {
		/* record the position this region now follows */
		if (f->follow)
			f->follow(reg, vqcore_vq_get_used_base(q->vq));
		if (region_local(d))
			local_key_write(d, qi);
		vq_wmb();
		((struct vq_inflight_hdr *)(void *)reg)->features = d->features;
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
	const struct vq_inflight_ops *f = queue_ops(q);

	if (!q->inflight || !f)
		return;
	for (unsigned i = 0; i < n; i++)
		if (bufs[i].id < q->num)
			f->fetched(q->inflight, &bufs[i], q->inflight_counter++);
}

void vu_inflight_unget(struct vqcore_vu_dev *d, unsigned qi,
		       const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];
	const struct vq_inflight_ops *f = queue_ops(q);

	if (!q->inflight || !f)
		return;
	/* back in the ring: not in flight any more */
	for (unsigned i = 0; i < n; i++)
		if (bufs[i].id < q->num)
			f->clear(q->inflight, bufs[i].id);
}

void vu_inflight_used_begin(struct vqcore_vu_dev *d, unsigned qi,
			    const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];
	const struct vq_inflight_ops *f = queue_ops(q);

	if (q->inflight && f && f->used_begin)
		f->used_begin(q->inflight, q->num, bufs, n);
}

void vu_inflight_used_end(struct vqcore_vu_dev *d, unsigned qi,
			  const struct vhost_buf *bufs, unsigned n)
{
	struct vu_queue *q = &d->q[qi];
	const struct vq_inflight_ops *f = queue_ops(q);

	if (!q->inflight || !f)
		return;
	vq_wmb();
	for (unsigned i = 0; i < n; i++)
		if (bufs[i].id < q->num)
			f->clear(q->inflight, bufs[i].id);
	f->used_end(q->inflight, n, vqcore_vq_get_used_base(q->vq));
}
