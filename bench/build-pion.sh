#!/usr/bin/env bash
# Build pion/turn's simple UDP example server (examples/turn-server/simple)
# from Debian's golang-github-pion-turn.v2-dev, offline, in GOPATH mode.
# Nothing of pion is copied into this repository: the source is read from
# /usr/share/gocode, where Debian's golang-*-dev packages put it.
#
# Usage: bench/build-pion.sh [OUTPUT]   (default: build/pion-turn-server)
# Installs golang-go and golang-github-pion-turn.v2-dev when missing (root
# or sudo needed for that). Exits non-zero with one line on stderr when the
# server cannot be built.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/pion-turn-server}
gocode=/usr/share/gocode
pkg=github.com/pion/turn/v2/examples/turn-server/simple
src=$gocode/src/$pkg/main.go

fail() { echo "build-pion: $*" >&2; exit 1; }

if ! command -v go >/dev/null || [ ! -f "$src" ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || fail "need root (or sudo) to apt-get install golang-go golang-github-pion-turn.v2-dev"
		sudo=sudo
	fi
	echo "build-pion: installing golang-go golang-github-pion-turn.v2-dev (Debian)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	$sudo apt-get install -y -qq --no-install-recommends golang-go golang-github-pion-turn.v2-dev >/dev/null ||
		fail "apt-get install golang-go golang-github-pion-turn.v2-dev failed"
fi
command -v go >/dev/null || fail "no 'go' after installing golang-go"
[ -f "$src" ] || fail "$src missing: golang-github-pion-turn.v2-dev does not ship examples/turn-server/simple"

if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
	exit 0
fi
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# GOPATH mode (GO111MODULE=off): imports resolve under $GOPATH/src, so
# github.com/pion/turn/v2 and its dependencies (pion/stun, pion/transport/v2,
# pion/logging, pion/randutil, golang.org/x/...) come from Debian's
# /usr/share/gocode. GOPROXY=off and GOFLAGS= make sure nothing is fetched.
# The cache lives beside the output so a rebuild is quick.
if ! env GO111MODULE=off GOPATH="$tmp/gopath:$gocode" GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
	GOCACHE="$(dirname "$out")/.gocache" CGO_ENABLED=0 \
	go build -trimpath -o "$out" "$pkg" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	fail "go build $pkg failed (GOPATH mode, offline)"
fi
echo "build-pion: built $out ($(go version | cut -d' ' -f3), pion/turn $(dpkg-query -W -f='${Version}' golang-github-pion-turn.v2-dev 2>/dev/null || echo '?'))" >&2
