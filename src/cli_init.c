/* SPDX-License-Identifier: MIT
 *
 * The init subcommand: creates the database (not its folder), or migrates an
 * older one, and puts it in WAL mode (store_migrate). Exit codes 0 ok,
 * 1 failure, 2 usage. Main thread only.
 */
#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

static const char init_help[] = "usage: waypointd init --db FILE\n"
                                "Create the database, or migrate an older one, and put it in WAL mode.\n";

/* init creates the file, not its folder: say so, naming the folder, rather
 * than SQLite's "unable to open database file". 1 (said) or 0. */
static int folder_missing(const char *db)
{
    const char *slash = strrchr(db, '/');
    char dir[PATH_MAX];
    struct stat st;
    int rc;

    if (!slash || slash == db || (size_t)(slash - db) >= sizeof(dir))
        return 0; /* the current folder, or / */
    memcpy(dir, db, (size_t)(slash - db));
    dir[slash - db] = '\0';
    rc = stat(dir, &st);
    if (!rc && S_ISDIR(st.st_mode))
        return 0;
    if (!rc)
        fprintf(stderr, "waypointd: cannot create database %s: %s is not a folder\n", db, dir);
    else if (errno == ENOENT || errno == ENOTDIR)
        fprintf(stderr, "waypointd: cannot create database %s: folder %s does not exist\n", db, dir);
    else
        return 0; /* e.g. EACCES: store_open says it as well */
    return 1;
}

int cli_init(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    struct store *s;
    int c, rc;

    if (cli_wants_help(argc, argv))
        return fputs(init_help, stdout), CLI_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            return cli_usage("init", "unknown option or missing value");
        db = optarg;
    }
    if (!db || optind != argc)
        return cli_usage("init", db ? "unexpected argument" : "--db is required");
    if (folder_missing(db))
        return CLI_FAIL;
    if (cli_open_store(db, STORE_OPEN_CREATE, &s))
        return CLI_FAIL;
    rc = store_migrate(s);
    store_close(s);
    if (rc) {
        fprintf(stderr, "waypointd: cannot initialise %s\n", db);
        return CLI_FAIL;
    }
    return CLI_OK;
}
