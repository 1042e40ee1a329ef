/* PROXY protocol headers (src/net/proxy.c): proxy_parse on any bytes, on
 * every prefix of them as a TCP receiver sees them arrive, and with more
 * bytes after them.
 *
 * Oracles: the result is a length within the input or one of the
 * documented errors; over growing prefixes the answer is "need more" until
 * some length and never changes after it (a header is found exactly at its
 * own length, an error stays, bytes after a header change nothing); "need
 * more" never outlasts PROXY_MAX_LEN bytes; *out is untouched unless a
 * header is found; a header's length and shape agree with its bytes (v1: a
 * line from "PROXY " to its only CRLF, at most 107 bytes; v2: the
 * signature, then 16 + the length field, at most PROXY_V2_MAX_LEN); local
 * headers carry no address, others two of the declared family; v1 TCP4
 * text is exactly what inet_ntop prints, v2 addresses are the bytes sent;
 * a header written out again in the other version parses to the same
 * addresses. Reads past len are ASan's: each prefix is parsed from the end
 * of an exact-size buffer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "net/proxy.h"
#include "util/bytes.h"

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static bool same_hdr(const struct proxy_hdr *a, const struct proxy_hdr *b)
{
	return a->version == b->version && a->cmd == b->cmd && a->fam == b->fam && a->local == b->local &&
	       memcmp(&a->src, &b->src, sizeof(a->src)) == 0 && memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The same addresses as a v1 line; its length. */
static size_t write_v1(char *out, size_t cap, const struct proxy_hdr *h)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	bool v4 = h->src.sa.sa_family == AF_INET;
	const void *sa = v4 ? (const void *)&h->src.v4.sin_addr : (const void *)&h->src.v6.sin6_addr;
	const void *da = v4 ? (const void *)&h->dst.v4.sin_addr : (const void *)&h->dst.v6.sin6_addr;
	FUZZ_CHECK(inet_ntop(h->src.sa.sa_family, sa, s, sizeof(s)));
	FUZZ_CHECK(inet_ntop(h->dst.sa.sa_family, da, d, sizeof(d)));
	int n = snprintf(out, cap, "PROXY TCP%c %s %s %u %u\r\n", v4 ? '4' : '6', s, d, addr_port(&h->src),
	                 addr_port(&h->dst));
	FUZZ_CHECK(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* The same addresses as a v2 header without TLVs; its length. */
static size_t write_v2(uint8_t *out, const struct proxy_hdr *h)
{
	bool v4 = h->src.sa.sa_family == AF_INET;
	size_t alen = v4 ? 4 : 16;
	memcpy(out, sig, 12);
	out[12] = 0x21;
	out[13] = v4 ? PROXY_FAM_TCP4 : PROXY_FAM_TCP6;
	wr16(out + 14, (uint16_t)(2 * alen + 4));
	memcpy(out + 16, v4 ? (const void *)&h->src.v4.sin_addr : (const void *)&h->src.v6.sin6_addr, alen);
	memcpy(out + 16 + alen, v4 ? (const void *)&h->dst.v4.sin_addr : (const void *)&h->dst.v6.sin6_addr,
	       alen);
	wr16(out + 16 + 2 * alen, addr_port(&h->src));
	wr16(out + 18 + 2 * alen, addr_port(&h->dst));
	return 16 + 2 * alen + 4;
}

static void check_header(const uint8_t *data, int rc, const struct proxy_hdr *h)
{
	size_t n = (size_t)rc;

	FUZZ_CHECK(h->version == 1 || h->version == 2);
	FUZZ_CHECK(h->cmd == PROXY_CMD_LOCAL || h->cmd == PROXY_CMD_PROXY);
	if (h->version == 1) {
		FUZZ_CHECK(n <= PROXY_V1_MAX_LEN && n >= 15);
		FUZZ_CHECK(memcmp(data, "PROXY ", 6) == 0);
		FUZZ_CHECK(data[n - 2] == '\r' && data[n - 1] == '\n');
		for (size_t i = 0; i < n - 2; i++)
			FUZZ_CHECK(data[i] != '\r' && data[i] != '\n');
		FUZZ_CHECK(h->cmd == PROXY_CMD_PROXY);
		FUZZ_CHECK(h->local == (h->fam == PROXY_FAM_UNSPEC));
	} else {
		FUZZ_CHECK(n >= PROXY_V2_HDR_LEN && n <= PROXY_V2_MAX_LEN);
		FUZZ_CHECK(memcmp(data, sig, 12) == 0);
		FUZZ_CHECK(n == PROXY_V2_HDR_LEN + (size_t)rd16(data + 14));
		FUZZ_CHECK(h->cmd == (data[12] & 0x0F) && h->fam == data[13]);
		FUZZ_CHECK(h->cmd == PROXY_CMD_PROXY || h->local);
	}

	if (h->local) {
		FUZZ_CHECK(is_zero(&h->src, sizeof(h->src)) && is_zero(&h->dst, sizeof(h->dst)));
		return;
	}
	FUZZ_CHECK(h->fam == PROXY_FAM_TCP4 || h->fam == PROXY_FAM_TCP6);
	int af = h->fam == PROXY_FAM_TCP4 ? AF_INET : AF_INET6;
	FUZZ_CHECK(h->src.sa.sa_family == af && h->dst.sa.sa_family == af);

	if (h->version == 2) {
		const uint8_t *a = data + PROXY_V2_HDR_LEN;
		size_t alen = af == AF_INET ? 4 : 16;
		FUZZ_CHECK(memcmp(af == AF_INET ? (const void *)&h->src.v4.sin_addr
		                                : (const void *)&h->src.v6.sin6_addr,
		                  a, alen) == 0);
		FUZZ_CHECK(memcmp(af == AF_INET ? (const void *)&h->dst.v4.sin_addr
		                                : (const void *)&h->dst.v6.sin6_addr,
		                  a + alen, alen) == 0);
		FUZZ_CHECK(addr_port(&h->src) == rd16(a + 2 * alen) &&
		           addr_port(&h->dst) == rd16(a + 2 * alen + 2));
	}

	/* the other version (and v1 again, canonical) says the same */
	char line[PROXY_V1_MAX_LEN + 32];
	uint8_t bin[64];
	struct proxy_hdr again;
	size_t ln = write_v1(line, sizeof(line), h);
	if (h->version == 1 && af == AF_INET)
		FUZZ_CHECK(ln == n && memcmp(line, data, n) == 0);
	FUZZ_CHECK(proxy_parse((const uint8_t *)line, ln, &again) == (int)ln);
	FUZZ_CHECK(again.version == 1 && again.fam == h->fam && !again.local);
	FUZZ_CHECK(addr_equal(&again.src, &h->src) && addr_equal(&again.dst, &h->dst));
	size_t bn = write_v2(bin, h);
	FUZZ_CHECK(proxy_parse(bin, bn, &again) == (int)bn);
	FUZZ_CHECK(again.version == 2 && again.fam == h->fam && !again.local);
	FUZZ_CHECK(addr_equal(&again.src, &h->src) && addr_equal(&again.dst, &h->dst));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, poison, p;
	uint8_t *buf = malloc(size ? 2 * size : 1);
	if (!buf)
		return 0;

	memset(&poison, 0xA5, sizeof(poison));
	h = poison;
	int rc = proxy_parse(data, size, &h);
	FUZZ_CHECK(rc >= 0 || rc == -EPROTO || rc == -EINVAL || rc == -EMSGSIZE);
	FUZZ_CHECK(rc <= (int)size && rc <= PROXY_MAX_LEN);
	if (rc > 0)
		check_header(data, rc, &h);
	else
		FUZZ_CHECK(memcmp(&h, &poison, sizeof(h)) == 0);
	if (rc == 0)
		FUZZ_CHECK(size < PROXY_MAX_LEN);
	if (rc == -EPROTO) {
		size_t n5 = size < 5 ? size : 5, n12 = size < 12 ? size : 12;
		FUZZ_CHECK(memcmp(data, "PROXY", n5) != 0 && memcmp(data, sig, n12) != 0);
	}
	if (rc == -EMSGSIZE)
		FUZZ_CHECK(size >= 16 && memcmp(data, sig, 12) == 0 &&
		           PROXY_V2_HDR_LEN + rd16(data + 14) > PROXY_V2_MAX_LEN);

	/* as the bytes arrive: need more, then the final answer at once */
	int decided = -1;
	for (size_t k = 0; k <= size; k++) {
		uint8_t *at = buf + 2 * size - k;
		memcpy(at, data, k);
		p = poison;
		int r = proxy_parse(at, k, &p);
		if (r == 0) {
			FUZZ_CHECK(memcmp(&p, &poison, sizeof(p)) == 0);
			continue;
		}
		FUZZ_CHECK(r == rc);
		if (r > 0)
			FUZZ_CHECK((size_t)r == k && same_hdr(&p, &h));
		decided = (int)k;
		break;
	}
	FUZZ_CHECK(decided >= 0 || rc == 0);

	/* more bytes after it (the input again) change nothing */
	if (rc != 0 && size) {
		memcpy(buf, data, size);
		memcpy(buf + size, data, size);
		p = poison;
		FUZZ_CHECK(proxy_parse(buf, 2 * size, &p) == rc);
		if (rc > 0)
			FUZZ_CHECK(same_hdr(&p, &h));
	}
	free(buf);
	return 0;
}
