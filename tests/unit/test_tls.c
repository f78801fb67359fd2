/* SPDX-License-Identifier: MIT */
/* Unit tests for tls.c's server setup: a session made on one SSL_CTX
 * resumes on another (two service threads), TLS 1.2 and 1.3; the ticket
 * keys rotate hourly and open tickets for 2 hours; TLS 1.1 is refused.
 * Handshakes run in memory (BIO pairs), with a development certificate. */
#include "tls.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "devcert.h"

static int64_t fake_now; /* seconds, for tls_keys_clock() */

static int64_t fake_clock(void)
{
    return fake_now;
}

struct fixture {
    SSL_CTX *server[2]; /* two threads' contexts */
    SSL_CTX *client;
    char dir[64];
};

static SSL_CTX *server_ctx(const struct tls_material *m)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    assert_non_null(ctx);
    assert_int_equal(tls_material_apply(ctx, m), 0);
    assert_int_equal(tls_server_setup(ctx), 0);
    return ctx;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct tls_material *m = NULL;
    char cert[96], key[96], err[256];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/wpd-unit-tls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", f->dir);
    snprintf(key, sizeof(key), "%s/key.pem", f->dir);
    assert_int_equal(devcert_make(cert, key, err, sizeof(err)), 0);
    assert_int_equal(tls_material_load(cert, key, &m, err, sizeof(err)), 0);
    f->server[0] = server_ctx(m);
    f->server[1] = server_ctx(m);
    tls_material_free(m);
    unlink(cert);
    unlink(key);
    rmdir(f->dir);
    f->client = SSL_CTX_new(TLS_client_method());
    assert_non_null(f->client);
    SSL_CTX_set_session_cache_mode(f->client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    fake_now = 1000;
    tls_keys_clock(fake_clock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tls_keys_clock(NULL);
    tls_keys_forget();
    SSL_CTX_free(f->server[0]);
    SSL_CTX_free(f->server[1]);
    SSL_CTX_free(f->client);
    free(f);
    return 0;
}

/* One handshake of a client (max_version, offering sess) with a server on
 * sctx, in memory. Returns 1 resumed, 0 full handshake, -1 failed; *out is
 * the client's session after reading the server's tickets. */
static int handshake(SSL_CTX *cctx, SSL_CTX *sctx, int max_version, SSL_SESSION *sess, SSL_SESSION **out)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    int cdone = 0, sdone = 0, rc = -1;
    unsigned char byte;

    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (max_version) {
        SSL_set_min_proto_version(c, max_version);
        SSL_set_max_proto_version(c, max_version);
        SSL_set_security_level(c, 0);
    }
    if (sess) {
        /* A fresh copy, as a client reading it from storage has: OpenSSL
         * marks a session object used once for TLS 1.3 not resumable. */
        unsigned char der[8192], *p = der;
        const unsigned char *q = der;
        int len = i2d_SSL_SESSION(sess, NULL);
        SSL_SESSION *copy;

        assert_true(len > 0 && len <= (int)sizeof(der));
        i2d_SSL_SESSION(sess, &p);
        copy = d2i_SSL_SESSION(NULL, &q, len);
        assert_non_null(copy);
        SSL_set_session(c, copy);
        SSL_SESSION_free(copy);
    }
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        int n;

        if (!cdone && (n = SSL_do_handshake(c)) <= 0 && SSL_get_error(c, n) != SSL_ERROR_WANT_READ)
            goto out;
        cdone = SSL_is_init_finished(c);
        if (!sdone && (n = SSL_do_handshake(s)) <= 0 && SSL_get_error(s, n) != SSL_ERROR_WANT_READ)
            goto out;
        sdone = SSL_is_init_finished(s);
    }
    if (!(cdone && sdone))
        goto out;
    /* TLS 1.3 tickets come after the handshake: let the client read them. */
    SSL_write(s, "x", 1);
    assert_int_equal(SSL_read(c, &byte, 1), 1);
    rc = SSL_session_reused(c) ? 1 : 0;
    if (out)
        *out = SSL_get1_session(c);
out:
    ERR_clear_error();
    /* As after a clean close: OpenSSL marks a session not resumable when
     * its connection is freed without one. */
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void resumes_on_another_context(int version)
{
    struct fixture *f;
    SSL_SESSION *sess = NULL, *again = NULL;

    assert_int_equal(setup((void **)&f), 0);
    assert_int_equal(handshake(f->client, f->server[0], version, NULL, &sess), 0);
    assert_non_null(sess);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(handshake(f->client, f->server[i % 2], version, sess, &again), 1);
        SSL_SESSION_free(again);
    }
    SSL_SESSION_free(sess);
    teardown((void **)&f);
}

static void test_tls12_resumes_on_another_context(void **state)
{
    (void)state;
    resumes_on_another_context(TLS1_2_VERSION);
}

static void test_tls13_resumes_on_another_context(void **state)
{
    (void)state;
    resumes_on_another_context(TLS1_3_VERSION);
}

/* A ticket opens while its key is one of the last three: made in the hour
 * [1000 s, 3600 s), it opens 2 hours later and no longer 3 hours later. */
static void test_keys_rotate(void **state)
{
    struct fixture *f = *state;
    SSL_SESSION *sess = NULL, *renewed = NULL, *s2 = NULL;

    (void)state;
    assert_int_equal(handshake(f->client, f->server[0], TLS1_2_VERSION, NULL, &sess), 0);
    fake_now = 1000 + 3600; /* the next key encrypts; the old one still opens */
    assert_int_equal(handshake(f->client, f->server[1], TLS1_2_VERSION, sess, &renewed), 1);
    fake_now = 1000 + 2 * 3600;
    assert_int_equal(handshake(f->client, f->server[0], TLS1_2_VERSION, sess, &s2), 1);
    SSL_SESSION_free(s2);
    s2 = NULL;
    fake_now = 1000 + 3 * 3600; /* the first key is gone */
    assert_int_equal(handshake(f->client, f->server[0], TLS1_2_VERSION, sess, &s2), 0);
    SSL_SESSION_free(s2);
    s2 = NULL;
    /* The ticket renewed an hour in opens under the key of that hour. */
    assert_int_equal(handshake(f->client, f->server[1], TLS1_2_VERSION, renewed, &s2), 1);
    SSL_SESSION_free(s2);
    SSL_SESSION_free(renewed);
    SSL_SESSION_free(sess);
}

static void test_tls11_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(handshake(f->client, f->server[0], TLS1_1_VERSION, NULL, NULL), -1);
    assert_int_equal(handshake(f->client, f->server[0], TLS1_VERSION, NULL, NULL), -1);
    assert_int_equal(handshake(f->client, f->server[0], TLS1_2_VERSION, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_resumes_on_another_context),
        cmocka_unit_test(test_tls13_resumes_on_another_context),
        cmocka_unit_test_setup_teardown(test_keys_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls11_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
