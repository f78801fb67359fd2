/* SPDX-License-Identifier: MIT
 *
 * Per-subscription notice state over webhook_derive (live_notice.h).
 */
#include "live_notice.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void live_notices_init(struct live_notices *ln, const struct view_notices *opt)
{
    memset(ln, 0, sizeof(*ln));
    ln->rules.events = WEBHOOK_EVENT_BIT(WEBHOOK_WAYPOINT_APPROACHING);
    /* webhook_derive wants a threshold >= 1 even when eta_changed is off:
     * the baseline still moves, so turning it on later replays nothing. */
    ln->rules.eta_minutes = 1;
    if (opt->eta_change_minutes > 0) {
        ln->rules.events |= WEBHOOK_EVENT_BIT(WEBHOOK_WAYPOINT_ETA_CHANGED);
        ln->rules.eta_minutes = opt->eta_change_minutes;
    }
    memcpy(ln->rules.stops, opt->stops, opt->nstops * sizeof(opt->stops[0]));
    ln->rules.nstops = opt->nstops;
    memcpy(ln->rules.minutes, opt->minutes, opt->nminutes * sizeof(opt->minutes[0]));
    ln->rules.nminutes = opt->nminutes;
}

void live_notices_clear(struct live_notices *ln)
{
    for (size_t i = 0; i < ln->n; i++) {
        free(ln->v[i].dc_id);
        free(ln->v[i].waypoint_id);
        webhook_wp_state_clear(&ln->v[i].st);
    }
    free(ln->v);
    memset(ln, 0, sizeof(*ln));
}

/* The entry of (dc, waypoint), added empty when absent: NULL when out of memory. */
static struct live_notice_entry *entry(struct live_notices *ln, const char *dc_id, const char *waypoint_id)
{
    struct live_notice_entry *e, *g;

    for (size_t i = 0; i < ln->n; i++)
        if (!strcmp(ln->v[i].waypoint_id, waypoint_id) && !strcmp(ln->v[i].dc_id, dc_id))
            return &ln->v[i];
    if (ln->n == ln->cap) {
        size_t cap = ln->cap ? ln->cap * 2 : 8;

        g = realloc(ln->v, cap * sizeof(*g));
        if (!g)
            return NULL;
        ln->v = g;
        ln->cap = cap;
    }
    e = &ln->v[ln->n];
    memset(e, 0, sizeof(*e));
    e->dc_id = strdup(dc_id);
    e->waypoint_id = strdup(waypoint_id);
    if (!e->dc_id || !e->waypoint_id) {
        free(e->dc_id);
        free(e->waypoint_id);
        return NULL;
    }
    ln->n++;
    return e;
}

/* Whole minutes, rounded up for time still to go (9 min 1 s is "about 10"). */
static int64_t minutes_up(int64_t secs)
{
    return secs <= 0 ? 0 : (secs + 59) / 60;
}

int live_notices_change(struct live_notices *ln, int64_t seq, int deleted, const struct waypoint *w, int64_t now_ms,
                        struct view_notice out[WEBHOOK_DERIVE_MAX], size_t *n)
{
    struct webhook_derived ev[WEBHOOK_DERIVE_MAX];
    struct webhook_wp_state next;
    struct live_notice_entry *e;
    size_t nev = 0;
    int rc;

    *n = 0;
    e = entry(ln, w->dc_id, w->id);
    if (!e)
        return -ENOMEM;
    rc = webhook_derive(&ln->rules, &e->st, deleted, w, now_ms, &next, ev, &nev);
    if (rc)
        return rc;
    webhook_wp_state_clear(&e->st);
    e->st = next;
    for (size_t i = 0; i < nev; i++) {
        struct view_notice *o = &out[*n];

        *o = (struct view_notice){.seq = seq, .dc_id = w->dc_id, .customer_id = w->customer_id,
                                  .waypoint_id = w->id};
        if (ev[i].type == WEBHOOK_WAYPOINT_APPROACHING) {
            o->by_stops = ev[i].trigger_stops;
            o->threshold = ev[i].threshold;
            o->value = ev[i].trigger_stops ? ev[i].value : minutes_up(ev[i].value);
        } else if (ev[i].type == WEBHOOK_WAYPOINT_ETA_CHANGED) {
            o->eta_changed = 1;
            o->threshold = ln->rules.eta_minutes;
            o->value = ev[i].delta_seconds / 60; /* toward zero: never overstates the drift */
            o->eta = w->estimated_time_of_arrival;
            o->previous_eta = ev[i].previous_eta;
        } else {
            continue;
        }
        (*n)++;
    }
    return 0;
}
