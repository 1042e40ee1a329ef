/* STUN message builder: appends attributes to a caller buffer and keeps the
 * header length current, so the bytes are a valid message after every add.
 * MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are in stun_integrity.c. */
#include "stun/stun.h"

#include <errno.h>
#include <string.h>

#include "util/bytes.h"

void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type, const uint8_t *txid)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	if (cap < STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return;
	}
	/* RFC 8489 §5: the top two bits are zero; a type with them set is a
	 * caller bug, not something to put on the wire. */
	if (type & 0xC000) {
		b->err = -EINVAL;
		return;
	}
	wr16(buf, type);
	wr16(buf + 2, 0);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	b->len = STUN_HEADER_LEN;
}

uint8_t *stun_add_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;
	size_t need;

	if (b->err)
		return NULL;
	if (len > UINT16_MAX) {
		b->err = -EINVAL;
		return NULL;
	}
	need = 4 + pad4(len);
	if (need > b->cap - b->len || b->len + need > STUN_MAX_MSG) {
		b->err = -ENOSPC;
		return NULL;
	}
	p = b->buf + b->len;
	wr16(p, type);
	wr16(p + 2, (uint16_t)len);
	if (val)
		memmove(p + 4, val, len);
	else
		memset(p + 4, 0, len);
	/* RFC 8489 §14: "the padding bits MUST be set to zero on sending" */
	memset(p + 4 + len, 0, pad4(len) - len);
	b->len += need;
	wr16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + 4;
}

void stun_add_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t val[4];

	wr32(val, v);
	stun_add_attr(b, type, val, sizeof(val));
}

void stun_add_u64(struct stun_builder *b, uint16_t type, uint64_t v)
{
	uint8_t val[8];

	wr32(val, (uint32_t)(v >> 32));
	wr32(val + 4, (uint32_t)v);
	stun_add_attr(b, type, val, sizeof(val));
}

/* Encodes family, port and address, each XOR'd with mask (all zero for the
 * plain form). */
static void add_address(struct stun_builder *b, uint16_t type, const union tern_addr *a,
                        const uint8_t mask[16], uint16_t port_mask)
{
	uint8_t val[20];
	const uint8_t *ip;
	size_t iplen;

	if (b->err)
		return;
	if (a->sa.sa_family == AF_INET) {
		val[1] = STUN_FAMILY_IPV4;
		ip = (const uint8_t *)&a->v4.sin_addr;
		iplen = 4;
		wr16(val + 2, (uint16_t)(ntohs(a->v4.sin_port) ^ port_mask));
	} else if (a->sa.sa_family == AF_INET6) {
		val[1] = STUN_FAMILY_IPV6;
		ip = a->v6.sin6_addr.s6_addr;
		iplen = 16;
		wr16(val + 2, (uint16_t)(ntohs(a->v6.sin6_port) ^ port_mask));
	} else {
		b->err = -EINVAL;
		return;
	}
	val[0] = 0;
	for (size_t i = 0; i < iplen; i++)
		val[4 + i] = ip[i] ^ mask[i];
	stun_add_attr(b, type, val, 4 + iplen);
}

void stun_add_xaddr(struct stun_builder *b, uint16_t type, const union tern_addr *a)
{
	uint8_t mask[16];

	if (b->err)
		return;
	/* RFC 8489 §14.2: XOR with the cookie, then the transaction id. */
	wr32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, b->buf + 8, STUN_TXID_LEN);
	add_address(b, type, a, mask, (uint16_t)(STUN_MAGIC_COOKIE >> 16));
}

void stun_add_addr(struct stun_builder *b, uint16_t type, const union tern_addr *a)
{
	static const uint8_t zero[16];

	add_address(b, type, a, zero, 0);
}

void stun_add_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	uint8_t *p;

	if (b->err)
		return;
	/* RFC 8489 §14.8: "a numeric error code value in the range of 300 to
	 * 699" */
	if (code < 300 || code > 699) {
		b->err = -EINVAL;
		return;
	}
	p = stun_add_attr(b, STUN_A_ERROR_CODE, NULL, 4 + rlen);
	if (!p)
		return;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason ? reason : "", rlen);
}

void stun_add_unknown(struct stun_builder *b, const uint16_t *types, unsigned n)
{
	uint8_t *p = stun_add_attr(b, STUN_A_UNKNOWN_ATTRIBUTES, NULL, (size_t)n * 2);

	if (!p)
		return;
	for (unsigned i = 0; i < n; i++)
		wr16(p + 2 * (size_t)i, types[i]);
}

void stun_add_channel(struct stun_builder *b, uint16_t channel)
{
	uint8_t val[4] = {0};

	/* RFC 8656 §18: channel number, then 16 RFFU bits set to zero. */
	wr16(val, channel);
	stun_add_attr(b, STUN_A_CHANNEL_NUMBER, val, sizeof(val));
}

void stun_add_transport(struct stun_builder *b, uint8_t proto)
{
	uint8_t val[4] = {proto, 0, 0, 0};

	stun_add_attr(b, STUN_A_REQUESTED_TRANSPORT, val, sizeof(val));
}

void stun_add_family(struct stun_builder *b, uint16_t type, uint8_t family)
{
	uint8_t val[4] = {family, 0, 0, 0};

	stun_add_attr(b, type, val, sizeof(val));
}

int stun_build_finish(struct stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}
