/* SPDX-License-Identifier: MIT
 *
 * redis://HOST:PORT[/DB] into its parts (redis_url.h): the relay's --redis
 * and, later, an edge's --replica-of. Pure.
 */
#include "redis_url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int redis_url_parse(const char *url, char **host, int *port, int *dbnum)
{
    const char *p;
    const char *colon;
    char *end = NULL;
    long v;

    *host = NULL;
    if (strncmp(url, "redis://", 8))
        return -EINVAL;
    p = url + 8;
    colon = strrchr(p, ':');
    if (!colon || colon == p)
        return -EINVAL;
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
        return -EINVAL;
    *port = (int)v;
    *dbnum = 0;
    if (*end == '/') {
        const char *d = end + 1;

        errno = 0;
        v = strtol(d, &end, 10);
        if (errno || end == d || *end || v < 0 || v > 1000000)
            return -EINVAL;
        *dbnum = (int)v;
    }
    *host = strndup(p, (size_t)(colon - p));
    return *host ? 0 : -ENOMEM;
}
