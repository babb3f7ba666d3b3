/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers the designs share. */
#include "design.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

unsigned bench_gettid(void)
{
    /* Cached: a gettid syscall per event would dominate the cheap designs,
     * and every design that records a thread id can cache it the same way. */
    static _Thread_local unsigned tid;
    if (tid == 0)
        tid = (unsigned)syscall(SYS_gettid);
    return tid;
}

uint64_t bench_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_main_stream(const struct bench_config *cfg, unsigned reuse_permille,
                      struct event_stream *st)
{
    struct stream_params p = {
        .seed = cfg->seed,
        .live = cfg->live,
        .events = cfg->events,
        .dev_first = 0,
        .dev_count = cfg->devices,
        .address_base = 0,
        .reuse_permille = reuse_permille,
    };
    return stream_generate(st, &p);
}
