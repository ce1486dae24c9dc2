/* SPDX-License-Identifier: MIT */
/*
 * Public OS helpers (include/vqcore/os.h): eventfds, memfd guest memory,
 * SCM_RIGHTS fd passing, discarding memory, NUMA placement.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef VQCORE_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "glue/glue.h"
#include "vqcore/os.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

int vqcore_eventfd_new(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int vqcore_eventfd_signal(int fd)
{
	if (fd < 0)
		return -EBADF;
	return vq_notify_fd(fd);
}

int64_t vqcore_eventfd_drain(int fd)
{
	uint64_t v;

	for (;;) {
		ssize_t r = read(fd, &v, sizeof(v));

		if (r == sizeof(v))
			return (int64_t)(v & INT64_MAX);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		return r < 0 ? -errno : -EIO;
	}
}

int vqcore_memfd_map(const char *name, uint64_t size, unsigned flags,
		     struct vqcore_memfd *out)
{
	unsigned mfd_flags = MFD_CLOEXEC;
	void *p;
	int fd, err;

	if (!out)
		return -EINVAL;
	out->fd = -1;
	out->hva = NULL;
	out->size = 0;
	if (!size || size > (uint64_t)SIZE_MAX)
		return -EINVAL;
	if (flags & VQCORE_MEMFD_HUGETLB)
		mfd_flags |= MFD_HUGETLB;
	fd = memfd_create(name ? name : "vqcore", mfd_flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	out->fd = fd;
	out->hva = p;
	out->size = size;
	return 0;
}

void vqcore_memfd_unmap(struct vqcore_memfd *m)
{
	if (!m)
		return;
	if (m->hva && m->size)
		munmap(m->hva, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->hva = NULL;
	m->size = 0;
}

int vqcore_fd_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int64_t vqcore_fd_allocated(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

int vqcore_sock_send(int sock, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VQCORE_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t done = 0;

	if (!buf || !len || nfds > VQCORE_MAX_FDS || (nfds && !fds))
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (done < len) {
		ssize_t r;

		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
		/* fds travel with the first chunk only */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int vqcore_sock_recv(int sock, void *buf, size_t len, int *fds,
		     unsigned max_fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} ctl;
	size_t done = 0;
	unsigned got = 0;
	int err = 0, fd_err = 0;

	if (nfds)
		*nfds = 0;
	if (!buf || !len)
		return -EINVAL;
	while (done < len) {
		struct iovec iov = { .iov_base = (char *)buf + done,
				     .iov_len = len - done };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = ctl.buf,
				      .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *c;
		ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			unsigned n;
			int *p;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			p = (int *)(void *)CMSG_DATA(c);
			for (unsigned i = 0; i < n; i++) {
				int fd;

				memcpy(&fd, &p[i], sizeof(fd));
				if (fds && got < max_fds) {
					fds[got++] = fd;
				} else {
					close(fd);
					fd_err = -EMSGSIZE;
				}
			}
		}
		/* the kernel dropped (and closed) fds that did not fit */
		if (msg.msg_flags & MSG_CTRUNC)
			fd_err = -EMSGSIZE;
		if (r == 0) {
			err = -ECONNRESET;
			break;
		}
		/*
		 * Too many fds: keep reading the rest of the message so the
		 * stream stays in step with the peer, then fail.
		 */
		done += (size_t)r;
	}
	if (!err)
		err = fd_err;
	if (err) {
		close_fds(fds, got);
		return err;
	}
	if (nfds)
		*nfds = got;
	return 0;
}

int vqcore_discard(int fd, uint64_t offset, void *hva, uint64_t len, int mode)
{
	if (!len)
		return 0;
	if (mode == VQCORE_DISCARD_AUTO)
		mode = fd >= 0 ? VQCORE_DISCARD_PUNCH : VQCORE_DISCARD_DONTNEED;
	switch (mode) {
	case VQCORE_DISCARD_PUNCH:
		if (fd < 0)
			return -EBADF;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)offset, (off_t)len) < 0)
			return -errno;
		return 0;
	case VQCORE_DISCARD_DONTNEED:
		return madvise(hva, len, MADV_DONTNEED) < 0 ? -errno : 0;
	case VQCORE_DISCARD_FREE:
		return madvise(hva, len, MADV_FREE) < 0 ? -errno : 0;
	default:
		return -EINVAL;
	}
}

int vqcore_numa_bind(void *hva, uint64_t len, int node)
{
#ifdef VQCORE_HAVE_NUMA
	if (numa_available() < 0 || node < 0 || node > numa_max_node())
		return -ENOTSUP;
	numa_tonode_memory(hva, len, node);
	return 0;
#else
	(void)hva;
	(void)len;
	(void)node;
	return -ENOTSUP;
#endif
}
