/* Peer address policy (coturn CVE-2020-26262 class): without
 * --allow-loopback-peers, no relaying to loopback, private, link-local,
 * multicast, unspecified, NAT64/6to4/IPv4-mapped forms of those; the
 * allowed-peer-ip and denied-peer-ip options open and close ranges.
 *
 * SAFETY: this test asks the relay for forbidden peers such as 10.0.0.1 and
 * 169.254.169.254. It re-executes itself inside a fresh network namespace
 * (unshare --net) holding only a loopback interface, and checks that there
 * is no other interface before starting any server, so that a bug cannot
 * send a single packet off the machine. Inside, the "forbidden" addresses
 * are added to lo, which makes them local: a catcher socket bound to the
 * wildcard address sees anything the relay would leak to them (lib/netns.c).
 * Exits 77 (skipped) when no network namespace can be created. */
#include "it.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUIET_MS 300
#define WAIT_MS  2000

static struct turnc_resp r;
static uint8_t buf[65536];

/* Addresses made local inside the namespace (on lo): forbidden ones the
 * server must refuse, and two "public" documentation addresses that play
 * the allowed peer (RFC 5737 / RFC 3849 ranges, not denied by default). */
#define CONTROL4 "198.51.100.7"
#define CONTROL6 "2001:db8::7"
#define RELAY_IP "10.1.2.3" /* own_addresses(): the server's relay address */
static const char *const lo_addrs[] = {
    "10.0.0.1/32",
    "169.254.169.254/32",
    "192.168.1.1/32",
    "172.16.0.1/32",
    "100.64.0.1/32",
    CONTROL4 "/32",
    "fc00::1/128",
    "::127.0.0.1/128",
    "64:ff9b::7f00:1/128",
    "2002:7f00:1::/128",
    CONTROL6 "/128",
    RELAY_IP "/32",
    NULL,
};

/* coturn allows private ranges by default; to check our client against it,
 * deny what tern denies by default (coturn takes ranges "a-b"). */
static const char *const coturn_denied[] = {
    "--no-multicast-peers",
    "--denied-peer-ip=10.0.0.0-10.255.255.255",
    "--denied-peer-ip=172.16.0.0-172.31.255.255",
    "--denied-peer-ip=192.168.0.0-192.168.255.255",
    "--denied-peer-ip=100.64.0.0-100.127.255.255",
    "--denied-peer-ip=169.254.0.0-169.254.255.255",
    "--denied-peer-ip=0.0.0.0-0.255.255.255",
    "--denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "--denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "--denied-peer-ip=64:ff9b::-64:ff9b::ffff:ffff",
    "--denied-peer-ip=2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
};

static int start(struct srv *s, const char *const *extra)
{
	const char *args[64];
	unsigned n = 0;
	static const char *const base[] = {IT_AUTH_ARGS, "--relay-ip", "127.0.0.1", "--relay-ip", "::1"};

	for (unsigned k = 0; k < sizeof(base) / sizeof(base[0]); k++)
		args[n++] = base[k];
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	if (srv_is_coturn()) {
		for (unsigned k = 0; k < sizeof(coturn_denied) / sizeof(coturn_denied[0]); k++)
			args[n++] = coturn_denied[k];
	}
	args[n] = NULL;
	return srv_start(s, 16, args);
}

struct catcher {
	struct peer v4, v6; /* 0.0.0.0:port and [::]:port, same port */
	uint16_t port;
};

static bool catcher_open(struct catcher *k)
{
	if (peer_open(&k->v4, "0.0.0.0", 0) < 0)
		return false;
	k->port = addr_port(&k->v4.addr);
	return peer_open(&k->v6, "::", k->port) == 0;
}

static unsigned catcher_drain(struct catcher *k)
{
	return peer_drain(&k->v4, QUIET_MS, NULL) + peer_drain(&k->v6, 0, NULL);
}

/* Prove the catcher sees a datagram sent to every forbidden address that
 * can be delivered locally, so "nothing arrived" below means something. */
static void catcher_selftest(struct catcher *k)
{
	static const char *const deliverable[] = {
	    "127.0.0.1",       "127.0.0.2",       "0.0.0.0",       "10.0.0.1", "169.254.169.254",
	    "192.168.1.1",     "172.16.0.1",      "100.64.0.1",    "::1",      "::ffff:127.0.0.1",
	    "::127.0.0.1",     "64:ff9b::7f00:1", "2002:7f00:1::", "::",       "fc00::1",
	    "::ffff:10.0.0.1", CONTROL4,          CONTROL6,
	};
	unsigned missed = 0;
	int fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0),
	    fd4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int off = 0;
	setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)); /* to reach ::ffff: forms */
	for (unsigned i = 0; i < sizeof(deliverable) / sizeof(deliverable[0]); i++) {
		union tern_addr a = it_addr(deliverable[i], k->port);
		bool v6 = a.sa.sa_family == AF_INET6;
		struct peer *p = v6 && !IN6_IS_ADDR_V4MAPPED(&a.v6.sin6_addr) ? &k->v6 : &k->v4;
		ssize_t sent = sendto(v6 ? fd6 : fd4, "probe", 5, 0, &a.sa, addr_len(&a));
		int err = errno;
		int got = sent == 5 ? peer_recv(p, buf, sizeof(buf), NULL, WAIT_MS) : -1;
		if (got != 5) {
			tap_diag("catcher did not see a datagram sent to %s (sendto %zd %s, recv %d)",
			         it_fmt(&a), sent, sent < 0 ? strerror(err) : "ok", got);
			missed++;
		}
	}
	close(fd4);
	close(fd6);
	tap_int(missed, 0, "the catcher receives datagrams sent to every locally deliverable test address");
}

/* A permitted "public" peer: permission, Send, arrival at the catcher. */
static bool control(struct turnc *c, struct catcher *k, const union tern_addr *relay, const char *ip,
                    const char *what)
{
	union tern_addr peer = it_addr(ip, k->port), from;
	struct peer *p = peer.sa.sa_family == AF_INET6 ? &k->v6 : &k->v4;
	int rc = turnc_permission(c, &peer, 1, &r);
	if (!tap_check(rc == 0, "%s: CreatePermission for %s: %s", what, ip, it_outcome(rc)))
		return false;
	turnc_send(c, &peer, "control", 7);
	int n = peer_recv(p, buf, sizeof(buf), &from, WAIT_MS);
	return tap_check(n == 7 && memcmp(buf, "control", 7) == 0 && addr_equal(&from, relay),
	                 "%s: Send to %s arrives at the catcher from the relay", what, ip);
}

/* Every form of forbidden peer: 403 on CreatePermission and ChannelBind,
 * and a Send indication that must go nowhere. */
static void forbidden(struct turnc *c, struct catcher *k, const char *const *ips, unsigned n,
                      const char *what)
{
	uint16_t ch = 0x4100;
	for (unsigned i = 0; i < n; i++) {
		union tern_addr peer = it_addr(ips[i], k->port);
		int rc = turnc_permission(c, &peer, 1, &r);
		it_check_tern(rc == 403, "%s: CreatePermission for %s is answered 403 (%s)", what, ips[i],
		              it_outcome(rc));
		rc = turnc_channel_bind(c, ch++, &peer, &r);
		it_check_tern(rc == 403, "%s: ChannelBind to %s is answered 403 (%s)", what, ips[i],
		              it_outcome(rc));
		turnc_send(c, &peer, "leak", 4);
	}
	unsigned leaked = catcher_drain(k);
	tap_int(leaked, 0, "%s: nothing sent to the forbidden peers arrived anywhere", what);
	static struct turnc_data d;
	tap_check(turnc_recv(c, &d, 0) == 0, "%s: and nothing came back to the client", what);
}

static const char *const bad4[] = {"127.0.0.1",   "127.0.0.2",  "0.0.0.0",    "10.0.0.1",  "169.254.169.254",
                                   "192.168.1.1", "172.16.0.1", "100.64.0.1", "224.0.0.1", "255.255.255.255"};
static const char *const bad6[] = {
    "::1", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
    "::",  "fe80::1",          "fc00::1",     "::ffff:10.0.0.1", "ff02::1"};

static void default_policy(struct catcher *k)
{
	struct srv s;
	struct turnc c4, c6;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;

	tap_diag("---- default policy (no --allow-loopback-peers) ----");
	if (!tap_check(start(&s, NULL) == 0, "server without --allow-loopback-peers starts"))
		return;
	if (it_client(&c4, &s, AF_INET) < 0 || it_client(&c6, &s, AF_INET6) < 0)
		goto out;
	int rc = turnc_allocate(&c4, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relay4 = r.relayed[0];
	tap_check(rc == 0, "IPv4 allocation: %s", it_outcome(rc));
	o.family = STUN_FAMILY_IPV6;
	rc = turnc_allocate(&c6, &o, &r);
	union tern_addr relay6 = r.relayed[0];
	tap_check(rc == 0 && relay6.sa.sa_family == AF_INET6, "IPv6 allocation: %s", it_outcome(rc));

	control(&c4, k, &relay4, CONTROL4, "IPv4 control");
	control(&c6, k, &relay6, CONTROL6, "IPv6 control");
	forbidden(&c4, k, bad4, sizeof(bad4) / sizeof(bad4[0]), "IPv4");
	forbidden(&c6, k, bad6, sizeof(bad6) / sizeof(bad6[0]), "IPv6");
	/* The server's own listening address is never a peer. */
	union tern_addr own = s.addr;
	rc = turnc_permission(&c4, &own, 1, &r);
	it_check_tern(rc == 403,
	              "CreatePermission for the server's own listening address is answered 403 (%s)",
	              it_outcome(rc));

	tap_check(srv_alive(&s), "server still running");
	rc = turnc_binding(&c4, &r);
	tap_check(rc == 0, "server still answers Binding: %s", it_outcome(rc));
	control(&c4, k, &relay4, CONTROL4, "IPv4 control again");
	turnc_refresh(&c4, 0, &r);
	turnc_refresh(&c6, 0, &r);
	turnc_close(&c4);
	turnc_close(&c6);
out:
	srv_stop_check(&s);
}

static void allow_deny(struct catcher *k)
{
	struct srv s;
	struct turnc c;
	const char *extra[] = {"--allow-loopback-peers", "--denied-peer-ip", "127.0.0.3",
	                       "--allowed-peer-ip",      "10.0.0.1",         NULL};
	union tern_addr from;
	int rc;

	tap_diag("---- --allow-loopback-peers --denied-peer-ip 127.0.0.3 --allowed-peer-ip 10.0.0.1 ----");
	if (!tap_check(start(&s, extra) == 0, "server with allow/deny options starts"))
		return;
	if (it_client(&c, &s, AF_INET) < 0)
		goto out;
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relay = r.relayed[0];
	tap_check(rc == 0, "allocation: %s", it_outcome(rc));

	static const char *const open_ips[] = {"127.0.0.2", "10.0.0.1"};
	for (unsigned i = 0; i < 2; i++) {
		union tern_addr peer = it_addr(open_ips[i], k->port);
		rc = turnc_permission(&c, &peer, 1, &r);
		tap_check(rc == 0, "%s is permitted: %s", open_ips[i], it_outcome(rc));
		turnc_send(&c, &peer, "open", 4);
		int n = peer_recv(&k->v4, buf, sizeof(buf), &from, WAIT_MS);
		tap_check(n == 4 && addr_equal(&from, &relay), "Send to %s arrives from the relay",
		          open_ips[i]);
	}
	static const char *const closed[] = {"127.0.0.3", "10.0.0.2", "192.168.1.1"};
	forbidden(&c, k, closed, 3, "denied-peer-ip and still-default-denied");
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);
out:
	srv_stop_check(&s);
}

/* The server's own addresses on its listening port are never a peer,
 * whatever the allow ranges: relaying there makes the server answer
 * itself (a Binding request sent through the relay came back as a Data
 * indication holding ternd's own answer). With wildcard listening, every
 * address of the host counts, not only the relay address. */
static void own_addresses(struct catcher *k)
{
	struct srv s;
	struct turnc c;
	static struct turnc_data d;
	uint8_t req[128], txid[STUN_TXID_LEN];
	struct turnc_req q;
	const char *args[] = {IT_AUTH_ARGS, "--listening-ip",    "0.0.0.0",    "--relay-ip",
	                      RELAY_IP,     "--allowed-peer-ip", "10.0.0.0/8", NULL};
	/* the relay address, and another address of the host (on lo here) */
	static const char *const own[] = {RELAY_IP, "10.0.0.1"};
	uint16_t ch = 0x4200;
	int rc;

	tap_diag("---- --listening-ip 0.0.0.0 --relay-ip " RELAY_IP " --allowed-peer-ip 10.0.0.0/8 ----");
	if (!tap_check(srv_start(&s, 16, args) == 0, "server listening on the wildcard address starts"))
		return;
	struct srv to = s;
	to.addr = it_addr("127.0.0.1", s.port); /* the wildcard listener, through loopback */
	if (it_client(&c, &to, AF_INET) < 0)
		goto out;
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relay = r.relayed[0];
	if (!tap_check(rc == 0, "allocation: %s", it_outcome(rc)))
		goto close;
	union tern_addr want = it_addr(RELAY_IP, addr_port(&relay));
	tap_addr(&relay, &want, "the relayed address is on " RELAY_IP);

	turnc_req_init(&q, STUN_BINDING);
	q.no_auth = true;
	for (unsigned i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		/* the allow range opens the address on other ports */
		control(&c, k, &relay, own[i], "own address, another port, inside an allowed range");
		union tern_addr peer = it_addr(own[i], s.port);
		rc = turnc_channel_bind(&c, ch++, &peer, &r);
		it_check_tern(rc == 403, "ChannelBind to %s (the listening port) is answered 403 (%s)",
		              it_fmt(&peer), it_outcome(rc));
		turnc_random_txid(txid);
		int n = turnc_build(&c, &q, txid, false, req, sizeof(req));
		tap_check(n > 0 && turnc_send(&c, &peer, req, (size_t)n) == 0,
		          "Send indication carrying a Binding request to %s", it_fmt(&peer));
		rc = turnc_recv(&c, &d, QUIET_MS * 2);
		it_check_tern(rc == 0, "no Data indication comes back from %s (%s)", it_fmt(&peer),
		              rc > 0    ? "the server answered itself through the relay"
		              : rc == 0 ? "none"
		                        : "something malformed");
	}
	tap_check(srv_alive(&s), "server still running");
	rc = turnc_refresh(&c, 0, &r);
	tap_check(rc == 0, "allocation deleted: %s", it_outcome(rc));
close:
	turnc_close(&c);
out:
	srv_stop_check(&s);
}

int main(int argc, char **argv)
{
	struct catcher k;

	int rc = it_netns_enter(argc, argv);
	if (rc >= 0)
		return rc;
	srv_setup(argc, argv);
	tap_watchdog(200);
	tap_diag("running inside a private network namespace");
	if (!it_netns_isolate(lo_addrs))
		return tap_done();
	bool caught = catcher_open(&k);
	if (!tap_check(caught, "catcher sockets on 0.0.0.0 and :: (port %u)", k.port))
		return tap_done();
	catcher_selftest(&k);
	default_policy(&k);
	allow_deny(&k);
	own_addresses(&k);
	return tap_done();
}
