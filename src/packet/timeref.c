/*
 * timeref.c - the capture's time source applied to each packet (see
 * timeref.h for what each source means and what a packet keeps).
 *
 * For trailer:KIND the trailer is read from the end of the captured frame,
 * past the IP packet's own end (cs_layers.ip_end) when the dissector found
 * one. The reference time replaces ts_ns only when the trailer is whole,
 * its time valid and within max_skew_ns of the host's stamp; whatever
 * happens, the host's stamp survives in cap_ns (or in ts_ns, untouched).
 */
#include "packet/timeref.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

int cs_timeref_parse(const char *s, cs_timeref_cfg *cfg)
{
    cs_trailer_kind kind;

    if (strcmp(s, "kernel") == 0) {
        cfg->source = CS_TIME_KERNEL;
        return 0;
    }
    if (strcmp(s, "hardware") == 0 || strcmp(s, "hardware,fallback") == 0) {
        cfg->source = CS_TIME_HARDWARE;
        cfg->hw_fallback = s[8] == ',';
        return 0;
    }
    if (strncmp(s, "trailer:", 8) == 0 && cs_trailer_kind_parse(s + 8, &kind) == 0 &&
        kind != CS_TRAILER_NONE) {
        cfg->source = CS_TIME_TRAILER;
        cfg->trailer = (uint8_t)kind;
        return 0;
    }
    return cs_error_set(CS_EINVAL,
                        "unknown time source '%s' (kernel, hardware, hardware,fallback, "
                        "trailer:metamako, trailer:exablaze, trailer:ixia, trailer:vss)",
                        s);
}

const char *cs_timeref_name(const cs_timeref_cfg *cfg, char *buf, size_t size)
{
    if (cfg->source == CS_TIME_TRAILER)
        snprintf(buf, size, "trailer:%s", cs_trailer_kind_name((cs_trailer_kind)cfg->trailer));
    else
        snprintf(buf, size, "%s",
                 cfg->source != CS_TIME_HARDWARE ? "kernel"
                 : cfg->hw_fallback              ? "hardware,fallback"
                                                 : "hardware");
    return buf;
}

/* Counts why a frame has no reference time. */
static void count_untimed(cs_timeref_stats *st, cs_trailer_status why)
{
    switch (why) {
    case CS_TRAILER_CUT:
        st->cut++;
        break;
    case CS_TRAILER_BAD_TIME:
        st->bad_time++;
        break;
    case CS_TRAILER_ABSENT:
    default:
        st->missing++;
        break;
    }
}

/* Whether reference time "ref" is within the skew allowed of host time "host". */
static int near_enough(const cs_timeref_cfg *cfg, int64_t ref, int64_t host)
{
    int64_t max = cfg->max_skew_ns > 0 ? cfg->max_skew_ns : CS_TIMEREF_DEFAULT_MAX_SKEW_NS;
    int64_t d = ref - host;

    return d <= max && d >= -max;
}

void cs_timeref_apply(const cs_timeref_cfg *cfg, cs_packet *p, const cs_layers *l,
                      uint16_t *trailer_tap, cs_timeref_stats *st)
{
    int64_t host = cs_packet_cap_ns(p);
    cs_trailer_status why;
    cs_trailer tr;

    p->tref = 0;
    if (cfg->source != CS_TIME_TRAILER)
        return;
    why = p->linktype == CS_LINK_ETHERNET
              ? cs_trailer_read((cs_trailer_kind)cfg->trailer, p->data, p->caplen, p->wirelen,
                                (l->flags & CS_L_IP) ? l->ip_end : 0, &tr)
              : CS_TRAILER_ABSENT;
    if (why == CS_TRAILER_OK && !near_enough(cfg, tr.ts_ns, host)) {
        st->far++;
        p->tref = CS_TREF_UNTIMED;
        p->ts_ns = host;
        p->cap_ns = 0;
        return;
    }
    if (why != CS_TRAILER_OK) {
        count_untimed(st, why);
        p->tref = CS_TREF_UNTIMED;
        p->ts_ns = host;
        p->cap_ns = 0;
        return;
    }
    st->timed++;
    p->tref = CS_TREF_TRAILER;
    if (tr.sync_known && !tr.synced) {
        st->unsynced++;
        p->tref |= CS_TREF_UNSYNCED;
    }
    p->cap_ns = host;
    p->ts_ns = tr.ts_ns;
    if (cfg->tap_by_trailer && tr.device > UINT8_MAX)
        st->tap_over++;
    else if (cfg->tap_by_trailer)
        *trailer_tap = (uint16_t)((unsigned)tr.device * 256u + tr.port);
}

void cs_timeref_stats_add(cs_timeref_stats *a, const cs_timeref_stats *b)
{
    a->timed += b->timed;
    a->missing += b->missing;
    a->cut += b->cut;
    a->bad_time += b->bad_time;
    a->far += b->far;
    a->unsynced += b->unsynced;
    a->tap_over += b->tap_over;
}

const cs_timeref_cfg *cs_timerefs_for(const cs_timerefs *t, uint16_t tap)
{
    return tap < CS_TIMEREF_TAPS && t->has_tap[tap] ? &t->tap[tap] : &t->all;
}

int cs_timerefs_trailer(const cs_timerefs *t)
{
    int any = t->all.source == CS_TIME_TRAILER;

    for (int i = 0; i < CS_TIMEREF_TAPS; i++)
        any |= t->has_tap[i] && t->tap[i].source == CS_TIME_TRAILER;
    return any;
}

int cs_timerefs_tap_by_trailer(cs_timerefs *t)
{
    if (!cs_timerefs_trailer(t))
        return cs_error_set(CS_EINVAL, "--tap-by trailer needs --time-source trailer:KIND");
    t->all.tap_by_trailer = 1;
    for (int i = 0; i < CS_TIMEREF_TAPS; i++)
        t->tap[i].tap_by_trailer = 1;
    return 0;
}
