/* SPDX-License-Identifier: MIT
 *
 * The aux log (issue 14, schema version 6): every insert, update and delete
 * of the tables the edges need besides the waypoints (dcs, customers,
 * api_keys, api_key_dcs, secrets) recorded by triggers as a full row image,
 * for the relay to publish. An aux row carries the change_log seq current
 * when it was written (the highest seq handed out so far) and takes no seq
 * of its own: clients never see aux rows. Pruned with the change log: a
 * trigger on change_log_state drops the rows at or below pruned_through.
 */
#ifndef WAYPOINTD_STORE_AUX_H
#define WAYPOINTD_STORE_AUX_H

/* The migration 5 -> 6 (store.c's migrations array): aux_log, its triggers. */
extern const char store_aux_schema[];

#endif
