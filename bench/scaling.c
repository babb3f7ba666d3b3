/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttshm thread scaling: T writer threads of one process, each with its own
 * pre-generated stream, either on distinct devices (thread i on device i: the
 * multi-device runtime case, no shared counters) or all on device 0 (shared
 * counter blocks, so their cache lines bounce between cores).
 *
 * Weak scaling: every thread runs cfg->scaling_events timed events, and the
 * steady live set (cfg->live) is split between the threads. Throughput is all
 * timed events over the span from the first thread's start to the last one's
 * end, after a barrier. Thread i is pinned to CPU i modulo the CPUs allowed,
 * so with more threads than CPUs the figure shows time-sharing, not scaling.
 * Each thread's CPU time is measured too: CPU-ns per event stays flat when
 * threads do not slow each other down (no shared cache lines), whatever the
 * number of CPUs, so it shows contention even where wall time cannot. And the
 * process's CPU time between the barriers around the timed phase: the writer
 * threads plus ttshm's background threads, the whole cost.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "design.h"
#include "segments.h"
#include "ttshm/writer.h"

/* Workers wait here until every thread exists, so a failed pthread_create
 * never leaves the others stuck at a barrier that counts one thread too many. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open, abort;
};

struct worker {
    pthread_t th;
    unsigned idx;
    int pin;
    ttshm_writer *w;
    pthread_barrier_t *bar;
    struct gate *gate;
    struct event_stream st;
    unsigned warm; /* untimed passes first */
    unsigned reps; /* timed passes */
    uint64_t t0[BENCH_MAX_REPS + 1], t1[BENCH_MAX_REPS + 1];
    uint64_t cpu[BENCH_MAX_REPS + 1]; /* thread CPU time of the timed phase */
    /* worker 0 only: process CPU between the barriers around the timed phase */
    uint64_t proc_cpu[BENCH_MAX_REPS + 1];
    uint64_t not_recorded;
};

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    pthread_mutex_lock(&wk->gate->mu);
    while (!wk->gate->open && !wk->gate->abort)
        pthread_cond_wait(&wk->gate->cv, &wk->gate->mu);
    int abort_run = wk->gate->abort;
    pthread_mutex_unlock(&wk->gate->mu);
    if (abort_run)
        return NULL;
    if (wk->pin)
        bench_pin_thread(wk->idx);
    for (unsigned pass = 0; pass < wk->warm + wk->reps; pass++) {
        /* Timings of warm-up passes land in [0] and are not used. */
        unsigned rep = pass < wk->warm ? 0 : pass - wk->warm + 1;
        wk->not_recorded += bench_ttshm_apply(wk->w, wk->st.prefill, wk->st.n_prefill);
        pthread_barrier_wait(wk->bar);
        uint64_t p0 = wk->idx == 0 ? bench_process_cpu_ns() : 0;
        uint64_t c0 = bench_thread_cpu_ns();
        wk->t0[rep] = bench_now_ns();
        wk->not_recorded += bench_ttshm_apply(wk->w, wk->st.timed, wk->st.n_timed);
        wk->t1[rep] = bench_now_ns();
        wk->cpu[rep] = bench_thread_cpu_ns() - c0;
        pthread_barrier_wait(wk->bar);
        if (wk->idx == 0)
            wk->proc_cpu[rep] = bench_process_cpu_ns() - p0;
        wk->not_recorded += bench_ttshm_apply(wk->w, wk->st.drain, wk->st.n_drain);
        pthread_barrier_wait(wk->bar);
    }
    return NULL;
}

static int run_point(const struct bench_config *cfg, ttshm_writer *w, unsigned threads,
                     int one_device, struct scaling_point *pt)
{
    memset(pt, 0, sizeof *pt);
    pt->threads = threads;
    pt->one_device = one_device;
    pt->reps = cfg->scaling_reps;
    struct worker *wk = calloc(threads, sizeof *wk);
    if (wk == NULL)
        return -1;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, threads);
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    uint64_t live = cfg->live / threads < 64 ? 64 : cfg->live / threads;
    int rc = 0;
    unsigned made = 0, started = 0;
    for (unsigned i = 0; i < threads; i++) {
        struct stream_params p = {
            .seed = cfg->seed + 1000 * (i + 1) + threads,
            .live = live,
            .events = cfg->scaling_events,
            .dev_first = one_device ? 0 : i % TTSHM_MAX_DEVICES,
            .dev_count = 1,
            .address_base = one_device ? (uint64_t)i << 40 : 0,
        };
        if (stream_generate(&wk[i].st, &p) != 0) {
            rc = -1;
            break;
        }
        wk[i].idx = i;
        wk[i].pin = cfg->pin;
        wk[i].w = w;
        wk[i].bar = &bar;
        wk[i].gate = &gate;
        /* Warm-up: all threads together churn at least warmup_events
         * through the table before timing (steady state, as in compare). */
        uint64_t per_pass = (uint64_t)threads * wk[i].st.n_timed;
        wk[i].warm = per_pass && cfg->warmup_events > per_pass
                         ? (unsigned)((cfg->warmup_events + per_pass - 1) / per_pass)
                         : 1;
        wk[i].reps = cfg->scaling_reps;
        made++;
    }
    if (rc == 0)
        for (; started < threads; started++)
            if (pthread_create(&wk[started].th, NULL, worker_main, &wk[started]) != 0) {
                fprintf(stderr, "tt-shm-bench: cannot start %u threads\n", threads);
                rc = -1;
                break;
            }
    pthread_mutex_lock(&gate.mu);
    if (rc == 0)
        gate.open = 1;
    else
        gate.abort = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(wk[i].th, NULL);
    if (rc == 0) {
        double v[BENCH_MAX_REPS], cv[BENCH_MAX_REPS], pv[BENCH_MAX_REPS];
        for (unsigned rep = 1; rep <= cfg->scaling_reps; rep++) {
            uint64_t a = UINT64_MAX, b = 0, cpu = 0;
            for (unsigned i = 0; i < threads; i++) {
                if (wk[i].t0[rep] < a)
                    a = wk[i].t0[rep];
                if (wk[i].t1[rep] > b)
                    b = wk[i].t1[rep];
                cpu += wk[i].cpu[rep];
            }
            uint64_t ev = (uint64_t)threads * wk[0].st.n_timed;
            pt->mev_s_reps[rep - 1] = b > a ? (double)ev * 1e3 / (double)(b - a) : 0;
            v[rep - 1] = pt->mev_s_reps[rep - 1];
            cv[rep - 1] = (double)cpu / (double)ev;
            pv[rep - 1] = (double)wk[0].proc_cpu[rep] / (double)ev;
        }
        struct summary s;
        bench_summarize(v, cfg->scaling_reps, &s);
        pt->mev_s = s.median;
        bench_summarize(cv, cfg->scaling_reps, &s);
        pt->cpu_ns_event = s.median;
        bench_summarize(pv, cfg->scaling_reps, &s);
        pt->proc_cpu_ns_event = s.median;
        pt->events_total = (uint64_t)threads * wk[0].st.n_timed;
        pt->ns_event = pt->mev_s > 0 ? threads * 1e3 / pt->mev_s : 0;
    }
    for (unsigned i = 0; i < made; i++) {
        pt->non_recorded += wk[i].not_recorded;
        stream_free(&wk[i].st);
    }
    pthread_barrier_destroy(&bar);
    free(wk);
    return rc;
}

/* A fresh writer per point, so every point starts from the same table state
 * (an empty default-size table) and none inherits another's growth. Checks
 * after the run that everything was drained and nothing went wrong. */
static int point_with_writer(const struct bench_config *cfg, unsigned k, unsigned threads, int mode,
                             struct scaling_point *pt)
{
    char reg[TTSHM_NAME_MAX + 1], tag[24];
    snprintf(tag, sizeof tag, "scale%u_%u", mode, k);
    bench_registry(reg, sizeof reg, cfg->registry, tag);
    ttshm_writer *w = bench_ttshm_open(reg, 0);
    if (w == NULL)
        return -1;
    int failed = run_point(cfg, w, threads, mode, pt) != 0;
    struct design_check chk;
    if (bench_ttshm_totals(w, &chk) != 0 || chk.live_count != 0 || chk.anomalies != 0) {
        fprintf(stderr,
                "tt-shm-bench: scaling: writer not empty after the run (live %llu, "
                "anomalies %llu)\n",
                (unsigned long long)chk.live_count, (unsigned long long)chk.anomalies);
        failed = 1;
    }
    ttshm_writer_close(w);
    bench_unlink_registry(reg);
    return failed ? -1 : 0;
}

int run_scaling(const struct bench_config *cfg, struct bench_results *res)
{
    int failed = 0;
    res->nscaling = 0;
    for (int mode = 0; mode < 2; mode++) {
        double base = 0;
        for (unsigned k = 0; k < cfg->nthreads; k++) {
            struct scaling_point *pt = &res->scaling[res->nscaling];
            if (point_with_writer(cfg, k, cfg->threads[k], mode, pt) != 0) {
                failed = 1;
                continue;
            }
            res->nscaling++;
            if (pt->threads == 1 || base == 0) /* no 1-thread point: per-thread rate */
                base = pt->threads == 1 ? pt->mev_s : pt->mev_s / pt->threads;
            pt->speedup = base > 0 ? pt->mev_s / base : 0;
            fprintf(stderr,
                    "  scaling: %2u threads, %-12s %7.2f Mevents/s  x%.2f  (%.1f CPU-ns/event)\n",
                    pt->threads, mode ? "one device" : "own devices", pt->mev_s, pt->speedup,
                    pt->cpu_ns_event);
            if (pt->non_recorded)
                failed = 1;
        }
    }
    res->scaling_ran = 1;
    return failed ? -1 : 0;
}
