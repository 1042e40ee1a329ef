/* UDP sockets and syscall batches (recvmmsg / sendmmsg).
 *
 * Buffers: a struct udp_rx owns NET_BATCH receive slots; after
 * udp_recv_batch() the datagrams are valid until the next call on the same
 * udp_rx. A struct udp_tx holds borrowed iovecs: whatever its entries point
 * to must stay valid until udp_tx_flush() returns. */
#ifndef TERN_NET_UDP_H
#define TERN_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "util/addr.h"

/* Datagrams per recvmmsg/sendmmsg call. 64 amortises the syscall well
 * (gains flatten past ~32 on loopback) while a batch of 64 x 2 KiB slots
 * stays inside L2. */
#define NET_BATCH 64
/* Receive slot: a full Ethernet-MTU datagram plus room; a larger datagram
 * is truncated by the kernel and reported with trunc=true (dropped). */
#define NET_RX_SLOT 2048

enum udp_flags {
	UDP_F_REUSEPORT = 1 << 0, /* SO_REUSEPORT: one socket per worker on a listening address */
	UDP_F_V6ONLY = 1 << 1,    /* IPV6_V6ONLY on AF_INET6 */
	UDP_F_NONBLOCK = 1 << 2,  /* O_NONBLOCK (batches use MSG_DONTWAIT either way) */
	UDP_F_FREEBIND = 1 << 3,
	/* IP_PKTINFO / IPV6_RECVPKTINFO: each datagram tells the local address
	 * it was sent to (udp_rx_local), for sockets bound to a wildcard
	 * address, whose answers must leave from that address. */
	UDP_F_PKTINFO = 1 << 4,
	/* SO_REUSEADDR: another SO_REUSEADDR socket may bind the same address
	 * and port (a connected client socket beside its listener). */
	UDP_F_REUSEADDR = 1 << 5,
	/* Take no datagram until udp_connect(): a socket filter drops them
	 * all, so a socket bound beside a listener steals none of the
	 * listener's datagrams between bind and connect. */
	UDP_F_QUIET = 1 << 6,
};

/* socket + options + bind. Returns the fd (close-on-exec) or -errno. If
 * addr's port is 0 the kernel picks one; bound (may be NULL) receives the
 * actual address. rcvbuf/sndbuf 0 leave the kernel default; otherwise the
 * *FORCE variants are tried first so CAP_NET_ADMIN may exceed
 * net.core.[rw]mem_max, and the kernel clamps the plain ones silently.
 * AF_INET6 sockets get IPV6_V6ONLY set to exactly UDP_F_V6ONLY, so the
 * result does not depend on net.ipv6.bindv6only (binding a specific,
 * non-mapped IPv6 address makes the kernel set it regardless). */
int udp_open(const union tern_addr *addr, unsigned flags, int rcvbuf, int sndbuf, union tern_addr *bound);

/* Control data of one received datagram: room for one IPV6_PKTINFO (the
 * larger of the two PKTINFO messages). */
union udp_rx_ctl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

struct udp_rx {
	unsigned count; /* datagrams in the last batch */
	unsigned dirty; /* slots whose name/control lengths the kernel overwrote */
	struct mmsghdr msg[NET_BATCH];
	struct iovec iov[NET_BATCH];
	union tern_addr src[NET_BATCH]; /* sender of each datagram */
	union udp_rx_ctl ctl[NET_BATCH];
	uint8_t buf[NET_BATCH][NET_RX_SLOT];
};

/* Prepare the fixed iovec/msghdr wiring once. */
/* Connect fd to peer, then lift UDP_F_QUIET's filter: from then on the
 * socket receives exactly peer's datagrams to its address. 0 or -errno. */
int udp_connect(int fd, const union tern_addr *peer);

void udp_rx_init(struct udp_rx *rx);
/* One recvmmsg (MSG_DONTWAIT) of at most max (<= NET_BATCH, larger is
 * clamped) datagrams. Returns the count (0 when nothing is waiting) or
 * -errno. A pending socket error (e.g. -ECONNREFUSED on a connected socket
 * after an ICMP) is reported once and cleared: the socket stays usable. */
int udp_recv_batch(int fd, struct udp_rx *rx, unsigned max);
/* The socket's cumulative count of datagrams the kernel dropped on receive
 * (SO_MEMINFO, SK_MEMINFO_DROPS: full receive buffer and the like), or
 * -errno. One getsockopt: callers read it when a socket may have
 * overflowed (after a full batch, at close), not per datagram, which is
 * what a SO_RXQ_OVFL control message per datagram would cost. */
int64_t udp_kernel_drops(int fd);
static inline const uint8_t *udp_rx_data(const struct udp_rx *rx, unsigned i)
{
	return rx->buf[i];
}
static inline size_t udp_rx_len(const struct udp_rx *rx, unsigned i)
{
	return rx->msg[i].msg_len;
}
static inline bool udp_rx_trunc(const struct udp_rx *rx, unsigned i)
{
	return (rx->msg[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}
/* The local address datagram i was sent to, from its PKTINFO (a socket
 * opened with UDP_F_PKTINFO), with the given port: 0, or -ENOENT when the
 * datagram carries none. An IPv6 link-local address gets the arrival
 * interface as its scope id (so an answer leaves on that link); other
 * addresses get scope 0. */
int udp_rx_local(const struct udp_rx *rx, unsigned i, uint16_t port, union tern_addr *out);

/* Outgoing datagrams, up to 3 iovecs each (header, payload, trailer) so
 * ChannelData / Data-indication framing needs no copy of the payload.
 *
 * NET_TX_BATCH: a worker queues everything a loop turn produces (several
 * receive batches from several sockets) and flushes once; 256 entries cover
 * a turn of 4 busy sockets, and a full batch flushes early by itself. */
#define NET_TX_BATCH 256
#define UDP_TX_IOV   3
/* Segments per UDP_SEGMENT send: the kernel's UDP_MAX_SEGMENTS is 64 on the
 * kernels Debian 12 ships (128 on newer ones). */
#define UDP_GSO_MAX_SEGS 64

struct udp_tx_entry {
	int fd;
	union tern_addr dst; /* ignored (NULL msg_name) when family is 0: connected socket */
	/* Source address (family 0: the socket's own): a datagram on a socket
	 * bound to a wildcard address leaves from src (IP_PKTINFO /
	 * IPV6_PKTINFO), the address its client wrote to. udp_tx_add clears it. */
	union tern_addr src;
	struct iovec iov[UDP_TX_IOV];
	unsigned iovcnt;
};

struct udp_tx_stats {
	uint64_t sent;         /* datagrams handed to the kernel */
	uint64_t dropped;      /* datagrams the kernel refused (EAGAIN, ENOBUFS, unreachable...) */
	uint64_t calls;        /* sendmmsg calls */
	uint64_t gso_sends;    /* messages that carried UDP_SEGMENT */
	uint64_t gso_segments; /* datagrams sent inside those */
	/* datagrams of a GSO message the kernel refused (a segment over the
	 * path MTU: EMSGSIZE/EINVAL; no checksum offload: EIO) sent again one
	 * by one, where the kernel may fragment them */
	uint64_t gso_fallback;
};

/* Control buffer for one UDP_SEGMENT (GSO) message. */
union udp_gso_cmsg {
	char buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};
/* Control data of one queued message: UDP_SEGMENT and a source PKTINFO. */
union udp_tx_cmsg {
	char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};
/* Make mh one GSO message: the kernel cuts its payload into seg-byte
 * datagrams (the last may be shorter). cm must live until the send. */
void udp_msg_gso(struct msghdr *mh, union udp_gso_cmsg *cm, uint16_t seg);

struct udp_tx {
	unsigned count;
	bool gso; /* merge same-size runs to one destination (UDP_SEGMENT) */
	/* Segments of this size or more are not merged: lowered when the
	 * kernel refused a GSO message that it took as single datagrams
	 * (a segment larger than the path MTU). */
	size_t gso_seg_limit;
	struct udp_tx_entry e[NET_TX_BATCH];
	struct udp_tx_stats stats;
	/* flush scratch: messages, merged iovecs, control data; first[m] is
	 * the entry message m starts with (a refused GSO message is resent
	 * entry by entry from it) */
	uint16_t next[NET_TX_BATCH];
	uint16_t segs[NET_TX_BATCH];
	uint16_t first[NET_TX_BATCH];
	struct mmsghdr msg[NET_TX_BATCH];
	struct iovec iov[NET_TX_BATCH * UDP_TX_IOV];
	union udp_tx_cmsg cm[NET_TX_BATCH];
	/* the one-by-one resend of a refused GSO message */
	struct mmsghdr one[UDP_GSO_MAX_SEGS];
	union udp_tx_cmsg one_cm[UDP_GSO_MAX_SEGS];
};

/* gso: use UDP_SEGMENT where it applies (see udp_probe_gso()). */
void udp_tx_init(struct udp_tx *tx, bool gso);
/* Room left before the batch must be flushed. */
static inline unsigned udp_tx_room(const struct udp_tx *tx)
{
	return NET_TX_BATCH - tx->count;
}
/* Append one datagram; dst NULL means a connected socket. Returns the
 * entry (iovcnt 0) so the caller fills iov / iovcnt. A full batch is
 * flushed first. */
struct udp_tx_entry *udp_tx_add(struct udp_tx *tx, int fd, const union tern_addr *dst);
/* Send everything queued. Entries are grouped by fd, keeping their order
 * within each fd (so per-flow order holds), and each group goes out in one
 * sendmmsg; with gso on, consecutive datagrams of one size to one
 * destination (from one source) become one UDP_SEGMENT message (the last
 * may be shorter). A GSO message the kernel refuses for its size or the
 * device's lack of offload is sent again as single datagrams (gso_fallback).
 * A partial result resumes after the sent part; a message that fails with
 * an error other than EINTR/EAGAIN is counted as dropped and skipped (UDP
 * gives no delivery guarantee; blocking would stall every other client of
 * the worker); EAGAIN drops the rest of that fd's group. Empties the batch. */
void udp_tx_flush(struct udp_tx *tx);

int udp_set_dont_fragment(int fd, int family, bool df);

/* True when the kernel accepts UDP_SEGMENT (UDP GSO) on a UDP socket.
 * Opens and closes one socket; call once at start. */
bool udp_probe_gso(void);

#endif
