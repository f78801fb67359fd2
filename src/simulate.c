/* SPDX-License-Identifier: MIT
 *
 * The simulator plays an outside writer: drivers reach stops, complete or
 * fail them, ETAs drift, waypoints_ahead counts down, new routes start, one
 * transaction a tick (sim_run); and before it plays, it says what it will
 * play (sim_describe). Plain SQL on its own connection (simulate_db.c); the
 * demo's data set is simulate_seed.c. Runs on its own thread (demo) or as
 * the whole process (simulate).
 */
#include "simulate.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <sqlite3.h>

#include "simulate_int.h"

#define SIM_TICK_MS 250
/* Share of stops reached on time (per first tick after the ETA: about 0.9
 * in all); the others are held up for SIM_HOLDUP_MEAN_MS on average, at speed 1. */
#define SIM_ON_TIME 0.7
#define SIM_HOLDUP_MEAN_MS 60000.0

struct next_stop {
    char dc[256], route[256], id[256];
    int64_t eta;
};

#define SIM_MAX_ROUTES 256

/* The next PENDING stop of every route that has one. */
static int next_stops(struct sim *s, struct next_stop *out, int max, int *n)
{
    static const char sql[] =
        "SELECT w.dc_id, w.route_id, w.id, COALESCE(w.estimated_time_of_arrival, 0) FROM waypoints w"
        " WHERE w.status = 'PENDING' AND w.route_id IS NOT NULL AND w.rowid = (SELECT v.rowid FROM waypoints v"
        "  WHERE v.dc_id = w.dc_id AND v.route_id = w.route_id AND v.status = 'PENDING'"
        "  ORDER BY COALESCE(v.waypoints_ahead, 0), v.estimated_time_of_arrival LIMIT 1)"
        /* In a fixed order: with --seed the same day plays whatever plan
         * SQLite picks (an index added to waypoints changed it once). */
        " ORDER BY w.dc_id, w.route_id";
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;

    *n = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct next_stop *x = &out[(*n)++];

        snprintf(x->dc, sizeof(x->dc), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(x->route, sizeof(x->route), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(x->id, sizeof(x->id), "%s", (const char *)sqlite3_column_text(st, 2));
        x->eta = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* The driver reaches a stop: most are delivered, a few fail or are skipped.
 * A driver who reaches it late (held up) is as late at every stop after
 * it: the rest of the route moves by the delay, so ETAs stay in stop order. */
static int arrive(struct sim *s, const struct next_stop *x, int64_t now)
{
    double r = sim_frand(s);
    const char *status = r < 0.90 ? "COMPLETED" : r < 0.97 ? "FAILED" : "SKIPPED";
    long long late = x->eta < now ? (long long)(now - x->eta) : 0;
    int rc;

    rc = sim_execf(s, "UPDATE waypoints SET status = %Q, completed_timestamp = %lld, waypoints_ahead = 0"
                  " WHERE dc_id = %Q AND id = %Q", status, (long long)now, x->dc, x->id);
    if (!rc)
        rc = sim_execf(s, "UPDATE waypoints SET waypoints_ahead = MAX(COALESCE(waypoints_ahead, 1) - 1, 0),"
                      " estimated_time_of_arrival = estimated_time_of_arrival + %lld"
                      " WHERE dc_id = %Q AND route_id = %Q AND status = 'PENDING'", late, x->dc, x->route);
    return rc;
}

/* Whether the driver gets to a stop whose ETA has come on this tick. Most
 * arrive on time; some are held up (traffic, a long unload) for a while,
 * which the pages show as a late stop. Stateless: the first ticks after the
 * ETA decide "on time", later ones end a hold-up at random. */
static int reaches(struct sim *s, const struct next_stop *x, int64_t now)
{
    if (now - x->eta < 2 * SIM_TICK_MS)
        return sim_frand(s) < SIM_ON_TIME;
    return sim_frand(s) < SIM_TICK_MS * s->speed / SIM_HOLDUP_MEAN_MS;
}

/* Traffic: every remaining ETA on the route moves by the same amount. */
static int drift(struct sim *s, const struct next_stop *x)
{
    long long delta = (long long)((sim_frand(s) * 35000 - 10000) / s->speed);

    return sim_execf(s, "UPDATE waypoints SET estimated_time_of_arrival = estimated_time_of_arrival + %lld"
                    " WHERE dc_id = %Q AND route_id = %Q AND status = 'PENDING'"
                    " AND estimated_time_of_arrival IS NOT NULL", delta, x->dc, x->route);
}

/* Keep each DC busy: start a route where fewer than SIM_ROUTES_PER_DC run. */
static int top_up(struct sim *s)
{
    static const char sql[] = "SELECT d.id, (SELECT COUNT(DISTINCT route_id) FROM waypoints w"
                              " WHERE w.dc_id = d.id AND w.status = 'PENDING') FROM dcs d"
                              " WHERE EXISTS (SELECT 1 FROM customers c WHERE c.dc_id = d.id)";
    char dc[SIM_MAX_ROUTES][256];
    sqlite3_stmt *st = NULL;
    int n = 0, rc = 0;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    while (n < SIM_MAX_ROUTES && sqlite3_step(st) == SQLITE_ROW)
        if (sqlite3_column_int(st, 1) < SIM_ROUTES_PER_DC)
            snprintf(dc[n++], sizeof(dc[0]), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    for (int i = 0; i < n && !rc; i++)
        if (sim_frand(s) < 0.02 * s->speed)
            rc = sim_route_start(s, dc[i], 4 + (int)(sim_rnd(s) % (SIM_MAX_STOPS - 3)));
    return rc;
}

/* One tick, one transaction: what a fleet's apps would write in a moment. */
static int tick(struct sim *s)
{
    static struct next_stop stops[SIM_MAX_ROUTES];
    int64_t now = sim_now_ms();
    int n = 0, rc;

    if (sim_exec(s, "BEGIN IMMEDIATE"))
        return -EBUSY;
    rc = next_stops(s, stops, SIM_MAX_ROUTES, &n);
    for (int i = 0; i < n && !rc; i++) {
        if (stops[i].eta <= now) {
            if (reaches(s, &stops[i], now))
                rc = arrive(s, &stops[i], now);
        }
        else if (sim_frand(s) < 0.04 * s->speed)
            rc = drift(s, &stops[i]);
    }
    if (!rc)
        rc = top_up(s);
    if (rc || sim_exec(s, "COMMIT")) {
        sim_exec(s, "ROLLBACK");
        return rc ? rc : -EIO;
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* One integer answer to a query, or -1 when it fails. */
static long long count_of(struct sim *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Up to three DC ids that have customers, "a, b, c, ...", into out. */
static void dc_names(struct sim *s, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    size_t o = 0;
    int n = 0;

    out[0] = '\0';
    if (sqlite3_prepare_v2(s->db, "SELECT d.id FROM dcs d WHERE EXISTS (SELECT 1 FROM customers c"
                                  " WHERE c.dc_id = d.id) ORDER BY d.id LIMIT 4", -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW && o < cap) {
        const char *name = n < 3 ? (const char *)sqlite3_column_text(st, 0) : "...";
        int w = snprintf(out + o, cap - o, "%s%s", n ? ", " : "", name);

        o += w > 0 ? (size_t)w : 0;
        n++;
    }
    sqlite3_finalize(st);
}

int sim_describe(const struct sim_config *cfg)
{
    /* The contract's tables and the change log init adds: without the log
     * the server would never see what is played. */
    static const char tables_sql[] =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
        " AND name IN ('dcs', 'customers', 'waypoints', 'change_log')";
    const char *db = cfg->db_path;
    long long tables, n_dcs, n_played, n_customers, n_routes;
    char names_buf[1024], until[64];
    struct sim s;
    int rc = -ENOENT;

    if (sim_open(&s, db, 1))
        return -EIO;
    tables = count_of(&s, tables_sql);
    if (tables < 0) {
        fprintf(stderr, "waypointd simulate: cannot read %s: %s\n", db, sqlite3_errmsg(s.db));
        rc = -EIO;
        goto out;
    }
    if (tables < 4) {
        fprintf(stderr, "waypointd simulate: %s is not initialised: run waypointd init --db %s first\n", db, db);
        goto out;
    }
    n_dcs = count_of(&s, "SELECT COUNT(*) FROM dcs");
    n_customers = count_of(&s, "SELECT COUNT(*) FROM customers c WHERE EXISTS (SELECT 1 FROM dcs d WHERE d.id = c.dc_id)");
    n_played = count_of(&s, "SELECT COUNT(*) FROM dcs d WHERE EXISTS (SELECT 1 FROM customers c WHERE c.dc_id = d.id)");
    n_routes = count_of(&s, "SELECT COUNT(*) FROM (SELECT DISTINCT dc_id, route_id FROM waypoints"
                            " WHERE status = 'PENDING' AND route_id IS NOT NULL)");
    if (n_dcs < 0 || n_customers < 0 || n_played < 0 || n_routes < 0) {
        fprintf(stderr, "waypointd simulate: cannot read %s: %s\n", db, sqlite3_errmsg(s.db));
        rc = -EIO;
        goto out;
    }
    /* The simulator drives routes and starts new ones to customers; it
     * invents no DCs or customers, which are the business's own data. */
    if (n_dcs == 0 || n_customers == 0) {
        fprintf(stderr, "waypointd simulate: %s has no %s to play: add them first, e.g. sqlite3 %s < sample.sql"
                        " (see EXAMPLES in man waypointd)\n", db, n_dcs == 0 ? "DCs" : "customers", db);
        goto out;
    }
    dc_names(&s, names_buf, sizeof(names_buf));
    if (cfg->duration_s > 0)
        snprintf(until, sizeof(until), "for %d s", cfg->duration_s);
    else
        snprintf(until, sizeof(until), "until Ctrl-C");
    printf("waypointd simulate: playing %s: %lld DC%s (%s), %lld customer%s, %lld route%s under way"
           " (up to %d per DC), speed %g, %s\n", db, n_played, n_played == 1 ? "" : "s", names_buf, n_customers,
           n_customers == 1 ? "" : "s", n_routes, n_routes == 1 ? "" : "s", SIM_ROUTES_PER_DC,
           cfg->speed > 0 ? cfg->speed : 1.0, until);
    fflush(stdout);
    rc = 0;
out:
    sqlite3_close(s.db);
    return rc;
}

int sim_run(const struct sim_config *cfg)
{
    int64_t start = sim_now_ms();
    struct sim s;

    if (sim_open(&s, cfg->db_path, cfg->seed))
        return -EIO;
    s.speed = cfg->speed > 0 ? cfg->speed : 1.0;
    while (!(cfg->stop && atomic_load(cfg->stop))) {
        if (cfg->duration_s > 0 && sim_now_ms() - start >= (int64_t)cfg->duration_s * 1000)
            break;
        /* A failed tick (a writer held the lock too long, say) is retried
         * on the next one; the simulator keeps going. */
        tick(&s);
        sleep_ms(SIM_TICK_MS);
    }
    sqlite3_close(s.db);
    return 0;
}
