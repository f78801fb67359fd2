/* SPDX-License-Identifier: MIT
 *
 * libev loops for the service threads. ev_async is libev's thread-safe
 * wake-up: loop_stop() sends it, and its callback breaks the loop on the
 * loop's own thread. The only file that includes <ev.h>.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

struct loop {
    struct ev_loop *ev;
    ev_async stop; /* sent by loop_stop() from any thread */
};

static void on_stop(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(ev, EVBREAK_ALL);
}

int loop_new(struct loop **out)
{
    struct loop *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (!l)
        return -ENOMEM;
    l->ev = ev_loop_new(EVBACKEND_EPOLL);
    if (!l->ev) {
        free(l);
        return -ENOSYS;
    }
    ev_async_init(&l->stop, on_stop);
    ev_async_start(l->ev, &l->stop);
    /* The stop watcher alone must not keep ev_run() going once lws is gone. */
    ev_unref(l->ev);
    *out = l;
    return 0;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    ev_ref(l->ev);
    ev_async_stop(l->ev, &l->stop);
    ev_loop_destroy(l->ev);
    free(l);
}

void *loop_handle(struct loop *l)
{
    return l->ev;
}

void loop_run(struct loop *l)
{
    ev_run(l->ev, 0);
}

void loop_stop(struct loop *l)
{
    ev_async_send(l->ev, &l->stop);
}
