/* One counter table: every counter ternd keeps is declared once, as a
 * struct metric (name, kind, help, labels, where it lives), and every
 * exporter is generated from the table: the stats socket's JSON, the
 * `tern stats` table and the Prometheus text exposition (HAProxy's stats
 * columns are the model).
 *
 * Writers are the workers: plain uint64_t fields of their own structures,
 * incremented without atomics or locks. Readers on other threads (the main
 * thread, the Prometheus thread) load them with relaxed atomic loads and
 * sum them over the workers: a scrape is a slightly stale but never torn
 * snapshot. Nothing here runs on the data path except metric_hist_add.
 *
 * The table's owner (server/stats.c) defines what a source is: each worker
 * hands the reader an array of base pointers (its struct worker, its TURN
 * core's struct turn_stats, ...), and an entry names one by index (src)
 * and an offset into it. */
#ifndef TERN_METRICS_METRICS_H
#define TERN_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum metric_kind {
	METRIC_COUNTER,   /* only grows (Prometheus counter: its name ends in _total) */
	METRIC_GAUGE,     /* goes up and down */
	METRIC_HISTOGRAM, /* buckets: see struct metric_hist */
};

/* A histogram's bucket bounds (upper bounds, inclusive, increasing) and how
 * to show them: values are stored as integers (ms, datagrams) and divided
 * by scale on export (1000: ms as Prometheus seconds). The writer's storage
 * is nb + 2 uint64_t: a count per bucket (not cumulative; [nb] counts the
 * values above the last bound), then the sum of the values. */
struct metric_hist {
	const uint64_t *bounds;
	unsigned nb;
	double scale;
};

#define METRIC_HIST_WORDS(nb) ((nb) + 2)

/* Add v to a histogram's storage (the writer's thread only). */
static inline void metric_hist_add(uint64_t *h, const uint64_t *bounds, unsigned nb, uint64_t v)
{
	unsigned i = 0;
	while (i < nb && v > bounds[i])
		i++;
	h[i]++;
	h[nb + 1] += v;
}

/* Where a value lives: base pointer src of a worker, plus off. */
typedef const void *const *metric_bases;

struct metric {
	/* Prometheus name ("tern_..."), or NULL: only in the JSON and the
	 * table (a sum or ratio of other entries). Entries of one name (a
	 * family told apart by labels) are adjacent and share kind and help. */
	const char *name;
	/* constant labels of this entry: "" or `transport="udp"` */
	const char *labels;
	/* a name kept as another server exports it (coturn's counters have
	 * no _total suffix): exempt from tern's naming rules */
	bool compat;
	enum metric_kind kind;
	const char *help;
	/* key in the stats socket's per-worker JSON object, or NULL */
	const char *json;
	/* column of the `tern stats` table: header (NULL: not a column) and
	 * width; tenths: the value is in tenths, printed with one decimal */
	const char *col;
	uint8_t colw;
	bool tenths;
	/* the value: src/off, or get() when set (a value made of several) */
	uint8_t src;
	uint32_t off;
	uint64_t (*get)(metric_bases b);
	const struct metric_hist *hist; /* METRIC_HISTOGRAM */
};

/* A uint64_t another thread writes, read without tearing. */
static inline uint64_t metric_load(const void *base, size_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)((const char *)base + off), __ATOMIC_RELAXED);
}

/* The value of a counter or gauge entry in one worker. */
uint64_t metric_value(const struct metric *m, metric_bases b);

/* One worker's entries as JSON members ("key":value,...; no braces),
 * those with a json key, in table order. first: no leading comma. */
void metrics_json(FILE *out, const struct metric *tab, size_t n, metric_bases b, bool first);

/* The `tern stats` table: the header line, then one row per worker. */
void metrics_table_header(FILE *out, const struct metric *tab, size_t n);
void metrics_table_row(FILE *out, const struct metric *tab, size_t n, unsigned worker, metric_bases b);

/* The Prometheus text exposition (version 0.0.4) of every named entry,
 * summed over nw workers; bases(ctx, i) gives worker i's base pointers.
 * extra_labels ("" or `realm="x"`-style text without braces) is added to
 * no entry: it is for the caller's own families (see metrics_prom_head). */
typedef metric_bases (*metric_bases_fn)(void *ctx, unsigned worker);
void metrics_prom(FILE *out, const struct metric *tab, size_t n, unsigned nw, metric_bases_fn bases,
                  void *ctx);

/* Pieces for families that are not in a table (coturn's, per-user): the
 * # HELP and # TYPE lines, one sample, and a label value escaped as the
 * exposition format wants (backslash, double quote, newline). */
void metrics_prom_head(FILE *out, const char *name, enum metric_kind kind, const char *help);
void metrics_prom_sample(FILE *out, const char *name, const char *labels, uint64_t v);
void metrics_prom_escape(FILE *out, const char *s, size_t len);

/* Table checks for the unit tests: 0, or -EINVAL with a line on err
 * naming the entry (names valid and unique with their labels, help and
 * kind present, families adjacent and consistent, counters end in _total,
 * JSON keys and columns unique). */
int metrics_check(const struct metric *tab, size_t n, FILE *err);

#endif
