/* SPDX-License-Identifier: MIT */
/*
 * vhost-user client: the driver side (like DPDK virtio-user).  It owns the
 * guest memory (one memfd region at GPA 0, mapped in this process; its
 * "user address" is our own mapping address), connects to a backend,
 * negotiates, and sets up rings with the driver-side queue API.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "abi_priv.h"
#include "vhost-user/vu_priv.h"
#include "vq_priv.h"

#define VUC_DEFAULT_MEM (16ull << 20)
#define VUC_MAX_INDIRECT 32 /* entries per indirect table */
#define VUC_PF_SUPPORTED                                                  \
	(VQCORE_BIT(VQCORE_VU_PF_MQ) | VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK) | \
	 VQCORE_BIT(VQCORE_VU_PF_CONFIG) |                                \
	 VQCORE_BIT(VQCORE_VU_PF_CONFIGURE_MEM_SLOTS) |                   \
	 VQCORE_BIT(VQCORE_VU_PF_LOG_SHMFD) | VQCORE_BIT(VQCORE_VU_PF_RARP))

struct vuc_queue {
	struct vqcore_drvq *dq;
	struct vqcore_ring_layout ring;
	int kick_fd;
	int call_fd;
	uint32_t base;            /* last base sent or returned by GET_VRING_BASE */
};

struct vqcore_vuc {
	int sock;
	struct vqcore_vuc_config cfg;
	int inflight_fd;          /* the backend's inflight area, kept for a restart */
	void *inflight_map;
	uint64_t inflight_size;
	struct vu_inflight inflight;
	struct vqcore_memfd mf;
	struct vqcore_mem *mem;
	uint64_t bump;
	uint64_t features;
	uint64_t pfeatures;
	unsigned format;
	unsigned nq;
	uint16_t qsize;
	bool started;
	struct vu_msg msg; /* reply buffer */
	struct vuc_queue q[];
};

/*
 * Send a request; when @reply is not NULL wait for the reply body of
 * @reply_size bytes (exact, unless @reply_size is ANY: then up to the
 * buffer).  Requests without a reply body wait for the REPLY_ACK status
 * when it is negotiated.  Returns 0, -EIO for a negative ack, or
 * -VQCORE_E_PROTO for a malformed reply.
 */
static int vuc_call(struct vqcore_vuc *c, uint32_t req, const void *payload,
		    uint32_t size, const int *fds, unsigned nfds, void *reply,
		    uint32_t *reply_size)
{
	bool ack = !reply && (c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK));
	uint32_t flags = VQCORE_VU_VERSION | (ack ? VQCORE_VU_FLAG_NEED_REPLY : 0);
	struct vu_msg *m = &c->msg;
	int r;

	r = vu_send(c->sock, req, flags, payload, size, fds, nfds);
	if (r)
		return r;
	if (!reply && !ack)
		return 0;
	r = vu_recv(c->sock, m);
	if (r)
		return r;
	vu_close_fds(m);
	if (m->hdr.request != req || !(m->hdr.flags & VQCORE_VU_FLAG_REPLY))
		return -VQCORE_E_PROTO;
	if (ack) {
		if (m->hdr.size != 8)
			return -VQCORE_E_PROTO;
		return m->p.u64 ? -EIO : 0;
	}
	/* (reply is set here: without it we returned above; the check
	 * says so to the compiler) */
	if (!reply || m->hdr.size > *reply_size)
		return -VQCORE_E_PROTO;
	*reply_size = m->hdr.size;
	memcpy(reply, m->p.raw, m->hdr.size);
	return 0;
}

static int vuc_get_u64(struct vqcore_vuc *c, uint32_t req, uint64_t *v)
{
	uint32_t sz = sizeof(*v);
	int r = vuc_call(c, req, NULL, 0, NULL, 0, v, &sz);

	if (!r && sz != sizeof(*v))
		r = -VQCORE_E_PROTO;
	return r;
}

static int vuc_set_u64(struct vqcore_vuc *c, uint32_t req, uint64_t v)
{
	return vuc_call(c, req, &v, sizeof(v), NULL, 0, NULL, NULL);
}

static int vuc_set_state(struct vqcore_vuc *c, uint32_t req, uint32_t idx,
			 uint32_t num)
{
	struct vu_state s = { idx, num };

	return vuc_call(c, req, &s, sizeof(s), NULL, 0, NULL, NULL);
}

static int vuc_negotiate(struct vqcore_vuc *c, const struct vqcore_vuc_config *cfg)
{
	uint64_t f, pf, nq;
	struct vu_memory mt;
	int r;

	r = vuc_call(c, VQCORE_VU_SET_OWNER, NULL, 0, NULL, 0, NULL, NULL);
	if (!r)
		r = vuc_get_u64(c, VQCORE_VU_GET_FEATURES, &f);
	if (r)
		return r;
	c->features = f & cfg->features;
	if (f & VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES)) {
		uint64_t supported = VUC_PF_SUPPORTED;
		uint64_t want;

		if (cfg->flags & VQCORE_VUC_INFLIGHT)
			supported |= VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD);
		want = cfg->protocol_features ? cfg->protocol_features : supported;

		c->features |= VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES);
		r = vuc_get_u64(c, VQCORE_VU_GET_PROTOCOL_FEATURES, &pf);
		if (r)
			return r;
		pf &= want & supported;
		r = vuc_set_u64(c, VQCORE_VU_SET_PROTOCOL_FEATURES, pf);
		if (r)
			return r;
		c->pfeatures = pf;
	}
	if (c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_MQ)) {
		r = vuc_get_u64(c, VQCORE_VU_GET_QUEUE_NUM, &nq);
		if (r)
			return r;
		if (nq < c->nq)
			return -ENOTSUP;
	}
	r = vuc_set_u64(c, VQCORE_VU_SET_FEATURES, c->features);
	if (r)
		return r;
	c->format = vq_format_of_features(c->features);
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.regions[0].gpa = 0;
	mt.regions[0].size = c->mf.size;
	mt.regions[0].uva = (uint64_t)(uintptr_t)c->mf.hva;
	mt.regions[0].mmap_offset = 0;
	return vuc_call(c, VQCORE_VU_SET_MEM_TABLE, &mt,
			8 + sizeof(struct vu_region_desc), &c->mf.fd, 1, NULL, NULL);
}

int vqcore_vuc_connect_fd(int sock, const struct vqcore_vuc_config *cfg,
			  struct vqcore_vuc **out)
{
	struct vqcore_mem_region mr;
	struct vqcore_vuc *c;
	unsigned nq;
	int r;

	struct vqcore_vuc_config cc;

	r = vq_struct_in(&cc, sizeof(cc), cfg);
	if (!r && (sock < 0 || !out || !cc.num_queues ||
		   cc.num_queues > VQCORE_VU_MAX_QUEUES))
		r = -EINVAL;
	if (r) {
		if (sock >= 0)
			close(sock);
		return r;
	}
	cfg = &cc;
	nq = cfg->num_queues;
	c = vq_calloc(1, sizeof(*c) + nq * sizeof(struct vuc_queue));
	if (!c) {
		close(sock);
		return -ENOMEM;
	}
	c->sock = sock;
	c->cfg = *cfg;
	c->inflight_fd = -1;
	c->nq = nq;
	c->qsize = cfg->queue_size ? cfg->queue_size : 256;
	c->mf.fd = -1;
	for (unsigned i = 0; i < nq; i++)
		c->q[i].kick_fd = c->q[i].call_fd = -1;
	r = vqcore_memfd_map("vqcore-guest", cfg->mem_size ? cfg->mem_size : VUC_DEFAULT_MEM,
			     (cfg->flags & VQCORE_VUC_HUGETLB) ? VQCORE_MEMFD_HUGETLB : 0,
			     &c->mf);
	if (r)
		goto fail;
	c->mem = vqcore_mem_new();
	if (!c->mem) {
		r = -ENOMEM;
		goto fail;
	}
	mr = (struct vqcore_mem_region){ .gpa = 0, .size = c->mf.size, .hva = c->mf.hva,
					 .fd = c->mf.fd, .fd_offset = 0 };
	r = vqcore_mem_add(c->mem, &mr);
	if (r)
		goto fail;
	c->bump = 4096; /* GPA 0 is never handed out */
	r = vuc_negotiate(c, cfg);
	if (r)
		goto fail;
	*out = c;
	return 0;
fail:
	vqcore_vuc_free(c);
	return r;
}

/* Connect to @path, retrying for about @tries * 100 ms while it is absent
 * or refuses.  Returns the socket or -errno. */
static int vuc_sock_connect(const char *path, int tries_max)
{
	struct sockaddr_un sa;
	size_t n = path ? strlen(path) : 0;
	int s;

	if (!n || n >= sizeof(sa.sun_path))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	for (int tries = 0;; tries++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		int r;

		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		r = -errno;
		if ((r != -ENOENT && r != -ECONNREFUSED) || tries >= tries_max) {
			close(s);
			return r;
		}
		nanosleep(&ts, NULL);
	}
	return s;
}

int vqcore_vuc_connect(const char *path, const struct vqcore_vuc_config *cfg,
		       struct vqcore_vuc **out)
{
	int s = vuc_sock_connect(path, 10);

	if (s < 0)
		return s;
	return vqcore_vuc_connect_fd(s, cfg, out);
}

uint64_t vqcore_vuc_alloc(struct vqcore_vuc *c, uint64_t size, uint64_t align,
			  void **hva)
{
	uint64_t gpa, end;

	if (!align)
		align = 64;
	if (!size || (align & (align - 1)))
		return 0;
	gpa = VQ_ALIGN_UP(c->bump, align);
	if (gpa < c->bump || vq_add_overflow(gpa, size, &end) || end > c->mf.size)
		return 0;
	c->bump = end;
	if (hva)
		*hva = (uint8_t *)c->mf.hva + gpa;
	return gpa;
}

void *vqcore_vuc_hva(const struct vqcore_vuc *c, uint64_t gpa, uint64_t len)
{
	if (gpa >= c->mf.size || len > c->mf.size - gpa)
		return NULL;
	return (uint8_t *)c->mf.hva + gpa;
}

static int vuc_send_vring(struct vqcore_vuc *c, unsigned i, uint32_t base);

static int vuc_start_queue(struct vqcore_vuc *c, unsigned i)
{
	struct vuc_queue *q = &c->q[i];
	struct vqcore_drvq_config dc;
	struct vqcore_ring_layout lay;
	uint64_t gpa, base;
	int r;

	r = vqcore_ring_layout(c->format, c->qsize, 0, &lay);
	if (r)
		return r;
	gpa = vqcore_vuc_alloc(c, lay.size, 4096, NULL);
	if (!gpa)
		return -ENOMEM;
	r = vqcore_ring_layout(c->format, c->qsize, gpa, &q->ring);
	if (r)
		return r;
	q->kick_fd = vqcore_eventfd_new();
	q->call_fd = vqcore_eventfd_new();
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -EMFILE;
	memset(&dc, 0, sizeof(dc));
	dc.sz = sizeof(dc);
	dc.format = c->format;
	dc.num = c->qsize;
	dc.features = c->features;
	dc.mem = c->mem;
	dc.ring = q->ring;
	dc.kick_fd = q->kick_fd;
	if (c->features & VQCORE_BIT(VQCORE_F_INDIRECT_DESC)) {
		/* room for one table per ring entry (VQCORE_ADD_INDIRECT) */
		dc.max_indirect = VUC_MAX_INDIRECT;
		dc.indirect_gpa = vqcore_vuc_alloc(c, (uint64_t)c->qsize *
						   VUC_MAX_INDIRECT * 16, 4096, NULL);
		if (!dc.indirect_gpa)
			return -ENOMEM;
	}
	r = vqcore_drvq_new(&dc, &q->dq);
	if (r)
		return r;
	base = q->dq->ops->base_encode(q->dq->ops->start_pos);
	q->base = (uint32_t)base;
	return vuc_send_vring(c, i, (uint32_t)base);
}

/* Configure vring @i in the backend: NUM, BASE, ADDR, CALL, KICK, ENABLE. */
static int vuc_send_vring(struct vqcore_vuc *c, unsigned i, uint32_t base)
{
	struct vuc_queue *q = &c->q[i];
	uintptr_t hva0 = (uintptr_t)c->mf.hva;
	struct vu_addr a;
	int r;

	r = vuc_set_state(c, VQCORE_VU_SET_VRING_NUM, i, c->qsize);
	if (!r)
		r = vuc_set_state(c, VQCORE_VU_SET_VRING_BASE, i, (uint32_t)base);
	if (r)
		return r;
	memset(&a, 0, sizeof(a));
	a.index = i;
	a.desc = hva0 + q->ring.desc;
	a.avail = hva0 + q->ring.driver;
	a.used = hva0 + q->ring.device;
	a.log = q->ring.device;
	r = vuc_call(c, VQCORE_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, NULL);
	if (!r) {
		uint64_t v = i;

		r = vuc_call(c, VQCORE_VU_SET_VRING_CALL, &v, sizeof(v), &q->call_fd, 1,
			     NULL, NULL);
		if (!r)
			r = vuc_call(c, VQCORE_VU_SET_VRING_KICK, &v, sizeof(v),
				     &q->kick_fd, 1, NULL, NULL);
	}
	if (!r && (c->features & VQCORE_BIT(VQCORE_VU_F_PROTOCOL_FEATURES)))
		r = vuc_set_state(c, VQCORE_VU_SET_VRING_ENABLE, i, 1);
	return r;
}

/* GET_INFLIGHT_FD: the backend creates the area; keep its fd and map it. */
static int vuc_get_inflight(struct vqcore_vuc *c)
{
	struct vu_inflight in = { .num_queues = (uint16_t)c->nq, .queue_size = c->qsize };
	struct vu_msg *m = &c->msg;
	uint64_t end, fsize;
	void *p;
	int r;

	r = vu_send(c->sock, VQCORE_VU_GET_INFLIGHT_FD, VQCORE_VU_VERSION, &in,
		    sizeof(in), NULL, 0);
	if (!r)
		r = vu_recv(c->sock, m);
	if (r)
		return r;
	if (m->hdr.request != VQCORE_VU_GET_INFLIGHT_FD || m->hdr.size != sizeof(in) ||
	    m->nfds != 1 || !m->p.inflight.mmap_size) {
		vu_close_fds(m);
		return -VQCORE_E_PROTO;
	}
	in = m->p.inflight;
	/* the area must be mappable and inside its file (reading past the
	 * end of a shared file raises SIGBUS) */
	if (vq_add_overflow(in.mmap_size, in.mmap_offset, &end) || end > (uint64_t)SIZE_MAX ||
	    vqcore_fd_size(m->fds[0], &fsize) < 0 || fsize < end) {
		vu_close_fds(m);
		return -VQCORE_E_PROTO;
	}
	p = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0], 0);
	if (p == MAP_FAILED) {
		r = -errno;
		vu_close_fds(m);
		return r;
	}
	c->inflight_fd = m->fds[0];
	c->inflight_map = p;
	c->inflight_size = end;
	c->inflight = in;
	return 0;
}

static int vuc_set_inflight(struct vqcore_vuc *c)
{
	return vuc_call(c, VQCORE_VU_SET_INFLIGHT_FD, &c->inflight, sizeof(c->inflight),
			&c->inflight_fd, 1, NULL, NULL);
}

int vqcore_vuc_start(struct vqcore_vuc *c)
{
	if (c->started)
		return -EBUSY;
	if (c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD)) {
		int r = vuc_get_inflight(c);

		if (!r)
			r = vuc_set_inflight(c);
		if (r)
			return r;
	}
	for (unsigned i = 0; i < c->nq; i++) {
		int r = vuc_start_queue(c, i);

		if (r)
			return r;
	}
	c->started = true;
	return 0;
}

int vqcore_vuc_stop(struct vqcore_vuc *c, unsigned qidx, uint32_t *base)
{
	struct vu_state s = { qidx, 0 }, rs;
	uint32_t sz = sizeof(rs);
	int r;

	if (qidx >= c->nq)
		return -EINVAL;
	r = vuc_call(c, VQCORE_VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &rs, &sz);
	if (r)
		return r;
	if (sz != sizeof(rs) || rs.index != qidx)
		return -VQCORE_E_PROTO;
	c->q[qidx].base = rs.num;
	if (base)
		*base = rs.num;
	return 0;
}

int vqcore_vuc_resume(struct vqcore_vuc *c, unsigned qidx)
{
	if (!c->started || qidx >= c->nq)
		return -EINVAL;
	return vuc_send_vring(c, qidx, c->q[qidx].base);
}

void vqcore_vuc_free(struct vqcore_vuc *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	for (unsigned i = 0; i < c->nq; i++) {
		vqcore_drvq_free(c->q[i].dq);
		if (c->q[i].kick_fd >= 0)
			close(c->q[i].kick_fd);
		if (c->q[i].call_fd >= 0)
			close(c->q[i].call_fd);
	}
	if (c->inflight_map)
		munmap(c->inflight_map, c->inflight_size);
	if (c->inflight_fd >= 0)
		close(c->inflight_fd);
	vqcore_mem_free(c->mem);
	vqcore_memfd_unmap(&c->mf);
	vq_free(c);
}

struct vqcore_drvq *vqcore_vuc_queue(const struct vqcore_vuc *c, unsigned qidx)
{
	return qidx < c->nq ? c->q[qidx].dq : NULL;
}

int vqcore_vuc_call_fd(const struct vqcore_vuc *c, unsigned qidx)
{
	return qidx < c->nq ? c->q[qidx].call_fd : -1;
}

int vqcore_vuc_wait(struct vqcore_vuc *c, unsigned qidx, int timeout_ms)
{
	struct pollfd p;
	int r;

	if (qidx >= c->nq || c->q[qidx].call_fd < 0)
		return -EINVAL;
	p.fd = c->q[qidx].call_fd;
	p.events = POLLIN;
	/* re-arm interrupts (publishes used_event with EVENT_IDX); buffers
	 * used before that would not signal */
	if (c->q[qidx].dq && vqcore_drvq_enable_cb(c->q[qidx].dq)) {
		vqcore_eventfd_drain(p.fd);
		return 1;
	}
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (!r)
		return 0;
	vqcore_eventfd_drain(p.fd);
	return 1;
}

struct vqcore_mem *vqcore_vuc_mem(const struct vqcore_vuc *c)
{
	return c->mem;
}

uint64_t vqcore_vuc_features(const struct vqcore_vuc *c)
{
	return c->features;
}

uint64_t vqcore_vuc_protocol_features(const struct vqcore_vuc *c)
{
	return c->pfeatures;
}

unsigned vqcore_vuc_format(const struct vqcore_vuc *c)
{
	return c->format;
}

int vqcore_vuc_sock(const struct vqcore_vuc *c)
{
	return c->sock;
}

int vqcore_vuc_get_config(struct vqcore_vuc *c, uint32_t offset, void *buf,
			  uint32_t len)
{
	struct vu_config req, rep;
	uint32_t sz = sizeof(rep);
	int r;

	if (!(c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_CONFIG)))
		return -ENOTSUP;
	if (!len || len > VQCORE_VU_CONFIG_MAX)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.offset = offset;
	req.size = len;
	r = vuc_call(c, VQCORE_VU_GET_CONFIG, &req, VU_CONFIG_HDR + len, NULL, 0,
		     &rep, &sz);
	if (r)
		return r;
	if (sz != VU_CONFIG_HDR + len || rep.size != len)
		return -EIO; /* an empty reply is the backend's error */
	memcpy(buf, rep.payload, len);
	return 0;
}

int vqcore_vuc_set_config(struct vqcore_vuc *c, uint32_t offset, const void *buf,
			  uint32_t len, uint32_t flags)
{
	struct vu_config req;

	if (!(c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_CONFIG)))
		return -ENOTSUP;
	if (!len || len > VQCORE_VU_CONFIG_MAX)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.offset = offset;
	req.size = len;
	req.flags = flags;
	memcpy(req.payload, buf, len);
	return vuc_call(c, VQCORE_VU_SET_CONFIG, &req, VU_CONFIG_HDR + len, NULL, 0,
			NULL, NULL);
}

/*
 * The base sent to a restarted backend for queue @i: what QEMU sends after
 * a backend crash, since a front-end cannot read the back-end's position.
 * Where the ring shows the used position (split: the used index), that
 * (QEMU's last_avail_idx restored from it).  Elsewhere (packed) the base
 * the queue was last started with or stopped at (0x80008000 for a packed
 * ring started fresh): stale; the backend must resume at the position its
 * inflight area recorded.
 */
static uint32_t vuc_resume_base(struct vqcore_vuc *c, unsigned i)
{
	const struct vqcore_drvq *dq = c->q[i].dq;
	uint32_t pos;

	if (dq->ops->drv_ring_used && !dq->ops->drv_ring_used(dq, &pos))
		return dq->ops->base_encode(pos);
	return c->q[i].base;
}

int vqcore_vuc_reconnect(struct vqcore_vuc *c, const char *path, int timeout_ms)
{
	uint64_t features = c->features;
	int s, r;

	if (!c->started)
		return -EINVAL;
	s = vuc_sock_connect(path, timeout_ms / 100);
	if (s < 0)
		return s;
	close(c->sock);
	c->sock = s;
	c->pfeatures = 0;
	r = vuc_negotiate(c, &c->cfg);
	if (r)
		return r;
	if (c->features != features)
		return -ENOTSUP; /* the rings were set up for other features */
	if (c->inflight_fd >= 0) {
		if (!(c->pfeatures & VQCORE_BIT(VQCORE_VU_PF_INFLIGHT_SHMFD)))
			return -ENOTSUP;
		r = vuc_set_inflight(c);
		if (r)
			return r;
	}
	for (unsigned i = 0; i < c->nq; i++) {
		r = vuc_send_vring(c, i, vuc_resume_base(c, i));
		if (r)
			return r;
	}
	return 0;
}
