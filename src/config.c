/* SPDX-License-Identifier: MIT
 *
 * Config file and environment reading for serve (config.h). Strings in,
 * "--name=value" strings out; what the values mean is cli.c's business.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_LINE_MAX 4096

void config_args_free(struct config_args *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->v[i]);
        if (a->where)
            free(a->where[i]);
    }
    free(a->v);
    free(a->where);
    memset(a, 0, sizeof(*a));
}

static int push(struct config_args *a, const char *name, const char *value, const char *where)
{
    size_t len = strlen(name) + (value ? strlen(value) + 1 : 0) + 3;
    char *s, *w;

    if (a->n + 2 > a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **g = realloc(a->v, (size_t)cap * sizeof(*g)), **h;

        if (!g)
            return -ENOMEM;
        a->v = g;
        h = realloc(a->where, (size_t)cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        a->where = h;
        a->cap = cap;
    }
    s = malloc(len);
    w = strdup(where);
    if (!s || !w) {
        free(s);
        free(w);
        return -ENOMEM;
    }
    snprintf(s, len, value ? "--%s=%s" : "--%s", name, value ? value : "");
    a->where[a->n] = w;
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
    a->where[a->n] = NULL;
    return 0;
}

/* Remove every "--name" (a flag set earlier) from a. getopt has no way to
 * turn a flag off again, so a later false must take the earlier true out. */
static void drop(struct config_args *a, const char *name)
{
    int out = 0;

    for (int i = 0; i < a->n; i++) {
        if (a->v[i][0] == '-' && a->v[i][1] == '-' && !strcmp(a->v[i] + 2, name)) {
            free(a->v[i]);
            free(a->where[i]);
        } else {
            a->where[out] = a->where[i];
            a->v[out++] = a->v[i];
        }
    }
    a->n = out;
    if (a->v) {
        a->v[out] = NULL;
        a->where[out] = NULL;
    }
}

static const struct option *find(const struct option *opts, const char *name)
{
    for (; opts->name; opts++)
        if (!strcmp(opts->name, name))
            return opts;
    return NULL;
}

/* A flag's value: 1 true, 0 false, -1 neither. */
static int truth(const char *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(v, yes[i]))
            return 1;
        if (!strcasecmp(v, no[i]))
            return 0;
    }
    return -1;
}

/* Append one setting; where is "file:line" or the variable, for errors. */
static int add(const struct option *opts, struct config_args *a, const char *name, const char *value,
               const char *where, char *err, size_t errlen)
{
    const struct option *o = find(opts, name);
    int t;

    if (!o) {
        snprintf(err, errlen, "%s: unknown setting \"%s\"", where, name);
        return -EINVAL;
    }
    if (o->has_arg == no_argument) {
        if ((t = truth(value)) < 0) {
            snprintf(err, errlen, "%s: %s takes true or false", where, name);
            return -EINVAL;
        }
        if (t)
            return push(a, name, NULL, where);
        drop(a, name); /* false after true: the last value wins here too */
        return 0;
    }
    if (!*value) {
        snprintf(err, errlen, "%s: %s needs a value", where, name);
        return -EINVAL;
    }
    return push(a, name, value, where);
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Split "name = value" (comment already cut); unquote the value. 0 or -EINVAL. */
static int split(char *line, char **name, char **value)
{
    char *eq = strchr(line, '='), *v;
    size_t n;

    if (!eq)
        return -EINVAL;
    *eq = '\0';
    *name = trim(line);
    v = trim(eq + 1);
    n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    } else if (n && v[0] == '"') {
        return -EINVAL;
    }
    *value = v;
    return **name ? 0 : -EINVAL;
}

/* A '#' at the start or after a blank starts a comment, outside quotes. */
static void cut_comment(char *line)
{
    int quoted = 0;

    for (char *p = line; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '#' && !quoted && (p == line || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

int config_read_file(const char *path, const struct option *opts, struct config_args *a, char *err, size_t errlen)
{
    char line[CONFIG_LINE_MAX], where[512], *name, *value, *s;
    FILE *f = fopen(path, "r");
    int lineno = 0, rc = 0;

    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "cannot read config %s: %s", path, strerror(errno));
        return rc;
    }
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s: line too long", where);
            rc = -EINVAL;
            break;
        }
        cut_comment(line);
        s = trim(line);
        if (!*s)
            continue;
        if (split(s, &name, &value)) {
            snprintf(err, errlen, "%s: expected name = value", where);
            rc = -EINVAL;
        } else {
            rc = add(opts, a, name, value, where, err, errlen);
        }
    }
    fclose(f);
    return rc;
}

int config_read_env(const struct option *opts, const char *const *skip, struct config_args *a, char *err,
                    size_t errlen)
{
    char var[128];

    for (; opts->name; opts++) {
        const char *value;
        int skipped = 0, rc;
        size_t i;

        for (const char *const *k = skip; k && *k; k++)
            skipped |= !strcmp(*k, opts->name);
        if (skipped)
            continue;
        i = (size_t)snprintf(var, sizeof(var), "WAYPOINTD_");
        for (const char *p = opts->name; *p && i + 1 < sizeof(var); p++)
            var[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        var[i] = '\0';
        value = getenv(var);
        if (value && (rc = add(opts, a, opts->name, value, var, err, errlen)))
            return rc;
    }
    return 0;
}
