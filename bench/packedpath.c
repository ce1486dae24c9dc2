/* SPDX-License-Identifier: MIT */
/*
 * packedpath: the packed ring's 4-wide fetch path against the general path.
 *
 * Ring of 256, batch 32, one-descriptor buffers.  Three measurements:
 *   single   one thread plays driver and device; device-side ns per buffer
 *            (get_bufs + put_used only), general path (baseline) and 4-wide
 *            path (subject) alternated, median ratio of throughputs.
 *   pingpong a driver thread and a device thread on the two cores polling
 *            the ring; buffers per second, alternated, median ratio.
 *   fixed    N device-side rounds with one setting, for callgrind:
 *              valgrind --tool=callgrind --toggle-collect=vqcore_vq_get_bufs \
 *                --toggle-collect=vqcore_vq_put_used packedpath fixed 0|1 N
 *            Ir / (32 * N) = device instructions per buffer.
 *
 * Usage: packedpath [single|pingpong|fixed <0|1> <rounds>]  (default: both
 * timed measurements).
 *
 * Output: BENCH packed_<what> key=value ...; ratio = subject throughput /
 * baseline throughput (> 1: the 4-wide path is faster).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqcore/vqcore.h>

#include "bench.h"

/* hidden tuning knob of formats/packed/packed.c */
extern bool vq_packed_batch4;

#define NUM 256
#define BATCH 32
#define MEM_GPA 0x100000ull
#define MEM_SIZE (4ull << 20)
#define DATA_GPA (MEM_GPA + (1ull << 20))

struct ring {
	void *host;
	struct vqcore_mem *mem;
	struct vqcore_drvq *dq;
	struct vqcore_vq *vq;
};

static void die(const char *what, int r)
{
	fprintf(stderr, "packedpath: %s: %s\n", what, vqcore_strerror(r));
	exit(1);
}

static void ring_new(struct ring *r)
{
	struct vqcore_mem_region reg = { .gpa = MEM_GPA, .size = MEM_SIZE, .fd = -1 };
	struct vqcore_ring_layout l;
	struct vqcore_drvq_config dc;
	struct vqcore_vq_config vc;
	int e;

	r->host = aligned_alloc(4096, MEM_SIZE);
	if (!r->host)
		die("alloc", -12);
	memset(r->host, 0, MEM_SIZE);
	reg.hva = r->host;
	r->mem = vqcore_mem_new();
	if (!r->mem || (e = vqcore_mem_add(r->mem, &reg)) < 0)
		die("mem", -12);
	if ((e = vqcore_ring_layout(VQCORE_FORMAT_PACKED, NUM, MEM_GPA, &l)) < 0)
		die("layout", e);
	dc = (struct vqcore_drvq_config){ .sz = sizeof(dc), .format = VQCORE_FORMAT_PACKED,
		.num = NUM, .features = VQCORE_BIT(VQCORE_F_VERSION_1), .mem = r->mem,
		.ring = l, .kick_fd = -1 };
	if ((e = vqcore_drvq_new(&dc, &r->dq)) < 0)
		die("drvq", e);
	vc = (struct vqcore_vq_config){ .sz = sizeof(vc), .format = VQCORE_FORMAT_PACKED,
		.num = NUM, .features = VQCORE_BIT(VQCORE_F_VERSION_1), .batch = BATCH,
		.mem = r->mem, .desc_gpa = l.desc, .driver_gpa = l.driver,
		.device_gpa = l.device, .call_fd = -1 };
	if ((e = vqcore_vq_new(&vc, &r->vq)) < 0)
		die("vq", e);
}

static void ring_free(struct ring *r)
{
	vqcore_vq_free(r->vq);
	vqcore_drvq_free(r->dq);
	vqcore_mem_free(r->mem);
	free(r->host);
}

static void drv_fill(struct ring *r, unsigned n)
{
	/* on a line of its own: the device thread's statics are near */
	static _Alignas(64) unsigned k;

	for (unsigned i = 0; i < n; i++) {
		struct vqcore_sg sg = { DATA_GPA + 64 * (k++ % 1024), 64 };

		if (vqcore_drvq_add(r->dq, &sg, 0, 1, (void *)1, 0) < 0)
			break;
	}
	vqcore_drvq_kick_prepare(r->dq);
}

static void drv_reap(struct ring *r)
{
	void *tok[64];

	while (vqcore_drvq_get_used(r->dq, tok, NULL, 64) > 0)
		;
}

/* One device round: fetch a batch, return it.  Returns buffers moved. */
static int dev_round(struct ring *r)
{
	static _Alignas(64) struct vhost_buf b[BATCH];
	static _Alignas(64) struct iovec iov[BATCH];
	static _Alignas(64) uint32_t lens[BATCH];
	int n = vqcore_vq_get_bufs(r->vq, b, BATCH, iov, BATCH);

	if (n > 0)
		vqcore_vq_put_used(r->vq, b, lens, (unsigned)n);
	return n;
}

/* Device-side ns per buffer over @rounds batches, one thread. */
static double single_run(bool batch4, unsigned rounds)
{
	struct ring r;
	uint64_t dev_ns = 0, bufs = 0;

	vq_packed_batch4 = batch4;
	ring_new(&r);
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t t0;
		int n;

		drv_fill(&r, BATCH);
		t0 = now_ns();
		n = dev_round(&r);
		dev_ns += now_ns() - t0;
		if (n < 0)
			die("device", n);
		bufs += (unsigned)n;
		drv_reap(&r);
	}
	ring_free(&r);
	return (double)dev_ns / (double)bufs;
}

/* ---- two threads ---- */

/* Lives on lines of its own (not on the driver's stack): the device reads
 * stop every round, and a line shared with the driver's locals would move
 * between the cores with every driver store. */
struct pp {
	_Alignas(64) struct ring r;
	_Alignas(64) volatile int stop;
	uint64_t moved;
	char pad[64];
};

static void *device_thread(void *arg)
{
	struct pp *p = arg;
	uint64_t moved = 0;

	pin(1);
	while (!p->stop) {
		int n = dev_round(&p->r);

		if (n < 0)
			die("device", n);
		moved += (unsigned)n;
	}
	p->moved = moved;
	return NULL;
}

/* Buffers per microsecond for @ms milliseconds. */
static double pingpong_run(bool batch4, unsigned ms)
{
	struct pp *pp = aligned_alloc(64, sizeof(struct pp));
	pthread_t th;
	uint64_t t0, t1;
	double rate;

	memset(pp, 0, sizeof(*pp));
#define p (*pp)
	vq_packed_batch4 = batch4;
	ring_new(&p.r);
	pin(0);
	pthread_create(&th, NULL, device_thread, &p);
	t0 = now_ns();
	do {
		drv_reap(&p.r);
		drv_fill(&p.r, vqcore_drvq_free_descs(p.r.dq));
		t1 = now_ns();
	} while (t1 - t0 < ms * 1000000ull);
	p.stop = 1;
	pthread_join(th, NULL);
	ring_free(&p.r);
	rate = (double)p.moved / ((double)(t1 - t0) / 1000.0);
#undef p
	free(pp);
	return rate;
}

#define TRIALS 11

static void bench_single(void)
{
	double base[TRIALS], subj[TRIALS], ratio[TRIALS];

	single_run(true, 20000); /* warm up */
	for (int i = 0; i < TRIALS; i++) {
		base[i] = single_run(false, 50000);
		subj[i] = single_run(true, 50000);
		ratio[i] = base[i] / subj[i];
	}
	qsort(base, TRIALS, sizeof(double), cmp_double);
	qsort(subj, TRIALS, sizeof(double), cmp_double);
	qsort(ratio, TRIALS, sizeof(double), cmp_double);
	printf("BENCH packed_fetch4_single num=%u batch=%u general_ns_per_buf=%.2f "
	       "fetch4_ns_per_buf=%.2f ratio=%.3f trials=%d\n", NUM, BATCH,
	       base[TRIALS / 2], subj[TRIALS / 2], ratio[TRIALS / 2], TRIALS);
}

#define PP_TRIALS 21

static void bench_pingpong(void)
{
	double base[PP_TRIALS], subj[PP_TRIALS], ratio[PP_TRIALS];

	pingpong_run(true, 100); /* warm up */
	for (int i = 0; i < PP_TRIALS; i++) {
		base[i] = pingpong_run(false, 100);
		subj[i] = pingpong_run(true, 100);
		ratio[i] = subj[i] / base[i];
	}
	qsort(base, PP_TRIALS, sizeof(double), cmp_double);
	qsort(subj, PP_TRIALS, sizeof(double), cmp_double);
	qsort(ratio, PP_TRIALS, sizeof(double), cmp_double);
	/* best_ratio: best round of each; less sensitive to other jobs */
	printf("BENCH packed_fetch4_pingpong num=%u batch=%u general_mbufs_per_s=%.2f "
	       "fetch4_mbufs_per_s=%.2f ratio=%.3f ratio_min=%.3f ratio_max=%.3f "
	       "best_ratio=%.3f trials=%d\n",
	       NUM, BATCH, base[PP_TRIALS / 2], subj[PP_TRIALS / 2], ratio[PP_TRIALS / 2],
	       ratio[0], ratio[PP_TRIALS - 1], subj[PP_TRIALS - 1] / base[PP_TRIALS - 1],
	       PP_TRIALS);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "fixed")) {
		struct ring r;
		unsigned rounds = (unsigned)strtoul(argv[3], NULL, 0);
		uint64_t bufs = 0;

		vq_packed_batch4 = atoi(argv[2]) != 0;
		ring_new(&r);
		for (unsigned i = 0; i < rounds; i++) {
			drv_fill(&r, BATCH);
			bufs += (unsigned)dev_round(&r);
			drv_reap(&r);
		}
		ring_free(&r);
		printf("BENCH packed_fixed batch4=%d rounds=%u bufs=%llu\n",
		       vq_packed_batch4, rounds, (unsigned long long)bufs);
		return 0;
	}
	if (argc < 2 || !strcmp(argv[1], "single"))
		bench_single();
	if (argc < 2 || !strcmp(argv[1], "pingpong"))
		bench_pingpong();
	return 0;
}
