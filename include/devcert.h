/* SPDX-License-Identifier: MIT
 *
 * A self-signed development certificate (ECDSA P-256) for localhost,
 * 127.0.0.1 and ::1, made with OpenSSL: what certs/make-dev-cert.sh makes,
 * for the demo, which must not depend on a shell script.
 */
#ifndef WAYPOINTD_DEVCERT_H
#define WAYPOINTD_DEVCERT_H

#include <stddef.h>

/* Write cert_path (mode 0644) and key_path (mode 0600). 0, or a negative
 * errno with a one-line reason in err. */
int devcert_make(const char *cert_path, const char *key_path, char *err, size_t errlen);

#endif
