/* SPDX-License-Identifier: MIT
 *
 * One subscription's proximity notices (issue 15, docs/live.md "Notices"):
 * what the subscription was told about each waypoint, and which notices one
 * change makes. The rules are webhook_derive's (approaching by stops or
 * minutes once per route and threshold, ETA drift against the last ETA
 * told); this module only keeps the per-waypoint state and speaks the live
 * channel's notice message. Pure: no I/O, owned by one thread.
 */
#ifndef WAYPOINTD_LIVE_NOTICE_H
#define WAYPOINTD_LIVE_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "view.h"
#include "webhook_derive.h"

struct live_notice_entry {
    char *dc_id;       /* owned */
    char *waypoint_id; /* owned */
    struct webhook_wp_state st;
};

struct live_notices {
    struct webhook_rules rules;
    struct live_notice_entry *v; /* owned; linear: one scope's waypoints */
    size_t n, cap;
};

/* Rules from a subscribe's option (opt->wanted must be set). */
void live_notices_init(struct live_notices *ln, const struct view_notices *opt);
void live_notices_clear(struct live_notices *ln);

/* The notices one change (seq; deleted: w has only its ids) makes, in the
 * order approaching by stops, by minutes, then eta_changed... as
 * webhook_derive returns them. out[i]'s strings point into w (valid while w
 * is). 0 or -ENOMEM (the state is then unchanged). */
int live_notices_change(struct live_notices *ln, int64_t seq, int deleted, const struct waypoint *w, int64_t now_ms,
                        struct view_notice out[WEBHOOK_DERIVE_MAX], size_t *n);

/* A session's subscriptions that asked for notices, each with its own
 * state (docs/live.md "Notices": per subscription on one connection). */
struct live_notice_sub {
    char *dc_id;       /* owned */
    char *customer_id; /* owned; NULL: the whole DC */
    int64_t start;     /* the scope's start: changes at or before it are not its own */
    struct live_notices ln;
};
struct live_notice_subs {
    struct live_notice_sub *v; /* owned */
    size_t n;
};

/* The subscription (dc_id, customer_id) now asks opt (opt NULL or not
 * wanted: no notices, its state forgotten); a repeated subscribe starts
 * afresh. 0 or -ENOMEM (nothing changed then). */
int live_notice_subs_set(struct live_notice_subs *ss, const char *dc_id, const char *customer_id, int64_t start,
                         const struct view_notices *opt);
void live_notice_subs_clear(struct live_notice_subs *ss);

/* One change (its seq; deleted: w has only its ids) through every
 * subscription that covers it and started before it; emit gets each notice
 * once (two subscriptions of one connection covering the waypoint with the
 * same threshold tell it once). 0 or -ENOMEM: a subscription's state may
 * then have missed this change (the caller ends the session to resume). */
int live_notice_subs_change(struct live_notice_subs *ss, int64_t seq, int deleted, const struct waypoint *w,
                            int64_t now_ms, void (*emit)(const struct view_notice *n, void *arg), void *arg);

#endif
