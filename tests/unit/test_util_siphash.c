/* util/siphash: SipHash-2-4 against the reference vectors of the SipHash
 * paper (key 00 01 .. 0f, message 00 01 .. of each length), which check the
 * code SipHash-1-3 shares (the same block, tail and finalisation code, only
 * the round counts differ); key derivation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/siphash.h"

static struct sip_key ref_key(void)
{
	/* bytes 00..0f read as two little-endian 64-bit words */
	return (struct sip_key){0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
}

static void test_siphash24_vectors(void **state)
{
	static const struct {
		size_t len;
		uint64_t want;
	} v[] = {
	    {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},  {7, 0xab0200f58b01d137ULL},
	    {8, 0x93f5f5799a932462ULL},  {9, 0x9e0082df0ba9e4b0ULL},  {15, 0xa129ca6149be45e5ULL},
	    {16, 0x3f2acc7f57c29bdbULL}, {20, 0xbed65cf21aa2ee98ULL}, {63, 0x958a324ceb064572ULL},
	};
	struct sip_key k = ref_key();
	uint8_t m[64];
	for (unsigned i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(siphash24(&k, m, v[i].len) == v[i].want);
}

/* SipHash-1-3 is another function of the same inputs; every input byte, its
 * length and the key matter. */
static void test_siphash13_depends_on_everything(void **state)
{
	struct sip_key k = ref_key(), k2 = k;
	uint8_t m[20];
	for (unsigned i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)i;
	uint64_t h = siphash13(&k, m, sizeof(m));
	assert_true(h != siphash24(&k, m, sizeof(m)));
	assert_true(h == siphash13(&k, m, sizeof(m)));
	for (unsigned i = 0; i < sizeof(m); i++) {
		m[i] ^= 1;
		assert_true(siphash13(&k, m, sizeof(m)) != h);
		m[i] ^= 1;
	}
	assert_true(siphash13(&k, m, sizeof(m) - 1) != h);
	k2.k1 ^= 1ULL << 63;
	assert_true(siphash13(&k2, m, sizeof(m)) != h);
}

static void test_key_derive(void **state)
{
	struct sip_key m = ref_key(), a, b, a2;
	sip_key_derive(&a, &m, "table");
	sip_key_derive(&b, &m, "buckets");
	sip_key_derive(&a2, &m, "table");
	assert_true(a.k0 == a2.k0 && a.k1 == a2.k1);
	assert_true(a.k0 != b.k0 && a.k1 != b.k1);
	assert_true(a.k0 != a.k1);
	struct sip_key r1, r2;
	assert_int_equal(sip_key_random(&r1), 0);
	assert_int_equal(sip_key_random(&r2), 0);
	assert_true(r1.k0 != r2.k0 || r1.k1 != r2.k1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_siphash24_vectors),
	    cmocka_unit_test(test_siphash13_depends_on_everything),
	    cmocka_unit_test(test_key_derive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
