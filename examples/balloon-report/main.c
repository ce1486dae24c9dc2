/* SPDX-License-Identifier: MIT */
/*
 * balloon-report: a vhost-user virtio-balloon device (id 5) with free page
 * reporting (VIRTIO_BALLOON_F_FREE_PAGE_REPORTING) and nothing else.  The
 * guest's reported free pages are given back to the host: hole punch in
 * the shared guest memory file, or madvise (see device.c).
 *
 *   balloon-report --socket-path=PATH [--no-packed] [--madv-free] [--verbose]
 *
 * It listens on PATH and serves one front-end at a time, the next one after
 * a disconnect, until SIGINT or SIGTERM.  Queues: 0 inflate, 1 deflate,
 * 2 reporting.  Config space: num_pages, actual (8 bytes).  A front-end
 * that offers the guest exactly the backend's features (QEMU's generic
 * vhost-user-device-pci) gets a split ring only with --no-packed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloon.h"

static struct vqcore_vu_dev *g_dev;

static void on_signal(int sig)
{
	(void)sig;
	if (g_dev)
		vqcore_vu_stop(g_dev); /* async-signal-safe: writes an eventfd */
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --socket-path=PATH [--no-packed] [--madv-free]\n"
		"                      [--verbose]\n"
		"  vhost-user virtio-balloon device (virtio id 5) with free page\n"
		"  reporting only: 3 queues (inflate, deflate, reporting) and an\n"
		"  8-byte config space (num_pages, actual), e.g. for QEMU:\n"
		"    -device vhost-user-device-pci,chardev=c0,virtio-id=5,num_vqs=3,config_size=8\n"
		"  --socket-path=PATH  unix socket to listen on\n"
		"  --no-packed         do not offer the packed ring (a generic front-end\n"
		"                      offers the guest exactly what the device offers)\n"
		"  --madv-free         discard with MADV_FREE (falls back to a hole\n"
		"                      punch on shared memory, which refuses it)\n"
		"  --verbose           one line per report buffer and per write of\n"
		"                      actual\n"
		"  --help              this text\n"
		"SIGINT or SIGTERM end it.  Installed as vqcore-balloon (man 8\n"
		"vqcore-balloon).\n",
		program_invocation_short_name);
}

int main(int argc, char **argv)
{
	static struct br_device dev;
	const char *path = NULL;
	uint64_t features = BR_FEATURES;
	struct sigaction sa;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--socket-path=", 14)) {
			path = argv[i] + 14;
		} else if (!strcmp(argv[i], "--socket-path") && i + 1 < argc) {
			path = argv[++i];
		} else if (!strcmp(argv[i], "--no-packed")) {
			features &= ~VQCORE_BIT(VQCORE_F_RING_PACKED);
		} else if (!strcmp(argv[i], "--madv-free")) {
			dev.madv_free = true;
		} else if (!strcmp(argv[i], "--verbose")) {
			dev.verbose = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "balloon-report: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!path || !*path) {
		usage(stderr);
		return 2;
	}

	err = vqcore_vu_new(path, VQCORE_VU_SERVER | VQCORE_VU_NO_INFLIGHT,
			    BR_NUM_QUEUES, features, &br_ops, &dev, &g_dev);
	if (err) {
		fprintf(stderr, "balloon-report: %s: %s\n", path, vqcore_strerror(err));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "balloon-report: listening on %s (%s%s)\n", path,
		dev.madv_free ? "MADV_FREE" : "hole punch / MADV_DONTNEED",
		features & VQCORE_BIT(VQCORE_F_RING_PACKED) ? "" : ", split ring only");

	err = vqcore_vu_run(g_dev);
	vqcore_vu_free(g_dev);
	g_dev = NULL;
	for (unsigned q = 0; q < BR_NUM_QUEUES; q++)
		free(dev.desc[q]);
	free(dev.ranges);
	fprintf(stderr, "balloon-report: done: %llu reports, %llu ranges, %llu MiB "
		"discarded, %llu rejected\n",
		(unsigned long long)(dev.total.buffers + dev.conn.buffers),
		(unsigned long long)(dev.total.ranges + dev.conn.ranges),
		(unsigned long long)((dev.total.bytes + dev.conn.bytes) >> 20),
		(unsigned long long)(dev.total.rejected + dev.conn.rejected));
	if (err) {
		fprintf(stderr, "balloon-report: %s\n", vqcore_strerror(err));
		return 1;
	}
	return 0;
}
