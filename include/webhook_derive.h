/* SPDX-License-Identifier: MIT
 *
 * Which webhook events one change of one waypoint makes for one endpoint
 * (issue 15), as a pure function of the endpoint's rules, what the endpoint
 * was last told about that waypoint, the change, and the time. The store
 * keeps the state between calls and fills the outbox from the result in the
 * transaction that moves the endpoint's cursor (store_webhook_outbox.c); the
 * time sweep's rule is webhook_derive_time (store_webhook_notice.c).
 * No I/O; any thread.
 */
#ifndef WAYPOINTD_WEBHOOK_DERIVE_H
#define WAYPOINTD_WEBHOOK_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "webhook.h"

/* An endpoint's rules, parsed from its row (store_webhooks.h). */
struct webhook_rules {
    unsigned events;                      /* WEBHOOK_EVENT_BIT mask */
    int eta_minutes;                      /* waypoint.eta_changed threshold, >= 1 */
    int stops[WEBHOOK_THRESHOLDS_MAX];    /* approach thresholds in stops ahead */
    size_t nstops;
    int minutes[WEBHOOK_THRESHOLDS_MAX];  /* approach thresholds in minutes to ETA */
    size_t nminutes;
};

/* From the stored texts ("waypoint.removed,...", 5, "3,1", ""): 0 or -EINVAL. */
int webhook_rules_parse(const char *events, int eta_minutes, const char *stops, const char *minutes,
                        struct webhook_rules *out);

/* What an endpoint was last told about one waypoint. Owns its strings
 * (release with webhook_wp_state_clear). */
struct webhook_wp_state {
    int known;            /* 0: never told (or removed since) */
    char *status;         /* the last status seen */
    char *route_id;       /* the route the thresholds below belong to; NULL: none */
    int has_eta_sent;
    int64_t eta_sent;     /* the ETA the last eta_changed (or the baseline) carried */
    int stop_fired;       /* the smallest stops threshold fired on this route; 0: none */
    int minute_fired;     /* the smallest minutes threshold fired on this route; 0: none */
};
void webhook_wp_state_clear(struct webhook_wp_state *s);

/* One event to send. Strings point into the inputs (valid while they are). */
struct webhook_derived {
    enum webhook_event type;
    const char *previous_status;   /* status_changed: NULL when first seen */
    int64_t previous_eta;          /* eta_changed */
    int64_t delta_seconds;         /* eta_changed: new - previous */
    int trigger_stops;             /* approaching: 1 by stops, 0 by minutes */
    int threshold;                 /* approaching: the threshold crossed */
    int64_t value;                 /* approaching: waypoints_ahead, or seconds to ETA */
};

/* At most this many events come from one change. */
#define WEBHOOK_DERIVE_MAX 4

/* The events one change makes (deleted: w has only its ids). prev is the
 * state before, next (initialised empty by the caller) receives the state
 * after: its strings are fresh copies. Events of types outside rules->events
 * are not returned, but the state moves as if they were, so enabling a type
 * later does not replay old crossings. Fills out[0..*n): 0 or -ENOMEM.
 * - status_changed: the status differs from the last one seen, or the
 *   waypoint is new to the endpoint.
 * - eta_changed: PENDING and |ETA - ETA last sent| >= eta_minutes (the first
 *   ETA seen is the baseline, sent with nothing), so drift adds up and jitter
 *   does not spam.
 * - approaching: PENDING, and waypoints_ahead <= N (or ETA - now <= M
 *   minutes) for a threshold not yet fired on this route: one event, for the
 *   tightest threshold crossed; the looser ones count as fired. A new
 *   route_id re-arms every threshold and the ETA baseline.
 * - removed: deleted, or moved to another customer. */
int webhook_derive(const struct webhook_rules *rules, const struct webhook_wp_state *prev, int deleted,
                   const struct waypoint *w, int64_t now_ms, struct webhook_wp_state *next,
                   struct webhook_derived out[WEBHOOK_DERIVE_MAX], size_t *n);

/* The time-threshold sweep (issue 15): waypoint.approaching by minutes for a
 * PENDING waypoint w whose ETA - now_ms has come within a threshold not yet
 * fired on its route, when time passed without a write. prev is what the
 * endpoint knows (known 0: never told; it stays "new" for the next change,
 * whose status_changed still says previous null). Returns 1 when the state
 * moves (next filled, strings fresh copies; out[0..*n) has the event unless
 * rules->events leaves it out), 0 when nothing happens (next left empty),
 * -ENOMEM. prev on another route than w: 0 (the change log holds that move;
 * the fill re-arms the thresholds first). */
int webhook_derive_time(const struct webhook_rules *rules, const struct webhook_wp_state *prev,
                        const struct waypoint *w, int64_t now_ms, struct webhook_wp_state *next,
                        struct webhook_derived out[1], size_t *n);

#endif
