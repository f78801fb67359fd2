/* SPDX-License-Identifier: MIT
 *
 * `waypointd relay --db FILE --redis redis://HOST:PORT[/DB] [--stream KEY]
 * [--batch N]`: parses the options and runs relay.c until a stop signal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "redis_url.h"
#include "relay.h"

static const char usage[] =
    "usage: waypointd relay --db FILE --redis redis://HOST:PORT[/DB] [--stream KEY] [--batch N]\n"
    "Publish every change of the origin database FILE into one Redis stream (docs/cluster.md).\n"
    "  --stream KEY  the stream's key (default wpd:log)\n"
    "  --batch N     rows per append, 1 to 10000 (default 256)\n";

int cli_relay(int argc, char **argv)
{
    struct relay_options o = {.stream = "wpd:log", .batch = 256};
    const char *url = NULL;
    char *host = NULL;
    int rc = CLI_USAGE;

    /* Every option takes a value: the arguments go in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "waypointd relay: %s needs a value or is unknown\n%s", a, usage);
            goto fail;
        }
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
    if (redis_url_parse(url, &host, &o.port, &o.dbnum)) {
        fprintf(stderr, "waypointd relay: --redis must be redis://HOST:PORT[/DB]\n");
        goto fail;
    }
    o.host = host;
    rc = relay_run(&o, url) ? CLI_FAIL : 0;
fail:
    free(host);
    return rc;
}
