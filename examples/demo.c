/* SPDX-License-Identifier: MIT */
/*
 * demo: libvqcore end to end, in about 15 seconds.
 *
 *  1. The guest memory table: regions, a copy across a region boundary,
 *     the dirty log (as live migration uses it), a refused range.
 *  2. The two example backends, examples/vhost-user-blk and
 *     examples/vhost-user-net, started as child processes and driven
 *     through libvqcore's own vhost-user client (the driver side: memfd
 *     guest memory, rings, eventfds), once on split rings and once on
 *     packed rings.  blk: 128 KiB writes then reads, 32 in flight, data
 *     checked; net: 64-byte frames through --mode=macswap, MACs checked.
 *     Each prints what moved and how fast.
 *
 * Exit status: 0 if every check held.  The children are killed on any
 * exit (and by the kernel if this process dies: PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vqcore/vqcore.h>

#define KiB 1024ull
#define MiB (1024 * KiB)

static int failures;

#define EXPECT(cond, ...)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "demo: MISMATCH: " __VA_ARGS__); \
			fputc('\n', stderr);                             \
			failures++;                                      \
		}                                                        \
	} while (0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- 1. the guest memory table ---- */

static void demo_mem(void)
{
	static uint8_t log[64]; /* 512 pages of 4 KiB */
	const char msg[] = "payload written straight across a memory slot boundary";
	char back[sizeof(msg)];
	struct vqcore_memfd ram;
	struct vqcore_mem *mem;
	struct iovec iov[4];
	void *hva;
	int n, err;

	err = vqcore_memfd_map("demo-guest-ram", 256 * KiB, 0, &ram);
	mem = vqcore_mem_new();
	if (err || !mem) {
		fprintf(stderr, "demo: memfd: %s\n", vqcore_strerror(err ? err : -ENOMEM));
		failures++;
		return;
	}
	/* guest layout [0x10000,+64K) [0x20000,+64K) hole [0x100000,+128K),
	 * not in the order of the memfd */
	vqcore_mem_add(mem, &(struct vqcore_mem_region){ 0x10000, 64 * KiB,
			(char *)ram.hva + 128 * KiB, ram.fd, 128 * KiB });
	vqcore_mem_add(mem, &(struct vqcore_mem_region){ 0x20000, 64 * KiB, ram.hva, ram.fd, 0 });
	vqcore_mem_add(mem, &(struct vqcore_mem_region){ 0x100000, 128 * KiB,
			(char *)ram.hva + 64 * KiB, ram.fd, 64 * KiB });
	EXPECT(vqcore_mem_count(mem) == 3, "3 regions");
	n = vqcore_mem_translate_iov(mem, 0x1f000, 8 * KiB, iov, 4);
	EXPECT(n == 2, "translate_iov spanning: %s", vqcore_strerror(n));
	printf("  memory table: 3 regions over one 256 KiB memfd; gpa 0x1f000+8K -> %d iovecs\n", n);
	vqcore_mem_set_log(mem, log, sizeof(log));
	err = vqcore_mem_write(mem, 0x20000 - 20, msg, sizeof(msg));
	memset(back, 0, sizeof(back));
	err = err ? err : vqcore_mem_read(mem, 0x20000 - 20, back, sizeof(back));
	EXPECT(!err && !memcmp(back, msg, sizeof(msg)), "spanning copy: %s",
	       vqcore_strerror(err));
	EXPECT(log[0x1f / 8] == 0x80 && log[0x20 / 8] == 0x01, "dirty pages 0x1f, 0x20");
	printf("  spanning write of %zu bytes read back; dirty log marks pages 0x1f and 0x20\n",
	       sizeof(msg));
	err = vqcore_mem_translate(mem, UINT64_MAX - 15, 32, &hva);
	EXPECT(err == -VQCORE_E_WRAP, "wrapping range refused");
	printf("  gpa 0xffff...fff0+32 refused: %s\n", vqcore_strerror(err));
	vqcore_mem_free(mem);
	vqcore_memfd_unmap(&ram);
}

/* ---- children ---- */

static pid_t children[4];
static unsigned nchildren;
static char workdir[64];

static void kill_children(void)
{
	for (unsigned i = 0; i < nchildren; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
	nchildren = 0;
}

static void cleanup(void)
{
	char path[128];

	kill_children();
	if (!workdir[0])
		return;
	snprintf(path, sizeof(path), "%s/disk.img", workdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/blk.sock", workdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/net.sock", workdir);
	unlink(path);
	rmdir(workdir);
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

/* Start @argv with output to /dev/null unless VQ_DEMO_VERBOSE is set;
 * wait for @sock.  Returns the pid or -1. */
static pid_t spawn(char *const argv[], const char *sock)
{
	pid_t parent = getpid(), pid;

	unlink(sock);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (!getenv("VQ_DEMO_VERBOSE")) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	children[nchildren++] = pid;
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (!stat(sock, &st))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			children[--nchildren] = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static int stop_child(pid_t pid)
{
	int status = -1;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	for (unsigned i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *fmt_name(unsigned f)
{
	return f == VQCORE_FORMAT_PACKED ? "packed" : "split";
}

/*
 * Start the backend @argv (its socket at @sock), connect a client with
 * @cfg and start it; check the ring format it negotiated.  Returns the
 * client, or NULL (nothing left running) after saying what failed.
 */
static struct vqcore_vuc *start_backend(char *const argv[], const char *sock,
					const struct vqcore_vuc_config *cfg,
					unsigned format, const char *what, pid_t *pidp)
{
	struct vqcore_vuc *c = NULL;
	pid_t pid = spawn(argv, sock);
	int r;

	if (pid < 0) {
		EXPECT(0, "cannot start %s", argv[0]);
		return NULL;
	}
	r = vqcore_vuc_connect(sock, cfg, &c);
	if (!r)
		r = vqcore_vuc_start(c);
	if (r) {
		EXPECT(0, "%s client: %s", what, vqcore_strerror(r));
		vqcore_vuc_free(c);
		stop_child(pid);
		return NULL;
	}
	EXPECT(vqcore_vuc_format(c) == format, "%s: %s ring negotiated", what,
	       fmt_name(format));
	*pidp = pid;
	return c;
}

static const uint64_t ring_features =
	VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
	VQCORE_BIT(VQCORE_F_INDIRECT_DESC);

/* ---- 2a. vhost-user-blk ---- */

#define BLK_DISK (64 * MiB)
#define BLK_REQ (128 * KiB)
#define BLK_DEPTH 32
#define BLK_SECONDS 1.5

struct blk_slot {
	uint8_t hdr[16];
	uint8_t status;
};

/* Pattern of the 8-byte word at disk offset @off: checkable anywhere. */
static uint64_t pattern(uint64_t off, unsigned pass)
{
	return (off * 0x9e3779b97f4a7c15ull) ^ pass;
}

/* Run writes (or reads) of BLK_REQ, BLK_DEPTH in flight, for @secs over
 * the disk.  Returns bytes moved. */
static uint64_t blk_phase(struct vqcore_vuc *c, bool write, double secs,
			  struct blk_slot *slots, uint64_t slots_gpa,
			  uint8_t *data, uint64_t data_gpa, uint64_t limit, uint64_t *bad)
{
	struct vqcore_drvq *dq = vqcore_vuc_queue(c, 0);
	uint64_t next = 0, moved = 0, offs[BLK_DEPTH];
	unsigned inflight = 0;
	double end = now() + secs;
	bool more = true;

	while (more || inflight) {
		void *tok[BLK_DEPTH];
		int m;

		/* fill every free slot with the next request */
		for (unsigned i = 0; more && i < BLK_DEPTH; i++) {
			struct blk_slot *s = &slots[i];
			uint8_t *buf = data + i * BLK_REQ;
			uint32_t type = write ? 1 : 0;
			uint64_t sector;
			struct vqcore_sg sg[3];

			if (s->status != 0xff)
				continue; /* in flight */
			offs[i] = next;
			sector = next / 512;
			next = (next + BLK_REQ) % limit;
			/* virtio-blk's header is little-endian on every host */
			vqcore_le32_store(s->hdr, type);
			memset(s->hdr + 4, 0, 4);
			vqcore_le64_store(s->hdr + 8, sector);
			if (write)
				for (uint64_t k = 0; k < BLK_REQ; k += 8)
					*(uint64_t *)(buf + k) = pattern(offs[i] + k, 1);
			s->status = 0xee;
			sg[0] = (struct vqcore_sg){ slots_gpa + i * sizeof(*s), 16 };
			sg[1] = (struct vqcore_sg){ data_gpa + i * BLK_REQ, BLK_REQ };
			sg[2] = (struct vqcore_sg){ slots_gpa + i * sizeof(*s) + 16, 1 };
			if (vqcore_drvq_add(dq, sg, write ? 2 : 1, write ? 1 : 2,
					    (void *)(uintptr_t)(i + 1), 0)) {
				s->status = 0xff;
				break;
			}
			inflight++;
		}
		vqcore_drvq_kick(dq);
		m = vqcore_drvq_get_used(dq, tok, NULL, BLK_DEPTH);
		if (m == 0) {
			if (vqcore_vuc_wait(c, 0, 5000) != 1) {
				EXPECT(0, "blk: no answer in 5 s");
				return moved;
			}
			continue;
		}
		for (int k = 0; k < m; k++) {
			unsigned i = (unsigned)(uintptr_t)tok[k] - 1;
			uint8_t *buf = data + i * BLK_REQ;

			if (slots[i].status != 0) {
				(*bad)++;
			} else if (!write) {
				for (uint64_t w = 0; w < BLK_REQ; w += 8)
					if (*(uint64_t *)(buf + w) != pattern(offs[i] + w, 1)) {
						(*bad)++;
						break;
					}
			}
			slots[i].status = 0xff;
			moved += BLK_REQ;
			inflight--;
		}
		more = now() < end;
	}
	return moved;
}

static void demo_blk(const char *dir, unsigned format)
{
	char bin[PATH_MAX], a_sock[128], a_file[128], sock[96], disk[96];
	char *argv[5];
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 16 * MiB, .num_queues = 1, .queue_size = 256,
		.features = ring_features |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	struct vqcore_vuc *c = NULL;
	struct blk_slot *slots;
	uint64_t slots_gpa, data_gpa, wbytes, rbytes, bad = 0;
	uint8_t *data;
	double t0, tw, tr;
	pid_t pid;
	int fd;

	snprintf(bin, sizeof(bin), "%s/vhost-user-blk", dir);
	snprintf(sock, sizeof(sock), "%s/blk.sock", workdir);
	snprintf(disk, sizeof(disk), "%s/disk.img", workdir);
	fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, BLK_DISK)) {
		EXPECT(0, "disk file %s: %s", disk, strerror(errno));
		return;
	}
	close(fd);
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", sock);
	snprintf(a_file, sizeof(a_file), "--blk-file=%s", disk);
	argv[0] = bin;
	argv[1] = a_sock;
	argv[2] = a_file;
	argv[3] = NULL;
	c = start_backend(argv, sock, &cfg, format, "blk", &pid);
	if (!c)
		return;
	slots_gpa = vqcore_vuc_alloc(c, BLK_DEPTH * sizeof(*slots), 64, (void **)&slots);
	data_gpa = vqcore_vuc_alloc(c, BLK_DEPTH * BLK_REQ, 4096, (void **)&data);
	memset(slots, 0xff, BLK_DEPTH * sizeof(*slots));

	t0 = now();
	wbytes = blk_phase(c, true, BLK_SECONDS, slots, slots_gpa, data, data_gpa, BLK_DISK,
			   &bad);
	tw = now() - t0;
	t0 = now();
	/* reads go over what the writes covered */
	rbytes = blk_phase(c, false, BLK_SECONDS, slots, slots_gpa, data, data_gpa,
			   wbytes < BLK_DISK ? wbytes : BLK_DISK, &bad);
	tr = now() - t0;
	EXPECT(bad == 0, "blk %s: %llu requests failed or read back wrong",
	       fmt_name(format), (unsigned long long)bad);
	printf("  vhost-user-blk, %-6s ring: wrote %5.0f MiB at %5.0f MB/s, read %5.0f MiB at "
	       "%5.0f MB/s\n      (128 KiB requests, 32 in flight, 64 MiB image in the page cache), data %s\n",
	       fmt_name(format), wbytes / (double)MiB, wbytes / tw / 1e6, rbytes / (double)MiB,
	       rbytes / tr / 1e6, bad ? "WRONG" : "checked");
	vqcore_vuc_free(c);
	EXPECT(stop_child(pid) == 0, "vhost-user-blk exit status");
	unlink(disk);
}

/* ---- 2b. vhost-user-net ---- */

#define NET_HDR 12
#define NET_FRAME 64
#define NET_RX 256
#define NET_RXBUF 2048
#define NET_TX 128
#define NET_SECONDS 1.5

static void demo_net(const char *dir, unsigned format)
{
	char bin[PATH_MAX], a_sock[128], sock[96];
	char *argv[4];
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg), .mem_size = 8 * MiB, .num_queues = 2, .queue_size = 256,
		.features = ring_features | VQCORE_BIT(15) /* MRG_RXBUF */ |
			    (format == VQCORE_FORMAT_PACKED ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0xa }, mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0xb };
	struct vqcore_vuc *c = NULL;
	struct vqcore_drvq *rx, *tx;
	uint8_t *rxmem, *txmem;
	uint64_t rx_gpa, tx_gpa, sent = 0, recvd = 0, bad = 0;
	unsigned tx_free[NET_TX], ntx_free = NET_TX;
	double t0, end, t;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vhost-user-net", dir);
	snprintf(sock, sizeof(sock), "%s/net.sock", workdir);
	snprintf(a_sock, sizeof(a_sock), "--socket-path=%s", sock);
	argv[0] = bin;
	argv[1] = a_sock;
	argv[2] = "--mode=macswap";
	argv[3] = NULL;
	c = start_backend(argv, sock, &cfg, format, "net", &pid);
	if (!c)
		return;
	rx = vqcore_vuc_queue(c, 0);
	tx = vqcore_vuc_queue(c, 1);
	rx_gpa = vqcore_vuc_alloc(c, NET_RX * NET_RXBUF, 4096, (void **)&rxmem);
	tx_gpa = vqcore_vuc_alloc(c, NET_TX * 128, 4096, (void **)&txmem);
	for (unsigned i = 0; i < NET_RX; i++)
		vqcore_drvq_add(rx, &(struct vqcore_sg){ rx_gpa + i * NET_RXBUF, NET_RXBUF }, 0, 1,
				(void *)(uintptr_t)(i + 1), 0);
	vqcore_drvq_kick(rx);
	for (unsigned i = 0; i < NET_TX; i++) {
		uint8_t *p = txmem + i * 128;

		tx_free[i] = i;
		memset(p, 0, NET_HDR);
		memcpy(p + NET_HDR, mac_a, 6);
		memcpy(p + NET_HDR + 6, mac_b, 6);
		p[NET_HDR + 12] = 0x88;
		p[NET_HDR + 13] = 0xb5;
		memset(p + NET_HDR + 14, (int)i, NET_FRAME - 14);
	}

	t0 = now();
	end = t0 + NET_SECONDS;
	while (now() < end || sent != recvd + bad) {
		void *tok[64];
		uint32_t lens[64];
		int m, progress = 0;

		if (now() > end + 5) {
			EXPECT(0, "net: %llu frames never came back",
			       (unsigned long long)(sent - recvd - bad));
			break;
		}
		/* send while tx slots are free (and the time is not up) */
		while (ntx_free && now() < end) {
			unsigned i = tx_free[ntx_free - 1];

			if (vqcore_drvq_add(tx, &(struct vqcore_sg){ tx_gpa + i * 128,
					    NET_HDR + NET_FRAME }, 1, 0, (void *)(uintptr_t)(i + 1), 0))
				break;
			ntx_free--;
			sent++;
			progress++;
		}
		vqcore_drvq_kick(tx);
		while ((m = vqcore_drvq_get_used(tx, tok, NULL, 64)) > 0) {
			for (int k = 0; k < m; k++)
				tx_free[ntx_free++] = (unsigned)(uintptr_t)tok[k] - 1;
			progress += m;
		}
		while ((m = vqcore_drvq_get_used(rx, tok, lens, 64)) > 0) {
			for (int k = 0; k < m; k++) {
				unsigned i = (unsigned)(uintptr_t)tok[k] - 1;
				uint8_t *p = rxmem + (size_t)i * NET_RXBUF + NET_HDR;

				if (lens[k] != NET_HDR + NET_FRAME || memcmp(p, mac_b, 6) ||
				    memcmp(p + 6, mac_a, 6))
					bad++;
				else
					recvd++;
				vqcore_drvq_add(rx, &(struct vqcore_sg){ rx_gpa + (uint64_t)i * NET_RXBUF,
						NET_RXBUF }, 0, 1, tok[k], 0);
			}
			vqcore_drvq_kick(rx);
			progress += m;
		}
		if (!progress) {
			struct pollfd p[2] = {
				{ vqcore_vuc_call_fd(c, 0), POLLIN, 0 },
				{ vqcore_vuc_call_fd(c, 1), POLLIN, 0 },
			};
			/* re-enable both before deciding (no short circuit) */
			bool rx_more = vqcore_drvq_enable_cb(rx);
			bool tx_more = vqcore_drvq_enable_cb(tx);

			if (rx_more || tx_more)
				continue;
			poll(p, 2, 100);
			vqcore_eventfd_drain(p[0].fd);
			vqcore_eventfd_drain(p[1].fd);
		}
	}
	t = now() - t0;
	EXPECT(bad == 0 && recvd == sent, "net %s: sent %llu, got %llu good, %llu bad",
	       fmt_name(format), (unsigned long long)sent, (unsigned long long)recvd,
	       (unsigned long long)bad);
	printf("  vhost-user-net, %-6s ring: %llu frames of %d bytes out and back (macswap) in "
	       "%.1f s: %.0f kpps, MACs %s\n", fmt_name(format), (unsigned long long)recvd,
	       NET_FRAME, t, recvd / t / 1e3, bad || recvd != sent ? "WRONG" : "checked");
	vqcore_vuc_free(c);
	EXPECT(stop_child(pid) == 0, "vhost-user-net exit status");
}

int main(void)
{
	static char self[PATH_MAX - 64];
	char *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct vqcore_ring_layout lay;
	struct sigaction sa;
	unsigned nformats;

	if (n <= 0) {
		perror("demo: /proc/self/exe");
		return 1;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0; /* the examples sit next to the demo */
	snprintf(workdir, sizeof(workdir), "/tmp/vqcore-demo-XXXXXX");
	if (!mkdtemp(workdir)) {
		perror("demo: mkdtemp");
		return 1;
	}
	atexit(cleanup);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	vqcore_set_log_fn(NULL, NULL, VQCORE_LOG_ERROR);

	printf("libvqcore %s demo\n", vqcore_version_string());
	printf("1. guest memory table\n");
	demo_mem();

	nformats = vqcore_ring_layout(VQCORE_FORMAT_PACKED, 256, 0, &lay) ? 1 : 2;
	printf("2. example backends as child processes, driven by libvqcore's vhost-user client\n");
	for (unsigned f = 0; f < nformats; f++) {
		demo_blk(self, f);
		demo_net(self, f);
	}
	if (nformats == 1)
		printf("  (this build has no packed ring format)\n");
	printf("%s\n", failures ? "demo: FAILED" : "demo: all checks passed");
	return failures ? 1 : 0;
}
