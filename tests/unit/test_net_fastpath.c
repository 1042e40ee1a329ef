/* net/fastpath: the loader of the kernel fast path against the real kernel.
 * The process moves into a network namespace of its own (unshare(2)) with
 * one veth pair, tfp0 (198.18.0.1/24, 2001:2::1/64) and tfp1 (198.18.0.2/24,
 * 2001:2::2/64); nothing can reach another machine. Every check reads the
 * kernel's state (bpf_xdp_query, tcx and clsact queries, map lookups), not
 * the loader's idea of it. Needs root and a build with eBPF; otherwise every
 * test skips and says why.
 *
 * Includes the .c for its map fds and the clsact handle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/fastpath.c"

#ifdef TERN_HAVE_BPF

#define IF0 "tfp0"
#define IF1 "tfp1"

static const char *skip_why;
static int ifidx0, ifidx1;
/* The test's own copy of the object: tern_fp_pass plays "someone else's
 * XDP program", tern_fp_tc a clsact filter left by a crashed ternd. */
static struct bpf_object *foreign;
static int pass_fd = -1, stale_tc_fd = -1;
/* What a failed assertion leaves behind, cleaned up by teardown so the next
 * test starts on bare interfaces. */
static struct fastpath *live[4];
static int foreign_link = -1;

static int teardown(void **state)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		fastpath_close(live[i]);
		live[i] = NULL;
	}
	if (foreign_link >= 0)
		close(foreign_link);
	foreign_link = -1;
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = i ? ifidx1 : ifidx0,
		            .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO);
		if (hook.ifindex)
			bpf_tc_detach(&hook, &d);
	}
	return 0;
}

static void track(struct fastpath *fp)
{
	for (size_t i = 0; fp && i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i]) {
			live[i] = fp;
			return;
		}
	}
}

static int libbpf_quiet(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	return 0;
}

static void skip_unless_ready(void)
{
	if (skip_why) {
		print_message("fastpath: skipped: %s\n", skip_why);
		skip();
	}
}

static int sh(const char *cmd)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf);
}

static const char *net_setup(void)
{
	static const char *cmds[] = {
	    "ip link set lo up",
	    "ip link add " IF0 " type veth peer name " IF1,
	    "ip addr add 198.18.0.1/24 dev " IF0,
	    "ip addr add 198.18.0.2/24 dev " IF1,
	    "ip -6 addr add 2001:2::1/64 dev " IF0 " nodad",
	    "ip -6 addr add 2001:2::2/64 dev " IF1 " nodad",
	    "ip link set " IF0 " up",
	    "ip link set " IF1 " up",
	};
	if (geteuid() != 0)
		return "needs root (a network namespace, veth and eBPF)";
	if (unshare(CLONE_NEWNET) < 0)
		return "cannot make a network namespace";
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (sh(cmds[i]) != 0)
			return "cannot make a veth pair (ip from iproute2, veth module)";
	}
	ifidx0 = (int)if_nametoindex(IF0);
	ifidx1 = (int)if_nametoindex(IF1);
	if (!ifidx0 || !ifidx1)
		return "veth pair missing";

	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "test_foreign");
	foreign = bpf_object__open_mem(tern_bpf_fastpath_obj, tern_bpf_fastpath_obj_len, &oo);
	if (!foreign)
		return "cannot open the embedded fast path object";
	bpf_program__set_autoload(bpf_object__find_program_by_name(foreign, FP_ABI_PROG_XDP), false);
	if (bpf_object__load(foreign) < 0)
		return "cannot load eBPF (CAP_BPF?)";
	pass_fd = bpf_program__fd(bpf_object__find_program_by_name(foreign, FP_ABI_PROG_PASS));
	stale_tc_fd = bpf_program__fd(bpf_object__find_program_by_name(foreign, FP_ABI_PROG_TC));
	return NULL;
}

static struct fastpath_opts opts_for(enum fastpath_mode mode, const char *if0, const char *if1)
{
	struct fastpath_opts o;
	memset(&o, 0, sizeof(o));
	o.mode = mode;
	if (if0)
		o.ifnames[o.nifs++] = if0;
	if (if1)
		o.ifnames[o.nifs++] = if1;
	o.max_mappings = 8;
	o.nworkers = 2;
	return o;
}

static struct fastpath *open_ok(const struct fastpath_opts *o)
{
	struct fastpath *fp = NULL;
	int rc = fastpath_open(o, &fp);
	if (rc < 0)
		print_message("fastpath_open: %s\n", fastpath_strerror(rc));
	assert_int_equal(rc, 0);
	assert_non_null(fp);
	track(fp);
	return fp;
}

static void close_fp(struct fastpath *fp)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i] == fp)
			live[i] = NULL;
	}
	fastpath_close(fp);
}

static void prog_name(uint32_t id, char *name, size_t cap)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	snprintf(name, cap, "%s", info.name);
}

/* The interface's XDP state as the kernel reports it. */
static uint8_t xdp_mode(int ifindex, char *name, size_t cap)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	assert_int_equal(bpf_xdp_query(ifindex, 0, &q), 0);
	if (name) {
		uint32_t id = q.attach_mode == XDP_ATTACHED_DRV   ? q.drv_prog_id
		              : q.attach_mode == XDP_ATTACHED_SKB ? q.skb_prog_id
		                                                  : 0;
		name[0] = '\0';
		if (id)
			prog_name(id, name, cap);
	}
	return q.attach_mode;
}

/* Programs on the interface's tcx ingress; the first one's name. */
static unsigned tcx_count(int ifindex, char *name, size_t cap)
{
	uint32_t ids[8], cnt = 8;
	assert_int_equal(bpf_prog_query(ifindex, FP_TCX_INGRESS, 0, NULL, ids, &cnt), 0);
	if (name) {
		name[0] = '\0';
		if (cnt)
			prog_name(ids[0], name, cap);
	}
	return cnt;
}

/* Our clsact filter (fixed handle and priority): its program id or 0. */
static uint32_t tc_filter(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO);
	return bpf_tc_query(&hook, &q) == 0 ? q.prog_id : 0;
}

static void assert_bare(int ifindex)
{
	assert_int_equal(xdp_mode(ifindex, NULL, 0), XDP_ATTACHED_NONE);
	assert_int_equal(tcx_count(ifindex, NULL, 0), 0);
	assert_int_equal(tc_filter(ifindex), 0);
}

static void check_xdp(enum fastpath_mode mode, enum fastpath_attach want, uint8_t kmode)
{
	char name[BPF_OBJ_NAME_LEN];
	skip_unless_ready();
	struct fastpath_opts o = opts_for(mode, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	assert_int_equal(fastpath_nifs(fp), 1);
	assert_string_equal(fastpath_ifname(fp, 0), IF0);
	assert_int_equal(fastpath_if_mode(fp, 0), want);
	assert_int_equal(xdp_mode(ifidx0, name, sizeof(name)), kmode);
	assert_string_equal(name, FP_ABI_PROG_XDP);
	assert_int_equal(tcx_count(ifidx0, NULL, 0), 0);
	assert_int_equal(xdp_mode(ifidx1, NULL, 0), XDP_ATTACHED_NONE);
	close_fp(fp);
	assert_bare(ifidx0);
}

static char lo_forwarding(unsigned v6)
{
	char buf[8] = "";
	FILE *f = fopen(v6 ? "/proc/sys/net/ipv6/conf/lo/forwarding" : "/proc/sys/net/ipv4/conf/lo/forwarding",
	                "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf[0];
}

/* The program's route lookups need forwarding on lo (only there): on while
 * the fast path is open, put back at close; the attached device's own
 * forwarding is left alone. */
static void test_lo_forwarding(void **state)
{
	skip_unless_ready();
	assert_int_equal(lo_forwarding(0), '0');
	struct fastpath_opts o = opts_for(FASTPATH_XDP_NATIVE, IF0, NULL);
	struct fastpath *fp = open_ok(&o);
	assert_int_equal(lo_forwarding(0), '1');
	assert_int_equal(lo_forwarding(1), '1');
	char path[128], buf[8] = "";
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", IF0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_int_equal(buf[0], '0');
	close_fp(fp);
	assert_int_equal(lo_forwarding(0), '0');
	assert_int_equal(lo_forwarding(1), '0');
}

static void set_lo_forwarding(const char *v)
{
	for (unsigned k = 0; k < 2; k++) {
		FILE *f = fopen(k ? "/proc/sys/net/ipv6/conf/lo/forwarding" : "/proc/sys/net/ipv4/conf/lo/forwarding",
		                "w");
		assert_non_null(f);
		fputs(v, f);
		fclose(f);
	}
}

/* Under systemd's ProtectKernelTunables=yes /proc/sys is read-only: with
 * the sysctls already set (sysctl.d), the fast path attaches without
 * writing them, and leaves them set. A child in its own mount namespace
 * sees /proc/sys read-only. */
static void test_lo_forwarding_read_only(void **state)
{
	skip_unless_ready();
	set_lo_forwarding("1");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("/proc/sys", "/proc/sys", NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			_exit(2);
		FILE *f = fopen("/proc/sys/net/ipv4/conf/lo/forwarding", "w");
		if (f) /* the mount must really be read-only */
			_exit(3);
		struct fastpath *fp = NULL;
		struct fastpath_opts o = opts_for(FASTPATH_XDP_NATIVE, IF0, NULL);
		int rc = fastpath_open(&o, &fp);
		fastpath_close(fp);
		_exit(rc == 0 ? 0 : 4);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(lo_forwarding(0), '1');
	set_lo_forwarding("0");
}

static void test_xdp_native(void **state)
{
	check_xdp(FASTPATH_XDP_NATIVE, FASTPATH_ATT_XDP_NATIVE, XDP_ATTACHED_DRV);
}

static void test_xdp_generic(void **state)
{
	check_xdp(FASTPATH_XDP_GENERIC, FASTPATH_ATT_XDP_GENERIC, XDP_ATTACHED_SKB);
}

/* veth has native XDP: auto and xdp take it. */
static void test_auto_picks_native(void **state)
{
	check_xdp(FASTPATH_AUTO, FASTPATH_ATT_XDP_NATIVE, XDP_ATTACHED_DRV);
	check_xdp(FASTPATH_XDP, FASTPATH_ATT_XDP_NATIVE, XDP_ATTACHED_DRV);
}

static void test_tc(void **state)
{
	char name[BPF_OBJ_NAME_LEN];
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_TC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	assert_int_equal(fastpath_nifs(fp), 1);
	assert_int_equal(fastpath_if_mode(fp, 0), FASTPATH_ATT_TC);
	/* Linux >= 6.6: a tcx link, not a clsact filter. */
	assert_int_equal(tcx_count(ifidx0, name, sizeof(name)), 1);
	assert_string_equal(name, FP_ABI_PROG_TC);
	assert_int_equal(tc_filter(ifidx0), 0);
	assert_int_equal(xdp_mode(ifidx0, NULL, 0), XDP_ATTACHED_NONE);
	close_fp(fp);
	assert_bare(ifidx0);
}

/* The clsact fallback (kernels without tcx), driven directly: attached at
 * the fixed handle, removed by close. */
static void test_tc_netlink_fallback(void **state)
{
	char name[BPF_OBJ_NAME_LEN];
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_TC, IF1, NULL);
	struct fastpath *fp = open_ok(&o);
	struct fp_if f = {.ifindex = ifidx0, .link_fd = -1};

	snprintf(f.name, sizeof(f.name), IF0);
	assert_int_equal(attach_tc_netlink(fp, &f), 0);
	uint32_t id = tc_filter(ifidx0);
	assert_true(id != 0);
	prog_name(id, name, sizeof(name));
	assert_string_equal(name, FP_ABI_PROG_TC);
	detach_if(&f);
	assert_int_equal(tc_filter(ifidx0), 0);
	close_fp(fp);
	assert_bare(ifidx0);
	assert_bare(ifidx1);
}

/* A clsact filter a crashed ternd left (a program named tern_fp_tc at our
 * handle and priority) is removed at start; a filter of another program at
 * that place is not. */
static void test_tc_stale_removed(void **state)
{
	skip_unless_ready();
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifidx0, .attach_point = BPF_TC_INGRESS);
	int rc = bpf_tc_hook_create(&hook);
	assert_true(rc == 0 || rc == -EEXIST);
	LIBBPF_OPTS(bpf_tc_opts, to, .handle = FP_TC_HANDLE, .priority = FP_TC_PRIO, .prog_fd = stale_tc_fd);
	assert_int_equal(bpf_tc_attach(&hook, &to), 0);
	assert_true(tc_filter(ifidx0) != 0);

	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);
	assert_int_equal(tc_filter(ifidx0), 0);
	close_fp(fp);
	assert_bare(ifidx0);
}

/* Another XDP program on the interface stays; that interface fails, the
 * others attach. */
static void test_not_replaced(void **state)
{
	char name[BPF_OBJ_NAME_LEN];
	struct fastpath *fp = NULL;
	skip_unless_ready();

	static const uint32_t foreign_modes[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
	for (size_t k = 0; k < 2; k++) {
		uint8_t kmode = foreign_modes[k] == XDP_FLAGS_DRV_MODE ? XDP_ATTACHED_DRV : XDP_ATTACHED_SKB;
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = foreign_modes[k]);
		foreign_link = bpf_link_create(pass_fd, ifidx0, BPF_XDP, &lo);
		assert_true(foreign_link >= 0);

		static const enum fastpath_mode modes[] = {FASTPATH_XDP_NATIVE, FASTPATH_XDP_GENERIC,
		                                           FASTPATH_XDP, FASTPATH_AUTO};
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			struct fastpath_opts o = opts_for(modes[i], IF0, NULL);
			int rc = fastpath_open(&o, &fp);
			track(fp);
			assert_true(rc == -EBUSY || rc == -EEXIST);
			assert_null(fp);
			assert_int_equal(xdp_mode(ifidx0, name, sizeof(name)), kmode);
			assert_string_equal(name, FP_ABI_PROG_PASS);
			/* Not moved to TC behind someone's back either. */
			assert_int_equal(tcx_count(ifidx0, NULL, 0), 0);
		}

		struct fastpath_opts o = opts_for(FASTPATH_AUTO, IF0, IF1);
		fp = open_ok(&o);
		assert_int_equal(fastpath_nifs(fp), 1);
		assert_string_equal(fastpath_ifname(fp, 0), IF1);
		assert_int_equal(fastpath_if_mode(fp, 0), FASTPATH_ATT_XDP_NATIVE);
		assert_int_equal(xdp_mode(ifidx0, name, sizeof(name)), kmode);
		assert_string_equal(name, FP_ABI_PROG_PASS);
		assert_int_equal(xdp_mode(ifidx1, name, sizeof(name)), XDP_ATTACHED_DRV);
		assert_string_equal(name, FP_ABI_PROG_XDP);
		close_fp(fp);
		fp = NULL;
		/* Ours gone, theirs still there. */
		assert_bare(ifidx1);
		assert_int_equal(xdp_mode(ifidx0, NULL, 0), kmode);
		close(foreign_link);
		foreign_link = -1;
		assert_bare(ifidx0);
	}
}

static void test_force_fail(void **state)
{
	struct fastpath *fp = (struct fastpath *)&fp;
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_AUTO, IF0, IF1);
	o.force_fail = true;
	int rc = fastpath_open(&o, &fp);
	track(fp);
	assert_int_equal(rc, -EPERM);
	assert_null(fp);
	assert_bare(ifidx0);
	assert_bare(ifidx1);
}

static void test_no_such_interface(void **state)
{
	struct fastpath *fp = NULL;
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_AUTO, "tfp-none", NULL);
	int rc = fastpath_open(&o, &fp);
	track(fp);
	assert_int_equal(rc, -ENODEV);
	assert_null(fp);

	/* A missing one beside a real one; a name given twice counts once. */
	o = opts_for(FASTPATH_AUTO, "tfp-none", IF0);
	o.ifnames[o.nifs++] = IF0;
	fp = open_ok(&o);
	assert_int_equal(fastpath_nifs(fp), 1);
	assert_string_equal(fastpath_ifname(fp, 0), IF0);
	assert_int_equal(fastpath_if_mode(fp, 0), FASTPATH_ATT_XDP_NATIVE);
	close_fp(fp);
	assert_bare(ifidx0);
}

/* Interfaces from addresses: open in generic XDP, return the set. */
static unsigned derive(const char *const *addrs, unsigned n, bool *has0, bool *has1, int *rc)
{
	union tern_addr a[4];
	struct fastpath *fp = NULL;
	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, NULL, NULL);

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(addr_parse(&a[i], addrs[i], 3478), 0);
	o.addrs = a;
	o.naddrs = n;
	*has0 = *has1 = false;
	*rc = fastpath_open(&o, &fp);
	if (*rc < 0)
		return 0;
	track(fp);
	unsigned nifs = fastpath_nifs(fp);
	for (unsigned i = 0; i < nifs; i++) {
		const char *name = fastpath_ifname(fp, i);
		assert_int_equal(fastpath_if_mode(fp, i), FASTPATH_ATT_XDP_GENERIC);
		if (strcmp(name, IF0) == 0)
			*has0 = true;
		else if (strcmp(name, IF1) == 0)
			*has1 = true;
		else
			fail_msg("attached to %s", name); /* lo above all */
	}
	assert_int_equal(xdp_mode(ifidx0, NULL, 0), *has0 ? XDP_ATTACHED_SKB : XDP_ATTACHED_NONE);
	assert_int_equal(xdp_mode(ifidx1, NULL, 0), *has1 ? XDP_ATTACHED_SKB : XDP_ATTACHED_NONE);
	close_fp(fp);
	assert_bare(ifidx0);
	assert_bare(ifidx1);
	return nifs;
}

static void test_derive_from_addrs(void **state)
{
	bool h0, h1;
	int rc;
	skip_unless_ready();

	const char *v4[] = {"198.18.0.2:3478"};
	assert_int_equal(derive(v4, 1, &h0, &h1, &rc), 1);
	assert_true(!h0 && h1);

	const char *v6[] = {"[2001:2::1]:3478"};
	assert_int_equal(derive(v6, 1, &h0, &h1, &rc), 1);
	assert_true(h0 && !h1);

	/* A dual-stack listener's IPv4 address, written IPv4-mapped. */
	const char *mapped[] = {"[::ffff:198.18.0.1]:3478"};
	assert_int_equal(derive(mapped, 1, &h0, &h1, &rc), 1);
	assert_true(h0 && !h1);

	const char *both[] = {"198.18.0.1:3478", "[2001:2::2]:50000", "[2001:2::1]:3478"};
	assert_int_equal(derive(both, 3, &h0, &h1, &rc), 2);
	assert_true(h0 && h1);

	/* Wildcard: every interface up, loopback excluded. */
	const char *any[] = {"0.0.0.0:3478"};
	assert_int_equal(derive(any, 1, &h0, &h1, &rc), 2);
	assert_true(h0 && h1);
	assert_int_equal(sh("ip link set " IF1 " down"), 0);
	assert_int_equal(derive(any, 1, &h0, &h1, &rc), 1);
	assert_true(h0 && !h1);
	assert_int_equal(sh("ip link set " IF1 " up"), 0);

	/* Held by no interface here. */
	const char *none[] = {"198.19.255.1:3478"};
	assert_int_equal(derive(none, 1, &h0, &h1, &rc), 0);
	assert_int_equal(rc, -ENODEV);
	assert_bare(ifidx0);
	assert_bare(ifidx1);
}

static void mapping(struct fastpath_mapping *m, const char *client, const char *local, const char *relay,
                    const char *peer, uint16_t channel)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(addr_parse(&m->client, client, 0), 0);
	assert_int_equal(addr_parse(&m->local, local, 0), 0);
	assert_int_equal(addr_parse(&m->relay, relay, 0), 0);
	assert_int_equal(addr_parse(&m->peer, peer, 0), 0);
	m->channel = channel;
}

/* The ABI's key written out by hand: ::ffff:a.b.c.d or the IPv6 bytes. */
static void ip16(const char *ip, uint8_t out[16])
{
	struct in_addr v4;
	memset(out, 0, 16);
	if (inet_pton(AF_INET, ip, &v4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, out), 1);
	}
}

static struct fp_slot slot_in_kernel(struct fastpath *fp, uint32_t slot)
{
	struct fp_slot s;
	assert_int_equal(bpf_map_lookup_elem(fp->slots_fd, &slot, &s), 0);
	return s;
}

static bool client_key_present(struct fastpath *fp, const char *client, uint16_t cport, const char *local,
                               uint16_t lport, uint16_t channel, struct fp_client_val *v)
{
	struct fp_client_key k;
	struct fp_client_val dummy;
	memset(&k, 0, sizeof(k));
	ip16(client, k.client);
	ip16(local, k.local);
	k.client_port = htons(cport);
	k.local_port = htons(lport);
	k.channel = htons(channel);
	return bpf_map_lookup_elem(fp->client_fd, &k, v ? v : &dummy) == 0;
}

static bool peer_key_present(struct fastpath *fp, const char *peer, uint16_t pport, const char *relay,
                             uint16_t rport, struct fp_peer_val *v)
{
	struct fp_peer_key k;
	struct fp_peer_val dummy;
	memset(&k, 0, sizeof(k));
	ip16(peer, k.peer);
	ip16(relay, k.relay);
	k.peer_port = htons(pport);
	k.relay_port = htons(rport);
	return bpf_map_lookup_elem(fp->peer_fd, &k, v ? v : &dummy) == 0;
}

static void test_map_round_trip(void **state)
{
	struct fastpath_mapping m;
	struct fp_client_val cv;
	struct fp_peer_val pv;
	struct fastpath_counts c;
	uint32_t slot = 99;
	uint8_t b[16];
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	/* Cross-family: IPv4 client, IPv6 relay and peer. */
	mapping(&m, "198.18.0.10:40000", "198.18.0.1:3478", "[2001:2::1]:50000", "[2001:2::20]:6000", 0x4001);
	uint64_t exp = fastpath_now_ns() + 10000000000ull;
	assert_int_equal(fastpath_map_add(fp, 1, &m, exp, &slot), 0);
	assert_true(slot >= 4 && slot < 8); /* worker 1's half of 8 */

	struct fp_slot s = slot_in_kernel(fp, slot);
	assert_true(s.expires_ns == exp);
	assert_true(s.gen != 0);
	assert_true(s.up_packets == 0 && s.down_bytes == 0 && s.last_ns == 0);

	assert_true(client_key_present(fp, "198.18.0.10", 40000, "198.18.0.1", 3478, 0x4001, &cv));
	ip16("2001:2::1", b);
	assert_memory_equal(cv.relay, b, 16);
	ip16("2001:2::20", b);
	assert_memory_equal(cv.peer, b, 16);
	assert_int_equal(ntohs(cv.relay_port), 50000);
	assert_int_equal(ntohs(cv.peer_port), 6000);
	assert_int_equal(cv.slot, slot);
	assert_int_equal(cv.gen, s.gen);

	assert_true(peer_key_present(fp, "2001:2::20", 6000, "2001:2::1", 50000, &pv));
	ip16("198.18.0.10", b);
	assert_memory_equal(pv.client, b, 16);
	ip16("198.18.0.1", b);
	assert_memory_equal(pv.local, b, 16);
	assert_int_equal(ntohs(pv.client_port), 40000);
	assert_int_equal(ntohs(pv.local_port), 3478);
	assert_int_equal(ntohs(pv.channel), 0x4001);
	assert_int_equal(pv.slot, slot);
	assert_int_equal(pv.gen, s.gen);
	/* The channel is in the client key only. */
	assert_false(client_key_present(fp, "198.18.0.10", 40000, "198.18.0.1", 3478, 0x4002, NULL));

	/* A refresh goes through the mmap, seen by the kernel. */
	fastpath_map_expire(fp, slot, exp + 5);
	assert_true(slot_in_kernel(fp, slot).expires_ns == exp + 5);

	/* Counters as the program would leave them, read back through the mmap. */
	s = slot_in_kernel(fp, slot);
	s.up_packets = 3;
	s.up_bytes = 300;
	s.down_packets = 2;
	s.down_bytes = 123;
	s.last_ns = 77;
	assert_int_equal(bpf_map_update_elem(fp->slots_fd, &slot, &s, BPF_ANY), 0);
	fastpath_map_read(fp, slot, &c);
	assert_true(c.up_packets == 3 && c.up_bytes == 300 && c.down_packets == 2 && c.down_bytes == 123 &&
	            c.last_ns == 77);

	uint32_t gen = s.gen;
	memset(&c, 0, sizeof(c));
	fastpath_map_del(fp, 1, slot, &m, &c);
	assert_true(c.up_packets == 3 && c.up_bytes == 300 && c.down_packets == 2 && c.down_bytes == 123 &&
	            c.last_ns == 77);
	assert_false(client_key_present(fp, "198.18.0.10", 40000, "198.18.0.1", 3478, 0x4001, NULL));
	assert_false(peer_key_present(fp, "2001:2::20", 6000, "2001:2::1", 50000, NULL));
	assert_true(slot_in_kernel(fp, slot).expires_ns == 0);

	/* The slot comes back with a new generation and clean counters. */
	uint32_t again;
	mapping(&m, "[2001:2::30]:1000", "[2001:2::1]:3478", "198.18.0.1:50001", "198.18.0.40:7000", 0x7fff);
	assert_int_equal(fastpath_map_add(fp, 1, &m, exp, &again), 0);
	assert_int_equal(again, slot);
	s = slot_in_kernel(fp, slot);
	assert_int_equal(s.gen, gen + 1);
	assert_true(s.up_packets == 0 && s.up_bytes == 0 && s.down_packets == 0 && s.down_bytes == 0 &&
	            s.last_ns == 0);
	assert_true(client_key_present(fp, "2001:2::30", 1000, "2001:2::1", 3478, 0x7fff, &cv));
	assert_int_equal(cv.gen, gen + 1);
	assert_true(peer_key_present(fp, "198.18.0.40", 7000, "198.18.0.1", 50001, &pv));
	ip16("198.18.0.1", b);
	assert_memory_equal(cv.relay, b, 16);

	/* Deleting on the wrong worker, or twice, changes nothing. */
	fastpath_map_del(fp, 0, slot, &m, NULL);
	assert_true(client_key_present(fp, "2001:2::30", 1000, "2001:2::1", 3478, 0x7fff, NULL));
	fastpath_map_del(fp, 1, slot, &m, NULL);
	fastpath_map_del(fp, 1, slot, &m, NULL);
	assert_false(client_key_present(fp, "2001:2::30", 1000, "2001:2::1", 3478, 0x7fff, NULL));
	close_fp(fp);
}

static void nth_mapping(struct fastpath_mapping *m, unsigned i)
{
	char client[64], relay[64];
	snprintf(client, sizeof(client), "198.18.1.%u:%u", i + 1, 40000 + i);
	snprintf(relay, sizeof(relay), "198.18.0.1:%u", 50000 + i);
	mapping(m, client, "198.18.0.1:3478", relay, "198.18.2.1:6000", 0x4000);
}

static void test_map_exhaustion(void **state)
{
	struct fastpath_mapping m;
	uint32_t slot, got[8];
	bool seen[8] = {false};
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);
	uint64_t exp = fastpath_now_ns() + 10000000000ull;

	for (unsigned w = 0; w < 2; w++) {
		for (unsigned i = 0; i < 4; i++) {
			nth_mapping(&m, w * 4 + i);
			assert_int_equal(fastpath_map_add(fp, w, &m, exp, &got[w * 4 + i]), 0);
			assert_true(got[w * 4 + i] / 4 == w); /* its own range */
			assert_false(seen[got[w * 4 + i]]);
			seen[got[w * 4 + i]] = true;
		}
		nth_mapping(&m, 100 + w);
		assert_int_equal(fastpath_map_add(fp, w, &m, exp, &slot), -ENOSPC);
		assert_false(client_key_present(fp, "198.18.1.101", 40100, "198.18.0.1", 3478, 0x4000, NULL));
	}
	/* One freed on worker 0: worker 0 may add one, worker 1 still none. */
	nth_mapping(&m, 2);
	fastpath_map_del(fp, 0, got[2], &m, NULL);
	nth_mapping(&m, 100);
	assert_int_equal(fastpath_map_add(fp, 1, &m, exp, &slot), -ENOSPC);
	assert_int_equal(fastpath_map_add(fp, 0, &m, exp, &slot), 0);
	assert_int_equal(slot, got[2]);
	assert_int_equal(fastpath_map_add(fp, 0, &m, exp, &slot), -ENOSPC);
	/* Bad arguments. */
	assert_int_equal(fastpath_map_add(fp, 2, &m, exp, &slot), -EINVAL);
	close_fp(fp);
}

static void test_map_duplicate(void **state)
{
	struct fastpath_mapping m1, m2;
	struct fp_client_val cv;
	struct fp_peer_val pv;
	uint32_t s1, s;
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);
	uint64_t exp = fastpath_now_ns() + 10000000000ull;

	mapping(&m1, "198.18.0.10:40000", "198.18.0.1:3478", "198.18.0.1:50000", "198.18.0.20:6000", 0x4001);
	assert_int_equal(fastpath_map_add(fp, 0, &m1, exp, &s1), 0);

	/* Same client key, another peer: refused, the peer key not left behind. */
	mapping(&m2, "198.18.0.10:40000", "198.18.0.1:3478", "198.18.0.1:50001", "198.18.0.21:6001", 0x4001);
	assert_int_equal(fastpath_map_add(fp, 0, &m2, exp, &s), -EEXIST);
	assert_false(peer_key_present(fp, "198.18.0.21", 6001, "198.18.0.1", 50001, NULL));
	/* Same peer key, another client: refused, the client key rolled back. */
	mapping(&m2, "198.18.0.11:40000", "198.18.0.1:3478", "198.18.0.1:50000", "198.18.0.20:6000", 0x4002);
	assert_int_equal(fastpath_map_add(fp, 0, &m2, exp, &s), -EEXIST);
	assert_false(client_key_present(fp, "198.18.0.11", 40000, "198.18.0.1", 3478, 0x4002, NULL));

	/* The first mapping is intact. */
	assert_true(client_key_present(fp, "198.18.0.10", 40000, "198.18.0.1", 3478, 0x4001, &cv));
	assert_true(peer_key_present(fp, "198.18.0.20", 6000, "198.18.0.1", 50000, &pv));
	assert_int_equal(cv.slot, s1);
	assert_int_equal(pv.slot, s1);
	assert_true(slot_in_kernel(fp, s1).expires_ns == exp);
	for (uint32_t i = 0; i < 8; i++) {
		if (i != s1)
			assert_true(slot_in_kernel(fp, i).expires_ns == 0);
	}
	/* No slot leaked: worker 0 still has its other three. */
	for (unsigned i = 0; i < 3; i++) {
		nth_mapping(&m2, i);
		assert_int_equal(fastpath_map_add(fp, 0, &m2, exp, &s), 0);
	}
	nth_mapping(&m2, 3);
	assert_int_equal(fastpath_map_add(fp, 0, &m2, exp, &s), -ENOSPC);

	/* Deleting with another mapping's keys leaves that mapping alone. */
	mapping(&m2, "198.18.0.10:40000", "198.18.0.1:3478", "198.18.0.1:50000", "198.18.0.20:6000", 0x4001);
	nth_mapping(&m1, 0);
	assert_true(client_key_present(fp, "198.18.1.1", 40000, "198.18.0.1", 3478, 0x4000, &cv));
	fastpath_map_del(fp, 0, cv.slot, &m2, NULL);
	assert_true(client_key_present(fp, "198.18.0.10", 40000, "198.18.0.1", 3478, 0x4001, NULL));
	close_fp(fp);
}

static void test_stats_zero(void **state)
{
	uint64_t st[FASTPATH_STATS], run_ns = 1, run_cnt = 1;
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_AUTO, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	memset(st, 0xff, sizeof(st));
	assert_int_equal(fastpath_stats(fp, st), 0);
	for (unsigned i = 0; i < FASTPATH_STATS; i++)
		assert_true(st[i] == 0);
	/* The sum is real: a count written on one CPU shows up. */
	int ncpu = libbpf_num_possible_cpus();
	assert_true(ncpu > 0);
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	assert_non_null(v);
	v[0] = 5;
	v[ncpu - 1] += 7;
	uint32_t k = FP_ST_PASS_STALE;
	assert_int_equal(bpf_map_update_elem(fp->stats_fd, &k, v, BPF_ANY), 0);
	free(v);
	assert_int_equal(fastpath_stats(fp, st), 0);
	assert_true(st[FP_ST_PASS_STALE] == 12);
	assert_true(st[FP_ST_TO_PEER] == 0);

	assert_int_equal(fastpath_prog_stats(fp, &run_ns, &run_cnt), 0);
	close_fp(fp);
}

/* The kernel's accounting, read back: runs of the XDP program (driven with
 * BPF_PROG_TEST_RUN while BPF_ENABLE_STATS holds stats on) are counted. */
static void test_prog_stats(void **state)
{
	uint64_t run_ns = 0, run_cnt = 0, ns2 = 0, cnt2 = 0;
	uint8_t frame[64];
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_XDP_NATIVE, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0) {
		close_fp(fp);
		print_message("fastpath: prog stats skipped: BPF_ENABLE_STATS: %s\n", strerror(-stats));
		skip();
	}
	assert_int_equal(fastpath_prog_stats(fp, &run_ns, &run_cnt), 0);
	memset(frame, 0, sizeof(frame));
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = frame, .data_size_in = sizeof(frame), .repeat = 10);
	int rc = bpf_prog_test_run_opts(fp->xdp_fd, &t);
	close(stats);
	assert_int_equal(rc, 0);
	assert_int_equal(t.retval, XDP_PASS); /* a zeroed frame: not ours */
	assert_int_equal(fastpath_prog_stats(fp, &ns2, &cnt2), 0);
	assert_true(cnt2 >= run_cnt + 10);
	assert_true(ns2 > run_ns);
	close_fp(fp);
}

static void test_heartbeat(void **state)
{
	struct fp_ctl c;
	uint32_t zero = 0;
	skip_unless_ready();
	struct fastpath_opts o = opts_for(FASTPATH_XDP_GENERIC, IF0, NULL);
	struct fastpath *fp = open_ok(&o);

	uint64_t now = fastpath_now_ns();
	assert_int_equal(bpf_map_lookup_elem(fp->ctl_fd, &zero, &c), 0);
	assert_true(c.alive_until_ns > now);
	assert_true(c.alive_until_ns <= now + FP_GRACE_NS);
	uint64_t first = c.alive_until_ns;

	/* The coarse clock ticks every few ms. */
	struct timespec ts = {0, 30 * 1000 * 1000};
	nanosleep(&ts, NULL);
	fastpath_heartbeat(fp);
	assert_int_equal(bpf_map_lookup_elem(fp->ctl_fd, &zero, &c), 0);
	assert_true(c.alive_until_ns > first);

	/* Close stops relaying first: the map, kept alive by our fd, says 0. */
	int ctl = dup(fp->ctl_fd);
	assert_true(ctl >= 0);
	close_fp(fp);
	assert_int_equal(bpf_map_lookup_elem(ctl, &zero, &c), 0);
	assert_true(c.alive_until_ns == 0);
	close(ctl);
}

/* A ternd killed with everything attached leaves nothing attached: links
 * die with the process. */
static void test_killed_owner_detaches(void **state)
{
	char name[BPF_OBJ_NAME_LEN];
	int p[2];
	skip_unless_ready();
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fastpath *a = NULL, *b = NULL;
		struct fastpath_opts oa = opts_for(FASTPATH_XDP_NATIVE, IF0, NULL);
		struct fastpath_opts ob = opts_for(FASTPATH_TC, IF1, NULL);
		char ok = fastpath_open(&oa, &a) == 0 && fastpath_open(&ob, &b) == 0 ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char ok = 0;
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	if (ok != 'y') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("child could not open the fast path");
	}
	assert_int_equal(xdp_mode(ifidx0, name, sizeof(name)), XDP_ATTACHED_DRV);
	assert_string_equal(name, FP_ABI_PROG_XDP);
	assert_int_equal(tcx_count(ifidx1, name, sizeof(name)), 1);
	assert_string_equal(name, FP_ABI_PROG_TC);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	/* Link release can trail the exit a little. */
	for (int i = 0; i < 100; i++) {
		if (xdp_mode(ifidx0, NULL, 0) == XDP_ATTACHED_NONE && tcx_count(ifidx1, NULL, 0) == 0)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_bare(ifidx0);
	assert_bare(ifidx1);
}

static void test_names(void **state)
{
	assert_string_equal(fastpath_attach_name(FASTPATH_ATT_XDP_NATIVE), "xdp-native");
	assert_string_equal(fastpath_attach_name(FASTPATH_ATT_XDP_GENERIC), "xdp-generic");
	assert_string_equal(fastpath_attach_name(FASTPATH_ATT_TC), "tc");
	assert_string_equal(fastpath_attach_name(FASTPATH_ATT_NONE), "none");
	assert_int_equal(fastpath_nifs(NULL), 0);
	assert_null(fastpath_ifname(NULL, 0));
	fastpath_close(NULL);
	struct fastpath *fp = NULL;
	struct fastpath_opts o = opts_for(FASTPATH_OFF, IF0, NULL);
	assert_int_equal(fastpath_open(&o, &fp), -EINVAL);
	o = opts_for(FASTPATH_AUTO, IF0, NULL);
	o.max_mappings = 0;
	assert_int_equal(fastpath_open(&o, &fp), -EINVAL);
	assert_null(fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_names, teardown),
	    cmocka_unit_test_teardown(test_lo_forwarding, teardown),
	    cmocka_unit_test_teardown(test_lo_forwarding_read_only, teardown),
	    cmocka_unit_test_teardown(test_xdp_native, teardown),
	    cmocka_unit_test_teardown(test_xdp_generic, teardown),
	    cmocka_unit_test_teardown(test_auto_picks_native, teardown),
	    cmocka_unit_test_teardown(test_tc, teardown),
	    cmocka_unit_test_teardown(test_tc_netlink_fallback, teardown),
	    cmocka_unit_test_teardown(test_tc_stale_removed, teardown),
	    cmocka_unit_test_teardown(test_not_replaced, teardown),
	    cmocka_unit_test_teardown(test_force_fail, teardown),
	    cmocka_unit_test_teardown(test_no_such_interface, teardown),
	    cmocka_unit_test_teardown(test_derive_from_addrs, teardown),
	    cmocka_unit_test_teardown(test_map_round_trip, teardown),
	    cmocka_unit_test_teardown(test_map_exhaustion, teardown),
	    cmocka_unit_test_teardown(test_map_duplicate, teardown),
	    cmocka_unit_test_teardown(test_stats_zero, teardown),
	    cmocka_unit_test_teardown(test_prog_stats, teardown),
	    cmocka_unit_test_teardown(test_heartbeat, teardown),
	    cmocka_unit_test_teardown(test_killed_owner_detaches, teardown),
	};
	/* libbpf's own warnings (a missing clsact qdisc on a query) are noise
	 * here; the loader routes them to its debug log itself. */
	libbpf_set_print(libbpf_quiet);
	skip_why = net_setup();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	bpf_object__close(foreign);
	return rc;
}

#else /* !TERN_HAVE_BPF */

static void test_not_built(void **state)
{
	struct fastpath *fp = NULL;
	struct fastpath_opts o;
	memset(&o, 0, sizeof(o));
	o.mode = FASTPATH_AUTO;
	assert_int_equal(fastpath_open(&o, &fp), -EOPNOTSUPP);
	assert_null(fp);
	print_message("fastpath: skipped: %s\n", fastpath_strerror(-EOPNOTSUPP));
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_built),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
