/* SPDX-License-Identifier: MIT */
/*
 * The table of ring formats.  A new format is a directory in formats/ with
 * one const struct vq_format_ops, and one line here; the core is unchanged.
 */
#include "vq_priv.h"

extern const struct vq_format_ops vq_split_ops;
extern const struct vq_format_ops vq_packed_ops;

const struct vq_format_ops *vq_format_get(unsigned format)
{
	switch (format) {
	case VQCORE_FORMAT_SPLIT:
		return &vq_split_ops;
	case VQCORE_FORMAT_PACKED:
		return &vq_packed_ops;
	default:
		return NULL;
	}
}

unsigned vq_format_of_features(uint64_t features)
{
	return (features & VQCORE_BIT(VQCORE_F_RING_PACKED)) ? VQCORE_FORMAT_PACKED
							     : VQCORE_FORMAT_SPLIT;
}
