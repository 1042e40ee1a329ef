/* ternd as a service: systemd's readiness protocol and the privilege drop
 * after start-up. Main thread only.
 *
 * Notifications go through libsystemd's sd_notify to $NOTIFY_SOCKET; when
 * ternd was not started by systemd (the variable is unset) every call
 * does nothing. */
#ifndef TERN_SERVER_SERVICE_H
#define TERN_SERVER_SERVICE_H

#include <stdint.h>

#include "ternd/config/config.h"

/* READY=1 with a STATUS line: every listener is bound, every worker runs. */
void service_ready(const char *status);
/* RELOADING=1 (with MONOTONIC_USEC, as systemd 253's notify-reload wants);
 * follow with service_ready() when the reload is done, whatever its outcome. */
void service_reloading(void);
/* STOPPING=1: shutdown has begun. */
void service_stopping(void);
/* How often to send WATCHDOG=1, in ms: half the unit's WatchdogSec, or 0
 * when systemd asks for no watchdog pings (sd_watchdog_enabled). */
uint64_t service_watchdog_interval_ms(void);
void service_watchdog(void);

/* proc-user / proc-group: switch to that user and group (supplementary
 * groups: the user's, or only the group), then give up every capability
 * left (a non-root start with ambient capabilities, as the packaged unit
 * does, keeps them otherwise). Call after everything that needs privilege
 * (binding, the eBPF load, reading the TLS files) and before any thread
 * starts: capabilities are per thread. 0, or -errno after one log line
 * naming the option and value. */
int service_drop_privileges(const struct tern_config *c);

#endif
