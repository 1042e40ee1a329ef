/* The eBPF ELF objects, compiled by clang -target bpf at build
 * time and embedded by bpf/embed.cmake (only when TERN_HAVE_BPF is defined).
 * Loaded by src/net/steer.c with libbpf's bpf_object__open_mem(). */
#ifndef TERN_BPF_TERN_BPF_H
#define TERN_BPF_TERN_BPF_H

#include <stddef.h>

extern const unsigned char tern_bpf_reuseport_obj[];
extern const size_t tern_bpf_reuseport_obj_len;
/* The fast path (src/net/fastpath.c). */
extern const unsigned char tern_bpf_fastpath_obj[];
extern const size_t tern_bpf_fastpath_obj_len;

#endif
