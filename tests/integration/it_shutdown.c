/* Graceful shutdown really drains what ternd still holds for a client.
 *
 * A client over TCP (then TLS) with a small receive buffer stops reading; a
 * peer sends ChannelData to it until ternd's own output queue for the
 * connection is full (tcp_output_dropped counts a frame refused: the
 * kernel's buffers are full and so is the queue, so when SIGTERM comes
 * ternd itself holds data for the client, not only the kernel).
 * relayed_to_client says how many frames ternd took for the client. Then
 * SIGTERM, and only then does the client read: every frame ternd took must
 * arrive, whole and in order, followed by a clean end (TCP: FIN; TLS:
 * close_notify), and ternd exits 0.
 *
 * With --shutdown-timeout 0 the queue is thrown away and the count check
 * fails: IT_SHUTDOWN_TIMEOUT=0 build/tests/integration/it_shutdown build/ternd
 * shows it. By default the server runs with its default (2 s).
 * Loopback only; every wait is bounded, nothing is timed. */
#include "it.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define WAIT_MS     3000
#define CHANNEL     0x4000
#define PAYLOAD     1200  /* a multiple of 4: no stream padding */
#define BURST       32    /* datagrams sent before ternd is asked how many it took */
#define MAX_SENT    20000 /* ~24 MB: far over any socket buffer plus the queue */
#define CLIENT_RBUF 4096

static struct turnc_resp r;
static struct it_certs certs;
static char dir[64] = "/tmp/tern-shutdown-XXXXXX";
static char stats_path[100];
static uint8_t rbuf[1 << 17];

/* Wait (bounded) until ternd has taken every datagram sent to the relay. */
static bool wait_rx_peer(long want)
{
	int64_t end = it_now_ms() + 5000;
	long got;
	while ((got = it_stats_sum(stats_path, "rx_peer")) < want && it_now_ms() < end)
		poll(NULL, 0, 1);
	return got >= want;
}

/* Read everything until the stream ends; count ChannelData frames and check
 * their sequence numbers rise. Returns the number of frames; *clean: the
 * end was FIN (TCP) or close_notify (TLS) with no partial frame before it. */
static unsigned read_all(struct turnc *c, bool *clean, bool *in_order, size_t *bytes)
{
	size_t have = 0;
	unsigned frames = 0;
	long last = -1;
	*in_order = true;
	*bytes = 0;
	*clean = false;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		int n;
		if (c->ssl) {
			n = SSL_read(c->ssl, rbuf + have, (int)(sizeof(rbuf) - have));
			if (n <= 0) {
				int err = SSL_get_error(c->ssl, n);
				ERR_clear_error();
				*clean = err == SSL_ERROR_ZERO_RETURN;
				if (!*clean)
					tap_diag("TLS read ended with SSL error %d", err);
				break;
			}
		} else {
			n = (int)recv(c->fd, rbuf + have, sizeof(rbuf) - have, 0);
			if (n <= 0) {
				*clean = n == 0;
				if (n < 0)
					tap_diag("TCP read ended with %s", strerror(errno));
				break;
			}
		}
		*bytes += (size_t)n;
		have += (size_t)n;
		size_t off = 0;
		while (have - off >= 4) {
			uint16_t ch = (uint16_t)(rbuf[off] << 8 | rbuf[off + 1]);
			size_t len = (size_t)(rbuf[off + 2] << 8 | rbuf[off + 3]);
			if (ch != CHANNEL || len != PAYLOAD) {
				tap_diag("unexpected frame: channel 0x%04x, %zu bytes", ch, len);
				*in_order = false;
				return frames;
			}
			if (have - off < 4 + len)
				break;
			const uint8_t *p = rbuf + off + 4;
			long seq =
			    (long)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
			*in_order &= seq > last;
			last = seq;
			frames++;
			off += 4 + len;
		}
		memmove(rbuf, rbuf + off, have - off);
		have -= off;
	}
	if (have) {
		tap_diag("%zu bytes of a partial frame at the end", have);
		*clean = false;
	}
	return frames;
}

static void drain_case(bool tls)
{
	const char *name = tls ? "TLS" : "TCP";
	const char *timeout = getenv("IT_SHUTDOWN_TIMEOUT");
	const char *args[24] = {
	    IT_AUTH_ARGS, "--allow-loopback-peers", "--relay-ip", "127.0.0.1", "--workers",
	    "1",          "--stats-socket",         stats_path};
	unsigned na = 0;
	while (args[na])
		na++;
	if (tls) {
		args[na++] = "--cert";
		args[na++] = certs.cert;
		args[na++] = "--pkey";
		args[na++] = certs.key;
	}
	if (timeout && *timeout) {
		args[na++] = "--shutdown-timeout";
		args[na++] = timeout;
		tap_diag("%s: --shutdown-timeout %s (IT_SHUTDOWN_TIMEOUT)", name, timeout);
	}
	args[na] = NULL;

	struct srv s;
	if (!tap_check(srv_start(&s, 8, args) == 0, "%s: server starts", name))
		return;
	struct turnc c;
	int rc;
	if (tls) {
		struct turnc_tls t = {.ca_file = certs.ca, .host = "localhost", .rcvbuf = CLIENT_RBUF};
		union tern_addr tp = it_with_port(&s.addr, s.tls_port);
		rc = turnc_open_tls(&c, &tp, &t, WAIT_MS);
	} else {
		rc = turnc_open_tcp_rcvbuf(&c, &s.addr, CLIENT_RBUF, WAIT_MS);
	}
	if (!tap_check(rc == 0, "%s: a client with a %d-byte receive buffer connects", name, CLIENT_RBUF)) {
		srv_stop(&s);
		return;
	}
	turnc_set_creds(&c, IT_USER, IT_PASS);
	struct peer p;
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	union tern_addr relayed = r.relayed[0];
	rc = rc == 0 ? peer_open(&p, "127.0.0.1", 0) : rc;
	rc = rc == 0 ? turnc_channel_bind(&c, CHANNEL, &p.addr, &r) : rc;
	if (!tap_check(rc == 0, "%s: allocation and channel to the peer (%s)", name, it_outcome(rc))) {
		turnc_close(&c);
		srv_stop(&s);
		return;
	}

	/* The client reads nothing from here until SIGTERM. */
	static uint8_t payload[PAYLOAD];
	long sent = 0, dropped = 0;
	bool took_all = true;
	while (sent < MAX_SENT && dropped == 0) {
		for (unsigned i = 0; i < BURST; i++, sent++) {
			payload[0] = (uint8_t)(sent >> 24);
			payload[1] = (uint8_t)(sent >> 16);
			payload[2] = (uint8_t)(sent >> 8);
			payload[3] = (uint8_t)sent;
			peer_send(&p, &relayed, payload, sizeof(payload));
		}
		took_all &= wait_rx_peer(sent);
		dropped = it_stats_sum(stats_path, "tcp_output_dropped");
	}
	long queued = it_stats_sum(stats_path, "relayed_to_client");
	tap_check(took_all, "%s: ternd took every datagram the peer sent (%ld)", name, sent);
	tap_check(dropped > 0,
	          "%s: ternd's own output queue for the client is full before SIGTERM "
	          "(%ld frames refused after %ld sent)",
	          name, dropped, sent);
	tap_diag("%s: %ld frames taken for the client (%ld bytes of payload)", name, queued,
	         queued * PAYLOAD);

	kill(s.pid, SIGTERM);
	bool clean, in_order;
	size_t bytes;
	unsigned frames = read_all(&c, &clean, &in_order, &bytes);
	tap_check(frames == queued && in_order,
	          "%s: after SIGTERM every frame ternd had taken arrives, in order (%u of %ld, %zu bytes)",
	          name, frames, queued, bytes);
	tap_check(clean, "%s: then the stream ends cleanly (%s)", name, tls ? "close_notify" : "FIN");
	peer_close(&p);
	turnc_close(&c);
	int st = srv_stop(&s);
	tap_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: ternd exited 0 (status %d)", name,
	          st);
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	tap_watchdog(200);
	if (srv_is_coturn()) {
		tap_skip("ternd's shutdown-timeout and stats", "shutdown drain");
		return tap_done();
	}
	if (!tap_check(mkdtemp(dir) != NULL && it_make_certs(dir, &certs) == 0, "test CA and certificates"))
		return tap_done();
	snprintf(stats_path, sizeof(stats_path), "%s/stats.sock", dir);
	drain_case(false);
	drain_case(true);
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
