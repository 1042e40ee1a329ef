#include "server/conn.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/proxy.h"
#include "net/tcp.h"
#include "net/tls.h"
#include "server/worker.h"
#include "stun/stream.h"
#include "stun/stun.h"
#include "util/log.h"

/* A connection's transport (nginx's recv/send, HAProxy's xprt_ops): the
 * code above it sees frames in and bytes out.
 * - recv: a count, 0 (the peer closed), -EAGAIN (nothing now), or another
 *   -errno (the connection is gone).
 * - put: append one whole frame (hdr, payload, pad zero bytes) to c->out,
 *   which holds what goes on the wire (TLS: one record per frame, already
 *   encrypted, because clients such as coturn's read one message per
 *   record; the socket still takes a turn's records in one send). 0, or
 *   -errno (the connection is broken).
 * - close: once, when the connection closes (TLS: close_notify); release:
 *   when it is freed.
 * - pending: the transport may hold input the socket will not signal. */
struct conn_ops {
	ssize_t (*recv)(struct conn *c, uint8_t *buf, size_t len);
	int (*put)(struct conn *c, const uint8_t *hdr, size_t hdrlen, const uint8_t *payload, size_t paylen,
	           size_t pad);
	void (*close)(struct conn *c);
	void (*release)(struct conn *c);
	bool (*pending)(struct conn *c);
};

struct conn {
	struct net_handler h;
	struct worker *w;
	const struct conn_ops *ops; /* NULL until the first byte says plain or TLS */
	struct turn_ep ep;
	struct stun_stream in; /* input, cut into frames */
	uint8_t *out;          /* bytes for the wire */
	uint32_t out_len, out_cap;
	bool closing;
	uint64_t alloc_seen_ms; /* last sweep that found an allocation on it (accept time at first) */
	uint32_t src_slot;      /* its per-source counter, or NO_SLOT (not counted yet) */
	bool want_proxy;        /* a PROXY header must come first (tcp-proxy-port) */
	uint64_t accepted_ms;   /* worker clock at accept */
	uint64_t read_turn;     /* the loop turn of its last read (one read per turn) */
	bool on_out_list;       /* in w->out_pending */
	bool want_out;          /* registered for EPOLLOUT (a write was short) */
	bool on_rd_again;       /* in w->rd_again */
	/* TLS: reads from the socket, writes records into wbio (memory) */
	SSL *ssl;
	BIO *wbio;
	bool hs_done;             /* handshake finished */
	bool tls_dead;            /* a fatal TLS error: no close_notify */
	bool notified;            /* close_notify queued (shutdown) */
	bool failed;              /* a write failed: closed at the end of the turn (w->failed) */
	struct conn *prev, *next; /* w->conns */
	struct conn *out_next;    /* w->out_pending, or w->dead once closed */
	struct conn *rd_next;     /* w->rd_again */
	struct conn *fail_next;   /* w->failed */
};

#define NO_SLOT UINT32_MAX
/* Bytes of buffers one sweep releases before it trims the heap. */
#define CONN_TRIM_MIN (256u << 10)

/* The counter of a source: its IPv4 address or IPv6 /64. */
static uint32_t src_slot(const struct server_shared *sh, const union tern_addr *a)
{
	return (uint32_t)(addr_source_hash(a, &sh->conn_key) % CONN_SRC_SLOTS);
}

/* Room for n more bytes of output (grown by doubling up to the bound). */
static int out_reserve(struct conn *c, size_t n)
{
	if (c->out_len + n <= c->out_cap)
		return 0;
	uint32_t cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + n)
		cap *= 2;
	if (cap > CONN_OUT_MAX + TLS_OUT_SLACK)
		cap = CONN_OUT_MAX + TLS_OUT_SLACK;
	if (c->out_len + n > cap)
		return -ENOBUFS;
	uint8_t *p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

static void out_pending(struct conn *c)
{
	struct worker *w = c->w;
	if (!c->on_out_list) {
		c->on_out_list = true;
		c->out_next = w->out_pending;
		w->out_pending = c;
	}
}

/* ---- plain TCP ---- */

static ssize_t plain_recv(struct conn *c, uint8_t *buf, size_t len)
{
	ssize_t r = recv(c->h.fd, buf, len, MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	return r;
}

static int plain_put(struct conn *c, const uint8_t *hdr, size_t hdrlen, const uint8_t *payload, size_t paylen,
                     size_t pad)
{
	static const uint8_t zeros[4];
	int rc = out_reserve(c, hdrlen + paylen + pad);
	if (rc < 0)
		return rc;
	if (hdrlen)
		memcpy(c->out + c->out_len, hdr, hdrlen);
	if (paylen)
		memcpy(c->out + c->out_len + hdrlen, payload, paylen);
	if (pad)
		memcpy(c->out + c->out_len + hdrlen + paylen, zeros, pad);
	c->out_len += (uint32_t)(hdrlen + paylen + pad);
	return 0;
}

static void plain_nop(struct conn *c)
{
}

static bool plain_pending(struct conn *c)
{
	return false; /* the socket itself signals what is left */
}

static const struct conn_ops plain_ops = {plain_recv, plain_put, plain_nop, plain_nop, plain_pending};

/* ---- TLS ---- */

/* Move the records OpenSSL wrote (handshake, tickets, data, alerts) into
 * the output buffer. 0, or -ENOBUFS when they do not fit. */
static int tls_drain(struct conn *c)
{
	size_t n = BIO_ctrl_pending(c->wbio);
	if (n == 0)
		return 0;
	int rc = out_reserve(c, n);
	if (rc < 0)
		return rc;
	int got = BIO_read(c->wbio, c->out + c->out_len, (int)n);
	if (got > 0)
		c->out_len += (uint32_t)got;
	out_pending(c);
	return 0;
}

/* After each OpenSSL call: a handshake that just finished is counted. */
static void tls_progress(struct conn *c)
{
	/* The client's Finished is the last handshake message the server
	 * reads (full TLS 1.3 and 1.2 handshakes, 1.2 resumption alike): once
	 * it is in, the handshake is done, even when garbage right behind it
	 * in the same read has already broken the connection (OpenSSL's
	 * fatal-error path puts it back "in init", so SSL_is_init_finished
	 * would say no and a finished handshake would count as failed). */
	if (c->hs_done || (!SSL_is_init_finished(c->ssl) && SSL_get_peer_finished(c->ssl, NULL, 0) == 0))
		return;
	c->hs_done = true;
	c->w->tls_half_open--;
	c->w->tls_handshakes++;
	if (SSL_session_reused(c->ssl))
		c->w->tls_resumed++;
}

static ssize_t tls_recv(struct conn *c, uint8_t *buf, size_t len)
{
	int n = SSL_read(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
	tls_progress(c);
	/* the handshake's answers, tickets, alerts */
	if (tls_drain(c) < 0)
		return -ENOBUFS;
	switch (err) {
	case SSL_ERROR_NONE:
		return n;
	case SSL_ERROR_WANT_READ:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify */
	default:
		c->tls_dead = true;
		if (!c->hs_done) {
			c->w->tls_hs_fail++;
			if (tern_log_level >= LOG_DEBUG) {
				char why[160], a[TERN_ADDRSTRLEN];
				LOG_RL(LOG_DEBUG, "worker %u: tls client %s: handshake failed: %s", c->w->id,
				       addr_format(&c->ep.remote, a, sizeof(a), true),
				       tls_last_error(why, sizeof(why)));
			}
		}
		ERR_clear_error();
		return -EPROTO;
	}
}

/* One frame, one record: the worker's scratch buffer makes it contiguous. */
static int tls_put(struct conn *c, const uint8_t *hdr, size_t hdrlen, const uint8_t *payload, size_t paylen,
                   size_t pad)
{
	uint8_t *f = c->w->frame;
	size_t n = hdrlen + paylen + pad;
	if (n > CONN_IN_MAX)
		return -EMSGSIZE;
	if (hdrlen)
		memcpy(f, hdr, hdrlen);
	if (paylen)
		memcpy(f + hdrlen, payload, paylen);
	if (pad)
		memset(f + hdrlen + paylen, 0, pad);
	if (SSL_write(c->ssl, f, (int)n) != (int)n) {
		c->tls_dead = true;
		ERR_clear_error();
		return -EPROTO;
	}
	return tls_drain(c);
}

/* close_notify, once, sent at once without waiting for the client's */
static void tls_close(struct conn *c)
{
	if (c->hs_done && !c->tls_dead && !c->notified && SSL_shutdown(c->ssl) >= 0 && tls_drain(c) == 0 &&
	    c->out_len)
		(void)send(c->h.fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	ERR_clear_error();
	c->w->tls_live--;
	if (!c->hs_done)
		c->w->tls_half_open--;
}

static void tls_release(struct conn *c)
{
	SSL_free(c->ssl); /* frees both BIOs */
	c->ssl = NULL;
	c->wbio = NULL;
}

/* Records read ahead stay in OpenSSL when our buffer fills: neither
 * SSL_pending (decrypted bytes only) nor the socket tells, so a full
 * buffer always means "read again next turn"; a read that ends in
 * WANT_READ has taken everything. */
static bool tls_pending(struct conn *c)
{
	return true;
}

static const struct conn_ops tls_ops = {tls_recv, tls_put, tls_close, tls_release, tls_pending};

/* The worker's reference to the current context (a certificate reload
 * changes it for new connections only). */
static SSL_CTX *worker_tls_ctx(struct worker *w)
{
	struct tls_server *ts = w->sh->tls;
	if (!w->tls_ctx || tls_server_gen(ts) != w->tls_gen) {
		SSL_CTX_free(w->tls_ctx);
		w->tls_ctx = tls_server_ctx(ts, &w->tls_gen, false);
	}
	return w->tls_ctx;
}

/* One more slot of the per-source counter of a: 0, or -EUSERS when the
 * source is at max-connections-per-ip. */
static int src_take(struct worker *w, const union tern_addr *a, uint32_t *slot)
{
	*slot = src_slot(w->sh, a);
	_Atomic uint32_t *n = &w->sh->conn_per_src[*slot];
	if (atomic_fetch_add_explicit(n, 1, memory_order_relaxed) >= w->sh->conn_cap_per_src) {
		atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
		*slot = NO_SLOT;
		return -EUSERS;
	}
	return 0;
}

/* The PROXY header (tcp-proxy-port): its bytes are taken from the socket
 * and nothing after them, so the transport's first byte (TLS or STUN) is
 * still there to read. Bytes of an unfinished header wait in c->in (every
 * byte before the header's end is the header's): peeking alone would leave
 * them in the socket and wake the loop forever. 0 once the header is taken,
 * -EAGAIN for more, -errno to close. */
static int conn_proxy(struct conn *c)
{
	struct worker *w = c->w;
	struct stun_stream *in = &c->in;
	ssize_t r = recv(c->h.fd, in->buf + in->len, PROXY_MAX_LEN - in->len, MSG_PEEK | MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	if (r == 0)
		return -ECONNRESET;
	struct proxy_hdr ph;
	size_t have = in->len + (size_t)r;
	int n = proxy_parse(in->buf, have, &ph);
	if (n < 0 || (n == 0 && have >= PROXY_MAX_LEN)) {
		w->proxy_bad++;
		LOG_RL(LOG_INFO, "worker %u: tcp-proxy-port: no valid PROXY header (%s): connection closed",
		       w->id, n == -EPROTO ? "another protocol" : "malformed");
		return -EPROTO;
	}
	/* take the header's bytes only (or all of an unfinished one) */
	size_t take = n > 0 ? (size_t)n - in->len : (size_t)r;
	if (recv(c->h.fd, in->buf + in->len, take, MSG_DONTWAIT) != (ssize_t)take)
		return -EIO;
	if (n == 0) {
		in->len += (uint32_t)take;
		return -EAGAIN;
	}
	in->len = 0;
	c->want_proxy = false;
	w->proxy_headers++;
	if (ph.local) {
		/* the balancer's own check, or a client it cannot name: the
		 * connection's addresses stand */
		w->proxy_local++;
	} else {
		c->ep.remote = ph.src;
	}
	/* max-connections-per-ip counts the client, not the balancer */
	if (src_take(w, &c->ep.remote, &c->src_slot) < 0) {
		w->tcp_refused++;
		LOG_RL(LOG_INFO, "worker %u: tcp connection refused: over max-connections-per-ip", w->id);
		return -EUSERS;
	}
	return 0;
}

/* The first byte decides: a TLS handshake record, or STUN/ChannelData. 0,
 * -EAGAIN (nothing yet), or -errno (close). */
static int conn_choose(struct conn *c)
{
	struct worker *w = c->w;
	uint8_t b[1];
	ssize_t r = recv(c->h.fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	if (r == 0)
		return -ECONNRESET;
	if (tls_sniff(b, (size_t)r) != TLS_SNIFF_TLS) {
		c->ops = &plain_ops;
		return 0;
	}
	if (!w->sh->tls) {
		w->tls_refused++;
		LOG_RL(LOG_INFO, "worker %u: TLS ClientHello but no TLS configured (cert): connection closed",
		       w->id);
		return -EPROTONOSUPPORT;
	}
	/* a handshake in progress holds about 50 KiB (OpenSSL's buffers and
	 * state): at most TLS_HALF_OPEN_MAX of them per worker */
	if (w->tls_half_open >= TLS_HALF_OPEN_MAX) {
		w->tls_hs_busy++;
		LOG_RL(LOG_INFO, "worker %u: TLS handshake refused: %u in progress", w->id,
		       TLS_HALF_OPEN_MAX);
		return -EBUSY;
	}
	c->ssl = SSL_new(worker_tls_ctx(w));
	BIO *rbio = BIO_new_socket(c->h.fd, BIO_NOCLOSE);
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !rbio || !c->wbio) {
		ERR_clear_error();
		SSL_free(c->ssl);
		BIO_free(rbio);
		BIO_free(c->wbio);
		c->ssl = NULL;
		c->wbio = NULL;
		return -ENOMEM;
	}
	SSL_set_bio(c->ssl, rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	/* one recv takes every record the socket holds; what our buffer
	 * cannot take yet stays in OpenSSL (tls_pending) */
	SSL_set_read_ahead(c->ssl, 1);
	c->ops = &tls_ops;
	c->ep.transport = TURN_T_TLS;
	w->tls_live++;
	w->tls_half_open++;
	return 0;
}

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
	if (c->ops)
		c->ops->close(c);
	if (c->on_rd_again) {
		struct conn **pp = &w->rd_again;
		while (*pp != c)
			pp = &(*pp)->rd_next;
		*pp = c->rd_next;
		c->on_rd_again = false;
	}
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
	if (c->src_slot != NO_SLOT)
		atomic_fetch_sub_explicit(&w->sh->conn_per_src[c->src_slot], 1, memory_order_relaxed);
}

void conn_sweep(struct worker *w, uint64_t now_ms)
{
	struct conn *next;
	size_t released = 0;
	for (struct conn *c = w->conns; c; c = next) {
		next = c->next; /* conn_close unlinks c */
		/* An empty output buffer is released here, not after each write:
		 * a busy connection keeps it (no malloc per turn), an idle one
		 * holds no output memory after a second. */
		if (c->out && c->out_len == 0) {
			released += c->out_cap;
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		/* Likewise the input buffer of an idle plain TCP connection: none
		 * of its bytes wait for the rest of a frame, and none of its frames
		 * are lent to the core (it was not read this turn: earlier turns'
		 * frames were flushed at their end). The next read allocates it
		 * again (stun_stream_room). */
		if (c->ops == &plain_ops && c->in.buf && stun_stream_pending(&c->in) == 0 &&
		    c->read_turn != w->turn_seq) {
			released += c->in.cap;
			stun_stream_free(&c->in);
		}
		if (c->want_proxy && now_ms - c->accepted_ms >= w->sh->handshake_timeout_ms) {
			w->proxy_bad++; /* no complete header in time */
			conn_close(c);
			continue;
		}
		if (c->ssl && !c->hs_done && now_ms - c->accepted_ms >= w->sh->handshake_timeout_ms) {
			w->tls_hs_timeouts++;
			c->tls_dead = true; /* no close_notify in the middle of a handshake */
			conn_close(c);
			continue;
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
	/* Freed blocks between live ones stay resident (malloc gives back only
	 * the top of a heap): when the sweep gave back much, hand the free
	 * pages to the kernel. Not for a few buffers: a trim walks every
	 * arena's free lists. Churn, where it trims every second, pays nothing
	 * measurable (docs/PERFORMANCE.md). */
	if (released >= CONN_TRIM_MIN)
		malloc_trim(0);
}

/* Hand every complete frame in the input to the core. A frame still to
 * come waits: the next read's stun_stream_room grows the buffer for it,
 * when nothing is borrowed any more. */
static void conn_frames(struct conn *c)
{
	struct worker *w = c->w;
	const uint8_t *f;
	int n;
	while (!c->closing && !c->failed && (n = stun_stream_next(&c->in, &f)) != 0) {
		if (n < 0) {
			/* not STUN or ChannelData, or longer than any frame: the
			 * stream cannot be resynchronised */
			w->tcp_bad_frame++;
			LOG_RL(LOG_INFO, "worker %u: tcp client: bad frame, connection closed", w->id);
			conn_close(c);
			return;
		}
		turn_on_client(w->turn, &c->ep, f, (size_t)n);
	}
}

static void conn_write(struct conn *c);

/* EPOLLOUT while output waits for the socket (level-triggered: never
 * registered without a reason). */
static void conn_update_events(struct conn *c)
{
	bool want = c->out_len != 0;
	if (want != c->want_out) {
		c->want_out = want;
		loop_mod(c->w->loop, &c->h, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0));
	}
}

/* Read what the transport has, up to the buffer's end, and hand the
 * complete frames to the core. Once per loop turn: frames handed over are
 * borrowed until the end-of-turn flush, and the next read compacts. */
static void conn_read(struct conn *c)
{
	struct worker *w = c->w;
	if (c->read_turn == w->turn_seq) {
		/* read already this turn (an epoll event and the again list) */
		if (!c->on_rd_again) {
			c->on_rd_again = true;
			c->rd_next = w->rd_again;
			w->rd_again = c;
		}
		return;
	}
	if (c->failed)
		return;
	c->read_turn = w->turn_seq;
	if (c->want_proxy) {
		int rc = conn_proxy(c);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			conn_close(c);
			return;
		}
	}
	if (!c->ops) {
		int rc = conn_choose(c);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			conn_close(c);
			return;
		}
	}
	/* the previous turn's frames have been flushed: compact, and make
	 * room for the frame being received */
	struct stun_stream *in = &c->in;
	if (stun_stream_room(in) < 0) {
		conn_close(c);
		return;
	}
	ssize_t r = 0;
	while (in->len < in->cap) {
		r = c->ops->recv(c, in->buf + in->len, in->cap - in->len);
		if (r <= 0)
			break;
		in->len += (uint32_t)r;
	}
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		conn_frames(c); /* what arrived before the end still counts */
		conn_close(c);  /* the client closed, or reset, or broke TLS */
		return;
	}
	conn_update_events(c);
	/* the buffer is full and the transport may hold more */
	if (r > 0 && c->ops->pending(c) && !c->on_rd_again) {
		c->on_rd_again = true;
		c->rd_next = w->rd_again;
		w->rd_again = c;
	}
	conn_frames(c);
}

static void on_conn(struct net_handler *h, uint32_t events)
{
	struct conn *c = (struct conn *)h;
	if (c->closing || c->failed)
		return;
	if (events & EPOLLOUT)
		conn_write(c);
	if (c->w->draining) {
		/* shutdown: input is no longer read; done once written, or the
		 * client is gone */
		if (c->out_len == 0 || (events & (EPOLLERR | EPOLLHUP)))
			conn_close(c);
		return;
	}
	if (!c->closing && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(c);
}

void conn_read_again(struct worker *w)
{
	struct conn *list = w->rd_again;
	w->rd_again = NULL;
	while (list) {
		struct conn *c = list;
		list = c->rd_next;
		c->on_rd_again = false;
		if (!c->closing)
			conn_read(c);
	}
}

void conn_accept(struct worker *w, int lfd, bool proxy)
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
		/* limits: per worker, and per source over the whole server (behind
		 * a PROXY header, the source is known only once it is read) */
		uint32_t slot_i = NO_SLOT;
		bool over = w->tcp_live >= w->sh->conn_cap || (!proxy && src_take(w, &peer, &slot_i) < 0);
		if (over) {
			w->tcp_refused++;
			LOG_RL(LOG_INFO, "worker %u: tcp connection refused: over max-connections(-per-ip)",
			       w->id);
			close(fd);
			continue;
		}
		struct relay_sock *slot = (unsigned)fd < w->nrelays ? &w->relays[fd] : NULL;
		struct conn *c = slot ? calloc(1, sizeof(*c)) : NULL;
		/* the input buffer also holds a PROXY header's first bytes */
		if (c && stun_stream_room(&c->in) >= PROXY_MAX_LEN) {
			c->w = w;
			c->src_slot = slot_i;
			c->accepted_ms = c->alloc_seen_ms = w->now_us / 1000;
			c->h.fn = on_conn;
			c->h.fd = fd;
			c->ep.id = (uint32_t)fd;
			c->ep.gen = slot->gen + 1;
			c->ep.transport = TURN_T_TCP;
			c->ep.local = local;
			c->ep.remote = peer;
		}
		if (c)
			c->want_proxy = proxy;
		if (!c || !c->in.buf || loop_add(w->loop, &c->h, EPOLLIN | EPOLLRDHUP) < 0) {
			if (slot_i != NO_SLOT)
				atomic_fetch_sub_explicit(&w->sh->conn_per_src[slot_i], 1,
				                          memory_order_relaxed);
			w->tcp_accept_fail++;
			if (c)
				stun_stream_free(&c->in);
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

/* A write to c failed (or its answer cannot be queued). It is closed at
 * the end of the turn, not now: this runs inside the TURN core (conn_send)
 * or inside a flush the core may have started (an early flush), and
 * closing calls back into the core (turn_on_client_closed deletes the
 * allocation the core may be working on: it was deleted twice). Until then
 * it takes no input and no output. */
static void conn_fail(struct conn *c)
{
	struct worker *w = c->w;
	if (c->failed || c->closing)
		return;
	c->failed = true;
	c->fail_next = w->failed;
	w->failed = c;
}

void conn_close_failed(struct worker *w)
{
	while (w->failed) {
		struct conn *c = w->failed;
		w->failed = c->fail_next;
		conn_close(c);
	}
}

enum turn_tx conn_send(struct worker *w, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                       const uint8_t *payload, size_t paylen, size_t pad)
{
	if (ep->id >= w->nrelays)
		return TURN_TX_GONE;
	struct conn *c = w->relays[ep->id].conn;
	if (!c || c->closing || c->failed || c->ep.gen != ep->gen || !c->ops)
		return TURN_TX_GONE;
	size_t need = hdrlen + paylen + pad;
	int rc =
	    c->out_len + need > CONN_OUT_MAX ? -ENOBUFS : c->ops->put(c, hdr, hdrlen, payload, paylen, pad);
	if (rc == -ENOBUFS || rc == -ENOMEM) {
		/* Relayed data is dropped as UDP would lose it; an answer the
		 * client waits for cannot be, and a client that does not read
		 * its answers is gone (it would hold memory forever). */
		if (paylen == 0) {
			conn_fail(c);
			return TURN_TX_GONE;
		}
		w->tcp_out_dropped++;
		return TURN_TX_DROPPED;
	}
	if (rc < 0) {
		conn_fail(c);
		return TURN_TX_GONE;
	}
	out_pending(c);
	return TURN_TX_QUEUED;
}

/* Write what is queued; a short write waits for EPOLLOUT. conn_sweep
 * releases a buffer that stays empty. */
static void conn_write(struct conn *c)
{
	uint32_t done = 0;
	while (done < c->out_len) {
		ssize_t r = send(c->h.fd, c->out + done, c->out_len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			conn_fail(c); /* the flush may run inside the core (an early flush) */
			return;
		}
		done += (uint32_t)r;
	}
	if (done) {
		memmove(c->out, c->out + done, c->out_len - done);
		c->out_len -= done;
	}
	conn_update_events(c);
}

void conn_flush(struct worker *w)
{
	while (w->out_pending) {
		struct conn *c = w->out_pending;
		w->out_pending = c->out_next;
		/* still on the list while it writes: a write that fails closes
		 * it, and conn_close leaves the move to w->dead to this loop
		 * (pushing it there too would free it twice) */
		if (!c->closing && !c->failed && !c->want_out)
			conn_write(c);
		c->on_out_list = false;
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
		if (c->ops)
			c->ops->release(c);
		stun_stream_free(&c->in);
		free(c->out);
		free(c);
	}
}

unsigned conn_drain_begin(struct worker *w)
{
	w->draining = true;
	struct conn *next;
	for (struct conn *c = w->conns; c; c = next) {
		next = c->next;
		if (c->ssl && c->hs_done && !c->tls_dead && SSL_shutdown(c->ssl) >= 0 && tls_drain(c) == 0)
			c->notified = true;
		ERR_clear_error();
		if (c->out_len == 0) {
			conn_close(c);
			continue;
		}
		/* written by the loop from now on: EPOLLOUT only */
		c->want_out = true;
		loop_mod(w->loop, &c->h, EPOLLOUT);
	}
	conn_flush(w);
	return conn_draining(w);
}

unsigned conn_draining(const struct worker *w)
{
	unsigned n = 0;
	for (const struct conn *c = w->conns; c; c = c->next)
		n += c->out_len != 0;
	return n;
}

void conn_close_all(struct worker *w)
{
	conn_close_failed(w);
	conn_flush(w);
	while (w->conns)
		conn_close(w->conns);
	conn_flush(w); /* TLS close_notify queued them again: now all on w->dead */
}
