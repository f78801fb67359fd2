/* SPDX-License-Identifier: MIT
 *
 * The server: service threads with one lws context and one store each,
 * TLS settings, signals. Runs until SIGINT or SIGTERM.
 */
#ifndef WAYPOINTD_SERVE_H
#define WAYPOINTD_SERVE_H

#include <stddef.h>

/* Defaults of serve --rate-limit-addr (failures per second per client
 * address) and --rate-limit-key (authenticated requests, upgrades, streams
 * and subscribes per second per credential); bursts of SERVE_RATE_BURST_SECS
 * seconds' worth. docs/security.md says why these figures. */
#define SERVE_RATE_ADDR_DEFAULT 20
#define SERVE_RATE_KEY_DEFAULT 1000
#define SERVE_RATE_BURST_SECS 10
/* Longest graceful stop before the remaining connections are cut. */
#define SERVE_DRAIN_SECS 5
/* Most --allow-origin values. */
#define SERVE_ORIGINS_MAX 64

#include "webhook_send.h"

struct serve_config {
    const char *db_path;
    const char *host;
    int port;
    const char *cert_path;
    const char *key_path;
    const char *www_root;
    const char *map_config;     /* JSON for /map-config.json (view_map_config); NULL: no basemap */
    int threads;
    long long log_keep_rows;    /* change-log retention, see source_sqlite.h */
    long long log_keep_seconds;
    int ws_ping_secs;           /* WebSocket liveness, see live.h */
    int ws_hangup_secs;
    int ws_send_timeout_secs;   /* drop a subscriber whose queue stalls this long */
    int max_subs;               /* subscriptions per WebSocket connection */
    double rate_addr;           /* requests per second per client address; 0: no limit */
    double rate_key;            /* and per credential */
    const char *const *allow_origins; /* browser Origins allowed on /live besides our own */
    int n_allow_origins;
    const char *log_level;      /* log.h; NULL: info */
    const char *log_format;     /* "text" or "json"; NULL: text */
    int access_log;             /* one line per HTTP answer */
    const char *metrics_host;   /* /metrics and /healthz on plain HTTP here; NULL: off */
    int metrics_port;
    const char *webhook_ca;     /* --webhook-ca; NULL: the system's CAs only */
    struct webhook_cidr webhook_allow[WEBHOOK_SEND_ALLOW_MAX]; /* --webhook-allow-private */
    size_t n_webhook_allow;
    int webhook_timeout_s;      /* 0: WEBHOOK_SEND_TIMEOUT_S */
};

/* Serve until SIGINT/SIGTERM, then stop gracefully: no new connections,
 * answers in flight finish, WebSocket clients get a 1001 close, all within
 * SERVE_DRAIN_SECS. SIGHUP reloads the certificate and key (a bad pair is
 * refused with a log line and the old one kept). Prints
 * "listening on https://HOST:PORT" when ready. Returns 0 after a clean stop,
 * a negative errno (reason on stderr). */
int serve_run(const struct serve_config *cfg);

#endif
