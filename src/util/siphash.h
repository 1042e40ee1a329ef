/* SipHash (Aumasson and Bernstein, 2012): a keyed hash for tables whose keys
 * an attacker picks (client addresses, user names). Without the 128-bit key
 * nobody can compute which inputs collide, so nobody can send datagrams that
 * pile up in one chain of a table and slow every lookup of a worker.
 *
 * siphash24: the standard SipHash-2-4 (2 rounds per 8-byte block, 4 at the
 * end), as a PRF as well (transaction ids). siphash13: 1 and 3 rounds, the
 * variant Rust and the Linux kernel use for hash tables; half the rounds on
 * the per-datagram lookup.
 *
 * Keys come from getrandom(2) and are never derived from anything that
 * goes on the wire. One key per table (sip_key_derive): learning one
 * table's layout tells nothing about another's. */
#ifndef TERN_UTIL_SIPHASH_H
#define TERN_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct sip_key {
	uint64_t k0, k1;
};

uint64_t siphash24(const struct sip_key *k, const void *data, size_t len);
uint64_t siphash13(const struct sip_key *k, const void *data, size_t len);

/* A fresh random key (getrandom). 0, or -errno when the kernel gives no
 * randomness (then the key is unusable and the caller must fail). */
int sip_key_random(struct sip_key *k);
/* An independent key for a named purpose, derived from a master key with
 * SipHash-2-4 as a PRF: key(label) = (H(master, label || 0), H(master, label || 1)). */
void sip_key_derive(struct sip_key *out, const struct sip_key *master, const char *label);

#endif
