/* SPDX-License-Identifier: MIT
 *
 * Writing an API answer (http_int.h): its headers (caching, ETag, CORS,
 * Retry-After, Connection), then its body, within the peer's HTTP/2
 * window; a small HTTP/1.1 answer in one write.
 */
#include "http_int.h"

#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "vhost.h"

static int add_header(struct lws *wsi, enum lws_token_indexes tok, const char *v, uint8_t **p, uint8_t *end)
{
    return lws_add_http_header_by_token(wsi, tok, (const uint8_t *)v, (int)strlen(v), p, end);
}

/* name in lower case with its colon, as lws wants for HTTP/2 too. */
static int add_header_named(struct lws *wsi, const char *name, const char *v, uint8_t **p, uint8_t *end)
{
    return lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)v, (int)strlen(v), p, end);
}

/* HTTP/1.x only: will lws close after this answer (the client asked for it,
 * or spoke HTTP/1.0 without keep-alive)? Then the answer must say so. */
static int closes_after(struct lws *wsi, const struct pss_http *pss)
{
    char conn[64] = "", version[16] = "";

    if (lws_get_network_wsi(wsi) != wsi)
        return 0; /* HTTP/2 stream */
    if (pss->close_after || ((struct vhost_state *)lws_vhost_user(lws_get_vhost(wsi)))->draining)
        return 1;
    lws_hdr_copy(wsi, conn, sizeof(conn), WSI_TOKEN_CONNECTION);
    lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_HTTP);
    if (strcasestr(conn, "close"))
        return 1;
    return !strcmp(version, "HTTP/1.0") && !strcasestr(conn, "keep-alive");
}

/* Our response headers into [*p, end); 0 or -1 when they do not fit. */
static int add_headers(struct lws *wsi, const struct pss_http *pss, uint8_t **p, uint8_t *end)
{
    static const char close[] = "close";
    /* An API answer with an ETag may be kept, by the client only (it is
     * per credential), and must be revalidated each time: data is live. */
    const char *cache = pss->etag[0] ? "private, no-cache" : "no-store";
    int rc;

    if (pss->resp.status == 304 || pss->resp.status == 204) /* no body, no content headers (RFC 9110) */
        rc = lws_add_http_header_status(wsi, (unsigned int)pss->resp.status, p, end);
    else
        rc = lws_add_http_common_headers(wsi, (unsigned int)pss->resp.status, "application/json",
                                         (lws_filepos_t)pss->resp.body_len, p, end);
    if (rc || add_header(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, cache, p, end) ||
        (pss->etag[0] && add_header(wsi, WSI_TOKEN_HTTP_ETAG, pss->etag, p, end)) ||
        (pss->cors[0] && (add_header_named(wsi, "access-control-allow-origin:", pss->cors, p, end) ||
                          add_header_named(wsi, "access-control-expose-headers:", "ETag, Retry-After", p, end))) ||
        (pss->resp.status != 304 && add_header_named(wsi, "vary:", "Origin", p, end)))
        return -1;
    if (pss->preflight && pss->cors[0] &&
        (add_header_named(wsi, "access-control-allow-methods:", "GET, POST, OPTIONS", p, end) ||
         add_header_named(wsi, "access-control-allow-headers:", "Authorization, Content-Type, If-None-Match", p, end) ||
         add_header_named(wsi, "access-control-max-age:", "600", p, end)))
        return -1;
    if (pss->resp.allow && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW, (const uint8_t *)pss->resp.allow,
                                                        (int)strlen(pss->resp.allow), p, end))
        return -1;
    if (pss->resp.retry_after > 0) {
        char secs[16];
        int n = lws_snprintf(secs, sizeof(secs), "%d", pss->resp.retry_after);

        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER, (const uint8_t *)secs, n, p, end))
            return -1;
    }
    if (closes_after(wsi, pss) &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)close, sizeof(close) - 1, p, end))
        return -1;
    return 0;
}

/* HTTP/2 sends headers in a frame of their own. */
static int write_headers(struct lws *wsi, struct pss_http *pss)
{
    uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

    if (add_headers(wsi, pss, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    pss->headers_sent = 1;
    return 0;
}

/* HTTP/1.1 with a small body: headers and body in one write, so one TLS
 * record and one system call per answer. 1 when done this way. */
static int write_whole_h1(struct lws *wsi, struct pss_http *pss)
{
    uint8_t buf[LWS_PRE + 1024 + HTTP_CHUNK], *start = buf + LWS_PRE, *p = start, *end = buf + LWS_PRE + 1024;

    if (lws_get_network_wsi(wsi) != wsi || pss->resp.body_len > HTTP_CHUNK)
        return 0;
    if (add_headers(wsi, pss, &p, end) || lws_finalize_http_header(wsi, &p, end))
        return -1;
    memcpy(p, pss->resp.body, pss->resp.body_len);
    p += pss->resp.body_len;
    if (lws_write(wsi, start, (size_t)lws_ptr_diff(p, start), LWS_WRITE_HTTP_FINAL) != lws_ptr_diff(p, start))
        return -1;
    pss->headers_sent = 1;
    pss->sent = pss->resp.body_len;
    return 1;
}

/* How many bytes of DATA the peer takes now: its HTTP/2 flow-control window
 * (stream and connection), or `want` on HTTP/1.1, where lws reports no
 * window (-1). lws 4.1 would send beyond the window, and the client then
 * resets the stream (FLOW_CONTROL_ERROR): never write more than this. */
static size_t peer_room(struct lws *wsi, size_t want)
{
    lws_fileofs_t room = lws_get_peer_write_allowance(wsi);

    return room < 0 || (uint64_t)room >= want ? want : (size_t)room;
}

/* One step of the answer per writeable callback: headers, then body chunks
 * (or all at once for a small HTTP/1.1 answer). A chunk is cut to the
 * peer's window; with none left we wait: lws asks for a writeable callback
 * on every stream of the connection when a WINDOW_UPDATE opens it. */
int http_write_step(struct lws *wsi, struct pss_http *pss)
{
    uint8_t buf[LWS_PRE + HTTP_CHUNK];
    size_t left, n;
    int final, rc;

    if (!pss->headers_sent && (rc = write_whole_h1(wsi, pss)) != 0)
        return rc < 0 ? -1 : 1;
    if (!pss->headers_sent) {
        /* HEADERS frames are not flow-controlled. */
        if (write_headers(wsi, pss))
            return -1;
        /* A small HTTP/2 answer goes on in the same callback: lws queues a
         * second write behind the first if the socket did not take it all,
         * and the stream need not wait for its next turn. */
        if (pss->resp.body_len > HTTP_CHUNK) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    left = pss->resp.body_len - pss->sent;
    n = peer_room(wsi, left > HTTP_CHUNK ? HTTP_CHUNK : left);
    if (!n && left)
        return 0; /* the window is closed: a WINDOW_UPDATE wakes us */
    final = n == left;
    memcpy(buf + LWS_PRE, pss->resp.body + pss->sent, n);
    if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    pss->sent += n;
    if (!final) {
        /* If this used the window up, the callback finds it closed and
         * waits; asking costs one turn and never misses a reopening. */
        lws_callback_on_writable(wsi);
        return 0;
    }
    return 1;
}

