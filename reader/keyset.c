/* SPDX-License-Identifier: Apache-2.0 */
#include "keyset.h"

#include <stdlib.h>
#include <string.h>

#include "layout.h"

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t entry_key(const struct ttshm_entry *e)
{
    uint64_t k = ttshm_key_hash(e->device, e->type, e->address, ttshm_key_owner(e->type, e->tag));
    if (e->type == TTSHM_CB) /* several live CB records may share a key */
        k = mix(k ^ mix(e->size ^ mix(e->timestamp_ns ^ ((uint64_t)e->tid << 32))));
    return k ? k : 1;
}

int keyset_reset(struct keyset *s, size_t n)
{
    size_t cap = 1024;
    while (cap < n * 2)
        cap <<= 1;
    if (s->slot == NULL || s->mask + 1 < cap) {
        free(s->slot);
        s->slot = malloc(cap * sizeof *s->slot);
        if (s->slot == NULL) {
            s->mask = s->n = 0;
            return -TTSHM_E_NOMEM;
        }
        s->mask = cap - 1;
    }
    memset(s->slot, 0, (s->mask + 1) * sizeof *s->slot);
    s->n = 0;
    return 0;
}

static void insert(uint64_t *slot, size_t mask, uint64_t k)
{
    size_t i = k & mask;
    while (slot[i] != 0)
        i = (i + 1) & mask;
    slot[i] = k;
}

static int grow(struct keyset *s)
{
    size_t cap = (s->mask + 1) * 2;
    uint64_t *ns = calloc(cap, sizeof *ns);
    if (ns == NULL)
        return -TTSHM_E_NOMEM;
    for (size_t i = 0; i <= s->mask; i++)
        if (s->slot[i] != 0)
            insert(ns, cap - 1, s->slot[i]);
    free(s->slot);
    s->slot = ns;
    s->mask = cap - 1;
    return 0;
}

int keyset_add(struct keyset *s, const struct ttshm_entry *e)
{
    if ((s->n + 1) * 2 > s->mask + 1) {
        int rc = s->slot ? grow(s) : keyset_reset(s, 0);
        if (rc)
            return rc;
    }
    uint64_t k = entry_key(e);
    size_t i = k & s->mask;
    for (; s->slot[i] != 0; i = (i + 1) & s->mask)
        if (s->slot[i] == k)
            return 0;
    s->slot[i] = k;
    s->n++;
    return 1;
}

void keyset_free(struct keyset *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}

int keyset_dedup(struct keyset *s, struct ttshm_entry *v, size_t n, size_t *out_n)
{
    int rc = keyset_reset(s, n);
    size_t kept = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = keyset_add(s, &v[i]);
        if (rc == 1) {
            v[kept++] = v[i];
            rc = 0;
        }
    }
    *out_n = rc == 0 ? kept : n;
    return rc;
}
