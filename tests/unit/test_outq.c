/* SPDX-License-Identifier: MIT */
/* Unit tests for outq.c: FIFO order, the bound, merging of superseded changes
 * when full, ring wrap-around, and the references the queue holds. */
#include "outq.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"

static struct msg *wrap(int64_t seq, const char *dc, const char *customer, const char *waypoint)
{
    unsigned char *b = malloc(8);
    struct msg *m;

    assert_non_null(b);
    memcpy(b, "....{}..", 8);
    m = msg_wrap(b, 4, 2, seq, seq, dc, customer, waypoint);
    assert_non_null(m);
    return m;
}

/* A change to waypoint wp of customer c in DC "dc". */
static struct msg *change(int64_t seq, const char *wp)
{
    return wrap(seq, "dc", "c", wp);
}

static struct msg *reply(void)
{
    return wrap(0, NULL, NULL, NULL);
}

static int refs(struct msg *m)
{
    return atomic_load(&m->refs);
}

/* The waypoint id: the third string of the key. */
static const char *waypoint_of(const struct msg *m)
{
    const char *c = msg_customer_id(m);

    return c + strlen(c) + 1;
}

/* Pop everything, checking the queue holds exactly want[0..n) in order. */
static void expect_drain(struct outq *q, struct msg *const *want, size_t n)
{
    assert_int_equal(q->count, n);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(outq_peek(q), want[i]);
        outq_pop(q);
    }
    assert_null(outq_peek(q));
    assert_int_equal(q->count, 0);
}

static void unref_all(struct msg **m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        msg_unref(m[i]);
}

static void test_empty(void **state)
{
    struct outq q;

    (void)state;
    outq_init(&q, 4);
    assert_null(outq_peek(&q));
    outq_pop(&q); /* popping an empty queue does nothing */
    assert_int_equal(q.count, 0);
    assert_int_equal(outq_merge(&q), 0);
    outq_clear(&q);
    outq_clear(&q);
    assert_null(outq_peek(&q));
}

static void test_fifo_and_references(void **state)
{
    struct msg *m[5];
    struct outq q;

    (void)state;
    outq_init(&q, 16);
    for (int i = 0; i < 5; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%d", i);
        m[i] = change(i + 1, id);
        assert_int_equal(outq_push(&q, m[i]), 0);
        assert_int_equal(refs(m[i]), 2); /* ours and the queue's */
    }
    for (int i = 0; i < 5; i++) {
        /* peek borrows: it returns the oldest and takes no reference */
        assert_ptr_equal(outq_peek(&q), m[i]);
        assert_ptr_equal(outq_peek(&q), m[i]);
        assert_int_equal(refs(m[i]), 2);
        outq_pop(&q);
        assert_int_equal(refs(m[i]), 1);
    }
    assert_null(outq_peek(&q));
    outq_clear(&q);
    unref_all(m, 5);
}

/* The queue keeps its message alive after the producer drops its own ref. */
static void test_queue_owns_its_reference(void **state)
{
    struct msg *m = change(1, "w");
    struct outq q;

    (void)state;
    outq_init(&q, 2);
    assert_int_equal(outq_push(&q, m), 0);
    msg_unref(m);
    assert_int_equal(refs(outq_peek(&q)), 1);
    assert_int_equal(outq_peek(&q)->seq, 1);
    outq_pop(&q); /* the last reference: freed here (ASan checks) */
    outq_clear(&q);
}

/* Pushing past max drops the older change to a key; the newer keeps its place. */
static void test_full_merges_superseded(void **state)
{
    struct msg *a1 = change(1, "A"), *b1 = change(2, "B"), *a2 = change(3, "A"), *c1 = change(4, "C");
    struct msg *d1 = change(5, "D");
    struct msg *all[] = {a1, b1, a2, c1, d1};
    struct outq q;

    (void)state;
    outq_init(&q, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(outq_push(&q, all[i]), 0);
    assert_int_equal(q.count, 4);
    assert_int_equal(outq_push(&q, d1), 0);
    assert_int_equal(refs(a1), 1); /* the queue dropped its reference */
    {
        struct msg *want[] = {b1, a2, c1, d1};

        expect_drain(&q, want, 4);
    }
    outq_clear(&q);
    unref_all(all, 5);
}

/* Several keys superseded at once; what remains is in increasing seq order. */
static void test_merge_keeps_seq_order(void **state)
{
    struct msg *m[] = {change(1, "A"), change(2, "B"), change(3, "A"), change(4, "C"),
                       change(5, "B"), change(6, "A"), change(7, "D"), change(8, "C")};
    struct msg *e = change(9, "E");
    struct outq q;
    int64_t last = 0;

    (void)state;
    outq_init(&q, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(outq_push(&q, m[i]), 0);
    assert_int_equal(outq_push(&q, e), 0);
    /* A@1, A@3, B@2, C@4 were superseded: 8 - 4 + 1 remain. */
    assert_int_equal(q.count, 5);
    while (outq_peek(&q)) {
        assert_true(outq_peek(&q)->seq > last);
        last = outq_peek(&q)->seq;
        outq_pop(&q);
    }
    assert_int_equal(last, 9);
    for (int i = 0; i < 8; i++)
        assert_int_equal(refs(m[i]), 1);
    {
        struct msg *want[] = {m[4], m[5], m[6], m[7], e};

        for (int i = 0; i < 5; i++)
            assert_int_equal(outq_push(&q, want[i]), 0);
        expect_drain(&q, want, 5); /* and the same order, message by message */
    }
    outq_clear(&q);
    unref_all(m, 8);
    msg_unref(e);
}

/* Changes to the same waypoint id under another customer or DC are not merged. */
static void test_merge_only_same_dc_customer_waypoint(void **state)
{
    struct msg *m[] = {wrap(1, "dc", "c1", "w"), wrap(2, "dc", "c2", "w"), wrap(3, "dc2", "c1", "w")};
    struct msg *last = wrap(4, "dc", "c1", "x");
    struct outq q;

    (void)state;
    outq_init(&q, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(outq_push(&q, m[i]), 0);
    assert_int_equal(outq_merge(&q), 0);
    assert_int_equal(outq_push(&q, last), -ENOBUFS);
    expect_drain(&q, m, 3);
    outq_clear(&q);
    unref_all(m, 3);
    msg_unref(last);
}

static void test_full_without_mergeable_is_enobufs(void **state)
{
    struct msg *m[] = {change(1, "A"), change(2, "B"), change(3, "C")};
    struct msg *d = change(4, "D");
    struct outq q;

    (void)state;
    outq_init(&q, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(outq_push(&q, m[i]), 0);
    assert_int_equal(outq_push(&q, d), -ENOBUFS);
    assert_int_equal(refs(d), 1); /* refused: no reference taken */
    expect_drain(&q, m, 3);      /* and the queue is untouched */
    outq_clear(&q);
    unref_all(m, 3);
    msg_unref(d);
}

static void test_replies_never_merge(void **state)
{
    struct msg *r[] = {reply(), reply(), reply()};
    struct msg *r4 = reply();
    struct outq q;

    (void)state;
    outq_init(&q, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(outq_push(&q, r[i]), 0);
    assert_int_equal(outq_merge(&q), 0);
    assert_int_equal(outq_push(&q, r4), -ENOBUFS);
    assert_int_equal(refs(r4), 1);
    expect_drain(&q, r, 3);
    outq_clear(&q);
    unref_all(r, 3);
    msg_unref(r4);
}

/* The same reply pushed twice is two messages, not a merge. */
static void test_same_reply_twice_not_merged(void **state)
{
    struct msg *r = reply();
    struct outq q;

    (void)state;
    outq_init(&q, 2);
    assert_int_equal(outq_push(&q, r), 0);
    assert_int_equal(outq_push(&q, r), 0);
    assert_int_equal(refs(r), 3);
    assert_int_equal(outq_merge(&q), 0);
    assert_int_equal(outq_push(&q, r), -ENOBUFS);
    assert_int_equal(refs(r), 3);
    outq_clear(&q);
    assert_int_equal(refs(r), 1);
    msg_unref(r);
}

/* Replies keep their places among changes; only the superseded change goes. */
static void test_mixed_replies_and_changes(void **state)
{
    struct msg *r1 = reply(), *a1 = change(1, "A"), *r2 = reply(), *a2 = change(2, "A");
    struct msg *r3 = reply();
    struct msg *all[] = {r1, a1, r2, a2, r3};
    struct outq q;

    (void)state;
    outq_init(&q, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(outq_push(&q, all[i]), 0);
    assert_int_equal(outq_push(&q, r3), 0);
    {
        struct msg *want[] = {r1, r2, a2, r3};

        expect_drain(&q, want, 4);
    }
    assert_int_equal(refs(a1), 1);
    outq_clear(&q);
    unref_all(all, 5);
}

/* outq_merge on a queue that is not full: returns how many it dropped. */
static void test_merge_returns_count(void **state)
{
    struct msg *m[] = {change(1, "A"), change(2, "A"), change(3, "B"), change(4, "A"), change(5, "B")};
    struct outq q;

    (void)state;
    outq_init(&q, 100);
    for (int i = 0; i < 5; i++)
        assert_int_equal(outq_push(&q, m[i]), 0);
    assert_int_equal(outq_merge(&q), 3);
    assert_int_equal(outq_merge(&q), 0);
    assert_int_equal(refs(m[0]), 1);
    assert_int_equal(refs(m[1]), 1);
    assert_int_equal(refs(m[2]), 1);
    assert_int_equal(refs(m[3]), 2);
    assert_int_equal(refs(m[4]), 2);
    {
        struct msg *want[] = {m[3], m[4]};

        expect_drain(&q, want, 2);
    }
    outq_clear(&q);
    unref_all(m, 5);
}

/* Many push/pop cycles, in a fixed pseudo-random order biased to pushing,
 * move head around the ring, across growth and while full; FIFO order must
 * hold throughout, and a refused push takes no reference. */
static void test_ring_wraparound(void **state)
{
    enum { MAX = 13, TOTAL = 5000 };
    struct msg *m[TOTAL];
    struct outq q;
    int pushed = 0, popped = 0, refused = 0;
    uint32_t x = 12345;

    (void)state;
    for (int i = 0; i < TOTAL; i++) {
        char id[16];

        snprintf(id, sizeof(id), "w%d", i); /* distinct keys: nothing merges */
        m[i] = change(i + 1, id);
    }
    outq_init(&q, MAX);
    while (popped < TOTAL) {
        x = x * 1103515245u + 12345u;
        if (pushed < TOTAL && (x >> 16) % 3 != 0) {
            if (q.count == MAX) {
                assert_int_equal(outq_push(&q, m[pushed]), -ENOBUFS);
                assert_int_equal(refs(m[pushed]), 1);
                refused++;
            } else {
                assert_int_equal(outq_push(&q, m[pushed]), 0);
                pushed++;
            }
        } else if (outq_peek(&q)) {
            assert_ptr_equal(outq_peek(&q), m[popped]);
            outq_pop(&q);
            popped++;
        }
        assert_int_equal(q.count, (size_t)(pushed - popped));
    }
    assert_true(refused > 0); /* the bound was reached along the way */
    assert_null(outq_peek(&q));
    for (int i = 0; i < TOTAL; i++)
        assert_int_equal(refs(m[i]), 1);
    outq_clear(&q);
    unref_all(m, TOTAL);
}

/* Merging while the live part of the ring wraps past its end. */
static void test_merge_across_wrap(void **state)
{
    struct msg *fill[6], *m[8];
    struct msg *x = change(100, "X");
    struct outq q;

    (void)state;
    outq_init(&q, 8);
    for (int i = 0; i < 6; i++) {
        fill[i] = change(i + 1, "F");
        assert_int_equal(outq_push(&q, fill[i]), 0);
    }
    for (int i = 0; i < 6; i++)
        outq_pop(&q); /* head is now 6 of 8: the next pushes wrap */
    m[0] = change(11, "A");
    m[1] = change(12, "B");
    m[2] = change(13, "A");
    m[3] = change(14, "C");
    m[4] = change(15, "B");
    m[5] = change(16, "D");
    m[6] = change(17, "A");
    m[7] = change(18, "E");
    for (int i = 0; i < 8; i++)
        assert_int_equal(outq_push(&q, m[i]), 0);
    assert_int_equal(outq_push(&q, x), 0); /* full: drops A@11, A@13, B@12 */
    {
        struct msg *want[] = {m[3], m[4], m[5], m[6], m[7], x};

        expect_drain(&q, want, 6);
    }
    outq_clear(&q);
    unref_all(fill, 6);
    unref_all(m, 8);
    msg_unref(x);
}

/* However a burst of changes to few waypoints arrives, the newest of every
 * waypoint is still queued, and what is queued is in seq order. */
static void test_newest_of_each_key_survives(void **state)
{
    enum { KEYS = 40, TOTAL = 3000, MAX = 64 };
    struct msg *latest[KEYS] = {0};
    struct outq q;
    int64_t last = 0;
    int seen[KEYS] = {0};

    (void)state;
    outq_init(&q, MAX);
    for (int i = 0; i < TOTAL; i++) {
        int k = (i * 31 + i / 7) % KEYS;
        char id[16];
        struct msg *m;

        snprintf(id, sizeof(id), "k%d", k);
        m = change(i + 1, id);
        assert_int_equal(outq_push(&q, m), 0); /* never too slow: KEYS < MAX */
        msg_unref(latest[k]);
        latest[k] = m;
    }
    assert_true(q.count <= MAX);
    while (outq_peek(&q)) {
        struct msg *m = outq_peek(&q);
        int k = atoi(waypoint_of(m) + 1); /* "k<n>" */

        assert_true(m->seq > last);
        last = m->seq;
        assert_true(k >= 0 && k < KEYS);
        if (m == latest[k])
            seen[k] = 1;
        outq_pop(&q);
    }
    for (int k = 0; k < KEYS; k++) {
        if (latest[k])
            assert_true(seen[k]);
        msg_unref(latest[k]);
    }
    outq_clear(&q);
}

/* outq_clear drops the queue's references and leaves a usable empty queue. */
static void test_clear_drops_references(void **state)
{
    struct msg *a = change(1, "A"), *b = change(2, "B"), *r = reply();
    struct outq q;

    (void)state;
    outq_init(&q, 10);
    assert_int_equal(outq_push(&q, a), 0);
    assert_int_equal(outq_push(&q, b), 0);
    assert_int_equal(outq_push(&q, r), 0);
    assert_int_equal(outq_push(&q, r), 0);
    outq_pop(&q); /* move head off 0 first */
    assert_int_equal(refs(a), 1);
    assert_int_equal(refs(b), 2);
    assert_int_equal(refs(r), 3);
    outq_clear(&q);
    assert_int_equal(refs(b), 1);
    assert_int_equal(refs(r), 1);
    assert_null(outq_peek(&q));
    assert_int_equal(q.count, 0);
    /* usable again, with the same bound */
    assert_int_equal(outq_push(&q, b), 0);
    assert_ptr_equal(outq_peek(&q), b);
    assert_int_equal(refs(b), 2);
    outq_clear(&q);
    assert_int_equal(refs(b), 1);
    msg_unref(a);
    msg_unref(b);
    msg_unref(r);
}

/* A notice of the change seq to waypoint wp. */
static struct msg *notice(int64_t seq, const char *wp)
{
    unsigned char *b = malloc(8);
    struct msg *m;

    assert_non_null(b);
    memcpy(b, "....{}..", 8);
    m = msg_wrap_notice(b, 4, 2, seq, "dc", "c", wp);
    assert_non_null(m);
    return m;
}

/* A merge that drops the change a notice followed moves the notice to
 * right after the change that superseded it; notices never merge. */
static void test_notice_follows_the_newest_change_after_a_merge(void **state)
{
    struct msg *a1 = change(1, "A"), *na1 = notice(1, "A"), *na1b = notice(1, "A"), *b2 = change(2, "B");
    struct msg *a3 = change(3, "A"), *c4 = change(4, "C");
    struct msg *all[] = {a1, na1, na1b, b2, a3, c4};
    struct msg *want[] = {b2, a3, na1, na1b, c4};
    struct outq q;

    (void)state;
    outq_init(&q, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(outq_push(&q, all[i]), 0);
    assert_int_equal(outq_push(&q, c4), 0); /* full: a1 merges into a3 */
    expect_drain(&q, want, 5);
    assert_int_equal(refs(a1), 1);
    unref_all(all, 6);
    outq_clear(&q);
}

/* Full with nothing to merge: the new change replaces its waypoint's
 * queued one, and that one's notice follows the new change. */
static void test_notice_follows_the_change_that_replaced_its_own(void **state)
{
    struct msg *a1 = change(1, "A"), *na1 = notice(1, "A"), *b2 = change(2, "B"), *a3 = change(3, "A");
    struct msg *all[] = {a1, na1, b2, a3};
    struct msg *want[] = {b2, a3, na1};
    struct outq q;

    (void)state;
    outq_init(&q, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(outq_push(&q, all[i]), 0);
    assert_int_equal(outq_push(&q, a3), 0);
    expect_drain(&q, want, 3);
    unref_all(all, 4);
    outq_clear(&q);
}

/* Notices alone never make room: a queue full of them is a client too slow. */
static void test_notices_never_merge(void **state)
{
    struct msg *n1 = notice(1, "A"), *n2 = notice(2, "A"), *n3 = notice(3, "A");
    struct msg *all[] = {n1, n2};
    struct outq q;

    (void)state;
    outq_init(&q, 2);
    assert_int_equal(outq_push(&q, n1), 0);
    assert_int_equal(outq_push(&q, n2), 0);
    assert_int_equal(outq_push(&q, n3), -ENOBUFS);
    expect_drain(&q, all, 2);
    msg_unref(n1);
    msg_unref(n2);
    msg_unref(n3);
    outq_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_fifo_and_references),
        cmocka_unit_test(test_queue_owns_its_reference),
        cmocka_unit_test(test_full_merges_superseded),
        cmocka_unit_test(test_merge_keeps_seq_order),
        cmocka_unit_test(test_merge_only_same_dc_customer_waypoint),
        cmocka_unit_test(test_full_without_mergeable_is_enobufs),
        cmocka_unit_test(test_replies_never_merge),
        cmocka_unit_test(test_same_reply_twice_not_merged),
        cmocka_unit_test(test_mixed_replies_and_changes),
        cmocka_unit_test(test_merge_returns_count),
        cmocka_unit_test(test_ring_wraparound),
        cmocka_unit_test(test_merge_across_wrap),
        cmocka_unit_test(test_newest_of_each_key_survives),
        cmocka_unit_test(test_clear_drops_references),
        cmocka_unit_test(test_notice_follows_the_newest_change_after_a_merge),
        cmocka_unit_test(test_notice_follows_the_change_that_replaced_its_own),
        cmocka_unit_test(test_notices_never_merge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
