/* SPDX-License-Identifier: MIT
 *
 * JSON for the REST API with json-c: the response bodies (customer, location,
 * waypoints, error envelope, token, map settings) and the token request's
 * body; and the helpers view_live.c shares (view_int.h): strict parsing and
 * the contract's waypoint object. view.c and view_live.c are the only files
 * that include json-c. Pure functions of their arguments; any thread.
 */
#include "view.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "view_int.h"

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

struct json_object *view_string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

struct json_object *view_number(double d)
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
    json_object_object_add(o, "latitude", view_number(l->latitude));
    json_object_object_add(o, "longitude", view_number(l->longitude));
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
    json_object_object_add(cust, "imported_address", view_string_or_null(c->imported_address));
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
    json_object_object_add(data, "latitude", view_number(c->inferred.latitude));
    json_object_object_add(data, "longitude", view_number(c->inferred.longitude));
    return finish(success(data), len);
}

static struct json_object *int_or_null(int64_t v, unsigned nulls, unsigned bit)
{
    return (nulls & bit) ? NULL : json_object_new_int64(v);
}

struct json_object *view_waypoint_object(const struct waypoint *w)
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
    json_object_object_add(o, "route_id", view_string_or_null(w->route_id));
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
        json_object_array_add(arr, view_waypoint_object(&w[i]));
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

struct json_object *view_parse_json(const char *text, size_t len)
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
    obj = view_parse_json(body, len);
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
