/* A TCP connection that goes idle gives its buffers back (the
 * once-a-second sweep frees an empty input and output buffer of a plain
 * TCP connection) and takes them again when it speaks: nothing it sent or
 * is sent may be lost on the way.
 *
 * After each idle pause (1.5 s: the sweep runs once a second, a protocol
 * timer of ternd, never a wait for something to settle): ChannelData of
 * 5000 bytes (a frame longer than the first 4 KiB buffer) reaches the
 * peer and the peer's 1500 bytes come back; half of a Binding request, a
 * pause, then the other half: answered (the bytes of a frame not yet whole
 * are kept across the sweep); a Refresh is answered at the end. ternd
 * exits 0. Loopback only. */
#include "it.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WAIT_MS 3000
#define IDLE_MS 1500
#define BIG     5000
#define BACK    1500 /* a relay socket takes datagrams of up to 2 KiB */

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

static void big_both_ways(struct turnc *c, struct peer *p, const union tern_addr *relayed, const char *when)
{
	static uint8_t big[BIG];
	union tern_addr from;
	for (unsigned i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 7 + when[0]);
	turnc_send_channel(c, 0x4000, big, BIG, true);
	int n = peer_recv(p, buf, sizeof(buf), &from, WAIT_MS);
	tap_check(n == BIG && memcmp(buf, big, BIG) == 0 && addr_equal(&from, relayed),
	          "%s: %d bytes of ChannelData reach the peer (%d)", when, BIG, n);
	peer_send(p, relayed, big, BACK);
	int rc = turnc_recv(c, &d, WAIT_MS);
	tap_check(rc == 1 && d.is_channel && d.len == BACK && memcmp(d.data, big, BACK) == 0,
	          "%s: the peer's %d bytes come back as ChannelData", when, BACK);
}

static void split_binding(struct turnc *c, const char *when)
{
	struct turnc_req q;
	uint8_t txid[STUN_TXID_LEN], msg[256];
	turnc_req_init(&q, STUN_BINDING);
	turnc_random_txid(txid);
	int n = turnc_build(c, &q, txid, false, msg, sizeof(msg));
	if (!tap_check(n > 10, "%s: a Binding request (%d bytes)", when, n))
		return;
	turnc_send_raw(c, msg, 10);
	it_sleep_ms(IDLE_MS); /* across a sweep with 10 bytes of it in ternd */
	turnc_send_raw(c, msg + 10, (size_t)n - 10);
	int rc = turnc_wait_answer(c, txid, &r, WAIT_MS);
	tap_check(rc == 0 && r.cls == STUN_SUCCESS,
	          "%s: half a Binding, a pause over the sweep, the other half: answered (%s)", when,
	          it_outcome(rc));
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	tap_watchdog(60);
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", NULL};
	struct srv s;
	if (!tap_check(srv_start(&s, 8, args) == 0, "server starts"))
		return tap_done();
	struct turnc c;
	struct peer p;
	int rc = turnc_open_tcp(&c, &s.addr, WAIT_MS);
	if (!tap_check(rc == 0, "TCP client connects")) {
		srv_stop(&s);
		return tap_done();
	}
	turnc_set_creds(&c, IT_USER, IT_PASS);
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relayed = r.relayed[0];
	rc = rc == 0 ? peer_open(&p, "127.0.0.1", 0) : rc;
	rc = rc == 0 ? turnc_channel_bind(&c, 0x4000, &p.addr, &r) : rc;
	if (tap_check(rc == 0, "allocation and channel over TCP (%s)", it_outcome(rc))) {
		big_both_ways(&c, &p, &relayed, "busy");
		it_sleep_ms(IDLE_MS);
		big_both_ways(&c, &p, &relayed, "after an idle pause");
		it_sleep_ms(IDLE_MS);
		split_binding(&c, "after an idle pause");
		big_both_ways(&c, &p, &relayed, "then");
		it_sleep_ms(IDLE_MS);
		rc = turnc_refresh(&c, 600, &r);
		tap_check(rc == 0, "after an idle pause: Refresh answered (%s)", it_outcome(rc));
		peer_close(&p);
	}
	turnc_close(&c);
	srv_stop_check(&s);
	return tap_done();
}
