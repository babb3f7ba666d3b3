/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clocks, the cycle counter, CPU pinning and order statistics for the bench.
 *
 * Throughput figures are timed with CLOCK_MONOTONIC around batches of many
 * events, so the clock's own ~25 ns is spread over the batch. Per-operation
 * latencies (the growth run) use the TSC, calibrated against CLOCK_MONOTONIC,
 * because a clock_gettime per operation would be as long as the operation.
 */
#ifndef TTSHM_BENCH_TIMING_H
#define TTSHM_BENCH_TIMING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#else
#define BENCH_HAVE_TSC 0
#endif

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: what it ran, not what it waited. */
static inline uint64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process: every thread, background ones included. */
static inline uint64_t bench_process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Cycle-counter reads that bracket one operation. The lfence keeps the
 * operation's loads from being reordered across the reads (rdtsc alone is not
 * ordered); without a TSC they fall back to CLOCK_MONOTONIC in ns. */
static inline uint64_t bench_tick_begin(void)
{
#if BENCH_HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return bench_now_ns();
#endif
}

static inline uint64_t bench_tick_end(void)
{
#if BENCH_HAVE_TSC
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
#else
    return bench_now_ns();
#endif
}

struct tsc_calibration {
    int ok;
    const char *source; /* "tsc" or "clock_monotonic" */
    double ns_per_tick;
    double overhead_ns; /* median of an empty begin/end pair */
    double ghz;
};

/* Measures ticks against CLOCK_MONOTONIC over ~50 ms. */
void bench_tsc_calibrate(struct tsc_calibration *cal);

/* Order statistics of a sample. */
struct summary {
    uint64_t n;
    double min, median, mean, p90, p99, p999, max;
};

/* Sorts v (n values) in place and fills *s; an empty sample gives zeros. */
void bench_summarize(double *v, size_t n, struct summary *s);

/* The q-quantile (0..1) of a sorted array, by the nearest-rank rule. */
double bench_quantile_sorted(const double *v, size_t n, double q);

/* CPUs this process may run on (at startup). */
unsigned bench_cpus_allowed(void);

/* Pins the calling thread to the idx-th allowed CPU (modulo their number).
 * Returns 0, or -1 (and leaves the thread unpinned) on failure. */
int bench_pin_thread(unsigned idx);

/* Gives the calling thread back every CPU the process started with. */
void bench_unpin_thread(void);

/* Runs fn(arg) with the calling thread on the CPUs of the process's main
 * thread, then puts its own back: threads fn starts inherit the main thread's
 * CPUs (off the timed CPU while a pinned section runs), as ttshm's own
 * background threads do. */
void bench_with_main_cpus(void (*fn)(void *), void *arg);

#include <sys/types.h>

/* Thread ids of this process, at most max of them; returns how many. */
size_t bench_thread_ids(pid_t *out, size_t max);

/* Threads of this process other than the caller and those in `before` (the
 * ones that existed before, e.g. before a design started its own), and how
 * many of them may run on the idx-th allowed CPU; -1 when /proc cannot tell. */
int bench_threads_on_cpu(unsigned idx, const pid_t *before, size_t nbefore, int *others);

struct bench_config;
struct bench_results;
/* Runs fn(cfg, res) in a new thread pinned to the idx-th allowed CPU and
 * returns its result (fn runs unpinned on the calling thread if no thread
 * can be made). While it runs, the calling thread (the process's main thread)
 * is kept off that CPU, when there is another: threads that take the main
 * thread's CPUs (ttshm's background threads) then never share the timed
 * thread's CPU. */
int bench_run_pinned(unsigned idx, int (*fn)(const struct bench_config *, struct bench_results *),
                     const struct bench_config *cfg, struct bench_results *res);

/* Remembers the startup affinity; call once before any pinning. */
void bench_cpus_init(void);

#endif
