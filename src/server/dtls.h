/* DTLS 1.2 client sessions (RFC 8656 §3.1, TURN over DTLS; `dtls`),
 * internal to server/. Each worker has its own SO_REUSEPORT UDP socket on
 * every listening address at tls-listening-port: the kernel's hash keeps a
 * client's 5-tuple on one worker, and that worker's session table
 * demultiplexes datagrams by 5-tuple.
 *
 * Nothing is kept for a client before it has echoed a cookie: a ClientHello
 * from an unknown 5-tuple is answered with a HelloVerifyRequest by a
 * short-lived SSL object (DTLSv1_listen; the cookie is an HMAC of the
 * address, net/tls.h) that is freed at once. A ClientHello with a good
 * cookie makes a session, at most DTLS_HALF_OPEN_MAX of them per worker
 * still in their handshake, and at most max-connections per worker in all.
 *
 * A session reads datagrams through a memory BIO and writes records through
 * a BIO of ours that queues each datagram on the worker's UDP batch (one
 * sendmmsg per turn, like every UDP answer). Each record read is one STUN
 * message or ChannelData handed to the core as a DTLS endpoint (a datagram
 * transport: retransmission cache and unauthenticated-answer limits apply).
 * Decrypted bytes stay in the receive batch's slot, which lives until the
 * end-of-turn flush (queued relays borrow them). A session ends with the
 * client's close_notify or a fatal alert (its allocation goes with it), a
 * handshake not done within handshake-timeout, or max-allocate-timeout
 * without an allocation. */
#ifndef TERN_SERVER_DTLS_H
#define TERN_SERVER_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "turn/turn.h"

struct worker;

/* Sessions still in their handshake, per worker. */
#define DTLS_HALF_OPEN_MAX 256

/* Open the worker's DTLS sockets (when the configuration serves DTLS) and
 * its session table. 0 or -errno (one log line). */
int dtls_worker_init(struct worker *w);
/* One datagram on a DTLS socket (fd; wild: answers leave from local). The
 * data may be overwritten (decrypted in place). */
void dtls_input(struct worker *w, int fd, bool wild, const union tern_addr *local,
                const union tern_addr *remote, uint8_t *data, size_t len);
/* io->send_client for DTLS endpoints. */
enum turn_tx dtls_send(struct worker *w, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                       const uint8_t *payload, size_t paylen, size_t pad);
/* End of turn, outside the core: close the sessions a write failed on. */
void dtls_close_failed(struct worker *w);
/* Once a second: handshake retransmissions and timeouts, idle sessions. */
void dtls_sweep(struct worker *w, uint64_t now_ms);
/* Shutdown: close_notify to every session and close them (their
 * allocations go). */
void dtls_close_all(struct worker *w);
void dtls_worker_free(struct worker *w);

#endif
