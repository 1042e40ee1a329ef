/* A client's byte stream (TCP, or TLS plaintext: RFC 8656 §3.1) cut into
 * frames: STUN messages and ChannelData padded to a multiple of 4 bytes
 * (§12.5), many to a read and split across reads. Pure: no socket, no
 * clock, no worker; server/conn.c keeps one per connection and reads into
 * it, and the unit tests and fuzz/fuzz_frames.c drive the same code.
 *
 * Use, once per read:
 *   stun_stream_room(s)            compact, and make room for the frame being received
 *   read into buf[len, cap), then len += what was read
 *   while ((n = stun_stream_next(s, &f)) > 0) hand f[0, n) on
 *   n < 0: the bytes are no frame; the stream cannot be resynchronised
 *
 * Lifetime: a frame handed out points into buf and stays valid until the
 * next stun_stream_room (the only call that moves bytes), so the server can
 * lend it to the TURN core until the end of its loop turn.
 * Bounds: STUN_STREAM_MIN bytes of buffer, grown to the frame being
 * received, never over STUN_STREAM_MAX. Return convention as in stun.h. */
#ifndef TERN_STUN_STREAM_H
#define TERN_STUN_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* The largest frame: a STUN message of the longest length (20 + 65532; in
 * fact stun_frame_len refuses those over STUN_MAX_MSG) or ChannelData (4 +
 * 65535, padded). */
#define STUN_STREAM_MAX (20 + 65536)
#define STUN_STREAM_MIN 4096

struct stun_stream {
	uint8_t *buf;           /* NULL until the first stun_stream_room */
	uint32_t off, len, cap; /* bytes not yet cut into frames: buf[off, len) */
};

/* Before a read: drop the frames handed out (moves the bytes left to the
 * front) and grow the buffer to STUN_STREAM_MIN, or to the whole frame
 * whose header is in. Call it once every frame that was whole has been
 * taken (stun_stream_next said 0): then there is room. Returns the room
 * (cap - len), or -ENOMEM (nothing lost: try again later or close). */
int stun_stream_room(struct stun_stream *s);

/* The next whole frame: its length (> 0), *frame pointing at it in buf;
 * 0 when more bytes are needed (nothing is taken); -EINVAL when the bytes
 * at the head are neither STUN nor ChannelData, or announce a frame over
 * STUN_STREAM_MAX. */
int stun_stream_next(struct stun_stream *s, const uint8_t **frame);

/* Bytes received and not yet part of a frame handed out. */
static inline uint32_t stun_stream_pending(const struct stun_stream *s)
{
	return s->len - s->off;
}

/* Free the buffer (the stream may be used again: the next
 * stun_stream_room allocates). */
void stun_stream_free(struct stun_stream *s);

#endif
