/* STUN message parsing, attribute decoders, stream framing, ChannelData.
 * Builders live in stun_build.c, integrity and fingerprint in
 * stun_integrity.c. */
#include "stun/stun.h"

#include <errno.h>
#include <string.h>

#include "util/bytes.h"

/* The 12-bit method is split around the two class bits C0 (bit 4) and C1
 * (bit 8) of the 14-bit type (RFC 8489 §5, Figure 3). */
uint16_t stun_type(uint16_t method, enum stun_class cls)
{
	unsigned m = method & 0xFFFu, c = (unsigned)cls & 3u;

	return (uint16_t)((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) |
	                  ((c & 2) << 7));
}

uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000F) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0F80));
}

enum stun_class stun_type_class(uint16_t type)
{
	return (enum stun_class)(((type >> 4) & 1) | ((type >> 7) & 2));
}

/* Comprehension-required types this codec knows; everything else below
 * 0x8000 goes to unknown[] so the caller can answer 420. */
static bool known_required(uint16_t t)
{
	switch (t) {
	case STUN_A_MAPPED_ADDRESS:
	case STUN_A_CHANGE_REQUEST:
	case STUN_A_USERNAME:
	case STUN_A_MESSAGE_INTEGRITY:
	case STUN_A_ERROR_CODE:
	case STUN_A_UNKNOWN_ATTRIBUTES:
	case STUN_A_CHANNEL_NUMBER:
	case STUN_A_LIFETIME:
	case STUN_A_XOR_PEER_ADDRESS:
	case STUN_A_DATA:
	case STUN_A_REALM:
	case STUN_A_NONCE:
	case STUN_A_XOR_RELAYED_ADDRESS:
	case STUN_A_REQUESTED_ADDRESS_FAMILY:
	case STUN_A_EVEN_PORT:
	case STUN_A_REQUESTED_TRANSPORT:
	case STUN_A_DONT_FRAGMENT:
	case STUN_A_MESSAGE_INTEGRITY_SHA256:
	case STUN_A_PASSWORD_ALGORITHM:
	case STUN_A_USERHASH:
	case STUN_A_XOR_MAPPED_ADDRESS:
	case STUN_A_RESERVATION_TOKEN:
	case STUN_A_PRIORITY:
	case STUN_A_USE_CANDIDATE:
	case STUN_A_PADDING:
	case STUN_A_RESPONSE_PORT:
	case STUN_A_CONNECTION_ID:
		return true;
	default:
		return false;
	}
}

static void note_unknown(struct stun_msg *m, uint16_t t)
{
	for (unsigned i = 0; i < m->nunknown; i++)
		if (m->unknown[i] == t)
			return;
	if (m->nunknown < STUN_MAX_UNKNOWN)
		m->unknown[m->nunknown++] = t;
}

/* Whether an attribute at this point of the message is processed at all. */
static bool attr_counts(const struct stun_msg *m, uint16_t t)
{
	/* RFC 8489 §14.7: FINGERPRINT MUST be the last attribute. */
	if (m->fp >= 0)
		return false;
	/* RFC 8489 §14.6: "With the exception of the FINGERPRINT attribute,
	 * which appears after MESSAGE-INTEGRITY-SHA256, agents MUST ignore all
	 * other attributes that follow MESSAGE-INTEGRITY-SHA256." */
	if (m->mi256 >= 0)
		return t == STUN_A_FINGERPRINT;
	/* RFC 8489 §14.5: "With the exception of the MESSAGE-INTEGRITY-SHA256
	 * and FINGERPRINT attributes, which appear after MESSAGE-INTEGRITY,
	 * agents MUST ignore all other attributes that follow
	 * MESSAGE-INTEGRITY." */
	if (m->mi >= 0)
		return t == STUN_A_MESSAGE_INTEGRITY_SHA256 || t == STUN_A_FINGERPRINT;
	return true;
}

int stun_parse(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	size_t off;
	unsigned seen = 0;

	m->buf = buf;
	m->len = len;
	m->nattrs = 0;
	m->nunknown = 0;
	m->mi = m->mi256 = m->fp = -1;

	/* Bounding len also keeps every attribute offset inside the 16-bit
	 * stun_attr.off. */
	if (len < STUN_HEADER_LEN || len > STUN_MAX_MSG)
		return -EINVAL;
	/* RFC 8489 §5: "The most significant 2 bits of every STUN message
	 * MUST be zeroes." §6.3: check them and the magic cookie. */
	if ((buf[0] & 0xC0) != 0 || rd32(buf + 4) != STUN_MAGIC_COOKIE)
		return -EINVAL;
	/* RFC 8489 §5: the length excludes the header and, all attributes
	 * being padded, its last 2 bits are always zero. Over UDP the
	 * message fills the datagram exactly. */
	if ((rd16(buf + 2) & 3) != 0 || rd16(buf + 2) != len - STUN_HEADER_LEN)
		return -EINVAL;

	m->type = rd16(buf);
	m->method = stun_type_method(m->type);
	m->cls = stun_type_class(m->type);
	m->txid = buf + 8;

	for (off = STUN_HEADER_LEN; off < len;) {
		uint16_t t, alen;

		if (len - off < 4)
			return -EINVAL;
		t = rd16(buf + off);
		alen = rd16(buf + off + 2);
		/* RFC 8489 §14: the value and its padding to 4 bytes lie
		 * inside the message (the padding content is ignored). */
		if (pad4(alen) > len - off - 4)
			return -EINVAL;
		if (++seen > STUN_MAX_ATTRS)
			return -EINVAL;

		if (attr_counts(m, t)) {
			struct stun_attr *a = &m->attrs[m->nattrs];

			a->type = t;
			a->len = alen;
			a->val = buf + off + 4;
			a->off = (uint16_t)off;
			if (t == STUN_A_MESSAGE_INTEGRITY && m->mi < 0)
				m->mi = (int)m->nattrs;
			else if (t == STUN_A_MESSAGE_INTEGRITY_SHA256 && m->mi256 < 0)
				m->mi256 = (int)m->nattrs;
			else if (t == STUN_A_FINGERPRINT)
				m->fp = (int)m->nattrs;
			else if (t < 0x8000 && !known_required(t))
				note_unknown(m, t);
			m->nattrs++;
		}
		off += 4 + pad4(alen);
	}
	return 0;
}

int stun_frame_len(const uint8_t *buf, size_t len)
{
	if (len < 1)
		return 0;
	if (stun_is_stun(buf, len)) {
		if (len >= 4 && (rd16(buf + 2) & 3) != 0)
			return -EINVAL;
		/* Wait for the cookie before trusting a length: garbage on a
		 * stream is rejected at once instead of buffering up to 64 KiB. */
		if (len < 8)
			return 0;
		if (rd32(buf + 4) != STUN_MAGIC_COOKIE)
			return -EINVAL;
		/* stun_parse() would refuse it anyway; say so before the
		 * caller buffers it. */
		if (STUN_HEADER_LEN + rd16(buf + 2) > STUN_MAX_MSG)
			return -EINVAL;
		return STUN_HEADER_LEN + rd16(buf + 2);
	}
	if (stun_is_channeldata(buf, len)) {
		if (len < TURN_CHANNEL_HDR)
			return 0;
		/* RFC 8656 §12: over TCP and TLS, ChannelData is padded to a
		 * multiple of 4 bytes. */
		return (int)(TURN_CHANNEL_HDR + pad4(rd16(buf + 2)));
	}
	return -EINVAL;
}

const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type)
{
	for (unsigned i = 0; i < m->nattrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

/* Family byte and length must agree (RFC 8489 §14.1, §14.2); the first
 * byte is reserved and ignored. */
static int addr_decode(const struct stun_attr *a, const uint8_t mask[16], uint16_t port_mask,
                       union tern_addr *out)
{
	uint16_t port;

	if (a->len < 4)
		return -EINVAL;
	port = (uint16_t)(rd16(a->val + 2) ^ port_mask);
	memset(out, 0, sizeof(*out));
	if (a->val[1] == STUN_FAMILY_IPV4 && a->len == 8) {
		uint8_t ip[4];

		for (int i = 0; i < 4; i++)
			ip[i] = a->val[4 + i] ^ mask[i];
		out->v4.sin_family = AF_INET;
		out->v4.sin_port = htons(port);
		memcpy(&out->v4.sin_addr, ip, 4);
		return 0;
	}
	if (a->val[1] == STUN_FAMILY_IPV6 && a->len == 20) {
		out->v6.sin6_family = AF_INET6;
		out->v6.sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			out->v6.sin6_addr.s6_addr[i] = a->val[4 + i] ^ mask[i];
		return 0;
	}
	return -EINVAL;
}

int stun_attr_xaddr(const struct stun_msg *m, const struct stun_attr *a, union tern_addr *out)
{
	uint8_t mask[16];

	/* RFC 8489 §14.2: the port is XOR'd with the top 16 bits of the
	 * cookie, IPv4 with the cookie, IPv6 with cookie || transaction id. */
	wr32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, m->txid, STUN_TXID_LEN);
	return addr_decode(a, mask, (uint16_t)(STUN_MAGIC_COOKIE >> 16), out);
}

int stun_attr_addr(const struct stun_attr *a, union tern_addr *out)
{
	static const uint8_t zero[16];

	return addr_decode(a, zero, 0, out);
}

int stun_attr_u32(const struct stun_attr *a, uint32_t *out)
{
	if (a->len != 4)
		return -EINVAL;
	*out = rd32(a->val);
	return 0;
}

int stun_attr_u64(const struct stun_attr *a, uint64_t *out)
{
	if (a->len != 8)
		return -EINVAL;
	*out = ((uint64_t)rd32(a->val) << 32) | rd32(a->val + 4);
	return 0;
}

int stun_attr_error(const struct stun_attr *a, int *code, const uint8_t **reason, size_t *reason_len)
{
	int cls, num;

	if (a->len < 4)
		return -EINVAL;
	/* RFC 8489 §14.8: "The value MUST be between 3 and 6 [class] ...
	 * its value MUST be between 0 and 99 [number]". Reserved bits are
	 * ignored. */
	cls = a->val[2] & 0x07;
	num = a->val[3];
	if (cls < 3 || cls > 6 || num > 99)
		return -EINVAL;
	*code = cls * 100 + num;
	*reason = a->val + 4;
	*reason_len = a->len - 4u;
	return 0;
}

int stun_attr_channel(const struct stun_attr *a, uint16_t *out)
{
	if (a->len != 4)
		return -EINVAL;
	*out = rd16(a->val);
	return 0;
}

int stun_attr_transport(const struct stun_attr *a, uint8_t *proto)
{
	if (a->len != 4)
		return -EINVAL;
	*proto = a->val[0];
	return 0;
}

int stun_attr_family(const struct stun_attr *a, uint8_t *family)
{
	if (a->len != 4)
		return -EINVAL;
	*family = a->val[0];
	return 0;
}

int stun_attr_even_port(const struct stun_attr *a, bool *reserve)
{
	/* RFC 8656 §18 EVEN-PORT: a 1-byte value; the R bit is the top bit. */
	if (a->len != 1)
		return -EINVAL;
	*reserve = (a->val[0] & 0x80) != 0;
	return 0;
}

int stun_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel, const uint8_t **data,
                           uint16_t *data_len)
{
	uint16_t dlen;

	if (len < TURN_CHANNEL_HDR || !stun_is_channeldata(buf, len))
		return -EINVAL;
	dlen = rd16(buf + 2);
	/* RFC 8656 §12: a UDP datagram too short to hold the claimed length
	 * is discarded; a longer one may carry padding. */
	if (dlen > len - TURN_CHANNEL_HDR)
		return -EINVAL;
	*channel = rd16(buf);
	*data = buf + TURN_CHANNEL_HDR;
	*data_len = dlen;
	return 0;
}

const char *stun_reason(int code)
{
	switch (code) {
	case 300:
		return "Try Alternate";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthenticated";
	case 403:
		return "Forbidden";
	case 405:
		return "Mobility Forbidden";
	case 420:
		return "Unknown Attribute";
	case 437:
		return "Allocation Mismatch";
	case 438:
		return "Stale Nonce";
	case 440:
		return "Address Family not Supported";
	case 441:
		return "Wrong Credentials";
	case 442:
		return "Unsupported Transport Protocol";
	case 443:
		return "Peer Address Family Mismatch";
	case 446:
		return "Connection Already Exists";
	case 447:
		return "Connection Timeout or Failure";
	case 486:
		return "Allocation Quota Reached";
	case 487:
		return "Role Conflict";
	case 500:
		return "Server Error";
	case 508:
		return "Insufficient Capacity";
	default:
		return "";
	}
}
