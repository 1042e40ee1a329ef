#include "util/log.h"
#include "util/log_syslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tern_log_level = LOG_INFO;
static int log_fd = -1;
static bool log_stdout = true;
static bool log_syslog;

int log_open(const char *file, bool to_stdout)
{
	log_stdout = to_stdout;
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return -errno;
		if (log_fd >= 0)
			close(log_fd);
		log_fd = fd;
	}
	return 0;
}

void log_open_syslog(const char *ident)
{
	tern__syslog_open(ident);
	log_syslog = true;
}

int log_reopen(const char *file)
{
	if (!file || !*file || log_fd < 0)
		return 0;
	int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* dup3 swaps the file under the same descriptor at once: a worker
	 * writing a line meanwhile writes it to the old file or the new one */
	int rc = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void log_close(void)
{
	if (log_syslog)
		tern__syslog_close();
	log_syslog = false;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	                 names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len =
	    (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
	if (log_syslog) {
		line[len] = 0;
		tern__syslog_write((int)lvl, line + n);
	}
	line[len++] = '\n';
	/* One write per line keeps lines whole across worker threads. */
	if (log_stdout) {
		ssize_t r = write(lvl <= LOG_WARN ? STDERR_FILENO : STDOUT_FILENO, line, len);
		(void)r;
	}
	if (log_fd >= 0) {
		ssize_t r = write(log_fd, line, len);
		(void)r;
	}
	errno = saved;
}

char *log_escape(char *out, size_t cap, const void *in, size_t n, size_t max_in)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = in;
	size_t o = 0, i;
	for (i = 0; i < n && i < max_in; i++) {
		unsigned char c = s[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
		if (o + (plain ? 1 : 4) + 4 > cap) /* room for this, "..." and the NUL */
			break;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (i < n && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
	return out;
}

bool log_ratelimit(unsigned *stamp, unsigned *count, unsigned per_sec)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	unsigned now = (unsigned)ts.tv_sec;
	if (*stamp != now) {
		*stamp = now;
		*count = 0;
	}
	return (*count)++ < per_sec;
}
