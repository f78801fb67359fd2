/* SPDX-License-Identifier: MIT
 *
 * The WebSocket protocol for /live: parses client messages (view.c), checks
 * each subscription's scope (auth.c), reads the starting snapshot or replay
 * (store.c), keeps the thread's subscription registry (subs.c), fans out the
 * feed's changes into each session's bounded queue (outq.c) and writes only
 * from the writeable callback. Every session lives on one service thread;
 * nothing here is shared with other threads except the feed's messages,
 * which are reference-counted and never written to.
 */
#include "channel.h"
#include "channel_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "cache.h"
#include "clock.h"
#include "bus.h"
#include "change_msg.h"
#include "admission.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "outq.h"
#include "path.h"
#include "scopeset.h"
#include "source.h"
#include "store.h"
#include "upgrade.h"
#include "subs.h"
#include "sweep.h"
#include "vhost.h"
#include "view.h"

/* Messages written per writeable callback while the socket takes them. */
#define WRITE_BURST 16

static struct vhd_channel *vhd_of(struct lws *wsi)
{
    return lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));
}

/* This thread's counters (NULL: none). */
static struct metrics_thread *mt_of(struct lws *wsi)
{
    return ((struct vhost_state *)lws_vhost_user(lws_get_vhost(wsi)))->metrics;
}

/* Queue m (taking a reference) and ask for a writeable callback. A queue
 * that is full even after merging means a client too slow to keep: it is
 * closed and resumes with `since`, losing nothing. */
static void enqueue(struct pss_channel *pss, struct msg *m)
{
    if (pss->closing == 2)
        return;
    if (outq_push(&pss->q, m)) {
        outq_clear(&pss->q);
        pss->closing = 2;
        pss->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        pss->close_reason = "too slow; reconnect with since";
        metrics_refused(mt_of(pss->wsi), METRICS_REFUSE_SLOW_CONSUMER);
    }
    if (!pss->stalled_ms)
        pss->stalled_ms = clock_mono_ms();
    lws_callback_on_writable(pss->wsi);
}

/* Queue a reply we own (drops our reference after queueing). */
static void enqueue_owned(struct pss_channel *pss, unsigned char *buf, size_t len)
{
    struct msg *m = msg_wrap(buf, LWS_PRE, len, 0, 0, NULL, NULL, NULL);

    if (!m) {
        log_error("%s: out of memory for a reply", __func__);
        return;
    }
    enqueue(pss, m);
    msg_unref(m);
}

static void send_error_retry(struct pss_channel *pss, const char *id_json, int code, const char *message,
                             int retry_after)
{
    size_t len = 0;
    unsigned char *buf = view_live_error(id_json, code, message, retry_after, LWS_PRE, &len);

    if (buf)
        enqueue_owned(pss, buf, len);
}

static void send_error(struct pss_channel *pss, const char *id_json, int code, const char *message)
{
    send_error_retry(pss, id_json, code, message, 0);
}

/* The database could not be read: another process's lock (-EBUSY) is
 * answered like REST's 503, to be tried again in a second. */
static void send_db_error(struct pss_channel *pss, const char *id_json, int rc)
{
    if (rc == -EBUSY)
        send_error_retry(pss, id_json, 503, "Database busy, try again", 1);
    else
        send_error(pss, id_json, 500, "Database unavailable, try again");
}

static void scopes_drop(struct vhd_channel *vhd, struct pss_channel *pss)
{
    metrics_gauge_add(vhd->conf->metrics, METRICS_SUBSCRIPTIONS, -pss->scopes.n);
    for (int i = 0; i < pss->scopes.n; i++)
        subs_remove(vhd->subs, pss->scopes.v[i].dc_id, pss->scopes.v[i].customer_id, pss);
    scopeset_clear(&pss->scopes);
}

/* End every subscription with a 401 error, then close (revoked or expired). */
static void channel_end_session(struct vhd_channel *vhd, struct pss_channel *pss, const char *why)
{
    if (pss->closing)
        return;
    scopes_drop(vhd, pss);
    send_error(pss, "null", 401, why);
    pss->closing = 1;
    pss->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    pss->close_reason = why;
}

/* Who may subscribe to what: 0, or an error reply already queued. */
static int subscribe_allowed(struct vhd_channel *vhd, struct pss_channel *pss, const struct view_client_msg *m)
{
    int rc, wait;

    /* Each subscribe reads a snapshot: it is authenticated work, paid by
     * the session's credential like an API request (never by its address,
     * which many clients may share). */
    if ((wait = admission_rate_take(vhd->conf, pss->cred_id))) {
        send_error_retry(pss, m->id_json, 429, "Too many requests", wait);
        metrics_refused(vhd->conf->metrics, METRICS_REFUSE_RATE_LIMIT);
        return -EAGAIN;
    }
    if (!m->dc_id || !path_id_valid(m->dc_id, strlen(m->dc_id)) ||
        (m->customer_id && !path_id_valid(m->customer_id, strlen(m->customer_id)))) {
        send_error(pss, m->id_json, 400, "dc_id and customer_id must be 1 to 255 bytes of UTF-8");
        return -EINVAL;
    }
    if (pss->cred.kind == AUTH_TOKEN && (!m->customer_id || !auth_may_read_customer(&pss->cred, m->dc_id,
                                                                                   m->customer_id))) {
        send_error(pss, m->id_json, 403, "A tracking token may only follow its own customer");
        return -EACCES;
    }
    rc = auth_may_read_dc(vhd->conf->store, &pss->cred, m->dc_id);
    if (rc < 0) {
        send_db_error(pss, m->id_json, rc);
        return rc;
    }
    if (rc == 0) {
        send_error(pss, m->id_json, 403, AUTH_MSG_DC_SCOPE);
        return -EACCES;
    }
    if (scopeset_find(&pss->scopes, m->dc_id, m->customer_id) < 0 && pss->scopes.n >= vhd->conf->shared->max_subs) {
        send_error(pss, m->id_json, 429, "Too many subscriptions on one connection");
        metrics_refused(vhd->conf->metrics, METRICS_REFUSE_TOO_MANY_SUBS);
        return -ENOSPC;
    }
    return 0;
}

static void on_feed(struct vhd_channel *vhd);

/* A session that cannot be given what it is owed (out of memory) is
 * closed rather than left with a gap: it resumes with since. */
static void end_for_resume(struct vhd_channel *vhd, struct pss_channel *pss)
{
    if (pss->closing)
        return;
    scopes_drop(vhd, pss);
    outq_clear(&pss->q);
    pss->closing = 1;
    pss->close_status = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
    pss->close_reason = "server out of memory; reconnect with since";
    lws_callback_on_writable(pss->wsi);
}

/* scopeset_resume's emit: queue one replayed change. */
static void emit_replayed(void *item, void *arg)
{
    struct pss_channel *pss = arg;
    struct msg *c;

    if (pss->closing)
        return;
    c = change_msg_render(item);
    if (!c) {
        end_for_resume(pss->vhd, pss);
        return;
    }
    enqueue(pss, c);
    msg_unref(c);
}

/* The scope starts at the snapshot's seq, or after the since it resumes.
 * Its replay was read at the database's head, which the feed may not have
 * reached yet; scopeset_resume sends only what the feed has offered this
 * thread (everything queued for it was taken just before the read) and
 * leaves the rest to the feed, so every scope sees each change once and
 * in order. */
static int start_scope(struct vhd_channel *vhd, struct pss_channel *pss, const struct view_client_msg *m,
                       const struct store_sub_state *st)
{
    int64_t start = st->resumed ? m->since : st->seq;
    struct scopeset_change *replay = NULL;
    int added = scopeset_find(&pss->scopes, m->dc_id, m->customer_id) < 0;
    int i = scopeset_add(&pss->scopes, m->dc_id, m->customer_id, start);

    if (i < 0)
        return i;
    if (subs_add(vhd->subs, m->dc_id, m->customer_id, pss, start) ||
        (st->nchanges && !(replay = calloc(st->nchanges, sizeof(*replay))))) {
        scopeset_remove(&pss->scopes, i);
        subs_remove(vhd->subs, m->dc_id, m->customer_id, pss);
        if (!added)
            metrics_gauge_add(mt_of(pss->wsi), METRICS_SUBSCRIPTIONS, -1);
        return -ENOMEM;
    }
    if (added)
        metrics_gauge_add(mt_of(pss->wsi), METRICS_SUBSCRIPTIONS, 1);
    for (size_t k = 0; k < st->nchanges; k++) {
        const struct waypoint *w = &st->changes[k].w;

        replay[k] = (struct scopeset_change){w->dc_id, w->customer_id, st->changes[k].seq, &st->changes[k]};
    }
    scopeset_resume(&pss->scopes, i, replay, st->nchanges, vhd->conf->shared->bus ? vhd->through : INT64_MAX,
                    emit_replayed, pss);
    free(replay);
    return 0;
}

static void on_subscribe(struct vhd_channel *vhd, struct pss_channel *pss, const struct view_client_msg *m)
{
    struct store_sub_state st;
    unsigned char *buf;
    size_t len = 0;
    int rc;

    if (subscribe_allowed(vhd, pss, m))
        return;
    /* Take what the feed has queued first: the other scopes are then up to
     * date with vhd->through when the replay meets them. */
    vhd->subscribing = 1;
    on_feed(vhd);
    vhd->subscribing = 0;
    if (pss->closing)
        return;
    if ((rc = vhd->conf->shared->source->ops->start_point(vhd->conf->source_thread, m->dc_id, m->customer_id, m->since,
                                                          &st))) {
        send_db_error(pss, m->id_json, rc);
        return;
    }
    if (m->since >= 0 && !st.resumed)
        log_info("live: cannot resume %s/%s after seq %lld (no longer in the change log, or too far behind): "
                 "sent a snapshot at seq %lld",
                 m->dc_id, m->customer_id ? m->customer_id : "*", (long long)m->since, (long long)st.seq);
    /* A resume answers with the since given; the stream continues after the
     * head the replay was read at (st.seq), so nothing comes twice. */
    buf = view_live_subscribed(m->id_json, m->dc_id, m->customer_id, st.resumed ? m->since : st.seq, st.resumed,
                               st.w, st.nw, LWS_PRE, &len);
    if (!buf) {
        send_error(pss, m->id_json, 500, "Out of memory");
    } else {
        enqueue_owned(pss, buf, len);
        if (start_scope(vhd, pss, m, &st))
            end_for_resume(vhd, pss);
    }
    store_sub_state_clear(&st);
}

static void on_unsubscribe(struct vhd_channel *vhd, struct pss_channel *pss, const struct view_client_msg *m)
{
    int i = m->dc_id ? scopeset_find(&pss->scopes, m->dc_id, m->customer_id) : -1;
    unsigned char *buf;
    size_t len = 0;

    if (i >= 0) {
        subs_remove(vhd->subs, m->dc_id, m->customer_id, pss);
        scopeset_remove(&pss->scopes, i);
        metrics_gauge_add(vhd->conf->metrics, METRICS_SUBSCRIPTIONS, -1);
    }
    /* Unsubscribing from something not subscribed is answered the same way:
     * afterwards, either way, nothing of it arrives. */
    buf = view_live_reply("unsubscribed", m->id_json, LWS_PRE, &len);
    if (buf)
        enqueue_owned(pss, buf, len);
}

static void on_message(struct vhd_channel *vhd, struct pss_channel *pss, const char *text, size_t len)
{
    struct view_client_msg m;
    const char *why = NULL;
    unsigned char *buf;
    size_t n = 0;

    if (view_parse_client_msg(text, len, &m, &why)) {
        send_error(pss, m.id_json ? m.id_json : "null", 400, why);
        metrics_refused(vhd->conf->metrics, METRICS_REFUSE_BAD_MESSAGE);
    } else if (m.type == VIEW_MSG_PING) {
        buf = view_live_reply("pong", m.id_json, LWS_PRE, &n);
        if (buf)
            enqueue_owned(pss, buf, n);
    } else if (m.type == VIEW_MSG_SUBSCRIBE) {
        on_subscribe(vhd, pss, &m);
    } else {
        on_unsubscribe(vhd, pss, &m);
    }
    view_client_msg_clear(&m);
}

/* Collect fragments into one message; closes with 1009 past CHANNEL_MSG_MAX. */
static int on_receive(struct lws *wsi, struct vhd_channel *vhd, struct pss_channel *pss, const void *in, size_t len)
{
    char *g;

    pss->last_rx_ms = clock_mono_ms();
    if (pss->closing)
        return 0; /* we are hanging up: ignore what still arrives */
    if (pss->rx_len + len > CHANNEL_MSG_MAX) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"message too large", 17);
        metrics_refused(vhd->conf->metrics, METRICS_REFUSE_TOO_LARGE);
        return -1;
    }
    g = realloc(pss->rx, pss->rx_len + len + 1);
    if (!g)
        return -1; /* out of memory: drop this connection, not the server */
    pss->rx = g;
    memcpy(pss->rx + pss->rx_len, in, len);
    pss->rx_len += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    if (lws_frame_is_binary(wsi)) {
        send_error(pss, "null", 400, "Messages must be JSON text frames");
        metrics_refused(vhd->conf->metrics, METRICS_REFUSE_BAD_MESSAGE);
    } else
        on_message(vhd, pss, pss->rx, pss->rx_len);
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_len = 0;
    return 0;
}

static int write_one(struct vhd_channel *vhd, struct lws *wsi, const struct msg *m);

/* May m be written to this WebSocket at once, from the fan-out, instead of
 * from a writeable callback? Only on HTTP/1.1 (an HTTP/2 stream must wait
 * for its flow-control turn), with nothing of ours or lws's waiting ahead of
 * it: lws_send_pipe_choked() says whether lws still holds unsent bytes or
 * the socket is full (one poll(), where the callback would cost two
 * epoll_ctl calls and a turn of the loop). Order is kept: a message goes
 * straight out only when the queue is empty. */
static int can_write_now(const struct pss_channel *pss)
{
    return !pss->sse && !pss->closing && !pss->ping_due && !pss->vhd->subscribing && !pss->tx_msg &&
           !outq_peek(&pss->q) &&
           lws_get_network_wsi(pss->wsi) == pss->wsi && !lws_send_pipe_choked(pss->wsi);
}

/* Fan-out callback from subs_match: a session holding a customer and its
 * DC is called twice; scopeset_admit lets the change through once. */
static void deliver(void *session, void *arg)
{
    struct pss_channel *pss = session;
    struct msg *m = arg;
    struct vhd_channel *vhd;

    if (pss->closing || !scopeset_admit(&pss->scopes, msg_dc_id(m), msg_customer_id(m), m->seq))
        return;
    if (!can_write_now(pss)) {
        enqueue(pss, m);
        return;
    }
    vhd = pss->vhd;
    if (write_one(vhd, pss->wsi, m)) {
        /* The socket failed; not in the wsi's own callback: let lws close it. */
        pss->closing = 2;
        lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    metrics_pushed(vhd->conf->metrics, m->changed_ms, auth_now_ms());
}

/* Every session on this thread ends so that it resumes (the feed lost
 * changes for this thread: out of memory). */
static void end_all_for_resume(struct vhd_channel *vhd)
{
    for (struct pss_channel *p = vhd->sessions; p; p = p->next)
        end_for_resume(vhd, p);
}

/* Offer what the feed queued for this thread to its subscribers. */
static void on_feed(struct vhd_channel *vhd)
{
    struct bus_batch b;

    if (!vhd->conf->shared->bus || vhd->taking)
        return;
    vhd->taking = 1;
    bus_take(vhd->conf->shared->bus, vhd->conf->thread, &b);
    if (b.lost) {
        log_error("live: out of memory queueing changes for thread %d: its sessions reconnect and resume",
                  vhd->conf->thread);
        end_all_for_resume(vhd);
    }
    for (size_t i = 0; i < b.n; i++) {
        if (!b.lost)
            subs_match(vhd->subs, msg_dc_id(b.msgs[i]), msg_customer_id(b.msgs[i]), b.msgs[i]->seq, deliver,
                       b.msgs[i]);
        msg_unref(b.msgs[i]);
    }
    free(b.msgs);
    vhd->through = b.through;
    vhd->taking = 0;
}

/* Bytes of DATA written to an HTTP/2 stream at once, at most: the frame
 * size every peer accepts. lws 4.1 splits a write neither into frames of
 * the peer's size nor at the window. */
#define H2_WRITE_MAX 16384

/* After writing to an HTTP/2 stream: lws 4.1 hands the socket at most 4116
 * bytes per write and keeps the rest (or what a full socket did not take)
 * on the connection, but then turns the connection's POLLOUT off when no
 * stream asks for a callback (lws_wsi_mux_action_pending_writeable_reqs()),
 * and the rest waits until the client sends something: a 6 KB message was
 * seen to stall for good. Asking for a callback keeps POLLOUT on; lws sends
 * what it kept before it calls any stream back. */
static void h2_keep_flushing(struct lws *wsi)
{
    struct lws *nwsi = lws_get_network_wsi(wsi);

    if (nwsi != wsi && lws_partial_buffered(nwsi))
        lws_callback_on_writable(wsi);
}

/* The DATA the peer takes now (at most H2_WRITE_MAX), or -1 on HTTP/1.1,
 * which has no window. For a WebSocket over HTTP/2 lws 4.1 tells only the
 * connection's window (the stream is in lws's ws role, which reports none):
 * that one is kept to; the stream's own is not visible (docs/security.md). */
static int64_t peer_room(struct lws *wsi)
{
    struct lws *nwsi = lws_get_network_wsi(wsi);
    lws_fileofs_t room;

    if (nwsi == wsi)
        return -1;
    room = lws_get_peer_write_allowance(wsi);
    if (room < 0)
        room = lws_get_peer_write_allowance(nwsi);
    return room < 0 || room > H2_WRITE_MAX ? H2_WRITE_MAX : (int64_t)room;
}

/* One WebSocket frame of len bytes of m from off, with lws_write flags. */
static int write_frame(struct vhd_channel *vhd, struct lws *wsi, const struct msg *m, size_t off, size_t len,
                       int flags)
{
    if (vhd->scratch_cap < LWS_PRE + len) {
        unsigned char *g = realloc(vhd->scratch, LWS_PRE + len);

        if (!g)
            return -1;
        vhd->scratch = g;
        vhd->scratch_cap = LWS_PRE + len;
    }
    memcpy(vhd->scratch + LWS_PRE, m->buf + m->pre + off, len);
    return lws_write(wsi, vhd->scratch + LWS_PRE, len, (enum lws_write_protocol)flags) < (int)len ? -1 : 0;
}

/* m whole, in one frame (HTTP/1.1, which has no window). */
static int write_one(struct vhd_channel *vhd, struct lws *wsi, const struct msg *m)
{
    return write_frame(vhd, wsi, m, 0, m->len, LWS_WRITE_TEXT);
}

/* The header lws puts before an unmasked frame of n payload bytes. */
static size_t ws_header_len(size_t n)
{
    return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

/* What write_within() did. */
enum { TX_FAILED = -1, TX_BLOCKED, TX_PART, TX_DONE };

/* m (from pss->tx_off on) within room bytes of DATA: whole when it fits,
 * else the next fragment (a text frame without FIN, then continuations;
 * RFC 6455 §5.4), so that a message larger than the peer's window still
 * gets through. TX_BLOCKED when not even a fragment fits. */
static int write_within(struct vhd_channel *vhd, struct lws *wsi, struct pss_channel *pss, struct msg *m,
                        size_t room)
{
    size_t left = m->len - pss->tx_off, n;
    int flags = pss->tx_off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;

    if (left + ws_header_len(left) <= room) {
        if (write_frame(vhd, wsi, m, pss->tx_off, left, flags))
            return TX_FAILED;
        pss->tx_off = 0;
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
    if (write_frame(vhd, wsi, m, pss->tx_off, n, flags | LWS_WRITE_NO_FIN))
        return TX_FAILED;
    pss->tx_off += n;
    return TX_PART;
}

/* The next message to write: one partly written, else the queue's head. */
static struct msg *tx_next(const struct pss_channel *pss)
{
    return pss->tx_msg ? pss->tx_msg : outq_peek(&pss->q);
}

/* m (tx_next()) was written whole (done), or its first part: a message
 * partly written leaves the queue, so that merging or clearing the queue
 * cannot change the bytes its next fragment continues. */
static void tx_advance(struct pss_channel *pss, struct msg *m, int done)
{
    if (pss->tx_msg == m) {
        if (done) {
            pss->tx_msg = NULL;
            msg_unref(m);
        }
        return;
    }
    if (!done)
        pss->tx_msg = msg_ref(m);
    outq_pop(&pss->q);
}

static int on_writeable(struct lws *wsi, struct vhd_channel *vhd, struct pss_channel *pss)
{
    uint8_t ping[LWS_PRE + 2];
    int64_t now = 0, room = peer_room(wsi);
    struct msg *m;
    int rc = TX_BLOCKED, wrote = 0;

    if (pss->ping_due && (room < 0 || room >= 4)) { /* HTTP/2: a ping is DATA too */
        pss->ping_due = 0;
        /* With a payload: lws 4.1 reports only non-empty pongs to us. */
        memcpy(ping + LWS_PRE, "wp", 2);
        if (lws_write(wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0)
            return -1;
        if (tx_next(pss) || pss->closing)
            lws_callback_on_writable(wsi);
        return 0;
    }
    /* HTTP/1.1 (room -1): whole messages. HTTP/2: within the peer's window,
     * which each write uses up; when it is closed nothing is written and a
     * WINDOW_UPDATE brings the next callback (lws asks for one on every
     * stream of the connection then). */
    for (int i = 0; i < WRITE_BURST && (m = tx_next(pss)); i++) {
        if (i && room >= 0)
            room = peer_room(wsi);
        rc = room < 0 ? (write_one(vhd, wsi, m) ? TX_FAILED : TX_DONE) : write_within(vhd, wsi, pss, m, (size_t)room);
        if (rc == TX_FAILED)
            return -1; /* the socket failed: lws closes it */
        if (rc == TX_BLOCKED)
            break;
        wrote = 1;
        if (rc == TX_DONE && m->seq && vhd->conf->metrics)
            metrics_pushed(vhd->conf->metrics, m->changed_ms, now ? now : (now = auth_now_ms()));
        tx_advance(pss, m, rc == TX_DONE);
        /* lws_send_pipe_choked() costs a poll() system call: ask only when
         * there is more to write (a broadcast queues one message each). */
        if (tx_next(pss) && lws_send_pipe_choked(wsi))
            break;
    }
    if (wrote || !tx_next(pss))
        pss->stalled_ms = tx_next(pss) ? clock_mono_ms() : 0; /* progress made */
    else if (!pss->stalled_ms)
        pss->stalled_ms = clock_mono_ms(); /* the window stays closed: the send timeout counts */
    if (wrote)
        h2_keep_flushing(wsi);
    if (tx_next(pss)) {
        if (rc != TX_BLOCKED)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (pss->closing) {
        lws_close_reason(wsi, (enum lws_close_status)pss->close_status, (unsigned char *)pss->close_reason,
                         strlen(pss->close_reason));
        return -1; /* close on purpose: everything queued was written */
    }
    return 0;
}

static void link_session(struct vhd_channel *vhd, struct pss_channel *pss)
{
    pss->next = vhd->sessions;
    if (vhd->sessions)
        vhd->sessions->prevp = &pss->next;
    pss->prevp = &vhd->sessions;
    vhd->sessions = pss;
}

static int on_established(struct lws *wsi, struct vhd_channel *vhd, struct pss_channel *pss)
{
    char cred[ADMISSION_CRED_MAX];

    memset(pss, 0, sizeof(*pss));
    pss->wsi = wsi;
    pss->vhd = vhd;
    pss->last_rx_ms = clock_mono_ms();
    outq_init(&pss->q, CHANNEL_QUEUE_MAX);
    /* The upgrade was checked in upgrade.c; this re-resolves for our copy. A key
     * revoked in between fails here: close at once. */
    if (admission_credential(wsi, 1, cred, sizeof(cred)) ||
        auth_resolve(vhd->conf->store, vhd->conf->secret, cred, auth_now_ms(), &pss->cred)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"unauthorized", 12);
        return -1;
    }
    pss->cred_id = admission_cred_id(cred);
    lws_explicit_bzero(cred, sizeof(cred));
    link_session(vhd, pss);
    metrics_gauge_add(vhd->conf->metrics, METRICS_WEBSOCKETS, 1);
    return 0;
}

static void on_closed(struct vhd_channel *vhd, struct pss_channel *pss)
{
    if (!pss->prevp)
        return; /* never established */
    *pss->prevp = pss->next;
    if (pss->next)
        pss->next->prevp = pss->prevp;
    scopes_drop(vhd, pss);
    outq_clear(&pss->q);
    msg_unref(pss->tx_msg); /* a message partly written (HTTP/2) */
    pss->tx_msg = NULL;
    free(pss->rx);
    pss->prevp = NULL;
    if (!pss->sse)
        metrics_gauge_add(vhd->conf->metrics, METRICS_WEBSOCKETS, -1);
}

static int protocol_init(struct lws *wsi)
{
    struct vhd_channel *vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(*vhd));

    if (!vhd)
        return -1;
    vhd->context = lws_get_context(wsi);
    vhd->vhost = lws_get_vhost(wsi);
    vhd->conf = lws_vhost_user(vhd->vhost);
    vhd->keys_version = -1;
    vhd->end_session = channel_end_session;
    vhd->subs = subs_new();
    if (!vhd->subs)
        return -1;
    sweep_schedule(vhd);
    return 0;
}

static int callback_channel(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct vhd_channel *vhd = vhd_of(wsi);
    struct pss_channel *pss = user;

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return protocol_init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        if (vhd) {
            lws_sul_cancel(&vhd->sweep);
            subs_free(vhd->subs);
            free(vhd->scratch);
        }
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
        return on_established(wsi, vhd, pss);
    case LWS_CALLBACK_RECEIVE:
        return on_receive(wsi, vhd, pss, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        pss->last_rx_ms = clock_mono_ms();
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(wsi, vhd, pss);
    case LWS_CALLBACK_CLOSED:
        on_closed(vhd, pss);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (vhd)
            on_feed(vhd);
        return 0;
    default:
        return 0;
    }
}

/* The channel's per-vhost state from any wsi or vhost of this thread. */
static struct vhd_channel *vhd_of_vhost(struct lws_vhost *vh)
{
    const struct lws_protocols *prot = lws_vhost_name_to_protocol(vh, LIVE_PROTOCOL_NAME);

    return prot ? lws_protocol_vh_priv_get(vh, prot) : NULL;
}

/* ---- Server-Sent Events: the same session, written as an event stream ---- */

struct pss_channel *channel_sse_open(struct lws *wsi, const char *bearer, const char *dc_id, const char *customer_id,
                                     int64_t since, int *status, const char **why)
{
    struct vhd_channel *vhd = vhd_of_vhost(lws_get_vhost(wsi));
    struct view_client_msg m = {VIEW_MSG_SUBSCRIBE, (char *)"null", (char *)dc_id, (char *)customer_id, since};
    struct pss_channel *pss;
    int rc;

    *status = 500;
    *why = "Live channel unavailable";
    if (!vhd || !(pss = calloc(1, sizeof(*pss))))
        return NULL;
    pss->wsi = wsi;
    pss->vhd = vhd;
    pss->sse = 1;
    pss->last_rx_ms = pss->last_tx_ms = clock_mono_ms();
    outq_init(&pss->q, CHANNEL_QUEUE_MAX);
    rc = bearer ? auth_resolve(vhd->conf->store, vhd->conf->secret, bearer, auth_now_ms(), &pss->cred) : -EACCES;
    if (rc == -EACCES || rc == -EKEYEXPIRED) {
        *status = 401;
        *why = rc == -EACCES ? AUTH_MSG_UNAUTHORIZED : AUTH_MSG_EXPIRED;
    } else if (!rc && !auth_may_read_customer(&pss->cred, dc_id, customer_id)) {
        *status = 403; /* only a token can fail this: before the DC lookup, as REST */
        *why = AUTH_MSG_TOKEN_SCOPE;
    } else if (!rc && (rc = auth_may_read_dc(vhd->conf->store, &pss->cred, dc_id)) == 0) {
        *status = 403;
        *why = AUTH_MSG_DC_SCOPE;
    } else if (rc < 0) {
        /* The database, not the credential: a 401 would make the page give up. */
        *status = rc == -EBUSY ? 503 : 500;
        *why = rc == -EBUSY ? "Database busy, try again" : "Database unavailable, try again";
    } else {
        pss->cred_id = admission_cred_id(bearer);
        link_session(vhd, pss);
        /* The subscription pays the credential's rate limit (the request
         * only checked it). A refusal or a failure (the database) becomes
         * an error event, and the stream then ends. */
        on_subscribe(vhd, pss, &m);
        if (!pss->scopes.n)
            pss->closing = 1;
        return pss;
    }
    free(pss);
    return NULL;
}

/* Append one queued message as an event: "id:" for changes (what
 * Last-Event-ID resumes after), then the JSON on one data line. */
static size_t sse_format(unsigned char *out, size_t cap, const struct msg *m)
{
    int n = m->seq ? lws_snprintf((char *)out, cap, "id: %lld\ndata: ", (long long)m->seq)
                   : lws_snprintf((char *)out, cap, "data: ");

    if ((size_t)n + m->len + 2 >= cap)
        return 0;
    memcpy(out + n, m->buf + m->pre, m->len);
    memcpy(out + n + m->len, "\n\n", 2);
    return (size_t)n + m->len + 2;
}

static int sse_reserve(struct vhd_channel *vhd, size_t need)
{
    unsigned char *g;

    if (vhd->scratch_cap >= need)
        return 0;
    g = realloc(vhd->scratch, need);
    if (!g)
        return -1;
    vhd->scratch = g;
    vhd->scratch_cap = need;
    return 0;
}

int channel_sse_writeable(struct lws *wsi, struct pss_channel *pss)
{
    static const char beat[] = ": keep-alive\n\n";
    struct vhd_channel *vhd = pss->vhd;
    size_t len = 0, n, take, cap = CHANNEL_SSE_WRITE_MAX;
    int64_t now = clock_mono_ms(), wall = 0, room = peer_room(wsi);
    struct msg *m;

    /* HTTP/2: never more than the peer's window; an event that does not
     * fit is written in parts (SSE has no framing of its own: the client
     * reassembles the bytes), its message kept out of the queue meanwhile. */
    if (room >= 0 && (size_t)room < cap)
        cap = (size_t)room;
    /* Several events per write, but one write per callback (HTTP/2). */
    while (len < cap && (m = tx_next(pss))) {
        if (sse_reserve(vhd, LWS_PRE + len + m->len + 64) ||
            !(n = sse_format(vhd->scratch + LWS_PRE + len, vhd->scratch_cap - LWS_PRE - len, m)))
            return -1;
        if (len && len + n - pss->tx_off > cap && room < 0)
            break; /* HTTP/1.1: the next write takes it whole */
        if (pss->tx_off) /* what is left of a partly written event */
            memmove(vhd->scratch + LWS_PRE + len, vhd->scratch + LWS_PRE + len + pss->tx_off, n - pss->tx_off);
        n -= pss->tx_off;
        take = room < 0 || len + n <= cap ? n : cap - len;
        len += take;
        if (take < n) {
            pss->tx_off += take;
            tx_advance(pss, m, 0);
            break;
        }
        pss->tx_off = 0;
        if (m->seq && vhd->conf->metrics)
            metrics_pushed(vhd->conf->metrics, m->changed_ms, wall ? wall : (wall = auth_now_ms()));
        tx_advance(pss, m, 1);
    }
    if (!len && pss->ping_due && (room < 0 || (size_t)room >= sizeof(beat) - 1)) {
        if (sse_reserve(vhd, LWS_PRE + sizeof(beat)))
            return -1;
        memcpy(vhd->scratch + LWS_PRE, beat, sizeof(beat) - 1);
        len = sizeof(beat) - 1;
    }
    if (len) {
        if (lws_write(wsi, vhd->scratch + LWS_PRE, len, LWS_WRITE_HTTP) != (int)len)
            return -1;
        pss->last_tx_ms = now;
        pss->ping_due = 0; /* anything written keeps the stream alive */
        h2_keep_flushing(wsi);
    }
    if (len || !tx_next(pss))
        pss->stalled_ms = tx_next(pss) ? now : 0;
    else if (!pss->stalled_ms)
        pss->stalled_ms = now; /* the window stays closed: the send timeout counts */
    if (tx_next(pss)) {
        /* With the window closed, a WINDOW_UPDATE brings the next callback. */
        if (len)
            lws_callback_on_writable(wsi);
    } else if (pss->closing) {
        /* Everything queued was written: end the stream cleanly (HTTP/2:
         * END_STREAM rather than a reset, which carries no DATA and needs
         * no window; HTTP/1.1: the connection closes). */
        if (lws_write(wsi, vhd->scratch + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    return 0;
}

void channel_sse_close(struct lws *wsi, struct pss_channel *pss)
{
    (void)wsi;
    on_closed(pss->vhd, pss);
    free(pss);
}

int channel_drain(struct lws_vhost *vh)
{
    struct vhd_channel *vhd = vhd_of_vhost(vh);
    int open = 0;

    if (!vhd)
        return 0;
    for (struct pss_channel *p = vhd->sessions; p; p = p->next, open++) {
        if (p->closing)
            continue;
        scopes_drop(vhd, p);
        p->closing = 1;
        p->close_status = LWS_CLOSE_STATUS_GOINGAWAY;
        p->close_reason = "server stopping; reconnect with since";
        lws_callback_on_writable(p->wsi);
    }
    return open;
}

const struct lws_protocols channel_protocol = {
    .name = LIVE_PROTOCOL_NAME,
    .callback = callback_channel,
    .per_session_data_size = sizeof(struct pss_channel),
    .rx_buffer_size = CHANNEL_MSG_MAX,
};
