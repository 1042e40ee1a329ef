/* Socket addresses (IPv4 / IPv6) as one value type, and CIDR ranges.
 *
 * union tern_addr is what every layer passes around: it is small (28 bytes),
 * copyable, and always has a valid family (AF_INET or AF_INET6) once set.
 * Functions return 0 / positive on success and -errno on failure. */
#ifndef TERN_UTIL_ADDR_H
#define TERN_UTIL_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/siphash.h"

union tern_addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* "1.2.3.4:5678", "[::1]:3478": enough room for any formatted address. */
#define TERN_ADDRSTRLEN 64

socklen_t addr_len(const union tern_addr *a);
void addr_set_port(union tern_addr *a, uint16_t port);

/* Inline: the relay path compares addresses for every datagram. */
static inline uint16_t addr_port(const union tern_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->v6.sin6_port : a->v4.sin_port);
}
/* Equal family and address, port ignored. */
static inline bool addr_equal_ip(const union tern_addr *a, const union tern_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
	return memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, 16) == 0;
}
/* Equal family, address and port. */
static inline bool addr_equal(const union tern_addr *a, const union tern_addr *b)
{
	return addr_equal_ip(a, b) && addr_port(a) == addr_port(b);
}
/* True for 0.0.0.0 / :: */
bool addr_is_any(const union tern_addr *a);
/* A 64-bit keyed hash (SipHash-1-3) of family, address and port: without
 * the key nobody can choose addresses that collide in a table. */
uint64_t addr_hash(const union tern_addr *a, const struct sip_key *k);
/* A keyed hash (SipHash-1-3) of the source a counts as: an IPv4 address
 * (also written IPv4-mapped) or an IPv6 /64, the unit one host or one
 * customer holds. Port ignored. For per-source limits. */
uint64_t addr_source_hash(const union tern_addr *a, const struct sip_key *k);
/* Parse "1.2.3.4", "::1", "[::1]", optionally with ":port" (port for v6 only
 * in brackets). default_port is used when none is given. -EINVAL on error. */
int addr_parse(union tern_addr *out, const char *s, uint16_t default_port);
/* Format as "ip:port" ("[ip]:port" for v6); with_port=false gives only the ip.
 * Returns buf. */
char *addr_format(const union tern_addr *a, char *buf, size_t len, bool with_port);
/* Copy a sockaddr of the given length into a tern_addr; -EAFNOSUPPORT if
 * neither AF_INET nor AF_INET6. */
int addr_from_sockaddr(union tern_addr *out, const struct sockaddr *sa, socklen_t len);

/* An address range: family, network bytes (4 or 16 used), prefix length. */
struct tern_cidr {
	int family;
	uint8_t bytes[16];
	uint8_t prefix;
};

/* Parse "10.0.0.0/8", "::1", "fc00::/7" or a range "a.b.c.d-e.f.g.h" is NOT
 * supported: a bare address means a host route. The length is 1 to 3 plain
 * decimal digits (no sign, no space), at most 32 / 128. -EINVAL on error. */
int cidr_parse(struct tern_cidr *out, const char *s);
/* True when a (same family) lies inside c. Port ignored. */
bool cidr_contains(const struct tern_cidr *c, const union tern_addr *a);

#endif
