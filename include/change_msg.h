/* SPDX-License-Identifier: MIT
 *
 * One change as the live channel's push message: rendered once, shared by
 * reference by every subscriber on every thread (msg.h). Whatever source a
 * change comes from, and a replay read for a resume, use this one spelling.
 */
#ifndef WAYPOINTD_CHANGE_MSG_H
#define WAYPOINTD_CHANGE_MSG_H

struct msg;
struct store_change;

/* Render c (an upsert or a removal) as its push message with LWS_PRE
 * headroom, routed by c's DC, customer and waypoint ids, carrying the
 * waypoint fields the live notices read (msg_set_waypoint). One reference
 * to a new message, or NULL when out of memory. Any thread. */
struct msg *change_msg_render(const struct store_change *c);

#endif
