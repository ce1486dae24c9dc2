/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: the format-independent virtqueue, device side.
 *
 * A device never sees a ring layout.  It fetches buffers as struct vhost_buf
 * plus host iovecs (or guest-address descriptors), works on them, and gives
 * them back with one batched "used" call.  The ring format (split or packed)
 * is chosen when the queue is created and hidden behind a format ops table.
 *
 * A queue that the vhost-user backend created (vqcore_vu_queue()) keeps
 * the front-end's inflight record through these same calls: fetch,
 * return and unget are recorded whichever name a device uses (see
 * vqcore_vu_get_bufs()).
 *
 * Threading: one queue is driven by one thread at a time (the caller
 * serialises calls on the same queue).  Different queues may run on
 * different threads.  The memory table a queue uses must not change while
 * a call on the queue runs (see mem.h).
 *
 * Dirty logging (live migration): while the memory table has a dirty log
 * (vqcore_mem_set_log()), every page the device may have written through
 * the iovecs or descriptors a queue handed out is marked in the log by
 * vqcore_vq_put_used(), before the used entry that returns the buffer is
 * written; so are the queue's own ring writes.  A device written against
 * this API does nothing extra for it.
 *
 * Lifecycle:
 *  - Two calls may come from another thread while the queue's thread is
 *    inside any call: vqcore_vq_error() (a snapshot) and
 *    vqcore_vq_set_call_fd() from one control thread (it waits until no
 *    signal can still use the old fd; see there).
 *  - vqcore_vq_free() waits for nothing: the caller makes sure no thread
 *    is inside a call on the queue (the vhost-user backend frees a queue
 *    only after the device's queue_stopped callback returned, which is
 *    that handshake).  The memory table must outlive the queue.
 *
 * Hostile driver: the ring lives in guest memory and is untrusted.  When the
 * library sees a ring that breaks the virtio rules it logs one line, marks
 * the queue broken and returns the error; every later call returns
 * -VQCORE_E_BROKEN until vqcore_vq_reset().
 */
#ifndef VQCORE_VQ_H
#define VQCORE_VQ_H

#include "vqcore/common.h"
#include "vqcore/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Ring formats. */
enum vqcore_format {
	VQCORE_FORMAT_SPLIT = 0,
	VQCORE_FORMAT_PACKED = 1,
	VQCORE_FORMAT_COUNT
};

/** vhost_desc.flags: the device may write this descriptor's buffer. */
#define VHOST_DESC_F_WRITE 0x2

/**
 * struct vhost_desc - one guest buffer fragment, format independent.
 * @addr: guest physical address.
 * @len: length in bytes.
 * @flags: VHOST_DESC_F_WRITE or 0.
 * @id: the id of the buffer this descriptor belongs to.
 */
struct vhost_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t id;
};

/**
 * struct vhost_buf - one buffer (a descriptor chain), format independent.
 * @out_len: total bytes of the device-readable part.
 * @in_len: total bytes of the device-writable part.
 * @id: buffer id (split: head index; packed: the id in the last descriptor).
 * @ndesc: ring descriptor slots the buffer took (1 for an indirect one).
 * @out_num: number of device-readable iovecs (or vhost_descs); they come
 *           first, at index @first of the caller's array.
 * @in_num: number of device-writable iovecs (or vhost_descs), after those.
 * @first: index of the first iovec / vhost_desc in the caller's array.
 *
 * Hand the struct back unchanged to vqcore_vq_put_used() or
 * vqcore_vq_unget().
 */
struct vhost_buf {
	uint32_t out_len;
	uint32_t in_len;
	uint16_t id;
	uint16_t ndesc;
	uint16_t out_num;
	uint16_t in_num;
	uint32_t first;
	uint32_t reserved;
};

/** Default number of buffers fetched from the ring per batch. */
#define VQCORE_DEFAULT_BATCH 64

/**
 * struct vqcore_vq_config - how to create a device-side queue.
 * @sz: sizeof(struct vqcore_vq_config) (the sized-struct rule in vqcore/common.h).
 * @format: enum vqcore_format.
 * @num: queue size; split: power of two <= 32768; packed: <= 32768.
 * @features: negotiated virtio features; the queue honours
 *            VQCORE_F_INDIRECT_DESC, VQCORE_F_EVENT_IDX, VQCORE_F_IN_ORDER.
 * @batch: descriptors read from the ring per fetch; 0 means
 *         VQCORE_DEFAULT_BATCH.  The per-queue descriptor cache is sized
 *         from it and @num when the queue is created.
 * @mem: guest memory table; must outlive the queue.
 * @desc_gpa: descriptor area.
 * @driver_gpa: split: avail ring; packed: driver event suppression area.
 * @device_gpa: split: used ring; packed: device event suppression area.
 * @call_fd: eventfd the device signals, or -1 (owned by the caller).
 * @index: queue index, only used in log lines.
 */
struct vqcore_vq_config {
	size_t sz;
	unsigned format;
	uint16_t num;
	uint64_t features;
	unsigned batch;
	struct vqcore_mem *mem;
	uint64_t desc_gpa;
	uint64_t driver_gpa;
	uint64_t device_gpa;
	int call_fd;
	unsigned index;
};

struct vqcore_vq;

/**
 * vqcore_vq_new() - create a device-side queue over rings in guest memory.
 * @cfg: configuration (copied).
 * @out: receives the queue.
 *
 * The ring areas are translated to host pointers here and again only when
 * the memory table's generation changes (checked once per batch).  The
 * queue starts with avail index 0 (packed: wrap counters 1); use
 * vqcore_vq_set_base() to resume elsewhere.
 *
 * Return: 0, -EINVAL for a bad size, format or @cfg->sz, -E2BIG for a
 * larger @cfg with a non-zero tail, -ENOMEM, or
 * -VQCORE_E_RING_ADDR when a ring area is not inside one region.
 * Thread-safe with respect to other queues.
 */
VQCORE_API int vqcore_vq_new(const struct vqcore_vq_config *cfg,
			     struct vqcore_vq **out);

/**
 * vqcore_vq_free() - destroy a queue.  NULL is allowed.
 * @vq: queue.  Buffers still in flight are forgotten.  No thread may be
 *     inside a call on it (nothing is waited for).
 */
VQCORE_API void vqcore_vq_free(struct vqcore_vq *vq);

/**
 * vqcore_vq_get_bufs() - fetch available buffers as iovecs.
 * @vq: queue.
 * @bufs: array that receives up to @max_bufs buffers.
 * @max_bufs: its size.
 * @iov: array that receives the host iovecs of all returned buffers; each
 *       buffer's readable part, then its writable part, from index
 *       bufs[i].first.  A descriptor that spans regions gives several.
 * @max_iov: size of @iov.
 *
 * Reads the driver's index at most once, copies up to a batch of
 * descriptors into the queue's cache (each descriptor read from guest
 * memory exactly once), then turns cached descriptors into buffers.
 * Buffers that do not fit in @bufs/@iov stay cached for the next call.
 *
 * Dirty log: whether the memory table has a log is read once per call.
 * While it has one, each buffer handed out has the guest ranges of its
 * writable descriptors recorded (in a per-queue table sized at creation:
 * no allocation), for vqcore_vq_put_used() to log; buffers then take the
 * general path instead of the one-descriptor fast loops.  With no log the
 * check is the only cost: one load and branch per call.
 *
 * Return: the number of buffers (0 when the ring is empty), or
 * -VQCORE_E_IOV_FULL when even the first buffer needs more than @max_iov
 * iovecs (queue not broken), or a ring error (queue now broken):
 * -VQCORE_E_DESC_INDEX, -VQCORE_E_CHAIN_LOOP, -VQCORE_E_NESTED_INDIRECT,
 * -VQCORE_E_INDIRECT_LEN, -VQCORE_E_LEN_OVERFLOW, -VQCORE_E_UNMAPPED,
 * -VQCORE_E_PAST_END, -VQCORE_E_AVAIL_IDX, -VQCORE_E_BAD_ID,
 * -VQCORE_E_ID_IN_USE, -VQCORE_E_WRAP_COUNTER, -VQCORE_E_WRITE_ORDER,
 * -VQCORE_E_RING_ADDR; or -VQCORE_E_BROKEN.
 *
 * A bad buffer after good ones: the call hands out the good buffers before
 * it and returns their count, the queue not broken, as a device fetching
 * one buffer per call would serve them.  The queue's position stays at the
 * bad buffer: the next call reports its error and breaks the queue (unless
 * the driver rewrote it meanwhile).  Complete the good buffers with
 * vqcore_vq_put_used() before that call if they are to reach the driver: a
 * broken queue takes no used entry.  The error is logged when the bad
 * buffer is first seen and again when it breaks the queue, and
 * vqcore_vq_error() may show it while the first call runs.
 */
VQCORE_API int vqcore_vq_get_bufs(struct vqcore_vq *vq, struct vhost_buf *bufs,
				  unsigned max_bufs, struct iovec *iov,
				  unsigned max_iov);

/**
 * vqcore_vq_get_bufs_desc() - fetch available buffers as guest descriptors.
 * @vq: queue.  @bufs, @max_bufs: as vqcore_vq_get_bufs().
 * @desc: receives the vhost_descs (guest addresses, not translated).
 * @max_desc: size of @desc.
 *
 * For devices that need guest addresses (a balloon, logging).  Addresses
 * are not checked against the memory table here.  What the device writes
 * through the writable descriptors is logged at vqcore_vq_put_used() as
 * for vqcore_vq_get_bufs() (a device that writes with vqcore_mem_write()
 * logs twice, which is harmless).
 *
 * Return: as vqcore_vq_get_bufs().
 */
VQCORE_API int vqcore_vq_get_bufs_desc(struct vqcore_vq *vq,
				       struct vhost_buf *bufs, unsigned max_bufs,
				       struct vhost_desc *desc,
				       unsigned max_desc);

/**
 * vqcore_vq_get_buf_at() - fetch one buffer by where its chain starts,
 * outside the normal ring order.
 * @vq: queue.
 * @head: split: descriptor-table index of the chain's head; packed: ring
 *        slot of the buffer's first descriptor.
 * @buf: receives the buffer.
 * @iov: receives its iovecs (from index 0).  @max_iov: size of @iov.
 *
 * For resubmitting requests that were in flight when a previous backend
 * stopped (vhost-user inflight tracking).  The buffer is then in flight like
 * any other and goes back with vqcore_vq_put_used(); it never joins an
 * in-order run.  Buffers cached by earlier fetches are dropped (they are
 * read again later), so call it before normal fetching resumes.  Packed:
 * used entries are written into the ring slots of earlier buffers, so
 * fetch every buffer to resubmit before returning any of them.  The dirty
 * log covers the buffer as for vqcore_vq_get_bufs().
 *
 * Return: 1, -EINVAL for @head >= size, -VQCORE_E_ID_IN_USE (queue not
 * broken) if that buffer is already in flight, -VQCORE_E_IOV_FULL, or the
 * ring errors of vqcore_vq_get_bufs() (queue broken).
 */
VQCORE_API int vqcore_vq_get_buf_at(struct vqcore_vq *vq, uint16_t head,
				    struct vhost_buf *buf, struct iovec *iov,
				    unsigned max_iov);

/**
 * vqcore_iov_read() - copy out of an iovec array.
 * @iov: the iovecs (for example a buffer's readable part).  @cnt: how many.
 * @off: byte offset into the concatenated iovecs to start at.
 * @dst: destination.  @len: bytes wanted.
 *
 * Return: bytes copied; less than @len when the iovecs end first.
 * Thread-safe (touches only the memory named).
 */
VQCORE_API size_t vqcore_iov_read(const struct iovec *iov, unsigned cnt,
				  size_t off, void *dst, size_t len);

/**
 * vqcore_iov_write() - copy into an iovec array.
 * @iov: the iovecs (for example a buffer's writable part).  @cnt: how many.
 * @off: byte offset into the concatenated iovecs to start at.
 * @src: source.  @len: bytes to copy.
 *
 * Return: bytes copied; less than @len when the iovecs end first.
 * Thread-safe (touches only the memory named).
 */
VQCORE_API size_t vqcore_iov_write(const struct iovec *iov, unsigned cnt,
				   size_t off, const void *src, size_t len);

/**
 * vqcore_vq_put_used() - return a batch of buffers to the driver.
 * @vq: queue.
 * @bufs: buffers from vqcore_vq_get_bufs*(), each still in flight.
 * @lens: bytes written into each buffer, or NULL for all zero.
 * @n: number of buffers.
 *
 * Split: writes the used elements, then publishes the used index once with
 * release ordering.  Packed: writes ids and lengths, then the first
 * descriptor's flags last.  With VQCORE_F_IN_ORDER and buffers returned in
 * the order fetched, none but the last with a writable part (a tx queue's),
 * the batch is returned as a run: split writes one used entry for it,
 * packed one used descriptor per ring cache line it covers (each naming
 * the last buffer of its part, so the device writes back every line it
 * read).  Buffers with a writable part get a used entry each, since
 * drivers such as DPDK's virtio PMD read every entry's length.  Does not
 * signal; see vqcore_vq_signal().
 *
 * Dirty log (when the memory table has one; read once per call): first,
 * before any used entry is written, every page of each buffer's writable
 * part is marked, as recorded when the buffer was handed out (up to three
 * ranges per buffer; further writable descriptors widen the nearest range
 * to cover them, so a few pages more may be marked, never fewer).  A
 * buffer handed out while no log was set has no record: if the batch has
 * one, every region of the memory table is marked, once for the call.
 * Then the used entries are written, and every used-ring write is marked
 * after it.  A log replaced since the fetch gets the marks; one removed
 * gets none.
 *
 * Return: 0; -EINVAL if a buffer is not in flight (nothing is written);
 * -VQCORE_E_BROKEN.
 */
VQCORE_API int vqcore_vq_put_used(struct vqcore_vq *vq,
				  const struct vhost_buf *bufs,
				  const uint32_t *lens, unsigned n);

/**
 * vqcore_vq_unget() - give back buffers the device could not process.
 * @vq: queue.
 * @bufs: the last @n buffers fetched, in the order they were fetched.
 * @n: how many.
 *
 * The next fetch returns them again, first.  Buffers still in the cache
 * are dropped and re-read from the ring.
 *
 * Return: 0, or -EINVAL if @bufs are not the most recent @n in flight.
 */
VQCORE_API int vqcore_vq_unget(struct vqcore_vq *vq,
			       const struct vhost_buf *bufs, unsigned n);

/**
 * vqcore_vq_enable_notify() - ask the driver to kick on new buffers.
 * @vq: queue.
 *
 * With VQCORE_F_EVENT_IDX this publishes the avail event index; otherwise
 * it clears the no-notify flag.  Then it re-checks the ring, which closes
 * the race with a driver that added a buffer before seeing the change.
 *
 * Return: true if buffers are already available (process them, the driver
 * may not kick for them), false otherwise.
 */
VQCORE_API bool vqcore_vq_enable_notify(struct vqcore_vq *vq);

/**
 * vqcore_vq_disable_notify() - tell the driver kicks are not needed now.
 * @vq: queue.
 */
VQCORE_API void vqcore_vq_disable_notify(struct vqcore_vq *vq);

/**
 * vqcore_vq_should_signal() - whether the driver wants an interrupt for the
 * buffers used since the last signal.
 * @vq: queue.
 *
 * Event index (split used_event / packed descriptor event with wrap) or
 * the driver's no-interrupt flag decides.  Calling it consumes the
 * decision: a true answer is given once for the used buffers it covers.
 */
VQCORE_API bool vqcore_vq_should_signal(struct vqcore_vq *vq);

/**
 * vqcore_vq_signal() - signal the call eventfd if the driver wants it.
 * @vq: queue.
 *
 * Return: 1 if signalled, 0 if suppressed or no call fd is set, or a
 * negative errno from the eventfd write.  The queue's thread; the call fd
 * may be changed meanwhile by vqcore_vq_set_call_fd() on another thread.
 */
VQCORE_API int vqcore_vq_signal(struct vqcore_vq *vq);

/**
 * vqcore_vq_set_call_fd() - set or change the call eventfd.
 * @vq: queue.  @fd: eventfd (not owned), or -1.
 *
 * Threading: from the queue's thread, or from one other (control) thread
 * while the queue's thread runs, e.g. vhost-user SET_VRING_CALL under a
 * running queue (QEMU sends it when the guest masks interrupts).  When it
 * returns, no vqcore_vq_signal() uses the old fd any more: the caller may
 * close it, and a write can never land on a reused fd number.
 *
 * How: vqcore_vq_signal() makes a per-queue counter odd before it loads
 * the fd and even after its eventfd write (two atomic increments per
 * write actually made; nothing per buffer, nothing when the signal is
 * suppressed).  This call stores the new fd, then waits while the counter
 * stays at an odd value it saw: at most one eventfd write.  The handshake
 * was preferred to handing the old fd to the queue's thread to close: the
 * closing side needs no cooperation from a device thread that may be
 * blocked or stopped, and the fd's owner keeps closing it.
 */
VQCORE_API void vqcore_vq_set_call_fd(struct vqcore_vq *vq, int fd);

/**
 * vqcore_vq_get_base() - the ring position where the device resumes.
 * @vq: queue.
 *
 * The index of the next buffer the device will fetch (split: avail index;
 * packed: slot index with the avail wrap counter in bit 15), as sent in
 * vhost-user GET_VRING_BASE.  Cached, not-yet-returned buffers count as
 * not fetched.
 */
VQCORE_API uint32_t vqcore_vq_get_base(const struct vqcore_vq *vq);

/**
 * vqcore_vq_set_base() - resume the queue at @base.
 * @vq: queue; must have no buffer in flight.
 * @base: as returned by vqcore_vq_get_base() (packed: bit 15 = wrap).
 *
 * The used position follows the format's rule: split reads the ring's
 * used index (the device's own last write, which survives a backend
 * restart); packed sets it equal to @base, as vhost-user does for a ring
 * with nothing in flight.  vqcore_vq_set_used_base() overrides it.
 *
 * Return: 0, -EINVAL if @base is out of range for the format, -EBUSY if
 * buffers are in flight.
 */
VQCORE_API int vqcore_vq_set_base(struct vqcore_vq *vq, uint32_t base);

/**
 * vqcore_vq_set_used_base() - set the position of the next used entry.
 * @vq: queue; no buffer in flight.
 * @pos: split: used index; packed: used slot with the used wrap counter in
 *       bit 15.
 *
 * For a restarted backend that learnt the used position from somewhere
 * else (vhost-user inflight tracking for packed rings).
 *
 * Return: 0, -EINVAL if out of range, -EBUSY if buffers are in flight.
 */
VQCORE_API int vqcore_vq_set_used_base(struct vqcore_vq *vq, uint32_t pos);

/**
 * vqcore_vq_get_used_base() - the position of the next used entry (same
 * encoding as vqcore_vq_set_used_base()).
 * @vq: queue.
 */
VQCORE_API uint32_t vqcore_vq_get_used_base(const struct vqcore_vq *vq);

/**
 * vqcore_vq_error() - why the queue is broken.
 * @vq: queue.
 *
 * Return: 0 if it is not broken, or the negative error that broke it.
 * Any thread, also while the queue's thread runs (a snapshot).
 */
VQCORE_API int vqcore_vq_error(const struct vqcore_vq *vq);

/**
 * vqcore_vq_reset() - clear the broken state and all positions.
 * @vq: queue.  Buffers in flight are forgotten; base becomes 0.
 */
VQCORE_API void vqcore_vq_reset(struct vqcore_vq *vq);

/**
 * vqcore_vq_num() - queue size.  @vq: queue.
 */
VQCORE_API uint16_t vqcore_vq_num(const struct vqcore_vq *vq);

/**
 * vqcore_vq_format() - enum vqcore_format of the queue.  @vq: queue.
 */
VQCORE_API unsigned vqcore_vq_format(const struct vqcore_vq *vq);

/**
 * vqcore_vq_inflight() - number of buffers fetched and not yet used.
 * @vq: queue.
 */
VQCORE_API unsigned vqcore_vq_inflight(const struct vqcore_vq *vq);

/**
 * vqcore_vq_mem() - the memory table given at creation.  @vq: queue.
 */
VQCORE_API struct vqcore_mem *vqcore_vq_mem(const struct vqcore_vq *vq);

/**
 * vqcore_vq_max_iov() - iovecs one buffer of @vq can need at most.
 * @vq: queue.
 *
 * A buffer has at most vqcore_vq_num() descriptors, counting those in an
 * indirect table (a longer chain breaks the queue).  Each descriptor gives
 * one iovec, plus one for every boundary between two regions of the
 * memory table that follow each other without a gap in guest addresses
 * and that it crosses.  The bound is computed from the current table: it
 * is vqcore_vq_num() times (1 + such boundaries), so exactly the queue
 * size for a table without adjacent regions (a QEMU guest below 4 GiB).
 * With a vhost-user backend the table changes only between callbacks on
 * the loop thread; call it again after a mem_changed callback.
 *
 * An @iov array of this size given to vqcore_vq_get_bufs() never gets
 * -VQCORE_E_IOV_FULL, whatever the driver puts in the ring; a smaller one
 * gets it for a buffer that does not fit, which then stays first in the
 * queue (the queue is not broken, but nothing moves until a larger array
 * is given).
 *
 * Return: the bound, at least vqcore_vq_num(@vq).
 * Threading: as any call on the queue; reads the memory table.
 */
VQCORE_API uint32_t vqcore_vq_max_iov(const struct vqcore_vq *vq);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_VQ_H */
