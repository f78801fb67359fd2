/* SPDX-License-Identifier: MIT
 *
 * An HTTP/2 connection's TLS records, written once per loop turn
 * (tls_batch.h).
 */
#include "tls_batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "log.h"
#include "loop.h"

/* Room for what one loop turn writes to one connection (ten answers of
 * 1 KiB with their frames, or two 16 KiB DATA records); a turn that writes
 * more flushes as it goes. Allocated when a turn first writes and freed
 * when its flush has gone out: an idle connection holds none (15,000 idle
 * WebSockets over HTTP/2 must stay small). */
#define TLS_BATCH_BYTES (32 * 1024)

struct batch_conn {
    char *buf;                 /* NULL when empty */
    size_t off, used;          /* buf[off, used) is still to be written */
    struct loop_writable *out; /* armed while a flush waits for the socket */
    size_t slot;               /* index in the thread's dirty list, or SIZE_MAX */
};

/* Emptied buffers a thread keeps for the next turn: malloc and free of
 * 32 KiB per turn made glibc return the memory (madvise) every time. */
#define TLS_BATCH_SPARES 64

struct batch_thread {
    struct loop *loop;
    BIO **dirty; /* BIOs with bytes in their buffer */
    size_t n, cap;
    char *spare[TLS_BATCH_SPARES];
    size_t nspare;
};

static __thread struct batch_thread *self;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int decided_index = -1; /* SSL ex_data: non-NULL once looked at after the handshake */
static BIO_METHOD *batch_method;

static char *buf_get(void)
{
    struct batch_thread *t = self;

    return t && t->nspare ? t->spare[--t->nspare] : malloc(TLS_BATCH_BYTES);
}

static void buf_put(char *buf)
{
    struct batch_thread *t = self;

    if (buf && t && t->nspare < TLS_BATCH_SPARES)
        t->spare[t->nspare++] = buf;
    else
        free(buf);
}

static int mark_dirty(BIO *b, struct batch_conn *c)
{
    struct batch_thread *t = self;

    if (!t)
        return -ESRCH; /* no batching on this thread (any more) */
    if (c->slot != SIZE_MAX)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        BIO **d = realloc(t->dirty, cap * sizeof(*d));

        if (!d)
            return -ENOMEM;
        t->dirty = d;
        t->cap = cap;
    }
    c->slot = t->n;
    t->dirty[t->n++] = b;
    return 0;
}

static void mark_clean(struct batch_conn *c)
{
    struct batch_thread *t = self;

    if (c->slot == SIZE_MAX || !t)
        return;
    t->dirty[c->slot] = t->dirty[--t->n];
    ((struct batch_conn *)BIO_get_data(t->dirty[c->slot]))->slot = c->slot;
    c->slot = SIZE_MAX;
}

/* Write the buffer to the socket BIO below: 1 when it is empty (and
 * freed), else <= 0 with the socket's retry flags copied. */
static int drain(BIO *b, struct batch_conn *c)
{
    BIO *next = BIO_next(b);

    BIO_clear_retry_flags(b);
    while (c->off < c->used) {
        int n = BIO_write(next, c->buf + c->off, (int)(c->used - c->off));

        if (n <= 0) {
            BIO_copy_next_retry(b);
            return n;
        }
        c->off += (size_t)n;
    }
    buf_put(c->buf);
    c->buf = NULL;
    c->off = c->used = 0;
    return 1;
}

/* The loop's turn is over: everything to the kernel, or the rest when the
 * socket is writable. */
static void flush(BIO *b)
{
    struct batch_conn *c = BIO_get_data(b);
    int rc = drain(b, c);

    if (rc <= 0 && BIO_should_retry(b)) {
        loop_writable_arm(c->out, 1);
        return;
    }
    /* Done, or the socket failed: then the bytes are lost with the
     * connection, and lws learns of it at its next read or write. */
    mark_clean(c);
    loop_writable_arm(c->out, 0);
}

static void on_writable(void *arg)
{
    flush(arg);
}

static void on_prepare(void *arg)
{
    struct batch_thread *t = arg;

    /* Backwards: a flushed connection leaves the list by swapping with
     * the last one. */
    for (size_t i = t->n; i-- > 0;)
        if (i < t->n)
            flush(t->dirty[i]);
}

static int write_through(BIO *b, const char *data, int len)
{
    int w = BIO_write(BIO_next(b), data, len);

    if (w <= 0)
        BIO_copy_next_retry(b);
    return w;
}

/* SSL_write's records land here, in order behind what is buffered. What
 * does not fit, or cannot be remembered (no batching thread, no memory),
 * goes to the socket once the buffer is empty; a full buffer over a full
 * socket is a retry, which lws handles as it does for the socket. */
static int batch_write(BIO *b, const char *data, int len)
{
    struct batch_conn *c = BIO_get_data(b);
    size_t n = len > 0 ? (size_t)len : 0;

    BIO_clear_retry_flags(b);
    if (!n)
        return 0;
    if (c->used + n > TLS_BATCH_BYTES || !self) {
        if (c->used > c->off && drain(b, c) <= 0)
            return -1; /* retry flags copied */
        if (n > TLS_BATCH_BYTES || !self)
            return write_through(b, data, len);
    }
    /* Not on the dirty list means empty: a write that cannot be listed
     * may go straight out. */
    if ((!c->buf && !(c->buf = buf_get())) || mark_dirty(b, c))
        return write_through(b, data, len);
    memcpy(c->buf + c->used, data, n);
    c->used += n;
    return len;
}

static int batch_read(BIO *b, char *out, int len)
{
    int n = BIO_read(BIO_next(b), out, len);

    BIO_clear_retry_flags(b);
    BIO_copy_next_retry(b);
    return n;
}

static long batch_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct batch_conn *c = BIO_get_data(b);

    switch (cmd) {
    case BIO_CTRL_FLUSH: /* OpenSSL's own, e.g. after an alert: now */
        if (c->used > c->off && drain(b, c) <= 0)
            return 0;
        mark_clean(c);
        loop_writable_arm(c->out, 0);
        return BIO_ctrl(BIO_next(b), cmd, num, ptr);
    case BIO_CTRL_WPENDING:
        return (long)(c->used - c->off) + BIO_ctrl(BIO_next(b), cmd, num, ptr);
    default:
        return BIO_ctrl(BIO_next(b), cmd, num, ptr);
    }
}

static int batch_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* The connection's end (SSL_free): what is left gets one last try. */
static int batch_destroy(BIO *b)
{
    struct batch_conn *c = BIO_get_data(b);

    if (!c)
        return 1;
    if (c->used > c->off && BIO_next(b))
        (void)drain(b, c);
    mark_clean(c);
    loop_writable_free(c->out);
    buf_put(c->buf);
    free(c);
    BIO_set_data(b, NULL);
    return 1;
}

static void init_once(void)
{
    decided_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    batch_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "waypointd batch");
    if (batch_method &&
        !(BIO_meth_set_write(batch_method, batch_write) && BIO_meth_set_read(batch_method, batch_read) &&
          BIO_meth_set_ctrl(batch_method, batch_ctrl) && BIO_meth_set_create(batch_method, batch_create) &&
          BIO_meth_set_destroy(batch_method, batch_destroy))) {
        BIO_meth_free(batch_method);
        batch_method = NULL;
    }
}

static int is_h2(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;

    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && !memcmp(p, "h2", 2);
}

void tls_batch_attach(SSL *ssl)
{
    struct batch_conn *c;
    BIO *sock, *b;
    int fd;

    if (!self || decided_index < 0 || SSL_get_ex_data(ssl, decided_index) || !SSL_is_init_finished(ssl))
        return;
    SSL_set_ex_data(ssl, decided_index, (void *)1);
    sock = SSL_get_wbio(ssl);
    fd = SSL_get_wfd(ssl);
    if (!is_h2(ssl) || !sock || fd < 0 || SSL_get_rbio(ssl) != sock)
        return; /* not HTTP/2, or not the plain socket lws made: leave it */
    c = calloc(1, sizeof(*c));
    b = BIO_new(batch_method);
    if (!c || !b || !(c->out = loop_writable_new(self->loop, fd, on_writable, b)) || !BIO_up_ref(sock)) {
        if (c)
            loop_writable_free(c->out);
        free(c);
        BIO_free(b);
        return; /* out of memory: this connection writes straight through */
    }
    c->slot = SIZE_MAX;
    BIO_set_data(b, c);
    BIO_push(b, sock);        /* b now holds the reference taken above */
    SSL_set0_wbio(ssl, b);    /* drops the SSL's own write reference to sock */
}

int tls_batch_thread_begin(struct loop *l)
{
    struct batch_thread *t;

    pthread_once(&once, init_once);
    if (decided_index < 0 || !batch_method)
        return -ENOMEM;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->loop = l;
    self = t;
    loop_set_prepare(l, on_prepare, t);
    return 0;
}

void tls_batch_thread_end(void)
{
    struct batch_thread *t = self;

    if (!t)
        return;
    loop_set_prepare(t->loop, NULL, NULL);
    /* Connections still open (none after lws_context_destroy) forget
     * the list; their buffers are flushed as they go. */
    while (t->n) {
        BIO *b = t->dirty[t->n - 1];
        struct batch_conn *c = BIO_get_data(b);

        (void)drain(b, c);
        mark_clean(c);
        loop_writable_arm(c->out, 0);
    }
    self = NULL;
    while (t->nspare)
        free(t->spare[--t->nspare]);
    free(t->dirty);
    free(t);
}
