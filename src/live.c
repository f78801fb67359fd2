/* SPDX-License-Identifier: MIT
 *
 * One service thread's live sessions (live.h): the client protocol, where
 * a subscription starts, the fan-out of changes, and ending sessions.
 *
 * Once and in order: a change reaches a session through every scope that
 * matches it (a customer and its DC), and a new scope's replay overlaps
 * what the bus still brings. scopeset.c keeps, per (session, scope), where
 * the scope started and what it was sent; a change is written once per
 * session and in increasing seq per scope (docs/live.md).
 */
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "auth.h"
#include "bus.h"
#include "change_msg.h"
#include "live_notice.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "path.h"
#include "scopeset.h"
#include "session.h"
#include "snapmaker.h"
#include "source.h"
#include "store.h"
#include "subs.h"
#include "vhost.h"
#include "view.h"

int live_init(struct live *lt, struct vhost_state *conf)
{
    memset(lt, 0, sizeof(*lt));
    lt->conf = conf;
    lt->keys_version = -1;
    lt->subs = subs_new();
    return lt->subs ? 0 : -ENOMEM;
}

void live_free(struct live *lt)
{
    subs_free(lt->subs);
    free(lt->scratch);
    memset(lt, 0, sizeof(*lt));
}

unsigned char *live_scratch(struct live *lt, size_t need)
{
    unsigned char *g;

    if (lt->scratch_cap >= need)
        return lt->scratch;
    g = realloc(lt->scratch, need);
    if (!g)
        return NULL;
    lt->scratch = g;
    lt->scratch_cap = need;
    return g;
}

void live_link(struct live *lt, struct session *s)
{
    s->next = lt->sessions;
    if (lt->sessions)
        lt->sessions->prevp = &s->next;
    s->prevp = &lt->sessions;
    lt->sessions = s;
}

/* Answer what was held, until one of the messages starts another DC
 * subscription (the rest wait for that one). */
static void held_release(struct live *lt, struct session *s)
{
    struct session_held *h;

    while (!s->snap_job && !s->closing && (h = session_held_take(s))) {
        live_on_message(lt, s, h->text, h->len);
        free(h);
    }
    if (s->closing)
        session_held_clear(s);
}

static void scopes_drop(struct live *lt, struct session *s)
{
    metrics_gauge_add(lt->conf->metrics, METRICS_SUBSCRIPTIONS, -s->scopes.n);
    for (int i = 0; i < s->scopes.n; i++)
        subs_remove(lt->subs, s->scopes.v[i].dc_id, s->scopes.v[i].customer_id, s);
    scopeset_clear(&s->scopes);
    live_notice_subs_clear(&s->notices);
}

void live_unlink(struct live *lt, struct session *s)
{
    if (!s->prevp)
        return; /* never linked */
    *s->prevp = s->next;
    if (s->next)
        s->next->prevp = s->prevp;
    s->prevp = NULL;
    if (s->snap_job)
        s->snap_job->owner = NULL; /* it comes back to nobody */
    s->snap_job = NULL;
    session_held_clear(s);
    scopes_drop(lt, s);
    session_drop_queue(s);
}

void live_end(struct live *lt, struct session *s, const char *why)
{
    if (s->closing)
        return;
    scopes_drop(lt, s);
    session_error(s, "null", 401, why, 0);
    session_close_after(s, SESSION_CLOSE_POLICY, why);
}

/* A session that cannot be given what it is owed (out of memory) is
 * closed rather than left with a gap: it resumes with since. */
static void end_for_resume(struct live *lt, struct session *s)
{
    if (s->closing)
        return;
    scopes_drop(lt, s);
    session_drop_queue(s);
    session_close_after(s, SESSION_CLOSE_UNEXPECTED, "server out of memory; reconnect with since");
}

/* Who may subscribe to what: 0, or an error reply already queued. */
static int subscribe_allowed(struct live *lt, struct session *s, const struct view_client_msg *m)
{
    const struct vhost_state *conf = lt->conf;
    int rc, wait;

    /* Each subscribe reads a snapshot: it is authenticated work, paid by
     * the session's credential like an API request (never by its address,
     * which many clients may share). */
    if ((wait = admission_rate_take(conf, s->cred_id))) {
        session_error(s, m->id_json, 429, "Too many requests", wait);
        metrics_refused(conf->metrics, METRICS_REFUSE_RATE_LIMIT);
        return -EAGAIN;
    }
    if (!m->dc_id || !path_id_valid(m->dc_id, strlen(m->dc_id)) ||
        (m->customer_id && !path_id_valid(m->customer_id, strlen(m->customer_id)))) {
        session_error(s, m->id_json, 400, "dc_id and customer_id must be 1 to 255 bytes of UTF-8", 0);
        return -EINVAL;
    }
    if (s->cred.kind == AUTH_TOKEN &&
        (!m->customer_id || !auth_may_read_customer(&s->cred, m->dc_id, m->customer_id))) {
        session_error(s, m->id_json, 403, "A tracking token may only follow its own customer", 0);
        return -EACCES;
    }
    rc = auth_may_read_dc(conf->store, &s->cred, m->dc_id);
    if (rc < 0) {
        session_db_error(s, m->id_json, rc);
        return rc;
    }
    if (rc == 0) {
        session_error(s, m->id_json, 403, AUTH_MSG_DC_SCOPE, 0);
        return -EACCES;
    }
    if (scopeset_find(&s->scopes, m->dc_id, m->customer_id) < 0 && s->scopes.n >= conf->shared->max_subs) {
        session_error(s, m->id_json, 429, "Too many subscriptions on one connection", 0);
        metrics_refused(conf->metrics, METRICS_REFUSE_TOO_MANY_SUBS);
        return -ENOSPC;
    }
    return 0;
}

/* Send m to s: written at once when the transport can (write_now), else
 * queued behind what waits. */
static void push(struct session *s, struct msg *m);

/* Where live_notice_subs_change's emit sends a notice. */
struct notice_to {
    struct session *s;
    int failed; /* out of memory: the caller ends the session, after the walk */
};

/* live_notice_subs_change's emit: a notice goes right after its change. */
static void emit_notice(const struct view_notice *n, void *arg)
{
    struct notice_to *to = arg;
    unsigned char *buf;
    struct msg *m;
    size_t len = 0;

    if (to->s->closing || to->failed)
        return;
    buf = view_live_notice(n, 0, &len);
    m = msg_wrap_notice(buf, 0, len, n->seq, n->dc_id, n->customer_id, n->waypoint_id);
    if (!m) {
        to->failed = 1;
        return;
    }
    push(to->s, m);
    msg_unref(m);
}

/* The notices change m makes for s's subscriptions that asked, sent right
 * after m. By minutes, only a change can cross a threshold here: time
 * alone passing sends nothing (docs/live.md). 0, or -ENOMEM: a notice could
 * not be made, and the caller ends the session (it resumes, and is told
 * again) once nothing walks its scopes or notices any more. */
static int notices_after(struct session *s, const struct msg *m)
{
    struct notice_to to = {s, 0};

    if (!s->notices.n || !m->has_wp || s->closing)
        return 0;
    if (live_notice_subs_change(&s->notices, m->seq, m->wp_deleted, &m->wp, auth_now_ms(), emit_notice, &to) ||
        to.failed)
        return -ENOMEM;
    return 0;
}

/* scopeset_resume's emit (arg a struct notice_to): queue one replayed
 * change and its notices. A failure is only noted: the session ends after
 * the replay, since ending it here would free the scopes being walked. */
static void emit_replayed(void *item, void *arg)
{
    struct notice_to *to = arg;
    struct session *s = to->s;
    struct msg *c;

    if (s->closing || to->failed)
        return;
    c = change_msg_render(item);
    if (!c) {
        to->failed = 1;
        return;
    }
    session_enqueue(s, c);
    if (notices_after(s, c))
        to->failed = 1;
    msg_unref(c);
}

/* The scope starts at the snapshot's seq, or after the since it resumes.
 * Its replay was read at the database's head, which the source may not have
 * reached yet; scopeset_resume sends only what the bus has offered this
 * thread (everything queued for it was taken just before the read) and
 * leaves the rest to the bus, so every scope sees each change once and
 * in order. */
static int start_scope(struct live *lt, struct session *s, const struct view_client_msg *m,
                       const struct store_sub_state *st, int64_t start)
{
    struct scopeset_change *replay = NULL;
    struct notice_to to = {s, 0};
    int added = scopeset_find(&s->scopes, m->dc_id, m->customer_id) < 0;
    int i = scopeset_add(&s->scopes, m->dc_id, m->customer_id, start);

    if (i < 0)
        return i;
    if (subs_add(lt->subs, m->dc_id, m->customer_id, s, start) ||
        (st->nchanges && !(replay = calloc(st->nchanges, sizeof(*replay))))) {
        scopeset_remove(&s->scopes, i);
        subs_remove(lt->subs, m->dc_id, m->customer_id, s);
        if (!added)
            metrics_gauge_add(lt->conf->metrics, METRICS_SUBSCRIPTIONS, -1);
        return -ENOMEM;
    }
    if (added)
        metrics_gauge_add(lt->conf->metrics, METRICS_SUBSCRIPTIONS, 1);
    for (size_t k = 0; k < st->nchanges; k++) {
        const struct waypoint *w = &st->changes[k].w;

        replay[k] = (struct scopeset_change){w->dc_id, w->customer_id, st->changes[k].seq, &st->changes[k]};
    }
    scopeset_resume(&s->scopes, i, replay, st->nchanges, lt->conf->shared->bus ? lt->through : INT64_MAX,
                    emit_replayed, &to);
    free(replay);
    return to.failed ? -ENOMEM : 0;
}

/* A fresh subscription's notices about its snapshot, right after the
 * subscribed reply: a page opened when the driver is already 2 stops
 * away is told so. 0 or -ENOMEM. */
static int snapshot_notices(struct session *s, const struct view_client_msg *m, const struct store_sub_state *st,
                            int64_t seq)
{
    struct notice_to to = {s, 0};
    struct live_notice_subs one;
    size_t i;
    int rc = 0;

    if (!m->notices.wanted)
        return 0;
    /* Only the new subscription's state: the others have seen these rows. */
    for (i = 0; i < s->notices.n; i++)
        if (!strcmp(s->notices.v[i].dc_id, m->dc_id) &&
            (s->notices.v[i].customer_id ? m->customer_id && !strcmp(s->notices.v[i].customer_id, m->customer_id)
                                         : !m->customer_id))
            break;
    if (i == s->notices.n)
        return 0;
    one = (struct live_notice_subs){&s->notices.v[i], 1};
    /* The snapshot is the scope's start, which changes at or before it do
     * not pass: let its rows through, this once. */
    one.v->start = seq - 1;
    for (size_t k = 0; k < st->nw && !rc && !to.failed; k++)
        rc = live_notice_subs_change(&one, seq, 0, &st->w[k], auth_now_ms(), emit_notice, &to);
    one.v->start = seq;
    return rc || to.failed ? -ENOMEM : 0;
}

static void log_cannot_resume(const struct view_client_msg *m, int64_t seq)
{
    log_info("live: cannot resume %s/%s after seq %lld (no longer in the change log, or too far behind): "
             "sent a snapshot at seq %lld",
             m->dc_id, m->customer_id ? m->customer_id : "*", (long long)m->since, (long long)seq);
}

/* Answer a subscribe from its start point st: the reply, its notices,
 * then the scope from start (the since it resumes, or the snapshot's
 * seq). buf: the reply already made (the worker's, of len bytes; taken
 * over); NULL: made here. */
static void answer(struct live *lt, struct session *s, const struct view_client_msg *m,
                   const struct store_sub_state *st, int64_t start, unsigned char *buf, size_t len)
{
    if (!buf)
        buf = view_live_subscribed(m->id_json, m->dc_id, m->customer_id, start, st->resumed, st->w, st->nw, 0,
                                   &len);
    if (!buf) {
        session_error(s, m->id_json, 500, "Out of memory", 0);
        return;
    }
    session_reply(s, buf, len);
    /* Notices start with the scope: from its snapshot (each waypoint as if
     * it had just changed, seq the snapshot's) or from the changes its
     * resume replays (docs/live.md "Notices"). */
    if (live_notice_subs_set(&s->notices, m->dc_id, m->customer_id, start, &m->notices) ||
        (!st->resumed && snapshot_notices(s, m, st, start)) || start_scope(lt, s, m, st, start))
        end_for_resume(lt, s);
}

/* A DC subscription starts on the snapshot worker (snapmaker.h): its
 * client's later messages wait until it is answered (live_on_message). */
static void defer(struct live *lt, struct session *s, const struct view_client_msg *m)
{
    struct snap_job *j = snap_job_new(m, lt->conf->thread, s);

    if (!j) {
        session_error(s, m->id_json, 500, "Out of memory", 0);
        return;
    }
    if (snapmaker_submit(lt->conf->shared->snapmaker, j)) {
        snap_job_free(j);
        session_db_error(s, m->id_json, -EBUSY); /* a full queue: "try again" */
        return;
    }
    s->snap_job = j;
}

void live_subscribe(struct live *lt, struct session *s, const struct view_client_msg *m)
{
    const struct source *source = lt->conf->shared->source;
    struct store_sub_state st;
    int rc;

    if (subscribe_allowed(lt, s, m))
        return;
    if (!m->customer_id && lt->conf->shared->snapmaker) {
        defer(lt, s, m);
        return;
    }
    /* Take what the bus holds for this thread first: the other scopes are then up to
     * date with lt->through when the replay meets them. */
    lt->subscribing = 1;
    live_take(lt);
    lt->subscribing = 0;
    if (s->closing)
        return;
    if ((rc = source->ops->start_point(lt->conf->source_thread, m->dc_id, m->customer_id, m->since, &st))) {
        session_db_error(s, m->id_json, rc);
        return;
    }
    if (m->since >= 0 && !st.resumed)
        log_cannot_resume(m, st.seq);
    /* A resume answers with the since given; the stream continues after the
     * head the replay was read at (st.seq), so nothing comes twice. */
    answer(lt, s, m, &st, st.resumed ? m->since : st.seq, NULL, 0);
    store_sub_state_clear(&st);
}

/* The worker read at its own moment: if this thread has meanwhile been
 * offered changes past what it read (through > j->st.seq), the scope would
 * miss them, so they are read here, after the take, as a resume does.
 * *start may change to a fresh snapshot's seq when they are no longer in
 * the log. 0, or an errno from the read. */
static int catch_up(struct live *lt, struct snap_job *j, int64_t *start)
{
    const struct source *source = lt->conf->shared->source;
    struct store_sub_state more;
    struct store_change *c;
    int rc;

    if (!lt->conf->shared->bus || lt->through <= j->st.seq)
        return 0;
    if ((rc = source->ops->start_point(lt->conf->source_thread, j->m.dc_id, NULL, j->st.seq, &more)))
        return rc;
    if (!more.resumed) { /* a fresh snapshot instead, rendered here (rare) */
        store_sub_state_clear(&j->st);
        free(j->reply);
        j->reply = NULL;
        j->st = more;
        *start = more.seq;
        return 0;
    }
    if (more.nchanges) {
        c = realloc(j->st.changes, (j->st.nchanges + more.nchanges) * sizeof(*c));
        if (!c) {
            store_sub_state_clear(&more);
            return -ENOMEM;
        }
        memcpy(c + j->st.nchanges, more.changes, more.nchanges * sizeof(*c));
        j->st.changes = c;
        j->st.nchanges += more.nchanges;
        free(more.changes); /* its rows now belong to j->st */
        more.changes = NULL;
        more.nchanges = 0;
    }
    j->st.seq = more.seq;
    store_sub_state_clear(&more);
    return 0;
}

/* One job back from the worker, for a session that may have gone. */
static void finish(struct live *lt, struct snap_job *j)
{
    struct session *s = j->owner;
    int64_t start = j->st.resumed ? j->m.since : j->st.seq;
    int rc = j->rc;

    if (!s)
        return;
    s->snap_job = NULL;
    if (!s->closing) {
        if (!rc)
            rc = catch_up(lt, j, &start);
        if (rc) {
            session_db_error(s, j->m.id_json, rc);
        } else {
            if (j->m.since >= 0 && !j->st.resumed)
                log_cannot_resume(&j->m, start);
            answer(lt, s, &j->m, &j->st, start, j->reply, j->reply_len);
            j->reply = NULL; /* answer took it */
        }
    }
    held_release(lt, s);
}

void live_finish_snapshots(struct live *lt)
{
    struct snap_job *j, *next;

    if (!lt->conf->shared->snapmaker || !(j = snapmaker_done(lt->conf->shared->snapmaker, lt->conf->thread)))
        return;
    /* Up to date first: catch_up compares with what the thread was offered. */
    live_take(lt);
    for (; j; j = next) {
        next = j->next;
        finish(lt, j);
        snap_job_free(j);
    }
}

static void unsubscribe(struct live *lt, struct session *s, const struct view_client_msg *m)
{
    int i = m->dc_id ? scopeset_find(&s->scopes, m->dc_id, m->customer_id) : -1;
    unsigned char *buf;
    size_t len = 0;

    if (i >= 0) {
        (void)live_notice_subs_set(&s->notices, m->dc_id, m->customer_id, 0, NULL); /* removing: no memory */
        subs_remove(lt->subs, m->dc_id, m->customer_id, s);
        scopeset_remove(&s->scopes, i);
        metrics_gauge_add(lt->conf->metrics, METRICS_SUBSCRIPTIONS, -1);
    }
    /* Unsubscribing from something not subscribed is answered the same way:
     * afterwards, either way, nothing of it arrives. */
    buf = view_live_reply("unsubscribed", m->id_json, 0, &len);
    if (buf)
        session_reply(s, buf, len);
}

void live_on_message(struct live *lt, struct session *s, const char *text, size_t len)
{
    struct view_client_msg m;
    const char *why = NULL;
    unsigned char *buf;
    size_t n = 0;

    if (s->snap_job) {
        /* A client that sends this much while it waits is closed (it
         * resumes; nothing is lost). */
        if (session_hold(s, text, len, LIVE_HELD_BYTES))
            session_close_after(s, SESSION_CLOSE_POLICY, "too many messages while a snapshot is being made");
        return;
    }
    if (view_parse_client_msg(text, len, &m, &why)) {
        session_error(s, m.id_json ? m.id_json : "null", 400, why, 0);
        metrics_refused(lt->conf->metrics, METRICS_REFUSE_BAD_MESSAGE);
    } else if (m.type == VIEW_MSG_PING) {
        buf = view_live_reply("pong", m.id_json, 0, &n);
        if (buf)
            session_reply(s, buf, n);
    } else if (m.type == VIEW_MSG_SUBSCRIBE) {
        live_subscribe(lt, s, &m);
    } else {
        unsubscribe(lt, s, &m);
    }
    view_client_msg_clear(&m);
}

/* May m go to s at once, from the fan-out, instead of from a writeable
 * turn? Only with nothing of the session's waiting ahead of it (order is
 * kept) and not while a subscribe is being answered; the transport decides
 * the rest (write_now). */
static int write_now(struct live *lt, struct session *s, const struct msg *m)
{
    if (!s->ops->write_now || s->closing || s->ping_due || lt->subscribing || s->tx_msg || outq_peek(&s->q))
        return 0;
    return s->ops->write_now(s, m);
}

static void push(struct session *s, struct msg *m)
{
    int rc = write_now(s->live, s, m);

    if (rc == 0) {
        session_enqueue(s, m);
    } else if (rc < 0) {
        s->closing = 2; /* the transport failed: it closes */
        s->ops->kill(s);
    } else if (!m->notice) {
        metrics_pushed(s->metrics, m->changed_ms, auth_now_ms());
    }
}

/* Fan-out callback from subs_match: a session holding a customer and its
 * DC is called twice; scopeset_admit lets the change through once. */
static void deliver(void *session, void *arg)
{
    struct session *s = session;
    struct msg *m = arg;

    if (s->closing || !scopeset_admit(&s->scopes, msg_dc_id(m), msg_customer_id(m), m->seq))
        return;
    push(s, m);
    if (notices_after(s, m)) {
        /* As end_for_resume, but its scopes stay until the session unlinks:
         * subs_match is walking them. Nothing more reaches it (closing). */
        session_drop_queue(s);
        session_close_after(s, SESSION_CLOSE_UNEXPECTED, "server out of memory; reconnect with since");
    }
}

void live_take(struct live *lt)
{
    struct bus_batch b;

    if (!lt->conf->shared->bus || lt->taking)
        return;
    lt->taking = 1;
    bus_take(lt->conf->shared->bus, lt->conf->thread, &b);
    if (b.lost) {
        /* The bus lost changes for this thread (out of memory): every
         * session ends so that it resumes. */
        log_error("live: out of memory queueing changes for thread %d: its sessions reconnect and resume",
                  lt->conf->thread);
        for (struct session *s = lt->sessions; s; s = s->next)
            end_for_resume(lt, s);
    }
    for (size_t i = 0; i < b.n; i++) {
        if (!b.lost)
            subs_match(lt->subs, msg_dc_id(b.msgs[i]), msg_customer_id(b.msgs[i]), b.msgs[i]->seq, deliver,
                       b.msgs[i]);
        msg_unref(b.msgs[i]);
    }
    free(b.msgs);
    lt->through = b.through;
    lt->taking = 0;
}

int live_drain(struct live *lt)
{
    int open = 0;

    for (struct session *s = lt->sessions; s; s = s->next, open++) {
        if (s->closing)
            continue;
        scopes_drop(lt, s);
        session_close_after(s, SESSION_CLOSE_GOING_AWAY, "server stopping; reconnect with since");
    }
    return open;
}

void live_send_elsewhere(struct live *lt)
{
    for (struct session *s = lt->sessions; s; s = s->next) {
        if (s->closing)
            continue;
        scopes_drop(lt, s);
        session_close_after(s, SESSION_CLOSE_RESTART, "this server lost its feed; reconnect with since");
    }
}
