#!/usr/bin/env bash
# Install the Debian packages a make target needs, only when missing.
# Usage: scripts/deps.sh build|test|bench|deb
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libssl-dev clang libbpf-dev libsystemd-dev libmicrohttpd-dev)
# service files: groff and man lint the man pages, systemd-analyze the unit;
# the package test (CTest label package) builds and checks the .deb
deb_pkgs=("${build_pkgs[@]}" debhelper dpkg-dev fakeroot lintian adduser)
test_pkgs=("${deb_pkgs[@]}" libcmocka-dev coturn iproute2 python3 procps libclang-rt-14-dev valgrind openssl haproxy
	groff-base man-db systemd util-linux strace prometheus curl)
bench_pkgs=("${build_pkgs[@]}" coturn iproute2 python3 procps util-linux ethtool)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${test_pkgs[@]}") ;;
bench) want=("${bench_pkgs[@]}") ;;
deb) want=("${deb_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench|deb" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# coturn's package would start a system turnserver on 3478 where an init
# system runs; policy-rc.d keeps package scripts from starting services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
