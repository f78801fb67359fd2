/* SPDX-License-Identifier: MIT
 *
 * What every subcommand's command line shares (cli_int.h): one usage line
 * per mistake with the usage exit code, --help, whole-number options, and
 * opening the store with its error said. The subcommands themselves are
 * cli_init.c, cli_key.c, cli_token.c, cli_serve.c, cli_simulate.c and
 * demo.c. Main thread only.
 */
#include "cli_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "num.h"
#include "store.h"

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

void cli_put_escaped(const char *s, int in_list)
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

void cli_put_time(int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];

    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(buf, sizeof(buf), "@%lld", (long long)ms);
    printf("%s.%03dZ", buf, (int)(ms % 1000));
}

