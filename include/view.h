/* SPDX-License-Identifier: MIT
 *
 * JSON in and out: renders the API's bodies from model structs and parses
 * request bodies (view.c), and the live channel's messages both ways
 * (view_live.c); those two are the only files that include json-c. Every
 * render returns a malloc'd NUL-terminated string (length in *len) or NULL
 * when out of memory; the caller frees it.
 */
#ifndef WAYPOINTD_VIEW_H
#define WAYPOINTD_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The contract's error code for "Customer location not confident". */
#define VIEW_CODE_NOT_CONFIDENT 7001

char *view_customer(const struct customer *c, size_t *len);
/* Only meaningful when c->location_confident and c->inferred.present. */
char *view_confident_location(const struct customer *c, size_t *len);
char *view_waypoints(const struct waypoint *w, size_t n, size_t *len);
char *view_error(int code, const char *message, size_t *len);
char *view_token(const char *token, int64_t expires_ms, size_t *len);
/* The dashboard map's settings (/map-config.json): {"tiles":URL_TEMPLATE or
 * null,"attribution":TEXT}; tiles and attribution may be NULL. */
char *view_map_config(const char *tiles, const char *attribution, size_t *len);

/* Parse the optional tracking-token body {"ttl_seconds":N}. An empty body
 * leaves *ttl unchanged. 0, or -EINVAL for anything else than an object whose
 * ttl_seconds (if present) is an integer in [min, max]. */
int view_parse_ttl(const char *body, size_t len, long min, long max, long *ttl);

/* ---- Live channel (WebSocket) messages: view_live.c ----
 * Each render returns a malloc'd buffer of `pre` bytes of headroom (for
 * LWS_PRE) followed by the JSON; *len counts the JSON only. NULL when out of
 * memory. id_json is a request id as JSON text, echoed back unchanged. */
unsigned char *view_live_waypoint(int64_t seq, const struct waypoint *w, size_t pre, size_t *len);
unsigned char *view_live_removed(int64_t seq, const char *dc_id, const char *customer_id, const char *waypoint_id,
                                 size_t pre, size_t *len);
unsigned char *view_live_subscribed(const char *id_json, const char *dc_id, const char *customer_id, int64_t seq,
                                    int resumed, const struct waypoint *w, size_t n, size_t pre, size_t *len);
/* A snapshot's waypoints as the JSON array view_live_subscribed puts under
 * "waypoints" (no headroom; NUL-terminated, *len without it), to be shared
 * by the subscribers of one DC at one seq (live.c). NULL: out of memory. */
char *view_live_waypoints(const struct waypoint *w, size_t n, size_t *len);
/* view_live_subscribed for a snapshot (not resumed) whose waypoints were
 * rendered by view_live_waypoints: the same message, byte for byte. */
unsigned char *view_live_subscribed_with(const char *id_json, const char *dc_id, const char *customer_id,
                                         int64_t seq, const char *waypoints, size_t wlen, size_t pre, size_t *len);
/* {"type":type,"id":id}: "pong" and "unsubscribed". */
unsigned char *view_live_reply(const char *type, const char *id_json, size_t pre, size_t *len);
/* retry_after > 0 adds "retry_after" (seconds), for code 429. */
unsigned char *view_live_error(const char *id_json, int code, const char *message, int retry_after, size_t pre,
                               size_t *len);

/* A proximity notice (issue 15, docs/live.md "Notices"): sent right after the
 * waypoint message of the change that caused it. approaching: by "stops"
 * (value = waypoints ahead) or "minutes" (value = whole minutes to the ETA,
 * rounded up); eta_changed: by "minutes", value = the drift in whole minutes
 * (signed), with eta and previous_eta (ms since the epoch). */
struct view_notice {
    int64_t seq;
    const char *dc_id, *customer_id, *waypoint_id;
    int eta_changed; /* 0: approaching */
    int by_stops;    /* approaching only: 1 by stops, 0 by minutes */
    int threshold;
    int64_t value;
    int64_t eta, previous_eta; /* eta_changed only */
};
unsigned char *view_live_notice(const struct view_notice *n, size_t pre, size_t *len);

/* The optional "notices" member of a subscribe. Thresholds are integers in
 * [1, VIEW_NOTICE_VALUE_MAX], at most VIEW_NOTICE_THRESHOLDS_MAX each. */
#define VIEW_NOTICE_THRESHOLDS_MAX 4
#define VIEW_NOTICE_VALUE_MAX 240
struct view_notices {
    int wanted; /* 0: the subscribe had no "notices" (nothing else is set) */
    int stops[VIEW_NOTICE_THRESHOLDS_MAX];
    size_t nstops;
    int minutes[VIEW_NOTICE_THRESHOLDS_MAX];
    size_t nminutes;
    int eta_change_minutes; /* 0: no eta_changed notices */
};

/* The event stream's query form of the same option (docs/live.md):
 * notices_stops=3,1, notices_minutes=10, notices_eta_change_minutes=5, each
 * the value of its query argument or NULL when absent. All NULL: not
 * wanted. 0, or -EINVAL (out untouched beyond what it holds then). */
int view_parse_notices_query(const char *stops, const char *minutes, const char *eta_change_minutes,
                             struct view_notices *out);
#define VIEW_NOTICES_QUERY_WHY                                                                                   \
    "notices_stops and notices_minutes must be comma-separated lists of at most 4 integers in 1..240, "          \
    "notices_eta_change_minutes an integer in 1..240"

enum view_msg_type { VIEW_MSG_SUBSCRIBE = 1, VIEW_MSG_UNSUBSCRIBE, VIEW_MSG_PING };

struct view_client_msg {
    enum view_msg_type type;
    char *id_json;     /* malloc'd; "null" when the message had no id */
    char *dc_id;       /* malloc'd; NULL for ping */
    char *customer_id; /* malloc'd; NULL: the whole DC */
    int64_t since;     /* -1 when absent */
    struct view_notices notices; /* subscribe only */
};
/* Parse one client message. 0, or -EINVAL with *why a static explanation;
 * id_json is filled whenever the id could be read, for the error reply.
 * Release with view_client_msg_clear in both cases. */
int view_parse_client_msg(const char *buf, size_t len, struct view_client_msg *out, const char **why);
void view_client_msg_clear(struct view_client_msg *m);

#endif
