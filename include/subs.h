/* SPDX-License-Identifier: MIT
 *
 * The subscription registry of one service thread: which sessions follow
 * which customer, or a whole DC, and from which change number on. Pure (no
 * lws, no SQLite); each service thread owns one, so it needs no lock.
 */
#ifndef WAYPOINTD_SUBS_H
#define WAYPOINTD_SUBS_H

#include <stddef.h>
#include <stdint.h>

struct subs;

struct subs *subs_new(void);
void subs_free(struct subs *r);

/* Subscribe session to (dc, customer), or to the whole DC when customer is
 * NULL, for changes with seq > from_seq. Subscribing again to the same scope
 * moves from_seq. 0, or -ENOMEM. */
int subs_add(struct subs *r, const char *dc_id, const char *customer_id, void *session, int64_t from_seq);
/* 0, or -ENOENT when session was not subscribed to that scope. */
int subs_remove(struct subs *r, const char *dc_id, const char *customer_id, void *session);

typedef void (*subs_cb)(void *session, void *arg);
/* Call cb for each session subscribed to (dc, customer) or to the DC whose
 * from_seq is below seq. A session holding both is called twice; callers
 * deduplicate by seq. */
void subs_match(struct subs *r, const char *dc_id, const char *customer_id, int64_t seq, subs_cb cb, void *arg);

/* Number of subscriptions in total (for metrics and tests). */
size_t subs_count(const struct subs *r);
/* Number of distinct scopes held (for tests). */
size_t subs_scopes(const struct subs *r);

#endif
