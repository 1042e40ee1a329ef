/* The core's side of the kernel fast path (docs/FASTPATH.md): which bound
 * channels the io may relay in the kernel, and for how long. The kernel
 * program checks the expiry itself on every datagram, so a mapping never
 * outlives what user space would relay even when a timer runs late; these
 * calls keep the mappings in step and take them back when a channel, its
 * permission or its allocation ends. */
#include <string.h>

#include "turn/internal.h"

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a < b ? a : b;
	return m < c ? m : c;
}

static void fast_fill(const struct turn_alloc *a, const struct turn_chan *c, int relay, uint64_t exp,
                      struct turn_fast *f)
{
	f->ep = &a->ep;
	f->relay = relay;
	f->peer = &c->peer;
	f->num = c->num;
	f->expires_ms = exp;
}

static void fast_take_back(struct turn *t, struct turn_alloc *a, struct turn_chan *c)
{
	struct turn_fast f;
	struct turn_fast_counts n = {0};
	int ri = alloc_relay_index(a, c->peer.sa.sa_family);
	fast_fill(a, c, ri >= 0 ? a->relay[ri] : -1, c->fast_exp, &f);
	t->io.fast_del(t->io.ctx, c->fast, &f, &n);
	c->fast = 0;
	c->fast_exp = 0;
	t->st.fast_live--;
	/* what the kernel relayed counts as the allocation's traffic (tern ctl
	 * sessions, coturn's per-session totals), not as user-space datagrams */
	a->up_datagrams += n.up_datagrams;
	a->up_bytes += n.up_bytes;
	a->down_datagrams += n.down_datagrams;
	a->down_bytes += n.down_bytes;
	a->traffic[TURN_TRAFFIC_RCVP] += n.up_datagrams;
	a->traffic[TURN_TRAFFIC_RCVB] += n.up_bytes + n.up_datagrams * TURN_CHANNEL_HDR;
	a->traffic[TURN_TRAFFIC_PEER_RCVP] += n.down_datagrams;
	a->traffic[TURN_TRAFFIC_PEER_RCVB] += n.down_bytes;
}

void fast_sync(struct turn *t, struct turn_alloc *a)
{
	if (!t->io.fast_set)
		return;
	/* max-bps is enforced per datagram in user space only: an allocation
	 * with a limit is never offloaded (docs/FASTPATH.md says why). */
	bool may = a->live && a->ep.transport == TURN_T_UDP && t->p.max_bps == 0;
	for (struct turn_chan *c = a->chans; c; c = c->next) {
		const struct turn_perm *p = may && c->expires > t->now ? perm_find(t, a, &c->peer) : NULL;
		int ri = p ? alloc_relay_index(a, c->peer.sa.sa_family) : -1;
		if (ri < 0) {
			if (c->fast)
				fast_take_back(t, a, c);
			continue;
		}
		uint64_t exp = min3(c->expires, p->expires, a->expires);
		if (c->fast && c->fast_exp == exp)
			continue;
		struct turn_fast f;
		fast_fill(a, c, a->relay[ri], exp, &f);
		bool fresh = c->fast == 0;
		if (t->io.fast_set(t->io.ctx, &f, &c->fast) < 0) {
			if (fresh)
				t->st.fast_install_fail++;
			else
				fast_take_back(t, a, c);
			c->fast = 0;
			continue;
		}
		c->fast_exp = exp;
		if (fresh) {
			t->st.fast_live++;
			t->st.fast_installs++;
		}
	}
}

void fast_drop_all(struct turn *t, struct turn_alloc *a)
{
	if (!t->io.fast_set)
		return;
	for (struct turn_chan *c = a->chans; c; c = c->next)
		if (c->fast)
			fast_take_back(t, a, c);
}

void fast_read_alloc(const struct turn *t, const struct turn_alloc *a, struct turn_fast_counts *out)
{
	if (!t->io.fast_read)
		return;
	for (const struct turn_chan *c = a->chans; c; c = c->next)
		if (c->fast)
			t->io.fast_read(t->io.ctx, c->fast, out);
}
