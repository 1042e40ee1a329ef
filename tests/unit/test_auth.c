/* Credentials and nonces (src/auth/auth.c). Expected values are computed
 * here by an independent path (OpenSSL EVP one-shots, EVP_EncodeBlock) or
 * were checked with the openssl command line, as noted beside them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"

#define REALM "example.org"

/* ---- independent helpers ---- */

static void md5_of(const char *s, uint8_t out[16])
{
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), out, &n, EVP_md5(), NULL), 1);
	assert_int_equal(n, 16);
}

static void sha256_of(const char *s, uint8_t out[32])
{
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
}

static void hex_to(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* base64(HMAC-SHA1(secret, username)) via EVP_EncodeBlock. */
static void rest_password_ref(const char *secret, const char *username, char out[29])
{
	uint8_t mac[20];
	unsigned int n = 0;
	assert_non_null(HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)username,
	                     strlen(username), mac, &n));
	assert_int_equal(n, 20);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, mac, 20), 28);
}

static union tern_addr A(const char *s) {
	union tern_addr a;
	assert_int_equal(addr_parse(&a, s, 0), 0);
	return a;
}

static int
lookup(const struct auth *a, const char *user, uint64_t now, struct auth_key *keys, int max)
{
	return auth_lookup(a, (const uint8_t *)user, strlen(user), now, keys, max, NULL);
}

/* ---- static users ---- */

/* RFC 5769 §2.4 credentials (RFC 8489 Appendix B.1 uses the same):
 * username U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9, password "TheMatrIX"
 * (after SASLprep / OpaqueString), realm "example.org". */
static const char rfc_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void test_static_key_rfc5769(void **state)
{
	struct auth_user users[] = {{.name = rfc_user, .password = "TheMatrIX"}};
	struct auth_params p = {.realm = REALM, .users = users, .nusers = 1};
	struct auth *a = auth_new(&p);
	struct auth_key k[AUTH_MAX_KEYS];
	uint8_t want_md5[16], want_sha[32], ref[16];
	char buf[128];

	assert_non_null(a);
	assert_string_equal(auth_realm(a), REALM);
	assert_int_equal(auth_nusers(a), 1);
	assert_int_equal(lookup(a, rfc_user, 0, k, AUTH_MAX_KEYS), 1);

	/* printf '%s' '<user>:example.org:TheMatrIX' | openssl dgst -md5 / -sha256 */
	hex_to("e8ca7ad59d5eb0518e312911d2dab2a9", want_md5, 16);
	hex_to("dd295a613b9058c3c23d6dc7165bda072304d989c9d0af3a8c7e184b4f9bb4a1", want_sha, 32);
	assert_memory_equal(k[0].md5, want_md5, 16);
	assert_true(k[0].has_sha256);
	assert_memory_equal(k[0].sha256, want_sha, 32);

	snprintf(buf, sizeof(buf), "%s:%s:%s", rfc_user, REALM, "TheMatrIX");
	md5_of(buf, ref);
	assert_memory_equal(k[0].md5, ref, 16);
	auth_free(a);
}

static void test_static_lookup(void **state)
{
	struct auth_user users[] = {
	    {.name = "bob", .password = "b0b"},
	    {.name = "alice", .password = "secret1"},
	    {.name = "carol", .password = "c"},
	    {.name = "alice", .password = "shadowed"}, /* duplicate: the first wins */
	    {.name = "al", .password = "short"},
	};
	struct auth_params p = {.realm = REALM, .users = users, .nusers = 5};
	struct auth *a = auth_new(&p);
	struct auth_key k[AUTH_MAX_KEYS];
	uint8_t want[16];

	assert_non_null(a);
	assert_int_equal(auth_nusers(a), 4);
	assert_int_equal(lookup(a, "alice", 0, k, AUTH_MAX_KEYS), 1);
	md5_of("alice:" REALM ":secret1", want);
	assert_memory_equal(k[0].md5, want, 16);
	assert_int_equal(lookup(a, "bob", 0, k, 1), 1);
	md5_of("bob:" REALM ":b0b", want);
	assert_memory_equal(k[0].md5, want, 16);
	assert_int_equal(lookup(a, "al", 0, k, 1), 1);
	assert_int_equal(lookup(a, "carol", 0, k, 1), 1);

	/* names are exact bytes, not NUL-terminated on input */
	assert_int_equal(auth_lookup(a, (const uint8_t *)"alicex", 5, 0, k, 1, NULL), 1);
	assert_int_equal(auth_lookup(a, (const uint8_t *)"alice\0", 6, 0, k, 1, NULL), -ENOENT);
	assert_int_equal(lookup(a, "alic", 0, k, 1), -ENOENT);
	assert_int_equal(lookup(a, "alice2", 0, k, 1), -ENOENT);
	assert_int_equal(lookup(a, "Alice", 0, k, 1), -ENOENT);
	assert_int_equal(lookup(a, "dave", 0, k, 1), -ENOENT);
	assert_int_equal(lookup(a, "", 0, k, 1), -ENOENT);
	assert_int_equal(auth_lookup(a, NULL, 0, 0, k, 1, NULL), -ENOENT);
	assert_int_equal(lookup(a, "alice", 0, k, 0), -ENOSPC);
	auth_free(a);
}

static void test_key_only_user(void **state)
{
	/* coturn's user=name:0x<hex md5 key>: no password, so no SHA-256 key */
	uint8_t key[16];
	md5_of("eve:" REALM ":pw", key);
	struct auth_user users[] = {{.name = "eve", .key = key}};
	struct auth_params p = {.realm = REALM, .users = users, .nusers = 1, .sha256 = true};
	struct auth *a = auth_new(&p);
	struct auth_key k[AUTH_MAX_KEYS];

	assert_non_null(a);
	assert_int_equal(lookup(a, "eve", 0, k, AUTH_MAX_KEYS), 1);
	assert_memory_equal(k[0].md5, key, 16);
	assert_false(k[0].has_sha256);
	auth_free(a);
}

static void test_userhash(void **state)
{
	struct auth_user users[] = {
	    {.name = "alice", .password = "secret1"},
	    {.name = rfc_user, .password = "TheMatrIX"},
	    {.name = "bob", .password = "b0b"},
	};
	struct auth_params p = {.realm = REALM, .users = users, .nusers = 3};
	struct auth *a = auth_new(&p);
	struct auth_key k[AUTH_MAX_KEYS];
	uint8_t h[32], want[16];
	char name[64];

	assert_non_null(a);
	sha256_of("alice:" REALM, h);
	assert_int_equal(auth_lookup_userhash(a, h, name, sizeof(name), k, AUTH_MAX_KEYS), 1);
	assert_string_equal(name, "alice");
	md5_of("alice:" REALM ":secret1", want);
	assert_memory_equal(k[0].md5, want, 16);
	assert_int_equal(auth_lookup_userhash(a, h, name, 5, k, 1), -ENOSPC);
	assert_int_equal(auth_lookup_userhash(a, h, name, 6, k, 1), 1);

	/* RFC 8489 Appendix B.1 USERHASH */
	hex_to("4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704", h, 32);
	assert_int_equal(auth_lookup_userhash(a, h, name, sizeof(name), k, 1), 1);
	assert_string_equal(name, rfc_user);

	sha256_of("carol:" REALM, h);
	assert_int_equal(auth_lookup_userhash(a, h, name, sizeof(name), k, 1), -ENOENT);
	sha256_of("alice:other.realm", h);
	assert_int_equal(auth_lookup_userhash(a, h, name, sizeof(name), k, 1), -ENOENT);
	auth_free(a);
}

static void test_new_invalid(void **state)
{
	struct auth_user nokey[] = {{.name = "x"}};
	struct auth_user noname[] = {{.name = "", .password = "p"}};
	const char *secrets[AUTH_MAX_SECRETS + 1] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
	const char *empty_secret[] = {""};
	struct auth_params p;

	assert_null(auth_new(NULL));
	p = (struct auth_params){.realm = NULL};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = ""};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = REALM, .users = nokey, .nusers = 1};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = REALM, .users = noname, .nusers = 1};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = REALM, .nusers = 1};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = REALM, .secrets = secrets, .nsecrets = AUTH_MAX_SECRETS + 1};
	assert_null(auth_new(&p));
	p = (struct auth_params){.realm = REALM, .secrets = empty_secret, .nsecrets = 1};
	assert_null(auth_new(&p));

	p = (struct auth_params){.realm = REALM, .secrets = secrets, .nsecrets = AUTH_MAX_SECRETS};
	struct auth *a = auth_new(&p);
	assert_non_null(a);
	assert_int_equal(auth_nsecrets(a), AUTH_MAX_SECRETS);
	assert_int_equal(auth_nonce_lifetime(a), AUTH_NONCE_LIFETIME_DEFAULT);
	auth_free(a);
	auth_free(NULL);
}

/* ---- nonces ---- */

static struct auth *nonce_auth(bool sha256, unsigned lifetime)
{
	static struct auth_user users[] = {{.name = "alice", .password = "secret1"}};
	struct auth_params p = {
	    .realm = REALM, .users = users, .nusers = 1, .nonce_lifetime = lifetime, .sha256 = sha256};
	struct auth *a = auth_new(&p);
	assert_non_null(a);
	return a;
}

static int check(const struct auth *a, const char *client, const char *nonce, size_t len, uint64_t now)
{
	union tern_addr c = A(client);
	return auth_nonce_check(a, &c, (const uint8_t *)nonce, len, now);
}

static void test_nonce_round_trip(void **state)
{
	struct auth *a = nonce_auth(false, 600);
	const char *clients[] = {"192.0.2.1:5000", "[2001:db8::1]:5000", "[::ffff:192.0.2.1]:5000",
	                         "0.0.0.0:0"};
	char n[AUTH_NONCE_MAX + 1];

	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		union tern_addr c = A(clients[i]);
		int len = auth_nonce_new(a, &c, 1700000000, n, sizeof(n));
		assert_int_equal(len, 16);
		assert_int_equal(strlen(n), 16);
		for (int j = 0; j < len; j++) /* base64url: qdtext, no quoting needed */
			assert_non_null(
			    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", n[j]));
		assert_int_equal(check(a, clients[i], n, (size_t)len, 1700000000), 0);
		assert_int_equal(check(a, clients[i], n, (size_t)len, 1700000600), 0);
		assert_int_equal(check(a, clients[i], n, (size_t)len, 0), 0);
		assert_false(auth_nonce_has_features((const uint8_t *)n, (size_t)len));
	}
	/* two nonces for the same client and second are the same text
	 * (stateless); a later second gives another */
	union tern_addr c = A("192.0.2.1:5000");
	char n2[AUTH_NONCE_MAX];
	assert_int_equal(auth_nonce_new(a, &c, 1700000000, n, sizeof(n)), 16);
	assert_int_equal(auth_nonce_new(a, &c, 1700000000, n2, sizeof(n2)), 16);
	assert_memory_equal(n, n2, 16);
	assert_int_equal(auth_nonce_new(a, &c, 1700000001, n2, sizeof(n2)), 16);
	assert_memory_not_equal(n, n2, 16);
	/* exactly the room needed works, one less does not */
	assert_int_equal(auth_nonce_new(a, &c, 1700000000, n2, 16), 16);
	assert_int_equal(auth_nonce_new(a, &c, 1700000000, n2, 15), -ENOSPC);
	auth_free(a);
}

static void test_nonce_bound_to_address(void **state)
{
	struct auth *a = nonce_auth(false, 600);
	union tern_addr c = A("192.0.2.1:5000");
	char n[AUTH_NONCE_MAX];
	int len = auth_nonce_new(a, &c, 1000, n, sizeof(n));
	assert_int_equal(len, 16);

	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, 1000), 0);
	assert_int_equal(check(a, "192.0.2.2:5000", n, (size_t)len, 1000), -EINVAL);
	assert_int_equal(check(a, "192.0.2.1:5001", n, (size_t)len, 1000), -EINVAL);
	assert_int_equal(check(a, "[::ffff:192.0.2.1]:5000", n, (size_t)len, 1000), -EINVAL);
	assert_int_equal(check(a, "[2001:db8::1]:5000", n, (size_t)len, 1000), -EINVAL);

	union tern_addr c6 = A("[2001:db8::1]:443");
	len = auth_nonce_new(a, &c6, 1000, n, sizeof(n));
	assert_int_equal(check(a, "[2001:db8::1]:443", n, (size_t)len, 1000), 0);
	assert_int_equal(check(a, "[2001:db8::2]:443", n, (size_t)len, 1000), -EINVAL);
	assert_int_equal(check(a, "[2001:db8::1]:444", n, (size_t)len, 1000), -EINVAL);

	/* another process (another random key) does not accept it */
	struct auth *b = nonce_auth(false, 600);
	assert_int_equal(check(b, "[2001:db8::1]:443", n, (size_t)len, 1000), -EINVAL);
	auth_free(b);
	auth_free(a);
}

static void test_nonce_expiry(void **state)
{
	struct auth *a = nonce_auth(false, 600);
	union tern_addr c = A("192.0.2.1:5000");
	char n[AUTH_NONCE_MAX];
	int len = auth_nonce_new(a, &c, 1700000000, n, sizeof(n));
	assert_int_equal(auth_nonce_lifetime(a), 600);
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, 1700000600), 0);
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, 1700000601), -ESTALE);
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, UINT64_MAX), -ESTALE);
	/* a forged one is forged even when it would also be stale */
	n[len - 1] = n[len - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, 1700000601), -EINVAL);
	auth_free(a);

	/* the expiry is 32-bit: it saturates rather than wrapping */
	a = nonce_auth(false, 60);
	len = auth_nonce_new(a, &c, UINT32_MAX - 10, n, sizeof(n));
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, UINT32_MAX), 0);
	len = auth_nonce_new(a, &c, UINT64_MAX - 10, n, sizeof(n));
	assert_int_equal(len, 16);
	assert_int_equal(check(a, "192.0.2.1:5000", n, (size_t)len, UINT32_MAX), 0);
	auth_free(a);
}

static void tamper_all(const struct auth *a, const char *client, const char *nonce, int len)
{
	union tern_addr c = A(client);
	uint8_t buf[512];

	assert_true(len > 0 && (size_t)len + 8 < sizeof(buf));
	/* every byte, every bit flipped */
	for (int i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, nonce, (size_t)len);
			buf[i] ^= (uint8_t)(1u << bit);
			if (auth_nonce_check(a, &c, buf, (size_t)len, 0) != -EINVAL)
				fail_msg("flip byte %d bit %d accepted", i, bit);
		}
	}
	/* every byte replaced by every other value */
	for (int i = 0; i < len; i++) {
		for (int v = 0; v < 256; v++) {
			memcpy(buf, nonce, (size_t)len);
			if (buf[i] == v)
				continue;
			buf[i] = (uint8_t)v;
			if (auth_nonce_check(a, &c, buf, (size_t)len, 0) != -EINVAL)
				fail_msg("byte %d = 0x%02x accepted", i, v);
		}
	}
	/* truncated */
	for (int l = 0; l < len; l++)
		assert_int_equal(auth_nonce_check(a, &c, (const uint8_t *)nonce, (size_t)l, 0), -EINVAL);
	/* extended */
	static const char tails[][5] = {"A", "=", "AAAA", "\0", "\xff"};
	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t tl = tails[t][0] ? strlen(tails[t]) : 1;
		memcpy(buf, nonce, (size_t)len);
		memcpy(buf + len, tails[t], tl);
		assert_int_equal(auth_nonce_check(a, &c, buf, (size_t)len + tl, 0), -EINVAL);
	}
	/* padding appended base64-style, and swapped halves */
	memcpy(buf, nonce + len / 2, (size_t)(len - len / 2));
	memcpy(buf + len - len / 2, nonce, (size_t)(len / 2));
	assert_int_equal(auth_nonce_check(a, &c, buf, (size_t)len, 0), -EINVAL);
	/* still fine untouched */
	assert_int_equal(auth_nonce_check(a, &c, (const uint8_t *)nonce, (size_t)len, 0), 0);
}

static void test_nonce_tampered(void **state)
{
	struct auth *a = nonce_auth(false, 600), *s = nonce_auth(true, 600);
	union tern_addr c = A("192.0.2.1:5000");
	char n[AUTH_NONCE_MAX];
	int len;

	len = auth_nonce_new(a, &c, 1000, n, sizeof(n));
	tamper_all(a, "192.0.2.1:5000", n, len);
	len = auth_nonce_new(s, &c, 1000, n, sizeof(n));
	tamper_all(s, "192.0.2.1:5000", n, len);
	auth_free(s);
	auth_free(a);
}

static void test_nonce_garbage(void **state)
{
	struct auth *a = nonce_auth(false, 600), *s = nonce_auth(true, 600);
	union tern_addr c = A("192.0.2.1:5000");
	size_t big = 70000;
	uint8_t *buf = malloc(big);
	assert_non_null(buf);

	srand(42);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)rand();
	assert_int_equal(auth_nonce_check(a, &c, NULL, 0, 0), -EINVAL);
	assert_int_equal(auth_nonce_check(a, &c, buf, 0, 0), -EINVAL);
	assert_int_equal(auth_nonce_check(a, &c, buf, big, 0), -EINVAL);
	assert_false(auth_nonce_has_features(NULL, 0));
	assert_false(auth_nonce_has_features(buf, big));
	for (size_t l = 0; l <= 300; l++) {
		assert_int_equal(auth_nonce_check(a, &c, buf + l, l, 0), -EINVAL);
		assert_int_equal(auth_nonce_check(s, &c, buf + l, l, 0), -EINVAL);
		(void)auth_nonce_has_features(buf + l, l);
	}
	/* right length, right alphabet, wrong MAC */
	memset(buf, 'A', 16);
	assert_int_equal(auth_nonce_check(a, &c, buf, 16, 0), -EINVAL);
	memcpy(buf, "obMatJos2AAAD", 13);
	memset(buf + 13, '_', 16);
	assert_int_equal(auth_nonce_check(s, &c, buf, 29, 0), -EINVAL);
	/* right length, high-bit bytes */
	memset(buf, 0xc3, 29);
	assert_int_equal(auth_nonce_check(a, &c, buf, 16, 0), -EINVAL);
	assert_int_equal(auth_nonce_check(s, &c, buf, 29, 0), -EINVAL);
	free(buf);
	auth_free(s);
	auth_free(a);
}

static void test_nonce_features(void **state)
{
	struct auth *s = nonce_auth(true, 600);
	union tern_addr c = A("192.0.2.1:5000");
	char n[AUTH_NONCE_MAX + 1];
	int len = auth_nonce_new(s, &c, 1000, n, sizeof(n));

	assert_true(auth_sha256(s));
	assert_int_equal(len, 29);
	assert_true(len <= AUTH_NONCE_MAX);
	/* static users only: password algorithms (0x1) + username anonymity (0x2) */
	assert_memory_equal(n, "obMatJos2AAAD", 13);
	assert_true(auth_nonce_has_features((const uint8_t *)n, (size_t)len));
	assert_int_equal(check(s, "192.0.2.1:5000", n, (size_t)len, 1000), 0);

	/* bid-down: cookie stripped or feature bits changed → rejected */
	assert_int_equal(check(s, "192.0.2.1:5000", n + 13, 16, 1000), -EINVAL);
	char m[AUTH_NONCE_MAX];
	memcpy(m, n, (size_t)len);
	m[12] = 'B';
	assert_int_equal(check(s, "192.0.2.1:5000", m, (size_t)len, 1000), -EINVAL);
	/* a nonce of a server without the cookie is not accepted either */
	struct auth *plain = nonce_auth(false, 600);
	assert_false(auth_sha256(plain));
	assert_int_equal(check(plain, "192.0.2.1:5000", n, (size_t)len, 1000), -EINVAL);
	auth_free(plain);
	auth_free(s);

	/* with REST secrets, no anonymity bit: USERHASH cannot name them */
	const char *secrets[] = {"north"};
	struct auth_params p = {.realm = REALM, .secrets = secrets, .nsecrets = 1, .sha256 = true};
	s = auth_new(&p);
	assert_non_null(s);
	len = auth_nonce_new(s, &c, 1000, n, sizeof(n));
	assert_int_equal(len, 29);
	assert_memory_equal(n, "obMatJos2AAAB", 13);
	assert_true(auth_nonce_has_features((const uint8_t *)n, (size_t)len));
	auth_free(s);

	/* parsing of other servers' cookies */
	assert_true(auth_nonce_has_features((const uint8_t *)"obMatJos2AAABxyz", 16));
	assert_true(auth_nonce_has_features((const uint8_t *)"obMatJos2AAAD", 13));
	assert_false(auth_nonce_has_features((const uint8_t *)"obMatJos2AAAC", 13)); /* anonymity only */
	assert_false(auth_nonce_has_features((const uint8_t *)"obMatJos2AAAA", 13));
	assert_false(auth_nonce_has_features((const uint8_t *)"obMatJos2AAA", 12));
	assert_false(auth_nonce_has_features((const uint8_t *)"obMatJos2AA=B", 13));
	assert_false(auth_nonce_has_features((const uint8_t *)"obMatJos3AAAB", 13));
	assert_false(auth_nonce_has_features((const uint8_t *)"abcdefghijklmnop", 16));
}

/* ---- REST API ---- */

static void test_rest_credentials(void **state)
{
	char user[128], pw[64], ref[29];

	assert_int_equal(
	    auth_rest_credentials("north", "alice", 1699913600, 86400, user, sizeof(user), pw, sizeof(pw)),
	    0);
	assert_string_equal(user, "1700000000:alice");
	/* echo -n "1700000000:alice" | openssl dgst -sha1 -hmac north -binary | base64 */
	assert_string_equal(pw, "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
	rest_password_ref("north", "1700000000:alice", ref);
	assert_string_equal(pw, ref);

	/* no user: the timestamp alone */
	assert_int_equal(
	    auth_rest_credentials("north", "", 1700000000, 0, user, sizeof(user), pw, sizeof(pw)), 0);
	assert_string_equal(user, "1700000000");
	/* echo -n 1700000000 | openssl dgst -sha1 -hmac north -binary | base64 */
	assert_string_equal(pw, "CWyHi3zCeWqXBir9thl4m+iZPRY=");
	assert_int_equal(
	    auth_rest_credentials("north", NULL, 1700000000, 0, user, sizeof(user), pw, sizeof(pw)), 0);
	assert_string_equal(user, "1700000000");

	/* secrets around the 64-byte HMAC block (longer keys are hashed first) */
	static const size_t lens[] = {1, 63, 64, 65, 200};
	char secret[256];
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(secret, 0, sizeof(secret));
		for (size_t j = 0; j < lens[i]; j++)
			secret[j] = (char)('a' + j % 26);
		assert_int_equal(
		    auth_rest_credentials(secret, "bob", 1700000000, 60, user, sizeof(user), pw, sizeof(pw)),
		    0);
		rest_password_ref(secret, user, ref);
		assert_string_equal(pw, ref);
	}

	/* buffers */
	assert_int_equal(auth_rest_credentials("north", "alice", 1699913600, 86400, user, 16, pw, sizeof(pw)),
	                 -ENOSPC);
	assert_int_equal(auth_rest_credentials("north", "alice", 1699913600, 86400, user, 17, pw, sizeof(pw)),
	                 0);
	assert_int_equal(auth_rest_credentials("north", "alice", 1699913600, 86400, user, 17, pw, 28),
	                 -ENOSPC);
	assert_int_equal(auth_rest_credentials("north", "alice", 1699913600, 86400, user, 17, pw, 29), 0);
	assert_int_equal(auth_rest_credentials("", "alice", 0, 0, user, sizeof(user), pw, sizeof(pw)),
	                 -EINVAL);
	assert_int_equal(auth_rest_credentials(NULL, "alice", 0, 0, user, sizeof(user), pw, sizeof(pw)),
	                 -EINVAL);
}

static void expect_rest_key(const struct auth_key *k, const char *secret, const char *username)
{
	char pw[29], buf[256];
	uint8_t md5[16], sha[32];
	rest_password_ref(secret, username, pw);
	snprintf(buf, sizeof(buf), "%s:%s:%s", username, REALM, pw);
	md5_of(buf, md5);
	sha256_of(buf, sha);
	assert_memory_equal(k->md5, md5, 16);
	assert_true(k->has_sha256);
	assert_memory_equal(k->sha256, sha, 32);
}

static void test_rest_lookup(void **state)
{
	const char *secrets[] = {"north", "south", "east"};
	struct auth_user users[] = {{.name = "bob", .password = "b0b"},
	                            {.name = "a1700000000", .password = "x"}};
	struct auth_params p = {
	    .realm = REALM, .users = users, .nusers = 2, .secrets = secrets, .nsecrets = 1};
	struct auth_key k[AUTH_MAX_KEYS];
	struct auth *a = auth_new(&p);
	assert_non_null(a);

	assert_int_equal(lookup(a, "1700000000:alice", 1699999999, k, AUTH_MAX_KEYS), 1);
	expect_rest_key(&k[0], "north", "1700000000:alice");
	assert_int_equal(lookup(a, "1700000000:alice", 1700000000, k, AUTH_MAX_KEYS), 1);
	assert_int_equal(lookup(a, "1700000000:alice", 1700000001, k, AUTH_MAX_KEYS), -EKEYEXPIRED);
	assert_int_equal(lookup(a, "1700000000", 1600000000, k, AUTH_MAX_KEYS), 1);
	expect_rest_key(&k[0], "north", "1700000000");
	assert_int_equal(lookup(a, "1700000000:", 1600000000, k, AUTH_MAX_KEYS), 1);
	assert_int_equal(lookup(a, "1700000000:a:b:c", 1600000000, k, AUTH_MAX_KEYS), 1);
	expect_rest_key(&k[0], "north", "1700000000:a:b:c");
	/* absurd digit runs saturate instead of wrapping to the past */
	assert_int_equal(lookup(a, "99999999999999999999999999:x", 1700000000, k, AUTH_MAX_KEYS), 1);
	assert_int_equal(lookup(a, "0:x", 1700000000, k, AUTH_MAX_KEYS), -EKEYEXPIRED);

	/* the key is the one a client derives from tern creds' output */
	char user[64], pw[64], buf[256];
	uint8_t md5[16];
	assert_int_equal(
	    auth_rest_credentials("north", "carol", 1700000000, 3600, user, sizeof(user), pw, sizeof(pw)), 0);
	assert_int_equal(lookup(a, user, 1700000000, k, AUTH_MAX_KEYS), 1);
	snprintf(buf, sizeof(buf), "%s:%s:%s", user, REALM, pw);
	md5_of(buf, md5);
	assert_memory_equal(k[0].md5, md5, 16);

	/* not REST form: static users */
	assert_int_equal(lookup(a, "bob", 1700000000, k, AUTH_MAX_KEYS), 1);
	assert_true(k[0].has_sha256);
	assert_int_equal(lookup(a, "a1700000000", 1700000000, k, AUTH_MAX_KEYS), 1);
	assert_int_equal(lookup(a, "x1700000000:alice", 1700000000, k, AUTH_MAX_KEYS), -ENOENT);
	assert_int_equal(lookup(a, ":1700000000", 1700000000, k, AUTH_MAX_KEYS), -ENOENT);
	assert_int_equal(lookup(a, "17000 00000", 1700000000, k, AUTH_MAX_KEYS), -ENOENT);
	assert_int_equal(lookup(a, "-1700000000", 1700000000, k, AUTH_MAX_KEYS), -ENOENT);
	assert_int_equal(lookup(a, "", 1700000000, k, AUTH_MAX_KEYS), -ENOENT);
	auth_free(a);

	/* several secrets (rotation): one key each, in order */
	static const char long_secret[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-long";
	secrets[2] = long_secret;
	p.nsecrets = 3;
	a = auth_new(&p);
	assert_non_null(a);
	assert_int_equal(lookup(a, "1700000000:alice", 1699999999, k, AUTH_MAX_KEYS), 3);
	expect_rest_key(&k[0], "north", "1700000000:alice");
	expect_rest_key(&k[1], "south", "1700000000:alice");
	expect_rest_key(&k[2], long_secret, "1700000000:alice");
	assert_memory_not_equal(k[0].md5, k[1].md5, 16);
	assert_int_equal(lookup(a, "1700000000:alice", 1699999999, k, 2), 2);
	assert_int_equal(lookup(a, "1700000000:alice", 1699999999, k, 0), -ENOSPC);
	auth_free(a);

	/* without secrets a digit name is an ordinary static user */
	struct auth_user digits[] = {{.name = "12345", .password = "p"}};
	struct auth_params q = {.realm = REALM, .users = digits, .nusers = 1};
	a = auth_new(&q);
	assert_non_null(a);
	assert_int_equal(lookup(a, "12345", 1700000000, k, AUTH_MAX_KEYS), 1);
	assert_int_equal(lookup(a, "1700000000:alice", 1, k, AUTH_MAX_KEYS), -ENOENT);
	auth_free(a);
}

static void test_rest_lookup_binary(void **state)
{
	const char *secrets[] = {"north"};
	struct auth_params p = {.realm = REALM, .secrets = secrets, .nsecrets = 1};
	struct auth_key k[AUTH_MAX_KEYS];
	struct auth *a = auth_new(&p);
	static const uint8_t odd[] = {'1', '7', ':', 0, 0xff, 0x80, '\n'};
	uint8_t big[1024];

	assert_non_null(a);
	assert_int_equal(auth_lookup(a, odd, sizeof(odd), 1, k, 1, NULL), 1);
	assert_int_equal(auth_lookup(a, odd, 2, 1, k, 1, NULL), 1);
	assert_int_equal(auth_lookup(a, odd + 3, 4, 1, k, 1, NULL), -ENOENT);
	memset(big, '9', sizeof(big));
	assert_int_equal(auth_lookup(a, big, sizeof(big), 1, k, 1, NULL), 1);
	auth_free(a);
}

/* Where the user's identity starts (per-user quotas): the REST user part,
 * else the whole name. */
static void test_rest_identity(void **state)
{
	static const struct {
		const char *user;
		size_t off;
	} cases[] = {
	    {"1700000000:alice", 11},
	    {"1700000000:a:b:c", 11},
	    {"1700000000", 0},
	    {"1700000000:", 0},
	    {"1:x", 2},
	    {"bob", 0},
	};
	const char *secrets[] = {"north"};
	struct auth_user users[] = {{.name = "bob", .password = "b0b"}};
	struct auth_params p = {
	    .realm = REALM, .users = users, .nusers = 1, .secrets = secrets, .nsecrets = 1};
	struct auth_key k[AUTH_MAX_KEYS];
	struct auth *a = auth_new(&p);
	assert_non_null(a);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = 99;
		const char *u = cases[i].user;
		assert_int_equal(auth_lookup(a, (const uint8_t *)u, strlen(u), 1, k, AUTH_MAX_KEYS, &off), 1);
		assert_int_equal(off, cases[i].off);
	}
	/* failures report the whole name */
	size_t off = 99;
	assert_int_equal(auth_lookup(a, (const uint8_t *)"0:x", 3, 1700000000, k, AUTH_MAX_KEYS, &off),
	                 -EKEYEXPIRED);
	assert_int_equal(off, 0);
	auth_free(a);

	/* without secrets a REST-looking static name is a whole name */
	struct auth_user digits[] = {{.name = "12:carol", .password = "p"}};
	struct auth_params q = {.realm = REALM, .users = digits, .nusers = 1};
	a = auth_new(&q);
	assert_non_null(a);
	off = 99;
	assert_int_equal(auth_lookup(a, (const uint8_t *)"12:carol", 8, 1, k, AUTH_MAX_KEYS, &off), 1);
	assert_int_equal(off, 0);
	auth_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static_key_rfc5769),
	    cmocka_unit_test(test_static_lookup),
	    cmocka_unit_test(test_key_only_user),
	    cmocka_unit_test(test_userhash),
	    cmocka_unit_test(test_new_invalid),
	    cmocka_unit_test(test_nonce_round_trip),
	    cmocka_unit_test(test_nonce_bound_to_address),
	    cmocka_unit_test(test_nonce_expiry),
	    cmocka_unit_test(test_nonce_tampered),
	    cmocka_unit_test(test_nonce_garbage),
	    cmocka_unit_test(test_nonce_features),
	    cmocka_unit_test(test_rest_credentials),
	    cmocka_unit_test(test_rest_lookup),
	    cmocka_unit_test(test_rest_lookup_binary),
	    cmocka_unit_test(test_rest_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
