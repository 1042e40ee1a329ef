/* Behind a real HAProxy (the Debian package, started by this test on
 * loopback in TCP mode): ternd's tcp-proxy-port takes the PROXY protocol
 * header HAProxy writes (v2 with send-proxy-v2, v1 with send-proxy) and
 * serves the client it names: XOR-MAPPED-ADDRESS is the client's own
 * address, not HAProxy's; an allocation relays both ways; TLS passes
 * through HAProxy and is served after the header; max-connections-per-ip
 * counts the clients behind HAProxy, not HAProxy; HAProxy's health checks
 * (a LOCAL header) are taken and counted; a connection to the port without
 * a header is closed. Loopback only (127.0.0.1-4). */
#include "it.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 3000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];
static pid_t haproxy = -1;
static char stats_path[100];

static void stop_haproxy(void)
{
	if (haproxy > 0) {
		kill(haproxy, SIGTERM);
		waitpid(haproxy, NULL, 0);
		haproxy = -1;
	}
}

static bool start_haproxy(const char *dir, uint16_t f2, uint16_t f1, uint16_t backend)
{
	char cfg[256], log[256];
	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", dir);
	snprintf(log, sizeof(log), "%s/haproxy.log", dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return false;
	fprintf(f,
	        "global\n  maxconn 256\n"
	        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
	        "frontend v2\n  bind 127.0.0.1:%u\n  default_backend ternd_v2\n"
	        "backend ternd_v2\n  server t 127.0.0.1:%u send-proxy-v2 check check-send-proxy inter 300ms\n"
	        "frontend v1\n  bind 127.0.0.1:%u\n  default_backend ternd_v1\n"
	        "backend ternd_v1\n  server t 127.0.0.1:%u send-proxy\n",
	        f2, backend, f1, backend);
	fclose(f);
	pid_t parent = getpid();
	haproxy = fork();
	if (haproxy < 0)
		return false;
	if (haproxy == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execl("/usr/sbin/haproxy", "haproxy", "-db", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	/* ready when the v2 frontend accepts */
	int64_t end = it_now_ms() + 10000;
	while (it_now_ms() < end) {
		union tern_addr a = it_addr("127.0.0.1", f2);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool up = fd >= 0 && connect(fd, &a.sa, addr_len(&a)) == 0;
		if (fd >= 0)
			close(fd);
		if (up)
			return true;
		if (waitpid(haproxy, NULL, WNOHANG) == haproxy) {
			haproxy = -1;
			break;
		}
		it_sleep_ms(50);
	}
	return false;
}

static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return false;
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

static void relay(struct turnc *c, const char *what)
{
	union tern_addr relayed, from;
	struct peer p;
	turnc_set_creds(c, IT_USER, IT_PASS);
	int rc = turnc_allocate(c, &TURNC_ALLOC_DEFAULT, &r);
	if (!tap_check(rc == 0, "%s: Allocate through HAProxy (%s)", what, it_outcome(rc)))
		return;
	relayed = r.relayed[0];
	peer_open(&p, "127.0.0.1", 0);
	turnc_permission(c, &p.addr, 1, &r);
	turnc_send(c, &p.addr, "to-peer", 7);
	int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	peer_send(&p, &relayed, "to-client", 9);
	rc = turnc_recv(c, &d, WAIT_MS);
	tap_check(n == 7 && addr_equal(&from, &relayed) && rc == 1 && d.len == 9,
	          "%s: data relayed both ways through HAProxy", what);
	peer_close(&p);
	turnc_refresh(c, 0, &r);
}

int main(int argc, char **argv)
{
	struct srv s;
	char dir[64] = "/tmp/tern-proxy-XXXXXX";
	struct it_certs certs;

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("tern's tcp-proxy-port", "PROXY protocol");
		return tap_done();
	}
	if (access("/usr/sbin/haproxy", X_OK) != 0) {
		tap_check(false, "HAProxy is installed (Debian package haproxy; make test installs it)");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test certificates"))
		return tap_done();
	snprintf(stats_path, sizeof(stats_path), "%s/stats.sock", dir);
	/* the harness's block: base (listening), base+1 (tls), base+2.. relay
	 * (16), base+40 tcp-proxy-port, base+41/42 HAProxy's frontends */
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--max-connections-per-ip",
	                      "2",
	                      "--cert",
	                      certs.cert,
	                      "--pkey",
	                      certs.key,
	                      "--stats-socket",
	                      stats_path,
	                      "--tcp-proxy-port",
	                      "@BASE+40",
	                      NULL};
	if (!tap_check(srv_start(&s, 16, args) == 0, "server starts with tcp-proxy-port (block base + 40)"))
		return tap_done();
	uint16_t pport = (uint16_t)(s.port + 40), p2 = (uint16_t)(s.port + 41), p1 = (uint16_t)(s.port + 42);
	if (!tap_check(start_haproxy(dir, p2, p1, pport), "HAProxy starts (frontends %u, %u)", p2, p1)) {
		srv_stop(&s);
		return tap_done();
	}
	union tern_addr f2 = it_addr("127.0.0.1", p2), f1 = it_addr("127.0.0.1", p1);
	union tern_addr from2 = it_addr("127.0.0.2", 0);

	struct turnc c;
	int rc = turnc_open_tcp_from(&c, &f2, &from2, WAIT_MS);
	rc = rc == 0 ? turnc_binding(&c, &r) : rc;
	tap_check(rc == 0, "v2: Binding through HAProxy (%s)", it_outcome(rc));
	tap_addr(&r.mapped, &c.local,
	         "v2: XOR-MAPPED-ADDRESS is the client's own (127.0.0.2), not HAProxy's");
	relay(&c, "v2");
	turnc_close(&c);

	rc = turnc_open_tcp_from(&c, &f1, &from2, WAIT_MS);
	rc = rc == 0 ? turnc_binding(&c, &r) : rc;
	tap_check(rc == 0, "v1: Binding through HAProxy (%s)", it_outcome(rc));
	tap_addr(&r.mapped, &c.local, "v1: XOR-MAPPED-ADDRESS is the client's own");
	turnc_close(&c);

	struct turnc_tls t = {.ca_file = certs.ca, .host = "localhost", .alpn = "stun.turn", .local = &from2};
	rc = turnc_open_tls(&c, &f2, &t, WAIT_MS);
	tap_check(rc == 0, "TLS through HAProxy: the handshake after the header (%d)", rc);
	if (rc == 0) {
		rc = turnc_binding(&c, &r);
		tap_check(rc == 0, "TLS: Binding (%s)", it_outcome(rc));
		tap_addr(&r.mapped, &c.local, "TLS: XOR-MAPPED-ADDRESS is the client's own");
		relay(&c, "TLS");
		turnc_close(&c);
	}

	/* per-ip limit 2 counts the clients behind HAProxy */
	struct turnc a[3], other;
	union tern_addr from3 = it_addr("127.0.0.3", 0), from4 = it_addr("127.0.0.4", 0);
	unsigned answered = 0;
	for (unsigned i = 0; i < 3; i++)
		if (turnc_open_tcp_from(&a[i], &f2, &from3, WAIT_MS) == 0 && turnc_binding(&a[i], &r) == 0)
			answered++;
	tap_int(answered, 2, "max-connections-per-ip 2: two clients from 127.0.0.3 served, the third closed");
	rc = turnc_open_tcp_from(&other, &f2, &from4, WAIT_MS);
	rc = rc == 0 ? turnc_binding(&other, &r) : rc;
	tap_check(rc == 0, "... while a client from 127.0.0.4 through the same HAProxy is served (%s)",
	          it_outcome(rc));
	for (unsigned i = 0; i < 3; i++)
		turnc_close(&a[i]);
	turnc_close(&other);

	/* HAProxy's health checks: LOCAL headers, taken */
	int64_t end = it_now_ms() + WAIT_MS;
	while (it_stats_sum(stats_path, "proxy_local") < 1 && it_now_ms() < end)
		it_sleep_ms(100);
	tap_check(it_stats_sum(stats_path, "proxy_local") >= 1,
	          "HAProxy's health checks (LOCAL) are taken and counted (%ld)",
	          it_stats_sum(stats_path, "proxy_local"));

	/* straight to the port, no header: closed and counted */
	long bad = it_stats_sum(stats_path, "proxy_bad");
	union tern_addr pp = it_addr("127.0.0.1", pport);
	rc = turnc_open_tcp(&c, &pp, WAIT_MS);
	tap_check(rc == 0 && turnc_binding(&c, &r) != 0,
	          "STUN straight to tcp-proxy-port, no header: not served");
	if (rc == 0)
		turnc_close(&c);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool closed = fd >= 0 && connect(fd, &pp.sa, addr_len(&pp)) == 0 &&
	              send(fd, "PROXY TCP4 1.2.3.4 x\r\n", 22, MSG_NOSIGNAL) == 22 &&
	              closed_within(fd, WAIT_MS);
	tap_check(closed, "a malformed header closes the connection");
	if (fd >= 0)
		close(fd);
	tap_check(it_stats_sum(stats_path, "proxy_bad") >= bad + 2, "bad headers are counted (%ld)",
	          it_stats_sum(stats_path, "proxy_bad"));
	/* on listening-port a header is not taken: its bytes are client data
	 * (here the start of a ChannelData frame that never completes), and
	 * the Binding after it is never answered as from 10.9.8.7 */
	rc = turnc_open_tcp(&c, &s.addr, WAIT_MS);
	if (rc == 0) {
		static const char hdr[] = "PROXY TCP4 10.9.8.7 127.0.0.1 1000 2000\r\n";
		turnc_send_raw(&c, hdr, sizeof(hdr) - 1);
		rc = turnc_binding(&c, &r);
		union tern_addr spoofed = it_addr("10.9.8.7", 1000);
		tap_check(rc != 0 && !addr_equal(&r.mapped, &spoofed),
		          "a PROXY header on listening-port is not taken (%s)", it_outcome(rc));
		turnc_close(&c);
	}
	tap_check(srv_alive(&s), "ternd is still running");
	stop_haproxy();
	srv_stop_check(&s);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
