/* A fixed-size log-linear histogram for latencies (HdrHistogram's idea,
 * written small): values below 2^HIST_SUB_BITS get one bucket each; every
 * power-of-two range above is split into 2^HIST_SUB_BITS equal buckets, so
 * a reported value is within 1/2^HIST_SUB_BITS (3.1%) of the true one.
 *
 * No allocation: a struct hist is a plain array (about 15 KiB) the caller
 * embeds or allocates once; hist_add is a few instructions and touches one
 * cache line, so it can run per packet. Not thread-safe: one owner, merge
 * copies with hist_merge. */
#ifndef TERN_UTIL_HIST_H
#define TERN_UTIL_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
/* Buckets for the whole uint64_t range: HIST_SUB exact ones, then HIST_SUB
 * per octave for the 64 - HIST_SUB_BITS octaves above. */
#define HIST_BUCKETS ((65u - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum; /* wraps after 2^64: fine for a mean of ns latencies over any real run */
	uint64_t min; /* UINT64_MAX when empty */
	uint64_t max;
	uint64_t b[HIST_BUCKETS];
};

void hist_reset(struct hist *h);

/* Bucket of a value, and the smallest and largest value a bucket holds. */
static inline unsigned hist_bucket(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	return ((shift + 1) << HIST_SUB_BITS) + (unsigned)(v >> shift) - HIST_SUB;
}
uint64_t hist_bucket_lo(unsigned idx);
uint64_t hist_bucket_hi(unsigned idx);

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* dst += src. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at quantile q (0..1; 0.5 median, 0.99 p99): the midpoint of the
 * bucket holding the ceil(q * count)-th smallest value, clamped to
 * [min, max] so q = 0 and q = 1 give the exact extremes. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* Mean, 0 when empty. */
uint64_t hist_mean(const struct hist *h);

#endif
