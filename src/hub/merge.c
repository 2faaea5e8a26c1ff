/*
 * merge.c - sensors' answers made one (see merge.h).
 *
 * Lists: every answer is parsed (jansson), its rows get "sensor" and go
 * into one array of (row, sensor index, position) which is sorted by the
 * sort key, then by sensor, then by position - the order each sensor
 * already gave is kept, so the merge is stable and the same on every
 * call - and the page [offset, offset + limit) is written out.
 */
#include "hub/merge.h"

#include "core/alloc.h"
#include "core/error.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON lists ---------------------------------------------------------- */

typedef struct row_ref {
    json_t *row;
    int sensor;
    size_t pos;
    long long key;
} row_ref;

/* qsort_r order: "desc" points at the spec's "descending". */
static int cmp_rows(const void *a, const void *b, void *desc)
{
    const row_ref *x = a, *y = b;

    if (x->key != y->key)
        return (x->key < y->key) != *(const int *)desc ? -1 : 1;
    if (x->sensor != y->sensor)
        return x->sensor < y->sensor ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int answered(const cs_hub_fetch *f)
{
    return f->ok && f->status == 200 && f->body != NULL;
}

/* The error an answer carries ({"error": ...}), or its status. */
static void answer_why(const cs_hub_fetch *f, char *why, size_t cap)
{
    json_t *j, *e;

    if (!f->ok) {
        snprintf(why, cap, "%s", f->why);
        return;
    }
    j = f->body ? json_loads(f->body, 0, NULL) : NULL;
    e = j ? json_object_get(j, "error") : NULL;
    if (json_is_string(e))
        snprintf(why, cap, "HTTP %ld: %s", f->status, json_string_value(e));
    else
        snprintf(why, cap, "HTTP %ld", f->status);
    json_decref(j);
}

void cs_hub_missing_json(FILE *out, const cs_hub_peer *peers, const cs_hub_fetch *f, const int *use,
                         int n)
{
    int missing = 0;

    fputs(",\"missing\":[", out);
    for (int i = 0; i < n; i++) {
        char why[512];
        json_t *o;
        char *s;

        if ((use && !use[i]) || answered(&f[i]))
            continue;
        answer_why(&f[i], why, sizeof(why));
        o = json_pack("{s:s,s:s}", "sensor", peers[i].name, "why", why);
        s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        fprintf(out, "%s%s", missing++ ? "," : "", s ? s : "{}");
        free(s);
        json_decref(o);
    }
    fprintf(out, "],\"partial\":%s", missing ? "true" : "false");
}

void cs_hub_tail_json(FILE *out, const cs_hub_peer *peers, json_t *const *docs,
                      const cs_hub_fetch *f, const int *use, int n)
{
    int first = 1;

    fputs(",\"sensors\":[", out);
    for (int i = 0; i < n; i++)
        if (docs[i]) {
            fprintf(out, "%s\"%s\"", first ? "" : ",", peers[i].name);
            first = 0;
        }
    fputc(']', out);
    cs_hub_missing_json(out, peers, f, use, n);
    fputc('}', out);
}

/* Adds the rows of sensor "i"'s answer to "refs" (grown as needed). */
typedef struct list_acc {
    row_ref *refs;
    size_t n, cap;
    int more, has_total;
    long long total;
} list_acc;

static int gather(const cs_hub_list_spec *sp, const char *name, json_t *doc, int i, list_acc *a)
{
    json_t *arr = json_object_get(doc, sp->array), *row, *total = json_object_get(doc, "total");
    size_t pos;

    if (json_is_true(json_object_get(doc, "more")))
        a->more = 1;
    if (json_is_integer(total)) {
        a->total += json_integer_value(total);
        a->has_total = 1;
    }
    json_array_foreach(arr, pos, row)
    {
        if (!json_is_object(row))
            continue;
        if (a->n == a->cap) {
            size_t c = a->cap ? a->cap * 2 : 256;
            row_ref *r = realloc(a->refs, c * sizeof(*r));
            if (r == NULL)
                return CS_ENOMEM;
            a->refs = r;
            a->cap = c;
        }
        json_object_set_new(row, "sensor", json_string(name));
        a->refs[a->n++] =
            (row_ref){row, i, pos, json_integer_value(json_object_get(row, sp->sort_key))};
    }
    return 0;
}

static void write_page(FILE *out, const cs_hub_list_spec *sp, const list_acc *a)
{
    size_t off = sp->unpaged ? 0 : sp->offset, lim = sp->unpaged ? a->n : sp->limit;
    size_t end = off + lim < a->n ? off + lim : a->n, count = 0;

    fprintf(out, "{\"%s\":[", sp->array);
    for (size_t k = off; k < end; k++) {
        char *s = json_dumps(a->refs[k].row, JSON_COMPACT);
        fprintf(out, "%s%s", count++ ? "," : "", s ? s : "{}");
        free(s);
    }
    fprintf(out, "],\"offset\":%zu,\"limit\":%zu,\"count\":%zu,\"more\":%s", off, lim, count,
            a->more || a->n > end ? "true" : "false");
    if (a->has_total)
        fprintf(out, ",\"total\":%lld", a->total);
}

int cs_hub_merge_lists(const cs_hub_list_spec *sp, const cs_hub_peer *peers, const cs_hub_fetch *f,
                       const int *use, int n, char **out, size_t *len)
{
    json_t *docs[CS_HUB_SENSORS_MAX] = {0};
    list_acc a = {0};
    int rc = 0;
    FILE *o = open_memstream(out, len);

    if (o == NULL)
        return CS_ENOMEM;
    for (int i = 0; i < n && rc == 0; i++)
        if ((!use || use[i]) && answered(&f[i]) &&
            (docs[i] = json_loads(f[i].body, 0, NULL)) != NULL)
            rc = gather(sp, peers[i].name, docs[i], i, &a);
    if (a.n > 1)
        qsort_r(a.refs, a.n, sizeof(*a.refs), cmp_rows, (void *)&sp->descending);
    write_page(o, sp, &a);
    cs_hub_tail_json(o, peers, docs, f, use, n);
    for (int i = 0; i < n; i++)
        json_decref(docs[i]);
    free(a.refs);
    if (fclose(o) != 0 && rc == 0)
        rc = CS_ENOMEM;
    return rc;
}
