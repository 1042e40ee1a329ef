/* TCP sockets for stream transports: listening sockets (one per worker per
 * address, SO_REUSEPORT) and accepted connections. Return convention: an
 * fd or 0 on success, -errno on failure. */
#ifndef TERN_NET_TCP_H
#define TERN_NET_TCP_H

#include <stddef.h>
#include <sys/types.h>

#include "util/addr.h"

enum tcp_flags {
	TCP_F_REUSEPORT = 1 << 0, /* one listening socket per worker on an address */
	TCP_F_V6ONLY = 1 << 1,    /* IPV6_V6ONLY on AF_INET6 */
};

struct tcp_listen_opts {
	int backlog;        /* listen(2) backlog */
	int defer_accept_s; /* TCP_DEFER_ACCEPT: accept only once the client has sent (0: off) */
	int fastopen_qlen;  /* TCP_FASTOPEN queue length (0: off) */
};

/* socket + options + bind + listen, nonblocking and close-on-exec. bound
 * (may be NULL) receives the address. TCP_DEFER_ACCEPT and TCP_FASTOPEN
 * are best effort (a kernel without them still listens). */
int tcp_listen(const union tern_addr *addr, unsigned flags, const struct tcp_listen_opts *o,
               union tern_addr *bound);

/* Keepalive probes start after this much silence (then 4 probes 30 s apart). */
#define TCP_KEEPALIVE_IDLE_S  120
#define TCP_KEEPALIVE_INTVL_S 30
#define TCP_KEEPALIVE_CNT     4

/* accept4 one connection: nonblocking, close-on-exec, TCP_NODELAY (each
 * frame a turn writes leaves at once: TURN carries real-time media),
 * keepalive (TCP_KEEPALIVE_IDLE_S); the last two are set on the listening
 * socket by tcp_listen, and the kernel gives them to every connection.
 * Writes the peer's and the local address. -EAGAIN when none is waiting. */
int tcp_accept(int lfd, union tern_addr *peer, union tern_addr *local);

#endif
