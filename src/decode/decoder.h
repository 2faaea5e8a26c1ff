/*
 * decoder.h - the plug-in interface of application-protocol decoders.
 *
 * A decoder is a folder src/decode/<name>/ and one `const cs_decoder
 * cs_decoder_<name>` with designated initializers, named by one X(name) in
 * src/decode/registry.c (Fluent Bit's plugin structs, Suricata's
 * AppLayerParser). Nothing else names a protocol: the CLI's help and
 * errors, /api/v1/status and the web UI read the registry's lists.
 *
 * The callbacks and their contracts:
 *   probe(data, len, dir)   pure; looks at a direction's first bytes: YES,
 *                           NO, or NEED_MORE (ports then decide).
 *   state_new(flow, opts)   one state per flow, born knowing the flow's
 *                           identity (endpoints, VLANs, tap) and the user's
 *                           options for this decoder (--decoder-opt
 *                           NAME.KEY=VALUE, keys listed in .options, plus
 *                           "ports"); both borrowed for the call; NULL =
 *                           out of memory.
 *   parse(state, ctx, in)   returns the bytes consumed (<= in.len); reports
 *                           messages and sequence gaps through "ctx" only,
 *                           from inside the call.
 *   gap(state, dir)         bytes of "dir" were lost: resynchronise.
 *   state_free(state)       releases the state (never NULL here).
 *
 * How the flow layer drives a decoder (one state per connection / UDP flow):
 *
 *   state = dec->state_new(&flow, &opts);
 *   for each in-order chunk of one direction's byte stream (TCP), or each
 *   datagram (UDP, flag CS_IN_DATAGRAM):
 *       consumed = dec->parse(state, ctx, &in);
 *       -> the decoder calls cs_decode_emit(ctx, &msg) for every complete
 *          message it finds in in.data[0 .. consumed); that calls the
 *          emit callback of the ctx (cs_decode_ops), never a symbol
 *          resolved at link time
 *       -> bytes in.data[consumed ..] are offered again on the next call,
 *          followed by the new bytes (the flow layer keeps them); "needed"
 *          in cs_decode_input may be set by the decoder to say how many bytes
 *          in total it needs before the next call is worth making (0 = any)
 *       -> a decoder of a sequence-numbered stream calls
 *          cs_decode_seq_gap(ctx, &gap) when numbers are missing, and
 *          cs_decode_seq_seen(ctx, &span) for the numbers a packet carried
 *          (what tells whether another flow filled a gap)
 *   on lost bytes (TCP gap): dec->gap(state, dir) - forget partial state of
 *       that direction and resynchronise at the next message boundary
 *   at the end of a direction (FIN/RST/end of input): parse() once more with
 *       CS_IN_EOF set (possibly len 0), so bodies delimited by close end
 *   dec->state_free(state);
 *
 * The types a message is made of (cs_str, cs_kv, cs_endpoints, cs_role and
 * the CS_MSG_* flags) belong to the record model, record/fields.h, which
 * this header includes.
 *
 * Zero copy: in.data is borrowed for the duration of the call only. Fields
 * given to cs_decode_emit() may point into in.data or into the decoder's
 * state; they are copied by the flow layer during the emit call.
 *
 * Errors: any message may carry an error reason ("error": a DNS rcode, an
 * HTTP 5xx, a FIX reject), which metrics, alerts and Prometheus count per
 * protocol. Message ids are the flow layer's (record/message.h): unique
 * for any number of messages starting in one packet, the same when stored
 * packets are analysed again.
 *
 * Timestamps and packets: a decoder never sees packets. It reports where a
 * message lies in in.data (start, len); the flow layer maps those stream
 * bytes to the capture time of the packet carrying the first byte and to the
 * refs of every stored packet that carried its bytes.
 *
 * Correlation (what pairing makes of a message; src/analytics/pairing.h):
 *   open     role REQ with a "key" and a "match": a request waits;
 *   close    role RESP with the same "match", from the other direction of
 *            the same flow: the oldest waiting request is answered, its
 *            measurement made;
 *   attach   CS_MSG_CONTINUATION (a zone transfer's later messages: counted
 *            on the measurement, held while CS_MSG_MORE says more come) or
 *            CS_MSG_LIFECYCLE on a request already answered (a FIX order's
 *            later execution reports: the measurement went out with the
 *            first; the request stays while CS_MSG_MORE says its lifecycle
 *            goes on): never an orphan response;
 *   close and rename  "closes" names the match of an earlier request whose
 *            lifecycle this message ends, while it answers its own (a FIX
 *            replace: the order's old ClOrdID ends, the new one goes on).
 *   race     role SIGHTING with a "match": one copy of a message that is sent
 *            on several flows (the A and B feeds of a market data session
 *            carry the same packets). The first copy seen at a tap waits;
 *            the first copy with the same pair and match on another flow
 *            at that tap makes the measurement (request = the earlier copy,
 *            latency = the later copy's lead); further copies on the
 *            waiting flow change nothing. A copy that no other flow
 *            matches within the analyzer's sighting window (a feed without
 *            a twin, a packet lost on the other feed) ends quietly: it is
 *            counted, never an unmatched report.
 *   hop      every request and sighting with a non-empty "key", whatever
 *            its decoder, once the analyzer has seen two taps: the first
 *            copy seen at a tap waits; the first copy with the same key
 *            and route (source and destination as sent, neither tap nor
 *            VLANs) at another tap makes a measurement of pair CS_PAIR_HOP,
 *            "hop" (request = the earlier copy, its tap and the later
 *            copy's in the measurement); further copies at the waiting
 *            tap change nothing; one left alone within the analyzer's hop
 *            window is counted, never an unmatched report. This is on top
 *            of the message's own pairing above, which it does not change.
 * Scope ("scope"): CS_SCOPE_FLOW (the default) matches within one flow, the
 * opposite direction; CS_SCOPE_SESSION within one connection seen at any
 * capture point (tap and VLANs left out: analytics/pairing.h); CS_SCOPE_ANY
 * matches by pair and match alone, across flows (a request and its
 * response carry the same scope); sightings are always matched across the
 * flows of one tap; hops across taps. A user turns a decoder's
 * CS_SCOPE_FLOW into CS_SCOPE_SESSION with its option "scope=session"
 * (every decoder accepts it, as "ports").
 *
 * Messages with a body that follows (HTTP): a decoder that emits a message
 * once its head is complete and consumes the body as it comes marks it
 * CS_PART_HEAD, then emits the body's bytes as CS_PART_BODY parts (any
 * number, over as many parse() calls as needed) and a CS_PART_END part
 * (its bytes, possibly none, are the body's last). The flow layer holds
 * the message until its end and adds the packets of every part to its refs
 * (and the last part's time as its last_ts_ns), so that the message names
 * every packet of head and body; only then is it delivered and paired. A
 * held message is also delivered, as it is, at a gap, at the end of its
 * direction, when its direction emits another message, and when the other
 * direction emits a response (a request answered before its body ended).
 * Parts other than CS_PART_HEAD carry only start and len.
 */
#ifndef CS_DECODE_DECODER_H
#define CS_DECODE_DECODER_H

#include "record/fields.h"

#include <stddef.h>
#include <stdint.h>

enum {
    CS_TRANSPORT_TCP = 1u << 0,
    CS_TRANSPORT_UDP = 1u << 1,
};

enum {
    CS_IN_DATAGRAM = 1u << 0,  /* in.data is one whole UDP payload */
    CS_IN_EOF = 1u << 1,       /* no more bytes will come in this direction */
    CS_IN_MIDSTREAM = 1u << 2, /* the connection was picked up without its start */
};

typedef enum cs_probe {
    CS_PROBE_NO = 0,
    CS_PROBE_YES = 1,
    CS_PROBE_NEED_MORE = 2,
} cs_probe;

/* Where a response's request is looked for (cs_msg_out.scope). */
enum {
    CS_SCOPE_FLOW = 0,    /* the same flow, the opposite direction */
    CS_SCOPE_SESSION = 1, /* the same connection at any tap, the opposite direction */
    CS_SCOPE_ANY = 2,     /* anywhere: by pair and match alone, any flow */
    CS_SCOPE_TAP = 3,     /* any flow of the same tap (sightings: CS_ROLE_SIGHTING) */
};

enum {
    CS_PART_WHOLE = 0, /* a whole message */
    CS_PART_HEAD = 1,  /* a message whose body follows in BODY/END parts */
    CS_PART_BODY = 2,  /* bytes of the body of the held message */
    CS_PART_END = 3,   /* the last bytes (or none) of the held message's body */
};

typedef struct cs_msg_out {
    cs_str type;         /* short message type: FIX MsgType ("D", "8"), "request"/
                            "response" for HTTP, "query"/"response" for DNS */
    size_t start;        /* offset of the first byte of the message in in.data */
    size_t len;          /* message length in bytes */
    uint32_t flags;      /* CS_MSG_* */
    cs_role role;        /* request, response or neither */
    const char *pair;    /* pair name ("fix", "http", "dns") if role != NONE */
    cs_str match;        /* what a response must share with its request, within
                            the same flow and the opposite direction; empty =
                            first pending request of the flow (FIFO, HTTP) */
    cs_str key;          /* measurement key, on requests ("ClOrdID",
                            "METHOD URI", "ID QNAME"); a response without
                            one is stored with its match as its key, so a
                            search by key finds it too (analyzer_stream.c) */
    const cs_kv *fields; /* decoded fields, in wire order */
    size_t n_fields;
    uint8_t part;      /* CS_PART_* (0: a whole message) */
    uint8_t scope;     /* CS_SCOPE_*: where its request or response is looked for */
    cs_str closes;     /* response: also ends the lifecycle of the request whose match
                          is this (a FIX replace or cancel names the order it ends
                          in OrigClOrdID(41)); empty = none */
    cs_str error;      /* why the message reports an error, any protocol (a DNS rcode,
                          an HTTP 5xx status, a FIX reject); empty = not an error.
                          Metrics, alerts and Prometheus count errors per protocol
                          from it. Borrowed like the fields */
    const char *proto; /* proto of the message if not the decoder's name (a payload decoder's:
                          "itch"); NULL = the decoder's */
    cs_str instrument; /* with CS_MSG_TICK or CS_MSG_NEW_ORDER: the instrument it is
                          about (an ITCH stock by its locate, an order's symbol).
                          Borrowed like the fields */
} cs_msg_out;

/*
 * Options a user set for one decoder (`--decoder-opt NAME.KEY=VALUE`,
 * repeatable), parsed once by cs_decoder_optset_add() into one set for all
 * decoders; a decoder sees its own through cs_decoder_opt_get(). Keys a
 * decoder accepts are listed in its "options"; every decoder also accepts
 * "ports" (a comma-separated list that replaces its well-known ports in
 * dispatch), so a decoder can be bound to the ports a venue uses, and
 * "scope" ("flow", the default, or "session": its requests and responses
 * are matched within one connection whatever the capture point).
 */
#define CS_DECODER_OPTS_MAX 64
#define CS_DECODER_OPT_KEY_MAX 32
#define CS_DECODER_OPT_VAL_MAX 256

typedef struct cs_decoder cs_decoder;

typedef struct cs_decoder_optset {
    struct {
        const cs_decoder *dec;
        char key[CS_DECODER_OPT_KEY_MAX];
        char val[CS_DECODER_OPT_VAL_MAX];
    } opt[CS_DECODER_OPTS_MAX];
    size_t n;
} cs_decoder_optset;

/* The options of one decoder: a view of a set (both borrowed). */
typedef struct cs_decoder_opts {
    const cs_decoder_optset *set; /* NULL: none set */
    const cs_decoder *dec;
} cs_decoder_opts;

typedef struct cs_decode_input {
    uint8_t dir;         /* 0: from the flow's initiator (client), 1: from the responder */
    uint32_t flags;      /* CS_IN_* */
    const uint8_t *data; /* borrowed for the call */
    size_t len;
    size_t needed; /* out: total bytes wanted before the next call (0 = any) */
} cs_decode_input;

/*
 * The context of one parse() call, owned by whoever drives the decoder (the
 * flow layer, a unit test, a fuzz harness), each defining struct
 * cs_decode_ctx as it needs. Its one rule: the struct begins with a
 * "const cs_decode_ops *" naming the callbacks a decoder reaches through
 * it, so a decoder calls back the driver that called it, and no symbol is
 * defined at link time for decoders to call.
 */
typedef struct cs_decode_ctx cs_decode_ctx;

/*
 * A sequence gap: numbers missing in a sequence-numbered message stream (a
 * MoldUDP64 session, SoupBinTCP sequenced data), as its decoder saw it on
 * one flow: "stream" names it (a MoldUDP64 session id), "first" is the
 * first missing number and "count" how many are missing. Reported from
 * inside parse(); "stream" is borrowed for the call.
 */
typedef struct cs_seq_gap {
    cs_str stream;
    uint64_t first;
    uint64_t count;
} cs_seq_gap;

/*
 * Numbers a packet of a sequence-numbered stream carried: "first" and the
 * "count" after it, on the flow and direction being parsed; "retransmission"
 * when the packet answers a request or repeats numbers its direction
 * already had. Reported from inside parse(); "stream" is borrowed.
 */
typedef struct cs_seq_span {
    cs_str stream;
    uint64_t first;
    uint64_t count;
    uint8_t retransmission;
} cs_seq_span;

typedef struct cs_decode_ops {
    /* Takes one message (or body part) the decoder completed, from inside
     * parse() only; "m" and what it points to are borrowed for the call. */
    void (*emit)(cs_decode_ctx *ctx, const cs_msg_out *m);
    /* Takes a sequence gap the decoder found (may be NULL: not wanted). */
    void (*seq_gap)(cs_decode_ctx *ctx, const cs_seq_gap *g);
    /* Takes the numbers a packet carried (may be NULL: not wanted). */
    void (*seq_seen)(cs_decode_ctx *ctx, const cs_seq_span *s);
} cs_decode_ops;

/* The callbacks of "ctx": the first member of every struct cs_decode_ctx. */
static inline const cs_decode_ops *cs_decode_ctx_ops(cs_decode_ctx *ctx)
{
    return *(const cs_decode_ops *const *)(void *)ctx;
}

/* Called by a decoder from inside parse() for each message it completes. */
static inline void cs_decode_emit(cs_decode_ctx *ctx, const cs_msg_out *m)
{
    cs_decode_ctx_ops(ctx)->emit(ctx, m);
}

/* Called by a decoder from inside parse() when numbers of a sequenced
 * stream are missing. */
static inline void cs_decode_seq_gap(cs_decode_ctx *ctx, const cs_seq_gap *g)
{
    const cs_decode_ops *ops = cs_decode_ctx_ops(ctx);

    if (ops->seq_gap != NULL)
        ops->seq_gap(ctx, g);
}

/* Called by a decoder from inside parse() for the numbers of a sequenced
 * stream that a packet carried. */
static inline void cs_decode_seq_seen(cs_decode_ctx *ctx, const cs_seq_span *s)
{
    const cs_decode_ops *ops = cs_decode_ctx_ops(ctx);

    if (ops->seq_seen != NULL)
        ops->seq_seen(ctx, s);
}

struct cs_decoder {
    const char *name;      /* "fix": also the proto name of its messages */
    uint32_t transports;   /* CS_TRANSPORT_* */
    const uint16_t *ports; /* well-known ports, 0-terminated (may be NULL) */
    /* Looks at the first bytes a direction sent; YES if it is this protocol. */
    cs_probe (*probe)(const uint8_t *data, size_t len, uint8_t dir);
    /* Keys of --decoder-opt this decoder reads besides "ports", NULL-
     * terminated (may be NULL): others are refused when parsed. */
    const char *const *options;
    /* The pair names its messages use, NULL-terminated ("fix"): the list
     * users pick measurements by (cs_pairs_names). */
    const char *const *pairs;
    /* The state of one flow, born knowing the flow ("flow": its endpoints,
     * VLANs and tap) and the user's options for this decoder ("opts", never
     * NULL, possibly empty); both are borrowed for the call. NULL if out
     * of memory (the flow then goes undecoded). */
    void *(*state_new)(const cs_endpoints *flow, const cs_decoder_opts *opts);
    void (*state_free)(void *state);
    size_t (*parse)(void *state, cs_decode_ctx *ctx, cs_decode_input *in);
    void (*gap)(void *state, uint8_t dir);
};

/* The pair of hop measurements (see "hop" above): made by the analyzer of
 * any decoder's requests and sightings, so no decoder lists it in its
 * "pairs"; cs_pairs_names lists it after theirs. */
#define CS_PAIR_HOP "hop"

/* The registry (src/decode/registry.c): every decoder, NULL-terminated. */
extern const cs_decoder *const cs_decoders[];

/* Writes the names of every decoder of the registry ("fix, http, dns"
 * with "sep" ", "), or of every pair name they use followed by
 * CS_PAIR_HOP, into "buf" (size "cap", truncated if short); returns buf. */
const char *cs_decoders_names(const char *sep, char *buf, size_t cap);
const char *cs_pairs_names(const char *sep, char *buf, size_t cap);

/* Finds a decoder by name, or NULL. */
const cs_decoder *cs_decoder_find(const char *name);

/*
 * Parses a --decoders list: "all", "none", or names separated by commas
 * ("fix,http"). Fills "out" (room for CS_DECODERS_MAX + 1 entries) with the
 * chosen decoders, NULL-terminated. CS_EINVAL (with detail naming the
 * unknown decoder) on anything else.
 */
#define CS_DECODERS_MAX 32
int cs_decoders_parse(const char *list, const cs_decoder **out);

/*
 * Adds "arg" ("NAME.KEY=VALUE", NAME a decoder of the registry, KEY "ports"
 * or one of its "options") to "set"; a later value of the same key replaces
 * the earlier one. CS_EINVAL with detail on a malformed argument, an
 * unknown decoder or key, a bad "ports" list or "scope", or a full set.
 */
int cs_decoder_optset_add(cs_decoder_optset *set, const char *arg);

/* The value the user set for "key" of the decoder of "opts", or NULL. */
const char *cs_decoder_opt_get(const cs_decoder_opts *opts, const char *key);

/*
 * Reads the "ports" option of "opts" into "ports" (room for "cap" entries,
 * 0-terminated). Returns the number of ports, 0 if the option is not set.
 */
size_t cs_decoder_opt_ports(const cs_decoder_opts *opts, uint16_t *ports, size_t cap);

/* The "scope" option of "opts": CS_SCOPE_SESSION if set to "session", else
 * CS_SCOPE_FLOW. */
uint8_t cs_decoder_opt_scope(const cs_decoder_opts *opts);

#endif
