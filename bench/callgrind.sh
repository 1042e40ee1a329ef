#!/usr/bin/env bash
# bench/callgrind.sh: instructions ternd's worker thread executes per relayed
# datagram, counted by valgrind's callgrind. Unlike CPU time, the count is
# the same run after run (and whatever else the machine is doing), so an A/B
# of two builds shows differences of a few percent that compare.sh's noise
# hides. It counts user space only: the kernel's socket path, most of a
# datagram's cost, is not in it (compare.sh measures that).
#
#   bench/callgrind.sh build/ternd /tmp/ternd-old          # rtt, specific listener
#   bench/callgrind.sh --listen 0.0.0.0 --mode oneway build/ternd
#
# Each binary runs under callgrind with one worker and no adaptive batching
# (--batch-delay-us 0: batch sizes then depend on the offered rate only),
# `tern bench` offers --pps datagrams/s over 4 allocations for --seconds (+1
# warm-up), and the instructions counted inside worker_main are divided by
# the datagrams ternd received from clients (rtt: per round trip, i.e. two
# received and two sent). Runs inside a private network namespace (unshare
# --net, root): listening on a wildcard address exposes nothing. Every
# process is stopped by PID; every step has a time limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LISTEN=127.0.0.1 MODE=rtt PPS=2000 SECONDS_=10 TERN=$root/build/tern
usage() {
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	echo "usage: $0 [--listen IP] [--mode rtt|oneway] [--pps N] [--seconds S] [--tern PATH] TERND..."
	exit 2
}
bins=()
while [ $# -gt 0 ]; do
	case "$1" in
	--listen) LISTEN=$2; shift ;;
	--mode) MODE=$2; shift ;;
	--pps) PPS=$2; shift ;;
	--seconds) SECONDS_=$2; shift ;;
	--tern) TERN=$2; shift ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) bins+=("$1") ;;
	esac
	shift
done
[ ${#bins[@]} -gt 0 ] || usage
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed (Debian package valgrind)" >&2; exit 2; }
[ -x "$TERN" ] || { echo "callgrind.sh: no tern at $TERN (make build)" >&2; exit 2; }

if [ -z "${TB_CG_INNER:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "callgrind.sh: needs root (a private network namespace)" >&2; exit 2; }
	export TB_CG_INNER=1
	exec unshare --net -- bash -c 'ip link set lo up && exec "$0" "$@"' "$0" --listen "$LISTEN" \
		--mode "$MODE" --pps "$PPS" --seconds "$SECONDS_" --tern "$TERN" "${bins[@]}"
fi

dir=$(mktemp -d /tmp/tern-callgrind-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
port=3478 pport=4000
pm=--echo
[ "$MODE" = oneway ] && pm=--sink
printf '%-40s %-8s %-6s %12s %10s %14s\n' binary mode listen instructions datagrams "per client dgram"
for b in "${bins[@]}"; do
	tag=$(basename "$b")-$RANDOM
	timeout $((SECONDS_ + 60)) "$TERN" bench peer --listen 127.0.0.1:$pport --count 4 $pm \
		--seconds $((SECONDS_ + 40)) --quiet >/dev/null 2>&1 &
	peer=$!
	pids+=("$peer")
	timeout $((SECONDS_ * 10 + 120)) valgrind --tool=callgrind --toggle-collect=worker_main \
		--callgrind-out-file="$dir/$tag.cg" "$b" --listening-ip "$LISTEN" --relay-ip 127.0.0.1 \
		--listening-port $port --user bench:bench --realm bench.test --allow-loopback-peers --workers 1 \
		--batch-delay-us 0 --unauth-rate-limit 0 --stats-socket "$dir/$tag.sock" >"$dir/$tag.log" 2>&1 &
	srv=$!
	pids+=("$srv")
	for _ in $(seq 1 100); do
		[ -S "$dir/$tag.sock" ] && break
		sleep 0.1
	done
	timeout $((SECONDS_ + 30)) "$TERN" bench --user bench --password bench --peer 127.0.0.1:$pport \
		--allocations 4 --pps "$PPS" --mode "$MODE" --seconds "$SECONDS_" --warmup 1 --quiet \
		127.0.0.1:$port >"$dir/$tag.json" 2>"$dir/$tag.err" || true
	rx=$(timeout 10 "$TERN" stats --socket "$dir/$tag.sock" --json 2>/dev/null |
		python3 -c 'import json,sys; print(sum(w["rx_client"] for w in json.load(sys.stdin)["workers"]))' || echo 0)
	kill -TERM "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	kill "$peer" 2>/dev/null || true
	wait "$peer" 2>/dev/null || true
	ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dir/$tag.cg" 2>/dev/null || echo 0)
	per=$(python3 -c "print(f'{$ir / $rx:.0f}' if $rx else '-')")
	printf '%-40s %-8s %-6s %12s %10s %14s\n' "$b" "$MODE" "$LISTEN" "$ir" "$rx" "$per"
done
echo "(files in $dir)"
