/* SPDX-License-Identifier: MIT
 *
 * The server certificate and key as loaded objects: read and checked once
 * (on the main thread), then installed into each service thread's SSL_CTX
 * by that thread. Lets SIGHUP swap certificates without touching open
 * connections: an SSL keeps the certificate it was made with.
 */
#ifndef WAYPOINTD_TLS_H
#define WAYPOINTD_TLS_H

#include <stddef.h>
#include <stdint.h>

struct tls_material;

/* Read a PEM certificate chain and its PEM private key and check that they
 * belong together. 0 and *out (free with tls_material_free), or a negative
 * errno and a one-line reason in err. */
int tls_material_load(const char *cert_path, const char *key_path, struct tls_material **out, char *err,
                      size_t errlen);
void tls_material_free(struct tls_material *m);

/* Make ssl_ctx (an SSL_CTX *) serve m from its next handshake on. 0 or -EINVAL. */
int tls_material_apply(void *ssl_ctx, const struct tls_material *m);

/* What every service thread's server SSL_CTX (void * for SSL_CTX *) needs
 * before its first connection: TLS 1.2 at least, and session tickets under
 * the process-wide keys, so that a client resumes on any thread. The keys
 * are made from the OS's random source at the first handshake, never leave
 * memory, and rotate (tls.c). Any thread. 0 or -EINVAL. */
int tls_server_setup(void *ssl_ctx);
/* Erase the ticket keys (the end of serve, once no handshake can run). */
void tls_keys_forget(void);
/* For tests: the ticket keys' clock, in seconds (NULL: the monotonic clock). */
void tls_keys_clock(int64_t (*now_s)(void));

#endif
