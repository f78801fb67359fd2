/* SPDX-License-Identifier: MIT
 *
 * The subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit code: 0 ok, 1 failure, 2 usage.
 */
#ifndef WAYPOINTD_CLI_H
#define WAYPOINTD_CLI_H

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

int cli_init(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_simulate(int argc, char **argv);
int cli_webhook(int argc, char **argv);

#endif
