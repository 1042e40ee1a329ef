#include "util/siphash.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIPROUND                                                                                             \
	do {                                                                                                 \
		v0 += v1;                                                                                    \
		v1 = rotl(v1, 13);                                                                           \
		v1 ^= v0;                                                                                    \
		v0 = rotl(v0, 32);                                                                           \
		v2 += v3;                                                                                    \
		v3 = rotl(v3, 16);                                                                           \
		v3 ^= v2;                                                                                    \
		v0 += v3;                                                                                    \
		v3 = rotl(v3, 21);                                                                           \
		v3 ^= v0;                                                                                    \
		v2 += v1;                                                                                    \
		v1 = rotl(v1, 17);                                                                           \
		v1 ^= v2;                                                                                    \
		v2 = rotl(v2, 32);                                                                           \
	} while (0)

/* The last block: the 0..7 remaining bytes, and the length in the top byte. */
static inline uint64_t last_block(const uint8_t *p, size_t len)
{
	uint64_t b = (uint64_t)len << 56;
	switch (len & 7) {
	case 7:
		b |= (uint64_t)p[6] << 48;
		/* fall through */
	case 6:
		b |= (uint64_t)p[5] << 40;
		/* fall through */
	case 5:
		b |= (uint64_t)p[4] << 32;
		/* fall through */
	case 4:
		b |= (uint64_t)p[3] << 24;
		/* fall through */
	case 3:
		b |= (uint64_t)p[2] << 16;
		/* fall through */
	case 2:
		b |= (uint64_t)p[1] << 8;
		/* fall through */
	case 1:
		b |= (uint64_t)p[0];
		break;
	default:
		break;
	}
	return b;
}

/* The rounds are written out (SipHash-c-d with c and d constants): this
 * runs once per relayed ChannelData datagram (the allocation table). */
#define SIP_BODY(CROUNDS, DROUNDS)                                                                           \
	const uint8_t *p = data;                                                                             \
	uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL;                                                         \
	uint64_t v1 = k->k1 ^ 0x646f72616e646f6dULL;                                                         \
	uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL;                                                         \
	uint64_t v3 = k->k1 ^ 0x7465646279746573ULL;                                                         \
	const uint8_t *end = p + (len & ~(size_t)7);                                                         \
	for (; p < end; p += 8) {                                                                            \
		uint64_t m = load_le64(p);                                                                   \
		v3 ^= m;                                                                                     \
		CROUNDS;                                                                                     \
		v0 ^= m;                                                                                     \
	}                                                                                                    \
	uint64_t b = last_block(p, len);                                                                     \
	v3 ^= b;                                                                                             \
	CROUNDS;                                                                                             \
	v0 ^= b;                                                                                             \
	v2 ^= 0xff;                                                                                          \
	DROUNDS;                                                                                             \
	return v0 ^ v1 ^ v2 ^ v3

uint64_t siphash24(const struct sip_key *k, const void *data, size_t len)
{
	SIP_BODY(SIPROUND; SIPROUND, SIPROUND; SIPROUND; SIPROUND; SIPROUND);
}

uint64_t siphash13(const struct sip_key *k, const void *data, size_t len)
{
	SIP_BODY(SIPROUND, SIPROUND; SIPROUND; SIPROUND);
}

int sip_key_random(struct sip_key *k)
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	k->k0 = load_le64(b);
	k->k1 = load_le64(b + 8);
	return 0;
}

void sip_key_derive(struct sip_key *out, const struct sip_key *master, const char *label)
{
	uint8_t buf[64];
	size_t n = strlen(label);
	if (n > sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	memcpy(buf, label, n);
	buf[n] = 0;
	out->k0 = siphash24(master, buf, n + 1);
	buf[n] = 1;
	out->k1 = siphash24(master, buf, n + 1);
}
