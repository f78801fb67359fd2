/* SPDX-License-Identifier: MIT
 *
 * DC resume on a large change log (issue 11, review M5): builds a database
 * with ROWS change-log rows spread over DCS DCs in a scratch file, then times
 * store_subscribe_read() for a DC subscription resuming ~11 rows behind the
 * head: the code path a service thread runs for {"type":"subscribe",
 * "dc_id":D,"since":S}. It times the same resume twice on the same file:
 * without the index change_log_by_dc (schema 2, "before") and with it
 * (schema 3, "after"), and prints one line per case with the median, p90 and
 * max of REPEAT resumes. Bounded: ROWS <= 10M, REPEAT <= 10000. Target: under
 * 5 ms at 1M rows. Built and run by bench/resume_bench.sh.
 *
 *   resume_bench DIR [ROWS [DCS [REPEAT]]]
 */
#define _POSIX_C_SOURCE 200809L

#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define WAYPOINTS_PER_DC 1000
#define RESUME_ROWS 11

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "resume_bench: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The database: init's schema, DCS DCs with WAYPOINTS_PER_DC waypoints each
 * (the rows a replay joins), and ROWS log rows in insertion order, the DC of
 * each drawn from a fixed pseudo-random sequence (so DCs interleave as they
 * do when many dispatch centres write at once). Written straight into
 * change_log: the triggers would write the same rows, only slower. */
static int build(const char *path, long rows, int dcs)
{
    char err[512], sql[1024];
    struct store *s = NULL;
    sqlite3 *db = NULL;
    int rc = -1;

    if (store_open(path, STORE_OPEN_CREATE, &s, err, sizeof(err)) || store_migrate(s)) {
        fprintf(stderr, "resume_bench: %s\n", err);
        store_close(s);
        return -1;
    }
    store_close(s);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto out;
    snprintf(sql, sizeof(sql),
             "BEGIN;"
             "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < %d - 1)"
             " INSERT INTO dcs(id) SELECT printf('dc%%03d', i) FROM d;"
             "WITH RECURSIVE w(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM w WHERE i < %d - 1)"
             " INSERT INTO waypoints(dc_id, id, customer_id, route_id)"
             " SELECT dcs.id, printf('w%%04d', w.i), printf('c%%03d', w.i / 10), 'r1' FROM dcs, w;"
             "DELETE FROM change_log;"
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %ld)"
             " INSERT INTO change_log(dc_id, customer_id, waypoint_id, kind, changed_ms)"
             " SELECT printf('dc%%03d', ((i * 2654435761) %% 4294967296) %% %d),"
             " printf('c%%03d', (i %% %d) / 10), printf('w%%04d', i %% %d), 'update',"
             " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM k;"
             "COMMIT;",
             dcs, WAYPOINTS_PER_DC, rows, dcs, WAYPOINTS_PER_DC, WAYPOINTS_PER_DC);
    if (exec(db, sql))
        goto out;
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* REPEAT DC resumes of dc000 from `since`, through a fresh connection as a
 * service thread opens it; prints one line. */
static int measure(const char *path, const char *label, int64_t since, int repeat)
{
    struct store_sub_state st;
    struct store *s = NULL;
    double *t = calloc((size_t)repeat, sizeof(*t));
    size_t changes = 0;
    char err[512];
    int resumed = 1;

    if (!t || store_open(path, STORE_OPEN_SERVICE, &s, err, sizeof(err))) {
        fprintf(stderr, "resume_bench: %s\n", t ? err : "out of memory");
        free(t);
        return -1;
    }
    for (int i = 0; i < repeat; i++) {
        double t0 = now_ms();
        int rc = store_subscribe_read(s, "dc000", NULL, since, &st);

        t[i] = now_ms() - t0;
        if (rc) {
            fprintf(stderr, "resume_bench: store_subscribe_read: %s\n", strerror(-rc));
            store_close(s);
            free(t);
            return -1;
        }
        resumed &= st.resumed;
        changes = st.nchanges;
        store_sub_state_clear(&st);
    }
    store_close(s);
    qsort(t, (size_t)repeat, sizeof(*t), cmp_double);
    printf("%-40s %8.3f ms median %8.3f ms p90 %8.3f ms max  (%d resumes, %zu changes each, resumed=%s)\n", label,
           t[repeat / 2], t[repeat * 9 / 10], t[repeat - 1], repeat, changes, resumed ? "yes" : "NO");
    free(t);
    return resumed && changes >= RESUME_ROWS / 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
    long rows = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    int dcs = argc > 3 ? atoi(argv[3]) : 1, repeat = argc > 4 ? atoi(argv[4]) : 200;
    char path[4096], sql[256], label[64];
    int64_t since;
    sqlite3 *db = NULL;
    double t0;
    int rc = 1;

    if (argc < 2 || rows < 1000 || rows > 10000000 || dcs < 1 || dcs > 1000 || repeat < 1 || repeat > 10000) {
        fprintf(stderr, "usage: resume_bench DIR [ROWS (1000..10M, default 1M) [DCS (1..1000, default 1) "
                        "[REPEAT (1..10000, default 200)]]]\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/resume_bench.db", argv[1]);
    remove(path);
    t0 = now_ms();
    if (build(path, rows, dcs))
        return 1;
    printf("built %ld change-log rows over %d DCs in %.1f s (%s)\n", rows, dcs, (now_ms() - t0) / 1e3, path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto out;
    /* since: RESUME_ROWS rows of dc000 before the head. */
    snprintf(sql, sizeof(sql),
             "SELECT seq FROM change_log WHERE dc_id = 'dc000' ORDER BY seq DESC LIMIT 1 OFFSET %d", RESUME_ROWS);
    since = one_int(db, sql);
    if (since < 0)
        goto out;
    snprintf(label, sizeof(label), "DC resume, %ldk rows, no index", rows / 1000);
    if (exec(db, "DROP INDEX change_log_by_dc") || measure(path, label, since, repeat))
        goto out;
    snprintf(label, sizeof(label), "DC resume, %ldk rows, change_log_by_dc", rows / 1000);
    if (exec(db, "CREATE INDEX change_log_by_dc ON change_log(dc_id, seq)") || measure(path, label, since, repeat))
        goto out;
    rc = 0;
out:
    sqlite3_close(db);
    remove(path);
    snprintf(path, sizeof(path), "%s/resume_bench.db-wal", argv[1]);
    remove(path);
    snprintf(path, sizeof(path), "%s/resume_bench.db-shm", argv[1]);
    remove(path);
    return rc;
}
