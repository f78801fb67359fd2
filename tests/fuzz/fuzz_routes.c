/* SPDX-License-Identifier: MIT
 *
 * libFuzzer driver for the request router (routes.c) and the path helpers it
 * uses (path.c). An input is a request in a form a person can write:
 *
 *     METHOD \n PATH \n AUTHORIZATION \n BODY...
 *
 * A missing line means an empty path, no Authorization header, no body. The
 * line "@x" stands for "Bearer " and credential x of creds[] below, because no
 * fuzzer finds a SHA-256 preimage or forges an HMAC; any other line goes as is.
 *
 * routes_handle answers against a real database that LLVMFuzzerInitialize
 * makes under $TMPDIR with the store API (rows written with plain SQL, as the
 * route planner does), and the answer must be the one docs/api.md ("Order of
 * checks") prescribes for that fixture. The same request then goes through a
 * fresh cache twice (a miss, then a hit): all three answers must be equal.
 * path_match and path_static_file are checked against independent splitters,
 * and path_utf8_valid / path_id_valid against a table-driven UTF-8 decoder
 * (path_ref.c).
 */
#include "routes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "auth.h"
#include "cache.h"
#include "fuzz.h"
#include "path.h"
#include "path_ref.h"
#include "view.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- The fixture ---- */

#define DC_UTF "d\xc3\xa7-\xc3\xbc"     /* "dç-ü" */
#define CUST_UTF "\xc4\x87ust \xc3\xbc" /* "ćust ü" */

static char long_id[MODEL_ID_MAX + 1]; /* 255 'z': the longest id there is */

static const char *const fx_dcs[] = {"dc1", "dc2", "Foxtrot-DC", DC_UTF};

struct fx_customer {
    const char *dc, *id;
    int inferred;  /* 0: no inferred location, 1: latitude only, 2: both */
    int confident; /* location_confident */
};

static const struct fx_customer fx_customers[] = {
    {"dc1", "c1", 2, 1}, {"dc1", "c2", 2, 0},      {"dc1", "c3", 0, 1},    {"dc1", "c4", 1, 1},
    {"dc2", "c9", 0, 0}, {DC_UTF, CUST_UTF, 2, 1}, {"dc1", long_id, 2, 1}, {"Foxtrot-DC", "johns-burger-shack", 2, 1},
};
#define FX_NCUSTOMERS (sizeof(fx_customers) / sizeof(fx_customers[0]))

/* A credential of the fixture. Keys are fixed strings stored by hash; tokens
 * are signed at start-up with the fixed secret, relative to FUZZ_NOW_MS, so
 * they are the same bytes as the seeds' and the dictionary's. */
struct cred {
    char tag;                  /* the "@x" shorthand */
    const char *key_name;      /* API key: its name in api_keys; NULL for a token */
    const char *key;           /* API key text */
    int usable;                /* 0: revoked or expired, a 401 everywhere */
    int all_dcs;               /* API key */
    const char *dcs[2];        /* API key: the DCs it lists */
    const char *dc, *customer; /* token */
    int64_t expires_in;        /* token: ms after FUZZ_NOW_MS */
    char value[AUTH_TOKEN_MAX];
    char header[AUTH_TOKEN_MAX + 16];
};

static struct cred creds[] = {
    {'a', "all-dcs", "wpk_yfFI-iyAkFYHKDKm6mZMTfevLIWO0qcUtmYqjdnzu5w", 1, 1, {NULL, NULL}, NULL, NULL, 0, "", ""},
    {'1', "dc1", "wpk_lkGzcUPsZkTZ0s5DzClEpGkdlqwId1Kpuz3MwP4l6Bk", 1, 0, {"dc1", NULL}, NULL, NULL, 0, "", ""},
    {'2', "dc2", "wpk_B0PAyWaXysnCH7H0OYdy7qDFPQ4V2gqWslfPu1yF6mg", 1, 0, {"dc2", DC_UTF}, NULL, NULL, 0, "", ""},
    {'g', "ghost", "wpk_Guf9bsQYYwZwBt5QzpvBz_gG1IBb1SYS3PCWFzavoH8", 1, 0, {"ghost", NULL}, NULL, NULL, 0, "", ""},
    {'r', "revoked", "wpk_G00rHT1NakqvMWHnduwWbBUgRcHbo5FjGGwqIq9ikRg", 0, 1, {NULL, NULL}, NULL, NULL, 0, "", ""},
    {'t', NULL, NULL, 1, 0, {NULL, NULL}, "dc1", "c1", 3600000, "", ""},
    {'x', NULL, NULL, 0, 0, {NULL, NULL}, "dc1", "c1", -1, "", ""},
    {'e', NULL, NULL, 0, 0, {NULL, NULL}, "dc1", "c1", 0, "", ""}, /* expires exactly now */
    {'c', NULL, NULL, 1, 0, {NULL, NULL}, "dc1", "c2", 3600000, "", ""},
    {'h', NULL, NULL, 1, 0, {NULL, NULL}, "ghost", "c1", 3600000, "", ""},
    {'l', NULL, NULL, 1, 0, {NULL, NULL}, "dc1", long_id, 3600000, "", ""},
    {'u', NULL, NULL, 1, 0, {NULL, NULL}, DC_UTF, CUST_UTF, 3600000, "", ""},
    {'n', NULL, NULL, 1, 0, {NULL, NULL}, "dc1", "nobody", 3600000, "", ""},
};
#define NCREDS (sizeof(creds) / sizeof(creds[0]))

static struct {
    char dir[256];
    char db[300];
    struct store *store;
    uint8_t secret[STORE_SECRET_LEN];
    int trace; /* $FUZZ_ROUTES_TRACE set: print each answer (to check new seeds) */
} fx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_routes: %s: %s\n", what, detail ? detail : "?");
    exit(1);
}

static void fixture_remove(void)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
    char side[320];

    store_close(fx.store);
    fx.store = NULL;
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", fx.db, sides[i]);
        unlink(side);
    }
    rmdir(fx.dir);
}

static void exec_bound(sqlite3 *db, const char *sql, const char *const *text, size_t n)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql, sqlite3_errmsg(db));
    for (size_t i = 0; i < n; i++)
        sqlite3_bind_text(st, (int)i + 1, text[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        die(sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* The contract's tables, written the way the route planner writes them. */
static void fixture_rows(sqlite3 *db)
{
    static const char *const inferred_sql[] = {
        "INSERT INTO customers VALUES (?1, ?2, 'Fuzz', NULL, NULL, NULL, NULL, NULL, ?3)",
        "INSERT INTO customers VALUES (?1, ?2, 'Fuzz', '1 Market St', 1.5, 2.5, 37.7749, NULL, ?3)",
        "INSERT INTO customers VALUES (?1, ?2, 'Fuzz', '1 Market St', 1.5, 2.5, 37.77493, -122.41942, ?3)",
    };
    char wid[32];

    for (size_t i = 0; i < sizeof(fx_dcs) / sizeof(fx_dcs[0]); i++)
        exec_bound(db, "INSERT INTO dcs(id, name) VALUES (?1, 'Fuzz DC')", &fx_dcs[i], 1);
    for (size_t i = 0; i < FX_NCUSTOMERS; i++) {
        const struct fx_customer *c = &fx_customers[i];
        const char *args[3] = {c->dc, c->id, c->confident ? "1" : "0"};

        exec_bound(db, inferred_sql[c->inferred], args, 3);
        /* c1 gets more than the 10 an answer holds. */
        for (int k = 0; k < (i == 0 ? 12 : 2); k++) {
            snprintf(wid, sizeof(wid), "w%zu-%d", i, k);
            exec_bound(db,
                       "INSERT INTO waypoints(dc_id, customer_id, status, route_id, estimated_time_of_arrival, id)"
                       " VALUES (?1, ?2, ?3, 'r1', 1700000100000, ?4)",
                       (const char *const[]){c->dc, c->id, k % 3 ? "PENDING" : "COMPLETED", wid}, 4);
        }
    }
    /* Waypoints of a customer the customers table does not have. */
    exec_bound(db, "INSERT INTO waypoints(dc_id, id, customer_id) VALUES ('dc1', 'orphan', ?1)", (const char *const[]){"nobody"},
               1);
}

static void fixture_creds(void)
{
    uint8_t hash[STORE_KEY_HASH_LEN];

    for (size_t i = 0; i < NCREDS; i++) {
        struct cred *c = &creds[i];

        if (c->key_name) {
            size_t ndcs = c->dcs[1] ? 2 : c->dcs[0] ? 1 : 0;

            snprintf(c->value, sizeof(c->value), "%s", c->key);
            auth_key_hash(c->key, strlen(c->key), hash);
            if (store_key_insert(fx.store, c->key_name, hash, c->all_dcs, ndcs ? c->dcs : NULL, ndcs))
                die("store_key_insert", c->key_name);
            if (!c->usable && store_key_revoke(fx.store, c->key_name))
                die("store_key_revoke", c->key_name);
        } else if (auth_token_create_at(fx.secret, c->dc, c->customer, FUZZ_NOW_MS - 60000, FUZZ_NOW_MS + c->expires_in,
                                        c->value, sizeof(c->value))) {
            die("auth_token_create", c->customer);
        }
        snprintf(c->header, sizeof(c->header), "Bearer %s", c->value);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    char err[256] = "";
    sqlite3 *db;

    (void)argc;
    (void)argv;
    memset(long_id, 'z', MODEL_ID_MAX);
    fuzz_secret(fx.secret);
    fx.trace = getenv("FUZZ_ROUTES_TRACE") != NULL;
    snprintf(fx.dir, sizeof(fx.dir), "%s/waypointd-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx.dir))
        die("mkdtemp", fx.dir);
    snprintf(fx.db, sizeof(fx.db), "%s/fuzz.db", fx.dir);
    atexit(fixture_remove);
    if (store_open(fx.db, STORE_OPEN_CREATE, &fx.store, err, sizeof(err)) || store_migrate(fx.store))
        die("store_open", err);
    if (sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("sqlite3_open_v2", fx.db);
    sqlite3_busy_timeout(db, 5000);
    fixture_rows(db);
    sqlite3_close(db);
    fixture_creds();
    return 0;
}

/* ---- What docs/api.md prescribes for the fixture ---- */

/* A fixture token in its version 1 spelling (no issue time; still
 * accepted, and what the seed corpus holds): the same customer and expiry.
 * Signed with the fixture's secret, so any other bytes do not verify. */
static const struct cred *v1_token_cred(const char *token)
{
    struct auth_token t;

    if (auth_token_verify(fx.secret, token, strlen(token), INT64_MIN + 1, &t) || t.issued_ms != 0)
        return NULL;
    for (size_t i = 0; i < NCREDS; i++)
        if (!creds[i].key_name && !strcmp(creds[i].dc, t.dc_id) && !strcmp(creds[i].customer, t.customer_id) &&
            FUZZ_NOW_MS + creds[i].expires_in == t.expires_ms)
            return &creds[i];
    return NULL;
}

static const struct cred *cred_find(const char *authorization)
{
    static const char scheme[] = "bearer ";

    if (!authorization || strncasecmp(authorization, scheme, sizeof(scheme) - 1))
        return NULL;
    authorization += sizeof(scheme) - 1;
    while (*authorization == ' ')
        authorization++;
    for (size_t i = 0; i < NCREDS; i++)
        if (!strcmp(creds[i].value, authorization))
            return &creds[i];
    return v1_token_cred(authorization);
}

static int dc_exists(const char *dc)
{
    for (size_t i = 0; i < sizeof(fx_dcs) / sizeof(fx_dcs[0]); i++)
        if (!strcmp(fx_dcs[i], dc))
            return 1;
    return 0;
}

static const struct fx_customer *customer_find(const char *dc, const char *id)
{
    for (size_t i = 0; i < FX_NCUSTOMERS; i++)
        if (!strcmp(fx_customers[i].dc, dc) && !strcmp(fx_customers[i].id, id))
            return &fx_customers[i];
    return NULL;
}

/* Step 5 of docs/api.md: the DC exists and the credential covers it; a token
 * covers only GET .../waypoints of its own customer. */
static int covers(const struct cred *c, const struct path_match *m)
{
    if (!dc_exists(m->dc_id))
        return 0;
    if (c->key_name)
        return c->all_dcs || (c->dcs[0] && !strcmp(c->dcs[0], m->dc_id)) || (c->dcs[1] && !strcmp(c->dcs[1], m->dc_id));
    return m->route == PATH_WAYPOINTS && !strcmp(c->dc, m->dc_id) && !strcmp(c->customer, m->customer_id);
}

#define WANT_NOT_CONFIDENT 7001 /* 400 with code 7001 */
#define WANT_TOKEN_POST 0       /* 200, 400 or 404: depends on the body */
#define WANT_STATIC (-1)        /* 200 and a file name, or 404 */
#define WANT_EVENTS (-2)        /* http.c streams these; routes only refuses: 403 or 404 */

/* The answer docs/api.md prescribes for this request and this fixture. */
static int expected_status(const struct routes_request *req, const struct path_match *m)
{
    const struct fx_customer *cust;
    const struct cred *c;

    if (m->route == PATH_NONE)
        return strcmp(req->method, "GET") ? 405 : WANT_STATIC;
    if (m->route == PATH_UNKNOWN)
        return 404;
    if (strcmp(req->method, m->route == PATH_TRACKING_TOKEN ? "POST" : "GET"))
        return 405;
    if (m->bad_id)
        return 400;
    c = cred_find(req->authorization);
    if (!c || !c->usable)
        return 401;
    if (m->route == PATH_EVENTS)
        return WANT_EVENTS;
    if (!covers(c, m))
        return 403;
    cust = customer_find(m->dc_id, m->customer_id);
    switch (m->route) {
    case PATH_CUSTOMER:
        return cust ? 200 : 404;
    case PATH_CONFIDENT:
        return !cust ? 404 : cust->inferred == 2 && cust->confident ? 200 : WANT_NOT_CONFIDENT;
    case PATH_WAYPOINTS:
        return 200;
    default:
        return WANT_TOKEN_POST;
    }
}

/* ---- Checking an answer ---- */

static int64_t member_int(struct json_object *o, const char *name)
{
    struct json_object *v;

    FUZZ_CHECK(json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

/* A 200 from tracking-token carries a token for exactly this customer. */
static void check_new_token(struct json_object *body, const struct routes_request *req, const struct path_match *m)
{
    struct json_object *data, *tok;
    struct auth_token t;
    int64_t expires, ttl_ms;

    FUZZ_CHECK(json_object_object_get_ex(body, "data", &data) && json_object_object_get_ex(data, "token", &tok));
    FUZZ_CHECK(json_object_is_type(tok, json_type_string));
    expires = member_int(data, "expires_at");
    FUZZ_CHECK(
        auth_token_verify(fx.secret, json_object_get_string(tok), (size_t)json_object_get_string_len(tok), FUZZ_NOW_MS, &t) == 0);
    FUZZ_CHECK(!strcmp(t.dc_id, m->dc_id) && !strcmp(t.customer_id, m->customer_id) && t.expires_ms == expires);
    ttl_ms = expires - FUZZ_NOW_MS;
    FUZZ_CHECK(ttl_ms % 1000 == 0 && ttl_ms >= 1000 && ttl_ms <= (int64_t)AUTH_TTL_MAX * 1000);
    if (req->body_len == 0)
        FUZZ_CHECK(ttl_ms == (int64_t)AUTH_TTL_DEFAULT * 1000);
}

/* Error bodies are {"status":"error","data":{"code":N,"message":"..."}}. */
static void check_error_body(struct json_object *body, int code)
{
    struct json_object *status, *data, *msg;

    FUZZ_CHECK(json_object_object_get_ex(body, "status", &status) && json_object_is_type(status, json_type_string));
    FUZZ_CHECK(!strcmp(json_object_get_string(status), "error"));
    FUZZ_CHECK(json_object_object_get_ex(body, "data", &data) && member_int(data, "code") == code);
    FUZZ_CHECK(json_object_object_get_ex(data, "message", &msg) && json_object_is_type(msg, json_type_string));
}

/* A static path: the file ref_static_file names, or a 404 when it names
 * none (or one too long for resp->file). */
static void check_static_answer(const char *path, const struct routes_response *resp)
{
    char *want = ref_static_file(path);
    struct json_object *body;

    if (!strcmp(path, "/map-config.json")) { /* the dashboard's map settings: JSON, no tiles here */
        FUZZ_CHECK(resp->status == 200 && resp->body && resp->body_len == strlen(resp->body));
        body = json_tokener_parse(resp->body);
        FUZZ_CHECK(body && json_object_is_type(body, json_type_object));
        json_object_put(body);
        free(want);
        return;
    }
    if (!resp->body) {
        FUZZ_CHECK(resp->status == 200 && want && !strcmp(resp->file, want));
    } else {
        FUZZ_CHECK(resp->status == 404 && (!want || strlen(want) + 1 >= sizeof(resp->file)));
        FUZZ_CHECK(resp->body_len == strlen(resp->body));
        body = json_tokener_parse(resp->body);
        FUZZ_CHECK(body != NULL);
        check_error_body(body, 404);
        json_object_put(body);
    }
    free(want);
}

static void check_answer(const struct routes_request *req, const struct path_match *m, const struct routes_response *resp)
{
    int want = expected_status(req, m);
    struct json_object *body;

    /* A healthy database never makes a 500. */
    FUZZ_CHECK(resp->status != 500);
    if (resp->status == 405)
        FUZZ_CHECK(resp->allow && !strcmp(resp->allow, m->route == PATH_TRACKING_TOKEN ? "POST" : "GET"));
    else
        FUZZ_CHECK(resp->allow == NULL);
    if (want == WANT_STATIC) {
        check_static_answer(req->path, resp);
        return;
    }
    FUZZ_CHECK(resp->body && resp->body_len == strlen(resp->body));
    body = json_tokener_parse(resp->body);
    FUZZ_CHECK(body && json_object_is_type(body, json_type_object));
    if (want == WANT_NOT_CONFIDENT) {
        FUZZ_CHECK(resp->status == 400);
        check_error_body(body, VIEW_CODE_NOT_CONFIDENT);
    } else if (want == WANT_TOKEN_POST) {
        const struct fx_customer *cust = customer_find(m->dc_id, m->customer_id);

        FUZZ_CHECK(resp->status == (cust ? 200 : 404) || resp->status == 400);
        FUZZ_CHECK(resp->status != 400 || req->body_len > 0); /* an empty body is fine */
        if (resp->status == 200)
            check_new_token(body, req, m);
        else
            check_error_body(body, resp->status);
    } else if (want == WANT_EVENTS) {
        FUZZ_CHECK(resp->status == 403 || resp->status == 404);
        check_error_body(body, resp->status);
    } else {
        FUZZ_CHECK(resp->status == want);
        if (want != 200)
            check_error_body(body, want);
    }
    json_object_put(body);
}

static void check_same(const struct routes_response *a, const struct routes_response *b)
{
    FUZZ_CHECK(a->status == b->status);
    FUZZ_CHECK((!a->allow && !b->allow) || (a->allow && b->allow && !strcmp(a->allow, b->allow)));
    FUZZ_CHECK((!a->body && !b->body) ||
               (a->body && b->body && a->body_len == b->body_len && !memcmp(a->body, b->body, a->body_len)));
    FUZZ_CHECK(!strcmp(a->file, b->file));
}

/* ---- The input ---- */

struct reader {
    const uint8_t *p, *end;
    int done; /* the last line has been taken */
};

/* The next '\n'-terminated line as a malloc'd C string, or NULL when the
 * input has no more lines. */
static char *next_line(struct reader *r)
{
    const uint8_t *nl;
    size_t len;
    char *s;

    if (r->done)
        return NULL;
    nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    len = nl ? (size_t)(nl - r->p) : (size_t)(r->end - r->p);
    s = malloc(len + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, r->p, len);
    s[len] = '\0';
    if (nl)
        r->p = nl + 1;
    else
        r->p = r->end, r->done = 1;
    return s;
}

static const char *authorization_of(const char *line)
{
    if (line && line[0] == '@' && line[1] && !line[2])
        for (size_t i = 0; i < NCREDS; i++)
            if (creds[i].tag == line[1])
                return creds[i].header;
    return line;
}

static void answer(const struct routes_request *req)
{
    struct routes_ctx ctx = {.store = fx.store, .cache = NULL, .secret = fx.secret, .now_ms = FUZZ_NOW_MS};
    struct routes_response plain, miss, hit;
    struct path_match m;

    path_match(req->path, &m);
    check_path_match(req->path, &m);
    FUZZ_CHECK(routes_handle(&ctx, req, &plain) == 0);
    if (fx.trace)
        fprintf(stderr, "%s %s -> %d %s%s\n", req->method, req->path, plain.status, plain.body ? plain.body : "file ",
                plain.body ? "" : plain.file);
    check_answer(req, &m, &plain);

    ctx.cache = cache_new(16);
    FUZZ_CHECK(ctx.cache != NULL);
    FUZZ_CHECK(routes_handle(&ctx, req, &miss) == 0);
    FUZZ_CHECK(routes_handle(&ctx, req, &hit) == 0);
    check_same(&plain, &miss);
    check_same(&plain, &hit);
    cache_free(ctx.cache);
    routes_response_clear(&plain);
    routes_response_clear(&miss);
    routes_response_clear(&hit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, data + size, 0};
    char *method = next_line(&r), *path = next_line(&r), *auth = next_line(&r);
    size_t body_len = r.done ? 0 : (size_t)(r.end - r.p);
    char *body = NULL;

    check_utf8(data, size);
    /* http.c answers 413 itself beyond this; routes never sees more. */
    if (body_len > ROUTES_BODY_MAX)
        body_len = ROUTES_BODY_MAX;
    if (body_len) {
        body = malloc(body_len); /* exactly: no NUL, so reading past it is seen */
        FUZZ_CHECK(body != NULL);
        memcpy(body, r.p, body_len);
    }
    check_static_file(path ? path : "", size ? (size_t)data[size - 1] % 64 + 1 : 1);
    answer(&(struct routes_request){
        .method = method, .path = path ? path : "", .authorization = authorization_of(auth), .body = body, .body_len = body_len});
    free(method);
    free(path);
    free(auth);
    free(body);
    return 0;
}
