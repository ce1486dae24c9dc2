/* SPDX-License-Identifier: MIT */
/*
 * Description: a driver thread and a device thread move 10 million buffers
 * (VQCORE_STRESS_BUFS overrides the count) through one queue, on every
 * format, with and without VIRTIO_F_IN_ORDER.  Each request carries its
 * sequence number and a checksum; the device checks both and answers with a
 * value derived from them; the driver checks that every answer arrives once,
 * in order, with the right content.  A second test counts allocations
 * (library and libc) during steady-state traffic and expects zero.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glue/glue.h"
#include "vqtest.h"

#define NUM 256
#define BATCH 32

struct req {
	uint64_t seq;
	uint64_t sum;
};

static uint64_t req_sum(uint64_t seq)
{
	return seq * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995ull;
}

struct stress {
	struct vqt t;
	uint64_t total;
	atomic_int failed;
	char why[128];
	uint64_t dev_count;
};

static uint64_t slot_gpa(uint64_t seq, int which)
{
	return VQT_DATA + (seq % NUM) * 64 + (which ? 32 : 0);
}

static void stress_fail(struct stress *s, const char *why)
{
	if (!atomic_exchange(&s->failed, 1))
		strncpy(s->why, why, sizeof(s->why) - 1);
}

static void *device_thread(void *arg)
{
	struct stress *s = arg;
	struct vhost_buf b[BATCH];
	struct iovec iov[2 * BATCH];
	uint32_t lens[BATCH];
	uint64_t expect = 0;

	while (expect < s->total && !atomic_load(&s->failed)) {
		int n = vqcore_vq_get_bufs(s->t.vq, b, BATCH, iov, 2 * BATCH);

		if (n < 0) {
			stress_fail(s, "device: get_bufs error");
			break;
		}
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct req r;
			uint64_t resp;

			if (b[i].out_num != 1 || b[i].in_num != 1 ||
			    iov[b[i].first].iov_len != sizeof(r)) {
				stress_fail(s, "device: bad buffer shape");
				return NULL;
			}
			memcpy(&r, iov[b[i].first].iov_base, sizeof(r));
			if (r.seq != expect || r.sum != req_sum(r.seq)) {
				stress_fail(s, "device: request out of order or corrupt");
				return NULL;
			}
			expect++;
			resp = ~r.sum;
			memcpy(iov[b[i].first + 1].iov_base, &resp, sizeof(resp));
			lens[i] = sizeof(resp);
		}
		if (vqcore_vq_put_used(s->t.vq, b, lens, (unsigned)n) < 0) {
			stress_fail(s, "device: put_used error");
			break;
		}
	}
	s->dev_count = expect;
	return NULL;
}

static void run_stress(unsigned format, bool in_order, uint64_t total)
{
	struct stress *s = calloc(1, sizeof(*s));
	uint64_t sent = 0, done = 0;
	pthread_t dev;
	void *tok[BATCH];
	uint32_t lens[BATCH];

	s->total = total;
	vqt_setup(&s->t, format, NUM, in_order ? VQT_F_INORDER : VQT_F_BASE, BATCH);
	ck_assert_int_eq(pthread_create(&dev, NULL, device_thread, s), 0);
	while (done < total && !atomic_load(&s->failed)) {
		unsigned added = 0;
		int n;

		while (sent < total && added < BATCH && sent - done < NUM) {
			struct req r = { .seq = sent, .sum = req_sum(sent) };
			struct vqcore_sg sg[2] = { { slot_gpa(sent, 0), sizeof(r) },
						   { slot_gpa(sent, 1), 8 } };

			memcpy((char *)s->t.mf.hva + VQT_REGION_SIZE + (sg[0].addr - VQT_REGION_A),
			       &r, sizeof(r));
			if (vqcore_drvq_add(s->t.dq, sg, 1, 1, (void *)(uintptr_t)(sent + 1), 0) < 0)
				break;
			sent++;
			added++;
		}
		if (added)
			vqcore_drvq_kick_prepare(s->t.dq);
		/* plain checks in the loop: every ck_assert writes to Check's
		 * pipe, which would dominate the run */
		n = vqcore_drvq_get_used(s->t.dq, tok, lens, BATCH);
		if (n < 0) {
			stress_fail(s, "driver: get_used error");
			break;
		}
		if (!n && !added)
			sched_yield();
		for (int i = 0; i < n; i++) {
			uint64_t seq = (uintptr_t)tok[i] - 1, resp;

			memcpy(&resp, (char *)s->t.mf.hva + VQT_REGION_SIZE +
				      (slot_gpa(seq, 1) - VQT_REGION_A), sizeof(resp));
			if (seq != done) { /* none lost, duplicated or reordered */
				stress_fail(s, "driver: completion out of order, lost or duplicated");
				break;
			}
			if (lens[i] != 8 || resp != ~req_sum(seq)) {
				stress_fail(s, "driver: wrong length or response");
				break;
			}
			done++;
		}
	}
	pthread_join(dev, NULL);
	ck_assert_msg(!atomic_load(&s->failed), "%s", s->why);
	ck_assert_uint_eq(done, total);
	ck_assert_uint_eq(s->dev_count, total);
	ck_assert_int_eq(vqcore_vq_error(s->t.vq), 0);
	ck_assert_uint_eq(vqcore_drvq_free_descs(s->t.dq), NUM);
	vqt_teardown(&s->t);
	free(s);
}

static uint64_t stress_total(void)
{
	const char *e = getenv("VQCORE_STRESS_BUFS");

	return e ? strtoull(e, NULL, 0) : 10000000ull;
}

START_TEST(ten_million_buffers)
{
	unsigned format = vqt_formats[_i / 2];
	bool in_order = _i % 2;

	run_stress(format, in_order, stress_total());
}
END_TEST

/* ---- allocation counting ---- */

/* gcc defines __SANITIZE_*__; clang answers __has_feature() */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VQT_SANITIZED 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(VQT_SANITIZED)
/* Interpose libc's allocator to count calls made by anyone in-process. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static atomic_ulong libc_allocs;
void *malloc(size_t n)
{
	atomic_fetch_add(&libc_allocs, 1);
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
	atomic_fetch_add(&libc_allocs, 1);
	return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
	atomic_fetch_add(&libc_allocs, 1);
	return __libc_realloc(p, n);
}
void free(void *p)
{
	__libc_free(p);
}
#define LIBC_ALLOCS() atomic_load(&libc_allocs)
#else
#define LIBC_ALLOCS() 0ul
#endif

START_TEST(no_allocation_in_steady_state)
{
	unsigned format = vqt_formats[_i / 2];
	bool in_order = _i % 2;
	struct vqt t;
	struct vhost_buf b[BATCH];
	struct iovec iov[4 * BATCH];
	uint32_t lens[BATCH];
	void *tok[BATCH];
	unsigned long libc0, bad = 0;
	uint64_t lib0;
	int kick = vqcore_eventfd_new(), call = vqcore_eventfd_new();

	vqt_setup(&t, format, NUM, (in_order ? VQT_F_INORDER : VQT_F_BASE) |
		  VQCORE_BIT(VQCORE_F_EVENT_IDX), BATCH);
	vqcore_drvq_set_kick_fd(t.dq, kick);
	vqcore_vq_set_call_fd(t.vq, call);
	libc0 = LIBC_ALLOCS();
	lib0 = vq_alloc_count();
	for (unsigned round = 0; round < 20000; round++) {
		int n;

		if (round & 1) {
			/* one-element buffers through the parallel-array call */
			struct vqcore_sg one[BATCH];
			void *tokens[BATCH];

			for (unsigned i = 0; i < BATCH; i++) {
				one[i] = (struct vqcore_sg){ VQT_DATA + 64 * i, 16 };
				tokens[i] = (void *)(uintptr_t)(i + 1);
			}
			bad += vqcore_drvq_add_sg(t.dq, one, tokens, BATCH,
						  VQCORE_ADD_WRITABLE) != BATCH;
		} else {
			for (unsigned i = 0; i < BATCH; i++) {
				struct vqcore_sg sg[2] = { { VQT_DATA + 64 * i, 16 },
							   { VQT_REGION_B - 8, 16 } }; /* spans */

				bad += vqcore_drvq_add(t.dq, sg, 1, 1, (void *)(uintptr_t)(i + 1),
						       i % 4 == 0 ? VQCORE_ADD_INDIRECT : 0) != 0;
			}
		}
		bad += vqcore_drvq_kick(t.dq) < 0;
		vqcore_vq_disable_notify(t.vq);
		n = vqcore_vq_get_bufs(t.vq, b, BATCH, iov, 4 * BATCH);
		bad += n != BATCH;
		for (int i = 0; i < n; i++)
			lens[i] = b[i].in_len;
		bad += vqcore_vq_put_used(t.vq, b, lens, (unsigned)n) != 0;
		bad += vqcore_vq_signal(t.vq) < 0;
		bad += vqcore_vq_enable_notify(t.vq);
		bad += vqcore_drvq_get_used(t.dq, tok, lens, BATCH) != BATCH;
		vqcore_drvq_enable_cb(t.dq);
		vqcore_eventfd_drain(kick);
		vqcore_eventfd_drain(call);
	}
	/* read both counters before any ck_assert (Check allocates) */
	libc0 = LIBC_ALLOCS() - libc0;
	lib0 = vq_alloc_count() - lib0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(lib0, 0);
	ck_assert_uint_eq(libc0, 0);
	vqt_teardown(&t);
	close(kick);
	close(call);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vq_stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, ten_million_buffers, 0, (int)(2 * vqt_nformats));
	tcase_add_loop_test(tc, no_allocation_in_steady_state, 0, (int)(2 * vqt_nformats));
	suite_add_tcase(s, tc);
	return vqt_run_suite(s);
}
