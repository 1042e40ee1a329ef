/* Attack: TCP connection abuse (TURN over TCP, RFC 8656 §3.1).
 *
 * 1. Flood: 200 connections from 8 loopback addresses (25 each) with
 *    max-connections-per-ip 20: exactly 160 are kept, exactly 40 closed at
 *    once (tcp_refused), and open descriptors grow by exactly 160.
 * 2. Slowloris: the 160 kept connections trickle one byte of a frame that
 *    never completes every 300 ms; max-allocate-timeout (2 s) closes every
 *    one (tcp_timeouts 160) and the descriptors come back to the base.
 * 3. Garbage: 50 connections send bytes that are no STUN: each is closed
 *    (tcp_bad_frames 50); 10 connections send a frame header claiming the
 *    longest STUN length and stop: closed by the timeout.
 * Throughout, a UDP client and a TCP client with allocations keep relaying
 * through echo peers, and VmRSS stays within 2 MiB of where it started.
 * Loopback only; every wait is bounded. */
#include "attack.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLOOD_ADDRS  8
#define PER_ADDR     25
#define PER_IP_LIMIT 20
#define GARBAGE      50
#define HALF_FRAMES  10
#define RSS_SLACK_KB 2048
#define WAIT_MS      2000

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

/* A connection from `from` that sends `bytes` (may be NULL: none). */
static int connect_from(const union tern_addr *server, const char *from, const void *bytes, size_t n)
{
	union tern_addr local = it_addr(from, 0);
	int fd = socket(server->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, &local.sa, addr_len(&local)) < 0 || connect(fd, &server->sa, addr_len(server)) < 0 ||
	    (n && send(fd, bytes, n, MSG_NOSIGNAL) != (ssize_t)n)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Poll the stats until cond holds or WAIT_MS * 3 passes. */
#define WAIT_STATS(S, st, cond)                                                                              \
	do {                                                                                                 \
		int64_t dl_ = it_now_ms() + 3 * WAIT_MS;                                                     \
		while (at_stats_read((S)->stats, &(st)) == 0 && !(cond) && it_now_ms() < dl_)                \
			it_sleep_ms(20);                                                                     \
	} while (0)

/* One ChannelData round trip for each legitimate client. */
static bool legit_relay(struct turnc *u, struct turnc *t, struct peer *pu, struct peer *pt, const char *when)
{
	bool ok = true;
	struct turnc *c[2] = {u, t};
	struct peer *p[2] = {pu, pt};
	for (int k = 0; k < 2; k++) {
		turnc_send_channel(c[k], 0x4001, "legit", 5, k == 1);
		union tern_addr from;
		int n = peer_recv(p[k], buf, sizeof(buf), &from, WAIT_MS);
		if (n == 5)
			peer_send(p[k], &from, buf, 5);
		ok &= n == 5 && turnc_recv(c[k], &d, WAIT_MS) == 1 && d.len == 5;
	}
	return tap_check(ok, "%s: the UDP and the TCP client still relay", when);
}

static bool legit_setup(struct at_srv *S, struct turnc *u, struct turnc *t, struct peer *pu, struct peer *pt)
{
	if (it_client_alloc(u, &S->s, AF_INET, &r) < 0)
		return false;
	if (turnc_open_tcp(t, &S->s.addr, WAIT_MS) < 0)
		return tap_check(false, "TCP client connects");
	turnc_set_creds(t, IT_USER2, IT_PASS2);
	if (!tap_check(turnc_allocate(t, &TURNC_ALLOC_DEFAULT, &r) == 0, "TCP client allocates"))
		return false;
	if (peer_open(pu, "127.0.0.1", 0) < 0 || peer_open(pt, "127.0.0.1", 0) < 0)
		return tap_check(false, "peers");
	return tap_check(turnc_channel_bind(u, 0x4001, &pu->addr, &r) == 0 &&
	                     turnc_channel_bind(t, 0x4001, &pt->addr, &r) == 0,
	                 "legitimate clients bind channels");
}

int main(int argc, char **argv)
{
	struct at_srv S;
	struct at_stats st, st0;
	struct turnc u, t;
	struct peer pu, pt;
	int fds[FLOOD_ADDRS * PER_ADDR];
	static const char *const args[] = {IT_AUTH_ARGS,
	                                   "--allow-loopback-peers",
	                                   "--workers",
	                                   "2",
	                                   "--max-connections-per-ip",
	                                   "20",
	                                   "--max-connections",
	                                   "10000",
	                                   "--max-allocate-timeout",
	                                   "2",
	                                   NULL};

	at_setup(argc, argv, "TCP abuse", 120);
	if (!tap_check(at_srv_start(&S, 8, args) == 0, "server starts (per-ip 20, allocate timeout 2 s)"))
		return tap_done();
	pid_t pid = S.s.pid;
	if (!legit_setup(&S, &u, &t, &pu, &pt))
		goto out;
	legit_relay(&u, &t, &pu, &pt, "before");
	at_settle(&u);
	at_stats_read(S.stats, &st0);
	long fd0 = at_fd_count(pid), rss0 = at_rss_kb(pid);

	/* 1. flood */
	/* a Binding request header announcing 8 bytes of attributes: trickled
	 * a byte at a time, it stays an incomplete frame (28 bytes) */
	static const uint8_t hdr[8] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
	static const uint8_t first = 0x00;
	unsigned made = 0;
	for (unsigned a = 0; a < FLOOD_ADDRS; a++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "127.0.1.%u", 10 + a);
		for (unsigned i = 0; i < PER_ADDR; i++) {
			int fd = connect_from(&S.s.addr, ip, &first, 1);
			fds[a * PER_ADDR + i] = fd;
			made += fd >= 0;
		}
	}
	tap_int(made, FLOOD_ADDRS * PER_ADDR, "flood: %d connections made", FLOOD_ADDRS * PER_ADDR);
	unsigned kept = FLOOD_ADDRS * PER_IP_LIMIT, refused = FLOOD_ADDRS * (PER_ADDR - PER_IP_LIMIT);
	WAIT_STATS(&S, st, st.tcp_accepted - st0.tcp_accepted + st.tcp_refused - st0.tcp_refused >= made);
	/* Sources whose counters collide (8192 slots under a random key: for 8
	 * addresses a 0.3% chance) share one bound: fewer may be kept, never
	 * more. */
	unsigned got_kept = (unsigned)(st.tcp_accepted - st0.tcp_accepted);
	unsigned got_refused = (unsigned)(st.tcp_refused - st0.tcp_refused);
	tap_check(got_kept + got_refused == made && got_kept <= kept && got_refused >= refused,
	          "flood: at most %u kept (%u), the rest closed at once (%u): the per-ip limit", kept,
	          got_kept, got_refused);
	if (got_kept != kept)
		tap_diag("flood: %u kept, not %u: sources shared a counter", got_kept, kept);
	kept = got_kept;
	tap_int(at_fd_count(pid) - fd0, kept, "flood: descriptors grew by exactly the kept connections");
	legit_relay(&u, &t, &pu, &pt, "during the flood");

	/* 2. slowloris: a byte of that header every 300 ms: 8 bytes in all,
	 * never a whole frame */
	int64_t end = it_now_ms() + 2100;
	for (unsigned b = 1; b < sizeof(hdr) && it_now_ms() < end; b++) {
		for (unsigned i = 0; i < FLOOD_ADDRS * PER_ADDR; i++)
			if (fds[i] >= 0)
				(void)send(fds[i], &hdr[b], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		it_sleep_ms(300);
	}
	WAIT_STATS(&S, st, st.tcp_timeouts - st0.tcp_timeouts >= kept);
	tap_int((long)(st.tcp_timeouts - st0.tcp_timeouts), kept,
	        "slowloris: every kept connection closed by max-allocate-timeout");
	tap_int((long)st.tcp_connections, 1, "slowloris: only the legitimate TCP client is left");
	for (unsigned i = 0; i < FLOOD_ADDRS * PER_ADDR; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	legit_relay(&u, &t, &pu, &pt, "after the slowloris");

	/* 3. garbage and half frames */
	static const uint8_t junk[8] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8};
	/* ChannelData announcing 65535 bytes, then 8 of them and nothing more:
	 * held (in 4 KiB: the buffer grows only as the frame arrives) until
	 * the timeout */
	static const uint8_t half[12] = {0x40, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8};
	struct at_stats st1;
	at_stats_read(S.stats, &st1);
	int hf[HALF_FRAMES];
	for (unsigned i = 0; i < GARBAGE; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "127.0.2.%u", 10 + i % 5); /* 10 each: under the per-ip limit */
		int fd = connect_from(&S.s.addr, ip, junk, sizeof(junk));
		if (fd >= 0)
			close(fd);
	}
	for (unsigned i = 0; i < HALF_FRAMES; i++)
		hf[i] = connect_from(&S.s.addr, "127.0.2.20", half, sizeof(half));
	WAIT_STATS(&S, st,
	           st.tcp_bad_frames - st1.tcp_bad_frames >= GARBAGE &&
	               st.tcp_timeouts - st1.tcp_timeouts >= HALF_FRAMES);
	tap_int((long)(st.tcp_bad_frames - st1.tcp_bad_frames), GARBAGE, "garbage: %d connections closed",
	        GARBAGE);
	tap_int((long)(st.tcp_timeouts - st1.tcp_timeouts), HALF_FRAMES,
	        "half frames: %d connections closed by the timeout", HALF_FRAMES);
	for (unsigned i = 0; i < HALF_FRAMES; i++)
		if (hf[i] >= 0)
			close(hf[i]);
	legit_relay(&u, &t, &pu, &pt, "after the garbage");

	at_settle(&u);
	if (!tap_int(at_fd_count(pid), fd0, "descriptors back to the base")) {
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "ss -tanpu | grep pid=%d | sed s/^/#/", (int)pid);
		if (system(cmd) != 0)
			tap_diag("could not list the server's descriptors");
	}
	long rss1 = at_rss_kb(pid);
	tap_diag("VmRSS %ld -> %ld KiB", rss0, rss1);
	at_check_rss(pid, rss1 - rss0, RSS_SLACK_KB, "VmRSS within %d KiB after the abuse", RSS_SLACK_KB);
	turnc_close(&t);
	turnc_close(&u);
	peer_close(&pu);
	peer_close(&pt);
out:
	at_srv_stop(&S);
	return tap_done();
}
