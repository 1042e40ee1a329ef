/* tern ctl and tern stats: talk to a running ternd over its control socket
 * (the stats-socket option: a unix socket only its owner may open). One
 * request line per connection; the answer is printed as it comes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/tools.h"

#define DEFAULT_SOCKET "/tmp/ternd-3478.sock"

/* Send req on the socket at path and copy the answer to stdout. 0, or 1
 * with one line on stderr; an answer that starts "error: " is a failure. */
static int ctl_request(const char *prog, const char *path, const char *req)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tern %s: socket path too long: %s\n", prog, path);
		return 2;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
		        "tern %s: cannot connect to %s: %s (is ternd running with stats-socket=%s?)\n", prog,
		        path, strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (write(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "tern %s: %s: %s\n", prog, path, strerror(errno));
		close(fd);
		return 1;
	}
	char buf[4096];
	ssize_t n;
	bool first = true, refused = false;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first && n >= 7 && memcmp(buf, "error: ", 7) == 0)
			refused = true;
		first = false;
		fwrite(buf, 1, (size_t)n, refused ? stderr : stdout);
	}
	close(fd);
	return n < 0 || refused ? 1 : 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_SOCKET;
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: tern stats [--socket PATH] [--json]\n"
			       "  Print a running ternd's per-worker counters (its stats-socket option,\n"
			       "  default %s).\n",
			       DEFAULT_SOCKET);
			return 0;
		default:
			return 2;
		}
	}
	return ctl_request("stats", path, json ? "json\n" : "stats\n");
}

static void ctl_usage(FILE *f)
{
	fprintf(f,
	        "usage: tern ctl [--socket PATH] COMMAND [ARGS]\n"
	        "  Control a running ternd through its stats-socket (default %s):\n"
	        "    stats               per-worker counters (as tern stats; json: as JSON)\n"
	        "    sessions [--json] [USER]\n"
	        "                        live allocations: worker, user, transport, client and\n"
	        "                        server addresses, relayed address, age, seconds left,\n"
	        "                        permissions, channels, datagrams and bytes each way\n"
	        "    kick USER           delete every allocation of USER (as quotas name users:\n"
	        "                        a REST username's user part)\n"
	        "    drain               stop taking allocations; exit when they are gone\n"
	        "                        (drain-min-allocations, drain-timeout)\n"
	        "    config              the running configuration (secrets shown as (set))\n",
	        DEFAULT_SOCKET);
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_SOCKET;
	int c;
	optind = 1;
	/* "+": options stop at the command, whose own arguments (--json) pass through */
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			ctl_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return 2;
	}
	char req[256];
	size_t len = 0;
	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (strpbrk(argv[i], " \t\r\n") || len + n + 2 > sizeof(req)) {
			fprintf(stderr, "tern ctl: argument '%s' has blanks or is too long\n", argv[i]);
			return 2;
		}
		memcpy(req + len, argv[i], n);
		len += n;
		req[len++] = i + 1 < argc ? ' ' : '\n';
	}
	req[len] = 0;
	return ctl_request("ctl", path, req);
}
