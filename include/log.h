/* SPDX-License-Identifier: MIT
 *
 * The server's log on stderr: one line per event, as key=value pairs or as
 * JSON objects, at a chosen level. Our lines are formatted here, each in
 * its own buffer, and written whole; libwebsockets' own lines come in
 * through its emit hook (after lws formatted them in its one shared
 * 256-byte buffer: only those can be cut or mixed). The access log (one
 * line per HTTP answer) carries no credential: the Authorization header
 * and query strings (where browsers put access_token) are never written.
 */
#ifndef WAYPOINTD_LOG_H
#define WAYPOINTD_LOG_H

#include <stdint.h>

/* level: "error", "warn", "info" (the default) or "debug"; format: "text"
 * (key=value) or "json". 0, or -EINVAL for an unknown name. Call before the
 * service threads start. */
int log_setup(const char *level, const char *format, int access_log);

/* A message for the operator, one line at that level, shown when the level
 * set by log_setup() (info until then) includes it: in the server's format
 * once log_setup() ran, else as "waypointd: ..." on stderr (the
 * command-line tools). Never cut, whatever its length (only if memory runs
 * out, then it ends in "..."); a trailing newline is dropped. Written with
 * one write(2) under a lock, so lines from any threads never mix. Any
 * thread. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 1 when access logging is on. */
int log_access_enabled(void);

struct log_access {
    const char *peer;   /* client address */
    const char *proto;  /* "h1" or "h2" */
    const char *method;
    const char *path;   /* decoded, without the query string */
    int status;
    uint64_t bytes;     /* body bytes of the answer (0 for files: unknown here) */
    int64_t us;         /* from the request's arrival to its answer being ready */
};

/* One access line (when enabled). Any thread. */
void log_access(const struct log_access *a);

#endif
