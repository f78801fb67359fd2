/* SPDX-License-Identifier: MIT
 *
 * Private to view.c and view_live.c: the JSON pieces both render or parse
 * with. json-c's types stay opaque here, so including this header does not
 * include json-c.
 */
#ifndef WAYPOINTD_VIEW_INT_H
#define WAYPOINTD_VIEW_INT_H

#include <stddef.h>

#include "model.h"

struct json_object;

/* A new JSON string, or NULL (JSON null) for s == NULL. */
struct json_object *view_string_or_null(const char *s);
/* A double as the REST API writes it: the shortest of %.15g and %.17g that
 * reads back the same (37.77493 stays 37.77493, nothing is lost); NULL for
 * what JSON cannot carry (infinity, NaN: SQLite stores 9e999 as Inf). */
struct json_object *view_number(double d);
/* Exactly the contract's eight fields, in its order; NULL when out of memory. */
struct json_object *view_waypoint_object(const struct waypoint *w);
/* Parse len bytes as one complete JSON value, strictly (no single quotes,
 * leading zeros, trailing commas or trailing bytes), or NULL. The caller
 * owns the result (json_object_put). */
struct json_object *view_parse_json(const char *text, size_t len);

#endif
