/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a virtqueue: format-independent wrappers.  The ring work
 * is done by the format's drv_* operations.
 */
#include "abi_priv.h"
#include "vq_priv.h"

int vqcore_ring_layout(unsigned format, uint16_t num, uint64_t gpa,
		       struct vqcore_ring_layout *out)
{
	const struct vq_format_ops *ops = vq_format_get(format);

	if (!ops || !out)
		return -VQ_EINVAL;
	return ops->layout(num, gpa, out);
}

int vqcore_drvq_new(const struct vqcore_drvq_config *cfg, struct vqcore_drvq **out)
{
	const struct vq_format_ops *ops;
	struct vqcore_drvq *dq;
	struct vqcore_drvq_config c;
	uint64_t sizes[3], gpas[3];
	int err;

	if (!out)
		return -VQ_EINVAL;
	err = vq_struct_in(&c, sizeof(c), cfg);
	if (err)
		return err;
	cfg = &c;
	if (!cfg->mem)
		return -VQ_EINVAL;
	err = -VQ_ENOMEM;
	ops = vq_format_get(cfg->format);
	if (!ops || ops->check_num(cfg->num) < 0)
		return -VQ_EINVAL;
	if (cfg->indirect_gpa && !cfg->max_indirect)
		return -VQ_EINVAL;

	dq = vq_zalloc_aligned(sizeof(*dq));
	if (!dq)
		return -VQ_ENOMEM;
	dq->ops = ops;
	dq->mem = cfg->mem;
	dq->num = cfg->num;
	dq->format = cfg->format;
	dq->features = cfg->features;
	dq->event_idx = cfg->features & VQCORE_BIT(VQCORE_F_EVENT_IDX);
	dq->in_order = cfg->features & VQCORE_BIT(VQCORE_F_IN_ORDER);
	dq->kick_fd = cfg->kick_fd;
	dq->state = vq_zalloc_aligned(sizeof(*dq->state) * dq->num);
	dq->order = vq_zalloc_aligned(sizeof(*dq->order) * dq->num);
	if (!dq->state || !dq->order)
		goto fail;

	ops->area_sizes(dq->num, sizes);
	gpas[0] = cfg->ring.desc;
	gpas[1] = cfg->ring.driver;
	gpas[2] = cfg->ring.device;
	err = -VQ_EINVAL;
	for (unsigned i = 0; i < 3; i++)
		if (gpas[i] & (ops->area_align[i] - 1))
			goto fail;
	err = -VQCORE_E_RING_ADDR;
	for (unsigned i = 0; i < 3; i++) {
		unsigned hint = 0;

		dq->area_hva[i] = vq_mem_ptr(dq->mem, gpas[i], sizes[i], &hint);
		/* misaligned host address: see vq_translate_area() */
		if (!dq->area_hva[i] ||
		    ((uintptr_t)dq->area_hva[i] & (ops->area_align[i] - 1)))
			goto fail;
	}
	if (cfg->indirect_gpa &&
	    (cfg->features & VQCORE_BIT(VQCORE_F_INDIRECT_DESC))) {
		unsigned hint = 0;

		dq->indirect_gpa = cfg->indirect_gpa;
		dq->max_indirect = cfg->max_indirect;
		dq->itable = vq_mem_ptr(dq->mem, cfg->indirect_gpa,
					(uint64_t)cfg->num * cfg->max_indirect * 16,
					&hint);
		if (!dq->itable)
			goto fail;
	}
	err = ops->drv_init(dq);
	if (err)
		goto fail;
	*out = dq;
	return 0;
fail:
	vqcore_drvq_free(dq);
	return err;
}

void vqcore_drvq_free(struct vqcore_drvq *dq)
{
	if (!dq)
		return;
	if (dq->ops->drv_free)
		dq->ops->drv_free(dq);
	vq_free(dq->state);
	vq_free(dq->order);
	vq_free(dq);
}

int vqcore_drvq_add(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
		    unsigned out_num, unsigned in_num, void *token, unsigned flags)
{
	if (unlikely(dq->broken))
		return -VQ_EIO;
	if (unlikely(!token || !sg || out_num + in_num == 0 ||
		     out_num + in_num > dq->num))
		return -VQ_EINVAL;
	return dq->ops->drv_add(dq, sg, out_num, in_num, token, flags);
}

int vqcore_drvq_add_batch(struct vqcore_drvq *dq,
			  const struct vqcore_drvq_req *reqs, unsigned n)
{
	unsigned i;

	if (unlikely(dq->broken))
		return -VQ_EIO;
	if (dq->ops->drv_add_batch) {
		unsigned m;
		int r;

		/* the formats get only well-formed requests: the batch ends
		 * before the first malformed one */
		const unsigned ind = dq->itable ? VQCORE_ADD_INDIRECT : 0;
		const unsigned num = dq->num;
		unsigned other = 0;

		for (m = 0; m < n; m++) {
			const struct vqcore_drvq_req *q = &reqs[m];
			unsigned total = (unsigned)q->out_num + q->in_num;

			/* total - 1 wraps for an empty request */
			if (unlikely(!q->token || !q->sg || total - 1 >= num))
				break;
			/* also note whether all are one-element, direct */
			other |= (total ^ 1) | (q->flags & ind);
		}
		if (!m)
			return n ? -VQ_EINVAL : 0;
		r = dq->ops->drv_add_batch(dq, reqs, m, !other);
		return r;
	}
	for (i = 0; i < n; i++) {
		int r = vqcore_drvq_add(dq, reqs[i].sg, reqs[i].out_num,
					reqs[i].in_num, reqs[i].token, reqs[i].flags);

		if (r < 0)
			return i ? (int)i : r;
	}
	return (int)i;
}

int vqcore_drvq_add_sg(struct vqcore_drvq *dq, const struct vqcore_sg *sg,
		       void *const *tokens, unsigned n, unsigned flags)
{
	unsigned m;

	if (unlikely(dq->broken))
		return -VQ_EIO;
	if (unlikely(!n))
		return 0;
	if (unlikely(!sg || !tokens || (flags & ~VQCORE_ADD_WRITABLE)))
		return -VQ_EINVAL;
	/* the batch ends before the first NULL token, and where it fills
	 * the ring (one descriptor and one id each) */
	for (m = 0; m < n && tokens[m]; m++)
		;
	if (!m)
		return -VQ_EINVAL;
	m = VQ_MIN(m, (unsigned)dq->num_free);
	if (!m)
		return -VQ_ENOSPC;
	dq->ops->drv_add_sg(dq, sg, tokens, m, flags & VQCORE_ADD_WRITABLE);
	return (int)m;
}

bool vqcore_drvq_kick_prepare(struct vqcore_drvq *dq)
{
	return dq->ops->drv_kick_prepare(dq);
}

void vqcore_drvq_publish(struct vqcore_drvq *dq)
{
	dq->ops->drv_publish(dq);
}

int vqcore_drvq_kick(struct vqcore_drvq *dq)
{
	int r;

	if (!dq->ops->drv_kick_prepare(dq) || dq->kick_fd < 0)
		return 0;
	r = vq_notify_fd(dq->kick_fd);
	return r < 0 ? r : 1;
}

int vqcore_drvq_get_used(struct vqcore_drvq *dq, void **tokens, uint32_t *lens,
			 unsigned max)
{
	return dq->ops->drv_get_used(dq, tokens, lens, max);
}

bool vqcore_drvq_enable_cb(struct vqcore_drvq *dq)
{
	return dq->ops->drv_enable_cb(dq);
}

void vqcore_drvq_disable_cb(struct vqcore_drvq *dq)
{
	dq->ops->drv_disable_cb(dq);
}

unsigned vqcore_drvq_free_descs(const struct vqcore_drvq *dq)
{
	return dq->num_free;
}

void vqcore_drvq_set_kick_fd(struct vqcore_drvq *dq, int fd)
{
	dq->kick_fd = fd;
}
