/* SPDX-License-Identifier: MIT */
/*
 * Test fixture for ring tests: memfd guest memory split into two regions
 * that are adjacent in guest space but swapped in host space (so a buffer
 * that crosses GPA 0x300000 becomes two iovecs), a ring laid out by the
 * driver-side builder, a device queue over the same memory, and helpers to
 * place data.  Every ring test runs over each format in vqt_formats[].
 */
#ifndef VQTEST_H
#define VQTEST_H

#include <check.h>
#include <endian.h>
#include <vqcore/vqcore.h>

/*
 * Between host order and the rings' little-endian order (the same either
 * way), for tests that read or corrupt ring memory directly: a big-endian
 * host (s390x) runs them too.
 */
#define vqt_le16(x) ((uint16_t)htole16(x))
#define vqt_le32(x) ((uint32_t)htole32(x))
#define vqt_le64(x) ((uint64_t)htole64(x))

#define VQT_REGION_A 0x100000ull /* 2 MiB: ring, indirect tables, data */
#define VQT_REGION_B 0x300000ull /* 2 MiB: data */
#define VQT_REGION_SIZE 0x200000ull
#define VQT_DATA (VQT_REGION_A + 0x100000ull)   /* data area start */
#define VQT_END (VQT_REGION_B + VQT_REGION_SIZE)

struct vqt {
	unsigned format;
	uint16_t num;
	uint64_t features;
	struct vqcore_memfd mf;
	struct vqcore_mem *mem;
	struct vqcore_ring_layout ring;
	uint64_t indirect_gpa;
	uint16_t max_indirect;
	struct vqcore_drvq *dq;
	struct vqcore_vq *vq;
	uint64_t bump;    /* data allocator */
	int log_lines;    /* log lines seen at ERROR level */
};

/*
 * Formats every ring test runs over (the loop index of
 * tcase_add_loop_test): split, packed and the test-only testring
 * (formats/testring/).  Tests of what the vhost-user code asks of a
 * format (inflight records, bases, a vhost-user device) run over
 * vqt_vu_formats, the virtio formats vhost-user negotiates.
 */
extern const unsigned vqt_formats[];
extern const unsigned vqt_nformats;
extern const unsigned vqt_vu_formats[];
extern const unsigned vqt_nvu_formats;
const char *vqt_format_name(unsigned format);

/* Run @s with Check's defaults; 0 when every test passed, else 1. */
int vqt_run_suite(Suite *s);


/* Set up memory, driver queue and device queue.  batch 0 = default. */
void vqt_setup(struct vqt *t, unsigned format, uint16_t num, uint64_t features,
	       unsigned batch);
void vqt_teardown(struct vqt *t);
/* Re-create only the device queue (state save/restore tests). */
void vqt_new_device(struct vqt *t, unsigned batch);
void *vqt_hva(struct vqt *t, uint64_t gpa);
/* Allocate guest data (64-byte aligned) from the data areas. */
uint64_t vqt_alloc(struct vqt *t, uint32_t len);
/* Route library log lines into t->log_lines. */
void vqt_capture_log(struct vqt *t);
/*
 * The next vqcore_vq_get_bufs() fails with @err (a negative code), which
 * vqcore_vq_error() then reports; later calls get -VQCORE_E_BROKEN; one
 * line was logged (vqt_capture_log() first).
 */
void vqt_expect_broken(struct vqt *t, int err);

/* Standard feature sets */
#define VQT_F_BASE (VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_INDIRECT_DESC))
#define VQT_F_EVENT (VQT_F_BASE | VQCORE_BIT(VQCORE_F_EVENT_IDX))
#define VQT_F_INORDER (VQT_F_BASE | VQCORE_BIT(VQCORE_F_IN_ORDER))

#endif
