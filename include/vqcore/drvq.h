/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: the driver side of a virtqueue.
 *
 * Lays out a ring (split or packed) in guest memory the caller provides,
 * adds buffers from scatter lists, kicks with notification suppression and
 * collects used buffers with the caller's tokens.  Used by tests, examples,
 * benchmarks, the vhost-user client and the balloon reporting driver.
 *
 * Threading: one queue is driven by one thread at a time.
 *
 * Lifecycle: no call may overlap another on the same queue, and
 * vqcore_drvq_free() waits for nothing (no thread may be inside a call on
 * it).  The guest memory holding the ring must outlive the queue.  A
 * queue handed to a balloon sink (balloon.h) belongs to the sink until
 * vqcore_balloon_free() returns; one of a vhost-user client to the client
 * until vqcore_vuc_free().  The device side may keep running while the
 * driver queue is freed: it only sees the ring in guest memory.
 */
#ifndef VQCORE_DRVQ_H
#define VQCORE_DRVQ_H

#include "vqcore/common.h"
#include "vqcore/mem.h"
#include "vqcore/vq.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct vqcore_sg - one scatter-list element in guest physical memory.
 * @addr: guest physical address.  @len: length in bytes.
 */
struct vqcore_sg {
	uint64_t addr;
	uint32_t len;
};

/**
 * struct vqcore_ring_layout - where a ring's three areas sit.
 * @desc: descriptor area.  @driver: avail ring / driver event area.
 * @device: used ring / device event area.  @size: total bytes from @desc.
 */
struct vqcore_ring_layout {
	uint64_t desc;
	uint64_t driver;
	uint64_t device;
	uint64_t size;
};

/**
 * vqcore_ring_layout() - lay out a ring of @num entries at @gpa.
 * @format: enum vqcore_format.  @num: queue size.  @gpa: start (64-byte
 * aligned is best).  @out: receives the layout.
 *
 * Each area starts on a 64-byte line; split puts each index on a line of
 * its own.
 *
 * Return: 0, or -EINVAL for a bad format or size.
 */
VQCORE_API int vqcore_ring_layout(unsigned format, uint16_t num, uint64_t gpa,
				  struct vqcore_ring_layout *out);

/**
 * struct vqcore_drvq_config - how to create a driver-side queue.
 * @sz: sizeof(struct vqcore_drvq_config) (the sized-struct rule in vqcore/common.h).
 * @format: enum vqcore_format.
 * @num: queue size (split: power of two).
 * @features: negotiated features (EVENT_IDX, INDIRECT_DESC, IN_ORDER).
 * @mem: the driver's view of guest memory (ring and data addresses are
 *       translated through it); must outlive the queue.
 * @ring: where the ring lives (see vqcore_ring_layout()).
 * @indirect_gpa: guest memory for indirect tables, @num * @max_indirect *
 *       16 bytes, or 0 for none.
 * @max_indirect: entries per indirect table.
 * @kick_fd: eventfd to kick, or -1 (owned by the caller).
 */
struct vqcore_drvq_config {
	size_t sz;
	unsigned format;
	uint16_t num;
	uint64_t features;
	struct vqcore_mem *mem;
	struct vqcore_ring_layout ring;
	uint64_t indirect_gpa;
	uint16_t max_indirect;
	int kick_fd;
};

struct vqcore_drvq;

/**
 * vqcore_drvq_new() - create a driver queue and initialise its ring memory.
 * @cfg: configuration (copied).  @out: receives the queue.
 *
 * Return: 0, -EINVAL, -E2BIG (a larger @cfg with a non-zero tail),
 * -ENOMEM, or -VQCORE_E_RING_ADDR if the ring or the
 * indirect area is not mapped by @cfg->mem.
 */
VQCORE_API int vqcore_drvq_new(const struct vqcore_drvq_config *cfg,
			       struct vqcore_drvq **out);

/** vqcore_drvq_free() - destroy a driver queue.  NULL is allowed. */
VQCORE_API void vqcore_drvq_free(struct vqcore_drvq *dq);

/** Flags for vqcore_drvq_add(). */
#define VQCORE_ADD_INDIRECT 0x1 /* put the chain in an indirect table */

/**
 * vqcore_drvq_add() - expose one buffer to the device.
 * @dq: queue.
 * @sg: @out_num device-readable elements followed by @in_num writable ones.
 * @out_num: readable count.  @in_num: writable count.  At least one total.
 * @token: returned by vqcore_drvq_get_used() with this buffer; not NULL.
 * @flags: VQCORE_ADD_INDIRECT or 0.
 *
 * The buffer becomes visible to the device at the next
 * vqcore_drvq_publish(), vqcore_drvq_kick_prepare() or vqcore_drvq_kick(),
 * together with every buffer added since the last one (split: one avail
 * index store; packed: the batch's first head flags are written last).
 * Adding many buffers and kicking once is the batched path.
 *
 * Return: 0, -ENOSPC if the ring has too few free descriptors, -EINVAL.
 */
VQCORE_API int vqcore_drvq_add(struct vqcore_drvq *dq,
			       const struct vqcore_sg *sg, unsigned out_num,
			       unsigned in_num, void *token, unsigned flags);

/**
 * vqcore_drvq_kick_prepare() - publish added buffers; say if a kick is due.
 * @dq: queue.
 *
 * Return: true if the device asked to be notified (event index or flags).
 */
VQCORE_API bool vqcore_drvq_kick_prepare(struct vqcore_drvq *dq);

/**
 * struct vqcore_drvq_req - one buffer for vqcore_drvq_add_batch().
 * @sg: @out_num readable elements, then @in_num writable ones.
 * @out_num: readable count.  @in_num: writable count.
 * @flags: VQCORE_ADD_INDIRECT or 0.
 * @token: returned with the buffer by vqcore_drvq_get_used(); not NULL.
 */
struct vqcore_drvq_req {
	const struct vqcore_sg *sg;
	uint16_t out_num;
	uint16_t in_num;
	unsigned flags;
	void *token;
};

/**
 * vqcore_drvq_add_batch() - add several buffers in one call.
 * @dq: queue.  @reqs: the buffers, in order.  @n: how many.
 *
 * Same effect as vqcore_drvq_add() on each request in turn, but the ring
 * cursors stay in registers across the batch, which keeps the stores per
 * buffer to a minimum (they are what costs when the device polls the ring
 * from another core).  Nothing is published: follow with
 * vqcore_drvq_publish() or vqcore_drvq_kick().
 *
 * Return: the number added (it stops at the first request that does not
 * fit); -ENOSPC if not even the first fits; -EINVAL if the first request is
 * malformed (a malformed later one ends the batch before it).
 */
VQCORE_API int vqcore_drvq_add_batch(struct vqcore_drvq *dq,
				     const struct vqcore_drvq_req *reqs,
				     unsigned n);

/** Flag for vqcore_drvq_add_sg(): the device writes the buffers. */
#define VQCORE_ADD_WRITABLE 0x2

/**
 * vqcore_drvq_add_sg() - add @n buffers of one element each.
 * @dq: queue.
 * @sg: @n elements, one buffer each, in ring order.
 * @tokens: @n tokens, each returned by vqcore_drvq_get_used() with its
 *          buffer; none may be NULL.
 * @n: how many.
 * @flags: VQCORE_ADD_WRITABLE if the device writes the buffers (receive
 *         buffers, block reads), 0 if it reads them.
 *
 * The refill case without a request per buffer: the same effect as
 * vqcore_drvq_add_batch() with @n one-element requests, and cheaper per
 * buffer (no request to build, one pass).  Nothing is published: follow
 * with vqcore_drvq_publish() or vqcore_drvq_kick().  Threading: as
 * vqcore_drvq_add(), one thread at a time per queue.
 *
 * Return: the number added (it stops where the ring is full, or before the
 * first NULL token); -ENOSPC if not even the first fits; -EINVAL if the
 * first token is NULL, @sg or @tokens is NULL, or @flags has an unknown
 * bit; -EIO if the queue is broken.
 */
VQCORE_API int vqcore_drvq_add_sg(struct vqcore_drvq *dq,
				  const struct vqcore_sg *sg, void *const *tokens,
				  unsigned n, unsigned flags);

/**
 * vqcore_drvq_publish() - make added buffers visible, without the
 * notification decision.
 * @dq: queue.
 *
 * For a driver paired with a device that polls and never needs a kick
 * (both sides agreed on polling, as in DPDK's poll mode).  It skips the
 * full memory barrier that vqcore_drvq_kick_prepare() needs to read the
 * device's suppression state safely.  A driver that relies on kicks must
 * use vqcore_drvq_kick_prepare() or vqcore_drvq_kick() instead.
 */
VQCORE_API void vqcore_drvq_publish(struct vqcore_drvq *dq);

/**
 * vqcore_drvq_kick() - publish and, if the device wants it, write the kick
 * eventfd.
 * @dq: queue.
 *
 * Return: 1 if kicked, 0 if suppressed, negative errno on a write error.
 */
VQCORE_API int vqcore_drvq_kick(struct vqcore_drvq *dq);

/**
 * vqcore_drvq_get_used() - collect used buffers.
 * @dq: queue.  @tokens: receives their tokens.  @lens: receives the bytes
 * the device wrote (may be NULL).  @max: array size.
 *
 * Return: number collected, or -EIO if the device returned an id that is
 * not in flight (the driver queue is then broken).
 */
VQCORE_API int vqcore_drvq_get_used(struct vqcore_drvq *dq, void **tokens,
				    uint32_t *lens, unsigned max);

/**
 * vqcore_drvq_enable_cb() - ask the device for interrupts again.
 * @dq: queue.
 *
 * Return: true if used buffers are already pending (collect them).
 */
VQCORE_API bool vqcore_drvq_enable_cb(struct vqcore_drvq *dq);

/** vqcore_drvq_disable_cb() - ask the device not to interrupt. @dq: queue. */
VQCORE_API void vqcore_drvq_disable_cb(struct vqcore_drvq *dq);

/** vqcore_drvq_free_descs() - free descriptor slots.  @dq: queue. */
VQCORE_API unsigned vqcore_drvq_free_descs(const struct vqcore_drvq *dq);

/** vqcore_drvq_set_kick_fd() - set the kick eventfd (or -1). */
VQCORE_API void vqcore_drvq_set_kick_fd(struct vqcore_drvq *dq, int fd);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_DRVQ_H */
