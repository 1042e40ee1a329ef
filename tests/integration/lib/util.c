#include "turnc.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

union tern_addr it_addr(const char *s, uint16_t port)
{
	union tern_addr a;
	if (addr_parse(&a, s, port) < 0) {
		fprintf(stderr, "it_addr: bad address literal '%s'\n", s);
		abort();
	}
	return a;
}

const char *it_fmt(const union tern_addr *a)
{
	static char bufs[8][TERN_ADDRSTRLEN];
	static unsigned next;
	char *b = bufs[next++ % 8];
	return addr_format(a, b, TERN_ADDRSTRLEN, true);
}

int it_rest_creds(const char *secret, const char *user, long expiry_unix, char *uname, size_t ulen,
                  char *pass, size_t plen)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	int n = user[0] ? snprintf(uname, ulen, "%ld:%s", expiry_unix, user)
	                : snprintf(uname, ulen, "%ld", expiry_unix);

	if (n < 0 || (size_t)n >= ulen)
		return -ENOSPC;
	if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)uname, (size_t)n, mac, &maclen))
		return -EINVAL;
	if (plen < 4 * ((maclen + 2) / 3) + 1)
		return -ENOSPC;
	EVP_EncodeBlock((uint8_t *)pass, mac, (int)maclen);
	return 0;
}
