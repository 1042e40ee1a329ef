#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "turn/internal.h"

/* Per-user allocation counts, keyed by user name. Few and touched only on
 * Allocate and deletion, so a mutex and a chained hash are plenty. The key
 * is the whole name, allocated with its length: names cut to a fixed size
 * would let distinct users who share a prefix share one quota. */
struct quota_user {
	struct quota_user *next;
	unsigned count;
	size_t len;
	uint8_t name[];
};

/* A relay port held for a later Allocate (EVEN-PORT R=1). It holds one
 * unit of its user's quota and of the total until redeemed or expired: a
 * reserved port is an open socket like an allocation's. */
struct reservation {
	uint8_t token[8];
	int handle;
	uint64_t expires;
	struct quota_user *quota;
	bool used;
};

#define QUOTA_BUCKETS    1024
#define MAX_RESERVATIONS 1024

/* An ALTERNATE-SERVER list and its round-robin position. */
struct alt_list {
	union tern_addr a[TURN_MAX_ALTERNATES];
	unsigned n, next;
};

struct turn_shared {
	pthread_mutex_t lock;
	/* username labels: names[0..nlabels-1] are written once, before
	 * nlabels is raised (release), so a reader that loads nlabels
	 * (acquire) may read them without the lock */
	char **labels;
	unsigned label_cap;
	_Atomic unsigned nlabels;
	unsigned user_quota, total_quota;
	unsigned total;    /* allocations (read without the lock: turn_shared_total) */
	unsigned reserved; /* reservations made or about to be: units besides total */
	bool draining;     /* read without the lock (turn_shared_draining) */
	bool alternates;   /* some list is not empty (read without the lock) */
	struct quota_user *users[QUOTA_BUCKETS];
	struct reservation res[MAX_RESERVATIONS];
	struct alt_list alt[TURN_ALT_KINDS];
	/* the server's public addresses (external-ip): an alternate at one of
	 * them, on the port the client wrote to, is this server too */
	union tern_addr self[TURN_MAX_ALTERNATES];
	unsigned nself;
};

struct turn_shared *turn_shared_new(unsigned user_quota, unsigned total_quota)
{
	struct turn_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->user_quota = user_quota;
	s->total_quota = total_quota;
	return s;
}

void turn_shared_labels_on(struct turn_shared *s, unsigned cap)
{
	s->labels = calloc(cap, sizeof(*s->labels));
	s->label_cap = s->labels ? cap : 0;
}

unsigned turn_shared_nlabels(const struct turn_shared *s)
{
	return atomic_load_explicit(&((struct turn_shared *)s)->nlabels, memory_order_acquire);
}

unsigned turn_shared_labels_cap(const struct turn_shared *s)
{
	return s->label_cap;
}

const char *turn_shared_label(const struct turn_shared *s, unsigned i)
{
	return s->labels[i];
}

unsigned shared_label(struct turn_shared *s, const uint8_t *id, size_t len)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = atomic_load_explicit(&s->nlabels, memory_order_relaxed), i;
	for (i = 0; i < n; i++)
		if (strlen(s->labels[i]) == len && memcmp(s->labels[i], id, len) == 0)
			break;
	if (i == n && n < s->label_cap) {
		char *name = malloc(len + 1);
		if (name) {
			memcpy(name, id, len);
			name[len] = 0;
			s->labels[n] = name;
			atomic_store_explicit(&s->nlabels, n + 1, memory_order_release);
		} else {
			i = s->label_cap;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return i < s->label_cap ? i : s->label_cap;
}

void turn_shared_free(struct turn_shared *s, const struct turn_io *io)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nlabels; i++)
		free(s->labels[i]);
	free(s->labels);
	for (unsigned b = 0; b < QUOTA_BUCKETS; b++)
		while (s->users[b]) {
			struct quota_user *q = s->users[b];
			s->users[b] = q->next;
			free(q);
		}
	for (unsigned i = 0; i < MAX_RESERVATIONS; i++)
		if (s->res[i].used && io)
			io->relay_close(io->ctx, s->res[i].handle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

unsigned turn_shared_total(const struct turn_shared *s)
{
	return __atomic_load_n(&s->total, __ATOMIC_RELAXED);
}

static unsigned name_bucket(const uint8_t *n, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ n[i]) * 16777619u;
	return h % QUOTA_BUCKETS;
}

/* The entry of user, created with no unit when absent (NULL: no memory).
 * Under the lock. */
static struct quota_user *user_get(struct turn_shared *s, const uint8_t *user, size_t ulen)
{
	unsigned b = name_bucket(user, ulen);
	struct quota_user *q;
	for (q = s->users[b]; q; q = q->next)
		if (q->len == ulen && memcmp(q->name, user, ulen) == 0)
			return q;
	q = calloc(1, sizeof(*q) + ulen);
	if (!q)
		return NULL;
	memcpy(q->name, user, ulen);
	q->len = ulen;
	q->next = s->users[b];
	s->users[b] = q;
	return q;
}

/* Free q when it holds no unit. Under the lock. REST usernames are new
 * for every session: an entry must not outlive its last unit, or memory
 * and chain length grow without bound. */
static void user_drop_idle(struct turn_shared *s, struct quota_user *q)
{
	if (q->count != 0)
		return;
	for (struct quota_user **pp = &s->users[name_bucket(q->name, q->len)]; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			free(q);
			return;
		}
}

/* Give back one unit of q. Under the lock. */
static void user_put(struct turn_shared *s, struct quota_user *q)
{
	q->count--;
	user_drop_idle(s, q);
}

int shared_quota_take(struct turn_shared *s, const uint8_t *user, size_t ulen, bool reserve,
                      struct quota_user **out)
{
	int rc = 0;
	unsigned need = reserve ? 2 : 1;
	pthread_mutex_lock(&s->lock);
	if (s->total_quota && s->total + s->reserved + need > s->total_quota) {
		rc = -ENOSPC;
		goto out;
	}
	struct quota_user *q = user_get(s, user, ulen);
	if (!q) {
		rc = -ENOSPC;
		goto out;
	}
	if (s->user_quota && q->count + need > s->user_quota) {
		user_drop_idle(s, q); /* made just now, when nothing held it */
		rc = -EDQUOT;
		goto out;
	}
	q->count += need;
	s->reserved += need - 1;
	__atomic_add_fetch(&s->total, 1, __ATOMIC_RELAXED);
	*out = q;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void shared_quota_release(struct turn_shared *s, struct quota_user *q)
{
	pthread_mutex_lock(&s->lock);
	__atomic_sub_fetch(&s->total, 1, __ATOMIC_RELAXED);
	user_put(s, q);
	pthread_mutex_unlock(&s->lock);
}

void shared_reserve_cancel(struct turn_shared *s, struct quota_user *q)
{
	pthread_mutex_lock(&s->lock);
	s->reserved--;
	user_put(s, q);
	pthread_mutex_unlock(&s->lock);
}

int shared_reserve(struct turn_shared *s, struct quota_user *q, int handle, uint64_t now, uint8_t token[8])
{
	int rc = -ENOSPC;
	if (getrandom(token, 8, 0) != 8)
		return -EIO;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < MAX_RESERVATIONS; i++)
		if (!s->res[i].used) {
			s->res[i].used = true;
			s->res[i].handle = handle;
			s->res[i].expires = now + TURN_RESERVATION_MS;
			s->res[i].quota = q;
			memcpy(s->res[i].token, token, 8);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int shared_redeem(struct turn_shared *s, const uint8_t token[8], uint64_t now, const uint8_t *user,
                  size_t ulen, struct quota_user **out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < MAX_RESERVATIONS; i++) {
		struct reservation *res = &s->res[i];
		if (!res->used || res->expires <= now || memcmp(res->token, token, 8) != 0)
			continue;
		/* The reservation's unit goes back and the allocation takes one:
		 * the total does not move, and the owner redeeming its own token
		 * needs no unit beyond the one the reservation held. */
		struct quota_user *q = user_get(s, user, ulen);
		if (!q) {
			rc = -ENOSPC;
			break;
		}
		unsigned held = q->count - (q == res->quota);
		if (s->user_quota && held >= s->user_quota) {
			rc = -EDQUOT; /* the reservation stays for someone who may */
			break;
		}
		q->count++;
		user_put(s, res->quota);
		s->reserved--;
		__atomic_add_fetch(&s->total, 1, __ATOMIC_RELAXED);
		res->used = false;
		*out = q;
		rc = res->handle;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void shared_expire(struct turn_shared *s, uint64_t now, const struct turn_io *io)
{
	int expired[MAX_RESERVATIONS];
	unsigned n = 0;
	/* trylock: a worker never waits on this housekeeping; another turn will do it. */
	if (pthread_mutex_trylock(&s->lock) != 0)
		return;
	for (unsigned i = 0; i < MAX_RESERVATIONS; i++)
		if (s->res[i].used && s->res[i].expires <= now) {
			s->res[i].used = false;
			s->reserved--;
			user_put(s, s->res[i].quota);
			expired[n++] = s->res[i].handle;
		}
	pthread_mutex_unlock(&s->lock);
	/* Closes are system calls: outside the lock other workers take. */
	for (unsigned i = 0; i < n; i++)
		io->relay_close(io->ctx, expired[i]);
}

/* ---- drain and ALTERNATE-SERVER ---- */

void turn_shared_set_draining(struct turn_shared *s, bool on)
{
	__atomic_store_n(&s->draining, on, __ATOMIC_RELAXED);
}

bool turn_shared_draining(const struct turn_shared *s)
{
	return __atomic_load_n(&s->draining, __ATOMIC_RELAXED);
}

int turn_shared_set_alternates(struct turn_shared *s, enum turn_alt_kind k, const union tern_addr *a,
                               unsigned n)
{
	if ((unsigned)k >= TURN_ALT_KINDS || n > TURN_MAX_ALTERNATES)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	memcpy(s->alt[k].a, a, n * sizeof(*a));
	s->alt[k].n = n;
	s->alt[k].next = 0;
	bool any = false;
	for (unsigned i = 0; i < TURN_ALT_KINDS; i++)
		any |= s->alt[i].n > 0;
	__atomic_store_n(&s->alternates, any, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int turn_shared_set_self(struct turn_shared *s, const union tern_addr *a, unsigned n)
{
	if (n > TURN_MAX_ALTERNATES)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	memcpy(s->self, a, n * sizeof(*a));
	s->nself = n;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* a is local itself, or one of the server's public addresses on local's port. */
static bool is_self(const struct turn_shared *s, const union tern_addr *a, const union tern_addr *local)
{
	if (addr_equal(a, local))
		return true;
	for (unsigned i = 0; i < s->nself; i++)
		if (addr_equal_ip(a, &s->self[i]) && addr_port(a) == addr_port(local))
			return true;
	return false;
}

/* coturn's precedence: UDP and DTLS clients take the UDP list, TCP the TCP
 * list, TLS (and DTLS without a UDP list) the TLS list, when given; else
 * alternate-server's. */
static struct alt_list *alt_list_for(struct turn_shared *s, uint8_t transport)
{
	struct alt_list *l = NULL;
	switch (transport) {
	case TURN_T_UDP:
		l = &s->alt[TURN_ALT_UDP];
		break;
	case TURN_T_TCP:
		l = &s->alt[TURN_ALT_TCP];
		break;
	case TURN_T_TLS:
		l = &s->alt[TURN_ALT_TLS];
		break;
	case TURN_T_DTLS:
		l = s->alt[TURN_ALT_UDP].n ? &s->alt[TURN_ALT_UDP] : &s->alt[TURN_ALT_TLS];
		break;
	}
	return l && l->n ? l : &s->alt[TURN_ALT_ANY];
}

bool turn_shared_alternate(struct turn_shared *s, uint8_t transport, const union tern_addr *local,
                           union tern_addr *out)
{
	bool draining = turn_shared_draining(s), found = false;
	/* no list: no lock (every new Allocate asks) */
	if (!__atomic_load_n(&s->alternates, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&s->lock);
	struct alt_list *l = alt_list_for(s, transport);
	bool self = false;
	for (unsigned i = 0; i < l->n; i++)
		self |= is_self(s, &l->a[i], local);
	/* A server in its own list redirects nobody (coturn: no loop among
	 * servers that share one list) until it drains. */
	for (unsigned i = 0; i < l->n && (!self || draining); i++) {
		const union tern_addr *a = &l->a[l->next++ % l->n];
		if (a->sa.sa_family == local->sa.sa_family && !is_self(s, a, local)) {
			*out = *a;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

const uint8_t *shared_quota_name(const struct quota_user *q, size_t *len)
{
	*len = q->len;
	return q->name;
}

void turn_shared_set_quotas(struct turn_shared *s, unsigned user_quota, unsigned total_quota)
{
	pthread_mutex_lock(&s->lock);
	s->user_quota = user_quota;
	s->total_quota = total_quota;
	pthread_mutex_unlock(&s->lock);
}
