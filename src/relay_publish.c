/* SPDX-License-Identifier: MIT
 *
 * The relay's appends (relay_int.h): the compare-and-append script, the
 * rows after the engine's head read in one statement, and one EVALSHA per
 * batch. Every change_log row is published (no coalescing), so every seq
 * has its entry s-0 and a republish after a lost tail gives the same ids
 * and prev chain.
 */
#include "relay_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "cluster.h"
#include "log.h"

/* KEYS: head, stream. ARGV[1]: the head the relay expects; ARGV[2]: MINID
 * to trim to or ''; then (id, k, d) triples. */
static const char append_lua[] =
    "local head = redis.call('GET', KEYS[1]) or '0-0'\n"
    "if head ~= ARGV[1] then return redis.error_reply('GAP ' .. head) end\n"
    "local prev = head\n"
    "for i = 3, #ARGV, 3 do\n"
    "  redis.call('XADD', KEYS[2], ARGV[i], 'prev', prev, 'k', ARGV[i+1], 'd', ARGV[i+2]); prev = ARGV[i]\n"
    "end\n"
    "if ARGV[2] ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[2]) end\n"
    "redis.call('SET', KEYS[1], prev); return prev\n";

/* The rows after (?1, ?2), at most ?3, in (seq, sub) order, read in one
 * statement (one snapshot). A change's image is the waypoint as it is when
 * read (NULL when gone), not as of the change: see cluster.md's caveat. */
static const char rows_sql[] =
    "SELECT seq, sub, k, d FROM ("
    " SELECT * FROM (SELECT c.seq AS seq, 0 AS sub, 'c' AS k,"
    "  json_object('kind', c.kind, 'dc_id', c.dc_id, 'customer_id', c.customer_id, 'waypoint_id', c.waypoint_id,"
    "   'changed_ms', c.changed_ms, 'waypoint', json((SELECT json_object('rowid', w.rowid, 'dc_id', w.dc_id,"
    "   'id', w.id, 'customer_id', w.customer_id, 'route_id', w.route_id, 'status', w.status,"
    "   'completed_timestamp', w.completed_timestamp, 'estimated_time_of_arrival', w.estimated_time_of_arrival,"
    "   'waypoints_ahead', w.waypoints_ahead, 'waiting_time_seconds', w.waiting_time_seconds)"
    "   FROM waypoints w WHERE w.dc_id = c.dc_id AND w.id = c.waypoint_id))) AS d"
    "  FROM change_log c WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?3)"
    " UNION ALL"
    " SELECT * FROM (SELECT seq, sub, tbl AS k, json_object('op', op, 'key', key, 'image', json(image)) AS d"
    "  FROM (SELECT seq, id, tbl, op, key, image, ROW_NUMBER() OVER (PARTITION BY seq ORDER BY id) AS sub"
    "   FROM aux_log WHERE seq >= ?1)"
    "  WHERE seq > ?1 OR sub > ?2 ORDER BY seq, sub LIMIT ?3))"
    " ORDER BY seq, sub LIMIT ?3";

int relay_script_load(struct relay *r)
{
    redisReply *rep = redisCommand(r->rc, "SCRIPT LOAD %s", append_lua);
    int rc = -EIO;

    if (!rep)
        goto fail;
    if (rep->type == REDIS_REPLY_STRING && rep->len < (int)sizeof(r->sha)) {
        memcpy(r->sha, rep->str, (size_t)rep->len + 1);
        rc = 0;
    }
fail:
    if (rep)
        freeReplyObject(rep);
    return rc;
}

struct batch {
    char **argv;
    size_t *lens;
    size_t n, cap;
};

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->argv[i]);
    free(b->argv);
    free(b->lens);
    memset(b, 0, sizeof(*b));
}

static int batch_add(struct batch *b, const char *s, size_t len)
{
    char *copy;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char **a = realloc(b->argv, cap * sizeof(*a));

        if (!a)
            return -ENOMEM;
        b->argv = a;
        size_t *l = realloc(b->lens, cap * sizeof(*l));

        if (!l)
            return -ENOMEM;
        b->lens = l;
        b->cap = cap;
    }
    copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    b->argv[b->n] = copy;
    b->lens[b->n++] = len;
    return 0;
}

/* One append: the rows after our head. 1 when rows were published, 0 when
 * none were waiting, < 0 on an error (-EPROTO: stop). */
int relay_publish_once(struct relay *r)
{
    struct batch b = {0};
    sqlite3_stmt *st = NULL;
    redisReply *rep = NULL;
    char buf[64];
    int64_t pruned = 0;
    int64_t last_s = r->hs;
    int64_t last_n = r->hn;
    size_t rows = 0;
    int rc = -EIO;
    int s;

    rc = relay_db_int(r, "SELECT pruned_through FROM change_log_state WHERE id = 1", 0, &pruned);
    if (rc)
        goto fail;
    rc = -ENOMEM;
    snprintf(buf, sizeof(buf), "%" PRId64 "-%" PRId64, r->hs, r->hn);
    if (batch_add(&b, "EVALSHA", 7) || batch_add(&b, r->sha, strlen(r->sha)) || batch_add(&b, "2", 1) ||
        batch_add(&b, RELAY_HEAD_KEY, strlen(RELAY_HEAD_KEY)) || batch_add(&b, r->o->stream, strlen(r->o->stream)) ||
        batch_add(&b, buf, strlen(buf)))
        goto fail;
    if (pruned > 0)
        snprintf(buf, sizeof(buf), "%" PRId64, pruned + 1);
    else
        buf[0] = '\0';
    if (batch_add(&b, buf, strlen(buf)))
        goto fail;

    rc = -EIO;
    if (sqlite3_prepare_v2(r->db, rows_sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("relay: %s", sqlite3_errmsg(r->db));
        goto fail;
    }
    sqlite3_bind_int64(st, 1, r->hs);
    sqlite3_bind_int64(st, 2, r->hn);
    sqlite3_bind_int64(st, 3, (int64_t)r->o->batch);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 2);
        const char *d = (const char *)sqlite3_column_text(st, 3);

        last_s = sqlite3_column_int64(st, 0);
        last_n = sqlite3_column_int64(st, 1);
        snprintf(buf, sizeof(buf), "%" PRId64 "-%" PRId64, last_s, last_n);
        rc = -ENOMEM;
        if (batch_add(&b, buf, strlen(buf)) || batch_add(&b, k ? k : "", k ? strlen(k) : 0) ||
            batch_add(&b, d ? d : "null", d ? strlen(d) : 4))
            goto fail;
        rows++;
    }
    if (s == SQLITE_BUSY || s == SQLITE_LOCKED) {
        rc = -EAGAIN;
        goto fail;
    }
    if (s != SQLITE_DONE) {
        log_error("relay: reading the log: %s", sqlite3_errmsg(r->db));
        rc = -EIO;
        goto fail;
    }
    rc = 0;
    if (!rows)
        goto fail;

    rep = redisCommandArgv(r->rc, (int)b.n, (const char **)b.argv, b.lens);
    if (!rep) {
        relay_redis_drop(r, r->rc->errstr);
        rc = -EIO;
        goto fail;
    }
    if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
        rc = relay_script_load(r) ? -EIO : 1; /* 1: try again at once */
        goto fail;
    }
    if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "GAP ", 4)) {
        log_warn("relay: the engine's head is %s, not %" PRId64 "-%" PRId64 " (it lost its tail or another"
                 " relay wrote): publishing after it", rep->str + 4, r->hs, r->hn);
        rc = relay_adopt_head(r, rep->str + 4);
        rc = rc ? rc : 1;
        goto fail;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        log_error("relay: the append failed: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        rc = -EIO;
        goto fail;
    }
    r->hs = last_s;
    r->hn = last_n;
    rc = 1;
fail:
    if (rep)
        freeReplyObject(rep);
    sqlite3_finalize(st);
    batch_clear(&b);
    return rc;
}
