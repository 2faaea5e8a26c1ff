/*
 * server_pcap.c - the HTTP API's packet downloads (server_int.h).
 *
 * /packets: a producer thread runs cs_store_query_pcap(store, q, pipe) and
 * MHD reads the pipe's other end as the body, so memory is bounded by the
 * pipe's buffer and the first packets leave while the query goes on.
 * When the client goes away MHD frees the response: the read end is closed, so the producer's
 * next write fails with EPIPE (SIGPIPE is blocked in the producer thread)
 * and the query stops; the free callback joins the producer.
 *
 * /{id}/pcap: the packets of one message or measurement (its messages' refs,
 * in capture order) are written into a memfd, which is the body.
 */
#include "server/server_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/sort.h"
#include "store/msgstore.h"
#include "store/pcapw.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- packet downloads -------------------------------------------------- */

typedef struct pcap_job {
    pthread_t th;
    int rfd, wfd;
    cs_store *store;
    cs_query q;
    char *filter;
} pcap_job;

static void *pcap_produce(void *arg)
{
    pcap_job *j = arg;
    sigset_t set;
    uint64_t count;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    cs_store_query_pcap(j->store, &j->q, j->wfd, &count, NULL);
    close(j->wfd);
    j->wfd = -1;
    return NULL;
}

static ssize_t pcap_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    pcap_job *j = cls;
    ssize_t n;

    do
        n = read(j->rfd, buf, max);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void pcap_done(void *cls)
{
    pcap_job *j = cls;

    close(j->rfd); /* the producer's next write fails: it stops */
    pthread_join(j->th, NULL);
    cs_store_close(j->store);
    cs_free(j->filter);
    cs_free(j);
}

/* Compiles "filter" for Ethernet to reject bad syntax before streaming. */
static int filter_ok(const char *filter, char *why, size_t n)
{
    pcap_t *p;
    struct bpf_program prog;
    int ok;

    if (filter == NULL || *filter == '\0')
        return 1;
    if ((p = pcap_open_dead(DLT_EN10MB, 262144)) == NULL)
        return 0;
    ok = pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (ok)
        pcap_freecode(&prog);
    else
        snprintf(why, n, "filter: %s", pcap_geterr(p));
    pcap_close(p);
    return ok;
}

void cs__srv_add_attachment(struct MHD_Response *r, const char *name)
{
    char v[128];

    snprintf(v, sizeof(v), "attachment; filename=\"%s.pcap\"", name);
    cs__mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, v);
}

enum MHD_Result cs__srv_serve_packets(cs_server *s, struct MHD_Connection *c, const cs__query *q)
{
    cs_store_opts so = {0};
    pcap_job *j;
    struct MHD_Response *r;
    char why[300];
    int fds[2], rc;

    if (!filter_ok(q->filter, why, sizeof(why)))
        return cs__srv_queue_error(c, 400, "filter", why);
    if ((j = cs_calloc(1, sizeof(*j))) == NULL)
        return cs__srv_queue_internal(c, CS_ENOMEM);
    if ((rc = cs_store_open(s->store_dir, &so, &j->store)) < 0) {
        cs_free(j);
        return cs__srv_queue_internal(c, rc);
    }
    j->q.after = q->after;
    j->q.before = q->before;
    j->q.filter = j->filter = q->filter ? cs_strdup(q->filter) : NULL;
    j->q.pcap_time = q->pcap_time;
    if (pipe2(fds, O_CLOEXEC) < 0 ||
        (j->rfd = fds[0], j->wfd = fds[1], pthread_create(&j->th, NULL, pcap_produce, j) != 0)) {
        cs_store_close(j->store);
        cs_free(j->filter);
        cs_free(j);
        return cs__srv_queue_internal(c, CS_EIO);
    }
    r = cs__mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, pcap_read, j, pcap_done);
    if (r == NULL) {
        pcap_done(j);
        return MHD_NO;
    }
    cs__srv_add_attachment(r, "capstream-packets");
    return cs__srv_queue(c, 200, r, "application/vnd.tcpdump.pcap");
}

/* The packets of one message or measurement, in time order, duplicates
 * removed, written to a memfd (a message's packets are few). */
typedef struct ref_list {
    cs_pktref *refs;
    size_t n, cap;
    cs_msgid req, resp;
    int err;
} ref_list;

static int add_refs(void *ud, const cs_message *m)
{
    ref_list *l = ud;

    for (size_t i = 0; i < m->n_refs; i++) {
        size_t k = 0;
        while (k < l->n && l->refs[k] != m->refs[i])
            k++;
        if (k < l->n)
            continue;
        if (cs_grow((void **)&l->refs, &l->cap, l->n + 1, sizeof(*l->refs)) < 0)
            return l->err = CS_ENOMEM;
        l->refs[l->n++] = m->refs[i];
    }
    return 1;
}

static int keep_ids(void *ud, const cs_measurement *ms)
{
    ref_list *l = ud;

    l->req = ms->req_id;
    l->resp = ms->resp_id;
    return 1;
}

static int collect_refs(const char *dir, const cs__route *rt, const char *pair, ref_list *l)
{
    cs_msgreader *r = NULL;
    int rc;

    if ((rc = cs_msgreader_open(dir, &r)) < 0)
        return rc;
    if (rt->ep == CS__EP_MESSAGE_PCAP)
        rc = cs_msgreader_find_message(r, rt->id, add_refs, l);
    else if ((rc = cs_msgreader_find_measurement(r, rt->id, pair, keep_ids, l)) == 0) {
        rc = cs_msgreader_find_message(r, l->req, add_refs, l);
        if (rc == 0 || rc == CS_ENOTFOUND)
            rc = cs_msgreader_find_message(r, l->resp, add_refs, l);
        if (rc == CS_ENOTFOUND)
            rc = 0;
    }
    cs_msgreader_close(r);
    return rc < 0 ? rc : l->err;
}

typedef struct ts_ref {
    int64_t ts;
    size_t order;
    cs_pktref ref;
} ts_ref;

static int cmp_ts_ref(const void *x, const void *y)
{
    const ts_ref *a = x, *b = y;

    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Writes the readable packets of "l" to "fd" in time order. */
static int write_refs_pcap(cs_store *st, const ref_list *l, int fd)
{
    ts_ref *v = cs_calloc(l->n ? l->n : 1, sizeof(*v));
    cs_packet p;
    cs_pcapw w;
    size_t n = 0;
    uint32_t link = 1; /* LINKTYPE_ETHERNET when nothing is readable */
    int rc;

    if (v == NULL)
        return CS_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (cs_store_read(st, l->refs[i], &p) == 0) {
            link = n ? link : p.linktype;
            v[n++] = (ts_ref){p.ts_ns, i, l->refs[i]};
        }
    cs_qsort(v, n, sizeof(*v), cmp_ts_ref);
    if ((rc = cs_pcapw_init(&w, fd, 0, link, CS_PCAP_SNAPLEN, 1 << 16)) == 0) {
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((rc = cs_store_read(st, v[i].ref, &p)) == 0 && p.linktype == link)
                rc = cs_pcapw_put(&w, &p, NULL);
        int crc = cs_pcapw_close(&w);
        rc = rc ? rc : crc;
    }
    cs_free(v);
    return rc;
}

enum MHD_Result cs__srv_serve_one_pcap(cs_server *s, struct MHD_Connection *c, const cs__route *rt,
                                       const char *pair)
{
    cs_store_opts so = {0};
    ref_list l = {0};
    cs_store *st = NULL;
    struct MHD_Response *r;
    struct stat sb;
    char name[48];
    int fd = -1, rc;

    cs_id_format(rt->ep == CS__EP_MESSAGE_PCAP ? 'm' : 'l', rt->id, name);
    if ((rc = collect_refs(s->store_dir, rt, pair, &l)) == CS_ENOTFOUND) {
        cs_free(l.refs);
        return cs__srv_queue_error(c, 404, "id", "not in the store");
    }
    if (rc < 0 || (rc = cs_store_open(s->store_dir, &so, &st)) < 0)
        goto fail;
    if ((fd = memfd_create("capstream-pcap", MFD_CLOEXEC)) < 0) {
        rc = CS_EIO;
        goto fail;
    }
    if ((rc = write_refs_pcap(st, &l, fd)) < 0 || fstat(fd, &sb) < 0)
        goto fail;
    cs_store_close(st);
    cs_free(l.refs);
    if ((r = cs__mhd.create_response_from_fd((uint64_t)sb.st_size, fd)) == NULL) {
        close(fd);
        return MHD_NO;
    }
    cs__srv_add_attachment(r, name);
    return cs__srv_queue(c, 200, r, "application/vnd.tcpdump.pcap");
fail:
    if (fd >= 0)
        close(fd);
    if (st)
        cs_store_close(st);
    cs_free(l.refs);
    return cs__srv_queue_internal(c, rc < 0 ? rc : CS_EIO);
}
