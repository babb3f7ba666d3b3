/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One overfull probe run costs only that run (issue 11, item 8). Records of
 * one key hash (CBs of one owner at one address: TT-Metal programs share CB
 * addresses) fill one probe run; past TTSHM_MAX_PROBE of them no table can
 * hold them all. The excess is dropped and counted, the table is not grown
 * for it, every migration completes, and ordinary records are never
 * dropped.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "layout.h"
#include "reliability/common.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

static char reg[48];

static void stats(struct ttshm_status *s, struct ttshm_stats *st)
{
    ttshm_reader *r = NULL;
    CU_ASSERT_FATAL(rel_reader_open(reg, 0, &r, 5000) == 0);
    s->struct_size = sizeof *s;
    st->struct_size = sizeof *st;
    CU_ASSERT_FATAL(ttshm_reader_status(r, s) == 0 && ttshm_reader_stats(r, st) == 0);
    ttshm_reader_close(r);
}

/* Records `cbs` CBs of owner 0 at `address`; counts the outcomes. */
static void alloc_cbs(ttshm_writer *w, uint64_t address, uint64_t cbs, uint64_t *recorded,
                      uint64_t *dropped)
{
    for (uint64_t i = 0; i < cbs; i++) {
        enum ttshm_result res = ttshm_record_alloc(w, 0, TTSHM_CB, address, 4096, 0);
        *recorded += res == TTSHM_RECORDED;
        *dropped += res == TTSHM_DROPPED;
    }
}

static uint64_t alloc_bufs(ttshm_writer *w, uint64_t base, uint64_t n)
{
    uint64_t dropped = 0;
    for (uint64_t i = 0; i < n; i++)
        dropped += ttshm_record_alloc(w, 0, TTSHM_DRAM, (base + i) << 12, 4096, i) == TTSHM_DROPPED;
    return dropped;
}

/* Round 1: 6,000 CBs at one address, then 100,000 buffers (growth through
 * the run). Round 2: every CB freed, 50,000 more buffers, then 6,000 CBs at
 * another address among them, then 50,000 more. */
static void test_overfull_run(void)
{
    ttshm_test_registry(reg, "overfull");
    ttshm_writer *w = NULL;
    struct ttshm_writer_config cfg = {
        .struct_size = sizeof cfg, .name = reg, .initial_slots = 1024};
    CU_ASSERT_FATAL(ttshm_writer_open(&cfg, &w) == 0);
    const uint64_t cbs = 6000;
    uint64_t cb_recorded = 0, cb_dropped = 0, dropped = 0;
    alloc_cbs(w, 0x10000, cbs, &cb_recorded, &cb_dropped);
    dropped += alloc_bufs(w, 1, 100000);
    struct ttshm_status s;
    static struct ttshm_stats st;
    stats(&s, &st);
    fprintf(stderr,
            "overfull: round 1: CBs recorded %llu, dropped %llu; buffers dropped %llu of 100000; "
            "table %llu slots, migrating %llu\n",
            (unsigned long long)cb_recorded, (unsigned long long)cb_dropped,
            (unsigned long long)dropped, (unsigned long long)s.table_slots,
            (unsigned long long)s.migrating_slots);
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT_EQUAL(s.migrating_slots, 0);
    CU_ASSERT(cb_recorded >= TTSHM_MAX_PROBE / 2 && cb_recorded + cb_dropped == cbs);
    /* Counters agree with the results (a CB a migration had no room for is
     * counted dropped and freed). */
    const struct ttshm_counters *cb = &st.dev[0][TTSHM_CB], *dram = &st.dev[0][TTSHM_DRAM];
    CU_ASSERT(cb->dropped >= cb_dropped && cb->live_count + cb->dropped == cbs);
    CU_ASSERT_EQUAL(dram->live_count, 100000);
    /* The table was not grown for the run: sized for the buffers. */
    CU_ASSERT(s.table_slots <= 262144);

    CU_ASSERT_EQUAL(ttshm_record_free_cbs(w, 0), TTSHM_RECORDED);
    dropped += alloc_bufs(w, 200001, 50000);
    alloc_cbs(w, 0x20000, cbs, &cb_recorded, &cb_dropped);
    dropped += alloc_bufs(w, 400001, 50000);
    stats(&s, &st);
    fprintf(stderr, "overfull: round 2: CBs recorded %llu, dropped %llu; buffers dropped %llu\n",
            (unsigned long long)cb_recorded, (unsigned long long)cb_dropped,
            (unsigned long long)dropped);
    CU_ASSERT_EQUAL(dropped, 0);
    CU_ASSERT_EQUAL(s.migrating_slots, 0);
    CU_ASSERT_EQUAL(dram->live_count, 200000);
    CU_ASSERT(cb_recorded >= TTSHM_MAX_PROBE && cb_recorded + cb_dropped == 2 * cbs);
    ttshm_writer_close(w);
    ttshm_test_unlink_registry(reg);
}

int main(void)
{
    static const struct ttshm_test_case cases[] = {{"overfull_run", test_overfull_run}};
    TTSHM_TEST_SUITE("overfull", cases);
    return ttshm_test_run();
}
