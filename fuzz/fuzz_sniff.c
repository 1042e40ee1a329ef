/* The first bytes of a client connection (tls_sniff, src/net/tls.c) and
 * the framing of what follows (stun_frame_len), as server/conn.c applies
 * them: a stream that arrives in pieces must be cut into the same frames,
 * with the same end, as the same bytes arriving at once.
 *
 * Input: [n] [n sizes, u16 big-endian] [stream]. n % 33 sizes describe how
 * the client's bytes arrive: one piece per loop turn, the sizes in turn and
 * again from the first (0: a turn in which nothing arrives); no sizes (or
 * all 0): everything at once. After the last piece the client closes.
 *
 * Oracles:
 * - tls_sniff: "more" on no byte; TLS exactly when the first byte is 0x16,
 *   on every prefix, so the answer never changes as bytes arrive; never a
 *   read past len (each prefix is sniffed in an exact-size buffer).
 * - Framing: a model of conn_read / conn_make_room / conn_frames (the same
 *   buffer sizes, compaction, growth and reads up to the buffer's end; a
 *   whole frame is handed over, a partial one waits, a negative answer or
 *   one over CONN_IN_MAX closes) fed the pieces yields the same frames
 *   (offsets and lengths) and the same end (clean, a partial frame at the
 *   close, or a bad frame at the same offset) as stun_frame_len applied to
 *   the whole stream. Before every read the buffer has room (conn_read
 *   would otherwise take "no bytes" for the client's close), the buffer
 *   never outgrows CONN_IN_MAX, every frame is STUN or ChannelData and
 *   stun_frame_len gives its own length back on it alone.
 * The model is run on every input, TLS or not: inside TLS the decrypted
 * records are framed by the same code, records being the pieces. It is a
 * second, independent copy of the arithmetic of src/stun/stream.c, which
 * conn.c runs and fuzz_frames fuzzes itself: a change to how conn.c reads
 * or frames must be made here too. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "net/tls.h"
#include "server/conn.h" /* CONN_IN_MIN, CONN_IN_MAX: the sizes the model must use */
#include "stun/stun.h"

#define MAX_FRAMES 4096

enum end { END_CLEAN, END_PARTIAL, END_BAD };

struct framing {
	size_t off[MAX_FRAMES], len[MAX_FRAMES];
	unsigned n;
	enum end end;
	size_t end_off; /* where the partial or bad frame starts */
};

static void add_frame(struct framing *f, size_t off, size_t len)
{
	FUZZ_CHECK(f->n < MAX_FRAMES);
	f->off[f->n] = off;
	f->len[f->n] = len;
	f->n++;
}

/* The reference: stun_frame_len over the whole stream. */
static void frame_whole(const uint8_t *s, size_t len, struct framing *f)
{
	size_t off = 0;
	memset(f, 0, sizeof(*f));
	while (off < len) {
		int n = stun_frame_len(s + off, len - off);
		if (n < 0 || n > CONN_IN_MAX) {
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

/* The connection's input, as in struct conn. */
struct mconn {
	uint8_t *in;
	uint32_t in_off, in_len, in_cap;
	size_t base; /* stream offset of in[0] */
	bool closed;
	struct framing *f;
};

static void m_close(struct mconn *m, enum end e)
{
	m->closed = true;
	m->f->end = e;
	m->f->end_off = m->base + m->in_off;
}

/* conn_frames */
static void m_frames(struct mconn *m)
{
	while (!m->closed && m->in_off < m->in_len) {
		int n = stun_frame_len(m->in + m->in_off, m->in_len - m->in_off);
		if (n == 0)
			return;
		if (n < 0 || n > CONN_IN_MAX) {
			m_close(m, END_BAD);
			return;
		}
		if ((uint32_t)n > m->in_len - m->in_off)
			return;
		const uint8_t *fr = m->in + m->in_off;
		FUZZ_CHECK(stun_frame_len(fr, (size_t)n) == n);
		FUZZ_CHECK(n >= TURN_CHANNEL_HDR);
		FUZZ_CHECK(stun_is_channeldata(fr, (size_t)n) ||
		           (stun_is_stun(fr, (size_t)n) && n >= STUN_HEADER_LEN && n % 4 == 0));
		fuzz_touch(fr, (size_t)n);
		add_frame(m->f, m->base + m->in_off, (size_t)n);
		m->in_off += (uint32_t)n;
	}
}

/* conn_make_room */
static void m_make_room(struct mconn *m)
{
	if (m->in_off) {
		memmove(m->in, m->in + m->in_off, m->in_len - m->in_off);
		m->in_len -= m->in_off;
		m->base += m->in_off;
		m->in_off = 0;
	}
	uint32_t need = CONN_IN_MIN;
	int n = stun_frame_len(m->in, m->in_len);
	if (n > 0 && (uint32_t)n > need)
		need = (uint32_t)n;
	if (need > m->in_cap) {
		uint8_t *p = realloc(m->in, need);
		FUZZ_CHECK(p != NULL);
		m->in = p;
		m->in_cap = need;
	}
}

/* conn_read, one loop turn: the socket holds s[*rd, sent), and the client
 * has closed when fin. */
static void m_read(struct mconn *m, const uint8_t *s, size_t *rd, size_t sent, bool fin)
{
	m_make_room(m);
	FUZZ_CHECK(m->in_cap <= CONN_IN_MAX);
	/* else conn_read reads nothing and takes that for the client's close */
	FUZZ_CHECK(m->in_len < m->in_cap);
	size_t room = m->in_cap - m->in_len, n = sent - *rd < room ? sent - *rd : room;
	memcpy(m->in + m->in_len, s + *rd, n);
	m->in_len += (uint32_t)n;
	*rd += n;
	/* recv returns 0 only with room left and nothing more to read */
	if (n < room && *rd == sent && fin) {
		m_frames(m);
		if (!m->closed)
			m_close(m, m->in_off < m->in_len ? END_PARTIAL : END_CLEAN);
		return;
	}
	m_frames(m);
}

static void frame_pieces(const uint8_t *s, size_t len, const uint16_t *sizes, unsigned nsizes,
                         struct framing *f)
{
	struct mconn m = {.in = malloc(CONN_IN_MIN), .in_cap = CONN_IN_MIN, .f = f};
	FUZZ_CHECK(m.in != NULL);
	memset(f, 0, sizeof(*f));
	size_t sent = 0, rd = 0;
	/* every turn moves a byte unless a piece is empty: bounded */
	size_t turns = (len + 2) * (nsizes + 1) + 4;
	for (size_t t = 0; !m.closed; t++) {
		FUZZ_CHECK(t < turns);
		if (sent < len) {
			size_t piece = nsizes ? sizes[t % nsizes] : len;
			sent += piece < len - sent ? piece : len - sent;
		}
		m_read(&m, s, &rd, sent, sent == len);
	}
	FUZZ_CHECK(rd <= len);
	free(m.in);
}

static void check_sniff(const uint8_t *s, size_t len)
{
	size_t top = len < 64 ? len : 64;
	for (size_t k = 0; k <= top; k++) {
		uint8_t *p = malloc(k); /* exact size: a read past k is ASan's */
		FUZZ_CHECK(k == 0 || p != NULL);
		if (k)
			memcpy(p, s, k);
		enum tls_sniff v = tls_sniff(p, k);
		free(p);
		if (k == 0)
			FUZZ_CHECK(v == TLS_SNIFF_MORE);
		else
			FUZZ_CHECK(v == (s[0] == 0x16 ? TLS_SNIFF_TLS : TLS_SNIFF_OTHER));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct framing whole, pieces;
	static uint16_t sizes[32];
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
	uint8_t *s = malloc(len ? len : 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, len);

	check_sniff(s, len);
	frame_whole(s, len, &whole);
	frame_pieces(s, len, sizes, nsizes, &pieces);
	FUZZ_CHECK(pieces.n == whole.n);
	for (unsigned i = 0; i < whole.n; i++)
		FUZZ_CHECK(pieces.off[i] == whole.off[i] && pieces.len[i] == whole.len[i]);
	FUZZ_CHECK(pieces.end == whole.end);
	FUZZ_CHECK(pieces.end_off == whole.end_off);
	free(s);
	return 0;
}
