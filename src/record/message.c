/*
 * message.c - printing and parsing message and measurement ids.
 *
 * An id is 64 bits: (segment << 40) | (offset << 8) | k mod 256, the
 * offset a byte inside the record of the packet the message starts in
 * (see message.h). Its text form is "<kind><segment>.<offset>.<k>" in
 * decimal, where kind is 'm' for a message and 'l' for a latency
 * measurement:
 *
 *   m7.1234.0     segment 7, packet record at byte 1234, first message in it
 *   m7.1235.44    the 301st message starting in that packet (if the
 *                 record at 1234 is longer than 1 byte, which it is)
 *
 * Parsing is strict: one kind letter, three decimal fields without signs or
 * spaces, each within its bit width (24, 32 and 8 bits), nothing after.
 */
#include "record/message.h"
#include "core/error.h"

#include <stdio.h>

char *cs_id_format(char kind, uint64_t id, char *buf)
{
    snprintf(buf, 40, "%c%u.%u.%u", kind, (unsigned)CS_MSGID_SEG(id), (unsigned)CS_MSGID_OFF(id),
             (unsigned)CS_MSGID_K(id));
    return buf;
}

/* Reads a decimal number of at most "max" from "*s"; advances "*s". */
static int parse_dec(const char **s, uint64_t max, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    if (*p < '0' || *p > '9')
        return CS_EINVAL;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return CS_EINVAL;
        p++;
    }
    *s = p;
    *out = v;
    return 0;
}

int cs_id_parse(const char *s, char *kind, uint64_t *id)
{
    uint64_t seg, off, k;

    if (s == NULL || (s[0] != 'm' && s[0] != 'l'))
        return CS_EINVAL;
    *kind = s[0];
    s++;
    if (parse_dec(&s, 0xffffffu, &seg) < 0 || *s++ != '.')
        return CS_EINVAL;
    if (parse_dec(&s, 0xffffffffu, &off) < 0 || *s++ != '.')
        return CS_EINVAL;
    if (parse_dec(&s, 0xffu, &k) < 0 || *s != '\0')
        return CS_EINVAL;
    *id = (seg << 40) | (off << 8) | k;
    return 0;
}
