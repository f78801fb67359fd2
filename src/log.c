/* SPDX-License-Identifier: MIT
 *
 * Formats log lines and writes each with one write(2), so lines from
 * several threads never interleave. Values are quoted and escaped as the
 * format needs; control characters never reach the terminal or the file.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#define LOG_LINE_MAX 2048

static int json_format;
static int access_on;
static int set_up; /* log_setup() ran: lines go through lws's emit hook */

/* Append s to [*p, end) quoted: JSON string rules for both formats (a
 * key=value reader accepts them too). Truncates rather than overflow. */
static void put_quoted(char **p, char *end, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (*p < end)
        *(*p)++ = '"';
    for (; *s && *p + 7 < end; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            *(*p)++ = '\\';
            *(*p)++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(*p, "\\u00", 4);
            (*p)[4] = hex[c >> 4];
            (*p)[5] = hex[c & 15];
            *p += 6;
        } else {
            *(*p)++ = (char)c;
        }
    }
    if (*p < end)
        *(*p)++ = '"';
}

static void put_raw(char **p, char *end, const char *s)
{
    size_t n = strlen(s);

    if (n > (size_t)(end - *p))
        n = (size_t)(end - *p);
    memcpy(*p, s, n);
    *p += n;
}

/* The separator and key of the next field. */
static void put_key(char **p, char *end, const char *key, int first)
{
    char buf[64];

    if (json_format)
        snprintf(buf, sizeof(buf), "%s\"%s\":", first ? "{" : ",", key);
    else
        snprintf(buf, sizeof(buf), "%s%s=", first ? "" : " ", key);
    put_raw(p, end, buf);
}

static void put_str(char **p, char *end, const char *key, const char *v)
{
    put_key(p, end, key, 0);
    put_quoted(p, end, v ? v : "");
}

static void put_num(char **p, char *end, const char *key, long long v)
{
    char buf[32];

    put_key(p, end, key, 0);
    snprintf(buf, sizeof(buf), "%lld", v);
    put_raw(p, end, buf);
}

/* Start a line with its time and level. */
static void begin(char **p, char *end, const char *level)
{
    char ts[96];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    put_key(p, end, "ts", 1);
    put_quoted(p, end, ts);
    put_str(p, end, "level", level);
}

static void end_line(char *buf, char *p, char *end)
{
    if (json_format)
        put_raw(&p, end, "}");
    put_raw(&p, end + 1, "\n"); /* end leaves room for the newline */
    if (write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0) {
        /* Nowhere left to report it. */
    }
}

static const char *level_name(int level)
{
    switch (level) {
    case LLL_ERR: return "error";
    case LLL_WARN: return "warn";
    case LLL_USER:
    case LLL_NOTICE: return "info";
    default: return "debug";
    }
}

/* lws's emit hook: line is the formatted message, ending in a newline. */
static void emit(int level, const char *line)
{
    char buf[LOG_LINE_MAX], msg[LOG_LINE_MAX], *p = buf, *end = buf + sizeof(buf) - 2;
    size_t n;

    lws_strncpy(msg, line, sizeof(msg));
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    begin(&p, end, level_name(level));
    put_str(&p, end, "msg", msg);
    end_line(buf, p, end);
}

int log_setup(const char *level, const char *format, int access_log)
{
    static const struct {
        const char *name;
        int mask;
    } levels[] = {
        {"error", LLL_ERR},
        {"warn", LLL_ERR | LLL_WARN},
        {"info", LLL_ERR | LLL_WARN | LLL_USER},
        {"debug", LLL_ERR | LLL_WARN | LLL_USER | LLL_NOTICE | LLL_INFO},
    };
    int mask = -1;

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (!strcasecmp(level ? level : "info", levels[i].name))
            mask = levels[i].mask;
    if (mask < 0)
        return -EINVAL;
    if (format && strcasecmp(format, "text") && strcasecmp(format, "json"))
        return -EINVAL;
    json_format = format && !strcasecmp(format, "json");
    access_on = access_log;
    lws_set_log_level(mask, emit);
    set_up = 1;
    return 0;
}

static void vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void vlog(int level, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];

    if (set_up) {
        _lws_logv(level, fmt, ap);
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "waypointd: %s\n", msg);
}

void log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LLL_ERR, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LLL_USER, fmt, ap);
    va_end(ap);
}

int log_access_enabled(void)
{
    return access_on;
}

void log_access(const struct log_access *a)
{
    char buf[LOG_LINE_MAX], *p = buf, *end = buf + sizeof(buf) - 2;

    if (!access_on)
        return;
    begin(&p, end, "info");
    put_str(&p, end, "event", "access");
    put_str(&p, end, "peer", a->peer);
    put_str(&p, end, "proto", a->proto);
    put_str(&p, end, "method", a->method);
    put_str(&p, end, "path", a->path);
    put_num(&p, end, "status", a->status);
    put_num(&p, end, "bytes", (long long)a->bytes);
    put_num(&p, end, "us", (long long)a->us);
    end_line(buf, p, end);
}
