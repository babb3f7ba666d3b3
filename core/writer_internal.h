/* SPDX-License-Identifier: Apache-2.0 */
/* The writer's private state: process memory only, never in the segment. */
#ifndef TTSHM_WRITER_INTERNAL_H
#define TTSHM_WRITER_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "layout.h"
#include "rcu.h"
#include "ttshm/writer.h"

#define TTSHM_USED_SHARDS 16
/* The largest buffer recorded (256 TiB): a larger size is bad input,
 * counted as dropped, so that no byte counter (a sum of sizes) can wrap. */
#define TTSHM_MAX_RECORD_BYTES (1ull << 48)
_Static_assert(TTSHM_MAX_RECORD_BYTES <= TTSHM_SIZE_MASK, "a recorded size fits its slot field");
/* Slots moved from the old table to the new one per recording call. */
#define TTSHM_MIGRATE_CHUNK 32

/* A mapped table object. */
struct ttshm_table {
    struct ttshm_table *retired_next; /* on the reclaiming thread's list */
    struct ttshm_table_header *hdr;
    _Atomic uint32_t *ctl;    /* nslots control words */
    struct ttshm_slot *slots; /* nslots slots */
    uint64_t nslots;
    uint64_t mask;
    uint64_t epoch;
    size_t map_bytes;
    uint64_t check_mask; /* how often a used-shard increment re-sums the shards */
    uint64_t start_live; /* live records when the table was published */
    /* Live records and used slots when the used slots first passed
     * TTSHM_TREND_AT (0: not yet): the projection of the next table's size
     * reads the trend from there, not from a fill that ended since. */
    _Atomic uint64_t trend_live, trend_used;
    bool pooled; /* reserved as the spare (table_pool.c) */
    /* TTSHM_GATE_*: set when a sum of the used shards passed a threshold, and
     * read before every claim, so that every thread holds back, not only the
     * one that happened to sum. Only ever raised. */
    _Atomic unsigned gate;
    /* Claims of never-used slots, sharded by thread to keep the line cold. */
    struct {
        alignas(TTSHM_CACHELINE) _Atomic uint64_t n;
    } used[TTSHM_USED_SHARDS];
    /* Migration, when this table is being drained: */
    alignas(TTSHM_CACHELINE) _Atomic uint64_t migrate_next; /* next chunk to claim */
    _Atomic uint64_t migrate_done;                          /* chunks finished */
};

/* What a recording call works on: immutable once published, swapped whole under
 * RCU. `old` is non-NULL while its live entries are being moved into `cur`. */
struct ttshm_view {
    struct ttshm_table *cur;
    struct ttshm_table *old;
    struct ttshm_view *after;        /* {cur, NULL}, published when `old` is drained */
    struct ttshm_view *retired_next; /* on the reclaiming thread's list */
};

/* prepare.c: one of the writer's two background threads. */
struct ttshm_worker {
    pthread_t thread;
    bool started;
    pthread_cond_t wake; /* work came */
};

/* prepare.c: the threads that create the next table ahead of need and
 * reclaim what growth retired. */
struct ttshm_preparer {
    pthread_mutex_t lock;
    struct ttshm_worker maker, reclaimer;
    pthread_cond_t done;              /* a table was made */
    bool stop, busy;                  /* busy: making a table right now */
    uint64_t want_slots;              /* the request (0: none) */
    struct ttshm_table *ready;        /* made, not yet taken */
    struct ttshm_table *spare;        /* drained and emptied, for reuse (table_pool.c) */
    bool spare_reserved;              /* a drained table will become the spare */
    uint64_t reserved_slots;          /* ... of this size */
    struct ttshm_view *retired_views; /* to free after a grace period */
    struct ttshm_table *retired_tables;
    _Atomic uint64_t asked_for_epoch; /* one request per current table */
};

struct ttshm_writer {
    struct ttshm_header *hdr;
    size_t hdr_bytes;
    int fd; /* the header object; holds the OFD lock that says "alive" */
    char registry[TTSHM_NAME_MAX + 1];
    unsigned slot;
    char segment[128]; /* without the leading '/' */
    uint64_t generation;
    uint64_t instance_id;
    uint32_t mode;
    bool report_errors;

    _Atomic(struct ttshm_view *) view;
    _Atomic int closed;   /* recording calls return TTSHM_OFF */
    _Atomic int reported; /* one stderr report per writer */

    /* Per device: serialises CB records with the device's free-alls, so a
     * CB is either swept or recorded after the sweep. CB calls are per
     * program, not per buffer: they can afford an uncontended lock. */
    pthread_mutex_t cb_lock[TTSHM_MAX_DEVICES];

    /* Serialises growth, migration completion and close. */
    pthread_mutex_t grow_lock;
    _Atomic uint64_t next_epoch;
    /* After a failed growth no claim tries again before retry_ns
     * (CLOCK_MONOTONIC): the wait doubles with each failure in a row, so a
     * full /dev/shm costs a dropped record almost nothing (growth.c). */
    _Atomic uint64_t grow_retry_ns;
    unsigned grow_failures; /* in a row; under grow_lock */
    /* The epoch of a table a claim found without room, growth having
     * failed: until grow_retry_ns claims on it drop at once instead of
     * probing it whole (record.c). */
    _Atomic uint64_t no_room_epoch;
    struct ttshm_preparer prep;

    struct ttshm_writer *list_next; /* all writers of the process, for fork */
};

/* record.c: a forked child's threads get new ids. */
void ttshm_forget_thread_id(void);

/* table.c: the slot protocol on one table. */
struct ttshm_record {
    uint64_t address, tag, key, origin; /* as in struct ttshm_slot */
};
enum ttshm_probe {
    TTSHM_PROBE_DONE = 0,     /* claimed a free slot / found and removed */
    TTSHM_PROBE_ABSENT = 1,   /* no such key */
    TTSHM_PROBE_FULL = 2,     /* no free slot within TTSHM_MAX_PROBE */
    TTSHM_PROBE_REPLACED = 3, /* claim found the key live and took its slot */
};
struct ttshm_claim {
    struct ttshm_table *table;
    uint64_t index;    /* the slot claimed */
    uint32_t busy_ctl; /* control word the claim stored (state BUSY) */
    uint64_t old_size; /* REPLACED: size of the record taken over */
    bool was_empty;    /* the slot had never been used */
};
/* Claims a slot for rec (state BUSY): with dedup (non-CB types), the slot of a
 * live record with the same key is taken over (REPLACED). The caller updates
 * counters, then calls ttshm_slot_publish. */
enum ttshm_probe ttshm_table_claim(struct ttshm_table *t, const struct ttshm_record *rec,
                                   uint64_t hash, bool dedup, struct ttshm_claim *out);
void ttshm_slot_publish(const struct ttshm_claim *c, const struct ttshm_record *rec);
/* Removes the live record of (devtype: TTSHM_KEY_DEVTYPE, address, owner:
 * ttshm_key_owner); its size in *size. In a table being drained, waits out
 * a concurrent move of that very record. */
enum ttshm_probe ttshm_table_remove(struct ttshm_table *t, uint64_t devtype, uint64_t address,
                                    uint64_t owner, uint64_t hash, uint64_t *size);
enum ttshm_move {
    TTSHM_MOVE_NONE = 0,     /* nothing live to move */
    TTSHM_MOVE_DONE = 1,     /* moved */
    TTSHM_MOVE_REPLACED = 2, /* moved over a live record of the same key (dedup) */
    TTSHM_MOVE_FULL = 3,     /* `to` had no room: the record stays live where it was */
};
struct ttshm_move_out {
    uint64_t index;     /* where the copy went in `to` */
    uint64_t old_size;  /* REPLACED: size of the record overwritten */
    bool claimed_empty; /* the copy took a never-used slot */
};
/* Moves the live record of slot i of `from` to `to`: LIVE -> MOVING, copy
 * published, -> TOMB. expect (if not NULL): only a record of its key. */
enum ttshm_move ttshm_slot_move(struct ttshm_table *from, uint64_t i, struct ttshm_table *to,
                                bool dedup, const struct ttshm_record *expect,
                                struct ttshm_move_out *out);
/* Retires the live record of slot i (LIVE -> TOMB); its key word in *key.
 * False if it was not live. */
bool ttshm_slot_retire(struct ttshm_table *t, uint64_t i, uint64_t *key);
/* What a sweep retired, per type. */
struct ttshm_swept {
    uint64_t count[TTSHM_TYPE_SLOTS], bytes[TTSHM_TYPE_SLOTS];
};
/* Retires every live record of `device` whose type is in the bit mask
 * `types`; one being moved out of t is waited for (its copy is then in the
 * table it went to, which the caller sweeps after t). */
void ttshm_table_sweep(struct ttshm_table *t, uint32_t device, unsigned types,
                       struct ttshm_swept *swept);

/* growth.c */
/* Live records of a header, summed from the counters; bytes in *bytes. */
uint64_t ttshm_live_total(const struct ttshm_header *h, uint64_t *bytes);
/* Never-used slots claimed in t so far (the sum of the shards). */
uint64_t ttshm_used_total(const struct ttshm_table *t);
/* Counts n claims of never-used slots. Every check_mask+1 claims it sums the
 * shards, raises the table's gate, and returns the table's used slots;
 * otherwise 0. */
uint64_t ttshm_note_used(struct ttshm_table *t, uint32_t tid, uint64_t n);
/* Thresholds, in used slots (live records plus tombstones). From 3/8 the
 * next table is prepared; at 3/4 the table grows, without waiting, by
 * whichever thread sees it first; at 7/8 (a growth still waiting for its
 * table) every claim waits for the growth first. A new table is made for
 * records filling at most 7/16 of it, and taken if they fill at most 1/2.
 * While the migration into it runs, every call moves 32 old slots before it
 * claims again, so new claims stay few; claims past 1/2 of it (the moved
 * records and new ones) first finish the migration, which bounds them when
 * the last chunks are slow (a preempted mover): the records still to move
 * always find room. */
#define TTSHM_TREND_AT(nslots)     ((nslots) / 4)
#define TTSHM_PREPARE_AT(nslots)   ((nslots) / 8 * 3)
#define TTSHM_MIGRATING_AT(nslots) ((nslots) / 2)
#define TTSHM_GROW_AT(nslots)      ((nslots) / 4 * 3)
#define TTSHM_HOLD_AT(nslots)      ((nslots) / 8 * 7)
enum {
    TTSHM_GATE_OPEN = 0,
    TTSHM_GATE_DRAIN = 1, /* past 1/2: finish a migration into it before claiming */
    TTSHM_GATE_HOLD = 2,  /* past 7/8: grow it before claiming */
};
/* The table size for `live` records: the current size, doubled until they
 * fill at most 7/16 of it (so a table that grows at 3/4 doubles). A table
 * of tombstones is rebuilt at its size. */
uint64_t ttshm_table_size_for(uint64_t live, uint64_t cur_slots);
/* Moves all chunks left and waits for the migration to complete. */
void ttshm_finish_migration(struct ttshm_writer *w);
/* Moves one chunk of v->old; returns v->old's epoch if that finished the
 * migration (the caller then calls ttshm_complete_migration), else 0. */
uint64_t ttshm_migrate_step(struct ttshm_view *v, struct ttshm_header *h, uint32_t tid);
/* Removes the live record of slot i of t (one no table had room for),
 * counted as dropped and as freed so that live counts keep matching the
 * tables. False if it was no longer live (moved or freed meanwhile). */
bool ttshm_slot_drop(struct ttshm_table *t, uint64_t i, struct ttshm_header *h);
void ttshm_complete_migration(struct ttshm_writer *w, uint64_t old_epoch);
/* Grows (or rebuilds) table `epoch` if it is still the current one. Called
 * outside any RCU read-side section. */
enum ttshm_grow_mode {
    TTSHM_GROW_IF_NEEDED, /* past 3/4: unless another thread is at it already */
    TTSHM_GROW_HOLD,      /* past 7/8: wait for the lock; not after a failure */
    TTSHM_GROW_FULL,      /* a claim found no room: wait, and retry after a failure */
};
void ttshm_grow(struct ttshm_writer *w, uint64_t epoch, enum ttshm_grow_mode mode);
/* True while growth waits to be tried again after a failure. */
bool ttshm_grow_waiting(struct ttshm_writer *w);
/* prepare.c: frees a view / unmaps a table after a grace period, in the
 * background thread. */
void ttshm_retire_view(struct ttshm_writer *w, struct ttshm_view *v);
void ttshm_retire_table(struct ttshm_writer *w, struct ttshm_table *t);

/* prepare.c */
void ttshm_preparer_init(struct ttshm_writer *w);
/* Notes the trend point of cur (once), its used slots having passed
 * TTSHM_TREND_AT. */
void ttshm_preparer_note_trend(struct ttshm_writer *w, struct ttshm_table *cur, uint64_t used);
/* Asks, once per table, for the next one: sized for the live records
 * projected at the growth threshold, from how many of the slots claimed
 * since the table was published went to new records rather than to churn. */
void ttshm_preparer_request(struct ttshm_writer *w, const struct ttshm_table *cur);
/* The prepared table, or else the spare, if it has min_slots to max_slots
 * slots; else NULL. *pending tells whether one is on its way (being made,
 * or becoming the spare). wait: first wait until it is there. */
struct ttshm_table *ttshm_preparer_take(struct ttshm_writer *w, uint64_t min_slots,
                                        uint64_t max_slots, bool wait, bool *pending);
void ttshm_preparer_stop(struct ttshm_writer *w);

#endif
