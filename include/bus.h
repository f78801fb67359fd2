/* SPDX-License-Identifier: MIT
 *
 * Per-thread inboxes of rendered changes: a change source publishes every
 * change, in increasing seq, to every service thread's inbox and wakes it;
 * each thread takes its inbox whole. Any source thread may publish; each
 * inbox has its own lock. Pure apart from the wake callback.
 */
#ifndef WAYPOINTD_BUS_H
#define WAYPOINTD_BUS_H

#include <stddef.h>
#include <stdint.h>

struct bus;
struct msg;

/* Called after publishing to thread i (e.g. lws_cancel_service). */
typedef void (*bus_wake)(void *arg);

/* What one bus_take() hands over. */
struct bus_batch {
    struct msg **msgs; /* malloc'd; references the taker owns (msg_unref each, free the array) */
    size_t n;
    int64_t through;   /* every change up to this seq has been offered to the thread (taken now or before) */
    int lost;          /* changes were dropped for this thread (out of memory): its sessions must resume */
};

/* n inboxes, each starting at seq `through`; wake[i](wake_arg[i]) wakes
 * thread i (wake may be NULL). NULL when out of memory. */
struct bus *bus_new(int n, int64_t through, bus_wake wake, void *const *wake_arg);
/* Every inbox has been offered everything up to `through`: what a source
 * that starts after the bus was made calls before its first publish (the
 * seq it starts after). Raises only, queues nothing, wakes no one. */
void bus_set_through(struct bus *b, int64_t through);
/* Drops whatever is still queued. bus_free(NULL) does nothing. */
void bus_free(struct bus *b);

/* Queue a reference to each of msgs[0..n) (in increasing seq) for every
 * thread, note that every change up to `through` has been offered, and wake
 * each thread. An inbox that cannot grow (out of memory) is marked lost
 * instead; the caller keeps its own references. */
void bus_publish(struct bus *b, struct msg *const *msgs, size_t n, int64_t through);
/* Take everything queued for thread i, oldest first (see bus_batch). */
void bus_take(struct bus *b, int i, struct bus_batch *out);

#endif
