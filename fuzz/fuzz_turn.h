/* The input language of fuzz_turn (see fuzz_turn.c), shared with the seed
 * generator (seeds.c). */
#ifndef TERN_FUZZ_TURN_H
#define TERN_FUZZ_TURN_H

/* cfg0 */
enum {
	C0_SHA256 = 1 << 0,      /* auth advertises SHA-256 / USERHASH */
	C0_REST = 1 << 1,        /* a REST API secret too */
	C0_NOAUTH = 1 << 2,      /* no authentication at all */
	C0_FINGERPRINT = 1 << 3, /* FINGERPRINT on every answer */
	C0_SOFTWARE = 1 << 4,
	C0_STRICT_CHAN = 1 << 5, /* channels 0x4000..0x4FFF only */
	C0_NO_V6 = 1 << 6,       /* no IPv6 relay */
	C0_NO_V4 = 1 << 7,       /* no IPv4 relay */
};
/* cfg1 */
enum {
	C1_MAX_BPS = 1 << 0,    /* 500 bytes/s per allocation */
	C1_QUOTA = 1 << 1,      /* user quota 1, total quota 3, 200 unsigned answer bytes/s */
	C1_LOOPBACK = 1 << 2,   /* allow-loopback-peers */
	C1_RANGES = 1 << 3,     /* allowed 10/8, denied 203.0.113.128/25 */
	C1_OPEN_FAILS = 1 << 4, /* every third relay_open / relay_adopt fails */
	C1_NO_STUN = 1 << 5,
	C1_SMALL_POOL = 1 << 6,   /* 2 allocations in the pool instead of 8 (and, without
	                           * C1_SMALL_LIMITS, 40 permissions / channels each);
	                           * pool caps of 5 permissions and 3 channels */
	C1_SMALL_LIMITS = 1 << 7, /* 2 permissions / channels per allocation instead of 6 */
};

enum { OP_RAW, OP_BUILT, OP_ALLOCATE, OP_REQ, OP_CHANDATA, OP_PEER, OP_TIME, OP_CLOSE, OP_COUNT };

/* OP_REQ kinds ((kind & 7) % 5; bits 3-4: peers in a CreatePermission - 1;
 * bit 6: see op_req; bit 7: SHA-256 credentials) */
enum { R_REFRESH, R_PERMISSION, R_CHANNEL_BIND, R_SEND, R_BINDING };

/* Harness shorthands for OP_BUILT attribute types. */
enum {
	FA_PEER = 0xFFF0,      /* XOR-PEER-ADDRESS: a peer selector follows */
	FA_CHANNEL = 0xFFF1,   /* CHANNEL-NUMBER: u16 follows */
	FA_TOKEN = 0xFFF2,     /* RESERVATION-TOKEN: the last one the server gave */
	FA_TRANSPORT = 0xFFF3, /* REQUESTED-TRANSPORT UDP */
	FA_LIFETIME = 0xFFF4,  /* LIFETIME: u32 follows */
	FA_DATA = 0xFFF5,      /* DATA: u16 length and bytes follow */
};

enum {
	S_SIGN = 1 << 0,
	S_SHA256 = 1 << 1,
	S_USERHASH = 1 << 2,
	S_FINGERPRINT = 1 << 3,
	S_WRONG_KEY = 1 << 4,
	S_USER_SHIFT = 5, /* 2 bits: alice, bob, REST user, unknown */
	S_RETRANSMIT = 1 << 7,
};
enum {
	X_STALE = 1 << 0,      /* a nonce that expired */
	X_FOREIGN = 1 << 1,    /* a nonce made for another address */
	X_NO_ALGS = 1 << 2,    /* SHA-256 without PASSWORD-ALGORITHMS */
	X_AFTER_MI = 1 << 3,   /* junk attribute after MESSAGE-INTEGRITY */
	X_TRUNC_MI256 = 1 << 4 /* 16-byte MESSAGE-INTEGRITY-SHA256 */
};

enum {
	A_EVEN = 1 << 0,
	A_RESERVE = 1 << 1,
	A_RAF6 = 1 << 2,
	A_AAF6 = 1 << 3,
	A_DF = 1 << 4,
	A_TOKEN = 1 << 5,
	A_LIFETIME = 1 << 6,
	A_SHA256 = 1 << 7,
};

#endif
