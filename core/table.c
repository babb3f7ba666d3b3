/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The slot protocol on one open-addressing table (docs/design.md, "Write
 * protocol"). Linear probing from the key's home slot over the dense array
 * of control words; a slot itself is read only where the control word's
 * hash fragment matches the key's. A control word holds the slot's state
 * and a version that changes on every transition, so a CAS from a value
 * read earlier proves that the slot read since is still current.
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

static inline uint32_t ctl_acquire(const struct ttshm_table *t, uint64_t i)
{
    return atomic_load_explicit(&t->ctl[i], memory_order_acquire);
}

static inline uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline bool cas_ctl(struct ttshm_table *t, uint64_t i, uint32_t expect, uint32_t desired)
{
    /* seq_cst: a claim and a growth's publication of a new view are totally
     * ordered, so either the migration sees the claim or the claimant sees
     * the new view (docs/design.md, "Growth"). A lock cmpxchg on x86 either way. */
    return atomic_compare_exchange_strong_explicit(&t->ctl[i], &expect, desired,
                                                   memory_order_seq_cst, memory_order_seq_cst);
}

/* Whether slot s holds the record of (device and type, address, owner). */
static inline bool same_key(struct ttshm_slot *s, uint64_t devtype, uint64_t address,
                            uint64_t owner)
{
    uint64_t k = ld(&s->key);
    return TTSHM_KEY_DEVTYPE(k) == devtype && ld(&s->address) == address &&
           ttshm_key_owner(TTSHM_KEY_TYPE(k), ld(&s->tag)) == owner;
}

#define NO_SLOT UINT64_MAX

enum ttshm_probe ttshm_table_claim(struct ttshm_table *t, const struct ttshm_record *rec,
                                   uint64_t hash, bool dedup, struct ttshm_claim *out)
{
    const uint64_t devtype = TTSHM_KEY_DEVTYPE(rec->key);
    const uint32_t type = TTSHM_KEY_TYPE(rec->key);
    const uint64_t owner = ttshm_key_owner(type, rec->tag);
    const unsigned frag = ttshm_hash_frag(hash);
    /* CBs of one owner at one address share a hash: their run stops at half
     * the probe bound (the excess is dropped), so that every other key whose
     * hash falls inside it still reaches its end (issue 11, item 8). */
    const unsigned bound = type == TTSHM_CB ? TTSHM_MAX_PROBE / 2 : TTSHM_MAX_PROBE;
restart:;
    uint64_t cand = NO_SLOT;
    uint32_t cand_ctl = 0;
    bool cand_empty = false;
    uint64_t i = hash & t->mask;
    for (unsigned n = 0; n < bound; n++, i = (i + 1) & t->mask) {
        uint32_t c = ctl_acquire(t, i);
        unsigned st = TTSHM_CTL_STATE(c);
        if (st == TTSHM_SLOT_EMPTY) {
            if (cand == NO_SLOT) {
                cand = i;
                cand_ctl = c;
                cand_empty = true;
            }
            break; /* the end of the chain: the key is nowhere further */
        }
        if (st == TTSHM_SLOT_TOMB) {
            if (cand == NO_SLOT) {
                cand = i;
                cand_ctl = c;
            }
            if (!dedup)
                break; /* without dedup the first reusable slot will do */
        } else if (dedup && st == TTSHM_SLOT_LIVE && TTSHM_CTL_FRAG(c) == frag &&
                   same_key(&t->slots[i], devtype, rec->address, owner)) {
            uint64_t size = TTSHM_KEY_SIZE(ld(&t->slots[i].key));
            uint32_t busy = ttshm_ctl_next(c, TTSHM_SLOT_BUSY, frag);
            if (!cas_ctl(t, i, c, busy))
                goto restart;
            atomic_thread_fence(memory_order_release);
            *out = (struct ttshm_claim){t, i, busy, size, false};
            return TTSHM_PROBE_REPLACED;
        }
    }
    if (cand == NO_SLOT)
        return TTSHM_PROBE_FULL;
    uint32_t busy = ttshm_ctl_next(cand_ctl, TTSHM_SLOT_BUSY, frag);
    if (!cas_ctl(t, cand, cand_ctl, busy))
        goto restart; /* another thread took it first: it made progress */
    /* Orders the claim before the slot's stores, for readers' seqlock check. */
    atomic_thread_fence(memory_order_release);
    *out = (struct ttshm_claim){t, cand, busy, 0, cand_empty};
    return TTSHM_PROBE_DONE;
}

void ttshm_slot_publish(const struct ttshm_claim *c, const struct ttshm_record *rec)
{
    struct ttshm_slot *s = &c->table->slots[c->index];
    atomic_store_explicit(&s->address, rec->address, memory_order_relaxed);
    atomic_store_explicit(&s->tag, rec->tag, memory_order_relaxed);
    atomic_store_explicit(&s->key, rec->key, memory_order_relaxed);
    atomic_store_explicit(&s->origin, rec->origin, memory_order_relaxed);
    atomic_store_explicit(&c->table->ctl[c->index],
                          ttshm_ctl_next(c->busy_ctl, TTSHM_SLOT_LIVE, TTSHM_CTL_FRAG(c->busy_ctl)),
                          memory_order_release);
}

/* Waits until slot i leaves the state of control word c (a move in progress). */
static void wait_change(struct ttshm_table *t, uint64_t i, uint32_t c)
{
    for (unsigned spins = 0; ctl_acquire(t, i) == c;)
        backoff(&spins);
}

enum ttshm_probe ttshm_table_remove(struct ttshm_table *t, uint64_t devtype, uint64_t address,
                                    uint64_t owner, uint64_t hash, uint64_t *size)
{
    const unsigned frag = ttshm_hash_frag(hash);
restart:;
    uint64_t i = hash & t->mask;
    for (unsigned n = 0; n < TTSHM_MAX_PROBE; n++, i = (i + 1) & t->mask) {
        uint32_t c = ctl_acquire(t, i);
        unsigned st = TTSHM_CTL_STATE(c);
        if (st == TTSHM_SLOT_EMPTY)
            return TTSHM_PROBE_ABSENT;
        if ((st != TTSHM_SLOT_LIVE && st != TTSHM_SLOT_MOVING) || TTSHM_CTL_FRAG(c) != frag ||
            !same_key(&t->slots[i], devtype, address, owner))
            continue;
        if (st == TTSHM_SLOT_MOVING) {
            /* Another writer thread is copying this record into the new table;
             * it publishes the copy before retiring this slot. Wait for that,
             * then the caller finds the record in the new table. */
            wait_change(t, i, c);
            goto restart;
        }
        uint64_t sz = TTSHM_KEY_SIZE(ld(&t->slots[i].key));
        if (!cas_ctl(t, i, c, ttshm_ctl_next(c, TTSHM_SLOT_TOMB, frag)))
            goto restart;
        *size = sz;
        return TTSHM_PROBE_DONE;
    }
    return TTSHM_PROBE_ABSENT;
}

enum ttshm_move ttshm_slot_move(struct ttshm_table *from, uint64_t i, struct ttshm_table *to,
                                bool dedup, const struct ttshm_record *expect,
                                struct ttshm_move_out *out)
{
    uint32_t c;
    /* A claim in progress (BUSY) is published within a few stores: wait for
     * it, or its record could be left behind in a table about to be retired. */
    for (unsigned spins = 0;
         TTSHM_CTL_STATE(c = atomic_load_explicit(&from->ctl[i], memory_order_seq_cst)) ==
         TTSHM_SLOT_BUSY;)
        backoff(&spins);
    if (TTSHM_CTL_STATE(c) != TTSHM_SLOT_LIVE)
        return TTSHM_MOVE_NONE;
    struct ttshm_slot *s = &from->slots[i];
    struct ttshm_record rec = {ld(&s->address), ld(&s->tag), ld(&s->key), ld(&s->origin)};
    if (expect != NULL && (TTSHM_KEY_DEVTYPE(rec.key) != TTSHM_KEY_DEVTYPE(expect->key) ||
                           rec.address != expect->address || rec.tag != expect->tag))
        return TTSHM_MOVE_NONE; /* not that record: it was moved, the slot reused */
    const unsigned frag = TTSHM_CTL_FRAG(c);
    uint32_t moving = ttshm_ctl_next(c, TTSHM_SLOT_MOVING, frag);
    if (!cas_ctl(from, i, c, moving))
        return TTSHM_MOVE_NONE; /* freed or moved by another thread meanwhile */
    uint32_t type = TTSHM_KEY_TYPE(rec.key);
    uint64_t hash = ttshm_key_hash(TTSHM_KEY_DEVICE(rec.key), type, rec.address,
                                   ttshm_key_owner(type, rec.tag));
    struct ttshm_claim cl;
    enum ttshm_probe r = ttshm_table_claim(to, &rec, hash, dedup, &cl);
    if (r == TTSHM_PROBE_FULL) {
        atomic_store_explicit(&from->ctl[i], ttshm_ctl_next(moving, TTSHM_SLOT_LIVE, frag),
                              memory_order_release);
        return TTSHM_MOVE_FULL;
    }
    *out = (struct ttshm_move_out){cl.index, cl.old_size, cl.was_empty};
    ttshm_slot_publish(&cl, &rec);
    /* Release: whoever sees this slot retired also sees the copy. */
    atomic_store_explicit(&from->ctl[i], ttshm_ctl_next(moving, TTSHM_SLOT_TOMB, frag),
                          memory_order_release);
    return r == TTSHM_PROBE_REPLACED ? TTSHM_MOVE_REPLACED : TTSHM_MOVE_DONE;
}

/* Retires the live record of slot i whose control word was c, read before
 * its key: the CAS from c proves the key read since is that record's. */
static bool retire_from(struct ttshm_table *t, uint64_t i, uint32_t c)
{
    return cas_ctl(t, i, c, ttshm_ctl_next(c, TTSHM_SLOT_TOMB, TTSHM_CTL_FRAG(c)));
}

bool ttshm_slot_retire(struct ttshm_table *t, uint64_t i, uint64_t *key)
{
    uint32_t c = ctl_acquire(t, i);
    if (TTSHM_CTL_STATE(c) != TTSHM_SLOT_LIVE)
        return false;
    uint64_t k = ld(&t->slots[i].key);
    if (!retire_from(t, i, c))
        return false;
    *key = k;
    return true;
}

void ttshm_table_sweep(struct ttshm_table *t, uint32_t device, unsigned types,
                       struct ttshm_swept *swept)
{
    for (uint64_t i = 0; i < t->nslots;) {
        uint32_t c = ctl_acquire(t, i);
        unsigned st = TTSHM_CTL_STATE(c);
        if (st != TTSHM_SLOT_LIVE && st != TTSHM_SLOT_MOVING) {
            i++;
            continue;
        }
        uint64_t k = ld(&t->slots[i].key);
        if (TTSHM_KEY_DEVICE(k) != device || !(types & (1u << TTSHM_KEY_TYPE(k)))) {
            i++;
            continue;
        }
        if (st == TTSHM_SLOT_MOVING) {
            /* Its copy is published before this slot is retired, and the
             * sweep of the table it moves to comes after this one. A move
             * that found no room leaves it live here: look again. */
            wait_change(t, i, c);
            continue;
        }
        if (!retire_from(t, i, c))
            continue; /* it changed under us: look again */
        swept->count[TTSHM_KEY_TYPE(k)]++;
        swept->bytes[TTSHM_KEY_TYPE(k)] += TTSHM_KEY_SIZE(k);
        i++;
    }
}
