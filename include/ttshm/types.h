/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ttshm: definitions shared by the writer and the reader APIs.
 * C11 and C++17 clean; no other public header is needed to use either side.
 */
#ifndef TTSHM_TYPES_H
#define TTSHM_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TTSHM_VERSION_STRING "0.3.0"

/* Symbols exported by the shared libraries. */
#if defined(__GNUC__)
#define TTSHM_API __attribute__((visibility("default")))
#else
#define TTSHM_API
#endif

/* Memory types, numbered as TT-Metal's BufferType numbers them. */
enum ttshm_mem_type {
    TTSHM_DRAM = 0,
    TTSHM_L1 = 1,
    TTSHM_SYSTEM_MEMORY = 2,
    TTSHM_L1_SMALL = 3,
    TTSHM_TRACE = 4,
    TTSHM_CB = 5,
    TTSHM_KERNEL = 6,
};
#define TTSHM_MEM_TYPE_COUNT 7

/* Devices 0 .. TTSHM_MAX_DEVICES-1 are tracked (a Galaxy host has 32). */
#define TTSHM_MAX_DEVICES 64

/* Longest device name published with ttshm_publish_device, without the NUL. */
#define TTSHM_DEVICE_NAME_MAX 47

/* Longest registry name (TT_SHM_NAME), without the terminating NUL. */
#define TTSHM_NAME_MAX 48

/* Error codes returned (negated) by both libraries; ttshm_strerror() names them. */
enum ttshm_error {
    TTSHM_OK = 0,
    TTSHM_E_INVAL = 1,     /* bad argument */
    TTSHM_E_NOENT = 2,     /* no such segment */
    TTSHM_E_ACCESS = 3,    /* permission denied, or segment owned by another user */
    TTSHM_E_NOSPC = 4,     /* /dev/shm has no room */
    TTSHM_E_NOMEM = 5,     /* out of memory */
    TTSHM_E_IO = 6,        /* a system call failed */
    TTSHM_E_BADMAGIC = 7,  /* not a ttshm segment */
    TTSHM_E_VERSION = 8,   /* incompatible ABI version or word size */
    TTSHM_E_CORRUPT = 9,   /* sizes, offsets or contents fail validation */
    TTSHM_E_BUSY = 10,     /* the segment kept changing; try again */
    TTSHM_E_INSECURE = 11, /* segment writable by others: refused */
    TTSHM_E_DISABLED = 12, /* tracking is off */
    TTSHM_E_FULL = 13,     /* every registry slot is held by a live writer */
    TTSHM_E_NOTFOUND = 14, /* lookup found no live buffer */
};

/* Returns a static, human-readable description of a TTSHM_E_* code (sign ignored). */
TTSHM_API const char *ttshm_strerror(int err);

/* "DRAM", "L1", ... for a memory type; "?" when out of range. */
TTSHM_API const char *ttshm_mem_type_name(unsigned type);

/* Parses a type name (case-insensitive) or number; returns the type or -1. */
TTSHM_API int ttshm_mem_type_parse(const char *text);

#ifdef __cplusplus
}
#endif

#endif /* TTSHM_TYPES_H */
