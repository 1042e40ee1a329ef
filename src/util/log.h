/* Logging. Macros test the level before evaluating their arguments, so a
 * disabled debug line costs one compare. Thread-safe (one write(2) per line).
 * Anything a remote party can trigger must use the _RL (rate-limited) forms. */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int tern_log_level;

/* Open the log destinations: file (NULL for none), stdout on/off.
 * Returns 0 or -errno (file not writable). */
int log_open(const char *file, bool to_stdout);
/* Also (or instead, with to_stdout false) log to syslog: facility
 * LOG_DAEMON, this ident, the pid in every line; no timestamp or level
 * word in the text (syslog adds its own). */
void log_open_syslog(const char *ident);
void log_close(void);
/* Open the log file again under the same path (after logrotate moved it):
 * 0 or -errno (the old file stays in use). No-op without a log file. */
int log_reopen(const char *file);
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text from the wire (a USERNAME, a REALM) made safe for a log line: bytes
 * outside printable ASCII, the backslash and the double quote become \xNN,
 * so a name cannot end the line or fake another one. At most max_in input
 * bytes are shown, then "..." . Writes a NUL-terminated string to out (cap
 * >= 4) and returns out. */
char *log_escape(char *out, size_t cap, const void *in, size_t n, size_t max_in);
/* Rate limit: true at most `per_sec` times per second per call site. */
bool log_ratelimit(unsigned *stamp, unsigned *count, unsigned per_sec);

#define LOG_AT(lvl, ...)                                                                                     \
	do {                                                                                                 \
		if ((lvl) <= tern_log_level)                                                                 \
			log_write((lvl), __VA_ARGS__);                                                       \
	} while (0)
#define log_err(...)   LOG_AT(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

/* At most 10 lines a second from this call site. */
#define LOG_RL(lvl, ...)                                                                                     \
	do {                                                                                                 \
		static __thread unsigned rl_stamp_, rl_count_;                                               \
		if ((lvl) <= tern_log_level && log_ratelimit(&rl_stamp_, &rl_count_, 10))                    \
			log_write((lvl), __VA_ARGS__);                                                       \
	} while (0)

#endif
