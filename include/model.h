/* SPDX-License-Identifier: MIT
 *
 * Plain structs shared by the store, the views and the routes. They own their
 * strings (malloc'd); release them with the matching _clear().
 */
#ifndef WAYPOINTD_MODEL_H
#define WAYPOINTD_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* Ids are at most this many bytes of UTF-8 (the contract's limit). */
#define MODEL_ID_MAX 255

struct location {
    int present; /* 0: the JSON shows null */
    double latitude;
    double longitude;
};

struct customer {
    char *dc_id;
    char *id;
    char *name;
    char *imported_address; /* NULL when the column is NULL */
    struct location imported;
    struct location inferred;
    int location_confident;
};

/* Bits of waypoint.nulls: which nullable integer columns are NULL. */
#define WAYPOINT_NULL_COMPLETED 0x1u
#define WAYPOINT_NULL_ETA 0x2u
#define WAYPOINT_NULL_AHEAD 0x4u
#define WAYPOINT_NULL_WAITING 0x8u

struct waypoint {
    char *dc_id;
    char *id;
    char *customer_id;
    char *route_id; /* NULL when the column is NULL */
    char *status;
    int64_t completed_timestamp;
    int64_t estimated_time_of_arrival;
    int64_t waypoints_ahead;
    int64_t waiting_time_seconds;
    unsigned nulls; /* WAYPOINT_NULL_* */
};

void customer_clear(struct customer *c);
void waypoint_clear(struct waypoint *w);
void waypoints_clear(struct waypoint *w, size_t n);

#endif
