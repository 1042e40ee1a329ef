#!/usr/bin/env bash
# Interoperability: drive the server with coturn's own test client
# (turnutils_uclient) through coturn's echo peer (turnutils_peer), once with
# ChannelData and once with Send/Data indications, over UDP, over TCP
# (uclient -t), over TLS (uclient -t -S, with a certificate this test
# makes) and over DTLS (uclient -S), and require zero loss.
#
# Env: TERND (server binary; set by CTest), TERN_IT_SERVER=coturn to run the
# same against coturn's turnserver. Loopback (127.0.0.1) only; every step is
# bounded with timeout; only processes started here are stopped, by PID.
set -uo pipefail

. "$(dirname "$0")/lib/common.sh"

for tool in turnutils_uclient turnutils_peer turnutils_stunclient timeout flock ss; do
	if ! command -v "$tool" >/dev/null; then
		notok "required tool $tool is installed (Debian packages coturn, coreutils, util-linux, iproute2)"
		finish
	fi
done

if [ "${TERN_IT_SERVER:-}" = coturn ]; then
	server=/usr/bin/turnserver
	diag "server under test: coturn ($server)"
else
	server=${TERND:-${1:-}}
	if [ -z "$server" ] || [ ! -x "$server" ]; then
		notok "ternd binary (\$TERND) is executable: '${server}'"
		finish
	fi
	diag "server under test: $server"
fi

tmp=$(mktemp -d /tmp/tern-it-uc-XXXXXX)
server_pid=""
peer_pid=""
lock_fd=""
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
	[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
	if [ "$failed" -eq 0 ]; then rm -rf "$tmp"; else echo "# files kept in $tmp"; fi
}
trap cleanup EXIT

# A block of 64 free ports in 10000..29999 locked with flock, the same scheme
# as the C harness (tests/integration/lib/server.c), so parallel tests never
# share ports: base = listening port, base+2.. = relay range, base+60 = peer.
port_block
port=$base
min_port=$((base + 2))
max_port=$((base + 49))
peer_port=$((base + 60))

tls_port=$((base + 1))
# a server certificate signed by a CA of this test's own
if ! (cd "$tmp" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
		-out ca.pem -days 2 -subj "/CN=tern test CA" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key \
		-out srv.csr -subj /CN=localhost &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
		-days 2 -extfile srv.ext) >"$tmp/openssl.log" 2>&1; then
	notok "test certificate made with openssl"
	sed 's/^/# | /' "$tmp/openssl.log"
	finish
fi

args=(--listening-port "$port" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1
	--tls-listening-port "$tls_port" --cert "$tmp/srv.pem" --pkey "$tmp/srv.key"
	--min-port "$min_port" --max-port "$max_port" --realm bench.test --lt-cred-mech
	--user bench:bench --allow-loopback-peers --pidfile "$tmp/server.pid")
if [ "$server" = /usr/bin/turnserver ]; then
	args=(-n --no-cli --no-rfc5780 --simple-log --log-file stdout
		--db "$tmp/turndb" "${args[@]}")
fi
[ "$server" = /usr/bin/turnserver ] || args+=(--dtls)
diag "starting: $server ${args[*]}"
"$server" "${args[@]}" >"$tmp/server.log" 2>&1 </dev/null &
server_pid=$!

turnutils_peer -L 127.0.0.1 -p "$peer_port" >"$tmp/peer.log" 2>&1 </dev/null &
peer_pid=$!

# Ready when it answers a Binding request (bounded: 10 s).
ready=0
for ((i = 0; i < 100; i++)); do
	if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
	if timeout 2 turnutils_stunclient -p "$port" 127.0.0.1 2>&1 | grep -q "UDP reflexive addr"; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ "$ready" -ne 1 ]; then
	notok "server starts and answers Binding on 127.0.0.1:$port"
	tail -n 30 "$tmp/server.log" | sed 's/^/# | /'
	finish
fi
ok "server starts and answers Binding on 127.0.0.1:$port"

# run_uclient <label> [extra uclient flags]: 4 clients x 500 messages of
# 200 bytes every 5 ms, each echoed by the peer.
clients=4
msgs=500
run_uclient() {
	local label=$1
	shift
	local log="$tmp/uclient-$label.log"
	local p=$port
	case " $* " in *" -S "*) p=$tls_port ;; esac
	timeout 120 turnutils_uclient "$@" -n "$msgs" -m "$clients" -l 200 -z 5 -u bench -w bench \
		-p "$p" -e 127.0.0.1 -r "$peer_port" 127.0.0.1 >"$log" 2>&1
	local rc=$?
	check "$label: turnutils_uclient finished (exit $rc)" test "$rc" -eq 0
	local totals lost dropped sent recv
	totals=$(grep -E "start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+" "$log" | tail -n 1)
	lost=$(sed -nE 's/.*Total lost packets ([0-9]+) .*/\1/p' "$log" | tail -n 1)
	dropped=$(sed -nE 's/.*total send dropped ([0-9]+) .*/\1/p' "$log" | tail -n 1)
	sent=$(echo "$totals" | sed -nE 's/.*tot_send_msgs=([0-9]+).*/\1/p')
	recv=$(echo "$totals" | sed -nE 's/.*tot_recv_msgs=([0-9]+).*/\1/p')
	diag "$label: sent=${sent:-?} received=${recv:-?} lost=${lost:-?} send-dropped=${dropped:-?}"
	check "$label: statistics printed" test -n "$sent" -a -n "$recv" -a -n "$lost" -a -n "$dropped"
	check "$label: all $((clients * msgs)) messages sent" test "${sent:-0}" -eq $((clients * msgs))
	check "$label: every message came back through the relay" test "${recv:-0}" -eq "${sent:--1}"
	check "$label: zero lost packets" test "${lost:--1}" -eq 0
	check "$label: zero send-dropped packets" test "${dropped:--1}" -eq 0
	if [ "$failed" -gt 0 ]; then tail -n 20 "$log" | sed 's/^/# | /'; fi
}

run_uclient channeldata
run_uclient indications -s
# TURN over TCP (RFC 8656 §3.1): the client reaches the relay over TCP, the
# peer stays UDP
run_uclient tcp-channeldata -t
run_uclient tcp-indications -t -s
# TURN over TLS on tls-listening-port
run_uclient tls-channeldata -t -S
run_uclient tls-indications -t -S -s
# TURN over DTLS on the same port's UDP side
run_uclient dtls-channeldata -S
run_uclient dtls-indications -S -s

check "server still running after every run" kill -0 "$server_pid"

# Clean shutdown: SIGTERM, at most 5 s, exit status 0 (ternd only).
kill -TERM "$server_pid" 2>/dev/null
status=""
for ((i = 0; i < 50; i++)); do
	if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
	sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
	notok "server exits within 5 s of SIGTERM"
	kill -KILL "$server_pid" 2>/dev/null
fi
wait "$server_pid" 2>/dev/null
status=$?
server_pid=""
if [ "$server" = /usr/bin/turnserver ]; then
	echo "ok $((n + 1)) - server exited on SIGTERM (status $status) # SKIP coturn"
	n=$((n + 1))
else
	check "server exited 0 on SIGTERM (status $status)" test "$status" -eq 0
fi
if [ "$failed" -gt 0 ]; then tail -n 30 "$tmp/server.log" | sed 's/^/# | /'; fi
finish
