/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net: a virtio-net device backend with no real network behind
 * it.  Frames the guest sends on the tx queue (1) are answered on the rx
 * queue (0) according to --mode:
 *
 *   icmpecho  the backend is host 192.0.2.2 (TEST-NET-1): it answers ARP
 *             requests and ICMPv4 echo requests for that address and
 *             drops everything else;
 *   macswap   every frame goes back with source and destination MAC
 *             swapped (the usual forwarding benchmark);
 *   loopback  every frame goes back unchanged.
 *
 *   vhost-user-net --socket-path=PATH --mode=icmpecho|macswap|loopback
 *                  [--poll] [--no-packed] [--no-in-order] [--client]
 *                  [--inflight-file=FILE] [--config-space]
 *
 * With --client it connects to PATH (a front-end that listens, such as
 * DPDK's virtio-user with server=1, which takes a restarted backend back)
 * and exits when the front-end goes away; else it listens on PATH.
 *
 * What it shows a backend author:
 *  - the library's net helper (vqcore/net.h) owns the data path: bursts
 *    of 32 tx frames, headers checked, the rx buffers of a burst fetched
 *    together and filled with one copy per frame (mergeable rx buffers:
 *    one frame over several, num_buffers set), one put_used and one
 *    signal per queue per burst.  loopback is one vqcore_net_forward()
 *    per burst; macswap and icmpecho take the tx frames
 *    (vqcore_net_tx_get()), put their answers on rx (vqcore_net_rx_put(),
 *    vqcore_net_rx_flush()) and return the tx buffers
 *    (vqcore_net_tx_done());
 *  - back-pressure instead of drops: when the rx ring has no room, the tx
 *    buffers not yet handled go back to the tx ring and are handled
 *    again when the driver adds rx buffers (the rx kick);
 *  - what a device refuses, counted by cause and printed at exit: a tx
 *    chain with a bad header (shorter than the header, an offload that
 *    was not offered), a frame larger than the rx buffers can
 *    take (the helper's counters), a frame with no answer (ours);
 *  - building a reply frame and its checksums (RFC 1071);
 *  - the announce after a live migration (SEND_RARP): a RARP broadcast
 *    for the guest's MAC, injected on rx.
 *
 * With --poll, SIGUSR1 prints the counters since the previous SIGUSR1
 * (poll turns, idle turns, frames, drops) as one "stats" line.
 *
 * A net device needs no record of the requests in flight to be right (a
 * lost packet is retransmitted by the protocols above), but a packed ring
 * needs its position to come back after a restart under QEMU, which
 * cannot read it and sends the ring's start.  --inflight-file keeps the
 * library's inflight record in a file (vqcore_vu_set_inflight_file()):
 * a restarted backend resumes every queue where the killed one left it.
 * Without it, a restarted backend works on split rings only.  The front-
 * end's own inflight area is not asked for (VQCORE_VU_NO_INFLIGHT):
 * QEMU's virtio-net keeps none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vqcore/vqcore.h>

/* Under callgrind, each --poll report also dumps the counts (see
 * run_poll()); elsewhere the request is a few no-op instructions. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_DUMP_STATS
#define CALLGRIND_DUMP_STATS do { } while (0)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- virtio-net definitions (virtio 1.2, section 5.1) ---- */

#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1

/* Little-endian fields, as the driver reads them (virtio 1.x). */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* ---- Ethernet, ARP, IPv4, ICMP ---- */

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_RARP 0x8035
#define MAX_FRAME 65536

enum mode { MODE_ICMPECHO, MODE_MACSWAP, MODE_LOOPBACK };

#define TX_BURST 32              /* tx frames handled per burst */
#define REPLY_IOV 64             /* macswap: a frame of more iovecs gets no answer */

struct net {
	enum mode mode;
	bool poll_mode;
	bool client;     /* --client: one connection, the end when it goes */
	struct vqcore_vu_dev *dev;
	struct virtio_net_config config;
	uint8_t ip[4];               /* our address in icmpecho mode */
	/* the data path: tx and rx bursts, headers, mergeable rx buffers and
	 * most drop counters (tx chains with a bad header, frames larger than
	 * the rx buffers, a broken rx queue) are the library's net helper's */
	struct vqcore_net *nh;
	/* the running queues (set by queue_started, cleared by queue_stopped:
	 * callbacks run on the thread that polls) */
	struct vqcore_vq *txq, *rxq;
	/* dropped frames the helper does not see */
	uint64_t drop_no_reply;      /* icmpecho/macswap: nothing to answer */
	uint64_t turns, idle_turns;  /* poll turns, and those that found nothing */
	uint64_t blocked_turns;      /* idle turns with frames waiting for rx room */
	uint64_t bursts;             /* calls that moved frames (at most TX_BURST each) */
	/* every 64th turn timed: nanoseconds in those that found frames, in all */
	uint64_t sampled_busy_ns, sampled_ns;
	struct {
		uint64_t turns, idle_turns, blocked_turns, bursts, tx_frames, rx_frames, dropped;
	} last;                      /* the counters at the last report */
	uint8_t rarp[60];            /* announce frame waiting for rx room */
	bool rarp_pending;
	struct vqcore_net_frame frames[TX_BURST];
	struct iovec reply_iov[REPLY_IOV];
	uint8_t frame[MAX_FRAME];    /* icmpecho: the frame being handled */
	uint8_t reply[MAX_FRAME];    /* and the answer built from it (macswap:
	                              * the swapped addresses) */
};

/* Drops by cause: the helper's and ours. */
struct drops {
	uint64_t bad_tx, too_big, no_reply, rx_error;
};

static struct drops net_drops(const struct net *n)
{
	struct vqcore_net_stats st = { .sz = sizeof(st) };

	vqcore_net_get_stats(n->nh, &st);
	return (struct drops){
		.bad_tx = st.drop_bad_tx,
		.too_big = st.drop_too_big,
		.no_reply = n->drop_no_reply,
		.rx_error = st.drop_rx_error + st.drop_no_rx + st.drop_offload,
	};
}

static uint64_t net_dropped(const struct net *n)
{
	struct drops d = net_drops(n);

	return d.bad_tx + d.too_big + d.no_reply + d.rx_error;
}

static struct vqcore_vu_dev *g_dev;
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_report;


/* RFC 1071 Internet checksum of @len bytes. */
static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ARP request for our address -> ARP reply.  Returns the reply length. */
static size_t arp_reply(struct net *n, const uint8_t *f, size_t len, uint8_t *r)
{
	const uint8_t *a = f + ETH_HLEN;

	if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 ||
	    a[4] != ETH_ALEN || a[5] != 4 || get16(a + 6) != 1 /* request */ ||
	    memcmp(a + 24, n->ip, 4))
		return 0;
	memcpy(r, f + 6, ETH_ALEN);                 /* to the asker */
	memcpy(r + 6, n->config.mac, ETH_ALEN);
	put16(r + 12, ETHERTYPE_ARP);
	put16(r + 14, 1);                           /* Ethernet */
	put16(r + 16, ETHERTYPE_IPV4);
	r[18] = ETH_ALEN;
	r[19] = 4;
	put16(r + 20, 2);                           /* reply */
	memcpy(r + 22, n->config.mac, ETH_ALEN);    /* sender: us */
	memcpy(r + 28, n->ip, 4);
	memcpy(r + 32, a + 8, ETH_ALEN);            /* target: the asker */
	memcpy(r + 38, a + 14, 4);
	return ETH_HLEN + 28;
}

/* ICMPv4 echo request to our address -> echo reply. */
static size_t icmp_reply(struct net *n, const uint8_t *f, size_t len, uint8_t *r)
{
	const uint8_t *ip = f + ETH_HLEN;
	size_t ihl, tot;
	uint8_t *rip, *icmp;

	if (len < ETH_HLEN + 20 || (ip[0] >> 4) != 4)
		return 0;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ihl < 20 || tot < ihl + 8 || tot > len - ETH_HLEN ||
	    (get16(ip + 6) & 0x3fff) /* a fragment */ || ip[9] != 1 /* ICMP */ ||
	    memcmp(ip + 16, n->ip, 4) || csum(ip, ihl) != 0)
		return 0;
	if (ip[ihl] != 8 || ip[ihl + 1] != 0) /* echo request, code 0 */
		return 0;
	memcpy(r, f + 6, ETH_ALEN);
	memcpy(r + 6, n->config.mac, ETH_ALEN);
	put16(r + 12, ETHERTYPE_IPV4);
	rip = r + ETH_HLEN;
	memcpy(rip, ip, tot);                       /* options and payload kept */
	rip[8] = 64;                                /* TTL */
	memcpy(rip + 12, ip + 16, 4);               /* from us */
	memcpy(rip + 16, ip + 12, 4);               /* to the sender */
	put16(rip + 10, 0);
	put16(rip + 10, csum(rip, ihl));
	icmp = rip + ihl;
	icmp[0] = 0;                                /* echo reply */
	put16(icmp + 2, 0);
	put16(icmp + 2, csum(icmp, tot - ihl));
	return ETH_HLEN + tot;
}

/* icmpecho: the answer to frame @f of @len bytes, in n->reply; 0 = none. */
static size_t icmpecho_reply(struct net *n, const uint8_t *f, size_t len)
{
	if (len < ETH_HLEN)
		return 0;
	if (get16(f + 12) == ETHERTYPE_ARP)
		return arp_reply(n, f, len, n->reply);
	if (get16(f + 12) == ETHERTYPE_IPV4)
		return icmp_reply(n, f, len, n->reply);
	return 0;
}

/* ---- the data path: bursts, through the library's net helper ---- */

/* Counters by the helper's causes plus our own (frames with no answer). */
static uint64_t net_tx(const struct net *n)
{
	struct vqcore_net_stats st = { .sz = sizeof(st) };

	vqcore_net_get_stats(n->nh, &st);
	return st.tx_frames;
}

static uint64_t net_rx(const struct net *n)
{
	struct vqcore_net_stats st = { .sz = sizeof(st) };

	vqcore_net_get_stats(n->nh, &st);
	return st.rx_frames;
}

/*
 * Place frame @f on rx with the burst's other frames; @more: frames that
 * may follow.  false when rx has no room (the frame was not consumed).
 */
static bool rx_put(struct net *n, struct vqcore_vq *rxq, const struct vqcore_net_frame *f,
		   unsigned more)
{
	return vqcore_net_rx_put(n->nh, rxq, f, more) != -EAGAIN;
}

/*
 * macswap and icmpecho: the frames of one tx burst each get an answer (or
 * none, counted).  Returns the number of tx buffers consumed; *@blocked
 * when rx had no room for an answer (that frame and the ones after it go
 * back to the tx ring and are handled again when rx has room).
 */
static __attribute__((noinline)) int tx_burst_reply(struct net *n, struct vqcore_vq *txq,
						    struct vqcore_vq *rxq, bool *blocked)
{
	struct vqcore_net_frame *frames = n->frames, r = { 0 };
	int cnt, done;

	cnt = vqcore_net_tx_get(n->nh, txq, frames, TX_BURST);
	if (cnt <= 0)
		return 0; /* empty, or a broken tx queue (it said why) */
	for (done = 0; done < cnt; done++) {
		const struct vqcore_net_frame *f = &frames[done];

		if (n->mode == MODE_MACSWAP) {
			/* our 12 bytes of swapped addresses, then the rest of
			 * the frame straight from the tx buffer */
			struct iovec *v = n->reply_iov, *end = v + ARRAY_SIZE(n->reply_iov);
			size_t skip = 2 * ETH_ALEN;

			if (f->len < ETH_HLEN || f->iov_cnt >= ARRAY_SIZE(n->reply_iov)) {
				n->drop_no_reply++;
				continue;
			}
			vqcore_iov_read(f->iov, f->iov_cnt, ETH_ALEN, n->reply, ETH_ALEN);
			vqcore_iov_read(f->iov, f->iov_cnt, 0, n->reply + ETH_ALEN, ETH_ALEN);
			*v++ = (struct iovec){ n->reply, 2 * ETH_ALEN };
			for (unsigned i = 0; i < f->iov_cnt && v < end; i++) {
				const struct iovec *s = &f->iov[i];

				if (skip >= s->iov_len) {
					skip -= s->iov_len;
					continue;
				}
				*v++ = (struct iovec){ (uint8_t *)s->iov_base + skip, s->iov_len - skip };
				skip = 0;
			}
			r.iov = n->reply_iov;
			r.iov_cnt = (uint32_t)(v - n->reply_iov);
			r.len = f->len;
		} else {
			if (f->len > MAX_FRAME) {
				n->drop_no_reply++;
				continue;
			}
			vqcore_iov_read(f->iov, f->iov_cnt, 0, n->frame, f->len);
			r.len = (uint32_t)icmpecho_reply(n, n->frame, f->len);
			if (!r.len) {
				n->drop_no_reply++;
				continue;
			}
			n->reply_iov[0] = (struct iovec){ n->reply, r.len };
			r.iov = n->reply_iov;
			r.iov_cnt = 1;
		}
		if (!rx_put(n, rxq, &r, (unsigned)(cnt - done - 1))) {
			*blocked = true;
			break;
		}
	}
	vqcore_net_rx_flush(n->nh, rxq);
	vqcore_net_tx_done(n->nh, txq, (unsigned)done);
	return done;
}

/*
 * SEND_RARP (after a live migration): the guest's MAC is announced to the
 * network with a broadcast RARP "reverse request" (RFC 903, ethertype
 * 0x8035), source and target hardware address the guest's MAC, protocol
 * addresses 0, padded to the 60-byte minimum.  With no network behind this
 * backend, the guest receives it on rx, as it would see any broadcast.
 */
static void net_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq);

static int net_send_rarp(struct vqcore_vu_dev *dev, const uint8_t mac[6])
{
	struct net *n = vqcore_vu_opaque(dev);
	uint8_t *f = n->rarp;

	memset(f, 0, sizeof(n->rarp));
	memset(f, 0xff, 6);                /* broadcast */
	memcpy(f + 6, mac, 6);
	put16(f + 12, ETHERTYPE_RARP);
	put16(f + 14, 1);                  /* hardware: Ethernet */
	put16(f + 16, 0x0800);             /* protocol: IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 3);                  /* reverse request */
	memcpy(f + 22, mac, 6);            /* sender MAC, sender IP 0 */
	memcpy(f + 32, mac, 6);            /* target MAC, target IP 0 */
	n->rarp_pending = true;
	fprintf(stderr, "vhost-user-net: announcing %02x:%02x:%02x:%02x:%02x:%02x\n",
		mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (vqcore_vu_queue(dev, RXQ) && vqcore_vu_queue(dev, TXQ))
		net_kick(dev, RXQ, vqcore_vu_queue(dev, RXQ));
	return 0;
}

/* Deliver a pending announce frame; false while rx has no room for it. */
static bool rx_flush_rarp(struct net *n, struct vqcore_vq *rxq)
{
	struct iovec v = { n->rarp, sizeof(n->rarp) };
	struct vqcore_net_frame f = { .iov = &v, .iov_cnt = 1, .len = sizeof(n->rarp) };
	bool placed;

	if (!n->rarp_pending)
		return true;
	placed = rx_put(n, rxq, &f, 0);
	vqcore_net_rx_flush(n->nh, rxq);
	if (!placed)
		return false;
	n->rarp_pending = false;
	return true;
}

/*
 * Handle what the guest sent.  Returns the number of tx buffers consumed.
 * Stops early, leaving the rest on the ring, when rx is full: *@blocked
 * then says so.  Kept out of line so a profiler can count the data path
 * alone (bench/net-dpdk.sh).
 */
static __attribute__((noinline)) int process_tx(struct net *n, bool *blocked)
{
	struct vqcore_vq *txq = n->txq, *rxq = n->rxq;
	int total = 0, done;

	*blocked = false;
	/* no rx queue (not started yet, or being stopped): the frames wait
	 * on the tx ring; the rx queue's start kicks us */
	if (!txq || !rxq)
		return 0;
	if (n->rarp_pending && !rx_flush_rarp(n, rxq)) {
		*blocked = true; /* the announce goes first */
		return 0;
	}
	while ((done = n->mode == MODE_LOOPBACK ? vqcore_net_forward(n->nh, txq, rxq, blocked)
						: tx_burst_reply(n, txq, rxq, blocked)) > 0) {
		total += done;
		n->bursts++;
		/* a --poll report is due: end the turn (run_poll() prints it) */
		if (*blocked || (g_report && n->poll_mode))
			break;
	}
	return total;
}

/*
 * Kick callback for both queues.  A tx kick brings frames; an rx kick
 * brings room for frames that waited.  So both lead to the tx queue, and
 * rx kicks are only asked for while a frame waits for room.
 */
static void net_kick(struct vqcore_vu_dev *dev, unsigned qidx, struct vqcore_vq *vq)
{
	struct net *n = vqcore_vu_opaque(dev);
	struct vqcore_vq *txq = vqcore_vu_queue(dev, TXQ);
	struct vqcore_vq *rxq = vqcore_vu_queue(dev, RXQ);
	bool blocked;

	if (n->poll_mode || !txq || !rxq) {
		vqcore_vq_disable_notify(vq);
		return;
	}
	vqcore_vq_disable_notify(rxq);
	for (;;) {
		vqcore_vq_disable_notify(txq);
		process_tx(n, &blocked);
		if (blocked) {
			/* wait for the rx kick (tx kicks stay off: no point) */
			if (vqcore_vq_enable_notify(rxq)) {
				vqcore_vq_disable_notify(rxq);
				continue; /* room came meanwhile */
			}
			return;
		}
		if (!vqcore_vq_enable_notify(txq))
			return;
	}
}

static void net_queue_started(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq)
{
	struct net *n = vqcore_vu_opaque(dev);
	uint64_t f = vqcore_vu_features(dev);

	if (qidx == TXQ)
		n->txq = vq;
	else if (qidx == RXQ)
		n->rxq = vq;
	/* the header size and mergeable rx buffers follow the features; the
	 * iovec arrays are sized so that no chain can be too long for them */
	if (vqcore_net_set_features(n->nh, f) != 0 ||
	    vqcore_net_set_max_iov(n->nh, vqcore_vq_max_iov(vq)) != 0)
		fprintf(stderr, "vhost-user-net: cannot set up the data path for queue %u\n", qidx);
	fprintf(stderr, "vhost-user-net: %s queue started (%s ring, %u entries)\n",
		qidx == RXQ ? "rx" : "tx",
		vqcore_vq_format(vq) == VQCORE_FORMAT_PACKED ? "packed" : "split",
		vqcore_vq_num(vq));
}

static void net_queue_stopped(struct vqcore_vu_dev *dev, unsigned qidx,
			      struct vqcore_vq *vq)
{
	struct net *n = vqcore_vu_opaque(dev);

	if (n->txq == vq)
		n->txq = NULL;
	if (n->rxq == vq)
		n->rxq = NULL;
}

/* A new memory table may split buffers into more iovecs: size the arrays. */
static void net_mem_changed(struct vqcore_vu_dev *dev, bool before)
{
	struct net *n = vqcore_vu_opaque(dev);

	for (unsigned q = 0; !before && q < 2; q++) {
		struct vqcore_vq *vq = vqcore_vu_queue(dev, q);

		if (vq && vqcore_net_set_max_iov(n->nh, vqcore_vq_max_iov(vq)) != 0)
			fprintf(stderr, "vhost-user-net: out of memory for queue %u\n", q);
	}
}

static int net_get_config(struct vqcore_vu_dev *dev, uint32_t offset, void *buf,
			  uint32_t len)
{
	struct net *n = vqcore_vu_opaque(dev);

	if (offset > sizeof(n->config) || len > sizeof(n->config) - offset)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&n->config + offset, len);
	return 0;
}

static void net_disconnected(struct vqcore_vu_dev *dev)
{
	struct net *n = vqcore_vu_opaque(dev);

	fprintf(stderr, "vhost-user-net: front-end gone (tx %" PRIu64 ", rx %" PRIu64
		", dropped %" PRIu64 ")\n", net_tx(n), net_rx(n), net_dropped(n));
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1) {
		g_report = 1;
		return;
	}
	g_stop = 1;
	if (g_dev)
		vqcore_vu_stop(g_dev);
}

/*
 * Counters since the previous report, as one line a script can parse.
 * In --poll mode SIGUSR1 prints it and starts a new interval; a benchmark
 * sends it when its measurement starts and when it ends.  An idle turn is
 * a poll turn that found no frame to handle: the head-room left.  A
 * blocked turn is an idle turn that found frames but no rx buffer for
 * them: the guest was slow to give rx buffers back, not slow to send.
 * busy_time is the share of time in turns that found frames, from every
 * 64th turn timed: an idle turn is short and a busy one long (it goes on
 * while frames come), so the share of idle turns overstates the head-room;
 * but a busy turn also goes on through bursts of one frame, so busy_time
 * understates it.  bursts counts the calls that moved frames: tx_frames
 * / bursts near TX_BURST means frames wait for the backend, near 1 that
 * the backend waits for them.
 */
static void print_stats(struct net *n, const char *what)
{
	fprintf(stderr, "vhost-user-net: %s poll_turns=%" PRIu64 " idle_turns=%" PRIu64
		" blocked_turns=%" PRIu64 " busy_time=%.3f bursts=%" PRIu64 " tx_frames=%" PRIu64
		" rx_frames=%" PRIu64 " dropped=%" PRIu64 "\n", what,
		n->turns - n->last.turns, n->idle_turns - n->last.idle_turns,
		n->blocked_turns - n->last.blocked_turns,
		n->sampled_ns ? (double)n->sampled_busy_ns / (double)n->sampled_ns : 0.0,
		n->bursts - n->last.bursts, net_tx(n) - n->last.tx_frames, net_rx(n) - n->last.rx_frames,
		net_dropped(n) - n->last.dropped);
	n->last.turns = n->turns;
	n->last.idle_turns = n->idle_turns;
	n->last.blocked_turns = n->blocked_turns;
	n->last.bursts = n->bursts;
	n->sampled_busy_ns = n->sampled_ns = 0;
	n->last.tx_frames = net_tx(n);
	n->last.rx_frames = net_rx(n);
	n->last.dropped = net_dropped(n);
}

/*
 * A spin-wait hint after a poll turn that found nothing.  Each turn reads
 * the ring line the frontend writes next; pausing between idle turns lets
 * its stores to that line wait less (docs/notes/performance-log.md, "The
 * lean net path").
 */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static int run_poll(struct net *n)
{
	struct vqcore_vu_fd fds[8];
	struct pollfd pfd[8];
	unsigned idle = 0;
	int nfds = 0;
	bool refresh = true;

	while (!g_stop) {
		int r;

		if (refresh) {
			nfds = vqcore_vu_get_fds(n->dev, fds, ARRAY_SIZE(fds));
			if (nfds > (int)ARRAY_SIZE(fds))
				nfds = ARRAY_SIZE(fds);
			for (int i = 0; i < nfds; i++)
				pfd[i] = (struct pollfd){ .fd = fds[i].fd, .events = POLLIN };
			refresh = false;
		}
		/* the control socket and eventfds: one poll() every 64 turns
		 * (no syscall per turn), sleeping 1 ms at a time after a long idle
		 * stretch */
		if (!(n->turns & 63) || idle > 100000) {
			r = poll(pfd, (nfds_t)nfds, idle > 100000 ? 1 : 0);
			if (r < 0 && errno != EINTR)
				return -errno;
			for (int i = 0; r > 0 && i < nfds; i++)
				if (pfd[i].revents && vqcore_vu_dispatch(n->dev, pfd[i].fd) != 0)
					refresh = true;
			if (n->client && !vqcore_vu_connected(n->dev))
				break;  /* the front-end went away: no other comes */
		}
		bool blocked, timed = !(n->turns & 63);
		struct timespec t0, t1;
		int done;

		n->turns++;
		if (timed)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		done = process_tx(n, &blocked);
		if (done) {
			idle = 0;
		} else {
			idle++;
			n->idle_turns++;
			n->blocked_turns += blocked;
			cpu_relax();
		}
		if (timed) {
			uint64_t ns;

			clock_gettime(CLOCK_MONOTONIC, &t1);
			ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
			     (uint64_t)(t1.tv_nsec - t0.tv_nsec);
			n->sampled_ns += ns;
			if (done)
				n->sampled_busy_ns += ns;
		}
		if (g_report) {
			g_report = 0;
			print_stats(n, "stats");
			/* the counts of the same interval as the line, for
			 * bench/net-dpdk.sh: a turn ends at a report */
			CALLGRIND_DUMP_STATS;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s --socket-path=PATH --mode=icmpecho|macswap|loopback [options]\n"
		"A vhost-user virtio-net device backend with no network behind it:\n"
		"it answers the guest's frames on its rx queue.\n"
		"  --socket-path=PATH  unix socket to listen on\n"
		"  --mode=icmpecho  answer ARP and ICMP echo for --ip, drop the rest\n"
		"  --mode=macswap   send every frame back with its MACs swapped\n"
		"  --mode=loopback  send every frame back unchanged\n"
		"  --ip=A.B.C.D    address answered in icmpecho mode (default 192.0.2.2)\n"
		"  --poll          poll the rings instead of waiting for kicks\n"
		"  --no-packed     do not offer VIRTIO_F_RING_PACKED\n"
		"  --no-in-order   do not offer VIRTIO_F_IN_ORDER\n"
		"  --client        connect to PATH (the front-end listens) instead of listening\n"
		"  --config-space  offer the config space (MAC, status, MTU) with GET_CONFIG;\n"
		"                  QEMU's virtio-net does not read it and warns when offered\n"
		"  --inflight-file=FILE  keep the queues' positions and requests in flight in\n"
		"                  FILE, for a restart (needed for packed rings under QEMU)\n"
		"  --help          this text\n"
		"SIGINT or SIGTERM end it.  Installed as vqcore-net (man 8 vqcore-net).\n",
		program_invocation_short_name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "ip", required_argument, NULL, 'i' },
		{ "poll", no_argument, NULL, 'p' },
		{ "no-packed", no_argument, NULL, 'P' },
		{ "no-in-order", no_argument, NULL, 'O' },
		{ "client", no_argument, NULL, 'c' },
		{ "inflight-file", required_argument, NULL, 'f' },
		{ "config-space", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct net n = {
		.mode = MODE_ICMPECHO,
		.config = {
			.mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 }, /* locally administered */
		},
		.ip = { 192, 0, 2, 2 },
	};
	struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.get_config = net_get_config,
		.queue_started = net_queue_started,
		.queue_stopped = net_queue_stopped,
		.kick = net_kick,
		.disconnected = net_disconnected,
		.send_rarp = net_send_rarp,
		.mem_changed = net_mem_changed,
	};
	const char *sock_path = NULL, *inflight_file = NULL;
	unsigned flags = VQCORE_VU_SERVER | VQCORE_VU_NO_INFLIGHT;
	bool packed = true, in_order = true, config_space = false;
	struct sigaction sa;
	struct drops d;
	uint64_t features;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; break;
		case 'm':
			if (!strcmp(optarg, "icmpecho"))
				n.mode = MODE_ICMPECHO;
			else if (!strcmp(optarg, "macswap"))
				n.mode = MODE_MACSWAP;
			else if (!strcmp(optarg, "loopback"))
				n.mode = MODE_LOOPBACK;
			else {
				fprintf(stderr, "vhost-user-net: bad --mode=%s\n", optarg);
				return 2;
			}
			break;
		case 'i':
			if (inet_pton(AF_INET, optarg, n.ip) != 1) {
				fprintf(stderr, "vhost-user-net: bad --ip=%s\n", optarg);
				return 2;
			}
			break;
		case 'p': n.poll_mode = true; break;
		case 'P': packed = false; break;
		case 'O': in_order = false; break;
		case 'c': flags |= VQCORE_VU_CLIENT; n.client = true; break;
		case 'f': inflight_file = optarg; break;
		case 'C': config_space = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock_path || optind != argc) {
		usage(stderr);
		return 2;
	}

	features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VQCORE_F_EVENT_IDX) |
		   VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
		   VQCORE_BIT(VQCORE_NET_F_MRG_RXBUF) | VQCORE_BIT(VIRTIO_NET_F_MAC) |
		   VQCORE_BIT(VIRTIO_NET_F_STATUS) | VQCORE_BIT(VIRTIO_NET_F_MTU);
	if (packed)
		features |= VQCORE_BIT(VQCORE_F_RING_PACKED);
	else
		flags |= VQCORE_VU_NO_PACKED;
	if (in_order)
		features |= VQCORE_BIT(VQCORE_F_IN_ORDER);

	n.config.status = vqcore_cpu_to_le16(VIRTIO_NET_S_LINK_UP);
	n.config.max_virtqueue_pairs = vqcore_cpu_to_le16(1);
	n.config.mtu = vqcore_cpu_to_le16(1500);
	{
		struct vqcore_net_config nc = { .sz = sizeof(nc), .burst = TX_BURST };

		r = vqcore_net_new(&nc, &n.nh);
		if (r) {
			fprintf(stderr, "vhost-user-net: %s\n", vqcore_strerror(r));
			return 1;
		}
	}
	r = vqcore_vu_new(sock_path, flags, 2, features, &ops, &n, &n.dev);
	if (r) {
		fprintf(stderr, "vhost-user-net: %s: %s\n", sock_path, vqcore_strerror(r));
		return 1;
	}
	if (!config_space)
		vqcore_vu_set_protocol_features(n.dev, ~VQCORE_BIT(VQCORE_VU_PF_CONFIG));
	if (inflight_file) {
		/* the largest queue a front-end may set up */
		r = vqcore_vu_set_inflight_file(n.dev, inflight_file, 32768);
		if (r) {
			fprintf(stderr, "vhost-user-net: %s: %s\n", inflight_file,
				vqcore_strerror(r));
			vqcore_vu_free(n.dev);
			return 1;
		}
	}
	g_dev = n.dev;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fprintf(stderr, "vhost-user-net: %s mode%s on %s\n",
		n.mode == MODE_ICMPECHO ? "icmpecho" : n.mode == MODE_MACSWAP ? "macswap"
									: "loopback",
		n.poll_mode ? ", polling" : "", sock_path);
	r = n.poll_mode ? run_poll(&n) : vqcore_vu_run(n.dev);
	if (r)
		fprintf(stderr, "vhost-user-net: event loop: %s\n", vqcore_strerror(r));
	g_dev = NULL;
	vqcore_vu_free(n.dev);
	if (n.poll_mode) {
		memset(&n.last, 0, sizeof(n.last));
		print_stats(&n, "total");
	}
	d = net_drops(&n);
	fprintf(stderr, "vhost-user-net: exit (tx %" PRIu64 ", rx %" PRIu64 ", dropped %"
		PRIu64 ": bad_tx=%" PRIu64 " too_big=%" PRIu64 " no_reply=%" PRIu64
		" rx_error=%" PRIu64 ")\n", net_tx(&n), net_rx(&n), net_dropped(&n),
		d.bad_tx, d.too_big, d.no_reply, d.rx_error);
	vqcore_net_free(n.nh);
	return r ? 1 : 0;
}
