#include "auth/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "stun/stun.h"
#include "util/bytes.h"

#define NONCE_COOKIE       "obMatJos2"
#define NONCE_COOKIE_LEN   9
#define NONCE_FEATURES_LEN 4
/* expiry (4) || truncated MAC (8): 12 bytes, 16 base64url characters.
 * 64 MAC bits are plenty for a value that is only ever checked online and
 * lives minutes; every byte counts in the unauthenticated 401 (amplification). */
#define NONCE_EXPIRY_LEN 4
#define NONCE_MAC_LEN    8
#define NONCE_RAW_LEN    (NONCE_EXPIRY_LEN + NONCE_MAC_LEN)
#define NONCE_BODY_LEN   16

/* RFC 8489 §18.1 STUN Security Features, numbered from the least
 * significant bit (verified erratum 6290 to RFC 8489). */
#define FEATURE_PASSWORD_ALGORITHMS 0x000001u
#define FEATURE_USERNAME_ANONYMITY  0x000002u

#define REST_PASSWORD_LEN 28 /* base64 of a 20-byte HMAC-SHA1, padded */

struct user {
	const char *name; /* into the auth allocation, NUL-terminated */
	size_t len;
	uint8_t md5[16];
	uint8_t sha256[32];
	bool has_sha256;
	uint8_t hash[32]; /* USERHASH */
};

/* HMAC (RFC 2104) with the padded key blocks computed once: OpenSSL 3's
 * one-shot HMAC() fetches the algorithm and builds a MAC context per call,
 * about 2 us, which every unauthenticated request would pay for its nonce;
 * two digests over pre-padded keys cost a fifth of that. SHA-1 and SHA-256
 * both have 64-byte blocks. */
#define HMAC_BLOCK 64
struct hmac_key {
	uint8_t ipad[HMAC_BLOCK];
	uint8_t opad[HMAC_BLOCK];
};

struct secret {
	const char *s; /* into the auth allocation */
	size_t len;
	struct hmac_key hk; /* HMAC-SHA1 */
};

struct auth {
	size_t size; /* of the whole allocation, to wipe it */
	const char *realm;
	size_t rlen;
	struct user *users; /* sorted by (len, name) */
	unsigned nusers;
	const struct user **by_hash; /* sorted by USERHASH */
	struct secret secrets[AUTH_MAX_SECRETS];
	unsigned nsecrets;
	unsigned nonce_lifetime;
	bool sha256;
	char prefix[NONCE_COOKIE_LEN + NONCE_FEATURES_LEN]; /* nonce cookie, or empty */
	size_t prefix_len;
	struct hmac_key nonce_key; /* HMAC-SHA256 under 32 random bytes */
	EVP_MD *sha1, *sha256_md;  /* fetched once */
};

static int hmac_prepare(const EVP_MD *md, const void *key, size_t klen, struct hmac_key *hk)
{
	uint8_t k[HMAC_BLOCK] = {0};
	unsigned int n = 0;
	if (klen > HMAC_BLOCK) {
		if (!EVP_Digest(key, klen, k, &n, md, NULL))
			return -EIO;
	} else {
		memcpy(k, key, klen);
	}
	for (int i = 0; i < HMAC_BLOCK; i++) {
		hk->ipad[i] = k[i] ^ 0x36;
		hk->opad[i] = k[i] ^ 0x5c;
	}
	OPENSSL_cleanse(k, sizeof(k));
	return 0;
}

/* out receives the full digest (EVP_MAX_MD_SIZE is enough). */
static int hmac_run(const EVP_MD *md, const struct hmac_key *hk, const void *msg, size_t n, uint8_t *out)
{
	uint8_t inner[EVP_MAX_MD_SIZE];
	unsigned int il = 0, ol = 0;
	int r = -EIO;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, hk->ipad, HMAC_BLOCK) &&
	    EVP_DigestUpdate(c, msg, n) && EVP_DigestFinal_ex(c, inner, &il) &&
	    EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, hk->opad, HMAC_BLOCK) &&
	    EVP_DigestUpdate(c, inner, il) && EVP_DigestFinal_ex(c, out, &ol))
		r = 0;
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(inner, sizeof(inner));
	return r;
}

/* ---- base64 ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode n bytes; returns the number of characters written (no NUL). out
 * must hold 4 * ((n + 2) / 3). */
static size_t b64_encode(const char *alpha, const uint8_t *in, size_t n, char *out, bool pad)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = alpha[(v >> 6) & 63];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	return o;
}

static int b64_value(const char *alpha, uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (uint8_t)alpha[62])
		return 62;
	if (c == (uint8_t)alpha[63])
		return 63;
	return -1;
}

/* Decode exactly 4 * k characters (no padding) into 3 * k bytes. */
static int b64_decode_blocks(const char *alpha, const uint8_t *in, size_t n, uint8_t *out)
{
	if (n % 4)
		return -EINVAL;
	for (size_t i = 0, o = 0; i < n; i += 4, o += 3) {
		uint32_t v = 0;
		for (int j = 0; j < 4; j++) {
			int d = b64_value(alpha, in[i + j]);
			if (d < 0)
				return -EINVAL;
			v = v << 6 | (uint32_t)d;
		}
		out[o] = (uint8_t)(v >> 16);
		out[o + 1] = (uint8_t)(v >> 8);
		out[o + 2] = (uint8_t)v;
	}
	return 0;
}

/* ---- construction ---- */

static int cmp_name(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int cmp_user(const void *x, const void *y)
{
	const struct user *a = x, *b = y;
	int c = cmp_name((const uint8_t *)a->name, a->len, (const uint8_t *)b->name, b->len);
	if (c)
		return c;
	/* equal names: keep the configuration order so the first one wins */
	return a->name < b->name ? -1 : a->name > b->name;
}

static int cmp_hash(const void *x, const void *y)
{
	const struct user *const *a = x, *const *b = y;
	return memcmp((*a)->hash, (*b)->hash, 32);
}

static size_t align_up(size_t n)
{
	return (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

static bool fill_random(uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = getrandom(buf + got, len - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

struct auth *auth_new(const struct auth_params *p)
{
	struct auth *a = NULL;
	size_t strings = 0, off;
	char *pool;

	if (!p || !p->realm || !p->realm[0] || p->nsecrets > AUTH_MAX_SECRETS)
		return NULL;
	if ((p->nusers && !p->users) || (p->nsecrets && !p->secrets))
		return NULL;
	strings += strlen(p->realm) + 1;
	for (unsigned i = 0; i < p->nusers; i++) {
		const struct auth_user *u = &p->users[i];
		if (!u->name || !u->name[0] || (!u->password && !u->key))
			return NULL;
		strings += strlen(u->name) + 1;
	}
	for (unsigned i = 0; i < p->nsecrets; i++) {
		if (!p->secrets[i] || !p->secrets[i][0])
			return NULL;
		strings += strlen(p->secrets[i]) + 1;
	}

	/* One allocation: struct auth, users[], by_hash[], then the strings. */
	size_t users_off = align_up(sizeof(*a));
	size_t hash_off = align_up(users_off + (size_t)p->nusers * sizeof(struct user));
	size_t pool_off = hash_off + (size_t)p->nusers * sizeof(struct user *);
	size_t size = pool_off + strings;
	a = calloc(1, size);
	if (!a)
		return NULL;
	a->size = size;
	a->users = (struct user *)((char *)a + users_off);
	a->by_hash = (const struct user **)((char *)a + hash_off);
	pool = (char *)a + pool_off;
	off = 0;

#define COPY_STR(dst, src, lenp)                                                                             \
	do {                                                                                                 \
		size_t n_ = strlen(src);                                                                     \
		memcpy(pool + off, (src), n_ + 1);                                                           \
		(dst) = pool + off;                                                                          \
		*(lenp) = n_;                                                                                \
		off += n_ + 1;                                                                               \
	} while (0)

	COPY_STR(a->realm, p->realm, &a->rlen);
	for (unsigned i = 0; i < p->nsecrets; i++)
		COPY_STR(a->secrets[i].s, p->secrets[i], &a->secrets[i].len);
	a->nsecrets = p->nsecrets;

	for (unsigned i = 0; i < p->nusers; i++) {
		const struct auth_user *in = &p->users[i];
		struct user *u = &a->users[i];
		COPY_STR(u->name, in->name, &u->len);
		if (in->key) {
			memcpy(u->md5, in->key, 16);
		} else {
			stun_key_md5(u->name, u->len, a->realm, a->rlen, in->password, strlen(in->password),
			             u->md5);
		}
		if (in->password) {
			stun_key_sha256(u->name, u->len, a->realm, a->rlen, in->password,
			                strlen(in->password), u->sha256);
			u->has_sha256 = true;
		}
		stun_userhash(u->name, u->len, a->realm, a->rlen, u->hash);
	}
#undef COPY_STR

	/* Sort and drop duplicate names (the first configured one wins). */
	if (p->nusers) {
		unsigned n = 1;
		qsort(a->users, p->nusers, sizeof(*a->users), cmp_user);
		for (unsigned i = 1; i < p->nusers; i++) {
			const struct user *prev = &a->users[n - 1], *cur = &a->users[i];
			if (cmp_name((const uint8_t *)prev->name, prev->len, (const uint8_t *)cur->name,
			             cur->len) != 0)
				a->users[n++] = *cur;
		}
		a->nusers = n;
		for (unsigned i = 0; i < n; i++)
			a->by_hash[i] = &a->users[i];
		qsort(a->by_hash, n, sizeof(*a->by_hash), cmp_hash);
	}

	a->nonce_lifetime = p->nonce_lifetime ? p->nonce_lifetime : AUTH_NONCE_LIFETIME_DEFAULT;
	a->sha256 = p->sha256;
	if (a->sha256) {
		/* USERHASH cannot name a REST user (the server cannot invert the
		 * hash), so anonymity is advertised only when every user is a
		 * static one: RFC 8489 §9.2.4 makes a client that sees the bit
		 * send USERHASH instead of USERNAME. */
		uint32_t features = FEATURE_PASSWORD_ALGORITHMS;
		uint8_t fb[3];
		if (a->nsecrets == 0 && a->nusers > 0)
			features |= FEATURE_USERNAME_ANONYMITY;
		fb[0] = (uint8_t)(features >> 16);
		fb[1] = (uint8_t)(features >> 8);
		fb[2] = (uint8_t)features;
		memcpy(a->prefix, NONCE_COOKIE, NONCE_COOKIE_LEN);
		b64_encode(b64_std, fb, 3, a->prefix + NONCE_COOKIE_LEN, false);
		a->prefix_len = NONCE_COOKIE_LEN + NONCE_FEATURES_LEN;
	}
	uint8_t rnd[32];
	a->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	a->sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (p->nonce_secret)
		memcpy(rnd, p->nonce_secret, sizeof(rnd));
	if (!a->sha1 || !a->sha256_md || (!p->nonce_secret && !fill_random(rnd, sizeof(rnd))) ||
	    hmac_prepare(a->sha256_md, rnd, sizeof(rnd), &a->nonce_key) < 0)
		goto fail;
	for (unsigned i = 0; i < a->nsecrets; i++)
		if (hmac_prepare(a->sha1, a->secrets[i].s, a->secrets[i].len, &a->secrets[i].hk) < 0)
			goto fail;
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return a;
fail:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	auth_free(a);
	return NULL;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	EVP_MD_free(a->sha1);
	EVP_MD_free(a->sha256_md);
	OPENSSL_cleanse(a, a->size); /* keys, secrets, nonce key */
	free(a);
}

const char *auth_realm(const struct auth *a)
{
	return a->realm;
}

bool auth_sha256(const struct auth *a)
{
	return a->sha256;
}

unsigned auth_nusers(const struct auth *a)
{
	return a->nusers;
}

unsigned auth_nsecrets(const struct auth *a)
{
	return a->nsecrets;
}

unsigned auth_nonce_lifetime(const struct auth *a)
{
	return a->nonce_lifetime;
}

/* ---- nonces ---- */

/* MAC over everything the nonce claims: the visible prefix (so the feature
 * bits cannot be stripped: RFC 8489 §9.2.1 bid-down protection), the expiry
 * and the client's transport address. */
static int nonce_mac(const struct auth *a, const union tern_addr *client, const uint8_t expiry[4],
                     uint8_t mac[NONCE_MAC_LEN])
{
	uint8_t msg[sizeof(a->prefix) + 4 + 1 + 16 + 2], full[EVP_MAX_MD_SIZE];
	size_t n = 0;

	memcpy(msg, a->prefix, a->prefix_len);
	n += a->prefix_len;
	memcpy(msg + n, expiry, 4);
	n += 4;
	if (client->sa.sa_family == AF_INET) {
		msg[n++] = 4;
		memcpy(msg + n, &client->v4.sin_addr, 4);
		n += 4;
	} else if (client->sa.sa_family == AF_INET6) {
		msg[n++] = 6;
		memcpy(msg + n, &client->v6.sin6_addr, 16);
		n += 16;
	} else {
		return -EINVAL;
	}
	wr16(msg + n, addr_port(client));
	n += 2;
	if (hmac_run(a->sha256_md, &a->nonce_key, msg, n, full) < 0)
		return -EIO;
	memcpy(mac, full, NONCE_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

int auth_nonce_new(const struct auth *a, const union tern_addr *client, uint64_t now, char *out, size_t cap)
{
	uint8_t raw[NONCE_RAW_LEN];
	size_t len = a->prefix_len + NONCE_BODY_LEN;
	uint64_t exp = now + a->nonce_lifetime;
	int r;

	if (cap < len)
		return -ENOSPC;
	if (exp > UINT32_MAX || exp < now)
		exp = UINT32_MAX;
	wr32(raw, (uint32_t)exp);
	r = nonce_mac(a, client, raw, raw + NONCE_EXPIRY_LEN);
	if (r < 0)
		return r;
	memcpy(out, a->prefix, a->prefix_len);
	b64_encode(b64_url, raw, sizeof(raw), out + a->prefix_len, false);
	if (cap > len)
		out[len] = 0;
	return (int)len;
}

int auth_nonce_check(const struct auth *a, const union tern_addr *client, const uint8_t *nonce, size_t len,
                     uint64_t now)
{
	uint8_t raw[NONCE_RAW_LEN], mac[NONCE_MAC_LEN];

	if (!nonce || len != a->prefix_len + NONCE_BODY_LEN)
		return -EINVAL;
	if (memcmp(nonce, a->prefix, a->prefix_len) != 0)
		return -EINVAL;
	if (b64_decode_blocks(b64_url, nonce + a->prefix_len, NONCE_BODY_LEN, raw) < 0)
		return -EINVAL;
	if (nonce_mac(a, client, raw, mac) < 0)
		return -EINVAL;
	if (CRYPTO_memcmp(mac, raw + NONCE_EXPIRY_LEN, NONCE_MAC_LEN) != 0)
		return -EINVAL;
	/* RFC 8489 §9.2.4: an expired nonce is answered 438 Stale Nonce */
	if (now > rd32(raw))
		return -ESTALE;
	return 0;
}

bool auth_nonce_has_features(const uint8_t *nonce, size_t len)
{
	uint8_t fb[3];
	if (!nonce || len < NONCE_COOKIE_LEN + NONCE_FEATURES_LEN)
		return false;
	if (memcmp(nonce, NONCE_COOKIE, NONCE_COOKIE_LEN) != 0)
		return false;
	if (b64_decode_blocks(b64_std, nonce + NONCE_COOKIE_LEN, NONCE_FEATURES_LEN, fb) < 0)
		return false;
	return (fb[2] & FEATURE_PASSWORD_ALGORITHMS) != 0;
}

/* ---- lookups ---- */

static void user_key(const struct user *u, struct auth_key *k)
{
	memcpy(k->md5, u->md5, sizeof(k->md5));
	memcpy(k->sha256, u->sha256, sizeof(k->sha256));
	k->has_sha256 = u->has_sha256;
}

static const struct user *find_user(const struct auth *a, const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = a->nusers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct user *u = &a->users[mid];
		int c = cmp_name(name, len, (const uint8_t *)u->name, u->len);
		if (c == 0)
			return u;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* "<digits>" or "<digits>:<anything>": the TURN REST API username. The
 * expiry saturates instead of wrapping on absurdly long digit runs. *sep is
 * the position of the ':' (ulen when there is none). */
static bool rest_expiry(const uint8_t *user, size_t ulen, uint64_t *expiry, size_t *sep)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < ulen && user[i] != ':'; i++) {
		if (user[i] < '0' || user[i] > '9')
			return false;
		unsigned d = user[i] - '0';
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	if (i == 0)
		return false;
	*expiry = v;
	*sep = i;
	return true;
}

static int rest_password(const EVP_MD *sha1, const struct hmac_key *hk, const uint8_t *user, size_t ulen,
                         char out[REST_PASSWORD_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	if (hmac_run(sha1, hk, user, ulen, mac) < 0)
		return -EIO;
	b64_encode(b64_std, mac, 20, out, true);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int auth_lookup(const struct auth *a, const uint8_t *user, size_t ulen, uint64_t now, struct auth_key *keys,
                int max, size_t *id_off)
{
	uint64_t expiry;
	size_t sep;

	if (id_off)
		*id_off = 0;
	if (max < 1)
		return -ENOSPC;
	if (!user && ulen)
		return -ENOENT;
	if (a->nsecrets && rest_expiry(user, ulen, &expiry, &sep)) {
		char pw[REST_PASSWORD_LEN];
		int n = 0, r = 0;
		if (expiry < now)
			return -EKEYEXPIRED;
		for (unsigned i = 0; i < a->nsecrets && n < max; i++, n++) {
			struct auth_key *k = &keys[n];
			r = rest_password(a->sha1, &a->secrets[i].hk, user, ulen, pw);
			if (r < 0)
				break;
			stun_key_md5((const char *)user, ulen, a->realm, a->rlen, pw, sizeof(pw), k->md5);
			stun_key_sha256((const char *)user, ulen, a->realm, a->rlen, pw, sizeof(pw),
			                k->sha256);
			k->has_sha256 = true;
		}
		OPENSSL_cleanse(pw, sizeof(pw));
		/* The user part names the user; a bare timestamp (or an empty
		 * part) names nobody else, so the whole string stays its key. */
		if (r == 0 && id_off && sep + 1 < ulen)
			*id_off = sep + 1;
		return r < 0 ? r : n;
	}
	const struct user *u = find_user(a, user, ulen);
	if (!u)
		return -ENOENT;
	user_key(u, &keys[0]);
	return 1;
}

int auth_lookup_userhash(const struct auth *a, const uint8_t hash[32], char *user_out, size_t cap,
                         struct auth_key *keys, int max)
{
	size_t lo = 0, hi = a->nusers;

	if (max < 1)
		return -ENOSPC;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct user *u = a->by_hash[mid];
		int c = memcmp(hash, u->hash, 32);
		if (c == 0) {
			if (cap < u->len + 1)
				return -ENOSPC;
			memcpy(user_out, u->name, u->len + 1);
			user_key(u, &keys[0]);
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int auth_rest_credentials(const char *secret, const char *user, uint64_t now, uint64_t ttl, char *username,
                          size_t ucap, char *password, size_t pcap)
{
	uint64_t exp = now + ttl < now ? UINT64_MAX : now + ttl;
	int n;

	if (!secret || !secret[0])
		return -EINVAL;
	if (user && user[0])
		n = snprintf(username, ucap, "%" PRIu64 ":%s", exp, user);
	else
		n = snprintf(username, ucap, "%" PRIu64, exp);
	if (n < 0 || (size_t)n >= ucap)
		return -ENOSPC;
	if (pcap < REST_PASSWORD_LEN + 1)
		return -ENOSPC;
	struct hmac_key hk;
	int r = hmac_prepare(EVP_sha1(), secret, strlen(secret), &hk);
	if (r == 0)
		r = rest_password(EVP_sha1(), &hk, (const uint8_t *)username, (size_t)n, password);
	OPENSSL_cleanse(&hk, sizeof(hk));
	if (r < 0)
		return r;
	password[REST_PASSWORD_LEN] = 0;
	return 0;
}
