/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the vhost-user tests: a backend running vqcore_vu_run()
 * in a thread of the test process, raw unix-socket message helpers (hand-
 * built messages, real fds), and an fd counter over /proc/self/fd.
 */
#ifndef VU_HARNESS_H
#define VU_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vqcore/vqcore.h"

struct vu_harness {
	struct vqcore_vu_dev *dev;
	pthread_t thread;
	int run_ret;
	char dir[64];
	char path[108];
};

/* Create a server-mode backend on a fresh socket path and run it. */
int vu_harness_start(struct vu_harness *h, unsigned flags, unsigned nq,
		     uint64_t features, const struct vqcore_vu_ops *ops,
		     void *opaque);
/* The same, the backend keeping its inflight record in @inflight_file
 * (vqcore_vu_set_inflight_file() with @qsize) before it runs. */
int vu_harness_start_file(struct vu_harness *h, unsigned flags, unsigned nq,
			  uint64_t features, const struct vqcore_vu_ops *ops,
			  void *opaque, const char *inflight_file, unsigned qsize);
/* vqcore_vu_stop(), join, free, remove the directory. */
void vu_harness_stop(struct vu_harness *h);

/* Open /proc/self/fd entries. */
int vu_count_fds(void);

/* Fds registered in the process's epoll sets (the "tfd:" lines of
 * /proc/self/fdinfo of every epoll fd), or -errno. */
int vu_epoll_watch_count(void);

/* Raw connection to the harness backend; returns the socket or -errno. */
int vu_raw_connect(const struct vu_harness *h);
/* Send header + payload (+fds).  Returns 0 or -errno. */
int vu_raw_send(int sock, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned nfds);
/* Receive a reply; payload into @buf (up to @max), size into *size, fds
 * into @fds (up to 4, count in *nfds; may be NULL to close them).  Returns
 * 0, -ETIMEDOUT after @timeout_ms, -ECONNRESET on EOF, or -errno. */
int vu_raw_recv(int sock, uint32_t *req, uint32_t *flags, void *buf,
		uint32_t max, uint32_t *size, int *fds, unsigned *nfds,
		int timeout_ms);
/* Whether the peer closed the connection within @timeout_ms. */
bool vu_raw_closed(int sock, int timeout_ms);

/* A u64 request with NEED_REPLY: returns the acked status (0 = success,
 * > 0 = error reply) or a negative errno (no reply / disconnect). */
int64_t vu_raw_ack(int sock, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds);
/* GET_FEATURES round trip: true if the backend answered with a u64. */
bool vu_raw_alive(int sock);
/* Negotiate protocol features: GET_FEATURES, SET_FEATURES(f),
 * SET_PROTOCOL_FEATURES(pf).  Returns 0 or a negative errno. */
int vu_raw_negotiate(int sock, uint64_t features, uint64_t pfeatures);

#endif
