/* SPDX-License-Identifier: MIT */
/* Unit tests for view.c: every renderer's output is parsed back with json-c
 * and checked against the contract's bodies; view_parse_ttl's accept/reject set. */
#include "view.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

/* Parse text strictly as one complete JSON document; fails the test if it is not. */
static struct json_object *parse_strict(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *obj;

    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    if (!obj || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len)
        fail_msg("not strict JSON: %s", text);
    json_tokener_free(tok);
    return obj;
}

/* Check a rendered body: non-NULL, NUL-terminated at *len, valid JSON. */
static struct json_object *parse_rendered(const char *text, size_t len)
{
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return parse_strict(text, len);
}

/* obj has exactly these keys, in this order. */
static void assert_keys(struct json_object *obj, const char *const *keys, size_t n)
{
    size_t i = 0;

    assert_true(json_object_is_type(obj, json_type_object));
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        if (i >= n)
            fail_msg("unexpected extra key \"%s\"", k);
        if (strcmp(k, keys[i]))
            fail_msg("key %zu is \"%s\", want \"%s\"", i, k, keys[i]);
        i++;
    }
    assert_int_equal(i, n);
}

static struct json_object *get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v))
        fail_msg("missing key \"%s\"", key);
    return v;
}

static void assert_json_null(struct json_object *obj, const char *key)
{
    if (get(obj, key) != NULL)
        fail_msg("\"%s\" is %s, want null", key, json_object_to_json_string(get(obj, key)));
}

static void assert_json_string(struct json_object *obj, const char *key, const char *want)
{
    struct json_object *v = get(obj, key);

    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is not a string", key);
    assert_string_equal(json_object_get_string(v), want);
}

static void assert_json_int(struct json_object *obj, const char *key, int64_t want)
{
    struct json_object *v = get(obj, key);

    if (!json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is not an integer", key);
    assert_true(json_object_get_int64(v) == want);
}

/* A number that reads back as exactly the same double. */
static void assert_json_double(struct json_object *obj, const char *key, double want)
{
    struct json_object *v = get(obj, key);

    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is not a number", key);
    if (json_object_get_double(v) != want)
        fail_msg("\"%s\" is %.17g, want %.17g", key, json_object_get_double(v), want);
}

static const char *const success_keys[] = {"status", "data"};
static const char *const customer_keys[] = {"id", "name", "imported_address", "imported_location", "inferred_location"};
static const char *const location_keys[] = {"latitude", "longitude"};
static const char *const waypoint_keys[] = {
    "id",
    "customer_id",
    "status",
    "completed_timestamp",
    "estimated_time_of_arrival",
    "waypoints_ahead",
    "waiting_time_seconds",
    "route_id",
};

static struct customer sample_customer(void)
{
    struct customer c = {
        .dc_id = "dc1",
        .id = "c1",
        .name = "Acme",
        .imported_address = "1 Market St",
        .imported = {1, 37.77493, -122.41942},
        .inferred = {1, 37.7749, -122.4194},
        .location_confident = 1,
    };

    return c;
}

static void test_customer_full(void **state)
{
    struct customer c = sample_customer();
    struct json_object *root, *data, *cust, *loc;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_customer(&c, &len);
    root = parse_rendered(text, len);
    assert_keys(root, success_keys, 2);
    assert_json_string(root, "status", "success");
    data = get(root, "data");
    {
        static const char *const data_keys[] = {"customer"};

        assert_keys(data, data_keys, 1);
    }
    cust = get(data, "customer");
    assert_keys(cust, customer_keys, 5);
    assert_json_string(cust, "id", "c1");
    assert_json_string(cust, "name", "Acme");
    assert_json_string(cust, "imported_address", "1 Market St");
    loc = get(cust, "imported_location");
    assert_keys(loc, location_keys, 2);
    assert_json_double(loc, "latitude", 37.77493);
    assert_json_double(loc, "longitude", -122.41942);
    loc = get(cust, "inferred_location");
    assert_keys(loc, location_keys, 2);
    assert_json_double(loc, "latitude", 37.7749);
    assert_json_double(loc, "longitude", -122.4194);
    /* The text itself: coordinates written as stored, not as 37.774929999999998. */
    assert_string_equal(text, "{\"status\":\"success\",\"data\":{\"customer\":{\"id\":\"c1\",\"name\":\"Acme\","
                              "\"imported_address\":\"1 Market St\","
                              "\"imported_location\":{\"latitude\":37.77493,\"longitude\":-122.41942},"
                              "\"inferred_location\":{\"latitude\":37.7749,\"longitude\":-122.4194}}}}");
    json_object_put(root);
    free(text);
}

static void test_customer_nulls(void **state)
{
    struct customer c = sample_customer();
    struct json_object *root, *cust;
    size_t len = 0;
    char *text;

    (void)state;
    c.imported_address = NULL;
    c.imported.present = 0;
    c.inferred.present = 0;
    text = view_customer(&c, &len);
    root = parse_rendered(text, len);
    cust = get(get(root, "data"), "customer");
    assert_keys(cust, customer_keys, 5);
    assert_json_null(cust, "imported_address");
    assert_json_null(cust, "imported_location");
    assert_json_null(cust, "inferred_location");
    json_object_put(root);
    free(text);

    /* Only one of the two absent: the other still renders. */
    c = sample_customer();
    c.inferred.present = 0;
    text = view_customer(&c, &len);
    root = parse_rendered(text, len);
    cust = get(get(root, "data"), "customer");
    assert_json_null(cust, "inferred_location");
    assert_json_double(get(cust, "imported_location"), "latitude", 37.77493);
    json_object_put(root);
    free(text);
}

/* Strings are escaped and come back byte for byte; len may be NULL. */
static void test_customer_escaping(void **state)
{
    struct customer c = sample_customer();
    struct json_object *root, *cust;
    char *text;

    (void)state;
    c.id = "c|1\n\"quoted\"\\/";
    c.name = "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80 \t\x01";
    c.imported_address = "</script><b>";
    text = view_customer(&c, NULL);
    assert_non_null(text);
    root = parse_strict(text, strlen(text));
    cust = get(get(root, "data"), "customer");
    assert_json_string(cust, "id", c.id);
    assert_json_string(cust, "name", c.name);
    assert_json_string(cust, "imported_address", c.imported_address);
    json_object_put(root);
    free(text);
}

static void test_number_formatting(void **state)
{
    static const double values[] = {
        37.77493,
        -122.41942,
        0.1,
        0.30000000000000004,
        1e-7,
        -0.000123,
        51.5,
        90,
        -180,
        0,
        45.123456789012345,
        1.0000000000000002,
        2.2250738585072014e-308,
        1.7976931348623157e308,
    };
    struct customer c = sample_customer();

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct json_object *root, *loc;
        size_t len = 0;
        char *text;

        c.imported.latitude = values[i];
        c.imported.longitude = -values[i];
        text = view_customer(&c, &len);
        root = parse_rendered(text, len);
        loc = get(get(get(root, "data"), "customer"), "imported_location");
        assert_json_double(loc, "latitude", values[i]);
        assert_json_double(loc, "longitude", -values[i]);
        json_object_put(root);
        free(text);
    }
    /* The shortest spelling where %.15g is exact. */
    c = sample_customer();
    c.imported.latitude = 0.1;
    c.imported.longitude = 51.5;
    {
        char *text = view_customer(&c, NULL);

        assert_non_null(text);
        assert_non_null(strstr(text, "{\"latitude\":0.1,\"longitude\":51.5}"));
        free(text);
    }
}

/* SQLite stores 9e999 as a REAL infinity, and other programs write the
 * customers table: whatever the double, the body must still be JSON. */
static void test_number_not_finite(void **state)
{
    static const double values[] = {HUGE_VAL, -HUGE_VAL};
    struct customer c = sample_customer();
    size_t bad = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct json_tokener *tok = json_tokener_new();
        struct json_object *obj;
        size_t len = 0;
        char *text;

        assert_non_null(tok);
        c.inferred.latitude = values[i];
        text = view_customer(&c, &len);
        assert_non_null(text);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        obj = json_tokener_parse_ex(tok, text, (int)len);
        if (!obj || json_tokener_get_parse_end(tok) != len) {
            print_error("latitude %g renders as invalid JSON: %s\n", values[i], text);
            bad++;
        }
        json_object_put(obj);
        json_tokener_free(tok);
        free(text);
        text = view_confident_location(&c, &len);
        assert_non_null(text);
        tok = json_tokener_new();
        assert_non_null(tok);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        obj = json_tokener_parse_ex(tok, text, (int)len);
        if (!obj || json_tokener_get_parse_end(tok) != len) {
            print_error("confident latitude %g renders as invalid JSON: %s\n", values[i], text);
            bad++;
        }
        json_object_put(obj);
        json_tokener_free(tok);
        free(text);
    }
    assert_int_equal(bad, 0);
}

static void test_confident_location(void **state)
{
    static const char *const data_keys[] = {"customer_id", "latitude", "longitude"};
    struct customer c = sample_customer();
    struct json_object *root, *data;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_confident_location(&c, &len);
    root = parse_rendered(text, len);
    assert_keys(root, success_keys, 2);
    assert_json_string(root, "status", "success");
    data = get(root, "data");
    assert_keys(data, data_keys, 3);
    assert_json_string(data, "customer_id", "c1");
    assert_json_double(data, "latitude", 37.7749);
    assert_json_double(data, "longitude", -122.4194);
    assert_string_equal(text, "{\"status\":\"success\",\"data\":{\"customer_id\":\"c1\",\"latitude\":37.7749,"
                              "\"longitude\":-122.4194}}");
    json_object_put(root);
    free(text);
}

static void test_waypoints_empty(void **state)
{
    static const char *const keys[] = {"waypoints"};
    struct json_object *root, *arr;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_waypoints(NULL, 0, &len);
    root = parse_rendered(text, len);
    assert_keys(root, keys, 1);
    arr = get(root, "waypoints");
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 0);
    assert_string_equal(text, "{\"waypoints\":[]}");
    json_object_put(root);
    free(text);
}

static void test_waypoints_fields(void **state)
{
    struct waypoint w[2] = {
        {
            .dc_id = "dc1",
            .id = "w2",
            .customer_id = "c1",
            .route_id = "r7",
            .status = "COMPLETED",
            .completed_timestamp = 1700000000123,
            .estimated_time_of_arrival = 1700000600456,
            .waypoints_ahead = 0,
            .waiting_time_seconds = 42,
            .nulls = 0,
        },
        {
            .dc_id = "dc1",
            .id = "w1",
            .customer_id = "c1",
            .route_id = NULL,
            .status = "PENDING",
            .completed_timestamp = 99,
            .estimated_time_of_arrival = 99,
            .waypoints_ahead = 99,
            .waiting_time_seconds = 99,
            .nulls = WAYPOINT_NULL_COMPLETED | WAYPOINT_NULL_ETA | WAYPOINT_NULL_AHEAD | WAYPOINT_NULL_WAITING,
        },
    };
    struct json_object *root, *arr, *o;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_waypoints(w, 2, &len);
    root = parse_rendered(text, len);
    arr = get(root, "waypoints");
    assert_int_equal(json_object_array_length(arr), 2);

    o = json_object_array_get_idx(arr, 0);
    assert_keys(o, waypoint_keys, 8);
    assert_json_string(o, "id", "w2");
    assert_json_string(o, "customer_id", "c1");
    assert_json_string(o, "status", "COMPLETED");
    assert_json_int(o, "completed_timestamp", 1700000000123);
    assert_json_int(o, "estimated_time_of_arrival", 1700000600456);
    assert_json_int(o, "waypoints_ahead", 0);
    assert_json_int(o, "waiting_time_seconds", 42);
    assert_json_string(o, "route_id", "r7");

    o = json_object_array_get_idx(arr, 1);
    assert_keys(o, waypoint_keys, 8);
    assert_json_string(o, "id", "w1");
    assert_json_string(o, "status", "PENDING");
    assert_json_null(o, "completed_timestamp");
    assert_json_null(o, "estimated_time_of_arrival");
    assert_json_null(o, "waypoints_ahead");
    assert_json_null(o, "waiting_time_seconds");
    assert_json_null(o, "route_id");

    assert_string_equal(text, "{\"waypoints\":[{\"id\":\"w2\",\"customer_id\":\"c1\",\"status\":\"COMPLETED\","
                              "\"completed_timestamp\":1700000000123,\"estimated_time_of_arrival\":1700000600456,"
                              "\"waypoints_ahead\":0,\"waiting_time_seconds\":42,\"route_id\":\"r7\"},"
                              "{\"id\":\"w1\",\"customer_id\":\"c1\",\"status\":\"PENDING\","
                              "\"completed_timestamp\":null,\"estimated_time_of_arrival\":null,"
                              "\"waypoints_ahead\":null,\"waiting_time_seconds\":null,\"route_id\":null}]}");
    json_object_put(root);
    free(text);
}

/* Each null bit nulls exactly its own field, and order is kept. */
static void test_waypoints_each_null_bit(void **state)
{
    static const struct {
        unsigned bit;
        const char *field;
    } bits[] = {
        {WAYPOINT_NULL_COMPLETED, "completed_timestamp"},
        {WAYPOINT_NULL_ETA, "estimated_time_of_arrival"},
        {WAYPOINT_NULL_AHEAD, "waypoints_ahead"},
        {WAYPOINT_NULL_WAITING, "waiting_time_seconds"},
    };
    static const char *const ints[] = {"completed_timestamp", "estimated_time_of_arrival", "waypoints_ahead",
                                       "waiting_time_seconds"};

    (void)state;
    for (size_t b = 0; b < 4; b++) {
        struct waypoint w = {
            .dc_id = "dc1",
            .id = "w",
            .customer_id = "c",
            .route_id = "r",
            .status = "FAILED",
            .completed_timestamp = 1,
            .estimated_time_of_arrival = 2,
            .waypoints_ahead = 3,
            .waiting_time_seconds = 4,
            .nulls = bits[b].bit,
        };
        struct json_object *root, *o;
        size_t len = 0;
        char *text = view_waypoints(&w, 1, &len);

        root = parse_rendered(text, len);
        o = json_object_array_get_idx(get(root, "waypoints"), 0);
        assert_keys(o, waypoint_keys, 8);
        for (size_t i = 0; i < 4; i++) {
            if (!strcmp(ints[i], bits[b].field))
                assert_json_null(o, ints[i]);
            else
                assert_json_int(o, ints[i], (int64_t)i + 1);
        }
        assert_json_string(o, "route_id", "r");
        assert_json_string(o, "status", "FAILED");
        json_object_put(root);
        free(text);
    }
}

static void test_waypoints_many_and_large_ints(void **state)
{
    struct waypoint w[10];
    char ids[10][16]; /* room for any int: gcc -O1 -fsanitize=thread checks */
    struct json_object *root, *arr;
    size_t len = 0;
    char *text;

    (void)state;
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof(ids[i]), "w%d", 9 - i);
        w[i].dc_id = "dc1";
        w[i].id = ids[i];
        w[i].customer_id = "c\xc3\xbc";
        w[i].status = "SKIPPED";
        w[i].completed_timestamp = INT64_MAX - i;
        w[i].estimated_time_of_arrival = INT64_MIN + i;
        w[i].waypoints_ahead = -i;
        w[i].waiting_time_seconds = (int64_t)1 << 53 | 1; /* not exact as a double */
    }
    text = view_waypoints(w, 10, &len);
    root = parse_rendered(text, len);
    arr = get(root, "waypoints");
    assert_int_equal(json_object_array_length(arr), 10);
    for (int i = 0; i < 10; i++) {
        struct json_object *o = json_object_array_get_idx(arr, (size_t)i);

        assert_keys(o, waypoint_keys, 8);
        assert_json_string(o, "id", ids[i]); /* the given order is kept */
        assert_json_string(o, "customer_id", "c\xc3\xbc");
        assert_json_string(o, "status", "SKIPPED");
        assert_json_int(o, "completed_timestamp", INT64_MAX - i);
        assert_json_int(o, "estimated_time_of_arrival", INT64_MIN + i);
        assert_json_int(o, "waypoints_ahead", -i);
        assert_json_int(o, "waiting_time_seconds", (int64_t)1 << 53 | 1);
    }
    json_object_put(root);
    free(text);
}

static void test_error(void **state)
{
    static const char *const data_keys[] = {"code", "message"};
    static const char *const error_keys[] = {"status", "data"};
    struct json_object *root, *data;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_error(VIEW_CODE_NOT_CONFIDENT, "Customer location not confident", &len);
    root = parse_rendered(text, len);
    assert_keys(root, error_keys, 2);
    assert_json_string(root, "status", "error");
    data = get(root, "data");
    assert_keys(data, data_keys, 2);
    assert_json_int(data, "code", 7001);
    assert_json_string(data, "message", "Customer location not confident");
    assert_string_equal(text, "{\"status\":\"error\",\"data\":{\"code\":7001,"
                              "\"message\":\"Customer location not confident\"}}");
    json_object_put(root);
    free(text);

    text = view_error(404, "a \"quoted\" \\ /message\n", &len);
    root = parse_rendered(text, len);
    data = get(root, "data");
    assert_json_int(data, "code", 404);
    assert_json_string(data, "message", "a \"quoted\" \\ /message\n");
    json_object_put(root);
    free(text);
}

static void test_token(void **state)
{
    static const char *const data_keys[] = {"token", "expires_at"};
    struct json_object *root, *data;
    size_t len = 0;
    char *text;

    (void)state;
    text = view_token("wpt_AbC-_09", 1700000000123, &len);
    root = parse_rendered(text, len);
    assert_keys(root, success_keys, 2);
    assert_json_string(root, "status", "success");
    data = get(root, "data");
    assert_keys(data, data_keys, 2);
    assert_json_string(data, "token", "wpt_AbC-_09");
    assert_json_int(data, "expires_at", 1700000000123);
    assert_string_equal(text, "{\"status\":\"success\",\"data\":{\"token\":\"wpt_AbC-_09\","
                              "\"expires_at\":1700000000123}}");
    json_object_put(root);
    free(text);

    /* Epoch milliseconds beyond 2^53 stay exact. */
    text = view_token("t", 9007199254740993, &len);
    root = parse_rendered(text, len);
    assert_json_int(get(root, "data"), "expires_at", 9007199254740993);
    json_object_put(root);
    free(text);
}

/* view_parse_ttl on a NUL-terminated literal, ttl preset to a sentinel. */
static int ttl_of(const char *body, long *ttl)
{
    *ttl = -12345;
    return view_parse_ttl(body, strlen(body), 1, 2592000, ttl);
}

static void test_parse_ttl_accepts(void **state)
{
    static const struct {
        const char *body;
        long want;
    } ok[] = {
        {"", -12345}, /* empty body: unchanged (the default stays) */
        {"{}", -12345},
        {"{\"ttl_seconds\":60}", 60},
        {"{\"ttl_seconds\":1}", 1},
        {"{\"ttl_seconds\":2592000}", 2592000},
        {" { \"ttl_seconds\" : 3600 } ", 3600},
        {"{\"ttl_seconds\":86400}\n", 86400},
        {"{\"ttl_seconds\":86400}\r\n", 86400},
    };
    long ttl;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int rc = ttl_of(ok[i].body, &ttl);

        if (rc != 0 || ttl != ok[i].want)
            fail_msg("\"%s\": rc %d ttl %ld, want 0 and %ld", ok[i].body, rc, ttl, ok[i].want);
    }
    /* min and max are the caller's. */
    ttl = 0;
    assert_int_equal(view_parse_ttl("{\"ttl_seconds\":5}", 17, 5, 5, &ttl), 0);
    assert_int_equal(ttl, 5);
    assert_int_equal(view_parse_ttl("{\"ttl_seconds\":6}", 17, 5, 5, &ttl), -EINVAL);
    assert_int_equal(view_parse_ttl("{\"ttl_seconds\":4}", 17, 5, 5, &ttl), -EINVAL);
    assert_int_equal(ttl, 5);
}

static void test_parse_ttl_rejects(void **state)
{
    static const char *const bad[] = {
        "{\"other\":1}",                          /* a misspelt key must not mean the default */
        "{\"ttl\":60}",
        "{\"a\":[1,{\"b\":null}],\"ttl_seconds\":7}", /* nothing but ttl_seconds */
        "{\"ttl_seconds\":0}",
        "{\"ttl_seconds\":-1}",
        "{\"ttl_seconds\":2592001}",
        "{\"ttl_seconds\":4294967356}",           /* 60 + 2^32: no truncation to 60 */
        "{\"ttl_seconds\":18446744073709551676}", /* past uint64 */
        "{\"ttl_seconds\":99999999999999999999}",
        "{\"ttl_seconds\":-99999999999999999999}",
        "{\"ttl_seconds\":\"x\"}",
        "{\"ttl_seconds\":\"60\"}",
        "{\"ttl_seconds\":1.5}",
        "{\"ttl_seconds\":null}",
        "{\"ttl_seconds\":true}",
        "{\"ttl_seconds\":[60]}",
        "{\"ttl_seconds\":{\"n\":60}}",
        "x",
        "60",
        "\"x\"",
        "null",
        "true",
        "[60]",
        "[{\"ttl_seconds\":60}]",
        "{\"ttl_seconds\":60}x",
        "{\"ttl_seconds\":60} x",
        "{\"ttl_seconds\":60}{}",
        "{\"ttl_seconds\":60",
        "{\"ttl_seconds\":",
        "{",
        " ",
        "\n",
    };
    long ttl;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ttl_of(bad[i], &ttl);

        if (rc != -EINVAL)
            fail_msg("\"%s\": rc %d ttl %ld, want -EINVAL", bad[i], rc, ttl);
        if (ttl != -12345)
            fail_msg("\"%s\": ttl changed to %ld on failure", bad[i], ttl);
    }
}

/* Only len bytes are read, and the body need not be NUL-terminated. */
static void test_parse_ttl_respects_len(void **state)
{
    static const char text[] = "{\"ttl_seconds\":90}";
    char *body = malloc(sizeof(text) - 1);
    long ttl = 0;

    (void)state;
    assert_non_null(body);
    memcpy(body, text, sizeof(text) - 1);
    assert_int_equal(view_parse_ttl(body, sizeof(text) - 1, 1, 2592000, &ttl), 0);
    assert_int_equal(ttl, 90);
    /* A prefix is an unfinished value. */
    assert_int_equal(view_parse_ttl(body, sizeof(text) - 2, 1, 2592000, &ttl), -EINVAL);
    free(body);
    /* Bytes past len are not part of the body. */
    ttl = 0;
    assert_int_equal(view_parse_ttl("{\"ttl_seconds\":90}GARBAGE", 18, 1, 2592000, &ttl), 0);
    assert_int_equal(ttl, 90);
    /* An embedded NUL inside len is garbage, not an end. */
    assert_int_equal(view_parse_ttl("{\"ttl_seconds\":90}\0", 19, 1, 2592000, &ttl), -EINVAL);
}

/* A body that is not JSON (RFC 8259) is malformed, even where json-c's
 * lenient mode would read it: single quotes, leading zeros, trailing commas. */
static void test_parse_ttl_rejects_non_json(void **state)
{
    static const char *const bad[] = {
        "{'ttl_seconds':60}",
        "{\"ttl_seconds\":060}",
        "{\"ttl_seconds\":60,}",
    };
    size_t accepted = 0;
    long ttl;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ttl_of(bad[i], &ttl);

        if (rc != -EINVAL) {
            print_error("\"%s\" is not JSON: rc %d ttl %ld, want -EINVAL\n", bad[i], rc, ttl);
            accepted++;
        }
    }
    assert_int_equal(accepted, 0);
}

/* Parse a NUL-terminated live message; rc, and the parts through out. */
static int client_msg(const char *text, struct view_client_msg *out)
{
    const char *why = NULL;
    int rc = view_parse_client_msg(text, strlen(text), out, &why);

    assert_non_null(why);
    return rc;
}

static void test_client_msg_accepts_and_echoes_ids(void **state)
{
    static const struct {
        const char *text, *id;
    } ok[] = {
        {"{\"type\":\"ping\",\"id\":1}", "1"},
        {"{\"type\":\"ping\",\"id\":\"a\\u00e9\"}", "\"a\u00e9\""},
        {"{\"type\":\"ping\",\"id\":9223372036854775807}", "9223372036854775807"},
        {"{\"type\":\"ping\",\"id\":18446744073709551614}", "18446744073709551614"},
        {"{\"type\":\"ping\",\"id\":-9223372036854775807}", "-9223372036854775807"},
        {"{\"type\":\"ping\"}", "null"},
    };
    struct view_client_msg m;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (client_msg(ok[i].text, &m) != 0 || strcmp(m.id_json, ok[i].id))
            fail_msg("%s: id %s, want %s", ok[i].text, m.id_json ? m.id_json : "(none)", ok[i].id);
        view_client_msg_clear(&m);
    }
    assert_int_equal(client_msg("{\"type\":\"subscribe\",\"id\":\"s\",\"dc_id\":\"d\",\"customer_id\":\"c\","
                                "\"since\":41}", &m), 0);
    assert_int_equal(m.type, VIEW_MSG_SUBSCRIBE);
    assert_string_equal(m.dc_id, "d");
    assert_string_equal(m.customer_id, "c");
    assert_int_equal(m.since, 41);
    view_client_msg_clear(&m);
}

static void test_client_msg_rejects(void **state)
{
    static const char *const bad[] = {
        /* integers json-c would clamp cannot be echoed unchanged */
        "{\"type\":\"ping\",\"id\":123456789012345678901234567890}",
        "{\"type\":\"ping\",\"id\":18446744073709551616}",
        "{\"type\":\"ping\",\"id\":-12345678901234567890123}",
        "{\"type\":\"ping\",\"id\":[1]}",
        /* json-c takes these, but they are not JSON and cannot be echoed */
        "{\"type\":\"ping\",\"id\":NaN}",
        "{\"type\":\"ping\",\"id\":-Infinity}",
        "{\"type\":\"ping\",\"id\":00.5}",
        "{\"type\":\"ping\",\"id\":1.}",
        "{\"type\":\"pong\",\"id\":1}",
        /* a NUL would shorten an id to another one */
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"customer_id\":\"c1\\u0000evil\"}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\\u0000x\"}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":7}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"since\":-1}",
        "[1]",
        "{\"type\":\"ping\"",
    };
    struct view_client_msg m;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (client_msg(bad[i], &m) != -EINVAL)
            fail_msg("%s: accepted", bad[i]);
        view_client_msg_clear(&m);
    }
}

static void test_client_msg_notices(void **state)
{
    struct view_client_msg m;

    (void)state;
    assert_int_equal(client_msg("{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\"}", &m), 0);
    assert_int_equal(m.notices.wanted, 0);
    view_client_msg_clear(&m);
    assert_int_equal(client_msg("{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":"
                                "{\"stops\":[3,1],\"minutes\":[10],\"eta_change_minutes\":5}}", &m), 0);
    assert_int_equal(m.notices.wanted, 1);
    assert_int_equal(m.notices.nstops, 2);
    assert_int_equal(m.notices.stops[0], 3);
    assert_int_equal(m.notices.stops[1], 1);
    assert_int_equal(m.notices.nminutes, 1);
    assert_int_equal(m.notices.minutes[0], 10);
    assert_int_equal(m.notices.eta_change_minutes, 5);
    view_client_msg_clear(&m);
    /* an empty object asks for notices with no thresholds: accepted, wanted */
    assert_int_equal(client_msg("{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{}}", &m), 0);
    assert_int_equal(m.notices.wanted, 1);
    assert_int_equal(m.notices.nstops + m.notices.nminutes, 0);
    view_client_msg_clear(&m);
}

static void test_client_msg_notices_rejects(void **state)
{
    static const char *const bad[] = {
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":[3]}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":null}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[0]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[-1]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[241]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[1.5]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[\"3\"]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":[1,2,3,4,5]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stops\":3}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"minutes\":[0]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"eta_change_minutes\":0}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"eta_change_minutes\":[5]}}",
        "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d\",\"notices\":{\"stop\":[3]}}",
    };
    struct view_client_msg m;
    const char *why = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (view_parse_client_msg(bad[i], strlen(bad[i]), &m, &why) != -EINVAL)
            fail_msg("%s: accepted", bad[i]);
        if (!why || !strstr(why, "notices"))
            fail_msg("%s: reason %s", bad[i], why ? why : "(none)");
        view_client_msg_clear(&m);
    }
}

static void test_live_notice_render(void **state)
{
    struct view_notice n = {.seq = 42, .dc_id = "d", .customer_id = "c", .waypoint_id = "w",
                            .by_stops = 1, .threshold = 3, .value = 2};
    unsigned char *out;
    size_t len = 0;

    (void)state;
    out = view_live_notice(&n, 0, &len);
    assert_non_null(out);
    assert_string_equal((char *)out, "{\"type\":\"notice\",\"seq\":42,\"dc_id\":\"d\",\"customer_id\":\"c\","
                                     "\"waypoint_id\":\"w\",\"kind\":\"approaching\",\"by\":\"stops\","
                                     "\"threshold\":3,\"value\":2}");
    assert_int_equal(len, strlen((char *)out));
    free(out);
    n.by_stops = 0;
    n.threshold = 10;
    n.value = 9;
    out = view_live_notice(&n, 16, &len);
    assert_non_null(out);
    assert_string_equal((char *)out + 16, "{\"type\":\"notice\",\"seq\":42,\"dc_id\":\"d\",\"customer_id\":\"c\","
                                          "\"waypoint_id\":\"w\",\"kind\":\"approaching\",\"by\":\"minutes\","
                                          "\"threshold\":10,\"value\":9}");
    free(out);
    n.eta_changed = 1;
    n.threshold = 5;
    n.value = -6;
    n.eta = 1000;
    n.previous_eta = 361000;
    out = view_live_notice(&n, 0, &len);
    assert_non_null(out);
    assert_string_equal((char *)out, "{\"type\":\"notice\",\"seq\":42,\"dc_id\":\"d\",\"customer_id\":\"c\","
                                     "\"waypoint_id\":\"w\",\"kind\":\"eta_changed\",\"by\":\"minutes\","
                                     "\"threshold\":5,\"value\":-6,\"eta\":1000,\"previous_eta\":361000}");
    free(out);
}

/* The event stream's query form of notices: same bounds as the JSON one. */
static void test_notices_query(void **state)
{
    struct view_notices n;

    (void)state;
    assert_int_equal(view_parse_notices_query(NULL, NULL, NULL, &n), 0);
    assert_int_equal(n.wanted, 0);
    assert_int_equal(view_parse_notices_query("3,1", "10", "5", &n), 0);
    assert_int_equal(n.wanted, 1);
    assert_int_equal(n.nstops, 2);
    assert_int_equal(n.stops[0], 3);
    assert_int_equal(n.stops[1], 1);
    assert_int_equal(n.nminutes, 1);
    assert_int_equal(n.minutes[0], 10);
    assert_int_equal(n.eta_change_minutes, 5);
    assert_int_equal(view_parse_notices_query("240,1,2,3", NULL, NULL, &n), 0);
    const char *bad[] = {"", "0", "241", "1,", ",1", "1,2,3,4,5", "a", "1 ", "-1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(view_parse_notices_query(bad[i], NULL, NULL, &n), -EINVAL);
        assert_int_equal(n.wanted, 0);
        assert_int_equal(view_parse_notices_query(NULL, bad[i], NULL, &n), -EINVAL);
    }
    assert_int_equal(view_parse_notices_query(NULL, NULL, "1,2", &n), -EINVAL);
    assert_int_equal(view_parse_notices_query(NULL, NULL, "0", &n), -EINVAL);
}

/* A snapshot rendered once and spliced into each subscriber's message
 * (view_live_waypoints + view_live_subscribed_with) is the very message
 * view_live_subscribed makes, byte for byte: for 0, 1 and many waypoints,
 * hostile strings, NULL columns, request ids of every kind, and headroom. */
static void test_live_subscribed_with_shared_snapshot(void **state)
{
    static char *hostile[] = {"w\"q", "back\\slash", "a/b</script>", "\x01\x1f ctl", "\xc3\xa9t\xc3\xa9",
                              "\xe2\x80\xa8 sep", "", "x"};
    static const char *ids[] = {"1", "\"s\"", "null", "{\"k\":[1,2]}", "not json"};
    struct waypoint w[64];
    size_t counts[] = {0, 1, 2, 64};

    (void)state;
    for (size_t i = 0; i < 64; i++)
        w[i] = (struct waypoint){.dc_id = "dc\"1", .id = hostile[i % 8], .customer_id = hostile[(i + 3) % 8],
                                 .route_id = i % 5 ? hostile[(i + 1) % 8] : NULL, .status = "PENDING",
                                 .completed_timestamp = (int64_t)i, .estimated_time_of_arrival = INT64_MAX - (int64_t)i,
                                 .waypoints_ahead = -(int64_t)i, .waiting_time_seconds = 7, .nulls = (unsigned)i % 16};
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
        for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
            size_t a_len = 0, b_len = 0, wlen = 0;
            const char *cust = k % 2 ? NULL : "c/\u00e9";
            unsigned char *a = view_live_subscribed(ids[k], "dc\"1", cust, 42 + (int64_t)c, 0, w, counts[c], 16,
                                                    &a_len);
            char *arr = view_live_waypoints(w, counts[c], &wlen);
            unsigned char *b;

            assert_non_null(a);
            assert_non_null(arr);
            assert_int_equal(strlen(arr), wlen);
            b = view_live_subscribed_with(ids[k], "dc\"1", cust, 42 + (int64_t)c, arr, wlen, 16, &b_len);
            assert_non_null(b);
            assert_int_equal(a_len, b_len);
            assert_memory_equal(a + 16, b + 16, a_len + 1); /* with its NUL */
            free(a);
            free(b);
            free(arr);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_full),
        cmocka_unit_test(test_customer_nulls),
        cmocka_unit_test(test_customer_escaping),
        cmocka_unit_test(test_number_formatting),
        cmocka_unit_test(test_number_not_finite),
        cmocka_unit_test(test_confident_location),
        cmocka_unit_test(test_waypoints_empty),
        cmocka_unit_test(test_waypoints_fields),
        cmocka_unit_test(test_waypoints_each_null_bit),
        cmocka_unit_test(test_waypoints_many_and_large_ints),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_parse_ttl_accepts),
        cmocka_unit_test(test_parse_ttl_rejects),
        cmocka_unit_test(test_parse_ttl_respects_len),
        cmocka_unit_test(test_parse_ttl_rejects_non_json),
        cmocka_unit_test(test_client_msg_accepts_and_echoes_ids),
        cmocka_unit_test(test_client_msg_rejects),
        cmocka_unit_test(test_client_msg_notices),
        cmocka_unit_test(test_client_msg_notices_rejects),
        cmocka_unit_test(test_live_notice_render),
        cmocka_unit_test(test_notices_query),
        cmocka_unit_test(test_live_subscribed_with_shared_snapshot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
