/* SPDX-License-Identifier: MIT
 *
 * The per-thread sweep of live sessions, every SWEEP_MS: liveness
 * (WebSocket pings and hang-ups, SSE heartbeats), the send timeout of a
 * subscriber that stopped reading, expired tracking tokens, a rotated token
 * secret, revoked keys and tokens. It decides; ending a session is
 * channel.c's (vhd->end_session), closing a wsi lws's. Runs on the
 * service thread that owns the sessions, from an lws timer.
 */
#include "sweep.h"

#include <errno.h>
#include <string.h>

#include <libwebsockets.h>

#include "auth.h"
#include "cache.h"
#include "channel_int.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "vhost.h"

/* Is the session's key still good? Looked up again only when the database
 * changed since the last sweep (a revocation is a change), and once per key
 * per sweep however many sessions share it. 1 revoked, 0 good, <0 unknown. */
static int key_revoked(struct vhd_channel *vhd, const struct pss_channel *p, int use_cache)
{
    unsigned char k[1 + STORE_KEY_HASH_LEN], verdict;
    struct cache *cache = use_cache ? vhd->conf->cache : NULL;
    const unsigned char *hit;
    struct store_key key;
    size_t len;
    int rc;

    k[0] = 'S';
    memcpy(k + 1, p->cred.key_hash, STORE_KEY_HASH_LEN);
    if (cache && (hit = cache_get(cache, k, sizeof(k), &len)) && len == 1)
        return hit[0];
    rc = store_key_lookup(vhd->conf->store, p->cred.key_hash, &key);
    if (rc && rc != -ENOENT)
        return rc;
    verdict = rc == -ENOENT || key.revoked;
    if (cache)
        cache_put(cache, k, sizeof(k), &verdict, 1);
    return verdict;
}

/* Was the session's tracking token revoked (issue 12)? Asked, like keys,
 * only when the database changed; the verdict is cached per token. */
static int token_revoked(struct vhd_channel *vhd, const struct pss_channel *p, int use_cache)
{
    return auth_token_revoked(vhd->conf->store, use_cache ? vhd->conf->cache : NULL, &p->cred);
}

/* Ping a peer silent for ping_secs; drop one silent for hangup_secs (its
 * pongs count as life). */
static void liveness(const struct vhost_state *conf, struct pss_channel *p, int64_t now)
{
    int64_t silent = now - p->last_rx_ms;

    if (p->sse) { /* the client never speaks: send a heartbeat comment instead */
        if (now - p->last_tx_ms >= SWEEP_SSE_HEARTBEAT_SECS * 1000 && !p->ping_due) {
            p->ping_due = 1;
            lws_callback_on_writable(p->wsi);
        }
        return;
    }
    if (silent >= (int64_t)conf->shared->ws_hangup_secs * 1000) {
        /* Not in the wsi's own callback: ask lws to close it for us. */
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else if (silent >= (int64_t)conf->shared->ws_ping_secs * 1000 && !p->ping_due) {
        p->ping_due = 1;
        lws_callback_on_writable(p->wsi);
    }
}

/* Was the token secret rotated (docs/api.md)? Read again when the database
 * changed; 1 once this thread holds a new one. The thread's HTTP and
 * WebSocket checks use the same copy, so every token session on the thread
 * at this moment was checked with the old secret. */
static int secret_rotated(struct vhd_channel *vhd, int64_t version)
{
    struct auth_secret *sec = vhd->conf->secret_state;
    int rc = sec ? auth_secret_sync(sec, vhd->conf->store, version) : 0;

    if (rc > 0)
        log_info("tracking tokens: the token secret changed; tokens signed with the old one are refused");
    return rc > 0;
}

/* Every SWEEP_MS: liveness, expired tokens, a rotated token secret,
 * revoked keys and tokens. */
static void sweep(lws_sorted_usec_list_t *sul);

void sweep_schedule(struct vhd_channel *vhd)
{
    lws_sul_schedule(vhd->context, 0, &vhd->sweep, sweep, SWEEP_MS * LWS_US_PER_MS);
}

static void sweep(lws_sorted_usec_list_t *sul)
{
    struct vhd_channel *vhd = lws_container_of(sul, struct vhd_channel, sweep);
    int64_t now = clock_mono_ms(), wall = auth_now_ms(), version = -1;
    int check_keys = 1, rotated = 0;

    /* Also without sessions: REST takes the thread's secret from here. */
    if (!store_data_version(vhd->conf->store, &version)) {
        rotated = secret_rotated(vhd, version);
        if (vhd->sessions) {
            check_keys = version != vhd->keys_version;
            vhd->keys_version = version;
            if (vhd->conf->cache)
                cache_sync(vhd->conf->cache, version);
        }
    }
    for (struct pss_channel *p = vhd->sessions; p; p = p->next) {
        if (p->stalled_ms && now - p->stalled_ms >= (int64_t)vhd->conf->shared->ws_send_timeout_secs * 1000) {
            /* It stopped reading: its queue (bounded) would wait forever. */
            log_info("live: dropping a subscriber that read nothing for %d s", vhd->conf->shared->ws_send_timeout_secs);
            p->stalled_ms = 0;
            metrics_refused(vhd->conf->metrics, METRICS_REFUSE_SEND_TIMEOUT);
            lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            continue;
        }
        if (p->closing)
            continue;
        liveness(vhd->conf, p, now);
        if (p->cred.kind == AUTH_TOKEN && p->cred.token.expires_ms <= wall)
            vhd->end_session(vhd, p, "Tracking token expired");
        else if (p->cred.kind == AUTH_TOKEN && rotated)
            vhd->end_session(vhd, p, "Tracking token no longer valid: the token secret changed");
        else if (p->cred.kind == AUTH_TOKEN && check_keys && token_revoked(vhd, p, version >= 0) == 1)
            vhd->end_session(vhd, p, "Tracking token revoked");
        else if (p->cred.kind == AUTH_KEY && check_keys && key_revoked(vhd, p, version >= 0) == 1)
            vhd->end_session(vhd, p, "API key revoked");
    }
    sweep_schedule(vhd);
}
