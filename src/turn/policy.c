#include "turn/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The default-denied ranges, pre-parsed so no worker ever parses text and
 * nothing needs a once-guard. The comment on each line is the range; the
 * unit tests probe the first, last and an inner address of every one.
 * docs/SECURITY.md explains why each is here. */
#define V4(a, b, c, d, len)                                                                                  \
	{                                                                                                    \
		.family = AF_INET, .bytes = {a, b, c, d}, .prefix = len                                      \
	}
#define V6(len, ...)                                                                                         \
	{                                                                                                    \
		.family = AF_INET6, .bytes = {__VA_ARGS__}, .prefix = len                                    \
	}

static const struct tern_cidr default_deny[] = {
    V4(0, 0, 0, 0, 8),                          /* 0.0.0.0/8 "this network" */
    V4(127, 0, 0, 0, 8),                        /* 127.0.0.0/8 loopback */
    V4(10, 0, 0, 0, 8),                         /* 10.0.0.0/8 private */
    V4(172, 16, 0, 0, 12),                      /* 172.16.0.0/12 private */
    V4(192, 168, 0, 0, 16),                     /* 192.168.0.0/16 private */
    V4(100, 64, 0, 0, 10),                      /* 100.64.0.0/10 carrier-grade NAT */
    V4(169, 254, 0, 0, 16),                     /* 169.254.0.0/16 link-local, cloud metadata */
    V4(192, 0, 0, 0, 24),                       /* 192.0.0.0/24 IETF protocol assignments */
    V4(198, 18, 0, 0, 15),                      /* 198.18.0.0/15 benchmarking */
    V4(224, 0, 0, 0, 4),                        /* 224.0.0.0/4 multicast */
    V4(240, 0, 0, 0, 4),                        /* 240.0.0.0/4 reserved */
    V4(255, 255, 255, 255, 32),                 /* broadcast */
    V6(128, 0),                                 /* ::/128 unspecified */
    V6(128, [15] = 1),                          /* ::1/128 loopback */
    V6(7, 0xfc),                                /* fc00::/7 unique local */
    V6(10, 0xfe, 0x80),                         /* fe80::/10 link-local */
    V6(8, 0xff),                                /* ff00::/8 multicast */
    V6(96, 0x00, 0x64, 0xff, 0x9b),             /* 64:ff9b::/96 NAT64 well-known prefix */
    V6(48, 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01), /* 64:ff9b:1::/48 local-use NAT64 (RFC 8215) */
    V6(32, 0x20, 0x01),                         /* 2001::/32 Teredo */
    V6(16, 0x20, 0x02),                         /* 2002::/16 6to4 */
};

/* What allow-loopback-peers opens. */
static const struct tern_cidr loopback[] = {
    V4(127, 0, 0, 0, 8),
    V6(128, [15] = 1),
};

#undef V4
#undef V6

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void policy_init(struct peer_policy *p)
{
	memset(p, 0, sizeof(*p));
}

void policy_free(struct peer_policy *p)
{
	free(p->own);
	p->own = NULL;
	p->nown = p->own_cap = 0;
}

static int add_range(struct tern_cidr *arr, unsigned *n, const struct tern_cidr *c)
{
	if (*n >= POLICY_MAX_RANGES)
		return -ENOSPC;
	if (c->family != AF_INET && c->family != AF_INET6)
		return -EINVAL;
	arr[(*n)++] = *c;
	return 0;
}

int policy_allow(struct peer_policy *p, const struct tern_cidr *c)
{
	return add_range(p->allow, &p->nallow, c);
}

int policy_deny(struct peer_policy *p, const struct tern_cidr *c)
{
	return add_range(p->deny, &p->ndeny, c);
}

int policy_add_own(struct peer_policy *p, const union tern_addr *a)
{
	if (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)
		return -EINVAL;
	if (p->nown == p->own_cap) {
		unsigned cap = p->own_cap ? 2 * p->own_cap : 16;
		union tern_addr *own;
		if (cap < p->own_cap || !(own = reallocarray(p->own, cap, sizeof(*own))))
			return -ENOMEM;
		p->own = own;
		p->own_cap = cap;
	}
	p->own[p->nown++] = *a;
	return 0;
}

unsigned policy_embedded_v4(const union tern_addr *a, union tern_addr v4[POLICY_MAX_V4_FORMS])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[12];
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	static const uint8_t local_nat64[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
	/* RFC 6052 §2.2: where a prefix of length 48, 56, 64 or 96 puts the
	 * IPv4 address (bits 64-71, byte 8, are never used). */
	static const uint8_t pos[POLICY_MAX_V4_FORMS][4] = {
	    {6, 7, 9, 10}, {7, 9, 10, 11}, {9, 10, 11, 12}, {12, 13, 14, 15}};
	uint8_t ip[POLICY_MAX_V4_FORMS][4];
	const uint8_t *b;
	unsigned n = 0;

	if (a->sa.sa_family != AF_INET6)
		return 0;
	b = a->v6.sin6_addr.s6_addr;
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
		memcpy(ip[n++], b + 12, 4);
	} else if (memcmp(b, zero, 12) == 0) {
		/* IPv4-compatible ::a.b.c.d; :: and ::1 are IPv6's own */
		if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1)
			return 0;
		memcpy(ip[n++], b + 12, 4);
	} else if (b[0] == 0x20 && b[1] == 0x02) {
		memcpy(ip[n++], b + 2, 4); /* RFC 3056: 2002:AABB:CCDD::/48 */
	} else if (memcmp(b, local_nat64, 6) == 0) {
		/* RFC 8215: the translator's prefix is some /48../96 inside
		 * 64:ff9b:1::/48 that we cannot know, so every position counts. */
		for (; n < POLICY_MAX_V4_FORMS; n++)
			for (unsigned k = 0; k < 4; k++)
				ip[n][k] = b[pos[n][k]];
	}
	for (unsigned i = 0; i < n; i++) {
		memset(&v4[i], 0, sizeof(v4[i]));
		v4[i].v4.sin_family = AF_INET;
		v4[i].v4.sin_port = a->v6.sin6_port;
		memcpy(&v4[i].v4.sin_addr, ip[i], 4);
	}
	return n;
}

static bool in_any(const struct tern_cidr *arr, unsigned n, const union tern_addr *a)
{
	for (unsigned i = 0; i < n; i++)
		if (cidr_contains(&arr[i], a))
			return true;
	return false;
}

/* Own addresses compare in every spelling: an entry written as
 * ::ffff:a.b.c.d still matches the plain IPv4 peer and the reverse. */
static bool own_match(const union tern_addr *own, const union tern_addr *f)
{
	union tern_addr o4[POLICY_MAX_V4_FORMS];
	if (addr_equal_ip(own, f))
		return true;
	unsigned n = policy_embedded_v4(own, o4);
	for (unsigned i = 0; i < n; i++)
		if (addr_equal_ip(&o4[i], f))
			return true;
	return false;
}

static bool is_loopback(const union tern_addr *f)
{
	return in_any(loopback, NELEM(loopback), f);
}

/* Steps 3-6 of the decision for one form of the peer address. */
static bool form_allowed(const struct peer_policy *p, const union tern_addr *f)
{
	if (in_any(p->allow, p->nallow, f))
		return true;
	if (in_any(p->deny, p->ndeny, f))
		return false;
	bool opened = p->allow_loopback && is_loopback(f);
	if (!opened && in_any(default_deny, NELEM(default_deny), f))
		return false;
	if (!opened) {
		for (unsigned i = 0; i < p->nown; i++)
			if (addr_port(&p->own[i]) == 0 && own_match(&p->own[i], f))
				return false;
	}
	return true;
}

static bool is_listening_port(const struct peer_policy *p, uint16_t port)
{
	if (port == 0)
		return false;
	for (unsigned i = 0; i < p->nown; i++)
		if (addr_port(&p->own[i]) == port)
			return true;
	return false;
}

/* Step 2's own addresses. The unspecified address reaches the host itself
 * (Linux delivers 0.0.0.0 and :: locally), and a wildcard listener owns
 * its port on every loopback address too. */
static bool is_own_ip(const struct peer_policy *p, const union tern_addr *f)
{
	if (addr_is_any(f))
		return true;
	for (unsigned i = 0; i < p->nown; i++) {
		const union tern_addr *o = &p->own[i];
		if (addr_is_any(o) ? is_loopback(f) : own_match(o, f))
			return true;
	}
	return false;
}

/* Relaying to one of our own addresses on a listening port makes the
 * server answer itself: it only builds loops and lets a client talk to
 * the server as if it were the relay. No allow range opens it. */
static bool is_own_listener(const struct peer_policy *p, const union tern_addr *f)
{
	return is_listening_port(p, addr_port(f)) && is_own_ip(p, f);
}

bool policy_peer_allowed(const struct peer_policy *p, const union tern_addr *peer)
{
	union tern_addr forms[1 + POLICY_MAX_V4_FORMS];
	unsigned n;

	if (peer->sa.sa_family != AF_INET && peer->sa.sa_family != AF_INET6)
		return false;
	forms[0] = *peer;
	n = 1 + policy_embedded_v4(peer, &forms[1]);
	for (unsigned i = 0; i < n; i++) {
		if (is_own_listener(p, &forms[i]))
			return false;
		if (!form_allowed(p, &forms[i]))
			return false;
	}
	return true;
}
