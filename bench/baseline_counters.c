/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BASELINE "counters": the later upstream TT-Metal design, rebuilt as well as
 * that design allows.
 *
 * Modelled on TT-Metal's SharedMemoryStatsProvider: one shared-memory object
 * per device (upstream: /dev/shm/tt_device_<id>_memory) holding atomic byte
 * totals per memory type, a last-update timestamp, and an array of 64
 * per-process slots found by pid, each with its own per-type byte totals. An
 * alloc adds its size to the device total and to the process slot; a free
 * subtracts it with a compare-and-swap loop that clamps at zero (upstream's
 * underflow guard). There is no per-buffer record: it cannot list buffers,
 * find leaks or tell a stale writer from a live one; that is what it saves.
 *
 * Where upstream is slower for no reason of design we did the better thing:
 * the process slot is found by pid once per device and cached (upstream
 * scanned for it on every event), the per-process totals are atomics (upstream
 * used plain adds, which lose updates between threads), the per-chip copy of
 * the totals that upstream keeps for remote chips is left out (for a local
 * chip it repeats the device totals), and the timestamp is read from
 * CLOCK_MONOTONIC_COARSE, the clock ttshm stamps records with, instead of a
 * full-resolution clock per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "design.h"
#include "segments.h"

#define CTR_MAX_PROCESSES 64

struct ctr_process {
    _Atomic int32_t pid; /* 0: free */
    uint32_t reserved;
    _Atomic uint64_t allocated[TTSHM_MEM_TYPE_COUNT];
    _Atomic uint64_t last_update_timestamp;
    char process_name[64];
};

struct ctr_region {
    uint32_t version;
    _Atomic uint32_t num_active_processes;
    _Atomic uint32_t reference_count;
    int32_t device_id;
    _Atomic uint64_t last_update_timestamp;
    alignas(64) _Atomic uint64_t total_allocated[TTSHM_MEM_TYPE_COUNT];
    alignas(64) struct ctr_process processes[CTR_MAX_PROCESSES];
};

struct ctr_state {
    struct ctr_region *dev[TTSHM_MAX_DEVICES];
    struct ctr_process *mine[TTSHM_MAX_DEVICES]; /* cached slot of this process */
    char names[TTSHM_MAX_DEVICES][64];
    unsigned ndev;
};

static struct ctr_process *find_or_claim(struct ctr_region *r, int32_t pid)
{
    for (unsigned i = 0; i < CTR_MAX_PROCESSES; i++)
        if (atomic_load_explicit(&r->processes[i].pid, memory_order_acquire) == pid)
            return &r->processes[i];
    for (unsigned i = 0; i < CTR_MAX_PROCESSES; i++) {
        int32_t zero = 0;
        if (atomic_compare_exchange_strong(&r->processes[i].pid, &zero, pid)) {
            atomic_fetch_add(&r->num_active_processes, 1);
            return &r->processes[i];
        }
    }
    return NULL;
}

static int ctr_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                    size_t errlen)
{
    (void)max_live;
    struct ctr_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    /* The bench maps every device a stream may name; a runtime maps the
     * devices it opens. */
    s->ndev = TTSHM_MAX_DEVICES;
    int32_t pid = (int32_t)getpid();
    for (unsigned d = 0; d < s->ndev; d++) {
        snprintf(s->names[d], sizeof s->names[d], "/%s_ctr_dev%u", cfg->registry, d);
        bench_remember_object(s->names[d]);
        int fd = shm_open(s->names[d], O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, sizeof(struct ctr_region)) != 0) {
            snprintf(err, errlen, "shm_open %s: %s", s->names[d], strerror(errno));
            if (fd >= 0)
                close(fd);
            s->ndev = d;
            goto fail;
        }
        void *p = mmap(NULL, sizeof(struct ctr_region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            snprintf(err, errlen, "mmap: %s", strerror(errno));
            shm_unlink(s->names[d]);
            s->ndev = d;
            goto fail;
        }
        s->dev[d] = p;
        s->dev[d]->version = 1;
        s->dev[d]->device_id = (int32_t)d;
        atomic_fetch_add(&s->dev[d]->reference_count, 1);
        s->mine[d] = find_or_claim(s->dev[d], pid);
        if (s->mine[d] == NULL) {
            snprintf(err, errlen, "no free process slot");
            s->ndev = d + 1;
            goto fail;
        }
    }
    *state = s;
    return 0;
fail:
    for (unsigned d = 0; d < s->ndev; d++) {
        munmap(s->dev[d], sizeof(struct ctr_region));
        shm_unlink(s->names[d]);
    }
    free(s);
    return -1;
}

static void sub_clamped(_Atomic uint64_t *c, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(c, memory_order_relaxed), next;
    do {
        next = cur < v ? 0 : cur - v;
    } while (!atomic_compare_exchange_weak_explicit(c, &cur, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static void ctr_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct ctr_state *s = state;
    for (size_t i = 0; i < n; i++) {
        const struct bench_event *e = &ev[i];
        struct ctr_region *r = s->dev[e->device];
        struct ctr_process *p = s->mine[e->device];
        uint64_t now = bench_coarse_ns();
        if (e->op == EV_ALLOC) {
            atomic_fetch_add_explicit(&r->total_allocated[e->type], e->size, memory_order_relaxed);
            atomic_fetch_add_explicit(&p->allocated[e->type], e->size, memory_order_relaxed);
        } else {
            sub_clamped(&r->total_allocated[e->type], e->size);
            atomic_fetch_sub_explicit(&p->allocated[e->type], e->size, memory_order_relaxed);
        }
        atomic_store_explicit(&r->last_update_timestamp, now, memory_order_relaxed);
        atomic_store_explicit(&p->last_update_timestamp, now, memory_order_relaxed);
    }
}

static int ctr_check(void *state, struct design_check *out)
{
    struct ctr_state *s = state;
    out->live_count = BENCH_NA; /* counters of bytes only: no count, no records */
    out->live_bytes = 0;
    for (unsigned d = 0; d < s->ndev; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++)
            out->live_bytes += atomic_load(&s->dev[d]->total_allocated[t]);
    out->events = BENCH_NA;
    out->anomalies = 0;
    return 0;
}

static void ctr_close(void *state)
{
    struct ctr_state *s = state;
    for (unsigned d = 0; d < s->ndev; d++) {
        atomic_store(&s->mine[d]->pid, 0);
        atomic_fetch_sub(&s->dev[d]->num_active_processes, 1);
        atomic_fetch_sub(&s->dev[d]->reference_count, 1);
        munmap(s->dev[d], sizeof(struct ctr_region));
        shm_unlink(s->names[d]); /* upstream leaves them for a manual rm */
    }
    free(s);
}

const struct design_ops baseline_counters = {
    .name = "counters",
    .model = "upstream TT-Metal per-device shm counters + per-process slot by pid, no records",
    .open = ctr_open,
    .apply = ctr_apply,
    .sync = NULL,
    .check = ctr_check,
    .close = ctr_close,
};
