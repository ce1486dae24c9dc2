/* SPDX-License-Identifier: MIT */
/*
 * Description: virtqueue conformance suite, written once against the
 * format-independent API (vhost_buf / vhost_desc, drvq) and run over every
 * ring format: single, chained and indirect buffers, buffers spanning
 * regions, indices wrapping past 65535, full and empty rings, batching,
 * event-index and flag notification suppression, un-fetch, state save and
 * restore, in-order completion, misuse of the used call, a batch that
 * meets a bad buffer after good ones (the good ones are served first), and
 * the lean fetch and return of lib/vq_lean.h (the library's net helper
 * uses it): what it hands out, returns and gives back, where it leaves a
 * buffer to the general path (which then does exactly what it does
 * without the lean path), and when it does not run at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/testring/testring.h"
#include "vq_lean.h"
#include "vqtest.h"

#define FMT (vqt_formats[_i])

static uint8_t pattern_byte(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131 + i);
}

/* Check the readable iovecs of @b carry pattern(seed). */
static void check_out(const struct vhost_buf *b, const struct iovec *iov,
		      uint32_t seed)
{
	uint32_t pos = 0;

	for (unsigned i = 0; i < b->out_num; i++) {
		const uint8_t *p = iov[b->first + i].iov_base;

		for (size_t j = 0; j < iov[b->first + i].iov_len; j++, pos++)
			ck_assert_uint_eq(p[j], pattern_byte(seed, pos));
	}
	ck_assert_uint_eq(pos, b->out_len);
}

/* Write pattern(seed) into the writable iovecs; returns bytes written. */
static uint32_t fill_in(const struct vhost_buf *b, const struct iovec *iov,
			uint32_t seed)
{
	uint32_t pos = 0;

	for (unsigned i = 0; i < b->in_num; i++) {
		uint8_t *p = iov[b->first + b->out_num + i].iov_base;

		for (size_t j = 0; j < iov[b->first + b->out_num + i].iov_len; j++, pos++)
			p[j] = pattern_byte(seed, pos);
	}
	ck_assert_uint_eq(pos, b->in_len);
	return pos;
}

/* ---- single, chained, indirect, spanning ---- */

static void roundtrip(unsigned format, unsigned nout, unsigned nin,
		      unsigned flags, bool span)
{
	struct vqt t;
	struct vqcore_sg sg[8];
	struct vhost_buf b[4];
	struct iovec iov[32];
	uint32_t len[8] = { 100, 4096, 7, 1500, 64, 3000, 1, 512 };
	uint32_t out_total = 0, in_total = 0, ulen = 0;
	void *tok = NULL;
	int n;

	vqt_setup(&t, format, 256, VQT_F_BASE, 0);
	for (unsigned i = 0; i < nout + nin; i++) {
		sg[i].len = len[i];
		if (span && i == 0) /* first element crosses A/B boundary */
			sg[i].addr = VQT_REGION_B - 40;
		else
			sg[i].addr = vqt_alloc(&t, len[i]);
	}
	/* readable part: one pattern over all out elements in order */
	{
		uint32_t off = 0;

		for (unsigned i = 0; i < nout; i++) {
			uint8_t tmp[4096];

			for (uint32_t j = 0; j < sg[i].len; j++)
				tmp[j] = pattern_byte(7, off + j);
			ck_assert_int_eq(vqcore_mem_write(t.mem, sg[i].addr, tmp, sg[i].len), 0);
			off += sg[i].len;
		}
		out_total = off;
	}
	for (unsigned i = nout; i < nout + nin; i++)
		in_total += sg[i].len;

	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, nout, nin, (void *)0x1234, flags), 0);
	vqcore_drvq_kick_prepare(t.dq);

	n = vqcore_vq_get_bufs(t.vq, b, 4, iov, 32);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(b[0].out_len, out_total);
	ck_assert_uint_eq(b[0].in_len, in_total);
	ck_assert_uint_eq(b[0].out_num, nout + (span && nout ? 1 : 0));
	ck_assert_uint_eq(b[0].in_num, nin + (span && !nout ? 1 : 0));
	ck_assert_uint_eq(b[0].ndesc, (flags & VQCORE_ADD_INDIRECT) ? 1 : nout + nin);
	if (span) /* the first element became two iovecs */
		ck_assert_uint_eq(iov[b[0].first].iov_len, 40);
	check_out(&b[0], iov, 7);
	fill_in(&b[0], iov, 9);
	ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 1, 3, iov, 32), 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, &in_total, 1), 0);
	ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 0);

	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, &tok, &ulen, 1), 1);
	ck_assert_ptr_eq(tok, (void *)0x1234);
	ck_assert_uint_eq(ulen, in_total);
	{
		uint32_t off = 0;

		for (unsigned i = nout; i < nout + nin; i++) {
			uint8_t tmp[4096];

			ck_assert_int_eq(vqcore_mem_read(t.mem, sg[i].addr, tmp, sg[i].len), 0);
			for (uint32_t j = 0; j < sg[i].len; j++)
				ck_assert_uint_eq(tmp[j], pattern_byte(9, off + j));
			off += sg[i].len;
		}
	}
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, &tok, &ulen, 1), 0);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 256);
	vqt_teardown(&t);
}

START_TEST(single_out)
{
	roundtrip(FMT, 1, 0, 0, false);
}
END_TEST

START_TEST(single_in)
{
	roundtrip(FMT, 0, 1, 0, false);
}
END_TEST

START_TEST(chained)
{
	roundtrip(FMT, 3, 2, 0, false);
}
END_TEST

START_TEST(indirect)
{
	roundtrip(FMT, 4, 4, VQCORE_ADD_INDIRECT, false);
}
END_TEST

START_TEST(spanning_regions)
{
	roundtrip(FMT, 2, 1, 0, true);
	roundtrip(FMT, 0, 2, VQCORE_ADD_INDIRECT, true);
}
END_TEST

/* get_bufs_desc gives guest addresses, not iovecs */
START_TEST(descs_as_gpa)
{
	struct vqt t;
	struct vqcore_sg sg[3];
	struct vhost_buf b;
	struct vhost_desc d[8];
	void *tok;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	for (int i = 0; i < 3; i++) {
		sg[i].addr = vqt_alloc(&t, 100 + i);
		sg[i].len = 100 + i;
	}
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 2, &t, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs_desc(t.vq, &b, 1, d, 8), 1);
	ck_assert_uint_eq(b.out_num, 1);
	ck_assert_uint_eq(b.in_num, 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(d[b.first + i].addr, sg[i].addr);
		ck_assert_uint_eq(d[b.first + i].len, sg[i].len);
		ck_assert_uint_eq(d[b.first + i].flags, i ? VHOST_DESC_F_WRITE : 0);
		ck_assert_uint_eq(d[b.first + i].id, b.id);
	}
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b, NULL, 1), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, &tok, NULL, 1), 1);
	ck_assert_ptr_eq(tok, &t);
	vqt_teardown(&t);
}
END_TEST

/* ---- wrap, full, empty, batching ---- */

/* Move @total buffers in bursts of @burst; checks tokens come back in order. */
static void stream(struct vqt *t, unsigned total, unsigned burst)
{
	unsigned added = 0, done = 0;
	struct vhost_buf b[64];
	struct iovec iov[64];
	uint32_t lens[64];
	void *tok[64];

	while (done < total) {
		unsigned k = 0;
		int n;

		while (added < total && k < burst) {
			struct vqcore_sg sg = { .addr = VQT_DATA + (added % 64) * 64, .len = 8 };

			if (vqcore_drvq_add(t->dq, &sg, 0, 1,
					    (void *)(uintptr_t)(added + 1), 0) == -ENOSPC)
				break;
			added++;
			k++;
		}
		vqcore_drvq_kick_prepare(t->dq);
		n = vqcore_vq_get_bufs(t->vq, b, 64, iov, 64);
		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			memcpy(iov[b[i].first].iov_base, &b[i].id, sizeof(b[i].id));
			lens[i] = 8;
		}
		ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, lens, (unsigned)n), 0);
		n = vqcore_drvq_get_used(t->dq, tok, lens, 64);
		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq((uintptr_t)tok[i], done + 1);
			ck_assert_uint_eq(lens[i], 8);
			done++;
		}
	}
	ck_assert_int_eq(vqcore_vq_error(t->vq), 0);
}

START_TEST(index_wraps_past_65535)
{
	struct vqt t;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	stream(&t, 70000, 40);
	/* the device's position wrapped: base is the running count mod 2^16
	 * (split; testring counts slots, one per buffer here) or the slot
	 * with its wrap counter (packed) */
	if (FMT != VQCORE_FORMAT_PACKED)
		ck_assert_uint_eq(vqcore_vq_get_base(t.vq), 70000 % 65536);
	vqt_teardown(&t);
}
END_TEST

START_TEST(full_and_empty)
{
	struct vqt t;
	struct vhost_buf b[300];
	struct iovec iov[300];
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	void *tok[300];
	int n;

	vqt_setup(&t, FMT, 256, VQT_F_BASE, 0);
	/* empty ring */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 300, iov, 300), 0);
	for (unsigned i = 0; i < 256; i++)
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), -ENOSPC);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 0);
	vqcore_drvq_kick_prepare(t.dq);
	/* several batches of the default 64 in one call */
	n = vqcore_vq_get_bufs(t.vq, b, 300, iov, 300);
	ck_assert_int_eq(n, 256);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 256, 44, iov, 44), 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 256), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 300), 256);
	for (unsigned i = 0; i < 256; i++)
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 256);
	vqt_teardown(&t);
}
END_TEST

START_TEST(small_arrays_keep_cache)
{
	struct vqt t;
	struct vhost_buf b[8];
	struct iovec iov[3];
	struct vqcore_sg sg[4];
	void *tok[8];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	for (int i = 0; i < 4; i++) {
		sg[i].addr = vqt_alloc(&t, 32);
		sg[i].len = 32;
	}
	/* buffer 1: 2 descriptors; buffer 2: 2; buffer 3: 4 */
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)1, 0), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 2, 0, (void *)2, 0), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 2, 2, (void *)3, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	/* 3 iovecs: only the first buffer fits; the second waits in cache */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 3), 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 1, 8, iov, 3), 1);
	/* the third needs 4: too big for the array, queue not broken */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 2, 8, iov, 3), -VQCORE_E_IOV_FULL);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	{
		struct iovec big[8];

		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 2, 8, big, 8), 1);
		ck_assert_uint_eq(b[2].out_num + b[2].in_num, 4);
	}
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 3);
	vqt_teardown(&t);
}
END_TEST

/* ---- notifications ---- */

START_TEST(event_idx_suppression)
{
	struct vqt t;
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	struct vhost_buf b[8];
	struct iovec iov[8];
	void *tok[8];

	vqt_setup(&t, FMT, 64, VQT_F_EVENT, 0);
	/* device wants kicks */
	ck_assert(!vqcore_vq_enable_notify(t.vq));
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), 0);
	ck_assert(vqcore_drvq_kick_prepare(t.dq));
	/* nothing new: no kick */
	ck_assert(!vqcore_drvq_kick_prepare(t.dq));
	/* device has not re-armed: the driver's next buffers need no kick */
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)2, 0), 0);
	ck_assert(!vqcore_drvq_kick_prepare(t.dq));
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), 2);
	/* re-arm after consuming: empty ring, then a kick is due again */
	ck_assert(!vqcore_vq_enable_notify(t.vq));
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)3, 0), 0);
	ck_assert(vqcore_drvq_kick_prepare(t.dq));
	/* race closed: a buffer added before enable is reported by enable */
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)4, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert(vqcore_vq_enable_notify(t.vq));
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 2, 6, iov, 8), 2);

	/* interrupts: driver enabled callbacks -> first used is signalled */
	ck_assert(!vqcore_drvq_enable_cb(t.dq));
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	ck_assert(vqcore_vq_should_signal(t.vq));
	/* more used before the driver looked: no second interrupt */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 1, NULL, 1), 0);
	ck_assert(!vqcore_vq_should_signal(t.vq));
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 2);
	/* driver disables callbacks: none */
	vqcore_drvq_disable_cb(t.dq);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 2, NULL, 1), 0);
	ck_assert(!vqcore_vq_should_signal(t.vq));
	/* re-enable: enable_cb reports the pending one (race closed) */
	ck_assert(vqcore_drvq_enable_cb(t.dq));
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 1);
	ck_assert(!vqcore_drvq_enable_cb(t.dq));
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 3, NULL, 1), 0);
	ck_assert(vqcore_vq_should_signal(t.vq));
	vqt_teardown(&t);
}
END_TEST

START_TEST(flag_suppression)
{
	struct vqt t;
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	struct vhost_buf b[4];
	struct iovec iov[4];
	void *tok[4];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	vqcore_vq_disable_notify(t.vq);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), 0);
	ck_assert(!vqcore_drvq_kick_prepare(t.dq));
	ck_assert(vqcore_vq_enable_notify(t.vq)); /* one is pending */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), 1);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)2, 0), 0);
	ck_assert(vqcore_drvq_kick_prepare(t.dq));
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 1, 3, iov, 4), 1);

	vqcore_drvq_disable_cb(t.dq);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	ck_assert(!vqcore_vq_should_signal(t.vq));
	ck_assert(vqcore_drvq_enable_cb(t.dq));
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 1, NULL, 1), 0);
	ck_assert(vqcore_vq_should_signal(t.vq));
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 2);
	vqt_teardown(&t);
}
END_TEST

/* real eventfds: kick and call go through the glue */
START_TEST(eventfd_kick_and_call)
{
	struct vqt t;
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	struct vhost_buf b[4];
	struct iovec iov[4];
	int kick = vqcore_eventfd_new(), call = vqcore_eventfd_new();

	ck_assert_int_ge(kick, 0);
	ck_assert_int_ge(call, 0);
	vqt_setup(&t, FMT, 64, VQT_F_EVENT, 0);
	vqcore_drvq_set_kick_fd(t.dq, kick);
	vqcore_vq_set_call_fd(t.vq, call);
	ck_assert(!vqcore_vq_enable_notify(t.vq));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1 + i, 0), 0);
	ck_assert_int_eq(vqcore_drvq_kick(t.dq), 1); /* one kick for three */
	ck_assert_int_eq(vqcore_eventfd_drain(kick), 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), 3);
	ck_assert(!vqcore_drvq_enable_cb(t.dq));
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
	ck_assert_int_eq(vqcore_vq_signal(t.vq), 1);
	ck_assert_int_eq(vqcore_eventfd_drain(call), 1);
	ck_assert_int_eq(vqcore_eventfd_drain(call), 0);
	vqt_teardown(&t);
	close(kick);
	close(call);
}
END_TEST

/* ---- un-fetch, state ---- */

START_TEST(unget_in_order)
{
	struct vqt t;
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	struct vhost_buf b[8], c[8];
	struct iovec iov[8];
	void *tok[8];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 3, iov, 8), 3);
	/* not the most recent: refused */
	ck_assert_int_eq(vqcore_vq_unget(t.vq, b, 2), -EINVAL);
	/* wrong order: refused */
	c[0] = b[2];
	c[1] = b[1];
	ck_assert_int_eq(vqcore_vq_unget(t.vq, c, 2), -EINVAL);
	/* the last two, in order */
	ck_assert_int_eq(vqcore_vq_unget(t.vq, b + 1, 2), 0);
	ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 1);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, c, 8, iov, 8), 4);
	ck_assert_uint_eq(c[0].id, b[1].id);
	ck_assert_uint_eq(c[1].id, b[2].id);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, c, NULL, 4), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	vqt_teardown(&t);
}
END_TEST

/*
 * A polling device's empty-ring check follows the fetch position through
 * everything that moves it: buffers taken directly, a chain taken through
 * the cache, an unget, and laps of a small ring (the packed wrap counter
 * flips); an empty call between each step finds nothing, and the buffers
 * that arrive next are all found.
 */
START_TEST(empty_check_follows_position)
{
	struct vqt t;
	struct vqcore_sg sg[2] = { { VQT_DATA, 16 }, { VQT_DATA + 64, 16 } };
	struct vhost_buf b[8];
	struct iovec iov[16];
	void *tok[8];
	uintptr_t next_tok = 1, want_tok = 1;

	vqt_setup(&t, FMT, 4, VQT_F_BASE, 0);
	for (unsigned lap = 0; lap < 6; lap++) {
		int n;

		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 0);
		/* a chain (through the cache), then two one-descriptor buffers */
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)next_tok++, 0), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 0, (void *)next_tok++, 0), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 0, (void *)next_tok++, 0), 0);
		vqcore_drvq_kick_prepare(t.dq);
		n = vqcore_vq_get_bufs(t.vq, b, 8, iov, 16);
		ck_assert_int_eq(n, 3);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 3, 5, iov + 4, 12), 0);
		/* the last one given back, then found again */
		ck_assert_int_eq(vqcore_vq_unget(t.vq, b + 2, 1), 0);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 2, 6, iov + 3, 13), 1);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b + 3, 5, iov + 4, 12), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 3);
		for (unsigned i = 0; i < 3; i++)
			ck_assert_uint_eq((uintptr_t)tok[i], want_tok++);
		/* one buffer at a time, each call after an empty one */
		for (unsigned i = 0; i < 3; i++) {
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 0);
			ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 0, 1, (void *)next_tok++, 0), 0);
			vqcore_drvq_kick_prepare(t.dq);
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 1);
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 1);
			ck_assert_uint_eq((uintptr_t)tok[0], want_tok++);
		}
	}
	vqt_teardown(&t);
}
END_TEST

START_TEST(state_save_restore)
{
	struct vqt t;
	struct vhost_buf b[64];
	struct iovec iov[64];
	void *tok[64];
	uint32_t base;
	int n;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	stream(&t, 1000, 30); /* move the positions somewhere interesting */
	for (int i = 0; i < 10; i++) {
		struct vqcore_sg sg = { .addr = VQT_DATA + 64 * i, .len = 16 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);
	/* device takes 4 (cache holds the rest), completes them, stops */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 64), 4);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, 0), -EBUSY);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 4), 0);
	base = vqcore_vq_get_base(t.vq);
	/* a new device instance resumes from base: gets exactly 6, in order */
	vqt_new_device(&t, 0);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
	ck_assert_uint_eq(vqcore_vq_get_base(t.vq), base);
	n = vqcore_vq_get_bufs(t.vq, b + 4, 60, iov, 64);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 4, NULL, 6), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 10);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
	/* and keeps going */
	stream(&t, 500, 17);
	vqt_teardown(&t);
}
END_TEST

START_TEST(put_used_misuse)
{
	struct vqt t;
	struct vqcore_sg sg = { .addr = VQT_DATA, .len = 16 };
	struct vhost_buf b[4], fake;
	struct iovec iov[4];
	void *tok[4];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)2, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), 2);
	fake = b[0];
	fake.id = 63; /* never fetched */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &fake, NULL, 1), -EINVAL);
	fake.id = 5000; /* out of range */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &fake, NULL, 1), -EINVAL);
	b[2] = b[1]; /* the same buffer twice in one batch */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 1, NULL, 2), -EINVAL);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 0); /* nothing written */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 2), 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), -EINVAL); /* twice */
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 2);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	vqt_teardown(&t);
}
END_TEST

START_TEST(in_order_completion)
{
	struct vqt t;
	struct vhost_buf b[16];
	struct iovec iov[32];
	uint32_t lens[16];
	uint32_t ulens[16];
	void *tok[16];

	vqt_setup(&t, FMT, 64, VQT_F_INORDER, 0);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 10; i++) {
			struct vqcore_sg sg[2] = { { VQT_DATA, 16 }, { VQT_DATA + 64 * (i + 1), 32 + i } };

			ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)(uintptr_t)(i + 1),
							 i % 3 == 0 ? VQCORE_ADD_INDIRECT : 0), 0);
		}
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 16, iov, 32), 10);
		/* first 6 written in full (one used entry covers them), the
		 * next 4 partially (one entry each) */
		for (int i = 0; i < 10; i++)
			lens[i] = i < 6 ? b[i].in_len : (uint32_t)i;
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 6), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 6, lens + 6, 1), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 7, lens + 7, 1), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b + 8, lens + 8, 2), 0);
		/* collect in two steps so a run is split across calls */
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 3), 3);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok + 3, ulens + 3, 13), 7);
		for (int i = 0; i < 10; i++) {
			ck_assert_uint_eq((uintptr_t)tok[i], i + 1);
			ck_assert_uint_eq(ulens[i], lens[i]);
		}
	}
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 64);
	vqt_teardown(&t);
}
END_TEST

/* A ring in a region that is removed and re-added elsewhere in host memory:
 * the queue notices through the generation and follows it. */
START_TEST(ring_follows_memory_change)
{
	struct vqt t;
	struct vqcore_mem_region a, other = { .gpa = 0x10000000, .size = 4096, .fd = -1 };
	static char page[4096];
	struct vhost_buf b[4];
	struct iovec iov[4];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	stream(&t, 100, 10);
	/* adding an unrelated region keeps the ring pointers */
	other.hva = page;
	ck_assert_int_eq(vqcore_mem_add(t.mem, &other), 0);
	stream(&t, 100, 10);
	/* removing the ring's region breaks the queue on the next batch */
	ck_assert_int_eq(vqcore_mem_remove(t.mem, VQT_REGION_A, VQT_REGION_SIZE, &a), 0);
	vqt_capture_log(&t);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), -VQCORE_E_RING_ADDR);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), -VQCORE_E_BROKEN);
	ck_assert_int_eq(t.log_lines, 1);
	/* put it back and reset: works again */
	ck_assert_int_eq(vqcore_mem_add(t.mem, &a), 0);
	vqcore_vq_reset(t.vq);
	ck_assert_int_eq(vqcore_vq_set_base(t.vq, vqcore_vq_get_base(t.vq)), 0);
	vqt_teardown(&t);
}
END_TEST

/* The ring's region comes back at a host address 2 bytes off its guest
 * address's alignment (a front-end's odd mmap offset or region address):
 * the ring areas would be misaligned in host memory, so the queue breaks
 * with -VQCORE_E_RING_ADDR instead of loading through them (undefined
 * behaviour, found by fuzz_vu under UBSan), and a new queue there is
 * refused. */
START_TEST(ring_at_misaligned_host_address)
{
	struct vqt t;
	struct vqcore_mem_region a, moved;
	struct vqcore_vq_config c;
	struct vqcore_vq *vq = NULL;
	struct vhost_buf b[4];
	struct iovec iov[4];
	uint8_t *m = aligned_alloc(64, VQT_REGION_SIZE + 64);

	ck_assert_ptr_nonnull(m);
	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	stream(&t, 100, 10);
	ck_assert_int_eq(vqcore_mem_remove(t.mem, VQT_REGION_A, VQT_REGION_SIZE, &a), 0);
	memcpy(m + 2, a.hva, VQT_REGION_SIZE);
	moved = a;
	moved.hva = m + 2;
	moved.fd = -1;
	ck_assert_int_eq(vqcore_mem_add(t.mem, &moved), 0);
	vqt_capture_log(&t);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), -VQCORE_E_RING_ADDR);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), -VQCORE_E_BROKEN);
	ck_assert_int_eq(t.log_lines, 1);
	c = (struct vqcore_vq_config){ .sz = sizeof(c), .format = FMT, .num = 64,
		.mem = t.mem, .desc_gpa = t.ring.desc, .driver_gpa = t.ring.driver,
		.device_gpa = t.ring.device, .call_fd = -1 };
	ck_assert_int_eq(vqcore_vq_new(&c, &vq), -VQCORE_E_RING_ADDR);
	ck_assert_ptr_null(vq);
	ck_assert_int_eq(vqcore_mem_remove(t.mem, VQT_REGION_A, VQT_REGION_SIZE, NULL), 0);
	ck_assert_int_eq(vqcore_mem_add(t.mem, &a), 0);
	vqt_teardown(&t);
	free(m);
}
END_TEST

/* A region removal leaves the queue's last-hit hint past the end of the
 * table; a one-descriptor buffer at GPA 1 must then be looked up (and found
 * unmapped), not translated through a stale or empty hint. */
START_TEST(stale_hint_after_region_removal)
{
	struct vqt t;
	static char page[4096];
	struct vqcore_mem_region c = { .gpa = 0x10000000, .size = 4096,
				       .hva = page, .fd = -1 };
	struct vqcore_sg sg = { 0x10000000, 64 };
	struct vhost_buf b[2];
	struct iovec iov[2];
	void *tok[2];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	vqt_capture_log(&t);
	ck_assert_int_eq(vqcore_mem_add(t.mem, &c), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, &t, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), 1);
	ck_assert_ptr_eq(iov[0].iov_base, page); /* the hint is on the last region */
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 2), 1);
	ck_assert_int_eq(vqcore_mem_remove(t.mem, c.gpa, c.size, NULL), 0);
	sg.addr = 1;
	sg.len = 1;
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, &t, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	vqt_expect_broken(&t, -VQCORE_E_UNMAPPED);
	vqt_teardown(&t);
}
END_TEST

/* Buffers left in the cache (the caller's arrays were full) whose region
 * is removed before the next call: they are looked up again, not handed
 * out through the region the queue hit last. */
START_TEST(cached_buffer_loses_its_region)
{
	struct vqt t;
	struct vqcore_mem_region b_reg;
	struct vhost_buf b[8];
	struct iovec iov[8];

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	vqt_capture_log(&t);
	for (unsigned i = 0; i < 4; i++) {
		struct vqcore_sg sg = { VQT_REGION_B + 64 * i, 64 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1, &t, 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);
	/* room for one: the other three stay cached */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 1, iov, 1), 1);
	ck_assert_ptr_eq(iov[0].iov_base, vqt_hva(&t, VQT_REGION_B));
	ck_assert_int_eq(vqcore_mem_remove(t.mem, VQT_REGION_B, VQT_REGION_SIZE, &b_reg), 0);
	iov[0].iov_base = NULL;
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), -VQCORE_E_UNMAPPED);
	ck_assert_ptr_null(iov[0].iov_base);
	ck_assert_int_eq(t.log_lines, 1);
	ck_assert_int_eq(vqcore_mem_add(t.mem, &b_reg), 0);
	vqt_teardown(&t);
}
END_TEST

/* One-descriptor buffers in one batch that move between regions, end on a
 * region's last byte, cross from one region into the next, have no length,
 * or run past the end of guest memory or of the address space: each is
 * translated as the memory table says, whatever region the queue hit
 * last, and the bad ones break the queue with their own error. */
START_TEST(one_descriptor_region_edges)
{
	struct vqt t;
	const struct { uint64_t addr; uint32_t len; bool write; } q[] = {
		{ VQT_DATA, 64, false },
		{ VQT_REGION_B, 64, true },
		{ VQT_END - 1, 1, true },               /* last byte of B */
		{ VQT_DATA + 128, 64, false },           /* back in A */
		{ VQT_REGION_B - 40, 80, true },         /* A into B: two iovecs */
		{ VQT_DATA + 256, 0, true },             /* no length: no iovec */
		{ VQT_REGION_B + 4096, 100, false },
	};
	const unsigned nq = sizeof(q) / sizeof(q[0]);
	struct vhost_buf b[8];
	struct iovec iov[16];
	uint32_t lens[8];
	void *tok[8];
	unsigned k = 0;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	vqt_capture_log(&t);
	for (unsigned i = 0; i < nq; i++) {
		struct vqcore_sg sg = { q[i].addr, q[i].len };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, !q[i].write, q[i].write,
						 (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), (int)nq);
	for (unsigned i = 0; i < nq; i++) {
		unsigned niov = i == 4 ? 2 : i == 5 ? 0 : 1;

		ck_assert_uint_eq(b[i].first, k);
		ck_assert_uint_eq(b[i].out_len, q[i].write ? 0 : q[i].len);
		ck_assert_uint_eq(b[i].in_len, q[i].write ? q[i].len : 0);
		ck_assert_uint_eq((unsigned)b[i].out_num + b[i].in_num, niov);
		if (niov)
			ck_assert_ptr_eq(iov[k].iov_base, vqt_hva(&t, q[i].addr));
		if (niov == 1)
			ck_assert_uint_eq(iov[k].iov_len, q[i].len);
		if (niov == 2) {
			ck_assert_uint_eq(iov[k].iov_len, 40);
			ck_assert_ptr_eq(iov[k + 1].iov_base, vqt_hva(&t, VQT_REGION_B));
			ck_assert_uint_eq(iov[k + 1].iov_len, 40);
		}
		k += niov;
		lens[i] = b[i].in_len;
	}
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, nq), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), (int)nq);
	for (unsigned i = 0; i < nq; i++)
		ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(i + 1));
	ck_assert_int_eq(t.log_lines, 0);
	/* past the end of memory, and wrapping past 2^64: refused */
	{
		struct vqcore_sg sg = { VQT_END - 10, 20 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, &t, 0), 0);
		vqcore_drvq_kick_prepare(t.dq);
		vqt_expect_broken(&t, -VQCORE_E_PAST_END);
	}
	vqt_teardown(&t);
	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	vqt_capture_log(&t);
	{
		struct vqcore_sg sg[2] = { { VQT_DATA, 64 }, { UINT64_MAX - 15, 32 } };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg[0], 1, 0, &t, 0), 0);
		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg[1], 1, 0, &t, 0), 0);
		vqcore_drvq_kick_prepare(t.dq);
		/* the good buffer before it is served first (broken_batch()),
		 * the bad one seen and logged */
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), 1);
		ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
		ck_assert_int_eq(t.log_lines, 1);
		t.log_lines = 0;
		vqt_expect_broken(&t, -VQCORE_E_WRAP);
	}
	vqt_teardown(&t);
}
END_TEST

/* Resubmission by chain start (vhost-user inflight): a buffer whose chain
 * starts at a known place can be fetched outside ring order. */
START_TEST(get_buf_at_resubmits)
{
	struct vqt t;
	struct vqcore_sg sg[2] = { { VQT_DATA, 16 }, { VQT_DATA + 64, 8 } };
	struct vhost_buf b[4], r;
	struct iovec iov[8];
	void *tok[4];
	uint32_t len = 8;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)1, 0), 0);
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 1, 1, (void *)2, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	/* a previous device instance fetched both and died: the new one
	 * starts past them (base 2 buffers on) and resubmits by chain start */
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 8), 2);
	{
		uint32_t base = vqcore_vq_get_base(t.vq);
		uint32_t used = vqcore_vq_get_used_base(t.vq);
		/* chain starts: split = head index, packed and testring =
		 * ring slot */
		uint16_t at0 = FMT == VQCORE_FORMAT_SPLIT ? b[0].id : 0;
		uint16_t at1 = FMT == VQCORE_FORMAT_SPLIT ? b[1].id : 2;

		vqt_new_device(&t, 0);
		ck_assert_int_eq(vqcore_vq_set_base(t.vq, base), 0);
		/* the used position comes from the inflight record */
		ck_assert_int_eq(vqcore_vq_set_used_base(t.vq, used), 0);
		ck_assert_uint_eq(vqcore_vq_get_used_base(t.vq), used);
		/* fetch every buffer to resubmit before returning any: packed
		 * used writes reuse the ring slots of in-flight buffers */
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, at1, &r, iov, 8), 1);
		ck_assert_uint_eq(r.id, b[1].id);
		ck_assert_uint_eq(r.out_len, 16);
		ck_assert_uint_eq(r.in_len, 8);
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, at1, &b[2], iov, 8), -VQCORE_E_ID_IN_USE);
		ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, at0, &b[2], iov, 8), 1);
		ck_assert_uint_eq(b[2].id, b[0].id);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, &r, &len, 1), 0);
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b[2], &len, 1), 0);
		ck_assert_int_eq(vqcore_vq_get_buf_at(t.vq, 64, &r, iov, 8), -EINVAL);
	}
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 2);
	ck_assert_ptr_eq(tok[0], (void *)2);
	ck_assert_ptr_eq(tok[1], (void *)1);
	/* normal traffic continues after the resubmitted ones */
	stream(&t, 300, 20);
	vqt_teardown(&t);
}
END_TEST

/* Every used-ring write lands in the dirty log (live migration). */
START_TEST(used_writes_are_logged)
{
	struct vqt t;
	struct vqcore_sg sg = { VQT_DATA, 16 };
	struct vhost_buf b[4];
	struct iovec iov[4];
	static uint8_t log[VQT_END / 4096 / 8 + 1];
	void *tok[4];
	uint64_t used_gpa;

	vqt_setup(&t, FMT, 64, VQT_F_EVENT, 0);
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	/* a readable buffer: the device writes only the used ring (writable
	 * buffers are in test_dirty_log.c) */
	ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)1, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 4, iov, 4), 1);
	/* nothing written by the device yet */
	for (size_t i = 0; i < sizeof(log); i++)
		ck_assert_uint_eq(log[i], 0);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	/* split, testring: the used ring area; packed: the descriptor the
	 * device wrote */
	used_gpa = FMT == VQCORE_FORMAT_PACKED ? t.ring.desc : t.ring.device;
	ck_assert_uint_ne(log[used_gpa / 4096 / 8] & (1u << (used_gpa / 4096 % 8)), 0);
	/* and only ring pages: the device wrote nothing into the data page */
	ck_assert_uint_eq(log[VQT_DATA / 4096 / 8] & (1u << (VQT_DATA / 4096 % 8)), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 4), 1);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}
END_TEST

/* vqcore_drvq_add_batch() adds what vqcore_drvq_add() would, in order,
 * mixing one-element, chained and indirect buffers; it stops where the
 * ring is full and refuses a malformed request. */
static void add_batch_case(unsigned format, uint64_t features)
{
	struct vqt t;
	struct vqcore_sg sg[3 * 40];
	struct vqcore_drvq_req req[40];
	struct vhost_buf b[64];
	struct iovec iov[128];
	uint32_t lens[64];
	void *tok[64];
	int n;

	vqt_setup(&t, format, 64, features, 0);
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 40; i++) {
			unsigned kind = (i + round) % 5, nsg = kind == 3 ? 3 : kind == 4 ? 2 : 1;

			for (unsigned j = 0; j < nsg; j++) {
				sg[3 * i + j].addr = VQT_DATA + 64 * (3 * i + j);
				sg[3 * i + j].len = 16 + i + j;
			}
			req[i] = (struct vqcore_drvq_req){ .sg = &sg[3 * i],
				.out_num = (uint16_t)(kind == 0 ? 1 : nsg - 1),
				.in_num = (uint16_t)(kind == 0 ? 0 : 1),
				.flags = kind == 4 ? VQCORE_ADD_INDIRECT : 0,
				.token = (void *)(uintptr_t)(round * 100 + i + 1) };
		}
		/* 40 requests, some with 3 descriptors: the 64-entry ring
		 * fills before the end, and the call says how many it took */
		n = vqcore_drvq_add_batch(t.dq, req, 40);
		ck_assert_int_gt(n, 0);
		ck_assert_int_le(n, 40);
		vqcore_drvq_publish(t.dq);
		ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 64, iov, 128), n);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq(b[i].out_len + b[i].in_len, 0 +
				(req[i].out_num + req[i].in_num == 1 ? req[i].sg[0].len :
				 req[i].out_num + req[i].in_num == 2 ? req[i].sg[0].len + req[i].sg[1].len :
				 req[i].sg[0].len + req[i].sg[1].len + req[i].sg[2].len));
			lens[i] = b[i].in_len;
		}
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, (unsigned)n), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), n);
		for (int i = 0; i < n; i++)
			ck_assert_ptr_eq(tok[i], req[i].token);
	}
	/* full ring: -ENOSPC, nothing added; malformed first request: -EINVAL */
	for (unsigned i = 0; i < 40; i++)
		req[i] = (struct vqcore_drvq_req){ .sg = &sg[i], .in_num = 1,
						   .token = (void *)(uintptr_t)(i + 1) };
	ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, req, 40), 40);
	ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, req, 30), 24);
	ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, req, 1), -ENOSPC);
	vqcore_drvq_publish(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 64, iov, 128), 64);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 64), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 64);
	req[0].token = NULL;
	ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, req, 2), -EINVAL);
	req[0].token = (void *)1;
	req[1].in_num = 0;
	ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, req, 2), 1);
	vqt_teardown(&t);
}

START_TEST(add_batch)
{
	add_batch_case(FMT, VQT_F_BASE);
	add_batch_case(FMT, VQT_F_INORDER);
}
END_TEST

/* vqcore_drvq_add_sg(): one-element buffers from parallel arrays, mixed
 * with requests, in both directions; where it stops and what it refuses. */
static void add_sg_case(unsigned format, uint64_t features)
{
	struct vqt t;
	struct vqcore_sg sg[40];
	void *tokens[40];
	struct vhost_buf b[64];
	struct iovec iov[64];
	uint32_t lens[64];
	void *tok[64];
	int n;

	vqt_setup(&t, format, 64, features, 0);
	for (unsigned i = 0; i < 40; i++) {
		sg[i] = (struct vqcore_sg){ VQT_DATA + 64 * i, 8 + i };
		tokens[i] = (void *)(uintptr_t)(i + 1);
	}
	for (unsigned round = 0; round < 20; round++) {
		bool writable = round & 1;
		unsigned want = 1 + (round * 7) % 40;
		struct vqcore_drvq_req req = { .sg = &sg[0], .in_num = 1,
					       .token = (void *)(uintptr_t)999 };

		ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, want,
						    writable ? VQCORE_ADD_WRITABLE : 0),
				 (int)want);
		/* a request after them, in the same batch */
		ck_assert_int_eq(vqcore_drvq_add_batch(t.dq, &req, 1), 1);
		vqcore_drvq_publish(t.dq);
		n = vqcore_vq_get_bufs(t.vq, b, 64, iov, 64);
		ck_assert_int_eq(n, (int)want + 1);
		for (unsigned i = 0; i < want; i++) {
			ck_assert_uint_eq(b[i].out_num + b[i].in_num, 1);
			ck_assert_uint_eq(b[i].in_num, writable);
			ck_assert_uint_eq(writable ? b[i].in_len : b[i].out_len, 8 + i);
			ck_assert_ptr_eq(iov[b[i].first].iov_base, vqt_hva(&t, VQT_DATA + 64 * i));
			lens[i] = b[i].in_len;
		}
		lens[want] = 5;
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, (unsigned)n), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, lens, 64), n);
		for (unsigned i = 0; i < want; i++) {
			ck_assert_ptr_eq(tok[i], tokens[i]);
			ck_assert_uint_eq(lens[i], writable ? 8 + i : 0);
		}
		ck_assert_ptr_eq(tok[want], (void *)(uintptr_t)999);
	}
	/* it stops before a NULL token, and where the ring is full */
	tokens[3] = NULL;
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 10, 0), 3);
	tokens[3] = (void *)4;
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 40, 0), 40);
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 40, 0), 21);
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 1, 0), -ENOSPC);
	vqcore_drvq_publish(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 64, iov, 64), 64);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 64), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 64), 64);
	/* refused: a NULL first token, NULL arrays, an unknown flag */
	tokens[0] = NULL;
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 2, 0), -EINVAL);
	tokens[0] = (void *)1;
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, NULL, tokens, 2, 0), -EINVAL);
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, NULL, 2, 0), -EINVAL);
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 2, 0x80), -EINVAL);
	ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 0, 0), 0);
	ck_assert_int_eq(vqcore_drvq_free_descs(t.dq), 64);
	vqt_teardown(&t);
}

START_TEST(add_sg)
{
	add_sg_case(FMT, VQT_F_BASE);
	add_sg_case(FMT, VQT_F_INORDER);
}
END_TEST

/* The driver side against a device that names, in a used entry, an id
 * that is not in flight (out of range, or one that is free): the buffers
 * before it come back, then the queue breaks and stays broken. */
START_TEST(driver_bad_used_id)
{
	if (FMT == VQCORE_FORMAT_SPLIT || FMT == VQCORE_FORMAT_PACKED) {
		static const uint32_t bad[] = { 16, 7, 0xffff };

		for (unsigned c = 0; c < 3; c++) {
			struct vqt t;
			struct vqcore_sg sg[3];
			void *tokens[3] = { (void *)1, (void *)2, (void *)3 }, *tok[8];
			struct vhost_buf b[8];
			struct iovec iov[8];
			uint32_t lens[8];

			vqt_setup(&t, FMT, 16, VQT_F_BASE, 0);
			for (unsigned i = 0; i < 3; i++)
				sg[i] = (struct vqcore_sg){ VQT_DATA + 64 * i, 64 };
			ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 3,
							    VQCORE_ADD_WRITABLE), 3);
			vqcore_drvq_publish(t.dq);
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), 3);
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
			/* the second used entry's id */
			if (FMT == VQCORE_FORMAT_PACKED) {
				uint16_t *id = vqt_hva(&t, t.ring.desc + 16 + 12);

				*id = vqt_le16((uint16_t)bad[c]);
			} else {
				uint32_t *id = vqt_hva(&t, t.ring.device + 4 + 8);

				*id = vqt_le32(c == 2 ? UINT32_MAX : bad[c]);
			}
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, lens, 8), 1);
			ck_assert_ptr_eq(tok[0], (void *)1);
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), -EIO);
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, lens, 8), -EIO);
			ck_assert_int_eq(vqcore_drvq_add_sg(t.dq, sg, tokens, 1, 0), -EIO);
			vqt_teardown(&t);
		}
	}
}
END_TEST

/*
 * vqcore_vq_max_iov(): the fixture's two regions are adjacent in guest
 * space, so a descriptor may cross one boundary.  The worst buffer, as
 * many descriptors as the queue has, each crossing it, needs exactly the
 * bound: an array of that size takes it, one iovec less does not.
 */
START_TEST(max_iov_bound)
{
	enum { NUM = 8 };
	struct vqt t;
	struct vqcore_sg sg[NUM];
	struct vhost_buf b;
	struct iovec iov[2 * NUM];
	uint32_t len = 16;

	vqt_setup(&t, FMT, NUM, VQT_F_BASE, 0);
	ck_assert_uint_eq(vqcore_vq_max_iov(t.vq), 2 * NUM);
	for (int i = 0; i < NUM; i++) {
		sg[i].addr = VQT_REGION_B - 8;  /* 8 bytes in A, 8 in B */
		sg[i].len = 16;
	}
	ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, NUM, 0, &t, 0), 0);
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, &b, 1, iov, 2 * NUM - 1),
			 -VQCORE_E_IOV_FULL);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, &b, 1, iov, 2 * NUM), 1);
	ck_assert_uint_eq(b.out_num, 2 * NUM);
	ck_assert_uint_eq(b.out_len, 16 * NUM);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, &b, &len, 1), 0);
	vqt_teardown(&t);
}
END_TEST

/* Without adjacent regions the bound is the queue size. */
START_TEST(max_iov_one_region)
{
	struct vqt t;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 0);
	ck_assert_uint_eq(vqcore_vq_max_iov(t.vq), 128);
	ck_assert_int_eq(vqcore_mem_remove(t.mem, VQT_REGION_B, VQT_REGION_SIZE, NULL), 0);
	ck_assert_uint_eq(vqcore_vq_max_iov(t.vq), 64);
	vqt_teardown(&t);
}
END_TEST

/* ---- a broken batch: good buffers, then one that breaks the queue ---- */

enum bb_bad { BB_LEN_OVERFLOW, BB_UNMAPPED };
enum bb_good { BB_SIMPLE, BB_CHAIN, BB_LOGGED };

/*
 * @ngood writable buffers, then a bad one, all published at once.  The
 * fetch calls (arrays of @max_bufs) hand out the good ones in ring order,
 * the queue not broken; put_used completes them and the driver gets them
 * back with their lengths; only then does the next call report the bad
 * one's error and break the queue.  @ngood 0: the error at once.
 * @good: one-descriptor buffers (the direct loops), two-descriptor chains
 * (cached, the general path) or one-descriptor buffers with a dirty log set
 * (the general path, nothing direct).  @bad: two writable descriptors of
 * 2 GiB (total length 4 GiB), or one descriptor outside the memory table
 * (found at translation; not an error for @desc).  @desc: through
 * vqcore_vq_get_bufs_desc().
 */
static void broken_batch(unsigned format, uint64_t features, unsigned ngood,
			 enum bb_good good, enum bb_bad bad, bool desc,
			 unsigned max_bufs)
{
	const unsigned nd = good == BB_CHAIN ? 2 : 1;
	const int err = bad == BB_LEN_OVERFLOW ? -VQCORE_E_LEN_OVERFLOW
					       : -VQCORE_E_UNMAPPED;
	static uint8_t log[VQT_END / 4096 / 8 + 1];
	struct vqt t;
	struct vqcore_sg sg[2];
	struct vhost_buf b[8];
	struct vhost_desc d[16];
	struct iovec iov[16];
	uint64_t addr[4][2];
	uint32_t lens[4];
	void *tok[8];
	unsigned got = 0;
	int r;

	ck_assert_uint_le(ngood, 4);
	vqt_setup(&t, format, 64, features, 0);
	vqt_capture_log(&t);
	if (good == BB_LOGGED)
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	for (unsigned i = 0; i < ngood; i++) {
		for (unsigned j = 0; j < nd; j++) {
			addr[i][j] = vqt_alloc(&t, 64);
			sg[j] = (struct vqcore_sg){ addr[i][j], 64 };
		}
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 0, nd, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	if (bad == BB_LEN_OVERFLOW) {
		sg[0] = (struct vqcore_sg){ VQT_DATA, 0x80000000u };
		sg[1] = (struct vqcore_sg){ VQT_DATA, 0x80000000u };
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 0, 2, (void *)100, 0), 0);
	} else {
		sg[0] = (struct vqcore_sg){ 0x7000000000ull, 64 };
		ck_assert_int_eq(vqcore_drvq_add(t.dq, sg, 0, 1, (void *)100, 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);

	while (got < ngood) {
		r = desc ? vqcore_vq_get_bufs_desc(t.vq, &b[got], max_bufs, d, 16)
			 : vqcore_vq_get_bufs(t.vq, &b[got], max_bufs, iov, 16);
		ck_assert_int_ge(r, 1);
		ck_assert_uint_le(got + (unsigned)r, ngood);
		ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
		for (int i = 0; i < r; i++) {
			const struct vhost_buf *x = &b[got + (unsigned)i];

			ck_assert_uint_eq(x->in_num, nd);
			ck_assert_uint_eq(x->in_len, 64 * nd);
			ck_assert_uint_eq(x->out_num, 0);
			for (unsigned j = 0; j < nd; j++) {
				if (desc)
					ck_assert_uint_eq(d[x->first + j].addr,
							  addr[got + (unsigned)i][j]);
				else
					ck_assert_ptr_eq(iov[x->first + j].iov_base,
							 vqt_hva(&t, addr[got + (unsigned)i][j]));
			}
		}
		got += (unsigned)r;
	}
	if (ngood) {
		/* the good ones complete before the bad one is met again */
		for (unsigned i = 0; i < ngood; i++)
			lens[i] = 64 * nd;
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, ngood), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, lens, 8), (int)ngood);
		for (unsigned i = 0; i < ngood; i++) {
			ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(i + 1));
			ck_assert_uint_eq(lens[i], 64 * nd);
		}
	}
	r = desc ? vqcore_vq_get_bufs_desc(t.vq, b, 8, d, 16)
		 : vqcore_vq_get_bufs(t.vq, b, 8, iov, 16);
	ck_assert_int_eq(r, err);
	ck_assert_int_eq(vqcore_vq_error(t.vq), err);
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 16), -VQCORE_E_BROKEN);
	ck_assert_int_eq(vqcore_vq_get_bufs_desc(t.vq, b, 8, d, 16), -VQCORE_E_BROKEN);
	/* the bad buffer never went out */
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 0);
	ck_assert_int_ge(t.log_lines, 1);
	if (good == BB_LOGGED)
		ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);
	vqt_teardown(&t);
}

/* Every fetch path, with and without in-order, whole batch or one by one. */
START_TEST(broken_batch_serves_good_buffers)
{
	static const uint64_t feats[] = { VQT_F_BASE, VQT_F_INORDER };

	for (unsigned f = 0; f < 2; f++)
		for (unsigned g = BB_SIMPLE; g <= BB_LOGGED; g++)
			for (unsigned bad = BB_LEN_OVERFLOW; bad <= BB_UNMAPPED; bad++) {
				broken_batch(FMT, feats[f], 2, g, bad, false, 8);
				broken_batch(FMT, feats[f], 2, g, bad, false, 1);
				broken_batch(FMT, feats[f], 3, g, bad, false, 2);
			}
}
END_TEST

START_TEST(broken_batch_desc_serves_good_buffers)
{
	static const uint64_t feats[] = { VQT_F_BASE, VQT_F_INORDER };

	for (unsigned f = 0; f < 2; f++)
		for (unsigned g = BB_SIMPLE; g <= BB_LOGGED; g++) {
			broken_batch(FMT, feats[f], 2, g, BB_LEN_OVERFLOW, true, 8);
			broken_batch(FMT, feats[f], 2, g, BB_LEN_OVERFLOW, true, 1);
		}
}
END_TEST

/* The bad buffer first: the error at once, on every path. */
START_TEST(broken_batch_bad_first)
{
	for (unsigned g = BB_SIMPLE; g <= BB_LOGGED; g++) {
		broken_batch(FMT, VQT_F_BASE, 0, g, BB_LEN_OVERFLOW, false, 8);
		broken_batch(FMT, VQT_F_BASE, 0, g, BB_UNMAPPED, false, 8);
		broken_batch(FMT, VQT_F_INORDER, 0, g, BB_LEN_OVERFLOW, true, 8);
	}
}
END_TEST

/* ---- the lean fetch and return (lib/vq_lean.h) ---- */

/* The host view of a ring descriptor (every format's is 16 bytes). */
struct lean_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t a;  /* split: flags; packed, testring: id */
	uint16_t b;  /* split: next; packed, testring: flags */
};

#define LR_NEXT 1
#define LR_WRITE 2
#define LR_INDIRECT 4

static struct lean_raw *lean_desc(struct vqt *t)
{
	return vqt_hva(t, t->ring.desc);
}

/* The descriptor of the @k-th buffer added to a fresh ring, one each. */
static struct lean_raw *lean_buf_desc(struct vqt *t, unsigned k)
{
	if (t->format == VQCORE_FORMAT_SPLIT) {
		uint16_t *ring = (uint16_t *)vqt_hva(t, t->ring.driver) + 2;

		return &lean_desc(t)[vqt_le16(ring[k])];
	}
	/* packed, testring: in ring order, one slot each */
	return &lean_desc(t)[k];
}

/* The flags of a descriptor (little-endian in the ring). */
static uint16_t *lean_flags(struct vqt *t, struct lean_raw *d)
{
	return t->format == VQCORE_FORMAT_SPLIT ? &d->a : &d->b;
}

/* What makes a buffer one the lean fetch must leave to the general path. */
enum lean_bad {
	LB_ID_RANGE,      /* id (split: head) >= queue size */
	LB_ID_IN_FLIGHT,  /* the id of a buffer handed out before it */
	LB_UNMAPPED,      /* outside the memory table */
	LB_WRAPS,         /* address + length wraps past 2^64 */
	LB_ACROSS,        /* across two regions (adjacent in guest space) */
	LB_ZERO_LEN,
	LB_CHAIN,         /* split: NEXT to itself; packed, testring: NEXT into the next slot */
	LB_INDIRECT,
	LB_DIRECTION,     /* writable where readable is asked for, or back */
	LB_N
};

static void lean_corrupt(struct vqt *t, unsigned k, enum lean_bad bad)
{
	struct lean_raw *d = lean_buf_desc(t, k);
	uint16_t *fl = lean_flags(t, d);

	switch (bad) {
	case LB_ID_RANGE:
		if (t->format == VQCORE_FORMAT_SPLIT)
			((uint16_t *)vqt_hva(t, t->ring.driver) + 2)[k] = vqt_le16(t->num);
		else
			d->a = vqt_le16(t->num);
		break;
	case LB_ID_IN_FLIGHT:
		if (t->format == VQCORE_FORMAT_SPLIT) {
			uint16_t *ring = (uint16_t *)vqt_hva(t, t->ring.driver) + 2;

			ring[k] = ring[0];
		} else {
			d->a = lean_desc(t)[0].a;
		}
		break;
	case LB_UNMAPPED:
		d->addr = vqt_le64(0x7000000000ull);
		break;
	case LB_WRAPS:
		d->addr = vqt_le64(UINT64_MAX - 15);
		break;
	case LB_ACROSS:
		d->addr = vqt_le64(VQT_REGION_B - 32);
		break;
	case LB_ZERO_LEN:
		d->len = 0;
		break;
	case LB_CHAIN:
		*fl |= vqt_le16(LR_NEXT);
		if (t->format == VQCORE_FORMAT_SPLIT)
			d->b = vqt_le16((uint16_t)(d - lean_desc(t)));
		break;
	case LB_INDIRECT:
		*fl |= vqt_le16(LR_INDIRECT);
		break;
	case LB_DIRECTION:
		*fl ^= vqt_le16(LR_WRITE);
		break;
	default:
		break;
	}
}

/* What the general calls do with what is left: buffers and the error. */
struct lean_rest {
	int r[4], err;
	struct vhost_buf b[4][8];
	void *base[4][8];
};

static void lean_rest_take(struct vqt *t, struct lean_rest *x)
{
	for (unsigned c = 0; c < 4; c++) {
		struct iovec iov[32];

		x->r[c] = vqcore_vq_get_bufs(t->vq, x->b[c], 8, iov, 32);
		for (int i = 0; i < x->r[c]; i++) {
			x->base[c][i] = x->b[c][i].out_num + x->b[c][i].in_num ?
					iov[x->b[c][i].first].iov_base : NULL;
			x->b[c][i].first = 0;  /* where in iov: not compared */
		}
		if (x->r[c] > 0)
			ck_assert_int_eq(vqcore_vq_put_used(t->vq, x->b[c], NULL, (unsigned)x->r[c]), 0);
	}
	x->err = vqcore_vq_error(t->vq);
}

/*
 * Five buffers of one descriptor (readable, or writable if @write), the
 * fourth made @bad.  Pass 0: vq_lean_get() hands out the first three and
 * stops at the fourth with *general set, without taking it; they are
 * returned.  Pass 1: the general calls take the same three.  Then in both
 * passes the general calls take what is left: the same buffers, the same
 * error.  A lean fetch that skipped a check would hand out the fourth.
 */
static void lean_vs_general(unsigned format, uint64_t features, bool write,
			    enum lean_bad bad)
{
	struct lean_rest rest[2];

	memset(rest, 0, sizeof(rest));
	for (unsigned pass = 0; pass < 2; pass++) {
		struct vqt t;
		struct vq_lean e[8];
		uint64_t addr[5];
		void *tok[8];
		uint32_t pos = 0;
		bool general = false;

		vqt_setup(&t, format, 64, features, 0);
		vqt_capture_log(&t);
		for (unsigned i = 0; i < 5; i++) {
			struct vqcore_sg sg = { addr[i] = vqt_alloc(&t, 64), 64 };

			ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, write ? 0 : 1, write ? 1 : 0,
							 (void *)(uintptr_t)(i + 1), 0), 0);
		}
		vqcore_drvq_kick_prepare(t.dq);
		lean_corrupt(&t, 3, bad);
		if (pass == 0) {
			ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, write, &pos, &general), 3);
			ck_assert(general);
			for (unsigned i = 0; i < 3; i++) {
				ck_assert_ptr_eq(e[i].p, vqt_hva(&t, addr[i]));
				ck_assert_uint_eq(e[i].len, 64);
			}
			ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 3);
			ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
			ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, write, NULL, 3, 3), 0);
		} else {
			struct vhost_buf b[3];
			struct iovec iov[8];

			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 3, iov, 8), 3);
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 3), 0);
		}
		ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 8), 3);
		for (unsigned i = 0; i < 3; i++)
			ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(i + 1));
		lean_rest_take(&t, &rest[pass]);
		vqt_teardown(&t);
	}
	for (unsigned c = 0; c < 4; c++) {
		ck_assert_int_eq(rest[0].r[c], rest[1].r[c]);
		for (int i = 0; i < rest[0].r[c]; i++) {
			ck_assert_mem_eq(&rest[0].b[c][i], &rest[1].b[c][i], sizeof(struct vhost_buf));
			/* the same guest memory in either fixture */
			ck_assert_int_eq(rest[0].base[c][i] == NULL, rest[1].base[c][i] == NULL);
		}
	}
	ck_assert_int_eq(rest[0].err, rest[1].err);
}

START_TEST(lean_leaves_bad_buffers_to_general_path)
{
	static const uint64_t feats[] = { VQT_F_BASE, VQT_F_INORDER };

	for (unsigned f = 0; f < 2; f++)
		for (unsigned w = 0; w < 2; w++)
			for (unsigned bad = 0; bad < LB_N; bad++)
				lean_vs_general(FMT, feats[f], w, (enum lean_bad)bad);
}
END_TEST

/*
 * In-order runs of readable buffers (a tx queue) through the lean fetch
 * and return: runs of 1 to 7 buffers around a ring of 16, so that they
 * start at every slot, cross ring lines and the ring's end, and the used
 * entries of a run (one per ring line on packed, one per run on split)
 * land everywhere.  The driver gets every buffer once, in order, and the
 * general calls go on from where the lean ones stopped.
 */
START_TEST(lean_inorder_runs)
{
	struct vqt t;
	unsigned tok_next = 1;

	vqt_setup(&t, FMT, 16, VQT_F_INORDER, 0);
	for (unsigned round = 0; round < 64; round++) {
		const unsigned n = 1 + round % 7;
		struct vq_lean e[8];
		uint32_t lens[8], pos = 0;
		void *tok[16];
		bool general = true;

		for (unsigned i = 0; i < n; i++) {
			struct vqcore_sg sg = { VQT_DATA + 128 * i, 100 };

			ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0,
							 (void *)(uintptr_t)(tok_next + i), 0), 0);
			lens[i] = 0;
		}
		vqcore_drvq_kick_prepare(t.dq);
		ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), n);
		ck_assert(!general);
		/* lengths given or not: both forms of the run */
		ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, false, round & 1 ? lens : NULL, n, n),
				 0);
		ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 0);
		ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 16), (int)n);
		for (unsigned i = 0; i < n; i++)
			ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(tok_next + i));
		tok_next += n;
		if (round % 5 == 4) {
			/* the general calls in between, at the same place */
			struct vqcore_sg sg = { VQT_DATA, 100 };
			struct vhost_buf b[2];
			struct iovec iov[2];

			ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0,
							 (void *)(uintptr_t)tok_next, 0), 0);
			vqcore_drvq_kick_prepare(t.dq);
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 2, iov, 2), 1);
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, NULL, 16), 1);
			ck_assert_ptr_eq(tok[0], (void *)(uintptr_t)tok_next);
			tok_next++;
		}
	}
	ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 16);
	ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
	vqt_teardown(&t);
}
END_TEST

/*
 * Rounds of six buffers around the ring (its indices and wrap counters
 * turn over): vq_lean_get() hands them out in ring order; vq_lean_finish()
 * returns the first four with their lengths (an in-order run in the odd
 * rounds: all but the last written in full) and gives two back, which the
 * general calls then fetch again at the same place.  The driver gets
 * every buffer once, in order, with its length; with the event index,
 * the signal decision follows the used index the lean return moved.
 */
START_TEST(lean_round_trip)
{
	static const uint64_t feats[] = { VQT_F_BASE, VQT_F_INORDER, VQT_F_EVENT };

	for (unsigned f = 0; f < 3; f++) {
		struct vqt t;
		unsigned tok_next = 1;

		vqt_setup(&t, FMT, 16, feats[f], 0);
		for (unsigned round = 0; round < 20; round++) {
			struct vq_lean e[8];
			struct vhost_buf b[8];
			struct iovec iov[8];
			uint64_t addr[6];
			uint32_t lens[6], ulens[8], pos = 0;
			void *tok[8];
			bool general = true;

			for (unsigned i = 0; i < 6; i++) {
				struct vqcore_sg sg = { addr[i] = VQT_DATA + 0x1000 * (round % 4) + 128 * i,
							100 };

				ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1,
								 (void *)(uintptr_t)(tok_next + i), 0), 0);
			}
			vqcore_drvq_kick_prepare(t.dq);
			if (feats[f] == VQT_F_EVENT)
				ck_assert(!vqcore_drvq_enable_cb(t.dq));
			ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, true, &pos, &general), 6);
			ck_assert(!general);  /* it stopped at the empty ring */
			ck_assert_uint_eq(vq_lean_get(t.vq, e + 6, 2, true, &pos, &general), 0);
			ck_assert(!general);
			for (unsigned i = 0; i < 6; i++) {
				ck_assert_ptr_eq(e[i].p, vqt_hva(&t, addr[i]));
				ck_assert_uint_eq(e[i].len, 100);
				memset(e[i].p, 0xa0 + i, 100);
				lens[i] = round & 1 ? (i < 3 ? 100 : 7) : 10 + i;
			}
			ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 6);
			ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, true, lens, 4, 6), 0);
			ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 0);
			if (feats[f] == VQT_F_EVENT) {
				ck_assert(vqcore_vq_should_signal(t.vq));
				ck_assert(!vqcore_vq_should_signal(t.vq));  /* nothing new */
			}
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 8), 4);
			for (unsigned i = 0; i < 4; i++) {
				ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(tok_next + i));
				ck_assert_uint_eq(ulens[i], lens[i]);
			}
			/* the two given back: fetched again, the same buffers */
			ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), 2);
			for (unsigned i = 0; i < 2; i++) {
				ck_assert_ptr_eq(iov[b[i].first].iov_base, vqt_hva(&t, addr[4 + i]));
				ck_assert_uint_eq(b[i].in_len, 100);
				lens[i] = 50;
			}
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, 2), 0);
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 8), 2);
			for (unsigned i = 0; i < 2; i++) {
				ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(tok_next + 4 + i));
				ck_assert_uint_eq(ulens[i], 50);
			}
			tok_next += 6;
			{
				uint8_t v[100];

				ck_assert_int_eq(vqcore_mem_read(t.mem, addr[2], v, 100), 0);
				ck_assert_uint_eq(v[99], 0xa2);
			}
		}
		ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 16);
		ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * The used entry the device wrote at ring position @k (split, testring:
 * used ring element; packed: descriptor slot, with its avail and used
 * flags equal).  false when a packed slot is not marked used.
 */
static bool raw_used(struct vqt *t, unsigned k, uint16_t *id, uint32_t *len)
{
	if (t->format != VQCORE_FORMAT_PACKED) {
		/* the ring's offset in the device area: after flags and
		 * index (split), and the avail event and padding (testring) */
		uint64_t ring = t->format == VQ_FORMAT_TESTRING ? 8 : 4;
		const uint8_t *u = vqt_hva(t, t->ring.device + ring + 8ull * (k % t->num));
		uint32_t v[2];

		memcpy(v, u, sizeof(v));
		*id = (uint16_t)le32toh(v[0]);
		*len = le32toh(v[1]);
		return true;
	} else {
		const uint8_t *d = vqt_hva(t, t->ring.desc + 16ull * (k % t->num));
		uint32_t l;
		uint16_t i, fl;

		memcpy(&l, d + 8, 4);
		memcpy(&i, d + 12, 2);
		memcpy(&fl, d + 14, 2);
		fl = le16toh(fl);
		*id = le16toh(i);
		*len = le32toh(l);
		return !!(fl & 0x80) == !!(fl & 0x8000);
	}
}

/*
 * With VIRTIO_F_IN_ORDER, buffers with a writable part get a used entry
 * each, whatever their lengths: DPDK's virtio PMD reads every used entry
 * of its in-order rx ring (split: the length of each element; packed: the
 * slots one by one) and would take a stale length, or wait forever on a
 * slot the device skipped.  Both returns, general and lean; readable
 * buffers (a tx queue) may still be returned as a run.
 */
START_TEST(inorder_writable_used_each)
{
	for (unsigned lean = 0; lean < 2; lean++) {
		struct vqt t;
		unsigned pos_k = 0;

		vqt_setup(&t, FMT, 16, VQT_F_INORDER, 0);
		for (unsigned round = 0; round < 12; round++) {
			const unsigned n = 6;
			const uint32_t size = 64 + round;
			struct vhost_buf b[8];
			struct iovec iov[8];
			struct vq_lean e[8];
			uint32_t lens[8], ulens[8], pos = 0;
			uint16_t ids[8];
			void *tok[8];
			bool general;

			for (unsigned i = 0; i < n; i++) {
				struct vqcore_sg sg = { VQT_DATA + 0x100 * i, size };

				ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 0, 1,
								 (void *)(uintptr_t)(i + 1), 0), 0);
			}
			vqcore_drvq_kick_prepare(t.dq);
			/* a frame over the first five in full, the sixth in part */
			for (unsigned i = 0; i < n; i++)
				lens[i] = i + 1 < n ? size : round + 1;
			if (lean) {
				ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, true, &pos, &general), n);
				for (unsigned i = 0; i < n; i++)
					ids[i] = e[i].id;
				ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, true, lens, n, n), 0);
			} else {
				ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 8, iov, 8), n);
				for (unsigned i = 0; i < n; i++)
					ids[i] = b[i].id;
				ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, lens, n), 0);
			}
			for (unsigned i = 0; i < n; i++) {
				uint16_t id;
				uint32_t len;

				ck_assert_msg(raw_used(&t, pos_k + i, &id, &len),
					      "round %u: slot of buffer %u not marked used", round, i);
				ck_assert_uint_eq(id, ids[i]);
				ck_assert_uint_eq(len, lens[i]);
			}
			pos_k += n;
			ck_assert_int_eq(vqcore_drvq_get_used(t.dq, tok, ulens, 8), (int)n);
			for (unsigned i = 0; i < n; i++) {
				ck_assert_ptr_eq(tok[i], (void *)(uintptr_t)(i + 1));
				ck_assert_uint_eq(ulens[i], lens[i]);
			}
		}
		ck_assert_int_eq(vqcore_vq_error(t.vq), 0);
		vqt_teardown(&t);
	}
}
END_TEST

/*
 * Buffers in the second region after ones in the first: the lean fetch
 * moves its region and goes on (not the general path).
 */
START_TEST(lean_follows_regions)
{
	struct vqt t;
	struct vq_lean e[8];
	uint64_t addr[6];
	uint32_t pos = 0;
	bool general = true;

	vqt_setup(&t, FMT, 64, VQT_F_INORDER, 0);
	for (unsigned i = 0; i < 6; i++) {
		struct vqcore_sg sg = { addr[i] = (i & 2 ? VQT_REGION_B : VQT_DATA) + 64 * i, 64 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 6);
	ck_assert(!general);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_ptr_eq(e[i].p, vqt_hva(&t, addr[i]));
	ck_assert_int_eq(vq_lean_finish(t.vq, pos, e, false, NULL, 6, 6), 0);
	ck_assert_int_eq(vqcore_drvq_get_used(t.dq, (void **)e, NULL, 8), 6);
	vqt_teardown(&t);
}
END_TEST

static int lean_hook_get(struct vqcore_vq *vq, struct vhost_buf *b, unsigned mb,
			 struct iovec *iov, unsigned mi)
{
	(void)vq; (void)b; (void)mb; (void)iov; (void)mi;
	return 0;
}

/*
 * Where the lean fetch does not run and says so (*general): the queue
 * broken, hooks set (vhost-user inflight recording), a dirty log set,
 * buffers already in the cache; and where it finds nothing (an empty
 * ring, *general false).  It hands nothing out in any of these.
 */
START_TEST(lean_not_taken)
{
	static const struct vq_hooks hooks = { .get_bufs = lean_hook_get };
	static uint8_t log[VQT_END / 4096 / 8 + 1];
	struct vqt t;
	struct vq_lean e[8];
	struct vhost_buf b[8];
	struct iovec iov[8];
	uint32_t pos = 0;
	bool general = false;

	vqt_setup(&t, FMT, 64, VQT_F_BASE, 2);
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 0);
	ck_assert(!general);  /* empty */
	for (unsigned i = 0; i < 4; i++) {
		struct vqcore_sg sg = { vqt_alloc(&t, 64), 64 };

		ck_assert_int_eq(vqcore_drvq_add(t.dq, &sg, 1, 0, (void *)(uintptr_t)(i + 1), 0), 0);
	}
	vqcore_drvq_kick_prepare(t.dq);

	t.vq->hooks = &hooks;
	general = false;
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 0);
	ck_assert(general);
	t.vq->hooks = NULL;

	ck_assert_int_eq(vqcore_mem_set_log(t.mem, log, sizeof(log)), 0);
	general = false;
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 0);
	ck_assert(general);
	ck_assert_int_eq(vqcore_mem_set_log(t.mem, NULL, 0), 0);

	/* batch 2, one wanted through a chain-free general fetch: the
	 * second stays in the cache */
	{
		struct lean_raw *d = lean_buf_desc(&t, 0);

		*lean_flags(&t, d) |= vqt_le16(LR_INDIRECT);  /* not direct */
		d->addr = vqt_le64(vqt_alloc(&t, 16));
		d->len = vqt_le32(16);
		memset(vqt_hva(&t, vqcore_le64_to_cpu(d->addr)), 0, 16);
		((struct lean_raw *)vqt_hva(&t, vqcore_le64_to_cpu(d->addr)))->addr =
			vqt_le64(vqt_alloc(&t, 64));
		((struct lean_raw *)vqt_hva(&t, vqcore_le64_to_cpu(d->addr)))->len = vqt_le32(64);
	}
	ck_assert_int_eq(vqcore_vq_get_bufs(t.vq, b, 1, iov, 8), 1);
	general = false;
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 0);
	ck_assert(general);
	ck_assert_uint_eq(vqcore_vq_inflight(t.vq), 1);
	ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);

	/* broken */
	lean_buf_desc(&t, 3)->addr = vqt_le64(0x7000000000ull);
	while (vqcore_vq_get_bufs(t.vq, b, 8, iov, 8) > 0)
		ck_assert_int_eq(vqcore_vq_put_used(t.vq, b, NULL, 1), 0);
	ck_assert_int_ne(vqcore_vq_error(t.vq), 0);
	general = false;
	ck_assert_uint_eq(vq_lean_get(t.vq, e, 8, false, &pos, &general), 0);
	ck_assert(general);
	vqt_teardown(&t);
}
END_TEST

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("vq_conformance");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, single_out, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, max_iov_bound, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, max_iov_one_region, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, single_in, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, chained, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, indirect, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, spanning_regions, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, descs_as_gpa, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, index_wraps_past_65535, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, full_and_empty, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, small_arrays_keep_cache, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, event_idx_suppression, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, flag_suppression, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, eventfd_kick_and_call, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, unget_in_order, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, state_save_restore, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, put_used_misuse, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, in_order_completion, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, ring_follows_memory_change, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, ring_at_misaligned_host_address, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, stale_hint_after_region_removal, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, cached_buffer_loses_its_region, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, one_descriptor_region_edges, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, empty_check_follows_position, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, get_buf_at_resubmits, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, used_writes_are_logged, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, add_batch, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, add_sg, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, driver_bad_used_id, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, broken_batch_serves_good_buffers, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, broken_batch_desc_serves_good_buffers, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, broken_batch_bad_first, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_leaves_bad_buffers_to_general_path, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_round_trip, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_inorder_runs, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, inorder_writable_used_each, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_follows_regions, 0, (int)vqt_nformats);
	tcase_add_loop_test(tc, lean_not_taken, 0, (int)vqt_nformats);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(conformance_suite()) ? 1 : 0;
}
