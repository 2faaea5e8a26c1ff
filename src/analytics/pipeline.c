/*
 * pipeline.c - drives one packet through store and analysis (see
 * pipeline.h).
 *
 * The analyzer's sink writes straight into the message store. A failure
 * to store a message (disk full...) is remembered and reported by
 * cs_pipeline_finish(); it never stops packet storage or analysis, since
 * "analysis never waits on storage and storage never waits on analysis".
 */
#include "analytics/pipeline.h"

#include "core/alloc.h"
#include "core/error.h"
#include "flow/dissect.h"
#include "store/msgstore.h"

#include <string.h>

struct cs_pipeline {
    cs_pipeline_cfg cfg;
    cs_analyzer *an;
    cs_msgstore *ms;
    int sink_rc;
    cs_pipeline_stats st;
    const char *protos[CS_DECODERS_MAX + 1];
};

static void sink_message(void *ud, const cs_message *m)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->message)
        pl->cfg.observer->message(pl->cfg.observer->ud, m);
    if (pl->ms == NULL)
        return;
    rc = cs_msgstore_put_message(pl->ms, m);
    if (rc < 0 && pl->sink_rc == 0)
        pl->sink_rc = rc;
    else if (rc == 0)
        pl->st.messages_stored++;
}

static void sink_measurement(void *ud, const cs_measurement *ms)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->measurement)
        pl->cfg.observer->measurement(pl->cfg.observer->ud, ms);
    if (pl->ms == NULL)
        return;
    rc = cs_msgstore_put_measurement(pl->ms, ms);
    if (rc < 0 && pl->sink_rc == 0)
        pl->sink_rc = rc;
    else if (rc == 0)
        pl->st.measurements_stored++;
}

static void sink_unmatched(void *ud, const cs_message *m, int kind)
{
    cs_pipeline *pl = ud;
    int rc;

    if (pl->cfg.observer && pl->cfg.observer->unmatched)
        pl->cfg.observer->unmatched(pl->cfg.observer->ud, m, kind);
    if (pl->ms == NULL)
        return;
    rc = cs_msgstore_put_unmatched(pl->ms, m, kind);
    if (rc < 0 && pl->sink_rc == 0)
        pl->sink_rc = rc;
}

/* Reanalysis replaces only the records of the decoders that run. */
static int pipeline_replace_protos(cs_pipeline *pl)
{
    size_t n = 0;

    while (pl->cfg.decoders[n] != NULL && n < CS_DECODERS_MAX)
        n++;
    for (size_t i = 0; i < n; i++)
        pl->protos[i] = pl->cfg.decoders[i]->name;
    pl->protos[n] = NULL;
    return cs_msgstore_replace_protos(pl->ms, pl->protos);
}

static int pipeline_start_analysis(cs_pipeline *pl)
{
    cs_analyzer_cfg acfg;
    cs_sink sink = {pl, sink_message, sink_measurement, sink_unmatched};
    int rc;

    if (pl->cfg.store_dir != NULL) {
        if ((rc = cs_msgstore_open(pl->cfg.store_dir, &pl->ms)) < 0)
            return rc;
        if (pl->cfg.replace_first_seg != 0 &&
            ((rc = cs_msgstore_replace_range(pl->ms, pl->cfg.replace_first_seg,
                                             pl->cfg.replace_last_seg)) < 0 ||
             (rc = pipeline_replace_protos(pl)) < 0))
            return rc;
    }
    if (pl->cfg.limits)
        acfg = *pl->cfg.limits;
    else
        cs_analyzer_cfg_default(&acfg);
    acfg.decoders = pl->cfg.decoders;
    pl->st.analyzed = 1;
    return cs_analyzer_new(&acfg, &sink, &pl->an);
}

int cs_pipeline_new(const cs_pipeline_cfg *cfg, cs_pipeline **out)
{
    cs_pipeline *pl = cs_calloc(1, sizeof(*pl));
    int rc = 0;

    *out = NULL;
    if (pl == NULL)
        return CS_ENOMEM;
    pl->cfg = *cfg;
    if (cfg->decoders != NULL && cfg->decoders[0] != NULL)
        rc = pipeline_start_analysis(pl);
    if (rc < 0) {
        cs_pipeline_free(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

int cs_pipeline_stored_packet(cs_pipeline *pl, const cs_packet *p, cs_pktref ref)
{
    cs_layers l;

    cs_dissect(p, &l);
    pl->st.packets++;
    pl->st.bytes += p->caplen;
    if (pl->an)
        cs_analyzer_packet(pl->an, p, &l, ref);
    return 0;
}

int cs_pipeline_packet(cs_pipeline *pl, const cs_packet *p)
{
    cs_layers l;
    cs_pktref ref = 0;
    int rc;

    cs_dissect(p, &l);
    if (pl->cfg.store && (rc = cs_store_append(pl->cfg.store, p, &l, &ref)) < 0) {
        if (!(rc == CS_EBUSY && pl->cfg.lossy_store))
            return rc;
        pl->st.not_stored++;
        ref = 0;
    }
    pl->st.packets++;
    pl->st.bytes += p->caplen;
    if (pl->an)
        cs_analyzer_packet(pl->an, p, &l, ref);
    return 0;
}

void cs_pipeline_stats_peek(const cs_pipeline *pl, cs_pipeline_stats *st)
{
    *st = pl->st;
}

int cs_pipeline_flush(cs_pipeline *pl)
{
    return pl->ms ? cs_msgstore_flush(pl->ms) : 0;
}

int cs_pipeline_finish(cs_pipeline *pl, cs_pipeline_stats *st)
{
    int rc;

    if (pl->an) {
        cs_analyzer_finish(pl->an);
        cs_analyzer_stats_get(pl->an, &pl->st.analyzer);
    }
    if (pl->ms) {
        rc = cs_msgstore_close(pl->ms);
        pl->ms = NULL;
        if (rc < 0 && pl->sink_rc == 0)
            pl->sink_rc = rc;
    }
    if (st)
        *st = pl->st;
    return pl->sink_rc;
}

void cs_pipeline_free(cs_pipeline *pl)
{
    if (pl == NULL)
        return;
    if (pl->ms)
        cs_msgstore_close(pl->ms);
    cs_analyzer_free(pl->an);
    cs_free(pl);
}
