/* SPDX-License-Identifier: MIT
 *
 * Private to the simulator's files (simulate.c, simulate_seed.c,
 * simulate_db.c): its connection and the helpers seeding and playing share.
 * Includes <sqlite3.h>.
 */
#ifndef WAYPOINTD_SIMULATE_INT_H
#define WAYPOINTD_SIMULATE_INT_H

#include <stdint.h>

#include <sqlite3.h>

#define SIM_ROUTES_PER_DC 3
#define SIM_MAX_STOPS 7

struct sim {
    sqlite3 *db;
    uint64_t rng;
    double speed;
    int route_counter;
};

uint64_t sim_rnd(struct sim *s);
/* A uniform double in [0, 1). */
double sim_frand(struct sim *s);
/* The wall clock in epoch milliseconds (ETAs and timestamps are wall time). */
int64_t sim_now_ms(void);
/* Open path read-write with a 5 s busy timeout; seed 0 picks a random one.
 * 0, or -EIO with the reason on stderr. */
int sim_open(struct sim *s, const char *path, uint64_t seed);
/* Run SQL without results; 0, or -EIO with the reason on stderr. */
int sim_exec(struct sim *s, const char *sql);
/* Run SQL built by sqlite3_vmprintf: %Q quotes text safely (NULL becomes
 * NULL). Not printf, so the compiler cannot check the arguments: keep each
 * call's conversions next to its arguments. */
int sim_execf(struct sim *s, const char *fmt, ...);
/* Insert a route of up to n stops, as a planner would: each customer of dc
 * at most once (preferring those with no delivery on its way already), ETAs
 * increasing along the route from now on. Fewer stops when dc has fewer
 * customers to visit. */
int sim_route_start(struct sim *s, const char *dc, int n);

#endif
