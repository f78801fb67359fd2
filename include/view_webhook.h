/* SPDX-License-Identifier: MIT
 *
 * The JSON body of one webhook event (issue 15), rendered once when the event
 * is stored, so every attempt sends (and signs) the same bytes. Part of the
 * view family: with view.c the only includers of json-c. Any thread.
 */
#ifndef WAYPOINTD_VIEW_WEBHOOK_H
#define WAYPOINTD_VIEW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "webhook_derive.h"

/* {"type":T,"timestamp":ISO of changed_ms,"event":ALIAS,"hook_timestamp_millis":changed_ms,"dc_id","route_id",
 *  "data":{"seq","customer_id",["waypoint_id"],[event fields],"waypoint":REST object}}; a removal has no
 * "waypoint" but "waypoint_id". w: the row as read (deleted: only its ids). malloc'd, NULL when out of memory. */
char *view_webhook_event(const struct webhook_derived *ev, int64_t seq, int64_t changed_ms, const struct waypoint *w,
                         size_t *len);

/* seq < 0 in view_webhook_event: "seq":null (an event of the time sweep,
 * which no change-log row made). */

/* {"type":"customer.location_confident","timestamp":ISO of changed_ms,"event":"CUSTOMER_LOCATION_CONFIDENT",
 *  "hook_timestamp_millis":changed_ms,"dc_id","route_id":null,"data":{"customer_id","location":{"latitude",
 *  "longitude"} or null (not confident, or no inferred location, when rendered),"customer":REST customer object}}.
 * The customer object is cut out of view_customer's output, byte for byte. malloc'd, NULL when out of memory. */
char *view_webhook_customer(const struct customer *c, int64_t changed_ms, size_t *len);

#endif
