/* SPDX-License-Identifier: MIT
 *
 * Bounded per-connection queue with merging of superseded changes. The
 * merge runs only when the queue is full, so a client that keeps up never
 * pays for it. Pure data structure; the owning service thread only.
 */
#include "outq.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "msg.h"

#define OUTQ_INITIAL 8

void outq_init(struct outq *q, size_t max)
{
    q->items = NULL;
    q->head = q->count = q->cap = 0;
    q->max = max ? max : 1;
}

void outq_clear(struct outq *q)
{
    while (q->count)
        outq_pop(q);
    free(q->items);
    q->items = NULL;
    q->cap = q->head = 0;
}

static struct msg **slot(const struct outq *q, size_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

static int grow(struct outq *q)
{
    size_t ncap = q->cap ? q->cap * 2 : OUTQ_INITIAL;
    struct msg **n;

    if (ncap > q->max)
        ncap = q->max;
    n = malloc(ncap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        n[i] = *slot(q, i);
    free(q->items);
    q->items = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

/* A table of the newest change of each key among the queued: seen[h] is an
 * index into the queue, SIZE_MAX empty. tcap a power of two >= 2 * count. */
static size_t *table_new(const struct outq *q, size_t *tcap)
{
    size_t *seen;

    *tcap = 16;
    while (*tcap < q->count * 2)
        *tcap <<= 1;
    seen = malloc(*tcap * sizeof(*seen));
    if (seen)
        for (size_t i = 0; i < *tcap; i++)
            seen[i] = SIZE_MAX;
    return seen;
}

/* m's slot in the table: the one holding a change of m's key, or the empty
 * one where it would go. */
static size_t table_find(const struct outq *q, const size_t *seen, size_t tcap, const struct msg *m)
{
    size_t h = (size_t)m->merge_hash & (tcap - 1);

    while (seen[h] != SIZE_MAX && !msg_same_key(*slot(q, seen[h]), m))
        h = (h + 1) & (tcap - 1);
    return h;
}

static int is_change(const struct msg *m)
{
    return m && m->merge_hash && !m->notice;
}

/* A notice follows its change, and a change that supersedes that one
 * carries the newer state: every notice goes right after the newest queued
 * change of its waypoint when that one is behind it (order among a
 * waypoint's notices kept), so no notice is read before the waypoint
 * message it speaks of, nor left before a newer one. 0 or -ENOMEM. */
static int place_notices(struct outq *q)
{
    size_t tcap, *seen, *newest = NULL, *next = NULL, *head = NULL, *tail = NULL, i, out;
    struct msg **tmp = NULL;
    int rc = -ENOMEM, moved = 0;

    if (!q->count || !(seen = table_new(q, &tcap)))
        return q->count ? -ENOMEM : 0;
    newest = malloc(q->count * sizeof(*newest));
    next = malloc(q->count * sizeof(*next));
    head = malloc(q->count * sizeof(*head));
    tail = malloc(q->count * sizeof(*tail));
    tmp = malloc(q->count * sizeof(*tmp));
    if (!newest || !next || !head || !tail || !tmp)
        goto fail;
    for (i = q->count; i-- > 0;) {
        struct msg *m = *slot(q, i);
        size_t h;

        newest[i] = head[i] = tail[i] = next[i] = SIZE_MAX;
        if (!m->merge_hash)
            continue;
        h = table_find(q, seen, tcap, m);
        if (!m->notice && seen[h] == SIZE_MAX)
            seen[h] = i; /* from the newest back: the first seen is the newest */
        else if (m->notice && seen[h] != SIZE_MAX && seen[h] > i)
            newest[i] = seen[h];
    }
    /* Deferred notices hang off their change in queue order. */
    for (i = 0; i < q->count; i++) {
        size_t t = newest[i];

        if (t == SIZE_MAX)
            continue;
        moved = 1;
        if (head[t] == SIZE_MAX)
            head[t] = i;
        else
            next[tail[t]] = i;
        tail[t] = i;
    }
    if (moved) {
        for (i = 0, out = 0; i < q->count; i++) {
            if (newest[i] != SIZE_MAX)
                continue;
            tmp[out++] = *slot(q, i);
            for (size_t k = head[i]; k != SIZE_MAX; k = next[k])
                tmp[out++] = *slot(q, k);
        }
        for (i = 0; i < q->count; i++)
            *slot(q, i) = tmp[i];
    }
    rc = 0;
fail:
    free(seen);
    free(newest);
    free(next);
    free(head);
    free(tail);
    free(tmp);
    return rc;
}

size_t outq_merge(struct outq *q)
{
    size_t tcap, i, out, dropped = 0;
    size_t *seen;

    if (!q->count || !(seen = table_new(q, &tcap)))
        return 0;
    /* From the newest back: a change whose key was already seen is stale.
     * Notices never merge: each tells of a crossing the client has not been
     * told. */
    for (i = q->count; i-- > 0;) {
        struct msg **m = slot(q, i);
        size_t h;

        if (!is_change(*m))
            continue;
        h = table_find(q, seen, tcap, *m);
        if (seen[h] != SIZE_MAX) {
            msg_unref(*m);
            *m = NULL;
            dropped++;
        } else {
            seen[h] = i;
        }
    }
    free(seen);
    for (i = 0, out = 0; i < q->count; i++) {
        struct msg *m = *slot(q, i);

        if (m)
            *slot(q, out++) = m;
    }
    q->count = out;
    /* Out of memory here leaves a notice before its waypoint's newer
     * change: still every message once, the order of one waypoint's notices
     * kept. */
    if (dropped)
        (void)place_notices(q);
    return dropped;
}

/* Full and nothing merged: a queued change to m's waypoint still makes room,
 * since m supersedes it. 1 when one was removed. */
static int drop_superseded(struct outq *q, const struct msg *m)
{
    size_t i;

    if (!is_change(m))
        return 0;
    for (i = q->count; i-- > 0;)
        if (is_change(*slot(q, i)) && msg_same_key(*slot(q, i), m))
            break;
    if (i == SIZE_MAX)
        return 0;
    msg_unref(*slot(q, i));
    for (; i + 1 < q->count; i++)
        *slot(q, i) = *slot(q, i + 1);
    q->count--;
    return 1;
}

int outq_push(struct outq *q, struct msg *m)
{
    int superseded = 0;

    if (q->count == q->max && !outq_merge(q) && !(superseded = drop_superseded(q, m)))
        return -ENOBUFS;
    if (q->count == q->cap && grow(q))
        return -ENOMEM;
    *slot(q, q->count++) = msg_ref(m);
    /* The dropped change's notices now follow m, its successor. */
    if (superseded)
        (void)place_notices(q);
    return 0;
}

struct msg *outq_peek(const struct outq *q)
{
    return q->count ? *slot(q, 0) : NULL;
}

void outq_pop(struct outq *q)
{
    if (!q->count)
        return;
    msg_unref(*slot(q, 0));
    q->head = (q->head + 1) % q->cap;
    q->count--;
}
