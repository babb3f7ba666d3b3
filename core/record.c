/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The recording calls: the writer's fast path. No system call (the thread id
 * is cached, the clock is the vDSO's coarse monotonic clock), no heap
 * allocation, no lock: a slot claim CAS, a few relaxed stores, a release
 * store, and two fetch-adds on the device x type counters.
 */
#include <string.h>
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

/* Milliseconds: the coarse clock ticks once per jiffy (1 to 10 ms) anyway. */
static inline uint64_t coarse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

/* Notes a claim that took a never-used slot of t; true if t passed its
 * growth threshold. */
static bool note_claim(ttshm_writer *w, struct ttshm_view *v, struct ttshm_table *t, uint32_t tid)
{
    uint64_t used = ttshm_note_used(t, tid, 1);
    if (__builtin_expect(used <= TTSHM_PREPARE_AT(t->nslots), 1) || v->old != NULL) {
        if (__builtin_expect(used > TTSHM_TREND_AT(t->nslots), 0) && v->old == NULL)
            ttshm_preparer_note_trend(w, t, used);
        return false; /* a table being filled by a migration is not grown */
    }
    if (used > TTSHM_GROW_AT(t->nslots))
        return true;
    ttshm_preparer_request(w, t);
    return false;
}

/* The record a thread just published through a view a growth has since
 * replaced: moved on into the current table by the thread itself, as the
 * migration may have passed its slot already. The seq_cst claim and view
 * loads make sure one of the two sees the record (docs/design.md,
 * "Growth"). Returns TTSHM_DUPLICATE if the move found an earlier record of
 * the key and took its place, TTSHM_DROPPED if the current table had no room. */
static enum ttshm_result chase(ttshm_writer *w, const struct ttshm_record *rec,
                               struct ttshm_table *placed, uint64_t slot,
                               struct ttshm_counter_block *c, bool dedup, uint32_t tid)
{
    enum ttshm_result res = TTSHM_RECORDED;
    for (;;) {
        struct ttshm_view *now = atomic_load_explicit(&w->view, memory_order_seq_cst);
        if (__builtin_expect(now->cur == placed, 1))
            return res;
        struct ttshm_move_out out;
        enum ttshm_move m = ttshm_slot_move(placed, slot, now->cur, dedup, rec, &out);
        if (m == TTSHM_MOVE_FULL) {
            /* No room, and `placed` may already be drained and retired: the
             * record cannot stay there. Unless the migration moved it
             * meanwhile. Only the tables' own gates hold back claims enough
             * to make this rare. */
            return ttshm_slot_drop(placed, slot, w->hdr) ? TTSHM_DROPPED : res;
        }
        if (m == TTSHM_MOVE_NONE)
            return res; /* moved by the migration (the slot may hold another record now) */
        if (out.claimed_empty)
            (void)note_claim(w, now, now->cur, tid);
        if (m == TTSHM_MOVE_REPLACED) {
            res = TTSHM_DUPLICATE;
            add(&c->duplicate_allocs, 1);
            add(&c->frees, 1);
            add(&c->freed_bytes, out.old_size);
        }
        /* And check again: a further growth may have begun. */
        placed = now->cur;
        slot = out.index;
    }
}

/* Ends a recording call: moves a chunk of a running migration, leaves the
 * read-side section, then does what must not run inside one (growth and
 * migration completion take the growth mutex and may wait for the
 * background thread, which itself waits for grace periods). */
static void finish_op(ttshm_writer *w, struct ttshm_view *v, uint32_t tid, bool grow)
{
    uint64_t completed_epoch = 0, cur_epoch = v->cur->epoch;
    if (v->old != NULL)
        completed_epoch = ttshm_migrate_step(v, w->hdr, tid);
    ttshm_rcu_read_unlock(); /* v may be freed from here on */
    if (__builtin_expect(completed_epoch != 0, 0))
        ttshm_complete_migration(w, completed_epoch);
    if (__builtin_expect(grow, 0))
        ttshm_grow(w, cur_epoch, TTSHM_GROW_IF_NEEDED);
}

/* Runs fn outside the read-side section and reloads the view. */
#define OUTSIDE_READ_SECTION(w, v, fn)                                                             \
    do {                                                                                           \
        ttshm_rcu_read_unlock();                                                                   \
        fn;                                                                                        \
        ttshm_rcu_read_lock();                                                                     \
        *(v) = atomic_load_explicit(&(w)->view, memory_order_acquire);                             \
    } while (0)

/* What claiming a slot for an allocation found. */
struct claimed {
    struct ttshm_claim slot;
    bool dup;          /* an earlier record of the key was removed (dedup) */
    uint64_t dup_size; /* ... of this size */
    bool grow;         /* the current table passed its growth threshold */
};

/* Claims a slot for rec in the current table. Holds back first where the
 * table's gate says so (a migration into it to finish, a growth to wait for),
 * and when the table is full grows it and tries again in the new one: the
 * record is dropped only if no table with room could be had. */
static enum ttshm_probe claim(ttshm_writer *w, struct ttshm_view **v,
                              const struct ttshm_record *rec, uint64_t hash, bool dedup,
                              uint32_t tid, struct claimed *out)
{
    uint64_t held_for = 0; /* the table this call held back for, once */
    enum ttshm_probe r;
    for (;;) {
        struct ttshm_table *cur = (*v)->cur;
        unsigned gate = atomic_load_explicit(&cur->gate, memory_order_relaxed);
        if (__builtin_expect(gate != TTSHM_GATE_OPEN, 0) && held_for != cur->epoch) {
            held_for = cur->epoch;
            if ((*v)->old != NULL) {
                OUTSIDE_READ_SECTION(w, v, ttshm_finish_migration(w));
                continue;
            }
            if (gate == TTSHM_GATE_HOLD) {
                OUTSIDE_READ_SECTION(w, v, ttshm_grow(w, held_for, TTSHM_GROW_HOLD));
                continue;
            }
        }
        /* A table found without room while growth waits to be retried:
         * dropped at once, not after a probe of TTSHM_MAX_PROBE slots. */
        if (__builtin_expect(
                atomic_load_explicit(&w->no_room_epoch, memory_order_relaxed) == cur->epoch, 0) &&
            ttshm_grow_waiting(w))
            return TTSHM_PROBE_FULL;
        /* A duplicate may still sit in the table being drained. */
        uint64_t size;
        if (dedup && (*v)->old != NULL &&
            ttshm_table_remove((*v)->old, TTSHM_KEY_DEVTYPE(rec->key), rec->address,
                               ttshm_key_owner(TTSHM_KEY_TYPE(rec->key), rec->tag), hash,
                               &size) == TTSHM_PROBE_DONE) {
            out->dup = true;
            out->dup_size = size;
        }
        r = ttshm_table_claim(cur, rec, hash, dedup, &out->slot);
        if (__builtin_expect(r != TTSHM_PROBE_FULL, 1))
            break;
        /* No room within TTSHM_MAX_PROBE slots of a table at most half used:
         * a probe run full of records of one hash (CBs of one owner at one
         * address). No table could hold them all: this record is dropped,
         * and the table is not grown for it. */
        if (ttshm_used_total(cur) <= TTSHM_MIGRATING_AT(cur->nslots))
            return r;
        uint64_t full_epoch = cur->epoch; /* cur may be freed outside */
        OUTSIDE_READ_SECTION(w, v, ttshm_grow(w, full_epoch, TTSHM_GROW_FULL));
        if ((*v)->cur->epoch == full_epoch) {
            atomic_store_explicit(&w->no_room_epoch, full_epoch, memory_order_relaxed);
            return r; /* no growth to be had: dropped */
        }
    }
    if (r == TTSHM_PROBE_REPLACED) {
        out->dup = true;
        out->dup_size = out->slot.old_size;
    } else if (out->slot.was_empty) {
        out->grow = note_claim(w, *v, (*v)->cur, tid);
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
    struct ttshm_record rec = {address, tag, TTSHM_KEY(device, type, size),
                               TTSHM_ORIGIN(tid, coarse_now_ms())};
    uint64_t hash = ttshm_key_hash(device, type, address, ttshm_key_owner(type, tag));
    enum ttshm_result result = TTSHM_RECORDED;

    ttshm_rcu_read_lock();
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    struct claimed cl = {.dup = false, .grow = false};
    enum ttshm_probe r = claim(w, &v, &rec, hash, !is_cb, tid, &cl);
    if (cl.dup) {
        /* The earlier record's free was never seen: count it freed, and say so. */
        add(&c->duplicate_allocs, 1);
        add(&c->frees, 1);
        add(&c->freed_bytes, cl.dup_size);
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
        ttshm_slot_publish(&cl.slot, &rec);
        /* A duplicate found only in the table the record moved on to. */
        enum ttshm_result moved = chase(w, &rec, v->cur, cl.slot.index, c, !is_cb, tid);
        if (moved != TTSHM_RECORDED)
            result = moved;
    }
    finish_op(w, v, tid, cl.grow);
    return result;
}

static enum ttshm_result record_free(ttshm_writer *w, uint32_t device, enum ttshm_mem_type type,
                                     uint64_t address, uint64_t owner)
{
    struct ttshm_header *h = w->hdr;
    struct ttshm_counter_block *c = &h->counters[device][type];
    const uint32_t tid = thread_id();
    uint64_t devtype = TTSHM_KEY_DEVTYPE(TTSHM_KEY(device, type, 0));
    uint64_t hash = ttshm_key_hash(device, type, address, owner);
    uint64_t size = 0;

    ttshm_rcu_read_lock();
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    enum ttshm_probe r;
    for (;;) {
        /* Old table first: a record moves from old to new, never back, and
         * its copy is published before the old slot is retired. */
        r = TTSHM_PROBE_ABSENT;
        if (v->old != NULL)
            r = ttshm_table_remove(v->old, devtype, address, owner, hash, &size);
        if (r != TTSHM_PROBE_DONE)
            r = ttshm_table_remove(v->cur, devtype, address, owner, hash, &size);
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
    finish_op(w, v, tid, false);
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
    if (__builtin_expect(size > TTSHM_MAX_RECORD_BYTES, 0)) {
        /* Bad input: counted, and kept out of the byte counters. */
        add(&w->hdr->counters[device][type].dropped, 1);
        return TTSHM_DROPPED;
    }
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
        return record_free(w, device, type, address, 0);
    return ttshm_record_free_cb(w, device, address, 0);
}

enum ttshm_result ttshm_record_free_cb(ttshm_writer *w, uint32_t device, uint64_t address,
                                       uint64_t owner)
{
    enum ttshm_result res;
    if (!accept(w, device, TTSHM_CB, &res))
        return res;
    pthread_mutex_lock(&w->cb_lock[device]);
    res = record_free(w, device, TTSHM_CB, address, owner);
    pthread_mutex_unlock(&w->cb_lock[device]);
    return res;
}

/* Retires every live record of `device` whose type is in `types`: a sweep
 * of the tables of one view, the table being drained first (a record moves
 * from it to the current one, never back), again if a growth replaced the
 * view meanwhile. The counts are those of the records the sweep retired.
 * Called with the device's cb_lock held. */
static void sweep(ttshm_writer *w, uint32_t device, unsigned types)
{
    struct ttshm_swept swept = {{0}, {0}};
    ttshm_rcu_read_lock();
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    for (;;) {
        if (v->old != NULL)
            ttshm_table_sweep(v->old, device, types, &swept);
        ttshm_table_sweep(v->cur, device, types, &swept);
        /* seq_cst, as the view's publication: a view replaced during the
         * sweep is seen here, and its tables are swept in turn. */
        struct ttshm_view *now = atomic_load_explicit(&w->view, memory_order_seq_cst);
        if (now == v)
            break;
        v = now;
    }
    ttshm_rcu_read_unlock();
    for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
        if (swept.count[t] == 0)
            continue;
        struct ttshm_counter_block *c = &w->hdr->counters[device][t];
        add(&c->bulk_freed, swept.count[t]);
        add(&c->frees, swept.count[t]);
        add(&c->freed_bytes, swept.bytes[t]);
    }
}

enum ttshm_result ttshm_record_free_all(ttshm_writer *w, uint32_t device, int type)
{
    enum ttshm_result res;
    bool all = type == TTSHM_ALL_TYPES;
    if (!accept(w, device, all ? 0u : (unsigned)type, &res))
        return res;
    unsigned types = all ? (1u << TTSHM_MEM_TYPE_COUNT) - 1u : 1u << (unsigned)type;
    pthread_mutex_lock(&w->cb_lock[device]);
    sweep(w, device, types);
    pthread_mutex_unlock(&w->cb_lock[device]);
    return TTSHM_RECORDED;
}

enum ttshm_result ttshm_record_free_cbs(ttshm_writer *w, uint32_t device)
{
    return ttshm_record_free_all(w, device, TTSHM_CB);
}

enum ttshm_result ttshm_publish_device(ttshm_writer *w, uint32_t device, uint64_t unique_id,
                                       const char *name)
{
    enum ttshm_result res;
    if (!accept(w, device, 0, &res))
        return res;
    uint64_t words[TTSHM_DEVICE_NAME_WORDS] = {0};
    size_t len = name ? strnlen(name, TTSHM_DEVICE_NAME_MAX) : 0;
    for (size_t i = 0; i < len; i++)
        words[i / 8] |= (uint64_t)(unsigned char)name[i] << (8 * (i % 8));
    struct ttshm_device_ident *d = &w->hdr->device_ident[device];
    /* A seqlock write: odd, the fields, even again (readers retry on odd or changed). */
    pthread_mutex_lock(&w->cb_lock[device]);
    uint64_t seq = atomic_load_explicit(&d->seq, memory_order_relaxed);
    atomic_store_explicit(&d->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&d->unique_id, unique_id, memory_order_relaxed);
    for (unsigned i = 0; i < TTSHM_DEVICE_NAME_WORDS; i++)
        atomic_store_explicit(&d->name[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&d->seq, seq + 2, memory_order_release);
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
