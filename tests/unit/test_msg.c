/* SPDX-License-Identifier: MIT */
/* Unit tests for msg.c: wrapping (ownership of the buffer), reference counting
 * (ASan proves the last unref frees; a recording free and TSan that it frees
 * only then), routing ids and same-key merging. */
#include "msg.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PRE 16

/* A malloc'd buffer with PRE bytes of headroom, then the JSON text. */
static unsigned char *make_buf(const char *json, size_t *len)
{
    size_t n = strlen(json);
    unsigned char *b = malloc(PRE + n);

    assert_non_null(b);
    memset(b, 0, PRE);
    memcpy(b + PRE, json, n);
    *len = n;
    return b;
}

static struct msg *change(int64_t seq, const char *dc, const char *customer, const char *waypoint)
{
    size_t len;
    unsigned char *b = make_buf("{\"type\":\"waypoint\"}", &len);
    struct msg *m = msg_wrap(b, PRE, len, seq, 1000 + seq, dc, customer, waypoint);

    assert_non_null(m);
    return m;
}

static struct msg *reply(void)
{
    size_t len;
    unsigned char *b = make_buf("{\"type\":\"pong\",\"id\":1}", &len);
    struct msg *m = msg_wrap(b, PRE, len, 0, 0, NULL, NULL, NULL);

    assert_non_null(m);
    return m;
}

static int refs(struct msg *m)
{
    return atomic_load(&m->refs);
}

static void test_wrap_change_fields(void **state)
{
    size_t len;
    unsigned char *b = make_buf("{\"seq\":42}", &len);
    struct msg *m = msg_wrap(b, PRE, len, 42, 1700000000123, "dc1", "cust7", "wp9");
    static const char key[] = "dc1\0cust7\0wp9"; /* plus the final NUL of the literal */

    (void)state;
    assert_non_null(m);
    assert_int_equal(refs(m), 1);
    assert_ptr_equal(m->buf, b); /* wrapped, not copied */
    assert_int_equal(m->pre, PRE);
    assert_int_equal(m->len, len);
    assert_memory_equal(m->buf + m->pre, "{\"seq\":42}", len);
    assert_int_equal(m->seq, 42);
    assert_int_equal(m->changed_ms, 1700000000123);
    assert_int_equal(m->key_len, sizeof(key));
    assert_memory_equal(m->key, key, sizeof(key));
    assert_true(m->merge_hash != 0);
    assert_string_equal(msg_dc_id(m), "dc1");
    assert_string_equal(msg_customer_id(m), "cust7");
    msg_unref(m);
}

static void test_wrap_empty_ids_is_still_a_change(void **state)
{
    struct msg *m = change(1, "", "", "");

    (void)state;
    assert_true(m->merge_hash != 0);
    assert_non_null(m->key);
    assert_string_equal(msg_dc_id(m), "");
    assert_string_equal(msg_customer_id(m), "");
    assert_true(msg_same_key(m, m));
    msg_unref(m);
}

static void test_wrap_reply_has_no_key(void **state)
{
    struct msg *r = reply();

    (void)state;
    assert_int_equal(refs(r), 1);
    assert_int_equal(r->seq, 0);
    assert_int_equal(r->changed_ms, 0);
    assert_int_equal(r->merge_hash, 0);
    assert_null(r->key);
    assert_null(msg_dc_id(r));
    assert_null(msg_customer_id(r));
    msg_unref(r);
}

static void test_wrap_null_buffer(void **state)
{
    (void)state;
    assert_null(msg_wrap(NULL, PRE, 0, 1, 1, "dc", "c", "w"));
    assert_null(msg_wrap(NULL, 0, 0, 0, 0, NULL, NULL, NULL));
}

/* Under ASan a missing free of buf or key is a leak, an early free a
 * use-after-free on the reads below, and a late extra free a double free. */
static void test_ref_unref(void **state)
{
    struct msg *m = change(5, "dc", "c", "w");

    (void)state;
    assert_ptr_equal(msg_ref(m), m);
    assert_int_equal(refs(m), 2);
    assert_ptr_equal(msg_ref(m), m);
    assert_int_equal(refs(m), 3);
    msg_unref(m);
    assert_int_equal(refs(m), 2);
    msg_unref(m);
    assert_int_equal(refs(m), 1);
    /* Still alive: its buffer and key are readable. */
    assert_memory_equal(m->buf + m->pre, "{\"type\":\"waypoint\"}", m->len);
    assert_string_equal(msg_customer_id(m), "c");
    msg_unref(m); /* the last: frees msg, key and buf */
    msg_unref(NULL);
}

#define THREADS 4
#define ROUNDS 20000

static void *hammer(void *arg)
{
    struct msg *m = arg;

    for (int i = 0; i < ROUNDS; i++) {
        msg_ref(m);
        msg_ref(m);
        msg_unref(m);
        msg_unref(m);
    }
    return NULL;
}

/* References are taken and dropped on several threads; the count stays exact. */
static void test_refcount_across_threads(void **state)
{
    struct msg *m = change(9, "dc", "c", "w");
    pthread_t t[THREADS];

    (void)state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(refs(m), 1);
    msg_unref(m);
}

/* The last unref frees, and only the last: the hand-off the server makes
 * (the feed thread takes one reference per service thread, each thread reads
 * the message and drops its reference in any order), MSGS times over. Every
 * free of the message under test goes through __wrap_free (the test links
 * with -Wl,--wrap=free, tests/unit/CMakeLists.txt), which records it and
 * whether a holder had not yet dropped its reference. An unref that frees
 * one reference early counts as `early`, and the holder's reads after it are
 * a use-after-free under ASan or TSan (in a plain build glibc's heap checks
 * usually abort first); a second free counts in `frees`; a decrement without
 * acquire/release ordering is a data race between a holder's reads and the
 * free under TSan. */
#define HOLDERS 4
#define MSGS 2000

void __real_free(void *p);
void __wrap_free(void *p);

static struct {
    _Atomic(struct msg *) watched; /* the message whose free is recorded */
    atomic_int holders;            /* references still held on it, by the test's count */
    atomic_int frees;              /* frees of watched messages */
    atomic_int early;              /* of which while a holder still held its reference */
} freed;

void __wrap_free(void *p)
{
    if (p && p == atomic_load(&freed.watched)) {
        atomic_fetch_add(&freed.frees, 1);
        if (atomic_load(&freed.holders) > 0)
            atomic_fetch_add(&freed.early, 1);
    }
    __real_free(p);
}

struct holder {
    pthread_barrier_t *start, *end;
    struct msg *m;  /* this round's message: one reference, ours to drop */
    int64_t seq;    /* what it must hold */
    int bad;        /* reads that saw something else */
};

/* Read the whole message, then give the reference back. */
static int check_and_drop(struct msg *m, int64_t seq)
{
    int bad = m->seq != seq || m->len != strlen("{\"type\":\"waypoint\"}") ||
              memcmp(m->buf + m->pre, "{\"type\":\"waypoint\"}", m->len) != 0 ||
              strcmp(msg_customer_id(m), "c") != 0;

    atomic_fetch_sub(&freed.holders, 1);
    msg_unref(m);
    return bad;
}

static void *hold(void *arg)
{
    struct holder *h = arg;

    for (int i = 0; i < MSGS; i++) {
        pthread_barrier_wait(h->start);
        h->bad += check_and_drop(h->m, h->seq);
        pthread_barrier_wait(h->end);
    }
    return NULL;
}

static void test_last_unref_frees_once_after_every_holder(void **state)
{
    pthread_barrier_t start, end;
    struct holder h[HOLDERS];
    pthread_t t[HOLDERS];
    int bad = 0;

    (void)state;
    assert_int_equal(pthread_barrier_init(&start, NULL, HOLDERS + 1), 0);
    assert_int_equal(pthread_barrier_init(&end, NULL, HOLDERS + 1), 0);
    for (int i = 0; i < HOLDERS; i++) {
        h[i] = (struct holder){.start = &start, .end = &end};
        assert_int_equal(pthread_create(&t[i], NULL, hold, &h[i]), 0);
    }
    for (int n = 1; n <= MSGS; n++) {
        struct msg *m = change(n, "dc", "c", "w");

        atomic_store(&freed.watched, m);
        atomic_store(&freed.holders, HOLDERS + 1); /* ours and one per thread */
        for (int i = 0; i < HOLDERS; i++) {
            h[i].m = msg_ref(m);
            h[i].seq = n;
        }
        pthread_barrier_wait(&start);
        bad += check_and_drop(m, n); /* ours, racing with the holders' */
        pthread_barrier_wait(&end);
    }
    for (int i = 0; i < HOLDERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        bad += h[i].bad;
    }
    atomic_store(&freed.watched, NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
    assert_int_equal(atomic_load(&freed.frees), MSGS);
    assert_int_equal(atomic_load(&freed.early), 0);
    assert_int_equal(bad, 0);
}

static void test_same_key(void **state)
{
    struct msg *a1 = change(1, "dc", "cust", "wp");
    struct msg *a2 = change(2, "dc", "cust", "wp");
    struct msg *other_dc = change(3, "dc2", "cust", "wp");
    struct msg *other_customer = change(4, "dc", "cust2", "wp");
    struct msg *other_waypoint = change(5, "dc", "cust", "wp2");

    (void)state;
    assert_true(msg_same_key(a1, a2));
    assert_true(msg_same_key(a2, a1));
    assert_int_equal(a1->merge_hash, a2->merge_hash);
    assert_false(msg_same_key(a1, other_dc));
    assert_false(msg_same_key(a1, other_customer));
    assert_false(msg_same_key(a1, other_waypoint));
    assert_false(msg_same_key(other_dc, a1));
    assert_false(msg_same_key(other_customer, other_waypoint));
    msg_unref(a1);
    msg_unref(a2);
    msg_unref(other_dc);
    msg_unref(other_customer);
    msg_unref(other_waypoint);
}

/* The same characters split differently between the ids are different keys. */
static void test_same_key_id_boundaries(void **state)
{
    struct msg *m[] = {
        change(1, "a", "bc", "w"), change(2, "ab", "c", "w"), change(3, "a", "b", "cw"),
        change(4, "a", "bcw", ""), change(5, "", "abc", "w"),
    };
    size_t n = sizeof(m) / sizeof(m[0]);

    (void)state;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            assert_int_equal(msg_same_key(m[i], m[j]), i == j);
    assert_string_equal(msg_dc_id(m[1]), "ab");
    assert_string_equal(msg_customer_id(m[1]), "c");
    for (size_t i = 0; i < n; i++)
        msg_unref(m[i]);
}

/* A hash collision must not make two different keys "the same". */
static void test_same_key_compares_keys_not_hashes(void **state)
{
    struct msg *a = change(1, "dc", "c", "w1");
    struct msg *b = change(2, "dc", "c", "w2");

    (void)state;
    assert_false(msg_same_key(a, b));
    b->merge_hash = a->merge_hash; /* simulate a collision: equal hash and key_len */
    assert_int_equal(a->key_len, b->key_len);
    assert_false(msg_same_key(a, b));
    assert_false(msg_same_key(b, a));
    msg_unref(a);
    msg_unref(b);
}

static void test_replies_never_same_key(void **state)
{
    struct msg *r1 = reply();
    struct msg *r2 = reply();
    struct msg *c = change(1, "dc", "c", "w");

    (void)state;
    assert_false(msg_same_key(r1, r2));
    assert_false(msg_same_key(r1, r1));
    assert_false(msg_same_key(r1, c));
    assert_false(msg_same_key(c, r1));
    msg_unref(r1);
    msg_unref(r2);
    msg_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_change_fields),
        cmocka_unit_test(test_wrap_empty_ids_is_still_a_change),
        cmocka_unit_test(test_wrap_reply_has_no_key),
        cmocka_unit_test(test_wrap_null_buffer),
        cmocka_unit_test(test_ref_unref),
        cmocka_unit_test(test_refcount_across_threads),
        cmocka_unit_test(test_last_unref_frees_once_after_every_holder),
        cmocka_unit_test(test_same_key),
        cmocka_unit_test(test_same_key_id_boundaries),
        cmocka_unit_test(test_same_key_compares_keys_not_hashes),
        cmocka_unit_test(test_replies_never_same_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
