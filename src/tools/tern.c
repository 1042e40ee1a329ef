/* tern: the operator's tool. One binary, one subcommand per job; each
 * subcommand lives in its own file of src/tools/ and is listed in
 * commands[] below (name, entry point, one line of help).
 *
 * A subcommand gets argv starting at its own name (argv[0] = "creds") and
 * returns the process exit status: 0 success, 1 failure, 2 usage error.
 * Errors are one line on stderr, prefixed "tern <cmd>: ". */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"bench", cmd_bench, "load generator and peer for any TURN server (or a plain UDP forwarder)"},
    {"ctl", cmd_ctl, "control a running ternd: sessions, kick, drain, config (its stats-socket)"},
    {"creds", cmd_creds, "print TURN REST API credentials (time-limited username and password)"},
    {"scale", cmd_scale,
     "create many authenticated allocations fast: Allocate rate and memory per allocation"},
    {"stats", cmd_stats, "per-worker counters of a running ternd (its stats-socket)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: tern <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'tern <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tern: unknown command '%s' (see tern --help)\n", name);
	return 2;
}
