/*
 * registry.c - the table of every application decoder capstream has.
 *
 * Adding a protocol = adding its folder under src/decode/ and one X(name)
 * in CS_DECODER_LIST below (its `const cs_decoder cs_decoder_<name>`);
 * nothing else names it: the flow layer (src/analytics/analyzer.c), the
 * CLI's help and errors, /api/v1/status and the web UI read the registry
 * (cs_decoders, cs_decoders_names, cs_pairs_names: the decoders' pairs,
 * then CS_PAIR_HOP, which the analyzer makes of any decoder's requests
 * and sightings). A test build adds
 * decoders of its own by defining CS_DECODERS_EXTRA(X) and including this
 * file (tests/unit/test_registry.c).
 * Order matters only as a tie-break: when several decoders' probes say YES
 * on a flow's first bytes, the first listed wins.
 *
 * Decoder options (--decoder-opt NAME.KEY=VALUE) are checked here once,
 * against the registry and each decoder's "options", and kept as text in
 * one fixed-size set; a decoder reads its own when a flow's state is born.
 */
#include "decode/decoder.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

#ifndef CS_DECODERS_EXTRA
#define CS_DECODERS_EXTRA(X)
#endif

/* Every decoder, one X(name) each, in probe order. */
#define CS_DECODER_LIST(X)                                                                         \
    X(fix) X(http) X(dns) X(soupbintcp) X(ouch) X(moldudp64) X(itch) CS_DECODERS_EXTRA(X)

/* Each defined in src/decode/<name>/<name>.c. */
#define CS_DECODER_DECLARE(name) extern const cs_decoder cs_decoder_##name;
CS_DECODER_LIST(CS_DECODER_DECLARE)

#define CS_DECODER_ENTRY(name) &cs_decoder_##name,
const cs_decoder *const cs_decoders[] = {CS_DECODER_LIST(CS_DECODER_ENTRY) NULL};

/* Appends "s" to "buf" (size "cap", used "*n"), after "sep" unless first. */
static void list_add(char *buf, size_t cap, size_t *n, const char *sep, const char *s)
{
    int w;

    if (*n >= cap)
        return;
    w = snprintf(buf + *n, cap - *n, "%s%s", *n ? sep : "", s);
    *n += w > 0 ? (size_t)w : 0;
}

static int listed_before(size_t upto, const char *pair)
{
    for (size_t i = 0; i < upto; i++)
        for (const char *const *p = cs_decoders[i]->pairs; p != NULL && *p != NULL; p++)
            if (strcmp(*p, pair) == 0)
                return 1;
    return 0;
}

const char *cs_decoders_names(const char *sep, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap > 0)
        buf[0] = '\0';
    for (size_t i = 0; cs_decoders[i] != NULL; i++)
        list_add(buf, cap, &n, sep, cs_decoders[i]->name);
    return buf;
}

const char *cs_pairs_names(const char *sep, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap > 0)
        buf[0] = '\0';
    for (size_t i = 0; cs_decoders[i] != NULL; i++)
        for (const char *const *p = cs_decoders[i]->pairs; p != NULL && *p != NULL; p++)
            if (!listed_before(i, *p))
                list_add(buf, cap, &n, sep, *p);
    list_add(buf, cap, &n, sep, CS_PAIR_HOP);
    return buf;
}

const cs_decoder *cs_decoder_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; cs_decoders[i] != NULL; i++)
        if (strcmp(cs_decoders[i]->name, name) == 0)
            return cs_decoders[i];
    return NULL;
}

static int decoders_add(const cs_decoder **out, size_t *n, const cs_decoder *d)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i] == d)
            return 0;
    if (*n >= CS_DECODERS_MAX)
        return cs_error_set(CS_EINVAL, "too many decoders");
    out[(*n)++] = d;
    return 0;
}

int cs_decoders_parse(const char *list, const cs_decoder **out)
{
    size_t n = 0;
    const char *p = list;
    int rc = 0;

    if (strcmp(list, "all") == 0) {
        for (size_t i = 0; cs_decoders[i] != NULL && rc == 0; i++)
            rc = decoders_add(out, &n, cs_decoders[i]);
    } else if (strcmp(list, "none") != 0) {
        while (rc == 0 && *p != '\0') {
            size_t len = strcspn(p, ",");
            char name[32];
            const cs_decoder *d;
            snprintf(name, sizeof(name), "%.*s", (int)(len < 31 ? len : 31), p);
            d = len < 31 ? cs_decoder_find(name) : NULL;
            if (d == NULL) {
                char have[512];
                return cs_error_set(CS_EINVAL, "unknown decoder '%.*s' (have: %s; or all, none)",
                                    (int)len, p, cs_decoders_names(", ", have, sizeof(have)));
            }
            rc = decoders_add(out, &n, d);
            p += len + (p[len] == ',');
        }
    }
    out[n] = NULL;
    return rc;
}

/* Parses "s" as ports "P1,P2,..." (1..65535) into "ports" (room for "cap",
 * 0-terminated when room is left). Returns the count, or -1 if malformed. */
static long ports_parse(const char *s, uint16_t *ports, size_t cap)
{
    size_t n = 0;

    while (*s != '\0') {
        unsigned long v = 0;
        const char *start = s;

        while (*s >= '0' && *s <= '9' && v <= 65535)
            v = v * 10 + (unsigned long)(*s++ - '0');
        if (s == start || v == 0 || v > 65535 || (*s != ',' && *s != '\0'))
            return -1;
        if (n < cap)
            ports[n] = (uint16_t)v;
        n++;
        s += *s == ',';
    }
    if (n < cap)
        ports[n] = 0;
    return n == 0 ? -1 : (long)n;
}

static int option_known(const cs_decoder *d, const char *key)
{
    if (strcmp(key, "ports") == 0 || strcmp(key, "scope") == 0)
        return 1;
    for (size_t i = 0; d->options != NULL && d->options[i] != NULL; i++)
        if (strcmp(d->options[i], key) == 0)
            return 1;
    return 0;
}

int cs_decoder_optset_add(cs_decoder_optset *set, const char *arg)
{
    const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
    char name[32], key[CS_DECODER_OPT_KEY_MAX];
    const cs_decoder *d;
    size_t i;

    if (dot == NULL || eq == NULL || eq < dot || dot == arg || eq == dot + 1)
        return cs_error_set(CS_EINVAL, "decoder option '%s' is not NAME.KEY=VALUE", arg);
    if ((size_t)(dot - arg) >= sizeof(name) || (size_t)(eq - dot - 1) >= sizeof(key) ||
        strlen(eq + 1) >= CS_DECODER_OPT_VAL_MAX)
        return cs_error_set(CS_EINVAL, "decoder option '%s' is too long", arg);
    snprintf(name, sizeof(name), "%.*s", (int)(dot - arg), arg);
    snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
    if ((d = cs_decoder_find(name)) == NULL)
        return cs_error_set(CS_EINVAL, "decoder option '%s': unknown decoder '%s'", arg, name);
    if (!option_known(d, key))
        return cs_error_set(CS_EINVAL, "decoder option '%s': %s has no option '%s'", arg, name,
                            key);
    if (strcmp(key, "ports") == 0 && ports_parse(eq + 1, NULL, 0) < 0)
        return cs_error_set(CS_EINVAL, "decoder option '%s': ports are 1..65535, comma-separated",
                            arg);
    if (strcmp(key, "scope") == 0 && strcmp(eq + 1, "flow") != 0 && strcmp(eq + 1, "session") != 0)
        return cs_error_set(CS_EINVAL, "decoder option '%s': scope is flow or session", arg);
    for (i = 0; i < set->n; i++)
        if (set->opt[i].dec == d && strcmp(set->opt[i].key, key) == 0)
            break;
    if (i == set->n && set->n == CS_DECODER_OPTS_MAX)
        return cs_error_set(CS_EINVAL, "more than %d decoder options", CS_DECODER_OPTS_MAX);
    set->opt[i].dec = d;
    snprintf(set->opt[i].key, sizeof(set->opt[i].key), "%s", key);
    snprintf(set->opt[i].val, sizeof(set->opt[i].val), "%s", eq + 1);
    set->n += i == set->n;
    return 0;
}

const char *cs_decoder_opt_get(const cs_decoder_opts *opts, const char *key)
{
    if (opts == NULL || opts->set == NULL)
        return NULL;
    for (size_t i = 0; i < opts->set->n; i++)
        if (opts->set->opt[i].dec == opts->dec && strcmp(opts->set->opt[i].key, key) == 0)
            return opts->set->opt[i].val;
    return NULL;
}

size_t cs_decoder_opt_ports(const cs_decoder_opts *opts, uint16_t *ports, size_t cap)
{
    const char *v = cs_decoder_opt_get(opts, "ports");
    long n = v != NULL && cap > 0 ? ports_parse(v, ports, cap - 1) : -1;
    size_t kept = n < 0 ? 0 : (size_t)n < cap - 1 ? (size_t)n : cap - 1;

    if (cap > 0)
        ports[kept] = 0;
    return kept;
}

uint8_t cs_decoder_opt_scope(const cs_decoder_opts *opts)
{
    const char *v = cs_decoder_opt_get(opts, "scope");

    return v != NULL && strcmp(v, "session") == 0 ? CS_SCOPE_SESSION : CS_SCOPE_FLOW;
}
