#include "net/fastpath.h"

#include <errno.h>
#include <string.h>
#include <time.h>

uint64_t fastpath_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *fastpath_attach_name(enum fastpath_attach a)
{
	switch (a) {
	case FASTPATH_ATT_XDP_NATIVE:
		return "xdp-native";
	case FASTPATH_ATT_XDP_GENERIC:
		return "xdp-generic";
	case FASTPATH_ATT_TC:
		return "tc";
	default:
		return "none";
	}
}

const char *fastpath_strerror(int err)
{
	switch (err) {
	case -EOPNOTSUPP:
		return "eBPF fast path not built (no clang or libbpf-dev at configure time), "
		       "or the driver lacks this XDP mode";
	case -EPERM:
		return "not permitted to load or attach eBPF (needs root, or CAP_BPF and CAP_NET_ADMIN)";
	case -EACCES:
		return "eBPF program refused by the kernel (verifier)";
	case -EBUSY:
	case -EEXIST:
		return "another XDP program is attached to the interface (not replaced)";
	case -ENODEV:
		return "no such interface, or no interface holds the listening and relay addresses";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

#ifdef TERN_HAVE_BPF

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fastpath_abi.h"
#include "tern_bpf.h"
#include "net/bpf_log.h"
#include "util/log.h"

_Static_assert(FASTPATH_STATS == FP_ST_N, "fastpath.h and bpf/fastpath_abi.h disagree");
_Static_assert(sizeof(struct fp_slot) == 64, "one cache line per slot");
_Static_assert(sizeof(struct fp_ctl) == 64, "one cache line of control");

/* Linux 6.6's tcx hook; libbpf 1.1's <linux/bpf.h> predates it. */
#define FP_TCX_INGRESS ((enum bpf_attach_type)46)

/* The netlink clsact filter, where tcx is missing: a fixed handle and
 * priority, so a filter a crashed ternd left behind is found and removed. */
#define FP_TC_HANDLE 0x7e4e
#define FP_TC_PRIO   0xc0de

/* The program relays only while now < alive_until: this long after the last
 * heartbeat (called every second) a hung or dead ternd stops relaying. */
#define FP_GRACE_NS (3ull * 1000000000ull)

struct fp_if {
	char name[IF_NAMESIZE];
	int ifindex;
	enum fastpath_attach mode;
	int link_fd;     /* XDP or tcx link: closing it detaches; -1 for a netlink filter */
	bool tc_netlink; /* our clsact filter at FP_TC_HANDLE / FP_TC_PRIO */
};

/* Each worker allocates from its own range: no lock, no sharing. */
struct fp_worker {
	uint32_t base, n; /* slots [base, base + n) */
	uint32_t nfree;
	uint32_t *free; /* stack of free slots, room for n */
} __attribute__((aligned(64)));

struct fastpath {
	struct bpf_object *obj;
	int xdp_fd, tc_fd;
	int client_fd, peer_fd, slots_fd, ctl_fd, stats_fd;
	struct fp_slot *slots; /* fp_slots, mmapped */
	size_t slots_len;
	struct fp_ctl *ctl; /* fp_ctl, mmapped */
	size_t ctl_len;
	unsigned max_mappings, nworkers;
	struct fp_worker *w;
	uint32_t *stacks;
	uint8_t *used; /* per slot: installed (guards a double delete) */
	unsigned nifs;
	struct fp_if ifs[FASTPATH_MAX_IFS];
	bool lo_fwd_set[2]; /* we switched forwarding on for lo (IPv4, IPv6): put back at close */
};

/* bpf_fib_lookup() answers only for a device with forwarding on, and the
 * program asks as loopback (the relay sends from its own address). On lo
 * forwarding routes nothing (all its packets are the host's own), so it is
 * the one device where switching it on changes nothing else. */
static const char *const lo_fwd_path[2] = {"/proc/sys/net/ipv4/conf/lo/forwarding",
                                           "/proc/sys/net/ipv6/conf/lo/forwarding"};

/* Read path into old; when want differs, write it. Opened for writing only
 * then: under systemd's ProtectKernelTunables=yes /proc/sys is read-only,
 * and an operator who set the value in sysctl.d needs no write. */
static int sysctl_rw(const char *path, const char *want, char *old, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, old, cap - 1);
	int rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	old[n] = '\0';
	if (!want || old[0] == want[0])
		return 0;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, want, strlen(want)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int lo_forwarding_on(struct fastpath *fp)
{
	for (unsigned k = 0; k < 2; k++) {
		char old[16];
		int rc = sysctl_rw(lo_fwd_path[k], "1", old, sizeof(old));
		if (rc == -ENOENT && k == 1)
			continue; /* no IPv6 here: its lookups fail and pass to user space */
		if (rc < 0) {
			log_warn("fastpath: cannot switch on forwarding on lo (%s: %s): the program's route "
			         "lookups need it; user space relays everything",
			         lo_fwd_path[k], strerror(-rc));
			return rc;
		}
		fp->lo_fwd_set[k] = old[0] == '0';
	}
	return 0;
}

static void lo_forwarding_restore(struct fastpath *fp)
{
	for (unsigned k = 0; k < 2; k++) {
		char cur[16];
		if (fp->lo_fwd_set[k])
			(void)sysctl_rw(lo_fwd_path[k], "0", cur, sizeof(cur));
		fp->lo_fwd_set[k] = false;
	}
}

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) & ~(page - 1);
}

static int map_fd(struct fastpath *fp, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(fp->obj, name);
	return m ? bpf_map__fd(m) : -ENOENT;
}

static int map_resize(struct fastpath *fp, const char *name, uint32_t max_entries)
{
	struct bpf_map *m = bpf_object__find_map_by_name(fp->obj, name);
	return m ? bpf_map__set_max_entries(m, max_entries) : -ENOENT;
}

static int prog_autoload(struct fastpath *fp, const char *name, bool on)
{
	struct bpf_program *p = bpf_object__find_program_by_name(fp->obj, name);
	return p ? bpf_program__set_autoload(p, on) : -ENOENT;
}

static int prog_fd(struct fastpath *fp, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(fp->obj, name);
	return p ? bpf_program__fd(p) : -ENOENT;
}

static bool mode_xdp_native(enum fastpath_mode m)
{
	return m == FASTPATH_AUTO || m == FASTPATH_XDP || m == FASTPATH_XDP_NATIVE;
}

static bool mode_xdp_generic(enum fastpath_mode m)
{
	return m == FASTPATH_AUTO || m == FASTPATH_XDP || m == FASTPATH_XDP_GENERIC;
}

static bool mode_tc(enum fastpath_mode m)
{
	return m == FASTPATH_AUTO || m == FASTPATH_TC;
}

/* IPv4 written IPv4-mapped, the ABI's one address form. */
static int addr16(const union tern_addr *a, __u8 out[16], __be16 *port)
{
	if (a->sa.sa_family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a->v4.sin_addr, 4);
		*port = a->v4.sin_port;
		return 0;
	}
	if (a->sa.sa_family == AF_INET6) {
		memcpy(out, &a->v6.sin6_addr, 16);
		*port = a->v6.sin6_port;
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int make_keys(const struct fastpath_mapping *m, uint32_t slot, uint32_t gen, struct fp_client_key *ck,
                     struct fp_client_val *cv, struct fp_peer_key *pk, struct fp_peer_val *pv)
{
	int rc;

	memset(ck, 0, sizeof(*ck));
	memset(cv, 0, sizeof(*cv));
	memset(pk, 0, sizeof(*pk));
	memset(pv, 0, sizeof(*pv));
	if ((rc = addr16(&m->client, ck->client, &ck->client_port)) < 0 ||
	    (rc = addr16(&m->local, ck->local, &ck->local_port)) < 0 ||
	    (rc = addr16(&m->relay, cv->relay, &cv->relay_port)) < 0 ||
	    (rc = addr16(&m->peer, cv->peer, &cv->peer_port)) < 0)
		return rc;
	ck->channel = htons(m->channel);
	cv->slot = slot;
	cv->gen = gen;

	memcpy(pk->peer, cv->peer, 16);
	memcpy(pk->relay, cv->relay, 16);
	pk->peer_port = cv->peer_port;
	pk->relay_port = cv->relay_port;
	memcpy(pv->client, ck->client, 16);
	memcpy(pv->local, ck->local, 16);
	pv->client_port = ck->client_port;
	pv->local_port = ck->local_port;
	pv->channel = ck->channel;
	pv->slot = slot;
	pv->gen = gen;
	return 0;
}

/* An address of the interface, compared as the caller wrote it or
 * IPv4-mapped (a dual-stack listener). */
static bool addr_held(const union tern_addr *want, const struct sockaddr *sa)
{
	__u8 a[16], b[16];
	__be16 port;

	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (addr16(want, a, &port) < 0 || addr16((const union tern_addr *)sa, b, &port) < 0)
		return false;
	return memcmp(a, b, 16) == 0;
}

/* The interfaces holding one of the addresses; a wildcard address: every
 * interface that is up, loopback excluded (its traffic never needs a relay
 * in the kernel, and XDP on lo is generic only). */
static int ifs_from_addrs(const struct fastpath_opts *o, char names[][IF_NAMESIZE], unsigned *n)
{
	struct ifaddrs *ifa = NULL;
	bool wildcard = false;

	*n = 0;
	for (unsigned i = 0; i < o->naddrs; i++)
		wildcard |= addr_is_any(&o->addrs[i]);
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
		bool want = false;
		if (!p->ifa_name)
			continue;
		if (wildcard) {
			want = (p->ifa_flags & IFF_UP) && !(p->ifa_flags & IFF_LOOPBACK);
		} else {
			for (unsigned i = 0; i < o->naddrs && !want; i++)
				want = addr_held(&o->addrs[i], p->ifa_addr);
		}
		if (!want)
			continue;
		unsigned j = 0;
		while (j < *n && strcmp(names[j], p->ifa_name) != 0)
			j++;
		if (j < *n)
			continue;
		if (*n == FASTPATH_MAX_IFS) {
			log_warn("fastpath: more than %d interfaces, %s and later ones not attached",
			         FASTPATH_MAX_IFS, p->ifa_name);
			break;
		}
		snprintf(names[(*n)++], IF_NAMESIZE, "%s", p->ifa_name);
	}
	freeifaddrs(ifa);
	return *n ? 0 : -ENODEV;
}

static bool tc_filter_is_ours(uint32_t prog_id)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(prog_id);
	bool ours;

	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strcmp(info.name, FP_ABI_PROG_TC) == 0;
	close(fd);
	return ours;
}

/* A clsact filter of a ternd that crashed: it passes everything (its
 * heartbeat lapsed) but still costs every packet a program run. */
static void tc_remove_stale(const char *name, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO);

	if (bpf_tc_query(&hook, &q) < 0 || !tc_filter_is_ours(q.prog_id))
		return;
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO);
	if (bpf_tc_detach(&hook, &d) == 0)
		log_info("fastpath: %s: removed the TC filter of an earlier ternd", name);
}

static int attach_xdp(struct fastpath *fp, struct fp_if *f, uint32_t flags)
{
	/* A link, never the netlink attach: it cannot replace a program
	 * someone else attached (EBUSY, EEXIST), and the kernel detaches it
	 * when its last fd closes, crash included. */
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);
	int fd = bpf_link_create(fp->xdp_fd, f->ifindex, BPF_XDP, &lo);
	if (fd < 0)
		return fd;
	f->link_fd = fd;
	return 0;
}

/* Before Linux 6.6 (no tcx): a clsact filter. It outlives a crash; the
 * heartbeat then makes it pass everything, and the next start removes it. */
static int attach_tc_netlink(struct fastpath *fp, struct fp_if *f)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = f->ifindex, .attach_point = BPF_TC_INGRESS);
	int rc = bpf_tc_hook_create(&hook);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	LIBBPF_OPTS(bpf_tc_opts, to, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO, .prog_fd = fp->tc_fd);
	if ((rc = bpf_tc_attach(&hook, &to)) < 0)
		return rc;
	f->tc_netlink = true;
	return 0;
}

/* tcx first: a link, detached by the kernel when ternd dies. */
static int attach_tc(struct fastpath *fp, struct fp_if *f)
{
	int fd = bpf_link_create(fp->tc_fd, f->ifindex, FP_TCX_INGRESS, NULL);
	if (fd >= 0) {
		f->link_fd = fd;
		return 0;
	}
	return attach_tc_netlink(fp, f);
}

/* One interface, per the mode's order of preference. On failure *tried
 * names the last way tried. */
static int attach_if(struct fastpath *fp, const struct fastpath_opts *o, struct fp_if *f,
                     enum fastpath_attach *tried)
{
	int rc = -EOPNOTSUPP;

	*tried = FASTPATH_ATT_NONE;
	if (o->force_fail)
		return -EPERM;
	if (mode_xdp_native(o->mode)) {
		*tried = FASTPATH_ATT_XDP_NATIVE;
		if ((rc = attach_xdp(fp, f, XDP_FLAGS_DRV_MODE)) == 0)
			goto ok;
		/* Someone else's XDP program: leave the interface alone. */
		if (rc == -EBUSY || rc == -EEXIST)
			return rc;
	}
	if (mode_xdp_generic(o->mode)) {
		*tried = FASTPATH_ATT_XDP_GENERIC;
		if ((rc = attach_xdp(fp, f, XDP_FLAGS_SKB_MODE)) == 0)
			goto ok;
		if (rc == -EBUSY || rc == -EEXIST)
			return rc;
	}
	if (mode_tc(o->mode)) {
		*tried = FASTPATH_ATT_TC;
		if ((rc = attach_tc(fp, f)) == 0)
			goto ok;
	}
	return rc;
ok:
	f->mode = *tried;
	return 0;
}

static void detach_if(struct fp_if *f)
{
	if (f->link_fd >= 0)
		close(f->link_fd);
	f->link_fd = -1;
	if (f->tc_netlink) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = f->ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO);
		bpf_tc_detach(&hook, &d);
		f->tc_netlink = false;
	}
	f->mode = FASTPATH_ATT_NONE;
}

static int load(struct fastpath *fp, const struct fastpath_opts *o)
{
	int rc;

	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tern_fastpath");
	fp->obj = bpf_object__open_mem(tern_bpf_fastpath_obj, tern_bpf_fastpath_obj_len, &opts);
	if (!fp->obj)
		return errno ? -errno : -EINVAL;
	/* Sized here: only the configuration knows how many channels. Only the
	 * programs the mode can attach are loaded, so a verifier refusal of
	 * one does not cost the other. */
	bool xdp = mode_xdp_native(o->mode) || mode_xdp_generic(o->mode);
	if ((rc = map_resize(fp, "fp_client", o->max_mappings)) < 0 ||
	    (rc = map_resize(fp, "fp_peer", o->max_mappings)) < 0 ||
	    (rc = map_resize(fp, "fp_slots", o->max_mappings)) < 0 ||
	    (rc = prog_autoload(fp, FP_ABI_PROG_XDP, xdp)) < 0 ||
	    (rc = prog_autoload(fp, FP_ABI_PROG_TC, mode_tc(o->mode))) < 0 ||
	    (rc = prog_autoload(fp, FP_ABI_PROG_PASS, false)) < 0)
		return rc;
	if ((rc = bpf_object__load(fp->obj)) < 0)
		return rc;
	fp->xdp_fd = prog_fd(fp, FP_ABI_PROG_XDP);
	fp->tc_fd = prog_fd(fp, FP_ABI_PROG_TC);
	if ((rc = fp->client_fd = map_fd(fp, "fp_client")) < 0 ||
	    (rc = fp->peer_fd = map_fd(fp, "fp_peer")) < 0 ||
	    (rc = fp->slots_fd = map_fd(fp, "fp_slots")) < 0 ||
	    (rc = fp->ctl_fd = map_fd(fp, "fp_ctl")) < 0 || (rc = fp->stats_fd = map_fd(fp, "fp_stats")) < 0)
		return rc;
	/* Expiry, generation and counters move through shared memory: a
	 * refresh or a stats read costs no syscall. */
	fp->slots_len = page_round((size_t)o->max_mappings * sizeof(struct fp_slot));
	void *p = mmap(NULL, fp->slots_len, PROT_READ | PROT_WRITE, MAP_SHARED, fp->slots_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	fp->slots = p;
	fp->ctl_len = page_round(sizeof(struct fp_ctl));
	p = mmap(NULL, fp->ctl_len, PROT_READ | PROT_WRITE, MAP_SHARED, fp->ctl_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	fp->ctl = p;
	return 0;
}

static int slots_init(struct fastpath *fp)
{
	fp->w = calloc(fp->nworkers, sizeof(*fp->w));
	fp->stacks = calloc(fp->max_mappings, sizeof(*fp->stacks));
	fp->used = calloc(fp->max_mappings, 1);
	if (!fp->w || !fp->stacks || !fp->used)
		return -ENOMEM;
	for (unsigned i = 0; i < fp->nworkers; i++) {
		struct fp_worker *w = &fp->w[i];
		uint32_t end = (uint32_t)((uint64_t)(i + 1) * fp->max_mappings / fp->nworkers);
		w->base = (uint32_t)((uint64_t)i * fp->max_mappings / fp->nworkers);
		w->n = end - w->base;
		w->free = fp->stacks + w->base;
		/* Lowest slot on top: slots fill from the start of the range. */
		for (uint32_t k = 0; k < w->n; k++)
			w->free[k] = end - 1 - k;
		w->nfree = w->n;
	}
	return 0;
}

static void fp_free(struct fastpath *fp)
{
	if (!fp)
		return;
	/* Stop relaying before anything goes: a detach that fails (a netlink
	 * filter) leaves a program that passes everything. */
	if (fp->ctl)
		__atomic_store_n(&fp->ctl->alive_until_ns, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < fp->nifs; i++)
		detach_if(&fp->ifs[i]);
	lo_forwarding_restore(fp);
	if (fp->slots)
		munmap(fp->slots, fp->slots_len);
	if (fp->ctl)
		munmap(fp->ctl, fp->ctl_len);
	bpf_object__close(fp->obj);
	free(fp->w);
	free(fp->stacks);
	free(fp->used);
	free(fp);
}

/* "eth0 (xdp-native: reason)" */
static void describe_fail(char *buf, size_t cap, const char *name, enum fastpath_attach tried, int err,
                          bool forced)
{
	const char *why = forced               ? "forced failure (tests only)"
	                  : err == -ENODEV     ? "no such interface"
	                  : err == -EOPNOTSUPP ? "not supported by the driver or kernel"
	                                       : fastpath_strerror(err);
	if (tried == FASTPATH_ATT_NONE)
		snprintf(buf, cap, "%s (%s)", name, why);
	else
		snprintf(buf, cap, "%s (%s: %s)", name, fastpath_attach_name(tried), why);
}

int fastpath_open(const struct fastpath_opts *o, struct fastpath **out)
{
	char names[FASTPATH_MAX_IFS][IF_NAMESIZE];
	int err[FASTPATH_MAX_IFS];
	enum fastpath_attach tried[FASTPATH_MAX_IFS];
	char line[FASTPATH_MAX_IFS * (IF_NAMESIZE + 100)], one[IF_NAMESIZE + 100];
	size_t len = 0;
	unsigned nnames = 0;
	struct fastpath *fp = NULL;
	libbpf_print_fn_t old_print;
	int rc;

	*out = NULL;
	if (!o || o->mode == FASTPATH_OFF || o->max_mappings == 0 || o->nworkers == 0 ||
	    o->nworkers > o->max_mappings || o->nifs > FASTPATH_MAX_IFS)
		return -EINVAL;
	old_print = libbpf_set_print(net_bpf_log);
	line[0] = '\0';

	if (o->nifs) {
		/* A name given twice would fail against our own first link. */
		for (unsigned i = 0; i < o->nifs; i++) {
			unsigned j = 0;
			while (j < nnames && strncmp(names[j], o->ifnames[i], IF_NAMESIZE - 1) != 0)
				j++;
			if (j == nnames)
				snprintf(names[nnames++], IF_NAMESIZE, "%s", o->ifnames[i]);
		}
	} else if ((rc = ifs_from_addrs(o, names, &nnames)) < 0) {
		log_warn("fastpath: not attached: %s; user space relays everything",
		         rc == -ENODEV ? "no interface holds the listening or relay addresses"
		                       : strerror(-rc));
		goto out;
	}

	fp = calloc(1, sizeof(*fp));
	if (!fp) {
		rc = -ENOMEM;
		goto out;
	}
	fp->max_mappings = o->max_mappings;
	fp->nworkers = o->nworkers;
	fp->xdp_fd = fp->tc_fd = -1;
	if ((rc = slots_init(fp)) < 0 || (rc = load(fp, o)) < 0) {
		log_warn("fastpath: not loaded: %s; user space relays everything", fastpath_strerror(rc));
		goto out;
	}
	fastpath_heartbeat(fp);
	if ((rc = lo_forwarding_on(fp)) < 0)
		goto out;

	for (unsigned i = 0; i < nnames; i++) {
		struct fp_if *f = &fp->ifs[fp->nifs];

		memset(f, 0, sizeof(*f));
		f->link_fd = -1;
		snprintf(f->name, sizeof(f->name), "%s", names[i]);
		f->ifindex = (int)if_nametoindex(names[i]);
		tried[i] = FASTPATH_ATT_NONE;
		if (f->ifindex == 0) {
			err[i] = -ENODEV;
		} else {
			tc_remove_stale(f->name, f->ifindex);
			err[i] = attach_if(fp, o, f, &tried[i]);
		}
		if (err[i] == 0)
			fp->nifs++;
	}

	if (fp->nifs == 0) {
		/* One line for the whole failure: the caller carries on without. */
		for (unsigned i = 0; i < nnames && len < sizeof(line); i++) {
			describe_fail(one, sizeof(one), names[i], tried[i], err[i], o->force_fail);
			int n = snprintf(line + len, sizeof(line) - len, "%s%s", i ? ", " : "", one);
			if (n > 0)
				len += (size_t)n;
		}
		log_warn("fastpath: not attached to %s; user space relays everything", line);
		rc = err[0];
		goto out;
	}
	for (unsigned i = 0; i < nnames; i++) {
		if (err[i] == 0)
			continue;
		describe_fail(one, sizeof(one), names[i], tried[i], err[i], o->force_fail);
		log_warn("fastpath: not attached to %s; user space relays its traffic", one);
	}
	for (unsigned i = 0; i < fp->nifs && len < sizeof(line); i++) {
		int n = snprintf(line + len, sizeof(line) - len, "%s%s (%s)", i ? ", " : "", fp->ifs[i].name,
		                 fastpath_attach_name(fp->ifs[i].mode));
		if (n > 0)
			len += (size_t)n;
	}
	log_info("fastpath: attached to %s; %u channels, %u workers", line, fp->max_mappings, fp->nworkers);
	rc = 0;
out:
	libbpf_set_print(old_print);
	if (rc < 0)
		fp_free(fp);
	else
		*out = fp;
	return rc;
}

void fastpath_close(struct fastpath *fp)
{
	fp_free(fp);
}

unsigned fastpath_nifs(const struct fastpath *fp)
{
	return fp ? fp->nifs : 0;
}

const char *fastpath_ifname(const struct fastpath *fp, unsigned i)
{
	return fp && i < fp->nifs ? fp->ifs[i].name : NULL;
}

enum fastpath_attach fastpath_if_mode(const struct fastpath *fp, unsigned i)
{
	return fp && i < fp->nifs ? fp->ifs[i].mode : FASTPATH_ATT_NONE;
}

void fastpath_heartbeat(struct fastpath *fp)
{
	if (fp && fp->ctl)
		__atomic_store_n(&fp->ctl->alive_until_ns, fastpath_now_ns() + FP_GRACE_NS, __ATOMIC_RELEASE);
}

int fastpath_map_add(struct fastpath *fp, unsigned w, const struct fastpath_mapping *m, uint64_t expires_ns,
                     uint32_t *slot)
{
	struct fp_client_key ck;
	struct fp_client_val cv;
	struct fp_peer_key pk;
	struct fp_peer_val pv;
	int rc;

	if (!fp || w >= fp->nworkers || !m || expires_ns == 0)
		return -EINVAL;
	struct fp_worker *wk = &fp->w[w];
	if (wk->nfree == 0)
		return -ENOSPC;
	uint32_t s = wk->free[wk->nfree - 1];
	struct fp_slot *sl = &fp->slots[s];
	/* A new generation: an entry of the slot's last mapping that a
	 * program run still holds no longer matches it. */
	uint32_t gen = __atomic_load_n(&sl->gen, __ATOMIC_RELAXED) + 1;
	if ((rc = make_keys(m, s, gen, &ck, &cv, &pk, &pv)) < 0)
		return rc;

	__atomic_store_n(&sl->up_packets, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->up_bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->down_packets, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->down_bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->last_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->gen, gen, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->expires_ns, expires_ns, __ATOMIC_RELEASE);

	/* NOEXIST both ways: a key that belongs to another slot is the caller's
	 * bug or a race; replacing it would leave that slot's owner deleting
	 * our entry later. Refused, nothing stays half-installed. */
	if ((rc = bpf_map_update_elem(fp->client_fd, &ck, &cv, BPF_NOEXIST)) < 0)
		goto fail;
	if ((rc = bpf_map_update_elem(fp->peer_fd, &pk, &pv, BPF_NOEXIST)) < 0) {
		bpf_map_delete_elem(fp->client_fd, &ck);
		goto fail;
	}
	wk->nfree--;
	fp->used[s] = 1;
	*slot = s;
	return 0;
fail:
	__atomic_store_n(&sl->expires_ns, 0, __ATOMIC_RELEASE);
	return rc;
}

void fastpath_map_expire(struct fastpath *fp, uint32_t slot, uint64_t expires_ns)
{
	if (!fp || slot >= fp->max_mappings || !fp->used[slot])
		return;
	__atomic_store_n(&fp->slots[slot].expires_ns, expires_ns, __ATOMIC_RELEASE);
}

void fastpath_map_del(struct fastpath *fp, unsigned w, uint32_t slot, const struct fastpath_mapping *m,
                      struct fastpath_counts *out)
{
	struct fp_client_key ck;
	struct fp_client_val cv, cur_cv;
	struct fp_peer_key pk;
	struct fp_peer_val pv, cur_pv;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!fp || w >= fp->nworkers || slot < fp->w[w].base || slot >= fp->w[w].base + fp->w[w].n ||
	    !fp->used[slot])
		return;
	struct fp_slot *sl = &fp->slots[slot];
	/* Expired first: a program run that already found the keys stops too. */
	__atomic_store_n(&sl->expires_ns, 0, __ATOMIC_RELEASE);
	/* Only this slot's entries: a wrong m must not remove another
	 * mapping (NOEXIST at add makes each key belong to one slot). */
	if (m && make_keys(m, slot, 0, &ck, &cv, &pk, &pv) == 0) {
		if (bpf_map_lookup_elem(fp->client_fd, &ck, &cur_cv) == 0 && cur_cv.slot == slot)
			bpf_map_delete_elem(fp->client_fd, &ck);
		if (bpf_map_lookup_elem(fp->peer_fd, &pk, &cur_pv) == 0 && cur_pv.slot == slot)
			bpf_map_delete_elem(fp->peer_fd, &pk);
	}
	fastpath_map_read(fp, slot, out);
	fp->used[slot] = 0;
	struct fp_worker *wk = &fp->w[w];
	wk->free[wk->nfree++] = slot;
}

void fastpath_map_read(const struct fastpath *fp, uint32_t slot, struct fastpath_counts *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!fp || slot >= fp->max_mappings)
		return;
	struct fp_slot *sl = &fp->slots[slot];
	out->up_packets = __atomic_load_n(&sl->up_packets, __ATOMIC_RELAXED);
	out->up_bytes = __atomic_load_n(&sl->up_bytes, __ATOMIC_RELAXED);
	out->down_packets = __atomic_load_n(&sl->down_packets, __ATOMIC_RELAXED);
	out->down_bytes = __atomic_load_n(&sl->down_bytes, __ATOMIC_RELAXED);
	out->last_ns = __atomic_load_n(&sl->last_ns, __ATOMIC_RELAXED);
}

int fastpath_stats(const struct fastpath *fp, uint64_t out[FASTPATH_STATS])
{
	int ncpu, rc = 0;

	if (!fp)
		return -EINVAL;
	if ((ncpu = libbpf_num_possible_cpus()) < 0)
		return ncpu;
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t k = 0; k < FASTPATH_STATS; k++) {
		out[k] = 0;
		if ((rc = bpf_map_lookup_elem(fp->stats_fd, &k, v)) < 0)
			break;
		for (int c = 0; c < ncpu; c++)
			out[k] += v[c];
	}
	free(v);
	return rc < 0 ? rc : 0;
}

int fastpath_prog_stats(const struct fastpath *fp, uint64_t *run_ns, uint64_t *run_cnt)
{
	int fds[2];

	if (!fp)
		return -EINVAL;
	fds[0] = fp->xdp_fd;
	fds[1] = fp->tc_fd;
	*run_ns = *run_cnt = 0;
	for (unsigned i = 0; i < 2; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		if (fds[i] < 0)
			continue;
		memset(&info, 0, sizeof(info));
		int rc = bpf_obj_get_info_by_fd(fds[i], &info, &len);
		if (rc < 0)
			return rc;
		*run_ns += info.run_time_ns;
		*run_cnt += info.run_cnt;
	}
	return 0;
}

#else /* !TERN_HAVE_BPF: the stub, so fast-path=auto fails open */

int fastpath_open(const struct fastpath_opts *o, struct fastpath **out)
{
	*out = NULL;
	return -EOPNOTSUPP;
}

void fastpath_close(struct fastpath *fp)
{
}

unsigned fastpath_nifs(const struct fastpath *fp)
{
	return 0;
}

const char *fastpath_ifname(const struct fastpath *fp, unsigned i)
{
	return NULL;
}

enum fastpath_attach fastpath_if_mode(const struct fastpath *fp, unsigned i)
{
	return FASTPATH_ATT_NONE;
}

void fastpath_heartbeat(struct fastpath *fp)
{
}

int fastpath_map_add(struct fastpath *fp, unsigned w, const struct fastpath_mapping *m, uint64_t expires_ns,
                     uint32_t *slot)
{
	return -EOPNOTSUPP;
}

void fastpath_map_expire(struct fastpath *fp, uint32_t slot, uint64_t expires_ns)
{
}

void fastpath_map_del(struct fastpath *fp, unsigned w, uint32_t slot, const struct fastpath_mapping *m,
                      struct fastpath_counts *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
}

void fastpath_map_read(const struct fastpath *fp, uint32_t slot, struct fastpath_counts *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
}

int fastpath_stats(const struct fastpath *fp, uint64_t out[FASTPATH_STATS])
{
	return -EOPNOTSUPP;
}

int fastpath_prog_stats(const struct fastpath *fp, uint64_t *run_ns, uint64_t *run_cnt)
{
	return -EOPNOTSUPP;
}

#endif
