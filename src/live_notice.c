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

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void sub_clear(struct live_notice_sub *sub)
{
    free(sub->dc_id);
    free(sub->customer_id);
    live_notices_clear(&sub->ln);
}

int live_notice_subs_set(struct live_notice_subs *ss, const char *dc_id, const char *customer_id, int64_t start,
                         const struct view_notices *opt)
{
    struct live_notice_sub *g, sub = {0};
    size_t i;

    for (i = 0; i < ss->n; i++)
        if (!strcmp(ss->v[i].dc_id, dc_id) && str_eq(ss->v[i].customer_id, customer_id))
            break;
    if (opt && opt->wanted) {
        sub.dc_id = strdup(dc_id);
        sub.customer_id = customer_id ? strdup(customer_id) : NULL;
        if (!sub.dc_id || (customer_id && !sub.customer_id)) {
            sub_clear(&sub);
            return -ENOMEM;
        }
        sub.start = start;
        live_notices_init(&sub.ln, opt);
        if (i == ss->n) {
            g = realloc(ss->v, (ss->n + 1) * sizeof(*g));
            if (!g) {
                sub_clear(&sub);
                return -ENOMEM;
            }
            ss->v = g;
            ss->n++;
        } else {
            sub_clear(&ss->v[i]);
        }
        ss->v[i] = sub;
    } else if (i < ss->n) {
        sub_clear(&ss->v[i]);
        ss->v[i] = ss->v[--ss->n];
    }
    return 0;
}

void live_notice_subs_clear(struct live_notice_subs *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        sub_clear(&ss->v[i]);
    free(ss->v);
    ss->v = NULL;
    ss->n = 0;
}

static int same_notice(const struct view_notice *a, const struct view_notice *b)
{
    return a->eta_changed == b->eta_changed && a->by_stops == b->by_stops && a->threshold == b->threshold;
}

int live_notice_subs_change(struct live_notice_subs *ss, int64_t seq, int deleted, const struct waypoint *w,
                            int64_t now_ms, void (*emit)(const struct view_notice *n, void *arg), void *arg)
{
    /* What this change already told, across the subscriptions: a handful. */
    struct view_notice told[4 * WEBHOOK_DERIVE_MAX], out[WEBHOOK_DERIVE_MAX];
    size_t ntold = 0, n;
    int rc = 0;

    for (size_t i = 0; i < ss->n; i++) {
        struct live_notice_sub *sub = &ss->v[i];

        if (seq <= sub->start || strcmp(sub->dc_id, w->dc_id) ||
            (sub->customer_id && strcmp(sub->customer_id, w->customer_id)))
            continue;
        if ((rc = live_notices_change(&sub->ln, seq, deleted, w, now_ms, out, &n)))
            break;
        for (size_t k = 0; k < n; k++) {
            size_t j = 0;

            while (j < ntold && !same_notice(&told[j], &out[k]))
                j++;
            if (j < ntold)
                continue;
            if (ntold < sizeof(told) / sizeof(told[0]))
                told[ntold++] = out[k];
            emit(&out[k], arg);
        }
    }
    return rc;
}
