/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontends: wire format and the backend's private state.
 * Hosted code (may call the OS).  Message layouts follow
 * docs/interop/vhost-user.rst; all numbers are in host byte order.
 */
#ifndef VQ_VU_PRIV_H
#define VQ_VU_PRIV_H

#include <sys/types.h>

#include "glue/glue.h"
#include "vqcore/os.h"
#include "vqcore/vhost_user.h"

/* A handler's return value: the reply is in the message. */
#define VU_REPLY 1

/* ---- wire format ---- */

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_state {
	uint32_t index;
	uint32_t num;
};

struct vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_region_desc {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region_desc regions[VQCORE_VU_MEM_TABLE_MAX];
};

struct vu_mem_single {
	uint64_t padding;
	struct vu_region_desc region;
};

struct vu_log {
	uint64_t size;
	uint64_t offset;
};

#define VU_CONFIG_HDR 12u
struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VQCORE_VU_CONFIG_MAX];
};

/* 24 bytes on the wire, as a 64-bit peer lays it out (a 32-bit
 * compiler would not pad it to 8 bytes by itself) */
struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

/* The payloads have one layout on every host (i686 aligns uint64_t to 4). */
_Static_assert(sizeof(struct vu_hdr) == 12, "vu_hdr is 12 bytes");
_Static_assert(sizeof(struct vu_addr) == 40, "vu_addr is 40 bytes");
_Static_assert(sizeof(struct vu_region_desc) == 32, "vu_region_desc is 32 bytes");
_Static_assert(sizeof(struct vu_memory) == 8 + 32 * VQCORE_VU_MEM_TABLE_MAX,
	       "vu_memory layout");
_Static_assert(sizeof(struct vu_mem_single) == 40, "vu_mem_single is 40 bytes");
_Static_assert(sizeof(struct vu_inflight) == 24, "vu_inflight is 24 bytes");

/* Largest payload read; a bigger one desynchronises nothing but is not
 * worth reading: the connection is dropped. */
#define VU_PAYLOAD_MAX 4096u

union vu_payload {
	uint64_t u64;
	struct vu_state state;
	struct vu_addr addr;
	struct vu_memory memory;
	struct vu_mem_single mem_single;
	struct vu_log log;
	struct vu_config config;
	struct vu_inflight inflight;
	uint8_t raw[VU_PAYLOAD_MAX];
};

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
	int fds[VQCORE_MAX_FDS];
	unsigned nfds;
};

/* Send one message (header + @size bytes of payload) with fds. */
VQ_HIDDEN int vu_send(int sock, uint32_t request, uint32_t flags,
		      const void *payload, uint32_t size, const int *fds,
		      unsigned nfds);
/* Receive one message; fds land in m->fds.  Returns 0 or -errno. */
VQ_HIDDEN int vu_recv(int sock, struct vu_msg *m);
VQ_HIDDEN void vu_close_fds(struct vu_msg *m);

/* ---- backend state ---- */

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
	void *map;          /* mapping of the file from offset 0 */
	size_t map_size;
	int fd;
	dev_t st_dev;
	ino_t st_ino;
};

struct vu_queue {
	uint16_t num;             /* SET_VRING_NUM, 0 = not set */
	uint32_t base;            /* SET_VRING_BASE / last GET_VRING_BASE */
	bool addr_set;
	uint32_t addr_flags;
	uint64_t desc_uva, avail_uva, used_uva, log_gpa;
	int kick_fd, call_fd, err_fd;
	int kick_listed;          /* kick_fd as the last vqcore_vu_get_fds() gave it, or -1 */
	int kick_parked;          /* a dropped kick fd a poll set may still hold, or -1 */
	bool started;             /* SET_VRING_KICK seen, no GET_VRING_BASE since */
	bool enable;              /* SET_VRING_ENABLE */
	bool err_signalled;
	struct vqcore_vq *vq;     /* non-NULL while running */
	uint32_t start_base;      /* vqcore_vq_get_base() when it started */
	bool moved;               /* a buffer was fetched since it started */
	bool hinted;              /* the unshared-memory hint was logged */
	/* inflight tracking (area given by SET_INFLIGHT_FD) */
	void *inflight;
	uint64_t inflight_counter;
	uint16_t *pending;        /* ids found in flight at start, by counter */
	unsigned npending;
	struct vu_resub *resub;   /* those buffers, fetched again at start */
	unsigned nresub;
	unsigned resub_next;      /* next one vqcore_vu_get_bufs() hands out */
};

/* A buffer a previous backend left in flight, fetched again (by its chain
 * start) when the queue started, waiting to be handed to the device. */
struct vu_resub {
	struct vhost_buf buf;
	struct iovec *iov;
	unsigned niov;
};

struct vqcore_vu_dev {
	struct vqcore_vu_ops ops;
	void *opaque;
	unsigned flags;
	unsigned nq;
	char path[108];
	bool server;              /* listening socket at path */
	bool single;              /* vqcore_vu_new_fd(): one connection only */
	int listen_fd;
	int sock;
	int stop_fd;
	int epfd;                 /* vqcore_vu_run()'s epoll */
	bool in_run;              /* vqcore_vu_run() drives the device */
	bool fds_changed;
	bool stop;
	bool proto_error;         /* last disconnect was caused by the peer */
	/* vqcore_vu_connected(), read from any thread: set (release) once a
	 * connection is up, cleared once a disconnect is complete */
	int connected;
	/* inside vqcore_vu_run(); cleared (release) as its last access to the
	 * device, vqcore_vu_free() waits for that */
	int loop_running;

	uint64_t dev_features;    /* offered */
	uint64_t features;        /* acked */
	uint64_t pf_mask;
	uint64_t pfeatures;       /* acked protocol features */

	struct vqcore_mem *mem;
	struct vu_region *regions; /* VQCORE_VU_MAX_MEM_SLOTS, unsorted */
	unsigned nregions;

	void *log_map;            /* mapping of the log file from offset 0 */
	size_t log_map_size;
	uint8_t *log_bitmap;      /* log_map + the log offset */
	uint64_t log_size;        /* bitmap bytes */
	int log_fd;
	int reply_fd;             /* fd to send with the reply */

	void *inflight_map;
	size_t inflight_map_size;
	uint16_t inflight_nq;
	uint16_t inflight_qsize;
	uint64_t inflight_offset;

	/* the backend's own inflight file (vqcore_vu_set_inflight_file()),
	 * used when the front-end sends no area */
	uint8_t *local_map;
	size_t local_map_size;
	uint16_t local_qsize;
	uint64_t local_regions;   /* offset of queue 0's region in it */
	int local_fd;             /* kept open: it holds the file's lock */

	/* the message being handled: read and handled on the control thread
	 * only, one at a time, so one buffer serves every message */
	struct vu_msg msg;

	struct vu_queue q[];
};

/* inflight.c */
VQ_HIDDEN int vu_inflight_get(struct vqcore_vu_dev *d, struct vu_msg *m,
			      int *reply_fd);
VQ_HIDDEN int vu_inflight_set(struct vqcore_vu_dev *d, struct vu_msg *m);
VQ_HIDDEN void vu_inflight_unmap(struct vqcore_vu_dev *d);
VQ_HIDDEN void vu_inflight_local_close(struct vqcore_vu_dev *d);
VQ_HIDDEN void vu_inflight_queue_drop(struct vqcore_vu_dev *d, unsigned qi);
VQ_HIDDEN void vu_inflight_queue_start(struct vqcore_vu_dev *d, unsigned qi);
VQ_HIDDEN void vu_inflight_fetched(struct vqcore_vu_dev *d, unsigned qi,
				   const struct vhost_buf *bufs, unsigned n);
VQ_HIDDEN void vu_inflight_used_begin(struct vqcore_vu_dev *d, unsigned qi,
				      const struct vhost_buf *bufs, unsigned n);
VQ_HIDDEN void vu_inflight_resub_free(struct vu_queue *q);
VQ_HIDDEN int vu_inflight_take_resub(struct vqcore_vu_dev *d, unsigned qi,
				     struct vhost_buf *bufs, unsigned max_bufs,
				     struct iovec *iov, unsigned max_iov);
VQ_HIDDEN void vu_inflight_used_end(struct vqcore_vu_dev *d, unsigned qi,
				    const struct vhost_buf *bufs, unsigned n);

VQ_HIDDEN void vu_inflight_unget(struct vqcore_vu_dev *d, unsigned qi,
				  const struct vhost_buf *bufs, unsigned n);
/* backend.c: the hooks a queue with an inflight area runs through */
struct vq_hooks;
VQ_HIDDEN extern const struct vq_hooks vu_hooks;

/* signal.c: take @d out of the vqcore_vu_stop_on_signal() table. */
VQ_HIDDEN void vu_signal_forget(struct vqcore_vu_dev *d);

#endif /* VQ_VU_PRIV_H */
