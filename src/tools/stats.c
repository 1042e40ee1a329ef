/* tern stats: read a running ternd's per-worker counters from its
 * stats-socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/tools.h"

#define DEFAULT_SOCKET "/tmp/ternd-3478.sock"

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
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tern stats: socket path too long: %s\n", path);
		return 2;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
		        "tern stats: cannot connect to %s: %s (is ternd running with stats-socket=%s?)\n",
		        path, strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	const char *req = json ? "json\n" : "stats\n";
	if (write(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "tern stats: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return n < 0 ? 1 : 0;
}
