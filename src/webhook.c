/* SPDX-License-Identifier: MIT
 *
 * Webhooks' pure vocabulary: event type names and lists, the endpoint URL
 * check `webhook add` applies, and threshold lists. The SSRF check of the
 * address a URL resolves to belongs to delivery (at connect time), not here.
 * No I/O; any thread.
 */
#include "webhook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name, *alias;
} events[WEBHOOK_EVENT_COUNT] = {
    [WEBHOOK_WAYPOINT_STATUS_CHANGED] = {"waypoint.status_changed", "WAYPOINT_STATUS_CHANGED"},
    [WEBHOOK_WAYPOINT_ETA_CHANGED] = {"waypoint.eta_changed", "WAYPOINT_ETA_CHANGED"},
    [WEBHOOK_WAYPOINT_APPROACHING] = {"waypoint.approaching", "WAYPOINT_APPROACHING"},
    [WEBHOOK_WAYPOINT_REMOVED] = {"waypoint.removed", "WAYPOINT_REMOVED"},
    [WEBHOOK_CUSTOMER_LOCATION_CONFIDENT] = {"customer.location_confident", "CUSTOMER_LOCATION_CONFIDENT"},
    [WEBHOOK_TEST] = {"webhook.test", "WEBHOOK_TEST"},
};

const char *webhook_event_name(enum webhook_event e)
{
    return (unsigned)e < WEBHOOK_EVENT_COUNT ? events[e].name : "";
}

const char *webhook_event_alias(enum webhook_event e)
{
    return (unsigned)e < WEBHOOK_EVENT_COUNT ? events[e].alias : "";
}

static int event_lookup(const char *item, size_t len)
{
    for (int e = 0; e < WEBHOOK_EVENT_COUNT; e++)
        if ((strlen(events[e].name) == len && !memcmp(events[e].name, item, len)) ||
            (strlen(events[e].alias) == len && !memcmp(events[e].alias, item, len)))
            return e;
    return -1;
}

int webhook_events_parse(const char *list, unsigned *mask, char *bad, size_t badlen)
{
    unsigned m = 0;

    *mask = 0;
    if (bad && badlen)
        bad[0] = '\0';
    for (const char *p = list;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int e = event_lookup(p, len);

        if (e < 0) {
            if (bad && badlen)
                snprintf(bad, badlen, "%.*s", (int)len, p);
            return -EINVAL;
        }
        m |= WEBHOOK_EVENT_BIT(e);
        if (!end)
            break;
        p = end;
    }
    *mask = m;
    return 0;
}

int webhook_events_format(unsigned mask, char *out, size_t outlen)
{
    size_t o = 0;

    if (!(mask & (WEBHOOK_EVENT_BIT(WEBHOOK_EVENT_COUNT) - 1)))
        return -EINVAL;
    for (int e = 0; e < WEBHOOK_EVENT_COUNT; e++) {
        int n;

        if (!(mask & WEBHOOK_EVENT_BIT(e)))
            continue;
        n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "", events[e].name);
        if (n < 0 || (size_t)n >= outlen - o) {
            if (outlen)
                out[0] = '\0';
            return -ENOSPC;
        }
        o += (size_t)n;
    }
    return 0;
}

/* RFC 3986's unreserved, sub-delims, ":", "/", "?", "@", "[", "]" and "%".
 * Not "#" (a fragment is never sent), "\" (some parsers read it as "/"),
 * spaces, controls or non-ASCII. */
static int url_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:/?@[]%", c));
}

static int port_valid(const char *p, size_t len)
{
    long v = 0;

    if (!len || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

int webhook_url_check(const char *url)
{
    const char *auth, *end, *host_end;
    size_t len = strlen(url);

    if (strncasecmp(url, "https://", 8)) {
        const char *colon = strstr(url, "://");

        return colon && colon > url ? -EPROTONOSUPPORT : -EINVAL;
    }
    if (len > WEBHOOK_URL_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!url_char((unsigned char)url[i]))
            return -EINVAL;
    auth = url + 8;
    end = auth + strcspn(auth, "/?");
    if (memchr(auth, '@', (size_t)(end - auth)))
        return -EINVAL; /* credentials belong in the signature, not the URL */
    if (*auth == '[') {
        host_end = memchr(auth, ']', (size_t)(end - auth));
        if (!host_end || host_end == auth + 1)
            return -EINVAL;
        host_end++;
    } else {
        host_end = memchr(auth, ':', (size_t)(end - auth));
        if (!host_end)
            host_end = end;
        if (host_end == auth || memchr(auth, '[', (size_t)(host_end - auth)) ||
            memchr(auth, ']', (size_t)(host_end - auth)))
            return -EINVAL;
    }
    if (host_end != end && (*host_end != ':' || !port_valid(host_end + 1, (size_t)(end - host_end - 1))))
        return -EINVAL;
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x < y) - (x > y);
}

int webhook_thresholds_parse(const char *list, int min, int max, int allow_empty, char *out, size_t outlen)
{
    int v[WEBHOOK_THRESHOLDS_MAX];
    size_t n = 0, o = 0;

    if (!*list) {
        if (!allow_empty || !outlen)
            return !allow_empty ? -EINVAL : -ENOSPC;
        out[0] = '\0';
        return 0;
    }
    for (const char *p = list;;) {
        long x = 0;
        size_t digits = 0;

        while (p[digits] >= '0' && p[digits] <= '9' && digits < 10)
            x = x * 10 + (p[digits++] - '0');
        if (!digits || (p[digits] != ',' && p[digits] != '\0') || x < min || x > max ||
            n == WEBHOOK_THRESHOLDS_MAX)
            return -EINVAL;
        v[n++] = (int)x;
        if (!p[digits])
            break;
        p += digits + 1;
    }
    qsort(v, n, sizeof(v[0]), cmp_desc);
    for (size_t i = 0; i < n; i++) {
        int k;

        if (i && v[i] == v[i - 1])
            continue;
        k = snprintf(out + o, outlen - o, "%s%d", o ? "," : "", v[i]);
        if (k < 0 || (size_t)k >= outlen - o) {
            if (outlen)
                out[0] = '\0';
            return -ENOSPC;
        }
        o += (size_t)k;
    }
    return 0;
}
