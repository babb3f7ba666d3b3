/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One tracking design as the comparison drives it. Each design applies a
 * batch of events in its own loop with direct calls, so the only indirect
 * call is one per batch, not one per event.
 */
#ifndef TTSHM_BENCH_DESIGN_H
#define TTSHM_BENCH_DESIGN_H

#include <stddef.h>

#include "bench.h"
#include "events.h"
#include "layout.h"
#include "ttshm/writer.h"

struct design_ops {
    const char *name;
    const char *model; /* one line for the report: what it is */
    /* Builds the design's state for a stream of at most max_live live buffers.
     * Returns 0, or -1 with a reason in err. */
    int (*open)(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                size_t errlen);
    void (*apply)(void *state, const struct bench_event *ev, size_t n);
    /* Waits until everything applied so far has taken effect (the socket
     * server has applied it). NULL when apply is synchronous. */
    int (*sync)(void *state);
    /* Reads the design's own view of what is live, for the checks. */
    int (*check)(void *state, struct design_check *out);
    void (*close)(void *state);
    /* CPU time (ns) spent so far by processes the design runs beside this one
     * (the socket server), so the process-CPU figure holds the whole cost.
     * NULL when the design has none. */
    uint64_t (*helper_cpu_ns)(void *state);
    /* Shared-memory table objects the design created so far, and their bytes.
     * Returns 0, or -1 when it cannot tell. NULL for designs without any. */
    int (*tables)(void *state, uint64_t *count, uint64_t *bytes);
};

extern const struct design_ops design_none;
extern const struct design_ops design_floor;
extern const struct design_ops design_ttshm;
extern const struct design_ops baseline_socket;
extern const struct design_ops baseline_counters;
extern const struct design_ops baseline_cds_lfht;
extern const struct design_ops baseline_mutex;

/* Thread id of the caller, cached per thread (one syscall per thread). */
unsigned bench_gettid(void);

/* CLOCK_MONOTONIC_COARSE in ns: the timestamp the baselines that store one use,
 * the same clock ttshm stamps its records with (reader.h). */
uint64_t bench_coarse_ns(void);

/* Hash of a buffer key shared by the in-process baselines: ttshm's own
 * (core/layout.c, compiled into the bench), so no table has a better hash. */
#define bench_key_hash(device, type, address) ttshm_key_hash(device, type, address, 0)

/* Opens a ttshm writer on registry reg (initial_slots 0: the default size),
 * as a runtime would; says why on stderr and returns NULL if it cannot. */
ttshm_writer *bench_ttshm_open(const char *reg, uint64_t initial_slots);

/* The event stream of the single-writer sections (compare, readers); a share
 * reuse_permille of its timed allocs reuses the address just freed. */
int bench_main_stream(const struct bench_config *cfg, unsigned reuse_permille,
                      struct event_stream *st);

/* Records events through a ttshm writer; returns how many were not RECORDED. */
uint64_t bench_ttshm_apply(ttshm_writer *w, const struct bench_event *ev, size_t n);

/* Sums every device x type counter of a ttshm writer's segment through the
 * reader library (what tt-shm-stat would show). Returns 0 or -1. */
int bench_ttshm_totals(ttshm_writer *w, struct design_check *out);

#endif
