/* SPDX-License-Identifier: MIT */
/*
 * Description: the frame side of the DPDK interop tests
 * (tests/integration/dpdk_*.sh).  Every frame carries its sequence number
 * and bytes derived from it, so content and order can be checked.
 *
 *   netcheck pcap-gen FILE N
 *       write N Ethernet frames (60..1514 bytes) as a pcap file, for
 *       testpmd's net_pcap to read;
 *   netcheck pcap-cmp SENT GOT [macswap]
 *       check that GOT (the pcap testpmd wrote) holds exactly the frames
 *       of SENT, in order, byte for byte (macswap: addresses swapped);
 *   netcheck vuc-echo SOCK split|packed N io|macswap [chains]
 *       our vhost-user client (driver side) against a vhost-user-net
 *       backend (DPDK's vhost PMD in testpmd, forwarding the port to
 *       itself): sends N frames on tx, in bursts, and checks that each
 *       comes back on rx with the right content, in order.  With
 *       "chains", each tx frame is a chain of three descriptors (the
 *       header, then the frame in two parts), every other one in an
 *       indirect table, and the rx buffers are 512 bytes, so a frame
 *       comes back over several mergeable buffers.
 *
 * Exit 0 when everything checked out, 1 with a message otherwise.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqcore/vqcore.h>

#define MAX_FRAME 1514
#define VIRTIO_NET_F_MRG_RXBUF 15
#define NET_HDR 12
#define RXQ 0
#define TXQ 1

static const size_t sizes[] = { 60, 64, 128, 243, 500, 1000, 1514 };
static const uint8_t mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };

static void die(const char *fmt, const char *a, long b)
{
	fprintf(stderr, "netcheck: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

/* Frame @seq: its length and bytes. */
static size_t frame(uint32_t seq, uint8_t *f)
{
	size_t len = sizes[seq % (sizeof(sizes) / sizeof(sizes[0]))];
	uint32_t x = seq * 2654435761u + 1;

	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	f[12] = 0x88; /* local experimental ethertype */
	f[13] = 0xb5;
	memcpy(f + 14, &seq, 4);
	for (size_t i = 18; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		f[i] = (uint8_t)x;
	}
	return len;
}

/* Expected answer to frame @f: itself, or with the addresses swapped. */
static void expect(uint8_t *f, bool swap)
{
	uint8_t t[6];

	if (!swap)
		return;
	memcpy(t, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, t, 6);
}

/* ---- pcap ---- */

struct pcap_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t zone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec {
	uint32_t sec, usec, incl, orig;
};

static int pcap_gen(const char *path, unsigned n)
{
	struct pcap_hdr h = { 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1 /* Ethernet */ };
	uint8_t f[MAX_FRAME];
	FILE *out = fopen(path, "wb");

	if (!out)
		die("%s: %ld", path, errno);
	fwrite(&h, sizeof(h), 1, out);
	for (uint32_t seq = 0; seq < n; seq++) {
		struct pcap_rec r = { seq / 1000000, seq % 1000000, 0, 0 };

		r.incl = r.orig = (uint32_t)frame(seq, f);
		fwrite(&r, sizeof(r), 1, out);
		fwrite(f, r.incl, 1, out);
	}
	if (fclose(out))
		die("%s: write error %ld", path, errno);
	return 0;
}

/* Next frame of pcap @in into @f; its length, 0 at the end. */
static size_t pcap_next(FILE *in, const char *path, uint8_t *f)
{
	struct pcap_rec r;

	if (fread(&r, sizeof(r), 1, in) != 1)
		return 0;
	if (r.incl == 0 || r.incl > MAX_FRAME || r.incl != r.orig)
		die("%s: bad record of %ld bytes", path, (long)r.incl);
	if (fread(f, r.incl, 1, in) != 1)
		die("%s: cut record of %ld bytes", path, (long)r.incl);
	return r.incl;
}

static FILE *pcap_open(const char *path)
{
	struct pcap_hdr h;
	FILE *in = fopen(path, "rb");

	if (!in)
		die("%s: %ld", path, errno);
	/* microsecond or (as DPDK writes) nanosecond timestamps */
	if (fread(&h, sizeof(h), 1, in) != 1 ||
	    (h.magic != 0xa1b2c3d4 && h.magic != 0xa1b23c4d) || h.linktype != 1)
		die("%s: not an Ethernet pcap file%.0ld", path, 0);
	return in;
}

static int pcap_cmp(const char *sent, const char *got, bool swap)
{
	FILE *a = pcap_open(sent), *b = pcap_open(got);
	uint8_t fa[MAX_FRAME], fb[MAX_FRAME];
	long n = 0;

	for (;; n++) {
		size_t la = pcap_next(a, sent, fa), lb = pcap_next(b, got, fb);

		if (!la && !lb)
			break;
		if (!lb)
			die("%s: frame %ld missing (and those after it)", got, n);
		if (!la)
			die("%s: more frames than sent, from frame %ld", got, n);
		expect(fa, swap);
		if (la != lb || memcmp(fa, fb, la))
			die("%s: frame %ld differs from what was sent", got, n);
	}
	printf("netcheck: %ld frames came back intact and in order\n", n);
	fclose(a);
	fclose(b);
	return 0;
}

/* ---- our client against a vhost-user-net backend ---- */

#define QSIZE 256
#define NRX 128                  /* rx buffers posted */
#define RXBUF 2048               /* each holds a whole frame and the header */
#define RXBUF_SMALL 512          /* "chains": a frame takes up to 3 */
#define BURST 32                 /* frames in flight at most */

/* Tx frame @seq in @p (header and frame) as the chain @sg; its length. */
static unsigned tx_chain(uint64_t gpa, uint8_t *p, uint32_t seq, bool chains,
			 struct vqcore_sg *sg, unsigned *flags)
{
	size_t flen;

	memset(p, 0, NET_HDR);
	flen = frame(seq, p + NET_HDR);
	*flags = 0;
	if (!chains) {
		sg[0] = (struct vqcore_sg){ gpa, (uint32_t)(NET_HDR + flen) };
		return 1;
	}
	sg[0] = (struct vqcore_sg){ gpa, NET_HDR };
	sg[1] = (struct vqcore_sg){ gpa + NET_HDR, (uint32_t)(flen / 2) };
	sg[2] = (struct vqcore_sg){ gpa + NET_HDR + flen / 2, (uint32_t)(flen - flen / 2) };
	if (seq & 1)
		*flags = VQCORE_ADD_INDIRECT;
	return 3;
}

static int vuc_echo(const char *sock, bool packed, unsigned n, bool swap, bool chains)
{
	struct vqcore_vuc_config cfg = {
		.sz = sizeof(cfg),
		.mem_size = 16 << 20,
		.num_queues = 2,
		.queue_size = QSIZE,
		.features = VQCORE_BIT(VQCORE_F_VERSION_1) | VQCORE_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			    VQCORE_BIT(VQCORE_F_EVENT_IDX) | VQCORE_BIT(VQCORE_F_INDIRECT_DESC) |
			    VQCORE_BIT(VQCORE_F_IN_ORDER) |
			    (packed ? VQCORE_BIT(VQCORE_F_RING_PACKED) : 0),
	};
	struct vqcore_vuc *c;
	struct vqcore_drvq *rx, *tx;
	uint8_t *rxm, *txm, want[MAX_FRAME], frm[MAX_FRAME];
	uint64_t rx_gpa, tx_gpa;
	unsigned sent = 0, got = 0, inflight = 0;
	const uint32_t rxbuf = chains ? RXBUF_SMALL : RXBUF;
	/* the frame being collected: its rx buffers so far and expected */
	unsigned nbufs = 0, want_bufs = 0, multi = 0;
	size_t flen = 0;
	int r;

	r = vqcore_vuc_connect(sock, &cfg, &c);
	if (r)
		die("connect %s: %ld", sock, r);
	if (vqcore_vuc_format(c) != (packed ? VQCORE_FORMAT_PACKED : VQCORE_FORMAT_SPLIT))
		die("%s: the backend did not take the ring format asked for%.0ld", sock, 0);
	r = vqcore_vuc_start(c);
	if (r)
		die("start %s: %ld", sock, r);
	rx = vqcore_vuc_queue(c, RXQ);
	tx = vqcore_vuc_queue(c, TXQ);
	rx_gpa = vqcore_vuc_alloc(c, (uint64_t)NRX * rxbuf, 4096, (void **)&rxm);
	tx_gpa = vqcore_vuc_alloc(c, (uint64_t)BURST * (NET_HDR + MAX_FRAME), 4096, (void **)&txm);
	if (!rx_gpa || !tx_gpa)
		die("%s: guest memory too small%.0ld", sock, 0);
	for (unsigned i = 0; i < NRX; i++) {
		struct vqcore_sg sg = { rx_gpa + (uint64_t)i * rxbuf, rxbuf };

		if (vqcore_drvq_add(rx, &sg, 0, 1, (void *)(uintptr_t)(i + 1), 0))
			die("%s: rx add %ld", sock, i);
	}
	vqcore_drvq_kick(rx);

	while (got < n) {
		void *tok;
		uint32_t len;
		int m;

		/* send while fewer than BURST frames are out (rx has room) */
		while (sent < n && inflight < BURST) {
			unsigned slot = sent % BURST, nsg, flags;
			uint8_t *p = txm + (size_t)slot * (NET_HDR + MAX_FRAME);
			struct vqcore_sg sg[3];

			nsg = tx_chain(tx_gpa + (uint64_t)slot * (NET_HDR + MAX_FRAME), p, sent,
				       chains, sg, &flags);
			if (vqcore_drvq_add(tx, sg, nsg, 0, (void *)(uintptr_t)(slot + 1), flags))
				break;
			sent++;
			inflight++;
		}
		vqcore_drvq_kick(tx);
		while (vqcore_drvq_get_used(tx, &tok, NULL, 1) == 1)
			;
		m = vqcore_drvq_get_used(rx, &tok, &len, 1);
		if (m < 0)
			die("%s: rx ring error %ld", sock, m);
		if (m == 0) {
			int w = vqcore_vuc_wait(c, RXQ, 10000);

			if (w < 0)
				die("%s: wait %ld", sock, w);
			if (w == 0)
				die("%s: frame %ld did not come back within 10 s", sock, got);
			continue;
		}
		{
			unsigned i = (unsigned)(uintptr_t)tok - 1;
			const uint8_t *b = rxm + (size_t)i * rxbuf;
			size_t wlen, off = 0;
			struct vqcore_sg sg = { rx_gpa + (uint64_t)i * rxbuf, rxbuf };

			if (i >= NRX || len > rxbuf)
				die("%s: bad rx used entry, length %ld", sock, len);
			if (nbufs == 0) {
				/* a frame's first buffer: the header and num_buffers */
				uint16_t nb;

				if (len < NET_HDR)
					die("%s: rx used entry of %ld bytes", sock, len);
				memcpy(&nb, b + 10, 2);
				if (nb < 1 || nb > NRX || (!chains && nb != 1))
					die("%s: frame in %ld rx buffers", sock, nb);
				want_bufs = nb;
				multi += nb > 1;
				flen = 0;
				off = NET_HDR;
			}
			if (flen + (len - off) > sizeof(frm))
				die("%s: frame %ld longer than any sent", sock, got);
			memcpy(frm + flen, b + off, len - off);
			flen += len - off;
			if (vqcore_drvq_add(rx, &sg, 0, 1, tok, 0))
				die("%s: rx re-add %ld", sock, i);
			vqcore_drvq_kick(rx);
			if (++nbufs < want_bufs)
				continue;
			nbufs = 0;
			wlen = frame(got, want);
			expect(want, swap);
			if (flen != wlen || memcmp(frm, want, wlen))
				die("%s: frame %ld came back wrong", sock, got);
			got++;
			inflight--;
		}
	}
	if (chains && !multi)
		die("%s: no frame came back over several rx buffers%.0ld", sock, 0);
	printf("netcheck: %u frames came back intact and in order (%s ring", n,
	       packed ? "packed" : "split");
	if (chains)
		printf(", %u over several rx buffers", multi);
	printf(")\n");
	vqcore_vuc_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "pcap-gen"))
		return pcap_gen(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "pcap-cmp"))
		return pcap_cmp(argv[2], argv[3], argc == 5 && !strcmp(argv[4], "macswap"));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "vuc-echo"))
		return vuc_echo(argv[2], !strcmp(argv[3], "packed"),
				(unsigned)strtoul(argv[4], NULL, 0), !strcmp(argv[5], "macswap"),
				argc == 7 && !strcmp(argv[6], "chains"));
	fprintf(stderr, "usage: netcheck pcap-gen FILE N | pcap-cmp SENT GOT [macswap] |"
		" vuc-echo SOCK split|packed N io|macswap [chains]\n");
	return 2;
}
