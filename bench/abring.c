/* SPDX-License-Identifier: MIT */
/*
 * abring: compare two builds of libvqcore on ringbench's cross-core pair,
 * in one process.  Both shared libraries are loaded side by side
 * (dlopen, RTLD_LOCAL); rounds alternate A and B, and the median of the
 * per-round ratios B/A is reported.  On this machine the cross-core
 * latency changes state within a run, so two separate runs of ringbench
 * cannot tell a 5% change from noise; alternating in one process can.
 * Run it with the same library as A and B first: that is the noise floor.
 * Without arguments it does just that with the build's own libvqcore.so.
 *
 * The pair is ringbench's: the driver adds with vqcore_drvq_add_batch()
 * (or vqcore_drvq_add_sg() with "sg"), the device takes with
 * vqcore_vq_get_bufs() and returns with vqcore_vq_put_used(), one thread
 * on each core, notifications off, 1-descriptor buffers of 64 bytes.
 *
 * With ABRING_CYCLES=1 (x86) it also prints, per buffer, the TSC cycles
 * each side spends in its calls (the device's calls that found buffers and
 * those that found none; the driver's adds and collects).  Comparing that
 * with the calls' cost on one thread (bench/ringsingle) shows how much of
 * a call is waiting for ring lines.  The counting costs time itself: read
 * the rates of such a run only against each other.
 *
 * Usage: abring [A.so B.so [split|packed] [batch] [inorder 0|1] [rounds]
 *        [buffers-per-run] [batch|sg]]
 * Output: BENCH ab format=F batch=N inorder=I a_mbufs_s=X b_mbufs_s=Y ratio=R
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#define ab_cycles() __rdtsc()
#else
#define ab_cycles() 0ull
#endif

#include <vqcore/vqcore.h>

#include "bench.h"

#define NUM 256
#define LINE 64
#define AB_MIN(a, b) ((a) < (b) ? (a) : (b))

/* the calls the pair makes, resolved in each library */
#define AB_CALLS(X) X(vqcore_memfd_map) X(vqcore_memfd_unmap) X(vqcore_mem_new) \
	X(vqcore_mem_add) X(vqcore_mem_free) X(vqcore_ring_layout) X(vqcore_drvq_new) \
	X(vqcore_drvq_free) X(vqcore_vq_new) X(vqcore_vq_free) \
	X(vqcore_vq_disable_notify) X(vqcore_drvq_disable_cb) X(vqcore_vq_get_bufs) \
	X(vqcore_vq_put_used) X(vqcore_drvq_free_descs) X(vqcore_drvq_add_batch) \
	X(vqcore_drvq_add_sg) X(vqcore_drvq_publish) X(vqcore_drvq_get_used) \
	X(vqcore_strerror)

struct ab_lib {
#define AB_PTR(f) __typeof__(f) *f;
	AB_CALLS(AB_PTR)
#undef AB_PTR
};

static void ab_load(struct ab_lib *l, const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "abring: %s\n", dlerror());
		exit(1);
	}
#define AB_SYM(f)                                                            \
	if (!(*(void **)&l->f = dlsym(h, #f))) {                             \
		fprintf(stderr, "abring: %s has no %s\n", path, #f);         \
		exit(1);                                                     \
	}
	AB_CALLS(AB_SYM)
#undef AB_SYM
}

/* cycles per side, summed over every run of both libraries */
struct ab_cycles {
	uint64_t dev_get, dev_empty, dev_put, drv_add, drv_used, drv_empty, bufs;
};

static bool count_cycles;

struct ab_ctx {
	const struct ab_lib *lib;
	struct vqcore_vq *vq;
	uint64_t total;
	unsigned batch;
	struct ab_cycles *cyc;
	atomic_int go;
};

static void die(const struct ab_lib *l, const char *what, int r)
{
	fprintf(stderr, "abring: %s: %s\n", what, l->vqcore_strerror(r));
	exit(1);
}

static void *ab_device(void *arg)
{
	struct ab_ctx *c = arg;
	const struct ab_lib *l = c->lib;
	struct vqcore_vq *vq = c->vq;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	struct ab_cycles cyc = { 0 };
	struct vhost_buf bufs[64];
	struct iovec iov[128];
	uint32_t lens[64];
	uint64_t done = 0;

	pin(1);
	while (!atomic_load(&c->go))
		;
	while (done < total) {
		uint64_t t0 = count_cycles ? ab_cycles() : 0, t1;
		int n = l->vqcore_vq_get_bufs(vq, bufs, batch, iov, 128);

		if (count_cycles) {
			t1 = ab_cycles();
			*(n > 0 ? &cyc.dev_get : &cyc.dev_empty) += t1 - t0;
		}
		if (n <= 0) {
			if (n < 0)
				die(l, "device", n);
			cpu_relax();
			continue;
		}
		for (int i = 0; i < n; i++)
			lens[i] = bufs[i].in_len;
		t0 = count_cycles ? ab_cycles() : 0;
		l->vqcore_vq_put_used(vq, bufs, lens, (unsigned)n);
		if (count_cycles)
			cyc.dev_put += ab_cycles() - t0;
		done += (unsigned)n;
	}
	c->cyc->dev_get += cyc.dev_get;
	c->cyc->dev_empty += cyc.dev_empty;
	c->cyc->dev_put += cyc.dev_put;
	return NULL;
}

static double ab_run(const struct ab_lib *l, unsigned format, bool in_order,
		     uint64_t total, unsigned batch, bool use_sg,
		     struct ab_cycles *cyc)
{
	uint64_t features = VQCORE_BIT(VQCORE_F_VERSION_1) |
			    (in_order ? VQCORE_BIT(VQCORE_F_IN_ORDER) : 0);
	struct ab_ctx *c = aligned_alloc(LINE, 2 * LINE);
	struct vqcore_memfd mf;
	struct vqcore_mem *mem;
	struct vqcore_drvq *dq;
	struct vqcore_ring_layout lay;
	uint64_t sent = 0, done = 0, t0, t1;
	pthread_t dev;
	void *tok[64];
	int r;

	memset(c, 0, 2 * LINE);
	c->lib = l;
	c->total = total;
	c->batch = batch;
	c->cyc = cyc;
	/* ringbench's table: 8 regions of 1 MiB, buffers in the second */
	if ((r = l->vqcore_memfd_map("abring", 8 << 20, 0, &mf)))
		die(l, "memfd", r);
	mem = l->vqcore_mem_new();
	for (unsigned i = 0; i < 8; i++) {
		struct vqcore_mem_region reg = { .gpa = (uint64_t)i << 24, .size = 1 << 20,
			.hva = (char *)mf.hva + ((size_t)i << 20), .fd = mf.fd,
			.fd_offset = (uint64_t)i << 20 };

		if ((r = l->vqcore_mem_add(mem, &reg)))
			die(l, "region", r);
	}
	l->vqcore_ring_layout(format, NUM, 0, &lay);
	{
		struct vqcore_drvq_config dc = { .sz = sizeof(dc), .format = format,
			.num = NUM, .features = features, .mem = mem, .ring = lay,
			.kick_fd = -1 };
		struct vqcore_vq_config vc = { .sz = sizeof(vc), .format = format,
			.num = NUM, .features = features, .batch = batch, .mem = mem,
			.desc_gpa = lay.desc, .driver_gpa = lay.driver,
			.device_gpa = lay.device, .call_fd = -1 };

		if ((r = l->vqcore_drvq_new(&dc, &dq)) || (r = l->vqcore_vq_new(&vc, &c->vq)))
			die(l, "setup", r);
	}
	l->vqcore_vq_disable_notify(c->vq);
	l->vqcore_drvq_disable_cb(dq);
	pthread_create(&dev, NULL, ab_device, c);
	pin(0);
	atomic_store(&c->go, 1);
	t0 = now_ns();
	while (done < total) {
		struct vqcore_sg sg[64];
		struct vqcore_drvq_req req[64];
		void *tokens[64];
		unsigned want = (unsigned)AB_MIN(total - sent, (uint64_t)batch), k = 0;
		uint64_t c0, c1;
		int n, added = 0;

		want = AB_MIN(want, l->vqcore_drvq_free_descs(dq));
		for (unsigned i = 0; i < want; i++) {
			sg[i].addr = (1ull << 24) + ((sent + i) % NUM) * 64;
			sg[i].len = 64;
			tokens[i] = (void *)(uintptr_t)(sent + i + 1);
			req[i] = (struct vqcore_drvq_req){ .sg = &sg[i], .in_num = 1,
							   .token = tokens[i] };
		}
		c0 = count_cycles ? ab_cycles() : 0;
		if (want)
			added = use_sg ? l->vqcore_drvq_add_sg(dq, sg, tokens, want,
							       VQCORE_ADD_WRITABLE)
				       : l->vqcore_drvq_add_batch(dq, req, want);
		if (added < 0)
			die(l, "add", added);
		if (added > 0) {
			sent += (unsigned)added;
			k = (unsigned)added;
			l->vqcore_drvq_publish(dq); /* the device polls: no kicks */
		}
		c1 = count_cycles ? ab_cycles() : 0;
		n = l->vqcore_drvq_get_used(dq, tok, NULL, batch);
		if (n < 0)
			die(l, "driver", n);
		if (count_cycles) {
			uint64_t c2 = ab_cycles();

			cyc->drv_add += c1 - c0;
			*(n > 0 ? &cyc->drv_used : &cyc->drv_empty) += c2 - c1;
		}
		done += (unsigned)n;
		if (!k && !n)
			cpu_relax();
	}
	t1 = now_ns();
	pthread_join(dev, NULL);
	cyc->bufs += total;
	l->vqcore_vq_free(c->vq);
	l->vqcore_drvq_free(dq);
	l->vqcore_mem_free(mem);
	l->vqcore_memfd_unmap(&mf);
	free(c);
	return (double)total * 1e3 / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	static struct ab_lib lib[2];
	struct ab_cycles cyc = { 0 };
	double a[64], b[64], ratio[64];
	unsigned format, batch, rounds;
	uint64_t total;
	bool in_order, use_sg;

	if (argc < 3) {
		/* no libraries named: this build's own, against itself (the
		 * noise floor; scripts/bench runs it so) */
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 32);
		char *slash;

		if (len <= 0 || !(slash = memrchr(self, '/', (size_t)len))) {
			fprintf(stderr, "usage: abring A.so B.so [split|packed] [batch] "
					"[inorder 0|1] [rounds] [buffers-per-run] [batch|sg]\n");
			return 2;
		}
		strcpy(slash, "/../libvqcore.so");
		ab_load(&lib[0], self);
		ab_load(&lib[1], self);
	} else {
		ab_load(&lib[0], argv[1]);
		ab_load(&lib[1], argv[2]);
	}
	format = argc > 3 && !strcmp(argv[3], "split") ? 0 : 1;
	batch = argc > 4 ? (unsigned)atoi(argv[4]) : 32;
	in_order = argc > 5 && atoi(argv[5]);
	rounds = argc > 6 ? (unsigned)atoi(argv[6]) : 15;
	total = argc > 7 ? strtoull(argv[7], NULL, 0) : 2000000;
	use_sg = argc > 8 && !strcmp(argv[8], "sg");
	count_cycles = getenv("ABRING_CYCLES") && atoi(getenv("ABRING_CYCLES"));
	if (!batch || batch > 64)
		batch = 32;
	if (!rounds || rounds > 64)
		rounds = 15;
	for (unsigned r = 0; r < rounds; r++) {
		a[r] = ab_run(&lib[0], format, in_order, total, batch, use_sg, &cyc);
		b[r] = ab_run(&lib[1], format, in_order, total, batch, use_sg, &cyc);
		ratio[r] = b[r] / a[r];
	}
	printf("BENCH ab format=%s batch=%u inorder=%u add=%s a_mbufs_s=%.2f "
	       "b_mbufs_s=%.2f ratio=%.3f\n", format ? "packed" : "split", batch,
	       in_order, use_sg ? "sg" : "batch", median(a, rounds),
	       median(b, rounds), median(ratio, rounds));
	if (count_cycles) {
		double n = (double)cyc.bufs;

		printf("CYCLES per buffer (TSC, both libraries): device get %.1f "
		       "get-empty %.1f put %.1f | driver add %.1f used %.1f "
		       "used-empty %.1f\n", cyc.dev_get / n, cyc.dev_empty / n,
		       cyc.dev_put / n, cyc.drv_add / n, cyc.drv_used / n,
		       cyc.drv_empty / n);
	}
	return 0;
}
