/* SPDX-License-Identifier: MIT
 *
 * The `webhook` subcommand (issue 15): add, list, remove, disable, enable and
 * rotate webhook endpoints, with `key`'s conventions: one stdout line, exit
 * 0 ok, 1 failure, 2 usage, messages on stderr, safe while `serve` runs (the
 * store waits out a writer's lock). Checks are webhook.c's, rows
 * store_webhooks.c's, secrets whsig.c's. Delivery is not built yet. Main
 * thread only.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store.h"
#include "store_webhooks.h"
#include "webhook.h"
#include "whsig.h"

#define CMD "webhook"
#define NAME_MAX_LEN 255
#define DC_MAX_LEN 255
#define GRACE_HOURS_DEFAULT 24
#define GRACE_HOURS_MAX 720
#define ETA_MINUTES_MAX 1440
#define APPROACH_STOPS_MAX 1000
#define HOUR_MS 3600000LL

static const char webhook_help[] =
    "usage: waypointd webhook add --db FILE --dc DC_ID [--dc DC_ID ...] --url https://HOST[:PORT]/PATH\n"
    "                             [--name NAME] [--events TYPE,...] [--eta-minutes N]\n"
    "                             [--approach-stops N,...] [--approach-minutes M,...]\n"
    "       waypointd webhook list --db FILE\n"
    "       waypointd webhook remove --db FILE ID\n"
    "       waypointd webhook disable --db FILE ID\n"
    "       waypointd webhook enable --db FILE ID\n"
    "       waypointd webhook rotate --db FILE ID [--grace-hours H]\n"
    "       waypointd webhook deliveries --db FILE ID [--limit N]\n"
    "       waypointd webhook redeliver --db FILE EVENT_ID\n"
    "       waypointd webhook test --db FILE ID\n"
    "add registers an endpoint for those DCs (they need not exist yet) and prints\n"
    "\"ID whsec_SECRET\" on one line: the secret signs every delivery (Standard Webhooks\n"
    "v1) and is shown only here and by rotate, so keep it. Only https:// URLs.\n"
    "--events: waypoint.status_changed, waypoint.eta_changed, waypoint.approaching,\n"
    "waypoint.removed, customer.location_confident, webhook.test (or the upper-case\n"
    "aliases, e.g. WAYPOINT_STATUS_CHANGED); default all but webhook.test.\n"
    "Thresholds: --eta-minutes 1..1440 (default 5), --approach-stops 1..1000 each\n"
    "(default 3,1), --approach-minutes 1..1440 each (default none).\n"
    "--name: optional, unique among endpoints.\n"
    "list prints one line per endpoint, oldest first, tab-separated: ID, NAME (-),\n"
    "STATE (enabled or disabled), SINCE, URL, DCS, EVENTS, ETA_MINUTES, APPROACH_STOPS,\n"
    "APPROACH_MINUTES (-), PREVIOUS_SECRET_UNTIL (-), REASON (-); times in UTC as\n"
    "2026-01-31T08:00:00.000Z; \\ \\t \\n \\r and, in DCS, \\, are escapes.\n"
    "disable and enable: an endpoint already in that state is said on stderr (exit 0).\n"
    "rotate prints the new secret alone on one line; the old one keeps signing\n"
    "alongside it for --grace-hours 0..720 (default 24; 0 drops it at once).\n"
    "deliveries prints the endpoint's attempts, newest first (--limit 1..100000,\n"
    "default 50), tab-separated: TIME, EVENT_ID, STATUS (HTTP status, or -), ERROR (-),\n"
    "LATENCY_MS, ANSWER (its first 200 bytes, escaped as above).\n"
    "redeliver makes an event (its webhook-id, as in deliveries) pending again, due now.\n"
    "test queues a webhook.test event for the endpoint and prints its EVENT_ID.\n"
    "`waypointd serve` delivers (docs/webhooks.md).\n";

enum opt_bit {
    OPT_DB = 1 << 0,
    OPT_DC = 1 << 1,
    OPT_URL = 1 << 2,
    OPT_NAME = 1 << 3,
    OPT_EVENTS = 1 << 4,
    OPT_ETA = 1 << 5,
    OPT_STOPS = 1 << 6,
    OPT_MINUTES = 1 << 7,
    OPT_GRACE = 1 << 8,
    OPT_LIMIT = 1 << 9,
};

struct webhook_args {
    unsigned given;
    const char *db, *url, *name, *events, *eta, *stops, *minutes, *grace, *limit;
    const char *dcs[STORE_WEBHOOK_MAX_DCS];
    size_t ndcs;
    const char *id; /* the one positional argument */
};

static int webhook_parse(int argc, char **argv, struct webhook_args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, OPT_DB},          {"dc", required_argument, NULL, OPT_DC},
        {"url", required_argument, NULL, OPT_URL},        {"name", required_argument, NULL, OPT_NAME},
        {"events", required_argument, NULL, OPT_EVENTS},  {"eta-minutes", required_argument, NULL, OPT_ETA},
        {"approach-stops", required_argument, NULL, OPT_STOPS},
        {"approach-minutes", required_argument, NULL, OPT_MINUTES},
        {"grace-hours", required_argument, NULL, OPT_GRACE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0}};
    int c;

    optind = 2; /* argv[0] "webhook", argv[1] the verb */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB: a->db = optarg; break;
        case OPT_URL: a->url = optarg; break;
        case OPT_NAME: a->name = optarg; break;
        case OPT_EVENTS: a->events = optarg; break;
        case OPT_ETA: a->eta = optarg; break;
        case OPT_STOPS: a->stops = optarg; break;
        case OPT_MINUTES: a->minutes = optarg; break;
        case OPT_GRACE: a->grace = optarg; break;
        case OPT_LIMIT: a->limit = optarg; break;
        case OPT_DC:
            if (a->ndcs == STORE_WEBHOOK_MAX_DCS)
                return cli_usage(CMD, "too many --dc");
            if (!*optarg || strlen(optarg) > DC_MAX_LEN)
                return cli_bad_value(CMD, "--dc", "a DC id of 1 to 255 bytes");
            a->dcs[a->ndcs++] = optarg;
            break;
        default:
            return cli_usage(CMD, "unknown option or missing value");
        }
        a->given |= (unsigned)c;
    }
    if (optind < argc)
        a->id = argv[optind++];
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument");
    if (!a->db)
        return cli_usage(CMD, "--db is required");
    return 0;
}

/* CLI_USAGE (said) when an option outside allowed was given. */
static int only(const struct webhook_args *a, unsigned allowed, const char *what)
{
    return a->given & ~allowed ? cli_usage(CMD, what) : 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The thresholds into w (strings in the caller's buffers): 0 or CLI_USAGE. */
static int add_thresholds(const struct webhook_args *a, struct store_webhook *w, char *stops, char *minutes,
                          size_t cap)
{
    int64_t eta = STORE_WEBHOOK_ETA_MINUTES;
    int rc;

    if (a->eta && (rc = cli_int_arg(CMD, NULL, "--eta-minutes", a->eta, 1, ETA_MINUTES_MAX, "", &eta)))
        return rc;
    w->eta_minutes = (int)eta;
    if (webhook_thresholds_parse(a->stops ? a->stops : STORE_WEBHOOK_APPROACH_STOPS, 1, APPROACH_STOPS_MAX, 0, stops,
                                 cap))
        return cli_bad_value(CMD, "--approach-stops", "whole numbers 1 to 1000, comma-separated (at most 8)");
    if (webhook_thresholds_parse(a->minutes ? a->minutes : "", 1, ETA_MINUTES_MAX, 1, minutes, cap) ||
        (a->minutes && !*a->minutes))
        return cli_bad_value(CMD, "--approach-minutes", "whole numbers 1 to 1440, comma-separated (at most 8)");
    w->approach_stops = stops;
    w->approach_minutes = minutes;
    return 0;
}

/* A fresh endpoint id: "wh_" and 12 random hex digits. */
static int make_id(char id[STORE_WEBHOOK_ID_SIZE])
{
    uint8_t r[6];

    if (RAND_bytes(r, sizeof(r)) != 1)
        return -EIO;
    snprintf(id, STORE_WEBHOOK_ID_SIZE, "wh_%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
    return 0;
}

static int webhook_add(const struct webhook_args *a)
{
    char events[256], bad[64], stops[64], minutes[64], secret[WHSIG_SECRET_MAX], msg[400];
    struct store_webhook w;
    unsigned mask = WEBHOOK_EVENTS_DEFAULT;
    struct store *s;
    int rc, url_rc;

    if ((rc = only(a, OPT_DB | OPT_DC | OPT_URL | OPT_NAME | OPT_EVENTS | OPT_ETA | OPT_STOPS | OPT_MINUTES,
                   "add takes --db, --dc, --url, --name, --events and the threshold options")))
        return rc;
    if (a->id)
        return cli_usage(CMD, "add takes no ID (it makes one)");
    if (!a->ndcs || !a->url)
        return cli_usage(CMD, "add needs one or more --dc and --url");
    if ((url_rc = webhook_url_check(a->url)) == -EPROTONOSUPPORT)
        return cli_usage(CMD, "--url must be an https:// URL: deliveries are sent over HTTPS only");
    if (url_rc)
        return cli_bad_value(CMD, "--url", "an https://HOST[:PORT][/PATH][?QUERY] URL, without user:password@, "
                                           "fragment, spaces or non-ASCII characters");
    if (a->name && (!*a->name || strlen(a->name) > NAME_MAX_LEN))
        return cli_bad_value(CMD, "--name", "a name of 1 to 255 bytes");
    if (a->events && webhook_events_parse(a->events, &mask, bad, sizeof(bad))) {
        snprintf(msg, sizeof(msg), "--events: unknown event type \"%s\" (known: waypoint.status_changed, "
                 "waypoint.eta_changed, waypoint.approaching, waypoint.removed, customer.location_confident, "
                 "webhook.test)", bad);
        return cli_usage(CMD, msg);
    }
    memset(&w, 0, sizeof(w));
    if ((rc = add_thresholds(a, &w, stops, minutes, sizeof(stops))))
        return rc;
    webhook_events_format(mask, events, sizeof(events));
    w.name = (char *)a->name;
    w.url = (char *)a->url;
    w.dcs = (char **)a->dcs;
    w.ndcs = a->ndcs;
    w.events = events;
    w.enabled = 1;
    w.created_ms = w.state_since_ms = now_ms();
    if (whsig_secret_generate(&w.secret) || make_id(w.id) ||
        whsig_secret_format(&w.secret, secret, sizeof(secret))) {
        fprintf(stderr, "waypointd: no randomness for a webhook secret\n");
        return CLI_FAIL;
    }
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_webhook_insert(s, &w);
    store_close(s);
    OPENSSL_cleanse(&w.secret, sizeof(w.secret));
    if (rc == -EEXIST && a->name)
        fprintf(stderr, "waypointd: a webhook endpoint named \"%s\" already exists\n", a->name);
    else if (rc)
        fprintf(stderr, "waypointd: cannot store the webhook endpoint in %s\n", a->db);
    else
        printf("%s %s\n", w.id, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

/* As `key list` writes text: tab, newline, CR and backslash escaped (and in a
 * list the comma), so every line splits on tabs. */
static void put_text_or_dash(const char *s)
{
    if (s && *s)
        cli_put_escaped(s, 0);
    else
        putchar('-');
}

static int list_one(const struct store_webhook *w, void *arg)
{
    const int64_t *now = arg;

    printf("%s\t", w->id);
    put_text_or_dash(w->name);
    printf("\t%s\t", w->enabled ? "enabled" : "disabled");
    cli_put_time(w->state_since_ms);
    putchar('\t');
    cli_put_escaped(w->url, 0);
    putchar('\t');
    for (size_t i = 0; i < w->ndcs; i++) {
        if (i)
            putchar(',');
        cli_put_escaped(w->dcs[i], 1);
    }
    putchar('\t');
    cli_put_escaped(w->events, 0);
    printf("\t%d\t", w->eta_minutes);
    put_text_or_dash(w->approach_stops);
    putchar('\t');
    put_text_or_dash(w->approach_minutes);
    putchar('\t');
    if (w->prev_secret.len && w->prev_expires_ms > *now)
        cli_put_time(w->prev_expires_ms);
    else
        putchar('-');
    putchar('\t');
    put_text_or_dash(w->enabled ? NULL : w->disabled_reason);
    putchar('\n');
    return 0;
}

static int webhook_list(const struct webhook_args *a)
{
    int64_t now = now_ms();
    struct store *s;
    int rc;

    if ((rc = only(a, OPT_DB, "list takes only --db")))
        return rc;
    if (a->id)
        return cli_usage(CMD, "unexpected argument");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_webhook_list(s, list_one, &now);
    store_close(s);
    if (rc)
        fprintf(stderr, "waypointd: cannot list the webhook endpoints in %s\n", a->db);
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

/* remove, disable, enable: one ID, only --db. */
static int webhook_change(const char *verb, const struct webhook_args *a)
{
    struct store *s;
    int rc;

    if ((rc = only(a, OPT_DB, "remove, disable and enable take only --db and an ID")))
        return rc;
    if (!a->id || !*a->id)
        return cli_usage(CMD, "give the endpoint's ID (see webhook list)");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    if (!strcmp(verb, "remove"))
        rc = store_webhook_remove(s, a->id);
    else
        rc = store_webhook_set_enabled(s, a->id, !strcmp(verb, "enable"), "disabled by command", now_ms());
    store_close(s);
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no webhook endpoint \"%s\" in %s\n", a->id, a->db);
    else if (rc == -EALREADY) /* the wanted state holds: not a failure */
        fprintf(stderr, "waypointd: webhook endpoint \"%s\" was already %sd\n", a->id, verb);
    else if (rc)
        fprintf(stderr, "waypointd: cannot %s webhook endpoint \"%s\" in %s\n", verb, a->id, a->db);
    return rc && rc != -EALREADY ? CLI_FAIL : CLI_OK;
}

static int webhook_rotate(const struct webhook_args *a)
{
    char secret[WHSIG_SECRET_MAX];
    int64_t grace = GRACE_HOURS_DEFAULT;
    struct whsig_key key;
    struct store *s;
    int rc;

    if ((rc = only(a, OPT_DB | OPT_GRACE, "rotate takes only --db, --grace-hours and an ID")))
        return rc;
    if (!a->id || !*a->id)
        return cli_usage(CMD, "give the endpoint's ID (see webhook list)");
    if (a->grace && (rc = cli_int_arg(CMD, NULL, "--grace-hours", a->grace, 0, GRACE_HOURS_MAX, " (30 days)", &grace)))
        return rc;
    if (whsig_secret_generate(&key) || whsig_secret_format(&key, secret, sizeof(secret))) {
        fprintf(stderr, "waypointd: no randomness for a webhook secret\n");
        return CLI_FAIL;
    }
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_webhook_rotate(s, a->id, &key, now_ms(), grace * HOUR_MS);
    store_close(s);
    OPENSSL_cleanse(&key, sizeof(key));
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no webhook endpoint \"%s\" in %s\n", a->id, a->db);
    else if (rc)
        fprintf(stderr, "waypointd: cannot rotate the secret of webhook endpoint \"%s\" in %s\n", a->id, a->db);
    else
        printf("%s\n", secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

static int delivery_one(const struct store_webhook_delivery *d, void *arg)
{
    (void)arg;
    cli_put_time(d->attempt_ms);
    printf("\t%s\t", d->msg_id ? d->msg_id : "-");
    if (d->status)
        printf("%d", d->status);
    else
        putchar('-');
    putchar('\t');
    put_text_or_dash(d->error);
    printf("\t%lld\t", (long long)d->latency_ms);
    put_text_or_dash(d->answer && *d->answer ? d->answer : NULL);
    putchar('\n');
    return 0;
}

static int webhook_deliveries(const struct webhook_args *a)
{
    int64_t limit = 50;
    struct store *s;
    int rc;

    if ((rc = only(a, OPT_DB | OPT_LIMIT, "deliveries takes only --db, --limit and an ID")))
        return rc;
    if (!a->id || !*a->id)
        return cli_usage(CMD, "give the endpoint's ID (see webhook list)");
    if (a->limit && (rc = cli_int_arg(CMD, NULL, "--limit", a->limit, 1, 100000, "", &limit)))
        return rc;
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = store_webhook_deliveries(s, a->id, (size_t)limit, delivery_one, NULL);
    store_close(s);
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no webhook endpoint \"%s\" in %s\n", a->id, a->db);
    else if (rc)
        fprintf(stderr, "waypointd: cannot read the deliveries of \"%s\" in %s\n", a->id, a->db);
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

/* redeliver EVENT_ID, test ID. */
static int webhook_queue(const char *verb, const struct webhook_args *a)
{
    char msg_id[96];
    struct store *s;
    int rc, test = !strcmp(verb, "test");

    if ((rc = only(a, OPT_DB, test ? "test takes only --db and an ID" : "redeliver takes only --db and an EVENT_ID")))
        return rc;
    if (!a->id || !*a->id)
        return cli_usage(CMD, test ? "give the endpoint's ID (see webhook list)"
                                   : "give the event's ID (see webhook deliveries)");
    if (cli_open_store(a->db, STORE_OPEN_EXISTING, &s))
        return CLI_FAIL;
    rc = test ? store_webhook_test_queue(s, a->id, now_ms(), msg_id, sizeof(msg_id))
              : store_webhook_redeliver(s, a->id, now_ms());
    store_close(s);
    if (rc == -ENOENT)
        fprintf(stderr, "waypointd: no webhook %s \"%s\" in %s\n", test ? "endpoint" : "event", a->id, a->db);
    else if (rc)
        fprintf(stderr, "waypointd: cannot %s \"%s\" in %s\n", verb, a->id, a->db);
    else if (test)
        printf("%s\n", msg_id);
    return rc || fflush(stdout) ? CLI_FAIL : CLI_OK;
}

int cli_webhook(int argc, char **argv)
{
    static const char *const verbs[] = {"add",    "list",       "remove",    "disable", "enable",
                                        "rotate", "deliveries", "redeliver", "test"};
    struct webhook_args a;
    const char *verb = NULL;
    int rc;

    if (cli_wants_help(argc, argv))
        return fputs(webhook_help, stdout), CLI_OK;
    for (size_t i = 0; argc >= 2 && i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcmp(argv[1], verbs[i]))
            verb = verbs[i];
    if (!verb)
        return cli_usage(CMD, "expected add, list, remove, disable, enable, rotate, deliveries, redeliver or test");
    memset(&a, 0, sizeof(a));
    if ((rc = webhook_parse(argc, argv, &a)))
        return rc;
    if (!strcmp(verb, "add"))
        return webhook_add(&a);
    if (!strcmp(verb, "list"))
        return webhook_list(&a);
    if (!strcmp(verb, "rotate"))
        return webhook_rotate(&a);
    if (!strcmp(verb, "deliveries"))
        return webhook_deliveries(&a);
    if (!strcmp(verb, "redeliver") || !strcmp(verb, "test"))
        return webhook_queue(verb, &a);
    return webhook_change(verb, &a);
}
