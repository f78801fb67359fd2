/* SPDX-License-Identifier: MIT
 *
 * Webhook endpoints in the database (issue 15): what `waypointd webhook`
 * adds, lists, enables, disables, rotates and removes, and what a delivery
 * thread will read. One endpoint serves a list of DCs and a list of event
 * types, signs with its secret (and, during a rotation's grace period, its
 * previous one), and carries its notification thresholds. The tables are
 * created by store.c's migration to schema version 5. Callers own a struct
 * store for the duration of a call, as with store.h.
 */
#ifndef WAYPOINTD_STORE_WEBHOOKS_H
#define WAYPOINTD_STORE_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "whsig.h"

struct store;

/* "wh_" + 12 lower-case hex digits, and the NUL. */
#define STORE_WEBHOOK_ID_SIZE 16
/* A DC list is at most this long (as `key create`'s). */
#define STORE_WEBHOOK_MAX_DCS 1024
/* Defaults of the thresholds (issue 15): an ETA change of 5 minutes is worth
 * telling; "approaching" at 3 and at 1 stops ahead; none by minutes. */
#define STORE_WEBHOOK_ETA_MINUTES 5
#define STORE_WEBHOOK_APPROACH_STOPS "3,1"

/* One endpoint. The store fills every field on a read (release with
 * store_webhook_clear); on insert the caller fills them, the store copies. */
struct store_webhook {
    char id[STORE_WEBHOOK_ID_SIZE];
    char *name;                    /* NULL: none given */
    char *url;                     /* https://... */
    char **dcs;                    /* sorted on a read */
    size_t ndcs;
    char *events;                  /* comma-separated type names (webhook.h) */
    struct whsig_key secret;       /* signs every delivery */
    struct whsig_key prev_secret;  /* len 0: none; else signs too until prev_expires_ms */
    int64_t prev_expires_ms;
    int enabled;
    char *disabled_reason;         /* NULL while enabled */
    int64_t state_since_ms;        /* when it was last enabled or disabled (or added) */
    int eta_minutes;               /* waypoint.eta_changed threshold */
    char *approach_stops;          /* "3,1": waypoint.approaching by stops ahead */
    char *approach_minutes;        /* "" for none, else e.g. "10,5" */
    int64_t created_ms;
    int64_t log_seq;               /* read: the change log is told up to here (set by the store) */
};

/* Free what a read allocated and zero w, secrets included. NULL-safe. */
void store_webhook_clear(struct store_webhook *w);

/* Store a new endpoint and its DCs in one transaction. 0; -EEXIST when the
 * name (if any) or the id is in use; -EINVAL for an empty id, URL or DC
 * list; -EBUSY or -EIO. */
int store_webhook_insert(struct store *s, const struct store_webhook *w);
/* Read one endpoint into out (release with store_webhook_clear): 0, -ENOENT,
 * -ENOMEM, -EBUSY or -EIO. */
int store_webhook_get(struct store *s, const char *id, struct store_webhook *out);

/* One endpoint as listed; valid only during the callback. A non-zero return
 * stops the listing and is returned. */
typedef int (*store_webhook_cb)(const struct store_webhook *w, void *arg);
/* Every endpoint, oldest first. 0 or a negative errno. */
int store_webhook_list(struct store *s, store_webhook_cb cb, void *arg);

/* Delete the endpoint and its DC list: 0 or -ENOENT (-EBUSY, -EIO). */
int store_webhook_remove(struct store *s, const char *id);
/* Enable (reason ignored, cleared) or disable (reason kept, e.g. "disabled by
 * command") the endpoint, stamping state_since_ms = now_ms. 0, -EALREADY when
 * it is in that state already (nothing changes), -ENOENT, -EBUSY or -EIO. */
int store_webhook_set_enabled(struct store *s, const char *id, int enabled, const char *reason, int64_t now_ms);
/* Make secret the endpoint's secret. With grace_ms > 0 the current one
 * becomes the previous secret until now_ms + grace_ms (a previous one still
 * in its grace period is dropped: two secrets at most); with 0 it is dropped
 * at once. 0, -ENOENT, -EINVAL, -EBUSY or -EIO. */
int store_webhook_rotate(struct store *s, const char *id, const struct whsig_key *secret, int64_t now_ms,
                         int64_t grace_ms);
/* The keys a delivery at now_ms signs with: the secret, then the previous one
 * while before its expiry. Fills keys[0..*n), *n 1 or 2. Pure. */
void store_webhook_signing_keys(const struct store_webhook *w, int64_t now_ms, struct whsig_key keys[2], size_t *n);

/* ---- The outbox (store_webhook_outbox.c) ---- */

/* What one fill did. */
struct store_webhook_fill {
    size_t changes; /* log rows read */
    size_t events;  /* outbox rows added */
    int64_t cursor; /* the endpoint's cursor after */
};
/* Read the endpoint's next log rows (at most max, of its DCs, after its
 * cursor), derive their events (webhook_derive.h), store each with its body
 * in webhook_outbox (state 'pending', next_ms now_ms), store what the
 * endpoint now knows of each waypoint, and move the cursor: all in one
 * transaction, so a crash at any point leaves either all of it or none, and
 * a change is never both skipped and unsent. A disabled endpoint gets
 * nothing. The event id (webhook-id) is msg_<endpoint hex>_<seq>_<n>.
 * 0, -ENOENT, -EINVAL (a row this build cannot read), -ENOMEM, -EBUSY, -EIO. */
int store_webhook_outbox_fill(struct store *s, const char *id, int64_t now_ms, size_t max,
                              struct store_webhook_fill *out);

/* ---- Delivery (store_webhook_delivery.c, schema 7) ---- */

/* An endpoint failing this long without one success is disabled (issue 15). */
#define STORE_WEBHOOK_FAIL_WINDOW_MS (24LL * 3600 * 1000)
/* The start of a receiver's answer kept per attempt. */
#define STORE_WEBHOOK_ANSWER_MAX 200

/* One event due to be sent: the oldest pending event of its (endpoint, DC,
 * waypoint), so a receiver sees each waypoint's events in order. Valid only
 * during the callback. */
struct store_webhook_due {
    int64_t row;
    const char *endpoint_id;
    const char *msg_id;
    const char *type;
    const char *body;
    size_t body_len;
    int attempts;      /* made so far */
    int64_t created_ms;
};
typedef int (*store_webhook_due_cb)(const struct store_webhook_due *d, void *arg);
/* The events of enabled endpoints whose next attempt is at or before now_ms,
 * at most max, oldest first. 0 or a negative errno (or the callback's). */
int store_webhook_due_list(struct store *s, int64_t now_ms, size_t max, store_webhook_due_cb cb, void *arg);

/* One attempt's outcome. status: the HTTP status, 0 when none came (error
 * says why: "refused: ...", "timeout", curl's words). */
struct store_webhook_attempt {
    int64_t row;             /* the outbox row */
    const char *endpoint_id;
    const char *msg_id;
    int64_t attempt_ms;
    int status;
    const char *error;       /* NULL when an answer came */
    int64_t latency_ms;
    const char *answer;      /* its first bytes (at most STORE_WEBHOOK_ANSWER_MAX), may be NULL */
    size_t answer_len;
    int delivered;           /* a 2xx */
    int gone;                /* a 410: disable the endpoint at once */
    int64_t next_ms;         /* when not delivered: the next attempt */
};
/* In one transaction: log the attempt in webhook_deliveries; mark the event
 * delivered, or count the attempt and set its next time; track since when
 * the endpoint fails, and disable it (*disabled = 1, reason stored) on a
 * 410 or after STORE_WEBHOOK_FAIL_WINDOW_MS of failures. 0 or -errno. */
int store_webhook_attempt_record(struct store *s, const struct store_webhook_attempt *a, int *disabled);

/* One logged attempt, valid during the callback. */
struct store_webhook_delivery {
    int64_t attempt_ms;
    const char *msg_id;
    int status;
    const char *error;  /* NULL: an answer came */
    int64_t latency_ms;
    const char *answer;
};
typedef int (*store_webhook_delivery_cb)(const struct store_webhook_delivery *d, void *arg);
/* The endpoint's attempts, newest first, at most limit: 0, -ENOENT (no such
 * endpoint) or -errno. */
int store_webhook_deliveries(struct store *s, const char *id, size_t limit, store_webhook_delivery_cb cb, void *arg);
/* Make the event pending again, due now, same webhook-id: 0, -ENOENT. */
int store_webhook_redeliver(struct store *s, const char *msg_id, int64_t now_ms);
/* Queue a webhook.test event for the endpoint; its id into msg_id (at
 * least 64 bytes). 0, -ENOENT, -errno. */
int store_webhook_test_queue(struct store *s, const char *id, int64_t now_ms, char *msg_id, size_t msg_len);

/* Pending events and the oldest one's creation time (0: none), per
 * endpoint: the callback gets each endpoint with pending events. */
typedef int (*store_webhook_pending_cb)(const char *endpoint_id, int64_t pending, int64_t oldest_ms, void *arg);
int store_webhook_pending(struct store *s, store_webhook_pending_cb cb, void *arg);

#endif
