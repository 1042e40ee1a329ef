# Shared helpers of the shell integration tests (source it):
#   TAP-style reporting: ok, notok, check, diag, finish ("N passed, M failed")
#   need_tools TOOL...   fail the test when a tool is missing
#   port_block           lock a block of 64 free ports in 10000..29999 and set
#                        $base (the scheme of lib/server.c, so tests running
#                        in parallel never share ports)
#   jget JSON KEY        a top-level scalar field of one JSON line
#   wait_line FILE TEXT SECONDS
n=0
failed=0
passed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { # check <description> <command...>
	local what=$1
	shift
	if "$@"; then ok "$what"; else notok "$what"; fi
}
diag() { echo "# $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

need_tools() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null; then
			notok "required tool $t is installed"
			finish
		fi
	done
}

port_block() {
	local lock_dir=/tmp/tern-it-ports nblocks=312 used start i b p p0 busy fd
	mkdir -p "$lock_dir" 2>/dev/null
	chmod 1777 "$lock_dir" 2>/dev/null
	used=" $(ss -Hantu 2>/dev/null | awk '{k=split($5,a,":"); print a[k]}' | sort -un | tr '\n' ' ') "
	start=$(((RANDOM * 32768 + RANDOM + $$) % nblocks))
	base=""
	for ((i = 0; i < nblocks; i++)); do
		b=$(((start + i) % nblocks))
		# read-only is enough for flock and works on another user's lock file
		[ -e "$lock_dir/$b" ] || : >"$lock_dir/$b" 2>/dev/null
		exec {fd}<"$lock_dir/$b" 2>/dev/null || continue
		if ! flock -n "$fd"; then
			exec {fd}>&-
			continue
		fi
		p0=$((10000 + b * 64))
		busy=0
		for ((p = p0; p < p0 + 64; p++)); do
			case "$used" in *" $p "*) busy=1 && break ;; esac
		done
		if [ "$busy" -eq 1 ]; then
			exec {fd}>&-
			continue
		fi
		base=$p0
		lock_fd=$fd
		return 0
	done
	notok "find a free block of 64 ports"
	finish
}

is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
jget() { sed -nE "s/.*\"$2\":(\"[^\"]*\"|[-0-9.eE+]+|null|true|false).*/\1/p" <<<"$1" | tr -d '"'; }

wait_line() {
	local w
	for ((w = 0; w < $3 * 10; w++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
