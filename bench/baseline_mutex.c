/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BASELINE "mutex": the naive shared-memory registry, built as well as that
 * design allows.
 *
 * One POSIX shared-memory object holds a process-shared pthread mutex, the
 * same per-device x type counters ttshm keeps, and an open-addressing table of
 * 64-byte records with the same fields ttshm stores (address, size, tag,
 * timestamp, device/type/tid, generation). Every alloc and free takes the one
 * mutex. Because every access is under the lock, deletion can shift later
 * entries back (no tombstones, no probe-chain decay) and nothing needs
 * versioning. What the design cannot do is what ttshm exists for: a reader
 * must take the writer's lock (a stuck or dead reader stalls the runtime), and
 * all threads serialise on one cache line.
 *
 * The table is sized up front for the stream (load <= 1/2) so it never grows
 * during a run: its best case.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "design.h"
#include "segments.h"

struct mx_slot {
    uint64_t address; /* valid when meta != 0 */
    uint64_t size;
    uint64_t tag;
    uint64_t timestamp_ns;
    uint64_t meta; /* 1 | device:16 << 48 | type:8 << 40 | tid:32 << 8 (non-zero when used) */
    uint64_t generation;
    uint64_t reserved[2];
};
_Static_assert(sizeof(struct mx_slot) == 64, "record is one cache line, as ttshm's");

struct mx_counters {
    uint64_t allocs, frees, alloc_bytes, freed_bytes, peak_bytes, unknown_frees, duplicate_allocs,
        dropped;
};

struct mx_header {
    pthread_mutex_t lock;
    uint64_t nslots, live;
    uint64_t generation;
    alignas(64) struct mx_counters counters[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    alignas(64) struct mx_slot slots[];
};

struct mx_state {
    struct mx_header *h;
    size_t bytes;
    char name[64];
};

#define MX_META(dev, type) (1ull | ((uint64_t)(dev) << 48) | ((uint64_t)(type) << 40))
#define MX_KEYMASK         0xffffff0000000001ull /* device and type bits, and "used" */

static int mx_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                   size_t errlen)
{
    struct mx_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    uint64_t n = 1024;
    while (n < 2 * max_live)
        n <<= 1;
    s->bytes = sizeof(struct mx_header) + n * sizeof(struct mx_slot);
    snprintf(s->name, sizeof s->name, "/%s_mutex", cfg->registry);
    bench_remember_object(s->name);
    int fd = shm_open(s->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)s->bytes) != 0) {
        snprintf(err, errlen, "shm_open %s: %s", s->name, strerror(errno));
        if (fd >= 0) {
            close(fd);
            shm_unlink(s->name);
        }
        free(s);
        return -1;
    }
    void *p = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        shm_unlink(s->name);
        free(s);
        return -1;
    }
    s->h = p;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->h->lock, &a);
    pthread_mutexattr_destroy(&a);
    s->h->nslots = n;
    s->h->generation = 1;
    *state = s;
    return 0;
}

static uint64_t mx_find(const struct mx_header *h, uint64_t key, uint64_t addr, uint64_t *where)
{
    uint64_t mask = h->nslots - 1;
    uint64_t i = bench_key_hash((unsigned)(key >> 48), (unsigned)((key >> 40) & 0xff), addr) & mask;
    for (;; i = (i + 1) & mask) {
        const struct mx_slot *x = &h->slots[i];
        if (x->meta == 0) {
            *where = i;
            return 0;
        }
        if (x->address == addr && (x->meta & MX_KEYMASK) == key) {
            *where = i;
            return 1;
        }
    }
}

static void mx_alloc(struct mx_header *h, const struct bench_event *e, uint64_t now, unsigned tid)
{
    uint64_t key = MX_META(e->device, e->type);
    uint64_t i;
    struct mx_counters *c = &h->counters[e->device][e->type];
    int found = (int)mx_find(h, key, e->address, &i);
    if (found) {
        c->duplicate_allocs++;
        c->alloc_bytes -= h->slots[i].size; /* replaced: count it once */
        c->allocs--;
    } else if (h->live + 1 > h->nslots / 2) {
        c->dropped++;
        return;
    } else {
        h->live++;
    }
    struct mx_slot *x = &h->slots[i];
    x->address = e->address;
    x->size = e->size;
    x->tag = 0;
    x->timestamp_ns = now;
    x->meta = key | ((uint64_t)tid << 8);
    x->generation = h->generation;
    c->allocs++;
    c->alloc_bytes += e->size;
    uint64_t live = c->alloc_bytes - c->freed_bytes;
    if (live > c->peak_bytes)
        c->peak_bytes = live;
}

static void mx_free(struct mx_header *h, const struct bench_event *e)
{
    uint64_t key = MX_META(e->device, e->type);
    uint64_t i;
    struct mx_counters *c = &h->counters[e->device][e->type];
    if (!mx_find(h, key, e->address, &i)) {
        c->unknown_frees++;
        return;
    }
    c->frees++;
    c->freed_bytes += h->slots[i].size;
    h->live--;
    /* Backward-shift deletion: possible only because the lock excludes readers. */
    uint64_t mask = h->nslots - 1;
    for (uint64_t j = i;;) {
        h->slots[i].meta = 0;
        for (;;) {
            j = (j + 1) & mask;
            const struct mx_slot *y = &h->slots[j];
            if (y->meta == 0)
                return;
            uint64_t home = bench_key_hash((unsigned)(y->meta >> 48),
                                           (unsigned)((y->meta >> 40) & 0xff), y->address) &
                            mask;
            if (((j - home) & mask) >= ((j - i) & mask))
                break;
        }
        h->slots[i] = h->slots[j];
        i = j;
    }
}

static void mx_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct mx_header *h = ((struct mx_state *)state)->h;
    unsigned tid = bench_gettid();
    for (size_t i = 0; i < n; i++) {
        const struct bench_event *e = &ev[i];
        if (e->op == EV_ALLOC) {
            uint64_t now = bench_coarse_ns(); /* outside the lock: shorter hold */
            pthread_mutex_lock(&h->lock);
            mx_alloc(h, e, now, tid);
            pthread_mutex_unlock(&h->lock);
        } else {
            pthread_mutex_lock(&h->lock);
            mx_free(h, e);
            pthread_mutex_unlock(&h->lock);
        }
    }
}

static int mx_check(void *state, struct design_check *out)
{
    struct mx_header *h = ((struct mx_state *)state)->h;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&h->lock);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            const struct mx_counters *c = &h->counters[d][t];
            out->live_count += c->allocs - c->frees;
            out->live_bytes += c->alloc_bytes - c->freed_bytes;
            out->events += c->allocs + c->frees + c->duplicate_allocs + c->unknown_frees;
            out->anomalies += c->unknown_frees + c->duplicate_allocs + c->dropped;
        }
    /* Cross-check the counters against the table itself. */
    uint64_t used = 0;
    for (uint64_t i = 0; i < h->nslots; i++)
        used += h->slots[i].meta != 0;
    if (used != h->live || used != out->live_count)
        out->anomalies++;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static void mx_close(void *state)
{
    struct mx_state *s = state;
    pthread_mutex_destroy(&s->h->lock);
    munmap(s->h, s->bytes);
    shm_unlink(s->name);
    free(s);
}

const struct design_ops baseline_mutex = {
    .name = "mutex",
    .model = "naive shm open-addressing table + counters behind one process-shared mutex",
    .open = mx_open,
    .apply = mx_apply,
    .sync = NULL,
    .check = mx_check,
    .close = mx_close,
};
