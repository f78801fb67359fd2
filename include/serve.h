/* SPDX-License-Identifier: MIT
 *
 * The server: service threads with one lws context and one store each,
 * TLS settings, signals. Runs until SIGINT or SIGTERM.
 */
#ifndef WAYPOINTD_SERVE_H
#define WAYPOINTD_SERVE_H

#include <stddef.h>

struct serve_config {
    const char *db_path;
    const char *host;
    int port;
    const char *cert_path;
    const char *key_path;
    const char *www_root;
    int threads;
    long long log_keep_rows;    /* change-log retention, see feed.h */
    long long log_keep_seconds;
    int ws_ping_secs;           /* WebSocket liveness, see channel.h */
    int ws_hangup_secs;
};

/* Check that cert and key are readable PEM and belong together. 0, or a
 * negative errno with a one-line reason in err. */
int serve_check_tls(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Serve until SIGINT/SIGTERM. Prints "listening on https://HOST:PORT" when
 * ready. Returns 0 after a clean stop, a negative errno (reason on stderr). */
int serve_run(const struct serve_config *cfg);

#endif
