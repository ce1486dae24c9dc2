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
 *  - a data path in bursts: up to 32 tx buffers per get_bufs call, the rx
 *    buffers for all their frames from as few get_bufs calls as needed,
 *    one put_used and one signal per queue per burst, the rx buffers not
 *    used given back with one vqcore_vq_unget(), and one copy per frame,
 *    from the tx iovecs straight into the rx iovecs;
 *  - back-pressure instead of drops: when the rx ring has no room, the tx
 *    buffers not yet handled go back with vqcore_vq_unget() and are handled
 *    again when the driver adds rx buffers (the rx kick);
 *  - what a device refuses, counted by cause and printed at exit: a tx
 *    chain with a bad header (shorter than the header, a writable part, an
 *    offload that was not offered), a frame larger than the rx buffers can
 *    take;
 *  - building a reply frame and its checksums (RFC 1071);
 *  - the announce after a live migration (SEND_RARP): a RARP broadcast
 *    for the guest's MAC, injected on rx.
 *
 * With --poll, SIGUSR1 prints the counters since the previous SIGUSR1
 * (poll turns, idle turns, frames, drops) as one "stats" line.
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

#define TX_BURST 32              /* tx buffers handled per burst */
#define TX_IOV 512
#define RX_POOL 256              /* rx buffers one burst may fill */
#define RX_POOL_IOV 512
#define RX_MAX_PER_FRAME 64      /* with MRG_RXBUF; more = too big, dropped */

struct rx_burst;

struct net {
	enum mode mode;
	bool poll_mode;
	struct vqcore_vu_dev *dev;
	struct virtio_net_config config;
	uint8_t ip[4];               /* our address in icmpecho mode */
	size_t hdr_len;              /* 12, or 10 for a legacy driver */
	bool mrg_rxbuf;
	uint64_t tx_frames, rx_frames;
	/* dropped frames, by cause */
	uint64_t drop_bad_tx;        /* tx chain with a bad header or layout */
	uint64_t drop_too_big;       /* larger than the rx buffers can take */
	uint64_t drop_no_reply;      /* icmpecho/macswap: nothing to answer */
	uint64_t drop_rx_error;      /* rx queue broken or missing */
	uint64_t turns, idle_turns;  /* poll turns, and those that found nothing */
	struct {
		uint64_t turns, idle_turns, tx_frames, rx_frames, dropped;
	} last;                      /* the counters at the last report */
	uint8_t rarp[60];            /* announce frame waiting for rx room */
	bool rarp_pending;
	struct rx_burst *rxb;        /* the rx side of the burst being handled */
	struct iovec tx_iov[TX_IOV];
	uint8_t frame[MAX_FRAME];    /* icmpecho: the frame being handled */
	uint8_t reply[MAX_FRAME];    /* and the answer built from it */
};

static uint64_t net_dropped(const struct net *n)
{
	return n->drop_bad_tx + n->drop_too_big + n->drop_no_reply + n->drop_rx_error;
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

/* ---- the data path: bursts ---- */

/*
 * A frame to put on rx: its first @head_len bytes from @head (macswap
 * rewrites them), the rest either straight from the tx buffer's iovecs
 * (@iov, from byte @off) or from our memory (@lin).  One copy per byte.
 */
struct frame_src {
	const struct iovec *iov;
	unsigned cnt;
	size_t off;
	const uint8_t *lin;
	size_t len;                  /* frame length, head included */
	size_t head_len;
	uint8_t head[2 * ETH_ALEN];
};

/*
 * The rx buffers of one burst: fetched with as few get_bufs calls as the
 * frames need, filled in order, returned with one put_used; the ones not
 * used go back with one unget.
 */
struct rx_burst {
	unsigned have;               /* fetched */
	unsigned used;               /* filled (the first @used of @bufs) */
	unsigned niov;               /* iovecs taken by the fetched ones */
	uint32_t lens[RX_POOL];
	struct vhost_buf bufs[RX_POOL];
	struct iovec iov[RX_POOL_IOV];
};

/* Writes a byte stream over the writable iovecs of consecutive rx buffers. */
struct rx_cursor {
	const struct rx_burst *rb;
	unsigned buf;                /* the buffer being filled */
	const struct iovec *v, *vend; /* its writable iovecs left */
	uint8_t *p;
	size_t room;                 /* bytes left in *v (from p) */
};

static void cursor_init(struct rx_cursor *c, const struct rx_burst *rb, unsigned buf)
{
	const struct vhost_buf *b = &rb->bufs[buf];

	c->rb = rb;
	c->buf = buf;
	c->v = &rb->iov[b->first + b->out_num];
	c->vend = c->v + b->in_num;
	c->p = NULL;
	c->room = 0;
}

/* Next non-empty writable iovec, in this buffer or the next ones. */
static bool cursor_next(struct rx_cursor *c)
{
	for (;;) {
		if (c->v < c->vend) {
			c->p = c->v->iov_base;
			c->room = c->v->iov_len;
			c->v++;
			if (c->room)
				return true;
			continue;
		}
		if (c->buf + 1 >= c->rb->used)
			return false;
		cursor_init(c, c->rb, c->buf + 1);
	}
}

static void cursor_write(struct rx_cursor *c, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		size_t k;

		if (!c->room && !cursor_next(c))
			return; /* never: the buffers were sized for the stream */
		k = len < c->room ? len : c->room;
		memcpy(c->p, s, k);
		c->p += k;
		c->room -= k;
		s += k;
		len -= k;
	}
}

/* Copy @len bytes from @iov (@cnt of them), starting at byte @off. */
static void cursor_write_iov(struct rx_cursor *c, const struct iovec *iov, unsigned cnt,
			     size_t off, size_t len)
{
	for (unsigned i = 0; i < cnt && len; i++) {
		size_t k;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		k = iov[i].iov_len - off;
		if (k > len)
			k = len;
		cursor_write(c, (const uint8_t *)iov[i].iov_base + off, k);
		len -= k;
		off = 0;
	}
}

/*
 * Fetch more rx buffers into @rb, about @want of them.  Returns how many
 * came, 0 when the ring has none (or @rb is full), or a negative error
 * from get_bufs.
 */
static int rx_fetch(struct vqcore_vq *rxq, struct rx_burst *rb, unsigned want)
{
	unsigned base = rb->niov;
	int r;

	if (want > RX_POOL - rb->have)
		want = RX_POOL - rb->have;
	if (!want || rb->niov == RX_POOL_IOV)
		return 0;
	r = vqcore_vq_get_bufs(rxq, rb->bufs + rb->have, want, rb->iov + rb->niov,
			       RX_POOL_IOV - rb->niov);
	if (r == -VQCORE_E_IOV_FULL && rb->have)
		return 0; /* the next burst has the whole array */
	for (int i = 0; i < r; i++) {
		struct vhost_buf *b = &rb->bufs[rb->have + (unsigned)i];

		b->first += base; /* numbered from where we asked */
		rb->niov = b->first + b->out_num + b->in_num;
	}
	if (r > 0)
		rb->have += (unsigned)r;
	return r;
}

enum rx_put { RX_PUT_OK, RX_PUT_WAIT, RX_PUT_FULL, RX_PUT_DROPPED };

/*
 * Put frame @s on rx: a fresh header then the frame, over as many rx
 * buffers as it needs (one without MRG_RXBUF).  @more: frames that may
 * follow in this burst (how many buffers to fetch at once).
 * RX_PUT_OK: placed (returned by rx_burst_end); RX_PUT_WAIT: the ring has no
 * room now, RX_PUT_FULL: this burst's arrays are full (nothing consumed
 * either way); RX_PUT_DROPPED: it can never fit, or rx is broken (counted).
 * rx_put() below takes the usual case and calls this for the rest.
 */
static __attribute__((noinline)) enum rx_put
rx_put_any(struct net *n, struct vqcore_vq *rxq, struct rx_burst *rb,
	   const struct frame_src *s, unsigned more)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	size_t total = n->hdr_len + s->len, got = 0;
	unsigned start = rb->used, nb = 0, max_nb;
	struct rx_cursor c;

	max_nb = n->mrg_rxbuf ? RX_MAX_PER_FRAME : 1;
	if (max_nb > vqcore_vq_num(rxq))
		max_nb = vqcore_vq_num(rxq);
	while (got < total) {
		uint32_t in_len;

		if (nb == max_nb) {
			rb->used = start; /* the buffers stay for the next frame */
			n->drop_too_big++;
			return RX_PUT_DROPPED;
		}
		if (start + nb == rb->have) {
			int r = rx_fetch(rxq, rb, more + 1 + (n->mrg_rxbuf ? 1 : 0));

			if (r < 0) {
				rb->used = start;
				n->drop_rx_error++;
				return RX_PUT_DROPPED;
			}
			if (r == 0) {
				rb->used = start;
				if (rb->have < RX_POOL && rb->niov < RX_POOL_IOV)
					return RX_PUT_WAIT; /* the ring is empty */
				if (start)
					return RX_PUT_FULL;
				n->drop_too_big++; /* more iovecs than a burst holds */
				return RX_PUT_DROPPED;
			}
		}
		in_len = rb->bufs[start + nb].in_len;
		rb->lens[start + nb] = total - got < in_len ? (uint32_t)(total - got) : in_len;
		got += rb->lens[start + nb];
		nb++;
	}
	rb->used = start + nb;

	hdr.num_buffers = (uint16_t)nb;
	cursor_init(&c, rb, start);
	cursor_write(&c, &hdr, n->hdr_len);
	if (s->head_len)
		cursor_write(&c, s->head, s->head_len);
	if (s->lin)
		cursor_write(&c, s->lin + s->head_len, s->len - s->head_len);
	else
		cursor_write_iov(&c, s->iov, s->cnt, s->off + s->head_len, s->len - s->head_len);
	n->rx_frames++;
	return RX_PUT_OK;
}

/*
 * rx_put_any() for the usual case: the next rx buffer is one iovec and
 * takes the header and the whole frame, so a header store and one memcpy
 * (tx buffers mostly carry header and frame in one iovec too).
 */
static inline enum rx_put rx_put(struct net *n, struct vqcore_vq *rxq, struct rx_burst *rb,
				 const struct frame_src *s, unsigned more)
{
	unsigned start = rb->used;
	const struct vhost_buf *b;
	size_t body = s->len - s->head_len;
	uint8_t *d;

	if (start == rb->have && rx_fetch(rxq, rb, more + 1) <= 0)
		return rx_put_any(n, rxq, rb, s, more);
	b = &rb->bufs[start];
	if (b->in_num != 1 || b->in_len < n->hdr_len + s->len)
		return rx_put_any(n, rxq, rb, s, more);
	d = rb->iov[b->first + b->out_num].iov_base;
	if (n->hdr_len == sizeof(struct virtio_net_hdr_v1)) {
		static const struct virtio_net_hdr_v1 one = { .num_buffers = 1 };

		memcpy(d, &one, sizeof(one));
	} else {
		memset(d, 0, 10); /* legacy header: no num_buffers */
	}
	d += n->hdr_len;
	if (s->head_len)
		memcpy(d, s->head, s->head_len);
	d += s->head_len;
	if (s->lin)
		memcpy(d, s->lin + s->head_len, body);
	else if (s->cnt == 1)
		memcpy(d, (const uint8_t *)s->iov[0].iov_base + s->off + s->head_len, body);
	else
		vqcore_iov_read(s->iov, s->cnt, s->off + s->head_len, d, body);
	rb->lens[start] = (uint32_t)(n->hdr_len + s->len);
	rb->used = start + 1;
	n->rx_frames++;
	return RX_PUT_OK;
}

/* Return the filled rx buffers with one put_used, the rest with one unget. */
static void rx_burst_end(struct vqcore_vq *rxq, struct rx_burst *rb)
{
	if (rb->have > rb->used)
		vqcore_vq_unget(rxq, rb->bufs + rb->used, rb->have - rb->used);
	if (rb->used) {
		vqcore_vq_put_used(rxq, rb->bufs, rb->lens, rb->used);
		vqcore_vq_signal(rxq);
	}
	rb->have = rb->used = rb->niov = 0;
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
	struct frame_src s = { .lin = n->rarp, .len = sizeof(n->rarp) };
	enum rx_put r;

	if (!n->rarp_pending)
		return true;
	r = rx_put(n, rxq, n->rxb, &s, 0);
	rx_burst_end(rxq, n->rxb);
	if (r == RX_PUT_WAIT || r == RX_PUT_FULL)
		return false;
	n->rarp_pending = false;
	return true;
}

/*
 * Whether tx buffer @b (readable iovecs @iov) carries a frame this device
 * can take: device-readable only, a whole header, no offload asked (none
 * is offered: flags and gso_type must be 0, virtio 1.2 5.1.6.2).
 */
static inline bool tx_ok(const struct net *n, const struct vhost_buf *b,
			 const struct iovec *iov)
{
	uint8_t fg[2]; /* flags, gso_type */

	if (b->in_num || b->out_len < n->hdr_len)
		return false;
	if (iov[0].iov_len >= 2)
		memcpy(fg, iov[0].iov_base, 2);
	else
		vqcore_iov_read(iov, b->out_num, 0, fg, 2);
	return fg[0] == 0 && fg[1] == 0;
}

/*
 * One burst: up to TX_BURST tx buffers, their answers on rx.  Returns the
 * number of tx buffers consumed (each one answered, or dropped and
 * counted).  When rx has no room for a frame, that buffer and the ones
 * after it go back to the ring (*@blocked says so when the rx ring itself
 * is empty, not only this burst's arrays full).
 */
static int tx_burst(struct net *n, struct vqcore_vq *txq, struct vqcore_vq *rxq,
		    bool *blocked)
{
	struct vhost_buf bufs[TX_BURST];
	struct iovec *iov = n->tx_iov;
	struct rx_burst *rb = n->rxb;
	int cnt, done;

	cnt = vqcore_vq_get_bufs(txq, bufs, TX_BURST, iov, TX_IOV);
	if (cnt <= 0)
		return 0; /* empty, or a broken tx queue (it said why) */
	for (done = 0; done < cnt; done++) {
		const struct vhost_buf *b = &bufs[done];
		const struct iovec *v = &iov[b->first];
		struct frame_src s;
		enum rx_put r;

		if (!tx_ok(n, b, v)) {
			n->drop_bad_tx++;
			continue;
		}
		s.iov = v;
		s.cnt = b->out_num;
		s.off = n->hdr_len;
		s.lin = NULL;
		s.len = b->out_len - n->hdr_len;
		s.head_len = 0;
		switch (n->mode) {
		case MODE_LOOPBACK:
			break;
		case MODE_MACSWAP:
			if (s.len < ETH_HLEN) {
				n->drop_no_reply++;
				continue;
			}
			vqcore_iov_read(v, b->out_num, n->hdr_len + ETH_ALEN, s.head, ETH_ALEN);
			vqcore_iov_read(v, b->out_num, n->hdr_len, s.head + ETH_ALEN, ETH_ALEN);
			s.head_len = 2 * ETH_ALEN;
			break;
		case MODE_ICMPECHO:
			if (s.len > MAX_FRAME) {
				n->drop_no_reply++;
				continue;
			}
			vqcore_iov_read(v, b->out_num, n->hdr_len, n->frame, s.len);
			s.len = icmpecho_reply(n, n->frame, s.len);
			if (!s.len) {
				n->drop_no_reply++;
				continue;
			}
			s.lin = n->reply;
			break;
		}
		if (!rxq) {
			n->drop_rx_error++;
			continue;
		}
		r = rx_put(n, rxq, rb, &s, (unsigned)(cnt - done - 1));
		if (r == RX_PUT_WAIT || r == RX_PUT_FULL) {
			*blocked = r == RX_PUT_WAIT;
			break;
		}
	}
	if (rxq)
		rx_burst_end(rxq, rb);
	if (done < cnt)
		vqcore_vq_unget(txq, bufs + done, (unsigned)(cnt - done));
	if (done) {
		vqcore_vq_put_used(txq, bufs, NULL, (unsigned)done);
		vqcore_vq_signal(txq);
	}
	n->tx_frames += (unsigned)done;
	return done;
}

/*
 * Handle what the guest sent.  Returns the number of tx buffers consumed.
 * Stops early, leaving the rest on the ring, when rx is full: *@blocked
 * then says so.  Kept out of line so a profiler can count the data path
 * alone (bench/net-dpdk.sh).
 */
static __attribute__((noinline)) int process_tx(struct net *n, bool *blocked)
{
	struct vqcore_vq *txq = vqcore_vu_queue(n->dev, TXQ);
	struct vqcore_vq *rxq = vqcore_vu_queue(n->dev, RXQ);
	int total = 0, done;

	*blocked = false;
	if (!txq)
		return 0;
	if (n->rarp_pending && rxq && !rx_flush_rarp(n, rxq)) {
		*blocked = true; /* the announce goes first */
		return 0;
	}
	while ((done = tx_burst(n, txq, rxq, blocked)) > 0) {
		total += done;
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
		", dropped %" PRIu64 ")\n", n->tx_frames, n->rx_frames, net_dropped(n));
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
		net_dropped(n) - n->last.dropped);
	n->last.turns = n->turns;
	n->last.idle_turns = n->idle_turns;
	n->last.tx_frames = n->tx_frames;
	n->last.rx_frames = n->rx_frames;
	n->last.dropped = net_dropped(n);
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
		}
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct rx_burst rxb;
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

	n.rxb = &rxb;
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
		PRIu64 ": bad_tx=%" PRIu64 " too_big=%" PRIu64 " no_reply=%" PRIu64
		" rx_error=%" PRIu64 ")\n", n.tx_frames, n.rx_frames, net_dropped(&n),
		n.drop_bad_tx, n.drop_too_big, n.drop_no_reply, n.drop_rx_error);
	return r ? 1 : 0;
}
