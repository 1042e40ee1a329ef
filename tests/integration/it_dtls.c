/* TURN over DTLS 1.2 (RFC 8656 §3.1; `dtls`), with our client on OpenSSL:
 * certificates made by the test, verified by the client. On IPv4 and IPv6:
 * the cookie exchange and handshake, Binding, Allocate, permissions,
 * Send/Data and ChannelData (unpadded: a datagram transport) both ways,
 * bursts of large datagrams, and the allocation ending with the client's
 * close_notify. Then: ClientHellos without a cookie get a HelloVerifyRequest
 * and leave no session behind (stateless); without `dtls` nothing answers
 * on the port. Loopback only. */
#include "it.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define WAIT_MS 3000

static struct turnc_resp r;
static uint8_t buf[65536];
static struct it_certs certs;
static char cert_dir[64] = "/tmp/tern-dtls-XXXXXX";
static char stats_path[100];

static struct turnc_tls tls_opts(void)
{
	return (struct turnc_tls){.ca_file = certs.ca, .host = "localhost"};
}

static void relay_both_ways(struct turnc *c, const union tern_addr *relayed, const char *fam)
{
	struct peer p;
	if (!it_relay_both_ways(c, relayed, fam, &p, WAIT_MS))
		return;
	it_relay_bursts(c, &p, relayed, fam, 200, 50, WAIT_MS);
	peer_close(&p);
}

static void transports(const struct srv *s)
{
	for (int k = 0; k < 2; k++) {
		const union tern_addr a = it_with_port(k ? &s->addr6 : &s->addr, s->tls_port);
		const char *fam = k ? "IPv6" : "IPv4";
		struct turnc c;
		struct turnc_tls t = tls_opts();
		int rc = turnc_open_dtls(&c, &a, &t, WAIT_MS);
		if (!tap_check(rc == 0, "%s: DTLS handshake with %s, certificate verified (%d)", fam,
		               it_fmt(&a), rc))
			continue;
		tap_check(SSL_version(c.ssl) == DTLS1_2_VERSION, "%s: DTLS 1.2", fam);
		union tern_addr relayed;
		if (!it_xprt_allocate(&c, k, fam, &relayed)) {
			turnc_close(&c);
			continue;
		}
		relay_both_ways(&c, &relayed, fam);
		it_quota_until_close(&c, s, fam, WAIT_MS); /* close_notify */
	}
}

/* A ClientHello made by OpenSSL into memory, sent from plain UDP sockets:
 * each gets a HelloVerifyRequest, and no session is made. */
static void cookies(const struct srv *s)
{
	SSL_CTX *ctx = SSL_CTX_new(DTLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	if (!tap_check(ssl && rb && wb, "cookies: an OpenSSL client in memory")) {
		SSL_CTX_free(ctx);
		return;
	}
	SSL_set_bio(ssl, rb, wb);
	(void)SSL_connect(ssl);
	ERR_clear_error();
	uint8_t hello[2048];
	int n = BIO_read(wb, hello, sizeof(hello));
	tap_check(n > 13 && hello[0] == 22, "cookies: a ClientHello (%d bytes)", n);
	union tern_addr to = it_with_port(&s->addr, s->tls_port);
	unsigned hvr = 0;
	for (unsigned i = 0; i < 50 && n > 13; i++) {
		struct peer p;
		if (peer_open(&p, "127.0.0.1", 0) < 0)
			break;
		peer_send(&p, &to, hello, (size_t)n);
		union tern_addr from;
		int got = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
		/* record type 22, handshake type 3 (HelloVerifyRequest) */
		hvr += got > 25 && buf[0] == 22 && buf[13] == 3;
		peer_close(&p);
	}
	tap_int(hvr, 50, "cookies: 50 ClientHellos without a cookie, 50 HelloVerifyRequests");
	tap_check(it_stats_sum(stats_path, "dtls_sessions") == 0 &&
	              it_stats_sum(stats_path, "dtls_half_open") == 0,
	          "cookies: and no session kept for any of them (stateless)");
	tap_check(it_stats_sum(stats_path, "dtls_hello_verify") >= 50, "cookies: counted (%ld)",
	          it_stats_sum(stats_path, "dtls_hello_verify"));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

/* A client that loses its session (no close_notify: it crashed or
 * restarted) and handshakes again from the same address and port: the new
 * handshake replaces the old session, whose allocation goes (RFC 6347
 * §4.2.8). A second handshake from another port does not touch it. */
static void restart(const struct srv *s)
{
	union tern_addr port = it_with_port(&s->addr, s->tls_port);
	struct turnc a, b, other;
	struct turnc_tls t = tls_opts();
	int rc = turnc_open_dtls(&a, &port, &t, WAIT_MS);
	turnc_set_creds(&a, IT_USER, IT_PASS);
	rc = rc == 0 ? turnc_allocate(&a, &TURNC_ALLOC_DEFAULT, &r) : rc;
	if (!tap_check(rc == 0, "restart: a DTLS client allocates (%s)", it_outcome(rc)))
		return;
	union tern_addr from = a.local;
	/* another client, another port: its handshake leaves a's session alone */
	rc = turnc_open_dtls(&other, &port, &t, WAIT_MS);
	turnc_set_creds(&other, IT_USER, IT_PASS);
	rc = rc == 0 ? turnc_allocate(&other, &TURNC_ALLOC_DEFAULT, &r) : rc;
	tap_check(rc == 486, "restart: a second client of the same user is over quota (%s)", it_outcome(rc));
	turnc_close(&other);
	/* a goes away without close_notify; a new session on its port */
	SSL_set_quiet_shutdown(a.ssl, 1);
	turnc_close(&a);
	t.local = &from;
	rc = turnc_open_dtls(&b, &port, &t, WAIT_MS);
	tap_check(rc == 0, "restart: a new handshake from the same address and port succeeds (%d)", rc);
	if (rc != 0)
		return;
	turnc_set_creds(&b, IT_USER, IT_PASS);
	rc = turnc_allocate(&b, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "restart: and its Allocate succeeds: the old session and allocation are gone (%s)",
	          it_outcome(rc));
	tap_check(it_stats_sum(stats_path, "dtls_restarts") >= 1, "restart: counted (%ld)",
	          it_stats_sum(stats_path, "dtls_restarts"));
	turnc_refresh(&b, 0, &r);
	turnc_close(&b);
}

int main(int argc, char **argv)
{
	struct srv s;

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("the coturn run covers DTLS in it_coturn_client", "DTLS");
		return tap_done();
	}
	if (!tap_check(mkdtemp(cert_dir) != NULL && it_make_certs(cert_dir, &certs) == 0,
	               "test CA and certificates"))
		return tap_done();
	snprintf(stats_path, sizeof(stats_path), "%s/stats.sock", cert_dir);
	const char *args[] = {IT_AUTH_ARGS,   "--allow-loopback-peers",
	                      "--relay-ip",   "127.0.0.1",
	                      "--relay-ip",   "::1",
	                      "--user-quota", "1",
	                      "--cert",       certs.cert,
	                      "--pkey",       certs.key,
	                      "--dtls",       "--stats-socket",
	                      stats_path,     NULL};
	if (!tap_check(srv_start(&s, 16, args) == 0, "server starts with dtls"))
		return tap_done();
	transports(&s);
	cookies(&s);
	restart(&s);
	int64_t end = it_now_ms() + WAIT_MS;
	while (it_stats_sum(stats_path, "dtls_sessions") != 0 && it_now_ms() < end)
		it_sleep_ms(50);
	tap_check(it_stats_sum(stats_path, "dtls_sessions") == 0, "every DTLS session ended (%ld left)",
	          it_stats_sum(stats_path, "dtls_sessions"));
	tap_check(srv_alive(&s), "ternd is still running");
	srv_stop_check(&s);

	/* without dtls: TLS on TCP, nothing on the UDP port */
	const char *no[] = {IT_AUTH_ARGS, "--cert", certs.cert, "--pkey", certs.key, NULL};
	if (tap_check(srv_start(&s, 8, no) == 0, "server starts with TLS, without dtls")) {
		struct turnc c;
		struct turnc_tls t = tls_opts();
		union tern_addr a = it_with_port(&s.addr, s.tls_port);
		tap_check(turnc_open_dtls(&c, &a, &t, 1000) < 0,
		          "without dtls: no DTLS handshake on the TLS port");
		srv_stop_check(&s);
	}
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", cert_dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", cert_dir);
	return tap_done();
}
