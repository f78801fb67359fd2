/* SPDX-License-Identifier: MIT
 *
 * HTTP/2 flow control for the live transports (h2_window.h). lws 4.1
 * splits a write neither into frames of the peer's size nor at the window,
 * so the transports ask how much fits before each write.
 */
#include "h2_window.h"

#include <libwebsockets.h>

/* For a WebSocket over HTTP/2 lws 4.1 tells only the connection's window
 * (the stream is in lws's ws role, which reports none): that one is kept
 * to; the stream's own is not visible (docs/security.md). */
int64_t h2_room(struct lws *wsi)
{
    struct lws *nwsi = lws_get_network_wsi(wsi);
    lws_fileofs_t room;

    if (nwsi == wsi)
        return -1;
    room = lws_get_peer_write_allowance(wsi);
    if (room < 0)
        room = lws_get_peer_write_allowance(nwsi);
    return room < 0 || room > H2_WRITE_MAX ? H2_WRITE_MAX : (int64_t)room;
}

/* lws 4.1 hands the socket at most 4116 bytes per write and keeps the rest
 * (or what a full socket did not take) on the connection, but then turns
 * the connection's POLLOUT off when no stream asks for a callback
 * (lws_wsi_mux_action_pending_writeable_reqs()), and the rest waits until
 * the client sends something: a 6 KB message was seen to stall for good.
 * Asking for a callback keeps POLLOUT on; lws sends what it kept before it
 * calls any stream back. */
void h2_keep_flushing(struct lws *wsi)
{
    struct lws *nwsi = lws_get_network_wsi(wsi);

    if (nwsi != wsi && lws_partial_buffered(nwsi))
        lws_callback_on_writable(wsi);
}
