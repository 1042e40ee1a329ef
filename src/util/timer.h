/* Hashed timer wheel with intrusive entries: O(1) add/remove, expiry work
 * proportional to the timers due plus one slot scan per tick. One wheel per
 * worker; not thread-safe. Times are monotonic milliseconds. */
#ifndef TERN_UTIL_TIMER_H
#define TERN_UTIL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

/* 64 ms ticks x 1024 slots: a lap of ~65 s. Protocol timers are seconds
 * long, so 64 ms of lateness is invisible, and a timer further away than one
 * lap is simply revisited once per lap (cheap: lifetimes are minutes). */
#define TIMER_TICK_MS 64
#define TIMER_SLOTS   1024

struct timer {
	struct timer *next;
	struct timer **pprev; /* NULL when not armed */
	uint64_t expires;     /* ms */
};

struct timer_wheel {
	struct timer *slot[TIMER_SLOTS];
	uint64_t tick; /* last processed tick */
	unsigned count;
};

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms);
static inline bool timer_armed(const struct timer *t)
{
	return t->pprev != 0;
}
/* (Re)arm t to fire at expires_ms (a past time fires at the next expiry run). */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms);
void timer_cancel(struct timer_wheel *w, struct timer *t);
/* Fire every timer due at now_ms: each is disarmed, then fn(t, arg) is
 * called; fn may re-arm it or free it. Returns the number fired. */
unsigned timer_expire(struct timer_wheel *w, uint64_t now_ms, void (*fn)(struct timer *t, void *arg),
                      void *arg);
/* Milliseconds until the next tick boundary if any timer is armed, else max_ms;
 * never more than max_ms. */
int timer_next_ms(const struct timer_wheel *w, uint64_t now_ms, int max_ms);

#endif
