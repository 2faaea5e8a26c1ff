/*
 * log.h - one-line diagnostics on standard error.
 *
 * Every message starts with "capstream: " so that it is recognisable in a
 * pipeline; errors say "error: ", warnings "warning: ". cs_log_quiet
 * silences info lines (not errors).
 */
#ifndef CS_CORE_LOG_H
#define CS_CORE_LOG_H

#include <stdbool.h>

extern bool cs_log_quiet;

void cs_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cs_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cs_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
