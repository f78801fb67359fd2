/* SPDX-License-Identifier: MIT
 *
 * The relay's view of the engine's head (relay_int.h): checked against the
 * database once a second and on a GAP answer, adopted after checking that
 * the database holds it, reset under a new epoch on request, and the
 * heartbeat the edges read.
 */
#include "relay_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "cluster.h"
#include "log.h"

/* "S-N" into its parts; 0 or -EINVAL. */
static int parse_id(const char *s, int64_t *seq, int64_t *sub)
{
    char *end = NULL;
    long long a;
    long long b;

    errno = 0;
    a = strtoll(s, &end, 10);
    if (errno || end == s || *end != '-' || a < 0)
        return -EINVAL;
    s = end + 1;
    b = strtoll(s, &end, 10);
    if (errno || end == s || *end || b < 0)
        return -EINVAL;
    *seq = a;
    *sub = b;
    return 0;
}

/* 1 when the id (seq, sub) is beyond anything the database holds (the
 * engine is ahead: a database restored from a backup), 0 if not, < 0 on a
 * read error. */
static int engine_ahead(struct relay *r, int64_t seq, int64_t sub)
{
    int64_t top = 0;
    int64_t n = 0;
    int rc;

    rc = relay_db_int(r, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)", 0, &top);
    if (rc)
        return rc;
    if (seq > top)
        return 1;
    if (sub == 0)
        return 0;
    rc = relay_db_int(r, "SELECT COUNT(*) FROM aux_log WHERE seq = ?1", seq, &n);
    if (rc)
        return rc;
    return sub > n;
}

/* Take the engine's head H as ours after checking it. 0, -EPROTO (ahead),
 * -EAGAIN (database busy), -EIO. */
int relay_adopt_head(struct relay *r, const char *h)
{
    int64_t seq = 0;
    int64_t sub = 0;
    int rc;

    if (h && parse_id(h, &seq, &sub)) {
        log_error("relay: %s holds \"%s\", not an id; refusing to write over it", RELAY_HEAD_KEY, h);
        return -EPROTO;
    }
    rc = engine_ahead(r, seq, sub);
    if (rc < 0)
        return rc;
    if (rc) {
        log_error("relay: the engine's head %" PRId64 "-%" PRId64 " is ahead of the database %s (restored from"
                  " an older backup?); refusing to publish: if this database is the truth now, run the relay once"
                  " with --reset-engine (docs/cluster.md)",
                  seq, sub, r->o->db);
        return -EPROTO;
    }
    if (seq != r->hs || sub != r->hn)
        log_info("relay: engine head %" PRId64 "-%" PRId64 ", publishing after it", seq, sub);
    r->hs = seq;
    r->hn = sub;
    r->dirty = 1;
    return 0;
}

/* --reset-engine, once, at the first connection: a new epoch, and the
 * stream, its head and any snapshot gone in one transaction. The relay then
 * publishes its window as for an empty engine; edges see the epoch change
 * and load a snapshot (a since from before gets a snapshot too). */
int relay_reset_engine(struct relay *r)
{
    redisReply *rep = redisCommand(r->rc, "MULTI");
    char epoch[64];
    int ok = 1;

    snprintf(epoch, sizeof(epoch), "%lld-%d", (long long)time(NULL), (int)getpid());
    ok = ok && rep && rep->type != REDIS_REPLY_ERROR;
    if (rep)
        freeReplyObject(rep);
    if (ok) {
        redisAppendCommand(r->rc, "DEL %s %s %s", RELAY_HEAD_KEY, r->o->stream, CLUSTER_SNAP_KEY);
        redisAppendCommand(r->rc, "SET %s %s", CLUSTER_EPOCH_KEY, epoch);
        redisAppendCommand(r->rc, "EXEC");
        for (int i = 0; i < 3; i++) {
            rep = NULL;
            if (redisGetReply(r->rc, (void **)&rep) != REDIS_OK || !rep || rep->type == REDIS_REPLY_ERROR)
                ok = 0;
            if (rep)
                freeReplyObject(rep);
        }
    }
    if (!ok)
        return -EIO;
    log_warn("relay: engine reset: epoch %s; the stream starts again from %s and every edge loads a snapshot", epoch,
             r->o->db);
    r->reset_pending = 0; /* once */
    return 0;
}

/* GET the head; on a difference with ours, adopt it. */
int relay_check_head(struct relay *r)
{
    redisReply *rep = redisCommand(r->rc, "GET %s", RELAY_HEAD_KEY);
    char ours[48];
    int rc = 0;

    if (!rep) {
        relay_redis_drop(r, r->rc->errstr);
        return -EIO;
    }
    snprintf(ours, sizeof(ours), "%" PRId64 "-%" PRId64, r->hs, r->hn);
    if (rep->type == REDIS_REPLY_NIL) {
        if (r->hs || r->hn)
            rc = relay_adopt_head(r, NULL);
    } else if (rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, ours))
            rc = relay_adopt_head(r, rep->str);
    } else {
        rc = -EIO;
    }
    freeReplyObject(rep);
    return rc;
}

/* The heartbeat carries the database's last seq: an edge compares it with
 * the engine's head to show the relay's backlog. */
void relay_beat(struct relay *r)
{
    int64_t top = -1;
    redisReply *rep;

    relay_db_int(r, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)", 0, &top);
    rep = redisCommand(r->rc, "SET %s pid=%d,db_seq=%lld PX 5000", RELAY_BEAT_KEY, (int)getpid(), (long long)top);

    if (!rep)
        relay_redis_drop(r, r->rc->errstr);
    else
        freeReplyObject(rep);
}
