/* SPDX-License-Identifier: MIT
 *
 * A change becomes its push message here (the JSON is view.c's, the
 * reference counting msg.c's). Pure: runs on a source's thread for what it
 * publishes and on a service thread for a resume's replay.
 */
#include "change_msg.h"

#include <stddef.h>

#include <libwebsockets.h>

#include "msg.h"
#include "store.h"
#include "view.h"

struct msg *change_msg_render(const struct store_change *c)
{
    unsigned char *buf;
    struct msg *m;
    size_t len = 0;

    if (c->kind == STORE_CHANGE_DELETE)
        buf = view_live_removed(c->seq, c->w.dc_id, c->w.customer_id, c->w.id, LWS_PRE, &len);
    else
        buf = view_live_waypoint(c->seq, &c->w, LWS_PRE, &len);
    m = msg_wrap(buf, LWS_PRE, len, c->seq, c->changed_ms, c->w.dc_id, c->w.customer_id, c->w.id);
    /* What the notices need rides on the message (msg.h): set here, once,
     * before anyone else holds it. */
    if (m && msg_set_waypoint(m, c->kind == STORE_CHANGE_DELETE, &c->w)) {
        msg_unref(m);
        return NULL;
    }
    return m;
}
