/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the core test programs (writer + reader libraries). */
#ifndef TTSHM_TEST_CORE_UTIL_H
#define TTSHM_TEST_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "ttshm/reader.h"
#include "ttshm/writer.h"

/* 64-bit mixer (splitmix64 finaliser). */
uint64_t tu_mix(uint64_t x);

/* The redundant field the tests store as the tag of a buffer, so that a torn
 * or mixed-up entry is detectable: a hash of the rest of the key and size. */
uint64_t tu_tag(uint32_t device, uint32_t type, uint64_t address, uint64_t size);

/* xorshift64* generator (never seeded with 0). */
struct tu_rng {
    uint64_t s;
};
void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n);

/* ttshm_writer_open with a zeroed config: name, initial_slots. */
int tu_writer_open(const char *registry, uint64_t initial_slots, ttshm_writer **w);

/* "/dev/shm/<name>". */
void tu_shm_path(char *buf, size_t len, const char *name);

/* Reads a whole file into a malloc'd buffer; NULL on error. */
void *tu_read_file(const char *path, size_t *len);
/* Replaces the content of a file (created 0600 if missing). 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);

/* Waits for a child for at most timeout_ms, SIGKILLing it when the time is up.
 * Returns its wait status, or -1 when it had to be killed (then *status is
 * still filled with the final wait status). */
int tu_wait_child(pid_t pid, int timeout_ms, int *status);

/* Runs fn in a forked child (which must only _exit) with an alarm of
 * timeout_s. fn returns 0 on success or non-zero with a message in msg.
 * Records a CUnit assertion: passes when the child exited 0, fails (with the
 * message, or the signal that killed it: a crash or a hang) otherwise.
 * Returns 0 when the child passed. */
typedef int (*tu_child_fn)(void *arg, char *msg, size_t len);
int tu_run_child(const char *what, tu_child_fn fn, void *arg, int timeout_s);

/* qsort comparator for struct ttshm_entry: device, type, address, size, tag. */
int tu_entry_cmp(const void *a, const void *b);

/* Sum of live counters over all devices and types. */
uint64_t tu_stats_live_count(const struct ttshm_stats *st);

#endif
