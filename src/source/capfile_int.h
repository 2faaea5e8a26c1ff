/*
 * capfile_int.h - what capfile.c shares with the file source
 * (source_file.c) and nobody else.
 *
 * cs__capfile_next_buffered() is cs_capfile_next() restricted to the bytes
 * already in the reader's buffer: it never refills (which would move or
 * overwrite the buffer), so every packet of a batch stays valid until the
 * batch is released. It returns 1 (packet), 0 (end of file), a negative
 * CS_E* code, or CS__CAPFILE_REFILL when the next record needs a refill.
 */
#ifndef CS_SOURCE_CAPFILE_INT_H
#define CS_SOURCE_CAPFILE_INT_H

#include "source/capfile.h"

#define CS__CAPFILE_REFILL 2

int cs__capfile_next_buffered(cs_capfile *f, cs_packet *pkt);

#endif
