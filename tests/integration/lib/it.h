/* Shared conventions of the it_*.c programs: the realm and users every test
 * server is started with, and small helpers built on turnc.h. */
#ifndef TERN_IT_IT_H
#define TERN_IT_IT_H

#include "turnc.h"

#define IT_REALM "tern.test"
#define IT_USER  "alice"
#define IT_PASS  "alice-secret"
#define IT_USER2 "bob"
#define IT_PASS2 "bob-secret"

/* "--realm tern.test --lt-cred-mech --user alice:... --user bob:..." as
 * argv words, to splice into a server's option list. */
#define IT_AUTH_ARGS                                                                                         \
	"--realm", IT_REALM, "--lt-cred-mech", "--user", IT_USER ":" IT_PASS, "--user", IT_USER2 ":" IT_PASS2

/* Check that works on ternd and is reported but not enforced on coturn
 * (behaviour where tern is deliberately stricter or different). */
bool it_check_tern(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open a client to srv's address of `family` (AF_INET / AF_INET6) with
 * alice's credentials. Reports a failed check and returns -errno on error. */
int it_client(struct turnc *c, const struct srv *s, int family);
/* it_client() + an Allocate with default options; checks success. */
int it_client_alloc(struct turnc *c, const struct srv *s, int family, struct turnc_resp *r);
/* ternd's stats socket at sock (--stats-socket): the text it answers to
 * "json", NUL-terminated in buf. Its length, or -errno (-ETIMEDOUT after
 * 5 s, -EMSGSIZE when it does not fit in size - 1 bytes). */
long it_stats_json(const char *sock, char *buf, size_t size);
/* The sum of the numbers that follow "name": in that text (one a worker,
 * or one for a server-wide field); *count (if not NULL) is how many. */
uint64_t it_stats_field(const char *json, const char *name, unsigned *count);
/* The sum over workers of one counter in ternd's stats socket JSON (a
 * negative gauge reads as a huge number, LONG_MAX at the most), or -1 when
 * the socket does not answer. */
long it_stats_sum(const char *sock, const char *name);
/* a with its port set to port (another listener of the same server). */
union tern_addr it_with_port(const union tern_addr *a, uint16_t port);
/* Name of a STUN/TURN outcome for messages: "success", "error 437", "timeout". */
const char *it_outcome(int rc);

#endif
