/* SPDX-License-Identifier: MIT */
/* vhost-user test helpers (see vu_harness.h). */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vu_harness.h"

static void *run_thread(void *arg)
{
	struct vu_harness *h = arg;

	h->run_ret = vqcore_vu_run(h->dev);
	return NULL;
}

int vu_harness_start(struct vu_harness *h, unsigned flags, unsigned nq,
		     uint64_t features, const struct vqcore_vu_ops *ops,
		     void *opaque)
{
	return vu_harness_start_file(h, flags, nq, features, ops, opaque, NULL, 0);
}

int vu_harness_start_file(struct vu_harness *h, unsigned flags, unsigned nq,
			  uint64_t features, const struct vqcore_vu_ops *ops,
			  void *opaque, const char *inflight_file, unsigned qsize)
{
	int r;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/vqcore-vu-XXXXXX");
	if (!mkdtemp(h->dir))
		return -errno;
	snprintf(h->path, sizeof(h->path), "%s/sock", h->dir);
	r = vqcore_vu_new(h->path, flags, nq, features, ops, opaque, &h->dev);
	if (r) {
		rmdir(h->dir);
		return r;
	}
	if (inflight_file) {
		r = vqcore_vu_set_inflight_file(h->dev, inflight_file, qsize);
		if (r) {
			vqcore_vu_free(h->dev);
			rmdir(h->dir);
			return r;
		}
	}
	r = pthread_create(&h->thread, NULL, run_thread, h);
	if (r) {
		vqcore_vu_free(h->dev);
		rmdir(h->dir);
		return -r;
	}
	return 0;
}

void vu_harness_stop(struct vu_harness *h)
{
	vqcore_vu_stop(h->dev);
	pthread_join(h->thread, NULL);
	vqcore_vu_free(h->dev);
	h->dev = NULL;
	rmdir(h->dir);
}

int vu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

int vu_epoll_watch_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[300], link[64], line[256];
		ssize_t len;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = 0;
		if (strcmp(link, "anon_inode:[eventpoll]"))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "tfd:", 4))
				n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

int vu_raw_connect(const struct vu_harness *h)
{
	struct sockaddr_un sa;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, h->path, strnlen(h->path, sizeof(sa.sun_path) - 1));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(s);
		return e;
	}
	return s;
}

int vu_raw_send(int sock, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned nfds)
{
	uint8_t buf[12 + 8192];
	uint32_t hdr[3] = { req, flags, size };

	if (size > 8192)
		return -EINVAL;
	memcpy(buf, hdr, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	return vqcore_sock_send(sock, buf, 12 + size, fds, nfds);
}

static int wait_in(int sock, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);

	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

int vu_raw_recv(int sock, uint32_t *req, uint32_t *flags, void *buf,
		uint32_t max, uint32_t *size, int *fds, unsigned *nfds,
		int timeout_ms)
{
	uint32_t hdr[3];
	int got[8];
	unsigned n = 0;
	int r = wait_in(sock, timeout_ms);

	if (r)
		return r;
	r = vqcore_sock_recv(sock, hdr, sizeof(hdr), got, 8, &n);
	if (r)
		return r;
	if (hdr[2] > max) {
		for (unsigned i = 0; i < n; i++)
			close(got[i]);
		return -EMSGSIZE;
	}
	if (hdr[2]) {
		r = vqcore_sock_recv(sock, buf, hdr[2], NULL, 0, NULL);
		if (r) {
			for (unsigned i = 0; i < n; i++)
				close(got[i]);
			return r;
		}
	}
	if (req)
		*req = hdr[0];
	if (flags)
		*flags = hdr[1];
	if (size)
		*size = hdr[2];
	for (unsigned i = 0; i < n; i++) {
		if (fds && i < 4)
			fds[i] = got[i];
		else
			close(got[i]);
	}
	if (nfds)
		*nfds = n;
	return 0;
}

bool vu_raw_closed(int sock, int timeout_ms)
{
	char c;
	ssize_t r;

	if (wait_in(sock, timeout_ms))
		return false;
	/* a peer that closes with unread data in its queue resets */
	r = recv(sock, &c, 1, MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

int64_t vu_raw_ack(int sock, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds)
{
	uint64_t v = 0;
	uint32_t rr, fl, sz;
	int r = vu_raw_send(sock, req, 0x1 | 0x8, payload, size, fds, nfds);

	if (r)
		return r;
	r = vu_raw_recv(sock, &rr, &fl, &v, sizeof(v), &sz, NULL, NULL, 5000);
	if (r)
		return r;
	if (rr != req || sz != 8 || !(fl & 0x4))
		return -EPROTO;
	return (int64_t)(v & INT64_MAX);
}

bool vu_raw_alive(int sock)
{
	uint64_t v;
	uint32_t rr, sz;

	if (vu_raw_send(sock, VQCORE_VU_GET_FEATURES, 1, NULL, 0, NULL, 0))
		return false;
	if (vu_raw_recv(sock, &rr, NULL, &v, sizeof(v), &sz, NULL, NULL, 5000))
		return false;
	return rr == VQCORE_VU_GET_FEATURES && sz == 8;
}

int vu_raw_negotiate(int sock, uint64_t features, uint64_t pfeatures)
{
	int64_t r;

	if (!vu_raw_alive(sock))
		return -EIO;
	r = vu_raw_ack(sock, VQCORE_VU_SET_FEATURES, &features, 8, NULL, 0);
	if (r)
		return r < 0 ? (int)r : -EIO;
	r = vu_raw_ack(sock, VQCORE_VU_SET_PROTOCOL_FEATURES, &pfeatures, 8, NULL, 0);
	if (r)
		return r < 0 ? (int)r : -EIO;
	return 0;
}
