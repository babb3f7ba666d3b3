/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stress with cross-process validation. Writer threads (4 in ctest, 16 with
 * --long or TTSHM_LONG=1) record ~1M events (10M long; TTSHM_STRESS_EVENTS
 * overrides) while 4 reader processes read the segment the whole time:
 *  - every entry a reader sees is validated (its tag is a hash of the other
 *    fields, its size and device are functions of its address): a torn,
 *    mixed or invented entry fails the test; so does an entry seen twice in
 *    one snapshot (a record caught in both tables during a migration);
 *  - every counter is validated on every pass: never negative, monotonic,
 *    no unknown/duplicate/dropped events;
 *  - at quiescence (after each phase) the writer sends its exact expectation
 *    and every reader checks that counters equal entries equal the
 *    expectation: per device x type live count/bytes, allocs, frees, bytes
 *    allocated, and a hash of the set of live addresses per device; every
 *    live entry is found by lookup; nothing is skipped.
 * Phase 1 grows the table many times over; phase 2 shrinks the live set;
 * phase 3 grows it again through a table full of tombstones.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

#define NREADERS   4
#define MAX_WRITER 16
#define NTYPES     TTSHM_MEM_TYPE_COUNT
#define NPHASES    3

/* ---- the records: every field derivable from the address ---- */

static uint64_t size_of(uint64_t addr)
{
    return 64 + ((rel_mix64(addr) % 4096) << 6);
}

static uint64_t tag_of(uint32_t dev, uint32_t type, uint64_t addr, uint64_t size)
{
    return rel_mix64(addr ^ rel_mix64(size ^ ((uint64_t)dev << 40) ^ ((uint64_t)type << 32)));
}

/* address = thread:8 | type:4 | counter:30 | 64-byte aligned */
static uint64_t addr_of(unsigned thread, unsigned type, uint64_t k)
{
    return ((uint64_t)thread << 40) | ((uint64_t)type << 36) | ((k & 0x3fffffffull) << 6);
}

static const char *entry_problem(const struct ttshm_entry *e, unsigned nthreads, uint64_t gen)
{
    unsigned thread = (unsigned)(e->address >> 40);
    unsigned type = (unsigned)((e->address >> 36) & 15);
    if (thread >= nthreads || e->device != thread)
        return "device is not the one its address was recorded on";
    if (e->type != type)
        return "type does not match address";
    if ((e->address & 63) != 0)
        return "address not aligned (foreign)";
    if (e->size != size_of(e->address))
        return "size does not match address";
    if (e->tag != tag_of(e->device, e->type, e->address, e->size))
        return "tag does not match the fields (torn or mixed entry)";
    if (e->generation != gen)
        return "generation is not the writer's";
    return NULL;
}

/* ---- the expectation sent at quiescence ---- */

struct dt_counts {
    uint64_t live_count, live_bytes, allocs, frees, alloc_bytes;
};
struct expect {
    uint32_t kind; /* 'C' check, 'S' stop */
    uint32_t phase;
    uint64_t generation;
    struct dt_counts c[MAX_WRITER][NTYPES];
    uint64_t keysum[MAX_WRITER]; /* sum of mix64(address) of live buffers */
};

struct reader_report {
    uint64_t passes, entries, lookups, torn, duplicates, skipped_live, counter_violations;
    uint64_t checks_ok, checks_failed, busy;
};

/* ---- writer threads ---- */

struct wthread {
    pthread_t th;
    unsigned idx;
    ttshm_writer *w;
    struct rel_rng rng;
    uint64_t events, target;
    uint64_t *addrs; /* live non-CB buffers */
    uint8_t *types;
    size_t n, cap;
    uint64_t k[NTYPES];
    uint64_t cb_live[3]; /* count, bytes, sum of mix64(address) of live CBs */
    struct dt_counts c[NTYPES];
    uint64_t bad_results;
    /* mix: a CB alloc when (r & cb_mask) == 0, free_cbs when (r & fcb_mask) == 1,
     * else an alloc with probability alloc_eighths/8 below the target */
    uint64_t cb_mask, fcb_mask, alloc_eighths;
};

static void *churn(void *arg)
{
    struct wthread *t = arg;
    const uint32_t dev = t->idx;
    static const uint8_t types[] = {TTSHM_DRAM,     TTSHM_L1,    TTSHM_SYSTEM_MEMORY,
                                    TTSHM_L1_SMALL, TTSHM_TRACE, TTSHM_KERNEL};
    for (uint64_t i = 0; i < t->events; i++) {
        uint64_t r = rel_rng_next(&t->rng);
        enum ttshm_result res;
        if ((r & t->cb_mask) == 0) {
            uint64_t a = addr_of(t->idx, TTSHM_CB, t->k[TTSHM_CB]++), s = size_of(a);
            res = ttshm_record_alloc(t->w, dev, TTSHM_CB, a, s, tag_of(dev, TTSHM_CB, a, s));
            t->cb_live[0]++, t->cb_live[1] += s, t->cb_live[2] += rel_mix64(a);
            t->c[TTSHM_CB].allocs++, t->c[TTSHM_CB].alloc_bytes += s;
        } else if ((r & t->fcb_mask) == 1) {
            res = ttshm_record_free_cbs(t->w, dev);
            t->c[TTSHM_CB].frees += t->cb_live[0];
            t->cb_live[0] = t->cb_live[1] = t->cb_live[2] = 0;
        } else if (t->n < t->target && (t->n == 0 || (r >> 10) % 8 < t->alloc_eighths)) {
            unsigned type = types[(r >> 16) % sizeof types];
            uint64_t a = addr_of(t->idx, type, t->k[type]++), s = size_of(a);
            res = ttshm_record_alloc(t->w, dev, (enum ttshm_mem_type)type, a, s,
                                     tag_of(dev, type, a, s));
            if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 1024;
                t->addrs = realloc(t->addrs, t->cap * sizeof *t->addrs);
                t->types = realloc(t->types, t->cap);
                if (t->addrs == NULL || t->types == NULL)
                    abort();
            }
            t->addrs[t->n] = a;
            t->types[t->n] = (uint8_t)type;
            t->n++;
            t->c[type].allocs++, t->c[type].alloc_bytes += s;
        } else if (t->n > 0) {
            size_t j = (size_t)((r >> 24) % t->n);
            uint64_t a = t->addrs[j];
            unsigned type = t->types[j];
            res = ttshm_record_free(t->w, dev, (enum ttshm_mem_type)type, a);
            t->addrs[j] = t->addrs[t->n - 1];
            t->types[j] = t->types[t->n - 1];
            t->n--;
            t->c[type].frees++;
        } else {
            continue;
        }
        if (res != TTSHM_RECORDED && t->bad_results++ < 5)
            fprintf(stderr, "stress: thread %u event %llu: result %d, expected RECORDED\n", t->idx,
                    (unsigned long long)i, (int)res);
    }
    return NULL;
}

static void fill_expect(struct expect *x, struct wthread *th, unsigned nthreads)
{
    for (unsigned t = 0; t < nthreads; t++) {
        for (unsigned ty = 0; ty < NTYPES; ty++) {
            x->c[t][ty] = th[t].c[ty];
            x->c[t][ty].live_count = 0;
            x->c[t][ty].live_bytes = 0;
        }
        for (size_t i = 0; i < th[t].n; i++) {
            uint64_t a = th[t].addrs[i];
            struct dt_counts *c = &x->c[t][th[t].types[i]];
            c->live_count++;
            c->live_bytes += size_of(a);
            x->keysum[t] += rel_mix64(a);
        }
        x->c[t][TTSHM_CB].live_count = th[t].cb_live[0];
        x->c[t][TTSHM_CB].live_bytes = th[t].cb_live[1];
        x->keysum[t] += th[t].cb_live[2];
    }
}

/* ---- readers ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rd_problems;
static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    if (rd_problems++ < 10) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "stress reader %d: ", (int)getpid());
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

struct reader_state {
    unsigned nthreads;
    const char *segment;
    ttshm_reader *r;
    uint64_t gen;
    struct ttshm_stats last;
    struct reader_report rep;
    uint64_t *keys;
    size_t keycap;
};

/* One validating pass. Returns the snapshot (caller frees) for quiescent checks. */
/* Looks an entry up by its key: a CB's owner (its tag) is part of it. */
static int lookup_entry(ttshm_reader *r, const struct ttshm_entry *e, struct ttshm_entry *got)
{
    if (e->type == TTSHM_CB)
        return ttshm_reader_lookup_cb(r, e->device, e->address, e->tag, got);
    return ttshm_reader_lookup(r, e->device, (enum ttshm_mem_type)e->type, e->address, got);
}

static int reader_pass(struct reader_state *s, struct ttshm_stats *st, struct ttshm_entry **out,
                       size_t *nout)
{
    st->struct_size = sizeof *st;
    int rc = ttshm_reader_stats(s->r, st);
    if (rc == -TTSHM_E_BUSY) {
        s->rep.busy++;
        return rc;
    }
    if (rc != 0) {
        problem("stats: %s", ttshm_strerror(rc));
        return rc;
    }
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < NTYPES; t++) {
            const struct ttshm_counters *c = &st->dev[d][t], *l = &s->last.dev[d][t];
            bool bad = c->frees > c->allocs || c->live_count > c->allocs ||
                       c->live_bytes > c->alloc_bytes || c->allocs < l->allocs ||
                       c->frees < l->frees || c->alloc_bytes < l->alloc_bytes || c->unknown_frees ||
                       c->duplicate_allocs || c->dropped || (d >= s->nthreads && c->allocs);
            if (bad) {
                s->rep.counter_violations++;
                problem("counters dev %u type %u: live %llu/%llu B allocs %llu (was %llu) frees "
                        "%llu (was %llu) unknown %llu dup %llu dropped %llu",
                        d, t, (unsigned long long)c->live_count, (unsigned long long)c->live_bytes,
                        (unsigned long long)c->allocs, (unsigned long long)l->allocs,
                        (unsigned long long)c->frees, (unsigned long long)l->frees,
                        (unsigned long long)c->unknown_frees,
                        (unsigned long long)c->duplicate_allocs, (unsigned long long)c->dropped);
            }
        }
    s->last = *st;

    struct ttshm_entry *e = NULL;
    size_t n = 0;
    rc = ttshm_reader_snapshot(s->r, &e, &n);
    if (rc == -TTSHM_E_BUSY) {
        s->rep.busy++;
        return rc;
    }
    if (rc != 0) {
        problem("snapshot: %s", ttshm_strerror(rc));
        return rc;
    }
    s->rep.passes++;
    s->rep.skipped_live += ttshm_reader_skipped(s->r);
    if (n > s->keycap) {
        s->keycap = n * 2;
        s->keys = realloc(s->keys, s->keycap * sizeof *s->keys);
        if (s->keys == NULL)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        s->rep.entries++;
        const char *why = entry_problem(&e[i], s->nthreads, s->gen);
        if (why) {
            s->rep.torn++;
            problem("entry dev %u type %u addr %#llx size %llu gen %llu: %s", e[i].device,
                    e[i].type, (unsigned long long)e[i].address, (unsigned long long)e[i].size,
                    (unsigned long long)e[i].generation, why);
        }
        s->keys[i] = e[i].address; /* addresses are unique across devices and types */
    }
    if (n > 1)
        qsort(s->keys, n, sizeof *s->keys, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (s->keys[i] == s->keys[i - 1]) {
            s->rep.duplicates++;
            problem("address %#llx twice in one snapshot", (unsigned long long)s->keys[i]);
        }
    for (size_t i = 0; i < n && i < 8; i++) {
        const struct ttshm_entry *x = &e[(i * 104729) % n];
        struct ttshm_entry got;
        int lr = lookup_entry(s->r, x, &got);
        s->rep.lookups++;
        if (lr == 0 ? (got.address != x->address || got.tag != x->tag)
                    : lr != -TTSHM_E_NOTFOUND && lr != -TTSHM_E_BUSY)
            problem("lookup %#llx: rc %d", (unsigned long long)x->address, lr);
    }
    if (out) {
        *out = e;
        *nout = n;
    } else {
        free(e);
    }
    return 0;
}

struct foreach_ctx {
    unsigned nthreads;
    uint64_t gen;
    size_t n, bad;
};

static int count_entry(const struct ttshm_entry *e, void *arg)
{
    struct foreach_ctx *c = arg;
    c->n++;
    if (entry_problem(e, c->nthreads, c->gen))
        c->bad++;
    return 0;
}

static bool quiescent_check(struct reader_state *s, const struct expect *x)
{
    struct ttshm_stats *st = calloc(1, sizeof *st);
    struct ttshm_entry *e = NULL;
    size_t n = 0;
    int rc;
    uint64_t deadline = rel_now_ns() + 20000000000ull;
    while ((rc = reader_pass(s, st, &e, &n)) == -TTSHM_E_BUSY && rel_now_ns() < deadline)
        rel_sleep_us(100);
    uint64_t before = rd_problems;
    if (rc != 0) {
        problem("quiescent phase %u: cannot read: %s", x->phase, ttshm_strerror(rc));
        free(st);
        return false;
    }
    if (ttshm_reader_skipped(s->r) != 0)
        problem("quiescent phase %u: %llu slots skipped with the writer idle", x->phase,
                (unsigned long long)ttshm_reader_skipped(s->r));
    static struct dt_counts seen[MAX_WRITER][NTYPES];
    static uint64_t keysum[MAX_WRITER];
    memset(seen, 0, sizeof seen);
    memset(keysum, 0, sizeof keysum);
    for (size_t i = 0; i < n; i++) {
        if (e[i].device >= s->nthreads || e[i].type >= NTYPES)
            continue; /* reported by reader_pass */
        seen[e[i].device][e[i].type].live_count++;
        seen[e[i].device][e[i].type].live_bytes += e[i].size;
        keysum[e[i].device] += rel_mix64(e[i].address);
        struct ttshm_entry got;
        int lr = lookup_entry(s->r, &e[i], &got);
        if (lr != 0 || got.address != e[i].address || got.size != e[i].size)
            problem("quiescent: lookup of live %#llx: %d", (unsigned long long)e[i].address, lr);
    }
    for (unsigned d = 0; d < s->nthreads; d++) {
        if (keysum[d] != x->keysum[d])
            problem("quiescent phase %u device %u: the set of live addresses differs from the "
                    "writer's",
                    x->phase, d);
        for (unsigned t = 0; t < NTYPES; t++) {
            const struct dt_counts *w = &x->c[d][t], *es = &seen[d][t];
            const struct ttshm_counters *c = &st->dev[d][t];
            if (c->live_count != w->live_count || c->live_bytes != w->live_bytes ||
                es->live_count != w->live_count || es->live_bytes != w->live_bytes ||
                c->allocs != w->allocs || c->frees != w->frees || c->alloc_bytes != w->alloc_bytes)
                problem("quiescent phase %u dev %u type %u: writer live %llu/%llu B allocs %llu "
                        "frees %llu bytes %llu; counters live %llu/%llu B allocs %llu frees %llu "
                        "bytes %llu; entries %llu/%llu B",
                        x->phase, d, t, (unsigned long long)w->live_count,
                        (unsigned long long)w->live_bytes, (unsigned long long)w->allocs,
                        (unsigned long long)w->frees, (unsigned long long)w->alloc_bytes,
                        (unsigned long long)c->live_count, (unsigned long long)c->live_bytes,
                        (unsigned long long)c->allocs, (unsigned long long)c->frees,
                        (unsigned long long)c->alloc_bytes, (unsigned long long)es->live_count,
                        (unsigned long long)es->live_bytes);
        }
    }
    /* foreach must agree with the snapshot (the writer is idle). */
    struct foreach_ctx fc = {.nthreads = s->nthreads, .gen = s->gen};
    rc = ttshm_reader_foreach(s->r, count_entry, &fc);
    if (rc != 0 || fc.n != n || fc.bad)
        problem("quiescent phase %u: foreach rc %d visited %zu (%zu invalid), snapshot had %zu",
                x->phase, rc, fc.n, fc.bad, n);
    free(e);
    free(st);
    return rd_problems == before;
}

static void reader_main(unsigned nthreads, const char *registry, int cmd_fd, int rep_fd)
{
    struct reader_state s = {.nthreads = nthreads};
    char seg[96];
    snprintf(seg, sizeof seg, "ttshm.%s.0", registry);
    s.segment = seg;
    /* Wait for the writer's segment. */
    uint64_t deadline = rel_now_ns() + 60000000000ull;
    int rc;
    while ((rc = ttshm_reader_open(seg, &s.r)) != 0 && rel_now_ns() < deadline)
        rel_sleep_us(1000);
    if (rc != 0) {
        problem("cannot open %s: %s", seg, ttshm_strerror(rc));
        _exit(2);
    }
    struct ttshm_status status = {.struct_size = sizeof status};
    while ((rc = ttshm_reader_status(s.r, &status)) == -TTSHM_E_BUSY)
        rel_sleep_us(100);
    s.gen = status.generation;
    fcntl(cmd_fd, F_SETFL, O_NONBLOCK);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    for (;;) {
        struct expect x;
        ssize_t got = read(cmd_fd, &x, 1);
        if (got == 1) {
            fcntl(cmd_fd, F_SETFL, 0);
            if (rel_read_full(cmd_fd, (char *)&x + 1, sizeof x - 1, 60000) != 0)
                _exit(3);
            fcntl(cmd_fd, F_SETFL, O_NONBLOCK);
            if (x.kind == 'S')
                break;
            alarm(120);
            if (quiescent_check(&s, &x))
                s.rep.checks_ok++;
            else
                s.rep.checks_failed++;
            alarm(0);
            rel_write_full(rep_fd, &s.rep, sizeof s.rep);
            continue;
        }
        if (got == 0)
            break; /* the driver went away */
        alarm(60); /* a pass that hangs kills this reader: the driver sees SIGALRM */
        reader_pass(&s, st, NULL, NULL);
        alarm(0);
    }
    rel_write_full(rep_fd, &s.rep, sizeof s.rep);
    ttshm_reader_close(s.r);
    _exit(rd_problems ? 1 : 0);
}

/* ---- the driver ---- */

static void test_stress(void)
{
    const bool lng = rel_long_mode();
    unsigned nthreads = lng ? 16 : 4;
    long events = lng ? 10000000 : rel_tsan() ? 250000 : 1000000;
    events = rel_env_long("TTSHM_STRESS_EVENTS", events);
    nthreads = (unsigned)rel_env_long("TTSHM_STRESS_THREADS", (long)nthreads);
    if (nthreads > MAX_WRITER)
        nthreads = MAX_WRITER;
    uint64_t live_hi = lng ? 16384 : rel_tsan() ? 2048 : 8192; /* per thread */
    live_hi = (uint64_t)rel_env_long("TTSHM_STRESS_LIVE", (long)live_hi);
    char reg[48];
    ttshm_test_registry(reg, "stress");
    ttshm_test_unlink_registry(reg);
    uint64_t seed = (uint64_t)rel_env_long("TTSHM_SEED", (long)(rel_now_ns() ^ (uint64_t)getpid()));
    fprintf(stderr,
            "stress: registry %s, %u writer threads, %ld events, %llu live per thread, "
            "%d reader processes, seed %llu\n",
            reg, nthreads, events, (unsigned long long)live_hi, NREADERS, (unsigned long long)seed);

    /* Readers first: fork before this process has threads. */
    pid_t rpid[NREADERS];
    int cmd[NREADERS], rep[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        int c[2], r[2];
        CU_ASSERT_FATAL(pipe(c) == 0 && pipe(r) == 0);
        rpid[i] = fork();
        CU_ASSERT_FATAL(rpid[i] >= 0);
        if (rpid[i] == 0) {
            close(c[1]);
            close(r[0]);
            for (int j = 0; j < i; j++) {
                close(cmd[j]);
                close(rep[j]);
            }
            reader_main(nthreads, reg, c[0], r[1]);
        }
        close(c[0]);
        close(r[1]);
        cmd[i] = c[1];
        rep[i] = r[0];
    }

    ttshm_writer *w = NULL;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .report_errors = 1};
    int rc = ttshm_writer_open(&cfg, &w);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    uint64_t gen = ttshm_writer_generation(w);

    struct wthread *th = calloc(nthreads, sizeof *th);
    struct rel_rng seeder;
    rel_rng_seed(&seeder, seed);
    for (unsigned t = 0; t < nthreads; t++) {
        th[t].idx = t;
        th[t].w = w;
        th[t].cb_mask = 31, th[t].fcb_mask = 1023, th[t].alloc_eighths = 5;
        rel_rng_seed(&th[t].rng, rel_rng_next(&seeder));
    }
    uint64_t t0 = rel_now_ns();
    unsigned failures = 0;
    struct reader_report last[NREADERS];
    memset(last, 0, sizeof last);
    uint64_t bad_results = 0;
    /* Phase 1 grows to live_hi per thread; phase 2 shrinks to a small set
     * (leaving the table full of tombstones); phase 3 grows it again. */
    for (unsigned phase = 1; phase <= NPHASES; phase++) {
        long share = phase == 1   ? events * 4 / 10
                     : phase == 2 ? events * 3 / 10
                                  : events - events * 7 / 10;
        for (unsigned t = 0; t < nthreads; t++) {
            th[t].events = (uint64_t)share / nthreads;
            th[t].target = phase == 2 ? live_hi / 16 : live_hi;
            CU_ASSERT_FATAL(pthread_create(&th[t].th, NULL, churn, &th[t]) == 0);
        }
        for (unsigned t = 0; t < nthreads; t++)
            pthread_join(th[t].th, NULL);
        /* Quiescent: every reader checks the exact expectation. */
        struct expect *x = calloc(1, sizeof *x);
        x->kind = 'C';
        x->phase = phase;
        x->generation = gen;
        fill_expect(x, th, nthreads);
        for (int i = 0; i < NREADERS; i++)
            if (rel_write_full(cmd[i], x, sizeof *x) != 0)
                failures++;
        for (int i = 0; i < NREADERS; i++) {
            struct reader_report r;
            if (rel_read_full(rep[i], &r, sizeof r, 180000) != 0) {
                fprintf(stderr, "stress: reader %d gave no answer to the phase %u check\n",
                        (int)rpid[i], phase);
                failures++;
                continue;
            }
            if (r.checks_failed != last[i].checks_failed)
                failures++;
            last[i] = r;
        }
        /* The driver checks freed buffers are gone. */
        ttshm_reader *r;
        if (rel_reader_open(reg, 0, &r, 5000) == 0) {
            for (unsigned t = 0; t < nthreads; t++) {
                struct ttshm_entry e;
                uint64_t a = addr_of(t, TTSHM_DRAM, 0); /* the first DRAM buffer of each thread */
                bool live = false;
                for (size_t i = 0; i < th[t].n; i++)
                    live |= th[t].addrs[i] == a;
                int lr = ttshm_reader_lookup(r, t, TTSHM_DRAM, a, &e);
                if (th[t].k[TTSHM_DRAM] > 0 && (live ? lr != 0 : lr != -TTSHM_E_NOTFOUND)) {
                    fprintf(stderr, "stress: lookup of %s buffer %#llx gave %d\n",
                            live ? "live" : "freed", (unsigned long long)a, lr);
                    failures++;
                }
            }
            ttshm_reader_close(r);
        } else {
            failures++;
        }
        free(x);
    }
    double secs = (double)(rel_now_ns() - t0) / 1e9;
    for (unsigned t = 0; t < nthreads; t++)
        bad_results += th[t].bad_results;

    struct expect stop = {.kind = 'S'};
    uint64_t passes = 0, entries = 0, lookups = 0, torn = 0, dups = 0, skipped = 0, checks = 0;
    for (int i = 0; i < NREADERS; i++) {
        rel_write_full(cmd[i], &stop, sizeof stop);
        struct reader_report r;
        bool got = rel_read_full(rep[i], &r, sizeof r, 60000) == 0;
        int st;
        rel_wait_child(rpid[i], 60000, &st);
        char buf[96];
        if (!got || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "stress: reader %d: %s%s\n", (int)rpid[i],
                    rel_describe_status(st, buf, sizeof buf),
                    WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (a read hung)" : "");
            failures++;
        }
        if (got) {
            passes += r.passes;
            entries += r.entries;
            lookups += r.lookups;
            torn += r.torn;
            dups += r.duplicates;
            skipped += r.skipped_live;
            checks += r.checks_ok;
            if (r.passes == 0 || r.counter_violations)
                failures++;
        }
        close(cmd[i]);
        close(rep[i]);
    }
    struct ttshm_stats *fin = calloc(1, sizeof *fin);
    uint64_t dropped = 0, total_events = 0, slots = 0;
    ttshm_reader *r;
    if (rel_reader_open(reg, 0, &r, 5000) == 0) {
        fin->struct_size = sizeof *fin;
        struct ttshm_status s = {.struct_size = sizeof s};
        if (ttshm_reader_stats(r, fin) == 0 && ttshm_reader_status(r, &s) == 0) {
            for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
                for (unsigned t = 0; t < NTYPES; t++)
                    dropped += fin->dev[d][t].dropped;
            dropped += s.dropped_global;
            slots = s.table_slots;
        }
        ttshm_reader_close(r);
    }
    for (unsigned t = 0; t < nthreads; t++)
        for (unsigned ty = 0; ty < NTYPES; ty++)
            total_events += th[t].c[ty].allocs + th[t].c[ty].frees;
    fprintf(stderr,
            "stress: %llu alloc/free events by %u threads in %.2f s (%.1f M/s) with %d reader "
            "processes: %llu validated passes, %llu entries validated, %llu lookups, %llu "
            "quiescent checks passed; torn %llu, duplicates %llu, dropped %llu, bad results "
            "%llu, slots skipped while live %llu; final table %llu slots; %u failures\n",
            (unsigned long long)total_events, nthreads, secs, (double)total_events / secs / 1e6,
            NREADERS, (unsigned long long)passes, (unsigned long long)entries,
            (unsigned long long)lookups, (unsigned long long)checks, (unsigned long long)torn,
            (unsigned long long)dups, (unsigned long long)dropped, (unsigned long long)bad_results,
            (unsigned long long)skipped, (unsigned long long)slots, failures);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL(torn, 0);
    CU_ASSERT_EQUAL(dups, 0);
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT_EQUAL(bad_results, 0);
    CU_ASSERT_EQUAL(checks, NPHASES * NREADERS);
    CU_ASSERT(entries > 0);
    for (unsigned t = 0; t < nthreads; t++) {
        free(th[t].addrs);
        free(th[t].types);
    }
    free(th);
    free(fin);
}

/* Many short sessions of churn around small tables: growth and same-size
 * cleaning happen every few thousand events, with writer threads inserting
 * while a migration is under way. Every call must record (no drop, no hang:
 * the sessions run in a child under a watchdog) and each session's segment
 * must match the writers' own tallies exactly at its end. */
static void test_small_table_churn(void)
{
    const bool lng = rel_long_mode();
    unsigned sessions = lng ? 300 : rel_tsan() ? 8 : 30;
    sessions = (unsigned)rel_env_long("TTSHM_CHURN_SESSIONS", (long)sessions);
    const uint64_t per_thread = rel_tsan() ? 50000 : 200000;
    const unsigned nthreads = 3;
    char reg[48];
    ttshm_test_registry(reg, "churn");
    ttshm_test_unlink_registry(reg);
    uint64_t seed = (uint64_t)rel_env_long("TTSHM_SEED", (long)(rel_now_ns() ^ (uint64_t)getpid()));
    uint64_t t0 = rel_now_ns();
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct rel_rng rng;
        rel_rng_seed(&rng, seed);
        unsigned bad = 0;
        for (unsigned sess = 0; sess < sessions && bad == 0; sess++) {
            ttshm_writer *w;
            struct ttshm_writer_config cfg = {
                .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .report_errors = 1};
            if (ttshm_writer_open(&cfg, &w) != 0)
                _exit(2);
            struct wthread th[3];
            memset(th, 0, sizeof th);
            for (unsigned t = 0; t < nthreads; t++) {
                th[t].idx = t;
                th[t].w = w;
                th[t].events = per_thread;
                th[t].cb_mask = 15, th[t].fcb_mask = 255, th[t].alloc_eighths = 6;
                th[t].target = 20 + rel_rng_below(&rng, 2000);
                rel_rng_seed(&th[t].rng, rel_rng_next(&rng));
                if (pthread_create(&th[t].th, NULL, churn, &th[t]) != 0)
                    _exit(3);
            }
            for (unsigned t = 0; t < nthreads; t++) {
                pthread_join(th[t].th, NULL);
                if (th[t].bad_results)
                    bad++;
            }
            struct reader_state rs = {.nthreads = nthreads, .gen = ttshm_writer_generation(w)};
            struct expect *x = calloc(1, sizeof *x);
            fill_expect(x, th, nthreads);
            x->phase = sess;
            if (rel_reader_open(reg, 0, &rs.r, 5000) != 0 || !quiescent_check(&rs, x))
                bad++;
            if (bad) {
                struct ttshm_status st = {.struct_size = sizeof st};
                if (rs.r == NULL || ttshm_reader_status(rs.r, &st) != 0)
                    memset(&st, 0, sizeof st);
                uint64_t dropped = 0;
                for (unsigned t = 0; t < nthreads; t++)
                    dropped += th[t].bad_results;
                fprintf(stderr,
                        "churn: session %u (generation %llu, live targets %llu %llu %llu) "
                        "failed: %llu+ calls not RECORDED; table %llu slots, %llu slots of a "
                        "table still being drained\n",
                        sess, (unsigned long long)rs.gen, (unsigned long long)th[0].target,
                        (unsigned long long)th[1].target, (unsigned long long)th[2].target,
                        (unsigned long long)dropped, (unsigned long long)st.table_slots,
                        (unsigned long long)st.migrating_slots);
            }
            ttshm_reader_close(rs.r);
            free(rs.keys);
            free(x);
            ttshm_writer_close(w);
            for (unsigned t = 0; t < nthreads; t++) {
                free(th[t].addrs);
                free(th[t].types);
            }
        }
        _exit(bad ? 1 : 0);
    }
    int st;
    int waited = rel_wait_child(pid, lng ? 1800000 : 240000, &st);
    char buf[96];
    fprintf(stderr, "churn: %u sessions x %u threads x %llu events, seed %llu: %s%s, %.1f s\n",
            sessions, nthreads, (unsigned long long)per_thread, (unsigned long long)seed,
            rel_describe_status(st, buf, sizeof buf),
            waited != 0 ? " (hung: killed by the watchdog)" : "",
            (double)(rel_now_ns() - t0) / 1e9);
    ttshm_test_unlink_registry(reg);
    CU_ASSERT_EQUAL(waited, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
    rel_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    static const struct ttshm_test_case cases[] = {
        {"small_table_churn", test_small_table_churn},
        {"writers_vs_validating_readers", test_stress},
    };
    TTSHM_TEST_SUITE("stress_validate", cases);
    return ttshm_test_run();
}
