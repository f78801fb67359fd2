/* SPDX-License-Identifier: MIT
 *
 * Commit notices for a SQLite database (dbwatch.h).
 */
#include "dbwatch.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* Looks after a write was seen, in µs from one to the next. The first
 * come soon: the inotify event wakes the watcher while the writer is
 * still between its WAL write and its WAL-index update (tens of µs
 * without an fsync), and the service threads' caches wait for the look
 * that sees the commit (freshness.h). */
static const int recheck_us[] = {100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
#define RECHECKS ((int)(sizeof(recheck_us) / sizeof(recheck_us[0])))

int dbwatch_open(struct dbwatch *w, const char *db_path)
{
    char dir[PATH_MAX], *slash;

    w->fd = -1;
    w->recheck = RECHECKS;
    if (!realpath(db_path, dir))
        return -errno;
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    *strrchr(w->dir, '/') = '\0';
    if (!w->dir[0])
        snprintf(w->dir, sizeof(w->dir), "/");
    slash = strrchr(dir, '/');
    if (snprintf(w->wal_name, sizeof(w->wal_name), "%s-wal", slash + 1) >= (int)sizeof(w->wal_name))
        return -ENAMETOOLONG;
    *(slash == dir ? slash + 1 : slash) = '\0';
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0)
        return -errno;
    if (inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        int rc = -errno;

        close(w->fd);
        w->fd = -1;
        return rc;
    }
    return 0;
}

void dbwatch_close(struct dbwatch *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

int dbwatch_drain(struct dbwatch *w)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t n;

    while ((n = read(w->fd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;

            if ((ev->mask & IN_Q_OVERFLOW) || (ev->len && !strcmp(ev->name, w->wal_name)))
                hit = 1;
            p += sizeof(*ev) + ev->len;
        }
    return hit;
}

int dbwatch_wait(struct dbwatch *w, int extra_fd, int idle_ms)
{
    struct pollfd p[2];
    long long us = w->recheck < RECHECKS ? recheck_us[w->recheck] : (long long)idle_ms * 1000;
    struct timespec timeout = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    int n = 0, k;

    if (extra_fd >= 0)
        p[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
    if (w->fd >= 0)
        p[n++] = (struct pollfd){.fd = w->fd, .events = POLLIN};
    k = ppoll(p, (nfds_t)n, &timeout, NULL);
    if (k < 0 && errno != EINTR)
        return -errno;
    if (k > 0 && extra_fd >= 0 && p[0].revents)
        return 1;
    if (k > 0 && w->fd >= 0 && (p[n - 1].revents & POLLIN) && dbwatch_drain(w))
        w->recheck = 0; /* a write: look now and a few times more */
    else if (w->recheck < RECHECKS)
        w->recheck++;
    return 0;
}
