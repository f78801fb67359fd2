/* SPDX-License-Identifier: MIT
 *
 * One service thread: its SQLite connection, cache, libev loop, lws context
 * and vhost (TLS, HSTS, the HTTP and WebSocket protocols), the watch on its
 * own listening socket; and what it does when the main thread asks (through
 * struct control, service_thread.h): install a certificate, or drain and
 * stop. Set up and torn down on the main thread, run on its own.
 */
#include "service_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "live.h"
#include "ws.h"
#include "http.h"
#include "listener.h"
#include "loop.h"
#include "store.h"
#include "tls.h"

/* Cached reads per thread: keys, DC verdicts, rendered answers (cache.h). */
#define SERVICE_CACHE_ENTRIES 4096
/* TLS 1.2 suites with forward secrecy only; TLS 1.3 suites are all ECDHE. */
#define SERVICE_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
/* Stopping waits at least this long after it began and after the last
 * request began, for requests whose head is still on its way. */
#define SERVICE_DRAIN_QUIET_US (1000 * 1000)

/* Added by lws to every response it heads (ours and static files'): HTTPS
 * only, for a year (RFC 6797). Not includeSubDomains: other hosts under the
 * same name are not ours to decide for. */
static const struct lws_protocol_vhost_options hsts_header = {
    NULL, NULL, "strict-transport-security:", "max-age=31536000"};

/* On the thread: has everything in flight finished? Then stop the loop. */
static void drain_check(lws_sorted_usec_list_t *sul)
{
    struct service_thread *t = lws_container_of(sul, struct service_thread, drain_sul);

    /* A request whose head is still arriving is not busy yet: wait for a
     * quiet moment after the stop and after the last request began. */
    int64_t now = lws_now_usecs();

    if ((t->conf.live && live_drain(t->conf.live) > 0) || t->conf.http_busy > 0 || now - t->drain_since_us < SERVICE_DRAIN_QUIET_US ||
        now - t->conf.http_last_start_us < SERVICE_DRAIN_QUIET_US) {
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

void *service_thread_main(void *arg)
{
    struct service_thread *t = arg;

    loop_run(t->loop);
    return NULL;
}

/* lws's per-connection liveness timers are off (a zero hang-up disables
 * them): lws 4.1 keeps every timer in one sorted list per thread and inserts
 * by linear scan, so with 15,000 subscribers each reschedule walks thousands
 * of entries. sweep.c pings and hangs up, per thread. */
static const lws_retry_bo_t no_lws_liveness = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

static struct lws_vhost *vhost_create(struct service_thread *t, const char *cert_path, const char *key_path)
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
    info.ssl_cert_filepath = cert_path;
    info.ssl_private_key_filepath = key_path;
    info.ssl_cipher_list = SERVICE_TLS12_CIPHERS;
    /* The TLS 1.2 floor is set in tls_server_setup(). */
    info.ssl_options_set = SSL_OP_CIPHER_SERVER_PREFERENCE;
    return lws_create_vhost(t->context, &info);
}

static void on_listen_ready(void *arg);

int service_thread_setup(struct service_thread *t, const char *db_path, const char *cert_path, const char *key_path)
{
    struct lws_context_creation_info info;
    char err[512];

    if (store_open(db_path, STORE_OPEN_SERVICE, &t->store, err, sizeof(err))) {
        fprintf(stderr, "waypointd: %s\n", err);
        return -EIO;
    }
    if (store_secret_get(t->store, t->secret.key)) {
        fprintf(stderr, "waypointd: database %s has no token secret (run: waypointd init --db %s)\n",
                db_path, db_path);
        return -EIO;
    }
    t->conf.store = t->store;
    t->conf.cache = cache_new(SERVICE_CACHE_ENTRIES);
    if (!t->conf.cache)
        return -ENOMEM;
    /* The first sweep reads it again: a rotation since this read is seen. */
    t->secret.version = -1;
    t->conf.secret = t->secret.key;
    t->conf.secret_state = &t->secret;
    t->protocols[0] = http_protocol;
    t->protocols[1] = ws_protocol;

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
    if (!t->context || !(t->vhost = vhost_create(t, cert_path, key_path)) || tls_server_setup(t->conf.ssl_ctx) ||
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

void service_thread_teardown(struct service_thread *t)
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
