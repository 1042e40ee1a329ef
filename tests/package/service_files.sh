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
	PrivateDevices=yes RuntimeDirectory=ternd 'ExecReload=/bin/kill -USR2 $MAINPID' \
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
check "the installed ternd.conf passes --check-config" "$dest$prefix/sbin/ternd" --check-config -c "$dest$etc/ternd.conf"
echo "# edited" >>"$dest$etc/ternd.conf"
out=$(DESTDIR=$dest cmake --install "$build" 2>&1)
check "a second install keeps an existing ternd.conf" grep -q "^# edited" "$dest$etc/ternd.conf"
finish
