/* SPDX-License-Identifier: MIT
 *
 * Standard Webhooks v1 signatures (HMAC-SHA256), pure apart from OpenSSL:
 * secrets as "whsec_<base64>", the signature "v1,<base64>" of
 * "<id>.<timestamp>.<body>", and the receiver's check of a
 * webhook-signature header against one or two secrets (rotation) with a
 * timestamp tolerance. No I/O, no state; any thread.
 */
#ifndef WAYPOINTD_WHSIG_H
#define WAYPOINTD_WHSIG_H

#include <stddef.h>
#include <stdint.h>

/* The specification: "Random. At least 24 bytes (192 bits, 512 maximum)". */
#define WHSIG_KEY_MIN 24
#define WHSIG_KEY_MAX 64
/* What whsig_secret_generate makes: 32 bytes, the HMAC-SHA256 block's half. */
#define WHSIG_KEY_GEN 32
/* "whsec_" + base64 of WHSIG_KEY_MAX bytes (88 characters) + NUL. */
#define WHSIG_SECRET_MAX 96
/* "v1," + base64 of 32 bytes (44 characters) + NUL. */
#define WHSIG_SIG_LEN 48
/* The tolerance the specification's libraries use: five minutes. */
#define WHSIG_TOLERANCE_S 300

struct whsig_key {
    uint8_t bytes[WHSIG_KEY_MAX];
    size_t len;
};

/* Decode "whsec_<base64>" (standard alphabet, padded) into key: 0, or
 * -EINVAL for another prefix, malformed base64 or a length outside
 * WHSIG_KEY_MIN..WHSIG_KEY_MAX bytes. */
int whsig_secret_parse(const char *text, struct whsig_key *key);
/* Write "whsec_<base64>" of key into out (at least WHSIG_SECRET_MAX bytes
 * is always enough): 0, -EINVAL for a bad length, -ENOSPC. */
int whsig_secret_format(const struct whsig_key *key, char *out, size_t outlen);
/* WHSIG_KEY_GEN fresh random bytes (RAND_bytes): 0 or -EIO. */
int whsig_secret_generate(struct whsig_key *key);

/* "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" into out. The id must be
 * non-empty and hold no '.' (the specification forbids it: the dot separates
 * the signed parts): 0, -EINVAL, or -EIO (HMAC failed). */
int whsig_sign(const struct whsig_key *key, const char *id, int64_t timestamp, const void *body, size_t len,
               char out[WHSIG_SIG_LEN]);
/* The webhook-signature header value for nkeys (1 or 2) keys: their
 * signatures separated by one space, the first key's first. 0, -EINVAL,
 * -ENOSPC (outlen below nkeys * WHSIG_SIG_LEN) or -EIO. */
int whsig_header(const struct whsig_key *keys, size_t nkeys, const char *id, int64_t timestamp, const void *body,
                 size_t len, char *out, size_t outlen);

/* A receiver's check: timestamp_text is the webhook-timestamp header (decimal
 * Unix seconds), header the webhook-signature value (space-separated
 * "VERSION,BASE64" items; items of other versions are skipped). Returns 0
 * when some v1 item matches some key (compared in constant time); -EINVAL for
 * a malformed id, timestamp or header; -ETIME when the timestamp is more than
 * tolerance_s seconds from now_s (either way); -EACCES when nothing matches. */
int whsig_verify(const struct whsig_key *keys, size_t nkeys, const char *id, const char *timestamp_text,
                 const void *body, size_t len, const char *header, int64_t now_s, int64_t tolerance_s);

/* Base64 (standard alphabet, padded) of len bytes into out: the length
 * written without the NUL, or -ENOSPC. Exposed for the tests and the CLI. */
int whsig_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
/* Strict decode of textlen characters: a multiple of 4, padding only at the
 * end, no whitespace. The number of bytes, -EINVAL, or -ENOSPC. */
int whsig_b64_decode(const char *text, size_t textlen, uint8_t *out, size_t outlen);

#endif
