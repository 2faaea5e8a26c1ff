/*
 * trailer.h - timestamp trailers that tap aggregators append to Ethernet frames.
 *
 * A timestamping tap or aggregation switch appends a trailer after the frame
 * it forwards: the time the frame met the tap, and usually which device and
 * port it came in on. Reading it gives every capture point the same clock
 * (the tap's), whatever host captured the frame. cs_trailer_read() reads one
 * format, chosen by the caller: none of them carries a reliable magic
 * number, so the caller says which tap its capture comes from.
 *
 * Where the trailer is. The tap appends it to the frame as it was on the
 * wire, after any padding to the 60-byte minimum and (Metamako, Exablaze)
 * after the frame's original FCS; the capture holds no FCS of its own. So a
 * trailer lies in the "region" [start, caplen), where start is "ip_end"
 * (just past the IP packet), moved up to 60 when the frame is at least 60
 * bytes and the IP packet ends before that (the bytes between are Ethernet
 * padding, as tshark's Ethernet dissector assumes too). With "ip_end" 0 the
 * region is the whole frame. Metamako, Exablaze and Ixia trailers are read
 * backwards from the frame's end, so bytes before them in the region (more
 * padding, another device's trailer) are skipped; a VSS trailer has no
 * length of its own and must fill the region exactly.
 *
 * Formats (big-endian; offsets from the trailer's first byte):
 *
 *   Metamako / Arista 7130 MetaWatch, 16 bytes plus 4 per extension word:
 *     | orig FCS 4 | extension TLVs 4*n | seconds 4 | nanoseconds 4 |
 *     | flags 1 | device id 2 | port id 1 |
 *     flags: 0x01 the original FCS was valid, 0x02 extension TLVs are
 *     present, 0x10 the timestamp is degraded (the device's clock is not
 *     locked to its reference: read as "not synchronised", so sync_known is
 *     1 and synced is the bit's absence; Wireshark 4.2 and later name the
 *     bit "Timestamp degraded", metamako.flags.ts_degraded, while 4.0 shows
 *     it as reserved); the other bits are reserved. The TLVs are walked backwards from
 *     the word just before "seconds"; each ends in a header word whose low
 *     byte is | len 2b | last 1b | tag 5b | (bit 7..0), preceded by "len"
 *     data words (its upper 24 bits are inline data). Tag 0x1F is a
 *     secondary header: the data words are bits 15..6 + 1, the tag is
 *     extended by bits 31..16. The TLV with "last" set is the one next to
 *     the original FCS. The common forms are 16 bytes and 20 bytes (one
 *     TLV word, e.g. tag 0: a sequence number inline).
 *     Source: the "Metamako Trailer" description Metamako posted to
 *     tcpdump-workers (seclists.org/tcpdump/2018/q3/att-74/MetamakoTrailer.txt)
 *     and Wireshark's display-filter reference for "metamako"; the TLV
 *     framing from Wireshark's dissector; all checked against tshark 4.0.
 *
 *   Exablaze (ExaLINK Fusion), 16 bytes:
 *     | orig FCS 4 | device 1 | port 1 | seconds 4 | fraction 5 | reserved 1 |
 *     fraction: a 40-bit binary fraction of a second; ns = fraction * 10^9 /
 *     2^40, rounded down. No sync indication. Source: Wireshark's "exablaze"
 *     dissector and display-filter reference; checked against tshark 4.0.
 *
 *   Ixia (Keysight network visibility), 15 bytes:
 *     | source 1 | time length 1 (8) | seconds 4 | nanoseconds 4 |
 *     | trailer length 1 (10) | signature 2 (0xAF12) | checksum 2 |
 *     checksum: the Internet checksum (RFC 1071) of the 13 bytes before it.
 *     source: 3 local clock, 4 NTP, 5 GPS, 6 PTP (IEEE 1588), 7 holdover;
 *     NTP, GPS and PTP count as synchronised, local and holdover as not.
 *     A trailer whose signature, lengths or checksum do not match, or whose
 *     source is none of these, is ABSENT. No device or port. Source:
 *     Wireshark's "ixiatrailer" dissector; checked against tshark 4.0.
 *
 *   VSS Monitoring, 8 or 9 bytes:
 *     | seconds 4 | clock source 2b | nanoseconds 30b | [port 1] |
 *     clock source: 0 not synchronised, 1 NTP, 2 GPS, 3 PTP. No device.
 *     The region must be exactly 8 or 9 bytes; so "ip_end" 0 finds none.
 *     VSS's application note also names a 2-byte port stamp (10 bytes) and
 *     port stamps without a time; tshark 4.0 decodes neither, so neither is
 *     read here (ABSENT). Source: Wireshark's "vssmonitoring" dissector;
 *     checked against tshark 4.0.
 *
 * A capture that keeps the frame's FCS (4 more bytes after the trailer) is
 * not handled: tshark guesses between the two readings, this reader does not.
 *
 * Threading and ownership: pure functions; "frame" is only read, never kept.
 */
#ifndef CS_PACKET_TRAILER_H
#define CS_PACKET_TRAILER_H

#include <stdint.h>

typedef enum cs_trailer_kind {
    CS_TRAILER_NONE = 0,
    CS_TRAILER_METAMAKO, /* Arista 7130 / Metamako MetaWatch */
    CS_TRAILER_EXABLAZE,
    CS_TRAILER_IXIA,
    CS_TRAILER_VSS,
} cs_trailer_kind;

typedef enum cs_trailer_status {
    CS_TRAILER_OK = 0,
    CS_TRAILER_ABSENT,   /* no trailer of this kind at the frame's end */
    CS_TRAILER_CUT,      /* the frame is cut short (caplen < wirelen, or too few bytes after the IP
                            packet) */
    CS_TRAILER_BAD_TIME, /* zero seconds, or nanoseconds >= 10^9 */
} cs_trailer_status;

typedef struct cs_trailer {
    int64_t ts_ns;      /* time in the trailer, ns since the Unix epoch */
    uint16_t device;    /* source device id (0 where the format has none) */
    uint16_t port;      /* source port id */
    uint8_t sync_known; /* the format says whether its clock is synchronised */
    uint8_t synced;     /* ... and it is (valid when sync_known) */
    uint32_t len;       /* bytes of trailer at the end of the captured frame */
} cs_trailer;

/* "metamako", "exablaze", "ixia", "vss" -> kind; 0, or -1 for an unknown name */
int cs_trailer_kind_parse(const char *name, cs_trailer_kind *out);
const char *cs_trailer_kind_name(cs_trailer_kind kind);
/* Reads the trailer of "kind" at the end of an Ethernet frame of "caplen" captured bytes
 * ("wirelen" on the wire). "ip_end" is the offset just past the IP packet per its own
 * length header (0 when unknown): the bytes from there to caplen are where a trailer can be.
 * Never reads outside frame[0..caplen). Fills *out only on CS_TRAILER_OK. */
cs_trailer_status cs_trailer_read(cs_trailer_kind kind, const uint8_t *frame, uint32_t caplen,
                                  uint32_t wirelen, uint32_t ip_end, cs_trailer *out);

#endif
