/* Attack: valid-credential churn with TURN REST API usernames.
 *
 * With REST credentials (use-auth-secret) every session has its own
 * username, "<expiry>:<user>", so a busy server sees an endless stream of
 * distinct users, each allocating and leaving. Whatever the server keeps
 * per user (the per-user quota count) must go when the user's last
 * allocation goes, or its memory grows with every session ever served.
 *
 * 20,000 sessions, each a distinct REST username that allocates and
 * deletes, after a warm-up of 2,000: VmRSS must stay flat (tolerance
 * 512 KiB, where a 160-byte entry kept per username would add 3 MiB),
 * descriptors exactly flat, the counters consistent. With --user-quota,
 * too, so the per-user count exists. */
#include "attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSIONS     20000
#define WARMUP       2000
#define RSS_SLACK_KB 512
#define SECRET       "churn-secret"

static struct turnc_resp r;

/* `n` sessions from one socket, each a new REST username. The nonce is
 * bound to the 5-tuple, not to the user, so it stays valid: with the key
 * derived here each session is one signed Allocate and one signed delete,
 * no 401 (which the unauthenticated-answer rate limit would slow down). */
static unsigned sessions(struct turnc *c, unsigned from, unsigned n)
{
	unsigned ok = 0;
	long expiry = (long)time(NULL) + 3600;
	for (unsigned i = from; i < from + n; i++) {
		char user[128], pass[128], id[32];
		snprintf(id, sizeof(id), "session%u", i);
		if (it_rest_creds(SECRET, id, expiry, user, sizeof(user), pass, sizeof(pass)) < 0)
			break;
		turnc_set_creds(c, user, pass);
		if (c->nonce_len) {
			stun_key_md5(user, strlen(user), c->realm, strlen(c->realm), pass, strlen(pass),
			             c->key);
			c->keylen = 16;
		}
		if (turnc_allocate(c, &TURNC_ALLOC_DEFAULT, &r) != 0) {
			tap_diag("session %u: Allocate: %s", i, it_outcome(r.code ? r.code : -1));
			break;
		}
		if (turnc_refresh(c, 0, &r) != 0)
			break;
		ok++;
	}
	return ok;
}

int main(int argc, char **argv)
{
	struct at_srv S;
	struct at_stats st;
	struct turnc c;
	static const char *const args[] = {
	    "--realm", IT_REALM, "--use-auth-secret", "--static-auth-secret", SECRET, "--user-quota",
	    "2",       NULL};

	at_setup(argc, argv, "REST churn", 240);
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "REST-credential server starts"))
		return tap_done();
	pid_t pid = S.s.pid;
	if (turnc_open(&c, &S.s.addr) < 0) {
		tap_check(false, "client socket");
		goto out;
	}
	tap_int(sessions(&c, 0, WARMUP), WARMUP, "warm-up: %d REST sessions allocate and delete", WARMUP);
	at_settle(&c);
	long rss0 = at_rss_kb(pid), fd0 = at_fd_count(pid);
	unsigned done = sessions(&c, WARMUP, SESSIONS);
	at_settle(&c);
	long rss1 = at_rss_kb(pid), fd1 = at_fd_count(pid);
	tap_int(done, SESSIONS, "%d more REST sessions, each a distinct username, allocate and delete",
	        SESSIONS);
	tap_diag("REST churn: VmRSS %ld -> %ld KiB (%+ld, %.0f bytes per session), fds %ld -> %ld", rss0,
	         rss1, rss1 - rss0, (double)(rss1 - rss0) * 1024 / SESSIONS, fd0, fd1);
	at_check_rss(
	    pid, rss1 - rss0, RSS_SLACK_KB,
	    "VmRSS flat over %d distinct users (nothing is kept per user once its allocations are gone)",
	    SESSIONS);
	tap_int(fd1, fd0, "open descriptors flat (%ld)", fd0);
	if (at_stats_read(S.stats, &st) == 0) {
		tap_int((long)st.allocations_total, 0, "allocations_total is 0");
		tap_int((long)st.allocations_created, WARMUP + SESSIONS, "allocations created: %d",
		        WARMUP + SESSIONS);
		tap_int((long)(st.allocations_created - st.allocations_deleted), (long)st.allocations,
		        "allocations created - deleted = live");
	}
	turnc_close(&c);
out:
	at_srv_stop(&S);
	return tap_done();
}
