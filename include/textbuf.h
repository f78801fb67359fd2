/* SPDX-License-Identifier: MIT
 *
 * A growing text buffer for rendering (the /metrics exposition). On
 * allocation failure it stops growing and remembers, so rendering code need
 * not check every append; the caller checks `failed` once at the end.
 */
#ifndef WAYPOINTD_TEXTBUF_H
#define WAYPOINTD_TEXTBUF_H

#include <stddef.h>

struct textbuf {
    char *buf;  /* malloc'd, NUL-terminated once anything was appended; the caller frees it */
    size_t len, cap;
    int failed; /* an append could not grow the buffer: the text is incomplete */
};

/* Append printf-style text. */
void textbuf_put(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
