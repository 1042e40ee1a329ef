/* Unit tests for stream framing (src/stun/stream.c): the code server/conn.c
 * cuts a TCP or TLS client's bytes with. Frames split at every point, many
 * frames to a read, ChannelData padding, growth to a frame over the first
 * buffer, frames that cannot be (garbage, a STUN length over the bound),
 * frames borrowed until the next read, the buffer released and taken again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stun/stream.h"
#include "stun/stun.h"

static uint8_t wire[1 << 18];

/* A STUN header announcing body bytes (the body is filled with a marker). */
static size_t put_stun(uint8_t *p, uint16_t body, uint8_t mark)
{
	p[0] = 0x00;
	p[1] = 0x01;
	p[2] = (uint8_t)(body >> 8);
	p[3] = (uint8_t)body;
	p[4] = 0x21;
	p[5] = 0x12;
	p[6] = 0xA4;
	p[7] = 0x42;
	memset(p + 8, mark, 12);
	memset(p + 20, mark, body);
	return 20u + body;
}

/* ChannelData with len payload bytes, padded with zeros to 4 (as on a
 * stream). Returns the frame's length on the stream. */
static size_t put_cd(uint8_t *p, uint16_t ch, uint16_t len, uint8_t mark)
{
	p[0] = (uint8_t)(ch >> 8);
	p[1] = (uint8_t)ch;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	memset(p + 4, mark, len);
	size_t padded = (len + 3u) & ~3u;
	memset(p + 4 + len, 0, padded - len);
	return 4 + padded;
}

/* Append n bytes as one read would: room first, then the bytes (at most
 * the room; the rest is returned for the next read). */
static size_t feed(struct stun_stream *s, const uint8_t *p, size_t n)
{
	int room = stun_stream_room(s);
	assert_true(room > 0);
	assert_true(s->cap <= STUN_STREAM_MAX);
	size_t k = n < (size_t)room ? n : (size_t)room;
	memcpy(s->buf + s->len, p, k);
	s->len += (uint32_t)k;
	return k;
}

/* Every frame now whole: their lengths into lens (and each checked against
 * the stream at *pos). Returns how many, or -1 on a bad frame. */
static int take(struct stun_stream *s, size_t *lens, int max, size_t *pos)
{
	const uint8_t *f;
	int n, k = 0;
	while ((n = stun_stream_next(s, &f)) > 0) {
		assert_true(k < max);
		assert_memory_equal(f, wire + *pos, (size_t)n);
		lens[k++] = (size_t)n;
		*pos += (size_t)n;
	}
	return n < 0 ? -1 : k;
}

static void split_everywhere(void **state)
{
	(void)state;
	size_t a = put_stun(wire, 8, 0xA1);
	size_t b = put_cd(wire + a, 0x4001, 5, 0xB2);
	size_t c = put_stun(wire + a + b, 0, 0xC3);
	size_t total = a + b + c;
	assert_int_equal(b, 12);
	for (size_t cut = 0; cut <= total; cut++) {
		struct stun_stream s = {0};
		size_t lens[8], pos = 0, got = 0;
		int k1, k2;
		feed(&s, wire, cut);
		k1 = take(&s, lens, 8, &pos);
		assert_true(k1 >= 0);
		got += (size_t)k1;
		feed(&s, wire + cut, total - cut);
		k2 = take(&s, lens + got, 8 - (int)got, &pos);
		assert_true(k2 >= 0);
		got += (size_t)k2;
		assert_int_equal(got, 3);
		assert_int_equal(lens[0], a);
		assert_int_equal(lens[1], b);
		assert_int_equal(lens[2], c);
		assert_int_equal(stun_stream_pending(&s), 0);
		stun_stream_free(&s);
	}
}

static void many_frames_per_read(void **state)
{
	(void)state;
	size_t total = 0;
	for (unsigned i = 0; i < 100; i++)
		total += put_cd(wire + total, 0x4000, (uint16_t)(i % 7), (uint8_t)i);
	assert_true(total < STUN_STREAM_MIN);
	struct stun_stream s = {0};
	size_t lens[128], pos = 0;
	assert_int_equal(feed(&s, wire, total), total);
	assert_int_equal(take(&s, lens, 128, &pos), 100);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(lens[i], 4 + (((i % 7) + 3) & ~3u));
	const uint8_t *f;
	assert_int_equal(stun_stream_next(&s, &f), 0);
	stun_stream_free(&s);
}

/* ChannelData of 5 bytes is 12 on a stream: the 3 padding bytes belong to it. */
static void channeldata_padding(void **state)
{
	(void)state;
	size_t n = put_cd(wire, 0x4ABC, 5, 0x55);
	put_stun(wire + n, 4, 0x66);
	struct stun_stream s = {0};
	const uint8_t *f;
	size_t pos = 0, lens[4];
	feed(&s, wire, 9); /* header and payload: the padding is still to come */
	assert_int_equal(stun_stream_next(&s, &f), 0);
	feed(&s, wire + 9, 2);
	assert_int_equal(stun_stream_next(&s, &f), 0);
	feed(&s, wire + 11, 1 + 24);
	assert_int_equal(take(&s, lens, 4, &pos), 2);
	assert_int_equal(lens[0], 12);
	assert_int_equal(lens[1], 24);
	/* 4 + 65535 bytes of payload: the longest ChannelData, 65540 padded */
	stun_stream_free(&s);
	assert_int_equal(put_cd(wire, 0x4000, 65535, 0x77), 65540);
}

/* A frame longer than the first buffer: the buffer grows to it exactly
 * when its header is in, and never past the bound. */
static void growth_to_the_frame(void **state)
{
	(void)state;
	size_t big = put_cd(wire, 0x4000, 65535, 0x77);
	size_t tail = put_stun(wire + big, 0, 0x11);
	struct stun_stream s = {0};
	size_t pos = 0, lens[4], sent = 0;
	int frames = 0;
	sent += feed(&s, wire, 2); /* not even the length yet */
	assert_int_equal(s.cap, STUN_STREAM_MIN);
	while (sent < big + tail) {
		size_t before = sent;
		sent += feed(&s, wire + sent, big + tail - sent);
		if (before >= 4 && before < big)
			assert_int_equal(s.cap, big);
		int k = take(&s, lens + frames, 4 - frames, &pos);
		assert_true(k >= 0);
		frames += k;
	}
	assert_int_equal(frames, 2);
	assert_int_equal(lens[0], big);
	assert_int_equal(lens[1], tail);
	assert_true(s.cap <= STUN_STREAM_MAX);
	stun_stream_free(&s);
}

static int first_answer(const uint8_t *p, size_t n)
{
	struct stun_stream s = {0};
	const uint8_t *f;
	size_t sent = 0;
	int rc;
	do
		sent += feed(&s, p + sent, n - sent);
	while ((rc = stun_stream_next(&s, &f)) == 0 && sent < n);
	stun_stream_free(&s);
	return rc;
}

static void bad_frames(void **state)
{
	(void)state;
	/* neither STUN (top bits 00) nor ChannelData (01) */
	uint8_t junk[8] = {0x80, 1, 2, 3, 4, 5, 6, 7};
	assert_int_equal(first_answer(junk, 1), -EINVAL);
	/* a STUN length over what any message may be (20 + 65532 > 65535) */
	put_stun(wire, 0, 0);
	wire[2] = 0xFF;
	wire[3] = 0xFC;
	assert_int_equal(first_answer(wire, 20), -EINVAL);
	/* the longest STUN message that is: 20 + 65512 */
	size_t n = put_stun(wire, 65512, 0x42);
	assert_int_equal(n, 65532);
	assert_int_equal(first_answer(wire, n), (int)n);
	/* a STUN length that is no multiple of 4 */
	put_stun(wire, 0, 0);
	wire[3] = 6;
	assert_int_equal(first_answer(wire, 4), -EINVAL);
	/* a wrong magic cookie: known at 8 bytes, not before */
	put_stun(wire, 0, 0);
	wire[7] = 0x43;
	assert_int_equal(first_answer(wire, 7), 0);
	assert_int_equal(first_answer(wire, 8), -EINVAL);
	/* garbage after good frames: the good ones first, then the answer */
	struct stun_stream s = {0};
	size_t a = put_cd(wire, 0x4000, 4, 1);
	wire[a] = 0xC0;
	feed(&s, wire, a + 1);
	const uint8_t *f;
	assert_int_equal(stun_stream_next(&s, &f), (int)a);
	assert_int_equal(stun_stream_next(&s, &f), -EINVAL);
	stun_stream_free(&s);
}

/* Frames handed out stay where they are until the next stun_stream_room. */
static void frames_borrowed_until_room(void **state)
{
	(void)state;
	size_t total = 0;
	for (unsigned i = 0; i < 10; i++)
		total += put_cd(wire + total, 0x4000, 100, (uint8_t)(0x10 + i));
	total += 7; /* a partial frame at the end */
	put_cd(wire + total - 7, 0x4000, 100, 0xEE);
	struct stun_stream s = {0};
	const uint8_t *fr[10];
	feed(&s, wire, total);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(stun_stream_next(&s, &fr[i]), 104);
	assert_int_equal(stun_stream_next(&s, &fr[0]), 0);
	for (unsigned i = 0; i < 10; i++)
		assert_memory_equal(fr[i], wire + 104 * i, 104);
	assert_int_equal(stun_stream_pending(&s), 7);
	/* the next read compacts: the partial frame moves to the front */
	int room = stun_stream_room(&s);
	assert_int_equal(s.off, 0);
	assert_int_equal(s.len, 7);
	assert_int_equal(room, STUN_STREAM_MIN - 7);
	assert_memory_equal(s.buf, wire + 1040, 7);
	stun_stream_free(&s);
}

/* Freed, the stream starts again with a new buffer. */
static void free_and_again(void **state)
{
	(void)state;
	struct stun_stream s = {0};
	const uint8_t *f;
	size_t n = put_stun(wire, 4, 9);
	feed(&s, wire, n);
	assert_int_equal(stun_stream_next(&s, &f), (int)n);
	stun_stream_free(&s);
	assert_null(s.buf);
	assert_int_equal(s.cap, 0);
	assert_int_equal(stun_stream_next(&s, &f), 0);
	feed(&s, wire, n);
	assert_int_equal(stun_stream_next(&s, &f), (int)n);
	stun_stream_free(&s);
}

/* Random frames, random pieces: the same frames as the whole stream. */
static void random_pieces(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15ull;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, (uint32_t)(x >> 11))
	for (unsigned round = 0; round < 50; round++) {
		size_t total = 0, want = 0;
		while (total < 100000) {
			uint16_t len = (uint16_t)(RND() % 5 ? RND() % 300 : RND() % 66000 % 65513);
			if (RND() % 2)
				total += put_stun(wire + total, (uint16_t)(len & ~3u), (uint8_t)want);
			else
				total += put_cd(wire + total, (uint16_t)(0x4000 + RND() % 0x1000), len,
				                (uint8_t)want);
			want++;
		}
		struct stun_stream s = {0};
		size_t pos = 0, sent = 0, got = 0, lens[64];
		while (sent < total) {
			size_t piece = RND() % 3 ? RND() % 2000 : RND() % 70000;
			piece = piece < total - sent ? piece : total - sent;
			size_t done = 0;
			do {
				done += feed(&s, wire + sent + done, piece - done);
				int k = take(&s, lens, 64, &pos);
				assert_true(k >= 0);
				got += (size_t)k;
			} while (done < piece);
			sent += piece;
		}
		assert_int_equal(got, want);
		assert_int_equal(pos, total);
		stun_stream_free(&s);
	}
#undef RND
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(split_everywhere),    cmocka_unit_test(many_frames_per_read),
	    cmocka_unit_test(channeldata_padding), cmocka_unit_test(growth_to_the_frame),
	    cmocka_unit_test(bad_frames),          cmocka_unit_test(frames_borrowed_until_room),
	    cmocka_unit_test(free_and_again),      cmocka_unit_test(random_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
