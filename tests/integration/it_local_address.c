/* Answers leave from the address the client wrote to (issue 8, item 2).
 *
 * ternd listens on the wildcard addresses (0.0.0.0 and ::), as it does by
 * default. A client that writes to one address of the host must get every
 * answer, Data indication and ChannelData from that address: a client (or
 * a NAT in front of it) drops datagrams from any other. ternd used to
 * answer from the address the kernel's route prefers (127.0.0.1 for a
 * request sent to 127.0.0.2).
 *
 * The clients' sockets are connected to the server address they use, so
 * the kernel only lets through datagrams from exactly that address: every
 * answer the client gets is proof of its source.
 *
 * Runs inside a private network namespace (lib/netns.c): listening on
 * wildcard addresses must not expose the test server to any network, and
 * the namespace's lo gets a second IPv6 address (2001:db8::10, a
 * documentation address) for the IPv6 half. */
#include "it.h"

#include <errno.h>
#include <string.h>

#define WAIT_MS 2000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

static const char *const lo_addrs[] = {"2001:db8::10/128", NULL};

/* Everything a client does through ternd, written to `ip`. */
static void through(const struct srv *s, const char *ip, const char *peer_ip, const char *relay_ip)
{
	struct turnc c;
	struct peer p;
	union tern_addr server = it_addr(ip, s->port), from;

	if (!tap_check(turnc_open(&c, &server) == 0, "%s: client socket connected to it", ip))
		return;
	turnc_set_creds(&c, IT_USER, IT_PASS);
	int rc = turnc_binding(&c, &r);
	tap_check(rc == 0, "%s: Binding answered from %s (%s)", ip, it_fmt(&server), it_outcome(rc));
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	if (strchr(relay_ip, ':'))
		o.family = STUN_FAMILY_IPV6; /* RFC 8656 §7.2: IPv4 unless asked */
	rc = turnc_allocate(&c, &o, &r);
	if (!tap_check(rc == 0 && r.nrelayed == 1, "%s: Allocate answered from %s (%s)", ip, it_fmt(&server),
	               it_outcome(rc)))
		goto out;
	union tern_addr relayed = r.relayed[0];
	union tern_addr want_relay = it_addr(relay_ip, addr_port(&relayed));
	tap_addr(&relayed, &want_relay, "%s: relayed address on the relay ip", ip);
	if (peer_open(&p, peer_ip, 0) < 0) {
		tap_check(false, "%s: peer socket on %s", ip, peer_ip);
		goto out;
	}
	rc = turnc_permission(&c, &p.addr, 1, &r);
	tap_check(rc == 0, "%s: CreatePermission (%s)", ip, it_outcome(rc));

	/* peer -> client as a Data indication */
	peer_send(&p, &relayed, "to-client", 9);
	rc = turnc_recv(&c, &d, WAIT_MS);
	tap_check(rc == 1 && !d.is_channel && d.len == 9 && memcmp(d.data, "to-client", 9) == 0,
	          "%s: the peer's datagram arrives as a Data indication from %s", ip, it_fmt(&server));

	/* client -> peer and back over a channel */
	rc = turnc_channel_bind(&c, 0x4001, &p.addr, &r);
	tap_check(rc == 0, "%s: ChannelBind (%s)", ip, it_outcome(rc));
	turnc_send_channel(&c, 0x4001, "to-peer", 7, false);
	int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	tap_check(n == 7 && addr_equal(&from, &relayed), "%s: ChannelData reaches the peer from the relay",
	          ip);
	peer_send(&p, &relayed, "chan-back", 9);
	rc = turnc_recv(&c, &d, WAIT_MS);
	tap_check(rc == 1 && d.is_channel && d.channel == 0x4001 && d.len == 9,
	          "%s: the peer's answer arrives as ChannelData from %s", ip, it_fmt(&server));

	rc = turnc_refresh(&c, 0, &r);
	tap_check(rc == 0, "%s: Refresh(0) answered from %s (%s)", ip, it_fmt(&server), it_outcome(rc));
	peer_close(&p);
out:
	turnc_close(&c);
}

int main(int argc, char **argv)
{
	struct srv s;
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--listening-ip",
	                      "0.0.0.0",
	                      "--listening-ip",
	                      "::",
	                      "--relay-ip",
	                      "127.0.0.1",
	                      "--relay-ip",
	                      "::1",
	                      NULL};

	int rc = it_netns_enter(argc, argv);
	if (rc >= 0)
		return rc;
	srv_setup(argc, argv);
	tap_watchdog(120);
	tap_diag("running inside a private network namespace");
	if (!it_netns_isolate(lo_addrs))
		return tap_done();
	if (!tap_check(srv_start(&s, 16, args) == 0, "server on 0.0.0.0 and :: starts"))
		return tap_done();
	/* the address the kernel would pick anyway, then others */
	through(&s, "127.0.0.1", "127.0.0.1", "127.0.0.1");
	through(&s, "127.0.0.2", "127.0.0.1", "127.0.0.1");
	through(&s, "127.3.4.5", "127.0.0.1", "127.0.0.1");
	through(&s, "::1", "::1", "::1");
	through(&s, "2001:db8::10", "::1", "::1");
	srv_stop_check(&s);
	return tap_done();
}
