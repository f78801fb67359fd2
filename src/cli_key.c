/* SPDX-License-Identifier: MIT
 *
 * The key subcommand: create an API key (printed once; only its SHA-256 is
 * stored), revoke one by name, list every key ever made. Exit codes 0 ok,
 * 1 failure, 2 usage. The work is auth.c's and store_creds.c's. Main thread
 * only.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "store.h"

#define MAX_KEY_DCS 1024

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
static int key_list_one(const struct store_key_info *k, void *arg)
{
    (void)arg;
    cli_put_escaped(k->name, 0);
    putchar('\t');
    if (k->all_dcs)
        putchar('*');
    for (size_t i = 0; i < k->ndcs; i++) {
        if (i)
            putchar(',');
        cli_put_escaped(k->dcs[i], 1);
    }
    putchar('\t');
    cli_put_time(k->created_ms);
    putchar('\t');
    if (k->revoked_ms)
        cli_put_time(k->revoked_ms);
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
