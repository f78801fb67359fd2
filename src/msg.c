/* SPDX-License-Identifier: MIT
 *
 * Reference-counted rendered messages. Created on the change source's thread (changes)
 * or a service thread (replies); references are taken and dropped on any
 * thread, so the count is atomic.
 */
#include "msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, p, n);

    return h ? h : 1; /* 0 means "not mergeable" */
}

struct msg *msg_wrap(unsigned char *buf, size_t pre, size_t len, int64_t seq, int64_t changed_ms, const char *dc_id,
                     const char *customer_id, const char *waypoint_id)
{
    struct msg *m;

    if (!buf)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (!m) {
        free(buf);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->buf = buf;
    m->pre = pre;
    m->len = len;
    m->seq = seq;
    m->changed_ms = changed_ms;
    if (dc_id && customer_id && waypoint_id) {
        size_t d = strlen(dc_id) + 1, c = strlen(customer_id) + 1, w = strlen(waypoint_id) + 1;

        m->key = malloc(d + c + w);
        if (!m->key) {
            msg_unref(m);
            return NULL;
        }
        memcpy(m->key, dc_id, d);
        memcpy(m->key + d, customer_id, c);
        memcpy(m->key + d + c, waypoint_id, w);
        m->key_len = d + c + w;
        m->merge_hash = hash_bytes(m->key, m->key_len);
    }
    return m;
}

struct msg *msg_wrap_notice(unsigned char *buf, size_t pre, size_t len, int64_t seq, const char *dc_id,
                            const char *customer_id, const char *waypoint_id)
{
    struct msg *m = msg_wrap(buf, pre, len, seq, 0, dc_id, customer_id, waypoint_id);

    if (m)
        m->notice = 1;
    return m;
}

int msg_set_waypoint(struct msg *m, int deleted, const struct waypoint *w)
{
    const char *c;

    if (!m->key)
        return -EINVAL;
    c = msg_customer_id(m);
    m->wp = (struct waypoint){.dc_id = m->key, .customer_id = (char *)c, .id = (char *)c + strlen(c) + 1};
    m->wp_deleted = deleted;
    m->has_wp = 1;
    if (deleted)
        return 0;
    m->wp.status = w->status ? strdup(w->status) : NULL;
    m->wp.route_id = w->route_id ? strdup(w->route_id) : NULL;
    m->wp.estimated_time_of_arrival = w->estimated_time_of_arrival;
    m->wp.waypoints_ahead = w->waypoints_ahead;
    m->wp.nulls = w->nulls;
    if ((w->status && !m->wp.status) || (w->route_id && !m->wp.route_id))
        return -ENOMEM; /* msg_unref frees what was copied */
    return 0;
}

struct msg *msg_ref(struct msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void msg_unref(struct msg *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(m->buf);
    free(m->key);
    free(m->wp.status);
    free(m->wp.route_id);
    free(m);
}

const char *msg_dc_id(const struct msg *m)
{
    return m->key;
}

const char *msg_customer_id(const struct msg *m)
{
    return m->key ? m->key + strlen(m->key) + 1 : NULL;
}

int msg_same_key(const struct msg *a, const struct msg *b)
{
    return a->merge_hash && a->merge_hash == b->merge_hash && a->key_len == b->key_len &&
           !memcmp(a->key, b->key, a->key_len);
}
