/* TURN over TCP (RFC 8656 §3.1), with our client: the client reaches ternd
 * over a TCP connection, relays stay UDP. Binding, Allocate, permissions,
 * Send/Data indications and ChannelData both ways (padded to 4 bytes on the
 * stream: RFC 8656 §12.5), frames many to a write and split across writes,
 * a frame that is no STUN closing the connection, and the allocation ending
 * with its connection (its quota unit is free again at once). IPv4 and IPv6
 * (::1). Then the connection limits: max-connections(-per-ip) and
 * max-allocate-timeout (waits 1-3 s: a protocol timer). Loopback only. */
#include "it.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 2000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

/* The checks every transport shares, then ChannelData round trips. */
static void relay_both_ways(struct turnc *c, const union tern_addr *relayed, const char *fam)
{
	struct peer p;
	union tern_addr from;
	if (!it_relay_both_ways(c, relayed, fam, &p, WAIT_MS))
		return;

	/* many frames in flight: every one comes back, in order */
	unsigned got = 0, in_order = 1;
	for (unsigned i = 0; i < 200; i++) {
		char m[16];
		int len = snprintf(m, sizeof(m), "m%05u", i);
		turnc_send_channel(c, 0x4001, m, (size_t)len, true);
		int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
		if (n == len)
			peer_send(&p, relayed, buf, (size_t)n);
	}
	for (unsigned i = 0; i < 200; i++) {
		char m[16];
		int len = snprintf(m, sizeof(m), "m%05u", i);
		if (turnc_recv(c, &d, WAIT_MS) != 1)
			break;
		got++;
		in_order &= d.len == (size_t)len && memcmp(d.data, m, (size_t)len) == 0;
	}
	tap_check(got == 200 && in_order, "%s: 200 ChannelData round trips, none lost, in order (%u)", fam,
	          got);
	peer_close(&p);
}

/* Two requests in one write, then one request split over two writes. */
static void framing(const struct srv *s)
{
	struct turnc c;
	uint8_t two[64], txid[2][STUN_TXID_LEN];
	if (!tap_check(turnc_open_tcp(&c, &s->addr, WAIT_MS) == 0, "framing: TCP connection"))
		return;
	struct turnc_req q;
	turnc_req_init(&q, STUN_BINDING);
	q.no_auth = true;
	turnc_random_txid(txid[0]);
	turnc_random_txid(txid[1]);
	int n0 = turnc_build(&c, &q, txid[0], false, two, 32);
	int n1 = turnc_build(&c, &q, txid[1], false, two + n0, 32);
	tap_check(n0 == 20 && n1 == 20, "framing: two Binding requests built");
	turnc_send_raw(&c, two, 40);
	tap_check(turnc_wait_answer(&c, txid[0], &r, WAIT_MS) == 0 && r.cls == STUN_SUCCESS &&
	              turnc_wait_answer(&c, txid[1], &r, WAIT_MS) == 0 && r.cls == STUN_SUCCESS,
	          "framing: two requests in one write, two answers");
	tap_addr(&r.mapped, &c.local, "framing: XOR-MAPPED-ADDRESS is the client's TCP address");

	turnc_random_txid(txid[0]);
	turnc_build(&c, &q, txid[0], false, two, 32);
	turnc_send_raw(&c, two, 7);
	struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
	tap_check(poll(&pfd, 1, 200) == 0, "framing: no answer to the first 7 bytes of a request");
	turnc_send_raw(&c, two + 7, 13);
	tap_check(turnc_wait_answer(&c, txid[0], &r, WAIT_MS) == 0 && r.cls == STUN_SUCCESS,
	          "framing: the request completed by a second write is answered");

	/* bytes that are neither STUN nor ChannelData: the stream cannot go on */
	static const uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	turnc_send_raw(&c, junk, sizeof(junk));
	pfd.events = POLLIN;
	ssize_t got = -1;
	if (poll(&pfd, 1, WAIT_MS) == 1)
		got = recv(c.fd, buf, sizeof(buf), 0);
	tap_check(got == 0, "framing: a frame that is no STUN closes the connection (recv %zd)", got);
	turnc_close(&c);
}

/* A TCP connection from `from` (port 0) that sends one Binding request:
 * 1 when it is answered, 0 when the server closes the connection instead,
 * -1 on a local error. The connection is left open in *fd (or -1). */
static int bind_over_tcp(const union tern_addr *server, const char *from, int *fd)
{
	union tern_addr local = it_addr(from, 0);
	uint8_t req[32], txid[STUN_TXID_LEN];
	struct turnc dummy;
	struct turnc_req q;
	memset(&dummy, 0, sizeof(dummy));
	*fd = socket(server->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, &local.sa, addr_len(&local)) < 0 ||
	    connect(*fd, &server->sa, addr_len(server)) < 0)
		return -1;
	turnc_req_init(&q, STUN_BINDING);
	q.no_auth = true;
	turnc_random_txid(txid);
	int n = turnc_build(&dummy, &q, txid, false, req, sizeof(req));
	if (n <= 0 || send(*fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return 0;
	struct pollfd pfd = {.fd = *fd, .events = POLLIN};
	if (poll(&pfd, 1, WAIT_MS) != 1)
		return -1;
	ssize_t got = recv(*fd, buf, sizeof(buf), 0);
	return got >= 20 ? 1 : 0;
}

/* Connections over max-connections-per-ip and max-connections are closed at
 * once; a connection that holds no allocation is closed after
 * max-allocate-timeout, one that holds one is not. */
static void limits(void)
{
	struct srv s;
	int fds[4], extra = -1;
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--workers",
	                      "1",
	                      "--max-connections-per-ip",
	                      "2",
	                      "--max-connections",
	                      "3",
	                      "--max-allocate-timeout",
	                      "1",
	                      NULL};
	if (srv_is_coturn()) {
		tap_skip("tern's option names", "connection limits");
		return;
	}
	if (!tap_check(srv_start(&s, 8, args) == 0,
	               "limits: server starts (per-ip 2, total 3, allocate timeout 1 s)"))
		return;
	tap_int(bind_over_tcp(&s.addr, "127.0.0.1", &fds[0]), 1,
	        "limits: 1st connection from 127.0.0.1 answered");
	tap_int(bind_over_tcp(&s.addr, "127.0.0.1", &fds[1]), 1,
	        "limits: 2nd connection from 127.0.0.1 answered");
	tap_int(bind_over_tcp(&s.addr, "127.0.0.1", &fds[2]), 0,
	        "limits: 3rd from 127.0.0.1 closed (per-ip 2)");
	tap_int(bind_over_tcp(&s.addr, "127.0.0.2", &fds[3]), 1, "limits: one from 127.0.0.2 answered");
	tap_int(bind_over_tcp(&s.addr, "127.0.0.3", &extra), 0, "limits: a 4th connection closed (total 3)");
	for (unsigned i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(extra);

	/* max-allocate-timeout: the closes above free the slots; a connection
	 * that only asked for a Binding is closed after 1 s (the sweep runs
	 * once a second: within 3 s), one with an allocation stays */
	struct turnc idle, busy;
	int64_t deadline = it_now_ms() + WAIT_MS;
	int rc;
	do {
		rc = turnc_open_tcp(&idle, &s.addr, WAIT_MS);
		if (rc == 0 && (rc = turnc_binding(&idle, &r)) != 0)
			turnc_close(&idle);
	} while (rc != 0 && it_now_ms() < deadline);
	tap_check(rc == 0, "limits: a new connection is answered once the others closed");
	turnc_open_tcp(&busy, &s.addr, WAIT_MS);
	turnc_set_creds(&busy, IT_USER, IT_PASS);
	rc = turnc_allocate(&busy, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "limits: Allocate over a second connection (%s)", it_outcome(rc));
	struct pollfd pfd = {.fd = idle.fd, .events = POLLIN};
	ssize_t got = -1;
	if (poll(&pfd, 1, 3500) == 1)
		got = recv(idle.fd, buf, sizeof(buf), 0);
	tap_check(got == 0, "limits: the connection without an allocation was closed (max-allocate-timeout)");
	rc = turnc_refresh(&busy, 600, &r);
	tap_check(rc == 0, "limits: the connection with an allocation is still served (%s)", it_outcome(rc));
	/* once its allocation is deleted, the same timeout applies again */
	rc = turnc_refresh(&busy, 0, &r);
	tap_check(rc == 0, "limits: the allocation is deleted (%s)", it_outcome(rc));
	pfd.fd = busy.fd;
	got = -1;
	if (poll(&pfd, 1, 3500) == 1)
		got = recv(busy.fd, buf, sizeof(buf), 0);
	tap_check(got == 0, "limits: a connection whose allocation ended is closed after the timeout too");
	turnc_close(&idle);
	turnc_close(&busy);
	srv_stop_check(&s);
}

int main(int argc, char **argv)
{
	struct srv s;
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", "--relay-ip",
	                      "::1",        "--user-quota",           "1",          NULL};

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (!tap_check(srv_start(&s, 16, args) == 0, "server starts (UDP and TCP on one port)"))
		return tap_done();
	for (int k = 0; k < 2; k++) {
		const union tern_addr *a = k ? &s.addr6 : &s.addr;
		const char *fam = k ? "IPv6" : "IPv4";
		struct turnc c;
		if (!tap_check(turnc_open_tcp(&c, a, WAIT_MS) == 0, "%s: TCP connection to %s", fam,
		               it_fmt(a)))
			continue;
		union tern_addr relayed;
		if (!it_xprt_allocate(&c, k, fam, &relayed)) {
			turnc_close(&c);
			continue;
		}
		relay_both_ways(&c, &relayed, fam);
		int rc = turnc_refresh(&c, 600, &r);
		tap_check(rc == 0, "%s: Refresh over TCP (%s)", fam, it_outcome(rc));
		/* user-quota 1: alice's unit is held by the TCP allocation until
		 * its connection closes */
		it_quota_until_close(&c, &s, fam, WAIT_MS);
	}
	framing(&s);
	tap_check(srv_alive(&s), "ternd is still running");
	srv_stop_check(&s);
	limits();
	return tap_done();
}
