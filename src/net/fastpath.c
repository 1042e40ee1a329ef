/* TEMPORARY stub until the loader lands: the fast path is never available. */
#include "net/fastpath.h"

#include <errno.h>
#include <time.h>

#include "util/log.h"

int fastpath_open(const struct fastpath_opts *o, struct fastpath **out)
{
	(void)o;
	*out = NULL;
	log_warn("fast-path: not available in this build: user space relays everything");
	return -EOPNOTSUPP;
}
void fastpath_close(struct fastpath *fp) { (void)fp; }
unsigned fastpath_nifs(const struct fastpath *fp) { (void)fp; return 0; }
const char *fastpath_ifname(const struct fastpath *fp, unsigned i) { (void)fp; (void)i; return ""; }
enum fastpath_attach fastpath_if_mode(const struct fastpath *fp, unsigned i) { (void)fp; (void)i; return FASTPATH_ATT_NONE; }
const char *fastpath_attach_name(enum fastpath_attach a) { (void)a; return "none"; }
void fastpath_heartbeat(struct fastpath *fp) { (void)fp; }
int fastpath_map_add(struct fastpath *fp, unsigned w, const struct fastpath_mapping *m, uint64_t e, uint32_t *slot)
{ (void)fp; (void)w; (void)m; (void)e; (void)slot; return -EOPNOTSUPP; }
void fastpath_map_expire(struct fastpath *fp, uint32_t slot, uint64_t e) { (void)fp; (void)slot; (void)e; }
void fastpath_map_del(struct fastpath *fp, unsigned w, uint32_t slot, const struct fastpath_mapping *m, struct fastpath_counts *out)
{ (void)fp; (void)w; (void)slot; (void)m; (void)out; }
void fastpath_map_read(const struct fastpath *fp, uint32_t slot, struct fastpath_counts *out) { (void)fp; (void)slot; (void)out; }
int fastpath_stats(const struct fastpath *fp, uint64_t out[FASTPATH_STATS]) { (void)fp; (void)out; return -EOPNOTSUPP; }
int fastpath_prog_stats(const struct fastpath *fp, uint64_t *a, uint64_t *b) { (void)fp; (void)a; (void)b; return -EOPNOTSUPP; }
uint64_t fastpath_now_ns(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec; }
const char *fastpath_strerror(int err) { (void)err; return "not available"; }
