/* Unit tests for the counter-table machinery (src/metrics): the table
 * checks refuse each kind of mistake, and the exporters (Prometheus text,
 * JSON members, table rows) sum workers and print what the table says,
 * histograms as cumulative buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

struct fake {
	uint64_t a, b, h[METRIC_HIST_WORDS(3)];
};

static const uint64_t bounds[3] = {1, 10, 100};
static const struct metric_hist hist = {bounds, 3, 1000.0};

static uint64_t get_sum(metric_bases b)
{
	return metric_load(b[0], offsetof(struct fake, a)) + metric_load(b[0], offsetof(struct fake, b));
}

static const struct metric good[] = {
    {.name = "tern_x_total",
     .labels = "k=\"1\"",
     .kind = METRIC_COUNTER,
     .help = "X.",
     .json = "x_one",
     .col = "x1",
     .colw = 4,
     .off = offsetof(struct fake, a)},
    {.name = "tern_x_total",
     .labels = "k=\"2\"",
     .kind = METRIC_COUNTER,
     .help = "X.",
     .json = "x_two",
     .off = offsetof(struct fake, b)},
    {.labels = "", .help = "Both.", .json = "both", .col = "both", .colw = 5, .get = get_sum},
    {.name = "tern_h_seconds",
     .labels = "",
     .kind = METRIC_HISTOGRAM,
     .help = "H.",
     .off = offsetof(struct fake, h),
     .hist = &hist},
    {.name = "legacy_name",
     .compat = true,
     .labels = "",
     .kind = METRIC_COUNTER,
     .help = "Old.",
     .off = offsetof(struct fake, a)},
};

static struct fake workers[2];
static const void *wb[2][1];

static metric_bases bases(void *ctx, unsigned i)
{
	(void)ctx;
	wb[i][0] = &workers[i];
	return wb[i];
}

static char *render(void (*fn)(FILE *))
{
	static char *buf;
	size_t len;
	free(buf);
	buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	fn(f);
	fclose(f);
	return buf;
}

static void prom(FILE *f)
{
	metrics_prom(f, good, sizeof(good) / sizeof(good[0]), 2, bases, NULL);
}

static void test_good_table_passes(void **state)
{
	(void)state;
	assert_int_equal(metrics_check(good, sizeof(good) / sizeof(good[0]), stderr), 0);
}

/* Each rule: a table that breaks it is refused. */
static void test_bad_tables(void **state)
{
	(void)state;
	struct metric t[3];
	/* duplicate name and labels */
	memcpy(t, good, 2 * sizeof(t[0]));
	t[1].labels = t[0].labels;
	assert_int_not_equal(metrics_check(t, 2, NULL), 0);
	/* no help */
	memcpy(t, good, sizeof(t[0]));
	t[0].help = "";
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	/* a family split by another entry */
	t[0] = good[0];
	t[1] = good[3];
	t[2] = good[1];
	assert_int_not_equal(metrics_check(t, 3, NULL), 0);
	/* one family, two kinds */
	memcpy(t, good, 2 * sizeof(t[0]));
	t[1].kind = METRIC_GAUGE;
	assert_int_not_equal(metrics_check(t, 2, NULL), 0);
	/* a counter without _total, a gauge with it, a name without tern_ */
	t[0] = good[0];
	t[0].name = "tern_x";
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	t[0].name = "tern_x_total";
	t[0].kind = METRIC_GAUGE;
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	t[0] = good[0];
	t[0].name = "x_total";
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	/* invalid characters */
	t[0].name = "tern-x_total";
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	/* duplicate JSON key, duplicate column */
	memcpy(t, good, 2 * sizeof(t[0]));
	t[1].json = t[0].json;
	assert_int_not_equal(metrics_check(t, 2, NULL), 0);
	memcpy(t, good, 2 * sizeof(t[0]));
	t[1].col = t[0].col;
	t[1].colw = 4;
	assert_int_not_equal(metrics_check(t, 2, NULL), 0);
	/* a histogram without bounds, or with bounds not increasing */
	t[0] = good[3];
	t[0].hist = NULL;
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	static const uint64_t down[3] = {10, 5, 100};
	static const struct metric_hist bad_hist = {down, 3, 1.0};
	t[0] = good[3];
	t[0].hist = &bad_hist;
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
	/* exported nowhere */
	memset(&t[0], 0, sizeof(t[0]));
	t[0].labels = "";
	t[0].help = "h";
	assert_int_not_equal(metrics_check(t, 1, NULL), 0);
}

static void test_prom_sums_workers(void **state)
{
	(void)state;
	memset(workers, 0, sizeof(workers));
	workers[0].a = 3;
	workers[1].a = 4;
	workers[1].b = 10;
	const char *out = render(prom);
	assert_non_null(strstr(out, "# HELP tern_x_total X.\n# TYPE tern_x_total counter\n"
	                            "tern_x_total{k=\"1\"} 7\ntern_x_total{k=\"2\"} 10\n"));
	/* HELP/TYPE once per family */
	assert_null(strstr(strstr(out, "# TYPE tern_x_total") + 1, "# TYPE tern_x_total"));
	assert_non_null(strstr(out, "# TYPE legacy_name counter\nlegacy_name 7\n"));
	/* an entry without a name is not exported */
	assert_null(strstr(out, "both"));
}

static void test_prom_histogram(void **state)
{
	(void)state;
	memset(workers, 0, sizeof(workers));
	/* worker 0 saw 1 and 50; worker 1 saw 500 and 7 (ms) */
	metric_hist_add(workers[0].h, bounds, 3, 1);
	metric_hist_add(workers[0].h, bounds, 3, 50);
	metric_hist_add(workers[1].h, bounds, 3, 500);
	metric_hist_add(workers[1].h, bounds, 3, 7);
	const char *out = render(prom);
	assert_non_null(strstr(out, "# TYPE tern_h_seconds histogram\n"
	                            "tern_h_seconds_bucket{le=\"0.001\"} 1\n"
	                            "tern_h_seconds_bucket{le=\"0.01\"} 2\n"
	                            "tern_h_seconds_bucket{le=\"0.1\"} 3\n"
	                            "tern_h_seconds_bucket{le=\"+Inf\"} 4\n"
	                            "tern_h_seconds_sum 0.558\n"
	                            "tern_h_seconds_count 4\n"));
}

static void json_w1(FILE *f)
{
	metrics_json(f, good, sizeof(good) / sizeof(good[0]), bases(NULL, 1), true);
}

static void table(FILE *f)
{
	metrics_table_header(f, good, sizeof(good) / sizeof(good[0]));
	metrics_table_row(f, good, sizeof(good) / sizeof(good[0]), 1, bases(NULL, 1));
}

static void test_json_and_table(void **state)
{
	(void)state;
	memset(workers, 0, sizeof(workers));
	workers[1].a = 4;
	workers[1].b = 10;
	assert_string_equal(render(json_w1), "\"x_one\":4,\"x_two\":10,\"both\":14");
	assert_string_equal(render(table), "worker   x1  both\n1         4    14\n");
}

static void esc(FILE *f)
{
	metrics_prom_escape(f, "a\"b\\c\nd", 7);
}

static void test_label_escape(void **state)
{
	(void)state;
	assert_string_equal(render(esc), "a\\\"b\\\\c\\nd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_table_passes), cmocka_unit_test(test_bad_tables),
	    cmocka_unit_test(test_prom_sums_workers), cmocka_unit_test(test_prom_histogram),
	    cmocka_unit_test(test_json_and_table),    cmocka_unit_test(test_label_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
