/* Internals of the TURN core shared by its .c files. Not an API. */
#ifndef TERN_TURN_INTERNAL_H
#define TERN_TURN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "stun/stun.h"
#include "turn/turn.h"
#include "util/siphash.h"
#include "util/timer.h"

/* RFC 8656 §12: a channel number that expired is not rebound to another
 * peer for 5 more minutes, so late packets cannot reach the wrong peer. */
#define TURN_CHANNEL_HOLD_MS (300 * 1000)
/* RESERVATION-TOKEN lifetime (RFC 8656 §7.2 suggests about 30 seconds). */
#define TURN_RESERVATION_MS (30 * 1000)
/* Last response kept per allocation for retransmitted requests. */
#define TURN_CACHE_MAX           200
#define TURN_USER_MAX            128
#define TURN_CHANNEL_MAX_RFC5766 0x7FFF
/* Buckets of the unauthenticated-answer rate limit (turn_params.unauth_bps)
 * per worker: 8192 * 16 bytes = 128 KiB, calloc'ed once when the limit is
 * on. Enough that legitimate sources rarely share one; a spoofed flood
 * that drains every bucket costs 8192 * unauth_bps answer bytes a second. */
#define TURN_UNAUTH_SLOTS 8192
/* Permission and channel entries are malloc'ed this many at a time (12 and
 * 14 KiB), when a pool's free list is empty and its cap is not reached. */
#define TURN_POOL_CHUNK 256

struct turn_perm {
	struct turn_perm *next;
	union tern_addr ip; /* port 0 */
	uint64_t expires;
};

struct turn_chan {
	struct turn_chan *next;
	union tern_addr peer;
	uint64_t expires; /* bound while now < expires; held until expires + HOLD */
	uint16_t num;
	/* fast path: the io's handle (0: not offloaded), and the expiry it was
	 * given */
	uint32_t fast;
	uint64_t fast_exp;
};

struct quota_user;

enum turn_mi { TURN_MI_NONE = 0, TURN_MI_SHA1, TURN_MI_SHA256 };

struct turn_bucket {
	uint64_t tokens; /* milli-bytes */
	uint64_t stamp;  /* ms */
};

struct turn_alloc {
	struct timer timer;
	/* the client endpoint: its 5-tuple (RFC 8656 §2), and where every
	 * message to the client goes */
	struct turn_ep ep;
	bool live; /* in the table (false once deleted) */
	uint64_t id;
	/* relayed transport addresses: [0] first family, [1] second (dual) */
	int relay[2];
	union tern_addr relay_addr[2];
	unsigned nrelay;
	uint64_t expires;
	uint64_t created; /* ms */
	/* who owns it (RFC 8656 §7.3: later requests must use the same username) */
	uint64_t user_hash;
	struct quota_user *quota;
	uint8_t key[32];
	uint8_t keylen;
	uint8_t mi; /* enum turn_mi of the Allocate: used to sign responses */
	struct turn_perm *perms;
	unsigned nperms;
	struct turn_chan *chans;
	unsigned nchans;
	struct turn_bucket up, down;
	/* relayed each way (tern ctl sessions; coturn's peer_sent and sent) */
	uint64_t up_bytes, up_datagrams, down_bytes, down_datagrams;
	intptr_t io_data; /* the io's own word (turn_alloc_io_data): 0 when created */
	uint32_t label;   /* user label row (user_labels) */
	/* the rest of this session's traffic (TURN_TRAFFIC_*: from the client,
	 * answers to it, from peers), added to the totals when it ends */
	uint64_t traffic[TURN_TRAFFIC_N];
	/* retransmission cache */
	uint8_t last_txid[STUN_TXID_LEN];
	uint16_t last_len;
	int last_handle;
	uint8_t last_resp[TURN_CACHE_MAX];
	struct turn_alloc *free_next;
};

struct turn {
	struct turn_params p;
	struct turn_io io;
	uint64_t now;        /* ms */
	uint64_t wall;       /* s */
	uint64_t last_sweep; /* ms, last reservation sweep */
	/* Secret keys, one per purpose, never derived from anything on the
	 * wire: the 5-tuple table, the unauthenticated-answer buckets, the
	 * username-ownership hash, and the PRF behind Data indication
	 * transaction ids (keyed by txid_seq). */
	struct sip_key k_table, k_unauth, k_user, k_txid;
	/* checks the integrity of requests from unknown users, so that they
	 * cost what a known user's do (no timing tells which names exist) */
	uint8_t dummy_key[32];
	uint64_t txid_seq;
	uint64_t next_id;
	struct timer_wheel wheel;
	/* allocation pool and 5-tuple table (open addressing, linear probing) */
	struct turn_alloc *pool;
	struct turn_alloc *free_allocs;
	size_t used_allocs; /* pool entries carved so far */
	struct turn_alloc **table;
	unsigned table_mask;
	/* Permission and channel pools. Caps: max_allocs times the
	 * per-allocation limits, so however many entries one user's
	 * allocations hold, every other allocation can still get its own.
	 * Entries are carved from chunks of TURN_POOL_CHUNK, malloc'ed only
	 * when the free list is empty (used_* entries carved so far), so the
	 * caps cost one chunk pointer per chunk up front. The caps are
	 * internal: a unit test may lower them after turn_new, to reach the
	 * out-of-pool paths; never raise them (the chunk arrays are sized from
	 * the caps turn_new set). */
	struct turn_perm *free_perms;
	struct turn_chan *free_chans;
	void **perm_chunks, **chan_chunks;
	size_t nperm_pool, nchan_pool, used_perms, used_chans;
	struct turn_stats st;
	/* finished traffic per user label (label_cap + 1 rows), NULL when off */
	uint64_t (*user_traffic)[TURN_TRAFFIC_N];
	unsigned label_cap;
	uint8_t txbuf[TURN_TX_HDR_MAX];
	/* unauthenticated-answer buckets (tokens in milli-bytes), NULL when off */
	struct turn_bucket *unauth;
	uint16_t challenge_len; /* size of the last 401/438 built, 0 before the first */
};

/* alloc.c: the table and pools */
int alloc_pools_init(struct turn *t);
void alloc_pools_free(struct turn *t);
struct turn_alloc *alloc_lookup(struct turn *t, const struct turn_ep *ep);
struct turn_alloc *alloc_new(struct turn *t, const struct turn_ep *ep);
/* Remove from table, close relay sockets, release quota, free lists. */
void alloc_delete(struct turn *t, struct turn_alloc *a);
void alloc_schedule(struct turn *t, struct turn_alloc *a);
struct turn_perm *perm_find(struct turn *t, struct turn_alloc *a, const union tern_addr *peer);
/* Pool entries for a request that installs all or nothing: take what it
 * needs first (NULL when the pool is at its cap or a chunk cannot be
 * malloc'ed: answer 508), then install; put back a list (linked by next)
 * of entries not used. */
struct turn_perm *perm_take(struct turn *t);
void perm_put(struct turn *t, struct turn_perm *list);
struct turn_chan *chan_take(struct turn *t);
void chan_put(struct turn *t, struct turn_chan *list);
/* The entry install would reuse for peer's IP / channel num (expired or
 * not, until the timer frees it); NULL when install needs a new one. */
struct turn_perm *perm_entry(const struct turn_alloc *a, const union tern_addr *peer);
struct turn_chan *chan_entry(const struct turn_alloc *a, uint16_t num);
/* Install or refresh. A new entry comes from *spare (a list of taken
 * entries) when spare is given and not empty, else from the pool. NULL
 * when the per-allocation or pool limit is hit. */
struct turn_perm *perm_install(struct turn *t, struct turn_alloc *a, const union tern_addr *peer,
                               struct turn_perm **spare);
struct turn_chan *chan_by_num(struct turn *t, struct turn_alloc *a, uint16_t num, bool include_held);
struct turn_chan *chan_by_peer(struct turn *t, struct turn_alloc *a, const union tern_addr *peer,
                               bool include_held);
struct turn_chan *chan_install(struct turn *t, struct turn_alloc *a, uint16_t num,
                               const union tern_addr *peer, struct turn_chan **spare);
void alloc_on_timer(struct timer *tm, void *arg);
/* fast.c: keep the kernel fast path in step with a's channels, their
 * permissions and a's lifetime: offload what may be, move expiries, take
 * back what may no longer be. Call after anything about a changed. */
void fast_sync(struct turn *t, struct turn_alloc *a);
/* Take back every channel of a (a is being deleted). */
void fast_drop_all(struct turn *t, struct turn_alloc *a);
/* Add the live kernel counts of a's channels to *out. */
void fast_read_alloc(const struct turn *t, const struct turn_alloc *a, struct turn_fast_counts *out);
/* Index of a's relay of this family, -1 if none. */
int alloc_relay_index(const struct turn_alloc *a, int family);

/* shared.c: quota units. An allocation holds one unit of its user's quota
 * and of the total; so does a port reservation (EVEN-PORT R=1), until it
 * is redeemed or expires. */
/* Take the unit of an allocation for user (the whole key: the caller picks
 * the identity) and, with reserve, one more for the reservation its
 * Allocate will make: both or neither. 0, -EDQUOT (user quota: 486) or
 * -ENOSPC (total quota or no memory: 508). */
int shared_quota_take(struct turn_shared *s, const uint8_t *user, size_t ulen, bool reserve,
                      struct quota_user **out);
/* Give back an allocation's unit. */
void shared_quota_release(struct turn_shared *s, struct quota_user *q);
/* The name a quota counts (a REST username's user part). */
const uint8_t *shared_quota_name(const struct quota_user *q, size_t *len);
/* Record the reservation of socket handle under a fresh token: it takes
 * over the extra unit q took with reserve. 0, or -ENOSPC (table full) /
 * -EIO, when the caller gives the unit back with shared_reserve_cancel. */
int shared_reserve(struct turn_shared *s, struct quota_user *q, int handle, uint64_t now, uint8_t token[8]);
/* Give back the extra unit of a reservation that was not made. */
void shared_reserve_cancel(struct turn_shared *s, struct quota_user *q);
/* Redeem token for an allocation of user: the reservation's unit is given
 * back and the allocation takes one (in *out, released as any other).
 * Returns the reserved handle, now the caller's; -ENOENT for an unknown or
 * expired token (508); -EDQUOT / -ENOSPC as shared_quota_take, and then
 * the reservation stays. */
int shared_redeem(struct turn_shared *s, const uint8_t token[8], uint64_t now, const uint8_t *user,
                  size_t ulen, struct quota_user **out);
/* The label row of a user (id as for quotas): its index in the registry,
 * registered now if there is room, else the cap (the others' row). */
unsigned shared_label(struct turn_shared *s, const uint8_t *id, size_t len);
/* Close every reservation due by now (through io) and give back its unit. */
void shared_expire(struct turn_shared *s, uint64_t now, const struct turn_io *io);

/* token bucket for max-bps: true when len bytes may pass */
/* Token bucket of `burst` bytes refilled at `rate` bytes/s (rate 0: no
 * limit). True when len bytes may pass now; with take they are spent, else
 * the bucket is only asked. */
bool bucket_allow(struct turn_bucket *b, uint64_t rate, uint64_t burst, uint64_t now, size_t len, bool take);
/* The per-allocation bandwidth limit: one second's worth of burst. */
static inline bool bucket_take(struct turn_bucket *b, uint64_t rate, uint64_t now, size_t len)
{
	return bucket_allow(b, rate, rate, now, len, true);
}

#endif

/* One request being answered. */
struct req {
	struct turn *t;
	const struct turn_ep *ep;      /* the client endpoint: answers go back to it */
	const union tern_addr *client; /* &ep->remote */
	struct stun_msg *m;
	struct turn_alloc *a; /* the 5-tuple's allocation, if any */
	/* set by authentication */
	bool authed;
	enum turn_mi mi;
	uint8_t key[32];
	uint8_t keylen;
	uint64_t user_hash;
	const uint8_t *user; /* USERNAME value (or the name a USERHASH resolved to) */
	size_t ulen;
	/* user + id_off .. user + ulen names whom the per-user quota counts
	 * (auth_lookup: the user part of a REST username, else all of it) */
	size_t id_off;
	char user_buf[TURN_USER_MAX + 1];
};

/* turn.c: answers. Start a response of class cls to r's request... */
void resp_start(struct req *r, struct stun_builder *b, enum stun_class cls);
/* ...sign (when authenticated), fingerprint, queue, and cache it. */
void resp_send(struct req *r, struct stun_builder *b);
/* An error answer with an optional reason (authenticated answers get the
 * standard phrase; unauthenticated ones none, to stay small). */
void resp_error(struct req *r, int code);
bool req_redirect(struct req *r);

/* requests.c */
void req_allocate(struct req *r);
void req_refresh(struct req *r);
void req_create_permission(struct req *r);
void req_channel_bind(struct req *r);
