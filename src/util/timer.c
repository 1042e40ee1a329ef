#include "util/timer.h"

#include <string.h>

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->tick = now_ms / TIMER_TICK_MS;
}

static void unlink_timer(struct timer *t)
{
	if (t->next)
		t->next->pprev = t->pprev;
	*t->pprev = t->next;
	t->next = NULL;
	t->pprev = NULL;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms)
{
	if (t->pprev)
		unlink_timer(t);
	else
		w->count++;
	uint64_t tick = expires_ms / TIMER_TICK_MS;
	/* Never file into a slot already passed: it would wait a whole lap. */
	if (tick <= w->tick)
		tick = w->tick + 1;
	t->expires = expires_ms;
	struct timer **head = &w->slot[tick % TIMER_SLOTS];
	t->next = *head;
	if (*head)
		(*head)->pprev = &t->next;
	*head = t;
	t->pprev = head;
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
	if (!t->pprev)
		return;
	unlink_timer(t);
	w->count--;
}

unsigned timer_expire(struct timer_wheel *w, uint64_t now_ms, void (*fn)(struct timer *t, void *arg),
                      void *arg)
{
	uint64_t target = now_ms / TIMER_TICK_MS;
	unsigned fired = 0;

	if (target <= w->tick)
		return 0;
	/* After a long stall, one lap covers every slot. */
	if (target - w->tick > TIMER_SLOTS)
		w->tick = target - TIMER_SLOTS;
	while (w->tick < target) {
		w->tick++;
		struct timer **head = &w->slot[w->tick % TIMER_SLOTS];
		/* Detach the slot first: fn may re-arm into this very slot. */
		struct timer *list = *head, *t;
		*head = NULL;
		if (list)
			list->pprev = &list;
		while ((t = list) != NULL) {
			unlink_timer(t);
			if (t->expires / TIMER_TICK_MS > w->tick) {
				/* Not due this lap: put it back (counts unchanged). */
				w->count--;
				timer_arm(w, t, t->expires);
				continue;
			}
			w->count--;
			fired++;
			fn(t, arg);
		}
	}
	return fired;
}

int timer_next_ms(const struct timer_wheel *w, uint64_t now_ms, int max_ms)
{
	if (w->count == 0)
		return max_ms;
	uint64_t next = (now_ms / TIMER_TICK_MS + 1) * TIMER_TICK_MS;
	uint64_t d = next - now_ms;
	return d < (uint64_t)max_ms ? (int)d : max_ms;
}
