/* Unit tests for the STUN wire codec (src/stun), robustness half: every
 * framing check of stun_parse(), attribute ordering rules, integrity and
 * fingerprint failures, stream framing, ChannelData, and a deterministic
 * mutation loop over the RFC vectors. */
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

/* ---- helpers ---- */

static const uint8_t *pw(void)
{
	return (const uint8_t *)short_term_pw;
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

/* Copy of a buffer into a scratch area so tests can mutate. */
static uint8_t scratch[2048];

static uint8_t *dup_msg(const uint8_t *b, size_t n)
{
	assert_true(n <= sizeof(scratch));
	memcpy(scratch, b, n);
	return scratch;
}

/* Appends a raw attribute to a message in buf and fixes the header length;
 * lets tests place attributes where a builder would not. */
static size_t append_raw(uint8_t *buf, size_t len, uint16_t type, const void *val, uint16_t vlen)
{
	wr16(buf + len, type);
	wr16(buf + len + 2, vlen);
	memcpy(buf + len + 4, val, vlen);
	memset(buf + len + 4 + vlen, 0, pad4(vlen) - vlen);
	len += 4 + pad4(vlen);
	wr16(buf + 2, (uint16_t)(len - STUN_HEADER_LEN));
	return len;
}

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

/* ---- malformed input ---- */

static size_t small_msg(uint8_t *buf)
{
	memset(buf, 0, STUN_HEADER_LEN);
	wr16(buf, 0x0001);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid1, STUN_TXID_LEN);
	return append_raw(buf, STUN_HEADER_LEN, STUN_A_SOFTWARE, "abcde", 5);
}

static void test_parse_header_checks(void **state)
{
	struct stun_msg m;
	uint8_t buf[64];
	size_t n = small_msg(buf);

	assert_int_equal(n, 32);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	/* Too short for a header; a bare header is fine. */
	for (size_t len = 0; len < STUN_HEADER_LEN; len++)
		assert_int_equal(stun_parse(&m, buf, len), -EINVAL);
	wr16(buf + 2, 0);
	assert_int_equal(stun_parse(&m, buf, STUN_HEADER_LEN), 0);
	assert_int_equal(m.nattrs, 0);
	wr16(buf + 2, 12);

	/* Top two bits. */
	buf[0] |= 0x80;
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	buf[0] = 0x40;
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	buf[0] = 0x00;

	/* Cookie. */
	buf[7] ^= 1;
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	buf[7] ^= 1;

	/* Length not a multiple of 4, and header length vs datagram. */
	wr16(buf + 2, 13);
	assert_int_equal(stun_parse(&m, buf, 33), -EINVAL);
	wr16(buf + 2, 16);
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	wr16(buf + 2, 8);
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	wr16(buf + 2, 12);
	assert_int_equal(stun_parse(&m, buf, n + 4), -EINVAL); /* trailing bytes */
	assert_int_equal(stun_parse(&m, buf, n), 0);
}

static void test_parse_attr_bounds(void **state)
{
	struct stun_msg m;
	uint8_t buf[64];
	size_t n = small_msg(buf);

	/* Value running past the end. */
	wr16(buf + 22, 9);
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	wr16(buf + 22, 0xFFFF);
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
	/* Padding missing: the message ends right after the 5-byte value
	 * (caught as a length that is not a multiple of 4, since attributes
	 * start 4-aligned). */
	wr16(buf + 2, 9);
	wr16(buf + 22, 5);
	assert_int_equal(stun_parse(&m, buf, 29), -EINVAL);
	/* Value of exactly 8 bytes, no padding needed: fits. */
	wr16(buf + 2, 12);
	wr16(buf + 22, 8);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	/* A zero-length attribute at the very end is fine. */
	n = small_msg(buf);
	n = append_raw(buf, n, STUN_A_SOFTWARE, "", 0);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 2);
	/* Messages bigger than STUN_MAX_MSG are refused outright. */
	assert_int_equal(stun_parse(&m, buf, STUN_MAX_MSG + 1), -EINVAL);
}

static void test_parse_max_attrs(void **state)
{
	struct stun_msg m;
	uint8_t buf[512];
	size_t n = small_msg(buf);

	for (int i = 1; i < STUN_MAX_ATTRS; i++)
		n = append_raw(buf, n, STUN_A_SOFTWARE, "", 0);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, STUN_MAX_ATTRS);
	n = append_raw(buf, n, STUN_A_SOFTWARE, "", 0);
	assert_int_equal(stun_parse(&m, buf, n), -EINVAL);
}

static void test_parse_unknown(void **state)
{
	struct stun_msg m;
	uint8_t buf[512];
	size_t n = small_msg(buf);

	n = append_raw(buf, n, 0x0002, "x", 1); /* RESPONSE-ADDRESS: gone in RFC 5389 */
	n = append_raw(buf, n, 0x8055, "y", 1); /* comprehension-optional */
	n = append_raw(buf, n, 0x7FFF, "", 0);
	n = append_raw(buf, n, 0x0002, "x", 1); /* duplicate: listed once */
	n = append_raw(buf, n, STUN_A_LIFETIME, "\0\0\0\1", 4);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 6);
	assert_int_equal(m.nunknown, 2);
	assert_int_equal(m.unknown[0], 0x0002);
	assert_int_equal(m.unknown[1], 0x7FFF);
	/* Unknown attributes stay visible to stun_find. */
	assert_non_null(stun_find(&m, 0x8055));

	/* Every enumerated comprehension-required type is known. */
	n = small_msg(buf);
	{
		const uint16_t known[] = {
		    STUN_A_MAPPED_ADDRESS,
		    STUN_A_CHANGE_REQUEST,
		    STUN_A_USERNAME,
		    STUN_A_ERROR_CODE,
		    STUN_A_UNKNOWN_ATTRIBUTES,
		    STUN_A_CHANNEL_NUMBER,
		    STUN_A_LIFETIME,
		    STUN_A_XOR_PEER_ADDRESS,
		    STUN_A_DATA,
		    STUN_A_REALM,
		    STUN_A_NONCE,
		    STUN_A_XOR_RELAYED_ADDRESS,
		    STUN_A_REQUESTED_ADDRESS_FAMILY,
		    STUN_A_EVEN_PORT,
		    STUN_A_REQUESTED_TRANSPORT,
		    STUN_A_DONT_FRAGMENT,
		    STUN_A_PASSWORD_ALGORITHM,
		    STUN_A_USERHASH,
		    STUN_A_XOR_MAPPED_ADDRESS,
		    STUN_A_RESERVATION_TOKEN,
		    STUN_A_PRIORITY,
		    STUN_A_USE_CANDIDATE,
		    STUN_A_PADDING,
		    STUN_A_RESPONSE_PORT,
		    STUN_A_CONNECTION_ID,
		};
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			n = append_raw(buf, n, known[i], "", 0);
		assert_int_equal(stun_parse(&m, buf, n), 0);
		assert_int_equal(m.nunknown, 0);
	}

	/* More distinct unknowns than unknown[] holds: the first ones kept. */
	n = small_msg(buf);
	for (uint16_t t = 0x0100; t < 0x0100 + STUN_MAX_UNKNOWN + 4; t++)
		n = append_raw(buf, n, t, "", 0);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nunknown, STUN_MAX_UNKNOWN);
	for (unsigned i = 0; i < STUN_MAX_UNKNOWN; i++)
		assert_int_equal(m.unknown[i], 0x0100 + i);
}

static void test_parse_after_integrity(void **state)
{
	const uint8_t key[] = "secret";
	uint8_t buf[512];
	struct stun_builder b;
	struct stun_msg m;
	size_t n;

	/* Attributes after MESSAGE-INTEGRITY other than MI-SHA256 and
	 * FINGERPRINT are ignored, unknown ones included; the HMAC still
	 * verifies because its length is adjusted to end at MI. */
	build_start(&b, buf, sizeof(buf));
	stun_add_u32(&b, STUN_A_LIFETIME, 1);
	stun_add_integrity(&b, key, sizeof(key));
	n = (size_t)stun_build_finish(&b);
	n = append_raw(buf, n, STUN_A_DATA, "evil", 4);
	n = append_raw(buf, n, 0x0077, "", 0);
	n = append_raw(buf, n, STUN_A_MESSAGE_INTEGRITY, "01234567890123456789", 20);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 2);
	assert_null(stun_find(&m, STUN_A_DATA));
	assert_int_equal(m.nunknown, 0);
	assert_int_equal(m.mi, 1);
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), 0);

	/* MI, then MI-SHA256 and FINGERPRINT are processed. */
	build_start(&b, buf, sizeof(buf));
	stun_add_integrity(&b, key, sizeof(key));
	n = (size_t)stun_build_finish(&b);
	n = append_raw(buf, n, STUN_A_SOFTWARE, "ignored", 7);
	b.len = n;
	stun_add_integrity_sha256(&b, key, sizeof(key));
	stun_add_fingerprint(&b);
	n = (size_t)stun_build_finish(&b);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 3);
	assert_null(stun_find(&m, STUN_A_SOFTWARE));
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), 0);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);

	/* After MI-SHA256, only FINGERPRINT (a later MI is ignored). */
	build_start(&b, buf, sizeof(buf));
	stun_add_integrity_sha256(&b, key, sizeof(key));
	stun_add_integrity(&b, key, sizeof(key));
	stun_add_fingerprint(&b);
	parse_built(&m, &b);
	assert_int_equal(m.nattrs, 2);
	assert_int_equal(m.mi, -1);
	assert_int_equal(m.mi256, 0);
	assert_int_equal(m.fp, 1);
	assert_int_equal(stun_check_integrity(&m, key, sizeof(key)), -ENOENT);
	assert_int_equal(stun_check_integrity_sha256(&m, key, sizeof(key)), 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);

	/* Nothing after FINGERPRINT, not even another FINGERPRINT. */
	build_start(&b, buf, sizeof(buf));
	stun_add_fingerprint(&b);
	n = (size_t)stun_build_finish(&b);
	n = append_raw(buf, n, STUN_A_SOFTWARE, "late", 4);
	n = append_raw(buf, n, STUN_A_FINGERPRINT, "\0\0\0\0", 4);
	n = append_raw(buf, n, STUN_A_MESSAGE_INTEGRITY, "01234567890123456789", 20);
	n = append_raw(buf, n, 0x0077, "", 0);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 1);
	assert_int_equal(m.fp, 0);
	assert_int_equal(m.mi, -1);
	assert_int_equal(m.nunknown, 0);
	assert_int_equal(stun_check_fingerprint(&m), 0);
}

static void test_integrity_flip_vector(void **state)
{
	const size_t mi_end = sizeof(rfc5769_request) - 8;
	struct stun_msg m;

	/* Flipping any single bit before the end of MESSAGE-INTEGRITY either
	 * breaks framing or breaks the HMAC; flipping anywhere breaks the
	 * FINGERPRINT. */
	for (size_t i = 0; i < sizeof(rfc5769_request); i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *c = dup_msg(rfc5769_request, sizeof(rfc5769_request));

			c[i] ^= (uint8_t)(1 << bit);
			if (stun_parse(&m, c, sizeof(rfc5769_request)) != 0)
				continue;
			if (i < mi_end) {
				int rc = stun_check_integrity(&m, pw(), strlen(short_term_pw));

				assert_true(rc == -EBADMSG || rc == -ENOENT);
			}
			assert_true(stun_check_fingerprint(&m) != 0);
		}
	}
}

static void test_integrity_lengths(void **state)
{
	const uint8_t key[] = "k";
	uint8_t buf[256], mac[32];
	unsigned maclen;
	struct stun_builder b;
	struct stun_msg m;
	size_t n;

	/* MESSAGE-INTEGRITY must be 20 bytes. */
	build_start(&b, buf, sizeof(buf));
	n = (size_t)stun_build_finish(&b);
	n = append_raw(buf, n, STUN_A_MESSAGE_INTEGRITY, "0123456789abcdef", 16);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(stun_check_integrity(&m, key, 1), -EBADMSG);

	/* MI-SHA256: 16..32 bytes, a multiple of 4; a correct truncated value
	 * verifies. Computed here independently with OpenSSL's HMAC(). */
	for (uint16_t len = 0; len <= 40; len++) {
		build_start(&b, buf, sizeof(buf));
		stun_add_attr(&b, STUN_A_SOFTWARE, "x", 1);
		n = (size_t)stun_build_finish(&b);
		memset(mac, 0, sizeof(mac));
		wr16(buf + 2, (uint16_t)(n - 20 + 4 + pad4(len)));
		assert_non_null(HMAC(EVP_sha256(), key, 1, buf, n, mac, &maclen));
		n = append_raw(buf, n, STUN_A_MESSAGE_INTEGRITY_SHA256, mac, len < 32 ? len : 32);
		if (len > 32) { /* pad to len with garbage */
			n -= 4 + 32;
			wr16(buf + n + 2, len);
			memset(buf + n + 4 + 32, 0, pad4(len) - 32);
			n += 4 + pad4(len);
			wr16(buf + 2, (uint16_t)(n - 20));
		}
		assert_int_equal(stun_parse(&m, buf, n), 0);
		assert_int_equal(stun_check_integrity_sha256(&m, key, 1),
		                 len >= 16 && len <= 32 && len % 4 == 0 ? 0 : -EBADMSG);
	}

	/* FINGERPRINT must be 4 bytes. */
	build_start(&b, buf, sizeof(buf));
	n = (size_t)stun_build_finish(&b);
	n = append_raw(buf, n, STUN_A_FINGERPRINT, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(stun_check_fingerprint(&m), -EBADMSG);
}

static void test_duplicates(void **state)
{
	struct stun_msg m;
	uint8_t buf[128];
	size_t n = small_msg(buf);
	const struct stun_attr *a;

	n = append_raw(buf, n, STUN_A_SOFTWARE, "second", 6);
	assert_int_equal(stun_parse(&m, buf, n), 0);
	assert_int_equal(m.nattrs, 2);
	a = stun_find(&m, STUN_A_SOFTWARE);
	assert_true(a == &m.attrs[0]);
	assert_memory_equal(a->val, "abcde", 5);
	assert_null(stun_find(&m, STUN_A_USERNAME));
}

static void test_frame_len(void **state)
{
	uint8_t b[64];
	size_t n = small_msg(b);

	assert_int_equal(stun_frame_len(b, 0), 0);
	for (size_t len = 1; len < 8; len++)
		assert_int_equal(stun_frame_len(b, len), 0);
	for (size_t len = 8; len <= n; len++)
		assert_int_equal(stun_frame_len(b, len), (int)n);
	b[5] ^= 1;
	assert_int_equal(stun_frame_len(b, 8), -EINVAL);
	b[5] ^= 1;
	wr16(b + 2, 13);
	assert_int_equal(stun_frame_len(b, 4), -EINVAL);
	wr16(b + 2, 0xFFFC); /* 20 + 65532 > STUN_MAX_MSG */
	assert_int_equal(stun_frame_len(b, 8), -EINVAL);
	wr16(b + 2, STUN_MAX_MSG - 20 - 3);
	assert_int_equal(stun_frame_len(b, 8), STUN_MAX_MSG - 3);

	/* ChannelData: 4 + length padded to 4 (RFC 8656 §12, TCP). */
	stun_channeldata_hdr(b, 0x4001, 5);
	for (size_t len = 1; len < 4; len++)
		assert_int_equal(stun_frame_len(b, len), 0);
	assert_int_equal(stun_frame_len(b, 4), 12);
	stun_channeldata_hdr(b, 0x7FFF, 0);
	assert_int_equal(stun_frame_len(b, 4), 4);
	stun_channeldata_hdr(b, 0x4000, 8);
	assert_int_equal(stun_frame_len(b, 4), 12);
	stun_channeldata_hdr(b, 0x4000, 0xFFFF);
	assert_int_equal(stun_frame_len(b, 4), 4 + 0x10000);

	/* Neither. */
	for (unsigned first = 0x80; first <= 0xFF; first++) {
		b[0] = (uint8_t)first;
		assert_int_equal(stun_frame_len(b, 1), -EINVAL);
		assert_false(stun_is_stun(b, 1));
		assert_false(stun_is_channeldata(b, 1));
	}
	assert_false(stun_is_stun(b, 0));
	assert_false(stun_is_channeldata(b, 0));
}

static void test_channeldata(void **state)
{
	uint8_t b[16] = {0};
	uint16_t ch = 0, dlen = 0;
	const uint8_t *data = NULL;

	stun_channeldata_hdr(b, 0x4001, 5);
	memcpy(b + 4, "hello", 5);
	assert_true(stun_is_channeldata(b, 9));
	assert_false(stun_is_stun(b, 9));
	assert_int_equal(stun_channeldata_parse(b, 9, &ch, &data, &dlen), 0);
	assert_int_equal(ch, 0x4001);
	assert_int_equal(dlen, 5);
	assert_true(data == b + 4);
	/* Padded datagram (RFC 8656 §12: padding allowed over UDP). */
	assert_int_equal(stun_channeldata_parse(b, 12, &ch, &data, &dlen), 0);
	assert_int_equal(dlen, 5);
	/* Datagram shorter than the claimed length. */
	for (size_t len = 0; len < 9; len++)
		assert_int_equal(stun_channeldata_parse(b, len, &ch, &data, &dlen), -EINVAL);
	/* Empty payload. */
	stun_channeldata_hdr(b, 0x4FFF, 0);
	assert_int_equal(stun_channeldata_parse(b, 4, &ch, &data, &dlen), 0);
	assert_int_equal(dlen, 0);
	/* Numbers above 0x4FFF still parse (the caller checks the range). */
	stun_channeldata_hdr(b, 0x7FFF, 0);
	assert_int_equal(stun_channeldata_parse(b, 4, &ch, &data, &dlen), 0);
	assert_int_equal(ch, 0x7FFF);
	/* Not ChannelData. */
	b[0] = 0x00;
	assert_int_equal(stun_channeldata_parse(b, 4, &ch, &data, &dlen), -EINVAL);
	b[0] = 0x80;
	assert_int_equal(stun_channeldata_parse(b, 4, &ch, &data, &dlen), -EINVAL);
}

/* ---- deterministic mutation loop ---- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: fixed seed, same run every time. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static void exercise_attr(const struct stun_msg *m, const struct stun_attr *a)
{
	union tern_addr addr;
	uint32_t u32;
	uint64_t u64;
	int code;
	const uint8_t *reason;
	size_t rlen;
	uint16_t ch;
	uint8_t u8;
	bool r;

	if (stun_attr_xaddr(m, a, &addr) == 0)
		assert_true(addr.sa.sa_family == AF_INET || addr.sa.sa_family == AF_INET6);
	if (stun_attr_addr(a, &addr) == 0)
		assert_true(addr.sa.sa_family == AF_INET || addr.sa.sa_family == AF_INET6);
	(void)stun_attr_u32(a, &u32);
	(void)stun_attr_u64(a, &u64);
	if (stun_attr_error(a, &code, &reason, &rlen) == 0) {
		assert_true(code >= 300 && code <= 699);
		assert_true(reason + rlen == a->val + a->len);
	}
	(void)stun_attr_channel(a, &ch);
	(void)stun_attr_transport(a, &u8);
	(void)stun_attr_family(a, &u8);
	(void)stun_attr_even_port(a, &r);
}

static void check_invariants(const struct stun_msg *m, const uint8_t *buf, size_t len)
{
	assert_true(m->buf == buf);
	assert_int_equal(m->len, len);
	assert_int_equal(len, STUN_HEADER_LEN + rd16(buf + 2));
	assert_true(m->nattrs <= STUN_MAX_ATTRS);
	assert_true(m->nunknown <= STUN_MAX_UNKNOWN);
	assert_true(m->mi < (int)m->nattrs && m->mi256 < (int)m->nattrs && m->fp < (int)m->nattrs);
	for (unsigned i = 0; i < m->nattrs; i++) {
		const struct stun_attr *a = &m->attrs[i];

		assert_true(a->off >= STUN_HEADER_LEN);
		assert_true(a->val == buf + a->off + 4);
		assert_true((size_t)a->off + 4 + pad4(a->len) <= len);
		assert_int_equal(rd16(buf + a->off), a->type);
		assert_int_equal(rd16(buf + a->off + 2), a->len);
		exercise_attr(m, a);
	}
	(void)stun_check_integrity(m, (const uint8_t *)"k", 1);
	(void)stun_check_integrity_sha256(m, (const uint8_t *)"k", 1);
	(void)stun_check_fingerprint(m);
}

static void feed(const uint8_t *buf, size_t len, unsigned *accepted)
{
	struct stun_msg m;
	int fl;
	uint16_t ch, dlen;
	const uint8_t *data;

	if (stun_parse(&m, buf, len) == 0) {
		check_invariants(&m, buf, len);
		++*accepted;
	}
	fl = stun_frame_len(buf, len);
	assert_true(fl == -EINVAL || (fl >= 0 && fl <= 4 + 0x10000));
	if (stun_channeldata_parse(buf, len, &ch, &data, &dlen) == 0) {
		assert_true(data == buf + 4);
		assert_true((size_t)dlen + 4 <= len);
	}
	/* Decoders straight on raw bytes, with any length that fits. */
	if (len > 0) {
		struct stun_attr a = {.type = 0, .len = (uint16_t)(rnd() % len), .val = buf, .off = 0};

		m.txid = txid1;
		exercise_attr(&m, &a);
	}
}

static void test_fuzz(void **state)
{
	static uint8_t seeds_built[256];
	const struct {
		const uint8_t *p;
		size_t n;
	} seeds[] = {
	    {rfc5769_request, sizeof(rfc5769_request)},     {rfc5769_ipv4, sizeof(rfc5769_ipv4)},
	    {rfc5769_ipv6, sizeof(rfc5769_ipv6)},           {rfc5769_longterm, sizeof(rfc5769_longterm)},
	    {rfc8489_b1_errata, sizeof(rfc8489_b1_errata)}, {seeds_built, 0},
	};
	const size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);
	static uint8_t buf[1024];
	struct stun_builder b;
	union tern_addr peer = mkaddr("2001:db8::7", 9);
	unsigned accepted = 0;
	size_t built_len;

	/* One seed with every attribute shape tern decodes. */
	build_start(&b, seeds_built, sizeof(seeds_built));
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &peer);
	stun_add_addr(&b, STUN_A_ALTERNATE_SERVER, &peer);
	stun_add_error(&b, 420, "Unknown Attribute");
	stun_add_channel(&b, 0x4002);
	stun_add_transport(&b, 6);
	stun_add_family(&b, STUN_A_REQUESTED_ADDRESS_FAMILY, 2);
	stun_add_attr(&b, STUN_A_EVEN_PORT, "\x80", 1);
	stun_add_u64(&b, STUN_A_RESERVATION_TOKEN, 42);
	stun_add_integrity(&b, (const uint8_t *)"k", 1);
	stun_add_integrity_sha256(&b, (const uint8_t *)"k", 1);
	stun_add_fingerprint(&b);
	assert_true(stun_build_finish(&b) > 0);
	built_len = b.len;

	rng_state = 0x7465726e5f73756eull; /* "tern_sun" */
	for (unsigned iter = 0; iter < 200000; iter++) {
		size_t si = rnd() % nseeds, len;
		const uint8_t *seed = seeds[si].p;
		size_t slen = si == nseeds - 1 ? built_len : seeds[si].n;

		switch (iter % 5) {
		case 0: /* random bytes, sometimes with a plausible header */
			len = rnd() % 200;
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rnd();
			if (len >= 20 && (rnd() & 1)) {
				buf[0] &= 0x3F;
				wr16(buf + 2, (uint16_t)((len - 20) & ~3u));
				wr32(buf + 4, STUN_MAGIC_COOKIE);
				len = 20 + ((len - 20) & ~3u);
			}
			break;
		case 1: /* bit flips of a valid message */
			len = slen;
			memcpy(buf, seed, len);
			for (unsigned k = 1 + rnd() % 4; k > 0; k--)
				buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 2: /* byte overwrites in the attribute area, length fixed */
			len = slen;
			memcpy(buf, seed, len);
			for (unsigned k = 1 + rnd() % 3; k > 0; k--)
				buf[20 + rnd() % (len - 20)] = (uint8_t)rnd();
			break;
		case 3: /* truncation with the header length kept consistent */
			len = 20 + ((rnd() % (slen - 19)) & ~(size_t)3);
			memcpy(buf, seed, len);
			wr16(buf + 2, (uint16_t)(len - 20));
			break;
		default: /* a valid header and a soup of small TLVs */
			memcpy(buf, seed, 20);
			len = 20;
			while (len < 400 && (rnd() % 12) != 0) {
				uint16_t alen = (uint16_t)(rnd() % 24);
				uint16_t types[] = {STUN_A_XOR_MAPPED_ADDRESS,
				                    STUN_A_MAPPED_ADDRESS,
				                    STUN_A_ERROR_CODE,
				                    STUN_A_MESSAGE_INTEGRITY,
				                    STUN_A_MESSAGE_INTEGRITY_SHA256,
				                    STUN_A_FINGERPRINT,
				                    STUN_A_EVEN_PORT,
				                    (uint16_t)rnd()};

				wr16(buf + len, types[rnd() % 8]);
				wr16(buf + len + 2, alen);
				for (size_t i = 0; i < pad4(alen); i++)
					buf[len + 4 + i] = (uint8_t)rnd();
				len += 4 + pad4(alen);
			}
			wr16(buf + 2, (uint16_t)(len - 20));
			break;
		}
		feed(buf, len, &accepted);
	}
	/* The loop must reach past the framing checks to mean anything. */
	print_message("%u of 200000 inputs parsed\n", accepted);
	assert_true(accepted > 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_header_checks),
	    cmocka_unit_test(test_parse_attr_bounds),
	    cmocka_unit_test(test_parse_max_attrs),
	    cmocka_unit_test(test_parse_unknown),
	    cmocka_unit_test(test_parse_after_integrity),
	    cmocka_unit_test(test_integrity_flip_vector),
	    cmocka_unit_test(test_integrity_lengths),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_frame_len),
	    cmocka_unit_test(test_channeldata),
	    cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
