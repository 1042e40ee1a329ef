#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "turn/internal.h"

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 16;
	while (p < n)
		p <<= 1;
	return p;
}

int alloc_pools_init(struct turn *t)
{
	size_t n = t->p.max_allocs;
	/* calloc and carve lazily: pages of a large pool that are never used are
	 * never touched, so a generous limit costs address space, not memory. */
	t->pool = calloc(n, sizeof(*t->pool));
	t->table_mask = pow2_at_least((unsigned)n * 2) - 1;
	t->table = calloc((size_t)t->table_mask + 1, sizeof(*t->table));
	t->nperm_pool = n * 2 + 64;
	t->nchan_pool = n + 64;
	t->perm_pool = calloc(t->nperm_pool, sizeof(*t->perm_pool));
	t->chan_pool = calloc(t->nchan_pool, sizeof(*t->chan_pool));
	if (!t->pool || !t->table || !t->perm_pool || !t->chan_pool)
		return -ENOMEM;
	return 0;
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

static struct turn_perm *take_perm(struct turn *t)
{
	struct turn_perm *p = t->free_perms;
	if (p)
		t->free_perms = p->next;
	else if (t->used_perms < t->nperm_pool)
		p = &t->perm_pool[t->used_perms++];
	return p;
}

static struct turn_chan *take_chan(struct turn *t)
{
	struct turn_chan *c = t->free_chans;
	if (c)
		t->free_chans = c->next;
	else if (t->used_chans < t->nchan_pool)
		c = &t->chan_pool[t->used_chans++];
	return c;
}

void alloc_pools_free(struct turn *t)
{
	free(t->pool);
	free(t->table);
	free(t->perm_pool);
	free(t->chan_pool);
}

/* Keyed by the client's address alone: the server side (listener, local
 * address) takes few values and is compared on a match. */
static unsigned slot_of(const struct turn *t, const union tern_addr *client)
{
	return (unsigned)(addr_hash(client, &t->k_table) & t->table_mask);
}

struct turn_alloc *alloc_lookup(struct turn *t, int listener, const union tern_addr *local,
                                const union tern_addr *client)
{
	unsigned i = slot_of(t, client);
	struct turn_alloc *a;
	while ((a = t->table[i]) != NULL) {
		if (a->listener == listener && addr_equal(&a->client, client) && addr_equal(&a->local, local))
			return a;
		i = (i + 1) & t->table_mask;
	}
	return NULL;
}

struct turn_alloc *alloc_new(struct turn *t, int listener, const union tern_addr *local,
                             const union tern_addr *client)
{
	struct turn_alloc *a = take_alloc(t);
	if (!a)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->client = *client;
	a->listener = listener;
	a->local = *local;
	a->relay[0] = a->relay[1] = -1;
	a->id = ++t->next_id;
	a->live = true;
	unsigned i = slot_of(t, client);
	while (t->table[i])
		i = (i + 1) & t->table_mask;
	t->table[i] = a;
	t->st.allocs_live++;
	t->st.allocs_created++;
	return a;
}

static void table_remove(struct turn *t, struct turn_alloc *a)
{
	unsigned i = slot_of(t, &a->client);
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
			unsigned k = slot_of(t, &b->client);
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
	for (struct turn_chan *c = a->chans; c; c = c->next)
		if (c->expires + TURN_CHANNEL_HOLD_MS < when)
			when = c->expires + TURN_CHANNEL_HOLD_MS;
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

struct turn_perm *perm_install(struct turn *t, struct turn_alloc *a, const union tern_addr *peer)
{
	struct turn_perm *p;
	for (p = a->perms; p; p = p->next)
		if (addr_equal_ip(&p->ip, peer))
			break;
	if (!p) {
		if (a->nperms >= t->p.max_perms || !(p = take_perm(t)))
			return NULL;
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

struct turn_chan *chan_install(struct turn *t, struct turn_alloc *a, uint16_t num,
                               const union tern_addr *peer)
{
	struct turn_chan *c;
	for (c = a->chans; c; c = c->next)
		if (c->num == num)
			break;
	if (!c) {
		if (a->nchans >= t->p.max_channels || !(c = take_chan(t)))
			return NULL;
		c->num = num;
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

const union tern_addr *turn_alloc_client(const struct turn_alloc *a, int *listener)
{
	*listener = a->listener;
	return &a->client;
}
