/* SPDX-License-Identifier: MIT
 *
 * Certificate and key loading for serve and its SIGHUP reload. OpenSSL
 * reference counts the objects: an SSL_CTX that is given them takes its own
 * references, so the material can be freed once every thread applied it.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
