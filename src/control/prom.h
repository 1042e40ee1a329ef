/* The Prometheus endpoint (coturn's prometheus options): an HTTP server
 * (libmicrohttpd) on a thread of its own, never a worker's. It knows
 * nothing of the server: the caller hands it a function that writes the
 * exposition and one that says whether ternd is ready.
 *
 *   GET <path>   the metrics (text exposition format 0.0.4)
 *   GET /        "ok" (coturn's health check)
 *   GET /ready   200 "ready", or 503 "draining" when ready() is false
 *   anything else: 404; a method other than GET or HEAD: 405. */
#ifndef TERN_CONTROL_PROM_H
#define TERN_CONTROL_PROM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct prom;

struct prom_opts {
	const char *address; /* "" or NULL: every address (IPv6 dual stack, else IPv4) */
	uint16_t port;
	const char *path; /* starts with / */
	/* write the metrics to out (on the endpoint's thread) */
	void (*write)(void *ctx, FILE *out);
	bool (*ready)(void *ctx);
	void *ctx;
};

/* Bind and start serving. 0, or -errno (-EADDRINUSE, -EINVAL for a bad
 * address) with one log line. */
int prom_start(const struct prom_opts *o, struct prom **out);
/* Stop serving and join the thread. NULL is fine. */
void prom_stop(struct prom *p);

#endif
