/* SPDX-License-Identifier: MIT
 *
 * Token buckets keyed by a 64-bit id (a client address, a credential): each
 * id may take `rate` tokens per second with bursts up to `burst`. Shared by
 * every service thread: the table is split into groups of RATELIMIT_WAYS
 * buckets behind striped locks, so a check examines one group under one
 * short lock whatever the table holds. Memory is bounded: at most `capacity`
 * ids are tracked, buckets that have refilled are reused, and an id whose
 * group is full of busy ids is let through rather than refused (a limit
 * must not lock out everyone under a distributed flood). Groups are chosen
 * by a hash keyed per table with random bits, so clients cannot aim their
 * ids at one group.
 */
#ifndef WAYPOINTD_RATELIMIT_H
#define WAYPOINTD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Buckets per group: the most a take or check ever examines. */
#define RATELIMIT_WAYS 16

struct ratelimit;

/* NULL when rate <= 0 (no limit: ratelimit_take(NULL, ...) always allows)
 * or out of memory (*err set to -ENOMEM then, else 0). */
struct ratelimit *ratelimit_new(double rate, double burst, size_t capacity, int *err);
void ratelimit_free(struct ratelimit *rl);

/* Take one token for id at time now_us (any monotonic microseconds).
 * 0: allowed. Otherwise refused, and the whole seconds (>= 1) until a token
 * is there again, for Retry-After. */
int ratelimit_take(struct ratelimit *rl, uint64_t id, int64_t now_us);

/* Would a take be refused now? 0, or the seconds as ratelimit_take says
 * them; takes nothing and never starts tracking an id. */
int ratelimit_check(struct ratelimit *rl, uint64_t id, int64_t now_us);

/* How many ids are tracked now (tests, metrics). */
size_t ratelimit_size(struct ratelimit *rl);

/* Buckets examined by takes and checks so far (tests: work per call). */
uint64_t ratelimit_probes(struct ratelimit *rl);

/* An id for n bytes (a credential's text): SipHash-1-3 keyed with random
 * bits drawn once per process, so nobody outside can make two texts share
 * an id on purpose. */
uint64_t ratelimit_hash(const void *p, size_t n);

#endif
