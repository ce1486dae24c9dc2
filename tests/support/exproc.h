/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: run a built example (a backend) as a separate process on
 * a fresh socket path, and stop or kill it.  The child gets SIGKILL when
 * the test process dies (PR_SET_PDEATHSIG), so a failed assertion leaves
 * nothing running.
 */
#ifndef EXPROC_H
#define EXPROC_H

#include <stdbool.h>
#include <sys/types.h>

struct exproc {
	pid_t pid;
	char dir[64];       /* temporary directory (socket, log, files) */
	char sock[108];     /* socket path inside it */
	char log[128];      /* the child's stdout and stderr */
};

/* Path of example @name in the build tree (VQCORE_BUILD_DIR/examples). */
const char *exproc_bin(const char *name, char *buf, size_t size);

/* Create the temporary directory and paths.  Returns 0 or -errno. */
int exproc_init(struct exproc *p);

/*
 * Start @argv (argv[0] = the binary, NULL-terminated; the caller includes
 * --socket-path=p->sock) and wait up to 10 s for the socket to appear.
 * Returns 0, or -1 (the log is printed to stderr) when the child died or
 * the socket never appeared.
 */
int exproc_start(struct exproc *p, char *const argv[]);

/* SIGTERM and wait (5 s, then SIGKILL).  Returns the exit status (0..255),
 * or 128+signal when it died of a signal. */
int exproc_stop(struct exproc *p);

/* SIGKILL and reap. */
void exproc_kill(struct exproc *p);

/* Remove the directory and everything in it (stops the child first). */
void exproc_cleanup(struct exproc *p);

#endif
