/* tern bench: the generator loop of one thread.
 *
 * One epoll set over the thread's sockets is both the pacer's sleep (a
 * nanosecond timeout until the next datagram or burst is due) and the
 * receive wake-up. Per wake-up: the datagrams due are built into fixed
 * slots and go out with one sendmmsg per socket (with --gso, runs of
 * same-size datagrams become one UDP_SEGMENT message each); readable
 * sockets are drained with recvmmsg. No allocation after the start, the
 * clock is read once per send batch and once per receive batch. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/udp.h"
#include "stun/stun.h"
#include "tools/tools.h"
#include "util/bytes.h"

/* Datagrams built per sendmmsg: 256 covers a 1-ms burst of 256k
 * datagrams/s on one socket in one call; more are sent in further calls. */
#define TX_SLOTS 256
/* Datagrams sent in one wake-up at most, so receiving is never starved
 * when the generator falls behind its schedule (the backlog is sent on the
 * following wake-ups, which then do not sleep). */
#define MAX_PER_WAKE 4096
/* With --pps 0 each socket gets one batch of this many per wake-up. */
#define MAX_RATE_BATCH 64
/* Receive batches per readable socket per wake-up (64 each): bounded so
 * one busy socket cannot delay the sends that are due. */
#define RX_BUDGET 8
/* Linux accepts 64 segments per UDP_SEGMENT send (UDP_MAX_SEGMENTS; newer
 * kernels 128) and the whole message must fit one IP datagram. */
#define GSO_MAX_SEGS  64
#define GSO_MAX_BYTES 65000
#define EPOLL_EVENTS  64
/* Longest sleep: SIGINT and the once-a-second work stay timely. */
#define MAX_SLEEP_NS (100ull * 1000000ull)
#define NS           1000000000ull

struct flood {
	uint8_t *slots; /* TX_SLOTS x stride */
	size_t stride;
	unsigned len[TX_SLOTS];
	unsigned sz[TX_SLOTS]; /* size index of each slot's payload */
	struct mmsghdr msg[TX_SLOTS];
	struct iovec iov[TX_SLOTS];
	unsigned msg_dgrams[TX_SLOTS];
	union udp_gso_cmsg ctl[TX_SLOTS];
	struct hist sec; /* round trips of the current second (live line) */
	struct epoll_event ev[EPOLL_EVENTS];
	struct udp_rx rx;
};

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Frame one datagram into slot: TURN framing + bench payload. Returns its
 * length on the wire. */
static unsigned frame(const struct bench_cfg *cfg, struct bench_alloc *a, uint8_t *slot, unsigned size,
                      uint64_t now, uint8_t phase)
{
	uint8_t *p = slot;
	unsigned total = size;
	if (cfg->raw) {
		/* payload alone */
	} else if (cfg->indications) {
		unsigned pad = (unsigned)pad4(size) - size;
		memcpy(slot, a->ind_hdr, a->ind_hdr_len);
		total = a->ind_hdr_len + size + pad;
		wr16(slot + 2, (uint16_t)(total - STUN_HEADER_LEN));
		wr16(slot + a->ind_hdr_len - 2, (uint16_t)size);
		p = slot + a->ind_hdr_len;
		memset(p + size, 0, pad);
	} else {
		stun_channeldata_hdr(slot, a->channel, (uint16_t)size);
		p = slot + TURN_CHANNEL_HDR;
		total = size + TURN_CHANNEL_HDR;
		if (cfg->tcp) {
			/* RFC 8656 §12.5: padded to 4 bytes over TCP */
			memset(p + size, 0, pad4(size) - size);
			total = TURN_CHANNEL_HDR + (unsigned)pad4(size);
		}
	}
	memcpy(p, BENCH_MAGIC, 4);
	wr32(p + 4, cfg->run);
	p[8] = phase;
	p[9] = 0;
	wr16(p + 10, (uint16_t)a->index);
	wr32(p + 12, a->seq);
	wr32(p + 16, (uint32_t)(now >> 32));
	wr32(p + 20, (uint32_t)now);
	return total;
}

/* sendmmsg msg[0..nmsg) on fd; partial results resume, EAGAIN gives up on
 * the rest (the socket buffer is full: no retry in the same instant helps). */
static void send_msgs(struct flood *f, int fd, unsigned nmsg, uint8_t phase, struct bench_stats *st)
{
	unsigned i = 0, eintr = 0;
	while (i < nmsg) {
		int n = sendmmsg(fd, &f->msg[i], nmsg - i, MSG_DONTWAIT);
		st->send_calls++;
		if (n > 0) {
			for (unsigned k = i; k < i + (unsigned)n; k++) {
				if (phase == BENCH_PHASE_MEAS)
					st->sent += f->msg_dgrams[k];
				else
					st->sent_warm += f->msg_dgrams[k];
			}
			i += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR && eintr++ < 3)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			for (; i < nmsg; i++)
				st->send_blocked += f->msg_dgrams[i];
			return;
		}
		/* This message alone failed (ICMP error reported on a connected
		 * socket, EMSGSIZE...): skip it, the rest may pass. */
		st->send_failed += f->msg_dgrams[i];
		i++;
	}
}

static void msg_set(struct flood *f, unsigned m, unsigned iov0, unsigned niov, unsigned seg)
{
	struct msghdr *h = &f->msg[m].msg_hdr;
	memset(h, 0, sizeof(*h));
	h->msg_iov = &f->iov[iov0];
	h->msg_iovlen = niov;
	f->msg_dgrams[m] = niov;
	if (niov > 1 && seg)
		udp_msg_gso(h, &f->ctl[m], (uint16_t)seg);
}

static void send_tls(struct bench_thread *th, struct flood *f, struct bench_alloc *a, unsigned n,
                     uint8_t phase);

/* TCP: the frames in iov[0..n) as one stream write. What the kernel does
 * not take is kept whole in a->pend (the stream must stay framed) and sent
 * first next time; while any is pending, new frames are not sent (counted
 * as blocked, like EAGAIN on UDP). */
static void send_stream(struct bench_thread *th, struct flood *f, struct bench_alloc *a, unsigned n,
                        uint8_t phase)
{
	struct bench_stats *st = &th->st;
	if (a->plen) {
		ssize_t r = send(a->fd, a->pend, a->plen, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			memmove(a->pend, a->pend + r, a->plen - (size_t)r);
			a->plen -= (size_t)r;
		}
		st->send_calls++;
		if (a->plen) {
			st->send_blocked += n;
			return;
		}
	}
	if (a->ssl) {
		send_tls(th, f, a, n, phase);
		return;
	}
	struct msghdr mh = {.msg_iov = f->iov, .msg_iovlen = n};
	size_t total = 0;
	for (unsigned k = 0; k < n; k++)
		total += f->iov[k].iov_len;
	ssize_t r = sendmsg(a->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	st->send_calls++;
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			st->send_blocked += n;
		else
			st->send_failed += n;
		return;
	}
	if (phase == BENCH_PHASE_MEAS)
		st->sent += n;
	else
		st->sent_warm += n;
	/* keep the unsent tail of the frames handed over */
	size_t skip = (size_t)r;
	for (unsigned k = 0; k < n && (size_t)r < total; k++) {
		size_t l = f->iov[k].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(a->pend + a->plen, (uint8_t *)f->iov[k].iov_base + skip, l - skip);
		a->plen += l - skip;
		skip = 0;
	}
}

/* TLS (nothing pending): each frame in iov[0..n) becomes one record, as
 * a TURN client over TLS writes them (coturn's client reads one message
 * per record); the burst's records leave in one send, and what the kernel
 * does not take stays in a->pend, sent before anything new. */
static void send_tls(struct bench_thread *th, struct flood *f, struct bench_alloc *a, unsigned n,
                     uint8_t phase)
{
	struct bench_stats *st = &th->st;
	unsigned sealed = 0;
	for (unsigned k = 0; k < n; k++) {
		if (bench_tls_seal(a->ssl, f->iov[k].iov_base, f->iov[k].iov_len, a->pend, &a->plen,
		                   BENCH_PEND_BUF) < 0)
			break;
		sealed++;
	}
	if (sealed < n)
		st->send_failed += n - sealed;
	if (phase == BENCH_PHASE_MEAS)
		st->sent += sealed;
	else
		st->sent_warm += sealed;
	ssize_t r = send(a->fd, a->pend, a->plen, MSG_DONTWAIT | MSG_NOSIGNAL);
	st->send_calls++;
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			st->send_failed++;
		return;
	}
	memmove(a->pend, a->pend + r, a->plen - (size_t)r);
	a->plen -= (size_t)r;
}

/* Send `count` datagrams on allocation a. */
static void send_alloc(struct bench_thread *th, struct flood *f, struct bench_alloc *a, unsigned count,
                       uint8_t phase)
{
	const struct bench_cfg *cfg = th->cfg;
	while (count > 0) {
		unsigned n = count < TX_SLOTS ? count : TX_SLOTS;
		uint64_t now = bench_now_ns();
		for (unsigned k = 0; k < n; k++) {
			unsigned z = a->seq % cfg->nsizes;
			uint8_t *slot = f->slots + (size_t)k * f->stride;
			f->sz[k] = z;
			f->len[k] = frame(cfg, a, slot, cfg->sizes[z], now, phase);
			a->seq++;
		}
		unsigned nmsg = 0;
		if (cfg->tcp) {
			for (unsigned k = 0; k < n; k++)
				f->iov[k] = (struct iovec){.iov_base = f->slots + (size_t)k * f->stride,
				                           .iov_len = f->len[k]};
			send_stream(th, f, a, n, phase);
			count -= n;
			continue;
		}
		if (!cfg->gso) {
			for (unsigned k = 0; k < n; k++) {
				f->iov[k] = (struct iovec){.iov_base = f->slots + (size_t)k * f->stride,
				                           .iov_len = f->len[k]};
				msg_set(f, nmsg++, k, 1, 0);
			}
		} else {
			/* Group by size (reordering within a burst is harmless):
			 * each run becomes UDP_SEGMENT messages whose segments
			 * all have the same length, as GSO requires. */
			unsigned ni = 0;
			for (unsigned z = 0; z < cfg->nsizes; z++) {
				unsigned start = ni, seglen = 0;
				for (unsigned k = 0; k < n; k++) {
					if (f->sz[k] != z)
						continue;
					seglen = f->len[k];
					f->iov[ni++] =
					    (struct iovec){.iov_base = f->slots + (size_t)k * f->stride,
					                   .iov_len = f->len[k]};
				}
				if (ni == start)
					continue;
				unsigned per = GSO_MAX_BYTES / seglen;
				if (per > GSO_MAX_SEGS)
					per = GSO_MAX_SEGS;
				if (per < 1)
					per = 1;
				for (unsigned s = start; s < ni; s += per) {
					unsigned cnt = ni - s < per ? ni - s : per;
					msg_set(f, nmsg++, s, cnt, seglen);
				}
			}
		}
		send_msgs(f, a->fd, nmsg, phase, &th->st);
		count -= n;
	}
}

/* Spread `due` datagrams over the thread's allocations round-robin,
 * continuing where the previous wake-up stopped. */
static void send_due(struct bench_thread *th, struct flood *f, uint64_t due, unsigned *rr, uint8_t phase)
{
	unsigned n = th->nallocs;
	uint64_t base = due / n, extra = due % n;
	for (unsigned j = 0; j < n; j++) {
		unsigned idx = (*rr + j) % n;
		uint64_t c = base + (j < extra ? 1 : 0);
		if (c)
			send_alloc(th, f, th->allocs[idx], (unsigned)c, phase);
	}
	*rr = (unsigned)((*rr + extra) % n);
}

static void on_payload(struct bench_thread *th, struct flood *f, const uint8_t *p, size_t len, uint64_t now)
{
	struct bench_stats *st = &th->st;
	if (len < BENCH_HDR || memcmp(p, BENCH_MAGIC, 4) != 0 || rd32(p + 4) != th->cfg->run) {
		st->bad++;
		return;
	}
	uint64_t ts = ((uint64_t)rd32(p + 16) << 32) | rd32(p + 20);
	uint64_t rtt = now > ts ? now - ts : 0;
	hist_add(&f->sec, rtt); /* the live line shows the warm-up too */
	if (p[8] != BENCH_PHASE_MEAS) {
		st->recv_warm++;
		return;
	}
	st->received++;
	hist_add(&st->rtt, rtt);
}

static void on_datagram(struct bench_thread *th, struct flood *f, struct bench_alloc *a, const uint8_t *buf,
                        size_t len, uint64_t now)
{
	const struct bench_cfg *cfg = th->cfg;
	if (cfg->raw) {
		on_payload(th, f, buf, len, now);
		return;
	}
	if (stun_is_channeldata(buf, len)) {
		uint16_t ch, dlen;
		const uint8_t *data;
		if (stun_channeldata_parse(buf, len, &ch, &data, &dlen) < 0 || ch != a->channel) {
			th->st.bad++;
			return;
		}
		on_payload(th, f, data, dlen, now);
		return;
	}
	if (len >= STUN_HEADER_LEN && stun_is_stun(buf, len) &&
	    rd16(buf) == stun_type(TURN_DATA, STUN_INDICATION)) {
		struct stun_msg m;
		const struct stun_attr *d;
		if (stun_parse(&m, buf, len) < 0 || !(d = stun_find(&m, STUN_A_DATA))) {
			th->st.bad++;
			return;
		}
		on_payload(th, f, d->val, d->len, now);
		return;
	}
	if (!bench_turn_answer(cfg, a, buf, len, now, &th->st))
		th->st.bad++;
}

/* TCP: read what is there and hand each whole frame on. */
static void drain_stream(struct bench_thread *th, struct flood *f, struct bench_alloc *a)
{
	for (unsigned b = 0; b < RX_BUDGET; b++) {
		ssize_t n;
		if (a->ssl) {
			/* read-ahead keeps what the kernel had: read until the SSL
			 * has nothing left, or epoll would not report it again */
			n = bench_tls_read(a->ssl, a->sbuf + a->slen, BENCH_STREAM_BUF - a->slen);
			if (n <= 0) {
				if (n != -EAGAIN)
					th->st.recv_errors++;
				return;
			}
			b = 0;
		} else {
			n = recv(a->fd, a->sbuf + a->slen, BENCH_STREAM_BUF - a->slen, MSG_DONTWAIT);
			if (n <= 0) {
				if (n == 0 || (errno != EAGAIN && errno != EINTR))
					th->st.recv_errors++;
				return;
			}
		}
		a->slen += (size_t)n;
		uint64_t now = bench_now_ns();
		size_t off = 0;
		for (;;) {
			int fl = stun_frame_len(a->sbuf + off, a->slen - off);
			if (fl < 0) {
				th->st.bad++;
				a->slen = 0; /* the stream is lost; stop reading it */
				return;
			}
			if (fl == 0 || (size_t)fl > a->slen - off)
				break;
			on_datagram(th, f, a, a->sbuf + off, (size_t)fl, now);
			off += (size_t)fl;
		}
		memmove(a->sbuf, a->sbuf + off, a->slen - off);
		a->slen -= off;
	}
}

static void drain(struct bench_thread *th, struct flood *f, struct bench_alloc *a)
{
	if (th->cfg->tcp) {
		drain_stream(th, f, a);
		return;
	}
	for (unsigned b = 0; b < RX_BUDGET; b++) {
		int n = udp_recv_batch(a->fd, &f->rx, NET_BATCH);
		if (n < 0) {
			/* A pending ICMP error, reported once and cleared. */
			th->st.recv_errors++;
			continue;
		}
		if (n == 0)
			return;
		uint64_t now = bench_now_ns();
		for (unsigned i = 0; i < (unsigned)n; i++) {
			if (udp_rx_trunc(&f->rx, i)) {
				th->st.bad++;
				continue;
			}
			on_datagram(th, f, a, udp_rx_data(&f->rx, i), udp_rx_len(&f->rx, i), now);
		}
		if (n < NET_BATCH)
			return;
	}
}

static void publish(struct bench_thread *th)
{
	atomic_store_explicit(&th->pub_sent, th->st.sent + th->st.sent_warm, memory_order_relaxed);
	atomic_store_explicit(&th->pub_recv, th->st.received + th->st.recv_warm, memory_order_relaxed);
}

/* Thread 0, once a second on a terminal: rates of the last second summed
 * over the threads; percentiles are the worst thread's. */
static void live_line(struct bench_thread *th, uint64_t now, uint64_t *last_sent, uint64_t *last_recv,
                      uint64_t *last_ns, const char *phase)
{
	uint64_t sent = 0, recv = 0, p50 = 0, p99 = 0;
	for (unsigned i = 0; i < th->nthreads; i++) {
		struct bench_thread *t = &th->all[i];
		sent += atomic_load_explicit(&t->pub_sent, memory_order_relaxed);
		recv += atomic_load_explicit(&t->pub_recv, memory_order_relaxed);
		uint64_t a = atomic_load_explicit(&t->pub_p50, memory_order_relaxed);
		uint64_t b = atomic_load_explicit(&t->pub_p99, memory_order_relaxed);
		p50 = a > p50 ? a : p50;
		p99 = b > p99 ? b : p99;
	}
	double dt = (double)(now - *last_ns) / 1e9;
	if (dt <= 0)
		return;
	double s = (double)(sent - *last_sent) / dt, r = (double)(recv - *last_recv) / dt;
	double el = (double)(now - th->t0_ns) / 1e9;
	if (th->cfg->mode == BENCH_RTT)
		fprintf(stderr,
		        "tern bench: %6.1fs %-6s sent %9.0f/s  recv %9.0f/s  loss %6.2f%%  p50 %8.1fus  p99 "
		        "%8.1fus\n",
		        el, phase, s, r, s > 0 && r < s ? 100.0 * (s - r) / s : 0.0, (double)p50 / 1e3,
		        (double)p99 / 1e3);
	else
		fprintf(stderr, "tern bench: %6.1fs %-6s sent %9.0f/s  (one-way: the peer counts)\n", el,
		        phase, s);
	*last_sent = sent;
	*last_recv = recv;
	*last_ns = now;
}

static int setup_thread(struct bench_thread *th, struct flood **fp, int *epp)
{
	const struct bench_cfg *cfg = th->cfg;
	struct flood *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	unsigned maxsz = 0;
	for (unsigned i = 0; i < cfg->nsizes; i++)
		maxsz = cfg->sizes[i] > maxsz ? cfg->sizes[i] : maxsz;
	f->stride = (maxsz + 64 + 63) & ~(size_t)63; /* framing <= 48 bytes, slots cache-line aligned */
	f->slots = calloc(TX_SLOTS, f->stride);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!f->slots || ep < 0) {
		int err = ep < 0 ? -errno : -ENOMEM;
		if (ep >= 0)
			close(ep);
		free(f->slots);
		free(f);
		return err;
	}
	udp_rx_init(&f->rx);
	hist_reset(&f->sec);
	for (unsigned i = 0; i < th->nallocs; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = th->allocs[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, th->allocs[i]->fd, &ev) < 0) {
			int err = -errno;
			close(ep);
			free(f->slots);
			free(f);
			return err;
		}
	}
	*fp = f;
	*epp = ep;
	return 0;
}

void *bench_thread_run(void *arg)
{
	struct bench_thread *th = arg;
	const struct bench_cfg *cfg = th->cfg;
	struct flood *f = NULL;
	int ep = -1;

	hist_reset(&th->st.rtt);
	th->err = setup_thread(th, &f, &ep);
	if (th->err < 0)
		return NULL;
	/* The pacer sleeps in epoll_pwait2 with ns timeouts; the default
	 * 50 us timer slack would blur even pacing at tens of thousands of
	 * datagrams a second. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	uint64_t t0 = th->t0_ns;
	uint64_t t_meas = t0 + (uint64_t)(cfg->warmup * 1e9);
	uint64_t t_send_end = t_meas + (uint64_t)(cfg->seconds * 1e9);
	uint64_t t_end = t_send_end + (uint64_t)(cfg->drain * 1e9);
	uint64_t burst = (uint64_t)cfg->burst_us * 1000u;
	uint64_t n_sched = 0, next_sec = t0 + NS;
	uint64_t live_sent = 0, live_recv = 0, live_ns = t0;
	unsigned rr = 0;
	bool stopped = false;

	struct timespec ts0 = {.tv_sec = (time_t)(t0 / NS), .tv_nsec = (long)(t0 % NS)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts0, NULL) == EINTR && !bench_stop)
		;

	for (;;) {
		uint64_t now = bench_now_ns();
		uint64_t wake = now + MAX_SLEEP_NS;
		th->st.wakeups++;
		if (bench_stop && !stopped && now < t_send_end) {
			/* SIGINT: end the measurement now, drain, report. */
			t_send_end = now > t_meas ? now : t_meas;
			t_end = now + (uint64_t)(cfg->drain * 1e9);
		}
		stopped = stopped || bench_stop;
		bool sending = now < t_send_end && !(bench_stop && now < t_meas);

		if (sending) {
			uint8_t ph = now >= t_meas ? BENCH_PHASE_MEAS : BENCH_PHASE_WARM;
			uint64_t due;
			if (cfg->pps <= 0) {
				due = (uint64_t)MAX_RATE_BATCH * th->nallocs;
				wake = now;
			} else {
				uint64_t q = burst ? t0 + (now - t0) / burst * burst : now;
				uint64_t target = (uint64_t)((double)(q - t0) * th->pps / 1e9) + 1;
				due = target > n_sched ? target - n_sched : 0;
				if (due > MAX_PER_WAKE) {
					due = MAX_PER_WAKE;
					wake = now;
				} else if (burst) {
					wake = q + burst;
				} else {
					wake = t0 + (uint64_t)ceil((double)(n_sched + due) * 1e9 / th->pps);
				}
				n_sched += due;
			}
			if (due)
				send_due(th, f, due, &rr, ph);
			if (wake > t_send_end)
				wake = t_send_end;
		} else {
			/* One-way: the drain is spent asking the sink (bench.c). */
			if (now >= t_end || cfg->mode == BENCH_ONEWAY)
				break;
			/* Every measured datagram is back: no need to wait out the drain. */
			if (cfg->mode == BENCH_RTT && th->st.received >= th->st.sent)
				break;
			wake = t_end;
		}
		publish(th);
		if (now >= next_sec) {
			for (unsigned i = 0; i < th->nallocs; i++)
				bench_turn_maint(cfg, th->allocs[i], now, &th->st);
			atomic_store_explicit(&th->pub_p50, hist_quantile(&f->sec, 0.5),
			                      memory_order_relaxed);
			atomic_store_explicit(&th->pub_p99, hist_quantile(&f->sec, 0.99),
			                      memory_order_relaxed);
			hist_reset(&f->sec);
			/* labelled by the middle of the second it describes */
			uint64_t mid = now - NS / 2;
			const char *phase = mid < t_meas ? "warmup" : mid < t_send_end ? "run" : "drain";
			if (th->id == 0 && cfg->live)
				live_line(th, now, &live_sent, &live_recv, &live_ns, phase);
			while (next_sec <= now)
				next_sec += NS;
		}
		if (wake > next_sec)
			wake = next_sec;
		uint64_t now2 = bench_now_ns();
		uint64_t dt = wake > now2 ? wake - now2 : 0;
		if (dt > MAX_SLEEP_NS)
			dt = MAX_SLEEP_NS;
		struct timespec to = {.tv_sec = (time_t)(dt / NS), .tv_nsec = (long)(dt % NS)};
		int n = epoll_pwait2(ep, f->ev, EPOLL_EVENTS, &to, NULL);
		for (int i = 0; i < n; i++)
			drain(th, f, f->ev[i].data.ptr);
	}
	th->meas_end_ns = t_send_end;
	publish(th);
	close(ep);
	free(f->slots);
	free(f);
	return NULL;
}
