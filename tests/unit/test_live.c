/* SPDX-License-Identifier: MIT
 *
 * The live session and its thread's fan-out without any socket: sessions
 * of a fake transport that records what it is asked (session_ops), on a
 * real database for the subscribe checks and snapshots.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "live.h"
#include "msg.h"
#include "session.h"
#include "snapmaker.h"
#include "source.h"
#include "store.h"
#include "testdb.h"
#include "vhost.h"

/* A transport that writes nothing, counts what it is asked, and (when
 * direct is set) takes messages from the fan-out at once. */
struct fake {
    struct session s; /* first */
    int wakes, kills;
    int direct;         /* write_now: 1 takes the message, -1 fails, 0 declines */
    int64_t written[8]; /* seqs written through write_now */
    int nwritten;
};

static void fake_wake(struct session *s)
{
    ((struct fake *)s)->wakes++;
}

static void fake_kill(struct session *s)
{
    ((struct fake *)s)->kills++;
}

static int fake_write_now(struct session *s, const struct msg *m)
{
    struct fake *f = (struct fake *)s;

    if (f->direct > 0 && f->nwritten < 8)
        f->written[f->nwritten++] = m->seq;
    return f->direct;
}

static const struct session_ops fake_ops = {fake_wake, fake_kill, fake_write_now, NULL, 0};

/* The source's side a thread gets: here, its connection. */
struct source_thread {
    struct store *db;
};

/* Start points as the SQLite source gives them; the changes come from the
 * test, through the bus. */
static int test_start_point(struct source_thread *t, const char *dc_id, const char *customer_id, int64_t since,
                            struct store_sub_state *out)
{
    return store_subscribe_read(t->db, dc_id, customer_id, since, out);
}

static struct source_thread *test_thread_open(struct source *s, int thread, struct store *db)
{
    struct source_thread *t = calloc(1, sizeof(*t));

    (void)s;
    (void)thread;
    if (t)
        t->db = db;
    return t;
}

static void test_thread_close(struct source_thread *t)
{
    free(t);
}

static const struct source_ops test_source_ops = {.name = "test", .start_point = test_start_point,
                                                  .thread_open = test_thread_open,
                                                  .thread_close = test_thread_close};

struct env {
    struct testdb db;
    struct source source;
    struct source_thread source_thread;
    struct vhost_shared shared;
    struct vhost_state conf;
    struct live live;
    pthread_mutex_t mu; /* the snapshot worker's wake-ups (wake_test) */
    pthread_cond_t cv;
    int wakes;
};

static void sql(struct env *e, const char *q)
{
    char *err = NULL;

    if (sqlite3_exec(e->db.db, q, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", q, err);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    testdb_open(&e->db, "live");
    e->shared.max_subs = 2;
    e->conf.shared = &e->shared;
    e->conf.store = e->db.store;
    e->source.ops = &test_source_ops;
    e->shared.source = &e->source;
    e->source_thread.db = e->db.store;
    e->conf.source_thread = &e->source_thread;
    e->shared.bus = bus_new(1, 0, NULL, NULL);
    assert_non_null(e->shared.bus);
    assert_int_equal(live_init(&e->live, &e->conf), 0);
    sql(e, "INSERT INTO dcs(id) VALUES ('d1'), ('d2')");
    sql(e, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING')");
    bus_set_through(e->shared.bus, 1); /* the insert above is change 1 */
    *state = e;
    return 0;
}

/* The snapshot worker's wake-up of thread 0 (serve.c: lws_cancel_service). */
static void wake_test(void *context)
{
    struct env *e = context;

    pthread_mutex_lock(&e->mu);
    e->wakes++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* As setup, with DC subscriptions started by a snapshot worker. */
static int setup_worker(void **state)
{
    struct env *e;
    void *contexts[1];

    setup(state);
    e = *state;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    contexts[0] = e;
    assert_int_equal(snapmaker_start(e->db.path, &e->source, NULL, 1, wake_test, contexts, &e->shared.snapmaker), 0);
    return 0;
}

/* Until the worker has sent back n jobs in all (10 s at most). */
static void wait_wakes(struct env *e, int n)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&e->mu);
    while (e->wakes < n && pthread_cond_timedwait(&e->cv, &e->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&e->mu);
    assert_true(e->wakes >= n);
}

static int teardown(void **state)
{
    struct env *e = *state;

    if (e->shared.snapmaker) {
        snapmaker_stop(e->shared.snapmaker);
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
    }
    live_free(&e->live);
    bus_free(e->shared.bus);
    testdb_close(&e->db);
    free(e);
    return 0;
}

/* A linked session holding a key for every DC. */
static void open_key_session(struct env *e, struct fake *f, size_t queue_max)
{
    memset(f, 0, sizeof(*f));
    session_init(&f->s, &e->live, &fake_ops, NULL, NULL, queue_max, 0);
    f->s.cred.kind = AUTH_KEY;
    f->s.cred.key.all_dcs = 1;
    live_link(&e->live, &f->s);
}

/* The text of queued message i (0: the head). */
static const char *queued(const struct session *s, size_t i)
{
    static char text[4096];
    const struct msg *m;

    assert_true(i < s->q.count);
    m = s->q.items[(s->q.head + i) % s->q.cap];
    assert_true(m->len < sizeof(text));
    memcpy(text, m->buf + m->pre, m->len);
    text[m->len] = '\0';
    return text;
}

static void say(struct env *e, struct fake *f, const char *json)
{
    live_on_message(&e->live, &f->s, json, strlen(json));
}

static void test_subscribe_answers_with_the_snapshot(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":7,\"dc_id\":\"d1\",\"customer_id\":\"c1\"}");
    assert_int_equal(f.s.q.count, 1);
    assert_non_null(strstr(queued(&f.s, 0), "\"type\":\"subscribed\""));
    assert_non_null(strstr(queued(&f.s, 0), "\"id\":7"));
    assert_non_null(strstr(queued(&f.s, 0), "\"w1\""));
    assert_int_equal(f.s.scopes.n, 1);
    assert_true(f.wakes > 0);
    live_unlink(&e->live, &f.s);
    assert_int_equal(f.s.scopes.n, 0);
    assert_int_equal(f.s.q.count, 0);
}

static void test_token_follows_only_its_customer(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 16);
    f.s.cred.kind = AUTH_TOKEN;
    strcpy(f.s.cred.token.dc_id, "d1");
    strcpy(f.s.cred.token.customer_id, "c1");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c2\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"d1\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":3,\"dc_id\":\"d1\",\"customer_id\":\"c1\"}");
    assert_int_equal(f.s.q.count, 3);
    assert_non_null(strstr(queued(&f.s, 0), "403"));
    assert_non_null(strstr(queued(&f.s, 1), "403"));
    assert_non_null(strstr(queued(&f.s, 2), "\"type\":\"subscribed\""));
    assert_int_equal(f.s.scopes.n, 1);
    live_unlink(&e->live, &f.s);
}

static void test_bad_requests_are_answered_and_change_nothing(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 16);
    say(e, &f, "{not json");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"nope\"}");
    say(e, &f, "{\"type\":\"ping\",\"id\":3}");
    assert_int_equal(f.s.q.count, 3);
    assert_non_null(strstr(queued(&f.s, 0), "400"));
    assert_non_null(strstr(queued(&f.s, 1), "403")); /* an unknown DC is not told apart from a forbidden one */
    assert_non_null(strstr(queued(&f.s, 2), "\"type\":\"pong\""));
    assert_int_equal(f.s.scopes.n, 0);
    live_unlink(&e->live, &f.s);
}

static void test_subscriptions_per_session_are_bounded(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"d1\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":3,\"dc_id\":\"d2\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":4,\"dc_id\":\"d1\"}"); /* again: not a new one */
    assert_int_equal(f.s.q.count, 4);
    assert_non_null(strstr(queued(&f.s, 2), "429"));
    assert_non_null(strstr(queued(&f.s, 3), "\"type\":\"subscribed\""));
    assert_int_equal(f.s.scopes.n, 2);
    say(e, &f, "{\"type\":\"unsubscribe\",\"id\":5,\"dc_id\":\"d1\"}");
    assert_int_equal(f.s.scopes.n, 1);
    assert_non_null(strstr(queued(&f.s, 4), "\"type\":\"unsubscribed\""));
    live_unlink(&e->live, &f.s);
}

static void test_end_and_drain_close_after_the_queue(void **state)
{
    struct env *e = *state;
    struct fake a, b;

    open_key_session(e, &a, 16);
    open_key_session(e, &b, 16);
    say(e, &a, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    live_end(&e->live, &a.s, "API key revoked");
    assert_int_equal(a.s.closing, 1);
    assert_int_equal(a.s.close_code, SESSION_CLOSE_POLICY);
    assert_int_equal(a.s.scopes.n, 0);
    assert_non_null(strstr(queued(&a.s, 1), "401"));
    assert_non_null(strstr(queued(&a.s, 1), "API key revoked"));
    /* Both are still open (a closes once its queue is written). */
    assert_int_equal(live_drain(&e->live), 2);
    assert_int_equal(a.s.close_code, SESSION_CLOSE_POLICY);
    assert_int_equal(b.s.closing, 1);
    assert_int_equal(b.s.close_code, SESSION_CLOSE_GOING_AWAY);
    live_unlink(&e->live, &a.s);
    live_unlink(&e->live, &b.s);
    assert_int_equal(live_drain(&e->live), 0);
}

/* A reply-only message (no waypoint: never merged). */
static struct msg *reply(const char *text)
{
    size_t n = strlen(text);
    unsigned char *buf = malloc(n);

    assert_non_null(buf);
    memcpy(buf, text, n);
    return msg_wrap(buf, 0, n, 0, 0, NULL, NULL, NULL);
}

static void test_a_full_queue_closes_the_session(void **state)
{
    struct env *e = *state;
    struct fake f;
    struct msg *m[3] = {reply("{\"a\":1}"), reply("{\"a\":2}"), reply("{\"a\":3}")};

    open_key_session(e, &f, 2);
    session_enqueue(&f.s, m[0]);
    session_enqueue(&f.s, m[1]);
    assert_int_equal(f.s.closing, 0);
    session_enqueue(&f.s, m[2]);
    assert_int_equal(f.s.closing, 2);
    assert_int_equal(f.s.close_code, SESSION_CLOSE_POLICY);
    assert_int_equal(f.s.q.count, 0);
    session_enqueue(&f.s, m[0]); /* closed: nothing more is queued */
    assert_int_equal(f.s.q.count, 0);
    for (int i = 0; i < 3; i++)
        msg_unref(m[i]);
    live_unlink(&e->live, &f.s);
}

static void test_a_message_partly_written_leaves_the_queue(void **state)
{
    struct env *e = *state;
    struct fake f;
    struct msg *a = reply("{\"a\":1}"), *b = reply("{\"b\":2}"), *m;

    open_key_session(e, &f, 8);
    session_enqueue(&f.s, a);
    session_enqueue(&f.s, b);
    m = session_tx_next(&f.s);
    assert_ptr_equal(m, a);
    session_tx_advance(&f.s, m, 0); /* its first part */
    assert_int_equal(f.s.q.count, 1);
    outq_clear(&f.s.q); /* what the queue does meanwhile cannot touch it */
    assert_ptr_equal(session_tx_next(&f.s), a);
    session_tx_advance(&f.s, a, 1);
    assert_null(session_tx_next(&f.s));
    session_tx_progress(&f.s, 1, 100);
    assert_int_equal(f.s.stalled_ms, 0);
    session_enqueue(&f.s, b);
    session_tx_progress(&f.s, 0, 200); /* nothing could be written: the send timeout counts */
    assert_true(f.s.stalled_ms > 0);
    msg_unref(a);
    msg_unref(b);
    live_unlink(&e->live, &f.s);
}


/* A change as the source would publish it (waypoint w1 of d1/c1). */
static struct msg *change(int64_t seq)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "{\"type\":\"waypoint\",\"seq\":%lld}", (long long)seq);
    unsigned char *buf = malloc((size_t)n);

    assert_non_null(buf);
    memcpy(buf, text, (size_t)n);
    return msg_wrap(buf, 0, (size_t)n, seq, 0, "d1", "c1", "w1");
}

/* Publish change seq into the bus (as the source does) without taking it. */
static void publish(struct env *e, int64_t seq)
{
    struct msg *m = change(seq);

    assert_non_null(m);
    bus_publish(e->shared.bus, &m, 1, seq);
    msg_unref(m);
}

/* The seqs of the changes in s's queue, in order; how many. */
static size_t queued_seqs(const struct session *s, int64_t *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < s->q.count && n < cap; i++) {
        const struct msg *m = s->q.items[(s->q.head + i) % s->q.cap];

        if (m->seq)
            out[n++] = m->seq;
    }
    return n;
}

static void test_a_change_reaches_a_session_once_through_two_scopes(void **state)
{
    struct env *e = *state;
    struct fake f;
    int64_t seqs[8];

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\"}");
    say(e, &f, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"d1\"}");
    publish(e, 2);
    live_take(&e->live);
    assert_int_equal(queued_seqs(&f.s, seqs, 8), 1);
    assert_int_equal(seqs[0], 2);
    live_unlink(&e->live, &f.s);
}

static void test_nothing_goes_to_a_scope_not_followed(void **state)
{
    struct env *e = *state;
    struct fake f;
    int64_t seqs[8];

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d2\"}");
    publish(e, 2);
    live_take(&e->live);
    assert_int_equal(queued_seqs(&f.s, seqs, 8), 0);
    live_unlink(&e->live, &f.s);
}

/* The fan-out writes straight through the transport only when nothing of
 * the session waits; else it queues behind what waits (order kept). */
static void test_direct_write_only_when_nothing_waits(void **state)
{
    struct env *e = *state;
    struct fake f;
    struct msg *m;
    int64_t seqs[8];

    open_key_session(e, &f, 64);
    f.direct = 1;
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    publish(e, 2);
    live_take(&e->live);
    assert_int_equal(f.nwritten, 0); /* the subscribed reply waits ahead of it */
    assert_int_equal(queued_seqs(&f.s, seqs, 8), 1);
    while ((m = session_tx_next(&f.s)))
        session_tx_advance(&f.s, m, 1);
    publish(e, 3);
    live_take(&e->live);
    assert_int_equal(f.nwritten, 1);
    assert_int_equal(f.written[0], 3);
    assert_null(session_tx_next(&f.s));
    live_unlink(&e->live, &f.s);
}

static void test_a_failed_direct_write_closes_the_session(void **state)
{
    struct env *e = *state;
    struct fake f;
    struct msg *m;

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    while ((m = session_tx_next(&f.s)))
        session_tx_advance(&f.s, m, 1);
    f.direct = -1;
    publish(e, 2);
    live_take(&e->live);
    assert_int_equal(f.s.closing, 2);
    assert_int_equal(f.kills, 1);
    publish(e, 3);
    live_take(&e->live); /* closed: nothing more */
    assert_int_equal(f.kills, 1);
    live_unlink(&e->live, &f.s);
}

/* Issue 11's case at this level: a session follows its DC; two changes
 * are committed, the source has published only the first when the session
 * also subscribes to the customer with since=1 (a replay of 2 and 3 read
 * from the database). Each change must come once, in increasing seq. */
static void test_resume_of_a_second_scope_sends_each_change_once_in_order(void **state)
{
    struct env *e = *state;
    struct fake f;
    int64_t seqs[8];
    size_t n;

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    sql(e, "UPDATE waypoints SET status = 'EN_ROUTE' WHERE id = 'w1'");
    sql(e, "UPDATE waypoints SET status = 'ARRIVED' WHERE id = 'w1'");
    publish(e, 2);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"d1\",\"customer_id\":\"c1\",\"since\":1}");
    assert_non_null(strstr(queued(&f.s, f.s.q.count - 1), "\"resumed\":true"));
    publish(e, 3);
    live_take(&e->live);
    n = queued_seqs(&f.s, seqs, 8);
    assert_int_equal(n, 2);
    assert_int_equal(seqs[0], 2);
    assert_int_equal(seqs[1], 3);
    live_unlink(&e->live, &f.s);
}

/* A change to w1 (d1/c1) carrying the waypoint fields notices read. */
static void publish_wp(struct env *e, int64_t seq, const char *route, int64_t ahead)
{
    struct waypoint w = {.dc_id = (char *)"d1", .customer_id = (char *)"c1", .id = (char *)"w1",
                         .route_id = (char *)route, .status = (char *)"PENDING", .waypoints_ahead = ahead,
                         .nulls = WAYPOINT_NULL_ETA};
    struct msg *m = change(seq);

    assert_non_null(m);
    assert_int_equal(msg_set_waypoint(m, 0, &w), 0);
    bus_publish(e->shared.bus, &m, 1, seq);
    msg_unref(m);
}

/* How many queued messages contain needle. */
static size_t count_queued(const struct session *s, const char *needle)
{
    size_t n = 0;

    for (size_t i = 0; i < s->q.count; i++)
        n += strstr(queued(s, i), needle) != NULL;
    return n;
}

/* A subscription that asked gets its notice right after the change that
 * crossed the threshold, once per route, and again on a new route. */
static void test_notice_follows_its_change_once_per_route(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\","
               "\"notices\":{\"stops\":[3]}}");
    assert_int_equal(f.s.q.count, 1); /* the snapshot's w1 has no waypoints_ahead: nothing to tell */
    publish_wp(e, 2, "r", 3);
    live_take(&e->live);
    assert_int_equal(f.s.q.count, 3);
    assert_non_null(strstr(queued(&f.s, 1), "\"seq\":2"));
    assert_non_null(strstr(queued(&f.s, 2), "\"type\":\"notice\""));
    assert_non_null(strstr(queued(&f.s, 2), "\"seq\":2"));
    assert_non_null(strstr(queued(&f.s, 2), "\"by\":\"stops\""));
    publish_wp(e, 3, "r", 2);
    live_take(&e->live);
    assert_int_equal(count_queued(&f.s, "\"notice\""), 1);
    publish_wp(e, 4, "r2", 3);
    live_take(&e->live);
    assert_int_equal(count_queued(&f.s, "\"notice\""), 2);
    assert_non_null(strstr(queued(&f.s, f.s.q.count - 1), "\"seq\":4"));
    live_unlink(&e->live, &f.s);
}

/* Without notices nothing changes; a customer and its DC both asking on
 * one connection are told once; unsubscribing forgets. */
static void test_notices_only_when_asked_and_once_per_connection(void **state)
{
    struct env *e = *state;
    struct fake f, g;

    open_key_session(e, &f, 64);
    open_key_session(e, &g, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\"}");
    say(e, &g, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"notices\":{\"stops\":[3]}}");
    say(e, &g, "{\"type\":\"subscribe\",\"id\":2,\"dc_id\":\"d1\",\"customer_id\":\"c1\","
               "\"notices\":{\"stops\":[3]}}");
    publish_wp(e, 2, "r", 1);
    live_take(&e->live);
    assert_int_equal(f.s.q.count, 2);
    assert_int_equal(count_queued(&f.s, "\"notice\""), 0);
    assert_int_equal(count_queued(&g.s, "\"notice\""), 1);
    assert_int_equal(g.s.notices.n, 2);
    say(e, &g, "{\"type\":\"unsubscribe\",\"id\":3,\"dc_id\":\"d1\"}");
    assert_int_equal(g.s.notices.n, 1);
    live_unlink(&e->live, &f.s);
    live_unlink(&e->live, &g.s);
    assert_int_equal(g.s.notices.n, 0);
}

/* Written straight through: the notice follows its change the same way. */
static void test_notice_written_directly_after_its_change(void **state)
{
    struct env *e = *state;
    struct fake f;
    struct msg *m;

    open_key_session(e, &f, 64);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"notices\":{\"stops\":[2]}}");
    while ((m = session_tx_next(&f.s)))
        session_tx_advance(&f.s, m, 1);
    f.direct = 1;
    publish_wp(e, 2, "r", 2);
    live_take(&e->live);
    assert_int_equal(f.nwritten, 2);
    assert_int_equal(f.written[0], 2);
    assert_int_equal(f.written[1], 2);
    assert_null(session_tx_next(&f.s));
    live_unlink(&e->live, &f.s);
}

/* A resumed subscription derives its notices from the replay: the change
 * it missed tells its crossing right after that change (docs/live.md). */
static void test_a_resume_tells_the_crossings_of_its_replay(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 64);
    sql(e, "UPDATE waypoints SET waypoints_ahead = 3 WHERE id = 'w1'");
    bus_set_through(e->shared.bus, 2); /* the source has offered change 2 */
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\",\"since\":1,"
               "\"notices\":{\"stops\":[3]}}");
    assert_int_equal(f.s.q.count, 3);
    assert_non_null(strstr(queued(&f.s, 0), "\"resumed\":true"));
    assert_non_null(strstr(queued(&f.s, 1), "\"type\":\"waypoint\""));
    assert_non_null(strstr(queued(&f.s, 2), "\"type\":\"notice\""));
    assert_non_null(strstr(queued(&f.s, 2), "\"seq\":2"));
    live_unlink(&e->live, &f.s);
}

/* A session behind: its queue merges the change a notice followed into the
 * newer one, and the notice then follows that one (never read before the
 * state of its waypoint). */
static void test_a_slow_session_keeps_each_notice_after_its_waypoint(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 4);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\",\"customer_id\":\"c1\","
               "\"notices\":{\"stops\":[3]}}");
    publish_wp(e, 2, "r", 3);
    publish_wp(e, 3, "r", 2);
    publish_wp(e, 4, "r", 2);
    live_take(&e->live);
    assert_int_equal(f.s.closing, 0);
    assert_int_equal(f.s.q.count, 4);
    assert_non_null(strstr(queued(&f.s, 0), "\"type\":\"subscribed\""));
    assert_non_null(strstr(queued(&f.s, 1), "{\"type\":\"waypoint\",\"seq\":3}"));
    assert_non_null(strstr(queued(&f.s, 2), "\"type\":\"notice\""));
    assert_non_null(strstr(queued(&f.s, 2), "\"seq\":2"));
    assert_non_null(strstr(queued(&f.s, 3), "{\"type\":\"waypoint\",\"seq\":4}"));
    live_unlink(&e->live, &f.s);
}

/* A dispatcher's DC subscription is read and rendered on the worker: until
 * it comes back nothing is answered, and the client's next message (a
 * ping) waits behind it, so replies keep the order of the requests. */
static void test_a_dc_subscription_starts_off_the_thread_and_the_next_message_waits(void **state)
{
    struct env *e = *state;
    struct fake f;

    open_key_session(e, &f, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    say(e, &f, "{\"type\":\"ping\",\"id\":2}");
    assert_int_equal(f.s.q.count, 0);
    assert_int_equal(f.s.scopes.n, 0);
    wait_wakes(e, 1);
    live_finish_snapshots(&e->live);
    assert_int_equal(f.s.q.count, 2);
    assert_non_null(strstr(queued(&f.s, 0), "\"type\":\"subscribed\""));
    assert_non_null(strstr(queued(&f.s, 0), "\"seq\":1"));
    assert_non_null(strstr(queued(&f.s, 0), "\"w1\""));
    assert_non_null(strstr(queued(&f.s, 1), "\"type\":\"pong\""));
    assert_int_equal(f.s.scopes.n, 1);
    assert_null(f.s.snap_job);
    live_unlink(&e->live, &f.s);
}

/* The worker read at seq 1; before its answer is made, the thread is
 * offered change 2 (no scope of the session wanted it then). The change
 * must still reach the new scope, once, after the snapshot. */
static void test_a_change_offered_while_the_worker_read_follows_the_snapshot(void **state)
{
    struct env *e = *state;
    struct fake f;
    int64_t seqs[8];

    open_key_session(e, &f, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    wait_wakes(e, 1);
    sql(e, "UPDATE waypoints SET status = 'COMPLETED' WHERE id = 'w1'");
    publish(e, 2);
    live_finish_snapshots(&e->live);
    assert_non_null(strstr(queued(&f.s, 0), "\"type\":\"subscribed\""));
    assert_non_null(strstr(queued(&f.s, 0), "\"seq\":1"));
    assert_int_equal(queued_seqs(&f.s, seqs, 8), 1);
    assert_int_equal(seqs[0], 2);
    publish(e, 2); /* the bus again: not twice */
    live_take(&e->live);
    assert_int_equal(queued_seqs(&f.s, seqs, 8), 1);
    live_unlink(&e->live, &f.s);
}

/* A session that ends while its snapshot is being made: the job comes back
 * to nobody and is freed (the sanitizers watch this one). */
static void test_a_session_gone_before_its_snapshot(void **state)
{
    struct env *e = *state;
    struct fake f, g;

    open_key_session(e, &f, 16);
    open_key_session(e, &g, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    say(e, &f, "{\"type\":\"ping\",\"id\":2}");
    live_unlink(&e->live, &f.s);
    say(e, &g, "{\"type\":\"subscribe\",\"id\":3,\"dc_id\":\"d1\"}");
    wait_wakes(e, 2);
    live_finish_snapshots(&e->live);
    assert_int_equal(f.s.q.count, 0);
    assert_int_equal(g.s.q.count, 1);
    assert_null(snapmaker_done(e->shared.snapmaker, 0));
    live_unlink(&e->live, &g.s);
}

/* What a client sends while it waits is bounded: past LIVE_HELD_BYTES the
 * session closes (it resumes, losing nothing). */
static void test_too_much_sent_while_waiting_closes_the_session(void **state)
{
    struct env *e = *state;
    struct fake f;
    size_t big = LIVE_HELD_BYTES / 2 + 1;
    char *junk = malloc(big);

    assert_non_null(junk);
    memset(junk, ' ', big);
    open_key_session(e, &f, 16);
    say(e, &f, "{\"type\":\"subscribe\",\"id\":1,\"dc_id\":\"d1\"}");
    live_on_message(&e->live, &f.s, junk, big);
    assert_int_equal(f.s.closing, 0);
    live_on_message(&e->live, &f.s, junk, big);
    assert_int_equal(f.s.closing, 1);
    assert_int_equal(f.s.close_code, SESSION_CLOSE_POLICY);
    wait_wakes(e, 1);
    live_finish_snapshots(&e->live);
    assert_int_equal(f.s.q.count, 0); /* closing: no answer, nothing held */
    assert_null(f.s.held);
    free(junk);
    live_unlink(&e->live, &f.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_subscribe_answers_with_the_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_follows_only_its_customer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_are_answered_and_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions_per_session_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_and_drain_close_after_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_queue_closes_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_message_partly_written_leaves_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_change_reaches_a_session_once_through_two_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_goes_to_a_scope_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_write_only_when_nothing_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_direct_write_closes_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_of_a_second_scope_sends_each_change_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_follows_its_change_once_per_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notices_only_when_asked_and_once_per_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_written_directly_after_its_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_resume_tells_the_crossings_of_its_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_slow_session_keeps_each_notice_after_its_waypoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_dc_subscription_starts_off_the_thread_and_the_next_message_waits,
                                        setup_worker, teardown),
        cmocka_unit_test_setup_teardown(test_a_change_offered_while_the_worker_read_follows_the_snapshot,
                                        setup_worker, teardown),
        cmocka_unit_test_setup_teardown(test_a_session_gone_before_its_snapshot, setup_worker, teardown),
        cmocka_unit_test_setup_teardown(test_too_much_sent_while_waiting_closes_the_session, setup_worker,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
