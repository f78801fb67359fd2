/* SPDX-License-Identifier: MIT */
/* Unit tests for log.c: every line whole (however long), one line per
 * call even from many threads at once, levels, and JSON lines that are
 * valid JSON and valid UTF-8 whatever bytes a message carries. stderr is
 * swapped for a pipe that a reader thread drains, as a supervisor would. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libwebsockets.h>

/* -- failing allocations (linked with --wrap=malloc,--wrap=realloc) ------ */

/* Per thread: the drain thread keeps allocating while a writer fails. */
static _Thread_local int fail_alloc;

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    return fail_alloc ? NULL : __real_malloc(n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_alloc ? NULL : __real_realloc(p, n);
}

/* -- capturing stderr ---------------------------------------------------- */

struct capture {
    int rd, saved;
    pthread_t tid;
    char *buf;
    size_t len, cap;
};

static void *drain(void *arg)
{
    struct capture *c = arg;
    char tmp[65536];
    ssize_t n;

    while ((n = read(c->rd, tmp, sizeof(tmp))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (c->len + (size_t)n + 1 > c->cap) {
            c->cap = (c->len + (size_t)n + 1) * 2;
            c->buf = realloc(c->buf, c->cap);
            if (!c->buf)
                abort();
        }
        memcpy(c->buf + c->len, tmp, (size_t)n);
        c->len += (size_t)n;
    }
    return NULL;
}

/* fd 2 becomes the write end of a pipe, drained by a thread. */
static void capture_start(struct capture *c)
{
    int p[2];

    memset(c, 0, sizeof(*c));
    assert_int_equal(pipe(p), 0);
    c->rd = p[0];
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    close(p[1]);
    assert_int_equal(pthread_create(&c->tid, NULL, drain, c), 0);
}

/* Restores fd 2; the reader sees EOF (fd 2 held the last write end) and
 * ends. Returns what was written, NUL-terminated, to free. */
static char *capture_stop(struct capture *c)
{
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    pthread_join(c->tid, NULL);
    close(c->rd);
    if (!c->buf)
        c->buf = calloc(1, 1);
    else
        c->buf[c->len] = '\0';
    return c->buf;
}

static size_t count_char(const char *s, char ch)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == ch;
    return n;
}

/* Parse one JSON line strictly, rejecting invalid UTF-8. */
static struct json_object *parse_strict(const char *s, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o;

    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, s, (int)len);
    if (o && json_tokener_get_parse_end(tok) != len) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* -- before log_setup(): the command-line tools' plain lines --------------- */

static void test_plain_line_before_setup(void **state)
{
    struct capture c;
    char *msg = malloc(5001), *out, *want;

    (void)state;
    memset(msg, 'p', 5000);
    msg[5000] = '\0';
    capture_start(&c);
    log_error("cannot open %s", msg);
    log_debug("not shown: the default level is info");
    out = capture_stop(&c);
    assert_int_equal(asprintf(&want, "waypointd: cannot open %s\n", msg) > 0, 1);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(msg);
}

/* -- a long line comes out whole ------------------------------------------ */

static void test_issue_11_long_line_whole(void **state)
{
    struct capture c;
    char msg[4097], *out, *nl, *want;

    (void)state;
    for (size_t i = 0; i < 4096; i++)
        msg[i] = (char)('A' + i % 26);
    msg[4096] = '\0';
    assert_int_equal(log_setup("info", "text", 0), 0);
    capture_start(&c);
    log_info("database file %s was replaced", msg);
    out = capture_stop(&c);

    assert_int_equal(count_char(out, '\n'), 1);
    nl = strchr(out, '\n');
    assert_ptr_equal(nl, out + strlen(out) - 1);
    assert_int_equal(strncmp(out, "ts=\"", 4), 0);
    assert_int_equal(asprintf(&want, " level=\"info\" msg=\"database file %s was replaced\"\n", msg) > 0, 1);
    assert_true(strlen(out) > strlen(want));
    assert_string_equal(out + strlen(out) - strlen(want), want);
    free(want);
    free(out);
}

/* -- many threads: every line whole, none interleaved ---------------------- */

#define THREADS 8
#define LINES 200

/* Line i of thread t: lengths from 100 bytes to past PIPE_BUF (4096),
 * where a pipe stops making a single write atomic. */
static size_t payload_len(int t, int i)
{
    return 100 + (size_t)((t * LINES + i) * 37 % 6000);
}

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char payload[6200];

    for (int i = 0; i < LINES; i++) {
        size_t n = payload_len(t, i);

        memset(payload, 'a' + (t + i) % 26, n);
        payload[n] = '\0';
        if (i % 2)
            log_info("t%d i%d %s", t, i, payload);
        else
            log_error("t%d i%d %s", t, i, payload);
    }
    return NULL;
}

static void test_issue_11_threads_never_interleave(void **state)
{
    static int seen[THREADS][LINES];
    pthread_t tid[THREADS];
    struct capture c;
    char *out, *line, *next;
    size_t lines = 0;

    (void)state;
    assert_int_equal(log_setup("info", "json", 0), 0);
    capture_start(&c);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&tid[t], NULL, writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    out = capture_stop(&c);

    for (line = out; *line; line = next + 1) {
        struct json_object *o;
        const char *msg, *level;
        int t, i, used = 0;
        size_t n;

        next = strchr(line, '\n');
        assert_non_null(next);
        o = parse_strict(line, (size_t)(next - line));
        if (!o)
            fail_msg("line %zu is not one JSON object: %.200s", lines, line);
        msg = field(o, "msg");
        level = field(o, "level");
        assert_non_null(msg);
        assert_non_null(level);
        assert_int_equal(sscanf(msg, "t%d i%d %n", &t, &i, &used), 2);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < LINES);
        assert_string_equal(level, i % 2 ? "info" : "error");
        n = payload_len(t, i);
        assert_int_equal(strlen(msg + used), n);
        for (size_t k = 0; k < n; k++)
            if (msg[used + k] != 'a' + (t + i) % 26)
                fail_msg("line t%d i%d: byte %zu is %c", t, i, k, msg[used + k]);
        seen[t][i]++;
        lines++;
        json_object_put(o);
    }
    assert_int_equal(lines, THREADS * LINES);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < LINES; i++)
            assert_int_equal(seen[t][i], 1);
    free(out);
}

/* -- JSON: valid JSON and valid UTF-8 whatever the bytes ------------------- */

/* One captured JSON line's msg, checked to be strict JSON and UTF-8. */
static char *json_msg_of(const char *out)
{
    struct json_object *o;
    char *msg;
    size_t len = strlen(out);

    assert_true(len > 0);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_int_equal(out[len - 1], '\n');
    /* No raw control byte: the line cannot forge another. */
    for (size_t k = 0; k + 1 < len; k++)
        assert_true((unsigned char)out[k] >= 0x20);
    o = parse_strict(out, len - 1);
    if (!o)
        fail_msg("not strict JSON / UTF-8: %s", out);
    msg = strdup(field(o, "msg"));
    json_object_put(o);
    return msg;
}

#define FFFD "\xef\xbf\xbd"

static void test_issue_11_json_invalid_utf8(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* a lone lead byte, a lead byte then a bad continuation, a cut
         * 3-byte sequence before a quote, a backslash, an invalid byte */
        {"a\xc3(b\x01\xe2\x82\"\\\xff", "a" FFFD "(b\x01" FFFD "\"\\" FFFD},
        /* one U+FFFD per maximal subpart: F0 80 80 is three (F0 needs
         * 90..BF next), a surrogate ED A0 80 is three, F4 90 is two */
        {"\xf0\x80\x80|\xed\xa0\x80|\xf4\x90|", FFFD FFFD FFFD "|" FFFD FFFD FFFD "|" FFFD FFFD "|"},
        /* a truncated sequence at the very end is one */
        {"end \xf0\x9f\x98", "end " FFFD},
        {"x\xe2\x82", "x" FFFD},
        /* valid UTF-8 passes unchanged; control characters are escaped */
        {"Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\x7f\t\r\n\x1b[31m",
         "Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\x7f\t\r\n\x1b[31m"},
        {"overlong \xc0\xaf \xe0\x80\xaf", "overlong " FFFD FFFD " " FFFD FFFD FFFD},
    };

    (void)state;
    /* The oracle rejects what it must: raw invalid UTF-8 inside a string. */
    assert_null(parse_strict("{\"msg\":\"a\xc3(\"}", 12));

    assert_int_equal(log_setup("info", "json", 0), 0);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct capture c;
        char *out, *msg;

        capture_start(&c);
        log_error("path %s", cases[k].in);
        out = capture_stop(&c);
        msg = json_msg_of(out);
        if (strncmp(msg, "path ", 5) || strcmp(msg + 5, cases[k].want))
            fail_msg("case %zu: got %s", k, out);
        free(msg);
        free(out);
    }
}

/* The access line's fields (a decoded path: any bytes) too. */
static void test_issue_11_json_access_line_invalid_utf8(void **state)
{
    struct log_access a = {"127.0.0.1", "h1", "GET", "/dcs/\xc3(/\"x\"\n", 404, 12, 34};
    struct json_object *o;
    struct capture c;
    char *out;

    (void)state;
    assert_int_equal(log_setup("info", "json", 1), 0);
    capture_start(&c);
    log_access(&a);
    out = capture_stop(&c);
    assert_int_equal(count_char(out, '\n'), 1);
    o = parse_strict(out, strlen(out) - 1);
    if (!o)
        fail_msg("not strict JSON / UTF-8: %s", out);
    assert_string_equal(field(o, "path"), "/dcs/" FFFD "(/\"x\"\n");
    assert_string_equal(field(o, "event"), "access");
    json_object_put(o);
    free(out);
    assert_int_equal(log_setup("info", "json", 0), 0);
}

/* -- out of memory: the one case where a line is cut, still well-formed -- */

static void test_out_of_memory_cut_well_formed(void **state)
{
    char *big = malloc(6001), *out, *msg;
    struct capture c;

    (void)state;
    assert_int_equal(log_setup("info", "json", 0), 0);
    /* A 6000-byte message: its own buffer cannot grow. Then a 500-byte one
     * of control characters, six bytes each escaped: the line cannot. */
    for (size_t k = 0; k < 2; k++) {
        memset(big, k ? '\x01' : 'm', 6000);
        big[6000] = '\0';
        capture_start(&c);
        fail_alloc = 1;
        if (k)
            log_error("%.500s", big);
        else
            log_error("%s", big);
        fail_alloc = 0;
        out = capture_stop(&c);
        msg = json_msg_of(out);
        assert_true(strlen(msg) > 100);
        assert_true(strlen(msg) < 1024);
        assert_string_equal(msg + strlen(msg) - 3, "...");
        assert_int_equal(memcmp(msg, big, strlen(msg) - 3), 0);
        free(msg);
        free(out);
    }
    free(big);
}

/* -- levels ---------------------------------------------------------------- */

/* The levels of the lines one round of calls produces, "," separated. */
static char *levels_at(const char *level)
{
    struct capture c;
    char *out, *p, *q, *res = calloc(1, 256);

    assert_int_equal(log_setup(level, "text", 0), 0);
    capture_start(&c);
    log_error("e");
    log_warn("w");
    log_info("i");
    log_debug("d");
    out = capture_stop(&c);
    for (p = out; (p = strstr(p, "level=\"")); p = q) {
        p += 7;
        q = strchr(p, '"');
        assert_non_null(q);
        strncat(res, p, (size_t)(q - p));
        strcat(res, ",");
    }
    free(out);
    return res;
}

static void test_levels(void **state)
{
    static const struct {
        const char *level, *want;
    } cases[] = {
        {"error", "error,"},
        {"warn", "error,warn,"},
        {"info", "error,warn,info,"},
        {"debug", "error,warn,info,debug,"},
    };

    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *got = levels_at(cases[k].level);

        assert_string_equal(got, cases[k].want);
        free(got);
    }
    assert_int_equal(log_setup("loud", "text", 0), -EINVAL);
    assert_int_equal(log_setup("info", "xml", 0), -EINVAL);
    assert_int_equal(log_setup("info", "text", 0), 0);
}

/* A trailing newline (lws style) does not make an empty line. */
static void test_trailing_newline_dropped(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    assert_int_equal(log_setup("info", "text", 0), 0);
    capture_start(&c);
    log_warn("%s: out of file descriptors\n", "accept");
    out = capture_stop(&c);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_non_null(strstr(out, " level=\"warn\" msg=\"accept: out of file descriptors\"\n"));
    free(out);
}

/* lws's own lines still arrive through the hook, formatted as ours. */
static void test_lws_lines_formatted(void **state)
{
    struct capture c;
    struct json_object *o;
    char *out;

    (void)state;
    assert_int_equal(log_setup("info", "json", 0), 0);
    capture_start(&c);
    _lws_log(LLL_ERR, "lws: %s\n", "something");
    out = capture_stop(&c);
    assert_int_equal(count_char(out, '\n'), 1);
    o = parse_strict(out, strlen(out) - 1);
    assert_non_null(o);
    assert_string_equal(field(o, "level"), "error");
    assert_string_equal(field(o, "msg"), "lws: something");
    json_object_put(o);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: it needs log_setup() not to have run */
        cmocka_unit_test(test_plain_line_before_setup),
        cmocka_unit_test(test_issue_11_long_line_whole),
        cmocka_unit_test(test_issue_11_threads_never_interleave),
        cmocka_unit_test(test_issue_11_json_invalid_utf8),
        cmocka_unit_test(test_issue_11_json_access_line_invalid_utf8),
        cmocka_unit_test(test_out_of_memory_cut_well_formed),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_trailing_newline_dropped),
        cmocka_unit_test(test_lws_lines_formatted),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
