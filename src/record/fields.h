/*
 * fields.h - the record-level types every layer from the decoders up
 * shares: borrowed strings and name/value fields (cs_str, cs_kv), a flow's
 * endpoints (cs_endpoints), a message's role in a latency pair (cs_role)
 * and its flags (CS_MSG_*).
 *
 * They live in the record model, below the decoders that fill them and the
 * analysis and store that read them, so that a message (record/message.h)
 * is defined without naming the decoder interface (decode/decoder.h).
 *
 * Ownership: a cs_str borrows its bytes; who owns them, and for how long,
 * is said by the struct that holds it (a decoder's output is borrowed for
 * the emit call; a stored message's, for the reader's callback).
 */
#ifndef CS_RECORD_FIELDS_H
#define CS_RECORD_FIELDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_str {
    const char *p; /* borrowed; not NUL-terminated */
    size_t len;
} cs_str;

typedef struct cs_kv {
    cs_str name; /* "35", "method", "qname", "h.content-type" ... */
    cs_str val;
} cs_kv;

typedef enum cs_role {
    CS_ROLE_NONE = 0, /* not part of a latency pair (heartbeats, fills...) */
    CS_ROLE_REQ = 1,
    CS_ROLE_RESP = 2,
    CS_ROLE_SIGHTING = 3, /* one copy of a message sent on several flows (an A/B
                             feed's packet): the first copy at a tap is paired with
                             the first on another flow there (decode/decoder.h) */
} cs_role;

/* Message flags. */
enum {
    CS_MSG_BAD_CHECKSUM = 1u << 0, /* FIX CheckSum(10) mismatch */
    CS_MSG_BAD_LENGTH = 1u << 1,   /* FIX BodyLength(9) mismatch, bad chunk size... */
    CS_MSG_TRUNCATED = 1u << 2,    /* message cut short (gap, EOF) */
    CS_MSG_MALFORMED = 1u << 3,    /* parsed, but violates the spec */
    CS_MSG_RETRY = 1u << 4,        /* request: a repeat with the same key replaces it
                                      (a DNS client's retransmission: the response
                                      answers the newest; the older one is unanswered).
                                      A hint to pairing: messages are stored without it */
    CS_MSG_MORE = 1u << 5,         /* response: later responses continue it (a zone
                                      transfer in several messages); a hint to pairing */
    CS_MSG_CONTINUATION = 1u << 6, /* response: continues the previous response with
                                      the same match (attached to its measurement, not
                                      a new answer); a hint to pairing */
    CS_MSG_LIFECYCLE = 1u << 7,    /* response: an event of its request's lifecycle (a
                                      FIX ExecutionReport): it answers the request if
                                      nothing did yet, else it is attached to the
                                      request's held measurement; with CS_MSG_MORE
                                      more events follow. A hint to pairing */
    CS_MSG_TICK = 1u << 8,         /* market data about its instrument (an ITCH message):
                                      a candidate tick of tick-to-trade. A hint */
    CS_MSG_NEW_ORDER = 1u << 9,    /* a new order for its instrument (OUCH Enter Order,
                                      FIX NewOrderSingle): tick-to-trade ends here. A hint */
};

/* Flags that only guide pairing; messages are stored without them. */
#define CS_MSG_PAIRING_HINTS                                                                       \
    (CS_MSG_RETRY | CS_MSG_MORE | CS_MSG_CONTINUATION | CS_MSG_LIFECYCLE | CS_MSG_TICK |           \
     CS_MSG_NEW_ORDER)

/* A flow's identity, the endpoints as seen from its initiator (dir 0 =
 * a -> b): what a decoder's state is created with, and what messages and
 * measurements carry. */
typedef struct cs_endpoints {
    uint8_t ip_version;
    uint8_t ip_proto;
    uint16_t tap;
    uint16_t vlan[2];
    uint8_t n_vlan;
    uint16_t port_a, port_b;
    uint8_t addr_a[16], addr_b[16];
} cs_endpoints;

#endif
