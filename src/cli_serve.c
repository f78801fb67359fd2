/* SPDX-License-Identifier: MIT
 *
 * serve's command line: its options, the config file and WAYPOINTD_
 * variables merged under them (config.c reads them; the command line wins),
 * their checks, --check-config, then serve.c runs the server. The shared
 * usage helpers are cli.c's (cli_int.h). Main thread only.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "config.h"
#include "source_sqlite.h"
#include "log.h"
#include "num.h"
#include "serve.h"
#include "store.h"
#include "tls.h"
#include "view.h"
#include "webhook_send.h"

#define CLI_THREADS_MAX 64 /* serve.c runs at most 64 service threads */
/* Retention bounds: the largest values mean "keep everything" in effect, and
 * stay far from overflow in the milliseconds and row numbers they become. */
#define CLI_KEEP_ROWS_MAX 1000000000000LL        /* 10^12 rows */
#define CLI_KEEP_SECONDS_MAX (100LL * 365 * 86400) /* 100 years */

static const char serve_help[] =
    "usage: waypointd serve --db FILE --listen HOST:PORT --cert FILE --key FILE [--www DIR] [--threads N]\n"
    "Serve the Customers API and static files over HTTPS until SIGINT or SIGTERM.\n"
    "  --listen HOST:PORT  address to listen on; port 0 picks a free port\n"
    "  --cert, --key       PEM certificate (chain) and private key\n"
    "  --www DIR           static files (default: " WAYPOINTD_DEFAULT_WWW ")\n"
    "  --threads N         service threads, 1..64 (default: the number of CPUs)\n"
    "  --log-keep-rows N   change-log rows kept for resuming clients, 0..10^12 (default 1000000)\n"
    "  --log-keep-seconds S  and for how long, 0..3153600000 = 100 years (default 604800, 7 days)\n"
    "  --ws-ping-seconds S   ping a WebSocket client silent this long, 1..86400 (default 30)\n"
    "  --ws-idle-seconds S   drop one silent this long, pongs included, 1..86400 (default 75)\n"
    "  --ws-send-timeout S   drop a subscriber that stops reading this long, 1..86400 (default 30)\n"
    "  --max-subs N          subscriptions per WebSocket connection, 1..10000 (default 64)\n"
    "  --rate-limit-addr R   failures per second per client address (IPv6: per /64):\n"
    "                        bad or missing credentials, malformed requests, refused\n"
    "                        upgrades; bursts of 10R; 0: no limit; 0..1000000 (default 20)\n"
    "  --rate-limit-key R    API requests, upgrades, event streams and subscribes per\n"
    "                        second per API key or tracking token; bursts of 10R (default 1000)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --log-format FORMAT   text (key=value, the default) or json: one line per event\n"
    "  --access-log          also log one line per HTTP answer (never a credential)\n"
    "  --metrics-listen HOST:PORT  serve /metrics and /healthz over plain HTTP there\n"
    "                        (keep it private: loopback or an internal network); default off\n"
    "  --allow-origin ORIGIN a browser Origin (https://host[:port]) allowed to open /live,\n"
    "                        besides pages served by waypointd itself; repeatable,\n"
    "                        or several in one value, separated by commas or blanks\n"
    "  --map-tiles URL       a basemap for the dashboard's map: a tile URL template with\n"
    "                        {z}, {x} and {y} (https://..., or /... on this server); default none\n"
    "  --map-tiles-attribution TEXT  the basemap's credit line, shown on the map\n"
    "  --webhook-ca FILE     PEM CA certificates trusted for webhook receivers, besides\n"
    "                        the system's\n"
    "  --webhook-allow-private CIDR  let webhook deliveries reach this range (refused:\n"
    "                        private, loopback, link-local, CGNAT...); repeatable\n"
    "  --webhook-timeout S   a webhook attempt's total time limit, 1..300 (default 10)\n"
    "  --config FILE         read these settings from FILE first (\"name = value\" lines, names\n"
    "                        as the options without dashes); also WAYPOINTD_CONFIG\n"
    "  --check-config        check the settings, certificate and database, print them, exit\n"
    "Every option can also come from the environment as WAYPOINTD_NAME (e.g. WAYPOINTD_LISTEN).\n"
    "The command line overrides the environment, which overrides the file.\n"
    "SIGHUP reloads the certificate and key; SIGTERM stops gracefully.\n"
    "Prints \"listening on https://HOST:PORT\" once ready.\n";

/* "HOST:PORT", "[V6]:PORT" -> host (in buf) and port. */
static int parse_listen(const char *arg, char *buf, size_t cap, int *port)
{
    const char *colon = strrchr(arg, ':');
    size_t hlen;
    int64_t p;

    if (!colon || num_parse_i64(colon + 1, 0, 65535, &p))
        return -EINVAL;
    hlen = (size_t)(colon - arg);
    if (hlen >= 2 && arg[0] == '[' && arg[hlen - 1] == ']') {
        arg++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= cap)
        return -EINVAL;
    memcpy(buf, arg, hlen);
    buf[hlen] = '\0';
    *port = (int)p;
    return 0;
}

/* An origin as browsers send it: scheme://host[:port], nothing after. */
static int origin_valid(const char *o)
{
    const char *host = strstr(o, "://");

    return host && host != o && host[3] && !strpbrk(host + 3, "/?#@ \t") && strlen(o) < 256;
}

/* getopt values of the map options: past any letter, so they never collide. */
enum { OPT_MAP_TILES = 0x100, OPT_MAP_ATTRIBUTION, OPT_WEBHOOK_CA, OPT_WEBHOOK_ALLOW, OPT_WEBHOOK_TIMEOUT };

/* A tile URL template the page can use as it is: https:// (the page is
 * HTTPS: plain http images would be mixed content) or an absolute path on
 * this server, with {z}, {x} and {y}, and nothing that would need quoting
 * (spaces, quotes, angle brackets, control bytes). */
static int map_tiles_valid(const char *t)
{
    if (strncmp(t, "https://", 8) && (t[0] != '/' || t[1] == '/'))
        return 0;
    if (!strstr(t, "{z}") || !strstr(t, "{x}") || !strstr(t, "{y}") || strlen(t) > 1024)
        return 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("\"'<>\\`", *p))
            return 0;
    return 1;
}

static const struct option serve_opts[] = {{"db", required_argument, NULL, 'd'},
                                           {"listen", required_argument, NULL, 'l'},
                                           {"cert", required_argument, NULL, 'c'},
                                           {"key", required_argument, NULL, 'k'},
                                           {"www", required_argument, NULL, 'w'},
                                           {"threads", required_argument, NULL, 't'},
                                           {"log-keep-rows", required_argument, NULL, 'r'},
                                           {"log-keep-seconds", required_argument, NULL, 's'},
                                           {"ws-ping-seconds", required_argument, NULL, 'p'},
                                           {"ws-idle-seconds", required_argument, NULL, 'i'},
                                           {"ws-send-timeout", required_argument, NULL, 'T'},
                                           {"max-subs", required_argument, NULL, 'm'},
                                           {"rate-limit-addr", required_argument, NULL, 'A'},
                                           {"rate-limit-key", required_argument, NULL, 'K'},
                                           {"allow-origin", required_argument, NULL, 'o'},
                                           {"metrics-listen", required_argument, NULL, 'M'},
                                           {"log-level", required_argument, NULL, 'L'},
                                           {"log-format", required_argument, NULL, 'F'},
                                           {"access-log", no_argument, NULL, 'a'},
                                           {"config", required_argument, NULL, 'C'},
                                           {"check-config", no_argument, NULL, 'X'},
                                           {"map-tiles", required_argument, NULL, OPT_MAP_TILES},
                                           {"map-tiles-attribution", required_argument, NULL, OPT_MAP_ATTRIBUTION},
                                           {"webhook-ca", required_argument, NULL, OPT_WEBHOOK_CA},
                                           {"webhook-allow-private", required_argument, NULL, OPT_WEBHOOK_ALLOW},
                                           {"webhook-timeout", required_argument, NULL, OPT_WEBHOOK_TIMEOUT},
                                           {NULL, 0, NULL, 0}};

#define SERVE_NOPTS (sizeof(serve_opts) / sizeof(serve_opts[0]) - 1)

/* Everything serve's options set, before and after checking. */
struct serve_args {
    struct serve_config cfg;
    const char *listen, *www, *metrics_listen;
    const char *map_tiles, *map_attribution;
    char *map_config; /* view_map_config's JSON; freed by cli_serve */
    int64_t threads;
    int check; /* --check-config */
    const char *origins[SERVE_ORIGINS_MAX];
    const char *from[SERVE_NOPTS]; /* per option, where its last value came from; NULL: command line */
    char host[256], metrics_host[256], www_real[PATH_MAX];
};

/* Where the option named name last came from (NULL: the command line). */
static const char *from(const struct serve_args *a, const char *name)
{
    for (size_t i = 0; i < SERVE_NOPTS; i++)
        if (!strcmp(serve_opts[i].name, name))
            return a->from[i];
    return NULL;
}

static void serve_defaults(struct serve_args *a)
{
    memset(a, 0, sizeof(*a));
    a->cfg.log_keep_rows = SOURCE_SQLITE_KEEP_ROWS_DEFAULT;
    a->cfg.log_keep_seconds = SOURCE_SQLITE_KEEP_SECONDS_DEFAULT;
    a->cfg.ws_send_timeout_secs = LIVE_SEND_TIMEOUT_SECS;
    a->cfg.max_subs = LIVE_SUBS_MAX;
    a->cfg.rate_addr = SERVE_RATE_ADDR_DEFAULT;
    a->cfg.rate_key = SERVE_RATE_KEY_DEFAULT;
    a->cfg.log_level = "info";
    a->cfg.log_format = "text";
    a->cfg.allow_origins = a->origins;
    a->www = WAYPOINTD_DEFAULT_WWW;
    a->threads = sysconf(_SC_NPROCESSORS_ONLN);
}

/* --allow-origin's value: one origin or several, separated by commas or
 * blanks (an origin has neither), so that a single WAYPOINTD_ALLOW_ORIGIN
 * can carry a list. The strings are cut in place: arg is ours (cli_serve's
 * copy) and lives as long as the server. 0 or the usage exit code. */
static int add_origins(struct serve_args *a, char *arg, const char *where)
{
    char msg[400], *save = NULL, *o;
    int n = 0;

    for (o = strtok_r(arg, ", \t\n", &save); o; o = strtok_r(NULL, ", \t\n", &save), n++) {
        if (!origin_valid(o)) {
            snprintf(msg, sizeof(msg), "--allow-origin: \"%.256s\" is not an origin like https://example.com[:port]",
                     o);
            return cli_usage_at("serve", where, msg);
        }
        if (a->cfg.n_allow_origins == SERVE_ORIGINS_MAX) {
            snprintf(msg, sizeof(msg), "more than %d --allow-origin values", SERVE_ORIGINS_MAX);
            return cli_usage_at("serve", where, msg);
        }
        a->origins[a->cfg.n_allow_origins++] = o;
    }
    return n ? 0 : cli_usage_at("serve", where, "--allow-origin needs at least one origin");
}

/* One option from getopt_long (idx its index in serve_opts) that came from
 * where (NULL: the command line); 0 or the usage exit code. */
/* --webhook-allow-private's value: CIDRs separated by commas or blanks. */
static int add_allow(struct serve_args *a, char *arg, const char *where)
{
    char msg[320];
    int n = 0;

    for (char *save = NULL, *r = strtok_r(arg, ", \t", &save); r; r = strtok_r(NULL, ", \t", &save), n++) {
        if (a->cfg.n_webhook_allow == WEBHOOK_SEND_ALLOW_MAX) {
            snprintf(msg, sizeof(msg), "more than %d --webhook-allow-private ranges", WEBHOOK_SEND_ALLOW_MAX);
            return cli_usage_at("serve", where, msg);
        }
        if (webhook_cidr_parse(r, &a->cfg.webhook_allow[a->cfg.n_webhook_allow])) {
            snprintf(msg, sizeof(msg), "--webhook-allow-private: \"%.256s\" is not a CIDR like 10.0.0.0/8", r);
            return cli_usage_at("serve", where, msg);
        }
        a->cfg.n_webhook_allow++;
    }
    return n ? 0 : cli_usage_at("serve", where, "--webhook-allow-private needs a CIDR");
}

static int serve_option(struct serve_args *a, int c, int idx, char *arg, const char *where)
{
    struct serve_config *cfg = &a->cfg;
    int64_t v = 0;
    int rc = 0;

    if (idx >= 0 && (size_t)idx < SERVE_NOPTS)
        a->from[idx] = where;
    switch (c) {
    case 'd': cfg->db_path = arg; break;
    case 'l': a->listen = arg; break;
    case 'c': cfg->cert_path = arg; break;
    case 'k': cfg->key_path = arg; break;
    case 'w': a->www = arg; break;
    case 't': rc = cli_int_arg("serve", where, "--threads", arg, 1, CLI_THREADS_MAX, "", &a->threads); break;
    case 'r':
        if (!(rc = cli_int_arg("serve", where, "--log-keep-rows", arg, 0, CLI_KEEP_ROWS_MAX, "", &v)))
            cfg->log_keep_rows = v;
        break;
    case 's':
        if (!(rc = cli_int_arg("serve", where, "--log-keep-seconds", arg, 0, CLI_KEEP_SECONDS_MAX, " (100 years)", &v)))
            cfg->log_keep_seconds = v;
        break;
    case 'p':
    case 'i':
        if (!(rc = cli_int_arg("serve", where, c == 'p' ? "--ws-ping-seconds" : "--ws-idle-seconds", arg, 1, 86400, "",
                           &v)))
            *(c == 'p' ? &cfg->ws_ping_secs : &cfg->ws_hangup_secs) = (int)v;
        break;
    case 'T':
        if (!(rc = cli_int_arg("serve", where, "--ws-send-timeout", arg, 1, 86400, "", &v)))
            cfg->ws_send_timeout_secs = (int)v;
        break;
    case 'm':
        if (!(rc = cli_int_arg("serve", where, "--max-subs", arg, 1, 10000, "", &v)))
            cfg->max_subs = (int)v;
        break;
    case 'A':
    case 'K':
        if (!(rc = cli_int_arg("serve", where, c == 'A' ? "--rate-limit-addr" : "--rate-limit-key", arg, 0, 1000000, "",
                           &v)))
            *(c == 'A' ? &cfg->rate_addr : &cfg->rate_key) = (double)v;
        break;
    case 'M': a->metrics_listen = arg; break;
    case 'L': cfg->log_level = arg; break;
    case 'F': cfg->log_format = arg; break;
    case 'a': cfg->access_log = 1; break;
    case 'C': break; /* read before parsing, see serve_gather() */
    case 'X': a->check = 1; break;
    case OPT_MAP_TILES:
        if (!map_tiles_valid(arg))
            return cli_usage_at("serve", where,
                            "--map-tiles takes a tile URL template with {z}, {x} and {y}, starting https:// or /");
        a->map_tiles = arg;
        break;
    case OPT_MAP_ATTRIBUTION:
        if (strlen(arg) > 512)
            return cli_usage_at("serve", where, "--map-tiles-attribution takes at most 512 bytes");
        a->map_attribution = arg;
        break;
    case 'o': rc = add_origins(a, arg, where); break;
    case OPT_WEBHOOK_CA: cfg->webhook_ca = arg; break;
    case OPT_WEBHOOK_ALLOW: rc = add_allow(a, arg, where); break;
    case OPT_WEBHOOK_TIMEOUT:
        if (!(rc = cli_int_arg("serve", where, "--webhook-timeout", arg, 1, 300, "", &v)))
            cfg->webhook_timeout_s = (int)v;
        break;
    default: return cli_usage_at("serve", where, "unknown option or missing value");
    }
    return rc;
}

/* A log level or format as log_setup takes them (in any case). */
static int one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (!strcasecmp(v, *set))
            return 1;
    return 0;
}

/* Cross-option checks and conversions after parsing; 0 or an exit code. */
static int serve_finish(struct serve_args *a)
{
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL}, *const formats[] = {"text", "json",
                                                                                                       NULL};
    struct serve_config *cfg = &a->cfg;

    if (!cfg->db_path || !a->listen || !cfg->cert_path || !cfg->key_path)
        return cli_usage("serve", "--db, --listen, --cert and --key are required");
    if (cfg->ws_ping_secs && cfg->ws_hangup_secs && cfg->ws_hangup_secs <= cfg->ws_ping_secs)
        return cli_usage_at("serve", from(a, "ws-idle-seconds"), "--ws-idle-seconds must be longer than --ws-ping-seconds");
    if (parse_listen(a->listen, a->host, sizeof(a->host), &cfg->port))
        return cli_usage_at("serve", from(a, "listen"), "--listen must be HOST:PORT with PORT from 0 to 65535");
    if (a->metrics_listen &&
        parse_listen(a->metrics_listen, a->metrics_host, sizeof(a->metrics_host), &cfg->metrics_port))
        return cli_usage_at("serve", from(a, "metrics-listen"),
                        "--metrics-listen must be HOST:PORT with PORT from 0 to 65535");
    if (a->metrics_listen)
        cfg->metrics_host = a->metrics_host;
    if (!one_of(cfg->log_level, levels))
        return cli_usage_at("serve", from(a, "log-level"), "--log-level takes error, warn, info or debug");
    if (!one_of(cfg->log_format, formats))
        return cli_usage_at("serve", from(a, "log-format"), "--log-format takes text or json");
    if (log_setup(cfg->log_level, cfg->log_format, cfg->access_log))
        return cli_usage("serve", "--log-level takes error, warn, info or debug; --log-format text or json");
    if (!realpath(a->www, a->www_real)) {
        const char *w = from(a, "www");

        fprintf(stderr, "waypointd: %s%sstatic root %s: %s\n", w ? w : "", w ? ": " : "", a->www, strerror(errno));
        return CLI_FAIL;
    }
    if (a->map_tiles) {
        a->map_config = view_map_config(a->map_tiles, a->map_attribution, NULL);
        if (!a->map_config)
            return fputs("waypointd: out of memory\n", stderr), CLI_FAIL;
        cfg->map_config = a->map_config;
    }
    cfg->host = a->host;
    cfg->www_root = a->www_real;
    /* Refused here rather than by every delivery failing later. */
    if (cfg->webhook_ca && access(cfg->webhook_ca, R_OK)) {
        const char *w = from(a, "webhook-ca");

        fprintf(stderr, "waypointd: %s%s--webhook-ca %s: %s\n", w ? w : "", w ? ": " : "", cfg->webhook_ca,
                strerror(errno));
        return CLI_FAIL;
    }
    cfg->threads = a->threads < 1 ? 1 : a->threads > CLI_THREADS_MAX ? CLI_THREADS_MAX : (int)a->threads;
    return CLI_OK;
}

/* The config file named by --config (or WAYPOINTD_CONFIG), or NULL. */
static const char *config_path(int argc, char **argv)
{
    const char *path = getenv("WAYPOINTD_CONFIG");

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
    }
    return path && *path ? path : NULL;
}

/* argv[0], the file's settings, the environment's, then the command line:
 * getopt_long then lets the last one win. 0 or an exit code. */
static int serve_gather(int argc, char **argv, struct config_args *all)
{
    static const char *const not_from_env[] = {"config", "check-config", NULL};
    const char *path = config_path(argc, argv);
    struct config_args file = {0}; /* the file's settings, then the environment's */
    char err[1024] = "";
    int rc = 0;

    if (path)
        rc = config_read_file(path, serve_opts, &file, err, sizeof(err));
    if (!rc)
        rc = config_read_env(serve_opts, not_from_env, &file, err, sizeof(err)); /* false there drops the file's true */
    all->cap = 1 + file.n + argc;
    all->v = calloc((size_t)all->cap + 1, sizeof(char *));
    all->where = calloc((size_t)all->cap + 1, sizeof(char *)); /* NULL: the command line */
    if (!rc && (!all->v || !all->where))
        rc = -ENOMEM;
    if (!rc) {
        all->v[all->n++] = strdup(argv[0]);
        for (int i = 0; i < file.n; i++) {
            all->where[all->n] = strdup(file.where[i]);
            rc = rc ? rc : all->where[all->n] ? 0 : -ENOMEM;
            all->v[all->n++] = strdup(file.v[i]);
        }
        for (int i = 1; i < argc; i++)
            all->v[all->n++] = strdup(argv[i]);
        for (int i = 0; i < all->n; i++)
            rc = rc ? rc : all->v[i] ? 0 : -ENOMEM;
    }
    config_args_free(&file);
    if (rc == -ENOMEM)
        return fputs("waypointd: out of memory\n", stderr), CLI_FAIL;
    return rc ? cli_usage("serve", err) : CLI_OK;
}

/* --check-config: what serve would run with, as a config file, after
 * checking what can be checked without serving. */
static int check_config(const struct serve_args *a)
{
    const struct serve_config *c = &a->cfg;
    int hangup = c->ws_hangup_secs ? c->ws_hangup_secs : LIVE_HANGUP_SECS;
    int ping = c->ws_ping_secs ? c->ws_ping_secs : LIVE_PING_SECS;
    struct tls_material *tls;
    struct store *s;
    char err[512];

    if (tls_material_load(c->cert_path, c->key_path, &tls, err, sizeof(err)))
        return fprintf(stderr, "waypointd: %s\n", err), CLI_FAIL;
    tls_material_free(tls);
    if (cli_open_store(c->db_path, STORE_OPEN_SERVICE, &s) /* as serve opens it: WAL too */)
        return CLI_FAIL;
    store_close(s);
    printf("db = %s\nlisten = %s\ncert = %s\nkey = %s\nwww = %s\nthreads = %d\n", c->db_path, a->listen, c->cert_path,
           c->key_path, c->www_root, c->threads);
    printf("log-keep-rows = %lld\nlog-keep-seconds = %lld\n", c->log_keep_rows, c->log_keep_seconds);
    if (hangup <= ping) /* as serve does: ping before giving up */
        ping = hangup > 1 ? hangup / 2 : 1;
    printf("ws-ping-seconds = %d\nws-idle-seconds = %d\nws-send-timeout = %d\nmax-subs = %d\n", ping, hangup,
           c->ws_send_timeout_secs, c->max_subs);
    printf("rate-limit-addr = %.0f\nrate-limit-key = %.0f\n", c->rate_addr, c->rate_key);
    for (int i = 0; i < c->n_allow_origins; i++)
        printf("allow-origin = %s\n", c->allow_origins[i]);
    if (a->metrics_listen)
        printf("metrics-listen = %s\n", a->metrics_listen);
    if (a->map_tiles)
        printf("map-tiles = %s\n", a->map_tiles);
    if (a->map_tiles && a->map_attribution && *a->map_attribution)
        printf("map-tiles-attribution = %s\n", a->map_attribution);
    printf("log-level = %s\nlog-format = %s\naccess-log = %s\n", c->log_level, c->log_format,
           c->access_log ? "true" : "false");
    fprintf(stderr, "waypointd: configuration OK\n");
    return CLI_OK;
}

int cli_serve(int argc, char **argv)
{
    struct config_args all = {0};
    struct serve_args a;
    char msg[300];
    int c, idx, rc;

    if (cli_wants_help(argc, argv))
        return fputs(serve_help, stdout), CLI_OK;
    serve_defaults(&a);
    rc = serve_gather(argc, argv, &all);
    optind = 1;
    opterr = 0;
    /* "+": no permuting, so all.where stays parallel to all.v; ":": a
     * missing value is told apart from an unknown option. Every value from
     * a file or the environment is one "--name=value", at optind - 1. */
    while (!rc && (idx = -1, c = getopt_long(all.n, all.v, "+:", serve_opts, &idx)) != -1) {
        const char *where = all.where[optind - 1], *arg = all.v[optind - 1];

        if (c == '?' && optopt) /* a short option: there are none */
            snprintf(msg, sizeof(msg), "unknown option \"-%c\"", optopt);
        else if (c == '?' || c == ':') /* optind is past the long option itself */
            snprintf(msg, sizeof(msg), c == ':' ? "%.*s needs a value" : "unknown option \"%.*s\"",
                     (int)(strcspn(arg, "=") > 200 ? 200 : strcspn(arg, "=")), arg);
        if (c == '?' || c == ':') {
            rc = cli_usage_at("serve", where, msg);
        } else {
            rc = serve_option(&a, c, idx, optarg, where);
        }
    }
    if (!rc && optind != all.n) {
        snprintf(msg, sizeof(msg), "unexpected argument \"%.200s\"", all.v[optind]);
        rc = cli_usage_at("serve", all.where[optind], msg);
    }
    if (!rc)
        rc = serve_finish(&a);
    if (!rc)
        rc = a.check ? check_config(&a) : serve_run(&a.cfg) ? CLI_FAIL : CLI_OK;
    config_args_free(&all);
    free(a.map_config);
    return rc;
}
