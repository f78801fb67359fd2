/* SPDX-License-Identifier: MIT */
/* Unit tests for source_sqlite.c, the SQLite change source, through the
 * source interface (source.h), on a real database file written by a second
 * connection as other programs write it. The change log read is wrapped
 * (-Wl,--wrap=store_changes_read) to fail on demand; the bus is the test's,
 * and its wake-up only counts. */
#include "source_sqlite.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "bus.h"
#include "clock.h"
#include "freshness.h"
#include "msg.h"
#include "source.h"
#include "store.h"
#include "testdb.h"

int __real_store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                              int64_t *next);
int __wrap_store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **out, size_t *n,
                              int64_t *next);

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

static void count_wake(void *arg)
{
    (void)arg;
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
static size_t take_within(struct bus *bus, int deadline_ms, int64_t *seqs, size_t cap)
{
    for (int waited = 0; waited < deadline_ms; waited += 20) {
        struct bus_batch b;
        size_t n;

        bus_take(bus, 0, &b);
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

/* A source on t's file started into a new one-thread bus (*bus). */
static struct source *start(struct testdb *t, struct bus **bus)
{
    void *arg[1] = {NULL};
    struct source_sqlite_config cfg = {t->path, SOURCE_SQLITE_KEEP_ROWS_DEFAULT, SOURCE_SQLITE_KEEP_SECONDS_DEFAULT};
    struct source *s = NULL;

    *bus = bus_new(1, 0, count_wake, arg);
    assert_non_null(*bus);
    assert_int_equal(source_sqlite_new(&cfg, &s), 0);
    assert_int_equal(s->ops->start(s, *bus), 0);
    return s;
}

static void stop(struct source *s, struct bus *bus)
{
    s->ops->stop(s);
    bus_free(bus);
}

/* Issue 11 (review M2): the read after a commit fails; the database then
 * stays quiet. The change must still arrive, within seconds, not wait for
 * an unrelated commit. */
static void test_issue_11_failed_read_is_retried_on_a_quiet_database(void **state)
{
    struct testdb *t = *state;
    struct bus *bus;
    struct source *s = start(t, &bus);
    int64_t seqs[4];

    sql(t, "INSERT INTO dcs(id) VALUES ('d1')");
    assert_int_equal(take_within(bus, 5000, seqs, 4), 0); /* a DC is no waypoint change */
    atomic_store(&fail_reads, 1);
    sql(t, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING')");
    assert_int_equal(take_within(bus, 5000, seqs, 4), 1);
    assert_int_equal(atomic_load(&reads_failed), 1);
    assert_int_equal(seqs[0], 1);
    assert_true(atomic_load(&wakes) > 0);
    stop(s, bus);
}

/* Several failures in a row: still nothing lost, nothing twice. */
static void test_repeated_failures_lose_nothing(void **state)
{
    struct testdb *t = *state;
    struct bus *bus;
    struct source *s = start(t, &bus);
    int64_t seqs[8];
    size_t n = 0;

    sql(t, "INSERT INTO dcs(id) VALUES ('d1')");
    atomic_store(&reads_failed, 0);
    atomic_store(&fail_reads, 3);
    sql(t, "BEGIN; INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING'); INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w2', 'c1', "
           "'r', 'PENDING'); COMMIT");
    n = take_within(bus, 8000, seqs, 8);
    assert_int_equal(n, 2);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(atomic_load(&reads_failed), 3);
    assert_int_equal(take_within(bus, 1500, seqs, 8), 0);
    stop(s, bus);
}

/* The interface's promise (source.h): before start returns, the bus knows
 * the seq the source starts after, so a subscription made at once (its
 * start point read at the same head) misses nothing and gets nothing
 * twice. Here the head is 2 and nothing new was written: the bus says 2
 * with nothing queued, with no wait. */
static void test_start_sets_the_bus_through_before_returning(void **state)
{
    struct testdb *t = *state;
    struct source *s;
    struct source_thread *th;
    struct store_sub_state st;
    struct bus_batch b;
    struct bus *bus;

    sql(t, "INSERT INTO dcs(id) VALUES ('d1'); INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) "
           "VALUES ('d1', 'w1', 'c1', 'r', 'PENDING'), ('d1', 'w2', 'c1', 'r', 'PENDING')");
    s = start(t, &bus);
    bus_take(bus, 0, &b);
    assert_int_equal(b.n, 0);
    assert_false(b.lost);
    assert_int_equal(b.through, 2);
    free(b.msgs);
    /* The start point, read on a service thread's own connection, stands
     * at that same head: a snapshot at 2, or the replay after since. */
    th = s->ops->thread_open(s, 0, t->store);
    assert_non_null(th);
    assert_int_equal(s->ops->start_point(th, "d1", "c1", -1, &st), 0);
    assert_false(st.resumed);
    assert_int_equal(st.seq, 2);
    assert_int_equal(st.nw, 2);
    store_sub_state_clear(&st);
    assert_int_equal(s->ops->start_point(th, "d1", "c1", 1, &st), 0);
    assert_true(st.resumed);
    assert_int_equal(st.seq, 2);
    assert_int_equal(st.nchanges, 1);
    assert_int_equal(st.changes[0].seq, 2);
    store_sub_state_clear(&st);
    s->ops->thread_close(th);
    stop(s, bus);
}

/* What /healthz reports (its messages as operations.md lists them): a
 * watcher not started, or whose last look is older than
 * SOURCE_SQLITE_STALE_MS, is not running; a database path that no longer
 * names the file opened at start (renamed away) is replaced or removed,
 * and healthy again once the file is back. */
static void test_health_reports_why(void **state)
{
    struct testdb *t = *state;
    struct source_sqlite_config cfg = {t->path, SOURCE_SQLITE_KEEP_ROWS_DEFAULT, SOURCE_SQLITE_KEEP_SECONDS_DEFAULT};
    char aside[96];
    const char *why = "unset";
    struct source *s = NULL;
    struct bus *bus;
    int rc = 0;

    assert_int_equal(source_sqlite_new(&cfg, &s), 0);
    assert_true(s->ops->health(s, clock_mono_ms(), &why) < 0);
    assert_string_equal(why, "change watcher not running");
    s->ops->stop(s); /* never started: only freed */

    s = start(t, &bus);
    assert_int_equal(s->ops->health(s, clock_mono_ms(), &why), 0);
    assert_null(why);
    assert_true(s->ops->health(s, clock_mono_ms() + SOURCE_SQLITE_STALE_MS + 2000, &why) < 0);
    assert_string_equal(why, "change watcher not running");

    snprintf(aside, sizeof(aside), "%s.aside", t->path);
    assert_int_equal(rename(t->path, aside), 0);
    for (int waited = 0; waited < 5000 && !(rc = s->ops->health(s, clock_mono_ms(), &why)); waited += 50)
        sleep_ms(50);
    assert_true(rc < 0);
    assert_string_equal(why, "database file replaced or removed");
    assert_int_equal(rename(aside, t->path), 0);
    for (int waited = 0; waited < 5000 && (rc = s->ops->health(s, clock_mono_ms(), &why)); waited += 50)
        sleep_ms(50);
    assert_int_equal(rc, 0);
    stop(s, bus);
}

/* Wait up to deadline_ms for the commit generation to differ from g. */
static int gen_moves_from(struct source *s, int64_t g, int deadline_ms)
{
    int64_t now = g;

    for (int waited = 0; waited < deadline_ms; waited += 10) {
        if (s->ops->commit_gen(s, clock_mono_ms(), &now) == 0 && now != g)
            return 1;
        sleep_ms(10);
    }
    return 0;
}

/* The commit generation (source.h) moves after a commit by another
 * connection, and only then; freshness_version hands it out in its own
 * number space (<= -2), apart from data_version (>= 0). */
static void test_commit_gen_moves_after_a_commit(void **state)
{
    struct testdb *t = *state;
    struct bus *bus;
    struct source *s = start(t, &bus);
    int64_t g0, g1, v;

    assert_int_equal(s->ops->commit_gen(s, clock_mono_ms(), &g0), 0);
    assert_false(gen_moves_from(s, g0, 1500)); /* nothing committed: it stays */
    sql(t, "INSERT INTO dcs(id) VALUES ('d1')"); /* no change-log row: still a commit */
    assert_true(gen_moves_from(s, g0, 5000));
    assert_int_equal(s->ops->commit_gen(s, clock_mono_ms(), &g1), 0);
    assert_int_equal(freshness_version(s, t->store, clock_mono_ms(), &v), 0);
    assert_true(v <= -2);
    assert_int_equal(v, -2 - g1);
    assert_int_equal(freshness_version(NULL, t->store, clock_mono_ms(), &v), 0);
    assert_true(v >= 0);
    stop(s, bus);
}

/* The generation moves before the change is published: a change-log read
 * that fails (and is retried) does not hold back the caches. */
static void test_commit_gen_moves_before_publishing(void **state)
{
    struct testdb *t = *state;
    struct bus *bus;
    struct source *s = start(t, &bus);
    int64_t g0, seqs[2];

    sql(t, "INSERT INTO dcs(id) VALUES ('d1')");
    assert_int_equal(take_within(bus, 2000, seqs, 2), 0);
    assert_int_equal(s->ops->commit_gen(s, clock_mono_ms(), &g0), 0);
    atomic_store(&reads_failed, 0);
    atomic_store(&fail_reads, 1000000); /* every read fails until reset */
    sql(t, "INSERT INTO waypoints(dc_id, id, customer_id, route_id, status) VALUES ('d1', 'w1', 'c1', 'r', "
           "'PENDING')");
    assert_true(gen_moves_from(s, g0, 5000));
    assert_true(atomic_load(&reads_failed) > 0);
    atomic_store(&fail_reads, 0);
    assert_int_equal(take_within(bus, 5000, seqs, 2), 1);
    stop(s, bus);
}

/* A watcher that has not looked for SOURCE_GEN_STALE_MS is not trusted:
 * the caller reads data_version itself. */
static void test_commit_gen_refused_when_stale(void **state)
{
    struct testdb *t = *state;
    struct bus *bus;
    struct source *s = start(t, &bus);
    int64_t later = clock_mono_ms() + SOURCE_GEN_STALE_MS + 2000, g, v;

    assert_int_equal(s->ops->commit_gen(s, later, &g), -EAGAIN);
    assert_int_equal(freshness_version(s, t->store, later, &v), 0);
    assert_true(v >= 0);
    stop(s, bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_11_failed_read_is_retried_on_a_quiet_database, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_failures_lose_nothing, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_start_sets_the_bus_through_before_returning, testdb_setup,
                                        testdb_teardown),
        cmocka_unit_test_setup_teardown(test_health_reports_why, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_commit_gen_moves_after_a_commit, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_commit_gen_moves_before_publishing, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_commit_gen_refused_when_stale, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
