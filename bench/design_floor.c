/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "floor": the physical reference for tracking with ttshm's semantics. The
 * same shm open-addressing table of records with a per-record sequence (so a
 * reader in another process could copy them torn-free), the same per device x
 * type counters, fed the same stream, with no concurrency control at all: one
 * writer, no lock, no CAS, no RCU, a table sized once that never grows or
 * rebuilds (shm_table.h). What it costs is what the memory traffic of the
 * records and counters costs on this machine; every ratio in the report is
 * read against it.
 */
#include <stdlib.h>

#include "design.h"
#include "shm_table.h"

static int floor_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                      size_t errlen)
{
    struct shm_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    if (shm_table_open(t, cfg->registry, "floor", max_live, err, errlen) != 0) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void floor_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct shm_table *t = state;
    unsigned tid = bench_gettid();
    for (size_t i = 0; i < n; i++) {
        if (ev[i].op == EV_ALLOC)
            shm_table_alloc(t, &ev[i], bench_coarse_ns(), tid);
        else
            shm_table_free(t, &ev[i]);
    }
}

static int floor_check(void *state, struct design_check *out)
{
    shm_table_check(state, out);
    return 0;
}

static void floor_close(void *state)
{
    shm_table_close(state);
    free(state);
}

const struct design_ops design_floor = {
    .name = "floor",
    .model = "the same shm table, record sequence and counters with no concurrency control "
             "(one writer, sized once): the physical reference",
    .open = floor_open,
    .apply = floor_apply,
    .check = floor_check,
    .close = floor_close,
};
