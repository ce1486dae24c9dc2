/* SPDX-License-Identifier: MIT */
/*
 * libvqcore: common definitions shared by every public header.
 *
 * Error convention: every call that can fail returns 0 (or a count) on
 * success and a negative number on failure.  The negative number is either
 * -errno (for example -ENOMEM, -EINVAL) or -VQCORE_E_* from the list below,
 * which names a problem no errno describes well.  vqcore_strerror() turns
 * either kind into text.
 */
#ifndef VQCORE_COMMON_H
#define VQCORE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_HOSTED__) && __STDC_HOSTED__
#include <sys/uio.h>
#else
/* Freestanding builds of the core see the same layout as <sys/uio.h>. */
struct iovec {
	void *iov_base;
	size_t iov_len;
};
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sized structs.  Every struct in these headers whose first member is
 * "size_t sz" (configs, options, ops and stats structs) follows one rule,
 * so that it can grow without breaking programs built against an older or
 * a newer header:
 *
 *  - The caller sets sz to sizeof(the struct) as its header declares it,
 *    and zeroes what it does not set ("struct x c = { .sz = sizeof(c) }").
 *  - A smaller struct (a program built against an older header) is
 *    accepted: the members it does not reach read as 0.  Every member
 *    added later has 0 as its default.
 *  - A larger struct (a program built against a newer header, running on
 *    an older library) is accepted when every byte past the library's
 *    own struct is 0, and refused with -E2BIG otherwise: the caller asked
 *    for something this library does not know.
 *  - sz smaller than the sz member itself (0 included: sz not set) is
 *    refused with -EINVAL.
 *
 * The same checks apply to a stats struct the library fills: it writes
 * min(sz, its own size) bytes and stores that count in sz, so a newer
 * caller sees how much an older library filled.  A refused struct is left
 * as it was.
 */

#if defined(VQCORE_BUILDING) && defined(__GNUC__)
#define VQCORE_API __attribute__((visibility("default")))
#else
#define VQCORE_API
#endif

/**
 * enum vqcore_errno - library-specific error numbers.
 *
 * Calls return the negated value, as with -errno.  The numbers start at
 * 4000, above every errno, so the two never collide.
 */
enum vqcore_errno {
	VQCORE_E_FIRST = 4000,
	/* guest memory */
	VQCORE_E_WRAP = 4000,      /* address + length wraps past 2^64 */
	VQCORE_E_UNMAPPED,         /* address is in no region */
	VQCORE_E_PAST_END,         /* range starts in a region, runs past the table */
	VQCORE_E_ZERO_LEN,         /* zero-length range where one is not allowed */
	VQCORE_E_OVERLAP,          /* new region overlaps an existing one */
	VQCORE_E_OFFSET_OVERFLOW,  /* fd offset + size overflows */
	VQCORE_E_NOT_CONTIG,       /* range spans regions; use the iovec call */
	VQCORE_E_IOV_FULL,         /* caller's iovec array too small */
	VQCORE_E_LOG_RANGE,        /* dirty log does not cover the address */
	/* rings */
	VQCORE_E_BROKEN,           /* queue was marked broken earlier */
	VQCORE_E_DESC_INDEX,       /* descriptor index >= queue size */
	VQCORE_E_CHAIN_LOOP,       /* chain longer than the queue (a loop) */
	VQCORE_E_NESTED_INDIRECT,  /* indirect table inside an indirect table */
	VQCORE_E_INDIRECT_LEN,     /* indirect table length bad (0, %16, too long) */
	VQCORE_E_LEN_OVERFLOW,     /* buffer byte total overflows 32 bits */
	VQCORE_E_AVAIL_IDX,        /* driver index moved by more than the size */
	VQCORE_E_BAD_ID,           /* buffer id >= queue size */
	VQCORE_E_ID_IN_USE,        /* buffer id already in flight */
	VQCORE_E_WRAP_COUNTER,     /* packed: avail/used flags with wrong wrap */
	VQCORE_E_NOT_READY,        /* queue not fully configured */
	VQCORE_E_RING_ADDR,        /* ring area not in the memory table */
	VQCORE_E_WRITE_ORDER,      /* writable descriptor before a readable one */
	/* frontends */
	VQCORE_E_PROTO,            /* malformed message from the peer */
	VQCORE_E_LAST
};

/**
 * vqcore_strerror() - describe an error number.
 * @err: a value returned by a libvqcore call (negative) or its negation.
 *
 * Return: a static string; never NULL.  Thread-safe.
 */
VQCORE_API const char *vqcore_strerror(int err);

/** Log levels for vqcore_set_log_fn(). */
enum vqcore_log_level {
	VQCORE_LOG_ERROR = 0,
	VQCORE_LOG_WARN = 1,
	VQCORE_LOG_INFO = 2,
	VQCORE_LOG_DEBUG = 3,
};

/**
 * typedef vqcore_log_fn - log callback.
 * @level: one of enum vqcore_log_level.
 * @msg: one line of text, no trailing newline.
 * @opaque: the pointer given to vqcore_set_log_fn().
 */
typedef void (*vqcore_log_fn)(int level, const char *msg, void *opaque);

/**
 * vqcore_set_log_fn() - route the library's log lines to @fn.
 * @fn: callback, or NULL to restore the default (stderr, WARN and above).
 * @opaque: passed to @fn unchanged.
 * @max_level: lines above this level are dropped before formatting.
 *
 * Call it before creating objects; the pointer is read without a lock on
 * every log line, so changing it while other threads log is racy but safe
 * on the platforms we support (a single pointer-sized store).
 */
VQCORE_API void vqcore_set_log_fn(vqcore_log_fn fn, void *opaque, int max_level);

/* virtio feature bits the library understands (virtio 1.x section 6). */
#define VQCORE_F_INDIRECT_DESC 28
#define VQCORE_F_EVENT_IDX 29
#define VQCORE_F_VERSION_1 32
#define VQCORE_F_ACCESS_PLATFORM 33
#define VQCORE_F_RING_PACKED 34
#define VQCORE_F_IN_ORDER 35

#define VQCORE_BIT(n) (1ULL << (n))

/**
 * VQCORE_RING_FEATURES - every ring feature the library implements:
 * VQCORE_F_INDIRECT_DESC, VQCORE_F_EVENT_IDX, VQCORE_F_RING_PACKED and
 * VQCORE_F_IN_ORDER.  A device offers it with VQCORE_F_VERSION_1 and its
 * own feature bits:
 *
 *     VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_RING_FEATURES | my_bits
 *
 * Take out VQCORE_F_IN_ORDER when the device may complete buffers in
 * another order than it fetched them (the spec then forbids it), and
 * VQCORE_F_RING_PACKED to force split rings (VQCORE_VU_NO_PACKED does
 * the same for a vhost-user backend).  A library built without the
 * packed format never negotiates it (vqcore_vu_new() drops the bit).
 */
#define VQCORE_RING_FEATURES                                                  \
	(VQCORE_BIT(VQCORE_F_INDIRECT_DESC) | VQCORE_BIT(VQCORE_F_EVENT_IDX) | \
	 VQCORE_BIT(VQCORE_F_RING_PACKED) | VQCORE_BIT(VQCORE_F_IN_ORDER))

/**
 * DOC: little-endian fields
 *
 * Every virtio 1.x structure a device reads or writes is little-endian
 * whatever the host: request headers in buffers (virtio-blk's type and
 * sector), the config space, the rings.  The library converts what it
 * owns (rings, vhost-user messages); a device converts its own fields with
 * these helpers, which compile to a plain load or store on a little-endian
 * host and a byte-reversed one on a big-endian host (s390x, ppc64).
 *
 * vqcore_le16_load(), vqcore_le32_load(), vqcore_le64_load() read a
 * little-endian field at @p (any alignment: a byte pointer into a header
 * copied out of guest memory or into a config-space buffer) and return it
 * in host order.  vqcore_le16_store(), vqcore_le32_store() and
 * vqcore_le64_store() write @v at @p in little-endian order.
 * vqcore_cpu_to_le16/32/64() and vqcore_le16/32/64_to_cpu() convert a
 * value, for fields of a struct that mirrors the wire layout (the two
 * directions are the same operation; the names say which way the value
 * goes).  Pure functions of their arguments: any thread.
 */
static inline uint16_t vqcore_le16_load(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;

	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t vqcore_le32_load(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t vqcore_le64_load(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;

	return (uint64_t)vqcore_le32_load(b) | (uint64_t)vqcore_le32_load(b + 4) << 32;
}

static inline void vqcore_le16_store(void *p, uint16_t v)
{
	uint8_t *b = (uint8_t *)p;

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void vqcore_le32_store(void *p, uint32_t v)
{
	uint8_t *b = (uint8_t *)p;

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void vqcore_le64_store(void *p, uint64_t v)
{
	uint8_t *b = (uint8_t *)p;

	vqcore_le32_store(b, (uint32_t)v);
	vqcore_le32_store(b + 4, (uint32_t)(v >> 32));
}

static inline uint16_t vqcore_cpu_to_le16(uint16_t v)
{
	uint16_t r;

	vqcore_le16_store(&r, v);
	return r;
}

static inline uint32_t vqcore_cpu_to_le32(uint32_t v)
{
	uint32_t r;

	vqcore_le32_store(&r, v);
	return r;
}

static inline uint64_t vqcore_cpu_to_le64(uint64_t v)
{
	uint64_t r;

	vqcore_le64_store(&r, v);
	return r;
}

static inline uint16_t vqcore_le16_to_cpu(uint16_t v)
{
	return vqcore_le16_load(&v);
}

static inline uint32_t vqcore_le32_to_cpu(uint32_t v)
{
	return vqcore_le32_load(&v);
}

static inline uint64_t vqcore_le64_to_cpu(uint64_t v)
{
	return vqcore_le64_load(&v);
}

#ifdef __cplusplus
}
#endif
#endif /* VQCORE_COMMON_H */
