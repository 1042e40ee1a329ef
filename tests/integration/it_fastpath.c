/* The kernel fast path (issue 11, docs/FASTPATH.md) in a real topology.
 *
 * Three private network namespaces made by the test, client, relay and
 * peer, joined by two veth pairs, addresses only from 198.18.0.0/15 and
 * 2001:2::/48, no default route anywhere (checked before ternd starts), so
 * nothing can leave the machine; they vanish with the test process:
 *
 *   client ns                relay ns (ternd)                  peer ns
 *   fp-r 198.18.0.2  ---  fp-c 198.18.0.1   fp-p 198.19.0.1  ---  fp-r 198.19.0.2
 *        2001:2:0:1::2         2001:2:0:1::1     2001:2:0:2::1         2001:2:0:2::2
 *                        (listening)       (relay)                     (.3, ::3: forbidden)
 *
 * Transmit checksum offload is off on every veth end, so every frame
 * carries full checksums as a NIC delivers them (and UDP GSO is cut into
 * real frames before it reaches the wire). Native XDP on a veth can only
 * redirect into a veth whose other end runs an XDP program: the client and
 * peer ends get tern_fp_pass (which passes everything). Neighbours are
 * static, so no first datagram waits for ARP or ND.
 *
 * For each mode (off, the control; xdp-native; xdp-generic; tc) ternd runs
 * in the relay namespace, and:
 *  - ChannelData both ways, IPv4, IPv6 and across families (two dual
 *    allocations, IPv4 and IPv6 clients, each with channels to an IPv4 and
 *    an IPv6 peer), odd and even sizes, padded and not: relayed byte for
 *    byte; every frame that leaves the relay is captured where it arrives
 *    (AF_PACKET on the client and peer ends) and its IP and UDP checksums
 *    computed here; with the fast path on the program's counters account
 *    for every datagram and the user-space counters for none, with it off
 *    the reverse;
 *  - a permission that expires (channel alive), a channel that expires
 *    (permission refreshed), an allocation deleted by Refresh 0: the next
 *    datagrams go to user space, which drops them or sends a Data
 *    indication, as without the fast path;
 *  - a forbidden peer stays unreachable, an unbound channel and a peer port
 *    without a channel are not relayed by the program, Binding is still
 *    answered, Send and Data indications work beside offloaded channels;
 *  - after ternd stops nothing stays attached to the relay's interfaces.
 * Then fail-open: ternd with the program refused (--fast-path-test-fail)
 * relays through user space.
 *
 * Lifetimes are shortened (permission 2 s, channel 4 s): the test waits for
 * them once per mode; no check is about how fast anything ran.
 * TERN_IT_FASTPATH_MODES="off,tc" runs a subset. Needs root and a build with
 * eBPF (clang, libbpf); otherwise exits 77. */
#include "it.h"
#include "topo.h"

#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(TERN_HAVE_BPF) && defined(TERN_IT_FASTPATH_OBJ)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#define HAVE_FP 1
#else
#define HAVE_FP 0
#endif

#define WAIT_MS  2000
#define QUIET_MS 300

#define PERM_S 2
#define CHAN_S 4
/* Expiry may be late by ternd's once-a-second sweep; never early. */
#define SLACK_MS 1500

#define IF_C  "fp-c" /* relay ns, toward the client */
#define IF_P  "fp-p" /* relay ns, toward the peer */
#define IF_CP "fp-r" /* the client's and the peer's ends */

#define LISTEN4 "198.18.0.1"
#define CLIENT4 "198.18.0.2"
#define LISTEN6 "2001:2:0:1::1"
#define CLIENT6 "2001:2:0:1::2"
#define RELAY4  "198.19.0.1"
#define PEER4   "198.19.0.2"
#define FORBID4 "198.19.0.3" /* 198.18.0.0/15 is denied by default; only PEER4 is allowed */
#define RELAY6  "2001:2:0:2::1"
#define PEER6   "2001:2:0:2::2"
#define FORBID6 "2001:2:0:2::3" /* --denied-peer-ip */

#if HAVE_FP
static struct topo T;
static struct srv S;
static char g_sock[160], g_dir[64];
static bool g_has_option; /* ternd knows --fast-path */
static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536], want[65536];

/* ------------------------------------------------------------------ */
/* Captured frames: every frame arriving at the client's or the peer's end
 * is checked (tally); those of a window are kept to match datagrams. */

enum { SIDE_C, SIDE_P };
static struct cap caps[2];

struct tally {
	unsigned frames, ip, udp, bad_ip, bad_udp, zero_udp, partial, bad_len;
};
static struct tally tal;

#define MAX_KEPT 256
static struct kept {
	int side;
	union tern_addr src, dst;
	size_t len;
	int csum; /* struct cap_frame's udp_csum */
	uint8_t data[1500];
	bool matched;
} kept[MAX_KEPT];
static unsigned nkept;
static bool keeping;

static void cap_take(int side, const struct cap_frame *f)
{
	tal.frames++;
	if (f->family == 0)
		return;
	tal.ip++;
	if (!f->lengths_ok) {
		tal.bad_len++;
		tap_diag("frame with inconsistent IP/UDP lengths on side %d (%zu bytes)", side, f->frame_len);
		return;
	}
	if (!f->ip_csum_ok) {
		tal.bad_ip++;
		tap_diag("IPv4 header checksum wrong: %s -> %s", it_fmt(&f->src), it_fmt(&f->dst));
	}
	if (f->csum_partial)
		tal.partial++;
	if (f->proto != IPPROTO_UDP || f->fragment)
		return;
	tal.udp++;
	if (f->udp_csum == 0) {
		tal.bad_udp++;
		tap_diag("UDP checksum wrong: %s -> %s, %zu bytes", it_fmt(&f->src), it_fmt(&f->dst), f->len);
	} else if (f->udp_csum < 0) {
		tal.zero_udp++;
	}
	if (keeping && nkept < MAX_KEPT && f->len <= sizeof(kept[0].data)) {
		struct kept *k = &kept[nkept++];
		k->side = side;
		k->src = f->src;
		k->dst = f->dst;
		k->len = f->len;
		k->csum = f->udp_csum;
		memcpy(k->data, f->payload, f->len);
		k->matched = false;
	}
}

/* Everything received so far (the receivers already got their datagrams,
 * so their frames have passed the tap: nothing to wait for). */
static void cap_drain(void)
{
	static struct cap_frame f;
	for (int s = 0; s < 2; s++)
		while (caps[s].fd >= 0 && cap_next(&caps[s], &f, 0) == 1)
			cap_take(s, &f);
}

static void keep_begin(void)
{
	cap_drain();
	nkept = 0;
	keeping = true;
}

/* The kept frame of side carrying exactly this datagram, marked; false if none. */
static bool cap_match(int side, const union tern_addr *src, const union tern_addr *dst, const uint8_t *p,
                      size_t len)
{
	for (unsigned i = 0; i < nkept; i++) {
		struct kept *k = &kept[i];
		if (k->matched || k->side != side || k->len != len || !addr_equal(&k->src, src) ||
		    !addr_equal(&k->dst, dst) || memcmp(k->data, p, len) != 0)
			continue;
		k->matched = true;
		return true;
	}
	return false;
}

static unsigned cap_to(int side, const char *ip)
{
	union tern_addr a = it_addr(ip, 0);
	unsigned n = 0;
	for (unsigned i = 0; i < nkept; i++) {
		union tern_addr dst = it_with_port(&kept[i].dst, 0);
		n += kept[i].side == side && addr_equal(&dst, &a);
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* ternd's counters (stats socket JSON). */

enum {
	K_TO_PEER,
	K_TO_PEER_B,
	K_TO_CLIENT,
	K_TO_CLIENT_B,
	K_TX,
	K_P_UNMAPPED,
	K_P_EXPIRED,
	K_P_STALE,
	K_P_MALFORMED,
	K_P_NO_NEIGH,
	K_P_MTU,
	K_P_FIB,
	K_P_CSUM,
	K_ERRORS,
	K_RX_CLIENT,
	K_RX_PEER,
	K_REL_PEER,
	K_REL_CLIENT,
	K_DROPPED,
	K_MAPPINGS,
	K_INSTALLS,
	K_INSTALL_FAIL,
	K_N
};
static const char *const knames[K_N] = {"to_peer",
                                        "to_peer_bytes",
                                        "to_client",
                                        "to_client_bytes",
                                        "tx",
                                        "pass_unmapped",
                                        "pass_expired",
                                        "pass_stale",
                                        "pass_malformed",
                                        "pass_no_neigh",
                                        "pass_mtu",
                                        "pass_fib",
                                        "pass_csum",
                                        "errors",
                                        "rx_client",
                                        "rx_peer",
                                        "relayed_to_peer",
                                        "relayed_to_client",
                                        "dropped",
                                        "fastpath_mappings",
                                        "fastpath_installs",
                                        "fastpath_install_failures"};

struct snap {
	bool ok;
	long v[K_N];
	char json[1 << 16];
};
static struct snap s0, s1;

static bool snap(struct snap *s)
{
	s->ok = it_stats_json(g_sock, s->json, sizeof(s->json)) > 0;
	for (unsigned k = 0; k < K_N; k++)
		s->v[k] = s->ok ? (long)it_stats_field(s->json, knames[k], NULL) : -1;
	if (!s->ok)
		tap_diag("stats socket %s does not answer", g_sock);
	return s->ok;
}

static long dv(unsigned k)
{
	return s1.v[k] - s0.v[k];
}

/* The value of "name":"..." in json (first one), or "". */
static const char *json_str(const char *json, const char *name, char *out, size_t cap)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":\"", name);
	const char *p = strstr(json, key);
	out[0] = 0;
	if (p) {
		p += strlen(key);
		snprintf(out, cap, "%.*s", (int)strcspn(p, "\""), p);
	}
	return out;
}

static unsigned json_count(const char *json, const char *needle)
{
	unsigned n = 0;
	for (const char *p = json; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Sockets in their namespaces. */

static int client_open(struct turnc *c, int family)
{
	union tern_addr server = it_addr(family == AF_INET6 ? LISTEN6 : LISTEN4, S.port);
	union tern_addr local = it_addr(family == AF_INET6 ? CLIENT6 : CLIENT4, 0);
	topo_enter(&T, TOPO_CLIENT);
	int rc = turnc_open_from(c, &server, &local);
	topo_enter(&T, TOPO_RELAY);
	if (rc < 0) {
		tap_check(false, "client socket on %s: %s", it_fmt(&local), strerror(-rc));
		c->fd = -1;
		return rc;
	}
	turnc_set_creds(c, IT_USER, IT_PASS);
	return 0;
}

static int peer_open_ns(struct peer *p, const char *ip)
{
	topo_enter(&T, TOPO_PEER);
	int rc = peer_open(p, ip, 0);
	topo_enter(&T, TOPO_RELAY);
	if (rc < 0)
		tap_check(false, "peer socket on %s: %s", ip, strerror(-rc));
	return rc;
}

/* ------------------------------------------------------------------ */
/* The permission of allocation B is refreshed while its channel expires. */

static struct {
	struct turnc *c;
	union tern_addr peer;
	int64_t last;
	bool on;
} keeper;
static struct turnc_resp keeper_r;

static void keeper_tick(void)
{
	if (!keeper.on || it_now_ms() - keeper.last < 700)
		return;
	int rc = turnc_permission(keeper.c, &keeper.peer, 1, &keeper_r);
	if (rc != 0)
		tap_diag("B: CreatePermission refresh: %s", it_outcome(rc));
	keeper.last = it_now_ms();
}

static void wait_until(int64_t t)
{
	for (int64_t now = it_now_ms(); now < t; now = it_now_ms()) {
		keeper_tick();
		it_sleep_ms((int)(t - now < 100 ? t - now : 100));
	}
}

/* ------------------------------------------------------------------ */
/* Payloads: distinct bytes per datagram. */

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

static const size_t sizes[] = {1, 2, 3, 4, 5, 64, 101, 255, 1000, 1001, 1400};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
static const bool padded[NSIZES] = {false, false, true, false, true, false, true, false, false, true, false};

struct flow {
	const char *name;
	struct turnc *c;
	uint16_t ch;
	struct peer *p;
	union tern_addr relay;
};

struct mode {
	const char *name; /* --fast-path value */
	bool fast;        /* the program should relay */
	const char *attach;
};

static unsigned g_seed;

/* One channel both ways, one datagram per size each way, in lockstep. */
static void window(const struct mode *m, const struct flow *f)
{
	unsigned up = 0, down = 0, cap_up = 0, cap_down = 0, wire_bad = 0;
	long bytes_up = 0, bytes_down = 0;
	union tern_addr from;
	const union tern_addr listen = f->c->server, client = f->c->local;

	int rc = turnc_channel_bind(f->c, f->ch, &f->p->addr, &r);
	if (!tap_check(rc == 0, "%s %s: ChannelBind 0x%04x (%s)", m->name, f->name, f->ch, it_outcome(rc)))
		return;
	keep_begin();
	snap(&s0);
	unsigned seed0 = g_seed;
	int wait = WAIT_MS;
	for (unsigned i = 0; i < NSIZES; i++) {
		fill(want, sizes[i], g_seed++);
		turnc_send_channel(f->c, f->ch, want, sizes[i], padded[i]);
		int n = peer_recv(f->p, buf, sizeof(buf), &from, wait);
		if (n == (int)sizes[i] && memcmp(buf, want, sizes[i]) == 0 && addr_equal(&from, &f->relay))
			up++;
		else {
			wait = QUIET_MS; /* once one is lost, do not wait long for the others */
			tap_diag("%s: %zu bytes to the peer: got %d from %s", f->name, sizes[i], n,
			         n >= 0 ? it_fmt(&from) : "-");
		}
		bytes_up += (long)sizes[i];
	}
	for (unsigned i = 0; i < NSIZES; i++) {
		fill(want, sizes[i], g_seed++);
		if (i == 0)
			wait = WAIT_MS;
		peer_send(f->p, &f->relay, want, sizes[i]);
		rc = turnc_recv(f->c, &d, wait);
		if (rc == 1 && d.is_channel && d.channel == f->ch && d.len == sizes[i] &&
		    memcmp(d.data, want, sizes[i]) == 0) {
			down++;
			/* RFC 8656 §12.5: over UDP padding is allowed, not needed */
			if (d.wire_len != 4 + sizes[i] && d.wire_len != ((4 + sizes[i] + 3) & ~(size_t)3))
				wire_bad++;
		} else {
			wait = QUIET_MS;
			tap_diag("%s: %zu bytes to the client: rc %d channel %d len %zu", f->name, sizes[i],
			         rc, rc == 1 && d.is_channel, rc == 1 ? d.len : 0);
		}
		bytes_down += (long)sizes[i];
	}
	snap(&s1);
	cap_drain();
	keeping = false;
	/* match each datagram with the frame that carried it */
	g_seed = seed0;
	for (unsigned i = 0; i < NSIZES; i++) {
		fill(want, sizes[i], g_seed++);
		cap_up += cap_match(SIDE_P, &f->relay, &f->p->addr, want, sizes[i]);
	}
	for (unsigned i = 0; i < NSIZES; i++) {
		uint8_t *cd = buf;
		fill(cd + 4, sizes[i], g_seed++);
		cd[0] = (uint8_t)(f->ch >> 8);
		cd[1] = (uint8_t)f->ch;
		cd[2] = (uint8_t)(sizes[i] >> 8);
		cd[3] = (uint8_t)sizes[i];
		size_t wl = 4 + sizes[i], pl = (wl + 3) & ~(size_t)3;
		memset(cd + wl, 0, pl - wl);
		cap_down += cap_match(SIDE_C, &listen, &client, cd, wl) ||
		            cap_match(SIDE_C, &listen, &client, cd, pl);
	}

	tap_check(up == NSIZES,
	          "%s %s: %u ChannelData datagrams (1..1400 bytes, odd, even, padded) reach the peer "
	          "byte for byte from the relayed address (%u)",
	          m->name, f->name, (unsigned)NSIZES, up);
	tap_check(down == NSIZES && wire_bad == 0,
	          "%s %s: %u datagrams from the peer reach the client as ChannelData byte for byte (%u, %u "
	          "with a wrong wire length)",
	          m->name, f->name, (unsigned)NSIZES, down, wire_bad);
	tap_check(cap_up == NSIZES && cap_down == NSIZES,
	          "%s %s: each of them captured leaving the relay, exact addresses, ports and bytes (to the "
	          "peer %u, to the client %u of %u)",
	          m->name, f->name, cap_up, cap_down, (unsigned)NSIZES);
	if (!s0.ok || !s1.ok) {
		tap_check(false, "%s %s: stats socket answers", m->name, f->name);
		return;
	}
	long n = (long)NSIZES;
	if (m->fast) {
		tap_check(dv(K_TO_PEER) == n && dv(K_TO_CLIENT) == n && dv(K_TO_PEER_B) == bytes_up &&
		              dv(K_TO_CLIENT_B) == bytes_down,
		          "%s %s: the program counted every datagram: to_peer %ld (%ld bytes), to_client %ld "
		          "(%ld bytes); want %ld (%ld), %ld (%ld)",
		          m->name, f->name, dv(K_TO_PEER), dv(K_TO_PEER_B), dv(K_TO_CLIENT),
		          dv(K_TO_CLIENT_B), n, bytes_up, n, bytes_down);
		tap_check(
		    dv(K_RX_CLIENT) == 0 && dv(K_RX_PEER) == 0 && dv(K_REL_PEER) == 0 &&
		        dv(K_REL_CLIENT) == 0 && dv(K_DROPPED) == 0,
		    "%s %s: user space counted none of them: rx_client %ld, rx_peer %ld, relayed_to_peer "
		    "%ld, relayed_to_client %ld, dropped %ld",
		    m->name, f->name, dv(K_RX_CLIENT), dv(K_RX_PEER), dv(K_REL_PEER), dv(K_REL_CLIENT),
		    dv(K_DROPPED));
		long pass = 0;
		for (unsigned k = K_P_UNMAPPED; k <= K_P_CSUM; k++) {
			pass += dv(k);
			if (dv(k))
				tap_diag("%s %s: %s +%ld", m->name, f->name, knames[k], dv(k));
		}
		tap_check(dv(K_ERRORS) == 0 && pass == 0,
		          "%s %s: no redirect errors (%ld) and nothing passed to user space (%ld)", m->name,
		          f->name, dv(K_ERRORS), pass);
	} else {
		tap_check(dv(K_TO_PEER) == 0 && dv(K_TO_CLIENT) == 0 && dv(K_TO_PEER_B) == 0 &&
		              dv(K_TO_CLIENT_B) == 0,
		          "%s %s: the program counted none of them (to_peer %ld, to_client %ld)", m->name,
		          f->name, dv(K_TO_PEER), dv(K_TO_CLIENT));
		tap_check(
		    dv(K_RX_CLIENT) == n && dv(K_RX_PEER) == n && dv(K_REL_PEER) == n &&
		        dv(K_REL_CLIENT) == n,
		    "%s %s: user space counted every one: rx_client %ld, rx_peer %ld, relayed_to_peer %ld, "
		    "relayed_to_client %ld (want %ld each)",
		    m->name, f->name, dv(K_RX_CLIENT), dv(K_RX_PEER), dv(K_REL_PEER), dv(K_REL_CLIENT), n);
	}
}

/* Datagrams the program must leave to user space, which relays them:
 * grown past the egress MTU by the change of family (IPv4 client to IPv6
 * peer, IPv4 peer to IPv6 client), and an IPv4 datagram without a UDP
 * checksum towards an IPv6 peer (mandatory there); the same without
 * checksum towards an IPv4 peer may stay without one (RFC 768). */
static unsigned zero_allowed;

static void edges(const struct mode *m, struct turnc *c4, struct turnc *c6, struct peer *p4, struct peer *p6,
                  const union tern_addr *r4, const union tern_addr *r6)
{
	union tern_addr from;
	int rc = turnc_channel_bind(c4, 0x4002, &p6->addr, &r);
	rc = rc ? rc : turnc_channel_bind(c6, 0x4002, &p4->addr, &r);
	rc = rc ? rc : turnc_channel_bind(c4, 0x4001, &p4->addr, &r);
	if (!tap_check(rc == 0, "%s: channels refreshed for the edge cases (%s)", m->name, it_outcome(rc)))
		return;
	keep_begin();
	snap(&s0);
	/* 14+20+8+4+1460: fits 1500 as IPv4 ChannelData, 40+8+1460 does not as IPv6 */
	fill(want, 1460, 7);
	turnc_send_channel(c4, 0x4002, want, 1460, false);
	int n = peer_recv(p6, buf, sizeof(buf), &from, WAIT_MS);
	bool up = n == 1460 && memcmp(buf, want, 1460) == 0;
	fill(want, 1450, 8);
	peer_send(p4, &r6[0], want, 1450);
	rc = turnc_recv(c6, &d, WAIT_MS);
	bool down = rc == 1 && d.is_channel && d.len == 1450 && memcmp(d.data, want, 1450) == 0;
	snap(&s1);
	tap_diag("%s: over the MTU after the change of family: to the IPv6 peer %s, to the IPv6 client %s",
	         m->name, up ? "arrived" : "did not arrive", down ? "arrived" : "did not arrive");
	tap_check(dv(K_TO_PEER) == 0 && dv(K_TO_CLIENT) == 0 && dv(K_P_MTU) == (m->fast ? 2 : 0) &&
	              dv(K_RX_CLIENT) == 1 && dv(K_RX_PEER) == 1,
	          "%s: datagrams that would exceed the egress MTU are left to user space (program %ld/%ld, "
	          "pass_mtu %ld, rx_client %ld, rx_peer %ld)",
	          m->name, dv(K_TO_PEER), dv(K_TO_CLIENT), dv(K_P_MTU), dv(K_RX_CLIENT), dv(K_RX_PEER));

	/* the IPv4 client's socket sends without UDP checksum (SO_NO_CHECK) */
	int one = 1, zero = 0;
	snap(&s0);
	setsockopt(c4->fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one));
	fill(want, 333, 9);
	turnc_send_channel(c4, 0x4001, want, 333, false);
	n = peer_recv(p4, buf, sizeof(buf), &from, WAIT_MS);
	bool v4 = n == 333 && memcmp(buf, want, 333) == 0 && addr_equal(&from, &r4[0]);
	turnc_send_channel(c4, 0x4002, want, 333, false);
	n = peer_recv(p6, buf, sizeof(buf), &from, WAIT_MS);
	bool v6 = n == 333 && memcmp(buf, want, 333) == 0 && addr_equal(&from, &r4[1]);
	setsockopt(c4->fd, SOL_SOCKET, SO_NO_CHECK, &zero, sizeof(zero));
	snap(&s1);
	cap_drain();
	keeping = false;
	int csum4 = 2, csum6 = 2; /* 2: no frame */
	for (unsigned i = 0; i < nkept; i++) {
		if (kept[i].side != SIDE_P || kept[i].len != 333 || memcmp(kept[i].data, want, 333) != 0)
			continue;
		if (addr_equal(&kept[i].dst, &p4->addr))
			csum4 = kept[i].csum;
		if (addr_equal(&kept[i].dst, &p6->addr))
			csum6 = kept[i].csum;
	}
	tap_check(
	    v4 && v6 && csum6 == 1 && csum4 == (m->fast ? -1 : 1),
	    "%s: ChannelData sent without a UDP checksum reaches both peers byte for byte; the IPv6 frame "
	    "has a right checksum (%d), the IPv4 one %s (%d)",
	    m->name, csum6, m->fast ? "none, as it came in" : "a right one", csum4);
	if (m->fast) {
		tap_check(dv(K_TO_PEER) == 1 && dv(K_P_CSUM) == 1 && dv(K_REL_PEER) == 1,
		          "%s: ... the program relays it to IPv4 and leaves the IPv6 one to user space "
		          "(to_peer %ld, "
		          "pass_csum %ld, relayed_to_peer %ld)",
		          m->name, dv(K_TO_PEER), dv(K_P_CSUM), dv(K_REL_PEER));
		zero_allowed += csum4 == -1;
	} else {
		tap_check(dv(K_REL_PEER) == 2 && dv(K_TO_PEER) == 0,
		          "%s: ... both relayed by user space (%ld)", m->name, dv(K_REL_PEER));
	}
}

/* One datagram each way on an installed channel: both arrive. */
static bool one_each_way(const struct flow *f, const char *tag)
{
	union tern_addr from;
	size_t len = strlen(tag);
	turnc_send_channel(f->c, f->ch, tag, len, false);
	int n = peer_recv(f->p, buf, sizeof(buf), &from, WAIT_MS);
	bool ok = n == (int)len && memcmp(buf, tag, len) == 0;
	peer_send(f->p, &f->relay, tag, len);
	int rc = turnc_recv(f->c, &d, WAIT_MS);
	return ok && rc == 1 && d.is_channel && d.channel == f->ch && d.len == len &&
	       memcmp(d.data, tag, len) == 0;
}

/* Nothing at the peer and nothing at the client within QUIET_MS. */
static bool nothing_arrives(struct turnc *c, struct peer *p)
{
	return peer_recv(p, buf, sizeof(buf), NULL, QUIET_MS) < 0 && turnc_recv(c, &d, QUIET_MS) == 0;
}

/* ------------------------------------------------------------------ */
/* Attachments seen from the kernel, not from ternd. */

/* What the kernel has attached to ifname in the relay namespace, asked
 * through the bpf syscall and netlink (not ternd): "xdp-native NAME",
 * "xdp-generic NAME", "tc NAME" (tcx link, or a clsact filter), joined by
 * "+", or "" for nothing. */
static void prog_name(uint32_t id, char *out, size_t cap)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int fd = bpf_prog_get_fd_by_id(id);
	snprintf(out, cap, "id %u", id);
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		snprintf(out, cap, "%s", info.name);
	if (fd >= 0)
		close(fd);
}

static const char *attached(const char *ifname)
{
	static char what[160];
	char name[32];
	size_t n = 0;
	what[0] = 0;
	int ifindex = (int)if_nametoindex(ifname);
	if (ifindex <= 0)
		return "no such interface";
	LIBBPF_OPTS(bpf_xdp_query_opts, x);
	if (bpf_xdp_query(ifindex, 0, &x) == 0) {
		if (x.drv_prog_id || (x.attach_mode == XDP_ATTACHED_DRV && x.prog_id)) {
			prog_name(x.drv_prog_id ? x.drv_prog_id : x.prog_id, name, sizeof(name));
			n += (size_t)snprintf(what + n, sizeof(what) - n, "%sxdp-native %s", n ? "+" : "",
			                      name);
		}
		if (x.skb_prog_id || (x.attach_mode == XDP_ATTACHED_SKB && x.prog_id)) {
			prog_name(x.skb_prog_id ? x.skb_prog_id : x.prog_id, name, sizeof(name));
			n += (size_t)snprintf(what + n, sizeof(what) - n, "%sxdp-generic %s", n ? "+" : "",
			                      name);
		}
	}
	uint32_t ids[8];
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = 8);
	if (bpf_prog_query_opts(ifindex, (enum bpf_attach_type)46 /* BPF_TCX_INGRESS, Linux 6.6 */, &q) ==
	    0) {
		for (uint32_t i = 0; i < q.prog_cnt && i < 8; i++) {
			prog_name(ids[i], name, sizeof(name));
			n += (size_t)snprintf(what + n, sizeof(what) - n, "%stc %s", n ? "+" : "", name);
		}
	}
	char line[512];
	if (topo_sh_read(&T, TOPO_RELAY, line, sizeof(line), "tc filter show dev %s ingress", ifname) == 0 &&
	    line[0])
		n += (size_t)snprintf(what + n, sizeof(what) - n, "%stc clsact filter", n ? "+" : "");
	return what;
}

/* The relay namespace's forwarding switches, IPv4/IPv6: "lo 1/1, fp-c
 * 0/0, fp-p 0/0, all 0/0". The program's route lookups need forwarding on
 * lo (the loader switches it on, and back off at close); anywhere else it
 * would make the relay host a router between client and peer. */
static const char *forwarding(void)
{
	static char out[128];
	static const char *const devs[] = {"lo", IF_C, IF_P, "all"};
	size_t n = 0;
	out[0] = 0;
	for (unsigned i = 0; i < 4; i++) {
		char v4[16] = "?", v6[16] = "?";
		topo_sh_read(&T, TOPO_RELAY, v4, sizeof(v4), "sysctl -n net.ipv4.conf.%s.forwarding",
		             devs[i]);
		topo_sh_read(&T, TOPO_RELAY, v6, sizeof(v6), "sysctl -n net.ipv6.conf.%s.forwarding",
		             devs[i]);
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s %s/%s", i ? ", " : "", devs[i], v4, v6);
	}
	return out;
}

static int start(const char *mode, bool fail)
{
	const char *args[64];
	unsigned n = 0;
	static const char *const base[] = {
	    IT_AUTH_ARGS, "--listening-ip",   LISTEN4, "--listening-ip",        LISTEN6, "--relay-ip",
	    RELAY4,       "--relay-ip",       RELAY6,  "--allowed-peer-ip",     PEER4,   "--allowed-peer-ip",
	    PEER6,        "--denied-peer-ip", FORBID6, "--permission-lifetime", "2",     "--channel-lifetime",
	    "4",          "--workers",        "2",     "--stats-socket",        g_sock};
	for (unsigned k = 0; k < sizeof(base) / sizeof(base[0]); k++)
		args[n++] = base[k];
	if (g_has_option) {
		args[n++] = "--fast-path";
		args[n++] = mode;
		if (strcmp(mode, "off") != 0) {
			args[n++] = "--fast-path-interfaces";
			args[n++] = IF_C "," IF_P;
		}
		if (fail)
			args[n++] = "--fast-path-test-fail";
	}
	args[n] = NULL;
	unlink(g_sock);
	topo_enter(&T, TOPO_RELAY);
	return srv_start(&S, 16, args);
}

static void stop(const struct mode *m)
{
	srv_stop_check(&S);
	char c[160], p[160];
	snprintf(c, sizeof(c), "%s", attached(IF_C));
	snprintf(p, sizeof(p), "%s", attached(IF_P));
	tap_check(!c[0] && !p[0],
	          "%s: after ternd stopped nothing is attached to the relay's interfaces (%s: %s, %s: %s)",
	          m->name, IF_C, c[0] ? c : "none", IF_P, p[0] ? p : "none");
	const char *fw = forwarding();
	tap_check(strcmp(fw, "lo 0/0, fp-c 0/0, fp-p 0/0, all 0/0") == 0,
	          "%s: and forwarding is as it was before ternd started (%s)", m->name, fw);
}

static void run_mode(const struct mode *m)
{
	struct turnc c4, c6, ca, cb, cd, cx;
	struct peer p4, p6, p4b, pa, pb, pd, k4, k6;
	int rc;

	tap_diag("---- fast-path %s ----", m->name);
	cap_drain();
	memset(&tal, 0, sizeof(tal));
	zero_allowed = 0;
	if (!tap_check(start(m->name, false) == 0, "%s: ternd starts in the relay namespace", m->name))
		return;
	if (snap(&s0)) {
		char mode[32];
		json_str(s0.json, "mode", mode, sizeof(mode));
		if (m->fast) {
			char need[64];
			snprintf(need, sizeof(need), "\"attach\":\"%s\"", m->attach);
			unsigned both = json_count(s0.json, need);
			tap_check(strcmp(mode, m->name) == 0 && both == 2,
			          "%s: tern stats: fast path mode \"%s\", %u interfaces attached as %s",
			          m->name, mode, both, m->attach);
		}
	}
	if (m->fast) {
		char want_k[64], c[160], p[160];
		snprintf(want_k, sizeof(want_k), "%s %s", m->attach,
		         strcmp(m->attach, "tc") == 0 ? "tern_fp_tc" : "tern_fp_xdp");
		snprintf(c, sizeof(c), "%s", attached(IF_C));
		snprintf(p, sizeof(p), "%s", attached(IF_P));
		tap_check(strcmp(c, want_k) == 0 && strcmp(p, want_k) == 0,
		          "%s: the kernel shows the program on both relay interfaces (%s: %s, %s: %s)",
		          m->name, IF_C, c[0] ? c : "none", IF_P, p[0] ? p : "none");
		const char *fw = forwarding();
		tap_check(strcmp(fw, "lo 1/1, fp-c 0/0, fp-p 0/0, all 0/0") == 0,
		          "%s: forwarding on lo only, for the program's route lookups (%s)", m->name, fw);
	} else {
		char c[160], p[160];
		snprintf(c, sizeof(c), "%s", attached(IF_C));
		snprintf(p, sizeof(p), "%s", attached(IF_P));
		tap_check(!c[0] && !p[0], "%s: nothing attached to the relay's interfaces", m->name);
	}

	bool ok = client_open(&c4, AF_INET) == 0 && client_open(&c6, AF_INET6) == 0 &&
	          client_open(&ca, AF_INET) == 0 && client_open(&cb, AF_INET) == 0 &&
	          client_open(&cd, AF_INET6) == 0 && client_open(&cx, AF_INET) == 0 &&
	          peer_open_ns(&p4, PEER4) == 0 && peer_open_ns(&p6, PEER6) == 0 &&
	          peer_open_ns(&p4b, PEER4) == 0 && peer_open_ns(&pa, PEER4) == 0 &&
	          peer_open_ns(&pb, PEER4) == 0 && peer_open_ns(&pd, PEER6) == 0;
	if (!ok)
		goto out;
	/* catchers for the forbidden addresses, on the same port */
	topo_enter(&T, TOPO_PEER);
	ok = peer_open(&k4, "0.0.0.0", 0) == 0 && peer_open(&k6, "::", addr_port(&k4.addr)) == 0;
	topo_enter(&T, TOPO_RELAY);
	if (!tap_check(ok, "%s: catcher sockets in the peer namespace", m->name))
		goto out;

	/* dual allocations: both relayed addresses */
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	o.additional = STUN_FAMILY_IPV6;
	union tern_addr r4[2], r6[2];
	rc = turnc_allocate(&c4, &o, &r);
	ok = rc == 0 && r.nrelayed == 2;
	if (ok) {
		r4[0] = r.relayed[0].sa.sa_family == AF_INET ? r.relayed[0] : r.relayed[1];
		r4[1] = r.relayed[0].sa.sa_family == AF_INET ? r.relayed[1] : r.relayed[0];
	}
	tap_check(ok, "%s: IPv4 client: dual allocation (%s, %u relayed addresses)", m->name, it_outcome(rc),
	          r.nrelayed);
	rc = turnc_allocate(&c6, &o, &r);
	bool ok6 = rc == 0 && r.nrelayed == 2;
	if (ok6) {
		r6[0] = r.relayed[0].sa.sa_family == AF_INET ? r.relayed[0] : r.relayed[1];
		r6[1] = r.relayed[0].sa.sa_family == AF_INET ? r.relayed[1] : r.relayed[0];
	}
	tap_check(ok6, "%s: IPv6 client: dual allocation (%s, %u relayed addresses)", m->name, it_outcome(rc),
	          r.nrelayed);
	if (!ok || !ok6)
		goto out;
	union tern_addr want4 = it_addr(RELAY4, addr_port(&r4[0])),
	                want6 = it_addr(RELAY6, addr_port(&r4[1]));
	tap_check(addr_equal(&r4[0], &want4) && addr_equal(&r4[1], &want6),
	          "%s: relayed addresses on the peer side (%s, %s)", m->name, it_fmt(&r4[0]), it_fmt(&r4[1]));

	/* A (permission expires), B (channel expires), D (deleted) */
	union tern_addr ra, rb, rd;
	o = TURNC_ALLOC_DEFAULT;
	rc = turnc_allocate(&ca, &o, &r);
	ra = r.relayed[0];
	ok = rc == 0;
	rc = turnc_allocate(&cb, &o, &r);
	rb = r.relayed[0];
	ok = ok && rc == 0;
	o.family = STUN_FAMILY_IPV6; /* D: an IPv6 client, an IPv6 relay */
	rc = turnc_allocate(&cd, &o, &r);
	rd = r.relayed[0];
	ok = ok && rc == 0;
	ok = ok && turnc_channel_bind(&ca, 0x4000, &pa.addr, &r) == 0;
	int64_t t0 = it_now_ms();
	ok = ok && turnc_channel_bind(&cb, 0x4000, &pb.addr, &r) == 0;
	ok = ok && turnc_channel_bind(&cd, 0x4000, &pd.addr, &r) == 0;
	if (!tap_check(ok, "%s: allocations A, B, D with a channel each", m->name))
		goto out;
	keeper.c = &cb;
	keeper.peer = pb.addr;
	keeper.last = it_now_ms();
	keeper.on = true;
	struct flow fa = {"A", &ca, 0x4000, &pa, ra}, fb = {"B", &cb, 0x4000, &pb, rb},
	            fd = {"D", &cd, 0x4000, &pd, rd};
	snap(&s0);
	ok = one_each_way(&fa, "A-before") && one_each_way(&fb, "B-before") && one_each_way(&fd, "D-before");
	snap(&s1);
	tap_check(ok, "%s: A, B and D relay both ways", m->name);
	if (m->fast)
		tap_check(dv(K_TO_PEER) == 3 && dv(K_TO_CLIENT) == 3 && dv(K_REL_PEER) == 0 &&
		              dv(K_REL_CLIENT) == 0 && s0.v[K_MAPPINGS] == 3,
		          "%s: ... through the program (to_peer %ld, to_client %ld, user space %ld/%ld); "
		          "fastpath_mappings %ld (want 3)",
		          m->name, dv(K_TO_PEER), dv(K_TO_CLIENT), dv(K_REL_PEER), dv(K_REL_CLIENT),
		          s0.v[K_MAPPINGS]);
	else
		tap_check(dv(K_TO_PEER) == 0 && dv(K_REL_PEER) == 3 && dv(K_REL_CLIENT) == 3 &&
		              s0.v[K_MAPPINGS] == 0,
		          "%s: ... through user space (relayed %ld/%ld, program %ld, fastpath_mappings %ld)",
		          m->name, dv(K_REL_PEER), dv(K_REL_CLIENT), dv(K_TO_PEER), s0.v[K_MAPPINGS]);

	/* ChannelData both ways, every family pair */
	struct flow flows[] = {
	    {"IPv4 client, IPv4 peer", &c4, 0x4001, &p4, r4[0]},
	    {"IPv4 client, IPv6 peer", &c4, 0x4002, &p6, r4[1]},
	    {"IPv6 client, IPv6 peer", &c6, 0x4001, &p6, r6[1]},
	    {"IPv6 client, IPv4 peer", &c6, 0x4002, &p4, r6[0]},
	};
	for (unsigned i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
		keeper_tick();
		window(m, &flows[i]);
	}
	keeper_tick();

	/* ---- safety beside the offloaded channels ---- */
	rc = turnc_channel_bind(&c4, 0x4001, &p4.addr, &r); /* fresh permission for p4 */
	keep_begin();
	snap(&s0);
	int rb4 = turnc_binding(&cx, &r);
	union tern_addr mapped = r.mapped;
	snap(&s1);
	tap_check(rb4 == 0 && addr_equal(&mapped, &cx.local) && dv(K_TO_PEER) == 0 && dv(K_RX_CLIENT) == 1,
	          "%s: Binding is answered by user space (%s, mapped %s, rx_client +%ld)", m->name,
	          it_outcome(rb4), it_fmt(&mapped), dv(K_RX_CLIENT));

	/* forbidden peers: 403, and nothing reaches them */
	union tern_addr f4 = it_addr(FORBID4, addr_port(&k4.addr)),
	                f6 = it_addr(FORBID6, addr_port(&k4.addr));
	int rp4 = turnc_permission(&c4, &f4, 1, &r), rc4 = turnc_channel_bind(&c4, 0x4100, &f4, &r);
	int rp6 = turnc_permission(&c6, &f6, 1, &r), rc6 = turnc_channel_bind(&c6, 0x4100, &f6, &r);
	tap_check(
	    rp4 == 403 && rc4 == 403 && rp6 == 403 && rc6 == 403,
	    "%s: forbidden peers %s and %s: CreatePermission and ChannelBind answered 403 (%d %d %d %d)",
	    m->name, FORBID4, FORBID6, rp4, rc4, rp6, rc6);
	snap(&s0);
	turnc_send(&c4, &f4, "leak", 4);
	turnc_send(&c6, &f6, "leak", 4);
	turnc_send_channel(&c4, 0x4100, "leak", 4, false);
	turnc_send_channel(&c6, 0x4100, "leak", 4, false);
	unsigned leaked = peer_drain(&k4, QUIET_MS, NULL) + peer_drain(&k6, 0, NULL);
	snap(&s1);
	cap_drain();
	unsigned seen = cap_to(SIDE_P, FORBID4) + cap_to(SIDE_P, FORBID6);
	tap_check(
	    leaked == 0 && seen == 0 && dv(K_TO_PEER) == 0 && dv(K_DROPPED) == 4,
	    "%s: nothing reaches a forbidden peer (received %u, frames to them %u, program to_peer %ld, "
	    "dropped %ld of 4)",
	    m->name, leaked, seen, dv(K_TO_PEER), dv(K_DROPPED));

	/* an unbound channel is not relayed */
	snap(&s0);
	turnc_send_channel(&c4, 0x4ffe, "unbound", 7, false);
	int got = peer_recv(&p4, buf, sizeof(buf), NULL, QUIET_MS);
	snap(&s1);
	tap_check(got < 0 && dv(K_TO_PEER) == 0 && dv(K_RX_CLIENT) == 1 && dv(K_DROPPED) == 1 &&
	              dv(K_P_UNMAPPED) == (m->fast ? 1 : 0),
	          "%s: ChannelData on an unbound channel: not relayed, passed up (pass_unmapped %ld) and "
	          "dropped by user space (program to_peer %ld, rx_client %ld, dropped %ld)",
	          m->name, dv(K_P_UNMAPPED), dv(K_TO_PEER), dv(K_RX_CLIENT), dv(K_DROPPED));

	/* a permitted peer address from a port without a channel: Data indication */
	snap(&s0);
	peer_send(&p4b, &r4[0], "other-port", 10);
	rc = turnc_recv(&c4, &d, WAIT_MS);
	snap(&s1);
	tap_check(rc == 1 && !d.is_channel && d.len == 10 && memcmp(d.data, "other-port", 10) == 0 &&
	              addr_equal(&d.peer, &p4b.addr) && dv(K_TO_CLIENT) == 0 && dv(K_REL_CLIENT) == 1,
	          "%s: from the channel's peer address but another port: a Data indication from user space "
	          "(program to_client %ld, relayed_to_client %ld)",
	          m->name, dv(K_TO_CLIENT), dv(K_REL_CLIENT));

	/* Send indication to the channel's own peer, then ChannelData again */
	snap(&s0);
	turnc_send(&c4, &p4.addr, "send-ind", 8);
	int n1 = peer_recv(&p4, buf, sizeof(buf), NULL, WAIT_MS);
	bool sent_ok = n1 == 8 && memcmp(buf, "send-ind", 8) == 0;
	snap(&s1);
	tap_check(sent_ok && dv(K_REL_PEER) == 1 && dv(K_TO_PEER) == 0,
	          "%s: a Send indication to an offloaded channel's peer arrives, relayed by user space "
	          "(relayed_to_peer %ld, program to_peer %ld)",
	          m->name, dv(K_REL_PEER), dv(K_TO_PEER));
	snap(&s0);
	turnc_send_channel(&c4, 0x4001, "chan-after", 10, false);
	n1 = peer_recv(&p4, buf, sizeof(buf), NULL, WAIT_MS);
	snap(&s1);
	tap_check(n1 == 10 && memcmp(buf, "chan-after", 10) == 0 &&
	              (m->fast ? dv(K_TO_PEER) == 1 && dv(K_REL_PEER) == 0 : dv(K_REL_PEER) == 1),
	          "%s: and ChannelData on that channel still goes through %s (program %ld, user space %ld)",
	          m->name, m->fast ? "the program" : "user space", dv(K_TO_PEER), dv(K_REL_PEER));
	cap_drain();
	keeping = false;
	keeper_tick();

	/* ---- the program's edges: MTU, IPv4 without UDP checksum ---- */
	edges(m, &c4, &c6, &p4, &p6, r4, r6);
	keeper_tick();

	/* ---- D: deleted by Refresh 0 ---- */
	rc = turnc_refresh(&cd, 0, &r);
	snap(&s0);
	turnc_send_channel(&cd, 0x4000, "D-after", 7, false);
	peer_send(&pd, &rd, "D-after", 7);
	bool quiet = nothing_arrives(&cd, &pd);
	snap(&s1);
	tap_check(rc == 0 && quiet && dv(K_TO_PEER) == 0 && dv(K_TO_CLIENT) == 0 && dv(K_RX_CLIENT) == 1 &&
	              dv(K_DROPPED) == 1,
	          "%s: D deleted (Refresh 0: %s): its ChannelData and its peer's datagram are not relayed; "
	          "user space drops the ChannelData (program %ld/%ld, rx_client %ld, dropped %ld)",
	          m->name, it_outcome(rc), dv(K_TO_PEER), dv(K_TO_CLIENT), dv(K_RX_CLIENT), dv(K_DROPPED));

	/* ---- A: the permission expired, the channel not yet ---- */
	wait_until(t0 + PERM_S * 1000 + 800);
	snap(&s0);
	peer_send(&pa, &ra, "A-after", 7);
	turnc_send_channel(&ca, 0x4000, "A-after", 7, false);
	quiet = nothing_arrives(&ca, &pa);
	snap(&s1);
	tap_check(quiet && dv(K_TO_PEER) == 0 && dv(K_TO_CLIENT) == 0 && dv(K_RX_CLIENT) == 1 &&
	              dv(K_RX_PEER) == 1 && dv(K_DROPPED) == 2,
	          "%s: A's permission expired (%.1f s after binding): neither datagram relayed, both dropped "
	          "by user space (program %ld/%ld, rx_client %ld, rx_peer %ld, dropped %ld)",
	          m->name, (double)(it_now_ms() - t0) / 1000, dv(K_TO_PEER), dv(K_TO_CLIENT), dv(K_RX_CLIENT),
	          dv(K_RX_PEER), dv(K_DROPPED));

	/* ---- B: the channel expired, its permission refreshed ---- */
	wait_until(t0 + CHAN_S * 1000 + SLACK_MS);
	keeper.last = 0;
	keeper_tick(); /* the permission is fresh; no refresh inside the snapshot */
	snap(&s0);
	peer_send(&pb, &rb, "B-after", 7);
	rc = turnc_recv(&cb, &d, WAIT_MS);
	bool as_data = rc == 1 && !d.is_channel && d.len == 7 && memcmp(d.data, "B-after", 7) == 0;
	turnc_send_channel(&cb, 0x4000, "B-after", 7, false);
	got = peer_recv(&pb, buf, sizeof(buf), NULL, QUIET_MS);
	snap(&s1);
	keeper.on = false;
	tap_check(as_data && got < 0 && dv(K_TO_PEER) == 0 && dv(K_TO_CLIENT) == 0 && dv(K_REL_CLIENT) == 1 &&
	              dv(K_DROPPED) == 1,
	          "%s: B's channel expired (%.1f s), its permission alive: the peer's datagram arrives as a "
	          "Data indication (%s), ChannelData is dropped (program %ld/%ld, relayed_to_client %ld, "
	          "dropped %ld)",
	          m->name, (double)(it_now_ms() - t0) / 1000, as_data ? "yes" : "no", dv(K_TO_PEER),
	          dv(K_TO_CLIENT), dv(K_REL_CLIENT), dv(K_DROPPED));

	/* every allocation deleted: no mapping left */
	turnc_refresh(&c4, 0, &r);
	turnc_refresh(&c6, 0, &r);
	turnc_refresh(&ca, 0, &r);
	turnc_refresh(&cb, 0, &r);
	snap(&s1);
	tap_check(s1.v[K_MAPPINGS] == 0 && s1.v[K_INSTALL_FAIL] == 0 && (m->fast ? s1.v[K_INSTALLS] >= 7 : 1),
	          "%s: every allocation deleted: fastpath_mappings %ld, installs %ld, install failures %ld",
	          m->name, s1.v[K_MAPPINGS], s1.v[K_INSTALLS], s1.v[K_INSTALL_FAIL]);

	cap_drain();
	tap_check(
	    tal.udp > 0 && tal.bad_ip == 0 && tal.bad_udp == 0 && tal.zero_udp == zero_allowed &&
	        tal.partial == 0 && tal.bad_len == 0,
	    "%s: every frame the relay sent (%u, %u IP, %u UDP) has right IP and UDP checksums computed "
	    "here (wrong: IPv4 header %u, UDP %u; UDP without checksum %u, %u of them sent so; marked "
	    "partial %u, bad lengths %u)",
	    m->name, tal.frames, tal.ip, tal.udp, tal.bad_ip, tal.bad_udp, tal.zero_udp, zero_allowed,
	    tal.partial, tal.bad_len);
out:
	keeper.on = false;
	keeping = false;
	turnc_close(&c4);
	turnc_close(&c6);
	turnc_close(&ca);
	turnc_close(&cb);
	turnc_close(&cd);
	turnc_close(&cx);
	peer_close(&p4);
	peer_close(&p6);
	peer_close(&p4b);
	peer_close(&pa);
	peer_close(&pb);
	peer_close(&pd);
	peer_close(&k4);
	peer_close(&k6);
	stop(m);
}

/* The program refused: relaying goes on in user space. */
static void fail_open(void)
{
	const struct mode m = {"fail-open", false, ""};
	struct turnc c;
	struct peer p;

	tap_diag("---- fast-path xdp-native with the program refused (--fast-path-test-fail) ----");
	if (!tap_check(start("xdp-native", true) == 0, "fail-open: ternd starts with the program refused"))
		return;
	char ci[160], pi[160];
	snprintf(ci, sizeof(ci), "%s", attached(IF_C));
	snprintf(pi, sizeof(pi), "%s", attached(IF_P));
	tap_check(!ci[0] && !pi[0], "fail-open: nothing attached to the relay's interfaces (%s, %s)",
	          ci[0] ? ci : "none", pi[0] ? pi : "none");
	if (snap(&s0)) {
		char mode[32];
		json_str(s0.json, "mode", mode, sizeof(mode));
		tap_check(json_count(s0.json, "\"attach\":") == 0 && strcmp(mode, "off") == 0,
		          "fail-open: tern stats shows the fast path off (\"%s\"), no interface attached",
		          mode);
	}
	char cmd[256], line[512];
	snprintf(cmd, sizeof(cmd), "grep -c 'fastpath: not attached.*user space relays' %s", S.log);
	FILE *lf = popen(cmd, "r");
	line[0] = 0;
	if (lf) {
		if (!fgets(line, sizeof(line), lf))
			line[0] = 0;
		pclose(lf);
	}
	tap_check(atoi(line) == 1, "fail-open: one log line says the fast path is not attached (%d)",
	          atoi(line));
	if (client_open(&c, AF_INET) == 0 && peer_open_ns(&p, PEER4) == 0) {
		int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		struct flow f = {"IPv4 client, IPv4 peer", &c, 0x4001, &p, r.relayed[0]};
		if (tap_check(rc == 0, "fail-open: Allocate (%s)", it_outcome(rc)))
			window(&m, &f);
		turnc_refresh(&c, 0, &r);
		peer_close(&p);
	}
	turnc_close(&c);
	stop(&m);
}

/* ------------------------------------------------------------------ */
/* Setup. */

#if HAVE_FP
/* tern_fp_pass (XDP_PASS) in native mode on ifname of namespace i: a veth
 * only takes a native-XDP redirect when its other end runs a program. */
static bool attach_pass(int i, const char *ifname)
{
	struct bpf_object *o = bpf_object__open_file(TERN_IT_FASTPATH_OBJ, NULL);
	bool ok = false;
	if (!o) {
		tap_diag("open %s: %s", TERN_IT_FASTPATH_OBJ, strerror(errno));
		return false;
	}
	struct bpf_program *prog, *pass = NULL;
	bpf_object__for_each_program(prog, o)
	{
		bool it = strcmp(bpf_program__name(prog), "tern_fp_pass") == 0;
		bpf_program__set_autoload(prog, it);
		if (it)
			pass = prog;
	}
	int rc = pass ? bpf_object__load(o) : -ENOENT;
	if (rc == 0) {
		topo_enter(&T, i);
		int ifindex = (int)if_nametoindex(ifname);
		rc = ifindex > 0 ? bpf_xdp_attach(ifindex, bpf_program__fd(pass), XDP_FLAGS_DRV_MODE, NULL)
		                 : -ENODEV;
		topo_enter(&T, TOPO_RELAY);
	}
	if (rc != 0)
		tap_diag("tern_fp_pass on %s: %s", ifname, strerror(-rc));
	ok = rc == 0;
	bpf_object__close(o); /* the attachment holds the program */
	return ok;
}
#endif

static bool setup(void)
{
	int rc = topo_make(&T);
	if (!tap_check(rc == 0, "three private network namespaces (client, relay, peer): %s",
	               rc ? strerror(-rc) : "made"))
		return false;
	bool ok = topo_veth(&T, TOPO_RELAY, IF_C, TOPO_CLIENT, IF_CP) == 0 &&
	          topo_veth(&T, TOPO_RELAY, IF_P, TOPO_PEER, IF_CP) == 0;
	if (!tap_check(ok, "two veth pairs: relay %s - client %s, relay %s - peer %s", IF_C, IF_CP, IF_P,
	               IF_CP))
		return false;
	static const struct {
		int ns;
		const char *dev, *addr;
	} addrs[] = {
	    {TOPO_RELAY, IF_C, LISTEN4 "/24"},   {TOPO_RELAY, IF_C, LISTEN6 "/64"},
	    {TOPO_CLIENT, IF_CP, CLIENT4 "/24"}, {TOPO_CLIENT, IF_CP, CLIENT6 "/64"},
	    {TOPO_RELAY, IF_P, RELAY4 "/24"},    {TOPO_RELAY, IF_P, RELAY6 "/64"},
	    {TOPO_PEER, IF_CP, PEER4 "/24"},     {TOPO_PEER, IF_CP, PEER6 "/64"},
	    {TOPO_PEER, IF_CP, FORBID4 "/24"},   {TOPO_PEER, IF_CP, FORBID6 "/64"},
	};
	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		bool v6 = strchr(addrs[i].addr, ':') != NULL;
		ok = ok && topo_sh(&T, addrs[i].ns, "ip addr add %s dev %s%s", addrs[i].addr, addrs[i].dev,
		                   v6 ? " nodad" : "") == 0;
	}
	if (!tap_check(ok, "addresses from 198.18.0.0/15 and 2001:2::/48 only"))
		return false;
	if (!tap_check(strcmp(forwarding(), "lo 0/0, fp-c 0/0, fp-p 0/0, all 0/0") == 0,
	               "the relay namespace forwards nothing (IPv4/IPv6 forwarding: %s)", forwarding()))
		return false;
	/* static neighbours: no first datagram waits for ARP or ND */
	char mc[18], mrc[18], mp[18], mrp[18];
	ok = topo_mac(&T, TOPO_CLIENT, IF_CP, mc) == 0 && topo_mac(&T, TOPO_RELAY, IF_C, mrc) == 0 &&
	     topo_mac(&T, TOPO_PEER, IF_CP, mp) == 0 && topo_mac(&T, TOPO_RELAY, IF_P, mrp) == 0;
	static const char *const cl[] = {CLIENT4, CLIENT6}, *const rl[] = {LISTEN4, LISTEN6},
	                         *const pe[] = {PEER4, PEER6, FORBID4, FORBID6},
	                         *const rr[] = {RELAY4, RELAY6};
	for (unsigned i = 0; ok && i < 2; i++) {
		ok = topo_sh(&T, TOPO_RELAY, "ip neigh replace %s lladdr %s dev %s nud permanent", cl[i], mc,
		             IF_C) == 0 &&
		     topo_sh(&T, TOPO_CLIENT, "ip neigh replace %s lladdr %s dev %s nud permanent", rl[i],
		             mrc, IF_CP) == 0 &&
		     topo_sh(&T, TOPO_PEER, "ip neigh replace %s lladdr %s dev %s nud permanent", rr[i], mrp,
		             IF_CP) == 0;
	}
	for (unsigned i = 0; ok && i < 4; i++)
		ok = topo_sh(&T, TOPO_RELAY, "ip neigh replace %s lladdr %s dev %s nud permanent", pe[i], mp,
		             IF_P) == 0;
	if (!tap_check(ok, "static neighbour entries on every side"))
		return false;
	/* isolation: nothing routes off these namespaces */
	unsigned routes = 0;
	for (int i = 0; i < TOPO_NS; i++) {
		char line[256];
		for (int v = 4; v <= 6; v += 2) {
			if (topo_sh_read(&T, i, line, sizeof(line), "ip -%d route show default", v) != 0 ||
			    line[0]) {
				tap_diag("namespace %d: IPv%d default route: %s", i, v, line);
				routes++;
			}
		}
		if (topo_sh(
		        &T, i,
		        "! ip route get 8.8.8.8 >/dev/null 2>&1 && ! ip -6 route get 2001:4860:4860::8888 "
		        ">/dev/null 2>&1") != 0)
			routes++;
	}
	if (!tap_check(routes == 0, "no default route and no route to the Internet in any namespace"))
		return false;
	/* full checksums on every frame */
	static const struct {
		int ns;
		const char *dev;
	} ends[] = {{TOPO_CLIENT, IF_CP}, {TOPO_PEER, IF_CP}, {TOPO_RELAY, IF_C}, {TOPO_RELAY, IF_P}};
	unsigned off = 0;
	for (unsigned i = 0; i < 4; i++)
		off += topo_tx_csum(&T, ends[i].ns, ends[i].dev, false) == 0 &&
		       topo_tx_csum_get(&T, ends[i].ns, ends[i].dev) == 0;
	if (!tap_check(off == 4, "transmit checksum offload off on the four veth ends (%u)", off))
		return false;
#if HAVE_FP
	ok = attach_pass(TOPO_CLIENT, IF_CP) && attach_pass(TOPO_PEER, IF_CP);
	char line[512];
	topo_sh_read(&T, TOPO_CLIENT, line, sizeof(line), "ip -o link show dev %s", IF_CP);
	ok = ok && strstr(line, " xdp") != NULL;
	topo_sh_read(&T, TOPO_PEER, line, sizeof(line), "ip -o link show dev %s", IF_CP);
	ok = ok && strstr(line, " xdp") != NULL;
	if (!tap_check(ok, "tern_fp_pass attached (native XDP) to the client's and the peer's ends"))
		return false;
#endif
	topo_enter(&T, TOPO_CLIENT);
	int c1 = cap_open(&caps[SIDE_C], IF_CP);
	topo_enter(&T, TOPO_PEER);
	int c2 = cap_open(&caps[SIDE_P], IF_CP);
	topo_enter(&T, TOPO_RELAY);
	return tap_check(c1 == 0 && c2 == 0, "AF_PACKET capture on the client's and the peer's ends (%s, %s)",
	                 strerror(-c1), strerror(-c2));
}

/* The checksum code against a known header and a flipped bit, so a pass
 * above means something. */
static void checksum_selftest(void)
{
	/* RFC 1071-style example: an IPv4 header with checksum 0xb861 */
	static const uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                                0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	/* Ethernet + IPv4 + UDP "hi!" from 198.18.0.1:3478 to 198.18.0.2:4000, sums made by hand below */
	uint8_t fr[14 + 20 + 8 + 3] = {0};
	uint8_t *ip = fr + 14, *u = ip + 20;
	fr[12] = 0x08;
	memcpy(ip,
	       (const uint8_t[]){0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2},
	       20);
	uint16_t ipc = (uint16_t)~cap_sum(ip, 20, 0);
	ip[10] = (uint8_t)(ipc >> 8);
	ip[11] = (uint8_t)ipc;
	memcpy(u, (const uint8_t[]){0x0d, 0x96, 0x0f, 0xa0, 0, 11, 0, 0, 'h', 'i', '!'}, 11);
	uint32_t ps = cap_sum(ip + 12, 8, 0) + 17 + 11;
	uint16_t uc = (uint16_t)~cap_sum(u, 11, ps);
	u[6] = (uint8_t)(uc >> 8);
	u[7] = (uint8_t)uc;
	static struct cap_frame f;
	cap_parse(fr, sizeof(fr), &f);
	bool good = f.family == AF_INET && f.ip_csum_ok && f.udp_csum == 1 && f.len == 3;
	fr[sizeof(fr) - 1] ^= 1;
	cap_parse(fr, sizeof(fr), &f);
	bool flip_udp = f.ip_csum_ok && f.udp_csum == 0;
	fr[sizeof(fr) - 1] ^= 1;
	ip[8] = 63; /* TTL: the IP header sum breaks (the UDP one does not cover it) */
	cap_parse(fr, sizeof(fr), &f);
	bool flip_ip = !f.ip_csum_ok && f.udp_csum == 1;
	tap_check(
	    cap_sum(hdr, 20, 0) == 0xffff && good && flip_udp && flip_ip,
	    "checksum verifier: a known header sums right, a built frame verifies, a flipped payload bit "
	    "and a changed TTL are caught");
}

static bool ternd_has_fast_path(void)
{
	char cmd[600], line[512];
	snprintf(cmd, sizeof(cmd), "%s --help 2>&1", getenv("TERND") ? getenv("TERND") : "ternd");
	FILE *f = popen(cmd, "r");
	bool has = false;
	while (f && fgets(line, sizeof(line), f))
		has |= strstr(line, "--fast-path ") != NULL;
	if (f)
		pclose(f);
	return has;
}

#endif /* HAVE_FP */

int main(int argc, char **argv)
{
	if (geteuid() != 0) {
		printf("ok 1 - three-namespace fast path test # SKIP needs root (namespaces, veth, XDP)\n0 "
		       "passed, 0 failed\n");
		return 77;
	}
#if !HAVE_FP
	(void)argc;
	(void)argv;
	printf("ok 1 - three-namespace fast path test # SKIP built without eBPF (clang, libbpf)\n"
	       "0 passed, 0 failed\n");
	return 77;
#else
	if (argc > 1)
		setenv("TERND", argv[1], 1);
	srv_setup(argc, argv);
	tap_watchdog(150);
	checksum_selftest();
	snprintf(g_dir, sizeof(g_dir), "/tmp/tern-it-fp-XXXXXX");
	if (!mkdtemp(g_dir))
		return tap_check(false, "temp dir"), tap_done();
	snprintf(g_sock, sizeof(g_sock), "%s/stats.sock", g_dir);
	if (!setup())
		return tap_done();
	g_has_option = ternd_has_fast_path();
	tap_check(g_has_option, "ternd has the --fast-path option");

	static const struct mode modes[] = {
	    {"off", false, ""},
	    {"xdp-native", true, "xdp-native"},
	    {"xdp-generic", true, "xdp-generic"},
	    {"tc", true, "tc"},
	};
	const char *only = getenv("TERN_IT_FASTPATH_MODES");
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (only && *only) {
			char list[256];
			snprintf(list, sizeof(list), ",%s,", only);
			char item[40];
			snprintf(item, sizeof(item), ",%s,", modes[i].name);
			if (!strstr(list, item))
				continue;
		}
		if (modes[i].fast && !g_has_option) {
			tap_check(false, "%s: ternd has no --fast-path option", modes[i].name);
			continue;
		}
		run_mode(&modes[i]);
	}
	if (!only || !*only || strstr(only, "fail-open")) {
		if (g_has_option)
			fail_open();
	}
	for (int s = 0; s < 2; s++)
		cap_close(&caps[s]);
	topo_free(&T);
	unlink(g_sock);
	rmdir(g_dir);
	return tap_done();
#endif
}
