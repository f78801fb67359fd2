/* SPDX-License-Identifier: MIT
 *
 * An edge's applier (replica.h). The thread owns its Redis context and its
 * SQLite connection; other threads see only the atomic counters. Redis is
 * reconnected with backoff (100 ms to 5 s) and logged once per outage; a
 * read answers within REPLICA_READ_TIMEOUT_S or the context is dropped, so
 * a frozen server is noticed like a dead one.
 */
#include "replica.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "cluster.h"
#include "cluster_snap.h"
#include "log.h"
#include "store.h"
#include "store_replica.h"

#define REPLICA_BATCH 512
#define REPLICA_BLOCK_MS 1000
#define REPLICA_READ_TIMEOUT_S 3
#define REPLICA_BACKOFF_MAX_MS 5000
#define REPLICA_SNAP_WAIT_MS 120000
#define REPLICA_WAIT_LOG_MS 5000
/* Two sweeps of every service thread (sweep.h's SWEEP_MS, 2 s) and a margin:
 * by then each has sent its live sessions elsewhere (source_replica.c). */
#define REPLICA_RESET_WAIT_MS 5000

struct replica {
    struct replica_options o;
    struct store *store;    /* the applier's connection: the only writer */
    redisContext *rc;
    char applied[STORE_REPLICA_ID_MAX]; /* "" before the first snapshot */
    char snap_path[4096];
    int outage;             /* an outage was logged, not yet its end */
    int backoff_ms;
    pthread_t tid;
    int started;
    _Atomic int stop;
    _Atomic int ready;      /* filled and caught up once */
    _Atomic int resetting;  /* live sessions are being sent elsewhere before a reload */
    _Atomic int64_t applied_seq, engine_seq, contact_ms, behind_since, bootstraps, gaps, entries;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* "S-N": S, or -1 when it is not an id. */
static int64_t id_seq(const char *id)
{
    char *end = NULL;
    long long s = strtoll(id, &end, 10);

    return end != id && *end == '-' && s >= 0 ? s : -1;
}

static void redis_drop(struct replica *r, const char *why)
{
    if (!r->outage) {
        log_error("edge: redis %s: %s; retrying", r->o.url, why);
        r->outage = 1;
    }
    if (r->rc)
        redisFree(r->rc);
    r->rc = NULL;
}

static int redis_open(struct replica *r)
{
    struct timeval tv = {2, 0};
    redisReply *rep = NULL;

    r->rc = redisConnectWithTimeout(r->o.host, r->o.port, tv);
    if (!r->rc || r->rc->err)
        goto fail;
    tv.tv_sec = REPLICA_READ_TIMEOUT_S;
    if (redisSetTimeout(r->rc, tv) != REDIS_OK)
        goto fail;
    if (r->o.dbnum > 0) {
        rep = redisCommand(r->rc, "SELECT %d", r->o.dbnum);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(rep);
    }
    if (r->outage)
        log_info("edge: redis %s reachable again", r->o.url);
    r->outage = 0;
    r->backoff_ms = 100;
    return 0;
fail:
    if (rep)
        freeReplyObject(rep);
    redis_drop(r, r->rc && r->rc->err ? r->rc->errstr : "connection failed");
    sleep_ms(r->backoff_ms);
    r->backoff_ms = r->backoff_ms * 2 > REPLICA_BACKOFF_MAX_MS ? REPLICA_BACKOFF_MAX_MS : r->backoff_ms * 2;
    return -EIO;
}

static void contact(struct replica *r)
{
    atomic_store(&r->contact_ms, clock_mono_ms());
}

/* Where applied stands against the engine: for health and for a client
 * whose since is ahead of this edge. */
static void note_engine(struct replica *r, int64_t engine)
{
    int64_t applied = atomic_load(&r->applied_seq);

    if (engine >= 0)
        atomic_store(&r->engine_seq, engine);
    else
        engine = atomic_load(&r->engine_seq);
    if (applied >= engine)
        atomic_store(&r->behind_since, 0);
    else if (!atomic_load(&r->behind_since))
        atomic_store(&r->behind_since, clock_mono_ms());
}

/* GET the engine's head; -EIO drops the connection. */
static int read_head(struct replica *r)
{
    redisReply *rep = redisCommand(r->rc, "GET %s", CLUSTER_HEAD_KEY);

    if (!rep) {
        redis_drop(r, r->rc->errstr);
        return -EIO;
    }
    contact(r);
    if (rep->type == REDIS_REPLY_STRING)
        note_engine(r, id_seq(rep->str));
    freeReplyObject(rep);
    return 0;
}

static void set_applied(struct replica *r, const char *id)
{
    snprintf(r->applied, sizeof(r->applied), "%s", id);
    atomic_store(&r->applied_seq, id_seq(id));
}

/* A reload while serving, from a snapshot whose change log starts after
 * what this replica applied (the origin pruned the changes between; that is
 * why the stream no longer holds them either). The watcher would publish
 * the snapshot's rows as if they followed on, and a live client here would
 * never get the pruned ones, nor know it. So first every live session is
 * sent elsewhere (source_replica.c: cut_off, taken by each thread's sweep)
 * and new subscriptions are turned away (503, try again), and only then is
 * the snapshot loaded: a client resumes with its since on an edge that
 * still has the changes, or gets a fresh snapshot. */
static void reset_begin(struct replica *r)
{
    int64_t pruned = 0, applied = atomic_load(&r->applied_seq);

    if (store_replica_snap_pruned(r->snap_path, &pruned) || pruned <= applied)
        return;
    log_warn("edge: the snapshot holds no changes before seq %" PRId64 ", this replica is at %" PRId64
             ": sending live clients elsewhere before loading it",
             pruned + 1, applied);
    atomic_store(&r->resetting, 1);
    sleep_ms(REPLICA_RESET_WAIT_MS);
}

/* Load a snapshot: the replica jumps to the origin's state at its id. gap:
 * why, for the log (the caller has emptied applied either way). */
static int bootstrap(struct replica *r, int gap)
{
    char id[STORE_REPLICA_ID_MAX] = "", err[512] = "";
    int rc;

    log_info("edge: asking the relay for a snapshot (%s)", gap ? "the stream no longer holds what follows"
                                                                 " this replica" : "a new replica");
    rc = cluster_snap_fetch(r->rc, r->snap_path, id, sizeof(id), clock_mono_ms() + REPLICA_SNAP_WAIT_MS);
    if (rc == -EIO) {
        redis_drop(r, r->rc->err ? r->rc->errstr : "snapshot transfer failed");
        return rc;
    }
    if (rc) {
        log_error("edge: no snapshot came (%s): is `waypointd relay` running against the origin?",
                  rc == -ETIMEDOUT ? "timed out" : "damaged in transit");
        return rc;
    }
    contact(r);
    if (gap)
        reset_begin(r);
    rc = store_replica_load(r->store, r->snap_path, id, err, sizeof(err));
    atomic_store(&r->resetting, 0);
    unlink(r->snap_path);
    if (rc) {
        log_error("edge: %s", err);
        return rc;
    }
    set_applied(r, id);
    atomic_fetch_add(&r->bootstraps, 1);
    log_info("edge: replica %s loaded from a snapshot at %s", r->o.db_path, id);
    return 0;
}

/* An entry's fields, borrowed from the reply. */
struct entry {
    const char *id, *prev, *k, *d;
    size_t dlen;
};

static int entry_parse(const redisReply *e, struct entry *out)
{
    const redisReply *f;

    memset(out, 0, sizeof(*out));
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -EINVAL;
    out->id = e->element[0]->str;
    f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *name = f->element[i]->str;
        const redisReply *v = f->element[i + 1];

        if (!name || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(name, "prev"))
            out->prev = v->str;
        else if (!strcmp(name, "k"))
            out->k = v->str;
        else if (!strcmp(name, "d"))
            out->d = v->str, out->dlen = (size_t)v->len;
    }
    return out->prev && out->k && out->d && id_seq(out->id) >= 0 ? 0 : -EINVAL;
}

/* Apply the entries of one XREAD answer that follow on from applied, in one
 * transaction. 1 when a gap ended the batch (bootstrap next), 0, or < 0. */
static int apply_batch(struct replica *r, const redisReply *entries)
{
    char err[512] = "", last[STORE_REPLICA_ID_MAX];
    size_t n = 0;
    int gap = 0, rc;

    snprintf(last, sizeof(last), "%s", r->applied);
    if ((rc = store_replica_begin(r->store)))
        return rc;
    for (size_t i = 0; i < entries->elements && !gap; i++) {
        struct entry e;

        if (entry_parse(entries->element[i], &e)) {
            log_error("edge: a stream entry without prev, k or d (not written by waypointd relay?); stopping here");
            rc = -EINVAL;
            break;
        }
        if (strcmp(e.prev, last)) {
            log_warn("edge: gap in the stream: the entry after %s is %s, which follows %s; loading a snapshot", last,
                     e.id, e.prev);
            atomic_fetch_add(&r->gaps, 1);
            gap = 1;
            break;
        }
        rc = store_replica_apply(r->store, id_seq(e.id), e.k, e.d, e.dlen, err, sizeof(err));
        if (rc) {
            log_error("edge: cannot apply %s: %s", e.id, err);
            break;
        }
        snprintf(last, sizeof(last), "%s", e.id);
        n++;
    }
    if (rc || !n) {
        store_replica_rollback(r->store);
        return rc ? rc : gap;
    }
    if ((rc = store_replica_commit(r->store, last)))
        return rc;
    set_applied(r, last);
    atomic_fetch_add(&r->entries, (int64_t)n);
    return gap;
}

/* One XREAD: 1 entries applied, 0 none came, 2 a gap, < 0 an error. */
static int read_once(struct replica *r)
{
    redisReply *rep = redisCommand(r->rc, "XREAD COUNT %d BLOCK %d STREAMS %s %s", REPLICA_BATCH, REPLICA_BLOCK_MS,
                                   r->o.stream, r->applied);
    int rc = 0;

    if (!rep) {
        redis_drop(r, r->rc->errstr);
        return -EIO;
    }
    contact(r);
    if (rep->type == REDIS_REPLY_ERROR) {
        log_error("edge: XREAD: %s", rep->str);
        rc = -EIO;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->elements == 2) {
        rc = apply_batch(r, rep->element[0]->element[1]);
        rc = rc == 1 ? 2 : rc == 0 ? 1 : rc;
    }
    freeReplyObject(rep);
    return rc;
}

/* One step of the loop: connect, bootstrap, or read and apply. */
static void step(struct replica *r)
{
    int rc;

    if (!r->rc && redis_open(r))
        return;
    if (!r->applied[0]) {
        if (bootstrap(r, 0) && r->rc)
            sleep_ms(1000);
        return;
    }
    rc = read_once(r);
    if (rc == 2) {
        r->applied[0] = '\0'; /* after the entries that followed on */
        if (bootstrap(r, 1)) {
            char id[STORE_REPLICA_ID_MAX];

            /* Keep serving what we have; ask again in a second. */
            if (!store_replica_applied(r->store, id, sizeof(id)))
                set_applied(r, id);
            sleep_ms(1000);
        }
        return;
    }
    if (rc < 0 && r->rc)
        sleep_ms(1000); /* an apply error: retry the batch, slowly */
    if (r->rc && read_head(r) == 0 && !atomic_load(&r->ready) &&
        atomic_load(&r->applied_seq) >= atomic_load(&r->engine_seq))
        atomic_store(&r->ready, 1);
}

static void *replica_main(void *arg)
{
    struct replica *r = arg;

    while (!atomic_load(&r->stop))
        step(r);
    return NULL;
}

int replica_start(const struct replica_options *o, struct replica **out)
{
    struct replica *r = calloc(1, sizeof(*r));
    char err[512] = "", applied[STORE_REPLICA_ID_MAX] = "";
    int64_t next_log;
    int rc;

    *out = NULL;
    if (!r)
        return -ENOMEM;
    r->o = *o;
    if (!r->o.stream)
        r->o.stream = CLUSTER_STREAM_DEFAULT;
    r->backoff_ms = 100;
    snprintf(r->snap_path, sizeof(r->snap_path), "%s.snapshot", o->db_path);
    rc = store_replica_open(o->db_path, &r->store, err, sizeof(err));
    if (!rc)
        rc = store_replica_applied(r->store, applied, sizeof(applied));
    if (rc) {
        fprintf(stderr, "waypointd: %s\n", err[0] ? err : "cannot read the replica's state");
        replica_stop(r);
        return rc;
    }
    /* Through a buffer of its own: set_applied copies into r->applied, and
     * a copy onto itself (snprintf with overlapping buffers) emptied it, so
     * every restarted edge loaded a whole snapshot instead of going on. */
    set_applied(r, applied);
    contact(r);
    rc = -pthread_create(&r->tid, NULL, replica_main, r);
    if (rc) {
        replica_stop(r);
        return rc;
    }
    r->started = 1;
    next_log = clock_mono_ms() + REPLICA_WAIT_LOG_MS;
    while (!atomic_load(&r->ready)) {
        sleep_ms(20);
        if (clock_mono_ms() >= next_log) {
            log_info("edge: waiting to catch up with %s (applied seq %" PRId64 ", the engine's %" PRId64 ")", o->url,
                     atomic_load(&r->applied_seq), atomic_load(&r->engine_seq));
            next_log += REPLICA_WAIT_LOG_MS;
        }
    }
    *out = r;
    return 0;
}

void replica_stop(struct replica *r)
{
    if (!r)
        return;
    if (r->started) {
        atomic_store(&r->stop, 1);
        pthread_join(r->tid, NULL);
    }
    if (r->rc)
        redisFree(r->rc);
    store_close(r->store);
    free(r);
}

void replica_status_get(const struct replica *r, struct replica_status *st)
{
    st->applied_seq = atomic_load(&r->applied_seq);
    st->engine_seq = atomic_load(&r->engine_seq);
    st->contact_ms = atomic_load(&r->contact_ms);
    st->behind_since = atomic_load(&r->behind_since);
    st->bootstraps = atomic_load(&r->bootstraps);
    st->gaps = atomic_load(&r->gaps);
    st->entries = atomic_load(&r->entries);
    st->resetting = atomic_load(&r->resetting);
}

int replica_health(const struct replica *r, int64_t now_ms, const char **why)
{
    struct replica_status st;

    replica_status_get(r, &st);
    if (st.resetting) {
        *why = "reloading from a snapshot";
        return -EAGAIN;
    }
    if (now_ms - st.contact_ms > REPLICA_UNHEALTHY_MS) {
        *why = "cannot reach the cluster's redis";
        return -ENOTCONN;
    }
    if (st.behind_since && now_ms - st.behind_since > REPLICA_UNHEALTHY_MS) {
        *why = "behind the cluster's stream";
        return -ETIMEDOUT;
    }
    *why = NULL;
    return 0;
}
