/* SPDX-License-Identifier: MIT
 *
 * The server's life: checks the certificate, opens the listeners, starts one
 * service thread per --threads with its own lws context, vhost and SQLite
 * connection, then waits for SIGINT/SIGTERM on the main thread and stops the
 * threads cleanly. Signals are blocked in every thread and taken with
 * sigwait(), so no code runs in signal context.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
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
#include "cache.h"
#include "channel.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"
#include "source.h"
#include "source_sqlite.h"
#include "store.h"
#include "tls.h"
#include "vhost.h"

#define SERVE_MAX_THREADS 64
/* Cached reads per thread: keys, DC verdicts, rendered answers (cache.h). */
#define SERVE_CACHE_ENTRIES 4096
/* TLS 1.2 suites with forward secrecy only; TLS 1.3 suites are all ECDHE. */
#define SERVE_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
/* Stopping waits at least this long after it began and after the last
 * request began, for requests whose head is still on its way. */
#define SERVE_DRAIN_QUIET_US (1000 * 1000)
/* Client addresses and credentials tracked by each rate limit. */
#define SERVE_RATE_IDS 65536

/* Added by lws to every response it heads (ours and static files'): HTTPS
 * only, for a year (RFC 6797). Not includeSubDomains: other hosts under the
 * same name are not ours to decide for. */
static const struct lws_protocol_vhost_options hsts_header = {
    NULL, NULL, "strict-transport-security:", "max-age=31536000"};

/* What the main thread asks of the service threads, and their answers. */
struct control {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int drain;                       /* stop gracefully */
    int drained;                     /* threads done draining */
    const struct tls_material *tls;  /* certificate to install */
    int tls_gen;                     /* bumped with each new tls */
    int tls_applied, tls_failed;     /* threads done with tls_gen */
};

struct service_thread {
    struct vhost_state conf;  /* handed to the protocols as vhost user */
    struct control *ctl;
    int tls_gen;             /* the last certificate generation applied */
    lws_sorted_usec_list_t drain_sul;
    int64_t drain_since_us;  /* lws_now_usecs() when draining began */
    struct lws_protocols protocols[3];
    struct auth_secret secret; /* this thread's copy, see vhost.h */
    struct store *store;
    struct lws_context *context;
    struct lws_vhost *vhost;
    struct loop *loop;
    void *foreign_loops[1];
    int listen_fd;
    int spare_fd; /* kept open to refuse connections cleanly at EMFILE */
    pthread_t tid;
    int started;
};

/* On the thread: has everything in flight finished? Then stop the loop. */
static void drain_check(lws_sorted_usec_list_t *sul)
{
    struct service_thread *t = lws_container_of(sul, struct service_thread, drain_sul);

    /* A request whose head is still arriving is not busy yet: wait for a
     * quiet moment after the stop and after the last request began. */
    int64_t now = lws_now_usecs();

    if (channel_drain(t->vhost) > 0 || t->conf.http_busy > 0 || now - t->drain_since_us < SERVE_DRAIN_QUIET_US ||
        now - t->conf.http_last_start_us < SERVE_DRAIN_QUIET_US) {
        lws_sul_schedule(t->context, 0, &t->drain_sul, drain_check, 50 * LWS_US_PER_MS);
        return;
    }
    pthread_mutex_lock(&t->ctl->mu);
    t->ctl->drained++;
    pthread_cond_broadcast(&t->ctl->cv);
    pthread_mutex_unlock(&t->ctl->mu);
    loop_stop(t->loop);
}

/* On the thread: take no new connections (the kernel refuses those still
 * queued on our socket when it closes), then wait for the rest. */
static void drain_start(struct service_thread *t)
{
    t->conf.draining = 1;
    t->drain_since_us = lws_now_usecs();
    loop_unwatch(t->loop, t->listen_fd);
    close(t->listen_fd);
    t->listen_fd = -1;
    drain_check(&t->drain_sul);
}

/* On the thread, after loop_notify(): a certificate to install, a stop. */
static void on_control(void *arg)
{
    struct service_thread *t = arg;
    struct control *c = t->ctl;
    int drain;

    /* Applied under the lock: the main thread frees the material once the
     * threads are done or its wait ran out, never while one uses it. */
    pthread_mutex_lock(&c->mu);
    drain = c->drain;
    if (c->tls && c->tls_gen != t->tls_gen) {
        t->tls_gen = c->tls_gen;
        *(tls_material_apply(t->conf.ssl_ctx, c->tls) ? &c->tls_failed : &c->tls_applied) += 1;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (drain && !t->conf.draining)
        drain_start(t);
}

static void *service_main(void *arg)
{
    struct service_thread *t = arg;

    loop_run(t->loop);
    return NULL;
}

/* lws's per-connection liveness timers are off (a zero hang-up disables
 * them): lws 4.1 keeps every timer in one sorted list per thread and inserts
 * by linear scan, so with 15,000 subscribers each reschedule walks thousands
 * of entries. channel.c pings and hangs up from its per-thread sweep. */
static const lws_retry_bo_t no_lws_liveness = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

static struct lws_vhost *vhost_create(struct service_thread *t, const struct serve_config *cfg)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* listener.c accepts for us */
    info.vhost_name = "waypointd";
    info.protocols = t->protocols;
    info.user = &t->conf;
    info.retry_and_idle_policy = &no_lws_liveness;
    info.headers = &hsts_header;
    /* The server never makes TLS client connections. This option (no
     * listen_accept_role is set, so adoption is unchanged) is the one that
     * makes lws skip creating a client SSL_CTX per vhost, which lws 4.1 also
     * fails to free for every context but the first. */
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS |
                   LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    info.ssl_cert_filepath = cfg->cert_path;
    info.ssl_private_key_filepath = cfg->key_path;
    info.ssl_cipher_list = SERVE_TLS12_CIPHERS;
    /* The TLS 1.2 floor is set in tls_server_setup(). */
    info.ssl_options_set = SSL_OP_CIPHER_SERVER_PREFERENCE;
    return lws_create_vhost(t->context, &info);
}

static void on_listen_ready(void *arg);

/* What every thread shares, from the options (defaults for those not given). */
static void shared_setup(struct vhost_shared *sh, const struct serve_config *cfg)
{
    sh->www_root = cfg->www_root;
    sh->map_config = cfg->map_config;
    sh->ws_ping_secs = cfg->ws_ping_secs > 0 ? cfg->ws_ping_secs : CHANNEL_PING_SECS;
    sh->ws_hangup_secs = cfg->ws_hangup_secs > 0 ? cfg->ws_hangup_secs : CHANNEL_HANGUP_SECS;
    if (sh->ws_hangup_secs <= sh->ws_ping_secs) /* ping before giving up */
        sh->ws_ping_secs = sh->ws_hangup_secs > 1 ? sh->ws_hangup_secs / 2 : 1;
    sh->ws_send_timeout_secs = cfg->ws_send_timeout_secs > 0 ? cfg->ws_send_timeout_secs : CHANNEL_SEND_TIMEOUT_SECS;
    sh->max_subs = cfg->max_subs > 0 ? cfg->max_subs : CHANNEL_SUBS_MAX;
    sh->allow_origins = cfg->allow_origins;
    sh->n_allow_origins = cfg->n_allow_origins;
}

static int thread_setup(struct service_thread *t, const struct serve_config *cfg)
{
    struct lws_context_creation_info info;
    char err[512];

    if (store_open(cfg->db_path, STORE_OPEN_SERVICE, &t->store, err, sizeof(err))) {
        fprintf(stderr, "waypointd: %s\n", err);
        return -EIO;
    }
    if (store_secret_get(t->store, t->secret.key)) {
        fprintf(stderr, "waypointd: database %s has no token secret (run: waypointd init --db %s)\n",
                cfg->db_path, cfg->db_path);
        return -EIO;
    }
    t->conf.store = t->store;
    t->conf.cache = cache_new(SERVE_CACHE_ENTRIES);
    if (!t->conf.cache)
        return -ENOMEM;
    /* The first sweep reads it again: a rotation since this read is seen. */
    t->secret.version = -1;
    t->conf.secret = t->secret.key;
    t->conf.secret_state = &t->secret;
    t->protocols[0] = http_protocol;
    t->protocols[1] = channel_protocol;

    if (loop_new(&t->loop)) {
        fprintf(stderr, "waypointd: cannot create an epoll event loop\n");
        return -EIO;
    }
    t->foreign_loops[0] = loop_handle(t->loop);
    memset(&info, 0, sizeof(info));
    /* VALIDATE_UTF8: text frames must be UTF-8 (RFC 6455), else lws closes
     * with 1007; lws reads it from the context's options, not the vhost's. */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBEV |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = t->foreign_loops;
    info.port = CONTEXT_PORT_NO_LISTEN;
    t->context = lws_create_context(&info);
    /* lws runs PROTOCOL_INIT from a timer once its loop turns; a connection
     * accepted before that would meet protocols without their per-vhost
     * state. Initialise them now, before any connection can arrive. */
    if (!t->context || !(t->vhost = vhost_create(t, cfg)) || tls_server_setup(t->conf.ssl_ctx) ||
        lws_protocol_init(t->context)) {
        fprintf(stderr, "waypointd: cannot create the TLS server context\n");
        return -EIO;
    }
    loop_set_notify(t->loop, on_control, t);
    /* Accepting is ours, on the same loop: lws only gets connections. */
    t->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (loop_watch(t->loop, t->listen_fd, on_listen_ready, t)) {
        fprintf(stderr, "waypointd: cannot watch the listening socket\n");
        return -EIO;
    }
    return 0;
}

static void on_listen_ready(void *arg)
{
    struct service_thread *t = arg;

    listener_accept(t->listen_fd, &t->spare_fd, t->vhost);
}

static void thread_teardown(struct service_thread *t)
{
    if (t->context)
        lws_context_destroy(t->context);
    loop_free(t->loop);
    if (t->spare_fd >= 0)
        close(t->spare_fd);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    store_close(t->store);
    cache_free(t->conf.cache);
    lws_explicit_bzero(t->secret.key, sizeof(t->secret.key));
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
 * source started into it, each thread's side of the source. The database
 * is the only source a node has today; an edge node would choose its own
 * here. */
static int source_setup(struct service_thread *threads, int n, const struct serve_config *cfg,
                        struct vhost_shared *shared)
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
    rc = source_sqlite_new(&sc, &shared->source);
    if (!rc)
        rc = shared->source->ops->start(shared->source, shared->bus);
    for (int i = 0; i < n && !rc; i++)
        if (!(threads[i].conf.source_thread = shared->source->ops->thread_open(shared->source, i, threads[i].store)))
            rc = -ENOMEM;
    if (rc)
        fprintf(stderr, "waypointd: cannot start the change source: %s\n", strerror(-rc));
    return rc;
}

/* After the service threads have stopped taking: their sides of the
 * source, the source (it publishes into the bus, which wakes their
 * contexts: those are destroyed after this), then the bus. */
static void source_teardown(struct service_thread *threads, int n, struct vhost_shared *shared)
{
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

int serve_run(const struct serve_config *cfg)
{
    struct service_thread *threads;
    struct vhost_shared shared = {0};
    struct tls_material *tls;
    struct control ctl = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct admin_conf admin = {0};
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
    rc = listener_open(cfg->host, cfg->port, n, fds, &lock_fd, &port, err, sizeof(err));
    if (rc) {
        fprintf(stderr, strchr(cfg->host, ':') ? "waypointd: [%s]:%d: %s\n" : "waypointd: %s:%d: %s\n", cfg->host,
                cfg->port, err);
        return rc;
    }
    threads = calloc((size_t)n, sizeof(*threads));
    if (!threads) {
        for (i = 0; i < n; i++)
            close(fds[i]);
        close(lock_fd);
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
    for (i = 0; i < n; i++) {
        threads[i].listen_fd = fds[i];
        threads[i].spare_fd = -1;
        threads[i].ctl = &ctl;
        threads[i].conf.shared = &shared;
        threads[i].conf.thread = i;
        threads[i].conf.metrics = metrics_thread(admin.metrics, i);
    }
    for (i = 0; i < n && !rc; i++)
        rc = thread_setup(&threads[i], cfg);
    if (!rc && cfg->metrics_host)
        rc = admin_start(&threads[0], &admin, cfg);
    if (!rc)
        rc = source_setup(threads, n, cfg, &shared);
    if (!rc)
        admin.source = shared.source;
    for (i = 0; i < n && !rc; i++) {
        rc = -pthread_create(&threads[i].tid, NULL, service_main, &threads[i]);
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
    for (i = 0; i < n; i++)
        if (threads[i].started)
            pthread_join(threads[i].tid, NULL);
    source_teardown(threads, n, &shared);
    for (i = 0; i < n; i++)
        thread_teardown(&threads[i]);
    free(threads);
    if (lock_fd >= 0)
        close(lock_fd);
    ratelimit_free(shared.rl_addr);
    ratelimit_free(shared.rl_key);
    metrics_free(admin.metrics);
    tls_keys_forget();
    return rc;
}
