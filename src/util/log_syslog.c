/* The syslog destination of util/log.c. A file of its own because
 * <syslog.h> defines LOG_ERR, LOG_INFO and LOG_DEBUG, which log.h's levels
 * also name. */
#include "util/log_syslog.h"

#include <syslog.h>

void tern__syslog_open(const char *ident)
{
	/* LOG_NDELAY: connect now, while /dev/log is surely reachable (before
	 * a chroot or a privilege drop could hide it). */
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void tern__syslog_write(int level, const char *msg)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
}

void tern__syslog_close(void)
{
	closelog();
}
