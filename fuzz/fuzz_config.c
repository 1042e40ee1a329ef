/* The configuration parser (src/ternd/config/): config_load_stream on
 * arbitrary text, and config_load on a command line split from the input.
 *
 * Input: a mode byte, then
 *   even mode: the rest is a configuration file (config_load_stream, then
 *              config_finish);
 *   odd mode:  argv words separated by NUL bytes up to the first empty word
 *              (two NULs in a row), then the text that any -c FILE reads:
 *              fopen() is redirected to that text while config_load runs,
 *              so the fuzzer never opens a real file (or /dev/zero).
 *
 * Oracles: the return convention (0 or -errno); a failure is always
 * explained on the error stream (a line naming where and why); on success
 * every list count stays within its array and every string is
 * NUL-terminated inside its field. Half the inputs run with NULL streams,
 * which the parser accepts. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ternd/config/config.h"

/* ---- fopen redirection (linked with -Wl,--wrap=fopen) ---- */

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

static const uint8_t *g_file;
static size_t g_file_len;
static bool g_redirect;

FILE *__wrap_fopen(const char *path, const char *mode)
{
	if (!g_redirect)
		return __real_fopen(path, mode);
	if (g_file_len == 0) {
		errno = ENOENT;
		return NULL;
	}
	return fmemopen((void *)g_file, g_file_len, "r");
}

static FILE *sink(void)
{
	static FILE *f;
	if (!f)
		f = __real_fopen("/dev/null", "w");
	return f;
}

static void check_config(const struct tern_config *c)
{
	FUZZ_CHECK(c->nlisten <= CFG_MAX_ADDRS && c->nrelay <= CFG_MAX_ADDRS);
	FUZZ_CHECK(c->nexternal <= CFG_MAX_ADDRS && c->nsecrets <= CFG_MAX_SECRETS);
	FUZZ_CHECK(c->nusers <= CFG_MAX_USERS);
	FUZZ_CHECK(c->nallowed <= CFG_MAX_RANGES && c->ndenied <= CFG_MAX_RANGES);
	FUZZ_CHECK(memchr(c->realm, 0, sizeof(c->realm)) && memchr(c->log_file, 0, sizeof(c->log_file)));
	FUZZ_CHECK(memchr(c->pidfile, 0, sizeof(c->pidfile)) && memchr(c->steering, 0, sizeof(c->steering)));
	FUZZ_CHECK(memchr(c->config_file, 0, sizeof(c->config_file)));
	FUZZ_CHECK(memchr(c->stats_socket, 0, sizeof(c->stats_socket)));
	for (unsigned i = 0; i < c->nusers; i++) {
		FUZZ_CHECK(memchr(c->users[i].name, 0, sizeof(c->users[i].name)));
		FUZZ_CHECK(memchr(c->users[i].password, 0, sizeof(c->users[i].password)));
		FUZZ_CHECK(c->users[i].has_key || c->users[i].has_password);
	}
	for (unsigned i = 0; i < c->nsecrets; i++)
		FUZZ_CHECK(memchr(c->secrets[i], 0, sizeof(c->secrets[i])));
	for (unsigned i = 0; i < c->nallowed; i++)
		FUZZ_CHECK(c->allowed_peers[i].prefix <= (c->allowed_peers[i].family == AF_INET ? 32 : 128));
	for (unsigned i = 0; i < c->ndenied; i++)
		FUZZ_CHECK(c->denied_peers[i].prefix <= (c->denied_peers[i].family == AF_INET ? 32 : 128));
}

static int from_file(const uint8_t *data, size_t size, FILE *err, FILE *warn)
{
	static struct tern_config c;
	if (size == 0)
		return 0;
	FILE *in = fmemopen((void *)data, size, "r");
	if (!in)
		return 0;
	config_defaults(&c);
	int rc = config_load_stream(&c, in, "fuzz.conf", err, warn);
	fclose(in);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0) {
		check_config(&c);
		rc = config_finish(&c, err);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			check_config(&c);
	}
	return rc;
}

#define MAX_ARGS 64

static int from_argv(const uint8_t *data, size_t size, FILE *err, FILE *warn)
{
	static struct tern_config c;
	static char words[4096 + 1];
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	size_t i = 0;

	argv[argc++] = "ternd";
	/* words up to an empty one; each NUL-terminated in a private copy */
	size_t n = size < sizeof(words) - 1 ? size : sizeof(words) - 1;
	memcpy(words, data, n);
	words[n] = 0;
	while (i < n && argc < MAX_ARGS + 1) {
		size_t l = strlen(words + i);
		if (l == 0) {
			i++;
			break;
		}
		argv[argc++] = words + i;
		i += l + 1;
	}
	argv[argc] = NULL;
	g_file = i < size ? data + i : NULL;
	g_file_len = i < size ? size - i : 0;

	g_redirect = true;
	int rc = config_load(&c, argc, argv, err, warn);
	g_redirect = false;
	FUZZ_CHECK(rc <= 0);
	if (rc == 0)
		check_config(&c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = NULL;
	size_t len = 0;
	FILE *err = NULL, *warn = NULL;
	if (data[0] & 2) {
		err = open_memstream(&text, &len);
		warn = sink();
		if (!err)
			return 0;
	}
	int rc = (data[0] & 1) ? from_argv(data + 1, size - 1, err, warn)
	                       : from_file(data + 1, size - 1, err, warn);
	if (err) {
		fclose(err);
		/* an operator error is never silent */
		if (rc < 0)
			FUZZ_CHECK(len > 0);
		free(text);
	}
	return 0;
}
