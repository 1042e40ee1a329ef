/* Reload without loss (issue 10): SIGHUP and `reload` on the control socket
 * read the configuration file again and apply what may change at run time.
 *
 * While alice's ChannelData flows both ways through ternd, SIGHUP brings a
 * file that removes bob, adds carol, denies one peer address, lowers the
 * user quota and names a renewed certificate: no datagram is lost, alice's
 * nonce stays valid (no 438), bob can no longer allocate and carol can, the
 * denied peer is refused while the channel to the other one goes on, a
 * second allocation of alice's is over the new quota while her first lives,
 * and a TLS client that connects afterwards gets the renewed certificate.
 * A change only a restart can apply (workers) is named and the rest is
 * applied; a file that does not parse is refused whole and the running
 * configuration stays. */
#include "it.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define WAIT_MS 2000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[2048];
static char dir[] = "/tmp/it_reload.XXXXXX";
static char conf[256], sock[100], log_path[150];
static struct it_certs certs;

static bool write_conf(const char *users, const char *extra)
{
	FILE *f = fopen(conf, "w");
	if (!f)
		return false;
	fprintf(f,
	        "realm=tern.test\nlt-cred-mech\n%sallow-loopback-peers\ncert=%s\npkey=%s\nstats-socket=%s\n"
	        "log-file=%s\nworkers=2\n%s",
	        users, certs.cert, certs.key, sock, log_path, extra);
	return fclose(f) == 0;
}

/* `reload` on the control socket: the answer's first line. */
static int ctl_reload(char *out, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "reload\n", 7) != 7) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (n + 1 < cap && poll(&p, 1, 5000) == 1) {
		ssize_t k = read(fd, out + n, cap - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
	close(fd);
	return (int)n;
}

static bool log_has(const struct srv *s, const char *text)
{
	FILE *f = fopen(s->log, "r");
	char line[1024];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void cert_hash(const struct srv *s, uint8_t out[32])
{
	struct turnc c;
	struct turnc_tls t = {.ca_file = certs.ca, .host = "localhost", .alpn = "stun.turn"};
	union tern_addr tp = it_with_port(&s->addr, s->tls_port);
	memset(out, 0, 32);
	if (turnc_open_tls(&c, &tp, &t, WAIT_MS) < 0)
		return;
	X509 *x = SSL_get1_peer_certificate(c.ssl);
	unsigned n = 0;
	if (x)
		X509_digest(x, EVP_sha256(), out, &n);
	X509_free(x);
	turnc_close(&c);
}

/* k rounds of ChannelData from alice to the echo peer and back: how many
 * came back. */
static unsigned echo_rounds(struct turnc *c, struct peer *p, const union tern_addr *relayed, unsigned from,
                            unsigned k)
{
	unsigned back = 0;
	for (unsigned i = from; i < from + k; i++) {
		char m[16];
		int len = snprintf(m, sizeof(m), "rl%06u", i);
		union tern_addr src;
		turnc_send_channel(c, 0x4001, m, (size_t)len, false);
		int n = peer_recv(p, buf, sizeof(buf), &src, WAIT_MS);
		if (n != len || memcmp(buf, m, (size_t)len) != 0)
			continue;
		peer_send(p, relayed, buf, (size_t)n);
		if (turnc_recv(c, &d, WAIT_MS) == 1 && d.is_channel && d.len == (size_t)len &&
		    memcmp(d.data, m, (size_t)len) == 0)
			back++;
	}
	return back;
}

static int alloc_as(struct srv *s, struct turnc *c, const char *user, const char *pass)
{
	if (turnc_open(c, &s->addr) < 0)
		return -1;
	turnc_set_creds(c, user, pass);
	return turnc_allocate(c, &TURNC_ALLOC_DEFAULT, &r);
}

int main(int argc, char **argv)
{
	struct srv s;
	char out[1024];

	srv_setup(argc, argv);
	tap_watchdog(180);
	if (srv_is_coturn()) {
		tap_skip("coturn cannot reload its configuration", "reload");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test CA and certificates"))
		return tap_done();
	snprintf(conf, sizeof(conf), "%s/turnserver.conf", dir);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/ternd.log", dir);
	write_conf("user=alice:alice-secret\nuser=bob:bob-secret\n", "");
	const char *args[] = {"-c", conf, NULL};
	if (!tap_check(srv_start(&s, 32, args) == 0, "ternd starts from a configuration file"))
		return tap_done();

	struct turnc alice, bob, carol, alice2;
	struct peer p1, p2;
	if (!tap_int(alloc_as(&s, &alice, "alice", "alice-secret"), 0, "alice allocates") ||
	    peer_open(&p1, "127.0.0.1", 0) < 0 || peer_open(&p2, "127.0.0.2", 0) < 0)
		goto out;
	union tern_addr relayed = r.relayed[0];
	tap_int(turnc_channel_bind(&alice, 0x4001, &p1.addr, &r), 0, "alice binds a channel to her peer");
	tap_int(turnc_permission(&alice, &p2.addr, 1, &r), 0, "127.0.0.2 is a permitted peer before");
	tap_int(alloc_as(&s, &bob, "bob", "bob-secret"), 0, "bob allocates before");
	turnc_refresh(&bob, 0, &r);
	turnc_close(&bob);
	uint8_t h_old[32], h_new[32];
	cert_hash(&s, h_old);

	/* the new file, then SIGHUP in the middle of the flow */
	tap_check(it_renew_cert(dir, &certs) == 0, "a renewed certificate on disk");
	write_conf("user=alice:alice-secret\nuser=carol:carol-secret\n",
	           "denied-peer-ip=127.0.0.2\nuser-quota=1\nworkers=3\n");
	/* logrotate's way: move the log file, then SIGHUP */
	char rotated[300];
	snprintf(rotated, sizeof(rotated), "%s.1", log_path);
	tap_check(rename(log_path, rotated) == 0, "the log file is moved away (logrotate)");
	unsigned back = echo_rounds(&alice, &p1, &relayed, 0, 150);
	kill(s.pid, SIGHUP);
	back += echo_rounds(&alice, &p1, &relayed, 150, 150);
	int64_t end = it_now_ms() + WAIT_MS;
	while (!log_has(&s, "SIGHUP: configuration reloaded") && it_now_ms() < end)
		it_sleep_ms(10);
	tap_check(log_has(&s, "SIGHUP: configuration reloaded"), "SIGHUP reloads the configuration");
	back += echo_rounds(&alice, &p1, &relayed, 400, 100);
	tap_check(back >= 400, "ChannelData both ways across the reload: none lost (%u round trips)", back);
	tap_check(log_has(&s, "needs a restart, running values kept: workers"),
	          "the change only a restart applies (workers) is named");
	struct srv lf = s;
	snprintf(lf.log, sizeof(lf.log), "%s", log_path);
	tap_check(log_has(&lf, "SIGHUP: configuration reloaded"),
	          "ternd writes a new log file under the old name");

	/* what it changed */
	int rc = turnc_refresh(&alice, 600, &r);
	tap_check(rc == 0 && r.seen_438 == 0 && r.seen_401 == 0,
	          "alice's nonce is still valid: Refresh without 438 (%s)", it_outcome(rc));
	peer_send(&p2, &relayed, "denied", 6);
	rc = turnc_recv(&alice, &d, 300);
	tap_check(rc != 1,
	          "the permission alice had for 127.0.0.2 ended with the reload: its data is dropped");
	tap_int(it_stats_sum(sock, "permissions_revoked"), 1, "... counted as a revoked permission");
	tap_int(turnc_permission(&alice, &p2.addr, 1, &r), 403, "the newly denied peer 127.0.0.2 is refused");
	tap_int(turnc_permission(&alice, &p1.addr, 1, &r), 0, "the other peer is still permitted");
	tap_int(alloc_as(&s, &bob, "bob", "bob-secret"), 401, "bob, removed, can no longer allocate");
	turnc_close(&bob);
	tap_int(alloc_as(&s, &carol, "carol", "carol-secret"), 0, "carol, added, can");
	tap_int(alloc_as(&s, &alice2, "alice", "alice-secret"), 486,
	        "user-quota lowered to 1: alice's second allocation is refused");
	turnc_close(&alice2);
	tap_int(turnc_refresh(&alice, 600, &r), 0, "... while her first one lives on");
	cert_hash(&s, h_new);
	tap_check(memcmp(h_old, h_new, 32) != 0,
	          "a TLS client after the reload gets the renewed certificate");

	/* a broken file is refused whole */
	write_conf("user=alice:alice-secret\n", "user-quota=lots\n");
	int n = ctl_reload(out, sizeof(out));
	tap_check(n > 0 && strncmp(out, "error: not reloaded", 19) == 0 && strstr(out, "user-quota"),
	          "a file that does not parse is refused: \"%s\"", out);
	turnc_refresh(&carol, 0, &r);
	turnc_close(&carol);
	tap_int(alloc_as(&s, &carol, "carol", "carol-secret"), 0,
	        "the running configuration stays (carol allocates)");
	write_conf("user=alice:alice-secret\nuser=carol:carol-secret\n",
	           "user-quota=1\nworkers=3\ntotal-quota=500000\n");
	n = ctl_reload(out, sizeof(out));
	tap_check(n > 0 && strncmp(out, "configuration reloaded", 22) == 0,
	          "reload on the control socket: \"%s\"", out);
	tap_check(strstr(out, "total-quota beyond 131072") != NULL,
	          "a total-quota above the pools sized at start is named as needing a restart");
	tap_int(turnc_permission(&alice, &p2.addr, 1, &r), 0, "the deny is gone with it");
	tap_check(srv_alive(&s), "ternd is still running");
	turnc_close(&carol);
	turnc_close(&alice);
	peer_close(&p1);
	peer_close(&p2);
out:
	srv_stop_check(&s);
	return tap_done();
}
