/* SPDX-License-Identifier: MIT
 *
 * Pure request-path helpers: split an API path into its ids, validate ids,
 * and map a URL path onto a file below the static root without escaping it.
 */
#ifndef WAYPOINTD_PATH_H
#define WAYPOINTD_PATH_H

#include <stddef.h>

#include "model.h"

enum path_route {
    PATH_NONE = 0,          /* not under /dcs/: a static file */
    PATH_UNKNOWN,           /* under /dcs/ but no such resource */
    PATH_CUSTOMER,          /* /dcs/{dc}/customers/{c} */
    PATH_CONFIDENT,         /* /dcs/{dc}/customers/{c}/confident-location */
    PATH_WAYPOINTS,         /* /dcs/{dc}/customers/{c}/waypoints */
    PATH_TRACKING_TOKEN,    /* /dcs/{dc}/customers/{c}/tracking-token */
    PATH_EVENTS,            /* /dcs/{dc}/customers/{c}/waypoints/events (Server-Sent Events) */
};

struct path_match {
    enum path_route route;
    char dc_id[MODEL_ID_MAX + 1]; /* NUL-terminated; empty when bad_id */
    char customer_id[MODEL_ID_MAX + 1];
    int bad_id; /* 1: an id is empty, too long, not UTF-8 or holds a control character */
};

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int path_utf8_valid(const char *s, size_t len);

/* 1 when s[0..len) is an acceptable id: 1..MODEL_ID_MAX bytes of UTF-8
 * without control characters. */
int path_id_valid(const char *s, size_t len);

/* Classify a request path. libwebsockets hands us the path already
 * percent-decoded and with "." and ".." segments resolved, so ids are taken
 * as they are and never decoded twice. Fills m. */
void path_match(const char *path, struct path_match *m);

/* Map the URL path onto a file name relative to the static root: "/" becomes
 * "index.html"; any empty, "." or ".." segment, a segment starting with '.',
 * a backslash or a control byte is refused. Returns 0, or -EINVAL / -ENAMETOOLONG. */
int path_static_file(const char *path, char *out, size_t cap);

/* Static files below this prefix (after path_static_file) are Leaflet's,
 * served from the folder its Debian package installs (libjs-leaflet), not
 * from the static root: pages load it from their own origin, no CDN. */
#define PATH_LEAFLET_PREFIX "vendor/leaflet/"

/* For a file name from path_static_file: its name inside the Leaflet folder
 * when it is below PATH_LEAFLET_PREFIX (a pointer into file), else NULL. */
const char *path_static_leaflet(const char *file);

/* The MIME type for a file name, by extension; never NULL. */
const char *path_mime_type(const char *name);

#endif
