/* SPDX-License-Identifier: MIT
 *
 * One write per event-loop turn for an HTTP/2 connection. libwebsockets 4.1
 * writes every HTTP/2 frame with its own SSL_write, and so its own write():
 * per request two WINDOW_UPDATEs (hard-coded for each new stream), HEADERS
 * and DATA, four system calls where nginx makes one. Below OpenSSL nothing
 * of that is visible, so the records are gathered there: an HTTP/2
 * connection's write BIO becomes a buffer (OpenSSL's BIO_f_buffer over the
 * socket) that is flushed when the thread's loop is about to wait, after
 * everything that loop turn wrote. A flush the kernel does not take
 * completely is finished when the socket is writable. HTTP/1.1 and
 * WebSocket-over-HTTP/1.1 connections keep writing straight to the socket:
 * they write once per answer or message already.
 *
 * Per service thread, on that thread. No lws here: tls.c calls
 * tls_batch_attach from OpenSSL's record callback.
 */
#ifndef WAYPOINTD_TLS_BATCH_H
#define WAYPOINTD_TLS_BATCH_H

#include <openssl/ssl.h>

struct loop;

/* The calling thread's connections get batched on loop l (the thread's
 * own), which must outlive tls_batch_thread_end. 0 or -ENOMEM. */
int tls_batch_thread_begin(struct loop *l);
/* Flush what can be flushed and stop batching on this thread; what
 * connections still open write is then flushed at once. */
void tls_batch_thread_end(void);

/* Called for each record the peer sends: once the handshake has chosen
 * HTTP/2 (ALPN "h2"), put ssl's writes into a buffer flushed per loop
 * turn. Does nothing on a thread without tls_batch_thread_begin, before
 * the handshake is done, or a second time. */
void tls_batch_attach(SSL *ssl);

#endif
