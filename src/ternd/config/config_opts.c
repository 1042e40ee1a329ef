/* The option table: every ternd option, and every coturn option tern does
 * not implement yet, declared once. The parsers (config.c), --help and
 * --help-markdown (docs/CONFIG.md) all read it. */
#include "ternd/config/config.h"
#include "ternd/config/config_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/log.h"

#define OFF(f) offsetof(struct tern_config, f)
/* a T_STR field: its offset and its size, so no value can overrun it */
#define STRF(f) .off = OFF(f), .size = sizeof(((struct tern_config *)0)->f)
#define SECTION(title)                                                                                       \
	{                                                                                                    \
		.name = title, .type = T_SECTION                                                             \
	}
#define X(n, a, s, t, st, why)                                                                               \
	{                                                                                                    \
		.name = n, .alias = a, .sh = s, .type = t, .status = st, .help = why                         \
	}
#define WARN_F(n, s, why)      X(n, NULL, s, T_XFLAG, ST_WARN, why)
#define WARN_V(n, s, why)      X(n, NULL, s, T_XVALUE, ST_WARN, why)
#define REFUSE_F(n, s, why)    X(n, NULL, s, T_XFLAG, ST_REFUSE, why)
#define REFUSE_V(n, a, s, why) X(n, a, s, T_XVALUE, ST_REFUSE, why)

/* Reasons shared by several coturn options. A warning means "ignoring this
 * only removes a feature tern does not offer"; anything whose absence would
 * let more clients in, relay more, or run with more privilege is refused. */
#define WHY_DH       "obsolete fixed DH sizes: tern uses dh-file or OpenSSL's built-in groups"
#define WHY_SSL      "tern never offers SSL 2 or 3 (TLS 1.2 is the minimum)"
#define WHY_LISTENER "tern opens no such listener; fewer sockets are open, not more"
#define WHY_CLI      "tern has no admin CLI: nothing listens"
#define WHY_WEB      "tern has no web admin: nothing listens"
#define WHY_LOG      "tern's log format is fixed (destinations: log-file, syslog, no-stdout-log)"
#define WHY_DB       "tern has no database: users come from user= and static-auth-secret= only"
#define WHY_USERDB   "would change who can authenticate"
#define WHY_5780     "tern does not implement RFC 5780 and keeps Binding responses small"
#define WHY_FAMILY   "tern follows RFC 6156: IPv4 unless the client asks for another family"

/* One option reads as one entry: keep clang-format out of the table. */
/* clang-format off */
const struct cfg_opt tern__cfg_opts[] = {
	SECTION("Listening"),
	{.name = "listening-port", .sh = 'p', .type = T_U16, .off = OFF(listening_port), .min = 1, .max = 65535,
	 .arg = "PORT", .def = "3478", .help = "UDP and TCP port to listen on."},
	{.name = "listening-ip", .sh = 'L', .type = T_LISTEN, .flags = F_LIST, .arg = "IP",
	 .help = "Address to listen on (no port: see listening-port). None given: 0.0.0.0 and ::."},
	{.name = "relay-ip", .sh = 'E', .type = T_RELAY, .flags = F_LIST, .arg = "IP",
	 .help = "Local address relay sockets are opened on. None given: the server derives them."},
	{.name = "external-ip", .sh = 'X', .type = T_EXTERNAL, .flags = F_LIST, .arg = "PUBLIC[/PRIVATE]",
	 .help = "Public address announced in XOR-RELAYED-ADDRESS when behind NAT; PUBLIC/PRIVATE maps one "
		 "relay address."},
	{.name = "min-port", .type = T_U16, .off = OFF(min_port), .min = 1, .max = 65535, .arg = "PORT",
	 .def = "49152", .help = "Lowest relay port."},
	{.name = "max-port", .type = T_U16, .off = OFF(max_port), .min = 1, .max = 65535, .arg = "PORT",
	 .def = "65535", .help = "Highest relay port."},
	{.name = "workers", .alias = "relay-threads", .sh = 'm', .type = T_UINT, .off = OFF(workers), .max = 1024,
	 .arg = "N", .def = "0", .help = "Worker threads, each with its own sockets; 0 = one per online CPU."},

	SECTION("Authentication"),
	{.name = "realm", .sh = 'r', .type = T_REALM, .flags = F_RELOAD, .arg = "REALM", .def = "tern.local",
	 .help = "Realm of the long-term credentials (REALM attribute)."},
	{.name = "lt-cred-mech", .sh = 'a', .type = T_BOOL, .off = OFF(lt_cred_mech),
	 .def = "off", .help = "Use long-term credentials (implied by user= and static-auth-secret=)."},
	{.name = "no-auth", .sh = 'z', .type = T_BOOL, .off = OFF(no_auth), .def = "off",
	 .help = "Relay for anyone, without credentials. Never on a reachable address."},
	{.name = "user", .sh = 'u', .type = T_USER, .flags = F_LIST | F_RELOAD | F_SECRET, .arg = "NAME:PASSWORD",
	 .help = "Static user, NAME:PASSWORD or NAME:0x<32 hex digits> (the MD5 key of NAME:REALM:PASSWORD, "
		 "as turnadmin -k prints it)."},
	{.name = "use-auth-secret", .type = T_BOOL, .off = OFF(use_auth_secret), .flags = F_RELOAD, .def = "off",
	 .help = "TURN REST API: passwords are HMAC-SHA1(secret, username) with an expiry in the username."},
	{.name = "static-auth-secret", .type = T_SECRET, .flags = F_LIST | F_RELOAD | F_SECRET, .arg = "SECRET",
	 .help = "Shared secret of the TURN REST API (implies use-auth-secret); up to 8, the first is current, "
		 "the others are accepted during rotation."},
	{.name = "rest-api-separator", .sh = 'C', .type = T_RESTSEP, .arg = "CHAR", .def = ":",
	 .help = "Separator of expiry and user in REST API usernames; only ':' is supported."},
	{.name = "stale-nonce", .type = T_STALE, .off = OFF(stale_nonce), .flags = F_RELOAD, .min = 1,
	 .max = 86400, .arg = "[SECONDS]", .def = "600",
	 .help = "Nonce lifetime; a bare stale-nonce means 600. Nonces always expire in tern."},
	{.name = "sha256", .type = T_BOOL, .off = OFF(sha256), .flags = F_RELOAD, .def = "off",
	 .help = "Offer MESSAGE-INTEGRITY-SHA256 and USERHASH (RFC 8489 nonce cookie)."},

	SECTION("Quotas and lifetimes"),
	{.name = "user-quota", .sh = 'q', .type = T_UINT, .off = OFF(user_quota), .flags = F_RELOAD,
	 .max = 1000000, .arg = "N", .def = "0", .help = "Allocations one user may hold at once; 0 = no limit."},
	{.name = "total-quota", .sh = 'Q', .type = T_UINT, .off = OFF(total_quota), .flags = F_RELOAD,
	 .max = 10000000, .arg = "N", .def = "0", .help = "Allocations on the whole server; 0 = no limit."},
	{.name = "max-bps", .sh = 's', .type = T_U64, .off = OFF(max_bps), .flags = F_RELOAD,
	 .max = 1000000000000ULL, .arg = "BYTES", .def = "0",
	 .help = "Bytes per second per allocation and direction; 0 = no limit."},
	{.name = "unauth-rate-limit", .type = T_UINT, .off = OFF(unauth_rate_limit), .flags = F_RELOAD,
	 .max = 100000000, .arg = "BYTES", .def = "4000",
	 .help = "Bytes per second of unauthenticated answers (401/438 challenges, errors, Binding results) "
		 "each worker sends to one source IPv4 address or IPv6 /64, after a burst of twice that; over "
		 "it requests go unanswered. Bounds reflection to spoofed sources; 0 = no limit."},
	{.name = "max-connections", .type = T_UINT, .off = OFF(max_connections), .min = 1, .max = 10000000,
	 .arg = "N", .def = "16384",
	 .help = "TCP client connections on the whole server (shared evenly by the workers); over it new "
		 "connections are closed at once."},
	{.name = "max-connections-per-ip", .type = T_UINT, .off = OFF(max_connections_per_ip), .min = 1,
	 .max = 1000000, .arg = "N", .def = "64",
	 .help = "TCP client connections from one IPv4 address or IPv6 /64; over it new ones are closed."},
	{.name = "max-allocate-timeout", .type = T_UINT, .off = OFF(max_allocate_timeout), .min = 1,
	 .max = 3600, .arg = "SECONDS", .def = "60",
	 .help = "A TCP connection that holds no allocation this long (since it was accepted, or since its "
		 "allocation ended) is closed."},
	{.name = "max-allocate-lifetime", .type = T_UINT, .off = OFF(max_allocate_lifetime), .flags = F_RELOAD,
	 .min = 1, .max = 86400, .arg = "SECONDS", .def = "3600", .help = "Longest allocation lifetime granted."},
	{.name = "default-allocate-lifetime", .type = T_UINT, .off = OFF(default_allocate_lifetime),
	 .flags = F_RELOAD, .min = 1, .max = 86400, .arg = "SECONDS", .def = "600",
	 .help = "Lifetime when the client asks none (tern only; capped at max-allocate-lifetime)."},
	{.name = "channel-lifetime", .type = T_UINT, .off = OFF(channel_lifetime), .flags = F_RELOAD, .min = 1,
	 .max = 3600, .arg = "SECONDS", .def = "600", .help = "Channel binding lifetime (RFC 8656: 600; tests only)."},
	{.name = "permission-lifetime", .type = T_UINT, .off = OFF(permission_lifetime), .flags = F_RELOAD,
	 .min = 1, .max = 3600, .arg = "SECONDS", .def = "300",
	 .help = "Permission lifetime (RFC 8656: 300; tests only)."},

	SECTION("Peers"),
	{.name = "allowed-peer-ip", .type = T_ALLOWED, .flags = F_LIST | F_RELOAD, .arg = "IP[/LEN] or IP-IP",
	 .help = "Peers that may be relayed to even inside a denied or default-denied range (allow wins)."},
	{.name = "denied-peer-ip", .type = T_DENIED, .flags = F_LIST | F_RELOAD, .arg = "IP[/LEN] or IP-IP",
	 .help = "Peers never relayed to, on top of the built-in private, loopback and multicast ranges."},
	{.name = "allow-loopback-peers", .type = T_BOOL, .off = OFF(allow_loopback_peers), .flags = F_RELOAD,
	 .def = "off", .help = "Relay to 127.0.0.0/8 and ::1. For local tests only."},
	{.name = "no-multicast-peers", .type = T_BOOL, .off = OFF(no_multicast_peers), .flags = F_RELOAD,
	 .def = "off", .help = "Accepted for coturn configurations: tern never relays to multicast."},

	SECTION("Protocol"),
	{.name = "fingerprint", .sh = 'f', .type = T_BOOL, .off = OFF(fingerprint), .flags = F_RELOAD,
	 .def = "off", .help = "Add FINGERPRINT to every response."},
	{.name = "no-gso", .type = T_BOOL, .off = OFF(no_gso), .def = "off",
	 .help = "Send no UDP_SEGMENT (GSO) batches, even where the kernel supports them."},
	{.name = "batch-delay-us", .type = T_UINT, .off = OFF(batch_delay_us), .min = 0, .max = 1000, .def = "100",
	 .help = "Adaptive batching: under load, pause up to this long between polls so each wakeup finds a batch (0 = off)."},
	{.name = "steering", .type = T_STR, STRF(steering), .def = "auto", .arg = "MODE",
	 .help = "Spread new flows over workers: ebpf (least-loaded, sticky), hash (kernel), auto (ebpf if it loads)."},
	{.name = "client-sockets", .type = T_STR, STRF(client_sockets), .def = "shared", .arg = "MODE",
	 .help = "UDP clients: shared (every client on the worker's listening socket) or connected (each "
		 "allocation also gets a UDP socket connected to its client, opened after the authenticated "
		 "Allocate). See docs/PERFORMANCE.md for why shared is the default."},
	{.name = "fast-path", .type = T_STR, STRF(fast_path), .def = "off", .arg = "MODE",
	 .help = "Relay ChannelData of UDP clients in the kernel (docs/FASTPATH.md): off, xdp (native, else "
		 "generic), xdp-native, xdp-generic, tc (TC ingress), auto (per interface: native XDP, generic "
		 "XDP, TC). Fails open: without it user space relays everything."},
	{.name = "fast-path-interfaces", .type = T_STR, STRF(fast_path_interfaces), .arg = "IF[,IF...]",
	 .help = "Interfaces the fast path attaches to (default: those holding the listening and relay "
		 "addresses; every interface that is up for a wildcard address)."},
	{.name = "fast-path-max-channels", .type = T_UINT, .off = OFF(fast_path_max_channels), .min = 16,
	 .max = 4194304, .arg = "N", .def = "65536",
	 .help = "Channels relayed in the kernel at once, whole server (more stay in user space)."},
	{.name = "fast-path-test-fail", .type = T_BOOL, .off = OFF(fast_path_test_fail), .def = "off",
	 .help = "Behave as if the kernel refused the fast path (tests only)."},
	{.name = "strict-channel-numbers", .type = T_BOOL, .off = OFF(strict_channel_numbers), .flags = F_RELOAD,
	 .def = "off", .help = "Accept only RFC 8656 channels 0x4000-0x4FFF (default also RFC 5766's up to 0x7FFF)."},
	{.name = "no-software-attribute", .alias = "prod", .type = T_BOOL, .off = OFF(no_software_attribute),
	 .flags = F_RELOAD, .def = "off", .help = "Send no SOFTWARE attribute (hides the version)."},
	{.name = "no-stun", .type = T_BOOL, .off = OFF(no_stun), .flags = F_RELOAD, .def = "off",
	 .help = "Refuse plain STUN Binding requests: TURN only."},
	{.name = "no-udp", .type = T_BOOL, .off = OFF(no_udp), .def = "off", .help = "Open no UDP listener."},
	{.name = "no-tcp", .type = T_BOOL, .off = OFF(no_tcp), .def = "off", .help = "Open no TCP listener."},
	{.name = "no-tls", .type = T_BOOL, .off = OFF(no_tls), .def = "off",
	 .help = "Serve no TLS: no listener on tls-listening-port, and a TLS ClientHello on listening-port is "
		 "refused."},
	{.name = "no-dtls", .type = T_BOOL, .off = OFF(no_dtls), .def = "off",
	 .help = "Accepted for older configurations: DTLS is off unless dtls is set."},

	{.name = "tcp-proxy-port", .type = T_U16, .off = OFF(tcp_proxy_port), .min = 0, .max = 65535, .arg = "PORT",
	 .def = "0",
	 .help = "TCP (and TLS) port for clients behind a load balancer: every connection must start with a "
		 "PROXY protocol v1 or v2 header, whose client address counts (auth, limits, logs). 0 = off. "
		 "Let only the load balancer reach it."},

	SECTION("Drain and redirection"),
	{.name = "alternate-server", .type = T_ALT, .flags = F_LIST | F_RELOAD, .arg = "IP[:PORT]",
	 .help = "Redirect new allocations (300 ALTERNATE-SERVER, round robin among the servers of the "
		 "client's address family) to this server; port 3478 by default. A server that finds its own "
		 "address in the list redirects nobody until it drains."},
	{.name = "udp-alternate-server", .type = T_ALT_UDP, .flags = F_LIST | F_RELOAD, .arg = "IP[:PORT]",
	 .help = "Like alternate-server, for UDP and DTLS clients; takes precedence over it."},
	{.name = "tcp-alternate-server", .type = T_ALT_TCP, .flags = F_LIST | F_RELOAD, .arg = "IP[:PORT]",
	 .help = "Like alternate-server, for TCP clients; takes precedence over it."},
	{.name = "tls-alternate-server", .type = T_ALT_TLS, .flags = F_LIST | F_RELOAD, .arg = "IP[:PORT]",
	 .help = "Like alternate-server, for TLS clients (and DTLS without udp-alternate-server); port 5349 "
		 "by default."},
	{.name = "drain-min-allocations", .type = T_UINT, .off = OFF(drain_min_allocations), .flags = F_RELOAD,
	 .min = 0, .max = 100000000, .arg = "N", .def = "0",
	 .help = "Draining (SIGUSR1, tern ctl drain): exit once this many allocations or fewer are left."},
	{.name = "drain-timeout", .type = T_UINT, .off = OFF(drain_timeout), .flags = F_RELOAD, .min = 0,
	 .max = 604800, .arg = "SECONDS", .def = "0",
	 .help = "Draining: exit after this long even if allocations are left (0 = wait for them)."},

	SECTION("TLS"),
	{.name = "tls-listening-port", .type = T_U16, .off = OFF(tls_listening_port), .min = 1, .max = 65535,
	 .arg = "PORT", .def = "5349",
	 .help = "TLS port (turns:), on every listening address; opened when cert and pkey are set. "
		 "listening-port also serves TLS to a client whose first bytes are a ClientHello."},
	{.name = "cert", .type = T_STR, STRF(cert), .arg = "FILE",
	 .help = "Server certificate chain (PEM, the server's certificate first). SIGUSR2 reloads it with pkey."},
	{.name = "pkey", .type = T_STR, STRF(pkey), .arg = "FILE", .help = "Private key of cert (PEM)."},
	{.name = "pkey-pwd", .type = T_STR, STRF(pkey_pwd), .flags = F_SECRET, .arg = "PASSWORD",
	 .help = "Password of an encrypted pkey."},
	{.name = "cipher-list", .type = T_STR, STRF(cipher_list), .arg = "LIST",
	 .help = "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's). Default: OpenSSL's."},
	{.name = "ec-curve-name", .type = T_STR, STRF(ec_curve_name), .arg = "NAME",
	 .help = "Key exchange group (prime256v1, X25519, ...). Default: OpenSSL's list."},
	{.name = "dh-file", .type = T_STR, STRF(dh_file), .arg = "FILE",
	 .help = "DH parameters (PEM) for DHE suites. Default: OpenSSL's built-in groups."},
	{.name = "CA-file", .type = T_STR, STRF(ca_file), .arg = "FILE",
	 .help = "Require client certificates signed by these CAs (PEM)."},
	{.name = "no-tlsv1_2", .type = T_BOOL, .off = OFF(no_tlsv1_2), .def = "off", .help = "TLS 1.3 only."},
	{.name = "no-tlsv1", .type = T_BOOL, .off = OFF(no_tlsv1), .def = "off",
	 .help = "Accepted for coturn configurations: tern never offers TLS 1.0."},
	{.name = "no-tlsv1_1", .type = T_BOOL, .off = OFF(no_tlsv1_1), .def = "off",
	 .help = "Accepted for coturn configurations: tern never offers TLS 1.1."},
	{.name = "dtls", .type = T_BOOL, .off = OFF(dtls), .def = "off",
	 .help = "Also serve DTLS 1.2 on tls-listening-port (UDP), as coturn 4.17 does when asked; needs cert."},
	{.name = "handshake-timeout", .type = T_UINT, .off = OFF(handshake_timeout), .min = 1, .max = 300,
	 .arg = "SECONDS", .def = "10", .help = "A TLS or DTLS handshake (or a PROXY header) not finished this long after it began is closed."},

	SECTION("Metrics"),
	{.name = "prometheus", .type = T_BOOL, .off = OFF(prometheus), .def = "off",
	 .help = "Serve Prometheus metrics over HTTP (coturn's metric names, and tern_* ones; docs/METRICS.md), "
		 "from a thread of its own. / answers \"ok\", /ready 200 (503 while draining)."},
	{.name = "prometheus-port", .type = T_U16, .off = OFF(prometheus_port), .min = 1, .max = 65535,
	 .arg = "PORT", .def = "9641", .help = "TCP port of the Prometheus endpoint."},
	{.name = "prometheus-address", .type = T_STR, STRF(prometheus_address), .arg = "IP",
	 .help = "Address of the Prometheus endpoint. None given: every address (IPv6 and IPv4)."},
	{.name = "prometheus-path", .type = T_STR, STRF(prometheus_path), .arg = "PATH", .def = "/metrics",
	 .help = "HTTP path of the metrics."},
	{.name = "prometheus-username-labels", .type = T_BOOL, .off = OFF(prometheus_username_labels), .def = "off",
	 .help = "Label turn_traffic_* with the user too (the user part of REST usernames); at most "
		 "256 distinct users, the others are counted together as user=\"_other\"."},

	SECTION("Process"),
	{.name = "shutdown-timeout", .type = T_UINT, .off = OFF(shutdown_timeout), .min = 0, .max = 60,
	 .arg = "SECONDS", .def = "2",
	 .help = "On SIGTERM/SIGINT: stop accepting, then give TCP/TLS clients this long to take what is "
		 "queued for them (TLS: and close_notify) before every connection is closed."},
	{.name = "log-file", .sh = 'l', .type = T_LOGFILE, .arg = "FILE",
	 .help = "Also log to FILE (\"stdout\" or \"-\": no file)."},
	{.name = "no-stdout-log", .type = T_BOOL, .off = OFF(no_stdout_log), .def = "off",
	 .help = "Do not log to standard output."},
	{.name = "syslog", .type = T_BOOL, .off = OFF(syslog), .def = "off",
	 .help = "Log to syslog (facility LOG_DAEMON, ident ternd) instead of standard output; log-file is "
		 "still written when set. log-file=syslog means the same."},
	{.name = "proc-user", .type = T_PROCUSER, .arg = "USER",
	 .help = "After binding the listeners, loading the eBPF program and reading the TLS files, switch to "
		 "this user (name or uid; its groups too) and give up every capability. Started as root only. "
		 "Files read later (cert and pkey on SIGUSR2) must be readable by it."},
	{.name = "proc-group", .type = T_PROCGROUP, .arg = "GROUP",
	 .help = "The group to switch to (name or gid). Default with proc-user: that user's group."},
	{.name = "verbose", .sh = 'v', .type = T_VERBOSE, .flags = F_RELOAD, .min = 1, .def = "off",
	 .help = "Verbose logging."},
	{.name = "Verbose", .sh = 'V', .type = T_VERBOSE, .flags = F_RELOAD, .min = 2, .def = "off",
	 .help = "Very verbose logging (debug)."},
	{.name = "pidfile", .type = T_STR, STRF(pidfile), .arg = "FILE", .help = "Write the process id to FILE."},
	{.name = "stats-socket", .type = T_STR, STRF(stats_socket), .arg = "PATH",
	 .help = "Serve per-worker counters on this unix socket (read with `tern stats`)."},
	{.name = "config", .sh = 'c', .type = T_CONFIG, .flags = F_CLI, .arg = "FILE",
	 .help = "Read FILE first; the other command-line options override it."},
	{.name = "do-not-use-config-file", .sh = 'n', .type = T_NOCONFIG, .flags = F_CLI,
	 .help = "Read no configuration file (coturn -n; tern reads none unless -c is given)."},
	{.name = "check-config", .type = T_BOOL, .off = OFF(check_config), .flags = F_CLI, .def = "off",
	 .help = "Parse and validate the configuration, then exit."},
	{.name = "help", .sh = 'h', .type = T_HELP, .flags = F_CLI, .help = "Print this help and exit."},
	{.name = "help-markdown", .type = T_HELPMD, .flags = F_CLI | F_HIDDEN,
	 .help = "Print the option reference as markdown (docs/CONFIG.md) and exit."},
	{.name = "help-man", .type = T_HELPMAN, .flags = F_CLI | F_HIDDEN, .arg = "SECTION",
	 .help = "Print the man page ternd(8) (SECTION 8) or ternd.conf(5) (SECTION 5) and exit."},
	{.name = "version", .type = T_VERSION, .flags = F_CLI, .help = "Print the version and exit."},

	/* coturn options tern does not implement: harmless to ignore. */
	X("alt-tls-listening-port", "alt-tls-listener-port", 0, T_XVALUE, ST_WARN, WHY_LISTENER),
	WARN_F("dh566", 0, WHY_DH),
	WARN_F("dh1066", 0, WHY_DH),
	WARN_F("dh2066", 0, WHY_DH),
	WARN_F("no-sslv2", 0, WHY_SSL),
	WARN_F("no-sslv3", 0, WHY_SSL),
	X("alt-listening-port", "alt-listener-port", 0, T_XVALUE, ST_WARN, WHY_LISTENER),
	WARN_V("aux-server", 0, WHY_LISTENER),
	WARN_F("udp-self-balance", 0, "tern spreads load over its workers with SO_REUSEPORT"),
	WARN_F("no-cli", 0, WHY_CLI),
	WARN_V("cli-ip", 0, WHY_CLI),
	WARN_V("cli-port", 0, WHY_CLI),
	X("cli-password", NULL, 0, T_XVALUE, ST_WARN, WHY_CLI),
	WARN_V("cli-max-output-sessions", 0, WHY_CLI),
	WARN_F("web-admin", 0, WHY_WEB),
	WARN_V("web-admin-ip", 0, WHY_WEB),
	WARN_V("web-admin-port", 0, WHY_WEB),
	WARN_F("web-admin-listen-on-workers", 0, WHY_WEB),
	WARN_V("acme-redirect", 0, WHY_WEB),
	WARN_V("redis-statsdb", 'O', "tern keeps no statistics database"),
	WARN_F("simple-log", 0, WHY_LOG),
	WARN_F("new-log-timestamp", 0, WHY_LOG),
	WARN_V("new-log-timestamp-format", 0, WHY_LOG),
	WARN_F("log-binding", 0, "tern logs single requests only at debug level (-V)"),
	WARN_V("syslog-facility", 0, "tern logs to syslog as LOG_DAEMON"),
	WARN_F("daemon", 'o', "tern stays in the foreground: run it under a supervisor (systemd)"),
	WARN_F("no-rfc5780", 0, WHY_5780),
	WARN_F("response-origin-only-with-rfc5780", 0, WHY_5780),
	WARN_F("no-stun-backward-compatibility", 0,
	       "already in effect: tern answers only RFC 5389/8489 requests, with XOR-MAPPED-ADDRESS"),
	WARN_F("mobility", 0, "no MOBILITY-TICKET: clients fall back to a new allocation"),
	WARN_F("check-origin-consistency", 0, "tern ignores ORIGIN"),
	WARN_V("server-name", 0, "only used by oAuth, which tern refuses"),
	WARN_V("secret-key-file", 0, "only used by mysql-userdb, which tern refuses"),
	WARN_F("no-auth-pings", 0, WHY_DB),
	WARN_F("no-dynamic-ip-list", 0, WHY_DB),
	WARN_F("no-dynamic-realms", 0, WHY_DB),
	WARN_V("bps-capacity", 'B', "no server-wide bandwidth cap yet: use max-bps and total-quota"),
	WARN_F("keep-address-family", 'K', WHY_FAMILY),
	WARN_V("allocation-default-address-family", 'A', WHY_FAMILY),
	WARN_F("no-loopback-peers", 0, "already the default (see allow-loopback-peers)"),
	WARN_F("no-tcp-relay", 0, "already in effect: tern relays UDP only (no RFC 6062 TCP allocations yet)"),
	WARN_F("udp-recvmmsg", 0, "tern always uses recvmmsg"),
	WARN_V("sock-buf-size", 0, "no socket buffer setting yet: the kernel defaults apply"),
	WARN_V("ne", 0, "tern has one network engine"),

	/* coturn options tern does not implement: ignoring them would change
	 * security, so the configuration is refused. */
	REFUSE_V("userdb", "db", 'b', WHY_USERDB),
	REFUSE_V("psql-userdb", "sql-userdb", 'e', WHY_USERDB),
	REFUSE_V("mysql-userdb", NULL, 'M', WHY_USERDB),
	REFUSE_V("mongo-userdb", NULL, 'J', WHY_USERDB),
	REFUSE_V("redis-userdb", NULL, 'N', WHY_USERDB),
	REFUSE_F("oauth", 0, WHY_USERDB),
	REFUSE_F("secure-stun", 0, "would answer unauthenticated Binding requests; no-stun refuses Binding entirely"),
	REFUSE_F("stun-only", 'S', "would relay: tern always serves TURN"),
	REFUSE_F("no-udp-relay", 0, "would relay UDP, the only transport tern relays"),
	REFUSE_F("server-relay", 0, "tern always checks permissions on relayed traffic"),
	REFUSE_V("listening-device", "listener-ifname", 'd', "would listen on interfaces the configuration excludes"),
	REFUSE_V("relay-device", "relay-ifname", 'i', "would relay over interfaces the configuration excludes"),
};
/* clang-format on */

const size_t tern__cfg_nopts = sizeof(tern__cfg_opts) / sizeof(tern__cfg_opts[0]);

enum cfg_kind tern__cfg_kind(const struct cfg_opt *o)
{
	switch (o->type) {
	case T_BOOL:
	case T_VERBOSE:
	case T_NOCONFIG:
	case T_HELP:
	case T_HELPMD:
	case T_VERSION:
	case T_XFLAG:
		return K_FLAG;
	case T_STALE:
		return K_OPTIONAL;
	default:
		return K_VALUE;
	}
}

#define USAGE_WIDTH  100
#define USAGE_INDENT 36

/* Append words to a help line, wrapping under the description column. */
static void wrap(FILE *out, int *col, const char *text)
{
	while (*text) {
		size_t len;
		while (*text == ' ')
			text++;
		len = strcspn(text, " ");
		if (!len)
			break;
		if (*col > USAGE_INDENT && *col + 1 + (int)len > USAGE_WIDTH) {
			fprintf(out, "\n%*s", USAGE_INDENT, "");
			*col = USAGE_INDENT;
		} else if (*col > USAGE_INDENT) {
			fputc(' ', out);
			(*col)++;
		}
		fwrite(text, 1, len, out);
		*col += (int)len;
		text += len;
	}
}

static bool shown(const struct cfg_opt *o)
{
	return o->type != T_SECTION && o->status == ST_OK && !(o->flags & F_HIDDEN);
}

void config_usage(FILE *out, const char *prog)
{
	fprintf(out,
	        "Usage: %s [options]\n"
	        "STUN/TURN relay server. Options take coturn's names; each can also be written in the\n"
	        "configuration file as \"name=value\" (\"name\" alone for a flag), except those marked\n"
	        "[command line]. The -c file is read first and the other options override it.\n",
	        prog);
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		char left[96], more[96];
		int n, col = USAGE_INDENT;

		if (o->type == T_SECTION) {
			fprintf(out, "\n%s:\n", o->name);
			continue;
		}
		if (!shown(o))
			continue;
		n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", o->sh ? '-' : ' ', o->sh ? o->sh : ' ',
		             o->sh ? ", " : "  ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		if (n > USAGE_INDENT - 2)
			fprintf(out, "%s\n%*s", left, USAGE_INDENT, "");
		else
			fprintf(out, "%-*s", USAGE_INDENT, left);
		wrap(out, &col, o->help);
		if (o->alias) {
			snprintf(more, sizeof(more), "Also --%s.", o->alias);
			wrap(out, &col, more);
		}
		if (o->flags & F_LIST)
			wrap(out, &col, "Repeatable.");
		if (o->def && o->type != T_BOOL && o->type != T_VERBOSE) {
			snprintf(more, sizeof(more), "[default=%s]", o->def);
			wrap(out, &col, more);
		}
		if (o->flags & F_CLI)
			wrap(out, &col, "[command line]");
		fputc('\n', out);
	}
	for (int st = ST_WARN; st <= ST_REFUSE; st++) {
		int col = 2;
		fputs(st == ST_WARN ? "\ncoturn options accepted and ignored (one warning each):\n "
		                    : "\ncoturn options refused (configuration error):\n ",
		      out);
		for (size_t i = 0; i < tern__cfg_nopts; i++) {
			const struct cfg_opt *o = &tern__cfg_opts[i];
			int len;
			if (o->type == T_SECTION || o->status != st)
				continue;
			len = (int)strlen(o->name) + 1;
			if (col + len > USAGE_WIDTH) {
				fputs("\n ", out);
				col = 2;
			}
			fprintf(out, " %s", o->name);
			col += len;
		}
		fputc('\n', out);
	}
	fputs("\nSee docs/CONFIG.md for why each coturn option is ignored or refused.\n", out);
}

/* Markdown table cells: '|' would end the cell. */
static void md_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
}

void config_usage_markdown(FILE *out)
{
	bool header = false, open = false;

	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		if (o->type == T_SECTION) {
			fprintf(out, "%s### %s\n\n", open ? "\n" : "", o->name);
			header = true;
			open = false;
			continue;
		}
		if (!shown(o))
			continue;
		if (header) {
			fputs("| Option | Short | Value | Default | Reload | Description |\n"
			      "|---|---|---|---|---|---|\n",
			      out);
			header = false;
			open = true;
		}
		fprintf(out, "| `%s`", o->name);
		if (o->alias)
			fprintf(out, ", `%s`", o->alias);
		if (o->sh)
			fprintf(out, " | `-%c` | ", o->sh);
		else
			fputs(" |  | ", out);
		md_text(out, o->arg ? o->arg : "flag");
		fprintf(out, " | %s%s%s | %s | ", o->def ? "`" : "", o->def ? o->def : "", o->def ? "`" : "",
		        (o->flags & F_RELOAD) ? "yes" : "no");
		md_text(out, o->help);
		if (o->flags & F_LIST)
			fputs(" Repeatable.", out);
		if (o->flags & F_CLI)
			fputs(" Command line only.", out);
		fputs(" |\n", out);
	}
	if (open)
		fputc('\n', out);
	for (int st = ST_WARN; st <= ST_REFUSE; st++) {
		fputs(st == ST_WARN ? "### coturn options tern ignores (one warning each)\n\n"
		                      "| Option | Short | Why ignoring it is safe |\n"
		                    : "### coturn options tern refuses (configuration error)\n\n"
		                      "| Option | Short | What ignoring it would do |\n",
		      out);
		fputs("|---|---|---|\n", out);
		for (size_t i = 0; i < tern__cfg_nopts; i++) {
			const struct cfg_opt *o = &tern__cfg_opts[i];
			if (o->type == T_SECTION || o->status != st)
				continue;
			fprintf(out, "| `%s`", o->name);
			if (o->alias)
				fprintf(out, ", `%s`", o->alias);
			if (o->sh)
				fprintf(out, " | `-%c` | ", o->sh);
			else
				fputs(" |  | ", out);
			md_text(out, o->help);
			fputs(" |\n", out);
		}
		fputc('\n', out);
	}
}

/* roff text: a backslash is \e, and a line may not start with a control
 * character ('.' or '\''). dash: write '-' as \- (option names, which are
 * typed, so must stay ASCII hyphen-minus). */
static void man_text(FILE *out, const char *s, bool dash)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-' && dash)
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* One option as a tagged paragraph: the name (and short form, alias), its
 * value placeholder, then the help and the default. */
static void man_option(FILE *out, const struct cfg_opt *o, bool cli)
{
	fputs(".TP\n", out);
	if (cli && o->sh)
		fprintf(out, "\\fB\\-%c\\fR, ", o->sh);
	fputs("\\fB", out);
	if (cli)
		fputs("\\-\\-", out);
	man_text(out, o->name, true);
	fputs("\\fR", out);
	if (o->arg) {
		fputs(cli ? " \\fI" : "=\\fI", out);
		man_text(out, o->arg, true);
		fputs("\\fR", out);
	}
	if (o->alias) {
		fputs(" (also \\fB", out);
		if (cli)
			fputs("\\-\\-", out);
		man_text(out, o->alias, true);
		fputs("\\fR)", out);
	}
	fputc('\n', out);
	man_text(out, o->help, false);
	if (o->flags & F_LIST)
		fputs(" Repeatable.", out);
	if (o->def && o->type != T_BOOL && o->type != T_VERBOSE) {
		fputs(" Default: ", out);
		man_text(out, o->def, false);
		fputc('.', out);
	}
	if (o->flags & F_RELOAD)
		fputs(" Can change on reload.", out);
	if (cli && (o->flags & F_CLI))
		fputs(" Command line only.", out);
	fputc('\n', out);
}

static void man_options(FILE *out, bool cli)
{
	const char *pending = NULL;
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		if (o->type == T_SECTION) {
			pending = o->name;
			continue;
		}
		if (!shown(o) || (!cli && (o->flags & F_CLI)))
			continue;
		if (pending) {
			fprintf(out, ".SS %s\n", pending);
			pending = NULL;
		}
		man_option(out, o, cli);
	}
}

static void man_coturn(FILE *out, bool cli)
{
	for (int st = ST_WARN; st <= ST_REFUSE; st++) {
		fputs(st == ST_WARN ? ".SS coturn options accepted and ignored (one warning each)\n"
		                    : ".SS coturn options refused (a configuration error)\n",
		      out);
		for (size_t i = 0; i < tern__cfg_nopts; i++) {
			const struct cfg_opt *o = &tern__cfg_opts[i];
			if (o->type == T_SECTION || o->status != st)
				continue;
			fputs(".TP\n\\fB", out);
			if (cli)
				fputs("\\-\\-", out);
			man_text(out, o->name, true);
			fputs("\\fR\n", out);
			man_text(out, o->help, false);
			fputs(".\n", out);
		}
	}
}

int config_usage_man(FILE *out, int section, const char *version)
{
	if (section == 8) {
		fprintf(
		    out,
		    ".TH TERND 8 \"\" \"tern %s\" \"System Administration\"\n"
		    ".SH NAME\n"
		    "ternd \\- STUN/TURN relay server\n"
		    ".SH SYNOPSIS\n"
		    ".B ternd\n"
		    "[\\fB\\-c\\fR \\fIFILE\\fR] [\\fIOPTION\\fR...]\n"
		    ".SH DESCRIPTION\n"
		    "\\fBternd\\fR relays UDP datagrams between STUN/TURN clients (WebRTC, VoIP, VPN) and "
		    "their peers (RFC 8656, RFC 8489), over UDP, TCP, TLS and DTLS. It reads coturn's "
		    "configuration syntax and option names, so a \\fBturnserver.conf\\fR works with few "
		    "changes.\n"
		    ".PP\n"
		    "The file given with \\fB\\-c\\fR is read first (see \\fBternd.conf\\fR(5)); every "
		    "option of the file is also a long command-line option, and the command line "
		    "overrides the file. An error is one line naming the file, line, option and value; "
		    "\\fBternd\\fR then exits with status 2.\n"
		    ".PP\n"
		    "\\fBternd\\fR stays in the foreground. Under systemd (Type=notify) it reports "
		    "readiness once every listener is bound and every worker runs, reloading and "
		    "stopping, and answers the watchdog when WatchdogSec is set.\n"
		    ".SH OPTIONS\n",
		    version);
		man_options(out, true);
		man_coturn(out, true);
		fputs(".SH SIGNALS\n"
		      ".TP\n.B SIGTERM, SIGINT\n"
		      "Graceful shutdown: no new connections; TCP and TLS clients get shutdown\\-timeout to "
		      "take what is queued for them; exit status 0.\n"
		      ".TP\n.B SIGHUP\n"
		      "Read the configuration again (the \\-c file, then the same command line) and apply "
		      "what can change while running (options marked so below), the certificate and key "
		      "included; a file that does not parse is refused whole, and an option that needs a "
		      "restart is named in the log. After proc\\-user, the files must be readable by that "
		      "user.\n"
		      ".TP\n.B SIGUSR2\n"
		      "Read the TLS certificate and key again (cert, pkey). New connections get the new "
		      "certificate; a bad file is logged and the old one stays.\n"
		      ".TP\n.B SIGUSR1\n"
		      "Drain: new allocations are redirected to an alternate server or refused; ternd exits "
		      "once drain\\-min\\-allocations or fewer are left, or at drain\\-timeout.\n"
		      ".SH EXIT STATUS\n"
		      "0 after a clean shutdown (or a successful \\fB\\-\\-check\\-config\\fR), 1 when the "
		      "server cannot start or run, 2 for a configuration error.\n"
		      ".SH FILES\n"
		      ".TP\n.I /etc/ternd.conf\n"
		      "The configuration file of the packaged service.\n"
		      ".TP\n.I /lib/systemd/system/ternd.service\n"
		      "The systemd unit.\n"
		      ".SH SEE ALSO\n"
		      "\\fBternd.conf\\fR(5), \\fBtern\\fR(1), \\fBsystemd.service\\fR(5), "
		      "\\fBturnserver\\fR(1)\n",
		      out);
		return 0;
	}
	if (section != 5)
		return -EINVAL;
	fprintf(out,
	        ".TH TERND.CONF 5 \"\" \"tern %s\" \"File Formats\"\n"
	        ".SH NAME\n"
	        "ternd.conf \\- configuration file of the ternd STUN/TURN server\n"
	        ".SH SYNOPSIS\n"
	        ".I /etc/ternd.conf\n"
	        ".SH DESCRIPTION\n"
	        "\\fBternd\\fR(8) reads the file given with \\fB\\-c\\fR in coturn's "
	        "\\fBturnserver.conf\\fR syntax: one option a line, as \\fIname\\fR=\\fIvalue\\fR, "
	        "\\fIname value\\fR, or \\fIname\\fR alone for a switch (a switch also takes "
	        "yes/no, on/off, true/false or 1/0). A line whose first non-blank character is "
	        "\\fB#\\fR is a comment; a \\fB#\\fR later in a line is part of the value (passwords "
	        "may contain it). A value may be put in double quotes. Options marked repeatable "
	        "add one entry per line.\n"
	        ".PP\n"
	        "An unknown option, a bad value or a refused coturn option is an error naming the "
	        "file, line, option and value; \\fBternd \\-\\-check\\-config \\-c\\fR \\fIFILE\\fR "
	        "checks a file without starting the server.\n"
	        ".SH OPTIONS\n",
	        version);
	man_options(out, false);
	man_coturn(out, false);
	fputs(".SH EXAMPLE\n"
	      ".nf\n"
	      "listening\\-ip=203.0.113.7\n"
	      "realm=example.org\n"
	      "use\\-auth\\-secret\n"
	      "static\\-auth\\-secret=a\\-long\\-random\\-string\n"
	      "cert=/etc/ternd/fullchain.pem\n"
	      "pkey=/etc/ternd/privkey.pem\n"
	      "stats\\-socket=/run/ternd/ternd.sock\n"
	      ".fi\n"
	      ".SH SEE ALSO\n"
	      "\\fBternd\\fR(8), \\fBtern\\fR(1)\n",
	      out);
	return 0;
}

/* ---- the running values (tern ctl config) ---- */

static void dump_addrs(FILE *out, const char *name, const union tern_addr *a, unsigned n, bool port)
{
	char s[TERN_ADDRSTRLEN];
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s=%s\n", name, addr_format(&a[i], s, sizeof(s), port));
}

static void dump_cidrs(FILE *out, const char *name, const struct tern_cidr *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		union tern_addr a;
		char s[TERN_ADDRSTRLEN];
		memset(&a, 0, sizeof(a));
		if (c[i].family == AF_INET6) {
			a.v6.sin6_family = AF_INET6;
			memcpy(&a.v6.sin6_addr, c[i].bytes, 16);
		} else {
			a.v4.sin_family = AF_INET;
			memcpy(&a.v4.sin_addr, c[i].bytes, 4);
		}
		fprintf(out, "%s=%s/%u\n", name, addr_format(&a, s, sizeof(s), false), c[i].prefix);
	}
}

/* One option's running value as "name=value" lines (none for an empty
 * string or list); mask: secrets as "(set)". */
static void dump_opt(const struct tern_config *c, const struct cfg_opt *o, FILE *out, bool mask)
{
	const char *base = (const char *)c + o->off;
	switch (o->type) {
	case T_BOOL:
		fprintf(out, "%s=%s\n", o->name, *(const bool *)base ? "on" : "off");
		break;
	case T_UINT:
		fprintf(out, "%s=%u\n", o->name, *(const unsigned *)base);
		break;
	case T_U16:
		fprintf(out, "%s=%u\n", o->name, *(const uint16_t *)base);
		break;
	case T_U64:
		fprintf(out, "%s=%llu\n", o->name, (unsigned long long)*(const uint64_t *)base);
		break;
	case T_STR:
		if (*base)
			fprintf(out, "%s=%s\n", o->name, mask && (o->flags & F_SECRET) ? "(set)" : base);
		break;
	case T_LOGFILE:
		if (c->log_file[0])
			fprintf(out, "%s=%s\n", o->name, c->log_file);
		break;
	case T_REALM:
		fprintf(out, "%s=%s\n", o->name, c->realm);
		break;
	case T_LISTEN:
		dump_addrs(out, o->name, c->listen, c->nlisten, false);
		break;
	case T_RELAY:
		dump_addrs(out, o->name, c->relay, c->nrelay, false);
		break;
	case T_EXTERNAL:
		for (unsigned i = 0; i < c->nexternal; i++) {
			char p[TERN_ADDRSTRLEN], q[TERN_ADDRSTRLEN];
			const struct cfg_external *x = &c->external[i];
			fprintf(out, "%s=%s%s%s\n", o->name, addr_format(&x->public_ip, p, sizeof(p), false),
			        x->private_ip.sa.sa_family ? "/" : "",
			        x->private_ip.sa.sa_family ? addr_format(&x->private_ip, q, sizeof(q), false)
			                                   : "");
		}
		break;
	case T_USER:
		/* names only: passwords and keys never leave */
		for (unsigned i = 0; i < c->nusers; i++) {
			char e[128];
			fprintf(out, "%s=%s:(set)\n", o->name,
			        log_escape(e, sizeof(e), c->users[i].name, strlen(c->users[i].name), 64));
		}
		break;
	case T_SECRET:
		for (unsigned i = 0; i < c->nsecrets; i++)
			fprintf(out, "%s=(set)\n", o->name);
		break;
	case T_ALLOWED:
		dump_cidrs(out, o->name, c->allowed_peers, c->nallowed);
		break;
	case T_DENIED:
		dump_cidrs(out, o->name, c->denied_peers, c->ndenied);
		break;
	case T_ALT:
	case T_ALT_UDP:
	case T_ALT_TCP:
	case T_ALT_TLS:
		dump_addrs(out, o->name, c->alt[o->type - T_ALT].a, c->alt[o->type - T_ALT].n, true);
		break;
	case T_STALE:
		fprintf(out, "%s=%u\n", o->name, c->stale_nonce);
		break;
	case T_VERBOSE:
		fprintf(out, "%s=%s\n", o->name, c->verbose >= (int)o->min ? "on" : "off");
		break;
	case T_PROCUSER:
		if (c->proc_user[0])
			fprintf(out, "%s=%s\n", o->name, c->proc_user);
		break;
	case T_PROCGROUP:
		if (c->proc_group[0])
			fprintf(out, "%s=%s\n", o->name, c->proc_group);
		break;
	default:
		break;
	}
}

static bool dumpable(const struct cfg_opt *o)
{
	return o->type != T_SECTION && o->status == ST_OK && !(o->flags & (F_CLI | F_HIDDEN));
}

void config_dump(const struct tern_config *c, FILE *out)
{
	for (size_t k = 0; k < tern__cfg_nopts; k++)
		if (dumpable(&tern__cfg_opts[k]))
			dump_opt(c, &tern__cfg_opts[k], out, true);
}

/* True when o's value differs between a and b. */
static bool opt_differs(const struct tern_config *a, const struct tern_config *b, const struct cfg_opt *o)
{
	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
	if (fa) {
		dump_opt(a, o, fa, false);
		fclose(fa);
	}
	if (fb) {
		dump_opt(b, o, fb, false);
		fclose(fb);
	}
	bool differs = !ta || !tb || la != lb || memcmp(ta, tb, la) != 0;
	free(ta);
	free(tb);
	return differs;
}

void config_restart_needed(const struct tern_config *old, const struct tern_config *new, char *out,
                           size_t cap)
{
	size_t n = 0;
	out[0] = 0;
	for (size_t k = 0; k < tern__cfg_nopts; k++) {
		const struct cfg_opt *o = &tern__cfg_opts[k];
		if (!dumpable(o) || (o->flags & F_RELOAD) || !opt_differs(old, new, o))
			continue;
		int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", o->name);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

void config_take_reloadable(struct tern_config *dst, const struct tern_config *src)
{
	for (size_t k = 0; k < tern__cfg_nopts; k++) {
		const struct cfg_opt *o = &tern__cfg_opts[k];
		if (!dumpable(o) || !(o->flags & F_RELOAD))
			continue;
		switch (o->type) {
		case T_BOOL:
			memcpy((char *)dst + o->off, (const char *)src + o->off, sizeof(bool));
			break;
		case T_UINT:
			memcpy((char *)dst + o->off, (const char *)src + o->off, sizeof(unsigned));
			break;
		case T_U16:
			memcpy((char *)dst + o->off, (const char *)src + o->off, sizeof(uint16_t));
			break;
		case T_U64:
			memcpy((char *)dst + o->off, (const char *)src + o->off, sizeof(uint64_t));
			break;
		case T_STR:
			memcpy((char *)dst + o->off, (const char *)src + o->off, o->size);
			break;
		case T_REALM:
			memcpy(dst->realm, src->realm, sizeof(dst->realm));
			break;
		case T_USER:
			memcpy(dst->users, src->users, sizeof(dst->users));
			dst->nusers = src->nusers;
			break;
		case T_SECRET:
			memcpy(dst->secrets, src->secrets, sizeof(dst->secrets));
			dst->nsecrets = src->nsecrets;
			break;
		case T_ALLOWED:
			memcpy(dst->allowed_peers, src->allowed_peers, sizeof(dst->allowed_peers));
			dst->nallowed = src->nallowed;
			break;
		case T_DENIED:
			memcpy(dst->denied_peers, src->denied_peers, sizeof(dst->denied_peers));
			dst->ndenied = src->ndenied;
			break;
		case T_ALT:
		case T_ALT_UDP:
		case T_ALT_TCP:
		case T_ALT_TLS:
			dst->alt[o->type - T_ALT] = src->alt[o->type - T_ALT];
			break;
		case T_STALE:
			dst->stale_nonce = src->stale_nonce;
			break;
		case T_VERBOSE:
			dst->verbose = src->verbose;
			break;
		default:
			break;
		}
	}
}
