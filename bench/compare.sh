#!/usr/bin/env bash
# bench/compare.sh: tern side by side with coturn, pion/turn and two plain
# forwarders (the floors), on one machine, in private network namespaces.
#
#   bench/compare.sh                      # full run: 5 rounds, scenarios a,b,c, loopback
#   bench/compare.sh --topology veth      # client, relay and peer in 3 namespaces joined by veth
#   bench/compare.sh --smoke              # CI: a few seconds per server, fails on any loss
#   bench/compare.sh --scenarios churn,idle --servers ternd,coturn   # TCP connections
#   bench/compare.sh --transport tls --scenarios a,b,churn,churn-resume,idle --servers ternd,coturn
#   bench/compare.sh --help
#
# Method (docs/PERFORMANCE.md says more): each server runs alone, pinned to
# one CPU (--server-cpu, default 1); `tern bench` and its peer are pinned to
# another (--load-cpu, default 0). Every run starts a fresh server, waits for
# its port, starts the peer, then `tern bench --warmup W --seconds S`. The
# server's utime+stime (/proc/PID/stat) and its core's busy time (/proc/stat)
# are sampled inside the measured window only (from W+margin to W+S-margin
# after the bench starts) and divided by the window, so per-datagram costs
# are (CPU per second) / (datagrams relayed per second). Rounds alternate
# servers and rotate their order each round; the report gives medians.
# --topology veth also moves the relay's kernel receive work into threaded
# NAPI kernel threads pinned to the server's CPU and charges them to every
# server (relay µs/dgram beside the server's own CPU; --veth-napi).
#
# Needs root (network namespaces). Every process it starts is killed by PID
# on exit, the namespaces are deleted, and every step has a time limit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
me=compare

# ---- defaults ---------------------------------------------------------------
BUILD=${BUILD:-$root/build}
ROUNDS=5
SECONDS_RUN=10
WARMUP=2
MARGIN_MS=500 # kept off both ends of the measured window when sampling CPU
PPS_RT=50000  # (a) round trips per second offered
PPS_OW=150000 # (b) one-way datagrams per second offered
BURST_US=1000 # (b) pacing: bursts of 1 ms worth of datagrams
SIZE=100
ALLOCS=4
SCENARIOS=a,b,c
CHURN_CONNS=1000 # churn: concurrent TCP clients, each connect/Allocate/Refresh 0/close in a loop
CHURN_RATE=0     # churn: cycles/s started at most (0: closed loop, as fast as the clients complete)
CHURN_CLOSE=fin  # churn: how a client ends its connection (fin or rst)
IDLE_CONNS=1000  # idle: TCP connections each holding an allocation, for the server's RSS
SOURCES=16       # churn/idle: client source addresses (ephemeral ports, per-address limits)
SERVERS_FILTER=""
TOPOLOGY=lo
TRANSPORT=udp
TLS_PORT=5349 # --transport tls: both servers serve TLS here (tls-listening-port)
TLS_KEY=ec    # --transport tls: the test certificate's key: ec (P-256) or rsa (2048)
TLS_MAX=""    # --transport tls: the highest version the clients offer (1.2 or 1.3; default 1.3)
SERVER_CPU=1
LOAD_CPU=0
SMOKE=0
SMOKE_PPS=2000
RETRIES=2
RT=0
PERF=0
# --topology veth: the relay's kernel work in threads that can be measured
# (threaded NAPI on every veth end; the relay's pinned to --server-cpu),
# transmit checksum offload off on the client and peer ends, a pass-only XDP
# program on those ends when a ternd variant runs a fast path, and the
# kernel's BPF run-time statistics on during fast-path runs
VETH_NAPI=on
PEER_XDP=auto
BPF_STATS=on
OUT=""
DO_BUILD=1
TERN=""
TERND=""
PION=""
FWD=""
PORT=3478
PEER_PORT=20000
# Test addresses for --topology veth: RFC 2544's benchmarking range
# (198.18.0.0/15), assigned only inside the namespaces this script creates;
# nothing routes it anywhere else. Override with TB_NET_CLIENT/TB_NET_PEER/
# TB_NET_QUERY (a /24 prefix as "A.B.C").
NET_C=${TB_NET_CLIENT:-198.18.1}
NET_P=${TB_NET_PEER:-198.18.2}
NET_Q=${TB_NET_QUERY:-198.18.3}

# ternd with each engine feature switched off in turn: "name:flags|...".
# The first entry is plain "ternd"; the others are named ternd-<name>. A
# variant whose flags this ternd does not accept (--check-config fails) is
# skipped with a note, so new switches can be listed before they exist.
TERND_VARIANTS=${TERND_VARIANTS:-"default:|nogso:--no-gso|nobatch:--batch-delay-us 0|batch50:--batch-delay-us 50"}

usage() {
	cat <<EOF
usage: bench/compare.sh [options]
  --rounds N            alternating rounds, medians reported (default $ROUNDS)
  --seconds S           measured seconds per run (default $SECONDS_RUN)
  --warmup W            warm-up seconds per run, discarded (default $WARMUP)
  --pps N               (a) round trips/s offered (default $PPS_RT)
  --oneway-pps N        (b) one-way datagrams/s offered in bursts (default $PPS_OW)
  --burst-us U          (b) burst period (default $BURST_US)
  --size B              payload bytes (default $SIZE)
  --allocations K       (default $ALLOCS)
  --scenarios LIST      a = rtt at --pps, b = one-way at --oneway-pps in bursts,
                        c = one-way at max with a GSO generator, rtt@N, ow@N (bursts),
                        owgso@N; churn = churn@--churn-connections: TCP clients that
                        connect, Allocate, Refresh 0 and close in a loop (server CPU per
                        connection); idle = idle@--idle-connections: TCP connections that
                        hold an allocation (server RSS per connection); comma-separated
                        (default $SCENARIOS). churn and idle run the servers that serve TCP
  --churn-connections C (churn) concurrent clients (default $CHURN_CONNS)
  --churn-rate R        (churn) cycles/s started at most; 0 = closed loop (default $CHURN_RATE)
  --churn-close fin|rst (churn) orderly close or reset by the client (default $CHURN_CLOSE)
  --idle-connections N  (idle) connections held (default $IDLE_CONNS)
  --sources K           (churn, idle) client source addresses (default $SOURCES)
  --servers LIST        only these (names as in --list), comma-separated
  --list                print the servers that would run, and exit
  --transport udp|tcp|tls   how clients reach the relay (default udp); tcp and tls run ternd
                        and coturn (peers stay UDP; the floors and pion are UDP only). tls:
                        a test certificate is made (openssl req, in a temporary directory)
                        and given to both servers; clients use tls-listening-port $TLS_PORT and
                        every scenario, churn and idle too, runs over TLS. churn-resume =
                        churnr@--churn-connections: churn whose clients resume their previous
                        session (tern bench --tls-resume: abbreviated handshakes)
  --tls-key ec|rsa      --transport tls: key of the test certificate (default $TLS_KEY)
  --tls-max 1.2|1.3     --transport tls: the highest version the clients offer (default 1.3;
                        coturn 4.6.1 from Debian 12 serves 1.2 only, ternd 1.3: 1.2 compares
                        like with like)
  --topology lo|veth    lo: one namespace, loopback; veth: client, relay and peer
                        namespaces joined by veth pairs (default lo)
  --server-cpu N / --load-cpu N   (default $SERVER_CPU / $LOAD_CPU)
  --smoke               1 round, 1+3 s per run at $SMOKE_PPS/s, scenarios a,b; exit 1 if any
                        server fails to relay everything
  --retries N           measure a run again, at most N times, when the server waited on
                        its CPU's run queue for > 5% of the window (default $RETRIES)
  --rt                  run server, peer, NAPI threads (SCHED_FIFO 50) and bench (40) at real-time
                        priority, so other work on a shared machine cannot take their
                        CPUs (the kernel still leaves it 5%); see docs/PERFORMANCE.md
  --veth-napi on|off    --topology veth: threaded NAPI on the four veth ends (GRO on, which
                        gives veth its NAPI), the relay's two NAPI threads pinned to
                        --server-cpu and charged to every server (relay µs/dgram), the client's
                        and peer's pinned to --load-cpu; transmit checksum offload off on the
                        client and peer ends (default $VETH_NAPI; off = the topology as before)
  --peer-xdp auto|on|off   --topology veth: a pass-only XDP program (tern_fp_pass of
                        build/bpf/fastpath.bpf.o) on the client's and the peer's veth end, which
                        native XDP redirects into a veth need; auto = when a ternd variant has
                        --fast-path other than off (default $PEER_XDP)
  --bpf-stats on|off    kernel.bpf_stats_enabled=1 during the runs of fast-path variants (the
                        program's ns per packet; restored after each run) (default $BPF_STATS)
  --perf                record the server's CPU with perf (cpu-clock, call graphs) during
                        each measured window; logs/<run>.perf.txt holds the top symbols
  --out DIR             results directory (default bench/results/<timestamp>)
  --build DIR           build directory with ternd and tern (default build/)
  --no-build            do not build; use what is in --build
  --tern PATH / --ternd PATH / --pion PATH / --fwd PATH   use these binaries
environment: TB_TERND_LISTEN=0.0.0.0 (ternd listens on the wildcard, PKTINFO on every datagram);
  TERND_VARIANTS="name:flags|name:flags" (default: "$TERND_VARIANTS");
  flags starting "@PATH" run that ternd binary instead (A/B of two builds);
  the kernel fast path in the veth topology (the relay's veths are tbr0 and tbr1):
  TERND_VARIANTS="default:|fp:--fast-path xdp-native --fast-path-interfaces tbr0,tbr1"
EOF
}

die() { echo "$me: $*" >&2; exit 1; }
note() { echo "$me: $*" >&2; }

list_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--seconds) SECONDS_RUN=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--pps) PPS_RT=$2; shift ;;
	--oneway-pps) PPS_OW=$2; shift ;;
	--burst-us) BURST_US=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--allocations) ALLOCS=$2; shift ;;
	--scenarios) SCENARIOS=$2; shift ;;
	--churn-connections) CHURN_CONNS=$2; shift ;;
	--churn-rate) CHURN_RATE=$2; shift ;;
	--churn-close) CHURN_CLOSE=$2; shift ;;
	--idle-connections) IDLE_CONNS=$2; shift ;;
	--sources) SOURCES=$2; shift ;;
	--servers) SERVERS_FILTER=$2; shift ;;
	--list) list_only=1 ;;
	--topology) TOPOLOGY=$2; shift ;;
	--transport) TRANSPORT=$2; shift ;;
	--tls-key) TLS_KEY=$2; shift ;;
	--tls-max) TLS_MAX=$2; shift ;;
	--server-cpu) SERVER_CPU=$2; shift ;;
	--load-cpu) LOAD_CPU=$2; shift ;;
	--smoke) SMOKE=1 ;;
	--retries) RETRIES=$2; shift ;;
	--rt) RT=1 ;;
	--perf) PERF=1 ;;
	--veth-napi) VETH_NAPI=$2; shift ;;
	--peer-xdp) PEER_XDP=$2; shift ;;
	--bpf-stats) BPF_STATS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--build) BUILD=$(cd "$2" 2>/dev/null && pwd || echo "$2"); shift ;;
	--no-build) DO_BUILD=0 ;;
	--tern) TERN=$2; shift ;;
	--ternd) TERND=$2; shift ;;
	--pion) PION=$2; shift ;;
	--fwd) FWD=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ "$SMOKE" = 1 ]; then
	ROUNDS=1 SECONDS_RUN=3 WARMUP=1 MARGIN_MS=300
	SCENARIOS="rtt@$SMOKE_PPS,ow@$SMOKE_PPS"
fi
for v in RETRIES ROUNDS SECONDS_RUN WARMUP PPS_RT PPS_OW BURST_US SIZE ALLOCS SERVER_CPU LOAD_CPU \
	CHURN_CONNS CHURN_RATE IDLE_CONNS SOURCES; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[ "$SECONDS_RUN" -ge 2 ] || die "--seconds must be at least 2"
case $CHURN_CLOSE in fin | rst) ;; *) die "--churn-close is fin or rst" ;; esac
[ "$SOURCES" -ge 1 ] && [ "$SOURCES" -le 200 ] || die "--sources is 1..200"
[ "$ROUNDS" -ge 1 ] || die "--rounds must be at least 1"
case $TOPOLOGY in lo | veth) ;; *) die "--topology is lo or veth" ;; esac
case $VETH_NAPI in on | off) ;; *) die "--veth-napi is on or off" ;; esac
case $PEER_XDP in auto | on | off) ;; *) die "--peer-xdp is auto, on or off" ;; esac
case $BPF_STATS in on | off) ;; *) die "--bpf-stats is on or off" ;; esac
ncpu=$(nproc --all)
[ "$SERVER_CPU" -lt "$ncpu" ] && [ "$LOAD_CPU" -lt "$ncpu" ] || die "CPUs $SERVER_CPU/$LOAD_CPU: this machine has $ncpu"
[ "$SERVER_CPU" != "$LOAD_CPU" ] || note "warning: server and load share CPU $SERVER_CPU"
[ "$RT" = 0 ] || command -v chrt >/dev/null || die "--rt needs chrt (util-linux)"
[ "$PERF" = 0 ] || command -v perf >/dev/null || die "--perf needs perf (Debian: apt-get install linux-perf)"

# ---- binaries ---------------------------------------------------------------
build_all() {
	local blog
	blog=$(mktemp)
	if [ ! -f "$BUILD/CMakeCache.txt" ] && ! cmake -S "$root" -B "$BUILD" >"$blog" 2>&1; then
		tail -20 "$blog" >&2
		die "cmake -S $root -B $BUILD failed"
	fi
	local targets=(ternd tern)
	if cmake --build "$BUILD" --target help 2>/dev/null | grep -q 'floor-fwd'; then
		targets+=(floor-fwd)
	fi
	if ! cmake --build "$BUILD" -j "$ncpu" --target "${targets[@]}" >"$blog" 2>&1; then
		tail -20 "$blog" >&2
		rm -f "$blog"
		die "build failed: cmake --build $BUILD --target ${targets[*]}"
	fi
	rm -f "$blog"
	# Until the top-level CMakeLists.txt adds tools/floor, build the floor directly.
	if [[ " ${targets[*]} " != *" floor-fwd "* ]] &&
		{ [ ! -x "$BUILD/floor-fwd" ] || [ "$root/tools/floor/fwd.c" -nt "$BUILD/floor-fwd" ]; }; then
		${CC:-cc} -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$BUILD/floor-fwd" "$root/tools/floor/fwd.c" ||
			die "cannot build tools/floor/fwd.c"
	fi
}

if [ "$(id -u)" -ne 0 ] && [ "$list_only" = 0 ]; then
	die "needs root: it creates network namespaces (ip netns) and pins processes"
fi
# what a fresh Debian machine lacks (coturn, the compilers...): installed
# here, as `make test` does (pion is built below by bench/build-pion.sh)
if [ "$list_only" = 0 ]; then
	"$root/scripts/deps.sh" bench || die "cannot install the packages compare.sh needs (scripts/deps.sh bench)"
fi
for t in ip taskset timeout python3 ss; do
	command -v $t >/dev/null || die "'$t' not found (Debian: iproute2, util-linux, coreutils, python3)"
done

if [ "$DO_BUILD" = 1 ] && [ "$list_only" = 0 ]; then
	build_all
fi
TERN=${TERN:-$BUILD/tern}
TERND=${TERND:-$BUILD/ternd}
FWD=${FWD:-$BUILD/floor-fwd}
if [ -z "$PION" ]; then
	PION=$BUILD/pion-turn-server
	if [ "$list_only" = 0 ] && [ ! -x "$PION" ]; then
		"$root/bench/build-pion.sh" "$PION" || note "pion: cannot build (see above): skipped"
	fi
fi

[ -x "$TERND" ] || die "no ternd at $TERND (build first, or --ternd PATH)"
[ -x "$TERN" ] || die "no tern at $TERN (build first, or --tern PATH)"
if [ "$list_only" = 0 ]; then
	"$TERN" bench --help >/dev/null 2>&1 || die "'$TERN bench' is not available in this build (src/tools/bench*.c)"
	[ -x "$FWD" ] || die "no floor forwarder at $FWD"
fi

# ---- addresses --------------------------------------------------------------
if [ "$TOPOLOGY" = lo ]; then
	NS_C=tern-bench-$$ NS_R=$NS_C NS_P=$NS_C
	LISTEN_IP=127.0.0.1 RELAY_IP=127.0.0.1 PEER_IP=127.0.0.1
else
	NS_C=tern-bench-$$-c NS_R=tern-bench-$$-r NS_P=tern-bench-$$-p
	LISTEN_IP=$NET_C.1 RELAY_IP=$NET_P.1 PEER_IP=$NET_P.2
fi

# ---- servers ----------------------------------------------------------------
# Each entry: name. start_server() knows how to start each kind.
declare -A VARIANT_FLAGS=() VARIANT_BIN=()
servers=()
skipped=()

# TB_TERND_LISTEN=0.0.0.0 makes ternd listen on a wildcard address (inside
# the benchmark's namespaces) while the load still goes to $LISTEN_IP: the
# cost of learning and setting each datagram's local address (PKTINFO).
ternd_base_flags() {
	local f=(--listening-ip "${TB_TERND_LISTEN:-$LISTEN_IP}" --relay-ip "$RELAY_IP" --listening-port "$PORT"
		--user bench:bench --realm bench.test --allow-loopback-peers --workers 1)
	[ "$TOPOLOGY" = veth ] && f+=(--allowed-peer-ip "$NET_P.0/24")
	echo "${f[@]}"
}

IFS='|' read -r -a _variants <<<"$TERND_VARIANTS"
for v in "${_variants[@]}"; do
	vname=${v%%:*} vflags=${v#*:}
	[ "$v" = "$vname" ] && vflags=""
	name=ternd
	[ "$vname" = default ] || name=ternd-$vname
	# "@PATH flags": this variant runs another ternd binary (A/B of builds)
	vbin=$TERND
	if [[ $vflags == @* ]]; then
		vbin=${vflags%% *} vbin=${vbin#@}
		[[ $vflags == *" "* ]] && vflags=${vflags#* } || vflags=""
	fi
	VARIANT_BIN[$name]=$vbin
	# shellcheck disable=SC2046,SC2086
	if "$vbin" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --user bench:bench --realm bench.test \
		--allow-loopback-peers --workers 1 $vflags --check-config >/dev/null 2>&1; then
		servers+=("$name")
		VARIANT_FLAGS[$name]=$vflags
	else
		skipped+=("$name (ternd does not accept: $vflags)")
	fi
done

# fp_variant NAME: true when NAME is a ternd variant that runs the kernel
# fast path (--fast-path MODE or --fast-path=MODE with MODE other than off)
fp_variant() {
	[[ $1 == ternd* ]] || return 1
	local f=" ${VARIANT_FLAGS[$1]:-} "
	[[ $f =~ \ --fast-path[=\ ]+([a-z-]+)\  ]] && [ "${BASH_REMATCH[1]}" != off ]
}
any_fp=0
for s in "${servers[@]}"; do fp_variant "$s" && any_fp=1; done

COTURN_MMSG_FLAGS=""
if command -v turnserver >/dev/null; then
	servers+=(coturn)
	chelp=$(turnserver --help 2>&1 || true)
	if grep -q -- '--udp-recvmmsg' <<<"$chelp"; then
		for f in --udp-recvmmsg --udp-sendmmsg --udp-gso --multiplex-peer; do
			if grep -q -- "$f" <<<"$chelp"; then COTURN_MMSG_FLAGS+=" $f"; fi
		done
		servers+=(coturn-mmsg)
	else
		skipped+=("coturn-mmsg (this coturn, $(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo '?'), has no --udp-recvmmsg)")
	fi
else
	skipped+=("coturn (turnserver not installed: apt-get install coturn)")
	skipped+=("coturn-mmsg (turnserver not installed)")
fi
if [ -x "$PION" ]; then
	servers+=(pion)
else
	skipped+=("pion (no $PION: bench/build-pion.sh)")
fi
servers+=(fwd fwd-gso)
# --transport tcp: clients reach the relay over TCP; the floors (plain UDP
# forwarders) and pion's server (UDP listener only here) have no such path
if [ "$TRANSPORT" = tcp ] || [ "$TRANSPORT" = tls ]; then
	tcp_servers=()
	for s in "${servers[@]}"; do
		case "$s" in
		pion | fwd*) skipped+=("$s (UDP only: --transport $TRANSPORT)") ;;
		*) tcp_servers+=("$s") ;;
		esac
	done
	servers=("${tcp_servers[@]}")
	OPTIONAL_SERVERS=()
fi
# not in the default list: the GSO floor with each relay socket connected to
# its peer (what per-allocation connected relay sockets could save); name it
# in --servers to run it
OPTIONAL_SERVERS=(fwd-gso-conn)

if [ -n "$SERVERS_FILTER" ]; then
	IFS=, read -r -a want <<<"$SERVERS_FILTER"
	sel=()
	for w in "${want[@]}"; do
		found=0
		for s in "${servers[@]}" "${OPTIONAL_SERVERS[@]}"; do [ "$s" = "$w" ] && sel+=("$s") && found=1; done
		[ $found = 1 ] || note "server '$w' is not available: not run"
	done
	servers=("${sel[@]}")
fi
[ ${#servers[@]} -gt 0 ] || die "no server to run"
case $TRANSPORT in udp | tcp | tls) ;; *) die "--transport is udp, tcp or tls, not '$TRANSPORT'" ;; esac
case $TLS_KEY in ec | rsa) ;; *) die "--tls-key is ec or rsa" ;; esac
case $TLS_MAX in "" | 1.2 | 1.3) ;; *) die "--tls-max is 1.2 or 1.3" ;; esac

if [ "$list_only" = 1 ]; then
	for s in "${servers[@]}"; do echo "$s"; done
	for s in "${skipped[@]}"; do echo "skipped: $s"; done
	exit 0
fi

# ---- scenarios --------------------------------------------------------------
# Internal form: kind@rate with kind rtt (echo peer, round trips), ow (sink
# peer, ordinary datagrams in --burst-us bursts), owgso (sink peer, GSO
# generator, rate 0 = as fast as it can).
scen=()
IFS=, read -r -a _sc <<<"$SCENARIOS"
for s in "${_sc[@]}"; do
	case $s in
	a) scen+=("rtt@$PPS_RT") ;;
	b) scen+=("ow@$PPS_OW") ;;
	c) scen+=("owgso@0") ;;
	churn) scen+=("churn@$CHURN_CONNS") ;;
	churn-resume) scen+=("churnr@$CHURN_CONNS") ;;
	idle) scen+=("idle@$IDLE_CONNS") ;;
	rtt@* | ow@* | owgso@* | churn@* | churnr@* | idle@*) [[ ${s#*@} =~ ^[0-9]+$ ]] || die "bad scenario '$s'"; scen+=("$s") ;;
	*) die "unknown scenario '$s' (a, b, c, churn, churn-resume, idle, rtt@N, ow@N, owgso@N, churn@C, churnr@C, idle@N)" ;;
	esac
done
for s in "${scen[@]}"; do
	[[ $s != churnr@* ]] || [ "$TRANSPORT" = tls ] || die "churn-resume resumes TLS sessions: --transport tls"
	[[ $s != owgso@* ]] || [ "$TRANSPORT" = udp ] || die "scenario c (GSO generator) is UDP only"
done

# ---- bookkeeping: processes, namespaces, exit trap ---------------------------
declare -A PIDS=()
NETNS=()
TLS_DIR=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	for p in "${!PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		local alive=0
		for p in "${!PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.2
	done
	for p in "${!PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${!PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	bpf_stats_restore
	local ns
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	[ -z "$TLS_DIR" ] || rm -rf "$TLS_DIR"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kernel.bpf_stats_enabled (global): switched on for the runs of fast-path
# variants only, and put back as it was after each run and on exit
BPF_STATS_SAVED=""
bpf_stats_on() {
	[ -n "$BPF_STATS_SAVED" ] || BPF_STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo "")
	sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null || note "cannot set kernel.bpf_stats_enabled=1"
}
bpf_stats_restore() {
	[ -n "$BPF_STATS_SAVED" ] || return 0
	sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_SAVED" 2>/dev/null || true
	BPF_STATS_SAVED=""
}

# rt_prefix PRIO: "chrt -f PRIO" with --rt, nothing otherwise
rt_prefix() { [ "$RT" = 1 ] && echo "chrt -f $1"; return 0; }

# start_bg LOGOUT LOGERR cmd...: background, PID tracked; sets BG_PID
start_bg() {
	local o=$1 e=$2
	shift 2
	"$@" >"$o" 2>"$e" &
	BG_PID=$!
	PIDS[$BG_PID]=1
}

# stop_pid PID SIGNAL GRACE_TENTHS: signal, wait, then KILL; reaps it
stop_pid() {
	local p=$1 sig=$2 grace=${3:-30}
	[ -n "${PIDS[$p]:-}" ] || return 0
	kill -"$sig" "$p" 2>/dev/null || true
	local i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt "$grace" ]; do
		# a zombie child still answers kill -0: check its state
		[ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	unset "PIDS[$p]"
}

# ---- namespaces ---------------------------------------------------------------
mkns() {
	ip netns add "$1" || die "ip netns add $1 failed"
	NETNS+=("$1")
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=0
	# no IPv6 router solicitations or DAD on the veths: only the traffic measured
	[ "$TOPOLOGY" = veth ] && ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null
	return 0
}
if [ "$TOPOLOGY" = lo ]; then
	mkns "$NS_R"
else
	mkns "$NS_C"
	mkns "$NS_R"
	mkns "$NS_P"
	# veth pairs are created inside the namespaces: nothing touches the host's
	ip -n "$NS_C" link add tbc type veth peer name tbr0 netns "$NS_R"
	ip -n "$NS_P" link add tbp type veth peer name tbr1 netns "$NS_R"
	ip -n "$NS_C" addr add "$NET_C.2/24" dev tbc
	ip -n "$NS_R" addr add "$NET_C.1/24" dev tbr0
	ip -n "$NS_R" addr add "$NET_P.1/24" dev tbr1
	ip -n "$NS_P" addr add "$NET_P.2/24" dev tbp
	# One-way runs end with the bench asking the sink peer for its count,
	# which must not pass through the relay namespace (it forwards nothing):
	# a third link joins client and peer for that query alone, with a host
	# route to the peer's address. Relayed datagrams never take it: the
	# bench sends only to the relay, the relay only to the peer.
	ip -n "$NS_C" link add tbq type veth peer name tbq0 netns "$NS_P"
	ip -n "$NS_C" addr add "$NET_Q.2/24" dev tbq
	ip -n "$NS_P" addr add "$NET_Q.1/24" dev tbq0
	for l in "$NS_C tbc" "$NS_R tbr0" "$NS_R tbr1" "$NS_P tbp" "$NS_C tbq" "$NS_P tbq0"; do
		set -- $l
		ip -n "$1" link set "$2" up
	done
	ip -n "$NS_C" route add "$PEER_IP/32" via "$NET_Q.1" dev tbq
	# churn and idle: more client addresses, and TIME_WAIT ports reused
	# (Linux reuses them only for loopback traffic unless told)
	for i in $(seq 0 $((SOURCES - 1))); do
		ip -n "$NS_C" addr add "$NET_C.$((10 + i))/24" dev tbc
	done
	ip netns exec "$NS_C" sysctl -qw net.ipv4.tcp_tw_reuse=1
	# no default route anywhere: each namespace reaches its own links only
	ip -n "$NS_C" route get "$LISTEN_IP" >/dev/null 2>&1 || die "veth: no route to $LISTEN_IP in the client namespace"
	ip -n "$NS_P" route get "$RELAY_IP" >/dev/null 2>&1 || die "veth: no route to $RELAY_IP in the peer namespace"
fi

# churn and idle clients spread over these source addresses (the bench's
# --sources): ~28k ephemeral ports each, and per-address server limits
if [ "$TOPOLOGY" = lo ]; then
	CLIENT_SOURCES=127.0.0.2+$SOURCES
else
	CLIENT_SOURCES=$NET_C.10+$SOURCES
fi

# ---- veth: threaded NAPI, checksums, the pass program ---------------------------
# veth has a NAPI instance (a receive ring polled by NAPI instead of the
# sender's backlog) only with XDP attached or GRO on; with it, `threaded` moves
# that poll into a kernel thread, napi/<dev>-<id>. The relay's two threads do
# its kernel receive work (and run the XDP program, and redirect) and are
# pinned to the server's CPU and charged to whichever server runs; the client's
# and the peer's do theirs on the load CPU. Thread ids are found as the
# napi/<dev>-* threads that appear when `threaded` is switched on (another
# run's namespaces may have devices of the same names).
NAPI_R=() NAPI_L=() NAPI_NAMES=()
PASS_OBJ=${TB_FP_PASS_OBJ:-$BUILD/bpf/fastpath.bpf.o}
napi_threads() { # DEV -> the PIDs of napi/DEV-<id> threads, one a line
	local d
	for d in /proc/[0-9]*; do
		[[ $(cat "$d/comm" 2>/dev/null) =~ ^napi/$1-[0-9]+$ ]] && echo "${d#/proc/}"
	done
	return 0
}
if [ "$TOPOLOGY" = veth ] && [ "$PEER_XDP" = auto ]; then
	PEER_XDP=off
	[ "$any_fp" = 1 ] && PEER_XDP=on
fi
[ "$TOPOLOGY" = veth ] || PEER_XDP=off
if [ "$TOPOLOGY" = veth ] && { [ "$VETH_NAPI" = on ] || [ "$PEER_XDP" = on ]; }; then
	command -v ethtool >/dev/null || die "--veth-napi/--peer-xdp need ethtool (scripts/deps.sh bench installs it)"
	# full checksums on the frames the client and the peer send, as a NIC
	# delivers them (veth otherwise passes CHECKSUM_PARTIAL frames along)
	for l in "$NS_C tbc" "$NS_P tbp"; do
		set -- $l
		ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || die "ethtool -K $2 tx off failed in $1"
	done
fi
if [ "$TOPOLOGY" = veth ] && [ "$VETH_NAPI" = on ]; then
	for l in "$NS_R tbr0 r" "$NS_R tbr1 r" "$NS_C tbc l" "$NS_P tbp l"; do
		set -- $l
		before=$(napi_threads "$2")
		ip netns exec "$1" ethtool -K "$2" gro on >/dev/null 2>&1 || die "ethtool -K $2 gro on failed in $1"
		# veth hands a frame to the receiving end's NAPI only if the
		# sending end has no TSO feature (or the receiver has
		# rx-udp-gro-forwarding, which would also coalesce datagrams for
		# local sockets: not that); otherwise it goes to the sending CPU's
		# backlog, and the peer's receive of the relay's sends would run on
		# the relay's CPU. The client and peer ends have it off with their
		# checksum offload; the relay's ends switch TCP segmentation off
		# (their UDP GSO stays)
		if [ "$3" = r ]; then
			ip netns exec "$1" ethtool -K "$2" tso off >/dev/null 2>&1 || die "ethtool -K $2 tso off failed in $1"
		fi
		ip netns exec "$1" sh -c "echo 1 > /sys/class/net/$2/threaded" ||
			die "cannot switch $2 to threaded NAPI (/sys/class/net/$2/threaded in $1)"
		new=()
		for _ in $(seq 1 20); do
			mapfile -t new < <(comm -13 <(sort <<<"$before") <(napi_threads "$2" | sort) | grep .)
			[ ${#new[@]} -gt 0 ] && break
			sleep 0.05
		done
		[ ${#new[@]} -eq 1 ] || die "$2: expected one new napi/$2-* thread, found ${#new[@]} (${new[*]:-})"
		cpu=$SERVER_CPU
		[ "$3" = l ] && cpu=$LOAD_CPU
		taskset -pc "$cpu" "${new[0]}" >/dev/null || die "cannot pin napi thread ${new[0]} ($2) to CPU $cpu"
		# --rt: FIFO 50, as the server and the peer. Below them (49) the
		# kernel work did not stay in the NAPI threads: on this 6.18 kernel
		# most of it then showed in the server's own CPU time (the sum,
		# server + NAPI, stayed the same within noise: 2.94 vs 3.18 µs/dgram
		# for ternd one-way at 150k/s), so the split would say little. At
		# equal priority a NAPI thread that always has work does not yield:
		# at the generator's maximum (scenario c) user-space servers starve
		# (receive livelock), so run c without --rt (a warning says so)
		[ "$RT" = 1 ] && { chrt -f -p "${TB_NAPI_PRIO:-50}" "${new[0]}" || die "cannot make napi thread ${new[0]} SCHED_FIFO"; }
		if [ "$3" = r ]; then NAPI_R+=("${new[0]}"); else NAPI_L+=("${new[0]}"); fi
		NAPI_NAMES+=("$(cat "/proc/${new[0]}/comm")@cpu$cpu")
	done
	note "threaded NAPI: ${NAPI_NAMES[*]} (relay: PIDs ${NAPI_R[*]}; client/peer: ${NAPI_L[*]})"
	if [ "$RT" = 1 ] && [[ " ${scen[*]} " == *" owgso@"* ]]; then
		note "warning: --rt with threaded NAPI: at the generator's maximum (owgso) the NAPI threads, at the"
		note "  server's FIFO priority, can starve a user-space server (receive livelock); run c without --rt"
	fi
fi
if [ "$PEER_XDP" = on ]; then
	[ -f "$PASS_OBJ" ] || die "--peer-xdp: no $PASS_OBJ (build ternd first, or TB_FP_PASS_OBJ=FILE)"
	# iproute2 (libbpf) picks the program by name; `sec xdp` would take the
	# first xdp program of the object, which is the fast path itself
	for l in "$NS_C tbc" "$NS_P tbp"; do
		set -- $l
		err=$(ip -n "$1" link set dev "$2" xdpdrv obj "$PASS_OBJ" program tern_fp_pass 2>&1) ||
			die "cannot attach tern_fp_pass to $2: $(tail -1 <<<"$err")"
		ip -n "$1" -d link show dev "$2" | grep -q 'prog/xdp.*name tern_fp_pass' ||
			die "$2: tern_fp_pass is not what is attached"
	done
	note "pass-only XDP (tern_fp_pass) on tbc and tbp"
fi

# --transport tls: one self-signed test certificate for every server and run,
# made here (never a real key), removed on exit
if [ "$TRANSPORT" = tls ]; then
	command -v openssl >/dev/null || die "--transport tls needs the openssl command (Debian: openssl)"
	TLS_DIR=$(mktemp -d /tmp/tern-compare-tls-XXXXXX)
	if [ "$TLS_KEY" = ec ]; then
		kopt=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
	else
		kopt=(-newkey rsa:2048)
	fi
	timeout 60 openssl req -x509 "${kopt[@]}" -nodes -days 2 -subj /CN=turn.bench.test \
		-addext subjectAltName=DNS:turn.bench.test -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" \
		>"$TLS_DIR/openssl.log" 2>&1 || die "openssl req failed: $(tail -1 "$TLS_DIR/openssl.log")"
	# coturn drops privileges only when asked; the files just have to be readable
	chmod 644 "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem"
fi

# Keep this script and its short-lived helpers off the server's CPU.
taskset -pc "$LOAD_CPU" $$ >/dev/null
# --rt: the bench and the peer take the load CPU at SCHED_FIFO 40/50, so a
# normal-priority script would read its samples late (by hundreds of ms on a
# busy machine) while its window's timestamps say otherwise: it samples at
# FIFO 60 (it sleeps between samples; what it starts sets its own priority,
# or inherits this one only for short steps)
[ "$RT" = 1 ] && { chrt -f -p 60 $$ || die "cannot make compare.sh SCHED_FIFO (--rt)"; }

# ---- results directory ----------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
suffix=""
[ "$SMOKE" = 1 ] && suffix=-smoke
[ "$TOPOLOGY" = veth ] && suffix+=-veth
OUT=${OUT:-$root/bench/results/$stamp$suffix}
mkdir -p "$OUT/logs"
RUNS=$OUT/runs.jsonl
: >"$RUNS"

versions() {
	local rev dirty=""
	rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty="+dirty"
	local vf=""
	for s in "${servers[@]}"; do
		[[ $s == ternd* ]] || continue
		vf+="$s="
		[ "${VARIANT_BIN[$s]}" = "$TERND" ] || vf+="(${VARIANT_BIN[$s]}) "
		vf+="${VARIANT_FLAGS[$s]}"$'\n'
	done
	M_DATE=$stamp M_GIT=$rev$dirty M_TERND="$("$TERND" --version 2>&1 | head -1 || true)" \
	M_COTURN="$(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo none)" \
	M_PION="$(dpkg-query -W -f='${Version}' golang-github-pion-turn.v2-dev 2>/dev/null || echo none)" \
	M_TOPOLOGY=$TOPOLOGY M_ROUNDS=$ROUNDS M_SECONDS=$SECONDS_RUN M_WARMUP=$WARMUP M_MARGIN=$MARGIN_MS \
	M_ALLOCS=$ALLOCS M_SIZE=$SIZE M_BURST=$BURST_US M_SCPU=$SERVER_CPU M_LCPU=$LOAD_CPU M_SMOKE=$SMOKE M_RT=$RT \
	M_CHURN_CONNS=$CHURN_CONNS M_CHURN_RATE=$CHURN_RATE M_CHURN_CLOSE=$CHURN_CLOSE M_IDLE_CONNS=$IDLE_CONNS \
	M_SOURCES=$SOURCES M_TRANSPORT=$TRANSPORT M_TLS_KEY=$([ "$TRANSPORT" = tls ] && echo "$TLS_KEY") M_TLS_MAX=$TLS_MAX M_SCEN="${scen[*]}" M_SERVERS="${servers[*]}" M_SKIPPED="$(printf '%s\n' "${skipped[@]}")" \
	M_VETH_NAPI=$([ ${#NAPI_R[@]} -gt 0 ] && echo on) M_NAPI="${NAPI_NAMES[*]}" M_PEER_XDP=$PEER_XDP \
	M_BPF_STATS=$([ "$any_fp" = 1 ] && [ "$BPF_STATS" = on ] && echo 1) \
	M_VARIANTS="$vf" M_COTURN_MMSG="${COTURN_MMSG_FLAGS# }" M_TERN="$TERN" \
		python3 "$root/bench/report.py" --meta "$OUT/meta.json"
}
versions

# ---- sampling ---------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
# proc_cpu PID -> S_TICKS (utime+stime of the whole process, all threads)
proc_cpu() {
	local line rest
	read -r line <"/proc/$1/stat" || { S_TICKS=-1; return; }
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	S_TICKS=$((${12} + ${13}))
}
# proc_sched PID -> S_NS: on-CPU nanoseconds summed over the live threads
# (schedstat), the precise quantity utime+stime are derived from; kept as a
# cross-check of the tick-resolution figure
# and S_WAIT: nanoseconds its threads waited on a run queue (another task
# had the CPU: the run was disturbed)
proc_sched() {
	local f a b sum=0 wait=0
	for f in /proc/"$1"/task/*/schedstat; do
		read -r a b _ <"$f" 2>/dev/null && sum=$((sum + a)) wait=$((wait + b))
	done
	S_NS=$sum S_WAIT=$wait
}
# quiet_gate: wait (at most QUIET_MAX s) until both CPUs are nearly idle for
# half a second, so a run does not start on top of someone else's build;
# sets QUIET_BUSY to the last busy % seen of the busier CPU
QUIET_MAX=${QUIET_MAX:-30}
quiet_gate() {
	local end=$(($(date +%s) + QUIET_MAX)) b0 t0 b1 t1 u0 v0 u1 v1 p1 p2
	while :; do
		core_cpu "$SERVER_CPU"; b0=$C_BUSY t0=$C_TOTAL
		core_cpu "$LOAD_CPU"; u0=$C_BUSY v0=$C_TOTAL
		sleep 0.5
		core_cpu "$SERVER_CPU"; b1=$C_BUSY t1=$C_TOTAL
		core_cpu "$LOAD_CPU"; u1=$C_BUSY v1=$C_TOTAL
		p1=$(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
		p2=$(((u1 - u0) * 100 / (v1 - v0 > 0 ? v1 - v0 : 1)))
		QUIET_BUSY=$((p1 > p2 ? p1 : p2))
		[ "$QUIET_BUSY" -le 15 ] && return 0
		[ "$(date +%s)" -ge "$end" ] && { note "CPUs still ${QUIET_BUSY}% busy with other work: measuring anyway"; return 0; }
	done
}
# core_cpu N -> C_BUSY C_TOTAL C_SOFTIRQ (jiffies of cpuN)
core_cpu() {
	local l
	while read -r l; do
		if [[ $l == "cpu$1 "* ]]; then
			# shellcheck disable=SC2086
			set -- $l
			C_BUSY=$(($2 + $3 + $4 + $7 + $8 + $9))
			C_TOTAL=$((C_BUSY + $5 + $6))
			C_SOFTIRQ=$8
			return
		fi
	done </proc/stat
}
now_ns() { date +%s%N; }
# threads_cpu PID... -> T_TICKS (utime+stime), T_NS (on-CPU ns), T_WAIT (run
# queue ns), summed: the NAPI threads' share of a window; T_TICKS=-1 when
# one of them is gone
threads_cpu() {
	local p line rest a b
	T_TICKS=0 T_NS=0 T_WAIT=0
	for p in "$@"; do
		read -r line <"/proc/$p/stat" 2>/dev/null || { T_TICKS=-1; return; }
		rest=${line##*) }
		# shellcheck disable=SC2086
		set -- $rest
		T_TICKS=$((T_TICKS + ${12} + ${13}))
		read -r a b _ <"/proc/$p/schedstat" 2>/dev/null && T_NS=$((T_NS + a)) T_WAIT=$((T_WAIT + b))
	done
	return 0
}
# prog_stats PID -> P_NS P_CNT: run_time_ns and run_cnt summed over the XDP
# (type 6) and TC (type 3) programs PID holds (/proc/PID/fdinfo; counted only
# while kernel.bpf_stats_enabled=1)
prog_stats() {
	local f t ns cnt k v
	P_NS=0 P_CNT=0
	for f in /proc/"$1"/fdinfo/*; do
		[[ $(readlink "/proc/$1/fd/${f##*/}" 2>/dev/null) == anon_inode:bpf-prog ]] || continue
		t="" ns=0 cnt=0
		while read -r k v _; do
			case $k in
			prog_type:) t=$v ;;
			run_time_ns:) ns=$v ;;
			run_cnt:) cnt=$v ;;
			esac
		done <"$f" 2>/dev/null
		case $t in 3 | 6) P_NS=$((P_NS + ns)) P_CNT=$((P_CNT + cnt)) ;; esac
	done
	return 0
}
# sleep in the background and wait: a signal interrupts wait at once, so
# the exit trap does not wait for the sleep to end
sleep_until() {
	local d=$(($1 - $(now_ns)))
	[ $d -gt 0 ] || return 0
	sleep "$((d / 1000000000)).$(printf '%09d' $((d % 1000000000)))" &
	local sp=$!
	PIDS[$sp]=1
	wait "$sp" || true
	unset "PIDS[$sp]"
}
# udp_errs NS -> "InErrors RcvbufErrors SndbufErrors" of that namespace
udp_errs() {
	ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["InErrors"], $n["RcvbufErrors"], $n["SndbufErrors"] }' /proc/net/snmp
}

# ---- one server ---------------------------------------------------------------------
wait_port() { # NS PORT PID [t: a TCP listener; default UDP]
	local i proto=${4:-u}
	for i in $(seq 1 100); do
		kill -0 "$3" 2>/dev/null || return 1
		[ -n "$(ip netns exec "$1" ss -Hnl"$proto" "sport = :$2" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	return 1
}

server_kind() { case $1 in fwd | fwd-*) echo raw ;; *) echo turn ;; esac; }
# churn and idle: TCP clients that relay nothing
is_conn_scenario() { case $1 in churn@* | churnr@* | idle@*) return 0 ;; esac; return 1; }
# the servers that take TURN clients over TCP (the floors and pion's example are UDP only)
serves_tcp() { case $1 in ternd | ternd-* | coturn | coturn-*) return 0 ;; esac; return 1; }
SRV_CONNS=0

# start_server NAME LOG -> SRV_PID (the server process itself: ip netns exec
# and taskset exec into it, so /proc/SRV_PID/stat is the server's)
start_server() {
	local name=$1 log=$2 cmd=()
	local limit=$((WARMUP + SECONDS_RUN + 90))
	case $name in
	ternd | ternd-*)
		# shellcheck disable=SC2206,SC2207 # flag lists are split on spaces
		cmd=("${VARIANT_BIN[$name]}" $(ternd_base_flags) ${VARIANT_FLAGS[$name]})
		# churn/idle: the clients come from $SOURCES addresses; ternd's
		# default of 64 connections per address is for the Internet
		[ "$SRV_CONNS" = 1 ] && cmd+=(--max-connections-per-ip 100000)
		[ "$TRANSPORT" = tls ] && cmd+=(--cert "$TLS_DIR/cert.pem" --pkey "$TLS_DIR/key.pem" --tls-listening-port "$TLS_PORT")
		# its per-worker counters are read (tern stats --json) before it stops
		cmd+=(--stats-socket "$log.sock")
		;;
	coturn | coturn-mmsg)
		cmd=(turnserver -n --no-cli --no-dtls --no-tcp-relay --relay-threads=1
			--listening-ip "$LISTEN_IP" --relay-ip "$RELAY_IP" --listening-port "$PORT"
			--lt-cred-mech --user bench:bench --realm bench.test
			--pidfile "$OUT/logs/turnserver.pid" --userdb "$OUT/logs/turndb" --log-file "$log.turnserver" --simple-log)
		[ "$TOPOLOGY" = lo ] && cmd+=(--allow-loopback-peers)
		[ "$TRANSPORT" = udp ] && [ "$SRV_CONNS" = 0 ] && cmd+=(--no-tcp)
		# TLS on its tls-listening-port, as ternd; otherwise none
		if [ "$TRANSPORT" = tls ]; then
			cmd+=(--cert "$TLS_DIR/cert.pem" --pkey "$TLS_DIR/key.pem" --tls-listening-port "$TLS_PORT")
		else
			cmd+=(--no-tls)
		fi
		# shellcheck disable=SC2206
		[ "$name" = coturn-mmsg ] && cmd+=($COTURN_MMSG_FLAGS)
		;;
	pion)
		cmd=("$PION" -public-ip "$RELAY_IP" -port "$PORT" -users bench=bench -realm bench.test)
		;;
	fwd | fwd-gso | fwd-gso-conn)
		cmd=("$FWD" --listen "$LISTEN_IP:$PORT" --peer "$PEER_IP:$PEER_PORT" --peer-per-client --seconds "$limit")
		[ "$TOPOLOGY" = veth ] && cmd+=(--relay-ip "$RELAY_IP")
		[ "$name" != fwd ] && cmd+=(--gso)
		[ "$name" = fwd-gso-conn ] && cmd+=(--connect)
		;;
	*) die "unknown server $name" ;;
	esac
	echo "${cmd[*]}" >"$log.cmd"
	# timeout bounds the server even if this script is killed outright; it
	# forwards our TERM to the server
	# shellcheck disable=SC2046
	start_bg "$log.out" "$log" ip netns exec "$NS_R" taskset -c "$SERVER_CPU" $(rt_prefix 50) \
		timeout -k 5 "$limit" "${cmd[@]}"
	SRV_WRAP=$BG_PID
	SRV_PID=""
	local i
	for i in $(seq 1 40); do
		SRV_PID=$(cat "/proc/$SRV_WRAP/task/$SRV_WRAP/children" 2>/dev/null || pgrep -P "$SRV_WRAP" || true)
		SRV_PID=${SRV_PID%% *}
		[ -n "$SRV_PID" ] && break
		sleep 0.05
	done
	if [ -z "$SRV_PID" ] || ! wait_port "$NS_R" "$PORT" "$SRV_PID"; then
		note "$name did not open udp port $PORT (log: $log)"
		stop_pid "$SRV_WRAP" KILL 1
		return 1
	fi
	if [ "$TRANSPORT" = tls ] && ! wait_port "$NS_R" "$TLS_PORT" "$SRV_PID" t; then
		note "$name did not open its TLS port $TLS_PORT (log: $log)"
		stop_pid "$SRV_WRAP" KILL 1
		return 1
	fi
}

# run_one ROUND SCENARIO SERVER: appends one JSON line to runs.jsonl
run_one() {
	local round=$1 sc=$2 name=$3
	local kind=${sc%@*} rate=${sc#*@} tag="r${round}_${sc/@/-}_$name"
	[ "${ATTEMPT:-1}" -gt 1 ] && tag+=".try$ATTEMPT"
	local log=$OUT/logs/$tag
	local mode=rtt peer_mode=--echo extra=()
	case $kind in
	rtt) ;;
	ow) mode=oneway peer_mode=--sink extra=(--burst-us "$BURST_US") ;;
	owgso) mode=oneway peer_mode=--sink extra=(--gso) ;;
	churn | idle) mode=$kind ;;
	churnr) mode=churn ;;
	esac
	local ok=true why=""
	{ [ "$SMOKE" = 1 ] || [ "$RT" = 1 ]; } && QUIET_BUSY=-1 || quiet_gate
	SRV_CONNS=0
	is_conn_scenario "$sc" && SRV_CONNS=1
	local fp=false
	fp_variant "$name" && fp=true
	[ "$fp" = true ] && [ "$BPF_STATS" = on ] && bpf_stats_on
	if ! start_server "$name" "$log.server"; then
		bpf_stats_restore
		printf '{"round":%d,"attempt":%d,"scenario":"%s","server":"%s","topology":"%s","ok":false,"why":"server did not start"}\n' \
			"$round" "${ATTEMPT:-1}" "$sc" "$name" "$TOPOLOGY" >>"$RUNS"
		return 0
	fi
	local srv_pid=$SRV_PID srv_wrap=$SRV_WRAP

	local total=$((WARMUP + SECONDS_RUN)) peer_pid="" bcmd=()
	if [ "$SRV_CONNS" = 1 ]; then
		# TCP clients and no peer: nothing is relayed. --server-pid makes the
		# bench report the server's CPU per cycle (churn) or RSS (idle) itself
		bcmd=("$TERN" bench "--$mode" --connections "$rate" --sources "$CLIENT_SOURCES"
			--user bench --password bench --seconds "$SECONDS_RUN" --server-pid "$srv_pid")
		[ "$mode" = churn ] && bcmd+=(--warmup "$WARMUP" --rate "$CHURN_RATE" --close "$CHURN_CLOSE")
		[ "$kind" = churnr ] && bcmd+=(--tls-resume)
		if [ "$TRANSPORT" = tls ]; then
			[ -z "$TLS_MAX" ] || bcmd+=(--tls-max "$TLS_MAX")
			bcmd+=(--transport tls "$LISTEN_IP:$TLS_PORT")
		else
			bcmd+=("$LISTEN_IP:$PORT")
		fi
	else
		# shellcheck disable=SC2046
		start_bg "$log.peer.json" "$log.peer" ip netns exec "$NS_P" taskset -c "$LOAD_CPU" $(rt_prefix 50) \
			timeout -k 2 $((total + 30)) "$TERN" bench peer --listen "$PEER_IP:$PEER_PORT" --count "$ALLOCS" \
			"$peer_mode" --seconds $((total + 20))
		peer_pid=$BG_PID
		wait_port "$NS_P" "$PEER_PORT" "$peer_pid" || { ok=false why="peer did not start"; }

		local auth=(--user bench --password bench)
		[ "$(server_kind "$name")" = raw ] && auth=(--raw)
		bcmd=("$TERN" bench --mode "$mode" --allocations "$ALLOCS" "${auth[@]}"
			--peer "$PEER_IP:$PEER_PORT" --peers per-allocation --pps "$rate" --size "$SIZE"
			--seconds "$SECONDS_RUN" --warmup "$WARMUP" "${extra[@]}" "$LISTEN_IP:$PORT")
		[ "$TRANSPORT" = tcp ] && bcmd=("${bcmd[@]:0:${#bcmd[@]}-1}" --transport tcp "$LISTEN_IP:$PORT")
		if [ "$TRANSPORT" = tls ]; then
			bcmd=("${bcmd[@]:0:${#bcmd[@]}-1}" --transport tls "$LISTEN_IP:$TLS_PORT")
			[ -z "$TLS_MAX" ] || bcmd=("${bcmd[@]:0:${#bcmd[@]}-1}" --tls-max "$TLS_MAX" "$LISTEN_IP:$TLS_PORT")
		fi
	fi
	echo "${bcmd[*]}" >"$log.bench.cmd"

	local e0 e1 er0="" er1=""
	e0=$(udp_errs "$NS_R")
	[ "$TOPOLOGY" = veth ] && er0="$(udp_errs "$NS_C") $(udp_errs "$NS_P")"
	local t0 ta tb s0=-1 s1=-1 n0=0 n1=0 w0=0 w1=0 b0=0 b1=0 c0=0 c1=0 q0=0 q1=0
	# the relay's NAPI threads (r*) and the client's and peer's (l*), and
	# the programs ternd holds (p*)
	local rk0=0 rk1=0 rn0=0 rn1=0 rw0=0 rw1=0 lk0=0 lk1=0 ln0=0 ln1=0 pn0=0 pn1=0 pc0=0 pc1=0
	t0=$(now_ns)
	# shellcheck disable=SC2046
	start_bg "$log.bench.json" "$log.bench" ip netns exec "$NS_C" taskset -c "$LOAD_CPU" $(rt_prefix 40) \
		timeout -k 2 $((total + 30)) "${bcmd[@]}"
	local bench_pid=$BG_PID

	# idle: the bench reads the server's RSS itself (--server-pid); no CPU window
	[ "$kind" = idle ] && s0=0 s1=0 ta=0 tb=0
	# measured window: [W + margin, W + S - margin] after the bench started
	[ "$kind" = idle ] || sleep_until $((t0 + WARMUP * 1000000000 + MARGIN_MS * 1000000))
	[ "$kind" = idle ] || ta=$(now_ns)
	[ "$kind" = idle ] || {
		proc_cpu "$srv_pid"; s0=$S_TICKS
		proc_sched "$srv_pid"; n0=$S_NS w0=$S_WAIT
		core_cpu "$SERVER_CPU"; b0=$C_BUSY c0=$C_TOTAL q0=$C_SOFTIRQ
		if [ ${#NAPI_R[@]} -gt 0 ]; then
			threads_cpu "${NAPI_R[@]}"; rk0=$T_TICKS rn0=$T_NS rw0=$T_WAIT
			threads_cpu "${NAPI_L[@]}"; lk0=$T_TICKS ln0=$T_NS
		fi
		prog_stats "$srv_pid"; pn0=$P_NS pc0=$P_CNT
	}
	local perf_pid=""
	if [ "$PERF" = 1 ] && [ "$kind" != idle ]; then
		# the whole server CPU (softirq work included), for the window only
		start_bg "$log.perf.out" "$log.perf" timeout -k 2 $((SECONDS_RUN + 5)) \
			perf record -q -C "$SERVER_CPU" -e cpu-clock -F 2999 -g -o "$log.perf.data" \
			-- sleep $(((SECONDS_RUN * 1000 - 2 * MARGIN_MS) / 1000))
		perf_pid=$BG_PID
	fi
	[ "$kind" = idle ] || {
		sleep_until $((t0 + total * 1000000000 - MARGIN_MS * 1000000))
		tb=$(now_ns)
		proc_cpu "$srv_pid"; s1=$S_TICKS
		proc_sched "$srv_pid"; n1=$S_NS w1=$S_WAIT
		core_cpu "$SERVER_CPU"; b1=$C_BUSY c1=$C_TOTAL q1=$C_SOFTIRQ
		if [ ${#NAPI_R[@]} -gt 0 ]; then
			threads_cpu "${NAPI_R[@]}"; rk1=$T_TICKS rn1=$T_NS rw1=$T_WAIT
			threads_cpu "${NAPI_L[@]}"; lk1=$T_TICKS ln1=$T_NS
		fi
		prog_stats "$srv_pid"; pn1=$P_NS pc1=$P_CNT
	}

	if [ -n "$perf_pid" ]; then
		wait "$perf_pid" 2>/dev/null || true
		unset "PIDS[$perf_pid]"
		perf report -i "$log.perf.data" --no-children --sort dso,symbol --percent-limit 0.5 \
			--stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' >"$log.perf.txt" || true
	fi
	local brc=0
	wait "$bench_pid" || brc=$?
	unset "PIDS[$bench_pid]"
	e1=$(udp_errs "$NS_R")
	[ "$TOPOLOGY" = veth ] && er1="$(udp_errs "$NS_C") $(udp_errs "$NS_P")"

	# the peer prints its own summary (if any) when interrupted
	[ -z "$peer_pid" ] || stop_pid "$peer_pid" INT 20
	local alive=true
	kill -0 "$srv_pid" 2>/dev/null || alive=false
	# ternd's per-worker counters (server_stats below: balance over workers)
	[[ $name == ternd* ]] && timeout 5 "$TERN" stats --json --socket "$log.server.sock" >"$log.server.json" 2>/dev/null
	stop_pid "$srv_wrap" TERM 30
	[ "$fp" = true ] && bpf_stats_restore

	[ $brc -eq 0 ] || { ok=false why="bench exited $brc"; }
	[ "$alive" = true ] || { ok=false why="server died during the run"; }
	[ "$s0" -ge 0 ] && [ "$s1" -ge 0 ] || { ok=false why="server cpu not sampled"; }
	[ "$rk0" -ge 0 ] && [ "$rk1" -ge 0 ] && [ "$lk0" -ge 0 ] && [ "$lk1" -ge 0 ] ||
		{ ok=false why="a NAPI thread is gone (the veth's NAPI was recreated?)"; rk0=0 rk1=-1; }

	# last JSON object line of each output, validated
	local bj pj sj
	bj=$(python3 "$root/bench/report.py" --last-json "$log.bench.json")
	pj=$(python3 "$root/bench/report.py" --last-json "$log.peer.json")
	sj=null
	[ -s "$log.server.json" ] && sj=$(python3 "$root/bench/report.py" --last-json "$log.server.json")
	[ "$bj" != null ] || { ok=false why="${why:-bench printed no JSON}"; }

	printf '{"round":%d,"attempt":%d,"scenario":"%s","server":"%s","topology":"%s","ok":%s,"why":"%s","mode":"%s","rate":%s,' \
		"$round" "${ATTEMPT:-1}" "$sc" "$name" "$TOPOLOGY" "$ok" "$why" "$mode" "$rate" >>"$RUNS"
	printf '"clk_tck":%d,"proc_ticks":%d,"sched_ns":%d,"wait_ns":%d,"window_ns":%d,"core_busy":%d,"core_total":%d,"core_softirq":%d,"busy_before_pct":%d,' \
		"$CLK_TCK" $((s1 - s0)) $((n1 - n0)) $((w1 - w0)) $((tb - ta)) $((b1 - b0)) $((c1 - c0)) $((q1 - q0)) "$QUIET_BUSY" >>"$RUNS"
	if [ ${#NAPI_R[@]} -gt 0 ]; then
		printf '"napi_relay_ticks":%d,"napi_relay_ns":%d,"napi_relay_wait_ns":%d,"napi_load_ticks":%d,"napi_load_ns":%d,' \
			$((rk1 - rk0)) $((rn1 - rn0)) $((rw1 - rw0)) $((lk1 - lk0)) $((ln1 - ln0)) >>"$RUNS"
	fi
	printf '"fast_path":%s,"prog_run_ns":%d,"prog_run_cnt":%d,' "$fp" $((pn1 - pn0)) $((pc1 - pc0)) >>"$RUNS"
	printf '"udp_errs_relay_ns":[%s],"udp_errs_other_ns":[%s],"bench":%s,"peer":%s,"server_stats":%s}\n' \
		"$(diff_list "$e0" "$e1")" "$(diff_list "$er0" "$er1")" "$bj" "$pj" "$sj" >>"$RUNS"
	python3 "$root/bench/report.py" --line "$RUNS" >&2 || true
}

diff_list() {
	local a b out=() i
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for i in "${!a[@]}"; do out+=($((b[i] - a[i]))); done
	local IFS=,
	echo "${out[*]}"
}

# ---- the rounds -------------------------------------------------------------------
nsrv=${#servers[@]}
est=$((ROUNDS * ${#scen[@]} * nsrv * (WARMUP + SECONDS_RUN + 3)))
note "servers: ${servers[*]}"
for s in "${skipped[@]}"; do note "skipped: $s"; done
note "scenarios: ${scen[*]}; topology $TOPOLOGY; $ROUNDS round(s); ~$((est / 60)) min; results in $OUT"

for round in $(seq 1 "$ROUNDS"); do
	for sc in "${scen[@]}"; do
		for i in $(seq 0 $((nsrv - 1))); do
			name=${servers[$(((i + round - 1) % nsrv))]}
			if is_conn_scenario "$sc" && ! serves_tcp "$name"; then continue; fi
			ATTEMPT=1
			run_one "$round" "$sc" "$name"
			if [ "$SMOKE" = 1 ]; then
				# one retry, so a scheduling hiccup of a busy CI machine is not
				# a failure; a server that cannot relay fails twice
				if ! python3 "$root/bench/report.py" --clean "$RUNS"; then
					note "$name $sc: not clean, retrying once"
					ATTEMPT=2
					sleep 1
					run_one "$round" "$sc" "$name"
				fi
			else
				# a run whose server had to share its CPU with another task is
				# measured again (at most --retries times); the report keeps
				# the least disturbed attempt
				while [ "$ATTEMPT" -le "$RETRIES" ] && python3 "$root/bench/report.py" --disturbed "$RUNS"; do
					ATTEMPT=$((ATTEMPT + 1))
					note "$name $sc: disturbed by other tasks on CPU $SERVER_CPU, measuring again ($ATTEMPT)"
					run_one "$round" "$sc" "$name"
				done
			fi
			sleep 0.3
		done
	done
done

report_args=("$OUT")
[ "$SMOKE" = 1 ] && report_args+=(--smoke)
python3 "$root/bench/report.py" "${report_args[@]}" | tee "$OUT/report.md"
