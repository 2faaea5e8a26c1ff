/*
 * cursorfile.c - export cursor files read and replaced (see cursorfile.h).
 *
 * Invariants: the old file is never opened for writing (a new one is
 * renamed over it); a line longer than LINE_MAX is a corrupt cursor, not
 * two lines.
 */
#include "store/cursorfile.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN 256

int cs__cursorfile_load(const char *path, const char *magic, const char *what,
                        int (*line)(void *ud, const char *text), void *ud)
{
    FILE *f = fopen(path, "r");
    char buf[LINE_MAX_LEN];
    size_t ml = strlen(magic);
    int rc = 0, lineno = 1;

    if (f == NULL)
        return errno == ENOENT ? 0 : cs_error_set(CS_EIO, "%s: %s", path, strerror(errno));
    if (fgets(buf, sizeof(buf), f) == NULL || strncmp(buf, magic, ml) != 0 || buf[ml] != '\n')
        rc = cs_error_set(CS_ECORRUPT, "%s: not a capstream %s", path, what);
    while (rc == 0 && fgets(buf, sizeof(buf), f) != NULL) {
        lineno++;
        if ((rc = line(ud, buf)) < 0 && rc != CS_ENOMEM)
            rc = cs_error_set(CS_ECORRUPT, "%s:%d: bad cursor line", path, lineno);
    }
    fclose(f);
    return rc;
}

static void sync_parent(const char *path)
{
    char dir[4096];
    char *slash;
    int fd;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        *slash = '\0';
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int write_new(const char *tmp, const char *magic, void (*body)(FILE *, const void *),
                     const void *ud)
{
    FILE *f = fopen(tmp, "w");
    int ok;

    if (f == NULL)
        return cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
    fprintf(f, "%s\n", magic);
    body(f, ud);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : cs_error_set(cs_error_from_errno(errno), "%s: %s", tmp, strerror(errno));
}

int cs__cursorfile_replace(const char *path, const char *magic,
                           void (*body)(FILE *f, const void *ud), const void *ud)
{
    char tmp[4096 + 8];
    int rc;

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    if ((rc = write_new(tmp, magic, body, ud)) < 0) {
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        rc = cs_error_set(cs_error_from_errno(errno), "%s: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    sync_parent(path);
    return 0;
}
