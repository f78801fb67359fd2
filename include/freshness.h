/* SPDX-License-Identifier: MIT
 *
 * The version a service thread keeps its cache under (cache.h): has
 * anything been committed since the cache was filled? Asked by every API
 * request and every sweep, so it must be cheap: the change watcher's
 * commit generation when the source publishes one (one atomic load; the
 * watcher looks at the database after every write to its WAL), else PRAGMA
 * data_version on the thread's own connection (a read transaction: two
 * fcntl and a stat). docs/architecture.md, "The answer cache", says how
 * late a commit can be seen this way.
 */
#ifndef WAYPOINTD_FRESHNESS_H
#define WAYPOINTD_FRESHNESS_H

#include <stdint.h>

struct source;
struct store;

/* *v for cache_sync: data_version (>= 0) or -2 - the commit generation
 * (<= -2), so a switch between the two always empties the cache. src may
 * be NULL (no watcher: a CLI, a unit test). now_ms: clock_mono_ms().
 * 0, or the store's negative errno (-EBUSY: another process holds a lock). */
int freshness_version(const struct source *src, struct store *db, int64_t now_ms, int64_t *v);

#endif
