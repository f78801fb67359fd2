/* SPDX-License-Identifier: MIT
 *
 * `waypointd relay --db FILE --redis redis://HOST:PORT[/DB] [--stream KEY]
 * [--batch N] [--reset-engine]`: parses the options and runs relay.c until a stop signal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "redis_url.h"
#include "relay.h"

static const char usage[] =
    "usage: waypointd relay --db FILE --redis redis://HOST:PORT[/DB] [--stream KEY] [--batch N] [--reset-engine]\n"
    "Publish every change of the origin database FILE into one Redis stream (docs/cluster.md).\n"
    "  --stream KEY  the stream's key (default wpd:log)\n"
    "  --batch N     rows per append, 1 to 10000 (default 256)\n"
    "  --reset-engine  start the stream again from this database (after restoring it from a\n"
    "                backup, when the relay refuses an engine ahead of it): a new epoch,\n"
    "                every edge loads a snapshot\n";

int cli_relay(int argc, char **argv)
{
    struct relay_options o = {.stream = "wpd:log", .batch = 256};
    const char *url = NULL;
    struct redis_addr addr = {0};
    char shown[300];
    int rc = CLI_USAGE;

    /* A while loop: an option with a value takes two arguments. */
    int i = 1;

    while (i < argc) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--reset-engine")) {
            o.reset_engine = 1;
            i++;
            continue;
        }
        if (!v) {
            fprintf(stderr, "waypointd relay: %s needs a value or is unknown\n%s", a, usage);
            goto fail;
        }
        i += 2;
        if (!strcmp(a, "--db")) {
            o.db = v;
        } else if (!strcmp(a, "--redis")) {
            url = v;
        } else if (!strcmp(a, "--stream")) {
            o.stream = v;
        } else if (!strcmp(a, "--batch")) {
            char *end = NULL;
            long n = strtol(v, &end, 10);

            if (!*v || *end || n < 1 || n > 10000) {
                fprintf(stderr, "waypointd relay: --batch must be 1 to 10000\n");
                goto fail;
            }
            o.batch = (size_t)n;
        } else {
            fprintf(stderr, "waypointd relay: unknown option %s\n%s", a, usage);
            goto fail;
        }
    }
    if (!o.db || !url) {
        fprintf(stderr, "waypointd relay: --db and --redis are required\n%s", usage);
        goto fail;
    }
    if ((rc = redis_url_parse(url, &addr))) {
        fprintf(stderr, rc == -ENOMEM ? "waypointd relay: out of memory\n"
                                      : "waypointd relay: --redis must be redis://[[USER]:PASSWORD@]HOST:PORT[/DB]\n");
        rc = rc == -ENOMEM ? CLI_FAIL : CLI_USAGE;
        goto fail;
    }
    o.addr = &addr;
    rc = relay_run(&o, redis_addr_describe(&addr, shown, sizeof(shown))) ? CLI_FAIL : 0;
fail:
    redis_addr_clear(&addr);
    return rc;
}
