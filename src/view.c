/* SPDX-License-Identifier: MIT
 *
 * JSON rendering and parsing with json-c, the only file that includes it.
 * Pure functions of their arguments; any thread.
 */
#include "view.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Render obj, drop our reference, and return a malloc'd copy of the text. */
static char *finish(struct json_object *obj, size_t *len)
{
    const char *text;
    size_t n = 0;
    char *out = NULL;

    if (!obj)
        return NULL;
    text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (text) {
        out = malloc(n + 1);
        if (out) {
            memcpy(out, text, n + 1);
            if (len)
                *len = n;
        }
    }
    json_object_put(obj);
    return out;
}

static struct json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

/* The shortest of %.15g and %.17g that reads back as the same double, so
 * 37.77493 stays 37.77493 and nothing is lost. */
static struct json_object *number(double d)
{
    char buf[32];

    /* JSON has no infinity or NaN; SQLite stores 9e999 as Inf. */
    if (!isfinite(d))
        return NULL;
    snprintf(buf, sizeof(buf), "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, sizeof(buf), "%.17g", d);
    return json_object_new_double_s(d, buf);
}

static struct json_object *location(const struct location *l)
{
    struct json_object *o;

    if (!l->present)
        return NULL;
    o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "latitude", number(l->latitude));
    json_object_object_add(o, "longitude", number(l->longitude));
    return o;
}

/* {"status":"success","data":data}; takes ownership of data. */
static struct json_object *success(struct json_object *data)
{
    struct json_object *o = json_object_new_object();

    if (!o) {
        json_object_put(data);
        return NULL;
    }
    json_object_object_add(o, "status", json_object_new_string("success"));
    json_object_object_add(o, "data", data);
    return o;
}

char *view_customer(const struct customer *c, size_t *len)
{
    struct json_object *cust = json_object_new_object(), *data = json_object_new_object();

    if (!cust || !data) {
        json_object_put(cust);
        json_object_put(data);
        return NULL;
    }
    json_object_object_add(cust, "id", json_object_new_string(c->id));
    json_object_object_add(cust, "name", json_object_new_string(c->name ? c->name : ""));
    json_object_object_add(cust, "imported_address", string_or_null(c->imported_address));
    json_object_object_add(cust, "imported_location", location(&c->imported));
    json_object_object_add(cust, "inferred_location", location(&c->inferred));
    json_object_object_add(data, "customer", cust);
    return finish(success(data), len);
}

char *view_confident_location(const struct customer *c, size_t *len)
{
    struct json_object *data = json_object_new_object();

    if (!data)
        return NULL;
    json_object_object_add(data, "customer_id", json_object_new_string(c->id));
    json_object_object_add(data, "latitude", number(c->inferred.latitude));
    json_object_object_add(data, "longitude", number(c->inferred.longitude));
    return finish(success(data), len);
}

static struct json_object *int_or_null(int64_t v, unsigned nulls, unsigned bit)
{
    return (nulls & bit) ? NULL : json_object_new_int64(v);
}

/* Exactly the contract's eight fields, in its order. */
static struct json_object *waypoint(const struct waypoint *w)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    json_object_object_add(o, "id", json_object_new_string(w->id));
    json_object_object_add(o, "customer_id", json_object_new_string(w->customer_id));
    json_object_object_add(o, "status", json_object_new_string(w->status ? w->status : "PENDING"));
    json_object_object_add(o, "completed_timestamp",
                           int_or_null(w->completed_timestamp, w->nulls, WAYPOINT_NULL_COMPLETED));
    json_object_object_add(o, "estimated_time_of_arrival",
                           int_or_null(w->estimated_time_of_arrival, w->nulls, WAYPOINT_NULL_ETA));
    json_object_object_add(o, "waypoints_ahead", int_or_null(w->waypoints_ahead, w->nulls, WAYPOINT_NULL_AHEAD));
    json_object_object_add(o, "waiting_time_seconds",
                           int_or_null(w->waiting_time_seconds, w->nulls, WAYPOINT_NULL_WAITING));
    json_object_object_add(o, "route_id", string_or_null(w->route_id));
    return o;
}

char *view_waypoints(const struct waypoint *w, size_t n, size_t *len)
{
    struct json_object *o = json_object_new_object(), *arr = json_object_new_array_ext((int)n);

    if (!o || !arr) {
        json_object_put(o);
        json_object_put(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, waypoint(&w[i]));
    json_object_object_add(o, "waypoints", arr);
    return finish(o, len);
}

char *view_error(int code, const char *message, size_t *len)
{
    struct json_object *o = json_object_new_object(), *data = json_object_new_object();

    if (!o || !data) {
        json_object_put(o);
        json_object_put(data);
        return NULL;
    }
    json_object_object_add(data, "code", json_object_new_int(code));
    json_object_object_add(data, "message", json_object_new_string(message));
    json_object_object_add(o, "status", json_object_new_string("error"));
    json_object_object_add(o, "data", data);
    return finish(o, len);
}

char *view_token(const char *token, int64_t expires_ms, size_t *len)
{
    struct json_object *data = json_object_new_object();

    if (!data)
        return NULL;
    json_object_object_add(data, "token", json_object_new_string(token));
    json_object_object_add(data, "expires_at", json_object_new_int64(expires_ms));
    return finish(success(data), len);
}

/* json-c 0.16 reads 'single-quoted' strings even in strict mode; JSON has
 * none. 1 when a quote ' stands outside a double-quoted string. */
static int has_single_quote(const char *text, size_t len)
{
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        if (in_string && text[i] == '\\')
            i++;
        else if (text[i] == '"')
            in_string = !in_string;
        else if (!in_string && text[i] == '\'')
            return 1;
    }
    return 0;
}

/* Parse len bytes as one complete JSON value, or NULL. */
static struct json_object *parse(const char *text, size_t len)
{
    struct json_tokener *tok;
    struct json_object *obj;

    if (len > INT_MAX || has_single_quote(text, len))
        return NULL;
    tok = json_tokener_new();
    if (!tok)
        return NULL;
    /* Strict: single quotes, leading zeros or trailing commas are not JSON. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    /* Trailing garbage or an unfinished value is malformed. */
    if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tok);
    return obj;
}

char *view_map_config(const char *tiles, const char *attribution, size_t *len)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    json_object_object_add(o, "tiles", tiles ? json_object_new_string(tiles) : NULL);
    json_object_object_add(o, "attribution", json_object_new_string(attribution ? attribution : ""));
    return finish(o, len);
}

int view_parse_ttl(const char *body, size_t len, long min, long max, long *ttl)
{
    struct json_object *obj, *v;
    int rc = -EINVAL;

    if (len == 0)
        return 0;
    obj = parse(body, len);
    if (!obj || !json_object_is_type(obj, json_type_object))
        goto out;
    /* Only ttl_seconds: a misspelt key must not silently mean the default. */
    if (json_object_object_length(obj) > (json_object_object_get_ex(obj, "ttl_seconds", NULL) ? 1 : 0))
        goto out;
    if (!json_object_object_get_ex(obj, "ttl_seconds", &v)) {
        rc = 0;
        goto out;
    }
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);

        if (n >= min && n <= max) {
            *ttl = (long)n;
            rc = 0;
        }
    }
out:
    json_object_put(obj);
    return rc;
}

/* Like finish(), into a buffer with pre bytes of headroom. */
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
    json_object_object_add(o, "waypoint", waypoint(w));
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
    json_object_object_add(o, "customer_id", string_or_null(customer_id));
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    json_object_object_add(o, "resumed", json_object_new_boolean(resumed));
    /* A resume carries no snapshot: the missed changes follow instead. */
    if (!resumed) {
        arr = json_object_new_array_ext((int)n);
        for (size_t i = 0; arr && i < n; i++)
            json_object_array_add(arr, waypoint(&w[i]));
        json_object_object_add(o, "waypoints", arr);
    }
    return finish_pre(o, pre, len);
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

int view_parse_client_msg(const char *buf, size_t len, struct view_client_msg *out, const char **why)
{
    struct json_object *o = parse(buf, len), *idv;
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
    if (out->type == VIEW_MSG_SUBSCRIBE && parse_since(o, &out->since))
        rc = -EINVAL;
out:
    json_object_put(o);
    return rc;
}
