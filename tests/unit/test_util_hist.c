/* Unit tests for the latency histogram (src/util/hist): bucket boundaries
 * are contiguous over the whole uint64_t range, the relative error stays
 * within 1/HIST_SUB, and quantiles match a sorted array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/hist.h"

static struct hist h1, h2;

static void test_buckets_contiguous(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket_lo(0), 0);
	for (unsigned i = 1; i < HIST_BUCKETS; i++) {
		assert_true(hist_bucket_lo(i) == hist_bucket_hi(i - 1) + 1);
		assert_int_equal(hist_bucket(hist_bucket_lo(i)), i);
		assert_int_equal(hist_bucket(hist_bucket_hi(i)), i);
	}
	assert_true(hist_bucket_hi(HIST_BUCKETS - 1) == UINT64_MAX);
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_exact_small_values(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < 2 * HIST_SUB; v++) {
		unsigned b = hist_bucket(v);
		assert_true(hist_bucket_lo(b) == v && hist_bucket_hi(b) == v);
	}
}

static void test_relative_error(void **state)
{
	(void)state;
	uint64_t v = 1;
	for (int i = 0; i < 4000; i++) {
		unsigned b = hist_bucket(v);
		uint64_t lo = hist_bucket_lo(b), hi = hist_bucket_hi(b);
		assert_true(lo <= v && v <= hi);
		/* width / lo <= 1 / HIST_SUB */
		assert_true((hi - lo) <= lo / HIST_SUB);
		v = v + v / 97 + 1;
		if (v > UINT64_MAX / 2)
			break;
	}
}

static void test_empty(void **state)
{
	(void)state;
	hist_reset(&h1);
	assert_int_equal(hist_quantile(&h1, 0.5), 0);
	assert_int_equal(hist_mean(&h1), 0);
	assert_int_equal(h1.count, 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_quantiles_vs_sorted(void **state)
{
	(void)state;
	enum { N = 20000 };
	static uint64_t vals[N];
	srand(7);
	hist_reset(&h1);
	for (unsigned i = 0; i < N; i++) {
		/* a latency-like spread: mostly 20-80 us, a tail to 10 ms */
		uint64_t v = 20000 + (uint64_t)(rand() % 60000);
		if (i % 100 == 0)
			v = 100000 + (uint64_t)(rand() % 10000000);
		vals[i] = v;
		hist_add(&h1, v);
	}
	qsort(vals, N, sizeof(vals[0]), cmp_u64);
	static const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999};
	for (unsigned k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		uint64_t want = vals[(size_t)(qs[k] * N + 0.999999) - 1];
		uint64_t got = hist_quantile(&h1, qs[k]);
		uint64_t diff = got > want ? got - want : want - got;
		assert_true(diff <= want / HIST_SUB + 1);
	}
	assert_true(hist_quantile(&h1, 0) == vals[0]);
	assert_true(hist_quantile(&h1, 1) == vals[N - 1]);
	assert_true(h1.min == vals[0] && h1.max == vals[N - 1]);
}

static void test_single_value_and_merge(void **state)
{
	(void)state;
	hist_reset(&h1);
	hist_reset(&h2);
	hist_add(&h1, 12345);
	assert_true(hist_quantile(&h1, 0.5) == 12345); /* clamped to min = max */
	assert_true(hist_quantile(&h1, 0.999) == 12345);
	for (unsigned i = 0; i < 99; i++)
		hist_add(&h2, 1000);
	hist_merge(&h2, &h1);
	assert_int_equal(h2.count, 100);
	assert_int_equal(h2.min, 1000);
	assert_int_equal(h2.max, 12345);
	assert_int_equal(hist_quantile(&h2, 0.99), 1000);
	assert_int_equal(hist_quantile(&h2, 0.995), 12345);
	assert_int_equal(hist_mean(&h2), (99 * 1000 + 12345) / 100);
	hist_merge(&h2, &h1); /* merging an empty one changes nothing */
	hist_reset(&h1);
	hist_merge(&h2, &h1);
	assert_int_equal(h2.count, 101);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buckets_contiguous),  cmocka_unit_test(test_exact_small_values),
	    cmocka_unit_test(test_relative_error),      cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_quantiles_vs_sorted), cmocka_unit_test(test_single_value_and_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
