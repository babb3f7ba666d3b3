/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table preparer: creates the next table before it is needed, in a
 * thread of its own, so the recording thread that starts a growth only
 * publishes it. Creating a table costs time proportional to its size
 * (posix_fallocate reserves and zeroes its pages, then every page is faulted in):
 * tens of milliseconds for the tables of a million records.
 *
 * Asked for once per table when it is 3/8 used, the preparer makes a table
 * sized for twice the records of the moment. At 3/4 a growth takes it if it
 * is large enough; while it is still being made the table fills on, and at
 * 7/8 the growing thread waits for it; if it falls short the growing thread
 * creates a table itself, as it would without a preparer.
 */
#include <signal.h>
#include <stdlib.h>

#include "writer_internal.h"

static void *preparer_main(void *arg)
{
    struct ttshm_writer *w = arg;
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->want_slots == 0) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        uint64_t nslots = p->want_slots;
        p->want_slots = 0;
        if (p->ready != NULL && p->ready->nslots >= nslots)
            continue; /* what is ready will do */
        p->busy = true;
        pthread_mutex_unlock(&p->lock);
        struct ttshm_table *t = NULL;
        int rc = ttshm_table_create(w, nslots, &t);
        if (rc != 0)
            ttshm_report(w, "cannot prepare a table of %llu slots: %s", (unsigned long long)nslots,
                         ttshm_strerror(rc));
        pthread_mutex_lock(&p->lock);
        p->busy = false;
        pthread_cond_broadcast(&p->done);
        if (t != NULL) {
            struct ttshm_table *smaller = p->ready;
            p->ready = t;
            if (smaller != NULL) {
                pthread_mutex_unlock(&p->lock);
                ttshm_table_unlink(w, smaller->epoch);
                ttshm_table_destroy(smaller);
                pthread_mutex_lock(&p->lock);
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void ttshm_preparer_init(struct ttshm_writer *w)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_cond_init(&p->done, NULL);
    p->started = p->stop = p->busy = false;
    p->want_slots = 0;
    p->ready = NULL;
    atomic_store_explicit(&p->asked_for_epoch, 0, memory_order_relaxed);
}

void ttshm_preparer_request(struct ttshm_writer *w, uint64_t cur_epoch, uint64_t nslots)
{
    struct ttshm_preparer *p = &w->prep;
    /* One request per table, and never a wait on a busy preparer. */
    if (atomic_load_explicit(&p->asked_for_epoch, memory_order_relaxed) == cur_epoch ||
        pthread_mutex_trylock(&p->lock) != 0)
        return;
    atomic_store_explicit(&p->asked_for_epoch, cur_epoch, memory_order_relaxed);
    if (!p->started && !p->stop) {
        /* The preparer must not run the host's signal handlers. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        p->started = pthread_create(&p->thread, NULL, preparer_main, w) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (p->started)
            pthread_setname_np(p->thread, "ttshm-prepare");
    }
    if (p->started) {
        p->want_slots = nslots;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

struct ttshm_table *ttshm_preparer_take(struct ttshm_writer *w, uint64_t min_slots, bool wait,
                                        bool *pending)
{
    struct ttshm_preparer *p = &w->prep;
    struct ttshm_table *t = NULL;
    pthread_mutex_lock(&p->lock);
    /* Waiting out a table being made costs less than making another. */
    while (wait && p->started && !p->stop && (p->want_slots != 0 || p->busy))
        pthread_cond_wait(&p->done, &p->lock);
    /* Any prepared table will do if it is large enough: it is unpublished. A
     * smaller one stays for the preparer to replace (discarding a large
     * table takes milliseconds: not on a recording thread). */
    if (p->ready != NULL && p->ready->nslots >= min_slots) {
        t = p->ready;
        p->ready = NULL;
    }
    *pending = p->started && (p->want_slots != 0 || p->busy);
    pthread_mutex_unlock(&p->lock);
    return t;
}

void ttshm_preparer_stop(struct ttshm_writer *w)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    bool started = p->started;
    pthread_cond_signal(&p->cond);
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    if (started)
        pthread_join(p->thread, NULL);
    if (p->ready != NULL) {
        ttshm_table_unlink(w, p->ready->epoch);
        ttshm_table_destroy(p->ready);
        p->ready = NULL;
    }
    pthread_cond_destroy(&p->cond);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
}
