/* floor-fwd: a plain UDP forwarder with no TURN logic, the floor that
 * bench/compare.sh measures TURN servers against.
 *
 * One thread, one epoll loop. A listening socket on --listen; every new
 * client source address gets its own relay socket (as a TURN allocation
 * would) that sends the client's datagrams to --peer (with
 * --peer-per-client: peer port + client index, in order of first contact).
 * Whatever arrives on a relay socket goes back to its client through the
 * listening socket. recvmmsg/sendmmsg in batches of 64; everything a loop
 * turn receives is queued per outgoing socket and flushed once at the end of
 * the turn. --gso sends each run of consecutive same-size datagrams to one
 * destination as one UDP_SEGMENT send (probed at start, with a fallback).
 *
 * No TURN, no authentication, no policy: a benchmark tool for private
 * network namespaces and loopback only. Runs at most --seconds, then prints
 * one JSON line of counters on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* Datagrams per recvmmsg: the same 64 as ternd's engine, so the floor and
 * the server pay the same syscall amortisation. */
#define BATCH 64
/* Receive slots for one loop turn: 4 full batches (e.g. 4 busy relay
 * sockets) before an early flush. */
#define NSLOTS (4 * BATCH)
#define SLOT 2048
/* UDP_MAX_SEGMENTS is 64 on older kernels (128 on newer): stay at 64. */
#define GSO_MAX_SEGS 64
/* Total payload of one GSO send must fit one IP datagram. */
#define GSO_MAX_BYTES 65000
#define MAX_CLIENTS_DEFAULT 1024

struct txq;

struct client {
	struct sockaddr_storage addr;
	socklen_t alen;
	int fd; /* relay socket */
	struct sockaddr_storage peer;
	socklen_t plen;
	struct txq *q; /* client -> peer queue on the relay socket */
};

/* Datagrams queued for one socket during a loop turn. dst may be NULL for a
 * connected socket. */
struct txq {
	int fd;
	bool pending; /* on the flush list */
	unsigned n;
	struct iovec iov[NSLOTS];
	const struct sockaddr_storage *dst[NSLOTS];
	socklen_t dlen[NSLOTS];
};

struct stats {
	uint64_t from_client, to_peer, from_peer, to_client;
	uint64_t rx_calls, rx_datagrams, tx_calls, gso_sends, gso_segments;
	uint64_t tx_drops, trunc, unknown;
};

static struct {
	struct sockaddr_storage listen, peer, relay;
	socklen_t listen_len, peer_len, relay_len;
	bool peer_per_client, gso, connect_relay;
	unsigned max_clients, seconds;
	int bufsize;
} opt = {.max_clients = MAX_CLIENTS_DEFAULT, .seconds = 600, .bufsize = 4 << 20};

static int lfd, efd;
static struct client *clients;
static unsigned nclients;
static int *table; /* open addressing: client index + 1, 0 = empty */
static unsigned table_mask;
static struct client **by_fd;
static int max_fd;
static struct txq listen_q;
static struct txq *flush_list[MAX_CLIENTS_DEFAULT * 4 + 1];
static unsigned nflush;
static uint8_t (*slots)[SLOT];
static unsigned used_slots;
static struct stats st;
static volatile sig_atomic_t stop;

static void die(const char *what)
{
	fprintf(stderr, "floor-fwd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *e;
	long port = strtol(colon + 1, &e, 10);
	if (*e || port < 0 || port > 65535)
		return -1;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
	                                      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static bool addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static uint32_t addr_hash(const struct sockaddr_storage *a)
{
	uint32_t h = 2166136261u;
	const uint8_t *p;
	size_t n;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		p = (const uint8_t *)&x->sin_addr;
		n = 4;
		h = (h ^ x->sin_port) * 16777619u;
	} else {
		const struct sockaddr_in6 *x = (const void *)a;
		p = (const uint8_t *)&x->sin6_addr;
		n = 16;
		h = (h ^ x->sin6_port) * 16777619u;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ^ (h >> 15);
}

static void set_bufs(int fd)
{
	if (opt.bufsize <= 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &opt.bufsize, sizeof(opt.bufsize)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.bufsize, sizeof(opt.bufsize));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &opt.bufsize, sizeof(opt.bufsize)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.bufsize, sizeof(opt.bufsize));
}

static int open_udp(const struct sockaddr_storage *bind_to, socklen_t len)
{
	int fd = socket(bind_to->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	set_bufs(fd);
	if (bind(fd, (const struct sockaddr *)bind_to, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* UDP_SEGMENT is accepted as a socket option exactly where the kernel can
 * segment UDP sends (4.18+); a failure here means plain sends. */
static bool gso_probe(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int seg = 1000;
	bool ok = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;
	close(fd);
	return ok;
}

static void txq_push(struct txq *q, void *buf, size_t len, const struct sockaddr_storage *dst, socklen_t dlen)
{
	if (!q->pending) {
		q->pending = true;
		flush_list[nflush++] = q;
	}
	q->iov[q->n].iov_base = buf;
	q->iov[q->n].iov_len = len;
	q->dst[q->n] = dst;
	q->dlen[q->n] = dlen;
	q->n++;
}

static bool same_dst(const struct txq *q, unsigned a, unsigned b)
{
	return q->dst[a] == q->dst[b] || (q->dst[a] && q->dst[b] && addr_eq(q->dst[a], q->dst[b]));
}

/* Build one mmsghdr per datagram, or per same-size run with --gso, and
 * sendmmsg them, handling partial sends. A full socket buffer drops the
 * rest of the turn, another error only the message it hit (both counted);
 * the kernel refusing a GSO send turns GSO off for the rest of the run and
 * resends one datagram per message (clean fallback). */
static void txq_flush(struct txq *q)
{
	static struct mmsghdr msg[NSLOTS];
	static char ctrl[NSLOTS][CMSG_SPACE(sizeof(uint16_t))];
	unsigned nmsg = 0;
	unsigned start[NSLOTS + 1];

	for (unsigned i = 0; i < q->n;) {
		unsigned j = i + 1;
		size_t seg = q->iov[i].iov_len, total = seg;
		if (opt.gso) {
			while (j < q->n && j - i < GSO_MAX_SEGS && same_dst(q, i, j) &&
			       q->iov[j].iov_len <= seg && total + q->iov[j].iov_len <= GSO_MAX_BYTES) {
				total += q->iov[j].iov_len;
				/* a shorter datagram may only end a run */
				if (q->iov[j++].iov_len < seg)
					break;
			}
		}
		struct msghdr *h = &msg[nmsg].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = (void *)q->dst[i];
		h->msg_namelen = q->dst[i] ? q->dlen[i] : 0;
		h->msg_iov = &q->iov[i];
		h->msg_iovlen = j - i;
		if (j - i > 1) {
			h->msg_control = ctrl[nmsg];
			h->msg_controllen = sizeof(ctrl[nmsg]);
			struct cmsghdr *c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t s16 = (uint16_t)seg;
			memcpy(CMSG_DATA(c), &s16, sizeof(s16));
		}
		start[nmsg++] = i;
		i = j;
	}
	start[nmsg] = q->n;

	unsigned done = 0;
	while (done < nmsg) {
		int r = sendmmsg(q->fd, msg + done, nmsg - done, MSG_DONTWAIT);
		st.tx_calls++;
		if (r > 0) {
			for (unsigned k = done; k < done + (unsigned)r; k++) {
				unsigned segs = start[k + 1] - start[k];
				if (segs > 1) {
					st.gso_sends++;
					st.gso_segments += segs;
				}
			}
			done += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP) && opt.gso &&
		    msg[done].msg_hdr.msg_controllen) {
			fprintf(stderr, "floor-fwd: UDP_SEGMENT send failed (%s): GSO off\n", strerror(errno));
			opt.gso = false;
			/* resend the rest one datagram per message */
			for (unsigned k = done; k < nmsg; k++) {
				for (unsigned d = start[k]; d < start[k + 1]; d++) {
					struct msghdr h = {.msg_name = (void *)q->dst[d],
					                   .msg_namelen = q->dst[d] ? q->dlen[d] : 0,
					                   .msg_iov = &q->iov[d],
					                   .msg_iovlen = 1};
					if (sendmsg(q->fd, &h, MSG_DONTWAIT) < 0)
						st.tx_drops++;
				}
			}
			break;
		}
		if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ENOMEM) {
			/* e.g. a pending ICMP error on this socket: drop one message, go on */
			st.tx_drops += start[done + 1] - start[done];
			done++;
			continue;
		}
		/* full socket buffer: drop what is left of this turn */
		for (unsigned k = done; k < nmsg; k++)
			st.tx_drops += start[k + 1] - start[k];
		break;
	}
	q->n = 0;
	q->pending = false;
}

static void flush_all(void)
{
	for (unsigned i = 0; i < nflush; i++)
		txq_flush(flush_list[i]);
	nflush = 0;
	used_slots = 0;
}

static struct client *client_find(const struct sockaddr_storage *a)
{
	for (uint32_t h = addr_hash(a) & table_mask;; h = (h + 1) & table_mask) {
		int v = table[h];
		if (!v)
			return NULL;
		if (addr_eq(&clients[v - 1].addr, a))
			return &clients[v - 1];
	}
}

static struct client *client_new(const struct sockaddr_storage *a, socklen_t alen)
{
	if (nclients >= opt.max_clients)
		return NULL;
	struct client *c = &clients[nclients];
	int fd = open_udp(&opt.relay, opt.relay_len);
	if (fd < 0) {
		fprintf(stderr, "floor-fwd: relay socket: %s\n", strerror(errno));
		return NULL;
	}
	if (fd > max_fd) {
		close(fd);
		fprintf(stderr, "floor-fwd: fd %d beyond table\n", fd);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->addr = *a;
	c->alen = alen;
	c->fd = fd;
	c->peer = opt.peer;
	c->plen = opt.peer_len;
	if (opt.peer_per_client)
		set_port(&c->peer, (uint16_t)(addr_port(&opt.peer) + nclients));
	c->q = calloc(1, sizeof(*c->q));
	if (!c->q)
		die("calloc");
	c->q->fd = fd;
	if (opt.connect_relay && connect(fd, (struct sockaddr *)&c->peer, c->plen) < 0)
		die("connect relay socket to peer");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
	by_fd[fd] = c;
	uint32_t h = addr_hash(a) & table_mask;
	while (table[h])
		h = (h + 1) & table_mask;
	table[h] = (int)nclients + 1;
	nclients++;
	return c;
}

/* One recvmmsg into free slots; each datagram is queued for its way out. */
static void on_readable(int fd)
{
	static struct mmsghdr msg[BATCH];
	static struct iovec iov[BATCH];
	static struct sockaddr_storage src[BATCH];

	if (NSLOTS - used_slots < BATCH)
		flush_all();
	for (unsigned i = 0; i < BATCH; i++) {
		iov[i].iov_base = slots[used_slots + i];
		iov[i].iov_len = SLOT;
		memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
		msg[i].msg_hdr.msg_name = &src[i];
		msg[i].msg_hdr.msg_namelen = sizeof(src[i]);
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, msg, BATCH, MSG_DONTWAIT, NULL);
	st.rx_calls++;
	if (n <= 0)
		return;
	st.rx_datagrams += (unsigned)n;
	struct client *rc = fd == lfd ? NULL : by_fd[fd];
	for (int i = 0; i < n; i++) {
		uint8_t *buf = slots[used_slots + (unsigned)i];
		size_t len = msg[i].msg_len;
		if (msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			st.trunc++;
			continue;
		}
		if (fd == lfd) {
			st.from_client++;
			struct client *c = client_find(&src[i]);
			if (!c)
				c = client_new(&src[i], msg[i].msg_hdr.msg_namelen);
			if (!c) {
				st.unknown++;
				continue;
			}
			if (opt.connect_relay)
				txq_push(c->q, buf, len, NULL, 0);
			else
				txq_push(c->q, buf, len, &c->peer, c->plen);
			st.to_peer++;
		} else {
			st.from_peer++;
			if (!rc) {
				st.unknown++;
				continue;
			}
			txq_push(&listen_q, buf, len, &rc->addr, rc->alen);
			st.to_client++;
		}
	}
	used_slots += (unsigned)n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: floor-fwd --listen ADDR:PORT --peer ADDR:PORT [options]\n"
	           "  --peer-per-client   client i (in order of first contact) goes to peer port + i\n"
	           "  --relay-ip ADDR     address relay sockets bind to (default: any)\n"
	           "  --connect           connect each relay socket to its peer\n"
	           "  --gso               UDP_SEGMENT sends for runs of same-size datagrams\n"
	           "  --max-clients N     (default %u)\n"
	           "  --bufsize BYTES     SO_RCVBUF/SO_SNDBUF, FORCE when permitted (default 4 MiB, 0 = kernel's)\n"
	           "  --seconds S         exit after S seconds (default 600; 1..86400)\n"
	           "Prints one JSON line of counters on stdout at exit (after --seconds, SIGINT or SIGTERM).\n",
	        MAX_CLIENTS_DEFAULT);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listen", required_argument, 0, 'l'},   {"peer", required_argument, 0, 'p'},
	    {"peer-per-client", no_argument, 0, 'P'}, {"relay-ip", required_argument, 0, 'r'},
	    {"connect", no_argument, 0, 'c'},         {"gso", no_argument, 0, 'g'},
	    {"max-clients", required_argument, 0, 'm'}, {"bufsize", required_argument, 0, 'b'},
	    {"seconds", required_argument, 0, 's'},   {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0}};
	bool have_listen = false, have_peer = false, have_relay = false;
	const char *relay_ip = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_addr(optarg, &opt.listen, &opt.listen_len) < 0)
				goto bad;
			have_listen = true;
			break;
		case 'p':
			if (parse_addr(optarg, &opt.peer, &opt.peer_len) < 0)
				goto bad;
			have_peer = true;
			break;
		case 'P':
			opt.peer_per_client = true;
			break;
		case 'r':
			relay_ip = optarg;
			have_relay = true;
			break;
		case 'c':
			opt.connect_relay = true;
			break;
		case 'g':
			opt.gso = true;
			break;
		case 'm':
			opt.max_clients = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.max_clients < 1 || opt.max_clients > MAX_CLIENTS_DEFAULT * 4)
				goto bad;
			break;
		case 'b':
			opt.bufsize = atoi(optarg);
			break;
		case 's':
			opt.seconds = (unsigned)strtoul(optarg, NULL, 10);
			if (opt.seconds < 1 || opt.seconds > 86400)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!have_listen || !have_peer || optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (opt.peer.ss_family != opt.listen.ss_family) {
		fprintf(stderr, "floor-fwd: --listen and --peer must be the same address family\n");
		exit(2);
	}
	memset(&opt.relay, 0, sizeof(opt.relay));
	opt.relay.ss_family = opt.peer.ss_family;
	opt.relay_len = opt.peer_len;
	if (have_relay) {
		char buf[80];
		snprintf(buf, sizeof(buf), strchr(relay_ip, ':') ? "[%s]:0" : "%s:0", relay_ip);
		if (parse_addr(buf, &opt.relay, &opt.relay_len) < 0 || opt.relay.ss_family != opt.peer.ss_family)
			goto bad;
	}
	return;
bad:
	fprintf(stderr, "floor-fwd: bad value for option '%s'\n", argv[optind - 1]);
	exit(2);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);

	if (opt.gso && !gso_probe(opt.listen.ss_family)) {
		fprintf(stderr, "floor-fwd: UDP_SEGMENT unavailable: sending without GSO\n");
		opt.gso = false;
	}

	/* by_fd is indexed by descriptor: size it by the descriptor limit, not
	 * by the client count, so descriptors inherited from the parent cannot
	 * push a relay socket past its end */
	struct rlimit rl;
	max_fd = 65535;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			max_fd = rl.rlim_cur > (1u << 20) ? (1 << 20) - 1 : (int)rl.rlim_cur - 1;
	}
	by_fd = calloc((size_t)max_fd + 1, sizeof(*by_fd));
	clients = calloc(opt.max_clients, sizeof(*clients));
	unsigned cap = 1;
	while (cap < opt.max_clients * 2)
		cap <<= 1;
	table = calloc(cap, sizeof(*table));
	table_mask = cap - 1;
	slots = aligned_alloc(64, (size_t)NSLOTS * SLOT);
	if (!by_fd || !clients || !table || !slots)
		die("out of memory");

	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0)
		die("epoll_create1");
	lfd = open_udp(&opt.listen, opt.listen_len);
	if (lfd < 0)
		die("bind --listen");
	listen_q.fd = lfd;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fprintf(stderr, "floor-fwd: listening, gso=%s, connect=%s, %u s\n", opt.gso ? "on" : "off",
	        opt.connect_relay ? "on" : "off", opt.seconds);

	uint64_t deadline = now_ms() + (uint64_t)opt.seconds * 1000;
	struct epoll_event evs[BATCH];
	while (!stop) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		int n = epoll_wait(efd, evs, BATCH, left > 1000 ? 1000 : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++)
			on_readable(evs[i].data.fd);
		flush_all();
	}

	printf("{\"clients\":%u,\"from_client\":%llu,\"to_peer\":%llu,\"from_peer\":%llu,\"to_client\":%llu,"
	       "\"rx_calls\":%llu,\"rx_datagrams\":%llu,\"rx_batch_mean\":%.2f,\"tx_calls\":%llu,"
	       "\"gso_sends\":%llu,\"gso_segments\":%llu,\"tx_drops\":%llu,\"trunc\":%llu,\"unknown\":%llu,"
	       "\"gso\":%s}\n",
	       nclients, (unsigned long long)st.from_client, (unsigned long long)st.to_peer,
	       (unsigned long long)st.from_peer, (unsigned long long)st.to_client, (unsigned long long)st.rx_calls,
	       (unsigned long long)st.rx_datagrams, st.rx_calls ? (double)st.rx_datagrams / (double)st.rx_calls : 0.0,
	       (unsigned long long)st.tx_calls, (unsigned long long)st.gso_sends,
	       (unsigned long long)st.gso_segments, (unsigned long long)st.tx_drops, (unsigned long long)st.trunc,
	       (unsigned long long)st.unknown, opt.gso ? "true" : "false");
	fflush(stdout);
	return 0;
}
