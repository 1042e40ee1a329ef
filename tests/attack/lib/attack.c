#include "attack.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/bytes.h"

/* ---- counters ---- */

static char last_json[16384];

const char *at_stats_last_json(void)
{
	return last_json;
}

void at_setup(int argc, char **argv, const char *what, unsigned watchdog_s)
{
	srv_setup(argc, argv);
	if (srv_is_coturn()) {
		printf("ok 1 - %s # SKIP needs ternd's stats socket\n0 passed, 0 failed\n", what);
		exit(0);
	}
	tap_watchdog(watchdog_s);
}

int at_stats_read(const char *path, struct at_stats *st)
{
	static char buf[sizeof(last_json)];
	long len = it_stats_json(path, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	memset(st, 0, sizeof(*st));
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define F(n) {#n, offsetof(struct at_stats, n)}
	    F(rx_client),
	    F(rx_peer),
	    F(relayed_to_peer),
	    F(relayed_to_client),
	    F(dropped),
	    F(dropped_malformed),
	    F(dropped_policy),
	    F(dropped_ratelimit),
	    F(kernel_drops),
	    F(tx_drops),
	    F(allocations),
	    F(allocations_created),
	    F(allocations_deleted),
	    F(allocations_expired),
	    F(auth_failures),
	    F(allocations_total),
	    F(tcp_accepted),
	    F(tcp_closed),
	    F(tcp_connections),
	    F(tcp_refused),
	    F(tcp_timeouts),
	    F(tcp_bad_frames),
	    F(tls_handshakes),
	    F(tls_resumed),
	    F(tls_handshake_failures),
	    F(tls_handshake_timeouts),
	    F(tls_connections),
	    F(tls_refused),
#undef F
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned count;
		*(uint64_t *)((char *)st + fields[i].off) = it_stats_field(buf, fields[i].name, &count);
		if (count == 0) {
			tap_diag("stats: no field \"%s\" in %s", fields[i].name, buf);
			return -ENOENT;
		}
		if (strcmp(fields[i].name, "rx_client") == 0)
			st->workers = count;
	}
	memcpy(last_json, buf, (size_t)len + 1);
	return 0;
}

int at_srv_start(struct at_srv *a, unsigned relay_ports, const char *const *args)
{
	const char *v[128];
	unsigned n = 0;

	snprintf(a->dir, sizeof(a->dir), "/tmp/tern-at-XXXXXX");
	if (!mkdtemp(a->dir))
		return -errno;
	snprintf(a->stats, sizeof(a->stats), "%s/stats.sock", a->dir);
	v[n++] = "--stats-socket";
	v[n++] = a->stats;
	for (; args && *args && n < 126; args++)
		v[n++] = *args;
	v[n] = NULL;
	int rc = srv_start(&a->s, relay_ports, v);
	if (rc < 0)
		return rc;
	/* The socket is opened by the main thread before the workers answer,
	 * but give it the same bounded start-up allowance. */
	struct at_stats st;
	int64_t deadline = it_now_ms() + 5000;
	while ((rc = at_stats_read(a->stats, &st)) < 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (rc < 0)
		tap_diag("stats socket %s does not answer: %s", a->stats, strerror(-rc));
	return rc;
}

void at_srv_stop(struct at_srv *a)
{
	srv_stop_check(&a->s);
	unlink(a->stats);
	rmdir(a->dir);
}

/* ---- /proc ---- */

/* A "Name:   N kB" line of /proc/pid/status, in KiB. */
static long status_kb(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long kb = -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

long at_rss_kb(pid_t pid)
{
	return status_kb(pid, "VmRSS");
}

long at_hwm_kb(pid_t pid)
{
	return status_kb(pid, "VmHWM");
}

int at_hwm_reset(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int rc = fputs("5", f) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

void at_settle(struct turnc *c)
{
	static struct turnc_resp r;
	(void)turnc_binding(c, &r);
}

long at_fd_count(pid_t pid)
{
	char path[64];
	long n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool at_asan(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "libasan") != NULL;
	if (f)
		fclose(f);
	return found;
}

bool at_check_rss(pid_t pid, long grew_kb, long slack_kb, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (at_asan(pid)) {
		tap_skip(
		    "the server runs under ASan, whose quarantine holds freed memory: asserted on release "
		    "builds",
		    "%s: %+ld KiB (tolerance %ld KiB)", what, grew_kb, slack_kb);
		return true;
	}
	return tap_check(grew_kb <= slack_kb, "%s: %+ld KiB (tolerance %ld KiB)", what, grew_kb, slack_kb);
}

/* ---- raw traffic ---- */

size_t at_hdr(uint8_t *buf, uint16_t type, uint16_t length)
{
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	wr16(buf, type);
	wr16(buf + 2, length);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, txid, STUN_TXID_LEN);
	return STUN_HEADER_LEN;
}

size_t at_attr(uint8_t *buf, size_t off, uint16_t type, uint16_t len, const void *val, size_t vlen)
{
	wr16(buf + off, type);
	wr16(buf + off + 2, len);
	if (vlen)
		memcpy(buf + off + 4, val, vlen);
	off += 4 + vlen;
	while (off % 4)
		buf[off++] = 0;
	return off;
}

void at_fix_len(uint8_t *buf, size_t off)
{
	wr16(buf + 2, (uint16_t)(off - STUN_HEADER_LEN));
}

/* Transaction ids of recent fences: a late answer to a retransmitted fence
 * is not an answer to the next batch. */
static uint8_t fence_ids[64][STUN_TXID_LEN];
static unsigned fence_next;

static bool was_fence(const uint8_t *buf, size_t n)
{
	if (n < STUN_HEADER_LEN || rd16(buf) != stun_type(STUN_BINDING, STUN_SUCCESS))
		return false;
	for (unsigned i = 0; i < 64; i++)
		if (memcmp(fence_ids[i], buf + 8, STUN_TXID_LEN) == 0)
			return true;
	return false;
}

int at_fence(struct turnc *c, unsigned *stray, int timeout_ms)
{
	static uint8_t buf[65536];
	uint8_t req[STUN_HEADER_LEN];
	at_hdr(req, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	memcpy(fence_ids[fence_next++ % 64], req + 8, STUN_TXID_LEN);
	int64_t deadline = it_now_ms() + timeout_ms;
	int rto = 200;
	int64_t next_send = 0;

	/* Datagrams queued by earlier turnc calls arrived before the fence. */
	if (stray)
		*stray += c->qlen;
	while (c->qhead) {
		static struct turnc_data d;
		turnc_recv(c, &d, 0);
	}
	for (;;) {
		int64_t now = it_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now >= next_send) {
			/* Retransmitted like any request: the fence may be lost too. */
			if (turnc_send_raw(c, req, sizeof(req)) < 0 && errno != ECONNREFUSED)
				return -errno;
			next_send = now + rto;
			rto *= 2;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int left = (int)((next_send < deadline ? next_send : deadline) - now);
		if (poll(&p, 1, left > 0 ? left : 0) <= 0)
			continue;
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			continue;
		if (n >= STUN_HEADER_LEN && memcmp(buf + 8, req + 8, STUN_TXID_LEN) == 0)
			return 0;
		if (was_fence(buf, (size_t)n))
			continue;
		if (stray)
			(*stray)++;
	}
}
