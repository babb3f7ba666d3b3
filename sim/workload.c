/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated runtime's workload. Each device gets an equal share of the
 * buffer allocations; each thread works on its own devices (device d belongs to
 * thread d % T) unless there are more threads than devices, in which case the
 * threads of one device split its share and use disjoint address windows.
 *
 * Steady state: every memory type has a bounded live set per lane; once it is
 * full, each new buffer first frees a random live one. Every few buffers a
 * "program" runs on the device: the CBs of the previous program are freed at
 * once (ttshm_record_free_cbs, as TT-Metal's track_deallocate_cb does), the
 * new program's CBs are allocated, and its kernel binary is loaded the first
 * time that op runs on the device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

volatile sig_atomic_t sim_stop;

/* ---- random numbers: splitmix64 seeding, xorshift64* stream ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return n ? rng_next(s) % n : 0;
}

/* Log-uniform in [lo, hi], rounded up to a multiple of align: most buffers are
 * small, a few are huge, as in a real model. */
static uint64_t rng_logsize(uint64_t *s, uint64_t lo, uint64_t hi, uint64_t align)
{
    double u = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    double v = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
    uint64_t n = (uint64_t)v;
    n = (n + align - 1) / align * align;
    return n < align ? align : n;
}

/* ---- where buffers go: address windows and live-set bounds per type ---- */

struct type_layout {
    uint64_t base, stride; /* address = base + slot * stride (per-bank offsets) */
    uint32_t cap;          /* live buffers per device in steady state */
};

/* Wormhole-like: DRAM addresses are offsets in a 1 GiB bank, L1 addresses
 * offsets in a core's L1; interleaved buffers occupy size / banks per bank. */
static const struct type_layout layouts[2][TTSHM_MEM_TYPE_COUNT] =
    {
        [SIM_LLAMA] =
            {
                [TTSHM_DRAM] = {0x00000000ull, 0x400000ull, 160},
                [TTSHM_L1] = {0x0001d000ull, 0x2000ull, 96},
                [TTSHM_SYSTEM_MEMORY] = {0x10000000ull, 0x100000ull, 32},
                [TTSHM_L1_SMALL] = {0x00016000ull, 0x400ull, 32},
                [TTSHM_TRACE] = {0x38000000ull, 0x800000ull, 2},
                [TTSHM_CB] = {0x000e0000ull, 0, 0},
                [TTSHM_KERNEL] = {0x00010000ull, 0x10000ull, SIM_PROGRAMS},
            },
        [SIM_UNIFORM] =
            {
                [TTSHM_DRAM] = {0x00000000ull, 0x100000ull, 64},
                [TTSHM_L1] = {0x0001d000ull, 0x2000ull, 64},
                [TTSHM_SYSTEM_MEMORY] = {0x10000000ull, 0x100000ull, 64},
                [TTSHM_L1_SMALL] = {0x00016000ull, 0x400ull, 64},
                [TTSHM_TRACE] = {0x38000000ull, 0x100000ull, 64},
                [TTSHM_CB] = {0x000e0000ull, 0, 0},
                [TTSHM_KERNEL] = {0x00010000ull, 0x10000ull, SIM_PROGRAMS},
            },
};

/* Threads sharing a device use address windows this far apart, so their
 * buffers never collide (a collision would be a duplicate alloc). */
#define SHARE_WINDOW (1ull << 44)

/* Buffers of the llama profile, as counted in a real Llama run on TT-Metal. */
#define LLAMA_TOTAL 83416u
#define LLAMA_DRAM  49158u
#define LLAMA_L1    34250u

static uint32_t pick_type(struct sim_lane *l, enum sim_profile p)
{
    if (p == SIM_UNIFORM) {
        static const uint32_t types[] = {TTSHM_DRAM, TTSHM_L1, TTSHM_SYSTEM_MEMORY, TTSHM_L1_SMALL,
                                         TTSHM_TRACE};
        return types[rng_below(&l->rng, sizeof types / sizeof types[0])];
    }
    uint64_t r = rng_below(&l->rng, LLAMA_TOTAL);
    if (r < LLAMA_DRAM)
        return TTSHM_DRAM;
    if (r < LLAMA_DRAM + LLAMA_L1)
        return TTSHM_L1;
    return TTSHM_TRACE;
}

static uint64_t pick_size(struct sim_lane *l, enum sim_profile p, uint32_t type)
{
    uint64_t *r = &l->rng;
    if (p == SIM_UNIFORM)
        return (1024 + rng_below(r, 1023 * 1024)) / 32 * 32 + 32;
    switch (type) {
    case TTSHM_DRAM: /* activations and KV-cache pages; every third one a weight */
        if (rng_below(r, 10) < 7)
            return rng_logsize(r, 64 << 10, 4 << 20, 2048);
        return rng_logsize(r, 4 << 20, 48 << 20, 2048);
    case TTSHM_L1:
        return rng_logsize(r, 2 << 10, 512 << 10, 2048);
    case TTSHM_TRACE:
        return rng_logsize(r, 8 << 20, 64 << 20, 4096);
    case TTSHM_KERNEL:
        return rng_logsize(r, 4 << 10, 48 << 10, 16);
    case TTSHM_CB:
        return rng_logsize(r, 2 << 10, 128 << 10, 2048);
    default:
        return rng_logsize(r, 1 << 10, 1 << 20, 32);
    }
}

/* ---- recording, with the sim's own bookkeeping of what it asked for ---- */

static void note_alloc(struct sim_counts *c, uint64_t *live_bytes, uint64_t size)
{
    c->allocs++;
    c->alloc_bytes += size;
    uint64_t live = c->alloc_bytes - c->freed_bytes;
    if (live > c->peak_bytes)
        c->peak_bytes = live;
    if (live_bytes != NULL)
        *live_bytes = live;
}

static void note_free(struct sim_counts *c, uint64_t size)
{
    c->frees++;
    c->freed_bytes += size;
}

static uint64_t lane_address(const struct sim *s, const struct sim_lane *l, uint32_t type,
                             uint32_t slot)
{
    const struct type_layout *t = &layouts[s->opt.profile][type];
    return t->base + (uint64_t)slot * t->stride + (uint64_t)l->share * SHARE_WINDOW;
}

/* Takes a random free address slot, or a new one past the pool. */
static uint32_t take_slot(struct sim_lane *l, uint32_t type)
{
    if (l->npool[type] == 0)
        return l->next_slot[type]++;
    uint32_t i = (uint32_t)rng_below(&l->rng, l->npool[type]);
    uint32_t slot = l->pool[type][i];
    l->pool[type][i] = l->pool[type][--l->npool[type]];
    return slot;
}

static int lane_alloc(struct sim *s, struct sim_lane *l, uint32_t type, uint64_t size)
{
    uint32_t n = l->nlive[type];
    if (n % 64 == 0) {
        /* Grows past cap only at teardown (--leak with too few live). */
        struct sim_buffer *nb = realloc(l->live[type], (n + 64) * sizeof *nb);
        if (nb == NULL)
            return -1;
        l->live[type] = nb;
    }
    struct sim_buffer *b = &l->live[type][n];
    b->type = type;
    b->slot = take_slot(l, type);
    b->address = lane_address(s, l, type, b->slot);
    b->size = size;
    b->tag = ++l->next_tag;
    enum ttshm_result r =
        ttshm_record_alloc(s->w, l->device, (enum ttshm_mem_type)type, b->address, size, b->tag);
    l->results.n[r]++;
    note_alloc(&l->counts[type], NULL, size);
    l->nlive[type] = n + 1;
    return 0;
}

static void lane_free_at(struct sim *s, struct sim_lane *l, uint32_t type, uint32_t i)
{
    struct sim_buffer b = l->live[type][i];
    l->live[type][i] = l->live[type][--l->nlive[type]];
    enum ttshm_result r = ttshm_record_free(s->w, l->device, (enum ttshm_mem_type)type, b.address);
    l->results.n[r]++;
    note_free(&l->counts[type], b.size);
    if (b.slot < l->cap[type])
        l->pool[type][l->npool[type]++] = b.slot;
}

/* A program: its kernel binary (loaded once per op and device), then its CBs,
 * replacing the CBs of the program that ran before on the device. */
static void run_program(struct sim *s, struct sim_lane *l)
{
    uint32_t op = (uint32_t)rng_below(&l->rng, SIM_PROGRAMS);
    if (!l->kernel_loaded[op]) {
        struct sim_buffer *b;
        uint32_t n = l->nlive[TTSHM_KERNEL];
        if (n % 64 == 0) {
            b = realloc(l->live[TTSHM_KERNEL], (n + 64) * sizeof *b);
            if (b == NULL)
                return;
            l->live[TTSHM_KERNEL] = b;
        }
        b = &l->live[TTSHM_KERNEL][n];
        b->type = TTSHM_KERNEL;
        b->slot = UINT32_MAX; /* kernels have one fixed address per op */
        b->address = lane_address(s, l, TTSHM_KERNEL, op);
        b->size = pick_size(l, s->opt.profile, TTSHM_KERNEL);
        b->tag = ++l->next_tag;
        l->results
            .n[ttshm_record_alloc(s->w, l->device, TTSHM_KERNEL, b->address, b->size, b->tag)]++;
        note_alloc(&l->counts[TTSHM_KERNEL], NULL, b->size);
        l->nlive[TTSHM_KERNEL] = n + 1;
        l->kernel_loaded[op] = true;
    }

    struct sim_device *d = &s->dev[l->device];
    uint32_t ncb = 2 + (uint32_t)rng_below(&l->rng, SIM_MAX_CBS - 1);
    uint64_t sizes[SIM_MAX_CBS];
    for (uint32_t i = 0; i < ncb; i++)
        sizes[i] = pick_size(l, s->opt.profile, TTSHM_CB);
    pthread_mutex_lock(&d->lock);
    if (d->cb_live > 0) {
        d->results.n[ttshm_record_free_cbs(s->w, l->device)]++;
        d->cb.frees += d->cb_live;
        d->cb.freed_bytes += d->cb_bytes;
        d->cb_live = 0;
        d->cb_bytes = 0;
    }
    /* CBs are packed from the bottom of the CB region, so programs reuse the
     * same addresses: several may be live at one address, which is legal. */
    uint64_t addr = layouts[s->opt.profile][TTSHM_CB].base;
    for (uint32_t i = 0; i < ncb; i++) {
        d->results.n[ttshm_record_alloc(s->w, l->device, TTSHM_CB, addr, sizes[i], op + 1)]++;
        note_alloc(&d->cb, NULL, sizes[i]);
        d->cb_live++;
        d->cb_bytes += sizes[i];
        addr += sizes[i];
    }
    pthread_mutex_unlock(&d->lock);
}

static void lane_step(struct sim *s, struct sim_lane *l)
{
    if (l->until_program-- == 0) {
        run_program(s, l);
        l->until_program = 8 + (unsigned)rng_below(&l->rng, 24);
    }
    uint32_t type = pick_type(l, s->opt.profile);
    if (l->nlive[type] >= l->cap[type])
        lane_free_at(s, l, type, (uint32_t)rng_below(&l->rng, l->nlive[type]));
    lane_alloc(s, l, type, pick_size(l, s->opt.profile, type));
    l->events--;
}

/* ---- threads ---- */

struct worker {
    struct sim *s;
    unsigned index;
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct sim *s = wk->s;
    unsigned T = s->opt.threads;
    /* Round-robin over this thread's lanes, one event each, like a runtime
     * thread driving several devices. */
    for (bool busy = true; busy && !sim_stop;) {
        busy = false;
        for (unsigned i = wk->index; i < s->nlanes; i += T) {
            struct sim_lane *l = &s->lanes[i];
            if (l->events > 0) {
                lane_step(s, l);
                busy = true;
            }
        }
    }
    return NULL;
}

int sim_setup(struct sim *s)
{
    const struct sim_options *o = &s->opt;
    /* One lane per device, or one per thread when threads outnumber devices. */
    s->nlanes = o->threads > o->devices ? o->threads : o->devices;
    s->dev = calloc(o->devices, sizeof *s->dev);
    s->lanes = calloc(s->nlanes, sizeof *s->lanes);
    if (s->dev == NULL || s->lanes == NULL)
        return -1;
    for (unsigned d = 0; d < o->devices; d++)
        pthread_mutex_init(&s->dev[d].lock, NULL);

    unsigned sharers[SIM_MAX_THREADS] = {0};
    for (unsigned i = 0; i < s->nlanes; i++)
        sharers[i % o->devices]++;
    for (unsigned i = 0; i < s->nlanes; i++) {
        struct sim_lane *l = &s->lanes[i];
        l->device = i % o->devices;
        l->share = i / o->devices;
        unsigned k = sharers[l->device];
        /* The device's share of the events, split among its lanes; the
         * remainders go to the lowest devices and lanes. */
        uint64_t dev_events = o->events / o->devices + (l->device < o->events % o->devices);
        l->events = dev_events / k + (l->share < dev_events % k);
        l->rng = splitmix64(o->seed ^ splitmix64(((uint64_t)l->device << 16) | l->share)) | 1;
        l->until_program = (unsigned)rng_below(&l->rng, 8);
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            uint32_t cap = layouts[o->profile][t].cap;
            l->cap[t] = cap / k > 0 ? cap / k : 1;
            l->pool[t] = malloc((l->cap[t] + 1) * sizeof *l->pool[t]);
            if (l->pool[t] == NULL)
                return -1;
            for (uint32_t j = 0; j < l->cap[t]; j++)
                l->pool[t][j] = j;
            l->npool[t] = l->cap[t];
            l->next_slot[t] = l->cap[t];
        }
    }
    return 0;
}

void sim_publish_capacity(struct sim *s)
{
    /* A Wormhole n150 chip: 12 DRAM banks of 1 GiB; 64 Tensix cores with about
     * 1.3 MiB of L1 each left to the allocator after firmware and kernel
     * config space. */
    const uint64_t dram_bank = 1ull << 30, l1_bank = 1332ull << 10;
    const uint32_t dram_banks = 12, l1_banks = 64;
    for (unsigned d = 0; d < s->opt.devices; d++) {
        ttshm_publish_capacity(s->w, d, TTSHM_DRAM, dram_bank * dram_banks, dram_banks);
        ttshm_publish_capacity(s->w, d, TTSHM_L1, l1_bank * l1_banks, l1_banks);
        struct sim_counts *c = &s->lanes[d].counts[TTSHM_DRAM];
        c->capacity_bytes = dram_bank * dram_banks;
        c->capacity_banks = dram_banks;
        c = &s->lanes[d].counts[TTSHM_L1];
        c->capacity_bytes = l1_bank * l1_banks;
        c->capacity_banks = l1_banks;
    }
}

void sim_run(struct sim *s)
{
    struct worker wk[SIM_MAX_THREADS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned started = 0;
    for (unsigned i = 0; i < s->opt.threads; i++) {
        wk[i].s = s;
        wk[i].index = i;
        if (pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]) != 0)
            break;
        started++;
    }
    if (started < s->opt.threads) {
        /* Could not start every thread: the main thread takes over the rest. */
        for (unsigned i = started; i < s->opt.threads; i++) {
            wk[i].s = s;
            wk[i].index = i;
            worker_main(&wk[i]);
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(wk[i].thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->elapsed_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Remembers a buffer that is deliberately left live. */
static void keep_leak(struct sim *s, const struct sim_lane *l, const struct sim_buffer *b)
{
    s->leaked[s->nleaked] = *b;
    s->leaked_device[s->nleaked] = l->device;
    s->nleaked++;
}

void sim_teardown(struct sim *s)
{
    uint64_t want = s->opt.leak;
    s->leaked = calloc(want ? want : 1, sizeof *s->leaked);
    s->leaked_device = calloc(want ? want : 1, sizeof *s->leaked_device);
    if (s->leaked == NULL || s->leaked_device == NULL)
        want = 0;

    uint64_t live = 0;
    for (unsigned i = 0; i < s->nlanes; i++)
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            live += s->lanes[i].nlive[t];

    /* Too few live buffers to leak N: allocate the missing ones as DRAM,
     * spread over the lanes. */
    for (unsigned i = 0; live < want; i = (i + 1) % s->nlanes, live++) {
        struct sim_lane *l = &s->lanes[i];
        lane_alloc(s, l, TTSHM_DRAM, pick_size(l, s->opt.profile, TTSHM_DRAM));
    }

    /* Keep each live buffer with probability want/live (selection sampling:
     * exactly `want` are kept, spread over devices and types). */
    uint64_t seed = splitmix64(s->opt.seed ^ 0x6c65616bull) | 1;
    for (unsigned i = 0; i < s->nlanes; i++) {
        struct sim_lane *l = &s->lanes[i];
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            for (uint32_t j = l->nlive[t]; j-- > 0;) {
                if (rng_below(&seed, live) < want) {
                    keep_leak(s, l, &l->live[t][j]);
                    want--;
                } else {
                    lane_free_at(s, l, t, j);
                }
                live--;
            }
        }
    }
    /* CBs are freed per device, as the runtime does when it closes a device. */
    for (unsigned d = 0; d < s->opt.devices; d++) {
        struct sim_device *dv = &s->dev[d];
        if (dv->cb_live > 0) {
            dv->results.n[ttshm_record_free_cbs(s->w, d)]++;
            dv->cb.frees += dv->cb_live;
            dv->cb.freed_bytes += dv->cb_bytes;
            dv->cb_live = 0;
            dv->cb_bytes = 0;
        }
    }
}

void sim_free(struct sim *s)
{
    for (unsigned i = 0; s->lanes != NULL && i < s->nlanes; i++) {
        for (uint32_t t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            free(s->lanes[i].live[t]);
            free(s->lanes[i].pool[t]);
        }
    }
    for (unsigned d = 0; s->dev != NULL && d < s->opt.devices; d++)
        pthread_mutex_destroy(&s->dev[d].lock);
    free(s->lanes);
    free(s->dev);
    free(s->leaked);
    free(s->leaked_device);
}
