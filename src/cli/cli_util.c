/*
 * cli_util.c - helpers shared by the subcommands: error printing, size and
 * time options, byte formatting, argument joining, the progress bar and
 * the decoder options of the daemon's config file.
 *
 * The progress bar is drawn on standard error only when it is a terminal,
 * at most ten times a second, and erased at the end, so piped and scripted
 * runs stay quiet.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "decode/decoder.h"
#include "engine/shards.h"
#include "packet/dissect.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cs_cli_fail(int rc)
{
    cs_log_error("%s", cs_error_msg(rc));
    return CS_EXIT_FAIL;
}

int cs_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cs_log_error("%s (see 'capstream %s --help')", buf, cmd);
    return CS_EXIT_USAGE;
}

/* A count from 1 to "max" for option "opt" of "cmd" into "*out". */
static int parse_count(const char *cmd, const char *opt, const char *s, unsigned long max,
                       uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 1 || v > max)
        return cs_cli_usage_error(cmd, "bad --%s '%s' (1 to %lu)", opt, s, max);
    *out = (uint32_t)v;
    return 0;
}

int cs_cli_parse_partitions(const char *cmd, const char *s, uint32_t *out)
{
    return parse_count(cmd, "partitions", s, CS_STORE_MAX_PARTITIONS, out);
}

int cs_cli_parse_workers(const char *cmd, const char *s, uint32_t *out)
{
    return parse_count(cmd, "workers", s, CS_WORKERS_MAX, out);
}

int cs_cli_parse_tap_by(const char *cmd, const char *s, int *by_vlan, int *by_trailer)
{
    if (strcmp(s, "vlan") == 0 || strcmp(s, "interface") == 0 || strcmp(s, "trailer") == 0) {
        *by_vlan = s[0] == 'v';
        *by_trailer = s[0] == 't';
        return 0;
    }
    return cs_cli_usage_error(cmd, "--tap-by is interface, vlan or trailer, not '%s'", s);
}

int cs_cli_parse_time_source(const char *cmd, const char *s, cs_timerefs *t)
{
    if (cs_timeref_parse(s, &t->all) < 0)
        return cs_cli_usage_error(cmd, "%s", cs_error_msg(CS_EINVAL));
    if (t->all.source == CS_TIME_HARDWARE && strcmp(cmd, "run") != 0)
        return cs_cli_usage_error(cmd, "--time-source hardware is for live capture (run -i); a "
                                       "file's stamps are whatever its capture wrote");
    return 0;
}

void cs_cli_timeref_summary(const cs_timerefs *t, const cs_timeref_stats *st)
{
    char name[64];
    uint64_t untimed = st->missing + st->cut + st->bad_time + st->far;

    if (!cs_timerefs_trailer(t))
        return;
    printf("time source %s: %" PRIu64 " packets timed by their trailer (%" PRIu64
           " saying its clock is not synchronised); %" PRIu64 " kept the host's time (%" PRIu64
           " without a trailer, %" PRIu64 " cut short, %" PRIu64 " with a bad time, %" PRIu64
           " too far from the host's)\n",
           cs_timeref_name(&t->all, name, sizeof(name)), st->timed, st->unsynced, untimed,
           st->missing, st->cut, st->bad_time, st->far);
    if (st->tap_over > 0)
        printf("--tap-by trailer: %" PRIu64 " packets kept their source's tap: their trailer "
               "names a device over 255, which has no tap of its own (device x 256 + port)\n",
               st->tap_over);
}

int cs_cli_finish_timerefs(const char *cmd, cs_timerefs *t, int by_trailer)
{
    if (by_trailer && cs_timerefs_tap_by_trailer(t) < 0)
        return cs_cli_usage_error(cmd, "%s", cs_error_msg(CS_EINVAL));
    return 0;
}

int cs_cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v;
    uint64_t mult = 1;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || v < 0 || errno != 0)
        return cs_error_set(CS_EINVAL, "bad size '%s'", s);
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mult = 1ull << 10;
        break;
    case 'M':
        mult = 1ull << 20;
        break;
    case 'G':
        mult = 1ull << 30;
        break;
    case 'T':
        mult = 1ull << 40;
        break;
    case '\0':
        break;
    default:
        return cs_error_set(CS_EINVAL, "bad size '%s' (use a number with K, M, G or T)", s);
    }
    if (*end != '\0') {
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end != '\0')
            return cs_error_set(CS_EINVAL, "bad size '%s'", s);
    }
    if (v * (double)mult > 1.8e19)
        return cs_error_set(CS_EINVAL, "size '%s' is too large", s);
    *out = (uint64_t)(v * (double)mult);
    return 0;
}

int cs_cli_parse_time(const char *opt, const char *s, int64_t *out)
{
    int rc = cs_time_parse(s, cs_now_ns(), out);

    if (rc < 0)
        cs_log_error("%s: %s", opt, cs_error_msg(rc));
    return rc;
}

char *cs_cli_fmt_bytes(uint64_t n, char *buf)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

uint64_t cs_cli_fmt_link_counts(const cs_link_count *c, uint32_t n, int undissected, char *buf,
                                size_t size)
{
    uint64_t total = 0;
    size_t len = 0;

    buf[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        if (undissected && cs_dissect_knows((uint16_t)c[i].linktype))
            continue;
        total += c[i].packets;
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "%slink type %" PRIu32 ": %" PRIu64,
                                    len ? ", " : "", c[i].linktype, c[i].packets);
    }
    return total;
}

char *cs_cli_join_args(int argc, char **argv, int from)
{
    size_t len = 1;
    char *s;

    for (int i = from; i < argc; i++)
        len += strlen(argv[i]) + 1;
    s = cs_malloc(len);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (int i = from; i < argc; i++) {
        if (i > from)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

void cs_progress_start(cs_progress *p)
{
    p->enabled = isatty(STDERR_FILENO);
    p->start_ns = p->last_ns = cs_mono_ns();
}

void cs_progress_update(cs_progress *p, uint64_t done, uint64_t total, uint64_t packets)
{
    int64_t now;
    double secs, rate;
    char b1[32], bar[32];
    int filled = 0;

    if (!p->enabled)
        return;
    now = cs_mono_ns();
    if (now - p->last_ns < 100000000)
        return;
    p->last_ns = now;
    secs = (double)(now - p->start_ns) / 1e9;
    rate = secs > 0 ? (double)done / secs : 0;
    if (total > 0)
        filled = (int)(20.0 * (double)done / (double)total);
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    if (total > 0 && rate > 0)
        fprintf(stderr, "\r[%s] %3.0f%% %s, %llu packets, %.0f MB/s, ETA %.0fs   ", bar,
                100.0 * (double)done / (double)total, cs_cli_fmt_bytes(done, b1),
                (unsigned long long)packets, rate / 1e6, (double)(total - done) / rate);
    else
        fprintf(stderr, "\r%s read, %llu packets, %.0f MB/s   ", cs_cli_fmt_bytes(done, b1),
                (unsigned long long)packets, rate / 1e6);
}

void cs_progress_end(cs_progress *p)
{
    if (p->enabled)
        fprintf(stderr, "\r%80s\r", "");
}

void cs_cli_help(FILE *out, const char *text)
{
    char decoders[512], protos[512], pairs[512];

    cs_decoders_names(",", decoders, sizeof(decoders));
    cs_decoders_names(", ", protos, sizeof(protos));
    cs_pairs_names(", ", pairs, sizeof(pairs));
    while (*text != '\0') {
        if (strncmp(text, "{decoders}", 10) == 0) {
            fputs(decoders, out);
            text += 10;
        } else if (strncmp(text, "{protos}", 8) == 0) {
            fputs(protos, out);
            text += 8;
        } else if (strncmp(text, "{pairs}", 7) == 0) {
            fputs(pairs, out);
            text += 7;
        } else {
            putc(*text++, out);
        }
    }
}

/* The value of a "decoder-opt VALUE" line (comment cut, trimmed), or NULL
 * for any other line. */
static char *decoder_opt_line(char *line)
{
    char *hash = strchr(line, '#'), *end;

    if (hash != NULL)
        *hash = '\0';
    while (isspace((unsigned char)*line))
        line++;
    if (strncmp(line, "decoder-opt", 11) != 0 || !isspace((unsigned char)line[11]))
        return NULL;
    line += 12;
    while (isspace((unsigned char)*line))
        line++;
    end = line + strlen(line);
    while (end > line && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return line;
}

int cs_cli_config_decoder_opts(const char *path, cs_decoder_optset *set)
{
    cs_decoder_optset file = {0};
    char line[1024], arg[1024], *v;
    FILE *f = fopen(path, "r");
    int n = 0, rc = 0;

    if (f == NULL)
        return cs_error_set(errno == ENOENT ? CS_ENOTFOUND : CS_EIO, "%s: %s", path,
                            strerror(errno));
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        n++;
        if ((v = decoder_opt_line(line)) != NULL && cs_decoder_optset_add(&file, v) < 0)
            rc = cs_error_set(CS_EINVAL, "%s:%d: %s", path, n, cs_error_msg(CS_EINVAL));
    }
    fclose(f);
    for (size_t i = 0; rc == 0 && i < set->n; i++) { /* the command line's win */
        snprintf(arg, sizeof(arg), "%s.%s=%s", set->opt[i].dec->name, set->opt[i].key,
                 set->opt[i].val);
        rc = cs_decoder_optset_add(&file, arg);
    }
    if (rc == 0)
        *set = file;
    return rc;
}
