/* SPDX-License-Identifier: MIT
 *
 * store_webhooks.c against real SQLite (a migrated temporary file, plus a raw
 * connection to look at the rows): endpoints added, read, listed, enabled,
 * disabled, rotated and removed, and the migration from schema 4.
 */
#include "store_webhooks.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "testdb.h"

#define T0 1764511392345LL
#define HOUR_MS 3600000LL

/* An endpoint as `webhook add` makes one, with its defaults. */
static void endpoint(struct store_webhook *w, const char *id, const char *name, const char *const *dcs, size_t ndcs)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->name = (char *)name;
    w->url = (char *)"https://example.com/hooks";
    w->dcs = (char **)dcs;
    w->ndcs = ndcs;
    w->events = (char *)"waypoint.status_changed,waypoint.removed";
    assert_int_equal(whsig_secret_generate(&w->secret), 0);
    w->enabled = 1;
    w->state_since_ms = T0;
    w->eta_minutes = STORE_WEBHOOK_ETA_MINUTES;
    w->approach_stops = (char *)STORE_WEBHOOK_APPROACH_STOPS;
    w->approach_minutes = (char *)"";
    w->created_ms = T0;
}

static void test_insert_get_round_trip(void **state)
{
    struct testdb *t = *state;
    static const char *const dcs[] = {"dc2", "dc1"};
    struct store_webhook in, out;

    endpoint(&in, "wh_000000000001", "orders", dcs, 2);
    in.approach_minutes = (char *)"10,5";
    assert_int_equal(store_webhook_insert(t->store, &in), 0);
    assert_int_equal(store_webhook_get(t->store, "wh_000000000001", &out), 0);
    assert_string_equal(out.id, "wh_000000000001");
    assert_string_equal(out.name, "orders");
    assert_string_equal(out.url, "https://example.com/hooks");
    assert_int_equal(out.ndcs, 2);
    assert_string_equal(out.dcs[0], "dc1"); /* sorted */
    assert_string_equal(out.dcs[1], "dc2");
    assert_string_equal(out.events, "waypoint.status_changed,waypoint.removed");
    assert_int_equal(out.secret.len, in.secret.len);
    assert_memory_equal(out.secret.bytes, in.secret.bytes, in.secret.len);
    assert_int_equal(out.prev_secret.len, 0);
    assert_int_equal(out.enabled, 1);
    assert_null(out.disabled_reason);
    assert_int_equal(out.state_since_ms, T0);
    assert_int_equal(out.eta_minutes, 5);
    assert_string_equal(out.approach_stops, "3,1");
    assert_string_equal(out.approach_minutes, "10,5");
    assert_int_equal(out.created_ms, T0);
    store_webhook_clear(&out);
    assert_null(out.url);
    assert_int_equal(out.secret.len, 0);
    store_webhook_clear(&out); /* twice: nothing left to free */
    assert_int_equal(store_webhook_get(t->store, "wh_nope", &out), -ENOENT);
}

static void test_defaults_in_the_table(void **state)
{
    struct testdb *t = *state;

    /* Another program (or a later version) adding a row without thresholds
     * gets the defaults. */
    testdb_sql(t->db, "INSERT INTO webhook_endpoints(id, url, events, secret, state_since_ms, created_ms)"
               " VALUES ('wh_raw', 'https://x.example/', 'webhook.test', zeroblob(32), 1, 1)");
    assert_int_equal(testdb_sql_int(t->db, "SELECT eta_minutes FROM webhook_endpoints WHERE id = 'wh_raw'"), 5);
    assert_int_equal(testdb_sql_int(t->db, "SELECT approach_stops = '3,1' AND approach_minutes = '' AND enabled = 1"
                                    " FROM webhook_endpoints WHERE id = 'wh_raw'"),
                     1);
}

static void test_name_and_id_unique(void **state)
{
    struct testdb *t = *state;
    static const char *const dcs[] = {"dc1"};
    struct store_webhook a, b, c, d;

    endpoint(&a, "wh_00000000000a", "crm", dcs, 1);
    endpoint(&b, "wh_00000000000b", "crm", dcs, 1);
    endpoint(&c, "wh_00000000000a", "other", dcs, 1);
    assert_int_equal(store_webhook_insert(t->store, &a), 0);
    assert_int_equal(store_webhook_insert(t->store, &b), -EEXIST);
    assert_int_equal(store_webhook_insert(t->store, &c), -EEXIST);
    /* Unnamed endpoints do not collide. */
    endpoint(&c, "wh_00000000000c", NULL, dcs, 1);
    endpoint(&d, "wh_00000000000d", NULL, dcs, 1);
    assert_int_equal(store_webhook_insert(t->store, &c), 0);
    assert_int_equal(store_webhook_insert(t->store, &d), 0);
    /* The refused ones left nothing behind (one transaction each). */
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_endpoints"), 3);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_endpoint_dcs"), 3);
    /* Nothing to deliver to: refused. */
    endpoint(&d, "wh_00000000000e", NULL, dcs, 0);
    assert_int_equal(store_webhook_insert(t->store, &d), -EINVAL);
}

struct listed {
    char ids[4][STORE_WEBHOOK_ID_SIZE];
    size_t ndcs[4];
    int n;
};

static int list_cb(const struct store_webhook *w, void *arg)
{
    struct listed *l = arg;

    if (l->n == 4)
        return -E2BIG;
    snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", w->id);
    l->ndcs[l->n++] = w->ndcs;
    return 0;
}

static void test_list_oldest_first_and_remove(void **state)
{
    struct testdb *t = *state;
    static const char *const dcs1[] = {"dc1"}, *const dcs3[] = {"a", "b", "c"};
    struct store_webhook w;
    struct listed l = {0};

    endpoint(&w, "wh_zzzzzzzzzzz1", NULL, dcs3, 3);
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
    endpoint(&w, "wh_aaaaaaaaaaa2", NULL, dcs1, 1);
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
    assert_int_equal(store_webhook_list(t->store, list_cb, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "wh_zzzzzzzzzzz1");
    assert_int_equal(l.ndcs[0], 3);
    assert_string_equal(l.ids[1], "wh_aaaaaaaaaaa2");
    assert_int_equal(l.ndcs[1], 1);

    assert_int_equal(store_webhook_remove(t->store, "wh_zzzzzzzzzzz1"), 0);
    assert_int_equal(store_webhook_remove(t->store, "wh_zzzzzzzzzzz1"), -ENOENT);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM webhook_endpoint_dcs"), 1);
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_webhook_list(t->store, list_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "wh_aaaaaaaaaaa2");
}

static void test_disable_enable(void **state)
{
    struct testdb *t = *state;
    static const char *const dcs[] = {"dc1"};
    struct store_webhook w, out;

    endpoint(&w, "wh_000000000001", NULL, dcs, 1);
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
    assert_int_equal(store_webhook_set_enabled(t->store, "wh_000000000001", 1, NULL, T0 + 1), -EALREADY);
    assert_int_equal(store_webhook_set_enabled(t->store, "wh_000000000001", 0, "disabled by command", T0 + 2), 0);
    assert_int_equal(store_webhook_set_enabled(t->store, "wh_000000000001", 0, "again", T0 + 3), -EALREADY);
    assert_int_equal(store_webhook_get(t->store, "wh_000000000001", &out), 0);
    assert_int_equal(out.enabled, 0);
    assert_string_equal(out.disabled_reason, "disabled by command");
    assert_int_equal(out.state_since_ms, T0 + 2);
    store_webhook_clear(&out);
    assert_int_equal(store_webhook_set_enabled(t->store, "wh_000000000001", 1, "ignored", T0 + 4), 0);
    assert_int_equal(store_webhook_get(t->store, "wh_000000000001", &out), 0);
    assert_int_equal(out.enabled, 1);
    assert_null(out.disabled_reason);
    assert_int_equal(out.state_since_ms, T0 + 4);
    store_webhook_clear(&out);
    assert_int_equal(store_webhook_set_enabled(t->store, "wh_nope", 0, "x", T0), -ENOENT);
}

static void test_rotate_keeps_previous_for_grace(void **state)
{
    struct testdb *t = *state;
    static const char *const dcs[] = {"dc1"};
    struct store_webhook w, out;
    struct whsig_key k2, k3, keys[2];
    size_t n;

    endpoint(&w, "wh_000000000001", NULL, dcs, 1);
    assert_int_equal(store_webhook_insert(t->store, &w), 0);
    assert_int_equal(whsig_secret_generate(&k2), 0);
    assert_int_equal(store_webhook_rotate(t->store, "wh_000000000001", &k2, T0, 24 * HOUR_MS), 0);
    assert_int_equal(store_webhook_get(t->store, "wh_000000000001", &out), 0);
    assert_memory_equal(out.secret.bytes, k2.bytes, k2.len);
    assert_int_equal(out.prev_secret.len, w.secret.len);
    assert_memory_equal(out.prev_secret.bytes, w.secret.bytes, w.secret.len);
    assert_int_equal(out.prev_expires_ms, T0 + 24 * HOUR_MS);
    /* Both sign until the grace ends, then only the new one. */
    store_webhook_signing_keys(&out, T0 + 24 * HOUR_MS - 1, keys, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(keys[0].bytes, k2.bytes, k2.len);
    assert_memory_equal(keys[1].bytes, w.secret.bytes, w.secret.len);
    store_webhook_signing_keys(&out, T0 + 24 * HOUR_MS, keys, &n);
    assert_int_equal(n, 1);
    assert_memory_equal(keys[0].bytes, k2.bytes, k2.len);
    store_webhook_clear(&out);

    /* A second rotation during the grace: two secrets at most, the oldest goes. */
    assert_int_equal(whsig_secret_generate(&k3), 0);
    assert_int_equal(store_webhook_rotate(t->store, "wh_000000000001", &k3, T0 + HOUR_MS, 0), 0);
    assert_int_equal(store_webhook_get(t->store, "wh_000000000001", &out), 0);
    assert_memory_equal(out.secret.bytes, k3.bytes, k3.len);
    assert_int_equal(out.prev_secret.len, 0); /* grace 0: dropped at once */
    store_webhook_signing_keys(&out, T0 + HOUR_MS, keys, &n);
    assert_int_equal(n, 1);
    store_webhook_clear(&out);
    assert_int_equal(testdb_sql_int(t->db, "SELECT prev_secret IS NULL AND prev_expires_ms IS NULL FROM webhook_endpoints"), 1);

    assert_int_equal(store_webhook_rotate(t->store, "wh_nope", &k3, T0, 0), -ENOENT);
    k3.len = 3;
    assert_int_equal(store_webhook_rotate(t->store, "wh_000000000001", &k3, T0, 0), -EINVAL);
}

static void test_migrates_from_version_4(void **state)
{
    struct testdb *t = *state;
    int version = 0;

    (void)state;
    assert_true(STORE_SCHEMA_VERSION >= 5);
    /* A database at version 4, made before webhooks existed. */
    testdb_sql(t->db, "DROP TABLE webhook_endpoints; DROP TABLE webhook_endpoint_dcs; PRAGMA user_version = 4;");
    assert_int_equal(store_migrate(t->store), 0);
    assert_int_equal(store_schema_version(t->store, &version), 0);
    assert_int_equal(version, STORE_SCHEMA_VERSION);
    assert_int_equal(testdb_sql_int(t->db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('webhook_endpoints',"
                                    " 'webhook_endpoint_dcs', 'webhook_endpoints_name', 'webhook_endpoint_dcs_by_dc')"),
                     4);
    /* And again: idempotent. */
    assert_int_equal(store_migrate(t->store), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_get_round_trip, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_defaults_in_the_table, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_name_and_id_unique, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_list_oldest_first_and_remove, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_disable_enable, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_keeps_previous_for_grace, testdb_setup, testdb_teardown),
        cmocka_unit_test_setup_teardown(test_migrates_from_version_4, testdb_setup, testdb_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
