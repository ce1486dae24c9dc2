/* SPDX-License-Identifier: MIT */
/*
 * Description: destroy and reconfigure objects while their threads are
 * busy, the lifecycle contract of each header.  Written for
 * ThreadSanitizer (scripts/test runs it under TSan, ASan and plainly): a
 * missing lock or handshake shows up as a race or use-after-free report;
 * the assertions check that nothing is lost or freed twice.
 *
 *  - a reporter destroyed mid-pass while a device thread completes its
 *    asynchronous reports (vqcore_reporter_complete() racing destroy);
 *  - a balloon sink whose reporter is destroyed with a report in flight
 *    while the sink's thread collects the device's answers (both formats);
 *  - a vhost-user backend whose connection state and memory table size
 *    another thread reads while front-ends come and go.
 *
 * No test waits for time to pass: each waits for a counter or a reply.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vqtest.h"
#include "vu_harness.h"

/* Free-and-allocate churn in @pool until @counter reaches @target: each
 * free of a reportable block requests another pass. */
static void churn_until(struct vqcore_pagepool *pool, const unsigned long *counter,
			unsigned long target)
{
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < target) {
		uint64_t a;

		if (!vqcore_pagepool_alloc(pool, 2, &a))
			ck_assert_int_eq(vqcore_pagepool_free(pool, a, 2), 0);
		sched_yield();
	}
}

/* ------------------------------------------------------------------------
 * Reporter destroyed mid-pass
 * ------------------------------------------------------------------------ */

#define POOL_BASE 0x40000000ull
#define POOL_SIZE (16ull << 20)

/* A sink that answers on its own thread, one report at a time. */
struct async_sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vqcore_reporter *r;
	bool job;            /* a report waits for its answer */
	bool answering;      /* the thread took the job and calls complete */
	bool stop;
	unsigned long reports;
	unsigned long answered;
	unsigned long cancelled;
	pthread_t tid;
};

static int sink_report(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct async_sink *s = opaque;

	pthread_mutex_lock(&s->mu);
	s->job = true;
	__atomic_fetch_add(&s->reports, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return VQCORE_REPORT_IN_PROGRESS;
}

/* The contract of @cancel: once it returns the sink never completes the
 * abandoned report (it waits for an answer already on its way). */
static void sink_cancel(void *opaque)
{
	struct async_sink *s = opaque;

	pthread_mutex_lock(&s->mu);
	if (s->job) {
		s->job = false;
		s->cancelled++;
	}
	while (s->answering)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void *sink_main(void *arg)
{
	struct async_sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->job && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		s->job = false;
		s->answering = true;
		pthread_mutex_unlock(&s->mu);
		/* races vqcore_reporter_destroy() on the test thread */
		vqcore_reporter_complete(s->r, 0);
		pthread_mutex_lock(&s->mu);
		s->answering = false;
		s->answered++;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

START_TEST(reporter_destroy_mid_pass)
{
	for (unsigned iter = 0; iter < 60; iter++) {
		struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 6 };
		struct vqcore_reporter_opts ro = {
			.sz = sizeof(ro), .order = 2, .capacity = 4, .delay_ns = 1,
			.cancel = sink_cancel,
		};
		struct vqcore_pagepool *pool;
		struct vqcore_report_source src;
		struct vqcore_pagepool_stats st;
		struct async_sink s;

		memset(&s, 0, sizeof(s));
		pthread_mutex_init(&s.mu, NULL);
		pthread_cond_init(&s.cv, NULL);
		ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, POOL_SIZE, &po, &pool), 0);
		vqcore_pagepool_report_source(pool, &src);
		ro.notify = NULL;
		ck_assert_int_eq(vqcore_reporter_new(&src, sink_report, &s, &ro, &s.r), 0);
		ck_assert_int_eq(pthread_create(&s.tid, NULL, sink_main, &s), 0);
		ck_assert_int_eq(vqcore_reporter_start(s.r), 0);
		vqcore_reporter_request(s.r);
		/* destroy at a different point of the pass each time */
		churn_until(pool, &s.reports, 1 + iter % 7);
		vqcore_reporter_destroy(s.r);

		pthread_mutex_lock(&s.mu);
		s.stop = true;
		pthread_cond_broadcast(&s.cv);
		pthread_mutex_unlock(&s.mu);
		pthread_join(s.tid, NULL);
		/* every report was answered or cancelled, and every block is
		 * back in the pool: nothing isolated, nothing lost */
		ck_assert_uint_eq(s.answered + s.cancelled, s.reports);
		vqcore_pagepool_get_stats(pool, &st);
		ck_assert_uint_eq(st.isolated_bytes, 0);
		ck_assert_uint_eq(st.allocated_bytes, 0);
		ck_assert_uint_eq(st.free_bytes, POOL_SIZE);
		vqcore_pagepool_destroy(pool);
		pthread_cond_destroy(&s.cv);
		pthread_mutex_destroy(&s.mu);
	}
}
END_TEST

/* ------------------------------------------------------------------------
 * Balloon with a report in flight
 * ------------------------------------------------------------------------ */

struct bdev {
	struct vqt *t;
	int call_fd;
	int stop;
	unsigned long returned;
};

/* The device: return every report buffer and signal. */
static void *bdev_main(void *arg)
{
	struct bdev *d = arg;
	struct vhost_buf b[4];
	struct iovec iov[64];
	uint32_t lens[4];

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		int n = vqcore_vq_get_bufs(d->t->vq, b, 4, iov, 64);

		ck_assert_int_ge(n, 0);
		if (!n) {
			sched_yield();
			continue;
		}
		for (int i = 0; i < n; i++)
			lens[i] = 0;
		ck_assert_int_eq(vqcore_vq_put_used(d->t->vq, b, lens, (unsigned)n), 0);
		__atomic_fetch_add(&d->returned, (unsigned long)n, __ATOMIC_RELEASE);
		vqcore_vq_signal(d->t->vq);
	}
	return NULL;
}

START_TEST(balloon_destroy_report_in_flight)
{
	unsigned format = vqt_formats[_i];

	for (unsigned iter = 0; iter < 200; iter++) {
		struct vqt t;
		struct bdev d = { .t = &t };
		struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 6 };
		struct vqcore_reporter_opts ro = {
			.sz = sizeof(ro), .order = 2, .capacity = 8, .delay_ns = 1,
		};
		struct vqcore_balloon_config bc = { .sz = sizeof(bc) };
		struct vqcore_balloon_stats bs;
		struct vhost_buf vb[8];
		struct iovec iov[64];
		uint32_t lens[8] = { 0 };
		struct vqcore_pagepool_stats st;
		struct vqcore_report_source src;
		struct vqcore_pagepool *pool;
		struct vqcore_reporter *r;
		struct vqcore_balloon *b;
		pthread_t tid;
		void *tok[8];
		unsigned long collected = 0;
		int n;

		vqt_setup(&t, format, 64, VQT_F_BASE, 0);
		d.call_fd = vqcore_eventfd_new();
		ck_assert_int_ge(d.call_fd, 0);
		vqcore_vq_set_call_fd(t.vq, d.call_fd);
		/* the pool's addresses are region B's guest addresses */
		ck_assert_int_eq(vqcore_pagepool_new(VQT_REGION_B, VQT_REGION_SIZE, &po, &pool), 0);
		vqcore_pagepool_report_source(pool, &src);
		bc.dq = t.dq;
		bc.call_fd = d.call_fd;
		bc.max_sg = 8;
		bc.arena_base = VQT_REGION_B;
		bc.gpa_base = VQT_REGION_B;
		ck_assert_int_eq(vqcore_balloon_new(&bc, &b), 0);
		ck_assert_int_eq(vqcore_balloon_reporter_new(b, &src, &ro, &r), 0);
		ck_assert_int_eq(pthread_create(&tid, NULL, bdev_main, &d), 0);
		ck_assert_int_eq(vqcore_balloon_start(b), 0);
		/* passes on this thread: destroy then has no thread to join
		 * and lands close to the sink's answer */
		ck_assert_int_eq(vqcore_reporter_run_pass(r, NULL), VQCORE_REPORT_IN_PROGRESS);
		if (iter & 1) {
			/* destroy as the sink's thread takes the answer from
			 * the ring and hands it to vqcore_reporter_complete() */
			do
				vqcore_balloon_get_stats(b, &bs);
			while (!bs.completed);
		}
		/* else: destroy with the buffer still in the ring, or while
		 * the device returns it (cancel, then a late answer) */
		vqcore_reporter_destroy(r);
		vqcore_balloon_free(b);
		__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
		pthread_join(tid, NULL);
		/* a buffer the device had not fetched yet: return it now */
		n = vqcore_vq_get_bufs(t.vq, vb, 8, iov, 64);
		ck_assert_int_ge(n, 0);
		if (n)
			ck_assert_int_eq(vqcore_vq_put_used(t.vq, vb, lens, (unsigned)n), 0);

		/* no block stays isolated; the ring gives back only buffers it
		 * was given (an abandoned one included) */
		vqcore_pagepool_get_stats(pool, &st);
		ck_assert_uint_eq(st.isolated_bytes, 0);
		ck_assert_uint_eq(st.free_bytes, VQT_REGION_SIZE);
		while ((n = vqcore_drvq_get_used(t.dq, tok, NULL, 8)) > 0)
			collected += (unsigned)n;
		ck_assert_int_eq(n, 0);
		ck_assert_uint_eq(vqcore_drvq_free_descs(t.dq), 64);
		ck_assert_uint_le(collected, 1);
		vqcore_pagepool_destroy(pool);
		vqt_teardown(&t);
		close(d.call_fd);
	}
}
END_TEST

/* ------------------------------------------------------------------------
 * vhost-user: state read from another thread
 * ------------------------------------------------------------------------ */

struct observer {
	struct vqcore_vu_dev *dev;
	int stop;
	unsigned long seen_up, seen_down;
	unsigned long bad;
	pthread_t tid;
};

/* vqcore_vu_connected() and vqcore_mem_count() are snapshots any thread
 * may take while the loop thread connects, maps and disconnects. */
static void *observer_main(void *arg)
{
	struct observer *o = arg;

	while (!__atomic_load_n(&o->stop, __ATOMIC_ACQUIRE)) {
		bool up = vqcore_vu_connected(o->dev);
		unsigned n = vqcore_mem_count(vqcore_vu_mem(o->dev));

		if (n > 1)
			o->bad++;
		if (up)
			o->seen_up++;
		else
			o->seen_down++;
		sched_yield();
	}
	return NULL;
}

START_TEST(vu_state_read_while_connections_come_and_go)
{
	struct vu_harness h;
	struct observer o = { 0 };
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 1 << 20, .num_queues = 1, .queue_size = 64,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1),
	};

	ck_assert_int_eq(vu_harness_start(&h, 0, 1, VQCORE_BIT(VQCORE_F_VERSION_1), NULL,
					  NULL), 0);
	o.dev = h.dev;
	ck_assert_int_eq(pthread_create(&o.tid, NULL, observer_main, &o), 0);
	for (unsigned k = 0; k < 20; k++) {
		struct vqcore_vuc *c;

		ck_assert_int_eq(vqcore_vuc_connect(h.path, &cfg, &c), 0);
		ck_assert(vqcore_vu_connected(h.dev));
		ck_assert_uint_eq(vqcore_mem_count(vqcore_vu_mem(h.dev)), 1);
		vqcore_vuc_free(c);
		while (vqcore_vu_connected(h.dev))
			sched_yield();
		/* false means the disconnect is complete: the table is empty */
		ck_assert_uint_eq(vqcore_mem_count(vqcore_vu_mem(h.dev)), 0);
	}
	__atomic_store_n(&o.stop, 1, __ATOMIC_RELEASE);
	pthread_join(o.tid, NULL);
	ck_assert_uint_eq(o.bad, 0);
	vu_harness_stop(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *t = tcase_create("destroy_while_busy");

	tcase_set_timeout(t, 300);
	tcase_add_test(t, reporter_destroy_mid_pass);
	tcase_add_loop_test(t, balloon_destroy_report_in_flight, 0, (int)vqt_nformats);
	tcase_add_test(t, vu_state_read_while_connections_come_and_go);
	suite_add_tcase(s, t);
	return vqt_run_suite(s);
}
