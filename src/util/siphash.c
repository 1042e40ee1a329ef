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
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
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

static inline uint64_t sip(const struct sip_key *k, const void *data, size_t len, unsigned crounds,
                           unsigned drounds)
{
	const uint8_t *p = data;
	uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k->k1 ^ 0x7465646279746573ULL;
	size_t full = len & ~(size_t)7;

	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = load_le64(p + i);
		v3 ^= m;
		for (unsigned r = 0; r < crounds; r++)
			SIPROUND;
		v0 ^= m;
	}
	/* the last block: the remaining bytes, and the length in the top byte */
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[full + i] << (8 * i);
	v3 ^= b;
	for (unsigned r = 0; r < crounds; r++)
		SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (unsigned r = 0; r < drounds; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t siphash24(const struct sip_key *k, const void *data, size_t len)
{
	return sip(k, data, len, 2, 4);
}

uint64_t siphash13(const struct sip_key *k, const void *data, size_t len)
{
	return sip(k, data, len, 1, 3);
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
