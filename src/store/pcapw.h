/*
 * pcapw.h - buffered writer of nanosecond pcap files.
 *
 * Writes the classic pcap format with the nanosecond magic (a1b23c4d, in
 * host = little-endian byte order), which tcpdump, tshark and Wireshark
 * read directly:
 *
 *   file header (24 bytes)            record header (16 bytes) + data
 *   +0  u32 magic a1b23c4d             +0  u32 ts seconds
 *   +4  u16 version major 2            +4  u32 ts nanoseconds
 *   +6  u16 version minor 4            +8  u32 caplen
 *   +8  i32 thiszone 0                 +12 u32 wirelen
 *   +12 u32 sigfigs 0                  +16 caplen bytes of packet
 *   +16 u32 snaplen
 *   +20 u32 link type
 *
 * Output is gathered in a buffer and written with large write() calls, in
 * place or by a background writer thread (core/aio.h); the writer tracks the byte offset of every
 * record it writes (the packet's place in a segment).
 */
#ifndef CS_STORE_PCAPW_H
#define CS_STORE_PCAPW_H

#include "core/aio.h"
#include "core/packet.h"

#include <stddef.h>
#include <stdint.h>

#define CS_PCAP_MAGIC_NS 0xa1b23c4du
#define CS_PCAP_FILEHDR 24
#define CS_PCAP_RECHDR 16
#define CS_PCAP_SNAPLEN 262144u

typedef struct cs_pcapw {
    int fd; /* not owned unless own_fd */
    int own_fd;
    cs_aio *aio;      /* background writer (NULL: write() in place) */
    int nonblock;     /* with aio: a record that would wait for a free buffer
                         is refused with CS_EBUSY instead (lossy live capture) */
    uint8_t *buf;     /* private */
    size_t cap, used; /* private */
    uint64_t offset;  /* read-only: bytes written or buffered so far */
} cs_pcapw;

/* Fills "hdr" (CS_PCAP_FILEHDR bytes) with the file header above. */
void cs_pcap_file_header(uint8_t *hdr, uint32_t linktype, uint32_t snaplen);

/* Starts a pcap on "fd" (writes the file header into the buffer). */
int cs_pcapw_init(cs_pcapw *w, int fd, int own_fd, uint32_t linktype, uint32_t snaplen,
                  size_t bufsize);

/* Like cs_pcapw_init, but full buffers go to the background writer "aio"
 * (buffers come from its pool); cs_pcapw_close waits for them. */
int cs_pcapw_init_aio(cs_pcapw *w, int fd, cs_aio *aio, uint32_t linktype, uint32_t snaplen);

/* Buffers one record; "*offset" (may be NULL) receives its byte offset. */
int cs_pcapw_put(cs_pcapw *w, const cs_packet *p, uint64_t *offset);

/* Buffers a record whose 16-byte header + data are already in pcap-ns form. */
int cs_pcapw_put_raw(cs_pcapw *w, const uint8_t *rec, size_t len);

/* Writes out what is buffered. */
int cs_pcapw_flush(cs_pcapw *w);

/* Like cs_pcapw_flush, but with a background writer never waits for a free
 * buffer: CS_EBUSY when none is free. */
int cs_pcapw_flush_nowait(cs_pcapw *w);

/* Bytes handed to the file (written, or queued to the background writer):
 * all but what is still in the buffer. */
static inline uint64_t cs_pcapw_handed(const cs_pcapw *w)
{
    return w->offset - w->used;
}

/* Flushes, frees the buffer and closes fd if owned. Returns the first error. */
int cs_pcapw_close(cs_pcapw *w);

/* With a background writer: hands what is buffered to it and closes the fd
 * from its thread after those writes (cs_aio_submit_close), without waiting.
 * Write errors surface at the writer's next cs_aio_sync. */
void cs_pcapw_close_nowait(cs_pcapw *w);

#endif
