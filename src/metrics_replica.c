/* SPDX-License-Identifier: MIT
 *
 * An edge's metrics (metrics_replica.h). Gauges and counters read from the
 * applier's atomics; nothing is kept here.
 */
#include "metrics_replica.h"

#include "replica.h"
#include "textbuf.h"

static void gauge(struct textbuf *t, const char *name, const char *type, const char *help, int64_t v)
{
    textbuf_put(t, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, (long long)v);
}

static void seconds(struct textbuf *t, const char *name, const char *help, int64_t ms)
{
    textbuf_put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %.3f\n", name, help, name, name, (double)ms / 1000.0);
}

void metrics_replica_render(const struct replica *r, int64_t now_ms, struct textbuf *t)
{
    struct replica_status st;
    int64_t lag = 0;

    replica_status_get(r, &st);
    if (st.engine_seq > st.applied_seq)
        lag = st.engine_seq - st.applied_seq;
    gauge(t, "waypointd_replica_applied_seq", "gauge", "The last change seq this edge applied.",
          st.applied_seq);
    gauge(t, "waypointd_replica_engine_seq", "gauge", "The cluster stream's head seq, as last read.",
          st.engine_seq);
    gauge(t, "waypointd_replica_lag_changes", "gauge", "Changes in the stream not applied here yet.", lag);
    seconds(t, "waypointd_replica_behind_seconds", "How long this edge has been behind the stream (0: caught up).",
            st.behind_since ? now_ms - st.behind_since : 0);
    seconds(t, "waypointd_replica_redis_silence_seconds", "Time since Redis last answered this edge.",
            now_ms - st.contact_ms);
    gauge(t, "waypointd_replica_relay_backlog_changes", "gauge",
          "Changes committed at the origin and not in the stream yet (-1: no relay heartbeat).",
          st.db_seq < 0 ? -1 : st.db_seq > st.engine_seq ? st.db_seq - st.engine_seq : 0);
    gauge(t, "waypointd_replica_entries_total", "counter", "Stream entries applied.", st.entries);
    gauge(t, "waypointd_replica_gaps_total", "counter", "Gaps found in the stream (each followed by a snapshot).",
          st.gaps);
    gauge(t, "waypointd_replica_bootstraps_total", "counter", "Snapshots loaded.", st.bootstraps);
}
