/* SPDX-License-Identifier: MIT */
/*
 * The glue header: everything the core (the .c files directly in lib/) and the formats
 * (formats/) may use from their environment.  It includes only headers a
 * freestanding compiler provides; the functions it declares are implemented
 * in lib/glue/ (the only files that call the OS).  A kernel-style
 * environment would provide the same few functions.
 */
#ifndef VQCORE_GLUE_H
#define VQCORE_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vqcore/common.h"

#define VQ_HIDDEN __attribute__((visibility("hidden")))

/* errno values (Linux ABI) so the freestanding core needs no <errno.h>. */
#define VQ_ENOENT 2
#define VQ_EIO 5
#define VQ_E2BIG 7
#define VQ_EAGAIN 11
#define VQ_ENOMEM 12
#define VQ_EBUSY 16
#define VQ_EEXIST 17
#define VQ_EINVAL 22
#define VQ_ENOSPC 28
#define VQ_ERANGE 34
#define VQ_ENOTSUP 95
#define VQ_ETIMEDOUT 110
#define VQ_ECANCELED 125

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* out of the hot loop: its own registers, its own (cold) code */
#define VQ_NOINLINE __attribute__((noinline))
#define VQ_COLD __attribute__((noinline, cold))

#define VQ_CACHELINE 64
#define __vq_aligned(n) __attribute__((aligned(n)))
#define VQ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VQ_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define vq_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- memory operations (the compiler expands or calls its own) ---- */
#define vq_memcpy __builtin_memcpy
#define vq_memset __builtin_memset
#define vq_memcmp __builtin_memcmp

/* ---- shared-memory accessors ---- */
/* Integer views of guest ring memory that may alias the ring structs. */
typedef uint16_t __attribute__((may_alias)) vq_u16a;
typedef uint32_t __attribute__((may_alias)) vq_u32a;
typedef uint64_t __attribute__((may_alias)) vq_u64a;
#define VQ_READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define VQ_WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define vq_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define vq_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Full barrier: orders a store before a later load (notification races). */
static inline void vq_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/* Loads before later loads (x86: compiler barrier only). */
static inline void vq_rmb(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
/* Stores before later stores (x86: compiler barrier only). */
static inline void vq_wmb(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

/*
 * A prefetch for writing: the line is brought in owned, the other cores'
 * copies invalidated, so that the stores to it later do not each wait
 * for that.  On x86 it is PREFETCHW, which older Intel CPUs lack:
 * vq_cpu_prefetchw() says whether vq_prefetchw() may be used on this CPU
 * (it is a no-op where the architecture has no such hint).  A read
 * prefetch is no substitute: the line arrives shared, and the store
 * still has to invalidate the other copies.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static inline bool vq_cpu_prefetchw(void)
{
	unsigned a, b, c, d;

	/* PRFCHW (Intel), or 3DNow! (AMD, which had PREFETCHW first) */
	if (!__get_cpuid(0x80000001u, &a, &b, &c, &d))
		return false;
	return (c & (1u << 8)) || (d & (1u << 31));
}
static inline void vq_prefetchw(const void *p)
{
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
}
#elif defined(__aarch64__)
static inline bool vq_cpu_prefetchw(void) { return true; }
/* PRFM PSTL1KEEP */
static inline void vq_prefetchw(const void *p) { __builtin_prefetch(p, 1, 3); }
#else
static inline bool vq_cpu_prefetchw(void) { return false; }
static inline void vq_prefetchw(const void *p) { (void)p; }
#endif

/* virtio 1.x rings are little-endian. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define vq_le16(x) ((uint16_t)(x))
#define vq_le32(x) ((uint32_t)(x))
#define vq_le64(x) ((uint64_t)(x))
#else
#define vq_le16(x) __builtin_bswap16(x)
#define vq_le32(x) __builtin_bswap32(x)
#define vq_le64(x) __builtin_bswap64(x)
#endif

/* ---- overflow-safe arithmetic ---- */
/* true if a + b overflows; *res gets the wrapped sum */
#define vq_add_overflow(a, b, res) __builtin_add_overflow((a), (b), (res))
#define vq_mul_overflow(a, b, res) __builtin_mul_overflow((a), (b), (res))

/* ---- allocation (control path only, never per buffer) ---- */
VQ_HIDDEN void *vq_malloc(size_t size);
VQ_HIDDEN void *vq_calloc(size_t n, size_t size);
/* 64-byte aligned, zeroed */
VQ_HIDDEN void *vq_zalloc_aligned(size_t size);
VQ_HIDDEN void vq_free(void *p);

/* Test hook: number of vq_*alloc calls so far (counts even in release). */
VQ_HIDDEN uint64_t vq_alloc_count(void);

/* ---- logging ---- */
VQ_HIDDEN void vq_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
VQ_HIDDEN bool vq_log_enabled(int level);
/* One ERROR line: "vq <index> (<what>): broken: <fmt...>: <strerror(err)>" */
VQ_HIDDEN void vq_log_broken(unsigned index, const char *what, int err,
			     const char *fmt, __builtin_va_list ap);
#define vq_err(...) vq_log(VQCORE_LOG_ERROR, __VA_ARGS__)
#define vq_warn(...) vq_log(VQCORE_LOG_WARN, __VA_ARGS__)
#define vq_info(...) vq_log(VQCORE_LOG_INFO, __VA_ARGS__)
#define vq_dbg(...)                                        \
	do {                                               \
		if (vq_log_enabled(VQCORE_LOG_DEBUG))      \
			vq_log(VQCORE_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* ---- notification: write 1 to an eventfd ---- */
VQ_HIDDEN int vq_notify_fd(int fd);

/* ---- locking and threads (pagepool, reporter) ---- */
struct vq_lock {
	int v;
};
#define VQ_LOCK_INIT { 0 }
static inline void vq_lock_init(struct vq_lock *l) { l->v = 0; }
/* Spin a little, then yield through the glue. */
VQ_HIDDEN void vq_lock_slow(struct vq_lock *l);
static inline void vq_lock(struct vq_lock *l)
{
	if (likely(!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)))
		return;
	vq_lock_slow(l);
}
static inline void vq_unlock(struct vq_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}
VQ_HIDDEN void vq_yield(void);

/*
 * Spin-wait hint for a busy loop that polls shared memory: pause on x86,
 * yield on aarch64, a compiler barrier elsewhere (s390x and others have no
 * cheaper hint than re-reading).
 */
static inline void vq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Monotonic clock in nanoseconds. */
VQ_HIDDEN uint64_t vq_now_ns(void);

#endif /* VQCORE_GLUE_H */
