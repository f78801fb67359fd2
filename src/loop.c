/* SPDX-License-Identifier: MIT
 *
 * libev loops for the service threads. ev_async is libev's thread-safe
 * wake-up: loop_stop() sends it, and its callback breaks the loop on the
 * loop's own thread. The only file that includes <ev.h>.
 */
#include "loop.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include <ev.h>

struct watch {
    ev_io io; /* first: the callback gets it as the watch */
    void (*cb)(void *arg);
    void *arg;
    struct watch *next;
};

struct loop {
    struct ev_loop *ev;
    ev_async stop;   /* sent by loop_stop() from any thread */
    ev_async notify; /* sent by loop_notify() from any thread */
    void (*notify_cb)(void *arg);
    void *notify_arg;
    struct watch *watches;
};

static void on_readable(struct ev_loop *ev, ev_io *io, int revents)
{
    struct watch *w = (struct watch *)io;

    (void)ev;
    (void)revents;
    w->cb(w->arg);
}

int loop_watch(struct loop *l, int fd, void (*cb)(void *arg), void *arg)
{
    struct watch *w = calloc(1, sizeof(*w));

    if (!w)
        return -ENOMEM;
    w->cb = cb;
    w->arg = arg;
    ev_io_init(&w->io, on_readable, fd, EV_READ);
    ev_io_start(l->ev, &w->io);
    w->next = l->watches;
    l->watches = w;
    return 0;
}

static void on_stop(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(ev, EVBREAK_ALL);
}

static void on_notify(struct ev_loop *ev, ev_async *w, int revents)
{
    struct loop *l = (struct loop *)((char *)w - offsetof(struct loop, notify));

    (void)ev;
    (void)revents;
    if (l->notify_cb)
        l->notify_cb(l->notify_arg);
}

void loop_set_notify(struct loop *l, void (*cb)(void *arg), void *arg)
{
    l->notify_cb = cb;
    l->notify_arg = arg;
}

void loop_notify(struct loop *l)
{
    ev_async_send(l->ev, &l->notify);
}

void loop_unwatch(struct loop *l, int fd)
{
    for (struct watch *w = l->watches; w; w = w->next)
        if (w->io.fd == fd)
            ev_io_stop(l->ev, &w->io);
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
    ev_async_init(&l->notify, on_notify);
    ev_async_start(l->ev, &l->notify);
    /* These watchers alone must not keep ev_run() going once lws is gone. */
    ev_unref(l->ev);
    ev_unref(l->ev);
    *out = l;
    return 0;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    while (l->watches) {
        struct watch *w = l->watches;

        l->watches = w->next;
        ev_io_stop(l->ev, &w->io);
        free(w);
    }
    ev_ref(l->ev);
    ev_ref(l->ev);
    ev_async_stop(l->ev, &l->stop);
    ev_async_stop(l->ev, &l->notify);
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
