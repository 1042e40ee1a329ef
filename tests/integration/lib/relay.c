/* Relaying through an allocation held over a connection (TCP, TLS, DTLS):
 * the checks it_tcp, it_tls and it_dtls share. */
#include "it.h"

#include <stdio.h>
#include <string.h>

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

static const char *xprt_name(const struct turnc *c)
{
	if (c->stream)
		return c->ssl ? "TLS" : "TCP";
	return c->ssl ? "DTLS" : "UDP";
}

bool it_relay_both_ways(struct turnc *c, const union tern_addr *relayed, const char *fam, struct peer *p,
                        int wait_ms)
{
	const char *x = xprt_name(c);
	const bool pad = c->stream; /* RFC 8656 §12.5: padded on a stream */
	union tern_addr from;
	if (peer_open(p, relayed->sa.sa_family == AF_INET6 ? "::1" : "127.0.0.1", 0) < 0) {
		tap_check(false, "%s: peer socket", fam);
		return false;
	}
	int rc = turnc_permission(c, &p->addr, 1, &r);
	tap_check(rc == 0, "%s: CreatePermission over %s (%s)", fam, x, it_outcome(rc));
	turnc_send(c, &p->addr, "hello-peer", 10);
	int n = peer_recv(p, buf, sizeof(buf), &from, wait_ms);
	tap_check(n == 10 && addr_equal(&from, relayed),
	          "%s: Send indication over %s reaches the peer from the relay", fam, x);
	peer_send(p, relayed, "hello-client", 12);
	rc = turnc_recv(c, &d, wait_ms);
	tap_check(rc == 1 && !d.is_channel && d.len == 12 && memcmp(d.data, "hello-client", 12) == 0,
	          "%s: the peer's answer arrives as a Data indication over %s", fam, x);

	rc = turnc_channel_bind(c, 0x4001, &p->addr, &r);
	tap_check(rc == 0, "%s: ChannelBind over %s (%s)", fam, x, it_outcome(rc));
	/* 5 bytes: on a stream padded to 8, both ways */
	turnc_send_channel(c, 0x4001, "12345", 5, pad);
	n = peer_recv(p, buf, sizeof(buf), &from, wait_ms);
	tap_check(n == 5 && memcmp(buf, "12345", 5) == 0,
	          "%s: %sChannelData over %s reaches the peer as 5 bytes", fam, pad ? "padded " : "", x);
	peer_send(p, relayed, "abcde", 5);
	rc = turnc_recv(c, &d, wait_ms);
	tap_check(rc == 1 && d.is_channel && d.channel == 0x4001 && d.len == 5 &&
	              d.wire_len == (pad ? 12u : 9u),
	          "%s: the peer's 5 bytes arrive as ChannelData over %s, %s (wire %zu)", fam, x,
	          pad ? "padded to 12 bytes" : "not padded", d.wire_len);
	return true;
}

void it_relay_bursts(struct turnc *c, struct peer *p, const union tern_addr *relayed, const char *fam,
                     unsigned count, unsigned out_burst, int wait_ms)
{
	const char *x = xprt_name(c);
	static uint8_t big[1200];
	union tern_addr from;
	unsigned sent = 0, got = 0, in_order = 1;
	/* from the peer in bursts of 50 (60 KB): within a connection's output
	 * bound, which drops relayed data for a client that does not read (by
	 * design); each datagram numbered in its first bytes */
	for (unsigned b = 0; b < count; b += 50) {
		for (unsigned i = b; i < b + 50 && i < count; i++) {
			memset(big, (int)(i & 0xff), sizeof(big));
			big[0] = (uint8_t)(i >> 8);
			big[1] = (uint8_t)i;
			sent += peer_send(p, relayed, big, sizeof(big)) == 0;
		}
		for (unsigned i = b; i < b + 50 && i < count; i++) {
			if (turnc_recv(c, &d, wait_ms) != 1)
				break;
			got++;
			in_order &= d.is_channel && d.len == sizeof(big) && d.data[0] == (uint8_t)(i >> 8) &&
			            d.data[1] == (uint8_t)i && d.data[2] == (uint8_t)i;
		}
	}
	tap_check(sent == count && got == count && in_order,
	          "%s: %u x 1200-byte datagrams from the peer arrive over %s in order (%u of %u)", fam, count,
	          x, got, sent);
	/* and the other way, out_burst at a time */
	got = 0;
	for (unsigned b = 0; b < count && got == b; b += out_burst) {
		for (unsigned i = b; i < b + out_burst && i < count; i++) {
			memset(big, (int)(i & 0xff), sizeof(big));
			turnc_send_channel(c, 0x4001, big, sizeof(big), c->stream);
		}
		for (unsigned i = b; i < b + out_burst && i < count; i++) {
			if (peer_recv(p, buf, sizeof(buf), &from, wait_ms) != (int)sizeof(big))
				break;
			got++;
		}
	}
	tap_check(got == count, "%s: %u x 1200-byte ChannelData to the peer over %s (%u)", fam, count, x,
	          got);
}

bool it_xprt_allocate(struct turnc *c, bool v6, const char *fam, union tern_addr *relayed)
{
	const char *x = xprt_name(c);
	turnc_set_creds(c, IT_USER, IT_PASS);
	int rc = turnc_binding(c, &r);
	tap_check(rc == 0, "%s: Binding over %s (%s)", fam, x, it_outcome(rc));
	tap_addr(&r.mapped, &c->local, "%s: XOR-MAPPED-ADDRESS is the %s client's address", fam, x);
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	if (v6)
		o.family = STUN_FAMILY_IPV6;
	rc = turnc_allocate(c, &o, &r);
	if (!tap_check(rc == 0 && r.nrelayed == 1, "%s: Allocate over %s: a UDP relay (%s)", fam, x,
	               it_outcome(rc)))
		return false;
	*relayed = r.relayed[0];
	return true;
}

void it_quota_until_close(struct turnc *c, const struct srv *s, const char *fam, int wait_ms)
{
	const char *x = xprt_name(c);
	const bool dtls = !c->stream;
	struct turnc u;
	it_client(&u, s, AF_INET);
	int rc = turnc_allocate(&u, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 486, "%s: while the %s allocation lives, a second one is over quota (%s)", fam, x,
	          it_outcome(rc));
	/* ...until the connection closes (DTLS: close_notify): RFC 8656 §3.1,
	 * the allocation ends with it */
	turnc_close(c);
	int64_t deadline = it_now_ms() + wait_ms;
	do {
		rc = turnc_allocate(&u, &TURNC_ALLOC_DEFAULT, &r);
	} while (rc == 486 && it_now_ms() < deadline);
	tap_check(rc == 0, "%s: once the %s connection closed%s, its quota unit is free (%s)", fam, x,
	          dtls ? " (close_notify)" : "", it_outcome(rc));
	turnc_refresh(&u, 0, &r);
	turnc_close(&u);
}
