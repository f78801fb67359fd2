/* SPDX-License-Identifier: MIT
 *
 * Per-thread counter blocks and their Prometheus text rendering. A block is
 * padded to its own cache lines so two threads never write the same line.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics_replica.h"
#include "metrics_webhook.h"
#include "textbuf.h"

/* Statuses counted one by one; anything else is counted as "other". */
static const int statuses[] = {200, 204, 304, 400, 401, 403, 404, 405, 411, 413, 414, 429, 500, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* Commit-to-push latency buckets, in milliseconds (upper bounds). */
static const int buckets_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))

static const char *const route_names[METRICS_ROUTES] = {"customer", "confident_location", "waypoints",
                                                        "tracking_token", "events", "static", "other"};
static const char *const refusal_names[METRICS_REFUSALS] = {
    "rate_limit", "origin", "unauthorized", "too_many_subscriptions",
    "slow_consumer", "send_timeout", "bad_message", "message_too_large"};

struct metrics_thread {
    _Atomic uint64_t http[METRICS_ROUTES][NSTATUS];
    _Atomic uint64_t refused[METRICS_REFUSALS];
    _Atomic int64_t gauges[METRICS_GAUGES];
    _Atomic uint64_t pushed;
    _Atomic uint64_t latency_buckets[NBUCKETS + 1]; /* the last: +Inf */
    _Atomic uint64_t latency_sum_ms;
    _Atomic int64_t newest_changed_ms;
} __attribute__((aligned(64)));

struct metrics {
    int n;
    struct metrics_thread *threads;
    struct metrics_webhook *webhook; /* the delivery thread's (metrics_webhook.c) */
    _Atomic uint64_t snapshots[METRICS_SNAPSHOTS]; /* the snapshot worker's (its one writer) */
    _Atomic int64_t snapshot_queue;
    const struct replica *replica;   /* an edge's applier; NULL elsewhere */
};

/* One writer per block: a plain load and store, but atomic for the reader. */
#define BUMP(field, by) atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (by), \
                                              memory_order_relaxed)
#define READ(field) atomic_load_explicit(&(field), memory_order_relaxed)

struct metrics *metrics_new(int n)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->n = n;
    m->threads = aligned_alloc(64, sizeof(*m->threads) * (size_t)n);
    if (!m->threads) {
        free(m);
        return NULL;
    }
    memset(m->threads, 0, sizeof(*m->threads) * (size_t)n);
    if (!(m->webhook = metrics_webhook_new())) {
        free(m->threads);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    metrics_webhook_free(m->webhook);
    free(m->threads);
    free(m);
}

struct metrics_webhook *metrics_webhook(struct metrics *m)
{
    return m ? m->webhook : NULL;
}

void metrics_set_replica(struct metrics *m, const struct replica *r)
{
    m->replica = r;
}

struct metrics_thread *metrics_thread(struct metrics *m, int i)
{
    return m && i >= 0 && i < m->n ? &m->threads[i] : NULL;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_http(struct metrics_thread *t, enum metrics_route r, int status)
{
    if (t && r < METRICS_ROUTES)
        BUMP(t->http[r][status_index(status)], 1);
}

void metrics_refused(struct metrics_thread *t, enum metrics_refusal why)
{
    if (t && why < METRICS_REFUSALS)
        BUMP(t->refused[why], 1);
}

void metrics_gauge_add(struct metrics_thread *t, enum metrics_gauge g, int delta)
{
    if (t && g < METRICS_GAUGES)
        BUMP(t->gauges[g], delta);
}

void metrics_pushed(struct metrics_thread *t, int64_t changed_ms, int64_t now_ms)
{
    int64_t ms = now_ms - changed_ms;
    size_t b = 0;

    if (!t)
        return;
    if (ms < 0)
        ms = 0; /* another process's clock, or ours stepped */
    while (b < NBUCKETS && ms > buckets_ms[b])
        b++;
    BUMP(t->pushed, 1);
    BUMP(t->latency_buckets[b], 1);
    BUMP(t->latency_sum_ms, (uint64_t)ms);
    if (changed_ms > READ(t->newest_changed_ms))
        atomic_store_explicit(&t->newest_changed_ms, changed_ms, memory_order_relaxed);
}

void metrics_snapshot(struct metrics *m, enum metrics_snapshot how)
{
    if (m && how < METRICS_SNAPSHOTS)
        BUMP(m->snapshots[how], 1);
}

void metrics_snapshot_queue(struct metrics *m, int waiting)
{
    if (m)
        atomic_store_explicit(&m->snapshot_queue, waiting, memory_order_relaxed);
}

static void render_snapshots(struct textbuf *out, const struct metrics *m)
{
    static const char *const names[METRICS_SNAPSHOTS] = {"made", "shared", "none"};

    textbuf_put(out, "# HELP waypointd_dc_snapshots_total DC subscriptions started by the snapshot worker, by"
             " whether their snapshot was rendered for them, shared, or not needed (a resume, a failed read).\n"
             "# TYPE waypointd_dc_snapshots_total counter\n");
    for (int i = 0; i < METRICS_SNAPSHOTS; i++)
        textbuf_put(out, "waypointd_dc_snapshots_total{rendering=\"%s\"} %llu\n", names[i],
            (unsigned long long)READ(m->snapshots[i]));
    textbuf_put(out, "# HELP waypointd_dc_snapshots_waiting DC subscriptions waiting for the snapshot worker.\n"
             "# TYPE waypointd_dc_snapshots_waiting gauge\n"
             "waypointd_dc_snapshots_waiting %lld\n",
        (long long)READ(m->snapshot_queue));
}

static void render_http(struct textbuf *out, const struct metrics *m)
{
    textbuf_put(out, "# HELP waypointd_http_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE waypointd_http_requests_total counter\n");
    for (int r = 0; r < METRICS_ROUTES; r++)
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = 0;

            for (int i = 0; i < m->n; i++)
                v += READ(m->threads[i].http[r][s]);
            if (!v)
                continue;
            if (s < NSTATUS - 1)
                textbuf_put(out, "waypointd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r],
                    statuses[s], (unsigned long long)v);
            else
                textbuf_put(out, "waypointd_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", route_names[r],
                    (unsigned long long)v);
        }
}

static void render_refusals(struct textbuf *out, const struct metrics *m)
{
    textbuf_put(out, "# HELP waypointd_refusals_total Requests and connections refused or dropped, by reason.\n"
             "# TYPE waypointd_refusals_total counter\n");
    for (int r = 0; r < METRICS_REFUSALS; r++) {
        uint64_t v = 0;

        for (int i = 0; i < m->n; i++)
            v += READ(m->threads[i].refused[r]);
        textbuf_put(out, "waypointd_refusals_total{reason=\"%s\"} %llu\n", refusal_names[r], (unsigned long long)v);
    }
}

static int64_t gauge_sum(const struct metrics *m, enum metrics_gauge g)
{
    int64_t v = 0;

    for (int i = 0; i < m->n; i++)
        v += READ(m->threads[i].gauges[g]);
    return v;
}

static void render_gauges(struct textbuf *out, const struct metrics *m)
{
    int64_t conns = gauge_sum(m, METRICS_CONNECTIONS), ws = gauge_sum(m, METRICS_WEBSOCKETS);

    textbuf_put(out, "# HELP waypointd_connections Open client connections, by kind.\n"
             "# TYPE waypointd_connections gauge\n"
             "waypointd_connections{kind=\"http\"} %lld\n"
             "waypointd_connections{kind=\"websocket\"} %lld\n",
        (long long)(conns > ws ? conns - ws : 0), (long long)ws);
    textbuf_put(out, "# HELP waypointd_subscriptions Live subscriptions (customer and DC).\n"
             "# TYPE waypointd_subscriptions gauge\n"
             "waypointd_subscriptions %lld\n",
        (long long)gauge_sum(m, METRICS_SUBSCRIPTIONS));
}

static void render_push(struct textbuf *out, const struct metrics *m, int64_t now_ms)
{
    uint64_t pushed = 0, sum = 0, cum = 0;
    int64_t newest = 0;

    for (int i = 0; i < m->n; i++) {
        pushed += READ(m->threads[i].pushed);
        sum += READ(m->threads[i].latency_sum_ms);
        if (READ(m->threads[i].newest_changed_ms) > newest)
            newest = READ(m->threads[i].newest_changed_ms);
    }
    textbuf_put(out, "# HELP waypointd_messages_pushed_total Change messages written to subscribers.\n"
             "# TYPE waypointd_messages_pushed_total counter\n"
             "waypointd_messages_pushed_total %llu\n",
        (unsigned long long)pushed);
    textbuf_put(out, "# HELP waypointd_change_lag_seconds Now minus the commit time of the newest change pushed"
             " (grows while nothing changes).\n"
             "# TYPE waypointd_change_lag_seconds gauge\n");
    if (newest)
        textbuf_put(out, "waypointd_change_lag_seconds %.3f\n", (double)(now_ms - newest) / 1000.0);
    textbuf_put(out, "# HELP waypointd_push_latency_seconds From a change's commit to its message written to a"
             " subscriber.\n"
             "# TYPE waypointd_push_latency_seconds histogram\n");
    for (size_t b = 0; b <= NBUCKETS; b++) {
        for (int i = 0; i < m->n; i++)
            cum += READ(m->threads[i].latency_buckets[b]);
        if (b < NBUCKETS)
            textbuf_put(out, "waypointd_push_latency_seconds_bucket{le=\"%g\"} %llu\n", buckets_ms[b] / 1000.0,
                (unsigned long long)cum);
        else
            textbuf_put(out, "waypointd_push_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    textbuf_put(out, "waypointd_push_latency_seconds_sum %.3f\nwaypointd_push_latency_seconds_count %llu\n",
        (double)sum / 1000.0, (unsigned long long)cum);
}

char *metrics_render(struct metrics *m, int64_t now_ms, size_t *len)
{
    struct textbuf out = {0};

    textbuf_put(&out, "# HELP waypointd_build_info The running version.\n# TYPE waypointd_build_info gauge\n"
              "waypointd_build_info{version=\"%s\"} 1\n",
        WAYPOINTD_VERSION);
    render_gauges(&out, m);
    render_http(&out, m);
    render_refusals(&out, m);
    render_push(&out, m, now_ms);
    render_snapshots(&out, m);
    metrics_webhook_render(m->webhook, now_ms, &out);
    if (m->replica)
        metrics_replica_render(m->replica, clock_mono_ms(), &out);
    if (out.failed) {
        free(out.buf);
        return NULL;
    }
    *len = out.len;
    return out.buf;
}
