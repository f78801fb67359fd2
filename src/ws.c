/* SPDX-License-Identifier: MIT
 *
 * The live channel's WebSocket transport (ws.h): a connection's life in
 * lws callbacks, reassembling client messages, pings, and writing the
 * session's queue: whole messages on HTTP/1.1 (also straight from the
 * fan-out when nothing waits), within the peer's window on HTTP/2, in
 * fragments when a message is larger than the window (RFC 6455 §5.4).
 */
#include "ws.h"

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
#include "sweep.h"
#include "upgrade.h"
#include "vhost.h"

/* Messages written per writeable callback while the socket takes them. */
#define WRITE_BURST 16

/* The protocol's per-vhost (per-thread) state. */
struct ws_vhd {
    struct live live;
    struct lws_context *context;
    lws_sorted_usec_list_t sweep;
};

/* One connection. */
struct ws_conn {
    struct session s; /* first: the session ops get it back from s */
    char *rx;         /* a message being reassembled from fragments */
    size_t rx_len;
};

static struct lws *wsi_of(const struct session *s)
{
    return s->transport;
}

static void ws_wake(struct session *s)
{
    lws_callback_on_writable(wsi_of(s));
}

/* Not in the wsi's own callback: ask lws to close it for us. */
static void ws_kill(struct session *s)
{
    lws_set_timeout(wsi_of(s), PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* One WebSocket frame of len bytes of m from off, with lws_write flags,
 * copied into the thread's buffer behind lws's headroom. */
static int write_frame(struct live *lt, struct lws *wsi, const struct msg *m, size_t off, size_t len, int flags)
{
    unsigned char *buf = live_scratch(lt, LWS_PRE + len);

    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, m->buf + m->pre + off, len);
    return lws_write(wsi, buf + LWS_PRE, len, (enum lws_write_protocol)flags) < (int)len ? -1 : 0;
}

/* m whole, in one frame (HTTP/1.1, which has no window). */
static int write_one(struct live *lt, struct lws *wsi, const struct msg *m)
{
    return write_frame(lt, wsi, m, 0, m->len, LWS_WRITE_TEXT);
}

/* From the fan-out, outside a writeable callback: only on HTTP/1.1 (an
 * HTTP/2 stream must wait for its flow-control turn) and when lws holds
 * nothing unsent from an earlier write (lws_partial_buffered: no system
 * call). A socket that turns out full takes nothing: lws keeps the message
 * (ahead of anything later, which then queues here) and sends it when the
 * socket is writable. Asking the kernel first (lws_send_pipe_choked, a
 * poll()) cost a system call per delivered message for a case a broadcast
 * seldom meets; the writeable callback would cost two epoll_ctl calls and
 * a turn of the loop. */
static int ws_write_now(struct session *s, const struct msg *m)
{
    struct lws *wsi = wsi_of(s);

    if (lws_get_network_wsi(wsi) != wsi || lws_partial_buffered(wsi))
        return 0;
    if (write_one(s->live, wsi, m))
        return -1;
    s->tx_mark = 1; /* a broadcast writes to thousands: the sweep reads the clock for it */
    return 1;
}

/* A ping frame. With a payload: lws 4.1 reports only non-empty pongs to us. */
static int write_ping_frame(struct lws *wsi)
{
    uint8_t ping[LWS_PRE + 2];

    memcpy(ping + LWS_PRE, "wp", 2);
    return lws_write(wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0 ? -1 : 0;
}

/* From the sweep: a due ping at once when nothing of the session's waits,
 * in lws or here (HTTP/1.1 only, as ws_write_now), instead of a writeable
 * turn: no system call but the write, where the turn costs two epoll_ctl
 * calls, for each of the thousands of idle peers pinged every interval. */
static int ws_ping(struct session *s)
{
    struct lws *wsi = wsi_of(s);

    if (lws_get_network_wsi(wsi) != wsi || s->closing || session_tx_next(s) || lws_partial_buffered(wsi))
        return 0;
    return write_ping_frame(wsi) ? -1 : 1;
}

static const struct session_ops ws_ops = {ws_wake, ws_kill, ws_write_now, ws_ping, 0};

/* The header lws puts before an unmasked frame of n payload bytes. */
static size_t ws_header_len(size_t n)
{
    return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

/* What write_within() did. */
enum { TX_FAILED = -1, TX_BLOCKED, TX_PART, TX_DONE };

/* m (from s->tx_off on) within room bytes of DATA: whole when it fits,
 * else the next fragment (a text frame without FIN, then continuations),
 * so that a message larger than the peer's window still gets through.
 * TX_BLOCKED when not even a fragment fits. */
static int write_within(struct lws *wsi, struct session *s, struct msg *m, size_t room)
{
    size_t left = m->len - s->tx_off, n;
    int flags = s->tx_off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;

    if (left + ws_header_len(left) <= room) {
        if (write_frame(s->live, wsi, m, s->tx_off, left, flags))
            return TX_FAILED;
        s->tx_off = 0;
        return TX_DONE;
    }
    /* The largest payload whose frame fits; it is shorter than left. */
    if (room >= 65536 + 4)
        n = room - 10;
    else if (room >= 126 + 4)
        n = room - 4;
    else if (room >= 3)
        n = room - 2 < 125 ? room - 2 : 125;
    else
        return TX_BLOCKED;
    if (write_frame(s->live, wsi, m, s->tx_off, n, flags | LWS_WRITE_NO_FIN))
        return TX_FAILED;
    s->tx_off += n;
    return TX_PART;
}

/* A due ping, if the window has room for it (HTTP/2: a ping is DATA too).
 * 1 written, 0 not now, -1 failed. */
static int write_ping(struct lws *wsi, struct session *s, int64_t room)
{
    if (!s->ping_due || (room >= 0 && room < 4))
        return 0;
    s->ping_due = 0; /* the sweep counted it as sent (last_tx_ms, ping_sent_ms) */
    if (write_ping_frame(wsi))
        return -1;
    if (session_tx_next(s) || s->closing)
        lws_callback_on_writable(wsi);
    return 1;
}

static int on_writeable(struct lws *wsi, struct session *s)
{
    int64_t now = 0, mono, room = h2_room(wsi);
    struct msg *m;
    int rc = write_ping(wsi, s, room), wrote = 0;

    if (rc)
        return rc < 0 ? -1 : 0;
    rc = TX_BLOCKED;
    /* HTTP/1.1 (room -1): whole messages. HTTP/2: within the peer's window,
     * which each write uses up; when it is closed nothing is written and a
     * WINDOW_UPDATE brings the next callback (lws asks for one on every
     * stream of the connection then). */
    for (int i = 0; i < WRITE_BURST && (m = session_tx_next(s)); i++) {
        if (i && room >= 0)
            room = h2_room(wsi);
        rc = room < 0 ? (write_one(s->live, wsi, m) ? TX_FAILED : TX_DONE) : write_within(wsi, s, m, (size_t)room);
        if (rc == TX_FAILED)
            return -1; /* the socket failed: lws closes it */
        if (rc == TX_BLOCKED)
            break;
        wrote = 1;
        if (rc == TX_DONE && m->seq && s->metrics)
            metrics_pushed(s->metrics, m->changed_ms, now ? now : (now = auth_now_ms()));
        session_tx_advance(s, m, rc == TX_DONE);
        /* lws_send_pipe_choked() costs a poll() system call: ask only when
         * there is more to write (a broadcast queues one message each). */
        if (session_tx_next(s) && lws_send_pipe_choked(wsi))
            break;
    }
    mono = clock_mono_ms(); /* one clock read per burst: the send timeout's, and liveness's */
    session_tx_progress(s, wrote, mono);
    if (wrote)
        s->last_tx_ms = mono;
    if (wrote)
        h2_keep_flushing(wsi);
    if (session_tx_next(s)) {
        if (rc != TX_BLOCKED)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->closing) {
        lws_close_reason(wsi, (enum lws_close_status)s->close_code, (unsigned char *)s->close_reason,
                         strlen(s->close_reason));
        return -1; /* close on purpose: everything queued was written */
    }
    return 0;
}

/* Collect fragments into one message; closes with 1009 past WS_MSG_MAX. */
static int on_receive(struct lws *wsi, struct ws_conn *c, const void *in, size_t len)
{
    struct live *lt = c->s.live;
    char *g;

    c->s.last_rx_ms = clock_mono_ms();
    if (c->s.closing)
        return 0; /* we are hanging up: ignore what still arrives */
    if (c->rx_len + len > WS_MSG_MAX) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"message too large", 17);
        metrics_refused(c->s.metrics, METRICS_REFUSE_TOO_LARGE);
        return -1;
    }
    g = realloc(c->rx, c->rx_len + len + 1);
    if (!g)
        return -1; /* out of memory: drop this connection, not the server */
    c->rx = g;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    if (lws_frame_is_binary(wsi)) {
        session_error(&c->s, "null", 400, "Messages must be JSON text frames", 0);
        metrics_refused(c->s.metrics, METRICS_REFUSE_BAD_MESSAGE);
    } else {
        live_on_message(lt, &c->s, c->rx, c->rx_len);
    }
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    return 0;
}

static int on_established(struct lws *wsi, struct ws_vhd *vhd, struct ws_conn *c)
{
    struct vhost_state *conf = vhd->live.conf;
    char cred[ADMISSION_CRED_MAX];

    memset(c, 0, sizeof(*c));
    session_init(&c->s, &vhd->live, &ws_ops, wsi, conf->metrics, LIVE_QUEUE_MAX, clock_mono_ms());
    /* The upgrade was checked in upgrade.c; this re-resolves for our copy. A key
     * revoked in between fails here: close at once. */
    if (admission_credential(wsi, 1, cred, sizeof(cred)) ||
        auth_resolve(conf->store, conf->secret, cred, auth_now_ms(), &c->s.cred)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"unauthorized", 12);
        return -1;
    }
    c->s.cred_id = admission_cred_id(cred);
    lws_explicit_bzero(cred, sizeof(cred));
    live_link(&vhd->live, &c->s);
    metrics_gauge_add(conf->metrics, METRICS_WEBSOCKETS, 1);
    return 0;
}

static void on_closed(struct ws_vhd *vhd, struct ws_conn *c)
{
    if (!c->s.prevp)
        return; /* never established */
    live_unlink(&vhd->live, &c->s);
    free(c->rx);
    c->rx = NULL;
    metrics_gauge_add(vhd->live.conf->metrics, METRICS_WEBSOCKETS, -1);
}

static void on_sweep(lws_sorted_usec_list_t *sul)
{
    struct ws_vhd *vhd = lws_container_of(sul, struct ws_vhd, sweep);

    sweep_run(&vhd->live, clock_mono_ms(), auth_now_ms());
    lws_sul_schedule(vhd->context, 0, &vhd->sweep, on_sweep, SWEEP_MS * LWS_US_PER_MS);
}

static int protocol_init(struct lws *wsi)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    struct ws_vhd *vhd = lws_protocol_vh_priv_zalloc(vh, lws_get_protocol(wsi), sizeof(*vhd));
    struct vhost_state *conf = lws_vhost_user(vh);

    if (!vhd || live_init(&vhd->live, conf))
        return -1;
    vhd->context = lws_get_context(wsi);
    conf->live = &vhd->live; /* for event streams and draining, on this thread */
    lws_sul_schedule(vhd->context, 0, &vhd->sweep, on_sweep, SWEEP_MS * LWS_US_PER_MS);
    return 0;
}

static void protocol_destroy(struct ws_vhd *vhd)
{
    if (!vhd)
        return;
    lws_sul_cancel(&vhd->sweep);
    if (vhd->live.conf)
        vhd->live.conf->live = NULL;
    live_free(&vhd->live);
}

static int callback_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct ws_vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));
    struct ws_conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return protocol_init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        protocol_destroy(vhd);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* HTTP/2 WebSocket streams (RFC 8441) skip CONFIRM_UPGRADE, so the
         * upgrade is checked again here; lws can only reset a refused
         * stream, which the browser sees as a failed connection. */
        const char *why;
        int retry_after;

        if (lws_get_network_wsi(wsi) == wsi)
            return 0; /* HTTP/1.1: checked at CONFIRM_UPGRADE already */
        return upgrade_check(wsi, &why, &retry_after) ? 1 : 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!vhd)
            return -1; /* protocol not initialised: refuse rather than crash */
        return on_established(wsi, vhd, c);
    case LWS_CALLBACK_RECEIVE:
        return on_receive(wsi, c, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        c->s.last_rx_ms = clock_mono_ms();
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(wsi, &c->s);
    case LWS_CALLBACK_CLOSED:
        on_closed(vhd, c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (vhd) {
            live_take(&vhd->live);
            live_finish_snapshots(&vhd->live);
        }
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols ws_protocol = {
    .name = LIVE_PROTOCOL_NAME,
    .callback = callback_ws,
    .per_session_data_size = sizeof(struct ws_conn),
    .rx_buffer_size = WS_MSG_MAX,
};
