/* TURN REST API credentials (shared secret): username "<expiry>:<user>",
 * password base64(HMAC-SHA1(secret, username)). Two secrets are configured
 * (rotation): both must work; an expired or forged username must not.
 * Credentials come from `tern creds` ($TERN) when it is available and are
 * cross-checked against a local computation. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct turnc_resp r;

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Run `$TERN creds --secret S --user U --ttl T`, parse username=/password=.
 * Returns 0, or -ENOENT when the tool is not there or printed nothing usable. */
static int tern_creds(const char *secret, const char *user, int ttl, char *uname, size_t ulen, char *pass,
                      size_t plen)
{
	const char *tern = getenv("TERN");
	char cmd[512], line[512];
	FILE *f;
	bool got_u = false, got_p = false;

	if (!tern || access(tern, X_OK) != 0)
		return -ENOENT;
	snprintf(cmd, sizeof(cmd), "timeout 10 '%s' creds --secret '%s' --user '%s' --ttl %d 2>&1", tern,
	         secret, user, ttl);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strncmp(line, "username=", 9) == 0) {
			copy_str(uname, ulen, line + 9);
			got_u = true;
		} else if (strncmp(line, "password=", 9) == 0) {
			copy_str(pass, plen, line + 9);
			got_p = true;
		} else {
			tap_diag("tern creds: %s", line);
		}
	}
	int st = pclose(f);
	if (!got_u || !got_p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -ENOENT;
	return 0;
}

static int alloc_with(const struct srv *s, const char *uname, const char *pass)
{
	struct turnc c;
	int rc = turnc_open(&c, &s->addr);
	if (rc < 0)
		return rc;
	turnc_set_creds(&c, uname, pass);
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	if (rc == 0)
		turnc_refresh(&c, 0, &r);
	turnc_close(&c);
	return rc;
}

int main(int argc, char **argv)
{
	struct srv s;
	char u1[256], p1[128], u2[256], p2[128], u[256], p[128];
	long now = (long)time(NULL);
	int rc;
	const char *args[] = {"--realm",           IT_REALM,
	                      "--use-auth-secret", "--static-auth-secret",
	                      "s1-first-secret",   "--static-auth-secret",
	                      "s2-second-secret",  NULL};

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (!tap_check(srv_start(&s, 8, args) == 0, "server with --use-auth-secret and two secrets starts"))
		return tap_done();

	/* Credentials for the second secret from the tool, if built. */
	rc = tern_creds("s2-second-secret", "alice", 600, u2, sizeof(u2), p2, sizeof(p2));
	if (rc == 0) {
		char *colon = strchr(u2, ':');
		long exp = strtol(u2, NULL, 10);
		tap_check(colon && strcmp(colon + 1, "alice") == 0,
		          "tern creds: username '%s' ends with ':alice'", u2);
		tap_check(exp >= now + 590 && exp <= now + 610, "tern creds: expiry %ld is now + --ttl 600",
		          exp);
		it_rest_creds("s2-second-secret", "alice", exp, u, sizeof(u), p, sizeof(p));
		tap_check(strcmp(p, p2) == 0, "tern creds: password is base64(HMAC-SHA1(secret, username))");
	} else {
		tap_skip("tern creds not available ($TERN unset or not built yet)",
		         "credentials from tern creds");
		it_rest_creds("s2-second-secret", "alice", now + 600, u2, sizeof(u2), p2, sizeof(p2));
	}
	it_rest_creds("s1-first-secret", "alice", now + 600, u1, sizeof(u1), p1, sizeof(p1));
	tap_diag("secret 1: %s / %s; secret 2: %s / %s", u1, p1, u2, p2);

	rc = alloc_with(&s, u1, p1);
	tap_check(rc == 0, "Allocate with credentials of the first secret: %s", it_outcome(rc));
	rc = alloc_with(&s, u2, p2);
	tap_check(rc == 0, "Allocate with credentials of the second secret: %s", it_outcome(rc));

	/* A username that is only a timestamp (no user part) is valid REST. */
	it_rest_creds("s1-first-secret", "", now + 600, u, sizeof(u), p, sizeof(p));
	rc = alloc_with(&s, u, p);
	tap_check(rc == 0, "Allocate with a timestamp-only username '%s': %s", u, it_outcome(rc));

	it_rest_creds("s1-first-secret", "alice", now - 60, u, sizeof(u), p, sizeof(p));
	rc = alloc_with(&s, u, p);
	tap_int(rc, 401, "an expired username (timestamp 60 s in the past) is answered 401");
	it_rest_creds("s3-unknown-secret", "alice", now + 600, u, sizeof(u), p, sizeof(p));
	rc = alloc_with(&s, u, p);
	tap_int(rc, 401, "credentials made with an unknown secret are answered 401");
	/* A username whose timestamp was moved forward after signing. */
	it_rest_creds("s1-first-secret", "alice", now + 600, u, sizeof(u), p, sizeof(p));
	snprintf(u, sizeof(u), "%ld:alice", now + 86400);
	rc = alloc_with(&s, u, p);
	tap_int(rc, 401, "a username altered after signing is answered 401");
	rc = alloc_with(&s, "alice", "alice-secret");
	tap_int(rc, 401, "a plain static username is not accepted in REST mode");

	srv_stop_check(&s);
	return tap_done();
}
