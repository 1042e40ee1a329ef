#include "ternd/config/config.h"
#include "ternd/config/config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WHY_MAX      192
#define NAME_MAX_LEN 64

__extension__ typedef unsigned __int128 u128;

/* Where an option comes from: one line of a file, or the command line. */
struct src {
	const char *file; /* NULL: the command line */
	unsigned line;
	FILE *err, *warn;
	bool list_seen[T_COUNT]; /* command line: first use of a list replaces the file's entries */
};

/* What the first command-line pass collects before the file is read. */
struct pre {
	const char *file;
	bool noconf;
};

static const struct cfg_opt *opt_find(const char *name)
{
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		if (o->type == T_SECTION)
			continue;
		if (strcmp(o->name, name) == 0 || (o->alias && strcmp(o->alias, name) == 0))
			return o;
	}
	return NULL;
}

static const struct cfg_opt *opt_find_short(char sh)
{
	for (size_t i = 0; i < tern__cfg_nopts; i++)
		if (tern__cfg_opts[i].type != T_SECTION && tern__cfg_opts[i].sh == sh)
			return &tern__cfg_opts[i];
	return NULL;
}

static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[NAME_MAX_LEN + 1];
	size_t la = strlen(a), lb = strlen(b);

	if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
		return UINT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The known name nearest to a misspelt one, if it is near enough to be
 * what was meant (a typo, not another word). */
static const char *closest(const char *name)
{
	const char *best = NULL;
	unsigned bd = UINT_MAX, limit = (unsigned)strlen(name) / 3;

	if (limit > 3)
		limit = 3;
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		const char *names[2] = {o->name, o->alias};
		if (o->type == T_SECTION || (o->flags & F_HIDDEN))
			continue;
		for (int k = 0; k < 2; k++) {
			unsigned d = names[k] ? edit_distance(name, names[k]) : UINT_MAX;
			if (d < bd) {
				bd = d;
				best = names[k];
			}
		}
	}
	return bd <= limit ? best : NULL;
}

static void put_where(FILE *f, const struct src *s)
{
	if (s->file)
		fprintf(f, "%s:%u: ", s->file, s->line);
	else
		fputs("command line: ", f);
}

/* The one error line: "<where>: option '<name>' value '<value>': <why>".
 * Secrets are never echoed: a user shows as "name:***". */
static void opt_error(const struct src *s, const struct cfg_opt *o, const char *given, const char *value,
                      const char *why)
{
	FILE *f = s->err;
	if (!f)
		return;
	put_where(f, s);
	fprintf(f, "option '%s%s'", s->file ? "" : "--", given);
	if (value && (o->flags & F_SECRET)) {
		const char *colon = o->type == T_USER ? strchr(value, ':') : NULL;
		if (colon)
			fprintf(f, " value '%.*s:***'", (int)(colon - value), value);
		else
			fputs(" value '***'", f);
	} else if (value) {
		fprintf(f, " value '%s'", value);
	}
	fprintf(f, ": %s\n", why);
}

static void unknown_option(const struct src *s, const char *dashes, const char *name)
{
	const char *near = closest(name);
	if (!s->err)
		return;
	put_where(s->err, s);
	fprintf(s->err, "unknown option '%s%s'", dashes, name);
	if (near)
		fprintf(s->err, " (did you mean '%s%s'?)", dashes, near);
	fputc('\n', s->err);
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "yes", "on", "true", "t"};
	static const char *const no[] = {"0", "no", "off", "false", "f"};

	if (!v || !*v) { /* a bare flag */
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool all_digits(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

static int parse_num(const char *v, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t cap)
{
	unsigned long long n;

	errno = 0;
	n = all_digits(v) ? strtoull(v, NULL, 10) : 0;
	if (!all_digits(v) || errno || n < min || n > max) {
		snprintf(why, cap, "must be a whole number from %llu to %llu", (unsigned long long)min,
		         (unsigned long long)max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

/* An address without a port (listening-ip, relay-ip, external-ip). */
static int parse_ip(const char *v, union tern_addr *a, char *why, size_t cap)
{
	if (addr_parse(a, v, 0) < 0) {
		snprintf(why, cap, "not an IPv4 or IPv6 address");
		return -EINVAL;
	}
	if ((v[0] == '[' && strstr(v, "]:")) || (a->sa.sa_family == AF_INET && strchr(v, ':'))) {
		snprintf(why, cap, "give the address without a port");
		return -EINVAL;
	}
	return 0;
}

static int add_addr(union tern_addr *list, unsigned *n, const char *v, bool any_ok, char *why, size_t cap)
{
	union tern_addr a;

	if (parse_ip(v, &a, why, cap) < 0)
		return -EINVAL;
	if (!any_ok && addr_is_any(&a)) {
		snprintf(why, cap, "must be a concrete address: clients are told it");
		return -EINVAL;
	}
	for (unsigned i = 0; i < *n; i++) {
		if (addr_equal_ip(&list[i], &a)) {
			snprintf(why, cap, "address given twice");
			return -EINVAL;
		}
	}
	if (*n == CFG_MAX_ADDRS) {
		snprintf(why, cap, "more than %d addresses", CFG_MAX_ADDRS);
		return -EINVAL;
	}
	list[(*n)++] = a;
	return 0;
}

/* An alternate server: IP, IP:PORT or [IPv6]:PORT (port 0 is refused). */
static int add_alt(struct cfg_alt *l, const char *v, uint16_t default_port, char *why, size_t cap)
{
	union tern_addr a;
	if (addr_parse(&a, v, default_port) < 0 || addr_port(&a) == 0) {
		snprintf(why, cap, "not an address (IP, IP:PORT or [IPv6]:PORT)");
		return -EINVAL;
	}
	if (addr_is_any(&a)) {
		snprintf(why, cap, "must be a concrete address: clients are told it");
		return -EINVAL;
	}
	for (unsigned i = 0; i < l->n; i++) {
		if (addr_equal(&l->a[i], &a)) {
			snprintf(why, cap, "address given twice");
			return -EINVAL;
		}
	}
	if (l->n == CFG_MAX_ALTS) {
		snprintf(why, cap, "more than %d alternate servers", CFG_MAX_ALTS);
		return -EINVAL;
	}
	l->a[l->n++] = a;
	return 0;
}

static int add_external(struct tern_config *c, const char *v, char *why, size_t cap)
{
	char pub[CFG_STR];
	const char *slash = strchr(v, '/');
	struct cfg_external e;

	memset(&e, 0, sizeof(e));
	snprintf(pub, sizeof(pub), "%.*s", slash ? (int)(slash - v) : (int)strlen(v), v);
	if (parse_ip(pub, &e.public_ip, why, cap) < 0)
		return -EINVAL;
	if (slash) {
		if (parse_ip(slash + 1, &e.private_ip, why, cap) < 0)
			return -EINVAL;
		if (e.private_ip.sa.sa_family != e.public_ip.sa.sa_family) {
			snprintf(why, cap, "public and private addresses must be of one family");
			return -EINVAL;
		}
	}
	for (unsigned i = 0; i < c->nexternal; i++) {
		const struct cfg_external *x = &c->external[i];
		if (!slash && !x->private_ip.sa.sa_family &&
		    x->public_ip.sa.sa_family == e.public_ip.sa.sa_family) {
			snprintf(why, cap,
			         "a second external-ip of one family needs the PUBLIC/PRIVATE form");
			return -EINVAL;
		}
		if (slash && x->private_ip.sa.sa_family && addr_equal_ip(&x->private_ip, &e.private_ip)) {
			snprintf(why, cap, "private address already mapped");
			return -EINVAL;
		}
	}
	if (c->nexternal == CFG_MAX_ADDRS) {
		snprintf(why, cap, "more than %d external-ip", CFG_MAX_ADDRS);
		return -EINVAL;
	}
	c->external[c->nexternal++] = e;
	return 0;
}

static u128 low_mask(unsigned bits)
{
	return bits >= 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
}

/* "first-last" as the fewest CIDR blocks covering exactly that range. */
static int range_to_cidrs(const char *v, const char *dash, struct tern_cidr *out, unsigned cap, unsigned *n,
                          char *why, size_t whycap)
{
	char a[INET6_ADDRSTRLEN + 1], b[INET6_ADDRSTRLEN + 1];
	uint8_t ba[16] = {0}, bb[16] = {0};
	int family, bits, bytes;
	size_t la = (size_t)(dash - v);
	u128 lo = 0, hi = 0;

	while (la && isspace((unsigned char)v[la - 1]))
		la--;
	while (isspace((unsigned char)dash[1]))
		dash++;
	if (la >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		goto bad;
	memcpy(a, v, la);
	a[la] = 0;
	strcpy(b, dash + 1);
	if (inet_pton(AF_INET, a, ba) == 1 && inet_pton(AF_INET, b, bb) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, a, ba) == 1 && inet_pton(AF_INET6, b, bb) == 1)
		family = AF_INET6;
	else
		goto bad;
	bytes = family == AF_INET ? 4 : 16;
	bits = bytes * 8;
	for (int i = 0; i < bytes; i++) {
		lo = lo << 8 | ba[i];
		hi = hi << 8 | bb[i];
	}
	if (lo > hi) {
		snprintf(why, whycap, "the range's first address is above its last");
		return -EINVAL;
	}
	*n = 0;
	for (;;) {
		unsigned host = 0;
		u128 last, x;
		while (host < (unsigned)bits && (lo & low_mask(host + 1)) == 0 &&
		       (lo | low_mask(host + 1)) <= hi)
			host++;
		if (*n == cap) {
			snprintf(why, whycap, "range needs more than %u CIDR blocks", cap);
			return -ENOSPC;
		}
		memset(&out[*n], 0, sizeof(out[*n]));
		out[*n].family = family;
		out[*n].prefix = (uint8_t)(bits - (int)host);
		x = lo;
		for (int i = bytes - 1; i >= 0; i--, x >>= 8)
			out[*n].bytes[i] = (uint8_t)x;
		(*n)++;
		last = lo | low_mask(host);
		if (last >= hi)
			return 0;
		lo = last + 1;
	}
bad:
	snprintf(why, whycap, "not an address range FIRST-LAST of one family");
	return -EINVAL;
}

static int add_peers(struct tern_cidr *list, unsigned *n, const char *v, char *why, size_t cap)
{
	struct tern_cidr tmp[2 * 128];
	unsigned k = 1;
	const char *dash = strchr(v, '-');

	if (dash) {
		if (range_to_cidrs(v, dash, tmp, sizeof(tmp) / sizeof(tmp[0]), &k, why, cap) < 0)
			return -EINVAL;
	} else if (cidr_parse(&tmp[0], v) < 0) {
		snprintf(why, cap, "not an IP address, CIDR (ADDR/LEN) or range (FIRST-LAST)");
		return -EINVAL;
	}
	if (*n + k > CFG_MAX_RANGES) {
		snprintf(why, cap, "needs %u CIDR blocks; at most %d in all for this option", k,
		         CFG_MAX_RANGES);
		return -EINVAL;
	}
	memcpy(&list[*n], tmp, k * sizeof(tmp[0]));
	*n += k;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int add_user(struct tern_config *c, const char *v, char *why, size_t cap)
{
	const char *colon = strchr(v, ':'), *pw;
	struct cfg_user *u;
	size_t nlen;

	if (!colon || colon == v || !colon[1]) {
		snprintf(why, cap, "expected NAME:PASSWORD or NAME:0x<32 hex digits>");
		return -EINVAL;
	}
	nlen = (size_t)(colon - v);
	pw = colon + 1;
	if (nlen >= CFG_STR || strlen(pw) >= CFG_STR) {
		snprintf(why, cap, "name or password longer than %d bytes", CFG_STR - 1);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nusers; i++) {
		if (strlen(c->users[i].name) == nlen && memcmp(c->users[i].name, v, nlen) == 0) {
			snprintf(why, cap, "user given twice");
			return -EINVAL;
		}
	}
	if (c->nusers == CFG_MAX_USERS) {
		snprintf(why, cap, "more than %d users", CFG_MAX_USERS);
		return -EINVAL;
	}
	u = &c->users[c->nusers];
	memset(u, 0, sizeof(*u));
	memcpy(u->name, v, nlen);
	if (pw[0] == '0' && (pw[1] == 'x' || pw[1] == 'X')) {
		/* coturn's rule: 0x marks a key (turnadmin -k), never a password */
		if (strlen(pw) != 34) {
			snprintf(why, cap, "a key is 0x and 32 hex digits");
			return -EINVAL;
		}
		for (int i = 0; i < 16; i++) {
			int hi = hexval(pw[2 + 2 * i]), lo = hexval(pw[3 + 2 * i]);
			if (hi < 0 || lo < 0) {
				snprintf(why, cap, "a key is 0x and 32 hex digits");
				return -EINVAL;
			}
			u->key[i] = (uint8_t)(hi << 4 | lo);
		}
		u->has_key = true;
	} else {
		strcpy(u->password, pw);
		u->has_password = true;
	}
	c->nusers++;
	return 0;
}

static int add_secret(struct tern_config *c, const char *v, char *why, size_t cap)
{
	if (strlen(v) >= CFG_STR) {
		snprintf(why, cap, "longer than %d bytes", CFG_STR - 1);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nsecrets; i++) {
		if (strcmp(c->secrets[i], v) == 0) {
			snprintf(why, cap, "secret given twice");
			return -EINVAL;
		}
	}
	if (c->nsecrets == CFG_MAX_SECRETS) {
		snprintf(why, cap, "more than %d secrets", CFG_MAX_SECRETS);
		return -EINVAL;
	}
	strcpy(c->secrets[c->nsecrets++], v);
	return 0;
}

static int set_realm(struct tern_config *c, const char *v, char *why, size_t cap)
{
	size_t chars = 0;

	/* RFC 8489 §14.9: REALM is a quoted-string of fewer than 128
	 * characters; refuse what would need escaping rather than escape it. */
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
			snprintf(why, cap, "control characters, '\"' and '\\' are not allowed");
			return -EINVAL;
		}
		chars += (*p & 0xc0) != 0x80;
	}
	if (chars >= 128 || strlen(v) >= CFG_STR) {
		snprintf(why, cap, "must be shorter than 128 characters");
		return -EINVAL;
	}
	strcpy(c->realm, v);
	return 0;
}

/* size: the destination's size, NUL included */
static int set_str(char *dst, size_t size, const char *v, char *why, size_t cap)
{
	if (size == 0 || strlen(v) >= size) {
		snprintf(why, cap, "longer than %zu bytes", size ? size - 1 : 0);
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

/* proc-user / proc-group: resolved while the file is read, so that an
 * unknown name is an error naming its line, before anything starts. A bare
 * number is taken as an id (coturn accepts both). */
static int set_proc_user(struct tern_config *c, const char *v, char *why, size_t cap)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	if (set_str(c->proc_user, sizeof(c->proc_user), v, why, cap) < 0)
		return -EINVAL;
	int rc = getpwnam_r(v, &pw, buf, sizeof(buf), &res);
	if (!res && all_digits(v)) {
		unsigned long long id = strtoull(v, NULL, 10);
		if (id >= UINT32_MAX) {
			snprintf(why, cap, "no such user, and too large for a uid");
			return -EINVAL;
		}
		c->proc_uid = (uint32_t)id;
		rc = getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res);
		c->proc_user_gid = res ? (uint32_t)pw.pw_gid : (uint32_t)id;
		c->proc_user_named = false;
		return 0;
	}
	if (!res) {
		snprintf(why, cap, "no such user%s%s", rc ? ": " : "", rc ? strerror(rc) : "");
		return -EINVAL;
	}
	c->proc_uid = (uint32_t)pw.pw_uid;
	c->proc_user_gid = (uint32_t)pw.pw_gid;
	c->proc_user_named = true;
	return 0;
}

static int set_proc_group(struct tern_config *c, const char *v, char *why, size_t cap)
{
	char buf[4096];
	struct group gr, *res = NULL;
	if (set_str(c->proc_group, sizeof(c->proc_group), v, why, cap) < 0)
		return -EINVAL;
	int rc = getgrnam_r(v, &gr, buf, sizeof(buf), &res);
	if (!res && all_digits(v)) {
		unsigned long long id = strtoull(v, NULL, 10);
		if (id >= UINT32_MAX) {
			snprintf(why, cap, "no such group, and too large for a gid");
			return -EINVAL;
		}
		c->proc_gid = (uint32_t)id;
		return 0;
	}
	if (!res) {
		snprintf(why, cap, "no such group%s%s", rc ? ": " : "", rc ? strerror(rc) : "");
		return -EINVAL;
	}
	c->proc_gid = (uint32_t)gr.gr_gid;
	return 0;
}

static void warn_value(const struct src *s, const struct cfg_opt *o, const char *v, const char *what)
{
	if (!s->warn)
		return;
	put_where(s->warn, s);
	fprintf(s->warn, "option '%s%s' value '%s': %s\n", s->file ? "" : "--", o->name, v, what);
}

static void list_reset(struct tern_config *c, int type)
{
	switch (type) {
	case T_LISTEN:
		c->nlisten = 0;
		break;
	case T_RELAY:
		c->nrelay = 0;
		break;
	case T_EXTERNAL:
		c->nexternal = 0;
		break;
	case T_USER:
		c->nusers = 0;
		break;
	case T_SECRET:
		c->nsecrets = 0;
		break;
	case T_ALLOWED:
		c->nallowed = 0;
		break;
	case T_DENIED:
		c->ndenied = 0;
		break;
	case T_ALT:
	case T_ALT_UDP:
	case T_ALT_TCP:
	case T_ALT_TLS:
		c->alt[type - T_ALT].n = 0;
		break;
	default:
		break;
	}
}

/* Store one value. v is NULL for a bare flag. Returns 0, or -EINVAL with
 * the reason in why. */
static int opt_apply(struct tern_config *c, const struct cfg_opt *o, const char *v, const struct src *s,
                     char *why, size_t cap)
{
	void *field = (char *)c + o->off;
	uint64_t n = 0;
	bool b;

	switch (o->type) {
	case T_BOOL:
	case T_VERBOSE:
		if (parse_bool(v, &b) < 0) {
			snprintf(why, cap, "expected yes/no, on/off, true/false or 1/0");
			return -EINVAL;
		}
		if (o->type == T_BOOL)
			*(bool *)field = b;
		else if (b && c->verbose < (int)o->min)
			c->verbose = (int)o->min;
		else if (!b && c->verbose >= (int)o->min)
			c->verbose = (int)o->min - 1;
		return 0;
	case T_UINT:
		if (parse_num(v, o->min, o->max, &n, why, cap) < 0)
			return -EINVAL;
		*(unsigned *)field = (unsigned)n;
		return 0;
	case T_U16:
		if (parse_num(v, o->min, o->max, &n, why, cap) < 0)
			return -EINVAL;
		*(uint16_t *)field = (uint16_t)n;
		return 0;
	case T_U64:
		if (parse_num(v, o->min, o->max, &n, why, cap) < 0)
			return -EINVAL;
		*(uint64_t *)field = n;
		return 0;
	case T_STR:
		return set_str(field, o->size, v, why, cap);
	case T_LOGFILE:
		/* coturn: log-file=syslog is the syslog switch */
		if (strcmp(v, "syslog") == 0)
			c->syslog = true;
		if (strcmp(v, "stdout") == 0 || strcmp(v, "-") == 0 || strcmp(v, "syslog") == 0)
			v = "";
		return set_str(c->log_file, sizeof(c->log_file), v, why, cap);
	case T_PROCUSER:
		return set_proc_user(c, v, why, cap);
	case T_PROCGROUP:
		return set_proc_group(c, v, why, cap);
	case T_REALM:
		return set_realm(c, v, why, cap);
	case T_LISTEN:
		return add_addr(c->listen, &c->nlisten, v, true, why, cap);
	case T_RELAY:
		return add_addr(c->relay, &c->nrelay, v, false, why, cap);
	case T_EXTERNAL:
		return add_external(c, v, why, cap);
	case T_USER:
		return add_user(c, v, why, cap);
	case T_SECRET:
		return add_secret(c, v, why, cap);
	case T_ALLOWED:
		return add_peers(c->allowed_peers, &c->nallowed, v, why, cap);
	case T_DENIED:
		return add_peers(c->denied_peers, &c->ndenied, v, why, cap);
	case T_ALT:
	case T_ALT_UDP:
	case T_ALT_TCP:
		return add_alt(&c->alt[o->type - T_ALT], v, 3478, why, cap);
	case T_ALT_TLS:
		return add_alt(&c->alt[CFG_ALT_TLS], v, 5349, why, cap);
	case T_STALE:
		/* coturn: "stale-nonce[=<seconds>]", bare means 600 */
		if (v && all_digits(v) && strtoull(v, NULL, 10) != 0) {
			if (parse_num(v, o->min, o->max, &n, why, cap) < 0)
				return -EINVAL;
			c->stale_nonce = (unsigned)n;
			return 0;
		}
		if (parse_bool(v, &b) < 0) {
			snprintf(why, cap, "expected seconds (%llu to %llu) or yes/no",
			         (unsigned long long)o->min, (unsigned long long)o->max);
			return -EINVAL;
		}
		if (!b)
			warn_value(s, o, v, "nonces always expire in tern; using 600 seconds");
		c->stale_nonce = 600;
		return 0;
	case T_RESTSEP:
		if (strcmp(v, ":") != 0) {
			snprintf(why, cap, "only ':' is supported (REST API usernames are EXPIRY:USER)");
			return -EINVAL;
		}
		return 0;
	default:
		snprintf(why, cap, "cannot be set here");
		return -EINVAL;
	}
}

/* One option occurrence from a file or from the command line (after -c). */
static int opt_dispatch(struct tern_config *c, const struct cfg_opt *o, const char *given, const char *v,
                        struct src *s)
{
	char why[WHY_MAX] = "";
	int rc;

	if (s->file && (o->flags & F_CLI)) {
		opt_error(s, o, given, v, "only valid on the command line");
		return -EINVAL;
	}
	if (o->status == ST_REFUSE) {
		if (s->err) {
			put_where(s->err, s);
			fprintf(s->err, "option '%s%s': not implemented yet by tern (%s)\n",
			        s->file ? "" : "--", given, o->help);
		}
		return -EINVAL;
	}
	if (o->status == ST_WARN) {
		if (s->warn) {
			put_where(s->warn, s);
			fprintf(s->warn, "option '%s%s' ignored: %s\n", s->file ? "" : "--", given, o->help);
		}
		return 0;
	}
	if (tern__cfg_kind(o) == K_VALUE && (!v || !*v)) {
		opt_error(s, o, given, v, "needs a value");
		return -EINVAL;
	}
	if (!s->file && (o->flags & F_LIST) && !s->list_seen[o->type]) {
		list_reset(c, o->type);
		s->list_seen[o->type] = true;
	}
	rc = opt_apply(c, o, v, s, why, sizeof(why));
	if (rc < 0)
		opt_error(s, o, given, v, why);
	return rc < 0 ? -EINVAL : 0;
}

void config_defaults(struct tern_config *c)
{
	struct src s = {0};
	char why[WHY_MAX];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < tern__cfg_nopts; i++) {
		const struct cfg_opt *o = &tern__cfg_opts[i];
		if (o->type != T_SECTION && o->status == ST_OK && o->def)
			opt_apply(c, o, o->def, &s, why, sizeof(why));
	}
}

static char *trim(char *p)
{
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = 0;
	return p;
}

int config_load_stream(struct tern_config *c, FILE *in, const char *name, FILE *err, FILE *warn)
{
	struct src s = {.file = name, .err = err, .warn = warn};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	errno = 0;
	while ((n = getline(&line, &cap, in)) >= 0) {
		const struct cfg_opt *o;
		char *p = line, *key, *value = NULL;

		s.line++;
		if (strlen(line) != (size_t)n) {
			if (err)
				fprintf(err, "%s:%u: line contains a NUL byte\n", name, s.line);
			rc = -EINVAL;
			goto out;
		}
		if (s.line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0) /* UTF-8 byte order mark */
			p += 3;
		p = trim(p);
		/* Only whole lines are comments: '#' may be part of a password. */
		if (!*p || *p == '#')
			continue;
		key = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (*p) {
			bool eq = *p == '=';
			*p++ = 0;
			while (isspace((unsigned char)*p))
				p++;
			if (!eq && *p == '=') {
				eq = true;
				p++;
				while (isspace((unsigned char)*p))
					p++;
			}
			if (eq || *p)
				value = p;
		}
		o = opt_find(key);
		if (!o) {
			unknown_option(&s, "", key);
			rc = -EINVAL;
			goto out;
		}
		if (value && value[0] == '"') {
			size_t len = strlen(value);
			if (len < 2 || value[len - 1] != '"') {
				opt_error(&s, o, key, value, "unterminated quote");
				rc = -EINVAL;
				goto out;
			}
			value[len - 1] = 0;
			value++;
		}
		rc = opt_dispatch(c, o, key, value, &s);
		if (rc < 0)
			goto out;
	}
	if (ferror(in)) {
		rc = errno ? -errno : -EIO;
		if (err)
			fprintf(err, "%s: cannot read: %s\n", name, strerror(-rc));
	}
out:
	free(line);
	return rc;
}

int config_load_file(struct tern_config *c, const char *path, FILE *err, FILE *warn)
{
	FILE *f;
	int rc;

	if (strlen(path) >= CFG_STR) {
		if (err)
			fprintf(err, "%s: configuration file path longer than %d bytes\n", path, CFG_STR - 1);
		return -ENAMETOOLONG;
	}
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		if (err)
			fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return rc;
	}
	strcpy(c->config_file, path);
	rc = config_load_stream(c, f, path, err, warn);
	fclose(f);
	return rc;
}

static bool is_pre(const struct cfg_opt *o)
{
	return o->type == T_CONFIG || o->type == T_NOCONFIG || o->type == T_HELP || o->type == T_HELPMD ||
	       o->type == T_HELPMAN || o->type == T_VERSION;
}

enum pass { PASS_PRE, PASS_MAIN };

static int cli_one(struct tern_config *c, const struct cfg_opt *o, const char *given, const char *v,
                   struct src *s, enum pass pass, struct pre *pre)
{
	if (pass == PASS_MAIN)
		return is_pre(o) ? 0 : opt_dispatch(c, o, given, v, s);
	switch (o->type) {
	case T_CONFIG:
		if (!v || !*v) {
			opt_error(s, o, given, v, "needs a value");
			return -EINVAL;
		}
		pre->file = v;
		break;
	case T_NOCONFIG:
		pre->noconf = true;
		break;
	case T_HELP:
		c->help = true;
		break;
	case T_HELPMD:
		c->help_markdown = true;
		break;
	case T_HELPMAN:
		if (!v || (strcmp(v, "8") != 0 && strcmp(v, "5") != 0)) {
			opt_error(s, o, given, v, "must be 8 (ternd) or 5 (ternd.conf)");
			return -EINVAL;
		}
		c->help_man = v[0] - '0';
		break;
	case T_VERSION:
		c->version = true;
		break;
	default:
		break;
	}
	return 0;
}

static int missing_value(const struct src *s, const char *dashes, const char *name)
{
	if (s->err)
		fprintf(s->err, "command line: option '%s%s': needs a value\n", dashes, name);
	return -EINVAL;
}

/* Walk argv once. PASS_PRE checks the syntax of everything and applies only
 * -c, -n, --help, --version; PASS_MAIN applies the rest over the file. */
static int cli_walk(struct tern_config *c, int argc, char **argv, struct src *s, enum pass pass,
                    struct pre *pre)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		const struct cfg_opt *o;
		int rc = 0;

		bool operand = a[0] != '-' || a[1] == 0;

		if (strcmp(a, "--") == 0) {
			if (i + 1 == argc)
				break;
			a = argv[i + 1]; /* nothing may follow: ternd has no operands */
			operand = true;
		}
		if (operand) {
			if (s->err)
				fprintf(s->err,
				        "command line: unexpected argument '%s': ternd takes options only\n",
				        a);
			return -EINVAL;
		}
		if (a[1] == '-') {
			char name[NAME_MAX_LEN + 1];
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);

			snprintf(name, sizeof(name), "%.*s", (int)len, a + 2);
			o = opt_find(name);
			if (!o || len > NAME_MAX_LEN) {
				unknown_option(s, "--", name);
				return -EINVAL;
			}
			v = eq ? eq + 1 : NULL;
			if (!v && tern__cfg_kind(o) == K_VALUE) {
				if (i + 1 == argc)
					return missing_value(s, "--", name);
				v = argv[++i];
			}
			rc = cli_one(c, o, name, v, s, pass, pre);
		} else {
			for (const char *p = a + 1; *p && rc == 0; p++) {
				char sh[2] = {*p, 0};
				o = opt_find_short(*p);
				if (!o) {
					unknown_option(s, "-", sh);
					return -EINVAL;
				}
				if (tern__cfg_kind(o) != K_VALUE) {
					rc = cli_one(c, o, o->name, NULL, s, pass, pre);
					continue;
				}
				v = p[1] ? p + 1 : NULL; /* -p3478 */
				if (!v && i + 1 == argc)
					return missing_value(s, "-", sh);
				if (!v)
					v = argv[++i];
				rc = cli_one(c, o, o->name, v, s, pass, pre);
				break;
			}
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int config_load(struct tern_config *c, int argc, char **argv, FILE *err, FILE *warn)
{
	struct src cli = {.err = err, .warn = warn};
	struct pre pre = {0};
	int rc;

	config_defaults(c);
	rc = cli_walk(c, argc, argv, &cli, PASS_PRE, &pre);
	if (rc < 0)
		return rc;
	if (c->help || c->version || c->help_markdown || c->help_man)
		return 0;
	if (pre.file && pre.noconf) {
		if (err)
			fprintf(err,
			        "command line: option '-n' value '': conflicts with -c %s (-n reads no "
			        "configuration file)\n",
			        pre.file);
		return -EINVAL;
	}
	if (pre.file) {
		rc = config_load_file(c, pre.file, err, warn);
		if (rc < 0)
			return rc;
	}
	rc = cli_walk(c, argc, argv, &cli, PASS_MAIN, &pre);
	if (rc < 0)
		return rc;
	return config_finish(c, err);
}

int config_finish(struct tern_config *c, FILE *err)
{
	const char *where = c->config_file[0] ? c->config_file : "configuration";
	const char *why = NULL;

	if (c->nlisten == 0) {
		addr_parse(&c->listen[0], "0.0.0.0", 0);
		addr_parse(&c->listen[1], "::", 0);
		c->nlisten = 2;
	}
	for (unsigned i = 0; i < c->nlisten; i++)
		addr_set_port(&c->listen[i], c->listening_port);
	if (c->min_port > c->max_port) {
		if (err)
			fprintf(err, "%s: min-port %u is above max-port %u\n", where, c->min_port,
			        c->max_port);
		return -EINVAL;
	}
	if (strcmp(c->steering, "auto") != 0 && strcmp(c->steering, "ebpf") != 0 &&
	    strcmp(c->steering, "hash") != 0) {
		if (err)
			fprintf(err, "%s: option 'steering' value '%s': must be auto, ebpf or hash\n", where,
			        c->steering);
		return -EINVAL;
	}
	if (strcmp(c->client_sockets, "shared") != 0 && strcmp(c->client_sockets, "connected") != 0) {
		if (err)
			fprintf(err, "%s: option 'client-sockets' value '%s': must be shared or connected\n",
			        where, c->client_sockets);
		return -EINVAL;
	}
	if (strcmp(c->fast_path, "off") != 0 && strcmp(c->fast_path, "auto") != 0 &&
	    strcmp(c->fast_path, "xdp") != 0 && strcmp(c->fast_path, "xdp-native") != 0 &&
	    strcmp(c->fast_path, "xdp-generic") != 0 && strcmp(c->fast_path, "tc") != 0) {
		if (err)
			fprintf(err,
			        "%s: option 'fast-path' value '%s': must be off, auto, xdp, xdp-native, "
			        "xdp-generic or tc\n",
			        where, c->fast_path);
		return -EINVAL;
	}
	if (c->prometheus_path[0] != '/') {
		if (err)
			fprintf(err, "%s: option 'prometheus-path' value '%s': must start with /\n", where,
			        c->prometheus_path);
		return -EINVAL;
	}
	if (c->prometheus_address[0]) {
		uint8_t a[16];
		if (inet_pton(AF_INET, c->prometheus_address, a) != 1 &&
		    inet_pton(AF_INET6, c->prometheus_address, a) != 1) {
			if (err)
				fprintf(err,
				        "%s: option 'prometheus-address' value '%s': not an IP address\n",
				        where, c->prometheus_address);
			return -EINVAL;
		}
	}
	/* coturn: lt-cred-mech and no-auth exclude each other. */
	if (c->no_auth && (c->lt_cred_mech || c->nusers || c->use_auth_secret || c->nsecrets))
		why = "no-auth cannot be combined with lt-cred-mech, user, use-auth-secret or "
		      "static-auth-secret";
	else if (c->use_auth_secret && c->nsecrets == 0)
		why =
		    "use-auth-secret needs a static-auth-secret (tern has no database to read secrets from)";
	else if (!c->no_auth && c->nusers == 0 && c->nsecrets == 0)
		why = "no credentials: give user=NAME:PASSWORD, or use-auth-secret with "
		      "static-auth-secret=SECRET, "
		      "or no-auth";
	if (why) {
		if (err)
			fprintf(err, "%s: %s\n", where, why);
		return -EINVAL;
	}
	/* coturn: a static secret turns the REST API on, a user long-term
	 * credentials; both are the long-term mechanism. */
	if (c->nsecrets)
		c->use_auth_secret = true;
	if (c->nusers || c->nsecrets)
		c->lt_cred_mech = true;
	if (c->default_allocate_lifetime > c->max_allocate_lifetime)
		c->default_allocate_lifetime = c->max_allocate_lifetime;
	/* a PEM file with both the chain and the key may be given as cert alone */
	if (c->cert[0] && !c->pkey[0])
		snprintf(c->pkey, sizeof(c->pkey), "%s", c->cert);
	if (c->pkey[0] && !c->cert[0]) {
		if (err)
			fprintf(err, "%s: option 'pkey' value '%s': needs a cert\n", where, c->pkey);
		return -EINVAL;
	}
	return 0;
}
