/* tern bench: load generator for any TURN server (and, with --raw, for a
 * plain UDP forwarder). This file: options, setup of the allocations,
 * threads, and the final JSON report. The flood is bench_flood.c, the TURN
 * client bench_turn.c, the peer bench_peer.c; docs/BENCH.md is the manual. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "auth/auth.h"
#include "net/udp.h"
#include "stun/stun.h"
#include "tools/tools.h"

#define MAX_ALLOCATIONS 50000
/* --churn/--idle: one descriptor per connection (RLIMIT_NOFILE is raised
 * as far as the hard limit allows) */
#define BENCH_MAX_CONNECTIONS 1000000
#define MAX_THREADS           64
#define MAX_PPS               100e6
#define MAX_SECONDS           (7 * 86400.0)
#define T0_DELAY_NS           20000000ull /* threads start together, 20 ms after setup */

_Atomic int bench_stop;

static void bench_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: tern bench [options] SERVER       (SERVER = ip or ip:port, default port 3478)\n"
	    "       tern bench (--churn | --idle) [--connections C] [options] SERVER   (TCP or TLS)\n"
	    "       tern bench peer --listen ADDR:PORT (--echo | --sink) [--count N] [--seconds S]\n"
	    "\n"
	    "Allocations and credentials:\n"
	    "  --allocations K     allocations, each with its own socket (default 4)\n"
	    "  --user U            long-term user (with --password), or the REST user id (with --secret)\n"
	    "  --password P        long-term password\n"
	    "  --secret S          TURN REST API shared secret (credentials derived locally)\n"
	    "  --peer ADDR:PORT    peer address; allocation i uses PORT+i unless --peers shared\n"
	    "  --peers per-allocation|shared\n"
	    "  --indications       Send/Data indications instead of ChannelData\n"
	    "  --raw               no TURN: plain datagrams straight to SERVER (a forwarder or an echo "
	    "peer)\n"
	    "  --bind IP           local address of the generator's sockets (default: any)\n"
	    "\n"
	    "Load:\n"
	    "  --mode rtt|oneway   rtt (default): the peer echoes, round trips are timed;\n"
	    "                      oneway: the peer sinks and is asked for its count at the end\n"
	    "  --pps N             offered datagrams/s over all allocations (default 1000; 0 = max)\n"
	    "  --seconds S         measured time (default 5)\n"
	    "  --warmup W          discarded time before it (default 1)\n"
	    "  --drain D           wait for late datagrams after it (default 0.5)\n"
	    "  --size B            payload bytes (default 100, %d..%d)\n"
	    "  --sizes B1,B2,...   payload sizes used round-robin (at most %d)\n"
	    "  --burst-us U        send what is due every U microseconds as one burst (default: even)\n"
	    "  --gso               send runs of same-size datagrams as UDP_SEGMENT messages\n"
	    "  --transport udp|tcp|tls  how clients reach the server (default udp); tcp: one connection\n"
	    "                      per allocation, padded ChannelData (peers stay UDP); tls: the same\n"
	    "                      over TLS, one record per frame\n"
	    "  --tls-ca FILE       tls: verify the server's certificate against these CAs (default: no\n"
	    "                      verification)\n"
	    "  --tls-sni NAME      tls: send this server name (and verify it with --tls-ca)\n"
	    "  --tls-max 1.2|1.3   tls: the highest version offered (default 1.3)\n"
	    "  --threads T         generator threads; allocations are split over them (default 1)\n"
	    "  --live / --quiet    force / suppress the once-a-second line (default: on a terminal)\n"
	    "\n"
	    "Connections (TCP; no --peer needed):\n"
	    "  --churn             C clients each repeat: connect, Allocate (401, then with credentials),\n"
	    "                      Refresh LIFETIME 0, close; cycles/s, failures, cycle latency over\n"
	    "                      --seconds after --warmup\n"
	    "  --idle              open C connections that each hold an allocation, hold them for\n"
	    "                      --seconds (refreshed at half their lifetime), then close them\n"
	    "  --connections C     concurrent clients (--churn) or connections held (--idle), default 1000\n"
	    "  --sources LIST      local addresses, used in turn: IP,IP,... or IP+N (N consecutive ones,\n"
	    "                      e.g. 127.0.0.2+16); spreads ephemeral ports and per-address limits\n"
	    "  --close fin|rst     end a churn cycle with an orderly close (default fin: TIME_WAIT stays\n"
	    "                      on the client) or a reset (SO_LINGER 0)\n"
	    "  --rate N            churn: cycles started per second at most (default 0: each client\n"
	    "                      starts again as soon as its cycle ends)\n"
	    "  --timeout S         limit of one cycle or setup (default 5)\n"
	    "  --window W          idle: setups in flight at most (default 256)\n"
	    "  --tls-resume        churn over TLS: each client resumes the session (ticket) of its\n"
	    "                      previous connection: abbreviated handshakes\n"
	    "  --server-pid PID    report this process's CPU time per cycle (churn) or VmRSS per\n"
	    "                      connection (idle)\n"
	    "  ternd allows 64 connections per source address by default: start it with\n"
	    "  --max-connections-per-ip >= C / (number of --sources).\n"
	    "\n"
	    "Prints one JSON line on stdout at the end; see docs/BENCH.md.\n",
	    BENCH_MIN_SIZE, BENCH_MAX_SIZE, BENCH_MAX_SIZES);
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!s[0] || *end || errno || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	if (!s[0] || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_sizes(const char *s, struct bench_cfg *cfg)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	cfg->nsizes = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->nsizes == BENCH_MAX_SIZES ||
		    parse_uint(tok, BENCH_MIN_SIZE, BENCH_MAX_SIZE, &cfg->sizes[cfg->nsizes]) < 0)
			return -EINVAL;
		cfg->nsizes++;
	}
	return cfg->nsizes ? 0 : -EINVAL;
}

/* "IP,IP,..." or "IP+N": N consecutive addresses from IP (IPv4: the last
 * octets count up; IPv6: the last 16 bits). */
static int parse_sources(const char *s, struct bench_cfg *cfg)
{
	char buf[1024];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	cfg->nsources = 0;
	char *plus = strchr(buf, '+');
	if (plus) {
		unsigned n;
		*plus = 0;
		union tern_addr a;
		if (parse_uint(plus + 1, 1, BENCH_MAX_SOURCES, &n) < 0 || addr_parse(&a, buf, 0) < 0)
			return -EINVAL;
		for (unsigned i = 0; i < n; i++) {
			union tern_addr x = a;
			if (x.sa.sa_family == AF_INET) {
				uint32_t v = ntohl(a.v4.sin_addr.s_addr) + i;
				x.v4.sin_addr.s_addr = htonl(v);
			} else {
				uint16_t v = (uint16_t)((a.v6.sin6_addr.s6_addr[14] << 8 |
				                         a.v6.sin6_addr.s6_addr[15]) +
				                        i);
				x.v6.sin6_addr.s6_addr[14] = (uint8_t)(v >> 8);
				x.v6.sin6_addr.s6_addr[15] = (uint8_t)v;
			}
			cfg->sources[cfg->nsources++] = x;
		}
		return 0;
	}
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->nsources == BENCH_MAX_SOURCES ||
		    addr_parse(&cfg->sources[cfg->nsources], tok, 0) < 0)
			return -EINVAL;
		cfg->nsources++;
	}
	return cfg->nsources ? 0 : -EINVAL;
}

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static void raise_nofile(unsigned need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void json_us(const char *name, uint64_t ns, bool have)
{
	if (have)
		printf(",\"%s\":%.1f", name, (double)ns / 1e3);
	else
		printf(",\"%s\":null", name);
}

struct report {
	uint64_t sent, received;
	bool have_received;
	double seconds;
	struct bench_stats st; /* summed */
	struct bench_sink_count sink;
};

static void print_report(const struct bench_cfg *cfg, const struct report *r)
{
	char srv[TERN_ADDRSTRLEN];
	const struct bench_stats *st = &r->st;
	double mean = 0;
	for (unsigned i = 0; i < cfg->nsizes; i++)
		mean += cfg->sizes[i];
	mean /= cfg->nsizes;
	double rate = r->seconds > 0 ? (double)r->received / r->seconds : 0;
	double loss =
	    r->sent && r->received < r->sent ? (double)(r->sent - r->received) / (double)r->sent : 0;
	uint64_t errors =
	    st->send_failed + st->recv_errors + st->bad + st->maint_errors + (r->have_received ? 0 : 1);
	bool rtt = cfg->mode == BENCH_RTT && st->rtt.count > 0;

	printf("{\"server\":\"%s\",\"mode\":\"%s\",\"allocations\":%u,\"size\":%g,\"pps_offered\":%.0f,"
	       "\"seconds\":%.3f,\"sent\":%" PRIu64,
	       addr_format(&cfg->server, srv, sizeof(srv), true), cfg->mode == BENCH_RTT ? "rtt" : "oneway",
	       cfg->allocations, mean, cfg->pps, r->seconds, r->sent);
	if (r->have_received)
		printf(",\"received\":%" PRIu64 ",\"delivered_rate\":%.1f,\"loss\":%.6f", r->received, rate,
		       loss);
	else
		printf(",\"received\":null,\"delivered_rate\":null,\"loss\":null");
	json_us("rtt_p50_us", hist_quantile(&st->rtt, 0.5), rtt);
	json_us("rtt_p99_us", hist_quantile(&st->rtt, 0.99), rtt);
	json_us("rtt_p999_us", hist_quantile(&st->rtt, 0.999), rtt);
	printf(",\"errors\":%" PRIu64, errors);
	/* details */
	printf(",\"run\":\"%08" PRIx32 "\",\"transport\":\"%s\",\"sizes\":[", cfg->run,
	       cfg->raw           ? "raw"
	       : cfg->indications ? "indication"
	                          : "channel");
	for (unsigned i = 0; i < cfg->nsizes; i++)
		printf("%s%u", i ? "," : "", cfg->sizes[i]);
	printf("],\"client_transport\":\"%s\"", cfg->tls ? "tls" : cfg->tcp ? "tcp" : "udp");
	printf(",\"threads\":%u,\"warmup\":%.3f,\"burst_us\":%u,\"gso\":%s,\"sent_rate\":%.1f", cfg->threads,
	       cfg->warmup, cfg->burst_us, cfg->gso ? "true" : "false",
	       r->seconds > 0 ? (double)r->sent / r->seconds : 0.0);
	json_us("rtt_min_us", st->rtt.min, rtt);
	json_us("rtt_mean_us", hist_mean(&st->rtt), rtt);
	json_us("rtt_max_us", st->rtt.max, rtt);
	printf(",\"warm_sent\":%" PRIu64 ",\"warm_received\":%" PRIu64, st->sent_warm,
	       cfg->mode == BENCH_ONEWAY ? r->sink.warm : st->recv_warm);
	printf(",\"send_blocked\":%" PRIu64 ",\"send_failed\":%" PRIu64 ",\"recv_errors\":%" PRIu64
	       ",\"bad\":%" PRIu64 ",\"refreshes\":%" PRIu64 ",\"refresh_errors\":%" PRIu64
	       ",\"send_calls\":%" PRIu64 ",\"wakeups\":%" PRIu64,
	       st->send_blocked, st->send_failed, st->recv_errors, st->bad, st->maint_ok, st->maint_errors,
	       st->send_calls, st->wakeups);
	if (cfg->mode == BENCH_ONEWAY)
		printf(",\"peer_bytes\":%" PRIu64 ",\"echoes_received\":%" PRIu64, r->sink.bytes,
		       st->received);
	printf("}\n");
	fflush(stdout);
}

/* Everything after option parsing: allocations, threads, report. */
static int run(struct bench_cfg *cfg)
{
	struct bench_alloc *allocs = calloc(cfg->allocations, sizeof(*allocs));
	struct bench_alloc **order = calloc(cfg->allocations, sizeof(*order));
	struct bench_thread *th = calloc(cfg->threads, sizeof(*th));
	pthread_t *tids = calloc(cfg->threads, sizeof(*tids));
	struct report rep;
	unsigned made = 0, started = 0;
	int ret = 1;

	memset(&rep, 0, sizeof(rep));
	if (!allocs || !order || !th || !tids) {
		fprintf(stderr, "tern bench: out of memory\n");
		goto out;
	}
	raise_nofile(cfg->allocations + 64);
	for (unsigned i = 0; i < cfg->allocations; i++) {
		struct bench_alloc *a = &allocs[i];
		a->index = i;
		a->fd = -1;
		a->channel = (uint16_t)(TURN_CHANNEL_MIN + i % (TURN_CHANNEL_MAX - TURN_CHANNEL_MIN + 1));
		if (cfg->peer.sa.sa_family) {
			a->peer = cfg->peer;
			if (!cfg->peers_shared)
				addr_set_port(&a->peer, (uint16_t)(addr_port(&cfg->peer) + i));
		}
		made++;
		if (bench_setup(cfg, a) != 0)
			goto out;
		bench_frame_init(cfg, a);
		if (bench_stop)
			goto out;
	}

	/* Allocation i goes to thread i % T; each thread's pacing share is
	 * proportional to its allocations. */
	unsigned pos = 0;
	for (unsigned t = 0; t < cfg->threads; t++) {
		th[t].allocs = &order[pos];
		for (unsigned i = t; i < cfg->allocations; i += cfg->threads)
			order[pos++] = &allocs[i];
		th[t].nallocs = (unsigned)(&order[pos] - th[t].allocs);
		th[t].id = t;
		th[t].cfg = cfg;
		th[t].pps = cfg->pps * th[t].nallocs / cfg->allocations;
		th[t].all = th;
		th[t].nthreads = cfg->threads;
	}
	uint64_t t0 = bench_now_ns() + T0_DELAY_NS;
	for (unsigned t = 0; t < cfg->threads; t++)
		th[t].t0_ns = t0;
	for (started = 1; started < cfg->threads; started++) {
		int e = pthread_create(&tids[started], NULL, bench_thread_run, &th[started]);
		if (e) {
			fprintf(stderr, "tern bench: thread: %s\n", strerror(e));
			bench_stop = 1;
			break;
		}
	}
	bench_thread_run(&th[0]);
	for (unsigned t = 1; t < started; t++)
		pthread_join(tids[t], NULL);

	uint64_t meas_end = 0;
	hist_reset(&rep.st.rtt);
	for (unsigned t = 0; t < cfg->threads; t++) {
		if (th[t].err < 0) {
			fprintf(stderr, "tern bench: thread %u: %s\n", t, strerror(-th[t].err));
			goto out;
		}
		struct bench_stats *s = &th[t].st;
		rep.st.sent += s->sent;
		rep.st.sent_warm += s->sent_warm;
		rep.st.send_blocked += s->send_blocked;
		rep.st.send_failed += s->send_failed;
		rep.st.received += s->received;
		rep.st.recv_warm += s->recv_warm;
		rep.st.bad += s->bad;
		rep.st.recv_errors += s->recv_errors;
		rep.st.maint_errors += s->maint_errors;
		rep.st.maint_ok += s->maint_ok;
		rep.st.wakeups += s->wakeups;
		rep.st.send_calls += s->send_calls;
		hist_merge(&rep.st.rtt, &s->rtt);
		if (th[t].meas_end_ns > meas_end)
			meas_end = th[t].meas_end_ns;
	}
	uint64_t t_meas = t0 + (uint64_t)(cfg->warmup * 1e9);
	rep.seconds = meas_end > t_meas ? (double)(meas_end - t_meas) / 1e9 : 0;
	rep.sent = rep.st.sent;
	rep.received = rep.st.received;
	rep.have_received = true;
	ret = 0;
	if (cfg->mode == BENCH_ONEWAY) {
		char p[TERN_ADDRSTRLEN];
		/* Ask until every measured datagram is counted or the drain is
		 * over: datagrams still queued in the relay arrive meanwhile. */
		uint64_t deadline = bench_now_ns() + (uint64_t)(cfg->drain * 1e9);
		int r;
		for (;;) {
			r = bench_query_sink(&cfg->peer, cfg->run, &rep.sink);
			if (r < 0 || rep.sink.measured >= rep.sent || bench_now_ns() >= deadline ||
			    bench_stop)
				break;
			struct timespec pause = {.tv_nsec = 50000000};
			nanosleep(&pause, NULL);
		}
		if (r < 0) {
			fprintf(stderr,
			        "tern bench: peer %s did not answer the count query (%s): is it a `tern "
			        "bench peer --sink`?\n",
			        addr_format(&cfg->peer, p, sizeof(p), true), strerror(-r));
			rep.have_received = false;
			ret = 1;
		}
		rep.received = rep.sink.measured;
	}
	print_report(cfg, &rep);
out:
	for (unsigned i = 0; i < made; i++)
		bench_teardown(cfg, &allocs[i]);
	free(allocs);
	free(order);
	free(th);
	free(tids);
	return ret;
}

/* --churn / --idle: what they need and what they refuse. 0, or the exit
 * status of a usage error (the line is printed). */
static int conn_mode_check(struct bench_cfg *cfg, bool transport_given, bool datagram_opts, const char *user,
                           const char *password, const char *secret)
{
	const char *mode = cfg->kind == BENCH_CHURN ? "--churn" : "--idle";
	if (datagram_opts) {
		fprintf(stderr,
		        "tern bench: %s opens connections and relays nothing: no --peer, --raw, "
		        "--indications or --gso\n",
		        mode);
		return 2;
	}
	if (transport_given && !cfg->tcp) {
		fprintf(stderr, "tern bench: %s runs over TCP or TLS (--transport tcp|tls)\n", mode);
		return 2;
	}
	if (cfg->tls_resume && (!cfg->tls || cfg->kind != BENCH_CHURN)) {
		fprintf(stderr, "tern bench: --tls-resume goes with --churn --transport tls\n");
		return 2;
	}
	if (!secret && (!user || !password)) {
		fprintf(stderr,
		        "tern bench: credentials needed: --user U --password P, or --secret S [--user U]\n");
		return 2;
	}
	if (secret && password) {
		fprintf(stderr, "tern bench: give --password or --secret, not both\n");
		return 2;
	}
	if (cfg->kind == BENCH_IDLE && cfg->threads > 1) {
		fprintf(stderr, "tern bench: --idle runs on one thread (no --threads)\n");
		return 2;
	}
	if (cfg->threads > cfg->connections) {
		fprintf(stderr, "tern bench: --threads %u is more than --connections %u\n", cfg->threads,
		        cfg->connections);
		return 2;
	}
	if (cfg->nsources == 0) {
		/* --bind, or no bind() at all: the kernel picks the address */
		cfg->nsources = 1;
		if (!addr_is_any(&cfg->bind))
			cfg->sources[0] = cfg->bind;
		else
			memset(&cfg->sources[0], 0, sizeof(cfg->sources[0]));
	}
	for (unsigned i = 0; i < cfg->nsources; i++) {
		if (cfg->sources[i].sa.sa_family &&
		    cfg->sources[i].sa.sa_family != cfg->server.sa.sa_family) {
			fprintf(stderr, "tern bench: --sources: every address must be of SERVER's family\n");
			return 2;
		}
	}
	cfg->tcp = true;
	cfg->xprt = cfg->tls ? &bench_xprt_tls : &bench_xprt_tcp;
	return 0;
}

/* The datagram modes: what they need. 0, or the exit status (the line is
 * printed). */
static int flood_check(struct bench_cfg *cfg, const char *user, const char *password, const char *secret)
{
	if (cfg->threads > cfg->allocations) {
		fprintf(stderr, "tern bench: --threads %u is more than --allocations %u\n", cfg->threads,
		        cfg->allocations);
		return 2;
	}
	bool need_peer = !cfg->raw || cfg->mode == BENCH_ONEWAY;
	if (need_peer && !cfg->peer.sa.sa_family) {
		fprintf(stderr, "tern bench: --peer ADDR:PORT is required%s\n",
		        cfg->raw ? " in oneway mode (the sink to ask for its count)"
		                 : " (where the relay sends)");
		return 2;
	}
	if (!cfg->raw && !cfg->peers_shared &&
	    (unsigned)addr_port(&cfg->peer) + cfg->allocations - 1 > 65535) {
		fprintf(stderr,
		        "tern bench: --peer port + --allocations goes past 65535 (or use --peers shared)\n");
		return 2;
	}
	if (cfg->raw && (cfg->indications || user || password || secret)) {
		fprintf(stderr, "tern bench: --raw sends plain UDP: no --indications or credentials\n");
		return 2;
	}
	if (!cfg->raw && !secret && (!user || !password)) {
		fprintf(stderr,
		        "tern bench: credentials needed: --user U --password P, or --secret S [--user U]\n");
		return 2;
	}
	if (secret && password) {
		fprintf(stderr, "tern bench: give --password or --secret, not both\n");
		return 2;
	}
	if (cfg->tcp && (cfg->gso || cfg->raw)) {
		fprintf(stderr, "tern bench: --transport %s: no --gso or --raw (those are UDP)\n",
		        cfg->tls ? "tls" : "tcp");
		return 2;
	}
	if (cfg->tls_resume) {
		fprintf(stderr, "tern bench: --tls-resume goes with --churn --transport tls\n");
		return 2;
	}
	if (cfg->gso && !udp_probe_gso()) {
		fprintf(stderr, "tern bench: --gso: this kernel refuses UDP_SEGMENT\n");
		return 1;
	}
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	enum {
		O_ALLOC = 256,
		O_USER,
		O_PASS,
		O_SECRET,
		O_PEER,
		O_PEERS,
		O_IND,
		O_RAW,
		O_BIND,
		O_MODE,
		O_PPS,
		O_SECONDS,
		O_WARMUP,
		O_DRAIN,
		O_SIZE,
		O_SIZES,
		O_BURST,
		O_GSO,
		O_TRANSPORT,
		O_THREADS,
		O_LIVE,
		O_QUIET,
		O_CHURN,
		O_IDLE,
		O_CONNS,
		O_SOURCES,
		O_CLOSE,
		O_RATE,
		O_TIMEOUT,
		O_WINDOW,
		O_SPID,
		O_TLS_CA,
		O_TLS_SNI,
		O_TLS_RESUME,
		O_TLS_MAX
	};
	static const struct option opts[] = {
	    {"allocations", required_argument, NULL, O_ALLOC},
	    {"user", required_argument, NULL, O_USER},
	    {"password", required_argument, NULL, O_PASS},
	    {"secret", required_argument, NULL, O_SECRET},
	    {"peer", required_argument, NULL, O_PEER},
	    {"peers", required_argument, NULL, O_PEERS},
	    {"indications", no_argument, NULL, O_IND},
	    {"raw", no_argument, NULL, O_RAW},
	    {"bind", required_argument, NULL, O_BIND},
	    {"mode", required_argument, NULL, O_MODE},
	    {"pps", required_argument, NULL, O_PPS},
	    {"seconds", required_argument, NULL, O_SECONDS},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"drain", required_argument, NULL, O_DRAIN},
	    {"size", required_argument, NULL, O_SIZE},
	    {"sizes", required_argument, NULL, O_SIZES},
	    {"burst-us", required_argument, NULL, O_BURST},
	    {"gso", no_argument, NULL, O_GSO},
	    {"transport", required_argument, NULL, O_TRANSPORT},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"live", no_argument, NULL, O_LIVE},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"churn", no_argument, NULL, O_CHURN},
	    {"idle", no_argument, NULL, O_IDLE},
	    {"connections", required_argument, NULL, O_CONNS},
	    {"sources", required_argument, NULL, O_SOURCES},
	    {"close", required_argument, NULL, O_CLOSE},
	    {"rate", required_argument, NULL, O_RATE},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"window", required_argument, NULL, O_WINDOW},
	    {"server-pid", required_argument, NULL, O_SPID},
	    {"tls-ca", required_argument, NULL, O_TLS_CA},
	    {"tls-sni", required_argument, NULL, O_TLS_SNI},
	    {"tls-resume", no_argument, NULL, O_TLS_RESUME},
	    {"tls-max", required_argument, NULL, O_TLS_MAX},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_cfg cfg = {
	    .mode = BENCH_RTT,
	    .allocations = 4,
	    .threads = 1,
	    .pps = 1000,
	    .seconds = 5,
	    .warmup = 1,
	    .drain = 0.5,
	    .sizes = {100},
	    .nsizes = 1,
	    .connections = 1000,
	    .timeout = 5,
	    .window = 256,
	};
	/* a *_given flag per option the connection modes refuse or change */
	bool transport_given = false, peer_given = false, flood_only = false;
	unsigned pid_arg = 0;
	const char *user = NULL, *password = NULL, *secret = NULL, *bind_s = NULL;
	int live = -1, c, ret;
	char rest_user[320], rest_pass[64];

	if (argc >= 2 && strcmp(argv[1], "peer") == 0)
		return cmd_bench_peer(argc - 1, argv + 1);

	optind = 0;
	opterr = 0;
	int li = -1;
	while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
		int bad = 0;
		switch (c) {
		case O_ALLOC:
			bad = parse_uint(optarg, 1, MAX_ALLOCATIONS, &cfg.allocations);
			break;
		case O_USER:
			user = optarg;
			break;
		case O_PASS:
			password = optarg;
			break;
		case O_SECRET:
			secret = optarg;
			break;
		case O_PEER:
			peer_given = true;
			bad = addr_parse(&cfg.peer, optarg, 0) < 0 || addr_port(&cfg.peer) == 0 ? -EINVAL : 0;
			break;
		case O_PEERS:
			if (strcmp(optarg, "shared") == 0)
				cfg.peers_shared = true;
			else if (strcmp(optarg, "per-allocation") == 0)
				cfg.peers_shared = false;
			else
				bad = -EINVAL;
			break;
		case O_IND:
			flood_only = true;
			cfg.indications = true;
			break;
		case O_RAW:
			flood_only = true;
			cfg.raw = true;
			break;
		case O_BIND:
			bind_s = optarg;
			break;
		case O_MODE:
			if (strcmp(optarg, "rtt") == 0)
				cfg.mode = BENCH_RTT;
			else if (strcmp(optarg, "oneway") == 0)
				cfg.mode = BENCH_ONEWAY;
			else
				bad = -EINVAL;
			break;
		case O_PPS:
			bad = parse_double(optarg, 0, MAX_PPS, &cfg.pps);
			break;
		case O_SECONDS:
			bad = parse_double(optarg, 0.001, MAX_SECONDS, &cfg.seconds);
			break;
		case O_WARMUP:
			bad = parse_double(optarg, 0, MAX_SECONDS, &cfg.warmup);
			break;
		case O_DRAIN:
			bad = parse_double(optarg, 0, 60, &cfg.drain);
			break;
		case O_SIZE:
			cfg.nsizes = 1;
			bad = parse_uint(optarg, BENCH_MIN_SIZE, BENCH_MAX_SIZE, &cfg.sizes[0]);
			break;
		case O_SIZES:
			bad = parse_sizes(optarg, &cfg);
			break;
		case O_BURST:
			bad = parse_uint(optarg, 0, 10000000, &cfg.burst_us);
			break;
		case O_GSO:
			flood_only = true;
			cfg.gso = true;
			break;
		case O_TRANSPORT:
			transport_given = true;
			cfg.tcp = cfg.tls = false;
			if (strcmp(optarg, "tcp") == 0)
				cfg.tcp = true;
			else if (strcmp(optarg, "tls") == 0)
				cfg.tcp = cfg.tls = true;
			else if (strcmp(optarg, "udp") != 0)
				bad = -1;
			break;
		case O_THREADS:
			bad = parse_uint(optarg, 1, MAX_THREADS, &cfg.threads);
			break;
		case O_LIVE:
			live = 1;
			break;
		case O_QUIET:
			live = 0;
			break;
		case O_CHURN:
		case O_IDLE:
			if (cfg.kind != BENCH_FLOOD) {
				fprintf(stderr, "tern bench: --churn and --idle are two modes: give one\n");
				return 2;
			}
			cfg.kind = c == O_CHURN ? BENCH_CHURN : BENCH_IDLE;
			break;
		case O_CONNS:
			bad = parse_uint(optarg, 1, BENCH_MAX_CONNECTIONS, &cfg.connections);
			break;
		case O_SOURCES:
			bad = parse_sources(optarg, &cfg);
			break;
		case O_CLOSE:
			if (strcmp(optarg, "rst") == 0)
				cfg.close_rst = true;
			else if (strcmp(optarg, "fin") != 0)
				bad = -EINVAL;
			break;
		case O_RATE:
			bad = parse_double(optarg, 0, MAX_PPS, &cfg.rate);
			break;
		case O_TIMEOUT:
			bad = parse_double(optarg, 0.01, 3600, &cfg.timeout);
			break;
		case O_WINDOW:
			bad = parse_uint(optarg, 1, BENCH_MAX_CONNECTIONS, &cfg.window);
			break;
		case O_SPID:
			bad = parse_uint(optarg, 1, 0x7fffffff, &pid_arg);
			cfg.server_pid = pid_arg;
			break;
		case O_TLS_CA:
			cfg.tls_ca = optarg;
			break;
		case O_TLS_SNI:
			cfg.tls_sni = optarg;
			break;
		case O_TLS_RESUME:
			cfg.tls_resume = true;
			break;
		case O_TLS_MAX:
			if (strcmp(optarg, "1.2") == 0)
				cfg.tls_max = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				cfg.tls_max = TLS1_3_VERSION;
			else
				bad = -EINVAL;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "tern bench: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "tern bench: unknown option '%s' (see tern bench --help)\n",
			        argv[optind - 1]);
			return 2;
		}
		if (bad) {
			/* the option's name, whether its value came as "--x=v" or "--x v" */
			fprintf(stderr, "tern bench: --%s: invalid value '%s' (see tern bench --help)\n",
			        li >= 0 ? opts[li].name : "?", optarg);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tern bench: %s (see tern bench --help)\n",
		        optind >= argc ? "SERVER is required" : "one SERVER only");
		return 2;
	}
	if (addr_parse(&cfg.server, argv[optind], 3478) < 0 || addr_port(&cfg.server) == 0) {
		fprintf(stderr, "tern bench: SERVER: invalid address '%s' (ip or ip:port, [v6]:port)\n",
		        argv[optind]);
		return 2;
	}
	if (bind_s) {
		if (addr_parse(&cfg.bind, bind_s, 0) < 0 ||
		    cfg.bind.sa.sa_family != cfg.server.sa.sa_family) {
			fprintf(stderr,
			        "tern bench: --bind: invalid address '%s' (an IP of SERVER's family)\n",
			        bind_s);
			return 2;
		}
	} else {
		memset(&cfg.bind, 0, sizeof(cfg.bind));
		cfg.bind.sa.sa_family = cfg.server.sa.sa_family;
	}
	int chk = cfg.kind == BENCH_FLOOD ? flood_check(&cfg, user, password, secret)
	                                  : conn_mode_check(&cfg, transport_given, peer_given || flood_only,
	                                                    user, password, secret);
	if (chk)
		return chk;
	if ((cfg.tls_ca || cfg.tls_sni || cfg.tls_max) && !cfg.tls) {
		fprintf(stderr, "tern bench: --tls-ca, --tls-sni and --tls-max go with --transport tls\n");
		return 2;
	}
	if (cfg.tls && bench_tls_init(&cfg) < 0)
		return 1;
	if (cfg.kind == BENCH_FLOOD && (cfg.nsources || cfg.server_pid || cfg.rate > 0)) {
		fprintf(stderr, "tern bench: --sources, --rate and --server-pid go with --churn or --idle\n");
		return 2;
	}

	if (getrandom(&cfg.run, sizeof(cfg.run), 0) != sizeof(cfg.run))
		cfg.run = (uint32_t)bench_now_ns() ^ (uint32_t)getpid();
	cfg.live = live >= 0 ? live == 1 : isatty(STDERR_FILENO) == 1;
	/* The allocation outlives the run: no Refresh is needed for short
	 * runs, and long ones refresh every 120 s anyway. */
	cfg.lifetime = 600;
	cfg.username = user;
	cfg.password = password;
	if (secret) {
		double ttl = 86400 + cfg.warmup + cfg.seconds;
		int r = auth_rest_credentials(secret, user ? user : "", (uint64_t)time(NULL), (uint64_t)ttl,
		                              rest_user, sizeof(rest_user), rest_pass, sizeof(rest_pass));
		if (r < 0) {
			fprintf(stderr, "tern bench: REST credentials: %s\n", strerror(-r));
			return 2;
		}
		cfg.username = rest_user;
		cfg.password = rest_pass;
	}
	if (cfg.gso)
		fprintf(stderr,
		        "tern bench: --gso: a relay socket with UDP_GRO receives these as coalesced "
		        "super-packets, which real clients do not send; report GSO results as such\n");

	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: waits return at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cfg.kind == BENCH_FLOOD) {
		ret = run(&cfg);
	} else {
		raise_nofile(cfg.connections + 64);
		ret = bench_churn_run(&cfg);
	}
	OPENSSL_cleanse(rest_pass, sizeof(rest_pass));
	if (cfg.tls_ctx)
		SSL_CTX_free(cfg.tls_ctx);
	return ret;
}
