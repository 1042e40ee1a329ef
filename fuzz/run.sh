#!/usr/bin/env bash
# Build the libFuzzer targets (clang, build-fuzz/) and run each for a bounded
# time. Used by `make fuzz` (FUZZ_SECONDS, default 300) and `make fuzz-ci`
# (60 s each, targets in parallel on every core).
#
#   fuzz/run.sh [-j JOBS] SECONDS [TARGET...]     TARGET: stun channeldata turn config proxy sniff frames
#
# Each target fuzzes its own working corpus build-fuzz/corpus/<t>/ (kept
# between runs, so it keeps growing locally), seeded from the committed
# fuzz/corpus/<t>/ and fuzz/regressions/<t>/, which it never writes to.
# Before fuzzing, every committed regression and seed is replayed once.
# A crash, leak, timeout or out-of-memory input lands in
# build-fuzz/artifacts/<t>/ and makes the script fail; to keep it as a
# regression test, copy it to fuzz/regressions/<t>/ (see fuzz/README.md).
# Env: BUILD_FUZZ (default build-fuzz), FUZZ_CMAKE_FLAGS (extra configure flags).
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=1
if [ "${1:-}" = -j ]; then
	jobs=$2
	shift 2
fi
seconds=${1:?usage: fuzz/run.sh [-j JOBS] SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(stun channeldata turn config proxy sniff frames)
build=${BUILD_FUZZ:-build-fuzz}

if ! command -v clang >/dev/null; then
	echo "fuzz: clang is not installed (Debian packages clang, libclang-rt-14-dev)" >&2
	exit 2
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
	# shellcheck disable=SC2086 # FUZZ_CMAKE_FLAGS is a list of flags
	CC=clang cmake -S . -B "$build" -DTERN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		${FUZZ_CMAKE_FLAGS:-} >"$build.configure.log" 2>&1 || {
		cat "$build.configure.log" >&2
		exit 2
	}
	rm -f "$build.configure.log"
fi
if ! grep -q fuzz_all <<<"$(cmake --build "$build" --target help 2>/dev/null)"; then
	echo "fuzz: $build has no fuzz targets: the top-level CMakeLists.txt must add_subdirectory(fuzz)" >&2
	echo "      (or configure with FUZZ_CMAKE_FLAGS adding it; see fuzz/README.md)" >&2
	exit 2
fi
cmake --build "$build" -j "$(nproc)" --target fuzz_all >"$build/fuzz-build.log" 2>&1 || {
	tail -n 40 "$build/fuzz-build.log" >&2
	exit 2
}

dict_for() {
	case $1 in
	stun | turn | channeldata | sniff | frames) echo "-dict=fuzz/dict/stun.dict" ;;
	config) echo "-dict=fuzz/dict/config.dict" ;;
	proxy) echo "-dict=fuzz/dict/proxy.dict" ;;
	esac
}

# sniff: streams longer than the connection's first buffer (4 KiB), so that
# its growth to the frame being received is fuzzed too
max_len_for() {
	case $1 in
	sniff | frames) echo 16384 ;;
	*) echo 2048 ;;
	esac
}

run_one() { # run_one <target>: fuzz it, write $build/logs/<t>.summary
	local t=$1 bin=$build/fuzz/fuzz_$1 log=$build/logs/$1.log
	local corpus=$build/corpus/$t art=$build/artifacts/$t
	mkdir -p "$corpus" "$art" "fuzz/regressions/$t"
	local before
	before=$(find "$art" -type f | wc -l)
	# -timeout: one input over 10 s is a hang; -rss_limit_mb: a runaway
	# allocation is an OOM report. The outer timeout bounds the whole run.
	timeout -k 10 $((seconds + 120)) "$bin" -max_len="$(max_len_for "$t")" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" $(dict_for "$t") \
		"$corpus" "fuzz/corpus/$t" "fuzz/regressions/$t" >"$log" 2>&1
	local rc=$?
	local execs secs found
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	found=$(($(find "$art" -type f | wc -l) - before))
	local status=ok
	if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then status=FAILED; fi
	printf 'fuzz %-12s %s: %s execs in %s s (%s/s), corpus %s files, %d new crash/leak/timeout inputs (exit %d)\n' \
		"$t" "$status" "${execs:-?}" "${secs:-?}" "$([ -n "${execs:-}" ] && [ "${secs:-0}" -gt 0 ] && echo $((execs / secs)) || echo ?)" \
		"$(find "$corpus" -type f | wc -l)" "$found" "$rc" >"$build/logs/$t.summary"
	if [ "$status" != ok ]; then
		grep -E "ERROR: |SUMMARY: |invariant failed|^artifact_prefix|Test unit written" "$log" | head -n 20 >>"$build/logs/$t.summary"
		echo "  log: $log" >>"$build/logs/$t.summary"
	fi
}

mkdir -p "$build/logs"
echo "fuzz: replaying fuzz/regressions and fuzz/corpus"
replay_failed=0
for t in "${targets[@]}"; do
	mkdir -p "fuzz/regressions/$t"
	if ! timeout 300 "$build/fuzz/fuzz_$t" -runs=0 "fuzz/regressions/$t" "fuzz/corpus/$t" \
		>"$build/logs/$t.replay.log" 2>&1; then
		echo "fuzz $t: replay of the committed inputs FAILED (log: $build/logs/$t.replay.log)"
		replay_failed=1
	fi
done

echo "fuzz: ${targets[*]}, ${seconds} s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

failed=$replay_failed
total=0
for t in "${targets[@]}"; do
	cat "$build/logs/$t.summary"
	grep -q ' FAILED' "$build/logs/$t.summary" && failed=1
	n=$(sed -n 's/^fuzz [a-z]* *[A-Z]*[a-z]*: \([0-9]*\) execs.*/\1/p' "$build/logs/$t.summary")
	total=$((total + ${n:-0}))
done
echo "fuzz: ${#targets[@]} targets x ${seconds} s: $total execs, $([ "$failed" -eq 0 ] && echo "no crash" || echo "FAILED (see above)")"
exit $failed
