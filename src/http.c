/* SPDX-License-Identifier: MIT
 *
 * The libwebsockets HTTP protocol for HTTP/1.1 connections and HTTP/2
 * streams alike: collects method, path, Authorization and body, asks
 * routes.c for the answer and writes it from the writeable callback, or
 * hands a static file to lws. Runs on the service thread that owns the wsi.
 */
#include "http.h"
#include "http_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libwebsockets.h>

#include "admission.h"
#include "auth.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "routes.h"
#include "sse.h"
#include "upgrade.h"
#include "vhost.h"
#include "view.h"

static struct vhost_state *conf_of(struct lws *wsi)
{
    return lws_vhost_user(lws_get_vhost(wsi));
}

static void access_line(struct lws *wsi, const struct pss_http *pss)
{
    char peer[64] = "";
    struct log_access a = {peer, lws_get_network_wsi(wsi) != wsi ? "h2" : "h1", pss->method, pss->path,
                           pss->resp.status, pss->resp.body ? pss->resp.body_len : 0, lws_now_usecs() - pss->t0_us};

    lws_get_peer_simple(lws_get_network_wsi(wsi), peer, sizeof(peer));
    log_access(&a);
}

/* Count an answer by route and status, and log it. */
static void count_answer(struct lws *wsi, const struct pss_http *pss)
{
    static const enum metrics_route by_path[] = {
        [PATH_NONE] = METRICS_ROUTE_STATIC,          [PATH_UNKNOWN] = METRICS_ROUTE_OTHER,
        [PATH_CUSTOMER] = METRICS_ROUTE_CUSTOMER,    [PATH_CONFIDENT] = METRICS_ROUTE_CONFIDENT,
        [PATH_WAYPOINTS] = METRICS_ROUTE_WAYPOINTS, [PATH_TRACKING_TOKEN] = METRICS_ROUTE_TOKEN,
        [PATH_EVENTS] = METRICS_ROUTE_EVENTS,
    };
    struct metrics_thread *mt = conf_of(wsi)->metrics;

    if (log_access_enabled())
        access_line(wsi, pss);
    if (!mt)
        return;
    metrics_http(mt, pss->preflight ? METRICS_ROUTE_OTHER : by_path[pss->route], pss->resp.status);
    if (pss->resp.status == 429)
        metrics_refused(mt, METRICS_REFUSE_RATE_LIMIT);
}

/* The request is answered or abandoned: a stopping server waits for none. */
static void busy_end(struct lws *wsi, struct pss_http *pss)
{
    if (pss->busy) {
        conf_of(wsi)->http_busy--;
        pss->busy = 0;
    }
}

static void pss_reset(struct pss_http *pss)
{
    free(pss->body_in);
    routes_response_clear(&pss->resp);
    memset(pss, 0, sizeof(*pss));
}

/* The request method: HTTP/2 names it in :method, HTTP/1 by which URI token is set. */
static void method_copy(struct lws *wsi, char *out, size_t cap)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } methods[] = {
        {WSI_TOKEN_GET_URI, "GET"},      {WSI_TOKEN_POST_URI, "POST"},     {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
        {WSI_TOKEN_PUT_URI, "PUT"},      {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_DELETE_URI, "DELETE"},
        {WSI_TOKEN_HEAD_URI, "HEAD"},
    };

    out[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_METHOD) > 0) {
        if (lws_hdr_copy(wsi, out, (int)cap, WSI_TOKEN_HTTP_COLON_METHOD) < 0)
            out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0) {
            lws_strncpy(out, methods[i].name, cap);
            return;
        }
}


/* After an API answer: a request refused before its credential was accepted
 * (none or a bad one, a method or id no route takes, a body too large) costs
 * its address; any other costs its credential. */
static void rate_charge(const struct vhost_state *conf, const struct pss_http *pss, uint64_t peer_id, uint64_t cred_id)
{
    int st = pss->resp.status;

    if (!cred_id || st == 401 || st == 405 || st == 413 || (st == 400 && pss->bad_id))
        admission_rate_fail(conf, peer_id);
    else
        admission_rate_take(conf, cred_id); /* a refusal here makes the next request wait */
}

/* 1 when the If-None-Match list names etag (weak or strong) or is "*". */
static int etag_matches(const char *list, const char *etag)
{
    size_t elen = strlen(etag);

    while (*list) {
        size_t len;

        list += strspn(list, " \t,");
        if (!strncmp(list, "W/", 2))
            list += 2;
        len = strcspn(list, " \t,");
        if ((len == 1 && *list == '*') || (len == elen && !memcmp(list, etag, elen)))
            return 1;
        list += len;
    }
    return 0;
}

/* A 200 for an API GET gets an ETag of its body; a request that already
 * holds that version gets 304 and no body. */
static void conditional(struct lws *wsi, struct pss_http *pss)
{
    char inm[512];
    uint64_t h;

    if (pss->resp.status != 200 || !pss->resp.body || strcmp(pss->method, "GET"))
        return;
    h = hash_fnv1a(HASH_FNV1A_INIT, pss->resp.body, pss->resp.body_len);
    lws_snprintf(pss->etag, sizeof(pss->etag), "\"%016llx\"", (unsigned long long)h);
    if (lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 && etag_matches(inm, pss->etag)) {
        pss->resp.status = 304;
        pss->resp.body_len = 0; /* the body stays allocated: "ours to write" */
    }
}


/* A CORS preflight (an OPTIONS from a browser page) for an API path: 204
 * with what a page may send, or 403 for an Origin not allowed. */
static void preflight(struct pss_http *pss, int cors)
{
    if (cors) {
        routes_error(&pss->resp, 403, 403, "Origin not allowed");
        return;
    }
    routes_error(&pss->resp, 204, 204, "");
    pss->resp.body_len = 0; /* the body stays allocated: "ours to write" */
    pss->preflight = 1;
}

/* Run the request through routes.c and schedule the answer. */
static int answer(struct lws *wsi, struct pss_http *pss)
{
    const struct vhost_state *conf = lws_vhost_user(lws_get_vhost(wsi));
    char auth[ADMISSION_CRED_MAX];
    struct routes_ctx ctx = {.store = conf->store, .cache = conf->cache, .source = conf->shared->source,
                             .secret = conf->secret, .now_ms = auth_now_ms(), .map_config = conf->shared->map_config};
    struct routes_request req = {pss->method, pss->path, NULL, pss->body_in, pss->body_in_len};

    /* An over-long header is treated as no credential: 401, not a crash. */
    if (!admission_credential(wsi, 0, auth, sizeof(auth)))
        req.authorization = auth;
    int api = !strncmp(pss->path, "/dcs/", 5), cors = api ? admission_cors_origin(wsi, conf, pss->cors, sizeof(pss->cors)) : 0;
    uint64_t peer_id = api ? admission_peer_id_if_limited(wsi, conf) : 0, cred_id = api ? admission_cred_id(req.authorization) : 0;

    if (api && !strcmp(pss->method, "OPTIONS") && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0)
        preflight(pss, cors);
    /* Only the API is limited: static files cost next to nothing. Checked
     * before the work, charged after it, once it is known who pays. */
    else if (api && (pss->resp.retry_after = admission_rate_check(conf, peer_id, cred_id)))
        routes_error(&pss->resp, 429, 429, "Too many requests");
    else if (pss->body_too_big)
        routes_error(&pss->resp, 413, 413, "Request body too large");
    else if (routes_handle(&ctx, &req, &pss->resp))
        return -1; /* no memory even for an error body: drop the connection */
    else if (api)
        conditional(wsi, pss);
    if (api && !pss->preflight && pss->resp.status != 429)
        rate_charge(conf, pss, peer_id, cred_id);
    lws_explicit_bzero(auth, sizeof(auth));
    if (pss->resp.body) /* static files are counted once served */
        count_answer(wsi, pss);
    lws_callback_on_writable(wsi);
    return 0;
}

/* Serve resp.file below the www root, or a 404 envelope when it is missing
 * or resolves outside the root (a symlink, say). Returns an lws verdict. */
static int serve_file(struct lws *wsi, struct pss_http *pss)
{
    const struct vhost_state *conf = lws_vhost_user(lws_get_vhost(wsi));
    char full[PATH_MAX], real[PATH_MAX], leaflet[PATH_MAX];
    const char *root = conf->shared->www_root, *file = path_static_leaflet(pss->resp.file);
    size_t rootlen;
    struct stat st;
    int n;

    /* Leaflet: from its Debian package's folder, held to it like www. */
    if (file)
        root = realpath(WAYPOINTD_LEAFLET_DIR, leaflet) ? leaflet : NULL;
    else
        file = pss->resp.file;
    rootlen = root ? strlen(root) : 0;
    n = root ? lws_snprintf(full, sizeof(full), "%s/%s", root, file) : (int)sizeof(full);
    if (n >= (int)sizeof(full) - 1 || !realpath(full, real) || strncmp(real, root, rootlen) != 0 ||
        real[rootlen] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        routes_error(&pss->resp, 404, 404, "Not found");
        count_answer(wsi, pss);
        lws_callback_on_writable(wsi);
        return 0;
    }
    count_answer(wsi, pss);
    n = lws_serve_http_file(wsi, real, path_mime_type(real), NULL, 0);
    /* <0: lws failed and wants the connection closed; >0: done already. */
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

/* lws splits a path at an unescaped ';' or '&' as if they separated query
 * arguments, and hands us only the first piece. 1 when the path arrived in
 * one piece, so what we route is what the client sent. */
static int uri_whole(struct lws *wsi, const char *uri)
{
    static const enum lws_token_indexes toks[] = {WSI_TOKEN_HTTP_COLON_PATH, WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI,
                                                  WSI_TOKEN_OPTIONS_URI,     WSI_TOKEN_PUT_URI, WSI_TOKEN_PATCH_URI,
                                                  WSI_TOKEN_DELETE_URI,      WSI_TOKEN_HEAD_URI};

    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
        int total = lws_hdr_total_length(wsi, toks[i]);

        if (total > 0)
            return (size_t)total == strlen(uri);
    }
    return 1;
}

/* Errors found before routing; 1 when one was queued. */
static int malformed(struct lws *wsi, struct pss_http *pss, const char *uri)
{
    if (!uri_whole(wsi, uri))
        routes_error(&pss->resp, 400, 400, "Percent-encode ';' and '&' in the path");
    else if (strlen(uri) >= sizeof(pss->path))
        routes_error(&pss->resp, 414, 414, "URI too long");
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 &&
             (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
              (!strcmp(pss->method, "POST") && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0))) {
        /* A body without a length (HTTP/1.1 chunked, or HTTP/2 DATA without
         * content-length: a typed POST): lws 4.1 would not hand it to us, and
         * ignoring it would silently apply defaults. Ask for a length, and
         * close, since an unread body would be taken for the next request. */
        routes_error(&pss->resp, 411, 411, "Send the body with a Content-Length");
        pss->close_after = 1;
    }
    else
        return 0;
    admission_rate_fail(conf_of(wsi), admission_peer_id_if_limited(wsi, conf_of(wsi)));
    count_answer(wsi, pss);
    lws_callback_on_writable(wsi);
    return 1;
}

/* GET .../waypoints/events: the live channel as Server-Sent Events, with
 * the live channel's credentials (the header, or access_token for
 * EventSource, which cannot set headers). */
static int open_events(struct lws *wsi, struct pss_http *pss, const struct path_match *m)
{
    struct vhost_state *conf = conf_of(wsi);
    char cred[ADMISSION_CRED_MAX];
    int have = !admission_credential(wsi, 1, cred, sizeof(cred)), status = 0;
    uint64_t peer_id = admission_peer_id_if_limited(wsi, conf), cred_id = have ? admission_cred_id(cred) : 0;
    const char *why = "";

    admission_cors_origin(wsi, conf, pss->cors, sizeof(pss->cors));
    if ((pss->resp.retry_after = admission_rate_check(conf, peer_id, cred_id))) {
        status = 429;
        why = "Too many requests";
    } else if (m->bad_id) {
        status = 400;
        why = "dc_id and customer_id must be 1 to 255 bytes of UTF-8";
        admission_rate_fail(conf, peer_id);
    } else {
        /* The stream's subscription is paid by the credential (live.c). */
        pss->sse = sse_open(wsi, have ? cred : NULL, m->dc_id, m->customer_id, &status, &why);
        if (!pss->sse && status == 401)
            admission_rate_fail(conf, peer_id);
        else if (!pss->sse && status == 403)
            admission_rate_take(conf, cred_id);
    }
    lws_explicit_bzero(cred, sizeof(cred));
    if (pss->sse) {
        pss->resp.status = 200;
        count_answer(wsi, pss);
        busy_end(wsi, pss); /* a session now: stopping closes it like a WebSocket */
    } else {
        routes_error(&pss->resp, status, status, why);
        if (status == 503)
            pss->resp.retry_after = 1; /* a lock held by another process: gone in a moment */
        count_answer(wsi, pss);
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_request(struct lws *wsi, struct pss_http *pss, const char *uri)
{
    struct path_match m;

    busy_end(wsi, pss);
    pss_reset(pss);
    pss->busy = 1;
    pss->t0_us = log_access_enabled() ? lws_now_usecs() : 0;
    conf_of(wsi)->http_busy++;
    if (conf_of(wsi)->draining)
        conf_of(wsi)->http_last_start_us = lws_now_usecs();
    method_copy(wsi, pss->method, sizeof(pss->method));
    if (malformed(wsi, pss, uri))
        return 0;
    lws_strncpy(pss->path, uri, sizeof(pss->path));
    path_match(pss->path, &m);
    pss->route = m.route;
    pss->bad_id = m.bad_id;
    if (m.route == PATH_EVENTS && !strcmp(pss->method, "GET"))
        return open_events(wsi, pss, &m);
    /* A POST with a declared body waits for HTTP_BODY_COMPLETION; lws only
     * delivers bodies it was told the length of (or an explicit zero). */
    if (!strcmp(pss->method, "POST") && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        /* lws restarts its timeout at every piece of body: a client sending
         * a byte now and then would hold the connection for ever. */
        pss->body_deadline_us = lws_now_usecs() + HTTP_BODY_SECS * 1000000LL;
        return 0;
    }
    if (answer(wsi, pss))
        return -1;
    if (pss->resp.status == 200 && !pss->resp.body)
        return serve_file(wsi, pss);
    return 0;
}

static void on_body(struct pss_http *pss, const void *in, size_t len)
{
    char *grown;

    if (pss->body_too_big || len == 0)
        return;
    if (pss->body_in_len + len > ROUTES_BODY_MAX) {
        pss->body_too_big = 1;
        return;
    }
    grown = realloc(pss->body_in, pss->body_in_len + len + 1);
    if (!grown) {
        pss->body_too_big = 1;
        return;
    }
    memcpy(grown + pss->body_in_len, in, len);
    pss->body_in = grown;
    pss->body_in_len += len;
    pss->body_in[pss->body_in_len] = '\0';
}

/* The transaction is answered: reuse the connection or close it. */
static int finish(struct lws *wsi, struct pss_http *pss)
{
    busy_end(wsi, pss);
    if (pss->close_after || (conf_of(wsi)->draining && lws_get_network_wsi(wsi) == wsi))
        return -1; /* on purpose: see malformed(), or the server is stopping */
    pss_reset(pss);
    /* Non-zero means the connection is not kept alive: close it. */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(struct lws *wsi, struct pss_http *pss)
{
    int rc;

    if (pss->sse && pss->headers_sent)
        return sse_writeable(wsi, pss->sse);
    if (pss->sse) {
        pss->headers_sent = 1;
        return sse_write_headers(wsi, pss->cors);
    }
    if (!pss->resp.body)
        return 0; /* nothing of ours to write (lws is sending a file) */
    rc = http_write_step(wsi, pss);
    return rc < 0 ? -1 : rc ? finish(wsi, pss) : 0;
}

void http_count_destroy(struct lws *wsi)
{
    /* Only connections: HTTP/2 streams are wsis of their own. */
    if (lws_get_network_wsi(wsi) == wsi)
        metrics_gauge_add(conf_of(wsi)->metrics, METRICS_CONNECTIONS, -1);
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct pss_http *pss = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, pss, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (pss->body_deadline_us && lws_now_usecs() > pss->body_deadline_us)
            return -1; /* too slow: drop it, a slowloris on the body */
        on_body(pss, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return answer(wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, pss);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return upgrade_confirm(wsi, in ? (const char *)in : "");
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket bound to this protocol offered no subprotocol of ours.
         * HTTP/1.1 was refused at CONFIRM_UPGRADE already; this is an
         * HTTP/2 stream (RFC 8441), which lws can only reset. */
        return 1;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        busy_end(wsi, pss);
        if (conf_of(wsi)->draining && lws_get_network_wsi(wsi) == wsi)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss) {
            busy_end(wsi, pss);
            if (pss->sse)
                sse_close(pss->sse);
            pss_reset(pss);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        http_count_destroy(wsi);
        return 0;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* The vhost's server SSL_CTX, kept for SIGHUP reloads (serve.c). */
        if (in)
            ((struct vhost_state *)lws_vhost_user((struct lws_vhost *)in))->ssl_ctx = user;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const struct lws_protocols http_protocol = {
    .name = "http",
    .callback = callback_http,
    .per_session_data_size = sizeof(struct pss_http),
};
