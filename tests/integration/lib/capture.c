/* Frames as an interface received them (AF_PACKET), and their IP and UDP
 * checksums computed here from the bytes alone (RFC 1071 sums, RFC 768 /
 * RFC 8200 §8.1 pseudo-headers): a check independent of both the kernel's
 * and the fast path program's checksum code. */
#include "topo.h"
#include "turnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int cap_open(struct cap *k, const char *ifname)
{
	int one = 1, rcvbuf = 8 << 20;
	memset(k, 0, sizeof(*k));
	snprintf(k->ifname, sizeof(k->ifname), "%s", ifname);
	k->ifindex = (int)if_nametoindex(ifname);
	if (k->ifindex == 0)
		return -ENODEV;
	k->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (k->fd < 0)
		return -errno;
	setsockopt(k->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	setsockopt(k->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = k->ifindex};
	if (bind(k->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int err = -errno;
		close(k->fd);
		k->fd = -1;
		return err;
	}
	return 0;
}

void cap_close(struct cap *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

uint32_t cap_sum(const uint8_t *buf, size_t len, uint32_t acc)
{
	size_t i;
	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)buf[i] << 8 | buf[i + 1];
	if (i < len)
		acc += (uint32_t)buf[i] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void set_addr(union tern_addr *a, int family, const uint8_t *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->v4.sin_family = AF_INET;
		memcpy(&a->v4.sin_addr, ip, 4);
		a->v4.sin_port = htons(port);
	} else {
		a->v6.sin6_family = AF_INET6;
		memcpy(&a->v6.sin6_addr, ip, 16);
		a->v6.sin6_port = htons(port);
	}
}

void cap_parse(const uint8_t *frame, size_t len, struct cap_frame *f)
{
	memset(f, 0, offsetof(struct cap_frame, frame));
	if (len > sizeof(f->frame))
		len = sizeof(f->frame);
	memcpy(f->frame, frame, len);
	f->frame_len = len;
	const uint8_t *p = f->frame;
	if (len < 14)
		return;
	uint16_t type = rd16(p + 12);
	const uint8_t *ip = p + 14, *l4;
	size_t iplen = len - 14, l4len;
	uint32_t pseudo;
	if (type == ETH_P_IP) {
		if (iplen < 20 || (ip[0] >> 4) != 4)
			return;
		size_t ihl = (size_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
		f->family = AF_INET;
		f->proto = ip[9];
		f->lengths_ok = ihl >= 20 && tot >= ihl && tot <= iplen;
		if (!f->lengths_ok)
			return;
		f->ip_csum_ok = cap_sum(ip, ihl, 0) == 0xffff;
		f->fragment = (rd16(ip + 6) & 0x3fff) != 0;
		l4 = ip + ihl;
		l4len = tot - ihl;
		pseudo = cap_sum(ip + 12, 8, 0) + f->proto + (uint32_t)l4len;
		set_addr(&f->src, AF_INET, ip + 12, 0);
		set_addr(&f->dst, AF_INET, ip + 16, 0);
	} else if (type == ETH_P_IPV6) {
		if (iplen < 40 || (ip[0] >> 4) != 6)
			return;
		size_t plen = rd16(ip + 4);
		f->family = AF_INET6;
		f->proto = ip[6];
		f->ip_csum_ok = true;
		f->lengths_ok = 40 + plen <= iplen;
		if (!f->lengths_ok)
			return;
		f->fragment = f->proto == 44;
		l4 = ip + 40;
		l4len = plen;
		pseudo =
		    cap_sum(ip + 8, 32, 0) + (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff) + f->proto;
		set_addr(&f->src, AF_INET6, ip + 8, 0);
		set_addr(&f->dst, AF_INET6, ip + 24, 0);
	} else {
		return;
	}
	if (f->proto != IPPROTO_UDP || f->fragment)
		return;
	if (l4len < 8 || rd16(l4 + 4) != l4len) {
		f->lengths_ok = false;
		return;
	}
	set_addr(&f->src, f->family, f->family == AF_INET ? ip + 12 : ip + 8, rd16(l4));
	set_addr(&f->dst, f->family, f->family == AF_INET ? ip + 16 : ip + 24, rd16(l4 + 2));
	f->payload = l4 + 8;
	f->len = l4len - 8;
	if (f->family == AF_INET && rd16(l4 + 6) == 0)
		f->udp_csum = -1; /* RFC 768: no checksum (never valid on IPv6) */
	else
		f->udp_csum = cap_sum(l4, l4len, pseudo) == 0xffff;
}

int cap_next(struct cap *k, struct cap_frame *f, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	static uint8_t buf[65536];
	for (;;) {
		struct pollfd p = {.fd = k->fd, .events = POLLIN};
		int64_t left = deadline - it_now_ms();
		int rc = poll(&p, 1, left > 0 ? (int)left : 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return 0;
		struct sockaddr_ll from;
		char ctl[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr m = {.msg_name = &from,
		                   .msg_namelen = sizeof(from),
		                   .msg_iov = &iov,
		                   .msg_iovlen = 1,
		                   .msg_control = ctl,
		                   .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(k->fd, &m, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		bool partial = false;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
				struct tpacket_auxdata aux;
				memcpy(&aux, CMSG_DATA(c), sizeof(aux));
				partial = (aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
			}
		}
		cap_parse(buf, (size_t)n, f);
		f->csum_partial = partial;
		return 1;
	}
}
