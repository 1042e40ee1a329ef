#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "turn/internal.h"
#include "util/bytes.h"
#include "util/log.h"

struct turn *turn_new(const struct turn_params *p, const struct turn_io *io, uint64_t seed)
{
	struct turn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->p = *p;
	t->io = *io;
	struct sip_key master = {seed, seed ^ 0x9e3779b97f4a7c15ULL};
	if (!seed && sip_key_random(&master) < 0) {
		free(t);
		return NULL;
	}
	sip_key_derive(&t->k_table, &master, "tern allocation table");
	sip_key_derive(&t->k_unauth, &master, "tern unauthenticated buckets");
	sip_key_derive(&t->k_user, &master, "tern username ownership");
	sip_key_derive(&t->k_txid, &master, "tern data indication txid");
	struct sip_key dk[2];
	sip_key_derive(&dk[0], &master, "tern dummy key 0");
	sip_key_derive(&dk[1], &master, "tern dummy key 1");
	memcpy(t->dummy_key, dk, sizeof(t->dummy_key));
	if (!t->p.max_perms)
		t->p.max_perms = 32;
	if (!t->p.max_channels)
		t->p.max_channels = 32;
	if (!t->p.max_allocs)
		t->p.max_allocs = 1024;
	if (!t->p.channel_max)
		t->p.channel_max = TURN_CHANNEL_MAX_RFC5766;
	if (t->p.unauth_bps) {
		if (!t->p.unauth_burst)
			t->p.unauth_burst = 2 * t->p.unauth_bps;
		if (t->p.unauth_burst < TURN_TX_HDR_MAX)
			t->p.unauth_burst = TURN_TX_HDR_MAX;
		t->unauth = calloc(TURN_UNAUTH_SLOTS, sizeof(*t->unauth));
	}
	if (t->p.user_labels && t->p.shared) {
		t->label_cap = turn_shared_labels_cap(t->p.shared);
		t->user_traffic = calloc(t->label_cap + 1, sizeof(*t->user_traffic));
	}
	if ((t->p.unauth_bps && !t->unauth) || (t->p.user_labels && !t->user_traffic) ||
	    alloc_pools_init(t) < 0) {
		alloc_pools_free(t);
		free(t->unauth);
		free(t->user_traffic);
		free(t);
		return NULL;
	}
	timer_wheel_init(&t->wheel, 0);
	return t;
}

int turn_set_params(struct turn *t, const struct turn_params *p)
{
	if (p->unauth_bps && !t->unauth && !(t->unauth = calloc(TURN_UNAUTH_SLOTS, sizeof(*t->unauth))))
		return -ENOMEM;
	t->p.auth = p->auth;
	t->p.policy = p->policy;
	t->p.max_lifetime = p->max_lifetime;
	t->p.default_lifetime = p->default_lifetime;
	t->p.permission_lifetime = p->permission_lifetime;
	t->p.channel_lifetime = p->channel_lifetime;
	t->p.max_bps = p->max_bps;
	t->p.software = p->software;
	t->p.fingerprint = p->fingerprint;
	t->p.no_stun = p->no_stun;
	t->p.channel_max = p->channel_max ? p->channel_max : TURN_CHANNEL_MAX_RFC5766;
	t->p.unauth_bps = p->unauth_bps;
	t->p.unauth_burst = p->unauth_burst ? p->unauth_burst : 2 * p->unauth_bps;
	if (t->p.unauth_bps && t->p.unauth_burst < TURN_TX_HDR_MAX)
		t->p.unauth_burst = TURN_TX_HDR_MAX;
	t->challenge_len = 0; /* the realm, and so the challenge's size, may change */
	/* A peer the new policy denies loses its permissions now (so its
	 * channels and Data go quiet), not when they would have expired. */
	for (size_t k = 0; k < t->used_allocs; k++) {
		struct turn_alloc *a = &t->pool[k];
		for (struct turn_perm *pm = a->live ? a->perms : NULL; pm; pm = pm->next)
			if (pm->expires > t->now && !policy_peer_allowed(t->p.policy, &pm->ip)) {
				pm->expires = t->now;
				t->st.perms_revoked++;
			}
		/* revoked permissions, and a new max-bps, reach the kernel now */
		if (a->live)
			fast_sync(t, a);
	}
	return 0;
}

void turn_free(struct turn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->used_allocs; i++)
		if (t->pool[i].live)
			alloc_delete(t, &t->pool[i]);
	alloc_pools_free(t);
	free(t->unauth);
	free(t->user_traffic);
	free(t);
}

void turn_set_time(struct turn *t, uint64_t now_ms, uint64_t wall_s)
{
	if (t->now == 0)
		timer_wheel_init(&t->wheel, now_ms);
	t->now = now_ms;
	t->wall = wall_s;
}

void turn_on_tick(struct turn *t)
{
	static const uint64_t sweep_every = 1000;
	timer_expire(&t->wheel, t->now, alloc_on_timer, t);
	/* Reservations are shared: sweep them about once a second. By elapsed
	 * time, not by second boundaries: an idle worker ticks at any phase. */
	if (t->now - t->last_sweep >= sweep_every) {
		t->last_sweep = t->now;
		shared_expire(t->p.shared, t->now, &t->io);
	}
}

int turn_next_timeout(const struct turn *t, int max_ms)
{
	return timer_next_ms(&t->wheel, t->now, max_ms);
}

const struct turn_stats *turn_stats(const struct turn *t)
{
	return &t->st;
}

const uint64_t *turn_user_traffic(const struct turn *t, unsigned i)
{
	return t->user_traffic && i <= t->label_cap ? t->user_traffic[i] : NULL;
}

/* ---- answers ---- */

/* The bucket of a source: IPv4 address (also when IPv4-mapped) or IPv6 /64,
 * the unit one host or one customer holds. A keyed hash, so that nobody can
 * pick addresses that share a victim's bucket without the key. */
static struct turn_bucket *unauth_bucket(const struct turn *t, const union tern_addr *a)
{
	return &t->unauth[addr_source_hash(a, &t->k_unauth) & (TURN_UNAUTH_SLOTS - 1)];
}

/* May len bytes go unsigned to a? If so and take, they are spent. */
static bool unauth_allow(struct turn *t, const union tern_addr *a, size_t len, bool take)
{
	if (!t->unauth)
		return true;
	return bucket_allow(unauth_bucket(t, a), t->p.unauth_bps, t->p.unauth_burst, t->now, len, take);
}

/* Hand a message to the client endpoint; true when it was queued. */
static bool to_client(struct turn *t, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                      const uint8_t *payload, size_t paylen, size_t pad)
{
	if (t->io.send_client(t->io.ctx, ep, hdr, hdrlen, payload, paylen, pad) != TURN_TX_QUEUED) {
		t->st.tx_dropped++;
		return false;
	}
	t->st.tx_client++;
	t->st.client_tx_by[ep->transport & 3]++;
	t->st.client_tx_bytes_by[ep->transport & 3] += hdrlen + paylen + pad;
	return true;
}

static bool to_peer(struct turn *t, int relay, const union tern_addr *peer, const uint8_t *data, size_t len)
{
	if (t->io.send_peer(t->io.ctx, relay, peer, data, len) != TURN_TX_QUEUED) {
		t->st.tx_dropped++;
		return false;
	}
	t->st.tx_peer++;
	t->st.relayed_to_peer++;
	return true;
}

void resp_start(struct req *r, struct stun_builder *b, enum stun_class cls)
{
	stun_build_init(b, r->t->txbuf, sizeof(r->t->txbuf), stun_type(r->m->method, cls), r->m->txid);
}

void resp_send(struct req *r, struct stun_builder *b)
{
	struct turn *t = r->t;
	if (r->authed && t->p.software)
		stun_add_attr(b, STUN_A_SOFTWARE, t->p.software, strlen(t->p.software));
	if (r->authed && r->mi == TURN_MI_SHA256)
		stun_add_integrity_sha256(b, r->key, r->keylen);
	else if (r->authed && r->mi == TURN_MI_SHA1)
		stun_add_integrity(b, r->key, r->keylen);
	/* RFC 8489 §14.7: answer with FINGERPRINT when the request had one, and
	 * on every answer when the operator asked for it (8 bytes: the 401 to a
	 * 28-byte Allocate stays under 2.6x). */
	if (t->p.fingerprint || r->m->fp >= 0)
		stun_add_fingerprint(b);
	int len = stun_build_finish(b);
	if (len < 0) {
		LOG_RL(LOG_ERR, "turn: response too large for method 0x%03x", r->m->method);
		return;
	}
	/* DESIGN: no amplification. An unsigned answer over a datagram
	 * transport may go to a spoofed source: bound the bytes per second
	 * reflected to any one address. (A stream's source is proven by its
	 * handshake.) */
	bool datagram = !turn_transport_is_stream(r->ep->transport);
	if (datagram && !r->authed && !unauth_allow(t, r->client, (size_t)len, true)) {
		t->st.drop_ratelimit++;
		return;
	}
	if (stun_type_class(rd16(b->buf)) == STUN_ERROR)
		t->st.responses_err++;
	struct turn_alloc *a = r->a;
	if (to_client(t, r->ep, b->buf, (size_t)len, NULL, 0, 0) && a && a->live) {
		a->traffic[TURN_TRAFFIC_SENTP]++;
		a->traffic[TURN_TRAFFIC_SENTB] += (size_t)len;
	}
	/* Keep the answer so a retransmitted request gets the same one (only
	 * datagram transports retransmit: RFC 8489 §6.2.2). */
	if (datagram && a && r->authed && (size_t)len <= sizeof(a->last_resp)) {
		memcpy(a->last_txid, r->m->txid, STUN_TXID_LEN);
		memcpy(a->last_resp, b->buf, (size_t)len);
		a->last_len = (uint16_t)len;
	}
}

static void add_challenge(struct req *r, struct stun_builder *b)
{
	const struct auth *au = r->t->p.auth;
	char nonce[AUTH_NONCE_MAX];
	const char *realm = auth_realm(au);
	stun_add_attr(b, STUN_A_REALM, realm, strlen(realm));
	int n = auth_nonce_new(au, r->client, r->t->wall, nonce, sizeof(nonce));
	if (n > 0)
		stun_add_attr(b, STUN_A_NONCE, nonce, (size_t)n);
	if (auth_sha256(au)) {
		/* RFC 8489 §14.11: SHA-256 preferred, MD5 for older clients. */
		static const uint8_t algs[8] = {0, STUN_PWALG_SHA256, 0, 0, 0, STUN_PWALG_MD5, 0, 0};
		stun_add_attr(b, STUN_A_PASSWORD_ALGORITHMS, algs, sizeof(algs));
	}
}

void resp_error(struct req *r, int code)
{
	struct stun_builder b;
	if (tern_log_level >= LOG_DEBUG) {
		char c[TERN_ADDRSTRLEN];
		log_debug("%s: method 0x%03x answered %d", addr_format(r->client, c, sizeof(c), true),
		          r->m->method, code);
	}
	resp_start(r, &b, STUN_ERROR);
	stun_add_error(&b, code, r->authed ? stun_reason(code) : NULL);
	if (code == 401 || code == 438) {
		add_challenge(r, &b);
		r->t->challenge_len = (uint16_t)b.len;
	}
	resp_send(r, &b);
}

/* RFC 8489 §10: a new allocation goes to another server (300 with
 * ALTERNATE-SERVER) when the operator lists alternates for the client's
 * transport, or while ternd drains. True when answered. */
bool req_redirect(struct req *r)
{
	union tern_addr alt;
	if (!turn_shared_alternate(r->t->p.shared, r->ep->transport, &r->ep->local, &alt))
		return false;
	struct stun_builder b;
	resp_start(r, &b, STUN_ERROR);
	stun_add_error(&b, 300, r->authed ? stun_reason(300) : NULL);
	stun_add_addr(&b, STUN_A_ALTERNATE_SERVER, &alt);
	r->t->st.redirected++;
	resp_send(r, &b);
	return true;
}

static void resp_unknown(struct req *r)
{
	struct stun_builder b;
	resp_start(r, &b, STUN_ERROR);
	stun_add_error(&b, 420, r->authed ? stun_reason(420) : NULL);
	stun_add_unknown(&b, r->m->unknown, r->m->nunknown);
	resp_send(r, &b);
}

/* ---- authentication: RFC 8489 §9.2.4 ---- */

/* Requests on an allocation must come from its user: compared by a keyed
 * 64-bit hash of the name, so that no chosen name can collide with another. */
static uint64_t name_hash(const struct turn *t, const uint8_t *s, size_t n)
{
	return siphash24(&t->k_user, s, n);
}

static bool pwalgs_match_ours(const struct stun_attr *a)
{
	static const uint8_t ours[8] = {0, STUN_PWALG_SHA256, 0, 0, 0, STUN_PWALG_MD5, 0, 0};
	return a->len == sizeof(ours) && memcmp(a->val, ours, sizeof(ours)) == 0;
}

/* 0 when r is authenticated (or auth is off); otherwise the answer has
 * been sent and -1 is returned. */
static int authenticate(struct req *r)
{
	struct turn *t = r->t;
	const struct auth *au = t->p.auth;
	struct stun_msg *m = r->m;

	if (!au) {
		r->user_hash = 0;
		return 0;
	}
	if (m->mi < 0 && m->mi256 < 0) {
		uint64_t dropped = t->st.drop_ratelimit;
		t->st.auth_challenge++;
		resp_error(r, 401);
		if (t->st.drop_ratelimit == dropped)
			t->st.challenge_sent++;
		else
			t->st.challenge_dropped++;
		return -1;
	}
	const struct stun_attr *user = stun_find(m, STUN_A_USERNAME);
	const struct stun_attr *uhash = stun_find(m, STUN_A_USERHASH);
	const struct stun_attr *realm = stun_find(m, STUN_A_REALM);
	const struct stun_attr *nonce = stun_find(m, STUN_A_NONCE);
	/* RFC 8489 §9.2.4: credentials present but incomplete: 400. */
	if ((!user && !uhash) || !realm || !nonce || (uhash && uhash->len != 32)) {
		t->st.auth_fail++;
		t->st.auth_fail_by[TURN_AUTH_INCOMPLETE]++;
		resp_error(r, 400);
		return -1;
	}
	if (auth_nonce_check(au, r->client, nonce->val, nonce->len, t->wall) < 0) {
		t->st.stale_nonce++;
		resp_error(r, 438);
		return -1;
	}
	int alg = STUN_PWALG_MD5;
	if (auth_nonce_has_features(nonce->val, nonce->len)) {
		const struct stun_attr *algs = stun_find(m, STUN_A_PASSWORD_ALGORITHMS);
		const struct stun_attr *pa = stun_find(m, STUN_A_PASSWORD_ALGORITHM);
		/* RFC 8489 §9.2.4: neither attribute means MD5; otherwise both must
		 * be present, the list echoed unchanged and the chosen algorithm
		 * taken from it (downgrade protection). */
		if ((algs || pa) && (!algs || !pa || !pwalgs_match_ours(algs))) {
			t->st.auth_fail++;
			t->st.auth_fail_by[TURN_AUTH_ALGORITHM]++;
			resp_error(r, 400);
			return -1;
		}
		if (pa) {
			if (pa->len < 4 ||
			    (rd16(pa->val) != STUN_PWALG_MD5 && rd16(pa->val) != STUN_PWALG_SHA256)) {
				t->st.auth_fail++;
				t->st.auth_fail_by[TURN_AUTH_ALGORITHM]++;
				resp_error(r, 400);
				return -1;
			}
			alg = rd16(pa->val);
		}
	}
	if (realm->len != strlen(auth_realm(au)) || memcmp(realm->val, auth_realm(au), realm->len) != 0) {
		t->st.auth_fail++;
		t->st.auth_fail_by[TURN_AUTH_REALM]++;
		resp_error(r, 401);
		return -1;
	}

	struct auth_key keys[AUTH_MAX_KEYS];
	int nkeys;
	if (user) {
		nkeys = auth_lookup(au, user->val, user->len, t->wall, keys, AUTH_MAX_KEYS, &r->id_off);
		r->user = user->val;
		r->ulen = user->len;
	} else {
		nkeys = auth_lookup_userhash(au, uhash->val, r->user_buf, sizeof(r->user_buf), keys,
		                             AUTH_MAX_KEYS);
		r->user = (const uint8_t *)r->user_buf;
		r->ulen = nkeys > 0 ? strlen(r->user_buf) : 0;
	}
	bool checked = false;
	for (int i = 0; i < nkeys; i++) {
		const uint8_t *key = keys[i].md5;
		size_t keylen = 16;
		if (alg == STUN_PWALG_SHA256) {
			if (!keys[i].has_sha256)
				continue;
			key = keys[i].sha256;
			keylen = 32;
		}
		/* RFC 8489 §14.6: with both present, only the SHA-256 one counts. */
		int ok = m->mi256 >= 0 ? stun_check_integrity_sha256(m, key, keylen)
		                       : stun_check_integrity(m, key, keylen);
		checked = true;
		if (ok == 0) {
			r->authed = true;
			r->mi = m->mi256 >= 0 ? TURN_MI_SHA256 : TURN_MI_SHA1;
			memcpy(r->key, key, keylen);
			r->keylen = (uint8_t)keylen;
			r->user_hash = name_hash(t, r->user, r->ulen);
			return 0;
		}
	}
	/* An unknown user (or no key for the algorithm) costs the same HMAC as
	 * a wrong password: the time to the 401 must not tell which usernames
	 * exist. The result is ignored. */
	if (!checked) {
		size_t dlen = alg == STUN_PWALG_SHA256 ? 32 : 16;
		if (m->mi256 >= 0)
			(void)stun_check_integrity_sha256(m, t->dummy_key, dlen);
		else
			(void)stun_check_integrity(m, t->dummy_key, dlen);
	}
	t->st.auth_fail++;
	t->st.auth_fail_by[checked ? TURN_AUTH_INTEGRITY : TURN_AUTH_UNKNOWN]++;
	resp_error(r, 401);
	return -1;
}

/* ---- dispatch ---- */

static void on_binding(struct req *r)
{
	struct stun_builder b;
	struct turn_stats *st = &r->t->st;
	uint64_t dropped = st->drop_ratelimit;
	st->binding_req++;
	if (r->t->p.no_stun) {
		resp_error(r, 400);
		if (st->drop_ratelimit == dropped)
			st->binding_err++;
		return;
	}
	resp_start(r, &b, STUN_SUCCESS);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, r->client);
	resp_send(r, &b);
	if (st->drop_ratelimit == dropped)
		st->binding_ok++;
}

static void on_send_indication(struct turn *t, const struct turn_ep *ep, struct stun_msg *m)
{
	struct turn_alloc *a = alloc_lookup(t, ep);
	const struct stun_attr *pa = stun_find(m, STUN_A_XOR_PEER_ADDRESS);
	const struct stun_attr *data = stun_find(m, STUN_A_DATA);
	union tern_addr peer;

	if (!a) {
		t->st.drop_no_alloc++;
		return;
	}
	a->traffic[TURN_TRAFFIC_RCVP]++;
	a->traffic[TURN_TRAFFIC_RCVB] += m->len;
	/* RFC 8656 §10.2: without both attributes the indication is discarded. */
	if (!pa || !data || stun_attr_xaddr(m, pa, &peer) < 0) {
		t->st.drop_malformed++;
		return;
	}
	int ri = alloc_relay_index(a, peer.sa.sa_family);
	if (ri < 0 || !policy_peer_allowed(t->p.policy, &peer)) {
		t->st.drop_policy++;
		return;
	}
	if (!perm_find(t, a, &peer)) {
		t->st.drop_no_perm++;
		return;
	}
	if (!bucket_take(&a->up, t->p.max_bps, t->now, data->len)) {
		t->st.drop_bps++;
		return;
	}
	a->up_bytes += data->len;
	a->up_datagrams++;
	to_peer(t, a->relay[ri], &peer, data->val, data->len);
}

static void on_channel_data(struct turn *t, const struct turn_ep *ep, const uint8_t *buf, size_t len)
{
	uint16_t num, dlen;
	const uint8_t *data;
	if (stun_channeldata_parse(buf, len, &num, &data, &dlen) < 0 || num > t->p.channel_max) {
		t->st.drop_malformed++;
		return;
	}
	struct turn_alloc *a = alloc_lookup(t, ep);
	if (!a) {
		t->st.drop_no_alloc++;
		return;
	}
	a->traffic[TURN_TRAFFIC_RCVP]++;
	a->traffic[TURN_TRAFFIC_RCVB] += len;
	struct turn_chan *c = chan_by_num(t, a, num, false);
	if (!c) {
		t->st.drop_no_channel++;
		return;
	}
	if (!perm_find(t, a, &c->peer)) {
		t->st.drop_no_perm++;
		return;
	}
	if (!bucket_take(&a->up, t->p.max_bps, t->now, dlen)) {
		t->st.drop_bps++;
		return;
	}
	a->up_bytes += dlen;
	a->up_datagrams++;
	int ri = alloc_relay_index(a, c->peer.sa.sa_family);
	to_peer(t, a->relay[ri], &c->peer, data, dlen);
}

void turn_on_client(struct turn *t, const struct turn_ep *ep, const uint8_t *buf, size_t len)
{
	const union tern_addr *client = &ep->remote;
	t->st.rx_client++;
	t->st.rx_client_bytes += len;
	t->st.client_rx_by[ep->transport & 3]++;
	t->st.client_rx_bytes_by[ep->transport & 3] += len;
	if (stun_is_channeldata(buf, len)) {
		on_channel_data(t, ep, buf, len);
		return;
	}
	struct stun_msg m;
	if (stun_parse(&m, buf, len) < 0) {
		t->st.drop_malformed++;
		return;
	}
	/* RFC 8489 §7.3: a wrong FINGERPRINT means this is not STUN: discard. */
	if (m.fp >= 0 && stun_check_fingerprint(&m) < 0) {
		t->st.drop_malformed++;
		return;
	}
	if (m.cls == STUN_INDICATION) {
		if (m.method == TURN_SEND)
			on_send_indication(t, ep, &m);
		return; /* Binding indications are keepalives: nothing to do */
	}
	if (m.cls != STUN_REQUEST) {
		t->st.drop_malformed++;
		return;
	}
	t->st.requests++;
	struct req r = {.t = t, .ep = ep, .client = client, .m = &m};
	bool datagram = !turn_transport_is_stream(ep->transport);
	bool turn_method = m.method == TURN_ALLOCATE || m.method == TURN_REFRESH ||
	                   m.method == TURN_CREATE_PERMISSION || m.method == TURN_CHANNEL_BIND;
	/* RFC 8489 §6.3.1: unknown comprehension-required attributes: 420.
	 * TURN requests get it after authentication (§6.3: "once the
	 * authentication checks are done"), signed: a client discards an
	 * unsigned answer to a signed request (§9.2.5). */
	if (m.nunknown && !turn_method) {
		resp_unknown(&r);
		return;
	}
	if (m.method == STUN_BINDING) {
		on_binding(&r);
		return;
	}
	if (!turn_method) {
		resp_error(&r, 400);
		return;
	}
	r.a = alloc_lookup(t, ep);
	if (r.a) {
		r.a->traffic[TURN_TRAFFIC_RCVP]++;
		r.a->traffic[TURN_TRAFFIC_RCVB] += len;
	}
	if (datagram && r.a && r.a->last_len && memcmp(r.a->last_txid, m.txid, STUN_TXID_LEN) == 0) {
		/* A retransmission: the same answer, without redoing the work. */
		to_client(t, ep, r.a->last_resp, r.a->last_len, NULL, 0, 0);
		return;
	}
	/* DESIGN: no amplification. A request without credentials that cannot
	 * succeed once authenticated gets its small final error (28 bytes)
	 * instead of the challenge (64+), which would be 3.2x a 20-byte
	 * request: an Allocate without REQUESTED-TRANSPORT (RFC 8656 §7.2 step
	 * 3: 400) and any other TURN request from a 5-tuple without an
	 * allocation (§7.3, §9.2, §11.2: 437). Answered before the 401 that
	 * RFC 8489 §9.2.4 would give first: the outcome for the client is the
	 * same, one round trip sooner. */
	if (t->p.auth && m.mi < 0 && m.mi256 < 0) {
		if (m.method == TURN_ALLOCATE && !stun_find(&m, STUN_A_REQUESTED_TRANSPORT)) {
			resp_error(&r, 400);
			return;
		}
		if (m.method != TURN_ALLOCATE && !r.a) {
			resp_error(&r, 437);
			return;
		}
	}
	/* A source over the limit for the answer to come (the challenge, whose
	 * size the last one tells; with no-auth at least the smallest error):
	 * drop before the work that answer would cost (the nonce's HMAC, or with
	 * no-auth the request itself) only to be thrown away. */
	size_t need = STUN_HEADER_LEN + 8;
	if (t->p.auth && t->challenge_len > need)
		need = t->challenge_len;
	if (datagram && (!t->p.auth || (m.mi < 0 && m.mi256 < 0)) && !unauth_allow(t, client, need, false)) {
		t->st.drop_ratelimit++;
		if (t->p.auth)
			t->st.challenge_dropped++;
		return;
	}
	/* As coturn does: an unsigned Allocate for a new allocation is
	 * redirected at once, without a challenge first (the client would only
	 * authenticate to be sent elsewhere). A signed one is redirected after
	 * its check, with a signed answer (req_allocate): RFC 8489 §9.2.5, a
	 * client discards an unsigned answer to a signed request. */
	if (m.method == TURN_ALLOCATE && !r.a && m.mi < 0 && m.mi256 < 0 && req_redirect(&r))
		return;
	if (authenticate(&r) < 0)
		return;
	if (m.nunknown) {
		resp_unknown(&r);
		return;
	}
	if (r.a && r.a->user_hash != r.user_hash) {
		/* RFC 8656 §5: requests on an allocation must use its username. */
		resp_error(&r, 441);
		return;
	}
	switch (m.method) {
	case TURN_ALLOCATE:
		req_allocate(&r);
		break;
	case TURN_REFRESH:
		req_refresh(&r);
		break;
	case TURN_CREATE_PERMISSION:
		req_create_permission(&r);
		break;
	default:
		req_channel_bind(&r);
		break;
	}
}

void turn_on_peer(struct turn *t, struct turn_alloc *a, int handle, const union tern_addr *peer,
                  const uint8_t *buf, size_t len)
{
	t->st.rx_peer++;
	t->st.rx_peer_bytes += len;
	a->traffic[TURN_TRAFFIC_PEER_RCVP]++;
	a->traffic[TURN_TRAFFIC_PEER_RCVB] += len;
	/* RFC 8656 §10.3: no permission for the peer's IP, no relaying. */
	if (!perm_find(t, a, peer)) {
		t->st.drop_no_perm++;
		return;
	}
	if (!bucket_take(&a->down, t->p.max_bps, t->now, len)) {
		t->st.drop_bps++;
		return;
	}
	a->down_bytes += len;
	a->down_datagrams++;
	struct turn_chan *c = chan_by_peer(t, a, peer, false);
	bool queued;
	if (c) {
		/* RFC 8656 §12.5: ChannelData over TCP and TLS is padded to a
		 * multiple of 4 bytes; over UDP and DTLS it need not be. */
		uint8_t hdr[TURN_CHANNEL_HDR];
		size_t pad = turn_transport_is_stream(a->ep.transport) ? pad4(len) - len : 0;
		stun_channeldata_hdr(hdr, c->num, (uint16_t)len);
		queued = to_client(t, &a->ep, hdr, sizeof(hdr), buf, len, pad);
	} else {
		/* Data indication: header + XOR-PEER-ADDRESS + DATA header built
		 * here, the payload borrowed, padding appended. */
		struct stun_builder b;
		/* RFC 8489 §5: a transaction id is uniformly random. A keyed PRF
		 * of a counter is, to anyone without the key, and reveals nothing
		 * of the other keys (which the old id ^ seed did). */
		uint8_t txid[STUN_TXID_LEN];
		uint64_t seq = ++t->txid_seq, seq2 = seq | (1ULL << 63);
		uint64_t r1 = siphash24(&t->k_txid, &seq, sizeof(seq)),
		         r2 = siphash24(&t->k_txid, &seq2, sizeof(seq2));
		memcpy(txid, &r1, 8);
		memcpy(txid + 8, &r2, 4);
		stun_build_init(&b, t->txbuf, sizeof(t->txbuf), stun_type(TURN_DATA, STUN_INDICATION), txid);
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, peer);
		size_t hlen = b.len;
		wr16(b.buf + hlen, STUN_A_DATA);
		wr16(b.buf + hlen + 2, (uint16_t)len);
		hlen += 4;
		size_t pad = pad4(len) - len;
		/* The STUN length field has 16 bits: what does not fit cannot go
		 * as a Data indication (only as ChannelData). */
		if (hlen - STUN_HEADER_LEN + len + pad > UINT16_MAX) {
			t->st.drop_malformed++;
			return;
		}
		wr16(b.buf + 2, (uint16_t)(hlen - STUN_HEADER_LEN + len + pad));
		queued = to_client(t, &a->ep, b.buf, hlen, buf, len, pad);
	}
	if (queued)
		t->st.relayed_to_client++;
}

bool turn_ep_has_allocation(struct turn *t, const struct turn_ep *ep)
{
	return alloc_lookup(t, ep) != NULL;
}

void turn_on_client_closed(struct turn *t, const struct turn_ep *ep)
{
	struct turn_alloc *a = alloc_lookup(t, ep);
	if (!a)
		return;
	log_debug("alloc %llu: deleted: its connection closed", (unsigned long long)a->id);
	alloc_delete(t, a);
}

/* ---- for the control socket (tern ctl), at a loop-turn boundary ---- */

static void alloc_info(const struct turn *t, const struct turn_alloc *a, struct turn_alloc_info *i)
{
	memset(i, 0, sizeof(*i));
	i->ep = &a->ep;
	if (a->quota)
		i->user = shared_quota_name(a->quota, &i->user_len);
	for (unsigned k = 0; k < a->nrelay && k < 2; k++)
		i->relayed[i->nrelayed++] = a->relay_addr[k];
	i->age_ms = t->now - a->created;
	i->expires_in_ms = a->expires > t->now ? a->expires - t->now : 0;
	i->to_peer_bytes = a->up_bytes;
	i->to_peer_datagrams = a->up_datagrams;
	i->to_client_bytes = a->down_bytes;
	i->to_client_datagrams = a->down_datagrams;
	struct turn_fast_counts n = {0};
	fast_read_alloc(t, a, &n);
	i->to_peer_bytes += n.up_bytes;
	i->to_peer_datagrams += n.up_datagrams;
	i->to_client_bytes += n.down_bytes;
	i->to_client_datagrams += n.down_datagrams;
	i->nperms = a->nperms;
	i->nchans = a->nchans;
}

static bool user_is(const struct turn_alloc *a, const char *user, size_t len)
{
	size_t ql;
	const uint8_t *q = a->quota ? shared_quota_name(a->quota, &ql) : NULL;
	return q && ql == len && memcmp(q, user, len) == 0;
}

unsigned turn_foreach_alloc(struct turn *t, const char *user,
                            void (*fn)(void *ctx, const struct turn_alloc_info *), void *ctx)
{
	unsigned n = 0;
	size_t ulen = user ? strlen(user) : 0;
	for (size_t k = 0; k < t->used_allocs; k++) {
		const struct turn_alloc *a = &t->pool[k];
		if (!a->live || (user && !user_is(a, user, ulen)))
			continue;
		struct turn_alloc_info i;
		alloc_info(t, a, &i);
		fn(ctx, &i);
		n++;
	}
	return n;
}

unsigned turn_kick_user(struct turn *t, const char *user)
{
	unsigned n = 0;
	size_t ulen = strlen(user);
	for (size_t k = 0; k < t->used_allocs; k++) {
		struct turn_alloc *a = &t->pool[k];
		if (a->live && user_is(a, user, ulen)) {
			alloc_delete(t, a);
			t->st.allocs_kicked++;
			n++;
		}
	}
	return n;
}
