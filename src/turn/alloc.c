#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "turn/internal.h"

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 16;
	while (p < n)
		p <<= 1;
	return p;
}

static size_t chunks_for(size_t entries)
{
	return (entries + TURN_POOL_CHUNK - 1) / TURN_POOL_CHUNK;
}

int alloc_pools_init(struct turn *t)
{
	size_t n = t->p.max_allocs;
	/* calloc and carve lazily: pages of a large pool that are never used are
	 * never touched, so a generous limit costs address space, not memory. */
	t->pool = calloc(n, sizeof(*t->pool));
	t->table_mask = pow2_at_least((unsigned)n * 2) - 1;
	t->table = calloc((size_t)t->table_mask + 1, sizeof(*t->table));
	/* Room for every allocation at its per-allocation limits: with a
	 * smaller shared pool, one user's allocations could hold it all and
	 * every other user would get 508. Entries come in chunks as used. */
	t->nperm_pool = n * t->p.max_perms;
	t->nchan_pool = n * t->p.max_channels;
	/* + 1: never a zero-size calloc, whose NULL would read as no memory */
	t->perm_chunks = calloc(chunks_for(t->nperm_pool) + 1, sizeof(*t->perm_chunks));
	t->chan_chunks = calloc(chunks_for(t->nchan_pool) + 1, sizeof(*t->chan_chunks));
	if (!t->pool || !t->table || !t->perm_chunks || !t->chan_chunks)
		return -ENOMEM;
	return 0;
}

/* Entry number `used` of a pool of cap entries of esize bytes, from the
 * chunk it falls in; the chunk is malloc'ed when this entry starts it.
 * NULL when that malloc fails (the caller answers 508; a later request
 * tries again). */
static void *pool_carve(void **chunks, size_t used, size_t cap, size_t esize)
{
	size_t c = used / TURN_POOL_CHUNK, i = used % TURN_POOL_CHUNK;
	if (i == 0) {
		size_t left = cap - used;
		chunks[c] = malloc((left < TURN_POOL_CHUNK ? left : TURN_POOL_CHUNK) * esize);
		if (!chunks[c])
			return NULL;
	}
	return (char *)chunks[c] + i * esize;
}

static struct turn_alloc *take_alloc(struct turn *t)
{
	struct turn_alloc *a = t->free_allocs;
	if (a)
		t->free_allocs = a->free_next;
	else if (t->used_allocs < t->p.max_allocs)
		a = &t->pool[t->used_allocs++];
	return a;
}

struct turn_perm *perm_take(struct turn *t)
{
	struct turn_perm *p = t->free_perms;
	if (p)
		t->free_perms = p->next;
	else if (t->used_perms < t->nperm_pool &&
	         (p = pool_carve(t->perm_chunks, t->used_perms, t->nperm_pool, sizeof(*p))) != NULL)
		t->used_perms++;
	if (p)
		p->next = NULL;
	return p;
}

void perm_put(struct turn *t, struct turn_perm *list)
{
	while (list) {
		struct turn_perm *p = list;
		list = p->next;
		p->next = t->free_perms;
		t->free_perms = p;
	}
}

struct turn_chan *chan_take(struct turn *t)
{
	struct turn_chan *c = t->free_chans;
	if (c)
		t->free_chans = c->next;
	else if (t->used_chans < t->nchan_pool &&
	         (c = pool_carve(t->chan_chunks, t->used_chans, t->nchan_pool, sizeof(*c))) != NULL)
		t->used_chans++;
	if (c)
		c->next = NULL;
	return c;
}

void chan_put(struct turn *t, struct turn_chan *list)
{
	while (list) {
		struct turn_chan *c = list;
		list = c->next;
		c->next = t->free_chans;
		t->free_chans = c;
	}
}

void alloc_pools_free(struct turn *t)
{
	free(t->pool);
	free(t->table);
	if (t->perm_chunks)
		for (size_t c = 0; c < chunks_for(t->used_perms); c++)
			free(t->perm_chunks[c]);
	if (t->chan_chunks)
		for (size_t c = 0; c < chunks_for(t->used_chans); c++)
			free(t->chan_chunks[c]);
	free(t->perm_chunks);
	free(t->chan_chunks);
}

/* Keyed by the client's address alone: the rest of the endpoint (its
 * handle, the server address) takes few values per client address and is
 * compared on a match. */
static unsigned slot_of(const struct turn *t, const union tern_addr *client)
{
	return (unsigned)(addr_hash(client, &t->k_table) & t->table_mask);
}

struct turn_alloc *alloc_lookup(struct turn *t, const struct turn_ep *ep)
{
	unsigned i = slot_of(t, &ep->remote);
	struct turn_alloc *a;
	while ((a = t->table[i]) != NULL) {
		if (turn_ep_equal(&a->ep, ep))
			return a;
		i = (i + 1) & t->table_mask;
	}
	return NULL;
}

/* Allocation lifetimes worth telling apart: seconds to hours (ms). */
const uint64_t turn_life_bounds[TURN_LIFE_NB] = {1000,    10000,   60000,   300000,  600000,
                                                 1800000, 3600000, 7200000, 21600000};

struct turn_alloc *alloc_new(struct turn *t, const struct turn_ep *ep)
{
	struct turn_alloc *a = take_alloc(t);
	if (!a)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->ep = *ep;
	a->relay[0] = a->relay[1] = -1;
	a->id = ++t->next_id;
	a->live = true;
	a->created = t->now;
	unsigned i = slot_of(t, &ep->remote);
	while (t->table[i])
		i = (i + 1) & t->table_mask;
	t->table[i] = a;
	a->label = t->label_cap;
	t->st.allocs_live++;
	t->st.allocs_created++;
	t->st.allocs_by_transport[ep->transport & 3]++;
	return a;
}

static void table_remove(struct turn *t, struct turn_alloc *a)
{
	unsigned i = slot_of(t, &a->ep.remote);
	while (t->table[i] != a) {
		if (!t->table[i])
			return;
		i = (i + 1) & t->table_mask;
	}
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	unsigned j = i;
	for (;;) {
		t->table[i] = NULL;
		for (;;) {
			j = (j + 1) & t->table_mask;
			struct turn_alloc *b = t->table[j];
			if (!b)
				return;
			unsigned k = slot_of(t, &b->ep.remote);
			/* b may move to i when its home k is not in (i, j] cyclically. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			t->table[i] = b;
			i = j;
			break;
		}
	}
}

void alloc_delete(struct turn *t, struct turn_alloc *a)
{
	/* the kernel stops relaying for a before its relay sockets close */
	fast_drop_all(t, a);
	a->live = false;
	table_remove(t, a);
	timer_cancel(&t->wheel, &a->timer);
	for (unsigned i = 0; i < 2; i++)
		if (a->relay[i] >= 0)
			t->io.relay_close(t->io.ctx, a->relay[i]);
	if (a->quota)
		shared_quota_release(t->p.shared, a->quota);
	while (a->perms) {
		struct turn_perm *p = a->perms;
		a->perms = p->next;
		p->next = t->free_perms;
		t->free_perms = p;
		t->st.perms_live--;
	}
	while (a->chans) {
		struct turn_chan *c = a->chans;
		a->chans = c->next;
		c->next = t->free_chans;
		t->free_chans = c;
		t->st.channels_live--;
	}
	a->free_next = t->free_allocs;
	t->free_allocs = a;
	t->st.allocs_live--;
	t->st.allocs_deleted++;
	t->st.allocs_by_transport[a->ep.transport & 3]--;
	metric_hist_add(t->st.life_hist, turn_life_bounds, TURN_LIFE_NB, t->now - a->created);
	/* relayed data is counted once per allocation, for tern ctl too */
	a->traffic[TURN_TRAFFIC_SENTP] += a->down_datagrams;
	a->traffic[TURN_TRAFFIC_SENTB] += a->down_bytes;
	a->traffic[TURN_TRAFFIC_PEER_SENTP] += a->up_datagrams;
	a->traffic[TURN_TRAFFIC_PEER_SENTB] += a->up_bytes;
	for (unsigned k = 0; k < TURN_TRAFFIC_N; k++)
		t->st.finished[k] += a->traffic[k];
	if (t->user_traffic)
		for (unsigned k = 0; k < TURN_TRAFFIC_N; k++)
			t->user_traffic[a->label][k] += a->traffic[k];
}

int alloc_relay_index(const struct turn_alloc *a, int family)
{
	for (unsigned i = 0; i < a->nrelay; i++)
		if (a->relay_addr[i].sa.sa_family == family)
			return (int)i;
	return -1;
}

/* The allocation's one timer fires at the earliest of its own expiry and
 * the expiry of its permissions and channels (held channels included), so
 * expired entries are freed promptly; use sites also check expiry, so a
 * late timer never lets a stale entry relay. */
void alloc_schedule(struct turn *t, struct turn_alloc *a)
{
	uint64_t when = a->expires;
	for (struct turn_perm *p = a->perms; p; p = p->next)
		if (p->expires < when)
			when = p->expires;
	for (struct turn_chan *c = a->chans; c; c = c->next) {
		/* an offloaded channel is taken back from the kernel when it
		 * expires, not when its hold ends */
		uint64_t end = c->fast && c->expires > t->now ? c->expires : c->expires + TURN_CHANNEL_HOLD_MS;
		if (end < when)
			when = end;
	}
	if (!timer_armed(&a->timer) || when < a->timer.expires)
		timer_arm(&t->wheel, &a->timer, when);
}

void alloc_on_timer(struct timer *tm, void *arg)
{
	struct turn *t = arg;
	struct turn_alloc *a = (struct turn_alloc *)((char *)tm - offsetof(struct turn_alloc, timer));

	if (a->expires <= t->now) {
		t->st.allocs_expired++;
		alloc_delete(t, a);
		return;
	}
	/* Before anything is freed: the kernel gives back an expired channel
	 * (or one whose permission expired) while its entry still exists, so
	 * no freed entry keeps a mapping, however late this timer runs. */
	fast_sync(t, a);
	for (struct turn_perm **pp = &a->perms; *pp;) {
		struct turn_perm *p = *pp;
		if (p->expires <= t->now) {
			*pp = p->next;
			p->next = t->free_perms;
			t->free_perms = p;
			a->nperms--;
			t->st.perms_live--;
		} else {
			pp = &p->next;
		}
	}
	for (struct turn_chan **cp = &a->chans; *cp;) {
		struct turn_chan *c = *cp;
		if (c->expires + TURN_CHANNEL_HOLD_MS <= t->now) {
			*cp = c->next;
			c->next = t->free_chans;
			t->free_chans = c;
			a->nchans--;
			t->st.channels_live--;
		} else {
			cp = &c->next;
		}
	}
	alloc_schedule(t, a);
}

struct turn_perm *perm_find(struct turn *t, struct turn_alloc *a, const union tern_addr *peer)
{
	for (struct turn_perm *p = a->perms; p; p = p->next)
		if (addr_equal_ip(&p->ip, peer))
			return p->expires > t->now ? p : NULL;
	return NULL;
}

struct turn_perm *perm_entry(const struct turn_alloc *a, const union tern_addr *peer)
{
	for (struct turn_perm *p = a->perms; p; p = p->next)
		if (addr_equal_ip(&p->ip, peer))
			return p;
	return NULL;
}

struct turn_perm *perm_install(struct turn *t, struct turn_alloc *a, const union tern_addr *peer,
                               struct turn_perm **spare)
{
	struct turn_perm *p = perm_entry(a, peer);
	if (!p) {
		if (a->nperms >= t->p.max_perms)
			return NULL;
		if (spare && *spare) {
			p = *spare;
			*spare = p->next;
		} else if (!(p = perm_take(t))) {
			return NULL;
		}
		p->ip = *peer;
		addr_set_port(&p->ip, 0);
		p->next = a->perms;
		a->perms = p;
		a->nperms++;
		t->st.perms_live++;
	}
	/* RFC 8656 §9: permissions are refreshed, never shortened. */
	p->expires = t->now + (uint64_t)t->p.permission_lifetime * 1000;
	alloc_schedule(t, a);
	return p;
}

struct turn_chan *chan_by_num(struct turn *t, struct turn_alloc *a, uint16_t num, bool include_held)
{
	for (struct turn_chan *c = a->chans; c; c = c->next)
		if (c->num == num) {
			uint64_t end = c->expires + (include_held ? TURN_CHANNEL_HOLD_MS : 0);
			return end > t->now ? c : NULL;
		}
	return NULL;
}

struct turn_chan *chan_by_peer(struct turn *t, struct turn_alloc *a, const union tern_addr *peer,
                               bool include_held)
{
	for (struct turn_chan *c = a->chans; c; c = c->next)
		if (addr_equal(&c->peer, peer)) {
			uint64_t end = c->expires + (include_held ? TURN_CHANNEL_HOLD_MS : 0);
			if (end > t->now)
				return c;
		}
	return NULL;
}

struct turn_chan *chan_entry(const struct turn_alloc *a, uint16_t num)
{
	for (struct turn_chan *c = a->chans; c; c = c->next)
		if (c->num == num)
			return c;
	return NULL;
}

struct turn_chan *chan_install(struct turn *t, struct turn_alloc *a, uint16_t num,
                               const union tern_addr *peer, struct turn_chan **spare)
{
	struct turn_chan *c = chan_entry(a, num);
	if (!c) {
		if (a->nchans >= t->p.max_channels)
			return NULL;
		if (spare && *spare) {
			c = *spare;
			*spare = c->next;
		} else if (!(c = chan_take(t))) {
			return NULL;
		}
		c->num = num;
		/* pool entries are not zeroed: a new channel is not offloaded */
		c->fast = 0;
		c->fast_exp = 0;
		c->next = a->chans;
		a->chans = c;
		a->nchans++;
		t->st.channels_live++;
	}
	c->peer = *peer;
	c->expires = t->now + (uint64_t)t->p.channel_lifetime * 1000;
	alloc_schedule(t, a);
	return c;
}

bool bucket_allow(struct turn_bucket *b, uint64_t rate, uint64_t burst, uint64_t now, size_t len, bool take)
{
	if (rate == 0)
		return true;
	/* Milli-bytes: a rate in bytes/s adds exactly `rate` of them per
	 * millisecond, so no fraction is lost however often it is asked. */
	uint64_t cap = burst * 1000;
	if (now > b->stamp) {
		uint64_t elapsed = now - b->stamp;
		if (elapsed >= cap / rate + 1 || b->tokens + elapsed * rate > cap)
			b->tokens = cap;
		else
			b->tokens += elapsed * rate;
		b->stamp = now;
	}
	if (b->tokens < (uint64_t)len * 1000)
		return false;
	if (take)
		b->tokens -= (uint64_t)len * 1000;
	return true;
}

const struct turn_ep *turn_alloc_client(const struct turn_alloc *a)
{
	return &a->ep;
}

intptr_t *turn_alloc_io_data(struct turn_alloc *a)
{
	return &a->io_data;
}
