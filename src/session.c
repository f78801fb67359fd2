/* SPDX-License-Identifier: MIT
 *
 * One live session's queue and ending, for any transport (session.h).
 * Replies are built without headroom: the transports copy every message
 * into their own write buffer, never writing a shared one in place.
 */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "view.h"

void session_init(struct session *s, struct live *live, const struct session_ops *ops, void *transport,
                  struct metrics_thread *metrics, size_t queue_max, int64_t now_ms)
{
    memset(s, 0, sizeof(*s));
    s->live = live;
    s->ops = ops;
    s->transport = transport;
    s->metrics = metrics;
    s->last_rx_ms = s->last_tx_ms = now_ms;
    s->held_tail = &s->held;
    outq_init(&s->q, queue_max);
}

void session_enqueue(struct session *s, struct msg *m)
{
    if (s->closing == 2)
        return;
    if (outq_push(&s->q, m)) {
        outq_clear(&s->q);
        s->closing = 2;
        s->close_code = SESSION_CLOSE_POLICY;
        s->close_reason = "too slow; reconnect with since";
        metrics_refused(s->metrics, METRICS_REFUSE_SLOW_CONSUMER);
    }
    if (!s->stalled_ms)
        s->stalled_ms = clock_mono_ms();
    s->ops->wake(s);
}

void session_reply(struct session *s, unsigned char *buf, size_t len)
{
    struct msg *m = msg_wrap(buf, 0, len, 0, 0, NULL, NULL, NULL);

    if (!m) {
        log_error("%s: out of memory for a reply", __func__);
        return;
    }
    session_enqueue(s, m);
    msg_unref(m);
}

void session_error(struct session *s, const char *id_json, int code, const char *message, int retry_after)
{
    size_t len = 0;
    unsigned char *buf = view_live_error(id_json, code, message, retry_after, 0, &len);

    if (buf)
        session_reply(s, buf, len);
}

void session_db_error(struct session *s, const char *id_json, int rc)
{
    if (rc == -EBUSY)
        session_error(s, id_json, 503, "Database busy, try again", 1);
    else
        session_error(s, id_json, 500, "Database unavailable, try again", 0);
}

void session_close_after(struct session *s, int code, const char *reason)
{
    s->closing = 1;
    s->close_code = code;
    s->close_reason = reason;
    s->ops->wake(s);
}

struct msg *session_tx_next(const struct session *s)
{
    return s->tx_msg ? s->tx_msg : outq_peek(&s->q);
}

void session_tx_advance(struct session *s, struct msg *m, int done)
{
    if (s->tx_msg == m) {
        if (done) {
            s->tx_msg = NULL;
            msg_unref(m);
        }
        return;
    }
    if (!done)
        s->tx_msg = msg_ref(m);
    outq_pop(&s->q);
}

void session_tx_progress(struct session *s, int progress, int64_t now_ms)
{
    if (progress || !session_tx_next(s))
        s->stalled_ms = session_tx_next(s) ? now_ms : 0;
    else if (!s->stalled_ms)
        s->stalled_ms = now_ms; /* nothing could be written (a closed window): the send timeout counts */
}

void session_drop_queue(struct session *s)
{
    outq_clear(&s->q);
    msg_unref(s->tx_msg);
    s->tx_msg = NULL;
    s->tx_off = 0;
}

int session_hold(struct session *s, const char *text, size_t len, size_t max_bytes)
{
    struct session_held *h;

    if (s->held_bytes + len > max_bytes) {
        session_held_clear(s);
        return -ENOSPC;
    }
    if (!(h = malloc(sizeof(*h) + len))) {
        session_held_clear(s);
        return -ENOMEM;
    }
    h->next = NULL;
    h->len = len;
    memcpy(h->text, text, len);
    *s->held_tail = h;
    s->held_tail = &h->next;
    s->held_bytes += len;
    return 0;
}

struct session_held *session_held_take(struct session *s)
{
    struct session_held *h = s->held;

    if (!h)
        return NULL;
    s->held = h->next;
    if (!s->held)
        s->held_tail = &s->held;
    s->held_bytes -= h->len;
    return h;
}

void session_held_clear(struct session *s)
{
    while (s->held)
        free(session_held_take(s));
}
