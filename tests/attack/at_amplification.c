/* Attack: amplification (reflection to a spoofed source).
 *
 * 1. For each kind of unauthenticated request (Binding, Allocate of 28
 *    bytes, with and without FINGERPRINT, IPv4 and IPv6, the other methods,
 *    unknown methods and attributes, a forged nonce), the answer's size
 *    divided by the request's size is measured and must stay below 2.7,
 *    the factor of coturn 4.17.1's answer to a 28-byte Allocate. Also with
 *    the server's --fingerprint option. The table is printed for
 *    docs/SECURITY.md; --sha256 (a bigger 401 by RFC 8489) is reported.
 * 2. The per-source rate limit on unauthenticated answers (default on,
 *    unauth-rate-limit 4000 B/s per worker, burst 8000 B): a flood of
 *    unauthenticated Allocates from one source address for ~2 s gets at
 *    most burst + rate * time bytes back per worker, from one port and from
 *    many; the limit is not a wall (the rate does get through), drops are
 *    counted, and a client on another address is served meanwhile. */
#include "attack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/bytes.h"

#define COTURN_FACTOR 2.7
#define RATE          4000 /* the default unauth-rate-limit */
#define BURST         (2 * RATE)
#define WORKERS       2

static struct turnc_resp r;

/* ---- 1. ratios ---- */

struct row {
	char what[96];
	size_t req, resp;
	int code;
};
static struct row rows[64];
static unsigned nrows;

/* Send msg from a fresh socket (a 5-tuple nobody used) and measure the
 * answer. Returns the answer's size, 0 when none came (checked with a
 * fence), -1 on a local error. */
static long measure(const struct srv *s, int family, const uint8_t *msg, size_t len, const char *what,
                    int want_code)
{
	struct turnc c;
	const union tern_addr *to = family == AF_INET6 ? &s->addr6 : &s->addr;
	if (turnc_open(&c, to) < 0)
		return -1;
	long got = -1;
	for (int i = 0; i < 3 && got < 0; i++) {
		turnc_send_raw(&c, msg, len);
		if (turnc_wait_answer(&c, msg + 8, &r, 700) == 0)
			got = (long)r.len;
	}
	int code = got > 0 ? (r.cls == STUN_SUCCESS ? 0 : r.code) : -1;
	if (got < 0 && want_code < 0) {
		unsigned stray = 0;
		if (at_fence(&c, &stray, 3000) == 0 && stray == 0)
			got = 0;
	}
	turnc_close(&c);
	if (got < 0) {
		tap_check(false, "%s: answered", what);
		return -1;
	}
	if (nrows < 64) {
		struct row *w = &rows[nrows++];
		snprintf(w->what, sizeof(w->what), "%s", what);
		w->req = len;
		w->resp = (size_t)got;
		w->code = code;
	}
	if (want_code >= 0)
		tap_check(code == want_code, "%s: answered %s (%d expected)", what, it_outcome(code),
		          want_code);
	else
		tap_check(got == 0, "%s: not answered", what);
	return got;
}

static bool below(long resp, size_t req, const char *what)
{
	double ratio = (double)resp / (double)req;
	return tap_check(resp >= 0 && ratio < COTURN_FACTOR, "%s: %ld / %zu bytes = %.2fx < %.1fx", what,
	                 resp, req, ratio, COTURN_FACTOR);
}

static size_t msg(uint8_t *m, uint16_t method, enum stun_class cls, unsigned what)
{
	size_t off = at_hdr(m, stun_type(method, cls), 0);
	if (what & 1) /* REQUESTED-TRANSPORT UDP */
		off = at_attr(m, off, STUN_A_REQUESTED_TRANSPORT, 4, "\x11\0\0\0", 4);
	if (what & 4) /* XOR-PEER-ADDRESS (a documentation address, never contacted) */
		off = at_attr(m, off, STUN_A_XOR_PEER_ADDRESS, 8, "\x00\x01\x12\x34\xe1\x12\xa6\x43", 8);
	if (what & 8) /* an unknown comprehension-required attribute */
		off = at_attr(m, off, 0x0031, 4, "abcd", 4);
	at_fix_len(m, off);
	if (what & 2) { /* FINGERPRINT */
		struct stun_builder b = {.buf = m, .cap = 512, .len = off};
		stun_add_fingerprint(&b);
		off = (size_t)stun_build_finish(&b);
	}
	return off;
}

static void print_table(const char *title)
{
	tap_diag("%s", title);
	tap_diag("  %-62s %5s %6s %6s %6s", "request", "bytes", "answer", "bytes", "ratio");
	for (unsigned i = 0; i < nrows; i++) {
		char code[16];
		if (rows[i].resp == 0)
			snprintf(code, sizeof(code), "none");
		else
			snprintf(code, sizeof(code), "%d", rows[i].code == 0 ? 200 : rows[i].code);
		tap_diag("  %-62s %5zu %6s %6zu %5.2fx", rows[i].what, rows[i].req, code, rows[i].resp,
		         (double)rows[i].resp / (double)rows[i].req);
	}
	nrows = 0;
}

/* Unauthenticated requests (msg()'s attributes `attrs`) and the answer
 * each gets: none may be more than COTURN_FACTOR times its size. */
static const struct probe {
	uint16_t method;
	unsigned attrs;
	int family, code;
	const char *what;
} probes[] = {
    {STUN_BINDING, 0, AF_INET, 0, "Binding, IPv4"},
    {STUN_BINDING, 2, AF_INET, 0, "Binding + FINGERPRINT, IPv4"},
    {STUN_BINDING, 0, AF_INET6, 0, "Binding, IPv6"},
    {TURN_ALLOCATE, 1, AF_INET, 401, "Allocate (28 bytes), IPv4"},
    {TURN_ALLOCATE, 1 | 2, AF_INET, 401, "Allocate + FINGERPRINT, IPv4"},
    {TURN_ALLOCATE, 1, AF_INET6, 401, "Allocate (28 bytes), IPv6"},
    {TURN_ALLOCATE, 0, AF_INET, 400, "Allocate without REQUESTED-TRANSPORT (20 bytes)"},
    {TURN_REFRESH, 0, AF_INET, 437, "Refresh (20 bytes), no allocation"},
    {TURN_CREATE_PERMISSION, 4, AF_INET, 437, "CreatePermission, no allocation"},
    {TURN_CHANNEL_BIND, 0, AF_INET, 437, "ChannelBind (20 bytes), no allocation"},
    {TURN_REFRESH, 2, AF_INET, 437, "Refresh + FINGERPRINT, no allocation"},
    {0x0FF, 0, AF_INET, 400, "unknown method 0x0FF (20 bytes)"},
    {STUN_BINDING, 8, AF_INET, 420, "Binding + unknown required attribute"},
};

static void ratios_default(void)
{
	struct at_srv S;
	uint8_t m[512];
	size_t n;
	long a;
	static const char *const args[] = {IT_AUTH_ARGS, NULL};

	tap_diag("---- unauthenticated answers, default options ----");
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server with default options starts"))
		return;
	tap_int((long)msg(m, TURN_ALLOCATE, STUN_REQUEST, 1), 28,
	        "the minimal Allocate (REQUESTED-TRANSPORT only) is 28 bytes");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *p = &probes[i];
		n = msg(m, p->method, STUN_REQUEST, p->attrs);
		below(measure(&S.s, p->family, m, n, p->what, p->code), n, p->what);
	}
	n = msg(m, TURN_SEND, STUN_INDICATION, 4);
	a = measure(&S.s, AF_INET, m, n, "Send indication, no allocation", -1);
	tap_check(a == 0, "Send indication without an allocation: no answer at all");

	/* Credentials with a forged nonce: 438 with a fresh one. */
	struct turnc c;
	struct turnc_req q;
	if (it_client(&c, &S.s, AF_INET) == 0 && turnc_learn_nonce(&c) == 0) {
		memset(c.nonce, 'A', c.nonce_len);
		turnc_req_init(&q, TURN_ALLOCATE);
		turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, "\x11\0\0\0", 4);
		uint8_t txid[STUN_TXID_LEN];
		turnc_random_txid(txid);
		int len = turnc_build(&c, &q, txid, true, m, sizeof(m));
		below(measure(&S.s, AF_INET, m, (size_t)len, "Allocate with credentials and a forged nonce",
		              438),
		      (size_t)len, "Allocate with credentials and a forged nonce");
	}
	turnc_close(&c);

	/* The one unauthenticated answer above 2.7x: a bare request on a
	 * 5-tuple that holds an allocation is challenged (401) as RFC 8489
	 * asks. Only a client that authenticated from that address can be its
	 * target, and the rate limit bounds it like any other. */
	if (it_client_alloc(&c, &S.s, AF_INET, &r) == 0) {
		n = msg(m, TURN_REFRESH, STUN_REQUEST, 0);
		turnc_send_raw(&c, m, n);
		int rc = turnc_wait_answer(&c, m + 8, &r, 2000);
		tap_check(rc == 0 && r.code == 401 && r.len <= 64,
		          "unsigned Refresh (20 bytes) on a live allocation: 401 of %zu bytes (%.2fx, "
		          "documented exception)",
		          r.len, (double)r.len / 20.0);
		if (nrows < 64)
			rows[nrows++] = (struct row){"Refresh (20 bytes) on a live allocation (exception)", n,
			                             r.len, r.code};
		turnc_refresh(&c, 0, &r);
	}
	turnc_close(&c);
	print_table("default options (realm \"" IT_REALM "\"):");
	at_srv_stop(&S);
}

static void ratios_option(const char *opt, bool assert_below)
{
	struct at_srv S;
	uint8_t m[512];
	size_t n;
	const char *args[] = {IT_AUTH_ARGS, opt, NULL};
	char what[128];

	tap_diag("---- unauthenticated answers with %s ----", opt);
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server with %s starts", opt))
		return;
	n = msg(m, TURN_ALLOCATE, STUN_REQUEST, 1);
	snprintf(what, sizeof(what), "%s: Allocate (28 bytes), IPv4", opt);
	long got = measure(&S.s, AF_INET, m, n, what, 401);
	if (assert_below)
		below(got, n, what);
	n = msg(m, STUN_BINDING, STUN_REQUEST, 0);
	snprintf(what, sizeof(what), "%s: Binding, IPv6", opt);
	got = measure(&S.s, AF_INET6, m, n, what, 0);
	if (assert_below)
		below(got, n, what);
	n = msg(m, TURN_REFRESH, STUN_REQUEST, 0);
	snprintf(what, sizeof(what), "%s: Refresh (20 bytes), no allocation", opt);
	got = measure(&S.s, AF_INET, m, n, what, 437);
	if (assert_below)
		below(got, n, what);
	char title[96];
	snprintf(title, sizeof(title), "with %s:", opt);
	print_table(title);
	at_srv_stop(&S);
}

/* ---- 2. the rate limit ---- */

struct flood {
	uint64_t sent, answers, answer_bytes;
	double seconds;   /* first send to last send */
	double span;      /* first send to the last answer received */
	uint64_t limited; /* dropped_ratelimit during the flood */
	uint64_t processed;
	int64_t t0, last_rx;
};

static void receive(int *fds, unsigned n, struct flood *f)
{
	static uint8_t rx[2048];
	for (unsigned i = 0; i < n; i++) {
		ssize_t got;
		while ((got = recv(fds[i], rx, sizeof(rx), MSG_DONTWAIT)) > 0) {
			f->answers++;
			f->answer_bytes += (uint64_t)got;
			f->last_rx = it_now_ms();
		}
	}
}

/* Unauthenticated 28-byte Allocates at `pps` for `ms` from the sockets
 * fds[0..n-1] (connected to the server), in turn; every answer is read and
 * counted, until the server's counters say every request it processed was
 * answered or rate-limited (at most 5 s after the flood). */
static void flood(struct at_srv *S, int *fds, unsigned n, unsigned pps, int ms, struct flood *f)
{
	enum { BATCH = 16 };
	static uint8_t reqs[BATCH][28];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct at_stats before, now_st;
	memset(f, 0, sizeof(*f));
	at_stats_read(S->stats, &before);
	for (unsigned i = 0; i < BATCH; i++) {
		msg(reqs[i], TURN_ALLOCATE, STUN_REQUEST, 1);
		iov[i] = (struct iovec){reqs[i], 28};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	int64_t t0 = it_now_ms(), last = t0;
	f->t0 = f->last_rx = t0;
	unsigned next = 0;
	for (;;) {
		int64_t now = it_now_ms();
		if (now - t0 >= ms)
			break;
		uint64_t due = (uint64_t)(now - t0) * pps / 1000;
		while (f->sent < due) {
			unsigned k = (unsigned)(due - f->sent < BATCH ? due - f->sent : BATCH);
			for (unsigned i = 0; i < k; i++) /* a new transaction each time */
				wr32(reqs[i] + 8, (uint32_t)(f->sent + i));
			int s = sendmmsg(fds[next++ % n], mm, k, 0);
			if (s <= 0)
				break;
			f->sent += (unsigned)s;
			last = it_now_ms();
		}
		receive(fds, n, f);
		struct timespec ts = {0, 500000};
		nanosleep(&ts, NULL);
	}
	f->seconds = (double)(last - t0) / 1000.0;
	int64_t deadline = it_now_ms() + 5000;
	do {
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		receive(fds, n, f);
		if (at_stats_read(S->stats, &now_st) < 0)
			continue;
		f->processed = now_st.rx_client - before.rx_client;
		f->limited = now_st.dropped_ratelimit - before.dropped_ratelimit;
	} while (f->answers + f->limited < f->processed && it_now_ms() < deadline);
	f->span = (double)(f->last_rx - t0) / 1000.0;
}

static int open_from(const char *ip, const union tern_addr *server)
{
	union tern_addr local = it_addr(ip, 0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, &local.sa, addr_len(&local)) < 0 ||
	    connect(fd, &server->sa, addr_len(server)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void rate_limit(void)
{
	struct at_srv S;
	struct at_stats before, after;
	char rate[16], workers[8];
	snprintf(rate, sizeof(rate), "%d", RATE);
	snprintf(workers, sizeof(workers), "%d", WORKERS);
	const char *args[] = {IT_AUTH_ARGS, "--unauth-rate-limit", rate, "--workers", workers, NULL};
	struct flood f;

	tap_diag("---- rate limit on unauthenticated answers: %d B/s, burst %d B, per source and worker ----",
	         RATE, BURST);
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server with unauth-rate-limit %d starts", RATE))
		return;
	tap_int(at_stats_read(S.stats, &before) == 0 ? (long)before.workers : -1, WORKERS, "%d workers",
	        WORKERS);

	/* One source port: one 5-tuple, one worker, one bucket. The server
	 * cannot answer before the first request was sent nor after the last
	 * answer arrived here: burst + rate * that span (+ 0.1 s for its clock,
	 * read once per loop turn) bounds what it may reflect. */
	int fd = open_from("127.0.0.2", &S.s.addr);
	if (!tap_check(fd >= 0, "flood socket on 127.0.0.2"))
		goto out;
	at_stats_read(S.stats, &before);
	flood(&S, &fd, 1, 10000, 2000, &f);
	close(fd);
	at_stats_read(S.stats, &after);
	double bound = BURST + RATE * (f.span + 0.1);
	tap_diag("one port: %llu requests (%llu bytes) in %.2f s, %llu answers, %llu bytes back: %.0f B/s, "
	         "amplification %.4fx",
	         (unsigned long long)f.sent, (unsigned long long)f.sent * 28, f.seconds,
	         (unsigned long long)f.answers, (unsigned long long)f.answer_bytes,
	         (double)f.answer_bytes / f.seconds, (double)f.answer_bytes / (double)(f.sent * 28));
	tap_check(f.sent >= 15000, "one port: at least 15000 requests went out (%llu)",
	          (unsigned long long)f.sent);
	tap_check(
	    (double)f.answer_bytes <= bound,
	    "one port: bytes reflected %llu <= burst + rate * %.2f s (first request to last answer) = %.0f",
	    (unsigned long long)f.answer_bytes, f.span + 0.1, bound);
	tap_check((double)f.answer_bytes >= 0.5 * RATE * f.seconds,
	          "one port: the limit is a rate, not a wall: %llu bytes >= half of rate * time (%.0f)",
	          (unsigned long long)f.answer_bytes, 0.5 * RATE * f.seconds);
	tap_int(
	    (long)(f.limited + f.answers), (long)f.processed,
	    "one port: every request processed was answered or counted in dropped_ratelimit (%llu + %llu)",
	    (unsigned long long)f.answers, (unsigned long long)f.limited);
	tap_check(after.kernel_drops - before.kernel_drops <= f.sent / 100,
	          "one port: the server read (nearly) every request (kernel drops %llu)",
	          (unsigned long long)(after.kernel_drops - before.kernel_drops));

	/* 200 source ports on one address: the flows spread over the workers,
	 * each worker has its own bucket for the address. */
	int fds[200];
	unsigned nfd = 0;
	for (unsigned i = 0; i < 200; i++)
		if ((fds[nfd] = open_from("127.0.0.3", &S.s.addr)) >= 0)
			nfd++;
	if (!tap_int(nfd, 200, "200 flood sockets on 127.0.0.3"))
		goto close;
	flood(&S, fds, nfd, 10000, 2000, &f);
	bound = WORKERS * (BURST + RATE * (f.span + 0.1));
	tap_diag("200 ports: %llu requests in %.2f s, %llu answers, %llu bytes back: %.0f B/s",
	         (unsigned long long)f.sent, f.seconds, (unsigned long long)f.answers,
	         (unsigned long long)f.answer_bytes, (double)f.answer_bytes / f.seconds);
	tap_check((double)f.answer_bytes <= bound,
	          "200 ports: bytes reflected %llu <= workers * (burst + rate * %.2f s) = %.0f",
	          (unsigned long long)f.answer_bytes, f.span + 0.1, bound);
	tap_int((long)(f.limited + f.answers), (long)f.processed,
	        "200 ports: every request processed was answered or counted (%llu + %llu)",
	        (unsigned long long)f.answers, (unsigned long long)f.limited);

	/* Meanwhile (the buckets of 127.0.0.2 and .3 are empty) a client on
	 * 127.0.0.1 is challenged and allocates as usual. */
	struct turnc c;
	if (it_client(&c, &S.s, AF_INET) == 0) {
		int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0 && r.seen_401 == 1, "a client on another address allocates at once (%s)",
		          it_outcome(rc));
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	/* And the flooded address gets answers again once its bucket refills
	 * (a protocol timer: 2 s refill the whole burst). */
	it_sleep_ms(2100);
	int fd2 = open_from("127.0.0.2", &S.s.addr);
	uint8_t m[64], rx[512];
	size_t n = msg(m, TURN_ALLOCATE, STUN_REQUEST, 1);
	bool answered = false;
	for (int i = 0; i < 3 && !answered; i++) {
		send(fd2, m, n, 0);
		struct pollfd p = {.fd = fd2, .events = POLLIN};
		answered = poll(&p, 1, 700) == 1 && recv(fd2, rx, sizeof(rx), 0) == 64;
	}
	tap_check(answered, "the flooded address is answered again after the refill");
	close(fd2);
close:
	for (unsigned i = 0; i < nfd; i++)
		close(fds[i]);
out:
	at_srv_stop(&S);
}

int main(int argc, char **argv)
{
	at_setup(argc, argv, "amplification", 240);
	ratios_default();
	ratios_option("--fingerprint", true);
	ratios_option("--sha256", false);
	rate_limit();
	return tap_done();
}
