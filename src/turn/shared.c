#include <errno.h>
#include <pthread.h>
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

struct reservation {
	uint8_t token[8];
	int handle;
	uint64_t expires;
	bool used;
};

#define QUOTA_BUCKETS    1024
#define MAX_RESERVATIONS 1024

struct turn_shared {
	pthread_mutex_t lock;
	unsigned user_quota, total_quota;
	unsigned total;
	struct quota_user *users[QUOTA_BUCKETS];
	struct reservation res[MAX_RESERVATIONS];
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

void turn_shared_free(struct turn_shared *s, const struct turn_io *io)
{
	if (!s)
		return;
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

/* Returns 0, -EDQUOT (user quota: 486) or -ENOSPC (total quota: 508). */
int shared_quota_take(struct turn_shared *s, const uint8_t *user, size_t ulen, struct quota_user **out)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	if (s->total_quota && s->total >= s->total_quota) {
		rc = -ENOSPC;
		goto out;
	}
	unsigned b = name_bucket(user, ulen);
	struct quota_user *q;
	for (q = s->users[b]; q; q = q->next)
		if (q->len == ulen && memcmp(q->name, user, ulen) == 0)
			break;
	if (!q) {
		q = calloc(1, sizeof(*q) + ulen);
		if (!q) {
			rc = -ENOSPC;
			goto out;
		}
		memcpy(q->name, user, ulen);
		q->len = ulen;
		q->next = s->users[b];
		s->users[b] = q;
	}
	if (s->user_quota && q->count >= s->user_quota) {
		rc = -EDQUOT;
		goto out;
	}
	q->count++;
	__atomic_add_fetch(&s->total, 1, __ATOMIC_RELAXED);
	*out = q;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void shared_quota_release(struct turn_shared *s, struct quota_user *q)
{
	pthread_mutex_lock(&s->lock);
	q->count--;
	__atomic_sub_fetch(&s->total, 1, __ATOMIC_RELAXED);
	/* REST usernames are new for every session: an entry must not outlive
	 * its last allocation, or memory and chain length grow without bound. */
	if (q->count == 0)
		for (struct quota_user **pp = &s->users[name_bucket(q->name, q->len)]; *pp; pp = &(*pp)->next)
			if (*pp == q) {
				*pp = q->next;
				free(q);
				break;
			}
	pthread_mutex_unlock(&s->lock);
}

int shared_reserve(struct turn_shared *s, int handle, uint64_t now, uint8_t token[8])
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
			memcpy(s->res[i].token, token, 8);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Returns the reserved handle (and forgets the reservation) or -ENOENT. */
int shared_take_reservation(struct turn_shared *s, const uint8_t token[8], uint64_t now)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < MAX_RESERVATIONS; i++)
		if (s->res[i].used && s->res[i].expires > now && memcmp(s->res[i].token, token, 8) == 0) {
			s->res[i].used = false;
			rc = s->res[i].handle;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void shared_expire(struct turn_shared *s, uint64_t now, const struct turn_io *io)
{
	int expired[16];
	unsigned n = 0;
	/* trylock: a worker never waits on this housekeeping; another turn will do it. */
	if (pthread_mutex_trylock(&s->lock) != 0)
		return;
	for (unsigned i = 0; i < MAX_RESERVATIONS && n < 16; i++)
		if (s->res[i].used && s->res[i].expires <= now) {
			s->res[i].used = false;
			expired[n++] = s->res[i].handle;
		}
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		io->relay_close(io->ctx, expired[i]);
}
