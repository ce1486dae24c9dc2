/* SPDX-License-Identifier: MIT */
/*
 * The table of ring formats.  A new format is a directory in formats/ with
 * one const struct vq_format_ops (its state private to it, in the queue's
 * fmt area), and its case here; the core is unchanged.  formats/testring/
 * shows it: the test library builds it in, with VQCORE_TEST_FORMATS.
 */
#include "vq_priv.h"

extern const struct vq_format_ops vq_split_ops;
extern const struct vq_format_ops vq_packed_ops;
#ifdef VQCORE_TEST_FORMATS /* the test library only (CMakeLists.txt) */
#include "formats/testring/testring.h"
extern const struct vq_format_ops vq_testring_ops;
#endif

const struct vq_format_ops *vq_format_get(unsigned format)
{
	switch (format) {
	case VQCORE_FORMAT_SPLIT:
		return &vq_split_ops;
	case VQCORE_FORMAT_PACKED:
		return &vq_packed_ops;
#ifdef VQCORE_TEST_FORMATS
	case VQ_FORMAT_TESTRING:
		return &vq_testring_ops;
#endif
	default:
		return NULL;
	}
}

unsigned vq_format_of_features(uint64_t features)
{
	return (features & VQCORE_BIT(VQCORE_F_RING_PACKED)) ? VQCORE_FORMAT_PACKED
							     : VQCORE_FORMAT_SPLIT;
}
