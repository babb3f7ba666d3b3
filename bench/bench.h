/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tt-shm-bench: configuration and results shared by every part of the bench.
 * Each experiment fills its part of struct bench_results; report.c prints the
 * table and writes the JSON from it, plot.c draws from it.
 */
#ifndef TTSHM_BENCH_H
#define TTSHM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "timing.h"

#define BENCH_MAX_THREADS 16 /* entries in --threads */
#define BENCH_MAX_SIZES   8  /* entries in --snapshot-sizes */
#define BENCH_MAX_DESIGNS 16 /* both passes of the comparison */
#define BENCH_MAX_REPS    64
#define BENCH_GROWTH_BINS 400        /* points of the growth-latency plot */
#define BENCH_NA          UINT64_MAX /* "this design cannot tell" in checks */

struct bench_config {
    uint64_t events;        /* timed events per repetition (even: free/alloc pairs) */
    uint64_t live;          /* steady-state live buffers */
    unsigned devices;       /* devices the single-thread stream spreads over */
    unsigned reps;          /* timed repetitions, after one untimed warm-up */
    uint64_t warmup_events; /* untimed churn before timing: tables reach steady state */
    unsigned batch;         /* events per timed batch (one clock read per batch) */
    unsigned threads[BENCH_MAX_THREADS];
    unsigned nthreads;
    uint64_t scaling_events; /* timed events per thread per repetition */
    unsigned scaling_reps;
    unsigned readers;      /* reader processes in the interference run */
    double reader_seconds; /* writer run time per interference repetition */
    unsigned reader_reps;
    uint64_t snapshot_sizes[BENCH_MAX_SIZES];
    unsigned nsnapshot;
    unsigned snapshot_reps;
    uint64_t lookups; /* point lookups timed per size */
    uint64_t growth_from, growth_to;
    unsigned growth_reps;
    uint64_t seed;
    unsigned reuse_pct;    /* timed allocs reusing the address just freed, in the second pass */
    const char *stat_path; /* tt-shm-stat to time with 1M live buffers */
    int pin;               /* pin threads to CPUs */
    int full;              /* --full was given */
    const char *json_path;
    const char *plot_dir;
    const char *only;    /* comma-separated sections, NULL: all */
    const char *designs; /* comma-separated designs to compare, NULL: all */
    char registry[40];   /* base registry name, "bench<pid>" */
};

/* Which sections run (--only). */
int bench_section_enabled(const struct bench_config *cfg, const char *section);

/* Whether name is in a comma-separated list (NULL: everything is). */
int bench_in_list(const char *list, const char *name);

/* What a design's own state says after a phase, compared with what the
 * generator knows must be true. BENCH_NA where the design cannot tell. */
struct design_check {
    uint64_t live_count, live_bytes, events;
    uint64_t table_slots, shm_bytes; /* ttshm only (0: not reported): the table churn left */
    uint64_t anomalies;              /* unknown frees, duplicates, drops the design reported */
};

struct design_result {
    const char *name;
    const char *model;  /* one line: what the design is */
    unsigned reuse_pct; /* share of timed allocs that reused the address just freed */
    int ran;            /* 1 when every repetition completed */
    char error[160];
    unsigned reps;
    unsigned warmup_passes; /* untimed repetitions before the timed ones */
    uint64_t events_per_rep;
    struct summary batch_ns;             /* over all timed batches of all repetitions */
    double rep_ns_event[BENCH_MAX_REPS]; /* whole-repetition ns/event */
    struct summary ns_event; /* whole-repetition ns/event, over the repetitions: the figure */
    /* CPU time of the whole process (all threads, background ones included,
     * plus helper processes such as the socket server) over the timed phase,
     * per event: what the host pays, wherever it runs. */
    double rep_cpu_ns_event[BENCH_MAX_REPS];
    struct summary cpu_ns_event;
    double ratio_to_ttshm;                     /* median / ttshm median; 0 when ttshm did not run */
    double ratio_to_floor, cpu_ratio_to_floor; /* wall and process CPU / floor's, same pass */
    /* Table objects created (ttshm): in the timed phases after the warm-up,
     * and over the whole run of the design; has_tables 0: cannot tell. */
    int has_tables;
    uint64_t tables_timed, table_bytes_timed, tables_total, table_bytes_total;
    uint64_t rep_tables[BENCH_MAX_REPS]; /* tables created in each timed phase */
    uint64_t events_total; /* every event applied, warm-up, prefill and drain included */
    /* Threads the design started (after its timed phases), and how many of
     * them may run on the timed thread's CPU (-1: not pinned, so not asked). */
    int helper_threads, helpers_on_timed_cpu;
    /* socket only: client cost is ns_event; this is until the server applied all */
    int has_e2e;
    struct summary e2e_ns_event;
    /* checks: after the timed phase (steady state) and after the drain (empty) */
    struct design_check expect_steady, seen_steady, expect_empty, seen_empty;
    int check_ok;
    /* ttshm: shared memory per live entry at the end of each timed
     * repetition (a rebuild may be running then: two tables) */
    struct summary steady_bytes_per_entry;
};

struct scaling_point {
    unsigned threads;
    int one_device; /* 0: thread i on device i; 1: all threads on device 0 */
    uint64_t events_total;
    double mev_s;             /* median over repetitions, all threads together */
    double ns_event;          /* per event per thread (threads * 1e3 / mev_s) */
    double cpu_ns_event;      /* median: CPU time of the writer threads / events */
    double proc_cpu_ns_event; /* median: process CPU (background threads too) / events */
    double speedup;           /* mev_s / the 1-thread mev_s of the same mode */
    double mev_s_reps[BENCH_MAX_REPS];
    unsigned reps;
    uint64_t non_recorded; /* results other than TTSHM_RECORDED (must be 0) */
};

struct interference_point {
    unsigned readers;
    double mev_s_wall;            /* median: events / wall time of the timed phases */
    double mev_s_cpu;             /* median: events / writer thread CPU time */
    double ratio_wall, ratio_cpu; /* vs 0 readers */
    uint64_t events;
    uint64_t reader_scans; /* snapshots + foreach passes completed by all readers */
    uint64_t reader_errors;
    uint64_t reader_busy;    /* scans answered TTSHM_E_BUSY (table moved; not an error) */
    uint64_t reader_entries; /* entries seen in all scans */
    unsigned reps;
};

struct snapshot_point {
    uint64_t live;
    uint64_t seen;                   /* entries in the last snapshot (must equal live) */
    struct summary snapshot_ms;      /* ttshm_reader_snapshot: a new array per call */
    struct summary snapshot_into_ms; /* ttshm_reader_snapshot_into: one array, reused */
    struct summary foreach_ms;
    double lookup_hit_ns; /* median over batches */
    double lookup_miss_ns;
    uint64_t lookup_errors; /* hits not found, or misses found */
    uint64_t table_slots;
    uint64_t shm_bytes;      /* ttshm_status.shm_bytes */
    uint64_t resident_bytes; /* tmpfs blocks of the segment's objects */
    double bytes_per_entry;  /* shm_bytes / live */
    double resident_per_entry;
    double fill_ns_event; /* untimed fill, for information */
};

struct growth_result {
    uint64_t from, to;
    unsigned reps;
    const char *clock; /* how each op was timed */
    double timer_overhead_ns;
    struct summary op_ns; /* every timed alloc of every repetition */
    double worst_ns[BENCH_MAX_REPS];
    uint64_t worst_at_live[BENCH_MAX_REPS];
    double worst_max_ns, worst_median_ns;
    uint64_t final_table_slots;
    uint64_t non_recorded;
    double worst_unpreempted_ns;   /* worst op in bins without an involuntary switch */
    uint64_t worst_unpreempted_at; /* live entries at the end of that bin */
    uint64_t preempted_bins;       /* over all repetitions */
    unsigned bins;
    uint64_t bin_live[BENCH_GROWTH_BINS];       /* live entries at the end of the bin */
    double bin_max_ns[BENCH_GROWTH_BINS];       /* over all repetitions */
    double bin_max_clean_ns[BENCH_GROWTH_BINS]; /* over repetitions not preempted in it; 0: none */
    double bin_p50_ns[BENCH_GROWTH_BINS];       /* from the last repetition */
    uint64_t bin_table_slots[BENCH_GROWTH_BINS];
};

struct memory_result {
    uint64_t empty_shm_bytes;      /* ttshm_status.shm_bytes of a fresh writer */
    uint64_t empty_resident_bytes; /* tmpfs blocks of its objects */
    uint64_t empty_apparent_bytes; /* st_size of its objects */
    unsigned empty_objects;
    uint64_t empty_table_slots;
};

struct machine_info {
    char cpu_model[128]; /* /proc/cpuinfo "model name" */
    char cpu_vendor[32];
    int cpu_family, cpu_model_id, cpu_stepping; /* -1: not given */
    unsigned cores_online;
    unsigned cores_allowed;
    char kernel[224];
    char hostname[64];
    char date[64];
    char compiler[96];
    double loadavg_start, loadavg_end;
};

/* tt-shm-stat run as a user would, on a writer holding the largest reader size. */
struct stat_result {
    int ran;
    uint64_t live;
    double seconds[2];    /* wall time: -b, --json -b */
    double max_rss_mb[2]; /* peak RSS (ru_maxrss of the child) */
    int exit_status[2];
    double spawner_anon_mb; /* the bench's RssAnon at the fork: may be in max_rss_mb */
    char error[160];
};

struct bench_results {
    struct machine_info machine;
    struct tsc_calibration tsc;
    unsigned ndesigns;
    struct design_result designs[BENCH_MAX_DESIGNS];
    unsigned nscaling;
    struct scaling_point scaling[2 * BENCH_MAX_THREADS];
    int scaling_ran, interference_ran, snapshot_ran, growth_ran, memory_ran;
    struct interference_point interference[2];
    unsigned nsnapshot;
    struct snapshot_point snapshot[BENCH_MAX_SIZES];
    struct growth_result growth;
    struct memory_result memory;
    struct stat_result stat;
    double wall_seconds;
    int failures; /* sections that could not run */
};

/* The experiments; each returns 0, or -1 after printing why (and records it). */
int run_compare(const struct bench_config *cfg, struct bench_results *res);
int run_scaling(const struct bench_config *cfg, struct bench_results *res);
int run_interference(const struct bench_config *cfg, struct bench_results *res);
int run_readside(const struct bench_config *cfg, struct bench_results *res);
int run_growth(const struct bench_config *cfg, struct bench_results *res);

/* Times tt-shm-stat -b and --json -b on a registry holding `live` buffers
 * (statrun.c). Returns 0, or -1 with out->error. */
int bench_time_stat(const struct bench_config *cfg, const char *registry, uint64_t live,
                    struct stat_result *out);

#endif
