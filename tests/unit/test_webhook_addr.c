/* SPDX-License-Identifier: MIT
 *
 * webhook_addr.c: the SSRF classifier on resolved addresses (IPv4, IPv6,
 * IPv4-mapped), the allow ranges, CIDR parsing; and webhook_send.c's retry
 * schedule.
 */
#include "webhook_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "webhook_send.h"

/* Why the address text is refused (NULL: allowed), with the allow list. */
static const char *why(const char *text, const struct webhook_cidr *allow, size_t n)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    if (inet_pton(AF_INET, text, &in.sin_addr) == 1)
        return webhook_addr_refused((struct sockaddr *)&in, allow, n);
    assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    return webhook_addr_refused((struct sockaddr *)&in6, allow, n);
}

static void test_refused_ipv4(void **state)
{
    static const struct {
        const char *addr, *why;
    } cases[] = {
        {"127.0.0.1", "loopback"},       {"127.255.255.254", "loopback"}, {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},   {"172.16.0.1", "private"},       {"172.31.255.255", "private"},
        {"192.168.1.1", "private"},      {"169.254.169.254", "link-local"}, {"169.254.0.1", "link-local"},
        {"100.64.0.1", "CGNAT"},         {"100.127.255.255", "CGNAT"},    {"0.0.0.0", "this network"},
        {"0.1.2.3", "this network"},     {"224.0.0.1", "multicast"},      {"239.255.255.250", "multicast"},
        {"255.255.255.255", "reserved"}, {"240.0.0.1", "reserved"},       {"192.0.2.10", "documentation"},
        {"198.51.100.1", "documentation"}, {"203.0.113.5", "documentation"}, {"198.18.0.1", "benchmark"},
        {"192.0.0.8", "reserved"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *w = why(cases[i].addr, NULL, 0);

        if (!w || strcmp(w, cases[i].why))
            fail_msg("%s: got %s, want %s", cases[i].addr, w ? w : "allowed", cases[i].why);
    }
}

static void test_public_ipv4_allowed(void **state)
{
    static const char *const ok[] = {"1.1.1.1",     "8.8.8.8",        "93.184.216.34", "172.15.255.255",
                                     "172.32.0.1",  "100.63.255.255", "100.128.0.1",   "169.253.255.255",
                                     "192.169.0.1", "11.0.0.1",       "126.255.255.255", "128.0.0.1",
                                     "223.255.255.255"};
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (why(ok[i], NULL, 0))
            fail_msg("%s refused as %s", ok[i], why(ok[i], NULL, 0));
}

static void test_ipv6(void **state)
{
    static const struct {
        const char *addr, *why;
    } cases[] = {
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fe80::1", "link-local"},
        {"febf::1", "link-local"},
        {"fc00::1", "private"},
        {"fd12:3456::1", "private"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"2001:db8::1", "documentation"},
        {"64:ff9b::a00:1", "NAT64"},
        {"2002:a00:1::1", "6to4"},
        {"2001::1", "reserved"}, /* Teredo */
        {"::ffff:127.0.0.1", "loopback"}, /* IPv4-mapped: judged as IPv4 */
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:100.64.1.1", "CGNAT"},
        {"::127.0.0.1", "IPv4-compatible"},
        {"fd00:ec2::254", "private"}, /* AWS's IPv6 metadata address */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *w = why(cases[i].addr, NULL, 0);

        if (!w || strcmp(w, cases[i].why))
            fail_msg("%s: got %s, want %s", cases[i].addr, w ? w : "allowed", cases[i].why);
    }
    assert_null(why("2606:4700:4700::1111", NULL, 0));
    assert_null(why("2a00:1450:4001:80b::200e", NULL, 0));
    assert_null(why("::ffff:8.8.8.8", NULL, 0));
}

static void test_allow_ranges(void **state)
{
    struct webhook_cidr allow[3];

    (void)state;
    assert_int_equal(webhook_cidr_parse("127.0.0.0/8", &allow[0]), 0);
    assert_int_equal(webhook_cidr_parse("fd00::/8", &allow[1]), 0);
    assert_int_equal(webhook_cidr_parse("10.1.2.3", &allow[2]), 0);
    assert_null(why("127.0.0.1", allow, 3));
    assert_null(why("::ffff:127.0.0.1", allow, 3)); /* the mapped form too */
    assert_null(why("fd12::1", allow, 3));
    assert_null(why("10.1.2.3", allow, 3));
    assert_string_equal(why("10.1.2.4", allow, 3), "private");
    assert_string_equal(why("::1", allow, 3), "loopback");
    assert_string_equal(why("fc00::1", allow, 3), "private");
    assert_string_equal(why("169.254.169.254", allow, 3), "link-local");
    assert_string_equal(why("127.0.0.1", allow, 0), "loopback");
}

static void test_cidr_parse(void **state)
{
    struct webhook_cidr c;

    (void)state;
    assert_int_equal(webhook_cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.prefix, 104);
    assert_int_equal(webhook_cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
    assert_int_equal(webhook_cidr_parse("0.0.0.0/0", &c), 0);
    assert_int_equal(c.prefix, 96);
    assert_int_equal(webhook_cidr_parse("10.0.0.0/33", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("::/129", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("10.0.0.0/", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("10.0.0.0/8x", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("example.com/8", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("/8", &c), -EINVAL);
    assert_int_equal(webhook_cidr_parse("10.0.0/8", &c), -EINVAL);
}

static void test_other_family(void **state)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};

    (void)state;
    assert_string_equal(webhook_addr_refused((struct sockaddr *)&un, NULL, 0), "family");
}

static void test_backoff_schedule(void **state)
{
    (void)state;
    assert_int_equal(webhook_send_backoff_ms(1), 5000);
    assert_int_equal(webhook_send_backoff_ms(2), 30000);
    assert_int_equal(webhook_send_backoff_ms(3), 120000);
    assert_int_equal(webhook_send_backoff_ms(4), 600000);
    assert_int_equal(webhook_send_backoff_ms(5), 1800000);
    assert_int_equal(webhook_send_backoff_ms(6), 3600000);
    assert_int_equal(webhook_send_backoff_ms(7), 7200000);
    assert_int_equal(webhook_send_backoff_ms(100), 7200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_ipv4), cmocka_unit_test(test_public_ipv4_allowed),
        cmocka_unit_test(test_ipv6),         cmocka_unit_test(test_allow_ranges),
        cmocka_unit_test(test_cidr_parse),   cmocka_unit_test(test_other_family),
        cmocka_unit_test(test_backoff_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
