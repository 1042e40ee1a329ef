/* A relay socket closed by the core must not be closed for real before the
 * datagrams queued to it have left (issue 8, item 1).
 *
 * The worker queues sends during a loop turn and flushes them at its end.
 * It used to close a deleted allocation's relay socket at once: when another
 * allocation's socket was opened later in the same turn, the kernel handed
 * it the same fd number, and the flush sent the first user's data from the
 * second user's relayed address, to a peer its owner never permitted.
 *
 * To put the three datagrams that make this happen into one receive batch,
 * the test stops ternd (SIGSTOP), queues them on its listening socket and
 * lets it go on (SIGCONT): alice's Send indication to her peer, alice's
 * Refresh with LIFETIME 0, bob's Allocate. One worker, so one loop turn
 * sees all three. The peer must get alice's data from alice's relayed
 * address, and nothing from bob's. */
#include "it.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#define WAIT_MS  2000
#define QUIET_MS 300

static struct turnc_resp r;
static uint8_t buf[65536];

static int build(struct turnc *c, struct turnc_req *q, uint8_t txid[STUN_TXID_LEN], uint8_t *out, size_t cap)
{
	turnc_random_txid(txid);
	return turnc_build(c, q, txid, true, out, cap);
}

static void one_round(struct srv *s, unsigned round)
{
	struct turnc alice, bob;
	struct peer p;
	union tern_addr ra, rb, from;
	uint8_t refresh[512], allocate[512], t_refresh[STUN_TXID_LEN], t_alloc[STUN_TXID_LEN];
	struct turnc_req q;

	if (peer_open(&p, "127.0.0.1", 0) < 0 || it_client_alloc(&alice, s, AF_INET, &r) < 0)
		return;
	ra = r.relayed[0];
	if (!tap_check(turnc_permission(&alice, &p.addr, 1, &r) == 0, "round %u: alice's permission", round))
		return;
	if (it_client(&bob, s, AF_INET) < 0)
		return;
	turnc_set_creds(&bob, IT_USER2, IT_PASS2);
	if (!tap_check(turnc_learn_nonce(&bob) == 0, "round %u: bob learns the nonce", round))
		return;

	turnc_req_init(&q, TURN_REFRESH);
	turnc_req_add_u32(&q, STUN_A_LIFETIME, 0);
	int nref = build(&alice, &q, t_refresh, refresh, sizeof(refresh));
	turnc_req_init(&q, TURN_ALLOCATE);
	static const uint8_t udp[4] = {STUN_TRANSPORT_UDP, 0, 0, 0};
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, udp, sizeof(udp));
	int nall = build(&bob, &q, t_alloc, allocate, sizeof(allocate));
	if (!tap_check(nref > 0 && nall > 0, "round %u: requests built", round))
		return;

	/* Stopped, ternd reads nothing: the three datagrams wait in its
	 * listening socket and are read in one recvmmsg when it goes on. */
	kill(s->pid, SIGSTOP);
	int sent = turnc_send(&alice, &p.addr, "alice-only", 10);
	sent |= turnc_send_raw(&alice, refresh, (size_t)nref) < 0;
	sent |= turnc_send_raw(&bob, allocate, (size_t)nall) < 0;
	kill(s->pid, SIGCONT);
	tap_check(sent == 0, "round %u: Send, Refresh(0) and Allocate queued while ternd was stopped", round);

	int rc = turnc_wait_answer(&bob, t_alloc, &r, WAIT_MS);
	if (!tap_check(rc == 0 && r.cls == STUN_SUCCESS && r.nrelayed == 1,
	               "round %u: bob's Allocate succeeds (%s)", round,
	               rc == 0 ? (r.cls == STUN_SUCCESS ? "success" : "error") : "timeout"))
		return;
	rb = r.relayed[0];
	rc = turnc_wait_answer(&alice, t_refresh, &r, WAIT_MS);
	tap_check(rc == 0 && r.cls == STUN_SUCCESS, "round %u: alice's Refresh(0) succeeds", round);

	int n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	tap_check(n == 10 && memcmp(buf, "alice-only", 10) == 0, "round %u: the peer gets alice's data",
	          round);
	if (n >= 0 && !addr_equal(&from, &ra))
		tap_diag("round %u: it came from %s; alice's relay is %s, bob's %s", round, it_fmt(&from),
		         it_fmt(&ra), it_fmt(&rb));
	tap_check(n >= 0 && addr_equal(&from, &ra) && !addr_equal(&from, &rb),
	          "round %u: from alice's relayed address, not bob's", round);
	tap_int(peer_drain(&p, QUIET_MS, NULL), 0, "round %u: nothing else reaches the peer", round);

	/* bob's allocation works, on its own socket */
	turnc_close(&alice);
	rc = turnc_permission(&bob, &p.addr, 1, &r);
	turnc_send(&bob, &p.addr, "bob", 3);
	n = peer_recv(&p, buf, sizeof(buf), &from, WAIT_MS);
	tap_check(rc == 0 && n == 3 && addr_equal(&from, &rb), "round %u: bob's data leaves from bob's relay",
	          round);
	turnc_refresh(&bob, 0, &r);
	turnc_close(&bob);
	peer_close(&p);
}

int main(int argc, char **argv)
{
	struct srv s;
	const char *args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", "--workers", "1", NULL};

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (srv_is_coturn()) {
		tap_skip("ternd's loop turn", "fd reuse within one loop turn");
		return tap_done();
	}
	if (!tap_check(srv_start(&s, 16, args) == 0, "ternd (one worker) starts"))
		return tap_done();
	for (unsigned round = 1; round <= 3; round++)
		one_round(&s, round);
	tap_check(srv_alive(&s), "ternd is still running");
	srv_stop_check(&s);
	return tap_done();
}
