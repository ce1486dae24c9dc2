/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-rng: a virtio-rng (entropy) device backend, the reference for
 * QEMU's generic vhost-user devices (vhost-user-rng-pci and the others
 * built on QEMU's vhost-user-base: gpio, i2c, snd, input, vhost-user-device).
 *
 *   vhost-user-rng --socket-path=PATH [--source=FILE] [--no-packed]
 *                  [--max-bytes=N --period=MS]
 *
 * The device (virtio 1.2 section 5.4) has one queue; the driver posts
 * device-writable buffers and the device fills them with random bytes.
 * What it shows a device author:
 *  - the whole offer is VERSION_1 plus VQCORE_RING_FEATURES: there are no
 *    device features and no config space;
 *  - the ring format: vhost-user-base passes the backend's offer straight
 *    to the guest and ignores the front-end's packed=off, so --no-packed
 *    (VQCORE_VU_NO_PACKED) is the only way to get a split ring there;
 *  - the serve loop on vqcore_vu_get_bufs/vqcore_vu_put_used with a
 *    buffer-sized copy from a pool, never a syscall per buffer;
 *  - a buffer the device cannot use (no device-writable part) is completed
 *    with 0 bytes, never dropped, and logged once;
 *  - a rate limit (at most --max-bytes per --period, as rust-vmm's
 *    vhost-device-rng): buffers fetched beyond the quota go back to the
 *    ring with vqcore_vq_unget() and a timerfd serves them later, so the
 *    loop is our own (vqcore_vu_get_fds + vqcore_vu_dispatch + poll);
 *  - SIGINT/SIGTERM end it cleanly (a signalfd in the same poll set).
 *
 * The bytes come from /dev/urandom, or from --source=FILE served strictly
 * in order from its start (wrapping at its end), so a test can compare
 * what the guest read with the file.  At exit and at each disconnect it
 * prints how many bytes it served ("served N bytes").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

#define BATCH 16
#define POOL_BYTES 65536
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct rng {
	struct vqcore_vu_dev *dev;
	int src_fd;
	const char *src_name;
	uint8_t pool[POOL_BYTES];     /* bytes read from the source, not served */
	size_t pool_off, pool_len;
	uint64_t served;              /* bytes given to the driver */
	uint64_t max_bytes;           /* quota per period; 0 = no limit */
	uint64_t quota;               /* left in this period */
	int timer_fd;                 /* armed while the quota is used up */
	bool throttled;
	bool warned_readonly;
	bool warned_wrap;
	struct iovec *iov;            /* vqcore_vq_max_iov() entries, grown in serve() */
	uint32_t iov_cap;
};

/* Refill the pool from the source; false when it cannot give a byte. */
static bool pool_fill(struct rng *g)
{
	ssize_t r;

	g->pool_off = 0;
	g->pool_len = 0;
	for (int tries = 0; tries < 2; tries++) {
		r = read(g->src_fd, g->pool, sizeof(g->pool));
		if (r > 0) {
			g->pool_len = (size_t)r;
			return true;
		}
		if (r < 0 && errno == EINTR) {
			tries--;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "vhost-user-rng: read %s: %s\n", g->src_name,
				strerror(errno));
			return false;
		}
		/* end of a --source file: start again from its beginning */
		if (!g->warned_wrap) {
			fprintf(stderr, "vhost-user-rng: %s ends after %" PRIu64
				" bytes served; serving it again from the start\n",
				g->src_name, g->served);
			g->warned_wrap = true;
		}
		if (lseek(g->src_fd, 0, SEEK_SET) < 0)
			return false;
	}
	return false;
}

/* Fill the writable part of one buffer with up to @want bytes. */
static uint32_t fill(struct rng *g, const struct iovec *in, unsigned in_num,
		     uint32_t want)
{
	uint32_t done = 0;

	while (done < want) {
		size_t n;

		if (g->pool_off == g->pool_len && !pool_fill(g))
			break;
		n = g->pool_len - g->pool_off;
		if (n > want - done)
			n = want - done;
		n = vqcore_iov_write(in, in_num, done, g->pool + g->pool_off, n);
		if (!n)
			break;
		g->pool_off += n;
		done += (uint32_t)n;
	}
	return done;
}

static void arm_timer(struct rng *g, unsigned period_ms)
{
	struct itimerspec its = {
		.it_value = { period_ms / 1000, (long)(period_ms % 1000) * 1000000 },
		.it_interval = { period_ms / 1000, (long)(period_ms % 1000) * 1000000 },
	};

	timerfd_settime(g->timer_fd, 0, &its, NULL);
}

/*
 * Serve queue 0 until the ring is empty or the quota is used up.  Returns
 * a negative error when the ring is broken (the library logged why).
 */
static int serve(struct rng *g, struct vqcore_vq *vq)
{
	struct vhost_buf bufs[BATCH];
	uint32_t lens[BATCH];
	uint32_t need = vqcore_vq_max_iov(vq);
	int n = 0, r;

	/* room for any buffer the driver may post (the bound changes only
	 * with the memory table, between two kicks) */
	if (need > g->iov_cap) {
		struct iovec *p = realloc(g->iov, need * sizeof(*p));

		if (!p)
			return -ENOMEM;
		g->iov = p;
		g->iov_cap = need;
	}

	do {
		vqcore_vq_disable_notify(vq);
		while (!g->throttled &&
		       (n = vqcore_vu_get_bufs(g->dev, 0, bufs, BATCH, g->iov,
					       g->iov_cap)) > 0) {
			int i;

			for (i = 0; i < n; i++) {
				const struct iovec *in = &g->iov[bufs[i].first + bufs[i].out_num];
				uint32_t want = bufs[i].in_len;

				if (!bufs[i].in_len) {
					/* nothing the device may write: give it
					 * back empty (never drop a buffer) */
					if (!g->warned_readonly)
						fprintf(stderr, "vhost-user-rng: buffer %u has no "
							"device-writable part: completed with 0 bytes "
							"(logged once)\n", bufs[i].id);
					g->warned_readonly = true;
					lens[i] = 0;
					continue;
				}
				if (g->max_bytes) {
					if (!g->quota)
						break;
					if (want > g->quota)
						want = (uint32_t)g->quota;
				}
				lens[i] = fill(g, in, bufs[i].in_num, want);
				g->quota -= g->max_bytes ? lens[i] : 0;
				g->served += lens[i];
			}
			if (i < n) {
				/* quota used up: the rest go back to the ring,
				 * first in line when the period ends */
				r = vqcore_vq_unget(vq, bufs + i, (unsigned)(n - i));
				if (r < 0)
					return r;
				g->throttled = true;
			}
			r = vqcore_vu_put_used(g->dev, 0, bufs, lens, (unsigned)i);
			if (r < 0)
				return r;
			vqcore_vq_signal(vq);
		}
		if (g->throttled)
			return 0; /* the timer brings us back; no kicks wanted */
		if (n < 0)
			return n;
	} while (vqcore_vq_enable_notify(vq));
	return 0;
}

static void rng_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct rng *g = vqcore_vu_opaque(dev);
	int r = serve(g, vq);

	if (r < 0)
		fprintf(stderr, "vhost-user-rng: queue %u: %s\n", qidx, vqcore_strerror(r));
}

static void rng_queue_started(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq)
{
	fprintf(stderr, "vhost-user-rng: queue %u started (%s ring, %u entries, "
		"features 0x%" PRIx64 ")\n", qidx,
		vqcore_vq_format(vq) == VQCORE_FORMAT_PACKED ? "packed" : "split",
		vqcore_vq_num(vq), vqcore_vu_features(dev));
}

static void rng_disconnected(struct vqcore_vu_dev *dev)
{
	struct rng *g = vqcore_vu_opaque(dev);

	fprintf(stderr, "vhost-user-rng: front-end gone; served %" PRIu64 " bytes\n",
		g->served);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --socket-path=PATH [--source=FILE] [--no-packed]\n"
		"                      [--max-bytes=N --period=MS]\n"
		"A vhost-user virtio-rng (entropy) device backend, e.g. for QEMU's\n"
		"vhost-user-rng-pci.\n"
		"  --socket-path=PATH  unix socket to listen on\n"
		"  --source=FILE   serve FILE's bytes in order, wrapping at its end\n"
		"                  (default: /dev/urandom)\n"
		"  --no-packed     do not offer VIRTIO_F_RING_PACKED\n"
		"  --max-bytes=N   serve at most N bytes per period (default: no limit)\n"
		"  --period=MS     length of that period in milliseconds (default 1000)\n"
		"  --help          this text\n"
		"SIGINT or SIGTERM end it.  Installed as vqcore-rng (man 8 vqcore-rng).\n",
		program_invocation_short_name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "source", required_argument, NULL, 'f' },
		{ "no-packed", no_argument, NULL, 'P' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "period", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rng g; /* the pool is too big for the stack */
	const char *sock = NULL;
	unsigned flags = VQCORE_VU_SERVER, period_ms = 1000;
	struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.kick = rng_kick,
		.queue_started = rng_queue_started,
		.disconnected = rng_disconnected,
	};
	struct vqcore_vu_fd fds[8];
	struct pollfd pfd[ARRAY_SIZE(fds) + 2];
	sigset_t sigs;
	int c, r, nfds = 0, sig_fd;
	bool refresh = true, stop = false;

	g.src_name = "/dev/urandom";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'f': g.src_name = optarg; break;
		case 'P': flags |= VQCORE_VU_NO_PACKED; break;
		case 'm': g.max_bytes = strtoull(optarg, NULL, 0); break;
		case 'p': period_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || optind != argc || !period_ms) {
		usage(stderr);
		return 2;
	}
	g.src_fd = open(g.src_name, O_RDONLY | O_CLOEXEC);
	if (g.src_fd < 0) {
		fprintf(stderr, "vhost-user-rng: %s: %s\n", g.src_name, strerror(errno));
		return 1;
	}
	g.quota = g.max_bytes;
	g.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	/* SIGINT/SIGTERM arrive as readable data on a signalfd in the loop */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (g.timer_fd < 0 || sig_fd < 0) {
		perror("vhost-user-rng: timerfd/signalfd");
		return 1;
	}
	if (g.max_bytes)
		arm_timer(&g, period_ms);

	/* No device features and no config space: the ring features only. */
	r = vqcore_vu_new(sock, flags, 1, VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_RING_FEATURES,
			  &ops, &g, &g.dev);
	if (r < 0) {
		fprintf(stderr, "vhost-user-rng: %s: %s\n", sock, vqcore_strerror(r));
		return 1;
	}
	fprintf(stderr, "vhost-user-rng: listening on %s, source %s\n", sock, g.src_name);

	while (!stop) {
		if (refresh) {
			nfds = vqcore_vu_get_fds(g.dev, fds, ARRAY_SIZE(fds));
			if (nfds > (int)ARRAY_SIZE(fds))
				nfds = ARRAY_SIZE(fds);
			for (int i = 0; i < nfds; i++)
				pfd[i] = (struct pollfd){ .fd = fds[i].fd, .events = POLLIN };
			pfd[nfds] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
			pfd[nfds + 1] = (struct pollfd){ .fd = g.timer_fd, .events = POLLIN };
			refresh = false;
		}
		r = poll(pfd, (nfds_t)nfds + 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("vhost-user-rng: poll");
			break;
		}
		if (pfd[nfds].revents)
			stop = true;
		if (pfd[nfds + 1].revents) {
			uint64_t ticks;
			struct vqcore_vq *vq = vqcore_vu_queue(g.dev, 0);

			if (read(g.timer_fd, &ticks, sizeof(ticks)) > 0) {
				g.quota = g.max_bytes;
				g.throttled = false;
				if (vq)
					rng_kick(g.dev, 0, vq);
			}
		}
		for (int i = 0; i < nfds && !stop && !refresh; i++) {
			if (!pfd[i].revents)
				continue;
			r = vqcore_vu_dispatch(g.dev, pfd[i].fd);
			if (r == 1 || r == -ECONNRESET)
				refresh = true;
		}
	}
	fprintf(stderr, "vhost-user-rng: stopping; served %" PRIu64 " bytes\n", g.served);
	vqcore_vu_free(g.dev);
	free(g.iov);
	close(g.src_fd);
	return 0;
}
