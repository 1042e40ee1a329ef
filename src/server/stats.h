/* ternd's counter table (metrics/metrics.h): every per-worker counter,
 * where it lives, and its names in the stats socket's JSON, the `tern
 * stats` table and Prometheus (tern_* and coturn's names). Internal to
 * server/. */
#ifndef TERN_SERVER_STATS_H
#define TERN_SERVER_STATS_H

#include <stdbool.h>
#include <stdio.h>

#include "metrics/metrics.h"
#include "net/fastpath.h"

struct worker;

/* The base pointers an entry's src names. */
enum stats_src {
	STATS_WORKER, /* struct worker (engine, connections, histograms) */
	STATS_TURN,   /* struct turn_stats of the worker's TURN core */
	STATS_TX,     /* struct udp_tx_stats of the worker's send batch */
	STATS_SRCS,
};

extern const struct metric stats_table[];
extern const size_t stats_table_len;

/* Fill b with worker w's base pointers. */
void stats_bases(const struct worker *w, const void *b[STATS_SRCS]);

/* Histogram bounds of the worker's own histograms. */
#define STATS_BATCH_NB 7
#define STATS_TLS_NB   12
extern const uint64_t stats_batch_bounds[STATS_BATCH_NB];
extern const uint64_t stats_tls_bounds[STATS_TLS_NB];

/* The kernel fast path's counters (net/fastpath.h: fastpath_stats order):
 * the JSON key of counter k, and the Prometheus families of all of them
 * (run: the kernel's run accounting is available). */
const char *stats_fastpath_key(unsigned k);
void stats_fastpath_prom(FILE *out, const uint64_t v[FASTPATH_STATS], bool run, uint64_t run_ns,
                         uint64_t run_cnt);

#endif
