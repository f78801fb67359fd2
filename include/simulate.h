/* SPDX-License-Identifier: MIT
 *
 * The delivery simulator: seeds a demo database and plays a compressed
 * delivery day against any database, writing with plain SQL through its own
 * SQLite connection exactly as a route planner or a driver's app would.
 */
#ifndef WAYPOINTD_SIMULATE_H
#define WAYPOINTD_SIMULATE_H

#include <stdatomic.h>
#include <stdint.h>

struct sim_config {
    const char *db_path;
    double speed;          /* 1.0: a stop every ~6 s on each route */
    uint64_t seed;         /* random seed; 0 picks one */
    int duration_s;        /* stop after this many seconds; 0: until stopped */
    const atomic_int *stop; /* polled; may be NULL */
};

/* Fill an initialised, empty database with the demo data set: two DCs,
 * about 30 customers with addresses and locations, five routes of
 * waypoints and some finished deliveries. 0 or a negative errno. */
int sim_seed(const char *db_path, uint64_t seed);

/* Check that cfg->db_path can be played on and say what will be played:
 * one line on stdout (DCs, customers, routes under way, speed, duration).
 * A database that is missing, not initialised, or has no DCs or customers
 * gets one line on stderr naming the reason and the fix, and -ENOENT;
 * -EIO when it cannot be read. Call before sim_run. */
int sim_describe(const struct sim_config *cfg);

/* Play the day until *cfg->stop, the duration, or a fatal database error.
 * Returns 0 or a negative errno (reason on stderr). */
int sim_run(const struct sim_config *cfg);

/* One customer on a route still waiting for a delivery, for the demo's
 * tracking link: fills dc and customer (each >= 256 bytes). 0 or -ENOENT. */
int sim_pick_customer(const char *db_path, char *dc, char *customer);

#endif
