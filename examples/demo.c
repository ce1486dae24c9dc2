/* SPDX-License-Identifier: MIT */
/*
 * demo: libvqcore's guest memory table, end to end.
 *
 * One memfd stands in for guest RAM.  It is split into three regions at
 * guest addresses that are not contiguous with the host layout, the way a
 * VMM hands out memory slots.  The demo translates guest ranges to host
 * iovecs, copies a message across a region boundary, turns on dirty logging
 * (as live migration does) and shows which pages the write marked, and shows
 * two ranges the table refuses.  Exit status: 0 if every check held.
 */
#include <stdio.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define KiB 1024ull

static int failures;

#define EXPECT(cond, ...)                                      \
	do {                                                   \
		if (!(cond)) {                                 \
			fprintf(stderr, "demo: MISMATCH: " __VA_ARGS__); \
			fputc('\n', stderr);                   \
			failures++;                            \
		}                                              \
	} while (0)

int main(void)
{
	/* guest layout: [0x10000, +64K) [0x20000, +64K) hole [0x100000, +128K) */
	static const struct { uint64_t gpa, size, off; } layout[] = {
		{ 0x10000, 64 * KiB, 128 * KiB },
		{ 0x20000, 64 * KiB, 0 },
		{ 0x100000, 128 * KiB, 64 * KiB },
	};
	static uint8_t log[8];           /* 64 pages of 4 KiB: GPA 0 .. 0x40000 */
	static uint8_t big_log[64];      /* 512 pages: GPA 0 .. 0x200000 */
	const char msg[] = "virtqueue payload written straight across a memory slot boundary";
	char back[sizeof(msg)];
	struct vqcore_memfd ram;
	struct vqcore_mem *mem;
	struct iovec iov[4];
	void *hva;
	uint64_t wgpa;
	int n, err;

	err = vqcore_memfd_map("demo-guest-ram", 256 * KiB, 0, &ram);
	if (err) {
		fprintf(stderr, "demo: memfd: %s\n", vqcore_strerror(err));
		return 1;
	}
	mem = vqcore_mem_new();
	if (!mem) {
		fprintf(stderr, "demo: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < 3; i++) {
		struct vqcore_mem_region r = {
			.gpa = layout[i].gpa, .size = layout[i].size,
			.hva = (char *)ram.hva + layout[i].off,
			.fd = ram.fd, .fd_offset = layout[i].off,
		};

		err = vqcore_mem_add(mem, &r);
		EXPECT(!err, "add region %u: %s", i, vqcore_strerror(err));
	}
	printf("libvqcore %s: guest RAM = one 256 KiB memfd as %u regions:\n",
	       vqcore_version_string(), vqcore_mem_count(mem));
	for (unsigned i = 0; i < vqcore_mem_count(mem); i++) {
		struct vqcore_mem_region r;

		vqcore_mem_get(mem, i, &r);
		printf("  gpa 0x%06llx-0x%06llx -> memfd offset 0x%05llx (serial %llu)\n",
		       (unsigned long long)r.gpa,
		       (unsigned long long)(r.gpa + r.size - 1),
		       (unsigned long long)r.fd_offset,
		       (unsigned long long)vqcore_mem_region_serial(mem, r.gpa));
	}

	/* a range inside one region: one host pointer */
	err = vqcore_mem_translate(mem, 0x10100, 256, &hva);
	EXPECT(!err && hva == (char *)ram.hva + 128 * KiB + 0x100,
	       "translate contiguous: %s", vqcore_strerror(err));
	printf("translate gpa 0x10100+256: one pointer, memfd offset 0x%05llx\n",
	       (unsigned long long)((char *)hva - (char *)ram.hva));

	/* a range over the boundary between the first two regions */
	n = vqcore_mem_translate_iov(mem, 0x1f000, 8 * KiB, iov, 4);
	EXPECT(n == 2, "translate_iov spanning: %s", vqcore_strerror(n));
	if (n == 2) {
		EXPECT(iov[0].iov_len == 4 * KiB && iov[1].iov_len == 4 * KiB &&
		       iov[1].iov_base == ram.hva, "iovec contents");
		printf("translate gpa 0x1f000+8K: %d iovecs: %zu bytes at memfd offset 0x%05llx, "
		       "%zu bytes at 0x%05llx\n", n,
		       iov[0].iov_len,
		       (unsigned long long)((char *)iov[0].iov_base - (char *)ram.hva),
		       iov[1].iov_len,
		       (unsigned long long)((char *)iov[1].iov_base - (char *)ram.hva));
	}

	/* dirty logging on, then a write that straddles 0x20000 */
	err = vqcore_mem_set_log(mem, log, sizeof(log));
	EXPECT(err == -VQCORE_E_LOG_RANGE, "a 64-page log must not cover 0x11ffff");
	printf("dirty log of %zu bytes refused: %s\n", sizeof(log), vqcore_strerror(err));
	err = vqcore_mem_set_log(mem, big_log, sizeof(big_log));
	EXPECT(!err, "set_log: %s", vqcore_strerror(err));

	wgpa = 0x20000 - 20;
	err = vqcore_mem_write(mem, wgpa, msg, sizeof(msg));
	EXPECT(!err, "write: %s", vqcore_strerror(err));
	memset(back, 0, sizeof(back));
	err = vqcore_mem_read(mem, wgpa, back, sizeof(back));
	EXPECT(!err && !memcmp(back, msg, sizeof(msg)), "read back: %s",
	       vqcore_strerror(err));
	/* the two halves really live at the two ends of the memfd mapping */
	EXPECT(!memcmp((char *)ram.hva + 192 * KiB - 20, msg, 20) &&
	       !memcmp(ram.hva, msg + 20, sizeof(msg) - 20), "bytes in the memfd");
	printf("wrote %zu bytes at gpa 0x%llx (20 in region 0, %zu in region 1), read back: \"%s\"\n",
	       sizeof(msg), (unsigned long long)wgpa, sizeof(msg) - 20, back);

	printf("dirty pages after the write:");
	for (unsigned p = 0; p < sizeof(big_log) * 8; p++)
		if (big_log[p / 8] & (1u << (p % 8)))
			printf(" %u (gpa 0x%05x)", p, p * VQCORE_LOG_PAGE);
	printf("\n");
	EXPECT(big_log[0x1f / 8] == 0x80 && big_log[0x20 / 8] == 0x01,
	       "pages 0x1f and 0x20 marked");
	for (unsigned b = 0; b < sizeof(big_log); b++)
		EXPECT(b == 0x1f / 8 || b == 0x20 / 8 || big_log[b] == 0,
		       "stray dirty bits in byte %u", b);

	/* two ranges the table refuses */
	err = vqcore_mem_read(mem, 0x28000, back, 0x10000);
	EXPECT(err == -VQCORE_E_PAST_END, "read into the hole");
	printf("read gpa 0x28000+64K (runs into the hole): %s\n", vqcore_strerror(err));
	err = vqcore_mem_translate(mem, UINT64_MAX - 15, 32, &hva);
	EXPECT(err == -VQCORE_E_WRAP, "wrapping range");
	printf("translate gpa 0xfff...ff0+32 (wraps past 2^64): %s\n", vqcore_strerror(err));

	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&ram);
	printf("%s\n", failures ? "demo: FAILED" : "demo: all checks passed");
	return failures ? 1 : 0;
}
