/* SPDX-License-Identifier: MIT */
/*
 * membench: guest memory table costs.
 *
 *  BENCH mem-lookup regions=N ns=X translate_ns=Y min_ns=Z
 *      one vq_mem_lookup() (the queues' inline entry, per-queue hint) and one
 *      public vqcore_mem_translate() of 64 bytes, at random addresses spread
 *      over all N regions (precomputed, so the last-hit hint rarely helps);
 *      median over rounds, and the best round of the lookup (the machine is
 *      shared and noisy).
 *  BENCH mem-rw op=read|write size=BYTES gib_s=X memcpy_gib_s=Y ratio=R
 *      vqcore_mem_read()/vqcore_mem_write() against memcpy() of the same
 *      size between the same host addresses, alternating rounds in one run,
 *      median ratio (memcpy gets its length at run time, like the library).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_priv.h"
#include "vqcore/os.h"
#include "bench.h"

#define ROUNDS 15
#define NADDR 4096

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static volatile uint64_t sink;

/* ---- lookup ---- */

static void bench_lookup(unsigned nreg)
{
	struct vqcore_mem *m = vqcore_mem_new();
	static uint64_t addr[NADDR];
	double ns[ROUNDS], tns[ROUNDS];
	const uint64_t rsize = 1 << 20, stride = rsize + 0x10000; /* holes */
	const int reps = 64;

	if (!m)
		exit(1);
	for (unsigned i = 0; i < nreg; i++) {
		struct vqcore_mem_region r = {
			.gpa = 0x40000000 + i * stride, .size = rsize,
			.hva = (void *)(uintptr_t)(0x7f0000000000ull + i * rsize),
			.fd = -1,
		};

		if (vqcore_mem_add(m, &r))
			exit(1);
	}
	for (unsigned i = 0; i < NADDR; i++)
		addr[i] = 0x40000000 + (rnd() % nreg) * stride + rnd() % (rsize - 64);

	for (int r = 0; r < ROUNDS; r++) {
		unsigned hint = 0;
		uint64_t sum = 0, t0, t1, t2;

		t0 = vq_now_ns();
		for (int k = 0; k < reps; k++)
			for (unsigned i = 0; i < NADDR; i++)
				sum += (uint64_t)vq_mem_lookup(m, addr[i], &hint);
		t1 = vq_now_ns();
		for (int k = 0; k < reps; k++)
			for (unsigned i = 0; i < NADDR; i++) {
				void *p;

				sum += (uint64_t)vqcore_mem_translate(m, addr[i], 64, &p);
				sum += (uintptr_t)p;
			}
		t2 = vq_now_ns();
		sink += sum;
		ns[r] = (double)(t1 - t0) / (reps * NADDR);
		tns[r] = (double)(t2 - t1) / (reps * NADDR);
	}
	{
		double med = median(ns, ROUNDS);   /* sorts ns: ns[0] is the min */

		printf("BENCH mem-lookup regions=%u ns=%.2f translate_ns=%.2f min_ns=%.2f\n",
		       nreg, med, median(tns, ROUNDS), ns[0]);
	}
	vqcore_mem_free(m);
}

/* ---- read / write ---- */

/*
 * Guest memory: one 32 MiB memfd as 8 GPA-contiguous regions of 4 MiB at
 * 1 GiB, mapped in shuffled host order.  Small ranges cycle through a
 * 256 KiB window (cache-resident, like ring buffers); 1 MiB ranges through
 * 16 MiB.  Ranges stay inside one region: crossing is the slow path.
 */
#define GBASE 0x40000000ull
#define RSIZE (4ull << 20)
#define NREG 8

static struct vqcore_memfd mfd;
static struct vqcore_mem *mem;

static void *gpa_hva(uint64_t gpa)
{
	void *p;

	if (vqcore_mem_translate(mem, gpa, 1, &p))
		exit(1);
	return p;
}

static void copy_lib(void *host, uint64_t gpa, size_t len, bool write)
{
	int r = write ? vqcore_mem_write(mem, gpa, host, len)
		      : vqcore_mem_read(mem, gpa, host, len);

	if (__builtin_expect(r != 0, 0))
		exit(1);
}

/* The memcpy baseline copies between the same host buffers. */
static uint64_t offs[64];
static void *hvas[64];

static double run(bool lib, bool write, size_t size, uint8_t *buf, unsigned n,
		  unsigned iters)
{
	uint64_t t0 = vq_now_ns(), t1;

	if (lib) {
		for (unsigned k = 0; k < iters; k++) {
			unsigned j = k % n;

			copy_lib(buf + (j % 4) * size, offs[j], size, write);
		}
	} else {
		for (unsigned k = 0; k < iters; k++) {
			unsigned j = k % n;

			if (write)
				memcpy(hvas[j], buf + (j % 4) * size, size);
			else
				memcpy(buf + (j % 4) * size, hvas[j], size);
		}
	}
	t1 = vq_now_ns();
	__asm__ volatile("" ::: "memory");
	return (double)size * iters / (double)(t1 - t0) * 1e9 / (1u << 30);
}

static void bench_rw(size_t size, bool write)
{
	double lib[ROUNDS], base[ROUNDS], ratio[ROUNDS];
	uint64_t window = size >= (1u << 20) ? (16u << 20) : (256u << 10);
	unsigned n = (unsigned)(window / size) < 64 ? (unsigned)(window / size) : 64;
	uint64_t total = size >= (1u << 20) ? (256ull << 20) : (64ull << 20);
	unsigned iters = (unsigned)(total / size);
	uint8_t *buf = aligned_alloc(4096, 4 * size);

	if (!buf)
		exit(1);
	memset(buf, 0x3c, 4 * size);
	/*
	 * n ranges spread over the window, each inside one region.  Small
	 * ones get a random cache-line offset, off the 4 KiB grid of the host
	 * buffer, so that neither side pays for 4K store/load aliasing.
	 */
	for (unsigned j = 0; j < n; j++) {
		uint64_t off = (window / n) * j;

		if (size < 4096)
			off += 64 * (1 + rnd() % 48);

		offs[j] = GBASE + off;
		if ((offs[j] - GBASE) / RSIZE != (offs[j] + size - 1 - GBASE) / RSIZE)
			exit(1);
		hvas[j] = gpa_hva(offs[j]);
	}
	/* warm up both */
	run(true, write, size, buf, n, iters / 4 + 1);
	run(false, write, size, buf, n, iters / 4 + 1);
	for (int r = 0; r < ROUNDS; r++) {
		if (r & 1) {
			lib[r] = run(true, write, size, buf, n, iters);
			base[r] = run(false, write, size, buf, n, iters);
		} else {
			base[r] = run(false, write, size, buf, n, iters);
			lib[r] = run(true, write, size, buf, n, iters);
		}
		ratio[r] = lib[r] / base[r];
	}
	printf("BENCH mem-rw op=%s size=%zu gib_s=%.2f memcpy_gib_s=%.2f ratio=%.3f\n",
	       write ? "write" : "read", size, median(lib, ROUNDS),
	       median(base, ROUNDS), median(ratio, ROUNDS));
	free(buf);
}

int main(void)
{
	static const unsigned nregs[] = { 1, 8, 64 };
	static const size_t sizes[] = { 64, 4096, 1 << 20 };
	static const unsigned order[NREG] = { 5, 2, 7, 0, 3, 6, 1, 4 };

	for (unsigned i = 0; i < VQ_ARRAY_SIZE(nregs); i++)
		bench_lookup(nregs[i]);

	mem = vqcore_mem_new();
	if (!mem || vqcore_memfd_map("membench", NREG * RSIZE, 0, &mfd)) {
		fprintf(stderr, "membench: cannot set up guest memory\n");
		return 1;
	}
	for (unsigned i = 0; i < NREG; i++) {
		struct vqcore_mem_region r = {
			.gpa = GBASE + i * RSIZE, .size = RSIZE,
			.hva = (char *)mfd.hva + order[i] * RSIZE,
			.fd = mfd.fd, .fd_offset = order[i] * RSIZE,
		};

		if (vqcore_mem_add(mem, &r))
			return 1;
	}
	memset(mfd.hva, 0x5a, mfd.size);
	for (unsigned i = 0; i < VQ_ARRAY_SIZE(sizes); i++) {
		bench_rw(sizes[i], false);
		bench_rw(sizes[i], true);
	}
	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&mfd);
	return 0;
}
