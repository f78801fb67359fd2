/* SPDX-License-Identifier: MIT
 *
 * Pure path handling: which API resource a path names, whether its ids are
 * acceptable, and which static file it may serve. No I/O; any thread.
 */
#include "path.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int path_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned int cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0; /* continuation byte first, overlong 0xc0/0xc1, or > U+10FFFF */
        }
        if (i + need >= len) /* truncated sequence */
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Reject overlong forms, surrogates and anything past U+10FFFF. */
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

int path_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > MODEL_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return path_utf8_valid(s, len);
}

/* Copy segment [s, s+len) into out (MODEL_ID_MAX + 1 bytes) if it is a valid id. */
static int take_id(const char *s, size_t len, char *out)
{
    if (!path_id_valid(s, len))
        return -EINVAL;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static enum path_route suffix_route(const char *rest)
{
    if (*rest == '\0')
        return PATH_CUSTOMER;
    if (!strcmp(rest, "/confident-location"))
        return PATH_CONFIDENT;
    if (!strcmp(rest, "/waypoints"))
        return PATH_WAYPOINTS;
    if (!strcmp(rest, "/waypoints/events"))
        return PATH_EVENTS;
    if (!strcmp(rest, "/tracking-token"))
        return PATH_TRACKING_TOKEN;
    return PATH_UNKNOWN;
}

void path_match(const char *path, struct path_match *m)
{
    static const char prefix[] = "/dcs/";
    static const char middle[] = "/customers/";
    const char *dc, *dc_end, *cust, *cust_end;

    memset(m, 0, sizeof(*m));
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
        m->route = strcmp(path, "/dcs") ? PATH_NONE : PATH_UNKNOWN;
        return;
    }
    m->route = PATH_UNKNOWN;
    dc = path + sizeof(prefix) - 1;
    dc_end = strchr(dc, '/');
    if (!dc_end || strncmp(dc_end, middle, sizeof(middle) - 1) != 0)
        return;
    cust = dc_end + sizeof(middle) - 1;
    cust_end = strchr(cust, '/');
    if (!cust_end)
        cust_end = cust + strlen(cust);
    m->route = suffix_route(cust_end);
    if (m->route == PATH_UNKNOWN)
        return;
    if (take_id(dc, (size_t)(dc_end - dc), m->dc_id) || take_id(cust, (size_t)(cust_end - cust), m->customer_id)) {
        m->bad_id = 1;
        m->dc_id[0] = m->customer_id[0] = '\0';
    }
}

/* A static path segment must not be empty, hidden, "." or "..". */
static int segment_ok(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
            return 0;
    return 1;
}

int path_static_file(const char *path, char *out, size_t cap)
{
    const char *p = path;
    size_t used = 0;

    if (*p != '/')
        return -EINVAL;
    p++;
    if (*p == '\0')
        p = "index.html";
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (!segment_ok(p, len))
            return -EINVAL;
        if (used + len + 2 > cap)
            return -ENAMETOOLONG;
        if (used)
            out[used++] = '/';
        memcpy(out + used, p, len);
        used += len;
        if (!end)
            break;
        p = end + 1;
        if (*p == '\0') /* "dir/" serves the directory's index */
            p = "index.html";
    }
    out[used] = '\0';
    return 0;
}

const char *path_static_leaflet(const char *file)
{
    size_t n = sizeof(PATH_LEAFLET_PREFIX) - 1;

    return strncmp(file, PATH_LEAFLET_PREFIX, n) || !file[n] ? NULL : file + n;
}

const char *path_mime_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"}, {"svg", "image/svg+xml"}, {"png", "image/png"},
        {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"ico", "image/x-icon"},
        {"webp", "image/webp"}, {"txt", "text/plain; charset=utf-8"}, {"map", "application/json"},
        {"woff2", "font/woff2"}, {"webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(name, '.');

    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (!strcasecmp(dot + 1, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}
