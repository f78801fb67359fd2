/* SPDX-License-Identifier: MIT
 *
 * libFuzzer driver for the live channel's client messages (view.c): each
 * input is one WebSocket text message as ws.c hands it to live.c. Whatever it
 * is, view_parse_client_msg must answer without harm and leave something
 * view_client_msg_clear releases. A refused message must still make an error
 * reply; an accepted one must be consistent (what each type carries), make a
 * reply whose "id" is the request's, and read back the same when written out
 * again as JSON and parsed a second time.
 */
#include "view.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What ws.c reserves in front of every frame (LWS_PRE on x86-64). */
#define PRE 16

/* ---- RFC 8259 JSON, strictly ----
 * json-c made the replies, and json-c also reads and writes NaN and Infinity,
 * which are not JSON (a browser's JSON.parse throws on them); so the replies
 * are checked with this small recursive-descent reader instead. */

struct jtext {
    const char *p, *end;
};

static void j_space(struct jtext *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int j_byte(struct jtext *j, char c)
{
    if (j->p >= j->end || *j->p != c)
        return 0;
    j->p++;
    return 1;
}

static int j_literal(struct jtext *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
        return 0;
    j->p += n;
    return 1;
}

static int j_digits(struct jtext *j)
{
    const char *start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int j_number(struct jtext *j)
{
    j_byte(j, '-');
    if (!j_byte(j, '0') && !(j->p < j->end && *j->p >= '1' && *j->p <= '9' && j_digits(j)))
        return 0;
    if (j_byte(j, '.') && !j_digits(j))
        return 0;
    if (j_byte(j, 'e') || j_byte(j, 'E')) {
        if (!j_byte(j, '+'))
            j_byte(j, '-');
        if (!j_digits(j))
            return 0;
    }
    return 1;
}

static int j_string(struct jtext *j)
{
    if (!j_byte(j, '"'))
        return 0;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;

        if (c == '"')
            return 1;
        if (c < 0x20)
            return 0;
        if (c != '\\')
            continue;
        if (j->p >= j->end)
            return 0;
        c = (unsigned char)*j->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, j->p++)
                if (j->p >= j->end || !*j->p || !strchr("0123456789abcdefABCDEF", *j->p))
                    return 0;
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return 0;
        }
    }
    return 0;
}

static int j_value(struct jtext *j);

/* An object (close '}') or an array (close ']'), after its opening byte. */
static int j_container(struct jtext *j, char close)
{
    j_space(j);
    if (j_byte(j, close))
        return 1;
    for (;;) {
        if (close == '}') {
            j_space(j);
            if (!j_string(j))
                return 0;
            j_space(j);
            if (!j_byte(j, ':'))
                return 0;
        }
        if (!j_value(j))
            return 0;
        j_space(j);
        if (j_byte(j, close))
            return 1;
        if (!j_byte(j, ','))
            return 0;
    }
}

static int j_value(struct jtext *j)
{
    j_space(j);
    if (j_byte(j, '{'))
        return j_container(j, '}');
    if (j_byte(j, '['))
        return j_container(j, ']');
    if (j->p < j->end && *j->p == '"')
        return j_string(j);
    if (j_literal(j, "true") || j_literal(j, "false") || j_literal(j, "null"))
        return 1;
    return j_number(j);
}

static int json_text_valid(const char *text, size_t len)
{
    struct jtext j = {text, text + len};

    if (!j_value(&j))
        return 0;
    j_space(&j);
    return j.p == j.end;
}

/* ---- Checks ---- */

/* A rendered reply: JSON after PRE bytes, NUL-terminated, whose "id" is the
 * request's id_json read as JSON (null when absent or unreadable). A frame
 * that was UTF-8 gets a UTF-8 reply (lws sends it as a text frame). */
static void check_reply(unsigned char *buf, size_t len, const char *id_json, int utf8_in)
{
    const char *text = (const char *)buf + PRE;
    struct json_object *o, *id, *want;

    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(strlen(text) == len);
    FUZZ_CHECK(json_text_valid(text, len));
    if (utf8_in)
        FUZZ_CHECK(path_utf8_valid(text, len));
    o = json_tokener_parse(text);
    FUZZ_CHECK(o && json_object_is_type(o, json_type_object));
    FUZZ_CHECK(json_object_object_get_ex(o, "id", &id));
    want = id_json ? json_tokener_parse(id_json) : NULL;
    FUZZ_CHECK(json_object_equal(id, want));
    json_object_put(want);
    json_object_put(o);
    free(buf);
}

static const char *type_name(enum view_msg_type t)
{
    switch (t) {
    case VIEW_MSG_SUBSCRIBE:
        return "subscribe";
    case VIEW_MSG_UNSUBSCRIBE:
        return "unsubscribe";
    case VIEW_MSG_PING:
        return "ping";
    }
    FUZZ_CHECK(!"unknown message type");
    return NULL;
}

static void check_accepted(const struct view_client_msg *m)
{
    struct json_object *id;

    FUZZ_CHECK(type_name(m->type) != NULL);
    FUZZ_CHECK(m->id_json != NULL);
    /* The id echoed back is a string, a number, or null. */
    id = json_tokener_parse(m->id_json);
    FUZZ_CHECK(!strcmp(m->id_json, "null") || json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int) ||
               json_object_is_type(id, json_type_double));
    json_object_put(id);
    if (m->type == VIEW_MSG_PING) {
        FUZZ_CHECK(!m->dc_id && !m->customer_id && m->since == -1);
        return;
    }
    FUZZ_CHECK(m->dc_id != NULL);
    FUZZ_CHECK(m->since >= -1);
    if (m->type == VIEW_MSG_UNSUBSCRIBE)
        FUZZ_CHECK(m->since == -1);
}

/* Write m out as JSON with json-c and parse it again: the same message. */
static void check_round_trip(const struct view_client_msg *m)
{
    struct json_object *o = json_object_new_object();
    struct view_client_msg again;
    const char *text, *why = NULL;
    size_t len = 0;

    FUZZ_CHECK(o != NULL);
    json_object_object_add(o, "type", json_object_new_string(type_name(m->type)));
    json_object_object_add(o, "id", json_tokener_parse(m->id_json));
    if (m->dc_id)
        json_object_object_add(o, "dc_id", json_object_new_string(m->dc_id));
    if (m->type != VIEW_MSG_PING)
        json_object_object_add(o, "customer_id", m->customer_id ? json_object_new_string(m->customer_id) : NULL);
    if (m->since >= 0)
        json_object_object_add(o, "since", json_object_new_int64(m->since));
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(view_parse_client_msg(text, len, &again, &why) == 0);
    FUZZ_CHECK(again.type == m->type && again.since == m->since);
    FUZZ_CHECK(!strcmp(again.id_json, m->id_json));
    FUZZ_CHECK((!again.dc_id && !m->dc_id) || (again.dc_id && m->dc_id && !strcmp(again.dc_id, m->dc_id)));
    FUZZ_CHECK((!again.customer_id && !m->customer_id) ||
               (again.customer_id && m->customer_id && !strcmp(again.customer_id, m->customer_id)));
    view_client_msg_clear(&again);
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct view_client_msg m;
    const char *why = NULL;
    size_t len = 0;
    int rc = view_parse_client_msg((const char *)data, size, &m, &why);
    int utf8_in = path_utf8_valid((const char *)data, size);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc == 0) {
        check_accepted(&m);
        check_reply(view_live_reply(m.type == VIEW_MSG_PING ? "pong" : "unsubscribed", m.id_json, PRE, &len), len, m.id_json,
                    utf8_in);
        check_round_trip(&m);
    } else if (rc == -EINVAL) {
        /* live.c answers every refusal with an error frame. */
        FUZZ_CHECK(why && *why);
        check_reply(view_live_error(m.id_json, 400, why, 0, PRE, &len), len, m.id_json, utf8_in);
    }
    view_client_msg_clear(&m);
    /* _clear leaves an empty message behind, so a second one is harmless. */
    view_client_msg_clear(&m);
    return 0;
}
