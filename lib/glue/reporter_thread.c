/* SPDX-License-Identifier: MIT */
/*
 * Background thread for the free-page reporter (hosted glue).
 *
 * The thread sleeps on a condition variable (CLOCK_MONOTONIC) until the
 * engine's deadline, runs or resumes the pass, and goes back to sleep.
 * The engine wakes it through r->thread_notify on an IDLE -> REQUESTED
 * change and on an asynchronous completion; a "kicked" flag under the
 * mutex makes the wake-up impossible to lose.
 *
 * The thread struct lives until the reporter is destroyed, so a notify
 * racing with vqcore_reporter_stop() only signals a condvar nobody waits on.
 * vqcore_reporter_destroy() frees it last, after every thread inside
 * vqcore_reporter_complete() (the only caller of rt_notify() from outside)
 * has left.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "reporter_priv.h"

struct rep_thread {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	bool kicked;
	bool stop;
	bool running;
};

static void rt_notify(void *arg)
{
	struct rep_thread *t = arg;

	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void rt_wait_until(struct rep_thread *t, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == UINT64_MAX) {
		pthread_cond_wait(&t->cv, &t->mu);
		return;
	}
	ts.tv_sec = (time_t)(deadline / 1000000000ull);
	ts.tv_nsec = (long)(deadline % 1000000000ull);
	pthread_cond_timedwait(&t->cv, &t->mu, &ts);
}

static void *rt_main(void *arg)
{
	struct vqcore_reporter *r = arg;
	struct rep_thread *t = r->thread;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		uint64_t deadline;
		bool pending;

		t->kicked = false;
		pthread_mutex_unlock(&t->mu);
		pending = vqcore_reporter_next_deadline(r, &deadline);
		if (pending && deadline <= vq_now_ns()) {
			int ret = vqcore_reporter_run_pass(r, NULL);

			pthread_mutex_lock(&t->mu);
			if (ret == -VQ_EBUSY && !t->stop && !t->kicked)
				/* a caller runs a pass itself: look again soon */
				rt_wait_until(t, vq_now_ns() + 1000000);
			continue;
		}
		pthread_mutex_lock(&t->mu);
		if (t->stop || t->kicked)
			continue;
		rt_wait_until(t, pending ? deadline : UINT64_MAX);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static void rt_stop_and_free(struct vqcore_reporter *r, bool release)
{
	struct rep_thread *t = r->thread;

	vqcore_reporter_stop(r);
	if (!release)
		return;
	__atomic_store_n(&r->thread_notify, NULL, __ATOMIC_RELEASE);
	r->thread_stop = NULL;
	r->thread = NULL;
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	vq_free(t);
}

int vqcore_reporter_start(struct vqcore_reporter *r)
{
	struct rep_thread *t = r->thread;
	pthread_condattr_t ca;
	int err;

	if (!t) {
		t = vq_calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&t->cv, &ca);
		pthread_condattr_destroy(&ca);
		pthread_mutex_init(&t->mu, NULL);
		r->thread = t;
		r->thread_stop = rt_stop_and_free;
	}
	if (t->running)
		return -EBUSY;
	t->stop = false;
	t->kicked = true; /* look at the state once on start */
	err = pthread_create(&t->tid, NULL, rt_main, r);
	if (err)
		return -err;
	t->running = true;
	__atomic_store_n(&r->thread_notify, rt_notify, __ATOMIC_RELEASE);
	return 0;
}

void vqcore_reporter_stop(struct vqcore_reporter *r)
{
	struct rep_thread *t = r->thread;

	if (!t || !t->running)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->tid, NULL);
	t->running = false;
}
