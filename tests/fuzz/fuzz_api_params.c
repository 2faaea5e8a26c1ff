/*
 * fuzz_api_params.c - the HTTP API's path routing and parameter parsing
 * (server/api_int.h) on arbitrary input, the way server.c calls them.
 *
 * Input: "PATH?k=v&k=v..." (bytes after a NUL are cut, as the server only
 * ever sees C strings). The path goes to cs__api_route(); the query string
 * is split on '&' and '=' into cs__params (no '=' means no value) and
 * parsed for the routed endpoint (or every endpoint, when the path routes
 * nowhere). Checks: no crash or sanitizer report; an error always has an
 * HTTP status 400/404 and a message; an error reply is valid JSON.
 */
#include "server/api_int.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_err(const cs__err *e)
{
    cs__reply rep = {0};
    json_t *j;

    if ((e->status != 400 && e->status != 404) || e->msg[0] == '\0')
        abort();
    if (cs__api_error_reply(e, &rep) != 0)
        return;
    if ((j = json_loadb(rep.body, rep.len, 0, NULL)) == NULL)
        abort();
    json_decref(j);
    cs__reply_free(&rep);
}

static void parse_query(char *qs, int ep)
{
    cs__params p = {0};
    cs__query q;
    cs__err e = {0};

    for (char *save = NULL, *kv = strtok_r(qs, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        cs__params_add(&p, kv, eq);
    }
    if (cs__api_parse(ep, &p, 1767623400000000000LL, &q, &e) < 0)
        check_err(&e);
    else if (q.after > q.before || q.limit > CS__API_LIMIT_MAX || q.offset > CS__API_OFFSET_MAX ||
             q.step_ns < 1000000000LL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *qs, *copy;
    cs__route r;
    cs__err e = {0};

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if ((qs = strchr(s, '?')) != NULL)
        *qs++ = '\0';
    if (cs__api_route(s, &r, &e) < 0) {
        check_err(&e);
        for (int ep = CS__EP_STATUS; ep <= CS__EP_SESSIONS && qs; ep++) {
            copy = strdup(qs);
            parse_query(copy, ep);
            free(copy);
        }
    } else if (qs)
        parse_query(qs, r.ep);
    (void)cs__api_json_latency(s);
    free(s);
    return 0;
}
