/* SPDX-License-Identifier: MIT
 *
 * WebSocket liveness in the sweep (sweep.c), on a clock the test sets:
 * which sessions are pinged, when, and which are dropped. Sessions of a
 * fake transport that counts pings and kills; a real (empty) database for
 * the sweep's credential checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "live.h"
#include "session.h"
#include "source.h"
#include "../../src/sweep.h" /* private to the core: its interval and sweep_run */
#include "testdb.h"
#include "vhost.h"

#define PING_S 30
#define HANGUP_S 75
#define PING_MS (PING_S * 1000)

struct fake {
    struct session s; /* first */
    int wakes, kills, pings;
    int direct; /* ping: 1 written at once, 0 at a writeable turn */
};

static void fake_wake(struct session *s)
{
    ((struct fake *)s)->wakes++;
}

static void fake_kill(struct session *s)
{
    ((struct fake *)s)->kills++;
}

static int fake_ping(struct session *s)
{
    struct fake *f = (struct fake *)s;

    if (f->direct)
        f->pings++;
    return f->direct;
}

static const struct session_ops fake_ops = {fake_wake, fake_kill, NULL, fake_ping, 0};

static const struct source_ops test_source_ops = {.name = "test"};

struct env {
    struct testdb db;
    struct source source;
    struct vhost_shared shared;
    struct vhost_state conf;
    struct live live;
    struct fake f[64];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    testdb_open(&e->db, "sweep");
    e->shared.ws_ping_secs = PING_S;
    e->shared.ws_hangup_secs = HANGUP_S;
    e->shared.ws_send_timeout_secs = 30;
    e->source.ops = &test_source_ops;
    e->shared.source = &e->source;
    e->conf.shared = &e->shared;
    e->conf.store = e->db.store;
    assert_int_equal(live_init(&e->live, &e->conf), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    for (size_t i = 0; i < sizeof(e->f) / sizeof(e->f[0]); i++)
        if (e->f[i].s.prevp)
            live_unlink(&e->live, &e->f[i].s);
    live_free(&e->live);
    testdb_close(&e->db);
    free(e);
    return 0;
}

/* A session opened at time t (its last traffic), direct pings or not. */
static struct fake *open_at(struct env *e, size_t i, int64_t t, int direct)
{
    struct fake *f = &e->f[i];

    memset(f, 0, sizeof(*f));
    session_init(&f->s, &e->live, &fake_ops, NULL, NULL, 16, t);
    f->s.cred.kind = AUTH_NONE; /* no credential for the sweep to check again */
    f->direct = direct;
    live_link(&e->live, &f->s);
    return f;
}

static int pinged(const struct fake *f)
{
    return f->pings + f->s.ping_due;
}

/* Sweeps every SWEEP_MS from `from` (exclusive) through `to`. */
static void sweep_until(struct env *e, int64_t from, int64_t to)
{
    for (int64_t t = from + SWEEP_MS; t <= to; t += SWEEP_MS)
        sweep_run(&e->live, t, 0);
}

static void test_quiet_session_is_pinged_within_the_bound(void **state)
{
    struct env *e = *state;
    struct fake *f = open_at(e, 0, 0, 1);

    sweep_until(e, 0, PING_MS - SWEEP_MS);
    assert_int_equal(pinged(f), 0); /* never before ping_secs */
    sweep_until(e, PING_MS - SWEEP_MS, PING_MS + PING_MS / 4 + SWEEP_MS);
    assert_int_equal(f->pings, 1); /* written at once: no writeable turn asked */
    assert_int_equal(f->wakes, 0);
    assert_int_equal(f->s.ping_due, 0);
    assert_int_equal(f->kills, 0);
}

static void test_traffic_either_way_means_no_ping(void **state)
{
    struct env *e = *state;
    struct fake *rx = open_at(e, 0, 0, 1), *tx = open_at(e, 1, 0, 1), *fan = open_at(e, 2, 0, 1);

    /* Ten minutes: one hears from its peer, one writes in writeable turns,
     * one gets changes straight from the fan-out (the mark), every 20 s. */
    for (int64_t t = SWEEP_MS; t <= 600000; t += SWEEP_MS) {
        if (t % 20000 == 0) {
            rx->s.last_rx_ms = t;
            tx->s.last_tx_ms = t;
            fan->s.tx_mark = 1;
        }
        sweep_run(&e->live, t, 0);
    }
    assert_int_equal(pinged(rx), 0);
    assert_int_equal(pinged(tx), 0);
    assert_int_equal(pinged(fan), 0);
    assert_int_equal(rx->kills + tx->kills + fan->kills, 0);
}

static void test_receiving_only_is_never_dropped(void **state)
{
    struct env *e = *state;
    struct fake *f = open_at(e, 0, 0, 1);

    /* The peer never sends a byte; changes go out every 10 s for an hour. */
    for (int64_t t = SWEEP_MS; t <= 3600000; t += SWEEP_MS) {
        if (t % 10000 == 0)
            f->s.last_tx_ms = t;
        sweep_run(&e->live, t, 0);
    }
    assert_int_equal(pinged(f), 0);
    assert_int_equal(f->kills, 0);
}

static void test_unanswered_ping_drops_after_hangup_minus_ping(void **state)
{
    struct env *e = *state;
    struct fake *f = open_at(e, 0, 0, 1);
    int64_t t, sent = 0;

    for (t = SWEEP_MS; !f->pings && t <= 2 * PING_MS; t += SWEEP_MS)
        sweep_run(&e->live, t, 0);
    assert_int_equal(f->pings, 1);
    sent = t - SWEEP_MS;
    assert_int_equal(f->s.ping_sent_ms, sent);
    /* No second ping while the first is unanswered; no drop before hangup - ping. */
    sweep_until(e, sent, sent + (HANGUP_S - PING_S) * 1000 - SWEEP_MS);
    assert_int_equal(f->pings, 1);
    assert_int_equal(f->kills, 0);
    sweep_until(e, sent + (HANGUP_S - PING_S) * 1000 - SWEEP_MS, sent + (HANGUP_S - PING_S) * 1000);
    assert_int_equal(f->kills, 1);
    /* Dropped hangup_secs after it last spoke, at most a quarter of the ping and a sweep later. */
    assert_true(sent + (HANGUP_S - PING_S) * 1000 >= HANGUP_S * 1000);
    assert_true(sent + (HANGUP_S - PING_S) * 1000 <= HANGUP_S * 1000 + PING_MS / 4 + SWEEP_MS);
}

static void test_answered_ping_keeps_the_session_and_repeats(void **state)
{
    struct env *e = *state;
    struct fake *f = open_at(e, 0, 0, 1);

    /* The peer answers every ping at once; ten minutes. */
    for (int64_t t = SWEEP_MS; t <= 600000; t += SWEEP_MS) {
        int before = f->pings;

        sweep_run(&e->live, t, 0);
        if (f->pings != before)
            f->s.last_rx_ms = t + 20; /* the pong */
    }
    assert_int_equal(f->kills, 0);
    /* Once per interval at most, and no longer apart than the bound. */
    assert_in_range(f->pings, 600000 / (PING_MS + PING_MS / 4 + SWEEP_MS), 600000 / PING_MS);
}

static void test_a_ping_waits_for_a_turn_when_the_socket_is_busy(void **state)
{
    struct env *e = *state;
    struct fake *f = open_at(e, 0, 0, 0);

    sweep_until(e, 0, PING_MS + PING_MS / 4 + SWEEP_MS);
    assert_int_equal(f->s.ping_due, 1);
    assert_int_equal(f->wakes, 1);
    sweep_until(e, PING_MS + PING_MS / 4 + SWEEP_MS, 2 * PING_MS);
    assert_int_equal(f->wakes, 1); /* asked once */
}

static void test_sessions_quiet_together_are_pinged_over_several_sweeps(void **state)
{
    struct env *e = *state;
    int first[64] = {0}, sweeps = 0;

    for (size_t i = 0; i < 64; i++)
        open_at(e, i, 0, 1);
    for (int64_t t = SWEEP_MS; t <= PING_MS + PING_MS / 4 + SWEEP_MS; t += SWEEP_MS) {
        int n = 0;

        sweep_run(&e->live, t, 0);
        for (size_t i = 0; i < 64; i++)
            if (e->f[i].pings && !first[i])
                first[i] = 1, n++;
        sweeps += n > 0;
        assert_true(n <= 64 / 2); /* never most of them in one sweep */
    }
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(first[i], 1);
    assert_true(sweeps >= 3); /* 7.5 s of phase: four sweeps */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_session_is_pinged_within_the_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traffic_either_way_means_no_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiving_only_is_never_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_ping_drops_after_hangup_minus_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answered_ping_keeps_the_session_and_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_ping_waits_for_a_turn_when_the_socket_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_quiet_together_are_pinged_over_several_sweeps, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
