/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recycling of drained tables. Under steady churn a table fills with
 * tombstones and is rebuilt at its own size, again and again: creating a
 * shared-memory object each time (posix_fallocate, a page fault per page,
 * then munmap and its TLB shootdowns on retirement) costs the process far
 * more than the recording calls themselves. So the last drained table is
 * kept, emptied, and taken again by the next table of its size: a table
 * rebuilt under churn alternates between two objects and creates none.
 *
 * Emptying is safe for readers in other processes, which may still have the
 * object mapped: every slot goes to EMPTY with its ctl version moved on,
 * never back, so a reader that copied a slot before cannot validate its copy
 * against the new ctl (no ABA), and the header names the table again only
 * under a new seq. The object keeps its name and epoch; a table is never
 * named by both old and current epoch at once, so the reuse of an epoch is
 * unambiguous.
 *
 * One drained table is kept: reserved when its drain completes (and then
 * not unlinked; a spare of another size is dropped then), emptied and made
 * the spare after its grace period. Every other drained table is unlinked
 * at once, so a writer that dies leaves at most one object more than
 * before (docs/design.md).
 */
#include "table_object.h"
#include "table_pool.h"

/* Empties t (after a grace period: no writer thread can still be on it) and
 * resets the writer's own state of it. */
static void empty_table(struct ttshm_table *t)
{
    for (uint64_t i = 0; i < t->nslots; i++) {
        uint32_t c = atomic_load_explicit(&t->ctl[i], memory_order_relaxed);
        if (TTSHM_CTL_STATE(c) != TTSHM_SLOT_EMPTY)
            atomic_store_explicit(&t->ctl[i], ttshm_ctl_next(c, TTSHM_SLOT_EMPTY, 0),
                                  memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_release);
    t->retired_next = NULL;
    t->start_live = 0;
    atomic_store_explicit(&t->trend_live, 0, memory_order_relaxed);
    atomic_store_explicit(&t->trend_used, 0, memory_order_relaxed);
    atomic_store_explicit(&t->gate, TTSHM_GATE_OPEN, memory_order_relaxed);
    for (unsigned s = 0; s < TTSHM_USED_SHARDS; s++)
        atomic_store_explicit(&t->used[s].n, 0, memory_order_relaxed);
    atomic_store_explicit(&t->migrate_next, 0, memory_order_relaxed);
    atomic_store_explicit(&t->migrate_done, 0, memory_order_relaxed);
}

void ttshm_table_discard(struct ttshm_writer *w, struct ttshm_table *t)
{
    if (t == NULL)
        return;
    ttshm_table_unlink(w, t->epoch);
    ttshm_table_destroy(t);
}

bool ttshm_table_pool_reserve(struct ttshm_writer *w, struct ttshm_table *t)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    /* The newest drained table has the size the next rebuild will want: it
     * replaces a spare of another size (left by an earlier growth). */
    t->pooled =
        (p->spare == NULL || p->spare->nslots != t->nslots) && !p->spare_reserved && !p->stop;
    struct ttshm_table *replaced = NULL;
    if (t->pooled) {
        p->spare_reserved = true;
        p->reserved_slots = t->nslots;
        /* At most one kept table in /dev/shm: the one it replaces goes now
         * (its name at once, its mapping in the background thread). */
        replaced = p->spare;
        p->spare = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (replaced != NULL) {
        replaced->pooled = false;
        ttshm_table_unlink(w, replaced->epoch);
        ttshm_retire_table(w, replaced);
    }
    return t->pooled;
}

void ttshm_table_pool_put(struct ttshm_writer *w, struct ttshm_table *t)
{
    struct ttshm_preparer *p = &w->prep;
    if (!t->pooled) {
        ttshm_table_destroy(t); /* unlinked when its drain completed */
        return;
    }
    empty_table(t); /* outside the lock: a large table takes milliseconds */
    pthread_mutex_lock(&p->lock);
    p->spare_reserved = false;
    bool keep = !p->stop && p->spare == NULL;
    if (keep)
        p->spare = t;
    pthread_cond_broadcast(&p->done); /* a growth may wait for it */
    pthread_mutex_unlock(&p->lock);
    if (!keep)
        ttshm_table_discard(w, t);
}

bool ttshm_table_pool_covers(const struct ttshm_preparer *p, uint64_t min_slots, uint64_t max_slots)
{
    uint64_t n = p->spare != NULL ? p->spare->nslots : p->spare_reserved ? p->reserved_slots : 0;
    return n >= min_slots && n <= max_slots;
}

struct ttshm_table *ttshm_table_pool_take_locked(struct ttshm_preparer *p, uint64_t min_slots,
                                                 uint64_t max_slots)
{
    struct ttshm_table *t = p->spare;
    if (t == NULL || t->nslots < min_slots || t->nslots > max_slots)
        return NULL;
    p->spare = NULL;
    t->pooled = false;
    return t;
}

struct ttshm_table *ttshm_table_pool_take(struct ttshm_writer *w, uint64_t nslots)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    struct ttshm_table *t = ttshm_table_pool_take_locked(p, nslots, nslots);
    pthread_mutex_unlock(&p->lock);
    return t;
}

void ttshm_table_pool_drain(struct ttshm_writer *w)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    struct ttshm_table *t = p->spare;
    p->spare = NULL;
    pthread_mutex_unlock(&p->lock);
    ttshm_table_discard(w, t);
}
