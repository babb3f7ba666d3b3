/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "none": the event loop alone, what every other figure stands on. It reads
 * each event as the designs do and folds it into a register, so what is left
 * is the cost of walking the stream, not of tracking (the `floor` design is
 * the cost of tracking itself with no concurrency control).
 */
#include <stdlib.h>

#include "design.h"

struct none_state {
    uint64_t sink;
    uint64_t events, frees;
};

static int none_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                     size_t errlen)
{
    (void)cfg;
    (void)max_live;
    (void)err;
    (void)errlen;
    *state = calloc(1, sizeof(struct none_state));
    return *state ? 0 : -1;
}

static void none_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct none_state *s = state;
    uint64_t sink = s->sink, frees = s->frees;
    for (size_t i = 0; i < n; i++) {
        sink += ev[i].address ^ ev[i].size ^ ev[i].device ^ ev[i].type;
        frees += ev[i].op;
        /* One opaque step per event keeps the compiler from vectorising the
         * loop into something no tracking call could ever be part of. */
        __asm__ volatile("" : "+r"(sink));
    }
    s->sink = sink;
    s->frees = frees;
    s->events += n;
}

static int none_check(void *state, struct design_check *out)
{
    struct none_state *s = state;
    out->events = s->events;
    out->live_count = s->events - 2 * s->frees; /* allocs - frees */
    out->live_bytes = BENCH_NA;
    out->anomalies = 0;
    return 0;
}

static void none_close(void *state)
{
    free(state);
}

const struct design_ops design_none = {
    .name = "none",
    .model = "the event loop alone: reads each event, records nothing",
    .open = none_open,
    .apply = none_apply,
    .sync = NULL,
    .check = none_check,
    .close = none_close,
};
