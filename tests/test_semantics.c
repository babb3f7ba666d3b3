/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Single-thread semantics of the writer as a reader sees them: alloc, free,
 * lookup, unknown frees, duplicate allocs, CB free-all, exact counters, peak,
 * capacity, dropped events, status fields, versioned structs, listing.
 */
#include "test_core_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char reg[48];

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Opens a writer on a fresh registry and a reader on its segment. */
static int setup(const char *tag, uint64_t slots, ttshm_writer **w, ttshm_reader **r)
{
    ttshm_test_registry(reg, tag);
    ttshm_test_unlink_registry(reg);
    *w = NULL;
    *r = NULL;
    int rc = tu_writer_open(reg, slots, w);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0 || *w == NULL)
        return -1;
    rc = ttshm_reader_open(ttshm_writer_segment_name(*w), r);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        ttshm_writer_close(*w);
        ttshm_test_unlink_registry(reg);
        return -1;
    }
    return 0;
}

static void teardown(ttshm_writer *w, ttshm_reader *r)
{
    ttshm_reader_close(r);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

static int get_stats(ttshm_reader *r, struct ttshm_stats *st)
{
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    int rc = ttshm_reader_stats(r, st);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

static int get_status(ttshm_reader *r, struct ttshm_status *st)
{
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    int rc = ttshm_reader_status(r, st);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

/* ---- alloc / free / lookup ---- */

static void test_alloc_free_lookup(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC_COARSE);
    if (setup("aflk", 1024, &w, &r))
        return;
    uint64_t gen = ttshm_writer_generation(w);
    CU_ASSERT_EQUAL(gen, 1);

    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000, 4096, 77), TTSHM_RECORDED);
    uint64_t t1 = now_ns(CLOCK_MONOTONIC_COARSE);
    struct ttshm_entry e;
    memset(&e, 0xa5, sizeof e);
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x1000, &e), 0);
    CU_ASSERT_EQUAL(e.device, 0);
    CU_ASSERT_EQUAL(e.type, TTSHM_DRAM);
    CU_ASSERT_EQUAL(e.address, 0x1000);
    CU_ASSERT_EQUAL(e.size, 4096);
    CU_ASSERT_EQUAL(e.tag, 77);
    CU_ASSERT_EQUAL(e.generation, gen);
    CU_ASSERT_EQUAL(e.tid, (uint32_t)syscall(SYS_gettid));
    /* CLOCK_MONOTONIC_COARSE at the alloc (one jiffy of slack each side). */
    CU_ASSERT(e.timestamp_ns + 20000000ull >= t0 && e.timestamp_ns <= t1 + 20000000ull);

    /* The key is (device, type, address): other devices / types are distinct. */
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_L1, 0x1000, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_DRAM, 0x1000, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x1040, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_DRAM, 0x1000, 100, 1), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_L1, 0x1000, 200, 2), TTSHM_RECORDED);
    /* Extreme keys are ordinary keys. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_DRAM, 0, 300, 3), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(
        ttshm_record_alloc(w, TTSHM_MAX_DEVICES - 1, TTSHM_KERNEL, UINT64_MAX, 400, UINT64_MAX),
        TTSHM_RECORDED);

    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_DRAM, 0x1000, &e), 0);
    CU_ASSERT(e.size == 100 && e.tag == 1 && e.device == 1 && e.type == TTSHM_DRAM);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_L1, 0x1000, &e), 0);
    CU_ASSERT(e.size == 200 && e.tag == 2 && e.device == 0 && e.type == TTSHM_L1);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0, &e), 0);
    CU_ASSERT(e.size == 300 && e.tag == 3 && e.address == 0);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, TTSHM_MAX_DEVICES - 1, TTSHM_KERNEL, UINT64_MAX, &e), 0);
    CU_ASSERT(e.size == 400 && e.tag == UINT64_MAX && e.address == UINT64_MAX &&
              e.device == TTSHM_MAX_DEVICES - 1 && e.type == TTSHM_KERNEL);

    /* Free: gone, the others stay; a second free is unknown. */
    CU_ASSERT_EQUAL(ttshm_record_free(w, 0, TTSHM_DRAM, 0x1000), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x1000, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_DRAM, 0x1000, &e), 0);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_L1, 0x1000, &e), 0);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 0, TTSHM_DRAM, 0x1000), TTSHM_UNKNOWN);

    /* Re-alloc of a freed key is a plain alloc again. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_DRAM, 0x1000, 8192, 78), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 0, TTSHM_DRAM, 0x1000, &e), 0);
    CU_ASSERT(e.size == 8192 && e.tag == 78);

    /* The snapshot holds exactly the five live entries. */
    struct ttshm_entry *all = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(ttshm_reader_snapshot(r, &all, &n), 0);
    CU_ASSERT_EQUAL(n, 5);
    if (n == 5) {
        qsort(all, n, sizeof *all, tu_entry_cmp);
        CU_ASSERT(all[0].device == 0 && all[0].type == TTSHM_DRAM && all[0].address == 0);
        CU_ASSERT(all[1].device == 0 && all[1].type == TTSHM_DRAM && all[1].address == 0x1000 &&
                  all[1].size == 8192);
        CU_ASSERT(all[2].device == 0 && all[2].type == TTSHM_L1 && all[2].size == 200);
        CU_ASSERT(all[3].device == 1 && all[3].type == TTSHM_DRAM && all[3].size == 100);
        CU_ASSERT(all[4].device == TTSHM_MAX_DEVICES - 1 && all[4].type == TTSHM_KERNEL);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_EQUAL(all[i].generation, gen);
    }
    free(all);
    CU_ASSERT_EQUAL(ttshm_reader_skipped(r), 0);
    teardown(w, r);
}

/* Lookup on an entry written by another thread records that thread's id. */
static void *alloc_in_thread(void *arg)
{
    ttshm_writer *w = arg;
    static uint32_t tid;
    tid = (uint32_t)syscall(SYS_gettid);
    ttshm_record_alloc(w, 2, TTSHM_L1_SMALL, 0x42, 1, 0);
    return &tid;
}

static void test_thread_id(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("tid", 1024, &w, &r))
        return;
    pthread_t th;
    void *res = NULL;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, alloc_in_thread, w), 0);
    pthread_join(th, &res);
    struct ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 2, TTSHM_L1_SMALL, 0x42, &e), 0);
    CU_ASSERT_EQUAL(e.tid, *(uint32_t *)res);
    CU_ASSERT_NOT_EQUAL(e.tid, (uint32_t)syscall(SYS_gettid));
    teardown(w, r);
}

/* ---- unknown frees, duplicate allocs, peak: exact counters ---- */

static void test_unknown_and_duplicate(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("dup", 1024, &w, &r))
        return;
    struct ttshm_stats st;
    /* Establish a peak first so the duplicate's transient order cannot move it. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 3, TTSHM_L1, 0x9000, 1000000, 0), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 3, TTSHM_L1, 0x9000), TTSHM_RECORDED);

    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 3, TTSHM_L1, 0x100, 1000, 11), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 3, TTSHM_L1, 0x100, 3000, 12), TTSHM_DUPLICATE);
    /* The old record was replaced. */
    struct ttshm_entry e;
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 3, TTSHM_L1, 0x100, &e), 0);
    CU_ASSERT(e.size == 3000 && e.tag == 12);
    /* Unknown frees: never allocated, wrong type, wrong device. */
    CU_ASSERT_EQUAL(ttshm_record_free(w, 3, TTSHM_L1, 0x200), TTSHM_UNKNOWN);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 3, TTSHM_DRAM, 0x100), TTSHM_UNKNOWN);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 4, TTSHM_L1, 0x100), TTSHM_UNKNOWN);
    /* The unknown frees did not free the live buffer. */
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 3, TTSHM_L1, 0x100, &e), 0);

    if (get_stats(r, &st) == 0) {
        const struct ttshm_counters *c = &st.dev[3][TTSHM_L1];
        CU_ASSERT_EQUAL(c->allocs, 3);
        CU_ASSERT_EQUAL(c->frees, 2); /* the explicit one and the implicit (duplicate) one */
        CU_ASSERT_EQUAL(c->duplicate_allocs, 1);
        CU_ASSERT_EQUAL(c->unknown_frees, 1);
        CU_ASSERT_EQUAL(c->alloc_bytes, 1000000 + 1000 + 3000);
        CU_ASSERT_EQUAL(c->live_count, 1);
        CU_ASSERT_EQUAL(c->live_bytes, 3000);
        CU_ASSERT_EQUAL(c->peak_bytes, 1000000);
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_DRAM].unknown_frees, 1);
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_DRAM].frees, 0);
        CU_ASSERT_EQUAL(st.dev[4][TTSHM_L1].unknown_frees, 1);
        CU_ASSERT_EQUAL(st.dev[4][TTSHM_L1].frees, 0);
        CU_ASSERT_EQUAL(st.dev[4][TTSHM_L1].live_count, 0);
        CU_ASSERT_EQUAL(st.generation, ttshm_writer_generation(w));
        CU_ASSERT_EQUAL(st.device_count, 5);
    }
    /* Free after a duplicate frees the replacement: live goes to zero. */
    CU_ASSERT_EQUAL(ttshm_record_free(w, 3, TTSHM_L1, 0x100), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 3, TTSHM_L1, 0x100), TTSHM_UNKNOWN);
    if (get_stats(r, &st) == 0) {
        const struct ttshm_counters *c = &st.dev[3][TTSHM_L1];
        CU_ASSERT_EQUAL(c->live_count, 0);
        CU_ASSERT_EQUAL(c->live_bytes, 0);
        CU_ASSERT_EQUAL(c->frees, 3);
        CU_ASSERT_EQUAL(c->unknown_frees, 2);
    }
    teardown(w, r);
}

static void test_peak(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("peak", 1024, &w, &r))
        return;
    struct ttshm_stats st;
    static const struct {
        int alloc;
        uint64_t addr, size, peak_after;
    } steps[] = {
        {1, 0x0, 100, 100},  {1, 0x100, 50, 150}, {0, 0x0, 0, 150},     {1, 0x200, 80, 150},
        {1, 0x300, 30, 160}, {0, 0x100, 0, 160},  {0, 0x200, 0, 160},   {1, 0x400, 500, 530},
        {0, 0x300, 0, 530},  {0, 0x400, 0, 530},  {1, 0x500, 529, 530}, {1, 0x600, 2, 531},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int rc = steps[i].alloc
                     ? ttshm_record_alloc(w, 5, TTSHM_DRAM, steps[i].addr, steps[i].size, i)
                     : ttshm_record_free(w, 5, TTSHM_DRAM, steps[i].addr);
        CU_ASSERT_EQUAL(rc, TTSHM_RECORDED);
        if (get_stats(r, &st) == 0 && st.dev[5][TTSHM_DRAM].peak_bytes != steps[i].peak_after)
            TTSHM_TEST_FAILF("step %zu: peak %llu, expected %llu", i,
                             (unsigned long long)st.dev[5][TTSHM_DRAM].peak_bytes,
                             (unsigned long long)steps[i].peak_after);
    }
    /* Peak is per device x type: nothing leaked into neighbours. */
    CU_ASSERT_EQUAL(st.dev[5][TTSHM_L1].peak_bytes, 0);
    CU_ASSERT_EQUAL(st.dev[4][TTSHM_DRAM].peak_bytes, 0);
    CU_ASSERT_EQUAL(st.dev[5][TTSHM_DRAM].live_bytes, 531);
    teardown(w, r);
}

/* ---- circular buffers ---- */

static size_t count_cbs(ttshm_reader *r, uint32_t dev, uint64_t *bytes)
{
    struct ttshm_entry *all = NULL;
    size_t n = 0, k = 0;
    *bytes = 0;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &all, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (all[i].device == dev && all[i].type == TTSHM_CB) {
            k++;
            *bytes += all[i].size;
        }
    free(all);
    return k;
}

static void test_cb_free_all(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("cb", 1024, &w, &r))
        return;
    struct ttshm_stats st;
    uint64_t bytes;
    /* Three CBs at the same address, two elsewhere, on device 1; one on device 2. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0x8000, 10, 1), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0x8000, 20, 2), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0x8000, 30, 3), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0x9000, 40, 4), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0xa000, 50, 5), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 2, TTSHM_CB, 0x8000, 60, 6), TTSHM_RECORDED);
    /* Non-CB buffers of device 1 survive its CB free-all. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_L1, 0x8000, 70, 7), TTSHM_RECORDED);

    CU_ASSERT_EQUAL(count_cbs(r, 1, &bytes), 5);
    CU_ASSERT_EQUAL(bytes, 150);
    struct ttshm_entry e;
    /* A CB's tag is its owner: (device, address, owner) names one CB. */
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 1, 0x8000, 2, &e), 0);
    CU_ASSERT(e.device == 1 && e.type == TTSHM_CB && e.address == 0x8000 && e.tag == 2 &&
              e.size == 20);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_CB, 0x8000, &e), -TTSHM_E_NOTFOUND);
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].allocs, 5);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].live_count, 5);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].live_bytes, 150);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].duplicate_allocs, 0);
    }

    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 1), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(count_cbs(r, 1, &bytes), 0);
    CU_ASSERT_EQUAL(count_cbs(r, 2, &bytes), 1);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 1, 0x8000, 2, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 1, 0x9000, 4, &e), -TTSHM_E_NOTFOUND);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 2, 0x8000, 6, &e), 0);
    CU_ASSERT_EQUAL(ttshm_reader_lookup(r, 1, TTSHM_L1, 0x8000, &e), 0);
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].frees, 5);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].live_count, 0);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].live_bytes, 0);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].peak_bytes, 150);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].unknown_frees, 0);
        CU_ASSERT_EQUAL(st.dev[2][TTSHM_CB].live_count, 1);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_L1].live_count, 1);
    }

    /* New CBs after the free-all are live; the old ones do not come back. */
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0x8000, 15, 8), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_CB, 0xb000, 25, 9), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(count_cbs(r, 1, &bytes), 2);
    CU_ASSERT_EQUAL(bytes, 40);
    CU_ASSERT_EQUAL(ttshm_reader_lookup_cb(r, 1, 0x8000, 8, &e), 0);
    CU_ASSERT(e.size == 15 && e.tag == 8);
    /* Free-all on a device without CBs frees nothing. */
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 9), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 1), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 1), TTSHM_RECORDED);
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].allocs, 7);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].frees, 7);
        CU_ASSERT_EQUAL(st.dev[1][TTSHM_CB].live_count, 0);
        CU_ASSERT_EQUAL(st.dev[9][TTSHM_CB].frees, 0);
        CU_ASSERT_EQUAL(st.dev[9][TTSHM_CB].unknown_frees, 0);
    }
    CU_ASSERT_EQUAL(count_cbs(r, 1, &bytes), 0);
    CU_ASSERT_EQUAL(count_cbs(r, 2, &bytes), 1);
    teardown(w, r);
}

/* ---- capacity, drops, NULL writer ---- */

static void test_capacity(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("cap", 1024, &w, &r))
        return;
    struct ttshm_stats st;
    CU_ASSERT_EQUAL(ttshm_publish_capacity(w, 3, TTSHM_L1, 1u << 20, 64), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_publish_capacity(w, 0, TTSHM_DRAM, 12ull << 30, 12), TTSHM_RECORDED);
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_L1].capacity_bytes, 1u << 20);
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_L1].capacity_banks, 64);
        CU_ASSERT_EQUAL(st.dev[0][TTSHM_DRAM].capacity_bytes, 12ull << 30);
        CU_ASSERT_EQUAL(st.dev[0][TTSHM_DRAM].capacity_banks, 12);
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_DRAM].capacity_bytes, 0);
        CU_ASSERT_EQUAL(st.device_count, 4); /* capacity alone makes a device count */
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_L1].allocs, 0);
    }
    /* Re-publishing replaces. */
    CU_ASSERT_EQUAL(ttshm_publish_capacity(w, 3, TTSHM_L1, 2u << 20, 32), TTSHM_RECORDED);
    CU_ASSERT_EQUAL(ttshm_publish_capacity(w, TTSHM_MAX_DEVICES, TTSHM_L1, 1, 1), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_publish_capacity(w, 0, (enum ttshm_mem_type)TTSHM_MEM_TYPE_COUNT, 1, 1),
                    TTSHM_DROPPED);
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_L1].capacity_bytes, 2u << 20);
        CU_ASSERT_EQUAL(st.dev[3][TTSHM_L1].capacity_banks, 32);
        CU_ASSERT_EQUAL(st.device_count, 4);
    }
    teardown(w, r);
}

static void test_bad_device_type_dropped(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("drop", 1024, &w, &r))
        return;
    const enum ttshm_mem_type bad_type = (enum ttshm_mem_type)TTSHM_MEM_TYPE_COUNT;
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, TTSHM_MAX_DEVICES, TTSHM_DRAM, 0x10, 1, 0),
                    TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, UINT32_MAX, TTSHM_DRAM, 0x10, 1, 0), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, bad_type, 0x10, 1, 0), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, (enum ttshm_mem_type)255, 0x10, 1, 0), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free(w, TTSHM_MAX_DEVICES, TTSHM_DRAM, 0x10), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free(w, 0, bad_type, 0x10), TTSHM_DROPPED);
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, TTSHM_MAX_DEVICES), TTSHM_DROPPED);

    struct ttshm_status s;
    if (get_status(r, &s) == 0)
        CU_ASSERT_EQUAL(s.dropped_global, 7);
    struct ttshm_stats st;
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(st.device_count, 0);
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counters *c = &st.dev[d][t];
                if (c->allocs || c->frees || c->live_count || c->unknown_frees || c->dropped)
                    TTSHM_TEST_FAILF("dev %u type %u has counts after dropped events", d, t);
            }
    }
    struct ttshm_entry *all = NULL;
    size_t n = 99;
    CU_ASSERT_EQUAL(ttshm_reader_snapshot(r, &all, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    free(all);
    teardown(w, r);
}

static void test_null_writer(void)
{
    CU_ASSERT_EQUAL(ttshm_record_alloc(NULL, 0, TTSHM_DRAM, 1, 1, 0), TTSHM_OFF);
    CU_ASSERT_EQUAL(ttshm_record_free(NULL, 0, TTSHM_DRAM, 1), TTSHM_OFF);
    CU_ASSERT_EQUAL(ttshm_record_free_cbs(NULL, 0), TTSHM_OFF);
    CU_ASSERT_EQUAL(ttshm_publish_capacity(NULL, 0, TTSHM_DRAM, 1, 1), TTSHM_OFF);
    ttshm_writer_close(NULL); /* must be harmless */
    CU_ASSERT_EQUAL(ttshm_writer_generation(NULL), 0);
}

/* ---- status, config, versioned structs ---- */

static void test_status_fields(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    uint64_t before = now_ns(CLOCK_REALTIME);
    if (setup("stat", 3000, &w, &r))
        return;
    uint64_t after = now_ns(CLOCK_REALTIME);
    char expect[96];
    snprintf(expect, sizeof expect, "ttshm.%s.0", reg);
    CU_ASSERT_STRING_EQUAL(ttshm_writer_segment_name(w), expect);
    struct ttshm_status s;
    if (get_status(r, &s) == 0) {
        CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
        CU_ASSERT_EQUAL(s.generation, 1);
        CU_ASSERT_EQUAL(s.pid, (uint32_t)getpid());
        CU_ASSERT_EQUAL(s.uid, (uint32_t)getuid());
        CU_ASSERT_STRING_EQUAL(s.registry, reg);
        CU_ASSERT_EQUAL(s.slot, 0);
        CU_ASSERT_EQUAL(s.abi_major, 3);
        CU_ASSERT_EQUAL(s.tables_created, 1);
        CU_ASSERT_EQUAL(s.table_bytes_created, 64 + 4096 * (4 + 32)); /* control words, slots */
        CU_ASSERT_EQUAL(s.table_slots, 4096); /* 3000 rounded up to a power of two */
        CU_ASSERT_EQUAL(s.migrating_slots, 0);
        CU_ASSERT_EQUAL(s.dropped_global, 0);
        CU_ASSERT(s.started_ns + 1000000000ull >= before && s.started_ns <= after + 1000000000ull);
        CU_ASSERT_EQUAL(s.ended_ns, 0);
        CU_ASSERT_EQUAL(s.previous.state, TTSHM_STATE_NONE);
        CU_ASSERT_EQUAL(s.previous.generation, 0);
        CU_ASSERT(s.shm_bytes >= 4096 * (4 + 32));
        CU_ASSERT_NOT_EQUAL(s.instance_id, 0);
    }
    CU_ASSERT_STRING_EQUAL(ttshm_state_name(TTSHM_STATE_ALIVE), "alive");
    CU_ASSERT_STRING_EQUAL(ttshm_state_name(TTSHM_STATE_EXITED), "exited");
    CU_ASSERT_STRING_EQUAL(ttshm_state_name(TTSHM_STATE_DIED), "died");
    teardown(w, r);

    /* Sessions get distinct random instance ids. */
    ttshm_writer *w1, *w2;
    ttshm_reader *r1, *r2;
    if (setup("inst", 0, &w1, &r1))
        return;
    struct ttshm_status s1, s2;
    CU_ASSERT_EQUAL(tu_writer_open(reg, 0, &w2), 0);
    if (w2 && ttshm_reader_open(ttshm_writer_segment_name(w2), &r2) == 0) {
        if (get_status(r1, &s1) == 0 && get_status(r2, &s2) == 0) {
            CU_ASSERT_NOT_EQUAL(s1.instance_id, s2.instance_id);
            CU_ASSERT_EQUAL(s1.table_slots, 2048); /* the default */
            CU_ASSERT_EQUAL(s2.slot, 1);
        }
        ttshm_reader_close(r2);
    }
    ttshm_writer_close(w2);
    teardown(w1, r1);
}

static void test_versioned_structs(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("vers", 1024, &w, &r))
        return;
    CU_ASSERT_EQUAL(ttshm_record_alloc(w, 1, TTSHM_DRAM, 0x10, 10, 0), TTSHM_RECORDED);
    /* A caller compiled against an older, shorter struct: nothing past it is written. */
    struct ttshm_status s;
    memset(&s, 0xab, sizeof s);
    s.struct_size = (uint32_t)offsetof(struct ttshm_status, previous);
    CU_ASSERT_EQUAL(ttshm_reader_status(r, &s), 0);
    CU_ASSERT_EQUAL(s.generation, 1);
    CU_ASSERT_EQUAL(s.state, TTSHM_STATE_ALIVE);
    const unsigned char *tail = (const unsigned char *)&s.previous;
    int untouched = 1;
    for (size_t i = 0; i < sizeof s.previous; i++)
        untouched &= tail[i] == 0xab;
    CU_ASSERT(untouched);

    struct ttshm_stats *st = malloc(sizeof *st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    memset(st, 0xab, sizeof *st);
    st->struct_size = (uint32_t)offsetof(struct ttshm_stats, dev[1][0]);
    CU_ASSERT_EQUAL(ttshm_reader_stats(r, st), 0);
    CU_ASSERT_EQUAL(st->generation, 1);
    const unsigned char *p = (const unsigned char *)&st->dev[1][0];
    untouched = 1;
    for (size_t i = 0; i < sizeof st->dev - sizeof st->dev[0]; i++)
        untouched &= p[i] == 0xab;
    CU_ASSERT(untouched);
    free(st);
    teardown(w, r);
}

static void test_writer_config_errors(void)
{
    ttshm_writer *w = (ttshm_writer *)&w;
    /* ("" and a NULL config mean the default registry, like a NULL name.) */
    static const char *bad[] = {"a b", "a/b", "a.b", "..", "x\n",
                                /* 49 characters: one too many */
                                "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tu_writer_open(bad[i], 0, &w);
        if (rc != -TTSHM_E_INVAL || w != NULL)
            TTSHM_TEST_FAILF("registry name \"%s\": rc %d, writer %p (want -TTSHM_E_INVAL, NULL)",
                             bad[i], rc, (void *)w);
        ttshm_writer_close(rc == 0 ? w : NULL);
    }
    struct ttshm_writer_config cfg = {.struct_size = 2, .name = "ok"};
    CU_ASSERT_EQUAL(ttshm_writer_open(&cfg, &w), -TTSHM_E_INVAL); /* struct_size too small */
    CU_ASSERT_PTR_NULL(w);
    /* 48 characters is the limit and works. */
    char name[TTSHM_NAME_MAX + 1];
    snprintf(name, sizeof name, "t%ld_", (long)getpid());
    size_t len = strlen(name);
    memset(name + len, 'x', TTSHM_NAME_MAX - len);
    name[TTSHM_NAME_MAX] = 0;
    ttshm_test_unlink_registry(name);
    CU_ASSERT_EQUAL(tu_writer_open(name, 0, &w), 0);
    if (w) {
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, 0, TTSHM_DRAM, 1, 1, 0), TTSHM_RECORDED);
        ttshm_writer_close(w);
    }
    ttshm_test_unlink_registry(name);
}

/* ---- foreach / snapshot agree; early stop ---- */

struct visit {
    size_t n, stop_at;
    uint64_t bytes;
};

static int visit_fn(const struct ttshm_entry *e, void *ctx)
{
    struct visit *v = ctx;
    v->n++;
    v->bytes += e->size;
    return v->n == v->stop_at ? 42 : 0;
}

static void test_foreach(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("each", 1024, &w, &r))
        return;
    struct visit v = {0, 0, 0};
    CU_ASSERT_EQUAL(ttshm_reader_foreach(r, visit_fn, &v), 0);
    CU_ASSERT_EQUAL(v.n, 0);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < 300; i++) {
        CU_ASSERT_EQUAL(ttshm_record_alloc(w, (uint32_t)(i % 3), (enum ttshm_mem_type)(i % 5),
                                           0x1000 + i * 64, i + 1, i),
                        TTSHM_RECORDED);
        bytes += i + 1;
    }
    v = (struct visit){0, 0, 0};
    CU_ASSERT_EQUAL(ttshm_reader_foreach(r, visit_fn, &v), 0);
    CU_ASSERT_EQUAL(v.n, 300);
    CU_ASSERT_EQUAL(v.bytes, bytes);
    v = (struct visit){0, 7, 0};
    CU_ASSERT_EQUAL(ttshm_reader_foreach(r, visit_fn, &v), 42);
    CU_ASSERT_EQUAL(v.n, 7);
    struct ttshm_stats st;
    if (get_stats(r, &st) == 0) {
        CU_ASSERT_EQUAL(tu_stats_live_count(&st), 300);
        CU_ASSERT_EQUAL(st.device_count, 3);
    }
    teardown(w, r);
}

/* ---- a random sequence against a model: every counter exact ---- */

#define M_DEVS  4
#define M_ADDRS 40
#define M_CBS   64
static const uint32_t m_dev[M_DEVS] = {0, 1, 7, TTSHM_MAX_DEVICES - 1};
static const enum ttshm_mem_type m_types[] = {TTSHM_DRAM,     TTSHM_L1,    TTSHM_SYSTEM_MEMORY,
                                              TTSHM_L1_SMALL, TTSHM_TRACE, TTSHM_KERNEL};
#define M_TYPES (sizeof m_types / sizeof m_types[0])

struct m_ctr {
    uint64_t live_bytes, live_count, peak_lo, peak_hi, allocs, frees, alloc_bytes, unknown, dup;
};
struct model {
    uint64_t size[M_DEVS][M_TYPES][M_ADDRS]; /* 0: not live */
    struct m_ctr c[M_DEVS][TTSHM_MEM_TYPE_COUNT];
    struct ttshm_entry cb[M_DEVS][M_CBS];
    size_t ncb[M_DEVS];
};

static uint64_t m_addr(size_t a)
{
    return 0x100000 + a * 0x40;
}

static void m_alloc_bytes(struct m_ctr *c, uint64_t old, uint64_t size, int dup)
{
    c->allocs++;
    c->alloc_bytes += size;
    if (dup) {
        c->frees++;
        c->dup++;
        uint64_t hi = c->live_bytes + size;
        c->live_bytes = c->live_bytes - old + size;
        if (hi > c->peak_hi)
            c->peak_hi = hi;
    } else {
        c->live_count++;
        c->live_bytes += size;
        if (c->live_bytes > c->peak_hi)
            c->peak_hi = c->live_bytes;
    }
    if (c->live_bytes > c->peak_lo)
        c->peak_lo = c->live_bytes;
}

static int m_check(ttshm_reader *r, const struct model *m, int step)
{
    int bad = 0;
    struct ttshm_stats st;
    if (get_stats(r, &st))
        return 1;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++) {
        int md = -1;
        for (int i = 0; i < M_DEVS; i++)
            if (m_dev[i] == d)
                md = i;
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct ttshm_counters *c = &st.dev[d][t];
            struct m_ctr z = {0};
            const struct m_ctr *e = md >= 0 ? &m->c[md][t] : &z;
            if (c->live_bytes != e->live_bytes || c->live_count != e->live_count ||
                c->allocs != e->allocs || c->frees != e->frees ||
                c->alloc_bytes != e->alloc_bytes || c->unknown_frees != e->unknown ||
                c->duplicate_allocs != e->dup || c->peak_bytes < e->peak_lo ||
                c->peak_bytes > e->peak_hi || c->dropped != 0) {
                TTSHM_TEST_FAILF(
                    "step %d dev %u type %u: live %llu/%llu count %llu/%llu allocs %llu/%llu "
                    "frees %llu/%llu alloc_bytes %llu/%llu unknown %llu/%llu dup %llu/%llu "
                    "peak %llu in [%llu,%llu] (got/expected)",
                    step, d, t, (unsigned long long)c->live_bytes,
                    (unsigned long long)e->live_bytes, (unsigned long long)c->live_count,
                    (unsigned long long)e->live_count, (unsigned long long)c->allocs,
                    (unsigned long long)e->allocs, (unsigned long long)c->frees,
                    (unsigned long long)e->frees, (unsigned long long)c->alloc_bytes,
                    (unsigned long long)e->alloc_bytes, (unsigned long long)c->unknown_frees,
                    (unsigned long long)e->unknown, (unsigned long long)c->duplicate_allocs,
                    (unsigned long long)e->dup, (unsigned long long)c->peak_bytes,
                    (unsigned long long)e->peak_lo, (unsigned long long)e->peak_hi);
                return 1;
            }
        }
    }
    /* Snapshot == model, exactly. */
    struct ttshm_entry *all = NULL;
    size_t n = 0, expect = 0;
    if (ttshm_reader_snapshot(r, &all, &n) != 0) {
        TTSHM_TEST_FAILF("step %d: snapshot failed", step);
        return 1;
    }
    static unsigned char seen[M_DEVS][M_TYPES][M_ADDRS];
    memset(seen, 0, sizeof seen);
    struct ttshm_entry cbs[M_DEVS][M_CBS];
    size_t ncb[M_DEVS] = {0};
    for (size_t i = 0; i < n && !bad; i++) {
        const struct ttshm_entry *e = &all[i];
        int md = -1;
        for (int k = 0; k < M_DEVS; k++)
            if (m_dev[k] == e->device)
                md = k;
        if (md < 0 || e->tag != tu_tag(e->device, e->type, e->address, e->size)) {
            TTSHM_TEST_FAILF("step %d: unexpected entry dev %u type %u addr %llx", step, e->device,
                             e->type, (unsigned long long)e->address);
            bad = 1;
            break;
        }
        if (e->type == TTSHM_CB) {
            if (ncb[md] == M_CBS) {
                TTSHM_TEST_FAILF("step %d: too many CBs on dev %u", step, e->device);
                bad = 1;
                break;
            }
            cbs[md][ncb[md]++] = *e;
            continue;
        }
        size_t mt = 0;
        while (mt < M_TYPES && m_types[mt] != e->type)
            mt++;
        size_t a = (size_t)((e->address - 0x100000) / 0x40);
        if (mt == M_TYPES || e->address < 0x100000 || a >= M_ADDRS || m_addr(a) != e->address ||
            m->size[md][mt][a] != e->size || seen[md][mt][a]++) {
            TTSHM_TEST_FAILF("step %d: entry dev %u type %u addr %llx size %llu not in model "
                             "(or seen twice)",
                             step, e->device, e->type, (unsigned long long)e->address,
                             (unsigned long long)e->size);
            bad = 1;
        }
    }
    for (int md = 0; md < M_DEVS && !bad; md++) {
        for (size_t mt = 0; mt < M_TYPES; mt++)
            for (size_t a = 0; a < M_ADDRS; a++)
                expect += m->size[md][mt][a] != 0;
        expect += m->ncb[md];
        struct ttshm_entry want[M_CBS];
        memcpy(want, m->cb[md], m->ncb[md] * sizeof want[0]);
        qsort(want, m->ncb[md], sizeof want[0], tu_entry_cmp);
        qsort(cbs[md], ncb[md], sizeof want[0], tu_entry_cmp);
        if (ncb[md] != m->ncb[md]) {
            TTSHM_TEST_FAILF("step %d: dev %u has %zu CBs, expected %zu", step, m_dev[md], ncb[md],
                             m->ncb[md]);
            bad = 1;
        }
        for (size_t i = 0; i < ncb[md] && !bad; i++)
            if (tu_entry_cmp(&want[i], &cbs[md][i]) != 0) {
                TTSHM_TEST_FAILF("step %d: dev %u CB multiset differs", step, m_dev[md]);
                bad = 1;
            }
    }
    if (!bad && n != expect) {
        TTSHM_TEST_FAILF("step %d: snapshot has %zu entries, model %zu", step, n, expect);
        bad = 1;
    }
    free(all);
    /* Every key looked up. */
    for (int md = 0; md < M_DEVS && !bad; md++)
        for (size_t mt = 0; mt < M_TYPES && !bad; mt++)
            for (size_t a = 0; a < M_ADDRS && !bad; a++) {
                struct ttshm_entry e;
                int rc = ttshm_reader_lookup(r, m_dev[md], m_types[mt], m_addr(a), &e);
                uint64_t sz = m->size[md][mt][a];
                if (sz ? (rc != 0 || e.size != sz ||
                          e.tag != tu_tag(m_dev[md], m_types[mt], m_addr(a), sz))
                       : rc != -TTSHM_E_NOTFOUND) {
                    TTSHM_TEST_FAILF("step %d: lookup dev %u type %u addr %llx: rc %d "
                                     "(model size %llu)",
                                     step, m_dev[md], m_types[mt], (unsigned long long)m_addr(a),
                                     rc, (unsigned long long)sz);
                    bad = 1;
                }
            }
    CU_ASSERT_FALSE(bad);
    return bad;
}

static void test_model_counters_exact(void)
{
    ttshm_writer *w;
    ttshm_reader *r;
    if (setup("model", 1024, &w, &r))
        return;
    struct model *m = calloc(1, sizeof *m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct tu_rng rng;
    tu_rng_seed(&rng, 12345);
    int failed = 0;
    for (int step = 0; step < 6000 && !failed; step++) {
        int md = (int)tu_rng_below(&rng, M_DEVS);
        uint32_t dev = m_dev[md];
        uint64_t op = tu_rng_below(&rng, 100);
        if (op < 8) { /* CB alloc (addresses repeat) */
            if (m->ncb[md] == M_CBS)
                continue;
            uint64_t addr = 0x200000 + tu_rng_below(&rng, 4) * 0x1000;
            uint64_t size = 1 + tu_rng_below(&rng, 1 << 16);
            uint64_t tag = tu_tag(dev, TTSHM_CB, addr, size);
            int rc = ttshm_record_alloc(w, dev, TTSHM_CB, addr, size, tag);
            if (rc != TTSHM_RECORDED)
                TTSHM_TEST_FAILF("step %d: CB alloc rc %d", step, rc), failed = 1;
            m->cb[md][m->ncb[md]++] = (struct ttshm_entry){
                .device = dev, .type = TTSHM_CB, .address = addr, .size = size, .tag = tag};
            m_alloc_bytes(&m->c[md][TTSHM_CB], 0, size, 0);
        } else if (op < 10) { /* CB free-all */
            if (ttshm_record_free_cbs(w, dev) != TTSHM_RECORDED)
                TTSHM_TEST_FAILF("step %d: free_cbs failed", step), failed = 1;
            struct m_ctr *c = &m->c[md][TTSHM_CB];
            c->frees += m->ncb[md];
            c->live_count = 0;
            c->live_bytes = 0;
            m->ncb[md] = 0;
        } else {
            size_t mt = (size_t)tu_rng_below(&rng, M_TYPES);
            size_t a = (size_t)tu_rng_below(&rng, M_ADDRS);
            enum ttshm_mem_type type = m_types[mt];
            struct m_ctr *c = &m->c[md][type];
            uint64_t *cur = &m->size[md][mt][a];
            if (op < 60) {
                uint64_t size = 1 + tu_rng_below(&rng, 1ull << (tu_rng_below(&rng, 40) + 1));
                int want = *cur ? TTSHM_DUPLICATE : TTSHM_RECORDED;
                int rc = ttshm_record_alloc(w, dev, type, m_addr(a), size,
                                            tu_tag(dev, type, m_addr(a), size));
                if (rc != want)
                    TTSHM_TEST_FAILF("step %d: alloc rc %d, want %d", step, rc, want), failed = 1;
                m_alloc_bytes(c, *cur, size, *cur != 0);
                *cur = size;
            } else {
                int want = *cur ? TTSHM_RECORDED : TTSHM_UNKNOWN;
                int rc = ttshm_record_free(w, dev, type, m_addr(a));
                if (rc != want)
                    TTSHM_TEST_FAILF("step %d: free rc %d, want %d", step, rc, want), failed = 1;
                if (*cur) {
                    c->frees++;
                    c->live_count--;
                    c->live_bytes -= *cur;
                    *cur = 0;
                } else {
                    c->unknown++;
                }
            }
        }
        if (step % 500 == 499)
            failed |= m_check(r, m, step);
    }
    failed |= m_check(r, m, -1);
    CU_ASSERT_FALSE(failed);
    free(m);
    teardown(w, r);
}

/* ---- names, lists, error strings ---- */

static void test_list(void)
{
    ttshm_writer *w0, *w1;
    ttshm_reader *r0;
    if (setup("list", 0, &w0, &r0))
        return;
    CU_ASSERT_EQUAL_FATAL(tu_writer_open(reg, 0, &w1), 0);
    struct ttshm_segment_info info[4];
    for (int i = 0; i < 4; i++) {
        memset(&info[i], 0, sizeof info[i]);
        info[i].struct_size = sizeof info[i];
    }
    size_t found = 0;
    CU_ASSERT_EQUAL(ttshm_list(reg, info, 4, &found), 0);
    CU_ASSERT_EQUAL(found, 2);
    if (found == 2) {
        char name[96];
        snprintf(name, sizeof name, "ttshm.%s.0", reg);
        CU_ASSERT_STRING_EQUAL(info[0].segment, name);
        CU_ASSERT_STRING_EQUAL(info[0].registry, reg);
        CU_ASSERT_EQUAL(info[0].slot, 0);
        snprintf(name, sizeof name, "ttshm.%s.1", reg);
        CU_ASSERT_STRING_EQUAL(info[1].segment, name);
        CU_ASSERT_STRING_EQUAL(info[1].segment, ttshm_writer_segment_name(w1));
        CU_ASSERT_EQUAL(info[1].slot, 1);
    }
    /* max smaller than what is found: *found still counts all. */
    found = 0;
    memset(&info[1], 0x5a, sizeof info[1]);
    CU_ASSERT_EQUAL(ttshm_list(reg, info, 1, &found), 0);
    CU_ASSERT_EQUAL(found, 2);
    CU_ASSERT_EQUAL(info[1].slot, 0x5a5a5a5a);
    found = 0;
    CU_ASSERT_EQUAL(ttshm_list(reg, NULL, 0, &found), 0);
    CU_ASSERT_EQUAL(found, 2);
    /* Table objects are not segments; all registries include ours. */
    size_t all = 0;
    CU_ASSERT_EQUAL(ttshm_list(NULL, NULL, 0, &all), 0);
    CU_ASSERT(all >= 2);
    char other[48];
    found = 9;
    CU_ASSERT_EQUAL(ttshm_list(ttshm_test_registry(other, "nothing_here"), NULL, 0, &found), 0);
    CU_ASSERT_EQUAL(found, 0);
    ttshm_reader *none = (ttshm_reader *)&none;
    CU_ASSERT_EQUAL(ttshm_reader_open("ttshm.no_such_registry_xyz.0", &none), -TTSHM_E_NOENT);
    ttshm_writer_close(w1);
    teardown(w0, r0);
}

static void test_strings(void)
{
    for (int e = TTSHM_OK; e <= TTSHM_E_NOTFOUND; e++) {
        const char *s = ttshm_strerror(-e);
        CU_ASSERT(s != NULL && s[0] != 0);
        CU_ASSERT(s == ttshm_strerror(e) || (s && strcmp(s, ttshm_strerror(e)) == 0));
        for (int f = TTSHM_OK; f < e && s; f++)
            CU_ASSERT(strcmp(s, ttshm_strerror(f)) != 0);
    }
    CU_ASSERT_PTR_NOT_NULL(ttshm_strerror(12345));
    static const char *names[] = {"DRAM",  "L1", "SYSTEM_MEMORY", "L1_SMALL",
                                  "TRACE", "CB", "KERNEL"};
    for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
        CU_ASSERT_STRING_EQUAL(ttshm_mem_type_name(t), names[t]);
        CU_ASSERT_EQUAL(ttshm_mem_type_parse(names[t]), (int)t);
        char num[8];
        snprintf(num, sizeof num, "%u", t);
        CU_ASSERT_EQUAL(ttshm_mem_type_parse(num), (int)t);
    }
    CU_ASSERT_EQUAL(ttshm_mem_type_parse("dram"), TTSHM_DRAM);
    CU_ASSERT_EQUAL(ttshm_mem_type_parse("l1_small"), TTSHM_L1_SMALL);
    CU_ASSERT_EQUAL(ttshm_mem_type_parse("bogus"), -1);
    CU_ASSERT_EQUAL(ttshm_mem_type_parse("7"), -1);
    CU_ASSERT_EQUAL(ttshm_mem_type_parse(""), -1);
    CU_ASSERT_STRING_EQUAL(ttshm_mem_type_name(7), "?");
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {
        {"alloc_free_lookup", test_alloc_free_lookup},
        {"thread_id_recorded", test_thread_id},
        {"unknown_free_and_duplicate_alloc", test_unknown_and_duplicate},
        {"peak_bytes", test_peak},
        {"cb_free_all", test_cb_free_all},
        {"capacity_published", test_capacity},
        {"bad_device_or_type_dropped", test_bad_device_type_dropped},
        {"null_writer_is_off", test_null_writer},
        {"status_fields", test_status_fields},
        {"versioned_structs", test_versioned_structs},
        {"writer_config_errors", test_writer_config_errors},
        {"foreach_and_early_stop", test_foreach},
        {"random_ops_match_model_exactly", test_model_counters_exact},
        {"list_segments", test_list},
        {"error_and_type_strings", test_strings},
    };
    TTSHM_TEST_SUITE("semantics", cases);
    int rc = ttshm_test_run();
    ttshm_test_unlink_own_registries();
    return rc;
}
