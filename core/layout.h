/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The segment ABI shared by the writer and the reader (docs/format.md is its
 * field-by-field description; keep the two in step).
 *
 * A writer owns two kinds of POSIX shared-memory objects:
 *   ttshm.<registry>.<slot>            the header object (fixed size)
 *   ttshm.<registry>.<slot>.t<epoch>   a live-buffer table (one, or two while
 *                                      the table grows)
 * Everything in them is addressed by offsets and indices, never pointers, and
 * every mutable field is a lock-free C11 atomic (address-free, so it works
 * across processes on the same mapping).
 */
#ifndef TTSHM_LAYOUT_H
#define TTSHM_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ttshm/types.h"

#if ATOMIC_LLONG_LOCK_FREE != 2 || ATOMIC_INT_LOCK_FREE != 2
#error "ttshm needs always-lock-free 64-bit and 32-bit atomics"
#endif

#define TTSHM_HEADER_MAGIC 0x3147455348535454ull /* "TTSHSEG1" little-endian */
#define TTSHM_TABLE_MAGIC  0x3142415448535454ull /* "TTSHTAB1" */
#define TTSHM_ABI_MAJOR    2
#define TTSHM_ABI_MINOR    0

#define TTSHM_TYPE_SLOTS 8   /* counter blocks per device: 7 types + 1 spare */
#define TTSHM_MAX_SLOTS  256 /* registry slots (concurrent writers per registry) */
#define TTSHM_MIN_TABLE  1024u
/* First table of a session unless configured: 128 KiB, so that an idle
 * writer maps about 200 KiB; growth is online and incremental. */
#define TTSHM_DEFAULT_TABLE 2048u
#define TTSHM_MAX_TABLE     (1ull << 30) /* slots; 64 GiB of table */
#define TTSHM_CACHELINE     64
/* No record is ever stored further than this from its home slot, so every
 * probe (writer or reader, sane or hostile table) ends within this many steps. */
#define TTSHM_MAX_PROBE 4096

/* ---- segment state (header.state) ---- */
enum ttshm_seg_state {
    TTSHM_SEG_INIT = 1,   /* being initialised or taken over */
    TTSHM_SEG_READY = 2,  /* a writer records into it */
    TTSHM_SEG_EXITED = 3, /* the writer closed cleanly */
};

/* ---- counters of one device x type: two cache lines, no false sharing ----
 * live_count = allocs - frees and live_bytes = alloc_bytes - freed_bytes are
 * derived by readers, which load frees/freed_bytes before allocs/alloc_bytes:
 * every free is ordered after its alloc, so the difference is never negative. */
struct ttshm_counter_block {
    _Atomic uint64_t allocs;
    _Atomic uint64_t frees;
    _Atomic uint64_t alloc_bytes;
    _Atomic uint64_t freed_bytes;
    _Atomic uint64_t peak_bytes;
    _Atomic uint64_t unknown_frees;
    _Atomic uint64_t duplicate_allocs;
    _Atomic uint64_t dropped;
    _Atomic uint64_t capacity_bytes;
    _Atomic uint64_t capacity_banks;
    _Atomic uint64_t bulk_freed; /* records freed by a free-all (also in frees) */
    uint64_t reserved[5];
};

/* ---- identity of one device, published by the runtime ----
 * A seqlock of its own: seq is odd while the fields change. The name is
 * NUL-padded bytes in little-endian words (atomics, so that a reader racing
 * a publication reads no torn word). */
#define TTSHM_DEVICE_NAME_WORDS 6
struct ttshm_device_ident {
    _Atomic uint64_t seq;
    _Atomic uint64_t unique_id;
    _Atomic uint64_t name[TTSHM_DEVICE_NAME_WORDS];
};

/* ---- summary of the previous session, written at takeover ---- */
struct ttshm_prev_session {
    _Atomic uint64_t generation; /* 0: there was none */
    _Atomic uint64_t pid;
    _Atomic uint64_t state; /* TTSHM_STATE_EXITED or TTSHM_STATE_DIED (reader.h) */
    _Atomic uint64_t started_ns;
    _Atomic uint64_t ended_ns;
    _Atomic uint64_t live_count;
    _Atomic uint64_t live_bytes;
    _Atomic uint64_t reserved;
    _Atomic uint64_t device_live_count[TTSHM_MAX_DEVICES];
    _Atomic uint64_t device_live_bytes[TTSHM_MAX_DEVICES];
};

/* ---- the header object ----
 * Identity and table fields change only while `seq` is odd (initialisation,
 * takeover, table switch); readers copy them and re-check `seq`. Counters are
 * updated continuously and read with the rules above. */
struct ttshm_header {
    /* Fixed part: a post-mortem tool can check these before anything else. */
    _Atomic uint64_t magic;   /* TTSHM_HEADER_MAGIC, stored last at creation */
    uint32_t abi_major;       /* readers refuse a different major */
    uint32_t abi_minor;       /* additions only */
    uint32_t word_size;       /* sizeof(void *) of the writer: 8 */
    uint32_t header_size;     /* sizeof(struct ttshm_header) */
    uint32_t slot_size;       /* sizeof(struct ttshm_slot) */
    uint32_t max_devices;     /* TTSHM_MAX_DEVICES */
    uint32_t type_slots;      /* TTSHM_TYPE_SLOTS */
    uint32_t counters_offset; /* offsetof(struct ttshm_header, counters) */
    uint32_t prev_offset;     /* offsetof(struct ttshm_header, prev) */
    uint32_t object_size;     /* size of the header object file */

    _Atomic uint64_t seq; /* even: stable; odd: identity/table fields changing */

    /* Session identity. */
    _Atomic uint64_t generation; /* +1 at every takeover; 1 for a new segment */
    _Atomic uint64_t state;      /* enum ttshm_seg_state */
    _Atomic uint64_t pid;        /* writer pid (informational; liveness is the lock) */
    _Atomic uint64_t uid;
    _Atomic uint64_t start_ticks; /* /proc/<pid>/stat starttime of the writer */
    _Atomic uint64_t instance_id; /* random per session */
    _Atomic uint64_t started_ns;  /* CLOCK_REALTIME */
    _Atomic uint64_t ended_ns;    /* CLOCK_REALTIME at clean exit, else 0 */
    _Atomic uint64_t slot;        /* registry slot number */
    char registry[64];            /* NUL-terminated registry name (written at init) */

    /* Tables: the current one, and the one being drained into it (epoch 0: none). */
    _Atomic uint64_t table_epoch;
    _Atomic uint64_t table_slots;
    _Atomic uint64_t old_epoch;
    _Atomic uint64_t old_slots;

    _Atomic uint64_t dropped_global;      /* events with a bad device or type */
    _Atomic uint64_t tables_created;      /* table objects this session created */
    _Atomic uint64_t table_bytes_created; /* ... their total size */

    /* Free-all epoch of each device x type: a record carries the epoch it was
     * made in and is dead once its epoch moved on (ttshm_record_free_all). */
    alignas(TTSHM_CACHELINE) _Atomic uint64_t epoch[TTSHM_MAX_DEVICES][TTSHM_TYPE_SLOTS];
    struct ttshm_device_ident device_ident[TTSHM_MAX_DEVICES];

    alignas(128) struct ttshm_counter_block counters[TTSHM_MAX_DEVICES][TTSHM_TYPE_SLOTS];
    struct ttshm_prev_session prev;
};

/* ---- a table object: a 64-byte table header, then nslots slots ---- */
struct ttshm_table_header {
    _Atomic uint64_t magic;       /* TTSHM_TABLE_MAGIC */
    _Atomic uint64_t instance_id; /* the writer session that made it */
    _Atomic uint64_t epoch;       /* matches header.table_epoch / old_epoch */
    _Atomic uint64_t nslots;      /* power of two */
    _Atomic uint64_t slot_size;
    _Atomic uint64_t generation; /* of the session that made it (its records' generation) */
    uint64_t reserved[2];
};

/* Slot states (low 3 bits of ctl; the rest is a version bumped on every change). */
enum ttshm_slot_state {
    TTSHM_SLOT_EMPTY = 0,  /* never used: ends a probe chain */
    TTSHM_SLOT_BUSY = 1,   /* a writer thread is filling it */
    TTSHM_SLOT_LIVE = 2,   /* a live buffer */
    TTSHM_SLOT_TOMB = 3,   /* freed (or moved to the new table) */
    TTSHM_SLOT_MOVING = 4, /* live, being copied to the new table */
};
#define TTSHM_CTL_STATE(c)    ((unsigned)((c)&7u))
#define TTSHM_CTL_NEXT(c, st) ((((c) >> 3) + 1) << 3 | (uint64_t)(st))

/* One live buffer: one cache line. The fields are read by readers with relaxed
 * loads between two loads of ctl (a per-slot seqlock); `check` is a hash of
 * the other fields so a torn or forged copy is detected. The key of a record
 * is (device, type, address), and for a CB also its owner, kept in `tag`. */
struct ttshm_slot {
    _Atomic uint64_t ctl;
    _Atomic uint64_t address;
    _Atomic uint64_t size;
    _Atomic uint64_t tag;
    _Atomic uint64_t timestamp_ns;
    _Atomic uint64_t meta;  /* device:16 | type:8 | reserved:8 | tid:32 */
    _Atomic uint64_t epoch; /* header.epoch[device][type] when it was made */
    _Atomic uint64_t check;
};

#define TTSHM_META(dev, type, tid)                                                                 \
    (((uint64_t)(dev) << 48) | ((uint64_t)(type) << 40) | (uint64_t)(uint32_t)(tid))
#define TTSHM_META_KEY(m)    ((m)&0xffffff0000000000ull) /* device and type */
#define TTSHM_META_DEVICE(m) ((uint32_t)((m) >> 48))
#define TTSHM_META_TYPE(m)   ((uint32_t)(((m) >> 40) & 0xff))
#define TTSHM_META_TID(m)    ((uint32_t)(m))

_Static_assert(sizeof(struct ttshm_slot) == 64, "slot is one cache line");
_Static_assert(sizeof(struct ttshm_table_header) == 64, "table header is one cache line");
_Static_assert(sizeof(struct ttshm_counter_block) == 128, "counter block is two cache lines");
_Static_assert(offsetof(struct ttshm_header, magic) == 0, "magic first");
_Static_assert(offsetof(struct ttshm_header, seq) == 48, "fixed part is 48 bytes");
_Static_assert(offsetof(struct ttshm_header, counters) % 128 == 0, "counters aligned");
_Static_assert(sizeof(uint64_t) == 8 && sizeof(void *) == 8, "64-bit only");

/* Size of the header object file (header rounded up to a page). */
#define TTSHM_HEADER_OBJECT_SIZE (((sizeof(struct ttshm_header) + 4095) / 4096) * 4096)

static inline uint64_t ttshm_table_bytes(uint64_t nslots)
{
    return sizeof(struct ttshm_table_header) + nslots * sizeof(struct ttshm_slot);
}

/* ---- helpers shared by both libraries (layout.c, names.c) ---- */

static inline uint64_t ttshm_mix64(uint64_t x)
{
    /* The murmur3/splitmix finaliser: every input bit affects every output bit. */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The owner that is part of a record's key: a CB's tag, nothing for the rest. */
static inline uint64_t ttshm_key_owner(uint32_t type, uint64_t tag)
{
    return type == TTSHM_CB ? tag : 0;
}

/* Hash of a key: (device, type, address, owner) -> 64 bits; the home slot is
 * hash & (n-1). Inline: it is on every recording call. */
static inline uint64_t ttshm_key_hash(uint32_t device, uint32_t type, uint64_t address,
                                      uint64_t owner)
{
    return ttshm_mix64(address ^ ((uint64_t)device << 48) ^ ((uint64_t)type << 40) ^
                       (owner * 0x9e3779b97f4a7c15ull));
}

/* Check word of a slot's fields. */
static inline uint64_t ttshm_slot_check(uint64_t address, uint64_t size, uint64_t tag, uint64_t ts,
                                        uint64_t meta, uint64_t epoch)
{
    /* Each field through its own odd multiplier, then one full mix: cheap on
     * the write path, and any single changed field changes the result. */
    uint64_t h = address * 0x9e3779b97f4a7c15ull;
    h ^= size * 0xc2b2ae3d27d4eb4full;
    h ^= tag * 0x165667b19e3779f9ull;
    h ^= ts * 0xd6e8feb86659fd93ull;
    h ^= meta * 0xff51afd7ed558ccdull;
    h ^= epoch * 0xc4ceb9fe1a85ec53ull;
    return ttshm_mix64(h);
}

/* Live count and bytes of a counter block, derived so they are never negative
 * (frees are loaded before allocs: see struct ttshm_counter_block). */
void ttshm_counters_live(const struct ttshm_counter_block *c, uint64_t *count, uint64_t *bytes);

/* Validates the fixed part of a header (magic, ABI, sizes, offsets) against
 * the object size actually mapped. Returns 0 or -TTSHM_E_*. */
int ttshm_header_validate(const struct ttshm_header *h, uint64_t mapped_size);

/* Validates a table header against what the segment header announced. */
int ttshm_table_validate(const struct ttshm_table_header *t, uint64_t mapped_size,
                         uint64_t instance_id, uint64_t epoch, uint64_t nslots);

/* Registry names: letters, digits, '_' and '-', 1..TTSHM_NAME_MAX bytes. */
int ttshm_registry_name_valid(const char *name);

/* Default registry name ("u<uid>"). buf holds TTSHM_NAME_MAX + 1 bytes. */
void ttshm_default_registry(char *buf, size_t len);

/* "ttshm.<registry>.<slot>" and "ttshm.<registry>.<slot>.t<epoch>", as shm_open names
 * (with the leading '/'). Return 0, or -TTSHM_E_INVAL if they do not fit. */
int ttshm_header_object_name(char *buf, size_t len, const char *registry, unsigned slot);
int ttshm_table_object_name(char *buf, size_t len, const char *registry, unsigned slot,
                            uint64_t epoch);

/* Parses "ttshm.<registry>.<slot>" (no leading '/'); 0 on success. */
int ttshm_parse_header_object_name(const char *name, char *registry, size_t reglen, unsigned *slot);

#endif /* TTSHM_LAYOUT_H */
