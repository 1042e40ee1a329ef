/* Event loop: one per worker thread, epoll underneath. Not thread-safe: a
 * loop and everything registered on it belong to one thread.
 *
 * Owners embed a struct net_handler in their own object and register it;
 * the loop calls handler->fn with the epoll events. A handler removed with
 * loop_del during a turn is not called again in that turn (the loop checks
 * a generation stamp), so callers may close sockets from inside callbacks.
 *
 * Lifetime: the epoll event carries only the handler's address, so events
 * already fetched for a handler stay in the turn's event array after
 * loop_del. The handler's memory must therefore stay valid until the turn
 * ends: free it with loop_defer_free(), never directly from a callback.
 * Call loop_del before close(fd): epoll matches the fd number, and a
 * reused number would remove someone else's registration. */
#ifndef TERN_NET_LOOP_H
#define TERN_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct net_loop;
struct net_handler;

typedef void (*net_handler_fn)(struct net_handler *h, uint32_t events);

struct net_handler {
	net_handler_fn fn;
	int fd;
	uint32_t gen; /* set by loop_add; 0 once deleted */
};

/* Deferred work run at the end of a loop turn (see loop_defer_free). */
typedef void (*net_defer_fn)(void *ptr);

/* Max events handled per epoll_wait (one loop turn). 64 keeps a turn short
 * enough that timers and flushes stay timely while amortising the syscall. */
#define NET_LOOP_EVENTS 64

struct net_loop *loop_new(void);
void loop_free(struct net_loop *l);
/* Register h->fd (set by caller) for events (EPOLLIN...). 0 or -errno. */
int loop_add(struct net_loop *l, struct net_handler *h, uint32_t events);
int loop_mod(struct net_loop *l, struct net_handler *h, uint32_t events);
/* Unregister; safe inside a callback. Does not close the fd. */
int loop_del(struct net_loop *l, struct net_handler *h);
/* Wait up to timeout_ms (-1 forever) and dispatch. Returns the number of
 * events dispatched, 0 on timeout, -EINTR when interrupted. A loop_wake
 * makes it return without counting the wake-up itself; stale events of
 * handlers deleted (or deleted and re-added) during the turn are skipped
 * and not counted. Deferred calls run before it returns. */
int loop_run_once(struct net_loop *l, int timeout_ms);
/* An eventfd registered on the loop; loop_wake() from any thread makes
 * loop_run_once return (used for shutdown). */
int loop_wake(struct net_loop *l);
/* Run fn(ptr) after the current turn's dispatch is over (at the end of
 * loop_run_once, or of the next one when called outside a turn); loop_free
 * runs whatever is still pending. This is how an owner frees an object that
 * embeds a handler it has just loop_del'ed. Calls run in the order queued;
 * fn may queue more, which run in the same pass. 0, or -ENOMEM when the
 * queue cannot grow (nothing was queued; the caller keeps the object). */
int loop_defer_free(struct net_loop *l, void *ptr, net_defer_fn fn);

/* Monotonic milliseconds (CLOCK_MONOTONIC: exact to the ms, unlike the
 * _COARSE clock which ticks per jiffy, 1-4 ms) and wall seconds
 * (CLOCK_REALTIME_COARSE: a jiffy of error is nothing at 1 s resolution).
 * Both are vDSO reads; callers read them once per loop turn. */
uint64_t net_now_ms(void);
/* Monotonic microseconds. */
uint64_t net_now_us(void);
uint64_t net_wall_s(void);

#endif
