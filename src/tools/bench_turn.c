/* tern bench: the TURN client side of the generator. Setup is blocking and
 * sequential (one transaction at a time, bounded by retransmission limits);
 * the flood never waits on it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/udp.h"
#include "stun/stun.h"
#include "tools/tools.h"
#include "util/bytes.h"

/* Retransmission: 100 ms doubling, 5 transmissions = 3.1 s before giving up
 * (RFC 8489 §6.2.1's 500 ms RTO is for the Internet; on the test networks
 * this tool runs on an answer takes well under a millisecond). */
#define RTO_MS   100
#define TRIES    5
#define REQ_MAX  512
#define RESP_MAX 2048
/* Long runs: permissions last 300 s, channels and allocations 600 s
 * (RFC 8656 defaults); refreshing every 120 s keeps all three alive with a
 * margin for a lost request (retried after 2 s). */
#define MAINT_PERIOD_NS (120ull * 1000000000ull)
#define MAINT_RETRY_NS  (2ull * 1000000000ull)
#define SOCK_BUF        (2 << 20)

static void random_txid(uint8_t txid[STUN_TXID_LEN])
{
	static uint64_t fallback = 0x9e3779b97f4a7c15ull;
	if (getrandom(txid, STUN_TXID_LEN, 0) == STUN_TXID_LEN)
		return;
	fallback = fallback * 6364136223846793005ull + 1442695040888963407ull;
	memcpy(txid, &fallback, 8);
	memset(txid + 8, 0x5a, 4);
}

static const char *method_name(uint16_t m)
{
	switch (m) {
	case TURN_ALLOCATE:
		return "Allocate";
	case TURN_REFRESH:
		return "Refresh";
	case TURN_CREATE_PERMISSION:
		return "CreatePermission";
	case TURN_CHANNEL_BIND:
		return "ChannelBind";
	default:
		return "request";
	}
}

int bench_build_req(const struct bench_cfg *cfg, const struct bench_alloc *a, uint16_t method,
                    uint32_t lifetime, const uint8_t txid[STUN_TXID_LEN], uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	stun_build_init(&b, buf, cap, stun_type(method, STUN_REQUEST), txid);
	switch (method) {
	case TURN_ALLOCATE:
		stun_add_transport(&b, STUN_TRANSPORT_UDP);
		/* RFC 8656 §7.1: without REQUESTED-ADDRESS-FAMILY the relayed
		 * address is IPv4, which cannot reach an IPv6 peer. */
		if (a->peer.sa.sa_family == AF_INET6)
			stun_add_family(&b, STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
		if (lifetime)
			stun_add_u32(&b, STUN_A_LIFETIME, lifetime);
		break;
	case TURN_REFRESH:
		stun_add_u32(&b, STUN_A_LIFETIME, lifetime);
		break;
	case TURN_CREATE_PERMISSION:
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &a->peer);
		break;
	case TURN_CHANNEL_BIND:
		stun_add_channel(&b, a->channel);
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &a->peer);
		break;
	}
	/* RFC 8489 §9.2.4: with a nonce known, every request carries the
	 * long-term credentials; no PASSWORD-ALGORITHM means MD5, which every
	 * server accepts. */
	if (a->nonce_len) {
		stun_add_attr(&b, STUN_A_USERNAME, cfg->username, strlen(cfg->username));
		stun_add_attr(&b, STUN_A_REALM, a->realm, strlen(a->realm));
		stun_add_attr(&b, STUN_A_NONCE, a->nonce, a->nonce_len);
		stun_add_integrity(&b, a->key, sizeof(a->key));
	}
	stun_add_fingerprint(&b);
	return stun_build_finish(&b);
}

/* Take REALM (if present) and NONCE from a 401 or 438; derive the key. */
static int learn_nonce(const struct bench_cfg *cfg, struct bench_alloc *a, const struct stun_msg *m)
{
	const struct stun_attr *realm = stun_find(m, STUN_A_REALM);
	const struct stun_attr *nonce = stun_find(m, STUN_A_NONCE);
	if (!nonce || nonce->len == 0 || nonce->len > sizeof(a->nonce))
		return -EINVAL;
	if (realm) {
		if (realm->len >= sizeof(a->realm))
			return -EINVAL;
		/* the churn modes learn the same realm on every connection: the
		 * key is derived again only when it changes */
		if (!a->have_key || strlen(a->realm) != realm->len ||
		    memcmp(a->realm, realm->val, realm->len) != 0) {
			memcpy(a->realm, realm->val, realm->len);
			a->realm[realm->len] = 0;
			a->have_key = false;
		}
	} else if (!a->realm[0]) {
		return -EINVAL;
	}
	memcpy(a->nonce, nonce->val, nonce->len);
	a->nonce_len = nonce->len;
	if (!a->have_key) {
		stun_key_md5(cfg->username, strlen(cfg->username), a->realm, strlen(a->realm), cfg->password,
		             strlen(cfg->password), a->key);
		a->have_key = true;
	}
	return 0;
}

int bench_auth_answer(const struct bench_cfg *cfg, struct bench_alloc *a, const struct stun_msg *m,
                      bool had_auth, unsigned *auth_retries, unsigned *stale_retries)
{
	if (m->cls == STUN_SUCCESS)
		return 0;
	int code = 0;
	const uint8_t *reason;
	size_t rlen;
	const struct stun_attr *ec = stun_find(m, STUN_A_ERROR_CODE);
	if (m->cls != STUN_ERROR || !ec || stun_attr_error(ec, &code, &reason, &rlen) < 0)
		return 400; /* an error answer without a readable code */
	if (code == 401 && !had_auth && (*auth_retries)++ == 0 && learn_nonce(cfg, a, m) == 0)
		return BENCH_AUTH_RETRY;
	if (code == 438 && (*stale_retries)++ < 3 && learn_nonce(cfg, a, m) == 0)
		return BENCH_AUTH_RETRY;
	return code;
}

static int64_t now_ms(void)
{
	return (int64_t)(bench_now_ns() / 1000000u);
}

/* Send and wait for the answer with this txid: 0 and the parsed answer in
 * m (pointing into resp), -ETIMEDOUT, -ECONNREFUSED (ICMP unreachable all
 * along), or -errno. */
/* TCP: the next whole frame of a's stream into resp (at most RESP_MAX
 * bytes kept): its length, 0 when none is complete, -EPROTO, -ECONNRESET. */
static ssize_t stream_frame(struct bench_alloc *a, uint8_t *resp)
{
	for (;;) {
		int fl = stun_frame_len(a->sbuf, a->slen);
		if (fl < 0)
			return -EPROTO;
		if (fl > 0 && (size_t)fl <= a->slen) {
			size_t n = (size_t)fl < RESP_MAX ? (size_t)fl : RESP_MAX;
			memcpy(resp, a->sbuf, n);
			memmove(a->sbuf, a->sbuf + fl, a->slen - (size_t)fl);
			a->slen -= (size_t)fl;
			return (ssize_t)n;
		}
		ssize_t r;
		if (a->ssl) {
			r = bench_tls_read(a->ssl, a->sbuf + a->slen, BENCH_STREAM_BUF - a->slen);
			if (r == -EAGAIN)
				return 0;
			if (r <= 0)
				return r ? r : -ECONNRESET;
		} else {
			r = recv(a->fd, a->sbuf + a->slen, BENCH_STREAM_BUF - a->slen, MSG_DONTWAIT);
			if (r == 0)
				return -ECONNRESET;
			if (r < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		}
		a->slen += (size_t)r;
	}
}

/* TLS: req as one record, behind what is already pending; as much as
 * the socket takes now. 0, or -errno. */
static int tls_queue(struct bench_alloc *a, const uint8_t *req, size_t len)
{
	int r = bench_tls_seal(a->ssl, req, len, a->pend, &a->plen, BENCH_PEND_BUF);
	if (r < 0)
		return r;
	ssize_t n = send(a->fd, a->pend, a->plen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	memmove(a->pend, a->pend + n, a->plen - (size_t)n);
	a->plen -= (size_t)n;
	return 0;
}

/* TLS, during setup: the request written whole (at most 1 s). */
static int tls_send_req(struct bench_alloc *a, const uint8_t *req, size_t len)
{
	int r = tls_queue(a, req, len);
	for (int64_t end = now_ms() + 1000; r == 0 && a->plen;) {
		int64_t left = end - now_ms();
		struct pollfd p = {.fd = a->fd, .events = POLLOUT};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		ssize_t n = send(a->fd, a->pend, a->plen, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			memmove(a->pend, a->pend + n, a->plen - (size_t)n);
			a->plen -= (size_t)n;
		}
	}
	return r;
}

static int exchange(struct bench_alloc *a, bool tcp, const uint8_t *req, size_t len, const uint8_t *txid,
                    int rto, int tries, uint8_t *resp, struct stun_msg *m)
{
	int fd = a->fd;
	bool refused = false, answered = false;
	if (tcp) {
		/* a stream loses nothing: one send, one long wait */
		rto *= (1 << tries) - 1;
		tries = 1;
	}
	for (int t = 0; t < tries; t++, rto *= 2) {
		if (a->ssl) {
			int r = tls_send_req(a, req, len);
			if (r < 0)
				return r;
		} else if (send(fd, req, len, MSG_NOSIGNAL) < 0) {
			if (errno == ECONNREFUSED)
				refused = true;
			else if (errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		int64_t deadline = now_ms() + rto;
		for (;;) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int r = poll(&p, 1, (int)left);
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r <= 0)
				continue;
			ssize_t n;
			while (tcp && (n = stream_frame(a, resp)) > 0) {
				answered = true;
				if (stun_parse(m, resp, (size_t)n) == 0 && m->cls != STUN_REQUEST &&
				    m->cls != STUN_INDICATION && memcmp(m->txid, txid, STUN_TXID_LEN) == 0)
					return 0;
			}
			if (tcp) {
				if (n < 0)
					return (int)n;
				continue;
			}
			n = recv(fd, resp, RESP_MAX, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == ECONNREFUSED)
					refused = true;
				continue;
			}
			answered = true;
			if (stun_parse(m, resp, (size_t)n) < 0 || m->cls == STUN_REQUEST ||
			    m->cls == STUN_INDICATION || memcmp(m->txid, txid, STUN_TXID_LEN) != 0)
				continue; /* stray datagram or an answer to an earlier try */
			return 0;
		}
	}
	return refused && !answered ? -ECONNREFUSED : -ETIMEDOUT;
}

/* One transaction with the long-term auth flow: a 401 with REALM and NONCE
 * is retried once with credentials, a 438 with the new nonce (up to 3
 * times). Returns 0, the STUN error code (> 0), or -errno. */
static int transact(const struct bench_cfg *cfg, struct bench_alloc *a, uint16_t method, uint32_t lifetime,
                    int rto, int tries, uint8_t *resp, struct stun_msg *m)
{
	uint8_t req[REQ_MAX], txid[STUN_TXID_LEN];
	unsigned auth_retries = 0, stale_retries = 0;
	for (;;) {
		random_txid(txid);
		int len = bench_build_req(cfg, a, method, lifetime, txid, req, sizeof(req));
		if (len < 0)
			return len;
		bool had_auth = a->nonce_len > 0;
		int r = exchange(a, cfg->tcp, req, (size_t)len, txid, rto, tries, resp, m);
		if (r < 0)
			return r;
		r = bench_auth_answer(cfg, a, m, had_auth, &auth_retries, &stale_retries);
		if (r != BENCH_AUTH_RETRY)
			return r;
	}
}

static void report_failure(const struct bench_cfg *cfg, const struct bench_alloc *a, uint16_t method, int r)
{
	char srv[TERN_ADDRSTRLEN];
	addr_format(&cfg->server, srv, sizeof(srv), true);
	if (r == -ETIMEDOUT)
		fprintf(stderr, "tern bench: allocation %u: %s: no answer from %s (%d tries over %.1f s)\n",
		        a->index, method_name(method), srv, TRIES, (RTO_MS * ((1 << TRIES) - 1)) / 1000.0);
	else if (r == -ECONNREFUSED)
		fprintf(
		    stderr,
		    "tern bench: allocation %u: %s: %s refused it (ICMP port unreachable: no server there)\n",
		    a->index, method_name(method), srv);
	else if (r < 0)
		fprintf(stderr, "tern bench: allocation %u: %s: %s\n", a->index, method_name(method),
		        strerror(-r));
	else
		fprintf(stderr, "tern bench: allocation %u: %s failed: %d %s%s\n", a->index,
		        method_name(method), r, stun_reason(r),
		        r == 401 ? " (check --user/--password or --secret and the server's realm)" : "");
}

int bench_setup(const struct bench_cfg *cfg, struct bench_alloc *a)
{
	uint8_t resp[RESP_MAX];
	struct stun_msg m;
	int r;

	if (cfg->tcp) {
		/* RFC 8656 §3.1: TURN over TCP, one connection per allocation */
		int one = 1, sz = SOCK_BUF;
		a->sbuf = malloc(BENCH_STREAM_BUF);
		a->pend = malloc(BENCH_PEND_BUF);
		a->fd = socket(cfg->server.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!a->sbuf || !a->pend || a->fd < 0 ||
		    (cfg->bind.sa.sa_family && bind(a->fd, &cfg->bind.sa, addr_len(&cfg->bind)) < 0)) {
			r = a->fd < 0 || !a->sbuf || !a->pend ? -ENOMEM : -errno;
			fprintf(stderr, "tern bench: allocation %u: socket: %s\n", a->index, strerror(-r));
			return r;
		}
		setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	} else {
		a->fd = udp_open(&cfg->bind, UDP_F_NONBLOCK, SOCK_BUF, SOCK_BUF, NULL);
		if (a->fd < 0) {
			fprintf(stderr, "tern bench: allocation %u: socket: %s\n", a->index,
			        strerror(-a->fd));
			return a->fd;
		}
	}
	/* Connected: the kernel filters what reaches the socket and sends
	 * need no destination (no route lookup per datagram). */
	socklen_t len = sizeof(a->local);
	if (connect(a->fd, &cfg->server.sa, addr_len(&cfg->server)) < 0 ||
	    getsockname(a->fd, &a->local.sa, &len) < 0) {
		r = -errno;
		fprintf(stderr, "tern bench: allocation %u: connect: %s\n", a->index, strerror(-r));
		return r;
	}
	/* RFC 8656 §3.1 (TURN over TLS): the handshake first, on the
	 * still-blocking socket, bounded like a transaction */
	if (cfg->tls) {
		r = bench_tls_handshake(cfg, a->fd, a->index, RTO_MS * ((1 << TRIES) - 1), &a->ssl);
		if (r < 0)
			return r;
	}
	if (cfg->tcp)
		fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK);
	if (cfg->raw)
		return 0;

	r = transact(cfg, a, TURN_ALLOCATE, cfg->lifetime, RTO_MS, TRIES, resp, &m);
	if (r != 0) {
		report_failure(cfg, a, TURN_ALLOCATE, r);
		return r;
	}
	const struct stun_attr *rel = stun_find(&m, STUN_A_XOR_RELAYED_ADDRESS);
	if (!rel || stun_attr_xaddr(&m, rel, &a->relayed) < 0) {
		fprintf(stderr, "tern bench: allocation %u: Allocate answer without XOR-RELAYED-ADDRESS\n",
		        a->index);
		return -EBADMSG;
	}
	r = transact(cfg, a, TURN_CREATE_PERMISSION, 0, RTO_MS, TRIES, resp, &m);
	if (r != 0) {
		report_failure(cfg, a, TURN_CREATE_PERMISSION, r);
		return r;
	}
	if (!cfg->indications) {
		r = transact(cfg, a, TURN_CHANNEL_BIND, 0, RTO_MS, TRIES, resp, &m);
		if (r != 0) {
			report_failure(cfg, a, TURN_CHANNEL_BIND, r);
			return r;
		}
	}
	return 0;
}

void bench_frame_init(const struct bench_cfg *cfg, struct bench_alloc *a)
{
	uint8_t txid[STUN_TXID_LEN];
	struct stun_builder b;

	a->ind_hdr_len = 0;
	if (cfg->raw || !cfg->indications)
		return;
	/* One transaction id per allocation: indications are never answered
	 * or deduplicated, and a fixed id keeps an IPv6 XOR-PEER-ADDRESS
	 * (XORed with the id) valid without re-encoding per datagram. */
	random_txid(txid);
	stun_build_init(&b, a->ind_hdr, sizeof(a->ind_hdr), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &a->peer);
	int len = stun_build_finish(&b);
	if (len < 0 || (size_t)len + 4 > sizeof(a->ind_hdr))
		return;
	wr16(a->ind_hdr + len, STUN_A_DATA);
	wr16(a->ind_hdr + len + 2, 0);
	a->ind_hdr_len = (unsigned)len + 4;
}

static void maint_send(const struct bench_cfg *cfg, struct bench_alloc *a, unsigned which,
                       struct bench_stats *st)
{
	uint8_t req[REQ_MAX];
	for (unsigned k = 0; k < 2; k++) {
		if (!(which & (1u << k)))
			continue;
		uint16_t method =
		    k == 0 ? TURN_REFRESH : (cfg->indications ? TURN_CREATE_PERMISSION : TURN_CHANNEL_BIND);
		random_txid(a->maint_txid[k]);
		int len = bench_build_req(cfg, a, method, cfg->lifetime ? cfg->lifetime : 600,
		                          a->maint_txid[k], req, sizeof(req));
		if (len < 0)
			st->maint_errors++;
		else if (a->ssl ? tls_queue(a, req, (size_t)len) < 0
		                : send(a->fd, req, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			st->maint_errors++;
	}
}

void bench_turn_maint(const struct bench_cfg *cfg, struct bench_alloc *a, uint64_t now_ns,
                      struct bench_stats *st)
{
	if (cfg->raw)
		return;
	if (!a->maint_due_ns) {
		a->maint_due_ns = now_ns + MAINT_PERIOD_NS;
		return;
	}
	if (a->maint_pending) {
		if (now_ns - a->maint_sent_ns >= MAINT_RETRY_NS) {
			maint_send(cfg, a, a->maint_pending, st);
			a->maint_sent_ns = now_ns;
		}
		return;
	}
	if (now_ns >= a->maint_due_ns) {
		a->maint_pending = 3;
		maint_send(cfg, a, a->maint_pending, st);
		a->maint_sent_ns = now_ns;
		a->maint_due_ns = now_ns + MAINT_PERIOD_NS;
	}
}

int bench_turn_answer(const struct bench_cfg *cfg, struct bench_alloc *a, const uint8_t *buf, size_t len,
                      uint64_t now_ns, struct bench_stats *st)
{
	struct stun_msg m;
	if (stun_parse(&m, buf, len) < 0 || (m.cls != STUN_SUCCESS && m.cls != STUN_ERROR))
		return 0;
	for (unsigned k = 0; k < 2; k++) {
		if (!(a->maint_pending & (1u << k)) || memcmp(m.txid, a->maint_txid[k], STUN_TXID_LEN) != 0)
			continue;
		if (m.cls == STUN_SUCCESS) {
			st->maint_ok++;
			a->maint_pending &= ~(1u << k);
			return 1;
		}
		int code = 0;
		const uint8_t *reason;
		size_t rlen;
		const struct stun_attr *ec = stun_find(&m, STUN_A_ERROR_CODE);
		if (ec && stun_attr_error(ec, &code, &reason, &rlen) == 0 && code == 438 &&
		    learn_nonce(cfg, a, &m) == 0) {
			/* Stale nonce: resend at once with the new one. */
			maint_send(cfg, a, 1u << k, st);
			a->maint_sent_ns = now_ns;
			return 1;
		}
		st->maint_errors++;
		a->maint_pending &= ~(1u << k);
		return 1;
	}
	return 0;
}

void bench_teardown(const struct bench_cfg *cfg, struct bench_alloc *a)
{
	uint8_t resp[RESP_MAX];
	struct stun_msg m;
	if (a->fd < 0)
		return;
	/* Free the server's relay port now rather than at expiry, so runs
	 * can follow each other without exhausting a small port range. */
	if (!cfg->raw && a->relayed.sa.sa_family)
		(void)transact(cfg, a, TURN_REFRESH, 0, 50, 2, resp, &m);
	if (a->ssl)
		bench_tls_free(a->ssl);
	a->ssl = NULL;
	close(a->fd);
	a->fd = -1;
	free(a->sbuf);
	free(a->pend);
	a->sbuf = a->pend = NULL;
}
