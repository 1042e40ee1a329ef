/* Internal to ternd/config: the option table shared by the parsers
 * (config.c) and the help / markdown printers (config_opts.c). Unit tests
 * may include it; nothing else should. */
#ifndef TERN_CONFIG_INT_H
#define TERN_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

enum cfg_type {
	T_SECTION, /* not an option: a heading in --help and the docs */
	T_BOOL,    /* bool at off */
	T_UINT,    /* unsigned at off, min..max */
	T_U16,     /* uint16_t at off, min..max */
	T_U64,     /* uint64_t at off, min..max */
	T_STR,     /* char[CFG_STR] at off, non-empty */
	T_LOGFILE, /* log_file; "stdout" and "-" mean none */
	T_REALM,
	T_LISTEN,   /* listen[] */
	T_RELAY,    /* relay[] */
	T_EXTERNAL, /* external[] */
	T_USER,     /* users[] */
	T_SECRET,   /* secrets[] */
	T_ALLOWED,  /* allowed_peers[] */
	T_DENIED,   /* denied_peers[] */
	T_ALT,      /* alt[CFG_ALT_ANY], then one type per list: */
	T_ALT_UDP,  /*   alt[CFG_ALT_UDP] */
	T_ALT_TCP,  /*   alt[CFG_ALT_TCP] */
	T_ALT_TLS,  /*   alt[CFG_ALT_TLS] (default port 5349) */
	T_STALE,    /* stale_nonce: flag or seconds */
	T_VERBOSE,  /* verbose level = min */
	T_RESTSEP,  /* rest-api-separator: only ':' */
	T_CONFIG,   /* -c FILE (command line only, read before the other flags) */
	T_NOCONFIG, /* -n */
	T_HELP,
	T_HELPMD,
	T_VERSION,
	T_HELPMAN,   /* --help-man SECTION: a man page (8 ternd, 5 ternd.conf) */
	T_PROCUSER,  /* proc-user: a user name or uid, resolved when parsed */
	T_PROCGROUP, /* proc-group: a group name or gid, resolved when parsed */
	T_XFLAG,     /* coturn flag tern does not implement (see status) */
	T_XVALUE,    /* coturn option with a value tern does not implement */
	T_COUNT
};

enum cfg_status {
	ST_OK,     /* implemented */
	ST_WARN,   /* accepted, ignored with a warning: ignoring it is harmless */
	ST_REFUSE, /* configuration error: ignoring it would change security */
};

enum cfg_flags {
	F_CLI = 1 << 0,    /* command line only */
	F_HIDDEN = 1 << 1, /* not in --help nor in the docs */
	F_RELOAD = 1 << 2, /* may change on reload without a restart */
	F_SECRET = 1 << 3, /* never echo the value */
	F_LIST = 1 << 4,   /* repeatable: each occurrence adds one entry */
};

struct cfg_opt {
	const char *name;
	const char *alias; /* a second accepted name, or NULL */
	char sh;           /* short command-line form, or 0 */
	unsigned char type;
	unsigned char status;
	unsigned char flags;
	size_t off;        /* field for the generic types */
	size_t size;       /* T_STR: the field's size (string plus NUL) */
	uint64_t min, max; /* bounds for the numeric types */
	const char *arg;   /* value placeholder in --help, NULL for flags */
	const char *def;   /* default, parsed by config_defaults(); NULL = none */
	const char *help;  /* for ST_WARN / ST_REFUSE: why */
};

/* Sentinel-free: tern__cfg_nopts entries. */
extern const struct cfg_opt tern__cfg_opts[];
extern const size_t tern__cfg_nopts;

/* The three argument shapes on the command line. */
enum cfg_kind { K_FLAG, K_VALUE, K_OPTIONAL };
enum cfg_kind tern__cfg_kind(const struct cfg_opt *o);

#endif
