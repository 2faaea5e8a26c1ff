/*
 * alerts.c - the alert rule parser and evaluator (grammar and semantics in
 * alerts.h).
 *
 * Parsing: the name is everything before the first ':'; the rest is cut by
 * a tiny lexer into words (runs of characters other than blanks and
 * "<>=!") and operators (runs of "<>=!"), so "p99>200us" and "p99 > 200us"
 * read the same. A recursive-descent pass over the tokens fills a
 * cs_alert_rule and then checks that the metric fits the selector. Every
 * error is one sentence naming the offending token.
 *
 * State: one entry per rule (streak, firing, since). Reload builds the new
 * rule set aside, carries the state of rules whose text is unchanged, and
 * resolves firings of rules that went away, so callers never see an open
 * firing without a rule.
 */
#include "analytics/alerts.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 16
#define MAX_FOR_WINDOWS 86400

/* ---- lexer ------------------------------------------------------------ */

typedef struct token {
    char s[CS_ALERT_TEXT_MAX];
    int is_op;
} token;

typedef struct tokens {
    token t[MAX_TOKENS];
    int n;
} tokens;

static int is_op_char(char c)
{
    return c == '<' || c == '>' || c == '=' || c == '!';
}

static int lex(const char *s, tokens *tk)
{
    tk->n = 0;
    while (*s) {
        size_t len = 0;
        int op;
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        if (tk->n == MAX_TOKENS)
            return cs_error_set(CS_EINVAL, "too many words (a rule has at most %d)", MAX_TOKENS);
        op = is_op_char(*s);
        while (s[len] && !isspace((unsigned char)s[len]) && is_op_char(s[len]) == op)
            len++;
        if (len >= CS_ALERT_TEXT_MAX)
            len = CS_ALERT_TEXT_MAX - 1;
        memcpy(tk->t[tk->n].s, s, len);
        tk->t[tk->n].s[len] = '\0';
        tk->t[tk->n].is_op = op;
        tk->n++;
        s += len;
        while (*s && !isspace((unsigned char)*s) && is_op_char(*s) == op)
            s++;
    }
    return 0;
}

/* ---- names ------------------------------------------------------------ */

static const struct {
    const char *name;
    int metric;
} metric_names[] = {
    {"p50", CS_AM_P50},
    {"p90", CS_AM_P90},
    {"p99", CS_AM_P99},
    {"p999", CS_AM_P999},
    {"max", CS_AM_MAX},
    {"count", CS_AM_COUNT},
    {"rate", CS_AM_RATE},
    {"errors", CS_AM_ERRORS},
    {"gaps", CS_AM_GAPS},
    {"missing", CS_AM_MISSING},
    {"capture.kernel_drops", CS_AM_KERNEL_DROPS},
    {"capture.not_stored", CS_AM_NOT_STORED},
    {"capture.not_analysed", CS_AM_NOT_ANALYSED},
    {"unsynced", CS_AM_UNSYNCED},
    {"backwards", CS_AM_BACKWARDS},
    {"untimed", CS_AM_UNTIMED},
    {"lost", CS_AM_MISSING}, /* after "missing": the name printed is "missing" */
    {"orders", CS_AM_ORDERS},
    {"accepts", CS_AM_ACCEPTS},
    {"rejects", CS_AM_REJECTS},
};

static const char *const op_names[] = {"?", ">", ">=", "<", "<=", "==", "!="};

const char *cs_alert_metric_name(int metric)
{
    for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
        if (metric_names[i].metric == metric)
            return metric_names[i].name;
    }
    return "?";
}

const char *cs_alert_metric_unit(int metric)
{
    if (metric >= CS_AM_P50 && metric <= CS_AM_MAX)
        return "ns";
    if (metric == CS_AM_RATE)
        return "1/s";
    return metric >= CS_AM_COUNT && metric <= CS_AM_REJECTS ? "count" : "?";
}

const char *cs_alert_op_name(int op)
{
    return op >= CS_AOP_GT && op <= CS_AOP_NE ? op_names[op] : "?";
}

const char *cs_alert_state_name(int state)
{
    return state == CS_ALERT_FIRED ? "fired" : state == CS_ALERT_RESOLVED ? "resolved" : "?";
}

static int metric_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
        if (strcmp(metric_names[i].name, s) == 0)
            return metric_names[i].metric;
    }
    return 0;
}

static int op_parse(const char *s)
{
    for (int op = CS_AOP_GT; op <= CS_AOP_NE; op++) {
        if (strcmp(op_names[op], s) == 0)
            return op;
    }
    return 0;
}

static int is_latency(int metric)
{
    return metric >= CS_AM_P50 && metric <= CS_AM_MAX;
}

static int is_capture(int metric)
{
    return metric >= CS_AM_KERNEL_DROPS && metric <= CS_AM_NOT_ANALYSED;
}

static int is_clock(int metric)
{
    return metric >= CS_AM_UNSYNCED && metric <= CS_AM_UNTIMED;
}

static int is_session(int metric)
{
    return metric >= CS_AM_ORDERS && metric <= CS_AM_REJECTS;
}

/* ---- parser ----------------------------------------------------------- */

static int name_parse(const char *line, const char *colon, cs_alert_rule *r)
{
    const char *b = line, *e = colon;

    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (b == e)
        return cs_error_set(CS_EINVAL, "missing rule name before ':'");
    if (e - b >= CS_ALERT_NAME_MAX)
        return cs_error_set(CS_EINVAL, "rule name longer than %d characters",
                            CS_ALERT_NAME_MAX - 1);
    for (const char *p = b; p < e; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return cs_error_set(CS_EINVAL,
                                "bad character '%c' in rule name (use letters, digits, _ . -)",
                                isprint((unsigned char)*p) ? *p : '?');
    }
    memcpy(r->name, b, (size_t)(e - b));
    r->name[e - b] = '\0';
    return 0;
}

/* A plain non-negative number spanning all of "s". */
static int number_parse(const char *s, double *out)
{
    char *end;
    double v;

    if (!isdigit((unsigned char)*s) && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int value_parse(cs_alert_rule *r, const char *s)
{
    char buf[CS_ALERT_TEXT_MAX];
    size_t len = strlen(s);
    int64_t ns;

    if (is_latency(r->metric)) {
        if (cs_duration_parse(s, &ns) < 0)
            return cs_error_set(CS_EINVAL, "bad latency \"%s\" (expected e.g. 200us, 1.5ms)", s);
        r->threshold = (double)ns;
        return 0;
    }
    if (r->metric == CS_AM_RATE && len > 2 && strcmp(s + len - 2, "/s") == 0) {
        memcpy(buf, s, len - 2);
        buf[len - 2] = '\0';
        s = buf;
    }
    if (number_parse(s, &r->threshold) < 0)
        return cs_error_set(CS_EINVAL, "bad value \"%s\" (expected a number%s)", s,
                            r->metric == CS_AM_RATE ? " or NUMBER/s" : "");
    return 0;
}

/* "for" or "clear" DURATION: whole seconds, at most a day, as windows */
static int windows_parse(const char *word, const char *s, uint32_t *windows)
{
    int64_t ns;

    if (cs_duration_parse(s, &ns) < 0 || ns <= 0 || ns % CS_NS_PER_SEC != 0)
        return cs_error_set(CS_EINVAL,
                            "bad duration after '%s': \"%s\" (expected whole seconds, "
                            "e.g. 3s or 1m)",
                            word, s);
    if (ns / CS_NS_PER_SEC > MAX_FOR_WINDOWS)
        return cs_error_set(CS_EINVAL, "'%s %s' is longer than a day", word, s);
    *windows = (uint32_t)(ns / CS_NS_PER_SEC);
    return 0;
}

/* [WORD DURATION] at token *i: advances *i past it when present */
static int windows_clause(const tokens *tk, int *i, const char *word, uint32_t *windows)
{
    int rc;

    if (*i >= tk->n || strcmp(tk->t[*i].s, word) != 0)
        return 0;
    if (++*i >= tk->n)
        return cs_error_set(CS_EINVAL, "missing duration after '%s'", word);
    if ((rc = windows_parse(word, tk->t[*i].s, windows)) < 0)
        return rc;
    ++*i;
    return 0;
}

/* [pair|proto|tap] = NAME; advances *i past it if present. */
static int selector_parse(const tokens *tk, int *i, cs_alert_rule *r)
{
    const token *t = &tk->t[*i];
    int kind;

    if (*i + 1 >= tk->n || strcmp(tk->t[*i + 1].s, "=") != 0)
        return 0;
    kind = cs_series_kind_parse(t->s, strlen(t->s));
    if (kind == 0 || kind == CS_SERIES_CAPTURE)
        return cs_error_set(CS_EINVAL,
                            "unknown selector \"%s\" (expected pair=, proto=, tap=, clock=, "
                            "feed= or session=)",
                            t->s);
    if (*i + 2 >= tk->n || tk->t[*i + 2].is_op)
        return cs_error_set(CS_EINVAL, "missing name after \"%s=\"", t->s);
    if (strlen(tk->t[*i + 2].s) >= CS_SERIES_NAME_MAX)
        return cs_error_set(CS_EINVAL, "%s name \"%s\" longer than %d characters", t->s,
                            tk->t[*i + 2].s, CS_SERIES_NAME_MAX - 1);
    r->series.kind = (uint8_t)kind;
    strcpy(r->series.name, tk->t[*i + 2].s);
    *i += 3;
    return 0;
}

static int condition_parse(const tokens *tk, int *i, cs_alert_rule *r)
{
    if (strcmp(tk->t[*i].s, "errors") == 0 && *i + 1 < tk->n &&
        (strcmp(tk->t[*i + 1].s, "count") == 0 || strcmp(tk->t[*i + 1].s, "rate") == 0)) {
        if (r->series.kind != CS_SERIES_PROTO && r->series.kind != CS_SERIES_SESSION)
            return cs_error_set(CS_EINVAL, "errors %s needs a proto= or session= selector",
                                tk->t[*i + 1].s);
        r->errors_only = 1;
        *i += 1;
        return 0;
    }
    if (strcmp(tk->t[*i].s, "rcode") != 0)
        return 0;
    if (*i + 2 >= tk->n || strcmp(tk->t[*i + 1].s, "!=") != 0 || strcmp(tk->t[*i + 2].s, "0"))
        return cs_error_set(CS_EINVAL, "the only rcode condition is rcode!=0");
    if (r->series.kind != CS_SERIES_PROTO)
        return cs_error_set(CS_EINVAL, "rcode!=0 needs a proto= selector");
    r->errors_only = 1;
    *i += 3;
    return 0;
}

/* A latency or clock metric on tap=N looks at the tap's clock series. */
static int check_fit(cs_alert_rule *r, const char *metric)
{
    if ((is_latency(r->metric) || is_clock(r->metric)) && r->series.kind == CS_SERIES_TAP)
        r->series.kind = CS_SERIES_CLOCK;
    if (is_clock(r->metric) && r->series.kind != CS_SERIES_CLOCK)
        return cs_error_set(CS_EINVAL, "%s is a clock count: it needs a tap= selector", metric);
    if (is_capture(r->metric) && r->series.kind != 0)
        return cs_error_set(CS_EINVAL, "%s takes no selector", metric);
    if (!is_capture(r->metric) && r->series.kind == 0)
        return cs_error_set(CS_EINVAL, "%s needs a selector (pair=, proto= or tap=)", metric);
    if (is_latency(r->metric) && r->series.kind != CS_SERIES_PAIR &&
        r->series.kind != CS_SERIES_CLOCK && r->series.kind != CS_SERIES_FEED &&
        r->series.kind != CS_SERIES_SESSION)
        return cs_error_set(CS_EINVAL,
                            "%s is a latency: it needs a pair= or session= selector (or "
                            "feed= for the A/B lead, tap= for the tap's clock offset)",
                            metric);
    if (r->metric == CS_AM_ERRORS && r->series.kind != CS_SERIES_PROTO &&
        r->series.kind != CS_SERIES_SESSION)
        return cs_error_set(CS_EINVAL, "%s needs a proto= or session= selector", metric);
    if ((r->metric == CS_AM_GAPS || r->metric == CS_AM_MISSING) &&
        r->series.kind != CS_SERIES_PROTO && r->series.kind != CS_SERIES_FEED)
        return cs_error_set(CS_EINVAL, "%s needs a proto= or feed= selector", metric);
    if (is_session(r->metric) && r->series.kind != CS_SERIES_SESSION)
        return cs_error_set(CS_EINVAL, "%s needs a session= selector", metric);
    if (r->errors_only && r->metric != CS_AM_COUNT && r->metric != CS_AM_RATE)
        return cs_error_set(CS_EINVAL, "rcode!=0 goes with count or rate, not %s", metric);
    return 0;
}

/* metric op value [for duration] [clear duration], from token *i on. */
static int body_parse(const tokens *tk, int i, cs_alert_rule *r)
{
    const char *metric;
    int rc;

    if (i >= tk->n)
        return cs_error_set(CS_EINVAL, "missing metric");
    metric = tk->t[i].s;
    if (tk->t[i].is_op)
        return cs_error_set(CS_EINVAL, "missing metric before \"%s\"", metric);
    if ((r->metric = metric_parse(metric)) == 0)
        return cs_error_set(CS_EINVAL,
                            "unknown metric \"%s\" (expected p50, p90, p99, p999, max, count, "
                            "rate, errors, gaps, missing, lost, orders, accepts, rejects, "
                            "unsynced, backwards, untimed or "
                            "capture.kernel_drops/not_stored/not_analysed)",
                            metric);
    if ((rc = check_fit(r, metric)) < 0)
        return rc;
    if (++i >= tk->n)
        return cs_error_set(CS_EINVAL, "missing operator after %s", metric);
    if ((r->op = op_parse(tk->t[i].s)) == 0)
        return cs_error_set(CS_EINVAL, "bad operator \"%s\" (expected > >= < <= == !=)",
                            tk->t[i].s);
    if (++i >= tk->n || tk->t[i].is_op)
        return cs_error_set(CS_EINVAL, "missing value after \"%s\"", cs_alert_op_name(r->op));
    if ((rc = value_parse(r, tk->t[i].s)) < 0)
        return rc;
    r->for_windows = 1;
    r->clear_windows = 1;
    i++;
    if ((rc = windows_clause(tk, &i, "for", &r->for_windows)) < 0 ||
        (rc = windows_clause(tk, &i, "clear", &r->clear_windows)) < 0)
        return rc;
    if (i < tk->n)
        return cs_error_set(CS_EINVAL, "unexpected \"%s\" after the rule", tk->t[i].s);
    return 0;
}

static void text_copy(char *dst, const char *s)
{
    size_t len;

    while (isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= CS_ALERT_TEXT_MAX)
        len = CS_ALERT_TEXT_MAX - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

int cs_alert_rule_parse(const char *line, cs_alert_rule *r)
{
    const char *colon = strchr(line, ':');
    tokens *tk = NULL;
    int i = 0, rc;

    memset(r, 0, sizeof(*r));
    if (strlen(line) >= CS_ALERT_TEXT_MAX)
        return cs_error_set(CS_EINVAL, "rule longer than %d characters", CS_ALERT_TEXT_MAX - 1);
    if (colon == NULL)
        return cs_error_set(CS_EINVAL, "expected \"NAME: [SELECTOR] METRIC OP VALUE [for "
                                       "DURATION]\"");
    if ((rc = name_parse(line, colon, r)) < 0)
        return rc;
    if ((tk = cs_malloc(sizeof(*tk))) == NULL)
        return CS_ENOMEM;
    if ((rc = lex(colon + 1, tk)) < 0 || (tk->n > 0 && (rc = selector_parse(tk, &i, r)) < 0) ||
        (i < tk->n && (rc = condition_parse(tk, &i, r)) < 0) || (rc = body_parse(tk, i, r)) < 0)
        goto out;
    text_copy(r->text, line);
    if (r->series.kind == 0) {
        r->series.kind = CS_SERIES_CAPTURE;
        strcpy(r->series.name, "capture");
    }
out:
    cs_free(tk);
    return rc;
}

/* ---- evaluation ------------------------------------------------------- */

int cs_alert_value(const cs_alert_rule *r, const cs_window *w, double *value)
{
    double secs = w->dur_ns > 0 ? (double)w->dur_ns / (double)CS_NS_PER_SEC : 1.0;
    uint64_t count = r->errors_only ? w->errors : cs_window_count(w);
    static const double q[] = {0.50, 0.90, 0.99, 0.999};

    *value = 0;
    switch (r->metric) {
    case CS_AM_P50:
    case CS_AM_P90:
    case CS_AM_P99:
    case CS_AM_P999:
        if (w->hist == NULL || w->hist->count == 0)
            return 0;
        *value = (double)cs_hist_quantile(w->hist, q[r->metric - CS_AM_P50]);
        return 1;
    case CS_AM_MAX:
        if (w->hist == NULL || w->hist->count == 0)
            return 0;
        *value = (double)cs_hist_max(w->hist);
        return 1;
    case CS_AM_COUNT:
        *value = (double)count;
        return 1;
    case CS_AM_RATE:
        *value = (double)count / secs;
        return 1;
    case CS_AM_ERRORS:
        *value = (double)w->errors;
        return 1;
    case CS_AM_GAPS:
        *value = (double)w->gaps;
        return 1;
    case CS_AM_MISSING:
        *value = (double)w->missing;
        return 1;
    case CS_AM_UNSYNCED:
        *value = (double)w->unsynced;
        return 1;
    case CS_AM_BACKWARDS:
        *value = (double)w->backwards;
        return 1;
    case CS_AM_UNTIMED:
        *value = (double)w->untimed;
        return 1;
    case CS_AM_ORDERS:
        *value = (double)w->orders;
        return 1;
    case CS_AM_ACCEPTS:
        *value = (double)w->accepts;
        return 1;
    case CS_AM_REJECTS:
        *value = (double)w->rejects;
        return 1;
    default:
        *value = (double)w->gauges[r->metric - CS_AM_KERNEL_DROPS];
        return 1;
    }
}

static int holds(int op, double v, double t)
{
    switch (op) {
    case CS_AOP_GT:
        return v > t;
    case CS_AOP_GE:
        return v >= t;
    case CS_AOP_LT:
        return v < t;
    case CS_AOP_LE:
        return v <= t;
    case CS_AOP_EQ:
        return v == t;
    default:
        return v != t;
    }
}

typedef struct rule_state {
    cs_alert_rule rule;
    uint32_t streak;
    uint32_t clear_streak; /* windows in a row without the condition while firing */
    int firing;
    int64_t since_ns;   /* start of the firing's first window */
    int64_t last_start; /* start of the last window evaluated */
    int64_t last_end;
    int64_t held_end; /* end of the last window where the condition held */
    double last_value;
} rule_state;

struct cs_alerts {
    cs_alert_fn fn;
    void *ud;
    rule_state *rules;
    size_t n;
};

static void emit(cs_alerts *a, const rule_state *rs, int state, int64_t ts, double value,
                 int64_t from, int64_t to)
{
    cs_alert_event ev = {
        .rule = rs->rule.name,
        .text = rs->rule.text,
        .series = rs->rule.series,
        .metric = rs->rule.metric,
        .state = state,
        .ts_ns = ts,
        .value = value,
        .threshold = rs->rule.threshold,
        .from_ns = from,
        .to_ns = to,
    };
    if (a->fn)
        a->fn(a->ud, &ev);
}

static void evaluate(cs_alerts *a, rule_state *rs, const cs_window *w)
{
    double v;
    int has = cs_alert_value(&rs->rule, w, &v);
    int ok = has && holds(rs->rule.op, v, rs->rule.threshold);
    int64_t end = w->start_ns + (w->dur_ns > 0 ? w->dur_ns : CS_NS_PER_SEC);

    if (rs->streak > 0 && w->start_ns != rs->last_end)
        rs->streak = 0; /* a missing window breaks the streak */
    rs->last_start = w->start_ns;
    rs->last_value = v;
    if (ok) {
        if (rs->streak < UINT32_MAX)
            rs->streak++;
        rs->clear_streak = 0;
        rs->held_end = end;
        if (!rs->firing && rs->streak >= rs->rule.for_windows) {
            rs->firing = 1;
            rs->since_ns = end - (int64_t)rs->rule.for_windows * CS_NS_PER_SEC;
            emit(a, rs, CS_ALERT_FIRED, w->start_ns, v, rs->since_ns, end);
        }
    } else {
        rs->streak = 0;
        if (rs->firing && ++rs->clear_streak >= rs->rule.clear_windows) {
            rs->firing = 0;
            rs->clear_streak = 0;
            emit(a, rs, CS_ALERT_RESOLVED, w->start_ns, v, rs->since_ns, rs->held_end);
        }
    }
    rs->last_end = end;
}

void cs_alerts_window(cs_alerts *a, const cs_window *w)
{
    for (size_t i = 0; i < a->n; i++) {
        rule_state *rs = &a->rules[i];
        if (rs->rule.series.kind == w->series.kind &&
            strcmp(rs->rule.series.name, w->series.name) == 0)
            evaluate(a, rs, w);
    }
}

/* ---- rule sets -------------------------------------------------------- */

int cs_alerts_new(cs_alert_fn fn, void *ud, cs_alerts **out)
{
    cs_alerts *a = cs_calloc(1, sizeof(*a));

    *out = a;
    if (a == NULL)
        return CS_ENOMEM;
    a->fn = fn;
    a->ud = ud;
    return 0;
}

void cs_alerts_free(cs_alerts *a)
{
    if (a == NULL)
        return;
    cs_free(a->rules);
    cs_free(a);
}

/* Cuts the next line out of "*p" into "buf" (comment stripped); 0 at the
 * end of the text, -1 if the line is too long. */
static int next_line(const char **p, char *buf, size_t size)
{
    const char *s = *p, *nl, *hash;
    size_t len;

    if (*s == '\0')
        return 0;
    nl = strchr(s, '\n');
    len = nl ? (size_t)(nl - s) : strlen(s);
    *p = nl ? nl + 1 : s + len;
    hash = memchr(s, '#', len);
    if (hash)
        len = (size_t)(hash - s);
    if (len >= size)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 1;
}

static int blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* A line of the config file that is not the alerts' ("decoder-opt ...":
 * the daemon reads those at start). */
static int not_a_rule(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return strncmp(s, "decoder-opt", 11) == 0 && isspace((unsigned char)s[11]);
}

static int line_error(const char *origin, int line)
{
    char why[256];

    snprintf(why, sizeof(why), "%s", cs_error_msg(CS_EINVAL));
    return cs_error_set(CS_EINVAL, "%s:%d: %s", origin, line, why);
}

/* Parses every rule of "text" into "*out" (cs_malloc'ed) and "*n". */
static int parse_all(const char *text, const char *origin, rule_state **out, size_t *n)
{
    char buf[CS_ALERT_TEXT_MAX + 1];
    rule_state *rs = NULL;
    size_t cap = 0, cnt = 0;
    int line = 0, got, rc = 0;

    while ((got = next_line(&text, buf, sizeof(buf))) != 0) {
        line++;
        if (got < 0) {
            rc = cs_error_set(CS_EINVAL, "%s:%d: rule longer than %d characters", origin, line,
                              CS_ALERT_TEXT_MAX - 1);
            goto fail;
        }
        if (blank(buf) || not_a_rule(buf))
            continue;
        if ((rc = cs_grow((void **)&rs, &cap, cnt + 1, sizeof(*rs))) < 0)
            goto fail;
        memset(&rs[cnt], 0, sizeof(rs[cnt]));
        if ((rc = cs_alert_rule_parse(buf, &rs[cnt].rule)) < 0) {
            if (rc == CS_EINVAL)
                line_error(origin, line);
            goto fail;
        }
        for (size_t j = 0; j < cnt; j++) {
            if (strcmp(rs[j].rule.name, rs[cnt].rule.name) == 0) {
                rc = cs_error_set(CS_EINVAL, "%s:%d: rule \"%s\" defined twice", origin, line,
                                  rs[cnt].rule.name);
                goto fail;
            }
        }
        cnt++;
    }
    *out = rs;
    *n = cnt;
    return 0;
fail:
    cs_free(rs);
    return rc;
}

static rule_state *find_same(cs_alerts *a, const cs_alert_rule *r)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->rules[i].rule.text, r->text) == 0)
            return &a->rules[i];
    }
    return NULL;
}

int cs_alerts_set_rules(cs_alerts *a, const char *text, const char *origin)
{
    rule_state *rs = NULL;
    size_t n = 0;
    int rc;

    if ((rc = parse_all(text, origin ? origin : "rules", &rs, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rule_state *old = find_same(a, &rs[i].rule);
        if (old) {
            rs[i] = *old;
            old->firing = -1; /* carried over */
        }
    }
    for (size_t i = 0; i < a->n; i++) {
        rule_state *old = &a->rules[i];
        if (old->firing == 1)
            emit(a, old, CS_ALERT_RESOLVED, old->last_start, 0, old->since_ns, old->last_end);
    }
    cs_free(a->rules);
    a->rules = rs;
    a->n = n;
    return 0;
}

int cs_alerts_reload(cs_alerts *a, const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    int rc = 0;

    if (f == NULL)
        return cs_error_set(errno == ENOENT ? CS_ENOTFOUND : CS_EIO, "%s: %s", path,
                            strerror(errno));
    do {
        if ((rc = cs_grow((void **)&text, &cap, len + 4097, 1)) < 0)
            goto out;
        got = fread(text + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    if (ferror(f)) {
        rc = cs_error_set(CS_EIO, "%s: read error", path);
        goto out;
    }
    text[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        rc = cs_error_set(CS_EINVAL, "%s: not a text file (NUL byte)", path);
        goto out;
    }
    rc = cs_alerts_set_rules(a, text, path);
out:
    cs_free(text);
    fclose(f);
    return rc;
}

size_t cs_alerts_count(const cs_alerts *a)
{
    return a->n;
}

void cs_alerts_status(const cs_alerts *a, size_t i, cs_alert_status *st)
{
    const rule_state *rs = &a->rules[i];

    st->rule = &rs->rule;
    st->firing = rs->firing;
    st->streak = rs->streak;
    st->since_ns = rs->firing ? rs->since_ns : 0;
    st->last_value = rs->last_value;
}
