#!/usr/bin/env bash
# tern bench end to end: ternd on loopback, `tern bench peer` as echo and as
# sink, and the generator in every mode (ChannelData, Send indications,
# one-way with the sink's count query, --raw straight to the echo peer, GSO,
# two threads, a refused password). Checks only correctness (received ==
# sent at a modest rate, the JSON fields), never speed.
#
# Env: TERND, TERN (set by CTest). Loopback only; every step is bounded with
# timeout; only processes started here are stopped, by PID.
set -uo pipefail

. "$(dirname "$0")/lib/common.sh"

for tool in timeout flock ss; do
	if ! command -v "$tool" >/dev/null; then
		notok "required tool $tool is installed (Debian packages coreutils, util-linux, iproute2)"
		finish
	fi
done
ternd=${TERND:-}
tern=${TERN:-}
if [ -z "$ternd" ] || [ ! -x "$ternd" ] || [ -z "$tern" ] || [ ! -x "$tern" ]; then
	notok "ternd (\$TERND='$ternd') and tern (\$TERN='$tern') are executable"
	finish
fi

tmp=$(mktemp -d /tmp/tern-it-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	if [ "$failed" -eq 0 ]; then rm -rf "$tmp"; else echo "# files kept in $tmp"; fi
}
trap cleanup EXIT

# A block of 64 free ports in 10000..29999 locked with flock (the scheme of
# tests/integration/lib/server.c, so parallel tests never share ports):
# base = listening port, base+2..+39 relay range, base+40..+43 echo peer,
# base+44..+47 sink peer, base+50 a peer that stops by itself.
port_block
port=$base
echo_port=$((base + 40))
sink_port=$((base + 44))
short_port=$((base + 50))
server=127.0.0.1:$port


"$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
	--min-port $((base + 2)) --max-port $((base + 39)) --user bench:bench --realm bench.test \
	--allow-loopback-peers --workers 1 >"$tmp/ternd.log" 2>&1 </dev/null &
ternd_pid=$!
pids+=("$ternd_pid")
"$tern" bench peer --listen 127.0.0.1:$echo_port --count 4 --echo --seconds 120 \
	>"$tmp/echo.json" 2>"$tmp/echo.err" </dev/null &
echo_pid=$!
pids+=("$echo_pid")
"$tern" bench peer --listen 127.0.0.1:$sink_port --count 4 --sink --seconds 120 \
	>"$tmp/sink.json" 2>"$tmp/sink.err" </dev/null &
sink_pid=$!
pids+=("$sink_pid")

ready=0
for ((i = 0; i < 100; i++)); do
	kill -0 "$ternd_pid" 2>/dev/null || break
	if ss -Huln "sport = :$port" 2>/dev/null | grep -q .; then
		ready=1
		break
	fi
	sleep 0.1
done
check "ternd listens on $server" test "$ready" -eq 1
if [ "$ready" -ne 1 ]; then
	tail -n 20 "$tmp/ternd.log" | sed 's/^/# | /'
	finish
fi
check "echo peer starts on 127.0.0.1:$echo_port (4 ports)" wait_line "$tmp/echo.err" listening 5
check "sink peer starts on 127.0.0.1:$sink_port (4 ports)" wait_line "$tmp/sink.err" listening 5

# A long drain: on a loaded machine a late datagram must not count as lost
# (rtt mode stops as soon as every datagram is back, so it costs nothing).
common=(--pps 2000 --seconds 2 --warmup 0.5 --drain 3 --quiet)
auth=(--user bench --password bench)

# run_bench <label> <args...>: runs tern bench, leaves its JSON in $out.
out=""
run_bench() {
	local label=$1
	shift
	out=$(timeout 60 "$tern" bench "$@" 2>"$tmp/$label.err")
	local rc=$?
	echo "$out" >"$tmp/$label.json"
	check "$label: tern bench exits 0 (exit $rc)" test "$rc" -eq 0
	diag "$label: $out"
	if [ "$rc" -ne 0 ]; then sed 's/^/# | /' "$tmp/$label.err"; fi
}
# expect_no_loss <label> [rtt]
expect_no_loss() {
	local label=$1 sent received errors
	sent=$(jget "$out" sent)
	received=$(jget "$out" received)
	errors=$(jget "$out" errors)
	check "$label: datagrams were sent (sent=$sent)" test "${sent:-0}" -gt 0 2>/dev/null
	check "$label: received == sent ($received == $sent)" test "${received:--1}" = "${sent:--2}"
	check "$label: errors == 0 ($errors)" test "${errors:--1}" = 0
	check "$label: loss is 0" test "$(jget "$out" loss)" = "0.000000"
	if [ "${2:-}" = rtt ]; then
		local f
		for f in rtt_p50_us rtt_p99_us rtt_p999_us; do
			check "$label: $f is a number ($(jget "$out" "$f"))" is_num "$(jget "$out" "$f")"
		done
	fi
}

run_bench rtt --mode rtt "${common[@]}" "${auth[@]}" --allocations 4 --peer 127.0.0.1:$echo_port "$server"
expect_no_loss rtt rtt
for f in server mode allocations size pps_offered seconds sent received delivered_rate loss errors; do
	check "rtt: JSON has \"$f\"" test -n "$(jget "$out" "$f")"
done
check "rtt: mode is rtt, 4 allocations" test "$(jget "$out" mode)/$(jget "$out" allocations)" = rtt/4
check "rtt: server is $server" test "$(jget "$out" server)" = "$server"

run_bench indications --mode rtt "${common[@]}" "${auth[@]}" --indications --sizes 160,1200 \
	--peer 127.0.0.1:$echo_port "$server"
expect_no_loss indications rtt
check "indications: transport is indication" test "$(jget "$out" transport)" = indication

run_bench oneway --mode oneway "${common[@]}" "${auth[@]}" --burst-us 1000 --peer 127.0.0.1:$sink_port "$server"
expect_no_loss oneway
check "oneway: rtt fields are null" test "$(jget "$out" rtt_p50_us)" = null

run_bench shared --mode rtt "${common[@]}" "${auth[@]}" --peers shared --threads 2 \
	--peer 127.0.0.1:$echo_port "$server"
expect_no_loss shared rtt

run_bench raw --raw --mode rtt "${common[@]}" 127.0.0.1:$echo_port
expect_no_loss raw rtt
check "raw: transport is raw" test "$(jget "$out" transport)" = raw

run_bench raw_gso --raw --gso --burst-us 1000 --mode oneway "${common[@]}" --peer 127.0.0.1:$sink_port \
	127.0.0.1:$sink_port
expect_no_loss raw_gso

# A wrong password: non-zero exit, one error line naming the STUN code.
bad_out=$(timeout 60 "$tern" bench "${common[@]}" --user bench --password wrong \
	--peer 127.0.0.1:$echo_port "$server" 2>"$tmp/bad.err")
rc=$?
check "wrong password: exit non-zero ($rc)" test "$rc" -ne 0
check "wrong password: no JSON on stdout" test -z "$bad_out"
check "wrong password: one error line with 401" \
	test "$(wc -l <"$tmp/bad.err")" -eq 1 -a "$(grep -c 401 "$tmp/bad.err")" -eq 1
sed 's/^/# | /' "$tmp/bad.err"

# Usage errors exit 2.
timeout 10 "$tern" bench --pps nope "$server" >/dev/null 2>&1
check "bad option value: exit 2" test $? -eq 2
timeout 10 "$tern" bench --user a --password b "$server" >/dev/null 2>&1
check "missing --peer: exit 2" test $? -eq 2

# The peer stops by itself after --seconds and prints its JSON line.
timeout 10 "$tern" bench peer --listen 127.0.0.1:$short_port --sink --seconds 0.5 --quiet >"$tmp/short.json"
rc=$?
check "peer --seconds 0.5 exits 0 by itself ($rc)" test "$rc" -eq 0
check "peer prints a sink JSON line" grep -q '"peer":"sink"' "$tmp/short.json"

# ...and on SIGTERM, with the counts of what it echoed.
check "ternd still running" kill -0 "$ternd_pid"
kill -TERM "$echo_pid" 2>/dev/null
for ((i = 0; i < 50; i++)); do
	kill -0 "$echo_pid" 2>/dev/null || break
	sleep 0.1
done
wait "$echo_pid" 2>/dev/null
rc=$?
check "echo peer exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
echo_json=$(cat "$tmp/echo.json")
diag "echo peer: $echo_json"
check "echo peer counted and echoed datagrams" \
	test "$(jget "$echo_json" echoed)" -gt 0 -a "$(jget "$echo_json" echoed)" = "$(jget "$echo_json" datagrams)"

if [ "$failed" -gt 0 ]; then tail -n 30 "$tmp/ternd.log" | sed 's/^/# | /'; fi
finish
