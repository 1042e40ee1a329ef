/* Client connections over TCP and TLS (RFC 8656 §3.1), internal to
 * server/. The first byte a client sends picks the transport (a TLS
 * handshake record: TLS, with OpenSSL; anything else: plain TCP), on
 * listening-port and tls-listening-port alike; a connection reads and
 * writes through its transport's ops table. Each worker accepts on its own listening sockets and owns the
 * connections it accepted: their input is framed with stun_frame_len
 * (STUN messages and padded ChannelData, many per read, split across
 * reads) and handed to the TURN core as endpoints (turn_ep: the fd, the
 * fd-table slot's generation, TCP, local and remote address); what the
 * core queues for a connection is copied into its output buffer and
 * written once at the end of the loop turn; the once-a-second sweep
 * releases output buffers found empty, and the input buffer of an idle
 * plain TCP connection.
 *
 * Lifetimes: a frame handed to the core is borrowed until the end-of-turn
 * flush (a relayed payload is queued by pointer on a UDP relay socket), so
 * a connection's input buffer is compacted only at the start of its next
 * read (a later turn), and a closed connection is freed only after the
 * flush at the end of the loop turn (worker_end_turn -> conn_reap: not at
 * an early flush inside the turn, whose epoll events may still name its
 * handler). Bounds: CONN_IN_MAX bytes of input
 * (a longer frame closes the connection: counted), CONN_OUT_MAX bytes of
 * queued output (over it, relayed data is dropped and counted; an answer
 * that does not fit closes the connection). */
#ifndef TERN_SERVER_CONN_H
#define TERN_SERVER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "stun/stream.h"
#include "turn/turn.h"

struct worker;

/* Input buffered per connection (stun/stream.h): 4 KiB, grown to the frame
 * being received, at most the largest frame. */
#define CONN_IN_MAX STUN_STREAM_MAX
#define CONN_IN_MIN STUN_STREAM_MIN
/* Output queued per connection: a little over two maximum frames (the
 * bound for relayed data; TLS handshake records and alerts may use
 * TLS_OUT_SLACK more). */
#define CONN_OUT_MAX  (160 << 10)
#define TLS_OUT_SLACK (32 << 10)
/* TLS handshakes in progress per worker (each holds about 50 KiB). */
#define TLS_HALF_OPEN_MAX 1024
/* Connections accepted per listening socket per loop turn. */
#define CONN_ACCEPT_BUDGET 64

/* The listening socket lfd is readable: accept up to the budget. proxy:
 * its connections start with a PROXY protocol header (tcp-proxy-port). */
void conn_accept(struct worker *w, int lfd, bool proxy);
/* io->send_client for TCP endpoints. */
enum turn_tx conn_send(struct worker *w, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                       const uint8_t *payload, size_t paylen, size_t pad);
/* Start of a turn: read the connections whose transport held more input
 * than their buffer took last turn (TLS records read ahead). */
void conn_read_again(struct worker *w);
/* End of turn, before the flush (outside the TURN core): close the
 * connections a write failed on during the turn. */
void conn_close_failed(struct worker *w);
/* End of turn, after the UDP flush: write every connection's queued output. */
void conn_flush(struct worker *w);
/* At the end of the turn, after the flush and the fd closes: free the
 * connections closed this turn. */
void conn_reap(struct worker *w);
/* Once a second: close connections that have held no allocation for
 * max-allocate-timeout (since accept, or since their allocation went). */
void conn_sweep(struct worker *w, uint64_t now_ms);
/* Slots of the per-source connection counters (server_shared). */
#define CONN_SRC_SLOTS 8192
/* Shutdown, first step: no more input is read; TLS connections queue
 * close_notify; connections with nothing queued close now. Returns how many
 * still have output to write (the worker runs its loop for them until
 * conn_draining says none is left, or the deadline). */
unsigned conn_drain_begin(struct worker *w);
unsigned conn_draining(const struct worker *w);
/* Shutdown, last step: write what is queued (best effort), close every
 * connection. */
void conn_close_all(struct worker *w);

#endif
