/* Internal to util/log.c: syslog(3) behind names that do not clash with
 * log.h's levels. level is an enum log_level (0 error .. 3 debug). */
#ifndef TERN_UTIL_LOG_SYSLOG_H
#define TERN_UTIL_LOG_SYSLOG_H

void tern__syslog_open(const char *ident);
void tern__syslog_write(int level, const char *msg);
void tern__syslog_close(void);

#endif
