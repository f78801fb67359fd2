/* SPDX-License-Identifier: MIT
 *
 * JSON rendering and parsing with json-c, the only file that includes it.
 * Pure functions of their arguments; any thread.
 */
#include "view.h"

#include <errno.h>
#include <limits.h>
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

/* Parse len bytes as one complete JSON value, or NULL. */
static struct json_object *parse(const char *text, size_t len)
{
    struct json_tokener *tok;
    struct json_object *obj;

    if (len > INT_MAX)
        return NULL;
    tok = json_tokener_new();
    if (!tok)
        return NULL;
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

int view_parse_ttl(const char *body, size_t len, long min, long max, long *ttl)
{
    struct json_object *obj, *v;
    int rc = -EINVAL;

    if (len == 0)
        return 0;
    obj = parse(body, len);
    if (!obj || !json_object_is_type(obj, json_type_object))
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
