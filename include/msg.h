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
};

/* Wrap a buffer from view_live_* (takes ownership of buf). A change passes
 * its ids for routing and merging; a reply passes NULLs. One reference is
 * returned; NULL when out of memory (buf is freed then too). */
struct msg *msg_wrap(unsigned char *buf, size_t pre, size_t len, int64_t seq, int64_t changed_ms, const char *dc_id,
                     const char *customer_id, const char *waypoint_id);
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
