/*
 * log.c - writes "capstream: <level>: <message>" lines to standard error.
 *
 * Each line is formatted into a local buffer and written with one fputs, so
 * lines from different threads do not interleave mid-line.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

bool cs_log_quiet;

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "capstream: %s", level);

    if (n < 0 || (size_t)n >= sizeof(buf))
        return;
    vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    fputs(buf, stderr);
    fputc('\n', stderr);
}

void cs_log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line("error: ", fmt, ap);
    va_end(ap);
}

void cs_log_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line("warning: ", fmt, ap);
    va_end(ap);
}

void cs_log_info(const char *fmt, ...)
{
    va_list ap;

    if (cs_log_quiet)
        return;
    va_start(ap, fmt);
    log_line("", fmt, ap);
    va_end(ap);
}
