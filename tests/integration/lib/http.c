/* A minimal HTTP/1.0 client for the tests (Prometheus endpoints): one
 * request per connection on 127.0.0.1, every wait bounded. */
#include "it.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int it_http(uint16_t port, const char *method, const char *path, char *body, size_t cap, int timeout_ms)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -EIO;
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	char req[2048];
	int n =
	    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
	             method, path, port);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
		goto out;
	char *resp = malloc(1 << 20);
	size_t len = 0;
	int64_t end = it_now_ms() + timeout_ms;
	while (resp && len < (1 << 20) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(end - it_now_ms());
		if (left <= 0 || poll(&p, 1, left) != 1) {
			rc = -ETIMEDOUT;
			free(resp);
			goto out;
		}
		ssize_t k = read(fd, resp + len, (1 << 20) - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	if (!resp)
		goto out;
	resp[len] = 0;
	int status = 0;
	const char *b = strstr(resp, "\r\n\r\n");
	if (sscanf(resp, "HTTP/1.%*d %d", &status) == 1 && b) {
		snprintf(body, cap, "%s", b + 4);
		rc = status;
	}
	free(resp);
out:
	close(fd);
	return rc;
}
