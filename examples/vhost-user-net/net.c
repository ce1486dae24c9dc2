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
 *                  [--poll] [--no-packed] [--no-in-order]
 *
 * What it shows a backend author:
 *  - the 12-byte virtio_net_hdr_v1 and VIRTIO_NET_F_MRG_RXBUF: one frame may
 *    fill several rx buffers; the first header says how many (num_buffers);
 *  - back-pressure instead of drops: when the rx ring has no room, the tx
 *    buffers not yet handled go back with vqcore_vq_unget() and are handled
 *    again when the driver adds rx buffers (the rx kick);
 *  - building a reply frame and its checksums (RFC 1071);
 *  - the announce after a live migration (SEND_RARP): a RARP broadcast
 *    for the guest's MAC, injected on rx.
 *
 * A net device does not need the inflight record (a lost packet is
 * retransmitted by the protocols above), so it uses the plain
 * vqcore_vq_get_bufs / vqcore_vq_put_used and VQCORE_VU_NO_INFLIGHT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- virtio-net definitions (virtio 1.2, section 5.1) ---- */

#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1

struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* Little-endian on the wire; this example runs on little-endian hosts. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;   /* with MRG_RXBUF (or VERSION_1) */
};

_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 layout");

/* ---- Ethernet, ARP, IPv4, ICMP ---- */

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_RARP 0x8035
#define MAX_FRAME 65536

enum mode { MODE_ICMPECHO, MODE_MACSWAP, MODE_LOOPBACK };

struct net {
	enum mode mode;
	bool poll_mode;
	struct vqcore_vu_dev *dev;
	struct virtio_net_config config;
	uint8_t ip[4];               /* our address in icmpecho mode */
	size_t hdr_len;              /* 12, or 10 for a legacy driver */
	bool mrg_rxbuf;
	uint64_t tx_frames, rx_frames, dropped;
	uint64_t turns, idle_turns;  /* poll turns, and those that found nothing */
	struct {
		uint64_t turns, idle_turns, tx_frames, rx_frames, dropped;
	} last;                      /* the counters at the last report */
	uint8_t rarp[60];            /* announce frame waiting for rx room */
	bool rarp_pending;
	uint8_t frame[MAX_FRAME];    /* the frame being handled */
	uint8_t reply[MAX_FRAME];    /* the answer built from it */
};

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

/* The answer to frame @f of @len bytes, in n->reply; 0 = no answer. */
static size_t make_reply(struct net *n, const uint8_t *f, size_t len)
{
	uint8_t *r = n->reply;

	switch (n->mode) {
	case MODE_LOOPBACK:
		memcpy(r, f, len);
		return len;
	case MODE_MACSWAP:
		if (len < ETH_HLEN)
			return 0;
		memcpy(r, f + 6, ETH_ALEN);
		memcpy(r + 6, f, ETH_ALEN);
		memcpy(r + 12, f + 12, len - 12);
		return len;
	case MODE_ICMPECHO:
		if (len < ETH_HLEN)
			return 0;
		if (get16(f + 12) == ETHERTYPE_ARP)
			return arp_reply(n, f, len, r);
		if (get16(f + 12) == ETHERTYPE_IPV4)
			return icmp_reply(n, f, len, r);
		return 0;
	}
	return 0;
}

/*
 * Put one frame on the rx queue: a fresh header, then the frame, over as
 * many rx buffers as it needs (only one without MRG_RXBUF).  Returns 1 when
 * delivered, 0 when the ring had no room (nothing consumed), -1 when the
 * frame can never fit (dropped) or the queue broke.
 */
static int rx_deliver(struct net *n, struct vqcore_vq *rxq, const uint8_t *frame,
		      size_t len)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct vhost_buf bufs[64];
	struct iovec iov[256];
	uint32_t lens[64];
	size_t total = n->hdr_len + len, done = 0;
	unsigned nb = 0, niov = 0;
	int r;

	/* fetch buffers one at a time until the frame fits */
	while (done < total) {
		if (nb == ARRAY_SIZE(bufs) || (nb && !n->mrg_rxbuf))
			goto too_big;
		r = vqcore_vq_get_bufs(rxq, &bufs[nb], 1, iov + niov,
				       (unsigned)(ARRAY_SIZE(iov) - niov));
		if (r == 0 || r == -VQCORE_E_IOV_FULL) {
			if (nb)
				vqcore_vq_unget(rxq, bufs, nb);
			return r == 0 ? 0 : -1;
		}
		if (r < 0)
			return -1;
		/* the library numbered the iovecs from our offset */
		bufs[nb].first += niov;
		lens[nb] = bufs[nb].in_len < total - done ? bufs[nb].in_len
							  : (uint32_t)(total - done);
		done += lens[nb];
		niov += bufs[nb].out_num + bufs[nb].in_num;
		nb++;
	}

	/* write the header into the first buffer, the frame after it */
	hdr.num_buffers = (uint16_t)nb;
	done = 0;
	for (unsigned i = 0; i < nb; i++) {
		const struct iovec *in = &iov[bufs[i].first + bufs[i].out_num];
		size_t off = 0;

		if (i == 0) {
			off = vqcore_iov_write(in, bufs[i].in_num, 0, &hdr, n->hdr_len);
			if (off < n->hdr_len)
				goto too_big; /* a first buffer shorter than the header */
		}
		done += vqcore_iov_write(in, bufs[i].in_num, off, frame + done, lens[i] - off);
	}
	if (vqcore_vq_put_used(rxq, bufs, lens, nb) < 0)
		return -1;
	n->rx_frames++;
	return 1;

too_big:
	/* the buffers get nothing: give them back, drop the frame */
	if (nb)
		vqcore_vq_unget(rxq, bufs, nb);
	return -1;
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
	int r;

	if (!n->rarp_pending)
		return true;
	r = rx_deliver(n, rxq, n->rarp, sizeof(n->rarp));
	if (r == 0)
		return false;
	if (r < 0)
		n->dropped++;
	n->rarp_pending = false;
	vqcore_vq_signal(rxq);
	return true;
}

/*
 * Handle what the guest sent.  Returns the number of tx buffers consumed.
 * Stops early, leaving the rest on the ring, when rx is full: *@blocked
 * then says so.
 */
static int process_tx(struct net *n, bool *blocked)
{
	struct vqcore_vq *txq = vqcore_vu_queue(n->dev, TXQ);
	struct vqcore_vq *rxq = vqcore_vu_queue(n->dev, RXQ);
	struct vhost_buf bufs[32];
	struct iovec iov[512];
	int total = 0, cnt;

	*blocked = false;
	if (!txq)
		return 0;
	if (rxq && !rx_flush_rarp(n, rxq)) {
		*blocked = true; /* the announce goes first */
		return 0;
	}
	while ((cnt = vqcore_vq_get_bufs(txq, bufs, ARRAY_SIZE(bufs), iov,
					 ARRAY_SIZE(iov))) > 0) {
		int done = 0, r;

		for (; done < cnt; done++) {
			const struct vhost_buf *b = &bufs[done];
			size_t len, rlen;

			if (b->out_len < n->hdr_len || b->out_len - n->hdr_len > MAX_FRAME) {
				n->dropped++;
				continue;
			}
			len = b->out_len - n->hdr_len;
			vqcore_iov_read(&iov[b->first], b->out_num, n->hdr_len, n->frame, len);
			rlen = make_reply(n, n->frame, len);
			if (!rlen) {
				n->tx_frames++;
				n->dropped++;
				continue;
			}
			r = rxq ? rx_deliver(n, rxq, n->reply, rlen) : -1;
			if (r == 0) {
				*blocked = true; /* rx full: keep this frame and the rest */
				break;
			}
			n->tx_frames++;
			if (r < 0)
				n->dropped++;
		}
		if (done < cnt)
			vqcore_vq_unget(txq, bufs + done, (unsigned)(cnt - done));
		if (done)
			vqcore_vq_put_used(txq, bufs, NULL, (unsigned)done);
		total += done;
		vqcore_vq_signal(txq);
		if (rxq)
			vqcore_vq_signal(rxq);
		if (*blocked)
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

	n->mrg_rxbuf = f & VQCORE_BIT(VIRTIO_NET_F_MRG_RXBUF);
	/* the header has num_buffers with MRG_RXBUF or any virtio 1 driver */
	n->hdr_len = (n->mrg_rxbuf || (f & VQCORE_BIT(VQCORE_F_VERSION_1))) ? 12 : 10;
	fprintf(stderr, "vhost-user-net: %s queue started (%s ring, %u entries)\n",
		qidx == RXQ ? "rx" : "tx",
		vqcore_vq_format(vq) == VQCORE_FORMAT_PACKED ? "packed" : "split",
		vqcore_vq_num(vq));
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
		", dropped %" PRIu64 ")\n", n->tx_frames, n->rx_frames, n->dropped);
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
 * a poll turn that found no frame to handle: the head-room left.
 */
static void print_stats(struct net *n, const char *what)
{
	fprintf(stderr, "vhost-user-net: %s poll_turns=%" PRIu64 " idle_turns=%" PRIu64
		" tx_frames=%" PRIu64 " rx_frames=%" PRIu64 " dropped=%" PRIu64 "\n", what,
		n->turns - n->last.turns, n->idle_turns - n->last.idle_turns,
		n->tx_frames - n->last.tx_frames, n->rx_frames - n->last.rx_frames,
		n->dropped - n->last.dropped);
	n->last.turns = n->turns;
	n->last.idle_turns = n->idle_turns;
	n->last.tx_frames = n->tx_frames;
	n->last.rx_frames = n->rx_frames;
	n->last.dropped = n->dropped;
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
		r = poll(pfd, (nfds_t)nfds, idle > 100000 ? 1 : 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; r > 0 && i < nfds; i++)
			if (pfd[i].revents && vqcore_vu_dispatch(n->dev, pfd[i].fd) != 0)
				refresh = true;
		bool blocked;

		n->turns++;
		if (process_tx(n, &blocked)) {
			idle = 0;
		} else {
			idle++;
			n->idle_turns++;
		}
		if (g_report) {
			g_report = 0;
			print_stats(n, "stats");
		}
		if (idle > 1000 && !(idle % 1000))
			sched_yield();
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vhost-user-net --socket-path=PATH --mode=icmpecho|macswap|loopback [options]\n"
		"  --ip=A.B.C.D    address answered in icmpecho mode (default 192.0.2.2)\n"
		"  --poll          poll the rings instead of waiting for kicks\n"
		"  --no-packed     do not offer VIRTIO_F_RING_PACKED\n"
		"  --no-in-order   do not offer VIRTIO_F_IN_ORDER\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct net n = {
		.mode = MODE_ICMPECHO,
		.config = {
			.mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 }, /* locally administered */
			.status = VIRTIO_NET_S_LINK_UP,
			.max_virtqueue_pairs = 1,
			.mtu = 1500,
		},
		.ip = { 192, 0, 2, 2 },
		.hdr_len = 12,
	};
	struct vqcore_vu_ops ops = {
		.sz = sizeof(ops),
		.get_config = net_get_config,
		.queue_started = net_queue_started,
		.kick = net_kick,
		.disconnected = net_disconnected,
		.send_rarp = net_send_rarp,
	};
	const char *sock_path = NULL;
	unsigned flags = VQCORE_VU_SERVER | VQCORE_VU_NO_INFLIGHT;
	bool packed = true, in_order = true;
	struct sigaction sa;
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
		   VQCORE_BIT(VIRTIO_NET_F_MRG_RXBUF) | VQCORE_BIT(VIRTIO_NET_F_MAC) |
		   VQCORE_BIT(VIRTIO_NET_F_STATUS) | VQCORE_BIT(VIRTIO_NET_F_MTU);
	if (packed)
		features |= VQCORE_BIT(VQCORE_F_RING_PACKED);
	else
		flags |= VQCORE_VU_NO_PACKED;
	if (in_order)
		features |= VQCORE_BIT(VQCORE_F_IN_ORDER);

	r = vqcore_vu_new(sock_path, flags, 2, features, &ops, &n, &n.dev);
	if (r) {
		fprintf(stderr, "vhost-user-net: %s: %s\n", sock_path, vqcore_strerror(r));
		return 1;
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
	fprintf(stderr, "vhost-user-net: exit (tx %" PRIu64 ", rx %" PRIu64 ", dropped %"
		PRIu64 ")\n", n.tx_frames, n.rx_frames, n.dropped);
	return r ? 1 : 0;
}
