/*
 * alloc.h - the one allocation wrapper every module uses.
 *
 * All heap allocation in capstream goes through cs_malloc/cs_calloc/
 * cs_realloc/cs_strdup and is released with cs_free, so that tests can make
 * the N-th allocation fail (cs_alloc_fail_after) and check that every
 * failure path cleans up and reports CS_ENOMEM. The data path never calls
 * these per packet: it uses pools and per-batch arenas built on top.
 */
#ifndef CS_CORE_ALLOC_H
#define CS_CORE_ALLOC_H

#include <stddef.h>

/*
 * Sets the process's allocation policy; main() calls it first. On the
 * virtual machines capstream is measured on, the first touch of each 4 KiB
 * page traps to the hypervisor: about 15 us, so that a query touching
 * 8 MiB of fresh memory spent half its time in page faults. A 2 MiB huge
 * page costs one such trap. So: freed memory is kept for reuse rather than
 * returned and faulted in again, and large blocks and the heap's first
 * 30 MiB use transparent huge pages where the kernel offers them
 * ("madvise" or "always"; with "never" nothing changes). Resident memory
 * grows in 2 MiB steps where it is used; nothing is touched in advance.
 */
void cs_alloc_init(void);

void *cs_malloc(size_t n);
void *cs_calloc(size_t count, size_t n);
void *cs_realloc(void *p, size_t n);
char *cs_strdup(const char *s);
char *cs_strndup(const char *s, size_t n);
void cs_free(void *p);

/*
 * Makes allocations fail after "n" more succeed (n < 0: never fail). For
 * tests only; not thread-safe against concurrent allocation.
 */
void cs_alloc_fail_after(long n);

/*
 * Grows the array "*pp" of "*cap" elements of "elem" bytes so that it holds
 * at least "need" elements, doubling. Returns 0 or CS_ENOMEM (leaving the
 * array untouched).
 */
int cs_grow(void **pp, size_t *cap, size_t need, size_t elem);

#endif
