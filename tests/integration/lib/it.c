#include "it.h"

#include <stdlib.h>

#include <unistd.h>

#include <sys/un.h>

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool it_check_tern(bool cond, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (srv_is_coturn() && !cond) {
		tap_skip("coturn differs (tern-specific check)", "%s", what);
		return false;
	}
	return tap_check(cond, "%s", what);
}

const char *it_outcome(int rc)
{
	static char bufs[4][32];
	static unsigned next;
	char *b = bufs[next++ % 4];
	if (rc == 0)
		return "success";
	if (rc == -ETIMEDOUT)
		return "timeout";
	if (rc > 0)
		snprintf(b, 32, "error %d", rc);
	else
		snprintf(b, 32, "local error %s", strerror(-rc));
	return b;
}

int it_client(struct turnc *c, const struct srv *s, int family)
{
	const union tern_addr *a = family == AF_INET6 ? &s->addr6 : &s->addr;
	int rc;
	if (a->sa.sa_family != family) {
		tap_check(false, "server listens on an address of family %d", family);
		c->fd = -1;
		return -EAFNOSUPPORT;
	}
	rc = turnc_open(c, a);
	if (rc < 0) {
		tap_check(false, "open client socket to %s: %s", it_fmt(a), strerror(-rc));
		return rc;
	}
	turnc_set_creds(c, IT_USER, IT_PASS);
	return 0;
}

int it_client_alloc(struct turnc *c, const struct srv *s, int family, struct turnc_resp *r)
{
	int rc = it_client(c, s, family);
	if (rc < 0)
		return rc;
	rc = turnc_allocate(c, &TURNC_ALLOC_DEFAULT, r);
	if (!tap_check(rc == 0, "Allocate from %s: %s", it_fmt(&c->local), it_outcome(rc)))
		return rc < 0 ? rc : -EPROTO;
	return 0;
}

long it_stats_sum(const char *sock, const char *name)
{
	static char json[1 << 16];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "json", 4) != 4) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(json) - 1 && (k = read(fd, json + n, sizeof(json) - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	json[n] = 0;
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	long sum = 0;
	for (const char *p = strstr(json, key); p; p = strstr(p + 1, key))
		sum += strtol(p + strlen(key), NULL, 10);
	return sum;
}

union tern_addr it_with_port(const union tern_addr *a, uint16_t port)
{
	union tern_addr b = *a;
	addr_set_port(&b, port);
	return b;
}
