/* SPDX-License-Identifier: MIT
 *
 * One service thread, for serve.c, which starts, orders and stops them
 * (service_thread.c sets one up, runs it, tears it down): what each thread
 * owns, and the control block through which the main thread asks every
 * thread to install a certificate or to drain. Not for other modules.
 */
#ifndef WAYPOINTD_SERVICE_THREAD_H
#define WAYPOINTD_SERVICE_THREAD_H

#include <pthread.h>

#include <libwebsockets.h>

#include "auth.h"
#include "vhost.h"

struct loop;
struct store;
struct tls_material;

/* What the main thread asks of the service threads, and their answers;
 * one for all threads. */
struct control {
    pthread_mutex_t mu;              /* {lock_control} guards the fields below */
    pthread_cond_t cv;
    int drain;                       /* stop gracefully */
    int drained;                     /* threads done draining */
    const struct tls_material *tls;  /* certificate to install */
    int tls_gen;                     /* bumped with each new tls */
    int tls_applied, tls_failed;     /* threads done with tls_gen */
};

/* One per thread, in serve.c's array; the thread's own once it runs. */
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

/* Before the thread starts (main thread): its connection to db_path,
 * cache, loop, lws context and vhost with TLS (cert_path, key_path), and the watch on its listening socket (the
 * caller sets listen_fd, spare_fd = -1, ctl and conf's shared part). 0, or a negative errno (reason on
 * stderr); service_thread_teardown frees what was made either way. */
int service_thread_setup(struct service_thread *t, const char *db_path, const char *cert_path, const char *key_path);
/* The thread's body (pthread_create): its loop, until loop_stop or a
 * drain finishes. */
void *service_thread_main(void *arg);
/* After the thread has been joined (main thread). */
void service_thread_teardown(struct service_thread *t);

#endif
