/* SPDX-License-Identifier: MIT
 *
 * The subscriptions (scopes) of one live session, and for each the newest
 * change it has been sent: the rule that sends every change once per
 * connection and in increasing seq per subscription, whatever order
 * snapshots, replays and pushed changes meet in. Pure (no lws, no SQLite);
 * owned by the session's service thread, so it needs no lock.
 */
#ifndef WAYPOINTD_SCOPESET_H
#define WAYPOINTD_SCOPESET_H

#include <stddef.h>
#include <stdint.h>

struct scope {
    char *dc_id;
    char *customer_id; /* NULL: the whole DC */
    int64_t start;     /* the seq its snapshot was read at, or the since it resumed after */
    int64_t sent;      /* newest change covered by it that the connection has (>= start) */
};

struct scopeset {
    struct scope *v;
    int n;
};

/* A replayed change offered to scopeset_resume(); item is the caller's. */
struct scopeset_change {
    const char *dc_id;
    const char *customer_id;
    int64_t seq;
    void *item;
};

typedef void (*scopeset_emit)(void *item, void *arg);

/* The index of (dc, customer) (customer NULL: the DC scope), or -1. */
int scopeset_find(const struct scopeset *set, const char *dc_id, const char *customer_id);
/* Add (dc, customer) starting at seq start, or restart it when present:
 * its index, or -ENOMEM (the set unchanged). Copies the strings. */
int scopeset_add(struct scopeset *set, const char *dc_id, const char *customer_id, int64_t start);
/* Remove the scope at index i (the last one takes its place). */
void scopeset_remove(struct scopeset *set, int i);
/* Remove every scope and free the set's memory; the set is empty after. */
void scopeset_clear(struct scopeset *set);

/* Is the change (dc, customer, seq) to be sent on this connection? 1 when
 * a scope covering it has not had it and none covering it has sent it
 * already (start < seq <= sent); 0 otherwise. Either way every covering
 * scope then counts as having it. Offer changes in increasing seq. */
int scopeset_admit(struct scopeset *set, const char *dc_id, const char *customer_id, int64_t seq);

/* Scope i (just added or restarted at the since it resumes after) takes
 * its replay, read at the database's head: changes in increasing seq up to
 * `through`, the newest change already offered to this session by the
 * feed, are admitted and emitted; later ones are left to the feed, which
 * offers them in order. Afterwards scope i has everything up to through. */
void scopeset_resume(struct scopeset *set, int i, const struct scopeset_change *replay, size_t n, int64_t through,
                     scopeset_emit emit, void *arg);

#endif
