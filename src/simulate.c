/* SPDX-License-Identifier: MIT
 *
 * The simulator plays an outside writer: drivers reach stops, complete or
 * fail them, ETAs drift, waypoints_ahead counts down, new routes start. On
 * purpose it does not use store.c: it opens its own SQLite connection and
 * writes the contract's tables with plain SQL, as a route planner would, so
 * the server sees its changes only through the triggers. Runs on its own
 * thread (demo) or as the whole process (simulate).
 */
#include "simulate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define SIM_TICK_MS 250
#define SIM_STOP_GAP_MS 30000 /* between two stops on a route, at speed 1 */
#define SIM_ROUTES_PER_DC 3
#define SIM_MAX_STOPS 7
/* Share of stops reached on time (per first tick after the ETA: about 0.9
 * in all); the others are held up for SIM_HOLDUP_MEAN_MS on average, at speed 1. */
#define SIM_ON_TIME 0.7
#define SIM_HOLDUP_MEAN_MS 60000.0

static const struct {
    const char *id, *name;
    double lat, lon;
} dcs[] = {
    {"sf-north", "San Francisco North", 37.7990, -122.4100},
    {"sf-south", "San Francisco South", 37.7520, -122.4180},
};

static const char *const names[] = {
    "John's Burger Shack", "Bay Bikes",          "Mission Books",      "Golden Gate Florist", "Noe Valley Bakery",
    "Harbor Hardware",     "Castro Coffee",      "Sunset Surf Shop",   "Presidio Pharmacy",   "Dolores Deli",
    "Marina Pet Supply",   "Haight Records",     "Twin Peaks Tailor",  "Bernal Bottle Shop",  "Potrero Print Co.",
    "Richmond Ramen",      "Fillmore Frames",    "Nob Hill Notary",    "SoMa Sound Studio",   "Excelsior Eyewear",
    "Ana Lima",            "Marcus Chen",        "Priya Natarajan",    "Tom Okafor",          "Sofia Rossi",
    "Dev Patel",           "Hannah Becker",      "Luis Ortega",        "Mei Tanaka",          "Grace Kim",
};

static const struct {
    const char *street;
    double lat, lon;
} streets[] = {
    {"Market St", 37.7890, -122.4010},   {"Valencia St", 37.7620, -122.4215}, {"Columbus Ave", 37.7990, -122.4080},
    {"Chestnut St", 37.8005, -122.4370}, {"Irving St", 37.7640, -122.4680},   {"24th St", 37.7520, -122.4270},
    {"Haight St", 37.7700, -122.4470},   {"Divisadero St", 37.7780, -122.4380}, {"Clement St", 37.7830, -122.4650},
    {"Cortland Ave", 37.7390, -122.4160}, {"18th St", 37.7615, -122.4000},    {"Polk St", 37.7930, -122.4210},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct sim {
    sqlite3 *db;
    uint64_t rng;
    double speed;
    int route_counter;
};

static uint64_t rnd(struct sim *s)
{
    s->rng ^= s->rng >> 12; /* xorshift64* */
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ull;
}

/* A uniform double in [0, 1). */
static double frand(struct sim *s)
{
    return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exec(struct sim *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "waypointd simulate: %s\n", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -EIO;
}

/* Run SQL built by sqlite3_vmprintf: %Q quotes text safely (NULL becomes
 * NULL). Not printf, so the compiler cannot check the arguments: keep each
 * call's conversions next to its arguments. */
static int execf(struct sim *s, const char *fmt, ...);

static int execf(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    char *sql;
    int rc;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql)
        return -ENOMEM;
    rc = exec(s, sql);
    sqlite3_free(sql);
    return rc;
}

static int sim_open(struct sim *s, const char *path, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed ? seed : (uint64_t)now_ms() * 0x9e3779b97f4a7c15ull;
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

/* Insert a route of up to n stops, as a planner would: each customer of dc
 * at most once (preferring those with no delivery on its way already), ETAs
 * increasing along the route from now on. Fewer stops when dc has fewer
 * customers to visit. */
static int route_start(struct sim *s, const char *dc, int n)
{
    int64_t t = now_ms(), eta = t;
    char route[64];
    int rc = 0, stop = 0;

    do
        snprintf(route, sizeof(route), "R-%s-%d-%04d", dc, (int)(t / 1000 % 100000), ++s->route_counter);
    while (route_taken(s, dc, route) && s->route_counter < 1000000);
    for (int i = 0; i < n && !rc; i++) {
        eta += (int64_t)(SIM_STOP_GAP_MS * (0.7 + 0.6 * frand(s)) / s->speed);
        rc = execf(s,
                   "INSERT OR IGNORE INTO waypoints(dc_id, id, customer_id, route_id, status,"
                   " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                   " SELECT %Q, %Q || '-' || %d, c.id, %Q, 'PENDING', %lld, %d, %d FROM customers c"
                   " WHERE c.dc_id = %Q AND NOT EXISTS (SELECT 1 FROM waypoints v WHERE v.dc_id = c.dc_id"
                   "  AND v.route_id = %Q AND v.customer_id = c.id)"
                   " ORDER BY EXISTS (SELECT 1 FROM waypoints p WHERE p.dc_id = c.dc_id AND p.customer_id = c.id"
                   "  AND p.status = 'PENDING'), random() LIMIT 1",
                   dc, route, stop + 1, route, (long long)eta, stop, 120 + (int)(rnd(s) % 480), dc, route);
        if (!rc && sqlite3_changes(s->db) == 0)
            break; /* every customer of dc is on this route already */
        stop++;
    }
    return rc;
}

static int seed_customers(struct sim *s)
{
    int rc = 0;

    for (size_t i = 0; i < COUNT(names) && !rc; i++) {
        size_t d = i % COUNT(dcs), st = rnd(s) % COUNT(streets);
        double lat = streets[st].lat + (frand(s) - 0.5) * 0.004, lon = streets[st].lon + (frand(s) - 0.5) * 0.004;
        int has_import = i % 7 != 6, confident = i % 3 != 2;
        char id[64], addr[128];

        snprintf(id, sizeof(id), "cust-%03zu", i + 1);
        snprintf(addr, sizeof(addr), "%d %s, San Francisco, CA", 100 + (int)(rnd(s) % 3800), streets[st].street);
        rc = execf(s,
                   "INSERT OR IGNORE INTO customers(dc_id, id, name, imported_address, imported_latitude,"
                   " imported_longitude, inferred_latitude, inferred_longitude, location_confident)"
                   " VALUES (%Q, %Q, %Q, %Q, NULL, NULL, %.6f, %.6f, %d)",
                   dcs[d].id, id, names[i], has_import ? addr : NULL, lat + 0.00003, lon - 0.00002, confident);
        if (!rc && has_import)
            rc = execf(s, "UPDATE customers SET imported_latitude = %.6f, imported_longitude = %.6f"
                          " WHERE dc_id = %Q AND id = %Q", lat, lon, dcs[d].id, id);
    }
    return rc;
}

/* Finished deliveries from earlier in the week, so pages have history. */
static int seed_history(struct sim *s)
{
    static const char *const outcomes[] = {"COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "COMPLETED"};
    int64_t t = now_ms();
    int rc = 0;

    for (size_t i = 0; i < COUNT(names) * 2 && !rc; i++) {
        int64_t done = t - (int64_t)(COUNT(names) * 2 - i) * 3 * 3600 * 1000;

        rc = execf(s,
                   "INSERT OR IGNORE INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,"
                   " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                   " VALUES (%Q, 'hist-%d', 'cust-%03d', 'R-past-%d', %Q, %lld, %lld, 0, %d)",
                   dcs[(i % COUNT(names)) % COUNT(dcs)].id, (int)i, (int)(i % COUNT(names) + 1), (int)(i / 6),
                   outcomes[rnd(s) % COUNT(outcomes)], (long long)done, (long long)(done - 60000),
                   60 + (int)(rnd(s) % 600));
    }
    return rc;
}

int sim_seed(const char *db_path, uint64_t seed)
{
    struct sim s;
    int rc;

    if (sim_open(&s, db_path, seed))
        return -EIO;
    s.speed = 1.0;
    rc = exec(&s, "BEGIN IMMEDIATE");
    for (size_t d = 0; d < COUNT(dcs) && !rc; d++)
        rc = execf(&s, "INSERT OR IGNORE INTO dcs(id, name) VALUES (%Q, %Q)", dcs[d].id, dcs[d].name);
    if (!rc)
        rc = seed_customers(&s);
    if (!rc)
        rc = seed_history(&s);
    for (size_t d = 0; d < COUNT(dcs) && !rc; d++)
        for (int r = 0; r < SIM_ROUTES_PER_DC - (int)d && !rc; r++)
            rc = route_start(&s, dcs[d].id, 5 + (int)(rnd(&s) % (SIM_MAX_STOPS - 4)));
    rc = rc ? rc : exec(&s, "COMMIT");
    if (rc)
        exec(&s, "ROLLBACK");
    sqlite3_close(s.db);
    return rc;
}

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
        "  ORDER BY COALESCE(v.waypoints_ahead, 0), v.estimated_time_of_arrival LIMIT 1)";
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
    double r = frand(s);
    const char *status = r < 0.90 ? "COMPLETED" : r < 0.97 ? "FAILED" : "SKIPPED";
    long long late = x->eta < now ? (long long)(now - x->eta) : 0;
    int rc;

    rc = execf(s, "UPDATE waypoints SET status = %Q, completed_timestamp = %lld, waypoints_ahead = 0"
                  " WHERE dc_id = %Q AND id = %Q", status, (long long)now, x->dc, x->id);
    if (!rc)
        rc = execf(s, "UPDATE waypoints SET waypoints_ahead = MAX(COALESCE(waypoints_ahead, 1) - 1, 0),"
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
        return frand(s) < SIM_ON_TIME;
    return frand(s) < SIM_TICK_MS * s->speed / SIM_HOLDUP_MEAN_MS;
}

/* Traffic: every remaining ETA on the route moves by the same amount. */
static int drift(struct sim *s, const struct next_stop *x)
{
    long long delta = (long long)((frand(s) * 35000 - 10000) / s->speed);

    return execf(s, "UPDATE waypoints SET estimated_time_of_arrival = estimated_time_of_arrival + %lld"
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
        if (frand(s) < 0.02 * s->speed)
            rc = route_start(s, dc[i], 4 + (int)(rnd(s) % (SIM_MAX_STOPS - 3)));
    return rc;
}

/* One tick, one transaction: what a fleet's apps would write in a moment. */
static int tick(struct sim *s)
{
    static struct next_stop stops[SIM_MAX_ROUTES];
    int64_t now = now_ms();
    int n = 0, rc;

    if (exec(s, "BEGIN IMMEDIATE"))
        return -EBUSY;
    rc = next_stops(s, stops, SIM_MAX_ROUTES, &n);
    for (int i = 0; i < n && !rc; i++) {
        if (stops[i].eta <= now) {
            if (reaches(s, &stops[i], now))
                rc = arrive(s, &stops[i], now);
        }
        else if (frand(s) < 0.04 * s->speed)
            rc = drift(s, &stops[i]);
    }
    if (!rc)
        rc = top_up(s);
    if (rc || exec(s, "COMMIT")) {
        exec(s, "ROLLBACK");
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
    int64_t start = now_ms();
    struct sim s;

    if (sim_open(&s, cfg->db_path, cfg->seed))
        return -EIO;
    s.speed = cfg->speed > 0 ? cfg->speed : 1.0;
    while (!(cfg->stop && atomic_load(cfg->stop))) {
        if (cfg->duration_s > 0 && now_ms() - start >= (int64_t)cfg->duration_s * 1000)
            break;
        /* A failed tick (a writer held the lock too long, say) is retried
         * on the next one; the simulator keeps going. */
        tick(&s);
        sleep_ms(SIM_TICK_MS);
    }
    sqlite3_close(s.db);
    return 0;
}

int sim_pick_customer(const char *db_path, char *dc, char *customer)
{
    static const char sql[] = "SELECT dc_id, customer_id FROM waypoints WHERE status = 'PENDING'"
                              " ORDER BY COALESCE(waypoints_ahead, 0) DESC, rowid LIMIT 1";
    sqlite3_stmt *st = NULL;
    struct sim s;
    int rc = -ENOENT;

    if (sim_open(&s, db_path, 1))
        return -EIO;
    if (sqlite3_prepare_v2(s.db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(dc, 256, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(customer, 256, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(s.db);
    return rc;
}
