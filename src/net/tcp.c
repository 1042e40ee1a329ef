#include "net/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof v) < 0 ? -errno : 0;
}

int tcp_listen(const union tern_addr *addr, unsigned flags, const struct tcp_listen_opts *o,
               union tern_addr *bound)
{
	int family = addr->sa.sa_family, err;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR: a restarted ternd binds at once despite TIME_WAIT */
	if ((err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
		goto fail;
	if ((flags & TCP_F_REUSEPORT) && (err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		goto fail;
	if (family == AF_INET6 &&
	    (err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & TCP_F_V6ONLY) ? 1 : 0)) < 0)
		goto fail;
	if (bind(fd, &addr->sa, addr_len(addr)) < 0) {
		err = -errno;
		goto fail;
	}
	if (o && o->defer_accept_s > 0)
		(void)set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, o->defer_accept_s);
	if (o && o->fastopen_qlen > 0)
		(void)set_int(fd, IPPROTO_TCP, TCP_FASTOPEN, o->fastopen_qlen);
	/* Set here, once, rather than on every accepted connection: Linux
	 * copies them into each connection it accepts (the child socket is a
	 * clone of the listener, and a keepalive timer is started for it), so
	 * an accept costs five setsockopt calls fewer. */
	(void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	(void)set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	(void)set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, TCP_KEEPALIVE_IDLE_S);
	(void)set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, TCP_KEEPALIVE_INTVL_S);
	(void)set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, TCP_KEEPALIVE_CNT);
	if (listen(fd, o && o->backlog > 0 ? o->backlog : 1024) < 0) {
		err = -errno;
		goto fail;
	}
	if (bound) {
		socklen_t len = sizeof(*bound);
		if (getsockname(fd, &bound->sa, &len) < 0) {
			err = -errno;
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return err;
}

int tcp_accept(int lfd, union tern_addr *peer, union tern_addr *local)
{
	union tern_addr p;
	socklen_t plen = sizeof(p);
	int fd = accept4(lfd, &p.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	int err = addr_from_sockaddr(peer, &p.sa, plen);
	socklen_t llen = sizeof(*local);
	if (err == 0 && getsockname(fd, &local->sa, &llen) < 0)
		err = -errno;
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}
