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
/* Through the allocation c holds over TCP, TLS or DTLS (relayed: its
 * relayed address) to a peer on loopback (*p, of relayed's family) and
 * back: CreatePermission, a Send indication and a Data indication,
 * ChannelBind, 5 bytes of ChannelData each way (on a stream padded to 12
 * bytes on the wire, on DTLS 9). One check each, named "<fam>: ... over
 * TCP". The peer stays open for more (the caller closes it); false when it
 * could not be opened (a failed check). */
bool it_relay_both_ways(struct turnc *c, const union tern_addr *relayed, const char *fam, struct peer *p,
                        int wait_ms);
/* After it_relay_both_ways() (channel 0x4001 bound to p): count 1200-byte
 * datagrams from the peer, sent in bursts of 50 and read after each, that
 * arrive as ChannelData in order; then count to the peer, out_burst sent
 * before reading them. Two checks. */
void it_relay_bursts(struct turnc *c, struct peer *p, const union tern_addr *relayed, const char *fam,
                     unsigned count, unsigned out_burst, int wait_ms);
/* On c, just connected over TCP, TLS or DTLS: alice's credentials, a
 * Binding (the mapped address is c's own) and an Allocate of one UDP relay
 * (IPv6 when v6), its relayed address in *relayed. Three checks; false when
 * the Allocate failed. */
bool it_xprt_allocate(struct turnc *c, bool v6, const char *fam, union tern_addr *relayed);
/* With user-quota 1 and c's allocation holding alice's unit: a second
 * Allocate (UDP) is refused 486 until c is closed (here), then succeeds
 * within wait_ms, and is deleted. Two checks. */
void it_quota_until_close(struct turnc *c, const struct srv *s, const char *fam, int wait_ms);
/* a with its port set to port (another listener of the same server). */
union tern_addr it_with_port(const union tern_addr *a, uint16_t port);
/* Name of a STUN/TURN outcome for messages: "success", "error 437", "timeout". */
const char *it_outcome(int rc);

#endif
