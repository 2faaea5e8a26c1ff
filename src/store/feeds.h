/*
 * feeds.h - one summary per MoldUDP64 feed and tap: packets, ITCH
 * messages by type, gaps, A/B races and the busiest millisecond, as
 * `capstream feeds` and GET /api/v1/feeds print them (store/feeds.c).
 *
 * A feed is one direction of a MoldUDP64 flow at one tap, named by where
 * its datagrams go, "<dst ip>:<dst port>" (record/json.h cs_gap_feed):
 * the directions of several flows to one destination at one tap are one
 * feed. A direction that only sends re-requests is no feed.
 *
 * Use: cs_feeds_read() summarises what a store holds in a time range; the
 * aggregation underneath (cs_feeds_new, cs_feeds_add_*, cs_feeds_finish)
 * takes records one by one, for tests and for any other reader.
 *
 * Threading: a cs_feeds is used by one thread. Ownership: records passed
 * in are read during the call only; summaries belong to the cs_feeds and
 * live until cs_feeds_free().
 */
#ifndef CS_STORE_FEEDS_H
#define CS_STORE_FEEDS_H

#include "record/json.h"
#include "record/message.h"
#include "store/msgstore.h"

#include <stdint.h>
#include <stdio.h>

#define CS_FEED_SESSIONS_MAX 8 /* distinct sessions listed per feed; more are left out */
#define CS_FEED_SESSION_LEN 10 /* a MoldUDP64 session id */
#define CS_FEED_BUSY_WINDOW 64 /* ms behind a feed's newest message still counted */

/* One feed at one tap. Read-only to callers; complete after cs_feeds_finish(). */
typedef struct cs_feed_summary {
    uint16_t tap;
    char feed[CS_FEED_BUFLEN];                                   /* "<dst ip>:<dst port>" */
    char session[CS_FEED_SESSIONS_MAX][CS_FEED_SESSION_LEN + 1]; /* in the order first seen */
    uint32_t n_sessions;
    int retransmission;     /* every data packet carries retransmission=1 (and there is one):
                               the answers of a re-request server */
    uint64_t packets;       /* moldudp64 data, heartbeat and end_of_session messages */
    uint64_t data_packets;  /* of them data */
    uint64_t heartbeats;    /* of them heartbeat */
    uint64_t retrans_data;  /* data packets with retransmission=1 */
    uint64_t messages;      /* ITCH messages */
    uint64_t by_type[256];  /* ITCH messages by type letter */
    uint64_t unknown_types; /* ITCH messages of type "unknown" (a letter ITCH 5.0 lacks) */
    uint64_t gaps;          /* moldudp64 gap records */
    uint64_t messages_lost; /* the sum of their counts */
    uint64_t races;         /* A/B races (pair "ab") it won or lost */
    uint64_t races_won;     /* of them won: its copy came first */
    int has_lead;           /* races_won > 0: the lead percentiles below are set */
    int64_t lead_p50, lead_p99, lead_max; /* over the races won, nearest rank */
    int64_t busiest_ts_ns;                /* start of the whole ms with the most ITCH messages, the
                                             earliest of equals; set when messages > 0 */
    uint64_t busiest_messages;            /* ITCH messages in it */
    uint64_t busiest_late; /* ITCH messages more than CS_FEED_BUSY_WINDOW ms older than
                              the feed's newest when they were read: not in busiest */
} cs_feed_summary;

typedef struct cs_feeds cs_feeds;

int cs_feeds_new(cs_feeds **out);

/* Frees "fs" and its summaries (NULL is fine). */
void cs_feeds_free(cs_feeds *fs);

/* Counts one A/B race, a measurement of pair "ab" (others are ignored):
 * for the winner, the feed of its request (side b of "ms->ep"), and for
 * the feed that lost it once its response message is given to
 * cs_feeds_add_message(). Races go in before the messages. */
int cs_feeds_add_race(cs_feeds *fs, const cs_measurement *ms);

/* Counts one message: a moldudp64 packet message (type data, heartbeat or
 * end_of_session; requests are ignored) or an ITCH message; a sighting
 * that answered a race added before is the loser's side of that race.
 * Messages of other protocols are ignored. Messages of one feed come in
 * capture order, give or take CS_FEED_BUSY_WINDOW ms (store order is). */
int cs_feeds_add_message(cs_feeds *fs, const cs_message *m);

/* Counts one gap of proto moldudp64 (others are ignored). */
int cs_feeds_add_gap(cs_feeds *fs, const cs_gap *g);

/* Completes the summaries (lead percentiles, busiest ms) and sorts them by
 * tap, then destination address and port. Call once, last. */
void cs_feeds_finish(cs_feeds *fs);

size_t cs_feeds_count(const cs_feeds *fs);

/* The "i"-th summary (i < cs_feeds_count). */
const cs_feed_summary *cs_feeds_get(const cs_feeds *fs, size_t i);

/*
 * The feeds of the store read by "r" from its records with after <= t <
 * before (INT64_MIN / INT64_MAX: no bound), t being a message's or a gap's
 * ts_ns and a race's req_ts_ns (the loser's side of a race counts even if
 * its copy came after "before"). A finished cs_feeds into "*out", freed
 * with cs_feeds_free().
 */
int cs_feeds_read(cs_msgreader *r, int64_t after, int64_t before, cs_feeds **out);

/* One JSON object, no newline: tap, feed, session (array), retransmission,
 * packets, data_packets, heartbeats, messages, by_type (object: type ->
 * count, by type), gaps, messages_lost, races, races_won, won_share
 * (races_won / races to 4 decimals, 0 without races), lead_ns ({p50, p99,
 * max} or null), busiest_ms ({ts_ns, messages, and late when > 0} or null). */
void cs_feed_json(FILE *out, const cs_feed_summary *s);

#endif
