/* SPDX-License-Identifier: MIT
 *
 * An edge's change source (source_replica.h): the SQLite source wrapped,
 * each operation passed on, with the edge's rules added around start_point,
 * health and cut_off.
 */
#include "source_replica.h"

#include <errno.h>
#include <stdlib.h>

#include "replica.h"
#include "source.h"
#include "source_sqlite.h"
#include "store.h"

struct source_replica {
    struct source base; /* first: a struct source * is this */
    struct source *inner;
    struct replica *rep;
};

/* A service thread's side: the inner source's, and ours to find rep. */
struct source_thread {
    struct source_thread *inner;
    struct source_replica *sr;
};

static int start(struct source *s, struct bus *bus)
{
    struct source_replica *r = (struct source_replica *)s;

    return r->inner->ops->start(r->inner, bus);
}

static void stop(struct source *s)
{
    struct source_replica *r = (struct source_replica *)s;

    if (!r)
        return;
    r->inner->ops->stop(r->inner);
    free(r);
}

static struct source_thread *thread_open(struct source *s, int thread, struct store *db)
{
    struct source_replica *r = (struct source_replica *)s;
    struct source_thread *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->sr = r;
    t->inner = r->inner->ops->thread_open(r->inner, thread, db);
    if (!t->inner) {
        free(t);
        return NULL;
    }
    return t;
}

static void thread_close(struct source_thread *t)
{
    if (!t)
        return;
    t->sr->inner->ops->thread_close(t->inner);
    free(t);
}

/* A since ahead of what this edge applied, but not of the engine's head:
 * the client saw it on another edge. It resumes at since; the per-scope
 * seq filter drops whatever this edge then delivers up to since. */
static int start_point(struct source_thread *t, const char *dc_id, const char *customer_id, int64_t since,
                       struct store_sub_state *out)
{
    struct replica_status st;

    replica_status_get(t->sr->rep, &st);
    if (st.resetting)
        return -EBUSY; /* answered "try again": after the reload */
    if (since > st.applied_seq && since <= st.engine_seq) {
        *out = (struct store_sub_state){.seq = since, .resumed = 1};
        return 0;
    }
    return t->sr->inner->ops->start_point(t->inner, dc_id, customer_id, since, out);
}

static int health(struct source *s, int64_t now_ms, const char **why)
{
    struct source_replica *r = (struct source_replica *)s;
    int rc = r->inner->ops->health(r->inner, now_ms, why);

    return rc ? rc : replica_health(r->rep, now_ms, why);
}

static int cut_off(struct source *s, int64_t now_ms)
{
    struct source_replica *r = (struct source_replica *)s;
    struct replica_status st;

    replica_status_get(r->rep, &st);
    return st.resetting || now_ms - st.contact_ms > REPLICA_CUT_OFF_MS;
}

/* The replica's watcher sees the applier's commits like anyone's. */
static int commit_gen(const struct source *s, int64_t now_ms, int64_t *gen)
{
    const struct source_replica *r = (const struct source_replica *)s;

    return r->inner->ops->commit_gen(r->inner, now_ms, gen);
}

static const struct source_ops replica_ops = {
    .name = "replica",
    .start = start,
    .stop = stop,
    .thread_open = thread_open,
    .thread_close = thread_close,
    .start_point = start_point,
    .health = health,
    .cut_off = cut_off,
    .commit_gen = commit_gen,
};

int source_replica_new(const struct source_sqlite_config *cfg, struct replica *rep, struct source **out)
{
    struct source_replica *r = calloc(1, sizeof(*r));
    int rc;

    *out = NULL;
    if (!r)
        return -ENOMEM;
    rc = source_sqlite_new(cfg, &r->inner);
    if (rc) {
        free(r);
        return rc;
    }
    r->base.ops = &replica_ops;
    r->rep = rep;
    *out = &r->base;
    return 0;
}
