/* SPDX-License-Identifier: MIT
 *
 * The per-thread sweep of live sessions (sweep.c): channel.c starts it when
 * its protocol is initialised and cancels vhd->sweep when it is destroyed.
 */
#ifndef WAYPOINTD_SWEEP_H
#define WAYPOINTD_SWEEP_H

struct vhd_channel;

/* Run the sweep in CHANNEL_SWEEP_MS on the thread's lws context (again and
 * again: each run schedules the next). */
void sweep_schedule(struct vhd_channel *vhd);

#endif
