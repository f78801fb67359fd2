/* SPDX-License-Identifier: MIT
 *
 * A live session's scopes and what each has been sent. One change can be
 * covered by several scopes of a connection (a customer and its DC); it
 * is written once, and every covering scope counts it. A replay sends
 * changes older than what other scopes have had: those already sent
 * through another scope are skipped, and it stops at what the feed has
 * offered, so that no scope ever receives a change ahead of one it is
 * still owed. Pure; on the session's service thread.
 */
#include "scopeset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int covers(const struct scope *s, const char *dc_id, const char *customer_id)
{
    return !strcmp(s->dc_id, dc_id) && (!s->customer_id || (customer_id && !strcmp(s->customer_id, customer_id)));
}

int scopeset_find(const struct scopeset *set, const char *dc_id, const char *customer_id)
{
    for (int i = 0; i < set->n; i++) {
        const struct scope *s = &set->v[i];

        if (!strcmp(s->dc_id, dc_id) &&
            (customer_id ? s->customer_id && !strcmp(s->customer_id, customer_id) : !s->customer_id))
            return i;
    }
    return -1;
}

int scopeset_add(struct scopeset *set, const char *dc_id, const char *customer_id, int64_t start)
{
    int i = scopeset_find(set, dc_id, customer_id);
    struct scope *g, s = {0};

    if (i < 0) {
        s.dc_id = strdup(dc_id);
        s.customer_id = customer_id ? strdup(customer_id) : NULL;
        g = s.dc_id && (!customer_id || s.customer_id) ? realloc(set->v, (size_t)(set->n + 1) * sizeof(*g)) : NULL;
        if (!g) {
            free(s.dc_id);
            free(s.customer_id);
            return -ENOMEM;
        }
        set->v = g;
        i = set->n++;
        set->v[i] = s;
    }
    set->v[i].start = set->v[i].sent = start;
    return i;
}

void scopeset_remove(struct scopeset *set, int i)
{
    free(set->v[i].dc_id);
    free(set->v[i].customer_id);
    set->v[i] = set->v[--set->n];
}

void scopeset_clear(struct scopeset *set)
{
    while (set->n)
        scopeset_remove(set, set->n - 1);
    free(set->v);
    set->v = NULL;
}

int scopeset_admit(struct scopeset *set, const char *dc_id, const char *customer_id, int64_t seq)
{
    int owed = 0, had = 0;

    for (int i = 0; i < set->n; i++) {
        struct scope *s = &set->v[i];

        if (!covers(s, dc_id, customer_id))
            continue;
        if (s->sent < seq) {
            owed = 1;
            s->sent = seq;
        } else if (s->start < seq) {
            had = 1; /* sent through this scope already */
        }
    }
    return owed && !had;
}

void scopeset_resume(struct scopeset *set, int i, const struct scopeset_change *replay, size_t n, int64_t through,
                     scopeset_emit emit, void *arg)
{
    for (size_t k = 0; k < n && replay[k].seq <= through; k++)
        if (scopeset_admit(set, replay[k].dc_id, replay[k].customer_id, replay[k].seq))
            emit(replay[k].item, arg);
    if (set->v[i].sent < through)
        set->v[i].sent = through;
}
