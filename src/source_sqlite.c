/* SPDX-License-Identifier: MIT
 *
 * The SQLite change source (source.h): the change watcher, and where a
 * subscription starts. The watcher's thread waits for signs of a commit
 * (dbwatch.h: inotify on the database's folder, a few looks after each, a
 * slow fallback) or its stop eventfd, and then reads PRAGMA data_version
 * on its own connection. New log rows become rendered messages,
 * published into the caller's bus (which wakes the service threads). A
 * start point is read on the service thread, on that thread's connection.
 */
#include "source_sqlite.h"

#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "change_msg.h"
#include "clock.h"
#include "dbwatch.h"
#include "log.h"
#include "msg.h"
#include "num.h"
#include "source.h"
#include "store.h"

/* Idle: one look per second catches anything inotify missed. */
#define WATCH_FALLBACK_MS 1000
#define WATCH_BATCH 4096
#define WATCH_PRUNE_INTERVAL_MS 60000
/* How often the database file's identity and its disk's free space are
 * looked at, and how little free space counts as full. */
#define WATCH_SURROUNDINGS_MS 1000
#define WATCH_DISK_LOW_BYTES (1024 * 1024)

struct source_sqlite {
    struct source base;          /* first: a struct source * is this */
    struct source_sqlite_config cfg;
    struct store *store; /* the watcher's own connection */
    struct bus *bus;             /* the caller's, from start */
    struct dbwatch watch;        /* when to look (dbwatch.h) */
    int stop_fd;
    int64_t cursor;              /* newest log row read */
    int64_t data_version;        /* the last version published to the bus */
    int64_t seen_version;        /* the last version read (commit_gen) */
    _Atomic int64_t gen;         /* moves when seen_version does (commit_gen) */
    _Atomic int64_t look_since_ms; /* a look began then; 0: not looking */
    _Atomic int gen_ok;          /* inotify watches and reads succeed */
    _Atomic int64_t last_check_ms; /* the last successful look (clock_mono_ms()), for health */
    int64_t last_prune_ms;
    dev_t dev;                   /* the database file opened at start */
    ino_t ino;
    _Atomic int file_ok;         /* the path still names that file */
    int disk_low;                /* the folder's disk is (nearly) full */
    int read_failing;            /* data_version reads fail: logged once */
    int behind;                  /* the last read or render failed: read again at the next look */
    int64_t last_surroundings_ms;
    pthread_t tid;
    _Atomic int started;         /* the watcher thread runs (until stop) */
};

/* A service thread's side: its own connection, which it keeps owning. */
struct source_thread {
    struct store *db;
};

/* Read and publish every log row after the cursor: 0, or a negative errno
 * when a read or a render failed (the cursor stays before what was not
 * published: the next look reads it again). */
static int deliver_new(struct source_sqlite *f)
{
    for (;;) {
        struct store_change *c = NULL;
        struct msg **msgs;
        size_t n = 0, k = 0;
        int64_t next;
        int rc = store_changes_read(f->store, f->cursor, WATCH_BATCH, &c, &n, &next);

        if (rc) {
            log_error("%s: reading the change log failed (%d): %s; retrying", __func__, rc,
                     store_errmsg(f->store));
            return rc;
        }
        if (next == f->cursor) {
            store_changes_free(c, n);
            return 0;
        }
        msgs = calloc(n ? n : 1, sizeof(*msgs));
        for (size_t i = 0; msgs && i < n; i++)
            if ((msgs[k] = change_msg_render(&c[i])))
                k++;
        store_changes_free(c, n);
        if (!msgs || k != n) {
            log_error("%s: out of memory rendering changes; retrying", __func__);
            for (size_t i = 0; msgs && i < k; i++)
                msg_unref(msgs[i]);
            free(msgs);
            return -ENOMEM;
        }
        bus_publish(f->bus, msgs, k, next);
        for (size_t i = 0; i < k; i++)
            msg_unref(msgs[i]);
        free(msgs);
        f->cursor = next;
    }
}

static void maybe_prune(struct source_sqlite *f)
{
    int64_t now = auth_now_ms(), mono = clock_mono_ms(), pruned = 0;
    int rc;

    if (f->last_prune_ms && mono - f->last_prune_ms < WATCH_PRUNE_INTERVAL_MS)
        return;
    f->last_prune_ms = mono;
    /* Saturating: a huge retention must mean "keep", never wrap into a
     * negative age that prunes everything (review H2). */
    rc = store_log_prune(f->store, f->cfg.keep_rows, num_sat_mul(f->cfg.keep_seconds, 1000), now, f->cursor, &pruned);
    if (rc == -EBUSY)
        log_info("change log: a writer holds the lock, pruning later");
    else if (rc)
        log_error("%s: pruning the change log failed: %s", __func__, store_errmsg(f->store));
    else if (pruned)
        log_info("change log: pruned through seq %lld (retention: %lld rows, %lld s)", (long long)pruned,
                 (long long)f->cfg.keep_rows, (long long)f->cfg.keep_seconds);
}

/* The database file replaced or removed, its disk full: nothing the
 * server can fix, but the operator must hear of it, once per episode. */
static void check_surroundings(struct source_sqlite *f)
{
    int64_t now = clock_mono_ms();
    struct statvfs vfs;
    struct stat st;
    int ok, missing;

    if (now - f->last_surroundings_ms < WATCH_SURROUNDINGS_MS)
        return;
    f->last_surroundings_ms = now;
    missing = stat(f->cfg.db_path, &st) != 0;
    ok = !missing && st.st_dev == f->dev && st.st_ino == f->ino;
    if (!ok && atomic_load(&f->file_ok))
        log_error("database file %s was %s: still serving the file opened at start; put it back, or restart "
                  "waypointd to serve the new one",
                  f->cfg.db_path, missing ? "removed" : "replaced");
    else if (ok && !atomic_load(&f->file_ok))
        log_info("database file %s is back: serving it again", f->cfg.db_path);
    atomic_store(&f->file_ok, ok);
    if (statvfs(f->watch.dir, &vfs) == 0) {
        unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;

        if (avail < WATCH_DISK_LOW_BYTES && !f->disk_low)
            log_error("database disk is full: %llu KiB free where %s is; writers fail until space is freed, "
                      "reads and pushes go on",
                      avail / 1024, f->cfg.db_path);
        else if (avail >= 2 * WATCH_DISK_LOW_BYTES && f->disk_low)
            log_info("the disk holding %s has space again (%llu KiB free)", f->cfg.db_path, avail / 1024);
        f->disk_low = avail < WATCH_DISK_LOW_BYTES || (f->disk_low && avail < 2 * WATCH_DISK_LOW_BYTES);
    }
}

/* A new version moves the commit generation before anything else is done
 * with it: the service threads' caches need not wait for the publishing. */
static void see_version(struct source_sqlite *f, int64_t v)
{
    if (v == f->seen_version)
        return;
    f->seen_version = v;
    atomic_fetch_add_explicit(&f->gen, 1, memory_order_release);
}

static void check(struct source_sqlite *f)
{
    int64_t v;

    check_surroundings(f);
    if (store_data_version(f->store, &v)) {
        if (!f->read_failing)
            log_error("change feed: cannot read the database: %s (retrying)", store_errmsg(f->store));
        f->read_failing = 1;
        atomic_store(&f->gen_ok, 0);
        return;
    }
    see_version(f, v);
    if (f->read_failing)
        log_info("change feed: reading the database again");
    f->read_failing = 0;
    atomic_store(&f->gen_ok, f->watch.fd >= 0);
    /* The version is recorded only once everything up to it is published,
     * so a failed read is retried at the next look (at the latest the
     * fallback's, a second later), not at the next commit. */
    if (v != f->data_version || f->behind) {
        f->behind = deliver_new(f) != 0;
        if (!f->behind)
            f->data_version = v;
    }
    atomic_store_explicit(&f->last_check_ms, clock_mono_ms(), memory_order_relaxed);
}

static void *watch_main(void *arg)
{
    struct source_sqlite *f = arg;

    /* The stop eventfd ends the loop; everything else is a look. */
    while (dbwatch_wait(&f->watch, f->stop_fd, WATCH_FALLBACK_MS) == 0) {
        atomic_store_explicit(&f->look_since_ms, clock_mono_ms(), memory_order_release);
        check(f);
        maybe_prune(f); /* a long prune is a long look: commits wait for the next */
        atomic_store_explicit(&f->look_since_ms, 0, memory_order_release);
    }
    return NULL;
}

static int start_point(struct source_thread *t, const char *dc_id, const char *customer_id, int64_t since,
                       struct store_sub_state *out)
{
    return store_subscribe_read(t->db, dc_id, customer_id, since, out);
}

static struct source_thread *thread_open(struct source *s, int thread, struct store *db)
{
    struct source_thread *t = calloc(1, sizeof(*t));

    (void)s;
    (void)thread;
    if (t)
        t->db = db;
    return t;
}

static void thread_close(struct source_thread *t)
{
    free(t);
}

/* The watcher's last look, and the file it watches: /healthz's reasons,
 * spelt as operators have known them (operations.md). */
static int health(struct source *s, int64_t now_ms, const char **why)
{
    struct source_sqlite *f = (struct source_sqlite *)s;
    int64_t seen = atomic_load_explicit(&f->last_check_ms, memory_order_relaxed);

    if (!atomic_load(&f->started) || now_ms - seen > SOURCE_SQLITE_STALE_MS) {
        *why = "change watcher not running";
        return -ETIMEDOUT;
    }
    if (!atomic_load(&f->file_ok)) {
        *why = "database file replaced or removed";
        return -ESTALE;
    }
    *why = NULL;
    return 0;
}

/* The commit generation (source.h), trusted only while the watcher is
 * quick: a commit made during a long look (a big batch to publish, a lock)
 * is not in it until the next look, so requests look for themselves then.
 * The order of the loads matters: look_since before gen, so a look that
 * starts after the gen was read is not mistaken for a quick one. */
static int commit_gen(const struct source *s, int64_t now_ms, int64_t *gen)
{
    struct source_sqlite *f = (struct source_sqlite *)s;
    int64_t since, seen;

    if (!atomic_load_explicit(&f->gen_ok, memory_order_acquire))
        return -EAGAIN;
    since = atomic_load_explicit(&f->look_since_ms, memory_order_acquire);
    seen = atomic_load_explicit(&f->last_check_ms, memory_order_relaxed);
    if ((since && now_ms - since > SOURCE_GEN_LOOK_MS) || now_ms - seen > SOURCE_GEN_STALE_MS)
        return -EAGAIN;
    *gen = atomic_load_explicit(&f->gen, memory_order_acquire);
    return 0;
}

/* Everything start opened, and the bus's through, before the thread runs:
 * a subscription made as soon as start returns misses nothing. */
static int open_all(struct source_sqlite *f)
{
    struct store_log_head head;
    struct stat st;
    char err[512];
    int rc;

    if (store_open(f->cfg.db_path, STORE_OPEN_EXISTING, &f->store, err, sizeof(err))) {
        log_error("%s", err);
        return -EIO;
    }
    if (store_log_head(f->store, &head) || store_data_version(f->store, &f->data_version))
        return -EIO;
    f->seen_version = f->data_version;
    f->cursor = head.head;
    f->last_check_ms = clock_mono_ms();
    if (stat(f->cfg.db_path, &st))
        return -errno;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->file_ok = 1;
    f->last_prune_ms = 0; /* prune once at start */
    f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->stop_fd < 0)
        return -errno;
    rc = dbwatch_open(&f->watch, f->cfg.db_path);
    if (rc)
        log_error("cannot watch %s (%s); polling every %d ms instead", f->cfg.db_path,
                strerror(-rc), WATCH_FALLBACK_MS);
    atomic_store(&f->gen_ok, f->watch.fd >= 0);
    bus_set_through(f->bus, f->cursor);
    return 0;
}

static int start(struct source *s, struct bus *bus)
{
    struct source_sqlite *f = (struct source_sqlite *)s;
    int rc;

    f->bus = bus;
    rc = open_all(f);
    if (!rc)
        rc = -pthread_create(&f->tid, NULL, watch_main, f);
    if (rc) {
        log_error("cannot start the change watcher on %s: %s", f->cfg.db_path, strerror(-rc));
        return rc;
    }
    atomic_store(&f->started, 1);
    return 0;
}

/* Stops the watcher if it runs; frees what start opened either way. */
static void stop(struct source *s)
{
    struct source_sqlite *f = (struct source_sqlite *)s;
    uint64_t one = 1;

    if (!f)
        return;
    if (atomic_load(&f->started)) {
        if (write(f->stop_fd, &one, sizeof(one)) != sizeof(one))
            log_error("%s: cannot signal the watcher", __func__);
        pthread_join(f->tid, NULL);
    }
    dbwatch_close(&f->watch);
    if (f->stop_fd >= 0)
        close(f->stop_fd);
    store_close(f->store);
    free(f);
}

static const struct source_ops sqlite_ops = {
    .name = "sqlite",
    .start = start,
    .stop = stop,
    .thread_open = thread_open,
    .thread_close = thread_close,
    .start_point = start_point,
    .health = health,
    .commit_gen = commit_gen,
};

int source_sqlite_new(const struct source_sqlite_config *cfg, struct source **out)
{
    struct source_sqlite *f = calloc(1, sizeof(*f));

    *out = NULL;
    if (!f)
        return -ENOMEM;
    f->base.ops = &sqlite_ops;
    f->cfg = *cfg;
    f->watch.fd = f->stop_fd = -1;
    *out = &f->base;
    return 0;
}
