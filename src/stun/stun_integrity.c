/* MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (RFC 8489
 * §14.5-14.7): long-term keys, verification of parsed messages, and the
 * builder calls that append them. */
#include "stun/stun.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/bytes.h"

#define FINGERPRINT_XOR 0x5354554eu

/* CRC-32 of ITU V.42 / RFC 1952 (reflected polynomial 0xEDB88320), one
 * table lookup per byte. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u, 0x9e6495a3u,
    0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u,
    0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u,
    0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu,
    0x35b5a8fau, 0x42b2986cu, 0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du,
    0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du, 0x91646c97u, 0xe6635c01u,
    0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu, 0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u,
    0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu,
    0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u, 0xb7bd5c3bu, 0xc0ba6cadu,
    0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u,
    0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u,
    0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u,
    0xd6d6a3e8u, 0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu, 0x4669be79u,
    0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu,
    0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u,
    0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u,
    0x86d3d2d4u, 0xf1d4e242u, 0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu,
    0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u, 0x54de5729u, 0x23d967bfu,
    0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u, 0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return crc;
}

/* One HMAC context per thread and digest, keyed anew for each message.
 * Fetching the algorithm and building a context per call (what OpenSSL 3's
 * one-shot API does) costs a locked lookup and two allocations per
 * authenticated message. Each thread's contexts are freed when it exits. */
struct hmac_cache {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx[2]; /* [0] SHA1, [1] SHA256 */
};
static pthread_key_t hmac_tls;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static bool hmac_tls_ok;

static void hmac_cache_free(void *p)
{
	struct hmac_cache *c = p;
	EVP_MAC_CTX_free(c->ctx[0]);
	EVP_MAC_CTX_free(c->ctx[1]);
	EVP_MAC_free(c->mac);
	free(c);
}

static void hmac_tls_init(void)
{
	hmac_tls_ok = pthread_key_create(&hmac_tls, hmac_cache_free) == 0;
}

static EVP_MAC_CTX *hmac_ctx(const char *md_name)
{
	pthread_once(&hmac_once, hmac_tls_init);
	if (!hmac_tls_ok)
		return NULL;
	struct hmac_cache *c = pthread_getspecific(hmac_tls);
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return NULL;
		if (pthread_setspecific(hmac_tls, c) != 0) {
			free(c);
			return NULL;
		}
	}
	unsigned i = strcmp(md_name, "SHA1") == 0 ? 0 : 1;
	if (!c->ctx[i]) {
		if (!c->mac && !(c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
			return NULL;
		EVP_MAC_CTX *x = EVP_MAC_CTX_new(c->mac);
		OSSL_PARAM params[2] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md_name, 0),
		    OSSL_PARAM_construct_end(),
		};
		if (!x || !EVP_MAC_CTX_set_params(x, params)) {
			EVP_MAC_CTX_free(x);
			return NULL;
		}
		c->ctx[i] = x;
	}
	return c->ctx[i];
}

void stun_integrity_thread_done(void)
{
	pthread_once(&hmac_once, hmac_tls_init);
	if (!hmac_tls_ok)
		return;
	struct hmac_cache *c = pthread_getspecific(hmac_tls);
	if (c) {
		pthread_setspecific(hmac_tls, NULL);
		hmac_cache_free(c);
	}
}

/* HMAC(key, p1 || p2) with the named digest ("SHA1" or "SHA256"); out gets
 * the full MAC. Two pieces so a verifier can feed a patched copy of the
 * header followed by the untouched rest of a const message. */
static int hmac2(const char *md_name, const uint8_t *key, size_t keylen, const uint8_t *p1, size_t n1,
                 const uint8_t *p2, size_t n2, uint8_t *out, size_t outsize)
{
	EVP_MAC_CTX *ctx = hmac_ctx(md_name);
	size_t outlen;

	/* A NULL key would mean "keep the previous key" to EVP_MAC_init. */
	if (!ctx || !EVP_MAC_init(ctx, key ? key : (const uint8_t *)"", keylen, NULL))
		return -ENOMEM;
	if (!EVP_MAC_update(ctx, p1, n1) || (n2 && !EVP_MAC_update(ctx, p2, n2)))
		return -ENOMEM;
	if (!EVP_MAC_final(ctx, out, &outlen, outsize) || outlen != outsize)
		return -ENOMEM;
	return 0;
}

struct piece {
	const void *p;
	size_t n;
};

static void digest(const EVP_MD *md, const struct piece *pc, unsigned npc, uint8_t *out, unsigned outsize)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned outlen = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);

	for (unsigned i = 0; ok && i < npc; i++)
		ok = EVP_DigestUpdate(ctx, pc[i].p, pc[i].n);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &outlen) && outlen == outsize;
	/* The API has no error return: a zero key matches nothing real. */
	if (!ok)
		memset(out, 0, outsize);
	EVP_MD_CTX_free(ctx);
}

/* RFC 8489 §9.2.2: key = H(username ":" OpaqueString(realm) ":"
 * OpaqueString(password)); callers pass already processed strings. */
void stun_key_md5(const char *user, size_t ulen, const char *realm, size_t rlen, const char *pass,
                  size_t plen, uint8_t out[16])
{
	const struct piece pc[] = {{user, ulen}, {":", 1}, {realm, rlen}, {":", 1}, {pass, plen}};

	digest(EVP_md5(), pc, 5, out, 16);
}

void stun_key_sha256(const char *user, size_t ulen, const char *realm, size_t rlen, const char *pass,
                     size_t plen, uint8_t out[32])
{
	const struct piece pc[] = {{user, ulen}, {":", 1}, {realm, rlen}, {":", 1}, {pass, plen}};

	digest(EVP_sha256(), pc, 5, out, 32);
}

/* RFC 8489 §14.4: userhash = SHA-256(OpaqueString(username) ":"
 * OpaqueString(realm)) */
void stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen, uint8_t out[32])
{
	const struct piece pc[] = {{user, ulen}, {":", 1}, {realm, rlen}};

	digest(EVP_sha256(), pc, 3, out, 32);
}

/* The header as the sender saw it when computing an attribute placed at
 * a->off: its length field ends just after that attribute. */
static void header_upto(const struct stun_msg *m, const struct stun_attr *a, uint8_t hdr[STUN_HEADER_LEN])
{
	memcpy(hdr, m->buf, STUN_HEADER_LEN);
	wr16(hdr + 2, (uint16_t)(a->off - STUN_HEADER_LEN + 4 + pad4(a->len)));
}

static int check_mac(const struct stun_msg *m, int idx, const char *md, size_t maclen, const uint8_t *key,
                     size_t keylen)
{
	const struct stun_attr *a;
	uint8_t hdr[STUN_HEADER_LEN], mac[32];

	if (idx < 0)
		return -ENOENT;
	a = &m->attrs[idx];
	header_upto(m, a, hdr);
	/* RFC 8489 §14.5: "when validating the MESSAGE-INTEGRITY, the Length
	 * field in the STUN header must be adjusted to point to the end of
	 * the MESSAGE-INTEGRITY attribute prior to calculating the HMAC over
	 * the STUN message, up to and including the attribute preceding the
	 * MESSAGE-INTEGRITY attribute." */
	if (hmac2(md, key, keylen, hdr, sizeof(hdr), m->buf + STUN_HEADER_LEN, a->off - STUN_HEADER_LEN, mac,
	          maclen) < 0)
		return -EBADMSG;
	/* Truncated MI-SHA256 compares its leading bytes; constant time so the
	 * answer does not leak how many bytes matched. */
	return CRYPTO_memcmp(mac, a->val, a->len) == 0 ? 0 : -EBADMSG;
}

int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	/* RFC 8489 §14.5: "Since it uses the SHA-1 hash, the HMAC will be 20
	 * bytes." */
	if (m->mi >= 0 && m->attrs[m->mi].len != 20)
		return -EBADMSG;
	return check_mac(m, m->mi, "SHA1", 20, key, keylen);
}

int stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	if (m->mi256 >= 0) {
		uint16_t len = m->attrs[m->mi256].len;

		/* RFC 8489 §14.6: "The value will be at most 32 bytes, but it
		 * MUST be at least 16 bytes and MUST be a multiple of 4
		 * bytes." */
		if (len < 16 || len > 32 || len % 4 != 0)
			return -EBADMSG;
	}
	return check_mac(m, m->mi256, "SHA256", 32, key, keylen);
}

int stun_check_fingerprint(const struct stun_msg *m)
{
	const struct stun_attr *a;
	uint8_t hdr[STUN_HEADER_LEN];
	uint32_t crc;

	if (m->fp < 0)
		return -ENOENT;
	a = &m->attrs[m->fp];
	if (a->len != 4)
		return -EBADMSG;
	/* RFC 8489 §14.7: the CRC covers the header with a length that
	 * includes FINGERPRINT, then everything before the attribute. */
	header_upto(m, a, hdr);
	crc = crc32_update(0xFFFFFFFFu, hdr, sizeof(hdr));
	crc = crc32_update(crc, m->buf + STUN_HEADER_LEN, a->off - STUN_HEADER_LEN) ^ 0xFFFFFFFFu;
	return rd32(a->val) == (crc ^ FINGERPRINT_XOR) ? 0 : -EBADMSG;
}

/* The builder's header length already counts the attribute just reserved,
 * so the MAC runs over the buffer as it stands. */
static void add_mac(struct stun_builder *b, uint16_t type, const char *md, size_t maclen, const uint8_t *key,
                    size_t keylen)
{
	uint8_t *p = stun_add_attr(b, type, NULL, maclen);

	if (!p)
		return;
	if (hmac2(md, key, keylen, b->buf, (size_t)(p - 4 - b->buf), NULL, 0, p, maclen) < 0)
		b->err = -ENOMEM;
}

void stun_add_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	add_mac(b, STUN_A_MESSAGE_INTEGRITY, "SHA1", 20, key, keylen);
}

void stun_add_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	add_mac(b, STUN_A_MESSAGE_INTEGRITY_SHA256, "SHA256", 32, key, keylen);
}

void stun_add_fingerprint(struct stun_builder *b)
{
	uint8_t *p = stun_add_attr(b, STUN_A_FINGERPRINT, NULL, 4);
	uint32_t crc;

	if (!p)
		return;
	crc = crc32_update(0xFFFFFFFFu, b->buf, (size_t)(p - 4 - b->buf)) ^ 0xFFFFFFFFu;
	wr32(p, crc ^ FINGERPRINT_XOR);
}
