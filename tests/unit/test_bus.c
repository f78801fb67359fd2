/* SPDX-License-Identifier: MIT */
/* Unit tests for bus.c, the per-thread inboxes: every thread gets every
 * change in order, `through` says how far the source has offered, and an
 * inbox that cannot grow is reported lost instead of hiding a gap (issue
 * 11: an allocation failure must not move a cursor past changes it did not
 * deliver). realloc is wrapped (-Wl,--wrap=realloc) to fail on demand. */
#include "bus.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static int fail_reallocs; /* the next this many reallocs fail */

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_reallocs > 0) {
        fail_reallocs--;
        return NULL;
    }
    return __real_realloc(p, n);
}

static int woken[2];

static void wake(void *arg)
{
    woken[(int *)arg - woken]++;
}

static struct msg *change(int64_t seq)
{
    unsigned char *buf = malloc(8);

    assert_non_null(buf);
    memcpy(buf, "12345678", 8);
    return msg_wrap(buf, 0, 8, seq, 0, "D", "C", "W");
}

static void publish(struct bus *b, int64_t first, int64_t last, int64_t through)
{
    struct msg *m[8] = {0};
    size_t n = 0;

    for (int64_t s = first; s <= last; s++)
        m[n++] = change(s);
    bus_publish(b, m, n, through);
    for (size_t i = 0; i < n; i++)
        msg_unref(m[i]);
}

static void take(struct bus *b, int i, struct bus_batch *out, int64_t *seqs)
{
    bus_take(b, i, out);
    for (size_t k = 0; k < out->n; k++) {
        seqs[k] = out->msgs[k]->seq;
        msg_unref(out->msgs[k]);
    }
    free(out->msgs);
}

static void test_every_thread_gets_every_change_in_order(void **state)
{
    void *args[2] = {&woken[0], &woken[1]};
    struct bus *b = bus_new(2, 7, wake, args);
    struct bus_batch got;
    int64_t seqs[16];

    (void)state;
    memset(woken, 0, sizeof(woken));
    assert_non_null(b);
    take(b, 0, &got, seqs);
    assert_int_equal(got.n, 0);
    assert_int_equal(got.through, 7); /* where the source started */
    publish(b, 8, 10, 10);
    publish(b, 11, 11, 12); /* 12 was read but coalesced away */
    assert_int_equal(woken[0], 2);
    assert_int_equal(woken[1], 2);
    for (int t = 0; t < 2; t++) {
        take(b, t, &got, seqs);
        assert_int_equal(got.n, 4);
        assert_false(got.lost);
        assert_int_equal(got.through, 12);
        for (int k = 0; k < 4; k++)
            assert_int_equal(seqs[k], 8 + k);
    }
    take(b, 0, &got, seqs);
    assert_int_equal(got.n, 0);
    assert_int_equal(got.through, 12);
    bus_free(b);
    bus_free(NULL);
}

static void test_out_of_memory_is_reported_not_skipped(void **state)
{
    struct bus *b = bus_new(2, 0, NULL, NULL);
    struct bus_batch got;
    int64_t seqs[16];

    (void)state;
    assert_non_null(b);
    publish(b, 1, 2, 2);
    fail_reallocs = 1; /* thread 0's inbox cannot grow for 3..4 */
    take(b, 0, &got, seqs);
    publish(b, 3, 4, 4);
    fail_reallocs = 0;
    take(b, 0, &got, seqs);
    assert_true(got.lost);
    assert_int_equal(got.n, 0);
    assert_int_equal(got.through, 4);
    take(b, 1, &got, seqs); /* thread 1 was not hurt */
    assert_false(got.lost);
    assert_int_equal(got.n, 4);
    publish(b, 5, 5, 5); /* after the loss is taken, changes flow again */
    take(b, 0, &got, seqs);
    assert_false(got.lost);
    assert_int_equal(got.n, 1);
    assert_int_equal(seqs[0], 5);
    bus_free(b);
}

/* A source made after the bus (serve.c makes the bus, then starts the
 * source into it) says where it starts before a thread can take: every
 * inbox then reports that through, with nothing queued and no wake-up. It
 * never moves an inbox back, which would hide from a resume the changes
 * already offered. */
static void test_source_sets_where_it_starts(void **state)
{
    void *args[2] = {&woken[0], &woken[1]};
    struct bus *b = bus_new(2, 0, wake, args);
    struct bus_batch got;
    int64_t seqs[16];

    (void)state;
    memset(woken, 0, sizeof(woken));
    assert_non_null(b);
    bus_set_through(b, 42);
    assert_int_equal(woken[0] + woken[1], 0);
    for (int t = 0; t < 2; t++) {
        take(b, t, &got, seqs);
        assert_int_equal(got.n, 0);
        assert_false(got.lost);
        assert_int_equal(got.through, 42);
    }
    publish(b, 43, 44, 44);
    bus_set_through(b, 10);
    take(b, 1, &got, seqs);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.through, 44);
    bus_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_gets_every_change_in_order),
        cmocka_unit_test(test_out_of_memory_is_reported_not_skipped),
        cmocka_unit_test(test_source_sets_where_it_starts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
