/* SPDX-License-Identifier: MIT
 *
 * The per-thread sweep of live sessions, every SWEEP_MS: liveness
 * (WebSocket pings and hang-ups, SSE heartbeats), the send timeout of a
 * subscriber that stopped reading, expired tracking tokens, a rotated token
 * secret, revoked keys and tokens. It decides; ending a session is
 * live.c's, closing it its transport's (session_ops). Runs on the service
 * thread that owns the sessions, from a timer of the WebSocket protocol's
 * (ws.c); nothing here knows lws.
 */
#include "sweep.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "cache.h"
#include "freshness.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "source.h"
#include "store.h"
#include "vhost.h"

/* Is the session's key still good? Looked up again only when the database
 * changed since the last sweep (a revocation is a change), and once per key
 * per sweep however many sessions share it. 1 revoked, 0 good, <0 unknown. */
static int key_revoked(struct live *lt, const struct session *p, int use_cache)
{
    unsigned char k[1 + STORE_KEY_HASH_LEN], verdict;
    struct cache *cache = use_cache ? lt->conf->cache : NULL;
    const unsigned char *hit;
    struct store_key key;
    size_t len;
    int rc;

    k[0] = 'S';
    memcpy(k + 1, p->cred.key_hash, STORE_KEY_HASH_LEN);
    if (cache && (hit = cache_get(cache, k, sizeof(k), &len)) && len == 1)
        return hit[0];
    rc = store_key_lookup(lt->conf->store, p->cred.key_hash, &key);
    if (rc && rc != -ENOENT)
        return rc;
    verdict = rc == -ENOENT || key.revoked;
    if (cache)
        cache_put(cache, k, sizeof(k), &verdict, 1);
    return verdict;
}

/* Was the session's tracking token revoked (issue 12)? Asked, like keys,
 * only when the database changed; the verdict is cached per token. */
static int token_revoked(struct live *lt, const struct session *p, int use_cache)
{
    return auth_token_revoked(lt->conf->store, use_cache ? lt->conf->cache : NULL, &p->cred);
}

/* The session's own delay of its pings, fixed for its life, in [0, spread_ms):
 * a multiplicative hash of its address (sessions are allocated apart, so
 * neighbours land far apart). Sessions that went quiet in the same second
 * (a reconnect wave, a benchmark) are pinged spread over spread_ms instead
 * of all in one sweep, and as each repeats with its own period their pings
 * drift further apart round after round. */
static int64_t ping_phase_ms(const struct session *p, int64_t spread_ms)
{
    uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15);

    return spread_ms > 0 ? (int64_t)((h >> 32) % (uint64_t)spread_ms) : 0;
}

/* WebSocket liveness (docs/live.md, "Flow control and liveness"). A connection that carried
 * anything in either direction within ping_secs needs no ping: what we
 * write proves the path (the kernel drops a peer that leaves it
 * unacknowledged: TCP_USER_TIMEOUT, listener.c), what it writes proves the
 * peer. A quiet one is pinged ping_secs plus its phase (< ping_secs / 4)
 * after the last traffic; one that answers nothing for hangup_secs -
 * ping_secs after that ping is dropped. A peer that only receives is never
 * pinged while changes flow, so it is never dropped for not speaking. */
static void liveness(const struct vhost_state *conf, struct session *p, int64_t now)
{
    int64_t ping_ms = (int64_t)conf->shared->ws_ping_secs * 1000, last;

    if (p->tx_mark) { /* the fan-out wrote since the last sweep */
        p->last_tx_ms = now;
        p->tx_mark = 0;
    }
    if (p->ops->heartbeat) { /* the client never speaks: send a heartbeat instead */
        if (now - p->last_tx_ms >= SWEEP_SSE_HEARTBEAT_SECS * 1000 && !p->ping_due) {
            p->ping_due = 1;
            p->ops->wake(p);
        }
        return;
    }
    if (p->ping_sent_ms && p->last_rx_ms < p->ping_sent_ms) { /* not answered yet: no other ping */
        if (now - p->ping_sent_ms >= (int64_t)(conf->shared->ws_hangup_secs - conf->shared->ws_ping_secs) * 1000)
            p->ops->kill(p);
        return;
    }
    last = p->last_rx_ms > p->last_tx_ms ? p->last_rx_ms : p->last_tx_ms;
    if (p->ping_due || now - last < ping_ms + ping_phase_ms(p, ping_ms / 4))
        return;
    /* The ping is traffic sent now: the next comes a period after it (or
     * after the pong), and the hang-up counts from it. */
    p->ping_sent_ms = p->last_tx_ms = now;
    switch (p->ops->ping ? p->ops->ping(p) : 0) {
    case 1:
        break;
    case 0: /* at the next writeable turn */
        p->ping_due = 1;
        p->ops->wake(p);
        break;
    default:
        p->closing = 2; /* the transport failed: it closes */
        p->ops->kill(p);
    }
}

/* Was the token secret rotated (docs/api.md)? Read again when the database
 * changed; 1 once this thread holds a new one. The thread's HTTP and
 * WebSocket checks use the same copy, so every token session on the thread
 * at this moment was checked with the old secret. */
static int secret_rotated(struct live *lt, int64_t version)
{
    struct auth_secret *sec = lt->conf->secret_state;
    int rc = sec ? auth_secret_sync(sec, lt->conf->store, version) : 0;

    if (rc > 0)
        log_info("tracking tokens: the token secret changed; tokens signed with the old one are refused");
    return rc > 0;
}

/* Every SWEEP_MS: liveness, expired tokens, a rotated token secret,
 * revoked keys and tokens. */
/* An edge cut off from the cluster: its sessions are sent elsewhere once
 * per episode; those that come back meanwhile (every node cut off) stay. */
static void cut_off(struct live *lt, int64_t now)
{
    struct source *src = lt->conf->shared->source;
    int cut = src && src->ops->cut_off && src->ops->cut_off(src, now);

    if (cut && !lt->cut_off) {
        log_warn("live: cut off from the cluster; closing live sessions (1012) so that they resume elsewhere");
        live_send_elsewhere(lt);
    }
    lt->cut_off = cut;
}

void sweep_run(struct live *lt, int64_t now, int64_t wall)
{
    int64_t version = -1;
    int check_keys = 1, rotated = 0, known = 0;

    cut_off(lt, now);
    /* Also without sessions: REST takes the thread's secret from here. */
    /* The same version as the thread's requests use (freshness.h): two
     * number spaces on one cache would empty it at every turn. */
    if (!freshness_version(lt->conf->shared->source, lt->conf->store, now, &version)) {
        known = 1; /* any value, negative too: a generation (freshness.h) */
        rotated = secret_rotated(lt, version);
        if (lt->sessions) {
            check_keys = version != lt->keys_version;
            lt->keys_version = version;
            if (lt->conf->cache)
                cache_sync(lt->conf->cache, version);
        }
    }
    for (struct session *p = lt->sessions; p; p = p->next) {
        if (p->stalled_ms && now - p->stalled_ms >= (int64_t)lt->conf->shared->ws_send_timeout_secs * 1000) {
            /* It stopped reading: its queue (bounded) would wait forever. */
            log_info("live: dropping a subscriber that read nothing for %d s", lt->conf->shared->ws_send_timeout_secs);
            p->stalled_ms = 0;
            metrics_refused(lt->conf->metrics, METRICS_REFUSE_SEND_TIMEOUT);
            p->ops->kill(p);
            continue;
        }
        if (p->closing)
            continue;
        liveness(lt->conf, p, now);
        if (p->cred.kind == AUTH_TOKEN && p->cred.token.expires_ms <= wall)
            live_end(lt, p, "Tracking token expired");
        else if (p->cred.kind == AUTH_TOKEN && rotated)
            live_end(lt, p, "Tracking token no longer valid: the token secret changed");
        else if (p->cred.kind == AUTH_TOKEN && check_keys && token_revoked(lt, p, known) == 1)
            live_end(lt, p, "Tracking token revoked");
        else if (p->cred.kind == AUTH_KEY && check_keys && key_revoked(lt, p, known) == 1)
            live_end(lt, p, "API key revoked");
    }
}
