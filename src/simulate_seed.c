/* SPDX-License-Identifier: MIT
 *
 * The demo's data: seeding an empty database with two DCs in San Francisco,
 * their customers, finished deliveries and routes under way (sim_seed), and
 * picking a customer still waiting for a delivery for the demo's tracking
 * link. Plain SQL on the simulator's connection (simulate_db.c); main thread.
 */
#include "simulate.h"

#include <errno.h>
#include <stdio.h>

#include <sqlite3.h>

#include "simulate_int.h"

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
static int seed_customers(struct sim *s)
{
    int rc = 0;

    for (size_t i = 0; i < COUNT(names) && !rc; i++) {
        size_t d = i % COUNT(dcs), st = sim_rnd(s) % COUNT(streets);
        double lat = streets[st].lat + (sim_frand(s) - 0.5) * 0.004, lon = streets[st].lon + (sim_frand(s) - 0.5) * 0.004;
        int has_import = i % 7 != 6, confident = i % 3 != 2;
        char id[64], addr[128];

        snprintf(id, sizeof(id), "cust-%03zu", i + 1);
        snprintf(addr, sizeof(addr), "%d %s, San Francisco, CA", 100 + (int)(sim_rnd(s) % 3800), streets[st].street);
        rc = sim_execf(s,
                   "INSERT OR IGNORE INTO customers(dc_id, id, name, imported_address, imported_latitude,"
                   " imported_longitude, inferred_latitude, inferred_longitude, location_confident)"
                   " VALUES (%Q, %Q, %Q, %Q, NULL, NULL, %.6f, %.6f, %d)",
                   dcs[d].id, id, names[i], has_import ? addr : NULL, lat + 0.00003, lon - 0.00002, confident);
        if (!rc && has_import)
            rc = sim_execf(s, "UPDATE customers SET imported_latitude = %.6f, imported_longitude = %.6f"
                          " WHERE dc_id = %Q AND id = %Q", lat, lon, dcs[d].id, id);
    }
    return rc;
}

/* Finished deliveries from earlier in the week, so pages have history. */
static int seed_history(struct sim *s)
{
    static const char *const outcomes[] = {"COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "COMPLETED"};
    int64_t t = sim_now_ms();
    int rc = 0;

    for (size_t i = 0; i < COUNT(names) * 2 && !rc; i++) {
        int64_t done = t - (int64_t)(COUNT(names) * 2 - i) * 3 * 3600 * 1000;

        rc = sim_execf(s,
                   "INSERT OR IGNORE INTO waypoints(dc_id, id, customer_id, route_id, status, completed_timestamp,"
                   " estimated_time_of_arrival, waypoints_ahead, waiting_time_seconds)"
                   " VALUES (%Q, 'hist-%d', 'cust-%03d', 'R-past-%d', %Q, %lld, %lld, 0, %d)",
                   dcs[(i % COUNT(names)) % COUNT(dcs)].id, (int)i, (int)(i % COUNT(names) + 1), (int)(i / 6),
                   outcomes[sim_rnd(s) % COUNT(outcomes)], (long long)done, (long long)(done - 60000),
                   60 + (int)(sim_rnd(s) % 600));
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
    rc = sim_exec(&s, "BEGIN IMMEDIATE");
    for (size_t d = 0; d < COUNT(dcs) && !rc; d++)
        rc = sim_execf(&s, "INSERT OR IGNORE INTO dcs(id, name) VALUES (%Q, %Q)", dcs[d].id, dcs[d].name);
    if (!rc)
        rc = seed_customers(&s);
    if (!rc)
        rc = seed_history(&s);
    for (size_t d = 0; d < COUNT(dcs) && !rc; d++)
        for (int r = 0; r < SIM_ROUTES_PER_DC - (int)d && !rc; r++)
            rc = sim_route_start(&s, dcs[d].id, 5 + (int)(sim_rnd(&s) % (SIM_MAX_STOPS - 4)));
    rc = rc ? rc : sim_exec(&s, "COMMIT");
    if (rc)
        sim_exec(&s, "ROLLBACK");
    sqlite3_close(s.db);
    return rc;
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
