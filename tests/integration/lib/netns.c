/* A private network namespace for tests that ask the relay for forbidden
 * peers (it_policy, at_forbidden). The program
 * re-executes itself under `unshare --net` (plus a user namespace when not
 * root), where only lo exists; before any server starts it proves there is
 * no other interface and no route off the machine, so a bug cannot send a
 * single packet anywhere but to this namespace's lo. The "forbidden"
 * addresses are then added to lo, which makes them local: a catcher bound
 * to the wildcard address sees anything the relay would leak to them. */
#include "turnc.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define NETNS_ENV "TERN_TEST_NETNS"

/* Wait until a datagram sent to `ip` arrives on a socket bound to it. An
 * IPv6 address added with nodad stops being tentative (bind works) a moment
 * before the kernel's address work inserts its local route, so a test that
 * sends at once can lose its first datagram. Bounded: 3 s. */
static bool addr_reachable(const char *cidr)
{
	char ip[64];
	snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(cidr, "/"), cidr);
	union tern_addr a = it_addr(ip, 0);
	for (int i = 0; i < 150; i++) {
		int r = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		int s = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		union tern_addr b = a;
		socklen_t len = sizeof(b);
		bool ok = r >= 0 && s >= 0 && bind(r, &a.sa, addr_len(&a)) == 0 &&
		          getsockname(r, &b.sa, &len) == 0 && sendto(s, "?", 1, 0, &b.sa, addr_len(&b)) == 1;
		struct pollfd p = {.fd = r, .events = POLLIN};
		ok = ok && poll(&p, 1, 20) == 1;
		if (r >= 0)
			close(r);
		if (s >= 0)
			close(s);
		if (ok)
			return true;
		usleep(10000);
	}
	return false;
}

int it_netns_enter(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n;
	bool root = geteuid() == 0;

	if (getenv(NETNS_ENV))
		return -1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		printf("not ok 1 - readlink /proc/self/exe\n0 passed, 1 failed\n");
		return 1;
	}
	self[n] = 0;
	char probe[256];
	snprintf(probe, sizeof(probe), "unshare --net %s -- sh -c 'ip link set lo up' >/dev/null 2>&1",
	         root ? "" : "--user --map-root-user");
	if (system(probe) != 0) {
		printf("ok 1 - run inside a private network namespace # SKIP cannot create one "
		       "(needs root or unprivileged user namespaces, util-linux unshare and iproute2)\n");
		printf("0 passed, 0 failed\n");
		return 77;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		char *args[64];
		unsigned k = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		args[k++] = "unshare";
		args[k++] = "--net";
		if (!root) {
			args[k++] = "--user";
			args[k++] = "--map-root-user";
		}
		args[k++] = "--";
		args[k++] = "sh";
		args[k++] = "-c";
		args[k++] = "ip link set lo up && exec \"$0\" \"$@\"";
		args[k++] = self;
		for (int i = 1; i < argc && k < 62; i++)
			args[k++] = argv[i];
		args[k] = NULL;
		setenv(NETNS_ENV, "1", 1);
		execvp("unshare", args);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	printf("not ok - test in the namespace died (status 0x%x)\n", st);
	return 1;
}

bool it_netns_isolate(const char *const *addrs)
{
	struct ifaddrs *ifa, *i;
	unsigned others = 0;

	if (getifaddrs(&ifa) < 0)
		return tap_check(false, "getifaddrs");
	for (i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "lo") != 0) {
			tap_diag("unexpected interface %s in the test namespace", i->ifa_name);
			others++;
		}
	}
	freeifaddrs(ifa);
	if (!tap_check(others == 0, "the test network namespace has no interface but lo"))
		return false;
	static const char *const show[] = {"ip -4 route show default 2>&1", "ip -6 route show default 2>&1"};
	for (unsigned k = 0; k < 2; k++) {
		char line[256];
		unsigned lines = 0;
		FILE *f = popen(show[k], "r");
		while (f && fgets(line, sizeof(line), f)) {
			tap_diag("%s: %s", show[k], line);
			lines++;
		}
		int st = f ? pclose(f) : -1;
		if (!tap_check(st == 0 && lines == 0, "'%.*s' shows no default route",
		               (int)strlen(show[k]) - 5, show[k]))
			return false;
	}
	static const char *const outside[] = {"8.8.8.8", "10.0.0.1", "169.254.169.254",
	                                      "2001:4860:4860::8888", "fc00::1"};
	unsigned reachable = 0;
	for (unsigned k = 0; k < sizeof(outside) / sizeof(outside[0]); k++) {
		union tern_addr a = it_addr(outside[k], 9);
		int fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, &a.sa, addr_len(&a)) == 0) {
			tap_diag("%s is routable before setup", outside[k]);
			reachable++;
		}
		if (fd >= 0)
			close(fd);
	}
	if (!tap_check(reachable == 0, "no route from the namespace to public or private addresses"))
		return false;
	unsigned failed = 0, added = 0;
	for (; addrs && *addrs; addrs++) {
		char cmd[192];
		bool v6 = strchr(*addrs, ':') != NULL;
		snprintf(cmd, sizeof(cmd), "ip %s addr add %s dev lo%s 2>&1", v6 ? "-6" : "", *addrs,
		         v6 ? " nodad" : "");
		if (system(cmd) != 0) {
			tap_diag("command failed: %s", cmd);
			failed++;
		} else if (!addr_reachable(*addrs)) {
			tap_diag("%s added but not reachable within 3 s", *addrs);
			failed++;
		} else {
			added++;
		}
	}
	return tap_check(failed == 0, "%u test addresses added to lo inside the namespace", added);
}
