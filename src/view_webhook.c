/* SPDX-License-Identifier: MIT
 *
 * Webhook event bodies. The waypoint inside is the REST waypoint object byte
 * for byte: view_waypoints renders it and this file cuts it out of the list,
 * so the two can never drift apart. Everything else goes through json-c with
 * view.c's flags. Any thread.
 */
#include "view_webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "view.h"
#include "view_int.h"

#define LIST_HEAD "{\"waypoints\":["
#define LIST_TAIL "]}"

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

/* 2026-11-30T14:03:12.345Z */
static void iso_time(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[24];

    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(buf, sizeof(buf), "1970-01-01T00:00:00");
    snprintf(out, 32, "%s.%03dZ", buf, (int)(ms % 1000));
}

/* The REST object of w, malloc'd; NULL when out of memory. */
static char *rest_waypoint(const struct waypoint *w, size_t *len)
{
    size_t n = 0;
    char *list = view_waypoints(w, 1, &n);

    if (!list || n < sizeof(LIST_HEAD) - 1 + sizeof(LIST_TAIL) - 1 || memcmp(list, LIST_HEAD, sizeof(LIST_HEAD) - 1) ||
        memcmp(list + n - (sizeof(LIST_TAIL) - 1), LIST_TAIL, sizeof(LIST_TAIL) - 1)) {
        free(list);
        return NULL;
    }
    *len = n - (sizeof(LIST_HEAD) - 1) - (sizeof(LIST_TAIL) - 1);
    memmove(list, list + sizeof(LIST_HEAD) - 1, *len);
    list[*len] = '\0';
    return list;
}

static void add_event_fields(struct json_object *data, const struct webhook_derived *ev, const struct waypoint *w)
{
    struct json_object *sub;

    switch (ev->type) {
    case WEBHOOK_WAYPOINT_STATUS_CHANGED:
        sub = json_object_new_object();
        add_str(sub, "status", ev->previous_status);
        json_object_object_add(data, "previous", sub);
        break;
    case WEBHOOK_WAYPOINT_ETA_CHANGED:
        sub = json_object_new_object();
        add_int(sub, "estimated_time_of_arrival", ev->previous_eta);
        json_object_object_add(data, "previous", sub);
        add_int(data, "delta_seconds", ev->delta_seconds);
        break;
    case WEBHOOK_WAYPOINT_APPROACHING:
        sub = json_object_new_object();
        add_str(sub, "kind", ev->trigger_stops ? "stops" : "eta");
        if (ev->trigger_stops) {
            add_int(sub, "threshold", ev->threshold);
            add_int(sub, "waypoints_ahead", ev->value);
        } else {
            add_int(sub, "threshold_seconds", (int64_t)ev->threshold * 60);
            add_int(sub, "seconds_to_eta", ev->value);
        }
        json_object_object_add(data, "trigger", sub);
        break;
    case WEBHOOK_WAYPOINT_REMOVED:
        add_str(data, "waypoint_id", w->id);
        break;
    default:
        break;
    }
}

char *view_webhook_event(const struct webhook_derived *ev, int64_t seq, int64_t changed_ms, const struct waypoint *w,
                         size_t *len)
{
    struct json_object *o = json_object_new_object(), *data = json_object_new_object();
    char when[32], *wp = NULL, *out = NULL;
    const char *text;
    size_t wplen = 0, n = 0;
    int removed = ev->type == WEBHOOK_WAYPOINT_REMOVED;

    if (!o || !data || (!removed && !(wp = rest_waypoint(w, &wplen))))
        goto done;
    iso_time(changed_ms, when);
    add_str(o, "type", webhook_event_name(ev->type));
    add_str(o, "timestamp", when);
    add_str(o, "event", webhook_event_alias(ev->type));
    add_int(o, "hook_timestamp_millis", changed_ms);
    add_str(o, "dc_id", w->dc_id);
    add_str(o, "route_id", removed ? NULL : w->route_id);
    if (seq >= 0)
        add_int(data, "seq", seq);
    else
        json_object_object_add(data, "seq", NULL);
    add_str(data, "customer_id", w->customer_id);
    add_event_fields(data, ev, w);
    json_object_object_add(o, "data", data);
    data = NULL; /* o owns it */
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    /* text ends with "}}" (data is the last member): the waypoint goes in
     * between, as ,"waypoint":{...}. */
    if (!text || n < 2 || strcmp(text + n - 2, "}}"))
        goto done;
    out = malloc(n + (removed ? 0 : sizeof(",\"waypoint\":") - 1 + wplen) + 1);
    if (!out)
        goto done;
    memcpy(out, text, n - 2);
    *len = n - 2;
    if (!removed) {
        memcpy(out + *len, ",\"waypoint\":", sizeof(",\"waypoint\":") - 1);
        *len += sizeof(",\"waypoint\":") - 1;
        memcpy(out + *len, wp, wplen);
        *len += wplen;
    }
    memcpy(out + *len, "}}", 3);
    *len += 2;
done:
    json_object_put(o);
    json_object_put(data);
    free(wp);
    return out;
}

#define CUSTOMER_HEAD "{\"status\":\"success\",\"data\":{\"customer\":"
#define CUSTOMER_TAIL "}}"

/* The REST customer object of c, malloc'd; NULL when out of memory. */
static char *rest_customer(const struct customer *c, size_t *len)
{
    size_t n = 0, head = sizeof(CUSTOMER_HEAD) - 1, tail = sizeof(CUSTOMER_TAIL) - 1;
    char *doc = view_customer(c, &n);

    if (!doc || n < head + tail || memcmp(doc, CUSTOMER_HEAD, head) || memcmp(doc + n - tail, CUSTOMER_TAIL, tail)) {
        free(doc);
        return NULL;
    }
    *len = n - head - tail;
    memmove(doc, doc + head, *len);
    doc[*len] = '\0';
    return doc;
}

char *view_webhook_customer(const struct customer *c, int64_t changed_ms, size_t *len)
{
    struct json_object *o = json_object_new_object(), *data = json_object_new_object(), *loc = NULL;
    char when[32], *cust = NULL, *out = NULL;
    const char *text;
    size_t clen = 0, n = 0;
    static const char key[] = ",\"customer\":";

    if (!o || !data || !(cust = rest_customer(c, &clen)))
        goto done;
    iso_time(changed_ms, when);
    add_str(o, "type", webhook_event_name(WEBHOOK_CUSTOMER_LOCATION_CONFIDENT));
    add_str(o, "timestamp", when);
    add_str(o, "event", webhook_event_alias(WEBHOOK_CUSTOMER_LOCATION_CONFIDENT));
    add_int(o, "hook_timestamp_millis", changed_ms);
    add_str(o, "dc_id", c->dc_id);
    add_str(o, "route_id", NULL);
    add_str(data, "customer_id", c->id);
    if (c->location_confident && c->inferred.present && (loc = json_object_new_object())) {
        json_object_object_add(loc, "latitude", view_number(c->inferred.latitude));
        json_object_object_add(loc, "longitude", view_number(c->inferred.longitude));
    }
    json_object_object_add(data, "location", loc);
    json_object_object_add(o, "data", data);
    data = NULL; /* o owns it */
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (!text || n < 2 || strcmp(text + n - 2, "}}"))
        goto done;
    /* The customer goes last in data, as the waypoint does. */
    out = malloc(n + sizeof(key) - 1 + clen + 1);
    if (!out)
        goto done;
    memcpy(out, text, n - 2);
    *len = n - 2;
    memcpy(out + *len, key, sizeof(key) - 1);
    *len += sizeof(key) - 1;
    memcpy(out + *len, cust, clen);
    *len += clen;
    memcpy(out + *len, "}}", 3);
    *len += 2;
done:
    json_object_put(o);
    json_object_put(data);
    free(cust);
    return out;
}
