/* SPDX-License-Identifier: MIT
 *
 * waypointd: live delivery tracking over HTTPS and WebSocket. Dispatches to
 * the subcommands in cli.c; exit codes are 0 ok, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "relay.h"

static const char help[] =
    "usage: waypointd COMMAND [OPTIONS]\n"
    "Live delivery tracking: the Customers API over HTTPS and live updates over WebSocket.\n"
    "\n"
    "commands:\n"
    "  init     create or migrate the database\n"
    "  key      create or revoke API keys\n"
    "  token    create a customer's tracking token\n"
    "  serve    run the server\n"
    "  demo     the one-command demo: sample data, server and simulator\n"
    "  simulate play a delivery day against a database\n"
    "  webhook  add, list, remove, disable, enable, rotate webhook endpoints; deliveries,\n"
    "           redeliver, test\n"
    "  relay    publish the database's changes into Redis (docs/cluster.md)\n"
    "\n"
    "waypointd COMMAND --help describes each command.\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"init", cli_init},
        {"key", cli_key},
        {"token", cli_token},
        {"serve", cli_serve},
        {"demo", cli_demo},
        {"simulate", cli_simulate},
        {"webhook", cli_webhook},
        {"relay", cli_relay},
    };

    if (argc < 2) {
        fputs("waypointd: missing command (see waypointd --help)\n", stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(help, stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("waypointd " WAYPOINTD_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "waypointd: unknown command \"%s\" (see waypointd --help)\n", argv[1]);
    return CLI_USAGE;
}
