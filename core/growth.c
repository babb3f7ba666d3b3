/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online growth (docs/design.md, "Growth"). When the current table is 3/4
 * used (live records plus tombstones), one thread makes a new table object
 * and publishes it in the header and in a new view {cur = new, old = previous}.
 * From then on every recording call moves one chunk of the old table, so the
 * copy is spread over many calls instead of stalling one. A thread that was
 * still inserting into the old table through the previous view chases its own
 * record into the new one (record.c). The thread that finishes the last chunk
 * publishes {cur = new} and hands the old table to the writer's background
 * thread, which unmaps it after a grace period, once no writer thread can be
 * using it.
 *
 * RCU (liburcu's urcu-bp flavour: threads register themselves on first use)
 * protects this process's mappings and views only; readers in other
 * processes keep their own mappings of an unlinked table, which stay valid.
 */
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "errors.h"
#include "nocancel.h"
#include "table_object.h"
#include "table_pool.h"
#include "writer_internal.h"

#ifdef TTSHM_TSAN
char ttshm_rcu_tsan_sync;
#endif

uint64_t ttshm_live_total(const struct ttshm_header *h, uint64_t *bytes)
{
    uint64_t count = 0, total_bytes = 0;
    for (unsigned d = 0; d < TTSHM_MAX_DEVICES; d++)
        for (unsigned t = 0; t < TTSHM_MEM_TYPE_COUNT; t++) {
            uint64_t c, b;
            ttshm_counters_live(&h->counters[d][t], &c, &b);
            count += c;
            total_bytes += b;
        }
    *bytes = total_bytes;
    return count;
}

uint64_t ttshm_used_total(const struct ttshm_table *t)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < TTSHM_USED_SHARDS; i++)
        total += atomic_load_explicit((_Atomic uint64_t *)&t->used[i].n, memory_order_relaxed);
    return total;
}

uint64_t ttshm_note_used(struct ttshm_table *t, uint32_t tid, uint64_t n)
{
    uint64_t v =
        atomic_fetch_add_explicit(&t->used[tid % TTSHM_USED_SHARDS].n, n, memory_order_relaxed) + n;
    /* Summing the shards costs 16 loads: do it on every check_mask+1-th claim. */
    if (n == 1 && (v & t->check_mask) != 0)
        return 0;
    uint64_t total = ttshm_used_total(t);
    unsigned gate = total > TTSHM_HOLD_AT(t->nslots)        ? TTSHM_GATE_HOLD
                    : total > TTSHM_MIGRATING_AT(t->nslots) ? TTSHM_GATE_DRAIN
                                                            : TTSHM_GATE_OPEN;
    unsigned was = atomic_load_explicit(&t->gate, memory_order_relaxed);
    while (gate > was && !atomic_compare_exchange_weak_explicit(
                             &t->gate, &was, gate, memory_order_relaxed, memory_order_relaxed))
        ;
    return total;
}

/* from_slots, doubled until live records fill at most num/den of it. */
static uint64_t size_filled_at_most(uint64_t live, uint64_t from_slots, uint64_t num, uint64_t den)
{
    uint64_t nslots = from_slots;
    while (live * den > nslots * num && nslots < TTSHM_MAX_TABLE)
        nslots <<= 1;
    return nslots;
}

uint64_t ttshm_table_size_for(uint64_t live, uint64_t cur_slots)
{
    return size_filled_at_most(live, cur_slots, 7, 16);
}

static uint64_t chunk_count(const struct ttshm_table *t)
{
    return (t->nslots + TTSHM_MIGRATE_CHUNK - 1) / TTSHM_MIGRATE_CHUNK;
}

bool ttshm_slot_drop(struct ttshm_table *t, uint64_t i, struct ttshm_header *h)
{
    uint64_t key;
    if (!ttshm_slot_retire(t, i, &key))
        return false;
    struct ttshm_counter_block *c = &h->counters[TTSHM_KEY_DEVICE(key)][TTSHM_KEY_TYPE(key)];
    atomic_fetch_add_explicit(&c->dropped, 1, memory_order_release);
    atomic_fetch_add_explicit(&c->frees, 1, memory_order_release);
    atomic_fetch_add_explicit(&c->freed_bytes, TTSHM_KEY_SIZE(key), memory_order_release);
    return true;
}

/* Moves the live records of chunk idx; true when it was the last one to
 * finish. A record the new table has no room for (its probe run is full of
 * records of one hash) is dropped: one overfull run costs only its own
 * records, never the migration. */
static bool move_chunk(struct ttshm_view *v, struct ttshm_header *h, uint64_t idx, uint32_t tid)
{
    struct ttshm_table *from = v->old;
    uint64_t first = idx * TTSHM_MIGRATE_CHUNK, claimed = 0;
    uint64_t end =
        first + TTSHM_MIGRATE_CHUNK < from->nslots ? first + TTSHM_MIGRATE_CHUNK : from->nslots;
    /* The chunk's slots with a record to move (LIVE, or BUSY: about to be),
     * as a mask made without a branch per slot; then one move per set bit. */
    _Static_assert(TTSHM_MIGRATE_CHUNK <= 64, "a chunk fits the mask");
    uint64_t to_move = 0;
    for (uint64_t i = first; i < end; i++) {
        unsigned st = TTSHM_CTL_STATE(atomic_load_explicit(&from->ctl[i], memory_order_relaxed));
        to_move |= (uint64_t)((st == TTSHM_SLOT_LIVE) | (st == TTSHM_SLOT_BUSY)) << (i - first);
    }
    for (; to_move != 0; to_move &= to_move - 1) {
        uint64_t i = first + (unsigned)__builtin_ctzll(to_move);
        struct ttshm_move_out out = {0, 0, false};
        if (ttshm_slot_move(from, i, v->cur, false, NULL, &out) == TTSHM_MOVE_FULL)
            ttshm_slot_drop(from, i, h);
        claimed += out.claimed_empty;
    }
    if (claimed)
        ttshm_note_used(v->cur, tid, claimed);
    uint64_t done = atomic_fetch_add_explicit(&from->migrate_done, 1, memory_order_acq_rel) + 1;
    return done == chunk_count(from);
}

uint64_t ttshm_migrate_step(struct ttshm_view *v, struct ttshm_header *h, uint32_t tid)
{
    struct ttshm_table *old = v->old;
    uint64_t idx = atomic_fetch_add_explicit(&old->migrate_next, 1, memory_order_relaxed);
    if (idx >= chunk_count(old))
        return 0;
    return move_chunk(v, h, idx, tid) ? old->epoch : 0;
}

static void finish_migration_locked(struct ttshm_writer *w);

/* Caller holds grow_lock. */
static void set_tables(struct ttshm_header *h, const struct ttshm_table *cur,
                       const struct ttshm_table *old)
{
    /* Readers copy these between two reads of seq and retry if it moved. */
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    atomic_store_explicit(&h->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&h->old_epoch, old ? old->epoch : 0, memory_order_relaxed);
    atomic_store_explicit(&h->old_slots, old ? old->nslots : 0, memory_order_relaxed);
    atomic_store_explicit(&h->table_epoch, cur->epoch, memory_order_relaxed);
    atomic_store_explicit(&h->table_slots, cur->nslots, memory_order_relaxed);
    atomic_store_explicit(&h->seq, seq + 2, memory_order_release);
}

/* Caller holds grow_lock. Publishes {cur}, and retires the drained table. */
static void complete_locked(struct ttshm_writer *w, uint64_t old_epoch)
{
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    if (v->old == NULL || v->old->epoch != old_epoch)
        return; /* completed already */
    /* Epochs recur (recycled tables, table_pool.c): a late call for an
     * earlier drain of the same table must not end this one. */
    if (atomic_load_explicit(&v->old->migrate_done, memory_order_acquire) < chunk_count(v->old))
        return;
    struct ttshm_table *old = v->old;
    set_tables(w->hdr, v->cur, NULL);
    atomic_store_explicit(&w->view, v->after, memory_order_seq_cst);
    if (!ttshm_table_pool_reserve(w, old))
        ttshm_table_unlink(w, old->epoch);
    ttshm_retire_view(w, v);
    ttshm_retire_table(w, old);
}

/* The growth lock is taken with cancellation off (nocancel.h) in each of
 * the three entry points below. */
void ttshm_finish_migration(struct ttshm_writer *w)
{
    int cancel = ttshm_nocancel_begin();
    pthread_mutex_lock(&w->grow_lock);
    finish_migration_locked(w);
    pthread_mutex_unlock(&w->grow_lock);
    ttshm_nocancel_end(cancel);
}

void ttshm_complete_migration(struct ttshm_writer *w, uint64_t old_epoch)
{
    int cancel = ttshm_nocancel_begin();
    pthread_mutex_lock(&w->grow_lock);
    complete_locked(w, old_epoch);
    pthread_mutex_unlock(&w->grow_lock);
    ttshm_nocancel_end(cancel);
}

/* Caller holds grow_lock and is outside any read-side section: moves every
 * chunk left, waits for the chunks other threads are moving (a few
 * microseconds each), and completes. */
static void finish_migration_locked(struct ttshm_writer *w)
{
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    if (v->old == NULL)
        return;
    struct ttshm_table *old = v->old;
    uint64_t n = chunk_count(old);
    uint64_t idx;
    ttshm_rcu_read_lock();
    while ((idx = atomic_fetch_add_explicit(&old->migrate_next, 1, memory_order_relaxed)) < n)
        move_chunk(v, w->hdr, idx, 0);
    ttshm_rcu_read_unlock();
    while (atomic_load_explicit(&old->migrate_done, memory_order_acquire) < n)
        sched_yield(); /* let the threads moving those chunks run */
    complete_locked(w, old->epoch);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The wait before the next try after `failures` (>= 1) failed growths in a
 * row: 1 ms, doubled up to 1 s. */
#define RETRY_FIRST_NS 1000000ull    /* 1 ms */
#define RETRY_MAX_NS   1000000000ull /* 1 s */
static uint64_t retry_wait_ns(unsigned failures)
{
    return failures > 10 ? RETRY_MAX_NS : RETRY_FIRST_NS << (failures - 1);
}

/* Caller holds grow_lock. */
static void note_failure(struct ttshm_writer *w)
{
    w->grow_failures++;
    atomic_store_explicit(&w->grow_retry_ns, monotonic_ns() + retry_wait_ns(w->grow_failures),
                          memory_order_relaxed);
}

static void grow_locked(struct ttshm_writer *w, uint64_t epoch, enum ttshm_grow_mode mode);

bool ttshm_grow_waiting(struct ttshm_writer *w)
{
    uint64_t retry = atomic_load_explicit(&w->grow_retry_ns, memory_order_relaxed);
    return retry != 0 && monotonic_ns() < retry;
}

void ttshm_grow(struct ttshm_writer *w, uint64_t epoch, enum ttshm_grow_mode mode)
{
    /* Within the wait after a failure, without the lock: every claim of a
     * full table comes here, and the lock would serialise them. */
    uint64_t retry = atomic_load_explicit(&w->grow_retry_ns, memory_order_relaxed);
    if (__builtin_expect(retry != 0, 0) && (mode != TTSHM_GROW_FULL || monotonic_ns() < retry))
        return; /* only a claim that found no room tries again, and not before retry */
    int cancel = ttshm_nocancel_begin();
    if (mode != TTSHM_GROW_IF_NEEDED)
        pthread_mutex_lock(&w->grow_lock);
    else if (pthread_mutex_trylock(&w->grow_lock) != 0)
        goto done; /* another thread is growing; the current table still has room */
    grow_locked(w, epoch, mode);
    pthread_mutex_unlock(&w->grow_lock);
done:
    ttshm_nocancel_end(cancel);
}

static void grow_locked(struct ttshm_writer *w, uint64_t epoch, enum ttshm_grow_mode mode)
{
    if (atomic_load_explicit(&w->closed, memory_order_relaxed))
        return;
    finish_migration_locked(w);
    struct ttshm_view *v = atomic_load_explicit(&w->view, memory_order_acquire);
    struct ttshm_table *cur = v->cur;
    if (cur->epoch != epoch)
        return; /* someone grew it while we waited */
    if (mode == TTSHM_GROW_IF_NEEDED && ttshm_used_total(cur) <= TTSHM_GROW_AT(cur->nslots))
        return;

    uint64_t live_bytes, live = ttshm_live_total(w->hdr, &live_bytes);
    uint64_t nslots = ttshm_table_size_for(live, cur->nslots);
    /* A prepared table will do if the records fill at most half of it (one
     * sized for a growth at 3/4 still takes the records of a growth that
     * waited for it until 7/8), and if it is not larger than the records
     * need now (one prepared for a growth that then stopped). */
    uint64_t enough = size_filled_at_most(live, cur->nslots, 1, 2);
    bool pending;
    struct ttshm_table *nt = ttshm_preparer_take(w, enough, nslots, false, &pending);
    if (nt == NULL && pending) {
        if (mode == TTSHM_GROW_IF_NEEDED && ttshm_used_total(cur) <= TTSHM_HOLD_AT(cur->nslots))
            return; /* the table still has room: let the preparer finish */
        nt = ttshm_preparer_take(w, enough, nslots, true, &pending);
    }
    struct ttshm_view *mig = calloc(1, sizeof *mig), *done = calloc(1, sizeof *done);
    int rc = (mig && done) ? 0 : -TTSHM_E_NOMEM;
    if (rc == 0 && nt == NULL)
        rc = ttshm_table_create(w, nslots, &nt);
    if (rc != 0) {
        free(mig);
        free(done);
        ttshm_table_discard(w, nt);
        note_failure(w);
        ttshm_report(w, "cannot grow the table to %llu slots: %s; new records may be dropped",
                     (unsigned long long)nslots, ttshm_strerror(rc));
        return;
    }
    w->grow_failures = 0;
    atomic_store_explicit(&w->grow_retry_ns, 0, memory_order_relaxed);
    nt->start_live = live;
    *mig = (struct ttshm_view){.cur = nt, .old = cur, .after = done};
    *done = (struct ttshm_view){.cur = nt};
    set_tables(w->hdr, nt, cur);
    /* seq_cst, against the claims of threads still on the previous view:
     * each such claim is either seen by the migration or sees this view. */
    atomic_store_explicit(&w->view, mig, memory_order_seq_cst);
    ttshm_retire_view(w, v);
}
