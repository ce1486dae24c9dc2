/* SPDX-License-Identifier: MIT */
/*
 * ringsingle: the calls of ringbench on one thread, for instruction counts.
 * The driver adds a batch of one-descriptor buffers with
 * vqcore_drvq_add_batch() and publishes it; the device takes it with
 * vqcore_vq_get_bufs() and returns it with vqcore_vq_put_used(); the
 * driver collects it with vqcore_drvq_get_used().  Nothing crosses cores,
 * so the figure is the work per buffer, not the rate a pair of cores gets.
 *
 * The driver adds either with vqcore_drvq_add_batch() (a request per
 * buffer, as ringbench) or with vqcore_drvq_add_sg() (parallel arrays).
 *
 * With "log" after the add mode, a dirty log is set on the memory table
 * (as during a live migration) and the line says log=1.  With "short",
 * the device returns each buffer with a length below its size that
 * varies from buffer to buffer (as a net device's rx queue does), and the
 * line says short=1.  With "idle" the device also polls the empty ring
 * once per round after taking the batch (a polling device's idle turn),
 * and the line says idle=1: the count of vqcore_vq_get_bufs() calls is
 * then twice the rounds, half of them on an empty ring.  With "lean", the
 * device takes and returns the batch through the library's internal lean
 * fetch and return (vq_lean_get() and vq_lean_finish(), lib/vq_lean.h:
 * what vqcore_net_forward() uses for one-descriptor buffers), and the line
 * says lean=1.
 *
 * Usage: ringsingle [split|packed] [batch] [rounds] [inorder 0|1] [batch|sg]
 *        [log|short|idle|lean ...]
 *        (no arguments: both formats, in order and not, batch 32)
 * Output: BENCH ring-single format=F batch=N inorder=I add=batch|sg
 *         [log=1] [short=1] [idle=1] [lean=1] ns_per_buf=X
 * Instruction counts: valgrind --tool=callgrind build-release/bench/ringsingle
 *   packed 32 20000 0, then callgrind_annotate --inclusive=yes; divide by
 *   batch x rounds (lean: vq_lean_get and vq_lean_finish).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqcore/vqcore.h>

#include "bench.h"
#include "vq_lean.h"

#define NUM 256

/* a bitmap for the table's 128 MiB of guest space */
static uint8_t log_bitmap[(8ull << 24) / 4096 / 8];

static int run(unsigned format, unsigned batch, unsigned rounds, unsigned io,
	       bool use_sg, bool log, bool shortlen, bool idle, bool lean)
{
	struct vq_lean e[65];
	uint64_t feat = VQCORE_BIT(VQCORE_F_VERSION_1) |
			(io ? VQCORE_BIT(VQCORE_F_IN_ORDER) : 0);
	struct vqcore_memfd mf;
	struct vqcore_mem *mem;
	struct vqcore_ring_layout l;
	struct vqcore_vq *vq;
	struct vqcore_drvq *dq;
	struct vhost_buf bufs[65];
	struct iovec iov[65];
	uint32_t lens[64];
	void *tok[64];
	struct vqcore_sg sg[64];
	struct vqcore_drvq_req req[64];
	void *tokens[64];
	uint64_t sent = 0, t0, t1;

	if (!batch || batch > 64)
		batch = 32;
	/* the memory table of ringbench: 8 regions, buffers in the second */
	if (vqcore_memfd_map("ringsingle", 8 << 20, 0, &mf))
		return 1;
	mem = vqcore_mem_new();
	for (unsigned i = 0; i < 8; i++) {
		struct vqcore_mem_region r = { .gpa = (uint64_t)i << 24, .size = 1 << 20,
			.hva = (char *)mf.hva + ((size_t)i << 20), .fd = mf.fd,
			.fd_offset = (uint64_t)i << 20 };

		vqcore_mem_add(mem, &r);
	}
	vqcore_ring_layout(format, NUM, 0, &l);
	{
		struct vqcore_drvq_config dc = { .sz = sizeof(dc), .format = format,
			.num = NUM, .features = feat, .mem = mem, .ring = l, .kick_fd = -1 };
		struct vqcore_vq_config vc = { .sz = sizeof(vc), .format = format,
			.num = NUM, .features = feat, .batch = batch, .mem = mem,
			.desc_gpa = l.desc, .driver_gpa = l.driver, .device_gpa = l.device,
			.call_fd = -1 };

		if (vqcore_drvq_new(&dc, &dq) || vqcore_vq_new(&vc, &vq))
			return 1;
	}
	vqcore_vq_disable_notify(vq);
	vqcore_drvq_disable_cb(dq);
	if (log && vqcore_mem_set_log(mem, log_bitmap, sizeof(log_bitmap)))
		return 1;
	t0 = now_ns();
	for (unsigned r = 0; r < rounds; r++) {
		int n;

		for (unsigned i = 0; i < batch; i++) {
			sg[i].addr = (1ull << 24) + ((sent + i) % NUM) * 64;
			sg[i].len = 64;
			tokens[i] = (void *)(uintptr_t)(sent + i + 1);
			if (!use_sg)
				req[i] = (struct vqcore_drvq_req){ .sg = &sg[i],
					.in_num = 1, .token = tokens[i] };
		}
		if (use_sg) {
			if (vqcore_drvq_add_sg(dq, sg, tokens, batch,
					       VQCORE_ADD_WRITABLE) != (int)batch)
				return 2;
		} else if (vqcore_drvq_add_batch(dq, req, batch) != (int)batch) {
			return 2;
		}
		sent += batch;
		vqcore_drvq_publish(dq);
		if (lean) {
			uint32_t pos = 0, pos2 = 0;
			bool general;

			n = (int)vq_lean_get(vq, e, batch, true, &pos, &general);
			if (n != (int)batch)
				return 3;
			for (int i = 0; i < n; i++)
				lens[i] = e[i].len - (shortlen ? 1 + (i & 15) : 0);
			if (idle && vq_lean_get(vq, e + n, 1, true, &pos2, &general) != 0)
				return 3;
			if (vq_lean_finish(vq, pos, e, true, lens, (unsigned)n, (unsigned)n))
				return 3;
		} else {
			n = vqcore_vq_get_bufs(vq, bufs, batch, iov, 64);
			if (n != (int)batch)
				return 3;
			for (int i = 0; i < n; i++)
				lens[i] = bufs[i].in_len - (shortlen ? 1 + (i & 15) : 0);
			if (idle && vqcore_vq_get_bufs(vq, bufs + n, 1, iov + n, 1) != 0)
				return 3;
			if (vqcore_vq_put_used(vq, bufs, lens, (unsigned)n))
				return 3;
		}
		if (vqcore_drvq_get_used(dq, tok, NULL, batch) != (int)batch)
			return 4;
	}
	t1 = now_ns();
	printf("BENCH ring-single format=%s batch=%u inorder=%u add=%s%s%s%s%s ns_per_buf=%.2f\n",
	       format ? "packed" : "split", batch, io, use_sg ? "sg" : "batch",
	       log ? " log=1" : "", shortlen ? " short=1" : "", idle ? " idle=1" : "",
	       lean ? " lean=1" : "",
	       (double)(t1 - t0) / ((double)rounds * batch));
	vqcore_vq_free(vq);
	vqcore_drvq_free(dq);
	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&mf);
	return 0;
}

static bool has_opt(int argc, char **argv, const char *opt)
{
	for (int i = 6; i < argc; i++)
		if (!strcmp(argv[i], opt))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return run(strcmp(argv[1], "split") ? 1 : 0,
			   argc > 2 ? (unsigned)atoi(argv[2]) : 32,
			   argc > 3 ? (unsigned)atoi(argv[3]) : 200000,
			   argc > 4 ? (unsigned)atoi(argv[4]) : 0,
			   argc > 5 && !strcmp(argv[5], "sg"),
			   has_opt(argc, argv, "log"), has_opt(argc, argv, "short"),
			   has_opt(argc, argv, "idle"), has_opt(argc, argv, "lean"));
	for (unsigned f = 0; f < 2; f++)
		for (unsigned io = 0; io < 2; io++)
			for (unsigned sgv = 0; sgv < 2; sgv++)
				if (run(f, 32, 200000, io, sgv, false, false, false, false))
					return 1;
	return 0;
}
