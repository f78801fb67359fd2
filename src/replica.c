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
#include "redis_url.h"
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
    char epoch[64];         /* the engine's epoch the replica was loaded under */
    char url[320];          /* o.url's copy, for messages */
    int reset_seen;         /* the engine's epoch is another: load a snapshot */
    char snap_path[4096];
    int outage;             /* an outage was logged, not yet its end */
    int backoff_ms;
    pthread_t tid;
    int started;
    _Atomic int stop;
    _Atomic int ready;      /* filled and caught up once */
    _Atomic int resetting;  /* live sessions are being sent elsewhere before a reload */
    _Atomic int64_t applied_seq, engine_seq, contact_ms, behind_since, bootstraps, gaps, entries, db_seq;
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
    char why[256];

    r->rc = redis_connect(r->o.addr, REPLICA_READ_TIMEOUT_S, why, sizeof(why));
    if (!r->rc) {
        redis_drop(r, why);
        sleep_ms(r->backoff_ms);
        r->backoff_ms = r->backoff_ms * 2 > REPLICA_BACKOFF_MAX_MS ? REPLICA_BACKOFF_MAX_MS : r->backoff_ms * 2;
        return -EIO;
    }
    if (r->outage)
        log_info("edge: redis %s reachable again", r->o.url);
    r->outage = 0;
    r->backoff_ms = 100;
    return 0;
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

/* The relay's heartbeat "pid=P,db_seq=S": S, or -1 when the relay is not
 * beating (stopped, or cut off from Redis). */
static int64_t beat_db_seq(const redisReply *rep)
{
    const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "db_seq=") : NULL;

    return p ? strtoll(p + 7, NULL, 10) : -1;
}

/* GET the engine's head, the relay's heartbeat and the epoch, pipelined;
 * -EIO drops the connection. */
static int read_head(struct replica *r)
{
    redisReply *rep[3] = {NULL, NULL, NULL};
    int rc = -EIO;

    if (redisAppendCommand(r->rc, "GET %s", CLUSTER_HEAD_KEY) != REDIS_OK ||
        redisAppendCommand(r->rc, "GET %s", CLUSTER_BEAT_KEY) != REDIS_OK ||
        redisAppendCommand(r->rc, "GET %s", CLUSTER_EPOCH_KEY) != REDIS_OK)
        goto fail;
    for (int i = 0; i < 3; i++)
        if (redisGetReply(r->rc, (void **)&rep[i]) != REDIS_OK)
            goto fail;
    contact(r);
    if (rep[0]->type == REDIS_REPLY_STRING)
        note_engine(r, id_seq(rep[0]->str));
    atomic_store(&r->db_seq, beat_db_seq(rep[1]));
    if (strcmp(rep[2]->type == REDIS_REPLY_STRING ? rep[2]->str : "", r->epoch) && r->applied[0] && !r->reset_seen) {
        log_warn("edge: the engine was reset (epoch \"%s\", this replica's \"%s\"): loading a snapshot",
                 rep[2]->type == REDIS_REPLY_STRING ? rep[2]->str : "", r->epoch);
        r->reset_seen = 1;
    }
    rc = 0;
fail:
    if (rc)
        redis_drop(r, r->rc->errstr);
    for (int i = 0; i < 3; i++)
        if (rep[i])
            freeReplyObject(rep[i]);
    return rc;
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

/* The engine's epoch now ("" when it has none); -EIO. Read before a
 * snapshot is asked for: the copy is made after it, under it. */
static int engine_epoch(struct replica *r, char *epoch, size_t cap)
{
    redisReply *rep = redisCommand(r->rc, "GET %s", CLUSTER_EPOCH_KEY);

    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep)
            freeReplyObject(rep);
        return -EIO;
    }
    snprintf(epoch, cap, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return 0;
}

/* Load a snapshot: the replica jumps to the origin's state at its id. */
static int bootstrap(struct replica *r, const char *why)
{
    char id[STORE_REPLICA_ID_MAX] = "", err[512] = "", epoch[64] = "";
    int rc;

    log_info("edge: asking the relay for a snapshot (%s)", why);
    rc = engine_epoch(r, epoch, sizeof(epoch));
    if (!rc)
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
    /* Reloading while serving: a snapshot that skips pruned changes sends
     * the live clients elsewhere first (before ready there are none). */
    if (r->applied[0] && atomic_load(&r->ready))
        reset_begin(r);
    rc = store_replica_load(r->store, r->snap_path, id, epoch, err, sizeof(err));
    atomic_store(&r->resetting, 0);
    unlink(r->snap_path);
    if (rc) {
        log_error("edge: %s", err);
        return rc;
    }
    set_applied(r, id);
    snprintf(r->epoch, sizeof(r->epoch), "%s", epoch);
    r->reset_seen = 0;
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
        const redisReply *entries = rep->element[0]->element[1];
        const redisReply *last = entries->elements ? entries->element[entries->elements - 1] : NULL;

        /* The engine holds at least this far: say so before applying, so a
         * client whose since came from a faster edge resumes here. */
        if (last && last->type == REDIS_REPLY_ARRAY && last->elements == 2 && last->element[0]->str &&
            id_seq(last->element[0]->str) > atomic_load(&r->engine_seq))
            note_engine(r, id_seq(last->element[0]->str));
        rc = apply_batch(r, entries);
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
        if (bootstrap(r, "a new replica") && r->rc)
            sleep_ms(1000);
        return;
    }
    /* Starting: caught up already? Then say so before a read blocks. */
    if (!atomic_load(&r->ready) && read_head(r) == 0 && !r->reset_seen &&
        atomic_load(&r->applied_seq) >= atomic_load(&r->engine_seq))
        atomic_store(&r->ready, 1);
    if (!r->rc)
        return;
    rc = r->reset_seen ? 2 : read_once(r);
    if (rc == 2) {
        /* On failure keep serving what we have; ask again in a second. */
        if (bootstrap(r, r->reset_seen ? "the engine was reset" : "a gap in the stream") && r->rc)
            sleep_ms(1000);
        return;
    }
    if (rc < 0 && r->rc)
        sleep_ms(1000); /* an apply error: retry the batch, slowly */
    if (r->rc && read_head(r) == 0 && !atomic_load(&r->ready) && !r->reset_seen &&
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
    char err[512] = "";
    int64_t next_log;
    int rc;

    *out = NULL;
    if (!r)
        return -ENOMEM;
    r->o = *o;
    /* The caller's url may be gone once we return (serve's is a stack
     * buffer): the thread logs with our copy. */
    snprintf(r->url, sizeof(r->url), "%s", o->url ? o->url : "");
    r->o.url = r->url;
    if (!r->o.stream)
        r->o.stream = CLUSTER_STREAM_DEFAULT;
    r->backoff_ms = 100;
    snprintf(r->snap_path, sizeof(r->snap_path), "%s.snapshot", o->db_path);
    rc = store_replica_open(o->db_path, &r->store, err, sizeof(err));
    if (!rc)
        rc = store_replica_applied(r->store, r->applied, sizeof(r->applied));
    if (!rc)
        rc = store_replica_epoch(r->store, r->epoch, sizeof(r->epoch));
    if (rc) {
        fprintf(stderr, "waypointd: %s\n", err[0] ? err : "cannot read the replica's state");
        replica_stop(r);
        return rc;
    }
    atomic_store(&r->applied_seq, id_seq(r->applied));
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
    st->db_seq = atomic_load(&r->db_seq);
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
