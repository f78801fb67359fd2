/* SPDX-License-Identifier: MIT
 *
 * /metrics and /healthz as an lws HTTP protocol on a vhost of its own. The
 * answers are small: rendered at the request, written in one piece.
 */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "clock.h"
#include "metrics.h"
#include "source.h"
#include "store.h"

struct pss_admin {
    char *body;
    size_t len;
    int status;
    const char *type;
};

static void pss_clear(struct pss_admin *pss)
{
    free(pss->body);
    memset(pss, 0, sizeof(*pss));
}

static char *text(const char *s, size_t *len)
{
    *len = strlen(s);
    return strdup(s);
}

/* Ready: the database reads and the change source keeps up (its health
 * says why not). */
static void healthz(const struct admin_conf *conf, struct pss_admin *pss)
{
    struct store_log_head head;
    const char *why = NULL;
    char buf[256];

    if (store_log_head(conf->store, &head))
        why = "database unreadable";
    else if (!conf->source)
        why = "change watcher not running";
    else if (conf->source->ops->health(conf->source, clock_mono_ms(), &why) && !why)
        why = "change source unhealthy";
    pss->type = "application/json";
    pss->status = why ? 503 : 200;
    if (why)
        snprintf(buf, sizeof(buf), "{\"status\":\"unavailable\",\"reason\":\"%s\"}\n", why);
    else
        snprintf(buf, sizeof(buf), "{\"status\":\"ok\",\"change_seq\":%lld}\n", (long long)head.head);
    pss->body = text(buf, &pss->len);
}

static void route(struct lws *wsi, const struct admin_conf *conf, struct pss_admin *pss, const char *path)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        pss->status = 405;
        pss->type = "text/plain";
        pss->body = text("only GET\n", &pss->len);
    } else if (!strcmp(path, "/metrics")) {
        pss->status = 200;
        pss->type = "text/plain; version=0.0.4; charset=utf-8";
        pss->body = metrics_render(conf->metrics, auth_now_ms(), &pss->len);
    } else if (!strcmp(path, "/healthz")) {
        healthz(conf, pss);
    } else {
        pss->status = 404;
        pss->type = "text/plain";
        pss->body = text("not found: try /metrics or /healthz\n", &pss->len);
    }
}

static int write_answer(struct lws *wsi, struct pss_admin *pss)
{
    size_t cap = LWS_PRE + 512 + pss->len;
    uint8_t *buf = malloc(cap), *start, *p, *end;
    int rc = -1;

    if (!buf)
        return -1;
    start = p = buf + LWS_PRE;
    end = buf + LWS_PRE + 512;
    if (!lws_add_http_common_headers(wsi, (unsigned int)pss->status, pss->type, (lws_filepos_t)pss->len, &p, end) &&
        !lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const uint8_t *)"no-store", 8, &p, end) &&
        !lws_finalize_http_header(wsi, &p, end)) {
        memcpy(p, pss->body, pss->len);
        p += pss->len;
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) == (int)(p - start))
            rc = 0;
    }
    free(buf);
    pss_clear(pss);
    /* Last: on a keep-alive connection lws frees pss here (it binds the
     * connection to its protocol again for the next request). */
    if (!rc && lws_http_transaction_completed(wsi))
        rc = -1;
    return rc;
}

static int callback_admin(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct pss_admin *pss = user;
    const struct admin_conf *conf = lws_vhost_user(lws_get_vhost(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        pss_clear(pss);
        route(wsi, conf, pss, in ? (const char *)in : "/");
        if (!pss->body)
            return -1; /* out of memory: drop this connection */
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss->body ? write_answer(wsi, pss) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss)
            pss_clear(pss);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols admin_protocols[] = {
    {"admin", callback_admin, sizeof(struct pss_admin), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct lws_vhost *admin_create(struct lws_context *context, struct admin_conf *conf, const char *host, int port)
{
    struct lws_context_creation_info info;
    struct lws_vhost *vh;

    memset(&info, 0, sizeof(info));
    info.vhost_name = "waypointd-admin";
    info.port = port;
    info.iface = host;
    info.protocols = admin_protocols;
    info.user = conf;
    /* Port 0: lws binds and we ask it which port it got. */
    vh = lws_create_vhost(context, &info);
    if (!vh)
        fprintf(stderr, "waypointd: cannot listen for metrics on %s:%d\n", host, port);
    return vh;
}
