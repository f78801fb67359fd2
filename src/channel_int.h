/* SPDX-License-Identifier: MIT
 *
 * Inside the live channel, for the files that make it up (channel.c, and
 * sweep.c, which ends sessions through vhd->end_session): a session and its thread's channel state. Not for other modules;
 * http.c sees a session only as struct pss_channel * through channel.h.
 * Everything here belongs to one service thread.
 */
#ifndef WAYPOINTD_CHANNEL_INT_H
#define WAYPOINTD_CHANNEL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "auth.h"
#include "outq.h"
#include "scopeset.h"

struct msg;
struct subs;
struct vhost_state;

struct pss_channel {
    struct pss_channel *next, **prevp; /* the thread's sessions, for the sweep */
    struct lws *wsi;
    struct vhd_channel *vhd; /* its thread's channel state (an SSE wsi's protocol is http's) */
    struct auth_cred cred;
    struct outq q;
    char *rx; /* a message being reassembled from fragments */
    size_t rx_len;
    struct scopeset scopes; /* what it follows, and what each scope has been sent */
    int64_t last_rx_ms; /* clock_mono_ms() when the peer last sent anything (frames, pongs) */
    int64_t stalled_ms; /* since when queued messages wait without progress; 0: none wait */
    uint64_t cred_id; /* rate-limit id of its credential (admission.h) */
    int ping_due;       /* send a ping at the next writeable callback */
    int sse;            /* a Server-Sent Events stream (an HTTP wsi), not a WebSocket */
    int64_t last_tx_ms; /* SSE: when something was last written (heartbeats) */
    struct msg *tx_msg; /* HTTP/2: a message partly written, out of the queue (a reference) */
    size_t tx_off;      /* and how many of its bytes (fragments, or of its SSE event) are out */
    int closing;      /* close once the queue is written */
    int close_status; /* the close code then */
    const char *close_reason;
};

struct vhd_channel {
    struct lws_context *context;
    struct lws_vhost *vhost;
    const struct vhost_state *conf;
    struct subs *subs;
    struct pss_channel *sessions;
    lws_sorted_usec_list_t sweep;
    unsigned char *scratch; /* per-thread write buffer: shared messages stay read-only */
    size_t scratch_cap;
    int64_t keys_version;   /* data_version at the last key check; -1: never */
    int64_t through;        /* the feed has offered this thread every change up to this seq */
    int taking;             /* in on_feed: no nested take */
    int subscribing;        /* a subscribe takes the feed first: no writes outside callbacks then */
    /* channel_end_session, for sweep.c (which calls nothing in channel.c). */
    void (*end_session)(struct vhd_channel *vhd, struct pss_channel *pss, const char *why);
};

#endif
