/* SPDX-License-Identifier: MIT
 *
 * Per-thread inboxes between a change source (its own thread) and the
 * service threads. Each inbox is guarded by its own {lock_inbox}; the
 * messages themselves are immutable and reference-counted (msg.h). An
 * allocation failure never hides a gap: the inbox is marked lost, its
 * thread closes its sessions and they resume with `since`.
 */
#include "bus.h"

#include <pthread.h>
#include <stdlib.h>

#include "msg.h"

struct inbox {
    pthread_mutex_t lock; /* {lock_inbox} guards items, n, cap, through, lost */
    struct msg **items;
    size_t n, cap;
    int64_t through;
    int lost;
    void *wake_arg;
};

struct bus {
    struct inbox *in;
    int n;
    bus_wake wake;
};

struct bus *bus_new(int n, int64_t through, bus_wake wake, void *const *wake_arg)
{
    struct bus *b = calloc(1, sizeof(*b));

    if (!b || !(b->in = calloc((size_t)(n > 0 ? n : 1), sizeof(*b->in)))) {
        free(b);
        return NULL;
    }
    b->wake = wake;
    for (b->n = 0; b->n < n; b->n++) {
        pthread_mutex_init(&b->in[b->n].lock, NULL);
        b->in[b->n].through = through;
        b->in[b->n].wake_arg = wake_arg ? wake_arg[b->n] : NULL;
    }
    return b;
}

void bus_free(struct bus *b)
{
    if (!b)
        return;
    for (int t = 0; t < b->n; t++) {
        for (size_t i = 0; i < b->in[t].n; i++)
            msg_unref(b->in[t].items[i]);
        free(b->in[t].items);
        pthread_mutex_destroy(&b->in[t].lock);
    }
    free(b->in);
    free(b);
}

void bus_set_through(struct bus *b, int64_t through)
{
    for (int t = 0; t < b->n; t++) {
        pthread_mutex_lock(&b->in[t].lock);
        if (through > b->in[t].through)
            b->in[t].through = through;
        pthread_mutex_unlock(&b->in[t].lock);
    }
}

/* Room for n more items; 0, or -1 when out of memory. {lock_inbox} held. */
static int reserve(struct inbox *in, size_t n)
{
    size_t ncap = in->cap ? in->cap : 64;
    struct msg **g;

    if (in->n + n <= in->cap)
        return 0;
    while (ncap < in->n + n)
        ncap *= 2;
    g = realloc(in->items, ncap * sizeof(*g));
    if (!g)
        return -1;
    in->items = g;
    in->cap = ncap;
    return 0;
}

void bus_publish(struct bus *b, struct msg *const *msgs, size_t n, int64_t through)
{
    for (int t = 0; t < b->n; t++) {
        struct inbox *in = &b->in[t];

        pthread_mutex_lock(&in->lock);
        if (in->lost || reserve(in, n)) {
            in->lost = 1; /* what is queued stays: the thread drops it with its sessions */
        } else {
            for (size_t i = 0; i < n; i++)
                in->items[in->n++] = msg_ref(msgs[i]);
        }
        if (through > in->through)
            in->through = through;
        pthread_mutex_unlock(&in->lock);
        if (b->wake)
            b->wake(in->wake_arg);
    }
}

void bus_take(struct bus *b, int i, struct bus_batch *out)
{
    struct inbox *in = &b->in[i];

    pthread_mutex_lock(&in->lock);
    out->msgs = in->items;
    out->n = in->n;
    out->through = in->through;
    out->lost = in->lost;
    in->items = NULL;
    in->n = in->cap = 0;
    in->lost = 0;
    pthread_mutex_unlock(&in->lock);
}
