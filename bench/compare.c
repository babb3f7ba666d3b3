/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The side-by-side run: one pre-generated stream through every design.
 *
 * Each design gets untimed warm-up repetitions (until cfg->warmup_events
 * timed-phase events went through) and then cfg->reps timed ones. A repetition is: prefill
 * (untimed) to the steady live count, the timed phase, drain (untimed) back to empty. The figure
 * for a design is the time of the whole timed phase over its events (so occasional costs, such as a
 * table rebuild, are in it, amortised), median and p99 over the repetitions.
 * The timed phase is also cut into batches of cfg->batch events, each timed
 * with CLOCK_MONOTONIC (one clock read spread over ~1000 events): the batch
 * median is the typical event, the batch p99 shows the spikes. The thread is
 * pinned to one CPU (and the socket server to another) so migrations do not
 * show up as design cost.
 *
 * Beside the timed thread's wall time, the process's CPU time over the same
 * phase (every thread, and helper processes such as the socket server, up to
 * the point where everything was applied): work a design moves to background
 * threads is not free, it runs on another CPU of the same host.
 *
 * Two passes: the stream as generated, then (cfg->reuse_pct > 0) the same
 * sizes with that share of allocs reusing the address just freed, for the
 * designs the targets need unless --designs names others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "design.h"

static const struct design_ops *const g_designs[] = {
    &design_none,    &design_floor,    &design_ttshm,      &baseline_counters,
    &baseline_mutex, &baseline_socket, &baseline_cds_lfht,
};

/* The reuse pass, unless --designs says otherwise: the floor and the designs
 * the targets compare with it (socket and cds_lfht would double the run). */
static const char g_reuse_designs[] = "none,floor,ttshm,counters,mutex";

/* CPU of this process and of the design's helper processes so far. */
static uint64_t cpu_now(const struct design_ops *d, void *state)
{
    return bench_process_cpu_ns() + (d->helper_cpu_ns ? d->helper_cpu_ns(state) : 0);
}

static int check_equal(const struct design_check *want, const struct design_check *seen)
{
    if (seen->live_count != BENCH_NA && seen->live_count != want->live_count)
        return 0;
    if (seen->live_bytes != BENCH_NA && seen->live_bytes != want->live_bytes)
        return 0;
    if (seen->events != BENCH_NA && seen->events != want->events)
        return 0;
    return seen->anomalies == 0;
}

static int run_one(const struct design_ops *d, const struct bench_config *cfg,
                   const struct event_stream *st, unsigned reuse_pct, struct design_result *r)
{
    memset(r, 0, sizeof *r);
    r->name = d->name;
    r->model = d->model;
    r->reuse_pct = reuse_pct;
    r->helpers_on_timed_cpu = -1;
    unsigned reps = cfg->reps;
    r->reps = reps;
    r->events_per_rep = st->n_timed;
    size_t batch = cfg->batch ? cfg->batch : 1000;
    size_t nbatches = (st->n_timed + batch - 1) / batch;
    double *samples = malloc((nbatches * reps + 1) * sizeof *samples);
    double e2e[BENCH_MAX_REPS], reps_copy[BENCH_MAX_REPS], footprint[BENCH_MAX_REPS];
    size_t nfootprint = 0;
    uint64_t tc0 = 0, tb0 = 0, tc1 = 0, tb1 = 0;
    pid_t before[256]; /* threads that are not the design's */
    size_t nbefore = bench_thread_ids(before, sizeof before / sizeof before[0]);
    size_t ns = 0;
    void *state = NULL;
    if (samples == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return -1;
    }
    if (d->open(&state, cfg, st->n_prefill + 1, r->error, sizeof r->error) != 0) {
        if (!r->error[0])
            snprintf(r->error, sizeof r->error, "open failed");
        free(samples);
        return -1;
    }
    uint64_t per_rep = st->n_prefill + st->n_timed + st->n_drain;
    /* Untimed passes until warmup_events timed-phase events went through
     * (at least one): alloc/free churn changes a table's state (tombstones,
     * growth) for millions of events, and the figure is for the steady state. */
    unsigned warm = 1;
    if (st->n_timed > 0 && cfg->warmup_events > st->n_timed)
        warm = (unsigned)((cfg->warmup_events + st->n_timed - 1) / st->n_timed);
    r->warmup_passes = warm;
    r->has_tables = d->tables != NULL;
    for (unsigned pass = 0; pass < warm + reps; pass++) {
        unsigned rep = pass < warm ? 0 : pass - warm + 1; /* 0: warm-up */
        d->apply(state, st->prefill, st->n_prefill);
        if (d->sync && d->sync(state) != 0)
            goto failed;
        if (rep > 0 && r->has_tables && d->tables(state, &tc0, &tb0) != 0)
            r->has_tables = 0;
        uint64_t cpu_start = cpu_now(d, state);
        uint64_t t_start = bench_now_ns();
        for (size_t off = 0; off < st->n_timed; off += batch) {
            size_t len = st->n_timed - off < batch ? st->n_timed - off : batch;
            uint64_t t0 = bench_now_ns();
            d->apply(state, st->timed + off, len);
            uint64_t t1 = bench_now_ns();
            if (rep > 0)
                samples[ns++] = (double)(t1 - t0) / (double)len;
        }
        uint64_t t_end = bench_now_ns();
        if (d->sync) {
            if (d->sync(state) != 0)
                goto failed;
            if (rep > 0)
                e2e[rep - 1] = (double)(bench_now_ns() - t_start) / (double)st->n_timed;
        }
        uint64_t cpu_end = cpu_now(d, state);
        if (rep > 0) {
            r->rep_ns_event[rep - 1] = (double)(t_end - t_start) / (double)st->n_timed;
            r->rep_cpu_ns_event[rep - 1] = (double)(cpu_end - cpu_start) / (double)st->n_timed;
        }
        if (rep > 0 && d->check != NULL) {
            /* The footprint the churn left, at the end of every repetition. */
            struct design_check seen;
            memset(&seen, 0, sizeof seen);
            if (d->check(state, &seen) == 0 && seen.shm_bytes && seen.live_count)
                footprint[nfootprint++] = (double)seen.shm_bytes / (double)seen.live_count;
        }
        if (rep > 0 && r->has_tables) {
            if (d->tables(state, &tc1, &tb1) != 0) {
                r->has_tables = 0;
            } else {
                r->rep_tables[rep - 1] = tc1 - tc0;
                r->tables_timed += tc1 - tc0;
                r->table_bytes_timed += tb1 - tb0;
            }
        }
        if (rep == reps) {
            r->expect_steady.live_count = st->n_prefill;
            r->expect_steady.live_bytes = st->live_bytes_after_timed;
            r->expect_steady.events =
                (uint64_t)(warm + reps - 1) * per_rep + st->n_prefill + st->n_timed;
            if (d->check(state, &r->seen_steady) != 0)
                goto failed;
            if (cfg->pin)
                r->helpers_on_timed_cpu =
                    bench_threads_on_cpu(0, before, nbefore, &r->helper_threads);
        }
        d->apply(state, st->drain, st->n_drain);
        if (d->sync && d->sync(state) != 0)
            goto failed;
    }
    r->expect_empty.events = (uint64_t)(warm + reps) * per_rep;
    r->events_total = r->expect_empty.events;
    if (d->check(state, &r->seen_empty) != 0)
        goto failed;
    if (r->has_tables && d->tables(state, &r->tables_total, &r->table_bytes_total) != 0)
        r->has_tables = 0;
    d->close(state);
    r->check_ok = check_equal(&r->expect_steady, &r->seen_steady) &&
                  check_equal(&r->expect_empty, &r->seen_empty);
    bench_summarize(footprint, nfootprint, &r->steady_bytes_per_entry);
    bench_summarize(samples, ns, &r->batch_ns);
    memcpy(reps_copy, r->rep_ns_event, reps * sizeof(double));
    bench_summarize(reps_copy, reps, &r->ns_event);
    memcpy(reps_copy, r->rep_cpu_ns_event, reps * sizeof(double));
    bench_summarize(reps_copy, reps, &r->cpu_ns_event);
    if (d->sync) {
        r->has_e2e = 1;
        bench_summarize(e2e, reps, &r->e2e_ns_event);
    }
    r->ran = 1;
    free(samples);
    return 0;
failed:
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "sync or check failed");
    d->close(state);
    free(samples);
    return -1;
}

/* One pass: every chosen design through one stream. */
static int run_pass(const struct bench_config *cfg, struct bench_results *res, const char *designs,
                    unsigned reuse_pct)
{
    struct event_stream st;
    if (bench_main_stream(cfg, reuse_pct * 10, &st) != 0) {
        fprintf(stderr, "tt-shm-bench: cannot generate the event stream (out of memory)\n");
        return -1;
    }
    int failed = 0;
    unsigned first = res->ndesigns;
    for (size_t i = 0; i < sizeof g_designs / sizeof g_designs[0]; i++) {
        if (!bench_in_list(designs, g_designs[i]->name) || res->ndesigns >= BENCH_MAX_DESIGNS)
            continue;
        struct design_result *r = &res->designs[res->ndesigns++];
        fprintf(stderr, "  compare%s: %-9s ...", reuse_pct ? " (reuse)" : "", g_designs[i]->name);
        fflush(stderr);
        uint64_t t0 = bench_now_ns();
        if (run_one(g_designs[i], cfg, &st, reuse_pct, r) != 0) {
            fprintf(stderr, " FAILED: %s\n", r->error);
            failed = 1;
            continue;
        }
        fprintf(stderr, " %.1f ns/event, %.1f CPU-ns/event (%.1fs)%s\n", r->ns_event.median,
                r->cpu_ns_event.median, (double)(bench_now_ns() - t0) / 1e9,
                r->check_ok ? "" : "  CHECK FAILED");
        if (!r->check_ok)
            failed = 1;
    }
    const struct design_result *tt = NULL, *fl = NULL;
    for (unsigned i = first; i < res->ndesigns; i++) {
        if (!res->designs[i].ran)
            continue;
        if (strcmp(res->designs[i].name, "ttshm") == 0)
            tt = &res->designs[i];
        if (strcmp(res->designs[i].name, "floor") == 0)
            fl = &res->designs[i];
    }
    for (unsigned i = first; i < res->ndesigns; i++) {
        struct design_result *r = &res->designs[i];
        if (!r->ran)
            continue;
        if (tt && tt->ns_event.median > 0)
            r->ratio_to_ttshm = r->ns_event.median / tt->ns_event.median;
        if (fl && fl->ns_event.median > 0 && fl->cpu_ns_event.median > 0) {
            r->ratio_to_floor = r->ns_event.median / fl->ns_event.median;
            r->cpu_ratio_to_floor = r->cpu_ns_event.median / fl->cpu_ns_event.median;
        }
    }
    stream_free(&st);
    return failed ? -1 : 0;
}

int run_compare(const struct bench_config *cfg, struct bench_results *res)
{
    res->ndesigns = 0;
    int failed = run_pass(cfg, res, cfg->designs, 0) != 0;
    if (cfg->reuse_pct > 0)
        failed |=
            run_pass(cfg, res, cfg->designs ? cfg->designs : g_reuse_designs, cfg->reuse_pct) != 0;
    return failed ? -1 : 0;
}
