/* tern bench: client transports of the connection modes (--churn,
 * --idle): plain TCP, and TLS wrapping the same socket with its handshake
 * in ready(). See struct bench_xprt in tools.h. Also the TLS helpers of
 * the datagram modes (--transport tls). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tools/tools.h"

static int tcp_open(struct bench_xconn *x, const union tern_addr *src, const union tern_addr *dst)
{
	int one = 1, err;
	x->fd = socket(dst->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	/* Answers are written as soon as they are built: no Nagle delay
	 * between a request and the next one. */
	(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src->sa.sa_family) {
		/* The port is chosen at connect() for the whole 4-tuple, not at
		 * bind() for the address alone: an address then serves ~28k
		 * connections per server port instead of ~28k in all, and loopback
		 * TIME_WAIT ports are reused (tcp_tw_reuse). */
		(void)setsockopt(x->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(x->fd, &src->sa, addr_len(src)) < 0) {
			err = -errno;
			goto fail;
		}
	}
	if (connect(x->fd, &dst->sa, addr_len(dst)) < 0 && errno != EINPROGRESS) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	close(x->fd);
	x->fd = -1;
	return err;
}

static int tcp_ready(struct bench_xconn *x, uint32_t *events)
{
	(void)x;
	(void)events;
	return 1;
}

static ssize_t tcp_recv(struct bench_xconn *x, void *buf, size_t cap)
{
	ssize_t n = recv(x->fd, buf, cap, MSG_DONTWAIT);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t tcp_send(struct bench_xconn *x, const void *buf, size_t len)
{
	ssize_t n = send(x->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static void tcp_close(struct bench_xconn *x, bool abort)
{
	if (x->fd < 0)
		return;
	if (abort) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(x->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(x->fd);
	x->fd = -1;
}

const struct bench_xprt bench_xprt_tcp = {
    .name = "tcp",
    .open = tcp_open,
    .ready = tcp_ready,
    .recv = tcp_recv,
    .send = tcp_send,
    .close = tcp_close,
};

/* ---- TLS ---- */

int bench_tls_init(struct bench_cfg *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		fprintf(stderr, "tern bench: TLS: cannot make a context\n");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (cfg->tls_max)
		SSL_CTX_set_max_proto_version(ctx, cfg->tls_max);
	/* the bench manages its sessions itself (--tls-resume) */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* one read takes what the kernel has (not a record header, then its
	 * body: two system calls per record); recv() loops until the SSL has
	 * nothing buffered, so level-triggered epoll misses nothing */
	SSL_CTX_set_read_ahead(ctx, 1);
	long mode = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
	/* thousands of held connections: 34 KiB of buffers each otherwise */
	if (cfg->kind == BENCH_IDLE)
		mode |= SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(ctx, mode);
	if (cfg->tls_ca) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
			fprintf(stderr, "tern bench: --tls-ca %s: cannot load it (%s)\n", cfg->tls_ca,
			        ERR_reason_error_string(ERR_peek_last_error()));
			SSL_CTX_free(ctx);
			return -1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	cfg->tls_ctx = ctx;
	return 0;
}

/* A new client SSL on fd: SNI (and the name to verify) from the config. */
static SSL *tls_new(SSL_CTX *ctx, int fd, const char *sni)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	if (sni) {
		SSL_set_tlsext_host_name(ssl, sni);
		if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER)
			SSL_set1_host(ssl, sni);
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

/* An SSL call's result r as this file's convention: 1 done, -EAGAIN with
 * *events what to wait for, -errno (the socket's error) or -EPROTO (TLS
 * said no: a bad certificate, an alert), 0 for a clean close. */
static int tls_result(SSL *ssl, int r, uint32_t *events)
{
	int e = SSL_get_error(ssl, r);
	int err = errno;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (events)
			*events = EPOLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (events)
			*events = EPOLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return err && err != EAGAIN ? -err : -ECONNRESET;
	default:
		ERR_clear_error();
		return -EPROTO;
	}
}

static int tls_open(struct bench_xconn *x, const union tern_addr *src, const union tern_addr *dst)
{
	int r = tcp_open(x, src, dst);
	if (r < 0)
		return r;
	/* a slot's SSL is cleared and used again (SSL_new costs the client
	 * more than the TLS handshake's key exchange in OpenSSL 3.0) */
	SSL *ssl = x->tls;
	if (ssl && (SSL_clear(ssl) != 1 || SSL_set_fd(ssl, x->fd) != 1)) {
		SSL_free(ssl);
		ssl = x->tls = NULL;
	}
	if (ssl)
		SSL_set_connect_state(ssl);
	else
		ssl = tls_new(x->ctx, x->fd, x->sni);
	if (!ssl) {
		tcp_close(x, true);
		return -ENOMEM;
	}
	/* SSL_clear keeps the last session for the next connection: set
	 * it, or none (full handshakes) */
	SSL_set_session(ssl, x->resume ? x->sess : NULL);
	x->tls = ssl;
	x->resumed = false;
	return 0;
}

static int tls_ready(struct bench_xconn *x, uint32_t *events)
{
	SSL *ssl = x->tls;
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(ssl);
	if (r == 1) {
		x->resumed = SSL_session_reused(ssl) == 1;
		x->version = SSL_get_version(ssl);
		return 1;
	}
	r = tls_result(ssl, r, events);
	return r == -EAGAIN ? 0 : r == 0 ? -ECONNRESET : r;
}

static ssize_t tls_recv(struct bench_xconn *x, void *buf, size_t cap)
{
	SSL *ssl = x->tls;
	size_t got = 0;
	/* until the SSL has nothing left buffered: read-ahead may hold a
	 * record the kernel no longer reports readable */
	while (got < cap) {
		size_t n = 0;
		ERR_clear_error();
		errno = 0;
		int r = SSL_read_ex(ssl, (uint8_t *)buf + got, cap - got, &n);
		if (r == 1) {
			got += n;
			continue;
		}
		r = tls_result(ssl, r, NULL);
		if (got)
			return (ssize_t)got;
		return r;
	}
	return (ssize_t)got;
}

static ssize_t tls_send(struct bench_xconn *x, const void *buf, size_t len)
{
	SSL *ssl = x->tls;
	size_t n = 0;
	ERR_clear_error();
	errno = 0;
	/* one call, one record (partial writes are off): what a TURN client
	 * over TLS does, one message per record */
	int r = SSL_write_ex(ssl, buf, len, &n);
	if (r == 1)
		return (ssize_t)n;
	r = tls_result(ssl, r, NULL);
	return r == 0 ? -ECONNRESET : r;
}

static void tls_close(struct bench_xconn *x, bool abort)
{
	SSL *ssl = x->tls;
	if (ssl) {
		if (x->resume) {
			/* the newest ticket (TLS 1.3 sends them after the
			 * handshake) for the next connection of this slot */
			SSL_SESSION *s = SSL_get1_session(ssl);
			if (s && SSL_SESSION_is_resumable(s)) {
				SSL_SESSION_free(x->sess);
				x->sess = s;
			} else {
				SSL_SESSION_free(s);
			}
		}
		/* an orderly close says so (close_notify), as browsers do;
		 * without waiting for the server's */
		if (!abort && SSL_is_init_finished(ssl)) {
			ERR_clear_error();
			(void)SSL_shutdown(ssl);
		}
		ERR_clear_error();
	}
	tcp_close(x, abort);
}

void bench_tls_forget(struct bench_xconn *x)
{
	SSL_free(x->tls);
	x->tls = NULL;
	SSL_SESSION_free(x->sess);
	x->sess = NULL;
}

const struct bench_xprt bench_xprt_tls = {
    .name = "tls",
    .open = tls_open,
    .ready = tls_ready,
    .recv = tls_recv,
    .send = tls_send,
    .close = tls_close,
};

/* ---- TLS for the datagram modes ---- */

int bench_tls_handshake(const struct bench_cfg *cfg, int fd, unsigned index, int timeout_ms, void **out)
{
	SSL *ssl = tls_new(cfg->tls_ctx, fd, cfg->tls_sni);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!ssl)
		return -ENOMEM;
	for (;;) {
		uint32_t ev = 0;
		ERR_clear_error();
		errno = 0;
		int r = SSL_do_handshake(ssl);
		if (r == 1) {
			if (index == 0)
				fprintf(stderr, "tern bench: %s, %s\n", SSL_get_version(ssl),
				        SSL_get_cipher_name(ssl));
			break;
		}
		unsigned long e = ERR_peek_error();
		r = tls_result(ssl, r, &ev);
		if (r != -EAGAIN) {
			fprintf(stderr, "tern bench: allocation %u: TLS handshake failed: %s\n", index,
			        r == -EPROTO && e ? ERR_reason_error_string(e)
			                          : strerror(r ? -r : ECONNRESET));
			SSL_free(ssl);
			return r ? r : -ECONNRESET;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left =
		    timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p = {.fd = fd, .events = ev == EPOLLOUT ? POLLOUT : POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr, "tern bench: allocation %u: TLS handshake: no answer in %d ms\n",
			        index, timeout_ms);
			SSL_free(ssl);
			return -ETIMEDOUT;
		}
	}
	/* from now on records are written into memory and leave through the
	 * allocation's pending buffer: a burst's records in one send */
	BIO *mem = BIO_new(BIO_s_mem());
	if (!mem) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	SSL_set0_wbio(ssl, mem);
	*out = ssl;
	return 0;
}

int bench_tls_seal(void *ssl, const void *buf, size_t len, uint8_t *pend, size_t *plen, size_t cap)
{
	BIO *w = SSL_get_wbio(ssl);
	size_t n = 0;
	/* a record adds at most 5 + 16 + 256 (TLS 1.2 CBC padding) bytes */
	if (*plen + len + 512 > cap)
		return -ENOSPC;
	ERR_clear_error();
	if (SSL_write_ex(ssl, buf, len, &n) != 1) {
		ERR_clear_error();
		return -EPROTO;
	}
	int got = BIO_read(w, pend + *plen, (int)(cap - *plen));
	if (got > 0)
		*plen += (size_t)got;
	return 0;
}

ssize_t bench_tls_read(void *ssl, void *buf, size_t cap)
{
	size_t n = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_read_ex(ssl, buf, cap, &n);
	if (r == 1)
		return (ssize_t)n;
	return tls_result(ssl, r, NULL);
}

void bench_tls_free(void *ssl)
{
	SSL_free(ssl);
}
