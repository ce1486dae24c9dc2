/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: sockets, event loop, and the front-end's requests.
 *
 * Every message is untrusted.  vu_handle() checks the payload size and
 * the number of fds of each request against a table before any handler
 * runs; handlers then check every value (indexes as full 32/64-bit
 * numbers, counts against the payload and the maximum, every sum for
 * overflow, file sizes before mmap).  A handler returns 0 (done, no reply
 * body), VU_REPLY (its reply is in the message) or a negative error; the
 * reply logic below turns the error into an error reply when the request
 * has a reply or asked for one, and into a disconnect only when the stream
 * itself is bad.  Fds a handler does not take are closed after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "abi_priv.h"
#include "vhost-user/vu_priv.h"
#include "vq_priv.h"


/* Protocol features this backend implements. */
#define VU_PF_SUPPORTED                                                   \
	(VQCORE_BIT(VQCORE_VU_PF_MQ) | VQCORE_BIT(VQCORE_VU_PF_LOG_SHMFD) | \
	 VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK) | VQCORE_BIT(VQCORE_VU_PF_RARP) | \
	 VQCORE_BIT(VQCORE_VU_PF_CONFIG) |                                \
	 VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD) |                        \
	 VQCORE_BIT(VQCORE_VU_PF_RESET_DEVICE) |                          \
	 VQCORE_BIT(VQCORE_VU_PF_CONFIGURE_MEM_SLOTS))

static bool has_pf(const struct vqcore_vu_dev *d, unsigned bit)
{
	return (d->pfeatures & VQCORE_BIT(bit)) != 0;
}

static uint64_t offered_pfeatures(const struct vqcore_vu_dev *d)
{
	uint64_t pf = VU_PF_SUPPORTED & d->pf_mask;

	if (!d->ops.get_config)
		pf &= ~VQCORE_BIT(VQCORE_VU_PF_CONFIG);
	if (!d->ops.send_rarp)
		pf &= ~VQCORE_BIT(VQCORE_VU_PF_RARP);
	if (d->flags & VQCORE_VU_NO_INFLIGHT)
		pf &= ~VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD);
	return pf;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Drop the kick fd of @q.  The front-end keeps its own reference to the
 * eventfd, so closing ours does not take it out of a poll set: an epoll
 * registration lives as long as the file, and EPOLL_CTL_DEL needs an open
 * fd.  So the fd leaves vqcore_vu_run()'s epoll before it is closed; and
 * for a caller-run loop, a kick fd the last vqcore_vu_get_fds() listed
 * stays open ("parked") until the next vqcore_vu_get_fds() call, by which
 * time the caller has removed it from its own set.
 */
static void kick_fd_drop(struct vqcore_vu_dev *d, struct vu_queue *q)
{
	if (q->kick_fd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, q->kick_fd, NULL);
	if (!d->in_run && q->kick_fd == q->kick_listed) {
		close_fd(&q->kick_parked);
		q->kick_parked = q->kick_fd;
	} else {
		close(q->kick_fd);
	}
	q->kick_listed = -1;
	q->kick_fd = -1;
	d->fds_changed = true;
}

/* ------------------------------------------------------------------------
 * Memory regions
 * ------------------------------------------------------------------------ */

static void region_unmap(struct vu_region *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	r->map = NULL;
	close_fd(&r->fd);
}

/*
 * Check a region description and map it.  The file size is checked with
 * fstat before mmap, so a region larger than its file is refused here and
 * can never SIGBUS later.  Takes @fd on success only.
 */
static int region_map(const struct vu_region_desc *rd, int fd,
		      struct vu_region *out)
{
	struct stat st;
	uint64_t end, map_size, align;
	void *p;

	if (!rd->size)
		return -VQCORE_E_ZERO_LEN;
	if (vq_add_overflow(rd->gpa, rd->size - 1, &end) ||
	    vq_add_overflow(rd->uva, rd->size - 1, &end))
		return -VQCORE_E_WRAP;
	if (vq_add_overflow(rd->mmap_offset, rd->size, &end))
		return -VQCORE_E_OFFSET_OVERFLOW;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size < 0 || (uint64_t)st.st_size < end) {
		vq_warn("vhost-user: region %#llx+%#llx at offset %#llx is past "
			"the end of its file (%lld bytes)",
			(unsigned long long)rd->gpa, (unsigned long long)rd->size,
			(unsigned long long)rd->mmap_offset, (long long)st.st_size);
		return -EINVAL;
	}
	align = st.st_blksize > 4096 ? (uint64_t)st.st_blksize : 4096;
	if (align & (align - 1))
		align = 4096;
	if (vq_add_overflow(end, align - 1, &map_size))
		return -VQCORE_E_OFFSET_OVERFLOW;
	map_size &= ~(align - 1);
	if (map_size > (uint64_t)SIZE_MAX)
		return -ENOMEM;
	/* Map from offset 0: mmap_offset need not be page aligned. */
	p = mmap(NULL, (size_t)map_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	out->gpa = rd->gpa;
	out->size = rd->size;
	out->uva = rd->uva;
	out->mmap_offset = rd->mmap_offset;
	out->map = p;
	out->map_size = (size_t)map_size;
	out->fd = fd;
	out->st_dev = st.st_dev;
	out->st_ino = st.st_ino;
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* lengths > 0 and no wrap (checked by the callers) */
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

static int region_to_mem(struct vqcore_vu_dev *d, const struct vu_region *r)
{
	struct vqcore_mem_region mr = {
		.gpa = r->gpa,
		.size = r->size,
		.hva = (uint8_t *)r->map + r->mmap_offset,
		.fd = r->fd,
		.fd_offset = r->mmap_offset,
	};

	return vqcore_mem_add(d->mem, &mr);
}

static void mem_changed(struct vqcore_vu_dev *d, bool before)
{
	if (d->ops.mem_changed)
		d->ops.mem_changed(d, before);
}

static void regions_clear(struct vqcore_vu_dev *d)
{
	if (d->nregions)
		mem_changed(d, true);
	vqcore_mem_clear(d->mem);
	for (unsigned i = 0; i < d->nregions; i++)
		region_unmap(&d->regions[i]);
	if (d->nregions)
		mem_changed(d, false);
	d->nregions = 0;
}

/* uva range -> gpa, only when it lies inside one region. */
static int uva_to_gpa(const struct vqcore_vu_dev *d, uint64_t uva, uint64_t len,
		      uint64_t *gpa)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vu_region *r = &d->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size &&
		    len <= r->size - (uva - r->uva)) {
			*gpa = r->gpa + (uva - r->uva);
			return 0;
		}
	}
	return -VQCORE_E_RING_ADDR;
}

/* Does @rd overlap a region of the table (gpa or uva) other than @skip? */
static bool overlaps_table(const struct vqcore_vu_dev *d,
			   const struct vu_region_desc *rd, int skip)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vu_region *r = &d->regions[i];

		if ((int)i == skip)
			continue;
		if (ranges_overlap(rd->gpa, rd->size, r->gpa, r->size) ||
		    ranges_overlap(rd->uva, rd->size, r->uva, r->size))
			return true;
	}
	return false;
}

static uint64_t log_covers(const struct vqcore_vu_dev *d)
{
	/* bytes of guest address space the current dirty log covers */
	uint64_t bytes;

	if (!d->log_map)
		return UINT64_MAX;
	if (vq_mul_overflow(d->log_size, (uint64_t)8 * VQCORE_LOG_PAGE, &bytes))
		return UINT64_MAX;
	return bytes;
}

/* ------------------------------------------------------------------------
 * Queues
 * ------------------------------------------------------------------------ */

static bool queue_enabled(const struct vqcore_vu_dev *d, const struct vu_queue *q)
{
	if (!(d->features & VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES)))
		return true;
	return q->enable;
}

static void queue_stop(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->vq)
		return;
	if (d->ops.queue_stopped)
		d->ops.queue_stopped(d, qi, q->vq);
	q->base = vqcore_vq_get_base(q->vq);
	vqcore_vq_free(q->vq);
	q->vq = NULL;
	vq_free(q->pending);
	q->pending = NULL;
	q->npending = 0;
	vu_inflight_resub_free(q);
	d->fds_changed = true;
}

/* The ring format the acked features select. */
static unsigned vu_format(const struct vqcore_vu_dev *d)
{
	return vq_format_of_features(d->features);
}

/* Its ops (every format the features can select is built in). */
static const struct vq_format_ops *vu_fmt(const struct vqcore_vu_dev *d)
{
	return vq_format_get(vu_format(d));
}

/* Bytes of ring area @which (0 desc, 1 driver, 2 device); 1 before the
 * queue size is known. */
static uint64_t area_len(const struct vqcore_vu_dev *d, uint16_t num, int which)
{
	uint64_t sizes[3];

	if (!num)
		return 1;
	vu_fmt(d)->area_sizes(num, sizes);
	return sizes[which];
}

static int queue_gpas(const struct vqcore_vu_dev *d, const struct vu_queue *q,
		      uint64_t *desc, uint64_t *drv, uint64_t *dev)
{
	int r;

	r = uva_to_gpa(d, q->desc_uva, area_len(d, q->num, 0), desc);
	if (!r)
		r = uva_to_gpa(d, q->avail_uva, area_len(d, q->num, 1), drv);
	if (!r)
		r = uva_to_gpa(d, q->used_uva, area_len(d, q->num, 2), dev);
	return r;
}

static void queue_signal_err(struct vu_queue *q)
{
	if (q->err_fd >= 0 && !q->err_signalled) {
		vqcore_eventfd_signal(q->err_fd);
		q->err_signalled = true;
	}
}

static void queue_kick(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->vq)
		return;
	if (d->ops.kick)
		d->ops.kick(d, qi, q->vq);
	if (q->vq && vqcore_vq_error(q->vq))
		queue_signal_err(q);
}

/*
 * Whether the region holding user address @uva looks never written by the
 * guest: every byte of its file in that range that we look at is zero,
 * but for [@skip_uva, +@skip_len), which the backend wrote itself.
 * QEMU with a share=off memory backend sends the memfd but writes only its
 * private copies: the file's pages (allocated by those copy-on-write
 * faults, or holes) stay zero, and the rings look empty here forever.  A
 * guest whose memory is shared has firmware, kernel and page tables in the
 * region; the scan stops at the first non-zero byte.  It reads with
 * pread(), which gives a hole no page, skips holes with SEEK_DATA, and
 * gives up (answering false) after VU_ZERO_SCAN bytes of data.  Cold: at
 * most once per queue start, and only for a queue that was kicked and
 * never had a buffer.
 */
#define VU_ZERO_SCAN (1ull << 30)
#define VU_ZERO_CHUNK (1u << 20)

static VQ_COLD bool region_all_zero(const struct vqcore_vu_dev *d, uint64_t uva,
				    uint64_t skip_uva, uint64_t skip_len)
{
	const struct vu_region *r = NULL;
	uint64_t pos, end, scanned = 0, *buf;
	bool zero = false;

	for (unsigned i = 0; i < d->nregions && !r; i++)
		if (uva >= d->regions[i].uva && uva - d->regions[i].uva < d->regions[i].size)
			r = &d->regions[i];
	if (!r || r->fd < 0 || r->mmap_offset > (uint64_t)INT64_MAX - r->size)
		return false;
	buf = vq_malloc(VU_ZERO_CHUNK);
	if (!buf)
		return false;
	pos = r->mmap_offset;
	end = r->mmap_offset + r->size;
	for (;;) {
		off_t data;
		ssize_t n;
		size_t want;

		if (pos >= end) {
			zero = true;
			break;
		}
		if (scanned >= VU_ZERO_SCAN)
			break;  /* cannot tell */
		data = lseek(r->fd, (off_t)pos, SEEK_DATA);
		if (data < 0) {
			zero = errno == ENXIO; /* only holes from here on */
			break;
		}
		pos = (uint64_t)data;
		if (pos >= end)
			continue;
		want = (size_t)VQ_MIN((uint64_t)VU_ZERO_CHUNK, end - pos);
		n = pread(r->fd, buf, want, (off_t)pos);
		if (n <= 0)
			break;
		for (size_t k = 0; k < (size_t)n / 8; k++) {
			/* user address of this word; the skipped range is
			 * what the backend itself wrote */
			uint64_t w = r->uva + (pos - r->mmap_offset) + 8 * k;

			if (buf[k] && !(w + 8 > skip_uva && w < skip_uva + skip_len))
				goto out;
		}
		pos += (uint64_t)n;
		scanned += (uint64_t)n;
	}
out:
	vq_free(buf);
	return zero;
}

/*
 * A front-end that keeps no ring state across a backend restart (DPDK's
 * virtio-user in server mode sends SET_VRING_BASE 0 whatever its driver
 * did) gives a base the ring contradicts.  Where the ring keeps the
 * device's used position (split: the used index), the buffers before it
 * were returned and the ones after it were not: resume there, as DPDK's
 * vhost does and as QEMU itself does for a backend that went away.  Not
 * with an inflight record, which says what to resume.
 */
static void queue_base_from_ring(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];
	uint32_t avail = vqcore_vq_get_base(q->vq), used = vqcore_vq_get_used_base(q->vq);

	if (used == avail || vqcore_vq_set_base(q->vq, used) < 0)
		return;
	vq_warn("vhost-user: queue %u: SET_VRING_BASE %u, but the ring's used index is %u: "
		"resuming there (a front-end that did not keep the ring's state across "
		"a backend restart)", qi, q->base, used);
}

/* Start or stop queue @qi to match its configuration. */
static void queue_update(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];
	struct vqcore_vq_config cfg;
	bool want = q->started && q->num && q->addr_set && queue_enabled(d, q);
	int r;

	if (!want) {
		queue_stop(d, qi);
		return;
	}
	if (q->vq)
		return;
	memset(&cfg, 0, sizeof(cfg));
	cfg.sz = sizeof(cfg);
	cfg.format = vu_format(d);
	cfg.num = q->num;
	cfg.features = d->features;
	cfg.mem = d->mem;
	cfg.call_fd = q->call_fd;
	cfg.index = qi;
	r = queue_gpas(d, q, &cfg.desc_gpa, &cfg.driver_gpa, &cfg.device_gpa);
	if (!r)
		r = vqcore_vq_new(&cfg, &q->vq);
	if (!r) {
		uint32_t base;

		r = vu_fmt(d)->base_decode(q->base, &base);
		if (!r)
			r = vqcore_vq_set_base(q->vq, base);
		if (r) {
			vqcore_vq_free(q->vq);
			q->vq = NULL;
		}
	}
	if (r) {
		vq_warn("vhost-user: queue %u cannot start: %s", qi,
			vqcore_strerror(r));
		q->vq = NULL;
		queue_signal_err(q);
		return;
	}
	q->err_signalled = false;
	d->fds_changed = true;
	vu_inflight_queue_start(d, qi);
	if (!q->inflight)
		queue_base_from_ring(d, qi);
	q->start_base = vqcore_vq_get_base(q->vq);
	q->moved = q->hinted = false;
	if (d->ops.queue_started)
		d->ops.queue_started(d, qi, q->vq);
	queue_kick(d, qi);
}

static void queue_reset(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];

	int parked;

	queue_stop(d, qi);
	kick_fd_drop(d, q);
	parked = q->kick_parked;
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	memset(q, 0, sizeof(*q));
	q->kick_fd = q->call_fd = q->err_fd = q->kick_listed = -1;
	q->kick_parked = parked;
}

/* ------------------------------------------------------------------------
 * Request handlers
 * ------------------------------------------------------------------------ */

static int reply_u64(struct vu_msg *m, uint64_t v)
{
	m->p.u64 = v;
	m->hdr.size = sizeof(uint64_t);
	return VU_REPLY;
}

static int h_get_features(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, d->dev_features);
}

static int h_set_features(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	uint64_t f = m->p.u64;
	const uint64_t vu_only = VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) |
				 VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	bool running = false;
	int r;

	if (f & ~d->dev_features) {
		vq_warn("vhost-user: SET_FEATURES refused: the front-end acknowledged "
			"features 0x%llx that the device did not offer (offer 0x%llx)",
			(unsigned long long)(f & ~d->dev_features),
			(unsigned long long)d->dev_features);
		return -ENOTSUP;
	}
	if ((f & VQCORE_BIT(VQCORE_F_RING_PACKED)) &&
	    !(f & VQCORE_BIT(VQCORE_F_VERSION_1))) {
		vq_warn("vhost-user: SET_FEATURES refused: features 0x%llx contradict "
			"themselves: VIRTIO_F_RING_PACKED (34) without VIRTIO_F_VERSION_1 "
			"(32); packed rings exist only in virtio 1.x",
			(unsigned long long)f);
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < d->nq; i++)
		running |= d->q[i].vq != NULL;
	if (running && ((f ^ d->features) & ~VQCORE_BIT(VQCORE_VU_F_LOG_ALL)))
		return -EBUSY; /* only logging may change under running rings */
	if (d->ops.set_features) {
		r = d->ops.set_features(d, f & ~vu_only);
		if (r < 0)
			return r;
	}
	d->features = f;
	if (!(f & VQCORE_BIT(VQCORE_VU_F_LOG_ALL)) && d->log_map) {
		/* migration ended or was cancelled: the log goes, with the
		 * device's workers paused (see log_swap()) */
		mem_changed(d, true);
		vqcore_mem_set_log(d->mem, NULL, 0);
		munmap(d->log_map, d->log_map_size);
		d->log_map = NULL;
		d->log_map_size = 0;
		mem_changed(d, false);
	}
	/* without protocol features rings are enabled on start */
	for (unsigned i = 0; i < d->nq; i++)
		queue_update(d, i);
	return 0;
}

static int h_get_pfeatures(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, offered_pfeatures(d));
}

static int h_set_pfeatures(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	if (m->p.u64 & ~offered_pfeatures(d))
		return -ENOTSUP;
	d->pfeatures = m->p.u64;
	return 0;
}

static int h_nop(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return 0;
}

static int h_reset_owner(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	/* deprecated: the spec recommends "disable all rings" */
	for (unsigned i = 0; i < d->nq; i++) {
		d->q[i].started = false;
		queue_stop(d, i);
		vu_inflight_queue_drop(d, i);
	}
	return 0;
}

static int h_reset_device(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	for (unsigned i = 0; i < d->nq; i++) {
		queue_reset(d, i);
		vu_inflight_queue_drop(d, i);
	}
	d->features = 0;
	return 0;
}

static int h_set_mem_table(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_memory *mt = &m->p.memory;
	struct vu_region nr[VQCORE_VU_MEM_TABLE_MAX];
	int reuse[VQCORE_VU_MEM_TABLE_MAX];
	unsigned n = mt->nregions, i, j;
	int r = 0;

	if (n > VQCORE_VU_MEM_TABLE_MAX ||
	    m->hdr.size != 8 + n * sizeof(struct vu_region_desc))
		return -EINVAL;
	if (m->nfds != n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const struct vu_region_desc *a = &mt->regions[i];
		uint64_t e;

		if (!a->size || vq_add_overflow(a->gpa, a->size - 1, &e) ||
		    vq_add_overflow(a->uva, a->size - 1, &e))
			return -VQCORE_E_WRAP;
		if (vq_add_overflow(a->mmap_offset, a->size, &e))
			return -VQCORE_E_OFFSET_OVERFLOW;
		if (d->log_map && a->gpa + a->size > log_covers(d))
			return -VQCORE_E_LOG_RANGE;
		for (j = 0; j < i; j++) {
			const struct vu_region_desc *b = &mt->regions[j];

			if (ranges_overlap(a->gpa, a->size, b->gpa, b->size) ||
			    ranges_overlap(a->uva, a->size, b->uva, b->size))
				return -VQCORE_E_OVERLAP;
		}
	}
	/* Map the new regions; keep an identical old mapping of the same
	 * file (QEMU resends the whole table for every change). */
	for (i = 0; i < n; i++) {
		const struct vu_region_desc *a = &mt->regions[i];
		struct stat st;

		reuse[i] = -1;
		if (fstat(m->fds[i], &st) == 0) {
			for (j = 0; j < d->nregions; j++) {
				const struct vu_region *o = &d->regions[j];

				if (o->gpa == a->gpa && o->size == a->size &&
				    o->uva == a->uva &&
				    o->mmap_offset == a->mmap_offset &&
				    o->st_dev == st.st_dev && o->st_ino == st.st_ino) {
					reuse[i] = (int)j;
					break;
				}
			}
		}
		if (reuse[i] >= 0)
			continue;
		r = region_map(a, m->fds[i], &nr[i]);
		if (r) {
			while (i-- > 0)
				if (reuse[i] < 0) {
					nr[i].fd = -1; /* fd stays in m, closed by caller */
					region_unmap(&nr[i]);
				}
			return r;
		}
	}
	/* Commit. */
	mem_changed(d, true);
	vqcore_mem_clear(d->mem);
	if (d->log_map)
		vqcore_mem_set_log(d->mem, d->log_bitmap, d->log_size);
	for (i = 0; i < n; i++) {
		if (reuse[i] >= 0) {
			nr[i] = d->regions[reuse[i]];
			d->regions[reuse[i]].map = NULL;
			d->regions[reuse[i]].fd = -1;
		} else {
			m->fds[i] = -1; /* taken */
		}
	}
	for (j = 0; j < d->nregions; j++)
		region_unmap(&d->regions[j]);
	d->nregions = 0;
	for (i = 0; i < n; i++) {
		int e = region_to_mem(d, &nr[i]);

		if (e) {
			vq_warn("vhost-user: memory table refused region: %s",
				vqcore_strerror(e));
			region_unmap(&nr[i]);
			r = r ? r : e;
			continue;
		}
		d->regions[d->nregions++] = nr[i];
	}
	mem_changed(d, false);
	return r;
}

static int h_get_max_mem_slots(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, VQCORE_VU_MAX_MEM_SLOTS);
}

static int h_add_mem_reg(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_region_desc *a = &m->p.mem_single.region;
	struct vu_region nr;
	uint64_t e;
	int r;

	if (!has_pf(d, VQCORE_VU_PF_CONFIGURE_MEM_SLOTS))
		return -ENOTSUP;
	if (d->nregions >= VQCORE_VU_MAX_MEM_SLOTS)
		return -ENOSPC;
	if (!a->size || vq_add_overflow(a->gpa, a->size - 1, &e) ||
	    vq_add_overflow(a->uva, a->size - 1, &e))
		return -VQCORE_E_WRAP;
	if (overlaps_table(d, a, -1))
		return -VQCORE_E_OVERLAP;
	if (d->log_map && a->gpa + a->size > log_covers(d))
		return -VQCORE_E_LOG_RANGE;
	r = region_map(a, m->fds[0], &nr);
	if (r)
		return r;
	m->fds[0] = -1;
	mem_changed(d, true);
	r = region_to_mem(d, &nr);
	if (r)
		region_unmap(&nr);
	else
		d->regions[d->nregions++] = nr;
	mem_changed(d, false);
	return r;
}

static int h_rem_mem_reg(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_region_desc *a = &m->p.mem_single.region;

	if (!has_pf(d, VQCORE_VU_PF_CONFIGURE_MEM_SLOTS))
		return -ENOTSUP;
	/* a passed fd (allowed for old front-ends) is closed by the caller */
	for (unsigned i = 0; i < d->nregions; i++) {
		struct vu_region *r = &d->regions[i];

		if (r->gpa != a->gpa || r->uva != a->uva || r->size != a->size)
			continue;
		mem_changed(d, true);
		vqcore_mem_remove(d->mem, r->gpa, r->size, NULL);
		region_unmap(r);
		d->regions[i] = d->regions[--d->nregions];
		mem_changed(d, false);
		return 0;
	}
	return -ENOENT;
}

static int h_set_log_base(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_log *l = &m->p.log;
	struct stat st;
	uint64_t end, map_size;
	void *p;
	int r;

	if (!has_pf(d, VQCORE_VU_PF_LOG_SHMFD) || m->nfds != 1 ||
	    m->hdr.size != sizeof(*l))
		return -EINVAL;
	if (!l->size)
		return -VQCORE_E_ZERO_LEN;
	if (vq_add_overflow(l->offset, l->size, &end))
		return -VQCORE_E_OFFSET_OVERFLOW;
	if (fstat(m->fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < 0 || (uint64_t)st.st_size < end)
		return -EINVAL;
	map_size = VQ_ALIGN_UP(end, (uint64_t)4096);
	if (map_size > SIZE_MAX || map_size < end)
		return -ENOMEM;
	p = mmap(NULL, (size_t)map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 m->fds[0], 0);
	if (p == MAP_FAILED)
		return -errno;
	/*
	 * A device's worker may be logging a write into the old log right
	 * now (put_used logs through the memory table).  The log changes
	 * and the old one is unmapped only between mem_changed(true) and
	 * mem_changed(false), while the device's workers are paused, so no
	 * worker writes into an unmapped log; what they wrote before the
	 * pause is in the old log, which the front-end still reads.
	 */
	mem_changed(d, true);
	/* the table checks the log covers every region */
	r = vqcore_mem_set_log(d->mem, (uint8_t *)p + l->offset, l->size);
	if (r) {
		munmap(p, (size_t)map_size);
		if (d->log_map)
			vqcore_mem_set_log(d->mem, d->log_bitmap, d->log_size);
		mem_changed(d, false);
		return r;
	}
	if (d->log_map)
		munmap(d->log_map, d->log_map_size);
	/* the fd is not needed once mapped */
	d->log_map = p;
	d->log_map_size = (size_t)map_size;
	d->log_bitmap = (uint8_t *)p + l->offset;
	d->log_size = l->size;
	mem_changed(d, false);
	return 0;
}

static int h_set_log_fd(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	close_fd(&d->log_fd);
	d->log_fd = m->fds[0];
	m->fds[0] = -1;
	return 0;
}

static struct vu_queue *state_queue(struct vqcore_vu_dev *d, struct vu_msg *m,
				    unsigned *qi)
{
	/* index is the full 32-bit field: 0x10000 must not alias queue 0 */
	if (m->p.state.index >= d->nq)
		return NULL;
	*qi = m->p.state.index;
	return &d->q[*qi];
}

static int h_set_vring_num(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	struct vu_queue *q = state_queue(d, m, &qi);
	uint32_t num = m->p.state.num;

	if (!q)
		return -ERANGE;
	if (num > UINT16_MAX || vu_fmt(d)->check_num((uint16_t)num) < 0)
		return -EINVAL;
	if (q->vq)
		return -EBUSY;
	q->num = (uint16_t)num;
	return 0;
}

/* Say why the ring areas of @q are not in the table: the usual set-up
 * mistake is a front-end whose guest memory cannot be shared. */
static VQ_COLD void vring_addr_explain(const struct vqcore_vu_dev *d,
				       const struct vu_queue *q, unsigned qi)
{
	const char *const *name = vu_fmt(d)->area_name;
	const uint64_t uva[3] = { q->desc_uva, q->avail_uva, q->used_uva };
	uint64_t gpa;

	if (!d->nregions) {
		vq_warn("vhost-user: queue %u: ring addresses given while the memory "
			"table is empty: the front-end shared no guest memory. Its "
			"memory must be shared with the backend (QEMU: -object "
			"memory-backend-memfd,id=mem,size=...,share=on -machine "
			"memory-backend=mem)", qi);
		return;
	}
	for (int i = 0; i < 3; i++) {
		uint64_t len = area_len(d, q->num, i);

		if (!uva_to_gpa(d, uva[i], len, &gpa))
			continue;
		vq_warn("vhost-user: queue %u: %s area at user address 0x%llx "
			"(%llu bytes) is not inside one region of the memory table "
			"(%u regions)", qi, name[i], (unsigned long long)uva[i],
			(unsigned long long)len, d->nregions);
	}
}

static int h_set_vring_addr(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_addr *a = &m->p.addr;
	struct vu_queue *q;
	struct vu_queue tmp;
	uint64_t g1, g2, g3;
	int r;

	if (a->index >= d->nq)
		return -ERANGE;
	q = &d->q[a->index];
	tmp = *q;
	tmp.desc_uva = a->desc;
	tmp.avail_uva = a->avail;
	tmp.used_uva = a->used;
	/* every area must be inside the memory table now */
	r = queue_gpas(d, &tmp, &g1, &g2, &g3);
	if (r) {
		vring_addr_explain(d, &tmp, a->index);
		return r;
	}
	if (q->vq && (a->desc != q->desc_uva || a->avail != q->avail_uva ||
		      a->used != q->used_uva))
		return -EBUSY;
	q->desc_uva = a->desc;
	q->avail_uva = a->avail;
	q->used_uva = a->used;
	q->log_gpa = a->log;
	q->addr_flags = a->flags;
	q->addr_set = true;
	return 0;
}

static int h_set_vring_base(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	struct vu_queue *q = state_queue(d, m, &qi);
	uint32_t pos;

	if (!q)
		return -ERANGE;
	if (q->vq)
		return -EBUSY;
	/* kept as sent: decoded again when the queue starts */
	if (vu_fmt(d)->base_decode(m->p.state.num, &pos) < 0)
		return -EINVAL;
	q->base = m->p.state.num;
	return 0;
}

static int h_get_vring_base(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	struct vu_queue *q = state_queue(d, m, &qi);

	if (!q)
		return -ERANGE;
	q->started = false;
	if (q->vq) {
		queue_stop(d, qi);
		vu_inflight_queue_drop(d, qi);
	}
	kick_fd_drop(d, q);
	m->p.state.num = vu_fmt(d)->base_encode(q->base);
	m->hdr.size = sizeof(struct vu_state);
	return VU_REPLY;
}

/* u64 payload of SET_VRING_KICK/CALL/ERR: index in bits 0-7, NOFD bit 8;
 * every other bit must be clear (no truncation before the check). */
static struct vu_queue *fd_queue(struct vqcore_vu_dev *d, struct vu_msg *m,
				 unsigned *qi, int *fd, int *err)
{
	uint64_t v = m->p.u64;
	bool nofd = v & VQCORE_VU_VRING_NOFD;

	*err = 0;
	if (v & ~(uint64_t)(VQCORE_VU_VRING_IDX_MASK | VQCORE_VU_VRING_NOFD) ||
	    (v & VQCORE_VU_VRING_IDX_MASK) >= d->nq) {
		*err = -ERANGE;
		return NULL;
	}
	if (m->nfds != (nofd ? 0u : 1u)) {
		*err = -EINVAL;
		return NULL;
	}
	*qi = (unsigned)(v & VQCORE_VU_VRING_IDX_MASK);
	*fd = nofd ? -1 : m->fds[0];
	if (!nofd)
		m->fds[0] = -1;
	return &d->q[*qi];
}

static int h_set_vring_kick(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	int fd, err;
	struct vu_queue *q = fd_queue(d, m, &qi, &fd, &err);

	if (!q)
		return err;
	kick_fd_drop(d, q);
	q->kick_fd = fd;
	q->started = true;
	d->fds_changed = true;
	queue_update(d, qi);
	return 0;
}

static int h_set_vring_call(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	int fd, err, old;
	struct vu_queue *q = fd_queue(d, m, &qi, &fd, &err);

	if (!q)
		return err;
	old = q->call_fd;
	q->call_fd = fd;
	if (q->vq)
		vqcore_vq_set_call_fd(q->vq, fd);
	close_fd(&old);
	return 0;
}

static int h_set_vring_err(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	int fd, err;
	struct vu_queue *q = fd_queue(d, m, &qi, &fd, &err);

	if (!q)
		return err;
	close_fd(&q->err_fd);
	q->err_fd = fd;
	q->err_signalled = false;
	/* already broken (perhaps on a device's worker): say so at once */
	if (q->vq && vqcore_vq_error(q->vq))
		queue_signal_err(q);
	return 0;
}

static int h_get_queue_num(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return reply_u64(m, d->nq);
}

static int h_set_vring_enable(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	unsigned qi;
	struct vu_queue *q = state_queue(d, m, &qi);

	if (!q)
		return -ERANGE;
	if (m->p.state.num > 1)
		return -EINVAL;
	q->enable = m->p.state.num == 1;
	queue_update(d, qi);
	return 0;
}

static int config_check(const struct vu_msg *m)
{
	const struct vu_config *c = &m->p.config;

	if (m->hdr.size < VU_CONFIG_HDR || c->size > VQCORE_VU_CONFIG_MAX ||
	    !c->size || m->hdr.size != VU_CONFIG_HDR + c->size ||
	    c->offset > VQCORE_VU_CONFIG_MAX ||
	    c->size > VQCORE_VU_CONFIG_MAX - c->offset)
		return -EINVAL;
	return 0;
}

static int h_get_config(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	struct vu_config *c = &m->p.config;
	int r = config_check(m);

	if (r)
		return r;
	if (!d->ops.get_config)
		return -ENOTSUP;
	r = d->ops.get_config(d, c->offset, c->payload, c->size);
	if (r < 0)
		return r;
	m->hdr.size = VU_CONFIG_HDR + c->size;
	return VU_REPLY;
}

static int h_set_config(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	struct vu_config *c = &m->p.config;
	int r = config_check(m);

	if (r)
		return r;
	if (c->flags > 1)
		return -EINVAL;
	if (!d->ops.set_config)
		return -ENOTSUP;
	r = d->ops.set_config(d, c->offset, c->payload, c->size, c->flags);
	return r < 0 ? r : 0;
}

/* u64 payload: the guest's MAC in its first 6 bytes (QEMU
 * vhost_user_migration_done()). */
static int h_send_rarp(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	uint8_t mac[6];
	int r;

	if (!d->ops.send_rarp)
		return -ENOTSUP;
	memcpy(mac, m->p.raw, sizeof(mac));
	r = d->ops.send_rarp(d, mac);
	return r < 0 ? r : 0;
}

static int h_get_inflight_fd(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return vu_inflight_get(d, m, &d->reply_fd);
}

static int h_set_inflight_fd(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	return vu_inflight_set(d, m);
}

/* ------------------------------------------------------------------------
 * Dispatch table and reply logic
 * ------------------------------------------------------------------------ */

#define ANY_SIZE UINT32_MAX
#define CHECKED_FDS (-1) /* the handler checks the fd count itself */

struct vu_req_desc {
	const char *name;
	int (*fn)(struct vqcore_vu_dev *d, struct vu_msg *m);
	uint32_t size;         /* exact payload size, or ANY_SIZE */
	int nfds;              /* exact fd count, or CHECKED_FDS */
	bool has_reply;        /* the request always has a reply body */
	int pf;                /* protocol feature it needs, or -1 */
};

static const struct vu_req_desc reqs[] = {
	[VQCORE_VU_GET_FEATURES] = { "GET_FEATURES", h_get_features, 0, 0, true, -1 },
	[VQCORE_VU_SET_FEATURES] = { "SET_FEATURES", h_set_features, 8, 0, false, -1 },
	[VQCORE_VU_SET_OWNER] = { "SET_OWNER", h_nop, 0, 0, false, -1 },
	[VQCORE_VU_RESET_OWNER] = { "RESET_OWNER", h_reset_owner, 0, 0, false, -1 },
	[VQCORE_VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", h_set_mem_table, ANY_SIZE,
				      CHECKED_FDS, false, -1 },
	[VQCORE_VU_SET_LOG_BASE] = { "SET_LOG_BASE", h_set_log_base, ANY_SIZE,
				     CHECKED_FDS, true, -1 },
	[VQCORE_VU_SET_LOG_FD] = { "SET_LOG_FD", h_set_log_fd, 0, 1, false, -1 },
	[VQCORE_VU_SET_VRING_NUM] = { "SET_VRING_NUM", h_set_vring_num, 8, 0, false, -1 },
	[VQCORE_VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", h_set_vring_addr,
				       sizeof(struct vu_addr), 0, false, -1 },
	[VQCORE_VU_SET_VRING_BASE] = { "SET_VRING_BASE", h_set_vring_base, 8, 0, false, -1 },
	[VQCORE_VU_GET_VRING_BASE] = { "GET_VRING_BASE", h_get_vring_base, 8, 0, true, -1 },
	[VQCORE_VU_SET_VRING_KICK] = { "SET_VRING_KICK", h_set_vring_kick, 8,
				       CHECKED_FDS, false, -1 },
	[VQCORE_VU_SET_VRING_CALL] = { "SET_VRING_CALL", h_set_vring_call, 8,
				       CHECKED_FDS, false, -1 },
	[VQCORE_VU_SET_VRING_ERR] = { "SET_VRING_ERR", h_set_vring_err, 8,
				      CHECKED_FDS, false, -1 },
	[VQCORE_VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", h_get_pfeatures,
					      0, 0, true, -1 },
	[VQCORE_VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", h_set_pfeatures,
					      8, 0, false, -1 },
	[VQCORE_VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", h_get_queue_num, 0, 0, true,
				      VQCORE_VU_PF_MQ },
	[VQCORE_VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", h_set_vring_enable, 8, 0,
					 false, -1 },
	[VQCORE_VU_SEND_RARP] = { "SEND_RARP", h_send_rarp, 8, 0, false, VQCORE_VU_PF_RARP },
	[VQCORE_VU_GET_CONFIG] = { "GET_CONFIG", h_get_config, ANY_SIZE, 0, true,
				   VQCORE_VU_PF_CONFIG },
	[VQCORE_VU_SET_CONFIG] = { "SET_CONFIG", h_set_config, ANY_SIZE, 0, false,
				   VQCORE_VU_PF_CONFIG },
	[VQCORE_VU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", h_get_inflight_fd,
					sizeof(struct vu_inflight), 0, true,
					VQCORE_VU_PF_INFLIGHT_SHMFD },
	[VQCORE_VU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", h_set_inflight_fd,
					sizeof(struct vu_inflight), 1, false,
					VQCORE_VU_PF_INFLIGHT_SHMFD },
	[VQCORE_VU_RESET_DEVICE] = { "RESET_DEVICE", h_reset_device, 0, 0, false,
				     VQCORE_VU_PF_RESET_DEVICE },
	[VQCORE_VU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", h_get_max_mem_slots, 0, 0,
					  true, VQCORE_VU_PF_CONFIGURE_MEM_SLOTS },
	[VQCORE_VU_ADD_MEM_REG] = { "ADD_MEM_REG", h_add_mem_reg,
				    sizeof(struct vu_mem_single), 1, false, -1 },
	[VQCORE_VU_REM_MEM_REG] = { "REM_MEM_REG", h_rem_mem_reg,
				    sizeof(struct vu_mem_single), CHECKED_FDS, false, -1 },
};

/* Handle one received message.  Returns 0, or -VQCORE_E_PROTO to drop the
 * connection. */
static int vu_handle(struct vqcore_vu_dev *d, struct vu_msg *m)
{
	const struct vu_req_desc *rd = NULL;
	uint32_t req = m->hdr.request;
	bool need_reply = m->hdr.flags & VQCORE_VU_FLAG_NEED_REPLY;
	int r;

	d->reply_fd = -1;
	if (req < VQ_ARRAY_SIZE(reqs) && reqs[req].fn)
		rd = &reqs[req];
	if (!rd) {
		vq_warn("vhost-user: unknown request %u", req);
		r = -ENOTSUP;
	} else if (rd->size != ANY_SIZE && m->hdr.size != rd->size) {
		vq_warn("vhost-user: %s: payload of %u bytes, expected %u",
			rd->name, m->hdr.size, rd->size);
		r = -EINVAL;
	} else if (rd->nfds != CHECKED_FDS && m->nfds != (unsigned)rd->nfds) {
		vq_warn("vhost-user: %s: %u fds, expected %d", rd->name, m->nfds,
			rd->nfds);
		r = -EINVAL;
	} else if (rd->pf >= 0 && !has_pf(d, (unsigned)rd->pf)) {
		r = -ENOTSUP;
	} else if (req == VQCORE_VU_REM_MEM_REG && m->nfds > 1) {
		r = -EINVAL;
	} else {
		r = rd->fn(d, m);
		if (r < 0)
			vq_warn("vhost-user: %s failed: %s", rd->name,
				vqcore_strerror(r));
	}
	vu_close_fds(m);

	if (rd && rd->has_reply) {
		/* An error is a reply with an empty payload (GET_CONFIG's
		 * convention); SET_LOG_BASE answers with a u64 status. */
		if (req == VQCORE_VU_SET_LOG_BASE) {
			m->p.u64 = r < 0 ? 1 : 0;
			m->hdr.size = 8;
		} else if (r < 0) {
			m->hdr.size = 0;
		}
	} else if (need_reply) {
		m->p.u64 = r < 0 ? (uint64_t)-r : 0;
		m->hdr.size = 8;
		r = VU_REPLY;
	} else {
		return 0;
	}
	r = vu_send(d->sock, req, VQCORE_VU_VERSION | VQCORE_VU_FLAG_REPLY, &m->p,
		    m->hdr.size, d->reply_fd >= 0 ? &d->reply_fd : NULL,
		    d->reply_fd >= 0 ? 1 : 0);
	close_fd(&d->reply_fd);
	return r < 0 ? -VQCORE_E_PROTO : 0;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void vu_disconnect(struct vqcore_vu_dev *d)
{
	if (d->sock < 0)
		return;
	for (unsigned i = 0; i < d->nq; i++)
		queue_reset(d, i);
	regions_clear(d);
	vqcore_mem_set_log(d->mem, NULL, 0);
	if (d->log_map)
		munmap(d->log_map, d->log_map_size);
	d->log_map = NULL;
	d->log_map_size = 0;
	close_fd(&d->log_fd);
	vu_inflight_unmap(d);
	close_fd(&d->sock);
	d->features = 0;
	d->pfeatures = 0;
	d->fds_changed = true;
	if (d->ops.disconnected)
		d->ops.disconnected(d);
	__atomic_store_n(&d->connected, 0, __ATOMIC_RELEASE);
}

static void vu_connected(struct vqcore_vu_dev *d, int sock)
{
	d->sock = sock;
	d->fds_changed = true;
	__atomic_store_n(&d->connected, 1, __ATOMIC_RELEASE);
	if (d->ops.connected)
		d->ops.connected(d);
}

static int vu_accept(struct vqcore_vu_dev *d)
{
	int s;

	if (d->sock >= 0)
		return 0;
	s = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	vu_connected(d, s);
	return 1;
}

/* Read and handle one message.  Returns 0, or -ECONNRESET after a
 * disconnect. */
static int vu_read_msg(struct vqcore_vu_dev *d)
{
	struct vu_msg *m = &d->msg;
	int r;

	r = vu_recv(d->sock, m);
	if (!r)
		r = vu_handle(d, m);
	if (r) {
		d->proto_error = r != -ECONNRESET;
		if (r != -ECONNRESET)
			vq_warn("vhost-user: dropping the connection: %s",
				vqcore_strerror(r));
		vu_disconnect(d);
		return -ECONNRESET;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

static void dev_free_early(struct vqcore_vu_dev *d)
{
	if (d->epfd >= 0)
		close(d->epfd);
	vq_free(d->regions);
	vqcore_mem_free(d->mem);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	vq_free(d);
}

static int dev_alloc(unsigned flags, unsigned num_queues, uint64_t features,
		     const struct vqcore_vu_ops *ops, void *opaque,
		     struct vqcore_vu_dev **out)
{
	struct vqcore_vu_ops o = { 0 };
	struct vqcore_vu_dev *d;
	int err;

	if (!out || !num_queues || num_queues > VQCORE_VU_MAX_QUEUES)
		return -EINVAL;
	if (ops) {
		err = vq_struct_in(&o, sizeof(o), ops);
		if (err)
			return err;
	}
	d = vq_calloc(1, sizeof(*d) + num_queues * sizeof(struct vu_queue));
	if (!d)
		return -ENOMEM;
	d->regions = vq_calloc(VQCORE_VU_MAX_MEM_SLOTS, sizeof(*d->regions));
	d->mem = vqcore_mem_new();
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!d->regions || !d->mem || d->stop_fd < 0 || d->epfd < 0) {
		dev_free_early(d);
		return -ENOMEM;
	}
	d->ops = o;
	d->opaque = opaque;
	d->flags = flags;
	d->nq = num_queues;
	d->listen_fd = d->sock = d->log_fd = d->reply_fd = d->local_fd = -1;
	d->pf_mask = UINT64_MAX;
	if ((features & VQCORE_BIT(VQCORE_F_RING_PACKED)) &&
	    !(flags & VQCORE_VU_NO_PACKED) &&
	    !(features & VQCORE_BIT(VQCORE_F_VERSION_1))) {
		vq_warn("vhost-user: the device's features 0x%llx contradict "
			"themselves: VIRTIO_F_RING_PACKED (34) without "
			"VIRTIO_F_VERSION_1 (32); offer VQCORE_BIT(VQCORE_F_VERSION_1)",
			(unsigned long long)features);
		dev_free_early(d);
		return -EINVAL;
	}
	if (features & VQCORE_BIT(VQCORE_F_ACCESS_PLATFORM))
		vq_warn("vhost-user: VIRTIO_F_ACCESS_PLATFORM (33) taken out of the "
			"device's offer: the backend has no IOTLB support yet");
	features |= VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) |
		    VQCORE_BIT(VQCORE_VU_F_LOG_ALL);
	features &= ~VQCORE_BIT(VQCORE_F_ACCESS_PLATFORM);
	if (flags & VQCORE_VU_NO_PACKED)
		features &= ~VQCORE_BIT(VQCORE_F_RING_PACKED);
	/* never offer a format the core was built without */
	if (features & VQCORE_BIT(VQCORE_F_RING_PACKED)) {
		struct vqcore_ring_layout lay;

		if (vqcore_ring_layout(VQCORE_FORMAT_PACKED, 256, 0, &lay))
			features &= ~VQCORE_BIT(VQCORE_F_RING_PACKED);
	}
	d->dev_features = features;
	for (unsigned i = 0; i < num_queues; i++)
		d->q[i].kick_fd = d->q[i].call_fd = d->q[i].err_fd =
			d->q[i].kick_listed = d->q[i].kick_parked = -1;
	*out = d;
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = path ? strlen(path) : 0;

	if (!n || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	return 0;
}

int vqcore_vu_new(const char *path, unsigned flags, unsigned num_queues,
		  uint64_t features, const struct vqcore_vu_ops *ops,
		  void *opaque, struct vqcore_vu_dev **out)
{
	struct vqcore_vu_dev *d;
	struct sockaddr_un sa;
	int r, s;

	r = sock_addr(path, &sa);
	if (r)
		return r;
	r = dev_alloc(flags, num_queues, features, ops, opaque, &d);
	if (r)
		return r;
	memcpy(d->path, sa.sun_path, sizeof(d->path));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = -errno;
		goto fail;
	}
	if (flags & VQCORE_VU_CLIENT) {
		for (int tries = 0;; tries++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
				break;
			r = -errno;
			if ((r != -ENOENT && r != -ECONNREFUSED) || tries >= 10) {
				close(s);
				goto fail;
			}
			nanosleep(&ts, NULL);
		}
		d->single = true;
		vu_connected(d, s);
	} else {
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(s, 4) < 0) {
			r = -errno;
			close(s);
			goto fail;
		}
		d->listen_fd = s;
		d->server = true;
	}
	*out = d;
	return 0;
fail:
	vqcore_vu_free(d);
	return r;
}

int vqcore_vu_new_fd(int sock, unsigned flags, unsigned num_queues,
		     uint64_t features, const struct vqcore_vu_ops *ops,
		     void *opaque, struct vqcore_vu_dev **out)
{
	struct vqcore_vu_dev *d;
	int r;

	if (sock < 0)
		return -EBADF;
	r = dev_alloc(flags, num_queues, features, ops, opaque, &d);
	if (r)
		return r;
	d->single = true;
	vu_connected(d, sock);
	*out = d;
	return 0;
}

void vqcore_vu_free(struct vqcore_vu_dev *d)
{
	if (!d)
		return;
	/* vqcore_vu_run() still running on another thread: stop it and wait
	 * until it has let go of the device */
	if (__atomic_load_n(&d->loop_running, __ATOMIC_ACQUIRE)) {
		vqcore_vu_stop(d);
		while (__atomic_load_n(&d->loop_running, __ATOMIC_ACQUIRE))
			vq_yield();
	}
	vu_signal_forget(d);
	vu_disconnect(d);
	for (unsigned i = 0; i < d->nq; i++) {
		queue_reset(d, i);
		close_fd(&d->q[i].kick_parked);
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->path);
	}
	close_fd(&d->epfd);
	close_fd(&d->stop_fd);
	vu_inflight_local_close(d);
	vqcore_mem_free(d->mem);
	vq_free(d->regions);
	vq_free(d);
}

void vqcore_vu_set_protocol_features(struct vqcore_vu_dev *d, uint64_t mask)
{
	d->pf_mask = mask;
}

int vqcore_vu_get_fds(struct vqcore_vu_dev *d, struct vqcore_vu_fd *fds,
		      unsigned max)
{
	unsigned n = 0;

#define ADD(f, k, i)                                                   \
	do {                                                           \
		if (n < max)                                           \
			fds[n] = (struct vqcore_vu_fd){ (f), (k), (i) }; \
		n++;                                                   \
	} while (0)
	if (d->sock >= 0)
		ADD(d->sock, VQCORE_VU_FD_SOCKET, 0);
	else if (d->listen_fd >= 0)
		ADD(d->listen_fd, VQCORE_VU_FD_LISTEN, 0);
	for (unsigned i = 0; i < d->nq; i++) {
		struct vu_queue *q = &d->q[i];

		/* the caller removed the previous set from its poll set */
		close_fd(&q->kick_parked);
		q->kick_listed = -1;
		if (q->vq && q->kick_fd >= 0) {
			ADD(q->kick_fd, VQCORE_VU_FD_KICK, i);
			q->kick_listed = q->kick_fd;
		}
	}
#undef ADD
	d->fds_changed = false;
	return (int)n;
}

/*
 * The driver kicked, the device found nothing, and nothing has been
 * fetched since the queue started.  That happens to healthy queues too (a
 * kick QEMU saved while the ring was stopped), so the region holding the
 * rings must also read as zeros before the backend says that the
 * front-end's memory is probably not shared.  After the first fetch this
 * costs one branch per kick.
 */
static VQ_COLD void kick_check_moved(struct vqcore_vu_dev *d, unsigned qi)
{
	struct vu_queue *q = &d->q[qi];

	if (!q->vq || !d->ops.kick)
		return;
	if (vqcore_vq_get_base(q->vq) != q->start_base || vqcore_vq_inflight(q->vq)) {
		q->moved = true;
		return;
	}
	if (q->hinted)
		return;
	q->hinted = true;
	/* the device area (used ring, device event suppression) is the one
	 * the backend writes itself */
	if (region_all_zero(d, q->desc_uva, q->used_uva, area_len(d, q->num, 2)))
		vq_warn("vhost-user: queue %u: kicked, but its ring is empty and the "
			"region holding it reads as zeros: guest memory not shared? "
			"(QEMU: memory-backend-memfd/-file need share=on)", qi);
}

int vqcore_vu_dispatch(struct vqcore_vu_dev *d, int fd)
{
	int r = 0;

	if (fd < 0)
		return 0;
	if (fd == d->sock) {
		r = vu_read_msg(d);
		if (r == -ECONNRESET && d->server)
			r = 1;
	} else if (fd == d->listen_fd && d->sock < 0) {
		r = vu_accept(d);
		if (r < 0)
			return r;
	} else {
		for (unsigned i = 0; i < d->nq; i++) {
			if (d->q[i].kick_fd != fd || !d->q[i].vq)
				continue;
			vqcore_eventfd_drain(fd);
			queue_kick(d, i);
			if (!d->q[i].moved)
				kick_check_moved(d, i);
			break;
		}
	}
	if (r == 0 && d->fds_changed)
		r = 1;
	return r;
}

static bool fd_ours(const struct vqcore_vu_dev *d, int fd)
{
	if (fd == d->sock || fd == d->listen_fd)
		return true;
	for (unsigned i = 0; i < d->nq; i++)
		if (d->q[i].kick_fd == fd)
			return true;
	return false;
}

static int epoll_rebuild(struct vqcore_vu_dev *d, int *watched, unsigned *nw)
{
	struct vqcore_vu_fd fds[VQCORE_VU_MAX_QUEUES + 1];
	struct epoll_event ev;
	int n;

	/* A watched fd the device closed since is out already (kick_fd_drop(),
	 * or its last reference went); its number may belong to someone else
	 * now: only fds that are still the device's are taken out here. */
	for (unsigned i = 0; i < *nw; i++)
		if (fd_ours(d, watched[i]))
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, watched[i], NULL);
	*nw = 0;
	n = vqcore_vu_get_fds(d, fds, VQ_ARRAY_SIZE(fds));
	for (int i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = fds[i].fd;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fds[i].fd, &ev) < 0)
			return -errno;
		watched[(*nw)++] = fds[i].fd;
	}
	return 0;
}

int vqcore_vu_run(struct vqcore_vu_dev *d)
{
	int watched[VQCORE_VU_MAX_QUEUES + 1];
	unsigned nw = 0;
	struct epoll_event ev, evs[16];
	int r = 0;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = d->stop_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stop_fd, &ev) < 0 && errno != EEXIST)
		return -errno;
	__atomic_store_n(&d->loop_running, 1, __ATOMIC_RELAXED);
	d->stop = false;
	d->fds_changed = true;
	d->in_run = true;
	while (!d->stop) {
		int n;

		if (d->fds_changed) {
			r = epoll_rebuild(d, watched, &nw);
			if (r)
				break;
		}
		if (d->sock < 0 && d->listen_fd < 0)
			break; /* single connection gone */
		n = epoll_wait(d->epfd, evs, VQ_ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n && !d->stop; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->stop_fd) {
				vqcore_eventfd_drain(d->stop_fd);
				d->stop = true;
				break;
			}
			/* an fd of this batch may have been closed by an
			 * earlier event: dispatch checks it is still ours */
			if (d->fds_changed && fd != d->sock && fd != d->listen_fd) {
				bool known = false;

				for (unsigned q = 0; q < d->nq; q++)
					known |= d->q[q].vq && d->q[q].kick_fd == fd;
				if (!known)
					continue;
			}
			r = vqcore_vu_dispatch(d, fd);
			if (r == -ECONNRESET && !d->server) {
				r = d->proto_error ? -ECONNRESET : 0;
				d->stop = true;
				break;
			}
			if (r < 0 && r != -ECONNRESET)
				break;
			r = 0;
		}
		if (r < 0)
			break;
	}
	for (unsigned i = 0; i < nw; i++)
		if (fd_ours(d, watched[i]))
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, watched[i], NULL);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->stop_fd, NULL);
	d->in_run = false;
	/* last access: vqcore_vu_free() on another thread may go on */
	__atomic_store_n(&d->loop_running, 0, __ATOMIC_RELEASE);
	return r;
}

void vqcore_vu_stop(struct vqcore_vu_dev *d)
{
	int saved = errno; /* a signal handler must not change it */
	uint64_t one = 1;
	ssize_t r = write(d->stop_fd, &one, sizeof(one));

	(void)r;
	errno = saved;
}

void *vqcore_vu_opaque(const struct vqcore_vu_dev *d)
{
	return d->opaque;
}

uint64_t vqcore_vu_features(const struct vqcore_vu_dev *d)
{
	/* the virtio features, as set_features got them */
	return d->features & ~(VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES) |
			       VQCORE_BIT(VQCORE_VU_F_LOG_ALL));
}

uint64_t vqcore_vu_protocol_features(const struct vqcore_vu_dev *d)
{
	return d->pfeatures;
}

struct vqcore_mem *vqcore_vu_mem(const struct vqcore_vu_dev *d)
{
	return d->mem;
}

struct vqcore_vq *vqcore_vu_queue(const struct vqcore_vu_dev *d, unsigned qi)
{
	return qi < d->nq ? d->q[qi].vq : NULL;
}

bool vqcore_vu_connected(const struct vqcore_vu_dev *d)
{
	return __atomic_load_n(&d->connected, __ATOMIC_ACQUIRE) != 0;
}

/*
 * The inflight record sees every fetch and return on a queue with an
 * inflight area, whichever name the device calls: vqcore_vq_get_bufs()
 * and friends go to these hooks (struct vq_hooks), and vqcore_vu_get_bufs()
 * and vqcore_vu_put_used() are plain aliases of the vqcore_vq_* calls.
 * Each hook runs the core call with the hooks cleared (one thread drives
 * a queue at a time, so nobody else sees the queue meanwhile).
 */
static int hook_get_bufs(struct vqcore_vq *vq, struct vhost_buf *bufs,
			 unsigned max_bufs, struct iovec *iov, unsigned max_iov)
{
	struct vqcore_vu_dev *d = vq->hooks_opaque;
	unsigned qi = vq->index;
	int n;

	/* requests a previous backend left in flight come first */
	if (d->q[qi].resub_next < d->q[qi].nresub)
		return vu_inflight_take_resub(d, qi, bufs, max_bufs, iov, max_iov);
	vq->hooks = NULL;
	n = vqcore_vq_get_bufs(vq, bufs, max_bufs, iov, max_iov);
	vq->hooks = &vu_hooks;
	/* a broken queue's err eventfd is signalled by the loop thread */
	if (n > 0)
		vu_inflight_fetched(d, qi, bufs, (unsigned)n);
	return n;
}

static int hook_get_bufs_desc(struct vqcore_vq *vq, struct vhost_buf *bufs,
			      unsigned max_bufs, struct vhost_desc *desc,
			      unsigned max_desc)
{
	struct vqcore_vu_dev *d = vq->hooks_opaque;
	unsigned qi = vq->index;
	int n;

	if (d->q[qi].resub_next < d->q[qi].nresub) {
		/* they were fetched again as iovecs when the queue started */
		vq_warn("vhost-user: queue %u: requests a previous backend left in "
			"flight wait; fetch them with vqcore_vq_get_bufs()", qi);
		return -VQCORE_E_NOT_READY;
	}
	vq->hooks = NULL;
	n = vqcore_vq_get_bufs_desc(vq, bufs, max_bufs, desc, max_desc);
	vq->hooks = &vu_hooks;
	/* a broken queue's err eventfd is signalled by the loop thread */
	if (n > 0)
		vu_inflight_fetched(d, qi, bufs, (unsigned)n);
	return n;
}

static int hook_put_used(struct vqcore_vq *vq, const struct vhost_buf *bufs,
			 const uint32_t *lens, unsigned n)
{
	struct vqcore_vu_dev *d = vq->hooks_opaque;
	unsigned qi = vq->index;
	int r;

	vu_inflight_used_begin(d, qi, bufs, n);
	vq->hooks = NULL;
	r = vqcore_vq_put_used(vq, bufs, lens, n);
	vq->hooks = &vu_hooks;
	if (!r)
		vu_inflight_used_end(d, qi, bufs, n);
	return r;
}

static int hook_unget(struct vqcore_vq *vq, const struct vhost_buf *bufs,
		      unsigned n)
{
	struct vqcore_vu_dev *d = vq->hooks_opaque;
	int r;

	vq->hooks = NULL;
	r = vqcore_vq_unget(vq, bufs, n);
	vq->hooks = &vu_hooks;
	if (!r)
		vu_inflight_unget(d, vq->index, bufs, n);
	return r;
}

const struct vq_hooks vu_hooks = {
	.get_bufs = hook_get_bufs,
	.get_bufs_desc = hook_get_bufs_desc,
	.put_used = hook_put_used,
	.unget = hook_unget,
};

int vqcore_vu_get_bufs(struct vqcore_vu_dev *d, unsigned qi,
		       struct vhost_buf *bufs, unsigned max_bufs,
		       struct iovec *iov, unsigned max_iov)
{
	int n;

	if (qi >= d->nq || !d->q[qi].vq)
		return -VQCORE_E_NOT_READY;
	n = vqcore_vq_get_bufs(d->q[qi].vq, bufs, max_bufs, iov, max_iov);
	/* A broken queue's err eventfd is signalled by the loop thread
	 * (queue_kick()): this may run on a device's worker while the loop
	 * swaps or closes that fd. */
	return n;
}

int vqcore_vu_put_used(struct vqcore_vu_dev *d, unsigned qi,
		       const struct vhost_buf *bufs, const uint32_t *lens,
		       unsigned n)
{
	if (qi >= d->nq || !d->q[qi].vq)
		return -VQCORE_E_NOT_READY;
	return vqcore_vq_put_used(d->q[qi].vq, bufs, lens, n);
}

int vqcore_vu_inflight_pending(const struct vqcore_vu_dev *d, unsigned qi,
			       uint16_t *ids, unsigned max)
{
	const struct vu_queue *q;

	if (qi >= d->nq)
		return -EINVAL;
	q = &d->q[qi];
	for (unsigned i = 0; i < q->npending && i < max; i++)
		ids[i] = q->pending[i];
	return (int)q->npending;
}
