/* SPDX-License-Identifier: MIT */
/*
 * guests-fit: one guest.  A vhost-user client with its own memfd guest
 * memory, connected to its balloon-report backend.  It runs a page pool
 * over most of its memory (a stand-in for the guest kernel's buddy
 * allocator), allocates all of it page by page and writes every page (the
 * seed's memhog), then frees it.  With reporting on, a free page reporter
 * sends the freed memory to the backend through the balloon reporting
 * queue, which punches it out of the memfd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

#include "guests_fit.h"

#define ARENA_ALIGN (4 * MiB) /* a max-order block */
#define RESERVED (4 * MiB)    /* rings and the rest of "the kernel" */

static int send_byte(int sock, char c, const int *fd)
{
	return vqcore_sock_send(sock, &c, 1, fd, fd ? 1 : 0);
}

int guest_main(const struct guest_params *p)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = p->mem_bytes,
		.num_queues = 3,
		.queue_size = 64,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
			    VQCORE_BIT(VQCORE_F_RING_PACKED) |
			    VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING),
	};
	struct vqcore_pagepool_opts po = { .sz = sizeof(po) };
	struct vqcore_balloon_config bc = { .sz = sizeof(bc) };
	struct vqcore_reporter_opts ro = {
		.sz = sizeof(ro),
		.delay_ns = (uint64_t)p->delay_ms * 1000000 + 1,
		.timeout_ns = 5000000000ull,
	};
	struct vqcore_pagepool *pool = NULL;
	struct vqcore_reporter *r = NULL;
	struct vqcore_balloon *b = NULL;
	struct vqcore_report_source src;
	struct vqcore_mem_region reg;
	struct vqcore_vuc *c = NULL;
	uint64_t arena_gpa, arena, npages, *pages = NULL;
	uint8_t *hva;
	char msg;
	int err;

	err = vqcore_vuc_connect(p->socket_path, &cfg, &c);
	if (!err)
		err = vqcore_vuc_start(c);
	if (!err)
		err = vqcore_mem_get(vqcore_vuc_mem(c), 0, &reg);
	if (err)
		goto fail;
	arena = (p->mem_bytes - RESERVED) & ~(ARENA_ALIGN - 1);
	arena_gpa = vqcore_vuc_alloc(c, arena, ARENA_ALIGN, (void **)&hva);
	if (!arena_gpa) {
		err = -ENOMEM;
		goto fail;
	}
	err = vqcore_pagepool_new(arena_gpa, arena, &po, &pool);
	if (err)
		goto fail;
	if (p->reporting) {
		bc.dq = vqcore_vuc_queue(c, VQCORE_BALLOON_VQ_REPORTING);
		bc.call_fd = vqcore_vuc_call_fd(c, VQCORE_BALLOON_VQ_REPORTING);
		bc.arena_base = arena_gpa;
		bc.gpa_base = arena_gpa;
		vqcore_pagepool_report_source(pool, &src);
		err = vqcore_balloon_new(&bc, &b);
		if (!err)
			err = vqcore_balloon_reporter_new(b, &src, &ro, &r);
		if (!err)
			err = vqcore_balloon_start(b);
		if (!err)
			err = vqcore_reporter_start(r);
		if (err)
			goto fail;
	}
	err = send_byte(p->sock, MSG_MEMFD, &reg.fd);
	if (err)
		goto fail;

	/* memhog: every page of the pool, allocated one by one and written */
	npages = arena / VQCORE_PAGEPOOL_PAGE;
	pages = malloc(npages * sizeof(*pages));
	if (!pages) {
		err = -ENOMEM;
		goto fail;
	}
	for (uint64_t i = 0; i < npages; i++) {
		err = vqcore_pagepool_alloc(pool, 0, &pages[i]);
		if (err)
			goto fail;
		memset(hva + (pages[i] - arena_gpa), 0x5a, VQCORE_PAGEPOOL_PAGE);
	}
	for (uint64_t i = 0; i < npages; i++)
		vqcore_pagepool_free(pool, pages[i], 0);
	free(pages);
	pages = NULL;
	err = send_byte(p->sock, MSG_WORKED, NULL);
	if (err)
		goto fail;

	/* idle until the host says quit (the reporter works meanwhile) */
	while (read(p->sock, &msg, 1) < 0 && errno == EINTR)
		;
	if (r && getenv("GUESTS_FIT_VERBOSE")) {
		struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
		struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };

		vqcore_reporter_get_stats(r, &rs);
		vqcore_balloon_get_stats(b, &bs);
		fprintf(stderr, "guest %d: %llu passes, %llu reports (%llu failed, "
			"%llu timed out), %llu MiB reported; sink: %llu queued, "
			"%llu answered, %llu refused, %llu abandoned\n", (int)getpid(),
			(unsigned long long)rs.passes, (unsigned long long)rs.reports,
			(unsigned long long)rs.failed_reports,
			(unsigned long long)rs.timeouts,
			(unsigned long long)(rs.bytes >> 20),
			(unsigned long long)bs.reports, (unsigned long long)bs.completed,
			(unsigned long long)bs.refused, (unsigned long long)bs.abandoned);
	}
	vqcore_reporter_destroy(r);
	vqcore_balloon_free(b);
	vqcore_pagepool_destroy(pool);
	vqcore_vuc_free(c);
	return 0;

fail:
	fprintf(stderr, "guests-fit: guest: %s\n", vqcore_strerror(err));
	send_byte(p->sock, MSG_ERROR, NULL);
	free(pages);
	vqcore_reporter_destroy(r);
	vqcore_balloon_free(b);
	vqcore_pagepool_destroy(pool);
	vqcore_vuc_free(c);
	return 1;
}
