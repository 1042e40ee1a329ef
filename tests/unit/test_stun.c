/* Unit tests for the STUN wire codec (src/stun), conformance half: RFC 5769
 * and RFC 8489 Appendix B.1 test vectors, message types, and build -> parse
 * round trips of every builder. Malformed input and the mutation loop are
 * in test_stun_parse.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "stun/stun.h"
#include "util/bytes.h"
#include "vectors/stun_rfc.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- helpers ---- */

static const uint8_t *pw(void)
{
	return (const uint8_t *)short_term_pw;
}

static void assert_attr_str(const struct stun_msg *m, uint16_t type, const char *want)
{
	const struct stun_attr *a = stun_find(m, type);

	assert_non_null(a);
	assert_int_equal(a->len, strlen(want));
	assert_memory_equal(a->val, want, a->len);
}

static union tern_addr mkaddr(const char *ip, uint16_t port)
{
	union tern_addr a;

	memset(&a, 0, sizeof(a));
	if (strchr(ip, ':')) {
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a.v6.sin6_addr), 1);
	} else {
		a.v4.sin_family = AF_INET;
		a.v4.sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &a.v4.sin_addr), 1);
	}
	return a;
}

static void assert_addr_eq(const union tern_addr *got, const union tern_addr *want)
{
	assert_int_equal(got->sa.sa_family, want->sa.sa_family);
	if (want->sa.sa_family == AF_INET) {
		assert_int_equal(got->v4.sin_port, want->v4.sin_port);
		assert_memory_equal(&got->v4.sin_addr, &want->v4.sin_addr, 4);
	} else {
		assert_int_equal(got->v6.sin6_port, want->v6.sin6_port);
		assert_memory_equal(&got->v6.sin6_addr, &want->v6.sin6_addr, 16);
	}
}

/* Copy of a buffer into a scratch area so tests can mutate. */
static uint8_t scratch[2048];

static uint8_t *dup_msg(const uint8_t *b, size_t n)
{
	assert_true(n <= sizeof(scratch));
	memcpy(scratch, b, n);
	return scratch;
}

/* ---- RFC 5769 ---- */

static void test_rfc5769_request(void **state)
{
	struct stun_msg m;
	const struct stun_attr *a;
	uint32_t prio;
	uint64_t tie;

	assert_int_equal(stun_parse(&m, rfc5769_request, sizeof(rfc5769_request)), 0);
	assert_int_equal(m.len, sizeof(rfc5769_request));
	assert_int_equal(m.type, 0x0001);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_memory_equal(m.txid, txid1, STUN_TXID_LEN);
	assert_int_equal(m.nattrs, 6);
	assert_int_equal(m.nunknown, 0);
	assert_attr_str(&m, STUN_A_SOFTWARE, "STUN test client");
	assert_attr_str(&m, STUN_A_USERNAME, "evtj:h6vY");
	assert_int_equal(stun_attr_u32(stun_find(&m, STUN_A_PRIORITY), &prio), 0);
	assert_int_equal(prio, 0x6e0001ff);
	assert_int_equal(stun_attr_u64(stun_find(&m, STUN_A_ICE_CONTROLLED), &tie), 0);
	assert_true(tie == 0x932ff9b151263b36ull);
	assert_int_equal(m.mi, 4);
	assert_int_equal(m.fp, 5);
	assert_int_equal(m.mi256, -1);
	a = &m.attrs[m.mi];
	assert_int_equal(a->off, 20 + 20 + 8 + 12 + 16);

	assert_int_equal(stun_check_integrity(&m, pw(), strlen(short_term_pw)), 0);
	assert_int_equal(stun_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", 22), -EBADMSG);
	assert_int_equal(stun_check_integrity_sha256(&m, pw(), strlen(short_term_pw)), -ENOENT);
	assert_int_equal(stun_check_fingerprint(&m), 0);
}

/* Rebuilds a vector with the builder. The RFC 5769 §2.1-2.3 senders padded
 * with 0x20 where tern pads with zero; pad_with patches that in before the
 * integrity is computed, so the result must match byte for byte. */
static void set_padding(uint8_t *val, size_t len, uint8_t pad)
{
	memset(val + len, pad, pad4(len) - len);
}

static void test_rfc5769_request_rebuild(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	uint8_t *v;

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), txid1);
	stun_add_attr(&b, STUN_A_SOFTWARE, S("STUN test client"));
	stun_add_u32(&b, STUN_A_PRIORITY, 0x6e0001ff);
	stun_add_u64(&b, STUN_A_ICE_CONTROLLED, 0x932ff9b151263b36ull);
	v = stun_add_attr(&b, STUN_A_USERNAME, S("evtj:h6vY"));
	assert_non_null(v);
	set_padding(v, 9, 0x20);
	stun_add_integrity(&b, pw(), strlen(short_term_pw));
	stun_add_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), sizeof(rfc5769_request));
	assert_memory_equal(buf, rfc5769_request, sizeof(rfc5769_request));
}

static void test_rfc5769_ipv4(void **state)
{
	struct stun_msg m;
	union tern_addr got, want = mkaddr("192.0.2.1", 32853);
	uint8_t buf[256];
	struct stun_builder b;
	uint8_t *v;

	assert_int_equal(stun_parse(&m, rfc5769_ipv4, sizeof(rfc5769_ipv4)), 0);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_attr_str(&m, STUN_A_SOFTWARE, "test vector");
	assert_int_equal(stun_attr_xaddr(&m, stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &got), 0);
	assert_addr_eq(&got, &want);
	assert_int_equal(stun_check_integrity(&m, pw(), strlen(short_term_pw)), 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_SUCCESS), txid1);
	v = stun_add_attr(&b, STUN_A_SOFTWARE, S("test vector"));
	set_padding(v, 11, 0x20);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &want);
	stun_add_integrity(&b, pw(), strlen(short_term_pw));
	stun_add_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), sizeof(rfc5769_ipv4));
	assert_memory_equal(buf, rfc5769_ipv4, sizeof(rfc5769_ipv4));
}

static void test_rfc5769_ipv6(void **state)
{
	struct stun_msg m;
	union tern_addr got, want = mkaddr("2001:db8:1234:5678:11:2233:4455:6677", 32853);
	uint8_t buf[256];
	struct stun_builder b;
	uint8_t *v;

	assert_int_equal(stun_parse(&m, rfc5769_ipv6, sizeof(rfc5769_ipv6)), 0);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_int_equal(stun_attr_xaddr(&m, stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &got), 0);
	assert_addr_eq(&got, &want);
	assert_int_equal(stun_check_integrity(&m, pw(), strlen(short_term_pw)), 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_SUCCESS), txid1);
	v = stun_add_attr(&b, STUN_A_SOFTWARE, S("test vector"));
	set_padding(v, 11, 0x20);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &want);
	stun_add_integrity(&b, pw(), strlen(short_term_pw));
	stun_add_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), sizeof(rfc5769_ipv6));
	assert_memory_equal(buf, rfc5769_ipv6, sizeof(rfc5769_ipv6));
}

static void test_rfc5769_longterm(void **state)
{
	struct stun_msg m;
	uint8_t key[16], bad[16], buf[256];
	struct stun_builder b;

	assert_int_equal(stun_parse(&m, rfc5769_longterm, sizeof(rfc5769_longterm)), 0);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_attr_str(&m, STUN_A_USERNAME, matrix_user);
	assert_attr_str(&m, STUN_A_NONCE, rfc5769_nonce);
	assert_attr_str(&m, STUN_A_REALM, matrix_realm);

	/* RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password) */
	stun_key_md5(S(matrix_user), S(matrix_realm), S(matrix_pass), key);
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), 0);
	stun_key_md5(S(matrix_user), S(matrix_realm), S("thematrix"), bad);
	assert_int_equal(stun_check_integrity(&m, bad, sizeof(bad)), -EBADMSG);
	assert_int_equal(stun_check_fingerprint(&m), -ENOENT);

	/* Zero padding throughout, so the builder reproduces it as is. */
	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), m.txid);
	stun_add_attr(&b, STUN_A_USERNAME, S(matrix_user));
	stun_add_attr(&b, STUN_A_NONCE, S(rfc5769_nonce));
	stun_add_attr(&b, STUN_A_REALM, S(matrix_realm));
	stun_add_integrity(&b, key, sizeof(key));
	assert_int_equal(stun_build_finish(&b), sizeof(rfc5769_longterm));
	assert_memory_equal(buf, rfc5769_longterm, sizeof(rfc5769_longterm));
}

/* ---- RFC 8489 Appendix B.1 ---- */

static void test_rfc8489_b1_published(void **state)
{
	struct stun_msg m;
	uint8_t uh[32], key[32], mac[32];
	unsigned maclen = 0;
	uint8_t *fixed;
	const size_t mi_off = sizeof(rfc8489_b1_published) - 36;

	/* Header length 0x9c counts the header itself: framing rejects it. */
	assert_int_equal(stun_parse(&m, rfc8489_b1_published, sizeof(rfc8489_b1_published)), -EINVAL);

	fixed = dup_msg(rfc8489_b1_published, sizeof(rfc8489_b1_published));
	wr16(fixed + 2, sizeof(rfc8489_b1_published) - STUN_HEADER_LEN);
	assert_int_equal(stun_parse(&m, fixed, sizeof(rfc8489_b1_published)), 0);
	assert_int_equal(m.nattrs, 4);
	assert_int_equal(m.nunknown, 0);
	assert_attr_str(&m, STUN_A_NONCE, rfc8489_nonce);
	assert_attr_str(&m, STUN_A_REALM, matrix_realm);
	stun_userhash(S(matrix_user), S(matrix_realm), uh);
	assert_int_equal(stun_find(&m, STUN_A_USERHASH)->len, 32);
	assert_memory_equal(stun_find(&m, STUN_A_USERHASH)->val, uh, 32);

	stun_key_sha256(S(matrix_user), S(matrix_realm), S(matrix_pass), key);
	assert_int_equal(m.mi256, 3);
	assert_int_equal(m.attrs[m.mi256].off, mi_off);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), -EBADMSG);

	/* The evidence: HMAC-SHA256 with that key over the bytes exactly as
	 * printed (length field 0x9c, not the 0x88 RFC 8489 §14.6 asks for)
	 * gives the published value. */
	assert_non_null(HMAC(EVP_sha256(), key, sizeof(key), rfc8489_b1_published, mi_off, mac, &maclen));
	assert_int_equal(maclen, 32);
	assert_memory_equal(mac, rfc8489_b1_published + mi_off + 4, 32);
}

static void test_rfc8489_b1_errata(void **state)
{
	struct stun_msg m;
	const struct stun_attr *a;
	uint8_t uh[32], key[32], bad[32], buf[256];
	struct stun_builder b;
	uint8_t alg[4] = {0x00, STUN_PWALG_SHA256, 0x00, 0x00};

	assert_int_equal(stun_parse(&m, rfc8489_b1_errata, sizeof(rfc8489_b1_errata)), 0);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_int_equal(m.nattrs, 5);
	assert_int_equal(m.nunknown, 0);
	stun_userhash(S(matrix_user), S(matrix_realm), uh);
	a = stun_find(&m, STUN_A_USERHASH);
	assert_non_null(a);
	assert_int_equal(a->len, 32);
	assert_memory_equal(a->val, uh, 32);
	assert_attr_str(&m, STUN_A_NONCE, rfc8489_nonce);
	a = stun_find(&m, STUN_A_PASSWORD_ALGORITHM);
	assert_non_null(a);
	assert_int_equal(a->len, 4);
	assert_int_equal(rd16(a->val), STUN_PWALG_SHA256);
	assert_int_equal(rd16(a->val + 2), 0);

	stun_key_sha256(S(matrix_user), S(matrix_realm), S(matrix_pass), key);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), 0);
	stun_key_sha256(S(matrix_user), S(matrix_realm), S("TheMatrix"), bad);
	assert_int_equal(stun_check_integrity_sha256(&m, bad, sizeof(bad)), -EBADMSG);
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), -ENOENT);

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), m.txid);
	stun_add_attr(&b, STUN_A_USERHASH, uh, sizeof(uh));
	stun_add_attr(&b, STUN_A_NONCE, S(rfc8489_nonce));
	stun_add_attr(&b, STUN_A_REALM, S(matrix_realm));
	stun_add_attr(&b, STUN_A_PASSWORD_ALGORITHM, alg, sizeof(alg));
	stun_add_integrity_sha256(&b, key, sizeof(key));
	assert_int_equal(stun_build_finish(&b), sizeof(rfc8489_b1_errata));
	assert_memory_equal(buf, rfc8489_b1_errata, sizeof(rfc8489_b1_errata));
}

static void test_keys(void **state)
{
	uint8_t k1[16], k2[16], h[32];
	/* MD5("user:realm:pass") and SHA-256("user:realm"), from coreutils
	 * md5sum / sha256sum. */
	static const uint8_t md5_urp[16] = {0x84, 0x93, 0xfb, 0xc5, 0x3b, 0xa5, 0x82, 0xfb,
	                                    0x4c, 0x04, 0x4c, 0x45, 0x6b, 0xdc, 0x40, 0xeb};
	static const uint8_t sha_ur[32] = {0x6a, 0x30, 0x29, 0x11, 0x6b, 0x47, 0xaa, 0x98, 0xbc, 0xaa, 0x32,
	                                   0x53, 0x99, 0x73, 0x3d, 0xc1, 0xa2, 0x3c, 0xd5, 0x7e, 0x26, 0xb8,
	                                   0x1b, 0xef, 0x3f, 0xf6, 0x53, 0x1c, 0xe6, 0x24, 0xe2, 0xda};

	stun_key_md5(S("user"), S("realm"), S("pass"), k1);
	assert_memory_equal(k1, md5_urp, 16);
	/* Inputs are bytes: the separator is not guessed from the parts. */
	stun_key_md5(S("user:realm"), S(""), S("pass"), k2);
	assert_memory_not_equal(k1, k2, 16);
	stun_userhash(S("user"), S("realm"), h);
	assert_memory_equal(h, sha_ur, 32);
}

/* ---- message type ---- */

static void test_type_roundtrip(void **state)
{
	for (unsigned method = 0; method <= 0xFFF; method++) {
		for (int cls = STUN_REQUEST; cls <= STUN_ERROR; cls++) {
			uint16_t t = stun_type((uint16_t)method, (enum stun_class)cls);

			assert_int_equal(t & 0xC000, 0);
			assert_int_equal(stun_type_method(t), method);
			assert_int_equal(stun_type_class(t), cls);
		}
	}
	/* Known wire values (RFC 8489 §5 and §18.2, RFC 8656 §17). */
	assert_int_equal(stun_type(STUN_BINDING, STUN_REQUEST), 0x0001);
	assert_int_equal(stun_type(STUN_BINDING, STUN_INDICATION), 0x0011);
	assert_int_equal(stun_type(STUN_BINDING, STUN_SUCCESS), 0x0101);
	assert_int_equal(stun_type(STUN_BINDING, STUN_ERROR), 0x0111);
	assert_int_equal(stun_type(TURN_ALLOCATE, STUN_REQUEST), 0x0003);
	assert_int_equal(stun_type(TURN_ALLOCATE, STUN_ERROR), 0x0113);
	assert_int_equal(stun_type(TURN_REFRESH, STUN_SUCCESS), 0x0104);
	assert_int_equal(stun_type(TURN_SEND, STUN_INDICATION), 0x0016);
	assert_int_equal(stun_type(TURN_DATA, STUN_INDICATION), 0x0017);
	assert_int_equal(stun_type(TURN_CREATE_PERMISSION, STUN_REQUEST), 0x0008);
	assert_int_equal(stun_type(TURN_CHANNEL_BIND, STUN_SUCCESS), 0x0109);
	assert_int_equal(stun_type(TURN_CONNECTION_ATTEMPT, STUN_INDICATION), 0x001c);
	assert_int_equal(stun_type(0xFFF, STUN_ERROR), 0x3FFF);
	/* Bits above the 12-bit method are dropped, not spilled into the
	 * top two bits. */
	assert_int_equal(stun_type(0xF001, STUN_REQUEST), 0x0001);
}

/* ---- builder round trips ---- */

static void build_start(struct stun_builder *b, uint8_t *buf, size_t cap)
{
	stun_build_init(b, buf, cap, stun_type(TURN_ALLOCATE, STUN_SUCCESS), txid1);
	assert_int_equal(b->err, 0);
	assert_int_equal(b->len, STUN_HEADER_LEN);
}

static void parse_built(struct stun_msg *m, struct stun_builder *b)
{
	int n = stun_build_finish(b);

	assert_true(n > 0);
	assert_int_equal(rd16(b->buf + 2), n - STUN_HEADER_LEN);
	assert_int_equal(stun_parse(m, b->buf, (size_t)n), 0);
}

static void test_build_addresses(void **state)
{
	const char *ips[] = {"192.0.2.1", "0.0.0.0",         "255.255.255.255", "2001:db8::1",
	                     "::",        "::ffff:10.0.0.1", "fe80::1:2:3:4"};
	const uint16_t ports[] = {0, 1, 3478, 32853, 65535};
	uint8_t buf[512];

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		for (size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			union tern_addr want = mkaddr(ips[i], ports[j]), got;
			struct stun_builder b;
			struct stun_msg m;
			const struct stun_attr *a;
			size_t alen = want.sa.sa_family == AF_INET ? 8 : 20;

			build_start(&b, buf, sizeof(buf));
			stun_add_xaddr(&b, STUN_A_XOR_RELAYED_ADDRESS, &want);
			stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &want);
			stun_add_addr(&b, STUN_A_ALTERNATE_SERVER, &want);
			stun_add_addr(&b, STUN_A_MAPPED_ADDRESS, &want);
			parse_built(&m, &b);
			assert_int_equal(m.nattrs, 4);

			a = stun_find(&m, STUN_A_XOR_RELAYED_ADDRESS);
			assert_int_equal(a->len, alen);
			assert_int_equal(stun_attr_xaddr(&m, a, &got), 0);
			assert_addr_eq(&got, &want);
			assert_int_equal(stun_attr_xaddr(&m, stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &got),
			                 0);
			assert_addr_eq(&got, &want);
			a = stun_find(&m, STUN_A_ALTERNATE_SERVER);
			assert_int_equal(stun_attr_addr(a, &got), 0);
			assert_addr_eq(&got, &want);
			/* Plain form on the wire: port and address in clear. */
			assert_int_equal(rd16(a->val + 2), ports[j]);
			assert_int_equal(stun_attr_addr(stun_find(&m, STUN_A_MAPPED_ADDRESS), &got), 0);
			assert_addr_eq(&got, &want);
		}
	}
}

static void test_build_address_bad_family(void **state)
{
	uint8_t buf[128];
	struct stun_builder b;
	union tern_addr a;

	memset(&a, 0, sizeof(a));
	a.sa.sa_family = AF_UNIX;
	build_start(&b, buf, sizeof(buf));
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &a);
	assert_int_equal(stun_build_finish(&b), -EINVAL);
	build_start(&b, buf, sizeof(buf));
	stun_add_addr(&b, STUN_A_MAPPED_ADDRESS, &a);
	assert_int_equal(stun_build_finish(&b), -EINVAL);
}

static void test_decode_address_malformed(void **state)
{
	struct stun_msg m;
	union tern_addr out;
	uint8_t val[24] = {0, 1, 0x12, 0x34, 1, 2, 3, 4};
	struct stun_attr a = {.type = STUN_A_XOR_PEER_ADDRESS, .val = val};

	m.txid = txid1;
	a.len = 8;
	assert_int_equal(stun_attr_addr(&a, &out), 0);
	assert_int_equal(out.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(out.v4.sin_port), 0x1234);
	/* The leading byte is reserved and ignored. */
	val[0] = 0xff;
	assert_int_equal(stun_attr_xaddr(&m, &a, &out), 0);
	/* Length must match the family (RFC 8489 §14.1). */
	for (uint16_t len = 0; len <= 24; len++) {
		a.len = len;
		val[1] = STUN_FAMILY_IPV4;
		assert_int_equal(stun_attr_addr(&a, &out), len == 8 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_xaddr(&m, &a, &out), len == 8 ? 0 : -EINVAL);
		val[1] = STUN_FAMILY_IPV6;
		assert_int_equal(stun_attr_addr(&a, &out), len == 20 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_xaddr(&m, &a, &out), len == 20 ? 0 : -EINVAL);
	}
	for (unsigned fam = 0; fam < 256; fam++) {
		if (fam == STUN_FAMILY_IPV4 || fam == STUN_FAMILY_IPV6)
			continue;
		val[1] = (uint8_t)fam;
		a.len = 8;
		assert_int_equal(stun_attr_addr(&a, &out), -EINVAL);
		a.len = 20;
		assert_int_equal(stun_attr_xaddr(&m, &a, &out), -EINVAL);
	}
}

static void test_build_error(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	const struct stun_attr *a;
	const uint8_t *reason;
	size_t rlen;
	int code;

	build_start(&b, buf, sizeof(buf));
	stun_add_error(&b, 438, "Stale Nonce");
	parse_built(&m, &b);
	a = stun_find(&m, STUN_A_ERROR_CODE);
	assert_int_equal(a->len, 4 + 11);
	assert_int_equal(a->val[0], 0);
	assert_int_equal(a->val[1], 0);
	assert_int_equal(a->val[2], 4);
	assert_int_equal(a->val[3], 38);
	assert_int_equal(stun_attr_error(a, &code, &reason, &rlen), 0);
	assert_int_equal(code, 438);
	assert_int_equal(rlen, 11);
	assert_memory_equal(reason, "Stale Nonce", 11);

	/* Every valid code, without a reason phrase. */
	for (code = 300; code <= 699; code++) {
		int got;

		build_start(&b, buf, sizeof(buf));
		stun_add_error(&b, code, NULL);
		parse_built(&m, &b);
		a = stun_find(&m, STUN_A_ERROR_CODE);
		assert_int_equal(a->len, 4);
		assert_int_equal(stun_attr_error(a, &got, &reason, &rlen), 0);
		assert_int_equal(got, code);
		assert_int_equal(rlen, 0);
	}
	/* RFC 8489 §14.8: 300..699 only. */
	build_start(&b, buf, sizeof(buf));
	stun_add_error(&b, 299, NULL);
	assert_int_equal(stun_build_finish(&b), -EINVAL);
	build_start(&b, buf, sizeof(buf));
	stun_add_error(&b, 700, "x");
	assert_int_equal(stun_build_finish(&b), -EINVAL);
}

static void test_decode_error_malformed(void **state)
{
	uint8_t val[8] = {0xff, 0xff, 0xf8 | 4, 20, 'a', 'b'};
	struct stun_attr a = {.type = STUN_A_ERROR_CODE, .val = val, .len = 6};
	const uint8_t *reason;
	size_t rlen;
	int code;

	/* Reserved bits, including the 5 above the class, are ignored. */
	assert_int_equal(stun_attr_error(&a, &code, &reason, &rlen), 0);
	assert_int_equal(code, 420);
	assert_int_equal(rlen, 2);
	for (uint16_t len = 0; len < 4; len++) {
		a.len = len;
		assert_int_equal(stun_attr_error(&a, &code, &reason, &rlen), -EINVAL);
	}
	a.len = 4;
	for (int cls = 0; cls < 8; cls++) {
		val[2] = (uint8_t)cls;
		val[3] = 0;
		assert_int_equal(stun_attr_error(&a, &code, &reason, &rlen),
		                 cls >= 3 && cls <= 6 ? 0 : -EINVAL);
	}
	val[2] = 4;
	for (int num = 0; num < 256; num++) {
		val[3] = (uint8_t)num;
		assert_int_equal(stun_attr_error(&a, &code, &reason, &rlen), num <= 99 ? 0 : -EINVAL);
	}
}

static void test_build_unknown(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	const struct stun_attr *a;
	const uint16_t types[] = {0x0002, 0x7777, 0x0031};

	build_start(&b, buf, sizeof(buf));
	stun_add_error(&b, 420, stun_reason(420));
	stun_add_unknown(&b, types, 3);
	parse_built(&m, &b);
	a = stun_find(&m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_int_equal(a->len, 6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rd16(a->val + 2 * i), types[i]);
	assert_int_equal(rd16(a->val + 6), 0); /* zero padding */

	build_start(&b, buf, sizeof(buf));
	stun_add_unknown(&b, types, 0);
	parse_built(&m, &b);
	assert_int_equal(stun_find(&m, STUN_A_UNKNOWN_ATTRIBUTES)->len, 0);
}

static void test_build_small_attrs(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	const struct stun_attr *a;
	uint16_t ch;
	uint8_t proto, fam;
	uint32_t u32;
	uint64_t u64;

	build_start(&b, buf, sizeof(buf));
	stun_add_channel(&b, 0x4001);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	stun_add_family(&b, STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	stun_add_family(&b, STUN_A_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
	stun_add_u32(&b, STUN_A_LIFETIME, 600);
	stun_add_u64(&b, STUN_A_RESERVATION_TOKEN, 0x0102030405060708ull);
	parse_built(&m, &b);
	assert_int_equal(m.nattrs, 6);

	a = stun_find(&m, STUN_A_CHANNEL_NUMBER);
	assert_int_equal(a->len, 4);
	assert_int_equal(rd16(a->val + 2), 0); /* RFFU */
	assert_int_equal(stun_attr_channel(a, &ch), 0);
	assert_int_equal(ch, 0x4001);
	a = stun_find(&m, STUN_A_REQUESTED_TRANSPORT);
	assert_memory_equal(a->val, "\x11\0\0\0", 4);
	assert_int_equal(stun_attr_transport(a, &proto), 0);
	assert_int_equal(proto, 17);
	assert_int_equal(stun_attr_family(stun_find(&m, STUN_A_REQUESTED_ADDRESS_FAMILY), &fam), 0);
	assert_int_equal(fam, STUN_FAMILY_IPV6);
	assert_int_equal(stun_attr_family(stun_find(&m, STUN_A_ADDITIONAL_ADDRESS_FAMILY), &fam), 0);
	assert_int_equal(fam, STUN_FAMILY_IPV4);
	assert_int_equal(stun_attr_u32(stun_find(&m, STUN_A_LIFETIME), &u32), 0);
	assert_int_equal(u32, 600);
	assert_int_equal(stun_attr_u64(stun_find(&m, STUN_A_RESERVATION_TOKEN), &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);

	/* Fixed-size decoders refuse any other length. */
	for (uint16_t len = 0; len <= 12; len++) {
		struct stun_attr x = {.type = 1, .len = len, .val = buf};
		bool r;

		assert_int_equal(stun_attr_u32(&x, &u32), len == 4 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_u64(&x, &u64), len == 8 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_channel(&x, &ch), len == 4 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_transport(&x, &proto), len == 4 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_family(&x, &fam), len == 4 ? 0 : -EINVAL);
		assert_int_equal(stun_attr_even_port(&x, &r), len == 1 ? 0 : -EINVAL);
	}
}

static void test_even_port(void **state)
{
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_msg m;
	bool r = false;

	build_start(&b, buf, sizeof(buf));
	stun_add_attr(&b, STUN_A_EVEN_PORT, "\x80", 1);
	parse_built(&m, &b);
	assert_int_equal(stun_attr_even_port(stun_find(&m, STUN_A_EVEN_PORT), &r), 0);
	assert_true(r);
	build_start(&b, buf, sizeof(buf));
	stun_add_attr(&b, STUN_A_EVEN_PORT, "\x7f", 1);
	parse_built(&m, &b);
	assert_int_equal(stun_attr_even_port(stun_find(&m, STUN_A_EVEN_PORT), &r), 0);
	assert_false(r);
}

static void test_build_integrity_fingerprint(void **state)
{
	const uint8_t key[] = "a long-term key of any length";
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	int n;

	build_start(&b, buf, sizeof(buf));
	stun_add_attr(&b, STUN_A_SOFTWARE, S("tern"));
	stun_add_u32(&b, STUN_A_LIFETIME, 3600);
	stun_add_integrity(&b, key, sizeof(key));
	stun_add_integrity_sha256(&b, key, sizeof(key));
	stun_add_fingerprint(&b);
	n = stun_build_finish(&b);
	parse_built(&m, &b);
	assert_int_equal(m.mi, 2);
	assert_int_equal(m.mi256, 3);
	assert_int_equal(m.fp, 4);
	assert_int_equal(m.attrs[m.mi].len, 20);
	assert_int_equal(m.attrs[m.mi256].len, 32);
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), 0);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);
	/* (Not key minus its trailing NUL: HMAC zero-pads short keys, so
	 * that would be the same key.) */
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key) - 2), -EBADMSG);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key) - 2), -EBADMSG);

	/* One flipped bit anywhere: each check covering that byte fails. */
	for (int i = 0; i < n; i++) {
		uint8_t *c = dup_msg(buf, (size_t)n);

		c[i] ^= 0x01;
		if (stun_parse(&m, c, (size_t)n) != 0)
			continue; /* header or attribute framing broken */
		/* header 20, SOFTWARE 8, LIFETIME 8, MI 24, MI-SHA256 36 */
		if (i < 20 + 8 + 8 + 24 && m.mi >= 0)
			assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), -EBADMSG);
		if (i < 20 + 8 + 8 + 24 + 36 && m.mi256 >= 0)
			assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), -EBADMSG);
		if (m.fp >= 0)
			assert_int_equal(stun_check_fingerprint(&m), -EBADMSG);
	}

	/* Empty key and NULL key are the same (short-term, empty password). */
	build_start(&b, buf, sizeof(buf));
	stun_add_integrity(&b, NULL, 0);
	parse_built(&m, &b);
	assert_int_equal(stun_check_integrity(&m, (const uint8_t *)"", 0), 0);
	assert_int_equal(stun_check_integrity(&m, NULL, 0), 0);
	assert_int_equal(stun_check_integrity(&m, (const uint8_t *)"x", 1), -EBADMSG);
}

static void test_build_length_tracking(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct stun_msg m;
	uint8_t *p;

	memset(buf, 0xAA, sizeof(buf));
	build_start(&b, buf, sizeof(buf));
	assert_int_equal(rd16(buf + 2), 0);
	assert_int_equal(rd32(buf + 4), STUN_MAGIC_COOKIE);
	assert_memory_equal(buf + 8, txid1, 12);
	assert_int_equal(stun_parse(&m, buf, b.len), 0);
	for (uint16_t len = 0; len < 9; len++) {
		size_t before = b.len;

		p = stun_add_attr(&b, STUN_A_DATA, NULL, len);
		assert_non_null(p);
		assert_true(p == buf + before + 4);
		/* Value and padding zeroed even with no source bytes. */
		for (size_t i = 0; i < pad4(len); i++)
			assert_int_equal(p[i], 0);
		assert_int_equal(b.len, before + 4 + pad4(len));
		assert_int_equal(rd16(buf + 2), b.len - STUN_HEADER_LEN);
		assert_int_equal(stun_parse(&m, buf, b.len), 0);
		assert_int_equal(m.attrs[m.nattrs - 1].len, len);
	}
	/* The value pointer lets a caller fill a value in later. */
	p = stun_add_attr(&b, STUN_A_SOFTWARE, NULL, 3);
	memcpy(p, "abc", 3);
	assert_int_equal(stun_parse(&m, buf, b.len), 0);
	assert_attr_str(&m, STUN_A_SOFTWARE, "abc");
}

static void test_build_nospace(void **state)
{
	uint8_t buf[64];
	struct stun_builder b;
	const uint8_t k[] = "k";

	/* Not even a header. */
	stun_build_init(&b, buf, STUN_HEADER_LEN - 1, 0x0001, txid1);
	assert_int_equal(stun_build_finish(&b), -ENOSPC);
	assert_null(stun_add_attr(&b, STUN_A_SOFTWARE, "x", 1));
	assert_int_equal(stun_build_finish(&b), -ENOSPC);

	/* Exactly enough, then one byte short. */
	stun_build_init(&b, buf, 20 + 8, 0x0001, txid1);
	assert_non_null(stun_add_attr(&b, STUN_A_SOFTWARE, "abcd", 4));
	assert_int_equal(stun_build_finish(&b), 28);
	stun_build_init(&b, buf, 20 + 7, 0x0001, txid1);
	assert_null(stun_add_attr(&b, STUN_A_SOFTWARE, "abc", 3)); /* padding counts */
	assert_int_equal(b.err, -ENOSPC);
	assert_int_equal(b.len, 20);
	assert_int_equal(rd16(buf + 2), 0);
	/* Sticky: later calls are no-ops, even ones that would fit. */
	assert_null(stun_add_attr(&b, STUN_A_SOFTWARE, NULL, 0));
	stun_add_u32(&b, STUN_A_LIFETIME, 1);
	stun_add_fingerprint(&b);
	assert_int_equal(b.len, 20);
	assert_int_equal(stun_build_finish(&b), -ENOSPC);

	/* Each builder call on a full buffer. */
	for (int which = 0; which < 12; which++) {
		union tern_addr a6 = mkaddr("2001:db8::1", 1);
		const uint16_t t[] = {1, 2, 3};

		stun_build_init(&b, buf, 20 + 4 + 19, 0x0001, txid1);
		switch (which) {
		case 0:
			stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &a6);
			break;
		case 1:
			stun_add_addr(&b, STUN_A_MAPPED_ADDRESS, &a6);
			break;
		case 2:
			stun_add_error(&b, 400, "a reason that is too long");
			break;
		case 3:
			stun_add_integrity(&b, k, 1);
			break;
		case 4:
			stun_add_integrity_sha256(&b, k, 1);
			break;
		case 5:
			stun_add_attr(&b, STUN_A_DATA, NULL, 17);
			break;
		default:
			/* These fit in 43 bytes once; fill up first. */
			stun_add_attr(&b, STUN_A_DATA, NULL, 16);
			switch (which) {
			case 6:
				stun_add_u32(&b, STUN_A_LIFETIME, 1);
				break;
			case 7:
				stun_add_u64(&b, STUN_A_RESERVATION_TOKEN, 1);
				break;
			case 8:
				stun_add_channel(&b, 0x4000);
				break;
			case 9:
				stun_add_transport(&b, 17);
				break;
			case 10:
				stun_add_unknown(&b, t, 3);
				break;
			default:
				stun_add_fingerprint(&b);
				break;
			}
		}
		assert_int_equal(stun_build_finish(&b), -ENOSPC);
	}
}

static void test_build_limits(void **state)
{
	static uint8_t big[70000];
	struct stun_builder b;
	struct stun_msg m;
	int n;

	/* An attribute value longer than its 16-bit length field. */
	stun_build_init(&b, big, sizeof(big), 0x0001, txid1);
	assert_null(stun_add_attr(&b, STUN_A_DATA, NULL, 65536));
	assert_int_equal(stun_build_finish(&b), -EINVAL);

	/* The largest message that still fits STUN_MAX_MSG is accepted; one
	 * more byte of value is not, even with room in the buffer. */
	stun_build_init(&b, big, sizeof(big), 0x0001, txid1);
	assert_non_null(stun_add_attr(&b, STUN_A_DATA, NULL, STUN_MAX_MSG - 20 - 4 - 3));
	n = stun_build_finish(&b);
	assert_int_equal(n, STUN_MAX_MSG - 3);
	assert_int_equal(stun_parse(&m, big, (size_t)n), 0);
	stun_build_init(&b, big, sizeof(big), 0x0001, txid1);
	assert_null(stun_add_attr(&b, STUN_A_DATA, NULL, STUN_MAX_MSG - 20 - 4 - 2));
	assert_int_equal(stun_build_finish(&b), -ENOSPC);

	/* A type with the top bits set is refused. */
	stun_build_init(&b, big, sizeof(big), 0x4001, txid1);
	assert_int_equal(stun_build_finish(&b), -EINVAL);
}

static void test_reasons(void **state)
{
	static const struct {
		int code;
		const char *reason;
	} want[] = {
	    {300, "Try Alternate"},
	    {400, "Bad Request"},
	    {401, "Unauthenticated"},
	    {403, "Forbidden"},
	    {405, "Mobility Forbidden"},
	    {420, "Unknown Attribute"},
	    {437, "Allocation Mismatch"},
	    {438, "Stale Nonce"},
	    {440, "Address Family not Supported"},
	    {441, "Wrong Credentials"},
	    {442, "Unsupported Transport Protocol"},
	    {443, "Peer Address Family Mismatch"},
	    {446, "Connection Already Exists"},
	    {447, "Connection Timeout or Failure"},
	    {486, "Allocation Quota Reached"},
	    {487, "Role Conflict"},
	    {500, "Server Error"},
	    {508, "Insufficient Capacity"},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(stun_reason(want[i].code), want[i].reason);
	assert_string_equal(stun_reason(0), "");
	assert_string_equal(stun_reason(399), "");
	assert_string_equal(stun_reason(-1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5769_request),
	    cmocka_unit_test(test_rfc5769_request_rebuild),
	    cmocka_unit_test(test_rfc5769_ipv4),
	    cmocka_unit_test(test_rfc5769_ipv6),
	    cmocka_unit_test(test_rfc5769_longterm),
	    cmocka_unit_test(test_rfc8489_b1_published),
	    cmocka_unit_test(test_rfc8489_b1_errata),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_type_roundtrip),
	    cmocka_unit_test(test_build_addresses),
	    cmocka_unit_test(test_build_address_bad_family),
	    cmocka_unit_test(test_decode_address_malformed),
	    cmocka_unit_test(test_build_error),
	    cmocka_unit_test(test_decode_error_malformed),
	    cmocka_unit_test(test_build_unknown),
	    cmocka_unit_test(test_build_small_attrs),
	    cmocka_unit_test(test_even_port),
	    cmocka_unit_test(test_build_integrity_fingerprint),
	    cmocka_unit_test(test_build_length_tracking),
	    cmocka_unit_test(test_build_nospace),
	    cmocka_unit_test(test_build_limits),
	    cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
