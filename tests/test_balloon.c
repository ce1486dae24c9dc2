/* SPDX-License-Identifier: MIT */
/*
 * Description: free page reporting end to end over vhost-user, on both ring
 * formats.  A guest (this process: a vhost-user client with memfd guest
 * memory) runs a page pool over part of its memory, touches it, frees it,
 * and the reporter reports through the balloon sink (one buffer per
 * scatterlist on the reporting queue) to examples/balloon-report running
 * as a separate process, which punches holes in the shared memfd.  Checks:
 * the memfd's allocated blocks drop by the reported amount and the ranges
 * read back as zero.  Bad input: a failing report callback and a sink that
 * refuses a scatterlist larger than the queue (blocks back unreported,
 * nothing discarded), a device that never answers (timeout, blocks back
 * unreported, further reports refused; a late answer is ignored and
 * reporting resumes), and a hostile driver sending
 * ranges outside the memory table, unaligned ranges, a range running past
 * the end, a device-readable range and overlapping ranges to balloon-report
 * (logged, counted in its exit line, nothing of them punched, buffer
 * returned with used length 0, device still working).  balloon-report's
 * own surface: --no-packed, --help, the 8-byte config space written whole
 * at offset 0 (as QEMU's generic vhost-user device does) and config
 * accesses outside it (an error and a log line).
 */
#include <check.h>
#include "vqtest.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vqcore/vqcore.h"
#include "vu_harness.h"

#define MiB (1024ull * 1024)
#define KiB 1024ull
#define GUEST_MEM (64 * MiB)
#define ARENA (32 * MiB)
/* Allocation of a memfd can differ from the exact byte count by a few
 * pages of rings and metadata. */
#define TOL (1 * MiB)

static const unsigned formats[] = { VQCORE_FORMAT_SPLIT, VQCORE_FORMAT_PACKED };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t guest_features(unsigned format)
{
	uint64_t f = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
		     VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
		     VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING);

	if (format == VQCORE_FORMAT_PACKED)
		f |= VQCORE_BIT(VQCORE_F_RING_PACKED);
	return f;
}

/* ---- the balloon-report process ---- */

struct backend {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
};

#ifdef BALLOON_REPORT_BIN
/* Start balloon-report; @extra: one more argument or NULL. */
static void backend_start_args(struct backend *be, const char *extra)
{
	struct stat st;
	uint64_t t0;

	memset(be, 0, sizeof(*be));
	snprintf(be->dir, sizeof(be->dir), "/tmp/vqcore-balloon-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(be->dir));
	snprintf(be->sock, sizeof(be->sock), "%s/sock", be->dir);
	snprintf(be->log, sizeof(be->log), "%s/log", be->dir);
	be->pid = fork();
	ck_assert_int_ge(be->pid, 0);
	if (be->pid == 0) {
		char arg[160];
		int fd = open(be->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* never outlive the test, even when an assertion kills it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		snprintf(arg, sizeof(arg), "--socket-path=%s", be->sock);
#ifdef VQCORE_TEST_EMULATOR
		/* cross builds: the target's backend under the same QEMU */
		execl(VQCORE_TEST_EMULATOR, VQCORE_TEST_EMULATOR, BALLOON_REPORT_BIN, arg,
		      extra, (char *)NULL);
#else
		execl(BALLOON_REPORT_BIN, "balloon-report", arg, extra, (char *)NULL);
#endif
		_exit(127);
	}
	t0 = now_ms();
	while (stat(be->sock, &st) != 0) {
		int status;

		ck_assert_msg(waitpid(be->pid, &status, WNOHANG) == 0,
			      "balloon-report exited early");
		ck_assert_msg(now_ms() - t0 < 20000, "balloon-report did not listen");
		sleep_ms(5);
	}
}

static void backend_start(struct backend *be)
{
	backend_start_args(be, NULL);
}
#endif

static uint64_t done_rejected(const struct backend *be);

/* Stop balloon-report; returns the rejected ranges its exit line counts. */
static uint64_t backend_stop(struct backend *be)
{
	uint64_t rejected = UINT64_MAX;
	int status = 0;

	if (be->pid > 0) {
		kill(be->pid, SIGTERM);
		waitpid(be->pid, &status, 0);
		be->pid = 0;
		/* a clean exit: it handled SIGTERM, it did not crash */
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "balloon-report ended with status %#x", status);
		rejected = done_rejected(be);
	}
	unlink(be->sock);
	unlink(be->log);
	rmdir(be->dir);
	return rejected;
}

static bool log_contains(const struct backend *be, const char *what)
{
	char buf[16384];
	ssize_t n;
	int fd = open(be->log, O_RDONLY);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return strstr(buf, what) != NULL;
}

/* The "rejected" figure of balloon-report's exit line
 * ("balloon-report: done: ... N rejected"). */
static uint64_t done_rejected(const struct backend *be)
{
	char buf[16384], *p;
	unsigned long long n;
	ssize_t len;
	int fd = open(be->log, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(len, 0);
	buf[len] = 0;
	p = strstr(buf, "balloon-report: done: ");
	ck_assert_msg(p != NULL, "no exit line in the backend's log");
	p = strstr(p, "discarded, ");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "discarded, %llu rejected", &n), 1);
	return n;
}

/* ---- the guest ---- */

struct guest {
	struct vqcore_vuc *c;
	int memfd;
	uint64_t arena_gpa;
	uint8_t *arena;
	struct vqcore_pagepool *pool;
	struct vqcore_balloon *b;
	struct vqcore_reporter *r;
	/* a report callback wrapping the sink */
	int fail_calls; /* fail this many calls first */
	int calls;
};

static void guest_connect(struct guest *g, const char *path, unsigned format,
			  uint64_t mem, uint16_t qsize)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = mem,
		.num_queues = 3,
		.queue_size = qsize,
		.features = guest_features(format),
	};
	struct vqcore_mem_region reg;

	memset(g, 0, sizeof(*g));
	ck_assert_int_eq(vqcore_vuc_connect(path, &cfg, &g->c), 0);
	ck_assert_int_eq(vqcore_vuc_format(g->c), format);
	ck_assert(vqcore_vuc_features(g->c) &
		  VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING));
	ck_assert_int_eq(vqcore_vuc_start(g->c), 0);
	ck_assert_int_eq(vqcore_mem_get(vqcore_vuc_mem(g->c), 0, &reg), 0);
	g->memfd = reg.fd;
	ck_assert_int_ge(g->memfd, 0);
}

static int wrapped_report(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	struct guest *g = opaque;

	if (g->calls++ < g->fail_calls)
		return -EIO;
	return vqcore_balloon_report(g->b, sg, n);
}

static void wrapped_cancel(void *opaque)
{
	vqcore_balloon_cancel(((struct guest *)opaque)->b);
}

/* Pool over an arena of @arena bytes, sink on queue 2, reporter. */
static void guest_reporting(struct guest *g, uint64_t arena, unsigned max_order,
			    unsigned capacity, uint64_t timeout_ns, bool wrapped)
{
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = max_order };
	struct vqcore_balloon_config bc = { .sz = sizeof(bc) };
	struct vqcore_reporter_opts ro = {
		.sz = sizeof(ro),
		.order = 9,
		.capacity = capacity,
		.delay_ns = 1,
		.timeout_ns = timeout_ns,
	};
	struct vqcore_report_source src;
	void *hva;

	g->arena_gpa = vqcore_vuc_alloc(g->c, arena, 4 * MiB, &hva);
	ck_assert_uint_ne(g->arena_gpa, 0);
	g->arena = hva;
	/* the pool works on guest physical addresses directly */
	ck_assert_int_eq(vqcore_pagepool_new(g->arena_gpa, arena, &po, &g->pool), 0);
	bc.dq = vqcore_vuc_queue(g->c, VQCORE_BALLOON_VQ_REPORTING);
	bc.call_fd = vqcore_vuc_call_fd(g->c, VQCORE_BALLOON_VQ_REPORTING);
	bc.arena_base = g->arena_gpa;
	bc.gpa_base = g->arena_gpa;
	ck_assert_ptr_nonnull(bc.dq);
	ck_assert_int_eq(vqcore_balloon_new(&bc, &g->b), 0);
	vqcore_pagepool_report_source(g->pool, &src);
	if (wrapped) {
		ro.cancel = wrapped_cancel;
		ck_assert_int_eq(vqcore_reporter_new(&src, wrapped_report, g, &ro, &g->r), 0);
		ck_assert_int_eq(vqcore_balloon_attach(g->b, g->r), 0);
	} else {
		ck_assert_int_eq(vqcore_balloon_reporter_new(g->b, &src, &ro, &g->r), 0);
	}
	ck_assert_int_eq(vqcore_balloon_start(g->b), 0);
}

static void guest_free(struct guest *g)
{
	vqcore_reporter_destroy(g->r);
	vqcore_balloon_free(g->b);
	vqcore_pagepool_destroy(g->pool);
	vqcore_vuc_free(g->c);
}

/* Allocate the whole arena in 2 MiB blocks, fill it, free it all. */
static void guest_touch_and_free(struct guest *g, uint64_t arena)
{
	unsigned nblk = (unsigned)(arena / (2 * MiB));
	uint64_t *addrs = calloc(nblk, sizeof(*addrs));

	ck_assert_ptr_nonnull(addrs);
	for (unsigned i = 0; i < nblk; i++) {
		ck_assert_int_eq(vqcore_pagepool_alloc(g->pool, 9, &addrs[i]), 0);
		memset(g->arena + (addrs[i] - g->arena_gpa), 0xa5, 2 * MiB);
	}
	for (unsigned i = 0; i < nblk; i++)
		ck_assert_int_eq(vqcore_pagepool_free(g->pool, addrs[i], 9), 0);
	free(addrs);
}

/* Run (and resume) one pass until it ends; returns its result. */
static int drive_pass(struct guest *g, struct vqcore_reporter_pass *p)
{
	uint64_t t0 = now_ms();

	for (;;) {
		int ret = vqcore_reporter_run_pass(g->r, p);

		if (ret != VQCORE_REPORT_IN_PROGRESS)
			return ret;
		ck_assert_msg(now_ms() - t0 < 20000, "report never completed");
		sleep_ms(1);
	}
}

static bool all_bytes(const uint8_t *p, uint64_t len, uint8_t v)
{
	uint64_t w = 0x0101010101010101ull * v;

	for (uint64_t i = 0; i < len; i += 8)
		if (*(const uint64_t *)(const void *)(p + i) != w)
			return false;
	return true;
}

/* ---- end to end ---- */

START_TEST(test_report_end_to_end)
{
#ifdef BALLOON_REPORT_BIN
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
	struct vqcore_reporter_pass pass;
	struct backend be;
	struct guest g;
	int64_t a0, a1, a2;
	int passes = 0;

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	guest_reporting(&g, ARENA, 10, 32, 10ull * 1000000000, false);

	a0 = vqcore_fd_allocated(g.memfd);
	guest_touch_and_free(&g, ARENA);
	a1 = vqcore_fd_allocated(g.memfd);
	ck_assert_int_ge(a1 - a0, (int64_t)(ARENA - TOL));

	do {
		ck_assert_int_eq(drive_pass(&g, &pass), 0);
		vqcore_pagepool_get_stats(g.pool, &ps);
	} while (ps.reported_bytes < ARENA && ++passes < 20);
	ck_assert_uint_eq(ps.reported_bytes, ARENA);
	ck_assert_uint_eq(ps.isolated_bytes, 0);

	vqcore_balloon_get_stats(g.b, &bs);
	ck_assert_uint_ge(bs.completed, 1);
	ck_assert_uint_eq(bs.bytes, ARENA);
	ck_assert_uint_eq(bs.abandoned, 0);

	/* the host got the memory back ... */
	a2 = vqcore_fd_allocated(g.memfd);
	ck_assert_msg(a1 - a2 >= (int64_t)(bs.bytes - TOL),
		      "allocated %lld -> %lld, reported %llu", (long long)a1,
		      (long long)a2, (unsigned long long)bs.bytes);
	/* ... and the guest reads zeroes there (checked after measuring:
	 * reading through the mapping faults pages back in) */
	ck_assert(all_bytes(g.arena, ARENA, 0));

	guest_free(&g);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* Reused blocks come back unreported, get written, and a new pass
 * reports them again. */
START_TEST(test_report_reuse_after_report)
{
#ifdef BALLOON_REPORT_BIN
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_reporter_pass pass;
	struct backend be;
	struct guest g;
	uint64_t addr;
	int64_t a1, a2;

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	guest_reporting(&g, ARENA, 10, 32, 10ull * 1000000000, false);
	guest_touch_and_free(&g, ARENA);
	ck_assert_int_eq(drive_pass(&g, &pass), 0);

	/* allocation prefers ... whatever; the block is writable again */
	ck_assert_int_eq(vqcore_pagepool_alloc(g.pool, 10, &addr), 0);
	memset(g.arena + (addr - g.arena_gpa), 0x5a, 4 * MiB);
	ck_assert(all_bytes(g.arena + (addr - g.arena_gpa), 4 * MiB, 0x5a));
	a1 = vqcore_fd_allocated(g.memfd);
	ck_assert_int_eq(vqcore_pagepool_free(g.pool, addr, 10), 0);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, ARENA - 4 * MiB);
	ck_assert_int_eq(drive_pass(&g, &pass), 0);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, ARENA);
	a2 = vqcore_fd_allocated(g.memfd);
	ck_assert_int_ge(a1 - a2, (int64_t)(4 * MiB - TOL));

	guest_free(&g);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* ---- bad input: the guest side ---- */

START_TEST(test_report_callback_fails)
{
#ifdef BALLOON_REPORT_BIN
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
	struct vqcore_reporter_pass pass;
	struct backend be;
	struct guest g;
	int64_t a1, a2;

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	guest_reporting(&g, ARENA, 10, 32, 10ull * 1000000000, true);
	g.fail_calls = 1;
	guest_touch_and_free(&g, ARENA);
	a1 = vqcore_fd_allocated(g.memfd);

	ck_assert_int_eq(drive_pass(&g, &pass), -EIO);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, 0);
	ck_assert_uint_eq(ps.isolated_bytes, 0);
	ck_assert_uint_eq(ps.free_bytes, ARENA);
	vqcore_balloon_get_stats(g.b, &bs);
	ck_assert_uint_eq(bs.reports, 0);
	a2 = vqcore_fd_allocated(g.memfd);
	ck_assert_int_eq(a2, a1);
	ck_assert(all_bytes(g.arena, ARENA, 0xa5));

	/* the next pass goes through */
	ck_assert_int_eq(drive_pass(&g, &pass), 0);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, ARENA);
	ck_assert_int_ge(a1 - vqcore_fd_allocated(g.memfd), (int64_t)(ARENA - TOL));

	guest_free(&g);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* A scatterlist with more blocks than the queue has descriptors. */
START_TEST(test_sink_refuses_scatterlist_larger_than_queue)
{
#ifdef BALLOON_REPORT_BIN
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
	struct vqcore_reporter_pass pass;
	struct backend be;
	struct guest g;
	int64_t a1;

	backend_start(&be);
	/* queue of 16, 32 blocks of 2 MiB (max order 9) in one scatterlist */
	guest_connect(&g, be.sock, formats[_i], 96 * MiB, 16);
	guest_reporting(&g, 64 * MiB, 9, 32, 10ull * 1000000000, false);
	guest_touch_and_free(&g, 64 * MiB);
	a1 = vqcore_fd_allocated(g.memfd);

	ck_assert_int_eq(drive_pass(&g, &pass), -ENOSPC);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, 0);
	ck_assert_uint_eq(ps.isolated_bytes, 0);
	vqcore_balloon_get_stats(g.b, &bs);
	ck_assert_uint_eq(bs.reports, 0);
	ck_assert_uint_eq(bs.refused, 1);
	ck_assert_int_eq(vqcore_fd_allocated(g.memfd), a1);
	ck_assert(all_bytes(g.arena, 64 * MiB, 0xa5));

	guest_free(&g);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* A raw device that takes the buffer and never returns it. */
static void silent_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct vhost_buf bufs[4];
	struct vhost_desc desc[256];

	(void)dev;
	(void)qidx;
	/* fetch and keep: the buffer stays in flight forever */
	while (vqcore_vq_get_bufs_desc(vq, bufs, 4, desc, 256) > 0)
		;
}

START_TEST(test_device_never_answers)
{
	static const struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.kick = silent_kick,
	};
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
	struct vqcore_reporter_stats rs = { .sz = sizeof(rs) };
	struct vqcore_reporter_pass pass;
	struct vu_harness h;
	struct guest g;
	int64_t a1;
	uint64_t t0;
	int ret;

	ck_assert_int_eq(vu_harness_start(&h, VQCORE_VU_SERVER | VQCORE_VU_NO_INFLIGHT, 3,
					  guest_features(VQCORE_FORMAT_PACKED), &ops, NULL),
			 0);
	guest_connect(&g, h.path, formats[_i], GUEST_MEM, 64);
	/* timeout 200 ms */
	guest_reporting(&g, ARENA, 10, 32, 200ull * 1000000, false);
	guest_touch_and_free(&g, ARENA);
	a1 = vqcore_fd_allocated(g.memfd);

	t0 = now_ms();
	ret = vqcore_reporter_run_pass(g.r, &pass);
	ck_assert_int_eq(ret, VQCORE_REPORT_IN_PROGRESS);
	do {
		sleep_ms(10);
		ret = vqcore_reporter_run_pass(g.r, &pass);
		ck_assert_msg(now_ms() - t0 < 20000, "no timeout");
	} while (ret == VQCORE_REPORT_IN_PROGRESS);
	ck_assert_int_eq(ret, -ETIMEDOUT);

	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, 0);
	ck_assert_uint_eq(ps.isolated_bytes, 0);
	ck_assert_uint_eq(ps.free_bytes, ARENA);
	vqcore_reporter_get_stats(g.r, &rs);
	ck_assert_uint_eq(rs.timeouts, 1);
	vqcore_balloon_get_stats(g.b, &bs);
	ck_assert_uint_eq(bs.abandoned, 1);
	ck_assert_uint_eq(bs.completed, 0);
	ck_assert_int_eq(vqcore_fd_allocated(g.memfd), a1);
	ck_assert(all_bytes(g.arena, ARENA, 0xa5));

	/* the buffer is still in the ring: the next report is refused */
	ck_assert_int_eq(drive_pass(&g, &pass), -EBUSY);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, 0);
	ck_assert_uint_eq(ps.isolated_bytes, 0);

	guest_free(&g);
	vu_harness_stop(&h);
}
END_TEST

/* A device that holds reporting buffers until a buffer arrives on the
 * inflate queue, then returns them and answers at once from then on. */
struct slow_dev {
	struct vhost_buf held[8];
	unsigned nheld;
	bool answer;
	struct vhost_desc desc[256];
};

static void slow_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct slow_dev *s = vqcore_vu_opaque(dev);
	struct vhost_buf bufs[4];
	int n;

	do {
		vqcore_vq_disable_notify(vq);
		while ((n = vqcore_vq_get_bufs_desc(vq, bufs, 4, s->desc, 256)) > 0) {
			if (qidx == VQCORE_BALLOON_VQ_REPORTING && !s->answer) {
				for (int i = 0; i < n && s->nheld < 8; i++)
					s->held[s->nheld++] = bufs[i];
				continue;
			}
			vqcore_vq_put_used(vq, bufs, NULL, (unsigned)n);
			vqcore_vq_signal(vq);
			if (qidx == VQCORE_BALLOON_VQ_INFLATE && !s->answer) {
				struct vqcore_vq *rq =
					vqcore_vu_queue(dev, VQCORE_BALLOON_VQ_REPORTING);

				s->answer = true;
				vqcore_vq_put_used(rq, s->held, NULL, s->nheld);
				s->nheld = 0;
				vqcore_vq_signal(rq);
			}
		}
	} while (n == 0 && vqcore_vq_enable_notify(vq));
}

START_TEST(test_device_answers_after_timeout)
{
	static const struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.kick = slow_kick,
	};
	static struct slow_dev sd;
	struct vqcore_pagepool_stats ps = { .sz = sizeof(ps) };
	struct vqcore_balloon_stats bs = { .sz = sizeof(bs) };
	struct vqcore_reporter_pass pass;
	struct vqcore_sg poke;
	struct vu_harness h;
	struct guest g;
	uint64_t t0;
	int ret;

	memset(&sd, 0, sizeof(sd));
	ck_assert_int_eq(vu_harness_start(&h, VQCORE_VU_SERVER | VQCORE_VU_NO_INFLIGHT, 3,
					  guest_features(VQCORE_FORMAT_PACKED), &ops, &sd),
			 0);
	guest_connect(&g, h.path, formats[_i], GUEST_MEM, 64);
	guest_reporting(&g, ARENA, 10, 32, 200ull * 1000000, false);
	guest_touch_and_free(&g, ARENA);

	t0 = now_ms();
	do {
		ret = vqcore_reporter_run_pass(g.r, &pass);
		sleep_ms(10);
		ck_assert_msg(now_ms() - t0 < 20000, "no timeout");
	} while (ret == VQCORE_REPORT_IN_PROGRESS);
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_int_eq(drive_pass(&g, &pass), -EBUSY);

	/* the device wakes up and returns the abandoned buffer late */
	poke.addr = vqcore_vuc_alloc(g.c, 64, 64, NULL);
	poke.len = 64;
	ck_assert_int_eq(vqcore_drvq_add(vqcore_vuc_queue(g.c, VQCORE_BALLOON_VQ_INFLATE),
					 &poke, 1, 0, &poke, 0), 0);
	ck_assert_int_ge(vqcore_drvq_kick(vqcore_vuc_queue(g.c, VQCORE_BALLOON_VQ_INFLATE)), 0);
	t0 = now_ms();
	do {
		sleep_ms(5);
		vqcore_balloon_get_stats(g.b, &bs);
		ck_assert_msg(now_ms() - t0 < 20000, "late answer never seen");
	} while (bs.late == 0);
	ck_assert_uint_eq(bs.late, 1);
	ck_assert_uint_eq(bs.completed, 0);
	/* the late answer did not mark anything Reported */
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, 0);

	/* and reports go through again */
	ck_assert_int_eq(drive_pass(&g, &pass), 0);
	vqcore_pagepool_get_stats(g.pool, &ps);
	ck_assert_uint_eq(ps.reported_bytes, ARENA);
	vqcore_balloon_get_stats(g.b, &bs);
	ck_assert_uint_ge(bs.completed, 1);

	guest_free(&g);
	vu_harness_stop(&h);
}
END_TEST

/* ---- bad input: a hostile driver against balloon-report ---- */

#ifdef BALLOON_REPORT_BIN
/* Send one buffer of @n ranges on the reporting queue (@readable: the
 * first one device-readable) and wait for it to come back. */
static uint32_t send_ranges(struct guest *g, const struct vqcore_sg *sg, unsigned n,
			    bool readable)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(g->c, VQCORE_BALLOON_VQ_REPORTING);
	void *tok = NULL;
	uint32_t len = 0xdead;
	uint64_t t0 = now_ms();
	int got;

	ck_assert_int_eq(vqcore_drvq_add(dq, sg, readable ? 1 : 0, readable ? n - 1 : n,
					 (void *)sg, 0),
			 0);
	ck_assert_int_ge(vqcore_drvq_kick(dq), 0);
	for (;;) {
		got = vqcore_drvq_get_used(dq, &tok, &len, 1);
		if (got)
			break;
		ck_assert_int_ge(vqcore_vuc_wait(g->c, VQCORE_BALLOON_VQ_REPORTING, 100), 0);
		ck_assert_msg(now_ms() - t0 < 20000, "buffer never returned");
	}
	ck_assert_int_eq(got, 1);
	ck_assert_ptr_eq(tok, sg);
	return len;
}

/* After the hostile buffer: the device still discards a good range. */
static void check_still_works(struct guest *g, uint8_t *hva, uint64_t gpa)
{
	struct vqcore_sg good = { .addr = gpa, .len = 256 * KiB };
	int64_t before;

	memset(hva, 0x77, 256 * KiB);
	before = vqcore_fd_allocated(g->memfd);
	ck_assert_uint_eq(send_ranges(g, &good, 1, false), 0);
	ck_assert_int_eq(before - vqcore_fd_allocated(g->memfd), (int64_t)(256 * KiB));
	ck_assert(all_bytes(hva, 256 * KiB, 0));
}

/* One hostile range: nothing discarded, used length 0, a log line, and
 * the device keeps working. */
static void hostile_case(unsigned format, uint64_t addr_off, bool from_end,
			 uint32_t len, bool readable, const char *why)
{
	struct backend be;
	struct guest g;
	struct vqcore_sg sg[2];
	uint8_t *hva, *good_hva;
	uint64_t gpa, good;
	int64_t a1;

	backend_start(&be);
	guest_connect(&g, be.sock, format, GUEST_MEM, 64);
	/* touch everything from the first free byte to the end */
	gpa = vqcore_vuc_alloc(g.c, 4 * MiB, 4 * MiB, (void **)&hva);
	ck_assert_uint_ne(gpa, 0);
	good = vqcore_vuc_alloc(g.c, 256 * KiB, 4096, (void **)&good_hva);
	ck_assert_uint_ne(good, 0);
	memset(hva, 0xa5, GUEST_MEM - gpa);
	a1 = vqcore_fd_allocated(g.memfd);

	sg[0].addr = from_end ? GUEST_MEM - addr_off : gpa + addr_off;
	sg[0].len = len;
	/* a good range in the same buffer is still discarded: only the bad
	 * one is skipped */
	sg[1].addr = good;
	sg[1].len = 256 * KiB;
	memset(good_hva, 0x77, 256 * KiB);
	ck_assert_uint_eq(send_ranges(&g, sg, 2, readable), 0);
	ck_assert_int_eq(a1 - vqcore_fd_allocated(g.memfd), (int64_t)(256 * KiB));
	ck_assert(all_bytes(hva, 4 * MiB, 0xa5));
	ck_assert(all_bytes((uint8_t *)vqcore_vuc_hva(g.c, good + 256 * KiB, 1),
			    GUEST_MEM - good - 256 * KiB, 0xa5));
	ck_assert_msg(log_contains(&be, why), "no \"%s\" in the backend's log", why);

	check_still_works(&g, good_hva, good);
	vqcore_vuc_free(g.c);
	/* refused and counted once */
	ck_assert_uint_eq(backend_stop(&be), 1);
}
#endif

START_TEST(test_hostile_range_outside_table)
{
#ifdef BALLOON_REPORT_BIN
	/* starts 1 MiB past the end of guest memory */
	hostile_case(formats[_i], (uint64_t)-(int64_t)MiB, true, 64 * KiB, false,
		     "outside the memory table");
#endif
}
END_TEST

START_TEST(test_hostile_range_runs_past_end)
{
#ifdef BALLOON_REPORT_BIN
	/* the last 64 KiB of memory, then 64 KiB past the end: nothing of it
	 * may be punched */
	hostile_case(formats[_i], 64 * KiB, true, 128 * KiB, false,
		     "outside the memory table");
#endif
}
END_TEST

START_TEST(test_hostile_unaligned_address)
{
#ifdef BALLOON_REPORT_BIN
	hostile_case(formats[_i], 100, false, 64 * KiB, false, "not 4 KiB aligned");
#endif
}
END_TEST

START_TEST(test_hostile_unaligned_length)
{
#ifdef BALLOON_REPORT_BIN
	hostile_case(formats[_i], 0, false, 64 * KiB + 100, false, "not 4 KiB aligned");
#endif
}
END_TEST

START_TEST(test_hostile_device_readable_range)
{
#ifdef BALLOON_REPORT_BIN
	hostile_case(formats[_i], 0, false, 64 * KiB, true, "device-readable");
#endif
}
END_TEST

START_TEST(test_hostile_empty_range)
{
#ifdef BALLOON_REPORT_BIN
	hostile_case(formats[_i], 0, false, 0, false, "empty range");
#endif
}
END_TEST

/* Overlapping ranges in one buffer: every range that overlaps another is
 * refused and counted, the others are discarded. */
START_TEST(test_hostile_overlapping_ranges)
{
#ifdef BALLOON_REPORT_BIN
	struct backend be;
	struct guest g;
	struct vqcore_sg sg[7];
	uint8_t *hva, *good_hva;
	uint64_t gpa, good;
	int64_t a1;

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	gpa = vqcore_vuc_alloc(g.c, 4 * MiB, 4 * MiB, (void **)&hva);
	ck_assert_uint_ne(gpa, 0);
	good = vqcore_vuc_alloc(g.c, 256 * KiB, 4096, (void **)&good_hva);
	ck_assert_uint_ne(good, 0);
	memset(hva, 0xa5, GUEST_MEM - gpa);
	memset(good_hva, 0x77, 256 * KiB);
	a1 = vqcore_fd_allocated(g.memfd);

	/* a small range inside a large one, listed first */
	sg[0] = (struct vqcore_sg){ gpa + 1 * MiB + 64 * KiB, 64 * KiB };
	sg[1] = (struct vqcore_sg){ gpa + 1 * MiB, 128 * KiB };
	/* the same range twice */
	sg[2] = (struct vqcore_sg){ gpa + 2 * MiB, 64 * KiB };
	sg[3] = (struct vqcore_sg){ gpa + 2 * MiB, 64 * KiB };
	/* the good one, between them in the list */
	sg[4] = (struct vqcore_sg){ good, 256 * KiB };
	/* two ranges sharing their middle 64 KiB */
	sg[5] = (struct vqcore_sg){ gpa + 3 * MiB, 128 * KiB };
	sg[6] = (struct vqcore_sg){ gpa + 3 * MiB + 64 * KiB, 128 * KiB };
	ck_assert_uint_eq(send_ranges(&g, sg, 7, false), 0);
	ck_assert_int_eq(a1 - vqcore_fd_allocated(g.memfd), (int64_t)(256 * KiB));
	ck_assert(all_bytes(hva, 4 * MiB, 0xa5));
	ck_assert(all_bytes(good_hva, 256 * KiB, 0));
	ck_assert(log_contains(&be, "overlaps another range"));

	/* adjacent ranges do not overlap: both discarded (a new baseline:
	 * reading the good range faulted it back in) */
	a1 = vqcore_fd_allocated(g.memfd);
	sg[0] = (struct vqcore_sg){ gpa + 1 * MiB, 64 * KiB };
	sg[1] = (struct vqcore_sg){ gpa + 1 * MiB + 64 * KiB, 64 * KiB };
	ck_assert_uint_eq(send_ranges(&g, sg, 2, false), 0);
	ck_assert_int_eq(a1 - vqcore_fd_allocated(g.memfd), (int64_t)(128 * KiB));
	ck_assert(all_bytes(hva + 1 * MiB, 128 * KiB, 0));
	ck_assert(all_bytes(hva + 1 * MiB + 128 * KiB, 3 * MiB - 128 * KiB, 0xa5));

	vqcore_vuc_free(g.c);
	/* six refused, all in the first buffer */
	ck_assert_uint_eq(backend_stop(&be), 6);
#endif
}
END_TEST

/* ---- balloon-report's options and config space ---- */

/* --no-packed: a driver asking for packed gets split; without it, packed. */
START_TEST(test_no_packed_option)
{
#ifdef BALLOON_REPORT_BIN
	struct backend be;
	struct guest g;
	uint8_t *hva;
	uint64_t gpa;

	backend_start_args(&be, _i ? "--no-packed" : NULL);
	g.c = NULL;
	{
		struct vqcore_vuc_config cfg = {
			.sz = sizeof(cfg),
			.mem_size = GUEST_MEM,
			.num_queues = 3,
			.queue_size = 64,
			.features = guest_features(VQCORE_FORMAT_PACKED),
		};
		struct vqcore_mem_region reg;

		ck_assert_int_eq(vqcore_vuc_connect(be.sock, &cfg, &g.c), 0);
		ck_assert_int_eq(vqcore_vuc_format(g.c),
				 _i ? VQCORE_FORMAT_SPLIT : VQCORE_FORMAT_PACKED);
		ck_assert_uint_eq(!!(vqcore_vuc_features(g.c) &
				     VQCORE_BIT(VQCORE_F_RING_PACKED)), !_i);
		ck_assert(vqcore_vuc_features(g.c) &
			  VQCORE_BIT(VQCORE_BALLOON_F_FREE_PAGE_REPORTING));
		ck_assert_int_eq(vqcore_vuc_start(g.c), 0);
		ck_assert_int_eq(vqcore_mem_get(vqcore_vuc_mem(g.c), 0, &reg), 0);
		g.memfd = reg.fd;
	}
	/* and it reports on the ring it got */
	gpa = vqcore_vuc_alloc(g.c, 256 * KiB, 4096, (void **)&hva);
	ck_assert_uint_ne(gpa, 0);
	check_still_works(&g, hva, gpa);
	vqcore_vuc_free(g.c);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* --help names the options and the config size a front-end must use. */
START_TEST(test_help_text)
{
#ifdef BALLOON_REPORT_BIN
	char buf[4096];
	size_t n;
#ifdef VQCORE_TEST_EMULATOR
	FILE *f = popen(VQCORE_TEST_EMULATOR " " BALLOON_REPORT_BIN " --help", "r");
#else
	FILE *f = popen(BALLOON_REPORT_BIN " --help", "r");
#endif

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_ptr_nonnull(strstr(buf, "--no-packed"));
	ck_assert_ptr_nonnull(strstr(buf, "8-byte config space"));
	ck_assert_ptr_nonnull(strstr(buf, "config_size=8"));
#endif
}
END_TEST

#ifdef BALLOON_REPORT_BIN
static void get_cfg(struct guest *g, uint32_t *num_pages, uint32_t *actual)
{
	uint8_t c[8];

	ck_assert_int_eq(vqcore_vuc_get_config(g->c, 0, c, 8), 0);
	*num_pages = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 |
		     (uint32_t)c[3] << 24;
	*actual = (uint32_t)c[4] | (uint32_t)c[5] << 8 | (uint32_t)c[6] << 16 |
		  (uint32_t)c[7] << 24;
}
#endif

/* What QEMU's generic vhost-user device does when the guest writes
 * @actual: the whole 8-byte config at offset 0.  num_pages is the
 * device's: the write's bytes there are ignored. */
START_TEST(test_config_whole_write)
{
#ifdef BALLOON_REPORT_BIN
	static const uint8_t whole[8] = { 0x44, 0x33, 0x22, 0x11, 0x78, 0x56, 0x34, 0x12 };
	static const uint8_t act[4] = { 0x01, 0x02, 0x03, 0x04 };
	static const uint8_t two[2] = { 0xaa, 0xbb };
	struct backend be;
	struct guest g;
	uint32_t np, a;

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(np, 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_int_eq(vqcore_vuc_set_config(g.c, 0, whole, 8, 0), 0);
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(np, 0);
	ck_assert_uint_eq(a, 0x12345678);
	/* actual alone, as virtio-balloon-pci's own device would forward it */
	ck_assert_int_eq(vqcore_vuc_set_config(g.c, 4, act, 4, 0), 0);
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(np, 0);
	ck_assert_uint_eq(a, 0x04030201);
	/* part of actual */
	ck_assert_int_eq(vqcore_vuc_set_config(g.c, 6, two, 2, 0), 0);
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(a, 0xbbaa0201);
	/* num_pages alone: accepted, changes nothing */
	ck_assert_int_eq(vqcore_vuc_set_config(g.c, 0, whole, 4, 0), 0);
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(np, 0);
	ck_assert_uint_eq(a, 0xbbaa0201);
	ck_assert(!log_contains(&be, "refused"));
	vqcore_vuc_free(g.c);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* Config accesses outside the 8 bytes: an error to the front-end, a log
 * line naming the access, nothing changed, the device still serving. */
START_TEST(test_config_bad_access)
{
#ifdef BALLOON_REPORT_BIN
	static const struct { uint32_t off, len; } bad[] = {
		{ 8, 4 }, { 4, 5 }, { 0, 12 }, { 7, 2 }, { 16, 1 },
	};
	uint8_t buf[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct backend be;
	struct guest g;
	uint32_t np, a;
	uint8_t *hva;
	uint64_t gpa;
	char line[128];

	backend_start(&be);
	guest_connect(&g, be.sock, formats[_i], GUEST_MEM, 64);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(vqcore_vuc_set_config(g.c, bad[i].off, buf, bad[i].len, 0),
				 -EIO);
		ck_assert_int_eq(vqcore_vuc_get_config(g.c, bad[i].off, buf, bad[i].len),
				 -EIO);
		snprintf(line, sizeof(line), "config write of %u bytes at offset %u refused",
			 bad[i].len, bad[i].off);
		ck_assert_msg(log_contains(&be, line), "no \"%s\" in the log", line);
		snprintf(line, sizeof(line), "config read of %u bytes at offset %u refused",
			 bad[i].len, bad[i].off);
		ck_assert_msg(log_contains(&be, line), "no \"%s\" in the log", line);
	}
	get_cfg(&g, &np, &a);
	ck_assert_uint_eq(np, 0);
	ck_assert_uint_eq(a, 0);
	gpa = vqcore_vuc_alloc(g.c, 256 * KiB, 4096, (void **)&hva);
	ck_assert_uint_ne(gpa, 0);
	check_still_works(&g, hva, gpa);
	vqcore_vuc_free(g.c);
	ck_assert_uint_eq(backend_stop(&be), 0);
#endif
}
END_TEST

/* ---- the sink's own argument checks ---- */

START_TEST(test_sink_arguments)
{
	struct vqcore_balloon_config bc = { .sz = sizeof(bc) };
	struct vqcore_pagepool_opts po = { .sz = sizeof(po), .max_order = 10 };
	struct vqcore_reporter_opts ro = { .sz = sizeof(ro), .capacity = 64 };
	struct vqcore_report_source src;
	struct vqcore_report_sg sg = { .addr = 0x10000, .len = 4096 };
	struct vqcore_report_sg many[33];
	struct vqcore_pagepool *pool;
	struct vqcore_reporter *r = NULL;
	struct vqcore_balloon *b;
	struct vqcore_drvq *dq;
	struct vqcore_drvq_config dc = { .sz = sizeof(dc) };
	struct vqcore_memfd mf;
	struct vqcore_mem *mem = vqcore_mem_new();
	struct vqcore_mem_region reg;

	for (unsigned i = 0; i < 33; i++)
		many[i] = (struct vqcore_report_sg){ 0x100000 + i * 4096ull, 4096 };
	ck_assert_int_eq(vqcore_balloon_new(&bc, &b), -EINVAL); /* no queue */
	ck_assert_int_eq(vqcore_memfd_map("t", 1 * MiB, 0, &mf), 0);
	reg = (struct vqcore_mem_region){ .gpa = 0, .size = mf.size, .hva = mf.hva,
					  .fd = mf.fd };
	ck_assert_int_eq(vqcore_mem_add(mem, &reg), 0);
	dc.format = VQCORE_FORMAT_SPLIT;
	dc.num = 16;
	dc.mem = mem;
	dc.kick_fd = -1;
	ck_assert_int_eq(vqcore_ring_layout(dc.format, 16, 0, &dc.ring), 0);
	ck_assert_int_eq(vqcore_drvq_new(&dc, &dq), 0);
	bc.dq = dq;
	bc.call_fd = -1;
	bc.sz = 4;
	ck_assert_int_eq(vqcore_balloon_new(&bc, &b), -EINVAL); /* bad sz */
	bc.sz = sizeof(bc);
	ck_assert_int_eq(vqcore_balloon_new(&bc, &b), 0);

	/* not attached yet: refused */
	ck_assert_int_eq(vqcore_balloon_report(b, &sg, 1), -EINVAL);
	ck_assert_int_eq(vqcore_pagepool_new(0x100000, 1 * MiB, &po, &pool), 0);
	vqcore_pagepool_report_source(pool, &src);
	/* capacity 64 > max_sg 32 */
	ck_assert_int_eq(vqcore_balloon_reporter_new(b, &src, &ro, &r), -EINVAL);
	ro.capacity = 0;
	ro.order = 8;
	ck_assert_int_eq(vqcore_balloon_reporter_new(b, &src, &ro, &r), 0);
	/* unaligned block: refused, nothing queued */
	sg.addr = 0x10100;
	ck_assert_int_eq(vqcore_balloon_report(b, &sg, 1), -EINVAL);
	/* below the arena base: refused */
	bc.arena_base = 0x100000;
	vqcore_reporter_destroy(r);
	vqcore_balloon_free(b);
	ck_assert_int_eq(vqcore_balloon_new(&bc, &b), 0);
	ck_assert_int_eq(vqcore_balloon_reporter_new(b, &src, &ro, &r), 0);
	sg.addr = 0x10000;
	ck_assert_int_eq(vqcore_balloon_report(b, &sg, 1), -EINVAL);
	ck_assert_uint_eq(vqcore_drvq_free_descs(dq), 16);
	/* a good one is queued (one descriptor); a second is busy until the
	 * first comes back */
	sg.addr = 0x100000;
	ck_assert_int_eq(vqcore_balloon_report(b, &sg, 1), VQCORE_REPORT_IN_PROGRESS);
	ck_assert_uint_eq(vqcore_drvq_free_descs(dq), 15);
	ck_assert_int_eq(vqcore_balloon_report(b, &sg, 1), -EBUSY);
	/* more blocks than max_sg */
	ck_assert_int_eq(vqcore_balloon_report(b, many, 33), -E2BIG);
	ck_assert_uint_eq(vqcore_drvq_free_descs(dq), 15);
	vqcore_reporter_destroy(r);
	vqcore_balloon_free(b);
	vqcore_pagepool_destroy(pool);
	vqcore_drvq_free(dq);
	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&mf);
}
END_TEST

static Suite *balloon_suite(void)
{
	Suite *s = suite_create("balloon");
	TCase *tc = tcase_create("balloon");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sink_arguments);
	tcase_add_loop_test(tc, test_report_end_to_end, 0, 2);
	tcase_add_loop_test(tc, test_report_reuse_after_report, 0, 2);
	tcase_add_loop_test(tc, test_report_callback_fails, 0, 2);
	tcase_add_loop_test(tc, test_sink_refuses_scatterlist_larger_than_queue, 0, 2);
	tcase_add_loop_test(tc, test_device_never_answers, 0, 2);
	tcase_add_loop_test(tc, test_device_answers_after_timeout, 0, 2);
	tcase_add_loop_test(tc, test_hostile_range_outside_table, 0, 2);
	tcase_add_loop_test(tc, test_hostile_range_runs_past_end, 0, 2);
	tcase_add_loop_test(tc, test_hostile_unaligned_address, 0, 2);
	tcase_add_loop_test(tc, test_hostile_unaligned_length, 0, 2);
	tcase_add_loop_test(tc, test_hostile_device_readable_range, 0, 2);
	tcase_add_loop_test(tc, test_hostile_empty_range, 0, 2);
	tcase_add_loop_test(tc, test_hostile_overlapping_ranges, 0, 2);
	tcase_add_loop_test(tc, test_no_packed_option, 0, 2);
	tcase_add_test(tc, test_help_text);
	tcase_add_loop_test(tc, test_config_whole_write, 0, 2);
	tcase_add_loop_test(tc, test_config_bad_access, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
#ifndef BALLOON_REPORT_BIN
	fprintf(stderr, "test_balloon: examples not built: the end-to-end cases "
		"against balloon-report do nothing\n");
#endif
	return vqt_run_suite(balloon_suite());
}
