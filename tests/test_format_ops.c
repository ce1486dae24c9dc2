/* SPDX-License-Identifier: MIT */
/*
 * Description: what the vhost-user code asks a ring format through its
 * ops (lib/vq_priv.h), over every format: queue-size rules and area sizes,
 * the SET/GET_VRING_BASE encoding, the position a front-end reads from
 * the ring, and the inflight record: a restarted device resumes at the
 * recorded position and fetches the buffers left in flight again, across
 * the ring's end.  Hostile region contents are refused or bounded (the
 * regions are allocated at their exact size, so ASan sees any overrun).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vq_priv.h"
#include "vqtest.h"

static const struct vq_format_ops *fmt(unsigned i)
{
	const struct vq_format_ops *f = vq_format_get(vqt_vu_formats[i]);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(f->inflight);
	return f;
}

START_TEST(size_rules)
{
	unsigned format = vqt_vu_formats[_i];
	const struct vq_format_ops *f = fmt(_i);
	uint64_t sz[3];

	ck_assert_int_lt(f->check_num(0), 0);
	ck_assert_int_lt(f->check_num(32769), 0);
	ck_assert_int_lt(f->check_num(65535), 0);
	ck_assert_int_eq(f->check_num(1), 0);
	ck_assert_int_eq(f->check_num(32768), 0);
	/* split needs a power of two (2.7), packed does not (2.8) */
	ck_assert_int_eq(f->check_num(3) == 0, format == VQCORE_FORMAT_PACKED);
	f->area_sizes(256, sz);
	ck_assert_uint_eq(sz[0], 16 * 256);
	if (format == VQCORE_FORMAT_SPLIT) {
		ck_assert_uint_eq(sz[1], 6 + 2 * 256);
		ck_assert_uint_eq(sz[2], 6 + 8 * 256);
	} else {
		ck_assert_uint_eq(sz[1], 4);
		ck_assert_uint_eq(sz[2], 4);
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(f->area_name[i]);
	ck_assert_uint_eq(f->inflight->bytes(256),
			  format == VQCORE_FORMAT_SPLIT ? 16 + 16 * 256 : 32 + 32 * 256);
}
END_TEST

START_TEST(base_encoding)
{
	unsigned format = vqt_vu_formats[_i];
	const struct vq_format_ops *f = fmt(_i);
	struct vqt t;
	uint32_t pos;

	/* what a front-end sends for a fresh ring (QEMU: 0, 0x80008000) */
	ck_assert_uint_eq(f->base_encode(f->start_pos),
			  format == VQCORE_FORMAT_SPLIT ? 0 : 0x80008000u);
	ck_assert_int_eq(f->base_decode(f->base_encode(f->start_pos), &pos), 0);
	ck_assert_uint_eq(pos, f->start_pos);
	/* every position of a ring of 8 survives the round trip */
	for (uint32_t p = 0; p < 0x10000; p++) {
		if (format == VQCORE_FORMAT_PACKED && (p & 0x7fff) >= 8)
			continue;
		ck_assert_int_eq(f->base_decode(f->base_encode(p), &pos), 0);
		ck_assert_uint_eq(pos, p);
	}
	vqt_setup(&t, format, 8, VQT_F_BASE, 0);
	if (format == VQCORE_FORMAT_SPLIT) {
		ck_assert_int_lt(f->base_decode(0x10000, &pos), 0);
		ck_assert_int_lt(f->base_decode(UINT32_MAX, &pos), 0);
	} else {
		/* the used half is not read; the slot is checked at start */
		ck_assert_int_eq(f->base_decode(0x12348003, &pos), 0);
		ck_assert_uint_eq(pos, 0x8003);
		ck_assert_uint_eq(f->base_encode(0x12348003), 0x80038003u);
		ck_assert_int_eq(f->base_decode(UINT32_MAX, &pos), 0);
		ck_assert_int_lt(vqcore_vq_set_base(t.vq, pos), 0);
	}
	/* a decoded base starts the queue there */
	ck_assert_int_eq(f->base_decode(f->base_encode(f->start_pos + 5), &pos), 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, pos), 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), f->start_pos + 5);
	vqt_teardown(&t);
}
END_TEST

/* add @n one-element buffers (token = @tok0 + i) and publish */
static void add_bufs(struct vqt *t, unsigned n, uintptr_t tok0)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg = { vqt_alloc(t, 64), 64 };

		ck_assert_int_eq(vqcore_drvq_add(t->dq, &sg, 0, 1, (void *)(tok0 + i), 0), 0);
	}
	vqcore_drvq_kick_prepare(t->dq);
}

static void put(struct vqt *t, const struct vhost_buf *b, unsigned n)
{
	uint32_t lens[8] = { 0 };

	ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, lens, n), 0);
}

/* the driver gets exactly tokens @tok0 .. @tok0 + @n - 1, in any order */
static void collect(struct vqt *t, unsigned n, uintptr_t tok0)
{
	void *tok[16];
	uint32_t seen = 0;
	int got = vqcore_drvq_get_used(t->dq, tok, NULL, 16);

	ck_assert_int_eq(got, (int)n);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t k = (uintptr_t)tok[i] - tok0;

		ck_assert_uint_lt(k, n);
		ck_assert(!(seen & 1u << k));
		seen |= 1u << k;
	}
}

/*
 * A device records 5 buffers (one a chain of two slots), returns 2 and
 * "crashes"; a new device over the same ring resumes from the record
 * alone and fetches the 3 others again at their chain starts.  The ring
 * of 8 has been around once before, so the positions cross its end.
 */
START_TEST(inflight_resume)
{
	unsigned format = vqt_vu_formats[_i];
	const struct vq_format_ops *f = fmt(_i);
	const struct vq_inflight_ops *in = f->inflight;
	struct vqt t;
	struct vhost_buf b[8];
	struct iovec iov[16];
	uint16_t ids[8];
	uint64_t c;
	uint32_t base, avail, used;
	unsigned np = 0;
	void *reg;
	int n;

	vqt_setup(&t, format, 8, VQT_F_BASE, 0);
	reg = calloc(1, in->bytes(8));
	ck_assert_ptr_nonnull(reg);
	/* once around less two slots */
	add_bufs(&t, 6, 100);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 6);
	put(&t, b, 6);
	collect(&t, 6, 100);
	if (in->start)
		in->start(t.vq, reg, 8, vqcore_vq_get_used_base(t.vq), false);
	if (in->follow)
		in->follow(reg, vqcore_vq_get_used_base(t.vq));

	/* buffers 200..204: 202 is a chain of two descriptors */
	add_bufs(&t, 2, 200);
	{
		struct vqcore_sg sg[2] = { { vqt_alloc(&t, 64), 64 }, { vqt_alloc(&t, 64), 64 } };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)202, 0), 0);
	}
	add_bufs(&t, 2, 203);
	n = vqcore_vq_get_bufs(t.vq, b, 8, iov, 16);
	ck_assert_int_eq(n, 5);
	for (int i = 0; i < n; i++)
		in->fetched(reg, &b[i], 1000 + (uint64_t)i);
	if (in->used_begin)
		in->used_begin(reg, 8, b, 2);
	put(&t, b, 2);
	for (int i = 0; i < 2; i++)
		in->clear(reg, b[i].id);
	in->used_end(reg, 2, vqcore_vq_get_used_base(t.vq));

	/* the crash: a new device, the base a front-end can give it */
	vqt_new_device(&t, 0);
	base = f->start_pos;
	if (f->drv_ring_used) {
		ck_assert_int_eq(f->drv_ring_used(t.dq, &base), 0);
		ck_assert_uint_eq(base, (uint16_t)(6 + 2));
	}
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
	if (in->start)
		in->start(t.vq, reg, 8, vqcore_vq_get_used_base(t.vq), true);
	for (uint16_t id = 0; id < 8; id++) {
		if (!in->pending(reg, id, &c))
			continue;
		ck_assert_uint_ge(c, 1002);
		ck_assert_uint_le(c, 1004);
		ids[c - 1002] = id;
		np++;
	}
	ck_assert_uint_eq(np, 3);
	ck_assert_int_eq(in->resume(reg, 8, vqcore_vq_get_used_base(t.vq), ids, np,
				    &avail, &used), 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, avail), 0);
	ck_assert_int_eq(vqcore_vq_set_used_base(t.vq, used), 0);
	for (unsigned i = 0; i < np; i++) {
		uint16_t head;

		ck_assert_int_eq(in->head(reg, 8, ids[i], &head), 0);
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, head, &b[i], iov, 16), 1);
		ck_assert_uint_eq(b[i].id, ids[i]);
		ck_assert_uint_eq(b[i].out_num + b[i].in_num, i == 0 ? 2 : 1);
	}
	/* nothing else is pending before the next buffer */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, &b[3], 1, iov, 16), 0);
	add_bufs(&t, 1, 205);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, &b[3], 1, iov, 16), 1);
	put(&t, b, 4);
	/* with 200 and 201, which the first device returned */
	collect(&t, 6, 200);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	free(reg);
	vqt_teardown(&t);
}
END_TEST

/* Every byte of the region 0xff, then chosen bad values: nothing read or
 * written outside the region, positions refused or kept in the ring. */
START_TEST(inflight_hostile)
{
	unsigned format = vqt_vu_formats[_i];
	const struct vq_inflight_ops *in = fmt(_i)->inflight;
	uint64_t bytes = in->bytes(8);
	uint8_t *reg = malloc(bytes);
	uint16_t ids[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, head;
	uint32_t avail, used;
	uint64_t c;
	struct vqt t;

	ck_assert_ptr_nonnull(reg);
	vqt_setup(&t, format, 8, VQT_F_BASE, 0);
	memset(reg, 0xff, bytes);
	if (in->start)
		in->start(t.vq, reg, 8, 5, true);
	for (uint16_t id = 0; id < 8; id++)
		(void)in->pending(reg, id, &c);
	if (format == VQCORE_FORMAT_SPLIT) {
		/* the record holds no position: the ring's, plus the buffers */
		ck_assert_int_eq(in->resume(reg, 8, 0xfffe, ids, 3, &avail, &used), 0);
		ck_assert_uint_eq(avail, 1);
		ck_assert_uint_eq(used, 0xfffe);
		ck_assert_int_eq(in->head(reg, 8, 7, &head), 0);
		ck_assert_uint_eq(head, 7);
		/* a last-batch chain that loops and leaves the ring */
		memset(reg, 0, bytes);
		memcpy(reg + 12, &(uint16_t){ 2 }, 2);       /* last_batch_head */
		memcpy(reg + 14, &(uint16_t){ 0 }, 2);       /* used_idx */
		for (unsigned i = 0; i < 8; i++) {
			reg[16 + 16 * i] = 1;                /* in flight */
			memcpy(reg + 16 + 16 * i + 6, &(uint16_t){ i == 3 ? 2 : 3 }, 2);
		}
		memcpy(reg + 16 + 16 * 5 + 6, &(uint16_t){ 0xffff }, 2);
		in->start(t.vq, reg, 8, 0x8000, true); /* batch far past the ring */
		for (uint16_t id = 0; id < 8; id++)
			ck_assert_int_eq(in->pending(reg, id, &c), id != 2 && id != 3);
		memcpy(&head, reg + 14, 2);   /* used_idx follows the ring */
		ck_assert_uint_eq(head, 0x8000);
	} else {
		/* used_idx 0xffff is outside the ring */
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 0, &avail, &used), 0);
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 3, &avail, &used), 0);
		ck_assert_int_lt(in->head(reg, 8, 7, &head), 0);
		memset(reg, 0, bytes);
		memcpy(reg + 16, &(uint16_t){ 8 }, 2);      /* used_idx = num */
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 0, &avail, &used), 0);
		memcpy(reg + 16, &(uint16_t){ 6 }, 2);
		reg[20] = 2;                                 /* wrap counter 2 */
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 0, &avail, &used), 0);
		/* with buffers in flight its low bit is taken */
		for (unsigned i = 0; i < 3; i++)
			memcpy(reg + 32 + 32 * i + 6, &(uint16_t){ 1 }, 2);
		ck_assert_int_eq(in->resume(reg, 8, 0, ids, 3, &avail, &used), 0);
		ck_assert_uint_eq(used, 6);
		ck_assert_uint_eq(avail, 0x8001);  /* 6 + 3 slots: slot 1, next lap */
		/* no slots, or more than the ring has */
		for (unsigned i = 0; i < 3; i++)
			memcpy(reg + 32 + 32 * i + 6, &(uint16_t){ 0 }, 2);
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 3, &avail, &used), 0);
		memcpy(reg + 32 + 6, &(uint16_t){ 0xffff }, 2);
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 3, &avail, &used), 0);
		memcpy(reg + 32 + 6, &(uint16_t){ 7 }, 2);
		memcpy(reg + 64 + 6, &(uint16_t){ 2 }, 2);
		ck_assert_int_lt(in->resume(reg, 8, 0, ids, 3, &avail, &used), 0);
		/* a chain start outside the ring; the wrap bit is not a slot */
		memcpy(reg + 32 + 24, &(uint64_t){ 8 }, 8);
		ck_assert_int_lt(in->head(reg, 8, 0, &head), 0);
		memcpy(reg + 32 + 24, &(uint64_t){ 0xffff8005ull }, 8);
		ck_assert_int_eq(in->head(reg, 8, 0, &head), 0);
		ck_assert_uint_eq(head, 5);
		/* a batch list that loops: the walk is bounded by the ring, and
		 * a batch of more slots than the ring is left alone (the fresh
		 * ring's slot 2 has used bit 0 = the recorded wrap: "returned") */
		memset(reg, 0, bytes);
		memcpy(reg + 14, &(uint16_t){ 3 }, 2);      /* old_free_head */
		memcpy(reg + 16, &(uint16_t){ 2 }, 2);      /* used_idx */
		reg[32 + 32 * 3] = 1;                        /* 3 in flight */
		memcpy(reg + 32 + 32 * 3 + 2, &(uint16_t){ 3 }, 2);      /* next: itself */
		memcpy(reg + 32 + 32 * 3 + 6, &(uint16_t){ 0xffff }, 2); /* num */
		in->start(t.vq, reg, 8, 0, true);
		ck_assert(in->pending(reg, 3, &c));
		memcpy(&head, reg + 16, 2);
		ck_assert_uint_eq(head, 2);
		memcpy(reg + 32 + 32 * 3 + 6, &(uint16_t){ 1 }, 2);
		in->start(t.vq, reg, 8, 0, true);       /* 8 laps of 1 slot */
		ck_assert(!in->pending(reg, 3, &c));
		memcpy(&head, reg + 16, 2);
		ck_assert_uint_eq(head, 2);
		ck_assert_uint_eq(reg[20], 1);
	}
	free(reg);
	vqt_teardown(&t);
}
END_TEST

/*
 * ring_fresh(): a packed ring the driver just set up (or reset) shows no
 * used bit; once the device returned a buffer, or the driver went round
 * once, it does.  Split has no such test (its used index says where the
 * device is).
 */
START_TEST(inflight_ring_fresh)
{
	unsigned format = vqt_vu_formats[_i];
	const struct vq_inflight_ops *in = fmt(_i)->inflight;
	struct vhost_buf b[8];
	struct iovec iov[16];
	struct vqt t;

	if (format == VQCORE_FORMAT_SPLIT) {
		ck_assert_ptr_null(in->ring_fresh);
		return;
	}
	ck_assert_ptr_nonnull(in->ring_fresh);
	vqt_setup(&t, format, 8, VQT_F_BASE, 0);
	ck_assert(in->ring_fresh(t.vq));
	add_bufs(&t, 8, 100);
	ck_assert(in->ring_fresh(t.vq));
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 8);
	ck_assert(in->ring_fresh(t.vq));  /* fetched, nothing returned yet */
	put(&t, b, 1);
	ck_assert(!in->ring_fresh(t.vq));
	put(&t, b + 1, 7);
	collect(&t, 8, 100);
	add_bufs(&t, 8, 200);  /* the second lap: every slot's used bit set */
	ck_assert(!in->ring_fresh(t.vq));
	vqt_teardown(&t);
}
END_TEST

/*
 * A crash after a batch's used entries reached the ring and before the
 * record caught up (vu_inflight_used_end()): the record still has the
 * batch in flight, one batch behind.  The new device must not hand those
 * buffers out again (the driver would get them twice): start() sees from
 * the ring that the batch was returned.  A full ring of 8; with @refill
 * the driver has meanwhile taken the batch and put new buffers into its
 * slots (packed: the next lap's descriptors there).
 */
START_TEST(inflight_crash_after_publish)
{
	unsigned format = vqt_vu_formats[_i / 2];
	bool refill = _i & 1;
	const struct vq_format_ops *f = fmt(_i / 2);
	const struct vq_inflight_ops *in = f->inflight;
	struct vqt t;
	struct vhost_buf b[8];
	struct iovec iov[16];
	uint16_t ids[8];
	uint64_t c;
	uint32_t base, avail, used, seen = 0;
	unsigned np = 0;
	void *tok[16];
	void *reg;
	int n;

	vqt_setup(&t, format, 8, VQT_F_BASE, 0);
	reg = calloc(1, in->bytes(8));
	ck_assert_ptr_nonnull(reg);
	if (in->start)
		in->start(t.vq, reg, 8, vqcore_vq_get_used_base(t.vq), false);
	if (in->follow)
		in->follow(reg, vqcore_vq_get_used_base(t.vq));
	add_bufs(&t, 8, 100);
	n = vqcore_vq_get_bufs(t.vq, b, 8, iov, 16);
	ck_assert_int_eq(n, 8);
	for (int i = 0; i < n; i++)
		in->fetched(reg, &b[i], 1000 + (uint64_t)i);
	if (in->used_begin)
		in->used_begin(reg, 8, b, 2);
	put(&t, b, 2);
	/* the crash: no clear, no used_end */
	if (refill) {
		collect(&t, 2, 100);
		add_bufs(&t, 2, 200);
	}

	vqt_new_device(&t, 0);
	base = f->start_pos;
	if (f->drv_ring_used)
		ck_assert_int_eq(f->drv_ring_used(t.dq, &base), 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
	if (in->start)
		in->start(t.vq, reg, 8, vqcore_vq_get_used_base(t.vq), true);
	for (uint16_t id = 0; id < 8; id++) {
		if (!in->pending(reg, id, &c))
			continue;
		ck_assert_uint_ge(c, 1002);
		ck_assert_uint_le(c, 1007);
		ids[c - 1002] = id;
		np++;
	}
	ck_assert_uint_eq(np, 6);
	ck_assert_int_eq(in->resume(reg, 8, vqcore_vq_get_used_base(t.vq), ids, np,
				    &avail, &used), 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, avail), 0);
	ck_assert_int_eq(vqcore_vq_set_used_base(t.vq, used), 0);
	for (unsigned i = 0; i < np; i++) {
		uint16_t head;

		ck_assert_int_eq(in->head(reg, 8, ids[i], &head), 0);
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, head, &b[i], iov, 16), 1);
		ck_assert_uint_eq(b[i].id, ids[i]);
	}
	n = vqcore_vq_get_bufs(t.vq, &b[np], 2, iov, 16);
	ck_assert_int_eq(n, refill ? 2 : 0);
	put(&t, b, np + (unsigned)n);
	/* every buffer back exactly once: 100..107, or 102..107 and 200, 201 */
	n = vqcore_drvq_get_used(t.dq, tok, NULL, 16);
	ck_assert_int_eq(n, 8);
	for (int i = 0; i < n; i++) {
		uintptr_t k = (uintptr_t)tok[i];

		k = k >= 200 ? k - 200 + 8 : k - 100;
		ck_assert_uint_lt(k, 10);
		ck_assert(!(seen & 1u << k));
		seen |= 1u << k;
	}
	ck_assert_uint_eq(seen, refill ? 0x3fcu : 0xffu);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	free(reg);
	vqt_teardown(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("format_ops");
	TCase *tc = tcase_create("ops");

	tcase_add_loop_test(tc, size_rules, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(tc, base_encoding, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(tc, inflight_resume, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(tc, inflight_hostile, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(tc, inflight_crash_after_publish, 0, 2 * (int)vqt_nvu_formats);
	tcase_add_loop_test(tc, inflight_ring_fresh, 0, (int)vqt_nvu_formats);
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
