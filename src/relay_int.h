/* SPDX-License-Identifier: MIT
 *
 * Private to relay.c (the loop), relay_head.c (the engine's head),
 * relay_publish.c (the appends) and relay_conn.c (what they share of the
 * two connections): the relay's state, one per process, owned by its only
 * thread.
 */
#ifndef WAYPOINTD_RELAY_INT_H
#define WAYPOINTD_RELAY_INT_H

#include <stdint.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "cluster.h"
#include "relay.h"

#define RELAY_HEAD_KEY CLUSTER_HEAD_KEY
#define RELAY_BEAT_KEY CLUSTER_BEAT_KEY

struct relay {
    const struct relay_options *o;
    sqlite3 *db;
    redisContext *rc;
    char sha[48];
    int64_t hs, hn;   /* the id last published (the engine's head as we know it) */
    int64_t last_dv;  /* PRAGMA data_version at the last read */
    int dirty;        /* rows may be waiting */
    int outage;       /* an outage was logged, not yet its end */
    int reset_pending; /* --reset-engine, not done yet */
};

/* relay_conn.c. Log an outage once and drop the connection (the loop
 * reconnects). */
void relay_redis_drop(struct relay *r, const char *why);
/* The first column of sql's first row, ?1 bound to a; 0, -EAGAIN (the
 * database is busy), -EIO. */
int relay_db_int(struct relay *r, const char *sql, int64_t a, int64_t *out);

/* relay_head.c. Take h (NULL: an empty engine) as the head after checking
 * the database holds it: 0, -EPROTO (the engine is ahead: stop), -EAGAIN,
 * -EIO. */
int relay_adopt_head(struct relay *r, const char *h);
/* GET the head; on a difference with ours, adopt it. Same returns. */
int relay_check_head(struct relay *r);
/* --reset-engine: a new epoch; the stream, head and snapshot deleted. */
int relay_reset_engine(struct relay *r);
/* The heartbeat, with the database's last seq. */
void relay_beat(struct relay *r);

/* relay_publish.c. Load the append script (its sha into r->sha): 0, -EIO. */
int relay_script_load(struct relay *r);
/* One append of the rows after our head: 1 published (maybe more wait),
 * 0 nothing waited, < 0 an error (-EPROTO: stop). */
int relay_publish_once(struct relay *r);

#endif
