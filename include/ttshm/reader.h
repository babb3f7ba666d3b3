/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libttshm-reader: read-only access to ttshm segments. Maps read-only, takes
 * no lock, writes nothing, needs no threads and no liburcu. Every segment is
 * treated as untrusted input: a bad one gives an error code, never a crash.
 *
 * Structs passed out are versioned: the caller sets struct_size to the size
 * it was compiled with, and the library fills no more than that.
 */
#ifndef TTSHM_READER_H
#define TTSHM_READER_H

#include <stddef.h>
#include <stdint.h>

#include "ttshm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reader caches its mappings between calls: use one from one thread at a
 * time (open one per thread to read from several). */
typedef struct ttshm_reader ttshm_reader;

/* Writer state as a reader sees it. */
enum ttshm_writer_state {
    TTSHM_STATE_NONE = 0,     /* no session recorded (previous summary only) */
    TTSHM_STATE_ALIVE = 1,    /* the writer process holds the segment */
    TTSHM_STATE_EXITED = 2,   /* closed cleanly: buffers left are leaks at exit */
    TTSHM_STATE_DIED = 3,     /* gone without closing: buffers left are stale */
    TTSHM_STATE_STARTING = 4, /* being (re)initialised right now */
};

/* "alive", "exited", "died", "starting", "none". */
TTSHM_API const char *ttshm_state_name(enum ttshm_writer_state state);

/* One segment found by ttshm_list(). Unlike the structs below it is an
 * output array, so its size is fixed for an ABI major; the library sets
 * struct_size. */
struct ttshm_segment_info {
    uint32_t struct_size;
    char segment[64];   /* segment name, e.g. "ttshm.u1000.0" (open it with this) */
    char registry[64];  /* registry name, e.g. "u1000" */
    uint32_t slot;      /* slot number within the registry */
    uint32_t owner_uid; /* owner of the header object */
    uint32_t flags;     /* TTSHM_SEGMENT_* */
};
/* The object exists but this user may not open it (listed so that tools can
 * say so instead of "nothing found"). */
#define TTSHM_SEGMENT_UNREADABLE 1u

/* Lists the ttshm segments whose header object this user owns (root: every
 * user's; a segment named after this user but owned by another is not
 * listed), sorted by registry then slot. Objects this user may not open are
 * listed with TTSHM_SEGMENT_UNREADABLE.
 * registry: NULL for all, else only that registry. Fills at most max entries
 * of out (may be NULL when max is 0); *found gets the total number seen.
 * Returns 0 or -TTSHM_E_*. */
TTSHM_API int ttshm_list(const char *registry, struct ttshm_segment_info *out, size_t max,
                         size_t *found);

/* As ttshm_list, with TTSHM_LIST_* flags. ttshm_list lists the objects this
 * user owns (every user's for root); TTSHM_LIST_ALL_USERS lists every user's,
 * with owner_uid telling whose (objects this user may not open are listed
 * with TTSHM_SEGMENT_UNREADABLE). */
#define TTSHM_LIST_ALL_USERS 1u
TTSHM_API int ttshm_list_flags(const char *registry, unsigned flags, struct ttshm_segment_info *out,
                               size_t max, size_t *found);

/* Opens a segment by name (as listed) read-only and validates it. A
 * segment whose table objects have another owner than its header is
 * refused (-TTSHM_E_ACCESS).
 *
 * Signals: objects of other processes may be truncated while mapped, and a
 * load past the new end raises SIGBUS. The first ttshm_reader_open installs
 * a SIGBUS handler (SA_SIGINFO | SA_NODEFER | SA_ONSTACK) for the life of
 * the process. It handles only faults of this library's loads from its own
 * mappings, inside its calls (the call, and every later call on that
 * reader, then returns -TTSHM_E_CORRUPT); every other SIGBUS goes to the
 * handler installed before it, or takes the default action. A host that
 * installs a SIGBUS handler after opening a reader must chain to the one it
 * replaces (as this library does), or a truncation may kill it. */
TTSHM_API int ttshm_reader_open(const char *segment, ttshm_reader **out);
TTSHM_API void ttshm_reader_close(ttshm_reader *r);

/* Summary of one finished session kept by the writer that took over. */
struct ttshm_session_summary {
    uint64_t generation;
    uint32_t pid;
    uint32_t state;                  /* enum ttshm_writer_state: EXITED or DIED; NONE if none */
    uint64_t started_ns, ended_ns;   /* CLOCK_REALTIME; ended_ns 0 when unknown (died) */
    uint64_t live_count, live_bytes; /* all devices, at its end */
    uint64_t device_live_count[TTSHM_MAX_DEVICES];
    uint64_t device_live_bytes[TTSHM_MAX_DEVICES];
};

struct ttshm_status {
    uint32_t struct_size;
    uint32_t state; /* enum ttshm_writer_state */
    uint64_t generation;
    uint32_t pid;
    uint32_t uid;
    uint64_t instance_id; /* random per session */
    uint64_t started_ns;  /* CLOCK_REALTIME */
    uint64_t ended_ns;    /* CLOCK_REALTIME; 0 unless exited */
    char registry[64];
    uint32_t slot;
    uint32_t abi_major, abi_minor;
    uint64_t table_slots;                  /* slots in the current table */
    uint64_t migrating_slots;              /* slots of a table being drained (0 if none) */
    uint64_t dropped_global;               /* events dropped before a device could be named */
    uint64_t shm_bytes;                    /* header + tables mapped by this reader */
    struct ttshm_session_summary previous; /* state NONE when no previous session */
    uint64_t tables_created;               /* table objects this session created */
    uint64_t table_bytes_created;          /* ... and their total size in bytes */
};

TTSHM_API int ttshm_reader_status(ttshm_reader *r, struct ttshm_status *st);

/* Counters of one device x type. live_* are derived and never negative;
 * peak_bytes is at least live_bytes, and never lower than a peak the same
 * reader reported earlier in the same writer session. */
struct ttshm_counters {
    uint64_t live_bytes, live_count, peak_bytes;
    uint64_t allocs, frees, alloc_bytes;
    uint64_t unknown_frees, duplicate_allocs, dropped;
    uint64_t capacity_bytes; /* 0 when not published */
    uint32_t capacity_banks;
    uint32_t reserved;
    uint64_t bulk_freed; /* buffers freed by ttshm_record_free_all / free_cbs (also in frees) */
};

/* Identity of a device as its writer published it (ttshm_publish_device). */
struct ttshm_device_identity {
    uint64_t unique_id;                   /* chip unique id; 0 when not published */
    char name[TTSHM_DEVICE_NAME_MAX + 1]; /* NUL-terminated; "" when not published */
};

struct ttshm_stats {
    uint32_t struct_size;
    uint32_t device_count; /* 1 + the highest device with any activity or capacity; 0 if none */
    uint64_t generation;   /* generation the counters belong to */
    struct ttshm_counters dev[TTSHM_MAX_DEVICES][TTSHM_MEM_TYPE_COUNT];
    struct ttshm_device_identity identity[TTSHM_MAX_DEVICES];
};

/* Reads all counters consistently with one generation. */
TTSHM_API int ttshm_reader_stats(ttshm_reader *r, struct ttshm_stats *st);

/* One live buffer record. */
struct ttshm_entry {
    uint32_t device;
    uint32_t type; /* enum ttshm_mem_type */
    uint64_t address;
    uint64_t size;
    uint64_t tag;          /* the caller's tag; for TTSHM_CB the owner (program id) */
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC_COARSE at the alloc, in whole ms (ABI 3) */
    uint64_t generation;
    uint32_t tid;
    uint32_t reserved;
};

/* Visits every live entry; stop early by returning non-zero from fn (that value
 * is returned). Entries are copied out and validated: never torn. Streams:
 * fn sees each entry as it is read, with no array of them all (memory: 8
 * bytes per entry, to list each key once). fn must not call functions on
 * the same reader (they return -TTSHM_E_BUSY); other readers are fine.
 * Guarantees as for a snapshot (docs/format.md section 6), except that
 * when the tables switch during the call, the entries listed before are not
 * taken back: the call goes on into the new tables, skipping keys listed. */
typedef int (*ttshm_entry_fn)(const struct ttshm_entry *e, void *ctx);
TTSHM_API int ttshm_reader_foreach(ttshm_reader *r, ttshm_entry_fn fn, void *ctx);

/* Snapshot of all live entries in a malloc'd array (free() it), sized once
 * from the counters. A snapshot is not a cut of one instant: every entry
 * was live at some moment of the call, each ordinary key (device, type,
 * address) and each CB record is listed once, a buffer live through the whole call is listed,
 * and one allocated or freed during it may or may not be (so the count may
 * differ from the counters' live count under churn). */
TTSHM_API int ttshm_reader_snapshot(ttshm_reader *r, struct ttshm_entry **entries, size_t *count);

/* The same into the caller's array of cap entries (reuse it between calls:
 * no allocation, no page faults). *count gets the number of entries found;
 * when that is more than cap, the first cap are in buf and the call returns
 * -TTSHM_E_NOSPC (call again with a larger buf). */
TTSHM_API int ttshm_reader_snapshot_into(ttshm_reader *r, struct ttshm_entry *buf, size_t cap,
                                         size_t *count);

/* O(1) expected: the live entry (device, type, address). -TTSHM_E_NOTFOUND if none.
 * For TTSHM_CB: the CB of owner 0 at that address (see ttshm_reader_lookup_cb). */
TTSHM_API int ttshm_reader_lookup(ttshm_reader *r, uint32_t device, enum ttshm_mem_type type,
                                  uint64_t address, struct ttshm_entry *out);

/* O(1) expected: the live CB of `owner` at `address` on `device`. */
TTSHM_API int ttshm_reader_lookup_cb(ttshm_reader *r, uint32_t device, uint64_t address,
                                     uint64_t owner, struct ttshm_entry *out);

/* For bindings that cannot include this header (ctypes): the segment ABI this
 * library reads (major << 16 | minor), and sizeof of a public struct by its
 * name without "struct " (e.g. "ttshm_status"); 0 for an unknown name. */
TTSHM_API uint32_t ttshm_reader_abi_version(void);
TTSHM_API size_t ttshm_reader_struct_size(const char *name);

/* Slots skipped by the last foreach/snapshot: half-written by a writer that
 * died between claim and publish, still being written by a live writer after
 * the bounded wait (docs/format.md section 6), or corrupt. 0 means the
 * listing missed no slot it saw. */
TTSHM_API uint64_t ttshm_reader_skipped(const ttshm_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* TTSHM_READER_H */
