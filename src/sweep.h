/* SPDX-License-Identifier: MIT
 *
 * The per-thread sweep of live sessions (sweep.c). The WebSocket protocol
 * (ws.c) runs it from a timer of its thread's lws context; it ends sessions
 * through live.c and closes them through their transports' operations.
 */
#ifndef WAYPOINTD_SWEEP_H
#define WAYPOINTD_SWEEP_H

#include <stdint.h>

struct live;

/* How often open sessions' credentials are checked again (revocation, expiry). */
#define SWEEP_MS 2000
/* Server-Sent Events: a heartbeat comment after this much silence. */
#define SWEEP_SSE_HEARTBEAT_SECS 15

/* One sweep of the thread's sessions. now: clock_mono_ms(); wall:
 * auth_now_ms() (token expiry). */
void sweep_run(struct live *lt, int64_t now, int64_t wall);

#endif
