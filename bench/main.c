/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tt-shm-bench: the cost of tracking device-buffer allocations with ttshm,
 * side by side with the designs it replaces or competes with, in one run.
 * See docs/performance.md for what each figure means and what limits it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "report.h"
#include "segments.h"
#include "ttshm/types.h"

static const char *const g_sections[] = {"compare", "scaling", "readers", "reader", "growth"};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: tt-shm-bench [options]\n"
        "With no options: the short default run (well under 2 minutes on 2 CPUs).\n"
        "\n"
        "  --full                longer runs, more repetitions (minutes)\n"
        "  --events N            timed events per repetition (default 2M; --full 4M)\n"
        "  --live N              steady-state live buffers (default 10k)\n"
        "  --devices N           devices the stream spreads over (default 8)\n"
        "  --reps N              timed repetitions after the warm-up (default 3; --full 7)\n"
        "  --warmup N            untimed churn events first, per design (default 2M; --full 4M)\n"
        "  --batch N             events per timed batch (default 1000)\n"
        "  --threads LIST        writer threads for scaling (default 1,2,4,8,16)\n"
        "  --scaling-events N    timed events per thread (default 500k; --full 2M)\n"
        "  --scaling-reps N      scaling repetitions (default 3; --full 5)\n"
        "  --readers N           reader processes in the interference run (default 4)\n"
        "  --reader-seconds S    writer time per interference repetition (default 1)\n"
        "  --reader-reps N       interference repetitions (default 3; --full 5)\n"
        "  --snapshot-sizes LIST live entries for reader figures (default 10k,100k,1M)\n"
        "  --snapshot-reps N     snapshots timed per size (default 5; --full 15)\n"
        "  --lookups N           point lookups timed per size (default 200k)\n"
        "  --growth-from N       --growth-to N   table growth range (default 1k..1M)\n"
        "  --growth-reps N       growth repetitions (default 3)\n"
        "  --only LIST           sections: compare,scaling,readers,reader,growth\n"
        "  --designs LIST        designs to compare: none,floor,ttshm,counters,mutex,socket,\n"
        "                        cds_lfht (default: all; the reuse pass: none,floor,ttshm,\n"
        "                        counters,mutex)\n"
        "  --reuse PCT           second comparison pass where PCT%% of allocs reuse the address\n"
        "                        just freed (default 50; 0: no such pass)\n"
        "  --stat PATH           tt-shm-stat to time with the largest reader size (default: the\n"
        "                        one built beside the bench, else tt-shm-stat in PATH)\n"
        "  --seed N              stream seed (default 42)\n"
        "  --no-pin              do not pin threads to CPUs\n"
        "  --json FILE           write every figure and the machine as JSON\n"
        "  --plot DIR            write PNG plots with gnuplot (gnuplot-nox) into DIR\n"
        "  --help, --version\n"
        "Numbers take k, M, G suffixes (x1000).\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1e6, end++;
    else if (*end == 'G' || *end == 'g')
        v *= 1e9, end++;
    if (*end != 0 || v > 1e15)
        return -1;
    *out = (uint64_t)(v + 0.5);
    return 0;
}

static int get_number(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *x)
{
    if (parse_u64(v, x) != 0 || *x < lo || *x > hi) {
        fprintf(stderr, "tt-shm-bench: %s: bad value '%s' (%llu..%llu)\n", opt, v,
                (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    return 0;
}

static int parse_list(const char *s, uint64_t *out, unsigned max, unsigned *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n >= max || parse_u64(tok, &out[*n]) != 0 || out[*n] == 0)
            return -1;
        (*n)++;
    }
    return *n ? 0 : -1;
}

int bench_in_list(const char *list, const char *name)
{
    if (list == NULL)
        return 1;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0)
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int bench_section_enabled(const struct bench_config *cfg, const char *section)
{
    return bench_in_list(cfg->only, section);
}

static void defaults(struct bench_config *c, int full)
{
    c->events = full ? 4000000 : 2000000;
    c->live = 10000;
    c->devices = 8;
    c->reps = full ? 7 : 3;
    /* Alloc/free churn drives a ttshm table through cycles of filling with
     * tombstones and being rebuilt, each several 100k events long: warm up
     * past the first growth and time windows long enough to hold whole
     * cycles, or the figure depends on where in a cycle it was taken. */
    c->warmup_events = full ? 4000000 : 2000000;
    c->batch = 1000;
    static const unsigned th[] = {1, 2, 4, 8, 16};
    c->nthreads = 5;
    memcpy(c->threads, th, sizeof th);
    c->scaling_events = full ? 2000000 : 500000;
    c->scaling_reps = full ? 5 : 3;
    c->readers = 4;
    c->reader_seconds = full ? 3.0 : 1.0;
    c->reader_reps = full ? 5 : 3;
    c->snapshot_sizes[0] = 10000;
    c->snapshot_sizes[1] = 100000;
    c->snapshot_sizes[2] = 1000000;
    c->nsnapshot = 3;
    c->snapshot_reps = full ? 15 : 5;
    c->lookups = full ? 1000000 : 200000;
    c->growth_from = 1000;
    c->growth_to = 1000000;
    c->growth_reps = full ? 5 : 3;
    c->seed = 42;
    c->reuse_pct = 50;
    c->stat_path = TTSHM_BENCH_STAT;
    c->pin = 1;
    c->full = full;
}

static int parse_args(int argc, char **argv, struct bench_config *c)
{
    int full = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--full") == 0)
            full = 1;
    defaults(c, full);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x = 0;
        uint64_t list[BENCH_MAX_THREADS];
        unsigned n;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (v == NULL) {                                                                           \
            fprintf(stderr, "tt-shm-bench: %s needs a value\n", a);                                \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
#define NUMBER(field, lo, hi)                                                                      \
    do {                                                                                           \
        NEED_VALUE();                                                                              \
        if (get_number(a, v, (lo), (hi), &x) != 0)                                                 \
            return -1;                                                                             \
        c->field = x;                                                                              \
    } while (0)
        if (strcmp(a, "--full") == 0) {
            /* handled above */
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("tt-shm-bench %s\n", TTSHM_VERSION_STRING);
            exit(0);
        } else if (strcmp(a, "--events") == 0) {
            NUMBER(events, 2, 1000000000ull);
        } else if (strcmp(a, "--live") == 0) {
            NUMBER(live, 1, 100000000ull);
        } else if (strcmp(a, "--devices") == 0) {
            NUMBER(devices, 1, TTSHM_MAX_DEVICES);
        } else if (strcmp(a, "--reps") == 0) {
            NUMBER(reps, 1, BENCH_MAX_REPS);
        } else if (strcmp(a, "--warmup") == 0) {
            NUMBER(warmup_events, 0, 10000000000ull);
        } else if (strcmp(a, "--batch") == 0) {
            NUMBER(batch, 1, 10000000);
        } else if (strcmp(a, "--scaling-events") == 0) {
            NUMBER(scaling_events, 2, 1000000000ull);
        } else if (strcmp(a, "--readers") == 0) {
            NUMBER(readers, 1, 32);
        } else if (strcmp(a, "--reader-reps") == 0) {
            NUMBER(reader_reps, 1, BENCH_MAX_REPS);
        } else if (strcmp(a, "--scaling-reps") == 0) {
            NUMBER(scaling_reps, 1, BENCH_MAX_REPS);
        } else if (strcmp(a, "--snapshot-reps") == 0) {
            NUMBER(snapshot_reps, 1, 1000);
        } else if (strcmp(a, "--lookups") == 0) {
            NUMBER(lookups, 1, 1000000000ull);
        } else if (strcmp(a, "--growth-from") == 0) {
            NUMBER(growth_from, 1, 1000000000ull);
        } else if (strcmp(a, "--growth-to") == 0) {
            NUMBER(growth_to, 2, 1000000000ull);
        } else if (strcmp(a, "--growth-reps") == 0) {
            NUMBER(growth_reps, 1, BENCH_MAX_REPS);
        } else if (strcmp(a, "--seed") == 0) {
            NUMBER(seed, 0, UINT64_MAX / 2);
        } else if (strcmp(a, "--reuse") == 0) {
            NUMBER(reuse_pct, 0, 100);
        } else if (strcmp(a, "--stat") == 0) {
            NEED_VALUE();
            c->stat_path = v;
        } else if (strcmp(a, "--reader-seconds") == 0) {
            NEED_VALUE();
            char *end;
            c->reader_seconds = strtod(v, &end);
            if (*end || !(c->reader_seconds > 0 && c->reader_seconds < 3600)) {
                fprintf(stderr, "tt-shm-bench: --reader-seconds: bad value '%s'\n", v);
                return -1;
            }
        } else if (strcmp(a, "--threads") == 0) {
            NEED_VALUE();
            if (parse_list(v, list, BENCH_MAX_THREADS, &n) != 0) {
                fprintf(stderr, "tt-shm-bench: --threads: bad list '%s'\n", v);
                return -1;
            }
            c->nthreads = n;
            for (unsigned k = 0; k < n; k++) {
                if (list[k] > 256) {
                    fprintf(stderr, "tt-shm-bench: --threads: at most 256 threads\n");
                    return -1;
                }
                c->threads[k] = (unsigned)list[k];
            }
        } else if (strcmp(a, "--snapshot-sizes") == 0) {
            NEED_VALUE();
            if (parse_list(v, c->snapshot_sizes, BENCH_MAX_SIZES, &c->nsnapshot) != 0) {
                fprintf(stderr, "tt-shm-bench: --snapshot-sizes: bad list '%s'\n", v);
                return -1;
            }
        } else if (strcmp(a, "--only") == 0) {
            NEED_VALUE();
            c->only = v;
            for (const char *p = v; *p;) {
                size_t len = strcspn(p, ",");
                int ok = 0;
                for (size_t k = 0; k < sizeof g_sections / sizeof g_sections[0]; k++)
                    ok |= strlen(g_sections[k]) == len && strncmp(p, g_sections[k], len) == 0;
                if (!ok) {
                    fprintf(stderr, "tt-shm-bench: --only: unknown section in '%s'\n", v);
                    return -1;
                }
                p += len;
                if (*p == ',')
                    p++;
            }
        } else if (strcmp(a, "--designs") == 0) {
            NEED_VALUE();
            c->designs = v;
        } else if (strcmp(a, "--no-pin") == 0) {
            c->pin = 0;
        } else if (strcmp(a, "--json") == 0) {
            NEED_VALUE();
            c->json_path = v;
        } else if (strcmp(a, "--plot") == 0) {
            NEED_VALUE();
            c->plot_dir = v;
        } else {
            fprintf(stderr, "tt-shm-bench: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
#undef NUMBER
#undef NEED_VALUE
    }
    if (c->growth_to <= c->growth_from) {
        fprintf(stderr, "tt-shm-bench: --growth-to must be larger than --growth-from\n");
        return -1;
    }
    c->events &= ~1ull;
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench_config cfg;
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    /* A registry name of our own: parallel runs and tests never collide, and
     * the bench never touches a runtime's default registry. */
    snprintf(cfg.registry, sizeof cfg.registry, "bench%ld", (long)getpid());
    bench_cpus_init();
    bench_cleanup_install();
    /* The results hold large arrays: keep them off the stack. */
    static struct bench_results res;
    machine_info_fill(&res.machine);
    bench_tsc_calibrate(&res.tsc);
    uint64_t t0 = bench_now_ns();
    fprintf(stderr, "tt-shm-bench: %s, %u CPUs; registry prefix %s\n", res.machine.cpu_model,
            res.machine.cores_allowed, cfg.registry);

    /* Single-writer sections run in a thread of their own pinned to the first
     * CPU, as a runtime's worker thread would be, while the main thread stays
     * unpinned: the writer's background threads take the main thread's CPUs
     * (core/prepare.c), as they would in a runtime. */
    struct {
        const char *name;
        int (*fn)(const struct bench_config *, struct bench_results *);
        bool pinned;
    } steps[] = {
        {"compare", run_compare, true},      {"scaling", run_scaling, false},
        {"readers", run_interference, true}, {"reader", run_readside, false},
        {"growth", run_growth, true},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (!bench_section_enabled(&cfg, steps[i].name))
            continue;
        int rc = steps[i].pinned && cfg.pin ? bench_run_pinned(0, steps[i].fn, &cfg, &res)
                                            : steps[i].fn(&cfg, &res);
        if (rc != 0) {
            fprintf(stderr, "tt-shm-bench: section %s had failures\n", steps[i].name);
            res.failures++;
        }
    }
    res.wall_seconds = (double)(bench_now_ns() - t0) / 1e9;
    machine_loadavg(&res.machine.loadavg_end);
    report_print(stdout, &cfg, &res);
    fflush(stdout);
    int rc = res.failures ? 1 : 0;
    if (cfg.json_path && report_json(cfg.json_path, &cfg, &res) != 0)
        rc = 1;
    if (cfg.plot_dir && plot_write(cfg.plot_dir, &res) < 0)
        rc = 1;
    bench_cleanup_all();
    return rc;
}
