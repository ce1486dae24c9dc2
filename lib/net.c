/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net data path helper (include/vqcore/net.h): tx bursts with
 * header checks, rx bursts with mergeable buffers, and forwarding from one
 * to the other with one copy per byte.  Built on the public queue API
 * (vq.h): one get_bufs, one put_used and one signal per queue per burst;
 * forwarding takes the usual burst (one-descriptor buffers) through the
 * core's lean fetch and return (lib/vq_lean.h) instead.
 */
#include "abi_priv.h"
#include "glue/glue.h"
#include "vq_lean.h"
#include "vqcore/net.h"

#define NET_MAX_BURST 1024u
#define NET_MAX_LIMIT 65536u

struct vqcore_net {
	uint64_t features;
	unsigned flags;
	unsigned hdr_len;            /* 10 or 12 */
	bool mrg_rxbuf;
	/* a tx offload was negotiated: tx headers are read and checked;
	 * without one a tx header means nothing and is not read */
	bool tx_hdr;
	bool pfw;                    /* vq_prefetchw() may be used */
	unsigned burst;
	unsigned rx_cap;             /* rx buffers per rx burst */
	unsigned max_iov;            /* iovecs of each burst array */
	unsigned max_per_frame;      /* mergeable: rx buffers per frame at most */
	struct vqcore_net_stats st;

	/* the tx burst: tx_open buffers fetched (0: none open), tx_nframes of
	 * them good; frame i is buffer tx_fbuf[i] */
	unsigned tx_open;
	unsigned tx_nframes;
	struct vhost_buf *tx_bufs;
	uint16_t *tx_fbuf;
	struct iovec *tx_iov;

	/* the rx burst, on rx_q (NULL: none open): rx_have buffers fetched,
	 * the first rx_used filled with rx_nframes frames; rx_win[i] is the
	 * first writable iovec of buffer i; for a buffer of one writable
	 * iovec, rx_dst[i] is where it starts and rx_room[i] its length (0
	 * for any other buffer: the general path) */
	struct vqcore_vq *rx_q;
	unsigned rx_have;
	unsigned rx_used;
	unsigned rx_niov;
	unsigned rx_nframes;
	uint32_t *rx_lens;
	struct vhost_buf *rx_bufs;
	struct iovec **rx_win;
	uint8_t **rx_dst;
	uint32_t *rx_room;
	struct iovec *rx_iov;

	/* vqcore_net_forward()'s lean bursts (fwd_lean()): a burst each of
	 * tx and rx buffers, and the rx lengths */
	struct vq_lean *tx_lean;
	struct vq_lean *rx_lean;
	uint32_t *lean_lens;
};

unsigned vqcore_net_hdr_len(uint64_t features)
{
	return features & (VQCORE_BIT(VQCORE_NET_F_MRG_RXBUF) |
			   VQCORE_BIT(VQCORE_F_VERSION_1)) ? 12 : 10;
}

/* The features that let a driver ask for an offload in a tx header. */
#define NET_TX_OFFLOADS                                                              \
	(VQCORE_BIT(VQCORE_NET_F_CSUM) | VQCORE_BIT(VQCORE_NET_F_HOST_TSO4) |          \
	 VQCORE_BIT(VQCORE_NET_F_HOST_TSO6) | VQCORE_BIT(VQCORE_NET_F_HOST_ECN) |      \
	 VQCORE_BIT(VQCORE_NET_F_HOST_UFO) | VQCORE_BIT(VQCORE_NET_F_HOST_USO))

static void net_set_features(struct vqcore_net *net, uint64_t features)
{
	net->features = features;
	net->hdr_len = vqcore_net_hdr_len(features);
	net->mrg_rxbuf = features & VQCORE_BIT(VQCORE_NET_F_MRG_RXBUF);
	net->tx_hdr = features & NET_TX_OFFLOADS;
}

static void net_free_arrays(struct vqcore_net *net)
{
	vq_free(net->tx_bufs);
	vq_free(net->tx_fbuf);
	vq_free(net->tx_iov);
	vq_free(net->rx_lens);
	vq_free(net->rx_bufs);
	vq_free(net->rx_win);
	vq_free(net->rx_dst);
	vq_free(net->rx_room);
	vq_free(net->rx_iov);
	vq_free(net->tx_lean);
	vq_free(net->rx_lean);
	vq_free(net->lean_lens);
}

int vqcore_net_new(const struct vqcore_net_config *ucfg, struct vqcore_net **out)
{
	struct vqcore_net_config c, *cfg = &c;
	struct vqcore_net *net;
	int err;

	if (!out)
		return -VQ_EINVAL;
	err = vq_struct_in(&c, sizeof(c), ucfg);
	if (err)
		return err;
	if ((cfg->flags & ~VQCORE_NET_RX_DROP) ||
	    cfg->burst > NET_MAX_BURST || cfg->rx_bufs > NET_MAX_LIMIT ||
	    cfg->max_iov > NET_MAX_LIMIT * 32 || cfg->max_bufs_per_frame > NET_MAX_LIMIT)
		return -VQ_EINVAL;
	net = vq_zalloc_aligned(sizeof(*net));
	if (!net)
		return -VQ_ENOMEM;
	net_set_features(net, cfg->features);
	net->flags = cfg->flags;
	net->pfw = vq_cpu_prefetchw();
	net->burst = cfg->burst ? cfg->burst : VQCORE_NET_DEFAULT_BURST;
	net->rx_cap = cfg->rx_bufs ? cfg->rx_bufs : VQCORE_NET_DEFAULT_RX_BUFS;
	net->max_iov = cfg->max_iov ? cfg->max_iov : VQCORE_NET_DEFAULT_MAX_IOV;
	net->max_per_frame = cfg->max_bufs_per_frame ? cfg->max_bufs_per_frame :
			     VQCORE_NET_DEFAULT_MAX_BUFS_PER_FRAME;
	net->tx_bufs = vq_zalloc_aligned(net->burst * sizeof(*net->tx_bufs));
	net->tx_fbuf = vq_zalloc_aligned(net->burst * sizeof(*net->tx_fbuf));
	net->tx_iov = vq_zalloc_aligned(net->max_iov * sizeof(*net->tx_iov));
	net->rx_lens = vq_zalloc_aligned(net->rx_cap * sizeof(*net->rx_lens));
	net->rx_bufs = vq_zalloc_aligned(net->rx_cap * sizeof(*net->rx_bufs));
	net->rx_win = vq_zalloc_aligned(net->rx_cap * sizeof(*net->rx_win));
	net->rx_dst = vq_zalloc_aligned(net->rx_cap * sizeof(*net->rx_dst));
	net->rx_room = vq_zalloc_aligned(net->rx_cap * sizeof(*net->rx_room));
	net->rx_iov = vq_zalloc_aligned(net->max_iov * sizeof(*net->rx_iov));
	net->tx_lean = vq_zalloc_aligned(net->burst * sizeof(*net->tx_lean));
	net->rx_lean = vq_zalloc_aligned(net->burst * sizeof(*net->rx_lean));
	net->lean_lens = vq_zalloc_aligned(net->burst * sizeof(*net->lean_lens));
	if (!net->tx_bufs || !net->tx_fbuf || !net->tx_iov || !net->rx_lens ||
	    !net->rx_bufs || !net->rx_win || !net->rx_dst || !net->rx_room || !net->rx_iov ||
	    !net->tx_lean || !net->rx_lean || !net->lean_lens) {
		net_free_arrays(net);
		vq_free(net);
		return -VQ_ENOMEM;
	}
	*out = net;
	return 0;
}

void vqcore_net_free(struct vqcore_net *net)
{
	if (!net)
		return;
	net_free_arrays(net);
	vq_free(net);
}

int vqcore_net_set_features(struct vqcore_net *net, uint64_t features)
{
	if (net->tx_open || net->rx_q)
		return -VQ_EBUSY;
	net_set_features(net, features);
	return 0;
}

int vqcore_net_set_max_iov(struct vqcore_net *net, unsigned max_iov)
{
	struct iovec *tx, *rx;

	if (net->tx_open || net->rx_q)
		return -VQ_EBUSY;
	if (max_iov > NET_MAX_LIMIT * 32)
		return -VQ_EINVAL;
	if (max_iov <= net->max_iov)
		return 0;
	tx = vq_zalloc_aligned(max_iov * sizeof(*tx));
	rx = vq_zalloc_aligned(max_iov * sizeof(*rx));
	if (!tx || !rx) {
		vq_free(tx);
		vq_free(rx);
		return -VQ_ENOMEM;
	}
	vq_free(net->tx_iov);
	vq_free(net->rx_iov);
	net->tx_iov = tx;
	net->rx_iov = rx;
	net->max_iov = max_iov;
	return 0;
}

int vqcore_net_get_stats(const struct vqcore_net *net, struct vqcore_net_stats *out)
{
	struct vqcore_net_stats s = net->st;

	s.sz = sizeof(s);
	return vq_struct_out(out, &s, sizeof(s));
}

/* ---- headers ---- */

/*
 * A tx header with an offload (virtio 1.2 5.1.6.2): allowed only as the
 * negotiated features say, and well formed.  @len: frame bytes after it.
 */
static VQ_NOINLINE bool tx_hdr_ok(const struct vqcore_net *net,
				  const struct vqcore_net_hdr *h, uint32_t len)
{
	uint64_t f = net->features;
	unsigned gso = h->gso_type & ~VQCORE_NET_HDR_GSO_ECN;
	uint64_t need;

	/* DATA_VALID and RSC_INFO are the device's (rx) flags */
	if (h->flags & ~VQCORE_NET_HDR_F_NEEDS_CSUM)
		return false;
	if (h->flags & VQCORE_NET_HDR_F_NEEDS_CSUM) {
		uint32_t end = (uint32_t)vqcore_le16_to_cpu(h->csum_start) +
			       vqcore_le16_to_cpu(h->csum_offset) + 2;

		if (!(f & VQCORE_BIT(VQCORE_NET_F_CSUM)) || end > len)
			return false;
	}
	if (h->gso_type == VQCORE_NET_HDR_GSO_NONE)
		return true;
	switch (gso) {
	case VQCORE_NET_HDR_GSO_TCPV4: need = VQCORE_BIT(VQCORE_NET_F_HOST_TSO4); break;
	case VQCORE_NET_HDR_GSO_TCPV6: need = VQCORE_BIT(VQCORE_NET_F_HOST_TSO6); break;
	case VQCORE_NET_HDR_GSO_UDP: need = VQCORE_BIT(VQCORE_NET_F_HOST_UFO); break;
	case VQCORE_NET_HDR_GSO_UDP_L4: need = VQCORE_BIT(VQCORE_NET_F_HOST_USO); break;
	default: return false;
	}
	if (h->gso_type & VQCORE_NET_HDR_GSO_ECN)
		need |= VQCORE_BIT(VQCORE_NET_F_HOST_ECN);
	/* a GSO frame needs a checksum offload and a segment size */
	return (f & need) == need && (h->flags & VQCORE_NET_HDR_F_NEEDS_CSUM) &&
	       h->gso_size != 0;
}

/* An rx header's offloads: allowed by the driver's GUEST_* features. */
static bool rx_hdr_ok(const struct vqcore_net *net, const struct vqcore_net_hdr *h)
{
	uint64_t f = net->features;
	unsigned gso = h->gso_type & ~VQCORE_NET_HDR_GSO_ECN;
	uint64_t need = 0;

	if (h->flags & ~(VQCORE_NET_HDR_F_NEEDS_CSUM | VQCORE_NET_HDR_F_DATA_VALID))
		return false;
	if (h->flags)
		need |= VQCORE_BIT(VQCORE_NET_F_GUEST_CSUM);
	switch (gso) {
	case VQCORE_NET_HDR_GSO_NONE:
		if (h->gso_type & VQCORE_NET_HDR_GSO_ECN)
			return false;
		break;
	case VQCORE_NET_HDR_GSO_TCPV4: need |= VQCORE_BIT(VQCORE_NET_F_GUEST_TSO4); break;
	case VQCORE_NET_HDR_GSO_TCPV6: need |= VQCORE_BIT(VQCORE_NET_F_GUEST_TSO6); break;
	case VQCORE_NET_HDR_GSO_UDP: need |= VQCORE_BIT(VQCORE_NET_F_GUEST_UFO); break;
	case VQCORE_NET_HDR_GSO_UDP_L4:
		if (!(f & (VQCORE_BIT(VQCORE_NET_F_GUEST_USO4) |
			   VQCORE_BIT(VQCORE_NET_F_GUEST_USO6))))
			return false;
		break;
	default:
		return false;
	}
	if (h->gso_type & VQCORE_NET_HDR_GSO_ECN)
		need |= VQCORE_BIT(VQCORE_NET_F_GUEST_ECN);
	return (f & need) == need;
}

/* ---- tx ---- */

/*
 * Tx buffer @b (iovecs @v, ours to change) as frame @f: the header copied
 * out, the iovecs advanced past it.  false for a chain to drop.
 *
 * A device-writable part is frame data too, after the readable part (the
 * iovecs are in ring order).  A tx queue is only ever read, and DPDK's
 * virtio PMD marks entries of its packed tx indirect tables writable that
 * hold frame data; DPDK's vhost reads them, so a backend that refused
 * them would lose that driver's frames.
 */
static VQ_NOINLINE bool tx_frame_slow(const struct vqcore_net *net, const struct vhost_buf *b,
				      struct iovec *v, struct vqcore_net_frame *f)
{
	unsigned hl = net->hdr_len, cnt = (unsigned)b->out_num + b->in_num;
	uint64_t total = (uint64_t)b->out_len + b->in_len;
	size_t skip = hl;

	if (total < hl || total > UINT32_MAX)
		return false;
	vq_memset(&f->hdr, 0, sizeof(f->hdr));
	if (net->tx_hdr)
		vqcore_iov_read(v, cnt, 0, &f->hdr, hl);
	f->hdr.num_buffers = 0;
	while (cnt && skip >= v->iov_len) {
		skip -= v->iov_len;
		v++;
		cnt--;
	}
	if (cnt) {
		v->iov_base = (uint8_t *)v->iov_base + skip;
		v->iov_len -= skip;
	}
	f->iov = v;
	f->iov_cnt = cnt;
	f->len = (uint32_t)(total - hl);
	if ((f->hdr.flags | f->hdr.gso_type) && !tx_hdr_ok(net, &f->hdr, f->len))
		return false;
	return true;
}

static inline bool tx_frame(const struct vqcore_net *net, const struct vhost_buf *b,
			    struct iovec *v, struct vqcore_net_frame *f)
{
	unsigned hl = net->hdr_len;

	/* the usual layouts: the header alone in the first iovec (Linux), or
	 * header and frame in one (DPDK) */
	/* out_len first: a buffer shorter than a header may have no iovec */
	if (unlikely(b->in_num || b->out_len < hl || v->iov_len < hl))
		return tx_frame_slow(net, b, v, f);
	if (net->tx_hdr)
		vq_memcpy(&f->hdr, v->iov_base, 10);
	else
		vq_memset(&f->hdr, 0, 10);
	f->hdr.num_buffers = 0;
	f->len = b->out_len - hl;
	if (v->iov_len == hl) {
		f->iov = v + 1;
		f->iov_cnt = b->out_num - 1u;
	} else {
		v->iov_base = (uint8_t *)v->iov_base + hl;
		v->iov_len -= hl;
		f->iov = v;
		f->iov_cnt = b->out_num;
	}
	if (unlikely(f->hdr.flags | f->hdr.gso_type))
		return tx_hdr_ok(net, &f->hdr, f->len);
	return true;
}

/*
 * The flags and gso_type bytes of the tx header at @h as one value (0:
 * no offload asked for), read only if @read (a tx offload was negotiated;
 * without one the header is not touched).
 */
static inline uint16_t tx_fg(const void *h, bool read)
{
	uint16_t fg = 0;

	if (read)
		vq_memcpy(&fg, h, 2);
	return fg;
}

/* Return the tx buffers [0, @k) and signal; @bad of them were dropped. */
static int tx_return(struct vqcore_net *net, struct vqcore_vq *txq, unsigned k,
		     unsigned bad)
{
	int r = 0;

	if (k) {
		r = vqcore_vq_put_used(txq, net->tx_bufs, NULL, k);
		if (r == 0) {
			net->st.tx_frames += k;
			net->st.drop_bad_tx += bad;
			vqcore_vq_signal(txq);
		}
	}
	return r;
}

/* The frames of @cnt tx buffers just fetched; opens the tx burst. */
static VQ_NOINLINE int tx_get_frames(struct vqcore_net *net, struct vqcore_vq *txq,
				     struct vqcore_net_frame *frames, int cnt)
{
	struct vhost_buf *bufs = net->tx_bufs;
	struct iovec *iov = net->tx_iov;
	unsigned nf = 0;

	for (unsigned i = 0; i < (unsigned)cnt; i++) {
		if (likely(tx_frame(net, &bufs[i], &iov[bufs[i].first], &frames[nf])))
			net->tx_fbuf[nf++] = (uint16_t)i;
	}
	if (unlikely(!nf)) {
		int r = tx_return(net, txq, (unsigned)cnt, (unsigned)cnt);

		return r < 0 ? r : 0;
	}
	net->tx_open = (unsigned)cnt;
	net->tx_nframes = nf;
	return (int)nf;
}

int vqcore_net_tx_get(struct vqcore_net *net, struct vqcore_vq *txq,
		      struct vqcore_net_frame *frames, unsigned max)
{
	int cnt;

	if (unlikely(net->tx_open))
		return -VQ_EBUSY;
	if (max > net->burst)
		max = net->burst;
	/* an empty ring costs this call and get_bufs only */
	cnt = vqcore_vq_get_bufs(txq, net->tx_bufs, max, net->tx_iov, net->max_iov);
	if (cnt <= 0)
		return cnt;
	return tx_get_frames(net, txq, frames, cnt);
}

/* Close the tx burst with its first @n frames taken; *@k: buffers returned. */
static int tx_done(struct vqcore_net *net, struct vqcore_vq *txq, unsigned n, unsigned *k)
{
	unsigned open = net->tx_open;

	/* buffers up to the first frame not taken; the bad chains among them
	 * are the ones that are not frames */
	*k = n < net->tx_nframes ? net->tx_fbuf[n] : open;
	net->tx_open = 0;
	net->tx_nframes = 0;
	if (*k < open) {
		int r = vqcore_vq_unget(txq, net->tx_bufs + *k, open - *k);

		if (r < 0)
			return r;
	}
	return tx_return(net, txq, *k, *k - n);
}

int vqcore_net_tx_done(struct vqcore_net *net, struct vqcore_vq *txq, unsigned n)
{
	unsigned k;

	if (!net->tx_open || n > net->tx_nframes)
		return -VQ_EINVAL;
	return tx_done(net, txq, n, &k);
}

/* ---- rx ---- */

/*
 * Fetch about @want more rx buffers into the burst.  Returns how many
 * came, 0 when the ring has none or the burst's arrays are full, or a
 * negative error from get_bufs.
 */
static int rx_fetch(struct vqcore_net *net, struct vqcore_vq *rxq, unsigned want)
{
	unsigned have = net->rx_have, base = net->rx_niov;
	struct vhost_buf *bufs = net->rx_bufs + have;
	int r;

	if (want > net->rx_cap - have)
		want = net->rx_cap - have;
	if (!want || base == net->max_iov)
		return 0;
	r = vqcore_vq_get_bufs(rxq, bufs, want, net->rx_iov + base, net->max_iov - base);
	if (r == -VQCORE_E_IOV_FULL && have)
		return 0; /* the next burst has the whole array */
	if (r <= 0)
		return r;
	{
		struct iovec *iov = net->rx_iov + base, **win = net->rx_win + have;
		uint8_t **dst = net->rx_dst + have;
		uint32_t *room = net->rx_room + have;
		const struct vhost_buf *last = &bufs[r - 1];

		for (int i = 0; i < r; i++) {
			struct iovec *w = iov + bufs[i].first + bufs[i].out_num;
			bool one = bufs[i].in_num == 1;

			win[i] = w;
			/* w is past the buffer's iovecs when it has no writable part */
			dst[i] = one ? w->iov_base : NULL;
			room[i] = one ? bufs[i].in_len : 0;
		}
		net->rx_niov = base + last->first + last->out_num + last->in_num;
	}
	net->rx_have = have + (unsigned)r;
	return r;
}

/* Writes a byte stream over the writable iovecs of consecutive rx buffers. */
struct rx_cursor {
	const struct vqcore_net *net;
	unsigned buf, end;           /* the buffer being filled; one past the last */
	const struct iovec *v, *vend;
	uint8_t *p;
	size_t room;
};

static void cursor_init(struct rx_cursor *c, const struct vqcore_net *net, unsigned buf,
			unsigned end)
{
	c->net = net;
	c->buf = buf;
	c->end = end;
	c->v = net->rx_win[buf];
	c->vend = c->v + net->rx_bufs[buf].in_num;
	c->p = NULL;
	c->room = 0;
}

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
		if (c->buf + 1 >= c->end)
			return false;
		cursor_init(c, c->net, c->buf + 1, c->end);
	}
}

static void cursor_write(struct rx_cursor *c, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		size_t k;

		if (!c->room && !cursor_next(c))
			return; /* never: the buffers were sized for the stream */
		k = VQ_MIN(len, c->room);
		vq_memcpy(c->p, s, k);
		c->p += k;
		c->room -= k;
		s += k;
		len -= k;
	}
}

/* Returns the rx buffers of the burst (see vqcore_net_rx_flush()). */
static int rx_flush(struct vqcore_net *net, struct vqcore_vq *rxq)
{
	unsigned used = net->rx_used, have = net->rx_have, nf = net->rx_nframes;
	int r = 0;

	if (have > used)
		vqcore_vq_unget(rxq, net->rx_bufs + used, have - used);
	if (used) {
		r = vqcore_vq_put_used(rxq, net->rx_bufs, net->rx_lens, used);
		if (r == 0) {
			net->st.rx_frames += nf;
			net->st.rx_bufs += used;
			vqcore_vq_signal(rxq);
		} else {
			net->st.drop_rx_error += nf;
		}
	}
	net->rx_q = NULL;
	net->rx_have = net->rx_used = net->rx_niov = net->rx_nframes = 0;
	return r < 0 ? r : (int)nf;
}

int vqcore_net_rx_flush(struct vqcore_net *net, struct vqcore_vq *rxq)
{
	if (!net->rx_q)
		return 0;
	if (net->rx_q != rxq)
		return -VQ_EINVAL;
	return rx_flush(net, rxq);
}

/*
 * Store the @hl header bytes @h at @d, only the ones that differ from
 * what @d holds.  A driver that recycles its rx buffers (DPDK's virtio
 * PMD does) gets most of them back with this very header in them, in a
 * line its own core still reads (it reads num_buffers, and its tx path
 * reads the header before it would change it); an unneeded store would
 * take that line away from it once per frame.  DPDK's vhost compares
 * before it writes for the same reason.  @hl: 12 or 10.
 */
static inline __attribute__((always_inline)) void rx_hdr_store(uint8_t *d, const void *h,
							       const unsigned hl)
{
	/* a constant length in each branch: the compare is inlined */
	if (likely(hl == 12)) {
		if (vq_memcmp(d, h, 12) != 0)
			vq_memcpy(d, h, 12);
	} else if (vq_memcmp(d, h, 10) != 0) {
		vq_memcpy(d, h, 10);
	}
}

/* The header of a frame forwarded with no offload: @hl bytes at @d. */
static inline __attribute__((always_inline)) void fwd_hdr(uint8_t *d, const unsigned hl)
{
	/* flags .. csum_offset 0, num_buffers 1 (little-endian); the
	 * 10-byte header is the first 10 */
	static const uint8_t one[12] = { [10] = 1 };

	rx_hdr_store(d, one, hl);
}

/* The 12 (or 10) header bytes for a frame over @nb buffers. */
static inline void rx_hdr(const struct vqcore_net_frame *f, unsigned nb,
			  struct vqcore_net_hdr *h)
{
	vq_memcpy(h, &f->hdr, 10);
	h->num_buffers = vq_le16((uint16_t)nb);
}

/*
 * vqcore_net_rx_put() for any layout: the frame over as many rx buffers as
 * it needs (one without mergeable rx buffers).
 */
static VQ_NOINLINE int rx_put_any(struct vqcore_net *net, struct vqcore_vq *rxq,
				  const struct vqcore_net_frame *f, unsigned more)
{
	size_t total = net->hdr_len + (size_t)f->len, got = 0, left;
	unsigned start = net->rx_used, nb = 0, max_nb;
	struct vqcore_net_hdr h;
	struct rx_cursor c;

	max_nb = net->mrg_rxbuf ? VQ_MIN(net->max_per_frame, net->rx_cap) : 1;
	if (max_nb > vqcore_vq_num(rxq))
		max_nb = vqcore_vq_num(rxq);
	while (got < total) {
		uint32_t in_len;

		if (nb == max_nb) {
			net->st.drop_too_big++;
			return VQCORE_NET_DROPPED; /* the buffers stay for the next frame */
		}
		if (start + nb == net->rx_have) {
			int r = rx_fetch(net, rxq, more + 1 + (net->mrg_rxbuf ? 1 : 0));

			if (r < 0) {
				net->st.drop_rx_error++;
				return VQCORE_NET_DROPPED;
			}
			if (r == 0) {
				if (net->rx_have < net->rx_cap && net->rx_niov < net->max_iov) {
					/* the ring is empty */
					if (!(net->flags & VQCORE_NET_RX_DROP))
						return -VQ_EAGAIN;
					net->st.drop_no_rx++;
					return VQCORE_NET_DROPPED;
				}
				if (start == 0) {
					/* more than a whole burst holds */
					net->st.drop_too_big++;
					return VQCORE_NET_DROPPED;
				}
				/* the burst is full: return what it has, go on
				 * with an empty one */
				r = rx_flush(net, rxq);
				net->rx_q = rxq;
				if (r < 0) {
					net->st.drop_rx_error++;
					return VQCORE_NET_DROPPED;
				}
				start = 0;
				nb = 0;
				got = 0;
				continue;
			}
		}
		in_len = net->rx_bufs[start + nb].in_len;
		net->rx_lens[start + nb] = (uint32_t)VQ_MIN(total - got, (size_t)in_len);
		got += net->rx_lens[start + nb];
		nb++;
	}
	net->rx_used = start + nb;
	net->rx_nframes++;

	rx_hdr(f, nb, &h);
	cursor_init(&c, net, start, start + nb);
	cursor_write(&c, &h, net->hdr_len);
	left = f->len;
	for (unsigned i = 0; i < f->iov_cnt && left; i++) {
		size_t k = VQ_MIN(f->iov[i].iov_len, left);

		cursor_write(&c, f->iov[i].iov_base, k);
		left -= k;
	}
	return VQCORE_NET_PLACED;
}

static inline int rx_put(struct vqcore_net *net, struct vqcore_vq *rxq,
			 const struct vqcore_net_frame *f, unsigned more)
{
	unsigned start = net->rx_used, hl = net->hdr_len;
	uint8_t *d;

	if (start == net->rx_have && rx_fetch(net, rxq, more + 1) <= 0)
		return rx_put_any(net, rxq, f, more);
	/* the usual case: one writable iovec that takes header and frame */
	if (unlikely(net->rx_room[start] < (uint64_t)hl + f->len))
		return rx_put_any(net, rxq, f, more);
	d = net->rx_dst[start];
	{
		struct vqcore_net_hdr h;

		rx_hdr(f, 1, &h);
		rx_hdr_store(d, &h, hl);
	}
	d += hl;
	if (likely(f->iov_cnt == 1 && f->iov[0].iov_len >= f->len))
		vq_memcpy(d, f->iov[0].iov_base, f->len);
	else
		vqcore_iov_read(f->iov, f->iov_cnt, 0, d, f->len);
	net->rx_lens[start] = hl + f->len;
	net->rx_used = start + 1;
	net->rx_nframes++;
	return VQCORE_NET_PLACED;
}

int vqcore_net_rx_put(struct vqcore_net *net, struct vqcore_vq *rxq,
		      const struct vqcore_net_frame *f, unsigned more)
{
	if (unlikely(net->rx_q != rxq)) {
		if (net->rx_q)
			return -VQ_EBUSY;
		net->rx_q = rxq;
	}
	if (unlikely((f->hdr.flags | f->hdr.gso_type) && !rx_hdr_ok(net, &f->hdr)))
		return -VQ_EINVAL;
	return rx_put(net, rxq, f, more);
}

/* ---- forwarding ---- */

/*
 * Frame @f (from a tx buffer) on rx, by the general path: offloads the rx
 * side cannot carry are dropped and counted.
 */
static VQ_NOINLINE int fwd_put_any(struct vqcore_net *net, struct vqcore_vq *rxq,
				   const struct vqcore_net_frame *f, unsigned more)
{
	if ((f->hdr.flags | f->hdr.gso_type) && !rx_hdr_ok(net, &f->hdr)) {
		net->st.drop_offload++;
		return VQCORE_NET_DROPPED;
	}
	return rx_put(net, rxq, f, more);
}

/*
 * Copy a frame.  Up to 64 bytes (a minimum-size frame) in two overlapping
 * fixed-size moves the compiler expands, no call.
 */
static inline void net_copy(uint8_t *d, const uint8_t *s, uint32_t n)
{
	if (n >= 16 && n <= 64) {
		if (n >= 32) {
			vq_memcpy(d, s, 32);
			vq_memcpy(d + n - 32, s + n - 32, 32);
		} else {
			vq_memcpy(d, s, 16);
			vq_memcpy(d + n - 16, s + n - 16, 16);
		}
		return;
	}
	vq_memcpy(d, s, n);
}

/*
 * Forward the @cnt tx buffers just fetched: each frame straight into rx
 * buffers, then rx returned, then tx (the first @done, the rest given
 * back when rx had no room).
 *
 * The loop handles the usual frame itself: no offload, its bytes in one
 * piece (header and frame in one iovec as DPDK sends them, or the header
 * alone then the frame as Linux does), the next rx buffer one iovec that
 * takes header and frame.  The rx position lives in locals meanwhile;
 * anything else syncs it and takes the general path for that frame.
 */
static VQ_NOINLINE int fwd_burst(struct vqcore_net *net, struct vqcore_vq *txq,
				 struct vqcore_vq *rxq, unsigned cnt, bool *rx_full)
{
	const struct vhost_buf *tb = net->tx_bufs;
	struct iovec *tiov = net->tx_iov;
	const unsigned hl = net->hdr_len;
	unsigned done = 0, bad = 0, used, have, nfast = 0;
	uint8_t *const *dst;
	const uint32_t *room;
	uint32_t *lens;
	int r;

	if (unlikely(!rxq)) {
		done = cnt;
		for (unsigned i = 0; i < cnt; i++) {
			struct vqcore_net_frame f;

			if (tx_frame(net, &tb[i], &tiov[tb[i].first], &f))
				net->st.drop_rx_error++;
			else
				bad++;
		}
		goto out;
	}
	net->rx_q = rxq;
	if (net->rx_used == net->rx_have)
		rx_fetch(net, rxq, cnt); /* the usual case: a buffer per frame */
	used = net->rx_used;
	have = net->rx_have;
	dst = net->rx_dst;
	room = net->rx_room;
	lens = net->rx_lens;
	for (; done < cnt; done++) {
		const struct vhost_buf *b = &tb[done];
		struct iovec *v = &tiov[b->first];
		const uint8_t *src;
		uint32_t len;
		uint16_t fg; /* flags and gso_type */
		uint8_t *d;

		if (unlikely(used == have || b->in_num || b->out_len < hl))
			goto slow;
		len = b->out_len - hl;
		if (v->iov_len == b->out_len)
			src = (const uint8_t *)v->iov_base + hl;
		else if (v->iov_len == hl && b->out_num == 2)
			src = v[1].iov_base;
		else
			goto slow;
		fg = tx_fg(v->iov_base, net->tx_hdr);
		if (unlikely(fg != 0 || room[used] < hl + len))
			goto slow;
		d = dst[used];
		fwd_hdr(d, hl);
		net_copy(d + hl, src, len);
		lens[used++] = hl + len;
		nfast++;
		continue;
slow:
		{
			struct vqcore_net_frame f;

			net->rx_used = used;
			net->rx_nframes += nfast;
			nfast = 0;
			if (!tx_frame(net, b, v, &f)) {
				bad++;
				continue;
			}
			r = fwd_put_any(net, rxq, &f, cnt - done - 1);
			used = net->rx_used;
			have = net->rx_have;
			if (unlikely(r == -VQ_EAGAIN)) {
				*rx_full = true;
				break;
			}
		}
	}
	net->rx_used = used;
	net->rx_nframes += nfast;
	rx_flush(net, rxq);
out:
	if (done < cnt) {
		r = vqcore_vq_unget(txq, net->tx_bufs + done, cnt - done);
		if (r < 0)
			return r;
	}
	r = tx_return(net, txq, done, bad);
	return r < 0 ? r : (int)done;
}

/* fwd_lean(): nothing done, the general path takes the burst */
#define FWD_GENERAL (-1)

/* How many frames ahead the lean loop takes an rx buffer's first data
 * line for writing (vq_prefetchw()). */
#define FWD_PFW_AHEAD 4

/*
 * The loop of fwd_lean() for a header of @hl bytes (a constant in each
 * copy): the frames of tx[0..cnt) into the rx buffers [*@rp, @rend).
 * Returns the tx buffers consumed; *@rp moves past the rx buffers used,
 * their lengths go to @lens, *@bad counts the tx buffers dropped.  @th:
 * read each tx header's flags and gso_type (a tx offload was negotiated);
 * otherwise the header is not touched: with DPDK's virtio PMD it sits in
 * a cache line of its own before the frame, one more line to take from
 * the other core per frame.
 *
 * A first loop takes the frames of 32 to 64 bytes (minimum-size frames:
 * two overlapping 32-byte moves), no more than there are rx buffers, so
 * that tx, rx and lengths move together and one test covers the size and
 * a buffer shorter than a header.  At any other frame the second loop
 * takes over for the rest of the burst.
 *
 * @pw: the first loop asks, FWD_PFW_AHEAD frames ahead, for the rx
 * buffer's data line to be owned (vq_prefetchw()).  The driver has
 * usually read that line since (DPDK's PMD reads each frame it receives),
 * so each store to it would otherwise wait for the driver's copy to be
 * invalidated, frame after frame; asked for ahead, those waits overlap.
 * The buffer is not checked yet then: a prefetch is a hint and never
 * faults, wherever it points.
 */
static inline __attribute__((always_inline)) unsigned
fwd_lean_loop(const struct vq_lean *tx, unsigned cnt, const struct vq_lean **rp,
	      const struct vq_lean *rend, uint32_t *lens, unsigned *bad, const unsigned hl,
	      const bool th, const bool pw)
{
	const struct vq_lean *r = *rp;
	const unsigned nfast = VQ_MIN(cnt, (unsigned)(rend - r));
	unsigned done;

	for (done = 0; done < nfast; done++) {
		/* in locals: the stores below may alias anything */
		const uint8_t *src = tx[done].p;
		const uint32_t len = tx[done].len;  /* header and frame */
		const uint32_t flen = len - hl;     /* huge if len < hl */
		uint16_t fg; /* flags and gso_type */
		uint8_t *d;

		if (unlikely(flen - 32 > 32))
			break;
		fg = tx_fg(src, th);
		if (unlikely(fg != 0 || r[done].len < len))
			break;
		d = r[done].p;
		if (pw && done + FWD_PFW_AHEAD < nfast)
			vq_prefetchw(r[done + FWD_PFW_AHEAD].p + hl);
		lens[done] = len;
		fwd_hdr(d, hl);
		vq_memcpy(d + hl, src + hl, 32);
		vq_memcpy(d + hl + flen - 32, src + hl + flen - 32, 32);
	}
	r += done;
	lens += done;
	for (; done < cnt; done++) {
		const uint8_t *src = tx[done].p;
		const uint32_t len = tx[done].len;
		uint16_t fg;
		uint8_t *d;

		if (unlikely(len < hl)) {
			(*bad)++;  /* not even a header: dropped */
			continue;
		}
		fg = tx_fg(src, th);
		if (unlikely(r == rend || fg != 0 || r->len < len))
			break;
		d = r->p;
		*lens++ = len;
		r++;
		fwd_hdr(d, hl);
		net_copy(d + hl, src + hl, len - hl);
	}
	*rp = r;
	return done;
}

/*
 * Forward the @cnt tx buffers vq_lean_get() just handed out (from
 * position @tpos; @tx_more: it stopped at a buffer for the general path):
 * the rx buffers for them from one vq_lean_get(), each frame copied in the
 * loop, then both returned by vq_lean_finish().  Returns the tx buffers
 * consumed (0 with *@rx_full when the rx ring is empty), or FWD_GENERAL
 * with all given back when the general path must take the whole burst.
 *
 * The loop takes what fwd_burst() takes in its own loop: a frame with no
 * offload, header and frame in the one descriptor, into the next rx
 * buffer if it holds both.  A tx buffer shorter than a header is dropped
 * and counted, as tx_frame() does.  Anything else ends the lean part
 * there and sets *@more: the rest goes back to the rings, for the general
 * path to take in the same call, which signals then; otherwise both
 * queues are signalled here.
 */
static VQ_NOINLINE int fwd_lean(struct vqcore_net *net, struct vqcore_vq *txq,
				struct vqcore_vq *rxq, unsigned cnt, uint32_t tpos,
				bool tx_more, bool *rx_full, bool *more)
{
	const struct vq_lean *tx = net->tx_lean, *rx = net->rx_lean, *r = rx;
	unsigned done, used, bad = 0, have;
	uint32_t rpos = 0;
	bool rx_general;

	have = vq_lean_get(rxq, net->rx_lean, cnt, true, &rpos, &rx_general);
	if (!have) {
		vq_lean_finish(txq, tpos, tx, false, NULL, 0, cnt);
		if (rx_general || (net->flags & VQCORE_NET_RX_DROP))
			return FWD_GENERAL;
		*rx_full = true;  /* the rx ring is empty: as fwd_burst() */
		return 0;
	}
	/* the header's length and whether it is read: constants in each copy */
	if (likely(net->hdr_len == 12 && !net->tx_hdr))
		done = fwd_lean_loop(tx, cnt, &r, rx + have, net->lean_lens, &bad, 12, false,
				     net->pfw);
	else if (net->hdr_len == 12)
		done = fwd_lean_loop(tx, cnt, &r, rx + have, net->lean_lens, &bad, 12, true,
				     net->pfw);
	else
		done = fwd_lean_loop(tx, cnt, &r, rx + have, net->lean_lens, &bad, 10,
				     net->tx_hdr, net->pfw);
	used = (unsigned)(r - rx);
	/* Stopped short of the burst at something for the general path (not
	 * at the end of the rx buffers it got: the next call sees whether the
	 * ring has more). */
	*more = done < cnt ? used < have || rx_general || (net->flags & VQCORE_NET_RX_DROP)
			   : tx_more;
	if (!done && *more) {
		vq_lean_finish(rxq, rpos, rx, true, NULL, 0, have);
		vq_lean_finish(txq, tpos, tx, false, NULL, 0, cnt);
		return FWD_GENERAL;
	}
	if (vq_lean_finish(rxq, rpos, rx, true, net->lean_lens, used, have) < 0) {
		net->st.drop_rx_error += used;
		used = 0;
	} else if (used) {
		net->st.rx_frames += used;
		net->st.rx_bufs += used;
	}
	if (vq_lean_finish(txq, tpos, tx, false, NULL, done, cnt) < 0) {
		if (used && !*more)
			vqcore_vq_signal(rxq);
		return -VQCORE_E_BROKEN;
	}
	net->st.tx_frames += done;
	net->st.drop_bad_tx += bad;
	/* both used indexes out before either signal check: one fence */
	if (!*more)
		vq_signal_pair(used ? rxq : NULL, txq);
	return (int)done;
}

/* The general path's burst of up to @max tx buffers. */
static int fwd_general(struct vqcore_net *net, struct vqcore_vq *txq,
		       struct vqcore_vq *rxq, unsigned max, bool *rx_full)
{
	/* an empty ring costs this call and get_bufs only */
	int cnt = vqcore_vq_get_bufs(txq, net->tx_bufs, max, net->tx_iov, net->max_iov);

	if (cnt <= 0)
		return cnt;
	return fwd_burst(net, txq, rxq, (unsigned)cnt, rx_full);
}

/*
 * The burst after a lean part of @lean frames, which returned its buffers
 * without signalling: the general path takes the rest of the burst and
 * signals; a queue it returned nothing on is signalled here.
 */
static VQ_NOINLINE int fwd_rest(struct vqcore_net *net, struct vqcore_vq *txq,
				struct vqcore_vq *rxq, unsigned lean, bool *rx_full)
{
	uint64_t rx_bufs = net->st.rx_bufs, tx_frames = net->st.tx_frames;
	int r = fwd_general(net, txq, rxq, net->burst - lean, rx_full);

	if (net->st.rx_bufs == rx_bufs)
		vqcore_vq_signal(rxq);
	if (net->st.tx_frames == tx_frames)
		vqcore_vq_signal(txq);
	return r < 0 ? (lean ? (int)lean : r) : (int)lean + r;
}

int vqcore_net_forward(struct vqcore_net *net, struct vqcore_vq *txq,
		       struct vqcore_vq *rxq, bool *rx_full)
{
	bool full_dummy;

	if (!rx_full)
		rx_full = &full_dummy;
	*rx_full = false;
	if (unlikely(net->tx_open || (net->rx_q && net->rx_q != rxq)))
		return -VQ_EBUSY;
	if (likely(rxq && !net->rx_q)) {
		/* the usual burst: one-descriptor buffers both ways */
		uint32_t tpos = 0;
		bool general, more = false;
		unsigned n = vq_lean_get(txq, net->tx_lean, net->burst, false, &tpos, &general);
		int r;

		if (!n && !general)
			return 0;  /* an empty ring costs this much only */
		if (n) {
			r = fwd_lean(net, txq, rxq, n, tpos, general, rx_full, &more);
			if (r != FWD_GENERAL) {
				if (likely(!more) || r < 0)
					return r;
				return fwd_rest(net, txq, rxq, (unsigned)r, rx_full);
			}
		}
	}
	return fwd_general(net, txq, rxq, net->burst, rx_full);
}
