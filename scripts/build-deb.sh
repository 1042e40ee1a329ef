#!/usr/bin/env bash
# Build the Debian package (debian/) with dpkg-buildpackage in a copy of the
# source tree, so the repository gets no debian/ternd, obj-* or stamp files.
# Usage: scripts/build-deb.sh OUT_DIR    (the .deb, .buildinfo and .changes land there)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: $0 OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/tern-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/ternd"
# the tree as it is (uncommitted changes too), without build trees and git
tar --exclude='./build*' --exclude=./.git --exclude='./e2e/node_modules' -cf - . | tar -xf - -C "$work/ternd"
(cd "$work/ternd" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (last 60 lines above)" >&2
	exit 1
}
rm -f "$out"/ternd_*.deb "$out"/ternd-dbgsym_*.deb "$out"/ternd_*.buildinfo "$out"/ternd_*.changes
cp "$work"/ternd_*.deb "$work"/ternd_*.buildinfo "$work"/ternd_*.changes "$out"/
cp "$work"/ternd-dbgsym_*.deb "$out"/ 2>/dev/null || true
ls "$out"/ternd_*.deb
