#include "server/service.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

void service_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	           (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

void service_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

uint64_t service_watchdog_interval_ms(void)
{
	uint64_t usec = 0;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us */
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	/* half the timeout, as sd_watchdog_enabled(3) advises */
	uint64_t ms = usec / 2000;
	return ms ? ms : 1;
}

void service_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

static const char *where(const struct tern_config *c)
{
	return c->config_file[0] ? c->config_file : "command line";
}

/* Clear this thread's capability sets (and the ambient set, which would
 * otherwise refill them across an exec). Threads started later inherit
 * the empty sets. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* Relay sockets are opened after start-up, without privileges. */
static void warn_low_ports(const struct tern_config *c)
{
	if (c->min_port < 1024)
		log_warn("min-port %u: relay ports below 1024 need CAP_NET_BIND_SERVICE, which ternd gave up "
		         "after start-up: relay sockets on them will fail",
		         c->min_port);
}

int service_drop_privileges(const struct tern_config *c)
{
	bool user = c->proc_user[0], group = c->proc_group[0];
	gid_t gid = group ? (gid_t)c->proc_gid : (gid_t)c->proc_user_gid;
	int rc = 0;

	if (!user && !group) {
		/* root keeps its privileges (the operator asked for no switch);
		 * a non-root start gives up what it was granted for start-up */
		if (geteuid() != 0 && (rc = drop_caps()) < 0)
			log_err("cannot give up capabilities after start-up: %s", strerror(-rc));
		else if (geteuid() != 0)
			warn_low_ports(c);
		return rc;
	}
	const char *opt = group ? "proc-group" : "proc-user";
	const char *val = group ? c->proc_group : c->proc_user;
	/* Supplementary groups first, then the group, then the user: after
	 * setuid the others could no longer be changed. */
	if (user && !group && c->proc_user_named) {
		if (initgroups(c->proc_user, gid) < 0)
			rc = -errno;
	} else if (setgroups(1, &gid) < 0) {
		rc = -errno;
	}
	if (rc == 0 && setgid(gid) < 0)
		rc = -errno;
	if (rc < 0) {
		log_err("%s: option '%s' value '%s': cannot switch to gid %u: %s%s", where(c), opt, val,
		        (unsigned)gid, strerror(-rc), rc == -EPERM ? " (start ternd as root)" : "");
		return rc;
	}
	if (user && setuid((uid_t)c->proc_uid) < 0) {
		rc = -errno;
		log_err("%s: option 'proc-user' value '%s': cannot switch to uid %u: %s%s", where(c),
		        c->proc_user, (unsigned)c->proc_uid, strerror(-rc),
		        rc == -EPERM ? " (start ternd as root)" : "");
		return rc;
	}
	/* Checked: a switch that did not happen must not go unnoticed. */
	if (getgid() != gid || getegid() != gid ||
	    (user && (getuid() != (uid_t)c->proc_uid || geteuid() != (uid_t)c->proc_uid ||
	              (c->proc_uid != 0 && setuid(0) == 0)))) {
		log_err("%s: option '%s' value '%s': the switch did not take effect", where(c), opt, val);
		return -EPERM;
	}
	if (geteuid() != 0 && (rc = drop_caps()) < 0) {
		log_err("cannot give up capabilities after start-up: %s", strerror(-rc));
		return rc;
	}
	log_info("running as uid %u gid %u (%s%s%s)", (unsigned)getuid(), (unsigned)getgid(),
	         user ? c->proc_user : "", user && group ? ":" : "", group ? c->proc_group : "");
	warn_low_ports(c);
	return 0;
}
