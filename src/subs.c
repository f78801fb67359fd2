/* SPDX-License-Identifier: MIT
 *
 * Per-thread subscription registry: a chained hash table from a scope key
 * ("dc\0customer" or "dc\0" for a whole DC) to the sessions subscribed to it.
 * Pure; used only by the service thread that owns it.
 */
#include "subs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SUBS_INITIAL_BUCKETS 64

struct member {
    void *session;
    int64_t from_seq;
};

struct scope {
    struct scope *next;
    uint64_t hash;
    char *key; /* dc '\0' customer-or-empty '\0' is_dc */
    size_t key_len;
    struct member *members;
    size_t n, cap;
};

struct subs {
    struct scope **buckets;
    size_t nbuckets; /* power of two */
    size_t nscopes;
    size_t total;
};

/* The scope key: dc, NUL, customer (empty for the DC), NUL, then '1' for a
 * DC scope, so a customer named "" can never alias the DC. */
static char *scope_key(const char *dc, const char *customer, size_t *len)
{
    size_t d = strlen(dc), c = customer ? strlen(customer) : 0;
    char *k = malloc(d + c + 3);

    if (!k)
        return NULL;
    memcpy(k, dc, d);
    k[d] = '\0';
    if (c)
        memcpy(k + d + 1, customer, c);
    k[d + 1 + c] = '\0';
    k[d + 2 + c] = customer ? '0' : '1';
    *len = d + c + 3;
    return k;
}

static uint64_t hash(const char *p, size_t n)
{
    return hash_fnv1a(HASH_FNV1A_INIT, p, n);
}

struct subs *subs_new(void)
{
    struct subs *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->buckets = calloc(SUBS_INITIAL_BUCKETS, sizeof(*r->buckets));
    if (!r->buckets) {
        free(r);
        return NULL;
    }
    r->nbuckets = SUBS_INITIAL_BUCKETS;
    return r;
}

static void scope_free(struct scope *s)
{
    free(s->key);
    free(s->members);
    free(s);
}

void subs_free(struct subs *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        while (r->buckets[i]) {
            struct scope *s = r->buckets[i];

            r->buckets[i] = s->next;
            scope_free(s);
        }
    free(r->buckets);
    free(r);
}

/* The scope for key, and where its link is (for unlinking), or NULL. */
static struct scope *find(struct subs *r, const char *key, size_t len, uint64_t h, struct scope ***link)
{
    struct scope **p = &r->buckets[h & (r->nbuckets - 1)];

    for (; *p; p = &(*p)->next)
        if ((*p)->hash == h && (*p)->key_len == len && !memcmp((*p)->key, key, len)) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* Double the table when scopes outnumber buckets; failure just keeps chains longer. */
static void maybe_grow(struct subs *r)
{
    size_t n = r->nbuckets * 2;
    struct scope **b;

    if (r->nscopes < r->nbuckets)
        return;
    b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        while (r->buckets[i]) {
            struct scope *s = r->buckets[i];

            r->buckets[i] = s->next;
            s->next = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static struct scope *scope_get(struct subs *r, char *key, size_t len, uint64_t h)
{
    struct scope *s = find(r, key, len, h, NULL);

    if (s) {
        free(key);
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        free(key);
        return NULL;
    }
    s->key = key;
    s->key_len = len;
    s->hash = h;
    maybe_grow(r);
    s->next = r->buckets[h & (r->nbuckets - 1)];
    r->buckets[h & (r->nbuckets - 1)] = s;
    r->nscopes++;
    return s;
}

/* Unlink and free a scope that has no members. */
static void scope_drop(struct subs *r, struct scope *s)
{
    struct scope **link = NULL;

    if (find(r, s->key, s->key_len, s->hash, &link) == s) {
        *link = s->next;
        scope_free(s);
        r->nscopes--;
    }
}

int subs_add(struct subs *r, const char *dc_id, const char *customer_id, void *session, int64_t from_seq)
{
    size_t len;
    char *key = scope_key(dc_id, customer_id, &len);
    struct scope *s;

    if (!key)
        return -ENOMEM;
    s = scope_get(r, key, len, hash(key, len));
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        if (s->members[i].session == session) {
            s->members[i].from_seq = from_seq;
            return 0;
        }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4;
        struct member *m = realloc(s->members, ncap * sizeof(*m));

        if (!m) {
            if (!s->n) /* just made for this member: don't leave it empty */
                scope_drop(r, s);
            return -ENOMEM;
        }
        s->members = m;
        s->cap = ncap;
    }
    s->members[s->n++] = (struct member){session, from_seq};
    r->total++;
    return 0;
}

/* Remove session from s; drop s when it is empty. 1 if it was there. */
static int scope_remove(struct subs *r, struct scope *s, struct scope **link, void *session)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->members[i].session == session) {
            s->members[i] = s->members[--s->n];
            r->total--;
            if (!s->n) {
                *link = s->next;
                scope_free(s);
                r->nscopes--;
            }
            return 1;
        }
    return 0;
}

int subs_remove(struct subs *r, const char *dc_id, const char *customer_id, void *session)
{
    size_t len;
    char *key = scope_key(dc_id, customer_id, &len);
    struct scope **link = NULL, *s;
    int found = 0;

    if (!key)
        return -ENOMEM;
    s = find(r, key, len, hash(key, len), &link);
    if (s)
        found = scope_remove(r, s, link, session);
    free(key);
    return found ? 0 : -ENOENT;
}

static void match_scope(struct subs *r, const char *dc, const char *customer, int64_t seq, subs_cb cb, void *arg)
{
    size_t len;
    char *key = scope_key(dc, customer, &len);
    struct scope *s;

    if (!key)
        return;
    s = find(r, key, len, hash(key, len), NULL);
    free(key);
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->members[i].from_seq < seq)
            cb(s->members[i].session, arg);
}

void subs_match(struct subs *r, const char *dc_id, const char *customer_id, int64_t seq, subs_cb cb, void *arg)
{
    match_scope(r, dc_id, customer_id, seq, cb, arg);
    match_scope(r, dc_id, NULL, seq, cb, arg);
}

size_t subs_count(const struct subs *r)
{
    return r->total;
}

size_t subs_scopes(const struct subs *r)
{
    return r->nscopes;
}
