/* SPDX-License-Identifier: MIT
 *
 * Which addresses a webhook delivery may connect to (issue 15, SSRF): a
 * pure classifier of the resolved address, called by webhook_send.c from
 * curl's open-socket callback, i.e. on the address about to be connected
 * to (which also covers DNS rebinding). Refused unless an allowed range
 * holds it: loopback, private (RFC 1918, IPv6 ULA), link-local (including
 * the cloud metadata 169.254.169.254 and fe80::/10), CGNAT 100.64/10,
 * "this network" 0/8, multicast, reserved and broadcast, the documentation
 * and benchmark ranges, and IPv6's unspecified, site-local, NAT64 and
 * IPv4-mapped/compatible forms of any of those. No state; any thread.
 */
#ifndef WAYPOINTD_WEBHOOK_ADDR_H
#define WAYPOINTD_WEBHOOK_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* A range given with --webhook-allow-private. IPv4 ranges are kept as
 * IPv4-mapped IPv6 (prefix + 96), so one comparison serves both. */
struct webhook_cidr {
    uint8_t addr[16];
    int prefix; /* 0..128 */
};

/* Parse "A.B.C.D/N", "X::Y/N" or a single address (a full-length prefix):
 * 0 or -EINVAL. */
int webhook_cidr_parse(const char *text, struct webhook_cidr *out);

/* NULL when a delivery may connect to sa (AF_INET or AF_INET6), else why
 * not, as a static string ("loopback", "private", ...). A range in allow
 * lets an address through whatever its class. Other families: "family". */
const char *webhook_addr_refused(const struct sockaddr *sa, const struct webhook_cidr *allow, size_t nallow);

#endif
