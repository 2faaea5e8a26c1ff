/*
 * msgstore_int.h - message store internals shared with its tests and fuzz
 * harness: the record framing (see the layout table in msgstore.c).
 *
 *   record:  +0 u32 n   +4 u64 cs__msgstore_frame_check(payload, n)   +12 payload
 */
#ifndef CS_STORE_MSGSTORE_INT_H
#define CS_STORE_MSGSTORE_INT_H

#include <stddef.h>
#include <stdint.h>

#define CS__MSG_MAGIC_LEN 8         /* file magic, "csmsg01\n" ... */
#define CS__MSG_FRAME_HDR 12        /* u32 length + u64 checksum */
#define CS__MSG_MIN_PAYLOAD 8       /* shorter records are corrupt (zero fill) */
#define CS__MSG_REC_MAX (16u << 20) /* longer records are corrupt */

/* The checksum of a record payload "p" of "n" bytes. */
uint64_t cs__msgstore_frame_check(const uint8_t *p, size_t n);

#endif
