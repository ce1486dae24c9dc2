/* SPDX-License-Identifier: MIT */
/*
 * Free-page reporter engine (see include/vqcore/reporter.h for the
 * behaviour).  Freestanding: reaches the allocator through the source ops,
 * the host through the report callback, time through vq_now_ns().
 *
 * State word (lock-free, as in Linux): IDLE -> REQUESTED on a free (one
 * xchg, notify on that edge only); REQUESTED -> ACTIVE when a pass begins;
 * ACTIVE -> IDLE at the end unless a free (or an exhausted budget, or a
 * failure) set REQUESTED meanwhile, in which case the next pass is due one
 * delay after the end.
 *
 * A pass is a resumable walk (struct vq_reporter_cursor) so that it can
 * stop on an asynchronous report and go on when the answer arrives.  Only
 * the thread inside vqcore_reporter_run_pass() (guarded by @running)
 * touches the cursor and the scatterlist.
 */
#include "abi_priv.h"
#include "reporter_priv.h"

#define STAT_ADD(r, f, v) __atomic_fetch_add(&(r)->stats.f, (v), __ATOMIC_RELAXED)

static uint64_t rep_after(uint64_t now, uint64_t delta)
{
	uint64_t t;

	return vq_add_overflow(now, delta, &t) ? UINT64_MAX : t;
}

static void rep_notify(struct vqcore_reporter *r)
{
	void (*tn)(void *);

	if (r->notify)
		r->notify(r->notify_arg);
	tn = __atomic_load_n(&r->thread_notify, __ATOMIC_ACQUIRE);
	if (tn)
		tn(r->thread);
}

static void rep_hook(void *arg)
{
	vqcore_reporter_request(arg);
}

static bool rep_adaptive(const struct vqcore_reporter *r)
{
	return !(r->flags & VQCORE_REPORTER_FIXED_BUDGET) && r->src.ops->activity;
}

static uint64_t rep_activity(const struct vqcore_reporter *r)
{
	return r->src.ops->activity ? r->src.ops->activity(r->src.src) : 0;
}

/* Linux: DIV_ROUND_UP(nr_free, capacity * 16) scatterlist fills. */
static uint64_t rep_budget(const struct vqcore_reporter *r, unsigned order)
{
	uint64_t nr = r->src.ops->nr_free(r->src.src, order);
	uint64_t per = (uint64_t)r->capacity * r->budget_div;

	return nr / per + (nr % per != 0);
}

/* ---- creation ---- */

int vqcore_reporter_new(const struct vqcore_report_source *src,
			vqcore_report_fn report, void *opaque,
			const struct vqcore_reporter_opts *uopts,
			struct vqcore_reporter **out)
{
	struct vqcore_reporter_opts o;
	struct vqcore_reporter *r;

	if (!out)
		return -VQ_EINVAL;
	*out = NULL;
	if (!src || !src->ops || !src->ops->isolate || !src->ops->putback ||
	    !src->ops->nr_free || !src->ops->nr_unreported || !report)
		return -VQ_EINVAL;
	vq_memset(&o, 0, sizeof(o));
	if (uopts) {
		int err = vq_struct_in(&o, sizeof(o), uopts);

		if (err)
			return err;
	}
	if (!o.order)
		o.order = VQ_MIN(VQCORE_REPORTER_DEFAULT_ORDER, src->max_order);
	if (!o.order || o.order > src->max_order)
		return -VQ_EINVAL;
	if (!o.capacity)
		o.capacity = VQCORE_REPORTER_DEFAULT_CAPACITY;
	if (o.capacity > VQCORE_REPORTER_MAX_CAPACITY)
		return -VQ_EINVAL;
	if (!o.budget_div)
		o.budget_div = VQCORE_REPORTER_DEFAULT_BUDGET_DIV;
	if (!o.delay_ns)
		o.delay_ns = VQCORE_REPORTER_DEFAULT_DELAY_NS;
	if (o.flags & ~VQCORE_REPORTER_FIXED_BUDGET)
		return -VQ_EINVAL;

	r = vq_zalloc_aligned(sizeof(*r));
	if (!r)
		return -VQ_ENOMEM;
	r->sg = vq_calloc(o.capacity, sizeof(*r->sg));
	if (!r->sg) {
		vq_free(r);
		return -VQ_ENOMEM;
	}
	r->src = *src;
	r->report = report;
	r->opaque = opaque;
	r->order = o.order;
	r->capacity = o.capacity;
	r->budget_div = o.budget_div;
	r->flags = o.flags;
	r->delay_ns = o.delay_ns;
	r->timeout_ns = o.timeout_ns;
	r->notify = o.notify;
	r->notify_arg = o.notify_arg;
	r->cancel = o.cancel;
	r->state = RS_IDLE;
	r->deadline = UINT64_MAX;
	r->ifl = IFL_NONE;
	if (src->ops->set_hook)
		src->ops->set_hook(src->src, r->order, rep_hook, r);
	*out = r;
	return 0;
}

/* ---- trigger ---- */

void vqcore_reporter_request(struct vqcore_reporter *r)
{
	int s = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
	int old;

	if (s == RS_REQUESTED)
		return;
	/* Publish the deadline before the state the waiter looks at. */
	if (s == RS_IDLE)
		__atomic_store_n(&r->deadline, rep_after(vq_now_ns(), r->delay_ns),
				 __ATOMIC_RELEASE);
	old = __atomic_exchange_n(&r->state, RS_REQUESTED, __ATOMIC_ACQ_REL);
	if (old != RS_IDLE)
		return; /* already requested, or the running pass will see it */
	if (s != RS_IDLE)
		__atomic_store_n(&r->deadline, rep_after(vq_now_ns(), r->delay_ns),
				 __ATOMIC_RELEASE);
	STAT_ADD(r, requests, 1);
	rep_notify(r);
}

/* ---- a pass ---- */

/* Put the scatterlist back and account for it.  Returns 0 or @status. */
static int rep_finish(struct vqcore_reporter *r, int status)
{
	unsigned n = r->cur.sg_n;
	bool ok = status >= 0;

	r->src.ops->putback(r->src.src, r->sg, n, ok);
	if (ok) {
		uint64_t bytes = 0;

		for (unsigned k = 0; k < n; k++)
			bytes += r->sg[k].len;
		r->pass.blocks += n;
		r->pass.bytes += bytes;
		STAT_ADD(r, blocks, n);
		STAT_ADD(r, bytes, bytes);
	} else {
		r->pass.failed++;
		STAT_ADD(r, failed_reports, 1);
	}
	r->cur.sg_n = 0;
	__atomic_store_n(&r->ifl, IFL_NONE, __ATOMIC_RELEASE);
	return ok ? 0 : status;
}

/* Hand the scatterlist to the sink. */
static int rep_submit(struct vqcore_reporter *r)
{
	int64_t v;
	int ret;

	r->pass.reports++;
	STAT_ADD(r, reports, 1);
	r->ifl_deadline = r->timeout_ns ? rep_after(vq_now_ns(), r->timeout_ns)
					: UINT64_MAX;
	__atomic_store_n(&r->ifl, IFL_PENDING, __ATOMIC_RELEASE);
	ret = r->report(r->opaque, r->sg, r->cur.sg_n);
	if (ret != VQCORE_REPORT_IN_PROGRESS)
		return rep_finish(r, ret < 0 ? ret : 0);
	v = __atomic_load_n(&r->ifl, __ATOMIC_ACQUIRE);
	if (v == IFL_PENDING)
		return VQCORE_REPORT_IN_PROGRESS;
	return rep_finish(r, (int)v); /* completed before the callback returned */
}

static void rep_next_list(struct vqcore_reporter *r)
{
	r->cur.order--;
	r->cur.list_open = false;
}

/* After each successful fill: an unbounded pass that sees churn falls back
 * to the Linux budget (the fills already made count against it). */
static void rep_after_fill(struct vqcore_reporter *r)
{
	if (!r->cur.quiet || rep_activity(r) == r->cur.act_start)
		return;
	r->cur.quiet = false;
	r->pass.fell_back = true;
	if (r->cur.list_open && r->cur.order >= (int)r->order)
		r->cur.budget = rep_budget(r, (unsigned)r->cur.order);
}

static void rep_begin(struct vqcore_reporter *r)
{
	uint64_t act = rep_activity(r);

	__atomic_store_n(&r->state, RS_ACTIVE, __ATOMIC_RELEASE);
	/* After ACTIVE is visible: a free that finds the hook disarmed came
	 * before it, and this pass will walk past its block. */
	if (r->src.ops->arm_hook)
		r->src.ops->arm_hook(r->src.src);
	vq_memset(&r->cur, 0, sizeof(r->cur));
	vq_memset(&r->pass, 0, sizeof(r->pass));
	r->cur.active = true;
	r->cur.order = (int)r->src.max_order;
	r->cur.act_start = act;
	r->cur.quiet = rep_adaptive(r) && r->act_mark_valid && act == r->act_mark;
	r->pass.unbounded = r->cur.quiet;
}

static int rep_end(struct vqcore_reporter *r, int err)
{
	uint64_t now = vq_now_ns();
	int expect = RS_ACTIVE;

	r->cur.active = false;
	r->pass.done = true;
	STAT_ADD(r, passes, 1);
	if (r->pass.unbounded)
		STAT_ADD(r, unbounded_passes, 1);
	if (r->pass.more)
		STAT_ADD(r, budget_passes, 1);
	r->act_mark = rep_activity(r);
	r->act_mark_valid = true;

	if (err < 0) {
		/* Retry later, backing off while the sink keeps failing. */
		unsigned shift = VQ_MIN(r->fail_streak, 6u);
		uint64_t d = r->delay_ns;

		r->fail_streak++;
		d = (d << shift) >> shift == d ? d << shift : UINT64_MAX;
		__atomic_store_n(&r->deadline, rep_after(now, d), __ATOMIC_RELEASE);
		__atomic_store_n(&r->state, RS_REQUESTED, __ATOMIC_RELEASE);
		return err;
	}
	r->fail_streak = 0;
	if (!r->pass.more &&
	    __atomic_compare_exchange_n(&r->state, &expect, RS_IDLE, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	/* Budget ran out, or frees arrived during the pass. */
	r->pass.more = true;
	__atomic_store_n(&r->deadline, rep_after(now, r->delay_ns), __ATOMIC_RELEASE);
	__atomic_store_n(&r->state, RS_REQUESTED, __ATOMIC_RELEASE);
	return 0;
}

static int rep_walk(struct vqcore_reporter *r)
{
	const struct vqcore_report_source_ops *ops = r->src.ops;
	int ret;

	for (;;) {
		unsigned o, n;

		if (r->cur.order < (int)r->order) {
			/* Final flush of a partial scatterlist. */
			if (!r->cur.sg_n)
				return rep_end(r, 0);
			ret = rep_submit(r);
			if (ret == VQCORE_REPORT_IN_PROGRESS)
				return ret;
			if (ret < 0)
				return rep_end(r, ret);
			continue;
		}
		o = (unsigned)r->cur.order;
		if (!r->cur.list_open) {
			r->cur.list_open = true;
			r->cur.fills = 0;
			r->cur.budget = r->cur.quiet ? UINT64_MAX : rep_budget(r, o);
		}
		if (r->cur.fills >= r->cur.budget) {
			if (ops->nr_unreported(r->src.src, o))
				r->pass.more = true;
			rep_next_list(r);
			continue;
		}
		n = ops->isolate(r->src.src, o, r->sg + r->cur.sg_n,
				 r->capacity - r->cur.sg_n);
		r->cur.sg_n += n;
		if (r->cur.sg_n < r->capacity) {
			rep_next_list(r); /* no unreported block left here */
			continue;
		}
		r->cur.fills++;
		ret = rep_submit(r);
		if (ret == VQCORE_REPORT_IN_PROGRESS)
			return ret;
		if (ret < 0)
			return rep_end(r, ret);
		rep_after_fill(r);
	}
}

static int rep_step(struct vqcore_reporter *r)
{
	int64_t v = __atomic_load_n(&r->ifl, __ATOMIC_ACQUIRE);
	int ret;

	if (v != IFL_NONE) {
		/* A pass is suspended on an asynchronous report. */
		if (v == IFL_PENDING) {
			if (!r->timeout_ns || vq_now_ns() < r->ifl_deadline)
				return VQCORE_REPORT_IN_PROGRESS;
			if (__atomic_compare_exchange_n(&r->ifl, &v, IFL_TIMEDOUT,
							false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				STAT_ADD(r, timeouts, 1);
				vq_warn("reporter: report timed out; blocks kept");
				if (r->cancel)
					r->cancel(r->opaque);
				rep_finish(r, -VQ_ETIMEDOUT);
				return rep_end(r, -VQ_ETIMEDOUT);
			}
			/* lost the race: the answer arrived; v holds it */
		}
		ret = rep_finish(r, (int)v);
		if (ret < 0)
			return rep_end(r, ret);
		if (r->cur.order >= (int)r->order)
			rep_after_fill(r);
	}
	if (!r->cur.active)
		rep_begin(r);
	return rep_walk(r);
}

int vqcore_reporter_run_pass(struct vqcore_reporter *r,
			     struct vqcore_reporter_pass *out)
{
	int ret;

	if (__atomic_exchange_n(&r->running, 1, __ATOMIC_ACQUIRE))
		return -VQ_EBUSY;
	ret = rep_step(r);
	if (out)
		*out = r->pass;
	__atomic_store_n(&r->running, 0, __ATOMIC_RELEASE);
	return ret;
}

bool vqcore_reporter_next_deadline(struct vqcore_reporter *r,
				   uint64_t *deadline_ns)
{
	int64_t v = __atomic_load_n(&r->ifl, __ATOMIC_ACQUIRE);
	int s;

	if (v != IFL_NONE) {
		if (v != IFL_PENDING)
			*deadline_ns = 0; /* answered (or timing out): run now */
		else
			*deadline_ns = r->timeout_ns ? r->ifl_deadline : UINT64_MAX;
		return true;
	}
	s = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);
	if (s == RS_REQUESTED) {
		*deadline_ns = __atomic_load_n(&r->deadline, __ATOMIC_ACQUIRE);
		return true;
	}
	*deadline_ns = UINT64_MAX;
	return s == RS_ACTIVE;
}

/*
 * The answer is published by the CAS; the notify after it still reads the
 * reporter.  @completers counts the threads between the two so that
 * vqcore_reporter_destroy(), which may see the answer as soon as the CAS
 * lands, frees nothing before they have left.
 */
int vqcore_reporter_complete(struct vqcore_reporter *r, int status)
{
	int64_t v = IFL_PENDING;
	int ret;

	if (status > 0)
		status = 0;
	__atomic_fetch_add(&r->completers, 1, __ATOMIC_SEQ_CST);
	if (__atomic_compare_exchange_n(&r->ifl, &v, status, false,
					__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
		rep_notify(r);
		ret = 0;
	} else {
		ret = v == IFL_TIMEDOUT ? -VQ_ECANCELED : -VQ_ENOENT;
	}
	__atomic_fetch_sub(&r->completers, 1, __ATOMIC_RELEASE);
	return ret;
}

int vqcore_reporter_get_stats(struct vqcore_reporter *r,
			      struct vqcore_reporter_stats *st)
{
	struct vqcore_reporter_stats s;
	int err = vq_struct_out_check(st, sizeof(s));

	if (err || !r)
		return err ? err : -VQ_EINVAL;
#define LD(f) s.f = __atomic_load_n(&r->stats.f, __ATOMIC_RELAXED)
	LD(requests);
	LD(passes);
	LD(unbounded_passes);
	LD(budget_passes);
	LD(reports);
	LD(failed_reports);
	LD(timeouts);
	LD(blocks);
	LD(bytes);
#undef LD
	return vq_struct_out(st, &s, sizeof(s));
}

void vqcore_reporter_destroy(struct vqcore_reporter *r)
{
	int64_t v;

	if (!r)
		return;
	/* Hook first: once it returns no free can reach rep_notify(). */
	if (r->src.ops->set_hook)
		r->src.ops->set_hook(r->src.src, r->order, NULL, NULL);
	/* No pass runs after this: the background thread is joined, and a
	 * pass the caller runs on another thread is waited for (its report
	 * callback returns; it cannot wait for destroy). */
	if (r->thread_stop)
		r->thread_stop(r, false);
	while (__atomic_exchange_n(&r->running, 1, __ATOMIC_ACQUIRE))
		vq_yield();
	v = __atomic_load_n(&r->ifl, __ATOMIC_ACQUIRE);
	if (v == IFL_PENDING &&
	    __atomic_compare_exchange_n(&r->ifl, &v, IFL_TIMEDOUT, false,
					__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
		/* the sink's cancel returns once it will not complete it */
		if (r->cancel)
			r->cancel(r->opaque);
		rep_finish(r, -VQ_ECANCELED);
	} else if (v != IFL_NONE) {
		rep_finish(r, (int)v);
	}
	/* A completer whose CAS landed may still be in rep_notify(). */
	while (__atomic_load_n(&r->completers, __ATOMIC_ACQUIRE))
		vq_yield();
	if (r->thread_stop)
		r->thread_stop(r, true);
	vq_free(r->sg);
	vq_free(r);
}
