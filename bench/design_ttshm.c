/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "ttshm": the design under test, driven through its public writer API with a
 * registry of its own, exactly as a runtime would call it. The checks read the
 * counters back through the reader library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "design.h"
#include "segments.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

struct ttshm_state {
    ttshm_writer *w;
    ttshm_reader *r;       /* the table statistics, read as tt-shm-stat would */
    uint64_t not_recorded; /* results other than TTSHM_RECORDED */
    char registry[TTSHM_NAME_MAX + 1];
};

static int tt_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                   size_t errlen)
{
    (void)max_live; /* default table size: what a runtime gets without tuning */
    struct ttshm_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    bench_registry(s->registry, sizeof s->registry, cfg->registry, "cmp");
    s->w = bench_ttshm_open(s->registry, 0);
    if (s->w == NULL) {
        snprintf(err, errlen, "cannot open a writer (see above)");
        free(s);
        return -1;
    }
    if (ttshm_reader_open(ttshm_writer_segment_name(s->w), &s->r) != 0)
        s->r = NULL; /* the checks will say so */
    *state = s;
    return 0;
}

ttshm_writer *bench_ttshm_open(const char *reg, uint64_t initial_slots)
{
    struct ttshm_writer_config wc;
    memset(&wc, 0, sizeof wc);
    wc.struct_size = sizeof wc;
    wc.name = reg;
    wc.initial_slots = initial_slots;
    wc.report_errors = 1;
    ttshm_writer *w = NULL;
    int rc = ttshm_writer_open(&wc, &w);
    if (rc != 0)
        fprintf(stderr, "tt-shm-bench: ttshm_writer_open(%s): %s\n", reg, ttshm_strerror(rc));
    return w;
}

uint64_t bench_ttshm_apply(ttshm_writer *w, const struct bench_event *ev, size_t n)
{
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bench_event *e = &ev[i];
        enum ttshm_result r;
        if (e->op == EV_ALLOC)
            r = ttshm_record_alloc(w, e->device, (enum ttshm_mem_type)e->type, e->address, e->size,
                                   0);
        else
            r = ttshm_record_free(w, e->device, (enum ttshm_mem_type)e->type, e->address);
        bad += r != TTSHM_RECORDED;
    }
    return bad;
}

static void tt_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct ttshm_state *s = state;
    s->not_recorded += bench_ttshm_apply(s->w, ev, n);
}

int bench_ttshm_totals(ttshm_writer *w, struct design_check *out)
{
    ttshm_reader *r = NULL;
    int rc = ttshm_reader_open(ttshm_writer_segment_name(w), &r);
    if (rc != 0) {
        fprintf(stderr, "tt-shm-bench: ttshm_reader_open(%s): %s\n", ttshm_writer_segment_name(w),
                ttshm_strerror(rc));
        return -1;
    }
    struct ttshm_stats *st = calloc(1, sizeof *st);
    if (st == NULL) {
        ttshm_reader_close(r);
        return -1;
    }
    st->struct_size = sizeof *st;
    rc = ttshm_reader_stats(r, st);
    if (rc != 0) {
        fprintf(stderr, "tt-shm-bench: ttshm_reader_stats: %s\n", ttshm_strerror(rc));
    } else {
        memset(out, 0, sizeof *out);
        for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
            for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
                const struct ttshm_counters *c = &st->dev[d][t];
                out->live_count += c->live_count;
                out->live_bytes += c->live_bytes;
                out->events += c->allocs + c->frees;
                out->anomalies += c->unknown_frees + c->duplicate_allocs + c->dropped;
            }
    }
    free(st);
    /* The table's size and the shared memory behind it, as churn left them. */
    struct ttshm_status status;
    memset(&status, 0, sizeof status);
    status.struct_size = sizeof status;
    if (rc == 0 && ttshm_reader_status(r, &status) == 0) {
        out->table_slots = status.table_slots;
        out->shm_bytes = status.shm_bytes;
    }
    ttshm_reader_close(r);
    return rc == 0 ? 0 : -1;
}

static int tt_check(void *state, struct design_check *out)
{
    struct ttshm_state *s = state;
    if (bench_ttshm_totals(s->w, out) != 0)
        return -1;
    out->anomalies += s->not_recorded;
    return 0;
}

/* ttshm_status.tables_created and table_bytes_created (segment ABI 2). A
 * writer holding a table has created at least one, so 0 means a library that
 * does not count them: "cannot tell", not "none". */
static int tt_tables(void *state, uint64_t *count, uint64_t *bytes)
{
    struct ttshm_state *s = state;
    struct ttshm_status st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (s->r == NULL || ttshm_reader_status(s->r, &st) != 0 || st.tables_created == 0)
        return -1;
    *count = st.tables_created;
    *bytes = st.table_bytes_created;
    return 0;
}

static void tt_close(void *state)
{
    struct ttshm_state *s = state;
    if (s->r)
        ttshm_reader_close(s->r);
    ttshm_writer_close(s->w);
    bench_unlink_registry(s->registry);
    free(s);
}

const struct design_ops design_ttshm = {
    .name = "ttshm",
    .model = "libttshm writer: lock-free table of live buffers + counters in POSIX shm",
    .open = tt_open,
    .apply = tt_apply,
    .sync = NULL,
    .check = tt_check,
    .close = tt_close,
    .tables = tt_tables,
};
