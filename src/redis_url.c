/* SPDX-License-Identifier: MIT
 *
 * The cluster's Redis address and connection (redis_url.h). The parse is
 * pure; redis_connect is the only code here that talks to Redis.
 */
#include "redis_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

void redis_addr_clear(struct redis_addr *a)
{
    free(a->host);
    free(a->user);
    free(a->password);
    memset(a, 0, sizeof(*a));
}

const char *redis_addr_describe(const struct redis_addr *a, char *buf, size_t cap)
{
    if (a->dbnum > 0)
        snprintf(buf, cap, "redis://%s:%d/%d", a->host, a->port, a->dbnum);
    else
        snprintf(buf, cap, "redis://%s:%d", a->host, a->port);
    return buf;
}

/* "[USER]:PASSWORD" before the last '@' of the authority. */
static int parse_userinfo(const char *p, size_t n, struct redis_addr *a)
{
    const char *colon = memchr(p, ':', n);

    if (!colon || colon + 1 == p + n)
        return -EINVAL; /* the password is what AUTH needs; a user alone is not enough */
    if (colon > p && !(a->user = strndup(p, (size_t)(colon - p))))
        return -ENOMEM;
    a->password = strndup(colon + 1, (size_t)(p + n - colon - 1));
    return a->password ? 0 : -ENOMEM;
}

static int parse(const char *url, struct redis_addr *a)
{
    const char *p, *at, *colon, *slash;
    char *end = NULL;
    long v;
    int rc;

    if (strncmp(url, "redis://", 8))
        return -EINVAL;
    p = url + 8;
    slash = strchr(p, '/');
    at = NULL;
    for (const char *q = p; *q && (!slash || q < slash); q++)
        if (*q == '@')
            at = q;
    if (at) {
        if ((rc = parse_userinfo(p, (size_t)(at - p), a)))
            return rc;
        p = at + 1;
    }
    colon = strrchr(p, ':');
    if (!colon || colon == p || (slash && colon > slash))
        return -EINVAL;
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
        return -EINVAL;
    a->port = (int)v;
    if (*end == '/') {
        const char *d = end + 1;

        errno = 0;
        v = strtol(d, &end, 10);
        if (errno || end == d || *end || v < 0 || v > 1000000)
            return -EINVAL;
        a->dbnum = (int)v;
    }
    a->host = strndup(p, (size_t)(colon - p));
    return a->host ? 0 : -ENOMEM;
}

int redis_url_parse(const char *url, struct redis_addr *a)
{
    const char *env = getenv("WAYPOINTD_REDIS_PASSWORD");
    int rc;

    memset(a, 0, sizeof(*a));
    rc = parse(url, a);
    if (!rc && !a->password && env && *env && !(a->password = strdup(env)))
        rc = -ENOMEM;
    if (rc)
        redis_addr_clear(a);
    return rc;
}

/* One command that must not answer with an error. */
static int ok(redisContext *c, redisReply *rep, char *why, size_t cap, const char *what)
{
    int good = rep && rep->type != REDIS_REPLY_ERROR;

    if (!good)
        snprintf(why, cap, "%s: %s", what, rep ? rep->str : c->errstr);
    if (rep)
        freeReplyObject(rep);
    return good;
}

redisContext *redis_connect(const struct redis_addr *a, int read_s, char *why, size_t cap)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);

    if (!c || c->err) {
        snprintf(why, cap, "%s", c ? c->errstr : "out of memory");
        goto fail;
    }
    tv.tv_sec = read_s;
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, cap, "cannot set timeouts: %s", c->errstr);
        goto fail;
    }
    if (a->password && !(a->user ? ok(c, redisCommand(c, "AUTH %s %s", a->user, a->password), why, cap, "AUTH")
                                 : ok(c, redisCommand(c, "AUTH %s", a->password), why, cap, "AUTH")))
        goto fail;
    if (a->dbnum > 0 && !ok(c, redisCommand(c, "SELECT %d", a->dbnum), why, cap, "SELECT"))
        goto fail;
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}
