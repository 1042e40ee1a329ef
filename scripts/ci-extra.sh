#!/usr/bin/env bash
# CI stages beyond `make test` (issue 4: sanitizers, valgrind, fuzzing), in
# order:
#   make asan      the whole suite (unit + integration) under ASan+UBSan
#   make valgrind  the integration tests with ternd under valgrind memcheck
#   make fuzz-ci   every fuzz target for 60 s, after replaying fuzz/regressions
# Every stage runs even when an earlier one failed (one CI run reports all
# of them); each is bounded by a timeout; one summary line per stage at the
# end; the exit status is non-zero when any stage failed.
#
# Usage: scripts/ci-extra.sh [STAGE...]      (default: asan valgrind fuzz-ci)
# Env: CI_EXTRA_LOGS (default build-ci-extra/): full output of each stage.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan valgrind fuzz-ci)
logs=${CI_EXTRA_LOGS:-build-ci-extra}
mkdir -p "$logs"

# Upper bounds in seconds (a stuck stage must not eat the 90-minute CI
# job); measured on 2 cores: see docs/SECURITY.md.
limit() {
	case $1 in
	asan) echo 1500 ;;
	valgrind) echo 1500 ;;
	fuzz-ci) echo 900 ;;
	*) echo 1800 ;;
	esac
}

summary=()
failed=0
for stage in "${stages[@]}"; do
	echo "==== ci-extra: make $stage (limit $(limit "$stage") s, log $logs/$stage.log)"
	start=$(date +%s)
	timeout -k 30 "$(limit "$stage")" make --no-print-directory "$stage" 2>&1 | tee "$logs/$stage.log"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	case $rc in
	0) what=passed ;;
	124 | 137) what="TIMED OUT" ;;
	*) what="FAILED (exit $rc)" ;;
	esac
	[ "$rc" -eq 0 ] || failed=1
	# the stage's own result line, when it printed one
	detail=$(grep -E '^(valgrind: [0-9]+ ternd runs|fuzz: [0-9]+ targets|[0-9]+% tests passed)' \
		"$logs/$stage.log" | sed 's/ (logs: .*//' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
	summary+=("ci-extra: $(printf '%-9s' "$stage") $what in ${secs} s${detail:+ - $detail}")
done

echo "==== ci-extra summary"
printf '%s\n' "${summary[@]}"
exit $failed
