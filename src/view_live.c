/* SPDX-License-Identifier: MIT
 *
 * JSON for the live channel (/live over WebSocket, and event streams): the
 * messages the server pushes (waypoint, waypoint_removed, subscribed, replies,
 * errors), rendered with LWS_PRE headroom, and the parser of the client's
 * subscribe, unsubscribe and ping. Pure functions of their arguments; any
 * thread. Shares the strict parser and the waypoint object with view.c.
 */
#include "view.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "view_int.h"

/* Like view.c's finish(), into a buffer with pre bytes of headroom. */
static unsigned char *finish_pre(struct json_object *obj, size_t pre, size_t *len)
{
    const char *text;
    unsigned char *out = NULL;
    size_t n = 0;

    if (!obj)
        return NULL;
    text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (text) {
        out = malloc(pre + n + 1);
        if (out) {
            memcpy(out + pre, text, n + 1);
            *len = n;
        }
    }
    json_object_put(obj);
    return out;
}

static struct json_object *typed(const char *type)
{
    struct json_object *o = json_object_new_object();

    if (o)
        json_object_object_add(o, "type", json_object_new_string(type));
    return o;
}

/* The request id again as an object; invalid text becomes null. */
static struct json_object *id_object(const char *id_json)
{
    return id_json ? json_tokener_parse(id_json) : NULL;
}

unsigned char *view_live_waypoint(int64_t seq, const struct waypoint *w, size_t pre, size_t *len)
{
    struct json_object *o = typed("waypoint");

    if (!o)
        return NULL;
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    json_object_object_add(o, "dc_id", json_object_new_string(w->dc_id));
    json_object_object_add(o, "customer_id", json_object_new_string(w->customer_id));
    json_object_object_add(o, "waypoint", view_waypoint_object(w));
    return finish_pre(o, pre, len);
}

unsigned char *view_live_removed(int64_t seq, const char *dc_id, const char *customer_id, const char *waypoint_id,
                                 size_t pre, size_t *len)
{
    struct json_object *o = typed("waypoint_removed");

    if (!o)
        return NULL;
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    json_object_object_add(o, "dc_id", json_object_new_string(dc_id));
    json_object_object_add(o, "customer_id", json_object_new_string(customer_id));
    json_object_object_add(o, "waypoint_id", json_object_new_string(waypoint_id));
    return finish_pre(o, pre, len);
}

unsigned char *view_live_subscribed(const char *id_json, const char *dc_id, const char *customer_id, int64_t seq,
                                    int resumed, const struct waypoint *w, size_t n, size_t pre, size_t *len)
{
    struct json_object *o = typed("subscribed"), *arr;

    if (!o)
        return NULL;
    json_object_object_add(o, "id", id_object(id_json));
    json_object_object_add(o, "dc_id", json_object_new_string(dc_id));
    json_object_object_add(o, "customer_id", view_string_or_null(customer_id));
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    json_object_object_add(o, "resumed", json_object_new_boolean(resumed));
    /* A resume carries no snapshot: the missed changes follow instead. */
    if (!resumed) {
        arr = json_object_new_array_ext((int)n);
        for (size_t i = 0; arr && i < n; i++)
            json_object_array_add(arr, view_waypoint_object(&w[i]));
        json_object_object_add(o, "waypoints", arr);
    }
    return finish_pre(o, pre, len);
}

char *view_live_waypoints(const struct waypoint *w, size_t n, size_t *len)
{
    struct json_object *arr = json_object_new_array_ext((int)n);
    const char *text;
    char *out = NULL;
    size_t k = 0;

    for (size_t i = 0; arr && i < n; i++)
        json_object_array_add(arr, view_waypoint_object(&w[i]));
    text = arr ? json_object_to_json_string_length(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &k)
               : NULL;
    if (text && (out = malloc(k + 1))) {
        memcpy(out, text, k + 1);
        *len = k;
    }
    json_object_put(arr);
    return out;
}

/* json-c writes an object's members in the order they were added, with no
 * spaces (PLAIN): the snapshot is spliced in where view_live_subscribed
 * adds it last. */
unsigned char *view_live_subscribed_with(const char *id_json, const char *dc_id, const char *customer_id,
                                         int64_t seq, const char *waypoints, size_t wlen, size_t pre, size_t *len)
{
    static const char member[] = ",\"waypoints\":";
    unsigned char *head, *out;
    size_t hlen = 0, n;

    head = view_live_subscribed(id_json, dc_id, customer_id, seq, 1, NULL, 0, pre, &hlen);
    if (!head)
        return NULL;
    /* {"type":"subscribed",...,"resumed":true} -> ...,"resumed":false,"waypoints":[...]} */
    n = hlen - strlen("true}");
    out = malloc(pre + n + strlen("false") + sizeof(member) - 1 + wlen + 2);
    if (out) {
        unsigned char *p = out + pre;

        memcpy(p, head + pre, n);
        p += n;
        memcpy(p, "false", 5);
        p += 5;
        memcpy(p, member, sizeof(member) - 1);
        p += sizeof(member) - 1;
        memcpy(p, waypoints, wlen);
        p += wlen;
        *p++ = '}';
        *p = '\0';
        *len = (size_t)(p - (out + pre));
    }
    free(head);
    return out;
}

unsigned char *view_live_reply(const char *type, const char *id_json, size_t pre, size_t *len)
{
    struct json_object *o = typed(type);

    if (!o)
        return NULL;
    json_object_object_add(o, "id", id_object(id_json));
    return finish_pre(o, pre, len);
}

unsigned char *view_live_error(const char *id_json, int code, const char *message, int retry_after, size_t pre,
                               size_t *len)
{
    struct json_object *o = typed("error");

    if (!o)
        return NULL;
    json_object_object_add(o, "id", id_object(id_json));
    json_object_object_add(o, "code", json_object_new_int(code));
    json_object_object_add(o, "message", json_object_new_string(message));
    if (retry_after > 0)
        json_object_object_add(o, "retry_after", json_object_new_int(retry_after));
    return finish_pre(o, pre, len);
}

unsigned char *view_live_notice(const struct view_notice *n, size_t pre, size_t *len)
{
    struct json_object *o = typed("notice");

    if (!o)
        return NULL;
    json_object_object_add(o, "seq", json_object_new_int64(n->seq));
    json_object_object_add(o, "dc_id", json_object_new_string(n->dc_id));
    json_object_object_add(o, "customer_id", json_object_new_string(n->customer_id));
    json_object_object_add(o, "waypoint_id", json_object_new_string(n->waypoint_id));
    json_object_object_add(o, "kind", json_object_new_string(n->eta_changed ? "eta_changed" : "approaching"));
    json_object_object_add(o, "by", json_object_new_string(n->eta_changed || !n->by_stops ? "minutes" : "stops"));
    json_object_object_add(o, "threshold", json_object_new_int(n->threshold));
    json_object_object_add(o, "value", json_object_new_int64(n->value));
    if (n->eta_changed) {
        json_object_object_add(o, "eta", json_object_new_int64(n->eta));
        json_object_object_add(o, "previous_eta", json_object_new_int64(n->previous_eta));
    }
    return finish_pre(o, pre, len);
}

void view_client_msg_clear(struct view_client_msg *m)
{
    free(m->id_json);
    free(m->dc_id);
    free(m->customer_id);
    memset(m, 0, sizeof(*m));
    m->since = -1;
}

/* A string member: 0 and a malloc'd copy in *out, 1 when absent or null,
 * -EINVAL for another type, -ENOMEM. */
static int member_string(struct json_object *o, const char *name, char **out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, name, &v) || !v)
        return 1;
    if (!json_object_is_type(v, json_type_string))
        return -EINVAL;
    /* A NUL inside would silently shorten the id. */
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return -EINVAL;
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : -ENOMEM;
}

static int parse_type(struct json_object *o, enum view_msg_type *type)
{
    struct json_object *v;
    const char *t;

    if (!json_object_object_get_ex(o, "type", &v) || !json_object_is_type(v, json_type_string))
        return -EINVAL;
    t = json_object_get_string(v);
    if (!strcmp(t, "subscribe"))
        *type = VIEW_MSG_SUBSCRIBE;
    else if (!strcmp(t, "unsubscribe"))
        *type = VIEW_MSG_UNSUBSCRIBE;
    else if (!strcmp(t, "ping"))
        *type = VIEW_MSG_PING;
    else
        return -EINVAL;
    return 0;
}

/* 1 when s is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * json-c also takes NaN, Infinity, 00.5 and "1." and keeps their text,
 * which echoed back would make a reply that is not JSON. */
static int json_number_text(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        if (*++s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        if (*++s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static int parse_id(struct json_object *o, struct view_client_msg *out)
{
    struct json_object *v = NULL;
    const char *text;

    if (json_object_object_get_ex(o, "id", &v) && v && !json_object_is_type(v, json_type_string) &&
        !json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        v = NULL; /* echo null for an id of another type; the request is refused */
    /* json-c clamps integers beyond 64 bits, so such an id could not be
     * echoed unchanged: refused like another type (a string works). */
    if (v && json_object_is_type(v, json_type_int) &&
        (json_object_get_int64(v) == INT64_MIN || json_object_get_uint64(v) == UINT64_MAX))
        v = NULL;
    text = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
    if (v && !json_object_is_type(v, json_type_string) && !json_number_text(text))
        text = "null"; /* refused like an id of another type */
    out->id_json = strdup(text);
    return out->id_json ? 0 : -ENOMEM;
}

static int parse_since(struct json_object *o, int64_t *since)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, "since", &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return -EINVAL;
    *since = json_object_get_int64(v);
    return 0;
}

/* One threshold list: an array of 1..VIEW_NOTICE_THRESHOLDS_MAX integers in
 * [1, VIEW_NOTICE_VALUE_MAX]. Absent leaves *n at 0. */
static int parse_thresholds(struct json_object *o, const char *name, int *out, size_t *n)
{
    struct json_object *a, *v;
    size_t count;

    if (!json_object_object_get_ex(o, name, &a))
        return 0;
    if (!a || !json_object_is_type(a, json_type_array))
        return -EINVAL;
    count = json_object_array_length(a);
    if (count < 1 || count > VIEW_NOTICE_THRESHOLDS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < count; i++) {
        v = json_object_array_get_idx(a, i);
        if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_int64(v) > VIEW_NOTICE_VALUE_MAX)
            return -EINVAL;
        out[i] = (int)json_object_get_int64(v);
    }
    *n = count;
    return 0;
}

/* The optional "notices" object; unknown members are refused so that a typo
 * does not silently turn notices off. */
static int parse_notices(struct json_object *o, struct view_notices *out)
{
    struct json_object *no, *v;

    if (!json_object_object_get_ex(o, "notices", &no))
        return 0;
    if (!no || !json_object_is_type(no, json_type_object))
        return -EINVAL;
    json_object_object_foreach(no, key, val) {
        (void)val;
        if (strcmp(key, "stops") && strcmp(key, "minutes") && strcmp(key, "eta_change_minutes"))
            return -EINVAL;
    }
    if (parse_thresholds(no, "stops", out->stops, &out->nstops) ||
        parse_thresholds(no, "minutes", out->minutes, &out->nminutes))
        return -EINVAL;
    if (json_object_object_get_ex(no, "eta_change_minutes", &v)) {
        if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_int64(v) > VIEW_NOTICE_VALUE_MAX)
            return -EINVAL;
        out->eta_change_minutes = (int)json_object_get_int64(v);
    }
    out->wanted = 1;
    return 0;
}

/* One integer in [1, VIEW_NOTICE_VALUE_MAX], digits only, up to a comma
 * or the end; *end after it. */
static int query_int(const char *p, const char **end, int *v)
{
    long n = 0;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((n = n * 10 + (*p - '0')) > VIEW_NOTICE_VALUE_MAX)
            return -EINVAL;
    if (n < 1)
        return -EINVAL;
    *v = (int)n;
    *end = p;
    return 0;
}

static int query_list(const char *p, int *out, size_t *n)
{
    if (!p)
        return 0;
    for (*n = 0;;) {
        if (*n == VIEW_NOTICE_THRESHOLDS_MAX || query_int(p, &p, &out[*n]))
            return -EINVAL;
        (*n)++;
        if (!*p)
            return 0;
        if (*p++ != ',')
            return -EINVAL;
    }
}

int view_parse_notices_query(const char *stops, const char *minutes, const char *eta_change_minutes,
                             struct view_notices *out)
{
    const char *end;

    memset(out, 0, sizeof(*out));
    if (!stops && !minutes && !eta_change_minutes)
        return 0;
    if (query_list(stops, out->stops, &out->nstops) || query_list(minutes, out->minutes, &out->nminutes) ||
        (eta_change_minutes && (query_int(eta_change_minutes, &end, &out->eta_change_minutes) || *end))) {
        memset(out, 0, sizeof(*out));
        return -EINVAL;
    }
    out->wanted = 1;
    return 0;
}

int view_parse_client_msg(const char *buf, size_t len, struct view_client_msg *out, const char **why)
{
    struct json_object *o = view_parse_json(buf, len), *idv;
    int rc = -EINVAL;

    memset(out, 0, sizeof(*out));
    out->since = -1;
    *why = "Message must be a JSON object";
    if (!o || !json_object_is_type(o, json_type_object))
        goto out;
    if (parse_id(o, out)) {
        rc = -ENOMEM;
        goto out;
    }
    *why = "id must be a string or a number (an integer within 64 bits)";
    if (json_object_object_get_ex(o, "id", &idv) && idv && !strcmp(out->id_json, "null"))
        goto out;
    *why = "Unknown message type";
    if (parse_type(o, &out->type))
        goto out;
    rc = 0;
    if (out->type == VIEW_MSG_PING)
        goto out;
    *why = "dc_id must be a string and customer_id a string or null";
    if (member_string(o, "dc_id", &out->dc_id) != 0 || member_string(o, "customer_id", &out->customer_id) < 0) {
        rc = -EINVAL;
        goto out;
    }
    *why = "since must be a non-negative integer";
    if (out->type == VIEW_MSG_SUBSCRIBE && parse_since(o, &out->since)) {
        rc = -EINVAL;
        goto out;
    }
    *why = "notices must be an object of stops and minutes (arrays of at most 4 integers in 1..240) and "
           "eta_change_minutes (an integer in 1..240)";
    if (out->type == VIEW_MSG_SUBSCRIBE && parse_notices(o, &out->notices))
        rc = -EINVAL;
out:
    json_object_put(o);
    return rc;
}
