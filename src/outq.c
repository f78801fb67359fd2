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

size_t outq_merge(struct outq *q)
{
    size_t tcap = 16, i, out, dropped = 0;
    size_t *seen;

    if (!q->count)
        return 0;
    while (tcap < q->count * 2)
        tcap <<= 1;
    seen = malloc(tcap * sizeof(*seen));
    if (!seen)
        return 0;
    for (i = 0; i < tcap; i++)
        seen[i] = SIZE_MAX;
    /* From the newest back: a change whose key was already seen is stale. */
    for (i = q->count; i-- > 0;) {
        struct msg **m = slot(q, i);
        size_t h;
        int dup = 0;

        if (!(*m)->merge_hash)
            continue;
        h = (size_t)(*m)->merge_hash & (tcap - 1);
        while (seen[h] != SIZE_MAX && !(dup = msg_same_key(*slot(q, seen[h]), *m)))
            h = (h + 1) & (tcap - 1);
        if (dup) {
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
    return dropped;
}

/* Full and nothing merged: a queued change to m's waypoint still makes room,
 * since m supersedes it. 1 when one was removed. */
static int drop_superseded(struct outq *q, const struct msg *m)
{
    size_t i;

    if (!m->merge_hash)
        return 0;
    for (i = q->count; i-- > 0;)
        if (msg_same_key(*slot(q, i), m))
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
    if (q->count == q->max && !outq_merge(q) && !drop_superseded(q, m))
        return -ENOBUFS;
    if (q->count == q->cap && grow(q))
        return -ENOMEM;
    *slot(q, q->count++) = msg_ref(m);
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
