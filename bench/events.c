/* SPDX-License-Identifier: Apache-2.0 */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#include "ttshm/types.h"

const unsigned bench_type_mix[7] = {
    [TTSHM_DRAM] = 570, [TTSHM_L1] = 400, [TTSHM_SYSTEM_MEMORY] = 5, [TTSHM_L1_SMALL] = 20,
    [TTSHM_TRACE] = 5,  [TTSHM_CB] = 0,   [TTSHM_KERNEL] = 0,
};

/* Address alignment and natural size of each type's address space (slots per
 * device). Aligned, clustered addresses are what a device allocator hands
 * out, and they are a harder input for a hash than random 64-bit keys. */
static const uint64_t type_stride[7] = {4096, 32, 4096, 32, 4096, 32, 32};
static const uint64_t type_slots[7] = {1u << 21, 45056, 1u << 16, 2048, 1u << 12, 45056, 4096};

/* Open-addressing set of live keys, used only while generating, so a new
 * alloc never reuses an address that is still live (a real allocator never
 * does). Linear probing with backward-shift deletion: no tombstones. */
struct keyset {
    uint64_t *keys; /* 0: empty; keys are made non-zero */
    uint64_t mask;
};

static uint64_t key_of(unsigned dev, unsigned type, uint64_t addr)
{
    /* Addresses stay below 2^49 (a thread's base is i << 40 with i < 256,
     * offsets are far smaller), so device and type above them keep keys
     * distinct; bit 49 makes every key non-zero (0 marks an empty slot). */
    return (addr ^ ((uint64_t)dev << 56) ^ ((uint64_t)type << 50)) | (1ull << 49);
}

static uint64_t key_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static int keyset_insert(struct keyset *ks, uint64_t k) /* 1 inserted, 0 present */
{
    for (uint64_t i = key_hash(k) & ks->mask;; i = (i + 1) & ks->mask) {
        if (ks->keys[i] == k)
            return 0;
        if (ks->keys[i] == 0) {
            ks->keys[i] = k;
            return 1;
        }
    }
}

static void keyset_remove(struct keyset *ks, uint64_t k)
{
    uint64_t i = key_hash(k) & ks->mask;
    while (ks->keys[i] != k) {
        if (ks->keys[i] == 0)
            return;
        i = (i + 1) & ks->mask;
    }
    /* Backward shift: move later members of the cluster into the hole when
     * their home slot is not between the hole and their position. */
    for (uint64_t j = i;;) {
        ks->keys[i] = 0;
        for (;;) {
            j = (j + 1) & ks->mask;
            if (ks->keys[j] == 0)
                return;
            uint64_t home = key_hash(ks->keys[j]) & ks->mask;
            if (((j - home) & ks->mask) >= ((j - i) & ks->mask))
                break;
        }
        ks->keys[i] = ks->keys[j];
        i = j;
    }
}

static unsigned pick_type(uint64_t *rng)
{
    unsigned r = (unsigned)(bench_rand(rng) % 1000);
    for (unsigned t = 0; t < 7; t++) {
        if (r < bench_type_mix[t])
            return t;
        r -= bench_type_mix[t];
    }
    return TTSHM_DRAM;
}

static uint64_t pick_size(uint64_t *rng, unsigned type)
{
    /* Log-uniform over a type's usual range: many small buffers, a few big. */
    uint64_t r = bench_rand(rng);
    switch (type) {
    case TTSHM_DRAM:
        return (2048ull << (r % 14)) + ((r >> 8) % 64) * 32; /* 2 KiB .. 16 MiB */
    case TTSHM_L1:
    case TTSHM_L1_SMALL:
        return (32ull << (r % 13)) + ((r >> 8) % 8) * 32; /* 32 B .. 128 KiB */
    default:
        return (4096ull << (r % 10)); /* 4 KiB .. 2 MiB */
    }
}

struct gen {
    const struct stream_params *p;
    uint64_t rng;
    struct keyset ks;
    struct bench_event *live; /* the live buffers, unordered */
    size_t nlive;
    uint64_t live_bytes;
    uint64_t slots_min; /* address slots per (device, type) at least */
};

static struct bench_event new_alloc(struct gen *g)
{
    struct bench_event e;
    memset(&e, 0, sizeof e);
    e.op = EV_ALLOC;
    e.type = (uint8_t)pick_type(&g->rng);
    e.device = (uint16_t)(g->p->dev_first + bench_rand(&g->rng) % g->p->dev_count);
    e.size = pick_size(&g->rng, e.type);
    uint64_t slots = type_slots[e.type] > g->slots_min ? type_slots[e.type] : g->slots_min;
    for (;;) {
        e.address = g->p->address_base + (bench_rand(&g->rng) % slots) * type_stride[e.type];
        if (keyset_insert(&g->ks, key_of(e.device, e.type, e.address)))
            break;
    }
    g->live[g->nlive++] = e;
    g->live_bytes += e.size;
    return e;
}

/* An alloc at the key of the buffer just freed, with a size of its type. */
static struct bench_event reuse_alloc(struct gen *g, const struct bench_event *freed)
{
    struct bench_event e = *freed;
    e.op = EV_ALLOC;
    e.size = pick_size(&g->rng, e.type);
    keyset_insert(&g->ks, key_of(e.device, e.type, e.address)); /* free: it just left */
    g->live[g->nlive++] = e;
    g->live_bytes += e.size;
    return e;
}

static struct bench_event free_random(struct gen *g)
{
    size_t j = (size_t)(bench_rand(&g->rng) % g->nlive);
    struct bench_event e = g->live[j];
    g->live[j] = g->live[--g->nlive];
    keyset_remove(&g->ks, key_of(e.device, e.type, e.address));
    g->live_bytes -= e.size;
    e.op = EV_FREE;
    return e;
}

void stream_free(struct event_stream *s)
{
    free(s->prefill);
    free(s->timed);
    free(s->drain);
    memset(s, 0, sizeof *s);
}

int stream_generate(struct event_stream *s, const struct stream_params *p)
{
    memset(s, 0, sizeof *s);
    struct gen g;
    memset(&g, 0, sizeof g);
    g.p = p;
    g.rng = p->seed ? p->seed : 1;
    uint64_t live = p->live ? p->live : 1;
    uint64_t cap = 64;
    while (cap < 4 * live)
        cap <<= 1;
    g.ks.mask = cap - 1;
    g.ks.keys = calloc(cap, sizeof *g.ks.keys);
    g.live = malloc((live + 1) * sizeof *g.live);
    /* Enough address slots per (device, type) that a random pick is free with
     * high probability even when every buffer lands on one device and type. */
    g.slots_min = 4 * live;
    s->n_prefill = live;
    s->n_timed = (size_t)(p->events & ~1ull);
    s->n_drain = live;
    s->prefill = malloc(s->n_prefill * sizeof *s->prefill);
    s->timed = malloc((s->n_timed ? s->n_timed : 1) * sizeof *s->timed);
    s->drain = malloc(s->n_drain * sizeof *s->drain);
    if (!g.ks.keys || !g.live || !s->prefill || !s->timed || !s->drain) {
        free(g.ks.keys);
        free(g.live);
        stream_free(s);
        return -1;
    }
    for (size_t i = 0; i < s->n_prefill; i++)
        s->prefill[i] = new_alloc(&g);
    s->live_bytes_after_prefill = g.live_bytes;
    for (size_t i = 0; i < s->n_timed; i += 2) {
        s->timed[i] = free_random(&g);
        /* No draw without reuse: the stream stays the one earlier runs saw. */
        int reuse = p->reuse_permille && bench_rand(&g.rng) % 1000 < p->reuse_permille;
        s->timed[i + 1] = reuse ? reuse_alloc(&g, &s->timed[i]) : new_alloc(&g);
    }
    s->live_bytes_after_timed = g.live_bytes;
    for (size_t i = 0; i < s->n_drain; i++)
        s->drain[i] = free_random(&g);
    free(g.ks.keys);
    free(g.live);
    return 0;
}
