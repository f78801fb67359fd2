/* SPDX-License-Identifier: MIT
 *
 * A rendered live-channel message, reference-counted so that one change is
 * rendered once and shared by every subscriber on every thread. The buffer
 * keeps `pre` bytes of headroom before the JSON for lws_write (LWS_PRE).
 */
#ifndef WAYPOINTD_MSG_H
#define WAYPOINTD_MSG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct msg {
    atomic_int refs;
    int64_t seq;        /* change number, or 0 for replies */
    int64_t changed_ms; /* when the change was logged, 0 for replies */
    uint64_t merge_hash; /* 0: never merged (replies); else hash of the key */
    char *key;          /* "dc\0customer\0waypoint\0": routing and merging */
    size_t key_len;
    unsigned char *buf; /* headroom, then len bytes of JSON */
    size_t pre;
    size_t len;
    int notice;         /* 1: a proximity notice (msg_wrap_notice): never merged, and kept after the
                         * newest queued change of its waypoint (outq.h) */
    /* What the live channel's notices read of the change (live_notice.h),
     * so that no subscriber parses the JSON: set once by msg_set_waypoint
     * on the thread that renders the change (the source's, or a resume's
     * service thread) before the message is shared, read-only afterwards.
     * dc_id, customer_id and id point into key; status and route_id are
     * owned. has_wp 0: a reply or a notice (nothing set). */
    int has_wp;
    int wp_deleted;     /* a waypoint_removed message: wp has only its ids */
    struct waypoint wp;
};

/* Wrap a buffer from view_live_* (takes ownership of buf). A change passes
 * its ids for routing and merging; a reply passes NULLs. One reference is
 * returned; NULL when out of memory (buf is freed then too). */
struct msg *msg_wrap(unsigned char *buf, size_t pre, size_t len, int64_t seq, int64_t changed_ms, const char *dc_id,
                     const char *customer_id, const char *waypoint_id);
/* A notice (view_live_notice's buffer, taken over) for the change seq of
 * that waypoint; NULL when out of memory (buf freed too). */
struct msg *msg_wrap_notice(unsigned char *buf, size_t pre, size_t len, int64_t seq, const char *dc_id,
                            const char *customer_id, const char *waypoint_id);
/* Copy into a change message (from msg_wrap, not yet shared) the fields of
 * w the notices need: status, route_id, ETA, waypoints ahead, nulls.
 * deleted: a removal. 0 or -ENOMEM. */
int msg_set_waypoint(struct msg *m, int deleted, const struct waypoint *w);
/* Add a reference; returns m. Any thread. */
struct msg *msg_ref(struct msg *m);
/* Drop a reference; frees on the last. msg_unref(NULL) does nothing. */
void msg_unref(struct msg *m);

/* Routing fields of a change message (point into m->key). */
const char *msg_dc_id(const struct msg *m);
const char *msg_customer_id(const struct msg *m);
/* 1 when a and b are changes to the same (DC, customer, waypoint). */
int msg_same_key(const struct msg *a, const struct msg *b);

#endif
