/* SPDX-License-Identifier: MIT */
/*
 * Description: packed virtqueue specifics that the format-independent
 * conformance suite cannot see: the ring layout, descriptor and event
 * structure contents in guest memory, the wrap counter carried in the vring
 * base (0x8000 for a fresh ring), queue sizes that are not powers of two,
 * rings mixing one-slot buffers with chains, dirty logging of used descriptors, and a hostile
 * driver: bad and reused buffer ids, over-long chains, bad indirect tables,
 * wrong wrap counters inside a chain and unmapped addresses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vqtest.h"

#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)
#define F_NEXT 1u
#define F_WRITE 2u
#define F_INDIRECT 4u

/* Guest view of a packed descriptor and an event suppression structure. */
struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct pevent {
	uint16_t off_wrap;
	uint16_t flags;
};

static struct pdesc *ring(struct vqt *t)
{
	return vqt_hva(t, t->ring.desc);
}

static void add_n(struct vqt *t, unsigned n, unsigned nsg, unsigned flags)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg[8];

		for (unsigned j = 0; j < nsg; j++) {
			sg[j].addr = vqt_alloc(t, 64);
			sg[j].len = 64;
		}
		ck_assert_int_eq(vqcore_drvq_add(t->dq, sg, nsg > 1 ? 1 : 0,
						 nsg > 1 ? nsg - 1 : 1,
						 (void *)(uintptr_t)(i + 1), flags), 0);
	}
	vqcore_drvq_kick_prepare(t->dq);
}

/* As add_n(), but each buffer device-readable only (a tx queue's). */
static void add_rd(struct vqt *t, unsigned n, unsigned nsg)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg[8];

		for (unsigned j = 0; j < nsg; j++) {
			sg[j].addr = vqt_alloc(t, 64);
			sg[j].len = 64;
		}
		ck_assert_int_eq(vqcore_drvq_add(t->dq, sg, nsg, 0, (void *)(uintptr_t)(i + 1), 0),
				 0);
	}
	vqcore_drvq_kick_prepare(t->dq);
}

/* Move @total one-descriptor buffers through in bursts; tokens in order. */
static void stream(struct vqt *t, unsigned total, unsigned burst, unsigned nsg)
{
	unsigned added = 0, done = 0;

	while (done < total) {
		struct vhost_buf b[64];
		struct iovec iov[256];
		void *tok[64];
		int n;

		for (unsigned k = 0; added < total && k < burst; k++) {
			struct vqcore_sg sg[4];

			for (unsigned j = 0; j < nsg; j++)
				sg[j] = (struct vqcore_sg){ VQT_DATA + 64 * j, 8 };
			if (vqcore_drvq_add(t->dq, sg, 0, nsg,
					    (void *)(uintptr_t)(added + 1), 0) == -ENOSPC)
				break;
			added++;
		}
		vqcore_drvq_kick_prepare(t->dq);
		n = vqcore_vq_get_bufs(t->vq, b, 64, iov, 256);
		ck_assert_int_ge(n, 0);
		ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, NULL, (unsigned)n), 0);
		n = vqcore_drvq_get_used(t->dq, tok, NULL, 64);
		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++)
			ck_assert_uint_eq((uintptr_t)tok[i], ++done);
	}
	ck_assert_int_eq(vqcore_vq_error(t->vq), 0);
}

/* ---- layout and ring contents ---- */

START_TEST(layout_lines)
{
	struct vqcore_ring_layout l;

	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_PACKED, 256, 0x1010, &l), 0);
	ck_assert_uint_eq(l.desc, 0x1040);
	ck_assert_uint_eq(l.driver, 0x1040 + 16 * 256);
	ck_assert_uint_eq(l.device, l.driver + 64);
	ck_assert_uint_eq(l.size, l.device + 64 - 0x1010);
	/* any size up to 32768, power of two or not */
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_PACKED, 100, 0, &l), 0);
	ck_assert_uint_eq(l.driver, 1600);
	ck_assert_uint_eq(l.driver % 64, 0);
	ck_assert_uint_eq(l.device, 1664);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_PACKED, 32768, 0, &l), 0);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_PACKED, 32769, 0, &l), -EINVAL);
	ck_assert_int_eq(vqcore_ring_layout(VQCORE_FORMAT_PACKED, 0, 0, &l), -EINVAL);
}
END_TEST

START_TEST(ring_contents)
{
	struct vqt t;
	struct vhost_buf b[4];
	struct iovec iov[8];
	struct pdesc *d;
	struct pevent *drv, *dev;
	uint32_t lens[2] = { 11, 22 };
	void *tok[4];

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 8, VQT_F_EVENT, 0);
	d = ring(&t);
	drv = vqt_hva(&t, t.ring.driver);
	dev = vqt_hva(&t, t.ring.device);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(vqt_le16(d[i].flags), 0);
	/* a 2-descriptor chain then a single: wrap counter 1 = AVAIL set */
	add_n(&t, 1, 2, 0);
	add_n(&t, 1, 1, 0);
	ck_assert_uint_eq(vqt_le16(d[0].flags), F_AVAIL | F_NEXT);
	ck_assert_uint_eq(vqt_le16(d[1].flags), F_AVAIL | F_WRITE);
	ck_assert_uint_eq(vqt_le16(d[1].id), 0);
	ck_assert_uint_eq(vqt_le16(d[2].flags), F_AVAIL | F_WRITE);
	ck_assert_uint_eq(vqt_le16(d[2].id), 1);
	/* device event structure: descriptor mode at the next position */
	ck_assert(vqcore_vq_enable_notify(t.vq));
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 8), 2);
	ck_assert(!vqcore_vq_enable_notify(t.vq));
	ck_assert_uint_eq(vqt_le16(dev->flags), 2);
	ck_assert_uint_eq(vqt_le16(dev->off_wrap), 0x8000 | 3);
	vqcore_vq_disable_notify(t.vq);
	ck_assert_uint_eq(vqt_le16(dev->flags), 1);
	ck_assert_uint_eq(b[0].ndesc, 2);
	/* reserved: fetch position (low 16 bits), next position (high 16) */
	ck_assert_uint_eq(b[0].reserved, 0x8000 | (0x8002u << 16));
	ck_assert_uint_eq(b[1].reserved & 0xffff, 0x8002);
	/* used: at the used index (slot 0, then slot 2), AVAIL=USED=1 */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 2), 0);
	ck_assert_uint_eq(vqt_le16(d[0].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[0].id), b[0].id);
	ck_assert_uint_eq(vqt_le32(d[0].len), 11);
	ck_assert_uint_eq(vqt_le16(d[2].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[2].id), b[1].id);
	ck_assert_uint_eq(vqt_le32(d[2].len), 22);
	/* driver event structure */
	ck_assert(vqcore_drvq_enable_cb(t.dq));
	ck_assert_uint_eq(vqt_le16(drv->flags), 2);
	ck_assert_uint_eq(vqt_le16(drv->off_wrap), 0x8000);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 2);
	vqcore_drvq_disable_cb(t.dq);
	ck_assert_uint_eq(vqt_le16(drv->flags), 1);
	vqt_teardown(&t);
}
END_TEST

/*
 * In order, the device returns a run of readable buffers (a tx queue's) as
 * a used descriptor per ring line it covers: each at its part's first
 * slot, naming the part's last buffer.  Three two-descriptor buffers take
 * slots 0-5: parts [0, 4) and [4, 6).  (Writable buffers get a used
 * descriptor each: test_vq_conformance inorder_writable_used_each.)
 */
START_TEST(in_order_run_descriptor_per_line)
{
	struct vqt t;
	struct vhost_buf b[16];
	struct iovec iov[32];
	uint32_t lens[16];
	uint32_t ulens[16];
	struct pdesc *d;
	void *tok[16];

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 16, VQT_F_INORDER, 0);
	d = ring(&t);
	ck_assert_uint_eq((uintptr_t)d % 64, 0);
	add_rd(&t, 3, 2);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 16), 3);
	for (int i = 0; i < 3; i++)
		lens[i] = 0;
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 3), 0);
	ck_assert_uint_eq(vqt_le16(d[0].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[0].id), b[1].id);
	ck_assert_uint_eq(vqt_le32(d[0].len), lens[1]);
	/* the second buffer's slot was not rewritten */
	ck_assert_uint_eq(vqt_le16(d[2].flags) & (F_AVAIL | F_USED), F_AVAIL);
	ck_assert_uint_eq(vqt_le16(d[4].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[4].id), b[2].id);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8006);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 4), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
		ck_assert_uint_eq(ulens[i], lens[i]);
	}

	/* ten one-descriptor buffers in slots 6-15: parts [6, 8), [8, 12)
	 * and [12, 16), used descriptors at 6, 8 and 12; then the wrap */
	add_rd(&t, 10, 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 16, iov, 32), 10);
	for (int i = 0; i < 10; i++)
		lens[i] = 0;
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 10), 0);
	ck_assert_uint_eq(vqt_le16(d[6].id), b[1].id);
	ck_assert_uint_eq(vqt_le16(d[8].id), b[5].id);
	ck_assert_uint_eq(vqt_le16(d[12].id), b[9].id);
	ck_assert_uint_eq(vqt_le16(d[6].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[8].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	ck_assert_uint_eq(vqt_le16(d[12].flags) & (F_AVAIL | F_USED), F_AVAIL | F_USED);
	for (int s = 9; s < 12; s++)
		ck_assert_uint_eq(vqt_le16(d[s].flags) & (F_AVAIL | F_USED), F_AVAIL);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x0000);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 16), 10);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 16);
	vqt_teardown(&t);
}
END_TEST

/*
 * The driver side takes a run returned as one used descriptor for all of
 * it, across ring lines, as another device may write it (the test writes
 * it by hand): one descriptor at slot 0 naming the tenth buffer.
 */
START_TEST(in_order_driver_one_descriptor_run)
{
	struct vqt t;
	uint32_t ulens[16];
	struct pdesc *d;
	void *tok[16];

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 16, VQT_F_INORDER, 0);
	d = ring(&t);
	add_n(&t, 10, 1, 0);
	d[0].len = vqt_le32(7);
	d[0].id = d[9].id;
	__atomic_store_n(&d[0].flags, vqt_le16(F_AVAIL | F_USED), __ATOMIC_RELEASE);
	/* collected in two calls: the run is split across them */
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 4), 4);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok + 4, ulens + 4, 16), 6);
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
		/* all but the last used in full (64 writable bytes) */
		ck_assert_uint_eq(ulens[i], i < 9 ? 64 : 7);
	}
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 16), 0);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 16);
	vqt_teardown(&t);
}
END_TEST

/* A size that is not a power of two, chains crossing the ring's end. */
START_TEST(odd_size_chains_wrap)
{
	struct vqt t;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 13, VQT_F_BASE, 0);
	stream(&t, 500, 4, 3);
	stream(&t, 500, 5, 1);
	stream(&t, 300, 2, 2);
	vqt_teardown(&t);
}
END_TEST

/* Rings mixing one-slot buffers with chains and indirect tables come out right. */
START_TEST(fetch4_mixed)
{
	struct vqt t;
	struct vhost_buf b[64];
	struct iovec iov[256];
	void *tok[64];
	int n;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 64, VQT_F_BASE, 32);
	for (int round = 0; round < 40; round++) {
		unsigned k = 0;

		/* singles, then a chain, then singles, then an indirect one */
		for (unsigned i = 0; i < 9; i++, k++) {
			struct vqcore_sg sg[2] = { { VQT_DATA, 16 }, { VQT_DATA + 64, 16 } };
			unsigned nsg = i == 5 ? 2 : 1;

			ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 0, nsg,
							 (void *)(uintptr_t)(k + 1),
							 i == 8 ? VQCORE_ADD_INDIRECT : 0), 0);
		}
		vqcore_drvq_kick_prepare(t.dq);
		n = vqcore_vq_get_bufs(t.vq, b, 64, iov, 256);
		ck_assert_int_eq(n, 9);
		ck_assert_uint_eq(b[5].ndesc, 2);
		ck_assert_uint_eq(b[5].in_num, 2);
		ck_assert_uint_eq(b[8].ndesc, 1);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 9), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 9);
		for (int i = 0; i < 9; i++)
			ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	}
	vqt_teardown(&t);
}
END_TEST

/* Event index kicks and interrupts across many laps of a small ring. */
START_TEST(event_idx_across_wraps)
{
	struct vqt t;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 8, VQT_F_EVENT, 0);
	for (unsigned round = 0; round < 200; round++) {
		unsigned k = 1 + round % 5;
		struct vhost_buf b[8];
		struct iovec iov[8];
		void *tok[8];

		ck_assert(!vqcore_vq_enable_notify(t.vq));
		ck_assert(!vqcore_drvq_enable_cb(t.dq));
		for (unsigned i = 0; i < k; i++) {
			struct vqcore_sg sg = { VQT_DATA, 8 };

			ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), 0);
			/* only the first buffer after arming needs a kick */
			ck_assert(vqcore_drvq_kick_prepare(t.dq) == (i == 0));
		}
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), (int)k);
		for (unsigned i = 0; i < k; i++) {
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + i, NULL, 1), 0);
			/* only the first used buffer after arming interrupts */
			ck_assert(vqcore_vq_should_signal(t.vq) == (i == 0));
		}
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), (int)k);
	}
	vqt_teardown(&t);
}
END_TEST

/* Every used-descriptor write is in the dirty log. */
START_TEST(used_writes_logged)
{
	struct vqt t;
	static uint8_t bitmap[4096];
	struct vhost_buf b[300];
	struct iovec iov[300];
	uint64_t page0 = VQT_REGION_A / VQCORE_LOG_PAGE;
	void *tok[300];

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 512, VQT_F_BASE, 0);
	stream(&t, 256, 64, 1); /* used index to slot 256: the ring's 2nd page */
	add_n(&t, 4, 1, 0);
	/* the log set before the fetch: buffers in flight when logging
	 * starts make put_used log every region (test_dirty_log.c) */
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, bitmap, sizeof(bitmap)), 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 300, iov, 300), 4);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 4), 0);
	ck_assert(!(bitmap[page0 / 8] & (1u << (page0 % 8))));
	ck_assert(bitmap[(page0 + 1) / 8] & (1u << ((page0 + 1) % 8)));
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 300), 4);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}
END_TEST

/*
 * In order, across the ring's end: a run of readable buffers in slots 510,
 * 511, 0 and 1 of a ring of 512 comes back as line parts on both pages of the ring, and
 * both pages are in the log.
 */
START_TEST(in_order_used_writes_logged_across_wrap)
{
	struct vqt t;
	static uint8_t bitmap[4096];
	struct vhost_buf b[8];
	struct iovec iov[8];
	uint32_t lens[8];
	uint64_t page0 = VQT_REGION_A / VQCORE_LOG_PAGE;
	struct pdesc *d;
	void *tok[8];

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 512, VQT_F_INORDER, 0);
	d = ring(&t);
	stream(&t, 510, 64, 1);
	add_rd(&t, 4, 1);
	/* the log set before the fetch (see used_writes_logged) */
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, bitmap, sizeof(bitmap)), 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), 4);
	for (int i = 0; i < 4; i++)
		lens[i] = 0;
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 4), 0);
	ck_assert(bitmap[page0 / 8] & (1u << (page0 % 8)));
	ck_assert(bitmap[(page0 + 1) / 8] & (1u << ((page0 + 1) % 8)));
	/* parts [510, 512) and [0, 2): the first names b[1], the second b[3]
	 * and carries the next lap's used flags (wrap counter 0) */
	ck_assert_uint_eq(vqt_le16(d[510].id), b[1].id);
	ck_assert_uint_eq(vqt_le16(d[0].id), b[3].id);
	ck_assert_uint_eq(vqt_le16(d[0].flags) & (F_AVAIL | F_USED), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 4);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 512);
	vqt_teardown(&t);
}
END_TEST

/* ---- the wrap counter in the vring base ---- */

START_TEST(base_fresh_is_0x8000)
{
	struct vqt t;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 64, VQT_F_BASE, 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x8000), 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	stream(&t, 10, 3, 1);
	vqcore_vq_reset(t.vq);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	vqt_teardown(&t);
}
END_TEST

START_TEST(base_wrap_flips)
{
	struct vqt t;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 64, VQT_F_BASE, 0);
	stream(&t, 64 + 3, 10, 1);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 3); /* wrap counter 0 */
	stream(&t, 64, 10, 1);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8003);
	/* 70000 more: 1093 laps and 48 slots */
	stream(&t, 70000, 40, 1);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), (3 + 70000 % 64) | (1093 % 2 ? 0 : 0x8000));
	vqt_teardown(&t);
}
END_TEST

START_TEST(base_resume_wrap0)
{
	struct vqt t;
	struct vhost_buf b[16];
	struct iovec iov[16];
	void *tok[16];
	uint32_t base;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 64, VQT_F_BASE, 0);
	stream(&t, 64 + 3, 10, 1);
	/* 5 pending across a device restart */
	for (int i = 0; i < 5; i++) {
		struct vqcore_sg sg = { VQT_DATA, 8 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_publish(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 16), 2);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 2), 0);
	base = vqcore_vq_get_base(t.vq);
	ck_assert_uint_eq(base, 5);
	vqt_new_device(&t, 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), base);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 2, 14, iov, 16), 3);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 2, NULL, 3), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 16), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 16), 0);
	/* nothing repeated, and the ring keeps going across more laps */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 16, iov, 16), 0);
	stream(&t, 300, 7, 1);
	vqt_teardown(&t);
}
END_TEST

START_TEST(base_invalid)
{
	struct vqt t;

	vqt_setup(&t, VQCORE_FORMAT_PACKED, 100, VQT_F_BASE, 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 100), -EINVAL);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x8000 | 100), -EINVAL);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x7fff), -EINVAL);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x10000), -EINVAL);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x8000 | 99), 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0x8000), 0);
	stream(&t, 250, 9, 1);
	vqt_teardown(&t);
}
END_TEST

/* ---- hostile driver ---- */

static void hostile_setup(struct vqt *t, uint16_t num)
{
	vqt_setup(t, VQCORE_FORMAT_PACKED, num, VQT_F_BASE, 0);
	vqt_capture_log(t);
}

/*
 * A bad buffer after @n good ones: the call hands out the good ones, the
 * queue not broken yet (the bad one was seen: one line logged); with
 * @complete they are returned.  The next call reports the bad one
 * (vqt_expect_broken()).
 */
static void good_ones_first(struct vqt *t, int n, bool complete)
{
	struct vhost_buf b[8];
	struct iovec iov[64];

	ck_assert_int_eq(vqcore_vq_get_bufs(t->vq, b, 8, iov, 64), n);
	ck_assert_int_eq(vqcore_vq_error(t->vq), 0);
	if (complete)
		ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, NULL, (unsigned)n), 0);
	ck_assert_int_eq(t->log_lines, 1);
	t->log_lines = 0;
}

START_TEST(bad_id)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 1, 0);
	ring(&t)[0].id = vqt_le16(16);
	vqt_expect_broken(&t, -VQCORE_E_BAD_ID);
	vqt_teardown(&t);
}
END_TEST

/* the same check when the id sits in a 4-wide group */
START_TEST(bad_id_in_group_of_four)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 4, 1, 0);
	ring(&t)[2].id = vqt_le16(0xffff);
	good_ones_first(&t, 2, true);
	vqt_expect_broken(&t, -VQCORE_E_BAD_ID);
	vqt_teardown(&t);
}
END_TEST

/* the id of a chain is the one in its last descriptor */
START_TEST(bad_id_last_of_chain)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, 0);
	ring(&t)[2].id = vqt_le16(40);
	vqt_expect_broken(&t, -VQCORE_E_BAD_ID);
	vqt_teardown(&t);
}
END_TEST

START_TEST(id_in_flight)
{
	struct vqt t;
	struct vhost_buf b[2];
	struct iovec iov[2];

	hostile_setup(&t, 16);
	add_n(&t, 1, 1, 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), 1);
	add_n(&t, 1, 1, 0);
	ring(&t)[1].id = vqt_le16(b[0].id); /* reuse the id the device holds */
	vqt_expect_broken(&t, -VQCORE_E_ID_IN_USE);
	vqt_teardown(&t);
}
END_TEST

/* two slots of one 4-wide group name the same id: the second is caught
 * after the first was taken (the direct lane hands the slot on to the
 * general path, which reports it) */
START_TEST(id_twice_in_group_of_four)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 4, 1, 0);
	ring(&t)[3].id = ring(&t)[1].id;
	/* not completed: the id of the fourth is still in flight */
	good_ones_first(&t, 3, false);
	vqt_expect_broken(&t, -VQCORE_E_ID_IN_USE);
	vqt_teardown(&t);
}
END_TEST

START_TEST(chain_longer_than_queue)
{
	struct vqt t;
	struct pdesc *d;

	hostile_setup(&t, 8);
	add_n(&t, 1, 8, 0); /* a whole-ring chain is legal... */
	d = ring(&t);
	d[7].flags |= vqt_le16(F_NEXT); /* ...one that goes on is not */
	vqt_expect_broken(&t, -VQCORE_E_CHAIN_LOOP);
	vqt_teardown(&t);
}
END_TEST

START_TEST(nested_indirect)
{
	struct vqt t;
	struct pdesc *table;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	table = vqt_hva(&t, vqt_le64(ring(&t)[0].addr));
	table[1].flags |= vqt_le16(F_INDIRECT);
	vqt_expect_broken(&t, -VQCORE_E_NESTED_INDIRECT);
	vqt_teardown(&t);
}
END_TEST

/* DPDK's virtio PMD leaves VRING_DESC_F_WRITE in the first entry of its
 * packed tx indirect tables (the net header): the entries before the last
 * readable one are taken as readable and the buffer is served.  In a
 * chain in the ring the same order still breaks the queue. */
START_TEST(indirect_writable_before_readable)
{
	struct vqt t;
	struct pdesc *table, *d;
	struct vhost_buf b[2];
	struct iovec iov[4];

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	table = vqt_hva(&t, vqt_le64(ring(&t)[0].addr));
	table[0].flags |= vqt_le16(F_WRITE);
	table[1].flags &= vqt_le16((uint16_t)~F_WRITE);
	table[2].flags &= vqt_le16((uint16_t)~F_WRITE);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 4), 1);
	ck_assert_uint_eq(b[0].out_num, 3);
	ck_assert_uint_eq(b[0].in_num, 0);
	ck_assert_uint_eq(b[0].out_len, 3 * 64);
	ck_assert_uint_eq(b[0].in_len, 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	vqt_teardown(&t);

	/* only the entries before the last readable one: a writable entry
	 * after it stays writable */
	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	table = vqt_hva(&t, vqt_le64(ring(&t)[0].addr));
	table[0].flags |= vqt_le16(F_WRITE);
	table[1].flags &= vqt_le16((uint16_t)~F_WRITE);
	table[2].flags |= vqt_le16(F_WRITE);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 4), 1);
	ck_assert_uint_eq(b[0].out_num, 2);
	ck_assert_uint_eq(b[0].in_num, 1);
	ck_assert_uint_eq(b[0].out_len, 2 * 64);
	ck_assert_uint_eq(b[0].in_len, 64);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	vqt_teardown(&t);

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, 0);
	d = ring(&t);
	d[0].flags |= vqt_le16(F_WRITE);
	d[1].flags &= vqt_le16((uint16_t)~F_WRITE);
	d[2].flags &= vqt_le16((uint16_t)~F_WRITE);
	vqt_expect_broken(&t, -VQCORE_E_WRITE_ORDER);
	vqt_teardown(&t);
}
END_TEST

START_TEST(indirect_len_not_multiple_of_16)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	ring(&t)[0].len = vqt_le32(40);
	vqt_expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
	vqt_teardown(&t);
}
END_TEST

START_TEST(indirect_too_long)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	ring(&t)[0].len = vqt_le32(16 * 17); /* more entries than the queue size */
	vqt_expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
	vqt_teardown(&t);
}
END_TEST

START_TEST(indirect_zero_len)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	ring(&t)[0].len = vqt_le32(0);
	vqt_expect_broken(&t, -VQCORE_E_INDIRECT_LEN);
	vqt_teardown(&t);
}
END_TEST

START_TEST(indirect_table_unmapped)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, VQCORE_ADD_INDIRECT);
	ring(&t)[0].addr = vqt_le64(0x40000000);
	vqt_expect_broken(&t, -VQCORE_E_UNMAPPED);
	vqt_teardown(&t);
}
END_TEST

START_TEST(wrong_wrap_in_chain)
{
	struct vqt t;
	struct pdesc *d;

	hostile_setup(&t, 16);
	add_n(&t, 1, 3, 0);
	d = ring(&t);
	/* middle descriptor marked available for the other lap */
	d[1].flags = vqt_le16((uint16_t)((vqt_le16(d[1].flags) & ~F_AVAIL) | F_USED));
	vqt_expect_broken(&t, -VQCORE_E_WRAP_COUNTER);
	vqt_teardown(&t);
}
END_TEST

START_TEST(used_flags_in_chain)
{
	struct vqt t;
	struct pdesc *d;

	hostile_setup(&t, 16);
	add_n(&t, 1, 4, 0);
	d = ring(&t);
	d[3].flags |= vqt_le16(F_USED); /* AVAIL=USED: looks used, not available */
	vqt_expect_broken(&t, -VQCORE_E_WRAP_COUNTER);
	vqt_teardown(&t);
}
END_TEST

START_TEST(addr_outside_memory)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 2, 0);
	ring(&t)[1].addr = vqt_le64(0x40000000);
	vqt_expect_broken(&t, -VQCORE_E_UNMAPPED);
	vqt_teardown(&t);
}
END_TEST

/* the same for a one-descriptor buffer, which the direct lane sees first */
START_TEST(addr_outside_memory_one_desc)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 4, 1, 0);
	ring(&t)[2].addr = vqt_le64(0x40000000);
	good_ones_first(&t, 2, true);
	vqt_expect_broken(&t, -VQCORE_E_UNMAPPED);
	vqt_teardown(&t);
}
END_TEST

START_TEST(reset_after_break)
{
	struct vqt t;

	hostile_setup(&t, 16);
	add_n(&t, 1, 1, 0);
	ring(&t)[0].id = vqt_le16(99);
	vqt_expect_broken(&t, -VQCORE_E_BAD_ID);
	vqcore_vq_reset(t.vq);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 0x8000);
	vqt_teardown(&t);
}
END_TEST

static Suite *packed_suite(void)
{
	Suite *s = suite_create("packed");
	TCase *tc = tcase_create("packed");
	TCase *th = tcase_create("hostile");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, layout_lines);
	tcase_add_test(tc, ring_contents);
	tcase_add_test(tc, in_order_run_descriptor_per_line);
	tcase_add_test(tc, in_order_driver_one_descriptor_run);
	tcase_add_test(tc, odd_size_chains_wrap);
	tcase_add_test(tc, fetch4_mixed);
	tcase_add_test(tc, event_idx_across_wraps);
	tcase_add_test(tc, used_writes_logged);
	tcase_add_test(tc, in_order_used_writes_logged_across_wrap);
	tcase_add_test(tc, base_fresh_is_0x8000);
	tcase_add_test(tc, base_wrap_flips);
	tcase_add_test(tc, base_resume_wrap0);
	tcase_add_test(tc, base_invalid);
	tcase_add_test(th, bad_id);
	tcase_add_test(th, bad_id_in_group_of_four);
	tcase_add_test(th, bad_id_last_of_chain);
	tcase_add_test(th, id_in_flight);
	tcase_add_test(th, id_twice_in_group_of_four);
	tcase_add_test(th, chain_longer_than_queue);
	tcase_add_test(th, nested_indirect);
	tcase_add_test(th, indirect_writable_before_readable);
	tcase_add_test(th, indirect_len_not_multiple_of_16);
	tcase_add_test(th, indirect_too_long);
	tcase_add_test(th, indirect_zero_len);
	tcase_add_test(th, indirect_table_unmapped);
	tcase_add_test(th, wrong_wrap_in_chain);
	tcase_add_test(th, used_flags_in_chain);
	tcase_add_test(th, addr_outside_memory);
	tcase_add_test(th, addr_outside_memory_one_desc);
	tcase_add_test(th, reset_after_break);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, th);
	return s;
}

int main(void)
{
	return vqt_run_suite(packed_suite()) ? 1 : 0;
}
