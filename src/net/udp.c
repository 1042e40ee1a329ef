#include "net/udp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The batch calls go through syscall(2): glibc's recvmmsg/sendmmsg are
 * thread cancellation points and bracket every call with two calls that
 * flip the cancel state (2% of a worker's CPU in perf); tern never cancels
 * threads. */
static inline int sys_recvmmsg(int fd, struct mmsghdr *m, unsigned n, int flags)
{
	return (int)syscall(SYS_recvmmsg, fd, m, n, flags, NULL);
}
static inline int sys_sendmmsg(int fd, struct mmsghdr *m, unsigned n, int flags)
{
	return (int)syscall(SYS_sendmmsg, fd, m, n, flags);
}

/* EINTR on a nonblocking send is rare (a signal during the copy); a few
 * retries cover it without any chance of spinning. */
#define TX_EINTR_RETRIES 3

static int set_int(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof v) < 0)
		return -errno;
	return 0;
}

static int set_buf(int fd, int force_name, int name, int bytes)
{
	if (bytes <= 0)
		return 0;
	/* The FORCE variant needs CAP_NET_ADMIN; without it fall back. */
	if (set_int(fd, SOL_SOCKET, force_name, bytes) == 0)
		return 0;
	return set_int(fd, SOL_SOCKET, name, bytes);
}

int udp_open(const union tern_addr *addr, unsigned flags, int rcvbuf, int sndbuf, union tern_addr *bound)
{
	int family = addr->sa.sa_family;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;

	int type = SOCK_DGRAM | SOCK_CLOEXEC;
	if (flags & UDP_F_NONBLOCK)
		type |= SOCK_NONBLOCK;
	int fd = socket(family, type, 0);
	if (fd < 0)
		return -errno;

	int err = 0;
	if ((flags & UDP_F_REUSEPORT) && (err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		goto fail;
	if ((flags & UDP_F_REUSEADDR) && (err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
		goto fail;
	if (flags & UDP_F_QUIET) {
		static struct sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
		struct sock_fprog prog = {.len = 1, .filter = drop_all};
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
			err = -errno;
			goto fail;
		}
	}
	if (family == AF_INET6 &&
	    (err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & UDP_F_V6ONLY) ? 1 : 0)) < 0)
		goto fail;
	if (flags & UDP_F_FREEBIND) {
		err = family == AF_INET6 ? set_int(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)
		                         : set_int(fd, IPPROTO_IP, IP_FREEBIND, 1);
		if (err < 0)
			goto fail;
	}
	if (flags & UDP_F_PKTINFO) {
		err = family == AF_INET6 ? set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
		                         : set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
		if (err < 0)
			goto fail;
	}
	if ((err = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf)) < 0)
		goto fail;
	if ((err = set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf)) < 0)
		goto fail;
	if (bind(fd, &addr->sa, addr_len(addr)) < 0) {
		err = -errno;
		goto fail;
	}
	if (bound) {
		union tern_addr a;
		socklen_t len = sizeof a;
		if (getsockname(fd, &a.sa, &len) < 0) {
			err = -errno;
			goto fail;
		}
		if ((err = addr_from_sockaddr(bound, &a.sa, len)) < 0)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int udp_connect(int fd, const union tern_addr *peer)
{
	if (connect(fd, &peer->sa, addr_len(peer)) < 0)
		return -errno;
	int unused = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void udp_rx_init(struct udp_rx *rx)
{
	memset(rx->msg, 0, sizeof rx->msg);
	rx->count = 0;
	rx->dirty = 0;
	for (unsigned i = 0; i < NET_BATCH; i++) {
		rx->iov[i] = (struct iovec){.iov_base = rx->buf[i], .iov_len = NET_RX_SLOT};
		rx->msg[i].msg_hdr.msg_name = &rx->src[i];
		rx->msg[i].msg_hdr.msg_namelen = sizeof rx->src[i];
		rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msg[i].msg_hdr.msg_iovlen = 1;
		rx->msg[i].msg_hdr.msg_control = rx->ctl[i].buf;
		rx->msg[i].msg_hdr.msg_controllen = sizeof rx->ctl[i].buf;
	}
}

int udp_recv_batch(int fd, struct udp_rx *rx, unsigned max)
{
	rx->count = 0;
	if (max > NET_BATCH)
		max = NET_BATCH;
	if (max == 0)
		return 0;
	/* The kernel overwrites msg_namelen with the sender's length and
	 * msg_controllen with what it wrote, in the slots it filled: restore
	 * both there (a shorter value left from an IPv4 sender would truncate
	 * an IPv6 one); the other slots still hold udp_rx_init's values. */
	for (unsigned i = 0; i < rx->dirty; i++) {
		rx->msg[i].msg_hdr.msg_namelen = sizeof rx->src[i];
		rx->msg[i].msg_hdr.msg_controllen = sizeof rx->ctl[i].buf;
	}
	rx->dirty = 0;
	int n = sys_recvmmsg(fd, rx->msg, max, MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	rx->count = rx->dirty = (unsigned)n;
	return n;
}

int udp_rx_local(const struct udp_rx *rx, unsigned i, uint16_t port, union tern_addr *out)
{
	const struct msghdr *mh = &rx->msg[i].msg_hdr;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			memset(out, 0, sizeof *out);
			out->v4.sin_family = AF_INET;
			/* the address the kernel would answer from: the destination
			 * of a unicast datagram, the interface's own address for a
			 * broadcast one */
			out->v4.sin_addr = pi.ipi_spec_dst;
			out->v4.sin_port = htons(port);
			return 0;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			memset(out, 0, sizeof *out);
			out->v6.sin6_family = AF_INET6;
			out->v6.sin6_addr = pi.ipi6_addr;
			out->v6.sin6_port = htons(port);
			if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
				out->v6.sin6_scope_id = pi.ipi6_ifindex;
			return 0;
		}
	}
	return -ENOENT;
}

int64_t udp_kernel_drops(int fd)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
		return -errno;
	if (len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
		return -EPROTO;
	return mem[SK_MEMINFO_DROPS];
}

void udp_tx_init(struct udp_tx *tx, bool gso)
{
	memset(&tx->stats, 0, sizeof tx->stats);
	tx->count = 0;
	tx->gso = gso;
	tx->gso_seg_limit = SIZE_MAX;
}

struct udp_tx_entry *udp_tx_add(struct udp_tx *tx, int fd, const union tern_addr *dst)
{
	if (tx->count == NET_TX_BATCH)
		udp_tx_flush(tx);
	struct udp_tx_entry *e = &tx->e[tx->count++];
	e->fd = fd;
	if (dst)
		e->dst = *dst;
	else
		e->dst.sa.sa_family = AF_UNSPEC;
	e->src.sa.sa_family = AF_UNSPEC;
	e->iovcnt = 0;
	return e;
}

static size_t entry_len(const struct udp_tx_entry *e)
{
	size_t n = 0;
	for (unsigned i = 0; i < e->iovcnt; i++)
		n += e->iov[i].iov_len;
	return n;
}

static bool same_dst(const struct udp_tx_entry *a, const struct udp_tx_entry *b)
{
	if (a->dst.sa.sa_family != b->dst.sa.sa_family || a->src.sa.sa_family != b->src.sa.sa_family)
		return false;
	if (a->src.sa.sa_family != AF_UNSPEC && !addr_equal_ip(&a->src, &b->src))
		return false;
	return a->dst.sa.sa_family == AF_UNSPEC || addr_equal(&a->dst, &b->dst);
}

static void put_cmsg(char *buf, size_t *off, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *c = (struct cmsghdr *)(void *)(buf + *off);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*off += CMSG_SPACE(len);
}

/* mh's control data: UDP_SEGMENT when seg > 0, and the source address of
 * e (PKTINFO) when it has one. */
static void msg_control(struct msghdr *mh, union udp_tx_cmsg *cm, uint16_t seg, const struct udp_tx_entry *e)
{
	size_t off = 0;
	memset(cm, 0, sizeof *cm);
	if (seg)
		put_cmsg(cm->buf, &off, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg);
	if (e->src.sa.sa_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = e->src.v4.sin_addr};
		put_cmsg(cm->buf, &off, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
	} else if (e->src.sa.sa_family == AF_INET6) {
		struct in6_pktinfo pi = {.ipi6_addr = e->src.v6.sin6_addr,
		                         .ipi6_ifindex = e->src.v6.sin6_scope_id};
		put_cmsg(cm->buf, &off, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
	}
	mh->msg_control = off ? cm->buf : NULL;
	mh->msg_controllen = off;
}

static void msg_of_entry(struct msghdr *mh, struct udp_tx_entry *e)
{
	memset(mh, 0, sizeof(*mh));
	if (e->dst.sa.sa_family != AF_UNSPEC) {
		mh->msg_name = &e->dst;
		mh->msg_namelen = addr_len(&e->dst);
	}
}

/* msg[m], a GSO message, was refused: send its datagrams one by one (the
 * kernel fragments what exceeds the MTU, as for any single datagram).
 * EIO (no checksum offload on the path) turns GSO off for good; when the
 * single datagrams pass where the merged ones did not, segments of this
 * size are not merged again. */
static void tx_resend_single(struct udp_tx *tx, int fd, unsigned m, int err)
{
	unsigned n = tx->segs[m], sent = 0;
	uint16_t i = tx->first[m];
	size_t seg = entry_len(&tx->e[i]);
	for (unsigned k = 0; k < n; k++) {
		struct udp_tx_entry *e = &tx->e[i];
		struct msghdr *mh = &tx->one[k].msg_hdr;
		msg_of_entry(mh, e);
		mh->msg_iov = e->iov;
		mh->msg_iovlen = e->iovcnt;
		msg_control(mh, &tx->one_cm[k], 0, e);
		i = tx->next[i];
	}
	/* as tx_send: a datagram the kernel refuses is skipped, EAGAIN drops the rest */
	unsigned k = 0, eintr = 0;
	while (k < n) {
		int r = sys_sendmmsg(fd, &tx->one[k], n - k, MSG_DONTWAIT);
		tx->stats.calls++;
		if (r > 0) {
			k += (unsigned)r;
			sent += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR && eintr++ < TX_EINTR_RETRIES)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		k++;
	}
	tx->stats.sent += sent;
	tx->stats.dropped += n - sent;
	tx->stats.gso_fallback += n;
	if (err == EIO || err == ENOPROTOOPT)
		tx->gso = false;
	else if (sent > 0 && seg < tx->gso_seg_limit)
		tx->gso_seg_limit = seg;
}

/* Send msg[0..n) on fd; segs[i] datagrams ride in msg[i]. */
static void tx_send(struct udp_tx *tx, int fd, unsigned n)
{
	unsigned i = 0, eintr = 0;
	while (i < n) {
		int r = sys_sendmmsg(fd, &tx->msg[i], n - i, MSG_DONTWAIT);
		tx->stats.calls++;
		if (r > 0) {
			for (unsigned k = i; k < i + (unsigned)r; k++)
				tx->stats.sent += tx->segs[k];
			i += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR && eintr++ < TX_EINTR_RETRIES)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			for (; i < n; i++)
				tx->stats.dropped += tx->segs[i];
			return;
		}
		/* The error belongs to msg[i] alone (bad or unreachable
		 * destination, too big...): the others may pass. A GSO message
		 * the kernel refused as such (a segment over the path MTU: EINVAL
		 * or EMSGSIZE; no checksum offload: EIO) goes again as single
		 * datagrams, which it may fragment. */
		int err = r < 0 ? errno : EIO;
		if (tx->segs[i] > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE || err == ENOPROTOOPT))
			tx_resend_single(tx, fd, i, err);
		else
			tx->stats.dropped += tx->segs[i];
		i++;
	}
}

void udp_msg_gso(struct msghdr *mh, union udp_gso_cmsg *cm, uint16_t seg)
{
	size_t off = 0;
	put_cmsg(cm->buf, &off, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg);
	mh->msg_control = cm->buf;
	mh->msg_controllen = off;
}

void udp_tx_flush(struct udp_tx *tx)
{
	unsigned count = tx->count;
	tx->count = 0;
	if (count == 0)
		return;
	/* Chain entries of one fd in arrival order (next[]), each chain started
	 * by its first entry; the flush then walks chains in first-seen order. */
	static const uint16_t END = 0xffff;
	uint16_t last[NET_TX_BATCH], cache[64];
	bool head[NET_TX_BATCH];
	memset(cache, 0xff, sizeof(cache));
	for (unsigned i = 0; i < count; i++) {
		int fd = tx->e[i].fd;
		uint16_t c = cache[(unsigned)fd & 63];
		int found = -1;
		tx->next[i] = END;
		head[i] = false;
		/* A direct-mapped cache finds the chain of a busy fd at once; on a
		 * miss, look back through the heads seen so far. */
		if (c != END && tx->e[c].fd == fd) {
			found = c;
		} else {
			for (unsigned j = i; j-- > 0;)
				if (head[j] && tx->e[j].fd == fd) {
					found = (int)j;
					break;
				}
		}
		if (found >= 0) {
			tx->next[last[found]] = (uint16_t)i;
			last[found] = (uint16_t)i;
		} else {
			head[i] = true;
			last[i] = (uint16_t)i;
			found = (int)i;
		}
		cache[(unsigned)fd & 63] = (uint16_t)found;
	}
	for (unsigned h = 0; h < count; h++) {
		if (!head[h])
			continue;
		unsigned nmsg = 0, niov = 0;
		uint16_t i = (uint16_t)h;
		while (i != END) {
			struct udp_tx_entry *e = &tx->e[i];
			struct udp_tx_entry *e0 = e;
			struct mmsghdr *m = &tx->msg[nmsg];
			struct msghdr *mh = &m->msg_hdr;
			msg_of_entry(mh, e);
			tx->first[nmsg] = i;
			mh->msg_iov = &tx->iov[niov];
			size_t seg = entry_len(e), total = 0;
			unsigned nseg = 0;
			/* Merge the run: same destination, every datagram but the last
			 * exactly seg bytes, within the kernel's segment and size caps. */
			for (;;) {
				memcpy(&tx->iov[niov], e->iov, e->iovcnt * sizeof(struct iovec));
				niov += e->iovcnt;
				total += entry_len(e);
				nseg++;
				uint16_t nx = tx->next[i];
				i = nx;
				if (!tx->gso || nx == END || entry_len(&tx->e[nx]) > seg ||
				    !same_dst(&tx->e[nx], e) || nseg >= UDP_GSO_MAX_SEGS ||
				    total + seg > 65000 || seg == 0 || seg >= tx->gso_seg_limit)
					break;
				bool shorter = entry_len(&tx->e[nx]) < seg;
				e = &tx->e[nx];
				if (shorter) {
					memcpy(&tx->iov[niov], e->iov, e->iovcnt * sizeof(struct iovec));
					niov += e->iovcnt;
					total += entry_len(e);
					nseg++;
					i = tx->next[nx];
					break;
				}
			}
			mh->msg_iovlen = (size_t)(&tx->iov[niov] - (struct iovec *)mh->msg_iov);
			if (nseg > 1) {
				tx->stats.gso_sends++;
				tx->stats.gso_segments += nseg;
			}
			if (nseg > 1 || e0->src.sa.sa_family != AF_UNSPEC)
				msg_control(mh, &tx->cm[nmsg], nseg > 1 ? (uint16_t)seg : 0, e0);
			tx->segs[nmsg++] = (uint16_t)nseg;
		}
		tx_send(tx, tx->e[h].fd, nmsg);
	}
}

int udp_set_dont_fragment(int fd, int family, bool df)
{
	int v4 = df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;
	if (family == AF_INET)
		return set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, v4);
	if (family != AF_INET6)
		return -EAFNOSUPPORT;
	int err = set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, df ? IPV6_PMTUDISC_DO : IPV6_PMTUDISC_DONT);
	if (err < 0)
		return err;
	/* A v6-only socket never sends IPv4; anywhere else v4-mapped
	 * destinations follow the IPv4 setting. */
	return set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, v4);
}

bool udp_probe_gso(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* Any segment size works for the probe; 1200 is a typical QUIC/RTP one. */
	bool ok = set_int(fd, SOL_UDP, UDP_SEGMENT, 1200) == 0;
	close(fd);
	return ok;
}
