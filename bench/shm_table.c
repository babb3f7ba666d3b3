/* SPDX-License-Identifier: Apache-2.0 */
#include "shm_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "design.h"
#include "segments.h"

#define ST_META(dev, type) (((uint64_t)(dev) << 48) | ((uint64_t)(type) << 40))
#define ST_KEY(meta)       ((meta)&0xffffff0000000000ull)

static uint8_t ctl_of(uint64_t hash)
{
    return (uint8_t)(0x80u | (hash >> 57));
}

int shm_table_open(struct shm_table *t, const char *registry, const char *tag, uint64_t max_live,
                   char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    uint64_t n = 1024;
    while (n < 2 * max_live)
        n <<= 1;
    size_t rec_off = (sizeof(struct st_header) + n + 63) & ~(size_t)63;
    t->bytes = rec_off + n * sizeof(struct st_record);
    snprintf(t->name, sizeof t->name, "/%s_%s", registry, tag);
    bench_remember_object(t->name);
    int fd = shm_open(t->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)t->bytes) != 0) {
        snprintf(err, errlen, "shm_open %s: %s", t->name, strerror(errno));
        if (fd >= 0) {
            close(fd);
            shm_unlink(t->name);
        }
        return -1;
    }
    void *p = mmap(NULL, t->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        shm_unlink(t->name);
        return -1;
    }
    t->h = p;
    t->ctl = (_Atomic uint8_t *)((char *)p + sizeof(struct st_header));
    t->rec = (struct st_record *)((char *)p + rec_off);
    t->mask = n - 1;
    t->h->nslots = n;
    t->h->generation = 1;
    return 0;
}

void shm_table_close(struct shm_table *t)
{
    munmap(t->h, t->bytes);
    shm_unlink(t->name);
}

static uint64_t hash_of(unsigned dev, unsigned type, uint64_t address)
{
    return bench_key_hash(dev, type, address);
}

/* Slot of the key (1), or of the empty slot that ends its probe run (0). */
static int find(const struct shm_table *t, uint64_t key, uint64_t address, uint64_t hash,
                uint64_t *where)
{
    uint8_t want = ctl_of(hash);
    for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        uint8_t c = atomic_load_explicit(&t->ctl[i], memory_order_relaxed);
        if (c == 0) {
            *where = i;
            return 0;
        }
        if (c == want && t->rec[i].address == address && ST_KEY(t->rec[i].meta) == key) {
            *where = i;
            return 1;
        }
    }
}

/* Seqlock write of a record: odd, fields, even; release order on each step. */
static void write_begin(struct st_record *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void write_end(struct st_record *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);
    atomic_store_explicit(&r->seq, s + 1, memory_order_release);
}

void shm_table_alloc(struct shm_table *t, const struct bench_event *e, uint64_t now, unsigned tid)
{
    struct st_header *h = t->h;
    struct st_counters *c = &h->counters[e->device][e->type];
    uint64_t key = ST_META(e->device, e->type);
    uint64_t hash = hash_of(e->device, e->type, e->address);
    uint64_t i;
    if (find(t, key, e->address, hash, &i)) {
        c->duplicate_allocs++;
        c->alloc_bytes -= t->rec[i].size; /* replaced: count it once */
        c->allocs--;
    } else if (h->live + 1 > h->nslots / 2) {
        c->dropped++;
        return;
    } else {
        h->live++;
    }
    struct st_record *r = &t->rec[i];
    write_begin(r);
    r->address = e->address;
    r->size = e->size;
    r->tag = 0;
    r->timestamp_ns = now;
    r->meta = key | tid;
    r->generation = h->generation;
    write_end(r);
    atomic_store_explicit(&t->ctl[i], ctl_of(hash), memory_order_release);
    c->allocs++;
    c->alloc_bytes += e->size;
    uint64_t live = c->alloc_bytes - c->freed_bytes;
    if (live > c->peak_bytes)
        c->peak_bytes = live;
}

void shm_table_free(struct shm_table *t, const struct bench_event *e)
{
    struct st_header *h = t->h;
    struct st_counters *c = &h->counters[e->device][e->type];
    uint64_t i;
    if (!find(t, ST_META(e->device, e->type), e->address, hash_of(e->device, e->type, e->address),
              &i)) {
        c->unknown_frees++;
        return;
    }
    c->frees++;
    c->freed_bytes += t->rec[i].size;
    h->live--;
    /* Backward shift: move later records of the run into the hole when their
     * home is not between the hole and where they are. A reader scanning at
     * the same time may see a moved record twice or not at all, never torn. */
    for (uint64_t j = i;;) {
        for (;;) {
            j = (j + 1) & t->mask;
            uint8_t cj = atomic_load_explicit(&t->ctl[j], memory_order_relaxed);
            if (cj == 0) {
                atomic_store_explicit(&t->ctl[i], 0, memory_order_release);
                return;
            }
            const struct st_record *y = &t->rec[j];
            uint64_t home =
                hash_of((unsigned)(y->meta >> 48), (unsigned)((y->meta >> 40) & 0xff), y->address) &
                t->mask;
            if (((j - home) & t->mask) >= ((j - i) & t->mask))
                break;
        }
        struct st_record *x = &t->rec[i];
        const struct st_record *y = &t->rec[j];
        write_begin(x);
        x->generation = y->generation;
        x->address = y->address;
        x->size = y->size;
        x->tag = y->tag;
        x->timestamp_ns = y->timestamp_ns;
        x->meta = y->meta;
        write_end(x);
        atomic_store_explicit(&t->ctl[i], atomic_load_explicit(&t->ctl[j], memory_order_relaxed),
                              memory_order_release);
        i = j;
    }
}

void shm_table_check(const struct shm_table *t, struct design_check *out)
{
    const struct st_header *h = t->h;
    memset(out, 0, sizeof *out);
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned ty = 0; ty < TTSHM_MEM_TYPE_COUNT; ty++) {
            const struct st_counters *c = &h->counters[d][ty];
            out->live_count += c->allocs - c->frees;
            out->live_bytes += c->alloc_bytes - c->freed_bytes;
            out->events += c->allocs + c->frees + c->duplicate_allocs + c->unknown_frees;
            out->anomalies += c->unknown_frees + c->duplicate_allocs + c->dropped;
        }
    uint64_t used = 0;
    for (uint64_t i = 0; i <= t->mask; i++)
        used += atomic_load_explicit(&t->ctl[i], memory_order_relaxed) != 0;
    if (used != h->live || used != out->live_count)
        out->anomalies++;
}
