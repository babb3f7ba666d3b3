/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's housekeeping of the shared-memory objects it creates. */
#ifndef TTSHM_BENCH_SEGMENTS_H
#define TTSHM_BENCH_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

/* Makes "<base>_<tag>" in buf (at most TTSHM_NAME_MAX) and remembers it, so
 * its segments are unlinked at exit or on SIGINT/SIGTERM even if a run fails. */
const char *bench_registry(char *buf, size_t len, const char *base, const char *tag);

/* Removes /dev/shm objects whose names start with prefix (no leading '/'). */
void bench_unlink_prefix(const char *prefix);

/* Removes every ttshm object of a registry ("ttshm.<registry>."). */
void bench_unlink_registry(const char *registry);

/* Bytes of tmpfs actually allocated (st_blocks) to the objects with prefix;
 * *objects and *apparent (sum of st_size) when not NULL. */
uint64_t bench_resident_prefix(const char *prefix, unsigned *objects, uint64_t *apparent);

/* Remembers a plain shm object name (baselines) for cleanup at exit. */
void bench_remember_object(const char *shm_name);

/* Installs the exit and signal cleanup; call once at startup. */
void bench_cleanup_install(void);

/* Unlinks everything remembered (also run at exit). */
void bench_cleanup_all(void);

#endif
