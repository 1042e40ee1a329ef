/* Attack: state exhaustion.
 *
 * 1. 100,000 unauthenticated Allocates from 2,000 source ports on 8
 *    loopback addresses (sockets taken in turn, sendmmsg batches: varied
 *    5-tuples as a spoofer would send) leave the server's resident memory
 *    (VmRSS) and its open descriptors flat: the challenge path keeps no
 *    state and opens nothing. Run twice: with the default rate limit (most
 *    requests are dropped unanswered) and with it off (every request is
 *    answered with a 401). Tolerance: RSS may grow by RSS_SLACK_KB = 512
 *    KiB (pages of fixed buffers touched for the first time, allocator
 *    noise), measured after a warm-up; one leaked malloc chunk (32 bytes)
 *    per request would add 3.1 MiB. Descriptors: exactly flat. A
 *    legitimate allocation relays before and after.
 * 2. Valid-credential abuse stops at the quotas: with --user-quota 3 and
 *    --total-quota 5 the 4th allocation of a user gets 486, the 6th of the
 *    server 508, hundreds more attempts change nothing (descriptors = base
 *    + one relay socket per allocation, RSS flat), and 500 create/delete
 *    cycles leave descriptors, memory and counters where they were. */
#include "attack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/bytes.h"

#define NSOCK        2000
#define NADDR        8
#define FLOOD        100000
#define RSS_SLACK_KB 512
#define PPS          40000 /* well below what one worker answers: the server reads everything */

static struct turnc_resp r;

struct flooder {
	int fds[NSOCK];
	unsigned n;
	int ep;
	uint64_t sent, answers;
};

static bool flooder_open(struct flooder *f, const union tern_addr *server)
{
	f->n = 0;
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	for (unsigned i = 0; i < NSOCK; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "127.0.2.%u", 10 + i % NADDR);
		union tern_addr local = it_addr(ip, 0);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			break;
		if (bind(fd, &local.sa, addr_len(&local)) < 0 ||
		    connect(fd, &server->sa, addr_len(server)) < 0) {
			close(fd);
			break;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = f->n};
		epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev);
		f->fds[f->n++] = fd;
	}
	return tap_int(f->n, NSOCK, "%d flood sockets on %d addresses (127.0.2.10-17)", NSOCK, NADDR);
}

static void flooder_close(struct flooder *f)
{
	for (unsigned i = 0; i < f->n; i++)
		close(f->fds[i]);
	close(f->ep);
}

static void drain(struct flooder *f, int timeout_ms)
{
	struct epoll_event ev[256];
	static uint8_t rx[2048];
	int n;
	while ((n = epoll_wait(f->ep, ev, 256, timeout_ms)) > 0) {
		for (int i = 0; i < n; i++)
			while (recv(f->fds[ev[i].data.u32], rx, sizeof(rx), 0) > 0)
				f->answers++;
		timeout_ms = 0;
	}
}

/* Send `count` unauthenticated 28-byte Allocates at about PPS (0: as fast
 * as the sockets take them), 8 per socket per turn, every one a new
 * transaction. */
static void flood(struct flooder *f, unsigned count, unsigned pps)
{
	enum { PER = 8 };
	static uint8_t reqs[PER][28];
	struct mmsghdr mm[PER];
	struct iovec iov[PER];
	for (unsigned i = 0; i < PER; i++) {
		size_t off = at_hdr(reqs[i], stun_type(TURN_ALLOCATE, STUN_REQUEST), 0);
		off = at_attr(reqs[i], off, STUN_A_REQUESTED_TRANSPORT, 4, "\x11\0\0\0", 4);
		at_fix_len(reqs[i], off);
		iov[i] = (struct iovec){reqs[i], 28};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	int64_t t0 = it_now_ms();
	uint64_t start = f->sent;
	unsigned next = 0;
	while (f->sent - start < count) {
		uint64_t due = pps ? (uint64_t)(it_now_ms() - t0) * pps / 1000 : count;
		while (f->sent - start < due && f->sent - start < count) {
			for (unsigned i = 0; i < PER; i++)
				wr32(reqs[i] + 8, (uint32_t)(f->sent + i));
			int s = sendmmsg(f->fds[next++ % f->n], mm, PER, 0);
			if (s <= 0)
				break;
			f->sent += (unsigned)s;
		}
		drain(f, 1);
	}
	drain(f, 300);
}

/* Until the server has read everything sent and its answers are in: its
 * request counter and our answer count both stop moving (at most 10 s; a
 * sanitizer build under load can lag seconds behind the flood). */
static void quiesce(struct flooder *f, const struct at_srv *S, struct at_stats *st)
{
	int64_t deadline = it_now_ms() + 10000;
	uint64_t prev_rx = UINT64_MAX;
	while (it_now_ms() < deadline) {
		uint64_t answers = f->answers;
		drain(f, 100);
		if (at_stats_read(S->stats, st) < 0)
			continue;
		if (st->rx_client == prev_rx && f->answers == answers)
			return;
		prev_rx = st->rx_client;
	}
}

static bool legit_relay(struct turnc *c, struct peer *p, const union tern_addr *relay, const char *when)
{
	unsigned ok = 0;
	static uint8_t rx[2048];
	for (unsigned i = 0; i < 10; i++) {
		union tern_addr from;
		static struct turnc_data d;
		turnc_send_channel(c, 0x4001, "ping", 4, false);
		if (peer_recv(p, rx, sizeof(rx), &from, 2000) != 4 || !addr_equal(&from, relay))
			continue;
		peer_send(p, relay, "pong", 4);
		if (turnc_recv(c, &d, 2000) == 1 && d.len == 4 && memcmp(d.data, "pong", 4) == 0)
			ok++;
	}
	return tap_int(ok, 10, "%s: the legitimate allocation relays both ways", when);
}

static void unauth_flood(bool limit)
{
	struct at_srv S;
	struct flooder f = {0};
	struct at_stats st0, st1;
	struct turnc c;
	struct peer p;
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", limit ? NULL : "--unauth-rate-limit",
	                      "0", NULL};
	const char *what = limit ? "default rate limit" : "rate limit off";

	tap_diag("---- %d unauthenticated Allocates, %s ----", FLOOD, what);
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "%s: server starts", what))
		return;
	pid_t pid = S.s.pid;
	if (it_client_alloc(&c, &S.s, AF_INET, &r) < 0)
		goto out;
	union tern_addr relay = r.relayed[0];
	if (peer_open(&p, "127.0.0.1", 0) < 0 || turnc_channel_bind(&c, 0x4001, &p.addr, &r) != 0) {
		tap_check(false, "%s: legitimate client binds a channel", what);
		goto out;
	}
	legit_relay(&c, &p, &relay, "before the flood");
	if (!flooder_open(&f, &S.s.addr))
		goto close;
	/* Warm-up: every buffer and code path the flood uses is touched once.
	 * An unpaced burst first: the workers' receive pools (4 batches of 64
	 * slots of 2 KiB each) are touched page by page only when the queue
	 * is deep enough to fill them. */
	flood(&f, 20000, 0);
	flood(&f, 10000, PPS);
	quiesce(&f, &S, &st0);
	long rss0 = at_rss_kb(pid), fd0 = at_fd_count(pid);
	f.answers = 0;
	uint64_t sent0 = f.sent;
	int64_t t0 = it_now_ms();
	/* Until the server has processed FLOOD requests (bounded). */
	uint64_t processed = 0;
	while (processed < FLOOD && f.sent - sent0 < 2 * FLOOD) {
		flood(&f, 10000, PPS);
		at_stats_read(S.stats, &st1);
		processed = st1.rx_client - st0.rx_client;
		if (getenv("AT_VERBOSE"))
			tap_diag("  %llu processed: VmRSS %ld KiB", (unsigned long long)processed,
			         at_rss_kb(pid));
	}
	double secs = (double)(it_now_ms() - t0) / 1000.0;
	/* The last answers may still be on their way (or requests queued). */
	quiesce(&f, &S, &st1);
	processed = st1.rx_client - st0.rx_client;
	long rss1 = at_rss_kb(pid), fd1 = at_fd_count(pid);
	uint64_t kdrops = st1.kernel_drops - st0.kernel_drops,
	         limited = st1.dropped_ratelimit - st0.dropped_ratelimit;
	tap_diag(
	    "%s: sent %llu, processed %llu in %.1f s, kernel drops %llu, answered %llu, rate-limited %llu",
	    what, (unsigned long long)(f.sent - sent0), (unsigned long long)processed, secs,
	    (unsigned long long)kdrops, (unsigned long long)f.answers, (unsigned long long)limited);
	tap_diag("%s: VmRSS %ld -> %ld KiB (%+ld), open fds %ld -> %ld", what, rss0, rss1, rss1 - rss0, fd0,
	         fd1);
	tap_check(processed >= FLOOD, "%s: the server processed %llu >= %d unauthenticated Allocates", what,
	          (unsigned long long)processed, FLOOD);
	tap_check(rss0 > 0 && rss1 > 0, "%s: VmRSS read", what);
	at_check_rss(pid, rss1 - rss0, RSS_SLACK_KB, "%s: VmRSS flat over the flood", what);
	tap_int(fd1, fd0, "%s: open descriptors flat (%ld)", what, fd0);
	tap_int((long)st1.allocations_total, 1, "%s: one allocation on the server (the legitimate one)",
	        what);
	tap_int((long)(st1.allocations_created - st0.allocations_created), 0, "%s: no allocation created",
	        what);
	if (limit)
		tap_check(limited > 0 && f.answers + limited == processed,
		          "%s: answered + rate-limited = processed (%llu + %llu)", what,
		          (unsigned long long)f.answers, (unsigned long long)limited);
	else
		tap_check(limited == 0 && f.answers == processed,
		          "%s: every request answered (%llu answers for %llu)", what,
		          (unsigned long long)f.answers, (unsigned long long)processed);
	legit_relay(&c, &p, &relay, "after the flood");
	flooder_close(&f);
close:
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);
	peer_close(&p);
out:
	at_srv_stop(&S);
}

/* ---- quotas ---- */

static int alloc_as(struct turnc *c, const struct srv *s, const char *ip, const char *user, const char *pass)
{
	union tern_addr local = it_addr(ip, 0);
	if (turnc_open_from(c, &s->addr, &local) < 0)
		return -EIO;
	turnc_set_creds(c, user, pass);
	return turnc_allocate(c, &TURNC_ALLOC_DEFAULT, &r);
}

static void quotas(void)
{
	struct at_srv S;
	struct at_stats st;
	static const char *const args[] = {IT_AUTH_ARGS, "--user-quota", "3", "--total-quota", "5", NULL};
	struct turnc a[3], b[2], extra;
	int rc;

	tap_diag("---- valid credentials: --user-quota 3 --total-quota 5 ----");
	if (!tap_check(at_srv_start(&S, 16, args) == 0, "quota server starts"))
		return;
	pid_t pid = S.s.pid;
	long fd0 = at_fd_count(pid), rss0;
	unsigned ok = 0;
	for (unsigned i = 0; i < 3; i++)
		ok += alloc_as(&a[i], &S.s, "127.0.0.1", IT_USER, IT_PASS) == 0;
	tap_int(ok, 3, "alice holds 3 allocations");
	rc = alloc_as(&extra, &S.s, "127.0.0.1", IT_USER, IT_PASS);
	tap_int(rc, 486, "alice's 4th Allocate: 486 Allocation Quota Reached");
	tap_check(r.integrity_ok == 1, "... signed (an authenticated answer)");
	turnc_close(&extra);
	ok = 0;
	for (unsigned i = 0; i < 2; i++)
		ok += alloc_as(&b[i], &S.s, "127.0.0.1", IT_USER2, IT_PASS2) == 0;
	tap_int(ok, 2, "bob holds 2 allocations (5 on the server)");
	rc = alloc_as(&extra, &S.s, "127.0.0.1", IT_USER2, IT_PASS2);
	tap_int(rc, 508, "bob's 3rd Allocate (the server's 6th): 508 Insufficient Capacity");
	turnc_close(&extra);
	rss0 = at_rss_kb(pid); /* the server is full: its state is what it will be */

	/* Abuse: 50 clients on 50 addresses, 4 attempts each, both users. */
	unsigned refused = 0, other = 0;
	for (unsigned i = 0; i < 50; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "127.0.3.%u", 10 + i);
		bool alice = i % 2 == 0;
		rc = alloc_as(&extra, &S.s, ip, alice ? IT_USER : IT_USER2, alice ? IT_PASS : IT_PASS2);
		for (unsigned k = 0; k < 4; k++) {
			if (k)
				rc = turnc_allocate(&extra, &TURNC_ALLOC_DEFAULT, &r);
			/* the total quota is checked first: 508 once the server is full */
			if (rc == 508 || (alice && rc == 486))
				refused++;
			else
				other++;
		}
		turnc_close(&extra);
	}
	tap_int(refused, 200,
	        "200 more Allocates with valid credentials are all refused (508: the server is full)");
	tap_int(other, 0, "... none succeeded or failed otherwise");
	long fd1 = at_fd_count(pid), rss1 = at_rss_kb(pid);
	tap_int(fd1 - fd0, 5, "descriptors: base + 5 relay sockets (%ld -> %ld)", fd0, fd1);
	at_check_rss(pid, rss1 - rss0, RSS_SLACK_KB, "VmRSS flat under the abuse");
	if (at_stats_read(S.stats, &st) == 0) {
		tap_int((long)st.allocations_total, 5, "allocations_total is 5");
		tap_int((long)st.allocations, 5, "live allocations summed over workers: 5");
	}

	/* Free everything, then churn: 500 create/delete cycles. */
	for (unsigned i = 0; i < 3; i++) {
		turnc_refresh(&a[i], 0, &r);
		at_settle(&a[i]);
		turnc_close(&a[i]);
	}
	for (unsigned i = 0; i < 2; i++) {
		turnc_refresh(&b[i], 0, &r);
		at_settle(&b[i]);
		turnc_close(&b[i]);
	}
	tap_int(at_fd_count(pid), fd0, "all deleted: descriptors back to the base");
	rc = alloc_as(&extra, &S.s, "127.0.0.1", IT_USER, IT_PASS);
	unsigned cycles = 0;
	for (unsigned i = 0; i < 500 && rc == 0; i++) {
		if (turnc_refresh(&extra, 0, &r) != 0)
			break;
		cycles++;
		if (i + 1 < 500)
			rc = turnc_allocate(&extra, &TURNC_ALLOC_DEFAULT, &r);
	}
	at_settle(&extra);
	turnc_close(&extra);
	tap_int(cycles, 500, "500 Allocate/delete cycles");
	long fd2 = at_fd_count(pid), rss2 = at_rss_kb(pid);
	tap_int(fd2, fd0, "descriptors back to the base after the cycles");
	at_check_rss(pid, rss2 - rss0, RSS_SLACK_KB, "VmRSS flat after the cycles (%ld -> %ld KiB)", rss0,
	             rss2);
	if (at_stats_read(S.stats, &st) == 0) {
		tap_int((long)st.allocations_total, 0, "allocations_total is 0");
		tap_int((long)(st.allocations_created - st.allocations_deleted), (long)st.allocations,
		        "allocations created - deleted = live (%llu - %llu = %llu)",
		        (unsigned long long)st.allocations_created,
		        (unsigned long long)st.allocations_deleted, (unsigned long long)st.allocations);
		tap_int((long)st.allocations_created, 505, "505 allocations were created in all");
	}
	tap_diag("quotas: VmRSS %ld -> %ld -> %ld KiB, fds %ld -> %ld -> %ld", rss0, rss1, rss2, fd0, fd1,
	         fd2);
	at_srv_stop(&S);
}

int main(int argc, char **argv)
{
	at_setup(argc, argv, "state exhaustion", 280);
	unauth_flood(true);
	unauth_flood(false);
	quotas();
	return tap_done();
}
