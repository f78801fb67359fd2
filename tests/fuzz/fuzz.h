/* SPDX-License-Identifier: MIT */
/* What the libFuzzer drivers share: a fixed clock and token secret, so that
 * the committed seeds (which hold real tokens) stay valid forever, and a check
 * that turns a broken property into a crash libFuzzer records. */
#ifndef WAYPOINTD_FUZZ_H
#define WAYPOINTD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

/* 2023-11-14T22:13:20Z: every seed token is signed relative to this. */
#define FUZZ_NOW_MS 1700000000000LL

/* The token secret of every driver: bytes 0x01, 0x08, 0x0f, ... (i * 7 + 1).
 * tests/fuzz/README.md shows how the seed tokens were made with it. */
static inline void fuzz_secret(uint8_t out[STORE_SECRET_LEN])
{
    for (int i = 0; i < STORE_SECRET_LEN; i++)
        out[i] = (uint8_t)(i * 7 + 1);
}

/* A property that must hold for every input; abort() so libFuzzer keeps the
 * input as a crash, with the reason on stderr. Not assert(): it must also
 * fire in builds with NDEBUG. */
#define FUZZ_CHECK(cond)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                                            \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
