/*
 * capfile.h - reading capture files: classic pcap and pcapng.
 *
 * A reader of its own, not libpcap's, because capstream needs what libpcap's
 * offline reader does not give: the pcapng interface of every packet (the
 * tap id), interfaces of different link types in one file, the exact byte
 * offset where a file is cut off, and reading at memory speed with no copy
 * per packet.
 *
 * Formats:
 *   - classic pcap: magic a1b2c3d4 (microsecond) or a1b23c4d (nanosecond),
 *     in either byte order; 24-byte file header, 16-byte record headers.
 *   - pcapng: SHB (either byte order, several sections), IDB with
 *     if_tsresol (power of 10 or of 2) and if_tsoffset, EPB, SPB and the
 *     obsolete PB; other blocks are skipped.
 * Timestamps become integer nanoseconds exactly (no floating point).
 *
 * Input: a path, or "-" for standard input (read sequentially, never
 * seeked). Bytes are read with large read() calls into a buffer owned by the
 * reader; a packet's "data" points into that buffer and is valid until the
 * next cs_capfile_next() or cs_capfile_close().
 *
 * Errors are reported, never crashed on:
 *   - not a capture file (bad magic)            -> CS_EFORMAT
 *   - file cut off inside a header or record     -> CS_ETRUNCATED, detail says
 *     the record number and byte offset of the cut; every complete packet
 *     before it was already returned
 *   - record length absurd (> 256 MiB, or caplen > wirelen in a way the
 *     format forbids, or caplen beyond the file's snap length by more than
 *     the format allows)                       -> CS_EBADRECORD, with offset
 *   - link type wider than 16 bits (reserved bits set in a classic pcap
 *     header)                                   -> CS_ELINKTYPE (only when a
 *     packet of that interface is returned; the reader goes on)
 * Packets of every other link type are returned, dissectable or not.
 */
#ifndef CS_SOURCE_CAPFILE_H
#define CS_SOURCE_CAPFILE_H

#include "core/packet.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs_capfile cs_capfile;

typedef enum cs_capfile_format {
    CS_CAPFILE_PCAP_US,
    CS_CAPFILE_PCAP_NS,
    CS_CAPFILE_PCAPNG,
} cs_capfile_format;

/* Opens "path" ("-" = stdin) and reads its file header. */
int cs_capfile_open(const char *path, cs_capfile **out);

/* Opens an in-memory capture (for tests and fuzzing); "buf" is borrowed and
 * must outlive the reader. */
int cs_capfile_open_mem(const void *buf, size_t len, cs_capfile **out);

/*
 * Returns the next packet in "*pkt": 1 if a packet was returned, 0 at a clean
 * end of file, or a negative CS_E* code (with detail). After an error the
 * reader returns the same error again.
 */
int cs_capfile_next(cs_capfile *f, cs_packet *pkt);

void cs_capfile_close(cs_capfile *f);

cs_capfile_format cs_capfile_get_format(const cs_capfile *f);

/* Snap length of the file (classic pcap) or of interface "tap" (pcapng). */
uint32_t cs_capfile_snaplen(const cs_capfile *f, uint16_t tap);

/* Bytes consumed from the input so far (for progress), and total size if
 * known (regular file), else 0. */
uint64_t cs_capfile_offset(const cs_capfile *f);
uint64_t cs_capfile_size(const cs_capfile *f);

/* Whether a capture's link type "linktype" fits a cs_packet (16 bits), so
 * its packets can be returned and stored. Every LINKTYPE_ value does;
 * whether capstream can also dissect them is packet/dissect.h's business. */
int cs_linktype_storable(uint32_t linktype);

#endif
