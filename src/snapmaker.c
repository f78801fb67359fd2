/* SPDX-License-Identifier: MIT
 *
 * The snapshot worker (snapmaker.h): one thread, one connection, a queue
 * in and one list out per service thread. The worker reads and renders;
 * what the snapshot means for the session (its scope, the changes that
 * arrived meanwhile) is decided back on the session's thread (live.c).
 */
#include "snapmaker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "freshness.h"
#include "log.h"
#include "metrics.h"
#include "source.h"

/* DCs whose last rendering is kept (each one's latest seq only). */
#define SNAPMAKER_CACHE_DCS 16

struct done_list {
    struct snap_job *head, **tail;
};

struct snapmaker {
    pthread_t tid;
    int started;
    struct store *db;                /* the worker's own */
    struct source *src;
    struct source_thread *src_thread; /* the worker's side of src */
    struct cache *cache;             /* renderings, the worker's alone */
    struct metrics *metrics;         /* NULL: none */
    void (*wake)(void *);
    void **contexts;                 /* a copy of the caller's */
    int nthreads;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct snap_job *q, **q_tail;
    int queued;
    int stopping;
    struct done_list *done; /* nthreads of them */
};

struct snap_job *snap_job_new(const struct view_client_msg *m, int thread, void *owner)
{
    struct snap_job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->m = *m; /* the numbers; the strings are copied */
    j->m.id_json = strdup(m->id_json ? m->id_json : "null");
    j->m.dc_id = strdup(m->dc_id);
    j->m.customer_id = NULL;
    j->thread = thread;
    j->owner = owner;
    if (!j->m.id_json || !j->m.dc_id) {
        snap_job_free(j);
        return NULL;
    }
    return j;
}

void snap_job_free(struct snap_job *j)
{
    if (!j)
        return;
    view_client_msg_clear(&j->m);
    store_sub_state_clear(&j->st);
    free(j->reply);
    free(j);
}

static void jobs_free(struct snap_job *j)
{
    while (j) {
        struct snap_job *next = j->next;

        snap_job_free(j);
        j = next;
    }
}

/* The subscribed reply to j (not resumed), its waypoints spliced in from
 * the rendering kept for the DC (*shared set) when that was made at the
 * same seq and nothing was committed since version (read before j->st
 * was), else rendered now and kept. NULL: out of memory. */
static unsigned char *reply(struct snapmaker *sm, const struct snap_job *j, int64_t version, int have_version,
                            size_t *len, int *shared)
{
    const struct store_sub_state *st = &j->st;
    const char *dc = j->m.dc_id;
    size_t klen = 1 + strlen(dc), vlen = 0, alen = 0;
    const unsigned char *hit = NULL;
    unsigned char *key, *buf = NULL;
    char *arr, *val;
    int64_t seq;

    if (st->nw < SNAPMAKER_SHARE_MIN || !have_version)
        return view_live_subscribed(j->m.id_json, dc, NULL, st->seq, 0, st->w, st->nw, 0, len);
    if (!(key = malloc(klen)))
        return NULL;
    key[0] = 'P';
    memcpy(key + 1, dc, klen - 1);
    cache_sync(sm->cache, version);
    hit = cache_get(sm->cache, key, klen, &vlen);
    if (hit && vlen > sizeof(seq) && (memcpy(&seq, hit, sizeof(seq)), seq == st->seq)) {
        *shared = 1;
        buf = view_live_subscribed_with(j->m.id_json, dc, NULL, st->seq, (const char *)hit + sizeof(seq),
                                        vlen - sizeof(seq), 0, len);
        free(key);
        return buf;
    }
    arr = view_live_waypoints(st->w, st->nw, &alen);
    if (arr)
        buf = view_live_subscribed_with(j->m.id_json, dc, NULL, st->seq, arr, alen, 0, len);
    if (buf && (val = malloc(sizeof(seq) + alen))) { /* replaces the DC's one of another seq */
        seq = st->seq;
        memcpy(val, &seq, sizeof(seq));
        memcpy(val + sizeof(seq), arr, alen);
        (void)cache_put(sm->cache, key, klen, val, sizeof(seq) + alen); /* no room: the next renders again */
        free(val);
    }
    free(arr);
    free(key);
    return buf;
}

/* Read j's start point and make its reply. The waypoints themselves go
 * back only when the session wants notices about them: freeing 20,000 rows
 * is work the service thread is spared, as is copying 4 MB into the
 * message. */
static void run(struct snapmaker *sm, struct snap_job *j)
{
    int64_t version = 0;
    int have_version = !freshness_version(sm->src, sm->db, clock_mono_ms(), &version), shared = 0;

    j->rc = sm->src->ops->start_point(sm->src_thread, j->m.dc_id, NULL, j->m.since, &j->st);
    if (j->rc || j->st.resumed) {
        metrics_snapshot(sm->metrics, METRICS_SNAPSHOT_NONE);
        return;
    }
    j->reply = reply(sm, j, version, have_version, &j->reply_len, &shared);
    if (!j->reply)
        j->rc = -ENOMEM;
    metrics_snapshot(sm->metrics, !j->reply ? METRICS_SNAPSHOT_NONE : shared ? METRICS_SNAPSHOT_SHARED
                                                                              : METRICS_SNAPSHOT_MADE);
    if (!j->m.notices.wanted) {
        int64_t seq = j->st.seq;

        store_sub_state_clear(&j->st);
        j->st.seq = seq;
    }
}

/* j goes back to its thread, which is then woken (outside the lock: the
 * wake-up is a write to that context's pipe). */
static void give_back(struct snapmaker *sm, struct snap_job *j)
{
    int t = j->thread;

    pthread_mutex_lock(&sm->mu);
    *sm->done[t].tail = j;
    sm->done[t].tail = &j->next;
    pthread_mutex_unlock(&sm->mu);
    sm->wake(sm->contexts[t]);
}

static void *worker(void *arg)
{
    struct snapmaker *sm = arg;
    struct snap_job *j;

    pthread_mutex_lock(&sm->mu);
    for (;;) {
        while (!sm->q && !sm->stopping)
            pthread_cond_wait(&sm->cv, &sm->mu);
        if (sm->stopping)
            break;
        j = sm->q;
        sm->q = j->next;
        if (!sm->q)
            sm->q_tail = &sm->q;
        sm->queued--;
        metrics_snapshot_queue(sm->metrics, sm->queued);
        pthread_mutex_unlock(&sm->mu);

        j->next = NULL;
        run(sm, j);
        give_back(sm, j);
        pthread_mutex_lock(&sm->mu);
    }
    pthread_mutex_unlock(&sm->mu);
    return NULL;
}

int snapmaker_start(const char *db_path, struct source *src, struct metrics *metrics, int nthreads,
                    void (*wake)(void *), void *const *contexts, struct snapmaker **out)
{
    struct snapmaker *sm = calloc(1, sizeof(*sm));
    char err[512];
    int rc = -ENOMEM;

    *out = NULL;
    if (!sm)
        return -ENOMEM;
    pthread_mutex_init(&sm->mu, NULL);
    pthread_cond_init(&sm->cv, NULL);
    sm->q_tail = &sm->q;
    sm->src = src;
    sm->metrics = metrics;
    sm->wake = wake;
    sm->nthreads = nthreads;
    if (!(sm->done = calloc((size_t)nthreads, sizeof(*sm->done))) ||
        !(sm->contexts = calloc((size_t)nthreads, sizeof(*sm->contexts))) ||
        !(sm->cache = cache_new(SNAPMAKER_CACHE_DCS)))
        goto fail;
    memcpy(sm->contexts, contexts, (size_t)nthreads * sizeof(*sm->contexts));
    for (int i = 0; i < nthreads; i++)
        sm->done[i].tail = &sm->done[i].head;
    if (store_open(db_path, STORE_OPEN_SERVICE, &sm->db, err, sizeof(err))) {
        log_error("snapshot worker: %s", err);
        rc = -EIO;
        goto fail;
    }
    if (!(sm->src_thread = src->ops->thread_open(src, nthreads, sm->db)))
        goto fail;
    if ((rc = -pthread_create(&sm->tid, NULL, worker, sm))) {
        log_error("snapshot worker: cannot start its thread: %s", strerror(-rc));
        goto fail;
    }
    sm->started = 1;
    *out = sm;
    return 0;
fail:
    snapmaker_stop(sm);
    return rc;
}

void snapmaker_stop(struct snapmaker *sm)
{
    if (!sm)
        return;
    if (sm->started) {
        pthread_mutex_lock(&sm->mu);
        sm->stopping = 1;
        pthread_cond_signal(&sm->cv);
        pthread_mutex_unlock(&sm->mu);
        pthread_join(sm->tid, NULL);
    }
    jobs_free(sm->q);
    for (int i = 0; sm->done && i < sm->nthreads; i++)
        jobs_free(sm->done[i].head);
    free(sm->done);
    free(sm->contexts);
    if (sm->src_thread)
        sm->src->ops->thread_close(sm->src_thread);
    store_close(sm->db);
    cache_free(sm->cache);
    pthread_cond_destroy(&sm->cv);
    pthread_mutex_destroy(&sm->mu);
    free(sm);
}

int snapmaker_submit(struct snapmaker *sm, struct snap_job *j)
{
    pthread_mutex_lock(&sm->mu);
    if (sm->queued >= SNAPMAKER_QUEUE_MAX) {
        pthread_mutex_unlock(&sm->mu);
        return -EAGAIN;
    }
    j->next = NULL;
    *sm->q_tail = j;
    sm->q_tail = &j->next;
    sm->queued++;
    metrics_snapshot_queue(sm->metrics, sm->queued);
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
    return 0;
}

struct snap_job *snapmaker_done(struct snapmaker *sm, int thread)
{
    struct snap_job *list;

    pthread_mutex_lock(&sm->mu);
    list = sm->done[thread].head;
    sm->done[thread].head = NULL;
    sm->done[thread].tail = &sm->done[thread].head;
    pthread_mutex_unlock(&sm->mu);
    return list;
}
