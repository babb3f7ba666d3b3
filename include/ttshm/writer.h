/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libttshm: the writer. A runtime records every device-buffer allocation and
 * free; the records live in a POSIX shared-memory segment any reader can map.
 *
 * Recording calls are lock-free in the common case, make no system call and
 * allocate no heap memory; they are safe from any thread without registration.
 * A NULL writer is valid everywhere and records nothing (tracking off).
 */
#ifndef TTSHM_WRITER_H
#define TTSHM_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "ttshm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ttshm_writer ttshm_writer;

/* Versioned: set struct_size = sizeof(struct ttshm_writer_config). Zero-filled
 * fields take their defaults. */
struct ttshm_writer_config {
    uint32_t struct_size;
    /* Registry name (letters, digits, '_' and '-'; at most TTSHM_NAME_MAX).
     * NULL: $TT_SHM_NAME, else "u<uid>" (one registry per user). */
    const char *name;
    /* Initial table slots (rounded up to a power of two). 0: 2048. */
    uint64_t initial_slots;
    /* Mode bits for new segments: 0 gives 0600; 0640 lets the group read. */
    uint32_t mode;
    /* Non-zero: report failures on stderr (once per writer). Default writer: 1. */
    int report_errors;
};

/* Outcome of one recording call. */
enum ttshm_result {
    TTSHM_RECORDED = 0,  /* recorded as asked */
    TTSHM_DUPLICATE = 1, /* alloc of an address already live: replaced, counted */
    TTSHM_UNKNOWN = 2,   /* free of a buffer not registered: counted */
    TTSHM_DROPPED = 3,   /* could not be recorded (no memory, bad device/type): counted */
    TTSHM_OFF = 4,       /* writer is NULL or closed */
};

/* Opens a writer on the first registry slot free of a live writer: a slot left
 * by a dead or exited writer is taken over (generation + 1, previous session
 * summarised). Returns 0 or -TTSHM_E_*; *out is NULL on error. */
TTSHM_API int ttshm_writer_open(const struct ttshm_writer_config *config, ttshm_writer **out);

/* Marks the segment "exited" (buffers still live become leaks at exit) and
 * releases the writer. No recording call on it may be running or follow. */
TTSHM_API void ttshm_writer_close(ttshm_writer *w);

/* The process-wide writer, created at first use (thread-safe). NULL when
 * TT_SHM_TRACKING=0 or when opening failed (reported once on stderr).
 * It is marked "exited" at process exit. */
TTSHM_API ttshm_writer *ttshm_default_writer(void);

/* Records a live buffer. tag is the caller's (e.g. TT-Metal's Buffer::unique_id()).
 * For TTSHM_CB the tag is the CB's owner (e.g. the program id; 0: none): CBs
 * of different owners may share an address, and (device, address, owner)
 * names one CB. */
TTSHM_API enum ttshm_result ttshm_record_alloc(ttshm_writer *w, uint32_t device,
                                               enum ttshm_mem_type type, uint64_t address,
                                               uint64_t size, uint64_t tag);

/* Frees the buffer (device, type, address). For TTSHM_CB it frees the CB of
 * owner 0 at that address (ttshm_record_free_cb names the owner). */
TTSHM_API enum ttshm_result ttshm_record_free(ttshm_writer *w, uint32_t device,
                                              enum ttshm_mem_type type, uint64_t address);

/* Frees one CB: the one of `owner` at `address` on `device`. Other owners'
 * CBs at the same address stay live. */
TTSHM_API enum ttshm_result ttshm_record_free_cb(ttshm_writer *w, uint32_t device, uint64_t address,
                                                 uint64_t owner);

/* Frees every circular buffer of a device, whatever its owner (the old
 * meaning of TT-Metal's track_deallocate_cb(device)). Same as
 * ttshm_record_free_all(w, device, TTSHM_CB). */
TTSHM_API enum ttshm_result ttshm_record_free_cbs(ttshm_writer *w, uint32_t device);

/* Frees at once every live buffer of a device: of one memory type, or of
 * every type when type is TTSHM_ALL_TYPES (TT-Metal's deallocate_buffers(),
 * sub-device teardown, device close). A sweep of the writer's tables (their
 * control words: about 1 ms per million slots) retires the records; they are
 * counted as frees and as bulk frees. No other
 * recording call for the same device and type should run concurrently (the
 * runtime frees a device's buffers while nothing allocates on it); if one
 * does, its record may be freed or kept, and the counters say which. */
#define TTSHM_ALL_TYPES (-1)
TTSHM_API enum ttshm_result ttshm_record_free_all(ttshm_writer *w, uint32_t device, int type);

/* Publishes the capacity of (device, type) so readers can show utilisation. */
TTSHM_API enum ttshm_result ttshm_publish_capacity(ttshm_writer *w, uint32_t device,
                                                   enum ttshm_mem_type type, uint64_t total_bytes,
                                                   uint32_t banks);

/* Publishes the identity of a device, so readers can name it as other tools
 * do: unique_id (TT-Metal's chip unique id; 0: unknown) and an optional
 * free-text name (e.g. a PCI bus id or "wormhole_b0"; NULL or "" for none;
 * cut at TTSHM_DEVICE_NAME_MAX bytes). May be called again to change it. */
TTSHM_API enum ttshm_result ttshm_publish_device(ttshm_writer *w, uint32_t device,
                                                 uint64_t unique_id, const char *name);

/* Name of this writer's segment (e.g. "ttshm.u1000.0"), for logs and tests. */
TTSHM_API const char *ttshm_writer_segment_name(const ttshm_writer *w);

/* Generation of this writer's session in its segment (1 for a new segment). */
TTSHM_API uint64_t ttshm_writer_generation(const ttshm_writer *w);

#ifdef __cplusplus
}
#endif

#endif /* TTSHM_WRITER_H */
