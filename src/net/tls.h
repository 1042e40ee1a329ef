/* TLS for stream client connections (RFC 8656 §3.1, TURN over TLS), on
 * OpenSSL. Two parts:
 *
 * - The server context (struct tls_server): certificate, key and settings
 *   from the configuration, built once at start and rebuilt whole on a
 *   certificate reload (SIGUSR2). Workers take a reference to the current
 *   SSL_CTX when the reload generation changes (tls_server_ctx), so a reload
 *   never stops a connection: old connections keep the context they began
 *   with. Session tickets are encrypted with keys this module keeps (not
 *   OpenSSL's per-context ones), shared by every context and worker, and
 *   rotated every TLS_TICKET_ROTATE_S; the previous key still decrypts, so
 *   a ticket stays good for one to two rotation periods and across reloads.
 *
 * - The first bytes of a connection (tls_sniff): a TLS ClientHello record,
 *   or something else (STUN, ChannelData), so one port can serve both.
 *
 * Return convention: 0 or a count on success, -errno on failure; errors an
 * operator can cause are written as one line into the caller's buffer. */
#ifndef TERN_NET_TLS_H
#define TERN_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "util/addr.h"

/* What the configuration says (coturn's option names). Strings may be
 * empty (""), never NULL, except cert and pkey, which are required. */
struct tls_opts {
	const char *cert;        /* PEM chain: the server's certificate first */
	const char *pkey;        /* PEM private key (encrypted: pkey_pwd) */
	const char *pkey_pwd;    /* "" = none */
	const char *cipher_list; /* TLS 1.2 cipher list, "" = OpenSSL's default */
	const char *ec_curve;    /* one group name (prime256v1, X25519, ...), "" = OpenSSL's list */
	const char *dh_file;     /* PEM DH parameters for DHE suites, "" = OpenSSL's automatic ones */
	const char *ca_file;     /* client certificates are required and checked against it, "" = none */
	bool tls13_only;         /* no-tlsv1_2: TLS 1.3 only */
	bool dtls;               /* also a DTLS 1.2 context (tls_server_ctx(..., true)) */
};

/* Session tickets: the current key encrypts, the previous one still decrypts. */
#define TLS_TICKET_ROTATE_S 3600

struct tls_server;

/* Load and check everything (certificate readable, key matching, cipher
 * list and curve known). On error -EINVAL (or -ENOMEM) with one line in
 * err naming the option and the value. */
int tls_server_new(const struct tls_opts *o, struct tls_server **out, char *err, size_t errlen);
/* Rebuild the context from the same paths (certificate renewal). On error
 * the current context stays and err says why. Any thread; serialised. */
int tls_server_reload(struct tls_server *s, char *err, size_t errlen);
void tls_server_free(struct tls_server *s);

/* The reload generation: changes when tls_server_reload succeeds. */
uint32_t tls_server_gen(const struct tls_server *s);
/* A reference to the current context (SSL_CTX_free it when done), and its
 * generation in *gen. dtls: the DTLS 1.2 one (NULL when not built). */
SSL_CTX *tls_server_ctx(struct tls_server *s, uint32_t *gen, bool dtls);

/* DTLS cookies (RFC 6347 §4.2.1, HelloVerifyRequest): an HMAC of the
 * client's address and port and a 64-second epoch under a key of this
 * module, checked for the current and the previous epoch; nothing is kept
 * per client. The DTLS context's cookie callbacks read the client address
 * set here on the SSL object (a pointer the caller keeps valid). */
void tls_dtls_set_peer(SSL *ssl, const union tern_addr *peer);

/* Classify the first bytes a client sent (the first one decides). */
enum tls_sniff {
	TLS_SNIFF_MORE = 0, /* no byte yet */
	TLS_SNIFF_TLS,      /* a TLS handshake record (ClientHello) */
	TLS_SNIFF_OTHER,    /* not TLS: STUN, ChannelData, or garbage for the framer to judge */
};
enum tls_sniff tls_sniff(const uint8_t *buf, size_t len);

/* The OpenSSL error queue as one short line (and cleared). */
const char *tls_last_error(char *buf, size_t len);

#endif
