#!/usr/bin/env bash
# Real-browser end-to-end test: two WebRTC peers in headless Debian Chromium
# that can reach each other only through ternd. See docs/E2E.md.
#
# usage: e2e/run.sh [RUN...]        RUN: loopback netns tcp turns rest drain drain-tcp
#                                   (default: all but drain-tcp)
# env:   BUILD_DIR (default <repo>/build), TERND, TERN   the binaries under test
#        CHROMIUM (default /usr/bin/chromium)            Debian's chromium, never a download
#        E2E_STRICT=1    a machine that cannot run the test (not root, chromium not
#                        installable, npm ci failing) is a failure, not a skip (77)
#        E2E_RUN_TIMEOUT seconds per run for the browser driver (default 180)
#        E2E_KEEP=1      keep the work directory (logs, net logs) even on success
#
# Every browser runs inside a network namespace that this script creates and
# that has no route off the machine; ternd runs in the same namespace
# (loopback, rest) or in a second one joined by a veth pair (netns, tcp,
# turns). Chromium reaches ternd over UDP (loopback, netns, rest), TCP (tcp)
# or TLS (turns: a test CA and certificate made here with openssl, trusted
# through an NSS database in a HOME made here, never the user's). In drain,
# two ternd nodes and Chromium each have a namespace, joined by a bridge in
# a fourth: node A drains and sends new clients to node B (ALTERNATE-SERVER).
# Prints one ok/not ok line per check, then "N passed, M failed"; exit 0 when
# all passed, 1 on any failure, 77 when the test cannot run here (skipped).
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(dirname "$E2E_DIR")
BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
TERND=${TERND:-$BUILD_DIR/ternd}
TERN=${TERN:-$BUILD_DIR/tern}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
RUN_TIMEOUT=${E2E_RUN_TIMEOUT:-180}
STRICT=${E2E_STRICT:-0}
RUNS=("$@")
[ ${#RUNS[@]} -eq 0 ] && RUNS=(loopback netns tcp turns rest drain)

abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
TERND=$(abspath "$TERND")
TERN=$(abspath "$TERN")
T_START=$(date +%s)
passed=0
failed=0
tap=0
PIDS=()       # processes started here (ternd, the browser driver)
NAMESPACES=() # network namespaces created here
WORK=""

say() { echo "# $*"; }
ok() {
	tap=$((tap + 1)) passed=$((passed + 1))
	echo "ok $tap - $*"
}
not_ok() {
	tap=$((tap + 1)) failed=$((failed + 1))
	echo "not ok $tap - $*"
}
check() { # check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# The machine cannot run the test: skipped (77), or a failure under E2E_STRICT.
skip() {
	echo "# SKIP e2e: $*"
	if [ "$STRICT" = 1 ]; then
		echo "$passed passed, $((failed + 1)) failed"
		exit 1
	fi
	echo "$passed passed, $failed failed, 1 skipped"
	exit 77
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# Stop every process this script started, then its namespaces. A process in
# a namespace made here was started here (ternd, node, chromium and its
# helpers), so `ip netns pids` names only our own processes.
ns_kill() {
	local ns=$1 sig=$2 pids
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	[ -n "${pids// /}" ] && kill "-$sig" $pids 2>/dev/null
	return 0
}
cleanup() {
	local p ns i
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for ns in "${NAMESPACES[@]}"; do ns_kill "$ns" TERM; done
	for i in $(seq 1 30); do
		local left=""
		for ns in "${NAMESPACES[@]}"; do left+=$(ip netns pids "$ns" 2>/dev/null); done
		[ -z "$left" ] && break
		sleep 0.1
	done
	for ns in "${NAMESPACES[@]}"; do
		ns_kill "$ns" KILL
		ip netns del "$ns" 2>/dev/null
	done
	PIDS=()
	NAMESPACES=()
}
on_exit() {
	local rc=$?
	cleanup
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$failed" -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
			rm -rf "$WORK"
		else
			echo "# logs kept in $WORK"
		fi
	fi
	exit $rc
}
trap on_exit EXIT
trap 'echo "# interrupted"; failed=$((failed + 1)); exit 130' INT TERM

# ---------------------------------------------------------------- preflight
if [ "$(id -u)" -ne 0 ]; then
	skip "needs root (network namespaces, apt-get)"
fi
for b in "$TERND" "$TERN"; do
	[ -x "$b" ] || { echo "# $b missing: build first (make, or cmake --build build --target ternd tern)"; echo "0 passed, 1 failed"; exit 1; }
done
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v timeout >/dev/null || skip "coreutils timeout is missing"

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	say "installing $* (Debian packages)"
	timeout 900 apt-get update -qq >/dev/null 2>&1 || true
	timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}
if [ ! -x "$CHROMIUM" ]; then
	[ "$CHROMIUM" = /usr/bin/chromium ] || skip "CHROMIUM=$CHROMIUM is not executable"
	apt_install chromium chromium-driver || skip "Debian's chromium is not installable here"
	[ -x "$CHROMIUM" ] || skip "Debian's chromium is not installable here"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt_install nodejs npm || skip "node and npm are not installable here"
fi
# turns: openssl makes the test PKI, certutil (NSS) the browser's trust store
if [[ " ${RUNS[*]} " == *" turns "* ]]; then
	command -v openssl >/dev/null || { apt_install openssl && command -v openssl >/dev/null; } ||
		skip "openssl is not installable here"
	command -v certutil >/dev/null || { apt_install libnss3-tools && command -v certutil >/dev/null; } ||
		skip "certutil (Debian's libnss3-tools) is not installable here"
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
	skip "node $(node --version) is too old for playwright-core (20 or later)"
if [ ! -f "$E2E_DIR/node_modules/playwright-core/package.json" ]; then
	say "npm ci (playwright-core only: it downloads no browser)"
	(cd "$E2E_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 npm ci --no-audit --no-fund --loglevel=error) ||
		skip "npm ci failed in e2e/ (no npm registry?)"
fi
say "$("$CHROMIUM" --version 2>/dev/null | head -1), node $(node --version), playwright-core $(node -p 'require(process.argv[1]).version' "$E2E_DIR/node_modules/playwright-core/package.json")"

WORK=$(mktemp -d /tmp/tern-e2e.XXXXXX)
chmod 755 "$WORK"
TAG="te2e$$" # namespace names: unique per run of this script

new_ns() { # new_ns NAME: a namespace with only lo, up
	local ns=$1
	ip netns add "$ns" || return 1
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
}
# The namespace has no route off the machine: no default route (v4 or v6),
# and no interface but lo and the veth made here.
isolated() { # isolated NS [allowed-link]
	local ns=$1 veth=${2:-} links
	[ -z "$(ip -n "$ns" -4 route show default)" ] || return 1
	[ -z "$(ip -n "$ns" -6 route show default 2>/dev/null)" ] || return 1
	links=$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
	[ "$links" = "$(printf '%s\n' lo $veth | sort | tr '\n' ' ')" ] || { say "$ns links: $links"; return 1; }
}

# A free UDP port in NS for the listener; the relay range is the 200 ports
# above it (the namespaces are new, so every port is free: checked anyway).
free_port() {
	local ns=$1 p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if [ -z "$(ip netns exec "$ns" ss -Hlun "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# start_ternd NS DIR ARGS...: ternd in NS, stats socket DIR/stats.sock;
# waits (bounded) until the socket answers.
start_ternd() {
	local ns=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	ip netns exec "$ns" "$TERND" "$@" --stats-socket "$dir/stats.sock" --pidfile "$dir/ternd.pid" \
		>"$dir/ternd.log" 2>&1 &
	TERND_PID=$!
	PIDS+=("$TERND_PID")
	for _ in $(seq 1 100); do
		if [ -S "$dir/stats.sock" ] && grep -q "ternd ready" "$dir/ternd.log"; then
			return 0
		fi
		kill -0 "$TERND_PID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   ternd: /' "$dir/ternd.log" | tail -20
	return 1
}
# stop_ternd: SIGTERM, and ternd must exit 0 within 10 s.
stop_ternd() {
	local rc
	kill -TERM "$TERND_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$TERND_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$TERND_PID" 2>/dev/null; then
		kill -KILL "$TERND_PID" 2>/dev/null
		wait "$TERND_PID" 2>/dev/null
		return 1
	fi
	wait "$TERND_PID"
	rc=$?
	forget_pid "$TERND_PID"
	[ $rc -eq 0 ] || say "ternd exit status $rc"
	return $rc
}

# ternd_alive LABEL DIR: ternd still runs (a crash shows in its log)
ternd_alive() {
	if kill -0 "$TERND_PID" 2>/dev/null; then
		ok "$1: ternd still running"
		return 0
	fi
	wait "$TERND_PID"
	not_ok "$1: ternd still running (it exited with status $?)"
	forget_pid "$TERND_PID"
	grep -v DEBUG "$2/ternd.log" | tail -5 | sed 's/^/#   ternd: /'
	return 1
}

# drive NS JSON: the browser driver inside NS, bounded; its ok/not ok lines
# are renumbered into this script's count.
drive() {
	local ns=$1 json=$2 out=$3 rc line
	# in the background, so that a signal to this script is handled at once
	timeout -k 10 "$RUN_TIMEOUT" ip netns exec "$ns" node "$E2E_DIR/webrtc.mjs" "$json" >"$out" 2>"$out.stderr" &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid"
	rc=$?
	forget_pid "$pid"
	[ $rc -ne 77 ] && DRIVEN=$((DRIVEN + 1))
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok "${line#ok * - }" ;;
		"not ok "*) not_ok "${line#not ok * - }" ;;
		"RESULT "*) ;;
		*) echo "$line" ;;
		esac
	done <"$out"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		not_ok "$(basename "$(dirname "$out")"): browser driver finished within ${RUN_TIMEOUT} s (timed out)"
	elif [ $rc -eq 77 ]; then
		sed 's/^/#   /' "$out.stderr" | tail -5
		# Chromium that never started here is a skip; one that started in an
		# earlier run and not now is a failure.
		if [ "$DRIVEN" -eq 0 ]; then
			DRIVER_UNAVAILABLE=1
		else
			not_ok "$(basename "$(dirname "$out")"): chromium started"
		fi
	elif ! grep -q '^RESULT ' "$out"; then
		not_ok "$(basename "$(dirname "$out")"): browser driver ran to the end (exit $rc)"
		sed 's/^/#   stderr: /' "$out.stderr" | tail -20
	fi
	return 0
}

json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

PASSWORD="e2e-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
DRIVER_UNAVAILABLE=0
DRIVEN=0

# ------------------------------------------------------ run: loopback
# ternd and Chromium in one namespace that has only lo.
run_loopback() {
	local ns="$TAG-lo" dir="$WORK/loopback" port
	say "run loopback: ternd and chromium in namespace $ns (lo only), long-term credentials"
	new_ns "$ns" || { not_ok "loopback: namespace created"; return; }
	check "loopback: namespace $ns has no route off the machine (lo only, no default route)" isolated "$ns"
	port=$(free_port "$ns") || { not_ok "loopback: free port"; return; }
	if ! start_ternd "$ns" "$dir" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
		--min-port $((port + 2)) --max-port $((port + 201)) --realm e2e.tern --user "e2e:$PASSWORD" \
		--allow-loopback-peers; then
		not_ok "loopback: ternd started on 127.0.0.1:$port"
		return
	fi
	ok "loopback: ternd started on 127.0.0.1:$port (relay ports $((port + 2))-$((port + 201)))"
	drive "$ns" "$(
		cat <<EOF
{"label":"loopback","chromium":$(json_str "$CHROMIUM"),"tmpDir":$(json_str "$dir"),
 "turnUrl":"turn:127.0.0.1:$port?transport=udp","username":"e2e","credential":$(json_str "$PASSWORD"),
 "badCredentials":[{"what":"wrong password","username":"e2e","credential":"not-the-password"}],
 "relayIp":"127.0.0.1","statsSocket":$(json_str "$dir/stats.sock"),"loopbackOnly":true}
EOF
	)" "$dir/driver.out"
	check "loopback: ternd exited 0 on SIGTERM" stop_ternd
}

# ------------------------------------------------------ runs: netns, tcp, turns
# ternd in one namespace, Chromium in another, joined by a veth pair with
# addresses from the benchmarking range (198.18.0.0/15, RFC 2544), assigned
# only inside these namespaces.
SIP=198.18.0.1 BIP=198.18.0.2 VETH_RANGE=198.18.0.0/30
veth_namespaces() { # veth_namespaces LABEL: sets NS_SRV (ternd's) and NS_BRW (the browser's)
	local label=$1
	NS_SRV="$TAG-$label-srv" NS_BRW="$TAG-$label-brw"
	new_ns "$NS_SRV" && new_ns "$NS_BRW" || { not_ok "$label: namespaces created"; return 1; }
	# Both ends are created inside the namespaces: nothing touches the host's.
	if ! ip -n "$NS_SRV" link add e2e-srv type veth peer name e2e-brw netns "$NS_BRW" ||
		! ip -n "$NS_SRV" addr add "$SIP/30" dev e2e-srv || ! ip -n "$NS_BRW" addr add "$BIP/30" dev e2e-brw ||
		! ip -n "$NS_SRV" link set e2e-srv up || ! ip -n "$NS_BRW" link set e2e-brw up; then
		not_ok "$label: veth pair $SIP <-> $BIP"
		return 1
	fi
	for _ in $(seq 1 50); do # until both ends have carrier
		ip -n "$NS_SRV" -o link show e2e-srv | grep -q 'state UP' &&
			ip -n "$NS_BRW" -o link show e2e-brw | grep -q 'state UP' && break
		sleep 0.1
	done
	check "$label: server namespace $NS_SRV has no route off the machine (lo + veth, no default route)" isolated "$NS_SRV" e2e-srv
	check "$label: browser namespace $NS_BRW has no route off the machine (lo + veth, no default route)" isolated "$NS_BRW" e2e-brw
}

# TRANSPORT is the one Chromium is given in its TURN URL (udp or tcp); ternd
# listens on both, as it does by default.
run_veth() { # run_veth LABEL TRANSPORT
	local label=$1 transport=$2 dir="$WORK/$1" port
	say "run $label: ternd in $TAG-$label-srv ($SIP), chromium in $TAG-$label-brw ($BIP), veth pair, no default route, TURN over ${transport^^}"
	veth_namespaces "$label" || return
	port=$(free_port "$NS_SRV") || { not_ok "$label: free port"; return; }
	# The peers are the two relay addresses on $SIP: a special-purpose range,
	# denied by default, opened for the test range only.
	if ! start_ternd "$NS_SRV" "$dir" --listening-ip "$SIP" --relay-ip "$SIP" --listening-port "$port" \
		--min-port $((port + 2)) --max-port $((port + 201)) --realm e2e.tern --user "e2e:$PASSWORD" \
		--allowed-peer-ip "$VETH_RANGE"; then
		not_ok "$label: ternd started on $SIP:$port"
		return
	fi
	ok "$label: ternd started on $SIP:$port in $NS_SRV (--allowed-peer-ip $VETH_RANGE)"
	drive "$NS_BRW" "$(
		cat <<EOF
{"label":"$label","chromium":$(json_str "$CHROMIUM"),"tmpDir":$(json_str "$dir"),
 "turnUrl":"turn:$SIP:$port?transport=$transport","username":"e2e","credential":$(json_str "$PASSWORD"),
 "badCredentials":[{"what":"wrong password","username":"e2e","credential":"not-the-password"}],
 "relayIp":"$SIP","statsSocket":$(json_str "$dir/stats.sock"),"loopbackOnly":false}
EOF
	)" "$dir/driver.out"
	check "$label: ternd exited 0 on SIGTERM" stop_ternd
}

# A test PKI in DIR, made here with openssl: a CA (CA:TRUE, keyCertSign,
# name-constrained to .test) and, signed by it, a certificate for NAME
# (serverAuth, SAN DNS:NAME), ECDSA P-256, valid for a day or two. Nothing
# outside the test trusts the CA; its key goes with the work directory.
make_pki() { # make_pki DIR NAME
	local d=$1 name=$2
	mkdir -p "$d" && chmod 700 "$d" || return 1
	cat >"$d/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
nameConstraints = critical, permitted;DNS:.test
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:$name
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	(
		umask 077
		cd "$d" &&
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key &&
			openssl req -config openssl.cnf -new -x509 -key ca.key -subj "/CN=tern e2e test CA $TAG" \
				-days 2 -extensions ca -out ca.pem &&
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key &&
			openssl req -config openssl.cnf -new -key server.key -subj "/CN=$name" -out server.csr &&
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -days 1 \
				-set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
				-extfile openssl.cnf -extensions server -out server.pem &&
			chmod 644 ca.pem server.pem
	) >"$d/openssl.log" 2>&1 || { sed 's/^/#   openssl: /' "$d/openssl.log" | tail -5; return 1; }
}

# A HOME for Chromium whose NSS database (HOME/.pki/nssdb, where Chromium on
# Linux reads the user's trust anchors) is new and empty, and trusts CA
# (when given) to identify TLS servers: trust flags "C,,".
make_nss_home() { # make_nss_home HOME [CA]
	local home=$1 ca=${2:-} db="sql:$1/.pki/nssdb"
	mkdir -p "$home/.pki/nssdb" && chmod -R 700 "$home" || return 1
	certutil -N -d "$db" --empty-password >/dev/null 2>&1 || return 1
	[ -z "$ca" ] || certutil -A -d "$db" -n "tern e2e test CA" -t "C,," -a -i "$ca" >/dev/null 2>&1
}
# The certificates of HOME's NSS database, "nickname flags" one a line.
nss_anchors() { certutil -L -d "sql:$1/.pki/nssdb" 2>/dev/null | sed -n '5,$p' | sed 's/  */ /g; s/ $//'; }

# turns: Chromium relay-only over turns:NAME:PORT?transport=tcp, ternd's TLS
# on tls-listening-port; NAME (under .test, RFC 6761) is the certificate's,
# mapped to ternd's address by the browser's resolver rules, never looked
# up. Then (in the same browser) a second name the certificate does not
# carry, and the right name from a second browser whose NSS database lacks
# the CA: both must fail.
TLS_NAME=turn.tern.test WRONG_NAME=other.tern.test
run_turns() {
	local label=turns dir="$WORK/turns" noca="$WORK/turns-noca" port tport anchors
	say "run $label: ternd in $TAG-$label-srv ($SIP), chromium in $TAG-$label-brw ($BIP), veth pair, no default route, TURN over TLS to $TLS_NAME"
	veth_namespaces "$label" || return
	if make_pki "$dir/tls" "$TLS_NAME" &&
		openssl verify -CAfile "$dir/tls/ca.pem" -purpose sslserver -verify_hostname "$TLS_NAME" \
			"$dir/tls/server.pem" >/dev/null 2>&1 &&
		! openssl verify -CAfile "$dir/tls/ca.pem" -purpose sslserver -verify_hostname "$WRONG_NAME" \
			"$dir/tls/server.pem" >/dev/null 2>&1; then
		ok "$label: test CA and certificate for $TLS_NAME made with openssl (openssl verify: good for $TLS_NAME, not for $WRONG_NAME)"
	else
		not_ok "$label: test CA and certificate made with openssl"
		return
	fi
	if make_nss_home "$dir/home" "$dir/tls/ca.pem" && make_nss_home "$noca/home" &&
		anchors=$(nss_anchors "$dir/home") && [ "$anchors" = "tern e2e test CA C,," ] &&
		[ -z "$(nss_anchors "$noca/home")" ]; then
		ok "$label: NSS databases made with certutil: one trusts the test CA (C,,), one is empty"
	else
		not_ok "$label: NSS databases made with certutil (anchors: ${anchors:-none})"
		return
	fi
	port=$(free_port "$NS_SRV") || { not_ok "$label: free port"; return; }
	tport=$((port + 1))
	if ! start_ternd "$NS_SRV" "$dir" --listening-ip "$SIP" --relay-ip "$SIP" --listening-port "$port" \
		--tls-listening-port "$tport" --cert "$dir/tls/server.pem" --pkey "$dir/tls/server.key" \
		--min-port $((port + 2)) --max-port $((port + 201)) --realm e2e.tern --user "e2e:$PASSWORD" \
		--allowed-peer-ip "$VETH_RANGE"; then
		not_ok "$label: ternd started with TLS on $SIP:$tport"
		return
	fi
	ok "$label: ternd started on $SIP:$port, TLS on $SIP:$tport, in $NS_SRV (--allowed-peer-ip $VETH_RANGE)"
	local url="turns:$TLS_NAME:$tport?transport=tcp" common
	common="\"chromium\":$(json_str "$CHROMIUM"),\"username\":\"e2e\",\"credential\":$(json_str "$PASSWORD"),
 \"hostMap\":{\"$TLS_NAME\":\"$SIP\",\"$WRONG_NAME\":\"$SIP\"},\"relayIp\":\"$SIP\",
 \"statsSocket\":$(json_str "$dir/stats.sock"),\"loopbackOnly\":false"
	drive "$NS_BRW" "$(
		cat <<EOF
{"label":"$label","tmpDir":$(json_str "$dir"),"home":$(json_str "$dir/home"),"turnUrl":"$url",$common,
 "badCredentials":[{"what":"wrong password","username":"e2e","credential":"not-the-password"}],
 "badTls":[{"what":"wrong name","turnUrl":"turns:$WRONG_NAME:$tport?transport=tcp","netError":-200}]}
EOF
	)" "$dir/driver.out"
	ternd_alive "$label" "$dir" || return
	drive "$NS_BRW" "$(
		cat <<EOF
{"label":"turns-noca","tmpDir":$(json_str "$noca"),"home":$(json_str "$noca/home"),"turnUrl":"$url",$common,
 "refusalsOnly":true,"badTls":[{"what":"test CA not in the NSS database","turnUrl":"$url","netError":-202}]}
EOF
	)" "$noca/driver.out"
	check "$label: ternd exited 0 on SIGTERM" stop_ternd
}

# ------------------------------------------------------ run: rest
# TURN REST API credentials from `tern creds`, loopback-only namespace.
run_rest() {
	local ns="$TAG-rest" dir="$WORK/rest" port secret other now out user pass baduser badpass oldpass olduser
	say "run rest: TURN REST API credentials from tern creds, namespace $ns (lo only)"
	new_ns "$ns" || { not_ok "rest: namespace created"; return; }
	check "rest: namespace $ns has no route off the machine (lo only, no default route)" isolated "$ns"
	secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	other=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	now=$(date +%s)
	mkdir -p "$dir"
	printf '%s\n' "$secret" >"$dir/secret"
	chmod 600 "$dir/secret"
	out=$("$TERN" creds --secret-file "$dir/secret" --user alice --ttl 600) || { not_ok "rest: tern creds"; return; }
	user=$(sed -n 's/^username=//p' <<<"$out")
	pass=$(sed -n 's/^password=//p' <<<"$out")
	# the same user signed with another secret, and an expired one (issued 2 h ago, 10 min ttl)
	badpass=$(TERN_SECRET=$other "$TERN" creds --user alice --ttl 600 --now "$now" | sed -n 's/^password=//p')
	baduser=$(TERN_SECRET=$other "$TERN" creds --user alice --ttl 600 --now "$now" | sed -n 's/^username=//p')
	out=$(TERN_SECRET=$secret "$TERN" creds --user alice --ttl 600 --now $((now - 7200)))
	olduser=$(sed -n 's/^username=//p' <<<"$out")
	oldpass=$(sed -n 's/^password=//p' <<<"$out")
	if [[ "$user" =~ ^[0-9]+:alice$ ]] && [ -n "$pass" ] && [ -n "$badpass" ] && [ -n "$oldpass" ]; then
		ok "rest: tern creds printed username $user and a password"
	else
		not_ok "rest: tern creds printed username and password ($user)"
		return
	fi
	port=$(free_port "$ns") || { not_ok "rest: free port"; return; }
	if ! start_ternd "$ns" "$dir" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$port" \
		--min-port $((port + 2)) --max-port $((port + 201)) --realm e2e.tern \
		--use-auth-secret --static-auth-secret "$secret" --allow-loopback-peers; then
		not_ok "rest: ternd started on 127.0.0.1:$port"
		return
	fi
	ok "rest: ternd started on 127.0.0.1:$port (--use-auth-secret)"
	drive "$ns" "$(
		cat <<EOF
{"label":"rest","chromium":$(json_str "$CHROMIUM"),"tmpDir":$(json_str "$dir"),
 "turnUrl":"turn:127.0.0.1:$port?transport=udp","username":$(json_str "$user"),"credential":$(json_str "$pass"),
 "badCredentials":[
   {"what":"REST password from another secret","username":$(json_str "$baduser"),"credential":$(json_str "$badpass")},
   {"what":"expired REST username","username":$(json_str "$olduser"),"credential":$(json_str "$oldpass")}],
 "relayIp":"127.0.0.1","statsSocket":$(json_str "$dir/stats.sock"),"loopbackOnly":true}
EOF
	)" "$dir/driver.out"
	check "rest: ternd exited 0 on SIGTERM" stop_ternd
}

# ------------------------------------------------------ run: drain
# Two ternd nodes, A and B, each in its own namespace, and Chromium in a
# third, all on one bridge (in a fourth namespace, the "switch") with
# addresses from 198.18.1.0/29, only there. A lists itself and B as
# alternate servers (coturn's alternate-server): it serves its clients
# itself until it drains, then answers a new Allocate 300 Try Alternate
# with B's address. Chromium holds a pair open through A, A drains
# (SIGUSR1), a new pair given only A's URL must end up relaying through B
# while the held pair still relays through A; when the held pair closes,
# A, drained, exits by itself.
DRAIN_NET=198.18.1.0/29 A_IP=198.18.1.1 B_IP=198.18.1.2 DRAIN_BRW_IP=198.18.1.3
no_address() { [ -z "$(ip -n "$1" -o addr show scope global)" ]; }
drain_namespaces() { # drain_namespaces LABEL: sets NS_A, NS_B, NS_BRW
	local label=$1 h ns ip
	local sw="$TAG-$label-sw"
	NS_A="$TAG-$label-a" NS_B="$TAG-$label-b" NS_BRW="$TAG-$label-brw"
	new_ns "$sw" && new_ns "$NS_A" && new_ns "$NS_B" && new_ns "$NS_BRW" || { not_ok "$label: namespaces created"; return 1; }
	ip -n "$sw" link add e2e-br type bridge && ip -n "$sw" link set e2e-br up || { not_ok "$label: bridge in $sw"; return 1; }
	for h in a b brw; do
		case $h in a) ns=$NS_A ip=$A_IP ;; b) ns=$NS_B ip=$B_IP ;; brw) ns=$NS_BRW ip=$DRAIN_BRW_IP ;; esac
		# each host's end is made in its namespace, the other in the switch's
		if ! ip -n "$ns" link add "e2e-$h" type veth peer name "sw-$h" netns "$sw" ||
			! ip -n "$sw" link set "sw-$h" master e2e-br up ||
			! ip -n "$ns" addr add "$ip/29" dev "e2e-$h" || ! ip -n "$ns" link set "e2e-$h" up; then
			not_ok "$label: veth $ip ($h) on the bridge"
			return 1
		fi
	done
	for _ in $(seq 1 50); do # until every host's end has carrier
		ip -n "$NS_A" -o link show e2e-a | grep -q 'state UP' && ip -n "$NS_B" -o link show e2e-b | grep -q 'state UP' &&
			ip -n "$NS_BRW" -o link show e2e-brw | grep -q 'state UP' && break
		sleep 0.1
	done
	check "$label: switch namespace $sw has no route off the machine (lo, bridge, 3 veth ends, no address)" \
		eval 'isolated "$sw" "e2e-br sw-a sw-b sw-brw" && no_address "$sw"'
	check "$label: node A's namespace $NS_A has no route off the machine (lo + veth, no default route)" isolated "$NS_A" e2e-a
	check "$label: node B's namespace $NS_B has no route off the machine (lo + veth, no default route)" isolated "$NS_B" e2e-b
	check "$label: browser namespace $NS_BRW has no route off the machine (lo + veth, no default route)" isolated "$NS_BRW" e2e-brw
}
# wait_exit PID SECONDS: PID (started here) exits by itself within SECONDS;
# returns its exit status, or 255 (after SIGKILL) when it did not.
wait_exit() {
	local pid=$1 n=$(($2 * 10)) rc
	for _ in $(seq 1 "$n"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		forget_pid "$pid"
		return 255
	fi
	wait "$pid"
	rc=$?
	forget_pid "$pid"
	return $rc
}
run_drain() { # run_drain LABEL TRANSPORT
	local label=$1 transport=$2 dir="$WORK/$1" pa pb pid_a pid_b rc
	say "run $label: ternd A ($A_IP), ternd B ($B_IP) and chromium ($DRAIN_BRW_IP), each in its namespace, on one bridge; A drains, B is its alternate; TURN over ${transport^^}"
	drain_namespaces "$label" || return
	pa=$(free_port "$NS_A") && pb=$(free_port "$NS_B") || { not_ok "$label: free ports"; return; }
	# The two peers of a pair are relay addresses of one node: opened for
	# the test range only, as in netns.
	if ! start_ternd "$NS_B" "$dir/b" --listening-ip "$B_IP" --relay-ip "$B_IP" --listening-port "$pb" \
		--min-port $((pb + 2)) --max-port $((pb + 201)) --realm e2e.tern --user "e2e:$PASSWORD" \
		--allowed-peer-ip "$DRAIN_NET"; then
		not_ok "$label: ternd B started on $B_IP:$pb"
		return
	fi
	pid_b=$TERND_PID
	ok "$label: ternd B started on $B_IP:$pb in $NS_B (relay ports $((pb + 2))-$((pb + 201)))"
	if ! start_ternd "$NS_A" "$dir/a" --listening-ip "$A_IP" --relay-ip "$A_IP" --listening-port "$pa" \
		--min-port $((pa + 2)) --max-port $((pa + 201)) --realm e2e.tern --user "e2e:$PASSWORD" \
		--allowed-peer-ip "$DRAIN_NET" --alternate-server "$A_IP:$pa" --alternate-server "$B_IP:$pb"; then
		not_ok "$label: ternd A started on $A_IP:$pa"
		return
	fi
	pid_a=$TERND_PID
	ok "$label: ternd A started on $A_IP:$pa in $NS_A (relay ports $((pa + 2))-$((pa + 201))), alternate servers $A_IP:$pa (itself) and $B_IP:$pb"
	drive "$NS_BRW" "$(
		cat <<EOF
{"label":"$label","chromium":$(json_str "$CHROMIUM"),"tmpDir":$(json_str "$dir"),
 "turnUrl":"turn:$A_IP:$pa?transport=$transport","username":"e2e","credential":$(json_str "$PASSWORD"),
 "relayIp":"$A_IP","relayPorts":[$((pa + 2)),$((pa + 201))],"statsSocket":$(json_str "$dir/a/stats.sock"),
 "loopbackOnly":false,
 "drain":{"pid":$pid_a,"statsSocket":$(json_str "$dir/b/stats.sock"),"relayIp":"$B_IP",
   "relayPorts":[$((pb + 2)),$((pb + 201))],"turnAddr":"$B_IP:$pb"}}
EOF
	)" "$dir/driver.out"
	# The held pair closed with the browser: Chromium deleted A's last
	# allocations, so A, drained, exits by itself (drain-min-allocations 0).
	wait_exit "$pid_a" 10
	rc=$?
	if [ $rc -eq 0 ] && grep -q "SIGUSR1: draining" "$dir/a/ternd.log" && grep -q "drained: 0 allocations left" "$dir/a/ternd.log"; then
		ok "$label: A, drained, exited by itself with status 0 once the held pair closed"
	else
		not_ok "$label: A, drained, exited by itself with status 0 once the held pair closed (status $rc)"
		grep -v DEBUG "$dir/a/ternd.log" | tail -5 | sed 's/^/#   ternd A: /'
	fi
	TERND_PID=$pid_b
	check "$label: B exited 0 on SIGTERM" stop_ternd
}

for r in "${RUNS[@]}"; do
	t0=$(date +%s)
	case "$r" in
	loopback) run_loopback ;;
	netns) run_veth netns udp ;;
	tcp) run_veth tcp tcp ;;
	turns) run_turns ;;
	rest) run_rest ;;
	drain) run_drain drain udp ;;
	drain-tcp) run_drain drain-tcp tcp ;;
	*)
		echo "usage: $0 [loopback|netns|tcp|turns|rest|drain|drain-tcp]..." >&2
		exit 2
		;;
	esac
	cleanup
	say "run $r: $(($(date +%s) - t0)) s"
	if [ "$DRIVER_UNAVAILABLE" = 1 ]; then
		skip "chromium does not start here (see above)"
	fi
done

say "e2e: $(($(date +%s) - T_START)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
