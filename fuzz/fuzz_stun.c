/* STUN codec: stun_parse, every attribute decoder on every attribute,
 * integrity (SHA-1 and SHA-256) and fingerprint checks with a fixed key,
 * and stream framing (stun_frame_len).
 *
 * Oracles besides the sanitizers:
 *  - a parsed view points only inside the input, attributes in order;
 *  - stun_frame_len agrees with stun_parse on a whole message and on every
 *    prefix (0 = need more, never a length shorter than what was seen);
 *  - rebuilding the recorded attributes with the builder gives a message
 *    that parses to the same attributes (parser and builder agree);
 *  - a message the builder signs and fingerprints verifies, and flipping a
 *    byte covered by the MAC makes it fail. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "stun/stun.h"
#include "util/addr.h"

static const uint8_t key16[16] = "0123456789abcdef";
static const uint8_t key32[32] = "0123456789abcdef0123456789abcdef";

static void check_view(const struct stun_msg *m, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(m->buf == data && m->len == size);
	FUZZ_CHECK(m->nattrs <= STUN_MAX_ATTRS && m->nunknown <= STUN_MAX_UNKNOWN);
	FUZZ_CHECK(m->txid == data + 8);
	size_t prev_end = STUN_HEADER_LEN;
	for (unsigned i = 0; i < m->nattrs; i++) {
		const struct stun_attr *a = &m->attrs[i];
		FUZZ_CHECK(a->off >= prev_end);
		FUZZ_CHECK(a->val == data + a->off + 4);
		FUZZ_CHECK((size_t)a->off + 4 + ((a->len + 3u) & ~3u) <= size);
		prev_end = (size_t)a->off + 4 + ((a->len + 3u) & ~3u);
		fuzz_touch(a->val, a->len);
	}
	FUZZ_CHECK(m->mi < (int)m->nattrs && (m->mi < 0 || m->attrs[m->mi].type == STUN_A_MESSAGE_INTEGRITY));
	FUZZ_CHECK(m->mi256 < (int)m->nattrs &&
	           (m->mi256 < 0 || m->attrs[m->mi256].type == STUN_A_MESSAGE_INTEGRITY_SHA256));
	FUZZ_CHECK(m->fp < (int)m->nattrs && (m->fp < 0 || m->attrs[m->fp].type == STUN_A_FINGERPRINT));
	/* RFC 8489 §14.7: nothing is recorded after FINGERPRINT */
	FUZZ_CHECK(m->fp < 0 || m->fp == (int)m->nattrs - 1);
}

static void decode_all(const struct stun_msg *m)
{
	for (unsigned i = 0; i < m->nattrs; i++) {
		const struct stun_attr *a = &m->attrs[i];
		union tern_addr ad;
		uint32_t u32;
		uint64_t u64;
		int code;
		const uint8_t *reason;
		size_t rlen;
		uint16_t ch;
		uint8_t b;
		bool r;
		char txt[TERN_ADDRSTRLEN];

		if (stun_attr_xaddr(m, a, &ad) == 0) {
			FUZZ_CHECK(ad.sa.sa_family == AF_INET || ad.sa.sa_family == AF_INET6);
			addr_format(&ad, txt, sizeof(txt), true);
		}
		if (stun_attr_addr(a, &ad) == 0)
			addr_format(&ad, txt, sizeof(txt), true);
		if (stun_attr_u32(a, &u32) == 0)
			FUZZ_CHECK(a->len == 4);
		if (stun_attr_u64(a, &u64) == 0)
			FUZZ_CHECK(a->len == 8);
		if (stun_attr_error(a, &code, &reason, &rlen) == 0) {
			FUZZ_CHECK(code >= 300 && code <= 699);
			FUZZ_CHECK(reason == a->val + 4 && rlen == a->len - 4u);
			fuzz_touch(reason, rlen);
			(void)stun_reason(code);
		}
		(void)stun_attr_channel(a, &ch);
		(void)stun_attr_transport(a, &b);
		(void)stun_attr_family(a, &b);
		(void)stun_attr_even_port(a, &r);
		/* stun_find returns the first of duplicates */
		const struct stun_attr *f = stun_find(m, a->type);
		FUZZ_CHECK(f && f <= a && f->type == a->type);
	}
}

/* Rebuild the attributes before MESSAGE-INTEGRITY with the builder and
 * parse the result: same types, lengths and values. */
static void rebuild(const struct stun_msg *m)
{
	static uint8_t buf[STUN_MAX_MSG];
	struct stun_builder b;
	struct stun_msg m2;
	unsigned n = 0;

	stun_build_init(&b, buf, sizeof(buf), m->type, m->txid);
	for (unsigned i = 0; i < m->nattrs; i++) {
		const struct stun_attr *a = &m->attrs[i];
		if ((int)i == m->mi || (int)i == m->mi256 || (int)i == m->fp)
			break;
		FUZZ_CHECK(stun_add_attr(&b, a->type, a->val, a->len) != NULL);
		n++;
	}
	int len = stun_build_finish(&b);
	FUZZ_CHECK(len >= STUN_HEADER_LEN && (size_t)len <= m->len);
	FUZZ_CHECK(stun_parse(&m2, buf, (size_t)len) == 0);
	FUZZ_CHECK(stun_frame_len(buf, (size_t)len) == len);
	FUZZ_CHECK(m2.type == m->type && m2.nattrs == n);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(m2.attrs[i].type == m->attrs[i].type && m2.attrs[i].len == m->attrs[i].len);
		FUZZ_CHECK(memcmp(m2.attrs[i].val, m->attrs[i].val, m->attrs[i].len) == 0);
	}

	/* Sign it: what the builder signs, the checker accepts. A message
	 * already near the limit just fails to build (-ENOSPC). */
	stun_add_integrity(&b, key16, sizeof(key16));
	stun_add_integrity_sha256(&b, key32, sizeof(key32));
	stun_add_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0) {
		FUZZ_CHECK(len == -ENOSPC);
		return;
	}
	if (n + 3 > STUN_MAX_ATTRS)
		return; /* the parser rightly refuses more than STUN_MAX_ATTRS */
	FUZZ_CHECK(stun_parse(&m2, buf, (size_t)len) == 0);
	FUZZ_CHECK(m2.mi >= 0 && m2.mi256 >= 0 && m2.fp >= 0);
	FUZZ_CHECK(stun_check_integrity(&m2, key16, sizeof(key16)) == 0);
	FUZZ_CHECK(stun_check_integrity_sha256(&m2, key32, sizeof(key32)) == 0);
	FUZZ_CHECK(stun_check_fingerprint(&m2) == 0);
	FUZZ_CHECK(stun_check_integrity(&m2, key32, sizeof(key32)) == -EBADMSG);
	if (n >= 1 && m->attrs[0].len >= 1) {
		/* a byte of the first attribute's value: signed and fingerprinted */
		buf[STUN_HEADER_LEN + 4] ^= 0x01;
		FUZZ_CHECK(stun_parse(&m2, buf, (size_t)len) == 0);
		FUZZ_CHECK(stun_check_integrity(&m2, key16, sizeof(key16)) == -EBADMSG);
		FUZZ_CHECK(stun_check_fingerprint(&m2) == -EBADMSG);
	}
}

static void framing(const uint8_t *data, size_t size, bool parsed)
{
	int whole = stun_frame_len(data, size);
	FUZZ_CHECK(whole >= -EINVAL);
	if (parsed)
		FUZZ_CHECK(whole == (int)size);
	/* A prefix never claims a frame shorter than 1 byte, and a length
	 * once known stays the same as more bytes arrive. */
	int known = 0;
	for (size_t k = 0; k <= size && k <= 64; k++) {
		int r = stun_frame_len(data, k);
		if (r == -EINVAL) {
			FUZZ_CHECK(stun_frame_len(data, size) == -EINVAL);
			break;
		}
		FUZZ_CHECK(r >= 0);
		if (known && r)
			FUZZ_CHECK(r == known);
		if (r)
			known = r;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	/* the view is zero-copy: give ASan an exact-size buffer */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	int rc = stun_parse(&m, copy, size);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		check_view(&m, copy, size);
		decode_all(&m);
		int r1 = stun_check_integrity(&m, key16, sizeof(key16));
		int r2 = stun_check_integrity_sha256(&m, key32, sizeof(key32));
		int r3 = stun_check_fingerprint(&m);
		FUZZ_CHECK(r1 == 0 || r1 == -ENOENT || r1 == -EBADMSG);
		FUZZ_CHECK(r2 == 0 || r2 == -ENOENT || r2 == -EBADMSG);
		FUZZ_CHECK(r3 == 0 || r3 == -ENOENT || r3 == -EBADMSG);
		/* the empty key is legal for HMAC */
		(void)stun_check_integrity(&m, NULL, 0);
		rebuild(&m);
	}
	framing(copy, size, rc == 0);
	free(copy);
	return 0;
}
