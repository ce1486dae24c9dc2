/* SPDX-License-Identifier: MIT */
#include "exproc.h"

#include <dirent.h>
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

#ifndef VQCORE_BUILD_DIR
#define VQCORE_BUILD_DIR "."
#endif

/* Cross builds: the examples are built for the target too and start under
 * the same user-mode QEMU as the tests (no binfmt needed).  The test runs
 * in QEMU, whose execve runs the host's QEMU binary natively. */
#ifndef VQCORE_TEST_EMULATOR
#define VQCORE_TEST_EMULATOR ""
#endif

const char *exproc_bin(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/examples/%s", VQCORE_BUILD_DIR, name);
	return buf;
}

int exproc_init(struct exproc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = -1;
	snprintf(p->dir, sizeof(p->dir), "/tmp/vqex-XXXXXX");
	if (!mkdtemp(p->dir))
		return -errno;
	snprintf(p->sock, sizeof(p->sock), "%s/sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/log", p->dir);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void print_log(const struct exproc *p)
{
	char line[512];
	FILE *f = fopen(p->log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  backend: %s", line);
	fclose(f);
}

int exproc_start(struct exproc *p, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid;

	unlink(p->sock);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (VQCORE_TEST_EMULATOR[0]) {
			char *eargv[32];
			unsigned n = 0;

			eargv[n++] = (char *)VQCORE_TEST_EMULATOR;
			while (argv[n - 1] && n < 31) {
				eargv[n] = argv[n - 1];
				n++;
			}
			eargv[n] = NULL;
			execv(eargv[0], eargv);
		} else {
			execv(argv[0], argv);
		}
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		int status;

		if (stat(p->sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			p->pid = -1;
			fprintf(stderr, "exproc: %s exited before creating its socket\n",
				argv[0]);
			print_log(p);
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "exproc: %s did not create %s\n", argv[0], p->sock);
	print_log(p);
	exproc_kill(p);
	return -1;
}

int exproc_stop(struct exproc *p)
{
	int status = 0;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			if (WIFEXITED(status)) {
				if (WEXITSTATUS(status))
					print_log(p);
				return WEXITSTATUS(status);
			}
			print_log(p);
			return 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	exproc_kill(p);
	print_log(p);
	return 128 + SIGKILL;
}

void exproc_kill(struct exproc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = -1;
}

void exproc_cleanup(struct exproc *p)
{
	DIR *d;
	struct dirent *e;

	exproc_kill(p);
	if (!p->dir[0])
		return;
	d = opendir(p->dir);
	if (d) {
		while ((e = readdir(d))) {
			char path[400];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(p->dir);
	p->dir[0] = 0;
}
