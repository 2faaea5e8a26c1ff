/*
 * sort.h - qsort() that takes an empty array as it comes.
 *
 * C says qsort's array must be a valid pointer even when it holds no
 * element, and UBSan (which the test builds run with every report fatal)
 * stops on qsort(NULL, 0, ...). The project's arrays grow from NULL
 * (cs_grow), so an empty one is NULL: cs_qsort sorts only arrays of two
 * elements or more, which is also all that sorting can change.
 */
#ifndef CS_CORE_SORT_H
#define CS_CORE_SORT_H

#include <stddef.h>
#include <stdlib.h>

static inline void cs_qsort(void *base, size_t n, size_t size,
                            int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

#endif
