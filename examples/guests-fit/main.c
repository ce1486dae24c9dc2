/* SPDX-License-Identifier: MIT */
/*
 * guests-fit: how many guests fit in a host memory budget, with and
 * without free page reporting - the measurement of the free page hinting
 * series ("at least 5 guests when page hinting was enabled and 3 without
 * it" on a 15 GB host), scaled down.
 *
 * Guests are processes (guest.c): each a vhost-user client with G MiB of
 * memfd guest memory and its own balloon-report backend process.  Each
 * touches most of its memory and frees it.  The host side (this file)
 * launches guests one after another while the host memory in use - the
 * sum of the guests' memfd allocations (vqcore_fd_allocated) - leaves room
 * for one more guest's G MiB under the budget B.  Memory in use is
 * measured before each launch, when the guest has finished its work, and
 * after waiting for it to come back (reporting delay plus a grace period).
 *
 *   guests-fit [--guests-max=N] [--guest-mib=G] [--budget-mib=B]
 *              [--no-reporting] [--delay-ms=D] [--backend=PATH]
 *
 * Runs the experiment with reporting, then without (only without with
 * --no-reporting), and prints
 *   BENCH reporter-guests budget_gib=B guest_gib=G with=W without=O
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

#include "guests_fit.h"

#define MAX_GUESTS 64

struct opts {
	unsigned guests_max;
	unsigned guest_mib;
	unsigned budget_mib;
	unsigned delay_ms;
	bool no_reporting;
	char backend[PATH_MAX];
};

struct guest {
	pid_t pid, backend_pid;
	int sock;
	int memfd;
	char path[160];
};

struct run {
	unsigned fit;
	bool hit_max;
	uint64_t before[MAX_GUESTS], peak[MAX_GUESTS], after[MAX_GUESTS];
	double back_ms[MAX_GUESTS]; /* < 0: did not come back */
	uint64_t final_use;
};

static char g_dir[64];
static struct guest g_guests[MAX_GUESTS];
static unsigned g_n;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t guest_use(const struct guest *g)
{
	int64_t a = g->memfd >= 0 ? vqcore_fd_allocated(g->memfd) : 0;

	return a > 0 ? (uint64_t)a : 0;
}

static uint64_t host_use(void)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < g_n; i++)
		sum += guest_use(&g_guests[i]);
	return sum;
}

static pid_t spawn_backend(const struct opts *o, const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		char arg[200];
		int fd = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		snprintf(arg, sizeof(arg), "--socket-path=%s", path);
		execl(o->backend, "balloon-report", arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int wait_socket(const char *path, pid_t pid)
{
	double t0 = now_ms();
	struct stat st;
	int status;

	while (stat(path, &st) != 0) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		if (now_ms() - t0 > 10000)
			return -ETIMEDOUT;
		sleep_ms(2);
	}
	return 0;
}

/* Read one message byte (and maybe an fd) from a guest. */
static int recv_msg(struct guest *g, char *msg, int *fd)
{
	int fds[1];
	unsigned nfds = 0;
	int err = vqcore_sock_recv(g->sock, msg, 1, fds, 1, &nfds);

	if (err)
		return err;
	if (nfds) {
		if (fd)
			*fd = fds[0];
		else
			close(fds[0]);
	}
	return 0;
}

static int launch(const struct opts *o, bool reporting, struct guest *g, unsigned idx)
{
	struct guest_params gp;
	int sv[2], err;
	char msg;

	memset(g, 0, sizeof(*g));
	g->memfd = g->sock = -1;
	snprintf(g->path, sizeof(g->path), "%s/guest%u.sock", g_dir, idx);
	g->backend_pid = spawn_backend(o, g->path);
	if (g->backend_pid < 0)
		return -errno;
	err = wait_socket(g->path, g->backend_pid);
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	g->pid = fork();
	if (g->pid < 0)
		return -errno;
	if (g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		/* do not keep the other guests' memory alive */
		for (unsigned i = 0; i < g_n; i++) {
			close(g_guests[i].memfd);
			close(g_guests[i].sock);
		}
		gp = (struct guest_params){
			.socket_path = g->path,
			.mem_bytes = (uint64_t)o->guest_mib * MiB,
			.reporting = reporting,
			.delay_ms = o->delay_ms,
			.sock = sv[1],
		};
		_exit(guest_main(&gp));
	}
	close(sv[1]);
	g->sock = sv[0];
	err = recv_msg(g, &msg, &g->memfd);
	if (!err && (msg != MSG_MEMFD || g->memfd < 0))
		err = -EPROTO;
	return err;
}

static void teardown(void)
{
	for (unsigned i = 0; i < g_n; i++) {
		struct guest *g = &g_guests[i];
		char q = MSG_QUIT;

		if (g->sock >= 0 && write(g->sock, &q, 1) < 0)
			kill(g->pid, SIGKILL);
	}
	for (unsigned i = 0; i < g_n; i++) {
		struct guest *g = &g_guests[i];

		if (g->pid > 0)
			waitpid(g->pid, NULL, 0);
		if (g->backend_pid > 0) {
			kill(g->backend_pid, SIGTERM);
			waitpid(g->backend_pid, NULL, 0);
		}
		if (g->sock >= 0)
			close(g->sock);
		if (g->memfd >= 0)
			close(g->memfd);
		unlink(g->path);
	}
	g_n = 0;
}

static double mib(uint64_t b)
{
	return (double)b / MiB;
}

static int experiment(const struct opts *o, bool reporting, struct run *res)
{
	uint64_t guest_bytes = (uint64_t)o->guest_mib * MiB;
	uint64_t budget = (uint64_t)o->budget_mib * MiB;
	/* the guest's own memory minus what the pool manages: what it keeps */
	uint64_t settle_level = guest_bytes / 8;
	unsigned wait_ms = o->delay_ms * 4 + 1000;

	memset(res, 0, sizeof(*res));
	printf("\n== %s free page reporting: guests of %u MiB, budget %u MiB ==\n",
	       reporting ? "with" : "without", o->guest_mib, o->budget_mib);
	printf("guest  in use before  peak (MiB)  after (MiB)  memory back\n");
	for (;;) {
		uint64_t before = host_use();
		struct guest *g = &g_guests[g_n];
		double t0, back = -1;
		char msg;
		int err;

		if (g_n == o->guests_max) {
			res->hit_max = true;
			break;
		}
		if (before + guest_bytes > budget) {
			printf("guest %u does not fit: %.0f MiB in use + %u MiB > %u MiB\n",
			       g_n + 1, mib(before), o->guest_mib, o->budget_mib);
			break;
		}
		err = launch(o, reporting, g, g_n);
		g_n++;
		if (!err) {
			err = recv_msg(g, &msg, NULL);
			if (!err && msg != MSG_WORKED)
				err = -EPROTO;
		}
		if (err) {
			fprintf(stderr, "guests-fit: guest %u: %s\n", g_n,
				vqcore_strerror(err));
			return err;
		}
		res->before[g_n - 1] = before;
		res->peak[g_n - 1] = host_use();
		t0 = now_ms();
		/* wait for the guest's memory to come back, or give up */
		while (now_ms() - t0 < wait_ms) {
			if (guest_use(g) <= settle_level) {
				back = now_ms() - t0;
				break;
			}
			sleep_ms(5);
		}
		res->after[g_n - 1] = host_use();
		res->back_ms[g_n - 1] = back;
		if (back >= 0)
			printf("%5u  %14.0f  %10.0f  %11.0f  after %.0f ms\n", g_n,
			       mib(before), mib(res->peak[g_n - 1]), mib(res->after[g_n - 1]),
			       back);
		else
			printf("%5u  %14.0f  %10.0f  %11.0f  not in %u ms (guest holds "
			       "%.0f MiB)\n", g_n, mib(before), mib(res->peak[g_n - 1]),
			       mib(res->after[g_n - 1]), wait_ms, mib(guest_use(g)));
	}
	res->fit = g_n;
	res->final_use = host_use();
	printf("%u guests fit%s; memory in use at the end: %.0f MiB of %u MiB\n",
	       res->fit, res->hit_max ? " (stopped at --guests-max)" : "",
	       mib(res->final_use), o->budget_mib);
	teardown();
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: guests-fit [--guests-max=N] [--guest-mib=G] [--budget-mib=B]\n"
		"                  [--no-reporting] [--delay-ms=D] [--backend=PATH]\n"
		"  Launches guests (processes with G MiB of memfd guest memory and a\n"
		"  balloon-report backend each) while the memory in use leaves room for\n"
		"  one more under B MiB; each guest touches most of its memory and\n"
		"  frees it.  Runs with free page reporting, then without.\n"
		"  defaults: --guests-max=8 --guest-mib=256 --budget-mib=1024 --delay-ms=200\n"
		"  --backend: the balloon-report program (default: next to guests-fit)\n");
}

static bool opt_uint(const char *arg, const char *name, unsigned *v)
{
	size_t n = strlen(name);
	char *end;
	unsigned long x;

	if (strncmp(arg, name, n) || arg[n] != '=')
		return false;
	x = strtoul(arg + n + 1, &end, 10);
	if (*end || end == arg + n + 1 || x > 1u << 20) {
		fprintf(stderr, "guests-fit: bad value in %s\n", arg);
		exit(2);
	}
	*v = (unsigned)x;
	return true;
}

int main(int argc, char **argv)
{
	struct opts o = { .guests_max = 8, .guest_mib = 256, .budget_mib = 1024,
			  .delay_ms = 200 };
	struct run with, without;
	ssize_t n;
	int err;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opt_uint(a, "--guests-max", &o.guests_max) ||
		    opt_uint(a, "--guest-mib", &o.guest_mib) ||
		    opt_uint(a, "--budget-mib", &o.budget_mib) ||
		    opt_uint(a, "--delay-ms", &o.delay_ms))
			continue;
		if (!strcmp(a, "--no-reporting")) {
			o.no_reporting = true;
		} else if (!strncmp(a, "--backend=", 10)) {
			snprintf(o.backend, sizeof(o.backend), "%s", a + 10);
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "guests-fit: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!o.guests_max || o.guests_max > MAX_GUESTS || o.guest_mib < 16 ||
	    !o.budget_mib) {
		fprintf(stderr, "guests-fit: need 1 <= --guests-max <= %d, "
			"--guest-mib >= 16, --budget-mib > 0\n", MAX_GUESTS);
		return 2;
	}
	if (!o.backend[0]) {
		char self[PATH_MAX - 32];
		char *slash;

		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			perror("guests-fit: /proc/self/exe");
			return 1;
		}
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		snprintf(o.backend, sizeof(o.backend), "%s/balloon-report", self);
	}
	if (access(o.backend, X_OK)) {
		fprintf(stderr, "guests-fit: %s: not executable (use --backend=PATH)\n",
			o.backend);
		return 1;
	}
	snprintf(g_dir, sizeof(g_dir), "/tmp/guests-fit-XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("guests-fit: mkdtemp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	err = 0;
	if (!o.no_reporting)
		err = experiment(&o, true, &with);
	if (!err)
		err = experiment(&o, false, &without);
	if (err)
		teardown();
	rmdir(g_dir);
	if (err)
		return 1;

	printf("\n");
	if (!o.no_reporting) {
		double sum = 0;
		unsigned cnt = 0;

		for (unsigned i = 0; i < with.fit; i++)
			if (with.back_ms[i] >= 0) {
				sum += with.back_ms[i];
				cnt++;
			}
		printf("with reporting: %u guests; without: %u guests "
		       "(seed: 5 with hinting, 3 without)\n", with.fit, without.fit);
		if (cnt)
			printf("memory came back %.0f ms after a guest freed it "
			       "(mean of %u; reporter delay %u ms)\n", sum / cnt, cnt,
			       o.delay_ms);
		printf("BENCH reporter-guests budget_gib=%.3g guest_gib=%.3g with=%u "
		       "without=%u\n", o.budget_mib / 1024.0, o.guest_mib / 1024.0,
		       with.fit, without.fit);
	} else {
		printf("without reporting: %u guests\n", without.fit);
	}
	return 0;
}
