/*
 * cursorfile.h - the text files export cursors live in (store/msgtail.c,
 * store/mettail.c): a magic first line, then one line per file of the
 * store, read back whole and replaced atomically.
 *
 * Replacing writes PATH.new, fsyncs it, renames it over PATH and fsyncs
 * the directory, so after a crash PATH is the old cursor or the new one,
 * never a mix: a position is durable only once replace returned 0.
 */
#ifndef CS_STORE_CURSORFILE_H
#define CS_STORE_CURSORFILE_H

#include <stdio.h>

/* Reads "path": 0 if it does not exist (nothing sent yet); CS_ECORRUPT
 * ("what" names the kind of cursor) if its first line is not "magic" or
 * "line" refuses a line (returns < 0; CS_ENOMEM is passed on). */
int cs__cursorfile_load(const char *path, const char *magic, const char *what,
                        int (*line)(void *ud, const char *text), void *ud);

/* Replaces "path" by "magic" and what "body" writes, durably. */
int cs__cursorfile_replace(const char *path, const char *magic,
                           void (*body)(FILE *f, const void *ud), const void *ud);

#endif
