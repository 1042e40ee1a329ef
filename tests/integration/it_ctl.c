/* tern ctl against a running ternd (issue 10): sessions (all, one user,
 * JSON), kick USER, config with secrets masked, drain, errors, and the
 * control socket's permissions. Two workers: every worker answers. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 2000

static struct turnc_resp r;
static char sock[256];
static const char *tern;

/* Run `tern ctl --socket sock ARGS` (through sh): its stdout into out, its
 * exit status returned (-1 when it could not run). */
static int ctl(char *out, size_t cap, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' ctl --socket '%s' %s 2>&1", tern, sock, args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static unsigned count_of(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

int main(int argc, char **argv)
{
	static char out[65536];
	static char dir[] = "/tmp/it_ctl.XXXXXX";
	struct srv s;

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("ternd's control socket", "tern ctl");
		return tap_done();
	}
	tern = getenv("TERN");
	if (!tap_check(tern && mkdtemp(dir) != NULL, "tern binary (TERN) and a temporary directory"))
		return tap_done();
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	const char *args[] = {IT_AUTH_ARGS, "--user", "jos\xc3\xa9 \"q\\:pw", "--allow-loopback-peers",
	                      "--workers",  "2",      "--stats-socket",       sock,
	                      NULL};
	if (!tap_check(srv_start(&s, 32, args) == 0, "ternd starts with two workers"))
		return tap_done();

	struct stat st;
	tap_check(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0077) == 0,
	          "the control socket is its owner's only (mode %o)", (unsigned)(st.st_mode & 0777));

	/* alice: two UDP allocations, one of which relays; bob: one over TCP */
	struct turnc a1, a2, b;
	bool ok = it_client_alloc(&a1, &s, AF_INET, &r) == 0;
	union tern_addr relayed = r.relayed[0];
	ok = ok && it_client_alloc(&a2, &s, AF_INET6, &r) == 0;
	ok = ok && turnc_open_tcp(&b, &s.addr, WAIT_MS) == 0;
	if (ok) {
		turnc_set_creds(&b, IT_USER2, IT_PASS2);
		ok = turnc_allocate(&b, &TURNC_ALLOC_DEFAULT, &r) == 0;
	}
	if (!tap_check(ok, "alice allocates twice over UDP, bob once over TCP"))
		goto out;
	struct peer p;
	unsigned sent = 0;
	if (peer_open(&p, "127.0.0.1", 0) == 0) {
		turnc_permission(&a1, &p.addr, 1, &r);
		for (unsigned i = 0; i < 5; i++)
			sent += turnc_send(&a1, &p.addr, "12345678", 8) == 0;
		uint8_t buf[64];
		union tern_addr from;
		for (unsigned i = 0; i < sent; i++)
			peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
		peer_send(&p, &relayed, "back", 4);
		struct turnc_data d;
		turnc_recv(&a1, &d, WAIT_MS);
		peer_close(&p);
	}

	int rc = ctl(out, sizeof(out), "sessions");
	tap_check(rc == 0 && count_of(out, " alice ") == 2 && count_of(out, " bob ") == 1,
	          "sessions lists alice's two allocations and bob's (exit %d)", rc);
	tap_check(strstr(out, " tcp ") != NULL && strstr(out, "[::1]:") != NULL,
	          "... with their transports and addresses");
	rc = ctl(out, sizeof(out), "sessions --json alice");
	tap_check(rc == 0 && strstr(out, "\"count\":2}") && !strstr(out, "\"bob\""),
	          "sessions --json alice: alice's two only");
	tap_check(strstr(out, "\"to_peer_datagrams\":5,\"to_peer_bytes\":40") != NULL &&
	              strstr(out, "\"to_client_datagrams\":1,\"to_client_bytes\":4") != NULL && sent == 5,
	          "... with what each relayed (5 datagrams, 40 bytes to the peer; 1 back)");
	tap_check(strstr(out, "\"permissions\":1") != NULL, "... and its permission");

	/* a name with UTF-8, a quote and a backslash: the JSON stays JSON */
	struct turnc j;
	if (turnc_open(&j, &s.addr) == 0) {
		turnc_set_creds(&j, "jos\xc3\xa9 \"q\\", "pw");
		rc = turnc_allocate(&j, &TURNC_ALLOC_DEFAULT, &r);
		tap_int(rc, 0, "a user whose name needs escaping allocates");
		char cmd[600];
		snprintf(cmd, sizeof(cmd),
		         "'%s' ctl --socket '%s' sessions --json | python3 -c 'import json,sys; "
		         "d=json.load(sys.stdin); print(sorted(x[\"user\"] for x in d[\"sessions\"])[-1])'",
		         tern, sock);
		FILE *py = popen(cmd, "r");
		char got[128] = "";
		if (py) {
			if (!fgets(got, sizeof(got), py))
				got[0] = 0;
			pclose(py);
		}
		got[strcspn(got, "\n")] = 0;
		tap_check(strcmp(got, "jos\xc3\xa9 \"q\\") == 0,
		          "sessions --json parses, the name intact (\"%s\")", got);
		turnc_refresh(&j, 0, &r);
		turnc_close(&j);
	}

	rc = ctl(out, sizeof(out), "config");
	tap_check(rc == 0 && strstr(out, "realm=tern.test\n") && strstr(out, "user=alice:(set)\n") &&
	              strstr(out, "workers=2\n"),
	          "config prints the running values");
	tap_check(!strstr(out, IT_PASS) && !strstr(out, IT_PASS2), "config shows no password");

	rc = ctl(out, sizeof(out), "kick alice");
	tap_check(rc == 0 && strstr(out, "kicked alice: 2 allocations deleted"), "kick alice: \"%.*s\"",
	          (int)strcspn(out, "\n"), out);
	tap_int(turnc_refresh(&a1, 600, &r), 437, "alice's allocation is gone (Refresh: 437)");
	tap_int(turnc_refresh(&b, 600, &r), 0, "bob's is not");
	rc = ctl(out, sizeof(out), "sessions --json");
	tap_check(rc == 0 && strstr(out, "\"count\":1}") && strstr(out, "\"user\":\"bob\""),
	          "sessions: bob's only");

	rc = ctl(out, sizeof(out), "frobnicate");
	tap_check(rc == 1 && strstr(out, "error: unknown command"), "an unknown command fails (exit %d)", rc);
	rc = ctl(out, sizeof(out), "kick");
	tap_check(rc == 1 && strstr(out, "error: kick needs a user name"), "kick without a user fails");

	rc = ctl(out, sizeof(out), "drain");
	tap_check(rc == 0 && strncmp(out, "draining: 1 allocations left", 28) == 0, "drain: \"%.*s\"",
	          (int)strcspn(out, "\n"), out);
	turnc_close(&a1);
	turnc_close(&a2);
	turnc_close(&b); /* its allocation ends with its connection: the drain is over */
	int64_t end = it_now_ms() + 5000;
	while (srv_alive(&s) && it_now_ms() < end)
		it_sleep_ms(20);
	tap_check(!srv_alive(&s) && WIFEXITED(s.exit_status) && WEXITSTATUS(s.exit_status) == 0,
	          "drained, ternd exits 0 by itself");
	rc = ctl(out, sizeof(out), "stats");
	tap_check(rc == 1 && strstr(out, "cannot connect"), "without a server tern ctl fails in one line");
out:
	srv_stop(&s);
	rmdir(dir);
	return tap_done();
}
