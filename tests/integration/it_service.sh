#!/usr/bin/env bash
# ternd as a service (issue 10 part 6): the systemd notification protocol
# (READY after start-up, RELOADING/READY around SIGUSR2, STOPPING,
# WATCHDOG pings when asked for), proc-user/proc-group and the capability
# drop after start-up (checked in /proc/PID/status, and the server still
# relays), and syslog. A python socket stands in for systemd's
# $NOTIFY_SOCKET; for syslog, the test re-runs itself in a private mount
# namespace with a /dev of its own whose /dev/log is such a socket.
# Env: TERND, TERN (set by CTest). Loopback only; every step bounded.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
need_tools timeout flock ss python3 setpriv unshare
ternd=${TERND:?} tern=${TERN:?}
sink=$here/lib/dgram_sink.py

tmp=$(mktemp -d /tmp/tern-it-service-XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
port_block
common=(--listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --realm it.test --user it:it-pass
	--allow-loopback-peers --min-port $((base + 10)) --max-port $((base + 39)))

# wait_for FILE REGEX SECONDS: a line matching REGEX appears
wait_for() {
	local w
	for ((w = 0; w < $3 * 20; w++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# wait_cond SECONDS COMMAND...: COMMAND succeeds within SECONDS (the sink
# writes what it receives a little later on a loaded machine)
wait_cond() {
	local w t=$1
	shift
	for ((w = 0; w < t * 20; w++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
# reloaded_then_ready N: N RELOADING=1 so far, and a READY=1 after the last
reloaded_then_ready() {
	[ "$(grep -c RELOADING=1 "$tmp/notify.log")" -eq "$1" ] &&
		awk '/RELOADING=1/ {r = NR} /READY=1/ && r && NR > r {ok = 1} END {exit !ok}' "$tmp/notify.log"
}
# stop PID: SIGTERM, wait for the exit (5 s); its status in $rc
stop() {
	kill -TERM "$1" 2>/dev/null
	rc=0
	timeout 5 tail --pid="$1" -f /dev/null || kill -KILL "$1"
	wait "$1" || rc=$?
}
status_field() { awk -v k="$2:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "/proc/$1/status"; }

# ---- 1. sd_notify ----
python3 "$sink" "$tmp/notify" "$tmp/notify.log" 30 &
pids+=($!)
wait_for "$tmp/notify.log" '^# listening' 5
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=400000 "$ternd" "${common[@]}" --listening-port "$base" \
	--workers 2 >"$tmp/notify-ternd.log" 2>&1 &
ternd_pid=$!
pids+=($ternd_pid)
check "READY=1 reaches the notification socket" wait_for "$tmp/notify.log" 'READY=1' 10
check "... after the workers started (ternd ready is logged first)" grep -q "ternd ready" "$tmp/notify-ternd.log"
check "... with a STATUS line" grep -qE 'READY=1\|STATUS=serving: 2 workers, realm it.test' "$tmp/notify.log"
sleep 1
wd=$(grep -c 'WATCHDOG=1' "$tmp/notify.log")
# WatchdogSec 0.4 s: a ping every 0.2 s, so about 5 in the second slept
check "WATCHDOG=1 pings at half of WATCHDOG_USEC ($wd in about 1 s)" test "$wd" -ge 3 -a "$wd" -le 12
kill -USR2 "$ternd_pid"
check "SIGUSR2: RELOADING=1 (with MONOTONIC_USEC)" wait_for "$tmp/notify.log" 'RELOADING=1.*MONOTONIC_USEC=[0-9]+' 5
check "... then READY=1 again" wait_cond 5 reloaded_then_ready 1
kill -HUP "$ternd_pid"
check "SIGHUP (configuration reload): RELOADING=1 again, then READY=1" wait_cond 5 reloaded_then_ready 2
check "... and the reload happened" wait_for "$tmp/notify-ternd.log" "SIGHUP: configuration reloaded" 5
stop "$ternd_pid"
check "SIGTERM: STOPPING=1" wait_for "$tmp/notify.log" 'STOPPING=1' 5
check "... and exit 0 ($rc)" test "$rc" -eq 0
n_before=$(grep -c . "$tmp/notify.log")
# WATCHDOG_PID names another process: the watchdog is not ours to ping
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=200000 WATCHDOG_PID=1 "$ternd" "${common[@]}" --listening-port "$base" \
	--workers 1 >"$tmp/notify-ternd2.log" 2>&1 &
ternd_pid=$!
pids+=($ternd_pid)
wait_for "$tmp/notify-ternd2.log" "ternd ready" 10
sleep 0.6
stop "$ternd_pid"
wd=$(tail -n +$((n_before + 1)) "$tmp/notify.log" | grep -c 'WATCHDOG=1')
check "no WATCHDOG=1 when WATCHDOG_PID is another process ($wd)" test "$wd" -eq 0

# ---- 2. proc-user / proc-group ----
if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP proc-user tests need root"
else
	nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
	run=$tmp/run
	mkdir -p "$run" && chown nobody "$run"
	timeout 30 "$tern" bench peer --listen 127.0.0.1:$((base + 40)) --count 2 --echo --seconds 25 \
		>/dev/null 2>"$tmp/peer.log" &
	pids+=($!)
	"$ternd" "${common[@]}" --listening-port "$base" --workers 2 --proc-user nobody \
		--stats-socket "$run/stats.sock" >"$tmp/user.log" 2>&1 &
	ternd_pid=$!
	pids+=($ternd_pid)
	wait_line "$tmp/user.log" "ternd ready" 10 && wait_line "$tmp/peer.log" "listening" 10
	uid=$(status_field "$ternd_pid" Uid) gid=$(status_field "$ternd_pid" Gid)
	check "proc-user nobody: every uid is $nobody_uid ($uid)" \
		test "$(tr -s '\t ' '\n' <<<"$uid" | sort -u)" = "$nobody_uid"
	check "... every gid is nobody's group $nobody_gid ($gid)" \
		test "$(tr -s '\t ' '\n' <<<"$gid" | sort -u)" = "$nobody_gid"
	check "... no capability left (CapEff $(status_field "$ternd_pid" CapEff))" \
		test "$(status_field "$ternd_pid" CapEff)" = 0000000000000000 -a \
		"$(status_field "$ternd_pid" CapPrm)" = 0000000000000000
	bad=0
	for t in /proc/"$ternd_pid"/task/*; do
		[ "$(awk '$1 == "Uid:" {print $2}' "$t/status")" = "$nobody_uid" ] || bad=$((bad + 1))
	done
	check "... in every thread ($(ls /proc/"$ternd_pid"/task | wc -l) threads, $bad not switched)" test "$bad" -eq 0
	timeout 30 "$tern" bench --user it --password it-pass --allocations 2 --peer 127.0.0.1:$((base + 40)) \
		--pps 1000 --seconds 2 --warmup 0.2 --quiet 127.0.0.1:"$base" >"$tmp/bench.out" &
	bench_pid=$!
	sleep 1 # the allocations are live: read the steering counters meanwhile
	json=$(timeout 5 "$tern" stats --socket "$run/stats.sock" --json)
	wait "$bench_pid"
	out=$(cat "$tmp/bench.out")
	sent=$(jget "$out" sent) received=$(jget "$out" received)
	check "... still relays: new relay sockets after the switch ($received of $sent)" \
		test "${sent:-0}" -gt 0 -a "$sent" = "$received"
	check "... the stats socket is the new user's" test "$(stat -c %u "$run/stats.sock" 2>/dev/null)" = "$nobody_uid"
	# eBPF steering was loaded as root; its maps are used through their
	# descriptors after the switch (workers pin every new allocation's flow)
	if [ "$(jget "$json" steering)" = ebpf ]; then
		fails=$(python3 -c 'import json,sys; w = json.loads(sys.argv[1])["workers"]; print(sum(x["steering_pin_failures"] for x in w), sum(x["steering_pinned"] for x in w))' "$json")
		read -r nfail npinned <<<"$fails"
		check "... eBPF steering keeps pinning flows after the switch ($npinned pinned, $nfail failures)" \
			test "$nfail" -eq 0 -a "$npinned" -ge 2
	else
		ok "# SKIP eBPF steering not loaded here: $(grep -m1 steering "$tmp/user.log")"
	fi
	stop "$ternd_pid"
	check "... exits 0 on SIGTERM ($rc)" test "$rc" -eq 0

	"$ternd" "${common[@]}" --listening-port "$base" --workers 1 --proc-group nogroup >"$tmp/group.log" 2>&1 &
	ternd_pid=$!
	pids+=($ternd_pid)
	wait_line "$tmp/group.log" "ternd ready" 10
	check "proc-group alone: the gid changes ($(status_field "$ternd_pid" Gid))" \
		test "$(status_field "$ternd_pid" Gid | awk '{print $1}')" = "$(getent group nogroup | cut -d: -f3)"
	check "... the uid stays 0" test "$(status_field "$ternd_pid" Uid | awk '{print $1}')" = 0
	stop "$ternd_pid"

	# a user that does not exist: one line naming the file, line, option and value
	printf 'realm=it.test\nuser=it:it-pass\nproc-user=no-such-user-tern\n' >"$tmp/bad.conf"
	rc=0
	err=$(timeout 10 "$ternd" -c "$tmp/bad.conf" --check-config 2>&1) || rc=$?
	check "proc-user of an unknown user: exit 2 ($rc)" test "$rc" -eq 2
	check "... one line naming file:line, option and value ($err)" \
		test "$err" = "$tmp/bad.conf:3: option 'proc-user' value 'no-such-user-tern': no such user"
	rc=0
	err=$(timeout 10 "$ternd" --realm it.test --user it:it-pass --proc-group no-such-group-tern 2>&1) || rc=$?
	check "proc-group of an unknown group: exit 2, one line ($err)" \
		test "$rc" -eq 2 -a "$err" = "command line: option '--proc-group' value 'no-such-group-tern': no such group"

	# A non-root start with ambient capabilities (the packaged unit's way):
	# they serve start-up only.
	setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=+net_bind_service,+bpf \
		--ambient-caps=+net_bind_service,+bpf "$ternd" "${common[@]}" --listening-port "$base" --workers 2 \
		>"$tmp/caps.log" 2>&1 &
	ternd_pid=$!
	pids+=($ternd_pid)
	wait_line "$tmp/caps.log" "ternd ready" 10
	check "non-root start with ambient capabilities: runs as nobody" \
		test "$(status_field "$ternd_pid" Uid | awk '{print $1}')" = "$nobody_uid"
	check "... and has given them up after start-up (CapEff $(status_field "$ternd_pid" CapEff), CapAmb $(status_field "$ternd_pid" CapAmb))" \
		test "$(status_field "$ternd_pid" CapEff)" = 0000000000000000 -a \
		"$(status_field "$ternd_pid" CapAmb)" = 0000000000000000
	grep -q "steering: ebpf" "$tmp/caps.log" && ok "... eBPF steering loaded with CAP_BPF alone" ||
		diag "eBPF steering did not load as nobody with CAP_BPF: $(grep steering "$tmp/caps.log")"
	stop "$ternd_pid"
	check "... exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
fi

# ---- 3. syslog ----
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	ok "# SKIP syslog test needs root and a mount namespace"
else
	python3 "$sink" "$tmp/devlog" "$tmp/syslog.log" 20 &
	pids+=($!)
	wait_for "$tmp/syslog.log" '^# listening' 5
	: >"$tmp/null"
	# A /dev of our own: /dev/null, and /dev/log pointing at the sink.
	unshare -m --propagation private sh -c '
		mount --bind /dev/null "$1/null" && mount -t tmpfs tmpfs /dev &&
		touch /dev/null && mount --bind "$1/null" /dev/null && ln -s "$1/devlog" /dev/log &&
		shift && exec "$@"' sh "$tmp" "$ternd" "${common[@]}" --listening-port "$base" --workers 1 \
		--syslog --log-file "$tmp/file.log" >"$tmp/syslog-ternd.log" 2>&1 &
	ternd_pid=$!
	pids+=($ternd_pid)
	check "syslog: lines reach /dev/log" wait_for "$tmp/syslog.log" 'ternd ready' 10
	check "... as LOG_DAEMON|LOG_INFO (<30>) with ident and pid" \
		grep -qE '<30>.*ternd\[[0-9]+\]: ternd ready' "$tmp/syslog.log"
	check "... nothing on standard output or error" test ! -s "$tmp/syslog-ternd.log"
	check "... the log-file is still written" grep -q "ternd ready" "$tmp/file.log"
	stop "$ternd_pid"
fi
finish
