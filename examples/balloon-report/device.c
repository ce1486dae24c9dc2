/* SPDX-License-Identifier: MIT */
/*
 * balloon-report: the virtio-balloon device behind the vhost-user socket.
 *
 * Reporting queue (index 2): every buffer is a list of device-writable
 * ranges of free guest memory (virtio 1.2 section 5.5.6.4).  Each range
 * that lies inside the memory table and is 4 KiB aligned (address and
 * length) is discarded: a hole is punched in the region's file (shared
 * memfd guest memory), or MADV_DONTNEED for memory without a file, or
 * MADV_FREE with --madv-free.  Anything else is refused with a log line
 * and left alone, and so are ranges that overlap another range of the
 * same buffer.  Refused ranges are counted (the "rejected" figure printed
 * at each disconnect and at exit).  The buffer goes back with used length
 * 0 (the device writes nothing) and the driver is signalled.
 *
 * Inflate and deflate queues: buffers are accepted and returned untouched
 * (no-op: this device never asks the guest to inflate, num_pages stays 0).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloon.h"

/* Rejection lines printed per connection before going quiet. */
#define BR_LOG_LIMIT 32
/* A range may span this many regions at most. */
#define BR_MAX_PIECES 8

static struct br_device *br_of(struct vqcore_vu_dev *dev)
{
	return vqcore_vu_opaque(dev);
}

static void br_reject(struct br_device *d, uint64_t addr, uint64_t len,
		      const char *why)
{
	d->conn.rejected++;
	if (d->logged < BR_LOG_LIMIT)
		fprintf(stderr, "balloon-report: rejected range %#llx+%#llx: %s\n",
			(unsigned long long)addr, (unsigned long long)len, why);
	else if (d->logged == BR_LOG_LIMIT)
		fprintf(stderr, "balloon-report: more rejected ranges, "
			"not logging them any more on this connection\n");
	d->logged++;
}

struct br_piece {
	struct vqcore_mem_region reg;
	uint64_t gpa, len;
};

/*
 * Check one reported range completely before touching anything: aligned,
 * non-empty, no wrap, every byte inside the memory table, and each piece
 * page aligned in its mapping and file.  Returns the number of pieces, or
 * 0 after logging why it is refused.
 */
static unsigned br_check(struct br_device *d, const struct vqcore_mem *mem,
			 const struct vhost_desc *ds, struct br_piece *pc)
{
	uint64_t addr = ds->addr, len = ds->len, end, pos;
	unsigned n = 0;

	if (!(ds->flags & VHOST_DESC_F_WRITE)) {
		br_reject(d, addr, len, "device-readable descriptor");
		return 0;
	}
	if (!len) {
		br_reject(d, addr, len, "empty range");
		return 0;
	}
	if ((addr | len) & (VQCORE_BALLOON_PAGE - 1)) {
		br_reject(d, addr, len, "not 4 KiB aligned");
		return 0;
	}
	if (__builtin_add_overflow(addr, len, &end)) {
		br_reject(d, addr, len, "wraps past 2^64");
		return 0;
	}
	for (pos = addr; pos < end; n++) {
		struct br_piece *p = &pc[n];
		uint64_t off, room;

		if (n == BR_MAX_PIECES) {
			br_reject(d, addr, len, "spans too many regions");
			return 0;
		}
		if (vqcore_mem_find(mem, pos, &p->reg)) {
			br_reject(d, addr, len, "outside the memory table");
			return 0;
		}
		off = pos - p->reg.gpa;
		room = p->reg.size - off;
		p->gpa = pos;
		p->len = end - pos < room ? end - pos : room;
		if ((((uintptr_t)p->reg.hva + off) & (VQCORE_BALLOON_PAGE - 1)) ||
		    (p->reg.fd >= 0 &&
		     ((p->reg.fd_offset + off) & (VQCORE_BALLOON_PAGE - 1)))) {
			br_reject(d, addr, len, "region not page aligned");
			return 0;
		}
		pos += p->len;
	}
	return n;
}

static void br_discard(struct br_device *d, const struct br_piece *p)
{
	uint64_t off = p->gpa - p->reg.gpa;
	void *hva = (uint8_t *)p->reg.hva + off;
	int mode = p->reg.fd >= 0 ? VQCORE_DISCARD_PUNCH : VQCORE_DISCARD_DONTNEED;
	int err;

	if (d->madv_free) {
		err = vqcore_discard(-1, 0, hva, p->len, VQCORE_DISCARD_FREE);
		if (!err)
			goto done;
		/* MADV_FREE works on private anonymous memory only; shared
		 * (memfd) guest memory refuses it: fall back. */
		if (!d->madv_free_warned)
			fprintf(stderr, "balloon-report: MADV_FREE refused (%s); "
				"using %s\n", vqcore_strerror(err),
				mode == VQCORE_DISCARD_PUNCH ? "a hole punch"
							      : "MADV_DONTNEED");
		d->madv_free_warned = true;
	}
	err = vqcore_discard(p->reg.fd, p->reg.fd_offset + off, hva, p->len, mode);
	if (err) {
		d->conn.errors++;
		fprintf(stderr, "balloon-report: discard %#llx+%#llx: %s\n",
			(unsigned long long)p->gpa, (unsigned long long)p->len,
			vqcore_strerror(err));
		return;
	}
done:
	d->conn.ranges++;
	d->conn.bytes += p->len;
}

/* Sort @n ranges by start address, in place (heapsort: no allocation). */
static void br_sift(struct br_range *r, unsigned i, unsigned n)
{
	for (;;) {
		unsigned c = 2 * i + 1;
		struct br_range t;

		if (c >= n)
			return;
		if (c + 1 < n && r[c + 1].addr > r[c].addr)
			c++;
		if (r[i].addr >= r[c].addr)
			return;
		t = r[i];
		r[i] = r[c];
		r[c] = t;
		i = c;
	}
}

static void br_sort(struct br_range *r, unsigned n)
{
	for (unsigned i = n / 2; i-- > 0;)
		br_sift(r, i, n);
	while (n > 1) {
		struct br_range t = r[0];

		r[0] = r[--n];
		r[n] = t;
		br_sift(r, 0, n);
	}
}

/*
 * One reporting buffer: every range is checked alone (br_check()), then
 * the good ones are sorted and any two that overlap are both refused (a
 * driver reports each free page once per buffer: an overlap is a broken
 * or hostile driver).  The rest are discarded.
 */
static void br_report_buf(struct br_device *d, const struct vqcore_mem *mem,
			  const struct vhost_buf *b, const struct vhost_desc *desc,
			  struct br_range *rg)
{
	unsigned cnt = (unsigned)b->out_num + b->in_num, n = 0;
	struct br_piece pc[BR_MAX_PIECES];
	uint64_t maxend = 0;

	for (unsigned i = 0; i < cnt; i++) {
		const struct vhost_desc *ds = &desc[b->first + i];

		if (br_check(d, mem, ds, pc)) {
			rg[n].addr = ds->addr;
			rg[n].end = ds->addr + ds->len;
			rg[n].overlap = false;
			rg[n].ds = ds;
			n++;
		}
	}
	br_sort(rg, n);
	for (unsigned i = 0; i < n; i++) {
		/* overlaps an earlier one (they start no later) or the next
		 * one (the first of the later ones to start) */
		if ((i > 0 && rg[i].addr < maxend) || (i + 1 < n && rg[i + 1].addr < rg[i].end))
			rg[i].overlap = true;
		if (rg[i].end > maxend)
			maxend = rg[i].end;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned np;

		if (rg[i].overlap) {
			br_reject(d, rg[i].addr, rg[i].end - rg[i].addr,
				  "overlaps another range of the buffer");
			continue;
		}
		np = br_check(d, mem, rg[i].ds, pc);
		for (unsigned k = 0; k < np; k++)
			br_discard(d, &pc[k]);
	}
	if (d->verbose)
		fprintf(stderr, "balloon-report: buffer %u: %u ranges\n", b->id, cnt);
}

static void br_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct br_device *d = br_of(dev);
	struct vqcore_mem *mem = vqcore_vu_mem(dev);
	struct vhost_buf bufs[16];
	int n;

	if (qidx >= BR_NUM_QUEUES || !d->desc[qidx])
		return;
	do {
		vqcore_vq_disable_notify(vq);
		for (;;) {
			/* guest addresses: nothing to translate for the no-op
			 * queues, and the reporting queue needs them */
			n = vqcore_vq_get_bufs_desc(vq, bufs, 16, d->desc[qidx],
						    d->ndesc[qidx]);
			if (n <= 0)
				break;
			for (int i = 0; i < n; i++) {
				if (qidx == VQCORE_BALLOON_VQ_REPORTING) {
					br_report_buf(d, mem, &bufs[i], d->desc[qidx],
						      d->ranges);
					d->conn.buffers++;
				} else {
					d->conn.other++;
				}
			}
			/* used length 0: the device writes nothing */
			n = vqcore_vq_put_used(vq, bufs, NULL, (unsigned)n);
			if (n < 0)
				break;
			vqcore_vq_signal(vq);
		}
		if (n < 0) {
			fprintf(stderr, "balloon-report: queue %u: %s\n", qidx,
				vqcore_strerror(n));
			return; /* broken: the library logged why */
		}
	} while (vqcore_vq_enable_notify(vq));
}

static void br_queue_started(struct vqcore_vu_dev *dev, unsigned qidx,
			     struct vqcore_vq *vq)
{
	struct br_device *d = br_of(dev);
	unsigned num = vqcore_vq_num(vq);

	if (qidx >= BR_NUM_QUEUES)
		return;
	/* One buffer has at most @num descriptors (chain or indirect table). */
	free(d->desc[qidx]);
	d->desc[qidx] = calloc(num, sizeof(struct vhost_desc));
	d->ndesc[qidx] = num;
	if (qidx == VQCORE_BALLOON_VQ_REPORTING) {
		free(d->ranges);
		d->ranges = calloc(num, sizeof(struct br_range));
	}
	if (!d->desc[qidx] || (qidx == VQCORE_BALLOON_VQ_REPORTING && !d->ranges)) {
		fprintf(stderr, "balloon-report: out of memory\n");
		exit(1);
	}
}

static void br_queue_stopped(struct vqcore_vu_dev *dev, unsigned qidx,
			     struct vqcore_vq *vq)
{
	struct br_device *d = br_of(dev);

	(void)vq;
	if (qidx >= BR_NUM_QUEUES)
		return;
	/* Nothing is held across callbacks: every buffer went back already. */
	free(d->desc[qidx]);
	d->desc[qidx] = NULL;
	if (qidx == VQCORE_BALLOON_VQ_REPORTING) {
		free(d->ranges);
		d->ranges = NULL;
	}
}

/*
 * Config space: struct virtio_balloon_config up to @actual, 8 bytes (le32
 * num_pages, le32 actual).  The later fields belong to features this
 * device does not offer (FREE_PAGE_HINT, PAGE_POISON), so a front-end is
 * set up with config_size=8.
 */
static bool br_config_range_ok(const char *what, uint32_t offset, uint32_t len)
{
	if (len && offset < BR_CONFIG_SIZE && len <= BR_CONFIG_SIZE - offset)
		return true;
	fprintf(stderr, "balloon-report: config %s of %u bytes at offset %u refused: "
		"the config space is %u bytes (num_pages, actual)\n", what, len, offset,
		BR_CONFIG_SIZE);
	return false;
}

static int br_get_config(struct vqcore_vu_dev *dev, uint32_t offset, void *buf,
			 uint32_t len)
{
	struct br_device *d = br_of(dev);
	uint8_t cfg[BR_CONFIG_SIZE];

	if (!br_config_range_ok("read", offset, len))
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++) {
		cfg[i] = (uint8_t)(d->num_pages >> (8 * i));
		cfg[4 + i] = (uint8_t)(d->actual >> (8 * i));
	}
	memcpy(buf, cfg + offset, len);
	return 0;
}

/*
 * The driver may write @actual only (virtio 1.2 section 5.5.6: num_pages
 * is the device's).  A front-end may still write the whole config: QEMU's
 * generic vhost-user device writes all 8 bytes at offset 0 when the guest
 * writes @actual (e.g. on rmmod virtio_balloon).  The bytes of @actual
 * that the write covers are taken; the bytes of num_pages are ignored.
 */
static int br_set_config(struct vqcore_vu_dev *dev, uint32_t offset,
			 const void *buf, uint32_t len, uint32_t flags)
{
	struct br_device *d = br_of(dev);
	uint8_t cfg[BR_CONFIG_SIZE];

	(void)flags;
	if (!br_config_range_ok("write", offset, len))
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++) {
		cfg[i] = (uint8_t)(d->num_pages >> (8 * i));
		cfg[4 + i] = (uint8_t)(d->actual >> (8 * i));
	}
	memcpy(cfg + offset, buf, len);
	d->actual = (uint32_t)cfg[4] | (uint32_t)cfg[5] << 8 | (uint32_t)cfg[6] << 16 |
		    (uint32_t)cfg[7] << 24;
	if (d->verbose)
		fprintf(stderr, "balloon-report: actual = %u pages\n", d->actual);
	return 0;
}

static void br_connected(struct vqcore_vu_dev *dev)
{
	struct br_device *d = br_of(dev);

	memset(&d->conn, 0, sizeof(d->conn));
	d->logged = 0;
	if (d->verbose)
		fprintf(stderr, "balloon-report: front-end connected\n");
}

static void br_disconnected(struct vqcore_vu_dev *dev)
{
	struct br_device *d = br_of(dev);

	fprintf(stderr, "balloon-report: front-end gone: %llu reports, %llu ranges, "
		"%llu MiB discarded, %llu rejected, %llu errors\n",
		(unsigned long long)d->conn.buffers,
		(unsigned long long)d->conn.ranges,
		(unsigned long long)(d->conn.bytes >> 20),
		(unsigned long long)d->conn.rejected,
		(unsigned long long)d->conn.errors);
	d->total.buffers += d->conn.buffers;
	d->total.ranges += d->conn.ranges;
	d->total.bytes += d->conn.bytes;
	d->total.rejected += d->conn.rejected;
	d->total.errors += d->conn.errors;
	d->total.other += d->conn.other;
	memset(&d->conn, 0, sizeof(d->conn));
}

const struct vqcore_vu_ops br_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.get_config = br_get_config,
	.set_config = br_set_config,
	.queue_started = br_queue_started,
	.queue_stopped = br_queue_stopped,
	.kick = br_kick,
	.connected = br_connected,
	.disconnected = br_disconnected,
};
