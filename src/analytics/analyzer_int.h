/*
 * analyzer_int.h - what the analyzer's files share (analyzer.c: flows, TCP
 * segments, the public API, sharding; analyzer_stream.c: a direction's
 * stream buffer, message ids, held messages, parse(); analyzer_dispatch.c:
 * the choice of a flow's decoder, reassembly's callbacks, UDP datagrams and
 * fragments). Not part of the module's interface: analyzer.h is.
 *
 * Invariants the files rely on: a->cur is the flow whose TCP segment is
 * being reassembled while tcp_reasm calls back; a stream's map covers its
 * buffer (map[0].off <= off, entries sorted by offset); a flow's dispatch
 * goes from PENDING to DECIDED or NONE, and to CLOSED when the flow ends;
 * only a new SYN on the same flow (a TCP restart) sets it back to PENDING.
 */
#ifndef CS_ANALYZER_INT_H
#define CS_ANALYZER_INT_H

#include "analytics/analyzer.h"
#include "analytics/anlog.h"
#include "analytics/pairing.h"
#include "analytics/t2t.h"
#include "flow/flowtable.h"
#include "flow/ipfrag.h"
#include "flow/tcp_reasm.h"

#define PROBE_MAX 256u
#define MAX_REPROBES 8u
#define RECENT_IDS 4u
#define MAX_PENDING (1u << 20)
#define FRAG_MAX 4096u
#define FRAG_TIMEOUT_NS (30ll * 1000000000ll)
#define SHRINK_ABOVE (64u * 1024u)
#define FALLBACK_ID_BIT (1ull << 63)
#define HELD_MAX_REFS (1u << 16) /* refs of one held message: 512 KiB */
#define OPT_PORTS_MAX 64u        /* ports one --decoder-opt NAME.ports may name */

enum { DISPATCH_PENDING = 0, DISPATCH_DECIDED, DISPATCH_NONE, DISPATCH_CLOSED };

/* Whether requests and sightings are offered to the hop pairing. */
enum {
    HOPS_START = 0, /* the first hop window of capture time: offered */
    HOPS_OFF,       /* one tap after that window: not offered */
    HOPS_ON,        /* a second tap seen: offered */
};

typedef struct mapent {
    uint64_t off;
    int64_t ts;
    cs_pktref ref;
} mapent;

/* A message whose body is still coming (see "Held messages" above). */
typedef struct heldmsg {
    cs_message m;   /* strings in "bytes", fields in "fields", refs in "refs" */
    uint32_t flags; /* the decoder's flags (CS_MSG_RETRY included: pairing) */
    cs_role role;
    const char *pair; /* in "bytes" */
    cs_str match;     /* in "bytes" */
    cs_str closes;    /* in "bytes" */
    uint8_t scope;
    char *bytes;
    size_t bytes_cap;
    cs_kv *fields;
    size_t fields_cap;
    cs_pktref *refs;
    size_t refs_cap;
    int active;
} heldmsg;

typedef struct stream {
    heldmsg *held; /* allocated on the first held message */
    uint8_t *buf;
    uint32_t len, cap;
    uint64_t off; /* stream offset of buf[0] */
    mapent *map;
    size_t n_map, map_cap;
    size_t needed;
    uint8_t eof;
    uint8_t recent_next;
    struct {
        cs_pktref ref;
        uint32_t k;
    } recent[RECENT_IDS];
} stream;

typedef struct aflow {
    cs_flow f; /* first: the flow table's part */
    cs_endpoints ep;
    uint8_t init_is_a; /* the initiator is canonical end a */
    uint8_t is_tcp;
    uint8_t dispatch;
    uint8_t reprobes;
    uint8_t has_syn;
    uint8_t scope; /* its decoder's "scope" option: what CS_SCOPE_FLOW becomes */
    uint32_t syn_seq;
    uint64_t last_seq; /* the sequence number of its latest packet (LRU order) */
    const cs_decoder *dec;
    void *state;
    cs_tcp_conn tcp;
    stream s[2];
} aflow;

struct cs_analyzer {
    cs_analyzer_cfg cfg;
    cs_sink sink;
    const cs_decoder **decs;
    size_t n_decs;
    uint16_t (*opt_ports)[OPT_PORTS_MAX + 1]; /* per decs[i]: its "ports" option, if
                                                 set (then it replaces d->ports) */
    uint8_t wk[2][8192];                      /* well-known port bitmaps: [0] TCP, [1] UDP */
    cs_flowtable *ft;
    cs_ipfrag *frag;
    cs_pairing *pair;
    cs_sink sight_sink;
    cs_t2t *t2t;
    cs_pairing *sight; /* sightings (A/B copies): their own window, no unmatched reports */
    cs_sink hop_sink;
    cs_pairing *hop; /* one message at two taps: its own window, no unmatched reports */
    uint8_t hops;    /* HOPS_* */
    uint16_t tap0;   /* the tap of the first packet */
    int64_t ts0;     /* the capture time of the first packet */
    cs_analyzer_stats st;
    cs_tcp_stats tcp_st;
    uint64_t stream_overflows;
    cs_tcp_ops tcp_ops;
    cs_tcp_env tcp_env;
    aflow *cur; /* the flow tcp_reasm callbacks refer to */
    cs_pktref *refs;
    size_t refs_cap;
    mapent *dmap; /* scratch map of a reassembled datagram */
    size_t dmap_cap;
    uint64_t fallback_ids;
    /* a flow analyzer of a sharded analysis (see "Sharded analysis"): */
    cs_an_log *log; /* its events go here instead of to the sink; NULL: not one */
    uint32_t shard; /* its index (ids of messages from packets not stored) */
    int log_rc;     /* the first failure to log an event */
    uint64_t seq;   /* the capture sequence number of the packet at hand */
    uint64_t order; /* what events made now are filed under (anlog.h) */
};

struct cs_decode_ctx {
    const cs_decode_ops *ops; /* first (decoder.h): &analyzer_decode_ops */
    cs_analyzer *a;
    aflow *fl;
    uint8_t dir;
    uint64_t base; /* stream offset of in.data[0] */
    size_t in_len;
    const mapent *map;
    size_t n_map;
};

static inline int cs__an_transport_index(uint8_t ip_proto)
{
    return ip_proto == 6 ? 0 : 1;
}

/* ---- analyzer_stream.c ------------------------------------------------ */

/* The decoders' callbacks (emit, seq_gap, seq_seen) into the analyzer. */
extern const cs_decode_ops cs__an_decode_ops;

/* Empties a direction's buffer and map (a big buffer is freed). */
void cs__an_stream_clear(stream *s);
/* Frees all a direction holds, its held message included. */
void cs__an_stream_release(stream *s);
/* Appends bytes at stream offset "off" that came in packet (ts, ref). */
int cs__an_stream_append(stream *s, uint64_t off, const uint8_t *p, size_t n, int64_t ts,
                         cs_pktref ref);
/* Parses what direction "dir" buffers, if it is enough (or at EOF). */
void cs__an_parse_buffered(cs_analyzer *a, aflow *fl, uint8_t dir, uint32_t flags);
/* New in-order bytes of a flow with a decoder: parsed, the rest buffered. */
void cs__an_stream_bytes(cs_analyzer *a, aflow *fl, uint8_t dir, uint64_t off, const uint8_t *p,
                         size_t n, int64_t ts, cs_pktref ref);
/* Delivers the message direction "dir" holds, if any. */
void cs__an_held_deliver(cs_analyzer *a, aflow *fl, uint8_t dir);
/* The cross-conversation half of a delivery: sink, pairings, tick-to-trade. */
void cs__an_deliver_now(cs_analyzer *a, cs_message *msg, const cs_an_corr *c, int t2t,
                        cs_str instrument);

/* ---- analyzer_dispatch.c ---------------------------------------------- */

/* Loads the configured decoders, their ports and the well-known bitmaps. */
int cs__an_load_decoders(cs_analyzer *a);
/* Whether a decoder serves transport "tidx" (0 TCP, 1 UDP). */
int cs__an_has_candidates(const cs_analyzer *a, int tidx);
/* Whether a loaded decoder of transport "tidx" lists "port". */
int cs__an_well_known(const cs_analyzer *a, int tidx, uint16_t port);
/* Reassembly's callbacks (data, gap, eof, held) for analyzer "a". */
cs_tcp_ops cs__an_tcp_ops(cs_analyzer *a);
/* A UDP payload (its map: the packets it came in) to the flow's decoder. */
void cs__an_udp_datagram(cs_analyzer *a, aflow *fl, uint8_t dir, const uint8_t *data, size_t len,
                         const mapent *map, size_t n_map);
/* An IP fragment of a UDP datagram: reassembled, then analysed. */
void cs__an_udp_fragment(cs_analyzer *a, const cs_packet *p, const cs_layers *l, cs_pktref ref);

/* ---- analyzer.c ------------------------------------------------------- */

/* The flow of packet "p" (created if new) and the packet's direction in it. */
aflow *cs__an_flow_get(cs_analyzer *a, const cs_packet *p, const cs_layers *l, uint16_t sport,
                       uint16_t dport, uint8_t *dir);

#endif
