#include "net/bpf_log.h"

#ifdef TERN_HAVE_BPF
#include <stdio.h>
#include <string.h>

#include "util/log.h"

int net_bpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char buf[4096];

	if (lvl == LIBBPF_DEBUG || LOG_DEBUG > tern_log_level)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_write(LOG_DEBUG, "libbpf: %s", line);
	return 0;
}
#else
typedef int tern_net_bpf_log_empty;
#endif
