/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A single-writer shared-memory table of live buffers with ttshm's per
 * device x type counters: the state the `floor` design keeps, and the one the
 * `mutex` baseline keeps behind its lock.
 *
 * Layout of the one POSIX shm object: a header (the lock the mutex baseline
 * takes, sizes, the counters), one control byte per slot (0: empty, else
 * 0x80 | 7 bits of the key's hash, so a probe reads 64 slots per cache line
 * and a record only when its hash bits match), then 48-byte records with
 * every field a ttshm record keeps (address, size, tag, timestamp, device,
 * type, tid, generation). Each record has a sequence number, odd while it is
 * written, so a reader in another process can copy it torn-free as from a
 * seqlock; the writer publishes with release ordering only (plain stores on
 * x86). One writer at a time: no CAS, no RCU. Deletion shifts later records
 * of the probe run back (no tombstones, so no rebuilds), and the table is
 * sized once for the stream (load <= 1/2): it never grows.
 */
#ifndef TTSHM_BENCH_SHM_TABLE_H
#define TTSHM_BENCH_SHM_TABLE_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "events.h"
#include "ttshm/types.h"

struct st_record {
    _Atomic uint32_t seq; /* odd while the record is being written */
    uint32_t generation;
    uint64_t address, size, tag, timestamp_ns;
    uint64_t meta; /* device:16 << 48 | type:8 << 40 | tid:32 */
};
_Static_assert(sizeof(struct st_record) == 48, "a record is 48 bytes");

struct st_counters {
    uint64_t allocs, frees, alloc_bytes, freed_bytes, peak_bytes, unknown_frees, duplicate_allocs,
        dropped;
};

struct st_header {
    pthread_mutex_t lock; /* taken by the mutex baseline only */
    uint64_t nslots, live;
    uint32_t generation;
    alignas(64) struct st_counters counters[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    /* then: _Atomic uint8_t ctl[nslots]; struct st_record records[nslots] (64-aligned) */
};

struct shm_table {
    struct st_header *h;
    _Atomic uint8_t *ctl;
    struct st_record *rec;
    uint64_t mask;
    size_t bytes;
    char name[64];
};

/* Creates "/<registry>_<tag>" sized for max_live records. 0, or -1 with err. */
int shm_table_open(struct shm_table *t, const char *registry, const char *tag, uint64_t max_live,
                   char *err, size_t errlen);
void shm_table_close(struct shm_table *t);

/* One event; the caller holds whatever lock its design needs. */
void shm_table_alloc(struct shm_table *t, const struct bench_event *e, uint64_t now, unsigned tid);
void shm_table_free(struct shm_table *t, const struct bench_event *e);

/* Totals of the counters, cross-checked against the control bytes. */
void shm_table_check(const struct shm_table *t, struct design_check *out);

#endif
