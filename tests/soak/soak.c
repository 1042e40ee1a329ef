/* Soak: ternd under a steady, modest load for a bounded time.
 *
 *   soak TERND [SECONDS]      (default: $SOAK_SECONDS, else 600)
 *
 * For the whole run:
 *   - FLOWS allocations carry ChannelData at RATE datagrams/s in all
 *     (default 2000/s, $SOAK_RATE; far below saturation) through echo peers
 *     and back; each lives 15-45 s, is refreshed every 4 s (LIFETIME 12,
 *     with its permission and channel binding), and then is either deleted
 *     (Refresh 0) or abandoned to expire; a new one takes its place;
 *   - CHURN_HZ short allocations a second without data: allocated with the
 *     server's 3 s default lifetime, then deleted at once, refreshed once and
 *     abandoned, or abandoned at once (they expire).
 * Asserted:
 *   - zero loss: every datagram sent comes back, intact (checked per flow
 *     before it is deleted or abandoned);
 *   - after warm-up, VmRSS stays within RSS_SLACK_KB of its level and the
 *     server's open descriptors stay equal to a constant + one relay socket
 *     per live allocation (stats socket);
 *   - every Allocate, Refresh, CreatePermission and ChannelBind succeeds;
 *   - at the end (everything deleted or expired): allocations created -
 *     deleted = live = 0, created = the soak's successful Allocates, deleted
 *     = the soak's deletions + expiries, expiries = the abandoned ones,
 *     relayed_to_peer = datagrams sent, relayed_to_client = datagrams
 *     received, nothing dropped (server, kernel, send queue), descriptors
 *     back to where they were before the first allocation;
 *   - no sanitizer report: ASAN_OPTIONS / UBSAN_OPTIONS log_path is set for
 *     the server, so an ASan+UBSan ternd's reports land in files that must
 *     not exist at the end; the server must exit 0 (LeakSanitizer too).
 * Prints a line of counters every 10 s. */
#include "attack.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/bytes.h"

#define FLOWS        16
#define PEERS        4
#define CHURN_HZ     3
#define RSS_SLACK_KB 1024
#define MAGIC        0x50414B53u /* "SKAP" */
#define FLOW_LIFE    12          /* s, LIFETIME asked by flows */

enum flow_state { F_IDLE, F_ACTIVE, F_DRAINING };

struct flow {
	struct turnc c;
	enum flow_state st;
	bool open;
	uint16_t id, gen, channel;
	unsigned peer;
	union tern_addr relay;
	uint64_t sent, recv;
	int64_t next_refresh, end_of_life, drain_deadline;
	bool expire; /* abandon instead of delete */
};

static struct at_srv S;
static struct flow flows[FLOWS];
static struct peer peers[PEERS];
static struct turnc_resp r;
static uint64_t rng = 0x2545F4914F6CDD1DULL;

static struct {
	uint64_t allocs, deletes, abandoned, refreshes, perms, binds, failures;
	uint64_t sent, recv, lost, bad;
	uint64_t churn;
} T;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void fail(const char *what, int rc)
{
	T.failures++;
	if (T.failures <= 20)
		tap_diag("FAILED: %s: %s", what, it_outcome(rc));
}

/* ---- flows ---- */

static size_t payload(uint8_t *b, const struct flow *f, uint64_t seq)
{
	size_t len = 60 + (size_t)(seq * 37 % 340);
	wr32(b, MAGIC);
	wr16(b + 4, f->id);
	wr16(b + 6, f->gen);
	wr32(b + 8, (uint32_t)seq);
	for (size_t i = 12; i < len; i++)
		b[i] = (uint8_t)(seq + i);
	return len;
}

static void flow_start(struct flow *f, int64_t now)
{
	f->gen++;
	f->sent = f->recv = 0;
	f->channel = (uint16_t)(0x4000 + f->id);
	f->peer = f->id % PEERS;
	if (turnc_open(&f->c, &S.s.addr) < 0) {
		fail("open a flow socket", -errno);
		return;
	}
	f->open = true;
	turnc_set_creds(&f->c, IT_USER, IT_PASS);
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	o.lifetime = FLOW_LIFE;
	int rc = turnc_allocate(&f->c, &o, &r);
	if (rc != 0) {
		fail("flow Allocate", rc);
		return;
	}
	T.allocs++;
	f->relay = r.relayed[0];
	rc = turnc_channel_bind(&f->c, f->channel, &peers[f->peer].addr, &r);
	if (rc != 0) {
		fail("flow ChannelBind", rc);
		return;
	}
	T.binds++;
	f->st = F_ACTIVE;
	f->next_refresh = now + 4000;
	f->end_of_life = now + 15000 + rnd() % 30000;
	f->expire = rnd() % 5 < 2;
}

static void flow_refresh(struct flow *f, int64_t now)
{
	int rc = turnc_refresh(&f->c, FLOW_LIFE, &r);
	if (rc != 0 || r.lifetime != FLOW_LIFE)
		fail("flow Refresh", rc);
	else
		T.refreshes++;
	rc = turnc_permission(&f->c, &peers[f->peer].addr, 1, &r);
	if (rc != 0)
		fail("flow CreatePermission", rc);
	else
		T.perms++;
	rc = turnc_channel_bind(&f->c, f->channel, &peers[f->peer].addr, &r);
	if (rc != 0)
		fail("flow ChannelBind refresh", rc);
	else
		T.binds++;
	f->next_refresh = now + 4000;
}

static void flow_end(struct flow *f)
{
	T.lost += f->sent - f->recv;
	if (f->sent != f->recv)
		tap_diag("flow %u gen %u: sent %llu, received %llu", f->id, f->gen,
		         (unsigned long long)f->sent, (unsigned long long)f->recv);
	if (!f->expire) {
		int rc = turnc_refresh(&f->c, 0, &r);
		if (rc != 0)
			fail("flow delete", rc);
		else
			T.deletes++;
	} else {
		T.abandoned++;
	}
	turnc_close(&f->c);
	f->open = false;
	f->st = F_IDLE;
}

static void flow_receive(struct flow *f)
{
	static struct turnc_data d;
	int rc;
	while ((rc = turnc_recv(&f->c, &d, 0)) == 1) {
		bool ok = d.is_channel && d.channel == f->channel && d.len >= 12 && rd32(d.data) == MAGIC &&
		          rd16(d.data + 4) == f->id && rd16(d.data + 6) == f->gen;
		if (ok) {
			uint64_t seq = rd32(d.data + 8);
			static uint8_t want[512];
			size_t len = payload(want, f, seq);
			ok = len == d.len && memcmp(want, d.data, len) == 0 && seq < f->sent;
		}
		if (!ok) {
			T.bad++;
			continue;
		}
		f->recv++;
		T.recv++;
	}
}

/* ---- churn (no data) ---- */

static void churn(void)
{
	struct turnc c;
	if (turnc_open(&c, &S.s.addr) < 0) {
		fail("open a churn socket", -errno);
		return;
	}
	turnc_set_creds(&c, IT_USER2, IT_PASS2);
	int rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	if (rc != 0) {
		fail("churn Allocate", rc);
		goto out;
	}
	T.allocs++;
	T.churn++;
	rc = turnc_permission(&c, &peers[rnd() % PEERS].addr, 1, &r);
	if (rc != 0)
		fail("churn CreatePermission", rc);
	else
		T.perms++;
	switch (rnd() % 3) {
	case 0:
		rc = turnc_refresh(&c, 0, &r);
		if (rc != 0)
			fail("churn delete", rc);
		else
			T.deletes++;
		break;
	case 1:
		rc = turnc_refresh(&c, 5, &r);
		if (rc != 0)
			fail("churn Refresh", rc);
		else
			T.refreshes++;
		T.abandoned++;
		break;
	default:
		T.abandoned++;
		break;
	}
out:
	turnc_close(&c);
}

/* ---- echo peers ---- */

static void echo(struct peer *p)
{
	static uint8_t buf[2048];
	for (;;) {
		union tern_addr from;
		socklen_t alen = sizeof(from);
		ssize_t n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &alen);
		if (n < 0)
			return;
		sendto(p->fd, buf, (size_t)n, 0, &from.sa, alen);
	}
}

/* ---- warm-up ---- */

/* Each worker receives into 4 batches of 64 slots of 2 KiB, whose pages
 * are first touched when a queue is deep enough to fill them: a one-time
 * growth of up to ~1 MiB that would otherwise land in the measurement. A
 * burst of Binding indications (keepalives: no answer, no state, no drop
 * counter) from 64 ports fills them now. The kernel may drop some of the
 * burst: drops are asserted relative to the counters after it. */
static void prime_receive_buffers(void)
{
	enum { SOCKS = 64, PER = 400, BATCH = 50 };
	uint8_t ind[STUN_HEADER_LEN];
	struct mmsghdr mm[BATCH];
	struct iovec iov = {ind, sizeof(ind)};
	at_hdr(ind, stun_type(STUN_BINDING, STUN_INDICATION), 0);
	for (unsigned i = 0; i < BATCH; i++)
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
	for (unsigned k = 0; k < SOCKS; k++) {
		struct turnc c;
		if (turnc_open(&c, &S.s.addr) < 0)
			continue;
		for (unsigned n = 0; n < PER; n += BATCH)
			sendmmsg(c.fd, mm, BATCH, 0);
		turnc_close(&c);
	}
	/* Until both workers have read all of it (the kernel's drop count
	 * arrives with the datagrams read after a drop). */
	struct at_stats a, b;
	int64_t deadline = it_now_ms() + 5000;
	at_stats_read(S.stats, &a);
	while (it_now_ms() < deadline) {
		it_sleep_ms(100);
		if (at_stats_read(S.stats, &b) == 0 && b.rx_client == a.rx_client)
			break;
		a = b;
	}
}

/* ---- sampling ---- */

struct sample {
	int64_t t;
	long rss, fds;
	struct at_stats st;
};

static bool sample(struct sample *s, int64_t t0)
{
	s->t = it_now_ms() - t0;
	s->rss = at_rss_kb(S.s.pid);
	s->fds = at_fd_count(S.s.pid);
	return s->rss > 0 && s->fds > 0 && at_stats_read(S.stats, &s->st) == 0;
}

static void print_sample(const struct sample *s)
{
	tap_diag("t=%4llds live=%-3llu created=%-6llu deleted=%-6llu expired=%-6llu to_peer=%-8llu "
	         "to_client=%-8llu dropped=%llu lost=%llu rss=%ldKiB fds=%ld",
	         (long long)(s->t / 1000), (unsigned long long)s->st.allocations_total,
	         (unsigned long long)s->st.allocations_created, (unsigned long long)s->st.allocations_deleted,
	         (unsigned long long)s->st.allocations_expired, (unsigned long long)s->st.relayed_to_peer,
	         (unsigned long long)s->st.relayed_to_client, (unsigned long long)s->st.dropped,
	         (unsigned long long)T.lost, s->rss, s->fds);
}

/* ---- sanitizer reports ---- */

static char san_dir[64];

static void sanitizer_logs_to(const char *dir)
{
	char v[512];
	const char *names[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	for (unsigned i = 0; i < 3; i++) {
		const char *old = getenv(names[i]);
		snprintf(v, sizeof(v), "%s%slog_path=%s/%s", old ? old : "", old && *old ? ":" : "", dir,
		         i == 1 ? "ubsan" : "asan");
		setenv(names[i], v, 1);
	}
}

static unsigned sanitizer_reports(const char *dir)
{
	unsigned n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "asan", 4) && strncmp(e->d_name, "ubsan", 5))
			continue;
		char path[512], line[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		tap_diag("sanitizer report %s:", path);
		for (int k = 0; f && k < 40 && fgets(line, sizeof(line), f); k++)
			tap_diag("| %s", strtok(line, "\n"));
		if (f)
			fclose(f);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[512];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	long seconds = argc > 2 ? atol(argv[2]) : getenv("SOAK_SECONDS") ? atol(getenv("SOAK_SECONDS")) : 600;
	long rate = getenv("SOAK_RATE") ? atol(getenv("SOAK_RATE")) : 2000;
	static const char *const args[] = {IT_AUTH_ARGS, "--allow-loopback-peers",
	                                   "--default-allocate-lifetime", "3", "--max-allocate-lifetime",
	                                   "60",
	                                   /* Sizes the 5-tuple hash table (2 slots per allocation):
	                                    * its pages are touched as new client ports land on
	                                    * random slots. With the default quota (131072) that
	                                    * table is 2 MiB per worker and fills in over tens of
	                                    * thousands of allocations: bounded, but it would hide
	                                    * a slow leak behind its own warm-up. */
	                                   "--total-quota", "4096", NULL};
	srv_setup(argc, argv);
	if (srv_is_coturn()) {
		printf("ok 1 - soak # SKIP needs ternd's stats socket\n0 passed, 0 failed\n");
		return 0;
	}
	if (seconds < 30 || rate < 1) {
		printf("not ok 1 - SECONDS >= 30 and SOAK_RATE >= 1 (got %ld, %ld)\n0 passed, 1 failed\n",
		       seconds, rate);
		return 1;
	}
	tap_watchdog((unsigned)seconds + 180);
	tap_diag("soak: %ld s, %ld datagrams/s over %d flows, %d short allocations/s", seconds, rate, FLOWS,
	         CHURN_HZ);
	snprintf(san_dir, sizeof(san_dir), "/tmp/tern-soak-XXXXXX");
	if (!mkdtemp(san_dir))
		return 1;
	sanitizer_logs_to(san_dir);
	if (!tap_check(at_srv_start(&S, 62, args) == 0, "server starts"))
		return tap_done();
	for (unsigned i = 0; i < PEERS; i++)
		if (!tap_check(peer_open(&peers[i], "127.0.0.1", 0) == 0, "echo peer %u", i))
			return tap_done();
	prime_receive_buffers();
	struct at_stats base;
	if (!tap_check(at_stats_read(S.stats, &base) == 0, "counters after the warm-up burst"))
		return tap_done();
	long fd_base = at_fd_count(S.s.pid);
	rng ^= (uint64_t)it_now_ms();

	int64_t t0 = it_now_ms(), end = t0 + seconds * 1000;
	int64_t warm = t0 + (seconds / 5 > 20 ? seconds / 5 : 20) * 1000;
	int64_t next_sample = t0 + 10000, next_churn = t0;
	struct sample s, first_warm = {0};
	bool have_warm = false;
	long rss_max = 0, fdx_min = 1 << 30, fdx_max = -(1 << 30);
	uint64_t due_total = 0;
	unsigned rr = 0;
	static uint8_t buf[512];

	for (unsigned i = 0; i < FLOWS; i++)
		flows[i].id = (uint16_t)i;
	for (;;) {
		int64_t now = it_now_ms();
		bool ending = now >= end;
		/* flows: start, refresh, drain, end */
		for (unsigned i = 0; i < FLOWS; i++) {
			struct flow *f = &flows[i];
			if (f->st == F_IDLE && !ending) {
				if (f->open)
					turnc_close(&f->c), f->open = false;
				flow_start(f, now);
			} else if (f->st == F_ACTIVE && (now >= f->end_of_life || ending)) {
				f->st = F_DRAINING;
				f->drain_deadline = now + 5000;
			} else if (f->st == F_ACTIVE && now >= f->next_refresh) {
				flow_refresh(f, now);
			}
			if (f->st == F_DRAINING && (f->recv == f->sent || now >= f->drain_deadline))
				flow_end(f);
		}
		if (ending) {
			bool busy = false;
			for (unsigned i = 0; i < FLOWS; i++)
				busy |= flows[i].st != F_IDLE;
			if (!busy)
				break;
		}
		/* churn */
		if (!ending && now >= next_churn) {
			churn();
			next_churn += 1000 / CHURN_HZ;
		}
		/* data: what is due at `rate`, round robin over active flows */
		uint64_t due = (uint64_t)(now - t0) * (uint64_t)rate / 1000;
		unsigned guard = 0;
		while (due_total < due && guard++ < 256) {
			struct flow *f = NULL;
			for (unsigned k = 0; k < FLOWS && !f; k++) {
				struct flow *g = &flows[(rr + k) % FLOWS];
				if (g->st == F_ACTIVE)
					f = g;
			}
			rr++;
			due_total++;
			if (!f)
				continue;
			size_t len = payload(buf, f, f->sent);
			if (turnc_send_channel(&f->c, f->channel, buf, len, false) == 0) {
				f->sent++;
				T.sent++;
			}
		}
		/* Behind (a slow request, a busy machine): catch up in bursts of
		 * at most 256 a turn, but forget a backlog older than a second. */
		if (due > due_total + (uint64_t)rate)
			due_total = due - (uint64_t)rate;
		/* wait for traffic, then move it */
		struct pollfd pfd[FLOWS + PEERS];
		unsigned np = 0;
		for (unsigned i = 0; i < PEERS; i++)
			pfd[np++] = (struct pollfd){.fd = peers[i].fd, .events = POLLIN};
		for (unsigned i = 0; i < FLOWS; i++)
			if (flows[i].open)
				pfd[np++] = (struct pollfd){.fd = flows[i].c.fd, .events = POLLIN};
		poll(pfd, np, 1);
		for (unsigned i = 0; i < PEERS; i++)
			echo(&peers[i]);
		for (unsigned i = 0; i < FLOWS; i++)
			if (flows[i].open)
				flow_receive(&flows[i]);
		/* every 10 s: counters, memory, descriptors */
		if (now >= next_sample && !ending) {
			next_sample += 10000;
			if (!sample(&s, t0)) {
				tap_check(false, "sample the server at t=%llds",
				          (long long)((now - t0) / 1000));
				continue;
			}
			print_sample(&s);
			if (now >= warm) {
				if (!have_warm) {
					first_warm = s;
					have_warm = true;
				}
				if (s.rss > rss_max)
					rss_max = s.rss;
				long fdx = s.fds - (long)s.st.allocations_total;
				if (fdx < fdx_min)
					fdx_min = fdx;
				if (fdx > fdx_max)
					fdx_max = fdx;
			}
		}
	}
	tap_diag("load stopped after %.1f s; waiting for the abandoned allocations to expire",
	         (double)(it_now_ms() - t0) / 1000);
	/* Every abandoned allocation expires within FLOW_LIFE s (+ a timer turn). */
	int64_t deadline = it_now_ms() + (FLOW_LIFE + 10) * 1000;
	bool drained = false;
	while (it_now_ms() < deadline) {
		if (sample(&s, t0) && s.st.allocations_total == 0) {
			drained = true;
			break;
		}
		it_sleep_ms(200); /* a protocol timer: allocation lifetimes */
	}
	print_sample(&s);

	tap_diag("soak client: %llu allocations (%llu short), %llu deleted, %llu abandoned, %llu refreshes, "
	         "%llu permissions, %llu channel binds, %llu failures",
	         (unsigned long long)T.allocs, (unsigned long long)T.churn, (unsigned long long)T.deletes,
	         (unsigned long long)T.abandoned, (unsigned long long)T.refreshes,
	         (unsigned long long)T.perms, (unsigned long long)T.binds, (unsigned long long)T.failures);
	tap_diag("soak data: %llu sent, %llu received, %llu lost, %llu bad", (unsigned long long)T.sent,
	         (unsigned long long)T.recv, (unsigned long long)T.lost, (unsigned long long)T.bad);

	/* A sanity check that the load ran (this client shares the machine
	 * with the server, and with other tests under ctest -j). */
	tap_check(T.sent >= (uint64_t)(rate * seconds / 2),
	          "the load ran: %llu datagrams sent (>= half of %ld/s for %ld s)",
	          (unsigned long long)T.sent, rate, seconds);
	tap_int((long)T.lost, 0, "zero loss: every datagram came back through the relay (%llu)",
	        (unsigned long long)T.recv);
	tap_int((long)T.bad, 0, "every datagram came back intact, on its own flow and channel");
	tap_int((long)T.failures, 0,
	        "every Allocate, Refresh, CreatePermission, ChannelBind and delete succeeded");
	tap_check(T.deletes > 0 && T.abandoned > 0 && T.refreshes > 0,
	          "allocations were deleted (%llu), expired (%llu) and refreshed (%llu)",
	          (unsigned long long)T.deletes, (unsigned long long)T.abandoned,
	          (unsigned long long)T.refreshes);
	if (tap_check(have_warm, "samples after warm-up")) {
		at_check_rss(S.s.pid, rss_max - first_warm.rss, RSS_SLACK_KB,
		             "VmRSS flat after warm-up: %ld KiB at t=%llds, at most %ld KiB later",
		             first_warm.rss, (long long)(first_warm.t / 1000), rss_max);
		tap_check(
		    fdx_max - fdx_min <= 3,
		    "descriptors flat after warm-up: open fds - live allocations stayed within %ld..%ld",
		    fdx_min, fdx_max);
	}
	tap_check(drained, "every allocation is gone within %d s of the end", FLOW_LIFE + 10);
	struct at_stats *st = &s.st;
	tap_int((long)(st->allocations_created - st->allocations_deleted), (long)st->allocations,
	        "allocations created - deleted = live (%llu - %llu = %llu)",
	        (unsigned long long)st->allocations_created, (unsigned long long)st->allocations_deleted,
	        (unsigned long long)st->allocations);
	tap_int((long)st->allocations_created, (long)T.allocs, "allocations_created = the soak's Allocates");
	tap_int((long)st->allocations_expired, (long)T.abandoned, "allocations_expired = the abandoned ones");
	tap_int((long)st->allocations_deleted, (long)(T.deletes + T.abandoned),
	        "allocations_deleted = deleted + expired");
	tap_int((long)st->relayed_to_peer, (long)T.sent, "relayed_to_peer = datagrams sent");
	tap_int((long)st->relayed_to_client, (long)T.recv, "relayed_to_client = datagrams received");
	tap_int((long)(st->dropped - base.dropped), 0, "nothing dropped by the server");
	tap_int((long)(st->kernel_drops - base.kernel_drops), 0,
	        "nothing dropped by the kernel (SK_MEMINFO_DROPS)");
	tap_int((long)(st->tx_drops - base.tx_drops), 0, "nothing dropped on the send side");
	tap_int(s.fds, fd_base, "open descriptors back to the base (%ld)", fd_base);
	tap_check(srv_alive(&S.s), "server still running");
	at_srv_stop(&S);
	tap_int(sanitizer_reports(san_dir), 0, "no sanitizer report from the server");
	remove_dir(san_dir);
	for (unsigned i = 0; i < PEERS; i++)
		peer_close(&peers[i]);
	return tap_done();
}
