/* SPDX-License-Identifier: MIT */
/* Unit tests for scopeset.c: each change once per connection, in
 * increasing seq per subscription, however snapshots, replays and the
 * feed's pushes interleave (issue 11, "Resume plus a second scope"). The
 * session's part of the interleaving is modelled as live.c runs it:
 * the feed's pushes are offered with scopeset_admit in seq order; a
 * subscribe first takes what the feed has queued, then adds its scope and
 * takes its replay with scopeset_resume. */
#include "scopeset.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A change as the tests write them: DC, customer, seq. */
struct ch {
    const char *dc, *cust;
    int64_t seq;
};

/* What the connection was sent, in order. */
struct wire {
    int64_t seq[64];
    const struct ch *what[64];
    size_t n;
};

static void emit(void *item, void *arg)
{
    struct wire *w = arg;
    const struct ch *c = item;

    assert_true(w->n < 64);
    w->what[w->n] = c;
    w->seq[w->n++] = c->seq;
}

/* The feed offers one pushed change. */
static void push(struct scopeset *set, struct wire *w, const struct ch *c)
{
    if (scopeset_admit(set, c->dc, c->cust, c->seq))
        emit((void *)c, w);
}

/* A subscribe with since: the scope starts at since; its replay (as read
 * at the head) is taken up to `through`. */
static void resume(struct scopeset *set, struct wire *w, const char *dc, const char *cust, int64_t since,
                   const struct ch *replay, size_t n, int64_t through)
{
    struct scopeset_change rc[16];
    int i = scopeset_add(set, dc, cust, since);

    assert_true(i >= 0 && n <= 16);
    for (size_t k = 0; k < n; k++)
        rc[k] = (struct scopeset_change){replay[k].dc, replay[k].cust, replay[k].seq, (void *)&replay[k]};
    scopeset_resume(set, i, rc, n, through, emit, w);
}

/* Every subscription sees its changes once and in increasing seq. */
static void assert_each_once_in_order(const struct scopeset *set, const struct wire *w)
{
    for (size_t a = 0; a < w->n; a++)
        for (size_t b = a + 1; b < w->n; b++)
            assert_int_not_equal(w->seq[a], w->seq[b]);
    for (int s = 0; s < set->n; s++) {
        int64_t last = set->v[s].start;

        for (size_t k = 0; k < w->n; k++) {
            const struct ch *c = w->what[k];

            if (strcmp(c->dc, set->v[s].dc_id) ||
                (set->v[s].customer_id && strcmp(c->cust, set->v[s].customer_id)) || c->seq <= set->v[s].start)
                continue;
            assert_true(c->seq > last);
            last = c->seq;
        }
    }
}

/* From outside (issue 11): a customer and its DC both subscribed with
 * since 9 on one connection got 10, 10 again, then 11. */
static void test_issue_11_customer_then_dc_since_9(void **state)
{
    static const struct ch y10 = {"D", "Y", 10}, x11 = {"D", "X", 11};
    const struct ch cust_replay[] = {y10}, dc_replay[] = {y10, x11};
    struct scopeset set = {0};
    struct wire w = {0};

    (void)state;
    resume(&set, &w, "D", "Y", 9, cust_replay, 1, 11);
    resume(&set, &w, "D", NULL, 9, dc_replay, 2, 11);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.seq[0], 10);
    assert_int_equal(w.seq[1], 11);
    /* Later pushes: once, though both scopes cover the customer's. */
    push(&set, &w, &(struct ch){"D", "Y", 12});
    push(&set, &w, &(struct ch){"D", "X", 13});
    assert_int_equal(w.n, 4);
    assert_int_equal(w.seq[2], 12);
    assert_int_equal(w.seq[3], 13);
    assert_each_once_in_order(&set, &w);
    scopeset_clear(&set);
}

/* The review's race (M9): the session follows DC D; the feed has queued
 * X@150 and Y@155 for its thread, not yet taken, when it subscribes to
 * customer Y with since 120. live.c takes the queue first, so the
 * replay meets a DC scope that has had 155 already. */
static void test_resume_after_the_queue_is_taken(void **state)
{
    static const struct ch x150 = {"D", "X", 150}, y130 = {"D", "Y", 130}, y155 = {"D", "Y", 155};
    const struct ch replay[] = {y130, y155};
    struct scopeset set = {0};
    struct wire w = {0};

    (void)state;
    assert_int_equal(scopeset_add(&set, "D", NULL, 100), 0);
    push(&set, &w, &y130);
    push(&set, &w, &x150); /* the queue, taken before the subscribe */
    push(&set, &w, &y155);
    resume(&set, &w, "D", "Y", 120, replay, 2, 155);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.seq[0], 130);
    assert_int_equal(w.seq[1], 150);
    assert_int_equal(w.seq[2], 155);
    push(&set, &w, &(struct ch){"D", "Y", 160});
    assert_int_equal(w.n, 4);
    assert_each_once_in_order(&set, &w);
    scopeset_clear(&set);
}

/* The feed is behind the head the replay was read at (it offered up to
 * 140): the replay stops there and the feed brings 150 and 155 to both
 * scopes in order, 155 once. */
static void test_replay_stops_where_the_feed_is(void **state)
{
    static const struct ch y130 = {"D", "Y", 130}, x150 = {"D", "X", 150}, y155 = {"D", "Y", 155};
    const struct ch replay[] = {y130, y155};
    struct scopeset set = {0};
    struct wire w = {0};

    (void)state;
    assert_int_equal(scopeset_add(&set, "D", NULL, 100), 0);
    push(&set, &w, &y130);
    resume(&set, &w, "D", "Y", 120, replay, 2, 140);
    assert_int_equal(w.n, 1); /* 130 came through the DC already */
    push(&set, &w, &x150);
    push(&set, &w, &y155);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.seq[1], 150);
    assert_int_equal(w.seq[2], 155);
    assert_each_once_in_order(&set, &w);
    scopeset_clear(&set);
}

/* A new customer scope's replay holds changes the DC scope never had
 * (the DC started later, at a snapshot): they are sent for the customer. */
static void test_replay_older_than_another_scopes_snapshot(void **state)
{
    static const struct ch y50 = {"D", "Y", 50}, y70 = {"D", "Y", 70};
    const struct ch replay[] = {y50, y70};
    struct scopeset set = {0};
    struct wire w = {0};

    (void)state;
    assert_int_equal(scopeset_add(&set, "D", NULL, 100), 0); /* a snapshot at 100 */
    resume(&set, &w, "D", "Y", 40, replay, 2, 100);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.seq[0], 50);
    assert_int_equal(w.seq[1], 70);
    push(&set, &w, &(struct ch){"D", "Y", 101});
    assert_int_equal(w.n, 3);
    assert_each_once_in_order(&set, &w);
    scopeset_clear(&set);
}

/* A snapshot read at a head the feed has not reached: the feed's older
 * changes go to the scopes that are owed them, not to the new one. */
static void test_snapshot_ahead_of_the_feed(void **state)
{
    struct scopeset set = {0};
    struct wire w = {0};

    (void)state;
    assert_int_equal(scopeset_add(&set, "D", "Y", 200), 0); /* snapshot at 200 */
    push(&set, &w, &(struct ch){"D", "Y", 190});
    assert_int_equal(w.n, 0);
    assert_int_equal(scopeset_add(&set, "D", NULL, 180), 1);
    push(&set, &w, &(struct ch){"D", "Y", 195}); /* owed to the DC only */
    push(&set, &w, &(struct ch){"D", "Y", 201});
    assert_int_equal(w.n, 2);
    assert_int_equal(w.seq[0], 195);
    assert_int_equal(w.seq[1], 201);
    scopeset_clear(&set);
}

/* Other DCs and customers are not covered; a DC with a customer's name
 * is not that customer's DC. */
static void test_cover_and_find(void **state)
{
    struct scopeset set = {0};

    (void)state;
    assert_int_equal(scopeset_add(&set, "D", "Y", 0), 0);
    assert_int_equal(scopeset_add(&set, "E", NULL, 0), 1);
    assert_int_equal(scopeset_add(&set, "D", "Y", 5), 0); /* restart */
    assert_int_equal(set.n, 2);
    assert_int_equal(set.v[0].start, 5);
    assert_int_equal(scopeset_find(&set, "D", NULL), -1);
    assert_int_equal(scopeset_find(&set, "E", NULL), 1);
    assert_int_equal(scopeset_find(&set, "E", "Y"), -1);
    assert_int_equal(scopeset_admit(&set, "D", "Z", 6), 0);
    assert_int_equal(scopeset_admit(&set, "F", "Y", 6), 0);
    assert_int_equal(scopeset_admit(&set, "E", "Q", 6), 1);
    assert_int_equal(scopeset_admit(&set, "E", "Q", 6), 0); /* once */
    assert_int_equal(scopeset_admit(&set, "D", "Y", 6), 1);
    scopeset_remove(&set, 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(scopeset_admit(&set, "D", "Y", 7), 0);
    scopeset_clear(&set);
    assert_int_equal(set.n, 0);
    assert_null(set.v);
}

/* Every interleaving of a small schedule: a DC scope, pushes 1..N in
 * order, and a customer subscribe with since s and feed position f,
 * inserted after each push. Each change once, each scope in order, and
 * nothing a scope is owed after its start is missing. */
static void test_all_interleavings(void **state)
{
    enum { N = 8 };
    struct ch log[N];

    (void)state;
    for (int k = 0; k < N; k++)
        log[k] = (struct ch){"D", (k % 3) ? "Y" : "X", k + 1};
    for (int at = 0; at <= N; at++)          /* pushes offered before the subscribe */
        for (int since = 0; since <= at; since++) {
            struct scopeset set = {0};
            struct wire w = {0};
            struct ch replay[N];
            size_t nr = 0;

            assert_int_equal(scopeset_add(&set, "D", NULL, 0), 0);
            for (int k = 0; k < at; k++)
                push(&set, &w, &log[k]);
            for (int k = since; k < N; k++) /* read at the head: all of the log */
                if (!strcmp(log[k].cust, "Y"))
                    replay[nr++] = log[k];
            resume(&set, &w, "D", "Y", since, replay, nr, at);
            for (int k = at; k < N; k++)
                push(&set, &w, &log[k]);
            assert_each_once_in_order(&set, &w);
            assert_int_equal(w.n, N); /* the DC is owed all of them */
            scopeset_clear(&set);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_11_customer_then_dc_since_9),
        cmocka_unit_test(test_resume_after_the_queue_is_taken),
        cmocka_unit_test(test_replay_stops_where_the_feed_is),
        cmocka_unit_test(test_replay_older_than_another_scopes_snapshot),
        cmocka_unit_test(test_snapshot_ahead_of_the_feed),
        cmocka_unit_test(test_cover_and_find),
        cmocka_unit_test(test_all_interleavings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
