/* The counter table. Order matters twice: it is the order of the JSON
 * members and table columns, and a Prometheus family's entries (one name,
 * several labels) are adjacent. */
#include "server/stats.h"

#include <stddef.h>
#include <string.h>

#include "server/worker.h"

const uint64_t stats_batch_bounds[STATS_BATCH_NB] = {1, 2, 4, 8, 16, 32, 64};
/* ms, up to handshake-timeout's default (the loop clock: 1 ms at best) */
const uint64_t stats_tls_bounds[STATS_TLS_NB] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};

static const struct metric_hist life_hist = {turn_life_bounds, TURN_LIFE_NB, 1000.0};
static const struct metric_hist batch_hist = {stats_batch_bounds, STATS_BATCH_NB, 1.0};
static const struct metric_hist tls_hist = {stats_tls_bounds, STATS_TLS_NB, 1000.0};

void stats_bases(const struct worker *w, const void *b[STATS_SRCS])
{
	b[STATS_WORKER] = w;
	b[STATS_TURN] = turn_stats(w->turn);
	b[STATS_TX] = &w->tx->stats;
}

#define LW(f) metric_load(b[STATS_WORKER], offsetof(struct worker, f))
#define LT(f) metric_load(b[STATS_TURN], offsetof(struct turn_stats, f))

/* every datagram from a client or a peer that was not relayed or answered */
static uint64_t get_dropped(metric_bases b)
{
	return LT(drop_malformed) + LT(drop_no_alloc) + LT(drop_no_channel) + LT(drop_no_perm) +
	       LT(drop_bps) + LT(drop_policy) + LT(drop_ratelimit) + LW(rx_trunc) + LW(rx_no_local);
}

static uint64_t get_malformed(metric_bases b)
{
	return LT(drop_malformed) + LW(rx_trunc);
}

static uint64_t get_batch_tenths(metric_bases b)
{
	uint64_t n = LW(rx_batches);
	return n ? LW(rx_datagrams) * 10 / n : 0;
}

static uint64_t get_401_requests(metric_bases b)
{
	return LT(challenge_sent) + LT(challenge_dropped);
}

#define W(f)      .src = STATS_WORKER, .off = offsetof(struct worker, f)
#define T(f)      .src = STATS_TURN, .off = offsetof(struct turn_stats, f)
#define X(f)      .src = STATS_TX, .off = offsetof(struct udp_tx_stats, f)
#define CNT(n)    .name = n, .kind = METRIC_COUNTER
#define GAU(n)    .name = n, .kind = METRIC_GAUGE
#define COL(c, w) .col = c, .colw = w
#define TR(i)     T(allocs_by_transport[i])
#define FIN(i)    T(finished[i])
#define H_DROP    "Datagrams and frames from clients or peers dropped, by cause."
#define H_ALLOC   "Live allocations, by the client's transport."
#define H_RX      "Datagrams and frames received, from clients and from peers."
#define H_AUTH    "Requests that failed authentication, by reason (integrity: a wrong password)."
#define H_CDG     "Datagrams (frames on TCP and TLS) from and to clients, by the client's transport."
#define H_CBY     "Bytes from and to clients, by the client's transport."
#define CLIENT_DG(name, i)                                                                                   \
	{CNT("tern_client_datagrams_total"), .labels = "transport=\"" #name "\",direction=\"in\"",           \
	 .help = H_CDG, .json = "client_rx_" #name, T(client_rx_by[i])},                                     \
	{                                                                                                    \
		CNT("tern_client_datagrams_total"), .labels = "transport=\"" #name "\",direction=\"out\"",   \
		                                    .help = H_CDG, .json = "client_tx_" #name,               \
		                                    T(client_tx_by[i])                                       \
	}
#define CLIENT_BY(name, i)                                                                                   \
	{CNT("tern_client_bytes_total"), .labels = "transport=\"" #name "\",direction=\"in\"",               \
	 .help = H_CBY, .json = "client_rx_bytes_" #name, T(client_rx_bytes_by[i])},                         \
	{                                                                                                    \
		CNT("tern_client_bytes_total"), .labels = "transport=\"" #name "\",direction=\"out\"",       \
		                                .help = H_CBY, .json = "client_tx_bytes_" #name,             \
		                                T(client_tx_bytes_by[i])                                     \
	}

/* clang-format off */
const struct metric stats_table[] = {
	{CNT("tern_received_datagrams_total"), .labels = "side=\"client\"", .help = H_RX, .json = "rx_client",
	 COL("rx_client", 12), T(rx_client)},
	{CNT("tern_received_datagrams_total"), .labels = "side=\"peer\"", .help = H_RX, .json = "rx_peer",
	 COL("rx_peer", 12), T(rx_peer)},
	{CNT("tern_received_bytes_total"), .labels = "side=\"client\"", .help = "Bytes received, from clients and from peers.",
	 T(rx_client_bytes)},
	{CNT("tern_received_bytes_total"), .labels = "side=\"peer\"", .help = "Bytes received, from clients and from peers.",
	 T(rx_peer_bytes)},
	{CNT("tern_relayed_datagrams_total"), .labels = "direction=\"to_peer\"", .json = "relayed_to_peer",
	 .help = "Data relayed (ChannelData or Send/Data indications), by direction.", COL("to_peer", 12), T(relayed_to_peer)},
	{CNT("tern_relayed_datagrams_total"), .labels = "direction=\"to_client\"", .json = "relayed_to_client",
	 .help = "Data relayed (ChannelData or Send/Data indications), by direction.", COL("to_client", 12),
	 T(relayed_to_client)},
	{CNT("tern_sent_messages_total"), .labels = "side=\"client\"", .help = "Messages queued to clients (relayed data and answers) and to peers.",
	 T(tx_client)},
	{CNT("tern_sent_messages_total"), .labels = "side=\"peer\"", .help = "Messages queued to clients (relayed data and answers) and to peers.",
	 T(tx_peer)},
	{.json = "dropped", .labels = "", .help = "Every dropped datagram (the sum of tern_dropped_total).", COL("dropped", 9),
	 .get = get_dropped},
	{CNT("tern_dropped_total"), .labels = "cause=\"malformed\"", .help = H_DROP, T(drop_malformed)},
	{CNT("tern_dropped_total"), .labels = "cause=\"truncated\"", .help = H_DROP, W(rx_trunc)},
	{CNT("tern_dropped_total"), .labels = "cause=\"no_allocation\"", .help = H_DROP, T(drop_no_alloc)},
	{CNT("tern_dropped_total"), .labels = "cause=\"no_channel\"", .help = H_DROP, T(drop_no_channel)},
	{CNT("tern_dropped_total"), .labels = "cause=\"no_permission\"", .help = H_DROP, T(drop_no_perm)},
	{CNT("tern_dropped_total"), .labels = "cause=\"bandwidth\"", .help = H_DROP, T(drop_bps)},
	{CNT("tern_dropped_total"), .labels = "cause=\"policy\"", .help = H_DROP, .json = "dropped_policy", T(drop_policy)},
	{CNT("tern_dropped_total"), .labels = "cause=\"ratelimit\"", .help = H_DROP, .json = "dropped_ratelimit",
	 T(drop_ratelimit)},
	{CNT("tern_dropped_total"), .labels = "cause=\"no_local_address\"", .help = H_DROP,
	 .json = "dropped_no_local_address", W(rx_no_local)},
	{.json = "dropped_malformed", .labels = "", .help = "Malformed and truncated datagrams dropped.",
	 .get = get_malformed},
	{CNT("tern_kernel_drops_total"), .labels = "", .json = "kernel_drops", COL("kdrops", 9),
	 .help = "Datagrams the kernel dropped on a full receive queue (SK_MEMINFO_DROPS).", W(kernel_drops)},
	{CNT("tern_send_dropped_total"), .labels = "by=\"kernel\"", .json = "tx_drops", COL("txdrops", 9),
	 .help = "Messages not sent: refused by the kernel, or by a full or closed connection queue.", X(dropped)},
	{CNT("tern_send_dropped_total"), .labels = "by=\"queue\"", .json = "tx_refused",
	 .help = "Messages not sent: refused by the kernel, or by a full or closed connection queue.", T(tx_dropped)},
	{.json = "allocations", .labels = "", .help = "Live allocations.", COL("allocs", 8), T(allocs_live)},
	{GAU("tern_allocations"), .labels = "transport=\"udp\"", .help = H_ALLOC, TR(TURN_T_UDP)},
	{GAU("tern_allocations"), .labels = "transport=\"tcp\"", .help = H_ALLOC, TR(TURN_T_TCP)},
	{GAU("tern_allocations"), .labels = "transport=\"tls\"", .help = H_ALLOC, TR(TURN_T_TLS)},
	{GAU("tern_allocations"), .labels = "transport=\"dtls\"", .help = H_ALLOC, TR(TURN_T_DTLS)},
	{CNT("tern_allocations_created_total"), .labels = "", .json = "allocations_created",
	 .help = "Allocations created.", T(allocs_created)},
	{CNT("tern_allocations_deleted_total"), .labels = "", .json = "allocations_deleted",
	 .help = "Allocations ended, for any reason (expiries included).", T(allocs_deleted)},
	{CNT("tern_allocations_expired_total"), .labels = "", .json = "allocations_expired",
	 .help = "Allocations ended because their lifetime ran out.", T(allocs_expired)},
	{.name = "tern_allocation_lifetime_seconds", .kind = METRIC_HISTOGRAM, .labels = "",
	 .help = "How long allocations lived, measured when they end.", T(life_hist), .hist = &life_hist},
	{GAU("tern_permissions"), .labels = "", .help = "Live permissions.", T(perms_live)},
	{GAU("tern_channels"), .labels = "", .help = "Live channel bindings (held ones included).", T(channels_live)},
	{CNT("tern_requests_total"), .labels = "", .help = "STUN/TURN requests received.", T(requests)},
	{CNT("tern_error_responses_total"), .labels = "", .help = "Error answers sent.", T(responses_err)},
	{CNT("tern_auth_challenges_total"), .labels = "", .help = "Requests without credentials answered or dropped as a 401 challenge.",
	 T(auth_challenge)},
	{CNT("tern_auth_failures_total"), .labels = "", .json = "auth_failures",
	 .help = "Requests with wrong or incomplete credentials, or an unknown user.", T(auth_fail)},
	{CNT("tern_auth_failures_by_reason_total"), .labels = "reason=\"incomplete\"", .help = H_AUTH,
	 .json = "auth_failures_incomplete", T(auth_fail_by[TURN_AUTH_INCOMPLETE])},
	{CNT("tern_auth_failures_by_reason_total"), .labels = "reason=\"algorithm\"", .help = H_AUTH,
	 .json = "auth_failures_algorithm", T(auth_fail_by[TURN_AUTH_ALGORITHM])},
	{CNT("tern_auth_failures_by_reason_total"), .labels = "reason=\"realm\"", .help = H_AUTH,
	 .json = "auth_failures_realm", T(auth_fail_by[TURN_AUTH_REALM])},
	{CNT("tern_auth_failures_by_reason_total"), .labels = "reason=\"unknown_user\"", .help = H_AUTH,
	 .json = "auth_failures_unknown_user", T(auth_fail_by[TURN_AUTH_UNKNOWN])},
	{CNT("tern_auth_failures_by_reason_total"), .labels = "reason=\"integrity\"", .help = H_AUTH,
	 .json = "auth_failures_integrity", T(auth_fail_by[TURN_AUTH_INTEGRITY])},
	CLIENT_DG(udp, TURN_T_UDP),
	CLIENT_DG(tcp, TURN_T_TCP),
	CLIENT_DG(tls, TURN_T_TLS),
	CLIENT_DG(dtls, TURN_T_DTLS),
	CLIENT_BY(udp, TURN_T_UDP),
	CLIENT_BY(tcp, TURN_T_TCP),
	CLIENT_BY(tls, TURN_T_TLS),
	CLIENT_BY(dtls, TURN_T_DTLS),
	{CNT("tern_allocations_redirected_total"), .labels = "", .json = "allocations_redirected",
	 .help = "Allocates answered 300 with an ALTERNATE-SERVER.", T(redirected)},
	{CNT("tern_allocations_refused_draining_total"), .labels = "", .json = "allocations_refused_draining",
	 .help = "Allocates answered 403 while draining.", T(drain_refused)},
	{CNT("tern_allocations_kicked_total"), .labels = "", .json = "allocations_kicked",
	 .help = "Allocations deleted by tern ctl kick.", T(allocs_kicked)},
	{CNT("tern_permissions_revoked_total"), .labels = "", .json = "permissions_revoked",
	 .help = "Permissions ended by a reload's stricter peer policy.", T(perms_revoked)},
	{CNT("tern_stale_nonces_total"), .labels = "", .help = "Requests answered 438 (stale nonce).", T(stale_nonce)},
	{CNT("tern_quota_rejects_total"), .labels = "", .help = "Allocates refused for a quota or a lack of capacity (486, 508).",
	 T(quota_rejects)},
	{CNT("tern_relay_open_failures_total"), .labels = "", .json = "relay_open_failures",
	 .help = "Relay sockets that could not be opened (ports or descriptors exhausted).", W(relay_open_fail)},
	{CNT("tern_rx_batches_total"), .labels = "", .json = "rx_batches", COL("batches", 10),
	 .help = "recvmmsg calls that returned datagrams.", W(rx_batches)},
	{CNT("tern_rx_batch_datagrams_total"), .labels = "", .json = "rx_datagrams",
	 .help = "Datagrams those calls returned.", W(rx_datagrams)},
	{.json = NULL, .labels = "", .help = "Mean datagrams per receive batch.", COL("avg", 6), .tenths = true,
	 .get = get_batch_tenths},
	{.name = "tern_rx_batch_size", .kind = METRIC_HISTOGRAM, .labels = "",
	 .help = "Datagrams per recvmmsg call (up to 64).", W(batch_hist), .hist = &batch_hist},
	{CNT("tern_sendmmsg_calls_total"), .labels = "", .help = "sendmmsg calls.", X(calls)},
	{CNT("tern_udp_sent_total"), .labels = "", .help = "Datagrams handed to the kernel.", X(sent)},
	{CNT("tern_gso_sends_total"), .labels = "", .json = "gso_sends",
	 .help = "Messages sent with UDP_SEGMENT (GSO).", X(gso_sends)},
	{CNT("tern_gso_segments_total"), .labels = "", .json = "gso_segments", COL("gso_segs", 10),
	 .help = "Datagrams sent inside GSO messages.", X(gso_segments)},
	{CNT("tern_gso_fallback_total"), .labels = "", .json = "gso_fallback",
	 .help = "Datagrams of refused GSO messages sent again one by one.", X(gso_fallback)},
	{CNT("tern_batch_pauses_total"), .labels = "", .json = "batch_pauses",
	 .help = "Adaptive batching pauses (batch-delay-us).", W(pauses)},
	{GAU("tern_steering_pinned"), .labels = "", .json = "steering_pinned",
	 .help = "Client flows pinned to their worker by eBPF steering.", W(steer_pinned)},
	{CNT("tern_steering_pin_failures_total"), .labels = "", .json = "steering_pin_failures",
	 .help = "Flows that could not be pinned.", W(steer_pin_fail)},
	{CNT("tern_tcp_accepted_total"), .labels = "", .json = "tcp_accepted", .help = "Stream connections accepted.",
	 W(tcp_accepted)},
	{CNT("tern_tcp_closed_total"), .labels = "", .json = "tcp_closed", .help = "Stream connections closed.",
	 W(tcp_closed)},
	{GAU("tern_tcp_connections"), .labels = "", .json = "tcp_connections",
	 .help = "Live stream connections (TCP and TLS).", W(tcp_live)},
	{CNT("tern_tcp_accept_failures_total"), .labels = "", .json = "tcp_accept_failures",
	 .help = "Accepts that failed for lack of descriptors or memory.", W(tcp_accept_fail)},
	{CNT("tern_tcp_bad_frames_total"), .labels = "", .json = "tcp_bad_frames",
	 .help = "Connections closed for a frame that is neither STUN nor ChannelData, or too long.", W(tcp_bad_frame)},
	{CNT("tern_tcp_output_dropped_total"), .labels = "", .json = "tcp_output_dropped",
	 .help = "Relayed data dropped on a full connection output queue.", W(tcp_out_dropped)},
	{CNT("tern_tcp_refused_total"), .labels = "", .json = "tcp_refused",
	 .help = "Connections closed over max-connections or max-connections-per-ip.", W(tcp_refused)},
	{CNT("tern_tcp_timeouts_total"), .labels = "", .json = "tcp_timeouts",
	 .help = "Connections closed for holding no allocation (max-allocate-timeout).", W(tcp_timeouts)},
	{CNT("tern_tls_handshakes_total"), .labels = "", .json = "tls_handshakes", .help = "TLS handshakes completed.",
	 W(tls_handshakes)},
	{CNT("tern_tls_resumed_total"), .labels = "", .json = "tls_resumed", .help = "TLS handshakes that resumed a session.",
	 W(tls_resumed)},
	{CNT("tern_tls_handshake_failures_total"), .labels = "", .json = "tls_handshake_failures",
	 .help = "TLS handshakes that failed.", W(tls_hs_fail)},
	{CNT("tern_tls_handshake_timeouts_total"), .labels = "", .json = "tls_handshake_timeouts",
	 .help = "TLS handshakes not done within handshake-timeout.", W(tls_hs_timeouts)},
	{.name = "tern_tls_handshake_seconds", .kind = METRIC_HISTOGRAM, .labels = "",
	 .help = "Time from accept to a completed TLS handshake.", W(tls_hs_hist), .hist = &tls_hist},
	{GAU("tern_tls_connections"), .labels = "", .json = "tls_connections", .help = "Live TLS connections.",
	 W(tls_live)},
	{CNT("tern_tls_refused_total"), .labels = "", .json = "tls_refused",
	 .help = "ClientHellos refused because TLS is off.", W(tls_refused)},
	{GAU("tern_tls_half_open"), .labels = "", .json = "tls_half_open", .help = "TLS handshakes in progress.",
	 W(tls_half_open)},
	{CNT("tern_tls_handshakes_refused_total"), .labels = "", .json = "tls_handshakes_refused",
	 .help = "TLS handshakes refused at the half-open limit.", W(tls_hs_busy)},
	{CNT("tern_proxy_headers_total"), .labels = "", .json = "proxy_headers", .help = "PROXY protocol headers taken.",
	 W(proxy_headers)},
	{CNT("tern_proxy_local_total"), .labels = "", .json = "proxy_local",
	 .help = "PROXY headers that were LOCAL or carried no usable address.", W(proxy_local)},
	{CNT("tern_proxy_bad_total"), .labels = "", .json = "proxy_bad",
	 .help = "Connections closed for a bad or missing PROXY header.", W(proxy_bad)},
	{GAU("tern_dtls_sessions"), .labels = "", .json = "dtls_sessions", .help = "Live DTLS sessions.", W(dtls_live)},
	{GAU("tern_dtls_half_open"), .labels = "", .json = "dtls_half_open", .help = "DTLS sessions in their handshake.",
	 W(dtls_half_open)},
	{CNT("tern_dtls_handshakes_total"), .labels = "", .json = "dtls_handshakes", .help = "DTLS handshakes completed.",
	 W(dtls_handshakes)},
	{CNT("tern_dtls_handshake_failures_total"), .labels = "", .json = "dtls_handshake_failures",
	 .help = "DTLS handshakes that failed.", W(dtls_hs_fail)},
	{CNT("tern_dtls_handshake_timeouts_total"), .labels = "", .json = "dtls_handshake_timeouts",
	 .help = "DTLS handshakes that timed out.", W(dtls_hs_timeouts)},
	{CNT("tern_dtls_hello_verify_total"), .labels = "", .json = "dtls_hello_verify",
	 .help = "DTLS HelloVerifyRequests (cookies) sent.", W(dtls_hello_verify)},
	{CNT("tern_dtls_refused_total"), .labels = "", .json = "dtls_refused",
	 .help = "DTLS ClientHellos refused at the session limits.", W(dtls_refused)},
	{CNT("tern_dtls_dropped_total"), .labels = "", .json = "dtls_dropped",
	 .help = "Datagrams on the DTLS port dropped (not DTLS, no session, bad record).", W(dtls_dropped)},
	{CNT("tern_dtls_too_big_total"), .labels = "", .json = "dtls_too_big",
	 .help = "Messages too long for one DTLS record.", W(dtls_too_big)},
	{CNT("tern_dtls_restarts_total"), .labels = "", .json = "dtls_restarts",
	 .help = "DTLS sessions replaced by a new handshake from the same 5-tuple.", W(dtls_restarts)},
	{GAU("tern_client_sockets"), .labels = "", .json = "client_sockets",
	 .help = "Connected client sockets (client-sockets=connected).", W(csock_live)},
	{CNT("tern_client_socket_failures_total"), .labels = "", .json = "client_socket_failures",
	 .help = "Connected client sockets that could not be opened.", W(csock_fail)},
	{CNT("tern_client_socket_datagrams_total"), .labels = "", .json = "client_socket_datagrams",
	 .help = "Datagrams received on connected client sockets.", W(csock_rx)},
	{GAU("tern_fastpath_channels"), .labels = "", .json = "fastpath_mappings",
	 .help = "Channels relayed by the kernel fast path now (docs/FASTPATH.md).", T(fast_live)},
	{CNT("tern_fastpath_installs_total"), .labels = "", .json = "fastpath_installs",
	 .help = "Channels handed to the kernel fast path.", T(fast_installs)},
	{CNT("tern_fastpath_install_failures_total"), .labels = "", .json = "fastpath_install_failures",
	 .help = "Channels the fast path could not take (full, or refused): relayed in user space.",
	 T(fast_install_fail)},

	/* coturn's names and meanings (src/apps/relay/prom_server.c), so its
	 * dashboards keep working. Traffic counts finished allocations: an
	 * allocation's traffic is added when it ends, as coturn does. */
	{.compat = true, GAU("turn_total_allocations"), .labels = "type=\"UDP\"",
	 .help = "Represents current allocations number", TR(TURN_T_UDP)},
	{.compat = true, GAU("turn_total_allocations"), .labels = "type=\"TCP\"",
	 .help = "Represents current allocations number", TR(TURN_T_TCP)},
	{.compat = true, GAU("turn_total_allocations"), .labels = "type=\"TLS/TCP\"",
	 .help = "Represents current allocations number", TR(TURN_T_TLS)},
	{.compat = true, GAU("turn_total_allocations"), .labels = "type=\"DTLS\"",
	 .help = "Represents current allocations number", TR(TURN_T_DTLS)},
	{.compat = true, CNT("turn_total_traffic_rcvp"), .labels = "",
	 .help = "Represents total finished sessions received packets", FIN(TURN_TRAFFIC_RCVP)},
	{.compat = true, CNT("turn_total_traffic_rcvb"), .labels = "",
	 .help = "Represents total finished sessions received bytes", FIN(TURN_TRAFFIC_RCVB)},
	{.compat = true, CNT("turn_total_traffic_sentp"), .labels = "",
	 .help = "Represents total finished sessions sent packets", FIN(TURN_TRAFFIC_SENTP)},
	{.compat = true, CNT("turn_total_traffic_sentb"), .labels = "",
	 .help = "Represents total finished sessions sent bytes", FIN(TURN_TRAFFIC_SENTB)},
	{.compat = true, CNT("turn_total_traffic_peer_rcvp"), .labels = "",
	 .help = "Represents total finished sessions peer received packets", FIN(TURN_TRAFFIC_PEER_RCVP)},
	{.compat = true, CNT("turn_total_traffic_peer_rcvb"), .labels = "",
	 .help = "Represents total finished sessions peer received bytes", FIN(TURN_TRAFFIC_PEER_RCVB)},
	{.compat = true, CNT("turn_total_traffic_peer_sentp"), .labels = "",
	 .help = "Represents total finished sessions peer sent packets", FIN(TURN_TRAFFIC_PEER_SENTP)},
	{.compat = true, CNT("turn_total_traffic_peer_sentb"), .labels = "",
	 .help = "Represents total finished sessions peer sent bytes", FIN(TURN_TRAFFIC_PEER_SENTB)},
	{.compat = true, CNT("stun_binding_request"), .labels = "", .help = "Incoming STUN Binding requests",
	 T(binding_req)},
	{.compat = true, CNT("stun_binding_response"), .labels = "", .help = "Outgoing STUN Binding responses",
	 T(binding_ok)},
	{.compat = true, CNT("stun_binding_error"), .labels = "", .help = "STUN Binding errors", T(binding_err)},
	{.compat = true, CNT("turn_unauthenticated_401_requests"), .labels = "",
	 .help = "Requests requiring a 401 Unauthorized response", .get = get_401_requests},
	{.compat = true, CNT("turn_unauthenticated_401_responses"), .labels = "",
	 .help = "401 Unauthorized responses emitted", T(challenge_sent)},
	{.compat = true, CNT("turn_unauthenticated_401_dropped_responses"), .labels = "",
	 .help = "401 responses suppressed by the unauthenticated rate limit", T(challenge_dropped)},
	{.compat = true, CNT("turn_packet_processed"), .labels = "", .help = "Incoming packet processed",
	 T(rx_client)},
	{.compat = true, CNT("turn_packet_dropped"), .labels = "", .help = "Incoming packet dropped",
	 .get = get_malformed},
	{.compat = true, CNT("turn_udp_recvmmsg_calls"), .labels = "",
	 .help = "recvmmsg() syscalls that returned at least one datagram", W(rx_batches)},
	{.compat = true, CNT("turn_udp_recvmmsg_packets"), .labels = "", .help = "Datagrams received via recvmmsg()",
	 W(rx_datagrams)},
	{.compat = true, CNT("turn_udp_sendmmsg_flushes"), .labels = "",
	 .help = "Egress batch flushes (sendmmsg/UDP-GSO)", X(calls)},
	{.compat = true, CNT("turn_udp_sendmmsg_datagrams"), .labels = "", .help = "Datagrams sent via egress batches",
	 X(sent)},
	{.compat = true, CNT("turn_udp_sendmmsg_gso_datagrams"), .labels = "",
	 .help = "Datagrams coalesced via a single UDP-GSO sendmsg", X(gso_segments)},
};
/* clang-format on */

const size_t stats_table_len = sizeof(stats_table) / sizeof(stats_table[0]);

/* The program's counters (bpf/fastpath_abi.h enum fp_stat), in its order:
 * JSON keys and Prometheus samples. */
#define FP_DGRAMS "Datagrams the kernel fast path relayed, by direction."
#define FP_BYTES  "Application bytes the kernel fast path relayed, by direction."
#define FP_PASSED "Datagrams of offloaded channels (or like them) the fast path left to user space, by cause."
static const struct {
	const char *json, *family, *labels, *help;
} fast_names[FASTPATH_STATS] = {
    {"to_peer", "tern_fastpath_datagrams_total", "direction=\"to_peer\"", FP_DGRAMS},
    {"to_peer_bytes", "tern_fastpath_bytes_total", "direction=\"to_peer\"", FP_BYTES},
    {"to_client", "tern_fastpath_datagrams_total", "direction=\"to_client\"", FP_DGRAMS},
    {"to_client_bytes", "tern_fastpath_bytes_total", "direction=\"to_client\"", FP_BYTES},
    {"tx", "tern_fastpath_same_device_total", "", "Relayed datagrams that left by the device they came in on."},
    {"pass_unmapped", "tern_fastpath_passed_total", "cause=\"unmapped\"", FP_PASSED},
    {"pass_expired", "tern_fastpath_passed_total", "cause=\"expired\"", FP_PASSED},
    {"pass_stale", "tern_fastpath_passed_total", "cause=\"stale\"", FP_PASSED},
    {"pass_malformed", "tern_fastpath_passed_total", "cause=\"malformed\"", FP_PASSED},
    {"pass_no_neigh", "tern_fastpath_passed_total", "cause=\"no_neighbour\"", FP_PASSED},
    {"pass_mtu", "tern_fastpath_passed_total", "cause=\"mtu\"", FP_PASSED},
    {"pass_fib", "tern_fastpath_passed_total", "cause=\"no_route\"", FP_PASSED},
    {"pass_csum", "tern_fastpath_passed_total", "cause=\"checksum\"", FP_PASSED},
    {"errors", "tern_fastpath_errors_total", "", "Fast-path helper failures after the decision to relay."},
};

const char *stats_fastpath_key(unsigned k)
{
	return k < FASTPATH_STATS ? fast_names[k].json : "";
}

void stats_fastpath_prom(FILE *out, const uint64_t v[FASTPATH_STATS], bool run, uint64_t run_ns,
                         uint64_t run_cnt)
{
	/* one family's samples together: the program's order interleaves
	 * datagrams and bytes */
	for (unsigned k = 0; k < FASTPATH_STATS; k++) {
		const char *f = fast_names[k].family;
		bool seen = false;
		for (unsigned j = 0; j < k && !seen; j++)
			seen = strcmp(fast_names[j].family, f) == 0;
		if (seen)
			continue;
		metrics_prom_head(out, f, METRIC_COUNTER, fast_names[k].help);
		for (unsigned j = k; j < FASTPATH_STATS; j++)
			if (strcmp(fast_names[j].family, f) == 0)
				metrics_prom_sample(out, f, fast_names[j].labels, v[j]);
	}
	if (!run)
		return;
	metrics_prom_head(out, "tern_fastpath_run_seconds_total", METRIC_COUNTER,
	                  "Time in the fast-path program (kernel.bpf_stats_enabled=1 only).");
	fprintf(out, "tern_fastpath_run_seconds_total %.9f\n", (double)run_ns / 1e9);
	metrics_prom_head(out, "tern_fastpath_runs_total", METRIC_COUNTER,
	                  "Runs of the fast-path program (kernel.bpf_stats_enabled=1 only).");
	metrics_prom_sample(out, "tern_fastpath_runs_total", "", run_cnt);
}
