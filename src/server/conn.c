#include "server/conn.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/tcp.h"
#include "server/worker.h"
#include "stun/stun.h"
#include "util/log.h"

struct conn {
	struct net_handler h;
	struct worker *w;
	struct turn_ep ep;
	uint8_t *in;
	uint32_t in_off, in_len, in_cap; /* unprocessed input is in[in_off, in_len) */
	uint8_t *out;
	uint32_t out_len, out_cap;
	bool closing;
	uint64_t alloc_seen_ms;   /* last sweep that found an allocation on it (accept time at first) */
	uint32_t src_slot;        /* its per-source counter */
	uint64_t accepted_ms;     /* worker clock at accept */
	bool on_out_list;         /* in w->out_pending */
	bool want_out;            /* registered for EPOLLOUT (a write was short) */
	struct conn *prev, *next; /* w->conns */
	struct conn *out_next;    /* w->out_pending, or w->dead once closed */
};

static void conn_close(struct conn *c);

static void list_remove(struct worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* A connection ends: its allocation goes (RFC 8656 §3.1), the fd leaves the
 * loop now and is closed after the flush, the memory is freed after that
 * (frames in c->in may still be borrowed by queued sends). */
static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	if (c->closing)
		return;
	c->closing = true;
	turn_on_client_closed(w->turn, &c->ep);
	loop_del(w->loop, &c->h);
	struct relay_sock *slot = &w->relays[c->h.fd];
	slot->conn = NULL;
	worker_close_later(w, c->h.fd);
	list_remove(w, c);
	if (!c->on_out_list) {
		c->out_next = w->dead;
		w->dead = c;
	}
	/* else conn_flush moves it to w->dead when it walks the list */
	w->tcp_closed++;
	w->tcp_live--;
	atomic_fetch_sub_explicit(&w->sh->conn_per_src[c->src_slot], 1, memory_order_relaxed);
}

/* The counter of a source: its IPv4 address or IPv6 /64. */
static uint32_t src_slot(const struct server_shared *sh, const union tern_addr *a)
{
	return (uint32_t)(addr_source_hash(a, &sh->conn_key) % CONN_SRC_SLOTS);
}

void conn_sweep(struct worker *w, uint64_t now_ms)
{
	struct conn *next;
	for (struct conn *c = w->conns; c; c = next) {
		next = c->next; /* conn_close unlinks c */
		/* An empty output buffer is released here, not after each write:
		 * a busy connection keeps it (no malloc per turn), an idle one
		 * holds no output memory after a second. */
		if (c->out && c->out_len == 0) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		/* An allocation resets the clock: a connection whose allocation was
		 * deleted or expired is closed like one that never had one. */
		if (turn_ep_has_allocation(w->turn, &c->ep)) {
			c->alloc_seen_ms = now_ms;
			continue;
		}
		if (now_ms - c->alloc_seen_ms < w->sh->allocate_timeout_ms)
			continue;
		w->tcp_timeouts++;
		conn_close(c);
	}
}

/* Hand every complete frame in the input to the core. */
static void conn_frames(struct conn *c)
{
	struct worker *w = c->w;
	while (!c->closing && c->in_off < c->in_len) {
		int n = stun_frame_len(c->in + c->in_off, c->in_len - c->in_off);
		if (n == 0)
			return;
		if (n < 0 || n > CONN_IN_MAX) {
			/* not STUN or ChannelData, or longer than any frame: the
			 * stream cannot be resynchronised */
			w->tcp_bad_frame++;
			LOG_RL(LOG_INFO, "worker %u: tcp client: bad frame, connection closed", w->id);
			conn_close(c);
			return;
		}
		/* the rest of a frame is still to come: conn_make_room grows the
		 * buffer for it at the next read, when nothing is borrowed */
		if ((uint32_t)n > c->in_len - c->in_off)
			return;
		const uint8_t *f = c->in + c->in_off;
		c->in_off += (uint32_t)n;
		turn_on_client(w->turn, &c->ep, f, (size_t)n);
	}
}

/* Compact (the previous turn's frames have been flushed) and make room for
 * the frame being received. 0, or -ENOMEM. */
static int conn_make_room(struct conn *c)
{
	if (c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	uint32_t need = CONN_IN_MIN;
	int n = stun_frame_len(c->in, c->in_len);
	if (n > 0 && (uint32_t)n > need)
		need = (uint32_t)n;
	if (need > c->in_cap) {
		uint8_t *p = realloc(c->in, need);
		if (!p)
			return -ENOMEM;
		c->in = p;
		c->in_cap = need;
	}
	return 0;
}

static void conn_write(struct conn *c);

static void on_conn(struct net_handler *h, uint32_t events)
{
	struct conn *c = (struct conn *)h;
	if (c->closing)
		return;
	if (events & EPOLLOUT)
		conn_write(c);
	if (c->closing || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (conn_make_room(c) < 0) {
		conn_close(c);
		return;
	}
	/* One read per turn per connection: the turn stays short, and input is
	 * never moved while a frame of this turn is borrowed. */
	ssize_t r = recv(c->h.fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c); /* the client closed, or reset */
		return;
	}
	if (r > 0) {
		c->in_len += (uint32_t)r;
		conn_frames(c);
	}
}

void conn_accept(struct worker *w, int lfd)
{
	for (unsigned k = 0; k < CONN_ACCEPT_BUDGET; k++) {
		union tern_addr peer, local;
		int fd = tcp_accept(lfd, &peer, &local);
		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			return;
		if (fd == -EMFILE || fd == -ENFILE) {
			/* Out of descriptors: the connection would stay in the accept
			 * queue and wake the loop forever. Give up the reserve fd,
			 * accept and drop it, take the reserve back. */
			w->tcp_accept_fail++;
			LOG_RL(LOG_WARN, "worker %u: out of file descriptors: TCP connection refused", w->id);
			if (w->reserve_fd >= 0) {
				close(w->reserve_fd);
				int x = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				if (x >= 0)
					close(x);
				w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			return;
		}
		if (fd < 0) {
			w->tcp_accept_fail++;
			return;
		}
		/* limits: per worker, and per source over the whole server */
		uint32_t slot_i = src_slot(w->sh, &peer);
		_Atomic uint32_t *per_src = &w->sh->conn_per_src[slot_i];
		bool over = w->tcp_live >= w->sh->conn_cap;
		if (!over &&
		    atomic_fetch_add_explicit(per_src, 1, memory_order_relaxed) >= w->sh->conn_cap_per_src) {
			atomic_fetch_sub_explicit(per_src, 1, memory_order_relaxed);
			over = true;
		}
		if (over) {
			w->tcp_refused++;
			LOG_RL(LOG_INFO, "worker %u: tcp connection refused: over max-connections(-per-ip)",
			       w->id);
			close(fd);
			continue;
		}
		struct relay_sock *slot = (unsigned)fd < w->nrelays ? &w->relays[fd] : NULL;
		struct conn *c = slot ? calloc(1, sizeof(*c)) : NULL;
		if (c && (c->in = malloc(CONN_IN_MIN)) != NULL) {
			c->w = w;
			c->src_slot = slot_i;
			c->accepted_ms = c->alloc_seen_ms = w->now_us / 1000;
			c->in_cap = CONN_IN_MIN;
			c->h.fn = on_conn;
			c->h.fd = fd;
			c->ep.id = (uint32_t)fd;
			c->ep.gen = slot->gen + 1;
			c->ep.transport = TURN_T_TCP;
			c->ep.local = local;
			c->ep.remote = peer;
		}
		if (!c || !c->in || loop_add(w->loop, &c->h, EPOLLIN | EPOLLRDHUP) < 0) {
			atomic_fetch_sub_explicit(per_src, 1, memory_order_relaxed);
			w->tcp_accept_fail++;
			if (c)
				free(c->in);
			free(c);
			close(fd);
			continue;
		}
		slot->gen = c->ep.gen;
		slot->conn = c;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->tcp_accepted++;
		w->tcp_live++;
	}
}

enum turn_tx conn_send(struct worker *w, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                       const uint8_t *payload, size_t paylen, size_t pad)
{
	static const uint8_t zeros[4];
	if (ep->id >= w->nrelays)
		return TURN_TX_GONE;
	struct conn *c = w->relays[ep->id].conn;
	if (!c || c->closing || c->ep.gen != ep->gen)
		return TURN_TX_GONE;
	size_t need = hdrlen + paylen + pad;
	if (c->out_len + need > CONN_OUT_MAX) {
		/* Relayed data is dropped as UDP would lose it; an answer the
		 * client waits for cannot be, and a client that does not read
		 * its answers is gone (it would hold memory forever). */
		if (paylen == 0) {
			conn_close(c);
			return TURN_TX_GONE;
		}
		w->tcp_out_dropped++;
		return TURN_TX_DROPPED;
	}
	if (c->out_len + need > c->out_cap) {
		uint32_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + need)
			cap *= 2;
		if (cap > CONN_OUT_MAX)
			cap = CONN_OUT_MAX;
		uint8_t *p = realloc(c->out, cap);
		if (!p) {
			w->tcp_out_dropped++;
			return TURN_TX_DROPPED;
		}
		c->out = p;
		c->out_cap = cap;
	}
	if (hdrlen)
		memcpy(c->out + c->out_len, hdr, hdrlen);
	if (paylen)
		memcpy(c->out + c->out_len + hdrlen, payload, paylen);
	if (pad)
		memcpy(c->out + c->out_len + hdrlen + paylen, zeros, pad);
	c->out_len += (uint32_t)need;
	if (!c->on_out_list) {
		c->on_out_list = true;
		c->out_next = w->out_pending;
		w->out_pending = c;
	}
	return TURN_TX_QUEUED;
}

/* Write what is queued; a short write waits for EPOLLOUT. (conn_sweep
 * releases a buffer that stays empty.) */
static void conn_write(struct conn *c)
{
	while (c->out_len) {
		ssize_t r = send(c->h.fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			conn_close(c);
			return;
		}
		memmove(c->out, c->out + r, c->out_len - (size_t)r);
		c->out_len -= (uint32_t)r;
	}
	bool want = c->out_len != 0;
	if (want != c->want_out) {
		c->want_out = want;
		loop_mod(c->w->loop, &c->h, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0));
	}
}

void conn_flush(struct worker *w)
{
	while (w->out_pending) {
		struct conn *c = w->out_pending;
		w->out_pending = c->out_next;
		c->on_out_list = false;
		if (!c->closing && !c->want_out)
			conn_write(c);
		if (c->closing) {
			/* closed before or by this write: free after the flush */
			c->out_next = w->dead;
			w->dead = c;
		}
	}
}

void conn_reap(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;
		w->dead = c->out_next;
		free(c->in);
		free(c->out);
		free(c);
	}
}

void conn_close_all(struct worker *w)
{
	conn_flush(w);
	while (w->conns)
		conn_close(w->conns);
}
