/*
 * fuzz_alertrule.c - libFuzzer harness for the alert rule language.
 *
 * The input is a whole config text: cs_alerts_set_rules() parses it (every
 * line through cs_alert_rule_parse) and must either accept it or fail with
 * CS_EINVAL/CS_ENOMEM and a detail. An accepted rule set is then evaluated
 * over a few synthetic windows of every series kind, and its invariants
 * checked: names and texts are NUL-terminated within bounds, for_windows is
 * at least 1, the threshold is a finite non-negative number, and parsing a
 * rule's own text again gives the same rule.
 */
#include "analytics/alerts.h"

#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void on_event(void *ud, const cs_alert_event *ev)
{
    (void)ud;
    if (ev->state != CS_ALERT_FIRED && ev->state != CS_ALERT_RESOLVED)
        abort();
    if (ev->from_ns > ev->to_ns)
        abort();
}

static void check_rule(const cs_alert_rule *r)
{
    cs_alert_rule again;

    if (memchr(r->name, 0, sizeof(r->name)) == NULL || memchr(r->text, 0, sizeof(r->text)) == NULL)
        abort();
    if (r->for_windows < 1 || !isfinite(r->threshold) || r->threshold < 0)
        abort();
    if (r->series.kind < CS_SERIES_TAP || r->series.kind > CS_SERIES_KIND_LAST)
        abort();
    if (cs_alert_rule_parse(r->text, &again) != 0 || memcmp(&again, r, sizeof(again)) != 0)
        abort();
}

static void feed_windows(cs_alerts *a, const cs_alert_rule *r)
{
    static cs_histogram h;
    cs_window w;

    cs_hist_init(&h);
    cs_hist_record_n(&h, 150000, 5);
    cs_hist_record(&h, 900000);
    for (int i = 0; i < 4; i++) {
        memset(&w, 0, sizeof(w));
        w.series = r->series;
        w.start_ns = (int64_t)i * CS_NS_PER_SEC;
        w.dur_ns = CS_NS_PER_SEC;
        w.packets = w.messages = w.measurements = (uint64_t)(i * 40);
        w.errors = (uint64_t)(i * 20);
        w.gauges[CS_GAUGE_KERNEL_DROPS] = (uint64_t)(i & 1);
        w.hist = (i & 2) ? &h : NULL;
        cs_alerts_window(a, &w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cs_alerts *a = NULL;
    cs_alert_status st;
    int rc;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cs_alerts_new(on_event, NULL, &a) == 0) {
        rc = cs_alerts_set_rules(a, text, "fuzz");
        if (rc != 0 && rc != CS_EINVAL && rc != CS_ENOMEM)
            abort();
        for (size_t i = 0; i < cs_alerts_count(a); i++) {
            cs_alerts_status(a, i, &st);
            check_rule(st.rule);
            feed_windows(a, st.rule);
        }
        cs_alerts_set_rules(a, "", "fuzz"); /* resolves what fired */
    }
    cs_alerts_free(a);
    free(text);
    return 0;
}
