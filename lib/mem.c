/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table (include/vqcore/mem.h).
 *
 * Regions live in one array sorted by GPA, with a parallel array of start
 * addresses that the inline lookup (mem_priv.h) binary-searches.  Every range
 * check is written with the inclusive last byte (gpa + len - 1) so that
 * nothing overflows at 2^64.  Copies that span regions validate the whole
 * range first and then copy region by region; nothing is pinned (the
 * vfio_iova_rw idea).  The dirty log is a bitmap shared with the peer, one
 * bit per VQCORE_LOG_PAGE of GPA space, set with atomic OR.
 *
 * Freestanding: only the glue header and the library's own headers.
 */
#include "glue/glue.h"
#include "mem_priv.h"

/* ---- helpers ---- */

/*
 * The public calls share mem->hint.  It is only a hint (vq_mem_lookup
 * range-checks it), so relaxed atomics are enough; it is stored only when it
 * changes so that threads hitting the same region do not bounce its line.
 */
static inline unsigned hint_load(const struct vqcore_mem *m)
{
	return __atomic_load_n(&m->hint, __ATOMIC_RELAXED);
}

static inline void hint_store(const struct vqcore_mem *m, unsigned old,
			      unsigned h)
{
	if (h != old)
		__atomic_store_n((unsigned *)&m->hint, h, __ATOMIC_RELAXED);
}

/* Check a [gpa, gpa+len) range and compute its last byte. */
static inline int range_check(uint64_t gpa, uint64_t len, uint64_t *last)
{
	if (unlikely(!len))
		return -VQCORE_E_ZERO_LEN;
	if (unlikely(len - 1 > UINT64_MAX - gpa))
		return -VQCORE_E_WRAP;
	*last = gpa + (len - 1);
	return 0;
}

static inline void *slot_hva(const struct vq_mem_slot *s, uint64_t gpa)
{
	return (void *)(s->hva + (uintptr_t)(gpa - s->gpa));
}

/*
 * Number of regions, from slot @i (which holds the range's first byte) on,
 * that [.., last] touches; -VQCORE_E_PAST_END if it runs into a hole or past
 * the highest region.
 */
static int span_count(const struct vqcore_mem *m, unsigned i, uint64_t last)
{
	unsigned k = i;

	while (last > m->slot[k].last) {
		/* slot[k].last < last <= UINT64_MAX, so + 1 cannot wrap */
		if (k + 1 >= m->n || m->slot[k + 1].gpa != m->slot[k].last + 1)
			return -VQCORE_E_PAST_END;
		k++;
	}
	return (int)(k - i + 1);
}

/* Index of the first slot whose start is > @gpa (0..n). */
static unsigned upper_bound(const struct vqcore_mem *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (m->start[mid] <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does a log of @size bytes cover the page that holds @last? */
static inline bool log_covers(uint64_t size, uint64_t last)
{
	return last / VQCORE_LOG_PAGE / 8 < size;
}

static inline void bump_gen(struct vqcore_mem *m)
{
	VQ_WRITE_ONCE(m->gen, m->gen + 1);
}

/* ---- table management ---- */

struct vqcore_mem *vqcore_mem_new(void)
{
	struct vqcore_mem *m = vq_zalloc_aligned(sizeof(*m));

	if (!m)
		return NULL;
	m->gen = 1;
	m->next_serial = 1;
	return m;
}

void vqcore_mem_free(struct vqcore_mem *mem)
{
	vq_free(mem);
}

int vqcore_mem_add(struct vqcore_mem *mem, const struct vqcore_mem_region *r)
{
	uint64_t last;
	uintptr_t hva;
	unsigned pos;
	struct vq_mem_slot *s;

	if (!mem || !r)
		return -VQ_EINVAL;
	if (!r->size)
		return -VQCORE_E_ZERO_LEN;
	if (r->size - 1 > UINT64_MAX - r->gpa)
		return -VQCORE_E_WRAP;
	hva = (uintptr_t)r->hva;
	if (!hva)
		return -VQ_EINVAL;
	if (r->size - 1 > (uint64_t)(UINTPTR_MAX - hva))
		return -VQCORE_E_WRAP;
	/* the file range must be expressible as an off_t */
	if (r->fd_offset > (uint64_t)INT64_MAX ||
	    r->size > (uint64_t)INT64_MAX - r->fd_offset)
		return -VQCORE_E_OFFSET_OVERFLOW;
	last = r->gpa + (r->size - 1);

	pos = upper_bound(mem, r->gpa);
	if (pos > 0 && mem->slot[pos - 1].last >= r->gpa)
		return -VQCORE_E_OVERLAP;
	if (pos < mem->n && mem->slot[pos].gpa <= last)
		return -VQCORE_E_OVERLAP;
	if (mem->n >= VQCORE_MEM_MAX_REGIONS)
		return -VQ_ENOSPC;
	if (mem->log && !log_covers(mem->log_size, last))
		return -VQCORE_E_LOG_RANGE;

	for (unsigned i = mem->n; i > pos; i--) {
		mem->start[i] = mem->start[i - 1];
		mem->slot[i] = mem->slot[i - 1];
	}
	s = &mem->slot[pos];
	s->gpa = r->gpa;
	s->last = last;
	s->hva = hva;
	s->serial = mem->next_serial++;
	s->fd = r->fd;
	s->fd_offset = r->fd_offset;
	mem->start[pos] = r->gpa;
	VQ_WRITE_ONCE(mem->n, mem->n + 1);
	bump_gen(mem);
	return 0;
}

static void slot_to_region(const struct vq_mem_slot *s,
			   struct vqcore_mem_region *out)
{
	out->gpa = s->gpa;
	out->size = s->last - s->gpa + 1;
	out->hva = (void *)s->hva;
	out->fd = s->fd;
	out->fd_offset = s->fd_offset;
}

int vqcore_mem_remove(struct vqcore_mem *mem, uint64_t gpa, uint64_t size,
		      struct vqcore_mem_region *out)
{
	unsigned pos;
	const struct vq_mem_slot *s;

	if (!mem || !size)
		return -VQ_ENOENT;
	pos = upper_bound(mem, gpa);
	if (!pos)
		return -VQ_ENOENT;
	pos--;
	s = &mem->slot[pos];
	if (s->gpa != gpa || s->last - s->gpa != size - 1)
		return -VQ_ENOENT;
	if (out)
		slot_to_region(s, out);
	for (unsigned i = pos; i + 1 < mem->n; i++) {
		mem->start[i] = mem->start[i + 1];
		mem->slot[i] = mem->slot[i + 1];
	}
	VQ_WRITE_ONCE(mem->n, mem->n - 1);
	bump_gen(mem);
	return 0;
}

void vqcore_mem_clear(struct vqcore_mem *mem)
{
	if (!mem)
		return;
	VQ_WRITE_ONCE(mem->n, 0);
	VQ_WRITE_ONCE(mem->log, NULL);
	mem->log_size = 0;
	bump_gen(mem);
}

unsigned vqcore_mem_count(const struct vqcore_mem *mem)
{
	/* a snapshot: the one read that may race with a change */
	return VQ_READ_ONCE(mem->n);
}

int vqcore_mem_get(const struct vqcore_mem *mem, unsigned i,
		   struct vqcore_mem_region *out)
{
	if (i >= mem->n || !out)
		return -VQ_ENOENT;
	slot_to_region(&mem->slot[i], out);
	return 0;
}

int vqcore_mem_find(const struct vqcore_mem *mem, uint64_t gpa,
		    struct vqcore_mem_region *out)
{
	unsigned h = hint_load(mem), old = h;
	int i = vq_mem_lookup(mem, gpa, &h);

	if (i < 0)
		return -VQCORE_E_UNMAPPED;
	hint_store(mem, old, h);
	if (out)
		slot_to_region(&mem->slot[i], out);
	return 0;
}

uint64_t vqcore_mem_generation(const struct vqcore_mem *mem)
{
	return VQ_READ_ONCE(mem->gen);
}

uint64_t vqcore_mem_region_serial(const struct vqcore_mem *mem, uint64_t gpa)
{
	unsigned h = hint_load(mem), old = h;
	int i = vq_mem_lookup(mem, gpa, &h);

	if (i < 0)
		return 0;
	hint_store(mem, old, h);
	return mem->slot[i].serial;
}

/* ---- translation ---- */

int vqcore_mem_translate(const struct vqcore_mem *mem, uint64_t gpa,
			 uint64_t len, void **hva)
{
	unsigned h = hint_load(mem), old = h;
	uint64_t last;
	int i, err;

	err = range_check(gpa, len, &last);
	if (unlikely(err))
		return err;
	i = vq_mem_lookup(mem, gpa, &h);
	if (unlikely(i < 0))
		return -VQCORE_E_UNMAPPED;
	hint_store(mem, old, h);
	if (likely(last <= mem->slot[i].last)) {
		*hva = slot_hva(&mem->slot[i], gpa);
		return 0;
	}
	err = span_count(mem, (unsigned)i, last);
	return err < 0 ? err : -VQCORE_E_NOT_CONTIG;
}

int vq_mem_to_iov_slow(const struct vqcore_mem *m, uint64_t gpa, uint64_t len,
		       struct iovec *iov, unsigned max_iov, unsigned *hint)
{
	uint64_t last, cur = gpa;
	unsigned k, cnt = 0;
	int i, err;

	err = range_check(gpa, len, &last);
	if (err)
		return err;
	i = vq_mem_lookup(m, gpa, hint);
	if (i < 0)
		return -VQCORE_E_UNMAPPED;
	/*
	 * One pass: fill while there is room and keep counting, so a hole or
	 * the end of the table is reported before a short iovec array.
	 */
	for (k = (unsigned)i;; k++) {
		const struct vq_mem_slot *s = &m->slot[k];
		uint64_t end = VQ_MIN(last, s->last);

		if (cnt < max_iov) {
			iov[cnt].iov_base = slot_hva(s, cur);
			iov[cnt].iov_len = (size_t)(end - cur + 1);
		}
		cnt++;
		if (end == last)
			break;
		if (k + 1 >= m->n || m->slot[k + 1].gpa != s->last + 1)
			return -VQCORE_E_PAST_END;
		cur = end + 1;
	}
	if (cnt > max_iov)
		return -VQCORE_E_IOV_FULL;
	return (int)cnt;
}

int vqcore_mem_translate_iov(const struct vqcore_mem *mem, uint64_t gpa,
			     uint64_t len, struct iovec *iov, unsigned max_iov)
{
	unsigned h = hint_load(mem), old = h;
	int r = vq_mem_to_iov(mem, gpa, len, iov, max_iov, &h);

	hint_store(mem, old, h);
	return r;
}

/* ---- copies ---- */

/* Validate the whole range, then copy region by region. */
static int copy_slow(const struct vqcore_mem *m, uint64_t gpa, void *buf,
		     uint64_t len, unsigned *hint, bool to_guest)
{
	uint64_t last, cur = gpa;
	uint8_t *p = buf;
	int i, err;

	err = range_check(gpa, len, &last);
	if (err)
		return err;
	i = vq_mem_lookup(m, gpa, hint);
	if (i < 0)
		return -VQCORE_E_UNMAPPED;
	err = span_count(m, (unsigned)i, last);
	if (err < 0)
		return err;
	for (unsigned k = (unsigned)i;; k++) {
		const struct vq_mem_slot *s = &m->slot[k];
		uint64_t end = VQ_MIN(last, s->last);
		size_t chunk = (size_t)(end - cur + 1);

		if (to_guest)
			vq_memcpy(slot_hva(s, cur), p, chunk);
		else
			vq_memcpy(p, slot_hva(s, cur), chunk);
		if (end == last)
			break;
		p += chunk;
		cur = end + 1;   /* == slot[k + 1].gpa, checked by span_count */
	}
	return 0;
}

/*
 * Fast path of the copies: the range lies inside the hinted slot.  No
 * search, no pointer to the hint taken (so it stays in a register), and a
 * zero @len fails here too (len - 1 wraps; no region spans 2^64 bytes).
 * The result is never NULL: regions have a non-NULL hva that does not wrap.
 */
static inline void *hinted_ptr(const struct vqcore_mem *m, uint64_t gpa,
			       uint64_t len, unsigned h)
{
	const struct vq_mem_slot *s;

	if (unlikely(h >= m->n))
		return NULL;
	s = &m->slot[h];
	if (unlikely(gpa - s->gpa > s->last - s->gpa || len - 1 > s->last - gpa))
		return NULL;
	return slot_hva(s, gpa);
}

/*
 * Copy for the fast paths: descriptors, ring entries and headers are small,
 * and for them a library call costs as much as the copy.  8..64 bytes are
 * copied inline with two overlapping fixed-size moves; the rest goes to the
 * environment's memcpy.  Guest memory may change under us (the guest is
 * untrusted): the bytes read are whatever was there, as with memcpy.
 */
static inline void copy_bytes(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n - 8 <= 64 - 8) {
		if (n >= 32) {
			uint8_t a[32], b[32];

			vq_memcpy(a, s, 32);
			vq_memcpy(b, s + n - 32, 32);
			vq_memcpy(d, a, 32);
			vq_memcpy(d + n - 32, b, 32);
		} else if (n >= 16) {
			uint8_t a[16], b[16];

			vq_memcpy(a, s, 16);
			vq_memcpy(b, s + n - 16, 16);
			vq_memcpy(d, a, 16);
			vq_memcpy(d + n - 16, b, 16);
		} else {
			uint64_t a, b;

			vq_memcpy(&a, s, 8);
			vq_memcpy(&b, s + n - 8, 8);
			vq_memcpy(d, &a, 8);
			vq_memcpy(d + n - 8, &b, 8);
		}
		return;
	}
	vq_memcpy(dst, src, n);
}

int vq_mem_read(const struct vqcore_mem *m, uint64_t gpa, void *buf,
		uint64_t len, unsigned *hint)
{
	void *p = hinted_ptr(m, gpa, len, *hint);

	if (likely(p)) {
		copy_bytes(buf, p, (size_t)len);
		return 0;
	}
	return copy_slow(m, gpa, buf, len, hint, false);
}

int vq_mem_write(const struct vqcore_mem *m, uint64_t gpa, const void *buf,
		 uint64_t len, unsigned *hint)
{
	void *p = hinted_ptr(m, gpa, len, *hint);
	int err;

	if (likely(p)) {
		copy_bytes(p, buf, (size_t)len);
	} else {
		err = copy_slow(m, gpa, (void *)buf, len, hint, true);
		if (err)
			return err;
	}
	vq_mem_log(m, gpa, len);
	return 0;
}

/* Public copies: the shared hint is read once and stored only on a miss. */
static __attribute__((noinline)) int copy_slow_public(const struct vqcore_mem *m,
						      uint64_t gpa, void *buf,
						      uint64_t len, bool to_guest)
{
	unsigned h = hint_load(m), old = h;
	int r = copy_slow(m, gpa, buf, len, &h, to_guest);

	hint_store(m, old, h);
	return r;
}

int vqcore_mem_read(const struct vqcore_mem *mem, uint64_t gpa, void *buf,
		    uint64_t len)
{
	void *p = hinted_ptr(mem, gpa, len, hint_load(mem));

	if (likely(p)) {
		copy_bytes(buf, p, (size_t)len);
		return 0;
	}
	return copy_slow_public(mem, gpa, buf, len, false);
}

int vqcore_mem_write(const struct vqcore_mem *mem, uint64_t gpa,
		     const void *buf, uint64_t len)
{
	void *p = hinted_ptr(mem, gpa, len, hint_load(mem));
	int err;

	if (likely(p)) {
		copy_bytes(p, buf, (size_t)len);
	} else {
		err = copy_slow_public(mem, gpa, (void *)buf, len, true);
		if (err)
			return err;
	}
	vq_mem_log(mem, gpa, len);
	return 0;
}

/* ---- dirty log ---- */

int vqcore_mem_set_log(struct vqcore_mem *mem, void *bitmap, uint64_t size)
{
	if (!bitmap) {
		VQ_WRITE_ONCE(mem->log, NULL);
		mem->log_size = 0;
		bump_gen(mem);
		return 0;
	}
	if (mem->n && !log_covers(size, mem->slot[mem->n - 1].last))
		return -VQCORE_E_LOG_RANGE;
	VQ_WRITE_ONCE(mem->log, (uint8_t *)bitmap);
	mem->log_size = size;
	bump_gen(mem);
	return 0;
}

bool vqcore_mem_logging(const struct vqcore_mem *mem)
{
	return VQ_READ_ONCE(mem->log) != NULL;
}

void vqcore_mem_log_write(const struct vqcore_mem *mem, uint64_t gpa,
			  uint64_t len)
{
	vq_mem_log(mem, gpa, len);
}

/*
 * Bits are set with an unconditional atomic OR, release-ordered after the
 * data write.  Skipping bits that already look set would be cheaper, but
 * the peer may clear a bit (atomic exchange) and copy the page between our
 * load and our data store becoming visible, and the write would be lost.
 */
static inline void log_or8(uint8_t *p, uint8_t v)
{
	__atomic_fetch_or(p, v, __ATOMIC_RELEASE);
}

/* Set bits [a, b] (page numbers, inclusive) of @log. */
static void log_set_bits(uint8_t *log, uint64_t a, uint64_t b)
{
	uint64_t fb = a / 8, lb = b / 8, i, e;

	if (fb == lb) {
		unsigned lo = (unsigned)(a % 8), hi = (unsigned)(b % 8);

		log_or8(log + fb, (uint8_t)((0xffu >> (7 - hi)) & (0xffu << lo)));
		return;
	}
	log_or8(log + fb, (uint8_t)(0xffu << (a % 8)));
	log_or8(log + lb, (uint8_t)(0xffu >> (7 - b % 8)));
	/* whole bytes (fb, lb): bytes up to 8-byte alignment, words, tail */
	i = fb + 1;
	e = lb;
	while (i < e && ((uintptr_t)(log + i) & 7))
		log_or8(log + i++, 0xff);
	for (; e - i >= 8; i += 8)
		__atomic_fetch_or((vq_u64a *)(void *)(log + i), ~(uint64_t)0,
				  __ATOMIC_RELEASE);
	while (i < e)
		log_or8(log + i++, 0xff);
}

/*
 * Pages past the end of the bitmap are dropped silently: vqcore_mem_add()
 * and vqcore_mem_set_log() guarantee that every mapped page is covered, so
 * only a caller logging unmapped addresses loses bits, and the bitmap is
 * never written out of bounds.
 */
void vq_mem_log_slow(const struct vqcore_mem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *log = m->log;
	uint64_t size = m->log_size, last, first_pg, last_pg, max_pg;

	if (!log || !len || !size)
		return;
	last = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + (len - 1);
	first_pg = gpa / VQCORE_LOG_PAGE;
	last_pg = last / VQCORE_LOG_PAGE;
	max_pg = size > UINT64_MAX / 8 ? UINT64_MAX : size * 8 - 1;
	if (first_pg > max_pg)
		return;
	if (last_pg > max_pg)
		last_pg = max_pg;
	log_set_bits(log, first_pg, last_pg);
}
