/*
 * timeref.h - where a capture's packet times come from: the time source.
 *
 *   kernel            the capture's own stamp (the kernel's software time
 *                     live, whatever a file's records say): ts_ns as given
 *   hardware          the NIC's stamp; the live source asks the NIC for it
 *                     (source/afpacket.h) and the packet arrives with it in
 *                     ts_ns, so here it is "kernel" again; a NIC that
 *                     cannot is an error at start, unless "hardware,fallback"
 *                     (then its frames keep the kernel's stamp, counted)
 *   trailer:KIND      the time a tap aggregator wrote in a trailer at the
 *                     end of each Ethernet frame (packet/trailer.h): it
 *                     becomes ts_ns, the host's stamp moves to cap_ns
 *
 * cs_timeref_apply() runs on every packet after dissection and before the
 * store and the analysis see it, so both use the reference time: the store
 * files the packet under it (and keeps the host's stamp beside it), and
 * every latency, gap, race, hop, metrics window and time range is in it.
 * The packet's bytes are never changed: the trailer stays in the stored
 * frame, and the dissector ends the IP packet at its own length, so the
 * trailer never reaches a decoder.
 *
 * A frame without a usable trailer keeps the host's stamp as ts_ns and is
 * counted by why: no trailer, cut short (caplen < wirelen, or fewer bytes
 * after the IP packet than the trailer needs), a bad time (zero seconds,
 * nanoseconds >= 10^9), or a time further than max_skew_ns from the host's
 * stamp (a trailer of garbage that happens to parse, or a clock that is not
 * the host's at all). The packet is flagged CS_TREF_UNTIMED so the clock
 * series of its tap counts it too (analytics/metrics.h).
 *
 * Applying is idempotent: a packet that already carries cap_ns (read back
 * from the store, which keeps both times) keeps it, and its trailer gives
 * the same reference time again. The packet's CS_TREF_* flags (core/packet.h)
 * say what happened.
 *
 * With tap_by_trailer, analysis sees the trailer's (device, port) as tap
 * device * 256 + port (mod 65536): device 1 port 2 is tap 258. Device ids
 * above 255 share tap ids with lower ones; a frame without a trailer keeps
 * the source's tap.
 */
#ifndef CS_PACKET_TIMEREF_H
#define CS_PACKET_TIMEREF_H

#include "core/packet.h"
#include "packet/dissect.h"
#include "packet/trailer.h"

#include <stdint.h>

typedef enum cs_time_source {
    CS_TIME_KERNEL = 0,
    CS_TIME_HARDWARE = 1,
    CS_TIME_TRAILER = 2,
} cs_time_source;

#define CS_TIMEREF_DEFAULT_MAX_SKEW_NS (3600LL * 1000000000LL) /* one hour */

typedef struct cs_timeref_cfg {
    uint8_t source;         /* cs_time_source */
    uint8_t trailer;        /* cs_trailer_kind, for CS_TIME_TRAILER */
    uint8_t tap_by_trailer; /* --tap-by trailer */
    uint8_t hw_fallback;    /* "hardware,fallback" */
    int64_t max_skew_ns;    /* 0: CS_TIMEREF_DEFAULT_MAX_SKEW_NS */
} cs_timeref_cfg;

/* The time sources of a capture: one for every capture point, and one per
 * source tap (a live interface's index) where `run` names an interface
 * (--time-source eth1=trailer:metamako). */
#define CS_TIMEREF_TAPS 16
typedef struct cs_timerefs {
    cs_timeref_cfg all;
    cs_timeref_cfg tap[CS_TIMEREF_TAPS];
    uint8_t has_tap[CS_TIMEREF_TAPS];
} cs_timerefs;

/* The time source of packets from source tap "tap". */
const cs_timeref_cfg *cs_timerefs_for(const cs_timerefs *t, uint16_t tap);

/* Whether any capture point takes its time from a trailer. */
int cs_timerefs_trailer(const cs_timerefs *t);

/* Sets --tap-by trailer on every time source; CS_EINVAL (with a message)
 * when none of them is a trailer. */
int cs_timerefs_tap_by_trailer(cs_timerefs *t);

/* Why packets kept the host's time, and what the trailers said. */
typedef struct cs_timeref_stats {
    uint64_t timed;    /* packets whose time is a trailer's */
    uint64_t missing;  /* no trailer at the frame's end */
    uint64_t cut;      /* frame cut short before or inside its trailer */
    uint64_t bad_time; /* zero seconds or nanoseconds >= 10^9 */
    uint64_t far;      /* trailer time more than max_skew_ns from the host's */
    uint64_t unsynced; /* trailers saying their clock is not synchronised */
    uint64_t tap_over; /* --tap-by trailer: device id over 255, no tap of its own
                          (device x 256 + port must fit 16 bits); the source's kept */
} cs_timeref_stats;

/* Parses "kernel", "hardware", "hardware,fallback" or "trailer:KIND" (KIND as
 * cs_trailer_kind_parse) into cfg's source and trailer. 0, or CS_EINVAL
 * with a message naming what is accepted. */
int cs_timeref_parse(const char *s, cs_timeref_cfg *cfg);

/* The name cs_timeref_parse reads back ("trailer:metamako"), in "buf". */
const char *cs_timeref_name(const cs_timeref_cfg *cfg, char *buf, size_t size);

/* Gives "p" (dissected into "l") its reference time, sets p->tref and
 * counts into "st". With tap_by_trailer and a trailer, "*trailer_tap" is
 * set to the trailer's tap (else left alone): analysis uses it, the store
 * keeps the source's tap, as with --tap-by vlan. A device id over 255 has
 * no tap (device x 256 + port would wrap onto another device's): it is
 * counted in st->tap_over and "*trailer_tap" left alone. */
void cs_timeref_apply(const cs_timeref_cfg *cfg, cs_packet *p, const cs_layers *l,
                      uint16_t *trailer_tap, cs_timeref_stats *st);

/* Adds "b" to "a". */
void cs_timeref_stats_add(cs_timeref_stats *a, const cs_timeref_stats *b);

#endif
