/* SPDX-License-Identifier: MIT
 *
 * serve's settings from a config file and from the environment, turned
 * into command-line options so one parser (getopt_long in cli.c) handles
 * all three: file first, then environment, then the command line, and the
 * last value of an option wins (list options such as allow-origin add up).
 *
 * File: one "name = value" per line, name being a long option without its
 * dashes; '#' starts a comment; blank lines are ignored; a value may be
 * double-quoted. A flag (an option without a value) takes true or false.
 * Environment: WAYPOINTD_NAME, upper case, '-' as '_'.
 */
#ifndef WAYPOINTD_CONFIG_H
#define WAYPOINTD_CONFIG_H

#include <getopt.h>
#include <stddef.h>

/* A growing list of "--name=value" strings (malloc'd), ending in NULL, and
 * where each came from ("FILE:LINE" or "WAYPOINTD_NAME", malloc'd; NULL for
 * the command line), so that an error found later, by getopt or by the
 * option's own check in cli.c, can name its origin. */
struct config_args {
    char **v;
    char **where; /* parallel to v */
    int n, cap;
};

void config_args_free(struct config_args *a);

/* Append the settings in file path, checked against opts (getopt's table).
 * 0, or -EINVAL / -errno with "path:line: reason" in err. */
int config_read_file(const char *path, const struct option *opts, struct config_args *a, char *err, size_t errlen);

/* Append every WAYPOINTD_NAME set in the environment for the options in
 * opts (skipping those named in skip, e.g. "config"). 0, -EINVAL (err says
 * which), -ENOMEM. Read it into the file's list, after the file: a flag set
 * to false (here or in the file) removes the same flag set true earlier in
 * the list, which is the only way it can override it. */
int config_read_env(const struct option *opts, const char *const *skip, struct config_args *a, char *err,
                    size_t errlen);

#endif
