/* SPDX-License-Identifier: MIT
 *
 * The server's life: checks the certificate, opens the listeners, sets up
 * one service thread per --threads (service_thread.c), the bus and the
 * change source, starts the threads, then waits for SIGINT/SIGTERM on the
 * main thread (SIGHUP: certificate reload) and stops everything in an order
 * that is safe. Signals are blocked in every thread and taken with
 * sigwait(), so no code runs in signal context.
 */
#include "serve.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "admin.h"
#include "auth.h"
#include "bus.h"
#include "live.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"
#include "redis_url.h"
#include "replica.h"
#include "service_thread.h"
#include "snapmaker.h"
#include "source.h"
#include "source_replica.h"
#include "source_sqlite.h"
#include "tls.h"
#include "vhost.h"
#include "webhook_send.h"

#define SERVE_MAX_THREADS 64
/* Client addresses and credentials tracked by each rate limit. */
#define SERVE_RATE_IDS 65536

/* What every thread shares, from the options (defaults for those not given). */
static void shared_setup(struct vhost_shared *sh, const struct serve_config *cfg)
{
    sh->www_root = cfg->www_root;
    sh->map_config = cfg->map_config;
    sh->ws_ping_secs = cfg->ws_ping_secs > 0 ? cfg->ws_ping_secs : LIVE_PING_SECS;
    sh->ws_hangup_secs = cfg->ws_hangup_secs > 0 ? cfg->ws_hangup_secs : LIVE_HANGUP_SECS;
    if (sh->ws_hangup_secs <= sh->ws_ping_secs) /* ping before giving up */
        sh->ws_ping_secs = sh->ws_hangup_secs > 1 ? sh->ws_hangup_secs / 2 : 1;
    sh->ws_send_timeout_secs = cfg->ws_send_timeout_secs > 0 ? cfg->ws_send_timeout_secs : LIVE_SEND_TIMEOUT_SECS;
    sh->max_subs = cfg->max_subs > 0 ? cfg->max_subs : LIVE_SUBS_MAX;
    sh->allow_origins = cfg->allow_origins;
    sh->n_allow_origins = cfg->n_allow_origins;
}

/* Block the stop signals before any thread starts, so all inherit the mask
 * and only sigwait() in the main thread sees them. */
static void signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Waits on it are measured on the monotonic clock: a step of the wall
 * clock must not cut a graceful stop short or stretch it. */
static void control_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Wait (on the main thread, holding c->mu) until the fields add up to n
 * threads or the deadline passed. */
static void control_wait(struct control *c, const int *a, const int *b, int n, int secs)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += secs;
    while (*a + *b < n && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
}

/* SIGHUP: load and check the files, then have every thread install them. */
static void reload_tls(struct service_thread *threads, int n, const struct serve_config *cfg)
{
    struct control *c = threads[0].ctl;
    struct tls_material *m;
    char err[512];
    int failed;

    /* A refused or partial reload is an error: the operator asked for a new
     * certificate and is still serving the old one, which will expire. */
    if (tls_material_load(cfg->cert_path, cfg->key_path, &m, err, sizeof(err))) {
        log_error("SIGHUP: reload refused, keeping the current certificate: %s", err);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->tls = m;
    c->tls_gen++;
    c->tls_applied = c->tls_failed = 0;
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < n; i++)
        loop_notify(threads[i].loop);
    pthread_mutex_lock(&c->mu);
    control_wait(c, &c->tls_applied, &c->tls_failed, n, SERVE_DRAIN_SECS);
    failed = n - c->tls_applied;
    c->tls = NULL;
    pthread_mutex_unlock(&c->mu);
    /* A thread that has not run it yet by now finds tls NULL and skips. */
    tls_material_free(m);
    if (failed)
        log_error("SIGHUP: certificate %s not installed on %d of %d threads", cfg->cert_path, failed, n);
    else
        log_info("SIGHUP: reloaded certificate %s and key %s", cfg->cert_path, cfg->key_path);
}

/* Until SIGINT or SIGTERM (SIGHUP reloads); then drain every thread for
 * SERVE_DRAIN_SECS at most. The address lock goes when draining starts: the
 * threads close their listeners then, and a new server may take the port
 * while this one finishes what is in flight. */
static void run_until_stopped(struct service_thread *threads, int n, const struct serve_config *cfg,
                              const sigset_t *set, int *lock_fd)
{
    struct control *c = threads[0].ctl;
    static const int zero = 0;
    int sig = 0;

    while (sigwait(set, &sig) == 0 && sig == SIGHUP)
        reload_tls(threads, n, cfg);
    log_info("signal %d: stopping", sig);
    pthread_mutex_lock(&c->mu);
    c->drain = 1;
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < n; i++)
        loop_notify(threads[i].loop);
    close(*lock_fd);
    *lock_fd = -1;
    pthread_mutex_lock(&c->mu);
    control_wait(c, &c->drained, &zero, n, SERVE_DRAIN_SECS);
    if (c->drained < n)
        /* Clients were cut off mid-answer: worth a look, hence warn. */
        log_warn("stopping: %d of %d threads still busy after %d s; closing their connections", n - c->drained,
                 n, SERVE_DRAIN_SECS);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < n; i++)
        loop_stop(threads[i].loop);
}

/* The bus's wake-up: the only lws call that is safe from another thread. */
static void wake_thread(void *context)
{
    lws_cancel_service(context);
}

/* Once every context exists (the bus wakes them): the bus, the change
 * source started into it, each thread's side of the source: the database's
 * own watcher, or on an edge (rep) the replica's; then the snapshot worker
 * (counting into metrics). */
static int source_setup(struct service_thread *threads, int n, const struct serve_config *cfg,
                        struct vhost_shared *shared, struct replica *rep, struct metrics *metrics)
{
    struct source_sqlite_config sc = {cfg->db_path, cfg->log_keep_rows, cfg->log_keep_seconds};
    void *contexts[SERVE_MAX_THREADS];
    int rc;

    for (int i = 0; i < n; i++)
        contexts[i] = threads[i].context;
    /* Through 0 only until start, which sets where the source begins. */
    shared->bus = bus_new(n, 0, wake_thread, contexts);
    if (!shared->bus)
        return -ENOMEM;
    rc = rep ? source_replica_new(&sc, rep, &shared->source) : source_sqlite_new(&sc, &shared->source);
    if (!rc)
        rc = shared->source->ops->start(shared->source, shared->bus);
    for (int i = 0; i < n && !rc; i++)
        if (!(threads[i].conf.source_thread = shared->source->ops->thread_open(shared->source, i, threads[i].store)))
            rc = -ENOMEM;
    if (rc) {
        fprintf(stderr, "waypointd: cannot start the change source: %s\n", strerror(-rc));
        return rc;
    }
    /* Dispatchers' DC snapshots are read and rendered off the loops. */
    rc = snapmaker_start(cfg->db_path, shared->source, metrics, n, wake_thread, contexts, &shared->snapmaker);
    if (rc)
        fprintf(stderr, "waypointd: cannot start the snapshot worker: %s\n", strerror(-rc));
    return rc;
}

/* After the service threads have stopped taking: the snapshot worker,
 * their sides of the source, the source (it publishes into the bus, which
 * wakes their contexts: those are destroyed after this), then the bus. */
static void source_teardown(struct service_thread *threads, int n, struct vhost_shared *shared)
{
    snapmaker_stop(shared->snapmaker);
    for (int i = 0; i < n; i++)
        if (threads[i].conf.source_thread)
            shared->source->ops->thread_close(threads[i].conf.source_thread);
    if (shared->source)
        shared->source->ops->stop(shared->source);
    bus_free(shared->bus);
}

/* /metrics and /healthz, served by the first service thread. */
static int admin_start(struct service_thread *t, struct admin_conf *admin, const struct serve_config *cfg)
{
    struct lws_vhost *vh;

    admin->store = t->store;
    vh = admin_create(t->context, admin, cfg->metrics_host, cfg->metrics_port);
    if (!vh)
        return -EIO;
    log_info("metrics and health on http://%s:%d/metrics and /healthz", cfg->metrics_host,
              lws_get_vhost_listen_port(vh));
    return 0;
}

/* The two rate limits, shared by every thread (NULL: off). 0 or -ENOMEM. */
static int limits_new(const struct serve_config *cfg, struct ratelimit **addr, struct ratelimit **key)
{
    int e1, e2;

    *addr = ratelimit_new(cfg->rate_addr, SERVE_RATE_BURST_SECS * cfg->rate_addr, SERVE_RATE_IDS, &e1);
    *key = ratelimit_new(cfg->rate_key, SERVE_RATE_BURST_SECS * cfg->rate_key, SERVE_RATE_IDS, &e2);
    return e1 ? e1 : e2;
}

/* Webhook delivery runs where the database is: with the SQLite change
 * source, i.e. at the origin (an edge would not start it). */
static int webhooks_start(const struct serve_config *cfg, struct metrics *m, struct webhook_sender **out)
{
    struct webhook_send_config wc = {.db_path = cfg->db_path, .ca_file = cfg->webhook_ca,
                                     .nallow = cfg->n_webhook_allow, .timeout_s = cfg->webhook_timeout_s,
                                     .retention_ms = cfg->webhook_retention_days * 24LL * 3600 * 1000,
                                     .metrics = metrics_webhook(m)};

    memcpy(wc.allow, cfg->webhook_allow, sizeof(wc.allow));
    return webhook_send_start(&wc, out);
}

/* An edge: its applier, started and caught up (replica.h). */
static int edge_start(const struct serve_config *cfg, struct replica **rep)
{
    char shown[300];
    struct replica_options ro = {.url = redis_addr_describe(cfg->replica, shown, sizeof(shown)),
                                 .addr = cfg->replica, .db_path = cfg->db_path};

    if (log_setup(cfg->log_level, cfg->log_format, cfg->access_log))
        return -EINVAL;
    log_info("edge: replica %s of %s%s", cfg->db_path, ro.url,
             cfg->webhook_ca || cfg->n_webhook_allow ? " (webhook options ignored: the origin sends webhooks)" : "");
    return replica_start(&ro, rep);
}

int serve_run(const struct serve_config *cfg)
{
    struct service_thread *threads;
    struct vhost_shared shared = {0};
    struct tls_material *tls;
    struct control ctl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct admin_conf admin = {0};
    struct webhook_sender *webhooks = NULL;
    struct replica *rep = NULL;
    int fds[SERVE_MAX_THREADS], lock_fd = -1, port = 0, n = cfg->threads, rc = 0, i;
    char err[512];
    sigset_t set;

    if (n < 1 || n > SERVE_MAX_THREADS)
        return -EINVAL;
    control_cond_init(&ctl.cv);
    /* lws loads the files itself; this is to refuse a bad pair in one line. */
    rc = tls_material_load(cfg->cert_path, cfg->key_path, &tls, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "waypointd: %s\n", err);
        return rc;
    }
    tls_material_free(tls);
    /* An edge fills its replica before it listens: until then it has
     * nothing to serve. */
    if (cfg->replica_of && (rc = edge_start(cfg, &rep)))
        return rc;
    rc = listener_open(cfg->host, cfg->port, n, fds, &lock_fd, &port, err, sizeof(err));
    if (rc) {
        fprintf(stderr, strchr(cfg->host, ':') ? "waypointd: [%s]:%d: %s\n" : "waypointd: %s:%d: %s\n", cfg->host,
                cfg->port, err);
        replica_stop(rep);
        return rc;
    }
    threads = calloc((size_t)n, sizeof(*threads));
    if (!threads) {
        for (i = 0; i < n; i++)
            close(fds[i]);
        close(lock_fd);
        replica_stop(rep);
        return -ENOMEM;
    }
    signals_block(&set);
    if (log_setup(cfg->log_level, cfg->log_format, cfg->access_log))
        rc = -EINVAL;
    if (!rc)
        rc = limits_new(cfg, &shared.rl_addr, &shared.rl_key);
    shared_setup(&shared, cfg);
    admin.metrics = metrics_new(n);
    if (!admin.metrics)
        rc = -ENOMEM;
    else if (rep)
        metrics_set_replica(admin.metrics, rep);
    for (i = 0; i < n; i++) {
        threads[i].listen_fd = fds[i];
        threads[i].spare_fd = -1;
        threads[i].ctl = &ctl;
        threads[i].conf.shared = &shared;
        threads[i].conf.thread = i;
        threads[i].conf.metrics = metrics_thread(admin.metrics, i);
    }
    for (i = 0; i < n && !rc; i++)
        rc = service_thread_setup(&threads[i], cfg->db_path, cfg->cert_path, cfg->key_path);
    if (!rc && cfg->metrics_host)
        rc = admin_start(&threads[0], &admin, cfg);
    if (!rc)
        rc = source_setup(threads, n, cfg, &shared, rep, admin.metrics);
    if (!rc)
        admin.source = shared.source;
    if (!rc && !rep)
        rc = webhooks_start(cfg, admin.metrics, &webhooks);
    for (i = 0; i < n && !rc; i++) {
        rc = -pthread_create(&threads[i].tid, NULL, service_thread_main, &threads[i]);
        threads[i].started = !rc;
    }
    if (!rc) {
        /* An IPv6 literal needs brackets in a URL. */
        printf(strchr(cfg->host, ':') ? "listening on https://[%s]:%d\n" : "listening on https://%s:%d\n", cfg->host,
               port);
        fflush(stdout);
        run_until_stopped(threads, n, cfg, &set, &lock_fd); /* the signals blocked above */
    } else {
        for (i = 0; i < n; i++)
            if (threads[i].started)
                loop_stop(threads[i].loop);
    }
    webhook_send_stop(webhooks);
    for (i = 0; i < n; i++)
        if (threads[i].started)
            pthread_join(threads[i].tid, NULL);
    source_teardown(threads, n, &shared);
    replica_stop(rep);
    for (i = 0; i < n; i++)
        service_thread_teardown(&threads[i]);
    free(threads);
    if (lock_fd >= 0)
        close(lock_fd);
    ratelimit_free(shared.rl_addr);
    ratelimit_free(shared.rl_key);
    metrics_free(admin.metrics);
    tls_keys_forget();
    return rc;
}
