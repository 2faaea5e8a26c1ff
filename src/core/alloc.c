/*
 * alloc.c - allocation wrapper with test-time failure injection, and the
 * process's allocation policy.
 *
 * The failure countdown is a plain global: tests set it, run one operation
 * and check the error path. Production code never touches it, and the check
 * costs one predictable branch per allocation (never per packet).
 *
 * The policy (cs_alloc_init, alloc.h) is three settings of glibc's malloc
 * and one madvise: blocks up to 32 MiB come from the heap, freed memory is
 * kept, and the first 30 MiB of the heap and every block of 4 MiB or more
 * are marked for transparent huge pages. Blocks that large get their own
 * mapping from glibc, so the advice covers only their own pages.
 */
#include "core/alloc.h"
#include "core/error.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)
#define HUGE_MIN (4u << 20)         /* blocks this large are advised */
#define HEAP_ADVISED (30u << 20)    /* under M_MMAP_THRESHOLD: from the heap */
#define MMAP_THRESHOLD (32u << 20)  /* glibc's largest allowed */
#define TRIM_THRESHOLD (256u << 20) /* keep freed heap memory up to this */

/* Advises the whole huge pages inside [p, p + n) to be huge. */
static void advise_huge(void *p, size_t n)
{
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);

    if (p != NULL && e > a)
        madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice: failure changes nothing */
}

void cs_alloc_init(void)
{
    void *block;

    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    /* Grow the heap once, advise it, and give it back to malloc: the
     * first 30 MiB the process uses come in huge pages. malloc writes only
     * the block's edges, which lie outside the advised whole huge pages,
     * so nothing is made resident here. */
    block = malloc(HEAP_ADVISED);
    advise_huge(block, HEAP_ADVISED);
    free(block);
}

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

/* A block of "n" bytes just allocated at "p": large ones are advised. */
static void *fresh(void *p, size_t n)
{
    if (n >= HUGE_MIN)
        advise_huge(p, n);
    return p;
}

void *cs_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return fresh(malloc(n ? n : 1), n);
}

void *cs_calloc(size_t count, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    if (count && n > SIZE_MAX / count)
        return NULL;
    return fresh(calloc(count ? count : 1, n ? n : 1), count * n);
}

void *cs_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return fresh(realloc(p, n ? n : 1), n);
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
