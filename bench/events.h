/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pre-generated event stream every design is fed. Generating it before
 * timing keeps the random-number and bookkeeping work out of the figures, and
 * makes every design see exactly the same operations in the same order.
 */
#ifndef TTSHM_BENCH_EVENTS_H
#define TTSHM_BENCH_EVENTS_H

#include <stddef.h>
#include <stdint.h>

enum bench_op { EV_ALLOC = 0, EV_FREE = 1 };

/* 24 bytes: small enough that the stream's memory traffic stays a minor part
 * of the "none" floor. Frees carry the size because the counters-only design
 * (like upstream TT-Metal) needs it; the other designs ignore it. */
struct bench_event {
    uint64_t address;
    uint64_t size;
    uint16_t device;
    uint8_t type; /* enum ttshm_mem_type */
    uint8_t op;   /* enum bench_op */
    uint32_t reserved;
};
_Static_assert(sizeof(struct bench_event) == 24, "event is 24 bytes");

struct stream_params {
    uint64_t seed;
    uint64_t live;      /* buffers live at steady state */
    uint64_t events;    /* timed events (rounded down to even) */
    unsigned dev_first; /* devices dev_first .. dev_first+dev_count-1 */
    unsigned dev_count;
    uint64_t address_base;   /* added to every address: disjoint streams per thread */
    unsigned reuse_permille; /* timed allocs that take the address just freed (0..1000) */
};

/* Three phases. prefill: `live` allocs (untimed) bring the table to steady
 * state; timed: alternating free of a random live buffer and alloc of a new
 * one, so the live count stays at `live`; drain: frees of everything still
 * live (untimed), leaving the design empty for the next repetition.
 * With reuse_permille, that share of the timed allocs takes the device, type
 * and address of the buffer freed just before it (a new size), as a device
 * allocator's free list hands a block straight back: the same key leaves and
 * re-enters the table within one event. */
struct event_stream {
    struct bench_event *prefill, *timed, *drain;
    size_t n_prefill, n_timed, n_drain;
    uint64_t live_bytes_after_prefill;
    uint64_t live_bytes_after_timed;
};

/* Returns 0, or -1 when out of memory. */
int stream_generate(struct event_stream *s, const struct stream_params *p);
void stream_free(struct event_stream *s);

/* splitmix64: fast, good enough for workload generation, reproducible by seed. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The mix of memory types, per mille. Modelled on the Llama run in PRODUCT.md
 * (59% DRAM, 41% L1 of 83,416 buffers, a handful of TRACE) plus a little
 * L1_SMALL and SYSTEM_MEMORY so every type path is exercised. CBs are left out:
 * they are freed per device, not per buffer, which the baselines model
 * differently; per-buffer alloc/free is the hot path to compare. */
extern const unsigned bench_type_mix[7];

#endif
