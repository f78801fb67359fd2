/* SPDX-License-Identifier: MIT
 *
 * One live session, apart from its transport: its credential, its bounded
 * queue of messages, what it follows (scopeset.h), and how it ends. A
 * transport (ws.c: a WebSocket; sse.c: an event stream) owns the session's
 * memory, provides the few operations below, and in each writeable turn
 * writes what session_tx_next() gives. What a session follows, and how
 * changes reach it, is live.c's. Everything here runs on the service thread
 * that owns the session; nothing here knows lws.
 */
#ifndef WAYPOINTD_SESSION_H
#define WAYPOINTD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "live_notice.h"
#include "outq.h"
#include "scopeset.h"

struct live;
struct metrics_thread;
struct msg;
struct session;
struct snap_job;

/* How a session ends (RFC 6455 close codes; an event stream just ends). */
#define SESSION_CLOSE_GOING_AWAY 1001
#define SESSION_CLOSE_POLICY 1008
#define SESSION_CLOSE_UNEXPECTED 1011
#define SESSION_CLOSE_RESTART 1012

/* What a transport does for its sessions. */
struct session_ops {
    /* Ask for a writeable turn soon (lws_callback_on_writable). */
    void (*wake)(struct session *s);
    /* Close at once, from outside the transport's own callbacks (a failed
     * socket, a silent peer, a reader that stopped). */
    void (*kill)(struct session *s);
    /* Write m now, ahead of any turn, if the transport can (nothing of its
     * own waits, the socket takes it): 1 written, 0 not now (the caller
     * queues it), -1 the transport failed. NULL: always queue. */
    int (*write_now)(struct session *s, const struct msg *m);
    /* Write a liveness ping now, ahead of any turn, if the transport can
     * (nothing of its own waits, the socket takes it): 1 written, 0 not
     * now (the caller sets ping_due and wakes it), -1 the transport failed.
     * NULL: always at a turn. */
    int (*ping)(struct session *s);
    /* 1: the client never speaks (an event stream), so liveness is a
     * heartbeat the server sends rather than a ping the client answers. */
    int heartbeat;
};

struct session {
    struct session *next, **prevp; /* the thread's sessions (live.c); prevp NULL: not linked */
    struct live *live;             /* its thread's sessions */
    const struct session_ops *ops;
    void *transport;               /* the transport's own handle (its wsi) */
    struct metrics_thread *metrics; /* the thread's counters; NULL: none */
    struct auth_cred cred;
    uint64_t cred_id;              /* rate-limit id of its credential (admission.h) */
    struct outq q;
    struct scopeset scopes;        /* what it follows, and what each scope has been sent */
    struct live_notice_subs notices; /* the subscriptions that asked for notices (live.c) */
    struct msg *tx_msg;            /* a message partly written, out of the queue (a reference) */
    size_t tx_off;                 /* and how many of its bytes are out */
    int64_t last_rx_ms;            /* clock_mono_ms() when the peer last sent anything */
    int64_t last_tx_ms;            /* when the transport last wrote (pings, heartbeats) */
    int64_t ping_sent_ms;          /* when the last ping was sent (or asked for); 0: none */
    int tx_mark;                   /* wrote since the last sweep without reading the clock (the
                                    * fan-out's direct writes): the sweep makes it last_tx_ms */
    int64_t stalled_ms;            /* since when queued messages wait without progress; 0: none wait */
    int ping_due;                  /* a ping (or heartbeat) at the next writeable turn */
    int closing;                   /* 1: close once the queue is written; 2: closed, nothing more is queued */
    int close_code;                /* SESSION_CLOSE_* then */
    const char *close_reason;      /* static */
    struct snap_job *snap_job;     /* its DC subscription being started off the thread (live.c) */
    struct session_held *held;     /* client messages that came meanwhile, answered after it */
    struct session_held **held_tail;
    size_t held_bytes;
};

/* A fresh session of transport t, not yet linked into its thread; queues
 * at most queue_max messages. */
void session_init(struct session *s, struct live *live, const struct session_ops *ops, void *transport,
                  struct metrics_thread *metrics, size_t queue_max, int64_t now_ms);
/* Queue m (taking a reference) and wake the transport. A queue that is full
 * even after merging means a client too slow to keep: the session closes
 * (it resumes with since, losing nothing). */
void session_enqueue(struct session *s, struct msg *m);
/* Queue a reply built in buf (malloc'd JSON of len bytes; taken over). */
void session_reply(struct session *s, unsigned char *buf, size_t len);
/* Queue an error message for request id_json ("null": none); retry_after
 * > 0 adds the seconds to wait. */
void session_error(struct session *s, const char *id_json, int code, const char *message, int retry_after);
/* The database could not be read (rc from the store): -EBUSY is answered
 * like REST's 503, to be tried again in a second; anything else as a 500. */
void session_db_error(struct session *s, const char *id_json, int rc);
/* Close with code and reason (static) once what is queued is written. */
void session_close_after(struct session *s, int code, const char *reason);
/* The next message to write: one partly written, else the queue's head. */
struct msg *session_tx_next(const struct session *s);
/* m (session_tx_next()) was written whole (done), or its first part: a
 * message partly written leaves the queue, so that merging or clearing the
 * queue cannot change the bytes its next part continues. */
void session_tx_advance(struct session *s, struct msg *m, int done);
/* After a writeable turn that wrote something (progress) or not: the send
 * timeout counts only while queued messages make no progress. */
void session_tx_progress(struct session *s, int progress, int64_t now_ms);
/* Drop what is queued or partly written (the session is ending). */
void session_drop_queue(struct session *s);

/* A client message kept while the session waits (its DC subscription is
 * being started, live.c), to be answered later in order. */
struct session_held {
    struct session_held *next;
    size_t len;
    char text[];
};
/* Keep a copy of text. 0, or -ENOSPC (more than max_bytes would be held)
 * or -ENOMEM: then nothing is held any more. */
int session_hold(struct session *s, const char *text, size_t len, size_t max_bytes);
/* The oldest message held (the caller frees it), or NULL. */
struct session_held *session_held_take(struct session *s);
/* Drop what is held. */
void session_held_clear(struct session *s);

#endif
