/* SPDX-License-Identifier: MIT */
/*
 * Description: dirty logging of what the device writes (live migration).
 * While a log is set, every page the device may have written through the
 * iovecs or descriptors it was handed is marked by vqcore_vq_put_used(),
 * before the used entry that returns the buffer is written, and not
 * before: direct, chained and indirect buffers, buffers spanning regions,
 * in order and out of order, vqcore_vq_get_bufs_desc(), resubmission
 * (vqcore_vq_get_buf_at()), logging turned on with buffers in flight, and
 * the log replaced or removed while buffers are in flight, buffers of the
 * lean fetch (lib/vq_lean.h) out when a log is set.  Readable-only
 * buffers mark nothing, so the marking is per buffer.  Every case runs
 * over both ring formats.
 */
#include <string.h>

#include "vq_lean.h"
#include "vqtest.h"

#define FMT (vqt_formats[_i])
#define PG VQCORE_LOG_PAGE
#define LOG_BYTES (VQT_END / PG / 8 + 1)

/* Feature sets each case runs with: out of order, and in order. */
static const uint64_t feature_sets[] = { VQT_F_BASE, VQT_F_INORDER };
#define NSETS (sizeof(feature_sets) / sizeof(feature_sets[0]))

static bool marked(const uint8_t *log, uint64_t gpa)
{
	return log[gpa / PG / 8] & (1u << (gpa / PG % 8));
}

/* Every page of [gpa, gpa + len) marked. */
static void assert_marked(const uint8_t *log, uint64_t gpa, uint64_t len)
{
	for (uint64_t p = gpa / PG; p <= (gpa + len - 1) / PG; p++)
		ck_assert_msg(marked(log, p * PG), "page 0x%llx of [0x%llx, +%llu) not marked",
			      (unsigned long long)(p * PG), (unsigned long long)gpa,
			      (unsigned long long)len);
}

/* No page of [gpa, gpa + len) marked. */
static void assert_clear(const uint8_t *log, uint64_t gpa, uint64_t len)
{
	for (uint64_t p = gpa / PG; p <= (gpa + len - 1) / PG; p++)
		ck_assert_msg(!marked(log, p * PG), "page 0x%llx of [0x%llx, +%llu) marked",
			      (unsigned long long)(p * PG), (unsigned long long)gpa,
			      (unsigned long long)len);
}

/* No data page (everything past the ring and indirect area) marked. */
static void assert_data_clear(const uint8_t *log)
{
	assert_clear(log, VQT_DATA, VQT_END - VQT_DATA);
}

/* The device's work: fill every writable iovec of @b with @v. */
static uint32_t device_write(const struct vhost_buf *b, const struct iovec *iov,
			     uint8_t v)
{
	uint32_t total = 0;

	for (unsigned i = 0; i < b->in_num; i++) {
		const struct iovec *e = &iov[b->first + b->out_num + i];

		memset(e->iov_base, v, e->iov_len);
		total += (uint32_t)e->iov_len;
	}
	ck_assert_uint_eq(total, b->in_len);
	return total;
}

/* The same through guest descriptors (vqcore_vq_get_bufs_desc()). */
static uint32_t device_write_desc(struct vqt *t, const struct vhost_buf *b,
				  const struct vhost_desc *d, uint8_t v)
{
	uint32_t total = 0;

	for (unsigned i = 0; i < b->in_num; i++) {
		const struct vhost_desc *e = &d[b->first + b->out_num + i];
		uint64_t a = e->addr, end = e->addr + e->len;

		ck_assert(e->flags & VHOST_DESC_F_WRITE);
		/* through host pointers, a piece per region (vqcore_mem_write()
		 * would log by itself) */
		while (a < end) {
			uint64_t stop = a < VQT_REGION_B && end > VQT_REGION_B ?
					VQT_REGION_B : end;
			void *p = NULL;

			ck_assert_int_eq(vqcore_mem_translate(t->mem, a, stop - a, &p), 0);
			memset(p, v, stop - a);
			a = stop;
		}
		total += e->len;
	}
	ck_assert_uint_eq(total, b->in_len);
	return total;
}

/* The driver takes @n used buffers back. */
static void drain(struct vqt *t, unsigned n)
{
	void *tok[16];

	ck_assert_uint_le(n, 16);
	ck_assert_int_eq(vqcore_drvq_get_used(t->dq, tok, NULL, 16), (int)n);
}

/*
 * Two requests, each a readable header, then writable parts; the first's
 * big part spans six pages and the A/B region boundary.  Header pages are
 * below every writable page (a hull never covers them).
 */
#define HDR0 (VQT_DATA + 0x1000)
#define HDR1 (VQT_DATA + 0x2000)
#define BIG0 (VQT_REGION_B - 0x2000 - 100)
#define BIG0_LEN 0x5000u
#define STAT0 (VQT_DATA + 0x40000)
#define BIG1 (VQT_REGION_B + 0x50000 + 8)
#define BIG1_LEN 0x3000u
#define STAT1 (VQT_DATA + 0x41000 + 4095)
#define UNTOUCHED (VQT_DATA + 0x60000) /* no buffer names this page */

static void add_two(struct vqt *t, unsigned flags)
{
	struct vqcore_sg s0[3] = { { HDR0, 16 }, { BIG0, BIG0_LEN }, { STAT0, 1 } };
	struct vqcore_sg s1[3] = { { HDR1, 16 }, { BIG1, BIG1_LEN }, { STAT1, 1 } };

	ck_assert_int_eq(vqcore_drvq_add(t->dq, s0, 1, 2, (void *)1, flags), 0);
	ck_assert_int_eq(vqcore_drvq_add(t->dq, s1, 1, 2, (void *)2, flags), 0);
	vqcore_drvq_kick_prepare(t->dq);
}

static void assert_two_marked(const uint8_t *log, bool b0, bool b1)
{
	if (b0) {
		assert_marked(log, BIG0, BIG0_LEN);
		assert_marked(log, STAT0, 1);
	} else {
		assert_clear(log, BIG0, BIG0_LEN);
		assert_clear(log, STAT0, 1);
	}
	if (b1) {
		assert_marked(log, BIG1, BIG1_LEN);
		assert_marked(log, STAT1, 1);
	} else {
		assert_clear(log, BIG1, BIG1_LEN);
		assert_clear(log, STAT1, 1);
	}
	assert_clear(log, HDR0, 16);
	assert_clear(log, HDR1, 16);
	assert_clear(log, UNTOUCHED, 1);
}

/*
 * A buffer whose writable part spans pages and regions: its pages are
 * marked by put_used and not before, each buffer's by its own put_used
 * (out of order), and all of a run's (in order).
 */
static void spans_pages_and_regions(unsigned format, uint64_t features,
				    unsigned flags)
{
	static uint8_t log[LOG_BYTES];
	struct vqt t;
	struct vhost_buf b[4];
	struct iovec iov[16];
	uint32_t lens[2];

	vqt_setup(&t, format, 64, features, 0);
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	add_two(&t, flags);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 16), 2);
	/* the big part became two iovecs, one per region */
	ck_assert_uint_eq(b[0].in_num, 3);
	lens[0] = device_write(&b[0], iov, 0xa5);
	lens[1] = device_write(&b[1], iov, 0x5a);
	/* written, not returned: not marked yet */
	assert_data_clear(log);
	if (features & VQCORE_BIT(VQCORE_F_IN_ORDER)) {
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 2), 0);
		assert_two_marked(log, true, true);
	} else {
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[1], &lens[1], 1), 0);
		assert_two_marked(log, false, true);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[0], &lens[0], 1), 0);
		assert_two_marked(log, true, true);
	}
	drain(&t, 2);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}

START_TEST(spanning_buffer_marked_at_put_used)
{
	for (unsigned f = 0; f < NSETS; f++)
		spans_pages_and_regions(FMT, feature_sets[f], 0);
}
END_TEST

START_TEST(indirect_buffer_marked_at_put_used)
{
	for (unsigned f = 0; f < NSETS; f++)
		spans_pages_and_regions(FMT, feature_sets[f], VQCORE_ADD_INDIRECT);
}
END_TEST

/*
 * One-descriptor writable buffers (the direct lanes' kind) fetched in a
 * batch of several, returned in batches: each page marked by its own
 * put_used.
 */
START_TEST(direct_buffers_marked)
{
	for (unsigned f = 0; f < NSETS; f++) {
		static uint8_t log[LOG_BYTES];
		struct vqt t;
		struct vhost_buf b[8];
		struct iovec iov[8];
		uint32_t lens[8];

		vqt_setup(&t, FMT, 64, feature_sets[f], 0);
		memset(log, 0, sizeof(log));
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
		for (unsigned i = 0; i < 8; i++) {
			struct vqcore_sg sg = { VQT_DATA + 0x10000 + 2 * PG * i, 100 };

			ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1, (void *)1, 0), 0);
		}
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), 8);
		for (unsigned i = 0; i < 8; i++)
			lens[i] = device_write(&b[i], iov, (uint8_t)i);
		assert_data_clear(log);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 4), 0);
		for (unsigned i = 0; i < 8; i++) {
			uint64_t gpa = VQT_DATA + 0x10000 + 2 * PG * i;

			ck_assert(marked(log, gpa) == (i < 4));
			ck_assert(!marked(log, gpa + PG)); /* the gap page */
		}
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 4, lens + 4, 4), 0);
		for (unsigned i = 0; i < 8; i++)
			ck_assert(marked(log, VQT_DATA + 0x10000 + 2 * PG * i));
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, (void *[8]){ 0 }, NULL, 8), 8);
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * A chain with more writable descriptors than a buffer records exactly
 * (scattered pages): every one of them is marked (ranges merge into
 * covering ones).  The readable page, below them all, is not.
 */
START_TEST(many_writable_descriptors)
{
	for (unsigned ind = 0; ind < 2; ind++) {
		static uint8_t log[LOG_BYTES];
		struct vqt t;
		struct vqcore_sg sg[8];
		struct vhost_buf b[2];
		struct iovec iov[16];
		uint32_t len;

		vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
		memset(log, 0, sizeof(log));
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
		sg[0] = (struct vqcore_sg){ HDR0, 32 };
		/* seven writable parts, out of address order, far apart */
		for (unsigned i = 1; i < 8; i++)
			sg[i] = (struct vqcore_sg){ VQT_DATA + 0x20000 +
						    ((i * 5) % 7) * 0x9000 + 17 * i, 200 + i };
		sg[7].addr = VQT_REGION_B + 0x100000; /* and one in region B */
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 7, (void *)1,
						 ind ? VQCORE_ADD_INDIRECT : 0), 0);
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 16), 1);
		ck_assert_uint_eq(b[0].in_num, 7);
		len = device_write(&b[0], iov, 0x11);
		assert_data_clear(log);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, &len, 1), 0);
		for (unsigned i = 1; i < 8; i++)
			assert_marked(log, sg[i].addr, sg[i].len);
		assert_clear(log, HDR0, 32);
		drain(&t, 1);
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * Logging turned on while buffers are in flight (fetched through the
 * direct lanes with no log): their pages are marked when they come back.
 */
START_TEST(logging_starts_with_buffers_in_flight)
{
	for (unsigned f = 0; f < NSETS; f++) {
		for (unsigned flags = 0; flags < 2; flags++) {
			static uint8_t log[LOG_BYTES];
			struct vqt t;
			struct vhost_buf b[8];
			struct iovec iov[16];
			uint32_t lens[3];
			struct vqcore_sg one = { VQT_DATA + 0x30000, 64 };

			vqt_setup(&t, FMT, 64, feature_sets[f], 0);
			ck_assert_int_eq(vqcore_drvq_add(t.dq, &one, 0, 1, (void *)3, 0), 0);
			add_two(&t, flags ? VQCORE_ADD_INDIRECT : 0);
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 3);
			lens[0] = device_write(&b[0], iov, 1);
			lens[1] = device_write(&b[1], iov, 2);
			lens[2] = device_write(&b[2], iov, 3);
			memset(log, 0, sizeof(log));
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
			assert_data_clear(log);
			if (feature_sets[f] & VQCORE_BIT(VQCORE_F_IN_ORDER)) {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 3), 0);
			} else {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[2], &lens[2], 1), 0);
				assert_marked(log, BIG1, BIG1_LEN);
				assert_marked(log, STAT1, 1);
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 2), 0);
			}
			assert_marked(log, one.addr, one.len);
			assert_marked(log, BIG0, BIG0_LEN);
			assert_marked(log, STAT0, 1);
			assert_marked(log, BIG1, BIG1_LEN);
			assert_marked(log, STAT1, 1);
			drain(&t, 3);
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
			vqt_teardown(&t);
		}
	}
}
END_TEST

/*
 * Buffers fetched into the cache with no log and handed out after it was
 * set (a small @bufs array leaves them cached): recorded at hand-out, so
 * marked exactly.
 */
START_TEST(cached_before_logging_handed_out_after)
{
	static uint8_t log[LOG_BYTES];
	struct vqt t;
	struct vhost_buf b[4];
	struct iovec iov[16];
	uint32_t lens[2];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	add_two(&t, 0);
	/* both cached (chains take the general path), one handed out */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 1, iov, 16), 1);
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 1, 1, iov + 8, 8), 1);
	lens[0] = device_write(&b[0], iov, 1);
	lens[1] = device_write(&b[1], iov + 8, 2);
	/* the second, handed out while logging, marks only its own pages */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[1], &lens[1], 1), 0);
	assert_two_marked(log, false, true);
	/* the first was handed out before: marked (conservatively) too */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[0], &lens[0], 1), 0);
	assert_marked(log, BIG0, BIG0_LEN);
	assert_marked(log, STAT0, 1);
	drain(&t, 2);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}
END_TEST

/* vqcore_vq_get_bufs_desc(): the device writes through guest addresses. */
START_TEST(get_bufs_desc_marked)
{
	for (unsigned f = 0; f < NSETS; f++) {
		for (unsigned flags = 0; flags < 2; flags++) {
			static uint8_t log[LOG_BYTES];
			struct vqt t;
			struct vhost_buf b[4];
			struct vhost_desc d[16];
			uint32_t lens[2];

			vqt_setup(&t, FMT, 64, feature_sets[f], 0);
			memset(log, 0, sizeof(log));
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
			add_two(&t, flags ? VQCORE_ADD_INDIRECT : 0);
			ck_assert_int_eq(vqcore_vq_get_bufs_desc(t.vq, b, 4, d, 16), 2);
			lens[0] = device_write_desc(&t, &b[0], d, 7);
			lens[1] = device_write_desc(&t, &b[1], d, 8);
			assert_data_clear(log);
			if (feature_sets[f] & VQCORE_BIT(VQCORE_F_IN_ORDER)) {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 2), 0);
				assert_two_marked(log, true, true);
			} else {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[1], &lens[1], 1), 0);
				assert_two_marked(log, false, true);
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 1), 0);
				assert_two_marked(log, true, true);
			}
			drain(&t, 2);
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
			vqt_teardown(&t);
		}
	}
}
END_TEST

/*
 * Resubmission (vhost-user inflight replay): a restarted device fetches
 * the buffers by chain start with vqcore_vq_get_buf_at(); with the log
 * set then, each is marked by its own put_used.  Resubmitted before the
 * log is set, they are still marked.
 */
static void resubmit_case(unsigned format, bool log_first)
{
	static uint8_t log[LOG_BYTES];
	struct vqt t;
	struct vhost_buf b[4], r0, r1;
	struct iovec iov[16];
	uint32_t len0, len1, base, used;
	uint16_t at0, at1;

	vqt_setup(&t, format, 64, VQT_F_BASE, 0);
	add_two(&t, 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 16), 2);
	/* chain starts: split = head index, packed = ring slot (3 each) */
	at0 = format == VQCORE_FORMAT_SPLIT ? b[0].id : 0;
	at1 = format == VQCORE_FORMAT_SPLIT ? b[1].id : 3;
	base = vqcore_vq_get_base(t.vq);
	used = vqcore_vq_get_used_base(t.vq);
	vqt_new_device(&t, 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
	ck_assert_int_eq(vqcore_vq_set_used_base(t.vq, used), 0);
	memset(log, 0, sizeof(log));
	if (log_first)
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, at0, &r0, iov, 8), 1);
	ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, at1, &r1, iov + 8, 8), 1);
	ck_assert_uint_eq(r0.id, b[0].id);
	ck_assert_uint_eq(r1.id, b[1].id);
	if (!log_first)
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	len0 = device_write(&r0, iov, 1);
	len1 = device_write(&r1, iov + 8, 2);
	assert_data_clear(log);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &r1, &len1, 1), 0);
	if (log_first)
		assert_two_marked(log, false, true);
	assert_marked(log, BIG1, BIG1_LEN);
	assert_marked(log, STAT1, 1);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &r0, &len0, 1), 0);
	if (log_first)
		assert_two_marked(log, true, true);
	assert_marked(log, BIG0, BIG0_LEN);
	assert_marked(log, STAT0, 1);
	drain(&t, 2);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}

START_TEST(resubmitted_buffers_marked)
{
	resubmit_case(FMT, true);
	resubmit_case(FMT, false);
}
END_TEST

/*
 * The log replaced by a new bitmap while buffers are in flight: put_used
 * marks the new one and leaves the old one as it was; removed, nothing is
 * written anywhere; set again, the new one is marked.
 */
START_TEST(log_replaced_or_removed_in_flight)
{
	for (unsigned f = 0; f < NSETS; f++) {
		static uint8_t log_a[LOG_BYTES], log_b[LOG_BYTES], log_c[LOG_BYTES];
		static uint8_t snap[LOG_BYTES];
		struct vqt t;
		struct vhost_buf b[8];
		struct iovec iov[32];
		uint32_t lens[4];
		struct vqcore_sg one = { VQT_DATA + 0x30000, 64 };

		vqt_setup(&t, FMT, 64, feature_sets[f], 0);
		memset(log_a, 0, sizeof(log_a));
		memset(log_b, 0, sizeof(log_b));
		memset(log_c, 0, sizeof(log_c));
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log_a, sizeof(log_a)), 0);
		add_two(&t, 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &one, 0, 1, (void *)3, 0), 0);
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 32), 3);
		for (unsigned i = 0; i < 3; i++)
			lens[i] = device_write(&b[i], iov, (uint8_t)i);
		/* replaced: the old bitmap is never written again */
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log_b, sizeof(log_b)), 0);
		memcpy(snap, log_a, sizeof(snap));
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 1), 0);
		ck_assert_mem_eq(log_a, snap, sizeof(snap));
		assert_marked(log_b, BIG0, BIG0_LEN);
		assert_marked(log_b, STAT0, 1);
		assert_clear(log_b, BIG1, BIG1_LEN);
		/* removed: nothing written, no crash */
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		memcpy(snap, log_b, sizeof(snap));
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 1, lens + 1, 1), 0);
		ck_assert_mem_eq(log_b, snap, sizeof(snap));
		ck_assert_mem_eq(log_a, (uint8_t[LOG_BYTES]){ 0 }, sizeof(log_a));
		/* set again: the buffer still out was recorded under the first
		 * log and is marked exactly in the third */
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log_c, sizeof(log_c)), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 2, lens + 2, 1), 0);
		assert_marked(log_c, one.addr, one.len);
		assert_two_marked(log_c, false, false);
		ck_assert_mem_eq(log_b, snap, sizeof(snap));
		drain(&t, 3);
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * Readable-only buffers (one descriptor, chained, indirect) fetched and
 * returned while logging mark none of their pages: the marking is per
 * buffer and per writable descriptor, not "everything".
 */
START_TEST(readable_buffers_not_marked)
{
	for (unsigned f = 0; f < NSETS; f++) {
		static uint8_t log[LOG_BYTES];
		struct vqt t;
		struct vqcore_sg sg[3] = { { VQT_DATA + 0x10000, 100 },
					   { VQT_REGION_B - 50, 100 },
					   { VQT_DATA + 0x50000, 5000 } };
		struct vhost_buf b[4];
		struct iovec iov[16];

		vqt_setup(&t, FMT, 64, feature_sets[f], 0);
		memset(log, 0, sizeof(log));
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 0, (void *)1, 0), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 3, 0, (void *)2, 0), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 3, 0, (void *)3,
						 VQCORE_ADD_INDIRECT), 0);
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 16), 3);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
		assert_data_clear(log);
		drain(&t, 3);
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * An id's record does not outlive its buffer: every id of the ring used
 * by a writable buffer (some given back with vqcore_vq_unget() and
 * fetched again), then every id by a readable one: the second round marks
 * nothing.
 */
START_TEST(records_do_not_leak_to_a_later_buffer)
{
	static uint8_t log[LOG_BYTES];
	struct vqt t;
	struct vqcore_sg w = { VQT_DATA + 0x30000, 3 * PG };
	struct vqcore_sg rd = { VQT_DATA + 0x10000, 64 };
	struct vhost_buf b[64];
	struct iovec iov[64];
	uint32_t lens[64];
	void *tok[64];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	for (unsigned i = 0; i < 64; i++)
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &w, 0, 1, (void *)1, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 64, iov, 64), 64);
	ck_assert_int_eq(vqcore_vq_unget(t.vq, b + 60, 4), 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 60, 4, iov + 60, 4), 4);
	for (unsigned i = 0; i < 64; i++)
		lens[i] = b[i].in_len;
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 64), 0);
	assert_marked(log, w.addr, w.len);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 64);
	/* the driver reuses every id for readable buffers */
	memset(log, 0, sizeof(log));
	for (unsigned i = 0; i < 64; i++)
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &rd, 1, 0, (void *)2, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 64, iov, 64), 64);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 64), 0);
	assert_data_clear(log);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 64);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}
END_TEST

/*
 * A long stream with the log on (chains, indirect tables and single
 * descriptors over many laps of a small ring, half returned out of
 * order): every writable page is marked by the put_used that returns
 * it, and no readable one.
 */
START_TEST(stream_with_log)
{
	for (unsigned f = 0; f < NSETS; f++) {
		static uint8_t log[LOG_BYTES];
		struct vqt t;
		bool in_order = feature_sets[f] & VQCORE_BIT(VQCORE_F_IN_ORDER);

		vqt_setup(&t, FMT, 16, feature_sets[f], 4);
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
		for (unsigned round = 0; round < 200; round++) {
			struct vqcore_sg sg[8][2];
			struct vhost_buf b[8];
			struct iovec iov[32];
			uint32_t lens[8];
			unsigned n = 1 + round % 8;
			int got = 0;

			memset(log, 0, sizeof(log));
			for (unsigned i = 0; i < n; i++) {
				unsigned kind = (round + i) % 3;
				uint64_t a = VQT_DATA + 0x10000 + ((round * 8 + i) % 150) * PG * 4;

				sg[i][0] = (struct vqcore_sg){ a, 48 };
				sg[i][1] = (struct vqcore_sg){ a + PG + 100, 2 * PG };
				ck_assert_int_eq(vqcore_drvq_add(t.dq, kind ? sg[i] : &sg[i][1],
								 kind ? 1 : 0, 1, (void *)1,
								 kind == 2 ? VQCORE_ADD_INDIRECT : 0), 0);
			}
			vqcore_drvq_kick_prepare(t.dq);
			while (got < (int)n) {
				int r = vqcore_vq_get_bufs(t.vq, b + got, 8 - (unsigned)got,
							   iov + 4 * got, 32 - 4 * (unsigned)got);

				ck_assert_int_gt(r, 0);
				got += r;
			}
			for (int i = 0; i < got; i++)
				lens[i] = b[i].in_len;
			assert_data_clear(log);
			if (!in_order && n > 1) {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[n - 1], &lens[n - 1], 1), 0);
				assert_marked(log, sg[n - 1][1].addr, sg[n - 1][1].len);
				ck_assert(!marked(log, sg[0][1].addr));
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, n - 1), 0);
			} else {
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, n), 0);
			}
			for (unsigned i = 0; i < n; i++) {
				assert_marked(log, sg[i][1].addr, sg[i][1].len);
				if ((round + i) % 3)
					ck_assert(!marked(log, sg[i][0].addr));
			}
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, (void *[8]){ 0 }, NULL, 8), (int)n);
		}
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * The lean fetch (lib/vq_lean.h) runs only with no log set, and records
 * nothing: a log set while its buffers are out marks every region when
 * they are returned, before the used entries (as put_used does for the
 * direct loops' buffers), and the used ring's writes too.  In order and
 * out of order, an in-order run and single entries.
 */
START_TEST(lean_buffers_marked_when_log_set_in_flight)
{
	for (unsigned f = 0; f < NSETS; f++) {
		for (unsigned full = 0; full < 2; full++) {
			static uint8_t log[LOG_BYTES];
			struct vqt t;
			struct vq_lean e[4];
			uint32_t lens[3], pos = 0;
			uint64_t addr[3];
			bool general = true;

			vqt_setup(&t, FMT, 64, feature_sets[f], 0);
			for (unsigned i = 0; i < 3; i++) {
				struct vqcore_sg sg = { addr[i] = VQT_REGION_B + 0x10000 * (i + 1), 64 };

				ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1,
								 (void *)(uintptr_t)(i + 1), 0), 0);
			}
			vqcore_drvq_kick_prepare(t.dq);
			ck_assert_uint_eq(vq_lean_get(t.vq, e, 4, true, &pos, &general), 3);
			for (unsigned i = 0; i < 3; i++) {
				memset(e[i].p, 0x5a, 64);
				lens[i] = full ? 64 : 10;
			}
			memset(log, 0, sizeof(log));
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
			assert_data_clear(log);
			ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, true, lens, 3, 3), 0);
			for (unsigned i = 0; i < 3; i++)
				assert_marked(log, addr[i], 64);
			assert_marked(log, VQT_DATA, VQT_END - VQT_DATA);  /* every region */
			if (t.format == VQCORE_FORMAT_SPLIT)
				assert_marked(log, t.ring.device, 4);
			else
				assert_marked(log, t.ring.desc, 16);
			drain(&t, 3);
			ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
			vqt_teardown(&t);
		}
	}
}
END_TEST

static Suite *dirty_log_suite(void)
{
	Suite *s = suite_create("dirty_log");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, spanning_buffer_marked_at_put_used, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, indirect_buffer_marked_at_put_used, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, direct_buffers_marked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, many_writable_descriptors, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, logging_starts_with_buffers_in_flight, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, cached_before_logging_handed_out_after, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, get_bufs_desc_marked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, resubmitted_buffers_marked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, log_replaced_or_removed_in_flight, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, readable_buffers_not_marked, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, records_do_not_leak_to_a_later_buffer, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, stream_with_log, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_buffers_marked_when_log_set_in_flight, 0, (int)vqt_nformats);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(dirty_log_suite()) ? 1 : 0;
}
