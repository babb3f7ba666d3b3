/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BASELINE "mutex": the naive shared-memory registry, built as well as that
 * design allows: the floor's table (shm_table.h: control bytes, 48-byte
 * records with every field ttshm stores, the same counters, sized once so it
 * never grows) with every alloc and free under one process-shared pthread
 * mutex in the object's header. Because every access is under the lock,
 * deletion can shift records back (no tombstones). What the design cannot do
 * is what ttshm exists for: a reader must take the writer's lock (a stuck or
 * dead reader stalls the runtime), and all threads serialise on one cache
 * line. Against the floor, its cost is the lock's.
 */
#include <pthread.h>
#include <stdlib.h>

#include "design.h"
#include "shm_table.h"

static int mx_open(void **state, const struct bench_config *cfg, uint64_t max_live, char *err,
                   size_t errlen)
{
    struct shm_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    if (shm_table_open(t, cfg->registry, "mutex", max_live, err, errlen) != 0) {
        free(t);
        return -1;
    }
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&t->h->lock, &a);
    pthread_mutexattr_destroy(&a);
    *state = t;
    return 0;
}

static void mx_apply(void *state, const struct bench_event *ev, size_t n)
{
    struct shm_table *t = state;
    unsigned tid = bench_gettid();
    for (size_t i = 0; i < n; i++) {
        const struct bench_event *e = &ev[i];
        if (e->op == EV_ALLOC) {
            uint64_t now = bench_coarse_ns(); /* outside the lock: shorter hold */
            pthread_mutex_lock(&t->h->lock);
            shm_table_alloc(t, e, now, tid);
            pthread_mutex_unlock(&t->h->lock);
        } else {
            pthread_mutex_lock(&t->h->lock);
            shm_table_free(t, e);
            pthread_mutex_unlock(&t->h->lock);
        }
    }
}

static int mx_check(void *state, struct design_check *out)
{
    struct shm_table *t = state;
    pthread_mutex_lock(&t->h->lock);
    shm_table_check(t, out);
    pthread_mutex_unlock(&t->h->lock);
    return 0;
}

static void mx_close(void *state)
{
    struct shm_table *t = state;
    pthread_mutex_destroy(&t->h->lock);
    shm_table_close(t);
    free(t);
}

const struct design_ops baseline_mutex = {
    .name = "mutex",
    .model = "naive shm open-addressing table + counters behind one process-shared mutex",
    .open = mx_open,
    .apply = mx_apply,
    .sync = NULL,
    .check = mx_check,
    .close = mx_close,
};
