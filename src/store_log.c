/* SPDX-License-Identifier: MIT
 *
 * The change log: reading new rows for the feed, the consistent snapshot or
 * replay a subscription starts from, and pruning by retention. Rows are
 * copied out and coalesced here; the triggers that write the log are in
 * store_schema.c. One struct store per thread, as everywhere.
 */
#include "store_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

void store_changes_free(struct store_change *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++)
        waypoint_clear(&c[i].w);
    free(c);
}

void store_sub_state_clear(struct store_sub_state *st)
{
    waypoints_clear(st->w, st->nw);
    free(st->w);
    store_changes_free(st->changes, st->nchanges);
    memset(st, 0, sizeof(*st));
}

static int step_head(struct store *s, struct store_log_head *out)
{
    sqlite3_stmt *st = store_stmt(s, ST_LOG_HEAD);
    int rc;

    if (!st)
        return store_errno(s, SQLITE_OK);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->head = sqlite3_column_int64(st, 0);
        out->pruned_through = sqlite3_column_int64(st, 1);
    }
    store_stmt_done(st);
    return rc == SQLITE_ROW ? 0 : store_errno(s, rc);
}

int store_log_head(struct store *s, struct store_log_head *out)
{
    return step_head(s, out);
}

/* Copy one joined log row. The waypoint's columns (6..13) are NULL when the
 * row is gone; an upsert then, or one whose row now belongs to another
 * customer, is marked stale: a later log row says what happened. */
static int change_row(sqlite3_stmt *st, struct store_change *c, int *stale)
{
    const char *kind = (const char *)sqlite3_column_text(st, 1);
    const char *row_customer = (const char *)sqlite3_column_text(st, 4);
    const char *now_customer = (const char *)sqlite3_column_text(st, 7);
    int oom = 0;

    memset(c, 0, sizeof(*c));
    c->seq = sqlite3_column_int64(st, 0);
    c->changed_ms = sqlite3_column_int64(st, 2);
    c->kind = kind && !strcmp(kind, "delete") ? STORE_CHANGE_DELETE : STORE_CHANGE_UPSERT;
    *stale = c->kind == STORE_CHANGE_UPSERT && (!now_customer || !row_customer || strcmp(now_customer, row_customer));
    if (c->kind == STORE_CHANGE_UPSERT && !*stale)
        return store_waypoint_row(st, 6, (const char *)sqlite3_column_text(st, 3), &c->w);
    c->w.dc_id = store_column_text(st, 3, &oom);
    c->w.customer_id = store_column_text(st, 4, &oom);
    c->w.id = store_column_text(st, 5, &oom);
    if (oom || !c->w.dc_id || !c->w.customer_id || !c->w.id) {
        waypoint_clear(&c->w);
        return -ENOMEM;
    }
    return 0;
}

static uint64_t key_hash(const struct waypoint *w)
{
    const char *parts[3] = {w->dc_id, w->customer_id, w->id};
    uint64_t h = HASH_FNV1A_INIT;

    /* Each id with its NUL: "a","bc" and "ab","c" hash apart. */
    for (int i = 0; i < 3; i++)
        h = hash_fnv1a(h, parts[i], strlen(parts[i]) + 1);
    return h;
}

static int same_key(const struct waypoint *a, const struct waypoint *b)
{
    return !strcmp(a->id, b->id) && !strcmp(a->customer_id, b->customer_id) && !strcmp(a->dc_id, b->dc_id);
}

/* Keep only the newest change per (DC, customer, waypoint), in seq order.
 * Walks from the end with an open-addressing set of keys already kept. */
static int coalesce(struct store_change *c, size_t *n)
{
    size_t cap = 16, kept = 0, i, out;
    size_t *slots;

    while (cap < *n * 2)
        cap <<= 1;
    slots = malloc(cap * sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (i = 0; i < cap; i++)
        slots[i] = SIZE_MAX;
    for (i = *n; i-- > 0;) {
        size_t h = (size_t)key_hash(&c[i].w) & (cap - 1);
        int dup = 0;

        while (slots[h] != SIZE_MAX && !(dup = same_key(&c[slots[h]].w, &c[i].w)))
            h = (h + 1) & (cap - 1);
        if (dup) {
            waypoint_clear(&c[i].w);
            c[i].seq = -1; /* superseded */
            continue;
        }
        slots[h] = i;
        kept++;
    }
    free(slots);
    for (i = 0, out = 0; i < *n; i++)
        if (c[i].seq >= 0)
            c[out++] = c[i];
    *n = kept;
    return 0;
}

/* Read up to max rows of one statement into a coalesced array; *rows counts
 * the log rows read before coalescing. */
static int read_changes(struct store *s, sqlite3_stmt *st, size_t max, struct store_change **out, size_t *n, int64_t *last,
                        size_t *rows)
{
    struct store_change *c = NULL;
    size_t used = 0, cap = 0;
    int rc = 0, step = SQLITE_DONE, stale;

    *rows = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        (*rows)++;
        if (used == cap) {
            /* The statement's LIMIT bounds the rows; grow up to it. */
            size_t ncap = cap ? (cap * 2 < max ? cap * 2 : max) : (max < 64 ? max : 64);
            struct store_change *g = ncap > cap ? realloc(c, ncap * sizeof(*c)) : NULL;

            if (!g) {
                rc = -ENOMEM;
                break;
            }
            c = g;
            cap = ncap;
        }
        rc = change_row(st, &c[used], &stale);
        if (rc)
            break;
        *last = c[used].seq;
        if (stale)
            waypoint_clear(&c[used].w); /* a later row covers it */
        else
            used++;
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = store_errno(s, step);
    if (!rc)
        rc = coalesce(c, &used);
    if (rc) {
        store_changes_free(c, used);
        return rc;
    }
    *out = c;
    *n = used;
    return 0;
}

int store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                       int64_t *next)
{
    sqlite3_stmt *st = store_stmt(s, ST_LOG_READ);
    size_t rows;
    int rc;

    *out = NULL;
    *n = 0;
    *next = after;
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, INT64_MAX);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    rc = read_changes(s, st, max, out, n, next, &rows);
    store_stmt_done(st);
    return rc;
}

/* Statement-level transaction control with the cached statements. */
static int txn(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = store_stmt(s, id);
    int rc;

    if (!st)
        return store_errno(s, SQLITE_OK);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

static int snapshot_customer(struct store *s, const char *dc_id, const char *customer_id, struct store_sub_state *out)
{
    out->w = calloc(STORE_MAX_WAYPOINTS, sizeof(*out->w));
    if (!out->w)
        return -ENOMEM;
    return store_waypoints_recent(s, dc_id, customer_id, out->w, STORE_MAX_WAYPOINTS, &out->nw);
}

static int snapshot_dc(struct store *s, const char *dc_id, struct store_sub_state *out)
{
    sqlite3_stmt *st = store_stmt(s, ST_SNAP_DC);
    size_t cap = 0;
    int rc = 0, step = SQLITE_DONE;

    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_text(st, 1, dc_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->nw == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct waypoint *g = realloc(out->w, ncap * sizeof(*g));

            if (!g) {
                rc = -ENOMEM;
                break;
            }
            out->w = g;
            cap = ncap;
        }
        rc = store_waypoint_row(st, 0, dc_id, &out->w[out->nw]);
        if (rc)
            break;
        out->nw++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = store_errno(s, step);
    store_stmt_done(st);
    return rc;
}

/* The scope's changes in (since, out->seq]; *complete is 0 when there were
 * more than STORE_REPLAY_MAX log rows (the read stopped short). */
static int replay(struct store *s, const char *dc_id, const char *customer_id, int64_t since,
                  struct store_sub_state *out, int *complete)
{
    sqlite3_stmt *st = store_stmt(s, customer_id ? ST_LOG_READ_CUSTOMER : ST_LOG_READ_DC);
    int64_t last = since;
    size_t rows = 0;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, out->seq);
    sqlite3_bind_int64(st, 3, STORE_REPLAY_MAX + 1);
    sqlite3_bind_text(st, 4, dc_id, -1, SQLITE_STATIC);
    if (customer_id)
        sqlite3_bind_text(st, 5, customer_id, -1, SQLITE_STATIC);
    rc = read_changes(s, st, STORE_REPLAY_MAX + 1, &out->changes, &out->nchanges, &last, &rows);
    store_stmt_done(st);
    *complete = rows <= STORE_REPLAY_MAX;
    return rc;
}

int store_subscribe_read(struct store *s, const char *dc_id, const char *customer_id, int64_t since,
                         struct store_sub_state *out)
{
    struct store_log_head head = {0, 0};
    int rc, complete = 0;

    memset(out, 0, sizeof(*out));
    rc = txn(s, ST_BEGIN);
    if (rc)
        return rc;
    rc = step_head(s, &head);
    if (rc)
        goto out;
    out->seq = head.head;
    if (since >= 0 && since >= head.pruned_through && since <= head.head) {
        rc = replay(s, dc_id, customer_id, since, out, &complete);
        if (!rc && complete) {
            out->resumed = 1;
            goto out;
        }
        store_changes_free(out->changes, out->nchanges);
        out->changes = NULL;
        out->nchanges = 0;
        if (rc)
            goto out;
    }
    rc = customer_id ? snapshot_customer(s, dc_id, customer_id, out) : snapshot_dc(s, dc_id, out);
out:
    if (txn(s, ST_COMMIT) && !rc)
        rc = store_errno(s, SQLITE_OK);
    if (rc) {
        txn(s, ST_ROLLBACK);
        store_sub_state_clear(out);
    }
    return rc;
}

static int step_int64(struct store *s, enum stmt_id id, int64_t bind, int64_t *out)
{
    sqlite3_stmt *st = store_stmt(s, id);
    int rc;

    if (!st)
        return store_errno(s, SQLITE_OK);
    sqlite3_bind_int64(st, 1, bind);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    store_stmt_done(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_errno(s, rc);
}

static int exec_int64(struct store *s, enum stmt_id id, int64_t bind)
{
    sqlite3_stmt *st = store_stmt(s, id);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, bind);
    rc = sqlite3_step(st);
    store_stmt_done(st);
    return rc == SQLITE_DONE ? 0 : (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
}

int store_log_prune(struct store *s, int64_t keep_rows, int64_t keep_ms, int64_t now_ms, int64_t upto,
                    int64_t *pruned)
{
    struct store_log_head head = {0, 0};
    int64_t cutoff, young = 0, from, floor = 0;
    int rc;

    *pruned = 0;
    if (step_head(s, &head))
        return -EIO;
    cutoff = head.head - keep_rows;
    rc = step_int64(s, ST_LOG_AGE_CUTOFF, now_ms - keep_ms, &young);
    if (rc < 0)
        return rc;
    /* Everything before the first young row is old; with none, all is old. */
    if ((rc ? young - 1 : head.head) > cutoff)
        cutoff = rc ? young - 1 : head.head;
    if (cutoff > upto)
        cutoff = upto;
    /* Nor past what an enabled webhook endpoint has yet to derive events
     * from (its cursor): those rows are its undelivered history. */
    rc = step_int64(s, ST_LOG_WEBHOOK_FLOOR, cutoff, &floor);
    if (rc < 0)
        return rc;
    if (rc)
        cutoff = floor;
    if (cutoff <= head.pruned_through)
        return 0;
    rc = 0;
    /* In chunks of STORE_PRUNE_CHUNK rows, each its own transaction, with a
     * pause between them: a writer queued on its busy timeout meets a lock
     * free for a moment after every chunk, never one held for the whole
     * backlog. At most STORE_PRUNE_MAX_CHUNKS per call bounds the feed
     * thread's time here; the rest goes at the next call. Never wait on a
     * writer: pruning can always happen later. */
    sqlite3_busy_timeout(s->db, 0);
    from = head.pruned_through;
    for (int chunk = 0; !rc && from < cutoff && chunk < STORE_PRUNE_MAX_CHUNKS; chunk++) {
        int64_t to = cutoff;
        int more = step_int64(s, ST_LOG_CHUNK_END, from, &to);

        if (more < 0) {
            rc = more;
            break;
        }
        if (!more || to > cutoff)
            to = cutoff;
        if (chunk)
            sqlite3_sleep(STORE_PRUNE_PAUSE_MS);
        if (store_exec(s, "BEGIN IMMEDIATE")) {
            rc = -EBUSY;
            break;
        }
        rc = exec_int64(s, ST_LOG_DELETE, to);
        if (!rc)
            rc = exec_int64(s, ST_LOG_PRUNED_SET, to);
        if (!rc)
            rc = store_exec(s, "COMMIT");
        if (rc)
            store_exec(s, "ROLLBACK");
        else
            from = to;
    }
    sqlite3_busy_timeout(s->db, s->busy_ms);
    if (from > head.pruned_through) {
        *pruned = from; /* what was done stays done, even if a later chunk failed */
        return 0;
    }
    return rc;
}

int store_data_version(struct store *s, int64_t *v)
{
    int rc = step_int64(s, ST_DATA_VERSION, 0, v);

    return rc == 1 ? 0 : rc < 0 ? rc : -EIO;
}
