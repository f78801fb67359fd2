/* SPDX-License-Identifier: MIT
 *
 * What the subcommands' files (cli_init.c, cli_key.c, cli_token.c,
 * cli_webhook.c, cli_serve.c, cli_simulate.c, demo.c) share: one usage line
 * per mistake, --help, opening the store with its error said, the fields of
 * a listing. Defined in cli.c. Not for
 * other modules. Main thread only.
 */
#ifndef WAYPOINTD_CLI_INT_H
#define WAYPOINTD_CLI_INT_H

#include <stdint.h>

#include "store.h"

/* demo's and simulate's --speed. */
#define CLI_SPEED_RANGE "0.01 to 1000"

/* One usage line (where: the config file:line or variable, or NULL); CLI_USAGE. */
int cli_usage_at(const char *cmd, const char *where, const char *msg);
int cli_usage(const char *cmd, const char *msg);
/* One usage line naming the option and what it takes; CLI_USAGE. */
int cli_bad_value(const char *cmd, const char *name, const char *range);
/* 1 when --help or -h is among the arguments. */
int cli_wants_help(int argc, char **argv);
/* Open the store, saying why not on stderr; CLI_OK or CLI_FAIL. */
int cli_open_store(const char *db, enum store_mode mode, struct store **s);
/* Parse a whole number in [min, max] into *out: 0, or CLI_USAGE said. */
int cli_int_arg(const char *cmd, const char *where, const char *name, const char *arg, int64_t min, int64_t max,
                const char *what, int64_t *out);
/* A text field of a tab-separated listing (key list, webhook list), on
 * stdout: backslash, tab, newline and carriage return escaped, and in a
 * comma-separated list (in_list) also a comma and a lone "*" (which means
 * "every DC" there). */
void cli_put_escaped(const char *s, int in_list);
/* A time in milliseconds since the epoch as UTC ISO 8601 with milliseconds. */
void cli_put_time(int64_t ms);

#endif
