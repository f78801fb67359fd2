/* SPDX-License-Identifier: MIT
 *
 * The cache's version: the watcher's generation, else data_version
 * (freshness.h).
 */
#include "freshness.h"

#include "source.h"
#include "store.h"

int freshness_version(const struct source *src, struct store *db, int64_t now_ms, int64_t *v)
{
    int64_t gen;

    if (src && src->ops->commit_gen && src->ops->commit_gen(src, now_ms, &gen) == 0) {
        *v = -2 - gen;
        return 0;
    }
    return store_data_version(db, v);
}
