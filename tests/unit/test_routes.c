/* SPDX-License-Identifier: MIT */
/* Unit tests for routes.c: every status of the contract's HTTPS API, with the
 * exact bodies, against a real migrated database in a temporary file. */
#include "routes.h"
#include "cache.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "auth.h"

#define NOW 1700000000000LL

/* A database with two DCs, customers in every location state, 12 waypoints
 * for dc1/c1, and API keys of each kind; the Authorization headers to use. */
struct fixture {
    char path[64];
    struct store *store;
    uint8_t secret[STORE_SECRET_LEN];
    struct routes_ctx ctx;
    char k_dc1[AUTH_KEY_LEN + 16];     /* "Bearer " + key allowed on dc1 */
    char k_dc2[AUTH_KEY_LEN + 16];     /* allowed on dc2 only */
    char k_all[AUTH_KEY_LEN + 16];     /* allowed on every DC */
    char k_ghost[AUTH_KEY_LEN + 16];   /* allowed on "ghost", which does not exist */
    char k_revoked[AUTH_KEY_LEN + 16]; /* was allowed on every DC */
    char k_unknown[AUTH_KEY_LEN + 16]; /* never stored */
    char t_c1[AUTH_TOKEN_MAX + 16];    /* "Bearer " + token for dc1/c1 */
};

/* Insertion order of dc1/c1's waypoints; newest (last) first in answers. */
static const char *const wp_ids[12] = {"w05", "w11", "w01", "w09", "w03", "w12", "w02", "w08", "w10", "w04", "w07", "w06"};

static void sql(sqlite3 *db, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s: %s\n", text, msg ? msg : "?");
        sqlite3_free(msg);
        fail();
    }
}

static void add_key(struct fixture *f, const char *name, int all_dcs, const char *dc, char *header, size_t cap)
{
    char key[AUTH_KEY_LEN + 1];
    uint8_t hash[STORE_KEY_HASH_LEN];
    const char *dcs[1] = {dc};

    assert_int_equal(auth_key_generate(key, sizeof(key)), 0);
    snprintf(header, cap, "Bearer %s", key);
    if (!name)
        return;
    auth_key_hash(key, strlen(key), hash);
    assert_int_equal(store_key_insert(f->store, name, hash, all_dcs, dc ? dcs : NULL, dc ? 1 : 0), 0);
}

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char stmt[512], token[AUTH_TOKEN_MAX];
    sqlite3 *db;
    int fd;

    assert_non_null(f);
    snprintf(f->path, sizeof(f->path), "/tmp/waypointd-test-routes-XXXXXX");
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->store, NULL, 0), 0);
    assert_int_equal(store_migrate(f->store), 0);
    assert_int_equal(store_secret_get(f->store, f->secret), 0);
    f->ctx.store = f->store;
    f->ctx.secret = f->secret;
    f->ctx.now_ms = NOW;

    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sql(db, "INSERT INTO dcs(id, name) VALUES ('dc1', 'One'), ('dc2', 'Two');"
            "INSERT INTO customers VALUES"
            " ('dc1', 'c1', 'Acme', '1 Market St', 37.77493, -122.41942, 37.7749, -122.4194, 1),"
            " ('dc1', 'c2', 'Unsure', NULL, NULL, NULL, 40.5, -3.25, 0),"
            " ('dc1', 'c3', 'Confident but nowhere', NULL, 1.5, NULL, NULL, NULL, 1),"
            " ('dc1', 'c4', 'Half inferred', 'Somewhere', 1.5, 2.5, 10.0, NULL, 1),"
            " ('dc2', 'c9', 'Far away', NULL, NULL, NULL, NULL, NULL, 0);");
    for (int i = 0; i < 12; i++) {
        snprintf(stmt, sizeof(stmt),
                 "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,"
                 " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                 " VALUES ('dc1', '%s', 'c1', %s, '%s', %s, %lld, %d, %d);"
                 "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'o%s', 'c2');",
                 wp_ids[i], i % 2 ? "NULL" : "'r1'", i % 3 ? "PENDING" : "COMPLETED", i % 3 ? "NULL" : "1700000000500",
                 1700000100000LL + i, i, 30 * i, wp_ids[i]);
        sql(db, stmt);
    }
    sqlite3_close(db);

    add_key(f, "dc1", 0, "dc1", f->k_dc1, sizeof(f->k_dc1));
    add_key(f, "dc2", 0, "dc2", f->k_dc2, sizeof(f->k_dc2));
    add_key(f, "all", 1, NULL, f->k_all, sizeof(f->k_all));
    add_key(f, "ghost", 0, "ghost", f->k_ghost, sizeof(f->k_ghost));
    add_key(f, "revoked", 1, NULL, f->k_revoked, sizeof(f->k_revoked));
    assert_int_equal(store_key_revoke(f->store, "revoked"), 0);
    add_key(f, NULL, 0, NULL, f->k_unknown, sizeof(f->k_unknown));
    assert_int_equal(auth_token_create(f->secret, "dc1", "c1", NOW + 3600000, token, sizeof(token)), 0);
    snprintf(f->t_c1, sizeof(f->t_c1), "Bearer %s", token);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    char side[80];

    store_close(f->store);
    unlink(f->path);
    snprintf(side, sizeof(side), "%s-wal", f->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", f->path);
    unlink(side);
    free(f);
    return 0;
}

/* Run one request; routes_handle always answers. */
static void request(struct fixture *f, const char *method, const char *path, const char *auth, const char *body,
                    struct routes_response *resp)
{
    struct routes_request req = {method, path, auth, body, body ? strlen(body) : 0};

    memset(resp, 0x5a, sizeof(*resp)); /* routes_handle must fill it all */
    assert_int_equal(routes_handle(&f->ctx, &req, resp), 0);
}

/* Parse a JSON body strictly; fails the test if it is not one JSON document. */
static struct json_object *parse_body(const struct routes_response *resp)
{
    struct json_tokener *tok;
    struct json_object *obj;

    assert_non_null(resp->body);
    assert_int_equal(strlen(resp->body), resp->body_len);
    tok = json_tokener_new();
    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, resp->body, (int)resp->body_len);
    if (!obj || json_tokener_get_parse_end(tok) != resp->body_len)
        fail_msg("body is not JSON: %s", resp->body);
    json_tokener_free(tok);
    return obj;
}

static struct json_object *get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v))
        fail_msg("missing key \"%s\" in %s", key, json_object_to_json_string(obj));
    return v;
}

static void assert_keys(struct json_object *obj, const char *const *keys, size_t n)
{
    size_t i = 0;

    assert_true(json_object_is_type(obj, json_type_object));
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        if (i >= n || strcmp(k, keys[i]))
            fail_msg("key %zu is \"%s\" in %s", i, k, json_object_to_json_string(obj));
        i++;
    }
    assert_int_equal(i, n);
}

/* The error envelope, exactly: {"status":"error","data":{"code":code,"message":"..."}}. */
static void assert_error(const struct routes_response *resp, int status, int code, const char *message)
{
    static const char *const top[] = {"status", "data"};
    static const char *const data_keys[] = {"code", "message"};
    struct json_object *root, *data, *v;

    if (resp->status != status)
        fail_msg("status %d, want %d; body %s", resp->status, status, resp->body ? resp->body : "(null)");
    root = parse_body(resp);
    assert_keys(root, top, 2);
    assert_string_equal(json_object_get_string(get(root, "status")), "error");
    data = get(root, "data");
    assert_keys(data, data_keys, 2);
    v = get(data, "code");
    assert_true(json_object_is_type(v, json_type_int));
    assert_int_equal(json_object_get_int64(v), code);
    v = get(data, "message");
    assert_true(json_object_is_type(v, json_type_string));
    assert_true(json_object_get_string_len(v) > 0);
    if (message)
        assert_string_equal(json_object_get_string(v), message);
    json_object_put(root);
    if (status != 405)
        assert_null(resp->allow);
}

static void expect_error(struct fixture *f, const char *method, const char *path, const char *auth, const char *body, int status,
                         int code)
{
    struct routes_response resp;

    request(f, method, path, auth, body, &resp);
    assert_error(&resp, status, code, NULL);
    routes_response_clear(&resp);
}

static void test_get_customer(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;

    request(f, "GET", "/dcs/dc1/customers/c1", f->k_dc1, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_null(resp.allow);
    assert_non_null(resp.body);
    assert_int_equal(strlen(resp.body), resp.body_len);
    assert_string_equal(resp.body, "{\"status\":\"success\",\"data\":{\"customer\":{\"id\":\"c1\",\"name\":\"Acme\","
                                   "\"imported_address\":\"1 Market St\","
                                   "\"imported_location\":{\"latitude\":37.77493,\"longitude\":-122.41942},"
                                   "\"inferred_location\":{\"latitude\":37.7749,\"longitude\":-122.4194}}}}");
    routes_response_clear(&resp);

    /* Nulls: no address, no imported location, one inferred column only. */
    request(f, "GET", "/dcs/dc1/customers/c2", f->k_all, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"status\":\"success\",\"data\":{\"customer\":{\"id\":\"c2\",\"name\":\"Unsure\","
                                   "\"imported_address\":null,\"imported_location\":null,"
                                   "\"inferred_location\":{\"latitude\":40.5,\"longitude\":-3.25}}}}");
    routes_response_clear(&resp);
    request(f, "GET", "/dcs/dc1/customers/c4", f->k_all, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"status\":\"success\",\"data\":{\"customer\":{\"id\":\"c4\","
                                   "\"name\":\"Half inferred\",\"imported_address\":\"Somewhere\","
                                   "\"imported_location\":{\"latitude\":1.5,\"longitude\":2.5},"
                                   "\"inferred_location\":null}}}");
    routes_response_clear(&resp);
    request(f, "GET", "/dcs/dc2/customers/c9", f->k_dc2, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"status\":\"success\",\"data\":{\"customer\":{\"id\":\"c9\",\"name\":\"Far away\","
                                   "\"imported_address\":null,\"imported_location\":null,\"inferred_location\":null}}}");
    routes_response_clear(&resp);
}

static void test_get_confident_location(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;

    request(f, "GET", "/dcs/dc1/customers/c1/confident-location", f->k_dc1, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_null(resp.allow);
    assert_string_equal(resp.body, "{\"status\":\"success\",\"data\":{\"customer_id\":\"c1\","
                                   "\"latitude\":37.7749,\"longitude\":-122.4194}}");
    assert_int_equal(strlen(resp.body), resp.body_len);
    routes_response_clear(&resp);
}

/* 400 with code 7001 whenever there is no confident inferred location. */
static void test_not_confident(void **state)
{
    static const char *const paths[] = {
        "/dcs/dc1/customers/c2/confident-location", /* inferred but not confident */
        "/dcs/dc1/customers/c3/confident-location", /* confident flag but no inferred location */
        "/dcs/dc1/customers/c4/confident-location", /* confident flag, one inferred column NULL */
        "/dcs/dc2/customers/c9/confident-location", /* nothing at all */
    };
    struct fixture *f = *state;
    struct routes_response resp;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        request(f, "GET", paths[i], f->k_all, NULL, &resp);
        assert_error(&resp, 400, 7001, "Customer location not confident");
        routes_response_clear(&resp);
    }
}

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

static void test_get_waypoints(void **state)
{
    static const char *const top[] = {"waypoints"};
    struct fixture *f = *state;
    struct routes_response resp;
    struct json_object *root, *arr;

    request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc1, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_null(resp.allow);
    root = parse_body(&resp);
    assert_keys(root, top, 1);
    arr = get(root, "waypoints");
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 10);
    for (int i = 0; i < 10; i++) {
        struct json_object *o = json_object_array_get_idx(arr, (size_t)i);
        int row = 11 - i; /* insertion index: newest first */

        assert_keys(o, waypoint_keys, 8);
        assert_string_equal(json_object_get_string(get(o, "id")), wp_ids[row]);
        assert_string_equal(json_object_get_string(get(o, "customer_id")), "c1");
        assert_string_equal(json_object_get_string(get(o, "status")), row % 3 ? "PENDING" : "COMPLETED");
        if (row % 3)
            assert_null(get(o, "completed_timestamp"));
        else
            assert_true(json_object_get_int64(get(o, "completed_timestamp")) == 1700000000500LL);
        assert_true(json_object_get_int64(get(o, "estimated_time_of_arrival")) == 1700000100000LL + row);
        assert_int_equal(json_object_get_int64(get(o, "waypoints_ahead")), row);
        assert_int_equal(json_object_get_int64(get(o, "waiting_time_seconds")), 30 * row);
        if (row % 2)
            assert_null(get(o, "route_id"));
        else
            assert_string_equal(json_object_get_string(get(o, "route_id")), "r1");
    }
    json_object_put(root);
    /* The newest one, as text. */
    assert_non_null(strstr(resp.body, "{\"waypoints\":[{\"id\":\"w06\",\"customer_id\":\"c1\",\"status\":\"PENDING\","
                                      "\"completed_timestamp\":null,\"estimated_time_of_arrival\":1700000100011,"
                                      "\"waypoints_ahead\":11,\"waiting_time_seconds\":330,\"route_id\":null},"));
    assert_ptr_equal(strstr(resp.body, "{\"waypoints\":["), resp.body);
    routes_response_clear(&resp);
}

static void test_waypoints_unknown_customer(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;

    request(f, "GET", "/dcs/dc1/customers/nobody/waypoints", f->k_dc1, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"waypoints\":[]}");
    assert_int_equal(resp.body_len, strlen("{\"waypoints\":[]}"));
    routes_response_clear(&resp);
    /* A customer of another DC is unknown here too. */
    request(f, "GET", "/dcs/dc1/customers/c9/waypoints", f->k_all, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"waypoints\":[]}");
    routes_response_clear(&resp);
    /* A known customer without waypoints. */
    request(f, "GET", "/dcs/dc2/customers/c9/waypoints", f->k_dc2, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"waypoints\":[]}");
    routes_response_clear(&resp);
}

/* Check a tracking-token answer and return the token's claims. */
static void assert_token_body(struct fixture *f, const struct routes_response *resp, int64_t ttl_s, const char *dc,
                              const char *cust)
{
    static const char *const top[] = {"status", "data"};
    static const char *const data_keys[] = {"token", "expires_at"};
    struct json_object *root, *data, *tok, *exp;
    struct auth_token t;

    assert_int_equal(resp->status, 200);
    assert_null(resp->allow);
    root = parse_body(resp);
    assert_keys(root, top, 2);
    assert_string_equal(json_object_get_string(get(root, "status")), "success");
    data = get(root, "data");
    assert_keys(data, data_keys, 2);
    tok = get(data, "token");
    exp = get(data, "expires_at");
    assert_true(json_object_is_type(tok, json_type_string));
    assert_true(json_object_is_type(exp, json_type_int));
    assert_true(json_object_get_int64(exp) == NOW + ttl_s * 1000);
    assert_int_equal(auth_token_verify(f->secret, json_object_get_string(tok), (size_t)json_object_get_string_len(tok), NOW, &t),
                     0);
    assert_string_equal(t.dc_id, dc);
    assert_string_equal(t.customer_id, cust);
    assert_true(t.expires_ms == NOW + ttl_s * 1000);
    /* Valid until just before expires_at. */
    assert_int_equal(
        auth_token_verify(f->secret, json_object_get_string(tok), (size_t)json_object_get_string_len(tok), NOW + ttl_s * 1000, &t),
        -EKEYEXPIRED);
    json_object_put(root);
}

static void test_post_tracking_token(void **state)
{
    static const struct {
        const char *body;
        int64_t ttl;
    } cases[] = {
        {NULL, 86400},
        {"", 86400},
        {"{}", 86400},
        {"{\"ttl_seconds\":60}", 60},
        {"{\"ttl_seconds\":1}", 1},
        {"{\"ttl_seconds\":2592000}", 2592000},
        {"{\"ttl_seconds\": 3600}\n", 3600},
    };
    struct fixture *f = *state;
    struct routes_response resp;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        request(f, "POST", "/dcs/dc1/customers/c1/tracking-token", f->k_dc1, cases[i].body, &resp);
        assert_token_body(f, &resp, cases[i].ttl, "dc1", "c1");
        routes_response_clear(&resp);
    }
    request(f, "POST", "/dcs/dc2/customers/c9/tracking-token", f->k_all, NULL, &resp);
    assert_token_body(f, &resp, 86400, "dc2", "c9");
    routes_response_clear(&resp);
}

/* A token from the API reads its customer's waypoints and nothing else. */
static void test_issued_token_scope(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;
    struct json_object *root;
    char header[AUTH_TOKEN_MAX + 16];

    request(f, "POST", "/dcs/dc1/customers/c2/tracking-token", f->k_dc1, "{\"ttl_seconds\":600}", &resp);
    assert_int_equal(resp.status, 200);
    root = parse_body(&resp);
    snprintf(header, sizeof(header), "Bearer %s", json_object_get_string(get(get(root, "data"), "token")));
    json_object_put(root);
    routes_response_clear(&resp);

    request(f, "GET", "/dcs/dc1/customers/c2/waypoints", header, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_ptr_equal(strstr(resp.body, "{\"waypoints\":[{\"id\":\"ow06\","), resp.body);
    routes_response_clear(&resp);
    expect_error(f, "GET", "/dcs/dc1/customers/c1/waypoints", header, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/c2", header, NULL, 403, 403);
    /* Ten minutes later it has expired. */
    f->ctx.now_ms = NOW + 600000;
    expect_error(f, "GET", "/dcs/dc1/customers/c2/waypoints", header, NULL, 401, 401);
}

static void test_tracking_token_unknown_customer(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;

    request(f, "POST", "/dcs/dc1/customers/nobody/tracking-token", f->k_dc1, NULL, &resp);
    assert_error(&resp, 404, 404, NULL);
    routes_response_clear(&resp);
    request(f, "POST", "/dcs/dc1/customers/c9/tracking-token", f->k_all, "{\"ttl_seconds\":60}", &resp);
    assert_error(&resp, 404, 404, NULL);
    routes_response_clear(&resp);
}

static void test_unauthorized(void **state)
{
    static const char *const paths[] = {
        "/dcs/dc1/customers/c1",           "/dcs/dc1/customers/c1/confident-location",
        "/dcs/dc1/customers/c1/waypoints", "/dcs/dc1/customers/c1/tracking-token",
        "/dcs/ghost/customers/c1", /* 401 comes before the DC check */
    };
    struct fixture *f = *state;
    char expired[AUTH_TOKEN_MAX + 16], forged[AUTH_TOKEN_MAX + 16], token[AUTH_TOKEN_MAX];
    uint8_t other[STORE_SECRET_LEN];
    const char *creds[9];

    assert_int_equal(auth_token_create(f->secret, "dc1", "c1", NOW, token, sizeof(token)), 0);
    snprintf(expired, sizeof(expired), "Bearer %s", token);
    memcpy(other, f->secret, sizeof(other));
    other[5] ^= 0x10;
    assert_int_equal(auth_token_create(other, "dc1", "c1", NOW + 60000, token, sizeof(token)), 0);
    snprintf(forged, sizeof(forged), "Bearer %s", token);
    creds[0] = NULL;
    creds[1] = "";
    creds[2] = "Bearer ";
    creds[3] = f->k_unknown;
    creds[4] = f->k_revoked;
    creds[5] = expired;
    creds[6] = forged;
    creds[7] = f->k_dc1 + strlen("Bearer "); /* the bare key without a scheme */
    creds[8] = "Basic dXNlcjpwYXNz";
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
        const char *method = strstr(paths[p], "tracking-token") ? "POST" : "GET";

        for (size_t c = 0; c < sizeof(creds) / sizeof(creds[0]); c++) {
            struct routes_response resp;

            request(f, method, paths[p], creds[c], NULL, &resp);
            if (resp.status != 401)
                fail_msg("%s %s with credential %zu: %d, want 401", method, paths[p], c, resp.status);
            assert_error(&resp, 401, 401, NULL);
            routes_response_clear(&resp);
        }
    }
}

static void test_forbidden(void **state)
{
    struct fixture *f = *state;
    struct routes_response a, b;

    /* The DC does not exist. */
    expect_error(f, "GET", "/dcs/nowhere/customers/c1", f->k_all, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/nowhere/customers/c1/waypoints", f->k_all, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/nowhere/customers/c1/confident-location", f->k_all, NULL, 403, 403);
    expect_error(f, "POST", "/dcs/nowhere/customers/c1/tracking-token", f->k_all, NULL, 403, 403);
    /* A key listing a DC that does not exist. */
    expect_error(f, "GET", "/dcs/ghost/customers/c1/waypoints", f->k_ghost, NULL, 403, 403);
    /* The key does not list the DC. */
    expect_error(f, "GET", "/dcs/dc1/customers/c1", f->k_dc2, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/c1/confident-location", f->k_dc2, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc2, NULL, 403, 403);
    expect_error(f, "POST", "/dcs/dc1/customers/c1/tracking-token", f->k_dc2, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc2/customers/c9", f->k_dc1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/c1", f->k_ghost, NULL, 403, 403);
    /* The key's unknown customer in a forbidden DC is still 403, not 404. */
    expect_error(f, "GET", "/dcs/dc2/customers/nobody", f->k_dc1, NULL, 403, 403);

    /* The same answer, byte for byte, for "no such DC" and "not yours". */
    request(f, "GET", "/dcs/nowhere/customers/c1", f->k_dc1, NULL, &a);
    request(f, "GET", "/dcs/dc2/customers/c9", f->k_dc1, NULL, &b);
    assert_int_equal(a.status, b.status);
    assert_string_equal(a.body, b.body);
    routes_response_clear(&a);
    routes_response_clear(&b);
}

static void test_token_forbidden(void **state)
{
    struct fixture *f = *state;
    char other[AUTH_TOKEN_MAX + 16], token[AUTH_TOKEN_MAX];

    /* Its own waypoints: allowed. */
    {
        struct routes_response resp;

        request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->t_c1, NULL, &resp);
        assert_int_equal(resp.status, 200);
        assert_ptr_equal(strstr(resp.body, "{\"waypoints\":[{\"id\":\"w06\","), resp.body);
        routes_response_clear(&resp);
    }
    /* Its own customer, but not waypoints. */
    expect_error(f, "GET", "/dcs/dc1/customers/c1", f->t_c1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/c1/confident-location", f->t_c1, NULL, 403, 403);
    expect_error(f, "POST", "/dcs/dc1/customers/c1/tracking-token", f->t_c1, NULL, 403, 403);
    expect_error(f, "POST", "/dcs/dc1/customers/c1/tracking-token", f->t_c1, "{\"ttl_seconds\":60}", 403, 403);
    /* Another customer's waypoints, in its DC, another DC, or a DC that does not exist. */
    expect_error(f, "GET", "/dcs/dc1/customers/c2/waypoints", f->t_c1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc1/customers/nobody/waypoints", f->t_c1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc2/customers/c1/waypoints", f->t_c1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/dc2/customers/c9/waypoints", f->t_c1, NULL, 403, 403);
    expect_error(f, "GET", "/dcs/nowhere/customers/c1/waypoints", f->t_c1, NULL, 403, 403);
    /* A token for a DC that does not exist. */
    assert_int_equal(auth_token_create(f->secret, "nowhere", "c1", NOW + 60000, token, sizeof(token)), 0);
    snprintf(other, sizeof(other), "Bearer %s", token);
    expect_error(f, "GET", "/dcs/nowhere/customers/c1/waypoints", other, NULL, 403, 403);
}

static void test_customer_not_found(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "GET", "/dcs/dc1/customers/nobody", f->k_dc1, NULL, 404, 404);
    expect_error(f, "GET", "/dcs/dc1/customers/nobody/confident-location", f->k_dc1, NULL, 404, 404);
    /* Customers belong to one DC. */
    expect_error(f, "GET", "/dcs/dc1/customers/c9", f->k_all, NULL, 404, 404);
    expect_error(f, "GET", "/dcs/dc2/customers/c1/confident-location", f->k_all, NULL, 404, 404);
    expect_error(f, "GET", "/dcs/dc1/customers/C1", f->k_all, NULL, 404, 404);
}

static void test_bad_ids(void **state)
{
    struct fixture *f = *state;
    char path[1024], id[300];
    struct routes_response resp;
    static const char *const suffixes[] = {"", "/confident-location", "/waypoints", "/tracking-token"};

    for (size_t s = 0; s < 4; s++) {
        const char *method = s == 3 ? "POST" : "GET";
        const char *bad[] = {"", "\xff", "\xc3\x28", "\xed\xa0\x80", "\xc0\xaf", "a\x01", "a\x1f", "a\x7f", "a\tb", "a\nb"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(path, sizeof(path), "/dcs/dc1/customers/%s%s", bad[i], suffixes[s]);
            expect_error(f, method, path, f->k_all, NULL, 400, 400);
            snprintf(path, sizeof(path), "/dcs/%s/customers/c1%s", bad[i], suffixes[s]);
            expect_error(f, method, path, f->k_all, NULL, 400, 400);
        }
        /* 256 bytes is too long; 255 is fine (and unknown). */
        memset(id, 'x', 256);
        id[256] = '\0';
        snprintf(path, sizeof(path), "/dcs/dc1/customers/%s%s", id, suffixes[s]);
        expect_error(f, method, path, f->k_all, NULL, 400, 400);
        snprintf(path, sizeof(path), "/dcs/%s/customers/c1%s", id, suffixes[s]);
        expect_error(f, method, path, f->k_all, NULL, 400, 400);
        id[255] = '\0';
        snprintf(path, sizeof(path), "/dcs/%s/customers/c1%s", id, suffixes[s]);
        expect_error(f, method, path, f->k_all, NULL, 403, 403); /* a valid id of no DC */
        snprintf(path, sizeof(path), "/dcs/dc1/customers/%s%s", id, suffixes[s]);
        request(f, method, path, f->k_all, NULL, &resp);
        if (s == 2) {
            assert_int_equal(resp.status, 200);
            assert_string_equal(resp.body, "{\"waypoints\":[]}");
        } else {
            assert_error(&resp, 404, 404, NULL);
        }
        routes_response_clear(&resp);
    }
}

static void test_bad_ttl(void **state)
{
    static const char *const bodies[] = {
        "{\"ttl_seconds\":0}",
        "{\"ttl_seconds\":2592001}",
        "{\"ttl_seconds\":-60}",
        "{\"ttl_seconds\":\"x\"}",
        "{\"ttl_seconds\":\"60\"}",
        "{\"ttl_seconds\":1.5}",
        "{\"ttl_seconds\":null}",
        "x",
        "60",
        "[60]",
        "\"ttl\"",
        "null",
        "{\"ttl_seconds\":60}x",
        "{\"ttl_seconds\":60}{}",
        "{\"ttl_seconds\":60",
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct routes_response resp;

        request(f, "POST", "/dcs/dc1/customers/c1/tracking-token", f->k_dc1, bodies[i], &resp);
        if (resp.status != 400)
            fail_msg("body %s: status %d, want 400", bodies[i], resp.status);
        assert_error(&resp, 400, 400, NULL);
        routes_response_clear(&resp);
    }
}

static void assert_405(struct fixture *f, const char *method, const char *path, const char *auth, const char *allow)
{
    struct routes_response resp;

    request(f, method, path, auth, NULL, &resp);
    if (resp.status != 405)
        fail_msg("%s %s: status %d, want 405", method, path, resp.status);
    assert_non_null(resp.allow);
    assert_string_equal(resp.allow, allow);
    assert_error(&resp, 405, 405, NULL);
    routes_response_clear(&resp);
}

static void test_method_not_allowed(void **state)
{
    static const char *const others[] = {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_405(f, others[i], "/dcs/dc1/customers/c1", f->k_dc1, "GET");
        assert_405(f, others[i], "/dcs/dc1/customers/c1/confident-location", f->k_dc1, "GET");
        assert_405(f, others[i], "/dcs/dc1/customers/c1/waypoints", f->k_dc1, "GET");
        assert_405(f, others[i], "/", NULL, "GET");
        assert_405(f, others[i], "/index.html", NULL, "GET");
    }
    assert_405(f, "GET", "/dcs/dc1/customers/c1/tracking-token", f->k_dc1, "POST");
    assert_405(f, "PUT", "/dcs/dc1/customers/c1/tracking-token", f->k_dc1, "POST");
    assert_405(f, "DELETE", "/dcs/dc1/customers/c1/tracking-token", NULL, "POST");
    /* Methods are case-sensitive (RFC 9110). */
    assert_405(f, "get", "/dcs/dc1/customers/c1", f->k_dc1, "GET");
    /* Even without credentials. */
    assert_405(f, "POST", "/dcs/dc1/customers/c1/waypoints", NULL, "GET");
}

static void test_unknown_api_paths(void **state)
{
    static const char *const paths[] = {
        "/dcs",
        "/dcs/",
        "/dcs/dc1",
        "/dcs/dc1/",
        "/dcs/dc1/customers",
        "/dcs/dc1/customers/c1/",
        "/dcs/dc1/customers/c1/nope",
        "/dcs/dc1/customers/c1/waypoints/",
        "/dcs/dc1/customers/c1/waypoints/w01",
        "/dcs/dc1/other/c1",
        "/dcs/dc1/customer/c1/waypoints",
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        expect_error(f, "GET", paths[i], f->k_all, NULL, 404, 404);
        expect_error(f, "GET", paths[i], NULL, NULL, 404, 404);
        expect_error(f, "POST", paths[i], f->k_all, NULL, 404, 404);
    }
}

static void assert_static(struct fixture *f, const char *path, const char *file)
{
    struct routes_response resp;

    request(f, "GET", path, NULL, NULL, &resp);
    if (resp.status != 200)
        fail_msg("GET %s: status %d, want 200", path, resp.status);
    assert_null(resp.body);
    assert_null(resp.allow);
    assert_string_equal(resp.file, file);
    routes_response_clear(&resp);
}

static void test_static_paths(void **state)
{
    static const char *const refused[] = {
        "/../x", "/..", "/a/../../etc/passwd", "/./index.html", "/.env", "/.git/config", "//etc/passwd", "/a\\..\\b", "/a\x01",
    };
    struct fixture *f = *state;

    assert_static(f, "/", "index.html");
    assert_static(f, "/index.html", "index.html");
    assert_static(f, "/app.js", "app.js");
    assert_static(f, "/css/site.css", "css/site.css");
    assert_static(f, "/track/", "track/index.html");
    assert_static(f, "/dcsx", "dcsx");
    /* Credentials do not matter for static files, even bad ones. */
    {
        struct routes_response resp;

        request(f, "GET", "/", f->k_revoked, NULL, &resp);
        assert_int_equal(resp.status, 200);
        assert_null(resp.body);
        assert_string_equal(resp.file, "index.html");
        routes_response_clear(&resp);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct routes_response resp;

        request(f, "GET", refused[i], NULL, NULL, &resp);
        if (resp.status == 200)
            fail_msg("GET %s was served as %s", refused[i], resp.file);
        assert_error(&resp, 404, 404, NULL);
        routes_response_clear(&resp);
    }
}

/* Issue 12: the dashboard map's settings, from serve's --map-tiles (or none). */
static void test_map_config(void **state)
{
    struct fixture *f = *state;
    struct routes_response resp;
    struct json_object *root;

    request(f, "GET", "/map-config.json", NULL, NULL, &resp);
    assert_int_equal(resp.status, 200);
    root = parse_body(&resp);
    assert_true(json_object_is_type(get(root, "tiles"), json_type_null));
    assert_string_equal(json_object_get_string(get(root, "attribution")), "");
    json_object_put(root);
    routes_response_clear(&resp);

    f->ctx.map_config = "{\"tiles\":\"https://t.example/{z}/{x}/{y}.png\",\"attribution\":\"(c) T\"}";
    request(f, "GET", "/map-config.json", "Bearer wpk_anything", NULL, &resp);
    assert_int_equal(resp.status, 200);
    root = parse_body(&resp);
    assert_string_equal(json_object_get_string(get(root, "tiles")), "https://t.example/{z}/{x}/{y}.png");
    json_object_put(root);
    routes_response_clear(&resp);
    request(f, "POST", "/map-config.json", NULL, NULL, &resp);
    assert_int_equal(resp.status, 405);
    routes_response_clear(&resp);
    f->ctx.map_config = NULL;
}

static void test_routes_error_and_clear(void **state)
{
    struct routes_response resp;

    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(routes_error(&resp, 404, 404, "Not found"), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.body, "{\"status\":\"error\",\"data\":{\"code\":404,\"message\":\"Not found\"}}");
    assert_int_equal(resp.body_len, strlen(resp.body));
    /* A second error replaces the first (no leak: ASan checks). */
    assert_int_equal(routes_error(&resp, 400, 7001, "Customer location not confident"), 0);
    assert_error(&resp, 400, 7001, "Customer location not confident");
    routes_response_clear(&resp);
    assert_null(resp.body);
    assert_int_equal(resp.status, 0);
    routes_response_clear(&resp); /* twice is harmless */
}

/* With a cache, an answer is reused only while the database is unchanged:
 * a write by another connection, or a revocation, is seen at once. */
static void test_cache_never_stale(void **state)
{
    struct fixture *f = *state;
    struct routes_response a, b, c;
    sqlite3 *db;

    f->ctx.cache = cache_new(64);
    assert_non_null(f->ctx.cache);
    request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc1, NULL, &a);
    request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc1, NULL, &b);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    assert_true(cache_hits(f->ctx.cache) >= 3); /* key, DC verdict, answer */

    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sql(db, "UPDATE waypoints SET waypoints_ahead = 4242 WHERE id = 'w06'");
    request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc1, NULL, &c);
    assert_int_equal(c.status, 200);
    assert_non_null(strstr(c.body, "\"waypoints_ahead\":4242"));
    assert_null(strstr(a.body, "4242"));
    routes_response_clear(&c);

    sql(db, "UPDATE api_keys SET revoked_ms = 1 WHERE name = 'dc1'");
    sqlite3_close(db);
    request(f, "GET", "/dcs/dc1/customers/c1/waypoints", f->k_dc1, NULL, &c);
    assert_int_equal(c.status, 401);
    routes_response_clear(&a);
    routes_response_clear(&b);
    routes_response_clear(&c);
    cache_free(f->ctx.cache);
    f->ctx.cache = NULL;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_get_customer),
        T(test_get_confident_location),
        T(test_not_confident),
        T(test_get_waypoints),
        T(test_waypoints_unknown_customer),
        T(test_post_tracking_token),
        T(test_issued_token_scope),
        T(test_tracking_token_unknown_customer),
        T(test_unauthorized),
        T(test_forbidden),
        T(test_token_forbidden),
        T(test_customer_not_found),
        T(test_bad_ids),
        T(test_bad_ttl),
        T(test_method_not_allowed),
        T(test_unknown_api_paths),
        T(test_static_paths),
        T(test_map_config),
        T(test_cache_never_stale),
        cmocka_unit_test(test_routes_error_and_clear),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
