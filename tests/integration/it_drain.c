/* Drain and ALTERNATE-SERVER (issue 10), with two real ternd nodes.
 *
 * Node A lists itself and node B as alternate servers: it serves its own
 * clients (no redirect to itself) until it drains. SIGUSR1 (coturn's
 * signal) starts the drain: a new client's Allocate on A is answered 300
 * with B's address, and the client relays through B; A's existing
 * allocation keeps relaying and refreshing; when it ends A exits by itself,
 * status 0. A third node without alternates, drained through its control
 * socket, refuses new allocations (403) and exits at drain-timeout although
 * an allocation is left. */
#include "it.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 2000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[2048];
static char dir[] = "/tmp/it_drain.XXXXXX";

/* Send a command on a control socket; the first line of the answer. */
static int ctl(const char *path, const char *cmd, char *out, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, cmd, strlen(cmd)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (n + 1 < cap && poll(&p, 1, WAIT_MS) == 1) {
		ssize_t k = read(fd, out + n, cap - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = 0;
	close(fd);
	return (int)n;
}

/* One Send and one Data indication through the allocation of c. */
static bool relays(struct turnc *c, const union tern_addr *relayed, const char *what)
{
	struct peer p;
	union tern_addr from;
	if (peer_open(&p, "127.0.0.1", 0) < 0)
		return tap_check(false, "%s: peer socket", what);
	bool ok = turnc_permission(c, &p.addr, 1, &r) == 0 && turnc_send(c, &p.addr, "ping", 4) == 0;
	ok = ok && peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS) == 4 && addr_equal(&from, relayed);
	ok = ok && peer_send(&p, relayed, "pong", 4) == 0;
	ok = ok && turnc_recv(c, &d, WAIT_MS) == 1 && d.len == 4 && memcmp(d.data, "pong", 4) == 0;
	peer_close(&p);
	return tap_check(ok, "%s", what);
}

/* Wait (bounded) for s to exit by itself; its exit status, or -1. */
static int wait_exit(struct srv *s, int ms)
{
	int64_t end = it_now_ms() + ms;
	while (srv_alive(s) && it_now_ms() < end)
		it_sleep_ms(20);
	return srv_alive(s) ? -1 : s->exit_status;
}

static void drain_with_alternate(void)
{
	struct srv a, b;
	char sock_a[256], out[256];
	snprintf(sock_a, sizeof(sock_a), "%s/a.sock", dir);
	const char *args_b[] = {IT_AUTH_ARGS, "--allow-loopback-peers", NULL};
	if (!tap_check(srv_start(&b, 16, args_b) == 0, "node B starts"))
		return;
	char alt_b[64];
	snprintf(alt_b, sizeof(alt_b), "127.0.0.1:%u", b.port);
	const char *args_a[] = {IT_AUTH_ARGS,
	                        "--allow-loopback-peers",
	                        "--alternate-server",
	                        "127.0.0.1:@BASE+0",
	                        "--alternate-server",
	                        alt_b,
	                        "--stats-socket",
	                        sock_a,
	                        NULL};
	if (!tap_check(srv_start(&a, 16, args_a) == 0, "node A starts, listing itself and B as alternates")) {
		srv_stop(&b);
		return;
	}

	/* before the drain A serves its clients itself */
	struct turnc old;
	if (it_client_alloc(&old, &a, AF_INET, &r) < 0)
		goto out;
	union tern_addr old_relayed = r.relayed[0];
	relays(&old, &old_relayed, "A in its own list redirects nobody: its client relays through A");

	tap_check(kill(a.pid, SIGUSR1) == 0, "SIGUSR1 to A");
	/* the log line says so; the stats show it */
	int64_t end = it_now_ms() + WAIT_MS;
	while (it_now_ms() < end &&
	       (ctl(sock_a, "json", out, sizeof(out)) <= 0 || !strstr(out, "\"draining\":true")))
		it_sleep_ms(20);

	/* a new client is sent to B, at once, without a challenge */
	struct turnc c;
	if (it_client(&c, &a, AF_INET) == 0) {
		int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		union tern_addr want = it_addr("127.0.0.1", b.port);
		tap_check(rc == 300 && addr_equal(&r.alternate, &want),
		          "draining A answers a new Allocate 300 ALTERNATE-SERVER %s (%s, %s)", it_fmt(&want),
		          it_outcome(rc), r.alternate.sa.sa_family ? it_fmt(&r.alternate) : "none");
		tap_check(!r.has_nonce && c.nonce_len == 0, "the redirect comes before any challenge");
		turnc_close(&c);
		/* the client follows it */
		if (it_client(&c, &b, AF_INET) == 0) {
			rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
			union tern_addr on_b = r.relayed[0];
			if (tap_check(rc == 0, "the redirected client allocates on B (%s)", it_outcome(rc)))
				relays(&c, &on_b, "and relays through B");
			turnc_refresh(&c, 0, &r);
			turnc_close(&c);
		}
	}
	tap_int(it_stats_sum(sock_a, "allocations_redirected"), 1, "A counted one redirect");

	/* A's own client goes on */
	tap_int(turnc_refresh(&old, 600, &r), 0, "A's existing allocation refreshes while draining");
	relays(&old, &old_relayed, "and keeps relaying");
	it_sleep_ms(1200); /* A checks once a second: it must not have gone */
	tap_check(srv_alive(&a), "A stays up while an allocation is left");

	/* the last allocation ends: A exits by itself */
	tap_int(turnc_refresh(&old, 0, &r), 0, "the last allocation on A ends");
	turnc_close(&old);
	int st = wait_exit(&a, 5000);
	tap_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "drained, A exits by itself with status 0 (status %d)", st);
	tap_check(srv_alive(&b), "B is still running");
out:
	srv_stop(&a);
	srv_stop_check(&b);
}

static void drain_without_alternate(void)
{
	struct srv s;
	char sock[256], out[256];
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	const char *args[] = {
	    IT_AUTH_ARGS, "--allow-loopback-peers", "--stats-socket", sock, "--drain-timeout", "2", NULL};
	if (!tap_check(srv_start(&s, 16, args) == 0, "node C (no alternates, drain-timeout 2) starts"))
		return;
	struct turnc held, c;
	if (it_client_alloc(&held, &s, AF_INET, &r) < 0) {
		srv_stop(&s);
		return;
	}
	int n = ctl(sock, "drain", out, sizeof(out));
	tap_check(n > 0 && strncmp(out, "draining", 8) == 0, "`drain` on the control socket: \"%.*s\"",
	          n > 0 ? (int)strcspn(out, "\n") : 0, out);
	if (it_client(&c, &s, AF_INET) == 0) {
		int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 403 && r.integrity_ok == 1,
		          "draining C refuses a new allocation: signed 403 (%s)", it_outcome(rc));
		turnc_close(&c);
	}
	tap_int(it_stats_sum(sock, "allocations_refused_draining"), 1, "C counted the refusal");
	tap_int(turnc_refresh(&held, 600, &r), 0, "C's allocation still refreshes");
	int st = wait_exit(&s, 6000);
	tap_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "at drain-timeout C exits with status 0 although an allocation is left (status %d)", st);
	turnc_close(&held);
	srv_stop(&s);
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("ternd's drain", "drain and ALTERNATE-SERVER");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL, "temporary directory"))
		return tap_done();
	drain_with_alternate();
	drain_without_alternate();
	rmdir(dir);
	return tap_done();
}
