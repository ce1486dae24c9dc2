/* SPDX-License-Identifier: MIT */
/*
 * vhost-user message framing shared by the backend and the client: a
 * 12-byte header (request, flags, size) that carries any fds, then the
 * payload.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vhost-user/vu_priv.h"

int vu_send(int sock, uint32_t request, uint32_t flags, const void *payload,
	    uint32_t size, const int *fds, unsigned nfds)
{
	struct {
		struct vu_hdr h;
		uint8_t p[VU_PAYLOAD_MAX];
	} buf;

	if (size > VU_PAYLOAD_MAX)
		return -EINVAL;
	buf.h.request = request;
	buf.h.flags = flags;
	buf.h.size = size;
	if (size)
		memcpy(buf.p, payload, size);
	return vqcore_sock_send(sock, &buf, sizeof(buf.h) + size, fds, nfds);
}

void vu_close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

int vu_recv(int sock, struct vu_msg *m)
{
	unsigned extra = 0;
	int r;

	m->nfds = 0;
	r = vqcore_sock_recv(sock, &m->hdr, sizeof(m->hdr), m->fds,
			     VQCORE_MAX_FDS, &m->nfds);
	if (r < 0)
		return r;
	if ((m->hdr.flags & 0x3) != VQCORE_VU_VERSION ||
	    m->hdr.size > VU_PAYLOAD_MAX) {
		vq_warn("vhost-user: bad header (request %u flags %#x size %u)",
			m->hdr.request, m->hdr.flags, m->hdr.size);
		vu_close_fds(m);
		return -VQCORE_E_PROTO;
	}
	if (!m->hdr.size)
		return 0;
	/* fds belong with the header; any that come with the payload are
	 * closed by vqcore_sock_recv() and the stream is dropped. */
	r = vqcore_sock_recv(sock, m->p.raw, m->hdr.size, NULL, 0, &extra);
	if (r < 0) {
		vu_close_fds(m);
		return r;
	}
	return 0;
}
