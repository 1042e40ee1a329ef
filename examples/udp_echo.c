/* udp_echo: a UDP echo / counter server on the net/ engine, no TURN.
 *
 *   udp_echo [-w workers] [-p port] [-a addr] [-b sockbuf] [-t seconds] [--count]
 *
 * One thread per worker, each with its own loop and its own SO_REUSEPORT
 * socket on the address (the shape of ternd's workers). Each readable event
 * drains batches with recvmmsg and echoes every batch with one flush; with
 * --count datagrams are only counted. Per-worker totals are printed on
 * SIGINT / SIGTERM or after -t seconds. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/udp.h"
#include "util/addr.h"

/* Batches per readable event: 16 x NET_BATCH = 1024 datagrams, enough to
 * amortise the epoll_wait, small enough that a stop request is seen within
 * about a millisecond under full load. */
#define RX_BUDGET 16

struct worker {
	unsigned id;
	bool count_only;
	const atomic_bool *stop;
	struct net_loop *loop;
	struct net_handler h;
	pthread_t thread;
	uint64_t dgrams, bytes, trunc, recv_calls, recv_errors;
	struct udp_rx rx;
	struct udp_tx tx;
};

static void on_readable(struct net_handler *h, uint32_t events)
{
	struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, h));
	for (unsigned b = 0; b < RX_BUDGET; b++) {
		int n = udp_recv_batch(h->fd, &w->rx, NET_BATCH);
		if (n < 0)
			w->recv_errors++;
		if (n <= 0)
			return;
		w->recv_calls++;
		for (unsigned i = 0; i < (unsigned)n; i++) {
			if (udp_rx_trunc(&w->rx, i)) {
				w->trunc++;
				continue;
			}
			size_t len = udp_rx_len(&w->rx, i);
			w->dgrams++;
			w->bytes += len;
			if (w->count_only)
				continue;
			struct udp_tx_entry *e = udp_tx_add(&w->tx, h->fd, &w->rx.src[i]);
			e->iov[0] = (struct iovec){.iov_base = w->rx.buf[i], .iov_len = len};
			e->iovcnt = 1;
		}
		/* Before the next recv: the entries borrow this batch's slots. */
		udp_tx_flush(&w->tx);
		if (n < NET_BATCH)
			return; /* drained */
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		int r = loop_run_once(w->loop, -1);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "worker %u: loop: %s\n", w->id, strerror(-r));
			break;
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: udp_echo [-w workers] [-p port] [-a addr] [-b sockbuf] [-t seconds] [--count]\n"
	           "  -w N        worker threads (default: online CPUs)\n"
	           "  -p PORT     UDP port (default 9000; 0 picks one)\n"
	           "  -a ADDR     listening address (default 127.0.0.1)\n"
	           "  -b BYTES    SO_RCVBUF / SO_SNDBUF per socket (default: kernel's)\n"
	           "  -t SECONDS  exit after this long (default: until SIGINT/SIGTERM)\n"
	           "  --count     count datagrams only, do not echo\n");
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "udp_echo: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"count", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long nworkers = sysconf(_SC_NPROCESSORS_ONLN), port = 9000, sockbuf = 0, seconds = 0;
	const char *addr_s = "127.0.0.1";
	bool count_only = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "w:p:a:b:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			nworkers = parse_num(optarg, 1, 1024, "worker count");
			break;
		case 'p':
			port = parse_num(optarg, 0, 65535, "port");
			break;
		case 'a':
			addr_s = optarg;
			break;
		case 'b':
			sockbuf = parse_num(optarg, 0, 1L << 30, "socket buffer size");
			break;
		case 't':
			seconds = parse_num(optarg, 0, 1L << 30, "duration");
			break;
		case 'c':
			count_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || nworkers < 1) {
		usage(stderr);
		return 2;
	}

	union tern_addr addr;
	if (addr_parse(&addr, addr_s, (uint16_t)port) < 0) {
		fprintf(stderr, "udp_echo: bad address '%s'\n", addr_s);
		return 2;
	}

	/* Block the stop signals before any thread exists, so every thread
	 * inherits the mask and only sigtimedwait below receives them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	atomic_bool stop = false;
	struct worker **w = calloc((size_t)nworkers, sizeof *w);
	if (!w)
		return 1;
	int rc = 1;
	long started = 0;
	for (long i = 0; i < nworkers; i++) {
		if ((w[i] = calloc(1, sizeof *w[i])))
			w[i]->h.fd = -1;
		if (!w[i] || !(w[i]->loop = loop_new())) {
			fprintf(stderr, "udp_echo: out of memory\n");
			goto out;
		}
		w[i]->id = (unsigned)i;
		w[i]->count_only = count_only;
		w[i]->stop = &stop;
		udp_rx_init(&w[i]->rx);
		udp_tx_init(&w[i]->tx, false);
		/* Bound in the main thread so a busy port fails before any start;
		 * with -p 0 the first socket's port is reused for the others. */
		union tern_addr bound;
		int fd =
		    udp_open(&addr, UDP_F_REUSEPORT | UDP_F_NONBLOCK, (int)sockbuf, (int)sockbuf, &bound);
		w[i]->h = (struct net_handler){.fn = on_readable, .fd = fd};
		if (fd < 0) {
			fprintf(stderr, "udp_echo: bind %s: %s\n", addr_s, strerror(-fd));
			goto out;
		}
		addr = bound;
		int err = loop_add(w[i]->loop, &w[i]->h, EPOLLIN);
		if (err < 0) {
			fprintf(stderr, "udp_echo: epoll: %s\n", strerror(-err));
			goto out;
		}
	}

	char buf[TERN_ADDRSTRLEN];
	printf("udp_echo: %s on %s, %ld workers%s\n", count_only ? "counting" : "echoing",
	       addr_format(&addr, buf, sizeof buf, true), nworkers,
	       udp_probe_gso() ? " (kernel has UDP GSO)" : "");
	fflush(stdout);

	for (; started < nworkers; started++) {
		int err = pthread_create(&w[started]->thread, NULL, worker_main, w[started]);
		if (err) {
			fprintf(stderr, "udp_echo: thread: %s\n", strerror(err));
			goto out;
		}
	}

	struct timespec limit = {.tv_sec = seconds};
	int sig;
	do
		sig = seconds ? sigtimedwait(&sigs, NULL, &limit) : sigwaitinfo(&sigs, NULL);
	while (sig < 0 && errno == EINTR);
	rc = 0;

out:
	atomic_store(&stop, true);
	for (long i = 0; i < started; i++) {
		loop_wake(w[i]->loop);
		pthread_join(w[i]->thread, NULL);
	}
	uint64_t t_dgrams = 0, t_bytes = 0, t_sent = 0, t_dropped = 0;
	for (long i = 0; i < nworkers && w[i]; i++) {
		struct worker *x = w[i];
		if (rc == 0) {
			printf("worker %u: %" PRIu64 " datagrams, %" PRIu64 " bytes, %" PRIu64
			       " recvmmsg, %" PRIu64 " truncated, %" PRIu64 " recv errors",
			       x->id, x->dgrams, x->bytes, x->recv_calls, x->trunc, x->recv_errors);
			if (!count_only)
				printf(", %" PRIu64 " echoed, %" PRIu64 " dropped, %" PRIu64 " sendmmsg",
				       x->tx.stats.sent, x->tx.stats.dropped, x->tx.stats.calls);
			printf("\n");
		}
		t_dgrams += x->dgrams;
		t_bytes += x->bytes;
		t_sent += x->tx.stats.sent;
		t_dropped += x->tx.stats.dropped;
		if (x->h.fd >= 0) {
			loop_del(x->loop, &x->h);
			close(x->h.fd);
		}
		loop_free(x->loop);
		free(x);
	}
	if (rc == 0) {
		printf("total: %" PRIu64 " datagrams, %" PRIu64 " bytes", t_dgrams, t_bytes);
		if (!count_only)
			printf(", %" PRIu64 " echoed, %" PRIu64 " dropped", t_sent, t_dropped);
		printf("\n");
	}
	free(w);
	return rc;
}
