/* SPDX-License-Identifier: MIT
 *
 * The relay (issue 14, docs/cluster.md): publishes every change_log and
 * aux_log row of the origin database, in order, into one Redis stream
 * through a compare-and-append script, refills what Redis lost, and refuses
 * an engine ahead of the database. Runs on the calling thread with the sync
 * hiredis API (0.14 has no async timeouts) until SIGINT or SIGTERM.
 */
#ifndef WAYPOINTD_RELAY_H
#define WAYPOINTD_RELAY_H

#include <stddef.h>

struct relay_options {
    const char *db;     /* the origin database, opened read-only */
    const char *host;   /* Redis */
    int port;
    int dbnum;          /* SELECT'ed when > 0 */
    const char *stream; /* "wpd:log" by default */
    size_t batch;       /* rows per append */
};

/* Run until a stop signal: 0 after one; -EPROTO when the engine is ahead of
 * the database (logged); -errno when the database cannot be opened. */
int relay_run(const struct relay_options *o, const char *url);

/* `waypointd relay`: the subcommand (exit code 0, 1 or 2). */
int cli_relay(int argc, char **argv);

#endif
