/* SPDX-License-Identifier: MIT
 *
 * Pure UTF-8 repair (see utf8.h). The store copies every text column through
 * utf8_dup_repaired, because other programs may write any bytes into a TEXT
 * column and JSON, WebSocket text frames and SSE must carry UTF-8 only.
 * No I/O; any thread.
 */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* The second byte's range depends on the lead byte (Unicode table 3-7);
 * every later one is 80..BF. */
size_t utf8_seq_len(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t need, k;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else {
        *bad = 1; /* a continuation byte first, C0, C1, F5..FF */
        return 0;
    }
    for (k = 1; k <= need; k++) {
        if (k >= len || s[k] < lo || s[k] > hi) {
            *bad = k; /* the lead and the continuations that fitted */
            return 0;
        }
        lo = 0x80, hi = 0xbf;
    }
    return need + 1;
}

size_t utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n, bad;

    while (i < len) {
        if (s[i] < 0x80) { /* the common case, byte by byte */
            i++;
            continue;
        }
        n = utf8_seq_len(s + i, len - i, &bad);
        if (!n)
            break;
        i += n;
    }
    return i;
}

/* Both passes in one: with out NULL only count. */
static size_t repair(const char *str, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0, n, bad;

    while (i < len) {
        n = utf8_seq_len(s + i, len - i, &bad);
        if (n) {
            if (out)
                memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            if (out)
                memcpy(out + o, UTF8_REPLACEMENT, 3);
            o += 3;
            i += bad;
        }
    }
    return o;
}

size_t utf8_repair(const char *s, size_t len, char *out)
{
    return repair(s, len, out);
}

size_t utf8_repaired_len(const char *s, size_t len)
{
    return repair(s, len, NULL);
}

char *utf8_dup_repaired(const char *s, size_t len)
{
    size_t valid = utf8_valid_prefix(s, len), n;
    char *out;

    if (valid == len) { /* nearly always: one scan and a copy */
        out = malloc(len + 1);
        if (out) {
            memcpy(out, s, len);
            out[len] = '\0';
        }
        return out;
    }
    n = valid + utf8_repaired_len(s + valid, len - valid);
    out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, s, valid);
    utf8_repair(s + valid, len - valid, out + valid);
    out[n] = '\0';
    return out;
}
