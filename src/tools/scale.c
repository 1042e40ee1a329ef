/* tern scale: create many authenticated allocations as fast as a server
 * will take them, then hold them, to measure the Allocate rate and the
 * server's memory per allocation.
 *
 * Each allocation needs its own client 5-tuple, so the tool opens one UDP
 * socket per allocation, spread over several loopback source addresses
 * (one address has only ~28k ephemeral ports). A window of outstanding
 * requests keeps the server busy without flooding it; a lost request is
 * retried after a timeout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/udp.h"
#include "stun/stun.h"
#include "util/addr.h"

#include "tools/tools.h"

#define MAX_SOURCES 32
#define RETRY_MS    1000

enum st { ST_IDLE, ST_CHALLENGE, ST_AUTH, ST_DONE, ST_FAILED };

struct conn {
	int fd;
	enum st st;
	uint8_t txid[STUN_TXID_LEN];
	uint64_t sent_ms;
	uint8_t tries;
	char nonce[128];
	uint16_t nonce_len;
};

struct scale {
	union tern_addr server;
	const char *user, *password;
	char realm[256];
	uint8_t key[16];
	bool have_key;
	struct conn *c;
	unsigned n, window, inflight, done, failed;
	int ep;
	int err_code;
};

uint64_t proc_cpu_ticks(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* fields 14 and 15 (utime, stime) follow the ")" of the comm field */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
		return ut + st;
	return 0;
}

long proc_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void send_allocate(struct scale *s, struct conn *c, uint64_t now)
{
	uint8_t buf[512];
	struct stun_builder b;
	if (getrandom(c->txid, sizeof(c->txid), 0) != (ssize_t)sizeof(c->txid))
		memset(c->txid, c->tries, sizeof(c->txid));
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), c->txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	if (c->st == ST_AUTH) {
		stun_add_attr(&b, STUN_A_USERNAME, s->user, strlen(s->user));
		stun_add_attr(&b, STUN_A_REALM, s->realm, strlen(s->realm));
		stun_add_attr(&b, STUN_A_NONCE, c->nonce, c->nonce_len);
		stun_add_integrity(&b, s->key, sizeof(s->key));
	}
	int len = stun_build_finish(&b);
	if (len > 0 && send(c->fd, buf, (size_t)len, MSG_DONTWAIT) == len) {
		c->sent_ms = now;
		c->tries++;
	}
}

static void fail(struct scale *s, struct conn *c, int code)
{
	c->st = ST_FAILED;
	s->failed++;
	s->inflight--;
	if (!s->err_code)
		s->err_code = code;
}

static void on_answer(struct scale *s, struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct stun_msg m;
	if (stun_parse(&m, buf, len) < 0 || memcmp(m.txid, c->txid, STUN_TXID_LEN) != 0)
		return;
	if (m.cls == STUN_SUCCESS) {
		c->st = ST_DONE;
		s->done++;
		s->inflight--;
		return;
	}
	const struct stun_attr *ea = stun_find(&m, STUN_A_ERROR_CODE);
	int code = 0;
	const uint8_t *reason;
	size_t rlen;
	if (!ea || stun_attr_error(ea, &code, &reason, &rlen) < 0)
		return;
	const struct stun_attr *na = stun_find(&m, STUN_A_NONCE), *ra = stun_find(&m, STUN_A_REALM);
	if ((code == 401 && c->st == ST_CHALLENGE) || code == 438) {
		if (!na || !ra || na->len >= sizeof(c->nonce) || ra->len >= sizeof(s->realm)) {
			fail(s, c, code);
			return;
		}
		if (!s->have_key) {
			memcpy(s->realm, ra->val, ra->len);
			s->realm[ra->len] = 0;
			stun_key_md5(s->user, strlen(s->user), s->realm, ra->len, s->password,
			             strlen(s->password), s->key);
			s->have_key = true;
		}
		memcpy(c->nonce, na->val, na->len);
		c->nonce_len = na->len;
		c->st = ST_AUTH;
		c->tries = 0;
		send_allocate(s, c, now);
		return;
	}
	fail(s, c, code);
}

static int parse_sources(const char *list, union tern_addr *src, unsigned *n)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", list);
	*n = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t && *n < MAX_SOURCES;
	     t = strtok_r(NULL, ",", &save))
		if (addr_parse(&src[(*n)++], t, 0) < 0)
			return -EINVAL;
	return *n ? 0 : -EINVAL;
}

static void usage(void)
{
	printf("usage: tern scale --allocations N --user U --password P [--sources IP,IP...]\n"
	       "                  [--window W] [--hold SECONDS] [--server-pid PID] SERVER[:PORT]\n"
	       "  Create N authenticated allocations (one client socket each, spread over the\n"
	       "  source addresses, default 127.0.0.1), report Allocates/s, then hold them for\n"
	       "  --hold seconds. With --server-pid, also the server's CPU time and RSS.\n"
	       "  Prints one JSON line.\n");
}

int cmd_scale(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allocations", required_argument, NULL, 'n'},
	    {"user", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'w'},
	    {"sources", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'W'},
	    {"hold", required_argument, NULL, 'H'},
	    {"server-pid", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct scale s = {.window = 256, .user = "bench", .password = "bench"};
	union tern_addr src[MAX_SOURCES];
	unsigned nsrc = 1, hold = 0;
	long pid = 0;
	int c;
	addr_parse(&src[0], "127.0.0.1", 0);
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:u:w:s:W:H:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			s.n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'u':
			s.user = optarg;
			break;
		case 'w':
			s.password = optarg;
			break;
		case 's':
			if (parse_sources(optarg, src, &nsrc) < 0) {
				fprintf(stderr, "tern scale: --sources: bad address list '%s'\n", optarg);
				return 2;
			}
			break;
		case 'W':
			s.window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			hold = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			pid = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage();
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || s.n == 0 || s.window == 0) {
		usage();
		return 2;
	}
	if (addr_parse(&s.server, argv[optind], 3478) < 0) {
		fprintf(stderr, "tern scale: bad server address '%s'\n", argv[optind]);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < s.n + 64) {
		rl.rlim_cur = rl.rlim_max = s.n + 64;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			getrlimit(RLIMIT_NOFILE, &rl);
			fprintf(stderr,
			        "tern scale: %u sockets need an open-file limit of %u; it is %llu here and "
			        "cannot be raised (%s)\n",
			        s.n, s.n + 64, (unsigned long long)rl.rlim_max, strerror(errno));
			return 1;
		}
	}
	s.c = calloc(s.n, sizeof(*s.c));
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!s.c || s.ep < 0)
		return 1;
	for (unsigned i = 0; i < s.n; i++) {
		union tern_addr a = src[i % nsrc];
		int fd = udp_open(&a, UDP_F_NONBLOCK, 0, 0, NULL);
		if (fd < 0 || connect(fd, &s.server.sa, addr_len(&s.server)) < 0) {
			fprintf(stderr, "tern scale: client socket %u: %s (add --sources)\n", i,
			        strerror(fd < 0 ? -fd : errno));
			return 1;
		}
		s.c[i].fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		epoll_ctl(s.ep, EPOLL_CTL_ADD, fd, &ev);
	}

	uint64_t cpu0 = pid ? proc_cpu_ticks(pid) : 0;
	long rss0 = pid ? proc_rss_kb(pid) : -1;
	uint64_t t0 = net_now_us(), next = 0, last_progress = net_now_ms();
	struct epoll_event ev[256];
	uint8_t buf[2048];
	while (s.done + s.failed < s.n) {
		uint64_t now = net_now_ms();
		while (s.inflight < s.window && next < s.n) {
			s.c[next].st = ST_CHALLENGE;
			send_allocate(&s, &s.c[next], now);
			s.inflight++;
			next++;
		}
		int k = epoll_wait(s.ep, ev, 256, 50);
		now = net_now_ms();
		for (int i = 0; i < k; i++) {
			struct conn *cn = &s.c[ev[i].data.u32];
			ssize_t len;
			while ((len = recv(cn->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				if (cn->st == ST_CHALLENGE || cn->st == ST_AUTH)
					on_answer(&s, cn, buf, (size_t)len, now);
		}
		if (k > 0)
			last_progress = now;
		/* Retransmit what timed out; give up after 5 tries. */
		if (k == 0)
			for (unsigned i = 0; i < next; i++) {
				struct conn *cn = &s.c[i];
				if ((cn->st == ST_CHALLENGE || cn->st == ST_AUTH) &&
				    now - cn->sent_ms >= RETRY_MS) {
					if (cn->tries >= 5)
						fail(&s, cn, 0);
					else
						send_allocate(&s, cn, now);
				}
			}
		if (now - last_progress > 20000) {
			fprintf(stderr, "tern scale: no answer for 20 s, giving up\n");
			break;
		}
	}
	uint64_t t1 = net_now_us();
	uint64_t cpu1 = pid ? proc_cpu_ticks(pid) : 0;
	long hz = sysconf(_SC_CLK_TCK);
	double secs = (double)(t1 - t0) / 1e6;
	if (hold) {
		struct timespec ts = {hold, 0};
		nanosleep(&ts, NULL);
	}
	long rss1 = pid ? proc_rss_kb(pid) : -1;
	double cpu_s = pid ? (double)(cpu1 - cpu0) / (double)hz : 0;
	printf(
	    "{\"allocations\":%u,\"created\":%u,\"failed\":%u,\"first_error\":%d,\"seconds\":%.3f,"
	    "\"allocates_per_s\":%.0f,\"server_cpu_s\":%.3f,\"allocates_per_cpu_s\":%.0f,"
	    "\"server_rss_kb_before\":%ld,\"server_rss_kb_after\":%ld,\"rss_bytes_per_allocation\":%.0f}\n",
	    s.n, s.done, s.failed, s.err_code, secs, secs > 0 ? s.done / secs : 0.0, cpu_s,
	    cpu_s > 0 ? s.done / cpu_s : 0.0, rss0, rss1,
	    (rss0 >= 0 && s.done) ? (double)(rss1 - rss0) * 1024.0 / s.done : 0.0);
	for (unsigned i = 0; i < s.n; i++)
		close(s.c[i].fd);
	free(s.c);
	close(s.ep);
	return s.failed ? 1 : 0;
}
