#!/bin/sh
# tern(1), generated from tern's own help (`tern --help` and each command's
# `--help`), so the page cannot drift from the tool.
# Usage: scripts/man-tern.sh TERN_BINARY VERSION > tern.1
set -eu
tern=$1 version=$2
# roff-safe text: backslashes as \e, no line starting with . or '
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
cat <<EOT
.TH TERN 1 "" "tern $version" "User Commands"
.SH NAME
tern \- the operator's tool of the tern TURN server: load generator, credentials, statistics
.SH SYNOPSIS
.B tern
.I COMMAND
[\fIOPTION\fR...]
.SH DESCRIPTION
\fBtern\fR is one binary with one subcommand per job. Errors are one line on
standard error; the exit status is 0 on success, 1 on failure and 2 for a
usage error. \fBtern\fR \fICOMMAND\fR \fB\-\-help\fR prints a command's options.
.SH COMMANDS
EOT
cmds=$("$tern" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
"$tern" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {name = $1; $1 = ""; sub(/^ +/, ""); print name "\t" $0}' |
	while IFS="$(printf '\t')" read -r name help; do
		printf '.TP\n.B %s\n' "$name"
		printf '%s\n' "$help" | esc
	done
for c in $cmds; do
	printf '.SH "TERN %s"\n.nf\n' "$(echo "$c" | tr a-z A-Z)"
	"$tern" "$c" --help | expand | esc
	printf '.fi\n'
done
cat <<'EOT'
.SH SEE ALSO
\fBternd\fR(8), \fBternd.conf\fR(5)
EOT
