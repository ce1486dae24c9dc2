/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a hostile driver's ring.  The input bytes become the ring
 * memory and the data area of a small guest (split or packed, chosen by
 * the first byte, features by the second); the device side fetches, returns
 * and un-fetches buffers, with or without a dirty log (set, replaced or
 * removed while buffers are in flight, by the second byte).  Whatever the
 * bytes, the library must not crash, loop, produce an iovec outside guest
 * memory, or write outside the log (a global the sanitizer guards).
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, or
 * (default) as a standalone program that runs N deterministic random
 * inputs, registered in CTest as fuzz_ring_smoke.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define FUZZ_NAME "fuzz_ring"
#include "fuzz_common.h"

#define GUEST_GPA 0x10000ull
#define GUEST_SIZE 0x10000ull /* 64 KiB: rings + data */
#define NUM 16

static uint8_t guest[GUEST_SIZE] __attribute__((aligned(4096)));
/* exactly the pages up to the end of guest memory */
static uint8_t dirty[2][(GUEST_GPA + GUEST_SIZE) / 4096 / 8];

static unsigned long nbufs_seen, nerr[64];

static void check_iov(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;

		if (p < guest || p + iov[i].iov_len > guest + GUEST_SIZE || !iov[i].iov_len)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vqcore_mem_region r = { .gpa = GUEST_GPA, .size = GUEST_SIZE,
				       .hva = guest, .fd = -1 };
	struct vqcore_mem *mem;
	struct vqcore_ring_layout l;
	struct vqcore_vq *vq = NULL;
	unsigned format;
	uint64_t features;

	if (size < 2)
		return 0;
	format = data[0] & 1;
	features = VQCORE_BIT(VQCORE_F_VERSION_1) |
		   (data[1] & 1 ? VQCORE_BIT(VQCORE_F_INDIRECT_DESC) : 0) |
		   (data[1] & 2 ? VQCORE_BIT(VQCORE_F_EVENT_IDX) : 0) |
		   (data[1] & 4 ? VQCORE_BIT(VQCORE_F_IN_ORDER) : 0);
	memset(guest, 0, sizeof(guest));
	memcpy(guest, data + 2, size - 2 < GUEST_SIZE ? size - 2 : GUEST_SIZE);
	mem = vqcore_mem_new();
	if (!mem || vqcore_mem_add(mem, &r))
		abort();
	if ((data[1] & 8) && vqcore_mem_set_log(mem, dirty[0], sizeof(dirty[0])))
		abort();
	if (vqcore_ring_layout(format, NUM, GUEST_GPA, &l))
		abort();
	{
		struct vqcore_vq_config c = { .sz = sizeof(c), .format = format,
			.num = NUM, .features = features, .batch = 8, .mem = mem,
			.desc_gpa = l.desc, .driver_gpa = l.driver,
			.device_gpa = l.device, .call_fd = -1 };

		if (vqcore_vq_new(&c, &vq))
			abort();
	}
	for (int round = 0; round < 4; round++) {
		struct vhost_buf b[8];
		struct iovec iov[64];
		struct vhost_desc d[64];
		int n = vqcore_vq_get_bufs(vq, b, 8, iov, 64);

		/* the log set, replaced or removed with buffers in flight */
		if (round == 2 && (data[1] & 16))
			vqcore_mem_set_log(mem, data[1] & 32 ? dirty[1] : NULL,
					   sizeof(dirty[1]));
		if (n > 0) {
			nbufs_seen += (unsigned)n;
			for (int i = 0; i < n; i++)
				check_iov(&iov[b[i].first], b[i].out_num + b[i].in_num);
			if (round == 1 && n > 1)
				vqcore_vq_unget(vq, b + n - 1, 1), n--;
			vqcore_vq_put_used(vq, b, NULL, (unsigned)n);
			vqcore_vq_should_signal(vq);
		}
		n = vqcore_vq_get_bufs_desc(vq, b, 8, d, 64);
		if (n > 0)
			vqcore_vq_put_used(vq, b, NULL, (unsigned)n);
		vqcore_vq_enable_notify(vq);
		if (vqcore_vq_error(vq)) {
			int e = -vqcore_vq_error(vq);

			nerr[e >= VQCORE_E_FIRST && e < VQCORE_E_FIRST + 63 ? e - VQCORE_E_FIRST + 1 : 0]++;
			break;
		}
	}
	vqcore_vq_free(vq);
	vqcore_mem_free(mem);
	return 0;
}

#ifndef VQCORE_LIBFUZZER
/*
 * Standalone: N random images.  Half are noise; half start from a valid
 * skeleton (a plausible index, descriptors pointing into guest memory) with
 * a few random bytes changed, which reaches the deeper checks.
 */
int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	static uint8_t buf[2 + 4096];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	fuzz_quiet_log();
	for (unsigned long it = 0; it < iters; it++) {
		size_t len = 2 + (it % 4096);

		for (size_t i = 0; i < len; i++) {
			xorshift64(&x);
			/* mostly small values: indices and lengths that are
			 * almost valid find more paths than uniform noise */
			buf[i] = (uint8_t)(x & 0x8 ? x >> 8 : (x >> 8) & 0x1f);
		}
		if (it & 1) {
			/* skeleton: descriptors at 16-byte steps, each pointing
			 * into the data area, then the driver index */
			size_t need = 2 + 16 * NUM + 0x400;

			if (len < need)
				len = need;
			for (unsigned i = 0; i < NUM; i++) {
				uint64_t a = GUEST_GPA + 0x8000 + 64 * i;
				uint8_t *d = buf + 2 + 16 * i;

				memcpy(d, &a, 8);
				d[8] = 32;
				d[9] = d[10] = d[11] = 0;
				if (buf[0] & 1) { /* packed: id, flags AVAIL (bit 7) */
					d[12] = (uint8_t)i;
					d[13] = 0;
					d[14] = (uint8_t)(0x80 | ((x >> (3 * i)) & 0x7 & (i % 3 ? 0x3 : 0x7)));
					d[15] = 0;
				} else { /* split: flags, next */
					d[12] = (uint8_t)((x >> (3 * i)) & 0x3);
					d[13] = 0;
					d[14] = (uint8_t)(i + 1);
					d[15] = 0;
				}
			}
			if (!(buf[0] & 1)) { /* split avail: idx, ring */
				struct vqcore_ring_layout l;
				uint8_t *a;

				vqcore_ring_layout(VQCORE_FORMAT_SPLIT, NUM, GUEST_GPA, &l);
				a = buf + 2 + (l.driver - GUEST_GPA);
				a[0] = a[1] = a[3] = 0;
				a[2] = (uint8_t)(1 + (x >> 20) % NUM);
				for (unsigned i = 0; i < NUM; i++) {
					a[4 + 2 * i] = (uint8_t)((x >> (i % 40)) % NUM);
					a[5 + 2 * i] = 0;
				}
			}
			/* a few random corruptions */
			for (int k = 0; k < 3; k++) {
				xorshift64(&x);
				buf[2 + (x >> 16) % (len - 2)] = (uint8_t)(x >> 40);
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_ring: %lu inputs, %lu buffers fetched, no crash; breaks by error:",
	       iters, nbufs_seen);
	for (int e = 0; e < 64; e++)
		if (nerr[e])
			printf(" %s=%lu", e ? vqcore_strerror(-(VQCORE_E_FIRST + e - 1)) : "other", nerr[e]);
	printf("\n");
	return 0;
}
#endif
