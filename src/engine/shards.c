/*
 * shards.c - the analysis on several cores (shards.h).
 *
 * Batches ("slots") go round a ring of SLOTS; a slot is filled by the
 * caller, analysed by every worker at once, then replayed by the
 * correlating thread, then filled again:
 *
 *   published: slots handed to the workers (the caller fills slot
 *              number "published" when "have_fill")
 *   done:      per slot, the workers that finished it
 *   consumed:  slots the correlating thread replayed; the caller waits
 *              while published - consumed == SLOTS
 *
 * A slot holds up to SLOT_PKTS packets (their bytes copied into one
 * buffer of SLOT_BYTES, grown for a larger packet alone), the control or
 * call given after them (it closes its slot, so that it comes after
 * exactly the packets before it; a call runs a function of the caller's
 * on the correlating thread) and one event log per worker.
 *
 * Ownership: a conversation belongs to worker hash % N, the hash
 * symmetric in its two ends, so both directions meet: TCP by addresses
 * and ports, UDP and everything else by addresses alone, since an IP
 * fragment after the first carries no ports and must reach the worker of
 * its datagram's flow. Every worker sees every analysed packet's capture
 * time (flows idle out at the same packet as in one analyzer); only the
 * owner analyses it.
 *
 * The replay of a slot, per analysed packet "seq" (analyzer.h): the
 * events filed under "seq" before the packet's own, merged across the
 * logs by "order" (an N-way merge of heads: each log is sorted, equal
 * keys come from one log), the correlating analyzer's expiry, the owner's
 * events of the packet, then after_packet. Each log must be used up by
 * the end of its slot; anything left (which would be a broken invariant)
 * is still replayed, and counted in "late" with a warning.
 *
 * One mutex guards the counters; slots are handed over whole, so a slot's
 * contents are only touched by the thread that owns it at that stage.
 */
#include "engine/shards.h"

#include "analytics/anlog.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4
#define SLOT_PKTS 4096
#define SLOT_BYTES (4u << 20)
#define SLOT_CTLS 1 /* a control closes its slot */

typedef struct bpkt {
    cs_packet p; /* data in its slot's bytes */
    cs_layers l;
    cs_pktref ref;
    uint64_t seq; /* 0: not analysed */
    uint32_t owner;
} bpkt;

typedef struct ctl {
    int op;
    int64_t arg;
    void (*fn)(void *ud); /* CS_SHARDS_CALL */
    void *ud;
} ctl;

typedef struct slot {
    bpkt *pkts;
    size_t n;
    uint8_t *bytes;
    size_t used, bytes_cap;
    ctl ctls[SLOT_CTLS];
    size_t n_ctls;
    int final;
    uint32_t done;
    cs_an_log **logs; /* one per worker */
} slot;

typedef struct worker {
    cs_shards *sh;
    uint32_t index;
    pthread_t thread;
} worker;

struct cs_shards {
    cs_shards_cfg cfg;
    cs_analyzer **flows;
    cs_analyzer *corr;
    worker *workers;
    uint32_t started; /* worker threads running */
    pthread_t corr_thread;
    int corr_started;
    pthread_mutex_t mu;
    pthread_cond_t published_cv, analysed_cv, freed_cv;
    slot slots[SLOTS];
    uint64_t published, consumed;
    int have_fill;
    int stop;
    uint64_t seq;
    uint64_t late;
    int finished;
};

/* ---- ownership ------------------------------------------------------------ */

static uint64_t end_hash(const uint8_t addr[16], uint16_t port)
{
    uint64_t w0, w1;

    memcpy(&w0, addr, 8);
    memcpy(&w1, addr + 8, 8);
    return cs_mix64(w0 ^ cs_mix64(w1 ^ port));
}

static uint32_t owner_of(const cs_layers *l, uint32_t n)
{
    uint16_t sp = 0, dp = 0;

    if (!(l->flags & CS_L_IP))
        return 0;
    if (l->ip_proto == 6 && (l->flags & CS_L_L4)) {
        sp = l->sport;
        dp = l->dport;
    }
    return (uint32_t)(cs_mix64(end_hash(l->src, sp) + end_hash(l->dst, dp)) % n);
}

/* ---- the correlating thread ------------------------------------------------ */

static const cs_an_event *head(const slot *s, const size_t *cur, uint32_t w)
{
    return cur[w] < cs_an_log_count(s->logs[w]) ? cs_an_log_get(s->logs[w], cur[w]) : NULL;
}

/* Replays the events filed under "seq" before its packet's own, in order. */
static void replay_expired(cs_shards *sh, const slot *s, size_t *cur, uint64_t seq)
{
    for (;;) {
        const cs_an_event *best = NULL;
        uint32_t bw = 0;

        for (uint32_t w = 0; w < sh->cfg.workers; w++) {
            const cs_an_event *e = head(s, cur, w);
            if (e != NULL && e->seq == seq && e->order != CS_AN_ORDER_OWN &&
                (best == NULL || e->order < best->order)) {
                best = e;
                bw = w;
            }
        }
        if (best == NULL)
            return;
        cs_analyzer_corr_replay(sh->corr, best);
        cur[bw]++;
    }
}

static void replay_own(cs_shards *sh, const slot *s, size_t *cur, const bpkt *b)
{
    const cs_an_event *e;

    while ((e = head(s, cur, b->owner)) != NULL && e->seq == b->seq) {
        cs_analyzer_corr_replay(sh->corr, e);
        cur[b->owner]++;
    }
}

static void replay_late(cs_shards *sh, const slot *s, size_t *cur)
{
    for (uint32_t w = 0; w < sh->cfg.workers; w++) {
        for (; cur[w] < cs_an_log_count(s->logs[w]); cur[w]++) {
            if (sh->late++ == 0)
                cs_log_warn("sharded analysis: an event came out of order");
            cs_analyzer_corr_replay(sh->corr, cs_an_log_get(s->logs[w], cur[w]));
        }
    }
}

static void replay_slot(cs_shards *sh, slot *s)
{
    size_t cur[CS_WORKERS_MAX] = {0};

    for (size_t i = 0; i < s->n; i++) {
        const bpkt *b = &s->pkts[i];
        if (b->seq != 0) {
            cs_analyzer_corr_packet(sh->corr, &b->p);
            replay_expired(sh, s, cur, b->seq);
            cs_analyzer_corr_expire(sh->corr, b->p.ts_ns);
            replay_own(sh, s, cur, b);
        }
        if (sh->cfg.after_packet)
            sh->cfg.after_packet(sh->cfg.ud, &b->p, b->seq != 0);
    }
    if (s->final) {
        replay_expired(sh, s, cur, CS_AN_SEQ_END);
        cs_analyzer_corr_finish(sh->corr);
    }
    replay_late(sh, s, cur);
    for (size_t i = 0; i < s->n_ctls; i++) {
        const ctl *c = &s->ctls[i];
        if (c->op == CS_SHARDS_CALL)
            c->fn(c->ud);
        else if (sh->cfg.control)
            sh->cfg.control(sh->cfg.ud, c->op, c->arg);
    }
}

static void *corr_main(void *arg)
{
    cs_shards *sh = arg;

    for (uint64_t k = 0;; k++) {
        slot *s = &sh->slots[k % SLOTS];
        int final;

        pthread_mutex_lock(&sh->mu);
        while (!(sh->published > k && s->done == sh->cfg.workers) && !sh->stop)
            pthread_cond_wait(&sh->analysed_cv, &sh->mu);
        if (!(sh->published > k && s->done == sh->cfg.workers)) {
            pthread_mutex_unlock(&sh->mu);
            return NULL;
        }
        pthread_mutex_unlock(&sh->mu);
        replay_slot(sh, s);
        final = s->final;
        pthread_mutex_lock(&sh->mu);
        sh->consumed++;
        pthread_cond_broadcast(&sh->freed_cv);
        pthread_mutex_unlock(&sh->mu);
        if (final)
            return NULL;
    }
}

/* ---- the workers ------------------------------------------------------------ */

static void analyse_slot(cs_shards *sh, uint32_t w, slot *s)
{
    cs_analyzer *a = sh->flows[w];

    cs_analyzer_shard(a, w, s->logs[w]);
    cs_an_log_borrow(s->logs[w], s->bytes, s->used);
    for (size_t i = 0; i < s->n; i++) {
        const bpkt *b = &s->pkts[i];
        if (b->seq != 0)
            cs_analyzer_flows_packet(a, &b->p, &b->l, b->ref, b->seq, b->owner == w);
    }
    if (s->final)
        cs_analyzer_flows_finish(a);
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    cs_shards *sh = wk->sh;

    for (uint64_t k = 0;; k++) {
        slot *s = &sh->slots[k % SLOTS];

        pthread_mutex_lock(&sh->mu);
        while (sh->published <= k && !sh->stop)
            pthread_cond_wait(&sh->published_cv, &sh->mu);
        if (sh->published <= k) {
            pthread_mutex_unlock(&sh->mu);
            return NULL;
        }
        pthread_mutex_unlock(&sh->mu);
        analyse_slot(sh, wk->index, s);
        pthread_mutex_lock(&sh->mu);
        if (++s->done == sh->cfg.workers)
            pthread_cond_broadcast(&sh->analysed_cv);
        pthread_mutex_unlock(&sh->mu);
        if (s->final)
            return NULL;
    }
}

/* ---- the caller's side ------------------------------------------------------ */

static slot *fill_slot(cs_shards *sh)
{
    slot *s = &sh->slots[sh->published % SLOTS];

    if (sh->have_fill)
        return s;
    pthread_mutex_lock(&sh->mu);
    while (sh->published - sh->consumed >= SLOTS)
        pthread_cond_wait(&sh->freed_cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
    s->n = 0;
    s->used = 0;
    s->n_ctls = 0;
    s->final = 0;
    s->done = 0;
    for (uint32_t w = 0; w < sh->cfg.workers; w++)
        cs_an_log_reset(s->logs[w]);
    sh->have_fill = 1;
    return s;
}

static void publish(cs_shards *sh)
{
    pthread_mutex_lock(&sh->mu);
    sh->published++;
    sh->have_fill = 0;
    pthread_cond_broadcast(&sh->published_cv);
    pthread_mutex_unlock(&sh->mu);
}

int cs_shards_packet(cs_shards *sh, const cs_packet *p, const cs_layers *l, cs_pktref ref)
{
    slot *s = fill_slot(sh);
    bpkt *b;

    if (s->n > 0 && (s->n == SLOT_PKTS || s->used + p->caplen > s->bytes_cap)) {
        publish(sh);
        s = fill_slot(sh);
    }
    if (p->caplen > s->bytes_cap) {
        uint8_t *nb = cs_realloc(s->bytes, p->caplen);
        if (nb == NULL)
            return CS_ENOMEM;
        s->bytes = nb;
        s->bytes_cap = p->caplen;
    }
    b = &s->pkts[s->n++];
    b->p = *p;
    if (p->caplen > 0)
        memcpy(s->bytes + s->used, p->data, p->caplen);
    b->p.data = s->bytes + s->used;
    s->used += p->caplen;
    b->ref = ref;
    b->seq = l != NULL ? ++sh->seq : 0;
    if (l != NULL) {
        b->l = *l;
        b->owner = owner_of(l, sh->cfg.workers);
    }
    return 0;
}

void cs_shards_control(cs_shards *sh, int op, int64_t arg)
{
    slot *s = fill_slot(sh);

    s->ctls[s->n_ctls++] = (ctl){op, arg, NULL, NULL};
    publish(sh);
}

void cs_shards_call(cs_shards *sh, void (*fn)(void *ud), void *ud)
{
    slot *s = fill_slot(sh);

    s->ctls[s->n_ctls++] = (ctl){CS_SHARDS_CALL, 0, fn, ud};
    publish(sh);
}

int cs_shards_on_correlating_thread(const cs_shards *sh)
{
    return sh->corr_started && pthread_equal(pthread_self(), sh->corr_thread);
}

/* ---- life ------------------------------------------------------------------ */

static int slots_new(cs_shards *sh)
{
    for (size_t i = 0; i < SLOTS; i++) {
        slot *s = &sh->slots[i];
        s->pkts = cs_calloc(SLOT_PKTS, sizeof(*s->pkts));
        s->bytes = cs_malloc(SLOT_BYTES);
        s->bytes_cap = SLOT_BYTES;
        s->logs = cs_calloc(sh->cfg.workers, sizeof(*s->logs));
        if (s->pkts == NULL || s->bytes == NULL || s->logs == NULL)
            return CS_ENOMEM;
        for (uint32_t w = 0; w < sh->cfg.workers; w++)
            if (cs_an_log_new(&s->logs[w]) < 0)
                return CS_ENOMEM;
    }
    return 0;
}

static int analyzers_new(cs_shards *sh)
{
    int rc;

    sh->flows = cs_calloc(sh->cfg.workers, sizeof(*sh->flows));
    sh->workers = cs_calloc(sh->cfg.workers, sizeof(*sh->workers));
    if (sh->flows == NULL || sh->workers == NULL)
        return CS_ENOMEM;
    for (uint32_t w = 0; w < sh->cfg.workers; w++)
        if ((rc = cs_analyzer_new(sh->cfg.acfg, &(cs_sink){0}, &sh->flows[w])) < 0)
            return rc;
    return cs_analyzer_new(sh->cfg.acfg, sh->cfg.sink, &sh->corr);
}

static int threads_start(cs_shards *sh)
{
    for (uint32_t w = 0; w < sh->cfg.workers; w++) {
        sh->workers[w] = (worker){sh, w, 0};
        if (pthread_create(&sh->workers[w].thread, NULL, worker_main, &sh->workers[w]) != 0)
            return cs_error_set(CS_EIO, "cannot start analysis worker %u", w);
        sh->started++;
    }
    if (pthread_create(&sh->corr_thread, NULL, corr_main, sh) != 0)
        return cs_error_set(CS_EIO, "cannot start the correlating thread");
    sh->corr_started = 1;
    return 0;
}

int cs_shards_new(const cs_shards_cfg *cfg, cs_shards **out)
{
    cs_shards *sh;
    int rc;

    *out = NULL;
    if (cfg->workers < 1 || cfg->workers > CS_WORKERS_MAX)
        return cs_error_set(CS_EINVAL, "workers: %u is not between 1 and %d", cfg->workers,
                            CS_WORKERS_MAX);
    if ((sh = cs_calloc(1, sizeof(*sh))) == NULL)
        return CS_ENOMEM;
    sh->cfg = *cfg;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->published_cv, NULL);
    pthread_cond_init(&sh->analysed_cv, NULL);
    pthread_cond_init(&sh->freed_cv, NULL);
    if ((rc = slots_new(sh)) < 0 || (rc = analyzers_new(sh)) < 0 || (rc = threads_start(sh)) < 0) {
        cs_shards_free(sh);
        return rc;
    }
    *out = sh;
    return 0;
}

static void threads_join(cs_shards *sh)
{
    for (uint32_t w = 0; w < sh->started; w++)
        pthread_join(sh->workers[w].thread, NULL);
    if (sh->corr_started)
        pthread_join(sh->corr_thread, NULL);
    sh->started = 0;
    sh->corr_started = 0;
}

int cs_shards_finish(cs_shards *sh, cs_analyzer_stats *st)
{
    cs_analyzer_stats one;
    int rc = 0;

    fill_slot(sh)->final = 1;
    publish(sh);
    threads_join(sh);
    sh->finished = 1;
    cs_analyzer_stats_get(sh->corr, st);
    for (uint32_t w = 0; w < sh->cfg.workers; w++) {
        cs_analyzer_stats_get(sh->flows[w], &one);
        cs_analyzer_stats_add(st, &one);
        if (rc == 0)
            rc = cs_analyzer_shard_error(sh->flows[w]);
    }
    if (rc == 0 && sh->late > 0)
        rc = cs_error_set(CS_EINVAL, "sharded analysis: %llu events out of order",
                          (unsigned long long)sh->late);
    return rc;
}

void cs_shards_free(cs_shards *sh)
{
    if (sh == NULL)
        return;
    pthread_mutex_lock(&sh->mu);
    sh->stop = 1;
    pthread_cond_broadcast(&sh->published_cv);
    pthread_cond_broadcast(&sh->analysed_cv);
    pthread_mutex_unlock(&sh->mu);
    threads_join(sh);
    for (uint32_t w = 0; sh->flows != NULL && w < sh->cfg.workers; w++)
        cs_analyzer_free(sh->flows[w]);
    cs_analyzer_free(sh->corr);
    for (size_t i = 0; i < SLOTS; i++) {
        for (uint32_t w = 0; sh->slots[i].logs != NULL && w < sh->cfg.workers; w++)
            cs_an_log_free(sh->slots[i].logs[w]);
        cs_free(sh->slots[i].logs);
        cs_free(sh->slots[i].pkts);
        cs_free(sh->slots[i].bytes);
    }
    cs_free(sh->flows);
    cs_free(sh->workers);
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->published_cv);
    pthread_cond_destroy(&sh->analysed_cv);
    pthread_cond_destroy(&sh->freed_cv);
    cs_free(sh);
}
