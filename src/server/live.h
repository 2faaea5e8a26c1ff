/*
 * live.h - state shared between the daemon's threads and the HTTP server:
 * the capture status, the latest Prometheus text and a ring of live events
 * for Server-Sent Events.
 *
 * Threading: every function is thread-safe (one mutex and one condition
 * variable). Publishing never blocks on readers: the event ring is bounded
 * (CS_LIVE_RING events) and a reader that falls behind skips the events
 * that were overwritten (cs_live_next() tells how many).
 *
 * Ownership: everything passed in is copied during the call; everything
 * handed out is the caller's (copied out, or cs_malloc'ed where said).
 */
#ifndef CS_SERVER_LIVE_H
#define CS_SERVER_LIVE_H

#include "export/chexport.h"
#include "packet/timeref.h"

#include <stddef.h>
#include <stdint.h>

#define CS_LIVE_RING 1024            /* events kept for slow readers */
#define CS_LIVE_EVENT_MAX (64 << 10) /* longer JSON is not published */
#define CS_LIVE_TYPE_MAX 16          /* "metrics", "measurement", "alert" */

typedef struct cs_live cs_live;

int cs_live_new(cs_live **out);
void cs_live_free(cs_live *l);

typedef struct cs_live_status {
    const char *version;
    int64_t started_ns;      /* uptime = now - started */
    char sources[256];       /* e.g. "iface eth0 (tap 0), eth1 (tap 1)" or "file x.pcap" */
    uint64_t packets, bytes; /* captured */
    uint64_t kernel_drops, not_stored, not_analysed; /* packet drops per kind */
    uint64_t records_not_stored;                     /* messages, measurements and unmatched reports
                                                        analysed but not written to the store (the
                                                        disk was behind: cs_pipeline_stats) */
    uint64_t windows_not_stored, alerts_not_stored;  /* metrics windows and alert events
                                                        a full disk kept out of the store */
    uint64_t messages, measurements;
    uint64_t hw_ts_missing;   /* frames without the NIC stamp asked for */
    cs_timeref_stats timeref; /* what a trailer time source gave (packet/timeref.h) */
    int capturing;            /* 1 while capturing, 0 when done (file finished) */
    int exporting;            /* --export: "exp" is its progress */
    cs_chexport_stats exp;
} cs_live_status;

/* Copies "st" ("version" must be a string that outlives "l", e.g. a literal). */
void cs_live_set_status(cs_live *l, const cs_live_status *st);
void cs_live_get_status(cs_live *l, cs_live_status *st);

/* Stores the Prometheus text rendered by cs_prom_render() (copied). */
void cs_live_set_prometheus(cs_live *l, const char *text, size_t len);

/* A cs_malloc'ed, NUL-terminated copy of the Prometheus text into "*text"
 * ("*len" bytes); CS_ENOTFOUND if none was set yet, CS_ENOMEM. */
int cs_live_get_prometheus(cs_live *l, char **text, size_t *len);

/* Publishes one event: "type" is "metrics", "measurement" or "alert", "json"
 * one JSON object of "len" bytes (copied). Never blocks on readers; an
 * event with an empty or too long type or JSON is dropped. */
void cs_live_publish(cs_live *l, const char *type, const char *json, size_t len);

/* One event as a reader sees it. */
typedef struct cs_live_event {
    uint64_t seq; /* 1, 2, 3... in publish order */
    char type[CS_LIVE_TYPE_MAX];
    char *json; /* cs_malloc'ed, NUL-terminated; the caller frees it */
    size_t len;
} cs_live_event;

/* A reader starts: returns the sequence number the next published event
 * will get, where it starts (it sees only events published after it
 * started). Each begin is matched by one cs_live_reader_end. */
uint64_t cs_live_reader_begin(cs_live *l);
void cs_live_reader_end(cs_live *l);

/* Is a reader connected? With none, an event published now is seen by
 * nobody, so a publisher may skip formatting it. */
int cs_live_has_readers(cs_live *l);

/*
 * Takes the event at "*cursor" (or the oldest one still kept, if readers
 * fell behind: "*skipped" (may be NULL) gets how many were lost) and moves
 * "*cursor" past it. Waits up to "timeout_ms" for one. Returns 1 with an
 * event, 0 on timeout, CS_ENOMEM.
 */
int cs_live_next(cs_live *l, uint64_t *cursor, int timeout_ms, cs_live_event *ev,
                 uint64_t *skipped);

#endif
