/* SPDX-License-Identifier: MIT
 *
 * The WebSocket upgrade gate: a request may become a live session only on
 * /live, with our subprotocol, from an allowed Origin, with a valid
 * credential and within its rate limits; anything else is refused with the
 * contract's status and error envelope (HTTP/1.1) or a reset stream
 * (HTTP/2, which lws can only reset). The checks themselves are
 * admission.c's and auth.c's; the session after the upgrade is ws.c's and live.c's.
 * Runs on the service thread that owns the wsi.
 */
#include "upgrade.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "admission.h"
#include "auth.h"
#include "metrics.h"
#include "vhost.h"
#include "view.h"

static struct vhost_state *vhost_of(struct lws *wsi)
{
    return lws_vhost_user(lws_get_vhost(wsi));
}

/* Refuse a WebSocket upgrade with an error envelope. lws expects the answer
 * written from the CONFIRM_UPGRADE callback itself, in one piece (it is
 * small). lws has not parsed the HTTP version yet at this point and its
 * header helpers would say HTTP/1.0, so the status line is written here; the
 * connection closes after it. */
static int refuse_upgrade(struct lws *wsi, int status, const char *message, int retry_after)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
                   {429, "Too Many Requests"}, {500, "Internal Server Error"}, {503, "Service Unavailable"}};
    char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, retry[32] = "";
    const char *reason = "Error";
    size_t len = 0;
    char *body = view_error(status, message, &len);
    int n;

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            reason = reasons[i].reason;
    if (retry_after > 0)
        lws_snprintf(retry, sizeof(retry), "retry-after: %d\r\n", retry_after);
    n = body ? lws_snprintf(start, sizeof(buf) - LWS_PRE,
                            "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                            "cache-control: no-store\r\nstrict-transport-security: max-age=31536000\r\n"
                            "%sconnection: close\r\n\r\n%s",
                            status, reason, len, retry, body)
             : -1;
    free(body);
    if (n < 0 || n >= (int)(sizeof(buf) - LWS_PRE - 1) ||
        lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    return 1; /* answered: lws completes the transaction and closes */
}

/* 1 when the comma-separated Sec-WebSocket-Protocol list offers name exactly. */
static int offers_protocol(const char *list, const char *name)
{
    size_t nlen = strlen(name);

    while (*list) {
        size_t len;

        list += strspn(list, " \t,");
        len = strcspn(list, ",");
        while (len && (list[len - 1] == ' ' || list[len - 1] == '\t'))
            len--;
        if (len == nlen && !memcmp(list, name, nlen))
            return 1;
        list += strcspn(list, ",");
    }
    return 0;
}


static void count_refusal(struct lws *wsi, int status)
{
    struct metrics_thread *mt = vhost_of(wsi)->metrics;

    if (status == 429)
        metrics_refused(mt, METRICS_REFUSE_RATE_LIMIT);
    else if (status == 403)
        metrics_refused(mt, METRICS_REFUSE_ORIGIN);
    else if (status == 401)
        metrics_refused(mt, METRICS_REFUSE_UNAUTHORIZED);
}

/* The checks of an upgrade before its credential; 0 or the status. */
static int upgrade_form(struct lws *wsi, const struct vhost_state *conf, const char **why)
{
    char uri[64], proto[256];

    /* HTTP/1.1 names the path in the request line, HTTP/2 in :path. */
    if ((lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 &&
         lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_HTTP_COLON_PATH) <= 0) ||
        strcmp(uri, LIVE_PATH)) {
        *why = "Not found";
        return 404;
    }
    if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 || !offers_protocol(proto, LIVE_PROTOCOL_NAME)) {
        *why = "Use the WebSocket subprotocol " LIVE_PROTOCOL_NAME;
        return 400;
    }
    if (!admission_origin_allowed(wsi, conf)) {
        *why = "Origin not allowed";
        return 403;
    }
    return 0;
}

int upgrade_check(struct lws *wsi, const char **why, int *retry_after)
{
    const struct vhost_state *conf = lws_vhost_user(lws_get_vhost(wsi));
    uint64_t peer_id = admission_peer_id_if_limited(wsi, conf);
    char cred[ADMISSION_CRED_MAX] = "";
    struct auth_cred c;
    int status, rc;

    *retry_after = 0;
    /* An address over its budget for failures is refused before any work. */
    if ((*retry_after = admission_rate_check(conf, peer_id, 0))) {
        *why = "Too many requests";
        return 429;
    }
    status = upgrade_form(wsi, conf, why);
    if (!status && (rc = admission_credential(wsi, 1, cred, sizeof(cred)) ? -EACCES
                                                                    : auth_resolve(conf->store, conf->secret, cred,
                                                                                   auth_now_ms(), &c))) {
        /* The database failing is not the credential's fault: a 401 would
         * make a page give up instead of trying again. */
        *why = rc == -EACCES        ? AUTH_MSG_UNAUTHORIZED
               : rc == -EKEYEXPIRED ? AUTH_MSG_EXPIRED
               : rc == -EBUSY       ? "Database busy, try again"
                                    : "Database unavailable, try again";
        status = rc == -EACCES || rc == -EKEYEXPIRED ? 401 : rc == -EBUSY ? 503 : 500;
        if (rc == -EBUSY)
            *retry_after = 1;
    }
    if (status == 500 || status == 503) {
        /* nobody's failure: not charged */
    } else if (status) {
        admission_rate_fail(conf, peer_id);
    } else if ((*retry_after = admission_rate_take(conf, admission_cred_id(cred)))) {
        *why = "Too many requests";
        status = 429;
    }
    lws_explicit_bzero(cred, sizeof(cred));
    return status;
}

/* HTTP/1.1: only /live upgrades, with our subprotocol and a valid credential,
 * else the contract's status and error envelope. */
int upgrade_confirm(struct lws *wsi, const char *kind)
{
    const char *why = "Only WebSocket upgrades are supported";
    int retry_after = 0;
    int status = strcmp(kind, "websocket") ? 400 : upgrade_check(wsi, &why, &retry_after);

    if (strcmp(kind, "websocket")) /* an upgrade to another protocol: the address pays */
        admission_rate_fail(vhost_of(wsi), admission_peer_id_if_limited(wsi, vhost_of(wsi)));
    if (status)
        count_refusal(wsi, status);
    return status ? refuse_upgrade(wsi, status, why, retry_after) : 0;
}
