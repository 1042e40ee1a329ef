/* ChannelData (RFC 8656 §12.4) and stream framing (TCP/TLS, §12.5):
 * stun_channeldata_parse on a datagram, and the same bytes cut into frames
 * with stun_frame_len as a TCP receiver would.
 *
 * Oracles: the payload lies inside the datagram and is as long as the
 * header says; the channel number has the 0b01 prefix; writing the header
 * back gives the same 4 bytes; over a stream the frame is the padded
 * length, a known length never changes as bytes arrive, and every
 * ChannelData frame stun_frame_len delimits parses. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "stun/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t ch, dlen;
	const uint8_t *payload;
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);

	int rc = stun_channeldata_parse(copy, size, &ch, &payload, &dlen);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(size >= TURN_CHANNEL_HDR);
		FUZZ_CHECK(ch >= 0x4000 && ch <= 0x7FFF);
		FUZZ_CHECK(payload == copy + TURN_CHANNEL_HDR);
		FUZZ_CHECK((size_t)dlen <= size - TURN_CHANNEL_HDR);
		fuzz_touch(payload, dlen);
		uint8_t hdr[TURN_CHANNEL_HDR];
		stun_channeldata_hdr(hdr, ch, dlen);
		FUZZ_CHECK(memcmp(hdr, copy, sizeof(hdr)) == 0);
		FUZZ_CHECK(stun_is_channeldata(copy, size) && !stun_is_stun(copy, size));
		int f = stun_frame_len(copy, size);
		FUZZ_CHECK(f == (int)(TURN_CHANNEL_HDR + ((dlen + 3u) & ~3u)));
	} else if (size >= TURN_CHANNEL_HDR && stun_is_channeldata(copy, size)) {
		/* refused only because the datagram is shorter than its length */
		FUZZ_CHECK(((size_t)copy[2] << 8 | copy[3]) > size - TURN_CHANNEL_HDR);
	}

	/* as a stream: a known length never changes as bytes arrive */
	int known = 0;
	for (size_t k = 0; k <= size && k <= 8; k++) {
		int r = stun_frame_len(copy, k);
		FUZZ_CHECK(r >= 0 || r == -EINVAL);
		if (r > 0) {
			FUZZ_CHECK(known == 0 || r == known);
			known = r;
		}
	}

	/* as a TCP stream: frames back to back until the bytes can be neither */
	size_t off = 0;
	for (unsigned n = 0; off < size && n < 256; n++) {
		int r = stun_frame_len(copy + off, size - off);
		if (r <= 0 || (size_t)r > size - off)
			break; /* invalid, or the rest of the frame has not arrived */
		const uint8_t *frame = copy + off;
		if (stun_is_channeldata(frame, (size_t)r)) {
			FUZZ_CHECK(stun_channeldata_parse(frame, (size_t)r, &ch, &payload, &dlen) == 0);
			FUZZ_CHECK((size_t)r == TURN_CHANNEL_HDR + ((dlen + 3u) & ~3u));
		} else {
			struct stun_msg m;
			FUZZ_CHECK(r >= STUN_HEADER_LEN && r % 4 == 0);
			(void)stun_parse(&m, frame, (size_t)r); /* the attributes may still be bad */
		}
		off += (size_t)r;
	}
	free(copy);
	return 0;
}
