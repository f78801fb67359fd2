/* SPDX-License-Identifier: MIT
 *
 * A per-thread cache of things read from the database (credentials, DC
 * verdicts, rendered response bodies), valid only while the database has not
 * changed: every entry belongs to one PRAGMA data_version, and a new version
 * empties the cache. So a cached answer is never staler than a fresh read.
 * Pure; one instance per service thread, no lock.
 */
#ifndef WAYPOINTD_CACHE_H
#define WAYPOINTD_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

/* At most max_entries entries; when full, the cache starts over. */
struct cache *cache_new(size_t max_entries);
void cache_free(struct cache *c);

/* Declare the database's current data_version; a different one than the
 * entries were made under drops them all. */
void cache_sync(struct cache *c, int64_t data_version);

/* The value stored under key, or NULL. *len receives its length. The pointer
 * is aligned for any type and valid until the next cache_put or cache_sync. */
const void *cache_get(struct cache *c, const void *key, size_t klen, size_t *len);
/* Store a copy of value under key (replacing any). 0 or -ENOMEM. */
int cache_put(struct cache *c, const void *key, size_t klen, const void *value, size_t len);

/* Entries now held, and lookups that hit / missed since cache_new. */
size_t cache_size(const struct cache *c);
uint64_t cache_hits(const struct cache *c);
uint64_t cache_misses(const struct cache *c);

#endif
