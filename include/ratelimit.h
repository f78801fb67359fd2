/* SPDX-License-Identifier: MIT
 *
 * Token buckets keyed by a 64-bit id (a client address, a credential): each
 * id may take `rate` tokens per second with bursts up to `burst`. Shared by
 * every service thread (a mutex inside; one short critical section per
 * check). Memory is bounded: at most `capacity` ids are tracked, buckets that
 * have refilled are forgotten, and when the table is full of busy ids a new
 * one is let through rather than refused (a limit must not lock out
 * everyone under a distributed flood).
 */
#ifndef WAYPOINTD_RATELIMIT_H
#define WAYPOINTD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* NULL when rate <= 0 (no limit: ratelimit_take(NULL, ...) always allows)
 * or out of memory (*err set to -ENOMEM then, else 0). */
struct ratelimit *ratelimit_new(double rate, double burst, size_t capacity, int *err);
void ratelimit_free(struct ratelimit *rl);

/* Take one token for id at time now_us (any monotonic microseconds).
 * 0: allowed. Otherwise refused, and the whole seconds (>= 1) until a token
 * is there again, for Retry-After. */
int ratelimit_take(struct ratelimit *rl, uint64_t id, int64_t now_us);

/* How many ids are tracked now (tests, metrics). */
size_t ratelimit_size(struct ratelimit *rl);

#endif
