/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: thin OS helpers (Linux).  These are the only library calls
 * that make system calls on behalf of the caller: eventfds, memfd guest
 * memory, fd passing over unix sockets, discarding memory, NUMA placement.
 *
 * Threading: every call is safe from any thread; the objects they act on
 * (fds, mappings) are the caller's to serialise.
 */
#ifndef VQCORE_OS_H
#define VQCORE_OS_H

#include "vqcore/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * vqcore_eventfd_new() - create an eventfd (close-on-exec, non-blocking).
 * Return: the fd, or -errno.
 */
VQCORE_API int vqcore_eventfd_new(void);

/**
 * vqcore_eventfd_signal() - add 1 to an eventfd.
 * @fd: eventfd.
 * Return: 0, or -errno (-EAGAIN cannot happen before 2^64-2 signals).
 */
VQCORE_API int vqcore_eventfd_signal(int fd);

/**
 * vqcore_eventfd_drain() - read and reset an eventfd's counter.
 * @fd: eventfd (non-blocking).
 * Return: the counter (0 if nothing was pending), or -errno.
 */
VQCORE_API int64_t vqcore_eventfd_drain(int fd);

/** Flags for vqcore_memfd_map(). */
#define VQCORE_MEMFD_HUGETLB 0x1 /* back with huge pages (hugetlbfs) */

/**
 * struct vqcore_memfd - a shared, fd-backed memory area.
 * @fd: the memfd.  @hva: its mapping (MAP_SHARED).  @size: bytes.
 */
struct vqcore_memfd {
	int fd;
	void *hva;
	uint64_t size;
};

/**
 * vqcore_memfd_map() - create a memfd of @size bytes and map it shared.
 * @name: debug name.  @size: bytes (> 0).  @flags: VQCORE_MEMFD_*.
 * @out: receives fd, mapping and size.
 * Return: 0, or -errno (nothing is left open on error).
 */
VQCORE_API int vqcore_memfd_map(const char *name, uint64_t size,
				unsigned flags, struct vqcore_memfd *out);

/**
 * vqcore_memfd_unmap() - unmap and close what vqcore_memfd_map() made.
 * @m: area; its fields are reset to -1/NULL/0.
 */
VQCORE_API void vqcore_memfd_unmap(struct vqcore_memfd *m);

/**
 * vqcore_fd_size() - size of the file behind @fd (fstat).
 * @fd: file.  @size: receives its size.
 * Return: 0 or -errno.
 */
VQCORE_API int vqcore_fd_size(int fd, uint64_t *size);

/**
 * vqcore_fd_allocated() - bytes of storage a file really holds (st_blocks).
 * @fd: file.
 * Return: bytes (>= 0), or -errno.
 */
VQCORE_API int64_t vqcore_fd_allocated(int fd);

/** Maximum fds one message can carry through vqcore_sock_send(). */
#define VQCORE_MAX_FDS 32

/**
 * vqcore_sock_send() - send @len bytes and up to VQCORE_MAX_FDS fds.
 * @sock: connected unix stream socket.  @buf/@len: data (len > 0).
 * @fds/@nfds: descriptors to pass with SCM_RIGHTS (may be 0).
 * Return: 0 when all was sent, or -errno (-EPIPE for a closed peer).
 */
VQCORE_API int vqcore_sock_send(int sock, const void *buf, size_t len,
				const int *fds, unsigned nfds);

/**
 * vqcore_sock_recv() - receive exactly @len bytes and any passed fds.
 * @sock: unix stream socket.  @buf/@len: destination (len > 0).
 * @fds: receives passed fds (close-on-exec).  @max_fds: its size.
 * @nfds: receives how many arrived.  Fds beyond @max_fds are closed and
 *        the call fails with -EMSGSIZE (nothing leaks) once all @len bytes
 *        are read, so the stream stays in step with the peer.
 * Return: 0, -ECONNRESET on EOF, or -errno.  On error no fd is left open.
 */
VQCORE_API int vqcore_sock_recv(int sock, void *buf, size_t len, int *fds,
				unsigned max_fds, unsigned *nfds);

/** Modes for vqcore_discard(). */
enum vqcore_discard_mode {
	VQCORE_DISCARD_AUTO = 0,     /* punch a hole if fd >= 0, else DONTNEED */
	VQCORE_DISCARD_PUNCH = 1,    /* fallocate(PUNCH_HOLE|KEEP_SIZE) */
	VQCORE_DISCARD_DONTNEED = 2, /* madvise(MADV_DONTNEED) */
	VQCORE_DISCARD_FREE = 3,     /* madvise(MADV_FREE) */
};

/**
 * vqcore_discard() - give memory back to the host.
 * @fd: backing file or -1.  @offset: offset of @hva in @fd.
 * @hva: mapping of the range.  @len: bytes (page multiple).
 * @mode: enum vqcore_discard_mode.
 * Return: 0 or -errno.
 */
VQCORE_API int vqcore_discard(int fd, uint64_t offset, void *hva, uint64_t len,
			      int mode);

/**
 * vqcore_numa_bind() - place a mapping on NUMA node @node.
 * @hva/@len: the mapping.  @node: node number.
 * Return: 0, -ENOTSUP if built without libnuma or NUMA is unavailable,
 * or -errno.
 */
VQCORE_API int vqcore_numa_bind(void *hva, uint64_t len, int node);

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_OS_H */
