/* tests/unit/tmpstore.c - a throw-away store directory for the unit tests:
 * mkdtemp makes it unique, the marker file "capstream.store" makes the
 * message and metric readers take it for a store, and nftw removes it,
 * depth first, whatever the test wrote below it. */
#include "tmpstore.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int cs_test_store_make(char *dir)
{
    char marker[4096];
    FILE *fp;

    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(marker, sizeof(marker), "%s/capstream.store", dir);
    if ((fp = fopen(marker, "w")) == NULL) {
        cs_test_rmtree(dir);
        return -1;
    }
    fputs("capstream store\n", fp);
    return fclose(fp) == 0 ? 0 : (cs_test_rmtree(dir), -1);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int cs_test_rmtree(const char *dir)
{
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
