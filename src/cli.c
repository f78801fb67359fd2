/* SPDX-License-Identifier: MIT
 *
 * The subcommands init, key, token and serve: argument parsing, help texts
 * and exit codes (0 ok, 1 failure, 2 usage). Real work is in store.c,
 * auth.c and serve.c. Main thread only.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "channel.h"
#include "feed.h"
#include "log.h"
#include "serve.h"
#include "store.h"

#define MAX_KEY_DCS 1024

static const char init_help[] = "usage: waypointd init --db FILE\n"
                                "Create the database, or migrate an older one, and put it in WAL mode.\n";
static const char key_help[] =
    "usage: waypointd key create --db FILE --name NAME (--dc DC_ID)... | --all-dcs\n"
    "       waypointd key revoke --db FILE --name NAME\n"
    "create prints a new API key alone on one line; only its SHA-256 is stored, so keep it.\n"
    "revoke stops the key within seconds, also on connections already open.\n";
static const char token_help[] =
    "usage: waypointd token create --db FILE --dc DC_ID --customer CUSTOMER_ID [--ttl SECONDS]\n"
    "Print a tracking token for one customer's waypoints; --ttl 1..2592000, default 86400.\n";
static const char serve_help[] =
    "usage: waypointd serve --db FILE --listen HOST:PORT --cert FILE --key FILE [--www DIR] [--threads N]\n"
    "Serve the Customers API and static files over HTTPS until SIGINT or SIGTERM.\n"
    "  --listen HOST:PORT  address to listen on; port 0 picks a free port\n"
    "  --cert, --key       PEM certificate (chain) and private key\n"
    "  --www DIR           static files (default: " WAYPOINTD_DEFAULT_WWW ")\n"
    "  --threads N         service threads, 1..64 (default: the number of CPUs)\n"
    "  --log-keep-rows N   change-log rows kept for resuming clients (default 1000000)\n"
    "  --log-keep-seconds S  and for how long (default 604800, 7 days)\n"
    "  --ws-ping-seconds S   ping a WebSocket client silent this long (default 30)\n"
    "  --ws-idle-seconds S   drop one silent this long, pongs included (default 75)\n"
    "  --ws-send-timeout S   drop a subscriber that stops reading for this long (default 30)\n"
    "  --max-subs N          subscriptions per WebSocket connection, 1..10000 (default 64)\n"
    "  --rate-limit-addr R   API requests, upgrades and subscribes per second per client\n"
    "                        address (IPv6: per /64), bursts of 2R; 0: no limit (default 100)\n"
    "  --rate-limit-key R    the same per API key or tracking token (default 1000)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  --log-format FORMAT   text (key=value, the default) or json: one line per event\n"
    "  --access-log          also log one line per HTTP answer (never a credential)\n"
    "  --metrics-listen HOST:PORT  serve /metrics and /healthz over plain HTTP there\n"
    "                        (keep it private: loopback or an internal network); default off\n"
    "  --allow-origin ORIGIN a browser Origin (https://host[:port]) allowed to open /live,\n"
    "                        besides pages served by waypointd itself; repeatable\n"
    "Prints \"listening on https://HOST:PORT\" once ready.\n";

/* One line on stderr and the usage exit code. */
static int usage(const char *cmd, const char *msg)
{
    fprintf(stderr, "waypointd %s: %s (see waypointd %s --help)\n", cmd, msg, cmd);
    return CLI_USAGE;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static int open_store(const char *db, enum store_mode mode, struct store **s)
{
    char err[512];

    if (store_open(db, mode, s, err, sizeof(err))) {
        fprintf(stderr, "waypointd: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_init(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    struct store *s;
    int c, rc;

    if (wants_help(argc, argv))
        return fputs(init_help, stdout), CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            return usage("init", "unknown option or missing value");
        db = optarg;
    }
    if (!db || optind != argc)
        return usage("init", db ? "unexpected argument" : "--db is required");
    if (open_store(db, STORE_OPEN_CREATE, &s))
        return CLI_FAIL;
    rc = store_migrate(s);
    store_close(s);
    if (rc) {
        fprintf(stderr, "waypointd: cannot initialise %s\n", db);
        return CLI_FAIL;
    }
    return CLI_OK;
}

struct key_args {
    const char *db, *name;
    const char *dcs[MAX_KEY_DCS];
    size_t ndcs;
    int all_dcs;
};

static int key_parse(int argc, char **argv, struct key_args *a)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"dc", required_argument, NULL, 'c'},
                                         {"all-dcs", no_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = 2; /* argv[0] "key", argv[1] the action */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->db = optarg;
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'c':
            if (a->ndcs == MAX_KEY_DCS || !*optarg)
                return -EINVAL;
            a->dcs[a->ndcs++] = optarg;
            break;
        case 'a':
            a->all_dcs = 1;
            break;
        default:
            return -EINVAL;
        }
    }
    return optind == argc ? 0 : -EINVAL;
}

static int key_create(struct key_args *a)
{
    uint8_t hash[STORE_KEY_HASH_LEN];
    char key[AUTH_KEY_LEN + 1];
    struct store *s;
    int rc;

    if (!a->all_dcs == !a->ndcs)
        return usage("key", "give one or more --dc, or --all-dcs");
    if (open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    if (auth_key_generate(key, sizeof(key))) {
        store_close(s);
        fprintf(stderr, "waypointd: no randomness for a key\n");
        return CLI_FAIL;
    }
    auth_key_hash(key, strlen(key), hash);
    rc = store_key_insert(s, a->name, hash, a->all_dcs, a->dcs, a->ndcs);
    store_close(s);
    if (rc == -EEXIST)
        fprintf(stderr, "waypointd: a key named \"%s\" already exists\n", a->name);
    else if (rc)
        fprintf(stderr, "waypointd: cannot store the key in %s\n", a->db);
    else
        printf("%s\n", key);
    return rc ? CLI_FAIL : CLI_OK;
}

static int key_revoke(struct key_args *a)
{
    struct store *s;
    int rc;

    if (a->ndcs || a->all_dcs)
        return usage("key", "revoke takes only --db and --name");
    if (open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_key_revoke(s, a->name);
    store_close(s);
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no key named \"%s\"\n", a->name);
    else if (rc)
        fprintf(stderr, "waypointd: cannot revoke the key in %s\n", a->db);
    return rc ? CLI_FAIL : CLI_OK;
}

int cli_key(int argc, char **argv)
{
    struct key_args a;

    if (wants_help(argc, argv))
        return fputs(key_help, stdout), CLI_OK;
    if (argc < 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "revoke")))
        return usage("key", "expected create or revoke");
    memset(&a, 0, sizeof(a));
    if (key_parse(argc, argv, &a))
        return usage("key", "unknown option, missing value or unexpected argument");
    if (!a.db || !a.name || !*a.name)
        return usage("key", "--db and --name are required");
    return strcmp(argv[1], "create") ? key_revoke(&a) : key_create(&a);
}

/* Parse a decimal integer in [min, max]; 0 or -EINVAL. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int token_create(const char *db, const char *dc, const char *customer, long ttl)
{
    uint8_t secret[STORE_SECRET_LEN];
    char token[AUTH_TOKEN_MAX];
    struct store *s;
    int rc;

    if (open_store(db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_secret_get(s, secret);
    store_close(s);
    if (rc) {
        fprintf(stderr, "waypointd: database %s has no token secret (run: waypointd init --db %s)\n", db, db);
        return CLI_FAIL;
    }
    rc = auth_token_create(secret, dc, customer, auth_now_ms() + (int64_t)ttl * 1000, token, sizeof(token));
    if (rc) {
        fprintf(stderr, "waypointd: ids longer than 255 bytes cannot be in a token\n");
        return CLI_FAIL;
    }
    printf("%s\n", token);
    return CLI_OK;
}

int cli_token(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"dc", required_argument, NULL, 'c'},
                                         {"customer", required_argument, NULL, 'u'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *dc = NULL, *customer = NULL;
    long ttl = AUTH_TTL_DEFAULT;
    int c;

    if (wants_help(argc, argv))
        return fputs(token_help, stdout), CLI_OK;
    if (argc < 2 || strcmp(argv[1], "create"))
        return usage("token", "expected create");
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            db = optarg;
        else if (c == 'c')
            dc = optarg;
        else if (c == 'u')
            customer = optarg;
        else if (c == 't' && !parse_long(optarg, 1, AUTH_TTL_MAX, &ttl))
            continue;
        else
            return usage("token", c == 't' ? "--ttl must be an integer from 1 to 2592000"
                                           : "unknown option or missing value");
    }
    if (optind != argc || !db || !dc || !customer || !*dc || !*customer)
        return usage("token", "--db, --dc and --customer are required");
    return token_create(db, dc, customer, ttl);
}

/* "HOST:PORT", "[V6]:PORT" -> host (in buf) and port. */
static int parse_listen(const char *arg, char *buf, size_t cap, int *port)
{
    const char *colon = strrchr(arg, ':');
    size_t hlen;
    long p;

    if (!colon || parse_long(colon + 1, 0, 65535, &p))
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

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
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
                                         {NULL, 0, NULL, 0}};
    struct serve_config cfg = {.www_root = WAYPOINTD_DEFAULT_WWW,
                               .log_keep_rows = FEED_KEEP_ROWS_DEFAULT,
                               .log_keep_seconds = FEED_KEEP_SECONDS_DEFAULT,
                               .ws_send_timeout_secs = CHANNEL_SEND_TIMEOUT_SECS,
                               .max_subs = CHANNEL_SUBS_MAX,
                               .rate_addr = SERVE_RATE_ADDR_DEFAULT,
                               .rate_key = SERVE_RATE_KEY_DEFAULT};
    static const char *origins[SERVE_ORIGINS_MAX];
    long v;
    const char *listen = NULL, *www = WAYPOINTD_DEFAULT_WWW, *metrics_listen = NULL;
    char host[256], metrics_host[256], www_real[PATH_MAX];
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    int c;

    if (wants_help(argc, argv))
        return fputs(serve_help, stdout), CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': cfg.db_path = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': cfg.cert_path = optarg; break;
        case 'k': cfg.key_path = optarg; break;
        case 'w': www = optarg; break;
        case 't':
            if (parse_long(optarg, 1, 64, &threads))
                return usage("serve", "--threads must be an integer from 1 to 64");
            break;
        case 'r':
        case 's':
            if (parse_long(optarg, 0, LONG_MAX, &v))
                return usage("serve", "--log-keep-rows and --log-keep-seconds take a non-negative integer");
            *(c == 'r' ? &cfg.log_keep_rows : &cfg.log_keep_seconds) = v;
            break;
        case 'p':
        case 'i':
            if (parse_long(optarg, 1, 86400, &v))
                return usage("serve", "--ws-ping-seconds and --ws-idle-seconds take 1 to 86400");
            *(c == 'p' ? &cfg.ws_ping_secs : &cfg.ws_hangup_secs) = (int)v;
            break;
        case 'T':
            if (parse_long(optarg, 1, 86400, &v))
                return usage("serve", "--ws-send-timeout takes 1 to 86400");
            cfg.ws_send_timeout_secs = (int)v;
            break;
        case 'm':
            if (parse_long(optarg, 1, 10000, &v))
                return usage("serve", "--max-subs takes 1 to 10000");
            cfg.max_subs = (int)v;
            break;
        case 'A':
        case 'K':
            if (parse_long(optarg, 0, 1000000, &v))
                return usage("serve", "--rate-limit-addr and --rate-limit-key take 0 to 1000000");
            *(c == 'A' ? &cfg.rate_addr : &cfg.rate_key) = (double)v;
            break;
        case 'M': metrics_listen = optarg; break;
        case 'L': cfg.log_level = optarg; break;
        case 'F': cfg.log_format = optarg; break;
        case 'a': cfg.access_log = 1; break;
        case 'o':
            if (!origin_valid(optarg))
                return usage("serve", "--allow-origin takes an origin like https://example.com[:port]");
            if (cfg.n_allow_origins == SERVE_ORIGINS_MAX)
                return usage("serve", "too many --allow-origin values");
            origins[cfg.n_allow_origins++] = optarg;
            break;
        default: return usage("serve", "unknown option or missing value");
        }
    }
    cfg.allow_origins = origins;
    if (optind != argc || !cfg.db_path || !listen || !cfg.cert_path || !cfg.key_path)
        return usage("serve", "--db, --listen, --cert and --key are required");
    if (cfg.ws_ping_secs && cfg.ws_hangup_secs && cfg.ws_hangup_secs <= cfg.ws_ping_secs)
        return usage("serve", "--ws-idle-seconds must be longer than --ws-ping-seconds");
    if (parse_listen(listen, host, sizeof(host), &cfg.port))
        return usage("serve", "--listen must be HOST:PORT with PORT from 0 to 65535");
    if (metrics_listen && parse_listen(metrics_listen, metrics_host, sizeof(metrics_host), &cfg.metrics_port))
        return usage("serve", "--metrics-listen must be HOST:PORT with PORT from 0 to 65535");
    if (metrics_listen)
        cfg.metrics_host = metrics_host;
    if (log_setup(cfg.log_level, cfg.log_format, cfg.access_log))
        return usage("serve", "--log-level takes error, warn, info or debug; --log-format text or json");
    if (!realpath(www, www_real)) {
        fprintf(stderr, "waypointd: static root %s: %s\n", www, strerror(errno));
        return CLI_FAIL;
    }
    cfg.host = host;
    cfg.www_root = www_real;
    cfg.threads = threads < 1 ? 1 : threads > 64 ? 64 : (int)threads;
    return serve_run(&cfg) ? CLI_FAIL : CLI_OK;
}
