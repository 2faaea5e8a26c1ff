/*
 * alloc.c - allocation wrapper with test-time failure injection.
 *
 * The failure countdown is a plain global: tests set it, run one operation
 * and check the error path. Production code never touches it, and the check
 * costs one predictable branch per allocation (never per packet).
 */
#include "core/alloc.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static long alloc_countdown = -1;

static int alloc_should_fail(void)
{
    if (alloc_countdown < 0)
        return 0;
    if (alloc_countdown == 0)
        return 1;
    alloc_countdown--;
    return 0;
}

void cs_alloc_fail_after(long n)
{
    alloc_countdown = n;
}

void *cs_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *cs_calloc(size_t count, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(count ? count : 1, n ? n : 1);
}

void *cs_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *cs_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = cs_malloc(len + 1);

    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *cs_strdup(const char *s)
{
    return cs_strndup(s, strlen(s));
}

void cs_free(void *p)
{
    free(p);
}

int cs_grow(void **pp, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *np;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2 / elem)
            return CS_ENOMEM;
        ncap *= 2;
    }
    np = cs_realloc(*pp, ncap * elem);
    if (np == NULL)
        return CS_ENOMEM;
    *pp = np;
    *cap = ncap;
    return 0;
}
