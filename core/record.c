/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The recording calls: the writer's fast path. No system call (the thread id
 * is cached, the clock is the vDSO's coarse monotonic clock), no heap
 * allocation, no lock: a slot claim CAS, a few relaxed stores, a release
 * store, and two fetch-adds on the device x type counters.
 */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rcu.h"
#include "writer_internal.h"

/* initial-exec: no __tls_get_addr call on the fast path (as LTTng-UST does). */
static __thread uint32_t tls_tid __attribute__((tls_model("initial-exec")));

void ttshm_forget_thread_id(void)
{
    tls_tid = 0;
}

static inline uint32_t thread_id(void)
{
    if (__builtin_expect(tls_tid == 0, 0))
        tls_tid = (uint32_t)syscall(SYS_gettid);
    return tls_tid;
}

static inline uint64_t coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void add(_Atomic uint64_t *p, uint64_t v)
{
    /* Release: a reader that sees this count also sees what came before it. */
    atomic_fetch_add_explicit(p, v, memory_order_release);
}

static inline bool off(const ttshm_writer *w)
{
    return w == NULL || atomic_load_explicit(&w->closed, memory_order_relaxed);
}

static void raise_peak(struct ttshm_counter_block *c, uint64_t alloc_bytes_now)
{
    uint64_t freed = atomic_load_explicit(&c->freed_bytes, memory_order_relaxed);
    uint64_t live = alloc_bytes_now > freed ? alloc_bytes_now - freed : 0;
    uint64_t peak = atomic_load_explicit(&c->peak_bytes, memory_order_relaxed);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&c->peak_bytes, &peak, live, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* A thread that claimed its slot through a view a growth has since replaced
 * moves its record on into the current table itself: the migration may have
 * passed that slot already. The seq_cst claim and view loads make sure one of
 * the two sees the record (docs/design.md, "Growth"). */
static bool chase(ttshm_writer *w, struct ttshm_table *placed, struct ttshm_slot *slot,
                  struct ttshm_counter_block *c, bool dedup)
{
    bool replaced = false;
    for (;;) {
        struct ttshm_view *now = atomic_load_explicit(&w->view, memory_order_seq_cst);
        if (__builtin_expect(now->cur == placed, 1))
            return replaced;
        struct ttshm_move_out out;
        enum ttshm_move m = ttshm_slot_move(slot, now->cur, w->hdr, dedup, &out);
        if (m == TTSHM_MOVE_FULL) {
            /* No room: the record stays live where it is, and that table is
             * kept (never retired) so it stays found. */
            atomic_store_explicit(&placed->migrate_stuck, 1, memory_order_release);
            return replaced;
        }
        if (m == TTSHM_MOVE_REPLACED) {
            replaced = true;
            add(&c->duplicate_allocs, 1);
            add(&c->frees, 1);
            add(&c->freed_bytes, out.old_size);
        }
        if (m != TTSHM_MOVE_DONE && m != TTSHM_MOVE_REPLACED)
            return replaced; /* moved by the migration, or freed */
        /* And check again: a further growth may have begun. */
        placed = now->cur;
        slot = out.slot;
    }
}

/* Work left for after the read-side section: growth and migration completion
 * take the growth mutex and may wait for the background thread, which itself
 * waits for grace periods: never inside a read-side section. */
struct after_op {
    bool grow;             /* the current table passed its growth threshold */
    bool finish_migration; /* ... while a migration into it is still running */
    uint64_t completed_epoch;
};

static void finish_op(ttshm_writer *w, struct ttshm_view *v, uint32_t tid, struct after_op *a)
{
    if (v->old != NULL)
        a->completed_epoch = ttshm_migrate_step(v, w->hdr, tid);

    ttshm_rcu_read_unlock();
    if (__builtin_expect(a->completed_epoch != 0, 0))
        ttshm_complete_migration(w, a->completed_epoch);
    if (__builtin_expect(a->finish_migration, 0))
        ttshm_finish_migration(w);
    else if (__builtin_expect(a->grow, 0))
        ttshm_grow(w, 0);
}

/* Claims a slot in the current table; if it is full, grows it (blocking) and
 * tries once more in the new view. */
static enum ttshm_probe claim(ttshm_writer *w, struct ttshm_view **v,
                              const struct ttshm_record *rec, uint64_t hash, bool dedup,
                              uint32_t tid, struct ttshm_claim *cl, struct after_op *a)
{
    enum ttshm_probe r = ttshm_table_claim((*v)->cur, rec, hash, dedup, w->hdr, cl);
    if (__builtin_expect(r == TTSHM_PROBE_FULL, 0)) {
        uint64_t full_epoch = (*v)->cur->epoch;
        ttshm_rcu_read_unlock();
        ttshm_grow(w, full_epoch);
        ttshm_rcu_read_lock();
        *v = atomic_load_explicit(&w->view, memory_order_acquire);
        r = ttshm_table_claim((*v)->cur, rec, hash, dedup, w->hdr, cl);
    }
    if (r == TTSHM_PROBE_DONE && cl->was_empty) {
        struct ttshm_table *cur = (*v)->cur;
        uint64_t used = ttshm_note_used(cur, tid, 1);
        if (__builtin_expect(used > TTSHM_PREPARE_AT(cur->nslots), 0)) {
            if ((*v)->old != NULL) {
                a->finish_migration = used > TTSHM_MIGRATING_AT(cur->nslots);
            } else if (used > TTSHM_GROW_AT(cur->nslots)) {
                a->grow = true;
            } else {
                /* Records projected at the growth threshold: twice now. */
                uint64_t bytes, live = ttshm_live_total(w->hdr, &bytes);
                ttshm_preparer_request(w, cur->epoch, ttshm_table_size_for(live * 2, cur->nslots));
            }
        }
    }
    return r;
}

static enum ttshm_result record_alloc(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                      uint64_t address, uint64_t size, uint64_t tag)
{
    struct ttshm_header *h = w->hdr;
    struct ttshm_counter_block *c = &h->counters[device][type];
    const bool is_cb = type == TTSHM_CB;
    const uint32_t tid = thread_id();
    uint64_t cb_epoch =
        is_cb ? atomic_load_explicit(&h->cb_epoch[device], memory_order_acquire) : 0;
    struct ttshm_record rec = {address,
                               size,
                               tag,
                               coarse_now_ns(),
                               TTSHM_META(device, type, tid),
                               TTSHM_GEN_EPOCH(w->generation, cb_epoch)};
    uint64_t hash = ttshm_key_hash(device, type, address);
    enum ttshm_result result = TTSHM_RECORDED;
    struct after_op after = {false, false, 0};

    ttshm_rcu_read_lock();
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    uint64_t old_size = 0;
    /* A duplicate may still sit in the table being drained. */
    bool dup =
        !is_cb && v->old != NULL &&
        ttshm_table_remove(v->old, rec.meta, address, hash, h, &old_size) == TTSHM_PROBE_DONE;
    struct ttshm_claim cl;
    enum ttshm_probe r = claim(w, &v, &rec, hash, !is_cb, tid, &cl, &after);
    if (r == TTSHM_PROBE_REPLACED) {
        dup = true;
        old_size = cl.old_size;
    }
    if (dup) {
        /* The earlier record's free was never seen: count it freed, and say so. */
        add(&c->duplicate_allocs, 1);
        add(&c->frees, 1);
        add(&c->freed_bytes, old_size);
        result = TTSHM_DUPLICATE;
    }
    if (r == TTSHM_PROBE_FULL) {
        add(&c->dropped, 1);
        result = TTSHM_DROPPED;
    } else {
        /* Counted before the record is published, so a free that finds the
         * record is ordered after its alloc in the counters too. */
        add(&c->allocs, 1);
        uint64_t now = atomic_fetch_add_explicit(&c->alloc_bytes, size, memory_order_release);
        raise_peak(c, now + size);
        ttshm_slot_publish(&cl, &rec);
        /* A duplicate found only in the table the record moved on to. */
        if (chase(w, v->cur, cl.slot, c, !is_cb))
            result = TTSHM_DUPLICATE;
    }
    finish_op(w, v, tid, &after);
    return result;
}

static enum ttshm_result record_free(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                     uint64_t address)
{
    struct ttshm_header *h = w->hdr;
    struct ttshm_counter_block *c = &h->counters[device][type];
    const uint32_t tid = thread_id();
    uint64_t meta = TTSHM_META(device, type, 0);
    uint64_t hash = ttshm_key_hash(device, type, address);
    struct after_op after = {false, false, 0};
    uint64_t size = 0;

    ttshm_rcu_read_lock();
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    enum ttshm_probe r;
    for (;;) {
        /* Old table first: a record moves from old to new, never back, and
         * its copy is published before the old slot is retired. */
        r = TTSHM_PROBE_ABSENT;
        if (v->old != NULL)
            r = ttshm_table_remove(v->old, meta, address, hash, h, &size);
        if (r != TTSHM_PROBE_DONE)
            r = ttshm_table_remove(v->cur, meta, address, hash, h, &size);
        /* Not found through a view a growth has since replaced: the record
         * may have moved to a table this view does not name. */
        struct ttshm_view *now = atomic_load_explicit(&w->view, memory_order_acquire);
        if (r == TTSHM_PROBE_DONE || now == v)
            break;
        v = now;
    }
    enum ttshm_result result;
    if (r == TTSHM_PROBE_DONE) {
        add(&c->frees, 1);
        add(&c->freed_bytes, size);
        result = TTSHM_RECORDED;
    } else {
        add(&c->unknown_frees, 1);
        result = TTSHM_UNKNOWN;
    }
    finish_op(w, v, tid, &after);
    return result;
}

/* Checks what every recording call checks; false: nothing to record. */
static inline bool accept(ttshm_writer *w, uint32_t device, unsigned type, enum ttshm_result *res)
{
    if (off(w)) {
        *res = TTSHM_OFF;
        return false;
    }
    if (device >= TTSHM_MAX_DEVICES || type >= TTSHM_MEM_TYPE_COUNT) {
        add(&w->hdr->dropped_global, 1);
        *res = TTSHM_DROPPED;
        return false;
    }
    return true;
}

enum ttshm_result ttshm_record_alloc(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                     uint64_t address, uint64_t size, uint64_t tag)
{
    enum ttshm_result res;
    if (!accept(w, device, (unsigned)type, &res))
        return res;
    if (__builtin_expect(type != TTSHM_CB, 1))
        return record_alloc(w, device, type, address, size, tag);
    pthread_mutex_lock(&w->cb_lock[device]);
    res = record_alloc(w, device, type, address, size, tag);
    pthread_mutex_unlock(&w->cb_lock[device]);
    return res;
}

enum ttshm_result ttshm_record_free(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                    uint64_t address)
{
    enum ttshm_result res;
    if (!accept(w, device, (unsigned)type, &res))
        return res;
    if (__builtin_expect(type != TTSHM_CB, 1))
        return record_free(w, device, type, address);
    pthread_mutex_lock(&w->cb_lock[device]);
    res = record_free(w, device, type, address);
    pthread_mutex_unlock(&w->cb_lock[device]);
    return res;
}

enum ttshm_result ttshm_record_free_cbs(ttshm_writer *w, uint32_t device)
{
    if (off(w))
        return TTSHM_OFF;
    struct ttshm_header *h = w->hdr;
    if (device >= TTSHM_MAX_DEVICES) {
        add(&h->dropped_global, 1);
        return TTSHM_DROPPED;
    }
    /* Every CB record of the device carries the epoch it was made in: moving
     * the epoch on retires them all at once; their slots are reclaimed lazily. */
    pthread_mutex_lock(&w->cb_lock[device]);
    atomic_fetch_add_explicit(&h->cb_epoch[device], 1, memory_order_acq_rel);
    struct ttshm_counter_block *c = &h->counters[device][TTSHM_CB];
    uint64_t count, bytes;
    ttshm_counters_live(c, &count, &bytes);
    add(&c->frees, count);
    add(&c->freed_bytes, bytes);
    pthread_mutex_unlock(&w->cb_lock[device]);
    return TTSHM_RECORDED;
}

enum ttshm_result ttshm_publish_capacity(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                         uint64_t total_bytes, uint32_t banks)
{
    if (off(w))
        return TTSHM_OFF;
    if (device >= TTSHM_MAX_DEVICES || (unsigned)type >= TTSHM_MEM_TYPE_COUNT)
        return TTSHM_DROPPED;
    struct ttshm_counter_block *c = &w->hdr->counters[device][type];
    atomic_store_explicit(&c->capacity_bytes, total_bytes, memory_order_relaxed);
    atomic_store_explicit(&c->capacity_banks, banks, memory_order_relaxed);
    return TTSHM_RECORDED;
}
