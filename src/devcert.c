/* SPDX-License-Identifier: MIT
 *
 * Development certificates with OpenSSL 3: a P-256 key and a self-signed
 * X.509 v3 certificate valid 825 days. Main thread, before serving.
 */
#include "devcert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DEVCERT_DAYS 825

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EINVAL;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -EINVAL;
}

static int fill(X509 *cert, EVP_PKEY *key)
{
    unsigned char serial[16];
    X509_NAME *name = X509_get_subject_name(cert);
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return -EIO;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    if (!ok || !X509_set_version(cert, 2) || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), (long)DEVCERT_DAYS * 86400) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0) ||
        !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key))
        return -EIO;
    if (add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(cert, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        add_ext(cert, NID_ext_key_usage, "serverAuth") || add_ext(cert, NID_subject_key_identifier, "hash"))
        return -EIO;
    return X509_sign(cert, key, EVP_sha256()) > 0 ? 0 : -EIO;
}

/* Open path for writing with the given mode, as a stdio stream. */
static FILE *create(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f;

    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

int devcert_make(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    FILE *kf = NULL, *cf = NULL;
    int rc = -EIO;

    if (!key || !cert || fill(cert, key)) {
        snprintf(err, errlen, "cannot make a development certificate");
        goto out;
    }
    kf = create(key_path, 0600);
    cf = create(cert_path, 0644);
    if (!kf || !cf) {
        rc = -errno;
        snprintf(err, errlen, "cannot write %s: %s", kf ? cert_path : key_path, strerror(errno));
        goto out;
    }
    if (!PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) || !PEM_write_X509(cf, cert)) {
        snprintf(err, errlen, "cannot write the development certificate");
        goto out;
    }
    rc = 0;
out:
    if (kf && fclose(kf) && !rc)
        rc = -EIO;
    if (cf && fclose(cf) && !rc)
        rc = -EIO;
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
