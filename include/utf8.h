/* SPDX-License-Identifier: MIT
 *
 * Pure UTF-8 repair for text other programs stored in the database: each
 * maximal ill-formed subpart becomes one U+FFFD, the rest is kept. No I/O;
 * any thread. (path_utf8_valid in path.h checks ids a client sends.)
 */
#ifndef WAYPOINTD_UTF8_H
#define WAYPOINTD_UTF8_H

#include <stddef.h>

/* The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* The well-formed length of the sequence at s[0..len) (len > 0): 1 to 4
 * for a whole character, or 0 with *bad set to the length of the maximal
 * subpart to replace with one U+FFFD (at least 1). */
size_t utf8_seq_len(const unsigned char *s, size_t len, size_t *bad);

/* The length of the longest well-formed prefix of s[0..len) that ends on a
 * character boundary: len when all of it is UTF-8 (Unicode table 3-7: no
 * overlongs, no surrogates, nothing past U+10FFFF). */
size_t utf8_valid_prefix(const char *s, size_t len);

/* Write s[0..len) to out with each maximal subpart of an ill-formed sequence
 * replaced by U+FFFD (Unicode 15 section 3.9 "U+FFFD Substitution of Maximal
 * Subparts", the WHATWG Encoding Standard's decoder). out must hold
 * utf8_repaired_len(s, len) bytes (3 * len always suffices); no NUL is added.
 * Returns the bytes written. */
size_t utf8_repair(const char *s, size_t len, char *out);

/* The length utf8_repair writes for s[0..len). */
size_t utf8_repaired_len(const char *s, size_t len);

/* A malloc'd repaired copy of s[0..len), NUL-terminated; NULL when out of
 * memory. The caller frees it. */
char *utf8_dup_repaired(const char *s, size_t len);

#endif
