#include "server/server.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/auth.h"
#include "net/loop.h"
#include "net/fastpath.h"
#include "net/steer.h"
#include "net/tls.h"
#include "net/udp.h"
#include "server/conn.h"
#include "server/service.h"
#include "server/stats.h"
#include "server/worker.h"
#include "turn/policy.h"
#include "util/log.h"

#define SOFTWARE_NAME "tern"

struct server {
	struct tern_config cfg;
	struct server_shared sh;
	struct auth *auth;
	struct peer_policy policy;
	struct turn_shared *shared;
	struct worker *workers;
	unsigned nworkers;
	struct steer *steer; /* NULL: kernel reuseport hash */
	struct fastpath *fastpath; /* NULL: off, or it failed (user space relays everything) */
	struct tls_server *tls;
	bool draining;
	uint64_t drain_start_ms;
	/* reload: the command line to read again, the key of every nonce, the
	 * policy in use (&policy, or one a reload built) */
	int argc;
	char **argv;
	uint8_t nonce_secret[AUTH_NONCE_SECRET];
	struct peer_policy *cur_policy;
};

static struct auth *make_auth(const struct tern_config *c, const uint8_t *nonce_secret);
static int build_policy(struct server *s, const struct tern_config *c, struct peer_policy *p);
static void fill_params(const struct tern_config *cfg, struct turn_params *p);

/* Drain (SIGUSR1, coturn's signal; `drain` on the control socket): new
 * allocations go to the alternate servers or are refused (403), existing
 * ones go on; ternd exits when drain-min-allocations or fewer are left, or
 * at drain-timeout (server_run checks once a second). */
static void server_drain(struct server *s, const char *why)
{
	if (s->draining) {
		log_info("%s: already draining (%u allocations left)", why, turn_shared_total(s->shared));
		return;
	}
	s->draining = true;
	s->drain_start_ms = net_now_ms();
	turn_shared_set_draining(s->shared, true);
	unsigned alts = 0;
	for (unsigned k = 0; k < CFG_ALT_KINDS; k++)
		alts += s->cfg.alt[k].n;
	char limit[64] = "";
	if (s->cfg.drain_timeout)
		snprintf(limit, sizeof(limit), ", or in %u s at the latest", s->cfg.drain_timeout);
	log_info("%s: draining: new allocations are %s; %u allocations left; ternd exits at %u or fewer%s",
	         why, alts ? "redirected to the alternate servers (403 where none fits)" : "refused (403)",
	         turn_shared_total(s->shared), s->cfg.drain_min_allocations, limit);
}

/* Reload (SIGHUP, `reload` on the control socket): read the configuration
 * again (the -c file and the same command line), refuse it whole if it
 * does not parse or validate, name the options that only a restart can
 * change (their running values stay), and apply the rest: a new credential
 * provider (same nonce key: nonces stay valid), peer policy and core
 * parameters handed to each worker between two of its loop turns (the old
 * ones are freed once every worker has taken the new), quotas, alternate
 * servers, drain limits, log level, certificates. Existing allocations
 * keep going; lowered quotas only refuse new ones. 0 or -1; msg says what
 * happened in one line. */
static int server_reload(struct server *s, const char *why, char *msg, size_t cap)
{
	service_reloading(); /* READY=1 again at the end, whatever the outcome */
	struct tern_config *nc = calloc(1, sizeof(*nc)), *merged = calloc(1, sizeof(*merged));
	struct peer_policy *np = calloc(1, sizeof(*np));
	struct auth *na = NULL;
	char *errtext = NULL;
	size_t errlen = 0;
	int rc = -1;
	if (!nc || !merged || !np) {
		snprintf(msg, cap, "out of memory");
		goto out;
	}
	FILE *err = open_memstream(&errtext, &errlen);
	rc = config_load(nc, s->argc, s->argv, err, NULL);
	if (err)
		fclose(err);
	if (rc < 0) {
		snprintf(msg, cap, "not reloaded, the running configuration stays: %.*s",
		         errtext ? (int)strcspn(errtext, "\n") : 0, errtext ? errtext : "");
		rc = -1;
		goto out;
	}
	*merged = s->cfg;
	config_take_reloadable(merged, nc);
	if (!merged->no_auth && !(na = make_auth(merged, s->nonce_secret))) {
		snprintf(msg, cap, "not reloaded: the credentials cannot be built");
		rc = -1;
		goto out;
	}
	if (build_policy(s, merged, np) < 0) {
		snprintf(msg, cap, "not reloaded: the peer policy cannot be built");
		policy_free(np);
		rc = -1;
		goto out;
	}
	struct turn_params p = s->sh.params;
	p.auth = na;
	p.policy = np;
	fill_params(merged, &p);
	unsigned stuck = 0;
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker_req r = {.kind = WREQ_PARAMS, .params = &p};
		if (!worker_call(&s->workers[i], &r, 5000) || r.rc < 0)
			stuck++;
	}
	if (stuck) {
		/* a worker may still use the old objects: they stay (leaked) */
		log_err("%s: %u worker(s) did not take the new configuration", why, stuck);
	} else {
		auth_free(s->auth);
		if (s->cur_policy != &s->policy) {
			policy_free(s->cur_policy);
			free(s->cur_policy);
		}
	}
	s->auth = na;
	s->cur_policy = np;
	np = NULL;
	na = NULL;
	s->sh.params = p;
	unsigned old_total = s->cfg.total_quota;
	config_take_reloadable(&s->cfg, nc);
	turn_shared_set_quotas(s->shared, s->cfg.user_quota, s->cfg.total_quota);
	for (unsigned k = 0; k < CFG_ALT_KINDS; k++)
		turn_shared_set_alternates(s->shared, (enum turn_alt_kind)k, s->cfg.alt[k].a,
		                           s->cfg.alt[k].n);
	tern_log_level = s->cfg.verbose ? LOG_DEBUG : LOG_INFO;
	/* logrotate moved the file: write a new one under the same name */
	const char *lf = s->cfg.log_file;
	if (lf[0] && strcmp(lf, "stdout") != 0 && strcmp(lf, "-") != 0 && strcmp(lf, "syslog") != 0) {
		int lrc = log_reopen(lf);
		if (lrc < 0)
			log_err("%s: log-file '%s' not reopened: %s", why, lf, strerror(-lrc));
	}
	char restart[512], tls[256] = "";
	config_restart_needed(&s->cfg, nc, restart, sizeof(restart));
	/* each worker's allocation pool was sized at start from total-quota */
	if (s->cfg.total_quota != old_total &&
	    (!s->cfg.total_quota || s->cfg.total_quota > s->sh.params.max_allocs))
		snprintf(restart + strlen(restart), sizeof(restart) - strlen(restart),
		         "%stotal-quota beyond %u (the pools sized at start)", restart[0] ? ", " : "",
		         s->sh.params.max_allocs);
	if (s->tls && tls_server_reload(s->tls, tls, sizeof(tls)) == 0) {
		snprintf(tls, sizeof(tls), "; certificate reloaded");
	} else if (s->tls) {
		log_err("%s: TLS certificate not reloaded, the current one stays: %s", why, tls);
		tls[0] = 0;
	}
	snprintf(msg, cap, "configuration reloaded (%s, %u users, %u secrets)%s%s%s",
	         s->cfg.config_file[0] ? s->cfg.config_file : "command line", s->cfg.nusers, s->cfg.nsecrets,
	         tls, restart[0] ? "; needs a restart, running values kept: " : "", restart);
	rc = 0;
out:
	if (na)
		auth_free(na);
	free(np);
	free(nc);
	free(merged);
	free(errtext);
	service_ready("serving");
	return rc;
}

/* True when a drain is over: time to stop. */
static bool drain_done(struct server *s)
{
	if (!s->draining)
		return false;
	unsigned left = turn_shared_total(s->shared);
	if (left <= s->cfg.drain_min_allocations) {
		log_info("drained: %u allocations left (drain-min-allocations %u): shutting down", left,
		         s->cfg.drain_min_allocations);
		return true;
	}
	if (s->cfg.drain_timeout &&
	    net_now_ms() - s->drain_start_ms >= (uint64_t)s->cfg.drain_timeout * 1000) {
		log_info("drain-timeout (%u s): shutting down with %u allocations left", s->cfg.drain_timeout,
		         left);
		return true;
	}
	return false;
}

/* The core's parameters that a reload may change (turn_set_params). */
static void fill_params(const struct tern_config *cfg, struct turn_params *p)
{
	p->max_lifetime = cfg->max_allocate_lifetime;
	p->default_lifetime = cfg->default_allocate_lifetime;
	p->permission_lifetime = cfg->permission_lifetime;
	p->channel_lifetime = cfg->channel_lifetime;
	p->max_bps = cfg->max_bps;
	p->software = cfg->no_software_attribute ? NULL : SOFTWARE_NAME;
	p->fingerprint = cfg->fingerprint;
	p->no_stun = cfg->no_stun;
	p->unauth_bps = cfg->unauth_rate_limit;
	p->unauth_burst = 0;
	p->channel_max = cfg->strict_channel_numbers ? 0x4FFF : 0x7FFF;
}

/* TLS from the configuration: loaded and checked (cert readable, key
 * matching). 0 and *out NULL when TLS is off; -EINVAL with one log line
 * naming the option and the value. */
static int build_tls(const struct tern_config *c, struct tls_server **out)
{
	*out = NULL;
	if (!config_tls_on(c))
		return 0;
	struct tls_opts o = {
	    .cert = c->cert,
	    .pkey = c->pkey,
	    .pkey_pwd = c->pkey_pwd,
	    .cipher_list = c->cipher_list,
	    .ec_curve = c->ec_curve_name,
	    .dh_file = c->dh_file,
	    .ca_file = c->ca_file,
	    .tls13_only = c->no_tlsv1_2,
	    .dtls = config_dtls_on(c),
	};
	char err[512];
	int rc = tls_server_new(&o, out, err, sizeof(err));
	if (rc < 0)
		log_err("%s: %s", c->config_file[0] ? c->config_file : "command line", err);
	return rc;
}

int server_check(const struct tern_config *cfg)
{
	struct tls_server *t;
	int rc = build_tls(cfg, &t);
	tls_server_free(t);
	return rc;
}

/* Raise the open-file limit to the hard limit: every allocation holds one
 * relay socket (two when dual). */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Root may raise the hard limit too (up to fs.nr_open). */
	struct rlimit want = {1u << 20, 1u << 20};
	if (rl.rlim_max < want.rlim_max && setrlimit(RLIMIT_NOFILE, &want) == 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool usable_auto_addr(const union tern_addr *a)
{
	if (a->sa.sa_family == AF_INET)
		return (ntohl(a->v4.sin_addr.s_addr) >> 24) != 127;
	const uint8_t *b = a->v6.sin6_addr.s6_addr;
	return !IN6_IS_ADDR_LOOPBACK(&a->v6.sin6_addr) && !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

/* Relay addresses: relay-ip; else the specific listening addresses; else
 * (wildcard listening) the first usable address of each family on the host. */
static int pick_relays(struct server *s)
{
	struct tern_config *c = &s->cfg;
	struct server_shared *sh = &s->sh;
	const union tern_addr *src = c->relay;
	unsigned n = c->nrelay;
	union tern_addr found[2];

	if (n == 0) {
		src = c->listen;
		n = c->nlisten;
		bool any = false;
		for (unsigned i = 0; i < n; i++)
			any |= addr_is_any(&c->listen[i]);
		if (any) {
			struct ifaddrs *ifa, *p;
			unsigned nf = 0;
			bool have4 = false, have6 = false;
			if (getifaddrs(&ifa) < 0)
				return -errno;
			for (p = ifa; p; p = p->ifa_next) {
				union tern_addr a;
				if (!p->ifa_addr || !(p->ifa_flags & IFF_UP) ||
				    addr_from_sockaddr(&a, p->ifa_addr, sizeof(struct sockaddr_in6)) < 0 ||
				    !usable_auto_addr(&a))
					continue;
				if ((a.sa.sa_family == AF_INET && !have4) ||
				    (a.sa.sa_family == AF_INET6 && !have6)) {
					have4 |= a.sa.sa_family == AF_INET;
					have6 |= a.sa.sa_family == AF_INET6;
					found[nf++] = a;
				}
			}
			freeifaddrs(ifa);
			if (nf == 0) {
				log_err("no relay address: listening on a wildcard address and no usable "
				        "interface "
				        "address found; set relay-ip");
				return -EADDRNOTAVAIL;
			}
			src = found;
			n = nf;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		union tern_addr a = src[i];
		char str[TERN_ADDRSTRLEN];
		addr_set_port(&a, 0);
		if (a.sa.sa_family == AF_INET && sh->nrelay_v4 < CFG_MAX_ADDRS)
			sh->relay_v4[sh->nrelay_v4++] = a;
		else if (a.sa.sa_family == AF_INET6 && sh->nrelay_v6 < CFG_MAX_ADDRS)
			sh->relay_v6[sh->nrelay_v6++] = a;
		log_info("relay address %s", addr_format(&a, str, sizeof(str), false));
	}
	return 0;
}

/* The credential provider of configuration c, its nonces keyed by the
 * server's nonce secret (the same across reloads). NULL on failure. */
static struct auth *make_auth(const struct tern_config *c, const uint8_t *nonce_secret)
{
	struct auth_user *users = calloc(c->nusers ? c->nusers : 1, sizeof(*users));
	const char *secrets[CFG_MAX_SECRETS];
	if (!users)
		return NULL;
	for (unsigned i = 0; i < c->nusers; i++) {
		users[i].name = c->users[i].name;
		users[i].password = c->users[i].has_password ? c->users[i].password : NULL;
		users[i].key = c->users[i].has_key ? c->users[i].key : NULL;
	}
	for (unsigned i = 0; i < c->nsecrets; i++)
		secrets[i] = c->secrets[i];
	struct auth_params p = {
	    .realm = c->realm,
	    .users = users,
	    .nusers = c->nusers,
	    .secrets = secrets,
	    .nsecrets = c->use_auth_secret ? c->nsecrets : 0,
	    .nonce_lifetime = c->stale_nonce,
	    .sha256 = c->sha256,
	    .nonce_secret = nonce_secret,
	};
	struct auth *a = auth_new(&p);
	free(users);
	return a;
}

static int build_auth(struct server *s)
{
	/* the nonce key, whatever the mode: a reload may need it */
	if (getrandom(s->nonce_secret, sizeof(s->nonce_secret), 0) != (ssize_t)sizeof(s->nonce_secret))
		return -EIO;
	if (s->cfg.no_auth)
		return 0;
	s->auth = make_auth(&s->cfg, s->nonce_secret);
	return s->auth ? 0 : -EINVAL;
}

/* An own address the policy cannot hold would be accepted as a peer:
 * refuse to start instead. */
static int add_own(struct peer_policy *p, const union tern_addr *a, const char *what)
{
	int rc = policy_add_own(p, a);
	if (rc < 0) {
		char str[TERN_ADDRSTRLEN];
		log_err("peer policy: cannot register the %s address %s as the server's own: %s", what,
		        addr_format(a, str, sizeof(str), addr_port(a) != 0), strerror(-rc));
	}
	return rc;
}

/* A wildcard listener is reached through every address of the host:
 * each is the server's own (as the host has them at start). */
static int add_host_addrs(struct peer_policy *p)
{
	struct ifaddrs *ifa, *i;
	int rc = 0;
	if (getifaddrs(&ifa) < 0) {
		rc = -errno;
		log_err("peer policy: cannot list the host's addresses: %s", strerror(-rc));
		return rc;
	}
	for (i = ifa; i && rc == 0; i = i->ifa_next) {
		union tern_addr a;
		if (!i->ifa_addr || addr_from_sockaddr(&a, i->ifa_addr, sizeof(struct sockaddr_in6)) < 0)
			continue;
		addr_set_port(&a, 0);
		rc = add_own(p, &a, "interface");
	}
	freeifaddrs(ifa);
	return rc;
}

/* The peer policy of configuration c into p (the server's own addresses
 * from s). */
static int build_policy(struct server *s, const struct tern_config *c, struct peer_policy *p)
{
	bool wildcard = false;
	int rc = 0;
	policy_init(p);
	p->allow_loopback = c->allow_loopback_peers;
	for (unsigned i = 0; i < c->nallowed; i++)
		if (policy_allow(p, &c->allowed_peers[i]) < 0)
			return -ENOSPC;
	for (unsigned i = 0; i < c->ndenied; i++)
		if (policy_deny(p, &c->denied_peers[i]) < 0)
			return -ENOSPC;
	/* Our own addresses: listening transport addresses (ip:port; a
	 * wildcard gives its port and loopback) and relay, external and, with
	 * a wildcard listener, interface IPs (port 0). */
	for (unsigned i = 0; i < c->nlisten && rc == 0; i++) {
		wildcard |= addr_is_any(&c->listen[i]);
		rc = add_own(p, &c->listen[i], "listening");
	}
	if (wildcard && rc == 0)
		rc = add_host_addrs(p);
	for (unsigned i = 0; i < s->sh.nrelay_v4 && rc == 0; i++)
		rc = add_own(p, &s->sh.relay_v4[i], "relay");
	for (unsigned i = 0; i < s->sh.nrelay_v6 && rc == 0; i++)
		rc = add_own(p, &s->sh.relay_v6[i], "relay");
	for (unsigned i = 0; i < c->nexternal && rc == 0; i++) {
		union tern_addr a = c->external[i].public_ip;
		addr_set_port(&a, 0);
		rc = add_own(p, &a, "external");
	}
	return rc;
}

/* Every worker binds its listener with SO_REUSEPORT, and the kernel lets
 * any other socket of the same user join that group: a second ternd (or a
 * coturn) on the same address and port would silently take a share of the
 * clients. A probe bind without SO_REUSEPORT fails if anything holds the
 * address, so ternd refuses to start instead. */
static int check_listen_free(const struct tern_config *cfg)
{
	for (unsigned k = 0; k < cfg->nlisten * 2; k++) {
		/* the listening port, and DTLS's (tls-listening-port) */
		if (k >= cfg->nlisten && !config_dtls_on(cfg))
			break;
		union tern_addr port_a = cfg->listen[k % cfg->nlisten];
		if (k >= cfg->nlisten)
			addr_set_port(&port_a, cfg->tls_listening_port);
		const union tern_addr *a = &port_a;
		int fd = udp_open(a, a->sa.sa_family == AF_INET6 ? UDP_F_V6ONLY : 0, 0, 0, NULL);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (fd == -EADDRINUSE) {
			char str[TERN_ADDRSTRLEN];
			log_err("cannot listen on udp %s: already in use by another socket (another ternd or "
			        "TURN server?)",
			        addr_format(a, str, sizeof(str), true));
			return fd;
		}
		/* anything else is reported by the worker's own bind */
	}
	for (unsigned k = 0; k < cfg->nlisten * TCP_KINDS; k++) {
		/* TCP likewise (every stream port); SO_REUSEADDR so that
		 * connections of an earlier run in TIME_WAIT do not count, while a
		 * listening socket does */
		enum tcp_kind kind = (enum tcp_kind)(k / cfg->nlisten);
		uint16_t port = worker_stream_port(cfg, kind);
		if (!port)
			continue;
		union tern_addr port_a = cfg->listen[k % cfg->nlisten];
		addr_set_port(&port_a, port);
		const union tern_addr *a = &port_a;
		int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->sa.sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		int rc = bind(fd, &a->sa, addr_len(a)) < 0 ? -errno : 0;
		close(fd);
		if (rc == -EADDRINUSE) {
			char str[TERN_ADDRSTRLEN];
			log_err("cannot listen on %s %s: already in use by another socket (another ternd or "
			        "TURN server? %s)",
			        worker_stream_name[kind], addr_format(a, str, sizeof(str), true),
			        kind == TCP_KIND_PLAIN ? "no-tcp opens no TCP listener" : "another port?");
			return rc;
		}
	}
	return 0;
}

/* eBPF steering fails open: any error leaves the kernel hash in charge,
 * with one log line (a warning only when the operator asked for ebpf). */
static void setup_steering(struct server *s)
{
	const char *mode = s->cfg.steering;
	int rc;
	if (strcmp(mode, "hash") == 0 || s->nworkers < 2) {
		log_info("steering: kernel hash");
		return;
	}
	if ((rc = steer_new(s->nworkers, &s->steer)) < 0)
		goto fallback;
	for (unsigned l = 0; l < s->workers[0].nlisteners; l++) {
		int fds[256];
		for (unsigned i = 0; i < s->nworkers && i < 256; i++)
			fds[i] = s->workers[i].listeners[l].h.fd;
		if ((rc = steer_attach(s->steer, fds, s->nworkers)) < 0)
			goto fallback;
	}
	log_info("steering: ebpf (new flows to the least-loaded worker)");
	s->sh.steer = s->steer;
	return;
fallback:
	steer_free(s->steer);
	s->steer = NULL;
	if (strcmp(mode, "ebpf") == 0)
		log_warn("steering=ebpf unavailable (%s): using the kernel hash", steer_strerror(rc));
	else
		log_info("steering: kernel hash (ebpf unavailable: %s)", steer_strerror(rc));
}

static enum fastpath_mode fastpath_mode_of(const char *m)
{
	if (strcmp(m, "auto") == 0)
		return FASTPATH_AUTO;
	if (strcmp(m, "xdp") == 0)
		return FASTPATH_XDP;
	if (strcmp(m, "xdp-native") == 0)
		return FASTPATH_XDP_NATIVE;
	if (strcmp(m, "xdp-generic") == 0)
		return FASTPATH_XDP_GENERIC;
	if (strcmp(m, "tc") == 0)
		return FASTPATH_TC;
	return FASTPATH_OFF;
}

/* The kernel fast path fails open: fastpath_open logs why, and user space
 * relays everything. Opened before the workers' init, which offer it to
 * their cores only when it is there. */
static void setup_fastpath(struct server *s)
{
	const struct tern_config *cfg = &s->cfg;
	struct fastpath_opts o = {.mode = fastpath_mode_of(cfg->fast_path),
	                          .max_mappings = cfg->fast_path_max_channels,
	                          .nworkers = s->nworkers,
	                          .force_fail = cfg->fast_path_test_fail};
	if (o.mode == FASTPATH_OFF)
		return;
	char names[CFG_STR];
	snprintf(names, sizeof(names), "%s", cfg->fast_path_interfaces);
	for (char *save = NULL, *tok = strtok_r(names, ",", &save); tok && o.nifs < FASTPATH_MAX_IFS;
	     tok = strtok_r(NULL, ",", &save))
		if (*tok)
			o.ifnames[o.nifs++] = tok;
	union tern_addr addrs[CFG_MAX_ADDRS * 3];
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->nlisten && n < CFG_MAX_ADDRS; i++)
		addrs[n++] = cfg->listen[i];
	for (unsigned i = 0; i < s->sh.nrelay_v4; i++)
		addrs[n++] = s->sh.relay_v4[i];
	for (unsigned i = 0; i < s->sh.nrelay_v6; i++)
		addrs[n++] = s->sh.relay_v6[i];
	o.addrs = addrs;
	o.naddrs = n;
	if (fastpath_open(&o, &s->fastpath) < 0) {
		s->fastpath = NULL;
		return;
	}
	s->sh.fastpath = s->fastpath;
	if (cfg->max_bps)
		log_warn("fast-path: max-bps is set: allocations with a bandwidth limit stay in user space");
}

int server_new(const struct tern_config *cfg, struct server **out)
{
	struct server *s = calloc(1, sizeof(*s));
	int rc;
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->sh.cfg = &s->cfg;
	raise_nofile();

	if ((rc = pick_relays(s)) < 0 || (rc = build_auth(s)) < 0 ||
	    (rc = build_policy(s, &s->cfg, &s->policy)) < 0)
		goto fail;
	s->shared = turn_shared_new(cfg->user_quota, cfg->total_quota);
	if (!s->shared) {
		rc = -ENOMEM;
		goto fail;
	}
	/* the option kinds are the core's, in the same order */
	_Static_assert((int)CFG_ALT_KINDS == (int)TURN_ALT_KINDS && CFG_MAX_ALTS == TURN_MAX_ALTERNATES,
	               "alternate-server lists: config and core disagree");
	for (unsigned k = 0; k < CFG_ALT_KINDS; k++)
		turn_shared_set_alternates(s->shared, (enum turn_alt_kind)k, cfg->alt[k].a, cfg->alt[k].n);
	/* behind NAT (external-ip) the alternate lists name public addresses */
	union tern_addr pub[CFG_MAX_ADDRS];
	for (unsigned i = 0; i < cfg->nexternal; i++)
		pub[i] = cfg->external[i].public_ip;
	turn_shared_set_self(s->shared, pub, cfg->nexternal);
	s->nworkers = cfg->workers ? cfg->workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->nworkers == 0)
		s->nworkers = 1;
	struct turn_params *p = &s->sh.params;
	p->auth = s->auth;
	p->policy = &s->policy;
	s->cur_policy = &s->policy;
	p->shared = s->shared;
	p->relay_v4 = s->sh.nrelay_v4 > 0;
	p->relay_v6 = s->sh.nrelay_v6 > 0;
	/* Any worker may end up with every allocation (hashing is per flow). */
	p->max_allocs = cfg->total_quota ? cfg->total_quota : 1u << 17;
	fill_params(cfg, p);
	if (cfg->prometheus && cfg->prometheus_username_labels) {
		turn_shared_labels_on(s->shared, TERN_PROM_USER_LABELS);
		p->user_labels = true;
	}
	s->sh.gso = !cfg->no_gso && udp_probe_gso();
	s->sh.batch_delay_us = cfg->batch_delay_us;
	s->sh.client_sockets = strcmp(cfg->client_sockets, "connected") == 0;
	log_info("engine: UDP GSO %s, adaptive batching %s", s->sh.gso ? "on" : "off",
	         s->sh.batch_delay_us ? "on" : "off");

	if ((rc = check_listen_free(cfg)) < 0 || (rc = build_tls(cfg, &s->tls)) < 0)
		goto fail;
	s->sh.tls = s->tls;
	s->sh.handshake_timeout_ms = cfg->handshake_timeout * 1000;
	s->sh.shutdown_timeout_ms = cfg->shutdown_timeout * 1000;
	if (s->tls)
		log_info("TLS on tcp port %u%s%s (cert %s)", cfg->tls_listening_port,
		         cfg->no_tcp ? "" : " and on listening-port after a ClientHello",
		         config_dtls_on(cfg) ? ", DTLS on its udp port" : "", cfg->cert);
	s->sh.conn_cap = (cfg->max_connections + s->nworkers - 1) / s->nworkers;
	s->sh.conn_cap_per_src = cfg->max_connections_per_ip;
	s->sh.allocate_timeout_ms = cfg->max_allocate_timeout * 1000;
	s->sh.conn_per_src = calloc(CONN_SRC_SLOTS, sizeof(*s->sh.conn_per_src));
	if (!s->sh.conn_per_src || (rc = sip_key_random(&s->sh.conn_key)) < 0) {
		rc = rc < 0 ? rc : -ENOMEM;
		goto fail;
	}
	/* aligned: each worker's counters on cache lines of their own */
	s->workers = aligned_alloc(_Alignof(struct worker), s->nworkers * sizeof(*s->workers));
	if (s->workers)
		memset(s->workers, 0, s->nworkers * sizeof(*s->workers));
	if (!s->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	setup_fastpath(s);
	for (unsigned i = 0; i < s->nworkers; i++)
		if ((rc = worker_init(&s->workers[i], i, &s->sh)) < 0)
			goto fail;
	setup_steering(s);
	*out = s;
	return 0;
fail:
	server_free(s);
	return rc;
}

void server_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Worker i's base pointers, valid until this thread's next call (the
 * stats socket and the Prometheus thread read at the same time). */
static metric_bases worker_bases(void *ctx, unsigned i)
{
	static __thread const void *b[STATS_SRCS];
	struct server *s = ctx;
	stats_bases(&s->workers[i], b);
	return b;
}

/* Counters are plain per-worker integers written by their worker only,
 * read here with relaxed atomic loads: a slightly stale but never torn
 * snapshot. The columns come from the counter table (server/stats.c). */
static void dump_fastpath_text(struct server *s, FILE *out);

void server_dump_stats(struct server *s, FILE *out)
{
	metrics_table_header(out, stats_table, stats_table_len);
	for (unsigned i = 0; i < s->nworkers; i++)
		metrics_table_row(out, stats_table, stats_table_len, i, worker_bases(s, i));
	dump_fastpath_text(s, out);
	fflush(out);
}

static void dump_fastpath_json(struct server *s, FILE *out)
{
	fprintf(out, ",\"fastpath\":{\"mode\":\"%s\",\"interfaces\":[", s->fastpath ? s->cfg.fast_path : "off");
	for (unsigned i = 0; s->fastpath && i < fastpath_nifs(s->fastpath); i++)
		fprintf(out, "%s{\"name\":\"%s\",\"attach\":\"%s\"}", i ? "," : "", fastpath_ifname(s->fastpath, i),
		        fastpath_attach_name(fastpath_if_mode(s->fastpath, i)));
	fputc(']', out);
	uint64_t v[FASTPATH_STATS] = {0}, run_ns = 0, run_cnt = 0;
	if (s->fastpath) {
		(void)fastpath_stats(s->fastpath, v);
		(void)fastpath_prog_stats(s->fastpath, &run_ns, &run_cnt);
	}
	for (unsigned k = 0; k < FASTPATH_STATS; k++)
		fprintf(out, ",\"%s\":%llu", stats_fastpath_key(k), (unsigned long long)v[k]);
	fprintf(out, ",\"run_ns\":%llu,\"run_cnt\":%llu}", (unsigned long long)run_ns, (unsigned long long)run_cnt);
}

/* Below the per-worker table: what the kernel relayed beside user space. */
static void dump_fastpath_text(struct server *s, FILE *out)
{
	if (!s->fastpath) {
		fprintf(out, "fast path: off\n");
		return;
	}
	fprintf(out, "fast path: %s on", s->cfg.fast_path);
	for (unsigned i = 0; i < fastpath_nifs(s->fastpath); i++)
		fprintf(out, " %s (%s)", fastpath_ifname(s->fastpath, i),
		        fastpath_attach_name(fastpath_if_mode(s->fastpath, i)));
	fputc('\n', out);
	uint64_t v[FASTPATH_STATS] = {0}, run_ns = 0, run_cnt = 0;
	(void)fastpath_stats(s->fastpath, v);
	for (unsigned k = 0; k < FASTPATH_STATS; k++)
		fprintf(out, "%s%s=%llu", k ? " " : "  ", stats_fastpath_key(k), (unsigned long long)v[k]);
	fputc('\n', out);
	if (fastpath_prog_stats(s->fastpath, &run_ns, &run_cnt) == 0 && run_cnt)
		fprintf(out, "  program: %llu runs, %.1f ns per run\n", (unsigned long long)run_cnt,
		        (double)run_ns / (double)run_cnt);
}

/* The fast path's counters for Prometheus (only while it runs). */
static void write_fastpath(struct server *s, FILE *out)
{
	uint64_t v[FASTPATH_STATS] = {0}, run_ns = 0, run_cnt = 0;
	if (!s->fastpath || fastpath_stats(s->fastpath, v) < 0)
		return;
	bool run = fastpath_prog_stats(s->fastpath, &run_ns, &run_cnt) == 0;
	stats_fastpath_prom(out, v, run, run_ns, run_cnt);
}

void server_dump_json(struct server *s, FILE *out)
{
	fprintf(out, "{\"workers\":[");
	for (unsigned i = 0; i < s->nworkers; i++) {
		fprintf(out, "%s{\"worker\":%u", i ? "," : "", i);
		metrics_json(out, stats_table, stats_table_len, worker_bases(s, i), false);
		fputc('}', out);
	}
	fprintf(out, "],\"allocations_total\":%u,\"draining\":%s,\"steering\":\"%s\"",
	        turn_shared_total(s->shared), s->draining ? "true" : "false", s->steer ? "ebpf" : "hash");
	if (s->steer) {
		struct steer_worker_stats st[64];
		unsigned n = s->nworkers < 64 ? s->nworkers : 64;
		if (steer_stats(s->steer, st, n) >= 0) {
			fprintf(out, ",\"steering_workers\":[");
			for (unsigned i = 0; i < n; i++)
				fprintf(out, "%s{\"load\":%llu,\"flows\":%llu,\"fails\":%llu}", i ? "," : "",
				        (unsigned long long)st[i].load, (unsigned long long)st[i].flows,
				        (unsigned long long)st[i].fails);
			fprintf(out, "]");
		}
	}
	dump_fastpath_json(s, out);
	fprintf(out, "}\n");
	fflush(out);
}

static const char *const traffic_names[TURN_TRAFFIC_N] = {
    "rcvp", "rcvb", "sentp", "sentb", "peer_rcvp", "peer_rcvb", "peer_sentp", "peer_sentb",
};

static const char *const traffic_help[TURN_TRAFFIC_N] = {
    "Represents finished sessions received packets",      "Represents finished sessions received bytes",
    "Represents finished sessions sent packets",          "Represents finished sessions sent bytes",
    "Represents finished sessions peer received packets", "Represents finished sessions peer received bytes",
    "Represents finished sessions peer sent packets",     "Represents finished sessions peer sent bytes",
};

/* One turn_traffic_* sample: realm, and user when labels is given. */
static void traffic_sample(FILE *out, const char *realm, const char *user, unsigned k, uint64_t v)
{
	fprintf(out, "turn_traffic_%s{realm=\"", traffic_names[k]);
	metrics_prom_escape(out, realm, strlen(realm));
	if (user) {
		fputs("\",user=\"", out);
		metrics_prom_escape(out, user, strlen(user));
	}
	fprintf(out, "\"} %llu\n", (unsigned long long)v);
}

/* coturn's per-realm (and with prometheus-username-labels per-user)
 * traffic of finished allocations. tern has one realm. With user labels,
 * the registry's users, then every other user under TURN_LABEL_OTHER. */
static void write_traffic(struct server *s, FILE *out)
{
	bool users = s->cfg.prometheus_username_labels;
	unsigned nl = users ? turn_shared_nlabels(s->shared) : 0, cap = turn_shared_labels_cap(s->shared);
	for (unsigned k = 0; k < TURN_TRAFFIC_N; k++) {
		char name[64];
		snprintf(name, sizeof(name), "turn_traffic_%s", traffic_names[k]);
		metrics_prom_head(out, name, METRIC_COUNTER, traffic_help[k]);
		if (!users) {
			uint64_t v = 0;
			for (unsigned i = 0; i < s->nworkers; i++)
				v +=
				    metric_load(turn_stats(s->workers[i].turn),
				                offsetof(struct turn_stats, finished) + k * sizeof(uint64_t));
			traffic_sample(out, s->cfg.realm, NULL, k, v);
			continue;
		}
		for (unsigned l = 0; l <= nl; l++) {
			unsigned row = l < nl ? l : cap;
			uint64_t v = 0;
			for (unsigned i = 0; i < s->nworkers; i++) {
				const uint64_t *t = turn_user_traffic(s->workers[i].turn, row);
				if (t)
					v += metric_load(t, k * sizeof(uint64_t));
			}
			traffic_sample(out, s->cfg.realm,
			               l < nl ? turn_shared_label(s->shared, l) : TURN_LABEL_OTHER, k, v);
		}
	}
}

void server_write_metrics(struct server *s, FILE *out)
{
	metrics_prom(out, stats_table, stats_table_len, s->nworkers, worker_bases, s);
	write_traffic(s, out);
	write_fastpath(s, out);
	metrics_prom_head(out, "tern_workers", METRIC_GAUGE, "Worker threads.");
	metrics_prom_sample(out, "tern_workers", "", s->nworkers);
	metrics_prom_head(out, "tern_ready", METRIC_GAUGE,
	                  "1 while ternd takes new clients, 0 while draining.");
	metrics_prom_sample(out, "tern_ready", "", server_ready(s));
}

bool server_ready(const struct server *s)
{
	return !turn_shared_draining(s->shared);
}

/* The stats socket: a client connects, writes "stats" or "json", reads the
 * answer until EOF. Served by the main thread, one client at a time. */
static int control_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from a previous run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* sessions / kick: ask every worker in turn (each answers between two of
 * its loop turns, into a buffer of its own: a slow reader of the control
 * socket never holds a worker up). The number of allocations concerned. */
static unsigned ask_workers(struct server *s, enum worker_req_kind kind, const char *user, bool json,
                            FILE *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->nworkers; i++) {
		char *text = NULL;
		size_t len = 0;
		struct worker_req r = {.kind = kind, .user = user, .json = json};
		r.out = open_memstream(&text, &len);
		if (!r.out)
			continue;
		if (n && json)
			fputc(',', r.out); /* between this worker's objects and the last one's */
		bool served = worker_call(&s->workers[i], &r, 2000);
		fclose(r.out);
		if (!served)
			fprintf(out, json ? "" : "# worker %u did not answer\n", i);
		else if (r.count)
			fwrite(text, 1, len, out);
		free(text);
		n += r.count;
	}
	return n;
}

#define CONTROL_HELP                                                                                         \
	"commands: stats [--json] | json | sessions [--json] [USER] | kick USER | reload | drain | config "  \
	"| help\n"

/* One request per connection: a line "COMMAND [ARGS]"; a client that says
 * nothing within 200 ms gets the counter table (tern stats of old). An
 * answer that is a refusal starts with "error: ". */
static void control_serve(struct server *s, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* the main thread serves signals and drains too: a client that does
	 * not read its answer gets 2 s, then the rest is dropped */
	struct timeval tmo = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	char req[256] = {0};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 200) == 1) {
		ssize_t n = read(fd, req, sizeof(req) - 1);
		(void)n;
	}
	req[strcspn(req, "\r\n")] = 0;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	char *save = NULL, *cmd = strtok_r(req, " \t", &save), *arg = strtok_r(NULL, " \t", &save);
	bool json_arg = arg && (strcmp(arg, "json") == 0 || strcmp(arg, "--json") == 0);
	if (!cmd || (strcmp(cmd, "stats") == 0 && !json_arg))
		server_dump_stats(s, f);
	else if (strcmp(cmd, "json") == 0 || strcmp(cmd, "stats") == 0)
		server_dump_json(s, f);
	else if (strcmp(cmd, "drain") == 0) {
		server_drain(s, "control socket");
		fprintf(f, "draining: %u allocations left\n", turn_shared_total(s->shared));
	} else if (strcmp(cmd, "sessions") == 0) {
		bool json = arg && strcmp(arg, "--json") == 0;
		const char *user = json ? strtok_r(NULL, " \t", &save) : arg;
		if (json)
			fputs("{\"sessions\":[", f);
		else
			fprintf(f, "%-6s %-24s %-4s %-40s %-40s %-40s %7s %7s %5s %5s %10s %12s %10s %12s\n",
			        "worker", "user", "tr", "client", "server", "relayed", "age_s", "left_s",
			        "perms", "chans", "to_peer", "bytes", "to_client", "bytes");
		unsigned n = ask_workers(s, WREQ_SESSIONS, user, json, f);
		if (json)
			fprintf(f, "],\"count\":%u}\n", n);
	} else if (strcmp(cmd, "kick") == 0) {
		if (!arg) {
			fprintf(f, "error: kick needs a user name\n");
		} else {
			unsigned n = ask_workers(s, WREQ_KICK, arg, false, f);
			char e[200];
			log_info("control socket: kicked user \"%s\": %u allocations deleted",
			         log_escape(e, sizeof(e), arg, strlen(arg), 128), n);
			fprintf(f, "kicked %s: %u allocations deleted\n", e, n);
		}
	} else if (strcmp(cmd, "config") == 0) {
		config_dump(&s->cfg, f);
	} else if (strcmp(cmd, "reload") == 0) {
		char msg[1024];
		int rc = server_reload(s, "control socket", msg, sizeof(msg));
		if (rc < 0)
			log_err("control socket: %s", msg);
		else
			log_info("control socket: %s", msg);
		fprintf(f, "%s%s\n", rc < 0 ? "error: " : "", msg);
	} else if (strcmp(cmd, "help") == 0)
		fputs(CONTROL_HELP, f);
	else {
		char e[80];
		fprintf(f, "error: unknown command \"%s\"; " CONTROL_HELP,
		        log_escape(e, sizeof(e), cmd, strlen(cmd), 32));
	}
	fclose(f);
}

void server_set_args(struct server *s, int argc, char **argv)
{
	s->argc = argc;
	s->argv = argv;
}

/* SIGUSR2 (coturn's signal): the certificate and key only. Like
 * server_reload, systemd hears RELOADING=1 before and READY=1 after,
 * whatever the outcome: a failed reload keeps the old state serving. */
static void server_reload_tls(struct server *s, const char *why)
{
	service_reloading();
	/* coturn's signal: certificate and key again (renewed files);
	 * connections keep the context they started with */
	char err[512];
	if (!s->tls)
		log_info("%s: TLS is off (no cert): nothing to reload", why);
	else if (tls_server_reload(s->tls, err, sizeof(err)) < 0)
		log_err("%s: TLS not reloaded, the current certificate stays: %s", why, err);
	else
		log_info("%s: TLS certificate and key reloaded (%s)", why, s->cfg.cert);
	service_ready("serving");
}

int server_run(struct server *s)
{
	sigset_t set;
	int sig, rc = 0;

	/* The control socket first: when the first client is answered (and
	 * when systemd hears READY=1), tern ctl works (a test or a script may
	 * ask at once). */
	int cfd = -1;
	if (s->cfg.stats_socket[0]) {
		cfd = control_open(s->cfg.stats_socket);
		if (cfd < 0)
			log_warn("stats-socket '%s': %s (tern stats will not work)", s->cfg.stats_socket,
			         strerror(-cfd));
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		if ((rc = worker_start(&s->workers[i])) < 0) {
			log_err("cannot start worker %u: %s", i, strerror(-rc));
			goto stop;
		}
	log_info("ternd ready: %u workers, realm %s", s->nworkers, s->cfg.realm);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	uint64_t last_decay = net_now_ms();
	char status[CFG_STR + 64];
	snprintf(status, sizeof(status), "serving: %u workers, realm %s", s->nworkers, s->cfg.realm);
	service_ready(status);
	uint64_t wd_ms = service_watchdog_interval_ms(), last_wd = net_now_ms();
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
		int timeout = s->steer || s->draining || s->fastpath ? 1000 : -1;
		if (wd_ms && (timeout < 0 || wd_ms < (uint64_t)timeout))
			timeout = (int)wd_ms;
		int n = poll(p, cfd >= 0 ? 2 : 1, timeout);
		if (net_now_ms() - last_decay >= 1000) {
			if (s->steer)
				steer_decay(s->steer);
			/* the program relays only while this thread is alive */
			if (s->fastpath)
				fastpath_heartbeat(s->fastpath);
			last_decay = net_now_ms();
		}
		/* The main thread's liveness is what the watchdog sees: a wedged
		 * signal loop (no shutdown, no reload) gets the service restarted. */
		if (wd_ms && net_now_ms() - last_wd >= wd_ms) {
			service_watchdog();
			last_wd = net_now_ms();
		}
		if (drain_done(s))
			break;
		if (n <= 0)
			continue;
		if (cfd >= 0 && (p[1].revents & POLLIN))
			control_serve(s, cfd);
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		sig = (int)si.ssi_signo;
		if (sig == SIGUSR1) {
			server_drain(s, "SIGUSR1");
			continue;
		}
		if (sig == SIGUSR2) {
			server_reload_tls(s, "SIGUSR2");
			continue;
		}
		if (sig == SIGHUP) {
			char msg[1024];
			if (server_reload(s, "SIGHUP", msg, sizeof(msg)) < 0)
				log_err("SIGHUP: %s", msg);
			else
				log_info("SIGHUP: %s", msg);
			continue;
		}
		log_info("signal %d: shutting down", sig);
		break;
	}
	service_stopping(); /* a signal, or a drain that is done */
	close(sfd);
stop:
	if (cfd >= 0) {
		close(cfd);
		unlink(s->cfg.stats_socket);
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_stop(&s->workers[i]);
	return rc;
}

static void close_handle(void *ctx, int handle)
{
	close(handle);
}

void server_free(struct server *s)
{
	if (!s)
		return;
	/* the workers' relay sockets close below: no unpinning in a freed map */
	s->sh.steer = NULL;
	steer_free(s->steer);
	s->steer = NULL;
	if (s->workers) {
		for (unsigned i = 0; i < s->nworkers; i++)
			worker_free(&s->workers[i]);
		free(s->workers);
	}
	/* Unused reservations still hold sockets. */
	struct turn_io io = {.relay_close = close_handle};
	turn_shared_free(s->shared, &io);
	/* after the workers: their cores took every channel back */
	s->sh.fastpath = NULL;
	fastpath_close(s->fastpath);
	s->fastpath = NULL;
	auth_free(s->auth);
	if (s->cur_policy && s->cur_policy != &s->policy) {
		policy_free(s->cur_policy);
		free(s->cur_policy);
	}
	policy_free(&s->policy);
	tls_server_free(s->tls);
	free((void *)s->sh.conn_per_src);
	free(s);
}
