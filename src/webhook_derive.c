/* SPDX-License-Identifier: MIT
 *
 * The events one waypoint change makes for one webhook endpoint, and what
 * the endpoint then knows about the waypoint: a pure function, so every rule
 * (ETA drift against the last ETA sent, thresholds once per route) is tested
 * without a database. The caller stores the state and the events. Any thread.
 */
#include "webhook_derive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS 60000LL

/* "3,1" (already checked and sorted by webhook_thresholds_parse) into v. */
static int thresholds(const char *list, int min, int max, int allow_empty, int *v, size_t *n)
{
    char sorted[128];

    *n = 0;
    if (webhook_thresholds_parse(list, min, max, allow_empty, sorted, sizeof(sorted)))
        return -EINVAL;
    for (char *p = sorted; *p;) {
        char *end;

        v[(*n)++] = (int)strtol(p, &end, 10);
        p = *end ? end + 1 : end;
    }
    return 0;
}

int webhook_rules_parse(const char *events, int eta_minutes, const char *stops, const char *minutes,
                        struct webhook_rules *out)
{
    memset(out, 0, sizeof(*out));
    if (webhook_events_parse(events, &out->events, NULL, 0) || eta_minutes < 1 ||
        thresholds(stops, 1, 1000, 1, out->stops, &out->nstops) ||
        thresholds(minutes, 1, 1440, 1, out->minutes, &out->nminutes))
        return -EINVAL;
    out->eta_minutes = eta_minutes;
    return 0;
}

void webhook_wp_state_clear(struct webhook_wp_state *s)
{
    if (!s)
        return;
    free(s->status);
    free(s->route_id);
    memset(s, 0, sizeof(*s));
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The tightest threshold in v (largest first) that value is within and that
 * was not fired (fired: the smallest fired so far, 0 none); 0 when none. */
static int crossed(const int *v, size_t n, int64_t value, int fired)
{
    int t = 0;

    for (size_t i = 0; i < n; i++)
        if (value <= v[i] && (!fired || v[i] < fired))
            t = v[i];
    return t;
}

static void emit(const struct webhook_rules *r, struct webhook_derived *out, size_t *n, struct webhook_derived ev)
{
    if (r->events & WEBHOOK_EVENT_BIT(ev.type))
        out[(*n)++] = ev;
}

/* The tightest minutes threshold that secs to ETA is within and that was not
 * fired (compared in seconds: 9 min 59 s to go is within 10 minutes). */
static int minutes_crossed(const struct webhook_rules *r, int64_t secs, int fired)
{
    int t = 0;

    for (size_t i = 0; i < r->nminutes; i++)
        if (secs <= r->minutes[i] * 60LL && (!fired || r->minutes[i] < fired))
            t = r->minutes[i];
    return t;
}

int webhook_derive(const struct webhook_rules *rules, const struct webhook_wp_state *prev, int deleted,
                   const struct waypoint *w, int64_t now_ms, struct webhook_wp_state *next,
                   struct webhook_derived out[WEBHOOK_DERIVE_MAX], size_t *n)
{
    int same_route, pending;
    int t;

    *n = 0;
    memset(next, 0, sizeof(*next));
    if (deleted) {
        /* The state goes with it: back again later is new to the endpoint. */
        emit(rules, out, n, (struct webhook_derived){.type = WEBHOOK_WAYPOINT_REMOVED});
        return 0;
    }
    next->known = 1;
    next->status = w->status ? strdup(w->status) : NULL;
    next->route_id = w->route_id ? strdup(w->route_id) : NULL;
    if ((w->status && !next->status) || (w->route_id && !next->route_id)) {
        webhook_wp_state_clear(next);
        return -ENOMEM;
    }
    same_route = prev->known && str_eq(prev->route_id, w->route_id);
    if (same_route) {
        next->has_eta_sent = prev->has_eta_sent;
        next->eta_sent = prev->eta_sent;
        next->stop_fired = prev->stop_fired;
        next->minute_fired = prev->minute_fired;
    }
    if (!prev->known || !str_eq(prev->status, w->status))
        emit(rules, out, n,
             (struct webhook_derived){.type = WEBHOOK_WAYPOINT_STATUS_CHANGED,
                                      .previous_status = prev->known ? prev->status : NULL});
    pending = w->status && !strcmp(w->status, "PENDING");
    if (!pending)
        return 0;
    if (!(w->nulls & WAYPOINT_NULL_ETA)) {
        int64_t eta = w->estimated_time_of_arrival;

        if (!next->has_eta_sent) {
            next->has_eta_sent = 1; /* the baseline: nothing to compare with yet */
            next->eta_sent = eta;
        } else if (llabs(eta - next->eta_sent) >= rules->eta_minutes * MIN_MS) {
            emit(rules, out, n,
                 (struct webhook_derived){.type = WEBHOOK_WAYPOINT_ETA_CHANGED,
                                          .previous_eta = next->eta_sent,
                                          .delta_seconds = (eta - next->eta_sent) / 1000});
            next->eta_sent = eta;
        }
    }
    if (!(w->nulls & WAYPOINT_NULL_AHEAD) &&
        (t = crossed(rules->stops, rules->nstops, w->waypoints_ahead, next->stop_fired))) {
        emit(rules, out, n,
             (struct webhook_derived){
                 .type = WEBHOOK_WAYPOINT_APPROACHING, .trigger_stops = 1, .threshold = t, .value = w->waypoints_ahead});
        next->stop_fired = t;
    }
    if (!(w->nulls & WAYPOINT_NULL_ETA)) {
        int64_t secs = (w->estimated_time_of_arrival - now_ms) / 1000;

        if ((t = minutes_crossed(rules, secs, next->minute_fired))) {
            emit(rules, out, n,
                 (struct webhook_derived){
                     .type = WEBHOOK_WAYPOINT_APPROACHING, .trigger_stops = 0, .threshold = t, .value = secs});
            next->minute_fired = t;
        }
    }
    return 0;
}

int webhook_derive_time(const struct webhook_rules *rules, const struct webhook_wp_state *prev,
                        const struct waypoint *w, int64_t now_ms, struct webhook_wp_state *next,
                        struct webhook_derived out[1], size_t *n)
{
    int64_t secs;
    int t;

    *n = 0;
    memset(next, 0, sizeof(*next));
    if (!w->status || strcmp(w->status, "PENDING") || (w->nulls & WAYPOINT_NULL_ETA))
        return 0;
    if (prev->known && !str_eq(prev->route_id, w->route_id))
        return 0;
    secs = (w->estimated_time_of_arrival - now_ms) / 1000;
    if (!(t = minutes_crossed(rules, secs, prev->known ? prev->minute_fired : 0)))
        return 0;
    /* Unknown: status stays NULL, so the fill's first look at it still says
     * status_changed with previous null, and its first ETA is the baseline. */
    next->known = 1;
    next->status = prev->known && prev->status ? strdup(prev->status) : NULL;
    next->route_id = w->route_id ? strdup(w->route_id) : NULL;
    if ((prev->known && prev->status && !next->status) || (w->route_id && !next->route_id)) {
        webhook_wp_state_clear(next);
        return -ENOMEM;
    }
    if (prev->known) {
        next->has_eta_sent = prev->has_eta_sent;
        next->eta_sent = prev->eta_sent;
        next->stop_fired = prev->stop_fired;
    }
    next->minute_fired = t;
    emit(rules, out, n,
         (struct webhook_derived){.type = WEBHOOK_WAYPOINT_APPROACHING, .trigger_stops = 0, .threshold = t, .value = secs});
    return 1;
}
