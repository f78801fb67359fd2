/* SPDX-License-Identifier: MIT
 *
 * Token buckets in a set-associative table: an id lives in one group of
 * RATELIMIT_WAYS buckets chosen by a keyed hash, and a bucket whose tokens
 * have refilled to the burst holds no information, so a new id may take
 * its place. Nothing is ever rebuilt or rescanned: every take and check
 * examines one group, under the one of STRIPES locks that guards it, so
 * threads limiting different ids rarely wait for each other.
 */
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

/* Locks over the groups: enough that two busy ids rarely share one. */
#define STRIPES 64

struct bucket {
    uint64_t id;
    int64_t at_us; /* when tokens was computed */
    double tokens;
    int used;
};

/* One lock and what it guards the counters of, on a cache line of its own. */
struct stripe {
    _Alignas(64) pthread_mutex_t mu;
    size_t count;    /* buckets in use in this stripe's groups */
    uint64_t probes; /* buckets examined */
};

struct ratelimit {
    double rate;  /* tokens per microsecond */
    double burst;
    size_t ways;  /* buckets per group */
    size_t gmask; /* groups - 1 (a power of two) */
    uint64_t key[2]; /* this table's SipHash key */
    struct bucket *b; /* groups * ways */
    struct stripe st[STRIPES];
};

/* ---- SipHash-1-3 (Aumasson and Bernstein; the variant Python and Rust use
 * for their hash tables): a keyed hash whose collisions nobody without the
 * key can predict. */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t siphash13(const uint64_t key[2], const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t v[4] = {key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull, key[0] ^ 0x6c7967656e657261ull,
                     key[1] ^ 0x7465646279746573ull};
    uint64_t m, last = (uint64_t)n << 56;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        m = 0;
        for (int j = 0; j < 8; j++)
            m |= (uint64_t)p[i + j] << (8 * j);
        v[3] ^= m;
        sipround(v);
        v[0] ^= m;
    }
    for (int j = 0; i + j < n; j++)
        last |= (uint64_t)p[i + j] << (8 * j);
    v[3] ^= last;
    sipround(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sipround(v);
    sipround(v);
    sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* 16 random bytes; should getrandom() fail (a kernel without it), bits that
 * differ between processes and runs, which still beat a fixed key. */
static void random_key(uint64_t key[2])
{
    struct timespec ts;

    if (getrandom(key, 2 * sizeof(key[0]), 0) == (ssize_t)(2 * sizeof(key[0])))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    key[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
    key[1] = (uint64_t)getpid() * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)(uintptr_t)key;
}

static uint64_t process_key[2];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void process_key_init(void)
{
    random_key(process_key);
}

uint64_t ratelimit_hash(const void *p, size_t n)
{
    pthread_once(&process_key_once, process_key_init);
    return siphash13(process_key, p, n);
}

/* ---- The table */

struct ratelimit *ratelimit_new(double rate, double burst, size_t capacity, int *err)
{
    struct ratelimit *rl;
    size_t ways, groups = 1;

    *err = 0;
    if (rate <= 0)
        return NULL;
    if (!capacity)
        capacity = 1;
    ways = capacity < RATELIMIT_WAYS ? capacity : RATELIMIT_WAYS;
    while (groups * 2 * ways <= capacity)
        groups *= 2;
    rl = aligned_alloc(64, (sizeof(*rl) + 63) / 64 * 64);
    if (rl) {
        memset(rl, 0, sizeof(*rl));
        rl->b = calloc(groups * ways, sizeof(*rl->b));
    }
    if (!rl || !rl->b) {
        free(rl);
        *err = -ENOMEM;
        return NULL;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->st[i].mu, NULL);
    rl->rate = rate / 1e6;
    rl->burst = burst < 1 ? 1 : burst;
    rl->ways = ways;
    rl->gmask = groups - 1;
    random_key(rl->key);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->st[i].mu);
    free(rl->b);
    free(rl);
}

static size_t group_of(const struct ratelimit *rl, uint64_t id)
{
    unsigned char raw[8];

    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(id >> (8 * i));
    return (size_t)siphash13(rl->key, raw, sizeof(raw)) & rl->gmask;
}

static void refill(const struct ratelimit *rl, struct bucket *b, int64_t now_us)
{
    if (now_us > b->at_us) {
        b->tokens += (double)(now_us - b->at_us) * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->at_us = now_us;
    }
}

/* id's bucket in group g, or NULL and in *room the first bucket a new id may
 * take (unused, or refilled to the burst; NULL: none). Buckets are never
 * freed, only reused, so the unused ones are the group's tail. Called with
 * the group's stripe locked. */
static struct bucket *lookup(struct ratelimit *rl, struct stripe *s, size_t g, uint64_t id, int64_t now_us,
                             struct bucket **room)
{
    struct bucket *b = rl->b + g * rl->ways;

    *room = NULL;
    for (size_t i = 0; i < rl->ways; i++) {
        s->probes++;
        if (!b[i].used) {
            if (!*room)
                *room = &b[i];
            break;
        }
        if (b[i].id == id)
            return &b[i];
        if (!*room) {
            refill(rl, &b[i], now_us);
            if (b[i].tokens >= rl->burst)
                *room = &b[i];
        }
    }
    return NULL;
}

/* Seconds until one token is back, rounded up, at least 1. */
static int wait_secs(const struct ratelimit *rl, const struct bucket *b)
{
    double secs = ceil((1.0 - b->tokens) / rl->rate / 1e6);

    return secs < 1 ? 1 : secs > 86400 ? 86400 : (int)secs;
}

/* Look id up and, when take is set, spend one token (tracking a new id
 * where its group has room); otherwise only look. 0, or the seconds to wait. */
static int consult(struct ratelimit *rl, uint64_t id, int64_t now_us, int take)
{
    struct bucket *b, *room;
    struct stripe *s;
    size_t g;
    int rc = 0;

    if (!rl)
        return 0;
    g = group_of(rl, id);
    s = &rl->st[g % STRIPES];
    pthread_mutex_lock(&s->mu);
    b = lookup(rl, s, g, id, now_us, &room);
    if (b) {
        refill(rl, b, now_us);
        if (b->tokens < 1)
            rc = wait_secs(rl, b);
        else if (take)
            b->tokens -= 1;
    } else if (take && room) {
        if (!room->used)
            s->count++;
        *room = (struct bucket){.id = id, .at_us = now_us, .tokens = rl->burst - 1, .used = 1};
    } /* else: untracked (a check, or a group full of busy ids: let this one through) */
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ratelimit_take(struct ratelimit *rl, uint64_t id, int64_t now_us)
{
    return consult(rl, id, now_us, 1);
}

int ratelimit_check(struct ratelimit *rl, uint64_t id, int64_t now_us)
{
    return consult(rl, id, now_us, 0);
}

size_t ratelimit_size(struct ratelimit *rl)
{
    size_t n = 0;

    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&rl->st[i].mu);
        n += rl->st[i].count;
        pthread_mutex_unlock(&rl->st[i].mu);
    }
    return n;
}

uint64_t ratelimit_probes(struct ratelimit *rl)
{
    uint64_t n = 0;

    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&rl->st[i].mu);
        n += rl->st[i].probes;
        pthread_mutex_unlock(&rl->st[i].mu);
    }
    return n;
}
