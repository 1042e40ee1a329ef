/* ternd configuration: coturn-compatible turnserver.conf syntax and long
 * flags, declared once in an option table (config.c) from which the
 * command-line parser, the file parser and --help all derive.
 *
 * The struct is filled by config_load() and is read-only afterwards (a
 * reload builds a new one and swaps it whole). Lists are fixed arrays with
 * the limits below; exceeding one is a configuration error. */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/addr.h"

#define CFG_MAX_ADDRS   16
#define CFG_MAX_ALTS    16
#define CFG_MAX_RANGES  64
#define CFG_MAX_SECRETS 8
#define CFG_MAX_USERS   256
#define CFG_STR         256

struct cfg_user {
	char name[CFG_STR];
	char password[CFG_STR]; /* plaintext ("" when given as a key) */
	uint8_t key[16];        /* the 0x key; from a password auth/ derives it */
	bool has_password;
	bool has_key; /* given as name:0x<32 hex digits> */
};

struct cfg_external {
	union tern_addr public_ip;  /* port 0 */
	union tern_addr private_ip; /* AF_UNSPEC (family 0) when absent: applies to all */
};

/* ALTERNATE-SERVER lists (coturn's options): alternate-server for every
 * transport, and the lists that take precedence over it for UDP (and
 * DTLS), TCP and TLS (and DTLS when no UDP list is given). */
enum cfg_alt_kind { CFG_ALT_ANY, CFG_ALT_UDP, CFG_ALT_TCP, CFG_ALT_TLS, CFG_ALT_KINDS };
struct cfg_alt {
	union tern_addr a[CFG_MAX_ALTS]; /* with their ports */
	unsigned n;
};

struct tern_config {
	/* listening */
	uint16_t listening_port;                     /* listening-port, default 3478 */
	union tern_addr listen[CFG_MAX_ADDRS];       /* listening-ip (port filled in) */
	unsigned nlisten;                            /* 0 = defaults (see config_finish) */
	union tern_addr relay[CFG_MAX_ADDRS];        /* relay-ip */
	unsigned nrelay;                             /* 0 = use listening addresses */
	struct cfg_external external[CFG_MAX_ADDRS]; /* external-ip public[/private] */
	unsigned nexternal;
	uint16_t min_port, max_port; /* default 49152..65535 */
	unsigned workers;            /* 0 = online CPUs */

	/* auth */
	char realm[CFG_STR];                    /* default "tern.local" */
	bool lt_cred_mech;                      /* lt-cred-mech / -a */
	bool no_auth;                           /* no-auth / -z (refused unless explicit) */
	bool use_auth_secret;                   /* use-auth-secret */
	char secrets[CFG_MAX_SECRETS][CFG_STR]; /* static-auth-secret (repeatable) */
	unsigned nsecrets;
	struct cfg_user users[CFG_MAX_USERS]; /* user= name:password | name:0xkey */
	unsigned nusers;
	unsigned stale_nonce; /* nonce lifetime s, default 600 */
	bool sha256;          /* advertise SHA-256 / USERHASH in nonces */

	/* quotas and lifetimes */
	unsigned user_quota;                /* allocations per user, 0 = unlimited */
	unsigned total_quota;               /* allocations in all, 0 = unlimited */
	uint64_t max_bps;                   /* bytes/s per allocation, 0 = unlimited */
	unsigned unauth_rate_limit;         /* unsigned answers, bytes/s per source, 0 = off */
	unsigned max_allocate_lifetime;     /* default 3600 */
	unsigned default_allocate_lifetime; /* default 600 */
	unsigned channel_lifetime;          /* default 600 */
	unsigned permission_lifetime;       /* default 300 */

	/* peer policy */
	struct tern_cidr allowed_peers[CFG_MAX_RANGES]; /* allowed-peer-ip */
	unsigned nallowed;
	struct tern_cidr denied_peers[CFG_MAX_RANGES]; /* denied-peer-ip */
	unsigned ndenied;
	bool allow_loopback_peers;
	bool no_multicast_peers; /* accepted; multicast is denied anyway */

	/* protocol */
	bool no_software_attribute;
	bool fingerprint;
	bool no_udp, no_tcp, no_tls, no_dtls;
	uint16_t tcp_proxy_port; /* PROXY protocol listener, 0 = none */

	/* TLS (coturn's names): listeners open when cert and pkey are set */
	uint16_t tls_listening_port; /* default 5349 */
	char cert[CFG_STR], pkey[CFG_STR], pkey_pwd[CFG_STR];
	char cipher_list[1024];
	char ca_file[CFG_STR], ec_curve_name[64], dh_file[CFG_STR];
	bool no_tlsv1, no_tlsv1_1, no_tlsv1_2; /* the first two: accepted, always true */
	unsigned handshake_timeout;            /* s: a TLS handshake not done by then is closed */
	bool dtls;                             /* DTLS on tls-listening-port (UDP) */
	bool no_stun;                          /* no-stun: refuse plain Binding */
	bool strict_channel_numbers;           /* only RFC 8656 channels 0x4000..0x4FFF */

	/* engine (tern-specific; each can be switched off to measure it) */
	bool no_gso;                     /* no UDP_SEGMENT sends */
	unsigned max_connections;        /* TCP client connections on the server */
	unsigned max_connections_per_ip; /* ... from one IPv4 address or IPv6 /64 */
	unsigned max_allocate_timeout;   /* s: a connection without an allocation by then is closed */
	unsigned batch_delay_us;         /* adaptive batching: longest pause (us), 0 = off */
	char steering[16];               /* auto | ebpf | hash */
	char client_sockets[16];         /* shared | connected */
	/* kernel fast path (docs/FASTPATH.md) */
	char fast_path[16];               /* off | auto | xdp | xdp-native | xdp-generic | tc */
	char fast_path_interfaces[CFG_STR]; /* comma-separated names; empty: derived */
	unsigned fast_path_max_channels;
	bool fast_path_test_fail; /* tests only: behave as if the kernel refused the program */

	/* drain and redirection */
	struct cfg_alt alt[CFG_ALT_KINDS];
	unsigned drain_min_allocations; /* draining: exit when allocations fall to this */
	unsigned drain_timeout;         /* s: draining: exit by then at the latest, 0 = no limit */

	/* process */
	char log_file[CFG_STR]; /* "" = no file ("stdout", "-" give "") */
	int verbose;            /* 0 normal, 1 verbose (-v), 2 very (-V) */
	bool no_stdout_log;
	unsigned shutdown_timeout; /* s: output drained on stop before connections close */
	char pidfile[CFG_STR];
	bool syslog;                /* syslog (or log-file=syslog): log to syslog, LOG_DAEMON, not stdout */
	char proc_user[CFG_STR];    /* proc-user: switch to this user after start-up, "" = stay */
	char proc_group[CFG_STR];   /* proc-group: ... and to this group */
	uint32_t proc_uid;          /* proc_user resolved (valid when proc_user[0]) */
	uint32_t proc_user_gid;     /* that user's primary group */
	uint32_t proc_gid;          /* proc_group resolved (valid when proc_group[0]) */
	bool proc_user_named;       /* proc_user is a name in the user database (not a bare uid) */
	char stats_socket[CFG_STR]; /* unix socket for `tern stats`, "" = none */
	/* Prometheus endpoint (coturn's options) */
	bool prometheus;
	uint16_t prometheus_port;        /* default 9641 */
	char prometheus_address[64];     /* "" = every address */
	char prometheus_path[CFG_STR];   /* default /metrics */
	bool prometheus_username_labels; /* turn_traffic_* per user, at most TERN_PROM_USER_LABELS */
	char config_file[CFG_STR];  /* the -c file actually read, "" if none */
	bool check_config;          /* --check-config: validate and exit */
	bool help;                  /* --help was given */
	bool version;               /* --version */
	bool help_markdown;         /* --help-markdown: print config_usage_markdown */
	int help_man;               /* --help-man 8|5: print config_usage_man, 0 = not asked */
};

/* prometheus-username-labels: distinct users labelled; the others share
 * one label (REST usernames would otherwise grow the label set forever). */
#define TERN_PROM_USER_LABELS 256

/* TLS is served when a certificate is configured and not switched off. */
static inline bool config_tls_on(const struct tern_config *c)
{
	return c->cert[0] && !c->no_tls;
}

/* DTLS is served when asked for (coturn 4.17: off by default) and TLS is on. */
static inline bool config_dtls_on(const struct tern_config *c)
{
	return config_tls_on(c) && c->dtls && !c->no_dtls;
}

/* Set every field to its default. */
void config_defaults(struct tern_config *c);

/* Start from config_defaults() and parse argv (long flags "--name value", "--name=value", coturn short forms
 * -c -p -L -E -X -r -u -a -f -n -m -v -V -z), reading the -c file (if any)
 * first so flags override it. On error returns -EINVAL and writes one line
 * to err naming the file:line (or "command line"), the option and the value.
 * Also applies config_finish(). Warnings (coturn options tern ignores) go to
 * warn, one line each. */
int config_load(struct tern_config *c, int argc, char **argv, FILE *err, FILE *warn);

/* Parse one file (coturn syntax: "name=value", "name value", "name"; '#'
 * comments). Returns 0 or -EINVAL/-errno with one line written to err. */
int config_load_file(struct tern_config *c, const char *path, FILE *err, FILE *warn);

/* The same for an open stream (tests, fuzzing); name is used in messages. */
int config_load_stream(struct tern_config *c, FILE *in, const char *name, FILE *err, FILE *warn);

/* Cross-field validation and derived values (min_port <= max_port, default
 * listening addresses and their port, auth mode chosen...). -EINVAL + one
 * line to err. Keys are not derived here: auth/ hashes passwords with the
 * realm. */
int config_finish(struct tern_config *c, FILE *err);

/* Print --help (generated from the option table). */
void config_usage(FILE *out, const char *prog);
/* The running values, one "name=value" line per option (and per entry of a
 * list), in the table's order; passwords, keys and secrets shown as "(set)". */
void config_dump(const struct tern_config *c, FILE *out);
/* Reload: the options that differ between old and new and cannot change
 * at run time (no F_RELOAD: addresses, ports, workers, ...), their names
 * comma-separated into out ("" when none). */
void config_restart_needed(const struct tern_config *old, const struct tern_config *new, char *out, size_t cap);
/* Reload: copy every option that may change at run time from src. */
void config_take_reloadable(struct tern_config *dst, const struct tern_config *src);

/* Print the option reference as markdown tables (--help-markdown): the
 * generated part of docs/CONFIG.md. */
void config_usage_markdown(FILE *out);

/* Print a man page (roff, man macros) generated from the option table:
 * section 8 is ternd(8) (the command line), section 5 ternd.conf(5) (the
 * file). version goes into the page's header. -EINVAL for another section. */
int config_usage_man(FILE *out, int section, const char *version);

#endif
