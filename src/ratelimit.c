/* SPDX-License-Identifier: MIT
 *
 * Token buckets in an open-addressing table with linear probing. Deleting
 * from such a table is awkward, so buckets are never deleted one by one:
 * when the table is full, it is rebuilt into a spare array keeping only the
 * buckets that have not refilled yet (a full bucket holds no information).
 */
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

struct bucket {
    uint64_t id;
    double tokens;
    int64_t at_us; /* when tokens was computed */
    int used;
};

struct ratelimit {
    pthread_mutex_t mu;
    double rate;  /* tokens per microsecond */
    double burst;
    size_t cap;   /* most ids tracked */
    size_t mask;  /* slots - 1; slots is a power of two >= 2 * cap */
    size_t count;
    struct bucket *slots, *spare;
};

struct ratelimit *ratelimit_new(double rate, double burst, size_t capacity, int *err)
{
    struct ratelimit *rl;
    size_t slots = 4;

    *err = 0;
    if (rate <= 0)
        return NULL;
    while (slots < 2 * capacity)
        slots *= 2;
    rl = calloc(1, sizeof(*rl));
    if (rl) {
        rl->slots = calloc(slots, sizeof(*rl->slots));
        rl->spare = calloc(slots, sizeof(*rl->spare));
    }
    if (!rl || !rl->slots || !rl->spare) {
        if (rl) {
            free(rl->slots);
            free(rl->spare);
        }
        free(rl);
        *err = -ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = rate / 1e6;
    rl->burst = burst < 1 ? 1 : burst;
    rl->cap = capacity ? capacity : 1;
    rl->mask = slots - 1;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->slots);
    free(rl->spare);
    free(rl);
}

/* ids are hashes already, but of similar inputs: mix before masking. */
static size_t home(const struct ratelimit *rl, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & rl->mask;
}

static struct bucket *find(struct ratelimit *rl, struct bucket *slots, uint64_t id)
{
    size_t i = home(rl, id);

    while (slots[i].used && slots[i].id != id)
        i = (i + 1) & rl->mask;
    return &slots[i];
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

/* Rebuild the table without the buckets that are full again. */
static void purge(struct ratelimit *rl, int64_t now_us)
{
    struct bucket *old = rl->slots, *tmp;

    for (size_t i = 0; i <= rl->mask; i++)
        rl->spare[i].used = 0;
    rl->count = 0;
    for (size_t i = 0; i <= rl->mask; i++) {
        if (!old[i].used)
            continue;
        refill(rl, &old[i], now_us);
        if (old[i].tokens < rl->burst) {
            *find(rl, rl->spare, old[i].id) = old[i];
            rl->count++;
        }
    }
    tmp = rl->slots;
    rl->slots = rl->spare;
    rl->spare = tmp;
}

/* Seconds until one token is back, rounded up, at least 1. */
static int wait_secs(const struct ratelimit *rl, const struct bucket *b)
{
    double secs = ceil((1.0 - b->tokens) / rl->rate / 1e6);

    return secs < 1 ? 1 : secs > 86400 ? 86400 : (int)secs;
}

int ratelimit_take(struct ratelimit *rl, uint64_t id, int64_t now_us)
{
    struct bucket *b;
    int rc = 0;

    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    b = find(rl, rl->slots, id);
    if (!b->used && rl->count >= rl->cap) {
        purge(rl, now_us);
        b = find(rl, rl->slots, id);
    }
    if (b->used) {
        refill(rl, b, now_us);
        if (b->tokens >= 1)
            b->tokens -= 1;
        else
            rc = wait_secs(rl, b);
    } else if (rl->count < rl->cap) {
        *b = (struct bucket){.id = id, .tokens = rl->burst - 1, .at_us = now_us, .used = 1};
        rl->count++;
    } /* else: full of busy ids; let this one through untracked */
    pthread_mutex_unlock(&rl->mu);
    return rc;
}

size_t ratelimit_size(struct ratelimit *rl)
{
    size_t n;

    pthread_mutex_lock(&rl->mu);
    n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
