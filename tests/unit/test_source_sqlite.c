/* SPDX-License-Identifier: MIT */
/* Unit tests for feed.c, the change watcher, on a real database file
 * written by a second connection as other programs write it. The change
 * log read is wrapped (-Wl,--wrap=store_changes_read) to fail on demand,
 * and lws_cancel_service (the wake-up) is counted instead of called. */
#include "source_sqlite.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "bus.h"
#include "msg.h"
#include "store.h"
#include "testdb.h"

struct lws_context;

int __real_store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                              int64_t *next);
int __wrap_store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                              int64_t *next);
void __wrap_lws_cancel_service(struct lws_context *context);

static atomic_int fail_reads; /* the next this many log reads fail */
static atomic_int reads_failed;
static atomic_int wakes;

int __wrap_store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                              int64_t *next)
{
    if (atomic_load(&fail_reads) > 0) {
        atomic_fetch_sub(&fail_reads, 1);
        atomic_fetch_add(&reads_failed, 1);
        return -EIO;
    }
    return __real_store_changes_read(s, after, max, out, n, next);
}

void __wrap_lws_cancel_service(struct lws_context *context)
{
    (void)context;
    atomic_fetch_add(&wakes, 1);
}

static void sql(struct testdb *t, const char *q)
{
    char *msg = NULL;

    if (sqlite3_exec(t->db, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Take from thread 0 until a change arrives or the deadline passes; the
 * number taken (their seqs into seqs). */
static size_t take_within(struct feed *f, int deadline_ms, int64_t *seqs, size_t cap)
{
    for (int waited = 0; waited < deadline_ms; waited += 20) {
        struct bus_batch b;
        size_t n;

        feed_take(f, 0, &b);
        n = b.n;
        for (size_t i = 0; i < b.n; i++) {
            if (i < cap)
                seqs[i] = b.msgs[i]->seq;
            msg_unref(b.msgs[i]);
        }
        free(b.msgs);
        if (n)
            return n;
        sleep_ms(20);
    }
    return 0;
}

static struct feed *start(struct testdb *t)
{
    struct lws_context *ctx[1] = {NULL};
    struct feed_config cfg = {t->path, FEED_KEEP_ROWS_DEFAULT, FEED_KEEP_SECONDS_DEFAULT};
    struct feed *f = NULL;

    assert_int_equal(feed_start(&cfg, ctx, 1, &f), 0);
    return f;
}

/* Issue 11 (review M2): the read after a commit fails; the database then
 * stays quiet. The change must still arrive, within seconds, not wait for
 * an unrelated commit. */
static void test_issue_11_failed_read_is_retried_on_a_quiet_database(void **state)
{
    struct testdb *t = *state;
    struct feed *f = start(t);
    int64_t seqs[4];

    sql(t, "INSERT INTO dcs(id) VALUES ('d1')");
    assert_int_equal(take_within(f, 5000, seqs, 4), 0); /* a DC is no waypoint change */
    atomic_store(&fail_reads, 1);
    sql(t, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING')");
    assert_int_equal(take_within(f, 5000, seqs, 4), 1);
    assert_int_equal(atomic_load(&reads_failed), 1);
    assert_int_equal(seqs[0], 1);
    assert_true(atomic_load(&wakes) > 0);
    feed_stop(f);
}

/* Several failures in a row: still nothing lost, nothing twice. */
static void test_repeated_failures_lose_nothing(void **state)
{
    struct testdb *t = *state;
    struct feed *f = start(t);
    int64_t seqs[8];
    size_t n = 0;

    sql(t, "INSERT INTO dcs(id) VALUES ('d1')");
    atomic_store(&reads_failed, 0);
    atomic_store(&fail_reads, 3);
    sql(t, "BEGIN; INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING'); INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w2', 'c1', "
           "'r', 'PENDING'); COMMIT");
    n = take_within(f, 8000, seqs, 8);
    assert_int_equal(n, 2);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(atomic_load(&reads_failed), 3);
    assert_int_equal(take_within(f, 1500, seqs, 8), 0);
    feed_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_11_failed_read_is_retried_on_a_quiet_database, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_failures_lose_nothing, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
