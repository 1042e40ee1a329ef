#include "it.h"

#include <stdlib.h>

#include <unistd.h>

#include <sys/un.h>

#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
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

long it_stats_json(const char *sock, char *buf, size_t size)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = 0;
	long rc = 0;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "json\n", 5) != 5) {
		rc = -errno;
		goto out;
	}
	int64_t deadline = it_now_ms() + 5000;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - it_now_ms());
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= size - 1) {
			rc = -EMSGSIZE;
			goto out;
		}
	}
	buf[len] = 0;
	rc = (long)len;
out:
	close(fd);
	return rc;
}

uint64_t it_stats_field(const char *json, const char *name, unsigned *count)
{
	char key[64];
	unsigned n = 0;
	uint64_t sum = 0;
	snprintf(key, sizeof(key), "\"%s\":", name);
	for (const char *p = json; (p = strstr(p, key)) != NULL;) {
		p += strlen(key);
		sum += strtoull(p, NULL, 10);
		n++;
	}
	if (count)
		*count = n;
	return sum;
}

long it_stats_sum(const char *sock, const char *name)
{
	static char json[1 << 16];
	if (it_stats_json(sock, json, sizeof(json)) < 0)
		return -1;
	uint64_t sum = it_stats_field(json, name, NULL);
	return sum > LONG_MAX ? LONG_MAX : (long)sum;
}

union tern_addr it_with_port(const union tern_addr *a, uint16_t port)
{
	union tern_addr b = *a;
	addr_set_port(&b, port);
	return b;
}
