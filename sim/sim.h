/* SPDX-License-Identifier: Apache-2.0 */
/* tt-shm-sim: shared declarations of the simulated runtime. */
#ifndef TTSHM_SIM_H
#define TTSHM_SIM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ttshm/writer.h"

#define SIM_MAX_THREADS  256
#define SIM_PROGRAMS     24 /* distinct ops, each with its own kernel binary */
#define SIM_MAX_CBS      8  /* circular buffers per program */
#define SIM_DEFAULT_SEED 1

enum sim_profile {
    SIM_LLAMA = 0,    /* type mix of a real Llama run */
    SIM_UNIFORM = 1,  /* every buffer type equally likely, uniform sizes */
    SIM_TT_METAL = 2, /* TT-Metal's event patterns through the TT-Metal translation layer */
};

enum sim_crash {
    SIM_CRASH_NONE = 0,
    SIM_CRASH_KILL = 1,  /* SIGKILL: no handler, no core file */
    SIM_CRASH_ABORT = 2, /* abort(): SIGABRT, as an assertion failure would */
};

struct sim_options {
    unsigned devices;
    unsigned threads;
    uint64_t events; /* buffer allocations (DRAM, L1, ...), not counting CBs and kernels */
    enum sim_profile profile;
    bool capacity;
    double hold_s;
    uint64_t leak;
    enum sim_crash crash;
    uint64_t seed;
    const char *name; /* registry; NULL: $TT_SHM_NAME or the per-user default */
    bool quiet;
};

/* Parses argv; exits 0 after --help and 2 on a usage error. */
void sim_parse_options(int argc, char **argv, struct sim_options *o);

/* What the simulation did, per device x type, as the writer was asked to record it. */
struct sim_counts {
    uint64_t allocs, frees, alloc_bytes, freed_bytes, peak_bytes;
    uint64_t capacity_bytes;
    uint32_t capacity_banks;
};

/* Outcomes returned by the writer, by enum ttshm_result. */
struct sim_results {
    uint64_t n[TTSHM_OFF + 1];
};

struct sim_buffer {
    uint64_t address, size, tag;
    uint32_t type;
    uint32_t slot; /* address slot, returned to the lane's pool on free */
};

/* A lane is one thread's share of one device: its live buffers, address pool
 * and counters. Lanes never share buffers, so no lock is needed for them. */
struct sim_lane {
    unsigned device;
    unsigned share;  /* index among the threads sharing the device (0 when alone) */
    uint64_t events; /* allocations still to do */
    uint64_t rng;
    uint64_t next_tag;
    unsigned until_program; /* buffer allocations before the next program runs */
    struct sim_buffer *live[TTSHM_MEM_TYPE_COUNT];
    uint32_t nlive[TTSHM_MEM_TYPE_COUNT];
    uint32_t cap[TTSHM_MEM_TYPE_COUNT];   /* bound of the live set: steady state */
    uint32_t *pool[TTSHM_MEM_TYPE_COUNT]; /* free address slots */
    uint32_t npool[TTSHM_MEM_TYPE_COUNT];
    uint32_t next_slot[TTSHM_MEM_TYPE_COUNT]; /* slots ever handed out */
    bool kernel_loaded[SIM_PROGRAMS];
    struct sim_counts counts[TTSHM_MEM_TYPE_COUNT];
    struct sim_results results;
};

/* Per device: the circular buffers of the program that ran last. Several lanes
 * may run programs on one device, so CB state is shared and locked. */
struct sim_device {
    pthread_mutex_t lock;
    uint32_t cb_live;
    uint64_t cb_bytes;
    struct sim_counts cb; /* counts of type CB */
    struct sim_results results;
};

struct sim {
    struct sim_options opt;
    ttshm_writer *w;
    struct sim_device *dev;
    struct sim_lane *lanes;
    unsigned nlanes;
    double elapsed_s;
    /* Buffers deliberately left live at a clean exit (--leak). */
    struct sim_buffer *leaked;
    unsigned *leaked_device;
    uint64_t nleaked;
};

/* Set by SIGINT/SIGTERM: stop the events or the hold and exit cleanly. */
extern volatile sig_atomic_t sim_stop;

/* workload.c */
int sim_setup(struct sim *s);
void sim_run(struct sim *s); /* runs the events on opt.threads threads */
void sim_publish_capacity(struct sim *s);
/* Frees everything except opt.leak non-CB buffers (allocating more if fewer are live). */
void sim_teardown(struct sim *s);
void sim_free(struct sim *s);

/* main.c: returns after seconds, or at once when sim_stop is set. */
void sim_hold(double seconds);

/* ttmetal.cpp: the whole tt-metal profile (its own devices, events and
 * reports); returns the exit status. */
int sim_ttmetal_main(const struct sim_options *o, ttshm_writer *w);

/* report.c: one JSON line on out describing the current counts. */
void sim_report(const struct sim *s, const char *phase, FILE *out);
/* Sums of the lanes and devices, per device x type. */
void sim_totals(const struct sim *s, unsigned device, struct sim_counts out[TTSHM_MEM_TYPE_COUNT],
                struct sim_results *res);

#endif
