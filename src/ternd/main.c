/* ternd: parse the configuration, set up logging, run the server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/prom.h"
#include "server/server.h"
#include "server/service.h"
#include "ternd/config/config.h"
#include "util/log.h"

#ifndef TERN_VERSION
#define TERN_VERSION "0.1.0"
#endif

static void prom_write(void *ctx, FILE *out)
{
	server_write_metrics(ctx, out);
}

static bool prom_ready(void *ctx)
{
	return server_ready(ctx);
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -errno;
}

static void log_listening(const struct tern_config *c)
{
	for (unsigned i = 0; i < c->nlisten; i++) {
		char s[TERN_ADDRSTRLEN];
		log_info("listening on udp %s", addr_format(&c->listen[i], s, sizeof(s), true));
	}
	if (c->no_auth)
		log_warn("no-auth: anyone can allocate relays on this server");
	else
		log_info("realm %s, %u static user(s)%s", c->realm, c->nusers,
		         c->use_auth_secret ? ", REST API shared secret" : "");
}

int main(int argc, char **argv)
{
	static struct tern_config cfg;
	struct server *srv = NULL;
	int rc;

	if (config_load(&cfg, argc, argv, stderr, stderr) < 0)
		return 2;
	if (cfg.help) {
		config_usage(stdout, argv[0]);
		return 0;
	}
	if (cfg.help_markdown) {
		config_usage_markdown(stdout);
		return 0;
	}
	if (cfg.help_man)
		return config_usage_man(stdout, cfg.help_man, TERN_VERSION) < 0 ? 2 : 0;
	if (cfg.version) {
		printf("ternd %s\n", TERN_VERSION);
		return 0;
	}
	if (cfg.check_config) {
		if (server_check(&cfg) < 0)
			return 2;
		printf("%s: configuration OK\n", cfg.config_file[0] ? cfg.config_file : "command line");
		return 0;
	}
	tern_log_level = cfg.verbose >= 2 ? LOG_DEBUG : cfg.verbose == 1 ? LOG_DEBUG : LOG_INFO;
	const char *lf = cfg.log_file;
	bool to_file =
	    lf[0] && strcmp(lf, "stdout") != 0 && strcmp(lf, "-") != 0 && strcmp(lf, "syslog") != 0;
	/* syslog replaces standard output; a file is written as well */
	bool to_stdout = cfg.syslog ? false : !cfg.no_stdout_log || !to_file;
	if ((rc = log_open(to_file ? lf : NULL, to_stdout)) < 0) {
		fprintf(stderr, "log-file '%s': %s\n", lf, strerror(-rc));
		return 1;
	}
	if (cfg.syslog)
		log_open_syslog("ternd");
	server_block_signals();
	if ((rc = server_new(&cfg, &srv)) < 0) {
		log_err("ternd: cannot start: %s", strerror(-rc));
		return 1;
	}
	server_set_args(srv, argc, argv);
	if (cfg.pidfile[0] && (rc = write_pidfile(cfg.pidfile)) < 0) {
		log_err("pidfile '%s': %s", cfg.pidfile, strerror(-rc));
		server_free(srv);
		return 1;
	}
	/* Everything that needs root is done: sockets bound, eBPF loaded, TLS
	 * files read, pidfile written. Before server_run starts any thread. */
	if ((rc = service_drop_privileges(&cfg)) < 0) {
		server_free(srv);
		return 1;
	}
	log_listening(&cfg);
	struct prom *prom = NULL;
	struct prom_opts po = {.address = cfg.prometheus_address,
	                       .port = cfg.prometheus_port,
	                       .path = cfg.prometheus_path,
	                       .write = prom_write,
	                       .ready = prom_ready,
	                       .ctx = srv};
	if (cfg.prometheus && (rc = prom_start(&po, &prom)) < 0) {
		server_free(srv);
		if (cfg.pidfile[0])
			unlink(cfg.pidfile);
		return 1;
	}
	rc = server_run(srv);
	prom_stop(prom);
	server_free(srv);
	if (cfg.pidfile[0])
		unlink(cfg.pidfile);
	log_info("ternd stopped");
	log_close();
	return rc < 0 ? 1 : 0;
}
