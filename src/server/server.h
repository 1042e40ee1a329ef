/* The running server: N worker threads, each with its own event loop, its
 * own SO_REUSEPORT socket on every listening address, its own TURN core
 * (allocations, relay sockets, timers) and counters. Shared, read-only
 * after start: the configuration, the credential provider and the peer
 * policy; shared and locked: quota counters and port reservations, touched
 * only by Allocate and deletion. */
#ifndef TERN_SERVER_SERVER_H
#define TERN_SERVER_SERVER_H

#include <stdio.h>

#include "ternd/config/config.h"

struct server;

/* Build everything and bind every listening socket (errors are reported
 * here, before any thread starts). 0 or -errno, with one log line. */
int server_new(const struct tern_config *cfg, struct server **out);
/* Start the workers and serve until SIGINT or SIGTERM (which the caller
 * must have blocked in every thread, see server_block_signals). SIGUSR1
 * logs every worker's counters. Returns 0 after a clean shutdown. */
int server_run(struct server *s);
/* The command line ternd started with: a reload reads the configuration
 * again from it (the -c file, then the flags). */
void server_set_args(struct server *s, int argc, char **argv);
void server_free(struct server *s);
/* --check-config: what server_new would refuse without binding anything
 * (today: TLS certificate and key). 0, or -errno after one log line. */
int server_check(const struct tern_config *cfg);
/* Block the signals server_run waits for; call before creating threads. */
void server_block_signals(void);
/* Print a per-worker counter table to out. */
void server_dump_stats(struct server *s, FILE *out);
/* The same as one JSON object. */
void server_dump_json(struct server *s, FILE *out);

#endif
