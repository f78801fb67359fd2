/* SPDX-License-Identifier: MIT
 *
 * The simulate subcommand's command line: runs the simulator (simulate.c)
 * alone against any initialised database until Ctrl-C or --duration. demo
 * (demo.c) runs the same simulator beside the server. Main thread, and the
 * simulator on it.
 */
#include "cli.h"
#include "cli_int.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "num.h"
#include "simulate.h"

static const char simulate_help[] =
    "usage: waypointd simulate --db FILE [--speed X] [--seed N] [--duration SECONDS]\n"
    "Play a compressed delivery day against an initialised database with plain SQL: drivers\n"
    "complete or fail stops, ETAs drift, waypoints_ahead counts down, new routes start.\n"
    "--speed 2 plays twice as fast (0.01..1000). --seed 0..9223372036854775807 repeats a run.\n"
    "Runs until Ctrl-C or --duration seconds (0..1000000000; 0: until Ctrl-C). Says what it plays\n"
    "in one line first; refuses (exit 1) a database not initialised or with no DCs or customers:\n"
    "it drives routes to the customers there and invents none.\n";

static atomic_int sim_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    atomic_store(&sim_stop, 1);
}

int cli_simulate(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"speed", required_argument, NULL, 's'},
                                         {"seed", required_argument, NULL, 'r'},
                                         {"duration", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct sim_config cfg = {.speed = 1.0, .stop = &sim_stop};
    int64_t v;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return fputs(simulate_help, stdout), CLI_OK;
        case 'd':
            cfg.db_path = optarg;
            break;
        case 's':
            if (num_parse_double(optarg, 0.01, 1000, &cfg.speed))
                return cli_bad_value("simulate", "--speed", CLI_SPEED_RANGE);
            break;
        case 'r':
            if (num_parse_i64(optarg, 0, INT64_MAX, &v))
                return cli_bad_value("simulate", "--seed", "0 to 9223372036854775807, a whole number");
            cfg.seed = (uint64_t)v;
            break;
        case 't':
            if (num_parse_i64(optarg, 0, 1000000000, &v))
                return cli_bad_value("simulate", "--duration", "0 to 1000000000 seconds, a whole number");
            cfg.duration_s = (int)v;
            break;
        default:
            return cli_usage("simulate", "unknown option or missing value");
        }
    }
    if (!cfg.db_path || optind != argc)
        return cli_usage("simulate", cfg.db_path ? "unexpected argument" : "--db is required");
    /* Before the line that says it plays: whoever reads it may stop it at once. */
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    if (sim_describe(&cfg))
        return CLI_FAIL;
    return sim_run(&cfg) ? CLI_FAIL : CLI_OK;
}
