/*
 * hub_met.c - the hub's /api/v1/metrics and /api/v1/series over all its
 * sensors (no sensor=): every sensor asked at once, the answers merged by
 * metmerge.c (which states each member's rule: counters summed per step,
 * percentiles the worst sensor's, heat counts summed).
 *
 *   request ─► fan-out of the same request (one deadline)
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
 * Invariant: the answer comes by the hub's deadline, the second round
 * getting only what the first left of it.
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

/* Asks again, with step "step_ns", the asked sensors whose answer has a
 * finer step; their new answers replace the old in "f". */
static int ask_again(const cs_hub *h, const cs_server_params *p, long long step_ns, int64_t left_ms,
                     const int *use, cs_hub_fetch *f)
{
    cs_hub_fetch g[CS_HUB_SENSORS_MAX] = {0};
    int again[CS_HUB_SENSORS_MAX] = {0}, any = 0, rc;
    cs_server_params q = {0};
    char step[32], path[CS_HUB_URL_MAX];
    cs_hub_fanout_cfg fan = h->fan;

    for (int i = 0; i < h->n; i++) {
        long long s = use[i] ? cs_hub_metrics_step(&f[i]) : 0;
        any |= again[i] = s > 0 && s < step_ns;
    }
    if (!any || left_ms < SECOND_ROUND_MIN_MS)
        return 0;
    snprintf(step, sizeof(step), "%llds", step_ns / 1000000000);
    for (size_t k = 0; k < p->n && q.n < CS_SERVER_PARAMS_MAX - 1; k++)
        if (strcmp(p->key[k], "step") != 0) {
            q.key[q.n] = p->key[k];
            q.value[q.n++] = p->value[k];
        }
    q.key[q.n] = "step";
    q.value[q.n++] = step;
    fan.deadline_ms = left_ms;
    if ((rc = cs__hub_path("/api/v1/metrics", &q, 0, path, sizeof(path))) < 0 ||
        (rc = cs_hub_fanout(&fan, h->peers, h->n, again, path, g)) < 0)
        return rc;
    for (int i = 0; i < h->n; i++)
        if (again[i]) {
            cs_hub_fetch_free(&f[i], 1);
            f[i] = g[i];
        }
    return 0;
}

/* Every sensor's answer to "p" on /api/v1/"what" into "f". */
static int ask_all(const cs_hub *h, const char *what, const cs_server_params *p, const int *use,
                   cs_hub_fetch *f)
{
    char ep[32], path[CS_HUB_URL_MAX];
    int64_t start = mono_ms();
    long long widest = 0;
    int rc;

    snprintf(ep, sizeof(ep), "/api/v1/%s", what);
    if ((rc = cs__hub_path(ep, p, 0, path, sizeof(path))) < 0 ||
        (rc = cs_hub_fanout(&h->fan, h->peers, h->n, use, path, f)) < 0)
        return rc;
    if (strcmp(what, "metrics") != 0)
        return 0;
    for (int i = 0; i < h->n; i++) {
        long long s = use[i] ? cs_hub_metrics_step(&f[i]) : 0;
        widest = s > widest ? s : widest;
    }
    return ask_again(h, p, widest, h->fan.deadline_ms - (mono_ms() - start), use, f);
}

int cs__hub_metrics(const cs_hub *h, const char *what, const cs_server_params *p,
                    cs_server_reply *rep)
{
    cs_hub_fetch f[CS_HUB_SENSORS_MAX] = {0};
    int use[CS_HUB_SENSORS_MAX];
    char *body = NULL;
    size_t len = 0;
    int rc, bad;

    for (int i = 0; i < h->n; i++)
        use[i] = 1;
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
                 ? cs_hub_merge_metrics(cs__hub_param(p, "series"), h->peers, f, use, h->n, &body,
                                        &len)
                 : cs_hub_merge_series(h->peers, f, use, h->n, &body, &len);
        rep->status = 200;
        rep->body = body;
        rep->len = len;
    }
    rep->ctype = "application/json";
    cs_hub_fetch_free(f, h->n);
    return rc;
}
