/* SPDX-License-Identifier: MIT
 *
 * Open-addressing hash table of byte keys to byte values, emptied wholesale
 * when the database's data_version moves or the table fills. Pure; used by
 * one service thread.
 */
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct entry {
    uint64_t hash;
    unsigned char *key; /* key bytes, then the value at an aligned offset: one allocation */
    size_t klen, vlen;
};

/* Values start at a multiple of this, so callers may store any struct. */
#define CACHE_ALIGN 16

static size_t value_offset(size_t klen)
{
    return (klen + CACHE_ALIGN - 1) & ~(size_t)(CACHE_ALIGN - 1);
}

struct cache {
    struct entry *slots;
    size_t nslots; /* power of two, at least twice max */
    size_t used, max;
    int64_t version;
    int synced;
    uint64_t hits, misses;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    return hash_fnv1a(HASH_FNV1A_INIT, p, n);
}

struct cache *cache_new(size_t max_entries)
{
    struct cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->max = max_entries ? max_entries : 1;
    c->nslots = 16;
    while (c->nslots < c->max * 2)
        c->nslots <<= 1;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

static void clear(struct cache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        free(c->slots[i].key);
        c->slots[i].key = NULL;
    }
    c->used = 0;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    clear(c);
    free(c->slots);
    free(c);
}

void cache_sync(struct cache *c, int64_t data_version)
{
    if (c->synced && c->version == data_version)
        return;
    clear(c);
    c->version = data_version;
    c->synced = 1;
}

/* The slot holding key, or the empty slot where it would go. */
static struct entry *probe(struct cache *c, const void *key, size_t klen, uint64_t h)
{
    size_t i = (size_t)h & (c->nslots - 1);

    while (c->slots[i].key &&
           !(c->slots[i].hash == h && c->slots[i].klen == klen && !memcmp(c->slots[i].key, key, klen)))
        i = (i + 1) & (c->nslots - 1);
    return &c->slots[i];
}

const void *cache_get(struct cache *c, const void *key, size_t klen, size_t *len)
{
    struct entry *e = probe(c, key, klen, hash_bytes(key, klen));

    if (!e->key) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    *len = e->vlen;
    return e->key + value_offset(e->klen);
}

int cache_put(struct cache *c, const void *key, size_t klen, const void *value, size_t len)
{
    uint64_t h = hash_bytes(key, klen);
    struct entry *e = probe(c, key, klen, h);
    size_t off = value_offset(klen);
    unsigned char *mem = malloc(off + len + 1); /* malloc aligns to at least 16 */

    if (!mem)
        return -ENOMEM;
    memcpy(mem, key, klen);
    memcpy(mem + off, value, len);
    mem[off + len] = '\0';
    if (e->key) {
        free(e->key);
    } else if (c->used == c->max) {
        /* Full: start over rather than track ages; the working set of a
         * thread is its clients' customers and keys, which refill fast. */
        clear(c);
        e = probe(c, key, klen, h);
    }
    if (!e->key)
        c->used++;
    e->hash = h;
    e->key = mem;
    e->klen = klen;
    e->vlen = len;
    return 0;
}

size_t cache_size(const struct cache *c)
{
    return c->used;
}

uint64_t cache_hits(const struct cache *c)
{
    return c->hits;
}

uint64_t cache_misses(const struct cache *c)
{
    return c->misses;
}
