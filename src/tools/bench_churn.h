/* tern bench --churn / --idle (bench_churn.c): what the run loop and its
 * report (bench_churn_report.c) share. Private to those two files. */
#ifndef TERN_TOOLS_BENCH_CHURN_H
#define TERN_TOOLS_BENCH_CHURN_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/tools.h"

/* Where a connection is in its cycle (churn) or life (idle); failures are
 * counted by the step they happened in. */
enum churn_step { S_FREE, S_BACKOFF, S_CONNECT, S_CHALLENGE, S_ALLOCATE, S_REFRESH, S_HOLD, S_DEAD, S_STEPS };

enum churn_fail {
	F_REFUSED, /* connect refused: no server there */
	F_NO_PORT, /* EADDRNOTAVAIL: no local port left (TIME_WAIT) */
	F_CONNECT, /* another socket or connect error */
	F_CLOSED,  /* the server closed or reset the connection */
	F_TIMEOUT, /* no answer within --timeout */
	F_ANSWER,  /* an error answer (code in codes[]) */
	F_BAD,     /* an answer that does not parse, or a frame too long */
	F_KINDS
};

/* Error codes counted one by one; more go to codes_other. */
#define CHURN_MAX_CODES 8

/* One thread's counters (summed at the end). */
struct cstats {
	uint64_t cycles, warm_cycles, late_cycles; /* churn: completed, by phase */
	uint64_t fail[F_KINDS], fail_step[S_STEPS];
	uint64_t warm_failures, late_failures;
	struct {
		int code;
		uint64_t n;
	} codes[CHURN_MAX_CODES];
	unsigned ncodes;
	uint64_t codes_other;
	uint64_t connects, wakeups, starts_missed;
	uint64_t established, refreshes, refresh_errors, dropped; /* idle */
	uint64_t tls_full, tls_resumed; /* TLS handshakes completed, by kind (all phases) */
	const char *tls_version;        /* of the last one ("TLSv1.3") */
	struct hist lat;                /* churn: measured cycles; idle: setups, ns */
};

/* Samples of the measured window (thread 0 takes them). */
struct churn_samples {
	uint64_t srv_ticks[2], cli_ns[2];
	long rss_kb[3]; /* idle: before, all established, end of the hold */
	bool have[2];
};

/* Count one error answer by code (the first CHURN_MAX_CODES codes seen,
 * then "other"). */
void churn_count_code(struct cstats *st, int code);
/* dst += s. */
void churn_stats_add(struct cstats *dst, const struct cstats *s);
/* The JSON line of a run (docs/BENCH.md), on stdout. secs: the measured
 * window; hold_s: how long the connections were held. */
void churn_print(const struct bench_cfg *cfg, const struct churn_samples *smp, const struct cstats *st,
                 double secs);
void churn_print_idle(const struct bench_cfg *cfg, const struct churn_samples *smp, uint64_t setup_ns,
                      const struct cstats *st, double hold_s);

#endif
