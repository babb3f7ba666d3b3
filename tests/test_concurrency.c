/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Concurrency: writer threads churn (alloc / free / duplicate / unknown free /
 * CB alloc and free-all, random sizes, several devices and types) while reader
 * PROCESSES scan, snapshot and look up continuously and check invariants:
 * every entry self-consistent (its tag is a hash of device, type, address and
 * size, so a torn copy is caught), counters never negative and monotonic,
 * status stable. Once the writers stop: entries equal the counters exactly and
 * every buffer allocated and not freed is there with its exact size and tag.
 */
#include "test_core_util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(TTSHM_TSAN)
#define OPS_PER_THREAD 200000 /* TSan is ~10x slower: fewer events, same shape */
#elif defined(__SANITIZE_ADDRESS__)
#define OPS_PER_THREAD 1000000
#else
#define OPS_PER_THREAD 3000000
#endif

#define NWRITERS  4
#define NREADERS  2
#define NDEV      6 /* devices 0..5 for ordinary buffers */
#define CB_DEV    7 /* thread 0's circular buffers */
#define LIVE_CAP  4096
#define CB_CAP    256
#define MAX_SIZE  (1ull << 24)
#define MIN_SCANS 3 /* per reader while the writers run */

static const enum ttshm_mem_type kinds[] = {TTSHM_DRAM,     TTSHM_L1,    TTSHM_SYSTEM_MEMORY,
                                            TTSHM_L1_SMALL, TTSHM_TRACE, TTSHM_KERNEL};
#define NKINDS (sizeof kinds / sizeof kinds[0])

enum { PH_START = 0, PH_RUNNING = 1, PH_QUIESCENT = 2 };

struct reader_result {
    _Atomic int ready;
    _Atomic uint64_t scans_during; /* scans begun and ended while the writers ran */
    uint64_t scans, entries_seen, lookups, lookups_found, busy, skipped_during;
    uint64_t final_count, final_sum;
    int fail;
    char msg[512];
};

struct shared {
    _Atomic int phase;
    struct reader_result res[NREADERS];
};

struct ctr {
    uint64_t allocs, frees, alloc_bytes, unknown, dup;
};

struct buf {
    uint32_t dev, type;
    uint64_t addr, size;
};

struct wthread {
    int idx;
    ttshm_writer *w;
    struct shared *sh;
    struct buf live[LIVE_CAP];
    size_t nlive;
    struct buf cbs[CB_CAP];
    size_t ncb;
    struct ctr c[8][TTSHM_MEM_TYPE_COUNT];
    uint64_t ops;
    char err[256];
};

static char reg[48];
static char seg[128];
static uint64_t gen;

static uint64_t entry_sum(uint32_t dev, uint32_t type, uint64_t addr, uint64_t size)
{
    return tu_mix(tu_tag(dev, type, addr, size) ^ 0x5bd1e995);
}

/* ---- writer threads ---- */

static void werr(struct wthread *t, const char *what, int rc, const struct buf *b)
{
    if (t->err[0] == 0)
        snprintf(t->err, sizeof t->err, "thread %d: %s returned %d (dev %u type %u addr %llx)",
                 t->idx, what, rc, b->dev, b->type, (unsigned long long)b->addr);
}

static int readers_caught_up(struct shared *sh)
{
    for (int i = 0; i < NREADERS; i++)
        if (atomic_load(&sh->res[i].scans_during) < MIN_SCANS && !sh->res[i].fail)
            return 0;
    return 1;
}

static uint64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

static void *writer_main(void *arg)
{
    struct wthread *t = arg;
    struct tu_rng rng;
    tu_rng_seed(&rng, 1000 + (uint64_t)t->idx);
    uint64_t seq = 1;
    uint64_t deadline = mono_s() + 60;
    for (uint64_t i = 0;; i++) {
        /* Run the planned events, then on until every reader has scanned a few
         * times during the churn (or a minute has passed). */
        if (i >= OPS_PER_THREAD && (readers_caught_up(t->sh) || mono_s() > deadline))
            break;
        t->ops++;
        uint64_t op = tu_rng_below(&rng, 1000);
        if (t->idx == 0 && op >= 970) { /* circular buffers of CB_DEV */
            if (op >= 995 || t->ncb == CB_CAP) {
                int rc = ttshm_record_free_cbs(t->w, CB_DEV);
                if (rc != TTSHM_RECORDED)
                    werr(t, "free_cbs", rc, &(struct buf){CB_DEV, TTSHM_CB, 0, 0});
                t->c[CB_DEV][TTSHM_CB].frees += t->ncb;
                t->ncb = 0;
            } else {
                struct buf b = {CB_DEV, TTSHM_CB, 0x40000000ull + tu_rng_below(&rng, 16) * 0x1000,
                                1 + tu_rng_below(&rng, 1 << 20)};
                int rc = ttshm_record_alloc(t->w, b.dev, TTSHM_CB, b.addr, b.size,
                                            tu_tag(b.dev, b.type, b.addr, b.size));
                if (rc != TTSHM_RECORDED)
                    werr(t, "CB alloc", rc, &b);
                t->cbs[t->ncb++] = b;
                t->c[CB_DEV][TTSHM_CB].allocs++;
                t->c[CB_DEV][TTSHM_CB].alloc_bytes += b.size;
            }
            continue;
        }
        if (t->nlive < 64 || (op < 520 && t->nlive < LIVE_CAP)) {
            struct buf b;
            b.dev = (uint32_t)tu_rng_below(&rng, NDEV);
            b.type = kinds[tu_rng_below(&rng, NKINDS)];
            b.addr = ((uint64_t)(t->idx + 1) << 44) | (seq++ << 6);
            b.size = 1 + tu_rng_below(&rng, 1ull << tu_rng_below(&rng, 25));
            int rc = ttshm_record_alloc(t->w, b.dev, (enum ttshm_mem_type)b.type, b.addr, b.size,
                                        tu_tag(b.dev, b.type, b.addr, b.size));
            if (rc != TTSHM_RECORDED)
                werr(t, "alloc", rc, &b);
            t->live[t->nlive++] = b;
            t->c[b.dev][b.type].allocs++;
            t->c[b.dev][b.type].alloc_bytes += b.size;
        } else if (op < 940) {
            size_t k = (size_t)tu_rng_below(&rng, t->nlive);
            struct buf b = t->live[k];
            int rc = ttshm_record_free(t->w, b.dev, (enum ttshm_mem_type)b.type, b.addr);
            if (rc != TTSHM_RECORDED)
                werr(t, "free", rc, &b);
            t->live[k] = t->live[--t->nlive];
            t->c[b.dev][b.type].frees++;
        } else if (op < 955) { /* duplicate alloc: same key, new size */
            size_t k = (size_t)tu_rng_below(&rng, t->nlive);
            struct buf *b = &t->live[k];
            uint64_t size = 1 + tu_rng_below(&rng, MAX_SIZE);
            int rc = ttshm_record_alloc(t->w, b->dev, (enum ttshm_mem_type)b->type, b->addr, size,
                                        tu_tag(b->dev, b->type, b->addr, size));
            if (rc != TTSHM_DUPLICATE)
                werr(t, "duplicate alloc", rc, b);
            struct ctr *c = &t->c[b->dev][b->type];
            c->allocs++;
            c->frees++;
            c->dup++;
            c->alloc_bytes += size;
            b->size = size;
        } else { /* free of a buffer never allocated */
            struct buf b = {(uint32_t)tu_rng_below(&rng, NDEV), kinds[tu_rng_below(&rng, NKINDS)],
                            ((uint64_t)(t->idx + 1) << 44) | (1ull << 43) | (seq++ << 6), 0};
            int rc = ttshm_record_free(t->w, b.dev, (enum ttshm_mem_type)b.type, b.addr);
            if (rc != TTSHM_UNKNOWN)
                werr(t, "unknown free", rc, &b);
            t->c[b.dev][b.type].unknown++;
        }
    }
    return NULL;
}

/* ---- reader processes ---- */

static void rfail(struct reader_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rfail(struct reader_result *res, const char *fmt, ...)
{
    if (res->fail++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
}

/* An entry as the workload makes them, and internally consistent. */
static int entry_ok(const struct ttshm_entry *e)
{
    if (e->tag != tu_tag(e->device, e->type, e->address, e->size) || e->generation != gen ||
        e->size == 0 || e->size > MAX_SIZE)
        return 0;
    if (e->type == TTSHM_CB)
        return e->device == CB_DEV && e->address >= 0x40000000ull &&
               e->address < 0x40000000ull + 16 * 0x1000;
    uint64_t owner = e->address >> 44;
    return e->device < NDEV && owner >= 1 && owner <= NWRITERS && (e->address & (1ull << 43)) == 0;
}

static void check_entries(struct reader_result *res, ttshm_reader *r, const struct ttshm_entry *v,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!entry_ok(&v[i])) {
            rfail(res,
                  "torn or foreign entry: dev %u type %u addr %llx size %llu tag %llx gen %llu",
                  v[i].device, v[i].type, (unsigned long long)v[i].address,
                  (unsigned long long)v[i].size, (unsigned long long)v[i].tag,
                  (unsigned long long)v[i].generation);
            return;
        }
    res->entries_seen += n;
    /* Look a sample up: found (and then the same key, self-consistent) or freed since. */
    size_t step = n / 128 + 1;
    for (size_t i = 0; i < n; i += step) {
        struct ttshm_entry e;
        int rc =
            ttshm_reader_lookup(r, v[i].device, (enum ttshm_mem_type)v[i].type, v[i].address, &e);
        res->lookups++;
        if (rc == 0) {
            res->lookups_found++;
            if (e.device != v[i].device || e.type != v[i].type || e.address != v[i].address ||
                !entry_ok(&e))
                rfail(res, "lookup of %u/%u/%llx returned dev %u type %u addr %llx size %llu",
                      v[i].device, v[i].type, (unsigned long long)v[i].address, e.device, e.type,
                      (unsigned long long)e.address, (unsigned long long)e.size);
        } else if (rc == -TTSHM_E_BUSY) {
            res->busy++;
        } else if (rc != -TTSHM_E_NOTFOUND) {
            rfail(res, "lookup returned %d", rc);
        }
    }
    /* Keys no writer ever uses are never found. */
    struct ttshm_entry e;
    uint64_t never = (0xfull << 44) | ((uint64_t)n << 6);
    int rc = ttshm_reader_lookup(r, (uint32_t)(n % NDEV), TTSHM_DRAM, never, &e);
    if (rc != -TTSHM_E_NOTFOUND && rc != -TTSHM_E_BUSY)
        rfail(res, "lookup of a never-allocated key returned %d", rc);
}

struct each_ctx {
    struct ttshm_entry *v;
    size_t n, cap;
};

static int each_fn(const struct ttshm_entry *e, void *ctx)
{
    struct each_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        struct ttshm_entry *nv = realloc(c->v, cap * sizeof *nv);
        if (nv == NULL)
            return -1;
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = *e;
    return 0;
}

static void check_stats(struct reader_result *res, const struct ttshm_stats *st,
                        struct ttshm_stats *prev, int have_prev)
{
    if (st->generation != gen)
        rfail(res, "stats generation %llu, expected %llu", (unsigned long long)st->generation,
              (unsigned long long)gen);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct ttshm_counters *c = &st->dev[d][t], *p = &prev->dev[d][t];
            if (c->live_count > c->allocs || c->frees > c->allocs ||
                c->live_bytes > c->alloc_bytes || c->live_count > (1ull << 40) ||
                c->live_bytes > (1ull << 62)) {
                rfail(res,
                      "dev %u type %u: live %llu/%llu bytes with allocs %llu frees %llu "
                      "(negative?)",
                      d, t, (unsigned long long)c->live_count, (unsigned long long)c->live_bytes,
                      (unsigned long long)c->allocs, (unsigned long long)c->frees);
                return;
            }
            if (c->dropped != 0 || ((d >= 8 || (d >= NDEV && d != CB_DEV)) && c->allocs != 0)) {
                rfail(res, "dev %u type %u: dropped %llu allocs %llu: unexpected", d, t,
                      (unsigned long long)c->dropped, (unsigned long long)c->allocs);
                return;
            }
            if (have_prev &&
                (c->allocs < p->allocs || c->frees < p->frees || c->alloc_bytes < p->alloc_bytes ||
                 c->unknown_frees < p->unknown_frees || c->duplicate_allocs < p->duplicate_allocs ||
                 c->peak_bytes < p->peak_bytes)) {
                rfail(res,
                      "dev %u type %u: a counter went backwards (allocs %llu->%llu frees "
                      "%llu->%llu peak %llu->%llu)",
                      d, t, (unsigned long long)p->allocs, (unsigned long long)c->allocs,
                      (unsigned long long)p->frees, (unsigned long long)c->frees,
                      (unsigned long long)p->peak_bytes, (unsigned long long)c->peak_bytes);
                return;
            }
        }
    *prev = *st;
}

static int entry_key_cmp(const void *a, const void *b)
{
    const struct ttshm_entry *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return 0;
}

/* Quiescent: entries and counters agree exactly. */
static void final_check(struct reader_result *res, ttshm_reader *r, struct ttshm_stats *st)
{
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    int rc = ttshm_reader_snapshot(r, &v, &n);
    if (rc != 0) {
        rfail(res, "final snapshot returned %d", rc);
        return;
    }
    if (ttshm_reader_skipped(r) != 0)
        rfail(res, "final snapshot skipped %llu slots",
              (unsigned long long)ttshm_reader_skipped(r));
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    if ((rc = ttshm_reader_stats(r, st)) != 0) {
        rfail(res, "final stats returned %d", rc);
        free(v);
        return;
    }
    static uint64_t cnt[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    static uint64_t bytes[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    memset(cnt, 0, sizeof cnt);
    memset(bytes, 0, sizeof bytes);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!entry_ok(&v[i]))
            rfail(res, "final: bad entry dev %u type %u", v[i].device, v[i].type);
        cnt[v[i].device % TTSHM_MAX_DEVICES][v[i].type % TTSHM_MEM_TYPE_COUNT]++;
        bytes[v[i].device % TTSHM_MAX_DEVICES][v[i].type % TTSHM_MEM_TYPE_COUNT] += v[i].size;
        sum += entry_sum(v[i].device, v[i].type, v[i].address, v[i].size);
    }
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            if (cnt[d][t] != st->dev[d][t].live_count || bytes[d][t] != st->dev[d][t].live_bytes)
                rfail(res,
                      "final: dev %u type %u: %llu entries / %llu bytes, counters say "
                      "%llu / %llu",
                      d, t, (unsigned long long)cnt[d][t], (unsigned long long)bytes[d][t],
                      (unsigned long long)st->dev[d][t].live_count,
                      (unsigned long long)st->dev[d][t].live_bytes);
    /* No key twice (CBs may repeat an address). */
    qsort(v, n, sizeof *v, entry_key_cmp);
    for (size_t i = 1; i < n; i++)
        if (v[i].type != TTSHM_CB && entry_key_cmp(&v[i - 1], &v[i]) == 0) {
            rfail(res, "final: key %u/%u/%llx appears twice", v[i].device, v[i].type,
                  (unsigned long long)v[i].address);
            break;
        }
    res->final_count = n;
    res->final_sum = sum;
    free(v);
}

static int reader_main(struct shared *sh, int idx)
{
    struct reader_result *res = &sh->res[idx];
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(seg, &r);
    if (rc != 0) {
        rfail(res, "reader_open returned %d", rc);
        atomic_store(&res->ready, 1);
        return 1;
    }
    struct ttshm_stats *st = calloc(1, sizeof *st), *prev = calloc(1, sizeof *prev);
    struct each_ctx each = {0};
    int have_prev = 0;
    for (uint64_t it = 0; !res->fail; it++) {
        int ph = atomic_load(&sh->phase);
        if (ph == PH_QUIESCENT)
            break;
        struct ttshm_entry *v = NULL;
        size_t n = 0;
        if (it & 1) {
            rc = ttshm_reader_snapshot(r, &v, &n);
        } else {
            each.n = 0;
            rc = ttshm_reader_foreach(r, each_fn, &each);
            v = each.v;
            n = each.n;
        }
        if (rc == 0) {
            res->scans++;
            res->skipped_during += ttshm_reader_skipped(r);
            check_entries(res, r, v, n);
        } else if (rc == -TTSHM_E_BUSY) {
            res->busy++;
        } else {
            rfail(res, "%s returned %d", it & 1 ? "snapshot" : "foreach", rc);
        }
        if (it & 1)
            free(v);
        memset(st, 0, sizeof *st);
        st->struct_size = sizeof *st;
        rc = ttshm_reader_stats(r, st);
        if (rc == 0)
            check_stats(res, st, prev, have_prev++);
        else if (rc != -TTSHM_E_BUSY)
            rfail(res, "stats returned %d", rc);
        struct ttshm_status s = {.struct_size = sizeof s};
        rc = ttshm_reader_status(r, &s);
        if (rc == 0 && (s.state != TTSHM_STATE_ALIVE || s.generation != gen ||
                        s.pid != (uint32_t)getppid() || (s.table_slots & (s.table_slots - 1))))
            rfail(res, "status: state %u generation %llu pid %u table_slots %llu", s.state,
                  (unsigned long long)s.generation, s.pid, (unsigned long long)s.table_slots);
        else if (rc != 0 && rc != -TTSHM_E_BUSY)
            rfail(res, "status returned %d", rc);
        if (it == 0)
            atomic_store(&res->ready, 1);
        if (ph == PH_RUNNING && atomic_load(&sh->phase) == PH_RUNNING && rc == 0)
            atomic_fetch_add(&res->scans_during, 1);
    }
    atomic_store(&res->ready, 1);
    while (!res->fail && atomic_load(&sh->phase) != PH_QUIESCENT) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (!res->fail)
        final_check(res, r, st);
    free(each.v);
    free(st);
    free(prev);
    ttshm_reader_close(r);
    return res->fail ? 1 : 0;
}

/* ---- the test ---- */

static int buf_cmp(const void *a, const void *b)
{
    const struct ttshm_entry *x = a, *y = b;
    return tu_entry_cmp(x, y);
}

static void test_writers_and_reader_processes(void)
{
    ttshm_test_registry(reg, "conc");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(w));
    gen = ttshm_writer_generation(w);

    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);

    /* Readers are forked before any writer thread exists. */
    pid_t pids[NREADERS];
    fflush(NULL);
    for (int i = 0; i < NREADERS; i++) {
        pids[i] = fork();
        CU_ASSERT_FATAL(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(reader_main(sh, i));
    }
    for (int i = 0; i < NREADERS; i++)
        while (!atomic_load(&sh->res[i].ready)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }

    struct wthread *wt = calloc(NWRITERS, sizeof *wt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wt);
    pthread_t th[NWRITERS];
    atomic_store(&sh->phase, PH_RUNNING);
    for (int i = 0; i < NWRITERS; i++) {
        wt[i].idx = i;
        wt[i].w = w;
        wt[i].sh = sh;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, writer_main, &wt[i]), 0);
    }
    for (int i = 0; i < NWRITERS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&sh->phase, PH_QUIESCENT);

    int rstatus[NREADERS];
    for (int i = 0; i < NREADERS; i++)
        tu_wait_child(pids[i], 120000, &rstatus[i]);

    /* What the writers left live, and what they counted. */
    size_t nexp = 0;
    for (int i = 0; i < NWRITERS; i++)
        nexp += wt[i].nlive + wt[i].ncb;
    struct ttshm_entry *exp = calloc(nexp + 1, sizeof *exp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(exp);
    struct ctr total[8][TTSHM_MEM_TYPE_COUNT];
    memset(total, 0, sizeof total);
    size_t k = 0;
    uint64_t exp_sum = 0, ops = 0;
    for (int i = 0; i < NWRITERS; i++) {
        if (wt[i].err[0])
            TTSHM_TEST_FAILF("%s", wt[i].err);
        ops += wt[i].ops;
        for (int pass = 0; pass < 2; pass++) {
            const struct buf *b = pass ? wt[i].cbs : wt[i].live;
            size_t nb = pass ? wt[i].ncb : wt[i].nlive;
            for (size_t j = 0; j < nb; j++) {
                exp[k++] =
                    (struct ttshm_entry){.device = b[j].dev,
                                         .type = b[j].type,
                                         .address = b[j].addr,
                                         .size = b[j].size,
                                         .tag = tu_tag(b[j].dev, b[j].type, b[j].addr, b[j].size)};
                exp_sum += entry_sum(b[j].dev, b[j].type, b[j].addr, b[j].size);
            }
        }
        for (int d = 0; d < 8; d++)
            for (int t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                total[d][t].allocs += wt[i].c[d][t].allocs;
                total[d][t].frees += wt[i].c[d][t].frees;
                total[d][t].alloc_bytes += wt[i].c[d][t].alloc_bytes;
                total[d][t].unknown += wt[i].c[d][t].unknown;
                total[d][t].dup += wt[i].c[d][t].dup;
            }
    }

    /* Each reader process: no invariant broken, did read while the writers ran,
     * and its final view is exactly the writers' live set. */
    for (int i = 0; i < NREADERS; i++) {
        struct reader_result *res = &sh->res[i];
        fprintf(stderr,
                "reader %d: %llu scans (%llu during churn), %llu entries checked, %llu lookups "
                "(%llu found), %llu busy, %llu slots skipped during churn\n",
                i, (unsigned long long)res->scans, (unsigned long long)res->scans_during,
                (unsigned long long)res->entries_seen, (unsigned long long)res->lookups,
                (unsigned long long)res->lookups_found, (unsigned long long)res->busy,
                (unsigned long long)res->skipped_during);
        if (res->fail)
            TTSHM_TEST_FAILF("reader %d: %s", i, res->msg);
        if (!WIFEXITED(rstatus[i]) || WEXITSTATUS(rstatus[i]) != 0)
            TTSHM_TEST_FAILF("reader %d: exit status 0x%x", i, rstatus[i]);
        CU_ASSERT(res->scans_during >= MIN_SCANS);
        CU_ASSERT(res->lookups_found > 0);
        CU_ASSERT_EQUAL(res->final_count, nexp);
        CU_ASSERT_EQUAL(res->final_sum, exp_sum);
    }
    fprintf(stderr, "writers: %llu operations, %zu buffers left live\n", (unsigned long long)ops,
            nexp);

    /* The same checks in this process, entry by entry. */
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(seg, &r), 0);
    struct ttshm_status status = {.struct_size = sizeof status};
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &status), 0);
    fprintf(stderr, "table: %llu slots, %llu being drained, %llu dropped_global\n",
            (unsigned long long)status.table_slots, (unsigned long long)status.migrating_slots,
            (unsigned long long)status.dropped_global);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    for (int d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (int t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            struct ctr z = {0};
            const struct ctr *e = d < 8 ? &total[d][t] : &z;
            const struct ttshm_counters *c = &st->dev[d][t];
            uint64_t live = 0, bytes = 0;
            for (size_t j = 0; j < nexp; j++)
                if (exp[j].device == (uint32_t)d && exp[j].type == (uint32_t)t) {
                    live++;
                    bytes += exp[j].size;
                }
            if (c->allocs != e->allocs || c->frees != e->frees ||
                c->alloc_bytes != e->alloc_bytes || c->unknown_frees != e->unknown ||
                c->duplicate_allocs != e->dup || c->live_count != live || c->live_bytes != bytes ||
                c->peak_bytes < bytes || c->peak_bytes > c->alloc_bytes || c->dropped != 0)
                TTSHM_TEST_FAILF(
                    "dev %d type %d: allocs %llu/%llu frees %llu/%llu bytes %llu/%llu "
                    "unknown %llu/%llu dup %llu/%llu live %llu/%llu live_bytes "
                    "%llu/%llu peak %llu (got/expected)",
                    d, t, (unsigned long long)c->allocs, (unsigned long long)e->allocs,
                    (unsigned long long)c->frees, (unsigned long long)e->frees,
                    (unsigned long long)c->alloc_bytes, (unsigned long long)e->alloc_bytes,
                    (unsigned long long)c->unknown_frees, (unsigned long long)e->unknown,
                    (unsigned long long)c->duplicate_allocs, (unsigned long long)e->dup,
                    (unsigned long long)c->live_count, (unsigned long long)live,
                    (unsigned long long)c->live_bytes, (unsigned long long)bytes,
                    (unsigned long long)c->peak_bytes);
        }
    struct ttshm_entry *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &v, &n), 0);
    CU_ASSERT_EQUAL(n, nexp);
    CU_ASSERT_EQUAL(ttshm_reader_skipped(r), 0);
    if (n == nexp) {
        for (size_t j = 0; j < n; j++) { /* compare on what the writers set */
            v[j].timestamp_ns = 0;
            v[j].generation = 0;
            v[j].tid = 0;
        }
        qsort(v, n, sizeof *v, buf_cmp);
        qsort(exp, nexp, sizeof *exp, buf_cmp);
        size_t diff = 0;
        for (size_t j = 0; j < n; j++)
            if (tu_entry_cmp(&v[j], &exp[j]) != 0 && diff++ == 0)
                TTSHM_TEST_FAILF("entry %zu differs: got %u/%u/%llx size %llu, expected "
                                 "%u/%u/%llx size %llu",
                                 j, v[j].device, v[j].type, (unsigned long long)v[j].address,
                                 (unsigned long long)v[j].size, exp[j].device, exp[j].type,
                                 (unsigned long long)exp[j].address,
                                 (unsigned long long)exp[j].size);
        CU_ASSERT_EQUAL(diff, 0);
    }
    /* Every buffer allocated and not freed is found by lookup, exactly. */
    size_t missing = 0;
    for (int i = 0; i < NWRITERS; i++)
        for (size_t j = 0; j < wt[i].nlive; j++) {
            const struct buf *b = &wt[i].live[j];
            struct ttshm_entry e;
            int rc = ttshm_reader_lookup(r, b->dev, (enum ttshm_mem_type)b->type, b->addr, &e);
            if (rc != 0 || e.size != b->size ||
                e.tag != tu_tag(b->dev, b->type, b->addr, b->size) || e.generation != gen) {
                if (missing++ == 0)
                    TTSHM_TEST_FAILF("live buffer %u/%u/%llx size %llu: lookup rc %d size %llu",
                                     b->dev, b->type, (unsigned long long)b->addr,
                                     (unsigned long long)b->size, rc,
                                     (unsigned long long)(rc == 0 ? e.size : 0));
            }
        }
    CU_ASSERT_EQUAL(missing, 0);
    free(v);
    free(st);
    free(exp);
    free(wt);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    munmap(sh, sizeof *sh);
    ttshm_test_unlink_registry(reg);
}

/* ---- free-all-CBs racing with CB allocs of the same device ---- */

struct cb_race {
    ttshm_writer *w;
    _Atomic int stop;
    _Atomic uint64_t allocs;
};

static void *cb_alloc_main(void *arg)
{
    struct cb_race *c = arg;
    uint64_t i = 0;
    for (; !atomic_load_explicit(&c->stop, memory_order_relaxed); i++)
        ttshm_record_alloc(c->w, 3, TTSHM_CB, 0x1000 * (i % 32), 64 + (i % 7), 0);
    atomic_fetch_add(&c->allocs, i);
    return NULL;
}

static void test_cb_free_all_races_cb_allocs(void)
{
    ttshm_test_registry(reg, "cbrace");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    struct cb_race c = {.w = w};
    pthread_t th[2];
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[0], NULL, cb_alloc_main, &c), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[1], NULL, cb_alloc_main, &c), 0);
    uint64_t frees_calls = 0;
    for (int i = 0; i < 20000; i++) {
        CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 3), TTSHM_RECORDED);
        frees_calls++;
        if (i % 64 == 0)
            sched_yield();
    }
    atomic_store(&c.stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);

    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r), 0);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    struct ttshm_entry *v = NULL;
    size_t n = 0, cbs = 0;
    uint64_t bytes = 0;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].device == 3 && v[i].type == TTSHM_CB) {
            cbs++;
            bytes += v[i].size;
        }
    const struct ttshm_counters *cc = &st->dev[3][TTSHM_CB];
    fprintf(stderr, "cb race: %llu CB allocs, %llu free-alls; %zu CB entries, counters say %llu\n",
            (unsigned long long)atomic_load(&c.allocs), (unsigned long long)frees_calls, cbs,
            (unsigned long long)cc->live_count);
    CU_ASSERT_EQUAL(cc->allocs, atomic_load(&c.allocs));
    if (cc->live_count != cbs || cc->live_bytes != bytes)
        TTSHM_TEST_FAILF("quiescent: %zu live CB entries (%llu bytes) but counters say %llu "
                         "(%llu bytes)",
                         cbs, (unsigned long long)bytes, (unsigned long long)cc->live_count,
                         (unsigned long long)cc->live_bytes);
    /* One more free-all empties both. */
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 3), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(st->dev[3][TTSHM_CB].live_count, 0);
    CU_ASSERT_EQUAL(st->dev[3][TTSHM_CB].frees, st->dev[3][TTSHM_CB].allocs);
    free(v);
    free(st);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"writer_threads_vs_reader_processes", test_writers_and_reader_processes},
        {"cb_free_all_races_cb_allocs", test_cb_free_all_races_cb_allocs},
    };
    TTSHM_TEST_SUITE("concurrency", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
