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
#define TTSHM_ABI_MAJOR    3
#define TTSHM_ABI_MINOR    0

#define TTSHM_TYPE_SLOTS 8   /* counter blocks per device: 7 types + 1 spare */
#define TTSHM_MAX_SLOTS  256 /* registry slots (concurrent writers per registry) */
#define TTSHM_MIN_TABLE  1024u
/* First table of a session unless configured: 72 KiB, so that an idle
 * writer maps about 150 KiB; growth is online and incremental. */
#define TTSHM_DEFAULT_TABLE 2048u
#define TTSHM_MAX_TABLE     (1ull << 30) /* slots; 36 GiB of table */
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
    uint32_t slot_size;       /* sizeof(struct ttshm_slot): 32 */
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

    alignas(TTSHM_CACHELINE) struct ttshm_device_ident device_ident[TTSHM_MAX_DEVICES];

    alignas(128) struct ttshm_counter_block counters[TTSHM_MAX_DEVICES][TTSHM_TYPE_SLOTS];
    struct ttshm_prev_session prev;
};

/* ---- a table object ----
 * A 64-byte table header, then nslots 32-bit control words (ctl), then
 * nslots 32-byte slots: a probe walks the dense control words (16 to a
 * cache line) and touches a slot only where the hash fragment matches. */
struct ttshm_table_header {
    _Atomic uint64_t magic;        /* TTSHM_TABLE_MAGIC */
    _Atomic uint64_t instance_id;  /* the writer session that made it */
    _Atomic uint64_t epoch;        /* matches header.table_epoch / old_epoch */
    _Atomic uint64_t nslots;       /* power of two */
    _Atomic uint64_t slot_size;    /* sizeof(struct ttshm_slot): 32 */
    _Atomic uint64_t generation;   /* of the session that made it (its records' generation) */
    _Atomic uint64_t ctl_offset;   /* TTSHM_CTL_OFFSET: 64 */
    _Atomic uint64_t slots_offset; /* ttshm_slots_offset(nslots) */
};

/* Slot states (ctl bits 0-2). */
enum ttshm_slot_state {
    TTSHM_SLOT_EMPTY = 0,  /* never used: ends a probe chain */
    TTSHM_SLOT_BUSY = 1,   /* a writer thread is filling it */
    TTSHM_SLOT_LIVE = 2,   /* a live buffer */
    TTSHM_SLOT_TOMB = 3,   /* freed (or moved to the new table) */
    TTSHM_SLOT_MOVING = 4, /* live, being copied to the new table */
};

/* A control word: state:3 | fragment:7 | version:22 (bits 0-2, 3-9, 10-31).
 * The version moves on at every change of the word (wrapping), so a CAS
 * from a value read earlier proves that the slot read since is still
 * current, and a reader's copy between two equal loads is not torn. The
 * fragment is 7 bits of the key's hash (ttshm_hash_frag) while the slot is
 * BUSY, LIVE or MOVING: probes compare it before touching the slot. */
#define TTSHM_CTL_STATE(c)     ((unsigned)((c)&7u))
#define TTSHM_CTL_FRAG(c)      ((unsigned)(((c) >> 3) & 0x7fu))
#define TTSHM_CTL_VERSION_BITS 22

static inline uint32_t ttshm_ctl_next(uint32_t c, unsigned state, unsigned frag)
{
    return (((c >> 10) + 1u) << 10) | ((frag & 0x7fu) << 3) | state;
}

static inline unsigned ttshm_hash_frag(uint64_t hash)
{
    return (unsigned)(hash >> 57);
}

/* One live buffer: 32 bytes. Readers copy the four words with relaxed loads
 * between two loads of the slot's control word (a per-slot seqlock). The key
 * of a record is (device, type, address), and for a CB also its owner, kept
 * in `tag`. */
struct ttshm_slot {
    _Atomic uint64_t address;
    _Atomic uint64_t tag;
    _Atomic uint64_t key;    /* device:6 | type:3 | size:55 (bits 58, 55, 0) */
    _Atomic uint64_t origin; /* tid:22 | time:42 (bits 42, 0): CLOCK_MONOTONIC_COARSE in ms */
};

#define TTSHM_SIZE_BITS 55
#define TTSHM_SIZE_MASK ((1ull << TTSHM_SIZE_BITS) - 1)
#define TTSHM_KEY(dev, type, size)                                                                 \
    (((uint64_t)(dev) << 58) | ((uint64_t)(type) << 55) | ((uint64_t)(size)&TTSHM_SIZE_MASK))
#define TTSHM_KEY_DEVTYPE(k) ((k)&0xff80000000000000ull) /* device and type */
#define TTSHM_KEY_DEVICE(k)  ((uint32_t)((k) >> 58))
#define TTSHM_KEY_TYPE(k)    ((uint32_t)(((k) >> 55) & 7u))
#define TTSHM_KEY_SIZE(k)    ((k)&TTSHM_SIZE_MASK)

#define TTSHM_TID_BITS  22 /* Linux thread ids are below 2^22 (PID_MAX_LIMIT) */
#define TTSHM_TIME_MASK ((1ull << 42) - 1)
#define TTSHM_ORIGIN(tid, ms)                                                                      \
    (((uint64_t)((tid) & ((1u << TTSHM_TID_BITS) - 1)) << 42) | ((uint64_t)(ms)&TTSHM_TIME_MASK))
#define TTSHM_ORIGIN_TID(o) ((uint32_t)((o) >> 42))
#define TTSHM_ORIGIN_MS(o)  ((o)&TTSHM_TIME_MASK)

#define TTSHM_CTL_OFFSET sizeof(struct ttshm_table_header)

_Static_assert(sizeof(struct ttshm_slot) == 32, "two slots to a cache line");
_Static_assert(sizeof(struct ttshm_table_header) == 64, "table header is one cache line");
_Static_assert(sizeof(struct ttshm_counter_block) == 128, "counter block is two cache lines");
_Static_assert(offsetof(struct ttshm_header, magic) == 0, "magic first");
_Static_assert(offsetof(struct ttshm_header, seq) == 48, "fixed part is 48 bytes");
_Static_assert(offsetof(struct ttshm_header, counters) % 128 == 0, "counters aligned");
_Static_assert(sizeof(uint64_t) == 8 && sizeof(void *) == 8, "64-bit only");

/* Size of the header object file (header rounded up to a page). */
#define TTSHM_HEADER_OBJECT_SIZE (((sizeof(struct ttshm_header) + 4095) / 4096) * 4096)

/* Where the slots begin: after the control words (a multiple of 64 bytes,
 * as nslots >= TTSHM_MIN_TABLE). */
static inline uint64_t ttshm_slots_offset(uint64_t nslots)
{
    return TTSHM_CTL_OFFSET + nslots * sizeof(uint32_t);
}

static inline uint64_t ttshm_table_bytes(uint64_t nslots)
{
    return ttshm_slots_offset(nslots) + nslots * sizeof(struct ttshm_slot);
}

/* The control words and the slots of a mapped table object. */
static inline _Atomic uint32_t *ttshm_table_ctl(void *table_base)
{
    return (_Atomic uint32_t *)((char *)table_base + TTSHM_CTL_OFFSET);
}

static inline struct ttshm_slot *ttshm_table_slots(void *table_base, uint64_t nslots)
{
    return (struct ttshm_slot *)((char *)table_base + ttshm_slots_offset(nslots));
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
