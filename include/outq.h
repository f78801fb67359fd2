/* SPDX-License-Identifier: MIT
 *
 * A connection's outbound queue of messages, bounded. When it fills, queued
 * changes to the same waypoint merge (the older is dropped, the newest keeps
 * its later place, so seq order holds), and a new change replaces a queued
 * one to the same waypoint; replies never merge. Notices (msg->notice)
 * never merge either, and a notice always follows the newest queued change
 * of its waypoint: when a merge drops the change a notice was queued after,
 * the notice moves to right after the change that superseded it (the
 * notice keeps its own seq, that of the change that caused it). Pure; used
 * by one service thread.
 */
#ifndef WAYPOINTD_OUTQ_H
#define WAYPOINTD_OUTQ_H

#include <stddef.h>

struct msg;

struct outq {
    struct msg **items; /* ring */
    size_t head, count, cap;
    size_t max;         /* bound on count */
};

void outq_init(struct outq *q, size_t max);
/* Drop every queued reference. */
void outq_clear(struct outq *q);
/* Queue m, taking a new reference to it. 0, -ENOMEM, or -ENOBUFS when the
 * queue is full even after merging: the client is too slow to keep. */
int outq_push(struct outq *q, struct msg *m);
/* The oldest message (borrowed), or NULL when empty. */
struct msg *outq_peek(const struct outq *q);
/* Remove the oldest message and drop its reference. */
void outq_pop(struct outq *q);
/* Merge now: drop every change superseded by a newer one to the same key.
 * Returns how many were dropped. */
size_t outq_merge(struct outq *q);

#endif
