/* SPDX-License-Identifier: MIT
 *
 * The relay (see relay.h, docs/cluster.md): its loop. One thread, the
 * process's own: it waits for signs of a commit (dbwatch.h), reads PRAGMA
 * data_version on a read-only connection and publishes the rows after the
 * engine's head (relay_publish.c); once a second it beats, checks the
 * engine's head (relay_head.c) and answers a snapshot request
 * (cluster_snap.c). Redis is reconnected with backoff.
 */
#include "relay.h"
#include "relay_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "clock.h"
#include "dbwatch.h"
#include "cluster.h"
#include "cluster_snap.h"
#include "log.h"
#include "redis_url.h"

#define RELAY_CHECK_MS 1000
/* Without inotify, how often the database is looked at. */
#define RELAY_IDLE_MS 50
#define RELAY_BACKOFF_MAX_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

static int redis_open(struct relay *r)
{
    char why[256];

    r->rc = redis_connect(r->o->addr, 3, why, sizeof(why));
    if (!r->rc) {
        relay_redis_drop(r, why);
        return -EIO;
    }
    if (relay_script_load(r)) {
        relay_redis_drop(r, r->rc->err ? r->rc->errstr : "SCRIPT LOAD failed");
        return -EIO;
    }
    return 0;
}

int relay_run(const struct relay_options *o, const char *url)
{
    struct relay r = {.o = o, .reset_pending = o->reset_engine};
    struct dbwatch watch = {.fd = -1};
    struct sigaction sa;
    int64_t next_check = 0;
    int backoff = 100;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sqlite3_open_v2(o->db, &r.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        log_error("relay: cannot open %s: %s", o->db, r.db ? sqlite3_errmsg(r.db) : "out of memory");
        rc = -ENOENT;
        goto fail;
    }
    sqlite3_busy_timeout(r.db, 1000);
    {
        int64_t v = 0;

        if (relay_db_int(&r, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'aux_log'", 0, &v) || !v) {
            log_error("relay: %s is not a waypointd database at schema 6 or later (run waypointd init)", o->db);
            rc = -EINVAL;
            goto fail;
        }
    }
    if ((rc = dbwatch_open(&watch, o->db)))
        log_error("relay: cannot watch %s (%s); looking every %d ms instead", o->db, strerror(-rc), RELAY_IDLE_MS);
    printf("relaying %s to %s\n", o->db, url);
    fflush(stdout);

    while (!stop_requested) {
        int64_t now, idle;
        int64_t dv = 0;

        if (!r.rc) {
            if (redis_open(&r)) {
                sleep_ms(backoff);
                backoff = backoff * 2 > RELAY_BACKOFF_MAX_MS ? RELAY_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            if (r.outage)
                log_info("relay: redis %s:%d reachable again", o->addr->host, o->addr->port);
            r.outage = 0;
            backoff = 100;
            if (r.reset_pending && relay_reset_engine(&r)) {
                relay_redis_drop(&r, r.rc ? r.rc->errstr : "reset failed");
                continue;
            }
            r.hs = -1; /* force adopting whatever the engine holds */
            r.hn = -1;
            next_check = 0;
        }
        now = clock_mono_ms();
        if (now >= next_check) {
            relay_beat(&r);
            if (!r.rc)
                continue;
            rc = relay_check_head(&r);
            if (rc == -EPROTO)
                goto fail;
            if (rc)
                continue;
            /* A new edge's request for a copy: at most one a second. */
            if (cluster_snap_serve(r.rc, o->db) < 0 && r.rc->err) {
                relay_redis_drop(&r, r.rc->errstr);
                continue;
            }
            next_check = now + RELAY_CHECK_MS;
        }
        if (relay_db_int(&r, "PRAGMA data_version", 0, &dv) == 0 && dv != r.last_dv) {
            r.last_dv = dv;
            r.dirty = 1;
        }
        if (r.dirty) {
            rc = relay_publish_once(&r);
            if (rc == -EPROTO)
                goto fail;
            if (rc > 0)
                continue; /* maybe more: read again at once */
            if (rc == 0)
                r.dirty = 0;
        }
        /* Until a commit, or the next check (SIGINT/SIGTERM cut it short). */
        now = clock_mono_ms();
        idle = next_check > now ? next_check - now : 1;
        if (watch.fd < 0 && idle > RELAY_IDLE_MS)
            idle = RELAY_IDLE_MS;
        dbwatch_wait(&watch, -1, (int)idle);
    }
    rc = 0;
fail:
    dbwatch_close(&watch);
    if (r.rc)
        redisFree(r.rc);
    sqlite3_close(r.db);
    return rc;
}
