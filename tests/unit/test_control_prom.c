/* The Prometheus endpoint's HTTP server (src/control/prom.c) on 127.0.0.1
 * with a stub exposition: the metrics path serves what write() writes with
 * the exposition's content type, / answers "ok", /ready 200 and 503 once
 * ready() says no (drain), other paths 404, other methods 405, and a port
 * in use is an error, not a silent start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/prom.h"

static bool ready = true;
static unsigned writes;
static char resp[8192];

static void write_stub(void *ctx, FILE *out)
{
	writes++;
	fprintf(out, "# HELP tern_stub Stub.\n# TYPE tern_stub gauge\ntern_stub %u\n", writes);
}

static bool ready_stub(void *ctx)
{
	return ready;
}

/* A free loopback port (the kernel's pick, released for the server). */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* One request; the status code, the whole answer in resp. */
static int http(uint16_t port, const char *method, const char *path)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	dprintf(fd, "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, path);
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (n < sizeof(resp) - 1 && poll(&p, 1, 5000) == 1) {
		ssize_t k = read(fd, resp + n, sizeof(resp) - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	resp[n] = 0;
	close(fd);
	sscanf(resp, "HTTP/1.%*d %d", &status);
	return status;
}

static const char *body(void)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static void test_endpoints(void **state)
{
	(void)state;
	uint16_t port = free_port();
	struct prom *p = NULL;
	struct prom_opts o = {
	    .address = "127.0.0.1", .port = port, .path = "/m", .write = write_stub, .ready = ready_stub};
	assert_int_equal(prom_start(&o, &p), 0);
	assert_int_equal(http(port, "GET", "/m"), 200);
	assert_string_equal(body(), "# HELP tern_stub Stub.\n# TYPE tern_stub gauge\ntern_stub 1\n");
	assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
	assert_int_equal(http(port, "GET", "/m"), 200); /* built again per scrape */
	assert_non_null(strstr(body(), "tern_stub 2\n"));
	assert_int_equal(http(port, "GET", "/"), 200);
	assert_string_equal(body(), "ok");
	assert_int_equal(http(port, "GET", "/ready"), 200);
	ready = false;
	assert_int_equal(http(port, "GET", "/ready"), 503);
	ready = true;
	assert_int_equal(http(port, "GET", "/ready"), 200);
	assert_int_equal(http(port, "GET", "/metrics"), 404);
	assert_int_equal(http(port, "POST", "/m"), 405);
	assert_int_equal(writes, 2);
	/* the port is taken: a second endpoint fails to start */
	struct prom *q = NULL;
	assert_int_equal(prom_start(&o, &q), -EADDRINUSE);
	assert_null(q);
	prom_stop(p);
	/* stopped: the port is free again */
	assert_int_equal(prom_start(&o, &q), 0);
	prom_stop(q);
}

static void test_bad_address(void **state)
{
	(void)state;
	struct prom *p = NULL;
	struct prom_opts o = {.address = "not-an-ip", .port = 1, .path = "/m", .write = write_stub};
	assert_int_equal(prom_start(&o, &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_bad_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
