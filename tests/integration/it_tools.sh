#!/usr/bin/env bash
# tern stats and tern scale against a running ternd: the stats socket's
# counters must account for exactly the traffic a bench run relayed, and
# scale must create the allocations it asks for (the server's count agrees).
# Env: TERND, TERN (set by CTest). Loopback only, every step bounded.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_tools timeout flock ss python3
ternd=${TERND:?} tern=${TERN:?}

tmp=$(mktemp -d /tmp/tern-it-tools-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
port_block
sock=$tmp/stats.sock

"$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$base" --min-port $((base + 2)) \
	--max-port $((base + 39)) --realm it.test --user it:it-pass --allow-loopback-peers --workers 2 \
	--stats-socket "$sock" >"$tmp/ternd.log" 2>&1 &
pids+=($!)
# The peer serves the whole test (bounded by its own --seconds, stopped by
# PID at the end): behind a 10 s `timeout` it was gone before the last
# benches on a loaded machine, which then relayed nothing.
"$tern" bench peer --listen 127.0.0.1:$((base + 40)) --count 4 --echo --seconds 240 >/dev/null 2>"$tmp/peer.log" &
pids+=($!)
wait_line "$tmp/ternd.log" "ternd ready" 10 && wait_line "$tmp/peer.log" "listening" 10
check "ternd and the echo peer start" test -S "$sock"
# A second ternd on the same port would join the first one's SO_REUSEPORT
# group and take a share of its clients: it must refuse to start instead.
rc=0
second=$(timeout 10 "$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$base" \
	--min-port $((base + 2)) --max-port $((base + 39)) --realm it.test --user it:it-pass --workers 1 2>&1) || rc=$?
check "a second ternd on the same port exits non-zero (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... and says the port is in use" grep -q "127.0.0.1:$base: already in use" <<<"$second"

out=$(timeout 30 "$tern" bench --user it --password it-pass --allocations 4 --peer 127.0.0.1:$((base + 40)) \
	--pps 2000 --seconds 1 --warmup 0.2 --quiet 127.0.0.1:"$base")
sent=$(jget "$out" sent)
warm=$(jget "$out" warm_sent)
received=$(jget "$out" received)
check "bench relays through ternd without loss ($received of $sent)" test "${sent:-0}" -gt 0 -a "$sent" = "$received"

table=$(timeout 5 "$tern" stats --socket "$sock")
check "tern stats prints one row per worker" test "$(grep -cE '^[0-9]+ ' <<<"$table")" -eq 2
json=$(timeout 5 "$tern" stats --socket "$sock" --json)
sums=$(python3 -c '
import json,sys
d=json.loads(sys.argv[1]); w=d["workers"]
print(sum(x["relayed_to_peer"] for x in w), sum(x["relayed_to_client"] for x in w), d["allocations_total"])' "$json")
read -r to_peer to_client live <<<"$sums"
total=$((sent + warm))
check "stats: every datagram relayed to the peer is counted ($to_peer of $total)" test "$to_peer" -eq "$total"
check "stats: every echo relayed back is counted ($to_client of $total)" test "$to_client" -eq "$total"
check "stats: bench deleted its allocations ($live live)" test "$live" -eq 0
# Connections that come and go (bench --churn: connect, Allocate, Refresh
# 0, close) and connections that stay (--idle), on a ternd of their own (the
# rest of the port block): every cycle completes, and once the clients are
# gone that server holds no connection and no allocation.
sock2=$tmp/stats2.sock
"$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port $((base + 44)) \
	--min-port $((base + 46)) --max-port $((base + 63)) --realm it.test --user it:it-pass --workers 1 \
	--stats-socket "$sock2" >"$tmp/ternd2.log" 2>&1 &
pids+=($!)
wait_line "$tmp/ternd2.log" "ternd ready" 10
churn=$(timeout 20 "$tern" bench --churn --connections 8 --seconds 1 --warmup 0.2 --user it \
	--password it-pass --quiet 127.0.0.1:$((base + 44)))
check "bench --churn: cycles complete ($(jget "$churn" cycles) cycles, $(jget "$churn" failures) failures)" \
	test "$(jget "$churn" cycles)" -gt 0 -a "$(jget "$churn" failures)" = 0
idle=$(timeout 20 "$tern" bench --idle --connections 8 --seconds 0.3 --user it --password it-pass \
	--quiet 127.0.0.1:$((base + 44)) 2>/dev/null)
check "bench --idle: 8 connections hold an allocation ($(jget "$idle" held_at_end) held)" \
	test "$(jget "$idle" held_at_end)" = 8 -a "$(jget "$idle" failures)" = 0
left=unknown
for _ in $(seq 1 50); do # the server reads the last closes in its next turns
	left=$(timeout 5 "$tern" stats --socket "$sock2" --json | python3 -c '
import json,sys
d=json.load(sys.stdin); print(d["allocations_total"] + sum(x["tcp_connections"] for x in d["workers"]))') &&
		[ "$left" = 0 ] && break
	sleep 0.1
done
check "stats: no connection or allocation left after churn and idle ($left)" test "$left" = 0
kill -TERM "${pids[-1]}"
# The same over TLS (bench --transport tls): a test certificate made here,
# a ternd serving TLS on its tls-listening-port, relaying, churn with
# resumed sessions, and idle connections.
timeout 10 tail --pid="${pids[-1]}" -f /dev/null # its ports are used again below
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=it.test \
		-addext subjectAltName=DNS:it.test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
	"$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port $((base + 44)) \
		--tls-listening-port $((base + 45)) --cert "$tmp/cert.pem" --pkey "$tmp/key.pem" \
		--min-port $((base + 46)) --max-port $((base + 63)) --realm it.test --user it:it-pass --workers 1 \
		--allow-loopback-peers >"$tmp/ternd3.log" 2>&1 &
	pids+=($!)
	wait_line "$tmp/ternd3.log" "ternd ready" 10
	out=$(timeout 30 "$tern" bench --transport tls --tls-ca "$tmp/cert.pem" --tls-sni it.test --user it \
		--password it-pass --allocations 2 --peer 127.0.0.1:$((base + 40)) --pps 500 --seconds 0.5 \
		--warmup 0.1 --quiet 127.0.0.1:$((base + 45)) 2>/dev/null)
	check "bench over TLS relays ($(jget "$out" received) of $(jget "$out" sent), $(jget "$out" client_transport))" \
		test "$(jget "$out" sent)" -gt 0 -a "$(jget "$out" sent)" = "$(jget "$out" received)" \
		-a "$(jget "$out" client_transport)" = tls
	churn=$(timeout 20 "$tern" bench --churn --transport tls --tls-resume --connections 4 --seconds 1 \
		--warmup 0.2 --user it --password it-pass --quiet 127.0.0.1:$((base + 45)))
	check "bench --churn over TLS: cycles complete and resume ($(jget "$churn" cycles) cycles, $(jget "$churn" failures) failures, $(jget "$churn" tls_resumed_handshakes) resumed)" \
		test "$(jget "$churn" cycles)" -gt 0 -a "$(jget "$churn" failures)" = 0 \
		-a "$(jget "$churn" tls_resumed_handshakes)" -gt 0
	idle=$(timeout 20 "$tern" bench --idle --transport tls --connections 8 --seconds 0.3 --user it \
		--password it-pass --quiet 127.0.0.1:$((base + 45)) 2>/dev/null)
	check "bench --idle over TLS: 8 connections hold an allocation ($(jget "$idle" held_at_end) held)" \
		test "$(jget "$idle" held_at_end)" = 8 -a "$(jget "$idle" failures)" = 0
	kill -TERM "${pids[-1]}"
else
	echo "# no openssl command: TLS bench checks skipped"
fi
# eBPF steering (root, 2 workers): every live allocation's client flow is
# pinned to its worker, and unpinned when the allocation ends.
pins() {
	python3 -c '
import json,sys
d=json.loads(sys.argv[1]); w=d["workers"]
print(d["steering"], sum(x["steering_pinned"] for x in w), sum(x["steering_pin_failures"] for x in w))' "$1"
}
read -r steering pinned pinfail <<<"$(pins "$json")"
if [ "$steering" = ebpf ]; then
	check "steering: no flow pinned once the bench's allocations are gone ($pinned)" test "$pinned" -eq 0
else
	echo "# steering is $steering here (no eBPF privilege): pin checks skipped"
fi

scale=$(timeout 60 "$tern" scale --allocations 30 --user it --password it-pass --window 64 127.0.0.1:"$base")
check "tern scale creates 30 allocations ($(jget "$scale" created) created, $(jget "$scale" failed) failed)" \
	test "$(jget "$scale" created)" = 30 -a "$(jget "$scale" failed)" = 0
json=$(timeout 5 "$tern" stats --socket "$sock" --json)
live=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["allocations_total"])' "$json")
check "stats: the server holds the 30 allocations ($live)" test "$live" -eq 30
if [ "$steering" = ebpf ]; then
	read -r steering pinned pinfail <<<"$(pins "$json")"
	check "steering: the 30 allocations' flows are pinned ($pinned, $pinfail failed)" \
		test "$pinned" -eq 30 -a "$pinfail" -eq 0
fi
# A TCP client's allocation has no UDP flow to pin: no pin is attempted
# (before, each one counted a pin failure and logged a warning).
out=$(timeout 30 "$tern" bench --transport tcp --user it --password it-pass --allocations 2 \
	--peer 127.0.0.1:$((base + 40)) --pps 500 --seconds 0.5 --warmup 0.1 --quiet 127.0.0.1:"$base")
check "bench over TCP relays ($(jget "$out" received) of $(jget "$out" sent))" \
	test "$(jget "$out" sent)" -gt 0 -a "$(jget "$out" sent)" = "$(jget "$out" received)"
if [ "$steering" = ebpf ]; then
	json=$(timeout 5 "$tern" stats --socket "$sock" --json)
	read -r steering pinned2 pinfail <<<"$(pins "$json")"
	check "steering: TCP allocations are not pinned and count no pin failure ($pinned2 pinned, $pinfail failed)" \
		test "$pinned2" -eq "$pinned" -a "$pinfail" -eq 0
	check "... and log no pin warning" bash -c "! grep -q 'cannot pin' '$tmp/ternd.log'"
fi
check "tern stats without a server fails in one line" \
	bash -c "! '$tern' stats --socket '$tmp/none.sock' 2>&1 | grep -c . | grep -qv '^1$'"
# A clean stop with 30 live (pinned) allocations: relay sockets close and
# unpin after the steering maps are gone (ASan runs this too).
kill -TERM "${pids[0]}"
rc=0
timeout 10 tail --pid="${pids[0]}" -f /dev/null || rc=$?
wait "${pids[0]}"
code=$?
check "ternd stops cleanly on SIGTERM with live allocations (exit $code)" test "$rc" -eq 0 -a "$code" -eq 0
finish
