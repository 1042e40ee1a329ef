/* Credential providers and nonces for STUN long-term credentials
 * (RFC 8489 §9.2) and the TURN REST API (shared secret, as coturn and
 * WebRTC back ends use it: draft-uberti-behave-turn-rest).
 *
 * One struct auth is built at start from the configuration and shared,
 * read-only, by every worker: no locks. Functions are pure apart from the
 * random nonce key chosen at auth_new(). Return convention: 0 / count on
 * success, -errno on failure. */
#ifndef TERN_AUTH_AUTH_H
#define TERN_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/addr.h"

#define AUTH_MAX_SECRETS 8
#define AUTH_NONCE_MAX   64
#define AUTH_MAX_KEYS    AUTH_MAX_SECRETS
/* Nonce lifetime when auth_params.nonce_lifetime is 0 (coturn's stale-nonce
 * default). */
#define AUTH_NONCE_LIFETIME_DEFAULT 600

struct auth_user {
	const char *name;
	const char *password; /* NULL when only the key is known */
	const uint8_t *key;   /* 16-byte MD5 long-term key, NULL to derive it from password */
};

struct auth_params {
	const char *realm;
	/* static users (lt-cred-mech); copied by auth_new */
	const struct auth_user *users;
	unsigned nusers;
	/* REST API shared secrets (use-auth-secret); first is current, the
	 * rest are accepted during rotation */
	const char *const *secrets;
	unsigned nsecrets;
	unsigned nonce_lifetime; /* seconds (stale-nonce), 0 = AUTH_NONCE_LIFETIME_DEFAULT */
	bool sha256;             /* advertise SHA-256 + USERHASH (RFC 8489 nonce cookie) */
	/* AUTH_NONCE_SECRET bytes that key the nonces, NULL for random ones:
	 * a provider rebuilt on reload with the same secret accepts the
	 * nonces the old one gave (no 438 storm) */
	const uint8_t *nonce_secret;
};
#define AUTH_NONCE_SECRET 32

/* Long-term keys for one username: MD5 for MESSAGE-INTEGRITY, SHA-256 for
 * MESSAGE-INTEGRITY-SHA256 with PASSWORD-ALGORITHM SHA-256 (only when the
 * password is known). */
struct auth_key {
	uint8_t md5[16];
	uint8_t sha256[32];
	bool has_sha256;
};

struct auth;

/* Build the provider. Returns NULL on allocation failure, getrandom()
 * failure or an invalid parameter (no realm, a user without a name or
 * without both password and key, a NULL or empty secret, more than
 * AUTH_MAX_SECRETS secrets). */
struct auth *auth_new(const struct auth_params *p);
void auth_free(struct auth *a);
const char *auth_realm(const struct auth *a);
bool auth_sha256(const struct auth *a);
/* Number of static users (after dropping duplicate names: the first one
 * configured wins) and of REST secrets. */
unsigned auth_nusers(const struct auth *a);
unsigned auth_nsecrets(const struct auth *a);
/* Seconds a fresh nonce stays valid. */
unsigned auth_nonce_lifetime(const struct auth *a);

/* Write a fresh nonce for client (bound to its IP and port) valid for the
 * nonce lifetime from wall-clock second now. Stateless: an HMAC under a
 * random per-process key over the expiry and the client address, so the
 * server keeps nothing per unauthenticated client. With sha256 on it starts
 * with the RFC 8489 §9.2 cookie "obMatJos2" and the security feature bits
 * (password algorithms + username anonymity). Returns its length (<=
 * AUTH_NONCE_MAX, printable ASCII) or -ENOSPC.
 *
 * Format: [cookie "obMatJos2" + 4 base64 chars of the 24-bit feature set]
 * + base64url, unpadded, of expiry (4 bytes, big endian) || the first 8
 * bytes of HMAC-SHA256(key, cookie || expiry || family || ip || port):
 * 16 characters, 29 with the cookie. Feature bits are numbered from the
 * least significant (RFC 8489 erratum 6290): password algorithms = 0x1,
 * username anonymity = 0x2; anonymity is only advertised when there are
 * static users and no REST secret (a USERHASH cannot name a REST user).
 * The text is NUL-terminated when cap leaves room for it. -EINVAL when
 * client is neither AF_INET nor AF_INET6. */
int auth_nonce_new(const struct auth *a, const union tern_addr *client, uint64_t now, char *out, size_t cap);

/* Check a nonce received from client: 0 valid, -ESTALE expired (answer 438),
 * -EINVAL forged, malformed or bound to another address (answer 438 too:
 * the client then retries with the fresh nonce it is given). */
int auth_nonce_check(const struct auth *a, const union tern_addr *client, const uint8_t *nonce, size_t len,
                     uint64_t now);

/* True when the nonce carries the RFC 8489 cookie with the password
 * algorithms feature bit. */
bool auth_nonce_has_features(const uint8_t *nonce, size_t len);

/* Keys for a USERNAME value. For REST usernames ("expiry" or
 * "expiry:user", expiry in Unix seconds) one key per configured secret is
 * returned (rotation); an expired timestamp gives -EKEYEXPIRED. Static users
 * are looked up by exact name. Returns the number of keys written (>= 1,
 * at most max), -ENOENT for an unknown user. A REST key is derived from the
 * password base64(HMAC-SHA1(secret, username)) and always has SHA-256. A
 * username of REST form is never looked up among static users when secrets
 * are configured; other names are.
 *
 * id_off (may be NULL) receives, on success, where the user's identity
 * starts in the username, for per-user quotas: the user part of a REST
 * username "expiry:user" (one user holding credentials with different
 * expiries is one user, as coturn counts it), 0 for the whole name (static
 * users, and REST usernames with no or an empty user part). */
int auth_lookup(const struct auth *a, const uint8_t *user, size_t ulen, uint64_t now, struct auth_key *keys,
                int max, size_t *id_off);

/* The same for a USERHASH value (static users only: REST usernames cannot
 * be recovered from their hash). Writes the username (NUL-terminated) to
 * user_out. Returns the number of keys, -ENOENT, or -ENOSPC when cap is
 * too small for the name. */
int auth_lookup_userhash(const struct auth *a, const uint8_t hash[32], char *user_out, size_t cap,
                         struct auth_key *keys, int max);

/* TURN REST API credentials: username = "<now+ttl>:<user>" (or just the
 * timestamp when user is empty), password = base64(HMAC-SHA1(secret,
 * username)). Used by `tern creds` and by tests. Returns 0, -ENOSPC, or
 * -EINVAL for a NULL or empty secret. The expiry saturates at UINT64_MAX. */
int auth_rest_credentials(const char *secret, const char *user, uint64_t now, uint64_t ttl, char *username,
                          size_t ucap, char *password, size_t pcap);

#endif
