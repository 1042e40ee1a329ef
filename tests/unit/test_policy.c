/* Peer address policy (src/turn/policy.c). Pure logic: nothing here opens a
 * socket or sends a packet, so public addresses appear only as values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "turn/policy.h"

static union tern_addr A(const char *s) {
	union tern_addr a;
	if (addr_parse(&a, s, 0) != 0)
		fail_msg("bad test address %s", s);
	return a;
}

static struct tern_cidr
C(const char *s) {
	struct tern_cidr c;
	if (cidr_parse(&c, s) != 0)
		fail_msg("bad test range %s", s);
	return c;
}

static bool
ok(const struct peer_policy *p, const char *s)
{
	union tern_addr a = A(s);
	return policy_peer_allowed(p, &a);
}

#define ALLOWED(p, s)                                                                                        \
	do {                                                                                                 \
		if (!ok((p), (s)))                                                                           \
			fail_msg("%s should be allowed", (s));                                               \
	} while (0)
#define DENIED(p, s)                                                                                         \
	do {                                                                                                 \
		if (ok((p), (s)))                                                                            \
			fail_msg("%s should be denied", (s));                                                \
	} while (0)

/* Every default-denied range: first, one inside, last. */
static const char *const default_denied[][3] = {
    {"0.0.0.0", "0.1.2.3", "0.255.255.255"},
    {"127.0.0.0", "127.0.0.1", "127.255.255.255"},
    {"10.0.0.0", "10.20.30.40", "10.255.255.255"},
    {"172.16.0.0", "172.20.1.1", "172.31.255.255"},
    {"192.168.0.0", "192.168.1.1", "192.168.255.255"},
    {"100.64.0.0", "100.100.100.100", "100.127.255.255"},
    {"169.254.0.0", "169.254.169.254", "169.254.255.255"},
    {"192.0.0.0", "192.0.0.170", "192.0.0.255"},
    {"198.18.0.0", "198.19.1.1", "198.19.255.255"},
    {"224.0.0.0", "239.1.2.3", "239.255.255.255"},
    {"240.0.0.0", "250.1.2.3", "255.255.255.254"},
    {"255.255.255.255", "255.255.255.255", "255.255.255.255"},
    {"::", "::", "::"},
    {"::1", "::1", "::1"},
    {"fc00::", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"64:ff9b::", "64:ff9b::808:808", "64:ff9b::ffff:ffff"},
    /* the inner one embeds only public IPv4 addresses, whatever the prefix length */
    {"64:ff9b:1::", "64:ff9b:1:c633:64:7c6:c633:6407", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"},
    {"2001::", "2001:0:4136:e378::1", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"2002::", "2002:808:808::1", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
};

/* Just outside the ranges above (and other public addresses). */
static const char *const public_addrs[] = {
    "1.0.0.0",        "9.255.255.255",   "11.0.0.0",          "126.255.255.255", "128.0.0.0",
    "172.15.255.255", "172.32.0.0",      "192.167.255.255",   "192.169.0.0",     "100.63.255.255",
    "100.128.0.0",    "169.253.255.255", "169.255.0.0",       "192.0.1.0",       "198.17.255.255",
    "198.20.0.0",     "223.255.255.255", "8.8.8.8",           "203.0.113.5",     "192.0.2.1",
    "2001:db8::1",    "2001:1::1",       "2003::1",           "2606:4700::1111", "fbff::1",
    "fec0::1",        "fe7f::1",         "64:ff9b:2::1",      "::ffff:8.8.8.8",  "::ffff:1.2.3.4",
    "::8.8.8.8",      "2a00:1450::1",    "64:ff9b:0:ffff::1",
};

static void test_default_denied(void **state)
{
	struct peer_policy p;
	policy_init(&p);
	for (size_t i = 0; i < sizeof(default_denied) / sizeof(default_denied[0]); i++)
		for (int j = 0; j < 3; j++)
			DENIED(&p, default_denied[i][j]);
	DENIED(&p, "fd00:ec2::254"); /* AWS IPv6 instance metadata */
}

static void test_public_allowed(void **state)
{
	struct peer_policy p;
	policy_init(&p);
	for (size_t i = 0; i < sizeof(public_addrs) / sizeof(public_addrs[0]); i++)
		ALLOWED(&p, public_addrs[i]);
}

/* Every IPv4-in-IPv6 spelling of a blocked IPv4 address is blocked. */
static void test_embedded_v4_forms(void **state)
{
	static const char *const bad[] = {
	    "::ffff:127.0.0.1",  "::127.0.0.1",
	    "64:ff9b::7f00:1",   "2002:7f00:1::",
	    "2002:7f00:1::1",    "::ffff:10.0.0.1",
	    "::10.0.0.1",        "64:ff9b::a00:1",
	    "2002:a00:1::",      "::ffff:169.254.169.254",
	    "::169.254.169.254", "::ffff:192.168.1.1",
	    "::ffff:172.16.0.1", "::ffff:100.64.0.1",
	    "0.0.0.0",           "::",
	    "::ffff:0.0.0.0",    "::0.0.0.2",
	    "::ffff:224.0.0.1",  "::ffff:255.255.255.255",
	};
	struct peer_policy p;
	policy_init(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		DENIED(&p, bad[i]);
}

static void test_embedded_v4_extract(void **state)
{
	static const struct {
		const char *in;
		const char *v4[POLICY_MAX_V4_FORMS]; /* none: no embedded IPv4 */
	} cases[] = {
	    {"[::ffff:1.2.3.4]:5000", {"1.2.3.4"}},
	    {"[::1.2.3.4]:5000", {"1.2.3.4"}},
	    {"[64:ff9b::102:304]:5000", {"1.2.3.4"}},
	    {"[2002:102:304:5::6]:5000", {"1.2.3.4"}},
	    {"[::]:5000", {NULL}},
	    {"[::1]:5000", {NULL}},
	    {"[2001:db8::1]:5000", {NULL}},
	    {"[64:ff9b:2::102:304]:5000", {NULL}},
	    {"[::1:0:0:102:304]:5000", {NULL}},
	    {"1.2.3.4:5000", {NULL}},
	    /* RFC 8215 local-use prefix, RFC 6052 §2.2 positions for /48, /56,
	     * /64 and /96: bytes 6,7,9,10 / 7,9,10,11 / 9..12 / 12..15 */
	    {"[64:ff9b:1:c633:64:7c6:a00:1]:5000",
	     {"198.51.100.7", "51.100.7.198", "100.7.198.10", "10.0.0.1"}},
	    {"[64:ff9b:1::]:5000", {"0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0"}},
	    {"[64:ff9b:1:0102:ff03:0405:0607:0809]:5000", {"1.2.3.4", "2.3.4.5", "3.4.5.6", "6.7.8.9"}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		union tern_addr a = A(cases[i].in), v4[POLICY_MAX_V4_FORMS];
		unsigned want = 0;
		while (want < POLICY_MAX_V4_FORMS && cases[i].v4[want])
			want++;
		unsigned got = policy_embedded_v4(&a, v4);
		if (got != want)
			fail_msg("%s embeds %u IPv4 forms, got %u", cases[i].in, want, got);
		for (unsigned k = 0; k < got; k++) {
			union tern_addr w = A(cases[i].v4[k]);
			if (!addr_equal_ip(&v4[k], &w))
				fail_msg("%s: form %u should be %s", cases[i].in, k, cases[i].v4[k]);
			assert_int_equal(v4[k].sa.sa_family, AF_INET);
			assert_int_equal(addr_port(&v4[k]), 5000); /* port kept */
		}
	}
}

/* 64:ff9b:1::/48 (RFC 8215) is denied by default; an operator who allows it
 * still has the embedded IPv4 judged at every position a prefix of length
 * 48 to 96 inside it would put it, and any refused form refuses the peer. */
static void test_local_nat64(void **state)
{
	struct peer_policy p;
	struct tern_cidr c;
	policy_init(&p);
	DENIED(&p, "64:ff9b:1::1");
	DENIED(&p, "64:ff9b:1:c633:64:7c6:c633:6407"); /* public at every position */
	c = C("64:ff9b:1::/48");
	assert_int_equal(policy_allow(&p, &c), 0);
	ALLOWED(&p, "64:ff9b:1:c633:64:7c6:c633:6407");
	ALLOWED(&p, "[64:ff9b:1:c633:64:7c6:c633:6407]:3478");
	/* 10.0.0.1 or 192.168.1.1 at one position, public at the others */
	DENIED(&p, "64:ff9b:1:c633:64:7c6:a00:1");     /* /96 */
	DENIED(&p, "64:ff9b:1:c633:a:0:133:6407");     /* /64 */
	DENIED(&p, "64:ff9b:1:c6c0:a8:101:c633:6407"); /* /56 */
	DENIED(&p, "64:ff9b:1:c0a8:1:1c6:c633:6407");  /* /48 */
	DENIED(&p, "64:ff9b:1::7f00:1");               /* loopback, and 0.0.0.0 */
	/* an IPv4 allow range opens the embedded form it covers */
	c = C("192.168.0.0/16");
	assert_int_equal(policy_allow(&p, &c), 0);
	ALLOWED(&p, "64:ff9b:1:c6c0:a8:101:c633:6407");
	DENIED(&p, "64:ff9b:1:c633:64:7c6:a00:1");
	/* neighbours of the range are neither denied nor decoded */
	policy_init(&p);
	ALLOWED(&p, "64:ff9b:0:ffff:ffff:ffff:ffff:ffff");
	ALLOWED(&p, "64:ff9b:2::a00:1");
}

static void test_allow_loopback(void **state)
{
	struct peer_policy p;
	policy_init(&p);
	p.allow_loopback = true;
	ALLOWED(&p, "127.0.0.1");
	ALLOWED(&p, "127.1.2.3");
	ALLOWED(&p, "::1");
	ALLOWED(&p, "::ffff:127.0.0.1");
	ALLOWED(&p, "::127.0.0.1");
	/* only loopback opens */
	DENIED(&p, "10.0.0.1");
	DENIED(&p, "192.168.0.1");
	DENIED(&p, "169.254.169.254");
	DENIED(&p, "::ffff:10.0.0.1");
	DENIED(&p, "0.0.0.0");
	DENIED(&p, "::");
	DENIED(&p, "fe80::1");
	/* the v6 form stays in a denied range of its own */
	DENIED(&p, "64:ff9b::7f00:1");
	DENIED(&p, "2002:7f00:1::");
	ALLOWED(&p, "8.8.8.8");
}

static void test_allowed_range_wins(void **state)
{
	struct peer_policy p;
	struct tern_cidr c;
	policy_init(&p);
	c = C("10.1.0.0/16");
	assert_int_equal(policy_allow(&p, &c), 0);
	c = C("10.1.2.0/24");
	assert_int_equal(policy_deny(&p, &c), 0); /* allow wins over deny too */
	c = C("64:ff9b::/96");
	assert_int_equal(policy_allow(&p, &c), 0);

	ALLOWED(&p, "10.1.0.1");
	ALLOWED(&p, "10.1.2.3");
	ALLOWED(&p, "::ffff:10.1.2.3");
	DENIED(&p, "10.2.0.1");
	DENIED(&p, "::ffff:10.2.0.1");
	/* NAT64 opened: public targets through it work, private ones do not */
	ALLOWED(&p, "64:ff9b::808:808");
	DENIED(&p, "64:ff9b::7f00:1");
	DENIED(&p, "64:ff9b::a02:1");
	ALLOWED(&p, "64:ff9b::a01:1"); /* 10.1.0.1, inside the allowed range */
}

static void test_denied_range(void **state)
{
	struct peer_policy p;
	struct tern_cidr c;
	policy_init(&p);
	c = C("203.0.113.0/24");
	assert_int_equal(policy_deny(&p, &c), 0);
	c = C("2001:db8:1::/48");
	assert_int_equal(policy_deny(&p, &c), 0);
	DENIED(&p, "203.0.113.7");
	DENIED(&p, "::ffff:203.0.113.7");
	DENIED(&p, "2001:db8:1::5");
	ALLOWED(&p, "203.0.114.7");
	ALLOWED(&p, "2001:db8:2::5");
}

static void test_own_addresses(void **state)
{
	struct peer_policy p;
	union tern_addr a;
	policy_init(&p);
	a = A("198.51.100.10"); /* relay ip: port 0 */
	assert_int_equal(policy_add_own(&p, &a), 0);
	a = A("198.51.100.1:3478"); /* listening transport address */
	assert_int_equal(policy_add_own(&p, &a), 0);
	a = A("[2001:db8::10]:0");
	assert_int_equal(policy_add_own(&p, &a), 0);

	DENIED(&p, "198.51.100.10:1234");
	DENIED(&p, "198.51.100.10:0");
	DENIED(&p, "[::ffff:198.51.100.10]:9");
	DENIED(&p, "[2001:db8::10]:5");
	DENIED(&p, "198.51.100.1:3478");
	DENIED(&p, "[::ffff:198.51.100.1]:3478");
	/* port matters only for listening addresses */
	ALLOWED(&p, "198.51.100.1:3479");
	ALLOWED(&p, "198.51.100.11:1234");
	ALLOWED(&p, "[2001:db8::11]:5");

	/* an allow range opens an own ip, never an own listener */
	struct tern_cidr c = C("198.51.100.0/24");
	assert_int_equal(policy_allow(&p, &c), 0);
	ALLOWED(&p, "198.51.100.10:1234");
	DENIED(&p, "198.51.100.1:3478");
	policy_free(&p);
}

static void test_own_listener_loopback(void **state)
{
	struct peer_policy p;
	union tern_addr a;
	policy_init(&p);
	p.allow_loopback = true;
	a = A("127.0.0.1:3478");
	assert_int_equal(policy_add_own(&p, &a), 0);
	a = A("127.0.0.1"); /* own ip, port 0 */
	assert_int_equal(policy_add_own(&p, &a), 0);
	a = A("[::]:5349"); /* wildcard listener */
	assert_int_equal(policy_add_own(&p, &a), 0);

	DENIED(&p, "127.0.0.1:3478");
	DENIED(&p, "[::ffff:127.0.0.1]:3478");
	DENIED(&p, "[::1]:5349");
	DENIED(&p, "127.0.0.2:5349");
	DENIED(&p, "127.0.0.2:3478"); /* own addresses on every listening port */
	DENIED(&p, "[::1]:3478");
	ALLOWED(&p, "127.0.0.1:3479"); /* loopback opened: own ip allowed */
	ALLOWED(&p, "127.0.0.1:0");
	ALLOWED(&p, "[::1]:3479");
	ALLOWED(&p, "8.8.8.8:5349"); /* a wildcard listener is not every address */

	/* even an explicit allow range does not open our own listener */
	struct tern_cidr c = C("127.0.0.0/8");
	assert_int_equal(policy_allow(&p, &c), 0);
	DENIED(&p, "127.0.0.1:3478");
	policy_free(&p);
}

/* The server's own addresses (listening, relay, external) on any of its
 * listening ports are refused whatever the allow ranges and
 * allow-loopback-peers say: relaying there makes the server answer itself.
 * On other ports an allow range still opens them. */
static void test_own_address_on_listening_port(void **state)
{
	struct peer_policy p;
	union tern_addr a;
	struct tern_cidr c;
	policy_init(&p);
	p.allow_loopback = true;
	static const char *const own[] = {
	    "0.0.0.0:3478",      /* wildcard listeners */
	    "[::]:3478",         /**/
	    "198.51.100.1:5349", /* a specific listener on another port */
	    "10.1.2.3",          /* relay */
	    "[2001:db8::5]:0",   /* relay, IPv6 */
	    "203.0.113.9",       /* external */
	    "::ffff:192.0.2.44", /* an own address written mapped */
	};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		a = A(own[i]);
		assert_int_equal(policy_add_own(&p, &a), 0);
	}
	static const char *const all[] = {"0.0.0.0/0", "::/0", "10.0.0.0/8"};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		c = C(all[i]);
		assert_int_equal(policy_allow(&p, &c), 0);
	}

	/* the relay address inside an allowed range, at the listening port */
	DENIED(&p, "10.1.2.3:3478");
	DENIED(&p, "[::ffff:10.1.2.3]:3478");
	DENIED(&p, "[::10.1.2.3]:3478");
	DENIED(&p, "[64:ff9b::a01:203]:3478");
	DENIED(&p, "[2002:a01:203::1]:3478");
	DENIED(&p, "[64:ff9b:1:a01:2:300::]:3478"); /* 10.1.2.3 at the /48 position */
	DENIED(&p, "10.1.2.3:5349");                /* every listening port */
	DENIED(&p, "[2001:db8::5]:3478");
	DENIED(&p, "203.0.113.9:3478");
	DENIED(&p, "203.0.113.9:5349");
	DENIED(&p, "192.0.2.44:3478");
	DENIED(&p, "198.51.100.1:3478"); /* a listening ip on another listening port */
	DENIED(&p, "198.51.100.1:5349");
	/* "this host" and, with a wildcard listener, loopback */
	DENIED(&p, "0.0.0.0:3478");
	DENIED(&p, "[::]:3478");
	DENIED(&p, "[::ffff:0.0.0.0]:5349");
	DENIED(&p, "127.0.0.1:3478");
	DENIED(&p, "127.9.9.9:5349");
	DENIED(&p, "[::1]:3478");
	/* the allow ranges open them on every other port */
	ALLOWED(&p, "10.1.2.3:3479");
	ALLOWED(&p, "10.1.2.3:0");
	ALLOWED(&p, "[2001:db8::5]:5000");
	ALLOWED(&p, "203.0.113.9:5000");
	ALLOWED(&p, "192.0.2.44:5000");
	ALLOWED(&p, "198.51.100.1:3479");
	ALLOWED(&p, "127.0.0.1:3479");
	ALLOWED(&p, "0.0.0.0:3479");
	/* addresses that are not ours, at the listening port */
	ALLOWED(&p, "10.1.2.4:3478");
	ALLOWED(&p, "8.8.8.8:3478");
	ALLOWED(&p, "[2001:db8::6]:3478");
	policy_free(&p);

	/* without a wildcard listener loopback is not ours (nothing listens
	 * there), but the relay address on the listening port still is */
	policy_init(&p);
	p.allow_loopback = true;
	a = A("198.51.100.1:3478");
	assert_int_equal(policy_add_own(&p, &a), 0);
	a = A("10.1.2.3");
	assert_int_equal(policy_add_own(&p, &a), 0);
	c = C("10.0.0.0/8");
	assert_int_equal(policy_allow(&p, &c), 0);
	DENIED(&p, "10.1.2.3:3478");
	ALLOWED(&p, "10.1.2.3:3479");
	ALLOWED(&p, "127.0.0.1:3478");
	DENIED(&p, "0.0.0.0:3478");
	policy_free(&p);
}

static void test_own_ip_without_loopback(void **state)
{
	struct peer_policy p;
	union tern_addr a;
	policy_init(&p);
	a = A("::ffff:198.51.100.20"); /* own address written mapped */
	assert_int_equal(policy_add_own(&p, &a), 0);
	DENIED(&p, "198.51.100.20:1000");
	DENIED(&p, "[::ffff:198.51.100.20]:1000");
	ALLOWED(&p, "198.51.100.21:1000");
	policy_free(&p);
}

/* As many own addresses as the configuration can name (16 listening, 16
 * relay per family, 16 external) plus the host's interface addresses:
 * none is dropped, so the last ones are refused like the first. */
static void test_own_many(void **state)
{
	struct peer_policy p;
	union tern_addr a;
	char s[64];
	policy_init(&p);
	for (int i = 1; i <= 16; i++) {
		snprintf(s, sizeof(s), "198.51.100.%d:3478", i); /* listening */
		a = A(s);
		assert_int_equal(policy_add_own(&p, &a), 0);
	}
	for (int i = 1; i <= 16; i++) {
		snprintf(s, sizeof(s), "203.0.113.%d", i); /* relay, IPv4 */
		a = A(s);
		assert_int_equal(policy_add_own(&p, &a), 0);
		snprintf(s, sizeof(s), "2001:db8:1::%x", i); /* relay, IPv6 */
		a = A(s);
		assert_int_equal(policy_add_own(&p, &a), 0);
	}
	for (int i = 1; i <= 16; i++) {
		snprintf(s, sizeof(s), "192.0.2.%d", i); /* external */
		a = A(s);
		assert_int_equal(policy_add_own(&p, &a), 0);
	}
	for (int i = 1; i <= 200; i++) {
		snprintf(s, sizeof(s), "2001:db8:2::%x", i); /* host interfaces */
		a = A(s);
		assert_int_equal(policy_add_own(&p, &a), 0);
	}
	assert_int_equal(p.nown, 16 + 32 + 16 + 200);
	DENIED(&p, "198.51.100.16:3478");
	DENIED(&p, "203.0.113.16:5000");
	DENIED(&p, "[2001:db8:1::10]:5000");
	DENIED(&p, "192.0.2.1:5000");
	DENIED(&p, "192.0.2.16:5000");
	DENIED(&p, "[::ffff:192.0.2.16]:5000");
	DENIED(&p, "[2001:db8:2::c8]:5000");
	ALLOWED(&p, "192.0.2.17:5000");
	ALLOWED(&p, "[2001:db8:2::c9]:5000");
	policy_free(&p);
	assert_int_equal(p.nown, 0);
	ALLOWED(&p, "192.0.2.16:5000"); /* freed: empty again, and reusable */
	a = A("192.0.2.16");
	assert_int_equal(policy_add_own(&p, &a), 0);
	DENIED(&p, "192.0.2.16:5000");
	policy_free(&p);
	policy_free(&p); /* twice is harmless */
}

static void test_limits(void **state)
{
	struct peer_policy p;
	struct tern_cidr c = C("203.0.113.0/24");
	union tern_addr a = A("198.51.100.1");
	policy_init(&p);
	for (int i = 0; i < POLICY_MAX_RANGES; i++) {
		assert_int_equal(policy_allow(&p, &c), 0);
		assert_int_equal(policy_deny(&p, &c), 0);
	}
	assert_int_equal(policy_allow(&p, &c), -ENOSPC);
	assert_int_equal(policy_deny(&p, &c), -ENOSPC);
	assert_int_equal(policy_add_own(&p, &a), 0);
	a.sa.sa_family = AF_UNIX;
	assert_int_equal(policy_add_own(&p, &a), -EINVAL);
	policy_free(&p);

	union tern_addr bad;
	memset(&bad, 0, sizeof(bad));
	bad.sa.sa_family = AF_UNIX;
	policy_init(&p);
	assert_false(policy_peer_allowed(&p, &bad));
}

/* cidr_parse: the prefix is plain decimal digits and nothing else, so a
 * sign or a space cannot turn "/-8" into "no prefix" (a single host). */
static void test_cidr_parse_prefix(void **state)
{
	static const char *const bad[] = {
	    "10.0.0.0/-8",
	    "10.0.0.0/+8",
	    "10.0.0.0/ 8",
	    "10.0.0.0/8 ",
	    "10.0.0.0/",
	    "10.0.0.0/8/8",
	    "10.0.0.0/0x8",
	    "10.0.0.0/33",
	    "::/129",
	    "::/-0",
	    "10.0.0.0/-0",
	    "10.0.0.0/1e1",
	    "10.0.0.0/99999999999999999999",
	    "10.0.0.0/18446744073709551624",
	    "10.0.0.0/0008",
	    " 10.0.0.0/8",
	    "fc00::/ 7",
	    "fc00::/-7",
	};
	struct tern_cidr c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cidr_parse(&c, bad[i]) != -EINVAL)
			fail_msg("cidr_parse(\"%s\") should fail", bad[i]);

	static const struct {
		const char *in;
		int family;
		unsigned prefix;
	} good[] = {
	    {"10.0.0.0/8", AF_INET, 8},
	    {"10.0.0.0/08", AF_INET, 8},
	    {"0.0.0.0/0", AF_INET, 0},
	    {"10.1.2.3", AF_INET, 32},
	    {"1.2.3.4/32", AF_INET, 32},
	    {"fc00::/7", AF_INET6, 7},
	    {"::1", AF_INET6, 128},
	    {"::/0", AF_INET6, 0},
	    {"2001:db8::/128", AF_INET6, 128},
	    {"64:ff9b:1::/048", AF_INET6, 48},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cidr_parse(&c, good[i].in) != 0)
			fail_msg("cidr_parse(\"%s\") should succeed", good[i].in);
		assert_int_equal(c.family, good[i].family);
		assert_int_equal(c.prefix, good[i].prefix);
	}
	/* host bits cleared */
	c = C("10.1.2.3/8");
	assert_int_equal(c.bytes[0], 10);
	assert_int_equal(c.bytes[1] | c.bytes[2] | c.bytes[3], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_denied),
	    cmocka_unit_test(test_public_allowed),
	    cmocka_unit_test(test_embedded_v4_forms),
	    cmocka_unit_test(test_embedded_v4_extract),
	    cmocka_unit_test(test_local_nat64),
	    cmocka_unit_test(test_allow_loopback),
	    cmocka_unit_test(test_allowed_range_wins),
	    cmocka_unit_test(test_denied_range),
	    cmocka_unit_test(test_own_addresses),
	    cmocka_unit_test(test_own_listener_loopback),
	    cmocka_unit_test(test_own_ip_without_loopback),
	    cmocka_unit_test(test_own_address_on_listening_port),
	    cmocka_unit_test(test_own_many),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_cidr_parse_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
