/*
 * tcp_reasm.h - TCP byte-stream reassembly for one connection (both halves).
 *
 * Turns the segments of a connection, in capture order, into each
 * direction's byte stream, delivered strictly in order through callbacks:
 *   data(dir, off, bytes)   new in-order bytes at stream offset "off"
 *   gap(dir, off, n)        "n" bytes at "off" will never come (loss at the tap)
 *   eof(dir)                no more bytes in this direction
 *
 * Sequence numbers are 32-bit and wrap; every comparison is modular
 * ((int32_t)(a - b)) and stream offsets are 64-bit counts from the first
 * byte after the SYN (or from the first byte seen, mid-stream). Bytes
 * already delivered are dropped (a partial overlap delivers only the new
 * tail); the first copy of a byte wins. Segments ahead of the next expected
 * byte are copied into a sorted, non-overlapping out-of-order list, bounded
 * (with the consumer's held bytes) by "max_buffer". A hole is declared lost
 * when the other direction ACKs beyond it, when the bound is exceeded, or
 * when the direction ends (FIN fully received, RST, cs_tcp_end()).
 *
 * Ownership: bytes passed to data() are borrowed for the call. The
 * out-of-order copies are owned by the cs_tcp_half and freed by
 * cs_tcp_release(). Allocation happens only for out-of-order segments.
 */
#ifndef CS_FLOW_TCP_REASM_H
#define CS_FLOW_TCP_REASM_H

#include "core/packet.h"

#include <stddef.h>
#include <stdint.h>

enum {
    CS_TCP_FIN = 0x01,
    CS_TCP_SYN = 0x02,
    CS_TCP_RST = 0x04,
    CS_TCP_ACK = 0x10,
};

typedef struct cs_tcp_ooo {
    struct cs_tcp_ooo *next;
    uint64_t off; /* stream offset of data[0] */
    uint32_t len;
    int64_t ts_ns; /* capture time of the packet that carried these bytes */
    cs_pktref ref;
    uint8_t data[];
} cs_tcp_ooo;

typedef struct cs_tcp_half {
    uint64_t next_off; /* stream offset of the next byte to deliver */
    uint32_t next_seq; /* its sequence number */
    uint32_t fin_seq;  /* sequence number of the FIN (if "fin") */
    uint8_t started;   /* next_seq is known */
    uint8_t midstream; /* picked up without its SYN */
    uint8_t fin;       /* a FIN was seen */
    uint8_t ended;     /* eof() was delivered */
    uint32_t ooo_bytes;
    cs_tcp_ooo *ooo; /* sorted by offset, non-overlapping */
} cs_tcp_half;

typedef struct cs_tcp_conn {
    cs_tcp_half half[2]; /* [0] from the initiator, [1] from the responder */
} cs_tcp_conn;

typedef struct cs_tcp_stats {
    uint64_t gaps, gap_bytes, retransmits, out_of_order, overflows;
} cs_tcp_stats;

typedef struct cs_tcp_ops {
    void *ud;
    void (*data)(void *ud, uint8_t dir, uint64_t off, const uint8_t *p, size_t n, int64_t ts_ns,
                 cs_pktref ref);
    void (*gap)(void *ud, uint8_t dir, uint64_t off, uint64_t n);
    void (*eof)(void *ud, uint8_t dir);
    /* Bytes the consumer holds for "dir" (counted against max_buffer); may be NULL. */
    size_t (*held)(void *ud, uint8_t dir);
} cs_tcp_ops;

typedef struct cs_tcp_env {
    const cs_tcp_ops *ops;
    cs_tcp_stats *st;
    uint32_t max_buffer; /* out-of-order + held bytes per direction */
} cs_tcp_env;

typedef struct cs_tcp_seg {
    uint8_t dir;   /* 0: from the initiator */
    uint8_t flags; /* CS_TCP_* */
    uint32_t seq, ack;
    const uint8_t *data; /* captured payload, borrowed */
    uint32_t len;        /* captured payload bytes */
    uint32_t wire_len;   /* payload bytes by the IP length (>= len; more if cut by snaplen) */
    int64_t ts_ns;
    cs_pktref ref;
} cs_tcp_seg;

/* Processes one segment: its ACK (loss proof for the other half), then its
 * bytes, then FIN/RST. */
void cs_tcp_segment(cs_tcp_conn *c, const cs_tcp_env *env, const cs_tcp_seg *s);

/* Ends direction "dir": declares the remaining holes lost, delivers what is
 * buffered, then eof(). Does nothing if it already ended. */
void cs_tcp_end(cs_tcp_conn *c, const cs_tcp_env *env, uint8_t dir);

/* Frees the out-of-order copies and zeroes the connection. */
void cs_tcp_release(cs_tcp_conn *c);

#endif
