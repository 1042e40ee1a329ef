#include "turnc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Ports: tests run in parallel (ctest -j), each server needs a listening port
 * and a relay range that nobody else uses. The range 10000..29999 lies below
 * Linux's ephemeral ports (32768+), so our own client sockets never land in
 * it; it is cut into blocks of 64, and a block is taken by flock() on a file
 * in a shared directory (released when the server stops or the test dies)
 * after checking that every port in it is free right now. */
#define PORT_LO     10000
#define PORT_HI     30000
#define PORT_BLOCK  64
#define LOCK_DIR    "/tmp/tern-it-ports"
#define MAX_ARGS    128
#define MAX_SERVERS 8
/* Bound on start-up and shutdown. Generous: sanitizer builds on a loaded CI
 * machine start slowly. Not a speed assertion. */
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  5000
/* Under TERN_IT_WRAPPER (valgrind: 20-50x slower, and a leak check at exit)
 * both bounds are this many times longer. */
#define WRAPPER_SLOWDOWN 12

static enum srv_kind g_kind = SRV_TERND;
static const char *g_ternd;

/* TERN_IT_WRAPPER="valgrind --tool=memcheck ...": a command ternd is run
 * under (words split on spaces, found through PATH; `make valgrind`). */
static const char *wrapper(void)
{
	const char *w = getenv("TERN_IT_WRAPPER");
	return g_kind == SRV_TERND && w && *w ? w : NULL;
}

static int start_timeout_ms(void)
{
	return wrapper() ? START_TIMEOUT_MS * WRAPPER_SLOWDOWN : START_TIMEOUT_MS;
}

static int stop_timeout_ms(void)
{
	return wrapper() ? STOP_TIMEOUT_MS * WRAPPER_SLOWDOWN : STOP_TIMEOUT_MS;
}

static volatile pid_t g_pids[MAX_SERVERS];

static void register_pid(pid_t pid)
{
	for (unsigned i = 0; i < MAX_SERVERS; i++) {
		if (g_pids[i] == 0) {
			g_pids[i] = pid;
			return;
		}
	}
}

static void unregister_pid(pid_t pid)
{
	for (unsigned i = 0; i < MAX_SERVERS; i++)
		if (g_pids[i] == pid)
			g_pids[i] = 0;
}

void srv_kill_all(void)
{
	/* async-signal-safe: called from the watchdog */
	for (unsigned i = 0; i < MAX_SERVERS; i++) {
		if (g_pids[i] > 0)
			kill(g_pids[i], SIGKILL);
	}
}

static void kill_all_atexit(void)
{
	srv_kill_all();
}

void srv_setup(int argc, char **argv)
{
	const char *e = getenv("TERN_IT_SERVER");

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	atexit(kill_all_atexit);
	if (e && strcmp(e, "coturn") == 0) {
		g_kind = SRV_COTURN;
		tap_diag("server under test: coturn (/usr/bin/turnserver); tern-only checks are skipped");
		return;
	}
	static char path[PATH_MAX];
	g_ternd = argc > 1 ? argv[1] : getenv("TERND");
	/* Absolute: the server is started in its own temp directory. */
	if (g_ternd && realpath(g_ternd, path))
		g_ternd = path;
	if (!g_ternd || access(g_ternd, X_OK) != 0) {
		printf("not ok 1 - ternd binary given (argv[1] or $TERND) is executable: %s\n",
		       g_ternd ? g_ternd : "(none)");
		printf("0 passed, 1 failed\n");
		exit(1);
	}
	tap_diag("server under test: %s", g_ternd);
}

enum srv_kind srv_kind(void)
{
	return g_kind;
}
bool srv_is_coturn(void)
{
	return g_kind == SRV_COTURN;
}

/* ---- ports ---- */

static bool port_busy(int family, int type, uint16_t port)
{
	union tern_addr a = it_addr(family == AF_INET6 ? "::1" : "127.0.0.1", port);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	bool busy = false;
	if (fd < 0)
		return false;
	if (bind(fd, &a.sa, addr_len(&a)) < 0 && errno == EADDRINUSE)
		busy = true;
	close(fd);
	return busy;
}

static bool block_free(uint16_t base)
{
	for (unsigned p = base; p < (unsigned)base + PORT_BLOCK; p++) {
		if (port_busy(AF_INET, SOCK_DGRAM, (uint16_t)p) ||
		    port_busy(AF_INET6, SOCK_DGRAM, (uint16_t)p) ||
		    port_busy(AF_INET, SOCK_STREAM, (uint16_t)p) ||
		    port_busy(AF_INET6, SOCK_STREAM, (uint16_t)p))
			return false;
	}
	return true;
}

static int lock_block(uint16_t *base)
{
	unsigned nblocks = (PORT_HI - PORT_LO) / PORT_BLOCK;
	unsigned start = (unsigned)getpid() * 7919u + (unsigned)time(NULL);

	if (mkdir(LOCK_DIR, 01777) == 0)
		chmod(LOCK_DIR, 01777); /* shared by every user's test runs; umask would narrow it */
	else if (errno != EEXIST)
		return -errno;
	for (unsigned i = 0; i < nblocks; i++) {
		unsigned b = (start + i) % nblocks;
		char path[64];
		snprintf(path, sizeof(path), LOCK_DIR "/%u", b);
		/* Read-only is enough for flock and works on another user's file. */
		int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			continue;
		}
		uint16_t p = (uint16_t)(PORT_LO + b * PORT_BLOCK);
		if (!block_free(p)) {
			close(fd);
			continue;
		}
		*base = p;
		return fd;
	}
	return -EADDRINUSE;
}

/* ---- arguments ---- */

struct argv_buf {
	char *v[MAX_ARGS + 1];
	unsigned n;
	char store[MAX_ARGS][256];
};

static void arg(struct argv_buf *a, const char *s)
{
	if (a->n >= MAX_ARGS) {
		fprintf(stderr, "server: too many arguments\n");
		abort();
	}
	snprintf(a->store[a->n], sizeof(a->store[0]), "%s", s);
	a->v[a->n] = a->store[a->n];
	a->n++;
	a->v[a->n] = NULL;
}

static void arg2(struct argv_buf *a, const char *name, const char *val)
{
	arg(a, name);
	arg(a, val);
}

static bool opt_is(const char *word, const char *name)
{
	size_t n = strlen(name);
	return strncmp(word, name, n) == 0 && (word[n] == 0 || word[n] == '=');
}

static bool has_opt(const char *const *args, const char *name)
{
	for (; args && *args; args++)
		if (opt_is(*args, name))
			return true;
	return false;
}

/* tern options coturn does not know, with whether they take a value. */
static const struct {
	const char *name;
	bool value;
} tern_only[] = {
    {"--default-allocate-lifetime", true},
    {"--sha256", false},
    {"--check-config", false},
};

/* Copy the test's options, translated for coturn where names differ. */
/* The port block of the server being started (for "@BASE+N" words). */
static uint16_t g_base;

static void add_test_args(struct argv_buf *a, const char *const *args)
{
	for (unsigned i = 0; args && args[i]; i++) {
		const char *w = args[i];
		char word[256];
		const char *at = strstr(w, "@BASE+");
		if (at) {
			/* "@BASE+N", or inside a word: "127.0.0.1:@BASE+0" */
			size_t len = (size_t)(at - w) < 200 ? (size_t)(at - w) : 200;
			char num[8];
			snprintf(num, sizeof(num), "%u", (g_base + (unsigned)atoi(at + 6)) & 0xffffu);
			memcpy(word, w, len);
			memcpy(word + len, num, strlen(num) + 1);
			w = word;
		}
		if (g_kind == SRV_COTURN) {
			bool dropped = false;
			for (unsigned k = 0; k < sizeof(tern_only) / sizeof(tern_only[0]); k++) {
				if (!opt_is(w, tern_only[k].name))
					continue;
				bool sep = tern_only[k].value && !strchr(w, '=') && args[i + 1];
				tap_diag("coturn: dropping tern-only option %s%s%s", w, sep ? " " : "",
				         sep ? args[i + 1] : "");
				if (sep)
					i++;
				dropped = true;
			}
			if (dropped)
				continue;
			if (opt_is(w, "--workers")) {
				arg(a, "--relay-threads");
				if (!strchr(w, '=') && args[i + 1])
					arg(a, args[++i]);
				else
					arg(a, strchr(w, '=') + 1);
				continue;
			}
			/* Several coturn options take an optional argument that getopt
			 * only sees in the "--name=value" form. */
			if (strncmp(w, "--", 2) == 0 && !strchr(w, '=') && args[i + 1] &&
			    args[i + 1][0] != '-') {
				char joined[600];
				snprintf(joined, sizeof(joined), "%s=%s", w, args[++i]);
				arg(a, joined);
				continue;
			}
		}
		arg(a, w);
	}
}

/* ---- process ---- */

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

bool srv_alive(struct srv *s)
{
	int st;
	if (s->pid <= 0)
		return false;
	pid_t r = waitpid(s->pid, &st, WNOHANG);
	if (r == s->pid) {
		s->exit_status = st;
		unregister_pid(s->pid);
		s->pid = -1;
		return false;
	}
	return r == 0;
}

void srv_dump_log(const struct srv *s, int lines)
{
	FILE *f = fopen(s->log, "r");
	char line[512];
	long total = 0, skip;
	if (!f) {
		tap_diag("(no server log at %s)", s->log);
		return;
	}
	while (fgets(line, sizeof(line), f))
		total++;
	skip = total > lines ? total - lines : 0;
	rewind(f);
	tap_diag("---- server log %s (last %ld of %ld lines) ----", s->log, total - skip, total);
	for (long i = 0; fgets(line, sizeof(line), f); i++) {
		if (i < skip)
			continue;
		line[strcspn(line, "\n")] = 0;
		tap_diag("| %s", line);
	}
	fclose(f);
}

static bool answers_binding(const union tern_addr *addr)
{
	struct turnc c;
	static struct turnc_resp r;
	bool ok = false;
	if (turnc_open(&c, addr) < 0)
		return false;
	c.rto_ms = 100;
	c.tries = 1;
	ok = turnc_binding(&c, &r) == 0;
	turnc_close(&c);
	return ok;
}

int srv_start(struct srv *s, unsigned relay_ports, const char *const *args)
{
	static struct argv_buf a;
	uint16_t base = 0;
	char buf[256];
	int rc;

	memset(s, 0, sizeof(*s));
	s->kind = g_kind;
	s->pid = -1;
	s->exit_status = -1;
	s->lock_fd = -1;
	if (relay_ports == 0)
		relay_ports = 48;
	if (relay_ports > PORT_BLOCK - 2)
		relay_ports = PORT_BLOCK - 2;

	snprintf(s->dir, sizeof(s->dir), "/tmp/tern-it-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);

	rc = lock_block(&base);
	if (rc < 0) {
		tap_diag("no free block of %d ports in %d..%d", PORT_BLOCK, PORT_LO, PORT_HI);
		return rc;
	}
	s->lock_fd = rc;
	/* base+1 stays unused: coturn's RFC 5780 alternate port convention. */
	s->port = base;
	s->min_port = (uint16_t)(base + 2);
	s->max_port = (uint16_t)(base + 2 + relay_ports - 1);

	a.n = 0;
	a.v[0] = NULL;
	if (g_kind == SRV_COTURN) {
		arg(&a, "/usr/bin/turnserver");
		arg(&a, "-n");
		arg(&a, "--no-cli");
		arg(&a, "--no-tls");
		arg(&a, "--no-dtls");
		arg(&a, "--no-rfc5780");
		arg(&a, "--simple-log");
		arg2(&a, "--log-file", "stdout");
		snprintf(buf, sizeof(buf), "%s/turndb", s->dir);
		arg2(&a, "--db", buf);
	} else {
		if (wrapper()) {
			char words[1024], *save = NULL;
			snprintf(words, sizeof(words), "%s", wrapper());
			for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
				arg(&a, w);
		}
		arg(&a, g_ternd);
	}
	snprintf(buf, sizeof(buf), "%u", s->port);
	arg2(&a, "--listening-port", buf);
	if (!has_opt(args, "--listening-ip")) {
		arg2(&a, "--listening-ip", "127.0.0.1");
		arg2(&a, "--listening-ip", "::1");
	}
	if (!has_opt(args, "--relay-ip"))
		arg2(&a, "--relay-ip", "127.0.0.1");
	/* ternd's TLS port (used once a test gives --cert): base+1, so that
	 * no test binds the default 5349 */
	s->tls_port = 0;
	if (g_kind == SRV_TERND && !has_opt(args, "--tls-listening-port")) {
		s->tls_port = (uint16_t)(base + 1);
		snprintf(buf, sizeof(buf), "%u", s->tls_port);
		arg2(&a, "--tls-listening-port", buf);
	}
	snprintf(buf, sizeof(buf), "%u", s->min_port);
	arg2(&a, "--min-port", buf);
	snprintf(buf, sizeof(buf), "%u", s->max_port);
	arg2(&a, "--max-port", buf);
	char pidfile[192];
	snprintf(pidfile, sizeof(pidfile), "%s/server.pid", s->dir);
	arg2(&a, "--pidfile", pidfile);
	g_base = base;
	add_test_args(&a, args);

	/* Addresses the tests talk to: the listening ips given (or defaulted). */
	s->addr.sa.sa_family = 0;
	s->addr6.sa.sa_family = 0;
	for (unsigned i = 0; i + 1 < a.n; i++) {
		union tern_addr l;
		const char *v = NULL;
		if (strcmp(a.v[i], "--listening-ip") == 0)
			v = a.v[i + 1];
		else if (strncmp(a.v[i], "--listening-ip=", 15) == 0)
			v = a.v[i] + 15;
		if (!v || addr_parse(&l, v, s->port) < 0)
			continue;
		if (s->addr.sa.sa_family == 0)
			s->addr = l;
		if (l.sa.sa_family == AF_INET6 && s->addr6.sa.sa_family == 0)
			s->addr6 = l;
	}

	{
		char cmd[2048];
		size_t off = 0;
		for (unsigned i = 0; i < a.n && off < sizeof(cmd); i++)
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "%s%s", i ? " " : "", a.v[i]);
		tap_diag("starting: %s", cmd);
	}

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* The server must not outlive a crashed or killed test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		if (chdir(s->dir) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execvp(a.v[0], a.v);
		dprintf(2, "exec %s: %s\n", a.v[0], strerror(errno));
		_exit(127);
	}
	s->pid = pid;
	register_pid(pid);

	int64_t deadline = it_now_ms() + start_timeout_ms();
	while (it_now_ms() < deadline) {
		if (!srv_alive(s)) {
			tap_diag("server exited during start-up (status 0x%x)", s->exit_status);
			srv_dump_log(s, 40);
			s->failed_to_start = true;
			return -ECHILD;
		}
		if (answers_binding(&s->addr))
			return 0;
	}
	tap_diag("server did not answer a Binding request on %s within %d ms", it_fmt(&s->addr),
	         start_timeout_ms());
	srv_dump_log(s, 40);
	s->failed_to_start = true;
	srv_stop(s);
	return -ETIMEDOUT;
}

static void stop_process(struct srv *s)
{
	if (s->pid <= 0 || !srv_alive(s))
		return;
	kill(s->pid, SIGTERM);
	int64_t deadline = it_now_ms() + stop_timeout_ms();
	while (srv_alive(s) && it_now_ms() < deadline)
		it_sleep_ms(10);
	if (s->pid > 0) {
		tap_diag("server pid %d did not exit within %d ms of SIGTERM: SIGKILL", (int)s->pid,
		         stop_timeout_ms());
		kill(s->pid, SIGKILL);
		int st;
		if (waitpid(s->pid, &st, 0) == s->pid)
			s->exit_status = st;
		unregister_pid(s->pid);
		s->pid = -1;
	}
}

static void release(struct srv *s)
{
	if (s->lock_fd < 0)
		return;
	close(s->lock_fd);
	s->lock_fd = -1;
	if (tap_failed() == 0)
		remove_dir(s->dir);
	else
		tap_diag("server files kept in %s", s->dir);
}

int srv_stop(struct srv *s)
{
	stop_process(s);
	release(s);
	return s->exit_status;
}

void srv_stop_check(struct srv *s)
{
	bool was_running = srv_alive(s);
	char what[128];

	stop_process(s);
	int st = s->exit_status;
	if (st >= 0 && WIFEXITED(st))
		snprintf(what, sizeof(what), "exit %d", WEXITSTATUS(st));
	else if (st >= 0 && WIFSIGNALED(st))
		snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(what, sizeof(what), "status %d", st);
	if (g_kind == SRV_COTURN) {
		tap_skip("coturn", "server stopped on SIGTERM (%s)", what);
	} else if (!tap_check(was_running && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	                      "server was running and exited 0 on SIGTERM (%s)", what)) {
		srv_dump_log(s, 40);
	}
	release(s);
}
