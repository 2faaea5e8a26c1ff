/*
 * itch.h - Nasdaq TotalView-ITCH 5.0 message parsing, as a library the
 * transports that carry ITCH (MoldUDP64, SoupBinTCP) call on each message
 * block, and the registry entry `itch` (a payload decoder: no transports of
 * its own; enabling or disabling it in --decoders says whether the
 * transports' payload is decoded). See itch.c for the fields it reports.
 *
 * Ownership: a cs_itch is one stream's instrument state (stock locate ->
 * symbol, live order reference -> symbol), owned by the transport's flow
 * state, used by one thread. A cs_itch_out is the caller's (usually on its
 * stack or in its state); the fields it holds point into its text and into
 * the message bytes, valid until the next call or until those bytes go.
 */
#ifndef CS_DECODE_ITCH_ITCH_H
#define CS_DECODE_ITCH_ITCH_H

#include "decode/decoder.h"

#include <stddef.h>
#include <stdint.h>

extern const cs_decoder cs_decoder_itch;

/* The proto name of ITCH messages (cs_msg_out.proto): lives forever. */
extern const char cs_itch_proto[];

#define CS_ITCH_PREFIX_MAX 8  /* fields a transport may put before ITCH's */
#define CS_ITCH_MAX_FIELDS 24 /* ITCH fields of one message, "stock" included */
#define CS_ITCH_TEXT 1024     /* rendered text of one message */

typedef struct cs_itch cs_itch;

typedef struct cs_itch_stats {
    uint64_t messages;      /* messages parsed, malformed and unknown included */
    uint64_t unknown_types; /* type byte not of ITCH 5.0 (skipped) */
    uint64_t bad_lengths;   /* length differs from its type's */
    uint64_t orders_live;   /* order references in the table now */
    uint64_t orders_full;   /* Add Orders not remembered: the table was full */
    uint64_t symbols_lost;  /* symbols not remembered: out of memory */
} cs_itch_stats;

/* One decoded message. Before cs_itch_decode(), "n_fields" fields may be
 * set by the transport (at most CS_ITCH_PREFIX_MAX); ITCH's follow them. */
typedef struct cs_itch_out {
    cs_str type;       /* "A", "R"...; "unknown" for a type ITCH 5.0 lacks */
    cs_str instrument; /* the symbol of its Stock Locate (an order event's: its
                          order's), by the stream's Stock Directory and Add Orders;
                          empty if unknown or locate 0. Points into the state: valid
                          until the next call */
    uint32_t flags;    /* CS_MSG_MALFORMED: bad length or unknown type */
    cs_kv fields[CS_ITCH_PREFIX_MAX + CS_ITCH_MAX_FIELDS];
    size_t n_fields; /* in: the transport's; out: + ITCH's */
    size_t text_used;
    char text[CS_ITCH_TEXT];
} cs_itch_out;

/* The largest number of live order references a table may hold. */
#define CS_ITCH_ORDERS_MAX (1u << 22)

/* A new, empty stream state remembering at most "max_orders" live orders
 * (0: 1 << 20; at most CS_ITCH_ORDERS_MAX); its order table starts small
 * and doubles as orders come. NULL if out of memory. */
cs_itch *cs_itch_new(size_t max_orders);
void cs_itch_free(cs_itch *st);

/* Forgets every symbol and order (a new session: a new trading day). */
void cs_itch_reset(cs_itch *st);

/*
 * Decodes the ITCH message "msg" (its "len" bytes, the block length of its
 * transport) into "out" (fields appended after the n_fields already there)
 * and updates the stream's maps from it. Never reads past msg + len.
 * "msg" must stay valid while "out" is used (the type points into it).
 * Returns 0 for a well-formed message, CS_ECORRUPT for one flagged
 * (its fields are those that fit; the maps are not touched).
 */
int cs_itch_decode(cs_itch *st, const uint8_t *msg, size_t len, cs_itch_out *out);

/* Starts loading the order-table slot the message "msg" (len bytes) will
 * use, so a transport can overlap that memory access with the decoding
 * of the message before it. Reads nothing past msg + len; no effect on
 * the state. */
void cs_itch_prefetch(const cs_itch *st, const uint8_t *msg, size_t len);

/* The exact length of ITCH 5.0 messages of type "type", 0 if not a type. */
size_t cs_itch_type_len(uint8_t type);

/* Writes "v" in decimal at buf (room for 20 bytes, not NUL-terminated);
 * returns its length. The fast formatter the transports share. */
size_t cs_itch_u64_text(char *buf, uint64_t v);

void cs_itch_stats_get(const cs_itch *st, cs_itch_stats *out);

#endif
