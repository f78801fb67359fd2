/* SPDX-License-Identifier: MIT */
/* Reference checks of path.c for fuzz_routes (path_ref.c). */
#ifndef WAYPOINTD_FUZZ_PATH_REF_H
#define WAYPOINTD_FUZZ_PATH_REF_H

#include <stddef.h>
#include <stdint.h>

struct path_match;

/* path_utf8_valid and path_id_valid on data[0..size) against Unicode's
 * table 3-7 of well-formed UTF-8; utf8_dup_repaired against the WHATWG
 * UTF-8 decoder (one U+FFFD per maximal subpart). */
void check_utf8(const uint8_t *data, size_t size);
/* m, from path_match(path), against splitting path on '/'. */
void check_path_match(const char *path, const struct path_match *m);
/* path_static_file into buffers of exactly 1024 and small_cap bytes against
 * ref_static_file. */
void check_static_file(const char *path, size_t small_cap);
/* The file a static path names, or NULL when it must be refused; malloc'd. */
char *ref_static_file(const char *path);

#endif
