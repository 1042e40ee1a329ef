/* PROXY protocol v1/v2 parser (proxy.h). Section numbers and quotes are from
 * HAProxy's doc/proxy-protocol.txt. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "net/proxy.h"
#include "util/bytes.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define PP2_TYPE_CRC32C 0x03

/* ---- v1: one text line ---- */

/* Every reader below returns 1 (read), 0 (what has arrived is a valid
 * start: need more) or -EINVAL, and stops before the byte that ends its
 * token, so the caller checks the separator. */
struct v1 {
	const uint8_t *b;
	size_t len;
	size_t i;
};

static int v1_peek(const struct v1 *s, uint8_t *c)
{
	/* §2.1: "If the CRLF sequence is not found in the first 107
	 * characters, the receiver should declare the line invalid." */
	if (s->i >= PROXY_V1_MAX_LEN)
		return -EINVAL;
	if (s->i >= s->len)
		return 0;
	*c = s->b[s->i];
	return 1;
}

static int v1_lit(struct v1 *s, const char *lit)
{
	uint8_t c;
	int rc;

	for (; *lit; lit++) {
		if ((rc = v1_peek(s, &c)) <= 0)
			return rc;
		if (c != (uint8_t)*lit)
			return -EINVAL;
		s->i++;
	}
	return 1;
}

/* Which of n words (none a prefix of another) comes next. */
static int v1_word(struct v1 *s, const char *const *words, int n, int *which)
{
	for (int k = 0; k < n; k++) {
		struct v1 t = *s;
		int rc = v1_lit(&t, words[k]);
		if (rc == 0)
			return 0;
		if (rc > 0) {
			*s = t;
			*which = k;
			return 1;
		}
	}
	return -EINVAL;
}

/* §2.1: decimal, "Heading zeroes are not permitted in front of numbers";
 * no sign either. */
static int v1_num(struct v1 *s, unsigned max, unsigned *out)
{
	unsigned v = 0, n = 0;
	uint8_t c;
	int rc;

	while ((rc = v1_peek(s, &c)) > 0 && c >= '0' && c <= '9') {
		if (n == 1 && v == 0)
			return -EINVAL;
		v = v * 10 + (unsigned)(c - '0');
		if (v > max)
			return -EINVAL;
		n++;
		s->i++;
	}
	if (rc <= 0)
		return rc;
	if (n == 0)
		return -EINVAL;
	*out = v;
	return 1;
}

/* §2.1: "exactly 4 integers in the range [0..255] ... separated by exactly
 * one dot". */
static int v1_ipv4(struct v1 *s, union tern_addr *a)
{
	uint8_t ip[4];
	unsigned v;
	int rc;

	for (int k = 0; k < 4; k++) {
		if (k > 0 && (rc = v1_lit(s, ".")) <= 0)
			return rc;
		if ((rc = v1_num(s, 255, &v)) <= 0)
			return rc;
		ip[k] = (uint8_t)v;
	}
	a->v4.sin_family = AF_INET;
	memcpy(&a->v4.sin_addr, ip, 4);
	return 1;
}

/* inet_pton decides once the address has ended; meanwhile a shape no
 * completion could fix (a group of 5 hex digits, a second "::", a dot
 * before any colon, a colon or a letter after a dot) fails at once. */
static int v1_ipv6(struct v1 *s, union tern_addr *a)
{
	char txt[INET6_ADDRSTRLEN];
	size_t n = 0;
	unsigned group = 0;
	bool dcolon = false, colon = false, dot = false;
	uint8_t c;
	int rc;

	while ((rc = v1_peek(s, &c)) > 0) {
		bool hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
		if (c == ':') {
			if (dot)
				return -EINVAL;
			if (n > 0 && txt[n - 1] == ':') {
				if (dcolon)
					return -EINVAL;
				dcolon = true;
			}
			colon = true;
			group = 0;
		} else if (c == '.') {
			if (!colon)
				return -EINVAL;
			dot = true;
			group = 0;
		} else if (hex && (!dot || (c >= '0' && c <= '9'))) {
			if (++group > (dot ? 3u : 4u))
				return -EINVAL;
		} else {
			break;
		}
		if (n == sizeof(txt) - 1)
			return -EINVAL;
		txt[n++] = (char)c;
		s->i++;
	}
	if (rc <= 0)
		return rc;
	txt[n] = '\0';
	if (inet_pton(AF_INET6, txt, &a->v6.sin6_addr) != 1)
		return -EINVAL;
	a->v6.sin6_family = AF_INET6;
	return 1;
}

static int v1_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	static const char *const protos[] = {"TCP4 ", "TCP6 ", "UNKNOWN"};
	struct v1 s = {buf, len, 0};
	unsigned sport, dport;
	int which, rc;
	uint8_t c;

	/* §2.2: the five characters "PROXY" are what says version 1 */
	for (; s.i < 5; s.i++) {
		if (s.i >= len)
			return 0;
		if (buf[s.i] != (uint8_t) "PROXY"[s.i])
			return -EPROTO;
	}
	if ((rc = v1_lit(&s, " ")) <= 0 || (rc = v1_word(&s, protos, 3, &which)) <= 0)
		return rc;
	h->version = 1;
	h->cmd = PROXY_CMD_PROXY;

	if (which == 2) {
		/* §2.1: for "UNKNOWN", "the receiver must ignore anything
		 * presented before the CRLF", but "must not tolerate a single CR
		 * or LF character to end the line" */
		if ((rc = v1_peek(&s, &c)) <= 0)
			return rc;
		if (c == ' ') {
			s.i++;
			while ((rc = v1_peek(&s, &c)) > 0 && c != '\r' && c != '\n')
				s.i++;
			if (rc <= 0)
				return rc;
		}
		if ((rc = v1_lit(&s, "\r\n")) <= 0)
			return rc;
		h->fam = PROXY_FAM_UNSPEC;
		h->local = true;
		return (int)s.i;
	}

	int (*addr)(struct v1 *, union tern_addr *) = which == 0 ? v1_ipv4 : v1_ipv6;
	if ((rc = addr(&s, &h->src)) <= 0 || (rc = v1_lit(&s, " ")) <= 0 || (rc = addr(&s, &h->dst)) <= 0 ||
	    (rc = v1_lit(&s, " ")) <= 0 || (rc = v1_num(&s, 65535, &sport)) <= 0 ||
	    (rc = v1_lit(&s, " ")) <= 0 || (rc = v1_num(&s, 65535, &dport)) <= 0 ||
	    (rc = v1_lit(&s, "\r\n")) <= 0)
		return rc;
	h->fam = which == 0 ? PROXY_FAM_TCP4 : PROXY_FAM_TCP6;
	addr_set_port(&h->src, (uint16_t)sport);
	addr_set_port(&h->dst, (uint16_t)dport);
	return (int)s.i;
}

/* ---- v2: a binary block ---- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: it
 * runs once per connection over at most PROXY_V2_MAX_LEN bytes. */
static uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return crc;
}

/* Bytes of addresses (and ports) for a family/transport byte; SIZE_MAX for
 * the valid combinations whose layout the spec leaves open. */
static size_t v2_addr_len(uint8_t fam)
{
	switch (fam) {
	case PROXY_FAM_UNSPEC:
		return 0;
	case PROXY_FAM_TCP4:
	case PROXY_FAM_UDP4:
		return 12;
	case PROXY_FAM_TCP6:
	case PROXY_FAM_UDP6:
		return 36;
	case PROXY_FAM_UNIX_STREAM:
	case PROXY_FAM_UNIX_DGRAM:
		return 216;
	}
	return SIZE_MAX;
}

/* The TLVs from off to the end of the header must tile it exactly. */
static int v2_tlvs(const uint8_t *b, size_t off, size_t total)
{
	static const uint8_t zero[4];
	size_t crc_at = 0;

	while (off < total) {
		if (total - off < 3 || rd16(b + off + 1) > total - off - 3)
			return -EINVAL;
		size_t vlen = rd16(b + off + 1);
		if (b[off] == PP2_TYPE_CRC32C) {
			if (vlen != 4 || crc_at)
				return -EINVAL;
			crc_at = off + 3;
		}
		off += 3 + vlen;
	}
	if (crc_at) {
		/* §2.2.3: the CRC32C of the whole header with the checksum
		 * zeroed; "If it is not [the same], the receiver MUST treat the
		 * TCP connection providing the header as invalid." */
		uint32_t crc = crc32c_update(0xFFFFFFFFu, b, crc_at);
		crc = crc32c_update(crc, zero, sizeof(zero));
		crc = crc32c_update(crc, b + crc_at + 4, total - crc_at - 4);
		if ((crc ^ 0xFFFFFFFFu) != rd32(b + crc_at))
			return -EINVAL;
	}
	return 0;
}

static int v2_parse(const uint8_t *b, size_t len, struct proxy_hdr *h)
{
	if (memcmp(b, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
		return -EPROTO;
	if (len < 13)
		return 0;
	/* §2.2: the version "must always be sent as \x2 and the receiver must
	 * only accept this value"; for other commands "Receivers must drop
	 * connections presenting unexpected values here." */
	uint8_t cmd = b[12] & 0x0F;
	if (b[12] >> 4 != 2 || cmd > PROXY_CMD_PROXY)
		return -EINVAL;
	if (len < 14)
		return 0;
	/* §2.2: other families and transports "must be rejected as invalid by
	 * receivers"; under LOCAL the family "is ignored" */
	uint8_t fam = b[13];
	if (cmd == PROXY_CMD_PROXY && ((fam >> 4) > 3 || (fam & 0x0F) > 2))
		return -EINVAL;
	if (len < PROXY_V2_HDR_LEN)
		return 0;
	size_t blen = rd16(b + 14), total = PROXY_V2_HDR_LEN + blen;
	if (total > PROXY_V2_MAX_LEN)
		return -EMSGSIZE;
	size_t alen = v2_addr_len(fam);
	if (cmd == PROXY_CMD_PROXY && alen != SIZE_MAX && blen < alen)
		return -EINVAL;
	if (len < total)
		return 0;

	h->version = 2;
	h->cmd = cmd;
	h->fam = fam;
	h->local = true;
	/* §2.2: for LOCAL the receiver "must use the real connection endpoints
	 * and discard the protocol block"; a layout the spec leaves open
	 * (UNSPEC with a family, or a family with UNSPEC) cannot be read */
	if (cmd == PROXY_CMD_LOCAL || alen == SIZE_MAX)
		return (int)total;
	int rc = v2_tlvs(b, PROXY_V2_HDR_LEN + alen, total);
	if (rc < 0)
		return rc;

	const uint8_t *a = b + PROXY_V2_HDR_LEN;
	if (fam == PROXY_FAM_TCP4) {
		h->src.v4.sin_family = AF_INET;
		memcpy(&h->src.v4.sin_addr, a, 4);
		h->dst.v4.sin_family = AF_INET;
		memcpy(&h->dst.v4.sin_addr, a + 4, 4);
		addr_set_port(&h->src, rd16(a + 8));
		addr_set_port(&h->dst, rd16(a + 10));
		h->local = false;
	} else if (fam == PROXY_FAM_TCP6) {
		h->src.v6.sin6_family = AF_INET6;
		memcpy(&h->src.v6.sin6_addr, a, 16);
		h->dst.v6.sin6_family = AF_INET6;
		memcpy(&h->dst.v6.sin6_addr, a + 16, 16);
		addr_set_port(&h->src, rd16(a + 32));
		addr_set_port(&h->dst, rd16(a + 34));
		h->local = false;
	}
	return (int)total;
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
	struct proxy_hdr h;
	int rc;

	if (len == 0)
		return 0;
	memset(&h, 0, sizeof(h));
	/* §2.2: version 1 starts with "PROXY", version 2 with its signature,
	 * whose first byte is CR */
	if (buf[0] == 'P')
		rc = v1_parse(buf, len, &h);
	else if (buf[0] == v2_sig[0])
		rc = v2_parse(buf, len, &h);
	else
		rc = -EPROTO;
	if (rc > 0)
		*out = h;
	return rc;
}
