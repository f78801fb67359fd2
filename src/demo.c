/* SPDX-License-Identifier: MIT
 *
 * The demo subcommand: makes (or reuses) a data folder with a seeded
 * database, a development certificate and an API key, prints the two pages'
 * URLs and a curl line, then runs the server and the simulator together
 * until Ctrl-C. simulate alone is cli_simulate.c's; the simulator itself
 * simulate.c's. Main thread plus one simulator thread.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "devcert.h"
#include "source_sqlite.h"
#include "num.h"
#include "serve.h"
#include "simulate.h"
#include "store.h"

static const char demo_help[] =
    "usage: waypointd demo [--dir DIR] [--listen HOST:PORT] [--threads N] [--speed X]\n"
    "Make (or reuse) DIR (default ./waypointd-demo) with a sample database, a development\n"
    "certificate and an API key; print the tracking page, dashboard and a curl line; then serve\n"
    "on --listen (default 127.0.0.1:8443) while a simulator plays a delivery day, until Ctrl-C.\n"
    "--threads 1..64 (default 2), --speed 0.01..1000 (default 1).\n";
static atomic_int sim_stop;

/* Percent-encode s for a URL fragment parameter. */
static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-_.~", ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

struct demo_paths {
    char dir[PATH_MAX], db[PATH_MAX + 16], cert[PATH_MAX + 16], key[PATH_MAX + 16];
};

/* The database (seeded when new) and the certificate, reused when present. */
static int demo_prepare(const struct demo_paths *p)
{
    int fresh = access(p->db, F_OK) != 0;
    struct store *s = NULL;
    char err[512];
    int rc;

    if (mkdir(p->dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "waypointd: cannot create %s: %s\n", p->dir, strerror(errno));
        return -errno;
    }
    rc = store_open(p->db, STORE_OPEN_CREATE, &s, err, sizeof(err));
    if (!rc)
        rc = store_migrate(s);
    store_close(s);
    if (!rc && fresh)
        rc = sim_seed(p->db, 0);
    if (rc) {
        fprintf(stderr, "waypointd: cannot prepare the demo database %s\n", p->db);
        return rc;
    }
    if (access(p->cert, R_OK) || access(p->key, R_OK)) {
        rc = devcert_make(p->cert, p->key, err, sizeof(err));
        if (rc)
            fprintf(stderr, "waypointd: %s\n", err);
    }
    return rc;
}

/* The demo's key is named DEMO_KEY_NAME; older demos named theirs
 * "demo-<ms>". Only a key's hash is kept, so the previous key cannot be shown
 * again: each run revokes it and makes a new one, so however often the demo
 * runs, one demo key is valid (a demo still running on the same folder loses
 * its key's access within seconds). */
#define DEMO_KEY_NAME "demo"

static int collect_old_demo_key(const struct store_key_info *k, void *arg)
{
    char (*names)[64] = arg;

    if (k->revoked_ms || strncmp(k->name, "demo-", 5) || strlen(k->name) >= 64)
        return 0;
    for (int i = 0; i < 16; i++)
        if (!names[i][0]) {
            snprintf(names[i], 64, "%s", k->name);
            break;
        }
    return 0;
}

static int demo_key_revoke_previous(struct store *s)
{
    char names[16][64];
    int rc;

    memset(names, 0, sizeof(names));
    rc = store_key_revoke(s, DEMO_KEY_NAME);
    if (rc && rc != -ENOENT && rc != -EALREADY)
        return rc;
    rc = store_key_list(s, collect_old_demo_key, names);
    for (int i = 0; !rc && i < 16 && names[i][0]; i++)
        rc = store_key_revoke(s, names[i]) == -EIO ? -EIO : 0;
    return rc;
}

/* A fresh API key for the dashboard and a token for one customer's page. */
static int demo_credentials(const struct demo_paths *p, char *key, char *token, char *dc, char *customer)
{
    uint8_t hash[STORE_KEY_HASH_LEN], secret[STORE_SECRET_LEN];
    struct store *s = NULL;
    int rc;

    if (sim_pick_customer(p->db, dc, customer)) {
        fprintf(stderr, "waypointd: the demo database has no pending delivery\n");
        return -ENOENT;
    }
    rc = store_open(p->db, STORE_OPEN_EXISTING, &s, NULL, 0);
    if (!rc)
        rc = auth_key_generate(key, AUTH_KEY_LEN + 1);
    if (!rc) {
        auth_key_hash(key, strlen(key), hash);
        rc = demo_key_revoke_previous(s);
    }
    if (!rc)
        rc = store_key_insert(s, DEMO_KEY_NAME, hash, 1, NULL, 0);
    if (!rc)
        rc = store_secret_get(s, secret);
    if (!rc)
        rc = auth_token_create(secret, dc, customer, auth_now_ms() + (int64_t)AUTH_TTL_DEFAULT * 1000, token,
                               AUTH_TOKEN_MAX);
    store_close(s);
    if (rc)
        fprintf(stderr, "waypointd: cannot make the demo's key and token\n");
    return rc;
}

static void demo_banner(const struct demo_paths *p, const char *base, const char *key, const char *token,
                        const char *dc, const char *customer)
{
    char edc[800], ecust[800];

    url_encode(dc, edc, sizeof(edc));
    url_encode(customer, ecust, sizeof(ecust));
    printf("\nwaypointd demo: data in %s (database, development certificate)\n\n"
           "  Customer tracking page:\n    %s/#dc=%s&customer=%s&token=%s\n\n"
           "  Dispatcher dashboard:\n    %s/dispatch.html\n    API key: %s   DC: %s\n\n"
           "  The API with curl:\n    curl --cacert %s -H 'Authorization: Bearer %s' \\\n"
           "         %s/dcs/%s/customers/%s/waypoints\n\n"
           "The certificate is self-signed: the browser asks once to accept it. Ctrl-C stops the demo.\n\n",
           p->dir, base, edc, ecust, token, base, key, dc, p->cert, key, base, edc, ecust);
    fflush(stdout);
}

struct sim_thread {
    pthread_t tid;
    struct sim_config cfg;
};

static void *sim_main(void *arg)
{
    struct sim_thread *t = arg;

    sim_run(&t->cfg);
    return NULL;
}

/* The options into p, cfg, host and speed: 0, or CLI_USAGE after one line. */
static int demo_parse(int argc, char **argv, struct demo_paths *p, struct serve_config *cfg, char *host,
                      double *speed)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"speed", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = "waypointd-demo", *listen = "127.0.0.1:8443", *colon;
    int64_t threads = 2, port = 0;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'l')
            listen = optarg;
        else if (c == 't' && num_parse_i64(optarg, 1, 64, &threads))
            return cli_bad_value("demo", "--threads", "1 to 64, a whole number");
        else if (c == 's' && num_parse_double(optarg, 0.01, 1000, speed))
            return cli_bad_value("demo", "--speed", CLI_SPEED_RANGE);
        else if (c != 't' && c != 's')
            return cli_usage("demo", "unknown option or missing value");
    }
    if (optind != argc)
        return cli_usage("demo", "unexpected argument");
    colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= 256 || num_parse_i64(colon + 1, 0, 65535, &port))
        return cli_bad_value("demo", "--listen", "HOST:PORT with PORT from 0 to 65535");
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    cfg->port = (int)port;
    cfg->threads = (int)threads;
    cfg->host = host;
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    snprintf(p->db, sizeof(p->db), "%s/waypoints.db", dir);
    snprintf(p->cert, sizeof(p->cert), "%s/dev-cert.pem", dir);
    snprintf(p->key, sizeof(p->key), "%s/dev-key.pem", dir);
    return 0;
}

int cli_demo(int argc, char **argv)
{
    struct serve_config cfg = {.www_root = WAYPOINTD_DEFAULT_WWW, .threads = 2,
                               .log_keep_rows = SOURCE_SQLITE_KEEP_ROWS_DEFAULT,
                               .log_keep_seconds = SOURCE_SQLITE_KEEP_SECONDS_DEFAULT};
    char host[256], base[320], key[AUTH_KEY_LEN + 1], token[AUTH_TOKEN_MAX], dc[256], customer[256];
    struct sim_thread sim = {.cfg = {.speed = 1.0, .stop = &sim_stop}};
    struct demo_paths p;
    sigset_t set;
    int rc;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(demo_help, stdout), CLI_OK;
    rc = demo_parse(argc, argv, &p, &cfg, host, &sim.cfg.speed);
    if (rc)
        return rc;
    if (demo_prepare(&p) || demo_credentials(&p, key, token, dc, customer))
        return CLI_FAIL;
    cfg.db_path = p.db;
    cfg.cert_path = p.cert;
    cfg.key_path = p.key;
    snprintf(base, sizeof(base), "https://%s:%d", host, cfg.port);
    demo_banner(&p, base, key, token, dc, customer);
    sim.cfg.db_path = p.db;
    /* Stop signals are for serve_run's sigwait(): block them before the
     * simulator thread starts, so it inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (pthread_create(&sim.tid, NULL, sim_main, &sim)) {
        fprintf(stderr, "waypointd: cannot start the simulator\n");
        return CLI_FAIL;
    }
    rc = serve_run(&cfg);
    atomic_store(&sim_stop, 1);
    pthread_join(sim.tid, NULL);
    return rc ? CLI_FAIL : CLI_OK;
}
