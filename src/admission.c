/* SPDX-License-Identifier: MIT
 *
 * Admission, below both transports (HTTP in http.c, WebSocket and event
 * streams in sse.c): where a request's credential is (the Authorization
 * header, or access_token for what a browser cannot give headers to), who
 * the client and the credential are for the rate limits, the rate-limit
 * glue over ratelimit.c, and the Origin policy (CORS for the API, the
 * cross-site check for upgrades). Whether a credential is valid is auth.c's;
 * what to answer is the caller's. Runs on the service thread that owns the
 * wsi; the rate-limit tables are shared and locked by ratelimit.c.
 */
#include "admission.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <libwebsockets.h>

#include "auth.h"
#include "ratelimit.h"
#include "vhost.h"

int admission_credential(struct lws *wsi, int allow_query, char *out, size_t cap)
{
    char token[AUTH_TOKEN_MAX];
    int rc = -ENOENT;

    if (lws_hdr_copy(wsi, out, (int)cap, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
        return 0;
    /* Browsers cannot set headers on a WebSocket: they pass the token in
     * the query. It is never logged. */
    if (allow_query && lws_get_urlarg_by_name(wsi, "access_token=", token, sizeof(token))) {
        const char *v = strchr(token, '=') ? strchr(token, '=') + 1 : token;

        if (*v && lws_snprintf(out, cap, "Bearer %s", v) < (int)cap - 1)
            rc = 0;
    }
    lws_explicit_bzero(token, sizeof(token));
    return rc;
}

/* IPv4 ids carry a /64 prefix (ffff:ffff::/32, multicast) that no IPv6 peer
 * can have; an address we cannot read is one id of its own. */
#define ADMISSION_PEER_V4 0xFFFFFFFF00000000ull
#define ADMISSION_PEER_UNKNOWN 0xFFFFFFFEFFFFFFFFull

static uint64_t be_bytes(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

uint64_t admission_peer_id(struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;

    /* The address itself, not a hash of it: two clients never share a
     * bucket by accident or on purpose (the table's own hash is keyed). */
    if (getpeername(lws_get_socket_fd(lws_get_network_wsi(wsi)), (struct sockaddr *)&ss, &len))
        return ADMISSION_PEER_UNKNOWN;
    if (ss.ss_family == AF_INET)
        return ADMISSION_PEER_V4 | be_bytes((const uint8_t *)&v4->sin_addr, 4);
    if (ss.ss_family != AF_INET6)
        return ADMISSION_PEER_UNKNOWN;
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
        return ADMISSION_PEER_V4 | be_bytes(v6->sin6_addr.s6_addr + 12, 4);
    /* One IPv6 host usually holds a whole /64: limit the prefix. */
    return be_bytes(v6->sin6_addr.s6_addr, 8);
}

/* getpeername() costs a system call: only when a per-address limit is on. */
uint64_t admission_peer_id_if_limited(struct lws *wsi, const struct vhost_state *conf)
{
    return conf->shared->rl_addr ? admission_peer_id(wsi) : 0;
}

uint64_t admission_cred_id(const char *bearer)
{
    uint64_t id;

    if (!bearer)
        return 0;
    id = ratelimit_hash(bearer, strlen(bearer));
    return id ? id : 1; /* 0 means "no credential" */
}

int admission_rate_check(const struct vhost_state *conf, uint64_t peer_id, uint64_t cred_id)
{
    int64_t now;
    int wait;

    if (!conf->shared->rl_addr && !conf->shared->rl_key)
        return 0;
    now = lws_now_usecs();
    wait = ratelimit_check(conf->shared->rl_addr, peer_id, now);
    if (!wait && cred_id)
        wait = ratelimit_check(conf->shared->rl_key, cred_id, now);
    return wait;
}

void admission_rate_fail(const struct vhost_state *conf, uint64_t peer_id)
{
    if (conf->shared->rl_addr)
        ratelimit_take(conf->shared->rl_addr, peer_id, lws_now_usecs());
}

int admission_rate_take(const struct vhost_state *conf, uint64_t cred_id)
{
    return conf->shared->rl_key && cred_id ? ratelimit_take(conf->shared->rl_key, cred_id, lws_now_usecs()) : 0;
}

/* 1 when origin is one of --allow-origin's. */
int admission_origin_listed(const struct vhost_state *conf, const char *origin)
{
    for (int i = 0; i < conf->shared->n_allow_origins; i++)
        if (!strcasecmp(origin, conf->shared->allow_origins[i]))
            return 1;
    return 0;
}

int admission_cors_origin(struct lws *wsi, const struct vhost_state *conf, char *out, size_t cap)
{
    char origin[256];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 0;
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 || !admission_origin_listed(conf, origin))
        return -EPERM;
    lws_strncpy(out, origin, cap);
    return 0;
}

/* A browser page may open /live only from our own origin or an allowed one
 * (cross-site WebSocket hijacking). Clients that send no Origin are not
 * browsers and are let through. 1 when allowed. */
int admission_origin_allowed(struct lws *wsi, const struct vhost_state *conf)
{
    char origin[256], host[256], own[272];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 1;
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return 0; /* too long to be one we allow */
    if (admission_origin_listed(conf, origin))
        return 1;
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0 &&
        lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HTTP_COLON_AUTHORITY) <= 0)
        return 0;
    lws_snprintf(own, sizeof(own), "https://%s", host);
    return !strcasecmp(origin, own);
}
