#include "util/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

socklen_t addr_len(const union tern_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->v6) : sizeof(a->v4);
}

void addr_set_port(union tern_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->v6.sin6_port = htons(port);
	else
		a->v4.sin_port = htons(port);
}

bool addr_is_any(const union tern_addr *a)
{
	static const uint8_t zero[16];
	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_addr.s_addr == 0;
	return memcmp(&a->v6.sin6_addr, zero, 16) == 0;
}

uint64_t addr_hash(const union tern_addr *a, const struct sip_key *k)
{
	/* family, port, address: 8 bytes for IPv4 (one SipHash block), 20 for IPv6 */
	uint8_t b[20];
	size_t n;
	b[0] = (uint8_t)a->sa.sa_family;
	b[1] = 0;
	memcpy(b + 2,
	       a->sa.sa_family == AF_INET6 ? (const void *)&a->v6.sin6_port : (const void *)&a->v4.sin_port,
	       2);
	if (a->sa.sa_family == AF_INET6) {
		memcpy(b + 4, &a->v6.sin6_addr, 16);
		n = 20;
	} else {
		memcpy(b + 4, &a->v4.sin_addr, 4);
		n = 8;
	}
	return siphash13(k, b, n);
}

uint64_t addr_source_hash(const union tern_addr *a, const struct sip_key *k)
{
	uint8_t b[9];
	size_t n = 5;
	b[0] = 4;
	if (a->sa.sa_family == AF_INET) {
		memcpy(b + 1, &a->v4.sin_addr, 4);
	} else if (IN6_IS_ADDR_V4MAPPED(&a->v6.sin6_addr)) {
		memcpy(b + 1, a->v6.sin6_addr.s6_addr + 12, 4);
	} else {
		b[0] = 6;
		memcpy(b + 1, a->v6.sin6_addr.s6_addr, 8);
		n = 9;
	}
	return siphash13(k, b, n);
}

int addr_parse(union tern_addr *out, const char *s, uint16_t default_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_s = NULL;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - s - 1);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = 0;
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1] != 0)
			return -EINVAL;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && !strchr(colon + 1, ':')) { /* v4 with port */
			n = (size_t)(colon - s);
			port_s = colon + 1;
		} else {
			n = strlen(s);
		}
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = 0;
	}

	uint16_t port = default_port;
	if (port_s) {
		char *end;
		long p = strtol(port_s, &end, 10);
		if (*port_s == 0 || *end != 0 || p < 0 || p > 65535)
			return -EINVAL;
		port = (uint16_t)p;
	}
	if (inet_pton(AF_INET, host, &out->v4.sin_addr) == 1) {
		out->v4.sin_family = AF_INET;
		out->v4.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->v6.sin6_addr) == 1) {
		out->v6.sin6_family = AF_INET6;
		out->v6.sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

char *addr_format(const union tern_addr *a, char *buf, size_t len, bool with_port)
{
	char ip[INET6_ADDRSTRLEN];
	if (a->sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->v4.sin_addr, ip, sizeof(ip));
	else if (a->sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6.sin6_addr, ip, sizeof(ip));
	else
		snprintf(ip, sizeof(ip), "?");
	if (!with_port)
		snprintf(buf, len, "%s", ip);
	else if (a->sa.sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, addr_port(a));
	else
		snprintf(buf, len, "%s:%u", ip, addr_port(a));
	return buf;
}

int addr_from_sockaddr(union tern_addr *out, const struct sockaddr *sa, socklen_t len)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(&out->v4, sa, sizeof(out->v4));
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memcpy(&out->v6, sa, sizeof(out->v6));
		return 0;
	}
	return -EAFNOSUPPORT;
}

int cidr_parse(struct tern_cidr *out, const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash) {
		/* Plain decimal digits only: strtol would take a sign and
		 * leading spaces, and "/-8" became "no prefix", a single host. */
		const char *d = slash + 1;
		size_t nd = strlen(d);
		*slash = 0;
		if (nd == 0 || nd > 3 || strspn(d, "0123456789") != nd)
			return -EINVAL;
		prefix = 0;
		for (; *d; d++)
			prefix = prefix * 10 + (*d - '0');
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->bytes) == 1) {
		out->family = AF_INET;
		if (prefix < 0)
			prefix = 32;
		if (prefix > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
		out->family = AF_INET6;
		if (prefix < 0)
			prefix = 128;
		if (prefix > 128)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	out->prefix = (uint8_t)prefix;
	/* Normalise: clear host bits so contains() can compare bytes. */
	for (unsigned i = 0; i < 16; i++) {
		int bits = prefix - (int)(i * 8);
		if (bits >= 8)
			continue;
		out->bytes[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	return 0;
}

bool cidr_contains(const struct tern_cidr *c, const union tern_addr *a)
{
	const uint8_t *ip;
	if (a->sa.sa_family != c->family)
		return false;
	ip = c->family == AF_INET ? (const uint8_t *)&a->v4.sin_addr : (const uint8_t *)&a->v6.sin6_addr;
	unsigned full = c->prefix / 8, rem = c->prefix % 8;
	if (memcmp(ip, c->bytes, full) != 0)
		return false;
	if (rem == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rem));
	return (ip[full] & mask) == c->bytes[full];
}
