/*
 * batch.c - the batch passes of ingest and reanalyze (see batch.h).
 *
 * Ingest, for every packet: read (source/capfile.c) -> the single pass
 * (engine/pipeline.c): dissect once, append to the store's open segment
 * (which files it in the index), and analyse it: flows, TCP reassembly,
 * decoders, pairing, with messages and measurements written next to the
 * packets (store/msgstore.h). Whatever stops the pass, the pipeline is
 * finished and the store finished and closed, in that order, so every
 * complete packet before a fault is stored and indexed. Nothing already
 * in the store is touched: an ingest only ever adds new segments (and,
 * with a budget, retention deletes the oldest). A full disk is such a
 * fault: the store keeps what reached the disk, cut back to complete
 * records and indexed (store.h, cs_store_finish), and "fin" gives the
 * count the store itself reports as written, never the count read.
 *
 * Reanalyze reads the packets of every segment that holds packets in the
 * range in store (capture) order, with their refs, through the same
 * pipeline minus the packet store; the pipeline replaces the message
 * store's records of those segments when it finishes, so running it twice
 * changes nothing, and after an ingest without decoders it yields what a
 * full ingest would have (same packets, same order, same refs, so the same
 * messages, measurements and ids). Work is per whole segment.
 *
 * With an export (cfg.exp), its thread sends the message store's records
 * to ClickHouse while the pass writes them (export/chexport.h), and once
 * the store is closed sends the rest; reanalysed segments' records are
 * sent again (the same rows, merged away; new ones added).
 */
#include "engine/batch.h"

#include "core/error.h"
#include "source/capfile.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- export ----------------------------------------------------------- */

/* Opens and starts the export (none without "xc"); the store is open. */
static int export_begin(const cs_chexport_cfg *xc, const char *dir, cs_chexport **out)
{
    cs_chexport_cfg c;
    int rc;

    *out = NULL;
    if (xc == NULL)
        return 0;
    c = *xc;
    c.store_dir = dir;
    if (c.max_delay_ms == 0)
        c.max_delay_ms = CS_BATCH_EXPORT_DELAY_MS;
    if ((rc = cs_chexport_open(&c, out)) == 0 && (rc = cs_chexport_start(*out)) < 0) {
        cs_chexport_close(*out);
        *out = NULL;
    }
    return rc;
}

/* The store is closed, every record in it: the export sends the rest. */
static void export_end(cs_chexport *x, cs_batch_export *r)
{
    if (x == NULL)
        return;
    r->ran = 1;
    r->complete = cs_chexport_finish(x, CS_BATCH_EXPORT_DRAIN_MS, &r->st) == 0;
}

/* ---- ingest ----------------------------------------------------------- */

static void count_packet(cs_ingest_result *r, const cs_packet *p)
{
    if (r->packets == 0 || p->ts_ns < r->min_ts)
        r->min_ts = p->ts_ns;
    if (r->packets == 0 || p->ts_ns > r->max_ts)
        r->max_ts = p->ts_ns;
    r->packets++;
    r->bytes += p->caplen;
}

/* Reads every packet of "f" through the pipeline, storing them in "s".
 * 0 at a clean end of file; an error when the store's disk is full. */
static int ingest_loop(const cs_ingest_cfg *cfg, cs_capfile *f, cs_pipeline *pl, cs_store *s,
                       cs_ingest_result *r)
{
    const char *full;
    cs_packet p;
    int rc;

    while ((rc = cs_capfile_next(f, &p)) == 1) {
        if ((rc = cs_pipeline_packet(pl, &p)) < 0)
            break;
        count_packet(r, &p);
        if ((full = cs_store_full(s)) != NULL) {
            rc = cs_error_set(CS_EIO, "the store's disk is full: %s", full);
            break;
        }
        if ((r->packets & 0xfff) == 0 && cfg->progress)
            cfg->progress(cfg->ud, cs_capfile_offset(f), cs_capfile_size(f), r->packets);
    }
    return rc;
}

/* Closes the store, writing its last indexes; "r->fin": what it stored. */
static int ingest_close_store(cs_store *s, int rc, cs_ingest_result *r)
{
    int rc2 = cs_store_finish(s); /* writes the last index even after a read error */

    cs_store_info_get(s, &r->fin);
    if (rc == 0 && rc2 < 0) {
        rc = rc2;
        snprintf(r->why, sizeof(r->why), "%s", cs_error_msg(rc));
    }
    if (rc == 0 && r->fin.lost_packets > 0) {
        rc = CS_EIO;
        snprintf(r->why, sizeof(r->why),
                 "%" PRIu64 " packets were lost to a failed write (disk full)",
                 r->fin.lost_packets);
    }
    rc2 = cs_store_close(s);
    if (rc == 0 && rc2 < 0) {
        rc = rc2;
        snprintf(r->why, sizeof(r->why), "%s", cs_error_msg(rc));
    }
    return rc;
}

static int ingest_pass(const cs_ingest_cfg *cfg, cs_capfile *f, cs_store *s, cs_ingest_result *r)
{
    cs_pipeline_cfg pc = {.store = s,
                          .store_dir = cfg->dir,
                          .decoders = cfg->decoders,
                          .limits = cfg->limits,
                          .decoder_opts = cfg->decoder_opts,
                          .tap_by_vlan = cfg->tap_by_vlan,
                          .timeref = cfg->timeref,
                          .workers = cfg->workers};
    cs_pipeline *pl = NULL;
    int rc, rc2;

    if ((rc = cs_pipeline_new(&pc, &pl)) == 0)
        rc = ingest_loop(cfg, f, pl, s, r);
    if (rc < 0) /* keep the reader's detail: closing may record others */
        snprintf(r->why, sizeof(r->why), "%s", cs_error_msg(rc));
    if (pl != NULL) {
        rc2 = cs_pipeline_finish(pl, &r->ps);
        cs_pipeline_free(pl);
        if (rc == 0 && rc2 < 0) {
            rc = rc2;
            snprintf(r->why, sizeof(r->why), "storing messages: %s", cs_error_msg(rc));
        }
    }
    return ingest_close_store(s, rc, r);
}

int cs_ingest(const cs_ingest_cfg *cfg, cs_ingest_result *res)
{
    cs_capfile *f = NULL;
    cs_store *s = NULL;
    cs_chexport *x = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = cs_capfile_open(cfg->file, &f)) < 0)
        return rc;
    if ((rc = cs_store_open(cfg->dir, &cfg->so, &s)) < 0 ||
        (rc = export_begin(cfg->exp, cfg->dir, &x)) < 0) {
        cs_store_close(s);
        cs_capfile_close(f);
        return rc;
    }
    res->ran = 1;
    cs_store_info_get(s, &res->before);
    rc = ingest_pass(cfg, f, s, res);
    cs_capfile_close(f);
    export_end(x, &res->exp);
    return rc;
}

/* ---- reanalyze -------------------------------------------------------- */

static int feed_packet(void *ud, const cs_packet *p, cs_pktref ref)
{
    return cs_pipeline_stored_packet(ud, p, ref) != 0;
}

static int reanalyze_pass(const cs_reanalyze_cfg *cfg, cs_store *s, cs_reanalyze_result *r)
{
    cs_pipeline_cfg pc = {.store_dir = cfg->dir,
                          .decoders = cfg->decoders,
                          .decoder_opts = cfg->decoder_opts,
                          .tap_by_vlan = cfg->tap_by_vlan,
                          .timeref = cfg->timeref,
                          .workers = cfg->workers,
                          .replace_first_seg = r->first_seg,
                          .replace_last_seg = r->last_seg};
    cs_pipeline *pl;
    int rc, rc2;

    if ((rc = cs_pipeline_new(&pc, &pl)) < 0)
        return rc;
    rc = cs_store_scan(s, r->first_seg, r->last_seg, feed_packet, pl);
    rc2 = cs_pipeline_finish(pl, &r->ps);
    cs_pipeline_free(pl);
    return rc < 0 ? rc : rc2;
}

int cs_reanalyze(const cs_reanalyze_cfg *cfg, cs_reanalyze_result *res)
{
    cs_store_opts so = {.flags = CS_STORE_WRITE};
    cs_store *s = NULL;
    cs_chexport *x = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = cs_store_open(cfg->dir, &so, &s)) < 0)
        return rc;
    if ((rc = export_begin(cfg->exp, cfg->dir, &x)) < 0) {
        cs_store_close(s);
        return rc;
    }
    cs_store_segments_in_range(s, cfg->after, cfg->before, &res->first_seg, &res->last_seg);
    rc = res->first_seg == 0 ? 0 : reanalyze_pass(cfg, s, res);
    cs_store_close(s);
    export_end(x, &res->exp);
    return rc;
}
