/* Allocate, Refresh, CreatePermission, ChannelBind (RFC 8656 §7, §9, §11).
 * Each runs after the request was authenticated (struct req). */
#include <errno.h>
#include <string.h>

#include "turn/internal.h"
#include "util/bytes.h"
#include "util/log.h"

static int family_of(uint8_t f)
{
	return f == STUN_FAMILY_IPV4 ? AF_INET : f == STUN_FAMILY_IPV6 ? AF_INET6 : -1;
}

static bool family_enabled(const struct turn *t, int family)
{
	return family == AF_INET ? t->p.relay_v4 : family == AF_INET6 ? t->p.relay_v6 : false;
}

/* RFC 8656 §7.2 and §7.3: the desired lifetime is the requested one, but
 * not less than the default nor more than the maximum. */
static unsigned lifetime_of(const struct turn *t, const struct stun_msg *m)
{
	const struct stun_attr *la = stun_find(m, STUN_A_LIFETIME);
	uint32_t want = t->p.default_lifetime;
	if (la && stun_attr_u32(la, &want) == 0 && want < t->p.default_lifetime)
		want = t->p.default_lifetime;
	if (want > t->p.max_lifetime)
		want = t->p.max_lifetime;
	return want;
}

static void add_address_error(struct stun_builder *b, uint16_t type, uint8_t family, int code)
{
	uint8_t v[4] = {family, 0, (uint8_t)(code / 100), (uint8_t)(code % 100)};
	stun_add_attr(b, type, v, sizeof(v));
}

void req_allocate(struct req *r)
{
	struct turn *t = r->t;
	struct stun_msg *m = r->m;

	/* RFC 8656 §7.2 step 2: one allocation per 5-tuple. (A retransmission
	 * of the request that created it was answered from the cache.) */
	if (r->a) {
		resp_error(r, 437);
		return;
	}
	/* ALTERNATE-SERVER (a signed 300 after the check), or no new allocation
	 * while draining. A draining node serves a signed Allocate itself when
	 * it has somewhere to send new clients: such a client had its 401 from
	 * this node a round trip before the drain began (unsigned ones were sent
	 * on at once), and sent on with this node's nonce it meets a 438 at the
	 * alternate, which Chromium does not retry on Allocate (e2e drain run). */
	if (turn_shared_draining(t->p.shared)) {
		union tern_addr alt;
		if (!turn_shared_alternate(t->p.shared, r->ep->transport, &r->ep->local, &alt)) {
			t->st.drain_refused++;
			resp_error(r, 403);
			return;
		}
	} else if (req_redirect(r)) {
		return;
	}
	/* step 3 */
	const struct stun_attr *rt = stun_find(m, STUN_A_REQUESTED_TRANSPORT);
	uint8_t proto;
	if (!rt || stun_attr_transport(rt, &proto) < 0) {
		resp_error(r, 400);
		return;
	}
	if (proto != STUN_TRANSPORT_UDP) {
		resp_error(r, 442);
		return;
	}
	/* step 4: DONT-FRAGMENT is supported (DF set on the relay socket). */
	bool df = stun_find(m, STUN_A_DONT_FRAGMENT) != NULL;
	const struct stun_attr *tok = stun_find(m, STUN_A_RESERVATION_TOKEN);
	const struct stun_attr *even = stun_find(m, STUN_A_EVEN_PORT);
	const struct stun_attr *raf = stun_find(m, STUN_A_REQUESTED_ADDRESS_FAMILY);
	const struct stun_attr *aaf = stun_find(m, STUN_A_ADDITIONAL_ADDRESS_FAMILY);
	/* coturn's clients still use the draft's attribute numbers: accept
	 * them, and answer ADDRESS-ERROR-CODE in the numbering they used. */
	bool draft_aaf = false;
	if (!aaf && (aaf = stun_find(m, STUN_A_ADDITIONAL_ADDRESS_FAMILY_DRAFT)) != NULL)
		draft_aaf = true;
	/* step 5 */
	if (tok && (even || raf || aaf)) {
		resp_error(r, 400);
		return;
	}
	if (tok && tok->len != 8) {
		resp_error(r, 400);
		return;
	}
	/* step 6 */
	if (raf && aaf) {
		resp_error(r, 400);
		return;
	}
	/* step 7 */
	int family = AF_INET;
	if (raf) {
		uint8_t f;
		if (stun_attr_family(raf, &f) < 0) {
			resp_error(r, 400);
			return;
		}
		family = family_of(f);
	}
	if (!tok && !family_enabled(t, family)) {
		resp_error(r, 440);
		return;
	}
	/* step 8 */
	bool reserve = false;
	if (even && stun_attr_even_port(even, &reserve) < 0) {
		resp_error(r, 400);
		return;
	}
	if (even && reserve && aaf) {
		resp_error(r, 400);
		return;
	}
	/* step 9 */
	bool dual = false;
	if (aaf) {
		uint8_t f;
		if (stun_attr_family(aaf, &f) < 0 || f != STUN_FAMILY_IPV6) {
			resp_error(r, 400);
			return;
		}
		dual = true;
	}
	/* step 10: quotas, "based on the username": its user part for REST
	 * credentials, so new expiries do not buy a user more allocations. A
	 * port reservation is an open socket too: EVEN-PORT R=1 takes a unit
	 * for it with the allocation's (both or neither, before any socket is
	 * opened), and redeeming a token hands the reservation's unit back. */
	const uint8_t *id = r->user ? r->user + r->id_off : (const uint8_t *)"";
	size_t idlen = r->user ? r->ulen - r->id_off : 0;
	struct quota_user *q = NULL;
	int rc = tok ? shared_redeem(t->p.shared, tok->val, t->now, id, idlen, &q)
	             : shared_quota_take(t->p.shared, id, idlen, reserve, &q);
	if (rc == -ENOENT) {
		/* step 5: an unknown or expired token */
		resp_error(r, 508);
		return;
	}
	if (rc < 0) {
		t->st.quota_rejects++;
		resp_error(r, rc == -EDQUOT ? 486 : 508);
		return;
	}
	int token_handle = tok ? rc : -1;
	struct turn_alloc *a = alloc_new(t, r->ep);
	if (!a) {
		if (token_handle >= 0)
			t->io.relay_close(t->io.ctx, token_handle);
		else if (reserve)
			shared_reserve_cancel(t->p.shared, q);
		shared_quota_release(t->p.shared, q);
		t->st.quota_rejects++;
		resp_error(r, 508);
		return;
	}
	a->quota = q;
	if (t->user_traffic && r->user)
		a->label = shared_label(t->p.shared, id, idlen);
	a->user_hash = r->user_hash;
	memcpy(a->key, r->key, r->keylen);
	a->keylen = r->keylen;
	a->mi = (uint8_t)r->mi;

	int reserved = -1;
	union tern_addr reserved_addr;
	uint8_t token[8];
	bool have_token = false;
	if (tok) {
		if (t->io.relay_adopt(t->io.ctx, a, token_handle, &a->relay_addr[0]) < 0) {
			log_debug("alloc %llu: reserved socket could not be adopted",
			          (unsigned long long)a->id);
			t->io.relay_close(t->io.ctx, token_handle);
			alloc_delete(t, a);
			resp_error(r, 508);
			return;
		}
		a->relay[0] = token_handle;
		a->nrelay = 1;
	} else {
		unsigned flags = (even ? TURN_RELAY_EVEN : 0) | (reserve ? TURN_RELAY_RESERVE_NEXT : 0) |
		                 (df ? TURN_RELAY_DF : 0);
		int h = t->io.relay_open(t->io.ctx, a, family, flags, &a->relay_addr[0], &reserved,
		                         &reserved_addr);
		if (h < 0) {
			/* out of ports or descriptors: the operator must hear of it */
			LOG_RL(LOG_WARN, "alloc %llu: no relay socket (%s): answered 508",
			       (unsigned long long)a->id, strerror(-h));
			if (reserve)
				shared_reserve_cancel(t->p.shared, q);
			alloc_delete(t, a);
			resp_error(r, 508);
			return;
		}
		a->relay[0] = h;
		a->nrelay = 1;
		/* step 8: a reservation the server cannot make is a request it
		 * cannot satisfy (508), not a success without a token. */
		if (reserve &&
		    (reserved < 0 || shared_reserve(t->p.shared, q, reserved, t->now, token) < 0)) {
			log_debug("alloc %llu: port reservation failed", (unsigned long long)a->id);
			if (reserved >= 0)
				t->io.relay_close(t->io.ctx, reserved);
			shared_reserve_cancel(t->p.shared, q);
			alloc_delete(t, a);
			resp_error(r, 508);
			return;
		}
		have_token = reserve;
	}
	int addr_err = 0;
	if (dual) {
		if (!family_enabled(t, AF_INET6)) {
			addr_err = 440;
		} else {
			int h = t->io.relay_open(t->io.ctx, a, AF_INET6, df ? TURN_RELAY_DF : 0,
			                         &a->relay_addr[1], NULL, NULL);
			if (h < 0) {
				addr_err = 508;
			} else {
				a->relay[1] = h;
				a->nrelay = 2;
			}
		}
	}
	a->expires = t->now + (uint64_t)lifetime_of(t, m) * 1000;
	alloc_schedule(t, a);
	r->a = a;

	struct stun_builder b;
	resp_start(r, &b, STUN_SUCCESS);
	for (unsigned i = 0; i < a->nrelay; i++)
		stun_add_xaddr(&b, STUN_A_XOR_RELAYED_ADDRESS, &a->relay_addr[i]);
	if (addr_err)
		add_address_error(&b, draft_aaf ? STUN_A_ADDRESS_ERROR_CODE_DRAFT : STUN_A_ADDRESS_ERROR_CODE,
		                  STUN_FAMILY_IPV6, addr_err);
	stun_add_u32(&b, STUN_A_LIFETIME, lifetime_of(t, m));
	if (have_token)
		stun_add_attr(&b, STUN_A_RESERVATION_TOKEN, token, sizeof(token));
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, r->client);
	resp_send(r, &b);

	if (tern_log_level >= LOG_INFO) {
		/* the name is the client's: escaped, so it cannot forge log lines */
		char c[TERN_ADDRSTRLEN], rl[TERN_ADDRSTRLEN], u[4 * TURN_USER_MAX + 8];
		log_info("alloc %llu: created for %s user \"%s\" relay %s lifetime %us",
		         (unsigned long long)a->id, addr_format(r->client, c, sizeof(c), true),
		         log_escape(u, sizeof(u), r->user ? r->user : (const uint8_t *)"",
		                    r->user ? r->ulen : 0, TURN_USER_MAX),
		         addr_format(&a->relay_addr[0], rl, sizeof(rl), true), lifetime_of(t, m));
	}
}

void req_refresh(struct req *r)
{
	struct turn *t = r->t;
	struct turn_alloc *a = r->a;
	if (!a) {
		resp_error(r, 437);
		return;
	}
	const struct stun_attr *raf = stun_find(r->m, STUN_A_REQUESTED_ADDRESS_FAMILY);
	if (raf) {
		uint8_t f;
		/* RFC 8656 §7.3: a family the allocation does not have: 443. */
		if (stun_attr_family(raf, &f) < 0 || alloc_relay_index(a, family_of(f)) < 0) {
			resp_error(r, 443);
			return;
		}
	}
	const struct stun_attr *la = stun_find(r->m, STUN_A_LIFETIME);
	uint32_t want = 1;
	if (la && stun_attr_u32(la, &want) < 0) {
		resp_error(r, 400);
		return;
	}
	struct stun_builder b;
	if (la && want == 0) {
		/* Deletion. The answer is sent first (it is signed with the
		 * allocation's key) and not cached: the allocation goes away. */
		r->a = NULL;
		resp_start(r, &b, STUN_SUCCESS);
		stun_add_u32(&b, STUN_A_LIFETIME, 0);
		resp_send(r, &b);
		log_debug("alloc %llu: deleted by refresh", (unsigned long long)a->id);
		alloc_delete(t, a);
		return;
	}
	unsigned life = lifetime_of(t, r->m);
	a->expires = t->now + (uint64_t)life * 1000;
	alloc_schedule(t, a);
	fast_sync(t, a);
	resp_start(r, &b, STUN_SUCCESS);
	stun_add_u32(&b, STUN_A_LIFETIME, life);
	resp_send(r, &b);
}

/* Validate one XOR-PEER-ADDRESS for allocation a: 0, or the error code. */
static int check_peer(struct req *r, const struct stun_attr *pa, union tern_addr *peer)
{
	if (stun_attr_xaddr(r->m, pa, peer) < 0)
		return 400;
	/* RFC 8656 §9.1, §11.2: the peer's family must be one the allocation has. */
	if (alloc_relay_index(r->a, peer->sa.sa_family) < 0)
		return 443;
	/* DESIGN: never relay into forbidden places (answered 403). */
	if (!policy_peer_allowed(r->t->p.policy, peer))
		return 403;
	return 0;
}

void req_create_permission(struct req *r)
{
	struct turn *t = r->t;
	struct stun_msg *m = r->m;
	union tern_addr peers[STUN_MAX_ATTRS];
	unsigned n = 0;

	if (!r->a) {
		resp_error(r, 437);
		return;
	}
	/* Validate all first: the request installs all or none. */
	for (unsigned i = 0; i < m->nattrs; i++) {
		if (m->attrs[i].type != STUN_A_XOR_PEER_ADDRESS)
			continue;
		int code = check_peer(r, &m->attrs[i], &peers[n]);
		if (code) {
			resp_error(r, code);
			return;
		}
		n++;
	}
	if (n == 0) {
		resp_error(r, 400);
		return;
	}
	/* Room for the new ones too, so that a 508 installs nothing either:
	 * within the allocation's limit, and every pool entry they need taken
	 * before the first is installed. */
	unsigned fresh = 0;
	for (unsigned i = 0; i < n; i++) {
		bool known = perm_entry(r->a, &peers[i]) != NULL;
		for (unsigned j = 0; j < i && !known; j++)
			known = addr_equal_ip(&peers[j], &peers[i]);
		fresh += !known;
	}
	if (r->a->nperms + fresh > t->p.max_perms) {
		resp_error(r, 508);
		return;
	}
	struct turn_perm *spare = NULL;
	for (unsigned i = 0; i < fresh; i++) {
		struct turn_perm *p = perm_take(t);
		if (!p) {
			perm_put(t, spare);
			resp_error(r, 508);
			return;
		}
		p->next = spare;
		spare = p;
	}
	for (unsigned i = 0; i < n; i++)
		perm_install(t, r->a, &peers[i], &spare);
	perm_put(t, spare); /* none left: fresh counted each new IP once */
	fast_sync(t, r->a);
	struct stun_builder b;
	resp_start(r, &b, STUN_SUCCESS);
	resp_send(r, &b);
}

void req_channel_bind(struct req *r)
{
	struct turn *t = r->t;
	struct stun_msg *m = r->m;
	if (!r->a) {
		resp_error(r, 437);
		return;
	}
	const struct stun_attr *ca = stun_find(m, STUN_A_CHANNEL_NUMBER);
	const struct stun_attr *pa = stun_find(m, STUN_A_XOR_PEER_ADDRESS);
	uint16_t num;
	union tern_addr peer;
	/* RFC 8656 §11.2: both attributes, a number in 0x4000..0x4FFF (or up
	 * to 0x7FFF, RFC 5766's range, unless strict-channel-numbers). */
	if (!ca || !pa || stun_attr_channel(ca, &num) < 0 || num < TURN_CHANNEL_MIN ||
	    num > t->p.channel_max) {
		resp_error(r, 400);
		return;
	}
	int code = check_peer(r, pa, &peer);
	if (code) {
		resp_error(r, code);
		return;
	}
	/* The number is not bound (or held after expiry) to another peer, and
	 * the peer is not bound to another number. */
	struct turn_chan *c = chan_by_num(t, r->a, num, true);
	if (c && !addr_equal(&c->peer, &peer)) {
		resp_error(r, 400);
		return;
	}
	struct turn_chan *other = chan_by_peer(t, r->a, &peer, false);
	if (other && other->num != num) {
		resp_error(r, 400);
		return;
	}
	/* RFC 8656 §11.2: binding also installs or refreshes the permission.
	 * Both or neither: what either needs is taken before anything changes,
	 * so a 508 leaves no permission that would let the peer through. */
	struct turn_perm *sp = NULL;
	struct turn_chan *sc = NULL;
	bool new_perm = !perm_entry(r->a, &peer), new_chan = !chan_entry(r->a, num);
	if ((new_perm && (r->a->nperms >= t->p.max_perms || !(sp = perm_take(t)))) ||
	    (new_chan && (r->a->nchans >= t->p.max_channels || !(sc = chan_take(t))))) {
		perm_put(t, sp);
		resp_error(r, 508);
		return;
	}
	perm_install(t, r->a, &peer, &sp);
	chan_install(t, r->a, num, &peer, &sc);
	/* after every check above: only now may the kernel relay it */
	fast_sync(t, r->a);
	struct stun_builder b;
	resp_start(r, &b, STUN_SUCCESS);
	resp_send(r, &b);
}
