/* turnc: the integration tests' TURN client, peer helper, server harness and
 * test reporter. Test code only: blocking, poll-based, one thread, clarity over
 * speed. Uses tern's STUN codec (stun/stun.h) for the wire format.
 *
 * Every wait is bounded (a timeout in milliseconds); nothing here sleeps to
 * make a test pass, and no check is ever about how fast something ran.
 *
 * Return convention (as in tern): 0 or a positive value on success, -errno on
 * failure. Request functions return the STUN outcome: 0 for a success
 * response, the ERROR-CODE (e.g. 401, 437) for an error response, -ETIMEDOUT
 * when no answer came after all retransmissions, another -errno on a local
 * error. */
#ifndef TERN_IT_TURNC_H
#define TERN_IT_TURNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "stun/stun.h"
#include "util/addr.h"

/* ------------------------------------------------------------------------ */
/* Reporting (tap.c). Each check prints "ok N - what" or "not ok N - what";
 * tap_done() prints "N passed, M failed" and returns the exit status. */

/* Record one check; returns cond so callers can branch on it. */
bool tap_check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A skipped check: "ok N - what # SKIP why" (counted as neither passed nor failed). */
void tap_skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A check of a known bug: "ok N - what # TODO why" or "not ok N - ...
 * # TODO why" (TAP's TODO), counted as neither passed nor failed, so the
 * bug is shown in every run without failing it; tap_done() says when one
 * passes (the bug is fixed: make it a tap_check). Returns cond. */
bool tap_todo(bool cond, const char *why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A diagnostic line "# ...". */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Equality helpers printing got/expected on failure. */
bool tap_int(long got, long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool tap_addr(const union tern_addr *got, const union tern_addr *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
unsigned tap_failed(void);
/* Print the summary line; returns 0 when all passed (and at least one check ran), 1 otherwise. */
int tap_done(void);
/* Abort the whole program after `seconds` (a stuck test must not hang CTest):
 * prints "not ok - watchdog", stops any started server, exits 1. */
void tap_watchdog(unsigned seconds);

/* ------------------------------------------------------------------------ */
/* Time (util.c). */

int64_t it_now_ms(void); /* CLOCK_MONOTONIC */
/* Sleep for a protocol timer (lifetimes, nonce expiry), never to let
 * something "settle". */
void it_sleep_ms(int ms);
/* Parse a literal address (no port -> port); aborts the test on a typo. */
union tern_addr it_addr(const char *s, uint16_t port);
const char *it_fmt(const union tern_addr *a); /* "ip:port", static rotating buffers */

/* REST API (shared secret) credentials, computed locally: username
 * "<expiry>:<user>" (just "<expiry>" when user is ""), password base64(HMAC-SHA1(secret, username)).
 * Returns 0 or -ENOSPC. */
int it_rest_creds(const char *secret, const char *user, long expiry_unix, char *uname, size_t ulen,
                  char *pass, size_t plen);

/* ------------------------------------------------------------------------ */
/* Server harness (server.c). */

enum srv_kind { SRV_TERND, SRV_COTURN };

struct srv {
	enum srv_kind kind;
	pid_t pid;
	int exit_status;             /* from waitpid after srv_stop(), -1 before */
	uint16_t port;               /* listening port */
	uint16_t tls_port;           /* ternd's tls-listening-port (the harness's unless the test set one) */
	uint16_t min_port, max_port; /* relay range given to the server */
	union tern_addr addr;        /* first listening address with port (what clients use) */
	union tern_addr addr6;       /* [::1]:port when the server listens on ::1, else family 0 */
	char dir[128];               /* private temp dir: log, pid file, db */
	char log[160];
	int lock_fd; /* flock on the port block (parallel ctest) */
	bool failed_to_start;
};

/* Which server to run: TERN_IT_SERVER=coturn selects coturn's turnserver,
 * anything else ternd from argv[1] (or env TERND). Call once from main(). */
void srv_setup(int argc, char **argv);
enum srv_kind srv_kind(void);
bool srv_is_coturn(void);

/* Options the harness adds unless the test gives them itself: listening port
 * (from a locked block of free ports), --listening-ip 127.0.0.1 and ::1,
 * --relay-ip 127.0.0.1, --min-port/--max-port (the rest of the block),
 * --pidfile in the temp dir, and for coturn the flags that make it a plain
 * UDP/TCP server without CLI, TLS, DTLS or config file.
 * `args` is a NULL-terminated list of long options with their values as
 * separate words ("--realm", "x"), or "--opt=value". Tern-only options are
 * dropped for coturn (see server.c) and reported with tap_diag().
 * A word "@BASE+N" (or a word ending in it: "127.0.0.1:@BASE+0") becomes the port block's base + N (ports of the block a
 * test may use for listeners of its own: base+40..base+63 are free).
 * relay_ports: how many relay ports to give (0 = default 48).
 * Waits (at most 10 s) until the server answers a Binding request.
 * Returns 0, or -errno (the log tail is printed as diagnostics). */
int srv_start(struct srv *s, unsigned relay_ports, const char *const *args);
/* SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit status as from
 * waitpid (WIFEXITED etc.), or -errno. Safe to call twice. */
int srv_stop(struct srv *s);
/* srv_stop() and report "server exited cleanly (status 0) on SIGTERM" as a
 * check (ternd only; under coturn the check is skipped). */
void srv_stop_check(struct srv *s);
/* True while the process is running (reaps it if it died). */
bool srv_alive(struct srv *s);
/* Print the last lines of the server log as diagnostics. */
void srv_dump_log(const struct srv *s, int lines);
/* Kill every server still running (watchdog / atexit). */
void srv_kill_all(void);

/* Test certificates (certs.c), made with the openssl command in dir: a CA,
 * a server certificate it signed for "localhost", 127.0.0.1 and ::1 (EC
 * P-256), and a second CA that signed nothing the server has. Paths are
 * written into *c. 0, or -1 (the command's output is in the diagnostics). */
struct it_certs {
	char ca[192], ca_key[192], cert[192], key[192], other_ca[192];
};
int it_make_certs(const char *dir, struct it_certs *c);
/* A new server certificate (same CA and names, new key) over cert and key:
 * what a renewal does before SIGUSR2. 0 or -1. */
int it_renew_cert(const char *dir, struct it_certs *c);

/* ------------------------------------------------------------------------ */
/* TURN client (turnc.c). */

#define TURNC_MAX_ATTRS  24
#define TURNC_BUF        4096
#define TURNC_STREAM_BUF (70 << 10) /* a maximum frame and more */

/* A request is described (not serialised) so the auth flow can rebuild it
 * with a new transaction id, nonce and integrity. */
struct turnc_req {
	uint16_t method;
	unsigned nattrs;
	struct {
		uint16_t type;
		bool xaddr; /* value is an address to XOR-encode with the txid */
		union tern_addr addr;
		uint16_t len;
		uint8_t val[128];
	} attrs[TURNC_MAX_ATTRS];
	bool no_auth;  /* send without credentials even when they are known */
	bool no_retry; /* return 401 / 438 instead of retrying with credentials */
};

void turnc_req_init(struct turnc_req *q, uint16_t method);
void turnc_req_add(struct turnc_req *q, uint16_t type, const void *val, size_t len);
void turnc_req_add_u32(struct turnc_req *q, uint16_t type, uint32_t v);
void turnc_req_add_xaddr(struct turnc_req *q, uint16_t type, const union tern_addr *a);

/* A parsed answer. Holds its own buffer; `msg` points into it, so a
 * struct turnc_resp must not be copied by value. */
struct turnc_resp {
	uint8_t buf[TURNC_BUF];
	size_t len;
	struct stun_msg msg;
	uint8_t txid[STUN_TXID_LEN];
	enum stun_class cls;
	uint16_t method;
	int code; /* ERROR-CODE for error responses, 0 otherwise */
	char reason[128];
	/* Decoded when present: */
	union tern_addr mapped;     /* XOR-MAPPED-ADDRESS (family 0 if absent) */
	union tern_addr relayed[2]; /* XOR-RELAYED-ADDRESS, in order */
	union tern_addr alternate;  /* ALTERNATE-SERVER (family 0 if absent) */
	unsigned nrelayed;
	bool has_lifetime;
	uint32_t lifetime;
	bool has_token;
	uint8_t token[8];
	bool has_realm, has_nonce;
	uint16_t unknown[16]; /* UNKNOWN-ATTRIBUTES */
	unsigned nunknown;
	bool has_software;
	bool has_fingerprint;
	int fingerprint_ok; /* 1 valid, 0 bad, -1 absent */
	/* MESSAGE-INTEGRITY(-SHA256) of the answer checked with the key in use:
	 * 1 valid, 0 bad, -1 absent (or no key). */
	int integrity_ok;
	/* The auth flow on the way to this answer. */
	unsigned seen_401, seen_438;
	size_t req_len; /* size of the last request sent for it */
};

struct turnc_alloc_opts {
	int64_t lifetime;        /* < 0: no LIFETIME attribute */
	uint8_t family;          /* REQUESTED-ADDRESS-FAMILY, 0 = absent */
	uint8_t additional;      /* ADDITIONAL-ADDRESS-FAMILY, 0 = absent */
	bool even_port, reserve; /* EVEN-PORT (with R bit) */
	const uint8_t *token;    /* RESERVATION-TOKEN (8 bytes) or NULL */
	bool dont_fragment;
	int transport; /* REQUESTED-TRANSPORT protocol; 0 = UDP; -1 = omit */
};
#define TURNC_ALLOC_DEFAULT ((struct turnc_alloc_opts){.lifetime = -1})

struct turnc_qitem;

struct turnc {
	int fd;
	union tern_addr server, local;
	/* Long-term credentials (empty user = none). */
	char user[256], pass[256];
	char realm[256];
	uint8_t nonce[256];
	size_t nonce_len;
	bool want_sha256;    /* use SHA-256 when the server offers it */
	bool want_userhash;  /* send USERHASH instead of USERNAME */
	bool fingerprint;    /* append FINGERPRINT to requests */
	bool using_sha256;   /* negotiated */
	uint8_t pw_algs[64]; /* PASSWORD-ALGORITHMS value to echo */
	size_t pw_algs_len;
	uint8_t key[32];
	size_t keylen;
	int rto_ms; /* first retransmission timeout (default 100) */
	int tries;  /* transmissions per transaction (default 6, doubling RTO, capped 1600 ms) */
	/* Datagrams received while waiting for a response (Data indications,
	 * ChannelData, stray answers) wait here for turnc_recv(). */
	struct turnc_qitem *qhead, *qtail;
	unsigned qlen;
	unsigned dropped; /* queue overflow */
	/* Over TCP: bytes received and not yet cut into frames. Requests are
	 * sent once (a stream does not lose them) and waited for longer. */
	bool stream;
	uint8_t *sbuf;
	size_t slen;
	/* Over TLS (turnc_open_tls): the session, and what it resumed. */
	SSL *ssl;
	SSL_CTX *ssl_ctx;
};

/* TLS client settings: the CA that signed the server's certificate, the
 * name to verify (and send as SNI), ALPN, a session to resume. */
struct turnc_tls {
	const char *ca_file;
	const char *host;    /* verified against the certificate; NULL: no name check */
	const char *alpn;    /* e.g. "stun.turn"; NULL: none offered */
	SSL_SESSION *resume; /* from turnc_tls_session of an earlier connection, or NULL */
	int min_version;     /* TLS1_2_VERSION...; 0: OpenSSL's default */
	int max_version;
	const union tern_addr *local; /* bind the connection here first, or NULL */
	int rcvbuf;                   /* SO_RCVBUF before connect (a small window), 0: default */
};

/* Open a UDP socket bound to the loopback address of the server's family
 * (port 0) and connected to `server`. Returns 0 or -errno. */
int turnc_open(struct turnc *c, const union tern_addr *server);
/* The same with an explicit local address (e.g. 127.0.0.2:0). */
int turnc_open_from(struct turnc *c, const union tern_addr *server, const union tern_addr *local);
/* A TCP connection to server (RFC 8656 §3.1: TURN over TCP), bounded by
 * timeout_ms. Everything else works as over UDP, one frame per "datagram";
 * send ChannelData with pad=true (RFC 8656 §12.5). Returns 0 or -errno. */
int turnc_open_tcp(struct turnc *c, const union tern_addr *server, int timeout_ms);
/* The same from a local address (port 0: any). */
int turnc_open_tcp_from(struct turnc *c, const union tern_addr *server, const union tern_addr *local,
                        int timeout_ms);
/* The same with SO_RCVBUF set before connect (a small window: the server's
 * output backs up while the client does not read). */
int turnc_open_tcp_rcvbuf(struct turnc *c, const union tern_addr *server, int rcvbuf, int timeout_ms);
/* turnc_open_tcp, then a TLS handshake (certificate chain and name
 * verified), bounded by timeout_ms. Returns 0 or -errno (-EPROTO: the
 * handshake failed). */
int turnc_open_tls(struct turnc *c, const union tern_addr *server, const struct turnc_tls *t, int timeout_ms);
/* A DTLS 1.2 session over a connected UDP socket (turnc_open, then the
 * handshake: cookie exchange, certificate chain and name verified). Each
 * request and answer is one record. 0 or -errno (-EPROTO: the handshake
 * failed). */
int turnc_open_dtls(struct turnc *c, const union tern_addr *server, const struct turnc_tls *t,
                    int timeout_ms);
/* The session to resume later (the caller frees it), or NULL. */
SSL_SESSION *turnc_tls_session(struct turnc *c);
void turnc_close(struct turnc *c);
void turnc_set_creds(struct turnc *c, const char *user, const char *pass);
/* Forget the learnt realm / nonce / key (next request starts the flow again). */
void turnc_forget_nonce(struct turnc *c);

/* Send a request and wait for the matching answer, with retransmission and
 * the long-term auth flow: an answer 401 carrying REALM and NONCE is retried
 * once with credentials (if set); 438 Stale Nonce is retried with the new
 * nonce (at most twice). Returns as described at the top. */
int turnc_request(struct turnc *c, const struct turnc_req *q, struct turnc_resp *r);

/* Lower level, for retransmission and malformed-input tests. */
/* Serialise q with txid and the current auth state; returns length or -errno. */
int turnc_build(struct turnc *c, const struct turnc_req *q, const uint8_t txid[STUN_TXID_LEN], bool auth,
                uint8_t *out, size_t cap);
int turnc_send_raw(struct turnc *c, const void *buf, size_t len);
/* Wait for the answer to txid (other datagrams are queued). 0 / -ETIMEDOUT. */
int turnc_wait_answer(struct turnc *c, const uint8_t txid[STUN_TXID_LEN], struct turnc_resp *r,
                      int timeout_ms);
/* Wait for any STUN message (queued first); for "no answer" checks. */
int turnc_wait_any(struct turnc *c, struct turnc_resp *r, int timeout_ms);
/* Parse a datagram into r (copies it). 0 or -EINVAL. */
int turnc_parse(struct turnc *c, const uint8_t *buf, size_t len, struct turnc_resp *r);
void turnc_random_txid(uint8_t txid[STUN_TXID_LEN]);
/* Send an unauthenticated Allocate and learn REALM/NONCE from the 401. */
int turnc_learn_nonce(struct turnc *c);

/* TURN and STUN requests. Each returns as turnc_request(). */
int turnc_binding(struct turnc *c, struct turnc_resp *r);
int turnc_allocate(struct turnc *c, const struct turnc_alloc_opts *o, struct turnc_resp *r);
/* lifetime < 0: no LIFETIME attribute; 0 deletes the allocation. */
int turnc_refresh(struct turnc *c, int64_t lifetime, struct turnc_resp *r);
int turnc_permission(struct turnc *c, const union tern_addr *peers, unsigned n, struct turnc_resp *r);
int turnc_channel_bind(struct turnc *c, uint16_t channel, const union tern_addr *peer, struct turnc_resp *r);

/* Send indication to peer; returns 0 or -errno (there is no answer). */
int turnc_send(struct turnc *c, const union tern_addr *peer, const void *data, size_t len);
/* ChannelData; pad: add zero padding to a multiple of 4 (allowed over UDP). */
int turnc_send_channel(struct turnc *c, uint16_t channel, const void *data, size_t len, bool pad);

struct turnc_data {
	bool is_channel;
	uint16_t channel;     /* ChannelData */
	union tern_addr peer; /* Data indication's XOR-PEER-ADDRESS */
	size_t len;
	size_t wire_len; /* datagram length as received */
	uint8_t data[65536];
};
/* Wait for a Data indication or ChannelData. Returns 1 when one arrived,
 * 0 on timeout, -EINVAL when something malformed arrived (reported via
 * tap_diag). Answers (success/error) arriving meanwhile are discarded. */
int turnc_recv(struct turnc *c, struct turnc_data *d, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Peer: a plain UDP socket on loopback (peer.c). */

struct peer {
	int fd;
	union tern_addr addr; /* bound address with the real port */
};

/* Bind to ip (e.g. "127.0.0.1", "::1", "0.0.0.0") with port (0 = any).
 * An IPv6 wildcard bind is v6-only. Returns 0 or -errno. */
int peer_open(struct peer *p, const char *ip, uint16_t port);
void peer_close(struct peer *p);
int peer_send(struct peer *p, const union tern_addr *to, const void *buf, size_t len);
/* Receive one datagram: its length (>= 0), -ETIMEDOUT, or -errno. */
int peer_recv(struct peer *p, void *buf, size_t cap, union tern_addr *from, int timeout_ms);
/* Echo up to n datagrams back to their sender, each waited for at most
 * timeout_ms. Returns how many were echoed; *foreign (if not NULL) counts
 * datagrams whose source was not expect_from (they are not echoed). */
unsigned peer_echo(struct peer *p, unsigned n, int timeout_ms, const union tern_addr *expect_from,
                   unsigned *foreign);
/* Drain and count everything that arrives within timeout_ms. */
unsigned peer_drain(struct peer *p, int timeout_ms, size_t *bytes);

/* ---- private network namespace (for tests that name forbidden peers) ---- */

/* Outside a namespace: re-execute the program inside a fresh one (unshare
 * --net, only lo) and return its exit status; the caller returns it from
 * main. Returns 77 (skip) when no namespace can be made. Inside (after the
 * re-exec) returns -1: the caller goes on with the test. */
int it_netns_enter(int argc, char **argv);
/* Inside: check there is no interface but lo and no route off the machine,
 * then add each CIDR of addrs (NULL-terminated, "10.0.0.1/32") to lo. Every
 * step is a check; returns false when the test must not go on. */
bool it_netns_isolate(const char *const *addrs);

#endif
