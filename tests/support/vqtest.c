/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/testring/testring.h"
#include "vqtest.h"

const unsigned vqt_formats[] = { VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_PACKED,
				 VQ_FORMAT_TESTRING };
const unsigned vqt_nformats = sizeof(vqt_formats) / sizeof(vqt_formats[0]);
const unsigned vqt_vu_formats[] = { VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_PACKED };
const unsigned vqt_nvu_formats = sizeof(vqt_vu_formats) / sizeof(vqt_vu_formats[0]);

int vqt_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

const char *vqt_format_name(unsigned format)
{
	return format == VQCORE_FORMAT_PACKED ? "packed" :
	       format == VQ_FORMAT_TESTRING ? "testring" : "split";
}

void *vqt_hva(struct vqt *t, uint64_t gpa)
{
	void *p = NULL;

	ck_assert_int_eq(vqcore_mem_translate(t->mem, gpa, 1, &p), 0);
	return p;
}

uint64_t vqt_alloc(struct vqt *t, uint32_t len)
{
	uint64_t a = t->bump;

	t->bump = (t->bump + len + 63) & ~63ull;
	if (t->bump > VQT_END) { /* wrap the data area for long runs */
		a = VQT_DATA;
		t->bump = (VQT_DATA + len + 63) & ~63ull;
	}
	return a;
}

static void log_count(int level, const char *msg, void *opaque)
{
	struct vqt *t = opaque;

	(void)msg;
	if (level == VQCORE_LOG_ERROR)
		t->log_lines++;
}

void vqt_capture_log(struct vqt *t)
{
	t->log_lines = 0;
	vqcore_set_log_fn(log_count, t, VQCORE_LOG_WARN);
}

void vqt_expect_broken(struct vqt *t, int err)
{
	struct vhost_buf b[8];
	struct iovec iov[64];

	ck_assert_int_eq(vqcore_vq_get_bufs(t->vq, b, 8, iov, 64), err);
	ck_assert_int_eq(vqcore_vq_error(t->vq), err);
	ck_assert_int_eq(vqcore_vq_get_bufs(t->vq, b, 8, iov, 64), -VQCORE_E_BROKEN);
	ck_assert_int_eq(vqcore_vq_put_used(t->vq, b, NULL, 1), -VQCORE_E_BROKEN);
	ck_assert_int_eq(t->log_lines, 1);
}

void vqt_new_device(struct vqt *t, unsigned batch)
{
	struct vqcore_vq_config vc = {
		.sz = sizeof(vc), .format = t->format, .num = t->num,
		.features = t->features, .batch = batch, .mem = t->mem,
		.desc_gpa = t->ring.desc, .driver_gpa = t->ring.driver,
		.device_gpa = t->ring.device, .call_fd = -1,
	};

	vqcore_vq_free(t->vq);
	t->vq = NULL;
	ck_assert_int_eq(vqcore_vq_new(&vc, &t->vq), 0);
}

void vqt_setup(struct vqt *t, unsigned format, uint16_t num, uint64_t features,
	       unsigned batch)
{
	struct vqcore_mem_region a, b;
	struct vqcore_drvq_config dc;

	memset(t, 0, sizeof(*t));
	t->format = format;
	t->num = num;
	t->features = features;
	ck_assert_int_eq(vqcore_memfd_map("vqt", 2 * VQT_REGION_SIZE, 0, &t->mf), 0);
	t->mem = vqcore_mem_new();
	ck_assert_ptr_nonnull(t->mem);
	/* A is the second half of the memfd, B the first: adjacent GPAs,
	 * non-adjacent host addresses. */
	a = (struct vqcore_mem_region){ .gpa = VQT_REGION_A, .size = VQT_REGION_SIZE,
		.hva = (char *)t->mf.hva + VQT_REGION_SIZE, .fd = t->mf.fd,
		.fd_offset = VQT_REGION_SIZE };
	b = (struct vqcore_mem_region){ .gpa = VQT_REGION_B, .size = VQT_REGION_SIZE,
		.hva = t->mf.hva, .fd = t->mf.fd, .fd_offset = 0 };
	ck_assert_int_eq(vqcore_mem_add(t->mem, &a), 0);
	ck_assert_int_eq(vqcore_mem_add(t->mem, &b), 0);

	ck_assert_int_eq(vqcore_ring_layout(format, num, VQT_REGION_A, &t->ring), 0);
	t->max_indirect = 16;
	t->indirect_gpa = (VQT_REGION_A + t->ring.size + 63) & ~63ull;
	ck_assert_uint_le(t->indirect_gpa + (uint64_t)num * t->max_indirect * 16, VQT_DATA);
	t->bump = VQT_DATA;

	dc = (struct vqcore_drvq_config){ .sz = sizeof(dc), .format = format,
		.num = num, .features = features, .mem = t->mem, .ring = t->ring,
		.indirect_gpa = t->indirect_gpa, .max_indirect = t->max_indirect,
		.kick_fd = -1 };
	ck_assert_int_eq(vqcore_drvq_new(&dc, &t->dq), 0);
	vqt_new_device(t, batch);
}

void vqt_teardown(struct vqt *t)
{
	vqcore_vq_free(t->vq);
	vqcore_drvq_free(t->dq);
	vqcore_mem_free(t->mem);
	vqcore_memfd_unmap(&t->mf);
	vqcore_set_log_fn(NULL, NULL, VQCORE_LOG_WARN);
	memset(t, 0, sizeof(*t));
}
