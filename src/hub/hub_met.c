/*
 * hub_met.c - the hub's /api/v1/metrics and /api/v1/series over all its
 * sensors (no sensor=): every sensor asked at once, the answers merged by
 * metmerge.c (which states each member's rule: counters summed per step,
 * histograms summed and the percentiles recomputed from them, heat counts
 * summed).
 *
 *   request ─► fan-out of the same request, metrics with hist=1 (one
 *              deadline)
 *     metrics, a sensor refused hist=1? ─► asked again without it (its
 *                               points then get the worst sensor's
 *                               percentiles)
 *     metrics, steps differ? ─► the sensors with a finer step asked again
 *                               with step = the widest, in what is left of
 *                               the deadline
 *     every sensor refused it the same way ─► that refusal (a bad series)
 *     else ─► merged, "missing" and "partial" as the merged lists
 *
 * Steps differ only for a range without after and before: a sensor widens
 * the step to fit its own data into its points limit, so two sensors with
 * different spans choose different steps. Points of different steps are
 * never mixed: a sensor still on another step after the second round is
 * named missing.
 *
 * The sensors answer even when the hub has ClickHouse: its metrics table
 * holds each second's percentiles but not the histogram they come from,
 * so a step wider than a second (every chart over more than five
 * minutes) cannot get its percentiles the way a sensor computes them.
 *
 * Invariant: the answer comes by the hub's deadline, each later round
 * (without hist, then with the widest step) getting only what the rounds
 * before it left.
 */
#include "hub/hub_int.h"

#include "core/error.h"
#include "hub/merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECOND_ROUND_MIN_MS 50 /* less left than this: no second round */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "q" = "p" with parameter "key" set to "val" (left out if "val" is NULL);
 * strings borrowed from "p", "key" and "val". */
static void params_set(const cs_server_params *p, const char *key, const char *val,
                       cs_server_params *q)
{
    *q = (cs_server_params){0};
    for (size_t k = 0; k < p->n && q->n < CS_SERVER_PARAMS_MAX - 1; k++)
        if (strcmp(p->key[k], key) != 0) {
            q->key[q->n] = p->key[k];
            q->value[q->n++] = p->value[k];
        }
    if (val) {
        q->key[q->n] = key;
        q->value[q->n++] = val;
    }
}

/* Asks the sensors marked in "which" again with "q", in "left_ms"; their
 * new answers replace the old in "f". */
static int ask_some(const cs_hub *h, const char *ep, const cs_server_params *q, int64_t left_ms,
                    const int *which, cs_hub_fetch *f)
{
    cs_hub_fetch g[CS_HUB_SENSORS_MAX] = {0};
    char path[CS_HUB_URL_MAX];
    cs_hub_fanout_cfg fan = h->fan;
    int rc;

    fan.deadline_ms = left_ms;
    if ((rc = cs__hub_path(ep, q, 0, path, sizeof(path))) < 0 ||
        (rc = cs_hub_fanout(&fan, h->peers, h->n, which, path, g)) < 0)
        return rc;
    for (int i = 0; i < h->n; i++)
        if (which[i]) {
            cs_hub_fetch_free(&f[i], 1);
            f[i] = g[i];
        }
    return 0;
}

/* Whether answer "f" refuses parameter "hist" (a sensor that predates
 * it: {"error":"unknown parameter","param":"hist"}). */
static int refuses_hist(const cs_hub_fetch *f)
{
    return f->ok && f->status == 400 && f->body && strstr(f->body, "\"param\":\"hist\"") != NULL;
}

/* Asks the sensors in "use" that refused hist=1 again without it
 * ("nohist" marks them). */
static int ask_without_hist(const cs_hub *h, const cs_server_params *p, int64_t left_ms,
                            const int *use, int *nohist, cs_hub_fetch *f)
{
    cs_server_params q;
    int any = 0;

    for (int i = 0; i < h->n; i++)
        any |= nohist[i] = use[i] && refuses_hist(&f[i]);
    if (!any || left_ms < SECOND_ROUND_MIN_MS)
        return 0;
    params_set(p, "hist", NULL, &q);
    return ask_some(h, "/api/v1/metrics", &q, left_ms, nohist, f);
}

/* Asks again, with step "step_ns", the asked sensors whose answer has a
 * finer step (with hist=1 but for those in "nohist"); their new answers
 * replace the old in "f". */
static int ask_again(const cs_hub *h, const cs_server_params *p, long long step_ns, int64_t left_ms,
                     const int *use, const int *nohist, cs_hub_fetch *f)
{
    int again[2][CS_HUB_SENSORS_MAX] = {{0}}, any = 0, rc = 0;
    cs_server_params q, r;
    char step[32];

    for (int i = 0; i < h->n; i++) {
        long long s = use[i] ? cs_hub_metrics_step(&f[i]) : 0;
        any |= again[nohist[i] != 0][i] = s > 0 && s < step_ns;
    }
    if (!any || left_ms < SECOND_ROUND_MIN_MS)
        return 0;
    snprintf(step, sizeof(step), "%llds", step_ns / 1000000000);
    for (int k = 0; k < 2 && rc == 0; k++) {
        params_set(p, "hist", k ? NULL : "1", &q);
        params_set(&q, "step", step, &r);
        rc = ask_some(h, "/api/v1/metrics", &r, left_ms, again[k], f);
    }
    return rc;
}

/* Every sensor's answer to "p" on /api/v1/"what" into "f"; metrics are
 * asked with hist=1, so that their percentiles can be merged exactly. */
static int ask_all(const cs_hub *h, const char *what, const cs_server_params *p, const int *use,
                   cs_hub_fetch *f)
{
    char ep[32], path[CS_HUB_URL_MAX];
    int64_t start = mono_ms();
    long long widest = 0;
    int nohist[CS_HUB_SENSORS_MAX] = {0}, rc, met = strcmp(what, "metrics") == 0;
    cs_server_params q;

    snprintf(ep, sizeof(ep), "/api/v1/%s", what);
    params_set(p, "hist", met ? "1" : cs__hub_param(p, "hist"), &q);
    if ((rc = cs__hub_path(ep, &q, 0, path, sizeof(path))) < 0 ||
        (rc = cs_hub_fanout(&h->fan, h->peers, h->n, use, path, f)) < 0)
        return rc;
    if (!met)
        return 0;
    rc = ask_without_hist(h, p, h->fan.deadline_ms - (mono_ms() - start), use, nohist, f);
    for (int i = 0; rc == 0 && i < h->n; i++) {
        long long s = use[i] ? cs_hub_metrics_step(&f[i]) : 0;
        widest = s > widest ? s : widest;
    }
    return rc < 0
               ? rc
               : ask_again(h, p, widest, h->fan.deadline_ms - (mono_ms() - start), use, nohist, f);
}

int cs__hub_metrics(const cs_hub *h, const char *what, const cs_server_params *p,
                    cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    int use[CS_HUB_SENSORS_MAX];
    char *body = NULL;
    size_t len = 0;
    const char *hist;
    int rc, bad;

    for (int i = 0; i < h->n; i++)
        use[i] = 1;
    hist = cs__hub_param(p, "hist");
    if (hist && strcmp(hist, "0") != 0 && strcmp(hist, "1") != 0)
        return cs__hub_error(rep, 400, "hist", "hist: expected 0 or 1");
    if ((rc = ask_all(h, what, p, use, f)) < 0) {
        cs_hub_fetch_free(f, h->n);
        return rc;
    }
    if ((bad = cs__hub_all_refused(f, use, h->n)) >= 0) { /* the request itself is wrong */
        rep->status = (int)f[bad].status;
        rep->body = f[bad].body;
        rep->len = f[bad].len;
        f[bad].body = NULL;
    } else {
        rc = strcmp(what, "metrics") == 0
                 ? cs_hub_merge_metrics(cs__hub_param(p, "series"), hist && hist[0] == '1',
                                        h->peers, f, use, h->n, &body, &len)
                 : cs_hub_merge_series(h->peers, f, use, h->n, &body, &len);
        rep->status = 200;
        rep->body = body;
        rep->len = len;
    }
    rep->ctype = "application/json";
    cs_hub_fetch_free(f, h->n);
    return rc;
}
