/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: vhost-user frontends.
 *
 * vhost-user is the unix-socket protocol through which QEMU, DPDK
 * virtio-user, cloud-hypervisor and crosvm hand a virtio device to another
 * process (QEMU docs/interop/vhost-user.rst).  This header has both ends:
 *
 *  - the BACKEND (vqcore_vu_*): a device process.  The library speaks the
 *    protocol (features, memory table with fds, vring setup, kick/call/err
 *    eventfds, vring base, REPLY_ACK, config space, dirty log, inflight
 *    tracking) and hands the device ready queues (struct vqcore_vq, see
 *    vq.h).  A device is a struct of optional callbacks; the required parts
 *    (socket, queue count, features) are arguments of vqcore_vu_new().
 *
 *  - the CLIENT (vqcore_vuc_*): the driver side, like DPDK virtio-user.  It
 *    creates guest memory, connects to any vhost-user backend, negotiates,
 *    sets up rings with the driver-side queue API (drvq.h) and moves
 *    buffers.  Tests, benchmarks and examples use it to drive backends.
 *
 * Every message from the peer is untrusted: a malformed one gets an error
 * reply (REPLY_ACK, or an empty payload for requests that have a reply
 * body) or, when the stream can no longer be trusted, a disconnect.  Fds
 * that come with a refused message are closed.
 *
 * Threading (backend): one device is driven by one thread, the one that
 * calls vqcore_vu_run() or vqcore_vu_dispatch().  Every callback runs on
 * that thread.  The memory table is changed only there, between callbacks;
 * a device that processes queues on other threads must stop using a queue
 * in its queue_stopped callback and must not touch guest memory while the
 * loop thread handles a message (see vqcore_vu_ops.mem_changed).
 *
 * Lifecycle (backend), for a device with worker threads:
 *  - Any thread, any time: vqcore_vu_stop(), vqcore_vu_connected() (once
 *    it turns false after true, the disconnect is complete: queues
 *    stopped, memory table empty, fds closed), vqcore_vu_opaque(), and
 *    vqcore_mem_count() on vqcore_vu_mem().
 *  - Workers may use a queue (vqcore_vu_get_bufs(), vqcore_vu_put_used(),
 *    the vq.h calls on it) between its queue_started and queue_stopped
 *    callbacks, and must not touch guest memory between mem_changed(true)
 *    and mem_changed(false).  Those callbacks are the handshakes: the
 *    device returns from queue_stopped / mem_changed(true) only once its
 *    workers are out; the library frees the queue or changes the table
 *    after they return (SET_MEM_TABLE, ADD/REM_MEM_REG, even of the
 *    region that holds the rings: the queue then reports it is broken).
 *  - SET_VRING_CALL needs no callback: the backend swaps the fd with
 *    vqcore_vq_set_call_fd(), which waits for a signal in progress on a
 *    worker, and only then closes the old fd.  Workers keep signalling.
 *  - Kick fds and the err fd are used by the loop thread only.  A kick fd
 *    being replaced or dropped (SET_VRING_KICK, GET_VRING_BASE, reset)
 *    is taken out of vqcore_vu_run()'s epoll set before it is closed; the
 *    err fd is signalled after a kick callback or when SET_VRING_ERR
 *    installs one on an already broken queue, never from a worker's
 *    vqcore_vu_get_bufs().  A caller-run loop: the library may close an fd
 *    of the set inside vqcore_vu_dispatch(); fetch the set again when it
 *    returns 1 and prefer poll() (an epoll set keeps a closed eventfd that
 *    the front-end still holds).
 *  - vqcore_vu_queue(), vqcore_vu_inflight_pending() and every other call
 *    belong to the loop thread (and the callbacks).
 *  - vqcore_vu_free() may be called while vqcore_vu_run() runs on
 *    another thread: it stops the loop and waits until vqcore_vu_run()
 *    has let go of the device (that thread then only returns).  Not from
 *    a callback (the loop thread would wait for itself), and not while a
 *    caller-run loop may still call vqcore_vu_dispatch().  It then stops
 *    every queue through queue_stopped, so it waits for the workers
 *    exactly as far as the device's callback does, and frees.
 */
#ifndef VQCORE_VHOST_USER_H
#define VQCORE_VHOST_USER_H

#include "vqcore/common.h"
#include "vqcore/mem.h"
#include "vqcore/vq.h"
#include "vqcore/drvq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Protocol constants (from the specification), for devices and tests.
 * ------------------------------------------------------------------------ */

/** Feature bit that announces protocol-feature negotiation. */
#define VQCORE_VU_F_PROTOCOL_FEATURES 30
/** Feature bit: the front-end may ask the back-end to log dirty pages. */
#define VQCORE_VU_F_LOG_ALL 26

/** Protocol feature bits (VHOST_USER_PROTOCOL_F_*). */
enum vqcore_vu_protocol_feature {
	VQCORE_VU_PF_MQ = 0,
	VQCORE_VU_PF_LOG_SHMFD = 1,
	VQCORE_VU_PF_RARP = 2,
	VQCORE_VU_PF_REPLY_ACK = 3,
	VQCORE_VU_PF_MTU = 4,
	VQCORE_VU_PF_BACKEND_REQ = 5,
	VQCORE_VU_PF_CROSS_ENDIAN = 6,
	VQCORE_VU_PF_CRYPTO_SESSION = 7,
	VQCORE_VU_PF_PAGEFAULT = 8,
	VQCORE_VU_PF_CONFIG = 9,
	VQCORE_VU_PF_BACKEND_SEND_FD = 10,
	VQCORE_VU_PF_HOST_NOTIFIER = 11,
	VQCORE_VU_PF_INFLIGHT_SHMFD = 12,
	VQCORE_VU_PF_RESET_DEVICE = 13,
	VQCORE_VU_PF_INBAND_NOTIFICATIONS = 14,
	VQCORE_VU_PF_CONFIGURE_MEM_SLOTS = 15,
	VQCORE_VU_PF_STATUS = 16,
};

/** Front-end requests (VHOST_USER_*). */
enum vqcore_vu_request {
	VQCORE_VU_GET_FEATURES = 1,
	VQCORE_VU_SET_FEATURES = 2,
	VQCORE_VU_SET_OWNER = 3,
	VQCORE_VU_RESET_OWNER = 4,
	VQCORE_VU_SET_MEM_TABLE = 5,
	VQCORE_VU_SET_LOG_BASE = 6,
	VQCORE_VU_SET_LOG_FD = 7,
	VQCORE_VU_SET_VRING_NUM = 8,
	VQCORE_VU_SET_VRING_ADDR = 9,
	VQCORE_VU_SET_VRING_BASE = 10,
	VQCORE_VU_GET_VRING_BASE = 11,
	VQCORE_VU_SET_VRING_KICK = 12,
	VQCORE_VU_SET_VRING_CALL = 13,
	VQCORE_VU_SET_VRING_ERR = 14,
	VQCORE_VU_GET_PROTOCOL_FEATURES = 15,
	VQCORE_VU_SET_PROTOCOL_FEATURES = 16,
	VQCORE_VU_GET_QUEUE_NUM = 17,
	VQCORE_VU_SET_VRING_ENABLE = 18,
	VQCORE_VU_SEND_RARP = 19,
	VQCORE_VU_NET_SET_MTU = 20,
	VQCORE_VU_SET_BACKEND_REQ_FD = 21,
	VQCORE_VU_IOTLB_MSG = 22,
	VQCORE_VU_SET_VRING_ENDIAN = 23,
	VQCORE_VU_GET_CONFIG = 24,
	VQCORE_VU_SET_CONFIG = 25,
	VQCORE_VU_GET_INFLIGHT_FD = 31,
	VQCORE_VU_SET_INFLIGHT_FD = 32,
	VQCORE_VU_RESET_DEVICE = 34,
	VQCORE_VU_GET_MAX_MEM_SLOTS = 36,
	VQCORE_VU_ADD_MEM_REG = 37,
	VQCORE_VU_REM_MEM_REG = 38,
};

/** Header flags: version 1 in bits 0-1, reply in bit 2, need_reply in bit 3. */
#define VQCORE_VU_VERSION 0x1u
#define VQCORE_VU_FLAG_REPLY 0x4u
#define VQCORE_VU_FLAG_NEED_REPLY 0x8u
/** In SET_VRING_KICK/CALL/ERR: bits 0-7 are the index, bit 8 means "no fd". */
#define VQCORE_VU_VRING_IDX_MASK 0xffu
#define VQCORE_VU_VRING_NOFD 0x100u
/** Regions SET_MEM_TABLE can carry. */
#define VQCORE_VU_MEM_TABLE_MAX 8
/** Regions the backend accepts in all (GET_MAX_MEM_SLOTS). */
#define VQCORE_VU_MAX_MEM_SLOTS 509
/** Largest config space the backend moves in GET/SET_CONFIG. */
#define VQCORE_VU_CONFIG_MAX 256
/** Largest queue count a backend may have. */
#define VQCORE_VU_MAX_QUEUES 256

/* ------------------------------------------------------------------------
 * Backend
 * ------------------------------------------------------------------------ */

struct vqcore_vu_dev;

/**
 * struct vqcore_vu_ops - what a device does; every member is optional.
 * @sz: sizeof(struct vqcore_vu_ops) (the sized-struct rule in vqcore/common.h).
 * @set_features: the front-end acknowledged @features (a subset of what
 *     the device offered, without the vhost-user-only bits 26 and 30;
 *     vqcore_vu_features() returns the same value afterwards).  The
 *     library has already refused, with a log line, a set that is not a
 *     subset of the offer or that contradicts itself (RING_PACKED without
 *     VERSION_1).  Return 0, or a negative errno to refuse them (error
 *     reply).
 * @get_config: fill @buf with @len bytes of config space from @offset.
 *     Return 0 or a negative errno (the front-end gets an error).  Without
 *     it the CONFIG protocol feature is not offered.
 * @set_config: the front-end writes @len bytes at @offset; @flags is 0 for
 *     a guest write, 1 for live migration.  Return 0 or a negative errno.
 * @queue_started: queue @qidx is running (configured, started by the
 *     front-end and enabled): @vq is ready.  Buffers may already wait in
 *     it; the library calls @kick right after this callback for that
 *     reason.  @vq stays valid until @queue_stopped.
 * @queue_stopped: queue @qidx stops (GET_VRING_BASE, disable, reset or
 *     disconnect).  Buffers the device still holds must be returned with
 *     vqcore_vu_put_used() inside this callback or they are forgotten
 *     (with inflight tracking they are re-submitted after a reconnect).
 *     vqcore_vq_put_used() on @vq does the same.  @vq is freed after it
 *     returns.
 * @kick: the driver kicked queue @qidx (its kick eventfd was readable and
 *     has been drained), or the queue just started.  Typical body:
 *     do { vqcore_vq_disable_notify(); while (vqcore_vq_get_bufs() > 0)
 *     { work; vqcore_vq_put_used(); vqcore_vq_signal(); } } while
 *     (vqcore_vq_enable_notify());  the last step re-arms kicks (with
 *     EVENT_IDX the driver kicks only after that).  Queues set up
 *     without a kick fd (polling) get no kicks after the first: the
 *     device polls them.
 * @connected: a front-end connected.
 * @disconnected: the front-end went away; every running queue got
 *     @queue_stopped before, and the memory table is empty after.
 * @mem_changed: the memory table or the dirty log is about to change
 *     (@before true) and has changed (@before false).  A device with
 *     worker threads pauses them between the two calls (a worker may
 *     finish a vqcore_vu_put_used() first: its writes are logged in the
 *     old log, which stays mapped until after @before).  The old
 *     mappings (regions, log) are unmapped between the two calls.
 * @send_rarp: after a live migration the front-end asks the device to
 *     announce the guest (SEND_RARP): broadcast a RARP frame with @mac as
 *     source and target hardware address into the guest's network, so
 *     that switches learn where it lives now (a net device injects it
 *     like a received frame).  QEMU sends it only when the guest did not
 *     negotiate VIRTIO_NET_F_GUEST_ANNOUNCE.  Return 0 or a negative
 *     errno (an error reply when the front-end asked for one).  Without
 *     it the RARP protocol feature is not offered.
 *
 * Every callback gets the device; vqcore_vu_opaque() returns the caller's
 * pointer given to vqcore_vu_new().
 */
struct vqcore_vu_ops {
	size_t sz;
	int (*set_features)(struct vqcore_vu_dev *dev, uint64_t features);
	int (*get_config)(struct vqcore_vu_dev *dev, uint32_t offset,
			  void *buf, uint32_t len);
	int (*set_config)(struct vqcore_vu_dev *dev, uint32_t offset,
			  const void *buf, uint32_t len, uint32_t flags);
	void (*queue_started)(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq);
	void (*queue_stopped)(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq);
	void (*kick)(struct vqcore_vu_dev *dev, unsigned qidx,
		     struct vqcore_vq *vq);
	void (*connected)(struct vqcore_vu_dev *dev);
	void (*disconnected)(struct vqcore_vu_dev *dev);
	void (*mem_changed)(struct vqcore_vu_dev *dev, bool before);
	int (*send_rarp)(struct vqcore_vu_dev *dev, const uint8_t mac[6]);
};

/** vqcore_vu_new() flags. */
#define VQCORE_VU_SERVER 0x0      /* listen on @path; accept one front-end at a time */
#define VQCORE_VU_CLIENT 0x1      /* connect to @path (the front-end listens) */
#define VQCORE_VU_NO_INFLIGHT 0x2 /* do not offer INFLIGHT_SHMFD */
#define VQCORE_VU_NO_PACKED 0x4   /* never negotiate VIRTIO_F_RING_PACKED */

/**
 * vqcore_vu_new() - create a vhost-user backend device.
 * @path: unix socket path.  Server mode (the default) removes a stale
 *     socket file, binds and listens; client mode connects, retrying for
 *     up to a second while the path does not exist yet.
 * @flags: VQCORE_VU_SERVER or VQCORE_VU_CLIENT, plus VQCORE_VU_NO_*.
 * @num_queues: queues the device has, 1..VQCORE_VU_MAX_QUEUES (reported
 *     by GET_QUEUE_NUM).
 * @features: virtio features the device offers.  The library adds
 *     VQCORE_VU_F_PROTOCOL_FEATURES and VQCORE_VU_F_LOG_ALL, and removes
 *     VQCORE_F_ACCESS_PLATFORM (no IOTLB support yet) and, with
 *     VQCORE_VU_NO_PACKED or when the library was built without the
 *     packed format, VQCORE_F_RING_PACKED.  Offer
 *     VQCORE_F_VERSION_1 yourself; VQCORE_RING_FEATURES names every ring
 *     feature the library implements.  A front-end that passes the offer
 *     through (QEMU's generic vhost-user devices) gives the guest packed
 *     rings whenever VQCORE_F_RING_PACKED is offered: the backend decides
 *     the format there, not the front-end's packed=on/off.
 * @ops: callbacks (copied; NULL for none).
 * @opaque: caller pointer, returned by vqcore_vu_opaque().
 * @out: receives the device.
 *
 * Return: 0, -E2BIG (a larger @ops with a non-zero tail), -EINVAL (bad
 * argument, @ops->sz too small, path too long, or @features that
 * contradict themselves: VQCORE_F_RING_PACKED without VQCORE_F_VERSION_1,
 * logged), -ENOMEM, or the -errno of socket/bind/listen/connect.
 * Thread-safe.
 */
VQCORE_API int vqcore_vu_new(const char *path, unsigned flags,
			     unsigned num_queues, uint64_t features,
			     const struct vqcore_vu_ops *ops, void *opaque,
			     struct vqcore_vu_dev **out);

/**
 * vqcore_vu_new_fd() - create a backend over an already connected socket.
 * @sock: a connected unix stream socket (taken over: closed by
 *     vqcore_vu_free()), for example from --fd=N or socketpair().
 * Other parameters and return value: as vqcore_vu_new().  The device
 * serves this one connection; after a disconnect vqcore_vu_run() returns.
 */
VQCORE_API int vqcore_vu_new_fd(int sock, unsigned flags, unsigned num_queues,
				uint64_t features,
				const struct vqcore_vu_ops *ops, void *opaque,
				struct vqcore_vu_dev **out);

/**
 * vqcore_vu_free() - stop every queue, drop the connection and free.
 * @dev: device, or NULL.  In server mode the socket file is unlinked.
 *
 * If vqcore_vu_run() runs on another thread, this stops it and waits
 * until it has returned (a vqcore_vu_run() that has not started yet is
 * not seen: start it before).  Not from a callback, nor while a
 * caller-run loop may call vqcore_vu_dispatch().
 *
 * Every running queue gets queue_stopped, then the disconnected callback
 * runs; devices with worker threads wait for them in those callbacks
 * (see "Lifecycle" above).  Worker threads may run until then.
 */
VQCORE_API void vqcore_vu_free(struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_set_protocol_features() - restrict the protocol features offered.
 * @dev: device, before the first connection.
 * @mask: bits of enum vqcore_vu_protocol_feature the device may offer; the
 *     library offers the intersection with what it implements (MQ,
 *     LOG_SHMFD, RARP with @send_rarp, REPLY_ACK, CONFIG with
 *     @get_config, INFLIGHT_SHMFD, RESET_DEVICE, CONFIGURE_MEM_SLOTS).
 */
VQCORE_API void vqcore_vu_set_protocol_features(struct vqcore_vu_dev *dev,
						uint64_t mask);

/**
 * vqcore_vu_set_inflight_file() - keep the inflight record in a file of
 * the backend's own.
 * @dev: device, while none of its queues runs: before vqcore_vu_run()
 *     (in client mode too: vqcore_vu_new() connects, but nothing starts
 *     before the loop runs), or from a callback while none runs.
 * @path: the file (created with mode 0600 if missing), or NULL to stop
 *     using one.
 * @max_queue_size: the largest queue size recorded, 1..32768; a larger
 *     queue runs without a record (logged).
 *
 * For front-ends that keep no inflight area for the backend, such as
 * QEMU's vhost-user-net and DPDK's virtio-user: the library keeps every
 * queue's inflight record (the layout of the spec's inflight I/O
 * tracking) in this file, mapped shared, so that the record outlives the
 * process, SIGKILL included.  A backend restarted with the same file then
 * resumes each queue where the previous one left it and hands the buffers
 * it left in flight out again first (vqcore_vu_get_bufs()), exactly as
 * with a front-end's area.  A packed ring needs this to survive a backend
 * restart under QEMU: QEMU cannot read a packed ring's position when its
 * backend died, and sends the new one the ring's start.
 *
 * A queue's record is used only when the same ring comes back: the
 * front-end's ring addresses (SET_VRING_ADDR) and size and the acked
 * features match the record.  A queue stopped by GET_VRING_BASE, or a
 * device reset, drops its record: the front-end holds the position then.
 * An area the front-end sends (SET_INFLIGHT_FD) takes precedence for the
 * connection.  The file is locked (flock()) for the device's life: one
 * backend per file; a live-migration target needs its own.
 *
 * Return: 0; -EINVAL (@max_queue_size out of range); -EBUSY (a queue
 * runs, or another device holds the file's lock); -ENOMEM; or
 * the -errno of open, flock, ftruncate or mmap.  On error the device
 * keeps no file.  Thread: the loop thread (like every call but the ones
 * the Lifecycle list names).
 */
VQCORE_API int vqcore_vu_set_inflight_file(struct vqcore_vu_dev *dev,
					   const char *path,
					   unsigned max_queue_size);

/**
 * vqcore_vu_run() - the library's own event loop (epoll).
 * @dev: device.
 *
 * Waits on the listening or connected socket and the kick eventfds and
 * calls the callbacks.  In server mode a disconnect stops the queues and
 * accepts the next front-end (a restarted QEMU reconnects); it returns
 * only after vqcore_vu_stop().  In client mode and for vqcore_vu_new_fd()
 * it also returns when the front-end disconnects.
 *
 * Return: 0 after vqcore_vu_stop() or a disconnect, -ECONNRESET when the
 * connection was dropped because of a protocol error (client and fd
 * modes), or a negative errno from epoll or accept.
 */
VQCORE_API int vqcore_vu_run(struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_stop() - make vqcore_vu_run() return.
 * @dev: device.
 *
 * Writes the device's stop eventfd: vqcore_vu_run() returns 0 as soon as
 * its epoll_wait() sees it, after the callback that runs (if any) has
 * returned.  A stop that comes before vqcore_vu_run() is kept: the next
 * vqcore_vu_run() returns at once (so a signal that arrives just before
 * the loop starts is not lost).
 *
 * Threading: safe from any thread and async-signal-safe: it makes one
 * write(2) and leaves errno as it found it, so a signal handler may call
 * it (or use vqcore_vu_stop_on_signal()).  Not after vqcore_vu_free().
 */
VQCORE_API void vqcore_vu_stop(struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_stop_on_signal() - stop vqcore_vu_run() when a signal comes.
 * @dev: device.
 * @signo: the signal, for example SIGINT or SIGTERM (not SIGKILL, SIGSTOP).
 *
 * Installs a handler (sigaction, SA_RESTART) whose only work is
 * vqcore_vu_stop(@dev).  Call it once per signal; vqcore_vu_free() puts
 * back the action the signal had before and waits for a handler running
 * on another thread to finish.  The handler is process-wide, as every
 * signal disposition is: one device per signal number.
 *
 * SIGPIPE needs nothing: the library sends with MSG_NOSIGNAL, so a
 * front-end that vanishes is a closed connection (EPIPE), never a signal.
 *
 * Return: 0; -EINVAL for a bad @signo; -EBUSY when another device has
 * the signal; or the -errno of sigaction().
 * Threading: call it from one thread, before vqcore_vu_run().
 */
VQCORE_API int vqcore_vu_stop_on_signal(struct vqcore_vu_dev *dev, int signo);

/** What a file descriptor from vqcore_vu_get_fds() is for. */
enum vqcore_vu_fd_kind {
	VQCORE_VU_FD_LISTEN = 0, /* listening socket: readable = a front-end connects */
	VQCORE_VU_FD_SOCKET = 1, /* connection: readable = a message (or hang-up) */
	VQCORE_VU_FD_KICK = 2,   /* kick eventfd of queue @qidx */
};

/**
 * struct vqcore_vu_fd - one fd to watch for readability.
 * @fd: the descriptor.  @kind: enum vqcore_vu_fd_kind.
 * @qidx: queue index for VQCORE_VU_FD_KICK, else 0.
 */
struct vqcore_vu_fd {
	int fd;
	unsigned kind;
	unsigned qidx;
};

/**
 * vqcore_vu_get_fds() - the fds to watch when the caller runs the loop.
 * @dev: device.  @fds: array to fill.  @max: its size.
 *
 * Watch each for EPOLLIN (and hang-up); call vqcore_vu_dispatch() when
 * one is ready.  The set changes when dispatch returns 1: then remove
 * every fd of the previous set from your poll set (EPOLL_CTL_DEL) and
 * fetch the set again.  A kick fd the set no longer holds (its queue
 * stopped, or the front-end replaced it) stays open until this next call,
 * so that removing it works: the front-end still holds the eventfd, and
 * an epoll registration of a closed fd would outlive it and keep firing.
 * With poll() nothing needs removing.
 *
 * Return: the number of fds (may exceed @max: then only @max are filled).
 */
VQCORE_API int vqcore_vu_get_fds(struct vqcore_vu_dev *dev,
				 struct vqcore_vu_fd *fds, unsigned max);

/**
 * vqcore_vu_dispatch() - handle readiness of one fd from vqcore_vu_get_fds().
 * @dev: device.  @fd: the ready descriptor.
 *
 * Accepts a connection, handles one message, or drains a kick eventfd and
 * calls the kick callback.  Unknown fds are ignored.
 *
 * Return: 0; 1 when the fd set changed (a queue started or stopped, a
 * connection came or went); or -ECONNRESET when the connection was closed
 * (in server mode the listening socket is watched again; the return is
 * then 1 instead).
 */
VQCORE_API int vqcore_vu_dispatch(struct vqcore_vu_dev *dev, int fd);

/** vqcore_vu_opaque() - the @opaque given at creation.  @dev: device. */
VQCORE_API void *vqcore_vu_opaque(const struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_features() - the virtio features the front-end acknowledged,
 * as the set_features callback received them: without the vhost-user
 * bits VQCORE_VU_F_PROTOCOL_FEATURES (30) and VQCORE_VU_F_LOG_ALL (26).
 * 0 before SET_FEATURES.  @dev: device.
 */
VQCORE_API uint64_t vqcore_vu_features(const struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_protocol_features() - negotiated protocol features.
 * @dev: device.
 */
VQCORE_API uint64_t vqcore_vu_protocol_features(const struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_mem() - the guest memory table (GPA -> host), owned by the
 * device; valid for the device's life, contents change on the loop
 * thread only.  @dev: device.
 */
VQCORE_API struct vqcore_mem *vqcore_vu_mem(const struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_queue() - the running queue @qidx, or NULL if it is not running.
 * @dev: device.  @qidx: index.  The loop thread and the callbacks; other
 * threads learn of queues through queue_started / queue_stopped.
 */
VQCORE_API struct vqcore_vq *vqcore_vu_queue(const struct vqcore_vu_dev *dev,
					     unsigned qidx);

/**
 * vqcore_vu_connected() - whether a front-end is connected.  @dev: device.
 *
 * Any thread.  True once a connection is accepted; false again only when
 * its disconnect is complete (every queue stopped, the memory table empty,
 * the connection's fds closed, the disconnected callback returned), and a
 * thread that reads false sees all of that.
 */
VQCORE_API bool vqcore_vu_connected(const struct vqcore_vu_dev *dev);

/**
 * vqcore_vu_get_bufs() - fetch buffers of a running queue.
 * @dev: device.  @qidx: queue.  Others: as vqcore_vq_get_bufs().
 *
 * A thin alias of vqcore_vq_get_bufs() on vqcore_vu_queue(@dev, @qidx),
 * kept because it is in the released ABI; it also signals the queue's
 * error eventfd when the ring is broken.  Either name is restart safe:
 * on a queue with an inflight area (INFLIGHT_SHMFD) every fetch, return
 * and unget is recorded, whether the device calls vqcore_vu_get_bufs(),
 * vqcore_vq_get_bufs(), vqcore_vq_get_bufs_desc(), vqcore_vu_put_used(),
 * vqcore_vq_put_used() or vqcore_vq_unget(), and requests a previous
 * backend left in flight come first from vqcore_vq_get_bufs() (the _desc
 * variant refuses with -VQCORE_E_NOT_READY and a log line while they
 * wait).  Dirty logging and notification suppression are the queue's
 * own, the same for every name.
 *
 * Return: as vqcore_vq_get_bufs(), or -VQCORE_E_NOT_READY if the queue is
 * not running.  Threading: the loop thread, or a device worker between
 * queue_started and queue_stopped (see "Lifecycle").  A broken queue's
 * err eventfd is signalled by the loop thread, not here.
 */
VQCORE_API int vqcore_vu_get_bufs(struct vqcore_vu_dev *dev, unsigned qidx,
				  struct vhost_buf *bufs, unsigned max_bufs,
				  struct iovec *iov, unsigned max_iov);

/**
 * vqcore_vu_put_used() - return buffers of a running queue.
 * @dev: device.  @qidx: queue.  Others: as vqcore_vq_put_used().
 *
 * A thin alias of vqcore_vq_put_used() on vqcore_vu_queue(@dev, @qidx)
 * (released ABI); see vqcore_vu_get_bufs() for the inflight record.
 *
 * Return: as vqcore_vq_put_used(), or -VQCORE_E_NOT_READY.
 */
VQCORE_API int vqcore_vu_put_used(struct vqcore_vu_dev *dev, unsigned qidx,
				  const struct vhost_buf *bufs,
				  const uint32_t *lens, unsigned n);

/**
 * vqcore_vu_inflight_pending() - buffers a previous backend left in flight.
 * @dev: device.  @qidx: queue (configured with SET_INFLIGHT_FD).
 * @ids: receives the buffer ids (split: head indexes) in the order they
 *     were fetched.  @max: size of @ids.
 *
 * After a reconnect with an inflight area, these are the requests the
 * previous backend fetched and never completed (split: after the spec's
 * last-batch repair against the used index).  They are re-submitted:
 * when the queue starts they are fetched again from the ring, and
 * vqcore_vu_get_bufs() returns them, oldest first, before any new buffer;
 * complete them with vqcore_vu_put_used() like any other.  Packed limit:
 * a buffer whose descriptor slot a later buffer's used entry already
 * overwrote (out-of-order completion) cannot be read again and is dropped
 * with a warning.
 *
 * Return: the number of pending buffers (may exceed @max), 0 when there
 * is no inflight area.
 */
VQCORE_API int vqcore_vu_inflight_pending(const struct vqcore_vu_dev *dev,
					  unsigned qidx, uint16_t *ids,
					  unsigned max);

/* ------------------------------------------------------------------------
 * Client (driver side)
 * ------------------------------------------------------------------------ */

struct vqcore_vuc;

/** vqcore_vuc_config.flags. */
#define VQCORE_VUC_HUGETLB 0x1 /* guest memory on huge pages (memfd MFD_HUGETLB) */
#define VQCORE_VUC_INFLIGHT 0x2 /* ask for INFLIGHT_SHMFD: the backend keeps an
				 * inflight record, for vqcore_vuc_reconnect() */

/**
 * struct vqcore_vuc_config - how to create a client.
 * @sz: sizeof(struct vqcore_vuc_config) (the sized-struct rule in vqcore/common.h).
 * @mem_size: bytes of guest memory (memfd, shared with the backend); rings
 *     and the caller's buffers are allocated from it.  0: 16 MiB.
 * @flags: VQCORE_VUC_*.
 * @num_queues: queues to set up (the backend must have that many).
 * @queue_size: entries per queue (split: power of two).  0: 256.
 * @features: virtio features the client wants; it gets the intersection
 *     with the backend's offer (see vqcore_vuc_features()).  The format is
 *     packed when VQCORE_F_RING_PACKED ends up negotiated.
 * @protocol_features: protocol features wanted; 0 means all the client
 *     supports (MQ, REPLY_ACK, CONFIG, CONFIGURE_MEM_SLOTS, LOG_SHMFD,
 *     RARP).
 */
struct vqcore_vuc_config {
	size_t sz;
	uint64_t mem_size;
	unsigned flags;
	unsigned num_queues;
	uint16_t queue_size;
	uint64_t features;
	uint64_t protocol_features;
};

/**
 * vqcore_vuc_connect() - create guest memory, connect to a backend and
 * negotiate.
 * @path: the backend's socket (retries for up to a second while absent).
 * @cfg: configuration.  @out: receives the client.
 *
 * Sends SET_OWNER, GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES,
 * GET_QUEUE_NUM (checks the queue count) and SET_MEM_TABLE.  Queues are
 * not set up yet: see vqcore_vuc_start().
 *
 * Return: 0, -EINVAL, -E2BIG (a larger @cfg with a non-zero tail),
 * -ENOMEM, -ENOTSUP (the backend has too few queues),
 * -VQCORE_E_PROTO (bad reply), or a socket/memfd -errno.
 */
VQCORE_API int vqcore_vuc_connect(const char *path,
				  const struct vqcore_vuc_config *cfg,
				  struct vqcore_vuc **out);

/**
 * vqcore_vuc_connect_fd() - as vqcore_vuc_connect() over a connected
 * socket @sock (taken over).
 */
VQCORE_API int vqcore_vuc_connect_fd(int sock,
				     const struct vqcore_vuc_config *cfg,
				     struct vqcore_vuc **out);

/**
 * vqcore_vuc_start() - set up and start every queue.
 * @c: client.
 *
 * For each queue: lays out the ring in guest memory (and, with
 * VQCORE_F_INDIRECT_DESC, one indirect table of 32 entries per ring entry
 * for VQCORE_ADD_INDIRECT), creates the driver queue and the kick/call
 * eventfds, and sends SET_VRING_NUM, BASE, ADDR
 * (user addresses), KICK, CALL and SET_VRING_ENABLE.
 *
 * Return: 0, -ENOMEM (guest memory exhausted), or an error of the
 * exchange (the backend refused: -VQCORE_E_PROTO).
 */
VQCORE_API int vqcore_vuc_start(struct vqcore_vuc *c);

/**
 * vqcore_vuc_reconnect() - hand the running queues to a restarted backend.
 * @c: client, after vqcore_vuc_start().
 * @path: the backend's socket.
 * @timeout_ms: how long to retry while the socket is absent or refuses.
 *
 * For a backend that died (or was killed) and was started again: the old
 * connection is closed, a new one negotiated with the same features, the
 * same memory table sent, and with VQCORE_VUC_INFLIGHT the same inflight
 * area given back (SET_INFLIGHT_FD), so that the new backend completes the
 * requests the old one had taken.  Each vring is then set up again with
 * the same rings and eventfds and the base QEMU sends after a backend
 * crash (split: the ring's used index; packed: the stale base the queue
 * was last started or stopped with, e.g. 0x80008000): a backend with an
 * inflight area resumes at the position it recorded there.  The driver
 * queues are untouched: buffers still in flight are collected as usual
 * afterwards.
 *
 * Return: 0, -EINVAL (not started), -ENOTSUP (the backend now offers other
 * features or no inflight support), or a connect/exchange error.
 */
VQCORE_API int vqcore_vuc_reconnect(struct vqcore_vuc *c, const char *path,
				    int timeout_ms);

/**
 * vqcore_vuc_stop() - stop queue @qidx with GET_VRING_BASE.
 * @c: client.  @qidx: queue.  @base: receives the backend's base (or NULL).
 * Return: 0, -EINVAL, or an exchange error.
 */
VQCORE_API int vqcore_vuc_stop(struct vqcore_vuc *c, unsigned qidx,
			       uint32_t *base);

/**
 * vqcore_vuc_resume() - start queue @qidx again after vqcore_vuc_stop(),
 * like QEMU on `cont`: SET_VRING_NUM, SET_VRING_BASE with the base the
 * backend returned, ADDR, CALL, KICK (the same eventfds) and ENABLE.
 * @c: client, after vqcore_vuc_start().  @qidx: queue.
 * Return: 0, -EINVAL, or an exchange error.
 */
VQCORE_API int vqcore_vuc_resume(struct vqcore_vuc *c, unsigned qidx);

/** vqcore_vuc_free() - close the connection, free queues and memory. */
VQCORE_API void vqcore_vuc_free(struct vqcore_vuc *c);

/** vqcore_vuc_queue() - driver queue @qidx after vqcore_vuc_start(), or NULL. */
VQCORE_API struct vqcore_drvq *vqcore_vuc_queue(const struct vqcore_vuc *c,
						unsigned qidx);

/**
 * vqcore_vuc_call_fd() - the call eventfd of queue @qidx (the backend
 * signals it), or -1.  Poll it, vqcore_eventfd_drain() it, then collect
 * with vqcore_drvq_get_used().
 */
VQCORE_API int vqcore_vuc_call_fd(const struct vqcore_vuc *c, unsigned qidx);

/**
 * vqcore_vuc_wait() - wait until queue @qidx has used buffers.
 * @c: client.  @qidx: queue.  @timeout_ms: -1 for no limit.
 *
 * Re-arms interrupts with vqcore_drvq_enable_cb() (returning at once when
 * used buffers are already pending), then polls the call eventfd.
 * Collect with vqcore_drvq_get_used() afterwards.
 *
 * Return: 1 if buffers are pending or the eventfd fired (it is drained),
 * 0 on timeout, or -errno.
 */
VQCORE_API int vqcore_vuc_wait(struct vqcore_vuc *c, unsigned qidx,
			       int timeout_ms);

/**
 * vqcore_vuc_alloc() - take @size bytes of guest memory (bump allocator).
 * @c: client.  @size: bytes (> 0).  @align: power of two (0: 64).
 * @hva: receives the client's pointer to it (may be NULL).
 *
 * Return: the guest physical address, or 0 when memory is exhausted (GPA
 * 0 is never handed out).  Memory is never given back before
 * vqcore_vuc_free().
 */
VQCORE_API uint64_t vqcore_vuc_alloc(struct vqcore_vuc *c, uint64_t size,
				     uint64_t align, void **hva);

/**
 * vqcore_vuc_hva() - the client's pointer to guest address @gpa, or NULL
 * when [@gpa, @gpa+@len) is not inside guest memory.
 */
VQCORE_API void *vqcore_vuc_hva(const struct vqcore_vuc *c, uint64_t gpa,
				uint64_t len);

/** vqcore_vuc_mem() - the client's guest memory table. */
VQCORE_API struct vqcore_mem *vqcore_vuc_mem(const struct vqcore_vuc *c);

/** vqcore_vuc_features() - the negotiated virtio features. */
VQCORE_API uint64_t vqcore_vuc_features(const struct vqcore_vuc *c);

/** vqcore_vuc_protocol_features() - the negotiated protocol features. */
VQCORE_API uint64_t vqcore_vuc_protocol_features(const struct vqcore_vuc *c);

/** vqcore_vuc_format() - enum vqcore_format of the queues. */
VQCORE_API unsigned vqcore_vuc_format(const struct vqcore_vuc *c);

/**
 * vqcore_vuc_get_config() - read @len bytes of device config space.
 * @c: client.  @offset: start.  @buf: destination.  @len: 1..256.
 * Return: 0, -ENOTSUP (CONFIG not negotiated), -EIO (the backend returned
 * an error), or an exchange error.
 */
VQCORE_API int vqcore_vuc_get_config(struct vqcore_vuc *c, uint32_t offset,
				     void *buf, uint32_t len);

/**
 * vqcore_vuc_set_config() - write @len bytes of device config space.
 * @flags: 0 (guest write) or 1 (migration).  Waits for the backend's
 * answer when REPLY_ACK is negotiated.  Return: as vqcore_vuc_get_config().
 */
VQCORE_API int vqcore_vuc_set_config(struct vqcore_vuc *c, uint32_t offset,
				     const void *buf, uint32_t len,
				     uint32_t flags);

/**
 * vqcore_vuc_sock() - the connected socket, for sending hand-built
 * messages in tests.  @c: client.
 */
VQCORE_API int vqcore_vuc_sock(const struct vqcore_vuc *c);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_VHOST_USER_H */
