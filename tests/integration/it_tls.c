/* TURN over TLS (RFC 8656 §3.1), with our client and OpenSSL: certificates
 * made by the test (a CA of its own, a server certificate for localhost,
 * 127.0.0.1 and ::1), verified by the client (chain and name). Over
 * tls-listening-port on IPv4 and IPv6: Binding, Allocate, permissions,
 * Send/Data and padded ChannelData both ways, the allocation ending with
 * the connection. Then: a ClientHello on listening-port is served as TLS
 * and plain STUN on the TLS port as TCP; ALPN stun.turn; resumption with a
 * session ticket; no-tlsv1_2 refusing TLS 1.2; a handshake that stalls is
 * closed after handshake-timeout; a ClientHello to a server without TLS
 * is closed; SIGUSR2 loads a renewed certificate while an allocation on an
 * older connection keeps relaying; --check-config names a key that does not
 * match. Loopback only. */
#include "it.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define WAIT_MS 3000

static struct turnc_resp r;
static uint8_t buf[65536];
static struct it_certs certs;
static const char *ternd_path;
static char cert_dir[64] = "/tmp/tern-tls-XXXXXX";
static char stats_path[100];

static struct turnc_tls tls_opts(void)
{
	return (struct turnc_tls){.ca_file = certs.ca, .host = "localhost", .alpn = "stun.turn"};
}

static void relay_both_ways(struct turnc *c, const union tern_addr *relayed, const char *fam)
{
	struct peer p;
	if (!it_relay_both_ways(c, relayed, fam, &p, WAIT_MS))
		return;
	it_relay_bursts(c, &p, relayed, fam, 300, 300, WAIT_MS);
	peer_close(&p);
}

/* The SHA-256 of the certificate the server presented. */
static void peer_cert_hash(struct turnc *c, uint8_t out[32])
{
	memset(out, 0, 32);
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	unsigned n = 0;
	if (x)
		X509_digest(x, EVP_sha256(), out, &n);
	X509_free(x);
}

/* The server closes the connection within ms: true. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int64_t end = it_now_ms() + ms;
	while (it_now_ms() < end) {
		if (poll(&p, 1, (int)(end - it_now_ms())) != 1)
			return false;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

static void transports(const struct srv *s)
{
	for (int k = 0; k < 2; k++) {
		const union tern_addr a = it_with_port(k ? &s->addr6 : &s->addr, s->tls_port);
		const char *fam = k ? "IPv6" : "IPv4";
		struct turnc c;
		struct turnc_tls t = tls_opts();
		int rc = turnc_open_tls(&c, &a, &t, WAIT_MS);
		if (!tap_check(rc == 0, "%s: TLS to %s, certificate chain and name verified (%d)", fam,
		               it_fmt(&a), rc))
			continue;
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(c.ssl, &alpn, &alen);
		tap_check(alen == 9 && memcmp(alpn, "stun.turn", 9) == 0, "%s: ALPN stun.turn selected", fam);
		union tern_addr relayed;
		if (!it_xprt_allocate(&c, k, fam, &relayed)) {
			turnc_close(&c);
			continue;
		}
		relay_both_ways(&c, &relayed, fam);
		/* user-quota 1: the TLS allocation holds alice's unit until its
		 * connection closes (RFC 8656 §3.1) */
		it_quota_until_close(&c, s, fam, WAIT_MS);
	}
}

/* Both ports serve both: the first byte decides. And resumption. */
static void ports_and_resumption(const struct srv *s)
{
	struct turnc c;
	struct turnc_tls t = tls_opts();
	int rc = turnc_open_tls(&c, &s->addr, &t, WAIT_MS);
	tap_check(rc == 0 && turnc_binding(&c, &r) == 0,
	          "a ClientHello on listening-port is served as TLS (Binding answered)");
	SSL_SESSION *sess = rc == 0 ? turnc_tls_session(&c) : NULL;
	turnc_close(&c);

	union tern_addr tp = it_with_port(&s->addr, s->tls_port);
	rc = turnc_open_tcp(&c, &tp, WAIT_MS);
	tap_check(rc == 0 && turnc_binding(&c, &r) == 0, "plain STUN on tls-listening-port is served as TCP");
	turnc_close(&c);

	t.resume = sess;
	rc = turnc_open_tls(&c, &tp, &t, WAIT_MS);
	tap_check(rc == 0 && SSL_session_reused(c.ssl) == 1,
	          "a session ticket from one port resumes on the other (no full handshake)");
	if (rc == 0) {
		turnc_set_creds(&c, IT_USER, IT_PASS);
		tap_check(turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r) == 0,
		          "Allocate over the resumed session");
		turnc_close(&c);
	}
	SSL_SESSION_free(sess);

	/* the client checks what the server presents: another CA fails */
	t = tls_opts();
	t.ca_file = certs.other_ca;
	tap_check(turnc_open_tls(&c, &tp, &t, WAIT_MS) == -EPROTO,
	          "a client trusting another CA refuses the server's certificate");

	/* a handshake that stalls after one byte is closed by handshake-timeout 1 */
	union tern_addr from = it_addr("127.0.0.1", 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, &from.sa, addr_len(&from)) == 0 &&
	          connect(fd, &tp.sa, addr_len(&tp)) == 0 && send(fd, "\x16", 1, MSG_NOSIGNAL) == 1;
	tap_check(ok && closed_within(fd, 4000),
	          "a TLS handshake stalled after one byte is closed (handshake-timeout 1)");
	if (fd >= 0)
		close(fd);

	/* garbage after a TLS record header: the handshake fails, connection closed */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	static const uint8_t junk[] = {0x16, 0x03, 0x01, 0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	ok = fd >= 0 && connect(fd, &tp.sa, addr_len(&tp)) == 0 &&
	     send(fd, junk, sizeof(junk), MSG_NOSIGNAL) == (ssize_t)sizeof(junk);
	tap_check(ok && closed_within(fd, WAIT_MS), "a ClientHello of garbage closes the connection");
	if (fd >= 0)
		close(fd);
}

/* SIGUSR2: a renewed certificate for new connections; an allocation on a
 * connection made before keeps relaying. */
static void reload(struct srv *s)
{
	struct turnc old, c;
	struct turnc_tls t = tls_opts();
	union tern_addr tp = it_with_port(&s->addr, s->tls_port);
	uint8_t h_old[32], h_new[32];
	if (!tap_check(turnc_open_tls(&old, &tp, &t, WAIT_MS) == 0, "reload: a connection before"))
		return;
	peer_cert_hash(&old, h_old);
	turnc_set_creds(&old, IT_USER2, IT_PASS2);
	int rc = turnc_allocate(&old, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "reload: Allocate on it (%s)", it_outcome(rc));
	union tern_addr relayed = r.relayed[0];

	tap_check(it_renew_cert(cert_dir, &certs) == 0, "reload: a renewed certificate (new key) on disk");
	kill(s->pid, SIGUSR2);
	bool changed = false;
	int64_t deadline = it_now_ms() + WAIT_MS;
	while (!changed && it_now_ms() < deadline) {
		if (turnc_open_tls(&c, &tp, &t, WAIT_MS) == 0) {
			peer_cert_hash(&c, h_new);
			changed = memcmp(h_old, h_new, 32) != 0;
			turnc_close(&c);
		}
		if (!changed)
			it_sleep_ms(50);
	}
	tap_check(changed, "reload: after SIGUSR2 new connections get the renewed certificate");

	struct peer p;
	union tern_addr from;
	peer_open(&p, "127.0.0.1", 0);
	turnc_permission(&old, &p.addr, 1, &r);
	turnc_send(&old, &p.addr, "still-here", 10);
	int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	rc = turnc_refresh(&old, 600, &r);
	tap_check(n == 10 && addr_equal(&from, &relayed) && rc == 0,
	          "reload: the connection made before still relays and refreshes (%s)", it_outcome(rc));
	peer_close(&p);
	/* deleted before the next test allocates as bob (user-quota 1): a
	 * close alone is seen by ternd a little later, and on a loaded machine
	 * after the next Allocate (486) */
	turnc_refresh(&old, 0, &r);
	turnc_close(&old);
}

/* Clients that send Refresh(0) and close without close_notify: the
 * Refresh and the end of the stream arrive in one read, the answer's write
 * fails on the broken session, and the close that failure caused used to
 * run inside the core, which then deleted the allocation a second time
 * (counters wrapped, heap corrupted: found by Chromium's turns: run). */
static void refresh_then_close(const struct srv *s)
{
	union tern_addr tp = it_with_port(&s->addr, s->tls_port);
	unsigned done = 0;
	for (unsigned i = 0; i < 100; i++) {
		struct turnc c;
		struct turnc_tls t = tls_opts();
		if (turnc_open_tls(&c, &tp, &t, WAIT_MS) < 0)
			break;
		turnc_set_creds(&c, IT_USER2, IT_PASS2);
		int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		if (rc != 0) {
			tap_diag("refresh+close: client %u: Allocate %s", i, it_outcome(rc));
			turnc_close(&c);
			break;
		}
		struct turnc_req q;
		uint8_t txid[STUN_TXID_LEN], msg[512];
		turnc_req_init(&q, TURN_REFRESH);
		turnc_req_add_u32(&q, STUN_A_LIFETIME, 0);
		turnc_random_txid(txid);
		int n = turnc_build(&c, &q, txid, true, msg, sizeof(msg));
		if (n > 0)
			turnc_send_raw(&c, msg, (size_t)n);
		SSL_set_quiet_shutdown(c.ssl, 1); /* no close_notify: a FIN right behind the Refresh */
		turnc_close(&c);
		done++;
		/* the next client is bob too (user-quota 1): wait until ternd has
		 * taken this one's allocation down (bounded) */
		int64_t end = it_now_ms() + WAIT_MS;
		while (it_stats_sum(stats_path, "allocations") > 0 && it_now_ms() < end)
			it_sleep_ms(2);
	}
	tap_check(done == 100, "refresh+close: 100 TLS clients allocated, sent Refresh 0 and closed (%u)",
	          done);
	int64_t end = it_now_ms() + WAIT_MS;
	long created = 0, deleted = 0;
	while (it_now_ms() < end) {
		created = it_stats_sum(stats_path, "allocations_created");
		deleted = it_stats_sum(stats_path, "allocations_deleted") +
		          it_stats_sum(stats_path, "allocations_expired");
		if (it_stats_sum(stats_path, "allocations") == 0 && deleted >= created)
			break;
		it_sleep_ms(50);
	}
	tap_check(it_stats_sum(stats_path, "allocations") == 0 && deleted == created,
	          "refresh+close: every allocation deleted exactly once (created %ld, deleted %ld, live %ld)",
	          created, deleted, it_stats_sum(stats_path, "allocations"));
}

/* SIGTERM while a TLS client has relayed data queued that it has not read
 * yet (its receive buffer is tiny): ternd stops taking input, the client
 * then reads every queued frame and a close_notify (a clean end, not a
 * reset), and ternd exits 0 by itself. */
static void shutdown_drains(struct srv *s)
{
	struct turnc c;
	struct turnc_tls t = tls_opts();
	union tern_addr tp = it_with_port(&s->addr, s->tls_port);
	t.rcvbuf = 2048; /* the server's socket buffer stays small too */
	if (!tap_check(turnc_open_tls(&c, &tp, &t, WAIT_MS) == 0, "shutdown: a TLS client"))
		return;
	turnc_set_creds(&c, IT_USER, IT_PASS);
	int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relayed = r.relayed[0];
	struct peer p;
	peer_open(&p, "127.0.0.1", 0);
	rc = rc == 0 ? turnc_permission(&c, &p.addr, 1, &r) : rc;
	tap_check(rc == 0, "shutdown: allocation and permission (%s)", it_outcome(rc));
	static uint8_t blob[1000];
	for (unsigned i = 0; i < 120; i++)
		peer_send(&p, &relayed, blob, sizeof(blob));
	it_sleep_ms(300); /* relayed and queued: more than the socket buffers take */
	kill(s->pid, SIGTERM);
	it_sleep_ms(200);
	/* read everything: frames, then close_notify */
	size_t bytes = 0;
	int n, err = 0;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((n = SSL_read(c.ssl, buf, sizeof(buf))) > 0)
		bytes += (size_t)n;
	err = SSL_get_error(c.ssl, n);
	ERR_clear_error();
	unsigned frames = (unsigned)(bytes / (1000 + 36)); /* Data indications of 1000 bytes */
	tap_check(err == SSL_ERROR_ZERO_RETURN,
	          "shutdown: the client gets close_notify after its data (SSL error %d)", err);
	tap_check(frames >= 100,
	          "shutdown: the data queued in ternd was delivered first (%u of 120 frames, %zu bytes)",
	          frames, bytes);
	peer_close(&p);
	turnc_close(&c);
	int st = srv_stop(s);
	tap_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "shutdown: ternd exited 0 by itself (status %d)", st);
}

static int run_ternd(const char *extra)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s --check-config --user a:b %s 2>&1", ternd_path, extra);
	FILE *f = popen(cmd, "r");
	char line[512] = "";
	unsigned lines = 0;
	char l[512];
	while (f && fgets(l, sizeof(l), f)) {
		if (!lines)
			snprintf(line, sizeof(line), "%s", l);
		lines++;
	}
	int st = f ? pclose(f) : -1;
	tap_diag("ternd %s: %s", extra, line);
	return WIFEXITED(st) ? WEXITSTATUS(st) * 100 + (int)(lines > 9 ? 9 : lines) : -1;
}

static void check_config(void)
{
	char extra[600];
	snprintf(extra, sizeof(extra), "--cert %s --pkey %s", certs.cert, certs.key);
	tap_int(run_ternd(extra), 1, "--check-config: a matching cert and key: OK (status 0, one line)");
	snprintf(extra, sizeof(extra), "--cert %s --pkey %s", certs.cert, certs.ca_key);
	tap_int(run_ternd(extra), 201, "--check-config: a key that does not match: status 2, one line");
	snprintf(extra, sizeof(extra), "--cert %s/missing.pem --pkey %s", certs.ca, certs.key);
	tap_int(run_ternd(extra), 201, "--check-config: a missing cert: status 2, one line");
}

int main(int argc, char **argv)
{
	struct srv s;
	char *dir = cert_dir;

	srv_setup(argc, argv);
	tap_watchdog(150);
	if (srv_is_coturn()) {
		tap_skip("the coturn run covers TLS in it_coturn_client", "TLS");
		return tap_done();
	}
	ternd_path = argc > 1 ? argv[1] : getenv("TERND");
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test CA and certificates"))
		return tap_done();
	snprintf(stats_path, sizeof(stats_path), "%s/stats.sock", dir);
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--relay-ip",
	                      "127.0.0.1",
	                      "--relay-ip",
	                      "::1",
	                      "--user-quota",
	                      "1",
	                      "--cert",
	                      certs.cert,
	                      "--pkey",
	                      certs.key,
	                      "--handshake-timeout",
	                      "1",
	                      "--stats-socket",
	                      stats_path,
	                      NULL};
	if (!tap_check(srv_start(&s, 16, args) == 0, "server starts with cert and pkey"))
		return tap_done();
	transports(&s);
	ports_and_resumption(&s);
	reload(&s);
	refresh_then_close(&s);
	tap_check(srv_alive(&s), "ternd is still running");
	shutdown_drains(&s);

	/* no-tlsv1_2: TLS 1.3 only */
	const char *args13[] = {IT_AUTH_ARGS, "--cert",       certs.cert, "--pkey",
	                        certs.key,    "--no-tlsv1_2", NULL};
	if (tap_check(srv_start(&s, 8, args13) == 0, "server starts with no-tlsv1_2")) {
		struct turnc c;
		struct turnc_tls t = tls_opts();
		union tern_addr tp = it_with_port(&s.addr, s.tls_port);
		t.max_version = TLS1_2_VERSION;
		tap_check(turnc_open_tls(&c, &tp, &t, WAIT_MS) == -EPROTO,
		          "no-tlsv1_2: a TLS 1.2 client is refused");
		t.max_version = 0;
		int rc = turnc_open_tls(&c, &tp, &t, WAIT_MS);
		tap_check(rc == 0 && SSL_version(c.ssl) == TLS1_3_VERSION, "no-tlsv1_2: TLS 1.3 is served");
		if (rc == 0)
			turnc_close(&c);
		srv_stop_check(&s);
	}

	/* without a cert: a ClientHello is closed, STUN over TCP still served */
	const char *plain[] = {IT_AUTH_ARGS, NULL};
	if (tap_check(srv_start(&s, 8, plain) == 0, "server starts without TLS")) {
		struct turnc c;
		struct turnc_tls t = tls_opts();
		tap_check(turnc_open_tls(&c, &s.addr, &t, WAIT_MS) < 0,
		          "no TLS configured: a ClientHello is refused");
		tap_check(turnc_open_tcp(&c, &s.addr, WAIT_MS) == 0 && turnc_binding(&c, &r) == 0,
		          "no TLS configured: STUN over TCP is served");
		turnc_close(&c);
		srv_stop_check(&s);
	}
	check_config();
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
