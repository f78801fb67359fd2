/* SPDX-License-Identifier: MIT
 *
 * The token subcommand: create a tracking token for one existing customer,
 * revoke one token (given, or read from stdin) or every token of a customer
 * issued until now. Exit codes 0 ok, 1 failure, 2 usage. The work is auth.c's
 * and store_creds.c's. Main thread only.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "num.h"
#include "store.h"

static const char token_help[] =
    "usage: waypointd token create --db FILE --dc DC_ID --customer CUSTOMER_ID [--ttl SECONDS]\n"
    "       waypointd token revoke --db FILE TOKEN\n"
    "       waypointd token revoke --db FILE --dc DC_ID --customer CUSTOMER_ID\n"
    "create prints a tracking token for one existing customer's waypoints;\n"
    "--ttl 1..2592000, default 86400.\n"
    "revoke refuses one token (TOKEN, or - to read it from stdin's first line), or every\n"
    "token of one customer issued until now; within seconds, also on open connections.\n";

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
