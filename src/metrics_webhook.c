/* SPDX-License-Identifier: MIT
 *
 * metrics_webhook.h's counters and their text. The pending table is built
 * aside and swapped in under the mutex, so /metrics never waits on SQLite.
 */
#include "metrics_webhook.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

/* Attempt latency buckets in milliseconds: receivers answer in tens of ms to
 * the 10 s timeout. */
static const int buckets_ms[] = {50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))
static const char *const result_names[METRICS_WEBHOOK_RESULTS] = {"ok", "failed", "disabled"};

struct pending {
    char id[24];
    int64_t pending, oldest_ms;
};

struct table {
    struct pending row[METRICS_WEBHOOK_ENDPOINTS_MAX];
    size_t n;
    int64_t other_pending, other_oldest_ms;
};

struct metrics_webhook {
    _Atomic uint64_t queued;
    _Atomic uint64_t results[METRICS_WEBHOOK_RESULTS];
    _Atomic uint64_t buckets[NBUCKETS + 1];
    _Atomic uint64_t latency_sum_ms;
    pthread_mutex_t mu;
    struct table shown;  /* under mu */
    struct table next;   /* the delivery thread's */
};

#define BUMP(field, by) atomic_fetch_add_explicit(&(field), (by), memory_order_relaxed)
#define READ(field) atomic_load_explicit(&(field), memory_order_relaxed)

struct metrics_webhook *metrics_webhook_new(void)
{
    struct metrics_webhook *w = calloc(1, sizeof(*w));

    if (w)
        pthread_mutex_init(&w->mu, NULL);
    return w;
}

void metrics_webhook_free(struct metrics_webhook *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void metrics_webhook_queued(struct metrics_webhook *w, size_t events)
{
    if (w)
        BUMP(w->queued, events);
}

void metrics_webhook_attempt(struct metrics_webhook *w, enum metrics_webhook_result r, int64_t latency_ms)
{
    size_t b = 0;

    if (!w)
        return;
    BUMP(w->results[r], 1);
    while (b < NBUCKETS && latency_ms > buckets_ms[b])
        b++;
    BUMP(w->buckets[b], 1);
    BUMP(w->latency_sum_ms, (uint64_t)(latency_ms > 0 ? latency_ms : 0));
}

void metrics_webhook_pending_begin(struct metrics_webhook *w)
{
    if (w)
        memset(&w->next, 0, sizeof(w->next));
}

void metrics_webhook_pending_add(struct metrics_webhook *w, const char *endpoint_id, int64_t pending,
                                 int64_t oldest_ms)
{
    struct table *t;

    if (!w || !endpoint_id)
        return;
    t = &w->next;
    if (t->n < METRICS_WEBHOOK_ENDPOINTS_MAX) {
        snprintf(t->row[t->n].id, sizeof(t->row[t->n].id), "%s", endpoint_id);
        t->row[t->n].pending = pending;
        t->row[t->n++].oldest_ms = oldest_ms;
        return;
    }
    t->other_pending += pending;
    if (!t->other_oldest_ms || oldest_ms < t->other_oldest_ms)
        t->other_oldest_ms = oldest_ms;
}

void metrics_webhook_pending_publish(struct metrics_webhook *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->shown = w->next;
    pthread_mutex_unlock(&w->mu);
}

static void put_pending(struct textbuf *t, const char *id, int64_t pending, int64_t oldest_ms, int64_t now_ms)
{
    textbuf_put(t, "waypointd_webhook_pending{endpoint=\"%s\"} %lld\n", id, (long long)pending);
    textbuf_put(t, "waypointd_webhook_oldest_pending_seconds{endpoint=\"%s\"} %.3f\n", id,
        oldest_ms && now_ms > oldest_ms ? (double)(now_ms - oldest_ms) / 1000.0 : 0.0);
}

void metrics_webhook_render(struct metrics_webhook *w, int64_t now_ms, struct textbuf *t)
{
    uint64_t cum = 0;

    textbuf_put(t, "# HELP waypointd_webhook_events_total Webhook events queued in the outbox.\n"
            "# TYPE waypointd_webhook_events_total counter\nwaypointd_webhook_events_total %llu\n",
        (unsigned long long)READ(w->queued));
    textbuf_put(t, "# HELP waypointd_webhook_deliveries_total Webhook delivery attempts, by result.\n"
            "# TYPE waypointd_webhook_deliveries_total counter\n");
    for (int r = 0; r < METRICS_WEBHOOK_RESULTS; r++)
        textbuf_put(t, "waypointd_webhook_deliveries_total{result=\"%s\"} %llu\n", result_names[r],
            (unsigned long long)READ(w->results[r]));
    textbuf_put(t, "# HELP waypointd_webhook_attempt_seconds A delivery attempt, from its start to its answer or error.\n"
            "# TYPE waypointd_webhook_attempt_seconds histogram\n");
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += READ(w->buckets[b]);
        if (b < NBUCKETS)
            textbuf_put(t, "waypointd_webhook_attempt_seconds_bucket{le=\"%g\"} %llu\n", buckets_ms[b] / 1000.0,
                (unsigned long long)cum);
        else
            textbuf_put(t, "waypointd_webhook_attempt_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    textbuf_put(t, "waypointd_webhook_attempt_seconds_sum %.3f\nwaypointd_webhook_attempt_seconds_count %llu\n",
        (double)READ(w->latency_sum_ms) / 1000.0, (unsigned long long)cum);
    textbuf_put(t, "# HELP waypointd_webhook_pending Undelivered webhook events, per endpoint (counted every 2 s).\n"
            "# TYPE waypointd_webhook_pending gauge\n"
            "# HELP waypointd_webhook_oldest_pending_seconds Age of the oldest undelivered event, per endpoint.\n"
            "# TYPE waypointd_webhook_oldest_pending_seconds gauge\n");
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->shown.n; i++)
        put_pending(t, w->shown.row[i].id, w->shown.row[i].pending, w->shown.row[i].oldest_ms, now_ms);
    if (w->shown.other_pending)
        put_pending(t, "other", w->shown.other_pending, w->shown.other_oldest_ms, now_ms);
    pthread_mutex_unlock(&w->mu);
}
