/* Seed corpus generator: `fuzz_seeds DIR` writes DIR/{stun,channeldata,
 * turn,config,proxy,sniff,frames}/<name> (the committed fuzz/corpus/ was made
 * with it).
 *
 *  stun:        the RFC 5769 / RFC 8489 vectors of the unit tests, and the
 *               requests, responses and indications tern sends and receives,
 *               built with the codec (signed, fingerprinted, v4 and v6);
 *  channeldata: headers with and without payload and padding;
 *  turn:        fuzz_turn scenarios (fuzz_turn.h): Binding, the 401
 *               challenge, Allocate -> CreatePermission -> ChannelBind ->
 *               ChannelData / Send both ways -> Refresh, expiry, EVEN-PORT
 *               with RESERVATION-TOKEN, dual stack, SHA-256 and USERHASH,
 *               REST users, retransmissions, quotas and rate limits;
 *  config:      etc/ternd.conf-like files and command lines;
 *  proxy:       PROXY protocol headers as HAProxy sends them
 *               (tests/vectors/proxy_haproxy.h), the longest v1 lines, v2
 *               with TLVs and with every family, each followed by bytes of
 *               the client's;
 *  sniff:       client streams (fuzz_sniff: piece sizes, then the bytes):
 *               STUN and ChannelData back to back, whole, byte by byte and
 *               in odd pieces, a frame longer than the first buffer, a
 *               partial frame at the close, garbage after frames, a bad
 *               STUN length, a TLS ClientHello;
 *  frames:      the same streams, for fuzz_frames (the same input). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_turn.h"
#include "stun/stun.h"
#include "util/addr.h"
#include "util/bytes.h"
#include "vectors/proxy_haproxy.h"
#include "vectors/stun_rfc.h"

static const char *g_dir;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", g_dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", g_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fclose(f);
}

static union tern_addr A(const char *s) {
	union tern_addr a;
	if (addr_parse(&a, s, 0) != 0)
		abort();
	return a;
}

/* ---- stun ---- */

static const uint8_t txid[STUN_TXID_LEN] = {'s', 'e', 'e', 'd', 1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key16[16] = "0123456789abcdef";
static const uint8_t key32[32] = "0123456789abcdef0123456789abcdef";

static void put_built(const char *name, struct stun_builder *b)
{
	int len = stun_build_finish(b);
	if (len < 0)
		abort();
	put("stun", name, b->buf, (size_t)len);
}

static void stun_seeds(void)
{
	uint8_t buf[2048];
	struct stun_builder b;
	union tern_addr v4 = A("192.0.2.1:32853"), v6 = A("[2001:db8:1234:5678:11:2233:4455:6677]:32853");

	put("stun", "rfc5769-request", rfc5769_request, sizeof(rfc5769_request));
	put("stun", "rfc5769-ipv4", rfc5769_ipv4, sizeof(rfc5769_ipv4));
	put("stun", "rfc5769-ipv6", rfc5769_ipv6, sizeof(rfc5769_ipv6));
	put("stun", "rfc5769-longterm", rfc5769_longterm, sizeof(rfc5769_longterm));
	put("stun", "rfc8489-b1-published", rfc8489_b1_published, sizeof(rfc8489_b1_published));
	put("stun", "rfc8489-b1-errata", rfc8489_b1_errata, sizeof(rfc8489_b1_errata));

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	put_built("binding", &b);
	stun_add_fingerprint(&b);
	put_built("binding-fp", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	put_built("allocate-unsigned", &b);
	stun_add_attr(&b, STUN_A_USERNAME, "alice", 5);
	stun_add_attr(&b, STUN_A_REALM, "example.org", 11);
	stun_add_attr(&b, STUN_A_NONCE, "AAAAAAAAAAAAAAAA", 16);
	uint8_t even = 0x80;
	stun_add_attr(&b, STUN_A_EVEN_PORT, &even, 1);
	stun_add_family(&b, STUN_A_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	stun_add_u32(&b, STUN_A_LIFETIME, 3600);
	stun_add_attr(&b, STUN_A_DONT_FRAGMENT, NULL, 0);
	stun_add_integrity(&b, key16, sizeof(key16));
	put_built("allocate-signed", &b);
	stun_add_integrity_sha256(&b, key32, sizeof(key32));
	stun_add_fingerprint(&b);
	put_built("allocate-signed-sha256-fp", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_ERROR), txid);
	stun_add_error(&b, 401, NULL);
	stun_add_attr(&b, STUN_A_REALM, "example.org", 11);
	stun_add_attr(&b, STUN_A_NONCE, "obMatJos2AAABxxxxxxxxxxxxxxxx", 29);
	static const uint8_t algs[8] = {0, STUN_PWALG_SHA256, 0, 0, 0, STUN_PWALG_MD5, 0, 0};
	stun_add_attr(&b, STUN_A_PASSWORD_ALGORITHMS, algs, sizeof(algs));
	put_built("error-401", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_SUCCESS), txid);
	stun_add_xaddr(&b, STUN_A_XOR_RELAYED_ADDRESS, &v4);
	stun_add_xaddr(&b, STUN_A_XOR_RELAYED_ADDRESS, &v6);
	stun_add_u32(&b, STUN_A_LIFETIME, 600);
	stun_add_attr(&b, STUN_A_RESERVATION_TOKEN, "12345678", 8);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &v4);
	stun_add_addr(&b, STUN_A_MAPPED_ADDRESS, &v6);
	stun_add_attr(&b, STUN_A_SOFTWARE, "tern", 4);
	stun_add_integrity(&b, key16, sizeof(key16));
	stun_add_fingerprint(&b);
	put_built("allocate-success", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_CREATE_PERMISSION, STUN_REQUEST), txid);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &v4);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &v6);
	put_built("create-permission", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_CHANNEL_BIND, STUN_REQUEST), txid);
	stun_add_channel(&b, 0x4001);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &v4);
	put_built("channel-bind", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &v6);
	stun_add_attr(&b, STUN_A_DATA, "hello, peer", 11);
	put_built("send-indication", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_DATA, STUN_INDICATION), txid);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &v4);
	stun_add_attr(&b, STUN_A_DATA, "hello, client", 13);
	put_built("data-indication", &b);

	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_ERROR), txid);
	stun_add_error(&b, 420, "Unknown Attribute");
	static const uint16_t unk[] = {0x7777, 0x0042};
	stun_add_unknown(&b, unk, 2);
	put_built("error-420", &b);
}

/* ---- channeldata ---- */

static void cd_seeds(void)
{
	static const uint8_t empty[] = {0x40, 0x00, 0x00, 0x00};
	static const uint8_t data[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
	static const uint8_t rfc5766[] = {0x7f, 0xff, 0x00, 0x02, 0xAB, 0xCD};
	static const uint8_t short_[] = {0x4f, 0xff, 0x00, 0x10, 1, 2, 3};
	put("channeldata", "empty", empty, sizeof(empty));
	put("channeldata", "padded", data, sizeof(data));
	put("channeldata", "unpadded", data, 9);
	put("channeldata", "rfc5766-range", rfc5766, sizeof(rfc5766));
	put("channeldata", "short", short_, sizeof(short_));

	/* a TCP stream: ChannelData, a Binding request, ChannelData, a partial frame */
	uint8_t stream[128];
	size_t n = 0;
	struct stun_builder b;
	memcpy(stream + n, data, sizeof(data));
	n += sizeof(data);
	stun_build_init(&b, stream + n, sizeof(stream) - n, stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_fingerprint(&b);
	n += (size_t)stun_build_finish(&b);
	memcpy(stream + n, empty, sizeof(empty));
	n += sizeof(empty);
	memcpy(stream + n, data, 6);
	n += 6;
	put("channeldata", "tcp-stream", stream, n);
}

/* ---- turn scenarios ---- */

struct sc {
	uint8_t b[2048];
	size_t n;
};

static void sc_bytes(struct sc *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->b))
		abort();
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

/* sc_add(s, n, byte...) */
static void sc_add(struct sc *s, int n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		uint8_t v = (uint8_t)va_arg(ap, int);
		sc_bytes(s, &v, 1);
	}
	va_end(ap);
}

static void sc_u16(struct sc *s, unsigned v)
{
	sc_add(s, 2, v >> 8, v & 0xFF);
}

static void sc_u32(struct sc *s, uint32_t v)
{
	sc_u16(s, v >> 16);
	sc_u16(s, v & 0xFFFF);
}

/* raw datagram (built message) from client c */
static void sc_raw(struct sc *s, int c, struct stun_builder *b)
{
	int len = stun_build_finish(b);
	sc_add(s, 2, OP_RAW, c);
	sc_u16(s, (unsigned)len);
	sc_bytes(s, b->buf, (size_t)len);
}

static void sc_alloc(struct sc *s, int c, int flags)
{
	sc_add(s, 3, OP_ALLOCATE, c, flags);
	if (flags & A_LIFETIME)
		sc_u32(s, 1200);
}
static void sc_perm(struct sc *s, int c, int peer)
{
	sc_add(s, 4, OP_REQ, c, R_PERMISSION, peer);
}
static void sc_bind(struct sc *s, int c, int chan_lo, int peer)
{
	sc_add(s, 5, OP_REQ, c, R_CHANNEL_BIND, chan_lo, peer);
}
static void sc_send(struct sc *s, int c, int peer, const char *data)
{
	sc_add(s, 5, OP_REQ, c, R_SEND, peer, (int)strlen(data));
	sc_bytes(s, data, strlen(data));
}
static void sc_chandata(struct sc *s, int c, int chan_lo, const char *data)
{
	size_t n = strlen(data);
	sc_add(s, 4, OP_CHANDATA, c, chan_lo, (int)((n + 3) / 4));
	uint8_t buf[1024] = {0};
	memcpy(buf, data, n);
	sc_bytes(s, buf, (n + 3) / 4 * 4);
	sc_add(s, 1, 0);
}
static void sc_peer(struct sc *s, int relay, int peer, const char *data)
{
	sc_add(s, 3, OP_PEER, relay, peer);
	sc_u16(s, (unsigned)strlen(data));
	sc_bytes(s, data, strlen(data));
}
static void sc_time(struct sc *s, int step)
{
	sc_add(s, 2, OP_TIME, step);
}
static void sc_refresh(struct sc *s, int c, uint32_t lifetime)
{
	sc_add(s, 3, OP_REQ, c, R_REFRESH | 0x40);
	sc_u32(s, lifetime);
}

static void sc_put(const char *name, struct sc *s)
{
	put("turn", name, s->b, s->n);
}

static void turn_seeds(void)
{
	uint8_t buf[512];
	struct stun_builder b;
	struct sc s;

	/* 1. Binding, v4 and v6, raw */
	s.n = 0;
	sc_add(&s, 2, 0, 0);
	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	sc_raw(&s, 0, &b);
	sc_raw(&s, 3, &b);
	sc_put("binding", &s);

	/* 2. the 401 challenge to an unsigned Allocate, and garbage */
	s.n = 0;
	sc_add(&s, 2, C0_FINGERPRINT, 0);
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	sc_raw(&s, 1, &b);
	sc_add(&s, 4, OP_RAW, 2, 0, 3);
	sc_add(&s, 3, 0x40, 0x00, 0xFF);
	sc_put("challenge", &s);

	/* 3. the whole life of an allocation */
	s.n = 0;
	sc_add(&s, 2, 0, 0);
	sc_alloc(&s, 0, 0);
	sc_perm(&s, 0, 0);
	sc_bind(&s, 0, 1, 0);
	sc_chandata(&s, 0, 1, "to the peer over a channel");
	sc_send(&s, 0, 0, "to the peer in a Send indication");
	sc_peer(&s, 0, 0, "back over the channel");
	sc_perm(&s, 0, 2); /* IPv6 peer on a v4 allocation: 443 */
	sc_send(&s, 0, 5, "denied peer");
	sc_time(&s, 100);
	sc_refresh(&s, 0, 600);
	sc_refresh(&s, 0, 0);
	sc_put("lifecycle", &s);

	/* 4. Data indications (no channel), expiry of permissions and allocation */
	s.n = 0;
	sc_add(&s, 2, C0_SOFTWARE, 0);
	sc_alloc(&s, 2, A_LIFETIME);
	sc_perm(&s, 2, 0);
	sc_peer(&s, 0, 0, "a Data indication");
	sc_peer(&s, 0, 1, "same IP, other port: permitted");
	sc_time(&s, 0x80 + 18); /* 361 s: permission gone */
	sc_peer(&s, 0, 0, "dropped");
	sc_time(&s, 0x80 + 40); /* allocation gone */
	sc_put("expiry", &s);

	/* 5. EVEN-PORT with R, then the token redeemed by another client */
	s.n = 0;
	sc_add(&s, 2, 0, 0);
	sc_alloc(&s, 0, A_EVEN | A_RESERVE | A_DF);
	sc_alloc(&s, 1, A_TOKEN);
	sc_alloc(&s, 2, A_TOKEN);
	sc_time(&s, 0x80 + 6);
	sc_put("reservation", &s);

	/* 6. dual stack and an IPv6 allocation */
	s.n = 0;
	sc_add(&s, 2, 0, C1_LOOPBACK);
	sc_alloc(&s, 0, A_AAF6);
	sc_perm(&s, 0, 0);
	sc_perm(&s, 0, 2);
	sc_peer(&s, 1, 2, "from a v6 peer");
	sc_alloc(&s, 3, A_RAF6);
	sc_bind(&s, 3, 7, 2);
	sc_bind(&s, 3, 8, 4); /* loopback, allowed by this config (but v4) */
	sc_put("dual-stack", &s);

	/* 7. SHA-256 with USERHASH, and a REST user */
	s.n = 0;
	sc_add(&s, 2, C0_SHA256 | C0_REST, 0);
	sc_alloc(&s, 0, A_SHA256);
	sc_add(&s, 8, OP_BUILT, 1, TURN_ALLOCATE, S_SIGN | S_SHA256 | S_USERHASH, 0, 1, FA_TRANSPORT >> 8,
	       FA_TRANSPORT & 0xFF);
	sc_add(&s, 8, OP_BUILT, 2, TURN_ALLOCATE, S_SIGN | (2 << S_USER_SHIFT) | S_FINGERPRINT, 0, 1,
	       FA_TRANSPORT >> 8, FA_TRANSPORT & 0xFF);
	sc_add(&s, 8, OP_BUILT, 3, TURN_ALLOCATE, S_SIGN | S_SHA256, X_TRUNC_MI256, 1, FA_TRANSPORT >> 8,
	       FA_TRANSPORT & 0xFF);
	sc_add(&s, 8, OP_BUILT, 4, TURN_ALLOCATE, S_SIGN, X_STALE, 1, FA_TRANSPORT >> 8, FA_TRANSPORT & 0xFF);
	sc_put("sha256-rest", &s);

	/* 8. retransmission of a signed request, and a bob (key-only) allocation */
	s.n = 0;
	sc_add(&s, 2, 0, 0);
	sc_add(&s, 8, OP_BUILT, 0, TURN_ALLOCATE, S_SIGN | (1 << S_USER_SHIFT), 0, 1, FA_TRANSPORT >> 8,
	       FA_TRANSPORT & 0xFF);
	sc_add(&s, 8, OP_BUILT, 0, TURN_ALLOCATE, S_SIGN | (1 << S_USER_SHIFT) | S_RETRANSMIT, 0, 1,
	       FA_TRANSPORT >> 8, FA_TRANSPORT & 0xFF);
	sc_add(&s, 7, OP_BUILT, 0, TURN_CREATE_PERMISSION, S_SIGN | (1 << S_USER_SHIFT), 0, 1, FA_PEER >> 8);
	sc_add(&s, 2, FA_PEER & 0xFF, 1);
	sc_add(&s, 7, OP_BUILT, 0, TURN_CHANNEL_BIND, S_SIGN | (1 << S_USER_SHIFT), X_AFTER_MI, 2,
	       FA_CHANNEL >> 8);
	sc_add(&s, 3, FA_CHANNEL & 0xFF, 0x40, 0x10);
	sc_add(&s, 2, FA_PEER >> 8, FA_PEER & 0xFF);
	sc_add(&s, 1, 1);
	sc_put("retransmit", &s);

	/* 9. quotas, a failing relay_open and a small pool */
	s.n = 0;
	sc_add(&s, 2, 0, C1_QUOTA | C1_OPEN_FAILS | C1_SMALL_POOL);
	for (int c = 0; c < 6; c++)
		sc_alloc(&s, c, 0);
	sc_put("quota", &s);

	/* 10. no-auth, a rate limit, strict channel numbers */
	s.n = 0;
	sc_add(&s, 2, C0_NOAUTH | C0_STRICT_CHAN, C1_MAX_BPS);
	sc_alloc(&s, 5, 0);
	sc_perm(&s, 5, 1);
	sc_bind(&s, 5, 0x20, 1);
	char big[201];
	memset(big, 'x', 200);
	big[200] = 0;
	for (int i = 0; i < 4; i++)
		sc_chandata(&s, 5, 0x20, big); /* 500 bytes/s: the third is dropped */
	sc_time(&s, 60);
	sc_chandata(&s, 5, 0x20, "after the bucket refilled");
	sc_put("noauth-bps", &s);

	/* 11. unsigned answers to one source past the rate limit, and after a pause */
	s.n = 0;
	sc_add(&s, 2, C0_FINGERPRINT, C1_QUOTA);
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	for (int i = 0; i < 12; i++)
		sc_raw(&s, i % 2 ? 0 : 1, &b); /* two ports of one address: one bucket */
	sc_time(&s, 0x80 + 2);
	sc_raw(&s, 0, &b);
	sc_raw(&s, 3, &b);
	sc_put("unauth-ratelimit", &s);

	/* 12. attribute combinations: the SSODA draft's ADDITIONAL-ADDRESS-FAMILY,
	 * a token with a family (400), Refresh asking for a family it lacks (443) */
	s.n = 0;
	sc_add(&s, 2, 0, 0);
	sc_add(&s, 8, OP_BUILT, 0, TURN_ALLOCATE, S_SIGN, 0, 2, FA_TRANSPORT >> 8, FA_TRANSPORT & 0xFF);
	sc_add(&s, 7, STUN_A_ADDITIONAL_ADDRESS_FAMILY_DRAFT >> 8,
	       STUN_A_ADDITIONAL_ADDRESS_FAMILY_DRAFT & 0xFF, 4, STUN_FAMILY_IPV6, 0, 0, 0);
	sc_add(&s, 8, OP_BUILT, 1, TURN_ALLOCATE, S_SIGN, 0, 3, FA_TRANSPORT >> 8, FA_TRANSPORT & 0xFF);
	sc_add(&s, 2, FA_TOKEN >> 8, FA_TOKEN & 0xFF);
	sc_add(&s, 7, 0, STUN_A_REQUESTED_ADDRESS_FAMILY, 4, STUN_FAMILY_IPV4, 0, 0, 0);
	sc_alloc(&s, 2, 0);
	sc_add(&s, 6, OP_BUILT, 2, TURN_REFRESH, S_SIGN, 0, 1);
	sc_add(&s, 7, 0, STUN_A_REQUESTED_ADDRESS_FAMILY, 4, STUN_FAMILY_IPV6, 0, 0, 0);
	sc_put("attribute-combinations", &s);
}

/* ---- config ---- */

/* One option per line, as in a file: keep clang-format out. */
/* clang-format off */
static void config_seeds(void)
{
	static const char file[] =
	    "\x00"
	    "# comment\n"
	    "listening-ip=127.0.0.1\n"
	    "listening-ip=::1\n"
	    "listening-port=3478\n"
	    "relay-ip=127.0.0.1\n"
	    "external-ip=203.0.113.7/10.0.0.7\n"
	    "min-port=49152\n"
	    "max-port 65535\n"
	    "realm=tern.local\n"
	    "lt-cred-mech\n"
	    "user=demo:demo-password\n"
	    "user=keyed:0x0123456789abcdef0123456789abcdef\n"
	    "static-auth-secret=\"a secret\"\n"
	    "allowed-peer-ip=10.0.0.1-10.0.0.200\n"
	    "denied-peer-ip=2001:db8::/32\n"
	    "stale-nonce\n"
	    "user-quota=10\n"
	    "max-bps=100000\n"
	    "fingerprint\n"
	    "verbose\n"
	    "no-tlsv1\n";
	put("config", "file", file, sizeof(file) - 1);

	static const char bad[] = "\x02"
	                          "listening-port=99999\n";
	put("config", "file-error", bad, sizeof(bad) - 1);

	static const char argv1[] = "\x01"
	                            "--listening-ip\0" "127.0.0.1\0"
	                            "-p3478\0"
	                            "--realm=example.org\0"
	                            "-u\0" "alice:secret\0"
	                            "--use-auth-secret\0"
	                            "--static-auth-secret\0" "s3cret\0"
	                            "-v\0"
	                            "--stale-nonce=300\0";
	put("config", "argv", argv1, sizeof(argv1) - 1);

	static const char argv2[] = "\x03"
	                            "-c\0" "ternd.conf\0"
	                            "--max-port\0" "60000\0"
	                            "\0"
	                            "min-port=50000\n"
	                            "user=u:p\n"
	                            "relay-ip=::1\n";
	put("config", "argv-file", argv2, sizeof(argv2) - 1);
}
/* clang-format on */

/* ---- proxy ---- */

static size_t proxy_v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t blen)
{
	static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
	                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
	memcpy(out, sig, sizeof(sig));
	out[12] = ver_cmd;
	out[13] = fam;
	wr16(out + 14, (uint16_t)blen);
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void proxy_seeds(void)
{
	static const char v1_tcp6[] =
	    "PROXY TCP6 2001:db8::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 1 65535\r\n";
	static const char v1_unknown[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                                 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	static const uint8_t ssl[] = {0x01, 0, 0, 0, 0, 0x21, 0x00, 0x07, 'T', 'L', 'S', 'v', '1', '.', '3'};
	uint8_t body[300], b[400];
	size_t m, n;

	put("proxy", "haproxy-v1-tcp4", hap_v1_tcp4, sizeof(hap_v1_tcp4) - 1);
	put("proxy", "haproxy-v1-tcp6-mapped", hap_v1_tcp6_mapped, sizeof(hap_v1_tcp6_mapped) - 1);
	put("proxy", "haproxy-v2-tcp4-crc32c", hap_v2_tcp4_crc, sizeof(hap_v2_tcp4_crc));
	put("proxy", "haproxy-v2-tcp6", hap_v2_tcp6, sizeof(hap_v2_tcp6));
	put("proxy", "haproxy-v2-local", hap_v2_local, sizeof(hap_v2_local));
	put("proxy", "v1-tcp6", v1_tcp6, sizeof(v1_tcp6) - 1);
	put("proxy", "v1-unknown-107", v1_unknown, sizeof(v1_unknown) - 1);

	/* a v1 line, then a STUN Binding request */
	struct stun_builder sb;
	memcpy(b, hap_v1_tcp4, HAP_V1_TCP4_LEN);
	stun_build_init(&sb, b + HAP_V1_TCP4_LEN, sizeof(b) - HAP_V1_TCP4_LEN,
	                stun_type(STUN_BINDING, STUN_REQUEST), txid);
	put("proxy", "v1-then-stun", b, HAP_V1_TCP4_LEN + (size_t)stun_build_finish(&sb));

	/* v2 over IPv6 with TLVs: ALPN, NOOP, SSL with a version, AWS VPC endpoint */
	static const uint8_t a6[36] = {0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,    0,   0, 0, 0,
	                               0,    0,    1,    0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,   0, 0, 0,
	                               0,    0,    0,    0,    0,    2,    0x9c, 0x40, 0x0d, 0x96};
	memcpy(body, a6, sizeof(a6));
	m = sizeof(a6);
	memcpy(body + m, "\x01\x00\x02h2\x04\x00\x00\x20\x00\x0f", 11);
	m += 11;
	memcpy(body + m, ssl, sizeof(ssl));
	m += sizeof(ssl);
	memcpy(body + m, "\xea\x00\x09vpce-0123", 12);
	m += 12;
	n = proxy_v2(b, 0x21, 0x21, body, m);
	memcpy(b + n, "client", 6);
	put("proxy", "v2-tcp6-tlvs", b, n + 6);

	/* families tern takes as local: UDP, AF_UNIX, UNSPEC with a TLV */
	memset(body, 0, sizeof(body));
	memcpy(body, "\xc0\x00\x02\x01\xc6\x33\x64\x07\x9c\x40\x0d\x96", 12);
	put("proxy", "v2-udp4", b, proxy_v2(b, 0x21, 0x12, body, 12));
	memcpy(body, "/run/haproxy.sock", 17);
	put("proxy", "v2-unix-stream", b, proxy_v2(b, 0x21, 0x31, body, 216));
	put("proxy", "v2-unspec-noop", b, proxy_v2(b, 0x21, 0x00, "\x04\x00\x01x", 4));
	/* LOCAL carrying addresses anyway: discarded */
	memcpy(body, "\xc0\x00\x02\x01\xc6\x33\x64\x07\x9c\x40\x0d\x96", 12);
	put("proxy", "v2-local-addresses", b, proxy_v2(b, 0x20, 0x11, body, 12));
}

/* ---- sniff ---- */

/* One fuzz_sniff (and fuzz_frames) input: the piece sizes, then the stream. */
static void sniff_put(const char *name, const uint16_t *sizes, unsigned n, const uint8_t *s, size_t len)
{
	static uint8_t b[20000];
	size_t k = 0;
	b[k++] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		wr16(b + k, sizes[i]);
		k += 2;
	}
	if (k + len > sizeof(b))
		abort();
	memcpy(b + k, s, len);
	put("sniff", name, b, k + len);
	put("frames", name, b, k + len); /* fuzz_frames reads the same language */
}

static void sniff_seeds(void)
{
	static uint8_t s[16384];
	size_t n = 0;
	struct stun_builder b;
	static const uint8_t cd[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
	static const uint16_t bytewise[] = {1}, odd[] = {3, 7, 1, 0, 29}, big[] = {1000, 4096};

	/* Binding (fingerprinted), ChannelData, a signed Allocate, empty ChannelData */
	stun_build_init(&b, s + n, sizeof(s) - n, stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_fingerprint(&b);
	n += (size_t)stun_build_finish(&b);
	memcpy(s + n, cd, sizeof(cd));
	n += sizeof(cd);
	stun_build_init(&b, s + n, sizeof(s) - n, stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	stun_add_attr(&b, STUN_A_USERNAME, "alice", 5);
	stun_add_attr(&b, STUN_A_REALM, "example.org", 11);
	stun_add_attr(&b, STUN_A_NONCE, "AAAAAAAAAAAAAAAA", 16);
	stun_add_integrity(&b, key16, sizeof(key16));
	n += (size_t)stun_build_finish(&b);
	memcpy(s + n, "\x40\x02\x00\x00", 4);
	n += 4;
	sniff_put("stream-whole", NULL, 0, s, n);
	sniff_put("stream-bytewise", bytewise, 1, s, n);
	sniff_put("stream-odd-pieces", odd, 5, s, n);
	/* ... then half a frame when the client closes */
	sniff_put("partial-at-close", odd, 5, s, n + 7);
	/* ... then bytes that are neither */
	memset(s + n, 0xc5, 8);
	sniff_put("garbage-after-frames", odd, 5, s, n + 8);

	/* ChannelData longer than the first buffer (4 KiB), then a Binding */
	n = 0;
	wr16(s, 0x4ffe);
	wr16(s + 2, 5001);
	memset(s + 4, 0xab, 5001);
	n = 4 + 5004;
	stun_build_init(&b, s + n, sizeof(s) - n, stun_type(STUN_BINDING, STUN_REQUEST), txid);
	n += (size_t)stun_build_finish(&b);
	sniff_put("channeldata-over-4k", big, 2, s, n);

	/* a STUN length that is no multiple of 4; the longest length announced */
	stun_build_init(&b, s, sizeof(s), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	n = (size_t)stun_build_finish(&b);
	wr16(s + 2, 6);
	sniff_put("stun-bad-length", bytewise, 1, s, n);
	wr16(s + 2, 0xfffc);
	sniff_put("stun-longest-header", bytewise, 1, s, n);

	/* a TLS record header and the start of a ClientHello */
	static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03};
	sniff_put("tls-clienthello", odd, 5, hello, sizeof(hello));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr,
		        "usage: %s DIR   (writes DIR/{stun,channeldata,turn,config,proxy,sniff,frames}/)\n",
		        argv[0]);
		return 2;
	}
	g_dir = argv[1];
	mkdir(g_dir, 0755);
	stun_seeds();
	cd_seeds();
	turn_seeds();
	config_seeds();
	proxy_seeds();
	sniff_seeds();
	return 0;
}
