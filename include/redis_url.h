/* SPDX-License-Identifier: MIT
 *
 * The cluster's Redis as the command line gives it,
 * redis://[[USER]:PASSWORD@]HOST:PORT[/DB] (relay --redis, serve
 * --replica-of), and a connection to it with the timeouts, AUTH and SELECT
 * both sides need. Without a password in the URL, WAYPOINTD_REDIS_PASSWORD
 * (when set) is used: a URL on a command line is visible to every local
 * user in ps.
 */
#ifndef WAYPOINTD_REDIS_URL_H
#define WAYPOINTD_REDIS_URL_H

#include <stddef.h>

struct redisContext;

struct redis_addr {
    char *host;     /* malloc'd: redis_addr_clear frees them */
    int port;       /* 1 to 65535 */
    int dbnum;      /* 0 when not given */
    char *user;     /* NULL: none (AUTH with the password alone) */
    char *password; /* NULL: no AUTH */
};

/* Parse url into *a. 0, -EINVAL (not such a URL; *a is left empty) or
 * -ENOMEM. */
int redis_url_parse(const char *url, struct redis_addr *a);
void redis_addr_clear(struct redis_addr *a);
/* "redis://HOST:PORT[/DB]" for messages: never the user or password. */
const char *redis_addr_describe(const struct redis_addr *a, char *buf, size_t cap);

/* Connect (2 s to connect), set read and write timeouts of read_s seconds,
 * AUTH and SELECT when a asks for them. The context, or NULL with why
 * (cap bytes) filled. The caller frees it (redisFree); sync API, on the
 * caller's own thread. */
struct redisContext *redis_connect(const struct redis_addr *a, int read_s, char *why, size_t cap);

#endif
