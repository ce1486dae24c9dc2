// SPDX-License-Identifier: MIT
/*
 * vqload: the load a test guest puts on its virtio devices while the host
 * migrates it or restarts its backend, and the checks that follow.  Built
 * static into the test guest's initramfs by build-guest.sh; the host runs
 * the same binary for the host-side checks (fnv).
 *
 *   vqload blk-mig DEV    O_DIRECT reads of known data into buffers it keeps
 *                         (plus writes), until SIGUSR1; then checks every kept
 *                         buffer and the whole area again
 *   vqload net-mig IFACE PEER
 *                         ICMP echo requests with known 8000-byte payloads
 *                         (the interface's MTU must allow them),
 *                         the replies left queued on the socket until
 *                         SIGUSR1; then reads and checks them; counts RARP
 *                         frames announcing IFACE's MAC
 *   vqload net-echo IFACE PEER
 *                         ICMP echo requests with known payloads (56 and
 *                         1400 bytes, a 32-bit sequence number in each)
 *                         every 10 ms while IFACE has carrier, checking
 *                         every reply as it comes, with a status line every
 *                         500 ms; SIGUSR2 marks the current sequence number,
 *                         and "VQLOAD resumed" says when 20 requests sent
 *                         after the mark were answered; until SIGUSR1
 *   vqload blk-rw DEV     one O_DIRECT writer per CPU, each on its own half of
 *                         the area, stamping blocks with a generation, with
 *                         idle pauses, until SIGUSR1; then reads the area back
 *                         and prints the FNV-1a hash of what it must hold
 *   vqload fnv FILE BYTES the FNV-1a hash of the first BYTES of FILE
 *
 * Each mode prints "VQLOAD ready ..." once its load runs and one
 * "VQLOAD done <mode> ok|fail key=value..." line at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096u

static volatile sig_atomic_t stop, mark_req;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	mark_req = 1;
}

static void catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* The content of block @b at generation @gen. */
static void fill(void *buf, uint64_t b, uint64_t gen)
{
	uint64_t *w = buf;

	for (unsigned i = 0; i < BLK / 8; i++)
		w[i] = mix((b << 40) ^ (gen << 12) ^ i);
}

static int check(const void *buf, uint64_t b, uint64_t gen)
{
	uint64_t want[BLK / 8];

	fill(want, b, gen);
	return memcmp(buf, want, BLK) == 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state = mix(rnd_state + 0x9e3779b97f4a7c15ull);
	return rnd_state;
}

static void *blocks(size_t n)
{
	void *p = mmap(NULL, n * BLK, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED) {
		perror("vqload: mmap");
		exit(1);
	}
	return p;
}

static int rw_block(int fd, int write, void *buf, uint64_t b)
{
	ssize_t r = write ? pwrite(fd, buf, BLK, (off_t)(b * BLK))
			  : pread(fd, buf, BLK, (off_t)(b * BLK));

	if (r != (ssize_t)BLK) {
		fprintf(stderr, "vqload: %s block %llu: %s\n", write ? "write" : "read",
			(unsigned long long)b, r < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

/* ---- blk-mig ---- */

#define MIG_BLOCKS 2048u  /* 8 MiB area */
#define MIG_KEPT 4096u    /* 16 MiB of kept read buffers */

static int blk_mig(const char *dev)
{
	static uint32_t gen[MIG_BLOCKS];
	static uint32_t kept_b[MIG_KEPT], kept_gen[MIG_KEPT];
	unsigned long reads = 0, writes = 0, bad_now = 0, bad_kept = 0,
		      bad_final = 0, errors = 0;
	unsigned char *kept = blocks(MIG_KEPT);
	unsigned char *tmp = blocks(1);
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0) {
		perror("vqload: open");
		return 1;
	}
	for (uint64_t b = 0; b < MIG_BLOCKS; b++) {
		fill(tmp, b, 0);
		if (rw_block(fd, 1, tmp, b))
			return 1;
	}
	for (unsigned s = 0; s < MIG_KEPT; s++)
		kept_b[s] = UINT32_MAX;
	printf("VQLOAD ready blk-mig\n");
	fflush(stdout);
	for (uint64_t i = 0; !stop; i++) {
		uint64_t b = rnd() % MIG_BLOCKS;
		unsigned s = (unsigned)(i % MIG_KEPT);
		unsigned char *buf = kept + (size_t)s * BLK;

		if (i % 4 == 3) {
			fill(tmp, b, gen[b] + 1);
			if (rw_block(fd, 1, tmp, b)) {
				errors++;
				continue;
			}
			gen[b]++;
			writes++;
			continue;
		}
		if (rw_block(fd, 0, buf, b)) {
			errors++;
			continue;
		}
		reads++;
		kept_b[s] = (uint32_t)b;
		kept_gen[s] = gen[b];
		if (!check(buf, b, gen[b]))
			bad_now++;
	}
	/* What the device wrote into the kept buffers must still be there. */
	unsigned long kept_n = 0;

	for (unsigned s = 0; s < MIG_KEPT; s++) {
		if (kept_b[s] == UINT32_MAX)
			continue;
		kept_n++;
		if (!check(kept + (size_t)s * BLK, kept_b[s], kept_gen[s]))
			bad_kept++;
	}
	for (uint64_t b = 0; b < MIG_BLOCKS; b++) {
		if (rw_block(fd, 0, tmp, b) || !check(tmp, b, gen[b]))
			bad_final++;
	}
	int ok = !bad_now && !bad_kept && !bad_final && !errors && reads;

	printf("VQLOAD done blk-mig %s reads=%lu writes=%lu kept=%lu bad_now=%lu "
	       "bad_kept=%lu bad_final=%lu errors=%lu\n", ok ? "ok" : "fail", reads,
	       writes, kept_n, bad_now, bad_kept, bad_final, errors);
	return !ok;
}

/* ---- net-mig ---- */

/* More than one rx buffer per reply: the guest builds its skb in the first
 * and never writes the others, so only the device's log marks them. */
#define NET_PAYLOAD 8000u
#define NET_MAX 65536u

static uint16_t csum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	if (n)
		s += *(const uint8_t *)w;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void payload(unsigned char *p, unsigned seq)
{
	for (unsigned i = 0; i < NET_PAYLOAD; i++)
		p[i] = (unsigned char)mix((uint64_t)seq * 4096 + i);
}

static int net_mig(const char *ifc, const char *peer)
{
	static unsigned char seen[NET_MAX];
	unsigned char pkt[sizeof(struct icmphdr) + NET_PAYLOAD];
	unsigned char rx[16384], mac[6];
	unsigned long sent = 0, got = 0, bad = 0, dup = 0, rarp = 0;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct ifreq ifr;
	int big = 64 << 20;
	uint16_t ident = (uint16_t)getpid();
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	int ps = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_RARP));

	if (s < 0 || ps < 0 || inet_pton(AF_INET, peer, &to.sin_addr) != 1) {
		perror("vqload: socket");
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifc);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		perror("vqload: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	/* The replies wait on the socket, in the buffers the device wrote,
	 * until the migration is over. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0 ||
	    setsockopt(ps, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0) {
		perror("vqload: SO_RCVBUFFORCE");
		return 1;
	}
	printf("VQLOAD ready net-mig\n");
	fflush(stdout);
	while (!stop && sent < NET_MAX) {
		struct icmphdr *h = (struct icmphdr *)pkt;
		struct timespec ts = { 0, 5000000 };

		memset(h, 0, sizeof(*h));
		h->type = ICMP_ECHO;
		h->un.echo.id = htons(ident);
		h->un.echo.sequence = htons((uint16_t)sent);
		payload(pkt + sizeof(*h), (unsigned)sent);
		h->checksum = csum(pkt, sizeof(pkt));
		if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) ==
		    (ssize_t)sizeof(pkt))
			sent++;
		nanosleep(&ts, NULL);
	}
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };

		if (poll(&p, 1, 2000) <= 0)
			break;
		ssize_t n = recv(s, rx, sizeof(rx), 0);
		const struct iphdr *ip = (const struct iphdr *)rx;

		if (n < (ssize_t)sizeof(*ip))
			continue;
		size_t hl = (size_t)ip->ihl * 4;
		const struct icmphdr *h = (const struct icmphdr *)(rx + hl);

		if ((size_t)n < hl + sizeof(*h) || h->type != ICMP_ECHOREPLY ||
		    ntohs(h->un.echo.id) != ident)
			continue;
		unsigned seq = ntohs(h->un.echo.sequence);
		unsigned char want[NET_PAYLOAD];

		payload(want, seq);
		if ((size_t)n != hl + sizeof(*h) + NET_PAYLOAD || seq >= sent ||
		    memcmp(rx + hl + sizeof(*h), want, NET_PAYLOAD) != 0) {
			bad++;
			continue;
		}
		if (seen[seq]++) {
			dup++;
			continue;
		}
		got++;
	}
	for (;;) {
		ssize_t n = recv(ps, rx, sizeof(rx), MSG_DONTWAIT);

		if (n < 0)
			break;
		/* RARP request: target hardware address at 14 + 18. */
		if (n >= 14 + 28 && memcmp(rx + 6, mac, 6) == 0 &&
		    memcmp(rx + 14 + 18, mac, 6) == 0)
			rarp++;
	}
	/* A reply can be lost while the device stops; one that arrives with
	 * the wrong bytes means guest memory was not migrated. */
	int ok = got && !bad && !dup && got + 16 >= sent;

	printf("VQLOAD done net-mig %s sent=%lu received=%lu bad=%lu dup=%lu rarp=%lu\n",
	       ok ? "ok" : "fail", sent, got, bad, dup, rarp);
	return !ok;
}

/* ---- net-echo ---- */

#define ECHO_MAX (1u << 20)       /* requests: over 2 h at one per 10 ms */
#define ECHO_BIG 1400u
#define ECHO_SMALL 56u
#define ECHO_RESUMED 20u

/* Request @seq's payload: its number, then bytes derived from it. */
static size_t echo_payload(unsigned char *p, uint32_t seq)
{
	size_t n = seq & 1 ? ECHO_BIG : ECHO_SMALL;

	p[0] = (unsigned char)(seq >> 24);
	p[1] = (unsigned char)(seq >> 16);
	p[2] = (unsigned char)(seq >> 8);
	p[3] = (unsigned char)seq;
	for (size_t i = 4; i < n; i++)
		p[i] = (unsigned char)mix((uint64_t)seq << 16 ^ i);
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* IFF_RUNNING: up, and the link (the device's carrier) is on. */
static int carrier(int s, const char *ifc)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifc);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	return (ifr.ifr_flags & IFF_RUNNING) != 0;
}

struct echo {
	unsigned char seen[ECHO_MAX];
	unsigned long sent, got, bad, dup, high;
	uint16_t ident;
};

/* Check one frame read from the raw socket; the sequence number of a good
 * first reply, -1 otherwise. */
static long echo_rx(struct echo *e, const unsigned char *rx, ssize_t n)
{
	unsigned char want[ECHO_BIG];
	const struct iphdr *ip = (const struct iphdr *)rx;

	if (n < (ssize_t)sizeof(*ip))
		return -1;
	size_t hl = (size_t)ip->ihl * 4;
	const struct icmphdr *h = (const struct icmphdr *)(rx + hl);
	const unsigned char *pl = rx + hl + sizeof(*h);

	if ((size_t)n < hl + sizeof(*h) + 4 || h->type != ICMP_ECHOREPLY ||
	    ntohs(h->un.echo.id) != e->ident)
		return -1;
	uint32_t seq = (uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 |
		       (uint32_t)pl[2] << 8 | pl[3];
	size_t len = seq < e->sent ? echo_payload(want, seq) : 0;

	if (!len || (size_t)n != hl + sizeof(*h) + len ||
	    ntohs(h->un.echo.sequence) != (uint16_t)seq || memcmp(pl, want, len) != 0) {
		e->bad++;
		return -1;
	}
	if (e->seen[seq]++) {
		e->dup++;
		return -1;
	}
	e->got++;
	if (seq + 1 > e->high)
		e->high = seq + 1;
	return seq;
}

static int net_echo(const char *ifc, const char *peer)
{
	static struct echo e;
	unsigned char pkt[sizeof(struct icmphdr) + ECHO_BIG];
	unsigned char rx[4096];
	unsigned long held = 0, blocked = 0, errors = 0, downs = 0, after = 0;
	unsigned long mark = 0, marks = 0;
	struct sockaddr_in to = { .sin_family = AF_INET };
	int big = 4 << 20, up = 1, resumed = 1;
	int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	uint64_t next, status;

	e.ident = (uint16_t)getpid();
	if (s < 0 || inet_pton(AF_INET, peer, &to.sin_addr) != 1) {
		perror("vqload: socket");
		return 1;
	}
	/* Requests stuck in the device while the backend is down must not
	 * block the sender. */
	if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0) {
		perror("vqload: SO_SNDBUFFORCE");
		return 1;
	}
	printf("VQLOAD ready net-echo\n");
	fflush(stdout);
	next = status = now_ms();
	while (!stop && e.sent < ECHO_MAX) {
		uint64_t t = now_ms();

		if (mark_req) {
			mark_req = 0;
			mark = e.sent;
			marks++;
			after = 0;
			resumed = 0;
			printf("VQLOAD mark %lu seq=%lu\n", marks, mark);
		}
		if (t >= next) {
			int c = carrier(s, ifc);

			next += 10;
			if (next < t)
				next = t + 10;
			if (c < 0) {
				errors++;
			} else if (!c) {
				/* Link down (QEMU lost its backend): a
				 * request now would be dropped unsent. */
				if (up)
					downs++;
				up = 0;
				held++;
			} else {
				struct icmphdr *h = (struct icmphdr *)pkt;
				size_t n = echo_payload(pkt + sizeof(*h), (uint32_t)e.sent);
				ssize_t r;

				up = 1;
				memset(h, 0, sizeof(*h));
				h->type = ICMP_ECHO;
				h->un.echo.id = htons(e.ident);
				h->un.echo.sequence = htons((uint16_t)e.sent);
				h->checksum = csum(pkt, sizeof(*h) + n);
				r = sendto(s, pkt, sizeof(*h) + n, MSG_DONTWAIT,
					   (struct sockaddr *)&to, sizeof(to));
				if (r == (ssize_t)(sizeof(*h) + n))
					e.sent++;
				else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
					blocked++;
				else
					errors++;
			}
		}
		if (t >= status) {
			status += 500;
			if (status < t)
				status = t + 500;
			printf("VQLOAD status sent=%lu answered=%lu high=%lu held=%lu "
			       "blocked=%lu bad=%lu dup=%lu errors=%lu downs=%lu\n", e.sent,
			       e.got, e.high, held, blocked, e.bad, e.dup, errors, downs);
		}
		struct pollfd p = { .fd = s, .events = POLLIN };
		uint64_t wake = next < status ? next : status;

		t = now_ms();
		if (poll(&p, 1, wake > t ? (int)(wake - t) : 0) <= 0)
			continue;
		for (;;) {
			ssize_t n = recv(s, rx, sizeof(rx), MSG_DONTWAIT);
			long seq;

			if (n < 0)
				break;
			seq = echo_rx(&e, rx, n);
			if (marks && seq >= (long)mark && ++after == ECHO_RESUMED && !resumed) {
				resumed = 1;
				printf("VQLOAD resumed %lu mark=%lu high=%lu\n", marks, mark,
				       e.high);
			}
		}
	}
	/* The last replies. */
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };

		if (poll(&p, 1, 2000) <= 0)
			break;
		echo_rx(&e, rx, recv(s, rx, sizeof(rx), 0));
	}
	/* Which requests went unanswered, in how many runs: the host judges
	 * how many may. */
	unsigned long runs = 0;

	for (unsigned long i = 0; i < e.sent; i++)
		if (!e.seen[i] && (i == 0 || e.seen[i - 1]))
			runs++;
	int ok = e.got && !e.bad && !errors;

	printf("VQLOAD done net-echo %s sent=%lu answered=%lu lost=%lu lost_runs=%lu "
	       "held=%lu blocked=%lu bad=%lu dup=%lu errors=%lu downs=%lu marks=%lu\n",
	       ok ? "ok" : "fail", e.sent, e.got, e.sent - e.got, runs, held, blocked,
	       e.bad, e.dup, errors, downs, marks);
	return !ok;
}

/* ---- blk-rw ---- */

#define RW_BLOCKS 1024u  /* 4 MiB area */

static int rw_writer(int fd, unsigned w, unsigned nw, uint32_t *gen,
		     unsigned long *counts)
{
	cpu_set_t set;
	unsigned char *buf = blocks(1);
	unsigned per = RW_BLOCKS / nw;

	CPU_ZERO(&set);
	CPU_SET(w, &set);
	sched_setaffinity(0, sizeof(set), &set);
	rnd_state ^= mix(w + 1);
	for (uint64_t i = 0; !stop; i++) {
		uint64_t b = w * per + rnd() % per;

		/* Idle now and then, so that a restart also finds this
		 * queue with nothing in flight. */
		if (i % 256 == 255) {
			struct timespec ts = { 0, 300000000 };

			nanosleep(&ts, NULL);
		}
		fill(buf, b, gen[b] + 1);
		if (rw_block(fd, 1, buf, b)) {
			counts[2]++;
			continue;
		}
		gen[b]++;
		counts[0]++;
	}
	return 0;
}

static int blk_rw(const char *dev)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nw = ncpu >= 2 ? 2 : 1;
	uint32_t *gen = mmap(NULL, RW_BLOCKS * sizeof(*gen), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *buf = blocks(1);
	unsigned long writes = 0, errors = 0, bad = 0;
	pid_t pid[2];
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0 || gen == MAP_FAILED || counts == MAP_FAILED) {
		perror("vqload: blk-rw setup");
		return 1;
	}
	for (uint64_t b = 0; b < RW_BLOCKS; b++) {
		fill(buf, b, 0);
		if (rw_block(fd, 1, buf, b))
			return 1;
	}
	printf("VQLOAD ready blk-rw writers=%u\n", nw);
	fflush(stdout);
	for (unsigned w = 0; w < nw; w++) {
		pid[w] = fork();
		if (pid[w] == 0)
			_exit(rw_writer(fd, w, nw, gen, counts + 4 * w));
	}
	while (!stop)
		sleep(1);
	for (unsigned w = 0; w < nw; w++) {
		kill(pid[w], SIGUSR1);
		waitpid(pid[w], NULL, 0);
		writes += counts[4 * w];
		errors += counts[4 * w + 2];
	}
	uint64_t h = FNV_INIT;

	for (uint64_t b = 0; b < RW_BLOCKS; b++) {
		if (rw_block(fd, 0, buf, b) || !check(buf, b, gen[b]))
			bad++;
		fill(buf, b, gen[b]);
		h = fnv(h, buf, BLK);
	}
	int ok = writes && !errors && !bad;

	printf("VQLOAD done blk-rw %s writes=%lu errors=%lu bad=%lu bytes=%u fnv=%016llx\n",
	       ok ? "ok" : "fail", writes, errors, bad, RW_BLOCKS * BLK,
	       (unsigned long long)h);
	return !ok;
}

static int fnv_file(const char *path, const char *bytes)
{
	unsigned long long n = strtoull(bytes, NULL, 0), done = 0;
	unsigned char buf[65536];
	uint64_t h = FNV_INIT;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		perror("vqload: open");
		return 1;
	}
	while (done < n) {
		size_t want = n - done < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)done);

		if (r <= 0) {
			fprintf(stderr, "vqload: %s is shorter than %llu bytes\n", path, n);
			return 1;
		}
		h = fnv(h, buf, (size_t)r);
		done += (unsigned long long)r;
	}
	printf("%016llx\n", (unsigned long long)h);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	catch_stop();
	if (argc == 3 && !strcmp(argv[1], "blk-mig"))
		return blk_mig(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "net-mig"))
		return net_mig(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "net-echo"))
		return net_echo(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "blk-rw"))
		return blk_rw(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "fnv"))
		return fnv_file(argv[2], argv[3]);
	fprintf(stderr, "usage: vqload blk-mig DEV | net-mig IFACE PEER | net-echo IFACE PEER | "
			"blk-rw DEV | "
			"fnv FILE BYTES\n");
	return 2;
}
