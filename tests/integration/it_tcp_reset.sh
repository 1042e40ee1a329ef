#!/usr/bin/env bash
# TURN-over-TCP clients that reset their connection (SO_LINGER 0) while
# ternd is relaying a peer's flood to them: a write at the end of a loop turn
# meets the reset and closes the connection inside the flush, which pushed it
# on the free list twice (glibc "double free" abort: found by the Chromium
# e2e tcp run). 2 x 300 such clients, then ternd must still answer and exit 0.
# Runs in a private network namespace (re-executed under unshare --net): the
# abort reproduced there, reliably, and only loopback exists there.
# Env: TERND (set by CTest). Bounded: 90 s.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_tools timeout python3 unshare ip

if [ -z "${TERN_IT_IN_NETNS:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "# SKIP: needs root for a private network namespace"
		exit 77
	fi
	TERN_IT_IN_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up
ternd=${TERND:?}
tmp=$(mktemp -d /tmp/tern-it-reset-XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	if [ "$failed" -eq 0 ]; then rm -rf "$tmp"; else echo "# files kept in $tmp"; fi
}
trap cleanup EXIT

"$ternd" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port 3478 --min-port 40000 \
	--max-port 40999 --realm reset.test --user u:p --allow-loopback-peers >"$tmp/ternd.log" 2>&1 &
pid=$!
wait_line "$tmp/ternd.log" "ternd ready" 10
check "ternd starts in the namespace" kill -0 "$pid"
# two at a time (one per worker, roughly): more resets meet a flush
py=$(dirname "$0")/lib/tcp_reset.py
timeout 90 python3 "$py" 127.0.0.1 3478 u p 300 >"$tmp/a.out" 2>&1 &
a=$!
timeout 90 python3 "$py" 127.0.0.1 3478 u p 300 >"$tmp/b.out" 2>&1
wait "$a"
diag "$(cat "$tmp/a.out" "$tmp/b.out")"
check "2 x 300 clients allocated, were flooded and reset, all answered" \
	test "$(grep -c "^done 300" "$tmp/a.out" "$tmp/b.out" | grep -c ':1$')" -eq 2
check "ternd is still running" kill -0 "$pid"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
check "ternd exits 0 on SIGTERM (exit $code)" test "$code" -eq 0
if [ "$failed" -gt 0 ]; then tail -n 20 "$tmp/ternd.log" | sed 's/^/# | /'; fi
finish
