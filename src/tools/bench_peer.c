/* tern bench peer: the far side of the relay. One thread, one epoll loop
 * over --count sockets on consecutive ports; each readable socket is
 * drained with recvmmsg and, in echo mode, every datagram goes back to its
 * source in one sendmmsg per batch (plain datagrams: never UDP_SEGMENT, so
 * the relay sees what real peers send). Sink mode only counts, per run id,
 * and answers the generator's control query (tools.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/udp.h"
#include "tools/tools.h"
#include "util/bytes.h"

#define PEER_MAX_PORTS 1024
/* Batches per readable event: 16 x 64 datagrams bounds one socket's turn
 * so the others (and the stop check) are not starved. */
#define PEER_RX_BUDGET 16
/* Runs remembered (least recently seen is forgotten first). */
#define PEER_RUNS 16
#define PEER_BUF  (4 << 20)

struct peer_run {
	uint32_t run;
	uint64_t last; /* datagram counter when last seen (LRU) */
	struct bench_sink_count c;
};

struct peer;

struct peer_sock {
	struct net_handler h;
	struct peer *p;
};

struct peer {
	bool echo;
	struct peer_sock socks[PEER_MAX_PORTS];
	unsigned nsocks;
	struct udp_rx rx;
	struct mmsghdr out[NET_BATCH];
	struct iovec out_iov[NET_BATCH];
	uint8_t reply[NET_BATCH][BENCH_REPLY_LEN];
	uint64_t dgrams, bytes, echoed, echo_failed, queries, truncated, recv_errors;
	struct peer_run runs[PEER_RUNS];
	unsigned nruns, hit;
	uint64_t other;
};

static struct peer_run *run_slot(struct peer *p, uint32_t run)
{
	if (p->nruns && p->runs[p->hit].run == run)
		return &p->runs[p->hit];
	unsigned lru = 0;
	for (unsigned i = 0; i < p->nruns; i++) {
		if (p->runs[i].run == run) {
			p->hit = i;
			return &p->runs[i];
		}
		if (p->runs[i].last < p->runs[lru].last)
			lru = i;
	}
	unsigned i = p->nruns < PEER_RUNS ? p->nruns++ : lru;
	memset(&p->runs[i], 0, sizeof(p->runs[i]));
	p->runs[i].run = run;
	p->hit = i;
	return &p->runs[i];
}

static void count(struct peer *p, const uint8_t *d, size_t len)
{
	p->dgrams++;
	p->bytes += len;
	if (len < BENCH_HDR || memcmp(d, BENCH_MAGIC, 4) != 0) {
		p->other++;
		return;
	}
	struct peer_run *r = run_slot(p, rd32(d + 4));
	r->last = p->dgrams;
	if (d[8] == BENCH_PHASE_MEAS) {
		r->c.measured++;
		r->c.bytes += len;
	} else {
		r->c.warm++;
	}
}

static void put64(uint8_t *b, uint64_t v)
{
	wr32(b, (uint32_t)(v >> 32));
	wr32(b + 4, (uint32_t)v);
}

static void build_reply(struct peer *p, uint8_t *out, uint32_t run)
{
	struct bench_sink_count c = {0};
	for (unsigned i = 0; i < p->nruns; i++)
		if (p->runs[i].run == run)
			c = p->runs[i].c;
	memcpy(out, BENCH_REPLY, BENCH_CTL_PREFIX);
	wr32(out + 6, run);
	put64(out + 10, c.measured);
	put64(out + 18, c.bytes);
	put64(out + 26, c.warm);
	put64(out + 34, p->other);
}

static void flush(struct peer *p, int fd, unsigned n)
{
	unsigned i = 0;
	while (i < n) {
		int r = sendmmsg(fd, &p->out[i], n - i, MSG_DONTWAIT);
		if (r > 0) {
			i += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			p->echo_failed += n - i;
			return;
		}
		p->echo_failed++;
		i++;
	}
}

static void on_readable(struct net_handler *h, uint32_t events)
{
	struct peer_sock *s = (struct peer_sock *)h;
	struct peer *p = s->p;
	for (unsigned b = 0; b < PEER_RX_BUDGET; b++) {
		int n = udp_recv_batch(h->fd, &p->rx, NET_BATCH);
		if (n < 0) {
			p->recv_errors++;
			continue;
		}
		if (n == 0)
			return;
		unsigned nout = 0, echoes = 0;
		for (unsigned i = 0; i < (unsigned)n; i++) {
			const uint8_t *d = udp_rx_data(&p->rx, i);
			size_t len = udp_rx_len(&p->rx, i);
			const uint8_t *src = NULL;
			size_t slen = 0;
			if (udp_rx_trunc(&p->rx, i)) {
				p->truncated++;
				continue;
			}
			if (len == BENCH_QUERY_LEN && memcmp(d, BENCH_QUERY, BENCH_CTL_PREFIX) == 0) {
				p->queries++;
				build_reply(p, p->reply[i], rd32(d + 6));
				src = p->reply[i];
				slen = BENCH_REPLY_LEN;
			} else {
				count(p, d, len);
				if (!p->echo)
					continue;
				src = d;
				slen = len;
				echoes++;
			}
			struct msghdr *m = &p->out[nout].msg_hdr;
			p->out_iov[nout] = (struct iovec){.iov_base = (void *)src, .iov_len = slen};
			m->msg_name = &p->rx.src[i];
			m->msg_namelen = addr_len(&p->rx.src[i]);
			m->msg_iov = &p->out_iov[nout];
			m->msg_iovlen = 1;
			m->msg_control = NULL;
			m->msg_controllen = 0;
			m->msg_flags = 0;
			nout++;
		}
		/* Before the next receive: the iovecs borrow this batch's slots. */
		if (nout) {
			uint64_t failed = p->echo_failed;
			flush(p, h->fd, nout);
			uint64_t lost = p->echo_failed - failed;
			p->echoed += echoes > lost ? echoes - lost : 0;
		}
		if (n < NET_BATCH)
			return;
	}
}

static void peer_usage(FILE *f)
{
	fprintf(f,
	        "usage: tern bench peer --listen ADDR:PORT (--echo | --sink) [options]\n"
	        "\n"
	        "  --listen ADDR:PORT  first address to listen on (required)\n"
	        "  --count N           listen on N consecutive ports from PORT (default 1, max %d)\n"
	        "  --echo              send every datagram back to its source\n"
	        "  --sink              only count (per run id) and answer the generator's count query\n"
	        "  --seconds S         stop after S seconds (default 60)\n"
	        "  --quiet             no start line on stderr\n"
	        "\n"
	        "Prints one JSON line of counters on stdout when it stops (after --seconds,\n"
	        "or on SIGINT/SIGTERM).\n",
	        PEER_MAX_PORTS);
}

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static void print_json(const struct peer *p, const char *listen, double secs)
{
	printf("{\"peer\":\"%s\",\"listen\":\"%s\",\"ports\":%u,\"seconds\":%.3f,\"datagrams\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"echoed\":%" PRIu64 ",\"echo_failed\":%" PRIu64
	       ",\"queries\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"recv_errors\":%" PRIu64
	       ",\"other\":%" PRIu64 ",\"runs\":[",
	       p->echo ? "echo" : "sink", listen, p->nsocks, secs, p->dgrams, p->bytes, p->echoed,
	       p->echo_failed, p->queries, p->truncated, p->recv_errors, p->other);
	for (unsigned i = 0; i < p->nruns; i++)
		printf("%s{\"run\":\"%08" PRIx32 "\",\"measured\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"warm\":%" PRIu64 "}",
		       i ? "," : "", p->runs[i].run, p->runs[i].c.measured, p->runs[i].c.bytes,
		       p->runs[i].c.warm);
	printf("]}\n");
	fflush(stdout);
}

int cmd_bench_peer(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},  {"count", required_argument, NULL, 'n'},
	    {"echo", no_argument, NULL, 'e'},          {"sink", no_argument, NULL, 's'},
	    {"seconds", required_argument, NULL, 't'}, {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *listen = NULL;
	unsigned nports = 1;
	int mode = -1;
	double seconds = 60;
	bool quiet = false;
	int c, ret = 1;
	char *end;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'n': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (!optarg[0] || *end || v < 1 || v > PEER_MAX_PORTS) {
				fprintf(stderr, "tern bench peer: --count: invalid value '%s' (1..%d)\n",
				        optarg, PEER_MAX_PORTS);
				return 2;
			}
			nports = (unsigned)v;
			break;
		}
		case 'e':
		case 's':
			if (mode >= 0 && mode != (c == 'e')) {
				fprintf(stderr, "tern bench peer: give --echo or --sink, not both\n");
				return 2;
			}
			mode = c == 'e';
			break;
		case 't':
			seconds = strtod(optarg, &end);
			if (!optarg[0] || *end || !(seconds > 0 && seconds <= 86400 * 7)) {
				fprintf(
				    stderr,
				    "tern bench peer: --seconds: invalid value '%s' (> 0, up to a week)\n",
				    optarg);
				return 2;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			peer_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "tern bench peer: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "tern bench peer: unknown option '%s' (see tern bench peer --help)\n",
			        argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tern bench peer: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	union tern_addr addr;
	if (!listen || mode < 0) {
		fprintf(stderr,
		        "tern bench peer: --listen ADDR:PORT and one of --echo / --sink are required\n");
		return 2;
	}
	if (addr_parse(&addr, listen, 0) < 0 || addr_port(&addr) == 0) {
		fprintf(stderr, "tern bench peer: --listen: invalid address '%s' (ADDR:PORT, port > 0)\n",
		        listen);
		return 2;
	}
	if ((unsigned)addr_port(&addr) + nports - 1 > 65535) {
		fprintf(stderr, "tern bench peer: --listen %s with --count %u goes past port 65535\n", listen,
		        nports);
		return 2;
	}

	struct peer *p = calloc(1, sizeof(*p));
	struct net_loop *loop = loop_new();
	if (!p || !loop) {
		fprintf(stderr, "tern bench peer: out of memory\n");
		goto out;
	}
	p->echo = mode == 1;
	udp_rx_init(&p->rx);
	for (unsigned i = 0; i < nports; i++) {
		union tern_addr a = addr;
		addr_set_port(&a, (uint16_t)(addr_port(&addr) + i));
		int fd = udp_open(&a, UDP_F_NONBLOCK, PEER_BUF, PEER_BUF, NULL);
		if (fd < 0) {
			char s[TERN_ADDRSTRLEN];
			fprintf(stderr, "tern bench peer: bind %s: %s\n", addr_format(&a, s, sizeof(s), true),
			        strerror(-fd));
			goto out;
		}
		p->socks[i] = (struct peer_sock){.h = {.fn = on_readable, .fd = fd}, .p = p};
		p->nsocks++;
		int err = loop_add(loop, &p->socks[i].h, EPOLLIN);
		if (err < 0) {
			fprintf(stderr, "tern bench peer: epoll: %s\n", strerror(-err));
			goto out;
		}
	}

	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: epoll_wait returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!quiet)
		fprintf(stderr, "tern bench peer: listening on %s, %u port%s, %s, for %.1f s\n", listen,
		        nports, nports > 1 ? "s" : "", p->echo ? "echo" : "sink", seconds);
	uint64_t start = bench_now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
	for (;;) {
		uint64_t now = bench_now_ns();
		if (bench_stop || now >= deadline)
			break;
		uint64_t left_ms = (deadline - now + 999999) / 1000000;
		int r = loop_run_once(loop, left_ms < 100 ? (int)left_ms : 100);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "tern bench peer: loop: %s\n", strerror(-r));
			goto out;
		}
	}
	print_json(p, listen, (double)(bench_now_ns() - start) / 1e9);
	ret = 0;
out:
	if (p) {
		for (unsigned i = 0; i < p->nsocks; i++) {
			if (loop)
				loop_del(loop, &p->socks[i].h);
			close(p->socks[i].h.fd);
		}
	}
	if (loop)
		loop_free(loop);
	free(p);
	return ret;
}

int bench_query_sink(const union tern_addr *peer, uint32_t run, struct bench_sink_count *out)
{
	uint8_t q[BENCH_QUERY_LEN], r[BENCH_REPLY_LEN + 8];
	union tern_addr any;
	int ret = -ETIMEDOUT;

	memset(&any, 0, sizeof(any));
	any.sa.sa_family = peer->sa.sa_family;
	int fd = udp_open(&any, UDP_F_NONBLOCK, 0, 0, NULL);
	if (fd < 0)
		return fd;
	memcpy(q, BENCH_QUERY, BENCH_CTL_PREFIX);
	wr32(q + 6, run);
	/* 5 tries, 300 ms each: the peer answers at once unless the query or
	 * the reply was dropped. */
	for (int t = 0; t < 5 && ret == -ETIMEDOUT; t++) {
		if (sendto(fd, q, sizeof(q), 0, &peer->sa, addr_len(peer)) < 0) {
			ret = -errno;
			break;
		}
		uint64_t deadline = bench_now_ns() + 300000000ull;
		for (;;) {
			uint64_t now = bench_now_ns();
			if (now >= deadline)
				break;
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int n = poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
			if (n <= 0)
				continue;
			ssize_t len = recv(fd, r, sizeof(r), MSG_DONTWAIT);
			if (len != BENCH_REPLY_LEN || memcmp(r, BENCH_REPLY, BENCH_CTL_PREFIX) != 0 ||
			    rd32(r + 6) != run)
				continue;
			out->measured = ((uint64_t)rd32(r + 10) << 32) | rd32(r + 14);
			out->bytes = ((uint64_t)rd32(r + 18) << 32) | rd32(r + 22);
			out->warm = ((uint64_t)rd32(r + 26) << 32) | rd32(r + 30);
			out->other = ((uint64_t)rd32(r + 34) << 32) | rd32(r + 38);
			ret = 0;
			break;
		}
	}
	close(fd);
	return ret;
}
