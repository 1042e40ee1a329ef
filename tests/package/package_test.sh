#!/usr/bin/env bash
# The Debian package, end to end (issue 10 part 6): build it (make deb's
# script, in a copy of the tree), install it into this machine with dpkg -i,
# check what it installed (binaries, unit, conffile, man pages, the system
# user and the configuration's permissions), run the packaged ternd as the
# unit would (user ternd, the unit's ambient capabilities, the packaged
# configuration), verify the installed unit, run lintian, then dpkg --purge
# it and check that the machine is as it was.
# Skips (77) without root or dpkg, or when a ternd package or user already
# exists (the test must not touch an operator's installation).
# Env: SRC_DIR, BUILD_DIR, TERN (CTest); usage: package_test.sh [OUT_DIR]
set -uo pipefail
src=${SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$src/tests/integration/lib/common.sh"
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg-buildpackage >/dev/null; then
	echo "# SKIP: needs root and dpkg-buildpackage (scripts/deps.sh deb)"
	exit 77
fi
if dpkg-query -W -f='${Status}' ternd 2>/dev/null | grep -q installed || getent passwd ternd >/dev/null; then
	echo "# SKIP: a ternd package or user already exists on this machine; not touching it"
	exit 77
fi
need_tools lintian systemd-analyze man setpriv timeout
tmp=$(mktemp -d /tmp/tern-package-XXXXXX)
chmod 755 "$tmp"
out=${1:-$tmp/out}
pid=""
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	# whatever happened, the machine is left without the package
	if dpkg-query -W -f='${Status}' ternd 2>/dev/null | grep -q installed; then
		dpkg --purge ternd >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

start=$(date +%s)
if ! "$src/scripts/build-deb.sh" "$out" >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	notok "the package builds"
	finish
fi
deb=$(ls "$out"/ternd_*_*.deb | head -n 1)
ok "the package builds in $(($(date +%s) - start)) s: $(basename "$deb")"
check "the source tree was not written to (no debian/ternd, no obj-*)" \
	test ! -e "$src/debian/ternd" -a -z "$(ls -d "$src"/obj-* 2>/dev/null)"

rc=0
lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$deb" >"$tmp/lintian.log" 2>&1 || rc=$?
out_l=$(grep -v '^running with root' "$tmp/lintian.log")
check "lintian --pedantic: no tag (overrides are justified in debian/) (rc $rc${out_l:+: $out_l})" \
	test "$rc" -eq 0 -a -z "$out_l"

rc=0
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { rc=$?; cat "$tmp/dpkg.log"; }
check "dpkg -i installs it (rc $rc)" test "$rc" -eq 0
for f in /usr/sbin/ternd /usr/bin/tern /lib/systemd/system/ternd.service /etc/ternd.conf \
	/usr/share/doc/ternd/copyright /usr/share/doc/ternd/OPERATIONS.md; do
	check "installed: $f" test -s "$f" -o -s "$f.gz" # dh_compress: docs over 4 KiB
done
for page in ternd.8 ternd.conf.5 tern.1; do
	check "man page $page is installed and found by man" test -n "$(man -w "${page%.*}" 2>/dev/null | grep "$page")"
done
check "/etc/ternd.conf is a conffile" grep -q '/etc/ternd.conf' <<<"$(dpkg-query -W -f='${Conffiles}' ternd)"
check "the system user ternd exists (uid $(id -u ternd 2>/dev/null))" test "$(id -u ternd 2>/dev/null || echo 99999)" -lt 1000
check "... with no login shell" grep -qE '^ternd:.*:(/usr/sbin/nologin|/bin/false)$' /etc/passwd
check "/etc/ternd.conf is root:ternd 0640 (credentials)" test "$(stat -c '%U:%G %a' /etc/ternd.conf)" = "root:ternd 640"
out_c=$(/usr/sbin/ternd --check-config -c /etc/ternd.conf 2>&1)
check "ternd --check-config -c /etc/ternd.conf ($out_c)" test "$out_c" = "/etc/ternd.conf: configuration OK"
check "... also as the user ternd (the unit's User=)" \
	eval 'setpriv --reuid=ternd --regid=ternd --init-groups /usr/sbin/ternd --check-config -c /etc/ternd.conf >/dev/null'
out_v=$(systemd-analyze verify /lib/systemd/system/ternd.service 2>&1)
check "systemd-analyze verify accepts the installed unit${out_v:+ ($out_v)}" test -z "$out_v"
check "the service is installed but not enabled" test ! -e /etc/systemd/system/multi-user.target.wants/ternd.service

# The packaged ternd as the unit starts it: user ternd, the unit's ambient
# capabilities, the packaged configuration (port and socket moved off the
# defaults so nothing else is disturbed).
port_block
# the stats socket is made after the switch to ternd: a directory of its own,
# as the unit's RuntimeDirectory is
mkdir "$tmp/run" && chown ternd:ternd "$tmp/run"
setpriv --reuid=ternd --regid=ternd --init-groups --inh-caps=+net_bind_service,+bpf \
	--ambient-caps=+net_bind_service,+bpf /usr/sbin/ternd -c /etc/ternd.conf --listening-port "$base" \
	--min-port $((base + 2)) --max-port $((base + 30)) --stats-socket "$tmp/run/stats.sock" --workers 2 \
	>"$tmp/ternd.log" 2>&1 &
pid=$!
wait_line "$tmp/ternd.log" "ternd ready" 10
check "the packaged ternd starts as ternd on the packaged configuration" grep -q "ternd ready" "$tmp/ternd.log"
check "... and answers tern stats" timeout 5 /usr/bin/tern stats --socket "$tmp/run/stats.sock" >/dev/null
check "... with no capability left (CapEff $(awk '$1 == "CapEff:" {print $2}' /proc/$pid/status))" \
	test "$(awk '$1 == "CapEff:" {print $2}' /proc/$pid/status)" = 0000000000000000
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
check "... and stops with status 0 ($rc)" test "$rc" -eq 0

rc=0
dpkg --purge ternd >"$tmp/purge.log" 2>&1 || { rc=$?; cat "$tmp/purge.log"; }
check "dpkg --purge removes it (rc $rc)" test "$rc" -eq 0
for f in /usr/sbin/ternd /usr/bin/tern /lib/systemd/system/ternd.service /etc/ternd.conf /usr/share/man/man8/ternd.8.gz; do
	check "gone after purge: $f" test ! -e "$f"
done
check "... the user and group ternd are gone" test -z "$(getent passwd ternd)$(getent group ternd)"
check "... and the permission override" test -z "$(dpkg-statoverride --list /etc/ternd.conf)"
finish
