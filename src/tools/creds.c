/* tern creds: TURN REST API credentials for a shared secret, the same ones a
 * WebRTC back end hands to its clients (src/auth/auth.h,
 * auth_rest_credentials). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/auth.h"
#include "tools/tools.h"

#define SECRET_MAX 4096
#define TTL_MAX    (10ULL * 365 * 86400)
#define URIS_MAX   16

static void creds_usage(FILE *f)
{
	fprintf(f, "usage: tern creds (--secret S | --secret-file F | env TERN_SECRET) [options]\n"
	           "\n"
	           "  --secret S        shared secret (visible in ps: prefer --secret-file or TERN_SECRET)\n"
	           "  --secret-file F   read the secret from the first line of F\n"
	           "  --user U          user id after the timestamp (username = <expiry>:<U>)\n"
	           "  --ttl SECONDS     lifetime of the credentials (default 86400)\n"
	           "  --realm R         realm, echoed in the output\n"
	           "  --uri URI         TURN URI to list in --json output (repeatable)\n"
	           "  --now UNIXTIME    issue as if at this time (default: now)\n"
	           "  --json            one JSON object: {\"username\",\"password\",\"ttl\",\"uris\"}\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s[0] || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* First line of the file, without the line ending. */
static int read_secret_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, cap - 1, f);
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err)
		return err;
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

int cmd_creds(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"secret", required_argument, NULL, 's'}, {"secret-file", required_argument, NULL, 'f'},
	    {"user", required_argument, NULL, 'u'},   {"ttl", required_argument, NULL, 't'},
	    {"realm", required_argument, NULL, 'r'},  {"uri", required_argument, NULL, 'U'},
	    {"now", required_argument, NULL, 'n'},    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *secret_arg = NULL, *secret_file = NULL, *user = "", *realm = NULL;
	const char *uris[URIS_MAX];
	unsigned nuris = 0;
	uint64_t ttl = 86400, now = (uint64_t)time(NULL);
	bool json = false;
	char secret[SECRET_MAX];
	char *username = NULL, password[64];
	int c, r, ret = 1;

	secret[0] = 0;
	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:f:u:t:r:U:n:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			secret_arg = optarg;
			break;
		case 'f':
			secret_file = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 't':
			if (parse_u64(optarg, 1, TTL_MAX, &ttl) < 0) {
				fprintf(stderr, "tern creds: --ttl: invalid value '%s' (1..%llu seconds)\n",
				        optarg, TTL_MAX);
				return 2;
			}
			break;
		case 'r':
			realm = optarg;
			break;
		case 'U':
			if (nuris == URIS_MAX) {
				fprintf(stderr, "tern creds: --uri: at most %d\n", URIS_MAX);
				return 2;
			}
			uris[nuris++] = optarg;
			break;
		case 'n':
			if (parse_u64(optarg, 0, UINT32_MAX, &now) < 0) {
				fprintf(stderr, "tern creds: --now: invalid value '%s' (Unix seconds)\n",
				        optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			creds_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "tern creds: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "tern creds: unknown option '%s' (see tern creds --help)\n",
			        argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tern creds: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	if (secret_arg && secret_file) {
		fprintf(stderr, "tern creds: give either --secret or --secret-file, not both\n");
		return 2;
	}
	if (secret_file) {
		r = read_secret_file(secret_file, secret, sizeof(secret));
		if (r < 0) {
			fprintf(stderr, "tern creds: --secret-file %s: %s\n", secret_file, strerror(-r));
			goto out;
		}
	} else {
		const char *s = secret_arg ? secret_arg : getenv("TERN_SECRET");
		if (s && strlen(s) >= sizeof(secret)) {
			fprintf(stderr, "tern creds: secret longer than %d bytes\n", SECRET_MAX - 1);
			goto out;
		}
		if (s)
			snprintf(secret, sizeof(secret), "%s", s);
	}
	if (!secret[0]) {
		fprintf(stderr, "tern creds: no secret (use --secret, --secret-file or TERN_SECRET)%s\n",
		        secret_file ? ": the file's first line is empty" : "");
		goto out;
	}

	size_t ucap = strlen(user) + 32;
	username = malloc(ucap);
	if (!username) {
		fprintf(stderr, "tern creds: out of memory\n");
		goto out;
	}
	r = auth_rest_credentials(secret, user, now, ttl, username, ucap, password, sizeof(password));
	if (r < 0) {
		fprintf(stderr, "tern creds: %s\n", strerror(-r));
		goto out;
	}

	if (json) {
		printf("{\"username\":");
		json_string(username);
		printf(",\"password\":");
		json_string(password);
		printf(",\"ttl\":%" PRIu64, ttl);
		if (realm) {
			printf(",\"realm\":");
			json_string(realm);
		}
		printf(",\"uris\":[");
		for (unsigned i = 0; i < nuris; i++) {
			if (i)
				putchar(',');
			json_string(uris[i]);
		}
		printf("]}\n");
	} else {
		printf("username=%s\npassword=%s\nttl=%" PRIu64 "\n", username, password, ttl);
		if (realm)
			printf("realm=%s\n", realm);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tern creds: writing output: %s\n", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(password, sizeof(password));
	free(username);
	return ret;
}
