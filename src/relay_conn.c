/* SPDX-License-Identifier: MIT
 *
 * The relay's two connections, as its other files use them (relay_int.h):
 * dropping Redis (an outage logged once; the loop reconnects) and one-value
 * reads of the database, a busy writer told apart from a failure.
 */
#include "relay_int.h"

#include <errno.h>

#include "log.h"
#include "redis_url.h"

void relay_redis_drop(struct relay *r, const char *why)
{
    if (!r->outage) {
        log_error("relay: redis %s:%d: %s; retrying", r->o->addr->host, r->o->addr->port, why);
        r->outage = 1;
    }
    if (r->rc)
        redisFree(r->rc);
    r->rc = NULL;
}

int relay_db_int(struct relay *r, const char *sql, int64_t a, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    int s;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, a);
    s = sqlite3_step(st);
    if (s == SQLITE_BUSY || s == SQLITE_LOCKED) {
        rc = -EAGAIN;
        goto fail;
    }
    if (s != SQLITE_ROW)
        goto fail;
    *out = sqlite3_column_int64(st, 0);
    rc = 0;
fail:
    sqlite3_finalize(st);
    return rc;
}
