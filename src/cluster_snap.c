/* SPDX-License-Identifier: MIT
 *
 * Snapshots through Redis (cluster_snap.h). Request times are wall-clock
 * epoch ms, as the relay and the edges run on different hosts; a snapshot
 * answers every request made before it was made, so edges that start
 * together share one copy.
 */
#include "cluster_snap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "auth.h"
#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "store_replica.h"

/* One command with an integer or nil answer: the value, 0 for nil, -1 on
 * a failure (the context's error set, or an error reply). */
static long long cmd_int(redisContext *rc, long long *out, const char *fmt, const char *key)
{
    redisReply *rep = redisCommand(rc, fmt, key);
    int ok = 0;

    *out = 0;
    if (!rep)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        *out = strtoll(rep->str, NULL, 10);
        ok = 1;
    } else if (rep->type == REDIS_REPLY_INTEGER) {
        *out = rep->integer;
        ok = 1;
    } else if (rep->type == REDIS_REPLY_NIL) {
        ok = 1;
    }
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int sha256_hex(const unsigned char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;

    if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32)
        return -EIO;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int read_file(const char *path, unsigned char **out, size_t *n)
{
    struct stat st;
    unsigned char *b = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -EIO;

    if (fd < 0 || fstat(fd, &st))
        goto fail;
    b = malloc((size_t)st.st_size + 1);
    if (!b) {
        rc = -ENOMEM;
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    *out = b;
    *n = got;
    b = NULL;
    rc = 0;
fail:
    free(b);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int ok_reply(redisReply *rep)
{
    int ok = rep && rep->type != REDIS_REPLY_ERROR;

    if (rep)
        freeReplyObject(rep);
    return ok ? 0 : -EIO;
}

/* Chunks first, the hash that names them last: an edge that sees the hash
 * finds every chunk (they outlive it by the same TTL, set before it). */
static int publish(redisContext *rc, const unsigned char *p, size_t n, const char *id, int64_t made_ms)
{
    char nonce[40], key[96], sha[65], num[3][32];
    int chunks = (int)((n + CLUSTER_SNAP_CHUNK_BYTES - 1) / CLUSTER_SNAP_CHUNK_BYTES), rc2 = 0;

    if (sha256_hex(p, n, sha))
        return -EIO;
    snprintf(nonce, sizeof(nonce), "%" PRId64 "-%d", made_ms, (int)getpid());
    for (int i = 0; i < chunks && !rc2; i++) {
        size_t off = (size_t)i * CLUSTER_SNAP_CHUNK_BYTES;
        size_t len = n - off < CLUSTER_SNAP_CHUNK_BYTES ? n - off : CLUSTER_SNAP_CHUNK_BYTES;

        snprintf(key, sizeof(key), CLUSTER_SNAP_KEY ":%s:%d", nonce, i);
        rc2 = ok_reply(redisCommand(rc, "SET %s %b PX %d", key, p + off, len, CLUSTER_SNAP_TTL_MS));
    }
    snprintf(num[0], sizeof(num[0]), "%d", chunks);
    snprintf(num[1], sizeof(num[1]), "%zu", n);
    snprintf(num[2], sizeof(num[2]), "%" PRId64, made_ms);
    if (!rc2)
        rc2 = ok_reply(redisCommand(rc, "DEL %s", CLUSTER_SNAP_KEY));
    if (!rc2)
        rc2 = ok_reply(redisCommand(rc, "HSET %s id %s nonce %s chunks %s size %s sha256 %s made_ms %s",
                                    CLUSTER_SNAP_KEY, id, nonce, num[0], num[1], sha, num[2]));
    if (!rc2)
        rc2 = ok_reply(redisCommand(rc, "PEXPIRE %s %d", CLUSTER_SNAP_KEY, CLUSTER_SNAP_TTL_MS - 1000));
    return rc2;
}

int cluster_snap_serve(struct redisContext *redis, const char *db_path)
{
    const char *tmp = getenv("TMPDIR");
    char path[512], id[STORE_REPLICA_ID_MAX], err[512] = "";
    unsigned char *p = NULL;
    long long want = 0, made = 0;
    int64_t now = auth_now_ms(), t0 = clock_mono_ms();
    size_t n = 0;
    int rc;

    if (cmd_int(redis, &want, "GET %s", CLUSTER_SNAP_WANT_KEY) ||
        cmd_int(redis, &made, "HGET %s made_ms", CLUSTER_SNAP_KEY))
        return -EIO;
    if (!want)
        return 0;
    if (made >= want) /* answered already (another relay, or a request older than the copy) */
        return ok_reply(redisCommand(redis, "DEL %s", CLUSTER_SNAP_WANT_KEY));
    snprintf(path, sizeof(path), "%s/waypointd-snap-%d-%" PRId64 ".db", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
             now);
    unlink(path);
    rc = store_replica_make_copy(db_path, path, id, sizeof(id), err, sizeof(err));
    if (rc) {
        log_error("relay: an edge asked for a snapshot: %s", err);
        goto fail;
    }
    if ((rc = read_file(path, &p, &n)))
        goto fail;
    rc = publish(redis, p, n, id, now);
    if (!rc)
        rc = ok_reply(redisCommand(redis, "DEL %s", CLUSTER_SNAP_WANT_KEY));
    if (!rc)
        log_info("relay: published a snapshot at %s for an edge (%zu bytes, %" PRId64 " ms)", id, n,
                 clock_mono_ms() - t0);
fail:
    free(p);
    unlink(path);
    return rc ? rc : 1;
}

struct snap_meta {
    char id[STORE_REPLICA_ID_MAX];
    char nonce[40];
    char sha[65];
    long long chunks, size, made_ms;
};

/* HGETALL of the snapshot's hash: 1 read, 0 none, -EIO. */
static int meta_get(redisContext *redis, struct snap_meta *m)
{
    redisReply *rep = redisCommand(redis, "HGETALL %s", CLUSTER_SNAP_KEY);
    int rc = 0;

    memset(m, 0, sizeof(*m));
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep)
            freeReplyObject(rep);
        return -EIO;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const char *k = rep->element[i]->str, *v = rep->element[i + 1]->str;

        if (!k || !v)
            continue;
        if (!strcmp(k, "id"))
            snprintf(m->id, sizeof(m->id), "%s", v);
        else if (!strcmp(k, "nonce"))
            snprintf(m->nonce, sizeof(m->nonce), "%s", v);
        else if (!strcmp(k, "sha256"))
            snprintf(m->sha, sizeof(m->sha), "%s", v);
        else if (!strcmp(k, "chunks"))
            m->chunks = strtoll(v, NULL, 10);
        else if (!strcmp(k, "size"))
            m->size = strtoll(v, NULL, 10);
        else if (!strcmp(k, "made_ms"))
            m->made_ms = strtoll(v, NULL, 10);
    }
    rc = m->id[0] && m->nonce[0] && m->chunks > 0 && m->size > 0 ? 1 : 0;
    freeReplyObject(rep);
    return rc;
}

/* The chunks into one buffer, checked against size and SHA-256. */
static int chunks_get(redisContext *redis, const struct snap_meta *m, unsigned char **out)
{
    unsigned char *b = malloc((size_t)m->size);
    char key[96], sha[65];
    size_t got = 0;
    int rc = 0;

    if (!b)
        return -ENOMEM;
    for (long long i = 0; i < m->chunks && !rc; i++) {
        redisReply *rep;

        snprintf(key, sizeof(key), CLUSTER_SNAP_KEY ":%s:%lld", m->nonce, i);
        rep = redisCommand(redis, "GET %s", key);
        if (!rep)
            rc = -EIO;
        else if (rep->type != REDIS_REPLY_STRING || got + (size_t)rep->len > (size_t)m->size)
            rc = -EBADMSG;
        else
            memcpy(b + got, rep->str, (size_t)rep->len), got += (size_t)rep->len;
        if (rep)
            freeReplyObject(rep);
    }
    if (!rc && (got != (size_t)m->size || sha256_hex(b, got, sha) || strcmp(sha, m->sha)))
        rc = -EBADMSG;
    if (rc)
        free(b);
    else
        *out = b;
    return rc;
}

static int write_file(const char *path, const unsigned char *p, size_t n)
{
    size_t done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;

    if (fd < 0)
        return -errno;
    while (done < n && !rc) {
        ssize_t w = write(fd, p + done, n - done);

        if (w < 0)
            rc = -errno;
        else
            done += (size_t)w;
    }
    if (!rc && fsync(fd))
        rc = -errno;
    close(fd);
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int cluster_snap_fetch(struct redisContext *redis, const char *path, char *id, size_t cap, int64_t deadline_ms)
{
    int64_t asked = auth_now_ms();
    struct snap_meta m;
    unsigned char *p = NULL;
    int rc;

    /* A request a little older than now: a copy made while this edge was
     * starting, by a relay whose clock is a little behind, still counts. */
    if (ok_reply(redisCommand(redis, "SET %s %lld PX 60000", CLUSTER_SNAP_WANT_KEY, (long long)asked)))
        return -EIO;
    for (;;) {
        rc = meta_get(redis, &m);
        if (rc < 0)
            return rc;
        if (rc == 1 && m.made_ms >= asked - 2000)
            break;
        if (clock_mono_ms() >= deadline_ms)
            return -ETIMEDOUT;
        sleep_ms(200);
    }
    rc = chunks_get(redis, &m, &p);
    if (!rc)
        rc = write_file(path, p, (size_t)m.size);
    if (!rc)
        snprintf(id, cap, "%s", m.id);
    free(p);
    return rc;
}
