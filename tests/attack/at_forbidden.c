/* Attack: relay into forbidden places (SSRF, coturn CVE-2020-26262 class).
 *
 * Every range docs/SECURITY.md denies by default (first, inner and last
 * addresses), every IPv4-in-IPv6 spelling of loopback and private addresses
 * (IPv4-mapped, IPv4-compatible, NAT64 and local-use NAT64, 6to4, Teredo),
 * the unspecified addresses and the server's own listening addresses,
 * through each way a client can name a peer:
 *   - CreatePermission and ChannelBind: answered 403;
 *   - Send indication: nothing arrives at a catcher listening on every
 *     local address, and the policy drop counter (stats socket) grows by
 *     exactly the number of Sends.
 * Then the operator's knobs: allow-loopback-peers opens 127/8 and ::1 but
 * nothing else, and never the server's own listening addresses; an
 * allowed NAT64 prefix still has its embedded IPv4 address judged.
 *
 * SAFETY: the test runs itself inside a private network namespace (the
 * mechanism of it_policy.c, tests/attack/lib/netns.c) and checks that it
 * holds nothing but lo before any server starts. The forbidden addresses
 * that Linux accepts on lo are added there, so a leak would be delivered
 * locally to the catcher instead of going anywhere. Exits 77 (skipped)
 * when no namespace can be made. */
#include "attack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROL4 "198.51.100.7" /* documentation ranges: allowed by default */
#define CONTROL6 "2001:db8::7"
#define WAIT_MS  2000

static const char *const lo_addrs[] = {
    "10.0.0.1/32",          "10.255.255.254/32",
    "169.254.169.254/32",   "169.254.0.1/32",
    "192.168.0.1/32",       "192.168.1.1/32",
    "172.16.0.1/32",        "172.31.255.254/32",
    "100.64.0.1/32",        "100.127.255.254/32",
    "192.0.0.170/32",       "198.18.0.1/32",
    "198.19.255.254/32",    CONTROL4 "/32",
    "fc00::1/128",          "fd00:ec2::254/128",
    "::127.0.0.1/128",      "::10.0.0.1/128",
    "64:ff9b::7f00:1/128",  "64:ff9b::a00:1/128",
    "64:ff9b::808:808/128", "64:ff9b::c633:6407/128",
    "2002:7f00:1::/128",    "2002:a00:1::/128",
    "2002:808:808::1/128",  "2001::1/128",
    CONTROL6 "/128",        NULL,
};

/* Denied by default: each range of the table in docs/SECURITY.md. */
static const char *const bad4[] = {
    "0.0.0.0",         "0.1.2.3",         "0.255.255.255",                      /* 0/8 */
    "127.0.0.1",       "127.1.2.3",       "127.255.255.254",                    /* loopback */
    "10.0.0.1",        "10.255.255.254",                                        /* RFC 1918 */
    "172.16.0.1",      "172.31.255.254",  "192.168.0.1",     "192.168.255.254", /* RFC 1918 */
    "100.64.0.1",      "100.127.255.254",                                       /* CGN */
    "169.254.169.254", "169.254.0.1",                                           /* link-local, metadata */
    "192.0.0.170",     "192.0.0.1",                                             /* IETF protocol */
    "198.18.0.1",      "198.19.255.254",                                        /* benchmarking */
    "224.0.0.1",       "239.255.255.250",                                       /* multicast */
    "240.0.0.1",       "255.255.255.254", "255.255.255.255",                    /* class E, broadcast */
};
static const char *const bad6[] = {
    "::",
    "::1", /* unspecified, loopback */
    "fc00::1",
    "fd00:ec2::254",
    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", /* ULA, AWS metadata */
    "fe80::1",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", /* link-local */
    "ff02::1",
    "ff0e::1", /* multicast */
    /* IPv4-mapped */
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::ffff:192.168.1.1",
    "::ffff:172.16.0.1",
    "::ffff:100.64.0.1",
    "::ffff:224.0.0.1",
    /* IPv4-compatible */
    "::127.0.0.1",
    "::10.0.0.1",
    "::169.254.169.254",
    "::192.168.1.1",
    /* NAT64 well-known and local-use prefixes: denied, whatever they embed */
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b::808:808",
    "64:ff9b:1::a00:1",
    "64:ff9b:1:c633:64:7c6:c633:6407",
    /* 6to4 and Teredo */
    "2002:7f00:1::",
    "2002:a00:1::",
    "2002:c0a8:101::",
    "2002:808:808::1",
    "2001::1",
    "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
};

static struct turnc_resp r;
static uint8_t buf[65536];
static uint16_t next_channel = 0x4000;

struct catcher {
	struct peer v4, v6;
	uint16_t port;
};

static unsigned catcher_drain(struct catcher *k, int wait_ms)
{
	return peer_drain(&k->v4, wait_ms, NULL) + peer_drain(&k->v6, 0, NULL);
}

/* The catcher sees datagrams sent to every address this test made local,
 * so "nothing arrived" below is a statement about those addresses. */
static void catcher_selftest(struct catcher *k)
{
	static const char *const local[] = {
	    "127.0.0.1",        "127.1.2.3",       "0.0.0.0",     "10.0.0.1",
	    "169.254.169.254",  "192.168.1.1",     "172.16.0.1",  "100.64.0.1",
	    "192.0.0.170",      "198.18.0.1",      "::1",         "::",
	    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1",
	    "2002:7f00:1::",    "fc00::1",         "2001::1",     CONTROL4,
	    CONTROL6,
	};
	unsigned missed = 0;
	int fd4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
	    fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int off = 0;
	setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	for (unsigned i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		union tern_addr a = it_addr(local[i], k->port);
		bool v6 = a.sa.sa_family == AF_INET6;
		struct peer *p = v6 && !IN6_IS_ADDR_V4MAPPED(&a.v6.sin6_addr) ? &k->v6 : &k->v4;
		/* Three tries: an address just added may take a moment to route. */
		ssize_t sent = -1;
		int got = -1, err = 0;
		for (int t = 0; t < 3 && got != 5; t++) {
			sent = sendto(v6 ? fd6 : fd4, "probe", 5, 0, &a.sa, addr_len(&a));
			err = errno;
			got = sent == 5 ? peer_recv(p, buf, sizeof(buf), NULL, WAIT_MS) : -1;
			if (sent != 5)
				it_sleep_ms(200);
		}
		if (got != 5) {
			tap_diag("catcher did not see a datagram sent to %s (sendto %zd%s%s, recv %d)",
			         it_fmt(&a), sent, sent < 0 ? ": " : "", sent < 0 ? strerror(err) : "", got);
			missed++;
		}
	}
	close(fd4);
	close(fd6);
	tap_int(missed, 0, "the catcher receives what is sent to every address the test made local (%zu)",
	        sizeof(local) / sizeof(local[0]));
}

/* A permitted peer: CreatePermission, Send, arrival from the relay. */
static bool allowed(struct turnc *c, struct catcher *k, const union tern_addr *relay, const char *ip,
                    const char *what)
{
	union tern_addr peer = it_addr(ip, k->port), from;
	struct peer *p = peer.sa.sa_family == AF_INET6 ? &k->v6 : &k->v4;
	int rc = turnc_permission(c, &peer, 1, &r);
	if (!tap_check(rc == 0, "%s: CreatePermission for %s: %s", what, ip, it_outcome(rc)))
		return false;
	turnc_send(c, &peer, "allowed", 7);
	int n = peer_recv(p, buf, sizeof(buf), &from, WAIT_MS);
	return tap_check(n == 7 && memcmp(buf, "allowed", 7) == 0 && addr_equal(&from, relay),
	                 "%s: Send to %s arrives at the catcher from the relay", what, ip);
}

/* Each peer: 403 on CreatePermission and ChannelBind; a Send that goes
 * nowhere and is counted as a policy drop. */
static void forbidden(struct at_srv *S, struct turnc *c, struct catcher *k, const char *const *ips,
                      unsigned n, const union tern_addr *extra, const char *what)
{
	struct at_stats before, after;
	unsigned perm_ok = 0, bind_ok = 0, sends = 0;
	if (at_stats_read(S->stats, &before) < 0) {
		tap_check(false, "%s: read the counters", what);
		return;
	}
	for (unsigned i = 0; i < n + (extra ? 1 : 0); i++) {
		union tern_addr peer = i < n ? it_addr(ips[i], k->port) : *extra;
		int rc = turnc_permission(c, &peer, 1, &r);
		if (rc == 403)
			perm_ok++;
		else
			tap_diag("%s: CreatePermission for %s: %s (expected 403)", what, it_fmt(&peer),
			         it_outcome(rc));
		rc = turnc_channel_bind(c, next_channel++, &peer, &r);
		if (rc == 403)
			bind_ok++;
		else
			tap_diag("%s: ChannelBind to %s: %s (expected 403)", what, it_fmt(&peer),
			         it_outcome(rc));
		if (turnc_send(c, &peer, "leak", 4) == 0)
			sends++;
	}
	unsigned total = n + (extra ? 1 : 0);
	tap_int(perm_ok, total, "%s: CreatePermission answered 403 for all %u peers", what, total);
	tap_int(bind_ok, total, "%s: ChannelBind answered 403 for all %u peers", what, total);
	tap_int(sends, total, "%s: a Send indication went out for each", what);
	unsigned stray = 0;
	tap_check(at_fence(c, &stray, 5000) == 0, "%s: the fence after the Sends is answered", what);
	tap_int(stray, 0, "%s: no answer to the Sends came back", what);
	if (at_stats_read(S->stats, &after) == 0) {
		tap_int((long)(after.dropped_policy - before.dropped_policy), sends,
		        "%s: dropped_policy grew by the number of Sends (%u)", what, sends);
		tap_int((long)(after.relayed_to_peer - before.relayed_to_peer), 0,
		        "%s: nothing relayed to a peer", what);
	}
	tap_int(catcher_drain(k, 300), 0, "%s: nothing arrived at the catcher", what);
}

static int start(struct at_srv *S, const char *const *extra)
{
	const char *args[64];
	unsigned n = 0;
	static const char *const base[] = {IT_AUTH_ARGS, "--relay-ip", "127.0.0.1", "--relay-ip", "::1"};
	for (unsigned i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		args[n++] = base[i];
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	return at_srv_start(S, 16, args);
}

static bool clients(struct at_srv *S, struct turnc *c4, struct turnc *c6, union tern_addr *relay4,
                    union tern_addr *relay6)
{
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	if (it_client(c4, &S->s, AF_INET) < 0 || it_client(c6, &S->s, AF_INET6) < 0)
		return false;
	int rc = turnc_allocate(c4, &TURNC_ALLOC_DEFAULT, &r);
	*relay4 = r.relayed[0];
	if (!tap_check(rc == 0, "IPv4 allocation: %s", it_outcome(rc)))
		return false;
	o.family = STUN_FAMILY_IPV6;
	rc = turnc_allocate(c6, &o, &r);
	*relay6 = r.relayed[0];
	return tap_check(rc == 0 && relay6->sa.sa_family == AF_INET6, "IPv6 allocation: %s", it_outcome(rc));
}

static void default_policy(struct catcher *k)
{
	struct at_srv S;
	struct turnc c4, c6;
	union tern_addr relay4, relay6;

	tap_diag("---- default policy ----");
	if (!tap_check(start(&S, NULL) == 0, "server with the default policy starts"))
		return;
	if (clients(&S, &c4, &c6, &relay4, &relay6)) {
		allowed(&c4, k, &relay4, CONTROL4, "IPv4 control");
		allowed(&c6, k, &relay6, CONTROL6, "IPv6 control");
		union tern_addr own4 = S.s.addr, own6 = S.s.addr6;
		forbidden(&S, &c4, k, bad4, sizeof(bad4) / sizeof(bad4[0]), &own4, "IPv4 denied ranges");
		forbidden(&S, &c6, k, bad6, sizeof(bad6) / sizeof(bad6[0]), &own6,
		          "IPv6 denied ranges and IPv4 in IPv6");
		/* The allocations still work after all that. */
		allowed(&c4, k, &relay4, CONTROL4, "IPv4 control again");
		allowed(&c6, k, &relay6, CONTROL6, "IPv6 control again");
		turnc_refresh(&c4, 0, &r);
		turnc_refresh(&c6, 0, &r);
	}
	turnc_close(&c4);
	turnc_close(&c6);
	at_srv_stop(&S);
}

static void operator_knobs(struct catcher *k)
{
	struct at_srv S;
	struct turnc c4, c6;
	union tern_addr relay4, relay6;
	static const char *const extra[] = {"--allow-loopback-peers", "--allowed-peer-ip", "64:ff9b::/96",
	                                    NULL};

	tap_diag("---- --allow-loopback-peers --allowed-peer-ip 64:ff9b::/96 ----");
	if (!tap_check(start(&S, extra) == 0,
	               "server with allow-loopback-peers and an allowed NAT64 prefix starts"))
		return;
	if (clients(&S, &c4, &c6, &relay4, &relay6)) {
		allowed(&c4, k, &relay4, "127.0.0.1", "loopback allowed");
		allowed(&c4, k, &relay4, "127.1.2.3", "loopback allowed");
		allowed(&c6, k, &relay6, "::1", "IPv6 loopback allowed");
		/* 64:ff9b::c633:6407 is NAT64 for 198.51.100.7: allowed prefix, public inside */
		allowed(&c6, k, &relay6, "64:ff9b::c633:6407", "allowed NAT64 prefix, public IPv4 inside");
		static const char *const still4[] = {"10.0.0.1", "169.254.169.254", "192.168.1.1", "0.0.0.0",
		                                     "100.64.0.1"};
		static const char *const still6[] = {
		    "::ffff:10.0.0.1", "::10.0.0.1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe",
		    "2002:a00:1::",    "fc00::1",    "fe80::1",        "::"};
		union tern_addr own4 = S.s.addr, own6 = S.s.addr6;
		forbidden(&S, &c4, k, still4, sizeof(still4) / sizeof(still4[0]), &own4,
		          "private ranges and the server's own listening address stay denied (IPv4)");
		forbidden(&S, &c6, k, still6, sizeof(still6) / sizeof(still6[0]), &own6,
		          "private IPv4 inside IPv6, even under an allowed NAT64 prefix, stays denied");
		turnc_refresh(&c4, 0, &r);
		turnc_refresh(&c6, 0, &r);
	}
	turnc_close(&c4);
	turnc_close(&c6);
	at_srv_stop(&S);
}

int main(int argc, char **argv)
{
	struct catcher k;
	int rc = it_netns_enter(argc, argv);
	if (rc >= 0)
		return rc;
	at_setup(argc, argv, "forbidden peers", 240);
	tap_diag("running inside a private network namespace");
	if (!it_netns_isolate(lo_addrs))
		return tap_done();
	if (!tap_check(peer_open(&k.v4, "0.0.0.0", 0) == 0, "catcher on 0.0.0.0"))
		return tap_done();
	k.port = addr_port(&k.v4.addr);
	if (!tap_check(peer_open(&k.v6, "::", k.port) == 0, "catcher on [::]:%u", k.port))
		return tap_done();
	catcher_selftest(&k);
	default_policy(&k);
	operator_knobs(&k);
	return tap_done();
}
