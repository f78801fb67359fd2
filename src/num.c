/* SPDX-License-Identifier: MIT
 *
 * Bounded integers (num.h): range-checked parsing of option values and
 * saturating 64-bit arithmetic. Pure; leaves the messages to the callers,
 * which know the option's name.
 */
#include "num.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* strtoll and strtod skip leading blanks and accept what follows a number
 * up to the end pointer; an option value must be the number alone. */
static int starts_like_a_number(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return isdigit((unsigned char)*s) || *s == '.';
}

int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !starts_like_a_number(s) || *s == '.' || ((*s == '-' || *s == '+') && s[1] == '.'))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end)
        return -EINVAL;
    /* ERANGE: beyond 64 bits, so beyond any range too. */
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = (int64_t)v;
    return 0;
}

int num_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    /* Decimal only: strtod would also take hexadecimal ("0x1p4"). */
    if (!s || !starts_like_a_number(s) || strpbrk(s, "xX"))
        return -EINVAL;
    v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -EINVAL;
    if (!(v >= min && v <= max))
        return -ERANGE;
    *out = v;
    return 0;
}

int64_t num_sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

int64_t num_sat_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (!__builtin_sub_overflow(a, b, &r))
        return r;
    return b < 0 ? INT64_MAX : INT64_MIN;
}

int64_t num_sat_mul(int64_t a, int64_t b)
{
    int64_t r;

    if (!__builtin_mul_overflow(a, b, &r))
        return r;
    return (a < 0) == (b < 0) ? INT64_MAX : INT64_MIN;
}
