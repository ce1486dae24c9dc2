/* SPDX-License-Identifier: MIT */
/*
 * Description: the sized-struct rule of include/vqcore/common.h, for every
 * struct that begins with "size_t sz": an older, smaller struct is
 * accepted and what it does not reach reads as 0 (the bytes past its sz
 * hold values the call would refuse, so reading them would fail the call);
 * the same size is accepted; a larger struct with a zero tail is accepted;
 * a non-zero tail gets -E2BIG; sz below the sz member gets -EINVAL.  The
 * stats getters follow the same rule on output (min(sz, size) bytes
 * written, sz set to that count, a refused struct untouched).  The 0.1
 * stats getters (no sz) still exist: directly, and in libvqcore.so under
 * the VQCORE_0.1 version.
 */
#include <check.h>
#include "vqtest.h"
#include "vu_harness.h"
#include <dlfcn.h>
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi_priv.h"
#include "vqcore/vqcore.h"

#define TAIL 16 /* bytes a "newer" caller's struct has past ours */
#define POOL_BASE 0x100000000ull
#define PG VQCORE_PAGEPOOL_PAGE

/* A caller's struct of any size, aligned for every member. */
union ubuf {
	max_align_t align;
	unsigned char b[1024];
};

enum variant { OLDER, SAME, LARGER_ZERO, LARGER_NONZERO, SZ_TOO_SMALL, NVARIANTS };

static const char *variant_name[] = { "older", "same", "larger-zero-tail",
				      "larger-nonzero-tail", "sz-too-small" };

static void set_sz(union ubuf *u, size_t sz)
{
	memcpy(u->b, &sz, sizeof(sz));
}

/*
 * Build the caller's struct of @size bytes (valid contents from @fill) in
 * the shape @v, with @cut the end of the older struct and @poison writing
 * values the call refuses into the members past it.
 */
static void shape(union ubuf *u, enum variant v, size_t size, size_t cut,
		  void (*fill)(void *), void (*poison)(void *))
{
	ck_assert_uint_le(size + TAIL, sizeof(u->b));
	memset(u->b, 0, sizeof(u->b));
	fill(u->b);
	set_sz(u, size);
	switch (v) {
	case OLDER:
		poison(u->b);
		set_sz(u, cut);
		break;
	case SAME:
		break;
	case LARGER_ZERO:
		set_sz(u, size + TAIL);
		break;
	case LARGER_NONZERO:
		set_sz(u, size + TAIL);
		u->b[size + TAIL - 1] = 1;
		break;
	default:
		set_sz(u, v == SZ_TOO_SMALL ? sizeof(size_t) - 1 : 0);
		break;
	}
}

static int expect(enum variant v)
{
	if (v == LARGER_NONZERO)
		return -E2BIG;
	if (v == SZ_TOO_SMALL)
		return -EINVAL;
	return 0;
}

/* ---- the helpers themselves ---------------------------------------- */

START_TEST(struct_in_zero_fills)
{
	struct s3 {
		size_t sz;
		uint32_t a, b, c;
	} d;
	union ubuf u;

	memset(&u, 0xee, sizeof(u));
	set_sz(&u, offsetof(struct s3, b));
	memset(&d, 0x77, sizeof(d));
	ck_assert_int_eq(vq_struct_in(&d, sizeof(d), u.b), 0);
	ck_assert_uint_eq(d.sz, sizeof(d));
	ck_assert_uint_eq(d.a, 0xeeeeeeee);
	ck_assert_uint_eq(d.b, 0);
	ck_assert_uint_eq(d.c, 0);
	/* refused: the library's copy is all zero */
	set_sz(&u, sizeof(d) + 1);
	ck_assert_int_eq(vq_struct_in(&d, sizeof(d), u.b), -E2BIG);
	ck_assert_uint_eq(d.sz, 0);
	ck_assert_uint_eq(d.a, 0);
	ck_assert_int_eq(vq_struct_in(&d, sizeof(d), NULL), -EINVAL);
}
END_TEST

/* ---- input structs ---------------------------------------------------- */

static struct vqt T; /* memory, ring area and a driver queue for the cases */
static int sock_pair[2];

static void fixture_up(void)
{
	vqt_setup(&T, VQCORE_FORMAT_SPLIT, 16, VQT_F_BASE, 0);
}

static void fixture_down(void)
{
	vqt_teardown(&T);
}

/* vqcore_vq_config: an older struct without @index (log lines only) */
static void vq_fill(void *p)
{
	struct vqcore_vq_config *c = p;

	c->format = VQCORE_FORMAT_SPLIT;
	c->num = 16;
	c->features = VQT_F_BASE;
	c->mem = T.mem;
	c->desc_gpa = T.ring.desc + 0x10000;
	c->driver_gpa = T.ring.driver + 0x10000;
	c->device_gpa = T.ring.device + 0x10000;
	c->call_fd = -1;
	c->index = 3;
}

static void vq_poison(void *p)
{
	((struct vqcore_vq_config *)p)->index = 0xdead;
}

static int vq_call(void *p)
{
	struct vqcore_vq *vq = NULL;
	int r = vqcore_vq_new(p, &vq);

	if (!r) {
		ck_assert_uint_eq(vqcore_vq_num(vq), 16);
		vqcore_vq_free(vq);
	}
	return r;
}

/* vqcore_drvq_config: an older struct without indirect tables or kick fd
 * (an indirect area without a table size is refused) */
static void drvq_fill(void *p)
{
	struct vqcore_drvq_config *c = p;

	c->format = VQCORE_FORMAT_SPLIT;
	c->num = 16;
	c->features = VQT_F_BASE;
	c->mem = T.mem;
	ck_assert_int_eq(vqcore_ring_layout(c->format, 16, VQT_REGION_A + 0x20000, &c->ring), 0);
	c->kick_fd = -1;
}

static void drvq_poison(void *p)
{
	struct vqcore_drvq_config *c = p;

	c->indirect_gpa = VQT_DATA;
	c->max_indirect = 0;
	c->kick_fd = -1;
}

static int drvq_call(void *p)
{
	struct vqcore_drvq *dq = NULL;
	int r = vqcore_drvq_new(p, &dq);

	if (!r)
		vqcore_drvq_free(dq);
	return r;
}

/* vqcore_balloon_config: an older struct without @max_sg and what
 * follows (a @max_sg above the maximum is refused) */
static void balloon_fill(void *p)
{
	struct vqcore_balloon_config *c = p;

	c->dq = T.dq;
	c->call_fd = -1;
	c->max_sg = 8;
}

static void balloon_poison(void *p)
{
	struct vqcore_balloon_config *c = p;

	c->max_sg = VQCORE_REPORTER_MAX_CAPACITY + 1;
	c->translate = (void *)1;
}

static int balloon_call(void *p)
{
	struct vqcore_balloon *b = NULL;
	int r = vqcore_balloon_new(p, &b);

	if (!r)
		vqcore_balloon_free(b);
	return r;
}

/* vqcore_pagepool_opts: an older struct of sz alone (an order above the
 * maximum is refused; 0 is the default) */
static void pool_fill(void *p)
{
	((struct vqcore_pagepool_opts *)p)->max_order = 4;
}

static void pool_poison(void *p)
{
	((struct vqcore_pagepool_opts *)p)->max_order = VQCORE_PAGEPOOL_MAX_ORDER + 1;
}

static int pool_call(void *p)
{
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct vqcore_pagepool *pool = NULL;
	size_t sz;
	int r = vqcore_pagepool_new(POOL_BASE, 64 * PG, p, &pool);

	if (!r) {
		memcpy(&sz, p, sizeof(sz));
		ck_assert_int_eq(vqcore_pagepool_get_stats(pool, &st), 0);
		ck_assert_uint_eq(st.max_order, sz == sizeof(size_t) ?
				  VQCORE_PAGEPOOL_DEFAULT_ORDER : 4);
		vqcore_pagepool_destroy(pool);
	}
	return r;
}

/* vqcore_reporter_opts, for vqcore_reporter_new() and
 * vqcore_balloon_reporter_new(): an older struct without @capacity and
 * what follows (a capacity above the maximum is refused) */
static void ropts_fill(void *p)
{
	struct vqcore_reporter_opts *o = p;

	o->order = 2;
	o->capacity = 4;
}

static void ropts_poison(void *p)
{
	struct vqcore_reporter_opts *o = p;

	o->capacity = VQCORE_REPORTER_MAX_CAPACITY + 1;
	o->flags = 0x80;
	o->notify = (void (*)(void *))1;
}

static int sink(void *opaque, const struct vqcore_report_sg *sg, unsigned n)
{
	return 0;
}

static int ropts_call(void *p)
{
	struct vqcore_pagepool *pool;
	struct vqcore_report_source src;
	struct vqcore_reporter *r = NULL;
	int ret;

	ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, 64 * PG, NULL, &pool), 0);
	vqcore_pagepool_report_source(pool, &src);
	ret = vqcore_reporter_new(&src, sink, NULL, p, &r);
	if (!ret)
		vqcore_reporter_destroy(r);
	vqcore_pagepool_destroy(pool);
	return ret;
}

static int bropts_call(void *p)
{
	struct vqcore_balloon_config bc = { .sz = sizeof(bc), .call_fd = -1 };
	struct vqcore_pagepool *pool;
	struct vqcore_report_source src;
	struct vqcore_reporter *r = NULL;
	struct vqcore_balloon *b;
	int ret;

	bc.dq = T.dq;
	ck_assert_int_eq(vqcore_balloon_new(&bc, &b), 0);
	ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, 64 * PG, NULL, &pool), 0);
	vqcore_pagepool_report_source(pool, &src);
	ret = vqcore_balloon_reporter_new(b, &src, p, &r);
	if (!ret)
		vqcore_reporter_destroy(r);
	vqcore_balloon_free(b);
	vqcore_pagepool_destroy(pool);
	return ret;
}

/* vqcore_vu_ops: an older struct without callbacks (never called here:
 * no front-end speaks on the socket) */
static void vuops_fill(void *p)
{
}

static void vuops_poison(void *p)
{
	((struct vqcore_vu_ops *)p)->kick = (void *)1;
}

static int vuops_call(void *p)
{
	struct vqcore_vu_dev *dev = NULL;
	int r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock_pair), 0);
	r = vqcore_vu_new_fd(sock_pair[0], 0, 1, VQCORE_BIT(VQCORE_F_VERSION_1), p, NULL, &dev);
	if (!r)
		vqcore_vu_free(dev);
	else
		close(sock_pair[0]);
	close(sock_pair[1]);
	return r;
}

struct in_case {
	const char *name;
	size_t size;
	size_t cut;
	void (*fill)(void *);
	void (*poison)(void *);
	int (*call)(void *);
};

static const struct in_case in_cases[] = {
	{ "vqcore_vq_config", sizeof(struct vqcore_vq_config),
	  offsetof(struct vqcore_vq_config, index), vq_fill, vq_poison, vq_call },
	{ "vqcore_drvq_config", sizeof(struct vqcore_drvq_config),
	  offsetof(struct vqcore_drvq_config, indirect_gpa), drvq_fill, drvq_poison, drvq_call },
	{ "vqcore_balloon_config", sizeof(struct vqcore_balloon_config),
	  offsetof(struct vqcore_balloon_config, max_sg), balloon_fill, balloon_poison,
	  balloon_call },
	{ "vqcore_pagepool_opts", sizeof(struct vqcore_pagepool_opts), sizeof(size_t),
	  pool_fill, pool_poison, pool_call },
	{ "vqcore_reporter_opts", sizeof(struct vqcore_reporter_opts),
	  offsetof(struct vqcore_reporter_opts, capacity), ropts_fill, ropts_poison,
	  ropts_call },
	{ "vqcore_reporter_opts (balloon)", sizeof(struct vqcore_reporter_opts),
	  offsetof(struct vqcore_reporter_opts, capacity), ropts_fill, ropts_poison,
	  bropts_call },
	{ "vqcore_vu_ops", sizeof(struct vqcore_vu_ops),
	  offsetof(struct vqcore_vu_ops, set_features), vuops_fill, vuops_poison, vuops_call },
};
#define N_IN (sizeof(in_cases) / sizeof(in_cases[0]))

START_TEST(input_struct)
{
	const struct in_case *c = &in_cases[_i / NVARIANTS];
	enum variant v = _i % NVARIANTS;
	union ubuf u;
	int r;

	shape(&u, v, c->size, c->cut, c->fill, c->poison);
	r = c->call(u.b);
	if (r != expect(v))
		ck_abort_msg("%s, %s struct: %d (%s), expected %d", c->name,
			     variant_name[v], r, vqcore_strerror(r), expect(v));
	/* the poisoned members alone are refused: the older case means it */
	if (v == OLDER) {
		shape(&u, SAME, c->size, c->cut, c->fill, c->poison);
		c->poison(u.b);
		ck_assert_msg(c->call(u.b) != 0 || c->call == vq_call || c->call == vuops_call,
			      "%s: the poison is accepted", c->name);
	}
}
END_TEST

/*
 * vqcore_vuc_config and vqcore_vu_ops over a real connection: an older
 * client config without @protocol_features gets every protocol feature
 * (0 = all), and an older ops struct without @get_config has none, so
 * CONFIG is not offered although the bytes past its sz point somewhere.
 */
static void vuc_fill(void *p)
{
	struct vqcore_vuc_config *c = p;

	c->num_queues = 1;
	c->features = VQCORE_BIT(VQCORE_F_VERSION_1);
	c->protocol_features = VQCORE_BIT(VQCORE_VU_PF_MQ);
}

static void vuc_poison(void *p)
{
	((struct vqcore_vuc_config *)p)->protocol_features = VQCORE_BIT(VQCORE_VU_PF_MQ);
}

static int noconfig(struct vqcore_vu_dev *dev, uint32_t off, void *buf, uint32_t len)
{
	ck_abort_msg("get_config past the ops struct's sz was called");
	return -1;
}

START_TEST(vuc_config_and_ops_over_a_connection)
{
	enum variant v = _i;
	struct vu_harness h;
	struct vqcore_vuc *c = NULL;
	union ubuf ops, cfg;
	int r;

	memset(&ops, 0, sizeof(ops));
	((struct vqcore_vu_ops *)ops.b)->get_config = noconfig;
	set_sz(&ops, offsetof(struct vqcore_vu_ops, get_config));
	ck_assert_int_eq(vu_harness_start(&h, 0, 1, VQCORE_BIT(VQCORE_F_VERSION_1),
					  (void *)ops.b, NULL), 0);
	shape(&cfg, v, sizeof(struct vqcore_vuc_config),
	      offsetof(struct vqcore_vuc_config, protocol_features), vuc_fill, vuc_poison);
	if (v == OLDER)
		((struct vqcore_vuc_config *)cfg.b)->protocol_features = VQCORE_BIT(VQCORE_VU_PF_MQ);
	r = vqcore_vuc_connect(h.path, (void *)cfg.b, &c);
	ck_assert_msg(r == expect(v), "%s: %d", variant_name[v], r);
	if (!r) {
		uint64_t pf = vqcore_vuc_protocol_features(c);

		ck_assert(!(pf & VQCORE_BIT(VQCORE_VU_PF_CONFIG)));
		if (v == OLDER)
			ck_assert(pf & VQCORE_BIT(VQCORE_VU_PF_REPLY_ACK));
		else
			ck_assert_uint_eq(pf, VQCORE_BIT(VQCORE_VU_PF_MQ));
		vqcore_vuc_free(c);
	}
	vu_harness_stop(&h);
}
END_TEST

/* ---- stats structs ---------------------------------------------------- */

static struct vqcore_pagepool *S_pool;
static struct vqcore_reporter *S_rep;
static struct vqcore_balloon *S_bl;

static void stats_up(void)
{
	struct vqcore_balloon_config bc = { .sz = sizeof(bc), .call_fd = -1 };
	struct vqcore_report_source src;
	uint64_t a;

	fixture_up();
	ck_assert_int_eq(vqcore_pagepool_new(POOL_BASE, 64 * PG, NULL, &S_pool), 0);
	/* non-zero counters everywhere the test compares */
	ck_assert_int_eq(vqcore_pagepool_alloc(S_pool, 0, &a), 0);
	vqcore_pagepool_report_source(S_pool, &src);
	ck_assert_int_eq(vqcore_reporter_new(&src, sink, NULL, NULL, &S_rep), 0);
	vqcore_reporter_request(S_rep);
	bc.dq = T.dq;
	ck_assert_int_eq(vqcore_balloon_new(&bc, &S_bl), 0);
}

static void stats_down(void)
{
	vqcore_balloon_free(S_bl);
	vqcore_reporter_destroy(S_rep);
	vqcore_pagepool_destroy(S_pool);
	fixture_down();
}

static int get_pool(void *st)
{
	return vqcore_pagepool_get_stats(S_pool, st);
}

static int get_rep(void *st)
{
	return vqcore_reporter_get_stats(S_rep, st);
}

static int get_bl(void *st)
{
	return vqcore_balloon_get_stats(S_bl, st);
}

struct out_case {
	const char *name;
	size_t size;
	size_t cut; /* an older struct: sz up to this member */
	int (*get)(void *);
	void (*compat)(void *);
	size_t first, old_len; /* 0.1's struct: the members from @first on */
};

static void compat_pool(void *st)
{
	vq_compat01_pagepool_get_stats(S_pool, st);
}

static void compat_rep(void *st)
{
	vq_compat01_reporter_get_stats(S_rep, st);
}

static void compat_bl(void *st)
{
	vq_compat01_balloon_get_stats(S_bl, st);
}

#define OLD(type, first, last)                                          \
	offsetof(type, first), offsetof(type, last) + sizeof(((type *)0)->last) - \
				       offsetof(type, first)

static const struct out_case out_cases[] = {
	{ "vqcore_pagepool_stats", sizeof(struct vqcore_pagepool_stats),
	  offsetof(struct vqcore_pagepool_stats, free_bytes), get_pool, compat_pool,
	  OLD(struct vqcore_pagepool_stats, nr_free, max_order) },
	{ "vqcore_reporter_stats", sizeof(struct vqcore_reporter_stats),
	  offsetof(struct vqcore_reporter_stats, passes), get_rep, compat_rep,
	  OLD(struct vqcore_reporter_stats, requests, bytes) },
	{ "vqcore_balloon_stats", sizeof(struct vqcore_balloon_stats),
	  offsetof(struct vqcore_balloon_stats, bytes), get_bl, compat_bl,
	  OLD(struct vqcore_balloon_stats, reports, late) },
};
#define N_OUT (sizeof(out_cases) / sizeof(out_cases[0]))

START_TEST(stats_struct)
{
	const struct out_case *c = &out_cases[_i / NVARIANTS];
	enum variant v = _i % NVARIANTS;
	union ubuf full, u, before;
	size_t sz, want_sz;
	int r;

	memset(&full, 0, sizeof(full));
	set_sz(&full, c->size);
	ck_assert_int_eq(c->get(full.b), 0);
	/* the caller's struct: sentinel bytes wherever the library must not
	 * write, the rule's sz and tail */
	memset(&u, 0xa5, sizeof(u));
	switch (v) {
	case OLDER:
		sz = c->cut;
		break;
	case SAME:
		sz = c->size;
		break;
	case LARGER_ZERO:
	case LARGER_NONZERO:
		sz = c->size + TAIL;
		memset(u.b + c->size, 0, TAIL);
		if (v == LARGER_NONZERO)
			u.b[c->size + TAIL - 1] = 1;
		break;
	default:
		sz = v == SZ_TOO_SMALL ? sizeof(size_t) - 1 : 0;
		break;
	}
	set_sz(&u, sz);
	before = u;
	r = c->get(u.b);
	ck_assert_msg(r == expect(v), "%s, %s struct: %d", c->name, variant_name[v], r);
	if (r) {
		ck_assert_msg(!memcmp(&u, &before, sizeof(u)), "%s: refused struct written",
			      c->name);
		return;
	}
	want_sz = v == OLDER ? c->cut : c->size;
	memcpy(&sz, u.b, sizeof(sz));
	ck_assert_uint_eq(sz, want_sz);
	ck_assert_msg(!memcmp(u.b + sizeof(size_t), full.b + sizeof(size_t),
			      want_sz - sizeof(size_t)), "%s: counters differ", c->name);
	ck_assert_msg(!memcmp(u.b + want_sz, before.b + want_sz, sizeof(u) - want_sz),
		      "%s, %s struct: bytes past sz written", c->name, variant_name[v]);
}
END_TEST

/* The 0.1 getters: the same counters in a struct without sz. */
START_TEST(stats_compat01)
{
	const struct out_case *c = &out_cases[_i];
	union ubuf full, old;

	memset(&full, 0, sizeof(full));
	set_sz(&full, c->size);
	ck_assert_int_eq(c->get(full.b), 0);
	memset(&old, 0xa5, sizeof(old));
	c->compat(old.b);
	ck_assert_msg(!memcmp(old.b, full.b + c->first, c->old_len), "%s: 0.1 layout differs",
		      c->name);
	ck_assert_uint_eq(old.b[c->old_len], 0xa5);
}
END_TEST

/*
 * libvqcore.so exports both versions of each stats getter; a program
 * linked against 0.1 reaches the old layout.
 */
START_TEST(so_exports_both_versions)
{
	static const char *names[] = { "vqcore_pagepool_get_stats",
				       "vqcore_reporter_get_stats",
				       "vqcore_balloon_get_stats" };
	int (*pool_new)(uint64_t, uint64_t, const struct vqcore_pagepool_opts *,
			struct vqcore_pagepool **);
	void (*pool_destroy)(struct vqcore_pagepool *);
	void (*get01)(struct vqcore_pagepool *, void *);
	int (*get02)(struct vqcore_pagepool *, struct vqcore_pagepool_stats *);
	struct vqcore_pagepool_stats st = { .sz = sizeof(st) };
	struct vqcore_pagepool *pool;
	union ubuf old;
	uint64_t free_bytes;
	void *h = dlopen(VQCORE_SO, RTLD_NOW | RTLD_LOCAL);

	ck_assert_msg(h, "dlopen %s: %s", VQCORE_SO, dlerror());
	for (unsigned i = 0; i < 3; i++) {
		void *a = dlvsym(h, names[i], "VQCORE_0.1");
		void *b = dlvsym(h, names[i], "VQCORE_0.2");

		ck_assert_msg(a && b && a != b, "%s: 0.1 %p, 0.2 %p", names[i], a, b);
		ck_assert_ptr_eq(dlsym(h, names[i]), b);
	}
	*(void **)&pool_new = dlvsym(h, "vqcore_pagepool_new", "VQCORE_0.1");
	*(void **)&pool_destroy = dlvsym(h, "vqcore_pagepool_destroy", "VQCORE_0.1");
	*(void **)&get01 = dlvsym(h, "vqcore_pagepool_get_stats", "VQCORE_0.1");
	*(void **)&get02 = dlvsym(h, "vqcore_pagepool_get_stats", "VQCORE_0.2");
	ck_assert(pool_new && pool_destroy);
	ck_assert_int_eq(pool_new(POOL_BASE, 64 * PG, NULL, &pool), 0);
	ck_assert_int_eq(get02(pool, &st), 0);
	ck_assert_uint_eq(st.free_bytes, 64 * PG);
	get01(pool, old.b);
	memcpy(&free_bytes, old.b + offsetof(struct vqcore_pagepool_stats, free_bytes) -
	       offsetof(struct vqcore_pagepool_stats, nr_free), sizeof(free_bytes));
	ck_assert_uint_eq(free_bytes, 64 * PG);
	pool_destroy(pool);
	dlclose(h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("helpers");

	tcase_add_test(tc, struct_in_zero_fills);
	suite_add_tcase(s, tc);
	tc = tcase_create("input");
	tcase_add_checked_fixture(tc, fixture_up, fixture_down);
	tcase_add_loop_test(tc, input_struct, 0, N_IN * NVARIANTS);
	suite_add_tcase(s, tc);
	tc = tcase_create("vhost-user");
	tcase_add_loop_test(tc, vuc_config_and_ops_over_a_connection, 0, NVARIANTS);
	suite_add_tcase(s, tc);
	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, stats_up, stats_down);
	tcase_add_loop_test(tc, stats_struct, 0, N_OUT * NVARIANTS);
	tcase_add_loop_test(tc, stats_compat01, 0, N_OUT);
	suite_add_tcase(s, tc);
	tc = tcase_create("shared");
	tcase_add_test(tc, so_exports_both_versions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vqt_run_suite(suite());
}
