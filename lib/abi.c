/* SPDX-License-Identifier: MIT */
/*
 * Sized structs (see abi_priv.h and include/vqcore/common.h), and the
 * VQCORE_0.1 versions of the stats getters.
 */
#include "abi_priv.h"
#include "vqcore/balloon.h"
#include "vqcore/pagepool.h"
#include "vqcore/reporter.h"

/* 0, or the errno of a caller's struct of *@n bytes seen by a library
 * whose struct has @size bytes. */
static int struct_check(const void *p, size_t size, size_t *n)
{
	const unsigned char *b = p;

	if (!p)
		return -VQ_EINVAL;
	vq_memcpy(n, p, sizeof(*n));
	if (*n < sizeof(size_t))
		return -VQ_EINVAL;
	for (size_t k = size; k < *n; k++)
		if (b[k])
			return -VQ_E2BIG;
	return 0;
}

int vq_struct_in(void *dst, size_t size, const void *src)
{
	size_t n;
	int err;

	vq_memset(dst, 0, size);
	err = struct_check(src, size, &n);
	if (err)
		return err;
	vq_memcpy(dst, src, VQ_MIN(n, size));
	vq_memcpy(dst, &size, sizeof(size));
	return 0;
}

int vq_struct_out_check(const void *dst, size_t size)
{
	size_t n;

	return struct_check(dst, size, &n);
}

int vq_struct_out(void *dst, const void *src, size_t size)
{
	size_t n;
	int err = struct_check(dst, size, &n);

	if (err)
		return err;
	n = VQ_MIN(n, size);
	vq_memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
		  n - sizeof(size_t));
	vq_memcpy(dst, &n, sizeof(n));
	return 0;
}

/*
 * 0.1's stats structs are today's without the leading sz: the members from
 * @first to @last, at the same offsets relative to @first.
 */
#define COMPAT_BYTES(type, first, last) \
	(offsetof(type, last) + sizeof(((type *)0)->last) - offsetof(type, first))

#define COMPAT_GET_STATS(obj, fn, type, first, last)                     \
	__attribute__((visibility("default"))) void                    \
	vq_compat01_##obj##_get_stats(struct vqcore_##obj *o, void *st)  \
	{                                                                \
		type s = { .sz = sizeof(s) };                            \
									 \
		fn(o, &s);                                               \
		vq_memcpy(st, &s.first, COMPAT_BYTES(type, first, last)); \
	}

COMPAT_GET_STATS(balloon, vqcore_balloon_get_stats, struct vqcore_balloon_stats,
		 reports, late)
COMPAT_GET_STATS(pagepool, vqcore_pagepool_get_stats, struct vqcore_pagepool_stats,
		 nr_free, max_order)
COMPAT_GET_STATS(reporter, vqcore_reporter_get_stats, struct vqcore_reporter_stats,
		 requests, bytes)

/*
 * The shared library binds each one to the old name in the VQCORE_0.1
 * node; callers linked now get the default (@@) version from the version
 * script.  The static libraries carry the aliases unused.
 */
#if defined(__GNUC__) && defined(__ELF__)
#define COMPAT_SYMVER(impl, name) \
	__asm__(".symver " #impl "," #name "@VQCORE_0.1")
COMPAT_SYMVER(vq_compat01_balloon_get_stats, vqcore_balloon_get_stats);
COMPAT_SYMVER(vq_compat01_pagepool_get_stats, vqcore_pagepool_get_stats);
COMPAT_SYMVER(vq_compat01_reporter_get_stats, vqcore_reporter_get_stats);
#endif
