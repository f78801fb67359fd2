/* SPDX-License-Identifier: MIT
 *
 * Private to store_replica.c (the file and its state), store_replica_apply.c
 * (stream entries) and store_replica_snap.c (snapshots): the tables the
 * stream may write, which both entries and snapshots copy.
 */
#ifndef WAYPOINTD_STORE_REPLICA_INT_H
#define WAYPOINTD_STORE_REPLICA_INT_H

#include <stddef.h>

#include "store_int.h"
#include "store_replica.h"

/* A table the stream may write: its key columns come first in cols (what a
 * delete matches); rowid: the table has one to keep (INTEGER PRIMARY KEY
 * tables keep theirs through the key); blobs: bit i set when cols[i] is a
 * BLOB, sent as hex. */
struct rtable {
    const char *name;
    int rowid;
    int nkey;
    unsigned blobs;
    const char *cols[10];
};

/* The waypoints (change entries) and the aux tables, in the order a
 * snapshot copies them. */
extern const struct rtable store_replica_waypoints;
extern const struct rtable store_replica_aux[];
extern const size_t store_replica_naux;

/* One replica_state column set to v: sql is its UPDATE with v as ?1. */
int store_replica_set_state(struct store *s, const char *sql, const char *v);

#endif
