/* The Prometheus endpoint against a real Prometheus server (Debian package
 * prometheus), started here on loopback with its own configuration and
 * storage in a temp dir, scraping ternd every second:
 *  - coturn's endpoints: / answers "ok", /ready 200, the metrics path the
 *    exposition, anything else 404, a POST 405;
 *  - `promtool check metrics` accepts the exposition: no parse error, and
 *    the only lint complaints are coturn's counter names (no _total suffix,
 *    kept so coturn's dashboards work); tern's own families lint clean;
 *  - our client relays a known number of ChannelData datagrams both ways
 *    through an echoing peer; Prometheus's HTTP API (/api/v1/query) then
 *    reads back exactly that many relayed each way (tern_*), the live
 *    allocation as turn_total_allocations{type="UDP"}, and once the
 *    allocation is deleted coturn's finished-session traffic totals and
 *    the per-user turn_traffic_* (prometheus-username-labels);
 *  - Binding and 401 counters move by what was sent;
 *  - while draining (SIGUSR1) /ready answers 503 and tern_ready is 0.
 * Exits 77 (skipped) only when the prometheus binary cannot run. */
#include "it.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_DATA   200
#define PAYLOAD  100
#define WAIT_MS  2000
#define CHANNEL  0x4001
#define PROM_BIN "prometheus"

static char dir[] = "/tmp/it_prometheus.XXXXXX";
static char body[1 << 20];
static struct turnc_resp r;
static struct turnc_data d;
static pid_t prom_pid = -1;
static uint16_t metrics_port, api_port;

static void stop_prometheus(void)
{
	if (prom_pid <= 0)
		return;
	kill(prom_pid, SIGTERM);
	int64_t end = it_now_ms() + 10000;
	while (waitpid(prom_pid, NULL, WNOHANG) == 0) {
		if (it_now_ms() > end) {
			kill(prom_pid, SIGKILL);
			waitpid(prom_pid, NULL, 0);
			break;
		}
		it_sleep_ms(50);
	}
	prom_pid = -1;
}

static bool prometheus_runs(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "timeout 20 %s --version >/dev/null 2>&1", PROM_BIN);
	return system(cmd) == 0;
}

static bool start_prometheus(void)
{
	char cfg[256], data[256], log[256];
	snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/prometheus.log", dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return false;
	fprintf(f,
	        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
	        "scrape_configs:\n  - job_name: ternd\n    metrics_path: /metrics\n"
	        "    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
	        metrics_port);
	fclose(f);
	char listen[64], cfg_arg[300], data_arg[300];
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%u", api_port);
	snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
	snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
	prom_pid = fork();
	if (prom_pid < 0)
		return false;
	if (prom_pid == 0) {
		FILE *l = freopen(log, "w", stdout);
		(void)l;
		dup2(1, 2);
		execlp(PROM_BIN, PROM_BIN, cfg_arg, data_arg, listen, "--log.level=warn", (char *)NULL);
		_exit(127);
	}
	/* ready: its API answers (bounded; the first start builds its storage) */
	int64_t end = it_now_ms() + 60000;
	while (it_now_ms() < end) {
		if (it_http(api_port, "GET", "/-/ready", body, sizeof(body), 2000) == 200)
			return true;
		if (waitpid(prom_pid, NULL, WNOHANG) == prom_pid) {
			prom_pid = -1;
			return false;
		}
		it_sleep_ms(200);
	}
	return false;
}

/* The value of a PromQL expression (one sample), or -1 when there is none. */
static double query(const char *expr)
{
	char path[1024] = "/api/v1/query?query=";
	size_t n = strlen(path);
	for (const char *p = expr; *p && n + 4 < sizeof(path); p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_')
			path[n++] = *p;
		else
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%%%02X", (unsigned char)*p);
	}
	path[n] = 0;
	if (it_http(api_port, "GET", path, body, sizeof(body), 5000) != 200)
		return -1;
	const char *v = strstr(body, "\"value\":[");
	if (!v || !(v = strchr(v, ',')) || v[1] != '"')
		return -1;
	return strtod(v + 2, NULL);
}

/* Wait (bounded: a few scrapes) until expr reads want; the last value. */
static double query_until(const char *expr, double want)
{
	double v = -1;
	int64_t end = it_now_ms() + 20000;
	while (it_now_ms() < end && (v = query(expr)) != want)
		it_sleep_ms(250);
	return v;
}

/* One sample straight from ternd's exposition (-1 when absent). */
static double scrape(const char *sample)
{
	if (it_http(metrics_port, "GET", "/metrics", body, sizeof(body), 5000) != 200)
		return -1;
	size_t n = strlen(sample);
	for (const char *p = body; (p = strstr(p, sample)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static void check_endpoints(void)
{
	tap_check(it_http(metrics_port, "GET", "/", body, sizeof(body), 5000) == 200 &&
	              strcmp(body, "ok") == 0,
	          "GET / answers 200 \"ok\" (coturn's health check)");
	tap_int(it_http(metrics_port, "GET", "/ready", body, sizeof(body), 5000), 200,
	        "GET /ready: 200 (not draining)");
	tap_int(it_http(metrics_port, "GET", "/nothing", body, sizeof(body), 5000), 404, "GET /nothing: 404");
	tap_int(it_http(metrics_port, "POST", "/metrics", body, sizeof(body), 5000), 405,
	        "POST /metrics: 405");
	int st = it_http(metrics_port, "GET", "/metrics", body, sizeof(body), 5000);
	tap_check(st == 200 && strstr(body, "# TYPE turn_total_allocations gauge") &&
	              strstr(body, "turn_total_allocations{type=\"UDP\"} 0") &&
	              strstr(body, "# TYPE tern_relayed_datagrams_total counter") &&
	              strstr(body, "# TYPE tern_allocation_lifetime_seconds histogram"),
	          "GET /metrics: 200 with coturn's and tern's families (%d)", st);
}

/* promtool on the exposition: parse errors fail; lint complaints are
 * allowed only for coturn's names, and tern's families alone lint clean. */
static void check_promtool(void)
{
	char file[256], out[256], cmd[1024];
	snprintf(file, sizeof(file), "%s/metrics.txt", dir);
	snprintf(out, sizeof(out), "%s/promtool.out", dir);
	FILE *f = fopen(file, "w");
	if (!f || it_http(metrics_port, "GET", "/metrics", body, sizeof(body), 5000) != 200) {
		tap_check(false, "exposition saved for promtool");
		if (f)
			fclose(f);
		return;
	}
	fputs(body, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "timeout 30 promtool check metrics <%s >%s 2>&1", file, out);
	int rc = system(cmd), code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	unsigned other = 0, compat = 0;
	char line[512];
	if ((f = fopen(out, "r"))) {
		while (fgets(line, sizeof(line), f)) {
			if ((strncmp(line, "turn_", 5) == 0 || strncmp(line, "stun_", 5) == 0) &&
			    strstr(line, " counter metrics should have \"_total\" suffix"))
				compat++;
			else {
				other++;
				tap_diag("promtool: %s", line);
			}
		}
		fclose(f);
	}
	tap_check((code == 0 || code == 3) && other == 0,
	          "promtool check metrics: no error; lint notes only on coturn's names (exit %d, %u notes on "
	          "coturn names, %u others)",
	          code, compat, other);
	snprintf(
	    cmd, sizeof(cmd),
	    "grep -v -E '^(# (HELP|TYPE) )?(turn|stun)_' %s | timeout 30 promtool check metrics >%s 2>&1",
	    file, out);
	rc = system(cmd);
	tap_check(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "promtool: tern's own families lint clean (exit %d)",
	          WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

int main(int argc, char **argv)
{
	srv_setup(argc, argv);
	if (srv_is_coturn()) {
		printf("ok 1 - prometheus # SKIP ternd's endpoint\n0 passed, 0 failed\n");
		return 0;
	}
	if (!prometheus_runs()) {
		printf("# the prometheus binary (Debian package prometheus) cannot run here: skipped\n");
		return 77;
	}
	tap_watchdog(240);
	if (!mkdtemp(dir))
		return 1;
	atexit(stop_prometheus);
	struct srv s;
	const char *args[] = {IT_AUTH_ARGS,
	                      "--allow-loopback-peers",
	                      "--workers",
	                      "2",
	                      "--prometheus",
	                      "--prometheus-address",
	                      "127.0.0.1",
	                      "--prometheus-port",
	                      "@BASE+40",
	                      "--prometheus-path",
	                      "/metrics",
	                      "--prometheus-username-labels",
	                      NULL};
	if (srv_start(&s, 0, args) < 0)
		return tap_done();
	metrics_port = (uint16_t)(s.port + 40);
	api_port = (uint16_t)(s.port + 41);

	check_endpoints();
	check_promtool();

	/* Binding and 401 counters, straight from ternd */
	struct turnc b;
	double breq = scrape("stun_binding_request"), bok = scrape("stun_binding_response"),
	       c401 = scrape("turn_unauthenticated_401_responses");
	if (turnc_open(&b, &s.addr) == 0) {
		for (int i = 0; i < 3; i++)
			turnc_binding(&b, &r);
		turnc_learn_nonce(&b);
		turnc_close(&b);
	}
	tap_check(scrape("stun_binding_request") == breq + 3 && scrape("stun_binding_response") == bok + 3,
	          "3 Binding requests: stun_binding_request and stun_binding_response +3");
	tap_check(scrape("turn_unauthenticated_401_responses") == c401 + 1 &&
	              scrape("turn_unauthenticated_401_requests") >= 1,
	          "an Allocate without credentials: turn_unauthenticated_401_responses +1");

	if (!tap_check(start_prometheus(), "prometheus starts on 127.0.0.1:%u scraping ternd every second",
	               api_port)) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "tail -n 20 %s/prometheus.log", dir);
		if (system(cmd) < 0)
			tap_diag("no log");
		srv_stop(&s);
		return tap_done();
	}
	tap_int((long)query_until("up{job=\"ternd\"}", 1), 1, "prometheus scrapes ternd (up == 1)");

	/* a known amount of traffic: N_DATA ChannelData to the peer, each
	 * echoed back, in lockstep (nothing lost to a full queue) */
	struct turnc c;
	struct peer p;
	unsigned to_peer = 0, to_client = 0;
	if (it_client_alloc(&c, &s, AF_INET, &r) < 0 || peer_open(&p, "127.0.0.1", 0) < 0) {
		srv_stop(&s);
		return tap_done();
	}
	union tern_addr relayed = r.relayed[0];
	tap_int((long)query_until("sum(turn_total_allocations{type=\"UDP\"})", 1), 1,
	        "while it lives, Prometheus reads the allocation: turn_total_allocations{type=\"UDP\"} 1");
	tap_check(turnc_permission(&c, &p.addr, 1, &r) == 0 &&
	              turnc_channel_bind(&c, CHANNEL, &p.addr, &r) == 0,
	          "permission and channel for the peer");
	uint8_t msg[PAYLOAD], got[2048];
	union tern_addr from;
	for (unsigned i = 0; i < N_DATA; i++) {
		memset(msg, (int)(i & 0xff), sizeof(msg));
		turnc_send_channel(&c, CHANNEL, msg, sizeof(msg), false);
		int n = peer_recv(&p, got, sizeof(got), &from, WAIT_MS);
		if (n != PAYLOAD)
			continue;
		to_peer++;
		peer_send(&p, &relayed, got, (size_t)n);
		if (turnc_recv(&c, &d, WAIT_MS) == 1 && d.is_channel && d.len == PAYLOAD)
			to_client++;
	}
	tap_check(to_peer == N_DATA && to_client == N_DATA,
	          "relayed %u datagrams to the peer and %u back (of %u)", to_peer, to_client, N_DATA);
	tap_int((long)query_until("sum(tern_relayed_datagrams_total{direction=\"to_peer\"})", to_peer),
	        to_peer,
	        "Prometheus: tern_relayed_datagrams_total{direction=\"to_peer\"} is what the peer received");
	tap_int(
	    (long)query_until("sum(tern_relayed_datagrams_total{direction=\"to_client\"})", to_client),
	    to_client,
	    "Prometheus: tern_relayed_datagrams_total{direction=\"to_client\"} is what the client received");
	tap_int((long)query_until("sum(tern_received_datagrams_total{side=\"peer\"})", to_peer), to_peer,
	        "Prometheus: tern_received_datagrams_total{side=\"peer\"} is what the peer sent");

	/* coturn's traffic counts finished sessions: end the allocation */
	tap_int(turnc_refresh(&c, 0, &r), 0, "Refresh 0 deletes the allocation");
	tap_int((long)query_until("sum(turn_total_allocations{type=\"UDP\"})", 0), 0,
	        "Prometheus: turn_total_allocations{type=\"UDP\"} back to 0");
	tap_int((long)query_until("turn_total_traffic_peer_sentp", to_peer), to_peer,
	        "Prometheus: turn_total_traffic_peer_sentp of the finished session");
	tap_int((long)query_until("turn_total_traffic_peer_sentb", to_peer * PAYLOAD), to_peer * PAYLOAD,
	        "Prometheus: turn_total_traffic_peer_sentb of the finished session");
	tap_int((long)query_until("turn_total_traffic_peer_rcvp", to_peer), to_peer,
	        "Prometheus: turn_total_traffic_peer_rcvp of the finished session");
	/* from the client: the data and the requests on the allocation */
	double rcvp = query("turn_total_traffic_rcvp"), sentp = query("turn_total_traffic_sentp");
	tap_check(rcvp >= to_peer && rcvp <= to_peer + 5 && sentp >= to_client && sentp <= to_client + 5,
	          "Prometheus: turn_total_traffic_rcvp %.0f and sentp %.0f: the data plus a few requests and "
	          "answers",
	          rcvp, sentp);
	tap_int((long)query_until("turn_traffic_peer_sentp{realm=\"" IT_REALM "\",user=\"" IT_USER "\"}",
	                          to_peer),
	        to_peer, "Prometheus: turn_traffic_peer_sentp{realm,user} (prometheus-username-labels)");
	tap_int((long)query_until("sum(tern_allocation_lifetime_seconds_count)", 1), 1,
	        "Prometheus: the allocation's lifetime observed once (histogram)");
	tap_check(query_until("sum(tern_rx_batch_size_count) - sum(tern_rx_batches_total)", 0) == 0,
	          "Prometheus: the batch-size histogram counts every receive batch");
	peer_close(&p);
	turnc_close(&c);
	stop_prometheus();

	/* drain (SIGUSR1): readiness turns 503 while an allocation holds the
	 * node up; ternd exits cleanly once it ends */
	struct turnc h;
	if (it_client_alloc(&h, &s, AF_INET, &r) == 0) {
		kill(s.pid, SIGUSR1);
		int st = 0;
		int64_t end = it_now_ms() + 5000;
		while (it_now_ms() < end &&
		       (st = it_http(metrics_port, "GET", "/ready", body, sizeof(body), 2000)) != 503)
			it_sleep_ms(50);
		tap_check(st == 503 && strcmp(body, "draining\n") == 0,
		          "draining: GET /ready answers 503 (%d)", st);
		tap_int((long)scrape("tern_ready"), 0, "draining: tern_ready 0");
		tap_int(it_http(metrics_port, "GET", "/", body, sizeof(body), 2000), 200,
		        "draining: GET / still answers ok (alive)");
		turnc_refresh(&h, 0, &r);
		turnc_close(&h);
		end = it_now_ms() + 10000;
		while (srv_alive(&s) && it_now_ms() < end)
			it_sleep_ms(50);
		tap_check(!srv_alive(&s), "drained: ternd exits by itself once the allocation ends");
	}
	int st = srv_stop(&s);
	tap_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "ternd exited with status 0 (%d)", st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (tap_failed() == 0 && system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
