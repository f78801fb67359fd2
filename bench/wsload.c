/* SPDX-License-Identifier: MIT */
/*
 * wsload — a load client for the push benchmarks (bench/push_bench.sh).
 *
 * One thread, one epoll loop, OpenSSL directly (TLS 1.3 only; the server is
 * verified against --ca, its certificate must name the --host IP), and a
 * minimal RFC 6455 client: masked frames, text messages (fragmented or not),
 * ping -> pong, close handshake.
 *
 * It opens --conns WebSocket connections to wss://HOST:PORT/PATH (at most
 * --concurrency opening at once), each optionally bound to a source address
 * 127.0.0.X, X = 2..254 (--src-spread), and
 *   --mode waypointd: offers `Sec-WebSocket-Protocol: waypoints.v1` and sends
 *     `Authorization: Bearer KEY`, then subscribes with
 *     {"type":"subscribe","id":N,"dc_id":D,"customer_id":C} — C taken in turn
 *     from --customers-file, starting at line --index-base — or, without
 *     --customers-file, to the whole DC; a connection counts as open at the
 *     matching "subscribed" reply;
 *   --mode nchan: a connection counts as open at the 101 answer (nchan's
 *     subscriber location names the channel in PATH).
 *
 * Every data message received is stamped (CLOCK_REALTIME, µs, right after the
 * SSL_read that completed it). For a "waypoint" message the writer's stamp is
 * read from the row: the benchmark writers put their commit time (µs since
 * the epoch) into waypoints.estimated_time_of_arrival, so latency = receive
 * stamp − that value. The nchan publisher posts a body of the same shape.
 *
 * Control is by signal; progress is one line on stdout per phase:
 *   ready {...}    every connection is open (or failed, or --connect-timeout)
 *   SIGUSR2        (any time) prints  mark {"pings":..,"received":..,...}:
 *                  counters so far, to tell what happened in a time window
 *   SIGUSR1        the writer is done and --changes-log is complete: read it
 *                  (lines "DC CUSTOMER STAMP_US ..."), wait until every open
 *                  connection has, for each waypoint in its scope, a message
 *                  at least as new as the last change (at most --drain s)
 *   result {...}   figures (and --latency-out: "STAMP LATENCY_US EXACT" per
 *                  delivered change); the connections stay open, idle
 *   SIGTERM/SIGINT or --duration s after the start: close every connection
 *                  (close frame 1000, wait for the server's, at most
 *                  --close-timeout s), then
 *   closed {...}   and exit 0 (1 on bad usage or set-up failure).
 * A change counts as delivered to a connection at the first message for its
 * waypoint whose stamp is >= the change's (the contract lets a slow client get
 * only the newest of several changes to one waypoint: "coalesced"); lost when
 * none came. Messages are matched to changes by customer_id: the benchmark's
 * customers have one waypoint each.
 *
 * Several servers (bench/cluster_bench.sh): --targets IP:PORT,IP:PORT,... in
 * place of --host/--port; connection i opens to target i % (number of
 * targets). The ready line says how many opened on each ("per_target").
 *
 * --resume (waypointd mode): a subscribed connection that is lost (the server
 * hung up, reset it, or closed it) is opened again after a jittered delay
 * (uniform in 0..--resume-jitter s for the first attempt, then 0.25 s doubling
 * up to 8 s, each x 0.5..1) on another target than the one it lost (spread
 * over the others by its index), at most --resume-attempts times, each attempt
 * at most --resume-timeout s, and subscribes again with "since": the newest
 * seq it had on that subscription (the snapshot's or resume's seq, or the
 * last message's). A "subscribed" reply with "resumed":true counts as
 * resumed_true; "resumed":false (a fresh snapshot: the client would have
 * missed changes) as resumed_false, a failure; a connection out of attempts as
 * resume_gave_up. Nothing is dropped silently: every loss is in "resumes" and
 * ends in exactly one of those three (or resume_waiting at the close). The
 * messages of both subscriptions count for the changes: a change is delivered
 * when a message for its waypoint at least as new arrives before or after the
 * move (the replay after "since" brings the newest state of what was
 * missed); snapshot rows of a resumed:false are not counted as deliveries.
 * With --resume, --latency-out lines have a 4th column: 1 when the connection
 * was lost at some point (its changes include those replayed after a move).
 * --resume-out F: one line per finished resume: LOSS_US DONE_US RESUMED
 * FROM_TARGET TO_TARGET ATTEMPTS (CLOCK_REALTIME µs; RESUMED 1 or 0; -1 gave up).
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -o wsload bench/wsload.c -lssl -lcrypto -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_MESSAGE (16u << 20) /* a larger message fails the connection */
#define MAX_HEADER 16384
#define READ_CHUNK 65536
#define MAX_TARGETS 64

enum mode { MODE_WAYPOINTD, MODE_NCHAN };
enum state { S_NEW, S_TCP, S_TLS, S_UPGRADE, S_SUBSCRIBE, S_READY, S_CLOSING, S_DONE, S_FAILED };

struct rec {          /* one "waypoint" message */
    int key;          /* interned customer id */
    int64_t value;    /* estimated_time_of_arrival: the writer's stamp */
    int64_t t;        /* receive stamp, µs */
};

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    int gidx;          /* global index: request id, source address, customer */
    int key;           /* customer key, -1 for a DC-wide subscription */
    uint32_t events;   /* registered with epoll */
    unsigned hs_want_write : 1, read_want_write : 1, close_after_flush : 1, sent_close : 1, was_ready : 1,
        in_msg : 1, caught_up : 1;
    char ws_key[32];
    unsigned char *out;
    size_t out_len, out_off, out_cap;
    unsigned char *in;
    size_t in_len, in_cap;
    unsigned char *msg; /* a fragmented message being assembled */
    size_t msg_len, msg_cap;
    int64_t last_seq;
    int64_t sub_seq;   /* the newest seq of the subscription: what a resume sends as "since" */
    int target;        /* index in targets[] of the current (or next) server */
    int lost_target;   /* the server of the last loss: a resume goes elsewhere */
    int attempts;      /* resume attempts since the last loss */
    unsigned resuming : 1, resume_wait : 1, gave_up : 1;
    double resume_at, attempt_at; /* monotonic s */
    int64_t lost_us;   /* CLOCK_REALTIME µs of the loss */
    struct rec *recs;
    size_t nrecs, caprecs;
};

static struct {
    const char *host, *path, *ca, *key, *protocol, *dc, *customers_file, *latency_out, *changes_log, *targets,
        *resume_out;
    int port, conns, concurrency, index_base, src_spread, verbose, resume, resume_attempts;
    enum mode mode;
    double connect_timeout, duration, drain, close_timeout, resume_jitter, resume_timeout;
} opt = {
    .host = "127.0.0.1", .path = "/live", .conns = 1, .concurrency = 200, .mode = MODE_WAYPOINTD,
    .connect_timeout = 120, .duration = 900, .drain = 30, .close_timeout = 10,
    .resume_attempts = 8, .resume_jitter = 2, .resume_timeout = 30,
};

static struct target {
    struct sockaddr_in addr;
    char host[INET_ADDRSTRLEN];
    int port;
    long opened, resumed_in;
} targets[MAX_TARGETS];
static int ntargets;

static struct conn *conns;
static int epfd, sigfd;
static SSL_CTX *ctx;
static unsigned char rbuf[READ_CHUNK];
static unsigned char *scratch; /* a single-frame message, NUL-terminated */
static size_t scratch_cap;

/* counters */
static long started, opened, failed, inflight, dropped, closed_clean, close_timeouts;
static long msgs_waypoint, msgs_other, msgs_error, msgs_unstamped, order_errors, pings;
static long resumes, resumed_true, resumed_false, resume_gave_up, resume_attempt_failures, resume_pending;
static int64_t first_loss_us = -1, last_resumed_us = -1;
static int64_t *resume_lat; /* loss -> resubscribed, µs, per finished resume */
static size_t nresume_lat, capresume_lat;
static FILE *resume_fp;
static int closing_all; /* the close phase began: a loss is no longer resumed */
static int64_t first_recv = -1, last_recv = -1;
static double t_start, t_ready;

/* ------------------------------------------------------------ helpers */
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory");
    return q;
}

static void grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    *buf = xrealloc(*buf, c);
    *cap = c;
}

/* Failure reasons, counted by text. */
#define MAX_REASONS 32
static struct {
    char text[120];
    long count;
} reasons[MAX_REASONS];
static int nreasons;

static void note_reason(const char *fmt, ...)
{
    char t[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    for (char *p = t; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
    for (int i = 0; i < nreasons; i++)
        if (!strcmp(reasons[i].text, t)) {
            reasons[i].count++;
            return;
        }
    if (nreasons < MAX_REASONS) {
        snprintf(reasons[nreasons].text, sizeof(reasons[nreasons].text), "%s", t);
        reasons[nreasons++].count = 1;
    } else {
        reasons[MAX_REASONS - 1].count++;
    }
}

static void print_reasons(FILE *f)
{
    fputs("{", f);
    for (int i = 0; i < nreasons; i++)
        fprintf(f, "%s\"%s\":%ld", i ? "," : "", reasons[i].text, reasons[i].count);
    fputs("}", f);
}

static const char *ssl_err_text(void)
{
    static char buf[160];
    unsigned long e = ERR_get_error();
    if (!e)
        return errno ? strerror(errno) : "unexpected EOF";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* -------------------------------------------------- customer ids (keys) */
static char **key_names;
static int nkeys, capkeys;
static int *khash; /* open addressing, -1 empty */
static size_t khash_cap;

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int intern(const char *s, size_t n)
{
    if (!khash || (size_t)(nkeys + 1) * 2 > khash_cap) {
        size_t nc = khash_cap ? khash_cap * 2 : 1024;
        int *nh = xrealloc(NULL, nc * sizeof(int));
        for (size_t i = 0; i < nc; i++)
            nh[i] = -1;
        for (int k = 0; k < nkeys; k++) {
            size_t j = hash_str(key_names[k], strlen(key_names[k])) & (nc - 1);
            while (nh[j] >= 0)
                j = (j + 1) & (nc - 1);
            nh[j] = k;
        }
        free(khash);
        khash = nh;
        khash_cap = nc;
    }
    size_t j = hash_str(s, n) & (khash_cap - 1);
    while (khash[j] >= 0) {
        const char *t = key_names[khash[j]];
        if (strlen(t) == n && !memcmp(t, s, n))
            return khash[j];
        j = (j + 1) & (khash_cap - 1);
    }
    if (nkeys == capkeys) {
        capkeys = capkeys ? capkeys * 2 : 1024;
        key_names = xrealloc(key_names, capkeys * sizeof(char *));
    }
    key_names[nkeys] = strndup(s, n);
    if (!key_names[nkeys])
        die("out of memory");
    khash[j] = nkeys;
    return nkeys++;
}

/* ------------------------------------------------------ tiny JSON peek */
/* The value of the first "name": in a server-rendered JSON text (NUL-ended).
 * Returns a pointer to the value's first character, or NULL. */
static const char *json_find(const char *s, const char *name)
{
    char pat[64];
    int n = snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *p = s;
    while ((p = strstr(p, pat))) {
        const char *q = p + n;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (*q == ':') {
            q++;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                q++;
            return q;
        }
        p += n;
    }
    return NULL;
}

static int json_int(const char *s, const char *name, int64_t *out)
{
    const char *v = json_find(s, name);
    char *end;
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v)
        return -1;
    *out = x;
    return 0;
}

/* A plain string value (no escapes needed for our ids): start and length. */
static int json_str(const char *s, const char *name, const char **start, size_t *len)
{
    const char *v = json_find(s, name);
    if (!v || *v != '"')
        return -1;
    const char *e = strchr(v + 1, '"');
    if (!e)
        return -1;
    *start = v + 1;
    *len = (size_t)(e - v - 1);
    return 0;
}

static int json_type_is(const char *s, const char *type)
{
    const char *v;
    size_t n;
    return !json_str(s, "type", &v, &n) && n == strlen(type) && !memcmp(v, type, n);
}

/* -------------------------------------------------------- connections */
static void set_events(struct conn *c)
{
    uint32_t want = EPOLLIN;
    if (c->state == S_TCP || (c->state == S_TLS && c->hs_want_write) || c->read_want_write ||
        c->out_off < c->out_len)
        want |= EPOLLOUT;
    if (want == c->events || c->fd < 0)
        return;
    struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)(c - conns) + 1};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = want;
}

static void conn_release(struct conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c->out);
    free(c->in);
    free(c->msg);
    c->out = c->in = c->msg = NULL;
    c->out_len = c->out_off = c->out_cap = c->in_len = c->in_cap = c->msg_len = c->msg_cap = 0;
}

static int opening(const struct conn *c)
{
    return c->state >= S_TCP && c->state <= S_SUBSCRIBE;
}

/* --resume: the next attempt for c, or the end of its tries. */
static void resume_schedule(struct conn *c)
{
    if (c->attempts >= opt.resume_attempts) {
        c->gave_up = 1;
        c->resume_wait = 0;
        resume_pending--;
        resume_gave_up++;
        note_reason("resume: gave up after %d attempts", c->attempts);
        if (resume_fp)
            fprintf(resume_fp, "%" PRId64 " %" PRId64 " -1 %d %d %d\n", c->lost_us, now_us(), c->lost_target,
                    c->target, c->attempts);
        return;
    }
    double d = c->attempts == 0 ? opt.resume_jitter * drand48()
                                : fmin(8.0, 0.25 * (double)(1 << (c->attempts < 6 ? c->attempts : 6))) *
                                      (0.5 + 0.5 * drand48());
    c->resume_at = mono() + d;
    c->resume_wait = 1;
    /* another server than the lost one, the lost one's clients spread evenly over the others */
    if (ntargets > 1)
        c->target = (c->lost_target + 1 + (c->gidx / ntargets + c->attempts) % (ntargets - 1)) % ntargets;
    c->attempts++;
}

/* A subscribed connection is gone: with --resume, open it again elsewhere. */
static void conn_lost(struct conn *c)
{
    if (!opt.resume || closing_all || opt.mode != MODE_WAYPOINTD)
        return;
    resumes++;
    resume_pending++;
    c->lost_us = now_us();
    if (first_loss_us < 0)
        first_loss_us = c->lost_us;
    c->lost_target = c->target;
    c->attempts = 0;
    resume_schedule(c);
}

/* The "subscribed" reply of a resume. */
static void resume_done(struct conn *c, int resumed)
{
    int64_t t = now_us();
    resumed ? resumed_true++ : resumed_false++;
    if (!resumed)
        note_reason("resume: resumed:false (a fresh snapshot)");
    resume_pending--;
    last_resumed_us = t;
    targets[c->target].resumed_in++;
    if (nresume_lat == capresume_lat) {
        capresume_lat = capresume_lat ? capresume_lat * 2 : 1024;
        resume_lat = xrealloc(resume_lat, capresume_lat * sizeof(int64_t));
    }
    resume_lat[nresume_lat++] = t - c->lost_us;
    if (resume_fp)
        fprintf(resume_fp, "%" PRId64 " %" PRId64 " %d %d %d %d\n", c->lost_us, t, resumed, c->lost_target, c->target,
                c->attempts);
    c->resuming = 0;
}

static void conn_fail(struct conn *c, const char *fmt, ...)
{
    char t[120];
    va_list ap;
    if (c->state == S_FAILED)
        return;
    if (c->state == S_DONE) { /* answering the server's close failed: nothing to count */
        conn_release(c);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    int lost = 0, retry = 0;
    if (opening(c) && c->resuming) {
        note_reason("resume attempt: %s", t);
        resume_attempt_failures++;
        inflight--;
        retry = 1;
    } else if (opening(c)) {
        note_reason("open: %s", t);
        failed++;
        inflight--;
    } else if (c->state == S_READY) {
        note_reason("dropped: %s", t);
        dropped++;
        lost = 1;
    } else { /* closing */
        note_reason("close: %s", t);
    }
    if (opt.verbose)
        fprintf(stderr, "wsload: connection %d: %s\n", c->gidx, t);
    conn_release(c);
    c->state = S_FAILED;
    if (lost)
        conn_lost(c);
    else if (retry && !closing_all)
        resume_schedule(c);
}

/* Our side is done: the close handshake completed (clean), the server's close
 * was answered, or the server hung up while we were closing. */
static void conn_finish(struct conn *c, int clean)
{
    if (c->ssl)
        SSL_shutdown(c->ssl); /* close_notify, best effort (non-blocking) */
    if (clean)
        closed_clean++;
    conn_release(c);
    c->state = S_DONE;
}

static void queue_bytes(struct conn *c, const void *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    grow(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* A masked client frame. */
static void queue_frame(struct conn *c, int opcode, const void *payload, size_t n)
{
    unsigned char h[14], mask[4];
    size_t hl = 0;
    h[hl++] = 0x80 | (opcode & 0x0f);
    if (n < 126) {
        h[hl++] = 0x80 | (unsigned char)n;
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    if (RAND_bytes(mask, 4) != 1)
        die("RAND_bytes failed");
    memcpy(h + hl, mask, 4);
    hl += 4;
    queue_bytes(c, h, hl);
    grow(&c->out, &c->out_cap, c->out_len + n);
    const unsigned char *src = payload;
    for (size_t i = 0; i < n; i++)
        c->out[c->out_len + i] = src[i] ^ mask[i & 3];
    c->out_len += n;
}

static void queue_close(struct conn *c, int code, const char *reason)
{
    unsigned char p[125];
    size_t n = strlen(reason);
    if (n > 100)
        n = 100;
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    memcpy(p + 2, reason, n);
    queue_frame(c, 8, p, n + 2);
    c->sent_close = 1;
}

/* Write what is queued. Returns -1 when the connection failed or finished. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            break; /* EPOLLOUT is armed by set_events; EPOLLIN always is */
        conn_fail(c, "write: %s", ssl_err_text());
        return -1;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > 65536) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        if (c->close_after_flush) {
            conn_finish(c, 0);
            return -1;
        }
    }
    return 0;
}

static void became_ready(struct conn *c, int resumed)
{
    c->state = S_READY;
    inflight--;
    if (c->resuming) {
        resume_done(c, resumed);
        return;
    }
    c->was_ready = 1;
    opened++;
    targets[c->target].opened++;
}

/* ------------------------------------------------------- messages */
static void record(struct conn *c, int key, int64_t value, int64_t t)
{
    if (c->nrecs == c->caprecs) {
        c->caprecs = c->caprecs ? c->caprecs * 2 : 4;
        c->recs = xrealloc(c->recs, c->caprecs * sizeof(struct rec));
    }
    c->recs[c->nrecs++] = (struct rec){key, value, t};
}

static void on_message(struct conn *c, const char *m, int64_t t)
{
    if (c->state == S_SUBSCRIBE) {
        int64_t id;
        if (json_type_is(m, "subscribed") && !json_int(m, "id", &id) && id == c->gidx) {
            int64_t s;
            const char *r = json_find(m, "resumed");
            if (!json_int(m, "seq", &s) && s > c->sub_seq)
                c->sub_seq = s;
            became_ready(c, r && !strncmp(r, "true", 4));
        } else if (json_type_is(m, "error")) {
            int64_t code = 0;
            json_int(m, "code", &code);
            conn_fail(c, "subscribe refused with error %" PRId64, code);
        }
        return; /* anything else before "subscribed" is not ours to count */
    }
    if (json_type_is(m, "waypoint")) {
        const char *cid;
        size_t n;
        int64_t v, seq;
        msgs_waypoint++;
        if (first_recv < 0)
            first_recv = t;
        last_recv = t;
        if (!json_int(m, "seq", &seq)) {
            if (c->last_seq && seq <= c->last_seq)
                order_errors++;
            c->last_seq = seq;
            if (seq > c->sub_seq)
                c->sub_seq = seq;
        }
        if (json_str(m, "customer_id", &cid, &n) || json_int(m, "estimated_time_of_arrival", &v)) {
            msgs_unstamped++;
            return;
        }
        record(c, intern(cid, n), v, t);
    } else if (json_type_is(m, "error")) {
        int64_t code = 0;
        msgs_error++;
        json_int(m, "code", &code);
        note_reason("error message %" PRId64, code);
    } else {
        msgs_other++;
    }
}

static void deliver(struct conn *c, const unsigned char *p, size_t n, int64_t t)
{
    grow(&scratch, &scratch_cap, n + 1);
    memcpy(scratch, p, n);
    scratch[n] = 0;
    on_message(c, (const char *)scratch, t);
}

/* Parse the 101 answer. Returns bytes consumed, 0 when incomplete, -1 failed. */
static long parse_upgrade(struct conn *c)
{
    unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len > MAX_HEADER) {
            conn_fail(c, "upgrade: answer header too long");
            return -1;
        }
        return 0;
    }
    size_t hlen = (size_t)(end - c->in) + 4;
    char *h = strndup((const char *)c->in, hlen);
    if (!h)
        die("out of memory");
    int status = 0;
    if (sscanf(h, "HTTP/1.1 %d", &status) != 1 || status != 101) {
        conn_fail(c, "upgrade answered %d", status);
        free(h);
        return -1;
    }
    /* expected accept value */
    unsigned char sha[SHA_DIGEST_LENGTH];
    char cat[80], want[40];
    snprintf(cat, sizeof(cat), "%s%s", c->ws_key, WS_GUID);
    SHA1((const unsigned char *)cat, strlen(cat), sha);
    EVP_EncodeBlock((unsigned char *)want, sha, SHA_DIGEST_LENGTH);
    int accept_ok = 0, proto_ok = !opt.protocol;
    for (char *line = strstr(h, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2, *colon = strchr(l, ':'), *eol = strstr(l, "\r\n");
        if (!colon || !eol || colon > eol)
            continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vn = (size_t)(eol - v);
        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
            vn--;
        size_t nn = (size_t)(colon - l);
        if (nn == 20 && !strncasecmp(l, "Sec-WebSocket-Accept", nn))
            accept_ok = vn == strlen(want) && !memcmp(v, want, vn);
        else if (nn == 22 && !strncasecmp(l, "Sec-WebSocket-Protocol", nn) && opt.protocol)
            proto_ok = vn == strlen(opt.protocol) && !memcmp(v, opt.protocol, vn);
    }
    free(h);
    if (!accept_ok) {
        conn_fail(c, "upgrade: bad Sec-WebSocket-Accept");
        return -1;
    }
    if (!proto_ok) {
        conn_fail(c, "upgrade: subprotocol not agreed");
        return -1;
    }
    if (opt.mode == MODE_WAYPOINTD) {
        char sub[600];
        int n;
        if (c->key >= 0)
            n = snprintf(sub, sizeof(sub), "{\"type\":\"subscribe\",\"id\":%d,\"dc_id\":\"%s\",\"customer_id\":\"%s\"}",
                         c->gidx, opt.dc, key_names[c->key]);
        else
            n = snprintf(sub, sizeof(sub), "{\"type\":\"subscribe\",\"id\":%d,\"dc_id\":\"%s\"}", c->gidx, opt.dc);
        if (c->resuming && n > 0 && (size_t)n < sizeof(sub) - 32)
            n += snprintf(sub + n - 1, sizeof(sub) - (size_t)n + 1, ",\"since\":%" PRId64 "}", c->sub_seq) - 1;
        queue_frame(c, 1, sub, (size_t)n);
        c->state = S_SUBSCRIBE;
    } else {
        became_ready(c, 0);
    }
    return (long)hlen;
}

/* Frames in c->in. Returns -1 when the connection failed or finished. */
static int parse_frames(struct conn *c, int64_t t)
{
    size_t off = 0;
    int rc = 0;
    while (c->state != S_FAILED && c->state != S_DONE) {
        if (c->state == S_UPGRADE) {
            long k = parse_upgrade(c);
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            off = (size_t)k;
            continue;
        }
        size_t avail = c->in_len - off;
        const unsigned char *p = c->in + off;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)p[2] << 8) | p[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            hl = 10;
        }
        if (len > MAX_MESSAGE) {
            conn_fail(c, "frame of %" PRIu64 " bytes", len);
            return -1;
        }
        size_t mo = hl;
        if (masked)
            hl += 4;
        if (avail < hl + len)
            break;
        unsigned char *pl = c->in + off + hl;
        if (masked) /* servers must not mask; unmask anyway */
            for (uint64_t i = 0; i < len; i++)
                pl[i] ^= p[mo + (i & 3)];
        off += hl + (size_t)len;
        if (op == 9) { /* ping */
            pings++;
            if (!c->sent_close)
                queue_frame(c, 10, pl, (size_t)len);
        } else if (op == 10) { /* pong */
        } else if (op == 8) { /* close */
            int code = len >= 2 ? (pl[0] << 8) | pl[1] : 1005;
            if (c->state == S_CLOSING && c->sent_close) {
                conn_finish(c, 1);
                rc = -1;
                break;
            }
            if (c->state == S_READY || c->state == S_SUBSCRIBE) {
                char reason[64] = "";
                size_t rn = len > 2 ? (size_t)len - 2 : 0;
                if (rn > sizeof(reason) - 1)
                    rn = sizeof(reason) - 1;
                memcpy(reason, pl + 2, rn);
                reason[rn] = 0;
                int was_ready = c->state == S_READY;
                if (was_ready) {
                    note_reason("closed by server: %d %s", code, reason);
                    dropped++;
                } else if (c->resuming) {
                    note_reason("resume attempt: closed by server: %d %s", code, reason);
                    resume_attempt_failures++;
                    inflight--;
                } else {
                    note_reason("open: closed by server: %d %s", code, reason);
                    failed++;
                    inflight--;
                }
                c->state = S_DONE; /* counted; answer and go (a resume releases what is left) */
                if (was_ready)
                    conn_lost(c);
                else if (c->resuming && !closing_all)
                    resume_schedule(c);
            }
            if (!c->sent_close)
                queue_close(c, code == 1005 ? 1000 : code, "");
            c->close_after_flush = 1;
            break;
        } else if (op == 1 || op == 2) {
            if (c->in_msg) {
                conn_fail(c, "new message inside a fragmented one");
                return -1;
            }
            if (fin) {
                deliver(c, pl, (size_t)len, t);
            } else {
                c->in_msg = 1;
                c->msg_len = 0;
                grow(&c->msg, &c->msg_cap, (size_t)len + 1);
                memcpy(c->msg, pl, (size_t)len);
                c->msg_len = (size_t)len;
            }
        } else if (op == 0) {
            if (!c->in_msg) {
                conn_fail(c, "continuation without a message");
                return -1;
            }
            if (c->msg_len + len > MAX_MESSAGE) {
                conn_fail(c, "message too long");
                return -1;
            }
            grow(&c->msg, &c->msg_cap, c->msg_len + (size_t)len + 1);
            memcpy(c->msg + c->msg_len, pl, (size_t)len);
            c->msg_len += (size_t)len;
            if (fin) {
                c->in_msg = 0;
                deliver(c, c->msg, c->msg_len, t);
                if (c->msg_cap > 65536) {
                    free(c->msg);
                    c->msg = NULL;
                    c->msg_cap = 0;
                }
                c->msg_len = 0;
            }
        } else {
            conn_fail(c, "unknown opcode %d", op);
            return -1;
        }
    }
    if (c->in) { /* keep what is left for the next read */
        if (off >= c->in_len) {
            c->in_len = 0;
            if (c->in_cap > 65536) {
                free(c->in);
                c->in = NULL;
                c->in_cap = 0;
            }
        } else if (off) {
            memmove(c->in, c->in + off, c->in_len - off);
            c->in_len -= off;
        }
    }
    if (c->state == S_DONE && c->close_after_flush && c->fd >= 0) {
        /* we answered the server's close: flush it, then drop the connection */
        if (conn_flush(c) == 0 && c->fd >= 0)
            set_events(c);
        return -1;
    }
    return c->state == S_FAILED ? -1 : rc;
}

static void conn_read(struct conn *c)
{
    for (int i = 0; i < 4096 && c->ssl; i++) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, rbuf, sizeof(rbuf));
        if (n > 0) {
            int64_t t = now_us();
            c->read_want_write = 0;
            grow(&c->in, &c->in_cap, c->in_len + (size_t)n);
            memcpy(c->in + c->in_len, rbuf, (size_t)n);
            c->in_len += (size_t)n;
            if (parse_frames(c, t) < 0)
                return;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
            c->read_want_write = 0;
            return;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->read_want_write = 1;
            return;
        }
        if (c->state == S_CLOSING || c->state == S_DONE) { /* hung up while closing */
            if (c->state == S_CLOSING)
                note_reason("close: the server hung up without a close frame");
            conn_finish(c, 0);
            return;
        }
        if (e == SSL_ERROR_ZERO_RETURN)
            conn_fail(c, "TLS close_notify without a close frame");
        else if (e == SSL_ERROR_SYSCALL)
            conn_fail(c, "connection ended without a close frame (%s)", errno ? strerror(errno) : "EOF");
        else
            conn_fail(c, "read: %s", ssl_err_text());
        return;
    }
}

static void tls_step(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        char req[1024];
        unsigned char raw[16];
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            die("RAND_bytes failed");
        EVP_EncodeBlock((unsigned char *)c->ws_key, raw, sizeof(raw));
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s%s%s\r\n",
                         opt.path, targets[c->target].host, targets[c->target].port, c->ws_key, opt.protocol ? "Sec-WebSocket-Protocol: " : "",
                         opt.protocol ? opt.protocol : "", opt.protocol ? "\r\n" : "", opt.key ? "Authorization: Bearer " : "",
                         opt.key ? opt.key : "", opt.key ? "\r\n" : "");
        if (n <= 0 || (size_t)n >= sizeof(req))
            die("request too long");
        c->state = S_UPGRADE;
        c->hs_want_write = 0;
        queue_bytes(c, req, (size_t)n);
        if (conn_flush(c) == 0)
            conn_read(c); /* the answer may already be there */
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        c->hs_want_write = 0;
    else if (e == SSL_ERROR_WANT_WRITE)
        c->hs_want_write = 1;
    else {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            conn_fail(c, "TLS: certificate: %s", X509_verify_cert_error_string(v));
        else
            conn_fail(c, "TLS: %s", ssl_err_text());
    }
}

static void conn_start(struct conn *c)
{
    struct sockaddr_in dst = targets[c->target].addr;
    started++;
    inflight++;
    c->state = S_TCP;
    c->hs_want_write = c->read_want_write = c->close_after_flush = c->sent_close = c->in_msg = 0;
    c->events = 0;
    c->attempt_at = mono();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opt.src_spread) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(2 + c->gidx % 253));
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            conn_fail(c, "bind: %s", strerror(errno));
            return;
        }
    }
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect: %s", strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)(c - conns) + 1};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl: %s", strerror(errno));
        return;
    }
    c->events = ev.events;
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == S_TCP) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            conn_fail(c, "connect: %s", strerror(err));
            return;
        }
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
            conn_fail(c, "SSL_new: %s", ssl_err_text());
            return;
        }
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), targets[c->target].host);
        c->state = S_TLS;
        tls_step(c);
    } else if (c->state == S_TLS) {
        tls_step(c);
    } else if (c->fd >= 0) {
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) || (c->read_want_write && (ev & EPOLLOUT)))
            conn_read(c);
        if (c->fd >= 0 && c->out_off < c->out_len)
            conn_flush(c);
    }
    if (c->fd >= 0)
        set_events(c);
}

/* --------------------------------------------------------- the log */
struct change {
    int key;
    int64_t stamp;
};
static struct change *changes;
static size_t nchanges;
static int *key_first, *key_count, *key_order; /* changes grouped by key */
static int64_t *key_last;                        /* INT64_MIN: no change to that key */
static int log_nkeys;

static void load_log(void)
{
    FILE *f = fopen(opt.changes_log, "r");
    if (!f) {
        note_reason("changes log: %s", strerror(errno));
        return;
    }
    char dc[512], cust[512];
    long long stamp;
    size_t cap = 0;
    while (nchanges < 100000000 && fscanf(f, "%511s %511s %lld%*[^\n]", dc, cust, &stamp) == 3) {
        if (strcmp(dc, opt.dc))
            continue;
        if (nchanges == cap) {
            cap = cap ? cap * 2 : 4096;
            changes = xrealloc(changes, cap * sizeof(*changes));
        }
        changes[nchanges++] = (struct change){intern(cust, strlen(cust)), stamp};
    }
    fclose(f);
    log_nkeys = nkeys;
    key_first = calloc((size_t)log_nkeys + 1, sizeof(int));
    key_count = calloc((size_t)log_nkeys + 1, sizeof(int));
    key_last = xrealloc(NULL, ((size_t)log_nkeys + 1) * sizeof(int64_t));
    key_order = xrealloc(NULL, (nchanges + 1) * sizeof(int));
    if (!key_first || !key_count)
        die("out of memory");
    for (int k = 0; k < log_nkeys; k++)
        key_last[k] = INT64_MIN;
    for (size_t i = 0; i < nchanges; i++) {
        key_count[changes[i].key]++;
        if (changes[i].stamp > key_last[changes[i].key])
            key_last[changes[i].key] = changes[i].stamp;
    }
    for (int k = 1; k < log_nkeys; k++)
        key_first[k] = key_first[k - 1] + key_count[k - 1];
    int *fill = calloc((size_t)log_nkeys + 1, sizeof(int));
    if (!fill)
        die("out of memory");
    for (size_t i = 0; i < nchanges; i++) {
        int k = changes[i].key;
        key_order[key_first[k] + fill[k]++] = (int)i;
    }
    free(fill);
}

/* Per-connection scratch: max value seen per key, valid where gen matches. */
static int64_t *kmax;
static unsigned *kgen;
static unsigned gen;

static void scan_max(const struct conn *c)
{
    if (!kmax) {
        kmax = xrealloc(NULL, ((size_t)log_nkeys + 1) * sizeof(int64_t));
        kgen = calloc((size_t)log_nkeys + 1, sizeof(unsigned));
        if (!kgen)
            die("out of memory");
    }
    gen++;
    for (size_t i = 0; i < c->nrecs; i++) {
        int k = c->recs[i].key;
        if (k >= log_nkeys)
            continue;
        if (kgen[k] != gen) {
            kgen[k] = gen;
            kmax[k] = c->recs[i].value;
        } else if (c->recs[i].value > kmax[k]) {
            kmax[k] = c->recs[i].value;
        }
    }
}

static int conn_caught_up(struct conn *c)
{
    if (c->caught_up || !c->was_ready || c->gave_up)
        return 1;
    scan_max(c);
    if (c->key >= 0) {
        if (c->key < log_nkeys && key_last[c->key] != INT64_MIN &&
            (kgen[c->key] != gen || kmax[c->key] < key_last[c->key]))
            return 0;
    } else {
        for (int k = 0; k < log_nkeys; k++)
            if (key_last[k] != INT64_MIN && (kgen[k] != gen || kmax[k] < key_last[k]))
                return 0;
    }
    c->caught_up = 1;
    return 1;
}

static int all_caught_up(void)
{
    for (int i = 0; i < opt.conns; i++)
        if (!conn_caught_up(&conns[i]))
            return 0;
    return 1;
}

/* -------------------------------------------------------- figures */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *v, size_t n, double q)
{
    if (!n)
        return -1;
    double x = q * (double)n / 100.0; /* nearest rank: ceil(q/100 * n) */
    size_t r = (size_t)x;
    if ((double)r < x)
        r++;
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return v[r - 1];
}

/* ,"resumes":...: the --resume figures, for the result and closed lines. */
static void print_resumes(FILE *f)
{
    if (nresume_lat)
        qsort(resume_lat, nresume_lat, sizeof(int64_t), cmp_i64);
    fprintf(f,
            ",\"resumes\":%ld,\"resumed_true\":%ld,\"resumed_false\":%ld,\"resume_gave_up\":%ld,"
            "\"resume_waiting\":%ld,\"resume_attempt_failures\":%ld,\"first_loss_us\":%" PRId64
            ",\"last_resumed_us\":%" PRId64 ",\"resume_p50_us\":%" PRId64 ",\"resume_max_us\":%" PRId64
            ",\"resumed_in\":[",
            resumes, resumed_true, resumed_false, resume_gave_up, resume_pending, resume_attempt_failures, first_loss_us,
            last_resumed_us, pct(resume_lat, nresume_lat, 50), nresume_lat ? resume_lat[nresume_lat - 1] : -1);
    for (int i = 0; i < ntargets; i++)
        fprintf(f, "%s%ld", i ? "," : "", targets[i].resumed_in);
    fputs("]", f);
}

/* --resume: start the attempts that are due (within --concurrency), time out slow ones. */
static void resume_tick(double now)
{
    for (int i = 0; i < opt.conns && resume_pending > 0; i++) {
        struct conn *c = &conns[i];
        if (c->resuming && opening(c) && now - c->attempt_at > opt.resume_timeout) {
            static const char *names[] = {"new", "TCP connect", "TLS handshake", "upgrade", "subscribe"};
            conn_fail(c, "timeout in %s", names[c->state]);
            continue;
        }
        if (!c->resume_wait || now < c->resume_at || inflight >= opt.concurrency)
            continue;
        if (c->fd >= 0) /* a close we answered and did not finish sending: no matter now */
            conn_release(c);
        c->resume_wait = 0;
        c->resuming = 1;
        conn_start(c);
    }
}

static void report(int have_log, double drain_s, int caught)
{
    long expected = 0, delivered = 0, exact = 0, coalesced = 0, lost = 0, conns_expecting = 0, conns_caught = 0;
    int64_t *lat = NULL;
    size_t nlat = 0, caplat = 0;
    FILE *lo = NULL;
    if (opt.latency_out && !(lo = fopen(opt.latency_out, "w")))
        note_reason("latency-out: %s", strerror(errno));
    int64_t first_stamp = -1, last_stamp = -1;
    for (size_t i = 0; have_log && i < nchanges; i++) {
        if (first_stamp < 0 || changes[i].stamp < first_stamp)
            first_stamp = changes[i].stamp;
        if (changes[i].stamp > last_stamp)
            last_stamp = changes[i].stamp;
    }
    /* prefix max of a key's values in arrival order (values may not grow on a broken server) */
    struct rec *tmp = NULL;
    int64_t *pmax = NULL;
    size_t tmpcap = 0;
    for (int ci = 0; have_log && ci < opt.conns; ci++) {
        struct conn *c = &conns[ci];
        if (!c->was_ready)
            continue;
        int exp_here = 0;
        int klo = c->key >= 0 ? c->key : 0, khi = c->key >= 0 ? c->key + 1 : log_nkeys;
        for (int k = klo; k < khi && k < log_nkeys; k++) {
            if (!key_count[k])
                continue;
            /* this connection's messages for key k, in arrival order */
            size_t m = 0;
            for (size_t i = 0; i < c->nrecs; i++)
                if (c->recs[i].key == k) {
                    if (m == tmpcap) {
                        tmpcap = tmpcap ? tmpcap * 2 : 64;
                        tmp = xrealloc(tmp, tmpcap * sizeof(*tmp));
                        pmax = xrealloc(pmax, tmpcap * sizeof(*pmax));
                    }
                    tmp[m] = c->recs[i];
                    pmax[m] = m && pmax[m - 1] > tmp[m].value ? pmax[m - 1] : tmp[m].value;
                    m++;
                }
            for (int j = 0; j < key_count[k]; j++) {
                const struct change *ch = &changes[key_order[key_first[k] + j]];
                expected++;
                exp_here = 1;
                size_t lo_i = 0, hi_i = m; /* first with pmax >= stamp */
                while (lo_i < hi_i) {
                    size_t mid = (lo_i + hi_i) / 2;
                    if (pmax[mid] >= ch->stamp)
                        hi_i = mid;
                    else
                        lo_i = mid + 1;
                }
                if (lo_i == m) {
                    lost++;
                    continue;
                }
                delivered++;
                int is_exact = tmp[lo_i].value == ch->stamp;
                if (!is_exact) { /* an exact match may still come later (out of order) */
                    for (size_t x = lo_i + 1; x < m; x++)
                        if (tmp[x].value == ch->stamp) {
                            is_exact = 1;
                            break;
                        }
                }
                is_exact ? exact++ : coalesced++;
                int64_t l = tmp[lo_i].t - ch->stamp;
                if (nlat == caplat) {
                    caplat = caplat ? caplat * 2 : 4096;
                    lat = xrealloc(lat, caplat * sizeof(int64_t));
                }
                lat[nlat++] = l;
                if (lo && opt.resume) /* 4th column: the connection moved (was lost and resumed) */
                    fprintf(lo, "%" PRId64 " %" PRId64 " %d %d\n", ch->stamp, l, is_exact, c->lost_us != 0);
                else if (lo)
                    fprintf(lo, "%" PRId64 " %" PRId64 " %d\n", ch->stamp, l, is_exact);
            }
        }
        if (exp_here) {
            conns_expecting++;
            conns_caught += conn_caught_up(c);
        }
    }
    free(tmp);
    free(pmax);
    if (lo)
        fclose(lo);
    if (nlat)
        qsort(lat, nlat, sizeof(int64_t), cmp_i64);
    long negative = 0;
    for (size_t i = 0; i < nlat && lat[i] < 0; i++)
        negative++;
    double span = have_log && first_stamp >= 0 && last_recv > first_stamp ? (last_recv - first_stamp) / 1e6 : 0;
    printf("result {\"conns\":%d,\"opened\":%ld,\"failed\":%ld,\"dropped\":%ld,\"received\":%ld,\"other_msgs\":%ld,"
           "\"error_msgs\":%ld,\"unstamped\":%ld,\"order_errors\":%ld,\"pings\":%ld,\"changes\":%zu,\"expected\":%ld,"
           "\"delivered\":%ld,\"exact\":%ld,\"coalesced\":%ld,\"lost\":%ld,\"negative\":%ld,"
           "\"conns_expecting\":%ld,\"conns_caught_up\":%ld,\"caught_up\":%s,\"drain_s\":%.3f,"
           "\"p50_us\":%" PRId64 ",\"p99_us\":%" PRId64 ",\"max_us\":%" PRId64 ",\"min_us\":%" PRId64 ","
           "\"first_stamp_us\":%" PRId64 ",\"last_stamp_us\":%" PRId64 ",\"first_recv_us\":%" PRId64
           ",\"last_recv_us\":%" PRId64 ",\"msgs_per_s\":%.1f,\"reasons\":",
           opt.conns, opened, failed, dropped, msgs_waypoint, msgs_other, msgs_error, msgs_unstamped, order_errors, pings,
           have_log ? nchanges : 0, expected, delivered, exact, coalesced, lost, negative, conns_expecting, conns_caught,
           caught ? "true" : "false", drain_s, pct(lat, nlat, 50), pct(lat, nlat, 99), nlat ? lat[nlat - 1] : -1,
           nlat ? lat[0] : -1, first_stamp, last_stamp, first_recv, last_recv, span > 0 ? msgs_waypoint / span : 0.0);
    print_reasons(stdout);
    print_resumes(stdout);
    printf("}\n");
    fflush(stdout);
    free(lat);
}

/* -------------------------------------------------------------- main */
static void usage(FILE *f)
{
    fputs("usage: wsload --port P --ca FILE [options]\n"
          "  --host IP             server address (127.0.0.1)\n"
          "  --path PATH           request path (/live)\n"
          "  --mode waypointd|nchan  (waypointd)\n"
          "  --key KEY             Authorization: Bearer KEY (waypointd)\n"
          "  --protocol NAME       Sec-WebSocket-Protocol to offer (waypointd: waypoints.v1; nchan: none)\n"
          "  --conns N             connections (1)\n"
          "  --index-base B        global index of the first connection: request id, source address, customer (0)\n"
          "  --src-spread          bind connection i to 127.0.0.(2 + (B+i) %% 253)\n"
          "  --dc D                DC to subscribe to (waypointd) and to read from the changes log\n"
          "  --customers-file F    customer ids, one a line; connection i subscribes to line (B+i) %% lines;\n"
          "                        without it: DC-wide subscriptions (nchan: every connection expects every change)\n"
          "  --concurrency K       connections opening at once (200)\n"
          "  --connect-timeout S   time to open them all (120)\n"
          "  --changes-log F       the writer's log, read on SIGUSR1: DC CUSTOMER STAMP_US per line\n"
          "  --drain S             after SIGUSR1, wait at most S s for the last messages (30)\n"
          "  --latency-out F       write STAMP LATENCY_US EXACT per delivered change\n"
          "  --duration S          close everything S s after the start at the latest (900)\n"
          "  --close-timeout S     wait at most S s for the close handshakes (10)\n"
          "  --verbose             one stderr line per failed connection\n"
          "  --targets IP:PORT,...  several servers (in place of --host/--port): connection i opens\n"
          "                        to target i %% count\n"
          "  --resume              reopen a lost subscription on another target with \"since\"\n"
          "  --resume-jitter S     first attempt after a loss: uniform in 0..S s (2)\n"
          "  --resume-attempts N   attempts per loss (8)\n"
          "  --resume-timeout S    one attempt's time limit (30)\n"
          "  --resume-out F        one line per finished resume (see the header of wsload.c)\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"path", 1, 0, 'P'}, {"ca", 1, 0, 'c'},
        {"mode", 1, 0, 'm'}, {"key", 1, 0, 'k'}, {"protocol", 1, 0, 'r'}, {"conns", 1, 0, 'n'},
        {"index-base", 1, 0, 'b'}, {"src-spread", 0, 0, 's'}, {"dc", 1, 0, 'd'}, {"customers-file", 1, 0, 'f'},
        {"concurrency", 1, 0, 'C'}, {"connect-timeout", 1, 0, 'T'}, {"changes-log", 1, 0, 'l'},
        {"drain", 1, 0, 'D'}, {"latency-out", 1, 0, 'o'}, {"duration", 1, 0, 'u'},
        {"close-timeout", 1, 0, 'x'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'H'}, {"targets", 1, 0, 'g'},
        {"resume", 0, 0, 'R'}, {"resume-jitter", 1, 0, 'J'}, {"resume-attempts", 1, 0, 'A'},
        {"resume-timeout", 1, 0, 'I'}, {"resume-out", 1, 0, 'O'}, {0, 0, 0, 0}};
    int ch, proto_set = 0;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'P': opt.path = optarg; break;
        case 'c': opt.ca = optarg; break;
        case 'm':
            if (!strcmp(optarg, "waypointd"))
                opt.mode = MODE_WAYPOINTD;
            else if (!strcmp(optarg, "nchan"))
                opt.mode = MODE_NCHAN;
            else
                die("--mode: waypointd or nchan");
            break;
        case 'k': opt.key = optarg; break;
        case 'r': opt.protocol = *optarg ? optarg : NULL; proto_set = 1; break;
        case 'n': opt.conns = atoi(optarg); break;
        case 'b': opt.index_base = atoi(optarg); break;
        case 's': opt.src_spread = 1; break;
        case 'd': opt.dc = optarg; break;
        case 'f': opt.customers_file = optarg; break;
        case 'C': opt.concurrency = atoi(optarg); break;
        case 'T': opt.connect_timeout = atof(optarg); break;
        case 'l': opt.changes_log = optarg; break;
        case 'D': opt.drain = atof(optarg); break;
        case 'o': opt.latency_out = optarg; break;
        case 'u': opt.duration = atof(optarg); break;
        case 'x': opt.close_timeout = atof(optarg); break;
        case 'v': opt.verbose = 1; break;
        case 'g': opt.targets = optarg; break;
        case 'R': opt.resume = 1; break;
        case 'J': opt.resume_jitter = atof(optarg); break;
        case 'A': opt.resume_attempts = atoi(optarg); break;
        case 'I': opt.resume_timeout = atof(optarg); break;
        case 'O': opt.resume_out = optarg; break;
        case 'H': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind != argc || (!opt.targets && (opt.port <= 0 || opt.port > 65535)) || !opt.ca || opt.conns < 1 ||
        opt.conns > 1000000 || opt.concurrency < 1 || opt.index_base < 0 || opt.connect_timeout <= 0 ||
        opt.duration <= 0 || opt.drain < 0 || opt.close_timeout < 0 || opt.resume_attempts < 1 ||
        opt.resume_attempts > 100 || opt.resume_jitter < 0 || opt.resume_timeout <= 0) {
        usage(stderr);
        return 1;
    }
    if (opt.targets) {
        char *list = strdup(opt.targets), *save = NULL;
        if (!list)
            die("out of memory");
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *colon = strrchr(t, ':');
            int port = colon ? atoi(colon + 1) : 0;
            if (ntargets == MAX_TARGETS || !colon || port <= 0 || port > 65535 || colon - t >= INET_ADDRSTRLEN)
                die("--targets: IPv4:PORT,... (at most %d)", MAX_TARGETS);
            *colon = 0;
            snprintf(targets[ntargets].host, sizeof(targets[ntargets].host), "%s", t);
            targets[ntargets].port = port;
            ntargets++;
        }
        free(list);
        if (!ntargets)
            die("--targets: empty");
    } else {
        if (strlen(opt.host) >= INET_ADDRSTRLEN)
            die("--host must be an IPv4 address");
        snprintf(targets[0].host, sizeof(targets[0].host), "%s", opt.host);
        targets[0].port = opt.port;
        ntargets = 1;
    }
    for (int i = 0; i < ntargets; i++) {
        targets[i].addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)targets[i].port)};
        if (inet_pton(AF_INET, targets[i].host, &targets[i].addr.sin_addr) != 1)
            die("%s: not an IPv4 address", targets[i].host);
    }
    if (opt.resume && opt.mode != MODE_WAYPOINTD)
        die("--resume needs --mode waypointd");
    if (opt.resume_out && !(resume_fp = fopen(opt.resume_out, "w")))
        die("%s: %s", opt.resume_out, strerror(errno));
    srand48((long)getpid() ^ (long)now_us());
    if (opt.mode == MODE_WAYPOINTD && !opt.dc)
        die("--mode waypointd needs --dc");
    if (!opt.dc)
        opt.dc = "-";
    if (!proto_set && opt.mode == MODE_WAYPOINTD)
        opt.protocol = "waypoints.v1";
    if (opt.dc && strpbrk(opt.dc, "\"\\"))
        die("--dc: no quotes or backslashes");

    /* customers */
    int *cust_keys = NULL, ncust = 0;
    if (opt.customers_file) {
        FILE *f = fopen(opt.customers_file, "r");
        char line[512];
        int cap = 0;
        if (!f)
            die("%s: %s", opt.customers_file, strerror(errno));
        while (ncust < 10000000 && fgets(line, sizeof(line), f)) {
            size_t n = strcspn(line, "\r\n");
            if (!n)
                continue;
            if (memchr(line, '"', n) || memchr(line, '\\', n))
                die("%s: no quotes or backslashes in customer ids", opt.customers_file);
            if (ncust == cap) {
                cap = cap ? cap * 2 : 1024;
                cust_keys = xrealloc(cust_keys, (size_t)cap * sizeof(int));
            }
            cust_keys[ncust++] = intern(line, n);
        }
        fclose(f);
        if (!ncust)
            die("%s: no customer ids", opt.customers_file);
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGUSR1);
    sigaddset(&ss, SIGUSR2);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sigfd < 0 || epfd < 0)
        die("signalfd/epoll: %s", strerror(errno));
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = 0};
    epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sev);

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        die("TLS context: %s", ssl_err_text());
    if (SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1)
        die("%s: %s", opt.ca, ssl_err_text());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);

    conns = calloc((size_t)opt.conns, sizeof(*conns));
    if (!conns)
        die("out of memory");
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].gidx = opt.index_base + i;
        conns[i].key = ncust ? cust_keys[(opt.index_base + i) % ncust] : -1;
        conns[i].target = (opt.index_base + i) % ntargets;
    }

    enum { P_OPEN, P_RUN, P_DRAIN, P_IDLE, P_CLOSE } phase = P_OPEN;
    int want_drain = 0, want_close = 0, reported = 0, caught = 0;
    double drain_start = 0, close_start = 0, deadline = 0;
    int next = 0;
    struct epoll_event evs[512];
    t_start = mono();
    for (;;) {
        double now = mono();
        if (now - t_start > opt.duration && phase != P_CLOSE)
            want_close = 1;
        if (phase == P_OPEN) {
            while (next < opt.conns && inflight < opt.concurrency)
                conn_start(&conns[next++]);
            int done = next == opt.conns && inflight == 0;
            if (!done && now - t_start > opt.connect_timeout) {
                for (int i = 0; i < opt.conns; i++)
                    if (opening(&conns[i])) {
                        static const char *names[] = {"new", "TCP connect", "TLS handshake", "upgrade",
                                                      "subscribe"};
                        conn_fail(&conns[i], "timeout in %s", names[conns[i].state]);
                    }
                for (; next < opt.conns; next++) {
                    note_reason("open: not started before the connect timeout");
                    failed++;
                    conns[next].state = S_FAILED;
                }
                done = 1;
            }
            if (done) {
                t_ready = mono();
                printf("ready {\"conns\":%d,\"opened\":%ld,\"failed\":%ld,\"open_s\":%.3f,\"per_target\":[",
                       opt.conns, opened, failed, t_ready - t_start);
                for (int t = 0; t < ntargets; t++)
                    printf("%s%ld", t ? "," : "", targets[t].opened);
                printf("],\"reasons\":");
                print_reasons(stdout);
                printf("}\n");
                fflush(stdout);
                phase = P_RUN;
            }
        }
        if (phase == P_RUN && want_drain) {
            if (opt.changes_log)
                load_log();
            phase = P_DRAIN;
            drain_start = mono();
        }
        if (phase == P_DRAIN) {
            static double last_check;
            if (now - last_check >= 0.05 || now - drain_start > opt.drain) {
                last_check = now;
                caught = !opt.changes_log || all_caught_up();
                if (caught || now - drain_start > opt.drain) {
                    report(opt.changes_log != NULL, mono() - drain_start, caught);
                    reported = 1;
                    phase = P_IDLE;
                }
            }
        }
        if (want_close && phase != P_CLOSE && phase != P_OPEN) {
            if (!reported) {
                report(0, 0, 0);
                reported = 1;
            }
            phase = P_CLOSE;
            close_start = mono();
            closing_all = 1;
            for (int i = 0; i < opt.conns; i++) {
                struct conn *c = &conns[i];
                if (c->resume_wait || (c->resuming && opening(c))) {
                    note_reason("resume: not done at the close");
                    c->resume_wait = 0;
                }
                if (c->state == S_READY) {
                    c->state = S_CLOSING;
                    queue_close(c, 1000, "bye");
                    if (conn_flush(c) == 0 && c->fd >= 0)
                        set_events(c);
                } else if (c->fd >= 0 && c->state != S_DONE) {
                    conn_release(c);
                    c->state = S_DONE;
                }
            }
        } else if (want_close && phase == P_OPEN) {
            /* stop opening: fail the rest and report */
            opt.connect_timeout = 0;
            continue;
        }
        if (phase == P_CLOSE) {
            int left = 0;
            for (int i = 0; i < opt.conns; i++)
                left += conns[i].fd >= 0;
            if (!left || mono() - close_start > opt.close_timeout) {
                for (int i = 0; i < opt.conns; i++)
                    if (conns[i].fd >= 0) {
                        close_timeouts++;
                        conn_release(&conns[i]);
                        conns[i].state = S_DONE;
                    }
                printf("closed {\"closed_clean\":%ld,\"close_timeouts\":%ld,\"close_s\":%.3f,\"pings\":%ld,"
                       "\"dropped\":%ld,\"reasons\":",
                       closed_clean, close_timeouts, mono() - close_start, pings, dropped);
                print_reasons(stdout);
                print_resumes(stdout);
                printf("}\n");
                if (resume_fp)
                    fclose(resume_fp);
                fflush(stdout);
                break;
            }
        }
        if (opt.resume && resume_pending > 0 && phase != P_CLOSE)
            resume_tick(mono());
        deadline = phase == P_OPEN ? 0.02 : 0.05;
        int n = epoll_wait(epfd, evs, 512, (int)(deadline * 1000));
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGUSR1) {
                        want_drain = 1;
                    } else if (si.ssi_signo == SIGUSR2) {
                        printf("mark {\"pings\":%ld,\"received\":%ld,\"opened\":%ld,\"dropped\":%ld,\"resumes\":%ld,"
                               "\"resumed_true\":%ld,\"resumed_false\":%ld,\"resume_gave_up\":%ld,"
                               "\"resume_waiting\":%ld}\n",
                               pings, msgs_waypoint, opened, dropped, resumes, resumed_true, resumed_false,
                               resume_gave_up, resume_pending);
                        fflush(stdout);
                    } else
                        want_close = 1;
                }
                continue;
            }
            struct conn *c = &conns[evs[i].data.u64 - 1];
            if (c->fd >= 0)
                on_event(c, evs[i].events);
        }
    }
    (void)deadline;
    SSL_CTX_free(ctx);
    return 0;
}
