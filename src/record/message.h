/*
 * message.h - decoded messages and latency measurements as records.
 *
 * A message is one decoded application message; a measurement is one
 * matched request/response pair. Both carry capture timestamps of the
 * packets they came from and, through the refs, the packets themselves.
 * A gap is a run of sequence numbers missing in a sequenced stream
 * (cs_gap below).
 *
 * Identity is derived from the data, so that analysing the same stored
 * packets again gives the same ids. A message id is 64 bits:
 *
 *   bits 63..40  segment of the packet carrying the message's first byte
 *   bits 39..8   a byte offset inside that packet's pcap record
 *   bits  7..0   k mod 256
 *
 * where k (0, 1, 2 ...) counts the messages starting in that packet and the
 * offset is the packet's own offset plus k / 256. The first 256 messages of
 * a packet are numbered (packet offset, k); the 257th on use the offsets
 * after it. They stay inside the packet's record (a 16-byte record header,
 * then its bytes): each message starts at a different byte of the packet,
 * so k < caplen and k / 256 < 16 + caplen. No packet starts inside another
 * one's record, so ids are unique for any number of messages in a packet.
 * An id with k < 256 is exactly (packet offset, k), so ids in existing
 * stores read the same. The packet of an id is the one whose record holds
 * its offset (for k < 256: the packet at that offset).
 *
 *   measurement id = the id of its request message.
 *
 * They are printed as "m<segment>.<offset>.<k mod 256>" and
 * "l<segment>.<offset>.<k mod 256>", the id's own three fields
 * (cs_id_format), so one `show ID` can tell which it is.
 */
#ifndef CS_RECORD_MESSAGE_H
#define CS_RECORD_MESSAGE_H

#include "core/packet.h"
#include "record/fields.h"

#include <stddef.h>
#include <stdint.h>

typedef uint64_t cs_msgid;

/* The id of the k-th message (from 0) starting in the stored packet "ref". */
static inline cs_msgid cs_msgid_make(cs_pktref ref, uint32_t k)
{
    uint64_t off = ((uint64_t)CS_PKTREF_OFF(ref) + (k >> 8)) & 0xffffffffu;

    return ((uint64_t)CS_PKTREF_SEG(ref) << 40) | (off << 8) | (k & 0xffu);
}

#define CS_MSGID(ref, k) cs_msgid_make((ref), (uint32_t)(k))
#define CS_MSGID_SEG(id) ((uint32_t)((id) >> 40))
#define CS_MSGID_OFF(id) ((uint32_t)((id) >> 8))
#define CS_MSGID_K(id) ((uint32_t)((id)&0xff))

/* cs_endpoints, a flow's identity, is defined in record/fields.h. */

typedef struct cs_message {
    cs_msgid id;
    const char *proto; /* decoder name */
    cs_str type;
    int64_t ts_ns;      /* capture time of the packet with the first byte */
    int64_t last_ts_ns; /* capture time of the packet with the last byte */
    uint64_t flow_id;   /* stable flow id (hash of tap + endpoints) */
    cs_endpoints ep;
    uint8_t dir;    /* 0: from initiator (ep a -> b), 1: b -> a */
    uint32_t flags; /* CS_MSG_* */
    cs_role role;
    cs_str key; /* what a search by key finds it by: a request's measurement
                   key, a keyless response's match (analyzer_stream.c); may be empty */
    const cs_kv *fields;
    size_t n_fields;
    const cs_pktref *refs; /* stored packets that carried its bytes, in order */
    size_t n_refs;
    uint32_t len; /* message bytes */
    cs_str error; /* the decoder's error reason; empty = not an error */
} cs_message;

/*
 * A measurement's times: req_ts_ns and resp_ts_ns are the capture times of
 * the packets carrying the first byte of the request and of the response
 * (latency_ns is their difference); resp_last_ts_ns is that of the packet
 * carrying the response's last byte, the packet that completes it (what
 * Wireshark's dns.time and http.time measure to). A response answered in
 * several messages (a DNS zone transfer) closes the measurement with its
 * first message; the later ones are attached: counted in "attached", the
 * last of them named with the capture time of its last byte. resp_type
 * names the answer (an OUCH Accepted or Rejected, a FIX "8" or "9").
 *
 * Taps: ep.tap is where the request was seen, resp_tap where its response
 * was. They are equal except for a measurement across capture points: a
 * hop (pair "hop": the same message seen at two taps, request = the
 * earlier sighting, response = the later one) or a match by key anywhere
 * (CS_SCOPE_ANY) that found its request at another tap. Whoever makes a
 * measurement sets resp_tap (to ep.tap when there is no other).
 */
typedef struct cs_measurement {
    cs_msgid id; /* == req_id */
    const char *pair;
    cs_str key;
    cs_msgid req_id, resp_id;
    int64_t req_ts_ns, resp_ts_ns;
    int64_t latency_ns; /* resp_ts_ns - req_ts_ns */
    uint64_t flow_id;
    cs_endpoints ep;
    int64_t resp_last_ts_ns;     /* the response's last byte */
    uint32_t attached;           /* later messages of the response attached */
    cs_msgid attached_last_id;   /* the last of them (0 if none) */
    int64_t attached_last_ts_ns; /* its last byte (0 if none) */
    cs_str resp_type;            /* the type of the message that answered ("accepted"),
                                    empty if not known; borrowed like the key */
    uint16_t resp_tap;           /* the tap of the response (ep.tap: the request's) */
} cs_measurement;

/*
 * A sequence gap as stored: numbers missing in a sequenced message stream
 * (decode/decoder.h cs_seq_gap) on one flow at one tap. Gaps are records of
 * the message store, in files of their own kind (gap-) beside the
 * messages', filed by the segment group of the packet that revealed them:
 * the same files-by-group layout, checksummed frames, torn-tail repair,
 * retention (a group's gaps go with its messages) and reanalysis
 * replacement as messages, with no second store to keep consistent.
 *
 * "recovered": every missing number was seen at the same tap on another
 * flow of the stream (the other feed of an A/B pair) or in a
 * retransmission (analytics/recovery.h decides, before the gap is
 * written). "arbitrated": the record is not one flow's gap but the
 * numbers two feeds of the stream both missed (an "abgap"), with the flow,
 * time and packet of the later of their two gaps.
 */
typedef struct cs_gap {
    const char *proto; /* the decoder's name */
    cs_str session;    /* the stream: a MoldUDP64 session id... */
    uint64_t first;    /* first missing sequence number */
    uint64_t count;    /* numbers missing */
    int64_t ts_ns;     /* capture time of the packet that revealed it */
    cs_pktref ref;     /* that packet (0: not stored) */
    uint64_t flow_id;
    cs_endpoints ep; /* the flow; ep.tap is the capture point */
    uint8_t dir;     /* the direction it was seen in (0: a -> b) */
    uint8_t recovered;
    uint8_t arbitrated;
} cs_gap;

/* Formats id as "m7.1234.0" (kind 'm') or "l7.1234.0" (kind 'l') into
 * "buf" (>= 40 bytes); returns buf. */
char *cs_id_format(char kind, uint64_t id, char *buf);

/* Parses "m7.1234.0" / "l7.1234.0": sets *kind and *id; 0 or CS_EINVAL. */
int cs_id_parse(const char *s, char *kind, uint64_t *id);

#endif
