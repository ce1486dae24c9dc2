/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the guest memory table (include/vqcore/mem.h).  The input
 * is a sequence of operations (add, remove, clear, translate, translate to
 * iovecs, read, write, set/clear the dirty log, log a range, find).  The
 * harness keeps its own model of the table, of guest memory (a shadow
 * copy of the host arena) and of the dirty log, and after every step
 * checks the library against it:
 *  - add/remove/set_log succeed exactly when the model says so, and a
 *    failure is one of the errors that apply;
 *  - the regions listed (vqcore_mem_get) are the model's, in GPA order,
 *    and each keeps the serial it got when added (fresh, never reused);
 *  - the generation moves on every change;
 *  - translate returns host memory inside the region's mapping at the
 *    right offset, or exactly the error the model predicts;
 *  - translate_iov covers the range region by region;
 *  - read after write returns what was written; a failed write changes
 *    nothing;
 *  - the dirty log has exactly the bits of the pages written or logged.
 *
 * Built two ways, like fuzz_ring.c: a libFuzzer target (VQCORE_LIBFUZZER)
 * or a standalone program that runs N deterministic random inputs
 * (CTest: fuzz_mem_smoke).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define FUZZ_NAME "fuzz_mem"
#include "fuzz_common.h"

#define ARENA_SLOTS 16
#define SLOT_SIZE 0x2000u   /* host memory behind one region */
#define LOG_MAX 512         /* bitmap bytes: 512 * 8 pages = 16 MiB */
#define IO_MAX (4 * SLOT_SIZE)

static uint8_t arena[ARENA_SLOTS * SLOT_SIZE] __attribute__((aligned(4096)));
static uint8_t shadow[ARENA_SLOTS * SLOT_SIZE];
static uint8_t logmap[LOG_MAX], logmodel[LOG_MAX];
static uint8_t iobuf[IO_MAX], iobuf2[IO_MAX];

struct mregion {
	uint64_t gpa, size;
	unsigned slot;
	uint64_t serial;
};

static struct {
	struct mregion r[ARENA_SLOTS];
	unsigned n;
	bool slot_used[ARENA_SLOTS];
	bool log_on;
	uint64_t log_size;
	uint64_t max_serial;
} M;

static unsigned long nops, nerrs;
static bool arena_written, arena_dirty;

/* ---- input reader ---- */

static uint64_t getn(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)get8(in) << (8 * i);
	return v;
}

/* A guest address: mostly small and 1 KiB grained so that regions touch,
 * sometimes unaligned, sometimes near 2^64. */
static uint64_t get_gpa(struct in *in)
{
	uint8_t k = get8(in);

	switch (k >> 6) {
	case 0:
	case 1:
		return (uint64_t)get8(in) * 0x400;
	case 2:
		return (uint64_t)get8(in) * 0x400 + (k & 0x3f);
	default:
		return k & 1 ? UINT64_MAX - getn(in, 2) : getn(in, 4) << (k & 0x1f);
	}
}

static uint64_t get_len(struct in *in)
{
	uint8_t k = get8(in);

	switch (k >> 6) {
	case 0:
		return k & 0x3f; /* includes 0 */
	case 1:
		return ((uint64_t)(k & 0x3f) + 1) * 0x400;
	case 2:
		return (uint64_t)get8(in) * 0x100 + (k & 0x3f);
	default:
		return k & 1 ? UINT64_MAX - (k >> 1 & 0xf) : (uint64_t)1 << (32 + (k & 0x1f));
	}
}

/* ---- model ---- */

/* model region holding @gpa, or -1 */
static int m_find(uint64_t gpa)
{
	for (unsigned i = 0; i < M.n; i++)
		if (gpa >= M.r[i].gpa && gpa - M.r[i].gpa < M.r[i].size)
			return (int)i;
	return -1;
}

static uint8_t *m_hva(const struct mregion *r, uint64_t gpa)
{
	return arena + (size_t)r->slot * SLOT_SIZE + (gpa - r->gpa);
}

static uint64_t m_last(const struct mregion *r)
{
	return r->gpa + (r->size - 1);
}

/*
 * What a lookup of [gpa, gpa+len) must answer: 0 (one region),
 * NOT_CONTIG (contiguous regions), or an error.  @pieces gets the number
 * of regions touched.
 */
static int m_range(uint64_t gpa, uint64_t len, unsigned *pieces)
{
	uint64_t last, cur = gpa;
	unsigned n = 0;

	*pieces = 0;
	if (!len)
		return -VQCORE_E_ZERO_LEN;
	if (len - 1 > UINT64_MAX - gpa)
		return -VQCORE_E_WRAP;
	last = gpa + (len - 1);
	if (m_find(gpa) < 0)
		return -VQCORE_E_UNMAPPED;
	for (;;) {
		int i = m_find(cur);

		if (i < 0)
			return -VQCORE_E_PAST_END;
		n++;
		if (last <= m_last(&M.r[i]))
			break;
		cur = m_last(&M.r[i]) + 1;
	}
	*pieces = n;
	return n == 1 ? 0 : -VQCORE_E_NOT_CONTIG;
}

FUZZ_NOCOV static void m_log(uint64_t gpa, uint64_t len)
{
	uint64_t last, pg;

	if (!M.log_on || !len)
		return;
	last = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + (len - 1);
	for (pg = gpa / VQCORE_LOG_PAGE; pg <= last / VQCORE_LOG_PAGE; pg++) {
		if (pg / 8 >= M.log_size)
			break;
		logmodel[pg / 8] |= (uint8_t)(1u << (pg % 8));
	}
}

static bool log_covers(uint64_t size, uint64_t last)
{
	return last / VQCORE_LOG_PAGE / 8 < size;
}

/* ---- checks after every step ---- */

FUZZ_NOCOV static void check_table(struct vqcore_mem *mem)
{
	struct mregion sorted[ARENA_SLOTS];

	CHECK(vqcore_mem_count(mem) == M.n);
	memcpy(sorted, M.r, sizeof(sorted));
	for (unsigned i = 1; i < M.n; i++)
		for (unsigned j = i; j > 0 && sorted[j - 1].gpa > sorted[j].gpa; j--) {
			struct mregion t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (unsigned i = 0; i < M.n; i++) {
		struct vqcore_mem_region r;

		CHECK(vqcore_mem_get(mem, i, &r) == 0);
		CHECK(r.gpa == sorted[i].gpa && r.size == sorted[i].size);
		CHECK(r.hva == m_hva(&sorted[i], sorted[i].gpa));
		CHECK(vqcore_mem_region_serial(mem, m_last(&sorted[i])) == sorted[i].serial);
	}
	CHECK(vqcore_mem_get(mem, M.n, &(struct vqcore_mem_region){ 0 }) == -ENOENT);
	CHECK(vqcore_mem_logging(mem) == M.log_on);
	if (arena_written) /* after a write, guest memory is the model's */
		CHECK(memcmp(arena, shadow, sizeof(arena)) == 0);
	arena_written = false;
	CHECK(memcmp(logmap, logmodel, sizeof(logmap)) == 0);
}

/* ---- operations ---- */

static void op_add(struct vqcore_mem *mem, struct in *in)
{
	struct vqcore_mem_region r = { .fd = -1 };
	uint8_t k = get8(in);
	uint64_t last = 0, gen = vqcore_mem_generation(mem);
	bool e_zero, e_wrap, e_overlap = false, e_log, e_off, e_hva;
	unsigned slot = ARENA_SLOTS;
	int ret;

	r.gpa = get_gpa(in);
	r.size = get_len(in);
	r.fd_offset = k & 0x10 ? UINT64_MAX - getn(in, 1) : getn(in, 1) * 0x1000;
	for (unsigned s = 0; s < ARENA_SLOTS; s++)
		if (!M.slot_used[s]) {
			slot = s;
			break;
		}
	/* a region the harness cannot back with its own memory must be one
	 * the table refuses for a reason that does not depend on the hva */
	e_zero = !r.size;
	e_wrap = r.size && r.size - 1 > UINT64_MAX - r.gpa;
	e_off = r.fd_offset > (uint64_t)INT64_MAX ||
		r.size > (uint64_t)INT64_MAX - r.fd_offset;
	if (!e_zero && !e_wrap) {
		last = r.gpa + (r.size - 1);
		for (unsigned i = 0; i < M.n; i++)
			if (r.gpa <= m_last(&M.r[i]) && M.r[i].gpa <= last)
				e_overlap = true;
	}
	e_log = M.log_on && !e_zero && !e_wrap && !log_covers(M.log_size, last);
	e_hva = (k & 0x20) != 0;
	if (slot < ARENA_SLOTS && r.size <= SLOT_SIZE && !e_hva)
		r.hva = arena + (size_t)slot * SLOT_SIZE;
	else if (e_zero || e_wrap || e_off || e_hva)
		r.hva = e_hva ? NULL : (void *)(uintptr_t)0x1000; /* never used */
	else
		return; /* would be accepted with memory we do not have */

	/* the host range must not wrap either */
	if (r.hva && r.size && r.size - 1 > UINTPTR_MAX - (uintptr_t)r.hva)
		e_wrap = true;
	ret = vqcore_mem_add(mem, &r);
	if (!e_zero && !e_wrap && !e_off && !e_overlap && !e_log && !e_hva && M.n < VQCORE_MEM_MAX_REGIONS) {
		struct mregion *m = &M.r[M.n];

		CHECK(ret == 0);
		CHECK(vqcore_mem_generation(mem) != gen);
		m->gpa = r.gpa;
		m->size = r.size;
		m->slot = slot;
		m->serial = vqcore_mem_region_serial(mem, r.gpa);
		CHECK(m->serial > M.max_serial);
		M.max_serial = m->serial;
		M.slot_used[slot] = true;
		M.n++;
		return;
	}
	nerrs++;
	CHECK((e_zero && ret == -VQCORE_E_ZERO_LEN) || (e_wrap && ret == -VQCORE_E_WRAP) ||
	      (e_off && ret == -VQCORE_E_OFFSET_OVERFLOW) ||
	      (e_overlap && ret == -VQCORE_E_OVERLAP) ||
	      (e_log && ret == -VQCORE_E_LOG_RANGE) || (e_hva && ret == -EINVAL));
	CHECK(vqcore_mem_generation(mem) == gen);
}

static void m_drop(unsigned i)
{
	M.slot_used[M.r[i].slot] = false;
	M.r[i] = M.r[--M.n];
}

static void op_remove(struct vqcore_mem *mem, struct in *in)
{
	uint8_t k = get8(in);
	uint64_t gpa, size, gen = vqcore_mem_generation(mem);
	struct vqcore_mem_region out;
	int want = -1, ret;

	if (M.n && !(k & 0x80)) {
		/* an existing region, maybe with a wrong size */
		unsigned i = k % M.n;

		gpa = M.r[i].gpa;
		size = M.r[i].size + (k & 0x40 ? (k & 1 ? 1 : -1) : 0);
	} else {
		gpa = get_gpa(in);
		size = get_len(in);
	}
	for (unsigned i = 0; i < M.n; i++)
		if (M.r[i].gpa == gpa && M.r[i].size == size)
			want = (int)i;
	ret = vqcore_mem_remove(mem, gpa, size, &out);
	if (want < 0) {
		nerrs++;
		CHECK(ret == -ENOENT);
		CHECK(vqcore_mem_generation(mem) == gen);
		return;
	}
	CHECK(ret == 0);
	CHECK(out.gpa == gpa && out.size == size && out.hva == m_hva(&M.r[want], gpa));
	CHECK(vqcore_mem_generation(mem) != gen);
	CHECK(vqcore_mem_region_serial(mem, gpa) == 0 || m_find(gpa) >= 0);
	m_drop((unsigned)want);
}

static void op_translate(struct vqcore_mem *mem, struct in *in)
{
	uint64_t gpa, len;
	unsigned pieces;
	int want, ret;
	void *hva = NULL;
	uint8_t k = get8(in);

	if (M.n && (k & 1)) {
		/* inside or at the edge of an existing region */
		const struct mregion *r = &M.r[(k >> 1) % M.n];

		gpa = r->gpa + getn(in, 2) % (r->size + 1);
		len = get_len(in);
	} else {
		gpa = get_gpa(in);
		len = get_len(in);
	}
	want = m_range(gpa, len, &pieces);
	ret = vqcore_mem_translate(mem, gpa, len, &hva);
	CHECK(ret == want);
	if (!ret) {
		const struct mregion *r = &M.r[m_find(gpa)];

		CHECK((uint8_t *)hva == m_hva(r, gpa));
		/* inside the region's own mapping */
		CHECK((uint8_t *)hva + len <= m_hva(r, r->gpa) + r->size);
	}
	if (!(k & 2))
		return;
	{
		struct iovec iov[4];
		unsigned max = (k >> 2) % 5;
		uint64_t cur = gpa;

		ret = vqcore_mem_translate_iov(mem, gpa, len, iov, max);
		if (want && want != -VQCORE_E_NOT_CONTIG) {
			CHECK(ret == want);
			return;
		}
		if (pieces > max) {
			CHECK(ret == -VQCORE_E_IOV_FULL);
			return;
		}
		CHECK(ret == (int)pieces);
		for (int i = 0; i < ret; i++) {
			const struct mregion *r = &M.r[m_find(cur)];

			CHECK((uint8_t *)iov[i].iov_base == m_hva(r, cur));
			CHECK(iov[i].iov_len && iov[i].iov_len <= m_last(r) - cur + 1);
			CHECK(i + 1 == ret || iov[i].iov_len == m_last(r) - cur + 1);
			cur += iov[i].iov_len;
		}
		CHECK(cur - gpa == len);
	}
}

/* The bytes a write puts in guest memory: seed + i * 131 at byte i.  The
 * pattern repeats every 256 bytes: the first 256 are computed, the rest
 * copied (memcpy checks its whole range once, a byte loop byte by byte). */
FUZZ_NOCOV static void fill_pattern(uint8_t *buf, size_t n, uint8_t seed)
{
	size_t done = n < 256 ? n : 256;

	for (size_t i = 0; i < done; i++)
		buf[i] = (uint8_t)(seed + i * 131);
	while (done < n) {
		size_t c = done < n - done ? done : n - done;

		memcpy(buf + done, buf, c);
		done += c;
	}
}

/* Every byte of @buf is @v. */
FUZZ_NOCOV static bool all_bytes(const uint8_t *buf, size_t n, uint8_t v)
{
	return !n || (buf[0] == v && memcmp(buf, buf + 1, n - 1) == 0);
}

static void op_rw(struct vqcore_mem *mem, struct in *in)
{
	uint8_t k = get8(in);
	uint64_t gpa, len;
	unsigned pieces;
	int want, ret;

	if (M.n && (k & 1)) {
		const struct mregion *r = &M.r[(k >> 1) % M.n];

		gpa = r->gpa + getn(in, 2) % r->size;
		len = getn(in, 2) % (IO_MAX + 2);
	} else {
		gpa = get_gpa(in);
		len = get_len(in);
	}
	want = m_range(gpa, len, &pieces);
	if (want == -VQCORE_E_NOT_CONTIG)
		want = 0;
	if (!want && len > IO_MAX) {
		/* mapped but longer than our buffers: copy a prefix */
		len = IO_MAX;
		want = m_range(gpa, len, &pieces);
		if (want == -VQCORE_E_NOT_CONTIG)
			want = 0;
	}
	/* a range the model refuses is passed whole (however long): the
	 * library must fail before touching the buffer */
	if (k & 0x80) {
		/* write a pattern, then read it back */
		uint8_t seed = get8(in);
		size_t n = len < IO_MAX ? (size_t)len : IO_MAX;

		fill_pattern(iobuf, n, seed);
		arena_written = arena_dirty = true;
		ret = vqcore_mem_write(mem, gpa, iobuf, len);
		CHECK(ret == want);
		if (ret) {
			nerrs++;
			return; /* check_table(): arena and log unchanged */
		}
		for (uint64_t off = 0; off < len;) {
			const struct mregion *r = &M.r[m_find(gpa + off)];
			uint64_t chunk = m_last(r) - (gpa + off) + 1;

			if (chunk > len - off)
				chunk = len - off;
			memcpy(shadow + (m_hva(r, gpa + off) - arena), iobuf + off, (size_t)chunk);
			off += chunk;
		}
		m_log(gpa, len);
		memset(iobuf2, 0xa5, (size_t)len);
		CHECK(vqcore_mem_read(mem, gpa, iobuf2, len) == 0);
		CHECK(memcmp(iobuf, iobuf2, (size_t)len) == 0);
	} else {
		size_t n = len < IO_MAX ? (size_t)len : IO_MAX;

		memset(iobuf2, 0x5a, n);
		ret = vqcore_mem_read(mem, gpa, iobuf2, len);
		CHECK(ret == want);
		if (ret) {
			nerrs++;
			CHECK(all_bytes(iobuf2, n, 0x5a)); /* nothing copied */
			return;
		}
		for (uint64_t off = 0; off < len;) {
			const struct mregion *r = &M.r[m_find(gpa + off)];
			uint64_t chunk = m_last(r) - (gpa + off) + 1;

			if (chunk > len - off)
				chunk = len - off;
			CHECK(memcmp(iobuf2 + off, shadow + (m_hva(r, gpa + off) - arena),
				     (size_t)chunk) == 0);
			off += chunk;
		}
	}
}

static void op_set_log(struct vqcore_mem *mem, struct in *in)
{
	uint8_t k = get8(in);
	uint64_t size, gen = vqcore_mem_generation(mem);
	bool ok = true;
	int ret;

	if (k & 0x80) {
		CHECK(vqcore_mem_set_log(mem, NULL, 0) == 0);
		CHECK(vqcore_mem_generation(mem) != gen);
		M.log_on = false;
		M.log_size = 0;
		return;
	}
	size = (uint64_t)get8(in) * 2 + (k & 1);
	if (size > LOG_MAX)
		size = LOG_MAX;
	for (unsigned i = 0; i < M.n; i++)
		if (!log_covers(size, m_last(&M.r[i])))
			ok = false;
	/* a fresh bitmap: the peer cleared it */
	memset(logmap, 0, sizeof(logmap));
	memset(logmodel, 0, sizeof(logmodel));
	ret = vqcore_mem_set_log(mem, size ? logmap : NULL, size);
	if (!size) {
		CHECK(ret == 0);
		M.log_on = false;
		M.log_size = 0;
		return;
	}
	if (!ok) {
		nerrs++;
		CHECK(ret == -VQCORE_E_LOG_RANGE);
		CHECK(vqcore_mem_generation(mem) == gen);
		/* the old bitmap (if any) is still the one in use: it was
		 * just zeroed along with the model, so they still agree */
		return;
	}
	CHECK(ret == 0);
	CHECK(vqcore_mem_generation(mem) != gen);
	M.log_on = true;
	M.log_size = size;
}

static void op_log_write(struct vqcore_mem *mem, struct in *in)
{
	uint64_t gpa = get_gpa(in), len = get_len(in);

	vqcore_mem_log_write(mem, gpa, len);
	m_log(gpa, len);
}

static void op_find(struct vqcore_mem *mem, struct in *in)
{
	uint64_t gpa = get_gpa(in);
	struct vqcore_mem_region r;
	int i = m_find(gpa);
	int ret = vqcore_mem_find(mem, gpa, &r);

	if (i < 0) {
		CHECK(ret == -VQCORE_E_UNMAPPED);
		CHECK(vqcore_mem_region_serial(mem, gpa) == 0);
		return;
	}
	CHECK(ret == 0 && r.gpa == M.r[i].gpa && r.size == M.r[i].size);
	CHECK(vqcore_mem_region_serial(mem, gpa) == M.r[i].serial);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct vqcore_mem *mem = vqcore_mem_new();
	unsigned steps = 0;

	if (!mem)
		abort();
	memset(&M, 0, sizeof(M));
	if (arena_dirty) {
		memset(arena, 0, sizeof(arena));
		memset(shadow, 0, sizeof(shadow));
		arena_dirty = false;
	}
	memset(logmap, 0, sizeof(logmap));
	memset(logmodel, 0, sizeof(logmodel));
	while (in.n && steps++ < 256) {
		uint8_t op = get8(&in);

		nops++;
		switch (op % 10) {
		case 0:
		case 1:
			op_add(mem, &in);
			break;
		case 2:
			op_remove(mem, &in);
			break;
		case 3:
			if (op == 3) { /* rare: clear all */
				uint64_t gen = vqcore_mem_generation(mem);

				vqcore_mem_clear(mem);
				CHECK(vqcore_mem_generation(mem) != gen);
				while (M.n)
					m_drop(0);
				M.log_on = false;
				M.log_size = 0;
				break;
			}
			/* fall through */
		case 4:
			op_translate(mem, &in);
			break;
		case 5:
		case 6:
			op_rw(mem, &in);
			break;
		case 7:
			op_set_log(mem, &in);
			break;
		case 8:
			op_log_write(mem, &in);
			break;
		default:
			op_find(mem, &in);
			break;
		}
		check_table(mem);
	}
	vqcore_mem_free(mem);
	return 0;
}

#ifndef VQCORE_LIBFUZZER
/*
 * Standalone: N random operation sequences; the byte distribution favours
 * small values, which make adjacent regions and in-range addresses.
 */
int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	static uint8_t buf[1024];
	uint64_t x = 0x2545f4914f6cdd1dull;

	fuzz_quiet_log();
	for (unsigned long it = 0; it < iters; it++) {
		size_t len = 1 + (it * 7) % sizeof(buf);

		for (size_t i = 0; i < len; i++) {
			xorshift64(&x);
			buf[i] = (uint8_t)(x & 0x10 ? x >> 8 : (x >> 8) & 0x0f);
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_mem: %lu inputs, %lu operations (%lu refused as predicted), "
	       "no mismatch\n", iters, nops, nerrs);
	return 0;
}
#endif
