/*
 * json.h - messages, measurements and gaps as JSON, the one text form the CLI,
 * the HTTP API and the live stream print (record/json.c), and the JSON
 * string escaping they share.
 *
 * It needs only the record model (record/message.h) and the packet layer's
 * address formatting, so every layer above the records prints them alike.
 */
#ifndef CS_RECORD_JSON_H
#define CS_RECORD_JSON_H

#include "record/message.h"

#include <stddef.h>
#include <stdio.h>

/* Writes bytes "p"[0..n) as a JSON string (quotes included): control bytes,
 * DEL and bytes that are not valid UTF-8 become \u00XX, so the output is
 * always valid JSON in UTF-8. */
void cs_msgstore_json_string(FILE *out, const char *p, size_t n);

/* "10.1.0.10:40000" or "[2001:db8::1]:80" for side 0 (a) or 1 (b) of "ep",
 * into "buf" (>= CS_EP_BUFLEN bytes); returns buf. */
#define CS_EP_BUFLEN 64
char *cs_endpoint_format(const cs_endpoints *ep, int side, char *buf);

/* One JSON object, no newline. Messages: id, proto, type, ts_ns,
 * last_ts_ns, flow (16 hex digits), dir, src, dst, role, key, len, flags
 * (names), error (the decoder's reason; absent when none), packets
 * ("seg:offset"), fields ([name, value] pairs in wire order).
 * Measurements: id, pair, key, req_msg, resp_msg, req_ts_ns, resp_ts_ns,
 * latency_ns, flow, tap (the request's), src, dst, resp_last_ts_ns,
 * attached; when attached > 0 attached_last_msg and attached_last_ts_ns;
 * resp_type when known; req_tap and resp_tap when the response was seen
 * at another tap (a hop); winner and lead_ns on pair "ab". Gaps: tap, feed
 * (UDP: the destination "ip:port" of the direction it was seen in; TCP:
 * the connection "ip:port-ip:port", initiator first), proto, session,
 * first_seq, count, ts_ns, recovered (bool), packet ("seg:offset" of the
 * packet that revealed it, as in a message's packets; null if not stored),
 * flow (16 hex digits). */
void cs_message_json(FILE *out, const cs_message *m);
void cs_measurement_json(FILE *out, const cs_measurement *ms);
void cs_gap_json(FILE *out, const cs_gap *g);

/* The feed of gap "g" (see cs_gap_json) into "buf" (>= CS_FEED_BUFLEN). */
#define CS_FEED_BUFLEN (2 * CS_EP_BUFLEN + 2)
char *cs_gap_feed(const cs_gap *g, char *buf);

#endif
