/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded waiting in the reader (docs/format.md sections 6-7): every wait has
 * a bound in time, not only in tries, so a stopped or hostile writer costs a
 * reader a known, small amount of time per call.
 */
#ifndef TTSHM_READER_WAIT_H
#define TTSHM_READER_WAIT_H

#include <stdbool.h>
#include <stdint.h>

/* Time one call may spend waiting for a header (seq odd, a writer still
 * creating the object) before it returns -TTSHM_E_BUSY. A header update
 * takes microseconds; a writer creating its header well under a millisecond. */
#define TTSHM_HEADER_BUDGET_NS (5 * 1000000ull)
/* How long a slot left BUSY by a live writer is waited for (a thread
 * preempted between claim and publish), and the total such waits of one
 * call may take, before BUSY slots are skipped (and counted). */
#define TTSHM_SLOT_WAIT_NS (200 * 1000000ull)
#define TTSHM_CALL_WAIT_NS (500 * 1000000ull)

/* The copy guard. A slot's control word carries a 22-bit version: a writer
 * that took the slot through exactly 2^22 changes (or a multiple) between a
 * reader's two loads of the word would leave it equal while the reader
 * copied a mix of records. Each change costs the writer a lock-prefixed
 * read-modify-write of the word or a whole recording call, and the changes
 * of one slot are serialised on its cache line: 2^22 of them take at least
 * ~20 ms. A copy is accepted only if CLOCK_MONOTONIC_COARSE read the same
 * before its first load of the word and after its second: that clock moves
 * on at every tick (1 to 10 ms, whatever the kernel's HZ) while any CPU
 * runs, so the copy took less than one tick. (Reading the coarse clock
 * costs a few loads; CLOCK_MONOTONIC's ordered TSC read would serialise
 * the reader's cache misses.) */
uint64_t reader_tick(void); /* CLOCK_MONOTONIC_COARSE, in ns */

uint64_t reader_now_ns(void); /* CLOCK_MONOTONIC */

/* Sleeps about 50 us (a writer that is mid-update is given the CPU). */
void reader_pause(void);

/* Waiting for BUSY slots during one call. */
struct slot_wait {
    int fd;            /* header object: its lock tells whether the writer lives */
    int writer_alive;  /* -1 not asked yet, else 0/1 */
    uint64_t spent_ns; /* waited so far in this call */
    uint64_t last_ns;  /* when the last wait began */
};

static inline void slot_wait_init(struct slot_wait *w, int fd)
{
    w->fd = fd;
    w->writer_alive = -1;
    w->spent_ns = 0;
    w->last_ns = 0;
}

/* A slot stayed BUSY (or kept changing) for the spinning retries. Returns
 * true after yielding the CPU when it is worth reading again: the writer is
 * alive and neither bound is past. *since is 0 on the slot's first wait. */
bool slot_wait_more(struct slot_wait *w, uint64_t *since);

/* True if some process holds the writer's lock on the header object. */
bool writer_holds_lock(int fd);

#endif
