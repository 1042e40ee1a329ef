/* tern bench --churn and --idle: TURN clients that come and go over TCP.
 *
 * --churn: C client slots, each repeating a cycle as a fresh client does:
 * connect, Allocate (the 401 gives REALM and NONCE; the second Allocate
 * carries the credentials), Refresh with LIFETIME 0, close. Completed
 * cycles per second, failures by kind and step, and the latency of a
 * cycle are reported for a measured window after a warm-up.
 *
 * --idle: N connections, each holding an allocation, opened with a window
 * of setups in flight, then held (refreshed at half their lifetime) for
 * --seconds, with the server's VmRSS read before and after (--server-pid).
 *
 * Each connection is a small non-blocking state machine over a transport
 * table (struct bench_xprt: TCP now). One epoll set per thread, level
 * triggered; an event carries slot index and generation, so an event of a
 * connection closed earlier in the same batch is recognised and dropped.
 * The clock is read once per epoll batch. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "stun/stun.h"
#include "tools/bench_churn.h"
#include "tools/tools.h"

#define NS 1000000000ull
/* Answers are short (a 401 with REALM and NONCE, an Allocate success with
 * two addresses and LIFETIME; coturn adds SOFTWARE): 1 KiB holds one with
 * room to spare; anything longer is a bad answer. */
#define IN_MAX  1024
#define REQ_MAX 512
#define EVENTS  256
/* Timeouts, idle refreshes, the live line and backed-off slots are looked
 * at every 100 ms: a timeout is seconds, so that is precise enough, and
 * a scan of every slot per wake-up would cost more than the cycles. */
#define SCAN_NS (100ull * 1000000ull)
/* A slot whose socket could not even be opened (no local port, out of
 * descriptors) waits this long before its next try, instead of spinning. */
#define BACKOFF_NS (50ull * 1000000ull)

struct churn_run {
	const struct bench_cfg *cfg;
	struct cthread *th;
	struct churn_samples smp;
	uint64_t setup_ns; /* idle: from the first connect to the last setup */
};

struct cconn {
	struct bench_xconn x;
	struct bench_alloc a; /* credentials (realm, nonce, key) and index */
	enum churn_step step;
	uint32_t gen;
	bool up;         /* the transport is ready for data */
	bool want_out;   /* watching EPOLLOUT: a write was short */
	bool refreshing; /* idle: a Refresh is out */
	bool had_auth;
	unsigned auth_retries, stale_retries;
	uint16_t method; /* of the request in flight */
	uint32_t life;   /* idle: the lifetime the server granted, s */
	uint64_t start_ns, deadline_ns, refresh_ns;
	uint8_t txid[STUN_TXID_LEN];
	uint16_t out_off, out_len, in_len;
	uint8_t out[REQ_MAX];
	uint8_t in[IN_MAX];
};

struct cthread {
	unsigned id;
	const struct bench_cfg *cfg;
	struct cconn *c; /* this thread's slots */
	unsigned n;
	uint32_t *pending; /* slots to start (a stack) */
	unsigned npending;
	unsigned active; /* slots with a connection */
	int ep;
	uint64_t rng;
	uint64_t t0, t_meas, t_end; /* churn phases; idle: t_end = end of the hold */
	double rate;                /* churn: this thread's share of --rate */
	uint64_t started;           /* churn: cycles started since t0 (rate schedule) */
	unsigned next_setup;        /* idle: slots started so far */
	struct cstats st;
	_Atomic uint64_t pub_done, pub_fail, pub_active;
	struct cthread *all;
	unsigned nthreads;
	int err;
};

static void rng_txid(struct cthread *t, uint8_t txid[STUN_TXID_LEN])
{
	/* xorshift64*: transaction ids only have to differ from one request
	 * to the next on a connection; no syscall per request */
	for (unsigned i = 0; i < STUN_TXID_LEN; i += 4) {
		t->rng ^= t->rng >> 12;
		t->rng ^= t->rng << 25;
		t->rng ^= t->rng >> 27;
		uint32_t v = (uint32_t)((t->rng * 0x2545F4914F6CDD1Dull) >> 32);
		memcpy(txid + i, &v, 4);
	}
}

static uint64_t ep_data(const struct cthread *t, const struct cconn *c)
{
	return (uint64_t)(c - t->c) | ((uint64_t)c->gen << 32);
}

static int watch(struct cthread *t, struct cconn *c, int op)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0),
	                         .data.u64 = ep_data(t, c)};
	return epoll_ctl(t->ep, op, c->x.fd, &ev) < 0 ? -errno : 0;
}

static void end_conn(struct cthread *t, struct cconn *c, bool abort)
{
	if (c->x.fd >= 0) {
		t->cfg->xprt->close(&c->x, abort);
		t->active--;
	}
	c->gen++;
	c->up = c->want_out = c->refreshing = false;
}

/* The slot is free again: churn starts it over (at once, or when the
 * --rate schedule allows); idle starts the next setup instead. */
static void release(struct cthread *t, struct cconn *c)
{
	c->step = S_FREE;
	t->pending[t->npending++] = (uint32_t)(c - t->c);
}

static void fail(struct cthread *t, struct cconn *c, enum churn_fail k, int code, uint64_t now)
{
	struct cstats *st = &t->st;
	bool churn = t->cfg->kind == BENCH_CHURN;
	enum churn_step at = c->step;
	if (churn && now < t->t_meas) {
		st->warm_failures++;
	} else if (churn && now >= t->t_end) {
		st->late_failures++;
	} else {
		st->fail[k]++;
		st->fail_step[at]++;
		if (k == F_ANSWER)
			churn_count_code(st, code);
	}
	end_conn(t, c, true);
	if (churn && k != F_REFUSED && k != F_NO_PORT && k != F_CONNECT) {
		release(t, c);
	} else if (churn) {
		/* no connection could be made: retrying at once would spin */
		c->step = S_BACKOFF;
		c->deadline_ns = now + BACKOFF_NS;
	} else if (at == S_HOLD) {
		st->dropped++;
		c->step = S_DEAD;
	} else {
		c->step = S_DEAD;
		t->pending[t->npending++] = UINT32_MAX; /* a setup place is free */
	}
}

static enum churn_fail errno_kind(const struct cconn *c, int err)
{
	if (err == -ECONNREFUSED)
		return F_REFUSED;
	if (err == -EADDRNOTAVAIL)
		return F_NO_PORT;
	return c->step == S_CONNECT && err != -ECONNRESET && err != -EPIPE ? F_CONNECT : F_CLOSED;
}

/* Write what is pending; a short write waits for EPOLLOUT. 0, or -errno
 * (the caller fails the slot). */
static int flush_out(struct cthread *t, struct cconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = t->cfg->xprt->send(&c->x, c->out + c->out_off, c->out_len - c->out_off);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		c->out_off += (uint16_t)n;
	}
	bool want = c->out_off < c->out_len;
	if (want != c->want_out) {
		c->want_out = want;
		int r = watch(t, c, EPOLL_CTL_MOD);
		if (r < 0)
			return r;
	}
	/* the connection is up once a first request is on its way */
	if (!want && c->step == S_CONNECT)
		c->step = S_CHALLENGE;
	return 0;
}

static int send_req(struct cthread *t, struct cconn *c, uint16_t method, uint32_t lifetime)
{
	rng_txid(t, c->txid);
	c->method = method;
	c->had_auth = c->a.nonce_len > 0;
	int len = bench_build_req(t->cfg, &c->a, method, lifetime, c->txid, c->out, sizeof(c->out));
	if (len < 0)
		return len;
	c->out_off = 0;
	c->out_len = (uint16_t)len;
	if (!c->up)
		return 0; /* sent once the transport is ready */
	return flush_out(t, c);
}

/* A TLS handshake completed: full or abbreviated (a session resumed). */
static void tls_count(struct cthread *t, struct cconn *c)
{
	if (!c->x.tls)
		return;
	t->st.tls_version = c->x.version;
	if (c->x.resumed)
		t->st.tls_resumed++;
	else
		t->st.tls_full++;
}

static void start(struct cthread *t, struct cconn *c, uint64_t now)
{
	const struct bench_cfg *cfg = t->cfg;
	unsigned g = c->a.index;
	/* a fresh client: no nonce yet (the realm and the key derived from
	 * it are kept: the first answer teaches the same realm again) */
	c->a.nonce_len = 0;
	c->auth_retries = c->stale_retries = 0;
	c->in_len = 0;
	c->start_ns = now;
	c->deadline_ns = now + (uint64_t)(cfg->timeout * 1e9);
	c->step = S_CONNECT;
	t->st.connects++;
	int r = cfg->xprt->open(&c->x, &cfg->sources[g % cfg->nsources], &cfg->server);
	if (r == 0) {
		t->active++;
		r = watch(t, c, EPOLL_CTL_ADD);
	}
	if (r < 0) {
		fail(t, c, errno_kind(c, r), 0, now);
		return;
	}
	uint32_t want = 0;
	r = cfg->xprt->ready(&c->x, &want);
	c->up = r == 1;
	if (c->up)
		tls_count(t, c);
	if (r == 0 && (want & EPOLLOUT)) {
		c->want_out = true;
		r = watch(t, c, EPOLL_CTL_MOD);
	}
	if (r >= 0)
		r = send_req(t, c, TURN_ALLOCATE, cfg->lifetime);
	if (r < 0)
		fail(t, c, errno_kind(c, r), 0, now);
}

static void cycle_done(struct cthread *t, struct cconn *c, uint64_t now)
{
	struct cstats *st = &t->st;
	if (now < t->t_meas) {
		st->warm_cycles++;
	} else if (now < t->t_end) {
		st->cycles++;
		hist_add(&st->lat, now - c->start_ns);
	} else {
		st->late_cycles++;
	}
	end_conn(t, c, t->cfg->close_rst);
	release(t, c);
}

static void established(struct cthread *t, struct cconn *c, const struct stun_msg *m, uint64_t now)
{
	uint32_t life = t->cfg->lifetime;
	const struct stun_attr *la = stun_find(m, STUN_A_LIFETIME);
	if (la)
		(void)stun_attr_u32(la, &life);
	if (life < 2)
		life = 2;
	c->life = life;
	/* RFC 8656 §7: refreshed before it expires; half the lifetime leaves
	 * the other half for a slow answer */
	c->refresh_ns = now + (uint64_t)life * NS / 2;
	c->step = S_HOLD;
	t->st.established++;
	hist_add(&t->st.lat, now - c->start_ns);
	t->pending[t->npending++] = UINT32_MAX; /* a setup slot is free */
}

static void on_answer(struct cthread *t, struct cconn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	const struct bench_cfg *cfg = t->cfg;
	struct stun_msg m;
	if (stun_parse(&m, buf, len) < 0) {
		fail(t, c, F_BAD, 0, now);
		return;
	}
	if ((m.cls != STUN_SUCCESS && m.cls != STUN_ERROR) || memcmp(m.txid, c->txid, STUN_TXID_LEN) != 0)
		return; /* not an answer to what is in flight */
	if (c->step == S_HOLD && !c->refreshing)
		return;
	int r = bench_auth_answer(cfg, &c->a, &m, c->had_auth, &c->auth_retries, &c->stale_retries);
	if (r == BENCH_AUTH_RETRY) {
		if (c->step == S_CHALLENGE)
			c->step = S_ALLOCATE;
		r = send_req(t, c, c->method,
		             c->method == TURN_REFRESH && cfg->kind == BENCH_CHURN ? 0 : cfg->lifetime);
		if (r < 0)
			fail(t, c, errno_kind(c, r), 0, now);
		return;
	}
	if (c->step == S_HOLD) {
		c->refreshing = false;
		c->auth_retries = c->stale_retries = 0;
		if (r == 0)
			t->st.refreshes++;
		else
			t->st.refresh_errors++;
		return;
	}
	if (r != 0) {
		fail(t, c, F_ANSWER, r, now);
		return;
	}
	if (c->method == TURN_REFRESH) {
		cycle_done(t, c, now);
		return;
	}
	/* Allocate succeeded */
	if (cfg->kind == BENCH_IDLE) {
		established(t, c, &m, now);
		return;
	}
	c->step = S_REFRESH;
	c->auth_retries = c->stale_retries = 0;
	/* RFC 8656 §7.2: LIFETIME 0 deletes the allocation */
	r = send_req(t, c, TURN_REFRESH, 0);
	if (r < 0)
		fail(t, c, errno_kind(c, r), 0, now);
}

static void on_readable(struct cthread *t, struct cconn *c, uint64_t now)
{
	ssize_t n = t->cfg->xprt->recv(&c->x, c->in + c->in_len, IN_MAX - c->in_len);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		fail(t, c, n == 0 ? F_CLOSED : errno_kind(c, (int)n), 0, now);
		return;
	}
	c->in_len += (uint16_t)n;
	uint32_t gen = c->gen;
	size_t off = 0;
	while (c->gen == gen && off < c->in_len) {
		int fl = stun_frame_len(c->in + off, c->in_len - off);
		if (fl == 0)
			break;
		if (fl < 0 || fl > IN_MAX || !stun_is_stun(c->in + off, c->in_len - off)) {
			fail(t, c, F_BAD, 0, now);
			return;
		}
		if ((size_t)fl > c->in_len - off)
			break;
		off += (size_t)fl;
		on_answer(t, c, c->in + off - fl, (size_t)fl, now);
	}
	if (c->gen != gen)
		return; /* closed meanwhile (and maybe restarted: in_len is new) */
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= (uint16_t)off;
}

static void on_event(struct cthread *t, struct cconn *c, uint32_t events, uint64_t now)
{
	const struct bench_cfg *cfg = t->cfg;
	uint32_t gen = c->gen;
	if (!c->up) {
		uint32_t want = 0;
		int r = cfg->xprt->ready(&c->x, &want);
		if (r < 0) {
			fail(t, c, errno_kind(c, r), 0, now);
			return;
		}
		if (r == 0) {
			bool w = (want & EPOLLOUT) != 0;
			if (w != c->want_out) {
				c->want_out = w;
				if (watch(t, c, EPOLL_CTL_MOD) < 0)
					fail(t, c, F_CONNECT, 0, now);
			}
			return;
		}
		c->up = true;
		tls_count(t, c);
		events |= EPOLLOUT; /* write what waited for the transport */
	}
	if ((events & (EPOLLOUT | EPOLLERR)) && c->out_off < c->out_len) {
		int r = flush_out(t, c);
		if (r < 0) {
			fail(t, c, errno_kind(c, r), 0, now);
			return;
		}
	}
	if (c->gen == gen && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		on_readable(t, c, now);
}

/* Every SCAN_NS: timeouts, backed-off slots, idle refreshes. */
static void scan(struct cthread *t, uint64_t now, bool stopping)
{
	const struct bench_cfg *cfg = t->cfg;
	for (unsigned i = 0; i < t->n; i++) {
		struct cconn *c = &t->c[i];
		switch (c->step) {
		case S_BACKOFF:
			if (now >= c->deadline_ns) {
				if (stopping)
					c->step = S_FREE;
				else
					release(t, c);
			}
			break;
		case S_CONNECT:
		case S_CHALLENGE:
		case S_ALLOCATE:
		case S_REFRESH:
			if (now >= c->deadline_ns)
				fail(t, c, F_TIMEOUT, 0, now);
			break;
		case S_HOLD:
			if (c->refreshing && now >= c->deadline_ns) {
				c->refreshing = false;
				t->st.refresh_errors++;
			}
			if (!c->refreshing && now >= c->refresh_ns && !stopping) {
				c->refreshing = true;
				c->auth_retries = c->stale_retries = 0;
				c->deadline_ns = now + (uint64_t)(cfg->timeout * 1e9);
				c->refresh_ns = now + (uint64_t)c->life * NS / 2;
				if (send_req(t, c, TURN_REFRESH, cfg->lifetime) < 0)
					fail(t, c, F_CLOSED, 0, now);
			}
			break;
		default:
			break;
		}
	}
}

static void publish(struct cthread *t)
{
	const struct cstats *st = &t->st;
	uint64_t done = st->cycles + st->warm_cycles + st->late_cycles + st->established;
	uint64_t failed = st->warm_failures + st->late_failures;
	for (unsigned k = 0; k < F_KINDS; k++)
		failed += st->fail[k];
	atomic_store_explicit(&t->pub_done, done, memory_order_relaxed);
	atomic_store_explicit(&t->pub_fail, failed, memory_order_relaxed);
	atomic_store_explicit(&t->pub_active, t->active, memory_order_relaxed);
}

/* A thread's loop's clock: the time, when the next timeout scan and live
 * line are due, and what the last live line counted. */
struct loop_clock {
	uint64_t now, next_scan, next_live;
	uint64_t last_done, last_fail, last_ns;
};

static void live_line(struct cthread *t, struct loop_clock *k)
{
	const uint64_t now = k->now;
	uint64_t done = 0, failed = 0, active = 0;
	for (unsigned i = 0; i < t->nthreads; i++) {
		done += atomic_load_explicit(&t->all[i].pub_done, memory_order_relaxed);
		failed += atomic_load_explicit(&t->all[i].pub_fail, memory_order_relaxed);
		active += atomic_load_explicit(&t->all[i].pub_active, memory_order_relaxed);
	}
	double dt = (double)(now - k->last_ns) / 1e9, el = (double)(now - t->t0) / 1e9;
	if (dt <= 0)
		return;
	if (t->cfg->kind == BENCH_CHURN)
		fprintf(stderr,
		        "tern bench: %6.1fs %-6s cycles %9.0f/s  failures %7.0f/s  open %6" PRIu64 "\n", el,
		        now < t->t_meas ? "warmup" : "run", (double)(done - k->last_done) / dt,
		        (double)(failed - k->last_fail) / dt, active);
	else
		fprintf(stderr,
		        "tern bench: %6.1fs idle  established %7" PRIu64 "  failed %6" PRIu64
		        "  open %6" PRIu64 "\n",
		        el, done, failed, active);
	k->last_done = done;
	k->last_fail = failed;
	k->last_ns = now;
}

static uint64_t client_cpu_ns(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

static void sample(struct churn_run *r, unsigned i)
{
	r->smp.srv_ticks[i] = r->cfg->server_pid > 0 ? proc_cpu_ticks(r->cfg->server_pid) : 0;
	r->smp.cli_ns[i] = client_cpu_ns();
	r->smp.have[i] = true;
}

struct thread_arg {
	struct churn_run *run;
	struct cthread *t;
};

static uint64_t next_wake(const struct cthread *t, uint64_t now, uint64_t next_scan, bool stopping)
{
	uint64_t w = next_scan;
	if (!stopping) {
		if (t->t_meas > now && t->t_meas < w)
			w = t->t_meas;
		if (t->t_end > now && t->t_end < w)
			w = t->t_end;
		if (t->rate > 0 && t->npending) {
			uint64_t due = t->t0 + (uint64_t)((double)(t->started + 1) * 1e9 / t->rate);
			if (due < w)
				w = due;
		}
	}
	return w;
}

/* Start the free slots the schedule allows: all of them in a closed loop,
 * or as many as --rate has made due. A slot freed while starting (none
 * is: a failure to connect backs off) waits for the next turn. */
static void start_pending(struct cthread *t, uint64_t now)
{
	uint64_t n = t->npending;
	if (t->rate > 0) {
		uint64_t due = (uint64_t)((double)(now - t->t0) / 1e9 * t->rate);
		if (due > t->started + n) {
			/* every client was busy: those starts are lost, not owed */
			t->st.starts_missed += due - t->started - n;
			t->started = due - n;
		}
		n = due - t->started;
	}
	t->started += n;
	while (n--)
		start(t, &t->c[t->pending[--t->npending]], now);
}

/* One turn of a thread's loop: wait for events until w (not at all when w
 * is now or past), hand them to their connections, then every SCAN_NS
 * scan for timeouts and publish the counters, and every second print a
 * live line (when live). 0 or -errno. */
static int loop_turn(struct cthread *t, struct loop_clock *k, uint64_t w, bool stopping, bool live)
{
	struct epoll_event ev[EVENTS];
	struct timespec ts = {0, 0};
	if (w > k->now) {
		ts.tv_sec = (time_t)((w - k->now) / NS);
		ts.tv_nsec = (long)((w - k->now) % NS);
	}
	int n = epoll_pwait2(t->ep, ev, EVENTS, &ts, NULL);
	if (n < 0 && errno != EINTR)
		return -errno;
	k->now = bench_now_ns();
	t->st.wakeups++;
	for (int i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);
		if (idx < t->n && t->c[idx].gen == gen && t->c[idx].x.fd >= 0)
			on_event(t, &t->c[idx], ev[i].events, k->now);
	}
	if (k->now >= k->next_scan) {
		scan(t, k->now, stopping);
		k->next_scan = k->now + SCAN_NS;
		publish(t);
	}
	if (k->now >= k->next_live) {
		if (live)
			live_line(t, k);
		k->next_live += NS;
	}
	return 0;
}

static int churn_loop(struct churn_run *run, struct cthread *t)
{
	const struct bench_cfg *cfg = t->cfg;
	uint64_t now = bench_now_ns();
	struct loop_clock k = {.next_scan = now + SCAN_NS, .next_live = t->t0 + NS, .last_ns = t->t0};
	bool stopping = false, sampled0 = false;
	uint64_t drain_end = 0;

	for (unsigned i = 0; i < t->n; i++)
		t->pending[t->npending++] = t->n - 1 - i;
	struct timespec at = {(time_t)(t->t0 / NS), (long)(t->t0 % NS)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR && !bench_stop)
		;
	k.now = bench_now_ns();
	for (;;) {
		now = k.now;
		if (!stopping && (now >= t->t_end || bench_stop)) {
			stopping = true;
			if (now < t->t_end)
				t->t_end = now; /* SIGINT: the window ends here */
			if (t->id == 0)
				sample(run, 1);
			drain_end = now + (uint64_t)(cfg->drain * 1e9);
			t->npending = 0;
		}
		if (t->id == 0 && !sampled0 && now >= t->t_meas) {
			sample(run, 0);
			sampled0 = true;
		}
		if (stopping && (t->active == 0 || now >= drain_end))
			break;
		if (!stopping && t->npending)
			start_pending(t, now);
		uint64_t w = next_wake(t, now, k.next_scan, stopping);
		if (stopping && drain_end < w)
			w = drain_end;
		if (!stopping && t->rate == 0 && t->npending)
			w = now;
		int rc = loop_turn(t, &k, w, stopping, t->id == 0 && cfg->live);
		if (rc < 0)
			return rc;
	}
	/* what is still open at the end is abandoned, not counted */
	for (unsigned i = 0; i < t->n; i++)
		if (t->c[i].x.fd >= 0) {
			t->st.late_failures++;
			end_conn(t, &t->c[i], true);
		}
	publish(t);
	return 0;
}

static int idle_loop(struct churn_run *run, struct cthread *t)
{
	const struct bench_cfg *cfg = t->cfg;
	uint64_t now = bench_now_ns();
	struct loop_clock k = {.now = now, .next_scan = now + SCAN_NS, .next_live = now + NS, .last_ns = now};
	unsigned inflight = 0, settled = 0;
	bool holding = false;

	t->t0 = now;
	t->t_end = UINT64_MAX;
	if (cfg->server_pid > 0)
		run->smp.rss_kb[0] = proc_rss_kb(cfg->server_pid);
	for (;;) {
		now = k.now;
		/* every setup that ended (established or failed) frees a place
		 * in the window */
		while (t->npending) {
			t->npending--;
			inflight--;
			settled++;
		}
		while (!bench_stop && inflight < cfg->window && t->next_setup < t->n) {
			inflight++;
			start(t, &t->c[t->next_setup++], now);
		}
		if (!holding && settled == t->n) {
			holding = true;
			run->setup_ns = now - t->t0;
			if (cfg->server_pid > 0)
				run->smp.rss_kb[1] = proc_rss_kb(cfg->server_pid);
			t->t_end = now + (uint64_t)(cfg->seconds * 1e9);
			fprintf(stderr,
			        "tern bench: idle: %" PRIu64
			        " of %u connections hold an allocation; holding %.1f s\n",
			        t->st.established, t->n, cfg->seconds);
		}
		if (bench_stop || now >= t->t_end)
			break;
		/* a setup that failed at once: its place is free now */
		uint64_t w = t->npending ? now : k.next_scan < t->t_end ? k.next_scan : t->t_end;
		int rc = loop_turn(t, &k, w, false, cfg->live);
		if (rc < 0)
			return rc;
	}
	if (cfg->server_pid > 0)
		run->smp.rss_kb[2] = proc_rss_kb(cfg->server_pid);
	if (!holding)
		run->setup_ns = now - t->t0;
	t->t_end = now;
	/* the servers end an allocation with its connection (RFC 8656 §3.1) */
	for (unsigned i = 0; i < t->n; i++)
		end_conn(t, &t->c[i], false);
	publish(t);
	return 0;
}

static void *churn_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct cthread *t = ta->t;
	int r = t->cfg->kind == BENCH_CHURN ? churn_loop(ta->run, t) : idle_loop(ta->run, t);
	if (r < 0)
		t->err = r;
	stun_integrity_thread_done();
	return NULL;
}

/* One line about the server's limits, before the run: the usual reason a
 * churn run fails at once is a per-address connection limit. */
static void limits_hint(const struct bench_cfg *cfg)
{
	unsigned per_src = (cfg->connections + cfg->nsources - 1) / cfg->nsources;
	bool v6 = cfg->server.sa.sa_family == AF_INET6;
	if (per_src > 64 || (v6 && cfg->connections > 64))
		fprintf(stderr,
		        "tern bench: %u connections from %u source address%s; ternd allows 64 per %s "
		        "(max-connections-per-ip) and 16384 in all (max-connections): start it with "
		        "--max-connections-per-ip %u%s\n",
		        cfg->connections, cfg->nsources, cfg->nsources == 1 ? "" : "es",
		        v6 ? "IPv6 /64" : "IPv4 address", v6 ? cfg->connections : per_src,
		        v6 ? "" : ", or spread the clients with --sources 127.0.0.2+N");
}

int bench_churn_run(const struct bench_cfg *cfg)
{
	unsigned nt = cfg->kind == BENCH_IDLE ? 1 : cfg->threads;
	struct churn_run run = {.cfg = cfg};
	struct cthread *th = calloc(nt, sizeof(*th));
	struct cconn *conns = calloc(cfg->connections, sizeof(*conns));
	uint32_t *pend = calloc(cfg->connections + nt, sizeof(*pend));
	struct thread_arg *ta = calloc(nt, sizeof(*ta));
	pthread_t *tids = calloc(nt, sizeof(*tids));
	struct cstats *sum = calloc(1, sizeof(*sum));
	unsigned started = 0;
	int ret = 1;

	if (!th || !conns || !pend || !ta || !tids || !sum) {
		fprintf(stderr, "tern bench: out of memory\n");
		goto out;
	}
	limits_hint(cfg);
	run.th = th;
	run.smp.rss_kb[0] = run.smp.rss_kb[1] = run.smp.rss_kb[2] = -1;
	/* Slot i goes to thread i % T, which keeps each thread's share of
	 * every source address even. */
	unsigned pos = 0;
	uint64_t t0 = bench_now_ns() + 20000000ull;
	for (unsigned t = 0; t < nt; t++) {
		struct cthread *x = &th[t];
		x->id = t;
		x->cfg = cfg;
		x->all = th;
		x->nthreads = nt;
		x->c = &conns[pos];
		for (unsigned i = t; i < cfg->connections; i += nt) {
			struct cconn *c = &conns[pos++];
			c->x.fd = -1;
			c->a.index = i;
			c->a.fd = -1;
			c->x.ctx = cfg->tls_ctx;
			c->x.sni = cfg->tls_sni;
			c->x.resume = cfg->tls_resume;
			/* the relayed address in the server's family (RFC 8656 §7.1:
			 * REQUESTED-ADDRESS-FAMILY only for IPv6) */
			c->a.peer.sa.sa_family = cfg->server.sa.sa_family;
		}
		x->n = (unsigned)(&conns[pos] - x->c);
		x->pending = pend + (x->c - conns) + t;
		x->t0 = t0;
		x->t_meas = t0 + (uint64_t)(cfg->warmup * 1e9);
		x->t_end = x->t_meas + (uint64_t)(cfg->seconds * 1e9);
		x->rate = cfg->rate * x->n / cfg->connections;
		hist_reset(&x->st.lat);
		if (getrandom(&x->rng, sizeof(x->rng), 0) != sizeof(x->rng) || !x->rng)
			x->rng = bench_now_ns() | 1;
		x->ep = epoll_create1(EPOLL_CLOEXEC);
		if (x->ep < 0) {
			fprintf(stderr, "tern bench: epoll: %s\n", strerror(errno));
			for (unsigned k = 0; k < t; k++)
				close(th[k].ep);
			goto out;
		}
		ta[t].run = &run;
		ta[t].t = x;
	}
	for (started = 1; started < nt; started++) {
		int e = pthread_create(&tids[started], NULL, churn_thread, &ta[started]);
		if (e) {
			fprintf(stderr, "tern bench: thread: %s\n", strerror(e));
			bench_stop = 1;
			break;
		}
	}
	churn_thread(&ta[0]);
	for (unsigned t = 1; t < started; t++)
		pthread_join(tids[t], NULL);

	hist_reset(&sum->lat);
	ret = 0;
	for (unsigned t = 0; t < nt; t++) {
		close(th[t].ep);
		if (th[t].err < 0) {
			fprintf(stderr, "tern bench: thread %u: %s\n", t, strerror(-th[t].err));
			ret = 1;
		}
		churn_stats_add(sum, &th[t].st);
	}
	if (ret)
		goto out;
	if (cfg->kind == BENCH_CHURN) {
		uint64_t end = th[0].t_end;
		for (unsigned t = 1; t < nt; t++)
			if (th[t].t_end < end)
				end = th[t].t_end;
		double secs = end > th[0].t_meas ? (double)(end - th[0].t_meas) / 1e9 : 0;
		churn_print(cfg, &run.smp, sum, secs);
		if (sum->fail[F_CLOSED])
			fprintf(stderr,
			        "tern bench: the server closed %" PRIu64 " connections before the cycle "
			        "ended: over its connection limits? (ternd: --max-connections-per-ip, "
			        "--max-connections)\n",
			        sum->fail[F_CLOSED]);
		ret = sum->cycles ? 0 : 1;
	} else {
		double hold = th[0].t_end > th[0].t0 + run.setup_ns
		                  ? (double)(th[0].t_end - th[0].t0 - run.setup_ns) / 1e9
		                  : 0;
		churn_print_idle(cfg, &run.smp, run.setup_ns, sum, hold);
		ret = sum->established == cfg->connections && !sum->dropped ? 0 : 1;
	}
out:
	if (conns)
		for (unsigned i = 0; i < cfg->connections; i++)
			bench_tls_forget(&conns[i].x);
	free(th);
	free(conns);
	free(pend);
	free(ta);
	free(tids);
	free(sum);
	return ret;
}
