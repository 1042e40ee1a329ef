/* Peer address policy: which peers an allocation may relay to
 * (CreatePermission, ChannelBind, Send). Safe by default against SSRF into
 * internal networks (coturn CVE-2020-26262 class).
 *
 * Decision for a peer address P:
 *   1. Every IPv4-in-IPv6 form is converted first: IPv4-mapped ::ffff:a.b.c.d,
 *      IPv4-compatible ::a.b.c.d (not :: or ::1), NAT64 64:ff9b::/96,
 *      6to4 2002:AABB:CCDD::/16, and local-use NAT64 64:ff9b:1::/48
 *      (RFC 8215), whose translator prefix may be any /48, /56, /64 or /96
 *      inside it, so the IPv4 address at each of those RFC 6052 positions is
 *      a form; P and every embedded IPv4 form are judged and P is allowed
 *      only if every form is allowed.
 *   2. A form that is one of the server's own addresses on one of its
 *      listening ports is denied, always: no allow range and no
 *      allow-loopback-peers opens it. The listening ports are the ports of
 *      the own addresses added with a port (wildcards included); the own
 *      addresses are every address added (listening, relay, external and,
 *      with wildcard listening, the host's interface addresses), the
 *      unspecified addresses 0.0.0.0 and :: (they reach the host itself),
 *      and, when a listener is a wildcard, every loopback address.
 *   3. A form inside an allowed-peer-ip range is allowed (allow wins).
 *   4. A form inside a denied-peer-ip range is denied.
 *   5. A form inside a default-denied range is denied, unless an allow switch
 *      opens it (allow-loopback-peers opens 127/8 and ::1):
 *      0.0.0.0/8, 127/8, 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16,
 *      192.0.0/24, 198.18/15, 224/4, 240/4, 255.255.255.255/32,
 *      ::/128, ::1/128, fc00::/7, fe80::/10, ff00::/8, 64:ff9b::/96,
 *      64:ff9b:1::/48, 2001::/32, 2002::/16.
 *   6. A form equal to one of the server's own IPs (added with port 0) is
 *      denied on any port (unless allowed by 3, or loopback opened by
 *      allow-loopback-peers).
 *   7. Otherwise allowed.
 * The port matters only in step 2: the checks of Send and ChannelBind pass
 * the peer's port, so nothing is ever relayed to an own address on a
 * listening port. */
#ifndef TERN_TURN_POLICY_H
#define TERN_TURN_POLICY_H

#include <stdbool.h>

#include "util/addr.h"

#define POLICY_MAX_RANGES 64

struct peer_policy {
	struct tern_cidr allow[POLICY_MAX_RANGES];
	unsigned nallow;
	struct tern_cidr deny[POLICY_MAX_RANGES];
	unsigned ndeny;
	/* The server's own addresses: listening transport addresses (with
	 * their port) and own IPs (port 0). Owned by the policy: a heap array
	 * grown by policy_add_own, freed by policy_free. */
	union tern_addr *own;
	unsigned nown, own_cap;
	bool allow_loopback;
};

/* Empty policy: default-deny ranges only. Holds no memory until
 * policy_add_own; call policy_free before initialising it again. */
void policy_init(struct peer_policy *p);
/* Free the own-address list and leave p empty, as after policy_init (so
 * it may be called twice). */
void policy_free(struct peer_policy *p);
/* Add ranges; -ENOSPC when full (POLICY_MAX_RANGES, the configuration's
 * own limit), -EINVAL for a family other than AF_INET / AF_INET6. */
int policy_allow(struct peer_policy *p, const struct tern_cidr *c);
int policy_deny(struct peer_policy *p, const struct tern_cidr *c);
/* Add one own address (the list has no fixed size): with a port, a
 * listening transport address (its port is a listening port; a wildcard
 * one, 0.0.0.0 or ::, adds only its port and the loopback addresses);
 * with port 0, an own IP (relay, external, host interface). 0, -ENOMEM,
 * or -EINVAL for a family other than AF_INET / AF_INET6. A caller that
 * cannot add an own address must not serve with the policy. */
int policy_add_own(struct peer_policy *p, const union tern_addr *a);

/* True when relaying to peer is permitted. */
bool policy_peer_allowed(const struct peer_policy *p, const union tern_addr *peer);

/* Most IPv4 forms one IPv6 address can embed (64:ff9b:1::/48: four). */
#define POLICY_MAX_V4_FORMS 4

/* If a is an IPv6 address embedding IPv4 ones (forms of step 1), write the
 * IPv4 addresses (port kept) to v4 and return how many; 0 when a embeds
 * none (or is not IPv6). For 64:ff9b:1::/48 the four candidates come in
 * the order of prefix lengths 48, 56, 64, 96. */
unsigned policy_embedded_v4(const union tern_addr *a, union tern_addr v4[POLICY_MAX_V4_FORMS]);

#endif
