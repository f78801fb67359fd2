/* SPDX-License-Identifier: MIT
 *
 * The SSRF classifier of webhook_addr.h: every address is turned into 16
 * bytes (IPv4 as ::ffff:a.b.c.d), then compared with a table of refused
 * ranges. Pure.
 */
#include "webhook_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct range {
    const char *text;
    const char *why;
};

/* IANA's special-purpose registries (RFC 6890 and later): none of these is a
 * receiver on the public Internet. */
static const struct range refused[] = {
    {"0.0.0.0/8", "this network"},
    {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "CGNAT"},
    {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"}, /* 169.254.169.254: cloud metadata */
    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},
    {"192.0.2.0/24", "documentation"},
    {"192.88.99.0/24", "reserved"},
    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmark"},
    {"198.51.100.0/24", "documentation"},
    {"203.0.113.0/24", "documentation"},
    {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"}, /* and 255.255.255.255 */
    {"::/128", "unspecified"},
    {"::1/128", "loopback"},
    {"::/96", "IPv4-compatible"},
    {"64:ff9b::/96", "NAT64"},
    {"64:ff9b:1::/48", "NAT64"},
    {"100::/64", "discard"},
    {"2001::/23", "reserved"},
    {"2001:db8::/32", "documentation"},
    {"2002::/16", "6to4"},
    {"fc00::/7", "private"},
    {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},
    {"ff00::/8", "multicast"},
};

static int in_range(const uint8_t a[16], const uint8_t r[16], int prefix)
{
    int full = prefix / 8, bits = prefix % 8;

    if (memcmp(a, r, (size_t)full))
        return 0;
    if (!bits)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - bits));
    return (a[full] & mask) == (r[full] & mask);
}

int webhook_cidr_parse(const char *text, struct webhook_cidr *out)
{
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    struct in_addr v4;
    int max, prefix;

    if (!len || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        max = 128;
    } else {
        return -EINVAL;
    }
    prefix = max;
    if (slash) {
        char *end;
        long p;

        if (!slash[1] || slash[1] == '-' || slash[1] == '+')
            return -EINVAL;
        p = strtol(slash + 1, &end, 10);
        if (*end || p < 0 || p > max)
            return -EINVAL;
        prefix = (int)p;
    }
    out->prefix = prefix + (max == 32 ? 96 : 0);
    return 0;
}

const char *webhook_addr_refused(const struct sockaddr *sa, const struct webhook_cidr *allow, size_t nallow)
{
    uint8_t a[16] = {0};

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        a[10] = a[11] = 0xff;
        memcpy(a + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return "family";
    }
    for (size_t i = 0; i < nallow; i++)
        if (in_range(a, allow[i].addr, allow[i].prefix))
            return NULL;
    /* An IPv4 address in any IPv6 form is judged as that IPv4 address (its
     * IPv4 ranges below); ::ffff:0:0/96 itself is not a refused range. */
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct webhook_cidr r;

        if (webhook_cidr_parse(refused[i].text, &r))
            continue; /* the table is ours: never */
        if (in_range(a, r.addr, r.prefix))
            return refused[i].why;
    }
    return NULL;
}
