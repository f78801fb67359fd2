/* SPDX-License-Identifier: MIT
 *
 * The webhook delivery thread (webhook_send.h). One loop: curl_multi_poll
 * for at most a tick, curl_multi_perform, finished transfers recorded, and
 * every tick a fill of each enabled endpoint's outbox and the start of what
 * is due. Everything that must survive a crash is in the database (the
 * outbox row stays 'pending' with its next time until an attempt succeeds),
 * so the thread keeps nothing but its transfers in memory.
 */
#include "webhook_send.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "log.h"
#include "metrics_webhook.h"
#include "store.h"
#include "store_webhooks.h"
#include "whsig.h"

/* Where Debian's OpenSSL looks for the system CAs by hash: kept as CAPATH
 * when --webhook-ca replaces curl's CA file, so the option adds CAs. */
#define SYSTEM_CA_DIR "/etc/ssl/certs"
#define USER_AGENT "waypointd/" WAYPOINTD_VERSION " (webhooks)"

struct xfer {
    struct webhook_sender *w;
    CURL *easy;
    struct curl_slist *headers;
    int64_t row;
    char endpoint_id[STORE_WEBHOOK_ID_SIZE];
    char *msg_id;
    char *body;
    int attempts;
    int64_t start_mono;
    char answer[STORE_WEBHOOK_ANSWER_MAX];
    size_t answer_len;
    char refused[128]; /* set by the open-socket callback */
    char errbuf[CURL_ERROR_SIZE];
};

struct webhook_sender {
    struct webhook_send_config cfg;
    struct store *store;
    CURLM *multi;
    pthread_t tid;
    atomic_int stop;
    struct xfer *inflight[WEBHOOK_SEND_MAX_INFLIGHT];
    size_t ninflight;
    unsigned rand_state;
    int64_t next_pending_mono; /* when to count the pending events again */
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t webhook_send_backoff_ms(int attempts)
{
    static const int64_t s[] = {5, 30, 120, 600, 1800, 3600};

    if (attempts < 1)
        attempts = 1;
    return 1000 * ((size_t)attempts <= sizeof(s) / sizeof(s[0]) ? s[attempts - 1] : 7200);
}

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    if (x->easy) {
        curl_multi_remove_handle(x->w->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->msg_id);
    free(x->body);
    free(x);
}

/* Keep the answer's first bytes; read (and drop) the rest. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n, room = sizeof(x->answer) - x->answer_len;

    memcpy(x->answer + x->answer_len, data, len < room ? len : room);
    x->answer_len += len < room ? len : room;
    return len;
}

/* The SSRF check, on the address curl is about to connect to: after DNS,
 * so a name that resolves (or rebinds) to a refused address is refused. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = arg;
    const char *why;
    char ip[INET6_ADDRSTRLEN] = "?";

    (void)purpose;
    why = webhook_addr_refused(&a->addr, x->w->cfg.allow, x->w->cfg.nallow);
    if (why) {
        if (a->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&a->addr)->sin_addr, ip, sizeof(ip));
        else if (a->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr, ip, sizeof(ip));
        snprintf(x->refused, sizeof(x->refused), "refused: %s is %s (--webhook-allow-private)", ip, why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int add_header(struct xfer *x, const char *name, const char *value)
{
    char line[512];
    struct curl_slist *l;

    snprintf(line, sizeof(line), "%s%s", name, value);
    if (!(l = curl_slist_append(x->headers, line)))
        return -ENOMEM;
    x->headers = l;
    return 0;
}

/* The request: signed now, with the endpoint's current keys. */
static int xfer_setup(struct xfer *x, const struct store_webhook *ep, const struct store_webhook_due *d)
{
    const struct webhook_send_config *c = &x->w->cfg;
    struct whsig_key keys[2];
    size_t nkeys = 0;
    int64_t now = wall_ms();
    char sig[2 * WHSIG_SIG_LEN + 2], ts[24];
    CURL *e;
    int rc;

    store_webhook_signing_keys(ep, now, keys, &nkeys);
    rc = whsig_header(keys, nkeys, d->msg_id, now / 1000, d->body, d->body_len, sig, sizeof(sig));
    memset(keys, 0, sizeof(keys));
    if (rc)
        return rc;
    snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000));
    if (add_header(x, "webhook-id: ", d->msg_id) || add_header(x, "webhook-timestamp: ", ts) ||
        add_header(x, "webhook-signature: ", sig) || add_header(x, "content-type: ", "application/json") ||
        add_header(x, "Expect:", "")) /* no 100-continue round trip */
        return -ENOMEM;
    if (!(x->easy = e = curl_easy_init()))
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, ep->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is a failure */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, SYSTEM_CA_DIR);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)(c->connect_timeout_s ? c->connect_timeout_s
                                                                              : WEBHOOK_SEND_CONNECT_TIMEOUT_S));
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)(c->timeout_s ? c->timeout_s : WEBHOOK_SEND_TIMEOUT_S));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    return curl_multi_add_handle(x->w->multi, e) == CURLM_OK ? 0 : -EIO;
}

static int in_flight(const struct webhook_sender *w, int64_t row)
{
    for (size_t i = 0; i < w->ninflight; i++)
        if (w->inflight[i]->row == row)
            return 1;
    return 0;
}

/* One due event: start it, unless it is in flight already (its row stays
 * the head of its waypoint's queue until recorded). */
static int start_one(const struct store_webhook_due *d, void *arg)
{
    struct webhook_sender *w = arg;
    struct store_webhook ep;
    struct xfer *x;
    int rc;

    if (w->ninflight == WEBHOOK_SEND_MAX_INFLIGHT)
        return 1; /* stop the listing */
    if (in_flight(w, d->row))
        return 0;
    if (store_webhook_get(w->store, d->endpoint_id, &ep))
        return 0; /* removed meanwhile: its rows went with it */
    x = calloc(1, sizeof(*x));
    if (x) {
        x->w = w;
        x->row = d->row;
        x->attempts = d->attempts;
        snprintf(x->endpoint_id, sizeof(x->endpoint_id), "%s", d->endpoint_id);
        x->msg_id = strdup(d->msg_id);
        x->body = malloc(d->body_len + 1);
        if (x->body)
            memcpy(x->body, d->body, d->body_len + 1);
    }
    rc = !x || !x->msg_id || !x->body ? -ENOMEM : xfer_setup(x, &ep, d);
    store_webhook_clear(&ep);
    if (rc) {
        log_error("%s: %s: %s", __func__, d->msg_id, strerror(-rc));
        xfer_free(x);
        return 0;
    }
    x->start_mono = clock_mono_ms();
    w->inflight[w->ninflight++] = x;
    return 0;
}

struct ids {
    char (*id)[STORE_WEBHOOK_ID_SIZE];
    size_t n, cap;
    int64_t head; /* the change log's head: an endpoint told up to it needs no fill */
};

static int collect_enabled(const struct store_webhook *ep, void *arg)
{
    struct ids *ids = arg;

    if (!ep->enabled || ep->log_seq >= ids->head)
        return 0;
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? 2 * ids->cap : 16;
        void *p = realloc(ids->id, cap * sizeof(*ids->id));

        if (!p)
            return -ENOMEM;
        ids->id = p;
        ids->cap = cap;
    }
    memcpy(ids->id[ids->n++], ep->id, STORE_WEBHOOK_ID_SIZE);
    return 0;
}

static int pending_one(const char *endpoint_id, int64_t pending, int64_t oldest_ms, void *arg)
{
    metrics_webhook_pending_add(arg, endpoint_id, pending, oldest_ms);
    return 0;
}

/* Each enabled endpoint behind the log: its outbox filled; then what is due. */
static void tick(struct webhook_sender *w)
{
    struct ids ids = {0};
    struct store_webhook_fill f;
    struct store_log_head head;
    int64_t now = wall_ms();

    /* A fill is a write transaction: only for endpoints behind the log, so
     * an idle server does not take the write lock five times a second. */
    if (!store_log_head(w->store, &head))
        ids.head = head.head;
    if (ids.head && !store_webhook_list(w->store, collect_enabled, &ids))
        for (size_t i = 0; i < ids.n; i++)
            if (!store_webhook_outbox_fill(w->store, ids.id[i], now, WEBHOOK_SEND_FILL_MAX, &f) && f.events) {
                log_debug("webhooks: %s: %zu events queued from %zu changes", ids.id[i], f.events, f.changes);
                metrics_webhook_queued(w->cfg.metrics, f.events);
            }
    free(ids.id);
    if (w->ninflight < WEBHOOK_SEND_MAX_INFLIGHT)
        store_webhook_due_list(w->store, now, WEBHOOK_SEND_MAX_INFLIGHT, start_one, w);
    if (w->cfg.metrics && clock_mono_ms() >= w->next_pending_mono) {
        metrics_webhook_pending_begin(w->cfg.metrics);
        if (!store_webhook_pending(w->store, pending_one, w->cfg.metrics))
            metrics_webhook_pending_publish(w->cfg.metrics);
        w->next_pending_mono = clock_mono_ms() + METRICS_WEBHOOK_PENDING_MS;
    }
}

/* The next attempt after this failure: the receiver's Retry-After when it
 * gave one (capped), else the schedule with +-20% jitter, so receivers
 * coming back are not hit by every sender at once. */
static int64_t retry_in_ms(struct webhook_sender *w, struct xfer *x)
{
    curl_off_t after = 0;
    int64_t base;

    if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
        return 1000 * (int64_t)(after < WEBHOOK_SEND_RETRY_AFTER_MAX_S ? after : WEBHOOK_SEND_RETRY_AFTER_MAX_S);
    base = webhook_send_backoff_ms(x->attempts + 1);
    return base - base / 5 + (int64_t)(rand_r(&w->rand_state) % (unsigned)(2 * base / 5 + 1));
}

static void finish(struct webhook_sender *w, struct xfer *x, CURLcode code)
{
    struct store_webhook_attempt a = {.row = x->row, .endpoint_id = x->endpoint_id, .msg_id = x->msg_id};
    long status = 0;
    int disabled = 0;

    a.attempt_ms = wall_ms();
    a.latency_ms = clock_mono_ms() - x->start_mono;
    if (code == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    a.status = (int)status;
    if (x->refused[0])
        a.error = x->refused;
    else if (code == CURLE_OPERATION_TIMEDOUT)
        a.error = "timeout";
    else if (code != CURLE_OK)
        a.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    a.answer = x->answer;
    a.answer_len = x->answer_len;
    a.delivered = code == CURLE_OK && status >= 200 && status < 300;
    a.gone = code == CURLE_OK && status == 410;
    if (!a.delivered)
        a.next_ms = a.attempt_ms + retry_in_ms(w, x);
    if (store_webhook_attempt_record(w->store, &a, &disabled))
        disabled = 0;
    metrics_webhook_attempt(w->cfg.metrics, a.delivered ? METRICS_WEBHOOK_OK
                                            : disabled  ? METRICS_WEBHOOK_DISABLED
                                                        : METRICS_WEBHOOK_FAILED,
                            a.latency_ms);
    if (disabled)
        log_warn("webhooks: endpoint %s disabled: %s", x->endpoint_id,
                 a.gone ? "the receiver answered 410 Gone" : "every delivery failed for 24 h");
    if (a.delivered)
        return;
    if (a.error)
        log_info("webhooks: %s %s: attempt %d: %s", x->endpoint_id, x->msg_id, x->attempts + 1, a.error);
    else
        log_info("webhooks: %s %s: attempt %d: HTTP %d", x->endpoint_id, x->msg_id, x->attempts + 1, a.status);
}

static void reap(struct webhook_sender *w)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(w->multi, &left))) {
        struct xfer *x = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finish(w, x, m->data.result);
        for (size_t i = 0; i < w->ninflight; i++)
            if (w->inflight[i] == x) {
                w->inflight[i] = w->inflight[--w->ninflight];
                break;
            }
        xfer_free(x);
    }
}

static void *sender_main(void *arg)
{
    struct webhook_sender *w = arg;
    int64_t next_tick = 0;
    int running;

    while (!atomic_load(&w->stop)) {
        int64_t now = clock_mono_ms();

        if (now >= next_tick) {
            tick(w);
            next_tick = now + WEBHOOK_SEND_TICK_MS;
        }
        curl_multi_perform(w->multi, &running);
        reap(w);
        now = clock_mono_ms();
        curl_multi_poll(w->multi, NULL, 0, next_tick > now ? (int)(next_tick - now) : 0, NULL);
    }
    /* Abandoned transfers stay pending in the database. */
    for (size_t i = 0; i < w->ninflight; i++)
        xfer_free(w->inflight[i]);
    w->ninflight = 0;
    return NULL;
}

int webhook_send_start(const struct webhook_send_config *cfg, struct webhook_sender **out)
{
    struct webhook_sender *w;
    char err[256];
    int rc;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return -EIO;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->cfg = *cfg;
    w->rand_state = (unsigned)wall_ms();
    rc = store_open(cfg->db_path, STORE_OPEN_EXISTING, &w->store, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "waypointd: webhooks: %s\n", err);
        goto fail;
    }
    if (!(w->multi = curl_multi_init())) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = -pthread_create(&w->tid, NULL, sender_main, w);
    if (rc)
        goto fail;
    *out = w;
    return 0;
fail:
    if (w->multi)
        curl_multi_cleanup(w->multi);
    store_close(w->store);
    free(w);
    return rc;
}

void webhook_send_stop(struct webhook_sender *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, 1);
    curl_multi_wakeup(w->multi);
    pthread_join(w->tid, NULL);
    curl_multi_cleanup(w->multi);
    store_close(w->store);
    free(w);
}
