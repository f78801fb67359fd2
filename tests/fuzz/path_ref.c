/* SPDX-License-Identifier: MIT
 *
 * Reference versions of path.c, written the plain way, for fuzz_routes: a
 * table-driven UTF-8 decoder and splitters for API and static-file paths.
 * Each check_* aborts (FUZZ_CHECK) when path.c disagrees with its reference.
 */
#include "path_ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "path.h"
#include "routes.h"
#include "utf8.h"

/* Unicode's table 3-7 of well-formed UTF-8 byte sequences, written out. */
static int ref_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], lo = 0x80, hi = 0xbf;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return 0;
        if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return 0;
        i += k + 1;
    }
    return 1;
}

static int ref_id(const unsigned char *s, size_t n)
{
    if (n == 0 || n > MODEL_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return ref_utf8(s, n);
}

/* The WHATWG Encoding Standard's UTF-8 decoder, step by step (bytes needed,
 * bytes seen, lower and upper boundary), re-encoding what it decodes: one
 * U+FFFD per maximal subpart. Returns the bytes written to out (3 * n). */
static size_t ref_repair(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t i = 0, o = 0, start = 0, needed = 0, seen = 0;
    unsigned lower = 0x80, upper = 0xbf;

    while (i < n) {
        unsigned b = s[i];

        if (needed == 0) {
            start = i++;
            if (b <= 0x7f)
                out[o++] = (unsigned char)b;
            else if (b >= 0xc2 && b <= 0xdf)
                needed = 1;
            else if (b >= 0xe0 && b <= 0xef)
                needed = 2, lower = b == 0xe0 ? 0xa0 : 0x80, upper = b == 0xed ? 0x9f : 0xbf;
            else if (b >= 0xf0 && b <= 0xf4)
                needed = 3, lower = b == 0xf0 ? 0x90 : 0x80, upper = b == 0xf4 ? 0x8f : 0xbf;
            else
                memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
            continue;
        }
        if (b < lower || b > upper) { /* error; the byte is read again */
            needed = seen = 0, lower = 0x80, upper = 0xbf;
            memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
            continue;
        }
        lower = 0x80, upper = 0xbf;
        i++;
        if (++seen == needed) {
            memcpy(out + o, s + start, i - start), o += i - start;
            needed = seen = 0;
        }
    }
    if (needed)
        memcpy(out + o, "\xef\xbf\xbd", 3), o += 3;
    return o;
}

void check_utf8(const uint8_t *data, size_t size)
{
    unsigned char *want = malloc(3 * size + 1);
    char *got = utf8_dup_repaired((const char *)data, size);
    size_t wlen;

    FUZZ_CHECK(path_utf8_valid((const char *)data, size) == ref_utf8(data, size));
    FUZZ_CHECK(path_id_valid((const char *)data, size) == ref_id(data, size));
    FUZZ_CHECK(want && got);
    wlen = ref_repair(data, size, want);
    FUZZ_CHECK(utf8_repaired_len((const char *)data, size) == wlen);
    FUZZ_CHECK(!memcmp(got, want, wlen) && got[wlen] == '\0');
    FUZZ_CHECK(ref_utf8((const unsigned char *)got, wlen));
    FUZZ_CHECK((utf8_valid_prefix((const char *)data, size) == size) == ref_utf8(data, size));
    if (ref_utf8(data, size))
        FUZZ_CHECK(wlen == size && !memcmp(got, data, size));
    free(want);
    free(got);
}

/* path_match by splitting "/dcs/A/customers/B[/suffix]" on '/'. */
void check_path_match(const char *path, const struct path_match *m)
{
    static const char *const suffixes[] = {"confident-location", "waypoints", "tracking-token"};
    const char *seg[6], *p; /* 6: more segments than any route has */
    size_t len[6], n = 0;
    enum path_route want = PATH_UNKNOWN;

    if (strncmp(path, "/dcs/", 5)) {
        FUZZ_CHECK(m->route == (strcmp(path, "/dcs") ? PATH_NONE : PATH_UNKNOWN));
        FUZZ_CHECK(!m->bad_id && !m->dc_id[0] && !m->customer_id[0]);
        return;
    }
    for (p = path + 5; n < 6; n++) {
        const char *slash = strchr(p, '/');

        seg[n] = p;
        len[n] = slash ? (size_t)(slash - p) : strlen(p);
        if (!slash) {
            n++;
            break;
        }
        p = slash + 1;
    }
    if (n >= 3 && len[1] == 9 && !memcmp(seg[1], "customers", 9)) {
        if (n == 3)
            want = PATH_CUSTOMER;
        for (size_t i = 0; n == 4 && i < 3; i++)
            if (len[3] == strlen(suffixes[i]) && !memcmp(seg[3], suffixes[i], len[3]))
                want = (enum path_route)(PATH_CONFIDENT + i);
        if (n == 5 && len[3] == 9 && !memcmp(seg[3], "waypoints", 9) && len[4] == 6 && !memcmp(seg[4], "events", 6))
            want = PATH_EVENTS;
    }
    FUZZ_CHECK(m->route == want);
    if (want == PATH_UNKNOWN) {
        FUZZ_CHECK(!m->bad_id && !m->dc_id[0] && !m->customer_id[0]);
        return;
    }
    if (!ref_id((const unsigned char *)seg[0], len[0]) || !ref_id((const unsigned char *)seg[2], len[2])) {
        FUZZ_CHECK(m->bad_id && !m->dc_id[0] && !m->customer_id[0]);
        return;
    }
    FUZZ_CHECK(!m->bad_id);
    FUZZ_CHECK(strlen(m->dc_id) == len[0] && !memcmp(m->dc_id, seg[0], len[0]));
    FUZZ_CHECK(strlen(m->customer_id) == len[2] && !memcmp(m->customer_id, seg[2], len[2]));
}

static int ref_segment_ok(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
            return 0;
    return 1;
}

/* The file a static path names, built the obvious way: NULL when refused. */
char *ref_static_file(const char *path)
{
    size_t plen = strlen(path);
    char *name, *p;

    if (path[0] != '/')
        return NULL;
    name = malloc(plen + sizeof("index.html"));
    FUZZ_CHECK(name != NULL);
    strcpy(name, path + 1);
    if (!name[0] || path[plen - 1] == '/')
        strcat(name, "index.html");
    for (p = name;; p++) {
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (!ref_segment_ok(p, len)) {
            free(name);
            return NULL;
        }
        if (!slash)
            return name;
        p = slash;
    }
}

/* path_static_file into buffers of exactly cap bytes (so ASan sees any write
 * past them), once big and once small, against ref_static_file. */
void check_static_file(const char *path, size_t small_cap)
{
    const size_t big_cap = sizeof(((struct routes_response *)0)->file);
    char *want = ref_static_file(path), *big = malloc(big_cap), *small = malloc(small_cap);
    int rb, rs;

    FUZZ_CHECK(big && small);
    rb = path_static_file(path, big, big_cap);
    rs = path_static_file(path, small, small_cap);
    FUZZ_CHECK(rb == 0 || rb == -EINVAL || rb == -ENAMETOOLONG);
    FUZZ_CHECK(rs == 0 || rs == -EINVAL || rs == -ENAMETOOLONG);
    if (!want) {
        FUZZ_CHECK(rb != 0 && rs != 0);
    } else {
        /* It may refuse a name that would fit exactly (it keeps room for one
         * more '/'), but never a shorter one. */
        if (strlen(want) + 2 <= big_cap)
            FUZZ_CHECK(rb == 0);
        if (strlen(want) + 2 <= small_cap)
            FUZZ_CHECK(rs == 0);
        FUZZ_CHECK(rb != -EINVAL && rs != -EINVAL);
        if (rb == 0)
            FUZZ_CHECK(!strcmp(big, want) && path_mime_type(big) != NULL);
        if (rs == 0)
            FUZZ_CHECK(!strcmp(small, want));
    }
    free(want);
    free(big);
    free(small);
}
