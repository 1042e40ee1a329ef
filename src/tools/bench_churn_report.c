/* tern bench --churn / --idle: the JSON report. */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "tools/bench_churn.h"

static const char *const step_name[S_STEPS] = {"free",     "backoff", "connect", "challenge",
                                               "allocate", "refresh", "hold",    "dead"};
static const char *const kind_name[F_KINDS] = {"connect_refused",  "no_local_port", "connect_error",
                                               "closed_by_server", "timeout",       "error_answer",
                                               "bad_answer"};

void churn_count_code(struct cstats *st, int code)
{
	for (unsigned i = 0; i < st->ncodes; i++)
		if (st->codes[i].code == code) {
			st->codes[i].n++;
			return;
		}
	if (st->ncodes < CHURN_MAX_CODES) {
		st->codes[st->ncodes].code = code;
		st->codes[st->ncodes++].n = 1;
	} else {
		st->codes_other++;
	}
}

/* TLS: handshakes by kind, over the whole run (warm-up included) */
static void json_tls(const struct bench_cfg *cfg, const struct cstats *st)
{
	if (cfg->tls)
		printf(",\"tls_resume\":%s,\"tls_full_handshakes\":%" PRIu64
		       ",\"tls_resumed_handshakes\":%" PRIu64,
		       cfg->tls_resume ? "true" : "false", st->tls_full, st->tls_resumed);
	if (cfg->tls && st->tls_version)
		printf(",\"tls_version\":\"%s\"", st->tls_version);
}

static void json_lat(const char *name, const struct hist *h, double q)
{
	if (h->count)
		printf(",\"%s\":%.1f", name, (double)hist_quantile(h, q) / 1e3);
	else
		printf(",\"%s\":null", name);
}

static void json_failures(const struct cstats *st)
{
	printf(",\"failures_by_kind\":{");
	for (unsigned k = 0; k < F_KINDS; k++)
		printf("%s\"%s\":%" PRIu64, k ? "," : "", kind_name[k], st->fail[k]);
	printf("},\"failures_by_step\":{");
	bool first = true;
	for (unsigned s = S_CONNECT; s < S_DEAD; s++) {
		if (s == S_HOLD && !st->established)
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",", step_name[s], st->fail_step[s]);
		first = false;
	}
	printf("},\"error_codes\":{");
	for (unsigned i = 0; i < st->ncodes; i++)
		printf("%s\"%d\":%" PRIu64, i ? "," : "", st->codes[i].code, st->codes[i].n);
	if (st->codes_other)
		printf("%s\"other\":%" PRIu64, st->ncodes ? "," : "", st->codes_other);
	printf("}");
}

void churn_print(const struct bench_cfg *cfg, const struct churn_samples *smp, const struct cstats *st,
                 double secs)
{
	char srv[TERN_ADDRSTRLEN];
	uint64_t failures = 0;
	for (unsigned k = 0; k < F_KINDS; k++)
		failures += st->fail[k];
	long hz = sysconf(_SC_CLK_TCK);
	double cli_s = smp->have[1] ? (double)(smp->cli_ns[1] - smp->cli_ns[0]) / 1e9 : 0;

	printf("{\"server\":\"%s\",\"mode\":\"churn\",\"client_transport\":\"%s\",\"connections\":%u,"
	       "\"seconds\":%.3f,\"cycles\":%" PRIu64 ",\"cycle_rate\":%.1f,\"failures\":%" PRIu64
	       ",\"failure_ratio\":%.6f",
	       addr_format(&cfg->server, srv, sizeof(srv), true), cfg->xprt->name, cfg->connections, secs,
	       st->cycles, secs > 0 ? (double)st->cycles / secs : 0.0, failures,
	       st->cycles + failures ? (double)failures / (double)(st->cycles + failures) : 0.0);
	json_lat("cycle_p50_us", &st->lat, 0.5);
	json_lat("cycle_p90_us", &st->lat, 0.9);
	json_lat("cycle_p99_us", &st->lat, 0.99);
	json_lat("cycle_p999_us", &st->lat, 0.999);
	printf(",\"errors\":%" PRIu64, failures);
	json_failures(st);
	printf(",\"run\":\"%08" PRIx32 "\",\"close\":\"%s\",\"rate_offered\":%.0f,\"sources\":%u,"
	       "\"threads\":%u,\"warmup\":%.3f,\"timeout\":%.3f",
	       cfg->run, cfg->close_rst ? "rst" : "fin", cfg->rate, cfg->nsources, cfg->threads, cfg->warmup,
	       cfg->timeout);
	json_lat("cycle_min_us", &st->lat, 0);
	if (st->lat.count)
		printf(",\"cycle_mean_us\":%.1f", (double)hist_mean(&st->lat) / 1e3);
	else
		printf(",\"cycle_mean_us\":null");
	json_lat("cycle_max_us", &st->lat, 1);
	printf(",\"warm_cycles\":%" PRIu64 ",\"warm_failures\":%" PRIu64 ",\"late_cycles\":%" PRIu64
	       ",\"late_failures\":%" PRIu64 ",\"starts_missed\":%" PRIu64 ",\"connects\":%" PRIu64
	       ",\"wakeups\":%" PRIu64,
	       st->warm_cycles, st->warm_failures, st->late_cycles, st->late_failures, st->starts_missed,
	       st->connects, st->wakeups);
	json_tls(cfg, st);
	printf(",\"client_cpu_s\":%.3f,\"client_cpu_us_per_cycle\":", cli_s);
	if (st->cycles)
		printf("%.2f", cli_s * 1e6 / (double)st->cycles);
	else
		printf("null");
	if (cfg->server_pid > 0 && smp->have[1] && hz > 0) {
		double srv_s = (double)(smp->srv_ticks[1] - smp->srv_ticks[0]) / (double)hz;
		printf(",\"server_pid\":%ld,\"server_cpu_s\":%.3f,\"server_cpu_us_per_cycle\":",
		       cfg->server_pid, srv_s);
		if (st->cycles)
			printf("%.2f", srv_s * 1e6 / (double)st->cycles);
		else
			printf("null");
	}
	printf("}\n");
	fflush(stdout);
}

void churn_print_idle(const struct bench_cfg *cfg, const struct churn_samples *smp, uint64_t setup_ns,
                      const struct cstats *st, double hold_s)
{
	char srv[TERN_ADDRSTRLEN];
	uint64_t failures = 0;
	for (unsigned k = 0; k < F_KINDS; k++)
		failures += st->fail[k];
	double setup_s = (double)setup_ns / 1e9;
	printf("{\"server\":\"%s\",\"mode\":\"idle\",\"client_transport\":\"%s\",\"connections\":%u,"
	       "\"established\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"held_at_end\":%" PRIu64
	       ",\"setup_seconds\":%.3f,\"allocates_per_s\":%.1f,\"hold_seconds\":%.3f",
	       addr_format(&cfg->server, srv, sizeof(srv), true), cfg->xprt->name, cfg->connections,
	       st->established, failures, st->established - st->dropped, setup_s,
	       setup_s > 0 ? (double)st->established / setup_s : 0.0, hold_s);
	json_lat("setup_p50_us", &st->lat, 0.5);
	json_lat("setup_p99_us", &st->lat, 0.99);
	printf(",\"errors\":%" PRIu64, failures + st->refresh_errors);
	json_failures(st);
	printf(",\"refreshes\":%" PRIu64 ",\"refresh_errors\":%" PRIu64 ",\"dropped\":%" PRIu64
	       ",\"run\":\"%08" PRIx32
	       "\",\"sources\":%u,\"window\":%u,\"timeout\":%.3f,\"connects\":%" PRIu64,
	       st->refreshes, st->refresh_errors, st->dropped, cfg->run, cfg->nsources, cfg->window,
	       cfg->timeout, st->connects);
	json_tls(cfg, st);
	if (cfg->server_pid > 0) {
		const long *k = smp->rss_kb;
		uint64_t held = st->established - st->dropped;
		printf(",\"server_pid\":%ld,\"server_rss_kb_before\":%ld,\"server_rss_kb_established\":%ld,"
		       "\"server_rss_kb_after\":%ld,\"rss_bytes_per_connection\":",
		       cfg->server_pid, k[0], k[1], k[2]);
		if (k[0] >= 0 && k[2] >= 0 && held)
			printf("%.0f", (double)(k[2] - k[0]) * 1024.0 / (double)held);
		else
			printf("null");
	}
	printf("}\n");
	fflush(stdout);
}

void churn_stats_add(struct cstats *dst, const struct cstats *s)
{
	dst->cycles += s->cycles;
	dst->warm_cycles += s->warm_cycles;
	dst->late_cycles += s->late_cycles;
	for (unsigned k = 0; k < F_KINDS; k++)
		dst->fail[k] += s->fail[k];
	for (unsigned k = 0; k < S_STEPS; k++)
		dst->fail_step[k] += s->fail_step[k];
	dst->warm_failures += s->warm_failures;
	dst->late_failures += s->late_failures;
	for (unsigned i = 0; i < s->ncodes; i++)
		for (uint64_t j = 0; j < s->codes[i].n; j++)
			churn_count_code(dst, s->codes[i].code);
	dst->codes_other += s->codes_other;
	dst->connects += s->connects;
	dst->wakeups += s->wakeups;
	dst->starts_missed += s->starts_missed;
	dst->established += s->established;
	dst->refreshes += s->refreshes;
	dst->refresh_errors += s->refresh_errors;
	dst->dropped += s->dropped;
	dst->tls_full += s->tls_full;
	dst->tls_resumed += s->tls_resumed;
	if (s->tls_version)
		dst->tls_version = s->tls_version;
	hist_merge(&dst->lat, &s->lat);
}
