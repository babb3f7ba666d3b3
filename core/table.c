/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The slot protocol on one open-addressing table (docs/design.md, "Write
 * protocol"). Linear probing from the key's home slot; a slot's ctl word holds
 * its state and a version that changes on every transition, so a CAS from a
 * value read earlier proves the fields read since are still current.
 *
 * Operations on the same key never race: the runtime frees a buffer only after
 * its allocation returned. Only operations on different keys run concurrently,
 * and they meet only in slot claims, which are CASes.
 */
#include <sched.h>

#include "writer_internal.h"

/* Waits for another writer thread to finish a transition of a slot (a claim
 * being filled, a record being moved): a few stores away, unless that thread
 * was preempted, in which case spinning would only keep it off the CPU. */
static inline void backoff(unsigned *spins)
{
    if (++*spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#endif
    } else {
        sched_yield();
    }
}

static inline uint64_t ld_acq(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline bool cas_ctl(struct ttshm_slot *s, uint64_t expect, uint64_t desired)
{
    /* seq_cst: a claim and a growth's publication of a new view are totally
     * ordered, so either the migration sees the claim or the claimant sees
     * the new view (docs/design.md, "Growth"). A lock cmpxchg on x86 either way. */
    return atomic_compare_exchange_strong_explicit(&s->ctl, &expect, desired, memory_order_seq_cst,
                                                   memory_order_seq_cst);
}

/* A record is dead once the epoch of its device x type moved on (a free-all). */
static inline bool stale(const struct ttshm_header *h, uint64_t meta, uint64_t epoch)
{
    uint32_t dev = TTSHM_META_DEVICE(meta), type = TTSHM_META_TYPE(meta);
    if (dev >= TTSHM_MAX_DEVICES || type >= TTSHM_TYPE_SLOTS)
        return true;
    return atomic_load_explicit(&h->epoch[dev][type], memory_order_acquire) != epoch;
}

/* Whether the slot holds the record of key (meta's device and type, address, owner). */
static inline bool same_key(struct ttshm_slot *s, uint64_t key, uint64_t address, uint64_t owner)
{
    uint64_t m = ld(&s->meta);
    return TTSHM_META_KEY(m) == key && ld(&s->address) == address &&
           ttshm_key_owner(TTSHM_META_TYPE(m), ld(&s->tag)) == owner;
}

enum ttshm_probe ttshm_table_claim(struct ttshm_table *t, const struct ttshm_record *rec,
                                   uint64_t hash, bool dedup, const struct ttshm_header *h,
                                   struct ttshm_claim *out)
{
    const uint64_t key = TTSHM_META_KEY(rec->meta);
    const uint64_t owner = ttshm_key_owner(TTSHM_META_TYPE(rec->meta), rec->tag);
restart:;
    struct ttshm_slot *cand = NULL;
    uint64_t cand_ctl = 0;
    bool cand_empty = false;
    uint64_t i = hash & t->mask;
    /* CBs of one owner at one address share a hash: their run stops at half
     * the probe bound (the excess is dropped), so that every other key whose
     * hash falls inside it still reaches its end (issue 11, item 8). */
    const unsigned bound =
        TTSHM_META_TYPE(rec->meta) == TTSHM_CB ? TTSHM_MAX_PROBE / 2 : TTSHM_MAX_PROBE;
    for (unsigned n = 0; n < bound; n++, i = (i + 1) & t->mask) {
        struct ttshm_slot *s = &t->slots[i];
        uint64_t c = ld_acq(&s->ctl);
        unsigned st = TTSHM_CTL_STATE(c);
        if (st == TTSHM_SLOT_EMPTY) {
            if (cand == NULL) {
                cand = s;
                cand_ctl = c;
                cand_empty = true;
            }
            break; /* the end of the chain: the key is nowhere further */
        }
        if (st == TTSHM_SLOT_TOMB) {
            if (cand == NULL) {
                cand = s;
                cand_ctl = c;
            }
        } else if (st == TTSHM_SLOT_LIVE) {
            bool dead = stale(h, ld(&s->meta), ld(&s->epoch));
            if (dedup && !dead && same_key(s, key, rec->address, owner)) {
                uint64_t size = ld(&s->size);
                uint64_t busy = TTSHM_CTL_NEXT(c, TTSHM_SLOT_BUSY);
                if (!cas_ctl(s, c, busy))
                    goto restart;
                atomic_thread_fence(memory_order_release);
                *out = (struct ttshm_claim){s, busy, size, false};
                return TTSHM_PROBE_REPLACED;
            }
            if (cand == NULL && dead) {
                cand = s;
                cand_ctl = c;
            }
        }
        /* Without dedup the first reusable slot will do. */
        if (cand != NULL && !dedup)
            break;
    }
    if (cand == NULL)
        return TTSHM_PROBE_FULL;
    uint64_t busy = TTSHM_CTL_NEXT(cand_ctl, TTSHM_SLOT_BUSY);
    if (!cas_ctl(cand, cand_ctl, busy))
        goto restart; /* another thread took it first: it made progress */
    /* Orders the claim before the field stores, for readers' seqlock check. */
    atomic_thread_fence(memory_order_release);
    *out = (struct ttshm_claim){cand, busy, 0, cand_empty};
    return TTSHM_PROBE_DONE;
}

void ttshm_slot_publish(const struct ttshm_claim *c, const struct ttshm_record *rec)
{
    struct ttshm_slot *s = c->slot;
    atomic_store_explicit(&s->address, rec->address, memory_order_relaxed);
    atomic_store_explicit(&s->size, rec->size, memory_order_relaxed);
    atomic_store_explicit(&s->tag, rec->tag, memory_order_relaxed);
    atomic_store_explicit(&s->timestamp_ns, rec->timestamp_ns, memory_order_relaxed);
    atomic_store_explicit(&s->meta, rec->meta, memory_order_relaxed);
    atomic_store_explicit(&s->epoch, rec->epoch, memory_order_relaxed);
    atomic_store_explicit(&s->check,
                          ttshm_slot_check(rec->address, rec->size, rec->tag, rec->timestamp_ns,
                                           rec->meta, rec->epoch),
                          memory_order_relaxed);
    atomic_store_explicit(&s->ctl, TTSHM_CTL_NEXT(c->busy_ctl, TTSHM_SLOT_LIVE),
                          memory_order_release);
}

enum ttshm_probe ttshm_table_remove(struct ttshm_table *t, uint64_t meta, uint64_t address,
                                    uint64_t owner, uint64_t hash, const struct ttshm_header *h,
                                    uint64_t *size)
{
    const uint64_t key = TTSHM_META_KEY(meta);
restart:;
    uint64_t i = hash & t->mask;
    for (unsigned n = 0; n < TTSHM_MAX_PROBE; n++, i = (i + 1) & t->mask) {
        struct ttshm_slot *s = &t->slots[i];
        uint64_t c = ld_acq(&s->ctl);
        unsigned st = TTSHM_CTL_STATE(c);
        if (st == TTSHM_SLOT_EMPTY)
            return TTSHM_PROBE_ABSENT;
        if (st != TTSHM_SLOT_LIVE && st != TTSHM_SLOT_MOVING)
            continue;
        if (!same_key(s, key, address, owner) || stale(h, ld(&s->meta), ld(&s->epoch)))
            continue;
        if (st == TTSHM_SLOT_MOVING) {
            /* Another writer thread is copying this record into the new table;
             * it publishes the copy before retiring this slot. Wait for that,
             * then the caller finds the record in the new table. */
            for (unsigned spins = 0; ld_acq(&s->ctl) == c;)
                backoff(&spins);
            goto restart;
        }
        uint64_t sz = ld(&s->size);
        if (!cas_ctl(s, c, TTSHM_CTL_NEXT(c, TTSHM_SLOT_TOMB)))
            goto restart;
        *size = sz;
        return TTSHM_PROBE_DONE;
    }
    return TTSHM_PROBE_ABSENT;
}

enum ttshm_move ttshm_slot_move(struct ttshm_slot *s, struct ttshm_table *to,
                                const struct ttshm_header *h, bool dedup,
                                const struct ttshm_record *expect, struct ttshm_move_out *out)
{
    uint64_t c;
    /* A claim in progress (BUSY) is published within a few stores: wait for
     * it, or its record could be left behind in a table about to be retired. */
    for (unsigned spins = 0;
         TTSHM_CTL_STATE(c = atomic_load_explicit(&s->ctl, memory_order_seq_cst)) ==
         TTSHM_SLOT_BUSY;)
        backoff(&spins);
    if (TTSHM_CTL_STATE(c) != TTSHM_SLOT_LIVE)
        return TTSHM_MOVE_NONE;
    struct ttshm_record rec = {ld(&s->address),      ld(&s->size), ld(&s->tag),
                               ld(&s->timestamp_ns), ld(&s->meta), ld(&s->epoch)};
    if (expect != NULL && (TTSHM_META_KEY(rec.meta) != TTSHM_META_KEY(expect->meta) ||
                           rec.address != expect->address || rec.tag != expect->tag))
        return TTSHM_MOVE_NONE; /* not that record: it was moved, the slot reused */
    if (stale(h, rec.meta, rec.epoch)) {
        cas_ctl(s, c, TTSHM_CTL_NEXT(c, TTSHM_SLOT_TOMB)); /* dead already: drop */
        return TTSHM_MOVE_NONE;
    }
    uint64_t moving = TTSHM_CTL_NEXT(c, TTSHM_SLOT_MOVING);
    if (!cas_ctl(s, c, moving))
        return TTSHM_MOVE_NONE; /* freed or moved by another thread meanwhile */
    uint32_t type = TTSHM_META_TYPE(rec.meta);
    uint64_t hash = ttshm_key_hash(TTSHM_META_DEVICE(rec.meta), type, rec.address,
                                   ttshm_key_owner(type, rec.tag));
    struct ttshm_claim cl;
    enum ttshm_probe r = ttshm_table_claim(to, &rec, hash, dedup, h, &cl);
    if (r == TTSHM_PROBE_FULL) {
        atomic_store_explicit(&s->ctl, TTSHM_CTL_NEXT(moving, TTSHM_SLOT_LIVE),
                              memory_order_release);
        return TTSHM_MOVE_FULL;
    }
    *out = (struct ttshm_move_out){cl.slot, cl.old_size, cl.was_empty};
    ttshm_slot_publish(&cl, &rec);
    /* Release: whoever sees this slot retired also sees the copy. */
    atomic_store_explicit(&s->ctl, TTSHM_CTL_NEXT(moving, TTSHM_SLOT_TOMB), memory_order_release);
    return r == TTSHM_PROBE_REPLACED ? TTSHM_MOVE_REPLACED : TTSHM_MOVE_DONE;
}
