/* SPDX-License-Identifier: MIT */
/* Unit tests for path.c: API path classification, id validation, UTF-8
 * checking, static file mapping and MIME types. Pure functions, no I/O. */
#include "path.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* path_utf8_valid over a NUL-terminated literal. */
static int utf8(const char *s)
{
    return path_utf8_valid(s, strlen(s));
}

static void test_utf8_valid_sequences(void **state)
{
    (void)state;
    assert_int_equal(path_utf8_valid("", 0), 1);
    assert_int_equal(utf8("plain ascii 0123 ~"), 1);
    assert_int_equal(utf8("\xc2\x80"), 1);         /* U+0080, smallest 2-byte */
    assert_int_equal(utf8("\xdf\xbf"), 1);         /* U+07FF */
    assert_int_equal(utf8("Z\xc3\xbcrich"), 1);    /* Zürich */
    assert_int_equal(utf8("\xe0\xa0\x80"), 1);     /* U+0800, smallest 3-byte */
    assert_int_equal(utf8("\xe2\x82\xac"), 1);     /* € */
    assert_int_equal(utf8("\xed\x9f\xbf"), 1);     /* U+D7FF, just below surrogates */
    assert_int_equal(utf8("\xee\x80\x80"), 1);     /* U+E000, just above surrogates */
    assert_int_equal(utf8("\xef\xbf\xbf"), 1);     /* U+FFFF */
    assert_int_equal(utf8("\xf0\x90\x80\x80"), 1); /* U+10000, smallest 4-byte */
    assert_int_equal(utf8("\xf0\x9f\x98\x80"), 1); /* emoji */
    assert_int_equal(utf8("\xf4\x8f\xbf\xbf"), 1); /* U+10FFFF, the last code point */
    /* NUL is ASCII: the length, not the terminator, bounds the check. */
    assert_int_equal(path_utf8_valid("a\0b", 3), 1);
}

static void test_utf8_invalid_sequences(void **state)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation byte */
        "a\xbf",            /* continuation byte after ASCII */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong 2-byte */
        "\xe0\x80\xaf",     /* overlong 3-byte '/' */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x80\x80\xaf", /* overlong 4-byte '/' */
        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
        "\xed\xa0\x80",     /* U+D800, high surrogate */
        "\xed\xbf\xbf",     /* U+DFFF, low surrogate */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xc3",         /* truncated 2-byte */
        "\xe2\x82",     /* truncated 3-byte */
        "\xf0\x9f\x98", /* truncated 4-byte */
        "abc\xc3",      /* truncated at the end after valid text */
        "\xc3\x28",     /* bad continuation */
        "\xe2\x28\xa1",
        "\xe2\x82\x28",
        "\xf0\x9f\x98\x28",
        "ok\xc3\xbc\xff", /* valid prefix, bad tail */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (utf8(bad[i]) != 0)
            fail_msg("bad[%zu] was accepted as UTF-8", i);
    }
    /* A sequence cut by the length argument is truncated, even if the bytes go on. */
    assert_int_equal(path_utf8_valid("\xc3\xbc", 1), 0);
    assert_int_equal(path_utf8_valid("\xe2\x82\xac", 2), 0);
    assert_int_equal(path_utf8_valid("\xf0\x9f\x98\x80", 3), 0);
}

/* The length argument is respected: no byte past it is read (ASan checks). */
static void test_utf8_reads_only_len_bytes(void **state)
{
    char *buf = malloc(2);

    (void)state;
    assert_non_null(buf);
    memcpy(buf, "\xc3\xbc", 2); /* not NUL-terminated */
    assert_int_equal(path_utf8_valid(buf, 2), 1);
    buf[1] = 'x';
    assert_int_equal(path_utf8_valid(buf, 2), 0);
    free(buf);
}

static void test_id_valid(void **state)
{
    char id[300];

    (void)state;
    assert_int_equal(path_id_valid("c1", 2), 1);
    assert_int_equal(path_id_valid("Z\xc3\xbcrich |x y", strlen("Z\xc3\xbcrich |x y")), 1);
    assert_int_equal(path_id_valid("", 0), 0);
    assert_int_equal(path_id_valid("a\x01", 2), 0);
    assert_int_equal(path_id_valid("a\x7f", 2), 0);
    assert_int_equal(path_id_valid("a\tb", 3), 0);
    assert_int_equal(path_id_valid("\xff", 1), 0);
    assert_int_equal(path_id_valid("a\0b", 3), 0); /* NUL is a control character */
    memset(id, 'x', sizeof(id));
    assert_int_equal(path_id_valid(id, 255), 1);
    assert_int_equal(path_id_valid(id, 256), 0);
}

static void assert_route(const char *path, enum path_route route, const char *dc, const char *cust)
{
    struct path_match m;

    memset(&m, 0x5a, sizeof(m)); /* path_match must fill every field */
    path_match(path, &m);
    if ((int)m.route != (int)route)
        fail_msg("%s: route %d, want %d", path, (int)m.route, (int)route);
    assert_int_equal(m.bad_id, 0);
    assert_string_equal(m.dc_id, dc);
    assert_string_equal(m.customer_id, cust);
}

static void test_match_api_routes(void **state)
{
    (void)state;
    assert_route("/dcs/dc1/customers/c1", PATH_CUSTOMER, "dc1", "c1");
    assert_route("/dcs/dc1/customers/c1/confident-location", PATH_CONFIDENT, "dc1", "c1");
    assert_route("/dcs/dc1/customers/c1/waypoints", PATH_WAYPOINTS, "dc1", "c1");
    assert_route("/dcs/dc1/customers/c1/waypoints/events", PATH_EVENTS, "dc1", "c1");
    assert_route("/dcs/dc1/customers/c1/tracking-token", PATH_TRACKING_TOKEN, "dc1", "c1");
    /* Ids are taken as they come: lws decoded them already, never twice. */
    assert_route("/dcs/dc%201/customers/a%2Fb", PATH_CUSTOMER, "dc%201", "a%2Fb");
    assert_route("/dcs/Z\xc3\xbcrich/customers/\xe2\x82\xac|x y", PATH_CUSTOMER, "Z\xc3\xbcrich", "\xe2\x82\xac|x y");
    assert_route("/dcs/customers/customers/waypoints/waypoints", PATH_WAYPOINTS, "customers", "waypoints");
}

static void test_match_static_and_unknown(void **state)
{
    static const char *const unknown[] = {
        "/dcs",
        "/dcs/",
        "/dcs/dc1",
        "/dcs/dc1/",
        "/dcs/dc1/customers",
        "/dcs/dc1/customer/c1",
        "/dcs/dc1/other/c1/waypoints",
        "/dcs/dc1/customers/c1/",
        "/dcs/dc1/customers/c1/nope",
        "/dcs/dc1/customers/c1/waypoints/",
        "/dcs/dc1/customers/c1/waypoints/w1",
        "/dcs/dc1/customers/c1/waypoints/events/",
        "/dcs/dc1/customers/c1/waypoints/events/x",
        "/dcs/dc1/customers/c1/waypointsx",
        "/dcs/dc1/customers/c1/confident-location/x",
    };
    static const char *const none[] = {
        "/", "/index.html", "/app.js", "/dcsx", "/dcs.html", "/DCS/dc1/customers/c1", "/x/dcs/dc1/customers/c1"};
    struct path_match m;

    (void)state;
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        path_match(unknown[i], &m);
        if (m.route != PATH_UNKNOWN)
            fail_msg("%s: route %d, want PATH_UNKNOWN", unknown[i], (int)m.route);
    }
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        path_match(none[i], &m);
        if (m.route != PATH_NONE)
            fail_msg("%s: route %d, want PATH_NONE", none[i], (int)m.route);
        assert_int_equal(m.bad_id, 0);
    }
}

static void assert_bad_id(const char *path, enum path_route route)
{
    struct path_match m;

    memset(&m, 0x5a, sizeof(m));
    path_match(path, &m);
    if (m.route != route)
        fail_msg("%s: route %d, want %d", path, (int)m.route, (int)route);
    if (m.bad_id != 1)
        fail_msg("%s: bad_id not set", path);
    assert_string_equal(m.dc_id, "");
    assert_string_equal(m.customer_id, "");
}

static void test_match_bad_ids(void **state)
{
    char path[1024], id[300];

    (void)state;
    assert_bad_id("/dcs//customers/c1", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers//waypoints", PATH_WAYPOINTS);
    assert_bad_id("/dcs//customers//tracking-token", PATH_TRACKING_TOKEN);
    assert_bad_id("/dcs/\xff/customers/c1", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/\xc3\x28/confident-location", PATH_CONFIDENT);
    assert_bad_id("/dcs/dc1/customers/\xed\xa0\x80/waypoints", PATH_WAYPOINTS);
    assert_bad_id("/dcs/dc1/customers/\xc0\xaf", PATH_CUSTOMER);
    assert_bad_id("/dcs/d\x01/customers/c1", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/c\x1f", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/c\t1", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/c\n", PATH_CUSTOMER);
    assert_bad_id("/dcs/dc1/customers/c\x7f", PATH_CUSTOMER);

    /* 255 bytes is the limit, for either id. */
    memset(id, 'a', 255);
    id[255] = '\0';
    snprintf(path, sizeof(path), "/dcs/%s/customers/%s/waypoints", id, id);
    assert_route(path, PATH_WAYPOINTS, id, id);
    id[255] = 'a';
    id[256] = '\0';
    snprintf(path, sizeof(path), "/dcs/%s/customers/c1", id);
    assert_bad_id(path, PATH_CUSTOMER);
    snprintf(path, sizeof(path), "/dcs/dc1/customers/%s/waypoints", id);
    assert_bad_id(path, PATH_WAYPOINTS);

    /* 255 bytes counted in bytes, not characters: 127 x "ü" + "a" = 255. */
    for (int i = 0; i < 127; i++)
        memcpy(id + 2 * i, "\xc3\xbc", 2);
    id[254] = 'a';
    id[255] = '\0';
    snprintf(path, sizeof(path), "/dcs/dc1/customers/%s", id);
    assert_route(path, PATH_CUSTOMER, "dc1", id);
    memcpy(id + 254, "\xc3\xbc", 3); /* 256 bytes */
    snprintf(path, sizeof(path), "/dcs/dc1/customers/%s", id);
    assert_bad_id(path, PATH_CUSTOMER);
}

static void assert_static(const char *path, const char *want)
{
    char out[256];
    int rc = path_static_file(path, out, sizeof(out));

    if (rc != 0)
        fail_msg("%s: rc %d, want 0", path, rc);
    assert_string_equal(out, want);
}

static void test_static_file_maps(void **state)
{
    (void)state;
    assert_static("/", "index.html");
    assert_static("/index.html", "index.html");
    assert_static("/app.js", "app.js");
    assert_static("/css/site.css", "css/site.css");
    assert_static("/a/b/c/d.png", "a/b/c/d.png");
    assert_static("/docs/", "docs/index.html");
    assert_static("/a/b/", "a/b/index.html");
    assert_static("/file.with.dots", "file.with.dots");
    assert_static("/a..b", "a..b");
    assert_static("/Z\xc3\xbcrich.html", "Z\xc3\xbcrich.html");
}

/* Issue 12: Leaflet's files come from its package folder, the rest from www. */
static void test_static_leaflet(void **state)
{
    char file[256];

    (void)state;
    assert_int_equal(path_static_file("/vendor/leaflet/leaflet.esm.js", file, sizeof(file)), 0);
    assert_string_equal(path_static_leaflet(file), "leaflet.esm.js");
    assert_int_equal(path_static_file("/vendor/leaflet/images/layers.png", file, sizeof(file)), 0);
    assert_string_equal(path_static_leaflet(file), "images/layers.png");
    assert_null(path_static_leaflet("vendor/leaflet/"));
    assert_null(path_static_leaflet("vendor/leafletx/a.js"));
    assert_null(path_static_leaflet("vendor/other/leaflet.js"));
    assert_null(path_static_leaflet("leaflet.js"));
    assert_null(path_static_leaflet("index.html"));
    /* What reaches it never climbs out: path_static_file refuses ".." first. */
    assert_int_equal(path_static_file("/vendor/leaflet/../x", file, sizeof(file)), -EINVAL);
}

static void test_static_file_refuses_escapes(void **state)
{
    static const char *const bad[] = {
        "/../x",        "/..",    "/../",      "/a/../b", "/a/..",        "/a/../../etc/passwd",
        "/.",           "/./a",   "/a/./b",    "/.env",   "/.git/config", "/a/.hidden",
        "//etc/passwd", "/a//b",  "/a\\..\\b", "/a\\b",   "/a\x01",       "/\x1f",
        "/a\nb",        "/a\x7f", "",          "x",       "index.html",   "../x",
    };
    char out[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = path_static_file(bad[i], out, sizeof(out));

        if (rc != -EINVAL)
            fail_msg("bad[%zu] \"%s\": rc %d, want -EINVAL", i, bad[i], rc);
    }
}

/* The output never overruns cap; the heap buffer is exactly cap bytes (ASan). */
static void test_static_file_capacity(void **state)
{
    char *out, *longpath;

    (void)state;
    /* "ab/cd" needs 6 bytes with its NUL. */
    out = malloc(6);
    assert_non_null(out);
    assert_int_equal(path_static_file("/ab/cd", out, 6), 0);
    assert_string_equal(out, "ab/cd");
    free(out);
    out = malloc(5);
    assert_non_null(out);
    assert_int_equal(path_static_file("/ab/cd", out, 5), -ENAMETOOLONG);
    free(out);
    /* "/dir/" grows into "dir/index.html": 15 bytes. */
    out = malloc(14);
    assert_non_null(out);
    assert_int_equal(path_static_file("/dir/", out, 14), -ENAMETOOLONG);
    free(out);

    longpath = malloc(3001);
    assert_non_null(longpath);
    longpath[0] = '/';
    memset(longpath + 1, 'x', 2999);
    longpath[3000] = '\0';
    out = malloc(1024);
    assert_non_null(out);
    assert_int_equal(path_static_file(longpath, out, 1024), -ENAMETOOLONG);
    assert_int_equal(path_static_file("/", out, 1024), 0);
    assert_string_equal(out, "index.html");
    free(out);
    free(longpath);
}

static void test_mime_types(void **state)
{
    static const struct {
        const char *name;
        const char *type;
    } cases[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"INDEX.HTML", "text/html; charset=utf-8"},
        {"/srv/www/a/page.Html", "text/html; charset=utf-8"},
        {"site.css", "text/css; charset=utf-8"},
        {"app.js", "text/javascript; charset=utf-8"},
        {"mod.mjs", "text/javascript; charset=utf-8"},
        {"data.json", "application/json"},
        {"app.js.map", "application/json"},
        {"logo.svg", "image/svg+xml"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.jpeg", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"favicon.ico", "image/x-icon"},
        {"a.webp", "image/webp"},
        {"robots.txt", "text/plain; charset=utf-8"},
        {"font.woff2", "font/woff2"},
        {"site.webmanifest", "application/manifest+json"},
        {"archive.tar.gz", "application/octet-stream"},
        {"README", "application/octet-stream"},
        {"file.", "application/octet-stream"},
        {"dir.html/file", "application/octet-stream"},
        {"/srv/www.js/README", "application/octet-stream"},
        {"a.htm", "application/octet-stream"},
        {"a.htmlx", "application/octet-stream"},
        {"", "application/octet-stream"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = path_mime_type(cases[i].name);

        assert_non_null(t);
        if (strcmp(t, cases[i].type))
            fail_msg("%s: \"%s\", want \"%s\"", cases[i].name, t, cases[i].type);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_sequences),
        cmocka_unit_test(test_utf8_invalid_sequences),
        cmocka_unit_test(test_utf8_reads_only_len_bytes),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_match_api_routes),
        cmocka_unit_test(test_match_static_and_unknown),
        cmocka_unit_test(test_match_bad_ids),
        cmocka_unit_test(test_static_file_maps),
        cmocka_unit_test(test_static_leaflet),
        cmocka_unit_test(test_static_file_refuses_escapes),
        cmocka_unit_test(test_static_file_capacity),
        cmocka_unit_test(test_mime_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
