/* Relaying: permissions, Send/Data indications, channels and ChannelData in
 * both directions, IPv4, IPv6 and dual allocations, address family errors,
 * EVEN-PORT / RESERVATION-TOKEN, and a few thousand ChannelData round trips
 * through an echo peer without loss. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

#define WAIT_MS  2000 /* for something that must arrive */
#define QUIET_MS 300  /* for something that must not */

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t pbuf[65536];

static void fill(uint8_t *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + 1);
}

/* The peer receives exactly data, sent from the relayed address. */
static bool peer_expect(struct peer *p, const union tern_addr *relay, const void *data, size_t len,
                        const char *what)
{
	union tern_addr from;
	int n = peer_recv(p, pbuf, sizeof(pbuf), &from, WAIT_MS);
	if (n < 0)
		return tap_check(false, "%s: peer %s received nothing (%s)", what, it_fmt(&p->addr),
		                 strerror(-n));
	if ((size_t)n != len || memcmp(pbuf, data, len) != 0)
		return tap_check(false, "%s: peer received %d bytes, expected %zu exact bytes", what, n, len);
	if (relay && !addr_equal(&from, relay))
		return tap_check(false, "%s: peer received from %s, expected the relay %s", what,
		                 it_fmt(&from), it_fmt(relay));
	return tap_check(true, "%s", what);
}

static bool peer_quiet(struct peer *p, const char *what)
{
	union tern_addr from;
	int n = peer_recv(p, pbuf, sizeof(pbuf), &from, QUIET_MS);
	if (n >= 0)
		return tap_check(false, "%s: peer got %d bytes from %s", what, n, it_fmt(&from));
	return tap_check(true, "%s", what);
}

/* The client receives data: as ChannelData on channel (channel != 0) or
 * as a Data indication from peer. */
static bool client_expect(struct turnc *c, uint16_t channel, const union tern_addr *peer, const void *data,
                          size_t len, const char *what)
{
	int rc = turnc_recv(c, &d, WAIT_MS);
	if (rc <= 0)
		return tap_check(false, "%s: client received nothing (%s)", what,
		                 rc == 0 ? "timeout" : strerror(-rc));
	if (channel) {
		if (!d.is_channel || d.channel != channel)
			return tap_check(false, "%s: expected ChannelData on 0x%04x, got %s 0x%04x", what,
			                 channel, d.is_channel ? "ChannelData" : "Data indication",
			                 d.channel);
		/* RFC 8656 §12.5: over UDP the padding may be present or not. */
		if (d.wire_len != 4 + len && d.wire_len != 4 + pad4(len))
			return tap_check(false, "%s: ChannelData datagram is %zu bytes for %zu of data", what,
			                 d.wire_len, len);
	} else {
		if (d.is_channel)
			return tap_check(false, "%s: expected a Data indication, got ChannelData 0x%04x",
			                 what, d.channel);
		if (!addr_equal(&d.peer, peer))
			return tap_check(false, "%s: XOR-PEER-ADDRESS %s, expected %s", what, it_fmt(&d.peer),
			                 it_fmt(peer));
	}
	if (d.len != len || memcmp(d.data, data, len) != 0)
		return tap_check(false, "%s: got %zu bytes, expected %zu exact bytes", what, d.len, len);
	return tap_check(true, "%s", what);
}

static bool client_quiet(struct turnc *c, const char *what)
{
	int rc = turnc_recv(c, &d, QUIET_MS);
	if (rc > 0)
		return tap_check(false, "%s: client got %s of %zu bytes", what,
		                 d.is_channel ? "ChannelData" : "a Data indication", d.len);
	return tap_check(true, "%s", what);
}

/* Permissions, indications and channels over one allocation. */
static void relay_family(const struct srv *s, int cfamily, int rfamily)
{
	const char *fam = rfamily == AF_INET6 ? "IPv6" : "IPv4";
	const char *lo = rfamily == AF_INET6 ? "::1" : "127.0.0.1";
	struct turnc c;
	struct peer p, p2, p3;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	uint8_t data[1500];
	char what[160];
	int rc;

	tap_diag("---- %s relay, client over %s ----", fam, cfamily == AF_INET6 ? "IPv6" : "IPv4");
	if (it_client(&c, s, cfamily) < 0)
		return;
	if (rfamily == AF_INET6)
		o.family = STUN_FAMILY_IPV6;
	rc = turnc_allocate(&c, &o, &r);
	if (!tap_check(rc == 0 && r.nrelayed == 1 && r.relayed[0].sa.sa_family == rfamily,
	               "%s: Allocate gives an %s relayed address (%s)", fam, fam, it_outcome(rc)))
		goto out_client;
	union tern_addr relay = r.relayed[0];
	union tern_addr lo_any = it_addr(lo, 0);
	tap_check(addr_equal_ip(&relay, &lo_any), "%s: relayed address %s is the relay ip", fam,
	          it_fmt(&relay));

	if (peer_open(&p, lo, 0) < 0 || peer_open(&p2, lo, 0) < 0) {
		tap_check(false, "%s: open peer sockets on %s", fam, lo);
		goto out_client;
	}

	/* No permission yet: nothing passes either way. */
	peer_send(&p, &relay, "early", 5);
	snprintf(what, sizeof(what), "%s: peer data without a permission is dropped", fam);
	client_quiet(&c, what);
	turnc_send(&c, &p.addr, "early", 5);
	snprintf(what, sizeof(what), "%s: Send indication without a permission is dropped", fam);
	peer_quiet(&p, what);

	rc = turnc_permission(&c, &p.addr, 1, &r);
	tap_check(rc == 0, "%s: CreatePermission for %s: %s", fam, it_fmt(&p.addr), it_outcome(rc));

	snprintf(what, sizeof(what),
	         "%s: Send indication reaches the peer with the exact payload, from the relay", fam);
	turnc_send(&c, &p.addr, "hello peer", 10);
	peer_expect(&p, &relay, "hello peer", 10, what);

	peer_send(&p, &relay, "hello client", 12);
	snprintf(what, sizeof(what), "%s: peer reply arrives as a Data indication with XOR-PEER-ADDRESS",
	         fam);
	client_expect(&c, 0, &p.addr, "hello client", 12, what);

	/* RFC 8656 §9: a permission is for an IP address, any port. */
	peer_send(&p2, &relay, "other port", 10);
	snprintf(what, sizeof(what), "%s: a second peer port on the permitted ip is relayed", fam);
	client_expect(&c, 0, &p2.addr, "other port", 10, what);

	/* Another ip without a permission stays blocked. */
	if (rfamily == AF_INET && peer_open(&p3, "127.0.0.2", 0) == 0) {
		peer_send(&p3, &relay, "intruder", 8);
		snprintf(what, sizeof(what), "%s: peer 127.0.0.2 without a permission is dropped", fam);
		client_quiet(&c, what);
		peer_close(&p3);
	}

	/* Channels. */
	rc = turnc_channel_bind(&c, 0x4000, &p.addr, &r);
	tap_check(rc == 0, "%s: ChannelBind 0x4000 -> %s: %s", fam, it_fmt(&p.addr), it_outcome(rc));
	static const size_t lens[] = {1, 2, 3, 4, 5, 7, 13, 100, 1201};
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fill(data, lens[i], i);
		bool pad = i % 2 == 1;
		turnc_send_channel(&c, 0x4000, data, lens[i], pad);
		snprintf(what, sizeof(what), "%s: ChannelData client->peer, %zu bytes%s, exact payload", fam,
		         lens[i], pad ? " (padded)" : "");
		peer_expect(&p, &relay, data, lens[i], what);
	}
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fill(data, lens[i], i + 50);
		peer_send(&p, &relay, data, lens[i]);
		snprintf(what, sizeof(what),
		         "%s: peer->client as ChannelData 0x4000, %zu bytes, exact payload", fam, lens[i]);
		client_expect(&c, 0x4000, NULL, data, lens[i], what);
	}
	/* p2 shares the ip but has no channel: still Data indications. */
	peer_send(&p2, &relay, "via indication", 14);
	snprintf(what, sizeof(what), "%s: unbound peer port still arrives as a Data indication", fam);
	client_expect(&c, 0, &p2.addr, "via indication", 14, what);
	turnc_send(&c, &p.addr, "send still works", 16);
	snprintf(what, sizeof(what), "%s: Send indication to a channel-bound peer still works", fam);
	peer_expect(&p, &relay, "send still works", 16, what);

	/* ChannelData on an unbound channel goes nowhere. */
	turnc_send_channel(&c, 0x4002, "nowhere", 7, false);
	snprintf(what, sizeof(what), "%s: ChannelData on unbound channel 0x4002 is dropped", fam);
	peer_quiet(&p, what);

	/* RFC 8656 §11.2 ChannelBind rules. */
	rc = turnc_channel_bind(&c, 0x3fff, &p2.addr, &r);
	tap_int(rc, 400, "%s: ChannelBind 0x3FFF (below range) is answered 400", fam);
	/* 0x8000 is outside RFC 5766's range as well as RFC 8656's. (0x5000..
	 * 0x7FFF: see strict_channels().) */
	rc = turnc_channel_bind(&c, 0x8000, &p2.addr, &r);
	tap_int(rc, 400, "%s: ChannelBind 0x8000 (above range) is answered 400", fam);
	rc = turnc_channel_bind(&c, 0x4000, &p2.addr, &r);
	tap_int(rc, 400, "%s: binding channel 0x4000 to a different peer is answered 400", fam);
	rc = turnc_channel_bind(&c, 0x4001, &p.addr, &r);
	tap_int(rc, 400, "%s: binding the same peer to a different channel is answered 400", fam);
	rc = turnc_channel_bind(&c, 0x4000, &p.addr, &r);
	tap_check(rc == 0, "%s: rebinding the same channel and peer (refresh) succeeds: %s", fam,
	          it_outcome(rc));
	if (peer_open(&p3, lo, 0) == 0) {
		rc = turnc_channel_bind(&c, 0x4fff, &p3.addr, &r);
		tap_check(rc == 0, "%s: ChannelBind 0x4FFF (top of range) to a third peer: %s", fam,
		          it_outcome(rc));
		turnc_send_channel(&c, 0x4fff, "top", 3, false);
		snprintf(what, sizeof(what), "%s: ChannelData on 0x4FFF reaches the third peer", fam);
		peer_expect(&p3, &relay, "top", 3, what);
		peer_close(&p3);
	}

	/* Peer family mismatch (RFC 8656 §9.1, §11.2: 443). */
	union tern_addr other = rfamily == AF_INET ? it_addr("::1", 9) : it_addr("127.0.0.1", 9);
	rc = turnc_permission(&c, &other, 1, &r);
	tap_int(rc, 443, "%s: CreatePermission for a peer of the other family is answered 443", fam);
	rc = turnc_channel_bind(&c, 0x4010, &other, &r);
	tap_int(rc, 443, "%s: ChannelBind to a peer of the other family is answered 443", fam);

	peer_close(&p2);
	peer_close(&p);
	turnc_refresh(&c, 0, &r);
out_client:
	turnc_close(&c);
}

/* Several permissions in one request (RFC 8656 §9.1). */
static void multi_permission(const struct srv *s)
{
	struct turnc c;
	struct peer p1, p2;
	union tern_addr peers[2];
	int rc;

	if (it_client(&c, s, AF_INET) < 0)
		return;
	if (turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r) != 0 || peer_open(&p1, "127.0.0.1", 0) < 0 ||
	    peer_open(&p2, "127.0.0.3", 0) < 0) {
		tap_check(false, "setup for multi-peer CreatePermission");
		turnc_close(&c);
		return;
	}
	union tern_addr relay = r.relayed[0];
	peers[0] = p1.addr;
	peers[1] = p2.addr;
	rc = turnc_permission(&c, peers, 2, &r);
	tap_check(rc == 0, "CreatePermission with two XOR-PEER-ADDRESS: %s", it_outcome(rc));
	peer_send(&p2, &relay, "from .3", 7);
	client_expect(&c, 0, &p2.addr, "from .3", 7,
	              "the second peer of a two-peer CreatePermission is permitted");
	peer_send(&p1, &relay, "from .1", 7);
	client_expect(&c, 0, &p1.addr, "from .1", 7,
	              "the first peer of a two-peer CreatePermission is permitted");
	peer_close(&p1);
	peer_close(&p2);
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);
}

static void dual_allocation(const struct srv *s)
{
	struct turnc c;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	struct peer p4, p6;
	int rc;

	tap_diag("---- dual allocation ----");
	if (it_client(&c, s, AF_INET) < 0)
		return;
	o.additional = STUN_FAMILY_IPV6;
	rc = turnc_allocate(&c, &o, &r);
	tap_check(rc == 0, "Allocate with ADDITIONAL-ADDRESS-FAMILY IPv6: %s", it_outcome(rc));
	/* coturn 4.6.1 opens both relays but answers with only the IPv4 one. */
	if (!it_check_tern(r.nrelayed == 2, "dual allocation returns two XOR-RELAYED-ADDRESS (got %u)",
	                   r.nrelayed))
		goto out;
	union tern_addr r4 = r.relayed[0], r6 = r.relayed[1];
	tap_check(r4.sa.sa_family == AF_INET && r6.sa.sa_family == AF_INET6,
	          "first relayed address is IPv4 (%s), second IPv6 (%s)", it_fmt(&r4), it_fmt(&r6));
	if (r4.sa.sa_family != AF_INET || r6.sa.sa_family != AF_INET6)
		goto out;
	if (peer_open(&p4, "127.0.0.1", 0) < 0 || peer_open(&p6, "::1", 0) < 0) {
		tap_check(false, "open peers for the dual allocation");
		goto out;
	}
	union tern_addr peers[2] = {p4.addr, p6.addr};
	rc = turnc_permission(&c, peers, 2, &r);
	tap_check(rc == 0, "dual: CreatePermission for an IPv4 and an IPv6 peer: %s", it_outcome(rc));
	turnc_send(&c, &p4.addr, "to v4", 5);
	peer_expect(&p4, &r4, "to v4", 5, "dual: Send to the IPv4 peer leaves from the IPv4 relayed address");
	turnc_send(&c, &p6.addr, "to v6", 5);
	peer_expect(&p6, &r6, "to v6", 5, "dual: Send to the IPv6 peer leaves from the IPv6 relayed address");
	peer_send(&p6, &r6, "from v6", 7);
	client_expect(&c, 0, &p6.addr, "from v6", 7, "dual: IPv6 peer reaches the client");
	peer_send(&p4, &r4, "from v4", 7);
	client_expect(&c, 0, &p4.addr, "from v4", 7, "dual: IPv4 peer reaches the client");
	rc = turnc_channel_bind(&c, 0x4006, &p6.addr, &r);
	tap_check(rc == 0, "dual: ChannelBind to the IPv6 peer: %s", it_outcome(rc));
	turnc_send_channel(&c, 0x4006, "chan v6", 7, false);
	peer_expect(&p6, &r6, "chan v6", 7, "dual: ChannelData to the IPv6 peer");
	peer_close(&p4);
	peer_close(&p6);
	turnc_refresh(&c, 0, &r);
out:
	turnc_close(&c);

	/* RFC 8656 §7.2 family attribute errors, each from a fresh 5-tuple. */
	static const struct {
		uint8_t family, additional;
		int want;
		bool tern_only;
		const char *what;
	} cases[] = {
	    {STUN_FAMILY_IPV4, STUN_FAMILY_IPV6, 400, true,
	     "REQUESTED-ADDRESS-FAMILY together with ADDITIONAL-ADDRESS-FAMILY is answered 400"},
	    {0, STUN_FAMILY_IPV4, 400, true, "ADDITIONAL-ADDRESS-FAMILY IPv4 is answered 400"},
	    {0x03, 0, 440, false, "REQUESTED-ADDRESS-FAMILY 0x03 is answered 440"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (it_client(&c, s, AF_INET) < 0)
			return;
		o = TURNC_ALLOC_DEFAULT;
		o.family = cases[i].family;
		o.additional = cases[i].additional;
		rc = turnc_allocate(&c, &o, &r);
		if (cases[i].tern_only)
			it_check_tern(rc == cases[i].want, "%s (%s)", cases[i].what, it_outcome(rc));
		else
			tap_check(rc == cases[i].want, "%s (%s)", cases[i].what, it_outcome(rc));
		if (rc == 0)
			turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
}

static void even_port(const struct srv *s)
{
	struct turnc c, c2;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	int rc;

	tap_diag("---- EVEN-PORT / RESERVATION-TOKEN / DONT-FRAGMENT ----");
	if (it_client(&c, s, AF_INET) < 0)
		return;
	o.even_port = true;
	o.reserve = true;
	rc = turnc_allocate(&c, &o, &r);
	tap_check(rc == 0, "Allocate with EVEN-PORT R=1: %s", it_outcome(rc));
	uint16_t port = addr_port(&r.relayed[0]);
	tap_check(rc == 0 && port % 2 == 0, "relayed port %u is even", port);
	tap_check(r.has_token, "the answer carries a RESERVATION-TOKEN");
	if (r.has_token && it_client(&c2, s, AF_INET) == 0) {
		uint8_t token[8];
		memcpy(token, r.token, 8);
		o = TURNC_ALLOC_DEFAULT;
		o.token = token;
		rc = turnc_allocate(&c2, &o, &r);
		tap_check(rc == 0 && r.nrelayed == 1 && addr_port(&r.relayed[0]) == port + 1,
		          "Allocate with the RESERVATION-TOKEN gets the next port %u (%s, got %u)", port + 1,
		          it_outcome(rc), addr_port(&r.relayed[0]));
		turnc_refresh(&c2, 0, &r);
		/* A token is single-use. */
		turnc_close(&c2);
		if (it_client(&c2, s, AF_INET) == 0) {
			rc = turnc_allocate(&c2, &o, &r);
			tap_check(rc >= 400, "a used RESERVATION-TOKEN is refused (%s)", it_outcome(rc));
			if (rc == 0)
				turnc_refresh(&c2, 0, &r);
			turnc_close(&c2);
		}
	}
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);

	if (it_client(&c, s, AF_INET) == 0) {
		o = TURNC_ALLOC_DEFAULT;
		o.even_port = true;
		o.token = (const uint8_t *)"12345678";
		rc = turnc_allocate(&c, &o, &r);
		tap_int(rc, 400, "EVEN-PORT together with RESERVATION-TOKEN is answered 400");
		o = TURNC_ALLOC_DEFAULT;
		o.dont_fragment = true;
		rc = turnc_allocate(&c, &o, &r);
		tap_check(rc == 0, "Allocate with DONT-FRAGMENT: %s", it_outcome(rc));
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
}

/* A few thousand round trips, 8 in flight: none may be lost or altered. */
static void round_trips(const struct srv *s, unsigned total)
{
	enum { WINDOW = 8 };
	struct turnc c;
	struct peer p;
	uint8_t data[512];
	unsigned lost = 0, corrupt = 0, echoed = 0, got = 0;
	int rc;

	tap_diag("---- %u ChannelData round trips through an echo peer ----", total);
	if (it_client(&c, s, AF_INET) < 0)
		return;
	if (turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r) != 0 || peer_open(&p, "127.0.0.1", 0) < 0) {
		tap_check(false, "setup for round trips");
		turnc_close(&c);
		return;
	}
	union tern_addr relay = r.relayed[0];
	rc = turnc_channel_bind(&c, 0x4abc, &p.addr, &r);
	if (!tap_check(rc == 0, "ChannelBind for the round trips: %s", it_outcome(rc)))
		goto out;
	uint8_t *seen = calloc(total, 1);
	for (unsigned base = 0; base < total; base += WINDOW) {
		unsigned n = total - base < WINDOW ? total - base : WINDOW;
		for (unsigned i = 0; i < n; i++) {
			unsigned seq = base + i;
			size_t len = 4 + seq % 300;
			fill(data, len, seq);
			wr32(data, seq);
			turnc_send_channel(&c, 0x4abc, data, len, false);
		}
		echoed += peer_echo(&p, n, WAIT_MS, &relay, &corrupt);
		for (unsigned i = 0; i < n; i++) {
			if (turnc_recv(&c, &d, WAIT_MS) <= 0)
				break;
			if (!d.is_channel || d.channel != 0x4abc || d.len < 4) {
				corrupt++;
				continue;
			}
			unsigned seq = rd32(d.data);
			size_t len = 4 + seq % 300;
			fill(data, len, seq);
			wr32(data, seq);
			if (seq >= total || d.len != len || memcmp(d.data, data, len) != 0 || seen[seq]) {
				corrupt++;
				continue;
			}
			seen[seq] = 1;
			got++;
		}
	}
	lost = total - got;
	free(seen);
	tap_diag("sent %u, echoed by the peer %u, received back %u", total, echoed, got);
	tap_int(echoed, total, "every ChannelData reached the echo peer");
	tap_int(lost, 0, "no round trip lost");
	tap_int(corrupt, 0, "no round trip altered, duplicated or mislabelled");
out:
	peer_close(&p);
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);
}

static void no_v6_relay(void)
{
	struct srv s;
	struct turnc c;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", NULL};
	int rc;

	tap_diag("---- server without an IPv6 relay address ----");
	if (!tap_check(srv_start(&s, 8, args) == 0, "server with only an IPv4 relay starts"))
		return;
	if (it_client(&c, &s, AF_INET6) == 0) {
		o.family = STUN_FAMILY_IPV6;
		rc = turnc_allocate(&c, &o, &r);
		tap_int(rc, 440, "REQUESTED-ADDRESS-FAMILY IPv6 without an IPv6 relay is answered 440");
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0 && r.nrelayed >= 1 && r.relayed[0].sa.sa_family == AF_INET,
		          "the same client then gets an IPv4 allocation: %s, first relayed %s",
		          it_outcome(rc), it_fmt(&r.relayed[0]));
		/* coturn 4.6.1 repeats XOR-RELAYED-ADDRESS here. */
		it_check_tern(r.nrelayed == 1, "... with exactly one XOR-RELAYED-ADDRESS (got %u)",
		              r.nrelayed);
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	srv_stop_check(&s);
}

/* RFC 8656 §12 reserves 0x5000..0x7FFF; RFC 5766 allowed them and coturn's
 * clients still use them, so ternd accepts them by default and refuses them
 * with --strict-channel-numbers. */
static void strict_channels(void)
{
	struct srv s;
	struct turnc c;
	struct peer p;
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", NULL};
	const char *strict[] = {IT_AUTH_ARGS, "--allow-loopback-peers",   "--relay-ip",
	                        "127.0.0.1",  "--strict-channel-numbers", NULL};
	if (srv_is_coturn()) {
		tap_skip("coturn differs", "channel range switch is ternd's");
		return;
	}
	for (int mode = 0; mode < 2; mode++) {
		if (!tap_check(srv_start(&s, 0, mode ? strict : args) == 0, "server (%s channels) starts",
		               mode ? "strict" : "default"))
			continue;
		if (turnc_open(&c, &s.addr) == 0 && peer_open(&p, "127.0.0.1", 0) == 0) {
			turnc_set_creds(&c, IT_USER, IT_PASS);
			struct turnc_alloc_opts o = {.lifetime = -1};
			tap_int(turnc_allocate(&c, &o, &r), 0, "allocate (%s channels)",
			        mode ? "strict" : "default");
			int rc = turnc_channel_bind(&c, 0x5000, &p.addr, &r);
			tap_int(rc, mode ? 400 : 0, "ChannelBind 0x5000 is %s with %s channel numbers",
			        mode ? "answered 400" : "accepted",
			        mode ? "strict (RFC 8656)" : "default (RFC 5766)");
			rc = turnc_channel_bind(&c, 0x4fff, &p.addr, &r);
			tap_int(rc, mode ? 0 : 400, "ChannelBind 0x4FFF to the same peer %s",
			        mode ? "succeeds" : "is 400 (peer already on 0x5000)");
			turnc_close(&c);
			peer_close(&p);
		}
		srv_stop_check(&s);
	}
}

int main(int argc, char **argv)
{
	struct srv s;
	const char *args[] = {
	    IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", "--relay-ip", "::1", NULL};

	srv_setup(argc, argv);
	tap_watchdog(240);
	if (tap_check(srv_start(&s, 0, args) == 0, "server with IPv4 and IPv6 relay addresses starts")) {
		relay_family(&s, AF_INET, AF_INET);
		relay_family(&s, AF_INET6, AF_INET6);
		relay_family(&s, AF_INET6, AF_INET);
		multi_permission(&s);
		dual_allocation(&s);
		even_port(&s);
		round_trips(&s, 3000);
		srv_stop_check(&s);
	}
	no_v6_relay();
	strict_channels();
	return tap_done();
}
