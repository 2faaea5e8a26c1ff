/*
 * error.h - capstream's error codes and the one place their messages live.
 *
 * Every function that can fail returns int: 0 on success or a negative
 * CS_E* code. The codes and their messages come from one X-macro list,
 * CS_ERRNO_MAP, so a code can never lack a message (libuv's UV_ERRNO_MAP).
 *
 * A failing function may also record a detail sentence ("capture cut off
 * inside record 12 at byte offset 4096") with cs_error_set(); the CLI prints
 * that detail, falling back to cs_strerror(). The detail is thread-local: one
 * thread's failure never overwrites another's message.
 */
#ifndef CS_CORE_ERROR_H
#define CS_CORE_ERROR_H

#define CS_ERRNO_MAP(X)                                                                            \
    X(NOMEM, "out of memory")                                                                      \
    X(IO, "input/output error")                                                                    \
    X(INVAL, "invalid argument")                                                                   \
    X(FORMAT, "not a capture file")                                                                \
    X(TRUNCATED, "capture file cut off")                                                           \
    X(BADRECORD, "bad capture record")                                                             \
    X(LINKTYPE, "unsupported link type")                                                           \
    X(FILTER, "bad filter")                                                                        \
    X(TIME, "bad time")                                                                            \
    X(NOTSTORE, "not a capstream store")                                                           \
    X(PERM, "permission denied")                                                                   \
    X(NOTFOUND, "not found")                                                                       \
    X(EXISTS, "already exists")                                                                    \
    X(BUSY, "resource busy")                                                                       \
    X(CORRUPT, "corrupt data")                                                                     \
    X(RANGE, "value out of range")                                                                 \
    X(LIMIT, "limit reached")                                                                      \
    X(UNSUPPORTED, "not supported")                                                                \
    X(NOSPACE, "no space left on device")

enum {
    CS_OK = 0,
    CS__ERR_BASE = -1000,
#define CS__ERR_ENUM(name, msg) CS_E##name,
    CS_ERRNO_MAP(CS__ERR_ENUM)
#undef CS__ERR_ENUM
        CS__ERR_END
};

/* The fixed message of code "err" ("unknown error" for codes not in the map). */
const char *cs_strerror(int err);

/* The symbolic name of "err", e.g. "CS_EFORMAT". */
const char *cs_errname(int err);

/*
 * Records a detail sentence for the current thread and returns "err", so a
 * caller can write `return cs_error_set(CS_EFORMAT, "%s: bad magic", path);`.
 */
int cs_error_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The detail recorded last on this thread, or cs_strerror(err) if none. */
const char *cs_error_msg(int err);

/* Forgets the current thread's detail. */
void cs_error_clear(void);

/* Maps an errno value to the closest CS_E* code. */
int cs_error_from_errno(int e);

#endif
