/* SPDX-License-Identifier: MIT */
/*
 * Description: OS helpers (include/vqcore/os.h, lib/glue/os.c) on real
 * objects: eventfd signal and drain; memfd map and unmap; sending and
 * receiving data with fds over a real unix socketpair, including too many
 * fds (-EMSGSIZE, nothing leaked) and EOF (-ECONNRESET); discarding a memfd
 * range by punching a hole and anonymous memory with MADV_DONTNEED.
 */
#include <check.h>
#include "vqtest.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vqcore/os.h"

/* Open descriptors of this process (the directory's own fd excluded). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int sv[2];

static void setup_sock(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown_sock(void)
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

/* ---- eventfd ---- */

START_TEST(eventfd_signal_drain)
{
	int fd = vqcore_eventfd_new();

	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert_int_eq(vqcore_eventfd_drain(fd), 0);
	ck_assert_int_eq(vqcore_eventfd_signal(fd), 0);
	ck_assert_int_eq(vqcore_eventfd_signal(fd), 0);
	ck_assert_int_eq(vqcore_eventfd_signal(fd), 0);
	ck_assert_int_eq(vqcore_eventfd_drain(fd), 3);
	ck_assert_int_eq(vqcore_eventfd_drain(fd), 0);
	close(fd);
	ck_assert_int_eq(vqcore_eventfd_signal(-1), -EBADF);
	ck_assert_int_eq(vqcore_eventfd_drain(fd), -EBADF);
}
END_TEST

/* ---- memfd ---- */

START_TEST(memfd_map_unmap)
{
	struct vqcore_memfd m;
	uint64_t size = 0;
	int fd;

	ck_assert_int_eq(vqcore_memfd_map("test_os", 1 << 16, 0, &m), 0);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_ptr_nonnull(m.hva);
	ck_assert_uint_eq(m.size, 1 << 16);
	ck_assert(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(vqcore_fd_size(m.fd, &size), 0);
	ck_assert_uint_eq(size, 1 << 16);
	/* shared: what the mapping holds is what the file holds */
	memcpy((char *)m.hva + 0x1000, "memfd!", 6);
	{
		char b[6];

		ck_assert_int_eq(pread(m.fd, b, 6, 0x1000), 6);
		ck_assert_mem_eq(b, "memfd!", 6);
	}
	fd = m.fd;
	vqcore_memfd_unmap(&m);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_ptr_null(m.hva);
	ck_assert_uint_eq(m.size, 0);
	ck_assert(!fd_open(fd));
	vqcore_memfd_unmap(&m);      /* twice is harmless */
	vqcore_memfd_unmap(NULL);
}
END_TEST

START_TEST(memfd_bad_args)
{
	struct vqcore_memfd m;
	int before = count_fds();

	ck_assert_int_eq(vqcore_memfd_map("x", 0, 0, &m), -EINVAL);
	ck_assert_int_eq(vqcore_memfd_map("x", 4096, 0, NULL), -EINVAL);
	/* a size no file can have fails cleanly, nothing left open */
	ck_assert_int_lt(vqcore_memfd_map("x", UINT64_MAX / 2, 0, &m), 0);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* ---- sockets ---- */

START_TEST(sock_fds_pass)
{
	int ev[3], got[4] = { -1, -1, -1, -1 };
	char msg[] = "vhost-user says hi", buf[sizeof(msg)];
	unsigned n = 99;

	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(ev[i] = vqcore_eventfd_new(), 0);
	ck_assert_int_eq(vqcore_sock_send(sv[0], msg, sizeof(msg), ev, 3), 0);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], buf, sizeof(buf), got, 4, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(buf, msg);
	/* each received fd is the same eventfd as the one sent, close-on-exec:
	 * a signal through the copy is drained through the original, and
	 * then the copy reads empty.  (Not "== 1": qemu-user on a big-endian
	 * target byte-swaps the counter only on the fd it created.) */
	for (int i = 0; i < 3; i++) {
		ck_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		ck_assert_int_eq(vqcore_eventfd_drain(ev[i]), 0);
		ck_assert_int_eq(vqcore_eventfd_signal(got[i]), 0);
		ck_assert_int_gt(vqcore_eventfd_drain(ev[i]), 0);
		ck_assert_int_eq(vqcore_eventfd_drain(got[i]), 0);
		close(got[i]);
		close(ev[i]);
	}
	ck_assert_int_eq(got[3], -1);
}
END_TEST

START_TEST(sock_no_fds)
{
	char buf[5];
	unsigned n = 99;

	ck_assert_int_eq(vqcore_sock_send(sv[0], "hello", 5, NULL, 0), 0);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], buf, 5, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_mem_eq(buf, "hello", 5);
}
END_TEST

START_TEST(sock_send_bad_args)
{
	int fds[VQCORE_MAX_FDS + 1];

	for (int i = 0; i <= VQCORE_MAX_FDS; i++)
		fds[i] = sv[0];
	ck_assert_int_eq(vqcore_sock_send(sv[0], "x", 1, fds, VQCORE_MAX_FDS + 1), -EINVAL);
	ck_assert_int_eq(vqcore_sock_send(sv[0], "x", 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(vqcore_sock_send(sv[0], "x", 1, NULL, 2), -EINVAL);
}
END_TEST

/* More fds than the receiver allows: -EMSGSIZE, no fd leaked. */
START_TEST(sock_too_many_fds)
{
	int ev[4], got[2] = { -1, -1 }, before;
	uint32_t a = 0x11223344, b = 0x55667788, r = 0;
	unsigned n = 99;

	for (int i = 0; i < 4; i++)
		ck_assert_int_ge(ev[i] = vqcore_eventfd_new(), 0);
	before = count_fds();
	ck_assert_int_eq(vqcore_sock_send(sv[0], &a, sizeof(a), ev, 4), 0);
	ck_assert_int_eq(vqcore_sock_send(sv[0], &b, sizeof(b), NULL, 0), 0);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], &r, sizeof(r), got, 2, &n),
			 -EMSGSIZE);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_uint_eq(n, 0);
	/* the stream is still in step: the next message reads correctly */
	ck_assert_int_eq(vqcore_sock_recv(sv[1], &r, sizeof(r), got, 2, &n), 0);
	ck_assert_uint_eq(r, b);
	ck_assert_uint_eq(n, 0);
	for (int i = 0; i < 4; i++)
		close(ev[i]);
}
END_TEST

/*
 * Too many fds on a message bigger than the socket buffer (it arrives in
 * several chunks): the whole message is still consumed, so the next one
 * reads correctly, and nothing leaks.
 */
START_TEST(sock_too_many_fds_chunked)
{
	size_t len = 2 << 20;
	char *big = calloc(1, len);
	int ev[3], got = -1, before, st;
	uint32_t trailer = 0xfeedf00d, r = 0;
	unsigned n = 99;
	pid_t pid;

	ck_assert_ptr_nonnull(big);
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(ev[i] = vqcore_eventfd_new(), 0);
	before = count_fds();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(vqcore_sock_send(sv[0], big, len, ev, 3) ||
		      vqcore_sock_send(sv[0], &trailer, sizeof(trailer), NULL, 0));
	ck_assert_int_eq(vqcore_sock_recv(sv[1], big, len, &got, 1, &n), -EMSGSIZE);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], &r, sizeof(r), NULL, 0, &n), 0);
	ck_assert_uint_eq(r, trailer);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int i = 0; i < 3; i++)
		close(ev[i]);
	free(big);
}
END_TEST

/* fds sent to a receiver that takes none. */
START_TEST(sock_fds_unwanted)
{
	int ev = vqcore_eventfd_new(), before;
	char c;
	unsigned n = 99;

	ck_assert_int_ge(ev, 0);
	before = count_fds();
	ck_assert_int_eq(vqcore_sock_send(sv[0], "z", 1, &ev, 1), 0);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], &c, 1, NULL, 0, &n), -EMSGSIZE);
	ck_assert_int_eq(count_fds(), before);
	close(ev);
}
END_TEST

START_TEST(sock_eof)
{
	char buf[8];
	unsigned n = 99;

	close(sv[0]);
	sv[0] = -1;
	ck_assert_int_eq(vqcore_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, &n),
			 -ECONNRESET);
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* EOF in the middle of a message that carried fds: they are closed. */
START_TEST(sock_eof_midway_no_leak)
{
	int ev[2], got[2], before;
	char buf[8];
	unsigned n = 99;

	for (int i = 0; i < 2; i++)
		ck_assert_int_ge(ev[i] = vqcore_eventfd_new(), 0);
	before = count_fds();
	ck_assert_int_eq(vqcore_sock_send(sv[0], "ab", 2, ev, 2), 0);
	close(sv[0]);
	sv[0] = -1;
	ck_assert_int_eq(vqcore_sock_recv(sv[1], buf, sizeof(buf), got, 2, &n),
			 -ECONNRESET);
	ck_assert_int_eq(count_fds(), before - 1);   /* sv[0] closed */
	for (int i = 0; i < 2; i++)
		close(ev[i]);
}
END_TEST

START_TEST(sock_send_closed_peer)
{
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(vqcore_sock_send(sv[0], "x", 1, NULL, 0), -EPIPE);
}
END_TEST

/* A message larger than the socket buffer goes through in chunks. */
START_TEST(sock_large)
{
	size_t len = 4 << 20;
	char *out = malloc(len), *in = malloc(len);
	int ev = vqcore_eventfd_new(), got = -1;
	unsigned n = 0;
	pid_t pid;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(in);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(i * 13);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(vqcore_sock_send(sv[0], out, len, &ev, 1) ? 1 : 0);
	ck_assert_int_eq(vqcore_sock_recv(sv[1], in, len, &got, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_ge(got, 0);
	ck_assert(memcmp(in, out, len) == 0);
	{
		int st;

		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(got);
	close(ev);
	free(in);
	free(out);
}
END_TEST

/* ---- discard ---- */

START_TEST(discard_punch)
{
	const uint64_t size = 1 << 20, off = 256 << 10, len = 512 << 10;
	struct vqcore_memfd m;
	int64_t full, after;
	uint8_t *p;

	ck_assert_int_eq(vqcore_memfd_map("punch", size, 0, &m), 0);
	p = m.hva;
	memset(p, 0xaa, size);
	full = vqcore_fd_allocated(m.fd);
	ck_assert_int_ge(full, (int64_t)size);
	ck_assert_int_eq(vqcore_discard(m.fd, off, p + off, len, VQCORE_DISCARD_PUNCH), 0);
	after = vqcore_fd_allocated(m.fd);
	ck_assert_int_le(after, full - (int64_t)len);
	for (uint64_t i = 0; i < size; i++) {
		uint8_t want = (i >= off && i < off + len) ? 0 : 0xaa;

		if (p[i] != want)
			ck_abort_msg("byte %llu is %#x, want %#x",
				     (unsigned long long)i, p[i], want);
	}
	/* the file size is kept */
	{
		uint64_t fsz;

		ck_assert_int_eq(vqcore_fd_size(m.fd, &fsz), 0);
		ck_assert_uint_eq(fsz, size);
	}
	/* AUTO with an fd punches too */
	memset(p, 0xbb, size);
	ck_assert_int_eq(vqcore_discard(m.fd, 0, p, 4096, VQCORE_DISCARD_AUTO), 0);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_uint_eq(p[4095], 0);
	ck_assert_uint_eq(p[4096], 0xbb);
	vqcore_memfd_unmap(&m);
}
END_TEST

START_TEST(discard_dontneed_anon)
{
	const size_t size = 256 << 10;
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert(p != MAP_FAILED);
	memset(p, 0x5c, size);
	ck_assert_int_eq(vqcore_discard(-1, 0, p + 64 * 1024, 64 * 1024,
					VQCORE_DISCARD_DONTNEED), 0);
	for (size_t i = 0; i < size; i++) {
		uint8_t want = (i >= 64 * 1024 && i < 128 * 1024) ? 0 : 0x5c;

		if (p[i] != want)
			ck_abort_msg("byte %zu is %#x, want %#x", i, p[i], want);
	}
	/* AUTO without an fd is DONTNEED */
	ck_assert_int_eq(vqcore_discard(-1, 0, p, 4096, VQCORE_DISCARD_AUTO), 0);
	ck_assert_uint_eq(p[100], 0);
	munmap(p, size);
}
END_TEST

START_TEST(discard_bad_args)
{
	char page[64];

	ck_assert_int_eq(vqcore_discard(-1, 0, page, 4096, VQCORE_DISCARD_PUNCH), -EBADF);
	ck_assert_int_eq(vqcore_discard(-1, 0, page, 4096, 42), -EINVAL);
	ck_assert_int_eq(vqcore_discard(-1, 0, page, 0, VQCORE_DISCARD_PUNCH), 0);
}
END_TEST

START_TEST(numa_bind_answers)
{
	static char area[8192] __attribute__((aligned(4096)));
	int r = vqcore_numa_bind(area, sizeof(area), 0);

	ck_assert(r == 0 || r == -ENOTSUP);
	ck_assert_int_eq(vqcore_numa_bind(area, sizeof(area), 100000), -ENOTSUP);
}
END_TEST

static Suite *os_suite(void)
{
	Suite *s = suite_create("os");
	TCase *tc;

	tc = tcase_create("fd");
	tcase_add_test(tc, eventfd_signal_drain);
	tcase_add_test(tc, memfd_map_unmap);
	tcase_add_test(tc, memfd_bad_args);
	tcase_add_test(tc, discard_punch);
	tcase_add_test(tc, discard_dontneed_anon);
	tcase_add_test(tc, discard_bad_args);
	tcase_add_test(tc, numa_bind_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("sock");
	tcase_add_checked_fixture(tc, setup_sock, teardown_sock);
	tcase_add_test(tc, sock_fds_pass);
	tcase_add_test(tc, sock_no_fds);
	tcase_add_test(tc, sock_send_bad_args);
	tcase_add_test(tc, sock_too_many_fds);
	tcase_add_test(tc, sock_too_many_fds_chunked);
	tcase_add_test(tc, sock_fds_unwanted);
	tcase_add_test(tc, sock_eof);
	tcase_add_test(tc, sock_eof_midway_no_leak);
	tcase_add_test(tc, sock_send_closed_peer);
	tcase_add_test(tc, sock_large);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(os_suite());
}
