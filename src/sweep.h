/* SPDX-License-Identifier: MIT
 *
 * The per-thread sweep of live sessions (sweep.c): channel.c starts it when
 * its protocol is initialised and cancels vhd->sweep when it is destroyed.
 * The sweep ends sessions through vhd->end_session (channel_int.h), so it
 * calls nothing in channel.c.
 */
#ifndef WAYPOINTD_SWEEP_H
#define WAYPOINTD_SWEEP_H

struct vhd_channel;

/* How often open sessions' credentials are checked again (revocation, expiry). */
#define SWEEP_MS 2000
/* Server-Sent Events: a heartbeat comment after this much silence. */
#define SWEEP_SSE_HEARTBEAT_SECS 15

/* Run the sweep in SWEEP_MS on the thread's lws context (again and
 * again: each run schedules the next). */
void sweep_schedule(struct vhd_channel *vhd);

#endif
