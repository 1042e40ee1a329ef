/* The peer policy as the server builds it from its configuration
 * (src/server/server.c build_policy): every own address the configuration
 * can name is registered, none is dropped. Nothing here opens a socket:
 * build_policy is called on a server that was never started. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/server.c"

static union tern_addr A(const char *s) {
	union tern_addr a;
	if (addr_parse(&a, s, 0) != 0)
		fail_msg("bad test address %s", s);
	return a;
}

static bool
ok(const struct peer_policy *p, const char *s)
{
	union tern_addr a = A(s);
	return policy_peer_allowed(p, &a);
}

/* The most the configuration allows: 16 listening addresses, 16 relay
 * addresses of each family, 16 external addresses. */
static struct server *full_server(void)
{
	struct server *s = calloc(1, sizeof(*s));
	char str[64];
	assert_non_null(s);
	config_defaults(&s->cfg);
	s->sh.cfg = &s->cfg;
	for (unsigned i = 0; i < CFG_MAX_ADDRS; i++) {
		snprintf(str, sizeof(str), "198.51.100.%u:3478", i + 1);
		s->cfg.listen[s->cfg.nlisten++] = A(str);
		snprintf(str, sizeof(str), "203.0.113.%u", i + 1);
		s->sh.relay_v4[s->sh.nrelay_v4++] = A(str);
		snprintf(str, sizeof(str), "2001:db8:1::%x", i + 1);
		s->sh.relay_v6[s->sh.nrelay_v6++] = A(str);
		snprintf(str, sizeof(str), "192.0.2.%u", i + 1);
		s->cfg.external[s->cfg.nexternal++].public_ip = A(str);
	}
	return s;
}

static void test_every_own_address_registered(void **state)
{
	struct server *s = full_server();
	assert_int_equal(build_policy(s, &s->cfg, &s->policy), 0);
	const struct peer_policy *p = &s->policy;
	char str[64];
	for (unsigned i = 0; i < CFG_MAX_ADDRS; i++) {
		snprintf(str, sizeof(str), "198.51.100.%u:3478", i + 1);
		if (ok(p, str))
			fail_msg("listening address %s accepted as a peer", str);
		snprintf(str, sizeof(str), "203.0.113.%u:5000", i + 1);
		if (ok(p, str))
			fail_msg("relay address %s accepted as a peer", str);
		snprintf(str, sizeof(str), "[2001:db8:1::%x]:5000", i + 1);
		if (ok(p, str))
			fail_msg("relay address %s accepted as a peer", str);
		/* the external address is the one advertised as the relayed address */
		snprintf(str, sizeof(str), "192.0.2.%u:5000", i + 1);
		if (ok(p, str))
			fail_msg("external address %s accepted as a peer", str);
	}
	assert_true(ok(p, "192.0.2.17:5000"));
	assert_true(ok(p, "203.0.113.17:5000"));
	server_free(s); /* frees the policy's own-address list too */
}

/* An own address the policy cannot hold stops the start (server_new
 * fails with build_policy's error) instead of being left out. */
static void test_unregistered_own_address_fails(void **state)
{
	struct server *s = full_server();
	s->cfg.external[3].public_ip.sa.sa_family = AF_UNIX; /* policy_add_own refuses it */
	assert_int_equal(build_policy(s, &s->cfg, &s->policy), -EINVAL);
	server_free(s);
}

/* Listening on the wildcard address, every address of the host reaches
 * the listener: each is the server's own, so none is a peer on the
 * listening port, even with every address allowed; other ports stay open
 * to the allow ranges. */
static void test_wildcard_owns_host_addresses(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	struct ifaddrs *ifa, *i;
	unsigned checked = 0;
	assert_non_null(s);
	config_defaults(&s->cfg);
	s->sh.cfg = &s->cfg;
	s->cfg.listen[s->cfg.nlisten++] = A("0.0.0.0:3478");
	s->cfg.listen[s->cfg.nlisten++] = A("[::]:3478");
	s->sh.relay_v4[s->sh.nrelay_v4++] = A("10.1.2.3");
	s->cfg.allowed_peers[s->cfg.nallowed++] = (struct tern_cidr){.family = AF_INET, .prefix = 0};
	s->cfg.allowed_peers[s->cfg.nallowed++] = (struct tern_cidr){.family = AF_INET6, .prefix = 0};
	assert_int_equal(build_policy(s, &s->cfg, &s->policy), 0);
	const struct peer_policy *p = &s->policy;
	assert_false(ok(p, "10.1.2.3:3478"));
	assert_true(ok(p, "10.1.2.3:3479"));
	assert_int_equal(getifaddrs(&ifa), 0);
	for (i = ifa; i; i = i->ifa_next) {
		union tern_addr a;
		if (!i->ifa_addr || addr_from_sockaddr(&a, i->ifa_addr, sizeof(struct sockaddr_in6)) < 0)
			continue;
		addr_set_port(&a, 3478);
		if (policy_peer_allowed(p, &a))
			fail_msg("host address %s (%s) accepted as a peer on the listening port",
			         addr_format(&a, (char[TERN_ADDRSTRLEN]){0}, TERN_ADDRSTRLEN, true),
			         i->ifa_name);
		addr_set_port(&a, 3479);
		if (!policy_peer_allowed(p, &a))
			fail_msg("host address %s refused on another port although allowed",
			         addr_format(&a, (char[TERN_ADDRSTRLEN]){0}, TERN_ADDRSTRLEN, true));
		checked++;
	}
	freeifaddrs(ifa);
	print_message("%u host addresses checked\n", checked);
	assert_true(checked > 0);
	server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_own_address_registered),
	    cmocka_unit_test(test_unregistered_own_address_fails),
	    cmocka_unit_test(test_wildcard_owns_host_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
