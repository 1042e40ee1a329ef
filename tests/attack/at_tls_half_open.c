/* Attack: more TLS handshakes in progress than a worker keeps
 * (TLS_HALF_OPEN_MAX, src/server/conn.h: 1024 per worker; each holds
 * OpenSSL's buffers and state, ~50 KiB), against a ternd with one worker.
 *
 * A legitimate TLS client allocates first. Then 1024 + 100 connections
 * from 127.0.0.2 each send the start of a TLS record (the byte 0x16 alone,
 * or a record header announcing a ClientHello) and nothing more. Expected
 * (conn.c, conn_choose): the first 1024 are held in their handshake
 * (tls_half_open 1024), every later one is closed at once and counted
 * (tls_handshakes_refused 100, and exactly 100 clients see their
 * connection closed). The cap only limits handshakes: the established TLS
 * client keeps relaying, and a plain TCP client is served. A new TLS
 * client is refused like any other handshake while the cap is reached
 * (ternd cannot tell it from an attacker before its handshake completes;
 * handshake-timeout is what frees the slots of a stalled flood); once 10
 * attackers hang up, their slots are free again and a new TLS client
 * completes its handshake and allocates. When every attacker has hung up,
 * tls_half_open is back to 0 (nothing leaked). handshake-timeout is set
 * far beyond the test so that no slot frees itself by the clock: every
 * count is exact. Loopback only; every wait is bounded. */
#include "attack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CAP     1024 /* TLS_HALF_OPEN_MAX */
#define EXTRA   100
#define N       (CAP + EXTRA)
#define FREED   10
#define WAIT_MS 5000

static struct turnc_resp r;
static struct turnc_data d;
static struct it_certs certs;
static int fds[N];
static uint8_t buf[4096];

/* Poll one counter until it equals want (bounded); returns the last value. */
static long wait_stat(const char *sock, const char *name, long want)
{
	int64_t end = it_now_ms() + WAIT_MS;
	long v;
	while ((v = it_stats_sum(sock, name)) != want && it_now_ms() < end)
		poll(NULL, 0, 5);
	return v;
}

/* A TCP connection from 127.0.0.2 to server that sent the start of a TLS
 * record, or -errno. */
static int half_open(const union tern_addr *server, unsigned i)
{
	/* 0x16 alone, or a record header (TLS 1.0, 512 bytes) and the
	 * ClientHello type: either way the record is unfinished */
	static const uint8_t rec[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
	union tern_addr local = it_addr("127.0.0.2", 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	size_t n = i % 2 ? sizeof(rec) : 1;
	if (bind(fd, &local.sa, addr_len(&local)) < 0 || connect(fd, &server->sa, addr_len(server)) < 0 ||
	    send(fd, rec, n, MSG_NOSIGNAL) != (ssize_t)n) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* How many of the attackers' connections the server has closed (EOF or
 * reset readable now). Closed ones are marked so they are counted once. */
static unsigned count_closed(bool *closed)
{
	static struct pollfd p[N];
	unsigned n = 0;
	for (unsigned i = 0; i < N; i++)
		p[i] = (struct pollfd){.fd = closed[i] ? -1 : fds[i], .events = POLLIN};
	if (poll(p, N, 0) > 0)
		for (unsigned i = 0; i < N; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
				closed[i] = true;
		}
	for (unsigned i = 0; i < N; i++)
		n += closed[i];
	return n;
}

/* A ChannelData round trip of the established client through the peer. */
static bool relays(struct turnc *c, struct peer *p, const union tern_addr *relayed)
{
	union tern_addr from;
	turnc_send_channel(c, 0x4001, "ping", 4, true);
	int n = peer_recv(p, buf, sizeof(buf), &from, WAIT_MS);
	if (n != 4 || !addr_equal(&from, relayed))
		return false;
	peer_send(p, &from, "pong", 4);
	return turnc_recv(c, &d, WAIT_MS) == 1 && d.is_channel && d.len == 4 &&
	       memcmp(d.data, "pong", 4) == 0;
}

int main(int argc, char **argv)
{
	struct at_srv S;
	char dir[64] = "/tmp/tern-at-tlsho-XXXXXX";

	srv_setup(argc, argv);
	if (srv_is_coturn()) {
		printf("ok 1 - TLS half-open cap # SKIP needs ternd's stats socket\n0 passed, 0 failed\n");
		return 0;
	}
	tap_watchdog(150);
	/* the attackers' descriptors, the test's own and ternd's (it inherits
	 * the limit and raises its own) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < N + 256 && rl.rlim_max >= N + 256) {
		rl.rlim_cur = N + 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!tap_check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= N + 256,
	               "RLIMIT_NOFILE allows %d connections (%llu)", N, (unsigned long long)rl.rlim_cur))
		return tap_done();
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test CA and certificate"))
		return tap_done();
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--workers",
	                      "1",
	                      "--cert",
	                      certs.cert,
	                      "--pkey",
	                      certs.key,
	                      "--handshake-timeout",
	                      "300",
	                      "--max-connections-per-ip",
	                      "5000",
	                      "--max-connections",
	                      "5000",
	                      NULL};
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server starts (one worker, cert)"))
		goto out_certs;
	const union tern_addr tp = it_with_port(&S.s.addr, S.s.tls_port);
	struct turnc_tls t = {.ca_file = certs.ca, .host = "localhost"};

	/* the legitimate client, established before the flood */
	struct turnc L;
	struct peer p;
	int rc = turnc_open_tls(&L, &tp, &t, WAIT_MS);
	turnc_set_creds(&L, IT_USER, IT_PASS);
	rc = rc == 0 ? turnc_allocate(&L, &TURNC_ALLOC_DEFAULT, &r) : rc;
	union tern_addr relayed = r.relayed[0];
	rc = rc == 0 ? peer_open(&p, "127.0.0.1", 0) : rc;
	rc = rc == 0 ? turnc_channel_bind(&L, 0x4001, &p.addr, &r) : rc;
	if (!tap_check(rc == 0 && relays(&L, &p, &relayed), "a TLS client allocates and relays (%s)",
	               it_outcome(rc)))
		goto out;

	unsigned made = 0;
	for (unsigned i = 0; i < N; i++) {
		fds[i] = half_open(&tp, i);
		made += fds[i] >= 0;
	}
	if (!tap_int(made, N, "%d connections send the start of a ClientHello, then nothing", N))
		goto out_fds;
	long busy = wait_stat(S.stats, "tls_handshakes_refused", EXTRA);
	long held = wait_stat(S.stats, "tls_half_open", CAP);
	tap_int(held, CAP, "tls_half_open: the worker holds %d handshakes", CAP);
	tap_int(busy, EXTRA, "tls_handshakes_refused: the %d past the cap are refused and counted", EXTRA);
	static bool closed[N];
	int64_t end = it_now_ms() + WAIT_MS;
	unsigned nclosed;
	while ((nclosed = count_closed(closed)) < EXTRA && it_now_ms() < end)
		poll(NULL, 0, 5);
	tap_int(nclosed, EXTRA, "exactly %d attackers see their connection closed", EXTRA);
	tap_int(it_stats_sum(S.stats, "tls_connections"), CAP + 1,
	        "tls_connections: the held handshakes and the established client");

	tap_check(relays(&L, &p, &relayed), "the established TLS client still relays");
	struct turnc c;
	rc = turnc_open_tcp(&c, &S.s.addr, WAIT_MS);
	rc = rc == 0 ? turnc_binding(&c, &r) : rc;
	tap_check(rc == 0, "a plain TCP client is served (Binding: %s)", it_outcome(rc));
	if (c.fd >= 0)
		turnc_close(&c);
	rc = turnc_open_tls(&c, &tp, &t, WAIT_MS);
	tap_check(rc < 0, "a new TLS client is refused while %d handshakes are in progress", CAP);
	if (rc == 0)
		turnc_close(&c);
	tap_int(wait_stat(S.stats, "tls_handshakes_refused", EXTRA + 1), EXTRA + 1, "and counted");

	/* attackers that hang up free their slots */
	unsigned k = 0;
	for (unsigned i = 0; i < N && k < FREED; i++)
		if (!closed[i]) {
			close(fds[i]);
			fds[i] = -1;
			closed[i] = true;
			k++;
		}
	tap_int(wait_stat(S.stats, "tls_half_open", CAP - FREED), CAP - FREED,
	        "%d attackers hang up: their handshakes end (tls_half_open)", FREED);
	rc = turnc_open_tls(&c, &tp, &t, WAIT_MS);
	if (rc == 0) {
		turnc_set_creds(&c, IT_USER2, IT_PASS2);
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		turnc_close(&c);
	}
	tap_check(rc == 0, "then a new TLS client handshakes and allocates (%s)", it_outcome(rc));
	tap_int(it_stats_sum(S.stats, "tls_handshakes_refused"), EXTRA + 1, "and nothing more was refused");

out_fds:
	for (unsigned i = 0; i < N; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	tap_int(wait_stat(S.stats, "tls_half_open", 0), 0, "every attacker gone: tls_half_open back to 0");
	tap_check(relays(&L, &p, &relayed), "the established TLS client relays to the end");
	turnc_close(&L);
	peer_close(&p);
out:
	at_srv_stop(&S);
out_certs:;
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
