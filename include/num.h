/* SPDX-License-Identifier: MIT
 *
 * Bounded integers for the command line: a strict decimal parser that
 * checks a range, and saturating arithmetic, so that a large value an
 * operator gives ("keep the log for 100 years") can never wrap around into
 * a small or negative one. Pure; any thread.
 */
#ifndef WAYPOINTD_NUM_H
#define WAYPOINTD_NUM_H

#include <stdint.h>

/* Parse s, a whole decimal integer (an optional sign, then digits, nothing
 * before or after), into *out if it lies in [min, max]. Returns 0, -EINVAL
 * (not such a number) or -ERANGE (a number outside [min, max], however
 * large); *out is untouched on failure. */
int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parse s, a finite decimal number, into *out if it lies in [min, max].
 * 0, -EINVAL or -ERANGE as num_parse_i64. */
int num_parse_double(const char *s, double min, double max, double *out);

/* a + b, a - b, a * b, clamped to [INT64_MIN, INT64_MAX] instead of
 * overflowing. */
int64_t num_sat_add(int64_t a, int64_t b);
int64_t num_sat_sub(int64_t a, int64_t b);
int64_t num_sat_mul(int64_t a, int64_t b);

#endif
