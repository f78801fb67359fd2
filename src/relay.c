/* SPDX-License-Identifier: MIT
 *
 * The relay (see relay.h, docs/cluster.md). One thread, the process's own:
 * it polls PRAGMA data_version on a read-only connection, reads the rows
 * after the engine's head (change_log and aux_log merged by (seq, sub)) and
 * appends them through the compare-and-append script. Every change_log row
 * is published (no coalescing), so every seq has its entry s-0 and a
 * republish after a lost tail gives the same ids and prev chain.
 */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "clock.h"
#include "log.h"

#define RELAY_HEAD_KEY "wpd:head"
#define RELAY_BEAT_KEY "wpd:relay-beat"
#define RELAY_TICK_MS 50
#define RELAY_CHECK_MS 1000
#define RELAY_BACKOFF_MAX_MS 5000

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

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct relay {
    const struct relay_options *o;
    sqlite3 *db;
    redisContext *rc;
    char sha[48];
    int64_t hs, hn;   /* the id last published (the engine's head as we know it) */
    int64_t last_dv;  /* PRAGMA data_version at the last read */
    int dirty;        /* rows may be waiting */
    int outage;       /* an outage was logged, not yet its end */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

static void redis_drop(struct relay *r, const char *why)
{
    if (!r->outage) {
        log_error("relay: redis %s:%d: %s; retrying", r->o->host, r->o->port, why);
        r->outage = 1;
    }
    if (r->rc)
        redisFree(r->rc);
    r->rc = NULL;
}

static int script_load(struct relay *r)
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

static int redis_open(struct relay *r)
{
    struct timeval tv = {2, 0};
    redisReply *rep = NULL;

    r->rc = redisConnectWithTimeout(r->o->host, r->o->port, tv);
    if (!r->rc || r->rc->err)
        goto fail;
    tv.tv_sec = 3;
    if (redisSetTimeout(r->rc, tv) != REDIS_OK)
        goto fail;
    if (r->o->dbnum > 0) {
        rep = redisCommand(r->rc, "SELECT %d", r->o->dbnum);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(rep);
        rep = NULL;
    }
    if (script_load(r))
        goto fail;
    return 0;
fail:
    if (rep)
        freeReplyObject(rep);
    redis_drop(r, r->rc && r->rc->err ? r->rc->errstr : "connection failed");
    return -EIO;
}

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

static int db_int(struct relay *r, const char *sql, int64_t a, int64_t *out)
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

/* 1 when the id (seq, sub) is beyond anything the database holds (the
 * engine is ahead: a database restored from a backup), 0 if not, < 0 on a
 * read error. */
static int engine_ahead(struct relay *r, int64_t seq, int64_t sub)
{
    int64_t top = 0;
    int64_t n = 0;
    int rc;

    rc = db_int(r, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)", 0, &top);
    if (rc)
        return rc;
    if (seq > top)
        return 1;
    if (sub == 0)
        return 0;
    rc = db_int(r, "SELECT COUNT(*) FROM aux_log WHERE seq = ?1", seq, &n);
    if (rc)
        return rc;
    return sub > n;
}

/* Take the engine's head H as ours after checking it. 0, -EPROTO (ahead),
 * -EAGAIN (database busy), -EIO. */
static int adopt_head(struct relay *r, const char *h)
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
                  " an older backup?); refusing to publish (--reset-engine is not built yet: see cluster.md)",
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

/* GET the head; on a difference with ours, adopt it. */
static int check_head(struct relay *r)
{
    redisReply *rep = redisCommand(r->rc, "GET %s", RELAY_HEAD_KEY);
    char ours[48];
    int rc = 0;

    if (!rep) {
        redis_drop(r, r->rc->errstr);
        return -EIO;
    }
    snprintf(ours, sizeof(ours), "%" PRId64 "-%" PRId64, r->hs, r->hn);
    if (rep->type == REDIS_REPLY_NIL) {
        if (r->hs || r->hn)
            rc = adopt_head(r, NULL);
    } else if (rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, ours))
            rc = adopt_head(r, rep->str);
    } else {
        rc = -EIO;
    }
    freeReplyObject(rep);
    return rc;
}

static void beat(struct relay *r)
{
    redisReply *rep = redisCommand(r->rc, "SET %s %d PX 5000", RELAY_BEAT_KEY, (int)getpid());

    if (!rep)
        redis_drop(r, r->rc->errstr);
    else
        freeReplyObject(rep);
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
static int publish_once(struct relay *r)
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

    rc = db_int(r, "SELECT pruned_through FROM change_log_state WHERE id = 1", 0, &pruned);
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
        redis_drop(r, r->rc->errstr);
        rc = -EIO;
        goto fail;
    }
    if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
        rc = script_load(r) ? -EIO : 1; /* 1: try again at once */
        goto fail;
    }
    if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "GAP ", 4)) {
        log_warn("relay: the engine's head is %s, not %" PRId64 "-%" PRId64 " (it lost its tail or another"
                 " relay wrote): publishing after it", rep->str + 4, r->hs, r->hn);
        rc = adopt_head(r, rep->str + 4);
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

int relay_run(const struct relay_options *o, const char *url)
{
    struct relay r = {.o = o};
    struct sigaction sa;
    int64_t next_check = 0;
    int backoff = 100;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sqlite3_open_v2(o->db, &r.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        log_error("relay: cannot open %s: %s", o->db, r.db ? sqlite3_errmsg(r.db) : "out of memory");
        rc = -ENOENT;
        goto fail;
    }
    sqlite3_busy_timeout(r.db, 1000);
    {
        int64_t v = 0;

        if (db_int(&r, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'aux_log'", 0, &v) || !v) {
            log_error("relay: %s is not a waypointd database at schema 6 or later (run waypointd init)", o->db);
            rc = -EINVAL;
            goto fail;
        }
    }
    printf("relaying %s to %s\n", o->db, url);
    fflush(stdout);

    while (!stop_requested) {
        int64_t now;
        int64_t dv = 0;

        if (!r.rc) {
            if (redis_open(&r)) {
                sleep_ms(backoff);
                backoff = backoff * 2 > RELAY_BACKOFF_MAX_MS ? RELAY_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            if (r.outage)
                log_info("relay: redis %s:%d reachable again", o->host, o->port);
            r.outage = 0;
            backoff = 100;
            r.hs = -1; /* force adopting whatever the engine holds */
            r.hn = -1;
            next_check = 0;
        }
        now = clock_mono_ms();
        if (now >= next_check) {
            beat(&r);
            if (!r.rc)
                continue;
            rc = check_head(&r);
            if (rc == -EPROTO)
                goto fail;
            if (rc)
                continue;
            next_check = now + RELAY_CHECK_MS;
        }
        if (db_int(&r, "PRAGMA data_version", 0, &dv) == 0 && dv != r.last_dv) {
            r.last_dv = dv;
            r.dirty = 1;
        }
        if (r.dirty) {
            rc = publish_once(&r);
            if (rc == -EPROTO)
                goto fail;
            if (rc > 0)
                continue; /* maybe more: read again at once */
            if (rc == 0)
                r.dirty = 0;
        }
        sleep_ms(RELAY_TICK_MS);
    }
    rc = 0;
fail:
    if (r.rc)
        redisFree(r.rc);
    sqlite3_close(r.db);
    return rc;
}
