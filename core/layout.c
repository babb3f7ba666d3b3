/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing and validation of the segment layout, shared by writer and reader. */
#include "layout.h"

int ttshm_header_validate(const struct ttshm_header *h, uint64_t mapped_size)
{
    if (mapped_size < sizeof(h->magic))
        return -TTSHM_E_BADMAGIC;
    if (atomic_load_explicit(&h->magic, memory_order_acquire) != TTSHM_HEADER_MAGIC)
        return -TTSHM_E_BADMAGIC;
    if (mapped_size < offsetof(struct ttshm_header, seq))
        return -TTSHM_E_CORRUPT;
    if (h->abi_major != TTSHM_ABI_MAJOR || h->word_size != sizeof(void *))
        return -TTSHM_E_VERSION;
    /* Same major: the layout we know is a prefix of what the writer has. */
    if (h->header_size < sizeof(struct ttshm_header) || h->slot_size != sizeof(struct ttshm_slot) ||
        h->max_devices != TTSHM_MAX_DEVICES || h->type_slots != TTSHM_TYPE_SLOTS ||
        h->counters_offset != offsetof(struct ttshm_header, counters) ||
        h->prev_offset != offsetof(struct ttshm_header, prev) || h->object_size < h->header_size ||
        h->object_size > mapped_size || mapped_size < sizeof(struct ttshm_header))
        return -TTSHM_E_CORRUPT;
    return 0;
}

int ttshm_table_validate(const struct ttshm_table_header *t, uint64_t mapped_size,
                         uint64_t instance_id, uint64_t epoch, uint64_t nslots)
{
    if (mapped_size < sizeof(*t))
        return -TTSHM_E_CORRUPT;
    if (atomic_load_explicit(&t->magic, memory_order_relaxed) != TTSHM_TABLE_MAGIC)
        return -TTSHM_E_CORRUPT;
    if (atomic_load_explicit(&t->instance_id, memory_order_relaxed) != instance_id ||
        atomic_load_explicit(&t->epoch, memory_order_relaxed) != epoch)
        return -TTSHM_E_BUSY; /* a different session or table: the caller re-reads */
    if (atomic_load_explicit(&t->nslots, memory_order_relaxed) != nslots ||
        atomic_load_explicit(&t->slot_size, memory_order_relaxed) != sizeof(struct ttshm_slot) ||
        atomic_load_explicit(&t->ctl_offset, memory_order_relaxed) != TTSHM_CTL_OFFSET ||
        atomic_load_explicit(&t->slots_offset, memory_order_relaxed) != ttshm_slots_offset(nslots))
        return -TTSHM_E_CORRUPT;
    if (nslots < TTSHM_MIN_TABLE || nslots > TTSHM_MAX_TABLE || (nslots & (nslots - 1)) != 0 ||
        mapped_size < ttshm_table_bytes(nslots))
        return -TTSHM_E_CORRUPT;
    return 0;
}

void ttshm_counters_live(const struct ttshm_counter_block *c, uint64_t *count, uint64_t *bytes)
{
    uint64_t f = atomic_load_explicit(&c->frees, memory_order_acquire);
    uint64_t fb = atomic_load_explicit(&c->freed_bytes, memory_order_acquire);
    uint64_t a = atomic_load_explicit(&c->allocs, memory_order_acquire);
    uint64_t ab = atomic_load_explicit(&c->alloc_bytes, memory_order_acquire);
    /* A hostile or racing free-all-CBs can make frees overtake allocs: clamp. */
    *count = a > f ? a - f : 0;
    *bytes = ab > fb ? ab - fb : 0;
}
