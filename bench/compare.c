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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "design.h"

static const struct design_ops *const g_designs[] = {
    &design_none,    &design_ttshm,    &baseline_counters,
    &baseline_mutex, &baseline_socket, &baseline_cds_lfht,
};

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
                   const struct event_stream *st, struct design_result *r)
{
    memset(r, 0, sizeof *r);
    r->name = d->name;
    r->model = d->model;
    unsigned reps = cfg->reps;
    r->reps = reps;
    r->events_per_rep = st->n_timed;
    size_t batch = cfg->batch ? cfg->batch : 1000;
    size_t nbatches = (st->n_timed + batch - 1) / batch;
    double *samples = malloc((nbatches * reps + 1) * sizeof *samples);
    double e2e[BENCH_MAX_REPS], reps_copy[BENCH_MAX_REPS];
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
    for (unsigned pass = 0; pass < warm + reps; pass++) {
        unsigned rep = pass < warm ? 0 : pass - warm + 1; /* 0: warm-up */
        d->apply(state, st->prefill, st->n_prefill);
        if (d->sync && d->sync(state) != 0)
            goto failed;
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
        if (rep > 0)
            r->rep_ns_event[rep - 1] = (double)(t_end - t_start) / (double)st->n_timed;
        if (rep == reps) {
            r->expect_steady.live_count = st->n_prefill;
            r->expect_steady.live_bytes = st->live_bytes_after_timed;
            r->expect_steady.events =
                (uint64_t)(warm + reps - 1) * per_rep + st->n_prefill + st->n_timed;
            if (d->check(state, &r->seen_steady) != 0)
                goto failed;
        }
        d->apply(state, st->drain, st->n_drain);
        if (d->sync && d->sync(state) != 0)
            goto failed;
    }
    r->expect_empty.events = (uint64_t)(warm + reps) * per_rep;
    if (d->check(state, &r->seen_empty) != 0)
        goto failed;
    d->close(state);
    r->check_ok = check_equal(&r->expect_steady, &r->seen_steady) &&
                  check_equal(&r->expect_empty, &r->seen_empty);
    bench_summarize(samples, ns, &r->batch_ns);
    memcpy(reps_copy, r->rep_ns_event, reps * sizeof(double));
    bench_summarize(reps_copy, reps, &r->ns_event);
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

int run_compare(const struct bench_config *cfg, struct bench_results *res)
{
    struct event_stream st;
    if (bench_main_stream(cfg, &st) != 0) {
        fprintf(stderr, "tt-shm-bench: cannot generate the event stream (out of memory)\n");
        return -1;
    }
    int failed = 0;
    res->ndesigns = 0;
    for (size_t i = 0; i < sizeof g_designs / sizeof g_designs[0]; i++) {
        if (!bench_in_list(cfg->designs, g_designs[i]->name))
            continue;
        struct design_result *r = &res->designs[res->ndesigns++];
        fprintf(stderr, "  compare: %-9s ...", g_designs[i]->name);
        fflush(stderr);
        uint64_t t0 = bench_now_ns();
        if (run_one(g_designs[i], cfg, &st, r) != 0) {
            fprintf(stderr, " FAILED: %s\n", r->error);
            failed = 1;
            continue;
        }
        fprintf(stderr, " %.1f ns/event (%.1fs)%s\n", r->ns_event.median,
                (double)(bench_now_ns() - t0) / 1e9, r->check_ok ? "" : "  CHECK FAILED");
        if (!r->check_ok)
            failed = 1;
    }
    const struct design_result *tt = NULL;
    for (unsigned i = 0; i < res->ndesigns; i++)
        if (strcmp(res->designs[i].name, "ttshm") == 0 && res->designs[i].ran)
            tt = &res->designs[i];
    for (unsigned i = 0; i < res->ndesigns; i++)
        if (tt && tt->ns_event.median > 0 && res->designs[i].ran)
            res->designs[i].ratio_to_ttshm = res->designs[i].ns_event.median / tt->ns_event.median;
    stream_free(&st);
    return failed ? -1 : 0;
}
