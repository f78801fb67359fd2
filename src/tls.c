/* SPDX-License-Identifier: MIT
 *
 * Certificate and key loading for serve and its SIGHUP reload, and what
 * every service thread's server SSL_CTX shares: the TLS 1.2 floor and one
 * process-wide, rotating set of session-ticket keys. OpenSSL reference
 * counts the certificate objects: an SSL_CTX that is given them takes its
 * own references, so the material can be freed once every thread applied it.
 */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"

struct tls_material {
    X509 *cert;
    STACK_OF(X509) *chain; /* the intermediates after the leaf */
    EVP_PKEY *key;
};

void tls_material_free(struct tls_material *m)
{
    if (!m)
        return;
    X509_free(m->cert);
    sk_X509_pop_free(m->chain, X509_free);
    EVP_PKEY_free(m->key);
    free(m);
}

/* The leaf and any intermediates, in file order. 0 or -EINVAL. */
static int read_chain(FILE *f, struct tls_material *m)
{
    X509 *x;

    m->cert = PEM_read_X509(f, NULL, NULL, NULL);
    if (!m->cert)
        return -EINVAL;
    m->chain = sk_X509_new_null();
    if (!m->chain)
        return -ENOMEM;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)))
        if (!sk_X509_push(m->chain, x)) {
            X509_free(x);
            return -ENOMEM;
        }
    ERR_clear_error(); /* the end of the file reads as an error */
    return 0;
}

static FILE *open_readable(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");

    if (!f)
        snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
    return f;
}

int tls_material_load(const char *cert_path, const char *key_path, struct tls_material **out, char *err,
                      size_t errlen)
{
    struct tls_material *m = calloc(1, sizeof(*m));
    FILE *f;
    int rc = -EINVAL;

    *out = NULL;
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((f = open_readable(cert_path, "certificate", err, errlen))) {
        if (read_chain(f, m))
            snprintf(err, errlen, "%s is not a PEM certificate", cert_path);
        else
            rc = 0;
        fclose(f);
    }
    if (!rc && (rc = -EINVAL, f = open_readable(key_path, "key", err, errlen))) {
        m->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!m->key)
            snprintf(err, errlen, "%s is not a PEM private key", key_path);
        else if (X509_check_private_key(m->cert, m->key) != 1)
            snprintf(err, errlen, "key %s does not match certificate %s", key_path, cert_path);
        else
            rc = 0;
    }
    ERR_clear_error();
    if (rc) {
        tls_material_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tls_material_apply(void *ssl_ctx, const struct tls_material *m)
{
    int ok = ssl_ctx && SSL_CTX_use_cert_and_key(ssl_ctx, m->cert, m->key, m->chain, 1) == 1;

    ERR_clear_error();
    return ok ? 0 : -EINVAL;
}

/* ---- Session tickets: one key ring for the whole process ----
 *
 * Every service thread has its own SSL_CTX, and the kernel spreads
 * reconnects over the threads: a ticket must open on every thread. The keys
 * live only in this process's memory, made from the OS's random source at
 * the first handshake. A new key encrypts tickets every TLS_KEY_ROTATE_SECS;
 * the previous TLS_KEYS - 1 still open the tickets they made, which live
 * TLS_TICKET_LIFETIME_SECS, so a ticket never outlives its key. A ticket
 * opened with an older key is replaced by one under the current key. */
#define TLS_KEYS 3
#define TLS_KEY_ROTATE_SECS 3600
#define TLS_TICKET_LIFETIME_SECS ((TLS_KEYS - 1) * TLS_KEY_ROTATE_SECS)

struct ticket_key {
    unsigned char name[16]; /* sent in the clear in each ticket */
    unsigned char aes[32];  /* AES-256-CBC */
    unsigned char hmac[32]; /* HMAC-SHA256 */
    int64_t period;         /* the rotation period it was made for; 0: none yet */
};

static struct {
    pthread_mutex_t mu;
    struct ticket_key keys[TLS_KEYS]; /* {mu}: [0] encrypts; all decrypt */
} ring = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t (*keys_clock)(void); /* {ring.mu} NULL: the monotonic clock */

void tls_keys_clock(int64_t (*now_s)(void))
{
    pthread_mutex_lock(&ring.mu);
    keys_clock = now_s;
    pthread_mutex_unlock(&ring.mu);
}

/* {ring.mu} The rotation period now, counted from 1. */
static int64_t rotation_period(void)
{
    struct timespec ts;

    if (keys_clock)
        return keys_clock() / TLS_KEY_ROTATE_SECS + 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec / TLS_KEY_ROTATE_SECS + 1;
}

static int random_fill(unsigned char *p, size_t n)
{
    while (n) {
        ssize_t got = getrandom(p, n, 0);

        if (got < 0 && errno != EINTR)
            return -EIO;
        if (got > 0) {
            p += got;
            n -= (size_t)got;
        }
    }
    return 0;
}

/* {ring.mu} Make keys[0] the key of this period, shifting older ones down. */
static int ring_rotate(void)
{
    int64_t now = rotation_period();
    struct ticket_key k;

    if (ring.keys[0].period == now)
        return 0;
    k.period = now;
    if (random_fill(k.name, sizeof(k.name)) || random_fill(k.aes, sizeof(k.aes)) ||
        random_fill(k.hmac, sizeof(k.hmac))) {
        OPENSSL_cleanse(&k, sizeof(k));
        return -EIO;
    }
    OPENSSL_cleanse(&ring.keys[TLS_KEYS - 1], sizeof(ring.keys[0]));
    memmove(&ring.keys[1], &ring.keys[0], (TLS_KEYS - 1) * sizeof(ring.keys[0]));
    ring.keys[0] = k;
    OPENSSL_cleanse(&k, sizeof(k));
    /* Keys of periods long past open nothing any more: forget them. */
    for (int i = 1; i < TLS_KEYS; i++)
        if (ring.keys[i].period && now - ring.keys[i].period >= TLS_KEYS)
            OPENSSL_cleanse(&ring.keys[i], sizeof(ring.keys[i]));
    return 0;
}

static int key_apply(const struct ticket_key *k, const unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    if (EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1)
        return -1;
    return EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback, on any service thread. Encrypt: 1, or -1 to
 * issue no ticket. Decrypt: 1 opened, 2 opened and to be renewed, 0 not
 * ours or too old (a full handshake), -1 error. */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    int rc = enc ? -1 : 0;

    (void)ssl;
    pthread_mutex_lock(&ring.mu);
    if (ring_rotate())
        goto out;
    if (enc) {
        const struct ticket_key *k = &ring.keys[0];

        if (random_fill(iv, (size_t)EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())))
            goto out;
        memcpy(key_name, k->name, sizeof(k->name));
        rc = key_apply(k, iv, cctx, hctx, 1) ? -1 : 1;
        goto out;
    }
    for (int i = 0; i < TLS_KEYS; i++) {
        const struct ticket_key *k = &ring.keys[i];

        if (k->period && !CRYPTO_memcmp(key_name, k->name, sizeof(k->name))) {
            rc = key_apply(k, iv, cctx, hctx, 0) ? -1 : i ? 2 : 1;
            break;
        }
    }
out:
    pthread_mutex_unlock(&ring.mu);
    return rc;
}

/* ---- A peer that sends while it reads nothing ----
 *
 * libwebsockets 4.1 answers every HTTP/2 PING and SETTINGS frame with a
 * frame of its own that it queues in memory (about 57 bytes each, measured)
 * while the peer reads nothing, and keeps reading from that peer: one
 * connection could make the server hold gigabytes (CVE-2019-9512/9515).
 * lws has no hook there, but every byte it reads passes through OpenSSL,
 * whose message callback sees each TLS record arrive. While what we sent
 * the peer is not all acknowledged (SIOCOUTQ), each record it sends counts,
 * and each byte it acknowledges (TCP_INFO) pays one back; past
 * TLS_UNREAD_MAX its socket is shut down, and lws frees the connection as
 * for any peer that hung up. A client that reads what it is sent (every
 * real client gets more than it sends) never comes near the bound. */
#define TLS_UNREAD_MAX (256 * 1024)
/* The kernel is asked (two system calls) once per this many bytes of
 * records received, not per record: per record it was two of the eight
 * system calls of a small keep-alive request. The bound then holds within
 * this much more. */
#define TLS_UNREAD_CHECK (16 * 1024)

static pthread_once_t unread_once = PTHREAD_ONCE_INIT;
/* SSL ex_data, each a uintptr_t: the count, the peer's acknowledged bytes
 * when it was last looked at, and the record bytes received since. */
static int unread_index = -1, acked_index = -1, pending_index = -1;

static void unread_index_new(void)
{
    unread_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    acked_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    pending_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* On the service thread reading from ssl, for every message OpenSSL sees. */
static void on_record(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                      void *arg)
{
    const unsigned char *h = buf;
    struct tcp_info ti;
    socklen_t tilen = sizeof(ti);
    uintptr_t unread = 0, acked, was;
    size_t rec;
    int fd, queued = 0;

    (void)version;
    (void)arg;
    if (write_p || content_type != SSL3_RT_HEADER || len < 5 || pending_index < 0)
        return;
    rec = (uintptr_t)SSL_get_ex_data(ssl, pending_index) + 5u + ((size_t)h[3] << 8 | h[4]);
    if (rec < TLS_UNREAD_CHECK) {
        SSL_set_ex_data(ssl, pending_index, (void *)(uintptr_t)rec);
        return;
    }
    SSL_set_ex_data(ssl, pending_index, NULL);
    fd = SSL_get_fd(ssl);
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &queued))
        return;
    if (queued) {
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tilen))
            return;
        acked = (uintptr_t)ti.tcpi_bytes_acked;
        was = (uintptr_t)SSL_get_ex_data(ssl, acked_index);
        unread = (uintptr_t)SSL_get_ex_data(ssl, unread_index) + rec;
        unread = acked - was >= unread ? 0 : unread - (acked - was);
        SSL_set_ex_data(ssl, acked_index, (void *)acked);
        if (unread > TLS_UNREAD_MAX && unread - rec <= TLS_UNREAD_MAX) {
            log_info("closing a connection that sent %zu bytes more than it read (%d bytes unread)",
                     (size_t)unread, queued);
            shutdown(fd, SHUT_RDWR); /* lws sees the end of the connection and frees it */
        }
    } else {
        struct tcp_info t2;

        /* All acknowledged: start again, from the peer's count now. */
        memset(&t2, 0, sizeof(t2));
        if (!getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t2, &tilen))
            SSL_set_ex_data(ssl, acked_index, (void *)(uintptr_t)t2.tcpi_bytes_acked);
    }
    SSL_set_ex_data(ssl, unread_index, (void *)unread);
}

void tls_keys_forget(void)
{
    pthread_mutex_lock(&ring.mu);
    OPENSSL_cleanse(ring.keys, sizeof(ring.keys));
    pthread_mutex_unlock(&ring.mu);
}

int tls_server_setup(void *ssl_ctx)
{
    SSL_CTX *ctx = ssl_ctx;
    int ok = ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
             SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1;

    pthread_once(&unread_once, unread_index_new);
    if (ok && (unread_index < 0 || acked_index < 0 || pending_index < 0))
        ok = 0;
    if (ok) {
        SSL_CTX_set_msg_callback(ctx, on_record);
        /* The figure OpenSSL puts in each ticket as its lifetime, and after
         * which it refuses the session. */
        SSL_CTX_set_timeout(ctx, TLS_TICKET_LIFETIME_SECS);
        SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    }
    ERR_clear_error();
    return ok ? 0 : -EINVAL;
}
