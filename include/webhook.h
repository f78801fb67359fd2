/* SPDX-License-Identifier: MIT
 *
 * Webhooks' pure vocabulary (issue 15): the event types with their Standard
 * Webhooks names and Foxtrot-style aliases, event lists as `--events` takes
 * them and the store keeps them, endpoint URLs (HTTPS only), and threshold
 * lists ("3,1"). No I/O; any thread.
 */
#ifndef WAYPOINTD_WEBHOOK_H
#define WAYPOINTD_WEBHOOK_H

#include <stddef.h>

enum webhook_event {
    WEBHOOK_WAYPOINT_STATUS_CHANGED,
    WEBHOOK_WAYPOINT_ETA_CHANGED,
    WEBHOOK_WAYPOINT_APPROACHING,
    WEBHOOK_WAYPOINT_REMOVED,
    WEBHOOK_CUSTOMER_LOCATION_CONFIDENT,
    WEBHOOK_TEST,
    WEBHOOK_EVENT_COUNT
};

#define WEBHOOK_EVENT_BIT(e) (1u << (e))
/* What an endpoint gets when --events is not given: every type but
 * webhook.test, which only `webhook test` sends. */
#define WEBHOOK_EVENTS_DEFAULT ((WEBHOOK_EVENT_BIT(WEBHOOK_EVENT_COUNT) - 1) & ~WEBHOOK_EVENT_BIT(WEBHOOK_TEST))
/* Longest URL accepted (the de-facto limit of browsers and proxies). */
#define WEBHOOK_URL_MAX 2048
/* A threshold list holds at most this many values. */
#define WEBHOOK_THRESHOLDS_MAX 8

/* "waypoint.status_changed" and "WAYPOINT_STATUS_CHANGED" for e. */
const char *webhook_event_name(enum webhook_event e);
const char *webhook_event_alias(enum webhook_event e);
/* A comma-separated list of names or aliases (each at most once in effect)
 * into a bit mask: 0, or -EINVAL for an empty list, an empty item or an
 * unknown name, copied into bad (when not NULL; cut to badlen). */
int webhook_events_parse(const char *list, unsigned *mask, char *bad, size_t badlen);
/* The mask as names in enum order, comma-separated: 0, -EINVAL (empty
 * mask), -ENOSPC. */
int webhook_events_format(unsigned mask, char *out, size_t outlen);

/* An endpoint URL: 0 for https://HOST[:PORT][/PATH][?QUERY]; -EPROTONOSUPPORT
 * for another scheme (http:// included); -EINVAL for anything malformed:
 * no host, a bad port, user info ("user:pass@"), a fragment, spaces, control
 * or non-ASCII characters (percent-encode them), longer than WEBHOOK_URL_MAX. */
int webhook_url_check(const char *url);

/* A list of whole numbers in [min, max], e.g. "3,1", written back to out
 * sorted from largest to smallest without repeats ("" stays "" when
 * allow_empty): 0, -EINVAL, -ENOSPC. */
int webhook_thresholds_parse(const char *list, int min, int max, int allow_empty, char *out, size_t outlen);

#endif
