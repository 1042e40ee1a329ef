/* libbpf's messages into tern's log (shared by the eBPF loaders, steer.c
 * and fastpath.c). Only with TERN_HAVE_BPF. */
#ifndef TERN_NET_BPF_LOG_H
#define TERN_NET_BPF_LOG_H

#ifdef TERN_HAVE_BPF
#include <stdarg.h>

#include <bpf/libbpf.h>

/* A libbpf print function: libbpf speaks on stderr by default; a refused
 * program is a supported outcome that the loader reports in one line, so
 * libbpf's warnings (a verifier log) go to the debug log, line by line, and
 * its own debug chatter nowhere. */
int net_bpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap);
#endif

#endif
