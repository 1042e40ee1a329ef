/* The fast path's eBPF program (bpf/fastpath.bpf.c, issue 11) run with
 * BPF_PROG_TEST_RUN on crafted Ethernet frames, XDP and TC alike.
 *
 * The process moves into a network namespace of its own (as root; skipped
 * otherwise) holding two veth pairs: c0 faces the clients (198.18.0.1,
 * 2001:2:0:1::1), p0 the peers (198.19.0.1, 2001:2:0:2::1, MTU 1400),
 * with permanent neighbour entries so bpf_fib_lookup resolves. Nothing is
 * sent: test runs only report what the program would do.
 *
 * Every expected frame is built here from scratch, checksums included (a
 * full RFC 1071 sum, never the program's incremental one), and compared
 * byte for byte; every output is also checked by summing it. Pass cases
 * must leave the frame as it was and bump the right counter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef TERN_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>

#include "fastpath_abi.h"
#include "tern_bpf.h"

#define NSLOTS 16

static const char *skip_why;
static struct bpf_object *obj;
static int prog_xdp, prog_tc;
static int map_client, map_peer, map_stats;
static struct fp_slot *slots;
static struct fp_ctl *ctl;
static int ncpus;
static int if_c0, if_p0;

/* MACs: c0 / p0 (ours), and the neighbours behind them. */
static const uint8_t mac_c0[6] = {0x02, 0, 0, 0, 0x01, 0x01};
static const uint8_t mac_p0[6] = {0x02, 0, 0, 0, 0x02, 0x01};
static const uint8_t mac_cl[6] = {0x02, 0, 0, 0, 0x01, 0x02}; /* clients */
static const uint8_t mac_tx[6] = {0x02, 0, 0, 0, 0x01, 0x03}; /* a peer on the client side */
static const uint8_t mac_pe[6] = {0x02, 0, 0, 0, 0x02, 0x02}; /* peers */

struct ep {
	uint8_t a[16]; /* IPv4-mapped for IPv4 */
	uint16_t port; /* host order */
};

static bool v4(const uint8_t *a)
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, pre, 12) == 0;
}

static struct ep mk(const char *ip, uint16_t port)
{
	struct ep e = {.port = port};
	if (strchr(ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, ip, e.a), 1);
	} else {
		e.a[10] = e.a[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, ip, e.a + 12), 1);
	}
	return e;
}

/* ---- an independent checksum: RFC 1071 over bytes ---- */
static uint32_t sum_bytes(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* Sum of pseudo-header + UDP datagram (checksum field as it is). */
static uint16_t udp_sum(bool v6, const uint8_t *src, const uint8_t *dst, const uint8_t *udp, size_t ulen)
{
	uint32_t acc = 0;
	acc = sum_bytes(acc, v6 ? src : src + 12, v6 ? 16 : 4);
	acc = sum_bytes(acc, v6 ? dst : dst + 12, v6 ? 16 : 4);
	acc += 17 + (uint32_t)ulen;
	acc = sum_bytes(acc, udp, ulen);
	return fold(acc);
}

/* ---- frames ---- */
enum { CS_OK, CS_ZERO };
enum { HDR_IN, HDR_OUT };

/* Ethernet + IP + UDP + payload, then pad bytes of Ethernet padding (0xee).
 * HDR_IN headers carry what a sender might put (an id, no DF, TTL 61, a
 * flow label); HDR_OUT what the program must write. */
static size_t frame(uint8_t *b, const uint8_t *dmac, const uint8_t *smac, const struct ep *s,
                    const struct ep *d, uint8_t tos, const uint8_t *pl, size_t plen, int cs, int hdr,
                    size_t pad)
{
	bool v6 = !v4(s->a);
	size_t ulen = 8 + plen, ip = v6 ? 40 : 20, n = 14 + ip + ulen;
	uint8_t *h = b + 14, *u = h + ip;
	memcpy(b, dmac, 6);
	memcpy(b + 6, smac, 6);
	b[12] = v6 ? 0x86 : 0x08;
	b[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		uint32_t flow = hdr == HDR_IN ? 0x12345 : 0;
		h[0] = 0x60 | tos >> 4;
		h[1] = (uint8_t)(tos << 4 | flow >> 16);
		h[2] = (uint8_t)(flow >> 8);
		h[3] = (uint8_t)flow;
		h[4] = (uint8_t)(ulen >> 8);
		h[5] = (uint8_t)ulen;
		h[6] = 17;
		h[7] = hdr == HDR_IN ? 61 : 64;
		memcpy(h + 8, s->a, 16);
		memcpy(h + 24, d->a, 16);
	} else {
		size_t tot = 20 + ulen;
		h[0] = 0x45;
		h[1] = tos;
		h[2] = (uint8_t)(tot >> 8);
		h[3] = (uint8_t)tot;
		h[4] = hdr == HDR_IN ? 0x12 : 0;
		h[5] = hdr == HDR_IN ? 0x34 : 0;
		h[6] = hdr == HDR_IN ? 0 : 0x40;
		h[7] = 0;
		h[8] = hdr == HDR_IN ? 61 : 64;
		h[9] = 17;
		h[10] = h[11] = 0;
		memcpy(h + 12, s->a + 12, 4);
		memcpy(h + 16, d->a + 12, 4);
		uint16_t c = (uint16_t)~fold(sum_bytes(0, h, 20));
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
	}
	u[0] = (uint8_t)(s->port >> 8);
	u[1] = (uint8_t)s->port;
	u[2] = (uint8_t)(d->port >> 8);
	u[3] = (uint8_t)d->port;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	u[6] = u[7] = 0;
	memcpy(u + 8, pl, plen);
	if (cs == CS_OK) {
		uint16_t c = (uint16_t)~udp_sum(v6, s->a, d->a, u, ulen);
		if (c == 0)
			c = 0xffff;
		u[6] = (uint8_t)(c >> 8);
		u[7] = (uint8_t)c;
	}
	memset(b + n, 0xee, pad);
	return n + pad;
}

/* ChannelData: channel, length, data, then pad bytes (0xa5, 0x5a, 0xc3:
 * not zero, so a checksum that ignored them would be caught). */
static size_t chandata(uint8_t *b, uint16_t ch, uint16_t len_field, const uint8_t *data, size_t n, size_t pad)
{
	static const uint8_t pads[3] = {0xa5, 0x5a, 0xc3};
	b[0] = (uint8_t)(ch >> 8);
	b[1] = (uint8_t)ch;
	b[2] = (uint8_t)(len_field >> 8);
	b[3] = (uint8_t)len_field;
	memcpy(b + 4, data, n);
	memcpy(b + 4 + n, pads, pad);
	return 4 + n + pad;
}

/* Every relayed frame: the IPv4 header sums to zero, the UDP checksum
 * (unless IPv4 "none") sums the pseudo-header and datagram to zero. */
static void verify_sums(const uint8_t *f, size_t n)
{
	bool v6 = f[12] == 0x86;
	const uint8_t *h = f + 14, *u = h + (v6 ? 40 : 20);
	size_t ulen = (size_t)u[4] << 8 | u[5];
	assert_true(n >= 14 + (size_t)(v6 ? 40 : 20) + ulen);
	if (!v6)
		assert_int_equal(fold(sum_bytes(0, h, 20)), 0xffff);
	if (!v6 && u[6] == 0 && u[7] == 0)
		return;
	uint8_t s[16] = {0}, d[16] = {0};
	if (v6) {
		memcpy(s, h + 8, 16);
		memcpy(d, h + 24, 16);
	} else {
		memcpy(s + 12, h + 12, 4);
		memcpy(d + 12, h + 16, 4);
	}
	assert_int_equal(udp_sum(v6, s, d, u, ulen), 0xffff);
	assert_false(u[6] == 0 && u[7] == 0);
}

/* ---- maps ---- */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void stats_read(uint64_t out[FP_ST_N])
{
	uint64_t v[ncpus];
	for (uint32_t k = 0; k < FP_ST_N; k++) {
		out[k] = 0;
		assert_int_equal(bpf_map_lookup_elem(map_stats, &k, v), 0);
		for (int c = 0; c < ncpus; c++)
			out[k] += v[c];
	}
}

static void map_channel(const struct ep *client, const struct ep *local, uint16_t ch, const struct ep *relay,
                        const struct ep *peer, uint32_t slot, uint32_t gen)
{
	struct fp_client_key ck = {0};
	struct fp_client_val cv = {0};
	struct fp_peer_key pk = {0};
	struct fp_peer_val pv = {0};
	memcpy(ck.client, client->a, 16);
	memcpy(ck.local, local->a, 16);
	ck.client_port = htons(client->port);
	ck.local_port = htons(local->port);
	ck.channel = htons(ch);
	memcpy(cv.relay, relay->a, 16);
	memcpy(cv.peer, peer->a, 16);
	cv.relay_port = htons(relay->port);
	cv.peer_port = htons(peer->port);
	cv.slot = slot;
	cv.gen = gen;
	assert_int_equal(bpf_map_update_elem(map_client, &ck, &cv, BPF_ANY), 0);
	memcpy(pk.peer, peer->a, 16);
	memcpy(pk.relay, relay->a, 16);
	pk.peer_port = htons(peer->port);
	pk.relay_port = htons(relay->port);
	memcpy(pv.client, client->a, 16);
	memcpy(pv.local, local->a, 16);
	pv.client_port = htons(client->port);
	pv.local_port = htons(local->port);
	pv.channel = htons(ch);
	pv.slot = slot;
	pv.gen = gen;
	assert_int_equal(bpf_map_update_elem(map_peer, &pk, &pv, BPF_ANY), 0);
}

/* ---- the namespace ---- */
static const char *ip_bin;

static int sh(const char *fmt, ...)
{
	char cmd[512], full[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s %s >/dev/null 2>&1", ip_bin, cmd);
	int rc = system(full);
	if (rc != 0)
		fprintf(stderr, "fastpath test: '%s' failed (%d)\n", full, rc);
	return rc;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int rc = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? rc : -1;
}

static const char *make_ns(void)
{
	if (geteuid() != 0)
		return "not root";
	if (unshare(CLONE_NEWNET) < 0)
		return "cannot create a network namespace";
	if (access("/usr/sbin/ip", X_OK) == 0)
		ip_bin = "/usr/sbin/ip";
	else if (access("/sbin/ip", X_OK) == 0)
		ip_bin = "/sbin/ip";
	else if (access("/usr/bin/ip", X_OK) == 0)
		ip_bin = "/usr/bin/ip";
	else
		return "no ip(8) (iproute2)";
	int rc = 0;
	rc |= sh("link set lo up");
	rc |= sh("link add c0 address 02:00:00:00:01:01 type veth peer name c1");
	rc |= sh("link add p0 address 02:00:00:00:02:01 mtu 1400 type veth peer name p1 mtu 1400");
	if (rc)
		return "cannot create veth interfaces";
	/* bpf_fib_lookup() answers only where forwarding is on: the program
	 * looks routes up as from loopback, and the loader switches
	 * forwarding on there only (src/net/fastpath.c). */
	if (write_file("/proc/sys/net/ipv4/conf/lo/forwarding", "1") < 0 ||
	    write_file("/proc/sys/net/ipv6/conf/lo/forwarding", "1") < 0)
		return "cannot enable forwarding on lo in the namespace";
	rc |= sh("link set c0 up");
	rc |= sh("link set c1 up");
	rc |= sh("link set p0 up");
	rc |= sh("link set p1 up");
	rc |= sh("addr add 198.18.0.1/24 dev c0");
	rc |= sh("addr add 198.19.0.1/24 dev p0");
	rc |= sh("-6 addr add 2001:2:0:1::1/64 dev c0 nodad");
	rc |= sh("-6 addr add 2001:2:0:2::1/64 dev p0 nodad");
	rc |= sh("neigh add 198.18.0.2 lladdr 02:00:00:00:01:02 dev c0 nud permanent");
	rc |= sh("neigh add 198.18.0.3 lladdr 02:00:00:00:01:03 dev c0 nud permanent");
	rc |= sh("neigh add 198.19.0.2 lladdr 02:00:00:00:02:02 dev p0 nud permanent");
	rc |= sh("-6 neigh add 2001:2:0:1::2 lladdr 02:00:00:00:01:02 dev c0 nud permanent");
	rc |= sh("-6 neigh add 2001:2:0:2::2 lladdr 02:00:00:00:02:02 dev p0 nud permanent");
	if (rc)
		return "cannot configure the namespace";
	if_c0 = (int)if_nametoindex("c0");
	if_p0 = (int)if_nametoindex("p0");
	if (!if_c0 || !if_p0)
		return "no ifindex";
	return NULL;
}

/* libbpf's messages (the verifier log among them), kept to print when
 * loading fails. */
static char logbuf[1 << 16];
static size_t loglen;

static int keep_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[4096];
	(void)level;
	int k = vsnprintf(line, sizeof(line), fmt, ap);
	if (k <= 0)
		return 0;
	size_t n = (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
	if (loglen + n >= sizeof(logbuf)) { /* keep the end: the error is there */
		size_t keep = sizeof(logbuf) / 2;
		memmove(logbuf, logbuf + loglen - keep, keep);
		loglen = keep;
	}
	memcpy(logbuf + loglen, line, n);
	loglen += n;
	logbuf[loglen] = 0;
	return 0;
}

static const char *load(void)
{
	static char why[160];
	int err;
	libbpf_set_print(keep_log);
	obj = bpf_object__open_mem(tern_bpf_fastpath_obj, tern_bpf_fastpath_obj_len, NULL);
	if (!obj)
		return "cannot open the embedded object";
	struct bpf_map *m;
	struct bpf_program *p;
	bpf_object__for_each_map(m, obj)
	{
		const char *n = bpf_map__name(m);
		if (!strcmp(n, "fp_client") || !strcmp(n, "fp_peer"))
			bpf_map__set_max_entries(m, 64);
		else if (!strcmp(n, "fp_slots"))
			bpf_map__set_max_entries(m, NSLOTS);
	}
	static char *vlog;
	const size_t vlog_size = 64u << 20;
	if (getenv("TERN_BPF_VERIFIER_LOG")) { /* the whole verifier log of a failed load */
		vlog = calloc(1, vlog_size);
		bpf_object__for_each_program(p, obj) bpf_program__set_log_buf(p, vlog, vlog_size);
	}
	err = bpf_object__load(obj);
	if (err && vlog) {
		size_t l = strlen(vlog);
		fprintf(stderr, "%s\n", vlog + (l > 16000 ? l - 16000 : 0));
	}
	if (err) {
		/* Print the verifier's complaint: this is the test's point. */
		libbpf_set_print(NULL);
		size_t from = loglen > 12000 ? loglen - 12000 : 0;
		fprintf(stderr, "%s\n", logbuf + from);
		snprintf(why, sizeof(why), "cannot load the program: %s (%d)", strerror(-err), err);
		if (err == -EPERM)
			return why;
		fail_msg("%s", why);
	}
	libbpf_set_print(NULL);
	prog_xdp = bpf_program__fd(bpf_object__find_program_by_name(obj, FP_ABI_PROG_XDP));
	prog_tc = bpf_program__fd(bpf_object__find_program_by_name(obj, FP_ABI_PROG_TC));
	map_client = bpf_object__find_map_fd_by_name(obj, "fp_client");
	map_peer = bpf_object__find_map_fd_by_name(obj, "fp_peer");
	map_stats = bpf_object__find_map_fd_by_name(obj, "fp_stats");
	int fd_slots = bpf_object__find_map_fd_by_name(obj, "fp_slots");
	int fd_ctl = bpf_object__find_map_fd_by_name(obj, "fp_ctl");
	assert_true(prog_xdp >= 0 && prog_tc >= 0 && map_client >= 0 && map_peer >= 0 && map_stats >= 0);
	slots = mmap(NULL, sizeof(struct fp_slot) * NSLOTS, PROT_READ | PROT_WRITE, MAP_SHARED, fd_slots, 0);
	ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd_ctl, 0);
	assert_true(slots != MAP_FAILED && ctl != MAP_FAILED);
	ncpus = libbpf_num_possible_cpus();
	assert_true(ncpus > 0);
	return NULL;
}

/* ---- the scenario ---- */
static struct ep C4, L4, R4, P4, C6, L6, R6, P6, PTX, PNN;

enum {
	S_44 = 1, /* v4 client, v4 peer */
	S_66,     /* v6, v6 */
	S_46,     /* v4 client, v6 peer */
	S_64,     /* v6 client, v4 peer */
	S_TX,     /* v4, the peer behind c0 too */
	S_EXP,    /* expired */
	S_GEN,    /* stale generation */
	S_NN,     /* peer with no neighbour entry */
	S_OOR,    /* slot index beyond fp_slots */
	S_NR,     /* peer with no route */
	S_MIX,    /* relay IPv4, peer IPv6: a broken mapping */
};
#define CH(s) ((uint16_t)(0x4000 + (s)))

static int setup(void **state)
{
	(void)state;
	skip_why = make_ns();
	if (!skip_why)
		skip_why = load();
	if (skip_why)
		return 0;
	C4 = mk("198.18.0.2", 40000);
	L4 = mk("198.18.0.1", 3478);
	R4 = mk("198.19.0.1", 50000);
	P4 = mk("198.19.0.2", 60000);
	C6 = mk("2001:2:0:1::2", 40001);
	L6 = mk("2001:2:0:1::1", 3478);
	R6 = mk("2001:2:0:2::1", 50001);
	P6 = mk("2001:2:0:2::2", 60001);
	PTX = mk("198.18.0.3", 60004);
	PNN = mk("198.19.0.3", 60008);
	uint64_t far = now_ns() + 3600ull * 1000000000ull;
	ctl->alive_until_ns = far;
	for (uint32_t i = 1; i < NSLOTS; i++) {
		slots[i].gen = 1;
		slots[i].expires_ns = far;
	}
	slots[S_EXP].expires_ns = now_ns() - 1000000000ull;
	slots[S_GEN].gen = 2;

	struct ep r;
	map_channel(&C4, &L4, CH(S_44), &R4, &P4, S_44, 1);
	map_channel(&C6, &L6, CH(S_66), &R6, &P6, S_66, 1);
	r = R6, r.port = 50002;
	struct ep p = P6;
	p.port = 60002;
	map_channel(&C4, &L4, CH(S_46), &r, &p, S_46, 1);
	r = R4, r.port = 50003;
	p = P4, p.port = 60003;
	map_channel(&C6, &L6, CH(S_64), &r, &p, S_64, 1);
	r = L4, r.port = 50004;
	map_channel(&C4, &L4, CH(S_TX), &r, &PTX, S_TX, 1);
	r = R4, r.port = 50006;
	p = P4, p.port = 60006;
	map_channel(&C4, &L4, CH(S_EXP), &r, &p, S_EXP, 1);
	r = R4, r.port = 50007;
	p = P4, p.port = 60007;
	map_channel(&C4, &L4, CH(S_GEN), &r, &p, S_GEN, 1);
	r = R4, r.port = 50008;
	map_channel(&C4, &L4, CH(S_NN), &r, &PNN, S_NN, 1);
	r = R4, r.port = 50009;
	p = P4, p.port = 60009;
	map_channel(&C4, &L4, CH(S_OOR), &r, &p, NSLOTS + 83, 1);
	r = R4, r.port = 50010;
	p = mk("198.18.200.2", 60010);
	map_channel(&C4, &L4, CH(S_NR), &r, &p, S_NR, 1);
	r = R4, r.port = 50011;
	p = P6, p.port = 60011;
	map_channel(&C4, &L4, CH(S_MIX), &r, &p, S_MIX, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (obj)
		bpf_object__close(obj);
	return 0;
}

#define NEED()                                                                                               \
	do {                                                                                                 \
		if (skip_why) {                                                                              \
			print_message("fastpath: skipped: %s\n", skip_why);                                  \
			skip();                                                                              \
		}                                                                                            \
	} while (0)

/* Runs the XDP and the TC program on in; want: the XDP verdict. A relayed
 * frame must equal exp; a passed one must equal in. stat: the counter
 * that must move by one (-1: none); slot: whose counters move (0: none). */
static void run(const char *what, const uint8_t *in, size_t n, int ifindex, int want, const uint8_t *exp,
                size_t exp_n, int stat, uint32_t slot, bool up, uint64_t app_bytes)
{
	for (int tc = 0; tc <= 1; tc++) {
		/* The kernel will not make an skb of a cut IPv4 header (EINVAL). */
		if (tc && n < 14 + 20)
			continue;
		uint8_t out[4096];
		uint64_t before[FP_ST_N], after[FP_ST_N];
		struct fp_slot sb = slots[slot];
		struct xdp_md xctx = {.data_end = (uint32_t)n, .ingress_ifindex = (uint32_t)ifindex};
		struct __sk_buff sctx = {.ifindex = (uint32_t)ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)n, .data_out = out,
		            .data_size_out = sizeof(out), .repeat = 1);
		if (tc) {
			o.ctx_in = &sctx;
			o.ctx_size_in = sizeof(sctx);
		} else {
			o.ctx_in = &xctx;
			o.ctx_size_in = sizeof(xctx);
		}
		stats_read(before);
		int rc = bpf_prog_test_run_opts(tc ? prog_tc : prog_xdp, &o);
		if (rc)
			fail_msg("%s (%s): test run: %s", what, tc ? "tc" : "xdp", strerror(-rc));
		stats_read(after);
		int w = want;
		if (tc)
			w = want == XDP_PASS ? TC_ACT_OK : want == XDP_DROP ? TC_ACT_SHOT : TC_ACT_REDIRECT;
		if ((int)o.retval != w)
			fail_msg("%s (%s): verdict %u, want %d", what, tc ? "tc" : "xdp", o.retval, w);
		const uint8_t *e = want == XDP_PASS ? in : exp;
		size_t en = want == XDP_PASS ? n : exp_n;
		if (o.data_size_out != en || memcmp(out, e, en) != 0) {
			print_message("%s (%s): frame differs (%u bytes, want %zu)\n", what,
			              tc ? "tc" : "xdp", o.data_size_out, en);
			for (size_t i = 0; i < en || i < o.data_size_out; i++)
				if (i >= en || i >= o.data_size_out || out[i] != e[i])
					print_message("  [%zu] got %02x want %02x\n", i,
					              i < o.data_size_out ? out[i] : 0, i < en ? e[i] : 0);
			fail_msg("%s (%s): wrong frame", what, tc ? "tc" : "xdp");
		}
		if (want != XDP_PASS)
			verify_sums(out, o.data_size_out);
		for (int k = 0; k < FP_ST_N; k++) {
			uint64_t d = after[k] - before[k], wd = 0;
			if (k == stat)
				wd = 1;
			if (want != XDP_PASS && k == (up ? FP_ST_TO_PEER : FP_ST_TO_CLIENT))
				wd = 1;
			if (want != XDP_PASS && k == (up ? FP_ST_TO_PEER_BYTES : FP_ST_TO_CLIENT_BYTES))
				wd = app_bytes;
			if (want == XDP_TX && k == FP_ST_TX)
				wd = 1;
			if (d != wd)
				fail_msg("%s (%s): counter %d moved by %llu, want %llu", what,
				         tc ? "tc" : "xdp", k, (unsigned long long)d, (unsigned long long)wd);
		}
		struct fp_slot sa = slots[slot];
		if (slot && want != XDP_PASS) {
			assert_int_equal(sa.up_packets - sb.up_packets, up ? 1 : 0);
			assert_int_equal(sa.up_bytes - sb.up_bytes, up ? app_bytes : 0);
			assert_int_equal(sa.down_packets - sb.down_packets, up ? 0 : 1);
			assert_int_equal(sa.down_bytes - sb.down_bytes, up ? 0 : app_bytes);
			assert_true(sa.last_ns >= sb.last_ns && sa.last_ns > 0);
		} else {
			assert_memory_equal(&sa, &sb, sizeof(sa));
		}
	}
}

static uint8_t data[2048];

static void fill_data(size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(seed + i * 7);
}

/* Case modifiers: the UDP checksum of peer datagrams; make the output's
 * computed UDP checksum 0 (sent as 0xffff) by choosing the last data word. */
static int down_cs = CS_OK;
static bool force_ffff;

/* Sets data[n-2..n-1] (a word: data starts on a word boundary in both
 * outputs) so that the output datagram from s to d, carrying prefix (pn
 * bytes) then data, sums to 0xffff without its checksum. */
static void force_word(const struct ep *s, const struct ep *d, const uint8_t *prefix, size_t pn, size_t n)
{
	uint8_t u[2200];
	size_t ulen = 8 + pn + n;
	assert_true(n >= 2 && n % 2 == 0);
	data[n - 2] = data[n - 1] = 0;
	u[0] = (uint8_t)(s->port >> 8);
	u[1] = (uint8_t)s->port;
	u[2] = (uint8_t)(d->port >> 8);
	u[3] = (uint8_t)d->port;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	u[6] = u[7] = 0;
	if (pn)
		memcpy(u + 8, prefix, pn);
	memcpy(u + 8 + pn, data, n);
	uint16_t w = (uint16_t)~udp_sum(!v4(s->a), s->a, d->a, u, ulen);
	data[n - 2] = (uint8_t)(w >> 8);
	data[n - 1] = (uint8_t)w;
}

/* client -> peer: ChannelData of n bytes (+pad) on channel s's mapping;
 * relay/peer as installed. eth_pad: Ethernet padding after the IP datagram. */
static void pass(const char *what, const uint8_t *in, size_t n, int ifindex, int stat)
{
	run(what, in, n, ifindex, XDP_PASS, NULL, 0, stat, 0, true, 0);
}

static void up_case(const char *what, int s, const struct ep *client, const struct ep *local,
                    const struct ep *relay, const struct ep *peer, size_t n, size_t pad, size_t eth_pad,
                    uint8_t tos, int cs, int want, const uint8_t *dmac, const uint8_t *smac)
{
	uint8_t pl[2100], in[2200], exp[2200];
	fill_data(n, (uint8_t)(s * 13 + n));
	if (force_ffff)
		force_word(relay, peer, NULL, 0, n);
	size_t pn = chandata(pl, CH(s), (uint16_t)n, data, n, pad);
	size_t in_n = frame(in, mac_c0, mac_cl, client, local, tos, pl, pn, cs, HDR_IN, eth_pad);
	size_t exp_n = frame(exp, dmac, smac, relay, peer, tos, data, n, cs, HDR_OUT, 0);
	if (force_ffff) /* the test's own check that the case is what it says */
		assert_int_equal(exp[exp_n - n - 2] << 8 | exp[exp_n - n - 1], 0xffff);
	run(what, in, in_n, if_c0, want, exp, exp_n, -1, (uint32_t)s, true, n);
}

/* peer -> client: a datagram of n bytes becomes ChannelData. */
static void down_case(const char *what, int s, const struct ep *peer, const struct ep *relay,
                      const struct ep *local, const struct ep *client, size_t n, size_t eth_pad, uint8_t tos,
                      int ifindex, int want, const uint8_t *in_smac)
{
	uint8_t pl[2100], in[2200], exp[2200];
	fill_data(n, (uint8_t)(s * 29 + n));
	if (force_ffff) {
		uint8_t cd[4] = {(uint8_t)(CH(s) >> 8), (uint8_t)CH(s), (uint8_t)(n >> 8), (uint8_t)n};
		force_word(local, client, cd, 4, n);
	}
	size_t in_n = frame(in, ifindex == if_c0 ? mac_c0 : mac_p0, in_smac, peer, relay, tos, data, n,
	                    down_cs, HDR_IN, eth_pad);
	size_t pn = chandata(pl, CH(s), (uint16_t)n, data, n, 0);
	/* IPv4 "no checksum" stays none only from IPv4 to IPv4. */
	size_t exp_n = frame(exp, mac_cl, mac_c0, local, client, tos, pl, pn, down_cs, HDR_OUT, 0);
	if (force_ffff)
		assert_int_equal(exp[exp_n - pn - 2] << 8 | exp[exp_n - pn - 1], 0xffff);
	run(what, in, in_n, ifindex, want, exp, exp_n, -1, (uint32_t)s, false, n);
}

static struct ep port(struct ep e, uint16_t p)
{
	e.port = p;
	return e;
}

static void test_relay_v4(void **state)
{
	(void)state;
	NEED();
	static const size_t lens[] = {0, 1, 4, 5, 7, 8, 100, 1001};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		char what[64];
		snprintf(what, sizeof(what), "v4 up %zu unpadded", n);
		up_case(what, S_44, &C4, &L4, &R4, &P4, n, 0, 0, 0x2e, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
		snprintf(what, sizeof(what), "v4 up %zu padded", n);
		up_case(what, S_44, &C4, &L4, &R4, &P4, n, (4 - n % 4) % 4, 0, 0x2e, CS_OK, XDP_REDIRECT,
		        mac_pe, mac_p0);
		snprintf(what, sizeof(what), "v4 down %zu", n);
		down_case(what, S_44, &P4, &R4, &L4, &C4, n, 0, 0xb8, if_p0, XDP_REDIRECT, mac_pe);
	}
	/* Padding not to 4 but still within 3 bytes is tolerated. */
	up_case("v4 up 8 + 3 pad", S_44, &C4, &L4, &R4, &P4, 8, 3, 0, 0, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
	/* Ethernet padding after short datagrams: ignored, trimmed. */
	up_case("v4 up 1 + eth pad", S_44, &C4, &L4, &R4, &P4, 1, 3, 10, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
	up_case("v4 up 2 unpadded + eth pad", S_44, &C4, &L4, &R4, &P4, 2, 0, 12, 0, CS_OK, XDP_REDIRECT,
	        mac_pe, mac_p0);
	down_case("v4 down 3 + eth pad", S_44, &P4, &R4, &L4, &C4, 3, 15, 0, if_p0, XDP_REDIRECT, mac_pe);
	/* No checksum (IPv4 zero) stays none from IPv4 to IPv4. */
	up_case("v4 up zero csum", S_44, &C4, &L4, &R4, &P4, 9, 3, 0, 0, CS_ZERO, XDP_REDIRECT, mac_pe,
	        mac_p0);
}

static void test_relay_v6(void **state)
{
	(void)state;
	NEED();
	static const size_t lens[] = {0, 1, 3, 6, 8, 77, 1200};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		char what[64];
		snprintf(what, sizeof(what), "v6 up %zu unpadded", n);
		up_case(what, S_66, &C6, &L6, &R6, &P6, n, 0, 0, 0x28, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
		snprintf(what, sizeof(what), "v6 up %zu padded", n);
		up_case(what, S_66, &C6, &L6, &R6, &P6, n, (4 - n % 4) % 4, 0, 0x28, CS_OK, XDP_REDIRECT,
		        mac_pe, mac_p0);
		snprintf(what, sizeof(what), "v6 down %zu", n);
		down_case(what, S_66, &P6, &R6, &L6, &C6, n, 0, 0x01, if_p0, XDP_REDIRECT, mac_pe);
	}
	up_case("v6 up 1 + eth pad", S_66, &C6, &L6, &R6, &P6, 1, 0, 7, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
}

static void test_relay_cross(void **state)
{
	(void)state;
	NEED();
	static const size_t lens[] = {0, 1, 2, 5, 8, 333, 1300};
	struct ep r46 = port(R6, 50002), p46 = port(P6, 60002), r64 = port(R4, 50003), p64 = port(P4, 60003);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		size_t pad = (4 - n % 4) % 4;
		char what[64];
		snprintf(what, sizeof(what), "v4 client -> v6 peer %zu", n);
		up_case(what, S_46, &C4, &L4, &r46, &p46, n, pad, 0, 0xa0, CS_OK, XDP_REDIRECT, mac_pe,
		        mac_p0);
		snprintf(what, sizeof(what), "v6 peer -> v4 client %zu", n);
		down_case(what, S_46, &p46, &r46, &L4, &C4, n, 0, 0xa0, if_p0, XDP_REDIRECT, mac_pe);
		snprintf(what, sizeof(what), "v6 client -> v4 peer %zu", n);
		up_case(what, S_64, &C6, &L6, &r64, &p64, n, pad, 0, 0x5c, CS_OK, XDP_REDIRECT, mac_pe,
		        mac_p0);
		snprintf(what, sizeof(what), "v4 peer -> v6 client %zu", n);
		down_case(what, S_64, &p64, &r64, &L6, &C6, n, 0, 0x5c, if_p0, XDP_REDIRECT, mac_pe);
	}
	up_case("v4 -> v6 unpadded odd", S_46, &C4, &L4, &r46, &p46, 7, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
	up_case("v6 -> v4 unpadded odd", S_64, &C6, &L6, &r64, &p64, 7, 0, 3, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
	down_case("v6 peer -> v4 client + eth pad", S_46, &p46, &r46, &L4, &C4, 1, 9, 0, if_p0, XDP_REDIRECT,
	          mac_pe);
}

static void test_relay_tx(void **state)
{
	(void)state;
	NEED();
	/* The peer is behind the client-facing device: XDP_TX. */
	struct ep r = port(L4, 50004);
	up_case("tx up", S_TX, &C4, &L4, &r, &PTX, 13, 3, 0, 0, CS_OK, XDP_TX, mac_tx, mac_c0);
	down_case("tx down", S_TX, &PTX, &r, &L4, &C4, 13, 0, 0, if_c0, XDP_TX, mac_tx);
}

static void test_relay_csum_edges(void **state)
{
	(void)state;
	NEED();
	struct ep r46 = port(R6, 50002), p46 = port(P6, 60002), r64 = port(R4, 50003), p64 = port(P4, 60003);
	/* A computed zero goes out as 0xffff (RFC 768), every direction. */
	force_ffff = true;
	up_case("ffff v4 up", S_44, &C4, &L4, &R4, &P4, 10, 2, 0, 0, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
	up_case("ffff v6 up", S_66, &C6, &L6, &R6, &P6, 6, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
	up_case("ffff v4 -> v6 up", S_46, &C4, &L4, &r46, &p46, 4, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
	up_case("ffff v6 -> v4 up", S_64, &C6, &L6, &r64, &p64, 12, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe,
	        mac_p0);
	down_case("ffff v4 down", S_44, &P4, &R4, &L4, &C4, 10, 0, 0, if_p0, XDP_REDIRECT, mac_pe);
	down_case("ffff v6 down", S_66, &P6, &R6, &L6, &C6, 2, 0, 0, if_p0, XDP_REDIRECT, mac_pe);
	down_case("ffff v6 -> v4 down", S_46, &p46, &r46, &L4, &C4, 8, 0, 0, if_p0, XDP_REDIRECT, mac_pe);
	down_case("ffff v4 -> v6 down", S_64, &p64, &r64, &L6, &C6, 14, 0, 0, if_p0, XDP_REDIRECT, mac_pe);
	force_ffff = false;

	/* A peer's IPv4 datagram without checksum: none to an IPv4 client,
	 * passed when the client is IPv6. */
	down_cs = CS_ZERO;
	down_case("zero csum v4 down", S_44, &P4, &R4, &L4, &C4, 7, 0, 0, if_p0, XDP_REDIRECT, mac_pe);
	down_cs = CS_OK;
	{
		uint8_t in[256];
		fill_data(7, 3);
		size_t n = frame(in, mac_p0, mac_pe, &p64, &r64, 0, data, 7, CS_ZERO, HDR_IN, 0);
		pass("zero csum v4 peer -> v6 client", in, n, if_p0, FP_ST_PASS_CSUM);
	}
}

/* A relayable ChannelData frame from C4 on channel ch, length field len,
 * n data bytes, pad bytes. */
static size_t up_frame(uint8_t *in, const struct ep *client, const struct ep *local, uint16_t ch,
                       uint16_t len, size_t n, size_t pad, int cs)
{
	uint8_t pl[2100];
	fill_data(n, 1);
	size_t pn = chandata(pl, ch, len, data, n, pad);
	return frame(in, mac_c0, mac_cl, client, local, 0, pl, pn, cs, HDR_IN, 0);
}

static void test_pass_mapping(void **state)
{
	(void)state;
	NEED();
	uint8_t in[2200];
	size_t n;

	n = up_frame(in, &C4, &L4, 0x4fff, 8, 8, 0, CS_OK);
	pass("unmapped channel", in, n, if_c0, FP_ST_PASS_UNMAPPED);
	{
		struct ep other = port(C4, 40999);
		n = up_frame(in, &other, &L4, CH(S_44), 8, 8, 0, CS_OK);
		pass("other client port", in, n, if_c0, FP_ST_PASS_UNMAPPED);
	}
	n = up_frame(in, &C4, &L4, CH(S_44), 9, 8, 0, CS_OK);
	pass("length beyond the datagram", in, n, if_c0, FP_ST_PASS_MALFORMED);
	n = up_frame(in, &C4, &L4, CH(S_44), 4, 8, 0, CS_OK);
	pass("4 bytes too many", in, n, if_c0, FP_ST_PASS_MALFORMED);
	n = up_frame(in, &C4, &L4, CH(S_EXP), 8, 8, 0, CS_OK);
	pass("expired slot", in, n, if_c0, FP_ST_PASS_EXPIRED);
	n = up_frame(in, &C4, &L4, CH(S_GEN), 8, 8, 0, CS_OK);
	pass("stale generation", in, n, if_c0, FP_ST_PASS_EXPIRED);
	{
		struct ep p = port(P4, 60006), r = port(R4, 50006);
		n = frame(in, mac_p0, mac_pe, &p, &r, 0, data, 8, CS_OK, HDR_IN, 0);
		pass("expired slot, peer side", in, n, if_p0, FP_ST_PASS_EXPIRED);
	}
	{
		struct ep p = port(P4, 61111);
		n = frame(in, mac_p0, mac_pe, &p, &R4, 0, data, 8, CS_OK, HDR_IN, 0);
		pass("unknown peer port", in, n, if_p0, -1);
	}
	/* Heartbeat lapsed: nothing relays. */
	{
		uint64_t keep = ctl->alive_until_ns;
		ctl->alive_until_ns = now_ns() - 1;
		n = up_frame(in, &C4, &L4, CH(S_44), 8, 8, 0, CS_OK);
		pass("heartbeat lapsed", in, n, if_c0, FP_ST_PASS_STALE);
		n = frame(in, mac_p0, mac_pe, &P4, &R4, 0, data, 8, CS_OK, HDR_IN, 0);
		pass("heartbeat lapsed, peer side", in, n, if_p0, FP_ST_PASS_STALE);
		ctl->alive_until_ns = keep;
	}
	/* IPv4 without checksum cannot become IPv6. */
	n = up_frame(in, &C4, &L4, CH(S_46), 8, 8, 0, CS_ZERO);
	pass("v4 zero checksum to v6", in, n, if_c0, FP_ST_PASS_CSUM);
	/* FIB: neighbour not resolved; over the egress MTU (p0: 1400). */
	n = up_frame(in, &C4, &L4, CH(S_NN), 8, 8, 0, CS_OK);
	pass("no neighbour", in, n, if_c0, FP_ST_PASS_NO_NEIGH);
	n = up_frame(in, &C4, &L4, CH(S_OOR), 8, 8, 0, CS_OK);
	pass("slot beyond the array", in, n, if_c0, FP_ST_PASS_EXPIRED);
	n = up_frame(in, &C4, &L4, CH(S_NR), 8, 8, 0, CS_OK);
	pass("no route", in, n, if_c0, FP_ST_PASS_FIB);
	n = up_frame(in, &C4, &L4, CH(S_MIX), 8, 8, 0, CS_OK);
	pass("mixed-family mapping", in, n, if_c0, FP_ST_PASS_FIB);
	n = up_frame(in, &C4, &L4, CH(S_44), 1373, 1373, 0, CS_OK);
	pass("over the MTU", in, n, if_c0, FP_ST_PASS_MTU);
	/* 20 + 8 + 1372 = 1400: fits. */
	up_case("at the MTU", S_44, &C4, &L4, &R4, &P4, 1372, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);
}

static void ip4_fix(uint8_t *f)
{
	f[24] = f[25] = 0;
	uint16_t c = (uint16_t)~fold(sum_bytes(0, f + 14, (size_t)(f[14] & 15) * 4));
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
}

/* Frames a relay must not touch even though their addresses, ports and
 * channel match a mapping: no counter moves. */
static void test_pass_headers(void **state)
{
	(void)state;
	NEED();
	uint8_t in[2200], f[2200];
	size_t n;

	/* The unmodified frame is relayed (the cases below differ by one thing). */
	up_case("baseline", S_44, &C4, &L4, &R4, &P4, 8, 0, 0, 0, CS_OK, XDP_REDIRECT, mac_pe, mac_p0);

	/* STUN Binding request from a mapped client: user space answers. */
	{
		uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
		                    3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
		n = frame(in, mac_c0, mac_cl, &C4, &L4, 0, stun, sizeof(stun), CS_OK, HDR_IN, 0);
		pass("STUN", in, n, if_c0, -1);
	}
	/* IPv4 options (4 NOPs). */
	n = up_frame(in, &C4, &L4, CH(S_44), 8, 8, 0, CS_OK);
	memcpy(f, in, 34);
	memset(f + 34, 1, 4);
	memcpy(f + 38, in + 34, n - 34);
	f[14] = 0x46;
	f[17] += 4;
	ip4_fix(f);
	pass("IPv4 options", f, n + 4, if_c0, -1);
	/* First fragment (MF), later fragment (offset). */
	memcpy(f, in, n);
	f[20] |= 0x20;
	ip4_fix(f);
	pass("IPv4 MF", f, n, if_c0, -1);
	memcpy(f, in, n);
	f[21] = 0x10;
	ip4_fix(f);
	pass("IPv4 fragment offset", f, n, if_c0, -1);
	/* A wrong IPv4 header checksum: the stack drops it, so must we. */
	memcpy(f, in, n);
	f[25] ^= 0x01;
	pass("IPv4 header checksum wrong", f, n, if_c0, -1);
	/* Not UDP (the same bytes as TCP). */
	memcpy(f, in, n);
	f[23] = 6;
	ip4_fix(f);
	pass("IPv4 TCP", f, n, if_c0, -1);
	/* IP total length beyond the frame; UDP length disagreeing. */
	memcpy(f, in, n);
	f[17] += 1;
	ip4_fix(f);
	pass("IPv4 truncated", f, n, if_c0, -1);
	memcpy(f, in, n);
	f[39] -= 1;
	pass("UDP length short of IP length", f, n, if_c0, -1);
	/* An 802.1Q tag. */
	memcpy(f, in, 12);
	f[12] = 0x81;
	f[13] = 0;
	f[14] = 0;
	f[15] = 5;
	memcpy(f + 16, in + 12, n - 12);
	pass("VLAN", f, n + 4, if_c0, -1);
	/* Not IP at all (ARP ethertype). */
	memcpy(f, in, n);
	f[12] = 0x08;
	f[13] = 0x06;
	pass("ARP", f, n, if_c0, -1);

	/* IPv6: a hop-by-hop header before UDP; a zero UDP checksum. */
	n = up_frame(in, &C6, &L6, CH(S_66), 8, 8, 0, CS_OK);
	memcpy(f, in, 54);
	static const uint8_t hbh[8] = {17, 0, 1, 4, 0, 0, 0, 0};
	memcpy(f + 54, hbh, 8);
	memcpy(f + 62, in + 54, n - 54);
	f[20] = 0;
	f[19] += 8;
	pass("IPv6 extension header", f, n + 8, if_c0, -1);
	memcpy(f, in, n);
	f[60] = f[61] = 0;
	pass("IPv6 zero UDP checksum", f, n, if_c0, -1);
	memcpy(f, in, n);
	f[20] = 58; /* ICMPv6 */
	pass("IPv6 not UDP", f, n, if_c0, -1);
	/* Too short for ChannelData (3 payload bytes starting 0x40). */
	{
		uint8_t pl[3] = {0x40, 0x01, 0x00};
		n = frame(in, mac_c0, mac_cl, &C4, &L4, 0, pl, 3, CS_OK, HDR_IN, 0);
		pass("3-byte payload", in, n, if_c0, -1);
	}
	/* Frames cut short: in the UDP header, in the IPv4 header. */
	pass("runt 40", in, 40, if_c0, -1);
	pass("runt 30", in, 30, if_c0, -1);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Median of single runs (repeat > 1 would rerun on the rewritten frame).
 * Each includes the kernel's clock reads around the run: an upper bound. */
static uint32_t median_ns(int prog, bool tc, const uint8_t *in, size_t n, int ifindex)
{
	enum { RUNS = 2001 };
	static uint32_t t[RUNS];
	uint8_t out[4096];
	struct xdp_md xctx = {.data_end = (uint32_t)n, .ingress_ifindex = (uint32_t)ifindex};
	struct __sk_buff sctx = {.ifindex = (uint32_t)ifindex};
	for (int i = 0; i < RUNS; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)n, .data_out = out,
		            .data_size_out = sizeof(out), .repeat = 1);
		o.ctx_in = tc ? (void *)&sctx : (void *)&xctx;
		o.ctx_size_in = tc ? sizeof(sctx) : sizeof(xctx);
		assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
		t[i] = o.duration;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_u32);
	return t[RUNS / 2];
}

/* Mean over many runs of a frame the program leaves as it is. */
static uint32_t mean_ns(int prog, bool tc, const uint8_t *in, size_t n, int ifindex)
{
	uint8_t out[4096];
	struct xdp_md xctx = {.data_end = (uint32_t)n, .ingress_ifindex = (uint32_t)ifindex};
	struct __sk_buff sctx = {.ifindex = (uint32_t)ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)n, .data_out = out,
	            .data_size_out = sizeof(out), .repeat = 200000);
	o.ctx_in = tc ? (void *)&sctx : (void *)&xctx;
	o.ctx_size_in = tc ? sizeof(sctx) : sizeof(xctx);
	assert_int_equal(bpf_prog_test_run_opts(prog, &o), 0);
	return o.duration;
}

/* Reported, not asserted (issue 11's goal: <= 100 ns per packet; the
 * benchmark in docs/PERFORMANCE.md is the measurement that counts). */
static void test_timing(void **state)
{
	(void)state;
	NEED();
	uint8_t a[256], b[256], c[256];
	size_t na = up_frame(a, &C4, &L4, CH(S_44), 100, 100, 0, CS_OK);
	size_t nb = up_frame(b, &C4, &L4, CH(S_46), 100, 100, 0, CS_OK);
	uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
	                    3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
	size_t nc = frame(c, mac_c0, mac_cl, &C4, &L4, 0, stun, sizeof(stun), CS_OK, HDR_IN, 0);
	int fd_pass = bpf_program__fd(bpf_object__find_program_by_name(obj, FP_ABI_PROG_PASS));
	print_message("fastpath: median ns per run (upper bound), xdp / tc:\n");
	print_message("  empty program      %u (the measurement's own cost)\n",
	              median_ns(fd_pass, false, c, nc, if_c0));
	print_message("  v4 -> v4 relay     %u / %u\n", median_ns(prog_xdp, false, a, na, if_c0),
	              median_ns(prog_tc, true, a, na, if_c0));
	print_message("  v4 -> v6 relay     %u / %u\n", median_ns(prog_xdp, false, b, nb, if_c0),
	              median_ns(prog_tc, true, b, nb, if_c0));
	print_message("  STUN (2 lookups)   %u / %u\n", median_ns(prog_xdp, false, c, nc, if_c0),
	              median_ns(prog_tc, true, c, nc, if_c0));
	/* Passes leave the frame as it was: many runs, a mean. */
	uint8_t d[256], e[256];
	size_t nd = up_frame(d, &C4, &L4, CH(S_NN), 100, 100, 0, CS_OK);
	size_t ne = up_frame(e, &C4, &L4, CH(S_EXP), 100, 100, 0, CS_OK);
	print_message("fastpath: mean ns per run over 200000, xdp / tc:\n");
	print_message("  empty program      %u\n", mean_ns(fd_pass, false, c, nc, if_c0));
	print_message("  STUN (2 lookups)   %u / %u\n", mean_ns(prog_xdp, false, c, nc, if_c0),
	              mean_ns(prog_tc, true, c, nc, if_c0));
	print_message("  expired (4 lookups) %u / %u\n", mean_ns(prog_xdp, false, e, ne, if_c0),
	              mean_ns(prog_tc, true, e, ne, if_c0));
	print_message("  no neighbour (+FIB) %u / %u\n", mean_ns(prog_xdp, false, d, nd, if_c0),
	              mean_ns(prog_tc, true, d, nd, if_c0));
}

#endif /* TERN_HAVE_BPF */

int main(void)
{
#ifdef TERN_HAVE_BPF
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_v4),         cmocka_unit_test(test_relay_v6),
	    cmocka_unit_test(test_relay_cross),      cmocka_unit_test(test_relay_tx),
	    cmocka_unit_test(test_relay_csum_edges), cmocka_unit_test(test_pass_mapping),
	    cmocka_unit_test(test_pass_headers),     cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
#else
	printf("fastpath: built without eBPF: nothing to test\n");
	return 0;
#endif
}
