/* ternd/config: the option table, the file and command-line parsers, the
 * error lines, config_finish, and the files derived from the table
 * (etc/ternd.conf must load, docs/CONFIG.md must match --help-markdown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ternd/config/config.h"
#include "ternd/config/config_int.h"

static struct tern_config cfg; /* ~140 KB: not on the stack */
static char path[64];          /* the temporary configuration file */
static char *err_text, *warn_text;

#define assert_has(hay, needle)                                                                              \
	do {                                                                                                 \
		const char *h_ = (hay);                                                                      \
		if (!h_ || !strstr(h_, (needle)))                                                            \
			fail_msg("'%s' not found in '%s'", (needle), h_ ? h_ : "(null)");                    \
	} while (0)
#define assert_lacks(hay, needle)                                                                            \
	do {                                                                                                 \
		if (strstr((hay), (needle)))                                                                 \
			fail_msg("'%s' unexpectedly in '%s'", (needle), (hay));                              \
	} while (0)

static int nlines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Write text to a fresh temporary file named in `path`. */
static void write_file(const char *text)
{
	int fd;
	strcpy(path, "/tmp/tern_test_cfg_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* config_load with argv = ternd [-c file-with-text] args...; captures err
 * and warn in err_text / warn_text. */
static int run_argv(const char *text, bool c_last, const char *const *args)
{
	char *argv[64];
	int argc = 0, rc;
	size_t elen = 0, wlen = 0;
	FILE *e, *w;

	free(err_text);
	free(warn_text);
	argv[argc++] = (char *)"ternd";
	if (text) {
		write_file(text);
		if (!c_last) {
			argv[argc++] = (char *)"-c";
			argv[argc++] = path;
		}
	}
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	if (text && c_last) {
		argv[argc++] = (char *)"--config";
		argv[argc++] = path;
	}
	argv[argc] = NULL;
	e = open_memstream(&err_text, &elen);
	w = open_memstream(&warn_text, &wlen);
	rc = config_load(&cfg, argc, argv, e, w);
	fclose(e);
	fclose(w);
	if (text)
		unlink(path);
	return rc;
}

#define RUN(text, ...) run_argv((text), false, (const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...)      run_argv(NULL, false, (const char *const[]){__VA_ARGS__, NULL})

/* Only config_load_file (no config_finish): for single options. */
static int load_text(const char *text)
{
	size_t elen = 0, wlen = 0;
	FILE *e, *w;
	int rc;

	free(err_text);
	free(warn_text);
	write_file(text);
	e = open_memstream(&err_text, &elen);
	w = open_memstream(&warn_text, &wlen);
	config_defaults(&cfg);
	rc = config_load_file(&cfg, path, e, w);
	fclose(e);
	fclose(w);
	unlink(path);
	return rc;
}

static char *ip(const union tern_addr *a)
{
	static char buf[4][TERN_ADDRSTRLEN];
	static int k;
	k = (k + 1) % 4;
	return addr_format(a, buf[k], sizeof(buf[k]), true);
}

static void repo_file(char *out, size_t cap, const char *rel)
{
	const char *f = __FILE__, *end = strstr(f, "tests/unit/test_config.c");
	assert_non_null(end);
	snprintf(out, cap, "%.*s%s", (int)(end - f), f, rel);
}

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf;
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_defaults(void **state)
{
	config_defaults(&cfg);
	assert_int_equal(cfg.listening_port, 3478);
	assert_int_equal(cfg.min_port, 49152);
	assert_int_equal(cfg.max_port, 65535);
	assert_int_equal(cfg.workers, 0);
	assert_string_equal(cfg.realm, "tern.local");
	assert_int_equal(cfg.stale_nonce, 600);
	assert_int_equal(cfg.max_allocate_lifetime, 3600);
	assert_int_equal(cfg.default_allocate_lifetime, 600);
	assert_int_equal(cfg.channel_lifetime, 600);
	assert_int_equal(cfg.permission_lifetime, 300);
	assert_false(cfg.fingerprint);
	assert_false(cfg.no_auth);
	assert_int_equal(cfg.verbose, 0);
	assert_int_equal(cfg.nlisten + cfg.nrelay + cfg.nusers + cfg.nsecrets, 0);
}

/* Every scalar kind, from a file. */
static void test_file_scalars(void **state)
{
	assert_int_equal(load_text("listening-port=5000\n"
	                           "min-port 40000\n"
	                           "max-port = 40100\n"
	                           "workers=4\n"
	                           "realm=example.org\n"
	                           "user-quota=10\n"
	                           "total-quota=1000\n"
	                           "max-bps=125000\n"
	                           "max-allocate-lifetime=1800\n"
	                           "default-allocate-lifetime=300\n"
	                           "channel-lifetime=120\n"
	                           "permission-lifetime=60\n"
	                           "stale-nonce=900\n"
	                           "pidfile=/run/ternd.pid\n"
	                           "log-file=/var/log/ternd.log\n"
	                           "sha256\n"
	                           "fingerprint\n"
	                           "no-stdout-log\n"),
	                 0);
	assert_string_equal(err_text, "");
	assert_string_equal(warn_text, "");
	assert_int_equal(cfg.listening_port, 5000);
	assert_int_equal(cfg.min_port, 40000);
	assert_int_equal(cfg.max_port, 40100);
	assert_int_equal(cfg.workers, 4);
	assert_string_equal(cfg.realm, "example.org");
	assert_int_equal(cfg.user_quota, 10);
	assert_int_equal(cfg.total_quota, 1000);
	assert_int_equal(cfg.max_bps, 125000);
	assert_int_equal(cfg.max_allocate_lifetime, 1800);
	assert_int_equal(cfg.default_allocate_lifetime, 300);
	assert_int_equal(cfg.channel_lifetime, 120);
	assert_int_equal(cfg.permission_lifetime, 60);
	assert_int_equal(cfg.stale_nonce, 900);
	assert_string_equal(cfg.pidfile, "/run/ternd.pid");
	assert_string_equal(cfg.log_file, "/var/log/ternd.log");
	assert_true(cfg.sha256 && cfg.fingerprint && cfg.no_stdout_log);
	assert_string_equal(cfg.config_file, path);
}

static void test_file_bools(void **state)
{
	static const char *const yes[] = {"", "=1", "=yes", "=on", "=true", "=t", "=YES", " true", "="};
	static const char *const no[] = {"=0", "=no", "=off", "=false", "=f", "=Off", " 0"};
	char text[64];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "no-udp%s\n", yes[i]);
		assert_int_equal(load_text(text), 0);
		assert_true(cfg.no_udp);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "no-tcp\nno-tcp%s\n", no[i]);
		assert_int_equal(load_text(text), 0);
		assert_false(cfg.no_tcp);
	}
	assert_int_equal(load_text("no-tls\nno-dtls\nno-stun\nno-software-attribute\nallow-loopback-peers\n"
	                           "no-multicast-peers\nuse-auth-secret\nlt-cred-mech\nno-auth\n"),
	                 0);
	assert_true(cfg.no_tls && cfg.no_dtls && cfg.no_stun && cfg.no_software_attribute);
	assert_true(cfg.allow_loopback_peers && cfg.no_multicast_peers);
	assert_true(cfg.use_auth_secret && cfg.lt_cred_mech && cfg.no_auth);
	assert_int_equal(load_text("prod\n"), 0); /* coturn's old name */
	assert_true(cfg.no_software_attribute);
}

/* Syntax: comments, blanks, whitespace, quotes, CRLF, byte order mark. */
static void test_file_syntax(void **state)
{
	assert_int_equal(load_text("\xef\xbb\xbf# a comment\n"
	                           "\n"
	                           "   \t\n"
	                           "   # indented comment\n"
	                           "  realm  =  \"quoted realm.org\"  \r\n"
	                           "\tpidfile\t/tmp/a b.pid   \n"
	                           "user=alice:pa#ss word=x\n"
	                           "static-auth-secret=\"s3cr#t\"\n"
	                           "fingerprint\r\n"),
	                 0);
	assert_string_equal(err_text, "");
	assert_string_equal(cfg.realm, "quoted realm.org");
	assert_string_equal(cfg.pidfile, "/tmp/a b.pid");
	assert_string_equal(cfg.users[0].name, "alice");
	assert_string_equal(cfg.users[0].password, "pa#ss word=x");
	assert_string_equal(cfg.secrets[0], "s3cr#t");
	assert_true(cfg.fingerprint);
}

static void test_file_lists(void **state)
{
	assert_int_equal(load_text("listening-ip=127.0.0.1\n"
	                           "listening-ip=::1\n"
	                           "listening-ip=[2001:db8::1]\n"
	                           "relay-ip=192.0.2.1\n"
	                           "relay-ip 2001:db8::2\n"
	                           "external-ip=203.0.113.5\n"
	                           "external-ip=2001:db8::99/2001:db8::2\n"
	                           "user=alice:secret\n"
	                           "user=bob:0x00112233445566778899AABBCCDDEEFF\n"
	                           "user=carol:pass:with:colons\n"
	                           "static-auth-secret=one\n"
	                           "static-auth-secret=two\n"),
	                 0);
	assert_int_equal(cfg.nlisten, 3);
	assert_string_equal(ip(&cfg.listen[0]), "127.0.0.1:0");
	assert_string_equal(ip(&cfg.listen[1]), "[::1]:0");
	assert_string_equal(ip(&cfg.listen[2]), "[2001:db8::1]:0");
	assert_int_equal(cfg.nrelay, 2);
	assert_string_equal(ip(&cfg.relay[1]), "[2001:db8::2]:0");
	assert_int_equal(cfg.nexternal, 2);
	assert_string_equal(ip(&cfg.external[0].public_ip), "203.0.113.5:0");
	assert_int_equal(cfg.external[0].private_ip.sa.sa_family, 0);
	assert_string_equal(ip(&cfg.external[1].private_ip), "[2001:db8::2]:0");
	assert_int_equal(cfg.nusers, 3);
	assert_true(cfg.users[0].has_password && !cfg.users[0].has_key);
	assert_true(cfg.users[1].has_key && !cfg.users[1].has_password);
	assert_string_equal(cfg.users[1].password, "");
	assert_int_equal(cfg.users[1].key[0], 0x00);
	assert_int_equal(cfg.users[1].key[10], 0xaa);
	assert_int_equal(cfg.users[1].key[15], 0xff);
	assert_string_equal(cfg.users[2].password, "pass:with:colons");
	assert_int_equal(cfg.nsecrets, 2);
	assert_string_equal(cfg.secrets[1], "two");
}

static bool covers(const struct tern_cidr *list, unsigned n, const char *addr)
{
	union tern_addr a;
	assert_int_equal(addr_parse(&a, addr, 0), 0);
	for (unsigned i = 0; i < n; i++)
		if (cidr_contains(&list[i], &a))
			return true;
	return false;
}

/* coturn's "a-b" ranges become the fewest CIDR blocks covering exactly a..b. */
static void test_peer_ranges(void **state)
{
	assert_int_equal(load_text("denied-peer-ip=10.0.0.0-10.255.255.255\n"
	                           "denied-peer-ip=0.0.0.0-255.255.255.255\n"
	                           "denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"
	                           "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"
	                           "denied-peer-ip=192.168.0.0/16\n"
	                           "denied-peer-ip=2001:db8::1\n"
	                           "allowed-peer-ip=10.0.0.1 - 10.0.0.6\n"
	                           "allowed-peer-ip=198.51.100.7\n"),
	                 0);
	assert_int_equal(cfg.ndenied, 6);
	assert_int_equal(cfg.denied_peers[0].prefix, 8);
	assert_int_equal(cfg.denied_peers[1].prefix, 0);
	assert_int_equal(cfg.denied_peers[2].family, AF_INET6);
	assert_int_equal(cfg.denied_peers[2].prefix, 7);
	assert_int_equal(cfg.denied_peers[2].bytes[0], 0xfc);
	assert_int_equal(cfg.denied_peers[3].prefix, 0);
	assert_int_equal(cfg.denied_peers[4].prefix, 16);
	assert_int_equal(cfg.denied_peers[5].prefix, 128);
	/* 10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31, 10.0.0.6/32, then the host */
	assert_int_equal(cfg.nallowed, 5);
	assert_int_equal(cfg.allowed_peers[0].prefix, 32);
	assert_int_equal(cfg.allowed_peers[1].prefix, 31);
	assert_int_equal(cfg.allowed_peers[2].prefix, 31);
	assert_int_equal(cfg.allowed_peers[3].prefix, 32);
	assert_false(covers(cfg.allowed_peers, 4, "10.0.0.0"));
	for (int i = 1; i <= 6; i++) {
		char a[16];
		snprintf(a, sizeof(a), "10.0.0.%d", i);
		assert_true(covers(cfg.allowed_peers, 4, a));
	}
	assert_false(covers(cfg.allowed_peers, 4, "10.0.0.7"));

	/* the worst IPv6 range needs 254 blocks: more than a list holds */
	assert_int_equal(load_text("denied-peer-ip=::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe\n"), -EINVAL);
	assert_int_equal(nlines(err_text), 1);
	assert_has(err_text, "CIDR blocks");
}

/* Each option from the command line, as "--x v", "--x=v" and short forms. */
static void test_cli_forms(void **state)
{
	assert_int_equal(ARGS("--listening-port", "4000", "--min-port=1000", "--max-port", "2000", "-m", "3",
	                      "--realm=r.example", "-u", "alice:pw", "--user=bob:pw2", "-L", "127.0.0.1",
	                      "--listening-ip=::1", "-E", "127.0.0.2", "-X", "198.51.100.1", "-a", "-f", "-v",
	                      "--stale-nonce=120", "-q", "5", "-Q6", "-s", "7", "--sha256", "--no-stdout-log",
	                      "--log-file", "stdout", "--denied-peer-ip", "192.0.2.0-192.0.2.255"),
	                 0);
	assert_string_equal(err_text, "");
	assert_int_equal(cfg.listening_port, 4000);
	assert_int_equal(cfg.min_port, 1000);
	assert_int_equal(cfg.max_port, 2000);
	assert_int_equal(cfg.workers, 3);
	assert_string_equal(cfg.realm, "r.example");
	assert_int_equal(cfg.nusers, 2);
	assert_string_equal(cfg.users[1].name, "bob");
	assert_int_equal(cfg.nlisten, 2);
	assert_string_equal(ip(&cfg.listen[0]), "127.0.0.1:4000"); /* port filled in by config_finish */
	assert_string_equal(ip(&cfg.listen[1]), "[::1]:4000");
	assert_int_equal(cfg.nrelay, 1);
	assert_int_equal(cfg.nexternal, 1);
	assert_true(cfg.lt_cred_mech && cfg.fingerprint && cfg.sha256 && cfg.no_stdout_log);
	assert_int_equal(cfg.verbose, 1);
	assert_int_equal(cfg.stale_nonce, 120);
	assert_int_equal(cfg.user_quota, 5);
	assert_int_equal(cfg.total_quota, 6);
	assert_int_equal(cfg.max_bps, 7);
	assert_string_equal(cfg.log_file, "");
	assert_int_equal(cfg.ndenied, 1);
	assert_int_equal(cfg.denied_peers[0].prefix, 24);

	/* bundled short flags, attached short values, alias, bool values */
	assert_int_equal(ARGS("-zfV", "-p3479", "--relay-threads", "8", "--fingerprint=no", "--stale-nonce"),
	                 0);
	assert_true(cfg.no_auth);
	assert_false(cfg.fingerprint);
	assert_int_equal(cfg.verbose, 2);
	assert_int_equal(cfg.listening_port, 3479);
	assert_int_equal(cfg.workers, 8);
	assert_int_equal(cfg.stale_nonce, 600);
	assert_int_equal(ARGS("-z", "--check-config", "-n"), 0);
	assert_true(cfg.check_config);
	assert_string_equal(cfg.config_file, "");
}

/* A string longer than its field is refused in one line, and nothing
 * after the field is touched: steering is 16 bytes, far below the 255 a
 * generic string allowed once (fuzz_config found the overrun). */
static void test_string_bounds(void **state)
{
	char long_mode[64];
	memset(long_mode, 'v', sizeof(long_mode) - 1);
	long_mode[sizeof(long_mode) - 1] = 0;
	assert_int_not_equal(ARGS("--stats-socket", "/tmp/keep.sock", "--steering", long_mode), 0);
	assert_has(err_text, "option '--steering'");
	assert_has(err_text, "longer than 15 bytes");
	assert_int_equal(nlines(err_text), 1);
	assert_int_not_equal(
	    load_text("stats-socket=/tmp/keep.sock\nsteering=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n"), 0);
	assert_has(err_text, "longer than 15 bytes");
	assert_string_equal(cfg.stats_socket, "/tmp/keep.sock");
	assert_int_equal(ARGS("-z", "--steering", "hash"), 0);
	assert_string_equal(cfg.steering, "hash");
}

/* coturn's alternate-server options: IP or IP:PORT, default ports 3478
 * (5349 for TLS), a list per option; the command line replaces a file's
 * list option by option. */
static void test_alternate_servers(void **state)
{
	char s[TERN_ADDRSTRLEN];
	assert_int_equal(
	    load_text("user=a:b\nalternate-server=192.0.2.1\nalternate-server=[2001:db8::1]:3479\n"
	              "tls-alternate-server=192.0.2.2\nudp-alternate-server=192.0.2.3:4000\n"
	              "drain-min-allocations=5\ndrain-timeout=60\n"),
	    0);
	assert_int_equal(cfg.alt[CFG_ALT_ANY].n, 2);
	assert_string_equal(addr_format(&cfg.alt[CFG_ALT_ANY].a[0], s, sizeof(s), true), "192.0.2.1:3478");
	assert_string_equal(addr_format(&cfg.alt[CFG_ALT_ANY].a[1], s, sizeof(s), true),
	                    "[2001:db8::1]:3479");
	assert_int_equal(cfg.alt[CFG_ALT_TLS].n, 1);
	assert_string_equal(addr_format(&cfg.alt[CFG_ALT_TLS].a[0], s, sizeof(s), true), "192.0.2.2:5349");
	assert_int_equal(cfg.alt[CFG_ALT_UDP].n, 1);
	assert_int_equal(cfg.alt[CFG_ALT_TCP].n, 0);
	assert_int_equal(cfg.drain_min_allocations, 5);
	assert_int_equal(cfg.drain_timeout, 60);

	assert_int_equal(run_argv("user=a:b\nalternate-server=192.0.2.1\ntcp-alternate-server=192.0.2.5\n", 1,
	                          (const char *const[]){"--alternate-server", "192.0.2.9:1", NULL}),
	                 0);
	assert_int_equal(cfg.alt[CFG_ALT_ANY].n, 1);
	assert_string_equal(addr_format(&cfg.alt[CFG_ALT_ANY].a[0], s, sizeof(s), true), "192.0.2.9:1");
	assert_int_equal(cfg.alt[CFG_ALT_TCP].n, 1);

	assert_int_not_equal(ARGS("--alternate-server", "192.0.2.1:70000"), 0);
	assert_has(err_text, "option '--alternate-server' value '192.0.2.1:70000'");
	assert_int_equal(nlines(err_text), 1);
	assert_int_not_equal(ARGS("--alternate-server", "::"), 0);
	assert_has(err_text, "concrete address");
	assert_int_not_equal(ARGS("--alternate-server", "192.0.2.1", "--alternate-server", "192.0.2.1:3478"),
	                     0);
	assert_has(err_text, "given twice");
}

/* Reload: what a new configuration may change, and what it names as
 * needing a restart (the auth mode among them: its nonce key and the
 * allocations' owners depend on it). */
static void test_reload_split(void **state)
{
	static struct tern_config old, new;
	assert_int_equal(load_text("user=a:b\nuser-quota=3\nlistening-port=4000\nrealm=one\n"), 0);
	old = cfg;
	assert_int_equal(load_text("user=c:d\nuser-quota=5\nlistening-port=4001\nrealm=two\nworkers=3\n"), 0);
	new = cfg;
	char names[256];
	config_restart_needed(&old, &new, names, sizeof(names));
	assert_string_equal(names, "listening-port, workers");
	config_take_reloadable(&old, &new);
	assert_int_equal(old.user_quota, 5);
	assert_string_equal(old.realm, "two");
	assert_int_equal(old.nusers, 1);
	assert_string_equal(old.users[0].name, "c");
	assert_int_equal(old.listening_port, 4000);
	assert_int_equal(old.workers, new.workers == 3 ? 0 : 1); /* not taken */

	assert_int_equal(load_text("user=a:b\n"), 0);
	old = cfg;
	assert_int_equal(load_text("no-auth\n"), 0);
	new = cfg;
	config_restart_needed(&old, &new, names, sizeof(names));
	assert_non_null(strstr(names, "no-auth"));
}

/* The -c file is read first; the other flags override it wherever -c is. */
static void test_cli_overrides_file(void **state)
{
	static const char text[] = "listening-port=1000\nfingerprint\nrealm=file.org\n"
	                           "listening-ip=127.0.0.1\nlistening-ip=::1\nuser=file:pw\n";

	for (int last = 0; last < 2; last++) {
		assert_int_equal(run_argv(text, last,
		                          (const char *const[]){"-p", "2000", "--fingerprint=off", "-L",
		                                                "127.0.0.9", NULL}),
		                 0);
		assert_string_equal(err_text, "");
		assert_int_equal(cfg.listening_port, 2000);
		assert_false(cfg.fingerprint);
		assert_string_equal(cfg.realm, "file.org");
		assert_string_equal(cfg.config_file, path);
		/* a list given on the command line replaces the file's list */
		assert_int_equal(cfg.nlisten, 1);
		assert_string_equal(ip(&cfg.listen[0]), "127.0.0.9:2000");
		assert_int_equal(cfg.nusers, 1);
	}
	/* repeats on the command line append to each other */
	assert_int_equal(RUN(text, "-u", "a:1", "-u", "b:2"), 0);
	assert_int_equal(cfg.nusers, 2);
	assert_string_equal(cfg.users[0].name, "a");
	assert_int_equal(cfg.nlisten, 2);
}

static void test_cli_special(void **state)
{
	/* --help, --version and --help-markdown need no valid configuration */
	assert_int_equal(ARGS("--help"), 0);
	assert_true(cfg.help);
	assert_int_equal(ARGS("-h", "--listening-port", "0"), 0);
	assert_true(cfg.help);
	assert_int_equal(ARGS("--version"), 0);
	assert_true(cfg.version);
	assert_int_equal(ARGS("--help-markdown"), 0);
	assert_true(cfg.help_markdown);
	assert_int_equal(ARGS("-z", "--", "x"), -EINVAL);
	assert_string_equal(err_text, "command line: unexpected argument 'x': ternd takes options only\n");
	assert_int_equal(ARGS("-z", "stray"), -EINVAL);
	assert_has(err_text, "'stray'");
	assert_int_equal(ARGS("-z", "--"), 0);
	assert_int_equal(ARGS("-z", "-p"), -EINVAL);
	assert_string_equal(err_text, "command line: option '-p': needs a value\n");
	assert_int_equal(ARGS("-z", "--realm"), -EINVAL);
	assert_string_equal(err_text, "command line: option '--realm': needs a value\n");
	assert_int_equal(RUN("no-auth\n", "-n"), -EINVAL);
	assert_has(err_text, "option '-n'");
	assert_int_equal(nlines(err_text), 1);
	assert_int_equal(ARGS("-c", "/nonexistent/ternd.conf"), -ENOENT);
	assert_string_equal(err_text, "/nonexistent/ternd.conf: cannot open: No such file or directory\n");
	assert_int_equal(ARGS("-c", "/tmp"), -EISDIR);
	assert_int_equal(nlines(err_text), 1);
}

static void test_unknown(void **state)
{
	{
		char want[160];
		assert_int_equal(load_text("realm=x\n\nlisening-port=3478\n"), -EINVAL);
		snprintf(want, sizeof(want),
		         "%s:3: unknown option 'lisening-port' (did you mean 'listening-port'?)\n", path);
		assert_string_equal(err_text, want);
		assert_int_equal(load_text("frobnicate\n"), -EINVAL);
		snprintf(want, sizeof(want), "%s:1: unknown option 'frobnicate'\n", path);
		assert_string_equal(err_text, want);
	}
	assert_int_equal(ARGS("-z", "--fingerprnt"), -EINVAL);
	assert_string_equal(err_text,
	                    "command line: unknown option '--fingerprnt' (did you mean '--fingerprint'?)\n");
	assert_int_equal(ARGS("-z", "-Y"), -EINVAL);
	assert_string_equal(err_text, "command line: unknown option '-Y'\n");
	/* option names are case-sensitive, as in coturn (verbose / Verbose) */
	assert_int_equal(ARGS("-z", "--FINGERPRINT"), -EINVAL);
}

/* Bad values: one line naming file:line, option and value. */
static void test_value_errors(void **state)
{
	static const struct {
		const char *line, *name, *value, *why;
	} cases[] = {
	    {"listening-port=0", "listening-port", "0", "from 1 to 65535"},
	    {"listening-port=70000", "listening-port", "70000", "from 1 to 65535"},
	    {"listening-port=-1", "listening-port", "-1", "whole number"},
	    {"listening-port=34x", "listening-port", "34x", "whole number"},
	    {"min-port=99999999999999999999999", "min-port", "99999999999999999999999", "whole number"},
	    {"workers=1025", "workers", "1025", "from 0 to 1024"},
	    {"relay-threads=2000", "relay-threads", "2000", "from 0 to 1024"},
	    {"max-allocate-lifetime=0", "max-allocate-lifetime", "0", "from 1 to 86400"},
	    {"permission-lifetime=3601", "permission-lifetime", "3601", "from 1 to 3600"},
	    {"stale-nonce=100000", "stale-nonce", "100000", "from 1 to 86400"},
	    {"stale-nonce=soon", "stale-nonce", "soon", "seconds"},
	    {"fingerprint=maybe", "fingerprint", "maybe", "yes/no"},
	    {"listening-ip=1.2.3.4:3478", "listening-ip", "1.2.3.4:3478", "without a port"},
	    {"listening-ip=[::1]:3478", "listening-ip", "[::1]:3478", "without a port"},
	    {"listening-ip=localhost", "listening-ip", "localhost", "not an IPv4 or IPv6 address"},
	    {"relay-ip=0.0.0.0", "relay-ip", "0.0.0.0", "concrete address"},
	    {"external-ip=1.2.3.4/::1", "external-ip", "1.2.3.4/::1", "one family"},
	    {"external-ip=1.2.3.4/", "external-ip", "1.2.3.4/", "not an IPv4"},
	    {"denied-peer-ip=10.0.0.9-10.0.0.1", "denied-peer-ip", "10.0.0.9-10.0.0.1", "above its last"},
	    {"denied-peer-ip=10.0.0.1-::1", "denied-peer-ip", "10.0.0.1-::1", "one family"},
	    {"allowed-peer-ip=10.0.0.0/33", "allowed-peer-ip", "10.0.0.0/33", "CIDR"},
	    {"realm=a\"b", "realm", "a\"b", "not allowed"},
	    {"rest-api-separator=.", "rest-api-separator", ".", "only ':'"},
	    {"pidfile=", "pidfile", "", "needs a value"},
	    {"realm=\"open", "realm", "\"open", "unterminated quote"},
	    {"config=/etc/ternd.conf", "config", "/etc/ternd.conf", "only valid on the command line"},
	    {"help", "help", NULL, "only valid on the command line"},
	};
	char text[128], want[192];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "# first\nrealm=ok\n%s\nfingerprint\n", cases[i].line);
		assert_int_equal(load_text(text), -EINVAL);
		assert_int_equal(nlines(err_text), 1);
		if (cases[i].value)
			snprintf(want, sizeof(want), "%s:3: option '%s' value '%s': ", path, cases[i].name,
			         cases[i].value);
		else
			snprintf(want, sizeof(want), "%s:3: option '%s': ", path, cases[i].name);
		assert_has(err_text, want);
		assert_has(err_text, cases[i].why);
	}
	/* and from the command line */
	assert_int_equal(ARGS("-z", "-p", "0"), -EINVAL);
	assert_string_equal(
	    err_text,
	    "command line: option '--listening-port' value '0': must be a whole number from 1 to 65535\n");
	assert_int_equal(ARGS("-z", "--workers=x"), -EINVAL);
	assert_string_equal(
	    err_text, "command line: option '--workers' value 'x': must be a whole number from 0 to 1024\n");
}

/* Limits and duplicates of the lists. */
static void test_list_errors(void **state)
{
	char text[2048] = "";

	for (int i = 0; i <= CFG_MAX_ADDRS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "listening-ip=10.0.0.%d\n", i + 1);
	assert_int_equal(load_text(text), -EINVAL);
	assert_has(err_text, ":17: option 'listening-ip' value '10.0.0.17': more than 16");
	assert_int_equal(load_text("relay-ip=::1\nrelay-ip=0::1\n"), -EINVAL);
	assert_has(err_text, ":2: option 'relay-ip' value '0::1': address given twice");
	assert_int_equal(load_text("external-ip=1.1.1.1\nexternal-ip=2.2.2.2\n"), -EINVAL);
	assert_has(err_text, "PUBLIC/PRIVATE");
	assert_int_equal(load_text("external-ip=1.1.1.1/10.0.0.1\nexternal-ip=2.2.2.2/10.0.0.1\n"), -EINVAL);
	assert_has(err_text, "already mapped");
	assert_int_equal(load_text("static-auth-secret=a\nstatic-auth-secret=a\n"), -EINVAL);
	assert_has(err_text, ":2: option 'static-auth-secret' value '***': secret given twice");
	text[0] = 0;
	for (int i = 0; i <= CFG_MAX_SECRETS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "static-auth-secret=s%d\n", i);
	assert_int_equal(load_text(text), -EINVAL);
	assert_has(err_text, "more than 8 secrets");
}

/* Users: syntax, keys, duplicates; passwords and keys are never echoed. */
static void test_user_errors(void **state)
{
	static const char *const bad[] = {"alice", ":pw", "alice:", "alice:0x1234",
	                                  "alice:0x00112233445566778899aabbccddeeZZ"};
	char text[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "user=%s\n", bad[i]);
		assert_int_equal(load_text(text), -EINVAL);
		assert_int_equal(nlines(err_text), 1);
		assert_has(err_text, ":1: option 'user' value '");
		assert_lacks(err_text, "0x1");
		assert_lacks(err_text, "0x0");
		assert_lacks(err_text, "pw");
	}
	assert_has(err_text, "value 'alice:***': a key is 0x and 32 hex digits");
	assert_int_equal(load_text("user=alice:one\nuser=alice:two\n"), -EINVAL);
	assert_has(err_text, ":2: option 'user' value 'alice:***': user given twice");
	assert_lacks(err_text, "two");
	assert_int_equal(ARGS("-u", "bob"), -EINVAL);
	assert_string_equal(err_text, "command line: option '--user' value '***': expected NAME:PASSWORD or "
	                              "NAME:0x<32 hex digits>\n");
}

/* Every coturn option tern does not implement: a warning or an error, as
 * the table says, one line each, from a file and from the command line. */
static void test_coturn_policy(void **state)
{
	char text[128], arg[128], want[256];
	int nwarn = 0, nrefuse = 0;

	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		if (o->type == T_SECTION || o->status == ST_OK)
			continue;
		snprintf(text, sizeof(text), "no-auth\n%s%s\n", o->name, o->type == T_XVALUE ? "=x" : "");
		if (o->status == ST_WARN) {
			nwarn++;
			assert_int_equal(load_text(text), 0);
			assert_string_equal(err_text, "");
			snprintf(want, sizeof(want), "%s:2: option '%s' ignored: %s\n", path, o->name,
			         o->help);
			assert_string_equal(warn_text, want);
		} else {
			nrefuse++;
			assert_int_equal(load_text(text), -EINVAL);
			assert_string_equal(warn_text, "");
			snprintf(want, sizeof(want), "%s:2: option '%s': not implemented yet by tern (%s)\n",
			         path, o->name, o->help);
			assert_string_equal(err_text, want);
		}
		/* command line: a value option takes the next argument */
		snprintf(arg, sizeof(arg), "--%s", o->name);
		if (o->type == T_XVALUE)
			assert_int_equal(ARGS("-z", arg, "x"), o->status == ST_WARN ? 0 : -EINVAL);
		else
			assert_int_equal(ARGS("-z", arg), o->status == ST_WARN ? 0 : -EINVAL);
		assert_int_equal(nlines(o->status == ST_WARN ? warn_text : err_text), 1);
		if (o->alias) {
			snprintf(text, sizeof(text), "%s=x\n", o->alias);
			assert_int_equal(load_text(text), o->status == ST_WARN ? 0 : -EINVAL);
		}
	}
	assert_true(nwarn > 40);
	assert_true(nrefuse >= 10);
	/* the ones whose absence would change security */
	static const char *const refused[] = {"userdb",       "psql-userdb", "mysql-userdb", "mongo-userdb",
	                                      "redis-userdb", "oauth",       "secure-stun",  "stun-only",
	                                      "server-relay", "no-udp-relay"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(text, sizeof(text), "%s=x\n", refused[i]);
		assert_int_equal(load_text(text), -EINVAL);
	}
	/* short forms of coturn options */
	assert_int_equal(ARGS("-z", "-b", "/var/db/turndb"), -EINVAL);
	assert_string_equal(err_text,
	                    "command line: option '--userdb': not implemented yet by tern (would change who "
	                    "can authenticate)\n");
	assert_int_equal(ARGS("-z", "-o"), 0);
	assert_has(warn_text, "option '--daemon' ignored");
}

static void test_stale_verbose_logfile(void **state)
{
	assert_int_equal(load_text("stale-nonce\n"), 0);
	assert_int_equal(cfg.stale_nonce, 600);
	assert_int_equal(load_text("stale-nonce=86400\n"), 0);
	assert_int_equal(cfg.stale_nonce, 86400);
	assert_int_equal(load_text("stale-nonce=300\nstale-nonce=false\n"), 0);
	assert_int_equal(cfg.stale_nonce, 600);
	assert_has(warn_text, ":2: option 'stale-nonce' value 'false': nonces always expire");
	assert_int_equal(load_text("stale-nonce=0\n"), 0);
	assert_int_equal(nlines(warn_text), 1);

	assert_int_equal(load_text("verbose\n"), 0);
	assert_int_equal(cfg.verbose, 1);
	assert_int_equal(load_text("Verbose\nverbose\n"), 0);
	assert_int_equal(cfg.verbose, 2);
	assert_int_equal(load_text("Verbose\nverbose=off\n"), 0);
	assert_int_equal(cfg.verbose, 0);

	assert_int_equal(load_text("log-file=-\n"), 0);
	assert_string_equal(cfg.log_file, "");
	assert_false(cfg.syslog);
	/* coturn's spelling of the syslog switch */
	assert_int_equal(load_text("log-file=syslog\n"), 0);
	assert_string_equal(cfg.log_file, "");
	assert_true(cfg.syslog);
	assert_string_equal(warn_text, "");
	assert_int_equal(load_text("syslog\nlog-file=/var/log/ternd.log\n"), 0);
	assert_true(cfg.syslog);
	assert_string_equal(cfg.log_file, "/var/log/ternd.log");
}

/* proc-user / proc-group are resolved while parsing: an unknown name is
 * the usual one error line with file:line, option and value. */
static void test_proc_user(void **state)
{
	assert_int_equal(load_text("proc-user=root\n"), 0);
	assert_string_equal(cfg.proc_user, "root");
	assert_int_equal(cfg.proc_uid, 0);
	assert_int_equal(cfg.proc_user_gid, 0);
	assert_true(cfg.proc_user_named);
	assert_int_equal(load_text("proc-user=0\nproc-group=0\n"), 0);
	assert_int_equal(cfg.proc_uid, 0);
	assert_int_equal(cfg.proc_gid, 0);
	/* a uid with no passwd entry is taken as is (coturn does too) */
	assert_int_equal(load_text("proc-user=4000000\n"), 0);
	assert_int_equal(cfg.proc_uid, 4000000);
	assert_false(cfg.proc_user_named);
	assert_int_equal(load_text("proc-group=root\n"), 0);
	assert_int_equal(cfg.proc_gid, 0);
	assert_string_equal(cfg.proc_user, "");

	char want[256];
	assert_int_equal(load_text("# x\nproc-user=no-such-user-tern\n"), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: option 'proc-user' value 'no-such-user-tern': no such user\n",
	         path);
	assert_string_equal(err_text, want);
	assert_int_equal(load_text("proc-group=no-such-group-tern\n"), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: option 'proc-group' value 'no-such-group-tern': no such group\n",
	         path);
	assert_string_equal(err_text, want);
	assert_int_equal(load_text("proc-user=99999999999\n"), -EINVAL);
	assert_has(err_text, "too large for a uid");
	assert_int_equal(ARGS("-z", "--proc-user"), -EINVAL);
	assert_string_equal(err_text, "command line: option '--proc-user': needs a value\n");
}

/* ternd(8) and ternd.conf(5) come from the table: every documented option
 * is in its page (so a page cannot miss an option), no command-line-only
 * option is in ternd.conf(5), and --help-man takes 8 or 5 only. */
static void test_man_pages(void **state)
{
	char *p8 = NULL, *p5 = NULL;
	size_t l8 = 0, l5 = 0;
	FILE *f8 = open_memstream(&p8, &l8), *f5 = open_memstream(&p5, &l5);
	assert_int_equal(config_usage_man(f8, 8, "9.9"), 0);
	assert_int_equal(config_usage_man(f5, 5, "9.9"), 0);
	assert_int_equal(config_usage_man(f5, 1, "9.9"), -EINVAL);
	fclose(f8);
	fclose(f5);
	assert_has(p8, ".TH TERND 8 \"\" \"tern 9.9\"");
	assert_has(p5, ".TH TERND.CONF 5 \"\" \"tern 9.9\"");
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		char name[128], cli[140], file[140], *q = name;
		if (o->type == T_SECTION || (o->flags & F_HIDDEN))
			continue;
		for (const char *c = o->name; *c; c++) {
			if (*c == '-')
				*q++ = '\\';
			*q++ = *c;
		}
		*q = 0;
		snprintf(cli, sizeof(cli), "\\fB\\-\\-%s\\fR", name);
		snprintf(file, sizeof(file), ".TP\n\\fB%s\\fR", name);
		if (!strstr(p8, cli))
			fail_msg("ternd(8) lacks %s", o->name);
		if (!!strstr(p5, file) != !(o->flags & F_CLI))
			fail_msg("ternd.conf(5): %s must %sbe there", o->name,
			         (o->flags & F_CLI) ? "not " : "");
	}
	free(p8);
	free(p5);
	assert_int_equal(ARGS("--help-man", "8"), 0);
	assert_int_equal(cfg.help_man, 8);
	assert_int_equal(ARGS("--help-man=7"), -EINVAL);
	assert_string_equal(
	    err_text, "command line: option '--help-man' value '7': must be 8 (ternd) or 5 (ternd.conf)\n");
}

static void test_finish(void **state)
{
	assert_int_equal(ARGS("-p", "3478"), -EINVAL);
	assert_string_equal(err_text,
	                    "configuration: no credentials: give user=NAME:PASSWORD, or use-auth-secret "
	                    "with static-auth-secret=SECRET, or no-auth\n");
	assert_int_equal(RUN("lt-cred-mech\n", NULL), -EINVAL);
	{
		char want[256];
		snprintf(want, sizeof(want), "%s: no credentials: give", path);
		assert_has(err_text, want);
	}
	assert_int_equal(RUN("use-auth-secret\n", NULL), -EINVAL);
	assert_has(err_text, "use-auth-secret needs a static-auth-secret");
	assert_int_equal(ARGS("-z", "-u", "a:b"), -EINVAL);
	assert_has(err_text, "no-auth cannot be combined");
	assert_int_equal(ARGS("-z", "-a"), -EINVAL);
	assert_int_equal(ARGS("-z", "--static-auth-secret=s"), -EINVAL);
	assert_int_equal(ARGS("-z", "--min-port=5000", "--max-port=4000"), -EINVAL);
	assert_string_equal(err_text, "configuration: min-port 5000 is above max-port 4000\n");
	assert_int_equal(nlines(err_text), 1);

	/* a static secret implies use-auth-secret and lt-cred-mech, as in coturn */
	assert_int_equal(ARGS("--static-auth-secret", "s"), 0);
	assert_true(cfg.use_auth_secret && cfg.lt_cred_mech);
	assert_int_equal(ARGS("-u", "a:b", "--use-auth-secret", "--static-auth-secret", "s"), 0);
	/* defaults filled in */
	assert_int_equal(ARGS("-z", "-p", "3500", "--max-allocate-lifetime", "300"), 0);
	assert_int_equal(cfg.nlisten, 2);
	assert_string_equal(ip(&cfg.listen[0]), "0.0.0.0:3500");
	assert_string_equal(ip(&cfg.listen[1]), "[::]:3500");
	assert_int_equal(cfg.nrelay, 0);
	assert_int_equal(cfg.default_allocate_lifetime, 300); /* capped at the maximum */
	assert_string_equal(cfg.realm, "tern.local");
	/* config_finish on its own, twice (idempotent) */
	config_defaults(&cfg);
	cfg.no_auth = true;
	assert_int_equal(config_finish(&cfg, NULL), 0);
	assert_int_equal(config_finish(&cfg, NULL), 0);
	assert_int_equal(cfg.nlisten, 2);
}

static void test_stream(void **state)
{
	static const char text[] = "realm=stream.org\nuser=x:y\n";
	FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");

	config_defaults(&cfg);
	assert_int_equal(config_load_stream(&cfg, in, "mem", NULL, NULL), 0);
	fclose(in);
	assert_string_equal(cfg.realm, "stream.org");
	assert_int_equal(cfg.nusers, 1);

	static const char nul[] = "realm=a\0b\n";
	in = fmemopen((void *)nul, sizeof(nul) - 1, "r");
	assert_int_equal(config_load_stream(&cfg, in, "mem", NULL, NULL), -EINVAL);
	fclose(in);
}

/* The table is consistent: unique names and short forms, parseable
 * defaults, bounds in order, a help text for everything. */
static void test_table(void **state)
{
	char text[160];

	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *a = &tern__cfg_opts[i];
		if (a->type == T_SECTION)
			continue;
		assert_non_null(a->help);
		assert_true(a->min <= a->max || a->max == 0);
		/* a string option knows its field's size (set_str bounds by it) */
		if (a->type == T_STR && a->status == ST_OK)
			assert_true(a->size > 1 && a->off + a->size <= sizeof(struct tern_config));
		for (size_t j = i + 1; j < tern__cfg_nopts; j++) {
			const struct cfg_opt *b = &tern__cfg_opts[j];
			if (b->type == T_SECTION)
				continue;
			assert_string_not_equal(a->name, b->name);
			if (a->alias)
				assert_string_not_equal(a->alias, b->name);
			if (b->alias)
				assert_string_not_equal(a->name, b->alias);
			if (a->sh)
				assert_int_not_equal(a->sh, b->sh);
		}
		if (a->status == ST_OK && a->def && !(a->flags & F_CLI)) {
			snprintf(text, sizeof(text), "%s=%s\n", a->name, a->def);
			if (load_text(text) != 0)
				fail_msg("default of %s does not parse: %s", a->name, err_text);
		}
	}
}

/* needle occurs in hay followed by a space or a line end */
static bool has_word(const char *hay, const char *needle)
{
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
		char next = p[strlen(needle)];
		if (next == ' ' || next == '\n')
			return true;
	}
	return false;
}

static void test_usage(void **state)
{
	char *buf = NULL, *line;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	config_usage(f, "ternd");
	fclose(f);
	assert_has(buf, "Usage: ternd [options]");
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		char want[96];
		if (o->type == T_SECTION)
			continue;
		snprintf(want, sizeof(want), o->status == ST_OK ? "--%s" : " %s", o->name);
		if (has_word(buf, want) == !!(o->flags & F_HIDDEN))
			fail_msg("%s: shown in --help must be %s", o->name,
			         (o->flags & F_HIDDEN) ? "no" : "yes");
	}
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(strlen(line) <= 100);
	free(buf);
}

/* etc/ternd.conf (make run) loads with no error and no warning. */
static void test_bundled_conf(void **state)
{
	char p[512];
	char *argv[] = {(char *)"ternd", (char *)"-c", p, NULL};
	char *e = NULL, *w = NULL;
	size_t elen = 0, wlen = 0;
	FILE *ef = open_memstream(&e, &elen), *wf = open_memstream(&w, &wlen);

	repo_file(p, sizeof(p), "etc/ternd.conf");
	assert_int_equal(config_load(&cfg, 3, argv, ef, wf), 0);
	fclose(ef);
	fclose(wf);
	assert_string_equal(e, "");
	assert_string_equal(w, "");
	assert_int_equal(cfg.nlisten, 2);
	assert_string_equal(ip(&cfg.listen[0]), "127.0.0.1:3478");
	assert_string_equal(ip(&cfg.listen[1]), "[::1]:3478");
	assert_int_equal(cfg.nrelay, 2);
	assert_string_equal(cfg.realm, "tern.local");
	assert_int_equal(cfg.nusers, 1);
	assert_string_equal(cfg.users[0].name, "demo");
	assert_true(cfg.users[0].has_password);
	assert_true(cfg.lt_cred_mech && cfg.allow_loopback_peers && cfg.fingerprint);
	assert_int_equal(cfg.min_port, 49152);
	assert_int_equal(cfg.max_port, 65535);
	free(e);
	free(w);
}

/* docs/CONFIG.md carries the current --help-markdown output verbatim. */
static void test_docs_match_table(void **state)
{
	char p[512], *doc, *md = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&md, &len);

	config_usage_markdown(f);
	fclose(f);
	repo_file(p, sizeof(p), "docs/CONFIG.md");
	doc = slurp(p);
	if (!strstr(doc, md))
		fail_msg(
		    "docs/CONFIG.md is out of date: regenerate its option tables with ternd --help-markdown");
	free(doc);
	free(md);
}

static int teardown(void **state)
{
	free(err_text);
	free(warn_text);
	err_text = warn_text = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_file_scalars),
	    cmocka_unit_test(test_file_bools),
	    cmocka_unit_test(test_file_syntax),
	    cmocka_unit_test(test_file_lists),
	    cmocka_unit_test(test_peer_ranges),
	    cmocka_unit_test(test_cli_forms),
	    cmocka_unit_test(test_cli_overrides_file),
	    cmocka_unit_test(test_cli_special),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_value_errors),
	    cmocka_unit_test(test_list_errors),
	    cmocka_unit_test(test_user_errors),
	    cmocka_unit_test(test_coturn_policy),
	    cmocka_unit_test(test_stale_verbose_logfile),
	    cmocka_unit_test(test_proc_user),
	    cmocka_unit_test(test_man_pages),
	    cmocka_unit_test(test_finish),
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_string_bounds),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_bundled_conf),
	    cmocka_unit_test(test_docs_match_table),
	    cmocka_unit_test(test_alternate_servers),
	    cmocka_unit_test(test_reload_split),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
