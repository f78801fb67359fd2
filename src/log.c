/* SPDX-License-Identifier: MIT
 *
 * Formats log lines and writes each with one write(2), so lines from
 * several threads never interleave. Each call formats in its own buffer
 * (the stack, the heap for long lines), never in lws's shared one, so no
 * line is cut. Values are quoted and escaped as the format needs; control
 * characters never reach the terminal or the file, and invalid UTF-8
 * becomes U+FFFD. Any thread.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "utf8.h"

/* Most lines fit on the stack; a longer one moves to the heap. */
#define LOG_STACK_LINE 1024
#define LOG_STACK_MSG 512
/* Kept free at the end of a line for what closes it (`"}` and the
 * newline), so a line cut by a failed allocation is still well-formed. */
#define LOG_TAIL 8

enum { LV_ERROR, LV_WARN, LV_INFO, LV_DEBUG };

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Set by log_setup() before the service threads start; read by any. */
static atomic_int threshold = LV_INFO;
static atomic_int json_format;
static atomic_int access_on;
static atomic_int set_up; /* log_setup() ran: lines are key=value or JSON */

/* Orders whole lines: a write(2) longer than PIPE_BUF to a pipe may be
 * split by the kernel, and a short write needs the rest to follow. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* A line being built: on the stack, moved to the heap when it outgrows it. */
struct line {
    char *buf;
    size_t len, cap;
    int oom;  /* an allocation failed: only the closing bytes still go in */
    int json; /* the format, read once so that a line is all of one */
    char stack[LOG_STACK_LINE];
};

static void line_init(struct line *l)
{
    l->buf = l->stack;
    l->len = 0;
    l->cap = sizeof(l->stack);
    l->oom = 0;
    l->json = atomic_load_explicit(&json_format, memory_order_relaxed);
}

static void line_clear(struct line *l)
{
    if (l->buf != l->stack)
        free(l->buf);
}

/* Room for n more bytes besides the tail; 0 once memory ran out. */
static int line_room(struct line *l, size_t n)
{
    size_t cap;
    char *p;

    if (l->oom)
        return 0;
    if (l->len + n + LOG_TAIL <= l->cap)
        return 1;
    for (cap = l->cap * 2; cap < l->len + n + LOG_TAIL; cap *= 2)
        ;
    p = l->buf == l->stack ? malloc(cap) : realloc(l->buf, cap);
    if (!p) {
        l->oom = 1;
        return 0;
    }
    if (l->buf == l->stack)
        memcpy(p, l->stack, l->len);
    l->buf = p;
    l->cap = cap;
    return 1;
}

static void put(struct line *l, const char *s, size_t n)
{
    if (line_room(l, n)) {
        memcpy(l->buf + l->len, s, n);
        l->len += n;
    }
}

static void put_s(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* The closing bytes, from the reserved tail. */
static void put_tail(struct line *l, char c)
{
    if (l->len < l->cap)
        l->buf[l->len++] = c;
}

/* Append s[0..n) quoted by JSON string rules (for both formats: a key=value
 * reader accepts them too): '"', '\\' and control characters escaped,
 * valid UTF-8 kept, each maximal invalid subpart one U+FFFD. */
static void put_quoted(struct line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    if (l->oom)
        return;
    put(l, "\"", 1);
    if (l->oom) {
        put_tail(l, '"');
        put_tail(l, '"');
        return;
    }
    while (i < n) {
        unsigned char c = u[i];
        char esc[8];
        size_t k = 1, bad = 1;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            k = utf8_seq_len(u + i, n - i, &bad);
            if (k) {
                i += k;
                continue;
            }
        }
        put(l, s + run, i - run); /* the plain run before this byte */
        if (c >= 0x80) {
            put(l, UTF8_REPLACEMENT, 3);
            i += bad;
        } else {
            if (c == '"' || c == '\\')
                esc[0] = '\\', esc[1] = (char)c, k = 2;
            else
                memcpy(esc, "\\u00", 4), esc[4] = hex[c >> 4], esc[5] = hex[c & 15], k = 6;
            put(l, esc, k);
            i++;
        }
        run = i;
    }
    put(l, s + run, i - run);
    if (l->oom) {
        /* Cut here (out of memory, the only way): say so, stay well-formed. */
        for (const char *t = "...\""; *t; t++)
            put_tail(l, *t);
    } else {
        put(l, "\"", 1);
    }
}

/* The separator and key of the next field (none of it if memory runs
 * out: no key is left without its value). */
static void put_key(struct line *l, const char *key, int first)
{
    size_t mark = l->len;

    if (l->json) {
        put_s(l, first ? "{\"" : ",\"");
        put_s(l, key);
        put_s(l, "\":");
    } else {
        if (!first)
            put_s(l, " ");
        put_s(l, key);
        put_s(l, "=");
    }
    if (l->oom)
        l->len = mark;
}

static void put_str(struct line *l, const char *key, const char *v)
{
    put_key(l, key, 0);
    put_quoted(l, v ? v : "", v ? strlen(v) : 0);
}

static void put_num(struct line *l, const char *key, long long v)
{
    char buf[32];
    size_t mark = l->len;

    put_key(l, key, 0);
    snprintf(buf, sizeof(buf), "%lld", v);
    put_s(l, buf);
    if (l->oom)
        l->len = mark;
}

/* Start a line with its time and level. */
static void begin(struct line *l, const char *level)
{
    char ts[96];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    put_key(l, "ts", 1);
    put_quoted(l, ts, strlen(ts));
    put_str(l, "level", level);
}

/* Write the whole line, under out_mu: normally one write(2). */
static void out(const char *buf, size_t n)
{
    ssize_t w;

    pthread_mutex_lock(&out_mu);
    while (n) {
        w = write(STDERR_FILENO, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report it */
        buf += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&out_mu);
}

static void end_line(struct line *l, int structured)
{
    if (structured && l->json) {
        if (l->oom)
            put_tail(l, '}');
        else
            put(l, "}", 1);
    }
    if (l->oom)
        put_tail(l, '\n');
    else
        put(l, "\n", 1);
    out(l->buf, l->len);
    line_clear(l);
}

/* One message line; msg[0..n) need not end in a NUL. */
static void message(int lv, const char *msg, size_t n)
{
    struct line l;

    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--; /* lws-style lines end in a newline: ours adds one */
    line_init(&l);
    if (!atomic_load_explicit(&set_up, memory_order_relaxed)) {
        /* The command-line tools: plain text to a terminal, as printf. */
        put_s(&l, "waypointd: ");
        put(&l, msg, n);
        end_line(&l, 0);
        return;
    }
    begin(&l, level_names[lv]);
    put_key(&l, "msg", 0);
    put_quoted(&l, msg, n);
    end_line(&l, 1);
}

/* lws's emit hook: only lws's own lines still come through here (ours no
 * longer go through _lws_logv), already formatted in its shared buffer. */
static void emit(int level, const char *line)
{
    int lv = (level & LLL_ERR) ? LV_ERROR : (level & LLL_WARN) ? LV_WARN : (level & LLL_USER) ? LV_INFO : LV_DEBUG;

    message(lv, line, strlen(line));
}

int log_setup(const char *level, const char *format, int access_log)
{
    static const int lws_masks[] = {
        [LV_ERROR] = LLL_ERR,
        [LV_WARN] = LLL_ERR | LLL_WARN,
        /* lws's notices are chatty; its errors and warnings, and its
         * LLL_USER lines, are what an operator needs. */
        [LV_INFO] = LLL_ERR | LLL_WARN | LLL_USER,
        [LV_DEBUG] = LLL_ERR | LLL_WARN | LLL_USER | LLL_NOTICE | LLL_INFO,
    };
    int lv = -1;

    for (int i = LV_ERROR; i <= LV_DEBUG; i++)
        if (!strcasecmp(level ? level : "info", level_names[i]))
            lv = i;
    if (lv < 0)
        return -EINVAL;
    if (format && strcasecmp(format, "text") && strcasecmp(format, "json"))
        return -EINVAL;
    atomic_store(&json_format, format && !strcasecmp(format, "json"));
    atomic_store(&access_on, access_log);
    atomic_store(&threshold, lv);
    lws_set_log_level(lws_masks[lv], emit);
    atomic_store(&set_up, 1);
    return 0;
}

static void vlog(int lv, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void vlog(int lv, const char *fmt, va_list ap)
{
    char small[LOG_STACK_MSG], *msg = small, *big = NULL;
    va_list aq;
    int n;

    if (lv > atomic_load_explicit(&threshold, memory_order_relaxed))
        return;
    va_copy(aq, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n >= (int)sizeof(small)) {
        big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, aq);
            msg = big;
        } else {
            /* Out of memory: the one case where a line is cut, and says so. */
            memcpy(small + sizeof(small) - 4, "...", 4);
            n = (int)sizeof(small) - 1;
        }
    }
    va_end(aq);
    if (n >= 0)
        message(lv, msg, (size_t)n);
    else /* an encoding error: the format itself says what happened */
        message(lv, fmt, strlen(fmt));
    free(big);
}

#define LOG_FN(name, lv)                                                                                               \
    void name(const char *fmt, ...)                                                                                    \
    {                                                                                                                  \
        va_list ap;                                                                                                    \
                                                                                                                       \
        va_start(ap, fmt);                                                                                             \
        vlog(lv, fmt, ap);                                                                                             \
        va_end(ap);                                                                                                    \
    }

LOG_FN(log_error, LV_ERROR)
LOG_FN(log_warn, LV_WARN)
LOG_FN(log_info, LV_INFO)
LOG_FN(log_debug, LV_DEBUG)

int log_access_enabled(void)
{
    return atomic_load_explicit(&access_on, memory_order_relaxed);
}

void log_access(const struct log_access *a)
{
    struct line l;

    if (!log_access_enabled())
        return;
    line_init(&l);
    begin(&l, "info");
    put_str(&l, "event", "access");
    put_str(&l, "peer", a->peer);
    put_str(&l, "proto", a->proto);
    put_str(&l, "method", a->method);
    put_str(&l, "path", a->path);
    put_num(&l, "status", a->status);
    put_num(&l, "bytes", (long long)a->bytes);
    put_num(&l, "us", (long long)a->us);
    end_line(&l, 1);
}
