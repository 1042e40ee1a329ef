#include "net/steer.h"

#include <errno.h>
#include <string.h>

const char *steer_strerror(int err)
{
	switch (err) {
	case -EOPNOTSUPP:
		return "eBPF steering not built (no clang or libbpf-dev at configure time)";
	case -EPERM:
		return "not permitted to load eBPF (needs root, or CAP_BPF and CAP_NET_ADMIN)";
	case -EACCES:
		return "eBPF program refused by the kernel (verifier; needs Linux >= 5.14)";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

#ifdef TERN_HAVE_BPF

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer_abi.h"
#include "tern_bpf.h"
#include "net/bpf_log.h"
#include "util/log.h"

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

_Static_assert(STEER_MAX_WORKERS == STEER_ABI_MAX_WORKERS, "steer.h and bpf/steer_abi.h disagree");
_Static_assert(STEER_MAX_GROUPS == STEER_ABI_MAX_GROUPS, "steer.h and bpf/steer_abi.h disagree");
_Static_assert(sizeof(struct steer_flow_key) == 24, "flow key layout is shared with the program");
_Static_assert(sizeof(struct steer_worker) == 64, "one cache line per worker");

struct steer_group {
	int fd;          /* worker 0's socket: the one detach goes through */
	uint64_t cookie; /* proves fd is still that socket at detach time */
};

struct steer {
	struct bpf_object *obj;
	int prog_fd, flows_fd, pinned_fd, groups_fd, socks_fd;
	unsigned nworkers, ngroups;
	struct steer_worker *w; /* the workers array map, mmapped */
	size_t wlen;
	struct steer_group group[STEER_MAX_GROUPS];
};

bool steer_built(void)
{
	return true;
}

static int sock_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 ? -errno : 0;
}

static int map_resize(struct steer *s, const char *name, uint32_t max_entries)
{
	struct bpf_map *m = bpf_object__find_map_by_name(s->obj, name);
	return m ? bpf_map__set_max_entries(m, max_entries) : -ENOENT;
}

static int map_fd(struct steer *s, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(s->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

int steer_new(unsigned nworkers, struct steer **out)
{
	struct steer *s = NULL;
	int rc;

	*out = NULL;
	if (nworkers == 0 || nworkers > STEER_MAX_WORKERS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nworkers = nworkers;
	s->w = MAP_FAILED;
	libbpf_set_print(net_bpf_log);

	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tern_steer");
	s->obj = bpf_object__open_mem(tern_bpf_reuseport_obj, tern_bpf_reuseport_obj_len, &opts);
	if (!s->obj) {
		rc = errno ? -errno : -EINVAL;
		goto out;
	}
	/* Sized here, not in the program: only now is nworkers known. */
	uint32_t slots = STEER_MAX_GROUPS * nworkers;
	if ((rc = map_resize(s, "workers", nworkers)) < 0 || (rc = map_resize(s, "groups", slots)) < 0 ||
	    (rc = map_resize(s, "socks", slots)) < 0)
		goto out;
	rc = bpf_object__load(s->obj);
	if (rc < 0)
		goto out;

	struct bpf_program *prog = bpf_object__find_program_by_name(s->obj, "tern_steer");
	if (!prog) {
		rc = -ENOENT;
		goto out;
	}
	s->prog_fd = bpf_program__fd(prog);
	int workers_fd;
	if ((rc = s->flows_fd = map_fd(s, "flows")) < 0 || (rc = s->pinned_fd = map_fd(s, "pinned")) < 0 ||
	    (rc = s->groups_fd = map_fd(s, "groups")) < 0 || (rc = s->socks_fd = map_fd(s, "socks")) < 0 ||
	    (rc = workers_fd = map_fd(s, "workers")) < 0)
		goto out;
	/* mmapped counters: decay and stats without a syscall, and decay
	 * halves with compare-and-swap, so it loses none of the program's adds. */
	long page = sysconf(_SC_PAGESIZE);
	s->wlen = (nworkers * sizeof(struct steer_worker) + (size_t)page - 1) & ~((size_t)page - 1);
	s->w = mmap(NULL, s->wlen, PROT_READ | PROT_WRITE, MAP_SHARED, workers_fd, 0);
	if (s->w == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		steer_free(s);
	else
		*out = s;
	return rc;
}

int steer_attach(struct steer *s, const int *fds, unsigned n)
{
	uint64_t cookie[STEER_MAX_WORKERS];
	unsigned ncookies = 0, nslots = 0;
	int rc = 0;

	if (!s || !fds || n != s->nworkers)
		return -EINVAL;
	if (s->ngroups >= STEER_MAX_GROUPS)
		return -ENOSPC;
	uint32_t base = s->ngroups * s->nworkers;

	/* Slots and cookies first, the program last: it never sees half a group. */
	for (; ncookies < n; ncookies++) {
		if ((rc = sock_cookie(fds[ncookies], &cookie[ncookies])) < 0)
			goto out;
	}
	for (; nslots < n; nslots++) {
		uint32_t slot = base + nslots;
		uint64_t fd = (uint64_t)fds[nslots];
		/* -EBUSY: the socket is in another sockarray; -EINVAL: not
		 * bound or no SO_REUSEPORT. */
		if ((rc = bpf_map_update_elem(s->socks_fd, &slot, &fd, BPF_ANY)) < 0)
			goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		if ((rc = bpf_map_update_elem(s->groups_fd, &cookie[i], &base, BPF_ANY)) < 0)
			goto out;
	}
	if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &s->prog_fd, sizeof(s->prog_fd)) < 0) {
		rc = -errno;
		goto out;
	}
	s->group[s->ngroups].fd = fds[0];
	s->group[s->ngroups].cookie = cookie[0];
	s->ngroups++;
out:
	if (rc < 0) {
		for (unsigned i = 0; i < ncookies; i++)
			bpf_map_delete_elem(s->groups_fd, &cookie[i]);
		for (unsigned i = 0; i < nslots; i++) {
			uint32_t slot = base + i;
			bpf_map_delete_elem(s->socks_fd, &slot);
		}
	}
	return rc;
}

static void halve(uint64_t *v)
{
	uint64_t old = __atomic_load_n(v, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(v, &old, old / 2, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void steer_decay(struct steer *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nworkers; i++)
		halve((uint64_t *)&s->w[i].load);
}

int steer_stats(struct steer *s, struct steer_worker_stats *out, unsigned n)
{
	if (!s)
		return -EINVAL;
	if (n > s->nworkers)
		n = s->nworkers;
	for (unsigned i = 0; i < n; i++) {
		out[i].load = __atomic_load_n(&s->w[i].load, __ATOMIC_RELAXED);
		out[i].flows = __atomic_load_n(&s->w[i].flows, __ATOMIC_RELAXED);
		out[i].fails = __atomic_load_n(&s->w[i].fails, __ATOMIC_RELAXED);
	}
	return (int)n;
}

/* The key the program builds from a datagram of this client. */
static int flow_key(const union tern_addr *client, uint16_t local_port, struct steer_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	if (client->sa.sa_family == AF_INET) {
		k->family = 4;
		memcpy(k->addr, &client->v4.sin_addr, 4);
		k->sport = client->v4.sin_port;
	} else if (client->sa.sa_family == AF_INET6) {
		const struct in6_addr *a = &client->v6.sin6_addr;
		/* A dual-stack socket's IPv4 client arrives as an IPv4 packet. */
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			k->family = 4;
			memcpy(k->addr, &a->s6_addr[12], 4);
		} else {
			k->family = 6;
			memcpy(k->addr, a->s6_addr, 16);
		}
		k->sport = client->v6.sin6_port;
	} else {
		return -EAFNOSUPPORT;
	}
	k->dport = htons(local_port);
	return 0;
}

int steer_pin(struct steer *s, const union tern_addr *client, uint16_t local_port, unsigned worker)
{
	struct steer_flow_key k;
	uint32_t w = worker;
	int rc;

	if (!s || worker >= s->nworkers)
		return -EINVAL;
	if ((rc = flow_key(client, local_port, &k)) < 0)
		return rc;
	if ((rc = bpf_map_update_elem(s->pinned_fd, &k, &w, BPF_ANY)) < 0)
		return rc;
	return bpf_map_update_elem(s->flows_fd, &k, &w, BPF_ANY);
}

int steer_unpin(struct steer *s, const union tern_addr *client, uint16_t local_port)
{
	struct steer_flow_key k;
	int rc;

	if (!s)
		return -EINVAL;
	if ((rc = flow_key(client, local_port, &k)) < 0)
		return rc;
	/* The flow keeps its worker in the LRU table until evicted. */
	return bpf_map_delete_elem(s->pinned_fd, &k);
}

void steer_free(struct steer *s)
{
	if (!s)
		return;
	for (unsigned g = 0; g < s->ngroups; g++) {
		uint64_t cookie;
		int zero = 0;
		/* The fd may have been closed (the group, and our program with
		 * it, went away) or even reused for another socket. */
		if (sock_cookie(s->group[g].fd, &cookie) == 0 && cookie == s->group[g].cookie)
			setsockopt(s->group[g].fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero));
	}
	if (s->w != MAP_FAILED)
		munmap(s->w, s->wlen);
	bpf_object__close(s->obj);
	free(s);
}

#else /* !TERN_HAVE_BPF: the stub, so steering=ebpf fails open to the hash */

bool steer_built(void)
{
	return false;
}

int steer_new(unsigned nworkers, struct steer **out)
{
	*out = NULL;
	return -EOPNOTSUPP;
}

int steer_attach(struct steer *s, const int *fds, unsigned n)
{
	return -EOPNOTSUPP;
}

void steer_decay(struct steer *s)
{
}

int steer_stats(struct steer *s, struct steer_worker_stats *out, unsigned n)
{
	return -EOPNOTSUPP;
}

int steer_pin(struct steer *s, const union tern_addr *client, uint16_t local_port, unsigned worker)
{
	return -EOPNOTSUPP;
}

int steer_unpin(struct steer *s, const union tern_addr *client, uint16_t local_port)
{
	return -EOPNOTSUPP;
}

void steer_free(struct steer *s)
{
}

#endif
