/* STUN wire codec (RFC 8489, RFC 5389, TURN attributes of RFC 8656 and
 * RFC 6156/8656 address families). Pure: no I/O, no allocation, no globals.
 *
 * Parsing is zero-copy: struct stun_msg holds pointers into the caller's
 * buffer, which must outlive the view. Building writes into a caller buffer.
 * Return convention: 0 or a positive length on success, -errno on failure
 * (-EINVAL malformed, -ENOSPC buffer too small, -ENOENT attribute absent,
 * -EBADMSG integrity or fingerprint mismatch). */
#ifndef TERN_STUN_STUN_H
#define TERN_STUN_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/addr.h"

#define STUN_HEADER_LEN   20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TXID_LEN     12
/* Largest message tern builds or accepts over UDP (RFC 8489 §6.1 path MTU
 * concerns aside, a datagram cannot exceed this). */
#define STUN_MAX_MSG 65535

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
	/* RFC 6062 */
	TURN_CONNECT = 0x00a,
	TURN_CONNECTION_BIND = 0x00b,
	TURN_CONNECTION_ATTEMPT = 0x00c,
};

enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 5780, RFC 6062). */
enum stun_attr_type {
	STUN_A_MAPPED_ADDRESS = 0x0001,
	STUN_A_CHANGE_REQUEST = 0x0003, /* RFC 5780 */
	STUN_A_USERNAME = 0x0006,
	STUN_A_MESSAGE_INTEGRITY = 0x0008,
	STUN_A_ERROR_CODE = 0x0009,
	STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_A_CHANNEL_NUMBER = 0x000C,
	STUN_A_LIFETIME = 0x000D,
	STUN_A_XOR_PEER_ADDRESS = 0x0012,
	STUN_A_DATA = 0x0013,
	STUN_A_REALM = 0x0014,
	STUN_A_NONCE = 0x0015,
	STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_A_EVEN_PORT = 0x0018,
	STUN_A_REQUESTED_TRANSPORT = 0x0019,
	STUN_A_DONT_FRAGMENT = 0x001A,
	STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_A_PASSWORD_ALGORITHM = 0x001D,
	STUN_A_USERHASH = 0x001E,
	STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_A_RESERVATION_TOKEN = 0x0022,
	STUN_A_PRIORITY = 0x0024, /* ICE */
	STUN_A_USE_CANDIDATE = 0x0025,
	STUN_A_PADDING = 0x0026,
	STUN_A_RESPONSE_PORT = 0x0027,
	STUN_A_CONNECTION_ID = 0x002A, /* RFC 6062 */
	/* comprehension-optional (>= 0x8000) */
	STUN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	/* The SSODA draft's numbers, still sent by coturn 4.6 clients. */
	STUN_A_ADDITIONAL_ADDRESS_FAMILY_DRAFT = 0x8032,
	STUN_A_ADDRESS_ERROR_CODE_DRAFT = 0x8033,
	STUN_A_ADDRESS_ERROR_CODE = 0x8001,
	STUN_A_PASSWORD_ALGORITHMS = 0x8002,
	STUN_A_ALTERNATE_DOMAIN = 0x8003,
	STUN_A_ICMP = 0x8004,
	STUN_A_SOFTWARE = 0x8022,
	STUN_A_ALTERNATE_SERVER = 0x8023,
	STUN_A_TRANSACTION_TRANSMIT_COUNTER = 0x8025,
	STUN_A_CACHE_TIMEOUT = 0x8027,
	STUN_A_FINGERPRINT = 0x8028,
	STUN_A_ICE_CONTROLLED = 0x8029,
	STUN_A_ICE_CONTROLLING = 0x802A,
	STUN_A_RESPONSE_ORIGIN = 0x802B,
	STUN_A_OTHER_ADDRESS = 0x802C,
};

/* PASSWORD-ALGORITHM values (RFC 8489 §18.5). */
enum stun_pw_alg {
	STUN_PWALG_MD5 = 0x0001,
	STUN_PWALG_SHA256 = 0x0002,
};

/* REQUESTED-ADDRESS-FAMILY values (RFC 8656 §18.8). */
#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

/* REQUESTED-TRANSPORT protocol numbers. */
#define STUN_TRANSPORT_UDP 17
#define STUN_TRANSPORT_TCP 6

/* Compose / split a message type (RFC 8489 §5: M and C bits interleaved). */
uint16_t stun_type(uint16_t method, enum stun_class cls);
uint16_t stun_type_method(uint16_t type);
enum stun_class stun_type_class(uint16_t type);

/* True when the first byte could start a STUN message (top two bits 0).
 * ChannelData starts with 0x40..0x7F (RFC 8656 §12). */
static inline bool stun_is_stun(const uint8_t *b, size_t len)
{
	return len >= 1 && (b[0] & 0xC0) == 0;
}
static inline bool stun_is_channeldata(const uint8_t *b, size_t len)
{
	return len >= 1 && (b[0] & 0xC0) == 0x40;
}

/* ---- parsing ---- */

/* At most this many attributes are recorded per message; a message with more
 * is rejected as malformed (no legitimate TURN message comes close). */
#define STUN_MAX_ATTRS 40
/* At most this many unknown comprehension-required types are recorded for
 * UNKNOWN-ATTRIBUTES. */
#define STUN_MAX_UNKNOWN 8

struct stun_attr {
	uint16_t type;
	uint16_t len;       /* value length, without padding */
	const uint8_t *val; /* points into the message buffer */
	uint16_t off;       /* offset of the attribute header from the message start */
};

struct stun_msg {
	const uint8_t *buf; /* the whole message (header + body) */
	size_t len;         /* 20 + header length field */
	uint16_t type;
	uint16_t method;
	enum stun_class cls;
	const uint8_t *txid; /* 12 bytes, points into buf */
	struct stun_attr attrs[STUN_MAX_ATTRS];
	unsigned nattrs;
	/* Indexes into attrs[], -1 when absent. Attributes after
	 * MESSAGE-INTEGRITY (other than MESSAGE-INTEGRITY-SHA256 and
	 * FINGERPRINT) and anything after FINGERPRINT are not recorded
	 * (RFC 8489 §14.5, §14.6, §14.7). */
	int mi;
	int mi256;
	int fp;
	/* Comprehension-required types (< 0x8000) this codec does not know. */
	uint16_t unknown[STUN_MAX_UNKNOWN];
	unsigned nunknown;
};

/* Parse and validate a STUN message that must fill exactly `len` bytes
 * (a UDP datagram; use stun_frame_len() first on a stream).
 * Checks: top two bits zero, magic cookie, length a multiple of 4 and equal
 * to len - 20, every attribute inside the message, attribute padding present.
 * Returns 0 or -EINVAL. Does not check integrity or fingerprint. */
int stun_parse(struct stun_msg *m, const uint8_t *buf, size_t len);

/* For stream transports (TCP/TLS): how long is the frame starting at buf?
 * STUN: 20 + length; ChannelData: 4 + length rounded up to 4 (RFC 8656
 * §12.5: over TCP, ChannelData is padded). Returns the frame length (> 0),
 * 0 when more bytes are needed to know, -EINVAL when the bytes can be
 * neither. */
int stun_frame_len(const uint8_t *buf, size_t len);

/* First attribute of this type, or NULL (RFC 8489 §14: only the first of
 * duplicates is processed). */
const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type);

/* Attribute value decoders. Each returns 0 or -EINVAL (wrong length or
 * value). */
/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS: needs the
 * message's transaction id for IPv6. */
int stun_attr_xaddr(const struct stun_msg *m, const struct stun_attr *a, union tern_addr *out);
/* MAPPED-ADDRESS, ALTERNATE-SERVER, OTHER-ADDRESS, RESPONSE-ORIGIN */
int stun_attr_addr(const struct stun_attr *a, union tern_addr *out);
int stun_attr_u32(const struct stun_attr *a, uint32_t *out); /* exactly 4 bytes */
int stun_attr_u64(const struct stun_attr *a, uint64_t *out); /* exactly 8 bytes */
/* ERROR-CODE: code = class*100 + number; reason points into the message
 * (not NUL-terminated). */
int stun_attr_error(const struct stun_attr *a, int *code, const uint8_t **reason, size_t *reason_len);
/* CHANNEL-NUMBER: the 16-bit number (RFFU bytes ignored). */
int stun_attr_channel(const struct stun_attr *a, uint16_t *out);
/* REQUESTED-TRANSPORT: the protocol byte. */
int stun_attr_transport(const struct stun_attr *a, uint8_t *proto);
/* REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY: 0x01 or 0x02
 * (other values are returned as-is; the caller answers 440). */
int stun_attr_family(const struct stun_attr *a, uint8_t *family);
/* EVEN-PORT: the R bit. */
int stun_attr_even_port(const struct stun_attr *a, bool *reserve);

/* ---- integrity and fingerprint (RFC 8489 §14.5-14.7) ---- */

/* HMACs use one OpenSSL context per thread and digest, made on first use
 * and freed when the thread exits. A thread that is not exiting (the
 * process's main thread, say) may free its own early; the next HMAC on
 * that thread makes new ones. */
void stun_integrity_thread_done(void);

/* Long-term key for MESSAGE-INTEGRITY: MD5(username ":" realm ":" password)
 * (RFC 8489 §9.2.2, no SASLprep: inputs are taken as bytes). out: 16 bytes. */
void stun_key_md5(const char *user, size_t ulen, const char *realm, size_t rlen, const char *pass,
                  size_t plen, uint8_t out[16]);
/* The same with SHA-256 (PASSWORD-ALGORITHM SHA-256). out: 32 bytes. */
void stun_key_sha256(const char *user, size_t ulen, const char *realm, size_t rlen, const char *pass,
                     size_t plen, uint8_t out[32]);
/* USERHASH = SHA-256(username ":" realm) (RFC 8489 §14.4). out: 32 bytes. */
void stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen, uint8_t out[32]);

/* Verify MESSAGE-INTEGRITY (HMAC-SHA1) of a parsed message with key.
 * The HMAC covers the message up to the attribute, with the header length
 * adjusted to end just after MESSAGE-INTEGRITY (RFC 8489 §14.5).
 * Constant-time compare. 0 ok, -ENOENT absent, -EBADMSG mismatch. */
int stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);
/* Verify MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, value 16..32 bytes, a
 * multiple of 4, RFC 8489 §14.6). Same return values. */
int stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);
/* Verify FINGERPRINT (CRC-32 XOR 0x5354554e). 0 ok, -ENOENT, -EBADMSG. */
int stun_check_fingerprint(const struct stun_msg *m);

/* ---- building ---- */

struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err; /* first error (-ENOSPC); later calls are no-ops */
};

/* Start a message of `type` (see stun_type()) with txid (12 bytes). */
void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type, const uint8_t *txid);
/* Append an attribute, zero padding to 4 bytes. Returns a pointer to the
 * value bytes in the buffer (NULL on error) so callers can fill it later. */
uint8_t *stun_add_attr(struct stun_builder *b, uint16_t type, const void *val, size_t len);
void stun_add_u32(struct stun_builder *b, uint16_t type, uint32_t v);
void stun_add_u64(struct stun_builder *b, uint16_t type, uint64_t v);
/* XOR-encoded address (XOR-MAPPED / XOR-PEER / XOR-RELAYED). */
void stun_add_xaddr(struct stun_builder *b, uint16_t type, const union tern_addr *a);
/* Plain address (MAPPED-ADDRESS, ALTERNATE-SERVER, OTHER-ADDRESS...). */
void stun_add_addr(struct stun_builder *b, uint16_t type, const union tern_addr *a);
/* ERROR-CODE; reason may be NULL (empty reason phrase, RFC 8489 §14.8
 * allows it; keeps unauthenticated answers small). */
void stun_add_error(struct stun_builder *b, int code, const char *reason);
void stun_add_unknown(struct stun_builder *b, const uint16_t *types, unsigned n);
void stun_add_channel(struct stun_builder *b, uint16_t channel);
void stun_add_transport(struct stun_builder *b, uint8_t proto);
void stun_add_family(struct stun_builder *b, uint16_t type, uint8_t family);
/* MESSAGE-INTEGRITY over everything so far (HMAC-SHA1, key of any length). */
void stun_add_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* MESSAGE-INTEGRITY-SHA256, full 32-byte HMAC. */
void stun_add_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* FINGERPRINT; must be last. */
void stun_add_fingerprint(struct stun_builder *b);
/* Total message length, or b->err. The header length field is kept
 * current after every add, so the buffer is a valid message at any point. */
int stun_build_finish(struct stun_builder *b);

/* ---- ChannelData (RFC 8656 §12.4) ---- */

#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x4FFF
#define TURN_CHANNEL_HDR 4

/* Parse a ChannelData datagram: channel number (0x4000..0x7FFF on the wire;
 * the caller checks the 0x4FFF bound), payload pointer and length. Over UDP
 * the datagram may be longer than 4 + length (padding, RFC 8656 §12.5), never
 * shorter. Returns 0 or -EINVAL. */
int stun_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel, const uint8_t **data,
                           uint16_t *data_len);
/* Write the 4-byte ChannelData header. */
static inline void stun_channeldata_hdr(uint8_t hdr[4], uint16_t channel, uint16_t len)
{
	hdr[0] = (uint8_t)(channel >> 8);
	hdr[1] = (uint8_t)channel;
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

/* Reason phrase for a code (RFC 8489 §14.8, RFC 8656 §18) or "" if unknown. */
const char *stun_reason(int code);

#endif
