/* tests/unit/tmpstore.h - a throw-away store directory for the unit tests
 * (tmpstore.c, linked into every test program). */
#ifndef CS_TEST_TMPSTORE_H
#define CS_TEST_TMPSTORE_H

/* Makes a new directory from the mkdtemp template "dir" (rewritten in
 * place, e.g. "/tmp/test_x.XXXXXX") holding the marker file a store's
 * readers recognise ("capstream store"): 0, or -1 with nothing left. */
int cs_test_store_make(char *dir);

/* Removes "dir" and everything below it: 0, or -1. */
int cs_test_rmtree(const char *dir);

#endif
