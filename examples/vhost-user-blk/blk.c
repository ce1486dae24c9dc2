/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk: a virtio-blk device backend serving a disk image file
 * through libvqcore's vhost-user backend.  QEMU (vhost-user-blk-pci), DPDK
 * virtio-user or our own client (vqcore_vuc_*) connect to its socket.
 *
 *   vhost-user-blk --socket-path=PATH --blk-file=FILE [--read-only]
 *                  [--queues=N] [--poll] [--no-packed] [--no-in-order]
 *
 * What it shows a backend author:
 *  - the feature offer (ring features from the library, blk features here)
 *    and the config space (virtio 1.2 section 5.2.4);
 *  - byte order: the request header, the discard segments and the config
 *    space are little-endian on every host; vqcore_le*_to_cpu() and
 *    vqcore_cpu_to_le*() convert them (a no-op on little-endian hosts);
 *  - one kick callback for every queue, written in the library's pattern:
 *    disable_notify, then get/work/put/signal until the ring is empty, then
 *    enable_notify (which reports buffers that raced with it);
 *  - zero copy: preadv/pwritev run on the iovecs the library built over
 *    guest memory;
 *  - every request is checked (header size, status byte, sector range
 *    without overflow) and a bad one gets IOERR or UNSUPP, never a crash;
 *  - vqcore_vu_get_bufs/vqcore_vu_put_used, the wrappers that keep the
 *    inflight record, so a restarted backend finishes what a killed one
 *    had fetched;
 *  - the library's event loop (vqcore_vu_run) or, with --poll, a loop of
 *    our own over vqcore_vu_get_fds/vqcore_vu_dispatch that polls the
 *    rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

/* ---- virtio-blk definitions (virtio 1.2, section 5.2) ---- */

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 0x1

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1u << SECTOR_SHIFT)

/* The wire layouts below are little-endian on every host (virtio 1.x):
 * their fields are converted with vqcore_cpu_to_le*() / vqcore_le*_to_cpu(). */
struct virtio_blk_config {
	uint64_t capacity;          /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config layout");
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio_blk_outhdr layout");

/* ---- the device ---- */

#define BATCH 32            /* buffers fetched per call */
#define MAX_IOV 1024        /* iovecs for one batch (cached buffers wait) */
#define SEG_MAX 126         /* data segments per request we advertise */
#define MAX_DWZ_SEG 16      /* discard / write-zeroes segments per request */
#define MAX_DWZ_SECTORS (1u << 22) /* 2 GiB per segment */

/* QEMU's vhost-user-blk-pci asks for one queue per vCPU unless num-queues
 * is set, and refuses a backend that offers fewer; QEMU's contrib backend
 * offers 8. */
#define DEFAULT_QUEUES 8

struct blk {
	int fd;
	uint64_t capacity;      /* sectors */
	bool read_only;
	bool poll_mode;
	unsigned num_queues;
	unsigned latency_us;    /* --latency-us: emulate a slower disk */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config config;
	struct vqcore_vu_dev *dev;
	uint64_t requests;      /* for the exit summary */
	uint64_t errors;
};

static struct vqcore_vu_dev *g_dev; /* for the signal handler */
static volatile sig_atomic_t g_stop;


/*
 * Make @dst describe bytes [@off, @off + @len) of @src: pointers into the
 * same guest memory, no copy.  Returns the iovec count, or -1 when it does
 * not fit in @max.
 */
static int iov_slice(const struct iovec *src, unsigned cnt, size_t off,
		     size_t len, struct iovec *dst, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len; i++) {
		size_t take;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		take = src[i].iov_len - off;
		if (take > len)
			take = len;
		if (n == max)
			return -1;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n++].iov_len = take;
		len -= take;
		off = 0;
	}
	return (int)n;
}

/* preadv/pwritev until all of @iov moved; 0 or -errno (-EIO on EOF). */
static int rw_all(int fd, struct iovec *iov, int cnt, off_t off, bool write)
{
	while (cnt > 0) {
		ssize_t r = write ? pwritev(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, off)
				  : preadv(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		off += r;
		/* skip what moved; a partial iovec is shortened in place
		 * (it is our slice, not the library's array) */
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Is [sector, sector + bytes / 512) inside the disk?  Overflow-safe. */
static bool range_ok(const struct blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t nsec;

	if (bytes % SECTOR_SIZE)
		return false;
	nsec = bytes >> SECTOR_SHIFT;
	return sector <= b->capacity && nsec <= b->capacity - sector;
}

static uint8_t do_discard_wz(struct blk *b, uint32_t type, const struct iovec *out,
			     unsigned out_num, size_t off, size_t len)
{
	struct virtio_blk_discard_write_zeroes seg;
	size_t nseg = len / sizeof(seg);

	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!nseg || len % sizeof(seg) || nseg > MAX_DWZ_SEG)
		return VIRTIO_BLK_S_UNSUPP;
	for (size_t i = 0; i < nseg; i++) {
		uint64_t sector;
		uint32_t num_sectors, flags;
		int mode;

		vqcore_iov_read(out, out_num, off + i * sizeof(seg), &seg, sizeof(seg));
		sector = vqcore_le64_to_cpu(seg.sector);
		num_sectors = vqcore_le32_to_cpu(seg.num_sectors);
		flags = vqcore_le32_to_cpu(seg.flags);
		if (num_sectors > MAX_DWZ_SECTORS ||
		    !range_ok(b, sector, (uint64_t)num_sectors << SECTOR_SHIFT))
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_DISCARD) {
			if (flags)
				return VIRTIO_BLK_S_UNSUPP;
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		} else {
			if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
				return VIRTIO_BLK_S_UNSUPP;
			/* punching reads back as zeroes too */
			mode = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
				       ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
				       : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		}
		if (!num_sectors)
			continue;
		if (fallocate(b->fd, mode, (off_t)(sector << SECTOR_SHIFT),
			      (off_t)num_sectors << SECTOR_SHIFT) < 0) {
			/* discard is a hint: a file system without hole
			 * punching still succeeds; write zeroes must not */
			if (type == VIRTIO_BLK_T_DISCARD && errno == EOPNOTSUPP)
				continue;
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

/*
 * Serve one request.  Layout (section 5.2.6): a readable header
 * {type, ioprio, sector}, readable data for writes, writable data for
 * reads, and one writable status byte at the very end.  Returns the bytes
 * written into the buffer (data + status), the used length.
 */
static uint32_t handle_request(struct blk *b, const struct vhost_buf *buf,
			       const struct iovec *iov)
{
	const struct iovec *out = &iov[buf->first];
	const struct iovec *in = out + buf->out_num;
	struct iovec data[SEG_MAX + 8];
	struct virtio_blk_outhdr hdr;
	uint64_t sector;
	uint32_t type;
	size_t data_len;
	uint32_t used = 1;
	uint8_t status;
	int n, r;

	b->requests++;
	if (b->latency_us)
		usleep(b->latency_us);
	/* without a writable byte there is nowhere to put a status: the
	 * driver gets its buffer back untouched */
	if (buf->in_len < 1) {
		b->errors++;
		return 0;
	}
	if (buf->out_len < sizeof(hdr)) {
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	vqcore_iov_read(out, buf->out_num, 0, &hdr, sizeof(hdr));
	type = vqcore_le32_to_cpu(hdr.type);
	sector = vqcore_le64_to_cpu(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		data_len = buf->in_len - 1;
		if (!range_ok(b, sector, data_len)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		n = iov_slice(in, buf->in_num, 0, data_len, data, ARRAY_SIZE(data));
		if (n < 0) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		r = rw_all(b->fd, data, n, (off_t)(sector << SECTOR_SHIFT), false);
		status = r ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		if (!r)
			used += (uint32_t)data_len;
		break;
	case VIRTIO_BLK_T_OUT:
		data_len = buf->out_len - sizeof(hdr);
		if (b->read_only || !range_ok(b, sector, data_len)) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		n = iov_slice(out, buf->out_num, sizeof(hdr), data_len, data,
			      ARRAY_SIZE(data));
		if (n < 0) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		r = rw_all(b->fd, data, n, (off_t)(sector << SECTOR_SHIFT), true);
		status = r ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = fdatasync(b->fd) < 0 && errno != EINVAL ? VIRTIO_BLK_S_IOERR
								  : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		/* up to 20 bytes, not NUL-terminated when all 20 are used */
		data_len = buf->in_len - 1;
		if (data_len > VIRTIO_BLK_ID_BYTES)
			data_len = VIRTIO_BLK_ID_BYTES;
		used += (uint32_t)vqcore_iov_write(in, buf->in_num, 0, b->serial, data_len);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = do_discard_wz(b, type, out, buf->out_num, sizeof(hdr),
				       buf->out_len - sizeof(hdr));
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	if (status != VIRTIO_BLK_S_OK)
		b->errors++;
	/* the status is the last writable byte */
	vqcore_iov_write(in, buf->in_num, buf->in_len - 1, &status, 1);
	return used;
}

/*
 * Drain queue @qidx: fetch a batch, serve it, return it, signal.  Returns
 * the number of requests served, or a negative error when the ring is
 * broken (the library has then flagged the queue; nothing else to do).
 */
static int process_queue(struct blk *b, unsigned qidx)
{
	struct vhost_buf bufs[BATCH];
	static struct iovec iov[MAX_IOV]; /* one loop thread: safe to share */
	uint32_t lens[BATCH];
	int total = 0, n, r;

	while ((n = vqcore_vu_get_bufs(b->dev, qidx, bufs, BATCH, iov, MAX_IOV)) > 0) {
		for (int i = 0; i < n; i++)
			lens[i] = handle_request(b, &bufs[i], iov);
		r = vqcore_vu_put_used(b->dev, qidx, bufs, lens, (unsigned)n);
		if (r < 0) {
			n = r;
			break;
		}
		vqcore_vq_signal(vqcore_vu_queue(b->dev, qidx));
		total += n;
	}
	if (n < 0) {
		fprintf(stderr, "vhost-user-blk: queue %u: %s\n", qidx, vqcore_strerror(n));
		return n;
	}
	return total;
}

/* Kick callback, the same for every queue: the library's pattern. */
static void blk_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct blk *b = vqcore_vu_opaque(dev);

	if (b->poll_mode) {
		/* the poll loop does the work; no kicks wanted */
		vqcore_vq_disable_notify(vq);
		return;
	}
	do {
		vqcore_vq_disable_notify(vq);
		if (process_queue(b, qidx) < 0)
			return;
	} while (vqcore_vq_enable_notify(vq));
}

static int blk_get_config(struct vqcore_vu_dev *dev, uint32_t offset, void *buf,
			  uint32_t len)
{
	struct blk *b = vqcore_vu_opaque(dev);

	if (offset > sizeof(b->config) || len > sizeof(b->config) - offset)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&b->config + offset, len);
	return 0;
}

static int blk_set_config(struct vqcore_vu_dev *dev, uint32_t offset,
			  const void *buf, uint32_t len, uint32_t flags)
{
	/* nothing is writable (no CONFIG_WCE): ignore, as QEMU does */
	return 0;
}

static void blk_connected(struct vqcore_vu_dev *dev)
{
	fprintf(stderr, "vhost-user-blk: front-end connected\n");
}

static void blk_disconnected(struct vqcore_vu_dev *dev)
{
	struct blk *b = vqcore_vu_opaque(dev);

	fprintf(stderr, "vhost-user-blk: front-end gone (%" PRIu64 " requests, %"
		PRIu64 " errors so far)\n", b->requests, b->errors);
}

static void blk_queue_started(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq)
{
	int pending = vqcore_vu_inflight_pending(dev, qidx, NULL, 0);

	fprintf(stderr, "vhost-user-blk: queue %u started (%s ring, %u entries%s)\n",
		qidx, vqcore_vq_format(vq) == VQCORE_FORMAT_PACKED ? "packed" : "split",
		vqcore_vq_num(vq), pending > 0 ? ", resubmitting in-flight requests" : "");
}

static void on_signal(int sig)
{
	g_stop = 1;
	if (g_dev)
		vqcore_vu_stop(g_dev); /* async-signal-safe: writes an eventfd */
}

/* --poll: our own loop.  Control messages through vqcore_vu_dispatch(),
 * rings polled without waiting for kicks. */
static int run_poll(struct blk *b)
{
	struct vqcore_vu_fd fds[VQCORE_VU_MAX_QUEUES + 2];
	struct pollfd pfd[VQCORE_VU_MAX_QUEUES + 2];
	unsigned idle = 0;
	int nfds = 0;
	bool refresh = true;

	while (!g_stop) {
		int busy = 0, r;

		if (refresh) {
			nfds = vqcore_vu_get_fds(b->dev, fds, ARRAY_SIZE(fds));
			if (nfds > (int)ARRAY_SIZE(fds))
				nfds = ARRAY_SIZE(fds);
			for (int i = 0; i < nfds; i++)
				pfd[i] = (struct pollfd){ .fd = fds[i].fd, .events = POLLIN };
			refresh = false;
		}
		/* sleep in poll() only after a long idle stretch */
		r = poll(pfd, (nfds_t)nfds, idle > 100000 ? 1 : 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; r > 0 && i < nfds; i++) {
			if (!pfd[i].revents)
				continue;
			if (vqcore_vu_dispatch(b->dev, pfd[i].fd) != 0)
				refresh = true;
		}
		for (unsigned q = 0; q < b->num_queues; q++)
			if (vqcore_vu_queue(b->dev, q))
				busy += process_queue(b, q) > 0;
		idle = busy ? 0 : idle + 1;
		if (idle > 1000 && !(idle % 1000))
			sched_yield();
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --socket-path=PATH --blk-file=FILE [options]\n"
		"A vhost-user virtio-blk device backend serving FILE as a disk.\n"
		"  --socket-path=PATH  unix socket to listen on\n"
		"  --blk-file=FILE     disk image (raw)\n"
		"  --read-only     refuse writes (offers VIRTIO_BLK_F_RO)\n"
		"  --queues=N      most request queues the front-end may enable (1..%u,\n"
		"                  default %u); GET_QUEUE_NUM and the config space\n"
		"                  say N, queues never enabled stay idle\n"
		"  --serial=ID     disk id returned by GET_ID (20 bytes at most)\n"
		"  --poll          poll the rings instead of waiting for kicks\n"
		"  --latency-us=N  emulate a slow disk: N microseconds per request\n"
		"  --no-packed     do not offer VIRTIO_F_RING_PACKED\n"
		"  --no-in-order   do not offer VIRTIO_F_IN_ORDER\n"
		"  --help          this text\n"
		"SIGINT or SIGTERM end it.  Installed as vqcore-blk (man 8 vqcore-blk).\n",
		program_invocation_short_name, VQCORE_VU_MAX_QUEUES, DEFAULT_QUEUES);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "blk-file", required_argument, NULL, 'f' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "queues", required_argument, NULL, 'q' },
		{ "serial", required_argument, NULL, 'i' },
		{ "poll", no_argument, NULL, 'p' },
		{ "latency-us", required_argument, NULL, 'l' },
		{ "no-packed", no_argument, NULL, 'P' },
		{ "no-in-order", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sock_path = NULL, *file = NULL, *serial = "vqcore-blk";
	struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.get_config = blk_get_config,
		.set_config = blk_set_config,
		.queue_started = blk_queue_started,
		.kick = blk_kick,
		.connected = blk_connected,
		.disconnected = blk_disconnected,
	};
	struct blk b = { .fd = -1, .num_queues = DEFAULT_QUEUES };
	struct sigaction sa;
	bool packed = true, in_order = true;
	uint64_t features;
	unsigned flags = VQCORE_VU_SERVER;
	off_t size;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'f': file = optarg; break;
		case 'r': b.read_only = true; break;
		case 'i': serial = optarg; break;
		case 'p': b.poll_mode = true; break;
		case 'l': b.latency_us = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': packed = false; break;
		case 'O': in_order = false; break;
		case 'q': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 1 || v > VQCORE_VU_MAX_QUEUES) {
				fprintf(stderr, "vhost-user-blk: bad --queues=%s\n", optarg);
				return 2;
			}
			b.num_queues = (unsigned)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock_path || !file || optind != argc) {
		usage(stderr);
		return 2;
	}

	b.fd = open(file, (b.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b.fd < 0) {
		fprintf(stderr, "vhost-user-blk: %s: %s\n", file, strerror(errno));
		return 1;
	}
	size = lseek(b.fd, 0, SEEK_END); /* works for files and block devices */
	if (size < 0) {
		fprintf(stderr, "vhost-user-blk: %s: %s\n", file, strerror(errno));
		return 1;
	}
	b.capacity = (uint64_t)size >> SECTOR_SHIFT;
	strncpy(b.serial, serial, sizeof(b.serial)); /* zero-padded, may lack NUL */

	/* Config space (section 5.2.4), little-endian; fields without a
	 * feature stay 0. */
	b.config.capacity = vqcore_cpu_to_le64(b.capacity);
	b.config.seg_max = vqcore_cpu_to_le32(SEG_MAX);
	b.config.blk_size = vqcore_cpu_to_le32(SECTOR_SIZE);
	b.config.num_queues = vqcore_cpu_to_le16((uint16_t)b.num_queues);
	b.config.max_discard_sectors = vqcore_cpu_to_le32(MAX_DWZ_SECTORS);
	b.config.max_discard_seg = vqcore_cpu_to_le32(MAX_DWZ_SEG);
	b.config.discard_sector_alignment = vqcore_cpu_to_le32(1);
	b.config.max_write_zeroes_sectors = vqcore_cpu_to_le32(MAX_DWZ_SECTORS);
	b.config.max_write_zeroes_seg = vqcore_cpu_to_le32(MAX_DWZ_SEG);
	b.config.write_zeroes_may_unmap = 1;

	/* Ring features (the library implements them) and blk features. */
	features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
		   VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
		   VQCORE_BIT(VIRTIO_BLK_F_SEG_MAX) | VQCORE_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		   VQCORE_BIT(VIRTIO_BLK_F_FLUSH) | VQCORE_BIT(VIRTIO_BLK_F_MQ);
	if (packed)
		features |= VQCORE_BIT(VQCORE_F_RING_PACKED);
	else
		flags |= VQCORE_VU_NO_PACKED;
	if (in_order)
		features |= VQCORE_BIT(VQCORE_F_IN_ORDER);
	if (b.read_only)
		features |= VQCORE_BIT(VIRTIO_BLK_F_RO);
	else
		features |= VQCORE_BIT(VIRTIO_BLK_F_DISCARD) |
			    VQCORE_BIT(VIRTIO_BLK_F_WRITE_ZEROES);

	r = vqcore_vu_new(sock_path, flags, b.num_queues, features, &ops, &b, &b.dev);
	if (r) {
		fprintf(stderr, "vhost-user-blk: %s: %s\n", sock_path, vqcore_strerror(r));
		return 1;
	}
	g_dev = b.dev;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a vanished front-end is an EPIPE, not a death */

	fprintf(stderr, "vhost-user-blk: serving %s (%" PRIu64 " sectors%s, %u queue%s%s) on %s\n",
		file, b.capacity, b.read_only ? ", read-only" : "", b.num_queues,
		b.num_queues > 1 ? "s" : "", b.poll_mode ? ", polling" : "", sock_path);
	r = b.poll_mode ? run_poll(&b) : vqcore_vu_run(b.dev);
	if (r)
		fprintf(stderr, "vhost-user-blk: event loop: %s\n", vqcore_strerror(r));

	g_dev = NULL;
	vqcore_vu_free(b.dev);
	close(b.fd);
	fprintf(stderr, "vhost-user-blk: exit (%" PRIu64 " requests, %" PRIu64 " errors)\n",
		b.requests, b.errors);
	return r ? 1 : 0;
}
