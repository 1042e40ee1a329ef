#include "turnc.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned n_checks, n_passed, n_failed, n_skipped, n_todo, n_todo_passed;

static void vline(const char *prefix, const char *suffix, const char *fmt, va_list ap)
{
	printf("%s", prefix);
	vprintf(fmt, ap);
	printf("%s\n", suffix);
	fflush(stdout);
}

bool tap_check(bool cond, const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	n_checks++;
	if (cond)
		n_passed++;
	else
		n_failed++;
	snprintf(prefix, sizeof(prefix), "%sok %u - ", cond ? "" : "not ", n_checks);
	va_start(ap, fmt);
	vline(prefix, "", fmt, ap);
	va_end(ap);
	return cond;
}

void tap_skip(const char *why, const char *fmt, ...)
{
	char prefix[64], suffix[256];
	va_list ap;

	n_checks++;
	n_skipped++;
	snprintf(prefix, sizeof(prefix), "ok %u - ", n_checks);
	snprintf(suffix, sizeof(suffix), " # SKIP %s", why);
	va_start(ap, fmt);
	vline(prefix, suffix, fmt, ap);
	va_end(ap);
}

bool tap_todo(bool cond, const char *why, const char *fmt, ...)
{
	char prefix[64], suffix[256];
	va_list ap;

	n_checks++;
	n_todo++;
	n_todo_passed += cond;
	snprintf(prefix, sizeof(prefix), "%sok %u - ", cond ? "" : "not ", n_checks);
	snprintf(suffix, sizeof(suffix), " # TODO %s", why);
	va_start(ap, fmt);
	vline(prefix, suffix, fmt, ap);
	va_end(ap);
	return cond;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline("# ", "", fmt, ap);
	va_end(ap);
}

bool tap_int(long got, long want, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (got == want)
		return tap_check(true, "%s", what);
	return tap_check(false, "%s (got %ld, expected %ld)", what, got, want);
}

bool tap_addr(const union tern_addr *got, const union tern_addr *want, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (got->sa.sa_family != 0 && addr_equal(got, want))
		return tap_check(true, "%s", what);
	return tap_check(false, "%s (got %s, expected %s)", what, got->sa.sa_family ? it_fmt(got) : "none",
	                 it_fmt(want));
}

unsigned tap_failed(void)
{
	return n_failed;
}

int tap_done(void)
{
	if (n_checks == n_skipped + n_todo)
		tap_check(false, "at least one check ran");
	if (n_skipped)
		printf("# %u checks skipped\n", n_skipped);
	if (n_todo)
		printf("# known bugs (TODO): %u checks, %u of them pass now%s\n", n_todo, n_todo_passed,
		       n_todo_passed ? ": the bug is fixed, make them checks" : "");
	printf("%u passed, %u failed\n", n_passed, n_failed);
	fflush(stdout);
	return n_failed ? 1 : 0;
}

static void on_alarm(int sig)
{
	/* Only async-signal-safe calls: write, kill, _exit. */
	static const char msg[] = "not ok - watchdog: test ran out of time\n";
	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	srv_kill_all();
	_exit(1);
}

void tap_watchdog(unsigned seconds)
{
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}
