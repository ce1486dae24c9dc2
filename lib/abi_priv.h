/* SPDX-License-Identifier: MIT */
/*
 * The one rule for structs that begin with "size_t sz" (options, configs,
 * ops and stats structs in include/vqcore/; the rule is stated in
 * include/vqcore/common.h).  Every public call that takes such a struct
 * goes through these two helpers, so the rule has one implementation.
 */
#ifndef VQCORE_ABI_PRIV_H
#define VQCORE_ABI_PRIV_H

#include "glue/glue.h"

/*
 * vq_struct_in() - copy the caller's struct @src into the library's @dst
 * of @size bytes.  The caller's sz must cover at least the sz field; a
 * smaller struct leaves the rest of @dst zero, a larger one must be zero
 * past @size.  On success dst's sz is @size.
 * Return: 0, -EINVAL (@src NULL or sz too small) or -E2BIG (a non-zero
 * byte past @size); @dst is then all zero.
 */
int vq_struct_in(void *dst, size_t size, const void *src);

/*
 * vq_struct_out() - copy the library's filled struct @src of @size bytes
 * into the caller's @dst under the same rule: the caller's sz is checked
 * as above, min(sz, @size) bytes are written and dst's sz is set to that
 * count.  vq_struct_out_check() is the check alone, for a getter that
 * must not touch its object when the struct is refused.
 * Return: 0, -EINVAL or -E2BIG (@dst is then left as it was).
 */
int vq_struct_out_check(const void *dst, size_t size);
int vq_struct_out(void *dst, const void *src, size_t size);

/*
 * Compatibility entry points of the VQCORE_0.1 node: the stats getters of
 * 0.1 took structs without sz and returned nothing.  Binaries linked
 * against 0.1 keep reaching these through symbol versioning (lib/abi.c).
 */
struct vqcore_balloon;
struct vqcore_pagepool;
struct vqcore_reporter;
void vq_compat01_balloon_get_stats(struct vqcore_balloon *b, void *st);
void vq_compat01_pagepool_get_stats(struct vqcore_pagepool *p, void *st);
void vq_compat01_reporter_get_stats(struct vqcore_reporter *r, void *st);

#endif /* VQCORE_ABI_PRIV_H */
