/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                     {"allow-origin", required_argument, NULL, 'o'},
                                     {"access-log", no_argument, NULL, 'a'},
                                     {"rate-limit-addr", required_argument, NULL, 'A'},
                                     {NULL, 0, NULL, 0}};

/* Write text to a temporary file; its path in buf. */
static const char *temp_file(char *buf, size_t cap, const char *text)
{
    FILE *f;
    int fd;

    snprintf(buf, cap, "/tmp/wpd-config-XXXXXX");
    fd = mkstemp(buf);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return buf;
}

static int read_text(const char *text, struct config_args *a, char *err, size_t errlen)
{
    char path[64];
    int rc = config_read_file(temp_file(path, sizeof(path), text), opts, a, err, errlen);

    unlink(path);
    return rc;
}

static void test_file_settings_become_options(void **state)
{
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(read_text("# a comment\n\n  listen = 127.0.0.1:8443  # trailing\n"
                               "allow-origin = \"https://a.example\"\nallow-origin=https://b.example\n"
                               "access-log = yes\nrate-limit-addr = \"a # not a comment\"\n",
                               &a, err, sizeof(err)),
                     0);
    assert_int_equal(a.n, 5);
    assert_string_equal(a.v[0], "--listen=127.0.0.1:8443");
    assert_string_equal(a.v[1], "--allow-origin=https://a.example");
    assert_string_equal(a.v[2], "--allow-origin=https://b.example");
    assert_string_equal(a.v[3], "--access-log");
    assert_string_equal(a.v[4], "--rate-limit-addr=a # not a comment");
    assert_null(a.v[5]);
    config_args_free(&a);
}

static void test_false_flag_adds_nothing(void **state)
{
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(read_text("access-log = off\n", &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 0);
    config_args_free(&a);
}

/* The last value of a flag wins within one list: false after true removes
 * it (getopt has no "--no-access-log" to say so later). */
static void test_issue_11_false_after_true_in_a_file(void **state)
{
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(read_text("access-log = true\nlisten = x:1\naccess-log = false\n", &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0], "--listen=x:1");
    assert_null(a.v[1]);
    config_args_free(&a);
}

/* Environment over file (docs/operations.md): the environment is read into
 * the file's list, after it, and WAYPOINTD_ACCESS_LOG=false turns off
 * access-log = true from the file; true in the environment still adds it. */
static void test_issue_11_env_false_overrides_file_true(void **state)
{
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(read_text("access-log = true\nrate-limit-addr = 5\n", &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 2);
    setenv("WAYPOINTD_ACCESS_LOG", "false", 1);
    assert_int_equal(config_read_env(opts, NULL, &a, err, sizeof(err)), 0);
    unsetenv("WAYPOINTD_ACCESS_LOG");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0], "--rate-limit-addr=5");
    assert_null(a.v[1]);
    /* Each argument keeps its origin (issue 12), also after a drop. */
    assert_non_null(strstr(a.where[0], "/"));
    assert_string_equal(strrchr(a.where[0], ':'), ":2");
    config_args_free(&a);

    assert_int_equal(read_text("access-log = false\n", &a, err, sizeof(err)), 0);
    setenv("WAYPOINTD_ACCESS_LOG", "on", 1);
    assert_int_equal(config_read_env(opts, NULL, &a, err, sizeof(err)), 0);
    unsetenv("WAYPOINTD_ACCESS_LOG");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0], "--access-log");
    assert_string_equal(a.where[0], "WAYPOINTD_ACCESS_LOG");
    config_args_free(&a);
}

static void test_file_errors_name_the_line(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"listen = x\nbogus = 1\n", ":2: unknown setting \"bogus\""},
        {"just words\n", ":1: expected name = value"},
        {"= value\n", ":1: expected name = value"},
        {"listen =\n", ":1: listen needs a value"},
        {"access-log = maybe\n", ":1: access-log takes true or false"},
        {"listen = \"unterminated\n", ":1: expected name = value"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config_args a = {0};
        char err[256] = "";

        assert_int_equal(read_text(cases[i].text, &a, err, sizeof(err)), -EINVAL);
        if (!strstr(err, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].text, err, cases[i].want);
        config_args_free(&a);
    }
}

static void test_missing_file(void **state)
{
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    assert_int_equal(config_read_file("/nonexistent/waypointd.conf", opts, &a, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "cannot read config /nonexistent/waypointd.conf"));
}

static void test_environment(void **state)
{
    static const char *const skip[] = {"listen", NULL};
    struct config_args a = {0};
    char err[256] = "";

    (void)state;
    setenv("WAYPOINTD_RATE_LIMIT_ADDR", "7", 1);
    setenv("WAYPOINTD_ACCESS_LOG", "true", 1);
    setenv("WAYPOINTD_LISTEN", "skipped:1", 1);
    assert_int_equal(config_read_env(opts, skip, &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.v[0], "--access-log");
    assert_string_equal(a.v[1], "--rate-limit-addr=7");
    config_args_free(&a);
    setenv("WAYPOINTD_ACCESS_LOG", "2", 1);
    assert_int_equal(config_read_env(opts, skip, &a, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "WAYPOINTD_ACCESS_LOG"));
    config_args_free(&a);
    unsetenv("WAYPOINTD_RATE_LIMIT_ADDR");
    unsetenv("WAYPOINTD_ACCESS_LOG");
    unsetenv("WAYPOINTD_LISTEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_settings_become_options), cmocka_unit_test(test_false_flag_adds_nothing),
        cmocka_unit_test(test_file_errors_name_the_line),    cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_issue_11_false_after_true_in_a_file),
        cmocka_unit_test(test_issue_11_env_false_overrides_file_true),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
