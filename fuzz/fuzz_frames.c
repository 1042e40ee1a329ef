/* Stream framing as ternd runs it: stun_stream_room / stun_stream_next
 * (src/stun/stream.c), the code server/conn.c cuts every TCP and TLS
 * client's bytes with, driven the way conn_read drives it (one read per
 * loop turn, up to the buffer's end; the frames of a turn lent to the core
 * until the end of the turn).
 *
 * Input: [n] [n sizes, u16 big-endian] [stream], as fuzz_sniff. n % 33
 * sizes say how the client's bytes arrive: one piece per loop turn, the
 * sizes in turn and again from the first (0: a turn in which nothing
 * arrives); no sizes (or all 0): everything at once. After the last piece
 * the client closes.
 *
 * The stream is cut three ways: in those pieces, one byte a turn, and all
 * at once. Oracles:
 * - each gives the same frames (offsets, lengths, bytes) and the same end
 *   (clean, a partial frame at the close, or a bad frame at the same
 *   offset) as stun_frame_len applied to the whole stream, which does not
 *   go through stream.c;
 * - no frame is longer than STUN_STREAM_MAX, every frame is STUN (a
 *   multiple of 4, at least a header) or ChannelData (padded to 4), and
 *   stun_frame_len gives its own length back on it alone;
 * - before every read there is room (a full buffer would read as the
 *   client's close), and the buffer never outgrows STUN_STREAM_MAX;
 * - the frames of a turn still hold their bytes at the end of the turn
 *   (they are borrowed until then: nothing moves them before the next
 *   stun_stream_room). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "stun/stream.h"
#include "stun/stun.h"

enum end { END_CLEAN, END_PARTIAL, END_BAD };

struct framing {
	size_t *off, *len;
	size_t n, max;
	enum end end;
	size_t end_off; /* where the partial or bad frame starts */
};

static void add_frame(struct framing *f, size_t off, size_t len)
{
	FUZZ_CHECK(f->n < f->max);
	f->off[f->n] = off;
	f->len[f->n] = len;
	f->n++;
}

/* The reference: stun_frame_len over the whole stream. */
static void frame_whole(const uint8_t *s, size_t len, struct framing *f)
{
	size_t off = 0;
	while (off < len) {
		int n = stun_frame_len(s + off, len - off);
		if (n < 0 || n > STUN_STREAM_MAX) {
			f->end = END_BAD;
			f->end_off = off;
			return;
		}
		if (n == 0 || (size_t)n > len - off)
			break;
		add_frame(f, off, (size_t)n);
		off += (size_t)n;
	}
	f->end = off < len ? END_PARTIAL : END_CLEAN;
	f->end_off = off;
}

/* One loop turn of conn_read: the socket holds s[*rd, sent); fin: the
 * client has closed after them. *pos: stream offset of the next frame.
 * Returns true while the connection stays open. */
static bool turn(struct stun_stream *st, const uint8_t *s, size_t *rd, size_t sent, bool fin, size_t *pos,
                 struct framing *f)
{
	int room = stun_stream_room(st);
	FUZZ_CHECK(room > 0);
	FUZZ_CHECK(st->cap <= STUN_STREAM_MAX && st->len < st->cap);
	size_t n = sent - *rd < (size_t)room ? sent - *rd : (size_t)room;
	memcpy(st->buf + st->len, s + *rd, n);
	st->len += (uint32_t)n;
	*rd += n;
	/* recv says 0 (the close) only with room left and nothing to read */
	bool closed = n < (size_t)room && *rd == sent && fin;

	size_t first = f->n;
	const uint8_t *lent[64];
	unsigned nlent = 0;
	const uint8_t *fr;
	int k;
	while ((k = stun_stream_next(st, &fr)) > 0) {
		FUZZ_CHECK(k <= STUN_STREAM_MAX && k % 4 == 0);
		FUZZ_CHECK(fr >= st->buf && fr + k <= st->buf + st->len);
		FUZZ_CHECK(stun_frame_len(fr, (size_t)k) == k);
		FUZZ_CHECK(stun_is_channeldata(fr, (size_t)k) ||
		           (stun_is_stun(fr, (size_t)k) && k >= STUN_HEADER_LEN));
		FUZZ_CHECK(memcmp(fr, s + *pos, (size_t)k) == 0);
		if (nlent < 64)
			lent[nlent++] = fr;
		add_frame(f, *pos, (size_t)k);
		*pos += (size_t)k;
	}
	/* lent until the end of the turn: still the same bytes */
	for (unsigned i = 0; i < nlent; i++)
		FUZZ_CHECK(memcmp(lent[i], s + f->off[first + i], f->len[first + i]) == 0);
	if (k < 0) {
		f->end = END_BAD;
		f->end_off = *pos;
		return false;
	}
	FUZZ_CHECK(*pos + stun_stream_pending(st) == *rd);
	if (closed) {
		f->end = stun_stream_pending(st) ? END_PARTIAL : END_CLEAN;
		f->end_off = *pos;
		return false;
	}
	return true;
}

static void frame_pieces(const uint8_t *s, size_t len, const uint16_t *sizes, unsigned nsizes,
                         struct framing *f)
{
	struct stun_stream st = {0};
	size_t sent = 0, rd = 0, pos = 0;
	/* every turn moves a byte unless a piece is empty: bounded */
	size_t turns = (len + 2) * (nsizes + 1) + 4;
	for (size_t t = 0;; t++) {
		FUZZ_CHECK(t < turns);
		if (sent < len) {
			size_t piece = nsizes ? sizes[t % nsizes] : len;
			sent += piece < len - sent ? piece : len - sent;
		}
		if (!turn(&st, s, &rd, sent, sent == len, &pos, f))
			break;
	}
	FUZZ_CHECK(rd <= len);
	stun_stream_free(&st);
}

static void same(const struct framing *a, const struct framing *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(a->off[i] == b->off[i] && a->len[i] == b->len[i]);
	FUZZ_CHECK(a->end == b->end);
	FUZZ_CHECK(a->end_off == b->end_off);
}

static struct framing make(size_t max)
{
	struct framing f = {
	    .off = calloc(max, sizeof(size_t)), .len = calloc(max, sizeof(size_t)), .max = max};
	FUZZ_CHECK(f.off && f.len);
	return f;
}

static void drop(struct framing *f)
{
	free(f->off);
	free(f->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint16_t sizes[32];
	static const uint16_t one[] = {1};
	struct fz z = {data, size};
	unsigned nsizes = fz_u8(&z) % 33, sum = 0;
	for (unsigned i = 0; i < nsizes; i++) {
		sizes[i] = fz_u16(&z);
		sum += sizes[i];
	}
	if (sum == 0)
		nsizes = 0;
	size_t len;
	const uint8_t *p = fz_bytes(&z, z.n, &len);
	uint8_t *s = malloc(len ? len : 1); /* exact size: a read past it is ASan's */
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, len);

	size_t max = len / 4 + 1; /* the shortest frame is 4 bytes */
	struct framing whole = make(max), pieces = make(max), bytes = make(max), once = make(max);
	frame_whole(s, len, &whole);
	frame_pieces(s, len, sizes, nsizes, &pieces);
	same(&pieces, &whole);
	if (len <= 4096) { /* one byte a turn: quadratic in the buffer's moves */
		frame_pieces(s, len, one, 1, &bytes);
		same(&bytes, &whole);
	}
	frame_pieces(s, len, NULL, 0, &once);
	same(&once, &whole);
	drop(&whole);
	drop(&pieces);
	drop(&bytes);
	drop(&once);
	free(s);
	return 0;
}
