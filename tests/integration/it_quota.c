/* Quotas: allocations per user (486), allocations in total and relay port
 * exhaustion (508), bandwidth per allocation (--max-bps).
 *
 * RFC 8656 §7.2: 486 (Allocation Quota Reached) is for a quota "based on the
 * username"; 508 (Insufficient Capacity) is for a server capacity limit,
 * "no more relayed transport addresses available". A total-allocations cap
 * is a capacity limit of the server, not of the user: ternd answers 508. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NCLIENTS 4

static struct turnc_resp r;

static int alloc_as(struct turnc *c, const struct srv *s, const char *user, const char *pass)
{
	int rc = turnc_open(c, &s->addr);
	if (rc < 0)
		return rc;
	turnc_set_creds(c, user, pass);
	return turnc_allocate(c, &TURNC_ALLOC_DEFAULT, &r);
}

static void user_quota(void)
{
	struct srv s;
	struct turnc c[NCLIENTS], b;
	const char *args[] = {IT_AUTH_ARGS, "--user-quota", "2", NULL};
	int rc;

	tap_diag("---- --user-quota 2 ----");
	if (!tap_check(srv_start(&s, 16, args) == 0, "server with --user-quota 2 starts"))
		return;
	rc = alloc_as(&c[0], &s, IT_USER, IT_PASS);
	tap_check(rc == 0, "alice: first allocation: %s", it_outcome(rc));
	rc = alloc_as(&c[1], &s, IT_USER, IT_PASS);
	tap_check(rc == 0, "alice: second allocation (another socket): %s", it_outcome(rc));
	rc = alloc_as(&c[2], &s, IT_USER, IT_PASS);
	tap_int(rc, 486, "alice: third allocation is answered 486 Allocation Quota Reached");
	tap_check(r.integrity_ok != 0, "the 486 is authenticated (MESSAGE-INTEGRITY valid or absent)");
	rc = alloc_as(&b, &s, IT_USER2, IT_PASS2);
	tap_check(rc == 0, "bob is not limited by alice's quota: %s", it_outcome(rc));

	rc = turnc_refresh(&c[0], 0, &r);
	tap_check(rc == 0, "alice deletes one allocation: %s", it_outcome(rc));
	rc = turnc_allocate(&c[2], &TURNC_ALLOC_DEFAULT, &r);
	it_check_tern(rc == 0, "alice's third socket can allocate once one is deleted: %s", it_outcome(rc));

	for (unsigned i = 0; i < 3; i++) {
		turnc_refresh(&c[i], 0, &r);
		turnc_close(&c[i]);
	}
	turnc_refresh(&b, 0, &r);
	turnc_close(&b);
	srv_stop_check(&s);
}

static void total_quota(void)
{
	struct srv s;
	struct turnc c[NCLIENTS];
	const char *args[] = {IT_AUTH_ARGS, "--total-quota", "3", NULL};
	int rc;

	tap_diag("---- --total-quota 3 ----");
	if (!tap_check(srv_start(&s, 16, args) == 0, "server with --total-quota 3 starts"))
		return;
	for (unsigned i = 0; i < 3; i++) {
		rc = alloc_as(&c[i], &s, i == 2 ? IT_USER2 : IT_USER, i == 2 ? IT_PASS2 : IT_PASS);
		tap_check(rc == 0, "allocation %u of 3: %s", i + 1, it_outcome(rc));
	}
	rc = alloc_as(&c[3], &s, IT_USER2, IT_PASS2);
	tap_check(rc == 486 || rc == 508, "fourth allocation is refused with 486 or 508 (%s)",
	          it_outcome(rc));
	it_check_tern(rc == 508,
	              "... precisely 508 Insufficient Capacity (a server limit, RFC 8656 §7.2) (%s)",
	              it_outcome(rc));
	rc = turnc_refresh(&c[0], 0, &r);
	tap_check(rc == 0, "one allocation deleted: %s", it_outcome(rc));
	rc = turnc_allocate(&c[3], &TURNC_ALLOC_DEFAULT, &r);
	it_check_tern(rc == 0, "then the fourth client can allocate: %s", it_outcome(rc));
	for (unsigned i = 0; i < NCLIENTS; i++) {
		turnc_refresh(&c[i], 0, &r);
		turnc_close(&c[i]);
	}
	srv_stop_check(&s);
}

static void port_exhaustion(void)
{
	struct srv s;
	struct turnc c[3];
	const char *args[] = {IT_AUTH_ARGS, NULL};
	int rc;

	tap_diag("---- relay range of two ports ----");
	if (!tap_check(srv_start(&s, 2, args) == 0, "server with --min-port X --max-port X+1 starts"))
		return;
	uint16_t used[2] = {0, 0};
	for (unsigned i = 0; i < 2; i++) {
		rc = alloc_as(&c[i], &s, IT_USER, IT_PASS);
		used[i] = addr_port(&r.relayed[0]);
		tap_check(rc == 0 && used[i] >= s.min_port && used[i] <= s.max_port,
		          "allocation %u gets a port in %u..%u: %s, port %u", i + 1, s.min_port, s.max_port,
		          it_outcome(rc), used[i]);
	}
	tap_check(used[0] != used[1], "the two allocations have different relay ports");
	rc = alloc_as(&c[2], &s, IT_USER, IT_PASS);
	tap_int(rc, 508, "third allocation with no relay port left is answered 508 Insufficient Capacity");
	rc = turnc_refresh(&c[0], 0, &r);
	tap_check(rc == 0, "one allocation deleted: %s", it_outcome(rc));
	rc = turnc_allocate(&c[2], &TURNC_ALLOC_DEFAULT, &r);
	it_check_tern(rc == 0 && addr_port(&r.relayed[0]) == used[0],
	              "the freed port is reused by the next allocation: %s, port %u", it_outcome(rc),
	              addr_port(&r.relayed[0]));
	for (unsigned i = 0; i < 3; i++) {
		turnc_refresh(&c[i], 0, &r);
		turnc_close(&c[i]);
	}
	srv_stop_check(&s);
}

/* Send at ~10x the limit for about a second; the far side must see no more
 * than the limit allows (1.5x margin, plus one second of burst). A rate bound
 * on what the server lets through, not a measure of our own speed. */
#define BPS           20000
#define PAYLOAD       500
#define SEND_MS       1000
#define SEND_EVERY_US 1000 /* 500 kB/s offered */

static void check_rate(const char *dir, size_t sent, size_t got, int64_t elapsed_ms)
{
	double limit = (double)BPS * (double)elapsed_ms / 1000.0;
	double allowed = 1.5 * limit + BPS;
	tap_diag("%s: offered %zu bytes, delivered %zu bytes in %lld ms (limit %d B/s -> %.0f bytes)", dir,
	         sent, got, (long long)elapsed_ms, BPS, limit);
	tap_check(sent > 3 * allowed, "%s: the offered load is well above the limit", dir);
	tap_check((double)got <= allowed, "%s: delivered %zu bytes <= 1.5 x limit + 1 s burst (%.0f)", dir,
	          got, allowed);
	tap_check(got > 0, "%s: traffic within the limit still flows (%zu bytes)", dir, got);
}

static void max_bps(void)
{
	struct srv s;
	struct turnc c;
	struct peer p;
	char bps[16];
	static uint8_t payload[PAYLOAD], buf[65536];
	static struct turnc_data d;
	int rc;

	snprintf(bps, sizeof(bps), "%d", BPS);
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--max-bps", bps, NULL};
	tap_diag("---- --max-bps %d ----", BPS);
	if (!tap_check(srv_start(&s, 8, args) == 0, "server with --max-bps starts"))
		return;
	if (it_client(&c, &s, AF_INET) < 0 || turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r) != 0 ||
	    peer_open(&p, "127.0.0.1", 0) < 0) {
		tap_check(false, "setup for --max-bps");
		goto out;
	}
	union tern_addr relay = r.relayed[0];
	rc = turnc_channel_bind(&c, 0x4001, &p.addr, &r);
	tap_check(rc == 0, "ChannelBind: %s", it_outcome(rc));
	memset(payload, 0x5a, sizeof(payload));

	/* client -> peer */
	size_t sent = 0, got = 0;
	int64_t t0 = it_now_ms(), next_us = 0;
	while (it_now_ms() - t0 < SEND_MS) {
		if (turnc_send_channel(&c, 0x4001, payload, sizeof(payload), false) == 0)
			sent += sizeof(payload);
		next_us += SEND_EVERY_US;
		int64_t wait = next_us / 1000 - (it_now_ms() - t0);
		if (wait > 0)
			it_sleep_ms((int)wait);
	}
	for (;;) {
		int n = peer_recv(&p, buf, sizeof(buf), NULL, 500);
		if (n < 0)
			break;
		got += (size_t)n;
	}
	check_rate("client->peer", sent, got, it_now_ms() - t0);

	/* peer -> client */
	sent = got = 0;
	t0 = it_now_ms();
	next_us = 0;
	while (it_now_ms() - t0 < SEND_MS) {
		if (peer_send(&p, &relay, payload, sizeof(payload)) == 0)
			sent += sizeof(payload);
		next_us += SEND_EVERY_US;
		int64_t wait = next_us / 1000 - (it_now_ms() - t0);
		if (wait > 0)
			it_sleep_ms((int)wait);
	}
	while (turnc_recv(&c, &d, 500) > 0)
		got += d.len;
	check_rate("peer->client", sent, got, it_now_ms() - t0);

	/* The allocation still works at a low rate afterwards. */
	it_sleep_ms(1100); /* let the bucket refill: a protocol timer, not a speed assumption */
	turnc_send_channel(&c, 0x4001, "after", 5, false);
	int n = peer_recv(&p, buf, sizeof(buf), NULL, 2000);
	tap_check(n == 5 && memcmp(buf, "after", 5) == 0, "after the burst, a small packet is relayed again");
	peer_close(&p);
	turnc_refresh(&c, 0, &r);
out:
	turnc_close(&c);
	srv_stop_check(&s);
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	tap_watchdog(240);
	user_quota();
	total_quota();
	port_exhaustion();
	max_bps();
	return tap_done();
}
