/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growth: from a 1024-slot table to over a million live entries, recorded by
 * two writer threads while a reader PROCESS snapshots and looks up the whole
 * time. Nothing is lost: every key recorded before a snapshot began is in that
 * snapshot exactly once, every such key is found by lookup, and at the end
 * every key is found and the counters equal the entries. Then half are freed
 * (through the grown tables) and the other half must all still be there.
 */
#include "layout.h"
#include "test_core_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Live entries at the end. TSan runs ~10x slower, so it grows to 200k only. */
#ifdef TTSHM_TSAN
#define WANT_TOTAL (200u * 1024)
#else
#define WANT_TOTAL (1024u * 1024 + 4096)
#endif
#define NTHREADS   2
#define NDEV       8
#define MILESTONES 8 /* thread 0 lets the reader finish a scan at each eighth */

/* Fewer when /dev/shm is too small for the tables (a container's 64 MB). */
static uint64_t TOTAL = WANT_TOTAL;
#define PER (TOTAL / NTHREADS)

struct shared {
    _Atomic uint64_t progress[NTHREADS]; /* keys [0, progress) of each thread are recorded */
    _Atomic int done;                    /* writers finished */
    _Atomic int ready;
    _Atomic uint64_t scans_during; /* complete, checked scans begun while writers ran */
    uint64_t scans, scans_checked, lookups, busy, max_seen, dup_seen, migrating_seen;
    uint64_t max_table;
    int fail;
    char msg[512];
};

static char reg[48];
static char seg[128];

static uint32_t key_dev(uint64_t i)
{
    return (uint32_t)(i % NDEV);
}

static enum ttshm_mem_type key_type(uint64_t i)
{
    static const enum ttshm_mem_type t[] = {TTSHM_DRAM, TTSHM_L1, TTSHM_TRACE, TTSHM_KERNEL};
    return t[(i / NDEV) % 4];
}

static uint64_t key_addr(int thread, uint64_t i)
{
    return ((uint64_t)(thread + 1) << 40) | (i << 5);
}

static uint64_t key_size(uint64_t i)
{
    return 32 + (i & 4095);
}

struct wctx {
    ttshm_writer *w;
    struct shared *sh;
    int idx;
    uint64_t bad;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *writer_main(void *arg)
{
    struct wctx *c = arg;
    for (uint64_t i = 0; i < PER; i++) {
        if (c->idx == 0 && i % (PER / MILESTONES) == PER / MILESTONES / 2) {
            /* Let the reader complete a scan at this size (bounded wait). */
            uint64_t seen = atomic_load(&c->sh->scans_during), t0 = now_ms();
            while (atomic_load(&c->sh->scans_during) < seen + 2 && !c->sh->fail &&
                   now_ms() - t0 < 5000) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        uint32_t d = key_dev(i);
        enum ttshm_mem_type t = key_type(i);
        uint64_t a = key_addr(c->idx, i), s = key_size(i);
        if (ttshm_record_alloc(c->w, d, t, a, s, tu_tag(d, t, a, s)) != TTSHM_RECORDED)
            c->bad++;
        atomic_store_explicit(&c->sh->progress[c->idx], i + 1, memory_order_release);
    }
    return NULL;
}

static void rfail(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rfail(struct shared *sh, const char *fmt, ...)
{
    if (sh->fail++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->msg, sizeof sh->msg, fmt, ap);
    va_end(ap);
}

/* Decodes an entry into (thread, index); -1 if it is not one of ours or torn. */
static int decode(const struct ttshm_entry *e, int *thread, uint64_t *i)
{
    uint64_t t = e->address >> 40;
    if (t < 1 || t > NTHREADS)
        return -1;
    *thread = (int)t - 1;
    *i = (e->address & ((1ull << 40) - 1)) >> 5;
    if (*i >= PER || key_addr(*thread, *i) != e->address || e->device != key_dev(*i) ||
        e->type != (uint32_t)key_type(*i) || e->size != key_size(*i) ||
        e->tag != tu_tag(e->device, e->type, e->address, e->size))
        return -1;
    return 0;
}

static int reader_main(struct shared *sh)
{
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(seg, &r);
    atomic_store(&sh->ready, 1);
    if (rc != 0) {
        rfail(sh, "reader_open: %d", rc);
        return 1;
    }
    unsigned char *seen[NTHREADS];
    while (!atomic_load(&sh->progress[0]) && !atomic_load(&sh->progress[1])) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    for (int t = 0; t < NTHREADS; t++)
        seen[t] = malloc(PER);
    struct tu_rng rng;
    tu_rng_seed(&rng, 77);
    while (!sh->fail) {
        int last = atomic_load(&sh->done);
        uint64_t before[NTHREADS];
        for (int t = 0; t < NTHREADS; t++)
            before[t] = atomic_load_explicit(&sh->progress[t], memory_order_acquire);
        struct ttshm_status s = {.struct_size = sizeof s};
        if (ttshm_reader_status(r, &s) == 0) {
            if (s.migrating_slots)
                sh->migrating_seen++;
            if (s.table_slots > sh->max_table)
                sh->max_table = s.table_slots;
        }
        struct ttshm_entry *v = NULL;
        size_t n = 0;
        rc = ttshm_reader_snapshot(r, &v, &n);
        if (rc == -TTSHM_E_BUSY && !last) {
            sh->busy++;
            continue;
        }
        if (rc != 0) {
            rfail(sh, "snapshot returned %d", rc);
            break;
        }
        sh->scans++;
        if (n > sh->max_seen)
            sh->max_seen = n;
        for (int t = 0; t < NTHREADS; t++)
            memset(seen[t], 0, PER);
        for (size_t k = 0; k < n; k++) {
            int t;
            uint64_t i;
            if (decode(&v[k], &t, &i) != 0) {
                rfail(sh, "snapshot entry %zu is not one we wrote (torn?): addr %llx", k,
                      (unsigned long long)v[k].address);
                break;
            }
            if (seen[t][i]++)
                sh->dup_seen++;
        }
        free(v);
        /* Everything recorded before the scan began must be in it. */
        for (int t = 0; t < NTHREADS && !sh->fail; t++)
            for (uint64_t i = 0; i < before[t]; i++)
                if (!seen[t][i]) {
                    rfail(sh,
                          "scan %llu: key %d/%llu recorded before the scan is missing "
                          "(%zu entries, table %llu slots, draining %llu)",
                          (unsigned long long)sh->scans, t, (unsigned long long)i, n,
                          (unsigned long long)s.table_slots, (unsigned long long)s.migrating_slots);
                    break;
                }
        sh->scans_checked++;
        if (!last && (before[0] || before[1]))
            atomic_fetch_add(&sh->scans_during, 1);
        /* ... and found by lookup. */
        for (int k = 0; k < 2000 && !sh->fail; k++) {
            int t = (int)tu_rng_below(&rng, NTHREADS);
            if (before[t] == 0)
                continue;
            uint64_t i = tu_rng_below(&rng, before[t]);
            struct ttshm_entry e;
            rc = ttshm_reader_lookup(r, key_dev(i), key_type(i), key_addr(t, i), &e);
            sh->lookups++;
            if (rc == -TTSHM_E_BUSY) {
                sh->busy++;
                continue;
            }
            int dt;
            uint64_t di;
            if (rc != 0 || decode(&e, &dt, &di) != 0 || dt != t || di != i)
                rfail(sh, "lookup of recorded key %d/%llu: rc %d", t, (unsigned long long)i, rc);
        }
        if (last)
            break; /* that was a scan after the writers finished: complete */
    }
    if (!sh->fail && sh->dup_seen)
        rfail(sh, "%llu entries were returned twice by one snapshot",
              (unsigned long long)sh->dup_seen);
    for (int t = 0; t < NTHREADS; t++)
        free(seen[t]);
    ttshm_reader_close(r);
    return sh->fail ? 1 : 0;
}

static void test_grow_to_a_million(void)
{
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) == 0) {
        uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        /* the grown table (64 B x 4 slots per entry) and the one it replaced */
        while (TOTAL > 4096 && TOTAL * 64 * 6 + (64u << 20) > room)
            TOTAL /= 2;
        if (TOTAL != WANT_TOTAL)
            fprintf(stderr, "WARNING: /dev/shm has %llu MB free: growing to %llu entries only\n",
                    (unsigned long long)(room >> 20), (unsigned long long)TOTAL);
    }
    ttshm_test_registry(reg, "grow");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    snprintf(seg, sizeof seg, "%s", ttshm_writer_segment_name(w));
    struct shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(reader_main(sh));
    while (!atomic_load(&sh->ready)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct wctx c[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct wctx){w, sh, i, 0};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, writer_main, &c[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (c[i].bad)
            TTSHM_TEST_FAILF("thread %d: %llu allocs not recorded", i,
                             (unsigned long long)c[i].bad);
    }
    atomic_store(&sh->done, 1);
    int status = 0;
    tu_wait_child(pid, 300000, &status);
    fprintf(stderr,
            "reader: %llu snapshots checked, %llu during growth (largest %llu entries; %llu "
            "while a table was draining; largest table %llu slots), %llu lookups, %llu busy\n",
            (unsigned long long)sh->scans_checked, (unsigned long long)sh->scans_during,
            (unsigned long long)sh->max_seen, (unsigned long long)sh->migrating_seen,
            (unsigned long long)sh->max_table, (unsigned long long)sh->lookups,
            (unsigned long long)sh->busy);
    if (sh->fail)
        TTSHM_TEST_FAILF("reader process: %s", sh->msg);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT(sh->scans_during >= MILESTONES); /* scans at every stage of the growth */
    CU_ASSERT_EQUAL(sh->max_seen, TOTAL);

    /* In this process: counters and entries exact, every key found. */
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(seg, &r), 0);
    struct ttshm_status s = {.struct_size = sizeof s};
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &s), 0);
    CU_ASSERT(s.table_slots >= TOTAL);
    CU_ASSERT_EQUAL(s.dropped_global, 0);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(tu_stats_live_count(st), TOTAL);
    uint64_t allocs = 0, dropped = 0;
    for (int d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (int t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            allocs += st->dev[d][t].allocs;
            dropped += st->dev[d][t].dropped;
        }
    CU_ASSERT_EQUAL(allocs, TOTAL);
    CU_ASSERT_EQUAL(dropped, 0);
    size_t n = 0;
    struct ttshm_entry *v = NULL;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &v, &n), 0);
    CU_ASSERT_EQUAL(n, TOTAL);
    free(v);
    uint64_t missing = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (uint64_t i = 0; i < PER; i++) {
            struct ttshm_entry e;
            int dt;
            uint64_t di;
            if ((ttshm_reader_lookup(r, key_dev(i), key_type(i), key_addr(t, i), &e) != 0 ||
                 decode(&e, &dt, &di) != 0 || dt != t || di != i) &&
                missing++ == 0)
                TTSHM_TEST_FAILF("key %d/%llu not found after growth", t, (unsigned long long)i);
        }
    CU_ASSERT_EQUAL(missing, 0);

    /* Free every other key; the rest must all remain. */
    uint64_t bad = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (uint64_t i = 0; i < PER; i += 2)
            bad += ttshm_record_free(w, key_dev(i), key_type(i), key_addr(t, i)) != TTSHM_RECORDED;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(tu_stats_live_count(st), TOTAL / 2);
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &v, &n), 0);
    CU_ASSERT_EQUAL(n, TOTAL / 2);
    free(v);
    missing = 0;
    uint64_t ghosts = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (uint64_t i = 0; i < PER; i++) {
            struct ttshm_entry e;
            int rc = ttshm_reader_lookup(r, key_dev(i), key_type(i), key_addr(t, i), &e);
            if (i % 2 == 0)
                ghosts += rc != -TTSHM_E_NOTFOUND;
            else
                missing += rc != 0 || e.size != key_size(i);
        }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(ghosts, 0);
    free(st);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    munmap(sh, sizeof *sh);
    ttshm_test_unlink_registry(reg);
}

/* Growth where tombstones, not live entries, fill the table: alloc/free churn
 * over a small live set never drops and never loses a live entry. */
static void test_tombstone_churn(void)
{
    ttshm_test_registry(reg, "tomb");
    ttshm_test_unlink_registry(reg);
    ttshm_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 1024, &w), 0);
    ttshm_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_open(ttshm_writer_segment_name(w), &r), 0);
    /* The header, read-only, to watch the current table's epoch. */
    char path[256];
    tu_shm_path(path, sizeof path, ttshm_writer_segment_name(w));
    int fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    const struct ttshm_header *hdr = mmap(NULL, sizeof *hdr, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    CU_ASSERT_FATAL(hdr != MAP_FAILED);
    enum { LIVE = 600, ROUNDS = 600 };
    uint64_t bad = 0, lost = 0, half_slots = 0, half_created = 0, half_rebuilds = 0;
    uint64_t rebuilds = 0, last_epoch = 0;
    for (uint64_t round = 0; round < ROUNDS; round++) {
        struct ttshm_status now = {.struct_size = sizeof now};
        CU_ASSERT_EQUAL(ttshm_reader_status(r, &now), 0);
        if (round == ROUNDS / 2) {
            half_slots = now.table_slots;
            half_created = now.tables_created;
            half_rebuilds = rebuilds;
        }
        uint64_t epoch = atomic_load(&hdr->table_epoch);
        rebuilds += last_epoch != 0 && epoch != last_epoch;
        last_epoch = epoch;
        for (uint64_t i = 0; i < LIVE; i++) {
            uint64_t a = (round << 20) | (i << 6);
            bad += ttshm_record_alloc(w, 1, TTSHM_L1, a, 64, 0) != TTSHM_RECORDED;
        }
        if (round % 50 == 0) {
            for (uint64_t i = 0; i < LIVE; i += 7) {
                struct ttshm_entry e;
                lost += ttshm_reader_lookup(r, 1, TTSHM_L1, (round << 20) | (i << 6), &e) != 0;
            }
        }
        for (uint64_t i = 0; i < LIVE; i++)
            bad += ttshm_record_free(w, 1, TTSHM_L1, (round << 20) | (i << 6)) != TTSHM_RECORDED;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lost, 0);
    struct ttshm_status s = {.struct_size = sizeof s};
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &s), 0);
    /* Tombstones are cleaned up, the table does not grow without bound. */
    CU_ASSERT_EQUAL(s.table_slots, half_slots);
    CU_ASSERT(s.table_slots <= 16384);
    /* ... by rebuilds at the same size that reuse the drained table: after
     * warm-up, no table object is created (and none unmapped). */
    CU_ASSERT(rebuilds - half_rebuilds >= 10);
    CU_ASSERT_EQUAL(s.tables_created, half_created);
    munmap((void *)hdr, sizeof *hdr);
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].allocs, LIVE * ROUNDS);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].frees, LIVE * ROUNDS);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].dropped, 0);
    CU_ASSERT_EQUAL(st->dev[1][TTSHM_L1].live_count, 0);
    free(st);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

/* When growth is impossible (no room for a bigger table: here a file size
 * limit stands in for a full /dev/shm), records are dropped, never lost
 * silently: every alloc is either recorded or counted as dropped, what was
 * recorded stays readable, the failure is reported once, and nothing crashes. */
static int no_room_child(void *arg, char *msg, size_t len)
{
    (void)arg;
    int err = memfd_create("stderr", 0);
    if (err < 0 || dup2(err, 2) < 0)
        return 1;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {1u << 19, 1u << 19}; /* no object beyond 512 KiB */
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024, .report_errors = 1};
    ttshm_writer *w = NULL;
    int rc = ttshm_writer_open(&cfg, &w);
    if (rc != 0) {
        snprintf(msg, len, "writer_open returned %d", rc);
        return 1;
    }
    uint64_t recorded = 0, dropped = 0, other = 0;
    const uint64_t n = 12000; /* the limit allows 8192-slot tables at most */
    for (uint64_t i = 0; i < n; i++) {
        int r = ttshm_record_alloc(w, 3, TTSHM_DRAM, i << 6, 64, i);
        recorded += r == TTSHM_RECORDED;
        dropped += r == TTSHM_DROPPED;
        other += r != TTSHM_RECORDED && r != TTSHM_DROPPED;
    }
    ttshm_reader *r = NULL;
    if (ttshm_reader_open(ttshm_writer_segment_name(w), &r) != 0) {
        snprintf(msg, len, "reader_open failed");
        return 1;
    }
    struct ttshm_stats *st = calloc(1, sizeof *st);
    st->struct_size = sizeof *st;
    struct ttshm_entry *v = NULL;
    size_t count = 0;
    int src = ttshm_reader_stats(r, st), snrc = ttshm_reader_snapshot(r, &v, &count);
    uint64_t missing = 0;
    for (uint64_t i = 0; i < n; i += 97) {
        struct ttshm_entry e;
        int lrc = ttshm_reader_lookup(r, 3, TTSHM_DRAM, i << 6, &e);
        if (lrc == 0 && (e.size != 64 || e.tag != i))
            missing++;
    }
    free(v);
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    off_t reported = lseek(err, 0, SEEK_CUR);
    const struct ttshm_counters *c = &st->dev[3][TTSHM_DRAM];
    if (other || src || snrc || dropped == 0 || recorded + dropped != n || c->allocs != recorded ||
        c->dropped != dropped || c->live_count != recorded || count != recorded || missing ||
        reported <= 0) {
        snprintf(msg, len,
                 "no room to grow: %llu recorded, %llu dropped, %llu other; counters allocs "
                 "%llu dropped %llu live %llu; snapshot %d with %zu entries; %llu wrong "
                 "lookups; %lld bytes on stderr",
                 (unsigned long long)recorded, (unsigned long long)dropped,
                 (unsigned long long)other, (unsigned long long)c->allocs,
                 (unsigned long long)c->dropped, (unsigned long long)c->live_count, snrc, count,
                 (unsigned long long)missing, (long long)reported);
        free(st);
        return 1;
    }
    free(st);
    return 0;
}

static void test_no_room_to_grow(void)
{
    ttshm_test_registry(reg, "noroom");
    ttshm_test_unlink_registry(reg);
    tu_run_child("growth with no room", no_room_child, NULL, 60);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        /* First: it forks, and the others leave this process with threads. */
        {"no_room_to_grow_drops_are_counted", test_no_room_to_grow},
        {"grow_to_a_million_while_a_reader_process_reads", test_grow_to_a_million},
        {"tombstone_churn_does_not_drop", test_tombstone_churn},
    };
    TTSHM_TEST_SUITE("growth", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
