/* SPDX-License-Identifier: MIT
 *
 * An edge's lines in /metrics (docs/operations.md): where its applier
 * stands (replica.h), rendered from replica_status_get at each scrape.
 */
#ifndef WAYPOINTD_METRICS_REPLICA_H
#define WAYPOINTD_METRICS_REPLICA_H

#include <stdint.h>

struct replica;
struct textbuf;

/* Append the exposition lines for r to t. now_ms: clock_mono_ms(). */
void metrics_replica_render(const struct replica *r, int64_t now_ms, struct textbuf *t);

#endif
