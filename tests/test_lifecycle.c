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
 *  - a reporter destroyed while the caller's own thread is in a pass;
 *  - a balloon sink whose reporter is destroyed with a report in flight
 *    while the sink's thread collects the device's answers (both formats);
 *  - a vhost-user backend whose connection state and memory table size
 *    another thread reads while front-ends come and go;
 *  - a vhost-user backend whose device serves its queues on worker
 *    threads, driven by our client from other threads:
 *      freed while traffic flows, after vqcore_vu_stop() and the loop
 *      thread's join, and also with the loop still running;
 *      SET_MEM_TABLE resent and then REM_MEM_REG of the region that holds
 *      the rings while the queues move buffers;
 *      SET_VRING_CALL and SET_VRING_KICK swapped in a loop while the
 *      workers signal: the fd number the backend closes is taken at once
 *      by a fresh "probe" eventfd, which must never be written nor
 *      drained, nor left registered in the backend's epoll set.
 *
 * No test waits for time to pass: each waits for a counter or a reply.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vqtest.h"
#include "vu_harness.h"

static void spin_until(const unsigned long *counter, unsigned long target)
{
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < target)
		sched_yield();
}

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
		struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
		struct async_sink s;

		memset(&s, 0, sizeof(s));
		pthread_mutex_init(&s.mu, NULL);
		pthread_cond_init(&s.cv, NULL);
		ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, POOL_SIZE, &po, &pool), 0);
		vqcore_pagepool_report_source(pool, &src);
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

/* A synchronous sink that holds the pass until the test lets it go. */
struct held_sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool inside, release;
	struct vqcore_reporter *r;
	int pass_ret;
};

static int held_report(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct held_sink *h = opaque;

	pthread_mutex_lock(&h->mu);
	h->inside = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void *held_pass_main(void *arg)
{
	struct held_sink *h = arg;

	/* the caller's own loop: one pass, then it is done with @r */
	h->pass_ret = vqcore_reporter_run_pass(h->r, NULL);
	return NULL;
}

static void *destroy_main(void *arg)
{
	vqcore_reporter_destroy(arg);
	return NULL;
}

START_TEST(reporter_destroy_waits_for_callers_pass)
{
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 6 };
	struct vqcore_reporter_opts ro = { .sz = sizeof(ro), .order = 2, .capacity = 4 };
	struct vqcore_pagepool *pool;
	struct vqcore_report_source src;
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct held_sink h;
	pthread_t pass, destroyer;

	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, POOL_SIZE, &po, &pool), 0);
	vqcore_pagepool_report_source(pool, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, held_report, &h, &ro, &h.r), 0);
	ck_assert_int_eq(pthread_create(&pass, NULL, held_pass_main, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.inside)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	/* destroy on a third thread while the pass sits in its callback */
	ck_assert_int_eq(pthread_create(&destroyer, NULL, destroy_main, h.r), 0);
	pthread_mutex_lock(&h.mu);
	h.release = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(destroyer, NULL);
	pthread_join(pass, NULL);
	ck_assert_int_ge(h.pass_ret, 0);
	vqcore_pagepool_get_stats(pool, &st);
	ck_assert_uint_eq(st.isolated_bytes, 0);
	ck_assert_uint_eq(st.free_bytes, POOL_SIZE);
	vqcore_pagepool_destroy(pool);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
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
		struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
		struct vhost_buf vb[8];
		struct iovec iov[64];
		uint32_t lens[8] = { 0 };
		struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
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

/* ------------------------------------------------------------------------
 * vhost-user: a device with worker threads, driven by our client
 * ------------------------------------------------------------------------ */

#define NQ 2
#define QSZ 64
#define SLOT 64

struct worker {
	struct vqcore_vu_dev *dev;
	unsigned qi;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vqcore_vq *vq;  /* set by queue_started, cleared by queue_stopped */
	bool paused;           /* between mem_changed(true) and (false) */
	bool busy;             /* inside a batch */
	bool stop;
	unsigned long fetched, returned;
	unsigned long errors;  /* get_bufs failures (broken queue) */
	pthread_t tid;
};

struct wdev {
	struct worker w[NQ];
	unsigned long stopped_holding; /* buffers held when a queue stopped */
};

static void w_started(struct vqcore_vu_dev *dev, unsigned qi, struct vqcore_vq *vq)
{
	struct worker *w = &((struct wdev *)vqcore_vu_opaque(dev))->w[qi];

	pthread_mutex_lock(&w->mu);
	w->vq = vq;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The device's half of the contract: no worker uses @vq after this. */
static void w_stopped(struct vqcore_vu_dev *dev, unsigned qi, struct vqcore_vq *vq)
{
	struct worker *w = &((struct wdev *)vqcore_vu_opaque(dev))->w[qi];

	pthread_mutex_lock(&w->mu);
	w->vq = NULL;
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* ... and no worker touches guest memory while the table changes. */
static void w_mem_changed(struct vqcore_vu_dev *dev, bool before)
{
	struct wdev *wd = vqcore_vu_opaque(dev);

	for (unsigned i = 0; i < NQ; i++) {
		struct worker *w = &wd->w[i];

		pthread_mutex_lock(&w->mu);
		w->paused = before;
		while (before && w->busy)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static const struct vqcore_vu_ops w_ops = {
	.sz = sizeof(struct vqcore_vu_ops),
	.queue_started = w_started,
	.queue_stopped = w_stopped,
	.mem_changed = w_mem_changed,
};

/* Echo each buffer's readable part into its writable part. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vhost_buf bufs[16];
	struct iovec iov[32];
	uint32_t lens[16];

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct vqcore_vq *vq = w->vq;
		int n;

		if (w->paused || !vq) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		n = vqcore_vu_get_bufs(w->dev, w->qi, bufs, 16, iov, 32);
		if (n > 0) {
			w->fetched += (unsigned)n;
			for (int i = 0; i < n; i++) {
				struct iovec *out = &iov[bufs[i].first];
				struct iovec *in = out + bufs[i].out_num;

				ck_assert_uint_eq(bufs[i].out_num, 1);
				ck_assert_uint_eq(bufs[i].in_num, 1);
				memcpy(in->iov_base, out->iov_base, SLOT);
				lens[i] = SLOT;
			}
			ck_assert_int_eq(vqcore_vu_put_used(w->dev, w->qi, bufs, lens,
							    (unsigned)n), 0);
			w->returned += (unsigned)n;
			vqcore_vq_signal(vq);
		}
		pthread_mutex_lock(&w->mu);
		if (n < 0)
			w->errors++;
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
		if (n <= 0) {
			pthread_mutex_unlock(&w->mu);
			sched_yield();
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void wdev_init(struct wdev *wd)
{
	memset(wd, 0, sizeof(*wd));
	for (unsigned i = 0; i < NQ; i++) {
		pthread_mutex_init(&wd->w[i].mu, NULL);
		pthread_cond_init(&wd->w[i].cv, NULL);
		wd->w[i].qi = i;
	}
}

static void wdev_start(struct wdev *wd, struct vqcore_vu_dev *dev)
{
	for (unsigned i = 0; i < NQ; i++) {
		wd->w[i].dev = dev;
		ck_assert_int_eq(pthread_create(&wd->w[i].tid, NULL, worker_main, &wd->w[i]), 0);
	}
}

static void wdev_stop(struct wdev *wd)
{
	for (unsigned i = 0; i < NQ; i++) {
		struct worker *w = &wd->w[i];

		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->tid, NULL);
		/* whatever a worker fetched it gave back */
		ck_assert_uint_eq(w->fetched, w->returned);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
}

/* The driver side of one queue, on its own thread: keeps the ring full,
 * checks every echo, polls for used buffers (the call fd may change). */
struct driver {
	struct vqcore_vuc *c;
	unsigned qi;
	struct vqcore_drvq *dq;
	uint64_t gpa[QSZ];
	uint8_t *hva[QSZ];
	uint64_t seq[QSZ];
	bool inflight[QSZ];
	int stop;
	unsigned long sent, done;
	unsigned long bad;
	pthread_t tid;
};

static void driver_collect(struct driver *dv)
{
	void *tok[16];
	uint32_t lens[16];
	int n;

	while ((n = vqcore_drvq_get_used(dv->dq, tok, lens, 16)) > 0) {
		for (int i = 0; i < n; i++) {
			unsigned s = (unsigned)(uintptr_t)tok[i] - 1;
			uint64_t echo;

			if (s >= QSZ) {
				dv->bad++;
				continue;
			}
			memcpy(&echo, dv->hva[s] + SLOT, sizeof(echo));
			if (!dv->inflight[s] || lens[i] != SLOT || echo != dv->seq[s])
				dv->bad++;
			dv->inflight[s] = false;
		}
		__atomic_fetch_add(&dv->done, (unsigned long)n, __ATOMIC_RELEASE);
	}
	if (n < 0)
		dv->bad++;
}

static void *driver_main(void *arg)
{
	struct driver *dv = arg;

	while (!__atomic_load_n(&dv->stop, __ATOMIC_ACQUIRE)) {
		unsigned added = 0;

		for (unsigned s = 0; s < QSZ; s++) {
			struct vqcore_sg sg[2];

			if (dv->inflight[s])
				continue;
			dv->seq[s] = ((uint64_t)dv->qi << 56) | dv->sent;
			memcpy(dv->hva[s], &dv->seq[s], sizeof(dv->seq[s]));
			memset(dv->hva[s] + SLOT, 0, SLOT);
			sg[0] = (struct vqcore_sg){ dv->gpa[s], SLOT };
			sg[1] = (struct vqcore_sg){ dv->gpa[s] + SLOT, SLOT };
			if (vqcore_drvq_add(dv->dq, sg, 1, 1, (void *)(uintptr_t)(s + 1), 0))
				break;
			dv->inflight[s] = true;
			dv->sent++;
			added++;
		}
		if (added)
			vqcore_drvq_kick(dv->dq);
		driver_collect(dv);
		sched_yield();
	}
	return NULL;
}

struct vu_rig {
	struct vu_harness h;
	struct wdev wd;
	struct vqcore_vuc *c;
	struct driver dv[NQ];
	bool harness_stopped;
};

static void rig_start(struct vu_rig *g, unsigned format)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 4 << 20, .num_queues = NQ,
		.queue_size = QSZ, .features = VQCORE_BIT(VQCORE_F_VERSION_1),
	};
	uint64_t feat = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_RING_PACKED);

	memset(g, 0, sizeof(*g));
	if (format == VQCORE_FORMAT_PACKED)
		cfg.features |= VQCORE_BIT(VQCORE_F_RING_PACKED);
	wdev_init(&g->wd);
	ck_assert_int_eq(vu_harness_start(&g->h, 0, NQ, feat, &w_ops, &g->wd), 0);
	wdev_start(&g->wd, g->h.dev);
	ck_assert_int_eq(vqcore_vuc_connect(g->h.path, &cfg, &g->c), 0);
	ck_assert_uint_eq(vqcore_vuc_format(g->c), format);
	ck_assert_int_eq(vqcore_vuc_start(g->c), 0);
	for (unsigned q = 0; q < NQ; q++) {
		struct driver *dv = &g->dv[q];

		dv->c = g->c;
		dv->qi = q;
		dv->dq = vqcore_vuc_queue(g->c, q);
		for (unsigned s = 0; s < QSZ; s++) {
			void *p;

			dv->gpa[s] = vqcore_vuc_alloc(g->c, 2 * SLOT, 64, &p);
			ck_assert_uint_ne(dv->gpa[s], 0);
			dv->hva[s] = p;
		}
		ck_assert_int_eq(pthread_create(&dv->tid, NULL, driver_main, dv), 0);
	}
}

/* Wait until every queue completed @n more buffers. */
static void rig_progress(struct vu_rig *g, unsigned long n)
{
	for (unsigned q = 0; q < NQ; q++)
		spin_until(&g->dv[q].done, __atomic_load_n(&g->dv[q].done, __ATOMIC_ACQUIRE) + n);
}

static void rig_stop_drivers(struct vu_rig *g)
{
	for (unsigned q = 0; q < NQ; q++) {
		__atomic_store_n(&g->dv[q].stop, 1, __ATOMIC_RELEASE);
		pthread_join(g->dv[q].tid, NULL);
	}
}

/* Stop the backend, the workers and the client; check nothing was lost:
 * every buffer a worker fetched came back to the driver, intact. */
static void rig_finish(struct vu_rig *g)
{
	unsigned long returned = 0, done = 0;

	rig_stop_drivers(g);
	if (!g->harness_stopped)
		vu_harness_stop(&g->h); /* queue_stopped for every running queue */
	for (unsigned q = 0; q < NQ; q++)
		returned += g->wd.w[q].returned;
	wdev_stop(&g->wd);
	for (unsigned q = 0; q < NQ; q++) {
		driver_collect(&g->dv[q]);
		ck_assert_uint_eq(g->dv[q].bad, 0);
		done += g->dv[q].done;
	}
	ck_assert_uint_eq(done, returned);
	vqcore_vuc_free(g->c);
}

START_TEST(vu_free_while_workers_serve)
{
	struct vu_rig g;

	rig_start(&g, vqt_vu_formats[_i]);
	rig_progress(&g, 200);
	/* the loop thread goes first; free then stops every queue, each
	 * queue_stopped waits for its worker's batch */
	vqcore_vu_stop(g.h.dev);
	pthread_join(g.h.thread, NULL);
	vqcore_vu_free(g.h.dev);
	rmdir(g.h.dir);
	g.harness_stopped = true;
	for (unsigned q = 0; q < NQ; q++)
		ck_assert_ptr_null(g.wd.w[q].vq);
	rig_finish(&g);
}
END_TEST

START_TEST(vu_free_while_loop_runs)
{
	struct vu_rig g;

	rig_start(&g, vqt_vu_formats[_i]);
	rig_progress(&g, 200);
	/* no vqcore_vu_stop() and join first: free stops the loop itself
	 * and waits until it has let go of the device */
	vqcore_vu_free(g.h.dev);
	pthread_join(g.h.thread, NULL);
	ck_assert_int_eq(g.h.run_ret, 0);
	rmdir(g.h.dir);
	g.harness_stopped = true;
	for (unsigned q = 0; q < NQ; q++)
		ck_assert_ptr_null(g.wd.w[q].vq);
	rig_finish(&g);
}
END_TEST

struct memtab1 {
	uint32_t n, pad;
	uint64_t gpa, size, uva, off;
};

START_TEST(mem_table_change_while_queues_move)
{
	struct vu_rig g;
	struct vqcore_mem_region r;
	struct memtab1 t = { .n = 1 };
	uint64_t rem[5] = { 0 };
	int sock;

	rig_start(&g, vqt_vu_formats[_i]);
	sock = vqcore_vuc_sock(g.c);
	ck_assert_int_eq(vqcore_mem_get(vqcore_vuc_mem(g.c), 0, &r), 0);
	t.gpa = r.gpa;
	t.size = r.size;
	t.uva = (uint64_t)(uintptr_t)r.hva;
	t.off = r.fd_offset;
	/* the same table again (QEMU resends it for every change): the
	 * backend rebuilds its table under running queues */
	for (unsigned k = 0; k < 20; k++) {
		rig_progress(&g, 20);
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_MEM_TABLE, &t, sizeof(t),
					    &r.fd, 1), 0);
	}
	rig_progress(&g, 20);
	for (unsigned q = 0; q < NQ; q++) {
		pthread_mutex_lock(&g.wd.w[q].mu);
		ck_assert_uint_eq(g.wd.w[q].errors, 0);
		pthread_mutex_unlock(&g.wd.w[q].mu);
	}
	/* now the region that holds the rings goes away under them */
	rem[1] = t.gpa;
	rem[2] = t.size;
	rem[3] = t.uva;
	rem[4] = t.off;
	ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_REM_MEM_REG, rem, sizeof(rem), NULL, 0), 0);
	ck_assert_uint_eq(vqcore_mem_count(vqcore_vu_mem(g.h.dev)), 0);
	/* each queue reports the error: a worker sees it on its next batch */
	for (unsigned q = 0; q < NQ; q++) {
		struct worker *w = &g.wd.w[q];

		pthread_mutex_lock(&w->mu);
		while (!w->errors)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
	}
	/* the workers keep failing while the front-end installs err fds:
	 * each new one is signalled (by the loop thread) once, the queue
	 * being broken already */
	for (unsigned k = 0; k < 20; k++) {
		uint64_t idx = k % NQ;
		int efd = vqcore_eventfd_new();

		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_ERR, &idx, 8, &efd, 1), 0);
		/* signalled: qemu-user (the s390x cross run) reads the count of
		 * an eventfd received over a socket byte-swapped, so only
		 * "more than zero" holds on every host */
		ck_assert_int_gt(vqcore_eventfd_drain(efd), 0);
		close(efd);
	}
	rig_finish(&g);
}
END_TEST

/* An eventfd that takes the lowest free fd number: the one the backend
 * just closed, when nothing else took it. */
static int probe_new(void)
{
	int fd = vqcore_eventfd_new();

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Is @fd registered in an epoll instance of this process? */
static bool epoll_watches(int fd)
{
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *e;
	bool found = false;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d))) {
		char path[300], line[256];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			int tfd;

			if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd) {
				found = true;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

#define SWAPS 40

START_TEST(call_kick_swap_while_workers_signal)
{
	struct vu_rig g;
	int sock, probes[2 * SWAPS], np = 0;
	int fresh[2 * SWAPS], nf = 0;

	rig_start(&g, vqt_vu_formats[_i]);
	sock = vqcore_vuc_sock(g.c);
	for (unsigned k = 0; k < SWAPS; k++) {
		unsigned q = k % NQ;
		uint64_t idx = q;
		int call = vqcore_eventfd_new(), kick = vqcore_eventfd_new();

		rig_progress(&g, 5);
		/* the backend closes its copy of the old call fd after the
		 * swap; a worker in vqcore_vq_signal() must not write it */
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_CALL, &idx, 8, &call, 1), 0);
		probes[np++] = probe_new();
		/* the same for the kick fd, which the loop thread watches */
		ck_assert_int_eq(vu_raw_ack(sock, VQCORE_VU_SET_VRING_KICK, &idx, 8, &kick, 1), 0);
		probes[np] = probe_new();
		ck_assert_int_eq(vqcore_eventfd_signal(probes[np]), 0);
		np++;
		fresh[nf++] = call;
		fresh[nf++] = kick;
	}
	rig_progress(&g, 20);
	ck_assert(vu_raw_alive(sock));
	for (int i = 0; i < np; i++) {
		/* call probes (even) got no write; kick probes (odd) still hold
		 * the 1 written above: the loop drained nothing of theirs */
		ck_assert_int_eq(vqcore_eventfd_drain(probes[i]), i & 1 ? 1 : 0);
		ck_assert_msg(!epoll_watches(probes[i]),
			      "fd %d is still in an epoll set after its number was reused",
			      probes[i]);
	}
	rig_finish(&g);
	for (int i = 0; i < np; i++)
		close(probes[i]);
	for (int i = 0; i < nf; i++)
		close(fresh[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *t = tcase_create("destroy_while_busy");

	tcase_set_timeout(t, 300);
	tcase_add_test(t, reporter_destroy_mid_pass);
	tcase_add_test(t, reporter_destroy_waits_for_callers_pass);
	tcase_add_loop_test(t, balloon_destroy_report_in_flight, 0, (int)vqt_nformats);
	tcase_add_test(t, vu_state_read_while_connections_come_and_go);
	tcase_add_loop_test(t, vu_free_while_workers_serve, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(t, vu_free_while_loop_runs, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(t, mem_table_change_while_queues_move, 0, (int)vqt_nvu_formats);
	tcase_add_loop_test(t, call_kick_swap_while_workers_signal, 0, (int)vqt_nvu_formats);
	suite_add_tcase(s, t);
	return vqt_run_suite(s);
}
