/*
 * pairing.h - matching responses to requests into latency measurements.
 *
 * A request waits in a table keyed by (pair name, flow id, request
 * direction, match bytes); requests with equal keys form a FIFO. With
 * CS_SCOPE_ANY (cs_pairing_correlate) flow and direction are left out of
 * the key: a response matches a request with its pair and match bytes
 * seen anywhere (tick-to-trade across flows). A response
 * in the opposite direction of the same flow takes the oldest pending
 * request with the same pair and match bytes (an empty match pairs with the
 * oldest pending request of that pair on the flow: HTTP pipelining), except
 * that a request flagged CS_MSG_RETRY replaces a pending one with its key
 * (a DNS client's retransmission: the response answers the newest copy,
 * as Wireshark's dns.time has it; the older copy is unanswered). Each
 * match becomes a cs_measurement given to sink->measurement (with the
 * response's first- and last-byte times); requests that
 * wait longer than "timeout_ns" of capture time, or are pushed out by the
 * "max_pending" bound, go to sink->unmatched(CS_UNMATCHED_REQUEST); responses
 * that find nothing go to sink->unmatched(CS_UNMATCHED_RESPONSE).
 *
 * Responses in several messages (a DNS zone transfer, flagged by its
 * decoder): a response flagged CS_MSG_MORE closes its request (latency and
 * resp_* times are its own) but the measurement is held, not yet given to
 * the sink; each later response flagged CS_MSG_CONTINUATION with the same
 * pair, flow, direction and match is attached to it (counted, the last one
 * named) instead of being an orphan, and the one without CS_MSG_MORE
 * releases the measurement to the sink. A held measurement also goes to
 * the sink when it times out, is pushed out by "max_pending" or at flush,
 * with what was attached by then. A continuation that finds no held
 * measurement is an orphan response.
 *
 * Lifecycles (a FIX order and its execution reports): a response flagged
 * CS_MSG_LIFECYCLE answers the oldest pending request with its match, as
 * any response, and its measurement goes to the sink at once (a live
 * dashboard must not wait for an order to end); with CS_MSG_MORE the
 * answered request stays in the table, so that the later events of its
 * lifecycle (a response flagged CS_MSG_LIFECYCLE finding no pending
 * request) are attached to it (counted in "attached"), never orphans,
 * until one without CS_MSG_MORE, a response naming it in "closes"
 * (cs_pairing_correlate: a replace or cancel), the timeout or the bound
 * ends it, quietly. A measurement given out keeps the attached counts it
 * had then (none, for a lifecycle).
 *
 * Sightings (CS_ROLE_SIGHTING, decoder.h): the first copy of a message at
 * a tap waits as a request keyed by pair, match and tap; the first copy on
 * another flow of that tap answers it (one measurement: request = the
 * earlier copy); a copy on the flow that waits is counted in "duplicates".
 *
 * One session at several capture points (CS_SCOPE_SESSION): requests and
 * responses are matched within one connection (addresses, ports, IP
 * version and protocol) whatever the tap and VLANs: a response takes the
 * oldest pending request of its match at its own tap, else the oldest at
 * any tap, so a capture point that sees one direction only (split Tx/Rx
 * monitor ports, asymmetric routes) still measures, and a capture point
 * that sees both directions measures on its own copies. When a request is
 * answered, the oldest copy with its match at each other tap is known to
 * be answered: if that tap never sees the response, it leaves quietly at
 * the timeout, counted in "duplicates", never an unmatched request.
 *
 * Hops (cs_pairing_hop): one message seen at several capture points (taps).
 * The first copy waits, keyed by pair, the message's key and its route:
 * source and destination as sent, without tap or VLANs (a flow id hashes
 * the tap, so it cannot be the key); the first copy with that key at
 * another tap answers it (one measurement, request = the copy with the
 * earlier capture time, resp_tap = the other's tap); a copy at the tap of
 * the one that waits is counted in "duplicates" and changes nothing.
 *
 * Ownership: a pending request keeps copies of its pair name, match, key,
 * type and refs (inline in its pool entry when small); its fields are not
 * kept (an unmatched request is reported without fields).
 */
#ifndef CS_ANALYTICS_PAIRING_H
#define CS_ANALYTICS_PAIRING_H

#include "analytics/analyzer.h"
#include "record/message.h"

#include <stdint.h>

typedef struct cs_pairing cs_pairing;

typedef struct cs_pairing_stats {
    uint64_t measurements;
    uint64_t unmatched_requests;  /* timed out, evicted or flushed */
    uint64_t unmatched_responses; /* found no request */
    uint64_t evicted;             /* requests pushed out by max_pending */
    uint64_t superseded;          /* requests replaced by a retry (CS_MSG_RETRY) */
    uint64_t duplicates;          /* sightings seen again on the flow that waits, hops
                                     seen again at the tap that waits, session-scope
                                     copies answered at another tap only */
    uint64_t attached;            /* responses attached to a measurement (CS_MSG_CONTINUATION) */
    uint64_t pending;             /* requests waiting now (held measurements included) */
} cs_pairing_stats;

int cs_pairing_new(uint32_t max_pending, int64_t timeout_ns, const cs_sink *sink, cs_pairing **out);
void cs_pairing_free(cs_pairing *p);

/* Offers message "m" (already given to sink->message) with its pair name and
 * match bytes: a request is kept, a response is matched. Role NONE is
 * ignored. */
void cs_pairing_add(cs_pairing *p, const cs_message *m, const char *pair, cs_str match);

/* cs_pairing_add() with a matching "scope" (decoder.h CS_SCOPE_*: the
 * flow, the session at any tap, or anywhere by pair and match), and when "closes" is not empty, a
 * response also ends the lifecycle of the request with match "closes" in
 * that scope (a replace or cancel ending the order it names): "m" is
 * attached to it and it leaves. */
void cs_pairing_correlate(cs_pairing *p, const cs_message *m, const char *pair, cs_str match,
                          cs_str closes, uint8_t scope);

/* Offers message "m" (already given to sink->message; a request or a
 * sighting with a key) as one sighting of itself at its tap, under "pair"
 * ("hop"): see "Hops" above. One left alone is reported, after the
 * timeout, as an unmatched request. */
void cs_pairing_hop(cs_pairing *p, const cs_message *m, const char *pair);

/* Reports and drops requests older than now_ns - timeout. */
void cs_pairing_expire(cs_pairing *p, int64_t now_ns);

/* Reports every pending request as unmatched and drops it. */
void cs_pairing_flush(cs_pairing *p);

void cs_pairing_stats_get(const cs_pairing *p, cs_pairing_stats *st);

#endif
