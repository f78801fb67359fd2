/* SPDX-License-Identifier: MIT
 *
 * Webhook delivery's counters for /metrics (issue 15): events queued,
 * attempts by result, attempt latency (written by the delivery thread
 * alone, relaxed atomics), and per endpoint the pending events and the
 * oldest one's age (a table the delivery thread replaces every
 * METRICS_WEBHOOK_PENDING_MS, under a mutex: the reader is /metrics). The
 * rendering is metrics.c's, through metrics_webhook_render.
 */
#ifndef WAYPOINTD_METRICS_WEBHOOK_H
#define WAYPOINTD_METRICS_WEBHOOK_H

struct textbuf;

#include <stddef.h>
#include <stdint.h>

/* How often the delivery thread counts the pending events. */
#define METRICS_WEBHOOK_PENDING_MS 2000
/* Endpoints shown with their own labels; the rest are summed as "other". */
#define METRICS_WEBHOOK_ENDPOINTS_MAX 256

struct metrics_webhook;

enum metrics_webhook_result {
    METRICS_WEBHOOK_OK,       /* a 2xx */
    METRICS_WEBHOOK_FAILED,   /* anything else; retried */
    METRICS_WEBHOOK_DISABLED, /* this attempt disabled the endpoint (410, 24 h of failures) */
    METRICS_WEBHOOK_RESULTS
};

struct metrics_webhook *metrics_webhook_new(void);
void metrics_webhook_free(struct metrics_webhook *w);
/* Each accepts NULL (no metrics). */
void metrics_webhook_queued(struct metrics_webhook *w, size_t events);
void metrics_webhook_attempt(struct metrics_webhook *w, enum metrics_webhook_result r, int64_t latency_ms);
/* Replace the pending table: start, one add per endpoint with pending
 * events, then publish. */
void metrics_webhook_pending_begin(struct metrics_webhook *w);
void metrics_webhook_pending_add(struct metrics_webhook *w, const char *endpoint_id, int64_t pending,
                                 int64_t oldest_ms);
void metrics_webhook_pending_publish(struct metrics_webhook *w);
/* Append the exposition lines to t (textbuf.h). */
void metrics_webhook_render(struct metrics_webhook *w, int64_t now_ms, struct textbuf *t);

#endif
