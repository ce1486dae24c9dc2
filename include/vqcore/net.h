/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: a virtio-net data path over two device-side queues.
 *
 * A net backend moves frames between a tx queue (the driver sends) and an
 * rx queue (the driver receives).  Done one buffer at a time, over the
 * ring API alone, it spends most of its time in fixed per-call costs:
 * one get_bufs per rx buffer, one put_used and one signal per frame, a
 * copy into a bounce buffer.  This helper does it in bursts, the way a
 * fast backend has to:
 *
 *  - tx: up to a burst of tx buffers from one vqcore_vq_get_bufs(); each
 *    header is checked (virtio 1.2 5.1.6.2) and the frame is handed out as
 *    the iovecs past the header; bad chains are returned to the driver
 *    and counted, never handed out.  With no tx offload negotiated
 *    (VQCORE_NET_F_CSUM, _HOST_TSO4, _HOST_TSO6, _HOST_ECN, _HOST_UFO,
 *    _HOST_USO) a tx header can ask for nothing, and the helper does not
 *    read it: the frame goes on with a zero header, whatever the driver
 *    wrote there (a header in a cache line of its own, as DPDK's virtio
 *    PMD lays it out, is then never taken from the driver's core); one
 *    put_used and one signal when the
 *    caller says how many frames it took, the rest go back with unget;
 *  - rx: the rx buffers of a burst of frames from as few get_bufs calls as
 *    the frames need, each frame written once (header, then the frame
 *    straight from its iovecs) over one buffer or, with
 *    VIRTIO_NET_F_MRG_RXBUF, several (num_buffers set in the first); one
 *    put_used and one signal per burst; the buffers not filled go back
 *    with unget;
 *  - forward: both at once, each tx frame copied once, straight into rx
 *    buffers (a loopback, or two ports of a switch); the rx buffers' first
 *    lines are asked for ahead, for writing, where the CPU can.
 * The rx header of a frame that fits one rx buffer is written only where
 * its bytes differ from what is there (a frame spread over several gets
 * it written whole): a driver that recycles rx buffers keeps reading that
 * line, and an unneeded store would take it from the driver's core.
 *
 * Frames that cannot be delivered are dropped and counted by cause
 * (struct vqcore_net_stats), never lost silently: a tx chain with a bad
 * header, a frame larger than the rx buffers can hold, an rx queue that
 * is broken.  When the rx ring has no buffer, the frame waits (the
 * caller keeps it; vqcore_net_forward() leaves its tx buffer on the tx
 * ring) unless VQCORE_NET_RX_DROP asks for drops, counted.
 *
 * Nothing is allocated and no syscall is made per frame: the arrays are
 * sized when the helper is created (vqcore_net_new(),
 * vqcore_net_set_max_iov()); a burst makes at most one eventfd write per
 * queue (vqcore_vq_signal()).
 *
 * Dirty logging needs nothing here: every rx byte is written through the
 * iovecs the rx queue handed out, and vqcore_vq_put_used() logs them.
 *
 * Threading: a helper is used by one thread at a time, the thread that
 * drives the queues given to it (vq.h); the caller serialises calls.
 * Different helpers may run on different threads.
 *
 * Byte order: every field of a virtio-net header in guest memory is
 * little-endian (virtio 1.x), whatever the host; struct vqcore_net_hdr
 * is that wire layout: convert its fields with vqcore_le16_to_cpu() and
 * vqcore_cpu_to_le16() (common.h).
 */
#ifndef VQCORE_NET_H
#define VQCORE_NET_H

#include "vqcore/common.h"
#include "vqcore/vq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* virtio-net feature bits (virtio 1.2 5.1.3) the helper reads. */
#define VQCORE_NET_F_CSUM 0            /* driver may ask for tx checksum */
#define VQCORE_NET_F_GUEST_CSUM 1      /* rx frames may carry NEEDS_CSUM */
#define VQCORE_NET_F_GUEST_TSO4 7
#define VQCORE_NET_F_GUEST_TSO6 8
#define VQCORE_NET_F_GUEST_ECN 9
#define VQCORE_NET_F_GUEST_UFO 10
#define VQCORE_NET_F_HOST_TSO4 11
#define VQCORE_NET_F_HOST_TSO6 12
#define VQCORE_NET_F_HOST_ECN 13
#define VQCORE_NET_F_HOST_UFO 14
#define VQCORE_NET_F_MRG_RXBUF 15
#define VQCORE_NET_F_GUEST_USO4 54
#define VQCORE_NET_F_GUEST_USO6 55
#define VQCORE_NET_F_HOST_USO 56

/* struct vqcore_net_hdr.flags */
#define VQCORE_NET_HDR_F_NEEDS_CSUM 1
#define VQCORE_NET_HDR_F_DATA_VALID 2
#define VQCORE_NET_HDR_F_RSC_INFO 4

/* struct vqcore_net_hdr.gso_type */
#define VQCORE_NET_HDR_GSO_NONE 0
#define VQCORE_NET_HDR_GSO_TCPV4 1
#define VQCORE_NET_HDR_GSO_UDP 3
#define VQCORE_NET_HDR_GSO_TCPV6 4
#define VQCORE_NET_HDR_GSO_UDP_L4 5
#define VQCORE_NET_HDR_GSO_ECN 0x80

/**
 * struct vqcore_net_hdr - the virtio-net header, as in guest memory
 * (struct virtio_net_hdr_mrg_rxbuf / virtio_net_hdr_v1).
 * @flags: VQCORE_NET_HDR_F_*.
 * @gso_type: VQCORE_NET_HDR_GSO_*.
 * @hdr_len: little-endian.  @gso_size: little-endian.
 * @csum_start: little-endian.  @csum_offset: little-endian.
 * @num_buffers: little-endian; rx buffers the frame fills.  Present only
 *     in the 12-byte header (VIRTIO_NET_F_MRG_RXBUF or VIRTIO_F_VERSION_1
 *     negotiated); a legacy driver without either has the first 10 bytes.
 */
struct vqcore_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/**
 * vqcore_net_hdr_len() - bytes of the virtio-net header a driver with
 * these features puts before each frame.
 * @features: negotiated features.
 *
 * Return: 12 with VIRTIO_NET_F_MRG_RXBUF or VIRTIO_F_VERSION_1, else 10.
 * Thread-safe.
 */
VQCORE_API unsigned vqcore_net_hdr_len(uint64_t features);

/**
 * struct vqcore_net_frame - one frame, as a list of host iovecs.
 * @iov: the frame's bytes, in order (no virtio-net header).
 * @iov_cnt: number of iovecs.
 * @len: frame length in bytes; @iov holds at least that many.
 * @hdr: from vqcore_net_tx_get(): the frame's header as the driver wrote
 *     it (little-endian; @hdr.num_buffers is 0), or all zero when no tx
 *     offload was negotiated (the header is not read then).  For
 *     vqcore_net_rx_put():
 *     the offloads to tell the driver (flags, gso_type and the four
 *     16-bit fields; num_buffers is filled in), all zero for none.
 */
struct vqcore_net_frame {
	const struct iovec *iov;
	uint32_t iov_cnt;
	uint32_t len;
	struct vqcore_net_hdr hdr;
};

/**
 * struct vqcore_net_stats - what the helper counted since it was created.
 * @sz: sizeof(struct vqcore_net_stats), set by the caller (the sized-struct
 *     rule in vqcore/common.h).
 * @tx_frames: tx buffers returned to the driver (taken frames and dropped
 *     chains alike).
 * @rx_frames: frames placed on rx (returned to the driver).
 * @rx_bufs: rx buffers those frames filled (more than @rx_frames with
 *     mergeable rx buffers).
 * @drop_bad_tx: tx chains dropped: shorter than the header, or, with a tx
 *     offload negotiated, a header asking for an offload that was not
 *     negotiated or that is malformed (virtio 1.2 5.1.6.2).  A tx chain's device-writable part is not an
 *     error: it is read as frame data after the readable part, as DPDK's
 *     vhost does (DPDK's virtio PMD marks some tx descriptors writable).
 * @drop_too_big: frames larger than the rx buffers can hold (without
 *     VIRTIO_NET_F_MRG_RXBUF: the next rx buffer; with it: the rx queue or
 *     the helper's limit, see struct vqcore_net_config).
 * @drop_no_rx: frames dropped because the rx ring had no buffer
 *     (only with VQCORE_NET_RX_DROP).
 * @drop_rx_error: frames dropped because the rx queue is broken (or
 *     returned an error).
 * @drop_offload: vqcore_net_forward(): tx frames whose offload the rx
 *     side's features cannot carry.
 */
struct vqcore_net_stats {
	size_t sz;
	uint64_t tx_frames;
	uint64_t rx_frames;
	uint64_t rx_bufs;
	uint64_t drop_bad_tx;
	uint64_t drop_too_big;
	uint64_t drop_no_rx;
	uint64_t drop_rx_error;
	uint64_t drop_offload;
};

/* struct vqcore_net_config.flags */
/** No rx buffer for a frame: drop it (counted) instead of keeping it. */
#define VQCORE_NET_RX_DROP 0x1

/** Default tx burst and rx buffer limits. */
#define VQCORE_NET_DEFAULT_BURST 32
#define VQCORE_NET_DEFAULT_RX_BUFS 256
#define VQCORE_NET_DEFAULT_MAX_IOV 1024
#define VQCORE_NET_DEFAULT_MAX_BUFS_PER_FRAME 64

/**
 * struct vqcore_net_config - how to create a net helper.
 * @sz: sizeof(struct vqcore_net_config) (the sized-struct rule in
 *     vqcore/common.h).
 * @features: the features negotiated with the driver (VIRTIO_F_VERSION_1,
 *     VQCORE_NET_F_*); decide the header size, mergeable rx buffers and
 *     which offloads a tx header may ask for (none: tx headers are not
 *     read).
 * @flags: VQCORE_NET_RX_DROP or 0.
 * @burst: tx buffers fetched per vqcore_net_tx_get() at most; 0 means
 *     VQCORE_NET_DEFAULT_BURST.
 * @rx_bufs: rx buffers one rx burst may hold before it is flushed
 *     by itself; 0 means VQCORE_NET_DEFAULT_RX_BUFS.
 * @max_iov: iovecs of the tx burst and of the rx burst, each; 0 means
 *     VQCORE_NET_DEFAULT_MAX_IOV.  Give at least vqcore_vq_max_iov() of
 *     both queues (see vqcore_net_set_max_iov()).
 * @max_bufs_per_frame: with mergeable rx buffers, the most rx buffers one
 *     frame may fill (a larger frame is dropped as too big); 0 means
 *     VQCORE_NET_DEFAULT_MAX_BUFS_PER_FRAME.  Never more than the rx
 *     queue's size nor @rx_bufs.
 */
struct vqcore_net_config {
	size_t sz;
	uint64_t features;
	unsigned flags;
	unsigned burst;
	unsigned rx_bufs;
	unsigned max_iov;
	unsigned max_bufs_per_frame;
};

struct vqcore_net;

/**
 * vqcore_net_new() - create a net helper.
 * @cfg: configuration (copied).
 * @out: receives the helper.
 *
 * Allocates every array the data path uses; nothing is allocated later
 * except by vqcore_net_set_max_iov().  The helper does not keep a queue:
 * each call names the queues it works on.
 *
 * Return: 0, -EINVAL for a bad @cfg->sz, flag or limit (a burst above
 * 1024, a limit above 65536), -E2BIG for a larger @cfg with a non-zero
 * tail, or -ENOMEM.  Thread-safe.
 */
VQCORE_API int vqcore_net_new(const struct vqcore_net_config *cfg,
			      struct vqcore_net **out);

/**
 * vqcore_net_free() - destroy a helper.  NULL is allowed.
 * @net: helper.  No call on it may be running.  A tx or rx burst still
 *     open (buffers fetched and not yet returned) is forgotten: the
 *     buffers stay in flight on their queues.
 */
VQCORE_API void vqcore_net_free(struct vqcore_net *net);

/**
 * vqcore_net_set_features() - change the negotiated features.
 * @net: helper, with no burst open.
 * @features: as struct vqcore_net_config.features.
 *
 * For a device that creates its helper before the driver has negotiated
 * (vhost-user: features arrive later; call it from queue_started).
 *
 * Return: 0, or -EBUSY while a tx or rx burst is open.
 */
VQCORE_API int vqcore_net_set_features(struct vqcore_net *net,
				       uint64_t features);

/**
 * vqcore_net_set_max_iov() - grow the iovec arrays.
 * @net: helper, with no burst open.
 * @max_iov: new size of each array; smaller than the current size does
 *     nothing.
 *
 * A tx chain needing more iovecs than the tx array holds cannot be
 * fetched: vqcore_net_tx_get() returns -VQCORE_E_IOV_FULL and the queue
 * stops there.  Call this from the control path whenever a queue or the
 * memory table changes, with vqcore_vq_max_iov() of both queues, and that
 * never happens, whatever the driver puts in its rings.
 *
 * Return: 0, -EBUSY while a burst is open, -EINVAL above 65536 * 32, or
 * -ENOMEM (the arrays are unchanged).
 */
VQCORE_API int vqcore_net_set_max_iov(struct vqcore_net *net, unsigned max_iov);

/**
 * vqcore_net_tx_get() - take a burst of frames the driver sent.
 * @net: helper, with no tx burst open.
 * @txq: the tx queue.
 * @frames: receives up to @max frames; each @frames[i].iov points into the
 *     helper's array and stays valid until vqcore_net_tx_done().
 * @max: size of @frames (at most the configured burst is fetched).
 *
 * Fetches up to a burst of tx buffers with one vqcore_vq_get_bufs().
 * Each chain is checked: device-readable only, at least a header long,
 * and, when a tx offload was negotiated, flags and gso_type allowed by the
 * negotiated features (NEEDS_CSUM needs VQCORE_NET_F_CSUM and csum_start +
 * csum_offset + 2 within the frame; a GSO type needs its HOST_* feature,
 * NEEDS_CSUM and a gso_size; no other flag).  With none negotiated the
 * header is not read and the frame's @hdr is zero.  Good ones become frames, in ring order; bad ones are held and
 * returned with the burst (counted in drop_bad_tx when returned).  When
 * every fetched chain is bad they are returned at once and 0 is
 * returned, with no burst open.
 *
 * Every call that returns more than 0 opens the tx burst: close it with
 * vqcore_net_tx_done().
 *
 * Return: the number of frames (0: none available), or a negative error
 * from vqcore_vq_get_bufs() (-VQCORE_E_IOV_FULL: see
 * vqcore_net_set_max_iov(); a ring error: the queue is broken), or
 * -EBUSY if a tx burst is already open.
 */
VQCORE_API int vqcore_net_tx_get(struct vqcore_net *net, struct vqcore_vq *txq,
				 struct vqcore_net_frame *frames, unsigned max);

/**
 * vqcore_net_tx_done() - close the tx burst: return the frames taken.
 * @net: helper, with a tx burst open.
 * @txq: the tx queue given to vqcore_net_tx_get().
 * @n: frames taken, the first @n of the burst (sent on or dropped by the
 *     caller); the others go back to the ring and come first next time.
 *
 * The tx buffers of the first @n frames, and the bad chains among and
 * right after them, are returned with one vqcore_vq_put_used(), then the
 * driver is signalled once (vqcore_vq_signal()); the rest with one
 * vqcore_vq_unget().
 *
 * Return: 0; -EINVAL if no burst is open or @n is more than it has; or an
 * error from the queue (the burst is closed anyway: its buffers are
 * forgotten, the queue is broken).
 */
VQCORE_API int vqcore_net_tx_done(struct vqcore_net *net, struct vqcore_vq *txq,
				  unsigned n);

/* vqcore_net_rx_put() results that are not errors */
#define VQCORE_NET_PLACED 0
#define VQCORE_NET_DROPPED 1

/**
 * vqcore_net_rx_put() - place one frame on rx.
 * @net: helper.
 * @rxq: the rx queue (the same for the whole rx burst).
 * @f: the frame: @f->iov, @f->iov_cnt, @f->len and the offloads in
 *     @f->hdr (only the 10 bytes before num_buffers are read).
 * @more: frames the caller expects to put after this one in this burst;
 *     the helper fetches rx buffers for them with the same call (a hint).
 *
 * Opens the rx burst if none is open.  Fetches rx buffers as needed, then
 * writes the header (num_buffers = buffers used, little-endian) and the
 * frame over the next rx buffer, or over as many as it takes with
 * mergeable rx buffers.  The buffers are returned to the driver by
 * vqcore_net_rx_flush(), all at once.  When the burst's arrays are full
 * the filled buffers are flushed first (a put_used and a signal).
 *
 * Return: VQCORE_NET_PLACED; VQCORE_NET_DROPPED (counted: too big, no rx
 * buffer with VQCORE_NET_RX_DROP, or a broken rx queue); -EAGAIN when the
 * rx ring has no buffer for it now (nothing consumed: keep the frame and
 * put it again later, after the driver adds rx buffers); -EINVAL when
 * @f->hdr asks for an offload the driver did not negotiate for rx (the
 * caller's mistake, nothing counted); -EBUSY when an rx burst is open on
 * another queue (flush it first).
 */
VQCORE_API int vqcore_net_rx_put(struct vqcore_net *net, struct vqcore_vq *rxq,
				 const struct vqcore_net_frame *f, unsigned more);

/**
 * vqcore_net_rx_flush() - close the rx burst: return the filled rx buffers.
 * @net: helper.
 * @rxq: the rx queue of the burst.
 *
 * The rx buffers fetched and not filled go back with one
 * vqcore_vq_unget(); the filled ones are returned with one
 * vqcore_vq_put_used() (which marks the dirty log), then the driver is
 * signalled once.  Nothing happens when no rx burst is open.
 *
 * Return: the number of frames returned; -EINVAL if the open burst is on
 * another queue; or an error from the queue (the frames are then lost
 * with the broken queue, and counted in drop_rx_error).
 */
VQCORE_API int vqcore_net_rx_flush(struct vqcore_net *net, struct vqcore_vq *rxq);

/**
 * vqcore_net_forward() - move one burst of frames from tx to rx.
 * @net: helper, with no burst open.
 * @txq: the queue frames come from.
 * @rxq: the queue they go to (NULL: every frame is dropped, counted in
 *     drop_rx_error).
 * @rx_full: set to true when it stopped because @rxq had no buffer (the
 *     frames left wait on the tx ring: ask for an rx kick), false
 *     otherwise.  May be NULL.
 *
 * vqcore_net_tx_get(), vqcore_net_rx_put() for each frame (one copy per
 * byte, from the tx buffer straight into the rx buffers, the tx header's
 * offloads passed on), vqcore_net_rx_flush(), vqcore_net_tx_done(): one
 * get_bufs, put_used and signal per queue per burst in the usual case.
 * With VQCORE_NET_RX_DROP, frames with no rx buffer are dropped instead.
 *
 * Return: the tx buffers consumed (frames moved or dropped), 0 when the tx
 * ring is empty or rx is full, -EBUSY when a tx burst is open or an rx
 * burst is open on another queue, or a negative error from the tx queue.
 */
VQCORE_API int vqcore_net_forward(struct vqcore_net *net, struct vqcore_vq *txq,
				  struct vqcore_vq *rxq, bool *rx_full);

/**
 * vqcore_net_get_stats() - read the counters.
 * @net: helper.
 * @out: receives them; the caller sets @out->sz first.
 *
 * Return: 0, -EINVAL (@out NULL or @out->sz too small) or -E2BIG (a larger
 * @out with a non-zero tail); @out is then unchanged.
 * Threading: the helper's thread (the counters are plain integers).
 */
VQCORE_API int vqcore_net_get_stats(const struct vqcore_net *net,
				    struct vqcore_net_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_NET_H */
