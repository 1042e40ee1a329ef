#include "turnc.h"

#include <openssl/err.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/bytes.h"

struct turnc_qitem {
	struct turnc_qitem *next;
	size_t len;
	uint8_t data[];
};

/* A few thousand datagrams can arrive while a test waits for one answer
 * (a relay burst); beyond this they are counted as dropped, which tests see. */
#define TURNC_QUEUE_MAX 16384
/* Answers to transactions already completed (late duplicates caused by our
 * retransmissions) are recognised by txid and dropped. */
#define TURNC_DONE_TXIDS 32
static uint8_t done_txids[TURNC_DONE_TXIDS][STUN_TXID_LEN];
static unsigned done_next;

static void txid_done(const uint8_t *txid)
{
	memcpy(done_txids[done_next++ % TURNC_DONE_TXIDS], txid, STUN_TXID_LEN);
}

static bool txid_was_done(const uint8_t *txid)
{
	for (unsigned i = 0; i < TURNC_DONE_TXIDS; i++)
		if (memcmp(done_txids[i], txid, STUN_TXID_LEN) == 0)
			return true;
	return false;
}

void turnc_random_txid(uint8_t txid[STUN_TXID_LEN])
{
	if (getrandom(txid, STUN_TXID_LEN, 0) != STUN_TXID_LEN) {
		for (unsigned i = 0; i < STUN_TXID_LEN; i++)
			txid[i] = (uint8_t)rand();
	}
}

/* ---- requests ---- */

void turnc_req_init(struct turnc_req *q, uint16_t method)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
}

void turnc_req_add(struct turnc_req *q, uint16_t type, const void *val, size_t len)
{
	if (q->nattrs >= TURNC_MAX_ATTRS || len > sizeof(q->attrs[0].val)) {
		fprintf(stderr, "turnc_req_add: too many or too large attributes\n");
		abort();
	}
	q->attrs[q->nattrs].type = type;
	q->attrs[q->nattrs].xaddr = false;
	q->attrs[q->nattrs].len = (uint16_t)len;
	if (len)
		memcpy(q->attrs[q->nattrs].val, val, len);
	q->nattrs++;
}

void turnc_req_add_u32(struct turnc_req *q, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	wr32(b, v);
	turnc_req_add(q, type, b, 4);
}

void turnc_req_add_xaddr(struct turnc_req *q, uint16_t type, const union tern_addr *a)
{
	turnc_req_add(q, type, NULL, 0);
	q->attrs[q->nattrs - 1].xaddr = true;
	q->attrs[q->nattrs - 1].addr = *a;
}

/* ---- socket ---- */

/* Local ports this process has used for clients, per family. A new client
 * never reuses one: its 5-tuple could still hold an allocation on the
 * server (left on purpose, or kept by a server after deletion), which would
 * turn "no allocation yet" into a different test. */
static uint8_t used_ports[2][65536 / 8];

static bool port_was_used(int family, uint16_t port)
{
	return used_ports[family == AF_INET6][port / 8] & (1u << (port % 8));
}

static void port_mark_used(int family, uint16_t port)
{
	used_ports[family == AF_INET6][port / 8] |= (uint8_t)(1u << (port % 8));
}

int turnc_open_from(struct turnc *c, const union tern_addr *server, const union tern_addr *local)
{
	int rcvbuf = 4 << 20;
	socklen_t alen;

	memset(c, 0, sizeof(*c));
	c->rto_ms = 100;
	c->tries = 6;
	c->server = *server;
	for (int attempt = 0;; attempt++) {
		c->fd = socket(server->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -errno;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (bind(c->fd, &local->sa, addr_len(local)) < 0)
			goto fail;
		alen = sizeof(c->local);
		if (getsockname(c->fd, &c->local.sa, &alen) < 0)
			goto fail;
		uint16_t port = addr_port(&c->local);
		if (addr_port(local) != 0 || !port_was_used(c->local.sa.sa_family, port) || attempt >= 100) {
			port_mark_used(c->local.sa.sa_family, port);
			break;
		}
		close(c->fd); /* the kernel picked a port we used before: pick again */
	}
	if (connect(c->fd, &server->sa, addr_len(server)) < 0)
		goto fail;
	return 0;
fail:;
	int err = -errno;
	close(c->fd);
	c->fd = -1;
	return err;
}

int turnc_open(struct turnc *c, const union tern_addr *server)
{
	union tern_addr local = it_addr(server->sa.sa_family == AF_INET6 ? "::1" : "127.0.0.1", 0);
	return turnc_open_from(c, server, &local);
}

void turnc_close(struct turnc *c)
{
	while (c->qhead) {
		struct turnc_qitem *q = c->qhead;
		c->qhead = q->next;
		free(q);
	}
	c->qtail = NULL;
	c->qlen = 0;
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	SSL_CTX_free(c->ssl_ctx);
	c->ssl_ctx = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->sbuf);
	c->sbuf = NULL;
	c->slen = 0;
}

int turnc_open_tcp(struct turnc *c, const union tern_addr *server, int timeout_ms)
{
	return turnc_open_tcp_from(c, server, NULL, timeout_ms);
}

static int tcp_connect(struct turnc *c, const union tern_addr *server, const union tern_addr *local,
                       int rcvbuf, int timeout_ms);

int turnc_open_tcp_from(struct turnc *c, const union tern_addr *server, const union tern_addr *local,
                        int timeout_ms)
{
	return tcp_connect(c, server, local, 0, timeout_ms);
}

int turnc_open_tcp_rcvbuf(struct turnc *c, const union tern_addr *server, int rcvbuf, int timeout_ms)
{
	return tcp_connect(c, server, NULL, rcvbuf, timeout_ms);
}

static int tcp_connect(struct turnc *c, const union tern_addr *server, const union tern_addr *local,
                       int rcvbuf, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->rto_ms = 2000;
	c->tries = 1;
	c->server = *server;
	c->stream = true;
	c->sbuf = malloc(TURNC_STREAM_BUF);
	c->fd = socket(server->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!c->sbuf || c->fd < 0)
		goto fail;
	if (local && bind(c->fd, &local->sa, addr_len(local)) < 0)
		goto fail;
	/* before connect: the window it advertises stays that small */
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(c->fd, &server->sa, addr_len(server)) < 0 && errno != EINPROGRESS)
		goto fail;
	struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
	int err = 0;
	socklen_t elen = sizeof(err);
	if (poll(&pfd, 1, timeout_ms) != 1 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
	    err) {
		errno = err ? err : ETIMEDOUT;
		goto fail;
	}
	socklen_t alen = sizeof(c->local);
	getsockname(c->fd, &c->local.sa, &alen);
	int flags = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	return 0;
fail:;
	int e = -errno;
	turnc_close(c);
	return e;
}

int turnc_open_tls(struct turnc *c, const union tern_addr *server, const struct turnc_tls *t, int timeout_ms)
{
	int rc = tcp_connect(c, server, t->local, t->rcvbuf, timeout_ms);
	if (rc < 0)
		return rc;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	rc = -EPROTO;
	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ssl_ctx)
		goto fail;
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (t->ca_file && SSL_CTX_load_verify_locations(c->ssl_ctx, t->ca_file, NULL) != 1)
		goto fail;
	if (t->min_version)
		SSL_CTX_set_min_proto_version(c->ssl_ctx, t->min_version);
	if (t->max_version)
		SSL_CTX_set_max_proto_version(c->ssl_ctx, t->max_version);
	/* sessions are handed to the caller, never kept (or invalidated) here */
	SSL_CTX_set_session_cache_mode(c->ssl_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	c->ssl = SSL_new(c->ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	if (t->host) {
		SSL_set_tlsext_host_name(c->ssl, t->host);
		if (SSL_set1_host(c->ssl, t->host) != 1)
			goto fail;
	}
	if (t->alpn) {
		unsigned char wire[64];
		size_t n = strlen(t->alpn);
		if (n == 0 || n >= sizeof(wire))
			goto fail;
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, t->alpn, n);
		if (SSL_set_alpn_protos(c->ssl, wire, (unsigned)n + 1) != 0)
			goto fail;
	}
	if (t->resume)
		SSL_set_session(c->ssl, t->resume);
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	turnc_close(c);
	return rc;
}

int turnc_open_dtls(struct turnc *c, const union tern_addr *server, const struct turnc_tls *t, int timeout_ms)
{
	int rc = t->local ? turnc_open_from(c, server, t->local) : turnc_open(c, server);
	if (rc < 0)
		return rc;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = -EPROTO;
	c->ssl_ctx = SSL_CTX_new(DTLS_client_method());
	BIO *bio = BIO_new_dgram(c->fd, BIO_NOCLOSE);
	if (!c->ssl_ctx || !bio)
		goto fail;
	BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, (void *)&server->sa);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (t->ca_file && SSL_CTX_load_verify_locations(c->ssl_ctx, t->ca_file, NULL) != 1)
		goto fail;
	c->ssl = SSL_new(c->ssl_ctx);
	if (!c->ssl)
		goto fail;
	SSL_set_bio(c->ssl, bio, bio);
	bio = NULL;
	if (t->host && SSL_set1_host(c->ssl, t->host) != 1)
		goto fail;
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	/* the handshake is done: reads poll first (sock_recv) */
	struct timeval none = {0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	int fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
fail:
	BIO_free(bio);
	ERR_clear_error();
	turnc_close(c);
	return rc;
}

SSL_SESSION *turnc_tls_session(struct turnc *c)
{
	/* TLS 1.3 sends its ticket after the handshake: read what is there */
	if (c->ssl && SSL_version(c->ssl) >= TLS1_3_VERSION) {
		char b;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (!SSL_has_pending(c->ssl) && poll(&p, 1, 200) == 1)
			(void)SSL_peek(c->ssl, &b, 0);
		ERR_clear_error();
	}
	return c->ssl ? SSL_get1_session(c->ssl) : NULL;
}

void turnc_set_creds(struct turnc *c, const char *user, const char *pass)
{
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->pass, sizeof(c->pass), "%s", pass);
	c->keylen = 0;
}

void turnc_forget_nonce(struct turnc *c)
{
	c->realm[0] = 0;
	c->nonce_len = 0;
	c->keylen = 0;
	c->using_sha256 = false;
	c->pw_algs_len = 0;
}

int turnc_send_raw(struct turnc *c, const void *buf, size_t len)
{
	if (c->ssl) {
		int n = SSL_write(c->ssl, buf, (int)len);
		ERR_clear_error();
		return n == (int)len ? 0 : -EIO;
	}
	int flags = c->stream ? MSG_NOSIGNAL : 0;
	ssize_t n = send(c->fd, buf, len, flags);
	if (n < 0 && errno == ECONNREFUSED) /* ICMP from an earlier datagram: try once more */
		n = send(c->fd, buf, len, flags);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

static void queue_push(struct turnc *c, const uint8_t *buf, size_t len)
{
	if (c->qlen >= TURNC_QUEUE_MAX) {
		c->dropped++;
		return;
	}
	struct turnc_qitem *q = malloc(sizeof(*q) + len);
	if (!q) {
		c->dropped++;
		return;
	}
	q->next = NULL;
	q->len = len;
	memcpy(q->data, buf, len);
	if (c->qtail)
		c->qtail->next = q;
	else
		c->qhead = q;
	c->qtail = q;
	c->qlen++;
}

static struct turnc_qitem *queue_pop(struct turnc *c)
{
	struct turnc_qitem *q = c->qhead;
	if (!q)
		return NULL;
	c->qhead = q->next;
	if (!c->qhead)
		c->qtail = NULL;
	c->qlen--;
	return q;
}

/* One datagram from the socket within timeout_ms: length, or -ETIMEDOUT.
 * ECONNREFUSED (ICMP port unreachable: the server is not up yet or died) is
 * remembered and waited through, so callers see it only as a timeout. */
static int sock_recv(struct turnc *c, uint8_t *buf, size_t cap, int64_t deadline)
{
	for (;;) {
		if (c->stream) {
			/* a whole frame received: hand it out like a datagram */
			int f = stun_frame_len(c->sbuf, c->slen);
			if (f < 0)
				return -EPROTO;
			if (f > 0 && (size_t)f <= c->slen) {
				size_t n = (size_t)f < cap ? (size_t)f : cap;
				memcpy(buf, c->sbuf, n);
				memmove(c->sbuf, c->sbuf + f, c->slen - (size_t)f);
				c->slen -= (size_t)f;
				return (int)n;
			}
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t left = deadline - it_now_ms();
		if (left < 0)
			left = 0;
		/* TLS: decrypted bytes (or whole records) may wait in OpenSSL */
		int rc = c->ssl && SSL_has_pending(c->ssl) ? 1 : poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		if (c->stream) {
			if (c->slen == TURNC_STREAM_BUF)
				return -EMSGSIZE;
			ssize_t n;
			if (c->ssl) {
				int r = SSL_read_ex(c->ssl, c->sbuf + c->slen, TURNC_STREAM_BUF - c->slen,
				                    (size_t *)&n)
				            ? 1
				            : SSL_get_error(c->ssl, 0);
				ERR_clear_error();
				if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE)
					continue;
				if (r != 1) {
					n = 0; /* close_notify or a broken session: the server is gone */
					if (r != SSL_ERROR_ZERO_RETURN && r != SSL_ERROR_SYSCALL) {
						errno = EPROTO;
						return -EPROTO;
					}
				}
			} else {
				n = recv(c->fd, c->sbuf + c->slen, TURNC_STREAM_BUF - c->slen, MSG_DONTWAIT);
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n == 0)
				return -ECONNRESET; /* the server closed the connection */
			if (n < 0)
				return -errno;
			c->slen += (size_t)n;
			continue;
		}
		if (c->ssl) {
			/* DTLS: one record, one message */
			int n = SSL_read(c->ssl, buf, (int)cap);
			int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
			ERR_clear_error();
			if (e == SSL_ERROR_NONE)
				return n;
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				continue;
			return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
		}
		ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED))
			continue;
		if (n < 0)
			return -errno;
		return (int)n;
	}
}

/* ---- parsing ---- */

static void copy_text(char *out, size_t cap, const uint8_t *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = 0;
}

int turnc_parse(struct turnc *c, const uint8_t *buf, size_t len, struct turnc_resp *r)
{
	unsigned s401 = r->seen_401, s438 = r->seen_438;
	size_t req_len = r->req_len;

	memset(&r->len, 0, sizeof(*r) - offsetof(struct turnc_resp, len));
	r->seen_401 = s401;
	r->seen_438 = s438;
	r->req_len = req_len;
	if (len > sizeof(r->buf))
		return -EINVAL;
	memcpy(r->buf, buf, len);
	r->len = len;
	if (stun_parse(&r->msg, r->buf, len) < 0)
		return -EINVAL;
	memcpy(r->txid, r->msg.txid, STUN_TXID_LEN);
	r->cls = r->msg.cls;
	r->method = r->msg.method;
	r->integrity_ok = -1;
	r->fingerprint_ok = -1;

	const struct stun_attr *a;
	if ((a = stun_find(&r->msg, STUN_A_ERROR_CODE))) {
		const uint8_t *reason;
		size_t rlen;
		if (stun_attr_error(a, &r->code, &reason, &rlen) == 0)
			copy_text(r->reason, sizeof(r->reason), reason, rlen);
		else
			r->code = -EINVAL;
	}
	if ((a = stun_find(&r->msg, STUN_A_XOR_MAPPED_ADDRESS)))
		stun_attr_xaddr(&r->msg, a, &r->mapped);
	for (unsigned i = 0; i < r->msg.nattrs && r->nrelayed < 2; i++) {
		if (r->msg.attrs[i].type != STUN_A_XOR_RELAYED_ADDRESS)
			continue;
		if (stun_attr_xaddr(&r->msg, &r->msg.attrs[i], &r->relayed[r->nrelayed]) == 0)
			r->nrelayed++;
	}
	if ((a = stun_find(&r->msg, STUN_A_ALTERNATE_SERVER)))
		stun_attr_addr(a, &r->alternate);
	if ((a = stun_find(&r->msg, STUN_A_LIFETIME)))
		r->has_lifetime = stun_attr_u32(a, &r->lifetime) == 0;
	if ((a = stun_find(&r->msg, STUN_A_RESERVATION_TOKEN)) && a->len == 8) {
		r->has_token = true;
		memcpy(r->token, a->val, 8);
	}
	r->has_realm = stun_find(&r->msg, STUN_A_REALM) != NULL;
	r->has_nonce = stun_find(&r->msg, STUN_A_NONCE) != NULL;
	r->has_software = stun_find(&r->msg, STUN_A_SOFTWARE) != NULL;
	if ((a = stun_find(&r->msg, STUN_A_UNKNOWN_ATTRIBUTES))) {
		for (unsigned i = 0; i + 1 < a->len && r->nunknown < 16; i += 2)
			r->unknown[r->nunknown++] = rd16(a->val + i);
	}
	if (r->msg.fp >= 0) {
		r->has_fingerprint = true;
		r->fingerprint_ok = stun_check_fingerprint(&r->msg) == 0;
	}
	if (c && c->keylen) {
		if (r->msg.mi256 >= 0)
			r->integrity_ok = stun_check_integrity_sha256(&r->msg, c->key, c->keylen) == 0;
		else if (r->msg.mi >= 0)
			r->integrity_ok = stun_check_integrity(&r->msg, c->key, c->keylen) == 0;
	}
	return 0;
}

/* ---- auth state ---- */

static void learn_auth(struct turnc *c, const struct turnc_resp *r)
{
	const struct stun_attr *realm = stun_find(&r->msg, STUN_A_REALM);
	const struct stun_attr *nonce = stun_find(&r->msg, STUN_A_NONCE);
	const struct stun_attr *algs = stun_find(&r->msg, STUN_A_PASSWORD_ALGORITHMS);

	if (realm)
		copy_text(c->realm, sizeof(c->realm), realm->val, realm->len);
	if (nonce && nonce->len <= sizeof(c->nonce)) {
		memcpy(c->nonce, nonce->val, nonce->len);
		c->nonce_len = nonce->len;
	}
	c->using_sha256 = false;
	c->pw_algs_len = 0;
	if (c->want_sha256 && algs && algs->len <= sizeof(c->pw_algs)) {
		/* RFC 8489 §9.2.4: pick the first algorithm we support, echo the list. */
		for (size_t off = 0; off + 4 <= algs->len;) {
			uint16_t alg = rd16(algs->val + off), plen = rd16(algs->val + off + 2);
			if (alg == STUN_PWALG_SHA256) {
				c->using_sha256 = true;
				break;
			}
			if (alg == STUN_PWALG_MD5)
				break;
			off += 4 + pad4(plen);
		}
		memcpy(c->pw_algs, algs->val, algs->len);
		c->pw_algs_len = algs->len;
	}
	if (c->using_sha256) {
		stun_key_sha256(c->user, strlen(c->user), c->realm, strlen(c->realm), c->pass,
		                strlen(c->pass), c->key);
		c->keylen = 32;
	} else {
		stun_key_md5(c->user, strlen(c->user), c->realm, strlen(c->realm), c->pass, strlen(c->pass),
		             c->key);
		c->keylen = 16;
	}
}

int turnc_build(struct turnc *c, const struct turnc_req *q, const uint8_t txid[STUN_TXID_LEN], bool auth,
                uint8_t *out, size_t cap)
{
	struct stun_builder b;

	stun_build_init(&b, out, cap, stun_type(q->method, STUN_REQUEST), txid);
	for (unsigned i = 0; i < q->nattrs; i++) {
		if (q->attrs[i].xaddr)
			stun_add_xaddr(&b, q->attrs[i].type, &q->attrs[i].addr);
		else
			stun_add_attr(&b, q->attrs[i].type, q->attrs[i].val, q->attrs[i].len);
	}
	if (auth && c->user[0] && c->nonce_len && c->keylen) {
		if (c->want_userhash) {
			uint8_t h[32];
			stun_userhash(c->user, strlen(c->user), c->realm, strlen(c->realm), h);
			stun_add_attr(&b, STUN_A_USERHASH, h, sizeof(h));
		} else {
			stun_add_attr(&b, STUN_A_USERNAME, c->user, strlen(c->user));
		}
		stun_add_attr(&b, STUN_A_REALM, c->realm, strlen(c->realm));
		stun_add_attr(&b, STUN_A_NONCE, c->nonce, c->nonce_len);
		if (c->using_sha256) {
			uint8_t alg[4] = {0, STUN_PWALG_SHA256, 0, 0};
			stun_add_attr(&b, STUN_A_PASSWORD_ALGORITHMS, c->pw_algs, c->pw_algs_len);
			stun_add_attr(&b, STUN_A_PASSWORD_ALGORITHM, alg, sizeof(alg));
			stun_add_integrity_sha256(&b, c->key, c->keylen);
		} else {
			stun_add_integrity(&b, c->key, c->keylen);
		}
	}
	if (c->fingerprint)
		stun_add_fingerprint(&b);
	return stun_build_finish(&b);
}

/* ---- transactions ---- */

static bool is_answer(const uint8_t *buf, size_t len)
{
	/* class bits: 0x0100 (success) or 0x0110 (error) set in the type */
	return len >= STUN_HEADER_LEN && stun_is_stun(buf, len) && (buf[0] & 0x01) != 0 &&
	       rd32(buf + 4) == STUN_MAGIC_COOKIE;
}

int turnc_wait_answer(struct turnc *c, const uint8_t txid[STUN_TXID_LEN], struct turnc_resp *r,
                      int timeout_ms)
{
	static uint8_t buf[65536];
	int64_t deadline = it_now_ms() + timeout_ms;

	for (;;) {
		int n = sock_recv(c, buf, sizeof(buf), deadline);
		if (n < 0)
			return n;
		if (is_answer(buf, (size_t)n) && memcmp(buf + 8, txid, STUN_TXID_LEN) == 0) {
			if (turnc_parse(c, buf, (size_t)n, r) < 0) {
				tap_diag("malformed answer (%d bytes) ignored", n);
				continue;
			}
			return 0;
		}
		if (is_answer(buf, (size_t)n) && txid_was_done(buf + 8))
			continue;
		queue_push(c, buf, (size_t)n);
	}
}

int turnc_wait_any(struct turnc *c, struct turnc_resp *r, int timeout_ms)
{
	static uint8_t buf[65536];
	int64_t deadline = it_now_ms() + timeout_ms;
	struct turnc_qitem *q;

	while ((q = queue_pop(c))) {
		int rc = turnc_parse(c, q->data, q->len, r);
		free(q);
		if (rc == 0)
			return 0;
	}
	for (;;) {
		int n = sock_recv(c, buf, sizeof(buf), deadline);
		if (n < 0)
			return n;
		if (is_answer(buf, (size_t)n) && txid_was_done(buf + 8))
			continue;
		if (turnc_parse(c, buf, (size_t)n, r) == 0)
			return 0;
	}
}

static int transact(struct turnc *c, const uint8_t *buf, size_t len, const uint8_t *txid,
                    struct turnc_resp *r)
{
	int rto = c->rto_ms;
	for (int i = 0; i < c->tries; i++) {
		int rc = turnc_send_raw(c, buf, len);
		if (rc < 0 && rc != -ECONNREFUSED)
			return rc;
		rc = turnc_wait_answer(c, txid, r, rto);
		if (rc == 0) {
			txid_done(txid);
			return 0;
		}
		if (rc != -ETIMEDOUT)
			return rc;
		rto = rto * 2 > 1600 ? 1600 : rto * 2;
	}
	txid_done(txid);
	return -ETIMEDOUT;
}

int turnc_request(struct turnc *c, const struct turnc_req *q, struct turnc_resp *r)
{
	static uint8_t buf[TURNC_BUF];
	unsigned n401 = 0, n438 = 0;
	bool auth = !q->no_auth && c->user[0] && c->nonce_len;

	for (;;) {
		uint8_t txid[STUN_TXID_LEN];
		turnc_random_txid(txid);
		int len = turnc_build(c, q, txid, auth, buf, sizeof(buf));
		if (len < 0)
			return len;
		r->seen_401 = n401;
		r->seen_438 = n438;
		r->req_len = (size_t)len;
		int rc = transact(c, buf, (size_t)len, txid, r);
		if (rc < 0)
			return rc;
		bool can_auth = !q->no_auth && !q->no_retry && c->user[0] && r->cls == STUN_ERROR;
		if (can_auth && r->code == 401 && r->has_realm && r->has_nonce && n401 == 0) {
			/* First 401: learn realm and nonce. A second one means the
			 * credentials are wrong; the caller sees it. */
			n401++;
			learn_auth(c, r);
			auth = true;
			continue;
		}
		if (can_auth && r->code == 438 && r->has_nonce && n438 < 2) {
			n438++;
			learn_auth(c, r);
			auth = true;
			continue;
		}
		r->seen_401 = n401;
		r->seen_438 = n438;
		if (r->cls == STUN_SUCCESS)
			return 0;
		if (r->cls == STUN_ERROR)
			return r->code > 0 ? r->code : -EBADMSG;
		return -EBADMSG;
	}
}

int turnc_learn_nonce(struct turnc *c)
{
	struct turnc_req q;
	static struct turnc_resp r;
	uint8_t tr[4] = {STUN_TRANSPORT_UDP, 0, 0, 0};

	turnc_req_init(&q, TURN_ALLOCATE);
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	q.no_auth = true;
	int rc = turnc_request(c, &q, &r);
	if (rc != 401)
		return rc < 0 ? rc : -EPROTO;
	if (!r.has_realm || !r.has_nonce)
		return -EPROTO;
	learn_auth(c, &r);
	return 0;
}

/* ---- STUN / TURN methods ---- */

int turnc_binding(struct turnc *c, struct turnc_resp *r)
{
	struct turnc_req q;
	turnc_req_init(&q, STUN_BINDING);
	q.no_auth = true;
	return turnc_request(c, &q, r);
}

int turnc_allocate(struct turnc *c, const struct turnc_alloc_opts *o, struct turnc_resp *r)
{
	struct turnc_req q;
	turnc_req_init(&q, TURN_ALLOCATE);
	if (o->transport >= 0) {
		uint8_t tr[4] = {o->transport ? (uint8_t)o->transport : STUN_TRANSPORT_UDP, 0, 0, 0};
		turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	}
	if (o->lifetime >= 0)
		turnc_req_add_u32(&q, STUN_A_LIFETIME, (uint32_t)o->lifetime);
	if (o->family) {
		uint8_t f[4] = {o->family, 0, 0, 0};
		turnc_req_add(&q, STUN_A_REQUESTED_ADDRESS_FAMILY, f, sizeof(f));
	}
	if (o->additional) {
		uint8_t f[4] = {o->additional, 0, 0, 0};
		turnc_req_add(&q, STUN_A_ADDITIONAL_ADDRESS_FAMILY, f, sizeof(f));
	}
	if (o->even_port) {
		uint8_t e = o->reserve ? 0x80 : 0;
		turnc_req_add(&q, STUN_A_EVEN_PORT, &e, 1);
	}
	if (o->token)
		turnc_req_add(&q, STUN_A_RESERVATION_TOKEN, o->token, 8);
	if (o->dont_fragment)
		turnc_req_add(&q, STUN_A_DONT_FRAGMENT, NULL, 0);
	return turnc_request(c, &q, r);
}

int turnc_refresh(struct turnc *c, int64_t lifetime, struct turnc_resp *r)
{
	struct turnc_req q;
	turnc_req_init(&q, TURN_REFRESH);
	if (lifetime >= 0)
		turnc_req_add_u32(&q, STUN_A_LIFETIME, (uint32_t)lifetime);
	return turnc_request(c, &q, r);
}

int turnc_permission(struct turnc *c, const union tern_addr *peers, unsigned n, struct turnc_resp *r)
{
	struct turnc_req q;
	turnc_req_init(&q, TURN_CREATE_PERMISSION);
	for (unsigned i = 0; i < n; i++)
		turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &peers[i]);
	return turnc_request(c, &q, r);
}

int turnc_channel_bind(struct turnc *c, uint16_t channel, const union tern_addr *peer, struct turnc_resp *r)
{
	struct turnc_req q;
	uint8_t ch[4] = {(uint8_t)(channel >> 8), (uint8_t)channel, 0, 0};
	turnc_req_init(&q, TURN_CHANNEL_BIND);
	turnc_req_add(&q, STUN_A_CHANNEL_NUMBER, ch, sizeof(ch));
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, peer);
	return turnc_request(c, &q, r);
}

/* ---- data ---- */

static uint8_t txbuf[65536 + 256];

int turnc_send(struct turnc *c, const union tern_addr *peer, const void *data, size_t len)
{
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN];

	turnc_random_txid(txid);
	stun_build_init(&b, txbuf, sizeof(txbuf), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, peer);
	stun_add_attr(&b, STUN_A_DATA, data, len);
	if (c->fingerprint)
		stun_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	if (n < 0)
		return n;
	return turnc_send_raw(c, txbuf, (size_t)n);
}

int turnc_send_channel(struct turnc *c, uint16_t channel, const void *data, size_t len, bool pad)
{
	size_t total = TURN_CHANNEL_HDR + len;
	if (len > 65535 || total + 3 > sizeof(txbuf))
		return -EMSGSIZE;
	stun_channeldata_hdr(txbuf, channel, (uint16_t)len);
	memcpy(txbuf + TURN_CHANNEL_HDR, data, len);
	if (pad) {
		while (total % 4)
			txbuf[total++] = 0;
	}
	return turnc_send_raw(c, txbuf, total);
}

/* 1: filled d; 0: not data (an answer or other STUN message); -EINVAL: malformed. */
static int decode_data(const uint8_t *buf, size_t len, struct turnc_data *d)
{
	memset(d, 0, offsetof(struct turnc_data, data));
	d->wire_len = len;
	if (stun_is_channeldata(buf, len)) {
		uint16_t ch, dlen;
		const uint8_t *p;
		if (stun_channeldata_parse(buf, len, &ch, &p, &dlen) < 0)
			return -EINVAL;
		d->is_channel = true;
		d->channel = ch;
		d->len = dlen;
		memcpy(d->data, p, dlen);
		return 1;
	}
	static struct stun_msg m;
	if (stun_parse(&m, buf, len) < 0)
		return -EINVAL;
	if (m.method != TURN_DATA || m.cls != STUN_INDICATION)
		return 0;
	const struct stun_attr *pa = stun_find(&m, STUN_A_XOR_PEER_ADDRESS);
	const struct stun_attr *da = stun_find(&m, STUN_A_DATA);
	if (!pa || !da || stun_attr_xaddr(&m, pa, &d->peer) < 0)
		return -EINVAL;
	d->len = da->len;
	memcpy(d->data, da->val, da->len);
	return 1;
}

int turnc_recv(struct turnc *c, struct turnc_data *d, int timeout_ms)
{
	static uint8_t buf[65536];
	int64_t deadline = it_now_ms() + timeout_ms;
	struct turnc_qitem *q;
	int rc;

	while ((q = queue_pop(c))) {
		rc = decode_data(q->data, q->len, d);
		free(q);
		if (rc < 0)
			tap_diag("malformed datagram from the server (%zu bytes)", d->wire_len);
		if (rc != 0)
			return rc;
	}
	for (;;) {
		int n = sock_recv(c, buf, sizeof(buf), deadline);
		if (n == -ETIMEDOUT)
			return 0;
		if (n < 0)
			return n;
		rc = decode_data(buf, (size_t)n, d);
		if (rc < 0)
			tap_diag("malformed datagram from the server (%d bytes)", n);
		if (rc != 0)
			return rc;
	}
}
