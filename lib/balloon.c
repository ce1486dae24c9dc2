/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon reporting queue as a report sink (see
 * include/vqcore/balloon.h).  Freestanding: reaches the ring through the
 * driver-side queue, the reporter through vqcore_reporter_complete().
 *
 * One report at a time is in the ring (the reporter submits one
 * scatterlist and waits), so the buffer's token is the sink itself and
 * a small state machine under @lock says what a returned buffer means:
 *   IDLE --report--> INFLIGHT --used--> IDLE (complete 0)
 *                    INFLIGHT --cancel--> ABANDONED --used--> IDLE (late)
 *   any --driver queue broken--> BROKEN
 */
#include "abi_priv.h"
#include "balloon_priv.h"

#define B_STAT(b, f, v) __atomic_fetch_add(&(b)->stats.f, (v), __ATOMIC_RELAXED)

int vqcore_balloon_new(const struct vqcore_balloon_config *cfg,
		       struct vqcore_balloon **out)
{
	struct vqcore_balloon_config c;
	struct vqcore_balloon *b;
	unsigned max_sg;
	int err;

	if (!out)
		return -VQ_EINVAL;
	*out = NULL;
	err = vq_struct_in(&c, sizeof(c), cfg);
	if (err)
		return err;
	cfg = &c;
	if (!cfg->dq)
		return -VQ_EINVAL;
	max_sg = cfg->max_sg ? cfg->max_sg : VQCORE_REPORTER_DEFAULT_CAPACITY;
	if (max_sg > VQCORE_REPORTER_MAX_CAPACITY)
		return -VQ_EINVAL;
	b = vq_zalloc_aligned(sizeof(*b));
	if (!b)
		return -VQ_ENOMEM;
	b->sgv = vq_calloc(max_sg, sizeof(*b->sgv));
	if (!b->sgv) {
		vq_free(b);
		return -VQ_ENOMEM;
	}
	b->dq = cfg->dq;
	b->call_fd = cfg->call_fd;
	b->max_sg = max_sg;
	b->arena_base = cfg->arena_base;
	b->gpa_base = cfg->gpa_base;
	b->translate = cfg->translate;
	b->translate_arg = cfg->translate_arg;
	b->poll_ns = cfg->poll_ns ? cfg->poll_ns : 1000000;
	vq_lock_init(&b->lock);
	b->state = BS_IDLE;
	*out = b;
	return 0;
}

void vqcore_balloon_free(struct vqcore_balloon *b)
{
	if (!b)
		return;
	if (b->thread_stop)
		b->thread_stop(b);
	vq_free(b->sgv);
	vq_free(b);
}

int vqcore_balloon_attach(struct vqcore_balloon *b, struct vqcore_reporter *r)
{
	if (!b || !r)
		return -VQ_EINVAL;
	__atomic_store_n(&b->r, r, __ATOMIC_RELEASE);
	return 0;
}

int vqcore_balloon_reporter_new(struct vqcore_balloon *b,
				const struct vqcore_report_source *src,
				const struct vqcore_reporter_opts *opts,
				struct vqcore_reporter **out)
{
	struct vqcore_reporter_opts o;
	int err;

	if (!b || !out)
		return -VQ_EINVAL;
	vq_memset(&o, 0, sizeof(o));
	if (opts) {
		err = vq_struct_in(&o, sizeof(o), opts);
		if (err)
			return err;
	}
	o.sz = sizeof(o);
	o.cancel = vqcore_balloon_cancel;
	if ((o.capacity ? o.capacity : VQCORE_REPORTER_DEFAULT_CAPACITY) > b->max_sg)
		return -VQ_EINVAL;
	err = vqcore_reporter_new(src, vqcore_balloon_report, b, &o, out);
	if (err)
		return err;
	return vqcore_balloon_attach(b, *out);
}

/* Guest physical address of one block; 0 or a negative errno. */
static int bl_translate(const struct vqcore_balloon *b,
			const struct vqcore_report_sg *s, uint64_t *gpa)
{
	uint64_t off, end;

	if (b->translate)
		return b->translate(b->translate_arg, s->addr, s->len, gpa);
	if (s->addr < b->arena_base)
		return -VQ_EINVAL;
	off = s->addr - b->arena_base;
	if (vq_add_overflow(b->gpa_base, off, gpa) ||
	    vq_add_overflow(*gpa, s->len, &end))
		return -VQ_EINVAL;
	return 0;
}

int vqcore_balloon_report(void *opaque, const struct vqcore_report_sg *sg,
			  unsigned n)
{
	struct vqcore_balloon *b = opaque;
	uint64_t bytes = 0;
	int err = 0, k;

	if (!b || !sg || !n || !__atomic_load_n(&b->r, __ATOMIC_ACQUIRE)) {
		err = -VQ_EINVAL;
		goto refused;
	}
	if (n > b->max_sg) {
		err = -VQ_E2BIG;
		goto refused;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa;

		if (!sg[i].len || sg[i].len > UINT32_MAX ||
		    (sg[i].len | sg[i].addr) & (VQCORE_BALLOON_PAGE - 1)) {
			err = -VQ_EINVAL;
			goto refused;
		}
		err = bl_translate(b, &sg[i], &gpa);
		if (err || (gpa & (VQCORE_BALLOON_PAGE - 1))) {
			err = err ? err : -VQ_EINVAL;
			goto refused;
		}
		b->sgv[i].addr = gpa;
		b->sgv[i].len = (uint32_t)sg[i].len;
		bytes += sg[i].len;
	}

	vq_lock(&b->lock);
	if (b->state != BS_IDLE) {
		err = b->state == BS_BROKEN ? -VQ_EIO : -VQ_EBUSY;
		vq_unlock(&b->lock);
		goto refused;
	}
	if (vqcore_drvq_free_descs(b->dq) < n) {
		vq_unlock(&b->lock);
		err = -VQ_ENOSPC;
		goto refused;
	}
	/* All device-writable, as Linux's virtqueue_add_inbuf(). */
	err = vqcore_drvq_add(b->dq, b->sgv, 0, n, b, 0);
	if (err) {
		if (err == -VQ_EIO)
			b->state = BS_BROKEN;
		vq_unlock(&b->lock);
		goto refused;
	}
	b->state = BS_INFLIGHT;
	b->inflight_bytes = bytes;
	B_STAT(b, reports, 1);
	k = vqcore_drvq_kick(b->dq);
	vq_unlock(&b->lock);
	if (k < 0)
		/* The buffer is published; the device may still see it (it
		 * polls, or a later kick).  The reporter's timeout covers a
		 * device that does not. */
		vq_warn("balloon: kick failed: %s", vqcore_strerror(k));
	return VQCORE_REPORT_IN_PROGRESS;

refused:
	B_STAT(b, refused, 1);
	return err;
}

/*
 * The reporter calls this after it stopped waiting for the answer (its
 * timeout, or vqcore_reporter_destroy(), which frees the reporter once
 * this returns).  An answer already taken from the ring is being handed
 * to vqcore_reporter_complete() outside the lock: wait for that call to
 * return, so that no thread of the balloon touches the reporter after.
 */
void vqcore_balloon_cancel(void *opaque)
{
	struct vqcore_balloon *b = opaque;

	vq_lock(&b->lock);
	if (b->state == BS_INFLIGHT) {
		b->state = BS_ABANDONED;
		B_STAT(b, abandoned, 1);
		vq_warn("balloon: report abandoned (timeout or reporter destroyed) "
			"while the device holds its buffer; no more reports until "
			"it comes back");
	}
	vq_unlock(&b->lock);
	while (__atomic_load_n(&b->completing, __ATOMIC_ACQUIRE))
		vq_yield();
}

int vqcore_balloon_process(struct vqcore_balloon *b)
{
	struct vqcore_reporter *r = __atomic_load_n(&b->r, __ATOMIC_ACQUIRE);
	int done = 0, status = 1, ret = 0;

	vq_lock(&b->lock);
	if (b->state == BS_BROKEN) {
		vq_unlock(&b->lock);
		return -VQ_EIO;
	}
	for (;;) {
		void *tok[8];
		int n = vqcore_drvq_get_used(b->dq, tok, NULL, VQ_ARRAY_SIZE(tok));

		if (n < 0) {
			/* The device returned something never added. */
			if (b->state == BS_INFLIGHT) {
				status = -VQ_EIO;
				__atomic_store_n(&b->completing, 1, __ATOMIC_RELAXED);
			}
			b->state = BS_BROKEN;
			ret = -VQ_EIO;
			break;
		}
		for (int i = 0; i < n; i++) {
			/* The queue only ever holds our one buffer. */
			done++;
			if (b->state == BS_INFLIGHT) {
				status = 0;
				__atomic_store_n(&b->completing, 1, __ATOMIC_RELAXED);
				B_STAT(b, completed, 1);
				B_STAT(b, bytes, b->inflight_bytes);
			} else if (b->state == BS_ABANDONED) {
				B_STAT(b, late, 1);
				vq_info("balloon: late answer for an abandoned report ignored");
			}
			b->state = BS_IDLE;
		}
		if (n == 0 && !vqcore_drvq_enable_cb(b->dq))
			break;
	}
	vq_unlock(&b->lock);
	if (status <= 0) {
		if (r)
			vqcore_reporter_complete(r, status);
		__atomic_store_n(&b->completing, 0, __ATOMIC_RELEASE);
	}
	return ret ? ret : done;
}

int vqcore_balloon_get_stats(struct vqcore_balloon *b,
			     struct vqcore_balloon_stats *st)
{
	struct vqcore_balloon_stats s;
	int err = vq_struct_out_check(st, sizeof(s));

	if (err || !b)
		return err ? err : -VQ_EINVAL;
#define LD(f) s.f = __atomic_load_n(&b->stats.f, __ATOMIC_RELAXED)
	LD(reports);
	LD(completed);
	LD(bytes);
	LD(refused);
	LD(abandoned);
	LD(late);
#undef LD
	return vq_struct_out(st, &s, sizeof(s));
}
