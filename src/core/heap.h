/*
 * heap.h - sift-down for a binary min-heap of indexes.
 *
 * The heap is an array of indexes into the caller's own items; "before"
 * says whether item a comes before item b. Used to merge sorted runs (the
 * query's hits, the scan's segments): the run at heap[0] is the next to
 * take from, and after taking from it the caller replaces or keeps
 * heap[0] and calls cs_heap_down(heap, n, 0, ...).
 */
#ifndef CS_CORE_HEAP_H
#define CS_CORE_HEAP_H

#include <stddef.h>

typedef int (*cs_heap_before_fn)(const void *ctx, size_t a, size_t b);

/* Moves heap[i] down until neither child comes before it. */
static inline void cs_heap_down(size_t *heap, size_t n, size_t i, cs_heap_before_fn before,
                                const void *ctx)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i, t;
        if (l < n && before(ctx, heap[l], heap[m]))
            m = l;
        if (l + 1 < n && before(ctx, heap[l + 1], heap[m]))
            m = l + 1;
        if (m == i)
            return;
        t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* Orders heap[0..n) from any arrangement. */
static inline void cs_heap_make(size_t *heap, size_t n, cs_heap_before_fn before, const void *ctx)
{
    for (size_t i = n / 2; i-- > 0;)
        cs_heap_down(heap, n, i, before, ctx);
}

#endif
