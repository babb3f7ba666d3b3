/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writer latency per operation while the table grows: from cfg->growth_from
 * live entries (a table sized for them) to cfg->growth_to, one alloc at a
 * time, no frees. Every alloc is timed on its own with the TSC (lfence; rdtsc
 * ... rdtscp; lfence), calibrated against CLOCK_MONOTONIC at startup; the
 * figures include the timer's own cost (reported as timer_overhead_ns), which
 * is not subtracted. The worst op shows the longest stall any caller would
 * see, e.g. a table switch or the first touch of new table pages.
 *
 * Between bins (outside the timed ops) the table size is read through the
 * reader API, to show where the growth steps fall, and the thread's
 * involuntary context switches are counted: a bin in which another process
 * took the CPU may show a preemption, not a writer stall, so the worst op of
 * the bins without one is reported too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "design.h"
#include "segments.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

/* Involuntary context switches of the calling thread so far. */
static long involuntary_switches(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : -1;
}

static void grow_key(uint64_t i, unsigned devices, unsigned *dev, unsigned *type, uint64_t *addr)
{
    *dev = (unsigned)(i % devices);
    *type = (i / devices) % 3 == 0 ? 1u : 0u; /* 1/3 L1, 2/3 DRAM */
    *addr = (i + 1) * 2048;
}

int run_growth(const struct bench_config *cfg, struct bench_results *res)
{
    struct growth_result *g = &res->growth;
    memset(g, 0, sizeof *g);
    g->from = cfg->growth_from;
    g->to = cfg->growth_to;
    g->reps = cfg->growth_reps ? cfg->growth_reps : 1;
    if (g->reps > BENCH_MAX_REPS)
        g->reps = BENCH_MAX_REPS;
    g->clock = BENCH_HAVE_TSC ? "tsc (lfence;rdtsc .. rdtscp;lfence) calibrated to CLOCK_MONOTONIC"
                              : "CLOCK_MONOTONIC per op";
    g->timer_overhead_ns = res->tsc.overhead_ns;
    if (g->to <= g->from) {
        fprintf(stderr, "tt-shm-bench: growth: --growth-to must exceed the start size\n");
        return -1;
    }
    uint64_t nops = g->to - g->from;
    double npt = res->tsc.ns_per_tick > 0 ? res->tsc.ns_per_tick : 1.0;
    g->bins = nops < BENCH_GROWTH_BINS ? (unsigned)nops : BENCH_GROWTH_BINS;
    uint64_t per_bin = (nops + g->bins - 1) / g->bins;
    uint64_t *ticks = malloc(nops * sizeof *ticks);
    double *all = malloc(nops * g->reps * sizeof *all);
    double *binv = malloc((per_bin + 1) * sizeof *binv);
    if (!ticks || !all || !binv) {
        free(ticks);
        free(all);
        free(binv);
        fprintf(stderr, "tt-shm-bench: growth: out of memory\n");
        return -1;
    }
    unsigned devices = cfg->devices ? cfg->devices : 1;
    int failed = 0;
    size_t nall = 0;
    double worst_sorted[BENCH_MAX_REPS];
    unsigned done = 0;
    for (unsigned rep = 0; rep < g->reps; rep++) {
        char reg[TTSHM_NAME_MAX + 1], tag[16];
        snprintf(tag, sizeof tag, "grow%u", rep);
        bench_registry(reg, sizeof reg, cfg->registry, tag);
        /* A table sized for the start, so it must grow. */
        ttshm_writer *w = bench_ttshm_open(reg, g->from);
        if (w == NULL) {
            failed = 1;
            break;
        }
        ttshm_reader *r = NULL;
        if (ttshm_reader_open(ttshm_writer_segment_name(w), &r) != 0)
            r = NULL;
        for (uint64_t i = 0; i < g->from; i++) {
            unsigned dev, type;
            uint64_t addr;
            grow_key(i, devices, &dev, &type, &addr);
            g->non_recorded += ttshm_record_alloc(w, dev, (enum ttshm_mem_type)type, addr, 4096,
                                                  0) != TTSHM_RECORDED;
        }
        long ivcsw = involuntary_switches();
        for (unsigned b = 0; b < g->bins; b++) {
            /* Even split: every bin non-empty, none past the end. */
            uint64_t lo = nops * b / g->bins, hi = nops * (b + 1) / g->bins;
            for (uint64_t k = lo; k < hi; k++) {
                unsigned dev, type;
                uint64_t addr;
                grow_key(g->from + k, devices, &dev, &type, &addr);
                uint64_t t0 = bench_tick_begin();
                enum ttshm_result rr =
                    ttshm_record_alloc(w, dev, (enum ttshm_mem_type)type, addr, 4096, 0);
                uint64_t t1 = bench_tick_end();
                ticks[k] = t1 - t0;
                g->non_recorded += rr != TTSHM_RECORDED;
            }
            /* Outside the timed ops: bin statistics and the table size. */
            double mx = 0;
            for (uint64_t k = lo; k < hi; k++) {
                double ns = (double)ticks[k] * npt;
                binv[k - lo] = ns;
                if (ns > mx)
                    mx = ns;
            }
            g->bin_live[b] = g->from + hi;
            if (mx > g->bin_max_ns[b])
                g->bin_max_ns[b] = mx;
            /* A bin in which the scheduler took the CPU away (another process,
             * on a shared machine) may hold a "stall" that is no stall of the
             * writer: its worst is reported apart. */
            long now_ivcsw = involuntary_switches();
            if (now_ivcsw != ivcsw) {
                g->preempted_bins++;
            } else {
                if (mx > g->bin_max_clean_ns[b])
                    g->bin_max_clean_ns[b] = mx;
                if (mx > g->worst_unpreempted_ns) {
                    g->worst_unpreempted_ns = mx;
                    g->worst_unpreempted_at = g->from + hi;
                }
            }
            ivcsw = involuntary_switches(); /* the reads above may have switched */
            if (rep == g->reps - 1) {
                struct summary s;
                bench_summarize(binv, hi - lo, &s);
                g->bin_p50_ns[b] = s.median;
                struct ttshm_status st;
                memset(&st, 0, sizeof st);
                st.struct_size = sizeof st;
                if (r && ttshm_reader_status(r, &st) == 0)
                    g->bin_table_slots[b] = st.table_slots;
            }
        }
        double worst = 0;
        uint64_t where = 0;
        for (uint64_t k = 0; k < nops; k++) {
            double ns = (double)ticks[k] * npt;
            all[nall++] = ns;
            if (ns > worst) {
                worst = ns;
                where = g->from + k + 1;
            }
        }
        g->worst_ns[rep] = worst;
        g->worst_at_live[rep] = where;
        worst_sorted[done++] = worst;
        struct ttshm_status st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        if (r && ttshm_reader_status(r, &st) == 0)
            g->final_table_slots = st.table_slots;
        if (r)
            ttshm_reader_close(r);
        ttshm_writer_close(w);
        bench_unlink_registry(reg);
        fprintf(stderr, "  growth: %llu -> %llu entries: worst op %.1f us at %llu live\n",
                (unsigned long long)g->from, (unsigned long long)g->to, worst / 1e3,
                (unsigned long long)where);
    }
    bench_summarize(all, nall, &g->op_ns);
    struct summary ws;
    bench_summarize(worst_sorted, done, &ws);
    g->reps = done;
    g->worst_max_ns = ws.max;
    g->worst_median_ns = ws.median;
    if (g->non_recorded)
        failed = 1;
    free(ticks);
    free(all);
    free(binv);
    res->growth_ran = !failed;
    return failed ? -1 : 0;
}
