/* DTLS under attack (ternd with `dtls`), while a legitimate DTLS client
 * keeps relaying ChannelData through an echo peer between bursts:
 *  - a flood of ClientHellos without cookies from many source ports: each
 *    gets a HelloVerifyRequest, no session is kept, descriptors and memory
 *    stay flat;
 *  - cookie-bearing handshakes that then stall: closed by
 *    handshake-timeout, counted;
 *  - garbage datagrams (not handshake records, truncated records) from
 *    unknown 5-tuples: dropped and counted, nothing kept.
 * Loopback only; bounded (about 10 s). */
#include "attack.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define WAIT_MS 3000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];
static struct it_certs certs;
static const char *g_stats;

/* ChannelData round trips through the echo peer: all of them come back. */
static bool still_relays(struct turnc *c, unsigned n)
{
	unsigned got = 0;
	for (unsigned i = 0; i < n; i++) {
		turnc_send_channel(c, 0x4001, "ping-ping", 9, false);
		int rc = turnc_recv(c, &d, WAIT_MS);
		bool ok = rc == 1 && d.is_channel && d.len == 9;
		if (!ok)
			tap_diag("round trip %u: recv %d, channel %d, len %zu; server: to peer %ld, to "
			         "client %ld, "
			         "rx_client %ld, dtls dropped %ld",
			         i, rc, d.is_channel, d.len, it_stats_sum(g_stats, "relayed_to_peer"),
			         it_stats_sum(g_stats, "relayed_to_client"),
			         it_stats_sum(g_stats, "rx_client"), it_stats_sum(g_stats, "dtls_dropped"));
		got += ok;
	}
	return got == n;
}

/* A ClientHello written by OpenSSL into memory (no cookie), and the SSL
 * object, to answer a HelloVerifyRequest with a second ClientHello. */
struct fake {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rb, *wb;
};

static int fake_hello(struct fake *f, uint8_t *out, size_t cap)
{
	f->ctx = SSL_CTX_new(DTLS_client_method());
	f->ssl = f->ctx ? SSL_new(f->ctx) : NULL;
	f->rb = BIO_new(BIO_s_mem());
	f->wb = BIO_new(BIO_s_mem());
	if (!f->ssl || !f->rb || !f->wb)
		return -1;
	BIO_set_mem_eof_return(f->rb, -1);
	SSL_set_bio(f->ssl, f->rb, f->wb);
	(void)SSL_connect(f->ssl);
	ERR_clear_error();
	return BIO_read(f->wb, out, (int)cap);
}

static void fake_free(struct fake *f)
{
	SSL_free(f->ssl);
	SSL_CTX_free(f->ctx);
	memset(f, 0, sizeof(*f));
}

int main(int argc, char **argv)
{
	struct at_srv S;
	struct at_stats st0, st;
	char dir[64] = "/tmp/tern-atdtls-XXXXXX";

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("tern's counters", "DTLS attack");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test certificates"))
		return tap_done();
	const char *args[] = {
	    IT_AUTH_ARGS, "--allow-loopback-peers", "--cert", certs.cert,  "--pkey", certs.key,
	    "--dtls",     "--handshake-timeout",    "1",      "--workers", "1",      NULL};
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server starts (dtls, handshake-timeout 1, 1 worker)"))
		return tap_done();
	pid_t pid = S.s.pid;
	g_stats = S.stats;
	union tern_addr port = S.s.addr;
	addr_set_port(&port, S.s.tls_port);

	/* the legitimate client: DTLS, an allocation, a channel to an echo peer */
	struct turnc c;
	struct turnc_tls t = {.ca_file = certs.ca, .host = "localhost"};
	struct peer echo;
	int rc = turnc_open_dtls(&c, &port, &t, WAIT_MS);
	tap_check(rc == 0, "legitimate DTLS client connects (%d)", rc);
	turnc_set_creds(&c, IT_USER, IT_PASS);
	rc = rc == 0 ? turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r) : rc;
	union tern_addr relayed = r.relayed[0];
	peer_open(&echo, "127.0.0.1", 0);
	rc = rc == 0 ? turnc_channel_bind(&c, 0x4001, &echo.addr, &r) : rc;
	tap_check(rc == 0, "... allocates and binds a channel (%s)", it_outcome(rc));
	pid_t echo_pid = fork();
	if (echo_pid == 0) {
		peer_echo(&echo, 100000, 60000, &relayed, NULL);
		_exit(0);
	}
	tap_check(still_relays(&c, 20), "relays before the attacks");
	at_stats_read(S.stats, &st0);
	long fd0 = at_fd_count(pid), rss0 = at_rss_kb(pid);

	/* 1. ClientHellos without cookies: 20 rounds x 200 from 50 ports */
	uint8_t hello[2048];
	struct fake f;
	int hn = fake_hello(&f, hello, sizeof(hello));
	fake_free(&f);
	unsigned hvr = 0;
	for (unsigned round = 0; round < 20 && hn > 13; round++) {
		struct peer p[50];
		for (unsigned i = 0; i < 50; i++)
			peer_open(&p[i], "127.0.0.1", 0);
		for (unsigned k = 0; k < 4; k++)
			for (unsigned i = 0; i < 50; i++)
				peer_send(&p[i], &port, hello, (size_t)hn);
		/* each port gets its four answers (waiting, bounded, for a busy
		 * machine: a fixed pause lost some when other work ran) */
		for (unsigned i = 0; i < 50; i++) {
			union tern_addr from;
			for (unsigned got = 0;
			     got < 4 && peer_recv(&p[i], buf, sizeof(buf), &from, 300) > 25; got++)
				hvr += buf[0] == 22 && buf[13] == 3;
			peer_close(&p[i]);
		}
		if (round == 9)
			tap_check(still_relays(&c, 10), "relays during the ClientHello flood");
	}
	tap_check(hvr >= 3800, "4000 ClientHellos without a cookie: HelloVerifyRequests answer them (%u)",
	          hvr);
	at_stats_read(S.stats, &st);
	long sessions = it_stats_sum(S.stats, "dtls_sessions"),
	     half = it_stats_sum(S.stats, "dtls_half_open");
	tap_check(sessions == 1 && half == 0, "no session kept for any of them (%ld sessions: the client's)",
	          sessions);
	tap_check(at_fd_count(pid) == fd0, "descriptors flat (%ld, %ld before)", at_fd_count(pid), fd0);
	at_check_rss(pid, at_rss_kb(pid) - rss0, 2048, "memory flat within 2 MiB (grew %ld KiB)",
	             at_rss_kb(pid) - rss0);

	/* 2. handshakes that echo the cookie, then stall: handshake-timeout */
	long to0 = it_stats_sum(S.stats, "dtls_handshake_timeouts");
	unsigned started = 0;
	for (unsigned i = 0; i < 30; i++) {
		struct peer p;
		struct fake g;
		if (peer_open(&p, "127.0.0.1", 0) < 0)
			continue;
		int n = fake_hello(&g, hello, sizeof(hello));
		peer_send(&p, &port, hello, (size_t)n);
		union tern_addr from;
		int got = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
		if (got > 0) {
			BIO_write(g.rb, buf, got);
			(void)SSL_connect(g.ssl); /* the second ClientHello, with the cookie */
			ERR_clear_error();
			n = BIO_read(g.wb, hello, sizeof(hello));
			if (n > 0 && peer_send(&p, &port, hello, (size_t)n) == 0)
				started++;
		}
		fake_free(&g);
		peer_close(&p); /* and never answers the ServerHello */
	}
	int64_t end = it_now_ms() + 5000;
	while (it_stats_sum(S.stats, "dtls_half_open") > 0 && it_now_ms() < end)
		it_sleep_ms(100);
	tap_check(started == 30, "30 handshakes past the cookie, then silent (%u)", started);
	tap_check(it_stats_sum(S.stats, "dtls_half_open") == 0 &&
	              it_stats_sum(S.stats, "dtls_handshake_timeouts") - to0 == 30,
	          "all closed by handshake-timeout and counted (%ld)",
	          it_stats_sum(S.stats, "dtls_handshake_timeouts") - to0);

	/* 3. garbage from unknown 5-tuples */
	long drop0 = it_stats_sum(S.stats, "dtls_dropped");
	struct peer g;
	peer_open(&g, "127.0.0.1", 0);
	for (unsigned i = 0; i < 200; i++) {
		uint8_t junk[64];
		for (unsigned k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)(i * 31 + k * 7);
		junk[0] = i % 2 ? 23 : 22; /* application data, or a handshake record of garbage */
		peer_send(&g, &port, junk, i % 3 ? sizeof(junk) : 5);
	}
	peer_close(&g);
	tap_check(still_relays(&c, 10), "relays after the garbage");
	tap_check(it_stats_sum(S.stats, "dtls_dropped") - drop0 >= 100 &&
	              it_stats_sum(S.stats, "dtls_sessions") == 1,
	          "garbage dropped and counted (%ld), no session kept",
	          it_stats_sum(S.stats, "dtls_dropped") - drop0);

	rc = turnc_refresh(&c, 600, &r);
	tap_check(rc == 0, "the legitimate client still refreshes (%s)", it_outcome(rc));
	turnc_close(&c);
	kill(echo_pid, SIGKILL);
	waitpid(echo_pid, NULL, 0);
	peer_close(&echo);
	at_srv_stop(&S);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
