/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A set of entry keys, to list each buffer once (docs/format.md section 6,
 * "What a snapshot guarantees"). The key of an ordinary buffer is the
 * writer's, (device, type, address): one live record each. Several live CB
 * records may share a key (device, address, owner), so a CB's key is the
 * whole entry. Keys are stored as 64-bit hashes: a forged collision can only
 * hide a record of the forger's own segment.
 */
#ifndef TTSHM_READER_KEYSET_H
#define TTSHM_READER_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttshm/reader.h"

struct keyset {
    uint64_t *slot; /* 0: empty */
    size_t mask, n;
};

/* Empties the set, sized for n keys (keeps its memory when large enough). */
int keyset_reset(struct keyset *s, size_t n);
/* 1 if added, 0 if it was there already, -TTSHM_E_NOMEM. */
int keyset_add(struct keyset *s, const struct ttshm_entry *e);
void keyset_free(struct keyset *s);

/* Drops later entries whose key an earlier one has; returns the new count. */
int keyset_dedup(struct keyset *s, struct ttshm_entry *v, size_t n, size_t *out_n);

#endif
