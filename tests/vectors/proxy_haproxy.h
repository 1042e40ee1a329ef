/* PROXY protocol headers as HAProxy 2.6.12 (Debian 12) sent them to a
 * backend on loopback, byte for byte, each followed by the client's first
 * bytes ("hello"). Captured with `haproxy -db` in mode tcp:
 *
 *   frontend 127.0.0.1:17001 -> server ... send-proxy
 *   frontend 127.0.0.1:17002 (unique-id-format tern-test-%fp)
 *                            -> server ... send-proxy-v2 proxy-v2-options crc32c,unique-id
 *   frontend [::1]:17003     -> server ... send-proxy-v2
 *   frontend :::17004 v4v6   -> server ... send-proxy     (client 127.0.0.1)
 *   server ... send-proxy-v2 check check-send-proxy       (the health check)
 *
 * Included by tests/unit/test_net_proxy.c and fuzz/seeds.c. */
#ifndef TERN_TESTS_VECTORS_PROXY_HAPROXY_H
#define TERN_TESTS_VECTORS_PROXY_HAPROXY_H

#include <stdint.h>

/* v1, TCP4: client 127.0.0.1:50658 to frontend 127.0.0.1:17001 (44-byte line). */
static const uint8_t hap_v1_tcp4[] = "PROXY TCP4 127.0.0.1 127.0.0.1 50658 17001\r\n"
                                     "hello";
#define HAP_V1_TCP4_LEN 44

/* v1, TCP6: an IPv4 client on an IPv6 (v4v6) frontend arrives IPv4-mapped:
 * ::ffff:127.0.0.1:39142 to ::ffff:127.0.0.1:17004 (58-byte line). */
static const uint8_t hap_v1_tcp6_mapped[] = "PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 39142 17004\r\n"
                                            "hello";
#define HAP_V1_TCP6_MAPPED_LEN 58

/* v2, PROXY TCP4 with a CRC32C and a UNIQUE_ID TLV (53-byte header). */
static const uint8_t hap_v2_tcp4_crc[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
    0x21,                                                                   /* version 2, command PROXY */
    0x11,                                                                   /* AF_INET, STREAM */
    0x00, 0x25,             /* 37 bytes follow: 12 of addresses, 7 + 18 of TLVs */
    0x7f, 0x00, 0x00, 0x01, /* source 127.0.0.1 */
    0x7f, 0x00, 0x00, 0x01, /* destination 127.0.0.1 */
    0x83, 0x2c,             /* source port 33580 */
    0x42, 0x6a,             /* destination port 17002 */
    0x03, 0x00, 0x04,       /* PP2_TYPE_CRC32C, 4 bytes */
    0x50, 0x53, 0x75, 0x78, /*   CRC32C of the header with these 4 bytes zero */
    0x05, 0x00, 0x0f,       /* PP2_TYPE_UNIQUE_ID, 15 bytes */
    't',  'e',  'r',  'n',  '-',  't',  'e',  's',  't',  '-',  '1',  '7',
    '0',  '0',  '2',  'h',  'e',  'l',  'l',  'o', /* the client's bytes */
};
#define HAP_V2_TCP4_CRC_LEN 53
#define HAP_V2_TCP4_CRC_AT  31 /* offset of the CRC32C value */

/* v2, PROXY TCP6: client [::1]:42464 to frontend [::1]:17003 (52-byte header). */
static const uint8_t hap_v2_tcp6[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
    0x21,                                                                   /* version 2, command PROXY */
    0x21,                                                                   /* AF_INET6, STREAM */
    0x00, 0x24, /* 36 bytes follow: addresses only */
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 1, /* source ::1 */
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 1, /* destination ::1 */
    0xa5, 0xe0,                  /* source port 42464 */
    0x42, 0x6b,                  /* destination port 17003 */
    'h',  'e',  'l',  'l',  'o', /* the client's bytes */
};
#define HAP_V2_TCP6_LEN 52

/* v2, LOCAL: HAProxy's health check (check-send-proxy), 16 bytes. */
static const uint8_t hap_v2_local[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
    0x20,                                                                   /* version 2, command LOCAL */
    0x00,                                                                   /* AF_UNSPEC, UNSPEC */
    0x00, 0x00,                                                             /* nothing follows */
};
#define HAP_V2_LOCAL_LEN 16

#endif
