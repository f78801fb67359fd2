/* SPDX-License-Identifier: MIT
 *
 * Webhook delivery (issue 15): one thread of its own, started by serve at
 * the origin (where the database is), with its own SQLite connection and its
 * own loop on libcurl's multi interface, so no receiver, however slow, moves
 * push latency or holds back another receiver. Every WEBHOOK_SEND_TICK_MS it
 * fills each enabled endpoint's outbox from the change log
 * (store_webhook_outbox_fill), then starts the due events (at most one in
 * flight per endpoint and waypoint), signs each attempt (whsig.h), records
 * each outcome (store_webhook_attempt_record) and schedules the retries.
 * The retry schedule and what disables an endpoint: docs/webhooks.md.
 */
#ifndef WAYPOINTD_WEBHOOK_SEND_H
#define WAYPOINTD_WEBHOOK_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "webhook_addr.h"

struct metrics_webhook;

#define WEBHOOK_SEND_TICK_MS 200
/* Transfers at once, over every endpoint. */
#define WEBHOOK_SEND_MAX_INFLIGHT 64
/* Change-log rows one fill reads per endpoint and tick. */
#define WEBHOOK_SEND_FILL_MAX 500
/* A Retry-After longer than this is taken as this. */
#define WEBHOOK_SEND_RETRY_AFTER_MAX_S 7200
#define WEBHOOK_SEND_CONNECT_TIMEOUT_S 5
#define WEBHOOK_SEND_TIMEOUT_S 10
#define WEBHOOK_SEND_ALLOW_MAX 16

struct webhook_send_config {
    const char *db_path;
    const char *ca_file;                /* PEM CAs trusted besides the system's; NULL: none */
    struct webhook_cidr allow[WEBHOOK_SEND_ALLOW_MAX]; /* --webhook-allow-private */
    size_t nallow;
    int connect_timeout_s;              /* 0: WEBHOOK_SEND_CONNECT_TIMEOUT_S */
    int timeout_s;                      /* 0: WEBHOOK_SEND_TIMEOUT_S */
    struct metrics_webhook *metrics;    /* NULL: none; must outlive the thread */
};

struct webhook_sender;

/* Open the thread's connection and start it; the config is copied. 0,
 * -ENOMEM, -EIO (the database, curl) with a line on stderr. */
int webhook_send_start(const struct webhook_send_config *cfg, struct webhook_sender **out);
/* Wake the thread, have it abandon its transfers (their events stay
 * pending: sent again after a restart, same webhook-id), join and free it.
 * NULL-safe. */
void webhook_send_stop(struct webhook_sender *w);

/* The delay before attempt number attempts + 1 after attempts failures
 * (1, 2, ...), without jitter: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then
 * every 2 h. Pure. */
int64_t webhook_send_backoff_ms(int attempts);

#endif
