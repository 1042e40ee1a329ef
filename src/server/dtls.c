#include "server/dtls.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/tls.h"
#include "server/worker.h"
#include "util/log.h"

/* Where a session's (or a cookie exchange's) datagrams go: the BIO's data. */
struct dtls_out {
	struct worker *w;
	int fd;
	bool wild;
	union tern_addr local, remote;
	unsigned written; /* datagrams written through it */
};

struct dtls_sess {
	struct dtls_out out; /* first: the write BIO's data */
	SSL *ssl;
	BIO *rbio;
	struct turn_ep ep;
	bool hs_done, failed;
	uint64_t started_ms, alloc_seen_ms;
	struct dtls_sess *hnext;       /* bucket chain */
	struct dtls_sess *prev, *next; /* w->dsess */
	struct dtls_sess *fail_next;   /* w->dfailed */
};

/* Link MTU for handshake flights (OpenSSL fragments certificates to it):
 * IPv6's minimum, safe on any path. */
#define DTLS_LINK_MTU 1280

/* ---- the write BIO ---- */

static BIO_METHOD *out_method;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static int out_write(BIO *b, const char *data, int len)
{
	struct dtls_out *o = BIO_get_data(b);
	if (!o || len <= 0)
		return 0;
	worker_queue_copy(o->w, o->fd, o->wild ? &o->local : NULL, &o->remote, (const uint8_t *)data,
	                  (size_t)len);
	o->written++;
	return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
		return 48; /* IPv6 + UDP: the larger */
	default:
		return 0;
	}
}

static int out_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void out_method_new(void)
{
	out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tern dtls out");
	if (out_method) {
		BIO_meth_set_write(out_method, out_write);
		BIO_meth_set_ctrl(out_method, out_ctrl);
		BIO_meth_set_create(out_method, out_create);
	}
}

/* ---- the table ---- */

static uint32_t bucket(const struct worker *w, const union tern_addr *remote)
{
	return (uint32_t)(addr_hash(remote, &w->dkey) & (DTLS_BUCKETS - 1));
}

static struct dtls_sess *sess_find(struct worker *w, const union tern_addr *local,
                                   const union tern_addr *remote)
{
	for (struct dtls_sess *s = w->dbuckets[bucket(w, remote)]; s; s = s->hnext)
		if (addr_equal(&s->out.remote, remote) && addr_equal(&s->out.local, local))
			return s;
	return NULL;
}

/* The session ends: its allocation goes, close_notify when it was up. */
static void sess_close(struct worker *w, struct dtls_sess *s, bool notify)
{
	turn_on_client_closed(w->turn, &s->ep);
	if (notify && s->hs_done && !s->failed)
		(void)SSL_shutdown(s->ssl);
	ERR_clear_error();
	struct dtls_sess **pp = &w->dbuckets[bucket(w, &s->out.remote)];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->dsess = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->dslots[s->ep.id] = NULL;
	w->dfree[w->nfree++] = s->ep.id;
	if (!s->hs_done)
		w->dtls_half_open--;
	w->dtls_live--;
	SSL_free(s->ssl);
	free(s);
}

static void sess_fail(struct worker *w, struct dtls_sess *s)
{
	if (s->failed)
		return;
	s->failed = true;
	s->fail_next = w->dfailed;
	w->dfailed = s;
}

void dtls_close_failed(struct worker *w)
{
	while (w->dfailed) {
		struct dtls_sess *s = w->dfailed;
		w->dfailed = s->fail_next;
		sess_close(w, s, false);
	}
}

/* A ClientHello from a 5-tuple with no session: a cookie exchange on a
 * throwaway SSL object, or (the cookie is good) a new session. old: the
 * session this 5-tuple has, replaced only once the new ClientHello's
 * cookie is good (RFC 6347 §4.2.8: a client that restarted on the same
 * port; a forged ClientHello cannot end a session without the cookie,
 * which only the address's owner receives). */
static void sess_new(struct worker *w, int fd, bool wild, const union tern_addr *local,
                     const union tern_addr *remote, const uint8_t *data, size_t len, struct dtls_sess *old)
{
	/* a handshake record, and room for one more handshake */
	if (len < 13 || data[0] != 22) {
		w->dtls_dropped++;
		return;
	}
	if (w->dtls_half_open >= DTLS_HALF_OPEN_MAX ||
	    (!old && (w->dtls_live >= w->sh->conn_cap || w->nfree == 0))) {
		w->dtls_refused++;
		LOG_RL(LOG_INFO,
		       "worker %u: dtls: ClientHello refused (handshakes or sessions at their limit)", w->id);
		return;
	}
	if (!w->dtls_ctx || tls_server_gen(w->sh->tls) != w->dtls_gen) {
		SSL_CTX_free(w->dtls_ctx);
		w->dtls_ctx = tls_server_ctx(w->sh->tls, &w->dtls_gen, true);
	}
	struct dtls_out tmp = {.w = w, .fd = fd, .wild = wild, .local = *local, .remote = *remote};
	SSL *ssl = w->dtls_ctx ? SSL_new(w->dtls_ctx) : NULL;
	BIO *rbio = BIO_new(BIO_s_mem());
	BIO *wbio = out_method ? BIO_new(out_method) : NULL;
	BIO_ADDR *peer = BIO_ADDR_new();
	if (!ssl || !rbio || !wbio || !peer) {
		SSL_free(ssl);
		BIO_free(rbio);
		BIO_free(wbio);
		BIO_ADDR_free(peer);
		ERR_clear_error();
		return;
	}
	BIO_set_mem_eof_return(rbio, -1); /* empty: "try again", not end of stream */
	BIO_set_data(wbio, &tmp);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	DTLS_set_link_mtu(ssl, DTLS_LINK_MTU);
	tls_dtls_set_peer(ssl, &tmp.remote);
	BIO_write(rbio, data, (int)len);
	int rc = DTLSv1_listen(ssl, peer);
	BIO_ADDR_free(peer);
	if (rc <= 0) {
		/* no cookie yet (a HelloVerifyRequest went out), a stale one, or
		 * not a ClientHello: nothing is kept */
		if (tmp.written)
			w->dtls_hello_verify++;
		else
			w->dtls_dropped++;
		SSL_free(ssl);
		ERR_clear_error();
		return;
	}
	if (old) {
		w->dtls_restarts++;
		sess_close(w, old, false); /* its allocation goes: the client started over */
	}
	struct dtls_sess *s = calloc(1, sizeof(*s));
	if (!s) {
		SSL_free(ssl);
		return;
	}
	s->out = tmp;
	BIO_set_data(wbio, &s->out);
	tls_dtls_set_peer(ssl, &s->out.remote);
	s->ssl = ssl;
	s->rbio = rbio;
	s->started_ms = s->alloc_seen_ms = w->now_us / 1000;
	uint32_t id = w->dfree[--w->nfree];
	s->ep.id = id;
	s->ep.gen = ++w->dgens[id];
	s->ep.transport = TURN_T_DTLS;
	s->ep.local = *local;
	s->ep.remote = *remote;
	w->dslots[id] = s;
	uint32_t b = bucket(w, remote);
	s->hnext = w->dbuckets[b];
	w->dbuckets[b] = s;
	s->next = w->dsess;
	if (w->dsess)
		w->dsess->prev = s;
	w->dsess = s;
	w->dtls_half_open++;
	w->dtls_live++;
	/* the ClientHello DTLSv1_listen buffered: on to ServerHello */
	rc = SSL_do_handshake(ssl);
	if (rc <= 0 && SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ) {
		w->dtls_hs_fail++;
		sess_close(w, s, false);
	}
	ERR_clear_error();
}

void dtls_input(struct worker *w, int fd, bool wild, const union tern_addr *local,
                const union tern_addr *remote, uint8_t *data, size_t len)
{
	struct dtls_sess *s = sess_find(w, local, remote);
	if (!s) {
		sess_new(w, fd, wild, local, remote, data, len, NULL);
		return;
	}
	if (s->failed)
		return;
	/* an established session gets a ClientHello of epoch 0 (record type
	 * 22, epoch bytes 3-4 zero, handshake type 1 at byte 13): the client
	 * restarted on the same address and port */
	if (s->hs_done && len > 25 && data[0] == 22 && data[3] == 0 && data[4] == 0 && data[13] == 1) {
		sess_new(w, fd, wild, local, remote, data, len, s);
		return;
	}
	BIO_write(s->rbio, data, (int)len);
	if (!s->hs_done) {
		int rc = SSL_do_handshake(s->ssl);
		if (rc <= 0) {
			int e = SSL_get_error(s->ssl, rc);
			ERR_clear_error();
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				w->dtls_hs_fail++;
				sess_close(w, s, false);
			}
			return;
		}
		s->hs_done = true;
		w->dtls_half_open--;
		w->dtls_handshakes++;
	}
	/* Each record is one message; the plaintext is never longer than the
	 * datagram, so it is decrypted into the datagram's own slot, which
	 * lives until the flush (a relayed payload is queued by pointer). */
	size_t off = 0;
	while (off < len) {
		int n = SSL_read(s->ssl, data + off, (int)(len - off));
		if (n <= 0) {
			int e = SSL_get_error(s->ssl, n);
			ERR_clear_error();
			if (e == SSL_ERROR_ZERO_RETURN) /* close_notify */
				sess_close(w, s, false);
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				sess_close(w, s, false);
			return;
		}
		turn_on_client(w->turn, &s->ep, data + off, (size_t)n);
		off += (size_t)n;
		if (s->failed)
			return;
	}
}

enum turn_tx dtls_send(struct worker *w, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                       const uint8_t *payload, size_t paylen, size_t pad)
{
	if (ep->id >= w->dslot_cap)
		return TURN_TX_GONE;
	struct dtls_sess *s = w->dslots[ep->id];
	if (!s || s->ep.gen != ep->gen || !s->hs_done || s->failed)
		return TURN_TX_GONE;
	size_t n = hdrlen + paylen + pad;
	if (n > SSL3_RT_MAX_PLAIN_LENGTH) {
		w->dtls_too_big++; /* one record per message: 16 KiB at most */
		return TURN_TX_DROPPED;
	}
	uint8_t *f = w->frame;
	if (hdrlen)
		memcpy(f, hdr, hdrlen);
	if (paylen)
		memcpy(f + hdrlen, payload, paylen);
	if (pad)
		memset(f + hdrlen + paylen, 0, pad);
	if (SSL_write(s->ssl, f, (int)n) != (int)n) {
		ERR_clear_error();
		sess_fail(w, s); /* closed at the end of the turn, outside the core */
		return TURN_TX_GONE;
	}
	return TURN_TX_QUEUED;
}

void dtls_sweep(struct worker *w, uint64_t now_ms)
{
	struct dtls_sess *next;
	for (struct dtls_sess *s = w->dsess; s; s = next) {
		next = s->next;
		if (s->failed)
			continue;
		if (!s->hs_done) {
			if (now_ms - s->started_ms >= w->sh->handshake_timeout_ms) {
				w->dtls_hs_timeouts++;
				sess_close(w, s, false);
			} else {
				/* our last flight again, if the client's answer is late */
				(void)DTLSv1_handle_timeout(s->ssl);
				ERR_clear_error();
			}
			continue;
		}
		if (turn_ep_has_allocation(w->turn, &s->ep)) {
			s->alloc_seen_ms = now_ms;
			continue;
		}
		if (now_ms - s->alloc_seen_ms >= w->sh->allocate_timeout_ms) {
			w->tcp_timeouts++;
			sess_close(w, s, true);
		}
	}
}

void dtls_close_all(struct worker *w)
{
	dtls_close_failed(w);
	while (w->dsess)
		sess_close(w, w->dsess, true);
}

int dtls_worker_init(struct worker *w)
{
	const struct tern_config *cfg = w->sh->cfg;
	if (!config_dtls_on(cfg) || !w->sh->tls)
		return 0;
	pthread_once(&out_once, out_method_new);
	w->dslot_cap = w->sh->conn_cap;
	w->dslots = calloc(w->dslot_cap, sizeof(*w->dslots));
	w->dgens = calloc(w->dslot_cap, sizeof(*w->dgens));
	w->dfree = calloc(w->dslot_cap, sizeof(*w->dfree));
	w->dbuckets = calloc(DTLS_BUCKETS, sizeof(*w->dbuckets));
	if (!out_method || !w->dslots || !w->dgens || !w->dfree || !w->dbuckets ||
	    sip_key_random(&w->dkey) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < w->dslot_cap; i++)
		w->dfree[w->nfree++] = w->dslot_cap - 1 - i;
	return 0;
}

void dtls_worker_free(struct worker *w)
{
	free(w->dslots);
	free(w->dgens);
	free(w->dfree);
	free(w->dbuckets);
	SSL_CTX_free(w->dtls_ctx);
	w->dslots = NULL;
	w->dgens = NULL;
	w->dfree = NULL;
	w->dbuckets = NULL;
	w->dtls_ctx = NULL;
}
