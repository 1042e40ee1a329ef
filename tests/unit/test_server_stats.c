/* ternd's counter table (src/server/stats.c): it passes the table checks
 * (every entry has a valid unique name with its labels, help and kind),
 * every counter of struct turn_stats and struct udp_tx_stats is exported,
 * every JSON key the stats socket had before the table (tests and tools
 * read them) is still there, and the Prometheus text generated from it is
 * valid exposition format (checked line by line here; promtool checks it
 * too in it_prometheus). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/stats.h"
#include "server/worker.h"

static void test_table_checks(void **state)
{
	(void)state;
	assert_int_equal(metrics_check(stats_table, stats_table_len, stderr), 0);
}

static bool covered(enum stats_src src, size_t off)
{
	for (size_t i = 0; i < stats_table_len; i++) {
		const struct metric *m = &stats_table[i];
		if (m->src != src || m->get)
			continue;
		size_t words = m->hist ? METRIC_HIST_WORDS(m->hist->nb) : 1;
		if (off >= m->off && off < m->off + words * sizeof(uint64_t))
			return true;
	}
	return false;
}

/* Counters read only through a composite (get) entry. */
static bool composite_only(enum stats_src src, size_t off)
{
	return src == STATS_TURN && (off == offsetof(struct turn_stats, challenge_dropped) ||
	                             off == offsetof(struct turn_stats, challenge_sent));
}

static void test_every_counter_exported(void **state)
{
	(void)state;
	for (size_t off = 0; off < sizeof(struct turn_stats); off += sizeof(uint64_t))
		if (!covered(STATS_TURN, off) && !composite_only(STATS_TURN, off))
			fail_msg("struct turn_stats: the counter at offset %zu is in no table entry", off);
	for (size_t off = 0; off < sizeof(struct udp_tx_stats); off += sizeof(uint64_t))
		if (!covered(STATS_TX, off))
			fail_msg("struct udp_tx_stats: the counter at offset %zu is in no table entry", off);
}

static void test_json_keys_kept(void **state)
{
	(void)state;
	static const char *const keys[] = {
	    "rx_client",
	    "rx_peer",
	    "relayed_to_peer",
	    "relayed_to_client",
	    "dropped",
	    "kernel_drops",
	    "tx_drops",
	    "allocations",
	    "allocations_created",
	    "auth_failures",
	    "rx_batches",
	    "rx_datagrams",
	    "gso_sends",
	    "gso_segments",
	    "batch_pauses",
	    "allocations_deleted",
	    "allocations_expired",
	    "dropped_malformed",
	    "dropped_policy",
	    "dropped_ratelimit",
	    "steering_pinned",
	    "steering_pin_failures",
	    "gso_fallback",
	    "dropped_no_local_address",
	    "tcp_accepted",
	    "tcp_closed",
	    "tcp_connections",
	    "tcp_accept_failures",
	    "tcp_bad_frames",
	    "tcp_output_dropped",
	    "tx_refused",
	    "tcp_refused",
	    "tcp_timeouts",
	    "tls_handshakes",
	    "tls_resumed",
	    "tls_handshake_failures",
	    "tls_handshake_timeouts",
	    "tls_connections",
	    "tls_refused",
	    "proxy_headers",
	    "proxy_local",
	    "proxy_bad",
	    "tls_half_open",
	    "tls_handshakes_refused",
	    "dtls_sessions",
	    "dtls_half_open",
	    "dtls_handshakes",
	    "dtls_handshake_failures",
	    "dtls_handshake_timeouts",
	    "dtls_hello_verify",
	    "dtls_refused",
	    "dtls_dropped",
	    "dtls_too_big",
	    "dtls_restarts",
	    "client_sockets",
	    "client_socket_failures",
	    "client_socket_datagrams",
	    "allocations_redirected",
	    "allocations_refused_draining", "allocations_kicked", "permissions_revoked",
	};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		bool found = false;
		for (size_t i = 0; i < stats_table_len && !found; i++)
			found = stats_table[i].json && strcmp(stats_table[i].json, keys[k]) == 0;
		if (!found)
			fail_msg("JSON key '%s' is gone from the stats socket", keys[k]);
	}
}

/* ---- exposition format ---- */

static struct worker *fw;
static struct turn_stats *fts;
static struct udp_tx_stats *ftx;

static metric_bases bases(void *ctx, unsigned i)
{
	(void)ctx;
	static const void *b[STATS_SRCS];
	b[STATS_WORKER] = &fw[i];
	b[STATS_TURN] = &fts[i];
	b[STATS_TX] = &ftx[i];
	return b;
}

static bool name_char(char c, bool first)
{
	return c == '_' || c == ':' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* Advance over a metric or label name; NULL if there is none. */
static const char *name_end(const char *p)
{
	if (!name_char(*p, true))
		return NULL;
	while (name_char(*p, false))
		p++;
	return p;
}

/* One sample line against the current family: NULL, or why it is wrong. */
static const char *bad_sample(const char *line, const char *family, const char *type)
{
	const char *e = name_end(line);
	if (!e)
		return "no metric name";
	size_t n = (size_t)(e - line), fl = strlen(family);
	bool ok = n == fl && strncmp(line, family, n) == 0;
	if (!ok && strcmp(type, "histogram") == 0 && n > fl && strncmp(line, family, fl) == 0)
		ok = (n - fl == 7 && strncmp(line + fl, "_bucket", 7) == 0) ||
		     (n - fl == 4 && strncmp(line + fl, "_sum", 4) == 0) ||
		     (n - fl == 6 && strncmp(line + fl, "_count", 6) == 0);
	if (!ok)
		return "sample outside its family";
	const char *p = e;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			if (!(p = name_end(p)) || *p++ != '=' || *p++ != '"')
				return "bad label";
			while (*p && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (*p++ != '"')
				return "unterminated label value";
			if (*p == ',')
				p++;
			else if (*p != '}')
				return "bad label list";
		}
		p++;
	}
	if (*p++ != ' ')
		return "no space before the value";
	char *end;
	strtod(p, &end);
	if (end == p || *end != 0)
		return "bad value";
	return NULL;
}

static void test_exposition_valid(void **state)
{
	(void)state;
	fw = aligned_alloc(64, 2 * sizeof(*fw));
	memset(fw, 0, 2 * sizeof(*fw));
	fts = calloc(2, sizeof(*fts));
	ftx = calloc(2, sizeof(*ftx));
	fts[0].relayed_to_peer = 5;
	fts[1].relayed_to_peer = 7;
	fts[1].allocs_by_transport[TURN_T_TLS] = 2;
	metric_hist_add(fw[0].tls_hs_hist, stats_tls_bounds, STATS_TLS_NB, 30);
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	metrics_prom(f, stats_table, stats_table_len, 2, bases, NULL);
	/* the fast path's families after the table's, as ternd writes them */
	uint64_t fv[FASTPATH_STATS];
	for (unsigned k = 0; k < FASTPATH_STATS; k++)
		fv[k] = 100 + k;
	stats_fastpath_prom(f, fv, true, 2500000000u, 9);
	fclose(f);
	assert_non_null(strstr(buf, "\ntern_fastpath_datagrams_total{direction=\"to_client\"} 102\n"));
	assert_non_null(strstr(buf, "\ntern_fastpath_bytes_total{direction=\"to_peer\"} 101\n"));
	assert_non_null(strstr(buf, "\ntern_fastpath_passed_total{cause=\"checksum\"} 112\n"));
	assert_non_null(strstr(buf, "\ntern_fastpath_run_seconds_total 2.500000000\n"));
	assert_non_null(strstr(buf, "\ntern_relayed_datagrams_total{direction=\"to_peer\"} 12\n"));
	assert_non_null(strstr(buf, "\nturn_total_allocations{type=\"TLS/TCP\"} 2\n"));
	assert_non_null(strstr(buf, "\ntern_tls_handshake_seconds_bucket{le=\"0.05\"} 1\n"));
	char family[128] = "", type[64] = "", seen[16384] = " ";
	unsigned lineno = 0, samples = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		lineno++;
		char name[128], word[64];
		if (strncmp(line, "# HELP ", 7) == 0) {
			if (sscanf(line + 7, "%127s", name) != 1 || strlen(line) <= 8 + strlen(name))
				fail_msg("line %u: HELP without text: %s", lineno, line);
			char key[140];
			snprintf(key, sizeof(key), " %s ", name);
			if (strstr(seen, key))
				fail_msg("line %u: family %s declared twice", lineno, name);
			strncat(seen, name, sizeof(seen) - strlen(seen) - 2);
			strcat(seen, " ");
			snprintf(family, sizeof(family), "%s", name);
			type[0] = 0;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s %63s", name, word) != 2 || strcmp(name, family) != 0)
				fail_msg("line %u: TYPE not right after its HELP: %s", lineno, line);
			if (strcmp(word, "counter") && strcmp(word, "gauge") && strcmp(word, "histogram"))
				fail_msg("line %u: unknown type %s", lineno, word);
			snprintf(type, sizeof(type), "%s", word);
			continue;
		}
		if (line[0] == '#')
			fail_msg("line %u: unknown comment: %s", lineno, line);
		if (!type[0])
			fail_msg("line %u: sample before its TYPE: %s", lineno, line);
		const char *why = bad_sample(line, family, type);
		if (why)
			fail_msg("line %u: %s: %s", lineno, why, line);
		samples++;
	}
	assert_true(samples > stats_table_len);
	free(buf);
	free(fw);
	free(fts);
	free(ftx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_checks),
	    cmocka_unit_test(test_every_counter_exported),
	    cmocka_unit_test(test_json_keys_kept),
	    cmocka_unit_test(test_exposition_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
