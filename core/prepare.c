/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writer's two background threads, each started on first need with every
 * signal blocked. They do the two slow parts of growth so that no recording
 * call waits for them:
 *
 * - `ttshm-prepare` prepares the next table. Creating one costs time proportional to its
 *   size (posix_fallocate reserves and zeroes its pages, then every page is
 *   faulted in): tens of milliseconds for the tables of a million records.
 *   Asked for once per table when it is 3/8 used, it makes a table sized for
 *   the records projected at the growth threshold. At 3/4 a growth takes it if it is large
 *   enough; while it is still being made the table fills on, and at 7/8 the
 *   growing thread (and every claim) waits for it; if it falls short the
 *   growing thread creates a table itself.
 * - `ttshm-reclaim` frees what growth retired (superseded views, drained
 *   tables) after an RCU grace period, when no writer thread can still be
 *   using them. A grace period can take 10 ms and more (urcu-bp polls its
 *   readers, then sleeps): a thread of its own, so a table request never
 *   waits behind one; and it unmaps only while no table is being made.
 */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "errors.h"
#include "nocancel.h"
#include "table_object.h"
#include "table_pool.h"
#include "writer_internal.h"

static void free_retired(struct ttshm_writer *w, struct ttshm_view *views,
                         struct ttshm_table *tables)
{
    while (views != NULL) {
        struct ttshm_view *next = views->retired_next;
        free(views);
        views = next;
    }
    while (tables != NULL) {
        struct ttshm_table *next = tables->retired_next;
        ttshm_table_pool_put(w, tables);
        tables = next;
    }
}

/* Caller holds p->lock. */
static void make_table(struct ttshm_writer *w, struct ttshm_preparer *p)
{
    uint64_t nslots = p->want_slots;
    p->want_slots = 0;
    if (p->ready != NULL && p->ready->nslots == nslots) {
        pthread_cond_broadcast(&p->done); /* the request is served: the reclaimer may go on */
        return;                           /* what is ready will do */
    }
    if (p->spare_reserved && p->reserved_slots == nslots) {
        /* The table just drained becomes the spare after its grace period,
         * and the growth waits for it: nothing to make. A ready table of
         * another size would only be kept for nothing. */
        struct ttshm_table *other = p->ready;
        p->ready = NULL;
        pthread_cond_broadcast(&p->done);
        if (other != NULL) {
            pthread_mutex_unlock(&p->lock);
            ttshm_table_discard(w, other);
            pthread_mutex_lock(&p->lock);
        }
        return;
    }
    p->busy = true;
    pthread_mutex_unlock(&p->lock);
    struct ttshm_table *t = ttshm_table_pool_take(w, nslots);
    int rc = t != NULL ? 0 : ttshm_table_create(w, nslots, &t);
    if (rc != 0)
        ttshm_report(w, "cannot prepare a table of %llu slots: %s", (unsigned long long)nslots,
                     ttshm_strerror(rc));
    pthread_mutex_lock(&p->lock);
    p->busy = false;
    pthread_cond_broadcast(&p->done);
    if (t != NULL) {
        struct ttshm_table *other = p->ready; /* of another size */
        p->ready = t;
        if (other != NULL) {
            pthread_mutex_unlock(&p->lock);
            ttshm_table_discard(w, other);
            pthread_mutex_lock(&p->lock);
        }
    }
}

/* Caller holds p->lock. */
static void reclaim(struct ttshm_writer *w, struct ttshm_preparer *p)
{
    struct ttshm_view *views = p->retired_views;
    struct ttshm_table *tables = p->retired_tables;
    p->retired_views = NULL;
    p->retired_tables = NULL;
    pthread_mutex_unlock(&p->lock);
    ttshm_synchronize_rcu();
    pthread_mutex_lock(&p->lock);
    /* Unmapping a large table holds the process's mmap lock for writing and
     * takes the CPU, both of which the table being made needs: a growth may
     * be waiting for that table, and nothing waits for the unmap. */
    while ((p->busy || p->want_slots != 0) && !p->stop)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    free_retired(w, views, tables);
    pthread_mutex_lock(&p->lock);
}

static void *maker_main(void *arg)
{
    struct ttshm_writer *w = arg;
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->want_slots != 0)
            make_table(w, p);
        else
            pthread_cond_wait(&p->maker.wake, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void *reclaimer_main(void *arg)
{
    struct ttshm_writer *w = arg;
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->retired_views != NULL || p->retired_tables != NULL)
            reclaim(w, p);
        else
            pthread_cond_wait(&p->reclaimer.wake, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Caller holds p->lock. Starts the worker's thread on first need. */
static bool ensure_started(struct ttshm_writer *w, struct ttshm_worker *k, void *(*main)(void *),
                           const char *name)
{
    if (!k->started && !w->prep.stop) {
        /* Not pinned where the recording thread that starts it may be: it
         * gets the CPUs of the process's main thread (as a runtime launched
         * under taskset has them), else it would take time from that very
         * thread. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        cpu_set_t cpus;
        if (sched_getaffinity(getpid(), sizeof cpus, &cpus) == 0)
            pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus);
        /* The thread must not run the host's signal handlers. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        k->started = pthread_create(&k->thread, &attr, main, w) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (k->started)
            pthread_setname_np(k->thread, name);
    }
    return k->started;
}

static void worker_init(struct ttshm_worker *k)
{
    k->started = false;
    pthread_cond_init(&k->wake, NULL);
}

static void worker_stop(struct ttshm_worker *k)
{
    if (k->started)
        pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->wake);
}

void ttshm_preparer_init(struct ttshm_writer *w)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_init(&p->lock, NULL);
    worker_init(&p->maker);
    worker_init(&p->reclaimer);
    pthread_cond_init(&p->done, NULL);
    p->stop = p->busy = false;
    p->want_slots = 0;
    p->ready = NULL;
    p->spare = NULL;
    p->spare_reserved = false;
    p->retired_views = NULL;
    p->retired_tables = NULL;
    atomic_store_explicit(&p->asked_for_epoch, 0, memory_order_relaxed);
}

void ttshm_preparer_note_trend(struct ttshm_writer *w, struct ttshm_table *cur, uint64_t used)
{
    if (atomic_load_explicit(&cur->trend_used, memory_order_relaxed) != 0)
        return;
    uint64_t bytes, live = ttshm_live_total(w->hdr, &bytes);
    /* The live count first, published by the used count (release): a
     * projection that sees the used count sees a live count of about the
     * same moment (a thread racing this one may store its own, as good). */
    atomic_store_explicit(&cur->trend_live, live, memory_order_relaxed);
    uint64_t unset = 0;
    atomic_compare_exchange_strong_explicit(&cur->trend_used, &unset, used, memory_order_release,
                                            memory_order_relaxed);
}

/* The live records cur will hold when its used slots reach the growth
 * threshold, if they keep growing at the rate they have since (live, used)
 * = (from_live, from_used): per never-used slot claimed, the live records
 * gained, between 0 (pure churn: the table will be rebuilt at its size) and
 * 1 (every claim a new record: it will double). */
static uint64_t projected_from(const struct ttshm_table *cur, uint64_t live, uint64_t used,
                               uint64_t from_live, uint64_t from_used)
{
    uint64_t grow_at = TTSHM_GROW_AT(cur->nslots);
    if (used >= grow_at || used <= from_used)
        return live > grow_at ? live : grow_at; /* nothing to go by: assume growth */
    uint64_t gained = live > from_live ? live - from_live : 0;
    uint64_t claimed = used - from_used;
    if (gained > claimed)
        gained = claimed;
    /* Mostly churn (fewer than one claim in two a new record; claims reuse
     * the tombstones on their way, so those of a growing table are nearly
     * all new records): the jitter of a steady live count is no trend, and
     * a table made larger on it would be made for nothing (a growth takes
     * no table larger than the records need then). */
    if (gained * 2 < claimed)
        return live;
    return live + (grow_at - used) * gained / claimed;
}

/* The smaller of two projections: since cur was published, and since its
 * trend point (TTSHM_TREND_AT), so that a fill that has ended since (a
 * runtime loading a model, then running it) is not taken for growth, nor a
 * short burst at the end of a steady stretch. */
static uint64_t projected_live(struct ttshm_writer *w, const struct ttshm_table *cur)
{
    uint64_t bytes, live = ttshm_live_total(w->hdr, &bytes);
    uint64_t used = ttshm_used_total(cur);
    uint64_t p = projected_from(cur, live, used, cur->start_live, cur->start_live);
    uint64_t trend_used = atomic_load_explicit(&cur->trend_used, memory_order_acquire);
    if (trend_used != 0) {
        uint64_t trend_live = atomic_load_explicit(&cur->trend_live, memory_order_relaxed);
        uint64_t q = projected_from(cur, live, used, trend_live, trend_used);
        if (q < p)
            p = q;
    }
    return p;
}

void ttshm_preparer_request(struct ttshm_writer *w, const struct ttshm_table *cur)
{
    struct ttshm_preparer *p = &w->prep;
    /* One request per table, and never a wait on a busy thread. */
    if (atomic_load_explicit(&p->asked_for_epoch, memory_order_relaxed) == cur->epoch ||
        pthread_mutex_trylock(&p->lock) != 0)
        return;
    atomic_store_explicit(&p->asked_for_epoch, cur->epoch, memory_order_relaxed);
    uint64_t want = ttshm_table_size_for(projected_live(w, cur), cur->nslots);
    /* Naming a new thread writes to /proc: a cancellation point, here with
     * the lock held and inside a read-side section. */
    int cancel = ttshm_nocancel_begin();
    /* A rebuild at a size the spare has (or will have, once the table just
     * drained has had its grace period) takes the spare at growth time:
     * nothing to make, unless a table of another size is ready, which the
     * maker then replaces (with the spare if it is there). */
    bool covered =
        ttshm_table_pool_covers(p, want, want) && (p->ready == NULL || p->ready->nslots == want);
    if (!covered && ensure_started(w, &p->maker, maker_main, "ttshm-prepare")) {
        p->want_slots = want;
        pthread_cond_signal(&p->maker.wake);
    }
    pthread_mutex_unlock(&p->lock);
    ttshm_nocancel_end(cancel);
}

/* Called with grow_lock held and outside any read-side section. */
static void retire(struct ttshm_writer *w, struct ttshm_view *v, struct ttshm_table *t)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    if (ensure_started(w, &p->reclaimer, reclaimer_main, "ttshm-reclaim")) {
        if (v != NULL) {
            v->retired_next = p->retired_views;
            p->retired_views = v;
        }
        if (t != NULL) {
            t->retired_next = p->retired_tables;
            p->retired_tables = t;
        }
        pthread_cond_signal(&p->reclaimer.wake);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    pthread_mutex_unlock(&p->lock);
    /* No thread to be had: wait for the grace period here. */
    ttshm_synchronize_rcu();
    if (v != NULL)
        v->retired_next = NULL;
    if (t != NULL)
        t->retired_next = NULL;
    free_retired(w, v, t);
}

void ttshm_retire_view(struct ttshm_writer *w, struct ttshm_view *v)
{
    retire(w, v, NULL);
}

void ttshm_retire_table(struct ttshm_writer *w, struct ttshm_table *t)
{
    retire(w, NULL, t);
}

struct ttshm_table *ttshm_preparer_take(struct ttshm_writer *w, uint64_t min_slots,
                                        uint64_t max_slots, bool wait, bool *pending)
{
    struct ttshm_preparer *p = &w->prep;
    struct ttshm_table *t = NULL;
    pthread_mutex_lock(&p->lock);
    /* Waiting out a table being made, or the drained table that becomes the
     * spare after its grace period (microseconds, unless this process's
     * threads are starved of CPU), costs less than making another. */
    while (wait && !p->stop &&
           ((p->maker.started && (p->want_slots != 0 || p->busy)) ||
            (p->spare_reserved && ttshm_table_pool_covers(p, min_slots, max_slots))))
        pthread_cond_wait(&p->done, &p->lock);
    /* A prepared table of another size stays for the thread to replace
     * (discarding a large table takes milliseconds: not on a recording
     * thread). */
    if (p->ready != NULL && p->ready->nslots >= min_slots && p->ready->nslots <= max_slots) {
        t = p->ready;
        p->ready = NULL;
    } else {
        t = ttshm_table_pool_take_locked(p, min_slots, max_slots);
    }
    *pending = (p->maker.started && (p->want_slots != 0 || p->busy)) ||
               (t == NULL && p->spare_reserved && ttshm_table_pool_covers(p, min_slots, max_slots));
    pthread_mutex_unlock(&p->lock);
    return t;
}

void ttshm_preparer_stop(struct ttshm_writer *w)
{
    struct ttshm_preparer *p = &w->prep;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->maker.wake);
    pthread_cond_signal(&p->reclaimer.wake);
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
    worker_stop(&p->maker);
    worker_stop(&p->reclaimer);
    /* No recording call may run during close: what is retired is unused. */
    free_retired(w, p->retired_views, p->retired_tables);
    p->retired_views = NULL;
    p->retired_tables = NULL;
    ttshm_table_discard(w, p->ready);
    p->ready = NULL;
    ttshm_table_pool_drain(w);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
}
