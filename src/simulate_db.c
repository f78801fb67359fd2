/* SPDX-License-Identifier: MIT
 *
 * The simulator's own SQLite connection and what seeding and playing both
 * use: the random source, the wall clock, plain-SQL execution, and starting
 * a route as a planner would. On purpose none of the simulator uses store.c:
 * it writes the contract's tables with plain SQL, so the server sees its
 * changes only through the triggers. Whichever thread runs the simulator.
 */
#include "simulate_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define SIM_STOP_GAP_MS 30000 /* between two stops on a route, at speed 1 */

uint64_t sim_rnd(struct sim *s)
{
    s->rng ^= s->rng >> 12; /* xorshift64* */
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ull;
}

double sim_frand(struct sim *s)
{
    return (double)(sim_rnd(s) >> 11) / 9007199254740992.0;
}

int64_t sim_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sim_exec(struct sim *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "waypointd simulate: %s\n", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -EIO;
}

int sim_execf(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    char *sql;
    int rc;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql)
        return -ENOMEM;
    rc = sim_exec(s, sql);
    sqlite3_free(sql);
    return rc;
}

int sim_open(struct sim *s, const char *path, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed ? seed : (uint64_t)sim_now_ms() * 0x9e3779b97f4a7c15ull;
    if (!s->rng)
        s->rng = 1;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "waypointd simulate: cannot open %s: %s\n", path, sqlite3_errmsg(s->db));
        sqlite3_close(s->db);
        s->db = NULL;
        return -EIO;
    }
    sqlite3_busy_timeout(s->db, 5000);
    return 0;
}

/* 1 when dc already has a route with this id (another simulator, an earlier
 * run in the same second): a route's stops must all be one trip's. */
static int route_taken(struct sim *s, const char *dc, const char *route)
{
    sqlite3_stmt *st = NULL;
    int taken = 1;

    if (sqlite3_prepare_v2(s->db, "SELECT EXISTS (SELECT 1 FROM waypoints WHERE dc_id = ?1 AND route_id = ?2)", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, dc, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, route, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        taken = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return taken;
}

int sim_route_start(struct sim *s, const char *dc, int n)
{
    int64_t t = sim_now_ms(), eta = t;
    char route[64];
    int rc = 0, stop = 0;

    do
        snprintf(route, sizeof(route), "R-%s-%d-%04d", dc, (int)(t / 1000 % 100000), ++s->route_counter);
    while (route_taken(s, dc, route) && s->route_counter < 1000000);
    for (int i = 0; i < n && !rc; i++) {
        eta += (int64_t)(SIM_STOP_GAP_MS * (0.7 + 0.6 * sim_frand(s)) / s->speed);
        rc = sim_execf(s,
                   "INSERT OR IGNORE INTO waypoints(dc_id, id, customer_id, route_id, status,"
                   " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                   " SELECT %Q, %Q || '-' || %d, c.id, %Q, 'PENDING', %lld, %d, %d FROM customers c"
                   " WHERE c.dc_id = %Q AND NOT EXISTS (SELECT 1 FROM waypoints v WHERE v.dc_id = c.dc_id"
                   "  AND v.route_id = %Q AND v.customer_id = c.id)"
                   " ORDER BY EXISTS (SELECT 1 FROM waypoints p WHERE p.dc_id = c.dc_id AND p.customer_id = c.id"
                   "  AND p.status = 'PENDING'), random() LIMIT 1",
                   dc, route, stop + 1, route, (long long)eta, stop, 120 + (int)(sim_rnd(s) % 480), dc, route);
        if (!rc && sqlite3_changes(s->db) == 0)
            break; /* every customer of dc is on this route already */
        stop++;
    }
    return rc;
}
