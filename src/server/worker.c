#include "server/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/fastpath.h"
#include "net/steer.h"
#include "net/tcp.h"
#include "server/conn.h"
#include "server/dtls.h"
#include "util/log.h"

/* Receive batches per socket per wakeup: bounds how long one busy socket can
 * keep the others of the worker waiting (4 x 64 datagrams). */
#define RX_BUDGET 4
/* Socket buffers: room for a burst of a few thousand datagrams. */
#define LISTEN_RCVBUF (4 << 20)
#define LISTEN_SNDBUF (4 << 20)
/* Relay sockets carry one allocation: 512 KiB absorbs a burst of a few
 * hundred datagrams; memory is only charged for what is queued. */
#define RELAY_RCVBUF (512 << 10)

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The clock is read at most once per loop turn: by the first callback that
 * needs it, or after the wait when nothing was ready. */
static void refresh_time(struct worker *w)
{
	if (w->time_stale) {
		w->now_us = net_now_us();
		turn_set_time(w->turn, w->now_us / 1000, net_wall_s());
		w->time_stale = false;
	}
}

/* ---- the end-of-turn flush ---- */

/* Send what is queued, then close the sockets the core let go of since the
 * last flush. In this order: a datagram queued to a socket must leave
 * through that socket, and once its fd is closed the number may belong to
 * another allocation's socket (this worker's, or another thread's). */
static void worker_flush(struct worker *w)
{
	udp_tx_flush(w->tx);
	w->arena_len = 0; /* every copy in it has left */
	conn_flush(w);    /* may close connections: their fds join the list */
	for (unsigned i = 0; i < w->nclosing; i++)
		close(w->closing[i]);
	w->nclosing = 0;
}

/* The flush at the end of a loop turn: connections closed during the turn
 * are freed here and only here. An early flush (a full batch) happens
 * inside the turn, while the turn's epoll events may still name a closed
 * connection's handler (net/loop.h: handler memory lives until the turn
 * ends); after this one nothing borrows from their buffers either. */
static void worker_end_turn(struct worker *w)
{
	worker_flush(w);
	/* closing calls into the core (the allocation goes): only here,
	 * never from a write inside it; their fds close at the next flush */
	if (w->failed || w->dfailed) {
		conn_close_failed(w);
		dtls_close_failed(w);
		worker_flush(w);
	}
	conn_reap(w);
}

void worker_close_later(struct worker *w, int fd)
{
	if (w->nclosing == WORKER_CLOSE_BATCH)
		worker_flush(w);
	w->closing[w->nclosing++] = fd;
}

/* ---- the io the TURN core drives ---- */

/* Queue one datagram on fd to dst (from src when not NULL). */
static void queue_datagram(struct worker *w, int fd, const union tern_addr *src, const union tern_addr *dst,
                           const uint8_t *hdr, size_t hdrlen, const uint8_t *payload, size_t paylen,
                           size_t pad)
{
	static const uint8_t zeros[4];
	if (udp_tx_room(w->tx) == 0)
		worker_flush(w); /* payloads still point into live rx batches */
	unsigned i = w->tx->count;
	struct udp_tx_entry *e = udp_tx_add(w->tx, fd, dst);
	if (src)
		e->src = *src;
	unsigned n = 0;
	if (hdrlen) {
		memcpy(w->hdr[i], hdr, hdrlen);
		e->iov[n].iov_base = w->hdr[i];
		e->iov[n++].iov_len = hdrlen;
	}
	if (paylen) {
		e->iov[n].iov_base = (void *)payload;
		e->iov[n++].iov_len = paylen;
	}
	if (pad) {
		e->iov[n].iov_base = (void *)zeros;
		e->iov[n++].iov_len = pad;
	}
	e->iovcnt = n;
}

void worker_queue_copy(struct worker *w, int fd, const union tern_addr *src, const union tern_addr *dst,
                       const uint8_t *data, size_t len)
{
	if (len > WORKER_ARENA)
		return;
	if (w->arena_len + len > WORKER_ARENA)
		worker_flush(w); /* sends what points into the arena, then empties it */
	uint8_t *p = w->arena + w->arena_len;
	memcpy(p, data, len);
	w->arena_len += len;
	queue_datagram(w, fd, src, dst, NULL, 0, p, len, 0);
}

/* A UDP client endpoint's id is the index of the listener it came in on. */
static enum turn_tx io_send_client(void *ctx, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                                   const uint8_t *payload, size_t paylen, size_t pad)
{
	struct worker *w = ctx;
	if (turn_transport_is_stream(ep->transport))
		return conn_send(w, ep, hdr, hdrlen, payload, paylen, pad);
	if (ep->transport == TURN_T_DTLS)
		return dtls_send(w, ep, hdr, hdrlen, payload, paylen, pad);
	if (ep->transport != TURN_T_UDP || ep->id >= w->nlisteners)
		return TURN_TX_GONE;
	const struct listener *l = &w->listeners[ep->id];
	/* client-sockets=connected: through the allocation's own socket */
	if (w->tx_csock >= 0 && addr_equal(&ep->remote, w->tx_cremote)) {
		queue_datagram(w, w->tx_csock, NULL, NULL, hdr, hdrlen, payload, paylen, pad);
		return TURN_TX_QUEUED;
	}
	/* A wildcard listener's answer leaves from the address its client
	 * wrote to (the kernel would pick the route's preferred one). */
	queue_datagram(w, l->h.fd, l->wild ? &ep->local : NULL, &ep->remote, hdr, hdrlen, payload, paylen,
	               pad);
	return TURN_TX_QUEUED;
}

static enum turn_tx io_send_peer(void *ctx, int relay, const union tern_addr *peer, const uint8_t *payload,
                                 size_t len)
{
	queue_datagram(ctx, relay, NULL, peer, NULL, 0, payload, len, 0);
	return TURN_TX_QUEUED;
}

/* external-ip: advertise the public address for a relay address. */
static void advertise(const struct tern_config *cfg, union tern_addr *a)
{
	for (unsigned i = 0; i < cfg->nexternal; i++) {
		const struct cfg_external *x = &cfg->external[i];
		if (x->public_ip.sa.sa_family != a->sa.sa_family)
			continue;
		if (x->private_ip.sa.sa_family && !addr_equal_ip(&x->private_ip, a))
			continue;
		uint16_t port = addr_port(a);
		*a = x->public_ip;
		addr_set_port(a, port);
		return;
	}
}

static void on_relay(struct net_handler *h, uint32_t events);

/* With eBPF steering, an allocation's client flow must keep reaching this
 * worker for as long as the allocation lives, even if the program's LRU
 * flow table (STEER_ABI_MAX_FLOWS) evicts it under a flood of new flows:
 * pin it. One bpf() call per allocation (per relay socket of a dual one;
 * pinning again is harmless), none per datagram. */
static void steer_pin_alloc(struct worker *w, struct relay_sock *rs)
{
	if (!w->sh->steer || !rs->alloc)
		return;
	const struct turn_ep *ep = turn_alloc_client(rs->alloc);
	/* a stream client's connection is the worker's already: no flow to pin */
	if (ep->transport != TURN_T_UDP)
		return;
	if (steer_pin(w->sh->steer, &ep->remote, addr_port(&ep->local), w->id) == 0) {
		rs->pinned = true;
		w->steer_pinned++;
	} else {
		w->steer_pin_fail++;
		LOG_RL(LOG_WARN, "worker %u: cannot pin a client flow for eBPF steering", w->id);
	}
}

static void steer_unpin_alloc(struct worker *w, struct relay_sock *rs)
{
	if (!rs->pinned)
		return;
	rs->pinned = false;
	w->steer_pinned--;
	const struct turn_ep *ep = turn_alloc_client(rs->alloc);
	/* a dual allocation's second socket finds the pin already gone; at
	 * shutdown the map is gone (steer NULL) */
	if (w->sh->steer)
		(void)steer_unpin(w->sh->steer, &ep->remote, addr_port(&ep->local));
}

#define CSOCK_MAX 1024

static void on_client_sock(struct net_handler *h, uint32_t events);
static void count_kernel_drops(struct worker *w, int fd, uint32_t *seen);

/* client-sockets=connected: after the authenticated Allocate (its first
 * relay socket), a UDP socket on the address and port the client wrote to,
 * connected to the client. The kernel hands a connected socket the
 * datagrams of its 4-tuple before any listener, so from then on the
 * client's datagrams reach this worker on it, and the answers and peer
 * data leave through it. It fails open: without it the listener serves the
 * client as before. The socket is remembered in the allocation's io word
 * (fd + 1) and closed with the allocation's relay sockets. */
static void client_sock_open(struct worker *w, struct turn_alloc *a)
{
	const struct turn_ep *ep = turn_alloc_client(a);
	intptr_t *slot = turn_alloc_io_data(a);
	if (ep->transport != TURN_T_UDP || *slot)
		return;
	/* Every connected socket on a port lengthens the kernel's lookup
	 * chain that each other datagram to that port walks
	 * (docs/PERFORMANCE.md): past CSOCK_MAX per worker the listener
	 * serves the client, as in shared mode. */
	if (w->csock_live >= CSOCK_MAX) {
		w->csock_fail++;
		return;
	}
	int fam = ep->local.sa.sa_family;
	int fd = udp_open(
	    &ep->local, UDP_F_REUSEADDR | UDP_F_QUIET | UDP_F_NONBLOCK | (fam == AF_INET6 ? UDP_F_V6ONLY : 0),
	    RELAY_RCVBUF, 0, NULL);
	if (fd >= 0 && (unsigned)fd >= w->nrelays) {
		close(fd);
		fd = -EMFILE;
	}
	if (fd >= 0) {
		int rc = udp_connect(fd, &ep->remote);
		struct relay_sock *rs = &w->relays[fd];
		/* the slot's gen names connections on this fd number: it only grows */
		uint32_t gen = rs->gen;
		memset(rs, 0, sizeof(*rs));
		rs->gen = gen;
		rs->h.fn = on_client_sock;
		rs->h.fd = fd;
		rs->w = w;
		rs->alloc = a;
		if (rc == 0)
			rc = loop_add(w->loop, &rs->h, EPOLLIN);
		if (rc < 0) {
			close(fd);
			fd = rc;
		}
	}
	if (fd < 0) {
		w->csock_fail++;
		LOG_RL(LOG_WARN, "worker %u: no connected client socket (%s): the listener serves the client",
		       w->id, strerror(-fd));
		return;
	}
	w->relays[fd].active = true;
	*slot = fd + 1;
	w->csock_live++;
}

static void client_sock_close(struct worker *w, struct turn_alloc *a)
{
	intptr_t *slot = turn_alloc_io_data(a);
	if (!*slot)
		return;
	int fd = (int)*slot - 1;
	*slot = 0;
	struct relay_sock *rs = &w->relays[fd];
	count_kernel_drops(w, fd, &rs->kdrops_seen);
	loop_del(w->loop, &rs->h);
	rs->active = false;
	rs->alloc = NULL;
	w->csock_live--;
	worker_close_later(w, fd);
}

static int relay_register(struct worker *w, int fd, struct turn_alloc *a)
{
	if ((unsigned)fd >= w->nrelays)
		return -EMFILE;
	struct relay_sock *rs = &w->relays[fd];
	rs->h.fn = on_relay;
	rs->h.fd = fd;
	rs->w = w;
	rs->alloc = a;
	rs->kdrops_seen = 0;
	rs->pinned = false;
	int rc = loop_add(w->loop, &rs->h, EPOLLIN);
	if (rc == 0) {
		rs->active = true;
		steer_pin_alloc(w, rs);
		if (w->sh->client_sockets)
			client_sock_open(w, a);
	}
	return rc;
}

/* Bind a UDP socket on ip at a port of the relay range: a random start, then
 * a bounded walk (with even parity when asked). */
static int bind_relay_port(struct worker *w, const union tern_addr *ip, unsigned flags, int df,
                           union tern_addr *bound, int *next, union tern_addr *next_bound)
{
	const struct tern_config *cfg = w->sh->cfg;
	unsigned lo = cfg->min_port, span = (unsigned)cfg->max_port - lo + 1;
	unsigned tries = span < 512 ? span : 512;
	/* RFC 8656 §7.2: relayed ports are chosen at random. From getrandom,
	 * not from the worker's xorshift, whose state a few relayed ports
	 * (on the wire in every Allocate answer) would reveal. */
	uint32_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)xorshift(&w->rng);
	unsigned start = r % span;
	union tern_addr a = *ip;

	for (unsigned k = 0; k < tries; k++) {
		unsigned port = lo + (start + k) % span;
		if ((flags & TURN_RELAY_EVEN) && (port & 1))
			continue;
		if ((flags & TURN_RELAY_RESERVE_NEXT) && port + 1 > cfg->max_port)
			continue;
		addr_set_port(&a, (uint16_t)port);
		int fd = udp_open(&a, UDP_F_NONBLOCK | (a.sa.sa_family == AF_INET6 ? UDP_F_V6ONLY : 0),
		                  RELAY_RCVBUF, 0, bound);
		if (fd < 0) {
			if (fd == -EADDRINUSE || fd == -EACCES)
				continue;
			return fd;
		}
		if (flags & TURN_RELAY_RESERVE_NEXT) {
			union tern_addr b = a;
			addr_set_port(&b, (uint16_t)(port + 1));
			int fd2 =
			    udp_open(&b, UDP_F_NONBLOCK | (b.sa.sa_family == AF_INET6 ? UDP_F_V6ONLY : 0), 0,
			             0, next_bound);
			if (fd2 < 0) {
				close(fd);
				continue;
			}
			*next = fd2;
		}
		if (df)
			udp_set_dont_fragment(fd, a.sa.sa_family, true);
		return fd;
	}
	return -ENOSPC;
}

static int io_relay_open(void *ctx, struct turn_alloc *a, int family, unsigned flags, union tern_addr *addr,
                         int *next, union tern_addr *next_addr)
{
	struct worker *w = ctx;
	struct server_shared *sh = w->sh;
	const union tern_addr *ips = family == AF_INET ? sh->relay_v4 : sh->relay_v6;
	unsigned n = family == AF_INET ? sh->nrelay_v4 : sh->nrelay_v6;
	int fd = -ENOSPC;

	if (n == 0)
		return -EAFNOSUPPORT;
	if (next)
		*next = -1;
	/* Round robin over relay addresses; the next one when a range is full. */
	for (unsigned k = 0; k < n && fd < 0; k++) {
		const union tern_addr *ip = &ips[(w->next_relay + k) % n];
		fd = bind_relay_port(w, ip, flags, (flags & TURN_RELAY_DF) != 0, addr, next, next_addr);
	}
	w->next_relay++;
	if (fd < 0) {
		w->relay_open_fail++;
		LOG_RL(LOG_WARN, "worker %u: no relay port free (%s)", w->id, strerror(-fd));
		return fd;
	}
	int rc = relay_register(w, fd, a);
	if (rc < 0) {
		close(fd);
		if (next && *next >= 0)
			close(*next);
		return rc;
	}
	advertise(sh->cfg, addr);
	if (next && *next >= 0)
		advertise(sh->cfg, next_addr);
	return fd;
}

static int io_relay_adopt(void *ctx, struct turn_alloc *a, int handle, union tern_addr *addr)
{
	struct worker *w = ctx;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(handle, (struct sockaddr *)&ss, &len) < 0 ||
	    addr_from_sockaddr(addr, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	int rc = relay_register(w, handle, a);
	if (rc == 0)
		advertise(w->sh->cfg, addr);
	return rc;
}

/* Kernel receive drops are read with one getsockopt where a socket may
 * have overflowed, not per datagram: its buffer holds several batches, so a
 * socket that dropped anything is read as a full batch next time (and the
 * listeners are read once a second, relay sockets when they close). */
static void count_kernel_drops(struct worker *w, int fd, uint32_t *seen)
{
	int64_t d = udp_kernel_drops(fd);
	if (d >= 0) {
		w->kernel_drops += (uint32_t)((uint32_t)d - *seen);
		*seen = (uint32_t)d;
	}
}

/* The socket leaves the loop now (no more events for it), but close(2)
 * waits for the flush: datagrams queued to it this turn still leave from
 * it, and its number cannot be reused before they have. */
static void io_relay_close(void *ctx, int handle)
{
	struct worker *w = ctx;
	if ((unsigned)handle < w->nrelays && w->relays[handle].active) {
		count_kernel_drops(w, handle, &w->relays[handle].kdrops_seen);
		steer_unpin_alloc(w, &w->relays[handle]);
		if (w->relays[handle].alloc)
			client_sock_close(w, w->relays[handle].alloc);
		loop_del(w->loop, &w->relays[handle].h);
		w->relays[handle].active = false;
		w->relays[handle].alloc = NULL;
	}
	worker_close_later(w, handle);
}

/* ---- the kernel fast path (docs/FASTPATH.md) ---- */

/* The relay socket's own address (before external-ip) is asked of the
 * kernel, once per install and removal, rather than kept beside every fd
 * of the worker's table: these are control-path events. */
static int fast_mapping(const struct turn_fast *f, struct fastpath_mapping *m)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(f->relay, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (addr_from_sockaddr(&m->relay, (struct sockaddr *)&ss, len) < 0)
		return -EAFNOSUPPORT;
	m->client = f->ep->remote;
	m->local = f->ep->local;
	m->peer = *f->peer;
	m->channel = f->num;
	return 0;
}

/* The core's clock is the loop's CLOCK_MONOTONIC in ms; the program reads
 * CLOCK_MONOTONIC_COARSE, which lags it by at most a tick. */
static uint64_t fast_ns(uint64_t ms)
{
	return ms * 1000000u;
}

static int io_fast_set(void *ctx, const struct turn_fast *f, uint32_t *handle)
{
	struct worker *w = ctx;
	if (*handle) {
		fastpath_map_expire(w->sh->fastpath, *handle - 1, fast_ns(f->expires_ms));
		return 0;
	}
	if (f->relay < 0 || (unsigned)f->relay >= w->nrelays || !w->relays[f->relay].active)
		return -EBADF;
	struct fastpath_mapping m;
	uint32_t slot;
	int rc = fast_mapping(f, &m);
	if (rc == 0)
		rc = fastpath_map_add(w->sh->fastpath, w->id, &m, fast_ns(f->expires_ms), &slot);
	if (rc < 0) {
		LOG_RL(LOG_WARN, "worker %u: channel not offloaded to the fast path: %s", w->id, strerror(-rc));
		return rc;
	}
	*handle = slot + 1;
	return 0;
}

static void add_counts(struct turn_fast_counts *out, const struct fastpath_counts *c)
{
	out->up_datagrams += c->up_packets;
	out->up_bytes += c->up_bytes;
	out->down_datagrams += c->down_packets;
	out->down_bytes += c->down_bytes;
}

static void io_fast_del(void *ctx, uint32_t handle, const struct turn_fast *f, struct turn_fast_counts *out)
{
	struct worker *w = ctx;
	struct fastpath_mapping m;
	struct fastpath_counts c = {0};
	/* the relay socket is still open: the core takes channels back before
	 * it closes them */
	bool keys = fast_mapping(f, &m) == 0;
	fastpath_map_del(w->sh->fastpath, w->id, handle - 1, keys ? &m : NULL, &c);
	add_counts(out, &c);
}

static void io_fast_read(void *ctx, uint32_t handle, struct turn_fast_counts *out)
{
	struct worker *w = ctx;
	struct fastpath_counts c = {0};
	fastpath_map_read(w->sh->fastpath, handle - 1, &c);
	add_counts(out, &c);
}

/* ---- receive paths ---- */

#define RX_POOL (sizeof(((struct worker *)0)->rxpool) / sizeof(struct udp_rx *))

/* A receive batch no queued send points into. */
static struct udp_rx *rx_take(struct worker *w)
{
	if (w->rxused == RX_POOL) {
		worker_flush(w);
		w->rxused = 0;
	}
	return w->rxpool[w->rxused++];
}

/* One receive batch on fd into a batch no queued send points into; NULL
 * (and the batch given back) when nothing came. A full batch may mean the
 * socket overflowed: its kernel drop counter is read then. */
static inline struct udp_rx *rx_batch(struct worker *w, int fd, uint32_t *kdrops_seen, int *n)
{
	struct udp_rx *rx = rx_take(w);
	*n = udp_recv_batch(fd, rx, NET_BATCH);
	if (*n <= 0) {
		w->rxused--; /* nothing borrowed it */
		return NULL;
	}
	worker_count_batch(w, (unsigned)*n);
	if (*n == NET_BATCH)
		count_kernel_drops(w, fd, kdrops_seen);
	return rx;
}

static void on_listener(struct net_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;
	struct worker *w = l->w;
	/* the endpoint of each datagram: this listener, its address (or the
	 * one PKTINFO gives), the sender */
	struct turn_ep ep = {.id = (uint32_t)(l - w->listeners), .transport = TURN_T_UDP, .local = l->addr};
	refresh_time(w);
	for (unsigned round = 0; round < RX_BUDGET; round++) {
		int n;
		struct udp_rx *rx = rx_batch(w, h->fd, &l->kdrops_seen, &n);
		if (!rx)
			break;
		for (int i = 0; i < n; i++) {
			if (udp_rx_trunc(rx, (unsigned)i)) {
				w->rx_trunc++;
				continue;
			}
			/* the client's server address: answers leave from it */
			if (l->wild && udp_rx_local(rx, (unsigned)i, addr_port(&l->addr), &ep.local) < 0) {
				w->rx_no_local++;
				continue;
			}
			ep.remote = rx->src[i];
			turn_on_client(w->turn, &ep, udp_rx_data(rx, (unsigned)i),
			               udp_rx_len(rx, (unsigned)i));
		}
		if (n < NET_BATCH)
			break;
	}
}

/* A connected client socket: its client's datagrams, handled as if they
 * had come in on the listener (the same endpoint), answered through it. */
static void on_client_sock(struct net_handler *h, uint32_t events)
{
	struct relay_sock *rs = (struct relay_sock *)h;
	struct worker *w = rs->w;
	if (!rs->active)
		return;
	struct turn_ep ep = *turn_alloc_client(rs->alloc);
	union tern_addr client = ep.remote;
	refresh_time(w);
	w->tx_csock = h->fd;
	w->tx_cremote = &client;
	for (unsigned round = 0; round < RX_BUDGET && rs->active; round++) {
		int n;
		struct udp_rx *rx = rx_batch(w, h->fd, &rs->kdrops_seen, &n);
		if (!rx)
			break;
		w->csock_rx += (unsigned)n;
		for (int i = 0; i < n && rs->active; i++) {
			if (udp_rx_trunc(rx, (unsigned)i)) {
				w->rx_trunc++;
				continue;
			}
			ep.remote = rx->src[i];
			turn_on_client(w->turn, &ep, udp_rx_data(rx, (unsigned)i),
			               udp_rx_len(rx, (unsigned)i));
		}
		if (n < NET_BATCH)
			break;
	}
	w->tx_csock = -1;
}

static void on_dtls_listener(struct net_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;
	struct worker *w = l->w;
	refresh_time(w);
	for (unsigned round = 0; round < RX_BUDGET; round++) {
		int n;
		struct udp_rx *rx = rx_batch(w, h->fd, &l->kdrops_seen, &n);
		if (!rx)
			break;
		for (int i = 0; i < n; i++) {
			union tern_addr local = l->addr;
			if (udp_rx_trunc(rx, (unsigned)i)) {
				w->rx_trunc++;
				continue;
			}
			if (l->wild && udp_rx_local(rx, (unsigned)i, addr_port(&l->addr), &local) < 0) {
				w->rx_no_local++;
				continue;
			}
			dtls_input(w, h->fd, l->wild, &local, &rx->src[i],
			           (uint8_t *)udp_rx_data(rx, (unsigned)i), udp_rx_len(rx, (unsigned)i));
		}
		if (n < NET_BATCH)
			break;
	}
}

static void on_tcp_listener(struct net_handler *h, uint32_t events)
{
	struct tcp_listener *l = (struct tcp_listener *)h;
	refresh_time(l->w);
	conn_accept(l->w, h->fd, l->kind == TCP_KIND_PROXY);
}

static void on_relay(struct net_handler *h, uint32_t events)
{
	struct relay_sock *rs = (struct relay_sock *)h;
	struct worker *w = rs->w;
	refresh_time(w);
	/* client-sockets=connected: to the client through its own socket */
	intptr_t cs = rs->alloc ? *turn_alloc_io_data(rs->alloc) : 0;
	union tern_addr client;
	if (cs) {
		client = turn_alloc_client(rs->alloc)->remote;
		w->tx_csock = (int)cs - 1;
		w->tx_cremote = &client;
	}
	for (unsigned round = 0; round < RX_BUDGET && rs->active; round++) {
		int n;
		struct udp_rx *rx = rx_batch(w, h->fd, &rs->kdrops_seen, &n);
		if (!rx)
			break;
		for (int i = 0; i < n && rs->active; i++) {
			if (udp_rx_trunc(rx, (unsigned)i)) {
				w->rx_trunc++;
				continue;
			}
			turn_on_peer(w->turn, rs->alloc, h->fd, &rx->src[i], udp_rx_data(rx, (unsigned)i),
			             udp_rx_len(rx, (unsigned)i));
		}
		if (n < NET_BATCH)
			break;
	}
	w->tx_csock = -1;
}

/* ---- lifecycle ---- */

/* Adaptive batching. A wakeup costs about as much as relaying several
 * datagrams, and at moderate rates each wakeup finds only 2-4 of them. So
 * when the recent rate says a short pause would gather a real batch, the
 * worker sleeps up to batch_delay_us before polling again (without
 * blocking); at low rates it blocks in epoll and answers at once, so latency
 * is only traded where throughput is at stake. */
#define BATCH_TARGET   16    /* datagrams a pause should gather */
#define RATE_WINDOW_US 10000 /* rate measured over 10 ms */

static unsigned batch_pause_us(struct worker *w, uint64_t now_us, uint64_t turn_datagrams)
{
	unsigned max = w->sh->batch_delay_us;
	if (!max)
		return 0;
	w->win_count += turn_datagrams;
	if (now_us - w->win_start >= RATE_WINDOW_US) {
		/* datagrams per 1000 us, smoothed over two windows */
		uint64_t r = w->win_count * 1000 / (now_us - w->win_start);
		w->rate_per_ms = (w->rate_per_ms + r) / 2;
		w->win_start = now_us;
		w->win_count = 0;
	}
	/* Nothing came in this turn, or it was a full batch anyway: no pause. */
	if (turn_datagrams == 0 || turn_datagrams >= BATCH_TARGET || w->rate_per_ms == 0)
		return 0;
	uint64_t us = (uint64_t)BATCH_TARGET * 1000 / w->rate_per_ms;
	/* Too slow a flow for any pause to pay: serve it immediately. */
	if (us > (uint64_t)max * 4)
		return 0;
	return us > max ? max : (unsigned)us;
}

/* ---- requests of the control socket ---- */

struct sessions_ctx {
	struct worker *w;
	struct worker_req *r;
};

static const char *const transport_name[] = {"udp", "tcp", "tls", "dtls"};

/* A name from the wire as the inside of a JSON string: quote, backslash
 * and control characters escaped, well-formed UTF-8 kept, any other byte
 * U+FFFD. At most cap - 1 bytes (whole characters). */
static void json_escape(char *out, size_t cap, const uint8_t *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		char tmp[8];
		size_t len = 1, w;
		uint8_t b = in[i];
		if (b == '"' || b == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)b;
			w = 2;
		} else if (b < 0x20 || b == 0x7f) {
			w = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", b);
		} else if (b < 0x80) {
			tmp[0] = (char)b;
			w = 1;
		} else {
			size_t need = b >= 0xc2 && b <= 0xdf   ? 2
			              : b >= 0xe0 && b <= 0xef ? 3
			              : b >= 0xf0 && b <= 0xf4 ? 4
			                                       : 0;
			bool ok = need && i + need <= n;
			for (size_t k = 1; ok && k < need; k++)
				ok = (in[i + k] & 0xc0) == 0x80;
			if (ok) {
				memcpy(tmp, in + i, need);
				w = len = need;
			} else {
				memcpy(tmp, "\\ufffd", 6);
				w = 6;
			}
		}
		if (o + w >= cap)
			break;
		memcpy(out + o, tmp, w);
		o += w;
		i += len;
	}
	out[o] = 0;
}

static void session_line(void *ctx, const struct turn_alloc_info *i)
{
	struct sessions_ctx *sc = ctx;
	FILE *f = sc->r->out;
	char user[800], cl[TERN_ADDRSTRLEN], lo[TERN_ADDRSTRLEN], r0[TERN_ADDRSTRLEN], r1[TERN_ADDRSTRLEN];
	const uint8_t *un = i->user ? i->user : (const uint8_t *)"";
	if (sc->r->json)
		json_escape(user, sizeof(user), un, i->user ? i->user_len : 0);
	else
		log_escape(user, sizeof(user), un, i->user ? i->user_len : 0, 128);
	addr_format(&i->ep->remote, cl, sizeof(cl), true);
	addr_format(&i->ep->local, lo, sizeof(lo), true);
	addr_format(&i->relayed[0], r0, sizeof(r0), true);
	r1[0] = 0;
	if (i->nrelayed > 1)
		addr_format(&i->relayed[1], r1, sizeof(r1), true);
	char both[2 * TERN_ADDRSTRLEN + 1]; /* the text table's column: "v4,v6" for a dual allocation */
	snprintf(both, sizeof(both), "%s%s%s", r0, r1[0] ? "," : "", r1);
	const char *tr = i->ep->transport < 4 ? transport_name[i->ep->transport] : "?";
	if (sc->r->json)
		fprintf(
		    f,
		    "%s{\"worker\":%u,\"user\":\"%s\",\"transport\":\"%s\",\"client\":\"%s\","
		    "\"server\":\"%s\",\"relayed\":[\"%s\"%s%s%s],\"age_s\":%llu,\"expires_in_s\":%llu,"
		    "\"permissions\":%u,\"channels\":%u,\"to_peer_datagrams\":%llu,\"to_peer_bytes\":%llu,"
		    "\"to_client_datagrams\":%llu,\"to_client_bytes\":%llu}",
		    sc->r->count ? "," : "", sc->w->id, user, tr, cl, lo, r0, i->nrelayed > 1 ? ",\"" : "",
		    i->nrelayed > 1 ? r1 : "", i->nrelayed > 1 ? "\"" : "",
		    (unsigned long long)(i->age_ms / 1000), (unsigned long long)(i->expires_in_ms / 1000),
		    i->nperms, i->nchans, (unsigned long long)i->to_peer_datagrams,
		    (unsigned long long)i->to_peer_bytes, (unsigned long long)i->to_client_datagrams,
		    (unsigned long long)i->to_client_bytes);
	else
		fprintf(f,
		        "%-6u %-24s %-4s %-40s %-40s %-40s %7llu %7llu %5u %5u %10llu %12llu %10llu %12llu\n",
		        sc->w->id, user, tr, cl, lo, both, (unsigned long long)(i->age_ms / 1000),
		        (unsigned long long)(i->expires_in_ms / 1000), i->nperms, i->nchans,
		        (unsigned long long)i->to_peer_datagrams, (unsigned long long)i->to_peer_bytes,
		        (unsigned long long)i->to_client_datagrams, (unsigned long long)i->to_client_bytes);
	sc->r->count++;
}

static void worker_serve(struct worker *w, struct worker_req *r)
{
	refresh_time(w);
	if (r->kind == WREQ_SESSIONS) {
		struct sessions_ctx sc = {w, r};
		turn_foreach_alloc(w->turn, r->user, session_line, &sc);
	} else if (r->kind == WREQ_KICK) {
		r->count = turn_kick_user(w->turn, r->user);
		worker_end_turn(w); /* the relay sockets close now */
	} else if (r->kind == WREQ_PARAMS) {
		r->rc = turn_set_params(w->turn, r->params);
	}
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

bool worker_call(struct worker *w, struct worker_req *r, int timeout_ms)
{
	r->done = 0;
	r->count = 0;
	__atomic_store_n(&w->req, r, __ATOMIC_RELEASE);
	loop_wake(w->loop);
	uint64_t end = net_now_ms() + (uint64_t)timeout_ms;
	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		if (net_now_ms() >= end) {
			/* take it back unless the worker has it already */
			struct worker_req *expect = r;
			if (__atomic_compare_exchange_n(&w->req, &expect, NULL, false, __ATOMIC_ACQ_REL,
			                                __ATOMIC_ACQUIRE))
				return false;
			end = UINT64_MAX; /* being served: wait for it */
		}
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return true;
}

/* Graceful stop: accept nothing more, read nothing more, and give stream
 * clients shutdown-timeout to take what is queued for them (TLS:
 * close_notify last); worker_free closes whatever is left. */
static void worker_drain(struct worker *w)
{
	for (unsigned i = 0; i < w->ntlisteners; i++)
		loop_del(w->loop, &w->tlisteners[i].h);
	for (unsigned i = 0; i < w->nlisteners; i++)
		loop_del(w->loop, &w->listeners[i].h);
	refresh_time(w);
	udp_tx_flush(w->tx);
	uint64_t deadline = w->now_us + (uint64_t)w->sh->shutdown_timeout_ms * 1000;
	for (unsigned i = 0; i < w->ndlisteners; i++)
		loop_del(w->loop, &w->dlisteners[i].h);
	dtls_close_all(w); /* close_notify to each, queued for the flush below */
	unsigned left = conn_drain_begin(w);
	worker_end_turn(w);
	while (left && net_now_us() < deadline) {
		int ms = (int)((deadline - net_now_us()) / 1000) + 1;
		if (loop_run_once(w->loop, ms > 100 ? 100 : ms) < 0)
			break;
		worker_end_turn(w);
		left = conn_draining(w);
	}
	if (left)
		LOG_RL(LOG_INFO, "worker %u: shutdown: %u connection(s) still had output after %u ms", w->id,
		       left, w->sh->shutdown_timeout_ms);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned pause = 0;
	/* Short sleeps must be short: the default 50 us timer slack would
	 * double a 50 us pause. */
	prctl(PR_SET_TIMERSLACK, 5000UL, 0, 0, 0);
	w->time_stale = true;
	refresh_time(w);
	while (!w->stop) {
		w->turn_seq++;
		/* last turn's clock is close enough to size the wait */
		int timeout = w->rd_again ? 0 : turn_next_timeout(w->turn, 1000);
		if (pause) {
			struct timespec ts = {0, (long)pause * 1000};
			/* syscall(2): no cancellation-point wrapper, see net/udp.c */
			syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
			timeout = 0;
			w->pauses++;
		}
		uint64_t before = w->rx_datagrams;
		w->time_stale = true;
		int rc = loop_run_once(w->loop, timeout);
		if (rc < 0 && rc != -EINTR) {
			log_err("worker %u: event loop failed: %s", w->id, strerror(-rc));
			break;
		}
		refresh_time(w);
		conn_read_again(w);
		turn_on_tick(w->turn);
		/* once a second: connection timeouts (before the flush, which
		 * closes what they close), listeners' kernel drops */
		bool second = w->now_us - w->drops_polled_us >= 1000000;
		if (second) {
			w->drops_polled_us = w->now_us;
			conn_sweep(w, w->now_us / 1000);
			dtls_sweep(w, w->now_us / 1000);
		}
		/* One flush per loop turn: sends from every socket served in this
		 * turn leave in one sendmmsg per socket (GSO where runs allow);
		 * then the sockets closed this turn are closed for real. */
		worker_end_turn(w);
		w->rxused = 0;
		struct worker_req *rq = __atomic_exchange_n(&w->req, NULL, __ATOMIC_ACQ_REL);
		if (rq)
			worker_serve(w, rq);
		pause = batch_pause_us(w, w->now_us, w->rx_datagrams - before);
		if (second)
			for (unsigned i = 0; i < w->nlisteners; i++)
				count_kernel_drops(w, w->listeners[i].h.fd, &w->listeners[i].kdrops_seen);
	}
	worker_drain(w);
	return NULL;
}

/* One of this worker's SO_REUSEPORT UDP sockets on a (a wildcard one
 * learns each datagram's local address), served by fn. 0 or -errno. */
static int udp_listener_open(struct worker *w, struct listener *l, const union tern_addr *a,
                             net_handler_fn fn, const char *what)
{
	bool wild = addr_is_any(a);
	unsigned flags = UDP_F_REUSEPORT | UDP_F_NONBLOCK | (a->sa.sa_family == AF_INET6 ? UDP_F_V6ONLY : 0) |
	                 (wild ? UDP_F_PKTINFO : 0);
	/* connected client sockets bind beside the listener (SO_REUSEADDR on
	 * both), outside its SO_REUSEPORT group: joining the group would
	 * change which worker the kernel's hash picks for other flows */
	if (w->sh->client_sockets && fn == on_listener)
		flags |= UDP_F_REUSEADDR;
	int fd = udp_open(a, flags, LISTEN_RCVBUF, LISTEN_SNDBUF, &l->addr);
	if (fd < 0) {
		char s[TERN_ADDRSTRLEN];
		log_err("cannot listen on %s %s: %s", what, addr_format(a, s, sizeof(s), true),
		        strerror(-fd));
		return fd;
	}
	l->w = w;
	l->wild = wild;
	l->h.fn = fn;
	l->h.fd = fd;
	int rc = loop_add(w->loop, &l->h, EPOLLIN);
	if (rc < 0)
		close(fd);
	return rc;
}

int worker_init(struct worker *w, unsigned id, struct server_shared *sh)
{
	const struct tern_config *cfg = sh->cfg;
	struct rlimit rl;
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->sh = sh;
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w->tx_csock = -1;
	if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
		w->rng = 0x2545F4914F6CDD1DULL ^ id;
	w->loop = loop_new();
	for (unsigned i = 0; i < RX_POOL; i++) {
		w->rxpool[i] = calloc(1, sizeof(struct udp_rx));
		if (!w->rxpool[i])
			return -ENOMEM;
		udp_rx_init(w->rxpool[i]);
	}
	w->tx = calloc(1, sizeof(*w->tx));
	w->hdr = calloc(NET_TX_BATCH, sizeof(*w->hdr));
	w->frame = malloc(CONN_IN_MAX);
	w->arena = malloc(WORKER_ARENA);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1 << 20;
	w->nrelays = (unsigned)rl.rlim_cur;
	/* calloc: untouched pages of this fd-indexed table cost no memory. */
	w->relays = calloc(w->nrelays, sizeof(*w->relays));
	if (!w->loop || !w->tx || !w->hdr || !w->relays || !w->frame || !w->arena)
		return -ENOMEM;
	udp_tx_init(w->tx, sh->gso);

	struct turn_io io = {
	    .ctx = w,
	    .relay_open = io_relay_open,
	    .relay_adopt = io_relay_adopt,
	    .relay_close = io_relay_close,
	    .send_client = io_send_client,
	    .send_peer = io_send_peer,
	};
	if (sh->fastpath) {
		io.fast_set = io_fast_set;
		io.fast_del = io_fast_del;
		io.fast_read = io_fast_read;
	}
	/* seed 0: the core's secret keys come from getrandom */
	w->turn = turn_new(&sh->params, &io, 0);
	if (!w->turn)
		return -ENOMEM;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		if ((rc = udp_listener_open(w, &w->listeners[w->nlisteners], &cfg->listen[i], on_listener,
		                            "udp")) < 0)
			return rc;
		w->nlisteners++;
	}
	/* TCP on listening-port (TLS too, for a client that starts with a
	 * ClientHello), TLS on tls-listening-port (plain TCP too: the first
	 * byte decides on both), PROXY-protocol connections on tcp-proxy-port */
	for (unsigned k = 0; k < cfg->nlisten * TCP_KINDS; k++) {
		unsigned i = k % cfg->nlisten;
		enum tcp_kind kind = (enum tcp_kind)(k / cfg->nlisten);
		uint16_t port = worker_stream_port(cfg, kind);
		if (!port)
			continue;
		struct tcp_listener *l = &w->tlisteners[w->ntlisteners];
		union tern_addr port_a = cfg->listen[i];
		addr_set_port(&port_a, port);
		const union tern_addr *a = &port_a;
		/* the client speaks first: TCP_DEFER_ACCEPT wakes the worker only
		 * for connections that sent something (a flood of bare handshakes
		 * costs the kernel, not the loop) */
		struct tcp_listen_opts o = {.backlog = 1024, .defer_accept_s = 5, .fastopen_qlen = 256};
		int fd = tcp_listen(a, TCP_F_REUSEPORT | (a->sa.sa_family == AF_INET6 ? TCP_F_V6ONLY : 0), &o,
		                    &l->addr);
		if (fd < 0) {
			char str[TERN_ADDRSTRLEN];
			log_err("cannot listen on %s %s: %s", worker_stream_name[kind],
			        addr_format(a, str, sizeof(str), true), strerror(-fd));
			return fd;
		}
		l->w = w;
		l->kind = (uint8_t)kind;
		l->h.fn = on_tcp_listener;
		l->h.fd = fd;
		rc = loop_add(w->loop, &l->h, EPOLLIN);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		w->ntlisteners++;
	}
	/* DTLS on tls-listening-port (UDP) */
	for (unsigned i = 0; config_dtls_on(cfg) && i < cfg->nlisten; i++) {
		union tern_addr a = cfg->listen[i];
		addr_set_port(&a, cfg->tls_listening_port);
		if ((rc = udp_listener_open(w, &w->dlisteners[w->ndlisteners], &a, on_dtls_listener,
		                            "dtls")) < 0)
			return rc;
		w->ndlisteners++;
	}
	return dtls_worker_init(w);
}

const char *const worker_stream_name[TCP_KINDS] = {"tcp", "tls", "tcp-proxy"};

uint16_t worker_stream_port(const struct tern_config *cfg, enum tcp_kind kind)
{
	switch (kind) {
	case TCP_KIND_PLAIN:
		return cfg->no_tcp ? 0 : cfg->listening_port;
	case TCP_KIND_TLS:
		/* equal to listening-port: that listener serves TLS already */
		return config_tls_on(cfg) && cfg->tls_listening_port != cfg->listening_port
		           ? cfg->tls_listening_port
		           : 0;
	case TCP_KIND_PROXY:
		return cfg->tcp_proxy_port;
	default:
		return 0;
	}
}

int worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

void worker_stop(struct worker *w)
{
	if (!w->started)
		return;
	w->stop = true;
	loop_wake(w->loop);
	pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_free(struct worker *w)
{
	if (w->loop) {
		conn_close_all(w); /* deletes their allocations */
		if (w->dslots)
			dtls_close_all(w);
	}
	if (w->turn)
		turn_free(w->turn); /* closes relay sockets through io */
	for (unsigned i = 0; i < w->nclosing; i++)
		close(w->closing[i]);
	w->nclosing = 0;
	conn_reap(w);
	for (unsigned i = 0; i < w->ntlisteners; i++)
		close(w->tlisteners[i].h.fd);
	if (w->loop && w->reserve_fd >= 0)
		close(w->reserve_fd);
	for (unsigned i = 0; i < w->nlisteners; i++)
		close(w->listeners[i].h.fd);
	for (unsigned i = 0; i < w->ndlisteners; i++)
		close(w->dlisteners[i].h.fd);
	dtls_worker_free(w);
	if (w->loop)
		loop_free(w->loop);
	SSL_CTX_free(w->tls_ctx);
	for (unsigned i = 0; i < RX_POOL; i++)
		free(w->rxpool[i]);
	free(w->tx);
	free(w->hdr);
	free(w->frame);
	free(w->arena);
	free(w->relays);
	memset(w, 0, sizeof(*w));
}
