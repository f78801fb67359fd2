/* SPDX-License-Identifier: MIT
 *
 * JSON in and out: renders the API's bodies from model structs and parses
 * request bodies. view.c is the only file that includes json-c. Every render
 * returns a malloc'd NUL-terminated string (length in *len) or NULL when out
 * of memory; the caller frees it.
 */
#ifndef WAYPOINTD_VIEW_H
#define WAYPOINTD_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The contract's error code for "Customer location not confident". */
#define VIEW_CODE_NOT_CONFIDENT 7001

char *view_customer(const struct customer *c, size_t *len);
/* Only meaningful when c->location_confident and c->inferred.present. */
char *view_confident_location(const struct customer *c, size_t *len);
char *view_waypoints(const struct waypoint *w, size_t n, size_t *len);
char *view_error(int code, const char *message, size_t *len);
char *view_token(const char *token, int64_t expires_ms, size_t *len);

/* Parse the optional tracking-token body {"ttl_seconds":N}. An empty body
 * leaves *ttl unchanged. 0, or -EINVAL for anything else than an object whose
 * ttl_seconds (if present) is an integer in [min, max]. */
int view_parse_ttl(const char *body, size_t len, long min, long max, long *ttl);

#endif
