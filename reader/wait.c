/* SPDX-License-Identifier: Apache-2.0 */
#include "wait.h"

#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

uint64_t reader_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t reader_tick(void)
{
    struct timespec ts;
    /* Ordered with the loads of the control words around it, also where
     * loads may pass each other (a no-op on x86). */
    atomic_thread_fence(memory_order_acquire);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    atomic_thread_fence(memory_order_acquire);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void reader_pause(void)
{
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

bool writer_holds_lock(int fd)
{
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return false;
    return fl.l_type != F_UNLCK;
}

bool slot_wait_more(struct slot_wait *w, uint64_t *since)
{
    if (w == NULL)
        return false;
    if (w->writer_alive < 0)
        w->writer_alive = writer_holds_lock(w->fd); /* once per call: a dead writer stays dead */
    if (!w->writer_alive)
        return false;
    uint64_t now = reader_now_ns();
    if (*since == 0)
        *since = now;
    else
        w->spent_ns += now - w->last_ns;
    if (now - *since >= TTSHM_SLOT_WAIT_NS || w->spent_ns >= TTSHM_CALL_WAIT_NS)
        return false;
    w->last_ns = now;
    /* Yield first: the writer thread is runnable, only preempted. Sleep once
     * the wait is longer than a scheduler slice, so as not to spin. */
    if (now - *since < 1000000)
        sched_yield();
    else
        reader_pause();
    return true;
}
