/* SPDX-License-Identifier: MIT
 *
 * FNV-1a, the one hash of the in-memory tables (subscriptions, queue merging,
 * change coalescing, the read cache): short keys, no adversary choosing
 * collisions that matter (every table compares keys on a hash match).
 */
#ifndef WAYPOINTD_HASH_H
#define WAYPOINTD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT 1469598103934665603ull

/* Continue hash h over n bytes at p; start with HASH_FNV1A_INIT. */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

#endif
