/* client-sockets=connected (issue 9): after an authenticated Allocate over
 * UDP, ternd opens a UDP socket on the address and port the client wrote
 * to, connected to the client; the client's later datagrams arrive on it
 * and everything to the client leaves through it, from the same address.
 *
 * Checked on a server listening on specific addresses (127.0.0.1, ::1) and
 * on one listening on the wildcards, two workers each:
 *  - several clients of both families allocate, and each gets its socket
 *    (stat client_sockets), none fails;
 *  - requests, Send/Data indications and ChannelData work both ways, the
 *    client's datagrams are read from the connected sockets (stat
 *    client_socket_datagrams grows) and the answers come from the server
 *    address the client wrote to (the test clients' sockets are connected
 *    to it: anything from another address would never reach them);
 *  - a new client is still served by the listener meanwhile;
 *  - Refresh 0 closes the sockets (client_sockets back to 0).
 * And the default (shared) opens none. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_MS  2000
#define NCLIENTS 6

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

/* Every way of relaying, both ways, for one allocated client. */
static bool relay_all_ways(struct turnc *c, const union tern_addr *relayed, uint16_t ch, const char *what)
{
	struct peer p;
	union tern_addr from;
	bool ok = true;
	if (peer_open(&p, relayed->sa.sa_family == AF_INET6 ? "::1" : "127.0.0.1", 0) < 0)
		return tap_check(false, "%s: peer socket", what);
	ok &= turnc_permission(c, &p.addr, 1, &r) == 0;
	ok &= turnc_send(c, &p.addr, "to-peer", 7) == 0;
	int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	ok &= n == 7 && addr_equal(&from, relayed);
	peer_send(&p, relayed, "to-client", 9);
	ok &= turnc_recv(c, &d, WAIT_MS) == 1 && !d.is_channel && d.len == 9 &&
	      memcmp(d.data, "to-client", 9) == 0;
	ok &= turnc_channel_bind(c, ch, &p.addr, &r) == 0;
	unsigned echoed = 0;
	for (unsigned i = 0; i < 50; i++) {
		char m[16];
		int len = snprintf(m, sizeof(m), "cd%04u", i);
		turnc_send_channel(c, ch, m, (size_t)len, false);
		n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
		if (n != len || memcmp(buf, m, (size_t)len) != 0)
			continue;
		peer_send(&p, relayed, buf, (size_t)n);
		if (turnc_recv(c, &d, WAIT_MS) == 1 && d.is_channel && d.channel == ch &&
		    d.len == (size_t)len && memcmp(d.data, m, (size_t)len) == 0)
			echoed++;
	}
	peer_close(&p);
	return tap_check(ok && echoed == 50,
	                 "%s: Send, Data, ChannelBind and 50 ChannelData round trips (%u came back)", what,
	                 echoed);
}

static char dir[] = "/tmp/it_client_sockets.XXXXXX";

static void run(const char *name, bool wildcard)
{
	struct srv s;
	struct turnc c[NCLIENTS];
	union tern_addr relayed[NCLIENTS][2];
	unsigned nrelayed[NCLIENTS], nok = 0;
	char sock[256];
	snprintf(sock, sizeof(sock), "%s/%s.sock", dir, wildcard ? "wild" : "specific");
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--workers",
	                      "2",
	                      "--client-sockets",
	                      "connected",
	                      "--stats-socket",
	                      sock,
	                      "--relay-ip",
	                      "127.0.0.1",
	                      "--relay-ip",
	                      "::1",
	                      wildcard ? "--listening-ip" : NULL,
	                      "0.0.0.0",
	                      "--listening-ip",
	                      "::",
	                      NULL};

	if (!tap_check(srv_start(&s, 64, args) == 0, "%s: ternd starts", name))
		return;
	if (wildcard)
		s.addr6 = it_addr("::1", s.port); /* the wildcard serves ::1 too */

	for (unsigned i = 0; i < NCLIENTS; i++) {
		int fam = (i & 1) && s.addr6.sa.sa_family ? AF_INET6 : AF_INET;
		/* the last one dual (RFC 8656 §7.2): two relay sockets, one client socket */
		struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
		if (i == NCLIENTS - 1)
			o.additional = 0x02;
		int rc = it_client(&c[i], &s, fam);
		if (rc == 0)
			rc = turnc_allocate(&c[i], &o, &r);
		if (!tap_check(rc == 0 && r.nrelayed == (i == NCLIENTS - 1 ? 2 : 1),
		               "%s: client %u allocates (%s)", name, i, it_outcome(rc))) {
			if (c[i].fd >= 0)
				turnc_close(&c[i]);
			c[i].fd = -1;
			continue;
		}
		nrelayed[i] = r.nrelayed;
		relayed[i][0] = r.relayed[0];
		relayed[i][1] = r.relayed[1];
		nok++;
	}
	tap_int(it_stats_sum(sock, "client_sockets"), (long)nok, "%s: one connected socket per allocation",
	        name);
	tap_int(it_stats_sum(sock, "client_socket_failures"), 0, "%s: none failed", name);

	long before = it_stats_sum(sock, "client_socket_datagrams");
	for (unsigned i = 0; i < NCLIENTS; i++) {
		if (c[i].fd < 0)
			continue;
		for (unsigned k = 0; k < nrelayed[i]; k++) {
			char what[96];
			snprintf(what, sizeof(what), "%s: client %u (%s), %s relay", name, i,
			         c[i].server.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4",
			         relayed[i][k].sa.sa_family == AF_INET6 ? "IPv6" : "IPv4");
			relay_all_ways(&c[i], &relayed[i][k], (uint16_t)(0x4001 + k), what);
		}
	}
	long after = it_stats_sum(sock, "client_socket_datagrams");
	/* per client at least: permission, Send, ChannelBind, 50 ChannelData */
	tap_check(after - before >= (long)nok * 53,
	          "%s: the clients' datagrams were read from their connected sockets (%ld)", name,
	          after - before);

	/* a client without an allocation: the listener answers it */
	struct turnc fresh;
	if (it_client(&fresh, &s, AF_INET) == 0) {
		tap_int(turnc_binding(&fresh, &r), 0, "%s: a new client's Binding is answered meanwhile",
		        name);
		turnc_close(&fresh);
	}

	unsigned refreshed = 0;
	for (unsigned i = 0; i < NCLIENTS; i++) {
		if (c[i].fd < 0)
			continue;
		refreshed += turnc_refresh(&c[i], 0, &r) == 0;
		turnc_close(&c[i]);
	}
	tap_int(refreshed, nok, "%s: every Refresh 0 is answered (through the connected socket)", name);
	tap_int(it_stats_sum(sock, "client_sockets"), 0, "%s: the sockets close with their allocations",
	        name);
	tap_check(srv_alive(&s), "%s: ternd is still running", name);
	srv_stop_check(&s);
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	tap_watchdog(240);
	if (srv_is_coturn()) {
		tap_skip("ternd's client-sockets option", "connected client sockets");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL, "temporary directory"))
		return tap_done();
	run("specific addresses", false);
	run("wildcard addresses", true);

	/* the default: no connected sockets */
	struct srv s;
	char sock[256];
	snprintf(sock, sizeof(sock), "%s/shared.sock", dir);
	const char *shared[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--stats-socket", sock, NULL};
	if (tap_check(srv_start(&s, 16, shared) == 0, "shared: ternd starts")) {
		struct turnc c;
		if (it_client_alloc(&c, &s, AF_INET, &r) == 0) {
			tap_int(it_stats_sum(sock, "client_sockets"), 0,
			        "shared: no connected socket by default");
			turnc_refresh(&c, 0, &r);
			turnc_close(&c);
		}
		srv_stop_check(&s);
	}
	rmdir(dir);
	return tap_done();
}
