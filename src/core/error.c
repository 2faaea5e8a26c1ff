/*
 * error.c - messages for CS_E* codes and the thread-local error detail.
 *
 * The detail buffer is a fixed thread-local array: recording an error never
 * allocates, so out-of-memory paths can report themselves.
 */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char error_detail[512];

const char *cs_strerror(int err)
{
    switch (err) {
    case CS_OK:
        return "success";
#define CS__ERR_MSG(name, msg)                                                                     \
    case CS_E##name:                                                                               \
        return msg;
        CS_ERRNO_MAP(CS__ERR_MSG)
#undef CS__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *cs_errname(int err)
{
    switch (err) {
    case CS_OK:
        return "CS_OK";
#define CS__ERR_NAME(name, msg)                                                                    \
    case CS_E##name:                                                                               \
        return "CS_E" #name;
        CS_ERRNO_MAP(CS__ERR_NAME)
#undef CS__ERR_NAME
    default:
        return "CS_EUNKNOWN";
    }
}

int cs_error_set(int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(error_detail, sizeof(error_detail), fmt, ap);
    va_end(ap);
    return err;
}

const char *cs_error_msg(int err)
{
    if (error_detail[0] != '\0')
        return error_detail;
    return cs_strerror(err);
}

void cs_error_clear(void)
{
    error_detail[0] = '\0';
}

int cs_error_from_errno(int e)
{
    switch (e) {
    case ENOMEM:
        return CS_ENOMEM;
    case EACCES:
    case EPERM:
    case EROFS:
        return CS_EPERM;
    case ENOENT:
    case ENOTDIR:
        return CS_ENOTFOUND;
    case EEXIST:
        return CS_EEXISTS;
    case EINVAL:
        return CS_EINVAL;
    case EBUSY:
    case EWOULDBLOCK:
        return CS_EBUSY;
    case ENOSPC:
    case EDQUOT:
        return CS_ENOSPACE;
    default:
        return CS_EIO;
    }
}
