/* SPDX-License-Identifier: Apache-2.0 */
#include "timing.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static cpu_set_t g_startup_set;
static unsigned g_ncpus;
static int g_cpus[CPU_SETSIZE];

void bench_cpus_init(void)
{
    CPU_ZERO(&g_startup_set);
    if (sched_getaffinity(0, sizeof g_startup_set, &g_startup_set) != 0) {
        g_ncpus = 0;
        return;
    }
    g_ncpus = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &g_startup_set))
            g_cpus[g_ncpus++] = c;
}

unsigned bench_cpus_allowed(void)
{
    return g_ncpus ? g_ncpus : 1;
}

int bench_pin_thread(unsigned idx)
{
    if (g_ncpus == 0)
        return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g_cpus[idx % g_ncpus], &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 ? 0 : -1;
}

void bench_unpin_thread(void)
{
    if (g_ncpus)
        pthread_setaffinity_np(pthread_self(), sizeof g_startup_set, &g_startup_set);
}

void bench_with_main_cpus(void (*fn)(void *), void *arg)
{
    cpu_set_t own, main_cpus;
    int moved = pthread_getaffinity_np(pthread_self(), sizeof own, &own) == 0 &&
                sched_getaffinity(getpid(), sizeof main_cpus, &main_cpus) == 0 &&
                pthread_setaffinity_np(pthread_self(), sizeof main_cpus, &main_cpus) == 0;
    fn(arg);
    if (moved)
        pthread_setaffinity_np(pthread_self(), sizeof own, &own);
}

struct pinned_run {
    unsigned idx;
    int (*fn)(const struct bench_config *, struct bench_results *);
    const struct bench_config *cfg;
    struct bench_results *res;
    int rc;
};

static void *pinned_main(void *arg)
{
    struct pinned_run *p = arg;
    bench_pin_thread(p->idx);
    p->rc = p->fn(p->cfg, p->res);
    return NULL;
}

int bench_run_pinned(unsigned idx, int (*fn)(const struct bench_config *, struct bench_results *),
                     const struct bench_config *cfg, struct bench_results *res)
{
    struct pinned_run p = {idx, fn, cfg, res, -1};
    int kept_off = 0;
    if (g_ncpus >= 2) {
        cpu_set_t rest = g_startup_set;
        CPU_CLR(g_cpus[idx % g_ncpus], &rest);
        kept_off = pthread_setaffinity_np(pthread_self(), sizeof rest, &rest) == 0;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, pinned_main, &p) != 0) {
        if (kept_off)
            bench_unpin_thread();
        return fn(cfg, res);
    }
    pthread_join(t, NULL);
    if (kept_off)
        bench_unpin_thread();
    return p.rc;
}

size_t bench_thread_ids(pid_t *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < max;) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0)
            out[n++] = tid;
    }
    closedir(d);
    return n;
}

int bench_threads_on_cpu(unsigned idx, const pid_t *before, size_t nbefore, int *others)
{
    *others = 0;
    if (g_ncpus == 0)
        return -1;
    pid_t tids[256];
    size_t n = bench_thread_ids(tids, sizeof tids / sizeof tids[0]);
    if (n == 0)
        return -1;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int on = 0;
    for (size_t k = 0; k < n; k++) {
        pid_t tid = tids[k];
        int old = tid == self;
        for (size_t b = 0; b < nbefore && !old; b++)
            old = before[b] == tid;
        if (old)
            continue;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(tid, sizeof set, &set) != 0)
            continue; /* the thread has just ended */
        (*others)++;
        on += CPU_ISSET(g_cpus[idx % g_ncpus], &set) != 0;
    }
    return on;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile_sorted(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    /* Nearest rank: the smallest value with at least q*n values at or below it. */
    double rank = ceil(q * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    if (i >= n)
        i = n - 1;
    return v[i];
}

void bench_summarize(double *v, size_t n, struct summary *s)
{
    memset(s, 0, sizeof *s);
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s->n = n;
    s->min = v[0];
    s->max = v[n - 1];
    s->mean = sum / (double)n;
    /* Median of an even count is the mean of the middle two, as usual. */
    s->median = (n & 1) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    s->p90 = bench_quantile_sorted(v, n, 0.90);
    s->p99 = bench_quantile_sorted(v, n, 0.99);
    s->p999 = bench_quantile_sorted(v, n, 0.999);
}

void bench_tsc_calibrate(struct tsc_calibration *cal)
{
    memset(cal, 0, sizeof *cal);
#if BENCH_HAVE_TSC
    cal->source = "tsc";
    /* Three 20 ms windows; the median rate rejects one disturbed by a preemption. */
    double rates[3];
    for (int k = 0; k < 3; k++) {
        uint64_t n0 = bench_now_ns(), t0 = __rdtsc();
        while (bench_now_ns() - n0 < 20000000ull)
            ;
        uint64_t n1 = bench_now_ns(), t1 = __rdtsc();
        rates[k] = (double)(n1 - n0) / (double)(t1 - t0);
    }
    struct summary s;
    bench_summarize(rates, 3, &s);
    cal->ns_per_tick = s.median;
#else
    cal->source = "clock_monotonic";
    cal->ns_per_tick = 1.0;
#endif
    cal->ghz = 1.0 / cal->ns_per_tick;
    enum { N = 2001 };
    static double ov[N];
    for (int i = 0; i < N; i++) {
        uint64_t a = bench_tick_begin();
        uint64_t b = bench_tick_end();
        ov[i] = (double)(b - a) * cal->ns_per_tick;
    }
    struct summary o;
    bench_summarize(ov, N, &o);
    cal->overhead_ns = o.median;
    cal->ok = cal->ns_per_tick > 0 && isfinite(cal->ns_per_tick);
}
