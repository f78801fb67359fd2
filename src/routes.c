/* SPDX-License-Identifier: MIT
 *
 * The Customers API: from a decoded request to a status and a JSON body.
 * Pure with respect to the network (no lws); reads through the thread's
 * store. The only place that maps errno values to HTTP statuses.
 */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cache.h"
#include "clock.h"
#include "freshness.h"
#include "path.h"
#include "view.h"

void routes_response_clear(struct routes_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

int routes_error(struct routes_response *resp, int status, int code, const char *message)
{
    free(resp->body);
    resp->status = status;
    resp->body = view_error(code, message, &resp->body_len);
    return resp->body ? 0 : -ENOMEM;
}

/* Map a store/auth errno to the response (only for unexpected failures).
 * -EBUSY: another process held the database past the service threads' short
 * busy timeout (WAL recovery after a writer crashed, say); the answer is
 * 503 with Retry-After rather than an event loop asleep in SQLite. */
static int internal_error(struct routes_response *resp, int rc)
{
    if (rc == -EBUSY) {
        resp->retry_after = ROUTES_BUSY_RETRY_AFTER;
        return routes_error(resp, 503, 503, "Database busy, try again");
    }
    if (rc == -ENOMEM)
        return routes_error(resp, 500, 500, "Out of memory");
    return routes_error(resp, 500, 500, "Internal error reading the database");
}

static int ok(struct routes_response *resp, char *body, size_t len)
{
    if (!body)
        return routes_error(resp, 500, 500, "Out of memory");
    resp->status = 200;
    resp->body = body;
    resp->body_len = len;
    return 0;
}

static int get_customer(const struct routes_ctx *ctx, const struct path_match *m, int confident,
                        struct routes_response *resp)
{
    struct customer c;
    size_t len = 0;
    char *body;
    int rc = store_customer_get(ctx->store, m->dc_id, m->customer_id, &c);

    if (rc == -ENOENT)
        return routes_error(resp, 404, 404, "Customer not found");
    if (rc)
        return internal_error(resp, rc);
    if (confident && !(c.location_confident && c.inferred.present)) {
        customer_clear(&c);
        return routes_error(resp, 400, VIEW_CODE_NOT_CONFIDENT, "Customer location not confident");
    }
    body = confident ? view_confident_location(&c, &len) : view_customer(&c, &len);
    customer_clear(&c);
    return ok(resp, body, len);
}

static int get_waypoints(const struct routes_ctx *ctx, const struct path_match *m, struct routes_response *resp)
{
    struct waypoint w[STORE_MAX_WAYPOINTS];
    size_t n = 0, len = 0;
    char *body;
    int rc = store_waypoints_recent(ctx->store, m->dc_id, m->customer_id, w, STORE_MAX_WAYPOINTS, &n);

    if (rc)
        return internal_error(resp, rc);
    body = view_waypoints(w, n, &len);
    waypoints_clear(w, n);
    return ok(resp, body, len);
}

static int post_token(const struct routes_ctx *ctx, const struct path_match *m, const struct routes_request *req,
                      struct routes_response *resp)
{
    char token[AUTH_TOKEN_MAX];
    long ttl = AUTH_TTL_DEFAULT;
    struct customer c;
    int64_t expires;
    size_t len = 0;
    char *body;
    int rc;

    if (view_parse_ttl(req->body, req->body_len, 1, AUTH_TTL_MAX, &ttl))
        return routes_error(resp, 400, 400, "Body must be {\"ttl_seconds\": an integer from 1 to 2592000}");
    rc = store_customer_get(ctx->store, m->dc_id, m->customer_id, &c);
    if (rc == -ENOENT)
        return routes_error(resp, 404, 404, "Customer not found");
    if (rc)
        return internal_error(resp, rc);
    customer_clear(&c);
    expires = ctx->now_ms + (int64_t)ttl * 1000;
    if (auth_token_create_at(ctx->secret, m->dc_id, m->customer_id, ctx->now_ms, expires, token, sizeof(token)))
        return internal_error(resp, -EIO);
    body = view_token(token, expires, &len);
    return ok(resp, body, len);
}

/* ---- Caching (see cache.h): keys start with a letter saying what they hold. */

/* Resolve a credential, reusing a key's row while the database is unchanged.
 * Tokens are verified every time (they expire, and the secret may rotate);
 * only their revocation verdict is cached (auth_resolve_cached), so a quiet
 * database costs no query. Failures are not cached, so random keys cannot
 * fill the cache. */
static int resolve(const struct routes_ctx *ctx, const char *authorization, struct auth_cred *cred)
{
    char key[AUTH_TOKEN_MAX + 80];
    const void *hit;
    size_t klen, len;
    int rc;

    klen = authorization ? strlen(authorization) + 1 : 0;
    if (!ctx->cache || !klen || klen >= sizeof(key))
        return auth_resolve(ctx->store, ctx->secret, authorization, ctx->now_ms, cred);
    key[0] = 'A';
    memcpy(key + 1, authorization, klen - 1);
    hit = cache_get(ctx->cache, key, klen, &len);
    if (hit && len == sizeof(*cred)) {
        memcpy(cred, hit, sizeof(*cred));
        return 0;
    }
    rc = auth_resolve_cached(ctx->store, ctx->cache, ctx->secret, authorization, ctx->now_ms, cred);
    if (!rc && cred->kind == AUTH_KEY)
        cache_put(ctx->cache, key, klen, cred, sizeof(*cred));
    return rc;
}

/* auth_may_read_dc, remembered per (key or token DC, DC). */
static int may_read_dc(const struct routes_ctx *ctx, const struct auth_cred *cred, const char *dc_id)
{
    char key[1 + 8 + 2 * (MODEL_ID_MAX + 1)];
    size_t klen = 1, dlen = strlen(dc_id) + 1, len;
    const unsigned char *hit;
    unsigned char verdict;
    int rc;

    if (!ctx->cache || cred->kind == AUTH_NONE)
        return auth_may_read_dc(ctx->store, cred, dc_id);
    if (cred->kind == AUTH_KEY) {
        key[0] = 'D';
        memcpy(key + klen, &cred->key.id, sizeof(cred->key.id));
        klen += sizeof(cred->key.id);
    } else {
        size_t tl = strlen(cred->token.dc_id) + 1;

        key[0] = 'T';
        memcpy(key + klen, cred->token.dc_id, tl);
        klen += tl;
    }
    memcpy(key + klen, dc_id, dlen);
    klen += dlen;
    hit = cache_get(ctx->cache, key, klen, &len);
    if (hit && len == 1)
        return hit[0];
    rc = auth_may_read_dc(ctx->store, cred, dc_id);
    verdict = (unsigned char)rc;
    if (rc >= 0)
        cache_put(ctx->cache, key, klen, &verdict, 1);
    return rc;
}

/* A GET answer (status, then body) remembered per (route, DC, customer). */
struct cached_answer {
    int status;
    char body[];
};

static size_t answer_key(const struct path_match *m, char *key)
{
    size_t d = strlen(m->dc_id) + 1, c = strlen(m->customer_id) + 1;

    key[0] = 'B';
    key[1] = (char)('0' + m->route);
    memcpy(key + 2, m->dc_id, d);
    memcpy(key + 2 + d, m->customer_id, c);
    return 2 + d + c;
}

static int answer_from_cache(const struct routes_ctx *ctx, const struct path_match *m, struct routes_response *resp)
{
    char key[2 + 2 * (MODEL_ID_MAX + 1)];
    const struct cached_answer *hit;
    size_t len;

    if (!ctx->cache)
        return 0;
    hit = cache_get(ctx->cache, key, answer_key(m, key), &len);
    if (!hit || len < sizeof(*hit))
        return 0;
    resp->body_len = len - sizeof(*hit);
    resp->body = malloc(resp->body_len + 1);
    if (!resp->body)
        return 0;
    memcpy(resp->body, hit->body, resp->body_len + 1);
    resp->status = hit->status;
    return 1;
}

static void answer_to_cache(const struct routes_ctx *ctx, const struct path_match *m,
                            const struct routes_response *resp)
{
    char key[2 + 2 * (MODEL_ID_MAX + 1)];
    struct cached_answer *a;

    /* Only answers that depend on the data alone, not on a failure. */
    if (!ctx->cache || !resp->body || resp->status >= 500)
        return;
    a = malloc(sizeof(*a) + resp->body_len);
    if (!a)
        return;
    a->status = resp->status;
    memcpy(a->body, resp->body, resp->body_len);
    cache_put(ctx->cache, key, answer_key(m, key), a, sizeof(*a) + resp->body_len);
    free(a);
}

/* The method a route accepts. */
static const char *route_method(enum path_route r)
{
    return r == PATH_TRACKING_TOKEN ? "POST" : "GET";
}

/* 401 / 403 checks shared by every API route; 0 when the request may go on. */
static int authorize(const struct routes_ctx *ctx, const struct routes_request *req, const struct path_match *m,
                     struct routes_response *resp)
{
    struct auth_cred cred;
    int rc = resolve(ctx, req->authorization, &cred);

    if (rc == -EACCES || rc == -EKEYEXPIRED) {
        routes_error(resp, 401, 401, rc == -EACCES ? AUTH_MSG_UNAUTHORIZED : AUTH_MSG_EXPIRED);
        return 1;
    }
    if (rc) {
        internal_error(resp, rc);
        return 1;
    }
    /* A tracking token reads its own customer's waypoints and nothing else;
     * decided before the DC lookup, so its answer says nothing about the DC. */
    if (cred.kind == AUTH_TOKEN && ((m->route != PATH_WAYPOINTS && m->route != PATH_EVENTS) ||
                                    !auth_may_read_customer(&cred, m->dc_id, m->customer_id))) {
        routes_error(resp, 403, 403, AUTH_MSG_TOKEN_SCOPE);
        return 1;
    }
    rc = may_read_dc(ctx, &cred, m->dc_id);
    if (rc < 0) {
        internal_error(resp, rc);
        return 1;
    }
    if (rc == 0) {
        routes_error(resp, 403, 403, AUTH_MSG_DC_SCOPE);
        return 1;
    }
    return 0;
}

/* The dashboard map's settings, not a file: they come from serve's options. */
static int map_config(const struct routes_ctx *ctx, struct routes_response *resp)
{
    static const char none[] = "{\"tiles\":null,\"attribution\":\"\"}";
    const char *json = ctx->map_config ? ctx->map_config : none;

    resp->body = strdup(json);
    if (!resp->body)
        return routes_error(resp, 500, 500, "Out of memory");
    resp->body_len = strlen(json);
    resp->status = 200;
    return 0;
}

int routes_handle(const struct routes_ctx *ctx, const struct routes_request *req, struct routes_response *resp)
{
    struct routes_ctx uncached;
    struct path_match m;
    int rc;

    memset(resp, 0, sizeof(*resp));
    path_match(req->path, &m);
    switch (m.route) {
    case PATH_NONE:
        if (strcmp(req->method, "GET")) {
            resp->allow = "GET";
            return routes_error(resp, 405, 405, "Method not allowed");
        }
        if (!strcmp(req->path, "/map-config.json"))
            return map_config(ctx, resp);
        if (path_static_file(req->path, resp->file, sizeof(resp->file)))
            return routes_error(resp, 404, 404, "Not found");
        resp->status = 200;
        return 0;
    case PATH_UNKNOWN:
        return routes_error(resp, 404, 404, "Not found");
    default:
        break;
    }
    if (strcmp(req->method, route_method(m.route))) {
        resp->allow = route_method(m.route);
        return routes_error(resp, 405, 405, "Method not allowed");
    }
    if (m.bad_id)
        return routes_error(resp, 400, 400, "Ids must be 1 to 255 bytes of UTF-8 without control characters");
    if (ctx->cache) {
        int64_t version;

        /* Anything committed since the cache was filled empties it; when
         * that cannot be known, answer without the cache. A lock held
         * elsewhere would only make every later read wait again: 503 now. */
        rc = freshness_version(ctx->source, ctx->store, clock_mono_ms(), &version);
        if (rc == -EBUSY)
            return internal_error(resp, rc);
        if (rc) {
            uncached = (struct routes_ctx){.store = ctx->store, .secret = ctx->secret, .now_ms = ctx->now_ms};
            ctx = &uncached;
        } else
            cache_sync(ctx->cache, version);
    }
    if (authorize(ctx, req, &m, resp))
        return resp->body ? 0 : -ENOMEM;
    if (m.route != PATH_TRACKING_TOKEN && answer_from_cache(ctx, &m, resp))
        return 0;
    switch (m.route) {
    case PATH_CUSTOMER:
        rc = get_customer(ctx, &m, 0, resp);
        break;
    case PATH_CONFIDENT:
        rc = get_customer(ctx, &m, 1, resp);
        break;
    case PATH_WAYPOINTS:
        rc = get_waypoints(ctx, &m, resp);
        break;
    case PATH_TRACKING_TOKEN:
        return post_token(ctx, &m, req, resp);
    default: /* PATH_EVENTS: a stream, answered by http.c */
        return routes_error(resp, 404, 404, "Not found");
    }
    answer_to_cache(ctx, &m, resp);
    return rc;
}
