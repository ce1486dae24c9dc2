/* SPDX-License-Identifier: MIT */
/*
 * ringbench: a driver thread and a device thread, one on each core, move
 * 1-descriptor buffers through a virtqueue and back, against a baseline of
 * two minimal single-producer/single-consumer rings (16-byte requests one
 * way, 8-byte completions back) with the same batching and threads.
 *
 * The device translates every buffer through the memory table
 * (vqcore_vq_get_bufs) as a real device would.  Cross-core latency on this
 * machine changes state during a run, so baseline and ring runs alternate
 * and the median ratio is reported.
 *
 * A third subject, "proto", is a bare loop per format with no library:
 * fixed-size one-descriptor buffers, no validation, no translation, no
 * tokens, each side's ring lines taken for writing as soon as it sees a
 * batch.  It is what the ring layout itself allows on this machine, in
 * the same run, so the library's figure can be read against it.
 *
 * "ring-log" is the library with a dirty log set on the memory table, as
 * during a live migration: every buffer takes the general path and has
 * its writable range recorded at fetch and logged at put_used.
 *
 * "ring-lean" is the library's internal lean fetch and return
 * (vq_lean_get() and vq_lean_finish(), lib/vq_lean.h), what
 * vqcore_net_forward() runs for one-descriptor buffers: host pointers
 * instead of iovecs and vhost_bufs.  It alternates with the same format's
 * proto, and its ratio is to the proto.
 *
 * "ring-hyb-lib-driver" and "ring-hyb-lib-device" (subjects "hyb") run
 * one side of ring-lean against the other side's proto loop on the same
 * ring, so the gap to the proto can be put on a side.
 * "ring-hyb-proto-lib-ring" runs both proto loops on the library's ring
 * areas (its layout, its memfd): what the layout and memory alone cost.
 *
 * Usage: ringbench [buffers-per-run] [rounds] [format|all] [batch|0=all]
 *                  [all|lean|hyb]
 * Output: BENCH ring format=split|packed batch=N inorder=0|1 mbufs_s=X
 *         baseline_mbufs_s=Y ratio=R
 *         BENCH ring-log format=split|packed batch=N inorder=0|1 mbufs_s=X
 *         baseline_mbufs_s=Y ratio=R
 *         BENCH ring-proto format=split|packed batch=N mbufs_s=X
 *         baseline_mbufs_s=Y ratio=R
 *         BENCH ring-lean format=split|packed batch=N mbufs_s=X
 *         proto_mbufs_s=Y ratio_proto=R
 *         BENCH ring-hyb-lib-driver|-lib-device|-proto-lib-ring format=... batch=N
 *         mbufs_s=X proto_mbufs_s=Y ratio_proto=R
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqcore/vqcore.h>

#include "bench.h"
#include "vq_lean.h"

#define NUM 256
#define LINE 64
#ifndef VQ_MIN
#define VQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* ---------------- baseline: two SPSC rings ---------------- */

struct spsc {
	_Alignas(LINE) _Atomic uint32_t head;  /* consumer */
	_Alignas(LINE) _Atomic uint32_t tail;  /* producer */
	_Alignas(LINE) uint32_t head_cache;    /* producer's view of head */
	_Alignas(LINE) uint32_t tail_cache;    /* consumer's view of tail */
	_Alignas(LINE) unsigned char slots[];
};

struct base_ctx {
	struct spsc *req;  /* 16-byte entries */
	struct spsc *cpl;  /* 8-byte entries */
	uint64_t total;
	unsigned batch;
	atomic_int go;
};

static struct spsc *spsc_new(size_t entry)
{
	struct spsc *r = aligned_alloc(LINE, sizeof(*r) + NUM * entry);

	memset(r, 0, sizeof(*r) + NUM * entry);
	return r;
}

static void *base_device(void *arg)
{
	struct base_ctx *c = arg;
	/* private copies: the context line is never touched in the loop */
	struct spsc *req = c->req, *cpl = c->cpl;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	uint64_t done = 0;
	uint32_t rh = 0, ct = 0;

	pin(1);
	while (!atomic_load(&c->go))
		;
	while (done < total) {
		uint32_t avail = atomic_load_explicit(&req->tail, memory_order_acquire) - rh;
		unsigned n = avail < batch ? avail : batch;

		if (!n) {
			cpu_relax();
			continue;
		}
		/* completion ring space is implied: in-flight <= NUM */
		for (unsigned i = 0; i < n; i++) {
			uint64_t rq[2], cp;

			memcpy(rq, &req->slots[((rh + i) % NUM) * 16], 16);
			cp = rq[0] ^ rq[1];
			memcpy(&cpl->slots[((ct + i) % NUM) * 8], &cp, 8);
		}
		rh += n;
		ct += n;
		atomic_store_explicit(&req->head, rh, memory_order_release);
		atomic_store_explicit(&cpl->tail, ct, memory_order_release);
		done += n;
	}
	return NULL;
}

static double run_baseline(uint64_t total, unsigned batch)
{
	/* the context lives on its own lines, away from this thread's stack */
	struct base_ctx *ctx = aligned_alloc(LINE, 2 * LINE), c0 = { .req = spsc_new(16),
			      .cpl = spsc_new(8), .total = total, .batch = batch };
#define c (*ctx)
	uint64_t sent = 0, done = 0, t0, t1, sink = 0;
	uint32_t rt = 0, ch = 0;
	pthread_t dev;

	memcpy(ctx, &c0, sizeof(c0));
	pthread_create(&dev, NULL, base_device, &c);
	pin(0);
	atomic_store(&c.go, 1);
	t0 = now_ns();
	while (done < total) {
		unsigned k = 0;
		uint32_t avail;

		while (sent < total && k < batch && sent - done < NUM) {
			uint64_t rq[2] = { sent, ~sent };

			memcpy(&c.req->slots[(rt % NUM) * 16], rq, 16);
			rt++;
			sent++;
			k++;
		}
		if (k)
			atomic_store_explicit(&c.req->tail, rt, memory_order_release);
		avail = atomic_load_explicit(&c.cpl->tail, memory_order_acquire) - ch;
		if (avail > batch)
			avail = batch;
		for (unsigned i = 0; i < avail; i++) {
			uint64_t cp;

			memcpy(&cp, &c.cpl->slots[((ch + i) % NUM) * 8], 8);
			sink += cp;
		}
		ch += avail;
		if (avail)
			atomic_store_explicit(&c.cpl->head, ch, memory_order_release);
		done += avail;
		if (!k && !avail)
			cpu_relax();
	}
	t1 = now_ns();
	pthread_join(dev, NULL);
	free(c.req);
	free(c.cpl);
#undef c
	free(ctx);
	if (sink == 1)
		putchar(' ');
	return (double)total * 1e3 / (double)(t1 - t0); /* Mbufs/s */
}

/* ---------------- proto: bare loops over each ring format ---------------- */

#define P_AVAIL (1u << 7)
#define P_USED (1u << 15)
#define P_WRITE 2u

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;    /* split: flags; packed: id */
	uint16_t flags; /* split: next; packed: flags */
};

struct proto_ctx {
	struct pdesc *desc;
	uint16_t *avail;  /* split: flags, idx, ring[NUM] */
	uint32_t *used;   /* split: flags|idx, then (id, len) pairs */
	uint16_t *aring;  /* split: the avail ring's entries */
	uint32_t *uring;  /* split: the used ring's (id, len) pairs */
	uint64_t total;
	unsigned batch;
	atomic_int go;
};

static void *proto_packed_device(void *arg)
{
	struct proto_ctx *c = arg;
	struct pdesc *ring = c->desc;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	uint64_t done = 0, sink = 0;
	uint16_t idx = 0;
	bool w = true;

	pin(1);
	while (!atomic_load(&c->go))
		;
	while (done < total) {
		uint16_t want = w ? P_AVAIL : P_USED, head = idx;
		bool hw = w;
		unsigned n = 0;

		if ((__atomic_load_n(&ring[idx].flags, __ATOMIC_ACQUIRE) & (P_AVAIL | P_USED)) != want) {
			cpu_relax();
			continue;
		}
		/* the batch is published: take its lines for writing */
		for (unsigned j = 0; j < batch; j += 4)
			__builtin_prefetch(&ring[(idx + j) % NUM], 1, 3);
		while (n < batch) {
			want = w ? P_AVAIL : P_USED;
			if ((__atomic_load_n(&ring[idx].flags, __ATOMIC_ACQUIRE) &
			     (P_AVAIL | P_USED)) != want)
				break;
			sink += ring[idx].addr;
			/* used: same id, the length written */
			if (n)
				__atomic_store_n(&ring[idx].flags,
						 (uint16_t)(w ? P_AVAIL | P_USED : 0),
						 __ATOMIC_RELEASE);
			n++;
			if (++idx == NUM) {
				idx = 0;
				w = !w;
			}
		}
		__atomic_store_n(&ring[head].flags, (uint16_t)(hw ? P_AVAIL | P_USED : 0),
				 __ATOMIC_RELEASE);
		done += n;
	}
	if (sink == 1)
		putchar(' ');
	return NULL;
}

static void proto_packed_driver(struct proto_ctx *c, uint64_t *tok)
{
	struct pdesc *ring = c->desc;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	uint64_t sent = 0, done = 0, sink = 0;
	uint16_t ai = 0, ui = 0;
	bool aw = true, uw = true;

	while (done < total) {
		unsigned m = 0, n = 0;

		while (sent + m < total && m < batch && sent + m - done < NUM)
			m++;
		/* last slot first: the device polls the first one's line */
		for (unsigned j = m; j-- > 0;) {
			unsigned s = ai + j;
			bool w = aw;

			if (s >= NUM) {
				s -= NUM;
				w = !w;
			}
			ring[s].addr = (1ull << 24) + ((sent + j) % NUM) * 64;
			ring[s].len = 64;
			ring[s].id = (uint16_t)s;
			tok[s] = sent + j + 1;
			if (j)
				__atomic_store_n(&ring[s].flags, (uint16_t)((w ? P_AVAIL : P_USED) | P_WRITE),
						 __ATOMIC_RELEASE);
		}
		if (m) {
			__atomic_store_n(&ring[ai].flags, (uint16_t)((aw ? P_AVAIL : P_USED) | P_WRITE),
					 __ATOMIC_RELEASE);
			sent += m;
			ai = (uint16_t)(ai + m);
			if (ai >= NUM) {
				ai = (uint16_t)(ai - NUM);
				aw = !aw;
			}
		}
		if ((__atomic_load_n(&ring[ui].flags, __ATOMIC_ACQUIRE) & (P_AVAIL | P_USED)) ==
		    (uw ? P_AVAIL | P_USED : 0))
			for (unsigned j = 0; j < batch; j += 4)
				__builtin_prefetch(&ring[(ui + j) % NUM], 1, 3);
		while (n < batch && (__atomic_load_n(&ring[ui].flags, __ATOMIC_ACQUIRE) &
				     (P_AVAIL | P_USED)) == (uw ? P_AVAIL | P_USED : 0)) {
			sink += tok[ring[ui].id] + ring[ui].len;
			n++;
			if (++ui == NUM) {
				ui = 0;
				uw = !uw;
			}
		}
		done += n;
		if (!m && !n)
			cpu_relax();
	}
	if (sink == 1)
		putchar(' ');
}

static void *proto_split_device(void *arg)
{
	struct proto_ctx *c = arg;
	struct pdesc *desc = c->desc;
	uint16_t *aidx = &c->avail[1], *aring = c->aring;
	uint16_t *uidxp = (uint16_t *)c->used + 1;
	uint32_t *uring = c->uring;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	uint64_t done = 0, sink = 0;
	uint16_t pos = 0, uidx = 0;

	pin(1);
	while (!atomic_load(&c->go))
		;
	while (done < total) {
		unsigned n = (uint16_t)(__atomic_load_n(aidx, __ATOMIC_ACQUIRE) - pos);

		if (!n) {
			cpu_relax();
			continue;
		}
		if (n > batch)
			n = batch;
		for (unsigned i = 0; i < n; i += 8)
			__builtin_prefetch(&uring[2 * ((uidx + i) % NUM)], 1, 3);
		for (unsigned i = 0; i < n; i++) {
			uint16_t h = aring[(uint16_t)(pos + i) % NUM] % NUM;
			uint64_t v = h | (uint64_t)desc[h].len << 32;

			sink += desc[h].addr;
			memcpy(&uring[2 * ((uint16_t)(uidx + i) % NUM)], &v, 8);
		}
		pos = (uint16_t)(pos + n);
		uidx = (uint16_t)(uidx + n);
		__atomic_store_n(uidxp, uidx, __ATOMIC_RELEASE);
		done += n;
	}
	if (sink == 1)
		putchar(' ');
	return NULL;
}

static void proto_split_driver(struct proto_ctx *c, uint64_t *tok)
{
	struct pdesc *desc = c->desc;
	uint16_t *aidxp = &c->avail[1], *aring = c->aring;
	uint16_t *uidxp = (uint16_t *)c->used + 1;
	uint32_t *uring = c->uring;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	uint64_t sent = 0, done = 0, sink = 0;
	uint16_t aidx = 0, last = 0;

	while (done < total) {
		unsigned k = 0, n = 0;
		uint16_t u;

		while (sent < total && k < batch && sent - done < NUM) {
			uint16_t id = aidx % NUM;

			desc[id].addr = (1ull << 24) + (sent % NUM) * 64;
			desc[id].len = 64;
			desc[id].id = P_WRITE;
			desc[id].flags = 0;
			tok[id] = sent + 1;
			if (aring[id] != id)
				aring[id] = id;
			aidx++;
			sent++;
			k++;
		}
		if (k)
			__atomic_store_n(aidxp, aidx, __ATOMIC_RELEASE);
		u = __atomic_load_n(uidxp, __ATOMIC_ACQUIRE);
		while (n < batch && last != u) {
			uint64_t v;
			uint16_t id;

			memcpy(&v, &uring[2 * (last % NUM)], 8);
			id = (uint16_t)v % NUM;
			sink += tok[id] + (v >> 32);
			/* written again next lap */
			__builtin_prefetch(&desc[id], 1, 3);
			last++;
			n++;
		}
		done += n;
		if (!k && !n)
			cpu_relax();
	}
	if (sink == 1)
		putchar(' ');
}

static double run_proto(unsigned format, uint64_t total, unsigned batch)
{
	struct proto_ctx *c = aligned_alloc(LINE, 2 * LINE);
	/* split: descriptors, avail (flags, idx, ring) and used (index line,
	 * then entries), each area on lines of its own */
	size_t dsz = 16 * NUM, asz = (4 + 2 * NUM + LINE - 1) / LINE * LINE;
	size_t usz = LINE + 8 * NUM;
	char *mem = aligned_alloc(LINE, dsz + asz + usz);
	uint64_t *tok = aligned_alloc(LINE, 8 * NUM);
	uint64_t t0, t1;
	pthread_t dev;

	memset(c, 0, 2 * LINE);
	memset(mem, 0, dsz + asz + usz);
	c->desc = (struct pdesc *)mem;
	c->avail = (uint16_t *)(mem + dsz);
	c->used = (uint32_t *)(mem + dsz + asz);
	c->aring = &c->avail[2];
	c->uring = c->used + 16; /* entries from the next line */
	c->total = total;
	c->batch = batch;
	pthread_create(&dev, NULL, format ? proto_packed_device : proto_split_device, c);
	pin(0);
	atomic_store(&c->go, 1);
	t0 = now_ns();
	if (format)
		proto_packed_driver(c, tok);
	else
		proto_split_driver(c, tok);
	t1 = now_ns();
	pthread_join(dev, NULL);
	free(tok);
	free(mem);
	free(c);
	return (double)total * 1e3 / (double)(t1 - t0);
}

/* ---------------- virtqueue ---------------- */

struct ring_ctx {
	struct vqcore_mem *mem;
	struct vqcore_vq *vq;
	struct vqcore_drvq *dq;
	uint64_t total;
	unsigned batch;
	bool lean;
	atomic_int go;
};

/* ring_device() through the lean fetch and return. */
static void ring_device_lean(struct ring_ctx *c)
{
	struct vqcore_vq *vq = c->vq;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	struct vq_lean e[64];
	uint32_t lens[64];
	uint64_t done = 0;

	while (done < total) {
		uint32_t pos = 0;
		bool general;
		unsigned n = vq_lean_get(vq, e, batch, true, &pos, &general);

		if (!n) {
			if (general) {
				fprintf(stderr, "device: the lean fetch refused the ring\n");
				exit(1);
			}
			cpu_relax();
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			lens[i] = e[i].len;
		if (vq_lean_finish(vq, pos, e, true, lens, n, n)) {
			fprintf(stderr, "device: the queue broke\n");
			exit(1);
		}
		done += n;
	}
}

static void *ring_device(void *arg)
{
	struct ring_ctx *c = arg;
	struct vqcore_vq *vq = c->vq;
	const uint64_t total = c->total;
	const unsigned batch = c->batch;
	struct vhost_buf bufs[64];
	struct iovec iov[128];
	uint32_t lens[64];
	uint64_t done = 0;

	pin(1);
	while (!atomic_load(&c->go))
		;
	if (c->lean) {
		ring_device_lean(c);
		return NULL;
	}
	while (done < total) {
		int n = vqcore_vq_get_bufs(vq, bufs, batch, iov, 128);

		if (n <= 0) {
			if (n < 0) {
				fprintf(stderr, "device: %s\n", vqcore_strerror(n));
				exit(1);
			}
			cpu_relax();
			continue;
		}
		/* the device "writes" each buffer in full, as a block read
		 * does (in order, each still gets its used entry: see
		 * vqcore_vq_put_used()) */
		for (int i = 0; i < n; i++)
			lens[i] = bufs[i].in_len;
		vqcore_vq_put_used(vq, bufs, lens, (unsigned)n);
		done += (unsigned)n;
	}
	return NULL;
}

/* The table's 8 regions sit at i << 24: a bitmap for 128 MiB of guest space. */
#define LOG_BYTES ((8ull << 24) / 4096 / 8)

/* Which side of run_ring() is the library's: both, or one of them with
 * the same format's proto loop on the other side of the same ring, or
 * neither (both proto loops on the library's ring areas: the proto's
 * figure with the library's layout and memory). */
enum { HYB_NONE, HYB_LIB_DRIVER, HYB_LIB_DEVICE, HYB_PROTO };

static double run_ring_hyb(unsigned format, bool in_order, uint64_t total,
			   unsigned batch, bool log, bool lean, int hyb);

static double run_ring(unsigned format, bool in_order, uint64_t total,
		       unsigned batch, bool log, bool lean)
{
	return run_ring_hyb(format, in_order, total, batch, log, lean, HYB_NONE);
}

static double run_ring_hyb(unsigned format, bool in_order, uint64_t total,
			   unsigned batch, bool log, bool lean, int hyb)
{
	struct proto_ctx *pc = aligned_alloc(LINE, 2 * LINE);
	uint64_t *ptok = aligned_alloc(LINE, 8 * NUM);
	uint8_t *bitmap = NULL;
	struct vqcore_memfd mf;
	struct vqcore_mem_region regs[8];
	struct ring_ctx *ctx = aligned_alloc(LINE, (sizeof(struct ring_ctx) + LINE) & ~(size_t)(LINE - 1));
#define c (*ctx)
	struct vqcore_ring_layout l;
	uint64_t features = VQCORE_BIT(VQCORE_F_VERSION_1) |
			    (in_order ? VQCORE_BIT(VQCORE_F_IN_ORDER) : 0);
	uint64_t sent = 0, done = 0, t0, t1;
	void *tok[64];
	pthread_t dev;
	int r;

	memset(ctx, 0, sizeof(*ctx));
	c.total = total;
	c.batch = batch;
	c.lean = lean;
	/* 8 regions of 1 MiB so translation really searches */
	if (vqcore_memfd_map("ringbench", 8 << 20, 0, &mf))
		exit(1);
	c.mem = vqcore_mem_new();
	for (unsigned i = 0; i < 8; i++) {
		regs[i] = (struct vqcore_mem_region){ .gpa = (uint64_t)i << 24,
			.size = 1 << 20, .hva = (char *)mf.hva + ((size_t)i << 20),
			.fd = mf.fd, .fd_offset = (uint64_t)i << 20 };
		vqcore_mem_add(c.mem, &regs[i]);
	}
	vqcore_ring_layout(format, NUM, 0, &l);
	{
		struct vqcore_drvq_config dc = { .sz = sizeof(dc), .format = format,
			.num = NUM, .features = features, .mem = c.mem, .ring = l,
			.kick_fd = -1 };
		struct vqcore_vq_config vc = { .sz = sizeof(vc), .format = format,
			.num = NUM, .features = features, .batch = batch, .mem = c.mem,
			.desc_gpa = l.desc, .driver_gpa = l.driver,
			.device_gpa = l.device, .call_fd = -1 };

		if ((r = vqcore_drvq_new(&dc, &c.dq)) || (r = vqcore_vq_new(&vc, &c.vq))) {
			fprintf(stderr, "setup: %s\n", vqcore_strerror(r));
			exit(1);
		}
	}
	vqcore_vq_disable_notify(c.vq);
	vqcore_drvq_disable_cb(c.dq);
	if (log) {
		bitmap = aligned_alloc(LINE, LOG_BYTES);
		memset(bitmap, 0, LOG_BYTES);
		if ((r = vqcore_mem_set_log(c.mem, bitmap, LOG_BYTES))) {
			fprintf(stderr, "log: %s\n", vqcore_strerror(r));
			exit(1);
		}
	}
	/* the proto side works on the library's ring areas (gpa 0 is the
	 * memfd's first byte) */
	memset(pc, 0, 2 * LINE);
	pc->desc = (struct pdesc *)((char *)mf.hva + l.desc);
	pc->avail = (uint16_t *)(void *)((char *)mf.hva + l.driver);
	pc->used = (uint32_t *)(void *)((char *)mf.hva + l.device);
	pc->aring = pc->avail + 2;
	pc->uring = pc->used + 1;
	pc->total = total;
	pc->batch = batch;
	if (hyb == HYB_LIB_DRIVER || hyb == HYB_PROTO)
		pthread_create(&dev, NULL, format ? proto_packed_device : proto_split_device, pc);
	else
		pthread_create(&dev, NULL, ring_device, &c);
	pin(0);
	atomic_store(&c.go, 1);
	atomic_store(&pc->go, 1);
	t0 = now_ns();
	if (hyb == HYB_LIB_DEVICE || hyb == HYB_PROTO) {
		if (format)
			proto_packed_driver(pc, ptok);
		else
			proto_split_driver(pc, ptok);
		done = total;
	}
	while (done < total) {
		unsigned k = 0;
		int n;

		{
			/* buffers in the "RAM" region, as a guest's would be; the
			 * table still holds 8 regions */
			struct vqcore_sg sg[64];
			struct vqcore_drvq_req req[64];
			unsigned want = (unsigned)VQ_MIN(total - sent, (uint64_t)batch);
			int added;

			want = VQ_MIN(want, vqcore_drvq_free_descs(c.dq));
			for (unsigned i = 0; i < want; i++) {
				sg[i].addr = (1ull << 24) + ((sent + i) % NUM) * 64;
				sg[i].len = 64;
				req[i] = (struct vqcore_drvq_req){ .sg = &sg[i], .in_num = 1,
					.token = (void *)(uintptr_t)(sent + i + 1) };
			}
			added = want ? vqcore_drvq_add_batch(c.dq, req, want) : 0;
			if (added > 0) {
				sent += (unsigned)added;
				k = (unsigned)added;
			}
		}
		if (k)
			vqcore_drvq_publish(c.dq); /* the device polls: no kicks */
		n = vqcore_drvq_get_used(c.dq, tok, NULL, batch);
		if (n < 0) {
			fprintf(stderr, "driver: %s\n", vqcore_strerror(n));
			exit(1);
		}
		done += (unsigned)n;
		if (!k && !n)
			cpu_relax();
	}
	t1 = now_ns();
	pthread_join(dev, NULL);
	vqcore_vq_free(c.vq);
	vqcore_drvq_free(c.dq);
	vqcore_mem_free(c.mem);
	vqcore_memfd_unmap(&mf);
	free(bitmap);
#undef c
	free(ctx);
	free(pc);
	free(ptok);
	return (double)total * 1e3 / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000000;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 7;
	const char *only = argc > 3 ? argv[3] : "all";
	unsigned only_batch = argc > 4 ? (unsigned)atoi(argv[4]) : 0;
	/* all; lean: ring-lean only; hyb: ring-lean and the hybrids */
	const char *subj = argc > 5 ? argv[5] : "all";
	const bool all = !strcmp(subj, "all");
	static const unsigned batches[] = { 1, 8, 32 };

	if (rounds > 64)
		rounds = 64;
	for (unsigned f = 0; f < 2; f++) {
		const char *fname = f ? "packed" : "split";

		if (strcmp(only, "all") && strcmp(only, fname))
			continue;
		for (unsigned bi = 0; bi < 3; bi++) {
			if (only_batch && batches[bi] != only_batch)
				continue;
			/* io: in order; lg: with a dirty log */
			for (unsigned lg = 0; all && lg < 2; lg++) {
				for (unsigned io = 0; io < 2; io++) {
					double ratio[64], ring[64], base[64];

					for (unsigned r = 0; r < rounds; r++) {
						base[r] = run_baseline(total, batches[bi]);
						ring[r] = run_ring(f, io, total, batches[bi], lg, false);
						ratio[r] = ring[r] / base[r];
					}
					printf("BENCH %s format=%s batch=%u inorder=%u mbufs_s=%.2f "
					       "baseline_mbufs_s=%.2f ratio=%.2f\n",
					       lg ? "ring-log" : "ring", fname, batches[bi], io,
					       median(ring, rounds), median(base, rounds),
					       median(ratio, rounds));
					fflush(stdout);
				}
			}
			if (all) {
				double ratio[64], ring[64], base[64];

				for (unsigned r = 0; r < rounds; r++) {
					base[r] = run_baseline(total, batches[bi]);
					ring[r] = run_proto(f, total, batches[bi]);
					ratio[r] = ring[r] / base[r];
				}
				printf("BENCH ring-proto format=%s batch=%u mbufs_s=%.2f "
				       "baseline_mbufs_s=%.2f ratio=%.2f\n",
				       fname, batches[bi], median(ring, rounds),
				       median(base, rounds), median(ratio, rounds));
				fflush(stdout);
			}
			if (!strcmp(subj, "hyb")) {
				/* which side costs what: each side of ring-lean
				 * alone against the other side's proto loop */
				static const char *const hn[] = { "", "lib-driver", "lib-device",
								  "proto-lib-ring" };

				for (int h = HYB_LIB_DRIVER; h <= HYB_PROTO; h++) {
					double ratio[64], hy[64], proto[64];

					for (unsigned r = 0; r < rounds; r++) {
						proto[r] = run_proto(f, total, batches[bi]);
						hy[r] = run_ring_hyb(f, false, total, batches[bi],
								     false, true, h);
						ratio[r] = hy[r] / proto[r];
					}
					printf("BENCH ring-hyb-%s format=%s batch=%u mbufs_s=%.2f "
					       "proto_mbufs_s=%.2f ratio_proto=%.2f\n",
					       hn[h], fname, batches[bi], median(hy, rounds),
					       median(proto, rounds), median(ratio, rounds));
					fflush(stdout);
				}
			}
			{
				double ratio[64], lean[64], proto[64];

				for (unsigned r = 0; r < rounds; r++) {
					proto[r] = run_proto(f, total, batches[bi]);
					lean[r] = run_ring(f, false, total, batches[bi], false, true);
					ratio[r] = lean[r] / proto[r];
				}
				printf("BENCH ring-lean format=%s batch=%u mbufs_s=%.2f "
				       "proto_mbufs_s=%.2f ratio_proto=%.2f\n",
				       fname, batches[bi], median(lean, rounds),
				       median(proto, rounds), median(ratio, rounds));
				fflush(stdout);
			}
		}
	}
	return 0;
}
