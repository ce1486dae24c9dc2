/* SPDX-License-Identifier: MIT */
/*
 * Description: the example backends, examples/vhost-user-blk,
 * examples/vhost-user-net and examples/vhost-user-rng, each run as its
 * own process (the binaries of this build tree) and driven by our
 * vhost-user client over a real unix socket, memfd guest memory and eventfds, on the split ring and on the
 * packed ring (when the core has it: then it must be negotiated).
 * blk: blocks of several sizes written and read back (one and many
 * segments, direct and indirect), on two queues at once, checked in the
 * disk file too; GET_ID; FLUSH; config space; out-of-range, short-header,
 * missing-status and unknown requests answered with IOERR/UNSUPP; a
 * read-only disk; a backend killed with SIGKILL mid-traffic and restarted
 * loses no acknowledged write and finishes the requests it had taken.
 * net: frames echoed byte for byte (loopback), with swapped MACs
 * (macswap), over several small rx buffers (MRG_RXBUF); ARP and ICMP echo
 * answered with correct checksums and other traffic dropped (icmpecho);
 * a guest that stops taking rx frames while its driver floods tx (frames
 * wait on the tx ring, none lost, backend memory flat), frames too big for
 * the rx buffers and tx chains with a bad header (dropped and counted).
 * rng (examples/vhost-user-rng on a --source file of known bytes):
 * writable buffers get the file's bytes in order, buffers without a
 * writable part are completed with 0 bytes and logged once, and
 * --max-bytes serves exactly the quota (the last buffer partly).
 * Every backend must exit with status 0 on SIGTERM.
 */
#include <check.h>
#include "vqtest.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exproc.h"
#include "vu_harness.h"
#include "vqcore/vqcore.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static bool packed_built(void)
{
	struct vqcore_ring_layout l;

	return vqcore_ring_layout(VQCORE_FORMAT_PACKED, 256, 0, &l) == 0;
}

/* Loop tests run over _i = format; the packed run is a no-op (with a
 * note) only while the core is built without the packed format. */
#define SKIP_UNBUILT_FORMAT(fmt)                                                 \
	do {                                                                     \
		if ((fmt) == VQCORE_FORMAT_PACKED && !packed_built()) {          \
			fprintf(stderr, "%s: packed format not built, not run\n", \
				__func__);                                       \
			return;                                                  \
		}                                                                \
	} while (0)

static const uint64_t ring_features =
	VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
	VQCORE_BIT(VQCORE_F_INDIRECT_DESC) | VQCORE_BIT(VQCORE_F_IN_ORDER);

/* ======================================================================
 * vhost-user-blk
 * ====================================================================== */

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define DISK_MIB 16
#define DISK_SECTORS (DISK_MIB * 2048ull)
#define SLOTS 64                 /* requests in flight per batch */
#define DATA_BYTES (4u << 20)    /* data area of the client */

struct blkt {
	struct exproc p;
	char disk[128];
	struct vqcore_vuc *c;
	unsigned nq;
	unsigned format;
	uint8_t *hdr;                /* SLOTS * 16 per queue */
	uint64_t hdr_gpa;
	uint8_t *st;                 /* SLOTS status bytes per queue */
	uint64_t st_gpa;
	uint8_t *data;
	uint64_t data_gpa;
};

struct breq {
	uint32_t type;
	uint64_t sector;
	uint32_t off;                /* in the data area */
	uint32_t len;                /* data bytes */
	unsigned nseg;               /* data segments */
	bool indirect;
	bool no_status;              /* hostile: no writable status byte */
	uint32_t hdr_len;            /* 16 unless hostile */
	/* results */
	uint8_t status;
	uint32_t used;
	bool done;
};

static void blk_start_backend(struct blkt *t, unsigned nq, bool ro, bool packed)
{
	char bin[256], a_sock[160], a_file[160], a_q[32];
	char *argv[8];
	unsigned n = 0;
	int fd;

	ck_assert_int_eq(exproc_init(&t->p), 0);
	snprintf(t->disk, sizeof(t->disk), "%s/disk.img", t->p.dir);
	fd = open(t->disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK_MIB << 20), 0);
	close(fd);
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", t->p.sock);
	snprintf(a_file, sizeof(a_file), "--blk-file=%s", t->disk);
	snprintf(a_q, sizeof(a_q), "--queues=%u", nq);
	argv[n++] = (char *)exproc_bin("vhost-user-blk", bin, sizeof(bin));
	argv[n++] = a_sock;
	argv[n++] = a_file;
	if (nq) /* 0: the default */
		argv[n++] = a_q;
	if (ro)
		argv[n++] = "--read-only";
	if (!packed)
		argv[n++] = "--no-packed";
	argv[n] = NULL;
	ck_assert_int_eq(exproc_start(&t->p, argv), 0);
}

static void blk_connect(struct blkt *t, unsigned nq, unsigned format)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = 16 << 20,
		.num_queues = nq,
		.queue_size = 256,
		.features = ring_features | VQCORE_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VQCORE_BIT(VIRTIO_BLK_F_BLK_SIZE) | VQCORE_BIT(VIRTIO_BLK_F_FLUSH) |
			    VQCORE_BIT(VIRTIO_BLK_F_MQ) | VQCORE_BIT(VIRTIO_BLK_F_RO) |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};

	t->nq = nq;
	t->format = format;
	ck_assert_int_eq(vqcore_vuc_connect(t->p.sock, &cfg, &t->c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(t->c), format);
	ck_assert_int_eq(vqcore_vuc_start(t->c), 0);
	t->hdr_gpa = vqcore_vuc_alloc(t->c, (uint64_t)nq * SLOTS * 16, 64, (void **)&t->hdr);
	t->st_gpa = vqcore_vuc_alloc(t->c, (uint64_t)nq * SLOTS, 64, (void **)&t->st);
	t->data_gpa = vqcore_vuc_alloc(t->c, DATA_BYTES, 4096, (void **)&t->data);
	ck_assert(t->hdr_gpa && t->st_gpa && t->data_gpa);
}

static void blk_setup(struct blkt *t, unsigned nq, unsigned format)
{
	memset(t, 0, sizeof(*t));
	blk_start_backend(t, nq, false, true);
	blk_connect(t, nq, format);
}

static void blk_teardown(struct blkt *t)
{
	vqcore_vuc_free(t->c);
	t->c = NULL;
	/* SIGTERM must give a clean exit */
	ck_assert_int_eq(exproc_stop(&t->p), 0);
	exproc_cleanup(&t->p);
}

/* Add request @i of @r to queue @q (slot @i). */
static void blk_add(struct blkt *t, unsigned q, unsigned i, struct breq *r)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, q);
	struct vqcore_sg sg[40];
	unsigned n = 0, out, in;
	uint8_t *h = t->hdr + ((size_t)q * SLOTS + i) * 16;
	bool write = r->type == VIRTIO_BLK_T_OUT;
	uint32_t seg = r->nseg ? (r->len + r->nseg - 1) / r->nseg : 0;

	ck_assert_uint_lt(r->nseg, 36);
	/* little-endian on every host (a big-endian one runs this too) */
	vqcore_le32_store(h, r->type);
	memset(h + 4, 0, 4);
	vqcore_le64_store(h + 8, r->sector);
	sg[n++] = (struct vqcore_sg){ t->hdr_gpa + (h - t->hdr), r->hdr_len ? r->hdr_len : 16 };
	for (uint32_t done = 0; done < r->len; done += seg) {
		uint32_t l = r->len - done < seg ? r->len - done : seg;

		sg[n++] = (struct vqcore_sg){ t->data_gpa + r->off + done, l };
	}
	out = write ? n : 1;
	in = write ? 0 : n - 1;
	t->st[q * SLOTS + i] = 0xee;
	if (!r->no_status) {
		sg[n++] = (struct vqcore_sg){ t->st_gpa + q * SLOTS + i, 1 };
		in++;
	}
	r->done = false;
	ck_assert_int_eq(vqcore_drvq_add(dq, sg, out, in, (void *)(uintptr_t)(i + 1),
					 r->indirect ? VQCORE_ADD_INDIRECT : 0), 0);
}

/* Collect used buffers of queue @q until @n requests of @r are done. */
static void blk_collect(struct blkt *t, unsigned q, struct breq *r, unsigned n)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, q);
	unsigned got = 0;

	while (got < n) {
		void *tok[SLOTS];
		uint32_t lens[SLOTS];
		int m = vqcore_drvq_get_used(dq, tok, lens, SLOTS);

		ck_assert_int_ge(m, 0);
		if (m == 0) {
			ck_assert_msg(vqcore_vuc_wait(t->c, q, 10000) == 1,
				      "queue %u: no answer (%u of %u done)", q, got, n);
			continue;
		}
		for (int k = 0; k < m; k++) {
			unsigned i = (unsigned)(uintptr_t)tok[k] - 1;

			ck_assert_uint_lt(i, n);
			ck_assert(!r[i].done);
			r[i].done = true;
			r[i].used = lens[k];
			r[i].status = t->st[q * SLOTS + i];
		}
		got += (unsigned)m;
	}
}

/* Run @n requests on queue @q: add all, one kick, collect all. */
static void blk_run(struct blkt *t, unsigned q, struct breq *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		blk_add(t, q, i, &r[i]);
	ck_assert_int_ge(vqcore_drvq_kick(vqcore_vuc_queue(t->c, q)), 0);
	blk_collect(t, q, r, n);
}

static uint8_t blk_one(struct blkt *t, unsigned q, struct breq r, uint32_t *used)
{
	blk_run(t, q, &r, 1);
	if (used)
		*used = r.used;
	return r.status;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Sizes, segment counts and indirect flags the data tests cycle through. */
static const struct { uint32_t len; unsigned nseg; bool indirect; } shapes[] = {
	{ 512, 1, false },   { 4096, 1, false },  { 4096, 3, false },
	{ 65536, 1, true },  { 65536, 16, true }, { 1536, 3, true },
	{ 131072, 8, false }, { 1 << 20, 30, true },
};

/* Write every shape at its own place on queue @qw, read it back on @qr,
 * compare, and compare with the disk file. */
static void blk_write_read(struct blkt *t, unsigned qw, unsigned qr, uint32_t seed)
{
	struct breq w[ARRAY_SIZE(shapes)], r[ARRAY_SIZE(shapes)];
	uint32_t off = 0;
	uint64_t sector = (uint64_t)seed * 4096 % (DISK_SECTORS - 8192);
	int fd;

	for (unsigned i = 0; i < ARRAY_SIZE(shapes); i++) {
		w[i] = (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = sector,
				      .off = off, .len = shapes[i].len,
				      .nseg = shapes[i].nseg, .indirect = shapes[i].indirect };
		fill(t->data + off, shapes[i].len, seed + i);
		r[i] = w[i];
		r[i].type = VIRTIO_BLK_T_IN;
		r[i].off = off + DATA_BYTES / 2;
		memset(t->data + r[i].off, 0, shapes[i].len);
		sector += shapes[i].len / 512;
		off += shapes[i].len;
	}
	ck_assert_uint_le(off, DATA_BYTES / 2);
	blk_run(t, qw, w, ARRAY_SIZE(w));
	for (unsigned i = 0; i < ARRAY_SIZE(w); i++) {
		ck_assert_uint_eq(w[i].status, VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(w[i].used, 1);
	}
	blk_run(t, qr, r, ARRAY_SIZE(r));
	fd = open(t->disk, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(r); i++) {
		uint8_t *file = malloc(r[i].len);

		ck_assert_uint_eq(r[i].status, VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(r[i].used, r[i].len + 1);
		ck_assert_mem_eq(t->data + r[i].off, t->data + w[i].off, r[i].len);
		ck_assert_int_eq(pread(fd, file, r[i].len, (off_t)(r[i].sector * 512)),
				 (ssize_t)r[i].len);
		ck_assert_mem_eq(file, t->data + w[i].off, r[i].len);
		free(file);
	}
	close(fd);
}

START_TEST(blk_data)
{
	struct blkt t;

	SKIP_UNBUILT_FORMAT(_i);
	blk_setup(&t, 1, (unsigned)_i);
	ck_assert(vqcore_vuc_features(t.c) & VQCORE_BIT(VQCORE_F_INDIRECT_DESC));
	for (uint32_t round = 1; round <= 3; round++)
		blk_write_read(&t, 0, 0, round);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_multiqueue)
{
	struct blkt t;

	SKIP_UNBUILT_FORMAT(_i);
	blk_setup(&t, 2, (unsigned)_i);
	ck_assert(vqcore_vuc_features(t.c) & VQCORE_BIT(VIRTIO_BLK_F_MQ));
	/* written on one queue, read on the other, both ways */
	blk_write_read(&t, 0, 1, 7);
	blk_write_read(&t, 1, 0, 8);
	/* both queues busy at once */
	{
		struct breq a[8], b[8];

		for (unsigned i = 0; i < 8; i++) {
			a[i] = (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 100 + i * 8,
					      .off = i * 4096, .len = 4096, .nseg = 2 };
			b[i] = (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 200 + i * 8,
					      .off = (8 + i) * 4096, .len = 4096, .nseg = 1 };
			fill(t.data + i * 4096, 4096, 50 + i);
			fill(t.data + (8 + i) * 4096, 4096, 60 + i);
		}
		for (unsigned i = 0; i < 8; i++) {
			blk_add(&t, 0, i, &a[i]);
			blk_add(&t, 1, i, &b[i]);
		}
		vqcore_drvq_kick(vqcore_vuc_queue(t.c, 0));
		vqcore_drvq_kick(vqcore_vuc_queue(t.c, 1));
		blk_collect(&t, 0, a, 8);
		blk_collect(&t, 1, b, 8);
		for (unsigned i = 0; i < 8; i++) {
			ck_assert_uint_eq(a[i].status, VIRTIO_BLK_S_OK);
			ck_assert_uint_eq(b[i].status, VIRTIO_BLK_S_OK);
		}
	}
	blk_teardown(&t);
}
END_TEST

/*
 * QEMU 10's vhost-user-blk-pci without num-queues asks for one queue per
 * vCPU and stops when GET_QUEUE_NUM says fewer.  By default the backend
 * offers 8 (GET_QUEUE_NUM and config num_queues), serves the queues the
 * front-end enables and leaves the others idle; --queues caps it.
 */
START_TEST(blk_default_queues)
{
	struct blkt t;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = 9, .queue_size = 64,
		.features = ring_features | VQCORE_BIT(VIRTIO_BLK_F_MQ),
	};
	struct vqcore_vuc *c = NULL;
	uint16_t nq = 0;

	SKIP_UNBUILT_FORMAT(_i);
	memset(&t, 0, sizeof(t));
	blk_start_backend(&t, 0, false, true);
	/* GET_QUEUE_NUM: 8, not 9 */
	ck_assert_int_eq(vqcore_vuc_connect(t.p.sock, &cfg, &c), -ENOTSUP);
	ck_assert_ptr_null(c);
	/* a guest with 2 vCPUs: 2 of the 8 queues */
	blk_connect(&t, 2, (unsigned)_i);
	ck_assert_int_eq(vqcore_vuc_get_config(t.c, 34, &nq, 2), 0); /* num_queues */
	ck_assert_uint_eq(vqcore_le16_to_cpu(nq), 8);
	blk_write_read(&t, 0, 1, 3);
	blk_write_read(&t, 1, 0, 4);
	blk_teardown(&t);

	/* --queues=1 caps it */
	memset(&t, 0, sizeof(t));
	blk_start_backend(&t, 1, false, true);
	cfg.num_queues = 2;
	ck_assert_int_eq(vqcore_vuc_connect(t.p.sock, &cfg, &c), -ENOTSUP);
	blk_connect(&t, 1, (unsigned)_i);
	ck_assert_int_eq(vqcore_vuc_get_config(t.c, 34, &nq, 2), 0);
	ck_assert_uint_eq(vqcore_le16_to_cpu(nq), 1);
	blk_write_read(&t, 0, 0, 5);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_get_id_flush_config)
{
	struct blkt t;
	uint8_t cfg[60];
	uint64_t cap;
	uint32_t seg_max, blk_size, used;
	uint16_t nq;

	SKIP_UNBUILT_FORMAT(_i);
	blk_setup(&t, 2, (unsigned)_i);
	memset(t.data, 0xaa, 64);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_GET_ID,
							.len = 20, .nseg = 1 }, &used),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 21);
	ck_assert_mem_eq(t.data, "vqcore-blk\0\0\0\0\0\0\0\0\0\0", 20);
	ck_assert_uint_eq(blk_one(&t, 1, (struct breq){ .type = VIRTIO_BLK_T_FLUSH }, &used),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 1);
	ck_assert(vqcore_vuc_features(t.c) & VQCORE_BIT(VIRTIO_BLK_F_FLUSH));
	ck_assert(!(vqcore_vuc_features(t.c) & VQCORE_BIT(VIRTIO_BLK_F_RO)));
	ck_assert_int_eq(vqcore_vuc_get_config(t.c, 0, cfg, sizeof(cfg)), 0);
	cap = vqcore_le64_load(cfg);
	seg_max = vqcore_le32_load(cfg + 12);
	blk_size = vqcore_le32_load(cfg + 20);
	nq = vqcore_le16_load(cfg + 34);
	ck_assert_uint_eq(cap, DISK_SECTORS);
	ck_assert_uint_ge(seg_max, 32);
	ck_assert_uint_eq(blk_size, 512);
	ck_assert_uint_eq(nq, 2);
	blk_teardown(&t);
}
END_TEST

/* Each hostile request gets its error status, and the device still
 * works after it. */
static void blk_still_works(struct blkt *t)
{
	fill(t->data, 4096, 99);
	ck_assert_uint_eq(blk_one(t, 0, (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 8,
						      .len = 4096, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(blk_one(t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN, .sector = 8,
						      .off = 8192, .len = 4096, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(t->data, t->data + 8192, 4096);
}

START_TEST(blk_read_past_end)
{
	struct blkt t;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	/* the last sector is fine, one more is not */
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN,
							.sector = DISK_SECTORS - 1, .len = 512,
							.nseg = 1 }, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN,
							.sector = DISK_SECTORS - 1, .len = 1024,
							.nseg = 1 }, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN,
							.sector = DISK_SECTORS, .len = 512,
							.nseg = 1 }, NULL), VIRTIO_BLK_S_IOERR);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_write_sector_overflow)
{
	struct blkt t;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	/* sector + length wraps past 2^64: must not pass a range check */
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_OUT,
							.sector = UINT64_MAX - 3, .len = 4096,
							.nseg = 1 }, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN,
							.sector = UINT64_MAX >> 9, .len = 4096,
							.nseg = 1 }, NULL), VIRTIO_BLK_S_IOERR);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_partial_sector)
{
	struct blkt t;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 0,
							.len = 100, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_IOERR);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_short_header)
{
	struct blkt t;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN, .hdr_len = 8,
							.len = 512, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_IOERR);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_no_status_byte)
{
	struct blkt t;
	uint32_t used = 99;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	/* a write with nothing writable: the buffer comes back, 0 bytes used */
	fill(t.data, 512, 5);
	blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 0, .len = 512,
				      .nseg = 1, .no_status = true }, &used);
	ck_assert_uint_eq(used, 0);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_unknown_type)
{
	struct blkt t;

	blk_setup(&t, 1, VQCORE_FORMAT_SPLIT);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = 0x7777, .len = 512,
							.nseg = 1 }, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_read_only)
{
	struct blkt t;

	memset(&t, 0, sizeof(t));
	blk_start_backend(&t, 1, true, true);
	blk_connect(&t, 1, VQCORE_FORMAT_SPLIT);
	ck_assert(vqcore_vuc_features(t.c) & VQCORE_BIT(VIRTIO_BLK_F_RO));
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = 0,
							.len = 512, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_one(&t, 0, (struct breq){ .type = VIRTIO_BLK_T_IN, .sector = 0,
							.len = 512, .nseg = 1 }, NULL),
			  VIRTIO_BLK_S_OK);
	blk_teardown(&t);
}
END_TEST

START_TEST(blk_no_packed_option)
{
	struct blkt t;

	memset(&t, 0, sizeof(t));
	blk_start_backend(&t, 1, false, false);
	/* asks for packed, gets split: the backend did not offer it */
	blk_connect(&t, 1, VQCORE_FORMAT_SPLIT);
	ck_assert(!(vqcore_vuc_features(t.c) & VQCORE_BIT(VQCORE_F_RING_PACKED)));
	blk_still_works(&t);
	blk_teardown(&t);
}
END_TEST

/* Count lines of the backend log that contain @what. */
static unsigned log_count(const struct exproc *p, const char *what)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen(p->log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

#define RS_TOTAL 600           /* 4 KiB writes, each to its own block */
#define RS_DEPTH 48
#define RS_KILLS 4

/*
 * The backend is killed with SIGKILL right after a kick (so requests are
 * on the ring, some fetched and not completed) and started again, RS_KILLS
 * times; the client reconnects with the same inflight area.  Every request
 * must then complete with OK exactly once, and every block read back.
 */
START_TEST(blk_restart)
{
	struct blkt t;
	struct breq r[SLOTS];
	int slot_req[SLOTS];
	unsigned submitted = 0, acked = 0, kills = 0, resub;
	char bin[256], a_sock[160], a_file[160];
	char *argv[5];
	struct vqcore_drvq *dq;
	unsigned resub_runs = 0;

	SKIP_UNBUILT_FORMAT(_i);
	memset(&t, 0, sizeof(t));
	blk_start_backend(&t, 1, false, true);
	{
		struct vqcore_vuc_config cfg = {
			.sz = sizeof(cfg), .mem_size = 16 << 20, .flags = VQCORE_VUC_INFLIGHT,
			.num_queues = 1, .queue_size = 256,
			.features = ring_features | VQCORE_BIT(VIRTIO_BLK_F_FLUSH) |
				    (_i == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
		};

		t.nq = 1;
		t.format = (unsigned)_i;
		ck_assert_int_eq(vqcore_vuc_connect(t.p.sock, &cfg, &t.c), 0);
		ck_assert(vqcore_vuc_protocol_features(t.c) &
			  VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD));
		ck_assert_int_eq(vqcore_vuc_start(t.c), 0);
		t.hdr_gpa = vqcore_vuc_alloc(t.c, SLOTS * 16, 64, (void **)&t.hdr);
		t.st_gpa = vqcore_vuc_alloc(t.c, SLOTS, 64, (void **)&t.st);
		t.data_gpa = vqcore_vuc_alloc(t.c, DATA_BYTES, 4096, (void **)&t.data);
	}
	dq = vqcore_vuc_queue(t.c, 0);
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", t.p.sock);
	snprintf(a_file, sizeof(a_file), "--blk-file=%s", t.disk);
	argv[0] = (char *)exproc_bin("vhost-user-blk", bin, sizeof(bin));
	argv[1] = a_sock;
	argv[2] = a_file;
	argv[3] = "--latency-us=300"; /* a batch of 32 takes ~10 ms */
	argv[4] = NULL;
	/* the first backend too: restart it with the slow disk */
	exproc_kill(&t.p);
	ck_assert_int_eq(exproc_start(&t.p, argv), 0);
	ck_assert_int_eq(vqcore_vuc_reconnect(t.c, t.p.sock, 5000), 0);
	for (unsigned i = 0; i < SLOTS; i++)
		slot_req[i] = -1;

	while (acked < RS_TOTAL) {
		void *tok[SLOTS];
		uint32_t lens[SLOTS];
		int m;

		for (unsigned i = 0; i < RS_DEPTH && submitted < RS_TOTAL; i++) {
			if (slot_req[i] >= 0)
				continue;
			r[i] = (struct breq){ .type = VIRTIO_BLK_T_OUT, .sector = submitted * 8ull,
					      .off = i * 4096, .len = 4096, .nseg = 1 };
			fill(t.data + i * 4096, 4096, submitted);
			slot_req[i] = (int)submitted++;
			blk_add(&t, 0, i, &r[i]);
		}
		vqcore_drvq_kick(dq);
		if (kills < RS_KILLS && acked >= (kills + 1) * RS_TOTAL / (RS_KILLS + 1)) {
			/* mid-traffic: a batch was kicked and is being
			 * served (fetched, some written, none returned) */
			usleep(2000);
			exproc_kill(&t.p);
			resub_runs++;
			ck_assert_int_eq(exproc_start(&t.p, argv), 0);
			ck_assert_int_eq(vqcore_vuc_reconnect(t.c, t.p.sock, 5000), 0);
			kills++;
		}
		m = vqcore_drvq_get_used(dq, tok, lens, SLOTS);
		ck_assert_int_ge(m, 0);
		if (m == 0) {
			ck_assert_msg(vqcore_vuc_wait(t.c, 0, 10000) == 1,
				      "no answer: %u of %u acked, %u submitted", acked,
				      RS_TOTAL, submitted);
			continue;
		}
		for (int k = 0; k < m; k++) {
			unsigned i = (unsigned)(uintptr_t)tok[k] - 1;

			ck_assert_uint_lt(i, RS_DEPTH);
			ck_assert_int_ge(slot_req[i], 0);
			ck_assert_uint_eq(t.st[i], VIRTIO_BLK_S_OK);
			ck_assert_uint_eq(lens[k], 1);
			slot_req[i] = -1;
			acked++;
		}
	}
	ck_assert_uint_eq(kills, RS_KILLS);
	/* the new backends did find requests in flight and re-submitted
	 * them (else this test would prove nothing about re-submission) */
	resub = log_count(&t.p, "resubmitting");
	ck_assert_uint_ge(resub, 1);
	fprintf(stderr, "blk_restart %s: %u kills, %u restarts re-submitted requests\n",
		_i ? "packed" : "split", resub_runs, resub);
	/* every acknowledged write is on the disk, read through the backend */
	for (unsigned k = 0; k < RS_TOTAL; k += 32) {
		uint8_t want[4096];

		for (unsigned j = 0; j < 32 && k + j < RS_TOTAL; j++) {
			r[j] = (struct breq){ .type = VIRTIO_BLK_T_IN, .sector = (k + j) * 8ull,
					      .off = j * 4096, .len = 4096, .nseg = 1 };
		}
		blk_run(&t, 0, r, k + 32 <= RS_TOTAL ? 32 : RS_TOTAL - k);
		for (unsigned j = 0; j < 32 && k + j < RS_TOTAL; j++) {
			fill(want, 4096, k + j);
			ck_assert_uint_eq(r[j].status, VIRTIO_BLK_S_OK);
			ck_assert_msg(!memcmp(t.data + j * 4096, want, 4096),
				      "block %u lost", k + j);
		}
	}
	blk_teardown(&t);
}
END_TEST

/* ======================================================================
 * vhost-user-net
 * ====================================================================== */

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define NET_HDR 12
#define RXQ 0
#define TXQ 1
#define RXBUF 256                /* small rx buffers: frames span several */
#define NRX 128
#define NTX 32
#define FRAME_MAX 2048

struct nett {
	struct exproc p;
	struct vqcore_vuc *c;
	uint8_t *rx;                 /* NRX * RXBUF */
	uint64_t rx_gpa;
	uint8_t *tx;                 /* NTX * (NET_HDR + FRAME_MAX) */
	uint64_t tx_gpa;
	unsigned tx_next;
	unsigned nrx;                /* rx buffers in use (<= NRX) */
	bool hold_rx;                /* net_recv keeps used rx buffers */
	unsigned held[NRX];          /* ... these, for net_give_rx() */
	unsigned nheld;
};

/* How to start the net example and connect to it. */
struct net_opts {
	const char *mode;
	unsigned format;
	bool poll;                   /* the backend polls (--poll) */
	bool no_mrg_rxbuf;           /* the client does not take MRG_RXBUF */
	uint16_t queue_size;         /* 0: 256 */
	unsigned nrx;                /* rx buffers posted; 0: NRX */
	bool config_space;           /* --config-space: CONFIG offered */
};

static void net_setup_opts(struct nett *t, const struct net_opts *o)
{
	char bin[256], a_sock[160], a_mode[64];
	char *argv[6];
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = 8 << 20,
		.num_queues = 2,
		.queue_size = o->queue_size ? o->queue_size : 256,
		.features = ring_features | VQCORE_BIT(VIRTIO_NET_F_MAC) |
			    (o->no_mrg_rxbuf ? 0 : VQCORE_BIT(VIRTIO_NET_F_MRG_RXBUF)) |
			    VQCORE_BIT(VIRTIO_NET_F_STATUS) |
			    (o->format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	unsigned a = 0;

	memset(t, 0, sizeof(*t));
	t->nrx = o->nrx ? o->nrx : NRX;
	ck_assert_uint_le(t->nrx, NRX);
	ck_assert_int_eq(exproc_init(&t->p), 0);
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", t->p.sock);
	snprintf(a_mode, sizeof(a_mode), "--mode=%s", o->mode);
	argv[a++] = (char *)exproc_bin("vhost-user-net", bin, sizeof(bin));
	argv[a++] = a_sock;
	argv[a++] = a_mode;
	if (o->poll)
		argv[a++] = "--poll";
	if (o->config_space)
		argv[a++] = "--config-space";
	argv[a] = NULL;
	ck_assert_int_eq(exproc_start(&t->p, argv), 0);
	ck_assert_int_eq(vqcore_vuc_connect(t->p.sock, &cfg, &t->c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(t->c), o->format);
	/* QEMU's virtio-net takes no config space from its backend and warns
	 * when it is offered: only --config-space offers it */
	ck_assert(!(vqcore_vuc_protocol_features(t->c) & VQCORE_BIT(VQCORE_VU_PF_CONFIG)) ==
		  !o->config_space);
	ck_assert(!(vqcore_vuc_features(t->c) & VQCORE_BIT(VIRTIO_NET_F_MRG_RXBUF)) ==
		  o->no_mrg_rxbuf);
	ck_assert_int_eq(vqcore_vuc_start(t->c), 0);
	t->rx_gpa = vqcore_vuc_alloc(t->c, NRX * RXBUF, 4096, (void **)&t->rx);
	t->tx_gpa = vqcore_vuc_alloc(t->c, NTX * (NET_HDR + FRAME_MAX), 4096, (void **)&t->tx);
	ck_assert(t->rx_gpa && t->tx_gpa);
	/* the rx buffers to the device */
	for (unsigned i = 0; i < t->nrx; i++) {
		struct vqcore_sg sg = { t->rx_gpa + i * RXBUF, RXBUF };

		ck_assert_int_eq(vqcore_drvq_add(vqcore_vuc_queue(t->c, RXQ), &sg, 0, 1,
						 (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick(vqcore_vuc_queue(t->c, RXQ));
}

static void net_setup(struct nett *t, const char *mode, unsigned format)
{
	struct net_opts o = { .mode = mode, .format = format };

	net_setup_opts(t, &o);
}

static void net_teardown(struct nett *t)
{
	vqcore_vuc_free(t->c);
	ck_assert_int_eq(exproc_stop(&t->p), 0);
	exproc_cleanup(&t->p);
}

/* Send one frame (header of zeroes + @len bytes) on tx and wait for it
 * to be used. */
static void net_send(struct nett *t, const uint8_t *frame, size_t len)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, TXQ);
	unsigned slot = t->tx_next++ % NTX;
	uint8_t *p = t->tx + slot * (NET_HDR + FRAME_MAX);
	struct vqcore_sg sg[2] = {
		{ t->tx_gpa + slot * (NET_HDR + FRAME_MAX), NET_HDR },
		{ t->tx_gpa + slot * (NET_HDR + FRAME_MAX) + NET_HDR, (uint32_t)len },
	};
	void *tok;
	int m;

	ck_assert_uint_le(len, FRAME_MAX);
	memset(p, 0, NET_HDR);
	memcpy(p + NET_HDR, frame, len);
	/* header and frame as two descriptors, as Linux does */
	ck_assert_int_eq(vqcore_drvq_add(dq, sg, 2, 0, (void *)(uintptr_t)(slot + 1), 0), 0);
	vqcore_drvq_kick(dq);
	while ((m = vqcore_drvq_get_used(dq, &tok, NULL, 1)) == 0)
		ck_assert_int_eq(vqcore_vuc_wait(t->c, TXQ, 10000), 1);
	ck_assert_int_eq(m, 1);
}

/*
 * Receive one frame: the first used rx buffer's header says how many
 * buffers it spans.  Returns the frame length (0 after @timeout_ms without
 * a frame).  Used rx buffers go straight back to the device.
 */
static size_t net_recv(struct nett *t, uint8_t *frame, int timeout_ms)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, RXQ);
	unsigned nbuf = 0, want = 1;
	size_t len = 0;

	while (nbuf < want) {
		void *tok;
		uint32_t used;
		int m = vqcore_drvq_get_used(dq, &tok, &used, 1);
		unsigned i;
		uint8_t *b;
		struct vqcore_sg sg;

		ck_assert_int_ge(m, 0);
		if (m == 0) {
			int w = vqcore_vuc_wait(t->c, RXQ, timeout_ms);

			ck_assert_int_ge(w, 0);
			if (w == 0) {
				ck_assert_msg(nbuf == 0, "frame cut after %u buffers", nbuf);
				return 0;
			}
			continue;
		}
		i = (unsigned)(uintptr_t)tok - 1;
		ck_assert_uint_lt(i, t->nrx);
		ck_assert_uint_le(used, RXBUF);
		b = t->rx + i * RXBUF;
		if (nbuf == 0) {
			uint16_t nb;

			ck_assert_uint_ge(used, NET_HDR);
			memcpy(&nb, b + 10, 2);
			nb = le16toh(nb); /* little-endian on every host */
			ck_assert_uint_ge(nb, 1);
			want = nb;
			for (unsigned k = 0; k < 10; k++)
				ck_assert_uint_eq(b[k], 0); /* no offloads */
			memcpy(frame, b + NET_HDR, used - NET_HDR);
			len = used - NET_HDR;
		} else {
			ck_assert_uint_le(len + used, FRAME_MAX);
			memcpy(frame + len, b, used);
			len += used;
		}
		nbuf++;
		if (t->hold_rx) {
			t->held[t->nheld++] = i; /* the guest does not give it back yet */
			continue;
		}
		/* give the buffer back */
		sg = (struct vqcore_sg){ t->rx_gpa + i * RXBUF, RXBUF };
		ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 0, 1, tok, 0), 0);
		vqcore_drvq_kick(dq);
	}
	return len;
}

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

static size_t make_frame(uint8_t *f, size_t len, uint32_t seed)
{
	memcpy(f, other_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x88; /* local experimental ethertype */
	f[13] = 0xb5;
	fill(f + 14, len - 14, seed);
	return len;
}

/*
 * After a migration QEMU sends SEND_RARP with the guest's MAC (when the
 * guest has no GUEST_ANNOUNCE).  The net example puts a RARP broadcast
 * for that MAC on rx: ethertype 0x8035, reverse request, the MAC as
 * source and target hardware address.  A wrong-size SEND_RARP is refused
 * and puts nothing on rx.
 */
START_TEST(net_send_rarp)
{
	struct nett t;
	uint8_t mac[8] = { 0x52, 0x54, 0x00, 0x9a, 0xbc, 0xde, 0, 0 };
	uint8_t f[FRAME_MAX];
	size_t len;
	int sock;

	SKIP_UNBUILT_FORMAT(_i);
	net_setup(&t, "icmpecho", (unsigned)_i);
	ck_assert(vqcore_vuc_protocol_features(t.c) & VQCORE_BIT(VQCORE_VU_PF_RARP));
	sock = vqcore_vuc_sock(t.c);
	ck_assert_int_gt(vu_raw_ack(sock, VQCORE_VU_SEND_RARP, mac, 6, NULL, 0), 0);
	ck_assert_uint_eq(net_recv(&t, f, 200), 0);
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SEND_RARP, mac, 8, NULL, 0), 0);
	len = net_recv(&t, f, 10000);
	ck_assert_uint_eq(len, 60);
	for (unsigned k = 0; k < 6; k++)
		ck_assert_uint_eq(f[k], 0xff);          /* broadcast */
	ck_assert_mem_eq(f + 6, mac, 6);                /* source */
	ck_assert_uint_eq(f[12], 0x80);                 /* ethertype RARP */
	ck_assert_uint_eq(f[13], 0x35);
	ck_assert_uint_eq(f[14] << 8 | f[15], 1);       /* Ethernet */
	ck_assert_uint_eq(f[16] << 8 | f[17], 0x0800);  /* IPv4 */
	ck_assert_uint_eq(f[18], 6);
	ck_assert_uint_eq(f[19], 4);
	ck_assert_uint_eq(f[20] << 8 | f[21], 3);       /* reverse request */
	ck_assert_mem_eq(f + 22, mac, 6);               /* sender MAC */
	ck_assert_mem_eq(f + 32, mac, 6);               /* target MAC */
	for (unsigned k = 28; k < 32; k++)
		ck_assert_uint_eq(f[k], 0);             /* sender IP */
	for (unsigned k = 38; k < 60; k++)
		ck_assert_uint_eq(f[k], 0);             /* target IP, padding */
	/* exactly one frame */
	ck_assert_uint_eq(net_recv(&t, f, 200), 0);
	net_teardown(&t);
}
END_TEST

static const size_t frame_sizes[] = { 60, 64, 243, 244, 500, 1514, 2000 };

static void run_echo(const char *mode, unsigned format, bool swap)
{
	struct nett t;
	uint8_t f[FRAME_MAX], g[FRAME_MAX];

	net_setup(&t, mode, format);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned k = 0; k < ARRAY_SIZE(frame_sizes); k++) {
			size_t len = make_frame(f, frame_sizes[k], round * 10 + k), got;

			net_send(&t, f, len);
			got = net_recv(&t, g, 10000);
			ck_assert_uint_eq(got, len);
			if (swap) {
				ck_assert_mem_eq(g, f + 6, 6);
				ck_assert_mem_eq(g + 6, f, 6);
				ck_assert_mem_eq(g + 12, f + 12, len - 12);
			} else {
				ck_assert_mem_eq(g, f, len);
			}
		}
	}
	/* a burst larger than what the rx ring holds at once: nothing lost,
	 * order kept (the backend waits for rx room instead of dropping) */
	{
		struct vqcore_drvq *tx = vqcore_vuc_queue(t.c, TXQ);
		const unsigned burst = 24; /* 24 x 1514 B = 168 rx buffers > NRX */

		for (unsigned i = 0; i < burst; i++) {
			unsigned slot = t.tx_next++ % NTX;
			uint8_t *p = t.tx + slot * (NET_HDR + FRAME_MAX);
			struct vqcore_sg sg = { t.tx_gpa + slot * (NET_HDR + FRAME_MAX),
						NET_HDR + 1514 };

			memset(p, 0, NET_HDR);
			make_frame(p + NET_HDR, 1514, 1000 + i);
			ck_assert_int_eq(vqcore_drvq_add(tx, &sg, 1, 0,
							 (void *)(uintptr_t)(slot + 1), 0), 0);
		}
		vqcore_drvq_kick(tx);
		for (unsigned i = 0; i < burst; i++) {
			size_t got = net_recv(&t, g, 10000);

			make_frame(f, 1514, 1000 + i);
			ck_assert_uint_eq(got, 1514);
			ck_assert_mem_eq(g + 12, f + 12, 1514 - 12);
		}
	}
	net_teardown(&t);
}

START_TEST(net_loopback)
{
	SKIP_UNBUILT_FORMAT(_i);
	run_echo("loopback", (unsigned)_i, false);
}
END_TEST

START_TEST(net_macswap)
{
	SKIP_UNBUILT_FORMAT(_i);
	run_echo("macswap", (unsigned)_i, true);
}
END_TEST

/* ---- bad input ---- */

/* Give the rx buffers held since hold_rx was set back to the device. */
static void net_give_rx(struct nett *t)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, RXQ);

	for (unsigned k = 0; k < t->nheld; k++) {
		unsigned i = t->held[k];
		struct vqcore_sg sg = { t->rx_gpa + i * RXBUF, RXBUF };

		ck_assert_int_eq(vqcore_drvq_add(dq, &sg, 0, 1, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	t->nheld = 0;
	vqcore_drvq_kick(dq);
}

/* Add a tx buffer of @nout readable and @nin writable parts, wait until
 * the device has used it. */
static void net_send_sg(struct nett *t, const struct vqcore_sg *sg, unsigned nout,
			unsigned nin)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, TXQ);
	void *tok;
	int m;

	ck_assert_int_eq(vqcore_drvq_add(dq, sg, nout, nin, (void *)(uintptr_t)1, 0), 0);
	vqcore_drvq_kick(dq);
	while ((m = vqcore_drvq_get_used(dq, &tok, NULL, 1)) == 0)
		ck_assert_int_eq(vqcore_vuc_wait(t->c, TXQ, 10000), 1);
	ck_assert_int_eq(m, 1);
}

/* Stop the backend: it must exit with 0 and its exit line say @what. */
static void net_teardown_expect(struct nett *t, const char *what)
{
	vqcore_vuc_free(t->c);
	ck_assert_int_eq(exproc_stop(&t->p), 0);
	ck_assert_msg(log_count(&t->p, what) == 1, "the backend's exit line lacks \"%s\"", what);
	exproc_cleanup(&t->p);
}

/* The process's private memory (heap, stacks): guest memory is shared and
 * counts as it is touched, so it is left out. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Drain the tx used ring without waiting; how many came. */
static unsigned net_tx_used_now(struct nett *t)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(t->c, TXQ);
	unsigned n = 0;
	void *tok;
	int m;

	while ((m = vqcore_drvq_get_used(dq, &tok, NULL, 1)) == 1)
		n++;
	ck_assert_int_eq(m, 0);
	return n;
}

#define FLOOD_SLOT 128

/*
 * A driver that keeps sending while its guest stops taking frames off rx
 * (it gives no rx buffer back).  The backend fills the rx buffers it has,
 * then leaves the rest of the frames on the tx ring (back-pressure): tx
 * buffers are used exactly as fast as frames are delivered, none is
 * dropped, the backend's memory stays flat however long the flood lasts,
 * and when the guest takes frames again every one arrives, in order.
 * Kick-driven and polling backend, split and packed.
 */
START_TEST(net_rx_flood)
{
	unsigned format = (unsigned)_i & 1;
	struct net_opts o = { .mode = "loopback", .format = format, .poll = _i >> 1 };
	struct vqcore_drvq *tx;
	struct nett t;
	uint8_t *fl, f[FRAME_MAX], g[FRAME_MAX];
	uint64_t fl_gpa;
	const unsigned qsize = 256, first = NRX, total = NRX + qsize;
	unsigned seq = 0, used;
	long rss0, rss1;

	SKIP_UNBUILT_FORMAT(format);
	net_setup_opts(&t, &o);
	t.hold_rx = true;
	tx = vqcore_vuc_queue(t.c, TXQ);
	fl_gpa = vqcore_vuc_alloc(t.c, (uint64_t)qsize * FLOOD_SLOT, 4096, (void **)&fl);
	ck_assert(fl_gpa);

	/* a full tx ring of 60-byte frames; rx has room for NRX of them */
	for (; seq < qsize; seq++) {
		unsigned slot = seq % qsize;
		struct vqcore_sg sg = { fl_gpa + slot * FLOOD_SLOT, NET_HDR + 60 };

		memset(fl + slot * FLOOD_SLOT, 0, NET_HDR);
		make_frame(fl + slot * FLOOD_SLOT + NET_HDR, 60, 5000 + seq);
		ck_assert_int_eq(vqcore_drvq_add(tx, &sg, 1, 0, (void *)(uintptr_t)(slot + 1), 0), 0);
	}
	vqcore_drvq_kick(tx);
	for (unsigned k = 0; k < first; k++) {
		ck_assert_uint_eq(net_recv(&t, g, 10000), 60);
		make_frame(f, 60, 5000 + k);
		ck_assert_mem_eq(g, f, 60);
	}
	/* rx is full: nothing more comes, and only the delivered frames'
	 * tx buffers are used (the last of them may follow the rx frames) */
	ck_assert_uint_eq(net_recv(&t, g, 300), 0);
	used = net_tx_used_now(&t);
	while (used < first) {
		ck_assert_int_eq(vqcore_vuc_wait(t.c, TXQ, 10000), 1);
		used += net_tx_used_now(&t);
	}
	ck_assert_uint_eq(used, first);
	/* what the backend holds from here on is what the flood costs */
	rss0 = rss_kib(t.p.pid);
	ck_assert_int_gt(rss0, 0);

	/* the driver refills tx as fast as it can, several times over: the
	 * ring stays full, nothing is consumed, the backend holds nothing */
	for (unsigned round = 0; round < 20; round++) {
		vqcore_drvq_kick(tx);
		ck_assert_uint_eq(net_tx_used_now(&t), 0);
		usleep(10000);
	}
	for (; seq < total; seq++) {
		unsigned slot = seq % qsize;
		struct vqcore_sg sg = { fl_gpa + slot * FLOOD_SLOT, NET_HDR + 60 };

		memset(fl + slot * FLOOD_SLOT, 0, NET_HDR);
		make_frame(fl + slot * FLOOD_SLOT + NET_HDR, 60, 5000 + seq);
		ck_assert_int_eq(vqcore_drvq_add(tx, &sg, 1, 0, (void *)(uintptr_t)(slot + 1), 0), 0);
	}
	vqcore_drvq_kick(tx);
	ck_assert_uint_eq(net_recv(&t, g, 300), 0);
	ck_assert_uint_eq(net_tx_used_now(&t), 0);
	rss1 = rss_kib(t.p.pid);
	ck_assert_msg(rss1 - rss0 < 1024, "backend private memory (RssAnon) grew from %ld to %ld KiB", rss0, rss1);

	/* the guest takes frames again: all of them, in order */
	t.hold_rx = false;
	net_give_rx(&t);
	for (unsigned k = first; k < total; k++) {
		ck_assert_uint_eq(net_recv(&t, g, 10000), 60);
		make_frame(f, 60, 5000 + k);
		ck_assert_mem_eq(g, f, 60);
	}
	ck_assert_uint_eq(net_recv(&t, g, 300), 0);
	net_teardown_expect(&t, "exit (tx 384, rx 384, dropped 0:");
}
END_TEST

/*
 * A frame larger than the rx buffers can take is dropped and counted, and
 * the frames after it still arrive: without MRG_RXBUF, one that does not
 * fit one rx buffer; with it, one that needs more buffers than the rx
 * queue has (it used to wait for room that could never come, and stop
 * the tx queue for good).
 */
START_TEST(net_too_big)
{
	struct nett t;
	uint8_t f[FRAME_MAX], g[FRAME_MAX], *big;
	uint64_t big_gpa;
	struct vqcore_sg sg[2];
	size_t len;

	SKIP_UNBUILT_FORMAT(_i);
	{
		struct net_opts o = { .mode = "loopback", .format = (unsigned)_i,
				      .no_mrg_rxbuf = true };

		net_setup_opts(&t, &o);
		len = make_frame(f, RXBUF - NET_HDR + 1, 1);
		net_send(&t, f, len);
		ck_assert_uint_eq(net_recv(&t, g, 300), 0);
		len = make_frame(f, RXBUF - NET_HDR, 2); /* fits exactly */
		net_send(&t, f, len);
		ck_assert_uint_eq(net_recv(&t, g, 10000), len);
		ck_assert_mem_eq(g, f, len);
		net_teardown_expect(&t, "exit (tx 2, rx 1, dropped 1: bad_tx=0 too_big=1 ");
	}
	{
		struct net_opts o = { .mode = "loopback", .format = (unsigned)_i,
				      .queue_size = 32, .nrx = 32 };
		const size_t huge = 33 * RXBUF;     /* needs 34 buffers of 32 */

		net_setup_opts(&t, &o);
		big_gpa = vqcore_vuc_alloc(t.c, NET_HDR + huge, 4096, (void **)&big);
		ck_assert(big_gpa);
		memset(big, 0, NET_HDR);
		make_frame(big + NET_HDR, huge, 3);
		sg[0] = (struct vqcore_sg){ big_gpa, (uint32_t)(NET_HDR + huge) };
		net_send_sg(&t, sg, 1, 0);
		ck_assert_uint_eq(net_recv(&t, g, 300), 0);
		len = make_frame(f, 1514, 4); /* 6 buffers: still fine */
		net_send(&t, f, len);
		ck_assert_uint_eq(net_recv(&t, g, 10000), len);
		ck_assert_mem_eq(g, f, len);
		net_teardown_expect(&t, "exit (tx 2, rx 1, dropped 1: bad_tx=0 too_big=1 ");
	}
}
END_TEST

/*
 * A tx chain shorter than the header is used (returned to the driver) with
 * nothing sent on, and counted.  The example offers no tx offload, so a
 * header asks for nothing and is not read: frames with NEEDS_CSUM or a GSO
 * type in it come back as plain frames.  A frame with a writable part
 * comes back with that part as data, and a good frame after them all
 * still comes back.
 */
START_TEST(net_bad_tx)
{
	struct nett t;
	uint8_t f[FRAME_MAX], g[FRAME_MAX], *p;
	struct vqcore_sg sg[3];
	size_t len;

	SKIP_UNBUILT_FORMAT(_i);
	net_setup(&t, "loopback", (unsigned)_i);
	p = t.tx;
	len = make_frame(f, 60, 7);
	memset(p, 0, NET_HDR);
	memcpy(p + NET_HDR, f, len);
	sg[0] = (struct vqcore_sg){ t.tx_gpa, NET_HDR };
	sg[1] = (struct vqcore_sg){ t.tx_gpa + NET_HDR, (uint32_t)len };
	sg[2] = (struct vqcore_sg){ t.tx_gpa + 4096, 64 }; /* writable */

	/* shorter than the header */
	net_send_sg(&t, (struct vqcore_sg[]){ { t.tx_gpa, NET_HDR - 6 } }, 1, 0);
	/* flags: NEEDS_CSUM (1), then gso_type: TCPV4 (1) */
	for (unsigned k = 0; k < 2; k++) {
		p[k] = 1;
		net_send_sg(&t, sg, 2, 0);
		ck_assert_uint_eq(net_recv(&t, g, 10000), len);
		ck_assert_mem_eq(g, f, len);
		p[k] = 0;
	}
	ck_assert_uint_eq(net_recv(&t, g, 300), 0);
	/* a writable descriptor after the frame: frame data too (DPDK's
	 * virtio PMD marks some tx descriptors writable) */
	memset(p + 4096, 0x5a, 64);
	net_send_sg(&t, sg, 2, 1);
	ck_assert_uint_eq(net_recv(&t, g, 10000), len + 64);
	ck_assert_mem_eq(g, f, len);
	for (size_t i = 0; i < 64; i++)
		ck_assert_uint_eq(g[len + i], 0x5a);
	/* the same frame, well formed */
	net_send_sg(&t, sg, 2, 0);
	ck_assert_uint_eq(net_recv(&t, g, 10000), len);
	ck_assert_mem_eq(g, f, len);
	ck_assert_uint_eq(net_recv(&t, g, 300), 0);
	net_teardown_expect(&t, "exit (tx 5, rx 4, dropped 1: bad_tx=1 too_big=0 ");
}
END_TEST

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static const uint8_t guest_ip[4] = { 192, 0, 2, 1 };
static const uint8_t peer_ip[4] = { 192, 0, 2, 2 };

static size_t make_arp(uint8_t *f, const uint8_t *target_ip)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08; f[13] = 0x06;
	f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4;
	f[20] = 0; f[21] = 1;
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, guest_ip, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, target_ip, 4);
	return 42;
}

static size_t make_ping(uint8_t *f, const uint8_t *dst_mac, const uint8_t *dst_ip,
			size_t payload, uint16_t seq)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	size_t tot = 20 + 8 + payload;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08; f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8); ip[3] = (uint8_t)tot;
	ip[4] = 0x12; ip[5] = 0x34;
	ip[6] = 0x40;          /* DF */
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, dst_ip, 4);
	ip[10] = ip[11] = 0;
	{
		uint16_t c = ip_csum(ip, 20);

		ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
	}
	icmp[0] = 8; icmp[1] = 0; icmp[2] = icmp[3] = 0;
	icmp[4] = 0x0b; icmp[5] = 0xad;
	icmp[6] = (uint8_t)(seq >> 8); icmp[7] = (uint8_t)seq;
	fill(icmp + 8, payload, seq);
	{
		uint16_t c = ip_csum(icmp, 8 + payload);

		icmp[2] = (uint8_t)(c >> 8); icmp[3] = (uint8_t)c;
	}
	return 14 + tot;
}

START_TEST(net_icmpecho)
{
	struct nett t;
	uint8_t f[FRAME_MAX], g[FRAME_MAX], peer_mac[6];
	size_t len, got;
	struct net_opts o = { .mode = "icmpecho", .format = (unsigned)_i,
			      .config_space = true };

	SKIP_UNBUILT_FORMAT(_i);
	net_setup_opts(&t, &o);
	/* ARP: who has 192.0.2.2? */
	len = make_arp(f, peer_ip);
	net_send(&t, f, len);
	got = net_recv(&t, g, 10000);
	ck_assert_uint_eq(got, 42);
	ck_assert_mem_eq(g, guest_mac, 6);
	memcpy(peer_mac, g + 6, 6);
	ck_assert_uint_eq(g[12], 0x08);
	ck_assert_uint_eq(g[13], 0x06);
	ck_assert_uint_eq(g[21], 2);                 /* reply */
	ck_assert_mem_eq(g + 22, peer_mac, 6);       /* sender MAC */
	ck_assert_mem_eq(g + 28, peer_ip, 4);        /* sender IP */
	ck_assert_mem_eq(g + 32, guest_mac, 6);
	ck_assert_mem_eq(g + 38, guest_ip, 4);
	/* the MAC is the one in config space (VIRTIO_NET_F_MAC) */
	{
		uint8_t cfg[8];

		ck_assert_int_eq(vqcore_vuc_get_config(t.c, 0, cfg, 8), 0);
		ck_assert_mem_eq(cfg, peer_mac, 6);
		ck_assert_uint_eq(cfg[6] & 1, 1);    /* link up */
	}
	/* pings of 56 and 1400 bytes */
	for (uint16_t seq = 1; seq <= 4; seq++) {
		size_t payload = seq % 2 ? 56 : 1400;

		len = make_ping(f, peer_mac, peer_ip, payload, seq);
		net_send(&t, f, len);
		got = net_recv(&t, g, 10000);
		ck_assert_uint_eq(got, len);
		ck_assert_mem_eq(g, guest_mac, 6);
		ck_assert_mem_eq(g + 6, peer_mac, 6);
		ck_assert_mem_eq(g + 14 + 12, peer_ip, 4);   /* src */
		ck_assert_mem_eq(g + 14 + 16, guest_ip, 4);  /* dst */
		ck_assert_uint_eq(ip_csum(g + 14, 20), 0);
		ck_assert_uint_eq(g[14 + 20], 0);            /* echo reply */
		ck_assert_uint_eq(ip_csum(g + 14 + 20, len - 34), 0);
		ck_assert_mem_eq(g + 14 + 24, f + 14 + 24, len - 38); /* id, seq, data */
	}
	/* not for us: ARP for another address, ping to another address, a
	 * ping with a bad IP checksum -> no answer; then a good one still is */
	len = make_arp(f, (const uint8_t[]){ 192, 0, 2, 3 });
	net_send(&t, f, len);
	len = make_ping(f, peer_mac, (const uint8_t[]){ 192, 0, 2, 9 }, 56, 9);
	net_send(&t, f, len);
	len = make_ping(f, peer_mac, peer_ip, 56, 10);
	f[14 + 10] ^= 0xff;
	net_send(&t, f, len);
	len = make_ping(f, peer_mac, peer_ip, 56, 11);
	net_send(&t, f, len);
	got = net_recv(&t, g, 10000);
	ck_assert_uint_eq(got, len);
	ck_assert_uint_eq(g[14 + 20 + 7], 11); /* the reply to seq 11 came first */
	ck_assert_uint_eq(net_recv(&t, g, 200), 0);
	net_teardown(&t);
}
END_TEST

/* ======================================================================
 * vhost-user-rng
 * ====================================================================== */

#define RNG_SRC 4096

struct rngt {
	struct exproc p;
	char src[128];
	uint8_t want[RNG_SRC];       /* the source file's bytes */
	struct vqcore_vuc *c;
	struct vqcore_drvq *dq;
};

/* Start the backend on a source file of known bytes and connect. */
static void rng_start(struct rngt *t, unsigned format, const char *extra,
		      const char *extra2)
{
	char bin[256], a_sock[160], a_src[160];
	char *argv[8];
	unsigned n = 0;
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = 1, .queue_size = 64,
		.features = ring_features | VQCORE_BIT(VQCORE_F_RING_PACKED),
	};
	int fd;

	ck_assert_int_eq(exproc_init(&t->p), 0);
	snprintf(t->src, sizeof(t->src), "%s/source", t->p.dir);
	for (unsigned i = 0; i < RNG_SRC; i++)
		t->want[i] = (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
	fd = open(t->src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, t->want, RNG_SRC), RNG_SRC);
	close(fd);
	argv[n++] = (char *)exproc_bin("vhost-user-rng", bin, sizeof(bin));
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", t->p.sock);
	argv[n++] = a_sock;
	snprintf(a_src, sizeof(a_src), "--source=%s", t->src);
	argv[n++] = a_src;
	if (format == VQCORE_FORMAT_SPLIT)
		argv[n++] = "--no-packed";
	if (extra)
		argv[n++] = (char *)extra;
	if (extra2)
		argv[n++] = (char *)extra2;
	argv[n] = NULL;
	ck_assert_int_eq(exproc_start(&t->p, argv), 0);
	ck_assert_int_eq(vqcore_vuc_connect(t->p.sock, &cfg, &t->c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(t->c), format);
	ck_assert_int_eq(vqcore_vuc_start(t->c), 0);
	t->dq = vqcore_vuc_queue(t->c, 0);
}

/* Collect @n used buffers; lens[token index] = bytes written. */
static void rng_collect(struct rngt *t, unsigned n, uint32_t *lens)
{
	unsigned got = 0;

	while (got < n) {
		void *tok[8];
		uint32_t l[8];
		int m = vqcore_drvq_get_used(t->dq, tok, l, 8);

		ck_assert_int_ge(m, 0);
		if (!m) {
			ck_assert_int_eq(vqcore_vuc_wait(t->c, 0, 10000), 1);
			continue;
		}
		for (int i = 0; i < m; i++)
			lens[(uintptr_t)tok[i] - 1] = l[i];
		got += (unsigned)m;
	}
}

static size_t file_count(const char *path, const char *needle)
{
	char buf[8192];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(buf, sizeof(buf), f))
		n += strstr(buf, needle) != NULL;
	fclose(f);
	return n;
}

/*
 * Writable buffers get the source's bytes in order; a buffer with no
 * writable part is completed with 0 bytes (not dropped, not a byte of the
 * stream used), and said once however many come.
 */
START_TEST(rng_in_order_and_readonly)
{
	struct rngt t;
	static const struct { uint32_t len; bool writable; } req[] = {
		{ 100, true }, { 32, false }, { 50, true }, { 16, false }, { 200, true },
	};
	uint64_t gpa[ARRAY_SIZE(req)];
	uint8_t *hva[ARRAY_SIZE(req)];
	uint32_t lens[ARRAY_SIZE(req)], off = 0;

	SKIP_UNBUILT_FORMAT(_i);
	rng_start(&t, _i, NULL, NULL);
	for (unsigned i = 0; i < ARRAY_SIZE(req); i++) {
		struct vqcore_sg sg;

		gpa[i] = vqcore_vuc_alloc(t.c, req[i].len, 64, (void **)&hva[i]);
		ck_assert_uint_ne(gpa[i], 0);
		memset(hva[i], 0xee, req[i].len);
		sg = (struct vqcore_sg){ gpa[i], req[i].len };
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, req[i].writable ? 0 : 1,
						 req[i].writable ? 1 : 0,
						 (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick(t.dq);
	rng_collect(&t, ARRAY_SIZE(req), lens);
	for (unsigned i = 0; i < ARRAY_SIZE(req); i++) {
		if (!req[i].writable) {
			ck_assert_uint_eq(lens[i], 0);
			continue;
		}
		ck_assert_uint_eq(lens[i], req[i].len);
		ck_assert_mem_eq(hva[i], t.want + off, req[i].len);
		off += req[i].len;
	}
	vqcore_vuc_free(t.c);
	ck_assert_int_eq(exproc_stop(&t.p), 0);
	ck_assert_uint_eq(file_count(t.p.log, "has no device-writable part: completed "
					      "with 0 bytes (logged once)"), 1);
	ck_assert_uint_eq(file_count(t.p.log, "stopping; served 350 bytes"), 1);
	exproc_cleanup(&t.p);
}
END_TEST

/*
 * --max-bytes: within one period (long enough not to end during the test)
 * the device serves the quota and no more: the first buffer in full, the
 * second with what is left of the quota, in stream order; the third waits
 * in the ring.  The backend stops cleanly while throttled.
 */
START_TEST(rng_rate_limit)
{
	struct rngt t;
	uint8_t *hva[3];
	uint32_t lens[3];

	SKIP_UNBUILT_FORMAT(_i);
	/* a period of 10 minutes: the quota is not refilled during the test */
	rng_start(&t, _i, "--max-bytes=120", "--period=600000");
	for (unsigned i = 0; i < 2; i++) {
		struct vqcore_sg sg = { vqcore_vuc_alloc(t.c, 100, 64, (void **)&hva[i]), 100 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick(t.dq);
	rng_collect(&t, 2, lens);
	ck_assert_uint_eq(lens[0], 100);
	ck_assert_uint_eq(lens[1], 20);
	ck_assert_mem_eq(hva[0], t.want, 100);
	ck_assert_mem_eq(hva[1], t.want + 100, 20);
	vqcore_vuc_free(t.c);
	ck_assert_int_eq(exproc_stop(&t.p), 0);
	ck_assert_uint_eq(file_count(t.p.log, "stopping; served 120 bytes"), 1);
	exproc_cleanup(&t.p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("examples");
	TCase *tc = tcase_create("blk");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, blk_data, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, blk_multiqueue, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, blk_default_queues, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, blk_get_id_flush_config, VQCORE_FORMAT_SPLIT,
			    VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, blk_restart, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_test(tc, blk_read_past_end);
	tcase_add_test(tc, blk_write_sector_overflow);
	tcase_add_test(tc, blk_partial_sector);
	tcase_add_test(tc, blk_short_header);
	tcase_add_test(tc, blk_no_status_byte);
	tcase_add_test(tc, blk_unknown_type);
	tcase_add_test(tc, blk_read_only);
	tcase_add_test(tc, blk_no_packed_option);
	suite_add_tcase(s, tc);

	tc = tcase_create("net");
	/* the cross runs leave these out (CK_EXCLUDE_TAGS, tests/CMakeLists.txt) */
	tcase_set_tags(tc, "net");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, net_loopback, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, net_macswap, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, net_icmpecho, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, net_send_rarp, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	/* bad input; net_rx_flood: bit 0 the format, bit 1 a polling backend */
	tcase_add_loop_test(tc, net_rx_flood, 0, 4);
	tcase_add_loop_test(tc, net_too_big, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, net_bad_tx, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	suite_add_tcase(s, tc);

	tc = tcase_create("rng");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, rng_in_order_and_readonly, VQCORE_FORMAT_SPLIT,
			    VQCORE_FORMAT_COUNT);
	tcase_add_loop_test(tc, rng_rate_limit, VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_COUNT);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(suite());
}
