/* Test certificates for the TLS tests, made with the openssl command (the
 * Debian package openssl) in the test's own directory: nothing from the
 * machine's trust store is involved, and nothing outlives the test. */
#include "turnc.h"

#include <stdio.h>
#include <stdlib.h>

/* Run a shell command; its output goes to the diagnostics on failure. */
static int run(const char *dir, const char *cmd)
{
	char full[2048], line[256];
	snprintf(full, sizeof(full), "cd '%s' && { %s; } 2>&1", dir, cmd);
	FILE *f = popen(full, "r");
	if (!f)
		return -1;
	char out[4096];
	size_t n = 0;
	while (fgets(line, sizeof(line), f))
		n += (size_t)snprintf(out + n, n < sizeof(out) ? sizeof(out) - n : 0, "%s", line);
	int st = pclose(f);
	if (st != 0) {
		tap_diag("command failed (%d): %s", st, cmd);
		if (n)
			tap_diag("%.*s", (int)(n < sizeof(out) ? n : sizeof(out) - 1), out);
		return -1;
	}
	return 0;
}

#define EC "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

static int server_cert(const char *dir)
{
	return run(dir, "openssl req " EC " -keyout srv.key -out srv.csr -subj /CN=localhost && "
	                "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n' >srv.ext && "
	                "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	                "-out srv.pem -days 2 -extfile srv.ext");
}

int it_make_certs(const char *dir, struct it_certs *c)
{
	snprintf(c->ca, sizeof(c->ca), "%s/ca.pem", dir);
	snprintf(c->ca_key, sizeof(c->ca_key), "%s/ca.key", dir);
	snprintf(c->cert, sizeof(c->cert), "%s/srv.pem", dir);
	snprintf(c->key, sizeof(c->key), "%s/srv.key", dir);
	snprintf(c->other_ca, sizeof(c->other_ca), "%s/other-ca.pem", dir);
	if (run(dir, "openssl req -x509 " EC " -keyout ca.key -out ca.pem -days 2 -subj '/CN=tern test CA'") <
	        0 ||
	    run(dir, "openssl req -x509 " EC " -keyout other-ca.key -out other-ca.pem -days 2 "
	             "-subj '/CN=tern other CA'") < 0)
		return -1;
	return server_cert(dir);
}

int it_renew_cert(const char *dir, struct it_certs *c)
{
	(void)c;
	return server_cert(dir);
}
