#!/usr/bin/env bash
# The service's files, as the build generates them: man pages without a
# groff or man warning, a unit that systemd accepts without a word and
# that the offline security review rates well, and `make install`'s layout
# (an existing ternd.conf is kept). Env: BUILD_DIR, SRC_DIR (CTest).
set -uo pipefail
. "${SRC_DIR:?}/tests/integration/lib/common.sh"
need_tools groff man systemd-analyze cmake
build=${BUILD_DIR:?}
tmp=$(mktemp -d /tmp/tern-service-files-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- man pages ----
for page in man8/ternd.8 man5/ternd.conf.5 man1/tern.1; do
	f=$build/man/$page
	check "$page was generated" test -s "$f"
	out=$(groff -man -ww -z "$f" 2>&1)
	check "$page: groff -man -ww -z says nothing${out:+ ($out)}" test -z "$out"
	out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	check "$page: man --warnings says nothing${out:+ ($out)}" test -z "$out"
done
check "ternd(8) documents proc-user" grep -q 'proc\\-user' "$build/man/man8/ternd.8"
check "tern(1) has every command's help (tern stats)" grep -q '^usage: tern stats' "$build/man/man1/tern.1"

# ---- systemd unit ----
unit=$build/ternd.service
check "the unit was generated" test -s "$unit"
for key in Type=notify User=ternd NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	PrivateDevices=yes RuntimeDirectory=ternd 'ExecReload=/bin/kill -HUP $MAINPID' \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK' \
	'CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_BPF' 'AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_BPF'; do
	check "unit: $key" grep -qxF "$key" "$unit"
done
# verify wants ExecStart's binary and the Documentation= pages to exist:
# this build's, under the unit's own name
sed -e "s|^ExecStart=[^ ]*|ExecStart=$build/ternd|" "$unit" >"$tmp/ternd.service"
out=$(MANPATH=$build/man systemd-analyze verify "$tmp/ternd.service" 2>&1)
rc=$?
check "systemd-analyze verify accepts the unit, without a warning (rc $rc${out:+: $out})" test "$rc" -eq 0 -a -z "$out"
# the check can fail: a misspelt value is reported
mkdir -p "$tmp/bad"
sed -e 's/^Type=notify/Type=notfy/' "$tmp/ternd.service" >"$tmp/bad/ternd.service"
out=$(MANPATH=$build/man systemd-analyze verify "$tmp/bad/ternd.service" 2>&1)
check "... and reports a misspelt Type= (the check can fail)" grep -q "Failed to parse service type" <<<"$out"
out=$(MANPATH=$build/man systemd-analyze security --offline=yes --threshold=25 "$tmp/ternd.service" 2>&1)
rc=$?
level=$(sed -n 's/.*Overall exposure level for ternd.service: \([0-9.]*\).*/\1/p' <<<"$out")
check "systemd-analyze security rates the unit's exposure at most 2.5 of 10 (${level:-?})" test "$rc" -eq 0 -a -n "$level"

# ---- the unit's system call filter against the calls ternd makes ----
# ternd under strace as the unit runs it (user nobody here, the unit's
# ambient capabilities), relaying over UDP and TCP, a reload, tern stats
# and a stop: every system call it made must pass the unit's
# SystemCallFilter= lines (allow list, then ~deny list), groups expanded
# with systemd-analyze. A call outside would kill the service (EPERM).
if [ "$(id -u)" -eq 0 ] && command -v strace >/dev/null && command -v setpriv >/dev/null; then
	port_block
	mkdir -m 0777 "$tmp/st"
	strace -f -qq -o "$tmp/st/trace" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		--inh-caps=+net_bind_service,+bpf --ambient-caps=+net_bind_service,+bpf "$build/ternd" \
		--listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$base" --min-port $((base + 2)) \
		--max-port $((base + 30)) --realm it.test --user it:it-pass --allow-loopback-peers --workers 2 \
		--stats-socket "$tmp/st/stats.sock" >"$tmp/st/ternd.log" 2>&1 &
	st_pid=$!
	wait_line "$tmp/st/ternd.log" "ternd ready" 20
	timeout 15 "$build/tern" bench peer --listen 127.0.0.1:$((base + 40)) --count 2 --echo --seconds 10 \
		>/dev/null 2>&1 &
	peer=$!
	sleep 0.3
	for tr in udp tcp; do
		timeout 20 "$build/tern" bench --transport $tr --user it --password it-pass --allocations 2 \
			--peer 127.0.0.1:$((base + 40)) --pps 500 --seconds 0.5 --warmup 0.1 --quiet 127.0.0.1:"$base" \
			>>"$tmp/st/bench.out" 2>&1
	done
	timeout 5 "$build/tern" stats --socket "$tmp/st/stats.sock" >/dev/null
	tpid=$(pgrep -P "$st_pid" -x ternd || true)
	kill -USR2 "$tpid" 2>/dev/null
	sleep 0.3
	kill -TERM "$tpid" 2>/dev/null
	timeout 10 tail --pid="$st_pid" -f /dev/null || kill -KILL "$st_pid"
	kill "$peer" 2>/dev/null
	wait "$st_pid" "$peer" 2>/dev/null
	check "ternd ran and relayed under strace" grep -q '"received":[1-9]' "$tmp/st/bench.out"
	systemd-analyze syscall-filter >"$tmp/st/groups.txt"
	bad=$(python3 - "$unit" "$tmp/st/groups.txt" "$tmp/st/trace" <<'PY'
import re, sys
unit, groups_txt, trace = sys.argv[1:4]
groups, cur = {}, None
for line in open(groups_txt):
    if line.startswith("@"):
        cur = line.strip(); groups[cur] = []
    elif cur and line.strip() and not line.strip().startswith("#"):
        groups[cur].append(line.strip())
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return out
allow, deny = set(), set()
for line in open(unit):
    if line.startswith("SystemCallFilter="):
        v = line.split("=", 1)[1].split()
        if v[0].startswith("~"):
            deny |= expand([v[0][1:]] + v[1:])
        else:
            allow |= expand(v)
used = set(re.findall(r"^\d+ +([a-z_0-9]+)\(", open(trace).read(), re.M))
# setpriv's own calls before it executes ternd count too: harmless, it is
# systemd that plays setpriv's part under the unit
print(" ".join(sorted((used - allow) | (used & deny))) if allow else "no-filter-found")
PY
)
	nsys=$(sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$tmp/st/trace" | sort -u | wc -l)
	check "the unit's SystemCallFilter allows each of the $nsys system calls ternd made${bad:+ (not allowed: $bad)}" test -z "$bad"
else
	ok "# SKIP system call filter check: needs root, strace and setpriv"
fi

# ---- make install layout ----
dest=$tmp/dest
out=$(DESTDIR=$dest cmake --install "$build" 2>&1)
check "cmake --install into a DESTDIR (rc $?)" test -d "$dest"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
etc=$([ "$prefix" = /usr ] && echo /etc || echo "$prefix/etc")
unitdir=$([ "$prefix" = /usr ] && echo /lib/systemd/system || echo "$prefix/lib/systemd/system")
for f in "$prefix/sbin/ternd" "$prefix/bin/tern" "$prefix/share/man/man8/ternd.8" \
	"$prefix/share/man/man5/ternd.conf.5" "$prefix/share/man/man1/tern.1" "$unitdir/ternd.service" \
	"$etc/ternd.conf"; do
	check "installed: $f" test -s "$dest$f"
done
check "the installed unit starts the installed ternd on the installed ternd.conf" \
	grep -qxF "ExecStart=$prefix/sbin/ternd -c $etc/ternd.conf" "$dest$unitdir/ternd.service"
check "the installed ternd.conf is not world-readable (it holds credentials)" \
	test "$(stat -c %a "$dest$etc/ternd.conf")" = 640
check "the installed ternd.conf passes --check-config" eval '"$dest$prefix/sbin/ternd" --check-config -c "$dest$etc/ternd.conf" >/dev/null'
echo "# edited" >>"$dest$etc/ternd.conf"
out=$(DESTDIR=$dest cmake --install "$build" 2>&1)
check "a second install keeps an existing ternd.conf" grep -q "^# edited" "$dest$etc/ternd.conf"
finish
