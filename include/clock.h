/* SPDX-License-Identifier: MIT
 *
 * The two clocks. Intervals (pings, idle and send timeouts, heartbeats,
 * timers, health ages) are measured on the monotonic clock, which a step
 * of the wall clock (NTP, a resumed VM) does not move; the wall clock is
 * only for what is compared with wall-clock data: token expiry, changed_ms
 * in the change log, timestamps in logs.
 */
#ifndef WAYPOINTD_CLOCK_H
#define WAYPOINTD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
