#include "stun/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stun/stun.h"

int stun_stream_room(struct stun_stream *s)
{
	if (s->off) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	uint32_t need = STUN_STREAM_MIN;
	int n = s->buf ? stun_frame_len(s->buf, s->len) : 0;
	if (n > 0 && (uint32_t)n > need)
		need = (uint32_t)n <= STUN_STREAM_MAX ? (uint32_t)n : STUN_STREAM_MAX;
	if (need > s->cap) {
		uint8_t *p = realloc(s->buf, need);
		if (!p)
			return -ENOMEM;
		s->buf = p;
		s->cap = need;
	}
	return (int)(s->cap - s->len);
}

int stun_stream_next(struct stun_stream *s, const uint8_t **frame)
{
	uint32_t have = s->len - s->off;
	if (have == 0)
		return 0;
	int n = stun_frame_len(s->buf + s->off, have);
	if (n < 0 || n > STUN_STREAM_MAX)
		return -EINVAL;
	/* n == 0: the header is not in yet; n > have: the rest is to come
	 * (the next stun_stream_room grows the buffer for it) */
	if (n == 0 || (uint32_t)n > have)
		return 0;
	*frame = s->buf + s->off;
	s->off += (uint32_t)n;
	return n;
}

void stun_stream_free(struct stun_stream *s)
{
	free(s->buf);
	*s = (struct stun_stream){0};
}
