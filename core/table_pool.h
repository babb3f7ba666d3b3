/* SPDX-License-Identifier: Apache-2.0 */
/* One drained table kept for reuse, so that rebuilds under steady churn
 * create no shared-memory object (table_pool.c). */
#ifndef TTSHM_TABLE_POOL_H
#define TTSHM_TABLE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "writer_internal.h"

/* At the end of t's drain: whether t is to be kept as the spare (then its
 * object stays linked), else the caller unlinks it. */
bool ttshm_table_pool_reserve(struct ttshm_writer *w, struct ttshm_table *t);
/* After t's grace period: makes t the spare, emptied, if it was reserved;
 * else unmaps it. */
void ttshm_table_pool_put(struct ttshm_writer *w, struct ttshm_table *t);
/* Whether the spare, or the table reserved to become it, has between
 * min_slots and max_slots slots. Caller holds p->lock. */
bool ttshm_table_pool_covers(const struct ttshm_preparer *p, uint64_t min_slots,
                             uint64_t max_slots);
/* The spare if it has between min_slots and max_slots slots, else NULL.
 * Caller holds p->lock. */
struct ttshm_table *ttshm_table_pool_take_locked(struct ttshm_preparer *p, uint64_t min_slots,
                                                 uint64_t max_slots);
/* The spare if it has exactly nslots slots, else NULL. */
struct ttshm_table *ttshm_table_pool_take(struct ttshm_writer *w, uint64_t nslots);
/* Discards the spare (close, fork). */
void ttshm_table_pool_drain(struct ttshm_writer *w);
/* Unlinks t's object and unmaps it. NULL: nothing. */
void ttshm_table_discard(struct ttshm_writer *w, struct ttshm_table *t);

#endif
