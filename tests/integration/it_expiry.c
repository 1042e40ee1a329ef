/* Expiry of allocations, permissions and channels (RFC 8656 §7, §9, §12),
 * with lifetimes shortened to a couple of seconds so the whole test sleeps
 * once, about four seconds: a protocol timer, never a speed assertion.
 * Expiry must never be early; it may be up to EXPIRY_SLACK_MS late. */
#include "it.h"

#include <errno.h>
#include <string.h>

#define SHORT_S         2
#define EXPIRY_SLACK_MS 2000
#define WAIT_MS         2000
#define QUIET_MS        300

static struct turnc_resp r;
static struct turnc_data d;
static uint8_t buf[65536];

static bool client_gets(struct turnc *c, const char *payload, int timeout_ms)
{
	size_t len = strlen(payload);
	int rc = turnc_recv(c, &d, timeout_ms);
	return rc > 0 && d.len == len && memcmp(d.data, payload, len) == 0;
}

static bool peer_gets(struct peer *p, const char *payload, int timeout_ms)
{
	size_t len = strlen(payload);
	int n = peer_recv(p, buf, sizeof(buf), NULL, timeout_ms);
	return n == (int)len && memcmp(buf, payload, len) == 0;
}

int main(int argc, char **argv)
{
	struct srv s, s2;
	struct turnc a, b, c, e;
	struct peer p1, p2;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	int rc;
	/* --default-allocate-lifetime is tern's (dropped for coturn). */
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--permission-lifetime",
	                      "2",
	                      "--channel-lifetime",
	                      "2",
	                      "--default-allocate-lifetime",
	                      "2",
	                      NULL};
	const char *args2[] = {IT_AUTH_ARGS, "--max-allocate-lifetime", "2", NULL};

	srv_setup(argc, argv);
	tap_watchdog(120);
	if (!tap_check(srv_start(&s, 16, args) == 0,
	               "server 1 (2 s permission/channel/default lifetimes) starts") ||
	    !tap_check(srv_start(&s2, 8, args2) == 0, "server 2 (--max-allocate-lifetime 2) starts"))
		return tap_done();
	if (it_client(&a, &s, AF_INET) < 0 || it_client(&b, &s, AF_INET) < 0 ||
	    it_client(&c, &s, AF_INET) < 0 || it_client(&e, &s2, AF_INET) < 0 ||
	    peer_open(&p1, "127.0.0.1", 0) < 0 || peer_open(&p2, "127.0.0.2", 0) < 0) {
		tap_check(false, "open clients and peers");
		return tap_done();
	}

	/* a: no LIFETIME, gets the 2 s default (RFC 8656 §7.2 would raise a
	 * shorter requested LIFETIME to the default, so the default is the knob). */
	rc = turnc_allocate(&a, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "a: Allocate on server 1: %s", it_outcome(rc));
	bool a_short =
	    it_check_tern(r.lifetime == SHORT_S, "a: LIFETIME is --default-allocate-lifetime %d (got %u)",
	                  SHORT_S, r.lifetime);
	/* e: LIFETIME 600 capped to the 2 s maximum. */
	o = TURNC_ALLOC_DEFAULT;
	o.lifetime = 600;
	rc = turnc_allocate(&e, &o, &r);
	tap_check(rc == 0 && r.lifetime == SHORT_S,
	          "e: Allocate with LIFETIME 600 on server 2 is capped at --max-allocate-lifetime %d: %s, "
	          "LIFETIME %u",
	          SHORT_S, it_outcome(rc), r.lifetime);

	/* b: long allocation, a permission for p1 and a channel to p2. */
	rc = turnc_allocate(&b, &o, &r);
	union tern_addr relay_b = r.relayed[0];
	tap_check(rc == 0 && r.lifetime == 600, "b: Allocate with LIFETIME 600: %s", it_outcome(rc));
	rc = turnc_permission(&b, &p1.addr, 1, &r);
	tap_check(rc == 0, "b: CreatePermission for p1: %s", it_outcome(rc));
	rc = turnc_channel_bind(&b, 0x4000, &p2.addr, &r);
	tap_check(rc == 0, "b: ChannelBind 0x4000 to p2 (127.0.0.2): %s", it_outcome(rc));
	peer_send(&p1, &relay_b, "p1 early", 8);
	tap_check(client_gets(&b, "p1 early", WAIT_MS),
	          "b: p1 reaches the client while the permission lives");
	peer_send(&p2, &relay_b, "p2 early", 8);
	tap_check(client_gets(&b, "p2 early", WAIT_MS), "b: p2 reaches the client while the channel lives");
	turnc_send_channel(&b, 0x4000, "to p2 early", 11, false);
	tap_check(peer_gets(&p2, "to p2 early", WAIT_MS),
	          "b: ChannelData reaches p2 while the channel lives");

	/* c: long allocation whose permission is refreshed before it expires. */
	rc = turnc_allocate(&c, &o, &r);
	union tern_addr relay_c = r.relayed[0];
	tap_check(rc == 0, "c: Allocate: %s", it_outcome(rc));
	rc = turnc_permission(&c, &p1.addr, 1, &r);
	tap_check(rc == 0, "c: CreatePermission for p1: %s", it_outcome(rc));

	/* Wait out the 2 s lifetimes, refreshing c's permission every second. */
	int64_t t0 = it_now_ms();
	unsigned refreshed = 0;
	while (it_now_ms() - t0 < SHORT_S * 1000 + EXPIRY_SLACK_MS) {
		it_sleep_ms(1000);
		if (turnc_permission(&c, &p1.addr, 1, &r) == 0)
			refreshed++;
	}
	tap_check(refreshed >= 3, "c: permission refreshed %u times while waiting", refreshed);

	rc = turnc_refresh(&e, 600, &r);
	tap_int(rc, 437, "e: the 2 s allocation has expired: Refresh is answered 437");
	rc = turnc_allocate(&e, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "e: the expired 5-tuple can allocate again: %s", it_outcome(rc));
	if (a_short) {
		rc = turnc_refresh(&a, 600, &r);
		tap_int(rc, 437, "a: the default-lifetime allocation has expired: Refresh is answered 437");
	} else {
		tap_skip("no short default lifetime on this server", "a: default-lifetime allocation expiry");
	}

	peer_send(&p1, &relay_b, "p1 late", 7);
	tap_check(!client_gets(&b, "p1 late", QUIET_MS),
	          "b: after permission expiry p1 no longer reaches the client");
	peer_send(&p2, &relay_b, "p2 late", 7);
	tap_check(!client_gets(&b, "p2 late", QUIET_MS),
	          "b: after channel expiry p2 no longer reaches the client (its permission expired too)");
	turnc_send_channel(&b, 0x4000, "to p2 late", 10, false);
	tap_check(!peer_gets(&p2, "to p2 late", QUIET_MS),
	          "b: ChannelData on the expired channel is dropped");
	turnc_send(&b, &p1.addr, "send late", 9);
	tap_check(!peer_gets(&p1, "send late", QUIET_MS),
	          "b: Send indication after permission expiry is dropped");
	rc = turnc_refresh(&b, 600, &r);
	tap_check(rc == 0, "b: the allocation itself outlives its permissions: %s", it_outcome(rc));

	peer_send(&p1, &relay_c, "c kept", 6);
	tap_check(client_gets(&c, "c kept", WAIT_MS), "c: a refreshed permission keeps relaying");

	rc = turnc_permission(&b, &p1.addr, 1, &r);
	tap_check(rc == 0, "b: a new CreatePermission after expiry: %s", it_outcome(rc));
	peer_send(&p1, &relay_b, "p1 again", 8);
	tap_check(client_gets(&b, "p1 again", WAIT_MS), "b: p1 relayed again with the new permission");
	/* The expired channel may be bound again to the same peer. */
	rc = turnc_channel_bind(&b, 0x4000, &p2.addr, &r);
	tap_check(rc == 0, "b: rebinding the expired channel to the same peer: %s", it_outcome(rc));
	turnc_send_channel(&b, 0x4000, "chan again", 10, false);
	tap_check(peer_gets(&p2, "chan again", WAIT_MS), "b: ChannelData flows on the rebound channel");

	turnc_refresh(&a, 0, &r);
	turnc_refresh(&b, 0, &r);
	turnc_refresh(&c, 0, &r);
	turnc_refresh(&e, 0, &r);
	turnc_close(&a);
	turnc_close(&b);
	turnc_close(&c);
	turnc_close(&e);
	peer_close(&p1);
	peer_close(&p2);
	srv_stop_check(&s);
	srv_stop_check(&s2);
	return tap_done();
}
