/* SPDX-License-Identifier: MIT
 *
 * The live channel's event-stream transport (sse.h): one customer's
 * changes as Server-Sent Events on an HTTP answer that does not end.
 * Several events go out per write; on HTTP/2 never more than the peer's
 * window, an event that does not fit being written in parts (SSE has no
 * framing of its own: the client reassembles the bytes).
 */
#include "sse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "admission.h"
#include "auth.h"
#include "clock.h"
#include "h2_window.h"
#include "live.h"
#include "metrics.h"
#include "msg.h"
#include "session.h"
#include "view.h"
#include "vhost.h"

struct sse_stream {
    struct session s; /* first: the session ops get it back from s */
};

static void sse_wake(struct session *s)
{
    lws_callback_on_writable(s->transport);
}

static void sse_kill(struct session *s)
{
    lws_set_timeout(s->transport, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Never written from the fan-out: an HTTP answer is written in its turns. */
static const struct session_ops sse_ops = {sse_wake, sse_kill, NULL, NULL, 1};

/* Where the stream resumes: the Last-Event-ID header (HTTP/1.1; lws drops
 * unknown HTTP/2 headers) or ?since=N. -1: from a snapshot. */
static int64_t sse_since(struct lws *wsi)
{
    /* lws stops at a query argument longer than the buffer: room for a token. */
    char v[32], arg[AUTH_TOKEN_MAX + 32];
    const char *s = NULL;
    char *end;
    long long n;

    if (lws_hdr_custom_copy(wsi, v, sizeof(v), "last-event-id:", 14) > 0)
        s = v;
    else if (lws_get_urlarg_by_name(wsi, "since=", arg, sizeof(arg)))
        s = strchr(arg, '=') ? strchr(arg, '=') + 1 : arg;
    if (!s || !*s)
        return -1;
    n = strtoll(s, &end, 10);
    return *end || n < 0 ? -1 : n;
}

/* The notices_* query arguments (view_parse_notices_query): 0 or -EINVAL. */
static int sse_notices(struct lws *wsi, struct view_notices *out)
{
    static const char *const names[] = {"notices_stops=", "notices_minutes=", "notices_eta_change_minutes="};
    char arg[3][64];
    const char *v[3] = {NULL, NULL, NULL};

    for (int i = 0; i < 3; i++)
        if (lws_get_urlarg_by_name(wsi, names[i], arg[i], sizeof(arg[i])))
            v[i] = strchr(arg[i], '=') ? strchr(arg[i], '=') + 1 : arg[i];
    return view_parse_notices_query(v[0], v[1], v[2], out);
}

/* The credential's verdict as the HTTP status REST gives: 0 when it may
 * follow the customer. */
static int admit(struct vhost_state *conf, struct session *s, const char *bearer, const char *dc_id,
                 const char *customer_id, const char **why)
{
    int rc = bearer ? auth_resolve(conf->store, conf->secret, bearer, auth_now_ms(), &s->cred) : -EACCES;

    if (rc == -EACCES || rc == -EKEYEXPIRED) {
        *why = rc == -EACCES ? AUTH_MSG_UNAUTHORIZED : AUTH_MSG_EXPIRED;
        return 401;
    }
    if (!rc && !auth_may_read_customer(&s->cred, dc_id, customer_id)) {
        *why = AUTH_MSG_TOKEN_SCOPE; /* only a token can fail this: before the DC lookup, as REST */
        return 403;
    }
    if (!rc && (rc = auth_may_read_dc(conf->store, &s->cred, dc_id)) == 0) {
        *why = AUTH_MSG_DC_SCOPE;
        return 403;
    }
    if (rc < 0) {
        /* The database, not the credential: a 401 would make the page give up. */
        *why = rc == -EBUSY ? "Database busy, try again" : "Database unavailable, try again";
        return rc == -EBUSY ? 503 : 500;
    }
    return 0;
}

struct sse_stream *sse_open(struct lws *wsi, const char *bearer, const char *dc_id, const char *customer_id,
                            int *status, const char **why)
{
    struct vhost_state *conf = lws_vhost_user(lws_get_vhost(wsi));
    struct view_client_msg m = {.type = VIEW_MSG_SUBSCRIBE, .id_json = (char *)"null", .dc_id = (char *)dc_id,
                                .customer_id = (char *)customer_id, .since = sse_since(wsi)};
    struct sse_stream *st;

    if (sse_notices(wsi, &m.notices)) {
        *status = 400;
        *why = VIEW_NOTICES_QUERY_WHY;
        return NULL;
    }
    *status = 500;
    *why = "Live channel unavailable";
    if (!conf->live || !(st = calloc(1, sizeof(*st))))
        return NULL;
    session_init(&st->s, conf->live, &sse_ops, wsi, conf->metrics, LIVE_QUEUE_MAX, clock_mono_ms());
    *status = admit(conf, &st->s, bearer, dc_id, customer_id, why);
    if (*status) {
        free(st);
        return NULL;
    }
    st->s.cred_id = admission_cred_id(bearer);
    live_link(conf->live, &st->s);
    /* The subscription pays the credential's rate limit (the request only
     * checked it). A refusal or a failure (the database) becomes an error
     * event, and the stream then ends. */
    live_subscribe(conf->live, &st->s, &m);
    /* A stream follows one customer, whose subscription is answered at
     * once (only a DC's starts on the snapshot worker, live.c). */
    if (!st->s.scopes.n)
        st->s.closing = 1;
    return st;
}

int sse_write_headers(struct lws *wsi, const char *cors)
{
    uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

    if (lws_add_http_common_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8, &p,
                                     end) ||
        (cors[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                                (const unsigned char *)cors, (int)strlen(cors), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    /* A long-lived answer: no lws transaction timeout on it. On HTTP/2,
     * lws_http_mark_sse also keeps the connection's idle timeout off while the
     * stream lives. On HTTP/1.1 it would log "lws_mux_mark_immortal: not h2
     * substream" at error for every stream (lws 4.1.6, core-net/wsi.c), so
     * there do its other two steps alone. */
    if (lws_get_network_wsi(wsi) != wsi) {
        lws_http_mark_sse(wsi);
    } else {
        lws_http_headers_detach(wsi);
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    }
    lws_callback_on_writable(wsi);
    return 0;
}

/* Append one queued message as an event: "id:" for changes (what
 * Last-Event-ID resumes after; a notice carries its change's seq in its
 * JSON but no id: line, since it is not a change), then the JSON on one
 * data line. */
static size_t sse_format(unsigned char *out, size_t cap, const struct msg *m)
{
    int n = m->seq && !m->notice ? lws_snprintf((char *)out, cap, "id: %lld\ndata: ", (long long)m->seq)
                   : lws_snprintf((char *)out, cap, "data: ");

    if ((size_t)n + m->len + 2 >= cap)
        return 0;
    memcpy(out + n, m->buf + m->pre, m->len);
    memcpy(out + n + m->len, "\n\n", 2);
    return (size_t)n + m->len + 2;
}

/* Fill the thread's buffer (after LWS_PRE) with as many queued events as
 * fit in cap (room: the peer's window, -1 on HTTP/1.1). *len: bytes; -1
 * when out of memory. */
static int fill(struct session *s, size_t cap, int64_t room, size_t *len)
{
    int64_t wall = 0;
    size_t n, take;
    unsigned char *buf;
    struct msg *m;

    while (*len < cap && (m = session_tx_next(s))) {
        if (!(buf = live_scratch(s->live, LWS_PRE + *len + m->len + 64)) ||
            !(n = sse_format(buf + LWS_PRE + *len, s->live->scratch_cap - LWS_PRE - *len, m)))
            return -1;
        if (*len && *len + n - s->tx_off > cap && room < 0)
            break; /* HTTP/1.1: the next write takes it whole */
        if (s->tx_off) /* what is left of a partly written event */
            memmove(buf + LWS_PRE + *len, buf + LWS_PRE + *len + s->tx_off, n - s->tx_off);
        n -= s->tx_off;
        take = room < 0 || *len + n <= cap ? n : cap - *len;
        *len += take;
        if (take < n) {
            s->tx_off += take;
            session_tx_advance(s, m, 0);
            break;
        }
        s->tx_off = 0;
        if (m->seq && s->metrics)
            metrics_pushed(s->metrics, m->changed_ms, wall ? wall : (wall = auth_now_ms()));
        session_tx_advance(s, m, 1);
    }
    return 0;
}

int sse_writeable(struct lws *wsi, struct sse_stream *st)
{
    static const char beat[] = ": keep-alive\n\n";
    struct session *s = &st->s;
    size_t len = 0, cap = SSE_WRITE_MAX;
    int64_t now = clock_mono_ms(), room = h2_room(wsi);
    unsigned char *buf;

    if (room >= 0 && (size_t)room < cap)
        cap = (size_t)room;
    /* Several events per write, but one write per callback (HTTP/2). */
    if (fill(s, cap, room, &len))
        return -1;
    if (!len && s->ping_due && (room < 0 || (size_t)room >= sizeof(beat) - 1)) {
        if (!live_scratch(s->live, LWS_PRE + sizeof(beat)))
            return -1;
        memcpy(s->live->scratch + LWS_PRE, beat, sizeof(beat) - 1);
        len = sizeof(beat) - 1;
    }
    if (len) {
        buf = s->live->scratch;
        if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP) != (int)len)
            return -1;
        s->last_tx_ms = now;
        s->ping_due = 0; /* anything written keeps the stream alive */
        h2_keep_flushing(wsi);
    }
    session_tx_progress(s, len > 0, now);
    if (session_tx_next(s)) {
        /* With the window closed, a WINDOW_UPDATE brings the next callback. */
        if (len)
            lws_callback_on_writable(wsi);
    } else if (s->closing) {
        /* Everything queued was written: end the stream cleanly (HTTP/2:
         * END_STREAM rather than a reset, which carries no DATA and needs
         * no window; HTTP/1.1: the connection closes). */
        if (!live_scratch(s->live, LWS_PRE + 1) ||
            lws_write(wsi, s->live->scratch + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    return 0;
}

void sse_close(struct sse_stream *st)
{
    live_unlink(st->s.live, &st->s);
    free(st);
}
