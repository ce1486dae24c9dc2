/* SPDX-License-Identifier: MIT */
/*
 * Description: the virtio-net helper (include/vqcore/net.h) between two
 * device queues driven by in-process driver queues over memfd guest
 * memory, split and packed: frames round trip with their content and
 * headers (12 and 10 bytes, little-endian on every host); one frame over
 * several mergeable rx buffers with the right num_buffers; a frame too big
 * for the rx buffers dropped and counted; tx chains with a bad header
 * dropped and counted; rx flooded while the guest takes nothing: frames
 * wait on the tx ring (or, with VQCORE_NET_RX_DROP, are dropped and
 * counted) and nothing is allocated; with a dirty log set, every rx byte
 * written is marked; one put_used-visible signal per queue per burst;
 * partial tx bursts and rx_put/rx_flush used directly; the lean burst of
 * vqcore_net_forward() handing what it does not take to the general path
 * within the call, and hostile tx and rx descriptors met in it.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "glue/glue.h"
#include "vqtest.h"
#include <vqcore/net.h>

#define FMT (vqt_formats[_i])
#define NET_F_V1 VQCORE_BIT(VQCORE_F_VERSION_1)
#define NET_F_MRG VQCORE_BIT(VQCORE_NET_F_MRG_RXBUF)
/* a tx offload negotiated: the device reads and checks tx headers */
#define NET_F_CSUM VQCORE_BIT(VQCORE_NET_F_CSUM)
#define MAXRX 512

/* A tx queue and an rx queue, each with its own guest memory. */
struct nt {
	struct vqt tx, rx;
	struct vqcore_net *net;
	uint64_t features;
	/* the driver's rx buffers: token i + 1 is buffer i */
	uint64_t rx_gpa[MAXRX];
	uint32_t rx_len[MAXRX];
	unsigned nrx;
	unsigned tx_pending;         /* tx buffers added, not yet used */
	int rx_call, tx_call;        /* the device's call eventfds */
};

static void nt_setup_cfg(struct nt *t, unsigned format, uint64_t ring_features,
			 const struct vqcore_net_config *cfg, uint16_t rx_num)
{
	memset(t, 0, sizeof(*t));
	vqt_setup(&t->tx, format, 256, ring_features, 0);
	vqt_setup(&t->rx, format, rx_num, ring_features, 0);
	t->features = cfg->features;
	ck_assert_int_eq(vqcore_net_new(cfg, &t->net), 0);
	t->rx_call = vqcore_eventfd_new();
	t->tx_call = vqcore_eventfd_new();
	ck_assert_int_ge(t->rx_call, 0);
	ck_assert_int_ge(t->tx_call, 0);
	vqcore_vq_set_call_fd(t->rx.vq, t->rx_call);
	vqcore_vq_set_call_fd(t->tx.vq, t->tx_call);
}

static void nt_setup(struct nt *t, unsigned format, uint64_t features)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = features };

	nt_setup_cfg(t, format, VQT_F_BASE, &cfg, 256);
}

static void nt_teardown(struct nt *t)
{
	vqcore_net_free(t->net);
	vqcore_vq_set_call_fd(t->rx.vq, -1);
	vqcore_vq_set_call_fd(t->tx.vq, -1);
	close(t->rx_call);
	close(t->tx_call);
	vqt_teardown(&t->tx);
	vqt_teardown(&t->rx);
}

/* Signals written to @fd since the last call. */
static uint64_t calls(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/*
 * The driver sends a frame of @len bytes (content from @seed) with header
 * @h: as two descriptors, header then frame (Linux), or one (DPDK).
 */
static void send_frame(struct nt *t, size_t len, uint32_t seed,
		       const struct vqcore_net_hdr *h, bool split_hdr)
{
	unsigned hl = vqcore_net_hdr_len(t->features);
	uint64_t gpa = vqt_alloc(&t->tx, (uint32_t)(hl + len));
	static uint8_t p[12 + 70000];
	struct vqcore_net_hdr zero = { 0 };
	struct vqcore_sg sg[2] = { { gpa, hl }, { gpa + hl, (uint32_t)len } };

	/* written through the table: the frame may cross a region boundary */
	ck_assert_uint_le(len, sizeof(p) - 12);
	memcpy(p, h ? h : &zero, hl);
	fill(p + hl, len, seed);
	ck_assert_int_eq(vqcore_mem_write(t->tx.mem, gpa, p, hl + len), 0);
	if (split_hdr)
		ck_assert_int_eq(vqcore_drvq_add(t->tx.dq, sg, len ? 2 : 1, 0, (void *)1, 0), 0);
	else {
		sg[0].len = (uint32_t)(hl + len);
		ck_assert_int_eq(vqcore_drvq_add(t->tx.dq, sg, 1, 0, (void *)1, 0), 0);
	}
	vqcore_drvq_publish(t->tx.dq);
	t->tx_pending++;
}

/* The driver adds a tx chain of its own making. */
static void send_sg(struct nt *t, const struct vqcore_sg *sg, unsigned nout, unsigned nin)
{
	ck_assert_int_eq(vqcore_drvq_add(t->tx.dq, sg, nout, nin, (void *)1, 0), 0);
	vqcore_drvq_publish(t->tx.dq);
	t->tx_pending++;
}

/* The driver posts @n rx buffers of @size bytes at @gpa (0: allocate). */
static void post_rx_at(struct nt *t, unsigned n, uint32_t size, uint64_t gpa)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned k = t->nrx++;
		struct vqcore_sg sg;

		ck_assert_uint_lt(k, MAXRX);
		t->rx_gpa[k] = gpa ? gpa + (uint64_t)i * size : vqt_alloc(&t->rx, size);
		t->rx_len[k] = size;
		{
			/* through the table: a buffer may cross the region
			 * boundary, where host addresses do not follow */
			static uint8_t junk[4096];

			ck_assert_uint_le(size, sizeof(junk));
			memset(junk, 0xee, size);
			ck_assert_int_eq(vqcore_mem_write(t->rx.mem, t->rx_gpa[k], junk, size), 0);
		}
		sg = (struct vqcore_sg){ t->rx_gpa[k], size };
		ck_assert_int_eq(vqcore_drvq_add(t->rx.dq, &sg, 0, 1, (void *)(uintptr_t)(k + 1), 0), 0);
	}
	vqcore_drvq_publish(t->rx.dq);
}

static void post_rx(struct nt *t, unsigned n, uint32_t size)
{
	post_rx_at(t, n, size, 0);
}

/* Copy [gpa, gpa + len) of the rx memory out (it may span regions). */
static void rx_read(struct nt *t, uint64_t gpa, void *dst, size_t len)
{
	if (len)
		ck_assert_int_eq(vqcore_mem_read(t->rx.mem, gpa, dst, len), 0);
}

/*
 * The driver takes one frame off rx: the first buffer's header says how
 * many buffers follow.  Returns the frame length, or -1 if rx has none.
 * @hdr receives the header (num_buffers converted to host order).
 */
static long recv_frame(struct nt *t, uint8_t *frame, size_t max, struct vqcore_net_hdr *hdr)
{
	unsigned hl = vqcore_net_hdr_len(t->features);
	unsigned want = 1, got = 0;
	size_t len = 0;

	while (got < want) {
		void *tok;
		uint32_t used;
		int m = vqcore_drvq_get_used(t->rx.dq, &tok, &used, 1);
		unsigned k;

		ck_assert_int_ge(m, 0);
		if (m == 0) {
			ck_assert_msg(got == 0, "frame cut after %u buffers", got);
			return -1;
		}
		k = (unsigned)(uintptr_t)tok - 1;
		ck_assert_uint_lt(k, t->nrx);
		ck_assert_uint_le(used, t->rx_len[k]);
		if (got == 0) {
			struct vqcore_net_hdr h = { 0 };

			ck_assert_uint_ge(used, hl);
			rx_read(t, t->rx_gpa[k], &h, hl);
			if (hl == 12) {
				h.num_buffers = le16toh(h.num_buffers);
				ck_assert_uint_ge(h.num_buffers, 1);
				want = h.num_buffers;
			}
			ck_assert_uint_le(used - hl, max);
			rx_read(t, t->rx_gpa[k] + hl, frame, used - hl);
			len = used - hl;
			if (hdr)
				*hdr = h;
		} else {
			ck_assert_uint_le(len + used, max);
			rx_read(t, t->rx_gpa[k], frame + len, used);
			len += used;
		}
		got++;
	}
	return (long)len;
}

/* The driver collects used tx buffers; how many. */
static unsigned tx_used(struct nt *t)
{
	void *tok[64];
	unsigned n = 0;
	int m;

	while ((m = vqcore_drvq_get_used(t->tx.dq, tok, NULL, 64)) > 0)
		n += (unsigned)m;
	ck_assert_int_eq(m, 0);
	ck_assert_uint_le(n, t->tx_pending);
	t->tx_pending -= n;
	return n;
}

static void expect_frame(struct nt *t, size_t len, uint32_t seed, unsigned nbufs)
{
	uint8_t want[70000], got[70000];
	struct vqcore_net_hdr h;
	long r = recv_frame(t, got, sizeof(got), &h);

	ck_assert_int_eq(r, (long)len);
	fill(want, len, seed);
	ck_assert_mem_eq(got, want, len);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.gso_type, 0);
	if (vqcore_net_hdr_len(t->features) == 12)
		ck_assert_uint_eq(h.num_buffers, nbufs);
}

static struct vqcore_net_stats stats(struct nt *t)
{
	struct vqcore_net_stats s = { .sz = sizeof(s) };

	ck_assert_int_eq(vqcore_net_get_stats(t->net, &s), 0);
	return s;
}

/* ---- tests ---- */

START_TEST(header_sizes)
{
	struct vqcore_net_hdr h;

	ck_assert_uint_eq(sizeof(h), 12);
	ck_assert_uint_eq(vqcore_net_hdr_len(0), 10);
	ck_assert_uint_eq(vqcore_net_hdr_len(NET_F_V1), 12);
	ck_assert_uint_eq(vqcore_net_hdr_len(NET_F_MRG), 12);
	ck_assert_uint_eq(vqcore_net_hdr_len(NET_F_V1 | NET_F_MRG), 12);
	/* the byte order of the wire */
	memcpy(&h, "\0\0\x34\x12\0\0\0\0\0\0\x02\x01", 12);
	ck_assert_uint_eq(vqcore_le16_to_cpu(h.hdr_len), 0x1234);
	ck_assert_uint_eq(vqcore_le16_to_cpu(h.num_buffers), 0x0102);
}
END_TEST

/*
 * Frames of several sizes, both tx layouts, forwarded in one burst: each
 * arrives whole with a zero header and num_buffers 1; one signal per
 * queue for the burst; every tx buffer used.
 */
START_TEST(frames_round_trip)
{
	static const size_t sizes[] = { 0, 1, 60, 64, 243, 1514, 2000 };
	struct nt t;
	unsigned n = 0;
	bool full;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	post_rx(&t, 64, 2048 + 12);
	for (unsigned layout = 0; layout < 2; layout++)
		for (unsigned k = 0; k < VQ_ARRAY_SIZE(sizes); k++, n++)
			send_frame(&t, sizes[k], n, NULL, layout == 0);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), (int)n);
	ck_assert(!full);
	ck_assert_uint_eq(calls(t.rx_call), 1);
	ck_assert_uint_eq(calls(t.tx_call), 1);
	ck_assert_uint_eq(tx_used(&t), n);
	n = 0;
	for (unsigned layout = 0; layout < 2; layout++)
		for (unsigned k = 0; k < VQ_ARRAY_SIZE(sizes); k++, n++)
			expect_frame(&t, sizes[k], n, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).tx_frames, n);
	ck_assert_uint_eq(stats(&t).rx_frames, n);
	ck_assert_uint_eq(stats(&t).rx_bufs, n);
	/* the rx buffers not filled are still the device's to take */
	ck_assert_uint_eq(vqcore_vq_inflight(t.rx.vq), 0);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), 0);
	ck_assert_uint_eq(calls(t.rx_call), 0);
	nt_teardown(&t);
}
END_TEST

/* More frames than a burst: several bursts, order kept. */
START_TEST(bursts_keep_order)
{
	struct nt t;
	int moved = 0, r;

	nt_setup(&t, FMT, NET_F_V1);
	post_rx(&t, 100, 128);
	for (unsigned i = 0; i < 100; i++)
		send_frame(&t, 60, 100 + i, NULL, i & 1);
	while ((r = vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL)) > 0) {
		ck_assert_int_le(r, VQCORE_NET_DEFAULT_BURST);
		moved += r;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(moved, 100);
	/* a signal per burst: 4 bursts of at most 32 */
	ck_assert_uint_eq(calls(t.rx_call), 4);
	for (unsigned i = 0; i < 100; i++)
		expect_frame(&t, 60, 100 + i, 1);
	ck_assert_uint_eq(tx_used(&t), 100);
	nt_teardown(&t);
}
END_TEST

/*
 * Mergeable rx buffers: a frame over several buffers, num_buffers in the
 * first, the used lengths covering header and frame exactly; a frame
 * that fits one buffer exactly takes one.
 */
START_TEST(mergeable_spans_buffers)
{
	struct nt t;
	uint32_t lens[8];
	void *tok[8];

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	post_rx(&t, 16, 256);
	send_frame(&t, 1000, 1, NULL, true);          /* 1012 bytes: 4 buffers */
	send_frame(&t, 256 - 12, 2, NULL, false);     /* exactly one */
	send_frame(&t, 256 - 11, 3, NULL, true);      /* one byte more: two */
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 3);
	expect_frame(&t, 1000, 1, 4);
	expect_frame(&t, 256 - 12, 2, 1);
	expect_frame(&t, 256 - 11, 3, 2);
	ck_assert_uint_eq(stats(&t).rx_frames, 3);
	ck_assert_uint_eq(stats(&t).rx_bufs, 7);
	/* the used lengths: 256, 256, 256, 244 for the first frame */
	post_rx(&t, 4, 256);
	send_frame(&t, 1000, 4, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 1);
	ck_assert_int_eq(vqcore_drvq_get_used(t.rx.dq, tok, lens, 8), 4);
	ck_assert_uint_eq(lens[0], 256);
	ck_assert_uint_eq(lens[1], 256);
	ck_assert_uint_eq(lens[2], 256);
	ck_assert_uint_eq(lens[3], 1012 - 3 * 256);
	nt_teardown(&t);
}
END_TEST

/*
 * Without MRG_RXBUF: a 12-byte header with num_buffers 1 (VERSION_1) or
 * the legacy 10-byte one; a frame larger than the next rx buffer is
 * dropped and counted, the buffer stays for the next frame.
 */
START_TEST(no_mergeable_too_big_dropped)
{
	for (unsigned legacy = 0; legacy < 2; legacy++) {
		struct nt t;
		unsigned hl = legacy ? 10 : 12;

		nt_setup(&t, FMT, legacy ? 0 : NET_F_V1);
		post_rx(&t, 4, 256);
		send_frame(&t, 256 - hl + 1, 1, NULL, true);  /* one byte too many */
		send_frame(&t, 256 - hl, 2, NULL, false);     /* fits exactly */
		send_frame(&t, 60, 3, NULL, true);
		ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 3);
		ck_assert_uint_eq(tx_used(&t), 3);
		expect_frame(&t, 256 - hl, 2, 1);
		expect_frame(&t, 60, 3, 1);
		ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
		ck_assert_uint_eq(stats(&t).drop_too_big, 1);
		ck_assert_uint_eq(stats(&t).tx_frames, 3);
		ck_assert_uint_eq(stats(&t).rx_frames, 2);
		nt_teardown(&t);
	}
}
END_TEST

/*
 * With MRG_RXBUF: a frame needing more buffers than the rx queue has
 * (queue of 8) or than the helper allows per frame is dropped and
 * counted; the frames after it arrive.
 */
START_TEST(mergeable_too_big_dropped)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = NET_F_V1 | NET_F_MRG };
	struct nt t;

	nt_setup_cfg(&t, FMT, VQT_F_BASE, &cfg, 8);
	post_rx(&t, 8, 128);
	send_frame(&t, 9 * 128, 1, NULL, true);        /* 10 buffers of 8 */
	send_frame(&t, 7 * 128, 2, NULL, true);        /* 8 buffers: fits */
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 2);
	expect_frame(&t, 7 * 128, 2, 8);
	ck_assert_uint_eq(stats(&t).drop_too_big, 1);
	nt_teardown(&t);

	cfg.max_bufs_per_frame = 3;
	nt_setup_cfg(&t, FMT, VQT_F_BASE, &cfg, 256);
	post_rx(&t, 8, 128);
	send_frame(&t, 3 * 128, 3, NULL, true);        /* 4 buffers > 3 */
	send_frame(&t, 3 * 128 - 12, 4, NULL, true);   /* 3 buffers */
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 2);
	expect_frame(&t, 3 * 128 - 12, 4, 3);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).drop_too_big, 1);
	nt_teardown(&t);
}
END_TEST

/*
 * tx chains the device must refuse (virtio 1.2 5.1.6.2): shorter than the
 * header, a writable part, NEEDS_CSUM without VIRTIO_NET_F_CSUM, a GSO
 * type without its HOST_ feature, DATA_VALID (a device flag), an
 * unknown GSO type.  Each is used (returned) and counted, never
 * forwarded, and the good frames among them still arrive in order.
 */
/*
 * A tx chain's device-writable part is frame data after its readable part:
 * DPDK's virtio PMD marks descriptors of its packed tx indirect tables
 * writable that hold the frame, and DPDK's vhost reads them.
 */
START_TEST(tx_writable_part_is_frame_data)
{
	struct nt t;
	unsigned hl;
	static uint8_t p[12 + 200];
	struct vqcore_sg sg[3];
	uint64_t g;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	hl = vqcore_net_hdr_len(t.features);
	post_rx(&t, 8, 2048);
	memset(p, 0, hl);
	/* frame 1: header and 30 bytes readable, 40 bytes writable */
	fill(p + hl, 70, 1);
	g = vqt_alloc(&t.tx, hl + 70);
	ck_assert_int_eq(vqcore_mem_write(t.tx.mem, g, p, hl + 70), 0);
	sg[0] = (struct vqcore_sg){ g, hl + 30 };
	sg[1] = (struct vqcore_sg){ g + hl + 30, 40 };
	send_sg(&t, sg, 1, 1);
	/* frame 2: all writable, the header in its own descriptor */
	fill(p + hl, 90, 2);
	g = vqt_alloc(&t.tx, hl + 90);
	ck_assert_int_eq(vqcore_mem_write(t.tx.mem, g, p, hl + 90), 0);
	sg[0] = (struct vqcore_sg){ g, hl };
	sg[1] = (struct vqcore_sg){ g + hl, 50 };
	sg[2] = (struct vqcore_sg){ g + hl + 50, 40 };
	send_sg(&t, sg, 0, 3);
	/* frame 3: the header split between the readable and writable parts */
	fill(p + hl, 60, 3);
	g = vqt_alloc(&t.tx, hl + 60);
	ck_assert_int_eq(vqcore_mem_write(t.tx.mem, g, p, hl + 60), 0);
	sg[0] = (struct vqcore_sg){ g, 4 };
	sg[1] = (struct vqcore_sg){ g + 4, hl + 60 - 4 };
	send_sg(&t, sg, 1, 1);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 3);
	ck_assert_uint_eq(tx_used(&t), 3);
	expect_frame(&t, 70, 1, 1);
	expect_frame(&t, 90, 2, 1);
	expect_frame(&t, 60, 3, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 0);
	ck_assert_uint_eq(stats(&t).tx_frames, 3);
	nt_teardown(&t);
}
END_TEST

START_TEST(bad_tx_header_dropped)
{
	struct nt t;
	/* CSUM negotiated: headers are read; a checksum past the frame, a
	 * GSO type without its HOST_ feature, an rx flag, an unknown type */
	struct vqcore_net_hdr csum = { .flags = VQCORE_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = htole16(60) };
	struct vqcore_net_hdr gso = { .gso_type = VQCORE_NET_HDR_GSO_TCPV4 };
	struct vqcore_net_hdr valid = { .flags = VQCORE_NET_HDR_F_DATA_VALID };
	struct vqcore_net_hdr unknown = { .gso_type = 2 };
	uint64_t g;
	struct vqcore_sg sg[2];

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG | NET_F_CSUM);
	post_rx(&t, 8, 2048);
	send_frame(&t, 60, 1, NULL, true);
	g = vqt_alloc(&t.tx, 64);
	{
		static const uint8_t z[64];

		ck_assert_int_eq(vqcore_mem_write(t.tx.mem, g, z, sizeof(z)), 0);
	}
	sg[0] = (struct vqcore_sg){ g, 11 };                  /* short */
	send_sg(&t, sg, 1, 0);
	sg[0] = (struct vqcore_sg){ g, 11 };                  /* short, writable */
	send_sg(&t, sg, 0, 1);
	send_frame(&t, 60, 2, &csum, true);
	send_frame(&t, 60, 3, &gso, false);
	send_frame(&t, 60, 4, &valid, true);
	send_frame(&t, 60, 5, &unknown, true);
	send_frame(&t, 70, 6, NULL, false);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 8);
	ck_assert_uint_eq(tx_used(&t), 8);
	expect_frame(&t, 60, 1, 1);
	expect_frame(&t, 70, 6, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 6);
	ck_assert_uint_eq(stats(&t).tx_frames, 8);
	ck_assert_uint_eq(stats(&t).rx_frames, 2);

	/* a burst of bad chains only: all returned, nothing left open */
	send_frame(&t, 60, 7, &csum, true);
	send_frame(&t, 60, 8, &gso, true);
	{
		struct vqcore_net_frame f[4];

		ck_assert_int_eq(vqcore_net_tx_get(t.net, t.tx.vq, f, 4), 0);
		ck_assert_uint_eq(tx_used(&t), 2);
		ck_assert_int_eq(vqcore_net_tx_done(t.net, t.tx.vq, 0), -EINVAL);
	}
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 8);
	nt_teardown(&t);
}
END_TEST

/*
 * Offloads the driver negotiated are accepted and passed on: NEEDS_CSUM
 * with VIRTIO_NET_F_CSUM reaches rx with its fields when the rx side has
 * GUEST_CSUM, and is dropped (drop_offload) when it has not; a checksum
 * position past the frame is a bad header.
 */
START_TEST(offloads_checked)
{
	struct nt t;
	struct vqcore_net_hdr h = { .flags = VQCORE_NET_HDR_F_NEEDS_CSUM,
				    .csum_start = htole16(34), .csum_offset = htole16(16) };
	struct vqcore_net_hdr past = h;
	struct vqcore_net_hdr got;
	uint8_t buf[128];

	past.csum_start = htole16(50); /* 50 + 16 + 2 > 60 */
	nt_setup(&t, FMT, NET_F_V1 | VQCORE_BIT(VQCORE_NET_F_CSUM) |
		 VQCORE_BIT(VQCORE_NET_F_GUEST_CSUM));
	post_rx(&t, 4, 256);
	send_frame(&t, 60, 1, &h, true);
	send_frame(&t, 60, 2, &past, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 2);
	ck_assert_int_eq(recv_frame(&t, buf, sizeof(buf), &got), 60);
	ck_assert_uint_eq(got.flags, VQCORE_NET_HDR_F_NEEDS_CSUM);
	ck_assert_uint_eq(le16toh(got.csum_start), 34);
	ck_assert_uint_eq(le16toh(got.csum_offset), 16);
	ck_assert_uint_eq(got.num_buffers, 1);
	ck_assert_int_eq(recv_frame(&t, buf, sizeof(buf), NULL), -1);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 1);
	nt_teardown(&t);

	nt_setup(&t, FMT, NET_F_V1 | VQCORE_BIT(VQCORE_NET_F_CSUM));
	post_rx(&t, 4, 256);
	send_frame(&t, 60, 1, &h, true);
	send_frame(&t, 60, 2, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 2);
	expect_frame(&t, 60, 2, 1);
	ck_assert_uint_eq(stats(&t).drop_offload, 1);
	{
		/* rx_put refuses it too, as the caller's mistake */
		struct iovec v = { buf, 60 };
		struct vqcore_net_frame f = { .iov = &v, .iov_cnt = 1, .len = 60, .hdr = h };

		ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, 0), -EINVAL);
		ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), 0);
	}
	nt_teardown(&t);
}
END_TEST

/*
 * The guest stops taking frames: it posts 16 rx buffers and sends 128
 * frames.  16 arrive; the rest wait on the tx ring (their buffers not
 * used, none held by the device) however often the device polls, and the
 * library allocates nothing meanwhile; when rx buffers come, every frame
 * arrives, in order.
 */
START_TEST(rx_flood_waits)
{
	struct nt t;
	uint64_t a0;
	bool full;
	int r;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	post_rx(&t, 16, 128);
	for (unsigned i = 0; i < 128; i++)
		send_frame(&t, 60, i, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), 16);
	ck_assert(full);
	ck_assert_uint_eq(vqcore_vq_inflight(t.tx.vq), 0);
	ck_assert_uint_eq(vqcore_vq_inflight(t.rx.vq), 0);
	ck_assert_uint_eq(tx_used(&t), 16);
	a0 = vq_alloc_count();
	for (unsigned round = 0; round < 1000; round++) {
		ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), 0);
		ck_assert(full);
	}
	ck_assert_uint_eq(vq_alloc_count(), a0);
	ck_assert_uint_eq(vqcore_vq_inflight(t.tx.vq), 0);
	ck_assert_uint_eq(tx_used(&t), 0);
	for (unsigned i = 0; i < 16; i++)
		expect_frame(&t, 60, i, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	/* the guest takes frames again */
	post_rx(&t, 112, 128);
	while ((r = vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full)) > 0)
		;
	ck_assert_int_eq(r, 0);
	ck_assert(!full);
	for (unsigned i = 16; i < 128; i++)
		expect_frame(&t, 60, i, 1);
	ck_assert_uint_eq(tx_used(&t), 112);
	ck_assert_uint_eq(stats(&t).rx_frames, 128);
	ck_assert_uint_eq(stats(&t).drop_no_rx, 0);
	nt_teardown(&t);
}
END_TEST

/* The same flood with VQCORE_NET_RX_DROP: frames with no rx buffer are
 * dropped and counted, every tx buffer is used, nothing is allocated. */
START_TEST(rx_flood_drops_counted)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = NET_F_V1 | NET_F_MRG,
					 .flags = VQCORE_NET_RX_DROP };
	struct nt t;
	uint64_t a0;
	bool full;
	int moved = 0, r;

	nt_setup_cfg(&t, FMT, VQT_F_BASE, &cfg, 256);
	post_rx(&t, 16, 128);
	a0 = vq_alloc_count();
	for (unsigned round = 0; round < 8; round++) {
		for (unsigned i = 0; i < 128; i++)
			send_frame(&t, 60, round * 128 + i, NULL, true);
		while ((r = vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full)) > 0) {
			ck_assert(!full);
			moved += r;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(tx_used(&t), 128);
	}
	ck_assert_uint_eq(vq_alloc_count(), a0);
	ck_assert_int_eq(moved, 8 * 128);
	for (unsigned i = 0; i < 16; i++)
		expect_frame(&t, 60, i, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).rx_frames, 16);
	ck_assert_uint_eq(stats(&t).drop_no_rx, 8 * 128 - 16);
	ck_assert_uint_eq(stats(&t).tx_frames, 8 * 128);
	nt_teardown(&t);
}
END_TEST

#define PG VQCORE_LOG_PAGE
#define LOG_BYTES (VQT_END / PG / 8 + 1)

static bool marked(const uint8_t *log, uint64_t gpa)
{
	return log[gpa / PG / 8] & (1u << (gpa / PG % 8));
}

/*
 * With a dirty log on the rx memory, every byte forwarded into rx buffers
 * (the header and the frame, over buffers that span pages and the region
 * boundary, mergeable) is marked when the buffers are returned; before
 * the forward nothing of them is.
 */
START_TEST(dirty_log_covers_rx)
{
	static uint8_t log[LOG_BYTES];
	struct nt t;
	uint32_t lens[64];
	void *tok[64];
	int m;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	/* 3000-byte rx buffers from 3 pages below the region boundary */
	post_rx_at(&t, 8, 3000, VQT_REGION_B - 3 * PG - 100);
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vqcore_mem_set_log(t.rx.mem, log, sizeof(log)), 0);
	for (uint64_t a = VQT_REGION_B - 4 * PG; a < VQT_REGION_B + 4 * PG; a += PG)
		ck_assert(!marked(log, a));
	send_frame(&t, 5000, 1, NULL, true);     /* two buffers */
	send_frame(&t, 7000, 2, NULL, false);    /* three */
	send_frame(&t, 100, 3, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 3);
	m = vqcore_drvq_get_used(t.rx.dq, tok, lens, 64);
	ck_assert_int_eq(m, 6);
	for (int i = 0; i < m; i++) {
		unsigned k = (unsigned)(uintptr_t)tok[i] - 1;

		for (uint64_t a = t.rx_gpa[k]; a < t.rx_gpa[k] + lens[i]; a++)
			ck_assert_msg(marked(log, a), "rx byte at 0x%llx not logged",
				      (unsigned long long)a);
	}
	ck_assert_int_eq(vqcore_mem_set_log(t.rx.mem, NULL, 0), 0);
	nt_teardown(&t);
}
END_TEST


/*
 * With no tx offload negotiated a tx header means nothing: the device
 * does not read it (virtio-net leaves the header to the features; DPDK's
 * vhost does the same).  Frames whose headers carry a checksum request, a
 * GSO type, an rx flag or an unknown type go through as plain frames, on
 * the lean path (header and frame in one descriptor) and the general one
 * (header alone), and tx_get hands them out with a zero header.  A buffer
 * shorter than a header is still dropped and counted.
 */
START_TEST(tx_header_ignored_without_offloads)
{
	struct vqcore_net_hdr hs[4] = {
		{ .flags = VQCORE_NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(60) },
		{ .gso_type = VQCORE_NET_HDR_GSO_TCPV4, .gso_size = htole16(1000) },
		{ .flags = VQCORE_NET_HDR_F_DATA_VALID },
		{ .gso_type = 2 },
	};
	struct vqcore_net_frame f[8];
	struct vqcore_sg sg;
	struct nt t;
	unsigned n = 0;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG);
	post_rx(&t, 16, 128);
	for (unsigned layout = 0; layout < 2; layout++)
		for (unsigned k = 0; k < 4; k++, n++)
			send_frame(&t, 60, n, &hs[k], layout == 1);
	sg = (struct vqcore_sg){ vqt_alloc(&t.tx, 64), 5 };
	send_sg(&t, &sg, 1, 0);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 9);
	for (unsigned i = 0; i < n; i++)
		expect_frame(&t, 60, i, 1);  /* a zero header, num_buffers 1 */
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(tx_used(&t), 9);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 1);
	ck_assert_uint_eq(stats(&t).rx_frames, n);

	for (unsigned k = 0; k < 4; k++)
		send_frame(&t, 60, 20 + k, &hs[k], k & 1);
	ck_assert_int_eq(vqcore_net_tx_get(t.net, t.tx.vq, f, 8), 4);
	for (unsigned k = 0; k < 4; k++) {
		ck_assert_uint_eq(f[k].len, 60);
		ck_assert_uint_eq(f[k].hdr.flags, 0);
		ck_assert_uint_eq(f[k].hdr.gso_type, 0);
		ck_assert_uint_eq(f[k].hdr.csum_start, 0);
		ck_assert_uint_eq(f[k].hdr.gso_size, 0);
	}
	ck_assert_int_eq(vqcore_net_tx_done(t.net, t.tx.vq, 4), 0);
	ck_assert_uint_eq(tx_used(&t), 4);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 1);
	nt_teardown(&t);
}
END_TEST
/*
 * tx_get / tx_done used directly: the caller takes 3 frames of 6 (a bad
 * chain among them); the buffers up to the 4th frame are used, the bad
 * chain counted once; the next tx_get returns the other 3 first.
 */
START_TEST(tx_partial_burst)
{
	struct nt t;
	struct vqcore_net_frame f[8];
	struct vqcore_net_hdr bad = { .flags = VQCORE_NET_HDR_F_DATA_VALID };
	uint8_t buf[128];

	nt_setup(&t, FMT, NET_F_V1 | NET_F_CSUM);
	for (unsigned i = 0; i < 7; i++) {
		if (i == 2)
			send_frame(&t, 60, 99, &bad, true);
		else
			send_frame(&t, 60 + i, i, NULL, i & 1);
	}
	ck_assert_int_eq(vqcore_net_tx_get(t.net, t.tx.vq, f, 8), 6);
	for (unsigned i = 0; i < 6; i++) {
		unsigned seq = i < 2 ? i : i + 1;

		ck_assert_uint_eq(f[i].len, 60 + seq);
		ck_assert_uint_eq(vqcore_iov_read(f[i].iov, f[i].iov_cnt, 0, buf, f[i].len), f[i].len);
		{
			uint8_t want[128];

			fill(want, f[i].len, seq);
			ck_assert_mem_eq(buf, want, f[i].len);
		}
	}
	ck_assert_int_eq(vqcore_net_tx_get(t.net, t.tx.vq, f, 8), -EBUSY);
	ck_assert_int_eq(vqcore_net_tx_done(t.net, t.tx.vq, 7), -EINVAL);
	ck_assert_int_eq(vqcore_net_tx_done(t.net, t.tx.vq, 3), 0);
	ck_assert_uint_eq(tx_used(&t), 4);              /* 3 frames + the bad chain */
	ck_assert_uint_eq(calls(t.tx_call), 1);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 1);
	ck_assert_int_eq(vqcore_net_tx_get(t.net, t.tx.vq, f, 8), 3);
	ck_assert_uint_eq(f[0].len, 64);
	ck_assert_int_eq(vqcore_net_tx_done(t.net, t.tx.vq, 3), 0);
	ck_assert_uint_eq(tx_used(&t), 3);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 1);
	ck_assert_uint_eq(stats(&t).tx_frames, 7);
	nt_teardown(&t);
}
END_TEST

/*
 * rx_put / rx_flush used directly with the caller's own frames: -EAGAIN
 * while the rx ring is empty (nothing consumed), frames from several
 * iovecs, one put_used and signal at the flush, the unused rx buffers
 * given back; a burst larger than the helper's rx array is flushed by
 * itself on the way.
 */
START_TEST(rx_put_direct)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = NET_F_V1 | NET_F_MRG,
					 .rx_bufs = 8 };
	struct nt t;
	uint8_t a[40], b[30];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct vqcore_net_frame f = { .iov = v, .iov_cnt = 2, .len = 70 };
	uint8_t got[128];

	nt_setup_cfg(&t, FMT, VQT_F_BASE, &cfg, 256);
	fill(a, sizeof(a), 5);
	memcpy(b, "0123456789abcdefghijklmnopqrst", 30);
	ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, 0), -EAGAIN);
	ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), 0);
	post_rx(&t, 20, 100);
	for (unsigned i = 0; i < 20; i++)
		ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, 19 - i), VQCORE_NET_PLACED);
	/* 8 at a time: two flushes on the way, the rest now */
	ck_assert_uint_eq(calls(t.rx_call), 2);
	ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), 4);
	ck_assert_uint_eq(calls(t.rx_call), 1);
	for (unsigned i = 0; i < 20; i++) {
		ck_assert_int_eq(recv_frame(&t, got, sizeof(got), NULL), 70);
		ck_assert_mem_eq(got, a, 40);
		ck_assert_mem_eq(got + 40, b, 30);
	}
	ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, 0), -EAGAIN);
	ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), 0);
	ck_assert_uint_eq(stats(&t).rx_frames, 20);
	/* a frame too big for one burst's array (8 x 100 bytes) */
	post_rx(&t, 12, 100);
	{
		static uint8_t big[1000];
		struct iovec bv = { big, sizeof(big) };
		struct vqcore_net_frame bf = { .iov = &bv, .iov_cnt = 1, .len = sizeof(big) };

		ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &bf, 0), VQCORE_NET_DROPPED);
		ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, 0), VQCORE_NET_PLACED);
		ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), 1);
		ck_assert_uint_eq(stats(&t).drop_too_big, 1);
	}
	ck_assert_int_eq(recv_frame(&t, got, sizeof(got), NULL), 70);
	ck_assert_uint_eq(vqcore_vq_inflight(t.rx.vq), 0);
	nt_teardown(&t);
}
END_TEST

/* A broken rx queue: frames are dropped and counted, tx keeps moving. */
START_TEST(broken_rx_counted)
{
	struct nt t;

	nt_setup(&t, FMT, NET_F_V1);
	post_rx(&t, 4, 256);
	/* a descriptor the device cannot map breaks the rx queue */
	{
		struct vqcore_sg sg = { VQT_END + 0x1000, 64 };

		ck_assert_int_eq(vqcore_drvq_add(t.rx.dq, &sg, 0, 1, (void *)100, 0), 0);
		vqcore_drvq_publish(t.rx.dq);
	}
	vqt_capture_log(&t.rx);
	for (unsigned i = 0; i < 8; i++)
		send_frame(&t, 60, i, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 8);
	ck_assert_int_ne(vqcore_vq_error(t.rx.vq), 0);
	ck_assert_uint_eq(tx_used(&t), 8);
	ck_assert_uint_eq(stats(&t).rx_frames, 0);
	ck_assert_uint_eq(stats(&t).drop_rx_error, 8);
	ck_assert_uint_eq(stats(&t).tx_frames, 8);
	/* no rx queue at all: the same */
	send_frame(&t, 60, 9, NULL, true);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, NULL, NULL), 1);
	ck_assert_uint_eq(stats(&t).drop_rx_error, 9);
	nt_teardown(&t);
}
END_TEST

/*
 * An rx buffer the device may not write (a readable descriptor only):
 * nothing is written into it, the frame is dropped and counted as too
 * big, the tx buffer is returned.  The buffer's four readable
 * descriptors fill the helper's iovec array (4 entries, 64 bytes): its
 * first writable iovec would lie past the array and must not be read
 * (valgrind or ASan see it).
 */
START_TEST(rx_buffer_not_writable)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = NET_F_V1, .max_iov = 4 };
	struct nt t;
	struct vqcore_sg sg[4];
	uint8_t got[64], junk[64];

	nt_setup_cfg(&t, FMT, VQT_F_BASE, &cfg, 256);
	t.rx_gpa[0] = vqt_alloc(&t.rx, 64);
	t.rx_len[0] = 64;
	t.nrx = 1;
	memset(junk, 0xee, sizeof(junk));
	ck_assert_int_eq(vqcore_mem_write(t.rx.mem, t.rx_gpa[0], junk, 64), 0);
	for (unsigned i = 0; i < 4; i++)
		sg[i] = (struct vqcore_sg){ t.rx_gpa[0] + 16 * i, 16 };
	ck_assert_int_eq(vqcore_drvq_add(t.rx.dq, sg, 4, 0, (void *)1, 0), 0);
	vqcore_drvq_publish(t.rx.dq);
	send_frame(&t, 40, 1, NULL, false);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 1);
	ck_assert_uint_eq(tx_used(&t), 1);
	ck_assert_uint_eq(stats(&t).drop_too_big, 1);
	ck_assert_uint_eq(stats(&t).rx_frames, 0);
	rx_read(&t, t.rx_gpa[0], got, 64);
	ck_assert_mem_eq(got, junk, 64);
	nt_teardown(&t);
}
END_TEST

/*
 * The lean burst (one-descriptor frames and rx buffers, lib/vq_lean.h)
 * stops at what it leaves to the general path, which takes the rest of
 * the burst in the same call: a chain (Linux's layout), a frame with an
 * offload, a tx buffer shorter than a header (dropped by the lean loop
 * itself), a frame bigger than its rx buffer (mergeable: over two).
 * Every frame arrives in order or is counted; one signal per queue.
 */
START_TEST(lean_burst_hands_rest_to_general)
{
	struct vqcore_net_hdr csum = { .flags = VQCORE_NET_HDR_F_NEEDS_CSUM,
				       .csum_start = htole16(60) };
	struct nt t;
	struct vqcore_sg sg;
	uint64_t g;
	bool full;

	nt_setup(&t, FMT, NET_F_V1 | NET_F_MRG | NET_F_CSUM);
	post_rx(&t, 16, 128);
	send_frame(&t, 60, 1, NULL, false);
	send_frame(&t, 64, 2, NULL, false);
	g = vqt_alloc(&t.tx, 64);
	sg = (struct vqcore_sg){ g, 5 };                 /* short: dropped */
	send_sg(&t, &sg, 1, 0);
	send_frame(&t, 60, 3, NULL, false);
	send_frame(&t, 60, 4, &csum, false);             /* checksum past the frame */
	send_frame(&t, 60, 5, NULL, false);
	send_frame(&t, 60, 6, NULL, true);               /* a chain */
	send_frame(&t, 200, 7, NULL, false);             /* over two rx buffers */
	send_frame(&t, 60, 8, NULL, false);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), 9);
	ck_assert(!full);
	ck_assert_uint_eq(calls(t.rx_call), 1);
	ck_assert_uint_eq(calls(t.tx_call), 1);
	ck_assert_uint_eq(tx_used(&t), 9);
	expect_frame(&t, 60, 1, 1);
	expect_frame(&t, 64, 2, 1);
	expect_frame(&t, 60, 3, 1);
	expect_frame(&t, 60, 5, 1);
	expect_frame(&t, 60, 6, 1);
	expect_frame(&t, 200, 7, 2);
	expect_frame(&t, 60, 8, 1);
	ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
	ck_assert_uint_eq(stats(&t).drop_bad_tx, 2);
	ck_assert_uint_eq(stats(&t).tx_frames, 9);
	ck_assert_uint_eq(stats(&t).rx_frames, 7);
	ck_assert_uint_eq(stats(&t).rx_bufs, 8);
	ck_assert_uint_eq(vqcore_vq_inflight(t.rx.vq), 0);
	ck_assert_uint_eq(vqcore_vq_inflight(t.tx.vq), 0);
	/* the rx ring had more than it took: those stay for later */
	send_frame(&t, 60, 9, NULL, false);
	ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, &full), 1);
	expect_frame(&t, 60, 9, 1);
	nt_teardown(&t);
}
END_TEST

/* Ring descriptor as the tests corrupt it (both formats are 16 bytes). */
struct net_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t a;  /* split: flags; packed: id */
	uint16_t b;  /* split: next; packed: flags */
};

/* The @k-th buffer of a fresh queue: an id out of range, or unmapped. */
static void net_corrupt(struct vqt *q, unsigned k, bool bad_id)
{
	struct net_raw *d = vqt_hva(q, q->ring.desc);
	uint16_t *avail = (uint16_t *)vqt_hva(q, q->ring.driver) + 2;

	if (q->format == VQCORE_FORMAT_SPLIT) {
		if (bad_id)
			avail[k] = vqt_le16(q->num);
		else
			d[vqt_le16(avail[k])].addr = vqt_le64(0x7000000000ull);
	} else {
		if (bad_id)
			d[k].a = vqt_le16(q->num);
		else
			d[k].addr = vqt_le64(0x7000000000ull);
	}
}

/*
 * Hostile tx descriptors in a lean burst (DPDK's layout): the frames
 * before the bad one are forwarded, the tx queue breaks with the error
 * the general path gives (id out of range, address outside the table),
 * the rx queue is untouched, and no tx buffer after it is used.
 */
START_TEST(lean_hostile_tx)
{
	for (unsigned bad_id = 0; bad_id < 2; bad_id++) {
		struct nt t;
		int err = !bad_id ? -VQCORE_E_UNMAPPED :
			  FMT == VQCORE_FORMAT_SPLIT ? -VQCORE_E_DESC_INDEX : -VQCORE_E_BAD_ID;

		nt_setup(&t, FMT, NET_F_V1);
		vqt_capture_log(&t.tx);
		post_rx(&t, 8, 128);
		for (unsigned i = 0; i < 5; i++)
			send_frame(&t, 60, i, NULL, false);
		net_corrupt(&t.tx, 3, bad_id);
		ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 3);
		ck_assert_int_eq(vqcore_vq_error(t.tx.vq), err);
		ck_assert_int_eq(vqcore_vq_error(t.rx.vq), 0);
		for (unsigned i = 0; i < 3; i++)
			expect_frame(&t, 60, i, 1);
		ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
		ck_assert_uint_eq(tx_used(&t), 3);
		ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL),
				 -VQCORE_E_BROKEN);
		ck_assert_uint_eq(stats(&t).rx_frames, 3);
		ck_assert_uint_eq(vqcore_vq_inflight(t.rx.vq), 0);
		nt_teardown(&t);
	}
}
END_TEST

/*
 * Hostile rx descriptors in a lean burst: the frames that got an rx
 * buffer before the bad one arrive, the rx queue breaks with the general
 * path's error, the other frames are dropped and counted, every tx buffer
 * is used.
 */
START_TEST(lean_hostile_rx)
{
	for (unsigned bad_id = 0; bad_id < 2; bad_id++) {
		struct nt t;
		int err = !bad_id ? -VQCORE_E_UNMAPPED :
			  FMT == VQCORE_FORMAT_SPLIT ? -VQCORE_E_DESC_INDEX : -VQCORE_E_BAD_ID;

		nt_setup(&t, FMT, NET_F_V1);
		vqt_capture_log(&t.rx);
		post_rx(&t, 8, 128);
		net_corrupt(&t.rx, 2, bad_id);
		for (unsigned i = 0; i < 5; i++)
			send_frame(&t, 60, i, NULL, false);
		ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 5);
		ck_assert_int_eq(vqcore_vq_error(t.rx.vq), err);
		ck_assert_int_eq(vqcore_vq_error(t.tx.vq), 0);
		expect_frame(&t, 60, 0, 1);
		expect_frame(&t, 60, 1, 1);
		ck_assert_int_eq(recv_frame(&t, NULL, 0, NULL), -1);
		ck_assert_uint_eq(tx_used(&t), 5);
		ck_assert_uint_eq(stats(&t).rx_frames, 2);
		ck_assert_uint_eq(stats(&t).drop_rx_error, 3);
		ck_assert_uint_eq(stats(&t).tx_frames, 5);
		ck_assert_uint_eq(vqcore_vq_inflight(t.tx.vq), 0);
		nt_teardown(&t);
	}
}
END_TEST

/*
 * An rx header is written only where it differs from the one the device
 * would write (drivers that recycle buffers keep that line shared): a
 * buffer that already holds it keeps it, and any other gets it whole,
 * whichever single byte differs.  60-byte frames, more in a burst than
 * the distance at which the lean burst prefetches rx data lines; both
 * header sizes; three paths: the lean burst of vqcore_net_forward(), its
 * general burst (header and frame in two tx descriptors), and
 * vqcore_net_rx_put().
 */
START_TEST(rx_header_written_where_it_differs)
{
	for (unsigned path = 0; path < 3; path++) {
		for (unsigned v1 = 0; v1 < 2; v1++) {
			const unsigned hl = v1 ? 12 : 10;
			/* 0: the header already; 1: post_rx's junk; 2 + i: byte i off */
			const unsigned n = 2 + hl;
			uint8_t want[12] = { 0 };
			struct nt t;

			if (v1)
				want[10] = 1;  /* num_buffers 1, little-endian */
			nt_setup(&t, FMT, v1 ? NET_F_V1 | NET_F_MRG : 0);
			ck_assert_uint_eq(vqcore_net_hdr_len(t.features), hl);
			post_rx(&t, n, 128);
			for (unsigned k = 0; k < n; k++) {
				uint8_t h[12];

				if (k == 1)
					continue;
				memcpy(h, want, hl);
				if (k >= 2)
					h[k - 2] ^= 0x5a;
				ck_assert_int_eq(vqcore_mem_write(t.rx.mem, t.rx_gpa[k], h, hl), 0);
			}
			if (path < 2) {
				for (unsigned k = 0; k < n; k++)
					send_frame(&t, 60, 700 + k, NULL, path == 1);
				ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL),
						 (int)n);
				ck_assert_uint_eq(tx_used(&t), n);
			} else {
				for (unsigned k = 0; k < n; k++) {
					uint8_t p[60];
					struct iovec v = { p, sizeof(p) };
					struct vqcore_net_frame f = { .iov = &v, .iov_cnt = 1,
								      .len = sizeof(p) };

					fill(p, sizeof(p), 700 + k);
					ck_assert_int_eq(vqcore_net_rx_put(t.net, t.rx.vq, &f, n - 1 - k),
							 VQCORE_NET_PLACED);
				}
				ck_assert_int_eq(vqcore_net_rx_flush(t.net, t.rx.vq), (int)n);
			}
			for (unsigned k = 0; k < n; k++) {
				uint8_t got[12];

				rx_read(&t, t.rx_gpa[k], got, hl);
				ck_assert_msg(!memcmp(got, want, hl),
					      "path %u, rx buffer %u: header not rewritten", path, k);
				expect_frame(&t, 60, 700 + k, 1);
			}
			nt_teardown(&t);
		}
	}
}
END_TEST

/*
 * The lean burst signals both queues after one fence; each queue's own
 * suppression still decides for it: with the driver's interrupts off on
 * one queue, only the other is signalled, and then the other way round.
 * Without and with event-index.
 */
START_TEST(lean_signals_each_queue_as_asked)
{
	for (unsigned ev = 0; ev < 2; ev++) {
		struct vqcore_net_config cfg = { .sz = sizeof(cfg), .features = NET_F_V1 };
		struct nt t;

		nt_setup_cfg(&t, FMT, ev ? VQT_F_EVENT : VQT_F_BASE, &cfg, 256);
		post_rx(&t, 64, 128);
		/* round 0 both on (with event-index a device signals its first
		 * used buffers whatever the driver asked), then rx off, then tx */
		for (unsigned round = 0; round < 3; round++) {
			struct vqt *off = round == 2 ? &t.tx : &t.rx;
			struct vqt *on = round == 2 ? &t.rx : &t.tx;
			int off_call = round == 2 ? t.tx_call : t.rx_call;
			int on_call = round == 2 ? t.rx_call : t.tx_call;

			if (round)
				vqcore_drvq_disable_cb(off->dq);
			ck_assert(!vqcore_drvq_enable_cb(on->dq));
			for (unsigned i = 0; i < 8; i++)
				send_frame(&t, 60, 8 * round + i, NULL, false);
			ck_assert_int_eq(vqcore_net_forward(t.net, t.tx.vq, t.rx.vq, NULL), 8);
			ck_assert_uint_eq(calls(on_call), 1);
			ck_assert_uint_eq(calls(off_call), round ? 0 : 1);
			for (unsigned i = 0; i < 8; i++)
				expect_frame(&t, 60, 8 * round + i, 1);
			ck_assert_uint_eq(tx_used(&t), 8);
		}
		nt_teardown(&t);
	}
}
END_TEST

START_TEST(config_checked)
{
	struct vqcore_net_config cfg = { .sz = sizeof(cfg) };
	struct vqcore_net *net;

	cfg.sz = 0;
	ck_assert_int_eq(vqcore_net_new(&cfg, &net), -EINVAL);
	cfg.sz = sizeof(cfg);
	cfg.flags = 2;
	ck_assert_int_eq(vqcore_net_new(&cfg, &net), -EINVAL);
	cfg.flags = 0;
	cfg.burst = 2000;
	ck_assert_int_eq(vqcore_net_new(&cfg, &net), -EINVAL);
	cfg.burst = 0;
	/* the sized-struct rule (vqcore/common.h): a larger struct with a
	 * non-zero tail is refused, an older one (up to features) accepted */
	{
		union {
			struct vqcore_net_config c;
			unsigned char b[sizeof(struct vqcore_net_config) + 16];
		} big;

		memset(&big, 0, sizeof(big));
		big.c.sz = sizeof(big);
		big.b[sizeof(struct vqcore_net_config) + 3] = 1;
		ck_assert_int_eq(vqcore_net_new(&big.c, &net), -E2BIG);
		big.b[sizeof(struct vqcore_net_config) + 3] = 0;
		ck_assert_int_eq(vqcore_net_new(&big.c, &net), 0);
		vqcore_net_free(net);
		cfg.sz = offsetof(struct vqcore_net_config, flags);
		cfg.flags = 0x80; /* past the older sz: not read */
		ck_assert_int_eq(vqcore_net_new(&cfg, &net), 0);
		vqcore_net_free(net);
		cfg.sz = sizeof(cfg);
		cfg.flags = 0;
	}
	ck_assert_int_eq(vqcore_net_new(&cfg, &net), 0);
	{
		struct vqcore_net_stats st;

		memset(&st, 0xff, sizeof(st));
		st.sz = offsetof(struct vqcore_net_stats, rx_frames);
		ck_assert_int_eq(vqcore_net_get_stats(net, &st), 0);
		ck_assert_uint_eq(st.sz, offsetof(struct vqcore_net_stats, rx_frames));
		ck_assert_uint_eq(st.tx_frames, 0);
		ck_assert_uint_eq(st.rx_frames, UINT64_MAX); /* not written */
		st.sz = 1;
		ck_assert_int_eq(vqcore_net_get_stats(net, &st), -EINVAL);
	}
	ck_assert_int_eq(vqcore_net_set_max_iov(net, 4096), 0);
	ck_assert_int_eq(vqcore_net_set_max_iov(net, 16), 0);
	ck_assert_int_eq(vqcore_net_set_features(net, NET_F_MRG), 0);
	vqcore_net_free(net);
	vqcore_net_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("net");

	tcase_add_test(tc, header_sizes);
	tcase_add_test(tc, config_checked);
	tcase_add_loop_test(tc, frames_round_trip, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, bursts_keep_order, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, mergeable_spans_buffers, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, no_mergeable_too_big_dropped, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, mergeable_too_big_dropped, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, tx_writable_part_is_frame_data, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, bad_tx_header_dropped, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, offloads_checked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, rx_flood_waits, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, rx_flood_drops_counted, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, dirty_log_covers_rx, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, tx_header_ignored_without_offloads, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, tx_partial_burst, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, rx_put_direct, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, broken_rx_counted, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, rx_buffer_not_writable, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_burst_hands_rest_to_general, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_hostile_tx, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_hostile_rx, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_signals_each_queue_as_asked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, rx_header_written_where_it_differs, 0, (int)vqt_nformats);
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
