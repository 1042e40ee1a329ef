/* PROXY protocol headers, versions 1 (text) and 2 (binary), as HAProxy's
 * doc/proxy-protocol.txt specifies them: the line or block a proxy (HAProxy,
 * an AWS NLB, stunnel...) writes at the start of a TCP connection to tell the
 * server who the client is. Pure: no I/O, no allocation, no globals.
 *
 * A listener that expects the header (coturn's tcp-proxy-port) must require
 * it on every connection and take it only from trusted proxies: the spec
 * forbids guessing whether one is present, since anyone who can reach the
 * port could otherwise claim any source address. So there is no "sniff"
 * function; proxy_parse's -EPROTO tells a client that spoke something else.
 *
 * Accepted (docs/PROXY.md has the operator's view):
 *   v1  "PROXY TCP4 <ipv4> <ipv4> <port> <port>\r\n", the same with TCP6, and
 *       "PROXY UNKNOWN ...\r\n"; exactly one space between fields, IPv4 as
 *       four decimal numbers 0-255 without leading zeros, IPv6 in any form
 *       inet_pton(3) takes (so "::ffff:192.0.2.1", which HAProxy sends for
 *       an IPv4 client on an IPv6 frontend), ports 0-65535 in decimal
 *       without sign or leading zeros; at most 107 bytes with the CRLF.
 *   v2  signature, version 2, command LOCAL or PROXY; for PROXY, an address
 *       family and transport in the ranges the spec defines, an address
 *       block at least as long as the family needs, then TLVs that must
 *       tile the rest exactly (a CRC32C TLV, if present, must be there once
 *       and match); at most PROXY_V2_MAX_LEN bytes in all. The TLVs are
 *       otherwise skipped. Under LOCAL everything after the fixed 16 bytes
 *       is skipped unread (the spec: the family "is ignored").
 *
 * "local" (use the connection's own addresses, as without a header): v2
 * LOCAL (the proxy's health checks), v1 UNKNOWN, and v2 PROXY with a family
 * or transport tern does not serve (UNSPEC, UDP, AF_UNIX). The spec asks a
 * receiver to fall back to UNSPEC for valid combinations it does not
 * implement rather than reject them; HAProxy itself sends UNKNOWN / LOCAL
 * when its client came over a UNIX socket. */
#ifndef TERN_NET_PROXY_H
#define TERN_NET_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/addr.h"

/* Longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6
 * addresses and ports, spec §2.1). */
#define PROXY_V1_MAX_LEN 107
/* Fixed part of a v2 header: signature, version/command, family, length. */
#define PROXY_V2_HDR_LEN 16
/* Longest v2 header accepted (16 + length field). HAProxy's largest, every
 * built-in TLV on (AF_INET6, unique id 128, authority 255, ALPN, CRC32C,
 * SSL with version, CN, cipher, algorithms), is about 650 bytes; a longer
 * one (large custom TLVs, a client certificate) is refused, -EMSGSIZE. */
#define PROXY_V2_MAX_LEN 1024
/* The most bytes proxy_parse can need to decide: a receive buffer this
 * large never has to grow for the header. */
#define PROXY_MAX_LEN PROXY_V2_MAX_LEN

/* v2 command (low nibble of byte 13). v1 headers are always PROXY. */
enum proxy_cmd {
	PROXY_CMD_LOCAL = 0,
	PROXY_CMD_PROXY = 1,
};

/* v2 family and transport byte (byte 14: family << 4 | transport). */
enum proxy_fam {
	PROXY_FAM_UNSPEC = 0x00,
	PROXY_FAM_TCP4 = 0x11,
	PROXY_FAM_UDP4 = 0x12,
	PROXY_FAM_TCP6 = 0x21,
	PROXY_FAM_UDP6 = 0x22,
	PROXY_FAM_UNIX_STREAM = 0x31,
	PROXY_FAM_UNIX_DGRAM = 0x32,
};

struct proxy_hdr {
	uint8_t version; /* 1 (text) or 2 (binary) */
	uint8_t cmd;     /* enum proxy_cmd */
	/* v2: byte 14 as sent (for logs and counters; any value for LOCAL);
	 * v1: PROXY_FAM_TCP4, PROXY_FAM_TCP6, or PROXY_FAM_UNSPEC for UNKNOWN */
	uint8_t fam;
	/* true: no address to use (see above); src and dst are zeroed */
	bool local;
	/* when !local: the client (source) and the address it connected to on
	 * the proxy (destination), both AF_INET for TCP4 and both AF_INET6 for
	 * TCP6, ports set. An IPv4 client behind an IPv6 frontend arrives as
	 * an IPv4-mapped AF_INET6 address, as sent. */
	union tern_addr src;
	union tern_addr dst;
};

/* Parse the PROXY header at the start of buf (len bytes received so far).
 * Returns
 *   > 0          the header's length: *out is filled, the bytes after it
 *                are the client's (never looked at);
 *   0            every byte so far is a valid start of a header: call again
 *                with more (at most PROXY_MAX_LEN are ever needed);
 *   -EPROTO      not the PROXY protocol: the bytes start neither "PROXY"
 *                nor the v2 signature (a client talking to the port directly);
 *   -EINVAL      a malformed header, an unsupported version or command, or
 *                a v1 line with no CRLF within PROXY_V1_MAX_LEN bytes;
 *   -EMSGSIZE    a v2 header longer than PROXY_V2_MAX_LEN.
 * An answer other than 0 is final: more bytes never change it, so a caller
 * may parse again after every read. The answer is given as soon as the
 * bytes decide it (a wrong byte fails at once, a v2 length over the limit
 * fails before the body arrives); a partial IPv6 address in a v1 line is
 * checked for its characters and shape only until its end arrives.
 * *out is written only when the result is > 0. Reads nothing past buf+len. */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out);

#endif
