/* Network topologies made of private namespaces and veth pairs (topo.c),
 * and frame capture with independent checksum verification (capture.c),
 * for tests of the kernel fast path (it_fastpath).
 *
 * The namespaces are anonymous: the test process holds them by file
 * descriptor, so they (and every interface in them) vanish when it exits,
 * whatever the way. One thread moves between them with setns(); a socket
 * belongs to the namespace it was created in, so a socket opened while in
 * the client namespace stays a client socket after the thread moves on.
 * A process forked (ternd, ip, tc) starts in the namespace the thread is in.
 * Needs root (CAP_SYS_ADMIN for the namespaces, CAP_NET_ADMIN). */
#ifndef TERN_IT_TOPO_H
#define TERN_IT_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/addr.h"

enum { TOPO_CLIENT, TOPO_RELAY, TOPO_PEER, TOPO_NS };

struct topo {
	int ns[TOPO_NS]; /* namespace fds */
	int home;        /* the namespace the program started in */
	int here;        /* index of the namespace the thread is in; -1: home */
	char path[TOPO_NS][64];
};

/* Make three fresh network namespaces, lo up in each, and stay in none of
 * them (the thread is back home). 0 or -errno. */
int topo_make(struct topo *t);
/* Move the thread into namespace i (TOPO_*), or home with -1. 0 or -errno. */
int topo_enter(struct topo *t, int i);
/* Close the namespaces (they vanish once nothing else holds them). */
void topo_free(struct topo *t);
/* Run a shell command inside namespace i and come back; its exit status
 * (0: success). On failure the command and its output are diagnostics. */
int topo_sh(struct topo *t, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, the first line of its standard output into out. */
int topo_sh_read(struct topo *t, int i, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A veth pair: end a in namespace ia, end b in namespace ib, both up. */
int topo_veth(struct topo *t, int ia, const char *a, int ib, const char *b);
/* Transmit checksum offload of ifname in namespace i (SIOCETHTOOL, as
 * `ethtool -K ifname tx on|off`). topo_tx_csum_get: 1 on, 0 off, -errno. */
int topo_tx_csum(struct topo *t, int i, const char *ifname, bool on);
int topo_tx_csum_get(struct topo *t, int i, const char *ifname);
/* ifname's hardware address in namespace i, "aa:bb:..". 0 or -errno. */
int topo_mac(struct topo *t, int i, const char *ifname, char mac[18]);

/* ---- capture (capture.c) ---- */

struct cap {
	int fd;
	int ifindex;
	char ifname[32];
};

/* One frame received by an interface, parsed. */
struct cap_frame {
	int family;               /* AF_INET, AF_INET6; 0: not IP (ARP...) */
	uint8_t proto;            /* IPPROTO_UDP...; for IPv6 the first next header */
	bool fragment;            /* IPv4 MF or offset, IPv6 fragment header */
	bool ip_csum_ok;          /* IPv4 header checksum right (IPv6: true) */
	bool lengths_ok;          /* IP and UDP lengths agree with the frame */
	int udp_csum;             /* UDP: 1 right, 0 wrong, -1 zero on IPv4 ("none") */
	bool csum_partial;        /* the kernel marked it TP_STATUS_CSUMNOTREADY */
	union tern_addr src, dst; /* UDP: with ports */
	const uint8_t *payload;   /* UDP payload (points into the frame) */
	size_t len;
	uint8_t frame[2048];
	size_t frame_len;
};

/* An AF_PACKET socket on ifname (namespace the thread is in), every
 * protocol, incoming frames only (its own transmissions are skipped by
 * cap_next). 0 or -errno. */
int cap_open(struct cap *k, const char *ifname);
void cap_close(struct cap *k);
/* The next frame received, waited for at most timeout_ms: 1, 0 when none
 * came, -errno. */
int cap_next(struct cap *k, struct cap_frame *f, int timeout_ms);
/* Parse an Ethernet frame into f (copied). Checksums are computed here,
 * from the bytes, with no help from the kernel. */
void cap_parse(const uint8_t *frame, size_t len, struct cap_frame *f);
/* The Internet checksum's one's complement sum of buf, folded, added to
 * acc (host order, not complemented). */
uint32_t cap_sum(const uint8_t *buf, size_t len, uint32_t acc);

#endif
