#include "net/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct net_defer {
	net_defer_fn fn;
	void *ptr;
};

/* Deferred frees happen when allocations or connections close, not per
 * packet; start with room for a busy turn and double when needed. */
#define DEFER_INITIAL 64

struct net_loop {
	int epfd;
	struct net_handler wake;
	/* Stamp for the next loop_add. Handlers stamped at or after turn_gen
	 * were added during the current turn, so the events fetched before
	 * they existed cannot be theirs (a pool may hand out the same memory
	 * again within one turn). */
	uint32_t next_gen;
	uint32_t turn_gen;
	struct net_defer *defer;
	size_t ndefer, defer_cap;
	struct epoll_event ev[NET_LOOP_EVENTS];
};

static void wake_drain(struct net_handler *h, uint32_t events)
{
	uint64_t v;
	/* Nonblocking eventfd: one read resets the counter, EAGAIN is harmless. */
	ssize_t r = read(h->fd, &v, sizeof v);
	(void)r;
}

static uint32_t gen_take(struct net_loop *l)
{
	uint32_t g = l->next_gen++;
	if (l->next_gen == 0)
		l->next_gen = 1; /* 0 means deleted */
	return g;
}

/* Added during this turn: gen lies in [turn_gen, next_gen), modulo 2^32.
 * After 2^32 adds a long-lived handler's stamp can fall in that window and
 * lose one turn; level-triggered handlers get the event again next turn. */
static bool gen_is_new(const struct net_loop *l, uint32_t gen)
{
	return (uint32_t)(gen - l->turn_gen) < (uint32_t)(l->next_gen - l->turn_gen);
}

struct net_loop *loop_new(void)
{
	struct net_loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->epfd = -1;
	l->wake.fd = -1;
	l->next_gen = 1;
	l->turn_gen = 1;
	l->defer = malloc(DEFER_INITIAL * sizeof *l->defer);
	if (!l->defer)
		goto fail;
	l->defer_cap = DEFER_INITIAL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail;
	l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake.fd < 0)
		goto fail;
	l->wake.fn = wake_drain;
	if (loop_add(l, &l->wake, EPOLLIN) < 0)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

static void defer_run(struct net_loop *l)
{
	/* Index loop, not a saved end: a deferred call may queue more. */
	for (size_t i = 0; i < l->ndefer; i++)
		l->defer[i].fn(l->defer[i].ptr);
	l->ndefer = 0;
}

void loop_free(struct net_loop *l)
{
	if (!l)
		return;
	if (l->defer)
		defer_run(l);
	if (l->wake.fd >= 0)
		close(l->wake.fd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->defer);
	free(l);
}

int loop_add(struct net_loop *l, struct net_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};
	h->gen = gen_take(l);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
		h->gen = 0;
		return -errno;
	}
	return 0;
}

int loop_mod(struct net_loop *l, struct net_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_del(struct net_loop *l, struct net_handler *h)
{
	/* Marked deleted even if epoll_ctl fails, so no stale event of this
	 * turn reaches it whatever state the fd is in. */
	h->gen = 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL) < 0)
		return -errno;
	return 0;
}

int loop_run_once(struct net_loop *l, int timeout_ms)
{
	/* syscall(2), not glibc's epoll_wait: no cancellation-point wrapper
	 * (see net/udp.c). A NULL mask makes epoll_pwait plain epoll_wait. */
	int n = (int)syscall(SYS_epoll_pwait, l->epfd, l->ev, NET_LOOP_EVENTS, timeout_ms, NULL, 0);
	if (n < 0) {
		int err = -errno;
		defer_run(l);
		return err;
	}
	l->turn_gen = l->next_gen;
	int done = 0;
	for (int i = 0; i < n; i++) {
		struct net_handler *h = l->ev[i].data.ptr;
		if (h->gen == 0 || gen_is_new(l, h->gen))
			continue;
		h->fn(h, l->ev[i].events);
		if (h != &l->wake)
			done++;
	}
	/* Outside a turn every stamp counts as old again. */
	l->turn_gen = l->next_gen;
	defer_run(l);
	return done;
}

int loop_wake(struct net_loop *l)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake-up is already pending. */
	if (write(l->wake.fd, &one, sizeof one) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int loop_defer_free(struct net_loop *l, void *ptr, net_defer_fn fn)
{
	if (l->ndefer == l->defer_cap) {
		size_t cap = l->defer_cap * 2;
		struct net_defer *d = realloc(l->defer, cap * sizeof *d);
		if (!d)
			return -ENOMEM;
		l->defer = d;
		l->defer_cap = cap;
	}
	l->defer[l->ndefer++] = (struct net_defer){.fn = fn, .ptr = ptr};
	return 0;
}

uint64_t net_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t net_wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}
