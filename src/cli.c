/* SPDX-License-Identifier: MIT
 *
 * The subcommands init, key and token: argument parsing, help texts and
 * exit codes (0 ok, 1 failure, 2 usage), and the helpers every subcommand
 * shares (cli_int.h). serve's options are cli_serve.c's, demo's demo.c's,
 * simulate's cli_simulate.c's. Real work is in store.c and auth.c. Main
 * thread only.
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

#include "auth.h"
#include "num.h"
#include "store.h"

#define MAX_KEY_DCS 1024

static const char init_help[] = "usage: waypointd init --db FILE\n"
                                "Create the database, or migrate an older one, and put it in WAL mode.\n";
static const char key_help[] =
    "usage: waypointd key create --db FILE --name NAME (--dc DC_ID)... | --all-dcs\n"
    "       waypointd key revoke --db FILE --name NAME\n"
    "       waypointd key list --db FILE\n"
    "create prints a new API key alone on one line; only its SHA-256 is stored, so keep it.\n"
    "A name is unique among live keys: a revoked key's name may be used again.\n"
    "revoke stops the key within seconds, also on connections already open; a key\n"
    "already revoked is said on stderr (exit 0).\n"
    "list prints one line per key ever made, oldest first, tab-separated:\n"
    "NAME, DCS (* for all DCs, else a comma-separated list), CREATED, REVOKED (- when\n"
    "live), times in UTC as 2026-01-31T08:00:00.000Z; \\ \\t \\n \\r \\, and \\* are escapes.\n";
static const char token_help[] =
    "usage: waypointd token create --db FILE --dc DC_ID --customer CUSTOMER_ID [--ttl SECONDS]\n"
    "       waypointd token revoke --db FILE TOKEN\n"
    "       waypointd token revoke --db FILE --dc DC_ID --customer CUSTOMER_ID\n"
    "create prints a tracking token for one existing customer's waypoints;\n"
    "--ttl 1..2592000, default 86400.\n"
    "revoke refuses one token (TOKEN, or - to read it from stdin's first line), or every\n"
    "token of one customer issued until now; within seconds, also on open connections.\n";

/* One line on stderr and the usage exit code; where, when the setting came
 * from a config file or the environment, is "FILE:LINE" or "WAYPOINTD_NAME". */
int cli_usage_at(const char *cmd, const char *where, const char *msg)
{
    fprintf(stderr, "waypointd %s: %s%s%s (see waypointd %s --help)\n", cmd, where ? where : "", where ? ": " : "",
            msg, cmd);
    return CLI_USAGE;
}

int cli_usage(const char *cmd, const char *msg)
{
    return cli_usage_at(cmd, NULL, msg);
}

int cli_bad_value(const char *cmd, const char *name, const char *range)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "%s takes %s", name, range);
    return cli_usage(cmd, msg);
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int cli_open_store(const char *db, enum store_mode mode, struct store **s)
{
    char err[512];

    if (store_open(db, mode, s, err, sizeof(err))) {
        fprintf(stderr, "waypointd: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* init creates the file, not its folder: say so, naming the folder, rather
 * than SQLite's "unable to open database file". 1 (said) or 0. */
static int folder_missing(const char *db)
{
    const char *slash = strrchr(db, '/');
    char dir[PATH_MAX];
    struct stat st;
    int rc;

    if (!slash || slash == db || (size_t)(slash - db) >= sizeof(dir))
        return 0; /* the current folder, or / */
    memcpy(dir, db, (size_t)(slash - db));
    dir[slash - db] = '\0';
    rc = stat(dir, &st);
    if (!rc && S_ISDIR(st.st_mode))
        return 0;
    if (!rc)
        fprintf(stderr, "waypointd: cannot create database %s: %s is not a folder\n", db, dir);
    else if (errno == ENOENT || errno == ENOTDIR)
        fprintf(stderr, "waypointd: cannot create database %s: folder %s does not exist\n", db, dir);
    else
        return 0; /* e.g. EACCES: store_open says it as well */
    return 1;
}

int cli_init(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    struct store *s;
    int c, rc;

    if (cli_wants_help(argc, argv))
        return fputs(init_help, stdout), CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            return cli_usage("init", "unknown option or missing value");
        db = optarg;
    }
    if (!db || optind != argc)
        return cli_usage("init", db ? "unexpected argument" : "--db is required");
    if (folder_missing(db))
        return CLI_FAIL;
    if (cli_open_store(db, STORE_OPEN_CREATE, &s))
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
        return cli_usage("key", a->ndcs ? "give --dc (one or more) or --all-dcs, not both"
                                    : "give one or more --dc, or --all-dcs");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
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
        fprintf(stderr, "waypointd: a live key named \"%s\" already exists (revoke it first to reuse the name)\n",
                a->name);
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
        return cli_usage("key", "revoke takes only --db and --name");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_key_revoke(s, a->name);
    store_close(s);
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no key named \"%s\"\n", a->name);
    else if (rc == -EALREADY) /* the wanted state holds: not a failure */
        fprintf(stderr, "waypointd: the key named \"%s\" was already revoked\n", a->name);
    else if (rc)
        fprintf(stderr, "waypointd: cannot revoke the key in %s\n", a->db);
    return rc && rc != -EALREADY ? CLI_FAIL : CLI_OK;
}

/* s with tab, newline, CR and backslash (and in a DC list the comma, and a
 * DC named "*") escaped, so every line of `key list` parses. */
static void put_escaped(const char *s, int in_list)
{
    if (in_list && !strcmp(s, "*")) {
        fputs("\\*", stdout);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case ',': fputs(in_list ? "\\," : ",", stdout); break;
        default: putchar(*s); break;
        }
    }
}

static void put_time(int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];

    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(buf, sizeof(buf), "@%lld", (long long)ms);
    printf("%s.%03dZ", buf, (int)(ms % 1000));
}

static int key_list_one(const struct store_key_info *k, void *arg)
{
    (void)arg;
    put_escaped(k->name, 0);
    putchar('\t');
    if (k->all_dcs)
        putchar('*');
    for (size_t i = 0; i < k->ndcs; i++) {
        if (i)
            putchar(',');
        put_escaped(k->dcs[i], 1);
    }
    putchar('\t');
    put_time(k->created_ms);
    putchar('\t');
    if (k->revoked_ms)
        put_time(k->revoked_ms);
    else
        putchar('-');
    putchar('\n');
    return 0;
}

static int key_list(struct key_args *a)
{
    struct store *s;
    int rc;

    if (a->ndcs || a->all_dcs || a->name)
        return cli_usage("key", "list takes only --db");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_key_list(s, key_list_one, NULL);
    store_close(s);
    if (rc)
        fprintf(stderr, "waypointd: cannot list the keys in %s\n", a->db);
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

int cli_key(int argc, char **argv)
{
    struct key_args a;

    if (cli_wants_help(argc, argv))
        return fputs(key_help, stdout), CLI_OK;
    if (argc < 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "revoke") && strcmp(argv[1], "list")))
        return cli_usage("key", "expected create, revoke or list");
    memset(&a, 0, sizeof(a));
    if (key_parse(argc, argv, &a))
        return cli_usage("key", "unknown option, missing value or unexpected argument");
    if (!strcmp(argv[1], "list"))
        return a.db ? key_list(&a) : cli_usage("key", "--db is required");
    if (!a.db || !a.name || !*a.name)
        return cli_usage("key", "--db and --name are required");
    return strcmp(argv[1], "create") ? key_revoke(&a) : key_create(&a);
}

/* An integer option of cmd into *out; or one usage line naming the option,
 * its range (what is a suffix, e.g. " (100 years)") and where it came from
 * (NULL: the command line): 0 or CLI_USAGE. */
int cli_int_arg(const char *cmd, const char *where, const char *name, const char *arg, int64_t min, int64_t max,
                   const char *what, int64_t *out)
{
    char msg[200];

    if (!num_parse_i64(arg, min, max, out))
        return 0;
    snprintf(msg, sizeof(msg), "%s takes %lld to %lld%s, a whole number", name, (long long)min, (long long)max,
             what);
    return cli_usage_at(cmd, where, msg);
}

static int token_create(const char *db, const char *dc, const char *customer, int64_t ttl)
{
    uint8_t secret[STORE_SECRET_LEN];
    char token[AUTH_TOKEN_MAX];
    struct customer c;
    struct store *s;
    int rc, found;

    if (cli_open_store(db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    /* A token for a customer that does not exist could never read anything
     * (REST's tracking-token answers 404 too): say so instead. */
    found = store_customer_get(s, dc, customer, &c);
    if (!found)
        customer_clear(&c);
    rc = store_secret_get(s, secret);
    store_close(s);
    if (found == -ENOENT) {
        fprintf(stderr, "waypointd: no customer \"%s\" in DC \"%s\" in %s: no token made\n", customer, dc, db);
        return CLI_FAIL;
    }
    if (found) {
        fprintf(stderr, "waypointd: cannot read customer \"%s\" in %s\n", customer, db);
        return CLI_FAIL;
    }
    if (rc) {
        fprintf(stderr, "waypointd: database %s has no token secret (run: waypointd init --db %s)\n", db, db);
        return CLI_FAIL;
    }
    rc = auth_token_create(secret, dc, customer, num_sat_add(auth_now_ms(), num_sat_mul(ttl, 1000)), token,
                           sizeof(token));
    if (rc) {
        fprintf(stderr, "waypointd: ids longer than 255 bytes cannot be in a token\n");
        return CLI_FAIL;
    }
    printf("%s\n", token);
    return CLI_OK;
}

/* TOKEN, or "-": the first line of stdin (keeps the token out of ps). */
static int token_text(const char *arg, char *buf, size_t cap)
{
    size_t n;

    if (strcmp(arg, "-")) {
        snprintf(buf, cap, "%s", arg);
        return strlen(arg) < cap ? 0 : -EINVAL;
    }
    if (!fgets(buf, (int)cap, stdin))
        return -EINVAL;
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return n ? 0 : -EINVAL;
}

/* Revoke one token: it must be one this database signed (its DC, customer
 * and expiry are kept with its hash; the row goes once it would have expired). */
static int token_revoke_one(struct store *s, const char *db, const char *text)
{
    uint8_t secret[STORE_SECRET_LEN], hash[STORE_KEY_HASH_LEN];
    struct auth_token t;
    int rc;

    if (store_secret_get(s, secret)) {
        fprintf(stderr, "waypointd: database %s has no token secret (run: waypointd init --db %s)\n", db, db);
        return CLI_FAIL;
    }
    if (auth_token_verify(secret, text, strlen(text), INT64_MIN, &t)) {
        fprintf(stderr, "waypointd: not a tracking token of %s (malformed, or signed with another or an older "
                        "secret, so already refused)\n", db);
        return CLI_FAIL;
    }
    if (t.expires_ms <= auth_now_ms()) {
        fprintf(stderr, "waypointd: that token has already expired: nothing to revoke\n");
        return CLI_OK;
    }
    auth_key_hash(text, strlen(text), hash);
    rc = store_token_revoke(s, hash, t.dc_id, t.customer_id, t.expires_ms);
    if (rc == -EALREADY) {
        fprintf(stderr, "waypointd: that token was already revoked\n");
        return CLI_OK;
    }
    if (rc) {
        fprintf(stderr, "waypointd: cannot revoke the token in %s\n", db);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int token_revoke(const char *db, const char *arg, const char *dc, const char *customer)
{
    char text[AUTH_TOKEN_MAX + 2];
    struct customer c;
    struct store *s;
    int64_t cutoff;
    int rc, found;

    if (arg && token_text(arg, text, sizeof(text)))
        return cli_usage("token", "TOKEN is empty or too long");
    if (cli_open_store(db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    if (arg) {
        rc = token_revoke_one(s, db, text);
        store_close(s);
        return rc;
    }
    found = store_customer_get(s, dc, customer, &c);
    if (!found)
        customer_clear(&c);
    rc = store_token_revoke_customer(s, dc, customer, &cutoff);
    store_close(s);
    if (rc) {
        fprintf(stderr, "waypointd: cannot revoke the tokens in %s\n", db);
        return CLI_FAIL;
    }
    /* Recorded anyway: tokens of a customer since deleted are refused too. */
    if (found == -ENOENT)
        fprintf(stderr, "waypointd: note: no customer \"%s\" in DC \"%s\" now; its tokens are refused anyway\n",
                customer, dc);
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
    int64_t ttl = AUTH_TTL_DEFAULT;
    int c, revoke, has_ttl = 0;

    if (cli_wants_help(argc, argv))
        return fputs(token_help, stdout), CLI_OK;
    if (argc < 2 || (strcmp(argv[1], "create") && strcmp(argv[1], "revoke")))
        return cli_usage("token", "expected create or revoke");
    revoke = !strcmp(argv[1], "revoke");
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            db = optarg;
        else if (c == 'c')
            dc = optarg;
        else if (c == 'u')
            customer = optarg;
        else if (c == 't' && !num_parse_i64(optarg, 1, AUTH_TTL_MAX, &ttl))
            has_ttl = 1;
        else
            return cli_usage("token", c == 't' ? "--ttl must be an integer from 1 to 2592000"
                                           : "unknown option or missing value");
    }
    if (revoke) {
        const char *arg = optind == argc - 1 ? argv[optind] : NULL;

        if (!db || has_ttl || optind < argc - 1 || !arg == !(dc || customer) || (!arg && (!dc || !customer)))
            return cli_usage("token", "revoke takes --db and either TOKEN or both --dc and --customer");
        if (!arg && (!*dc || !*customer))
            return cli_usage("token", "--dc and --customer must not be empty");
        return token_revoke(db, arg, dc, customer);
    }
    if (optind != argc || !db || !dc || !customer || !*dc || !*customer)
        return cli_usage("token", "--db, --dc and --customer are required");
    return token_create(db, dc, customer, ttl);
}
