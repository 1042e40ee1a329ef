#include "topo.h"
#include "turnc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int topo_enter(struct topo *t, int i)
{
	int fd = i < 0 ? t->home : t->ns[i];
	if (setns(fd, CLONE_NEWNET) < 0)
		return -errno;
	t->here = i;
	return 0;
}

int topo_make(struct topo *t)
{
	int rc = 0;
	memset(t, 0, sizeof(*t));
	t->here = -1;
	for (unsigned i = 0; i < TOPO_NS; i++)
		t->ns[i] = -1;
	t->home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t->home < 0)
		return -errno;
	for (unsigned i = 0; i < TOPO_NS; i++) {
		if (unshare(CLONE_NEWNET) < 0) {
			rc = -errno;
			break;
		}
		t->ns[i] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (t->ns[i] < 0) {
			rc = -errno;
			break;
		}
		/* what iproute2's `netns` takes: a path it can open */
		snprintf(t->path[i], sizeof(t->path[i]), "/proc/%d/fd/%d", (int)getpid(), t->ns[i]);
		t->here = (int)i;
		if (system("ip link set lo up") != 0) {
			rc = -EIO;
			break;
		}
	}
	int back = topo_enter(t, -1);
	return rc ? rc : back;
}

void topo_free(struct topo *t)
{
	topo_enter(t, -1);
	for (unsigned i = 0; i < TOPO_NS; i++) {
		if (t->ns[i] >= 0)
			close(t->ns[i]);
		t->ns[i] = -1;
	}
}

static int vsh(struct topo *t, int i, char *out, size_t cap, const char *fmt, va_list ap)
{
	char cmd[1024], line[512];
	int prev = t->here, st;
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	if (topo_enter(t, i) < 0)
		return -1;
	char full[1100];
	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	FILE *f = popen(full, "r");
	char all[4096] = "";
	size_t used = 0;
	if (out && cap)
		out[0] = 0;
	bool first = true;
	while (f && fgets(line, sizeof(line), f)) {
		if (out && first) {
			snprintf(out, cap, "%.*s", (int)strcspn(line, "\n"), line);
			first = false;
		}
		size_t n = strlen(line);
		if (used + n < sizeof(all)) {
			memcpy(all + used, line, n + 1);
			used += n;
		}
	}
	st = f ? pclose(f) : -1;
	topo_enter(t, prev);
	if (st != 0) {
		tap_diag("[ns %d] command failed (status %d): %s", i, st, cmd);
		for (char *p = strtok(all, "\n"); p; p = strtok(NULL, "\n"))
			tap_diag("| %s", p);
	}
	return st;
}

int topo_sh(struct topo *t, int i, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int st = vsh(t, i, NULL, 0, fmt, ap);
	va_end(ap);
	return st;
}

int topo_sh_read(struct topo *t, int i, char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int st = vsh(t, i, out, cap, fmt, ap);
	va_end(ap);
	return st;
}

int topo_veth(struct topo *t, int ia, const char *a, int ib, const char *b)
{
	if (topo_sh(t, ia, "ip link add %s type veth peer name %s netns %s", a, b, t->path[ib]) != 0)
		return -EIO;
	if (topo_sh(t, ia, "ip link set %s up", a) != 0 || topo_sh(t, ib, "ip link set %s up", b) != 0)
		return -EIO;
	return 0;
}

static int ethtool(struct topo *t, int i, const char *ifname, struct ethtool_value *v)
{
	int prev = t->here, rc = 0;
	if (topo_enter(t, i) < 0)
		return -errno;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)v;
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	topo_enter(t, prev);
	return rc;
}

int topo_tx_csum(struct topo *t, int i, const char *ifname, bool on)
{
	struct ethtool_value v = {.cmd = ETHTOOL_STXCSUM, .data = on};
	return ethtool(t, i, ifname, &v);
}

int topo_tx_csum_get(struct topo *t, int i, const char *ifname)
{
	struct ethtool_value v = {.cmd = ETHTOOL_GTXCSUM};
	int rc = ethtool(t, i, ifname, &v);
	return rc < 0 ? rc : v.data != 0;
}

int topo_mac(struct topo *t, int i, const char *ifname, char mac[18])
{
	/* not /sys/class/net: sysfs shows the namespace it was mounted in */
	char line[256];
	int st = topo_sh_read(t, i, line, sizeof(line), "ip -br link show dev %s | awk '{print $3}'", ifname);
	if (st != 0 || strlen(line) != 17)
		return -EIO;
	memcpy(mac, line, 18);
	return 0;
}
