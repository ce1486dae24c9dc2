/* SPDX-License-Identifier: MIT */
/*
 * Hosted implementation of the glue header: allocation, logging, eventfd
 * notification, locks, clock, plus the error strings and version calls.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "glue/glue.h"
#include "vqcore/version.h"

#ifdef VQCORE_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#define sys_malloc je_malloc
#define sys_calloc je_calloc
#define sys_free je_free
#define sys_aligned_alloc je_aligned_alloc
#else
#define sys_malloc malloc
#define sys_calloc calloc
#define sys_free free
#define sys_aligned_alloc aligned_alloc
#endif

static uint64_t alloc_calls;

uint64_t vq_alloc_count(void)
{
	return __atomic_load_n(&alloc_calls, __ATOMIC_RELAXED);
}

void *vq_malloc(size_t size)
{
	__atomic_fetch_add(&alloc_calls, 1, __ATOMIC_RELAXED);
	return sys_malloc(size ? size : 1);
}

void *vq_calloc(size_t n, size_t size)
{
	__atomic_fetch_add(&alloc_calls, 1, __ATOMIC_RELAXED);
	return sys_calloc(n ? n : 1, size ? size : 1);
}

void *vq_zalloc_aligned(size_t size)
{
	size_t sz = VQ_ALIGN_UP(size ? size : 1, (size_t)VQ_CACHELINE);
	void *p;

	__atomic_fetch_add(&alloc_calls, 1, __ATOMIC_RELAXED);
	p = sys_aligned_alloc(VQ_CACHELINE, sz);
	if (p)
		memset(p, 0, sz);
	return p;
}

void vq_free(void *p)
{
	sys_free(p);
}

/* ---- logging ---- */

static void log_stderr(int level, const char *msg, void *opaque)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)opaque;
	fprintf(stderr, "vqcore %s: %s\n",
		names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

static vqcore_log_fn log_fn = log_stderr;
static void *log_opaque;
static int log_max = VQCORE_LOG_WARN;

void vqcore_set_log_fn(vqcore_log_fn fn, void *opaque, int max_level)
{
	__atomic_store_n(&log_opaque, opaque, __ATOMIC_RELAXED);
	__atomic_store_n(&log_max, max_level, __ATOMIC_RELAXED);
	__atomic_store_n(&log_fn, fn ? fn : log_stderr, __ATOMIC_RELEASE);
}

bool vq_log_enabled(int level)
{
	return level <= __atomic_load_n(&log_max, __ATOMIC_RELAXED);
}

void vq_log(int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!vq_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	__atomic_load_n(&log_fn, __ATOMIC_ACQUIRE)(level, buf,
		__atomic_load_n(&log_opaque, __ATOMIC_RELAXED));
}

void vq_log_broken(unsigned index, const char *what, int err, const char *fmt,
		   va_list ap)
{
	char msg[200];

	if (!vq_log_enabled(VQCORE_LOG_ERROR))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	vq_log(VQCORE_LOG_ERROR, "vq %u (%s): broken: %s: %s", index, what, msg,
	       vqcore_strerror(err));
}

/* ---- notification, locks, clock ---- */

int vq_notify_fd(int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return 0;
	for (;;) {
		if (write(fd, &one, sizeof(one)) == sizeof(one))
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

void vq_yield(void)
{
	sched_yield();
}

void vq_lock_slow(struct vq_lock *l)
{
	unsigned spins = 0;

	for (;;) {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				vq_cpu_relax();
			else
				sched_yield();
		}
		if (!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
			return;
	}
}

uint64_t vq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- errors and version ---- */

static const char *const vq_errstr[] = {
	[VQCORE_E_WRAP - VQCORE_E_FIRST] = "guest range wraps past 2^64",
	[VQCORE_E_UNMAPPED - VQCORE_E_FIRST] = "guest address is not in the memory table",
	[VQCORE_E_PAST_END - VQCORE_E_FIRST] = "guest range runs past the end of the memory table",
	[VQCORE_E_ZERO_LEN - VQCORE_E_FIRST] = "zero-length range",
	[VQCORE_E_OVERLAP - VQCORE_E_FIRST] = "memory region overlaps an existing one",
	[VQCORE_E_OFFSET_OVERFLOW - VQCORE_E_FIRST] = "fd offset plus size overflows",
	[VQCORE_E_NOT_CONTIG - VQCORE_E_FIRST] = "guest range spans several regions",
	[VQCORE_E_IOV_FULL - VQCORE_E_FIRST] = "iovec array too small",
	[VQCORE_E_LOG_RANGE - VQCORE_E_FIRST] = "dirty log does not cover guest memory",
	[VQCORE_E_BROKEN - VQCORE_E_FIRST] = "virtqueue is broken",
	[VQCORE_E_DESC_INDEX - VQCORE_E_FIRST] = "descriptor index out of range",
	[VQCORE_E_CHAIN_LOOP - VQCORE_E_FIRST] = "descriptor chain longer than the queue (loop)",
	[VQCORE_E_NESTED_INDIRECT - VQCORE_E_FIRST] = "indirect table inside an indirect table",
	[VQCORE_E_INDIRECT_LEN - VQCORE_E_FIRST] = "bad indirect table length",
	[VQCORE_E_LEN_OVERFLOW - VQCORE_E_FIRST] = "buffer length overflows 32 bits",
	[VQCORE_E_AVAIL_IDX - VQCORE_E_FIRST] = "driver index moved by more than the queue size",
	[VQCORE_E_BAD_ID - VQCORE_E_FIRST] = "buffer id out of range",
	[VQCORE_E_ID_IN_USE - VQCORE_E_FIRST] = "buffer id already in flight",
	[VQCORE_E_WRAP_COUNTER - VQCORE_E_FIRST] = "descriptor flags disagree with the wrap counter",
	[VQCORE_E_NOT_READY - VQCORE_E_FIRST] = "virtqueue not configured",
	[VQCORE_E_RING_ADDR - VQCORE_E_FIRST] = "ring area not inside guest memory",
	[VQCORE_E_WRITE_ORDER - VQCORE_E_FIRST] = "device-readable descriptor after a writable one",
	[VQCORE_E_PROTO - VQCORE_E_FIRST] = "malformed message from the peer",
};

const char *vqcore_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= VQCORE_E_FIRST && err < VQCORE_E_LAST) {
		const char *s = vq_errstr[err - VQCORE_E_FIRST];
		return s ? s : "unknown libvqcore error";
	}
	if (err == 0)
		return "success";
	return strerror(err);
}

int vqcore_version(void)
{
	return VQCORE_VERSION_NUMBER;
}

const char *vqcore_version_string(void)
{
	return VQCORE_VERSION_STRING;
}
