/* SPDX-License-Identifier: MIT */
/* Unit tests for subs.c, the per-thread subscription registry: scopes,
 * from_seq filtering, removal, key aliasing and table growth. */
#include "subs.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* realloc fails on demand (-Wl,--wrap=realloc in tests/unit/CMakeLists.txt). */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static int fail_reallocs;

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_reallocs > 0) {
        fail_reallocs--;
        return NULL;
    }
    return __real_realloc(p, n);
}

/* Sessions are opaque pointers: the addresses of these bytes. */
#define NSESS 5000
static char sessions[NSESS];
#define S(i) ((void *)&sessions[i])

/* What subs_match called back with. */
struct calls {
    void *arg_seen;
    size_t n;
    unsigned hits[NSESS]; /* per session index */
};

static void record(void *session, void *arg)
{
    struct calls *c = arg;
    ptrdiff_t i = (char *)session - sessions;

    assert_true(i >= 0 && i < NSESS);
    c->arg_seen = arg;
    c->hits[i]++;
    c->n++;
}

/* Match and return the calls (static storage: reset on every use). */
static struct calls *match(struct subs *r, const char *dc, const char *customer, int64_t seq)
{
    static struct calls c;

    memset(&c, 0, sizeof(c));
    subs_match(r, dc, customer, seq, record, &c);
    if (c.n)
        assert_ptr_equal(c.arg_seen, &c);
    return &c;
}

static struct subs *new_subs(void)
{
    struct subs *r = subs_new();

    assert_non_null(r);
    assert_int_equal(subs_count(r), 0);
    return r;
}

static void test_empty(void **state)
{
    struct subs *r = new_subs();

    (void)state;
    assert_int_equal(match(r, "dc", "c", 1)->n, 0);
    assert_int_equal(match(r, "dc", NULL, 1)->n, 0);
    assert_int_equal(subs_remove(r, "dc", "c", S(0)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc", NULL, S(0)), -ENOENT);
    subs_free(r);
    subs_free(NULL);
}

static void test_customer_scope(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "dc1", "alice", S(1), 0), 0);
    assert_int_equal(subs_count(r), 1);
    c = match(r, "dc1", "alice", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[1], 1);
    assert_int_equal(match(r, "dc1", "bob", 1)->n, 0);
    assert_int_equal(match(r, "dc2", "alice", 1)->n, 0);
    assert_int_equal(match(r, "dc1", "alic", 1)->n, 0);
    assert_int_equal(match(r, "dc1", "alicee", 1)->n, 0);
    subs_free(r);
}

static void test_dc_scope(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "dc1", NULL, S(2), 0), 0);
    assert_int_equal(subs_count(r), 1);
    c = match(r, "dc1", "alice", 5);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[2], 1);
    c = match(r, "dc1", "bob", 5);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[2], 1);
    assert_int_equal(match(r, "dc2", "alice", 5)->n, 0);
    assert_int_equal(match(r, "dc", "alice", 5)->n, 0);
    subs_free(r);
}

/* Only changes with seq > from_seq are delivered. */
static void test_from_seq_filter(void **state)
{
    struct subs *r = new_subs();

    (void)state;
    assert_int_equal(subs_add(r, "dc", "c", S(1), 10), 0);
    assert_int_equal(subs_add(r, "dc", NULL, S(2), 20), 0);
    assert_int_equal(match(r, "dc", "c", 9)->n, 0);
    assert_int_equal(match(r, "dc", "c", 10)->n, 0);
    assert_int_equal(match(r, "dc", "c", 11)->n, 1);
    assert_int_equal(match(r, "dc", "c", 11)->hits[1], 1);
    assert_int_equal(match(r, "dc", "c", 20)->hits[2], 0);
    assert_int_equal(match(r, "dc", "c", 21)->hits[2], 1);
    assert_int_equal(match(r, "dc", "c", 21)->n, 2);
    subs_free(r);
}

/* Subscribing again to the same scope moves from_seq, both ways, and does
 * not add a second subscription. */
static void test_resubscribe_moves_from_seq(void **state)
{
    struct subs *r = new_subs();

    (void)state;
    assert_int_equal(subs_add(r, "dc", "c", S(1), 10), 0);
    assert_int_equal(subs_add(r, "dc", "c", S(1), 100), 0);
    assert_int_equal(subs_count(r), 1);
    assert_int_equal(match(r, "dc", "c", 50)->n, 0);
    assert_int_equal(match(r, "dc", "c", 101)->n, 1);
    assert_int_equal(subs_add(r, "dc", "c", S(1), 5), 0);
    assert_int_equal(subs_count(r), 1);
    assert_int_equal(match(r, "dc", "c", 6)->n, 1);
    assert_int_equal(subs_add(r, "dc", NULL, S(1), 7), 0);
    assert_int_equal(subs_add(r, "dc", NULL, S(1), 8), 0);
    assert_int_equal(subs_count(r), 2);
    assert_int_equal(match(r, "dc", "c", 8)->n, 1);
    assert_int_equal(match(r, "dc", "c", 9)->n, 2);
    /* one remove ends it: there was only one subscription per scope */
    assert_int_equal(subs_remove(r, "dc", "c", S(1)), 0);
    assert_int_equal(subs_remove(r, "dc", "c", S(1)), -ENOENT);
    assert_int_equal(subs_count(r), 1);
    subs_free(r);
}

/* Documented: a session in a customer scope and in its DC scope is called
 * twice for that customer's change, once for another customer's. */
static void test_both_scopes_called_twice(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "dc", "c", S(3), 0), 0);
    assert_int_equal(subs_add(r, "dc", NULL, S(3), 0), 0);
    assert_int_equal(subs_count(r), 2);
    c = match(r, "dc", "c", 1);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->hits[3], 2);
    c = match(r, "dc", "other", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[3], 1);
    subs_free(r);
}

static void test_remove(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "dc", "c", S(1), 0), 0);
    assert_int_equal(subs_add(r, "dc", "c", S(2), 0), 0);
    assert_int_equal(subs_add(r, "dc", NULL, S(3), 0), 0);
    assert_int_equal(subs_count(r), 3);

    /* unknown session, unknown scope, wrong kind of scope */
    assert_int_equal(subs_remove(r, "dc", "c", S(9)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc", "d", S(1)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc2", "c", S(1)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc", NULL, S(1)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc", "c", S(3)), -ENOENT);
    assert_int_equal(subs_count(r), 3);

    assert_int_equal(subs_remove(r, "dc", "c", S(1)), 0);
    assert_int_equal(subs_count(r), 2);
    c = match(r, "dc", "c", 1);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->hits[1], 0);
    assert_int_equal(c->hits[2], 1);
    assert_int_equal(c->hits[3], 1);
    assert_int_equal(subs_remove(r, "dc", "c", S(1)), -ENOENT);

    assert_int_equal(subs_remove(r, "dc", "c", S(2)), 0);
    assert_int_equal(subs_remove(r, "dc", NULL, S(3)), 0);
    assert_int_equal(subs_count(r), 0);
    assert_int_equal(match(r, "dc", "c", 1)->n, 0);

    /* an emptied scope can be subscribed to again */
    assert_int_equal(subs_add(r, "dc", "c", S(4), 0), 0);
    assert_int_equal(match(r, "dc", "c", 1)->hits[4], 1);
    assert_int_equal(subs_count(r), 1);
    subs_free(r);
}

/* A customer whose id is "" is not the DC scope, either way round. */
static void test_empty_customer_is_not_dc_scope(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "dc", "", S(1), 0), 0);
    assert_int_equal(subs_count(r), 1);
    assert_int_equal(match(r, "dc", "x", 1)->n, 0); /* not a DC subscription */
    c = match(r, "dc", "", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[1], 1);
    assert_int_equal(subs_remove(r, "dc", NULL, S(1)), -ENOENT);

    assert_int_equal(subs_add(r, "dc", NULL, S(2), 0), 0);
    assert_int_equal(subs_count(r), 2);
    c = match(r, "dc", "", 1);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->hits[1], 1);
    assert_int_equal(c->hits[2], 1);
    c = match(r, "dc", "x", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[2], 1);
    assert_int_equal(subs_remove(r, "dc", "", S(2)), -ENOENT);
    assert_int_equal(subs_remove(r, "dc", "", S(1)), 0);
    assert_int_equal(match(r, "dc", "", 1)->hits[2], 1); /* the DC scope is intact */
    assert_int_equal(subs_count(r), 1);
    subs_free(r);
}

/* The same characters split differently between DC and customer never
 * collide. */
static void test_prefix_ids_never_collide(void **state)
{
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    assert_int_equal(subs_add(r, "a", "bc", S(1), 0), 0);
    assert_int_equal(subs_add(r, "ab", "c", S(2), 0), 0);
    assert_int_equal(subs_add(r, "abc", "", S(3), 0), 0);
    assert_int_equal(subs_add(r, "", "abc", S(4), 0), 0);
    assert_int_equal(subs_add(r, "ab", NULL, S(5), 0), 0);
    assert_int_equal(subs_count(r), 5);

    c = match(r, "a", "bc", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[1], 1);
    c = match(r, "ab", "c", 1);
    assert_int_equal(c->n, 2); /* its customer scope and the DC "ab" */
    assert_int_equal(c->hits[2], 1);
    assert_int_equal(c->hits[5], 1);
    c = match(r, "abc", "", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[3], 1);
    c = match(r, "", "abc", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[4], 1);
    c = match(r, "a", "b", 1);
    assert_int_equal(c->n, 0); /* not DC "ab" */
    c = match(r, "ab", "", 1);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->hits[5], 1);

    assert_int_equal(subs_remove(r, "a", "bc", S(2)), -ENOENT);
    assert_int_equal(subs_remove(r, "ab", "c", S(1)), -ENOENT);
    assert_int_equal(subs_remove(r, "a", "bc", S(1)), 0);
    assert_int_equal(match(r, "ab", "c", 1)->hits[2], 1);
    subs_free(r);
}

/* 5000 customer scopes force the table to grow many times; each one still
 * finds exactly its own session, before and after removing half. */
static void test_many_scopes(void **state)
{
    struct subs *r = new_subs();
    char id[32];

    (void)state;
    for (int i = 0; i < NSESS; i++) {
        snprintf(id, sizeof(id), "cust-%d", i);
        assert_int_equal(subs_add(r, i % 2 ? "dcA" : "dcB", id, S(i), i), 0);
    }
    assert_int_equal(subs_count(r), NSESS);
    for (int i = 0; i < NSESS; i++) {
        struct calls *c;

        snprintf(id, sizeof(id), "cust-%d", i);
        c = match(r, i % 2 ? "dcA" : "dcB", id, i + 1);
        assert_int_equal(c->n, 1);
        assert_int_equal(c->hits[i], 1);
        assert_int_equal(match(r, i % 2 ? "dcA" : "dcB", id, i)->n, 0);  /* from_seq kept per scope */
        assert_int_equal(match(r, i % 2 ? "dcB" : "dcA", id, i + 1)->n, 0); /* other DC */
    }
    for (int i = 0; i < NSESS; i += 2) {
        snprintf(id, sizeof(id), "cust-%d", i);
        assert_int_equal(subs_remove(r, "dcB", id, S(i)), 0);
    }
    assert_int_equal(subs_count(r), NSESS / 2);
    for (int i = 0; i < NSESS; i++) {
        snprintf(id, sizeof(id), "cust-%d", i);
        assert_int_equal(match(r, i % 2 ? "dcA" : "dcB", id, NSESS)->n, (size_t)(i % 2));
    }
    for (int i = 1; i < NSESS; i += 2) {
        snprintf(id, sizeof(id), "cust-%d", i);
        assert_int_equal(subs_remove(r, "dcA", id, S(i)), 0);
        assert_int_equal(subs_remove(r, "dcA", id, S(i)), -ENOENT);
    }
    assert_int_equal(subs_count(r), 0);
    subs_free(r);
}

/* Many sessions in one scope: each called once, filtered by its own
 * from_seq, and removals (in any order) leave the others in place. */
static void test_many_members(void **state)
{
    enum { N = 3000 };
    struct subs *r = new_subs();
    struct calls *c;

    (void)state;
    for (int i = 0; i < N; i++)
        assert_int_equal(subs_add(r, "dc", "busy", S(i), i), 0);
    assert_int_equal(subs_count(r), N);
    c = match(r, "dc", "busy", N);
    assert_int_equal(c->n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(c->hits[i], 1);
    c = match(r, "dc", "busy", 1000); /* from_seq 0..999 are below 1000 */
    assert_int_equal(c->n, 1000);
    for (int i = 0; i < N; i++)
        assert_int_equal(c->hits[i], i < 1000);

    for (int i = 0; i < N; i += 3) /* remove every third, from the front */
        assert_int_equal(subs_remove(r, "dc", "busy", S(i)), 0);
    assert_int_equal(subs_count(r), N - N / 3);
    c = match(r, "dc", "busy", N);
    assert_int_equal(c->n, N - N / 3);
    for (int i = 0; i < N; i++)
        assert_int_equal(c->hits[i], i % 3 != 0);
    for (int i = N - 1; i >= 0; i--) /* the rest, from the back */
        if (i % 3)
            assert_int_equal(subs_remove(r, "dc", "busy", S(i)), 0);
    assert_int_equal(subs_count(r), 0);
    assert_int_equal(match(r, "dc", "busy", N)->n, 0);
    subs_free(r);
}

/* One session in many scopes; freeing the registry with everything still
 * subscribed releases it all (LeakSanitizer checks). */
static void test_one_session_many_scopes(void **state)
{
    struct subs *r = new_subs();
    char dc[16], id[16];

    (void)state;
    for (int d = 0; d < 20; d++) {
        snprintf(dc, sizeof(dc), "dc%d", d);
        assert_int_equal(subs_add(r, dc, NULL, S(7), 0), 0);
        for (int i = 0; i < 50; i++) {
            snprintf(id, sizeof(id), "c%d", i);
            assert_int_equal(subs_add(r, dc, id, S(7), 0), 0);
            assert_int_equal(subs_add(r, dc, id, S(8), 0), 0);
        }
    }
    assert_int_equal(subs_count(r), 20 * (1 + 2 * 50));
    assert_int_equal(match(r, "dc3", "c4", 1)->hits[7], 2);
    assert_int_equal(match(r, "dc3", "c4", 1)->hits[8], 1);
    assert_int_equal(match(r, "dc3", "c99", 1)->hits[7], 1);
    assert_int_equal(match(r, "dc99", "c4", 1)->n, 0);
    subs_free(r);
}

/* Issue 11 (review L3): a member that cannot be added leaves no empty
 * scope behind, and the registry works on afterwards. */
static void test_issue_11_failed_add_leaves_no_empty_scope(void **state)
{
    struct subs *r = subs_new();

    (void)state;
    assert_non_null(r);
    assert_int_equal(subs_add(r, "d", "c", S(0), 0), 0);
    fail_reallocs = 1;
    assert_int_equal(subs_add(r, "d", "other", S(1), 0), -ENOMEM);
    fail_reallocs = 0;
    assert_int_equal(subs_scopes(r), 1);
    assert_int_equal(subs_count(r), 1);
    assert_int_equal(match(r, "d", "other", 1)->n, 0);
    assert_int_equal(subs_add(r, "d", "other", S(1), 0), 0);
    assert_int_equal(subs_scopes(r), 2);
    assert_int_equal(match(r, "d", "other", 1)->hits[1], 1);
    subs_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_issue_11_failed_add_leaves_no_empty_scope),
        cmocka_unit_test(test_customer_scope),
        cmocka_unit_test(test_dc_scope),
        cmocka_unit_test(test_from_seq_filter),
        cmocka_unit_test(test_resubscribe_moves_from_seq),
        cmocka_unit_test(test_both_scopes_called_twice),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_empty_customer_is_not_dc_scope),
        cmocka_unit_test(test_prefix_ids_never_collide),
        cmocka_unit_test(test_many_scopes),
        cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_one_session_many_scopes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
