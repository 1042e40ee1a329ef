#include "control/prom.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

struct prom {
	struct MHD_Daemon *d;
	struct prom_opts o;
	char path[256];
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

#define TEXT "text/plain; charset=utf-8"

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_len, void **state)
{
	struct prom *p = cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT, "method not allowed\n", 19,
		             MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, p->path) == 0) {
		/* the exposition is built whole per scrape, on this thread */
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return MHD_NO;
		p->o.write(p->o.ctx, f);
		if (fclose(f) != 0) {
			free(buf);
			return MHD_NO;
		}
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len,
		             MHD_RESPMEM_MUST_FREE);
	}
	if (strcmp(url, "/") == 0)
		return reply(c, MHD_HTTP_OK, TEXT, "ok", 2, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/ready") == 0) {
		if (p->o.ready && !p->o.ready(p->o.ctx))
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, "draining\n", 9,
			             MHD_RESPMEM_PERSISTENT);
		return reply(c, MHD_HTTP_OK, TEXT, "ready\n", 6, MHD_RESPMEM_PERSISTENT);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, TEXT, "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

/* The listening socket is ours (so a bind error is reported exactly);
 * libmicrohttpd serves it from its own thread. */
static int listen_on(const char *address, uint16_t port)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr *sa = (struct sockaddr *)&a6;
	socklen_t salen = sizeof(a6);
	bool dual = !address || !address[0];
	if (!dual && inet_pton(AF_INET6, address, &a6.sin6_addr) != 1) {
		if (inet_pton(AF_INET, address, &a4.sin_addr) != 1)
			return -EINVAL;
		sa = (struct sockaddr *)&a4;
		salen = sizeof(a4);
	}
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
	if (fd < 0 && dual && errno == EAFNOSUPPORT) {
		sa = (struct sockaddr *)&a4; /* no IPv6 on this host */
		salen = sizeof(a4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof(int));
	if (bind(fd, sa, salen) < 0 || listen(fd, 64) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int prom_start(const struct prom_opts *o, struct prom **out)
{
	struct prom *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *o;
	snprintf(p->path, sizeof(p->path), "%s", o->path);
	int fd = listen_on(o->address, o->port);
	if (fd < 0) {
		log_err("prometheus: cannot listen on %s port %u: %s",
		        o->address && o->address[0] ? o->address : "*", o->port, strerror(-fd));
		free(p);
		return fd;
	}
	/* one thread of its own (polling internally), a few connections at
	 * a time: scrapers are few */
	p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                        on_request, p, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 16u,
	                        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!p->d) {
		log_err("prometheus: cannot start the HTTP server");
		close(fd);
		free(p);
		return -EIO;
	}
	log_info("prometheus: metrics on http://%s%s%s:%u%s",
	         o->address && strchr(o->address, ':') ? "[" : "",
	         o->address && o->address[0] ? o->address : "*",
	         o->address && strchr(o->address, ':') ? "]" : "", o->port, o->path);
	*out = p;
	return 0;
}

void prom_stop(struct prom *p)
{
	if (!p)
		return;
	MHD_stop_daemon(p->d); /* joins its thread, closes the socket */
	free(p);
}
