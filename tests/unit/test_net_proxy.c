/* net/proxy: PROXY protocol v1 and v2 headers. Real HAProxy output
 * (tests/vectors/proxy_haproxy.h), headers built here, every prefix of
 * every valid header, the malformed cases the spec names, the limits, and
 * the rule that an answer other than "need more" never changes as bytes
 * arrive. Includes proxy.c for the CRC32C helper. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/proxy.c"
#include "util/bytes.h"
#include "vectors/proxy_haproxy.h"

/* ---- helpers ---- */

/* Parse from an exact-size copy, so ASan (make asan) catches a read past len. */
static int parse(const void *b, size_t n, struct proxy_hdr *h)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, b, n);
	int rc = proxy_parse(copy, n, h);
	free(copy);
	return rc;
}

static void assert_addr(const union tern_addr *a, const char *ip, uint16_t port)
{
	union tern_addr want;
	char got[TERN_ADDRSTRLEN];

	assert_int_equal(addr_parse(&want, ip, port), 0);
	if (!addr_equal(a, &want)) {
		print_error("address %s, expected %s port %u\n", addr_format(a, got, sizeof(got), true), ip,
		            port);
		fail();
	}
}

static void assert_zero_addr(const union tern_addr *a)
{
	static const union tern_addr zero;
	assert_memory_equal(a, &zero, sizeof(zero));
}

/* Every proper prefix of a valid header needs more bytes. */
static void assert_prefixes_need_more(const uint8_t *b, size_t hdr_len)
{
	struct proxy_hdr h;
	for (size_t k = 0; k < hdr_len; k++) {
		int rc = parse(b, k, &h);
		if (rc != 0) {
			print_error("prefix of %zu bytes: %d, expected 0\n", k, rc);
			fail();
		}
	}
}

/* An answer other than 0 is final: with bytes appended it stays the same. */
static void assert_final(const uint8_t *b, size_t n, int want)
{
	static const char *const tails[] = {"\r\n", " 1 2\r\n", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"};
	uint8_t buf[PROXY_MAX_LEN + 64];
	struct proxy_hdr h;

	assert_true(n + 20 <= sizeof(buf));
	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t tl = t == 2 ? 20 : strlen(tails[t]);
		memcpy(buf, b, n);
		memcpy(buf + n, tails[t], tl);
		int rc = parse(buf, n + tl, &h);
		if (rc != want) {
			print_error("with %zu bytes appended: %d, expected %d\n", tl, rc, want);
			fail();
		}
	}
}

static void expect(const char *s, int want)
{
	struct proxy_hdr h;
	int rc = parse(s, strlen(s), &h);
	if (rc != want) {
		print_error("\"%s\": %d, expected %d\n", s, rc, want);
		fail();
	}
	if (want != 0)
		assert_final((const uint8_t *)s, strlen(s), want);
}

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: signature, version/command, family, length, body. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	wr16(out + 14, (uint16_t)blen);
	if (blen)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static size_t tlv(uint8_t *out, uint8_t type, const void *val, uint16_t vlen)
{
	out[0] = type;
	wr16(out + 1, vlen);
	if (vlen)
		memcpy(out + 3, val, vlen);
	return 3 + (size_t)vlen;
}

/* Write the CRC32C of a whole header into its CRC TLV's value at crc_at. */
static void seal(uint8_t *hdr, size_t len, size_t crc_at)
{
	memset(hdr + crc_at, 0, 4);
	wr32(hdr + crc_at, crc32c_update(0xFFFFFFFFu, hdr, len) ^ 0xFFFFFFFFu);
}

/* v4 address block: 192.0.2.1:40000 -> 198.51.100.7:443 */
static const uint8_t addr4[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0x9c, 0x40, 0x01, 0xbb};
/* v6 address block: [2001:db8::1]:1 -> [2001:db8:ffff::2]:65535 */
static const uint8_t addr6[36] = {0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    1,    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    2,    0x00, 0x01, 0xff, 0xff};

/* ---- CRC32C ---- */

static void test_crc32c_vectors(void **state)
{
	/* RFC 3720 §B.4 */
	uint8_t b[32];
	memset(b, 0, 32);
	assert_int_equal(crc32c_update(~0u, b, 32) ^ ~0u, 0x8A9136AAu);
	memset(b, 0xFF, 32);
	assert_int_equal(crc32c_update(~0u, b, 32) ^ ~0u, 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(crc32c_update(~0u, b, 32) ^ ~0u, 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c_update(~0u, b, 32) ^ ~0u, 0x113FDB5Cu);
	/* the check value of the Castagnoli CRC */
	assert_int_equal(crc32c_update(~0u, (const uint8_t *)"123456789", 9) ^ ~0u, 0xE3069283u);
}

/* ---- v1 ---- */

static void test_v1_haproxy_tcp4(void **state)
{
	struct proxy_hdr h;
	assert_int_equal(parse(hap_v1_tcp4, sizeof(hap_v1_tcp4) - 1, &h), HAP_V1_TCP4_LEN);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_int_equal(h.fam, PROXY_FAM_TCP4);
	assert_false(h.local);
	assert_addr(&h.src, "127.0.0.1", 50658);
	assert_addr(&h.dst, "127.0.0.1", 17001);
	assert_prefixes_need_more(hap_v1_tcp4, HAP_V1_TCP4_LEN);
}

static void test_v1_haproxy_tcp6_mapped(void **state)
{
	struct proxy_hdr h;
	assert_int_equal(parse(hap_v1_tcp6_mapped, sizeof(hap_v1_tcp6_mapped) - 1, &h),
	                 HAP_V1_TCP6_MAPPED_LEN);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.fam, PROXY_FAM_TCP6);
	assert_false(h.local);
	assert_int_equal(h.src.sa.sa_family, AF_INET6);
	assert_addr(&h.src, "::ffff:127.0.0.1", 39142);
	assert_addr(&h.dst, "::ffff:127.0.0.1", 17004);
	assert_prefixes_need_more(hap_v1_tcp6_mapped, HAP_V1_TCP6_MAPPED_LEN);
}

static void test_v1_tcp4_extremes(void **state)
{
	static const char line[] = "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n";
	struct proxy_hdr h;
	assert_int_equal(parse(line, strlen(line), &h), (int)strlen(line));
	assert_addr(&h.src, "255.255.255.255", 65535);
	assert_addr(&h.dst, "0.0.0.0", 0);
	assert_int_equal(h.src.sa.sa_family, AF_INET);
	assert_int_equal(h.dst.sa.sa_family, AF_INET);
	assert_prefixes_need_more((const uint8_t *)line, strlen(line));

	/* the longest TCP4 line of §2.1: 56 bytes */
	static const char longest[] = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
	assert_int_equal(strlen(longest), 56);
	assert_int_equal(parse(longest, strlen(longest), &h), 56);
}

static void test_v1_tcp6_forms(void **state)
{
	/* the longest TCP6 line of §2.1: 104 bytes, upper and lower case */
	static const char longest[] = "PROXY TCP6 FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF "
	                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
	static const char compressed[] = "PROXY TCP6 2001:db8::1 :: 1 443\r\n";
	struct proxy_hdr h;

	assert_int_equal(strlen(longest), 104);
	assert_int_equal(parse(longest, strlen(longest), &h), 104);
	assert_int_equal(h.fam, PROXY_FAM_TCP6);
	assert_addr(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	assert_addr(&h.dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	assert_prefixes_need_more((const uint8_t *)longest, 104);

	assert_int_equal(parse(compressed, strlen(compressed), &h), (int)strlen(compressed));
	assert_addr(&h.src, "2001:db8::1", 1);
	assert_addr(&h.dst, "::", 443);
	assert_int_equal(h.dst.sa.sa_family, AF_INET6);
	assert_prefixes_need_more((const uint8_t *)compressed, strlen(compressed));
}

static void test_v1_unknown(void **state)
{
	static const char shortest[] = "PROXY UNKNOWN\r\n";
	/* §2.1's worst case, 107 bytes: the receiver ignores what follows UNKNOWN */
	static const char worst[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	static const uint8_t junk[] = "PROXY UNKNOWN \x00\x01 not an address\t\xff\r\n";
	struct proxy_hdr h;

	memset(&h, 0xA5, sizeof(h));
	assert_int_equal(parse(shortest, strlen(shortest), &h), 15);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_int_equal(h.fam, PROXY_FAM_UNSPEC);
	assert_true(h.local);
	assert_zero_addr(&h.src);
	assert_zero_addr(&h.dst);
	assert_prefixes_need_more((const uint8_t *)shortest, 15);

	assert_int_equal(strlen(worst), 107);
	assert_int_equal(parse(worst, 107, &h), 107);
	assert_true(h.local);
	assert_prefixes_need_more((const uint8_t *)worst, 107);

	assert_int_equal(parse(junk, sizeof(junk) - 1, &h), (int)sizeof(junk) - 1);
	assert_true(h.local);
}

static void test_v1_line_limit(void **state)
{
	char line[128];
	struct proxy_hdr h;

	/* "PROXY UNKNOWN " then filler: CRLF ending at byte 107 is the longest */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	assert_int_equal(parse(line, 107, &h), 107);

	memset(line + 105, 'x', 2);
	memcpy(line + 106, "\r\n", 2); /* 108 bytes */
	assert_int_equal(parse(line, 108, &h), -EINVAL);
	/* no CRLF in the first 107 bytes: invalid without waiting for more */
	assert_int_equal(parse(line, 107, &h), -EINVAL);
	/* 106 bytes without a CRLF could still end at 107 */
	memset(line + 105, 'x', 3);
	assert_int_equal(parse(line, 106, &h), 0);
	assert_int_equal(parse(line, 107, &h), -EINVAL);
	/* same for a TCP4 line that never ends */
	memset(line, '1', sizeof(line));
	memcpy(line, "PROXY TCP4 1.2.3.4 5.6.7.8 1 ", 29);
	assert_int_equal(parse(line, 29, &h), 0);
	assert_int_equal(parse(line, 30, &h), 0);
	assert_int_equal(parse(line, 35, &h), -EINVAL); /* 6 digits: over 65535 */
}

static void test_v1_malformed(void **state)
{
	/* ports */
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 +443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 0x50 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", -EINVAL);
	/* addresses */
	expect("PROXY TCP4 256.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4.5 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1..3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 ::1 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 1.2.3.4 ::1 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 ::1 1.2.3.4 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 ::1::2 ::1 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 ::1 12345::1 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n", -EINVAL);
	expect("PROXY TCP6 [::1] ::1 80 443\r\n", -EINVAL);
	/* separators and line end */
	expect("PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4  1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80  443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4\t5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rx", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n\r", -EINVAL);
	expect("PROXY UNKNOWN\n", -EINVAL);
	expect("PROXY UNKNOWN x\n", -EINVAL);
	expect("PROXY UNKNOWN x\ry\r\n", -EINVAL);
	expect("PROXY UNKNOWNX\r\n", -EINVAL);
	expect("PROXY\r\n", -EINVAL);
	/* protocol names */
	expect("PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	expect("PROXY TCP 1.2.3.4 5.6.7.8 80 443\r\n", -EINVAL);
	/* not the PROXY protocol at all */
	expect("proxy TCP4 1.2.3.4 5.6.7.8 80 443\r\n", -EPROTO);
	expect("PROXI TCP4 1.2.3.4 5.6.7.8 80 443\r\n", -EPROTO);
	expect("GET / HTTP/1.1\r\n", -EPROTO);
	expect("\x16\x03\x01\x02\x00", -EPROTO); /* a TLS ClientHello */
}

/* A wrong byte fails at once; what could still become valid waits. */
static void test_v1_early(void **state)
{
	expect("PROXZ", -EPROTO);
	expect("PX", -EPROTO);
	expect("X", -EPROTO);
	expect("PROXY_", -EINVAL);
	expect("PROXY T", 0);
	expect("PROXY TCP", 0);
	expect("PROXY TCP7", -EINVAL);
	expect("PROXY U", 0);
	expect("PROXY UNKNOWN", 0);
	expect("PROXY UNKNOWN whatever", 0);
	expect("PROXY UNKNOWN\r", 0);
	expect("PROXY TCP4 25", 0);
	expect("PROXY TCP4 256", -EINVAL);
	expect("PROXY TCP4 0", 0);
	expect("PROXY TCP4 01", -EINVAL);
	expect("PROXY TCP4 1.2.3.4", 0);
	expect("PROXY TCP4 1.2.3.4x", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 6553", 0);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 65536", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 +", -EINVAL);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2", 0);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 0);
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", -EINVAL);
	expect("PROXY TCP6 ::ffff:1.2.3", 0);
	expect("PROXY TCP6 2001:db8:", 0);
	expect("PROXY TCP6 :::", -EINVAL);
	expect("PROXY TCP6 12345", -EINVAL);
	expect("PROXY TCP6 1.2", -EINVAL);
	expect("PROXY TCP6 ::1.2.3.4:", -EINVAL);
	expect("PROXY TCP6 ::1.2.3.a", -EINVAL);
	expect("PROXY TCP6 ::1.2.3.1234", -EINVAL);
	expect("PROXY TCP6 ::1 ::2 1 2 ", -EINVAL);
}

/* ---- v2 ---- */

static void test_v2_haproxy_tcp4_crc(void **state)
{
	uint8_t b[sizeof(hap_v2_tcp4_crc)];
	struct proxy_hdr h;

	assert_int_equal(parse(hap_v2_tcp4_crc, sizeof(hap_v2_tcp4_crc), &h), HAP_V2_TCP4_CRC_LEN);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_int_equal(h.fam, PROXY_FAM_TCP4);
	assert_false(h.local);
	assert_addr(&h.src, "127.0.0.1", 33580);
	assert_addr(&h.dst, "127.0.0.1", 17002);
	assert_prefixes_need_more(hap_v2_tcp4_crc, HAP_V2_TCP4_CRC_LEN);

	/* HAProxy's checksum is the one we compute */
	memcpy(b, hap_v2_tcp4_crc, sizeof(b));
	seal(b, HAP_V2_TCP4_CRC_LEN, HAP_V2_TCP4_CRC_AT);
	assert_memory_equal(b, hap_v2_tcp4_crc, sizeof(b));

	/* one bit flipped anywhere in the header is refused, except where it
	 * turns the header into one whose block is discarded unread */
	for (size_t i = 0; i < sizeof(b); i++) {
		memcpy(b, hap_v2_tcp4_crc, sizeof(b));
		b[i] ^= 0x01;
		int rc = parse(b, sizeof(b), &h);
		if (i >= HAP_V2_TCP4_CRC_LEN) {
			assert_int_equal(rc, HAP_V2_TCP4_CRC_LEN); /* the client's bytes */
		} else if (i < 12) {
			assert_int_equal(rc, -EPROTO); /* the signature */
		} else if (i == 12 || i == 13) {
			/* LOCAL (0x20), or AF_INET with an UNSPEC transport (0x10) */
			assert_int_equal(rc, HAP_V2_TCP4_CRC_LEN);
			assert_true(h.local);
		} else if (i == HAP_V2_TCP4_CRC_AT - 3) {
			/* the CRC TLV's type (now AUTHORITY): no checksum to check */
			assert_int_equal(rc, HAP_V2_TCP4_CRC_LEN);
			assert_false(h.local);
		} else if (i == 14) {
			assert_int_equal(rc, 0); /* 293 bytes announced: waits */
		} else {
			if (rc != -EINVAL) {
				print_error("bit flipped in byte %zu: %d\n", i, rc);
				fail();
			}
		}
	}
}

static void test_v2_haproxy_tcp6(void **state)
{
	struct proxy_hdr h;
	assert_int_equal(parse(hap_v2_tcp6, sizeof(hap_v2_tcp6), &h), HAP_V2_TCP6_LEN);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_int_equal(h.fam, PROXY_FAM_TCP6);
	assert_false(h.local);
	assert_addr(&h.src, "::1", 42464);
	assert_addr(&h.dst, "::1", 17003);
	assert_prefixes_need_more(hap_v2_tcp6, HAP_V2_TCP6_LEN);
}

static void test_v2_haproxy_local(void **state)
{
	struct proxy_hdr h;
	memset(&h, 0xA5, sizeof(h));
	assert_int_equal(parse(hap_v2_local, sizeof(hap_v2_local), &h), HAP_V2_LOCAL_LEN);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_int_equal(h.fam, PROXY_FAM_UNSPEC);
	assert_true(h.local);
	assert_zero_addr(&h.src);
	assert_zero_addr(&h.dst);
	assert_prefixes_need_more(hap_v2_local, HAP_V2_LOCAL_LEN);
}

/* §2.2: LOCAL discards the block, family included, whatever it holds. */
static void test_v2_local_ignores_block(void **state)
{
	uint8_t b[64], body[20];
	struct proxy_hdr h;

	memcpy(body, addr4, 12);
	memset(body + 12, 0xEE, 8); /* not TLVs */
	size_t n = v2(b, 0x20, PROXY_FAM_TCP4, body, sizeof(body));
	assert_int_equal(parse(b, n, &h), (int)n);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_int_equal(h.fam, PROXY_FAM_TCP4);
	assert_true(h.local);
	assert_zero_addr(&h.src);
	assert_prefixes_need_more(b, n);

	n = v2(b, 0x20, 0xFF, NULL, 0); /* a family PROXY would refuse */
	assert_int_equal(parse(b, n, &h), 16);
	assert_true(h.local);
	assert_int_equal(h.fam, 0xFF);
}

static void test_v2_tcp4_tcp6(void **state)
{
	uint8_t b[128];
	struct proxy_hdr h;

	size_t n = v2(b, 0x21, PROXY_FAM_TCP4, addr4, sizeof(addr4));
	assert_int_equal(n, 28);
	assert_int_equal(parse(b, n, &h), 28);
	assert_false(h.local);
	assert_int_equal(h.src.sa.sa_family, AF_INET);
	assert_addr(&h.src, "192.0.2.1", 40000);
	assert_addr(&h.dst, "198.51.100.7", 443);
	assert_prefixes_need_more(b, n);

	n = v2(b, 0x21, PROXY_FAM_TCP6, addr6, sizeof(addr6));
	assert_int_equal(parse(b, n, &h), 52);
	assert_false(h.local);
	assert_int_equal(h.dst.sa.sa_family, AF_INET6);
	assert_addr(&h.src, "2001:db8::1", 1);
	assert_addr(&h.dst, "2001:db8:ffff::2", 65535);
	assert_prefixes_need_more(b, n);
}

static void test_v2_tlvs(void **state)
{
	static const uint8_t ssl[] = {0x01, 0, 0, 0, 0, 0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '3'};
	uint8_t body[256], b[300];
	struct proxy_hdr h;
	size_t m = 0;

	memcpy(body, addr6, 36);
	m = 36;
	m += tlv(body + m, 0x01, "\x02h2", 3);      /* ALPN */
	m += tlv(body + m, 0x04, NULL, 0);          /* NOOP, empty */
	m += tlv(body + m, 0x20, ssl, sizeof(ssl)); /* SSL with a version sub-TLV */
	m += tlv(body + m, 0xEA, "vpce-0123", 9);   /* AWS VPC endpoint */
	size_t crc_at = 16 + m + 3;
	m += tlv(body + m, 0x03, "\0\0\0\0", 4); /* CRC32C */
	size_t n = v2(b, 0x21, PROXY_FAM_TCP6, body, m);
	seal(b, n, crc_at);
	memcpy(b + n, "trailing client bytes", 21);

	assert_int_equal(parse(b, n + 21, &h), (int)n);
	assert_false(h.local);
	assert_addr(&h.src, "2001:db8::1", 1);
	assert_addr(&h.dst, "2001:db8:ffff::2", 65535);
	assert_prefixes_need_more(b, n);

	/* a wrong checksum */
	b[crc_at + 3] ^= 0x80;
	assert_int_equal(parse(b, n, &h), -EINVAL);

	/* without the checksum: TLVs are only checked for shape */
	n = v2(b, 0x21, PROXY_FAM_TCP6, body, crc_at - 16 - 3);
	assert_int_equal(parse(b, n, &h), (int)n);
}

static void test_v2_tlv_malformed(void **state)
{
	uint8_t body[64], b[128];
	struct proxy_hdr h;
	size_t m;

	/* a TLV longer than the header */
	memcpy(body, addr4, 12);
	m = 12 + tlv(body + 12, 0x04, "abcd", 4);
	wr16(body + 13, 5);
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m), &h), -EINVAL);
	/* one or two bytes after the last TLV */
	m = 12 + tlv(body + 12, 0x04, "abcd", 4);
	body[m] = 0x04;
	body[m + 1] = 0x00;
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m + 1), &h), -EINVAL);
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m + 2), &h), -EINVAL);
	/* a TLV header whose length runs past the end by one */
	body[m + 2] = 0x01;
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m + 3), &h), -EINVAL);
	body[m + 2] = 0x00;
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m + 3), &h), 16 + (int)m + 3);
	/* CRC32C TLV of the wrong size */
	m = 12 + tlv(body + 12, 0x03, "abc", 3);
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_TCP4, body, m), &h), -EINVAL);
	/* two CRC32C TLVs, the first one right */
	m = 12 + tlv(body + 12, 0x03, "\0\0\0\0", 4);
	m += tlv(body + m, 0x03, "\0\0\0\0", 4);
	size_t n = v2(b, 0x21, PROXY_FAM_TCP4, body, m);
	seal(b, n, 16 + 12 + 3);
	assert_int_equal(parse(b, n, &h), -EINVAL);
	memset(b + 16 + 12 + 3, 0, 4);
	seal(b, n, 16 + 12 + 7 + 3); /* the second one right */
	assert_int_equal(parse(b, n, &h), -EINVAL);
	/* TLVs after an UNSPEC PROXY header are checked too */
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_UNSPEC, "\x04\x00", 2), &h), -EINVAL);
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_UNSPEC, "\x04\x00\x00", 3), &h), 19);
}

/* PROXY with UDP, AF_UNIX or UNSPEC: accepted, no address to use. */
static void test_v2_unusable_families(void **state)
{
	static const struct {
		uint8_t fam;
		size_t alen;
	} cases[] = {
	    {PROXY_FAM_UDP4, 12},
	    {PROXY_FAM_UDP6, 36},
	    {PROXY_FAM_UNIX_STREAM, 216},
	    {PROXY_FAM_UNIX_DGRAM, 216},
	    {PROXY_FAM_UNSPEC, 0},
	    {0x10, 5}, /* AF_INET, UNSPEC */
	    {0x01, 7}, /* UNSPEC, STREAM */
	    {0x32, 216},
	};
	uint8_t body[256], b[300];
	struct proxy_hdr h;

	memset(body, 0x7F, sizeof(body));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = v2(b, 0x21, cases[i].fam, body, cases[i].alen);
		memset(&h, 0xA5, sizeof(h));
		assert_int_equal(parse(b, n, &h), (int)n);
		assert_int_equal(h.cmd, PROXY_CMD_PROXY);
		assert_int_equal(h.fam, cases[i].fam);
		assert_true(h.local);
		assert_zero_addr(&h.src);
		assert_zero_addr(&h.dst);
		assert_prefixes_need_more(b, n);
	}
	/* too short for its family: refused as soon as the length is known */
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_UDP4, body, 11), &h), -EINVAL);
	assert_int_equal(parse(b, 16, &h), -EINVAL);
	assert_int_equal(parse(b, v2(b, 0x21, PROXY_FAM_UNIX_STREAM, body, 215), &h), -EINVAL);
	assert_int_equal(parse(b, 16, &h), -EINVAL);
}

static void test_v2_malformed(void **state)
{
	uint8_t b[128];
	struct proxy_hdr h;
	size_t n;

	/* every byte of the signature matters, and decides at once */
	for (size_t i = 0; i < 12; i++) {
		n = v2(b, 0x21, PROXY_FAM_TCP4, addr4, sizeof(addr4));
		b[i] ^= 0x20;
		assert_int_equal(parse(b, n, &h), -EPROTO);
		assert_int_equal(parse(b, i + 1, &h), -EPROTO);
		if (i > 0)
			assert_int_equal(parse(b, i, &h), 0);
	}
	/* version 1 or 3 in the binary format, unknown commands */
	static const uint8_t bad_vc[] = {0x11, 0x31, 0x01, 0xF1, 0x22, 0x2F};
	for (size_t i = 0; i < sizeof(bad_vc); i++) {
		n = v2(b, bad_vc[i], PROXY_FAM_TCP4, addr4, sizeof(addr4));
		assert_int_equal(parse(b, n, &h), -EINVAL);
		assert_int_equal(parse(b, 13, &h), -EINVAL);
	}
	/* families and transports outside the spec */
	static const uint8_t bad_fam[] = {0x41, 0x13, 0x03, 0xF1, 0x1F, 0x44};
	for (size_t i = 0; i < sizeof(bad_fam); i++) {
		n = v2(b, 0x21, bad_fam[i], addr4, sizeof(addr4));
		assert_int_equal(parse(b, n, &h), -EINVAL);
		assert_int_equal(parse(b, 14, &h), -EINVAL);
	}
	/* address block shorter than the family needs */
	n = v2(b, 0x21, PROXY_FAM_TCP4, addr4, 11);
	assert_int_equal(parse(b, n, &h), -EINVAL);
	assert_int_equal(parse(b, 16, &h), -EINVAL);
	n = v2(b, 0x21, PROXY_FAM_TCP6, addr6, 35);
	assert_int_equal(parse(b, n, &h), -EINVAL);
	n = v2(b, 0x21, PROXY_FAM_TCP6, addr4, 12);
	assert_int_equal(parse(b, n, &h), -EINVAL);
	/* a body that has not all arrived */
	n = v2(b, 0x21, PROXY_FAM_TCP4, addr4, sizeof(addr4));
	assert_int_equal(parse(b, n - 1, &h), 0);
	/* a STUN Binding request on the proxy port */
	static const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
	assert_int_equal(parse(stun, sizeof(stun), &h), -EPROTO);
}

static void test_v2_size_limit(void **state)
{
	static uint8_t b[PROXY_V2_MAX_LEN + 16], body[PROXY_V2_MAX_LEN];
	struct proxy_hdr h;

	/* exactly PROXY_V2_MAX_LEN: addresses and one NOOP TLV */
	memcpy(body, addr4, 12);
	size_t fill = PROXY_V2_MAX_LEN - 16 - 12 - 3;
	body[12] = 0x04; /* NOOP */
	wr16(body + 13, (uint16_t)fill);
	memset(body + 15, 'n', fill);
	size_t n = v2(b, 0x21, PROXY_FAM_TCP4, body, PROXY_V2_MAX_LEN - 16);
	assert_int_equal(n, PROXY_V2_MAX_LEN);
	assert_int_equal(parse(b, n, &h), PROXY_V2_MAX_LEN);
	assert_addr(&h.src, "192.0.2.1", 40000);
	assert_int_equal(parse(b, 16, &h), 0);
	assert_int_equal(parse(b, n - 1, &h), 0);

	/* one more byte: refused from the 16-byte header alone */
	wr16(body + 13, (uint16_t)(fill + 1));
	n = v2(b, 0x21, PROXY_FAM_TCP4, body, PROXY_V2_MAX_LEN - 15);
	assert_int_equal(parse(b, 16, &h), -EMSGSIZE);
	assert_int_equal(parse(b, n, &h), -EMSGSIZE);
	/* LOCAL too */
	v2(b, 0x20, PROXY_FAM_UNSPEC, NULL, 0);
	wr16(b + 14, 0xFFFF);
	assert_int_equal(parse(b, 16, &h), -EMSGSIZE);
}

/* ---- both ---- */

/* The client's bytes after the header are neither consumed nor looked at. */
static void test_trailing_bytes(void **state)
{
	static const struct {
		const uint8_t *b;
		size_t hdr;
	} v[] = {
	    {hap_v1_tcp4, HAP_V1_TCP4_LEN},         {hap_v1_tcp6_mapped, HAP_V1_TCP6_MAPPED_LEN},
	    {hap_v2_tcp4_crc, HAP_V2_TCP4_CRC_LEN}, {hap_v2_tcp6, HAP_V2_TCP6_LEN},
	    {hap_v2_local, HAP_V2_LOCAL_LEN},
	};
	/* what follows: a STUN Binding request, a second header, garbage */
	static const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
	                                 3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
	const uint8_t *tails[] = {stun, hap_v1_tcp4, (const uint8_t *)"\r\n\r\n\xff\xff"};
	size_t tail_len[] = {sizeof(stun), HAP_V1_TCP4_LEN, 6};
	uint8_t b[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct proxy_hdr alone, h;
		assert_int_equal(parse(v[i].b, v[i].hdr, &alone), (int)v[i].hdr);
		for (size_t t = 0; t < 3; t++) {
			memcpy(b, v[i].b, v[i].hdr);
			memcpy(b + v[i].hdr, tails[t], tail_len[t]);
			for (size_t k = 1; k <= tail_len[t]; k++) {
				memset(&h, 0x5A, sizeof(h));
				assert_int_equal(parse(b, v[i].hdr + k, &h), (int)v[i].hdr);
				assert_int_equal(h.version, alone.version);
				assert_int_equal(h.local, alone.local);
				assert_memory_equal(&h.src, &alone.src, sizeof(h.src));
				assert_memory_equal(&h.dst, &alone.dst, sizeof(h.dst));
			}
		}
	}
	/* a second v1 line is the client's, not the header's */
	memcpy(b, hap_v1_tcp4, HAP_V1_TCP4_LEN);
	memcpy(b + HAP_V1_TCP4_LEN, hap_v1_tcp4, HAP_V1_TCP4_LEN);
	struct proxy_hdr h;
	assert_int_equal(parse(b, 2 * HAP_V1_TCP4_LEN, &h), HAP_V1_TCP4_LEN);
}

/* *out is written only for a complete header. */
static void test_out_untouched(void **state)
{
	struct proxy_hdr h, before;
	memset(&h, 0xA5, sizeof(h));
	before = h;
	assert_int_equal(parse(hap_v1_tcp4, 30, &h), 0);
	assert_int_equal(parse(hap_v2_tcp6, 40, &h), 0);
	assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 36, &h), -EINVAL);
	assert_int_equal(parse("hello", 5, &h), -EPROTO);
	assert_int_equal(parse(hap_v1_tcp4, 0, &h), 0);
	assert_memory_equal(&h, &before, sizeof(h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_vectors),
	    cmocka_unit_test(test_v1_haproxy_tcp4),
	    cmocka_unit_test(test_v1_haproxy_tcp6_mapped),
	    cmocka_unit_test(test_v1_tcp4_extremes),
	    cmocka_unit_test(test_v1_tcp6_forms),
	    cmocka_unit_test(test_v1_unknown),
	    cmocka_unit_test(test_v1_line_limit),
	    cmocka_unit_test(test_v1_malformed),
	    cmocka_unit_test(test_v1_early),
	    cmocka_unit_test(test_v2_haproxy_tcp4_crc),
	    cmocka_unit_test(test_v2_haproxy_tcp6),
	    cmocka_unit_test(test_v2_haproxy_local),
	    cmocka_unit_test(test_v2_local_ignores_block),
	    cmocka_unit_test(test_v2_tcp4_tcp6),
	    cmocka_unit_test(test_v2_tlvs),
	    cmocka_unit_test(test_v2_tlv_malformed),
	    cmocka_unit_test(test_v2_unusable_families),
	    cmocka_unit_test(test_v2_malformed),
	    cmocka_unit_test(test_v2_size_limit),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_out_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
